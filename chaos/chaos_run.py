#!/usr/bin/env python3
"""chaos_run - a seeded chaos run against 5 real shoald processes.

    chaos_run.py --shoald PATH [--duration S] [--seed N] [--mode short|long]
    chaos_run.py --check-only HISTORY.jsonl     (re-check a saved run)
    chaos_run.py --plan-only --seed N ...       (print the schedule only)

Starts n1..n5 on 127.0.0.1..5 (cluster port --port-base, HTTP port + 1,
--debug-faults on), waits until every node lists all five alive, then
plays the nemesis plan drawn from the seed (nem.py) for --duration
seconds while one thread per node polls its member list every 250 ms into
the history (chaos_hist.py).  Before an episode that starts on a healthy
cluster it waits for the views to agree (a failed wait is a convergence
violation).  At the end it undoes every fault (final heal), waits for
agreement, stops every node with SIGTERM, scans the logs, runs the
checkers (chk.py, plus the workload's) and prints a summary table.

Exit status: 0 all checkers passed; 1 a violation (the seed is printed
with the command that replays it); 2 the harness itself failed (the
cluster never formed, bad arguments).  The run directory (node logs, data,
history.jsonl) is removed on success unless --keep, kept on failure.

Under sanitizers (SHOAL_SANITIZED=1) every bound is scaled x3 (the pause
length is not: it is what the cluster must tolerate).
"""

import argparse
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import chaos_hist  # noqa: E402
import chaos_workload  # noqa: E402
import chk  # noqa: E402
import nem  # noqa: E402
import shoal_harness as h  # noqa: E402

IDS = ["n1", "n2", "n3", "n4", "n5"]
LOG_PROBLEM_RE = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                            r"SUMMARY: UndefinedBehaviorSanitizer|assertion failed")


class Ctx:
    """What nemeses and workloads may touch: the nodes, the history, and
    the bookkeeping of which processes are meant to be running."""

    def __init__(self, cluster, hist, poller):
        self.cluster = cluster
        self.hist = hist
        self.poller = poller
        self.nodes = cluster.nodes
        self.expected_up = set(self.nodes)

    def node(self, nid):
        return self.nodes[nid]

    @staticmethod
    def scaled(s):
        return h.scaled(s)

    def max_incarnation(self, nid):
        """Highest incarnation of `nid` in any viewer's latest answered view."""
        best = -1
        for viewer in self.nodes:
            ev = self.hist.latest(viewer)
            if ev and ev["members"] and nid in ev["members"]:
                best = max(best, ev["members"][nid][1])
        return best

    def expect_down(self, nid):
        self.expected_up.discard(nid)

    def restart(self, node):
        """Start `node` again (same id, same data dir); True once it serves."""
        node.start()
        self.expected_up.add(node.id)
        try:
            node.wait_ready(timeout=h.scaled(10))
            return True
        except (h.WaitTimeout, h.Fatal):
            self.check_crashes()
            return False

    def fault(self, nid, body):
        status, _, _ = self.node(nid).post("/v1/debug/fault", body, timeout=1.0)
        return status

    def check_crashes(self):
        """Record (once) every process that exited while meant to be up."""
        for nid in sorted(self.expected_up):
            p = self.nodes[nid].proc
            if p is not None and p.poll() is not None:
                self.expected_up.discard(nid)
                self.hist.add("exit", node=nid, rc=p.returncode, why="crashed")
                print(f"[t={self.hist.now():7.2f}] {nid} EXITED unasked, status {p.returncode}",
                      flush=True)

    def sleep_until(self, t):
        while True:
            self.check_crashes()
            left = t - self.hist.now()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))


def settle(ctx, bound, before_ep, final=False):
    """Wait until every node answers with all five alive and the same
    incarnations; record a `settled` event either way."""
    t_start = ctx.hist.now()
    while True:
        ctx.check_crashes()
        views = ctx.poller.latest_views(since=t_start)
        if chaos_hist.views_agree(views, IDS):
            ctx.hist.add("settled", ok=True, took=round(ctx.hist.now() - t_start, 3),
                         before_ep=before_ep, final=final)
            return True
        if ctx.hist.now() - t_start > bound:
            ctx.hist.add("settled", ok=False, took=round(ctx.hist.now() - t_start, 3),
                         before_ep=before_ep, final=final, last=views)
            print(f"[t={ctx.hist.now():7.2f}] views did not agree within {bound:.0f}s: {views}",
                  flush=True)
            return False
        time.sleep(0.1)


def play(ctx, eps, duration, converge_s):
    """Run the plan's timeline; no episode starts after `duration` seconds
    of real time, but every started one is healed.  Returns the count of
    episodes started."""
    t_run = ctx.hist.now()
    base = t_run  # history time of virtual time 0; moves later after long settles
    started = set()
    for v, what, ep in nem.nem_actions(eps):
        if what == "start":
            if ctx.hist.now() - t_run >= duration:
                continue
            if ep["settle"]:
                settle(ctx, converge_s, ep["ep"])
                base = max(base, ctx.hist.now() - v)
            started.add(ep["ep"])
        elif ep["ep"] not in started:
            continue
        ctx.sleep_until(base + v)
        t0 = ctx.hist.now()
        try:
            fields = (nem.nem_start if what == "start" else nem.nem_heal)(ctx, ep)
        except Exception as e:  # noqa: BLE001 - e.g. the target crashed earlier
            fields = {"error": f"{type(e).__name__}: {e}"}
        ctx.hist.add("nem_" + what, ep=ep["ep"], kind=ep["kind"], targets=ep["targets"],
                     others=ep["others"], t0=t0, **fields)
        extra = " ".join(f"{k}={val}" for k, val in fields.items() if val not in (None, [], {}))
        print(f"[t={t0:7.2f}] {what:5s} #{ep['ep']:<3d} {ep['kind']:7s} "
              f"{','.join(ep['targets'])} {extra}", flush=True)
    return len(started)


def final_heal(ctx):
    """Every process up and running, every fault cleared."""
    for nid, node in ctx.nodes.items():
        if node.running():
            node.proc.send_signal(signal.SIGCONT)
    for nid, node in ctx.nodes.items():
        if not node.running():
            ready = ctx.restart(node)
            print(f"[t={ctx.hist.now():7.2f}] final heal: restarted {nid} (serving={ready})")
    failed = [nid for nid in ctx.nodes if ctx.fault(nid, {"clear": True}) != 200]
    ctx.hist.add("final_heal", api_failed=failed)
    if failed:
        ctx.hist.add("nem_heal", ep=0, kind="clear", targets=failed, others=[], t0=ctx.hist.now(),
                     api_failed=failed)


def shutdown(ctx):
    """SIGTERM every node; record each exit status; scan every log."""
    procs = [(nid, n) for nid, n in ctx.nodes.items() if n.running()]
    for nid, n in procs:
        ctx.expect_down(nid)
        n.proc.send_signal(signal.SIGCONT)
        n.proc.send_signal(signal.SIGTERM)
    for nid, n in procs:
        try:
            rc = n.proc.wait(timeout=h.scaled(15))
            ctx.hist.add("exit", node=nid, rc=rc, why="final")
        except subprocess.TimeoutExpired:
            n.proc.kill()
            n.proc.wait(timeout=10)
            ctx.hist.add("exit", node=nid, rc=None, why="final_timeout")
    for nid, n in ctx.nodes.items():
        for line in n.log_text().splitlines():
            if LOG_PROBLEM_RE.search(line):
                ctx.hist.add("log_problem", node=nid, line=line.strip()[:300])
                break


def run_checks(events, params, workload_cls, warn_only=()):
    """Run and print every checker; True if none failed (a checker named in
    warn_only prints its violations as WARN and does not fail the run)."""
    results = chk.chk_run_all(events, params, workload_cls.checkers())
    unknown = set(warn_only) - {r.name for r in results}
    if unknown:
        print(f"chaos_run: --warn-only names no checker: {sorted(unknown)}", file=sys.stderr)
    for r in results:
        r.warn_only = r.name in warn_only
    print("\n" + chk.chk_table(results))
    for r in (r for r in results if not r.ok):
        print(f"\n{r.name}: {len(r.violations)} violation(s)"
              f"{' (warn only)' if r.warn_only else ''}")
        for line in r.lines()[:30]:
            print(f"  {line}")
        if len(r.violations) > 30:
            print(f"  ... {len(r.violations) - 30} more")
    return not unknown and all(r.ok or r.warn_only for r in results)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shoald", default=os.environ.get("SHOALD"), help="shoald binary")
    ap.add_argument("--duration", type=float, default=40.0, help="seconds of nemeses")
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock")
    ap.add_argument("--mode", choices=("short", "long"), default="short",
                    help="short: one faulty node at a time; long: up to --max-faulty")
    ap.add_argument("--max-faulty", type=int, default=None, help="default 1 short, 2 long")
    ap.add_argument("--kinds", default=None, help="comma list of " +
                    ",".join(k for k, _ in nem.KIND_WEIGHTS))
    ap.add_argument("--hold", action="append", default=[], metavar="KIND=LO:HI",
                    help="override a nemesis hold range in seconds (repeatable); e.g. "
                         "pause=8:10 with --pause-max-s 20 shows no_false_death failing")
    ap.add_argument("--workload", default="membership", choices=sorted(chaos_workload.WORKLOADS))
    ap.add_argument("--port-base", type=int, default=None,
                    help="cluster port (HTTP: +1); default $SHOAL_TEST_PORT_BASE, else 18600")
    ap.add_argument("--detect-s", type=float, default=10.0, help="kill detection bound")
    ap.add_argument("--converge-s", type=float, default=30.0, help="agreement bound")
    ap.add_argument("--pause-max-s", type=float, default=3.0)
    ap.add_argument("--warn-only", action="append", default=[], metavar="CHECKER",
                    help="report this checker's violations without failing (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory on success")
    ap.add_argument("--plan-only", action="store_true", help="print the plan and exit")
    ap.add_argument("--check-only", metavar="HISTORY", help="re-run the checkers on a history")
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = int(time.time() * 1000) % 1000000007
    if a.max_faulty is None:
        a.max_faulty = 1 if a.mode == "short" else 2
    if not 1 <= a.max_faulty <= 2:
        ap.error("--max-faulty must be 1 or 2 (a minority of 5)")
    a.kinds = a.kinds.split(",") if a.kinds else None
    try:
        a.hold = {k: tuple(float(x) for x in r.split(":"))
                  for k, r in (item.split("=", 1) for item in a.hold)}
    except ValueError:
        ap.error("--hold takes KIND=LO:HI")
    for k, r in a.hold.items():
        if k not in nem.HOLD_S or len(r) != 2 or not 0 < r[0] <= r[1]:
            ap.error(f"--hold {k}: want one of {','.join(nem.HOLD_S)} = LO:HI, 0 < LO <= HI")
    return a


def check_only(a):
    events = chaos_hist.load(a.check_only)
    run = next(e for e in events if e["type"] == "run")
    ok = run_checks(events, run["params"], chaos_workload.WORKLOADS[run["workload"]],
                    a.warn_only)
    print(f"\n{'PASS' if ok else 'FAIL'} seed={run['seed']} (re-checked {a.check_only})")
    return 0 if ok else 1


def main(argv):
    a = parse_args(argv)
    if a.check_only:
        return check_only(a)
    print(f"seed={a.seed} mode={a.mode} duration={a.duration:g}s max_faulty={a.max_faulty} "
          f"workload={a.workload} sanitized={int(h.SANITIZED)}", flush=True)
    eps = nem.nem_plan(a.seed, IDS, a.duration, a.max_faulty, kinds=a.kinds, hold=a.hold)
    print(f"plan: {len(eps)} episodes: " +
          " ".join(f"{e['kind']}:{','.join(e['targets'])}" for e in eps), flush=True)
    if a.plan_only:
        return 0
    if not a.shoald or not os.access(a.shoald, os.X_OK):
        print(f"chaos_run: --shoald (or SHOALD) must name the shoald binary (got {a.shoald!r})",
              file=sys.stderr)
        return 2
    os.environ["SHOALD"] = os.path.abspath(a.shoald)
    params = {"ids": IDS, "detect_s": h.scaled(a.detect_s), "converge_s": h.scaled(a.converge_s),
              "pause_max_s": a.pause_max_s}
    cluster = h.Cluster(18600, "chaos")  # SHOAL_TEST_PORT_BASE overrides 18600 ...
    if a.port_base is not None:
        cluster.base = a.port_base  # ... and the flag overrides both
    hist = chaos_hist.History(os.path.join(cluster.dir, "history.jsonl"))
    ok = False
    try:
        ok = run_cluster(a, cluster, hist, params, eps)
    finally:
        cluster.close()
        hist.close()
    if ok and not a.keep:
        shutil.rmtree(cluster.dir, ignore_errors=True)
    else:
        print(f"run directory (logs, data, history.jsonl): {cluster.dir}")
    if ok is None:
        return 2
    if not ok:
        argv = sys.argv[1:] + ([] if "--seed" in sys.argv else ["--seed", str(a.seed)])
        print(f"\nFAIL seed={a.seed}: replay with\n  {shlex.join(sys.argv[:1] + argv)}")
        return 1
    print(f"\nPASS seed={a.seed}")
    return 0


def run_cluster(a, cluster, hist, params, eps):
    """Form the cluster, play, heal, stop, check.  True/False: the checkers'
    verdict; None: the cluster never formed."""
    wl_cls = chaos_workload.WORKLOADS[a.workload]
    nodes = [cluster.add(i, args=["--debug-faults"]) for i in range(1, len(IDS) + 1)]
    poller = chaos_hist.Poller(hist, nodes)
    ctx = Ctx(cluster, hist, poller)
    workload = wl_cls(ctx, random.Random(a.seed ^ 0x5EED))
    params.update(workload.extra_params())
    hist.add("run", seed=a.seed, mode=a.mode, duration=a.duration, workload=a.workload,
             params=params, plan=eps, sanitized=h.SANITIZED)
    for n in nodes:
        n.start()
    poller.start()
    try:
        for n in nodes:
            n.wait_ready(timeout=h.scaled(10))
        if not settle(ctx, h.scaled(a.converge_s), before_ep=0):
            print("chaos_run: the cluster never formed (see the logs)", file=sys.stderr)
            cluster.dump_logs(30)
            return None
        print(f"[t={hist.now():7.2f}] cluster formed: all five alive everywhere", flush=True)
        workload.start()
        n_started = play(ctx, eps, a.duration, h.scaled(a.converge_s))
        final_heal(ctx)
        settle(ctx, h.scaled(a.converge_s), before_ep=None, final=True)
        print(f"[t={hist.now():7.2f}] final heal done; {n_started} of {len(eps)} planned "
              "episodes played", flush=True)
        workload.stop()
    finally:
        poller.stop()
        shutdown(ctx)
    return run_checks(hist.snapshot(), params, wl_cls, a.warn_only)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
