#!/usr/bin/env python3
"""The native client (include/shoal/client.h) against real shoald processes.

The checks themselves are in client_smoke.c (a C API is tested from C);
this file starts two nodes with the harness and runs client_smoke's modes
against them: concurrent adds through one client (to a node that owns the
counter's shard or forwards it), the async form, error codes, an
unreachable node, and a client with the wrong secret.

Run one class: python3 test_client.py TestClient (ctest does this, with
SHOALD and SHOAL_CLIENT_SMOKE set).
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoal_harness import SECRET, Cluster, binary, main, scaled, wait_until  # noqa: E402


def smoke(*args, secret=SECRET, timeout=60):
    env = dict(os.environ)
    env["SHOAL_SECRET"] = secret
    return subprocess.run([binary("SHOAL_CLIENT_SMOKE"), *map(str, args)],
                          capture_output=True, text=True, timeout=scaled(timeout), env=env)


class TestClient(unittest.TestCase):
    """Two nodes, two workers each, --debug-faults (for debug/sleep)."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(18800, "client")
        try:
            cls.nodes = [cls.c.add(i, args=["--workers", "2", "--debug-faults"]).start()
                         for i in (1, 2)]
            for n in cls.nodes:
                n.wait_ready()
            wait_until(lambda: cls.c.all_see(["n1", "n2"], "alive"), scaled(20),
                       "n1 and n2 alive everywhere")
        except BaseException:
            cls.c.close()
            raise

    @classmethod
    def tearDownClass(cls):
        problems = cls.c.shutdown()
        if problems:
            raise AssertionError("at shutdown: " + "; ".join(problems))

    def run_ok(self, *args, **kw):
        r = smoke(*args, **kw)
        self.assertEqual(r.returncode, 0, f"client_smoke {args}:\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def test_concurrent_adds_through_each_node(self):
        # Same counter through both nodes: one of them forwards.  4 threads
        # x 250 adds share one client per node.
        finals = []
        for i, n in enumerate(self.nodes):
            out = self.run_ok("add", n.addr, "smoke-c1", 250, 4)
            finals.append(int(out.split("final=")[1].split()[0]))
        self.assertEqual(finals, [1000, 2000])

    def test_async_window(self):
        out = self.run_ok("async", self.nodes[1].addr, "smoke-async", 500, 32)
        self.assertIn("final=500", out)

    def test_error_codes(self):
        self.run_ok("errors", self.nodes[0].addr)

    def test_unreachable_node(self):
        # A port in this class's range that nobody listens on.
        self.run_ok("unreachable", f"127.0.0.1:{self.c.base + 9}", 500)

    def test_timeout_and_free_with_calls_in_flight(self):
        self.run_ok("slow", self.nodes[0].addr)

    def test_wrong_secret_is_refused(self):
        out = self.run_ok("refused", self.nodes[0].addr, secret="not-the-secret")
        self.assertIn("auth", out)
        # The node logged the refusal of a client, not of a member.
        wait_until(lambda: self.nodes[0].log_grep("frame_refused", "reason=auth"),
                   scaled(5), "n1 logged frame_refused reason=auth")


if __name__ == "__main__":
    main()
