"""A linearizability checker for histories of coraft-kv, the Redis-protocol key-value store.

A history is a list of operations (`Op`), each with:

  client    who issued it (any value; only printed)
  key       the key it touched
  kind      'set', 'get', 'incr' or 'append'
  arg       the value written by a set, or appended by an append
  result    what the reply said: the value read by a get (None: the key was missing), the new
            integer of an incr, the new length of an append (None: not checked); None for a set
  invoke    when the request was sent (a float, any clock shared by all clients)
  complete  when the reply arrived; None or math.inf if the outcome is unknown (the connection was
            lost or timed out): such an operation may take effect at any moment after its invoke,
            or never.

An operation that certainly did not take effect (an error reply that says so, an INCR of a value
that is not an integer) must be left out of the history by the caller.

The history is linearizable if every key's operations are: linearizability is local, so operations
on different keys are checked separately. For one key the check is the search of Wing and Gong
with memoization: a depth-first search over the order in which operations take effect, remembering
every (set of operations taken effect, value of the key) already explored so that no such
configuration is explored twice. An operation may take effect next only if it was invoked
before every operation still waiting to take effect completed. These reductions keep the search
small without changing its answer:

  * a read that may take effect next and agrees with the current value takes effect at once (moving
    a read earlier never invalidates an order that works);
  * operations with an unknown outcome and identical effect (two INCRs that timed out, say) are
    interchangeable, so only the first of them is tried at each step;
  * a read with an unknown outcome constrains nothing and is dropped; so is a SET with an unknown
    outcome whose value no read ever returned, on a key that only sees SETs and GETs;
  * on a key that only sees APPENDs and GETs the value only grows, so an APPEND may take effect
    only if every read still to come starts with the value it leaves.

The model is a Redis string: SET replaces it; GET returns it (None if missing); INCR needs an
integer in Redis's format (or a missing key, read as 0) and returns the value plus one; APPEND
concatenates and returns the new length in bytes.

As a library:

    from linearizability import Op, check
    verdict = check(history)          # a list of Op (or of dicts or tuples with Op's fields)
    print(verdict)                    # one line if linearizable, the reason per key if not
    verdict.ok                        # True, or False if not linearizable or not decided in time

From the command line, `linearizability.py HISTORY.jsonl` checks a history saved with `dump()` (one
JSON object per line with Op's fields) and exits 0 if it is linearizable.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from dataclasses import asdict, dataclass, field

KINDS = ("set", "get", "incr", "append")

_INTEGER = re.compile(r"0|-?[1-9][0-9]{0,18}")  # Redis's integer format (leading zeros refused)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_INVALID = object()  # the result of a step that contradicts an operation's reply


@dataclass
class Op:
    client: object
    key: object
    kind: str
    arg: object = None
    result: object = None
    invoke: float = 0.0
    complete: float | None = None

    @staticmethod
    def of(item) -> "Op":
        """An Op from an Op, a dict of its fields, or a tuple in field order."""
        if isinstance(item, Op):
            return item
        if isinstance(item, dict):
            return Op(**item)
        return Op(*item)

    @property
    def indeterminate(self) -> bool:
        return self.complete is None or self.complete == math.inf

    def describe(self, origin: float = 0.0) -> str:
        unknown = self.indeterminate
        if self.kind == "get":
            what = "get -> ?" if unknown else f"get -> {_show(self.result)}"
        elif self.kind == "set":
            what = f"set {_show(self.arg)}"
        elif self.kind == "incr":
            what = "incr -> ?" if unknown or self.result is None else f"incr -> {self.result}"
        else:
            what = f"append {_show(self.arg)}"
            if not unknown and self.result is not None:
                what += f" -> length {self.result}"
        end = "?" if unknown else f"{self.complete - origin:.3f}"
        return f"client {self.client}: {what} [{self.invoke - origin:.3f}, {end}]"


def _show(value, limit: int = 60) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit // 3] + " ... " + text[-(limit - limit // 3):]
    return text


def _text(value):
    """A value as the server stores it: text (bytes decoded), None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def _length(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


# --- the model -------------------------------------------------------------------------------


class _Entry:
    """One operation of one key, normalized for the search."""

    __slots__ = ("op", "kind", "arg", "result", "invoke", "complete", "required", "effect")

    def __init__(self, op: Op):
        if op.kind not in KINDS:
            raise ValueError(f"unknown kind {op.kind!r} in {op}")
        self.op = op
        self.kind = op.kind
        self.required = not op.indeterminate
        self.invoke = float(op.invoke)
        self.complete = float(op.complete) if self.required else math.inf
        if not math.isfinite(self.invoke):
            raise ValueError(f"invoke must be a finite time: {op}")
        if self.complete < self.invoke:
            raise ValueError(f"completes before it is invoked: {op}")
        self.arg = _text(op.arg)
        if self.kind in ("set", "append") and self.arg is None:
            raise ValueError(f"a {self.kind} needs an argument: {op}")
        result = op.result if self.required else None
        if self.kind == "get":
            self.result = _text(result)
        elif self.kind in ("incr", "append"):
            self.result = None if result is None else int(result)
        else:
            self.result = None
        self.effect = (self.kind, self.arg)  # equal effects make unknown-outcome ops interchangeable


def _step(state, entry: _Entry):
    """The value after `entry` takes effect on `state`, or _INVALID if its reply contradicts it."""
    kind = entry.kind
    if kind == "get":
        return state if entry.result == state else _INVALID
    if kind == "set":
        return entry.arg
    if kind == "incr":
        current = _integer(state)
        if current is None or current + 1 > _INT64[1]:
            return _INVALID
        if entry.result is not None and entry.result != current + 1:
            return _INVALID
        return str(current + 1)
    new = (state or "") + entry.arg
    if entry.result is not None and entry.result != _length(new):
        return _INVALID
    return new


def _integer(state):
    """The integer an INCR reads from `state` (a missing key is 0), or None if it is not one."""
    if state is None:
        return 0
    if not _INTEGER.fullmatch(state):
        return None
    value = int(state)
    return value if _INT64[0] <= value <= _INT64[1] else None


def _extends_to_all(value: str, reads) -> bool:
    """Whether every one of `reads` (values read later) starts with `value`."""
    return all(read is not None and read.startswith(value) for read in reads)


def _why_not(state, entry: _Entry) -> str:
    """Why `entry` cannot take effect on `state` (for reports)."""
    if entry.kind == "get":
        return f"it read {_show(entry.result)} but the value is {_show(state)}"
    if entry.kind == "incr":
        current = _integer(state)
        if current is None:
            return f"the value {_show(state)} is not an integer"
        return f"it returned {entry.result} but would return {current + 1}"
    if entry.kind == "append":
        return (f"it returned length {entry.result} but the value would have length "
                f"{_length((state or '') + entry.arg)}")
    return "?"


# --- the search ------------------------------------------------------------------------------


@dataclass
class KeyResult:
    """The verdict for one key: status is 'ok', 'illegal' (not linearizable) or 'unknown' (the
    search ran out of time or steps)."""

    key: object
    status: str
    operations: int
    indeterminate: int
    steps: int
    detail: str = ""
    order: list = field(default_factory=list)  # for 'ok': the operations in an order that works

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Verdict:
    results: dict
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())

    @property
    def linearizable(self):
        """True, False, or None if some key could not be decided."""
        if any(r.status == "illegal" for r in self.results.values()):
            return False
        return True if self.ok else None

    @property
    def failures(self) -> list:
        return [r for r in self.results.values() if not r.ok]

    def __str__(self) -> str:
        operations = sum(r.operations for r in self.results.values())
        unknown = sum(r.indeterminate for r in self.results.values())
        steps = sum(r.steps for r in self.results.values())
        head = (f"{operations} operations ({unknown} of unknown outcome) on {len(self.results)} "
                f"keys, {steps} search steps, {self.seconds:.2f} s")
        if self.ok:
            return f"linearizable: {head}"
        lines = [f"{'NOT linearizable' if self.linearizable is False else 'undecided'}: {head}"]
        for r in self.failures:
            lines.append(f"key {r.key!r}: {r.detail}")
        return "\n".join(lines)


class _Frame:
    """A configuration of the search: which operations took effect (a bit mask over the key's
    entries), the value they left, and the choices still to try from here."""

    __slots__ = ("mask", "state", "parent", "entry", "taken", "choices", "next")

    def __init__(self, mask, state, parent, entry, taken):
        self.mask = mask
        self.state = state
        self.parent = parent
        self.entry = entry  # index of the entry that took effect last, -1 at the root
        self.taken = taken  # how many completed operations took effect
        self.choices = ()
        self.next = 0


class _KeySearch:
    def __init__(self, key, entries, initial, deadline, max_steps, max_memory, origin):
        self.key = key
        self.origin = origin  # the time reports count from
        self.entries = entries
        self.initial = initial
        self.deadline = deadline
        self.max_steps = max_steps
        self.max_memory = max_memory
        n = len(entries)
        self.n = n
        self.invoke = [e.invoke for e in entries]
        self.complete = [e.complete for e in entries]
        self.optional = [i for i, e in enumerate(entries) if not e.required]  # by invoke time
        self.optional_mask = sum(1 << i for i in self.optional)
        self.all_mask = (1 << n) - 1
        self.required_mask = self.all_mask & ~self.optional_mask
        self.required_count = n - len(self.optional)
        self.done = bytearray(n)  # the entries that took effect on the current path
        # On a key that only sees APPENDs and GETs the value only grows: every read still to take
        # effect must start with the current value. next_read[j]: the first completed GET at or
        # after entry j (n if none).
        kinds = {e.kind for e in entries}
        self.grows = "append" in kinds and kinds <= {"append", "get"}
        self.next_read = [n] * (n + 1)
        for j in range(n - 1, -1, -1):
            read = entries[j].kind == "get" and entries[j].required
            self.next_read[j] = j if read else self.next_read[j + 1]

    def pending(self, mask):
        """What may take effect once the entries in `mask` have, as four things: the completed
        operations that may (earliest completion first); those of unknown outcome that may
        (earliest invocation first); every completed operation still waiting among the entries
        scanned; and the index where the scan stopped (every entry from there on is waiting)."""
        free = ~(mask | self.optional_mask) & self.all_mask
        low = (free & -free).bit_length() - 1  # the first completed one not yet taken effect
        invoke, complete, done, entries = self.invoke, self.complete, self.done, self.entries
        bound = math.inf  # the earliest completion among those waiting
        window = []
        j = low
        while j < self.n and invoke[j] <= bound:
            if not done[j] and entries[j].required:
                window.append(j)
                if complete[j] < bound:
                    bound = complete[j]
            j += 1
        required = sorted((i for i in window if invoke[i] <= bound), key=complete.__getitem__)
        optional = []
        for i in self.optional:
            if invoke[i] > bound:
                break
            if not done[i]:
                optional.append(i)
        return required, optional, window, j

    def choices(self, mask, state):
        """(entry, value after it) for every operation that may take effect next."""
        entries = self.entries
        required, optional, waiting, end = self.pending(mask)
        reads = self.reads_to_come(waiting, end)
        out = []
        for j in required:
            after = _step(state, entries[j])
            if after is _INVALID:
                continue
            if entries[j].kind == "get":
                return [(j, after)]
            if reads is None or _extends_to_all(after, reads):
                out.append((j, after))
        tried = set()
        for j in optional:
            effect = entries[j].effect
            if effect in tried:
                continue
            tried.add(effect)
            after = _step(state, entries[j])
            if after is not _INVALID and (reads is None or _extends_to_all(after, reads)):
                out.append((j, after))
        return out

    def reads_to_come(self, waiting, end):
        """On a key whose value only grows: the results of reads still to come that every new
        value must be a prefix of (those waiting in the window, and the first read after it).
        None on other keys."""
        if not self.grows:
            return None
        entries = self.entries
        reads = [entries[j].result for j in waiting if entries[j].kind == "get"]
        if self.next_read[end] < self.n:
            reads.append(entries[self.next_read[end]].result)
        return reads

    def run(self) -> KeyResult:
        def result(status, steps, detail="", order=()):
            return KeyResult(self.key, status, self.n, len(self.optional), steps, detail, list(order))

        root = _Frame(0, self.initial, None, -1, 0)
        if self.required_count == 0:
            return result("ok", 0)
        root.choices = self.choices(0, self.initial)
        visited = {(0, self.initial)}
        memory = 0  # a rough count of the bytes `visited` holds
        per_entry = 200 + self.n // 8
        stack = [root]
        best = root
        steps = 0
        while stack:
            frame = stack[-1]
            if frame.next == len(frame.choices):
                stack.pop()
                if frame.entry >= 0:
                    self.done[frame.entry] = 0
                continue
            j, after = frame.choices[frame.next]
            frame.next += 1
            mask = frame.mask | (1 << j)
            if (mask, after) in visited:
                continue
            visited.add((mask, after))
            steps += 1
            memory += per_entry + (len(after) if after is not None else 0)
            if steps % 1024 == 0 and (steps >= self.max_steps or memory > self.max_memory
                                      or time.monotonic() > self.deadline):
                visited.clear()
                return result("unknown", steps, f"search stopped after {steps} steps (about "
                              f"{memory >> 20} MB of memory); " + self.describe_best(best))
            required = self.entries[j].required
            child = _Frame(mask, after, frame, j, frame.taken + (1 if required else 0))
            if required and (mask & self.required_mask) == self.required_mask:
                return result("ok", steps, order=[self.entries[i].op for i in self.path(child)])
            self.done[j] = 1
            child.choices = self.choices(mask, after)
            stack.append(child)
            if child.taken > best.taken:
                best = child
        return result("illegal", steps, self.describe_best(best))

    @staticmethod
    def path(frame):
        order = []
        while frame.entry >= 0:
            order.append(frame.entry)
            frame = frame.parent
        order.reverse()
        return order

    def describe_best(self, best: _Frame) -> str:
        """The longest linearizable prefix found, and why nothing could follow it."""
        entries = self.entries
        origin = self.origin
        order = self.path(best)
        lines = [f"at most {best.taken} of its {self.required_count} completed operations can "
                 f"take effect in an order that agrees with every reply (times in seconds from "
                 f"the history's first operation);"]
        if order:
            lines.append("  the longest such prefix ends with:")
            for i in order[-4:]:
                lines.append(f"    {entries[i].op.describe(origin)}")
        else:
            lines.append("  not even the first one can:")
        lines.append(f"  leaving the value {_show(best.state)}; then")
        self.done = bytearray(self.n)
        for i in order:
            self.done[i] = 1
        required, _, waiting, end = self.pending(best.mask)
        reads = self.reads_to_come(waiting, end)
        for j in required[:4]:
            after = _step(best.state, entries[j])
            if after is _INVALID:
                reason = _why_not(best.state, entries[j])
            elif reads is not None and not _extends_to_all(after, reads):
                read = next(r for r in reads if r is None or not r.startswith(after))
                reason = (f"a read still to come returned {_show(read)}, which does not start "
                          f"with the value this would leave")
            else:
                reason = "it could, but then no order of the rest works"
            lines.append(f"    {entries[j].op.describe(origin)}: {reason}")
        if len(required) > 4:
            lines.append(f"    ... and {len(required) - 4} more that may take effect next")
        return "\n".join(lines)


def _prepare(ops):
    """The entries worth searching over, sorted by invocation."""
    entries = [_Entry(op) for op in ops]
    entries = [e for e in entries if e.required or e.kind != "get"]
    if all(e.kind in ("set", "get") for e in entries):
        read = {e.result for e in entries if e.kind == "get"}
        entries = [e for e in entries if e.required or e.arg in read]
    entries.sort(key=lambda e: (e.invoke, e.complete))
    return entries


def check(history, time_limit: float = 60.0, max_steps: int = 10_000_000,
          max_memory: int = 1 << 30, initial=None) -> Verdict:
    """Checks a whole history (operations on any keys); `initial` is every key's value at the
    start (None: missing). Gives up on a key, with status 'unknown', after `max_steps` search
    steps, when its memo holds about `max_memory` bytes, or when `time_limit` seconds have passed
    since the call."""
    started = time.monotonic()
    deadline = started + time_limit
    by_key = {}
    for item in history:
        op = Op.of(item)
        by_key.setdefault(op.key, []).append(op)
    origin = min((op.invoke for ops in by_key.values() for op in ops), default=0.0)
    results = {}
    for key, ops in by_key.items():
        results[key] = check_key(key, ops, deadline, max_steps, max_memory, initial, origin)
    return Verdict(results, time.monotonic() - started)


def check_key(key, ops, deadline: float, max_steps: int = 10_000_000, max_memory: int = 1 << 30,
              initial=None, origin: float | None = None) -> KeyResult:
    """Checks the operations of one key; `deadline` is a time.monotonic() value; reports count
    time from `origin` (by default the key's first invocation)."""
    entries = _prepare(ops)
    if origin is None:
        origin = min((op.invoke for op in ops), default=0.0)
    result = _KeySearch(key, entries, _text(initial), deadline, max_steps, max_memory,
                        origin).run()
    if result.status == "unknown" and not initial:
        # Long append histories outgrow the search (it keeps whole values); when every appended
        # token is unique the order of appends can be read off the longest read instead.
        decided = _check_unique_appends(key, entries, origin)
        if decided is not None:
            result = decided
    result.operations = len(ops)
    result.indeterminate = sum(1 for op in ops if op.indeterminate)
    return result


def _check_unique_appends(key, entries, origin):
    """Decides a key that sees only APPENDs of unique tokens (each ending in one separator that
    occurs nowhere else in it) and GETs, without a search: every read must be a prefix of the
    longest read, which fixes the order of every append that took effect; appends absent from it
    come after it (or, if their outcome is unknown, never). That order, with each read placed
    after the appends it saw, is the only candidate; it is a linearization if it respects real
    time (nothing placed after an operation that completed before it was invoked) and every
    APPEND's reply length. None if the key is not of that shape."""
    appends = [e for e in entries if e.kind == "append"]
    reads = [e for e in entries if e.kind == "get" and e.required]
    if not appends or any(e.kind not in ("append", "get") for e in entries):
        return None
    separator = _text(appends[0].arg)[-1:]
    tokens = [_text(e.arg) for e in appends]
    if (not separator or len(set(tokens)) != len(tokens)
            or any(not t.endswith(separator) or separator in t[:-1] for t in tokens)):
        return None

    def illegal(why):
        return KeyResult(key, "illegal", len(entries), 0, 0, why)

    values = [_text(e.result) or "" for e in reads]
    longest = max(values, key=len, default="")
    for e, v in zip(reads, values):
        if not longest.startswith(v):
            return illegal(f"{e.op.describe(origin)} is not a prefix of the longest read "
                           f"{_show(longest)}: two reads disagree")
    final = [t + separator for t in longest.split(separator)[:-1]]
    by_token = {t: e for t, e in zip(tokens, appends)}
    position = {}
    for i, t in enumerate(final):
        if t not in by_token:
            return illegal(f"the longest read holds {t!r}, which no APPEND wrote")
        if t in position:
            return illegal(f"the longest read holds {t!r} twice: an APPEND took effect twice")
        position[t] = i
    later = sorted((e for e in appends if _text(e.arg) not in position and e.required),
                   key=lambda e: (math.inf if e.result is None else e.result, e.invoke))
    order = [(position[_text(e.arg)], 1, e.invoke, e) for e in appends if _text(e.arg) in position]
    order += [(len(final) + i, 1, e.invoke, e) for i, e in enumerate(later)]
    order += [(len(v.split(separator)) - 1, 0, e.invoke, e) for e, v in zip(reads, values)]
    order.sort(key=lambda item: item[:3])
    latest_invoke, latest, length = -math.inf, None, 0
    for _, _, _, e in order:
        if e.kind == "append":
            length += _length(_text(e.arg))
            if e.required and e.result is not None and int(e.result) != length:
                return illegal(f"{e.op.describe(origin)}: the length after it is {length}")
        if e.complete < latest_invoke:
            return illegal(f"{e.op.describe(origin)} must take effect after "
                           f"{latest.op.describe(origin)}, which was invoked after it completed")
        if e.invoke > latest_invoke:
            latest_invoke, latest = e.invoke, e
    return KeyResult(key, "ok", len(entries), 0, 0,
                     "decided from the order of unique appended tokens", [e.op for *_, e in order])


# --- saving and loading histories ------------------------------------------------------------


def dump(history, path: str) -> None:
    """Saves a history as JSON lines (an unknown completion is written as null)."""
    with open(path, "w", encoding="utf-8") as out:
        for item in history:
            record = asdict(Op.of(item))
            if record["complete"] is not None and not math.isfinite(record["complete"]):
                record["complete"] = None
            for name in ("arg", "result"):
                if isinstance(record[name], (bytes, bytearray)):
                    record[name] = _text(record[name])
            out.write(json.dumps(record) + "\n")


def load(path: str) -> list:
    with open(path, encoding="utf-8") as source:
        return [Op(**json.loads(line)) for line in source if line.strip()]


def main(argv) -> int:
    if len(argv) != 2:
        print("usage: linearizability.py HISTORY.jsonl", file=sys.stderr)
        return 2
    verdict = check(load(argv[1]))
    print(verdict)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
