"""Leader stability on a 3-process coraft-kv cluster: paused members, and RAFT.TRANSFER.

usage: stability_test.py PATH-TO-CORAFT-KV

  * a follower paused with SIGSTOP for a second and resumed leaves the leader and the term as they
    were (PreVote: it cannot win, so it never raises the term), three times over;
  * both followers paused: the leader steps down (CheckQuorum); resumed, the cluster elects and
    serves again;
  * RAFT.TRANSFER, sent with redis-cli to a follower and with redis-py to the leader, moves the
    leadership to the member named; a transfer to the leader itself or to a stranger is refused
    with an error saying why, and so is one to a paused member, after which the leader serves
    again; INFO counts the elections and pre-votes each member started.
"""
import os
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


def roles(cluster, members=(1, 2, 3)):
    return {m: info(cluster.client_ports[m]) for m in members}


def paused_follower(cluster, leader):
    term = int(info(cluster.client_ports[leader])["term"])
    follower = next(m for m in (1, 2, 3) if m != leader)
    before = info(cluster.client_ports[follower])
    pre_votes = int(before["pre_votes_started"])
    for _ in range(3):
        cluster.processes[follower].send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        cluster.processes[follower].send_signal(signal.SIGCONT)
        time.sleep(1.5)
    now = roles(cluster)
    check(now[leader]["role"] == "leader", "the leader still leads after its follower's pauses")
    check(all(int(now[m]["term"]) == term for m in now),
          f"the term stayed {term} on every member: {[now[m]['term'] for m in now]}")
    check(now[follower]["elections_started"] == before["elections_started"],
          "the paused follower started no election")
    # Whether it pre-votes on waking depends on which it sees first, its expired timer or the
    # leader's heartbeats; either way it never raises the term.
    print(f"  the paused follower held {int(now[follower]['pre_votes_started']) - pre_votes} pre-votes")
    redis.Redis(port=cluster.client_ports[follower], socket_timeout=10).set("after-pauses", "1")
    check(redis.Redis(port=cluster.client_ports[leader], socket_timeout=10).get("after-pauses") == b"1",
          "the cluster serves after the pauses")


def counters(fields):
    return int(fields["elections_started"]), int(fields["pre_votes_started"])


def transfers(cluster, leader):
    follower, other = [m for m in (1, 2, 3) if m != leader]
    target_before = counters(info(cluster.client_ports[other]))
    # redis-cli, sent to a follower: it forwards the request to the leader.
    reply = subprocess.run(["redis-cli", "-p", str(cluster.client_ports[follower]),
                            "RAFT.TRANSFER", str(other)],
                           capture_output=True, text=True, timeout=30).stdout.strip()
    check(reply == "OK", f"redis-cli RAFT.TRANSFER {other} via a follower answers OK (got {reply!r})")
    target_after = info(cluster.client_ports[other])
    check(target_after["role"] == "leader", f"member {other} leads after the transfer")
    # The target campaigns once, at once, without a pre-vote (TimeoutNow).
    elections, pre_votes = counters(target_after)
    check(elections == target_before[0] + 1 and pre_votes == target_before[1],
          f"INFO: the target started one election and no pre-vote "
          f"(elections {target_before[0]} -> {elections}, pre-votes {target_before[1]} -> {pre_votes})")
    # redis-py, sent to the new leader: back to the first follower.
    client = redis.Redis(port=cluster.client_ports[other], socket_timeout=10)
    check(client.execute_command("RAFT.TRANSFER", str(follower)) == b"OK",
          f"redis-py RAFT.TRANSFER {follower} on the leader answers OK")
    check(info(cluster.client_ports[follower])["role"] == "leader", f"member {follower} leads now")
    for target, expected in ((str(follower), "already leads"), ("99", "not a member"),
                             ("zero", "needs a member id")):
        try:
            redis.Redis(port=cluster.client_ports[other], socket_timeout=10).execute_command(
                "RAFT.TRANSFER", target)
            check(False, f"RAFT.TRANSFER {target} is refused")
        except redis.ResponseError as e:
            check(expected in str(e), f"RAFT.TRANSFER {target} is refused: {e}")
    # A session wraps data commands only: a transfer or another session inside one is refused.
    for inner in (["RAFT.TRANSFER", str(other)], ["SESSION", "7", "1", "SET", "k", "v"]):
        try:
            client.execute_command("SESSION", "7", "1", *inner)
            check(False, f"SESSION 7 1 {inner[0]} is refused")
        except redis.ResponseError as e:
            check("cannot wrap" in str(e), f"SESSION 7 1 {inner[0]} is refused: {e}")
    # To a paused member: the transfer times out and the leader serves again at once.
    cluster.processes[other].send_signal(signal.SIGSTOP)
    try:
        leading = redis.Redis(port=cluster.client_ports[follower], socket_timeout=10)
        try:
            leading.execute_command("RAFT.TRANSFER", str(other))
            check(False, f"RAFT.TRANSFER {other} to a paused member is refused")
        except redis.ResponseError as e:
            check(str(e).startswith("TRYAGAIN") and "did not take over" in str(e),
                  f"RAFT.TRANSFER {other} to a paused member is refused: {e}")
        check(leading.set("after-failed-transfer", "1") is True and
              info(cluster.client_ports[follower])["role"] == "leader",
              "the leader serves again once the transfer failed")
    finally:
        cluster.processes[other].send_signal(signal.SIGCONT)
    # The TimeoutNow the leader sent may still wait in the paused member's socket: once resumed,
    # it can campaign with it (a late TimeoutNow is honoured). Go on with whoever leads then.
    time.sleep(1.0)
    leader = cluster.leader()
    redis.Redis(port=cluster.client_ports[leader], socket_timeout=10).set("after-transfers", "1")
    check(redis.Redis(port=cluster.client_ports[follower], socket_timeout=10).get("after-transfers") == b"1",
          "the cluster serves after the transfers")
    return leader


def both_followers_paused(cluster, leader):
    followers = [m for m in (1, 2, 3) if m != leader]
    before = [counters(fields) for fields in roles(cluster).values()]
    for m in followers:
        cluster.processes[m].send_signal(signal.SIGSTOP)
    try:
        wait_until("the leader to step down", lambda: info(cluster.client_ports[leader])["role"] != "leader",
                   timeout=5)
        check(True, "the leader cut off from both followers steps down")
    except AssertionError:
        check(False, "the leader cut off from both followers steps down")
    finally:
        for m in followers:
            cluster.processes[m].send_signal(signal.SIGCONT)
    cluster.leader()
    redis.Redis(port=cluster.client_ports[leader], socket_timeout=10).set("after-both", "1")
    check(redis.Redis(port=cluster.client_ports[followers[0]], socket_timeout=10).get("after-both") == b"1",
          "the cluster elects and serves once the followers resume")
    # A new leader means an election, and every election but a transfer's follows a pre-vote.
    after = [counters(fields) for fields in roles(cluster).values()]
    elections = sum(a[0] - b[0] for a, b in zip(after, before))
    pre_votes = sum(a[1] - b[1] for a, b in zip(after, before))
    check(elections >= 1 and pre_votes >= elections,
          f"INFO: the members started {elections} elections after {pre_votes} pre-votes")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="coraft-kv-") as directory:
        cluster = Cluster(binary, directory)
        try:
            leader = cluster.start_all()
            redis.Redis(port=cluster.client_ports[leader], socket_timeout=10).set("warm", "up")
            time.sleep(0.5)
            paused_follower(cluster, leader)
            leader = transfers(cluster, leader)
            both_followers_paused(cluster, leader)
            for m, fields in roles(cluster).items():
                print(f"  member {m}: role {fields['role']} term {fields['term']} elections_started "
                      f"{fields['elections_started']} pre_votes_started {fields['pre_votes_started']}")
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
