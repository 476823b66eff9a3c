"""Chaos test of coraft-kv: three real members on loopback, concurrent Redis clients, and a nemesis
that kills (SIGKILL, then restarts) or pauses (SIGSTOP, then SIGCONT) one member at a time; at the
end, the whole history must be linearizable and no acknowledged append may be lost or duplicated.

usage: chaos_test.py PATH-TO-CORAFT-KV [--seconds 20] [--seed N] [--clients 4]
                     [--strict-tryagain] [--history FILE] [--reads index|lease|log]

The members serve reads as --reads says (coraft-kv's flag; index, its default, unless given): with
index or lease, the GETs and MGETs on followers and leaders alike are answered from a read index,
without the log, and are checked as every other operation is.

Clients each hold one connection (redis-py) to a member chosen at random, and issue, on three keys
per family: SET of a unique value and GET on k0..k2; INCR on c0..c2; APPEND of a unique token
("<client>.<counter>;") on a0..a2; GET and MGET on every family. Each operation is recorded with the
times it was sent and answered:

  * a reply                             acknowledged: it took effect, between those times;
  * a timeout or a lost connection      unknown outcome: it may take effect at any later time, or
                                        never (the client then moves to another member);
  * TRYAGAIN saying it was not applied  not applied (left out of the history). A TRYAGAIN that says
                                        the command may have been applied, or does not say, counts
                                        as unknown. --strict-tryagain: every TRYAGAIN counts as not
                                        applied;
  * any other error reply               unknown outcome (and counted in the summary).

The nemesis acts every 1-2 s for 0.5-1 s, on one member at a time; its schedule follows from the
seed (printed; by default the time). At the end every member is resumed or restarted, a leader is
awaited, every key is read through it (these reads are part of the history), and every member is
killed. Then linearizability.py checks the history, and for each append key the final value must
hold every acknowledged token exactly once and no token that was never sent; each counter must lie
between its acknowledged and its attempted INCRs.

Every wait is bounded: the whole run ends within 1.5 × --seconds + 60 s (checking takes longer
for a longer history; a watchdog kills the members and exits if anything overruns). Exits 0 only
if everything holds.
"""
import argparse
import collections
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_support import free_ports  # ports a restarted member can bind again
from linearizability import Op, check, dump

OP_TIMEOUT = 1.0      # seconds a client waits for any reply during the run
FINAL_TIMEOUT = 6.0   # for the final reads (the server gives up on a command after 5 s)
WAIT = 15.0           # seconds for a leader to emerge
SLACK = 60.0          # the whole run ends within 1.5 × --seconds + SLACK

REGISTERS = ("k0", "k1", "k2")
COUNTERS = ("c0", "c1", "c2")
APPENDS = ("a0", "a1", "a2")
FAMILIES = (REGISTERS, COUNTERS, APPENDS)
ALL_KEYS = REGISTERS + COUNTERS + APPENDS


def import_redis():
    try:
        import redis
        import redis.backoff
        import redis.retry
    except ImportError:
        print("chaos_test.py needs redis-py (the python3-redis package)", file=sys.stderr)
        sys.exit(2)
    return redis


redis = None  # the module, once main() has imported it


def say(text):
    print(text, flush=True)


class Deadline:
    def __init__(self, seconds):
        self.at = time.monotonic() + seconds

    def left(self):
        return self.at - time.monotonic()

    def bound(self, seconds):
        """`seconds`, or less if the deadline is nearer (never negative)."""
        return max(0.0, min(seconds, self.left()))


def connect(port, timeout):
    # No retries: a command resent after a timeout could be applied twice, unknown to the history.
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout,
                         socket_connect_timeout=timeout, decode_responses=True,
                         retry_on_timeout=False,
                         retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    client.set_response_callback("INFO", lambda response, **options: response)
    return client


def disconnect(client):
    try:
        client.connection_pool.disconnect()
    except Exception:  # closing a broken connection may fail in any way
        pass


def raft_role(info_text):
    """The role a member reports in the # Raft section of INFO (or anywhere, without one)."""
    section = None
    role = None
    for line in info_text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            section = line[1:].strip().lower()
        elif line.startswith("role:") and (section == "raft" or role is None):
            role = line[len("role:"):]
    return role


# --- the members -----------------------------------------------------------------------------


class Member:
    """One coraft-kv process, restartable with the same flags and data directory."""

    def __init__(self, binary, member_id, peers, client_port, directory, extra_args=()):
        self.id = member_id
        self.client_port = client_port
        self.command = [binary, "--id", str(member_id), "--peers", peers,
                        "--listen", f"127.0.0.1:{client_port}",
                        "--data", os.path.join(directory, f"member-{member_id}"), *extra_args]
        self.log_path = os.path.join(directory, f"member-{member_id}.log")
        self.process = None
        self.paused = False
        self.stopping = False  # set when we kill it: any other exit is a crash
        self.crashes = []

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        self.paused = False
        self.stopping = False

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        if self.process is None:
            return
        self.stopping = True
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            say(f"member {self.id} (pid {self.process.pid}) did not die within 10 s of SIGKILL")
        self.paused = False

    def pause(self):
        if self.alive():
            self.process.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive():
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def crashed(self):
        """True (once per exit) if the process ended without being killed by us."""
        if self.process is None or self.stopping or self.alive():
            return False
        self.crashes.append(self.process.returncode)
        self.stopping = True
        return True

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as log:
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Cluster:
    def __init__(self, binary, directory, extra_args=()):
        ports = free_ports(6)
        peers = ",".join(f"{i + 1}=127.0.0.1:{ports[i]}" for i in range(3))
        self.members = [Member(binary, i + 1, peers, ports[3 + i], directory, extra_args)
                        for i in range(3)]
        self.lock = threading.Lock()  # the nemesis and the final phase both change members

    def start(self):
        for member in self.members:
            member.start()

    def role(self, member, timeout=0.5):
        if not member.alive() or member.paused:
            return None
        client = connect(member.client_port, timeout)
        try:
            return raft_role(client.execute_command("INFO"))
        except redis.exceptions.RedisError:
            return None
        finally:
            disconnect(client)

    def leader(self, deadline, timeout=WAIT):
        """A member that reports role:leader, waiting up to `timeout` s; None if none does."""
        until = time.monotonic() + deadline.bound(timeout)
        while True:
            for member in self.members:
                if self.role(member) == "leader":
                    return member
            if time.monotonic() >= until:
                return None
            time.sleep(0.05)

    def restart_crashed(self):
        """Restarts the members that exited by themselves."""
        with self.lock:
            for member in self.members:
                if member.crashed():
                    member.start()

    def heal(self):
        with self.lock:
            for member in self.members:
                if member.paused:
                    member.resume()
                if not member.alive():
                    member.crashed()  # counted if it died by itself
                    member.start()

    def stop(self):
        for member in self.members:
            member.kill()


# --- the clients -----------------------------------------------------------------------------


class Attempt:
    """One operation as a client saw it: status 'pending', 'ok', 'unknown' or 'failed' (certainly
    not applied)."""

    __slots__ = ("op", "status", "error")

    def __init__(self, op):
        self.op = op
        self.status = "pending"
        self.error = None


class Recorder:
    """Every attempt of every client, in the order they were sent."""

    def __init__(self, strict_tryagain):
        self.strict_tryagain = strict_tryagain
        self.attempts = []
        self.lock = threading.Lock()
        self.errors = collections.Counter()  # error replies by their first word
        self.anomalies = []                  # replies no correct server sends

    def begin(self, client, kind, key, arg=None):
        attempt = Attempt(Op(client, key, kind, arg, None, time.monotonic(), None))
        with self.lock:
            self.attempts.append(attempt)
        return attempt

    def succeed(self, attempt, result):
        attempt.op.result = result
        attempt.op.complete = time.monotonic()
        attempt.status = "ok"

    def lose(self, attempt, error):
        attempt.status = "unknown"
        attempt.error = error

    def refuse(self, attempt, message):
        """An error reply: not applied if the server says so, else of unknown outcome."""
        attempt.error = message
        with self.lock:
            self.errors[message.split(" ", 1)[0]] += 1
        attempt.status = "failed" if self.not_applied(message) else "unknown"

    def not_applied(self, message):
        if not message.startswith("TRYAGAIN"):
            return False
        if self.strict_tryagain:
            return True
        text = message.lower()
        if "may or may not" in text:
            return False
        return "not applied" in text or "no leader known" in text

    def anomaly(self, attempt, text):
        attempt.status = "unknown"
        with self.lock:
            self.anomalies.append(f"{attempt.op.describe()}: {text}")

    def history(self):
        """The operations for the checker: all but those certainly not applied."""
        with self.lock:
            return [a.op for a in self.attempts if a.status != "failed"]


def error_message(error):
    """The text of an error reply as the server sent it."""
    message = str(error)
    try_again = getattr(redis.exceptions, "TryAgainError", None)
    if try_again is not None and isinstance(error, try_again) and not message.startswith("TRYAGAIN"):
        message = "TRYAGAIN " + message
    return message


class Client(threading.Thread):
    def __init__(self, client_id, cluster, recorder, seed, stop):
        super().__init__(name=f"client-{client_id}", daemon=True)
        self.id = client_id
        self.cluster = cluster
        self.recorder = recorder
        self.rng = random.Random(f"{seed}-client-{client_id}")
        self.stop = stop
        self.counter = 0
        self.connection = None
        self.member = None

    def run(self):
        while not self.stop.is_set():
            if self.connection is None:
                self.reconnect()
                continue
            self.operate()

    def reconnect(self):
        """Connects to a random member (another than the last, if possible) that answers PING."""
        if self.connection is not None:
            disconnect(self.connection)
            self.connection = None
        others = [m for m in self.cluster.members if m is not self.member] or self.cluster.members
        member = self.rng.choice(others)
        client = connect(member.client_port, OP_TIMEOUT)
        try:
            client.ping()
        except redis.exceptions.RedisError:
            disconnect(client)
            self.member = member
            self.stop.wait(0.05)
            return
        self.connection, self.member = client, member

    def operate(self):
        self.counter += 1
        roll = self.rng.random()
        if roll < 0.2:
            self.single("set", self.rng.choice(REGISTERS), f"v{self.id}.{self.counter}")
        elif roll < 0.4:
            self.single("incr", self.rng.choice(COUNTERS))
        elif roll < 0.6:
            self.single("append", self.rng.choice(APPENDS), f"{self.id}.{self.counter};")
        elif roll < 0.92:
            self.single("get", self.rng.choice(ALL_KEYS))
        else:
            self.multi_get(self.rng.choice(FAMILIES))

    def single(self, kind, key, arg=None):
        attempt = self.recorder.begin(self.id, kind, key, arg)
        try:
            if kind == "set":
                reply = self.connection.set(key, arg)
                expected = reply is True
                result = None
            elif kind == "get":
                reply = result = self.connection.get(key)
                expected = reply is None or isinstance(reply, str)
            elif kind == "incr":  # redis-py's incr() would send INCRBY
                reply = result = self.connection.execute_command("INCR", key)
                expected = isinstance(reply, int)
            else:
                reply = result = self.connection.append(key, arg)
                expected = isinstance(reply, int)
            if expected:
                self.recorder.succeed(attempt, result)
            else:
                self.recorder.anomaly(attempt, f"{kind.upper()} replied {reply!r}")
        except redis.exceptions.ResponseError as error:
            self.refused(attempt, error)
        except redis.exceptions.InvalidResponse as error:
            self.recorder.anomaly(attempt, f"malformed reply: {error}")
            self.reconnect()
        except redis.exceptions.RedisError as error:  # a timeout or a lost connection
            self.recorder.lose(attempt, str(error))
            self.reconnect()

    def multi_get(self, keys):
        """MGET, recorded as one GET per key over the same interval."""
        attempts = [self.recorder.begin(self.id, "get", key) for key in keys]
        try:
            values = self.connection.mget(keys)
            if not isinstance(values, list) or len(values) != len(keys):
                for attempt in attempts:
                    self.recorder.anomaly(attempt, f"MGET replied {values!r}")
                return
            for attempt, value in zip(attempts, values):
                self.recorder.succeed(attempt, value)
        except redis.exceptions.ResponseError as error:
            for attempt in attempts:
                self.refused(attempt, error)
        except redis.exceptions.RedisError as error:
            for attempt in attempts:
                self.recorder.lose(attempt, str(error))
            self.reconnect()

    def refused(self, attempt, error):
        message = error_message(error)
        self.recorder.refuse(attempt, message)
        if message.startswith("TRYAGAIN"):
            self.stop.wait(0.05)  # no leader for now: do not spin


# --- the nemesis -----------------------------------------------------------------------------


class Nemesis(threading.Thread):
    """Every 1-2 s: SIGKILL a random member and restart it 0.5-1 s later, or SIGSTOP one and SIGCONT
    it 0.5-1 s later. One member at a time; the schedule depends only on the seed."""

    def __init__(self, cluster, seed, stop):
        super().__init__(name="nemesis", daemon=True)
        self.cluster = cluster
        self.rng = random.Random(f"{seed}-nemesis")
        self.stop = stop
        self.kills = 0
        self.pauses = 0
        self.log = []

    def run(self):
        while not self.stop.wait(self.rng.uniform(1.0, 2.0)):
            action = self.rng.choice(("kill", "pause"))
            member = self.rng.choice(self.cluster.members)
            hold = self.rng.uniform(0.5, 1.0)
            self.cluster.restart_crashed()  # counted, and reported at the end
            with self.cluster.lock:
                if action == "kill":
                    member.kill()
                    self.kills += 1
                else:
                    member.pause()
                    self.pauses += 1
            self.log.append(f"{action} {member.id} for {hold:.2f} s")
            try:
                time.sleep(hold)
            finally:
                with self.cluster.lock:
                    if action == "kill":
                        member.start()
                    else:
                        member.resume()


# --- the final reads and checks --------------------------------------------------------------


def final_reads(cluster, recorder, deadline):
    """Reads every key through the leader (recorded as ordinary GETs); returns {key: value} for
    the keys read before the deadline."""
    values = {}
    for key in ALL_KEYS:
        while deadline.left() > 5:
            leader = cluster.leader(deadline)
            if leader is None:
                continue
            client = connect(leader.client_port, FINAL_TIMEOUT)
            attempt = recorder.begin("final", "get", key)
            try:
                value = client.get(key)
                recorder.succeed(attempt, value)
                values[key] = value
                break
            except redis.exceptions.ResponseError as error:
                recorder.refuse(attempt, error_message(error))
            except redis.exceptions.RedisError as error:
                recorder.lose(attempt, str(error))
            finally:
                disconnect(client)
            time.sleep(0.1)
    return values


def check_appends(finals, attempts, origin):
    """Problems with the final value of each append key: acknowledged tokens missing, tokens twice,
    tokens never sent to that key, tokens applied although the server said they were not. Times
    are printed from `origin`."""
    problems = []
    for key in APPENDS:
        sent = {a.op.arg[:-1]: a for a in attempts if a.op.kind == "append" and a.op.key == key}
        value = finals[key] or ""
        if value and not value.endswith(";"):
            problems.append(f"{key}: the value does not end with ';': ...{value[-40:]!r}")
        counts = collections.Counter(value.split(";")[:-1])
        for token, count in sorted(counts.items()):
            if token not in sent:
                problems.append(f"{key}: token {token!r} was never appended to it")
            elif count > 1:
                problems.append(f"{key}: token {token!r} appears {count} times")
            elif sent[token].status == "failed":
                problems.append(f"{key}: token {token!r} is there, but its APPEND was answered "
                                f"{sent[token].error!r}")
        for token, attempt in sorted(sent.items()):
            if attempt.status == "ok" and token not in counts:
                problems.append(f"{key}: acknowledged token {token!r} is missing "
                                f"({attempt.op.describe(origin)})")
    return problems


def check_counters(finals, attempts):
    """Problems with each counter: below its acknowledged INCRs or above all possibly applied."""
    problems = []
    for key in COUNTERS:
        incrs = [a for a in attempts if a.op.kind == "incr" and a.op.key == key]
        acknowledged = sum(1 for a in incrs if a.status == "ok")
        possible = sum(1 for a in incrs if a.status != "failed")
        value = finals[key]
        try:
            count = int(value or 0)
        except ValueError:
            problems.append(f"{key}: the final value {value!r} is not an integer")
            continue
        if not acknowledged <= count <= possible:
            problems.append(f"{key}: final value {count}, but {acknowledged} INCRs were acknowledged "
                            f"and {possible} may have been applied")
    return problems


# --- the run ---------------------------------------------------------------------------------


def start_watchdog(cluster, directory, seconds):
    """Kills the members and exits if the run is still going `seconds` from now."""
    def overrun():
        say(f"chaos: FAIL: still running after {seconds:.0f} s; killing the members")
        for member in cluster.members:
            if member.process is not None and member.process.poll() is None:
                member.process.kill()
        shutil.rmtree(directory, ignore_errors=True)
        os._exit(3)
    timer = threading.Timer(seconds, overrun)
    timer.daemon = True
    timer.start()
    return timer


def run(args, directory, deadline):
    """The test proper; returns the list of failures (empty: everything held)."""
    cluster = Cluster(args.binary, directory, ["--reads", args.reads] if args.reads else [])
    watchdog = start_watchdog(cluster, directory, deadline.left() + 5)
    recorder = Recorder(args.strict_tryagain)
    stop = threading.Event()
    failures = []
    try:
        cluster.start()
        leader = cluster.leader(deadline)
        if leader is None:
            return [f"no member reported role:leader within {WAIT:.0f} s"]
        say(f"ok: member {leader.id} leads; clients on ports "
            f"{', '.join(str(m.client_port) for m in cluster.members)}")

        clients = [Client(i + 1, cluster, recorder, args.seed, stop) for i in range(args.clients)]
        nemesis = Nemesis(cluster, args.seed, stop)
        for thread in clients + [nemesis]:
            thread.start()
        stop.wait(deadline.bound(args.seconds))
        stop.set()
        for thread in [nemesis] + clients:
            thread.join(timeout=deadline.bound(3 * FINAL_TIMEOUT))
            if thread.is_alive():
                failures.append(f"{thread.name} did not stop")
        say(f"ok: {args.seconds:.0f} s of load; nemesis: {', '.join(nemesis.log) or 'idle'}")

        cluster.heal()
        for member in cluster.members:
            for code in member.crashes:
                failures.append(f"member {member.id} exited by itself (status {code}); its log "
                                f"ends:\n{member.log_tail()}")
        finals = final_reads(cluster, recorder, deadline)
        unread = [key for key in ALL_KEYS if key not in finals]
        if unread:
            failures.append(f"could not read {', '.join(unread)} at the end")
    finally:
        stop.set()
        cluster.stop()
        watchdog.cancel()

    attempts = list(recorder.attempts)
    statuses = collections.Counter(a.status for a in attempts)
    unknown = statuses["unknown"] + statuses["pending"]
    say(f"operations: {len(attempts)}, acknowledged {statuses['ok']}, unknown outcome {unknown}, "
        f"not applied {statuses['failed']}; nemesis: {nemesis.kills} kills, {nemesis.pauses} "
        f"pauses")
    if recorder.errors:
        say("error replies: " + ", ".join(f"{word} x{n}" for word, n in recorder.errors.most_common()))
    for kind in ("set", "get", "incr", "append"):
        if not any(a.status == "ok" and a.op.kind == kind for a in attempts):
            failures.append(f"no {kind.upper()} was ever acknowledged")
    if recorder.anomalies:
        failures.append(f"{len(recorder.anomalies)} replies no correct server sends, e.g. "
                        + "; ".join(recorder.anomalies[:3]))

    history = recorder.history()
    if args.history:
        dump(history, args.history)
        say(f"history saved to {args.history}")
    verdict = check(history, time_limit=deadline.bound(SLACK / 2 + args.seconds / 2))
    say(f"checker: {verdict}")
    if not verdict.ok:
        failures.append("the history is not linearizable" if verdict.linearizable is False
                        else "the checker could not decide in time")
    if not unread:
        origin = attempts[0].op.invoke
        problems = check_appends(finals, attempts, origin) + check_counters(finals, attempts)
        failures += problems[:10]
        if len(problems) > 10:
            failures.append(f"... and {len(problems) - 10} more problems with the final values")
        tokens = sum((finals[k] or "").count(";") for k in APPENDS)
        say(f"appends: {tokens} tokens in the final values; counters: "
            + ", ".join(f"{k}={finals[k]}" for k in COUNTERS))
    return failures


def main():
    global redis
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", help="path to coraft-kv")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load (20)")
    parser.add_argument("--seed", type=int, default=None, help="nemesis and client seed")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument("--strict-tryagain", action="store_true",
                        help="take every TRYAGAIN reply as 'not applied'")
    parser.add_argument("--history", help="save the history (JSON lines) to this file")
    parser.add_argument("--reads", choices=("index", "lease", "log"),
                        help="how the members serve reads (coraft-kv's --reads; its default if not given)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = int(time.time())
    redis = import_redis()
    if not os.access(args.binary, os.X_OK):
        say(f"chaos: {args.binary} is not an executable")
        return 2
    say(f"seed {args.seed} (rerun the same schedule with --seed {args.seed})")

    # Checking takes longer the longer the history: the budget grows with the run.
    deadline = Deadline(args.seconds + SLACK + args.seconds / 2)
    with tempfile.TemporaryDirectory(prefix="coraft-kv-chaos-") as directory:
        failures = run(args, directory, deadline)
    for failure in failures:
        say(f"FAIL: {failure}")
    say("chaos: PASS" if not failures else f"chaos: FAIL ({len(failures)} problems)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
