#!/usr/bin/env python3
"""Entities through real shoald processes: the actor HTTP API, routing and
forwarding between nodes, turns one at a time, back-pressure, deadlines,
passivation, the shard endpoints, shoalctl's entity commands and plugins.

Run one class: python3 test_actors.py TestActors (ctest does this, with
SHOALD, SHOALCTL and SHOAL_EXAMPLE_PLUGIN set).

The slow-turn and cycle tests use the `debug` entity type, which shoald
registers only with --debug-faults: `sleep {"ms":n}` holds its turn without
blocking the worker, `call {...}` asks another entity (node/types/debug.c).
"""

import http.client
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoal_harness import (SANITIZED, Cluster, main, run_tool, scaled,  # noqa: E402
                           wait_until)

ACTORS = "/v1.0/actors"


def invoke(node, typ, ent, method, body=None, timeout=5.0, headers=None, raw=None):
    """(status, parsed JSON or None) of one call through `node`."""
    conn = http.client.HTTPConnection(node.http.split(":")[0], int(node.http.split(":")[1]),
                                      timeout=scaled(timeout))
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request("POST", f"{ACTORS}/{typ}/{ent}/method/{method}", body=data, headers=h)
        r = conn.getresponse()
        raw_out = r.read()
        try:
            return r.status, (json.loads(raw_out) if raw_out else None)
        except ValueError:
            return r.status, raw_out
    finally:
        conn.close()


def ctl(*args):
    return run_tool("SHOALCTL", *args)


def start_cluster(base, name, n, args):
    c = Cluster(base, name)
    try:
        nodes = [c.add(i, args=args).start() for i in range(1, n + 1)]
        for nd in nodes:
            nd.wait_ready()
        ids = [nd.id for nd in nodes]
        wait_until(lambda: c.all_see(ids, "alive"), scaled(20), f"{ids} alive everywhere")
        # Every node's shard table reflects the full view: same owners.
        wait_until(lambda: len({json.dumps([s["owner"] for s in nd.get("/v1/cluster/shards")[1]
                                            ["shards"]]) for nd in nodes}) == 1,
                   scaled(10), "identical shard tables")
        return c, nodes
    except BaseException:
        c.close()
        raise


def stop_cluster(c):
    problems = c.shutdown()
    if problems:
        raise AssertionError("at shutdown: " + "; ".join(problems))


class TestActors(unittest.TestCase):
    """Three nodes, two workers each, --debug-faults."""

    @classmethod
    def setUpClass(cls):
        cls.c, cls.nodes = start_cluster(18100, "actors", 3, ["--debug-faults", "--workers", "2"])

    @classmethod
    def tearDownClass(cls):
        stop_cluster(cls.c)

    def locate(self, node, typ, ent):
        st, doc, _ = node.get(f"/v1/cluster/locate/{typ}/{ent}")
        self.assertEqual(st, 200, doc)
        return doc

    # -- turns --------------------------------------------------------------
    def test_concurrent_adds_exact(self):
        """16 clients x 1,000 adds on one counter, through all three nodes
        (most calls are forwarded), with keep-alive connections: exactly
        16,000, and every call answered 200."""
        per = 200 if SANITIZED else 1000
        clients = 16
        errors = []

        def worker(k):
            node = self.nodes[k % 3]
            host, port = node.http.split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=scaled(30))
            try:
                for _ in range(per):
                    conn.request("POST", f"{ACTORS}/counter/hot/method/add", body=b'{"by":1}',
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200:
                        errors.append((r.status, body))
                        return
            except OSError as e:
                errors.append(repr(e))
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        for node in self.nodes:
            st, doc = invoke(node, "counter", "hot", "get")
            self.assertEqual((st, doc), (200, {"value": clients * per}))
        fwd = sum(n.metric("shoal_forwards_total") for n in self.nodes)
        self.assertGreater(fwd, 0)

    def same_worker_pair(self, prefix):
        """Two debug ids whose shards live on the same node and worker
        (shard % 2): the strongest case for turn isolation."""
        a = self.locate(self.nodes[0], "debug", f"{prefix}a")
        for i in range(1000):
            b = self.locate(self.nodes[0], "debug", f"{prefix}b{i}")
            if b["owner"] == a["owner"] and b["shard"] % 2 == a["shard"] % 2:
                return a, b
        self.fail("no debug id on the same worker")

    def test_slow_turn_does_not_delay_other_entity(self):
        a, b = self.same_worker_pair("slow")
        owner = next(n for n in self.nodes if n.id == a["owner"])
        slow = {}

        def sleeper():
            slow["r"] = invoke(owner, "debug", a["id"], "sleep", {"ms": 3000}, timeout=20,
                               headers={"Shoal-Timeout-Ms": "20000"})

        t = threading.Thread(target=sleeper)
        t.start()
        wait_until(lambda: self.locate(owner, "debug", a["id"])["active"], scaled(5),
                   "the sleeper active")
        done = 0
        for i in range(20):
            st, doc = invoke(owner, "debug", b["id"], "echo", {"i": i})
            self.assertEqual((st, doc), (200, {"i": i}))
            done += 1
        still_sleeping = t.is_alive()
        t.join()
        self.assertTrue(still_sleeping, "20 turns of b finished only after a's slow turn")
        self.assertEqual(done, 20)
        self.assertEqual(slow["r"], (200, {"slept": 3000}))

    def test_expired_deadline_is_timeout(self):
        for node in self.nodes:  # local and forwarded
            st, doc = invoke(node, "debug", "late", "sleep", {"ms": 2000},
                             headers={"Shoal-Timeout-Ms": "300"})
            self.assertEqual(st, 504, doc)
            self.assertEqual(doc["errorCode"], "timeout")
        st, doc, _ = self.nodes[1].request(
            "POST", f"{ACTORS}/debug/late2/method/sleep?timeout_ms=200", body={"ms": 1500})
        self.assertEqual((st, doc["errorCode"]), (504, "timeout"))

    def test_call_cycle_times_out(self):
        """A asks B, B asks A: A's turn is still open, so B's ask waits in
        A's mailbox until the deadline; the caller gets `timeout`, and both
        entities serve calls again afterwards."""
        cyc = {"type": "debug", "id": "cycB", "method": "call",
               "body": {"type": "debug", "id": "cycA", "method": "echo", "body": {"x": 1}}}
        st, doc = invoke(self.nodes[2], "debug", "cycA", "call", cyc, timeout=10,
                         headers={"Shoal-Timeout-Ms": "1000"})
        self.assertEqual(st, 504, doc)
        self.assertEqual(doc["errorCode"], "timeout")
        # Not a cycle: A -> B -> C works and returns C's reply.
        ok = {"type": "debug", "id": "cycB", "method": "call",
              "body": {"type": "debug", "id": "cycC", "method": "echo", "body": {"x": 2}}}
        wait_until(lambda: invoke(self.nodes[0], "debug", "cycA", "call", ok) == (200, {"x": 2}),
                   scaled(10), "A -> B -> C answered")

    def test_bad_requests(self):
        n = self.nodes[0]
        st, doc = invoke(n, "nosuchtype", "x", "get")
        self.assertEqual((st, doc["errorCode"]), (404, "not_found"))
        self.assertIn("nosuchtype", doc["message"])
        st, doc = invoke(n, "counter", "x", "nosuchmethod")
        self.assertEqual((st, doc["errorCode"]), (404, "not_found"))
        st, doc = invoke(n, "counter", "x", "add", raw=b'{"by":')
        self.assertEqual((st, doc["errorCode"]), (400, "bad_request"))
        st, doc = invoke(n, "counter", "x", "add", {"by": "one"})
        self.assertEqual((st, doc["errorCode"]), (400, "bad_request"))
        st, doc = invoke(n, "cart", "x", "AddItem", headers={"Shoal-Timeout-Ms": "0"})
        self.assertEqual((st, doc["errorCode"]), (400, "bad_request"))
        st, doc = invoke(n, "cart", "x", "AddItem", headers={"Shoal-Timeout-Ms": "60001"})
        self.assertEqual((st, doc["errorCode"]), (400, "bad_request"))
        # Over 1 MiB: refused by the server before anything runs.
        big = b'"' + b"a" * (1 << 20) + b'"'
        st, doc = self.raw_post(n, f"{ACTORS}/debug/big/method/echo", big)
        self.assertEqual((st, doc["errorCode"]), (400, "bad_request"))
        # Exactly 1 MiB is allowed, also when forwarded to another node.
        body = b'"' + b"b" * ((1 << 20) - 2) + b'"'
        for node in self.nodes:
            st, out = self.raw_post(node, f"{ACTORS}/debug/big/method/echo", body)
            self.assertEqual(st, 200, out if st != 200 else "")
            self.assertTrue(out == "b" * ((1 << 20) - 2), f"{node.id}: echo differs")
        # The 11th distinct cart item is a conflict, with the exact message.
        for i in range(10):
            self.assertEqual(invoke(n, "cart", "full", "AddItem",
                                    {"itemId": f"i{i}", "quantity": 1})[0], 200)
        st, doc = invoke(self.nodes[1], "cart", "full", "AddItem", {"itemId": "x", "quantity": 1})
        self.assertEqual((st, doc), (409, {"errorCode": "conflict", "message": "cart is full"}))

    def raw_post(self, node, path, body):
        """POST with a hand-made request; the server may refuse before
        reading the body, so write what it takes and read its answer."""
        import socket
        host, port = node.http.split(":")
        s = socket.create_connection((host, int(port)), timeout=scaled(10))
        try:
            head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            try:
                s.sendall(head + body)
            except OSError:
                pass
            data = b""
            while True:
                try:
                    chunk = s.recv(1 << 16)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        try:
            return status, json.loads(rest)
        except ValueError:
            return status, rest

    # -- placement ------------------------------------------------------------
    def test_locate_identical_everywhere(self):
        for ent in ("l1", "l2", "user-42", "a%2Fb"):
            invoke(self.nodes[0], "cart", ent, "GetItems")
            docs = [self.locate(n, "cart", ent) for n in self.nodes]
            for d in docs:
                self.assertEqual(d, docs[0])
            self.assertIn(docs[0]["owner"], ["n1", "n2", "n3"])
            self.assertIs(docs[0]["active"], True)
            st, shard, _ = self.nodes[2].get(f"/v1/cluster/shards/{docs[0]['shard']}")
            self.assertEqual(st, 200)
            self.assertEqual(shard["owner"], docs[0]["owner"])
        self.assertIs(self.locate(self.nodes[1], "cart", "never-called")["active"], False)
        st, doc, _ = self.nodes[0].get("/v1/cluster/locate/nosuchtype/x")
        self.assertEqual((st, doc["errorCode"]), (404, "not_found"))

    def test_shard_table(self):
        st, doc, _ = self.nodes[0].get("/v1/cluster/shards")
        self.assertEqual(st, 200)
        self.assertEqual((doc["shard_count"], doc["replicas"], doc["node"]), (256, 3, "n1"))
        self.assertEqual([s["shard"] for s in doc["shards"]], list(range(256)))
        owners = {}
        for s in doc["shards"]:
            self.assertEqual(s["state"], "active")
            self.assertEqual(sorted(s["replicas"]), ["n1", "n2", "n3"])
            self.assertEqual(s["replicas"][0], s["owner"])
            self.assertGreaterEqual(s["epoch"], 1)
            # entities: counted by the owner only
            self.assertEqual(s["entities"] is not None, s["owner"] == "n1")
            owners[s["owner"]] = owners.get(s["owner"], 0) + 1
        self.assertEqual(sorted(owners), ["n1", "n2", "n3"])
        self.assertEqual(self.nodes[0].get("/v1/cluster/shards/256")[0], 404)
        self.assertEqual(self.nodes[0].get("/v1/cluster/shards/x")[0], 404)
        self.assertEqual(self.nodes[0].metric("shoal_shards_owned"), owners["n1"])

    def test_timers(self):
        n = self.nodes[1]
        path = f"{ACTORS}/counter/tick/timers/t1"
        spec = {"dueTime": "0h0m0s10ms", "period": "0h0m0s50ms", "callback": "add",
                "data": {"by": 1}}
        st, _, raw = n.request("PUT", path, body=spec)
        self.assertEqual((st, raw), (204, b""))
        st, doc, _ = self.nodes[2].get(path)
        self.assertEqual(st, 200)
        self.assertEqual(doc["callback"], "add")
        wait_until(lambda: invoke(n, "counter", "tick", "get")[1]["value"] >= 3, scaled(10),
                   "the timer fired three times")
        st, _, raw = self.nodes[0].request("DELETE", path)
        self.assertEqual((st, raw), (204, b""))
        self.assertEqual(n.get(path)[0], 404)

    def test_metrics(self):
        invoke(self.nodes[0], "counter", "m1", "add", {"by": 1})
        m = self.nodes[0].metrics()
        for name in ("shoal_entities_active", "shoal_activations_total",
                     "shoal_passivations_total", "shoal_turn_duration_seconds_count",
                     "shoal_mailbox_depth_count", "shoal_forwards_total",
                     "shoal_rpc_pending", "shoal_busy_rejections_total"):
            self.assertTrue(any(k[0] == name for k in m), name)
        ok = sum(n.metric("shoal_turns_total", outcome="ok") for n in self.nodes)
        self.assertGreater(ok, 0)

    # -- shoalctl ---------------------------------------------------------------
    def test_ctl_invoke_locate_shards(self):
        n = self.nodes[2].http
        r = ctl("--node", n, "invoke", "counter/ctl", "add", '{"by":5}')
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(json.loads(r.stdout), {"value": 5})
        r = ctl("invoke", "counter/ctl", "get", "--node", n, "-o", "json")
        self.assertEqual(json.loads(r.stdout), {"value": 5})
        r = ctl("--node", n, "invoke", "nosuchtype/x", "get")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.splitlines()), 1)
        self.assertTrue(r.stderr.startswith("shoalctl: not_found: "), r.stderr)
        self.assertIn("HTTP 404", r.stderr)
        r = ctl("--node", n, "invoke", "counter/ctl", "add", "{nope")
        self.assertEqual(r.returncode, 2)
        r = ctl("--node", n, "locate", "counter/ctl")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ENTITY", "SHARD", "OWNER", "ACTIVE"])
        loc = self.locate(self.nodes[0], "counter", "ctl")
        self.assertEqual(lines[1].split(), ["counter/ctl", str(loc["shard"]), loc["owner"], "yes"])
        r = ctl("--node", n, "locate", "counter/ctl", "-o", "json")
        self.assertEqual(json.loads(r.stdout), loc)
        r = ctl("--node", n, "shards")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["SHARD", "OWNER", "REPLICAS", "EPOCH", "STATE",
                                            "ENTITIES"])
        self.assertEqual(len(lines), 257)
        r = ctl("--node", n, "shards", str(loc["shard"]))
        row = r.stdout.splitlines()[1].split()
        self.assertEqual(row[:2], [str(loc["shard"]), loc["owner"]])
        r = ctl("--node", n, "shards", "999")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("shoalctl: not_found: "), r.stderr)
        for bad in (["locate", "noslash"], ["invoke", "counter/x"], ["shards", "-1x"]):
            self.assertEqual(ctl("--node", n, *bad).returncode, 2, bad)


class TestLimits(unittest.TestCase):
    """Back-pressure: --mailbox 2 on every node."""

    @classmethod
    def setUpClass(cls):
        cls.c, cls.nodes = start_cluster(18110, "limits", 3,
                                         ["--debug-faults", "--mailbox", "2"])

    @classmethod
    def tearDownClass(cls):
        stop_cluster(cls.c)

    def test_mailbox_overflow_is_busy(self):
        """Eight concurrent slow calls to one entity: one runs, two wait in
        its mailbox, the rest are refused `busy` (429) at once."""
        results = []
        lock = threading.Lock()

        def one(k):
            r = invoke(self.nodes[k % 3], "debug", "mb", "sleep", {"ms": 2000}, timeout=20,
                       headers={"Shoal-Timeout-Ms": "20000"})
            with lock:
                results.append(r)

        threads = [threading.Thread(target=one, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(st for st, _ in results)
        self.assertEqual(codes, [200] * 3 + [429] * 5, results)
        busy = [doc for st, doc in results if st == 429]
        for doc in busy:
            self.assertEqual(doc["errorCode"], "busy")
        total = sum(n.metric("shoal_busy_rejections_total") for n in self.nodes)
        self.assertEqual(total, len(busy))


class TestPassivation(unittest.TestCase):
    """One node with a short idle timeout."""

    @classmethod
    def setUpClass(cls):
        cls.c, nodes = start_cluster(18120, "passivation", 1, ["--idle-timeout", "300ms"])
        cls.n = nodes[0]

    @classmethod
    def tearDownClass(cls):
        stop_cluster(cls.c)

    def test_passivation_then_reactivation(self):
        n = self.n
        self.assertEqual(invoke(n, "counter", "p1", "add", {"by": 7}), (200, {"value": 7}))
        self.assertEqual(invoke(n, "cart", "p2", "AddItem", {"itemId": "a", "quantity": 1})[0],
                         200)
        act0 = n.metric("shoal_activations_total")
        self.assertGreaterEqual(act0, 2)
        wait_until(lambda: n.metric("shoal_entities_active") == 0, scaled(10),
                   "both entities passivated")
        self.assertGreaterEqual(n.metric("shoal_passivations_total"), 2)
        self.assertIs(self.locate("counter", "p1")["active"], False)
        # Reactivated on the next call, recovered from the journal (and the
        # snapshot written on passivation).
        self.assertEqual(invoke(n, "counter", "p1", "get"), (200, {"value": 7}))
        self.assertEqual(invoke(n, "cart", "p2", "GetItems"),
                         (200, {"items": [{"itemId": "a", "quantity": 1}]}))
        self.assertGreaterEqual(n.metric("shoal_snapshots_total"), 2)
        self.assertEqual(n.metric("shoal_activations_total"), act0 + 2)
        self.assertIs(self.locate("counter", "p1")["active"], True)

    def locate(self, typ, ent):
        return self.n.get(f"/v1/cluster/locate/{typ}/{ent}")[1]


class TestViewsDiffer(unittest.TestCase):
    """A node joins while calls flow: for a moment the nodes' views (and so
    their shard tables) differ and calls are forwarded by views that
    disagree.  Every call is still answered - 200, or 503 `unavailable`
    (retryable) when the hop limit is hit - and none hangs."""

    @classmethod
    def setUpClass(cls):
        cls.c, cls.nodes = start_cluster(18140, "views", 2, [])

    @classmethod
    def tearDownClass(cls):
        stop_cluster(cls.c)

    def test_calls_answered_while_a_node_joins(self):
        statuses = []
        stop = threading.Event()

        def caller(k):
            node = self.nodes[k % 2]
            host, port = node.http.split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=scaled(10))
            i = 0
            while not stop.is_set():
                conn.request("POST", f"{ACTORS}/counter/v{(i * 7 + k) % 64}/method/add",
                             body=b'{"by":1}', headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                statuses.append(r.status)
                i += 1
            conn.close()

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(statuses) > 200, scaled(10), "calls flowing")
            n3 = self.c.add(3).start().wait_ready()
            self.nodes.append(n3)
            wait_until(lambda: self.c.all_see(["n1", "n2", "n3"], "alive"), scaled(20),
                       "n3 alive everywhere")
            before = len(statuses)
            wait_until(lambda: len(statuses) > before + 200, scaled(10), "calls after the join")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertTrue(set(statuses) <= {200, 503}, sorted(set(statuses)))
        self.assertGreater(statuses.count(200), 0.9 * len(statuses))
        forwarded_to_n3 = n3.metric("shoal_rpc_requests_total")
        self.assertGreater(forwarded_to_n3, 0)
        for node in self.nodes:
            self.assertEqual(invoke(node, "counter", "after", "add")[0], 200)


class TestPlugin(unittest.TestCase):
    """The example plugin (examples/bank_account.c) loads and answers."""

    @classmethod
    def setUpClass(cls):
        cls.plugin = os.environ.get("SHOAL_EXAMPLE_PLUGIN", "")
        if not os.path.exists(cls.plugin):
            raise AssertionError(f"SHOAL_EXAMPLE_PLUGIN is not a file: {cls.plugin!r}")
        cls.c = Cluster(18130, "plugin")
        try:
            cls.n = cls.c.add(1, args=["--plugin", cls.plugin]).start().wait_ready()
        except BaseException:
            cls.c.close()
            raise

    @classmethod
    def tearDownClass(cls):
        stop_cluster(cls.c)

    def test_bank(self):
        n = self.n
        self.assertEqual(invoke(n, "bank", "alice", "deposit", {"amount": 50}),
                         (200, {"balance": 50}))
        self.assertEqual(invoke(n, "bank", "alice", "withdraw", {"amount": 20}),
                         (200, {"balance": 30}))
        st, doc = invoke(n, "bank", "alice", "withdraw", {"amount": 31})
        self.assertEqual((st, doc), (409, {"errorCode": "conflict",
                                           "message": "insufficient funds"}))
        self.assertEqual(invoke(n, "bank", "alice", "balance"), (200, {"balance": 30}))
        self.assertTrue(n.log_grep("plugin_loaded"))

    def test_bad_plugin_fails_start(self):
        bad = self.c.add(2, args=["--plugin", "/nonexistent/libnope.so"], seeds=[])
        bad.start()
        self.assertEqual(bad.proc.wait(timeout=scaled(10)), 1)
        lines = bad.log_grep("node_start_failed", "what=plugin")
        self.assertTrue(lines, bad.log_text()[-2000:])
        self.assertIn("/nonexistent/libnope.so", lines[0])
        del self.c.nodes[bad.id]  # its exit status 1 is the point, not a shutdown problem


if __name__ == "__main__":
    main()
