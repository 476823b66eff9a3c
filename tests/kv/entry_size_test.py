"""Commands too large for one log entry, on a 3-process coraft-kv cluster with real clients.

usage: entry_size_test.py PATH-TO-CORAFT-KV [--max-entry-bytes N]

A command becomes one log entry of at most --max-entry-bytes (1 MiB when not given). A larger SET
or MSET, sent to the leader or to a follower, alone or pipelined between ordinary commands, gets
an error at once and is not applied; the commands around it are answered as usual, the leader
keeps its term, and a command whose entry is exactly at the limit is applied on every member.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

import redis

from cluster_support import (Cluster, ReplyReader, encode, info, print_member_logs, raw_command,
                             wait_until)

DEFAULT_LIMIT = 1 << 20
LARGEST_ARGUMENT = 16 << 20  # the largest bulk string coraft-kv's parser takes

failures = []


def check(condition, what):
    print(("ok: " if condition else "FAILED: ") + what, flush=True)
    if not condition:
        failures.append(what)


def varint_size(n):
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def entry_size(*words):
    """The bytes of the log entry coraft-kv appends for a command without a session: the client
    and sequence numbers (0 each), the argument count, then each argument with its length."""
    words = [w.encode() if isinstance(w, str) else w for w in words]
    return 2 + varint_size(len(words)) + sum(varint_size(len(w)) + len(w) for w in words)


def value_for(limit, key, extra):
    """A value that makes `SET key value` take exactly `limit + extra` bytes as an entry."""
    size = limit + extra - entry_size("SET", key, b"")
    while entry_size("SET", key, b"v" * size) > limit + extra:
        size -= 1
    value = b"v" * size
    assert entry_size("SET", key, value) == limit + extra
    return value


def too_large_reply(reply, size, limit):
    text = reply.decode(errors="replace")
    return (text.startswith("-ERR command too large") and f" {size} bytes" in text
            and f"limit of {limit}" in text)


def refused_alone(cluster, member, limit, where):
    port = cluster.client_ports[member]
    big = value_for(limit, "big", 1)
    started = time.monotonic()
    reply = raw_command(port, "SET", "big", big, timeout=10)
    check(too_large_reply(reply, limit + 1, limit) and time.monotonic() - started < 2,
          f"a SET one byte over the limit, at the {where}, is refused at once: {reply[:120]!r}")
    half = b"m" * (limit // 2)
    reply = raw_command(port, "MSET", "m1", half, "m2", half, timeout=10)
    check(too_large_reply(reply, entry_size("MSET", "m1", half, "m2", half), limit),
          f"an MSET whose values together exceed the limit, at the {where}, is refused: {reply[:120]!r}")
    started = time.monotonic()
    reply = raw_command(port, "SET", "huge", b"h" * LARGEST_ARGUMENT, timeout=10)
    check(reply.startswith(b"-ERR command too large") and time.monotonic() - started < 5,
          f"a SET of the largest argument the parser takes (16 MiB), at the {where}, is refused at once")
    check(raw_command(port, "EXISTS", "big", "m1", "m2", "huge") == b":0\r\n",
          f"none of the refused commands at the {where} was applied")


def pipelined(cluster, member, limit):
    big = value_for(limit, "big", 1)
    half = b"m" * (limit // 2 + 1)
    commands = [["SET", "a", "1"], ["SET", "big", big], ["GET", "a"], ["SET", "b", "2"],
                ["MSET", "m1", half, "m2", half], ["GET", "b"], ["INCR", "a"]]
    with socket.create_connection(("127.0.0.1", cluster.client_ports[member]), timeout=10) as s:
        s.sendall(b"".join(encode(c) for c in commands))
        reader = ReplyReader(s)
        replies = [reader.reply() for _ in commands]
        s.sendall(encode(["PING"]))
        still_open = reader.reply() == b"+PONG\r\n"
    expected_plain = {0: b"+OK\r\n", 2: b"$1\r\n1\r\n", 3: b"+OK\r\n", 5: b"$1\r\n2\r\n", 6: b":2\r\n"}
    check(all(replies[i] == r for i, r in expected_plain.items()),
          f"ordinary commands pipelined around too-large ones are answered normally: {[r[:40] for r in replies]}")
    check(too_large_reply(replies[1], limit + 1, limit) and
          replies[4].startswith(b"-ERR command too large"),
          "the too-large SET and MSET in the pipeline get the error, in their places")
    check(still_open, "the connection keeps serving after the pipeline")


def at_the_limit(cluster, leader, limit):
    value = value_for(limit, "edge", 0)
    client = redis.Redis(port=cluster.client_ports[leader], socket_timeout=10)
    check(client.set("edge", value) is True, "a SET whose entry is exactly the limit is applied")
    for member in (1, 2, 3):
        wait_until(f"member {member} to apply the entry at the limit",
                   lambda m=member: int(info(cluster.client_ports[m])["last_applied"]) >=
                   int(info(cluster.client_ports[leader])["commit_index"]))
        got = redis.Redis(port=cluster.client_ports[member], socket_timeout=10).get("edge")
        check(got == value, f"the value at the limit reads back through member {member}")
    try:
        client.set("edge", value + b"v")
        check(False, "redis-py: a SET one byte over the limit raised no error")
    except redis.ResponseError as e:
        check("command too large" in str(e), f"redis-py: one byte over the limit raises: {e}")
    check(client.get("edge") == value, "the refused SET left the value at the limit in place")


def keeps_serving(cluster, leader, term):
    for i, member in enumerate((1, 2, 3)):
        client = redis.Redis(port=cluster.client_ports[member], socket_timeout=10)
        check(client.set(f"after{i}", f"v{i}") is True, f"a later SET works through member {member}")
    for member in (1, 2, 3):
        client = redis.Redis(port=cluster.client_ports[member], socket_timeout=10)
        values = client.mget(["after0", "after1", "after2"])
        check(values == [b"v0", b"v1", b"v2"], f"later GETs work through member {member}")
    now = info(cluster.client_ports[leader])
    check(now["role"] == "leader" and now["term"] == term,
          f"member {leader} still leads in term {term} (now {now['role']} in term {now['term']})")


def refuses_a_limit_the_frames_cannot_carry(binary, directory):
    out = subprocess.run([binary, "--id", "1", "--peers", "1=127.0.0.1:1", "--listen", "127.0.0.1:2",
                          "--data", os.path.join(directory, "never"), "--max-entry-bytes",
                          str(32 << 20)], capture_output=True, text=True, timeout=10)
    check(out.returncode == 2 and "--max-entry-bytes" in out.stderr,
          f"a --max-entry-bytes over the frame limit is refused at start: {out.stderr.strip()[:200]!r}")


def main():
    binary = sys.argv[1]
    flags = sys.argv[2:]
    limit = int(flags[flags.index("--max-entry-bytes") + 1]) if "--max-entry-bytes" in flags \
        else DEFAULT_LIMIT
    with tempfile.TemporaryDirectory(prefix="coraft-kv-") as directory:
        cluster = Cluster(binary, directory, extra_args=flags)
        try:
            leader = cluster.start_all()
            follower = next(m for m in (1, 2, 3) if m != leader)
            raw_command(cluster.client_ports[leader], "SET", "warm", "up", timeout=10)
            term = info(cluster.client_ports[leader])["term"]
            refused_alone(cluster, leader, limit, "leader")
            refused_alone(cluster, follower, limit, "follower")
            pipelined(cluster, leader, limit)
            pipelined(cluster, follower, limit)
            at_the_limit(cluster, leader, limit)
            keeps_serving(cluster, leader, term)
            refuses_a_limit_the_frames_cannot_carry(binary, directory)
        finally:
            cluster.stop_all()
            if failures:
                print_member_logs(directory)
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
