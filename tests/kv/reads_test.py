"""Reads without the log on a 3-process coraft-kv cluster, once per --reads mode (index, lease, log).

usage: reads_test.py PATH-TO-CORAFT-KV

For each mode:
  * INFO on every member says which mode it runs;
  * GET, MGET, EXISTS, STRLEN and DBSIZE answer on every member, leader and followers, with redis-py
    and redis-cli, exactly as the writes before them left the data;
  * a write through one member, then a read through another, 300 times over random pairs: every
    read sees the write just acknowledged (read-after-write across connections and members);
  * 500 GETs on a follower and 500 on the leader: with index and lease, the leader's commit index
    does not move (no log entry is written for a read) and INFO counts the reads served without
    the log; with log, it grows by at least as many entries as there were reads;
  * a pipeline of 200 commands (redis-py, no transaction) alternating INCR, GET, SET and MGET on
    the leader and on a follower answers exactly as if sent one at a time: reads and writes of one
    connection take effect in the order sent;
  * with the leader and one follower paused (SIGSTOP), a GET on the other follower answers TRYAGAIN
    and never a value; with both followers paused, a GET on the leader answers TRYAGAIN once a
    lease could have expired; resumed, every member serves reads again.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import redis

from cluster_support import Cluster, info, print_member_logs, wait_until

failures = []


def check(condition, what):
    print(("ok: " if condition else "FAILED: ") + what, flush=True)
    if not condition:
        failures.append(what)


def client(cluster, member, timeout=10):
    return redis.Redis(port=cluster.client_ports[member], socket_timeout=timeout)


def redis_cli(cluster, member, *words):
    out = subprocess.run(["redis-cli", "-p", str(cluster.client_ports[member]), *words],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return out.stdout.strip()


def read_commands(cluster, leader, mode):
    clients = {m: client(cluster, m) for m in (1, 2, 3)}
    for m in (1, 2, 3):
        check(info(cluster.client_ports[m]).get("reads") == mode, f"INFO on member {m} shows reads:{mode}")
    clients[leader].set("r:a", "alpha")
    follower = next(m for m in (1, 2, 3) if m != leader)
    clients[follower].set("r:b", "beta-beta")
    for m in (1, 2, 3):
        c = clients[m]
        role = "leader" if m == leader else "follower"
        check(c.get("r:a") == b"alpha" and c.get("r:b") == b"beta-beta" and c.get("r:none") is None,
              f"{mode}: GET on the {role} {m} sees both writes")
        check(c.mget("r:a", "r:none", "r:b") == [b"alpha", None, b"beta-beta"],
              f"{mode}: MGET on the {role} {m}")
        check(c.exists("r:a", "r:b", "r:none", "r:a") == 3, f"{mode}: EXISTS on the {role} {m}")
        check(c.strlen("r:b") == 9 and c.strlen("r:none") == 0, f"{mode}: STRLEN on the {role} {m}")
        check(c.dbsize() >= 2, f"{mode}: DBSIZE on the {role} {m}")
        check(redis_cli(cluster, m, "GET", "r:b") == "beta-beta", f"{mode}: redis-cli GET on the {role} {m}")


def read_after_write(cluster, mode):
    clients = {m: client(cluster, m) for m in (1, 2, 3)}
    chooser = random.Random(7)
    stale = []
    for i in range(300):
        writer, reader = chooser.sample((1, 2, 3), 2)
        clients[writer].set("r:raw", str(i))
        got = clients[reader].get("r:raw")
        if got != str(i).encode():
            stale.append((i, writer, reader, got))
    check(not stale, f"{mode}: 300 reads on one member right after a write on another see it "
                     f"(stale: {stale[:3]})")


def pipelines_keep_order(cluster, leader, mode):
    follower = next(m for m in (1, 2, 3) if m != leader)
    for m in (leader, follower):
        key = f"r:pipe{m}"
        pipe = client(cluster, m).pipeline(transaction=False)
        expected = []
        for i in range(50):
            pipe.incr(key)
            expected.append(2 * i + 1)
            pipe.get(key)
            expected.append(str(2 * i + 1).encode())
            pipe.set(key, str(2 * i + 2))
            expected.append(True)
            pipe.mget(key, "r:none")
            expected.append([str(2 * i + 2).encode(), None])
        got = pipe.execute()
        role = "leader" if m == leader else "follower"
        first_wrong = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None)
        check(got == expected, f"{mode}: a pipeline of 200 reads and writes on the {role} answers in "
                               f"order (first difference at {first_wrong})")


def reads_cost_no_entries(cluster, leader, mode):
    follower = next(m for m in (1, 2, 3) if m != leader)
    before = info(cluster.client_ports[leader])
    served_before = sum(int(info(cluster.client_ports[m])["reads_served_without_log"]) for m in (1, 2, 3))
    for m in (follower, leader):
        c = client(cluster, m)
        for _ in range(500):
            c.get("r:a")
    after = info(cluster.client_ports[leader])
    served = sum(int(info(cluster.client_ports[m])["reads_served_without_log"]) for m in (1, 2, 3)) - served_before
    grew = int(after["commit_index"]) - int(before["commit_index"])
    if mode == "log":
        check(grew >= 1000, f"log: 1000 reads appended at least 1000 entries (commit index +{grew})")
        check(served == 0, f"log: no read was served without the log ({served})")
    else:
        check(grew == 0 and after["term"] == before["term"],
              f"{mode}: 1000 reads appended nothing (commit index +{grew})")
        check(served == 1000, f"{mode}: INFO counts 1000 reads served without the log ({served})")


def refused_while_paused(cluster, reader, paused, what, settle=0.0):
    """With the members `paused` stopped (SIGSTOP), a GET on `reader`, `settle` seconds later, must
    answer TRYAGAIN, not a value; the paused members are resumed whatever happens."""
    for m in paused:
        cluster.processes[m].send_signal(signal.SIGSTOP)
    try:
        time.sleep(settle)
        try:
            got = client(cluster, reader, timeout=15).get("r:a")
            check(False, f"{what} answered a read ({got!r})")
        except redis.exceptions.ResponseError as error:
            check(str(error).startswith("TRYAGAIN"), f"{what} answers TRYAGAIN ({error})")
    finally:
        for m in paused:
            cluster.processes[m].send_signal(signal.SIGCONT)


def refused_when_cut_off(cluster, leader, mode):
    followers = [m for m in (1, 2, 3) if m != leader]
    refused_while_paused(cluster, followers[0], [leader, followers[1]],
                         f"{mode}: a follower cut off from the leader")
    leader = cluster.leader()
    # Longer than any lease: the followers might have elected another leader by then.
    refused_while_paused(cluster, leader, [m for m in (1, 2, 3) if m != leader],
                         f"{mode}: a leader cut off from its followers", settle=0.5)
    cluster.leader()

    def every_member_reads():
        return all(client(cluster, m, timeout=2).get("r:a") == b"alpha" for m in (1, 2, 3))
    wait_until("every member reads again", every_member_reads)
    check(True, f"{mode}: resumed, every member serves reads again")


def main():
    binary = sys.argv[1]
    for mode in ("index", "lease", "log"):
        with tempfile.TemporaryDirectory(prefix="coraft-kv-reads-") as directory:
            cluster = Cluster(binary, directory, extra_args=["--reads", mode])
            try:
                leader = cluster.start_all()
                read_commands(cluster, leader, mode)
                read_after_write(cluster, mode)
                pipelines_keep_order(cluster, cluster.leader(), mode)
                leader = cluster.leader()
                reads_cost_no_entries(cluster, leader, mode)
                if mode != "log":
                    refused_when_cut_off(cluster, leader, mode)
            except Exception as error:  # report with the members' logs
                check(False, f"{mode}: {type(error).__name__}: {error}")
            finally:
                cluster.stop_all()
                if failures:
                    print_member_logs(directory)
    if failures:
        print(f"{len(failures)} checks failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
