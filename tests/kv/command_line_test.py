"""coraft-kv's command line, on the real binary: --help and --version, each bad flag refused with a
message naming it and exit status 2 (and no data directory made), --flag=value taking effect on a
running member, and a data directory of another member or cluster refused at start.

usage: command_line_test.py PATH-TO-CORAFT-KV
"""
import os
import re
import subprocess
import sys
import tempfile

from cluster_support import free_ports, raw_command, wait_until, info

TIMEOUT = 10  # seconds for a refusal or --help; the binary exits at once


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=TIMEOUT)


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def check_help(binary):
    out = run(binary, "--help")
    check(out.returncode == 0, "--help exits 0")
    for flag, default in [("--id N", None), ("--peers LIST", None), ("--join", None),
                          ("--raft-listen HOST:PORT", None), ("--listen HOST:PORT", None),
                          ("--data DIR", None), ("--cluster-id NAME", "coraft-kv"),
                          ("--snapshot-entries N", "10000"), ("--max-entry-bytes N", "1048576"),
                          ("--reads MODE", "index"), ("--help", None), ("--version", None)]:
        shown = flag + (f" (={default})" if default else "")
        check(shown in out.stdout, f"--help lists {shown}")
    check("Examples:\n  coraft-kv --id 1 --peers 1=" in out.stdout, "--help gives an example")
    check(out.stderr == "", "--help writes nothing to stderr")


def check_version(binary):
    out = run(binary, "--version")
    check(out.returncode == 0 and re.fullmatch(r"coraft-kv \d+\.\d+\.\d+\n", out.stdout),
          f"--version prints the version: {out.stdout!r}")


def check_refusals(binary, directory):
    data = os.path.join(directory, "never")
    good = {"--id": "1", "--peers": "1=127.0.0.1:7001", "--listen": "127.0.0.1:6381", "--data": data}

    def with_flags(**changes):
        flags = dict(good)
        for name, value in changes.items():
            flag = "--" + name.replace("_", "-")
            if value is None:
                flags.pop(flag, None)
            else:
                flags[flag] = value
        return [word for flag, value in flags.items() for word in ([flag] if value == "" else [flag, value])]

    cases = [
        (["--bogus", "1"] + with_flags(), ["unrecognised option '--bogus'"]),
        (with_flags() + ["--snap", "5"], ["unrecognised option '--snap'"]),
        (with_flags() + ["--id=1"], ["--id is given more than once"]),
        (with_flags() + ["--id"], ["the required argument for option '--id' is missing"]),
        (with_flags(id="abc"), ["'abc' of --id is not a whole number"]),
        (with_flags(id="-3"), ["'-3' of --id is not a whole number"]),
        (with_flags(id="0"), ["--id 0 is not a member id"]),
        (with_flags(id=None), ["--id is required"]),
        (with_flags(listen=None), ["--listen is required"]),
        (with_flags(data=None), ["--data is required"]),
        (with_flags(peers=None), ["--peers is required (or --join)"]),
        (with_flags(listen="localhost:6381"), ["'localhost:6381' of --listen is not an address"]),
        (with_flags(listen="127.0.0.1"), ["'127.0.0.1' of --listen is not an address"]),
        (with_flags(listen="127.0.0.1:70000"), ["'127.0.0.1:70000' of --listen is not an address"]),
        (with_flags(peers="1=127.0.0.1:7001,2=nowhere:1"), ["'nowhere:1' of --peers is not an address"]),
        (with_flags(peers="1-127.0.0.1:7001"), ["'1-127.0.0.1:7001' of --peers is not ID="]),
        (with_flags(peers="2=127.0.0.1:7002"), ["--peers must list this member's --id 1"]),
        (with_flags(raft_listen="127.0.0.1:7999"), ["--raft-listen 127.0.0.1:7999 differs"]),
        (with_flags(reads="fast"), ["'fast' of --reads is not one of index, lease, log"]),
        (with_flags(snapshot_entries="0"), ["--snapshot-entries must be at least 1"]),
        (with_flags(snapshot_entries="1e4"), ["'1e4' of --snapshot-entries is not a whole number"]),
        (with_flags(max_entry_bytes="0"), ["--max-entry-bytes must be at least 1"]),
        (with_flags(max_entry_bytes="99999999999"), ["max_bytes_per_append", "--max-entry-bytes"]),
        (with_flags(cluster_id="a b"), ["'a b' of --cluster-id is not a name"]),
        (with_flags(join=""), ["--join and --peers exclude each other"]),
        (with_flags(join="", peers=None), ["--join needs --raft-listen"]),
        (with_flags() + ["--id", "2"], ["--id is given more than once"]),
    ]
    for args, parts in cases:
        out = run(binary, *args)
        message = out.stderr.strip()
        check(out.returncode == 2 and all(part in message for part in parts) and
              "coraft-kv --help lists every flag" in message,
              f"{' '.join(args)!r} refused with status 2: {message.splitlines()[0] if message else ''!r}")
    check(not os.path.exists(data), "no refused start made its data directory")


def start_member(binary, directory, raft_port, client_port, *extra):
    log = open(os.path.join(directory, "member.log"), "a")
    return subprocess.Popen([binary, f"--peers=1=127.0.0.1:{raft_port}",
                             f"--listen=127.0.0.1:{client_port}", *extra],
                            stdout=log, stderr=subprocess.STDOUT)


def stop(process):
    process.kill()
    process.wait(timeout=TIMEOUT)


def check_equals_form_and_identity(binary, directory):
    raft_port, client_port = free_ports(2)
    data = os.path.join(directory, "member-1")
    flags = ["--id=1", f"--data={data}", "--cluster-id=alpha", "--reads=log",
             "--max-entry-bytes=2000", "--snapshot-entries=5"]
    member = start_member(binary, directory, raft_port, client_port, *flags)
    try:
        wait_until("the one member to lead", lambda: info(client_port).get("role") == "leader")
        check(info(client_port).get("reads") == "log", "--reads=log took effect (INFO reads:log)")
        check(raw_command(client_port, "SET", "k", "v") == b"+OK\r\n", "the member serves a SET")
        too_large = raw_command(client_port, "SET", "big", "x" * 3000)
        check(too_large.startswith(b"-ERR command too large") and b"2000" in too_large,
              "--max-entry-bytes=2000 took effect (a 3000-byte SET is refused)")
        for i in range(12):
            raw_command(client_port, "INCR", "n")
        wait_until("a snapshot after 5 commands",
                   lambda: int(info(client_port).get("snapshot_index", "0")) > 0)
        check(True, "--snapshot-entries=5 took effect (a snapshot was taken)")
    finally:
        stop(member)

    with open(os.path.join(data, "coraft-kv.identity")) as f:
        check(f.read() == "coraft-kv data directory\ncluster-id alpha\nmember-id 1\n",
              "the data directory records its cluster and member")
    check(not os.path.exists(os.path.join(data, "coraft-kv.identity.tmp")), "no temporary file is left")

    refusals = [
        (["--id=2", f"--peers=2=127.0.0.1:{raft_port}", "--cluster-id=alpha"],
         ["is not this member's", "it belongs to member 1, and --id is 2"], ["cluster '"]),
        (["--id=1", f"--peers=1=127.0.0.1:{raft_port}", "--cluster-id=beta"],
         ["it belongs to cluster 'alpha', and --cluster-id is 'beta'"], ["member 1"]),
        (["--id=1", f"--peers=1=127.0.0.1:{raft_port}"],
         ["it belongs to cluster 'alpha', and --cluster-id is 'coraft-kv'"], ["member 1"]),
        (["--id=3", f"--peers=3=127.0.0.1:{raft_port}", "--cluster-id=beta"],
         ["cluster 'alpha', and --cluster-id is 'beta'", "member 1, and --id is 3"], []),
    ]
    for args, parts, absent in refusals:
        out = run(binary, *args, f"--listen=127.0.0.1:{client_port}", f"--data={data}")
        message = out.stderr.strip()
        check(out.returncode == 1 and all(p in message for p in parts) and
              not any(a in message for a in absent),
              f"{' '.join(args[::2])} on member 1 of alpha refused: {message!r}")

    member = start_member(binary, directory, raft_port, client_port, *flags)
    try:
        wait_until("the member to lead again", lambda: info(client_port).get("role") == "leader")
        check(raw_command(client_port, "GET", "k") == b"$1\r\nv\r\n",
              "with its own flags the member starts on its data directory, its data intact")
    finally:
        stop(member)

    with open(os.path.join(data, "coraft-kv.identity"), "w") as f:
        f.write("something else\n")
    out = run(binary, *flags, f"--peers=1=127.0.0.1:{raft_port}", f"--listen=127.0.0.1:{client_port}")
    check(out.returncode == 1 and "is damaged or not coraft-kv's" in out.stderr,
          f"a damaged identity file is refused: {out.stderr.strip()!r}")


def main():
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="coraft-kv-cli-") as directory:
        try:
            check_help(binary)
            check_version(binary)
            check_refusals(binary, directory)
            check_equals_form_and_identity(binary, directory)
        except Exception:
            log = os.path.join(directory, "member.log")
            if os.path.exists(log):
                print(open(log).read()[-3000:])
            raise
    print("command line: all checks passed")


if __name__ == "__main__":
    main()
