#!/usr/bin/env python3
"""bench/membership.py BUILD_DIR [--trials N] [--pause-trials N] [--window S]

Membership figures on a 5-node loopback cluster of real shoald processes:

  * failure detection: kill -9 of one node (rotating) -> every survivor
    reports it `dead` (polled every 50 ms); median and max over N trials,
    then the restart -> `alive` everywhere again (rejoin time);
  * false positives: SIGSTOP one node for 3 s, then SIGCONT, polling every
    member list for 8 s; the count of `dead` reports must be 0;
  * gossip cost: shoal_gossip_bytes_total{dir="out"|"in"} deltas over a
    quiet window (default 30 s), per member per second.

Writes (or replaces) the `## Membership` section of bench/RESULTS.md.
Speed figures live here, never as assertions in tests.  Uses the
integration harness (tests/integration/shoal_harness.py) for process
control, so the nodes run exactly as in the tests.
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import shoal_harness as h  # noqa: E402

IDS = ["n1", "n2", "n3", "n4", "n5"]
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")


def detect_trial(c, nodes, victim):
    survivors = [n for n in nodes if n is not victim]
    h.wait_until(lambda: c.all_see(IDS, "alive"), h.scaled(20), "all alive before the trial")
    t0 = time.monotonic()
    victim.kill()
    seen = {}

    def all_dead():
        for s in survivors:
            if s.id in seen:
                continue
            m = s.members(timeout=1) or {}
            if m.get(victim.id, {}).get("state") == "dead":
                seen[s.id] = time.monotonic() - t0
        return len(seen) == len(survivors)

    h.wait_until(all_dead, h.scaled(30), f"{victim.id} dead everywhere", interval=0.05)
    detect = max(seen.values())
    t1 = time.monotonic()
    victim.start().wait_ready()
    h.wait_until(lambda: c.all_see(IDS, "alive"), h.scaled(30), f"{victim.id} back alive",
                 interval=0.05)
    return detect, time.monotonic() - t1


def pause_trial(c, nodes, victim, pause_s=3.0, after_s=5.0):
    """Returns (false dead reports, suspect reports, polls)."""
    others = [n for n in nodes if n is not victim]
    h.wait_until(lambda: c.all_see(IDS, "alive"), h.scaled(20), "all alive before the pause")
    dead = suspect = polls = 0
    resumed = False
    t0 = time.monotonic()
    victim.pause()
    try:
        while time.monotonic() - t0 < pause_s + after_s:
            if not resumed and time.monotonic() - t0 >= pause_s:
                victim.resume()
                resumed = True
            for v in (nodes if resumed else others):
                for m in (v.members(timeout=1) or {}).values():
                    dead += m["state"] == "dead"
                    suspect += m["state"] == "suspect"
            polls += 1
            time.sleep(0.1)
    finally:
        if not resumed:
            victim.resume()
    return dead, suspect, polls


def gossip_rate(nodes, window_s):
    def totals():
        out = {}
        for n in nodes:
            m = n.metrics() or {}
            out[n.id] = (h.metric_value(m, "shoal_gossip_bytes_total", dir="out") or 0,
                         h.metric_value(m, "shoal_gossip_bytes_total", dir="in") or 0)
        return out
    a, t0 = totals(), time.monotonic()
    time.sleep(window_s)  # a measurement window, not synchronisation
    b, dt = totals(), time.monotonic() - t0
    outs = [(b[i][0] - a[i][0]) / dt for i in a]
    ins = [(b[i][1] - a[i][1]) / dt for i in a]
    return statistics.mean(outs), statistics.mean(ins), dt


def write_results(section):
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.strip() == "## Membership"), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        text = "".join(lines[:start]) + section + ("\n" if end < len(lines) else "") + \
            "".join(lines[end:])
    with open(RESULTS, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--pause-trials", type=int, default=3)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    os.environ.setdefault("SHOALD", os.path.join(build, "node", "shoald"))
    os.environ.setdefault("SHOALCTL", os.path.join(build, "cli", "shoalctl"))

    c = h.Cluster(17900, "bench-membership")
    ok = False
    try:
        nodes = [c.add(i) for i in range(1, 6)]
        for n in nodes:
            n.start()
        for n in nodes:
            n.wait_ready()
        h.wait_until(lambda: c.all_see(IDS, "alive"), h.scaled(20), "5 nodes alive")

        out_rate, in_rate, window = gossip_rate(nodes, args.window)
        print(f"gossip: {out_rate:.0f} B/s out, {in_rate:.0f} B/s in per member "
              f"over {window:.1f}s", flush=True)

        detects, rejoins = [], []
        for t in range(args.trials):
            victim = nodes[1 + t % 4]  # n2..n5: keep n1, the usual seed, for reading
            d, r = detect_trial(c, nodes, victim)
            detects.append(d)
            rejoins.append(r)
            print(f"trial {t + 1}/{args.trials}: kill -9 {victim.id}: dead everywhere "
                  f"after {d:.2f}s, alive again {r:.2f}s after restart", flush=True)

        false_dead = suspects = polls = 0
        for t in range(args.pause_trials):
            victim = nodes[1 + t % 4]
            d, s, p = pause_trial(c, nodes, victim)
            false_dead, suspects, polls = false_dead + d, suspects + s, polls + p
            print(f"pause {t + 1}/{args.pause_trials}: SIGSTOP {victim.id} 3s: {d} dead "
                  f"reports, {s} suspect reports in {p} polls", flush=True)
        ok = True
    finally:
        c.close()
        h._reap_all()
        if not ok:
            c.dump_logs()

    nproc = os.cpu_count()
    section = (
        "## Membership\n\n"
        f"Date: {datetime.date.today().isoformat()}; machine: {platform.machine()}, "
        f"nproc={nproc}, {platform.system()} {platform.release()}; "
        f"5 shoald on loopback, probe interval 1000 ms, probe timeout 500 ms, "
        f"suspicion mult 4{', ASan build' if h.SANITIZED else ''}.\n\n"
        f"Command: `python3 bench/membership.py {args.build} --trials {args.trials} "
        f"--pause-trials {args.pause_trials} --window {args.window:g}`\n\n"
        "| figure | value |\n| --- | --- |\n"
        f"| kill -9 → dead in every survivor's view (poll 50 ms), {len(detects)} trials | "
        f"median {statistics.median(detects):.2f} s, max {max(detects):.2f} s, "
        f"min {min(detects):.2f} s |\n"
        f"| restart (same id, same data) → alive everywhere | "
        f"median {statistics.median(rejoins):.2f} s, max {max(rejoins):.2f} s |\n"
        f"| SIGSTOP 3 s, {args.pause_trials} trials ({polls} polls of all views) | "
        f"false `dead`: {false_dead}; `suspect` reports: {suspects} |\n"
        f"| gossip bytes per member per second (quiet, {window:.0f} s window) | "
        f"out {out_rate:.0f} B/s, in {in_rate:.0f} B/s |\n")
    print()
    print(section)
    if not args.no_write:
        write_results(section)
        print(f"updated {RESULTS}")
    shutil.rmtree(c.dir, ignore_errors=True)
    return 0 if false_dead == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
