#!/usr/bin/env python3
"""Persistence through real shoald processes and a real LMDB journal:
state survives kill -9 and restart, output gates never acknowledge what
is not durable, idempotency keys, snapshots trimming the journal, a full
journal answering `unavailable` without losing anything, durable
reminders, the cart's TTL, and the journal / state endpoints.

Run one class: python3 test_persist.py TestDurable (ctest does this).
"""

import base64
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoal_harness import Cluster, main, run_tool, scaled, wait_until  # noqa: E402

ACTORS = "/v1.0/actors"


def call(node, method, path, body=None, headers=None, timeout=5.0):
    """(status, parsed JSON or raw, ) of one HTTP request; (None, None) if
    the node did not answer (down, or killed mid-call)."""
    host, port = node.http.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=scaled(timeout))
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, (json.loads(raw) if raw else None)
        except ValueError:
            return r.status, raw
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


def invoke(node, typ, ent, method, body=None, key=None, timeout=5.0):
    h = {"Idempotency-Key": key} if key else None
    return call(node, "POST", f"{ACTORS}/{typ}/{ent}/method/{method}", body, h, timeout)


def journal(node, typ, ent, frm=1, limit=1000):
    return call(node, "GET", f"/v1/actors/{typ}/{ent}/journal?from={frm}&limit={limit}")


def one_node(test, base, name, args=()):
    c = Cluster(base, name)
    test.addCleanup(c.close)
    n = c.add(1, args=list(args)).start().wait_ready()
    return c, n


def restart(node):
    node.kill()
    node.start().wait_ready()


class TestDurable(unittest.TestCase):
    """State, idempotency and snapshots across kill -9 on one node."""

    def test_state_survives_kill(self):
        _, n = one_node(self, 19000, "durable", ["--snapshot-every", "0"])
        for i in range(1, 51):
            self.assertEqual(invoke(n, "counter", "c1", "add", {"by": 2}), (200, {"value": 2 * i}))
        for item, q in (("a", 2), ("b", 1), ("a", 3)):
            self.assertEqual(invoke(n, "cart", "k1", "AddItem", {"itemId": item, "quantity": q})[0],
                             200)
        for v in range(5):
            invoke(n, "log", "l1", "append", {"value": v})
        restart(n)
        self.assertEqual(invoke(n, "counter", "c1", "get"), (200, {"value": 100}))
        self.assertEqual(invoke(n, "cart", "k1", "GetItems")[1],
                         {"items": [{"itemId": "a", "quantity": 5},
                                    {"itemId": "b", "quantity": 1}]})
        self.assertEqual(invoke(n, "log", "l1", "read")[1]["values"], [0, 1, 2, 3, 4])
        st, doc = journal(n, "counter", "c1")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["last_seq"], 50)
        self.assertEqual([e["seq"] for e in doc["events"]], list(range(1, 51)))
        self.assertEqual({e["event"] for e in doc["events"]}, {2})
        self.assertIsNone(doc["next"])
        st, doc = call(n, "GET", f"{ACTORS}/counter/c1/state/value")
        self.assertEqual((st, doc), (200, 100))
        self.assertEqual(call(n, "GET", f"{ACTORS}/counter/c1/state/nope")[0], 404)
        # a page of the journal
        st, doc = journal(n, "counter", "c1", frm=11, limit=5)
        self.assertEqual([e["seq"] for e in doc["events"]], [11, 12, 13, 14, 15])
        self.assertEqual(doc["next"], 16)
        self.assertGreaterEqual(n.metric("shoal_recoveries_total"), 3)

    def test_idempotency_survives_restart(self):
        _, n = one_node(self, 19010, "idem")
        first = invoke(n, "counter", "i1", "add", {"by": 7}, key="k-1")
        self.assertEqual(first, (200, {"value": 7}))
        self.assertEqual(invoke(n, "counter", "i1", "add", {"by": 7}, key="k-1"), first)
        self.assertEqual(invoke(n, "counter", "i1", "add", {"by": 1}, key="k-2"),
                         (200, {"value": 8}))
        restart(n)
        # the retry after a restart returns the first reply; nothing moves
        self.assertEqual(invoke(n, "counter", "i1", "add", {"by": 7}, key="k-1"), first)
        self.assertEqual(invoke(n, "counter", "i1", "get"), (200, {"value": 8}))
        self.assertGreaterEqual(n.metric("shoal_idempotent_replays_total"), 1)
        long_key = "x" * 200
        self.assertEqual(invoke(n, "counter", "i1", "add", {}, key=long_key)[0], 400)

    def test_snapshots_trim_the_journal(self):
        c, n = one_node(self, 19020, "snap",
                        ["--snapshot-every", "10", "--retain-events", "5"])
        for i in range(1, 101):
            self.assertEqual(invoke(n, "counter", "s1", "add")[1], {"value": i})
        st, doc = journal(n, "counter", "s1")
        self.assertEqual(doc["last_seq"], 100)
        self.assertEqual(doc["snapshot_seq"], 100)
        # events at or below snapshot - retain are gone
        self.assertEqual(doc["events"][0]["seq"], 96, doc["events"][:3])
        self.assertGreaterEqual(n.metric("shoal_snapshots_total"), 10)
        self.assertLessEqual(n.metric("shoal_journal_entries_events"), 5)
        if shutil.which("mdb_stat"):  # the LMDB tool's view of the same thing
            out = subprocess.run(["mdb_stat", "-s", "events", os.path.join(n.data, "journal")],
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 0, out.stderr)
            entries = [int(l.split(":")[1]) for l in out.stdout.splitlines()
                       if l.strip().startswith("Entries:")]
            self.assertEqual(entries, [5], out.stdout)
        restart(n)
        self.assertEqual(invoke(n, "counter", "s1", "get"), (200, {"value": 100}))


class TestCrash(unittest.TestCase):
    """16 clients with idempotency keys, kill -9 at random moments."""

    def test_never_less_than_acknowledged(self):
        _, n = one_node(self, 19030, "crash")
        counters = [f"cc{i}" for i in range(4)]
        ok = {c: set() for c in counters}      # keys answered with success
        unknown = {c: set() for c in counters}  # keys whose call got no answer
        lock = threading.Lock()
        stop = threading.Event()
        rnd = random.Random(int(os.environ.get("SHOAL_TEST_SEED", "7")))

        def client(k):
            i = 0
            while not stop.is_set():
                ctr = counters[(k + i) % len(counters)]
                key = f"c{k}-{i}"
                i += 1
                st, doc = invoke(n, "counter", ctr, "add", {"by": 1}, key=key, timeout=3)
                with lock:
                    if st == 200:
                        ok[ctr].add(key)
                    elif st is None or st >= 500:
                        unknown[ctr].add(key)
                if st is None:
                    wait_until(lambda: stop.is_set() or n.running(), scaled(20), "restart")

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(16)]
        for t in threads:
            t.start()
        kills = 4
        for _ in range(kills):
            target = sum(len(s) for s in ok.values()) + rnd.randint(50, 300)
            wait_until(lambda: sum(len(s) for s in ok.values()) >= target, scaled(60),
                       f"{target} acknowledged adds")
            time.sleep(rnd.random() * 0.2)  # a random moment within the stream, not a sync
            restart(n)
        stop.set()
        for t in threads:
            t.join(scaled(30))
        for ctr in counters:
            st, doc = invoke(n, "counter", ctr, "get")
            self.assertEqual(st, 200)
            v = doc["value"]
            acked, maybe = ok[ctr], unknown[ctr] - ok[ctr]
            self.assertGreaterEqual(v, len(acked), f"{ctr}: acknowledged adds lost")
            self.assertLessEqual(v, len(acked) + len(maybe), f"{ctr}: an add applied twice")
            # retrying the unanswered keys applies each exactly once
            for key in sorted(maybe):
                st, _ = invoke(n, "counter", ctr, "add", {"by": 1}, key=key)
                self.assertEqual(st, 200)
            st, doc = invoke(n, "counter", ctr, "get")
            self.assertEqual(doc["value"], len(acked) + len(maybe), ctr)
        self.assertGreater(sum(len(s) for s in ok.values()), 1000)


def log_len(n, ent):
    """Values in a log, read in pages (a reply is at most 1 MiB)."""
    total = 0
    while True:
        st, doc = invoke(n, "log", ent, "read", {"from": total, "limit": 100}, timeout=10)
        assert st == 200, (st, doc)
        if not doc["values"]:
            return total
        total += len(doc["values"])


class TestFull(unittest.TestCase):
    """A journal that cannot grow answers `unavailable` and loses nothing."""

    def fill(self, n, ent, limit=4000):
        """Append 4 KiB values until the node refuses; returns (acked, status).
        Random values: lz4 would shrink anything regular to nothing."""
        acked = 0
        for i in range(limit):
            st, doc = invoke(n, "log", ent, "append",
                             {"value": f"{i:06d}" + base64.b64encode(os.urandom(3072)).decode()})
            if st != 200:
                return acked, st, doc
            acked += 1
        self.fail(f"the journal never filled ({acked} appends)")

    def test_map_ceiling(self):
        c, n = one_node(self, 19040, "full", ["--journal-max-mb", "4", "--snapshot-every", "0"])
        acked, st, doc = self.fill(n, "big")
        self.assertEqual(st, 503, doc)
        self.assertEqual(doc["errorCode"], "unavailable")
        self.assertGreater(acked, 100)
        # reads still answer, and nothing acknowledged is missing
        self.assertEqual(log_len(n, "big"), acked)
        self.assertGreaterEqual(n.metric("shoal_journal_failed_total"), 1)
        # "space freed": a larger ceiling after a restart; the journal is intact
        n.args = [a for a in n.args if a not in ("--journal-max-mb", "4")] + \
            ["--journal-max-mb", "64"]
        restart(n)
        self.assertEqual(log_len(n, "big"), acked)
        self.assertEqual(invoke(n, "log", "big", "append", {"value": "after"})[0], 200)

    def test_disk_full_tmpfs(self):
        if os.geteuid() != 0 or not shutil.which("mount"):
            self.skipTest("needs root to mount a tmpfs (the map-ceiling test covers the rest)")
        c = Cluster(19050, "tmpfs")
        self.addCleanup(c.close)
        mnt = os.path.join(c.dir, "small")
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * (4 << 20))
        n = c.add(1, args=["--snapshot-every", "0"])
        n.data = os.path.join(mnt, "n1")
        n.start().wait_ready()
        acked, st, doc = self.fill(n, "big")
        self.assertEqual(st, 503, doc)
        self.assertTrue(n.running(), "the node survives a full disk")
        self.assertEqual(log_len(n, "big"), acked)
        os.unlink(ballast)  # space returns: writes succeed again, no restart
        wait_until(lambda: invoke(n, "log", "big", "append", {"value": "again"})[0] == 200,
                   scaled(10), "appends succeed once space is freed")
        restart(n)
        self.assertGreaterEqual(log_len(n, "big"), acked + 1)


class TestReminders(unittest.TestCase):
    """Durable reminders fire on inactive entities, survive restarts, delete."""

    def rem(self, n, ent, name, method="PUT", body=None):
        return call(n, method, f"{ACTORS}/counter/{ent}/reminders/{name}", body)

    def value(self, n, ent):
        # the journal, unlike a call, neither activates nor counts as activity
        st, doc = journal(n, "counter", ent)
        return sum(e["event"] for e in doc["events"]) if st == 200 else None

    def test_reminders(self):
        _, n = one_node(self, 19060, "rem", ["--idle-timeout", "300ms"])
        spec = {"dueTime": "0h0m1s0ms", "period": "1s", "data": {"by": 1}}
        self.assertEqual(self.rem(n, "r1", "tick", body=spec)[0], 204)
        st, doc = self.rem(n, "r1", "tick", "GET")
        self.assertEqual((st, doc), (200, spec))
        acts = n.metric("shoal_activations_total")
        wait_until(lambda: (self.value(n, "r1") or 0) >= 3, scaled(10), "3 fires")
        # between fires the entity passivated; each fire activated it again
        self.assertGreaterEqual(n.metric("shoal_activations_total") - acts, 2)
        restart(n)
        before = self.value(n, "r1")
        wait_until(lambda: self.value(n, "r1") >= before + 2, scaled(10),
                   "fires continue after a restart")
        self.assertEqual(self.rem(n, "r1", "tick", "DELETE")[0], 204)
        stopped = self.value(n, "r1")
        self.assertEqual(self.rem(n, "r1", "tick", "GET")[0], 404)
        time.sleep(2.5)  # nothing to poll for: asserting that nothing happens
        self.assertLessEqual(self.value(n, "r1"), stopped + 1)
        # a one-shot reminder fires once; a bad spec is refused
        self.assertEqual(self.rem(n, "r2", "once", body={"dueTime": "PT0.5S"})[0], 204)
        wait_until(lambda: self.value(n, "r2") == 1, scaled(10), "the one-shot fire")
        self.assertEqual(self.rem(n, "r2", "once", "GET")[0], 404)
        self.assertEqual(self.rem(n, "r3", "bad", body={"dueTime": "soon"})[0], 400)

    def test_fires_on_the_owner_only(self):
        c = Cluster(19080, "rem-owner")
        self.addCleanup(c.close)
        nodes = [c.add(i).start() for i in (1, 2)]
        for nd in nodes:
            nd.wait_ready()
        wait_until(lambda: c.all_see(["n1", "n2"], "alive"), scaled(20), "both alive")
        wait_until(lambda: len({json.dumps([s["owner"] for s in nd.get("/v1/cluster/shards")[1]
                                            ["shards"]]) for nd in nodes}) == 1,
                   scaled(10), "identical shard tables")
        # an entity owned by n2, its reminder set through n1
        ent = next(f"o{i}" for i in range(1000)
                   if nodes[0].get(f"/v1/cluster/locate/counter/o{i}")[1]["owner"] == "n2")
        spec = {"dueTime": "0.3s", "period": "0.3s", "data": {"by": 1}}
        self.assertEqual(call(nodes[0], "PUT", f"{ACTORS}/counter/{ent}/reminders/r", spec)[0],
                         204)
        wait_until(lambda: (journal(nodes[1], "counter", ent)[1] or {}).get("last_seq", 0) >= 3,
                   scaled(10), "fires on the owner")
        self.assertEqual(nodes[1].metric("shoal_reminders_scheduled"), 1)
        self.assertEqual(nodes[0].metric("shoal_reminders_scheduled"), 0)
        self.assertEqual(nodes[0].metric("shoal_reminders_fired_total"), 0)
        self.assertGreaterEqual(nodes[1].metric("shoal_reminders_fired_total"), 3)

    def test_cart_ttl(self):
        _, n = one_node(self, 19070, "ttl", ["--cart-ttl", "2s"])
        self.assertEqual(invoke(n, "cart", "t1", "AddItem", {"itemId": "a"})[0], 200)
        self.assertEqual(journal(n, "cart", "t1")[1]["last_seq"], 1)
        wait_until(lambda: journal(n, "cart", "t1")[1]["last_seq"] == 0, scaled(15),
                   "the cart's journal purged after its TTL")
        self.assertEqual(invoke(n, "cart", "t1", "GetItems"), (200, {"items": []}))


if __name__ == "__main__":
    main()
