#!/usr/bin/env python3
"""shoalctl against a real 2-node cluster: tables, -o json, flags in either
position, SHOAL_NODE, exit codes and one-line errors."""

import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoal_harness import Cluster, main, run_tool, scaled, wait_until  # noqa: E402


def ctl(*args, env=None):
    if env is None:
        return run_tool("SHOALCTL", *args)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_tool("SHOALCTL", *args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class TestCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(17700, "cli")
        try:
            cls.n1 = cls.c.add(1).start()
            cls.n2 = cls.c.add(2).start()
            cls.n1.wait_ready()
            cls.n2.wait_ready()
            wait_until(lambda: cls.c.all_see(["n1", "n2"], "alive"), scaled(15),
                       "n1 and n2 alive in both views")
            # health exits 0 only when ready; wait for that, not for a time.
            wait_until(lambda: cls.n1.get("/readyz")[0] == 200, scaled(15), "n1 ready")
        except BaseException:
            cls.c.close()
            raise

    @classmethod
    def tearDownClass(cls):
        problems = cls.c.shutdown()
        if problems:
            raise AssertionError("at shutdown: " + "; ".join(problems))

    def test_members_table(self):
        r = ctl("--node", self.n1.http, "members")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "ADDR", "STATE", "INCARNATION", "SINCE"])
        rows = [ln.split() for ln in lines[1:]]
        self.assertEqual([row[0] for row in rows], ["n1", "n2"])
        self.assertEqual([row[1] for row in rows], [self.n1.addr, self.n2.addr])
        self.assertEqual([row[2] for row in rows], ["alive", "alive"])
        # Columns are aligned: every row's ADDR starts where the header's does.
        col = lines[0].index("ADDR")
        for ln in lines[1:]:
            self.assertEqual(ln[col - 2:col], "  ")
            self.assertNotEqual(ln[col], " ")

    def test_members_json_is_the_api_document(self):
        r = ctl("members", "-o", "json", "--node", self.n2.http)  # flags after the command
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["self"], "n2")
        self.assertEqual(sorted(m["id"] for m in doc["members"]), ["n1", "n2"])
        api = self.n2.get("/v1/cluster/members")[1]
        self.assertEqual(set(doc), set(api))

    def test_node_from_environment(self):
        r = ctl("-o", "json", "members", env={"SHOAL_NODE": self.n1.http})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["self"], "n1")

    def test_health(self):
        r = ctl("--node", self.n1.http, "health")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), ["healthz: ok (n1)", "readyz:  ready"])
        r = ctl("--node=" + self.n1.http, "health", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["healthz"]["status"], "ok")
        self.assertEqual(doc["readyz"]["status"], "ready")

    def test_unreachable_node(self):
        port = free_port("127.0.0.1")
        r = ctl("--node", f"127.0.0.1:{port}", "members")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith(f"shoalctl: cannot reach 127.0.0.1:{port}: "),
                        lines[0])

    def test_usage_errors(self):
        for args in (["bogus"], [], ["-o", "yaml", "members"], ["--frobnicate", "members"],
                     ["members", "extra"]):
            r = ctl("--node", self.n1.http, *args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
            self.assertTrue(r.stderr.startswith(("shoalctl: ", "usage: ")), r.stderr)
        r = ctl("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("members", r.stdout)


if __name__ == "__main__":
    main()
