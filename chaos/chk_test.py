#!/usr/bin/env python3
"""chk_test - every checker passes a good history and fails a bad one.

Synthetic histories, no cluster: runs in well under a second.
    python3 chaos/chk_test.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chk  # noqa: E402

IDS = ["n1", "n2", "n3", "n4", "n5"]
PARAMS = {"ids": IDS, "detect_s": 10.0, "converge_s": 30.0, "pause_max_s": 3.0}


class B:
    """History builder: events are appended in time order by the caller."""

    def __init__(self):
        self.ev = [{"t": 0.0, "type": "run", "seed": 1, "params": PARAMS}]
        self.n = 0

    def add(self, t, type_, **kw):
        e = {"t": t, "type": type_}
        e.update(kw)
        self.ev.append(e)
        return self

    def view(self, t, viewer, states=None, inc=1, **override):
        """viewer's view: every id alive at `inc`, except overrides id=(state, inc)."""
        m = {i: ["alive", inc] for i in IDS}
        for k, v in override.items():
            m[k] = list(v)
        return self.add(t, "view", viewer=viewer, members=m if states is None else states)

    def all_views(self, t, **override):
        for v in IDS:
            self.view(t, v, **override)
        return self

    def settled(self, t, ok=True, final=False):
        return self.add(t, "settled", ok=ok, took=0.5, before_ep=None, final=final)

    def ep(self, t0, t1, kind, targets, start=None, heal=None):
        self.n += 1
        others = [i for i in IDS if i not in targets]
        self.add(t0, "nem_start", ep=self.n, kind=kind, targets=targets, others=others,
                 t0=t0, inc=1, **(start or {}))
        self._pending = (t1, kind, targets, others, heal or {})
        return self

    def heal(self):
        t1, kind, targets, others, extra = self._pending
        return self.add(t1, "nem_heal", ep=self.n, kind=kind, targets=targets,
                        others=others, t0=t1, **extra)

    def final(self, t):
        return self.add(t, "final_heal", api_failed=[])

    def run(self, name):
        res = {r.name: r for r in chk.chk_run_all(self.ev, PARAMS)}
        return res[name]


def healthy_tail(b, t):
    """Final heal at t and agreement right after it."""
    return b.final(t).all_views(t + 0.5).settled(t + 0.6, final=True)


class TestCheckers(unittest.TestCase):
    def assert_fails(self, r, n=1):
        self.assertFalse(r.ok, f"{r.name} should fail")
        self.assertEqual(len(r.violations), n, r.lines())

    def assert_ok(self, r):
        self.assertTrue(r.ok, f"{r.name}: {r.lines()}")

    def pause_history(self, dead_at=None, paused_s=2.0):
        b = B().settled(1.0).ep(2.0, 2.0 + paused_s, "pause", ["n5"],
                                heal={"paused_s": paused_s})
        b.view(3.0, "n1", n5=("suspect", 1)).heal()
        if dead_at:
            b.view(dead_at, "n2", n5=("dead", 1))
        b.all_views(9.0, inc=2).settled(9.1)
        return healthy_tail(b, 20.0)

    def test_no_false_death(self):
        self.assert_ok(self.pause_history().run("no_false_death"))
        self.assert_fails(self.pause_history(dead_at=6.0).run("no_false_death"))
        # During the pause counts too; a 3.5 s pause is not promised anything.
        self.assert_fails(self.pause_history(dead_at=3.5).run("no_false_death"))
        r = self.pause_history(dead_at=6.0, paused_s=3.5).run("no_false_death")
        self.assert_ok(r)
        self.assertEqual((r.checked, r.skipped), (0, 1))

    def test_bystander_alive(self):
        b = B().settled(1.0).all_views(2.0).view(3.0, "n1", n2=("dead", 1))
        self.assert_fails(healthy_tail(b, 5.0).run("bystander_alive"))
        # The target of a kill may be dead; so may anyone in an isolated
        # node's view until the cluster settles after the heal.
        b = B().settled(1.0).ep(2.0, 6.0, "kill", ["n3"]).view(4.0, "n1", n3=("dead", 1))
        b.heal().view(6.5, "n3", n2=("dead", 1)).settled(8.0)
        self.assert_ok(healthy_tail(b, 9.0).run("bystander_alive"))
        # ... but not after it settled.
        b.view(8.5, "n3", n2=("dead", 1))
        self.assert_fails(healthy_tail(b, 9.0).run("bystander_alive"))

    def test_convergence(self):
        self.assert_ok(healthy_tail(B().settled(1.0), 5.0).run("convergence"))
        b = B().settled(1.0).final(5.0).all_views(6.0, n3=("suspect", 1))
        self.assert_fails(b.run("convergence"))
        b = B().settled(1.0).final(5.0)
        for v in IDS:  # n2 sees everyone one incarnation ahead: no agreement
            b.view(6.0, v, inc=2 if v == "n2" else 1)
        self.assert_fails(b.run("convergence"))
        b = B().settled(1.0).final(5.0).all_views(40.0)  # agreement, but too late
        self.assert_fails(b.run("convergence"))
        b = B().settled(1.0, ok=False)  # an intermediate settle timed out
        self.assert_fails(healthy_tail(b, 5.0).run("convergence"))
        self.assert_fails(B().settled(1.0).run("convergence"))  # no final heal at all

    def kill_history(self, n4_sees):
        b = B().settled(1.0).ep(2.0, 8.0, "kill", ["n5"])
        for v in ("n1", "n2", "n3"):
            b.view(4.0, v, n5=("dead", 1))
        b.view(4.0, "n4", n5=n4_sees)
        b.heal().all_views(13.0, inc=1, n5=("alive", 2)).settled(13.5)
        return healthy_tail(b, 14.0)

    def test_kill_detected(self):
        r = self.kill_history(("alive", 2)).run("kill_detected")  # restarted: counts
        self.assert_ok(r)
        self.assertEqual(r.checked, 4)
        self.assert_fails(self.kill_history(("alive", 1)).run("kill_detected"))
        self.assert_fails(self.kill_history(("suspect", 1)).run("kill_detected"))

    def test_kill_detected_survivor_touched_later(self):
        # n4 is paused 1 s after the kill, before it could see it: not judged.
        b = B().settled(1.0).ep(2.0, 8.0, "kill", ["n5"])
        for v in ("n1", "n2", "n3"):
            b.view(4.0, v, n5=("dead", 1))
        b.add(3.0, "nem_start", ep=2, kind="pause", targets=["n4"], others=IDS[:3] + ["n5"],
              t0=3.0, inc=1)
        b.view(5.0, "n4", n5=("alive", 1)).heal().all_views(13.0, n5=("alive", 2))
        r = healthy_tail(b.settled(13.5), 14.0).run("kill_detected")
        self.assert_ok(r)
        self.assertEqual((r.checked, r.skipped), (3, 1))

    def test_leave_not_dead(self):
        def hist(state):
            b = B().settled(1.0).ep(2.0, 5.0, "term", ["n5"], start={"rc": 0})
            b.view(3.0, "n1", n5=(state, 1)).heal().all_views(6.0, n5=("alive", 2))
            return healthy_tail(b.settled(6.5), 7.0)
        self.assert_ok(hist("left").run("leave_not_dead"))
        self.assert_fails(hist("dead").run("leave_not_dead"))

    def test_process_health(self):
        def hist(*events):
            b = healthy_tail(B().settled(1.0), 2.0)
            for ty, kw in events:
                b.add(3.0, ty, **kw)
            return b.run("process_health")
        ok = [("exit", {"node": n, "rc": 0, "why": "final"}) for n in IDS]
        self.assert_ok(hist(*ok))
        self.assert_fails(hist(("exit", {"node": "n1", "rc": 1, "why": "sigterm"})))
        self.assert_fails(hist(("exit", {"node": "n1", "rc": None, "why": "final_timeout"})))
        self.assert_fails(hist(("exit", {"node": "n2", "rc": -6, "why": "crashed"})))
        self.assert_fails(hist(("log_problem", {"node": "n3", "line": "x.c:1: assertion failed"})))
        self.assert_fails(hist(("nem_start", {"ep": 1, "kind": "isolate", "targets": ["n1"],
                                              "others": IDS[1:], "t0": 3.0,
                                              "api_failed": ["n1->n2:None"]})))
        self.assert_fails(hist(("nem_heal", {"ep": 1, "kind": "kill", "targets": ["n1"],
                                             "others": IDS[1:], "t0": 3.0, "ready": False})))
        self.assert_fails(hist(("nem_start", {"ep": 1, "kind": "pause", "targets": ["n1"],
                                              "others": IDS[1:], "t0": 3.0,
                                              "error": "AssertionError: n1 is not running"})))


if __name__ == "__main__":
    unittest.main(verbosity=1)
