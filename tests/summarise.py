"""Counts test cases in a meson test log: prints "<passed> <failed>".

A doctest suite contributes its own test-case counts; a suite that crashed, timed out or failed
after reporting (a sanitizer report at exit, say) also counts one failure of its own; any other
test counts as one case.
"""
import json
import re
import sys

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")

passed = failed = 0
with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        record = json.loads(line)
        ok = record.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
        found = SUMMARY.findall(record.get("stdout", ""))
        if found:
            _, p, f = map(int, found[-1])
            passed += p
            failed += f
            if not ok and f == 0:
                failed += 1
        elif ok:
            passed += 1
        else:
            failed += 1
print(passed, failed)
