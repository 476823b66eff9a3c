"""coraft-kv against real Redis clients and Redis itself, on a 3-process cluster.

usage: replies_test.py PATH-TO-CORAFT-KV

1. The same command sequence goes to a plain redis-server and to the cluster (each command to the
   next member in turn, so followers forward); the raw replies must be byte for byte the same.
2. Pipelining: 200 commands in one write are answered in order.
3. A malformed request gets a protocol error and the connection is closed; the server lives on.
4. redis-cli works against a follower.
5. Failover: with redis-py, write through the leader, SIGKILL it, find the new leader, check every
   acknowledged write, write more.
6. Restart from a snapshot: the killed member restarts from its snapshot and log and catches up.
"""
import os
import socket
import subprocess
import sys
import tempfile

import redis

from cluster_support import (Cluster, RedisServer, ReplyReader, encode, info, print_member_logs,
                             raw_command, wait_until)

SEQUENCE = [
    ["PING"], ["PING", "hello"], ["ECHO", "a b c"], ["ping", "x", "y"],
    ["GET", "k"], ["SET", "k", "v1"], ["GET", "k"], ["set", "k", "v2", "NX"], ["SET", "k", "v3", "XX"],
    ["SET", "new", "x", "XX"], ["SET", "k", "v4", "GET"], ["SET", "k2", "w", "NX", "GET"],
    ["SET", "k", "v", "NX", "XX"], ["SET", "k", "v", "BOGUS"], ["SET", "k"], ["GET"],
    ["EXISTS", "k", "k2", "k", "missing"], ["DEL", "k2", "missing"], ["EXISTS", "k2"],
    ["INCR", "c"], ["INCRBY", "c", "41"], ["DECR", "c"], ["DECRBY", "c", "-10"], ["INCRBY", "c", "x"],
    ["INCR", "k"], ["SET", "big", "9223372036854775807"], ["INCR", "big"], ["DECRBY", "c", "1.5"],
    ["SET", "lead", "007"], ["INCR", "lead"],
    ["APPEND", "s", "abc"], ["APPEND", "s", "def"], ["GET", "s"], ["STRLEN", "s"], ["STRLEN", "none"],
    ["MGET", "k", "s", "none", "c"], ["MSET", "m1", "1", "m2", "2"], ["MSET", "m1"], ["MSET", "a", "1", "b"],
    ["MGET", "m1", "m2"], ["DBSIZE"], ["DEL", "m1", "m2", "s"], ["DBSIZE"],
    ["FOO"], ["FOO", "bar", "baz"], ["get", "k"], ["GET", "k", "extra"], ["APPEND", "only"],
    ["SET", "", "empty key"], ["GET", ""], ["SET", "bin", "\x00\x01\r\n"], ["GET", "bin"],
]

failures = []


def check(condition, what):
    print(("ok: " if condition else "FAILED: ") + what, flush=True)
    if not condition:
        failures.append(what)


def compare_with_redis(cluster, reference):
    members = [cluster.client_ports[m] for m in (1, 2, 3)]
    for i, command in enumerate(SEQUENCE):
        expected = raw_command(reference.port, *command)
        got = raw_command(members[i % 3], *command)
        if got != expected:
            check(False, f"{' '.join(command)!r}: redis said {expected!r}, coraft-kv said {got!r}")
            return
    check(True, f"{len(SEQUENCE)} commands answered byte for byte as redis-server answers them")


def pipelining(port):
    commands = [["SET", f"p{i}", str(i)] if i % 2 == 0 else ["GET", f"p{i - 1}"] for i in range(200)]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(encode(c) for c in commands))
        reader = ReplyReader(s)
        replies = [reader.reply() for _ in commands]
    expected = [b"+OK\r\n" if i % 2 == 0 else b"$%d\r\n%d\r\n" % (len(str(i - 1)), i - 1)
                for i in range(200)]
    check(replies == expected, "200 pipelined commands in one write are answered in order")


def malformed(port):
    for garbage in (b"*1\r\n$foo\r\n", b"*2\r\n$3\r\nGET\r\n$999999999\r\n", b"*-5\r\n",
                    b"*1\r\n+GET\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(garbage)
            reply = s.recv(4096)
            closed = s.recv(4096) == b""
        check(reply.startswith(b"-ERR Protocol error") and closed,
              f"malformed request {garbage!r}: protocol error, connection closed")
    check(raw_command(port, "PING") == b"+PONG\r\n", "the member still serves after garbage")


def redis_cli(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "SET", "cli", "hello"], capture_output=True,
                         text=True, timeout=10).stdout.strip()
    back = subprocess.run(["redis-cli", "-p", str(port), "GET", "cli"], capture_output=True,
                          text=True, timeout=10).stdout.strip()
    check(out == "OK" and back == "hello", "redis-cli sets and gets through a follower")


def failover_and_snapshot(cluster):
    leader = cluster.leader()
    client = redis.Redis(port=cluster.client_ports[leader], socket_timeout=5)
    acknowledged = {}
    for i in range(300):  # enough entries for several snapshots (every 50)
        client.set(f"f{i}", f"v{i}")
        acknowledged[f"f{i}"] = f"v{i}"
    cluster.kill(leader)
    survivors = [m for m in (1, 2, 3) if m != leader]
    new_leader = cluster.leader(among=survivors)
    check(new_leader != leader, f"leader {leader} killed with SIGKILL; member {new_leader} leads")
    client = redis.Redis(port=cluster.client_ports[new_leader], socket_timeout=5)
    values = client.mget(list(acknowledged))
    check([v.decode() for v in values] == list(acknowledged.values()),
          "every acknowledged write is there after the failover")
    for i in range(300, 400):
        client.set(f"f{i}", f"v{i}")
        acknowledged[f"f{i}"] = f"v{i}"
    check(client.get("f399") == b"v399", "the new leader commits more writes")

    cluster.start(leader)
    wait_until("the restarted member to catch up",
               lambda: int(info(cluster.client_ports[leader])["last_applied"]) >=
               int(info(cluster.client_ports[new_leader])["commit_index"]) - 1)
    restarted = info(cluster.client_ports[leader])
    check(int(restarted["snapshot_index"]) > 0,
          f"member {leader} restarted from a snapshot (snapshot_index {restarted['snapshot_index']})")
    follower = redis.Redis(port=cluster.client_ports[leader], socket_timeout=5)
    values = follower.mget(list(acknowledged))
    check([v.decode() for v in values] == list(acknowledged.values()),
          "all 400 writes read back through the restarted member")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="coraft-kv-") as directory:
        cluster = Cluster(binary, directory, snapshot_entries=50)
        reference = None
        try:
            reference = RedisServer(directory)
            leader = cluster.start_all()
            follower = next(m for m in (1, 2, 3) if m != leader)
            compare_with_redis(cluster, reference)
            pipelining(cluster.client_ports[leader])
            malformed(cluster.client_ports[follower])
            redis_cli(cluster.client_ports[follower])
            failover_and_snapshot(cluster)
        finally:
            cluster.stop_all()
            if reference:
                reference.stop()
            if failures:
                print_member_logs(directory)
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
