"""Self-test of linearizability.py: it must accept histories known to be linearizable and reject
histories known not to be.

usage: checker_test.py [--seed N] [--verbose]

Hand-written cases cover sequential and overlapping operations, operations of unknown outcome that
did or did not take effect, and the classic anomalies: a stale read, a read of a value never
written, a lost or duplicated append, an INCR applied twice, reads going backwards. Randomized
cases build histories from a reference model of their own (a plain dict, independent of the
checker's): sequential ones, then the same widened in time (more overlap only adds possible orders,
so they must still pass), then mutated (a read result changed: they must fail); and concurrent ones
of a few thousand operations, which must check within seconds.

Prints one line per case and ends with "N passed, N failed"; exits 1 if any case failed.
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linearizability as lin
from linearizability import Op, check

U = None  # the completion time of an operation whose outcome is unknown


def w(client, key, value, invoke, complete):
    return Op(client, key, "set", value, None, invoke, complete)


def r(client, key, value, invoke, complete):
    return Op(client, key, "get", None, value, invoke, complete)


def inc(client, key, result, invoke, complete):
    return Op(client, key, "incr", None, result, invoke, complete)


def app(client, key, value, length, invoke, complete):
    return Op(client, key, "append", value, length, invoke, complete)


# --- hand-written cases ----------------------------------------------------------------------

LINEARIZABLE = {
    "empty history": [],
    "sequential sets and gets": [
        w(1, "x", "1", 0, 1), r(1, "x", "1", 2, 3), w(2, "x", "2", 4, 5), r(1, "x", "2", 6, 7)],
    "a get of a missing key": [
        r(1, "x", None, 0, 1), w(1, "x", "a", 2, 3), r(2, "x", "a", 4, 5)],
    "a get overlapping a set sees the old value": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, 6), r(2, "x", "1", 3, 4), r(2, "x", "2", 7, 8)],
    "a get overlapping a set sees the new value": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, 6), r(2, "x", "2", 3, 4), r(2, "x", "2", 7, 8)],
    "overlapping sets, the one invoked first wins": [
        w(1, "x", "a", 0, 5), w(2, "x", "b", 1, 4), r(3, "x", "b", 6, 7)],
    "overlapping sets, the one invoked last wins": [
        w(1, "x", "a", 0, 5), w(2, "x", "b", 1, 4), r(3, "x", "a", 6, 7)],
    "a set of unknown outcome that took effect": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, U), r(2, "x", "2", 5, 6)],
    "a set of unknown outcome that did not take effect": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, U), r(2, "x", "1", 5, 6), r(2, "x", "1", 7, 8)],
    "a set of unknown outcome that took effect late": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, U), r(2, "x", "1", 5, 6), r(2, "x", "2", 7, 8)],
    "overlapping incrs": [
        inc(1, "c", 2, 0, 5), inc(2, "c", 1, 1, 4), r(3, "c", "2", 6, 7)],
    "an incr of unknown outcome that took effect": [
        inc(1, "c", 1, 0, 1), inc(1, "c", None, 2, U), inc(2, "c", 3, 4, 5)],
    "two incrs of unknown outcome, one took effect": [
        inc(1, "c", 1, 0, 1), inc(1, "c", None, 2, U), inc(2, "c", None, 2.5, U),
        inc(3, "c", 3, 5, 6), r(3, "c", "3", 7, 8)],
    "an incr of a value set as an integer": [
        w(1, "c", "41", 0, 1), inc(2, "c", 42, 2, 3), r(1, "c", "42", 4, 5)],
    "overlapping appends with their lengths": [
        app(1, "a", "a;", 2, 0, 3), app(2, "a", "b;", 4, 1, 2), r(3, "a", "a;b;", 4, 5)],
    "an append of unknown outcome taking effect after later appends": [
        app(1, "a", "a;", 2, 0, 1), app(1, "a", "x;", None, 2, U), app(2, "a", "b;", 4, 3, 4),
        r(3, "a", "a;b;x;", 10, 11)],
    "appends whose lengths are not reported": [
        app(1, "a", "a;", None, 0, 1), app(2, "a", "b;", None, 0.5, 3), r(1, "a", "a;", 1.5, 2),
        r(1, "a", "a;b;", 4, 5)],
    "a read of a missing key overlapping the first append": [
        app(1, "a", "a;", 2, 0, 3), r(2, "a", None, 1, 2), r(2, "a", "a;", 4, 5)],
    "independent keys interleaved": [
        w(1, "x", "1", 0, 1), w(2, "y", "9", 0.5, 1.5), r(1, "y", "9", 2, 3), r(2, "x", "1", 2, 3),
        inc(1, "c", 1, 4, 5), r(2, "c", "1", 6, 7)],
}

NOT_LINEARIZABLE = {
    "a stale read after a completed write": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, 3), r(2, "x", "1", 4, 5)],
    "a read of a value never written": [
        w(1, "x", "1", 0, 1), r(2, "x", "7", 2, 3)],
    "a value that disappears": [
        w(1, "x", "1", 0, 1), r(2, "x", None, 2, 3)],
    "a lost acknowledged append (lengths reported)": [
        app(1, "a", "a;", 2, 0, 1), app(2, "a", "b;", 4, 2, 3), r(3, "a", "a;", 4, 5)],
    "a lost acknowledged append (lengths not reported)": [
        app(1, "a", "a;", None, 0, 1), app(2, "a", "b;", None, 2, 3), r(3, "a", "a;", 4, 5)],
    "a lost acknowledged append among appends of unknown outcome": [
        app(1, "a", "a;", 2, 0, 1), app(2, "a", "x;", None, 1.5, U), app(3, "a", "b;", None, 2, 3),
        r(3, "a", "a;x;", 4, 5)],
    "a duplicated append": [
        app(1, "a", "a;", 2, 0, 1), r(2, "a", "a;a;", 2, 3)],
    "a duplicated append of unknown outcome": [
        app(1, "a", "a;", None, 0, U), r(2, "a", "a;a;", 2, 3)],
    "an incr applied twice (two clients get the same result)": [
        inc(1, "c", 1, 0, 2), inc(2, "c", 1, 1, 3)],
    "an incr skipping a value": [
        inc(1, "c", 1, 0, 1), inc(1, "c", 3, 2, 3)],
    "an incr of a value that is not an integer": [
        w(1, "c", "x", 0, 1), inc(2, "c", 1, 2, 3)],
    "reads going backwards in time": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, 10), r(2, "x", "2", 3, 4), r(2, "x", "1", 5, 6)],
    "reads going backwards, the write of unknown outcome": [
        w(1, "x", "1", 0, 1), w(1, "x", "2", 2, U), r(2, "x", "2", 3, 4), r(2, "x", "1", 5, 6)],
    "a write of unknown outcome seen before it was sent": [
        w(1, "x", "1", 0, 1), r(2, "x", "2", 2, 3), w(1, "x", "2", 4, U)],
    "an append length that disagrees": [
        app(1, "a", "abc", 3, 0, 1), app(1, "a", "de", 4, 2, 3)],
    "one bad key among good ones": [
        w(1, "x", "1", 0, 1), r(2, "x", "1", 2, 3), w(1, "y", "1", 0, 1), r(2, "y", "0", 2, 3)],
}


# --- a reference model and history generators -------------------------------------------------

FAMILIES = {
    "r": ("set", "get"),                  # registers
    "c": ("incr", "get", "set-integer"),  # counters, sometimes set
    "n": ("incr", "get"),                 # counters only ever incremented
    "a": ("append", "get"),               # appends of unique tokens
}


class Reference:
    """Redis strings as a dict: applies one operation, returns its reply."""

    def __init__(self):
        self.data = {}

    def apply(self, kind, key, arg):
        if kind == "set":
            self.data[key] = arg
            return None
        if kind == "get":
            return self.data.get(key)
        if kind == "incr":
            self.data[key] = str(int(self.data.get(key, "0")) + 1)
            return int(self.data[key])
        self.data[key] = self.data.get(key, "") + arg
        return len(self.data[key].encode())


class Ids:
    def __init__(self):
        self.n = 0

    def next(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"


def random_request(rng, keys, ids):
    """(kind, key, arg) for a random operation on a random key."""
    key = rng.choice(keys)
    choice = rng.choice(FAMILIES[key[0]])
    if choice == "set":
        return "set", key, ids.next("v")
    if choice == "set-integer":
        return "set", key, str(rng.randrange(-5, 100))
    if choice == "append":
        return "append", key, ids.next("t") + ";"
    return choice, key, None


def sequential_history(rng, count, keys, unknown=0.0, phantom=0.0):
    """`count` operations one after another (op i in [10i, 10i+5]). A fraction `unknown` of the
    writes lose their reply (they did take effect); a fraction `phantom` of the steps add a write of
    unknown outcome that never takes effect."""
    model, ids, history = Reference(), Ids(), []
    for i in range(count):
        kind, key, arg = random_request(rng, keys, ids)
        result = model.apply(kind, key, arg)
        op = Op(rng.randrange(4), key, kind, arg, result, 10.0 * i, 10.0 * i + 5)
        if kind != "get" and rng.random() < unknown:
            op.result, op.complete = None, U
        history.append(op)
        if rng.random() < phantom:
            kind, key, arg = random_request(rng, keys, ids)
            if kind != "get":
                history.append(Op(9, key, kind, arg, None, 10.0 * i + rng.uniform(0, 5), U))
    return history


def widened(history, rng, amount):
    """The same history with every interval stretched by up to `amount` on each side."""
    out = []
    for op in history:
        complete = op.complete if op.complete is None else op.complete + rng.uniform(0, amount)
        out.append(Op(op.client, op.key, op.kind, op.arg, op.result,
                      op.invoke - rng.uniform(0, amount), complete))
    return out


def concurrent_history(rng, clients, per_client, keys, unknown=0.02):
    """Clients each doing `per_client` operations one after another; every operation takes effect
    at a random moment of its interval. A fraction `unknown` lose their reply: half of those take
    effect some time later (possibly long after), half never do. Ends with a read of every key."""
    model, ids, history, planned = Reference(), Ids(), [], []  # planned: (moment of effect, op)
    for client in range(clients):
        t = rng.uniform(0, 1)
        for _ in range(per_client):
            kind, key, arg = random_request(rng, keys, ids)
            op = Op(client, key, kind, arg, None, t, t + rng.expovariate(1.0))
            history.append(op)
            if rng.random() < unknown:
                op.complete = U
                if rng.random() < 0.5:
                    planned.append((t + rng.expovariate(0.2), op))
                t += 1.0  # the client's timeout
            else:
                planned.append((rng.uniform(op.invoke, op.complete), op))
                t = op.complete
            t += rng.expovariate(5.0)
    planned.sort(key=lambda pair: pair[0])
    for _, op in planned:
        result = model.apply(op.kind, op.key, op.arg)
        if op.complete is not U:
            op.result = result
    end = max([op.complete or op.invoke for op in history] + [moment for moment, _ in planned])
    for i, key in enumerate(sorted(keys)):
        history.append(Op(clients, key, "get", None, model.data.get(key),
                          end + 1 + 2 * i, end + 2 + 2 * i))
    return history


# --- the test runner -------------------------------------------------------------------------


class Runner:
    def __init__(self, verbose):
        self.verbose = verbose
        self.passed = 0
        self.failed = 0

    def case(self, name, function):
        try:
            note = function()
        except AssertionError as error:
            self.failed += 1
            print(f"FAIL: {name}: {error}", flush=True)
            return
        self.passed += 1
        print(f"ok: {name}" + (f" ({note})" if note else ""), flush=True)


def expect(history, linearizable, time_limit=60.0):
    verdict = check(history, time_limit=time_limit)
    assert verdict.linearizable is linearizable, (
        f"expected {'' if linearizable else 'not '}linearizable, got:\n{verdict}")
    if linearizable:
        for key, result in verdict.results.items():
            verify_order([op for op in history if op.key == key], result.order)
    return verdict


def verify_order(ops, order):
    """Checks, independently of the checker, the order it found for one key: every completed
    operation in it once, none before an operation that completed before it was invoked, and every
    reply what the reference model gives."""
    ids = [id(op) for op in order]
    assert len(set(ids)) == len(ids), "an operation taken twice"
    taken = set(ids)
    missing = [op for op in ops if op.complete is not U and id(op) not in taken]
    assert not missing, f"completed operations left out: {missing[:3]}"
    latest_invoke = -float("inf")
    model = Reference()
    for op in order:
        if op.complete is not U:
            assert latest_invoke <= op.complete, f"{op} taken after an operation invoked later"
        latest_invoke = max(latest_invoke, op.invoke)
        result = model.apply(op.kind, op.key, op.arg)
        if op.complete is not U and (op.kind == "get" or op.result is not None):
            assert result == op.result, f"{op} replied {op.result!r}, the model says {result!r}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--verbose", action="store_true", help="print the checker's reports")
    args = parser.parse_args()
    print(f"seed {args.seed}", flush=True)
    runner = Runner(args.verbose)

    for name, history in LINEARIZABLE.items():
        runner.case(f"accepts: {name}", lambda h=history: expect(h, True) and None)
    for name, history in NOT_LINEARIZABLE.items():
        def rejects(h=history):
            verdict = expect(h, False)
            if runner.verbose:
                print(verdict)
        runner.case(f"rejects: {name}", rejects)

    def report_names_the_key():
        verdict = expect(NOT_LINEARIZABLE["one bad key among good ones"], False)
        assert [f.key for f in verdict.failures] == ["y"], verdict
        text = str(verdict)
        assert "key 'y'" in text and "'0'" in text, text
    runner.case("the report names the bad key and the offending read", report_names_the_key)

    def order_is_returned():
        verdict = expect(LINEARIZABLE["overlapping sets, the one invoked first wins"], True)
        order = verdict.results["x"].order
        assert [op.arg for op in order if op.kind == "set"] == ["a", "b"], order
    runner.case("a linearizable history comes with an order that works", order_is_returned)

    def quick_with_many_unknown(history, linearizable):
        def run():
            started = time.monotonic()
            expect(history, linearizable, time_limit=10.0)
            took = time.monotonic() - started
            assert took < 2.0, f"took {took:.1f} s"
            return f"{took:.3f} s"
        return run

    # Each would take exponential time without the reduction named.
    unknown_sets = [w(1, "x", f"lost{i}", 1 + i / 100, U) for i in range(40)]
    runner.case("a stale read among 40 SETs of unknown outcome never read is rejected quickly",
                quick_with_many_unknown([w(1, "x", "1", 0, 1), *unknown_sets, w(2, "x", "2", 2, 3),
                                         r(3, "x", "1", 4, 5)], False))
    unknown_incrs = [inc(1, "c", None, 1 + i / 100, U) for i in range(40)]
    runner.case("an INCR result seen twice among 40 INCRs of unknown outcome is rejected quickly",
                quick_with_many_unknown([inc(1, "c", 1, 0, 1), *unknown_incrs, inc(2, "c", 7, 2, 3),
                                         inc(3, "c", 7, 2, 3), r(3, "c", "9", 4, 5)], False))
    runner.case("INCRs of unknown outcome filling a gap are found quickly",
                quick_with_many_unknown([inc(1, "c", 1, 0, 1), *unknown_incrs, inc(2, "c", 30, 2, 3),
                                         r(3, "c", "35", 4, 5)], True))
    unknown_appends = [app(1, "a", f"u{i};", None, 1 + i / 100, U) for i in range(30)]
    runner.case("a lost append among 30 APPENDs of unknown outcome is rejected quickly",
                quick_with_many_unknown([app(1, "a", "a;", 2, 0, 1), *unknown_appends,
                                         app(2, "a", "b;", None, 2, 3),
                                         r(3, "a", "a;u3;u7;", 4, 5)], False))

    def undecided():
        # SETs and APPENDs on one key leave the search no shortcut: with a tiny step budget, the
        # verdict must be "undecided", never "linearizable".
        history = [w(1, "m", "s", 0, 1)] + [app(1, "m", f"u{i};", None, 1 + i / 100, U)
                                             for i in range(14)] + [r(2, "m", "impossible", 2, 3)]
        verdict = check(history, max_steps=5000)
        assert verdict.linearizable is None and not verdict.ok, verdict
        assert str(verdict).startswith("undecided"), verdict
    runner.case("a search out of steps says undecided, not linearizable", undecided)

    rng = random.Random(args.seed)
    keys = ["r0", "r1", "c0", "a0"]

    def sequential_pass_and_mutations_fail():
        for _ in range(200):
            history = sequential_history(rng, rng.randrange(1, 40), keys)
            expect(history, True)
            gets = [op for op in history if op.kind == "get"]
            if not gets:
                continue
            victim = rng.choice(gets)
            written = {op.arg for op in history if op.kind == "set"} | {None, "1", "never"}
            victim.result = rng.choice(sorted(written - {victim.result}, key=str))
            expect(history, False)
    runner.case("random sequential histories pass; with one read changed they fail",
                sequential_pass_and_mutations_fail)

    def widened_pass_and_mutations_fail():
        for _ in range(200):
            history = sequential_history(rng, rng.randrange(1, 60), keys, unknown=0.1, phantom=0.1)
            expect(history, True)
            history = widened(history, rng, rng.choice([3, 10, 30]))
            expect(history, True)
            gets = [op for op in history if op.kind == "get" and op.complete is not U]
            if gets:
                rng.choice(gets).result = "never written"
                expect(history, False)
    runner.case("random histories widened in time, with unknown outcomes, pass; a read of a "
                "value never written fails", widened_pass_and_mutations_fail)

    def incr_and_append_mutations_fail():
        failures = 0
        for _ in range(100):
            history = widened(sequential_history(rng, 40, ["n0", "a0"], unknown=0.05), rng, 10)
            incrs = [op for op in history if op.kind == "incr" and op.result is not None]
            if len(incrs) >= 2:
                first, second = rng.sample(incrs, 2)
                second.result = first.result  # one INCR seen twice
                expect(history, False)
                failures += 1
        return f"{failures} histories with a duplicated INCR result"
    runner.case("random histories with an INCR result repeated fail", incr_and_append_mutations_fail)

    def concurrent(clients, per_client, key_names, limit):
        def run():
            history = concurrent_history(rng, clients, per_client, key_names)
            started = time.monotonic()
            verdict = expect(history, True)
            took = time.monotonic() - started
            assert took < limit, f"took {took:.1f} s"
            # A lost append: the final read of an append key without one acknowledged token.
            final = {op.key: op for op in history[-len(key_names):]}
            appended = [op for op in history if op.kind == "append" and op.complete is not U]
            lost = rng.choice(appended)
            final[lost.key].result = final[lost.key].result.replace(lost.arg, "", 1)
            started = time.monotonic()
            expect(history, False)
            took_bad = time.monotonic() - started
            assert took_bad < limit, f"rejecting took {took_bad:.1f} s"
            return (f"{len(history)} operations, {sum(op.complete is U for op in history)} of "
                    f"unknown outcome: accepted in {took:.2f} s; with an append lost, rejected "
                    f"in {took_bad:.2f} s; {verdict.seconds:.2f} s in the checker")
        return run

    runner.case("a concurrent history of 3000 operations on 4 keys",
                concurrent(5, 600, keys, 20.0))
    runner.case("a concurrent history of 12000 operations on 9 keys",
                concurrent(4, 3000, [f"{f}{i}" for f in "rca" for i in range(3)], 60.0))

    def concurrent_stale_read_fails():
        for _ in range(20):
            history = concurrent_history(rng, 4, 150, ["r0"])
            expect(history, True)
            # Among completed reads, give one the value of a set that completed long before it.
            sets = [op for op in history if op.kind == "set" and op.complete is not U]
            gets = [op for op in history if op.kind == "get" and op.complete is not U]
            candidates = [(g, s) for g in gets for s in sets
                          if s.complete + 20 < g.invoke and s.arg != g.result]
            if not candidates:
                continue
            # A set superseded by a later completed set before the read began cannot be read.
            get, old = rng.choice(candidates)
            newer = [s for s in sets if old.complete < s.invoke and s.complete < get.invoke]
            if newer:
                get.result = old.arg
                expect(history, False)
    runner.case("concurrent histories with one stale read fail", concurrent_stale_read_fails)

    def unique_appends_decided_without_search():
        # The shortcut for long append histories: correct histories pass, each kind of bug fails.
        def decide(ops):
            return lin._check_unique_appends("a", lin._prepare([Op.of(o) for o in ops]), 0.0)
        history, value, t = [], "", 0.0
        for i in range(200):
            value += f"1.{i};"
            history.append(app(1, "a", f"1.{i};", len(value), t, t + 1))
            if i % 7 == 0:
                history.append(r(2, "a", value, t + 0.5, t + 3))
            t += 2
        assert decide(history).status == "ok"
        cases = {
            "stale read": [app(1, "a", "x;", 2, 0, 1), r(2, "a", "", 2, 3)],
            "duplicated append": [app(1, "a", "x;", 2, 0, 1), r(2, "a", "x;x;", 2, 3)],
            "lost append": [app(1, "a", "x;", 2, 0, 1), app(1, "a", "y;", 4, 2, 3), r(2, "a", "x;", 4, 5)],
            "order against real time": [app(1, "a", "x;", None, 0, 1), app(1, "a", "y;", None, 2, 3),
                                        r(2, "a", "y;x;", 4, 5)],
            "read going back": [app(1, "a", "x;", None, 0, 1), r(2, "a", "x;", 2, 3), r(2, "a", "", 4, 5)],
            "never written": [app(1, "a", "x;", None, 0, 1), r(2, "a", "z;", 2, 3)],
        }
        for name, ops in cases.items():
            assert decide(ops).status == "illegal", name
        unknown = [app(1, "a", "x;", None, 0, U), app(2, "a", "y;", None, 1, 2)]
        assert decide(unknown + [r(3, "a", "y;x;", 3, 4)]).status == "ok"
        assert decide(unknown + [r(3, "a", "y;", 3, 4)]).status == "ok"
    runner.case("unique appends are decided from the longest read", unique_appends_decided_without_search)

    print(f"{runner.passed} passed, {runner.failed} failed", flush=True)
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
