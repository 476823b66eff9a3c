"""coraft-kv on disks that fill up: three real members, each with its data directory on its own
small tmpfs, and Redis clients writing all along.

usage: disk_full_test.py PATH-TO-CORAFT-KV [--seed N] [--scenario N ...] [--strict]

A disk is filled by a filler file written until ENOSPC and topped up every few milliseconds while
it is meant to stay full (the member's own snapshots free space now and then); it is freed by
removing the filler. The scenarios, each on a fresh cluster:

  1. the leader's disk fills while a follower is down (SIGKILL); clients keep writing; then the
     space is freed (the old leader and the other follower are a healthy majority) and the
     follower restarts and catches up;
  2. a follower's disk fills and the leader is killed; the leader restarts; then the disk is freed;
  3. a follower's disk fills and stays full under load while the other two serve; then it is freed
     and the follower catches up;
  4. one member's disk is full while members are killed and restarted, in an order drawn from the
     seed; then the disk is freed and every member restarted;
  5. as 1, but the follower restarts first, so that the two members with working disks are a
     majority while the old leader's disk is still full; then its space is freed and it catches up.

Whenever a step leaves a majority of members alive with working disks, the cluster must serve a
write within SERVE_LIMIT seconds; the time it took is printed (and summed up at the end). No member
may exit unless killed. At the end of each scenario every disk is freed, every member is restarted
from its data directory, and then each member in turn is made the leader (see read_back_everywhere)
and must return every acknowledged write, through its own store; a write whose outcome is unknown
must hold its value or be absent.

--strict also fails scenario 3 when the follower whose disk is freed deposes the leader (see
follower_full_under_load for why it does today); without it, that is printed as a NOTE.

Mounting needs root: without it (or if the mount is refused) this prints "skipped: ..." and exits
77, which meson reports as a skipped test.
"""
import argparse
import errno
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

from cluster_support import Cluster, info, wait_until

SERVE_LIMIT = 5.0    # seconds within which a healthy majority must serve a write
CATCH_UP_LIMIT = 10.0
DISK_SIZE = "8m"     # each member's tmpfs
CLIENTS = 3
OP_TIMEOUT = 1.0     # a load client's wait for one reply before it tries another member

failures = []
timings = []  # (scenario, what, seconds)


def say(text):
    print(text, flush=True)


def check(condition, what):
    say(("ok: " if condition else "FAILED: ") + what)
    if not condition:
        failures.append(what)
    return condition


def import_redis():
    try:
        import redis
        import redis.backoff
        import redis.retry
    except ImportError:
        say("disk_full_test.py needs redis-py (the python3-redis package)")
        sys.exit(2)
    return redis


redis = None  # the module, once main() has imported it


def connect(port, timeout):
    # No retries: a command sent again after a timeout could be applied twice.
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=True,
                       retry_on_timeout=False, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))


def disconnect(client):
    try:
        client.connection_pool.disconnect()
    except Exception:  # closing a broken connection may fail in any way
        pass


# --- disks ------------------------------------------------------------------------------------


class Disk:
    """A tmpfs of DISK_SIZE mounted for one member; its data directory is `data` inside it."""

    def __init__(self, mount_point):
        self.mount_point = mount_point
        self.data = os.path.join(mount_point, "data")
        self.filler = os.path.join(mount_point, "filler")
        self.mounted = False
        self.full = threading.Event()
        self.keeper = None

    def mount(self):
        os.makedirs(self.mount_point, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs",
                               self.mount_point], capture_output=True, text=True)
        if done.returncode != 0:
            return done.stderr.strip() or f"mount exited with {done.returncode}"
        self.mounted = True
        return None

    def unmount(self):
        self.free()
        if not self.mounted:
            return
        if subprocess.run(["umount", self.mount_point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", self.mount_point], capture_output=True)
        self.mounted = False

    def _top_up(self):
        """Writes to the filler until ENOSPC, in ever smaller pieces down to one byte."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 1):
                piece = b"\0" * size
                while True:
                    try:
                        if os.write(fd, piece) < size:
                            break
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def _keep_full(self):
        while self.full.is_set():
            self._top_up()
            time.sleep(0.005)

    def fill(self):
        """Fills the disk at once, and keeps it full until free()."""
        self._top_up()
        self.full.set()
        self.keeper = threading.Thread(target=self._keep_full, daemon=True)
        self.keeper.start()

    def free(self):
        self.full.clear()
        if self.keeper:
            self.keeper.join()
            self.keeper = None
        try:
            os.remove(self.filler)
        except FileNotFoundError:
            pass

    def used_bytes(self):
        s = os.statvfs(self.mount_point)
        return (s.f_blocks - s.f_bfree) * s.f_frsize

    def free_bytes(self):
        s = os.statvfs(self.mount_point)
        return s.f_bavail * s.f_frsize


# --- clients ----------------------------------------------------------------------------------


class Load:
    """CLIENTS threads, each writing unique keys (SET) through one member, moving to the next
    member after an error or a timeout. Records every write sent, every one acknowledged, and
    when each acknowledgement came."""

    def __init__(self, cluster, prefix):
        self.cluster = cluster
        self.prefix = prefix
        self.sent = {}         # key -> value, every write sent
        self.acked = {}        # key -> value, every write answered OK
        self.ack_times = []    # time.monotonic() of each OK
        self.refusals = 0      # error replies (TRYAGAIN): not acknowledged
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(c,), daemon=True)
                        for c in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()

    def acks_between(self, start, end):
        return [t for t in list(self.ack_times) if start <= t < end]

    def _client(self, number):
        member = 1 + number % 3
        client = None
        n = 0
        while not self.stopping.is_set():
            if client is None:
                client = connect(self.cluster.client_ports[member], OP_TIMEOUT)
            n += 1
            key, value = f"{self.prefix}:{number}:{n}", f"{number}.{n}"
            self.sent[key] = value
            try:
                if client.set(key, value) is True:
                    self.acked[key] = value
                    self.ack_times.append(time.monotonic())
                continue
            except redis.exceptions.ResponseError:
                self.refusals += 1
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                pass
            disconnect(client)
            client = None
            member = member % 3 + 1
            self.stopping.wait(0.02)
        if client is not None:
            disconnect(client)


# --- a scenario's cluster -----------------------------------------------------------------------


class Run:
    """One scenario: a fresh cluster on three fresh disks, its load, and what it measured."""

    def __init__(self, binary, directory, number):
        self.number = number
        self.disks = {m: Disk(os.path.join(directory, f"disk-{m}")) for m in (1, 2, 3)}
        self.cluster = Cluster(binary, directory, snapshot_entries=1000,
                               data_directories={m: d.data for m, d in self.disks.items()})
        self.load = Load(self.cluster, f"s{number}")
        self.killed = set()   # members down because this test killed them
        self.probes = 0
        self.strict = False   # --strict: a recovered member must not cause an election
        self.leaders = []     # (time, member, term) each time a member is seen leading a new term
        self.watching = threading.Event()
        self.watcher = threading.Thread(target=self._watch_leaders, daemon=True)

    def _watch_leaders(self):
        """Polls every member's INFO every 20 ms and records each new (leader, term) it sees."""
        seen = set()
        while self.watching.is_set():
            for m in (1, 2, 3):
                try:
                    fields = info(self.cluster.client_ports[m])
                except (OSError, ValueError):
                    continue
                if fields.get("role") == "leader" and (m, fields.get("term")) not in seen:
                    seen.add((m, fields.get("term")))
                    self.leaders.append((time.monotonic(), m, int(fields.get("term", 0))))
            time.sleep(0.02)

    def leaders_between(self, start, end):
        return [(m, term) for t, m, term in list(self.leaders) if start <= t < end]

    def mount(self):
        for disk in self.disks.values():
            problem = disk.mount()
            if problem:
                return problem
        return None

    def close(self):
        self.watching.clear()
        self.load.stopping.set()
        self.cluster.stop_all()
        for disk in self.disks.values():
            disk.unmount()

    def note(self, what, seconds):
        timings.append((self.number, what, seconds))
        say(f"  scenario {self.number}: {what}: {seconds:.2f} s")

    # Members.

    def kill(self, member):
        self.cluster.kill(member)
        self.killed.add(member)
        say(f"  member {member} killed")

    def start(self, member):
        self.cluster.start(member)
        self.killed.discard(member)
        say(f"  member {member} started")

    def healthy(self):
        return [m for m in (1, 2, 3) if m not in self.killed and not self.disks[m].full.is_set()]

    def no_crashes(self):
        for m in (1, 2, 3):
            if m not in self.killed and not self.cluster.alive(m):
                check(False, f"scenario {self.number}: member {m} exited by itself "
                             f"(status {self.cluster.processes[m].returncode}); its log:\n"
                             + self.log_tail(m))
                self.killed.add(m)

    def log_tail(self, member, lines=20):
        path = os.path.join(self.cluster.directory, f"member-{member}.log")
        try:
            with open(path, errors="replace") as log:
                return "\n".join(log.read().splitlines()[-lines:])
        except OSError:
            return ""

    def sanitizer_reports(self):
        """Fails for each member log holding a sanitizer's report (in the ASan+UBSan build)."""
        for m in (1, 2, 3):
            path = os.path.join(self.cluster.directory, f"member-{m}.log")
            try:
                with open(path, errors="replace") as log:
                    text = log.read()
            except OSError:
                continue
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                at = text.find(marker)
                if at >= 0:
                    check(False, f"scenario {self.number}: member {m}'s log has a sanitizer "
                                 f"report:\n{text[max(0, at - 200):at + 2000]}")

    def role(self, member):
        try:
            return info(self.cluster.client_ports[member]).get("role")
        except (OSError, ValueError):
            return None

    def leader(self):
        return self.cluster.leader(among=[m for m in (1, 2, 3) if m not in self.killed])

    # Measurements.

    def time_to_serve(self, what):
        """With a healthy majority now, the time until a write is acknowledged: probes write
        through every live member at once; the first OK ends the wait."""
        assert len(self.healthy()) >= 2, "only a healthy majority must serve"
        started = time.monotonic()
        served = threading.Event()
        self.probes += 1
        probe = self.probes

        def write_through(member):
            client = None
            n = 0
            while not served.is_set() and time.monotonic() - started < SERVE_LIMIT:
                n += 1
                key, value = f"s{self.number}:probe{probe}:{member}:{n}", "p"
                self.load.sent[key] = value
                try:
                    client = client or connect(self.cluster.client_ports[member], 0.5)
                    if client.set(key, value) is True:
                        self.load.acked[key] = value
                        served.set()
                        break
                except (redis.exceptions.RedisError, OSError):
                    if client:
                        disconnect(client)
                    client = None
                    time.sleep(0.02)
            if client:
                disconnect(client)

        threads = [threading.Thread(target=write_through, args=(m,), daemon=True)
                   for m in (1, 2, 3) if m not in self.killed]
        for t in threads:
            t.start()
        served.wait(SERVE_LIMIT)
        elapsed = time.monotonic() - started
        for t in threads:
            t.join()
        if check(served.is_set(), f"scenario {self.number}: {what}: served within {SERVE_LIMIT} s"):
            self.note(f"{what}: served after", elapsed)
        return elapsed

    def time_to_catch_up(self, member, what):
        """The time until `member` has applied everything the leader had committed when asked."""
        started = time.monotonic()
        leader = self.leader()
        target = int(info(self.cluster.client_ports[leader])["commit_index"])
        try:
            wait_until(f"member {member} to apply index {target}",
                       lambda: int(info(self.cluster.client_ports[member])["last_applied"]) >= target,
                       timeout=CATCH_UP_LIMIT)
        except AssertionError as e:
            check(False, f"scenario {self.number}: {what}: {e}")
            return None
        elapsed = time.monotonic() - started
        self.note(f"{what}: caught up after", elapsed)
        return elapsed

    def under_load(self, seconds, what=None):
        """Lets the clients write for `seconds`; returns how many writes were acknowledged. With
        `what`, a healthy majority exists all along: the longest wait between two
        acknowledgements is noted, and must stay below SERVE_LIMIT."""
        started = time.monotonic()
        time.sleep(seconds)
        ended = time.monotonic()
        self.no_crashes()
        acks = self.load.acks_between(started, ended)
        if what:
            gaps = [b - a for a, b in zip([started] + acks, acks + [ended])]
            leaders = self.leaders_between(started, ended)
            self.note(f"{what}: {len(acks)} acknowledged in {seconds:.1f} s, new leaders "
                      f"{leaders or 'none'}, longest wait", max(gaps))
            check(max(gaps) < SERVE_LIMIT, f"scenario {self.number}: {what}: kept serving")
        else:
            if acks:
                say(f"  {len(acks)} acknowledged, {acks[0] - started:.3f} s to "
                    f"{acks[-1] - started:.3f} s into these {seconds:.1f} s")
            leaders = self.leaders_between(started, ended)
            say(f"  leaders seen: {leaders[:8] or 'none'}"
                + (f" and {len(leaders) - 8} more" if len(leaders) > 8 else ""))
        return len(acks)

    # The end of every scenario.

    def heal_and_read_back(self):
        for m in (1, 2, 3):
            self.disks[m].free()
        for m in sorted(self.killed):
            self.start(m)
        self.time_to_serve("healed")
        self.no_crashes()
        self.load.stop()
        say("  disk use: " + ", ".join(f"member {m} {d.used_bytes() / 1e6:.1f} MB"
                                       for m, d in self.disks.items()))
        say(f"  scenario {self.number}: {len(self.load.acked)} writes acknowledged of "
            f"{len(self.load.sent)} sent ({self.load.refusals} refused with an error)")
        for m in (1, 2, 3):
            self.cluster.kill(m)
        for m in (1, 2, 3):
            self.cluster.start(m)
        self.read_back_everywhere()
        self.no_crashes()

    def read_back_everywhere(self):
        """Makes each member the leader in turn and reads every write through it: a GET goes
        through the log and is answered from the leader's own store, so each member's state is
        checked, not just the one a follower would forward to. To hand leadership to `target`, the
        third member is killed, one more write commits on the leader and the target, then the
        leader is killed and the third restarted: its log lacks that write, so only the target can
        win an election (§5.4.1). (Pausing the third would not do: the kernel would keep the
        leader's AppendEntries for it in its socket.) The old leader is then restarted."""
        leader = self.cluster.leader()
        checked = []
        while True:
            self.read_back_through(leader)
            checked.append(leader)
            rest = [m for m in (1, 2, 3) if m not in checked]
            if not rest:
                return
            target = rest[0]
            third = next(m for m in (1, 2, 3) if m not in (leader, target))
            self.cluster.kill(third)
            key = f"s{self.number}:handover:{target}"
            client = connect(self.cluster.client_ports[leader], 6.0)
            try:
                acked = client.set(key, "h") is True
            except (redis.exceptions.RedisError, OSError) as e:
                acked = False
                say(f"  handover write through member {leader} failed: {e}")
            disconnect(client)
            self.load.sent[key] = "h"
            if acked:
                self.load.acked[key] = "h"
            self.cluster.kill(leader)
            self.cluster.start(third)
            new_leader = self.cluster.leader(among=(target, third))
            self.cluster.start(leader)
            if not check(acked and new_leader == target,
                         f"scenario {self.number}: leadership handed from member {leader} to "
                         f"member {target} (got member {new_leader})"):
                return
            leader = target

    def read_back_through(self, member):
        client = connect(self.cluster.client_ports[member], 10.0)
        keys = list(self.load.sent)
        lost, wrong = [], []
        for at in range(0, len(keys), 500):
            batch = keys[at:at + 500]
            for key, value in zip(batch, client.mget(batch)):
                if key in self.load.acked and value != self.load.acked[key]:
                    lost.append((key, value))
                elif value is not None and value != self.load.sent[key]:
                    wrong.append((key, value))
        disconnect(client)
        check(not lost, f"scenario {self.number}: member {member}, leading, returns all "
                        f"{len(self.load.acked)} acknowledged writes"
                        + (f"; lost {len(lost)}, e.g. {lost[:3]}" if lost else ""))
        check(not wrong, f"scenario {self.number}: member {member} holds no value never written"
                         + (f": {wrong[:3]}" if wrong else ""))


# --- the scenarios ----------------------------------------------------------------------------


def leader_full_follower_down(run, chooser):
    leader = run.leader()
    down = chooser.choice([m for m in (1, 2, 3) if m != leader])
    run.kill(down)
    run.disks[leader].fill()
    say(f"  leader {leader}'s disk filled")
    run.under_load(2.0)
    run.disks[leader].free()
    run.time_to_serve(f"member {leader}'s disk freed, follower {down} still down")
    run.under_load(1.0, f"follower {down} down")
    run.start(down)
    run.time_to_catch_up(down, f"follower {down} restarted")


def leader_full_follower_restarts_first(run, chooser):
    leader = run.leader()
    down = chooser.choice([m for m in (1, 2, 3) if m != leader])
    run.kill(down)
    run.disks[leader].fill()
    say(f"  leader {leader}'s disk filled")
    run.under_load(2.0)
    run.start(down)
    run.time_to_serve(f"follower {down} restarted, old leader {leader}'s disk still full")
    run.under_load(2.0, f"member {leader}'s disk still full")
    role = run.role(leader)
    check(role != "leader", f"scenario 5: member {leader}, its disk full, does not lead (is {role})")
    run.disks[leader].free()
    run.time_to_catch_up(leader, f"member {leader}'s disk freed")


def follower_full_leader_restarted(run, chooser):
    leader = run.leader()
    full = chooser.choice([m for m in (1, 2, 3) if m != leader])
    run.disks[full].fill()
    say(f"  follower {full}'s disk filled")
    run.under_load(1.0, f"member {full}'s disk full")
    run.kill(leader)
    run.under_load(1.5)
    run.start(leader)
    run.time_to_serve(f"old leader {leader} restarted, member {full}'s disk still full")
    run.under_load(1.0, f"member {full}'s disk still full")
    run.disks[full].free()
    run.time_to_catch_up(full, f"member {full}'s disk freed")


def follower_full_under_load(run, chooser):
    leader = run.leader()
    full = chooser.choice([m for m in (1, 2, 3) if m != leader])
    run.disks[full].fill()
    say(f"  follower {full}'s disk filled")
    run.under_load(4.0, f"member {full}'s disk full")
    lag = int(info(run.cluster.client_ports[run.leader()])["commit_index"]) - \
        int(info(run.cluster.client_ports[full])["last_applied"])
    say(f"  member {full} is {lag} entries behind; its role: {run.role(full)}")
    run.disks[full].free()
    freed = time.monotonic()
    run.time_to_catch_up(full, f"member {full}'s disk freed")
    run.under_load(1.0, f"member {full}'s disk freed")
    # A follower whose disk fails should disturb nobody, not even once its disk works again. But
    # while it is silent the leader compacts past it and sends it the snapshot, and sends no
    # heartbeat while the snapshot's last chunk awaits its reply (the rpc timeout, longer than an
    # election timeout): the follower starts a candidacy, held while its disk fails, and once the
    # disk works its RequestVote of a higher term deposes the leader (there is no PreVote).
    deposed = run.leaders_between(freed, time.monotonic())
    if deposed and not run.strict:
        say(f"  NOTE: member {full}'s recovery caused an election: leaders {deposed} (--strict fails)")
    else:
        check(not deposed, f"scenario 3: member {full}'s recovery caused no election "
                           f"(new leaders: {deposed or 'none'})")


def full_disk_while_members_restart(run, chooser):
    full = chooser.choice((1, 2, 3))
    run.disks[full].fill()
    say(f"  member {full}'s disk filled")
    for step in range(5):
        victim = chooser.choice((1, 2, 3))
        run.kill(victim)
        if len(run.healthy()) >= 2:
            run.time_to_serve(f"step {step}: member {victim} down, {full}'s disk full")
        else:
            run.under_load(chooser.uniform(0.3, 0.8))
        run.start(victim)
        if len(run.healthy()) >= 2:
            run.time_to_serve(f"step {step}: member {victim} restarted, {full}'s disk full")
    run.disks[full].free()
    run.time_to_catch_up(full, f"member {full}'s disk freed")


SCENARIOS = {
    1: ("the leader's disk fills while a follower is down", leader_full_follower_down),
    2: ("a follower's disk fills; the leader is killed and restarted", follower_full_leader_restarted),
    3: ("a follower's disk stays full under load, then is freed", follower_full_under_load),
    4: ("one disk full while members are killed and restarted", full_disk_while_members_restart),
    5: ("the leader's disk fills while a follower is down; the follower restarts first",
        leader_full_follower_restarts_first),
}


def run_scenario(binary, number, seed, strict):
    title, body = SCENARIOS[number]
    say(f"scenario {number}: {title} (seed {seed})")
    chooser = random.Random(seed * 10 + number)
    with tempfile.TemporaryDirectory(prefix=f"coraft-kv-disk-{number}-") as directory:
        run = Run(binary, directory, number)
        run.strict = strict
        try:
            problem = run.mount()
            if problem:
                return problem
            run.cluster.start_all()
            run.watching.set()
            run.watcher.start()
            run.load.start()
            run.under_load(0.5)
            body(run, chooser)
            run.heal_and_read_back()
        finally:
            run.close()
            run.sanitizer_reports()
            if failures:
                for m in (1, 2, 3):
                    say(f"--- member {m}'s log, last lines\n{run.log_tail(m)}")
    return None


def main():
    global redis
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--scenario", type=int, action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--strict", action="store_true",
                        help="fail if a follower whose disk is freed deposes the leader (scenario 3)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        say("skipped: needs root to mount tmpfs")
        sys.exit(77)
    redis = import_redis()
    # A timeout's SIGTERM still runs the finally blocks: members killed, disks unmounted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seed = args.seed if args.seed is not None else int(time.time())
    say(f"seed {seed} (replay with --seed {seed})")
    started = time.monotonic()
    for number in args.scenario or sorted(SCENARIOS):
        problem = run_scenario(args.binary, number, seed, args.strict)
        if problem:
            say(f"skipped: cannot mount tmpfs: {problem}")
            sys.exit(77)
    say("time to serve once a majority had working disks, and to catch up:")
    for number, what, seconds in timings:
        say(f"  {number}  {seconds:6.2f} s  {what}")
    say(f"{len(failures)} failed, in {time.monotonic() - started:.1f} s (seed {seed})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
