"""shoal_harness - run real shoald processes on loopback for integration tests.

Python 3 standard library only.

Every node nK listens on its own loopback address 127.0.0.K, with the
cluster port at `base` and the HTTP API at `base + 1`; the base differs per
test class, so two test classes can run at once (ctest -j 2).  Each node
has its own data directory and a log file (its stderr) under a temporary
directory that is deleted when the run succeeds and kept, with the tail of
every log printed, when it fails.

Children never outlive the test: they are killed at exit (atexit, and the
callers' try/finally), and each is started with PR_SET_PDEATHSIG so that
even a SIGKILL of the test runner (a ctest timeout) takes them down.

Synchronisation is always `wait_until(cond, timeout, what)`: a poll with a
deadline, never a bare sleep.  Under ASan (SHOAL_SANITIZED=1) the daemon is
slower, so every timeout goes through `scaled()`.

Paths come from the environment (set by tests/integration/CMakeLists.txt):
SHOALD, SHOALCTL, SHOAL_INJECT.
"""

import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SANITIZED = os.environ.get("SHOAL_SANITIZED", "") not in ("", "0")
SCALE = 3.0 if SANITIZED else 1.0
SECRET = "integration-secret"

SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
_children = []   # every Popen we started, for the atexit reaper
_clusters = []   # every Cluster, to print logs on failure


def scaled(seconds):
    """A timeout in seconds, stretched under sanitizers."""
    return seconds * SCALE


def binary(name):
    """Path of a built binary from the environment; fail loudly if unset."""
    path = os.environ.get(name)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"{name} is not set to an executable (got {path!r}); "
                           "run through ctest or export it")
    return path


def _reap_all():
    for p in _children:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


atexit.register(_reap_all)


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: the kernel sends SIGKILL to the child when the
    # test runner dies, however it dies.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class WaitTimeout(AssertionError):
    pass


class Fatal(AssertionError):
    """Raised by a wait_until condition to stop waiting at once (e.g. the
    process it waits for has exited): waiting longer cannot help."""


def wait_until(cond, timeout, what, interval=0.1):
    """Poll cond() until it returns a truthy value or `timeout` seconds pass.

    Returns that value.  On timeout raises WaitTimeout naming `what` and the
    last value (or exception) seen, so a failure says what was expected.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = cond()
            if last:
                return last
        except Fatal:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}; "
                              f"last: {last!r}")
        time.sleep(interval)


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels.items())): value}."""
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = frozenset(label_re.findall(m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            continue
    return out


def metric_value(metrics, name, **labels):
    """Sum of every series `name` whose labels include `labels`; None if no
    such series exists (so a missing metric is not mistaken for 0)."""
    want = set(labels.items())
    vals = [v for (n, ls), v in metrics.items() if n == name and want <= set(ls)]
    return sum(vals) if vals else None


class Node:
    """One shoald process nK on 127.0.0.K."""

    def __init__(self, cluster, idx, node_id=None, ip=None, args=(), env=None,
                 seeds=None):
        self.cluster = cluster
        self.idx = idx
        self.id = node_id or f"n{idx}"
        self.ip = ip or f"127.0.0.{idx}"
        self.addr = f"{self.ip}:{cluster.base}"
        self.http = f"{self.ip}:{cluster.base + 1}"
        self.data = os.path.join(cluster.dir, self.id)
        self.log_path = os.path.join(cluster.dir, f"{self.id}.log")
        self.args = list(args)
        self.env = dict(env or {})
        self.seeds = seeds
        self.proc = None
        self.starts = 0

    # -- process control -------------------------------------------------
    def start(self):
        assert self.proc is None or self.proc.poll() is not None, f"{self.id} already running"
        seeds = self.seeds if self.seeds is not None else self.cluster.seeds_for(self)
        cmd = [binary("SHOALD"), "--id", self.id, "--bind", self.addr,
               "--http", self.http, "--data", self.data,
               "--probe-interval", "1000", "--probe-timeout", "500",
               "--suspicion-mult", "4"]
        if seeds:
            cmd += ["--seeds", ",".join(seeds)]
        cmd += self.args
        env = dict(os.environ)
        env.setdefault("SHOAL_SECRET", SECRET)
        env.update(self.env)
        log = open(self.log_path, "ab")
        self.starts += 1
        log.write(f"=== harness: start #{self.starts}: {' '.join(cmd)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, env=env, preexec_fn=_die_with_parent)
        log.close()
        _children.append(self.proc)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        assert self.running(), f"{self.id} is not running"
        self.proc.send_signal(sig)

    def kill(self):
        """kill -9; returns once the process is gone."""
        self.signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def pause(self):
        self.signal(signal.SIGSTOP)

    def resume(self):
        self.signal(signal.SIGCONT)

    def terminate(self, timeout=None):
        """SIGTERM; waits for the exit and returns the exit status."""
        self.signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout or scaled(15))

    def wait_ready(self, timeout=None):
        """Until /healthz answers 200 (the process is serving)."""
        def ok():
            if not self.running():
                raise Fatal(f"{self.id} exited with status {self.proc.returncode} "
                            f"before serving (see {self.log_path})")
            return self.get("/healthz", timeout=1)[0] == 200
        wait_until(ok, timeout or scaled(10), f"{self.id} /healthz 200")
        return self

    # -- HTTP ----------------------------------------------------------------
    def request(self, method, path, body=None, timeout=2.0):
        """(status, parsed JSON or None, raw bytes); status None if unreachable."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{self.http}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout * SCALE) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError):
            return None, None, None
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return status, doc, raw

    def get(self, path, timeout=2.0):
        return self.request("GET", path, timeout=timeout)

    def post(self, path, body=None, timeout=2.0):
        return self.request("POST", path, body=body, timeout=timeout)

    def members(self, timeout=2.0):
        """{id: member dict} as this node sees it, or None if unreachable."""
        status, doc, _ = self.get("/v1/cluster/members", timeout=timeout)
        if status != 200 or not isinstance(doc, dict):
            return None
        return {m["id"]: m for m in doc.get("members", [])}

    def metrics(self):
        status, _, raw = self.get("/metrics")
        if status != 200:
            return None
        return parse_metrics(raw.decode("utf-8", "replace"))

    def metric(self, name, **labels):
        m = self.metrics()
        return None if m is None else metric_value(m, name, **labels)

    # -- logs ----------------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_grep(self, event, *substrings, **fields):
        """Log lines carrying `event` as a word, every substring, and every
        k=v field (values compared unquoted)."""
        out = []
        ev_re = re.compile(r'(^|\s)' + re.escape(event) + r'(\s|$)')
        for line in self.log_text().splitlines():
            if not ev_re.search(line) and f'"event":"{event}"' not in line:
                continue
            if not all(s in line for s in substrings):
                continue
            if all(re.search(rf'(^|\s){re.escape(k)}="?{re.escape(str(v))}"?(\s|$)', line)
                   for k, v in fields.items()):
                out.append(line)
        return out


class Cluster:
    """A set of nodes under one temp dir and one port base."""

    def __init__(self, base, name="cluster"):
        self.base = int(os.environ.get("SHOAL_TEST_PORT_BASE", base))
        self.dir = tempfile.mkdtemp(prefix=f"shoal-{name}-")
        self.nodes = {}
        _clusters.append(self)

    def add(self, idx, **kw):
        n = Node(self, idx, **kw)
        self.nodes[n.id] = n
        return n

    def seeds_for(self, node):
        """Every other node of the first five: a restarted node finds the
        cluster whichever of them is down."""
        return [n.addr for n in self.nodes.values()
                if n is not node and n.idx <= 5 and n.seeds is None]

    def running(self):
        return [n for n in self.nodes.values() if n.running()]

    def views(self, nodes=None, timeout=2.0):
        """{viewer id: {member id: member}} for the given (default: running)
        nodes; a node that does not answer maps to None."""
        return {n.id: n.members(timeout=timeout) for n in (nodes or self.running())}

    def all_see(self, ids, state, viewers=None):
        """True if every viewer answers and reports each of `ids` in `state`."""
        for v in (viewers or self.running()):
            m = v.members()
            if m is None or any(i not in m or m[i]["state"] != state for i in ids):
                return False
        return True

    def shutdown(self):
        """SIGTERM every running node (resuming paused ones), wait, and return
        a list of problems: a non-zero exit status (a leak or crash under
        ASan ends that way) or a sanitizer report in any node's log.  Nodes
        that do not stop in time are killed and reported."""
        problems = []
        for n in self.running():
            n.proc.send_signal(signal.SIGCONT)
            n.proc.send_signal(signal.SIGTERM)
        for n in self.nodes.values():
            if n.proc is None:
                continue
            try:
                rc = n.proc.wait(timeout=scaled(15))
                if rc not in (0, -signal.SIGKILL):  # -9: killed on purpose by a test
                    problems.append(f"{n.id} exited with status {rc}")
            except subprocess.TimeoutExpired:
                problems.append(f"{n.id} did not stop within {scaled(15):.0f}s of SIGTERM")
        self.close()
        for n in self.nodes.values():
            for line in n.log_text().splitlines():
                if SANITIZER_RE.search(line):
                    problems.append(f"{n.id}: {line.strip()}")
                    break
        return problems

    def close(self):
        """Kill whatever still runs.  The directory stays until main() knows
        whether the run passed (kept, with logs printed, if it failed)."""
        for n in self.nodes.values():
            if n.running():
                try:
                    n.proc.send_signal(signal.SIGCONT)
                    n.proc.kill()
                    n.proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass

    def dump_logs(self, lines=80):
        for n in self.nodes.values():
            text = n.log_text().splitlines()
            print(f"\n----- {n.id} log ({n.log_path}), last {min(lines, len(text))} "
                  f"of {len(text)} lines -----", file=sys.stderr)
            for line in text[-lines:]:
                print(line, file=sys.stderr)
        print(f"----- logs kept in {self.dir} -----", file=sys.stderr)


def run_tool(env_name, *args, timeout=30):
    """Run SHOALCTL / SHOAL_INJECT; returns CompletedProcess (text)."""
    return subprocess.run([binary(env_name), *args], capture_output=True, text=True,
                          timeout=timeout * SCALE)


def main():
    """Run the unittest classes named in argv[1:] (default: all of __main__).
    On success every cluster directory is removed; on failure every node's
    log tail is printed and the directories are kept."""
    import unittest
    loader = unittest.TestLoader()
    names = sys.argv[1:]
    if names:
        suite = unittest.TestSuite(loader.loadTestsFromName(n, sys.modules["__main__"])
                                   for n in names)
    else:
        suite = loader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    ok = result.wasSuccessful()
    _reap_all()
    for c in _clusters:
        if ok:
            shutil.rmtree(c.dir, ignore_errors=True)
        else:
            c.dump_logs()
    sys.exit(0 if ok else 1)
