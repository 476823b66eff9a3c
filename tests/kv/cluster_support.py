"""Starting and stopping coraft-kv members (and a plain redis-server to compare with) for tests.

Every process started here is killed by Cluster.stop_all() / RedisServer.stop(), which the tests
call in `finally` blocks; every wait is bounded.
"""
import os
import random
import re
import signal
import socket
import subprocess
import time

WAIT = 15.0


def free_ports(count):
    """Distinct loopback ports that were free a moment ago, drawn from below the kernel's
    ephemeral range: a member killed and restarted must be able to bind its port again, and a port
    from the ephemeral range may meanwhile be the local end of someone's outgoing connection."""
    chooser = random.Random(os.getpid() ^ time.monotonic_ns())
    ports = []
    while len(ports) < count:
        port = chooser.randrange(20000, 32000)
        if port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def wait_until(what, condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def raw_command(port, *words, timeout=2.0):
    """Sends one command as a RESP array and returns the raw reply bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(encode(words))
        return read_reply(s)


def encode(words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode() if isinstance(w, str) else w
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out


class ReplyReader:
    """Reads whole RESP replies from a socket, keeping what arrives after one."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buffer += chunk

    def _line(self, at):
        while True:
            end = self.buffer.find(b"\r\n", at)
            if end >= 0:
                return end
            self._fill()

    def _length(self, at):
        end = self._line(at)
        kind = self.buffer[at:at + 1]
        if kind in (b"+", b"-", b":"):
            return end + 2 - at
        count = int(self.buffer[at + 1:end])
        if kind == b"$":
            if count < 0:
                return end + 2 - at
            while len(self.buffer) < end + 2 + count + 2:
                self._fill()
            return end + 2 + count + 2 - at
        if kind == b"*":
            total = end + 2 - at
            for _ in range(max(count, 0)):
                total += self._length(at + total)
            return total
        raise ValueError(f"not a reply: {self.buffer[at:at + 20]!r}")

    def reply(self):
        if not self.buffer:
            self._fill()
        length = self._length(0)
        out, self.buffer = self.buffer[:length], self.buffer[length:]
        return out


def read_reply(sock):
    return ReplyReader(sock).reply()


def print_member_logs(directory, tail=3000):
    """Print the end of every member's log in `directory`, for a failed test's report."""
    for name in sorted(os.listdir(directory)):
        if name.endswith(".log"):
            print(f"--- {name}")
            print(open(os.path.join(directory, name), errors="replace").read()[-tail:])


def info(port):
    text = raw_command(port, "INFO").decode(errors="replace")
    return dict(re.findall(r"^(\w+):(.*?)\r?$", text, re.MULTILINE))


class Cluster:
    """Three coraft-kv members on loopback, logs under `directory`, and data there too unless
    `data_directories` (member -> path) says where."""

    def __init__(self, binary, directory, snapshot_entries=1000, extra_args=(), data_directories=None):
        self.binary = binary
        self.directory = directory
        self.snapshot_entries = snapshot_entries
        self.extra_args = list(extra_args)  # more flags for every member
        self.data_directories = data_directories or {
            m: os.path.join(directory, f"member-{m}") for m in (1, 2, 3)}
        ports = free_ports(6)
        self.raft_ports = dict(zip((1, 2, 3), ports[:3]))
        self.client_ports = dict(zip((1, 2, 3), ports[3:]))
        self.peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in self.raft_ports.items())
        self.processes = {}

    def start(self, member):
        log = open(os.path.join(self.directory, f"member-{member}.log"), "ab")
        self.processes[member] = subprocess.Popen(
            [self.binary, "--id", str(member), "--peers", self.peers,
             "--listen", f"127.0.0.1:{self.client_ports[member]}",
             "--data", self.data_directories[member],
             "--snapshot-entries", str(self.snapshot_entries)] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def start_all(self):
        for member in (1, 2, 3):
            self.start(member)
        return self.leader()

    def alive(self, member):
        p = self.processes.get(member)
        return p is not None and p.poll() is None

    def kill(self, member):
        p = self.processes.get(member)
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
        if p:
            p.wait(timeout=WAIT)

    def stop_all(self):
        for member in list(self.processes):
            p = self.processes[member]
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
            self.kill(member)

    def leader(self, among=None):
        """The member that reports role:leader (waits for exactly one among the live ones)."""
        found = []

        def one_leader():
            found.clear()
            for m in among or (1, 2, 3):
                if self.alive(m) and info(self.client_ports[m]).get("role") == "leader":
                    found.append(m)
            return len(found) == 1
        wait_until("one leader", one_leader)
        return found[0]


class RedisServer:
    """A plain, non-durable redis-server to compare replies with."""

    def __init__(self, directory):
        self.port = free_ports(1)[0]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", directory],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("redis-server", lambda: raw_command(self.port, "PING") == b"+PONG\r\n")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)
