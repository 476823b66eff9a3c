"""Pipelines whose writes share log entries, on a 3-process coraft-kv cluster with real clients.

usage: batch_test.py PATH-TO-CORAFT-KV

The writes of a pipeline that a member has received go into one log entry (a batch), or as few as
--max-entry-bytes allows; a follower forwards them to the leader together. Long pipelines of mixed
SET, INCR, APPEND, DEL and GET go to the leader and to a follower, as raw RESP over a socket, through
redis-py pipelines (transaction=False) and through `redis-cli --pipe`; every reply must be the one
sequential execution gives (computed here), every member must end with the same state, and INFO
on the leader must show many commands per log entry. A command too large for an entry, in the
middle of a pipeline, gets its error while the others are applied. A follower's leader paused
before it answers a forwarded write: the writes after it are not run, so they never take effect
before it. Then a follower's leader is
killed (SIGKILL) in the middle of a long pipeline of unique SETs and APPENDs of numbered tokens:
every reply is right or an error, none after the first whose outcome is unknown runs, everything
acknowledged is there afterwards, and no token is applied twice or out of order.
"""
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

from cluster_support import (Cluster, ReplyReader, encode, info, print_member_logs, raw_command,
                             wait_until)

LIMIT = 100_000  # --max-entry-bytes

failures = []


def check(condition, what):
    print(("ok: " if condition else "FAILED: ") + what, flush=True)
    if not condition:
        failures.append(what)


class Model:
    """What a Redis server executing the commands one at a time replies, as RESP bytes."""

    def __init__(self):
        self.data = {}

    def apply(self, words):
        name = words[0].decode().upper()
        if name == "SET":
            self.data[words[1]] = words[2]
            return b"+OK\r\n"
        if name == "GET":
            value = self.data.get(words[1])
            return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)
        if name == "INCR":
            value = int(self.data.get(words[1], b"0")) + 1
            self.data[words[1]] = b"%d" % value
            return b":%d\r\n" % value
        if name == "APPEND":
            self.data[words[1]] = self.data.get(words[1], b"") + words[2]
            return b":%d\r\n" % len(self.data[words[1]])
        if name == "DEL":
            count = sum(1 for key in words[1:] if self.data.pop(key, None) is not None)
            return b":%d\r\n" % count
        raise ValueError(name)


def as_bytes(words):
    return [w.encode() if isinstance(w, str) else w for w in words]


def mixed_commands(chooser, count, prefix, reads=True):
    """SET and APPEND on string keys, INCR on counters, DEL on either, GET on either (if `reads`)."""
    strings = [f"{prefix}s{i}" for i in range(6)]
    counters = [f"{prefix}c{i}" for i in range(4)]
    commands = []
    for n in range(count):
        roll = chooser.random()
        if reads and roll < 0.1:
            commands.append(["GET", chooser.choice(strings + counters)])
        elif roll < 0.35:
            commands.append(["SET", chooser.choice(strings), f"v{n}-" + "x" * chooser.randrange(40)])
        elif roll < 0.6:
            commands.append(["INCR", chooser.choice(counters)])
        elif roll < 0.85:
            commands.append(["APPEND", chooser.choice(strings), f"{n};"])
        else:
            commands.append(["DEL"] + chooser.sample(strings + counters, 2))
    return [as_bytes(c) for c in commands]


def send_raw(port, commands, timeout=30):
    """Sends every command in one go and reads one reply per command, in order."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(encode(c) for c in commands))
        reader = ReplyReader(s)
        return [reader.reply() for _ in commands]


def batching(port):
    now = info(port)
    return int(now["entries_proposed"]), int(now["commands_logged"])


def per_entry(before, after):
    entries, commands = after[0] - before[0], after[1] - before[1]
    return commands / entries if entries else 0.0, entries, commands


def raw_pipelines(cluster, leader, follower, model, chooser):
    for member, where in ((leader, "leader"), (follower, "follower")):
        port = cluster.client_ports[member]
        commands = mixed_commands(chooser, 3000, "raw-")
        expected = [model.apply(c) for c in commands]
        before = batching(cluster.client_ports[leader])
        replies = send_raw(port, commands)
        after = batching(cluster.client_ports[leader])
        wrong = [(i, commands[i][:2], expected[i][:40], replies[i][:40])
                 for i in range(len(commands)) if replies[i] != expected[i]]
        check(not wrong, f"a raw pipeline of 3000 mixed commands at the {where}: every reply as "
                         f"executed one at a time (first wrong: {wrong[:3]})")
        ratio, entries, logged = per_entry(before, after)
        check(ratio > 3, f"  ... the leader logged its {logged} writes in {entries} entries "
                         f"({ratio:.1f} commands per entry)")

        commands = mixed_commands(chooser, 3000, "only-writes-", reads=False)
        expected = [model.apply(c) for c in commands]
        before = batching(cluster.client_ports[leader])
        replies = send_raw(port, commands)
        after = batching(cluster.client_ports[leader])
        check(replies == expected, f"a raw pipeline of 3000 writes at the {where}: every reply right")
        ratio, entries, logged = per_entry(before, after)
        check(ratio >= 20, f"  ... the leader logged its {logged} writes in {entries} entries "
                           f"({ratio:.1f} commands per entry)")


def to_redis_py(reply):
    """The value redis-py gives for a RESP reply of the commands used here."""
    if reply == b"+OK\r\n":
        return True
    if reply.startswith(b":"):
        return int(reply[1:-2])
    if reply == b"$-1\r\n":
        return None
    if reply.startswith(b"$"):
        return reply[reply.index(b"\r\n") + 2:-2]
    raise ValueError(reply)


def redis_py_pipelines(cluster, leader, follower, model, chooser):
    for member, where in ((leader, "leader"), (follower, "follower")):
        client = redis.Redis(port=cluster.client_ports[member], socket_timeout=30)
        commands = mixed_commands(chooser, 2000, "py-")
        expected = [to_redis_py(model.apply(c)) for c in commands]
        pipe = client.pipeline(transaction=False)
        for c in commands:
            pipe.execute_command(c[0].decode(), *c[1:])
        got = pipe.execute()
        wrong = [(i, commands[i][:2], expected[i], got[i])
                 for i in range(len(commands)) if got[i] != expected[i]]
        check(not wrong, f"a redis-py pipeline of 2000 mixed commands at the {where}: every reply "
                         f"right (first wrong: {wrong[:3]})")


def redis_cli_pipe(cluster, follower, model, chooser):
    commands = mixed_commands(chooser, 5000, "cli-", reads=False)
    for c in commands:
        model.apply(c)
    out = subprocess.run(["redis-cli", "-p", str(cluster.client_ports[follower]), "--pipe"],
                         input=b"".join(encode(c) for c in commands), capture_output=True,
                         timeout=60)
    text = out.stdout.decode(errors="replace")
    check(out.returncode == 0 and "errors: 0, replies: 5000" in text,
          f"redis-cli --pipe of 5000 writes at the follower: no error ({text.strip()[-60:]!r})")


def oversized_in_the_middle(cluster, leader, follower, model):
    for member, where in ((leader, "leader"), (follower, "follower")):
        # Values of 30 kB: only three fit in one entry, so the pipeline takes several.
        commands = [as_bytes(["SET", f"big-{where}-{i}", b"%d" % i + b"b" * 30_000]) for i in range(10)]
        too_large = as_bytes(["SET", f"huge-{where}", b"h" * (LIMIT + 1)])
        commands = commands[:5] + [too_large] + commands[5:]
        commands += [as_bytes(["APPEND", f"after-{where}", "x"]), as_bytes(["GET", f"after-{where}"])]
        expected = [b"+OK\r\n"] * 5 + [None] + [b"+OK\r\n"] * 5 + [b":1\r\n", b"$1\r\nx\r\n"]
        for c in commands:
            if c is not too_large:
                model.apply(c)
        replies = send_raw(cluster.client_ports[member], commands)
        others = [r for i, r in enumerate(replies) if i != 5]
        check(others == [e for i, e in enumerate(expected) if i != 5],
              f"a pipeline of 30 kB SETs at the {where}, one too large for an entry in the middle: "
              f"the others are applied ({[r[:20] for r in replies]})")
        check(replies[5].startswith(b"-ERR command too large"),
              f"  ... and the too-large one gets its error: {replies[5][:60]!r}")
        check(raw_command(cluster.client_ports[member], "EXISTS", f"huge-{where}") == b":0\r\n",
              "  ... and is not applied")


def same_state_everywhere(cluster, members, model):
    leader_port = cluster.client_ports[cluster.leader(among=members)]
    commit = int(info(leader_port)["commit_index"])
    keys = sorted(model.data)
    for member in members:
        port = cluster.client_ports[member]
        wait_until(f"member {member} to apply the log",
                   lambda p=port: int(info(p)["last_applied"]) >= commit, timeout=30)
        values = redis.Redis(port=port, socket_timeout=30).mget(keys)
        wrong = [k for k, v in zip(keys, values) if v != model.data[k]]
        check(not wrong, f"member {member} holds the {len(keys)} keys as executed one at a time "
                         f"(wrong: {wrong[:5]})")


def paused_leader_mid_pipeline(cluster, leader, follower):
    """A write forwarded by a follower to a leader that is paused (SIGSTOP) before it answers: the
    write is answered "may or may not be applied", a write sent after it on the same connection is
    not run, and the connection closes. The paused leader still holds the first write in its
    socket; once it runs again it may apply it, but the second must never take effect, before
    it or after."""
    journal = "paused-journal"
    port = cluster.client_ports[follower]
    process = cluster.processes[leader]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        process.send_signal(signal.SIGSTOP)
        try:
            s.sendall(encode(as_bytes(["APPEND", journal, "first;"])))
            time.sleep(0.5)
            s.sendall(encode(as_bytes(["APPEND", journal, "second;"])))
            reader = ReplyReader(s)
            first = reader.reply()
            try:
                second = reader.reply()
            except (ConnectionError, OSError, EOFError, ValueError):
                second = b""  # closed before the second write was read: it was not run either
            s.settimeout(15)
            try:
                closed = s.recv(1) == b""
            except socket.timeout:
                closed = False
        finally:
            process.send_signal(signal.SIGCONT)
    check(first.startswith(b"-TRYAGAIN") and b"may or may not" in first,
          f"a write forwarded to a paused leader: 'may or may not be applied' ({first[:70]})")
    check(second == b"" or second.startswith(b"-TRYAGAIN not run"),
          f"  ... the write sent after it is not run ({second[:70]})")
    check(closed, "  ... and the connection closes")
    now_leading = cluster.leader()
    commit = int(info(cluster.client_ports[now_leading])["commit_index"])
    for member in (1, 2, 3):
        wait_until(f"member {member} to apply the log",
                   lambda: int(info(cluster.client_ports[member])["last_applied"]) >= commit,
                   timeout=30)
    time.sleep(1.0)  # the resumed member forwards what it found in its socket, if anything
    value = redis.Redis(port=cluster.client_ports[now_leading], socket_timeout=30).get(journal)
    check(value in (None, b"first;"),
          f"  ... the second write never took effect, the first at most once ({value})")
    return now_leading


def leader_killed_mid_pipeline(cluster, leader, follower):
    """Unique SETs and APPENDs of numbered tokens to one journal, pipelined at a follower whose
    leader is killed once some replies are back."""
    count = 20_000
    token = lambda i: b"%07d;" % i
    commands = []
    for i in range(count):
        commands.append(as_bytes(["SET", f"kill-{i}", f"value-{i}"]))
        commands.append(as_bytes(["APPEND", "journal", token(i)]))
    payload = b"".join(encode(c) for c in commands)
    replies = []
    closed = False

    def send():
        try:
            s.sendall(payload)
        except OSError:
            pass  # the member closed the connection (see below)
    with socket.create_connection(("127.0.0.1", cluster.client_ports[follower]), timeout=60) as s:
        sender = threading.Thread(target=send)
        sender.start()
        reader = ReplyReader(s)
        while len(replies) < 2_000:
            replies.append(reader.reply())
        cluster.kill(leader)
        try:
            while len(replies) < len(commands):
                replies.append(reader.reply())
        except OSError:
            closed = True
        sender.join(timeout=60)
    survivors = [m for m in (1, 2, 3) if m != leader]
    errors = [r for r in replies if r.startswith(b"-")]
    right = lambda i, r: r == b"+OK\r\n" if i % 2 == 0 else r.startswith(b":")
    bad = [(i, r[:60]) for i, r in enumerate(replies)
           if not r.startswith(b"-TRYAGAIN") and not right(i, r)]
    check(not bad, f"the leader killed mid-pipeline: every one of {len(replies)} replies is right "
                   f"or TRYAGAIN ({len(errors)} errors; others: {bad[:3]})")
    # Once a forwarded command's outcome is unknown, nothing sent after it runs (it could take
    # effect first, were the old leader only paused), and the connection closes.
    unknown = next((i for i, r in enumerate(replies) if b"may or may not" in r), None)
    after = replies[unknown:] if unknown is not None else []
    check(all(r.startswith(b"-TRYAGAIN") for r in after) and (unknown is None or closed),
          f"  ... after the first reply whose outcome is unknown (number {unknown}), every reply is "
          f"TRYAGAIN and the connection closes ({len(after)} such replies, closed: {closed})")
    new_leader = cluster.leader(among=survivors)
    port = cluster.client_ports[new_leader]
    commit = int(info(port)["commit_index"])
    wait_until("the follower to apply the log",
               lambda: int(info(cluster.client_ports[follower])["last_applied"]) >= commit, timeout=30)
    client = redis.Redis(port=cluster.client_ports[follower], socket_timeout=30)
    replies += [b""] * (len(commands) - len(replies))  # no reply: not acknowledged
    acknowledged = [i for i in range(count) if replies[2 * i] == b"+OK\r\n"]
    values = client.mget([f"kill-{i}" for i in acknowledged])
    missing = [i for i, v in zip(acknowledged, values) if v != b"value-%d" % i]
    check(not missing, f"  ... all {len(acknowledged)} acknowledged SETs are there afterwards "
                       f"(missing: {missing[:5]})")
    journal = client.get("journal") or b""
    tokens = [int(t) for t in journal.split(b";")[:-1]]
    check(len(tokens) == len(set(tokens)) and tokens == sorted(tokens),
          f"  ... no token was appended twice or out of order ({len(tokens)} tokens)")
    appended = [(i, int(replies[2 * i + 1][1:-2])) for i in range(count)
                if replies[2 * i + 1].startswith(b":")]
    wrong = [i for i, length in appended if journal[:length][-8:] != token(i)]
    check(not wrong, f"  ... each of the {len(appended)} acknowledged APPENDs is in the journal where "
                     f"its reply said (wrong: {wrong[:5]})")
    return survivors


def main():
    binary = sys.argv[1]
    chooser = random.Random(int(os.environ.get("SEED", time.time_ns())))
    with tempfile.TemporaryDirectory(prefix="coraft-kv-") as directory:
        cluster = Cluster(binary, directory, snapshot_entries=10_000,
                          extra_args=["--max-entry-bytes", str(LIMIT)])
        try:
            leader = cluster.start_all()
            follower = next(m for m in (1, 2, 3) if m != leader)
            wait_until("the leader's client address to be known",
                       lambda: raw_command(cluster.client_ports[follower], "SET", "warm", "up",
                                           timeout=5) == b"+OK\r\n")
            model = Model()
            model.apply(as_bytes(["SET", "warm", "up"]))
            raw_pipelines(cluster, leader, follower, model, chooser)
            redis_py_pipelines(cluster, leader, follower, model, chooser)
            redis_cli_pipe(cluster, follower, model, chooser)
            oversized_in_the_middle(cluster, leader, follower, model)
            same_state_everywhere(cluster, (1, 2, 3), model)
            leader = paused_leader_mid_pipeline(cluster, leader, follower)
            follower = next(m for m in (1, 2, 3) if m != leader)
            leader_killed_mid_pipeline(cluster, leader, follower)
        finally:
            cluster.stop_all()
            if failures:
                print_member_logs(directory)
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
