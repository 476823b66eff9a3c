"""coraft-kv membership, end to end with real processes, redis-py and redis-benchmark: a
three-member cluster grows to four and five under a writing client and redis-benchmark's load,
loses its leader to RAFT.REMOVE, and brings back a member whose data directory was deleted —
which, restarted with its old flags, takes no part and disturbs nobody until it is removed and
added back with --join. Every write acknowledged is read back at the end from every member.

    membership_test.py PATH-TO-CORAFT-KV
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import redis

from cluster_support import Cluster, free_ports, info, print_member_logs, wait_until


class Writer(threading.Thread):
    """Writes numbered keys through whichever member answers, and remembers what was acknowledged."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports = ports  # member -> client port; members are added while it runs
        self.acknowledged = {}
        self.errors = 0
        self.stop = threading.Event()

    def run(self):
        k = 0
        while not self.stop.is_set():
            for member, port in list(self.ports.items()):
                if self.stop.is_set():
                    return
                key, value = f"k{k}", f"v{k}"
                try:
                    client = redis.Redis(port=port, socket_timeout=6)
                    if client.set(key, value):
                        self.acknowledged[key] = value
                except redis.RedisError:
                    self.errors += 1
                    time.sleep(0.05)
                k += 1


class Members(Cluster):
    """The three-member cluster of cluster_support, plus members started with --join."""

    def __init__(self, binary, directory):
        super().__init__(binary, directory, snapshot_entries=200)
        self.joined = set()

    def data(self, member):
        return self.data_directories.setdefault(member, os.path.join(self.directory, f"member-{member}"))

    def start_joining(self, member):
        if member not in self.raft_ports:
            raft, client = free_ports(2)
            self.raft_ports[member], self.client_ports[member] = raft, client
        self.joined.add(member)
        log = open(os.path.join(self.directory, f"member-{member}.log"), "ab")
        self.processes[member] = subprocess.Popen(
            [self.binary, "--id", str(member), "--join",
             "--raft-listen", f"127.0.0.1:{self.raft_ports[member]}",
             "--listen", f"127.0.0.1:{self.client_ports[member]}",
             "--data", self.data(member), "--snapshot-entries", "200"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def change(self, via, *command, done_already=None):
        """Sends a RAFT.ADD or RAFT.REMOVE and expects +OK. While it answers TRYAGAIN (the new
        member still starting or catching up: it stays a learner until a RAFT.ADD finds it caught
        up; another change under way; a leader change, after which the outcome is unknown) it asks
        again, for at most 30 s; after a TRYAGAIN, an error matching `done_already` means an
        earlier attempt did it."""
        deadline = time.monotonic() + 30
        retried = False
        while True:
            try:
                reply = redis.Redis(port=self.client_ports[via], socket_timeout=30).execute_command(*command)
                assert reply in (b"OK", "OK", True), reply
                return
            except redis.ResponseError as e:
                if retried and done_already and done_already in str(e):
                    return
                if not str(e).startswith("TRYAGAIN") or time.monotonic() > deadline:
                    raise
                print(f"{' '.join(map(str, command))}: {e}")
                retried = True
                time.sleep(0.2)

    def add(self, via, member):
        self.change(via, "RAFT.ADD", member, f"127.0.0.1:{self.raft_ports[member]}",
                    f"127.0.0.1:{self.client_ports[member]}")

    def remove(self, via, member):
        self.change(via, "RAFT.REMOVE", member, done_already=f"no member {member}")

    def voters(self, port):
        members = redis.Redis(port=port, socket_timeout=5).execute_command("RAFT.MEMBERS")
        return sorted(int(m[0]) for m in members if m[3] in (b"voter", "voter"))

    def leader_of(self, members):
        return self.leader(among=members)


def main():
    binary = os.path.abspath(sys.argv[1])
    directory = tempfile.mkdtemp(prefix="coraft-kv-membership-")
    cluster = Members(binary, directory)
    writer = None
    ok = False
    try:
        cluster.start_all()
        writer = Writer({m: cluster.client_ports[m] for m in (1, 2, 3)})
        writer.start()
        wait_until("the first writes", lambda: len(writer.acknowledged) >= 50)

        # A member added before it runs is a learner, not a voter: it never acknowledged anything,
        # and as a voter it would cost the cluster its availability.
        raft4, client4 = free_ports(2)
        cluster.raft_ports[4], cluster.client_ports[4] = raft4, client4
        try:
            redis.Redis(port=cluster.client_ports[2], socket_timeout=30).execute_command(
                "RAFT.ADD", 4, f"127.0.0.1:{raft4}", f"127.0.0.1:{client4}")
            raise AssertionError("RAFT.ADD made a member that never answered a voter")
        except redis.ResponseError as e:
            assert str(e).startswith("TRYAGAIN member 4 is a learner"), e
        members = redis.Redis(port=cluster.client_ports[2], socket_timeout=5).execute_command("RAFT.MEMBERS")
        roles = {int(m[0]): m[3] for m in members}
        assert roles.get(4) in (b"learner", "learner"), roles

        # Grow to five under load: each joins empty and is added through any member, while
        # redis-benchmark writes through a member of the first three beside the checked writer.
        benchmark = subprocess.Popen(
            ["redis-benchmark", "-p", str(cluster.client_ports[3]), "-t", "set", "-n", "10000000",
             "-c", "8", "-d", "64", "-r", "100000", "-q"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for new in (4, 5):
            cluster.start_joining(new)
            cluster.add(via=1, member=new)
            writer.ports[new] = cluster.client_ports[new]
        assert benchmark.poll() is None, "redis-benchmark stopped while the cluster grew: " + \
            benchmark.communicate()[0].decode(errors="replace")[-500:]
        benchmark.terminate()
        benchmark.wait(timeout=10)
        leader = cluster.leader_of(range(1, 6))
        assert cluster.voters(cluster.client_ports[leader]) == [1, 2, 3, 4, 5]
        print(f"grown to five; leader {leader}; {len(writer.acknowledged)} writes acknowledged")

        # The leader removes itself: it hands over and steps down, the others go on.
        cluster.remove(via=leader, member=leader)
        writer.ports.pop(leader)
        cluster.kill(leader)
        rest = [m for m in range(1, 6) if m != leader]
        new_leader = cluster.leader_of(rest)
        assert cluster.voters(cluster.client_ports[new_leader]) == rest
        print(f"leader {leader} removed; {new_leader} leads")

        # A member loses its data directory and is started again with its old flags.
        lost = next(m for m in rest if m != new_leader and m not in cluster.joined)
        cluster.kill(lost)
        shutil.rmtree(cluster.data(lost))
        cluster.start(lost)
        time.sleep(3)
        seen = info(cluster.client_ports[lost])
        assert seen["commit_index"] == "0", seen
        assert int(seen["requests_for_lost_incarnation"]) > 0, seen
        assert cluster.leader_of([m for m in rest if m != lost]) == new_leader, "the lost member disturbed the leader"
        log = open(os.path.join(directory, f"member-{lost}.log"), errors="replace").read()
        assert "--join" in log, "the lost member did not say what to do"
        print(f"member {lost} restarted on an empty directory: ignored, as it should be")

        # The way back: remove it, start it with --join on an empty directory, add it.
        cluster.remove(via=new_leader, member=lost)
        cluster.kill(lost)
        shutil.rmtree(cluster.data(lost))
        cluster.start_joining(lost)
        cluster.add(via=new_leader, member=lost)
        print(f"member {lost} added back")
        time.sleep(1)

        writer.stop.set()
        writer.join(timeout=30)
        acknowledged = dict(writer.acknowledged)
        assert len(acknowledged) >= 200, f"only {len(acknowledged)} writes acknowledged"
        # Every acknowledged write is on every remaining member, read there after a write of its own
        # (a coraft-kv read goes through the log, so it sees everything before it).
        for m in rest:
            client = redis.Redis(port=cluster.client_ports[m], socket_timeout=10)
            keys = list(acknowledged)
            values = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                values.update(zip(chunk, client.mget(chunk)))
            missing = [k for k, v in acknowledged.items() if values.get(k) != v.encode()]
            assert not missing, f"member {m} lacks {len(missing)} acknowledged writes, e.g. {missing[:3]}"
        print(f"{len(acknowledged)} acknowledged writes on all of {rest} "
              f"({writer.errors} attempts answered with an error)")
        ok = True
    finally:
        if writer:
            writer.stop.set()
        cluster.stop_all()
        if not ok:
            print_member_logs(directory)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
