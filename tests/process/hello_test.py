"""Three real `hello` processes on loopback: election, replication, SIGKILL of the leader,
restarts that catch up from the durable log, from the member's own snapshot and from the leader's.

usage: hello_test.py PATH-TO-HELLO

Every wait is bounded; every process is killed and every file removed, whatever happens.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kv"))
from cluster_support import free_ports  # noqa: E402  (ports a restarted member can bind again)

WAIT = 15.0          # seconds any one expected event may take
SNAPSHOT_EVERY = 25  # lines between snapshots
RETRY = 3.0          # seconds before a line nobody printed is given to the leader again


def wait_until(what, condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Member:
    """One hello process; collects its standard output (the history) and its leadership reports."""

    def __init__(self, hello, member_id, peers, data):
        self.id = member_id
        self.data = data
        self.lines = []
        self.leading = False
        self.errors = []
        self.snapshots = []  # lines held by each snapshot this run restored
        self.process = subprocess.Popen(
            [hello, "--id", str(member_id), "--peers", peers, "--data", data,
             "--snapshot-every", str(SNAPSHOT_EVERY)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1)
        threading.Thread(target=self._read_output, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read_output(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _read_errors(self):
        for line in self.process.stderr:
            line = line.rstrip("\n")
            if " leads in term " in line:
                self.leading = True
            elif " no longer leads " in line:
                self.leading = False
            elif match := re.search(r"snapshot of (\d+) lines", line):
                self.snapshots.append(int(match.group(1)))
            elif not re.search(r"connection to peer \d+ .* lost", line):  # a peer was killed

                self.errors.append(line)

    def alive(self):
        return self.process.poll() is None

    def stored_snapshots(self):
        """The indexes of the snapshots in the data directory (the bootstrap's is index 0). A
        snapshot file gets its name once written: a SIGKILL after that does not lose it."""
        names = os.listdir(self.data) if os.path.isdir(self.data) else []
        return [int(n[len("snapshot-"):]) for n in names if re.fullmatch(r"snapshot-\d+", n)]

    def send(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def kill(self):
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WAIT)
        self.leading = False


class Cluster:
    def __init__(self, hello, directory):
        self.hello = hello
        self.directory = directory
        ports = free_ports(3)
        self.peers = ",".join(f"{i + 1}=127.0.0.1:{port}" for i, port in enumerate(ports))
        self.members = {}
        self.history = []  # every line committed so far, in order

    def start(self, member_id):
        data = os.path.join(self.directory, f"member-{member_id}")
        self.members[member_id] = Member(self.hello, member_id, self.peers, data)

    def alive(self):
        return [m for m in self.members.values() if m.alive()]

    def leader(self):
        def one_leader():
            leaders = [m for m in self.alive() if m.leading]
            return len(leaders) == 1
        wait_until("a single leader", one_leader)
        return next(m for m in self.alive() if m.leading)

    def commit(self, lines):
        """Gives each line to the leader and waits until every live member has printed it.

        A line given to a leader that is deposed at that moment is dropped (hello proposes only
        while it leads); it is given again once no member has printed it for RETRY seconds, long
        enough for any leader that did take it to have committed it.
        """
        for line in lines:
            self.history.append(line)
            deadline = time.monotonic() + WAIT
            while True:
                self.leader().send(line)
                try:
                    wait_until(f"'{line}' to be printed",
                               lambda: any(line in m.lines for m in self.alive()), RETRY)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
            self.await_histories()

    def await_histories(self):
        for member in self.alive():
            wait_until(f"member {member.id} to print {len(self.history)} lines "
                       f"(it has {len(member.lines)})",
                       lambda: member.lines == self.history)

    def stop_all(self):
        for member in self.members.values():
            member.kill()


def step(text):
    print(f"ok: {text}", flush=True)


def main():
    hello = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="coraft-hello-") as directory:
        cluster = Cluster(hello, directory)
        try:
            for member_id in (1, 2, 3):
                cluster.start(member_id)
            first = cluster.leader()
            step(f"member {first.id} was elected")

            cluster.commit([f"alpha {i}" for i in range(30)])
            step("30 lines committed and printed by all three, in the same order")

            # The node stores a snapshot with its next sync, and a leader commits without its own
            # disk: wait for the file, so that the restart below has a snapshot of its own to read.
            wait_until(f"member {first.id} to store its snapshot",
                       lambda: any(index > 0 for index in first.stored_snapshots()))
            first.kill()
            second = cluster.leader()
            assert second.id != first.id
            step(f"leader {first.id} killed with SIGKILL; member {second.id} leads")

            cluster.commit([f"beta {i}" for i in range(30)])
            step("30 more lines committed by the two survivors")

            cluster.start(first.id)
            cluster.await_histories()
            restarted = cluster.members[first.id]
            assert restarted.snapshots and restarted.snapshots[0] == SNAPSHOT_EVERY, restarted.snapshots
            step(f"member {first.id} restarted from its own snapshot and log, and caught up")

            # A follower misses enough lines that the leader has compacted them away.
            leader = cluster.leader()
            follower = next(m for m in cluster.alive() if m is not leader)
            follower.kill()
            cluster.commit([f"gamma {i}" for i in range(3 * SNAPSHOT_EVERY)])
            cluster.start(follower.id)
            cluster.await_histories()
            restarted = cluster.members[follower.id]
            assert max(restarted.snapshots) > 60, restarted.snapshots  # beyond what it had
            step(f"member {follower.id} restarted and caught up through the leader's snapshot")

            for member in cluster.members.values():
                assert not member.errors, f"member {member.id} reported: {member.errors}"
            print(f"{len(cluster.history)} lines, identical on all members", flush=True)
        finally:
            cluster.stop_all()


if __name__ == "__main__":
    main()
