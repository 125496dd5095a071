#!/usr/bin/env python3
"""bench/persist.py BUILD_DIR [--seconds S] [--trials N] [--no-write]

Persistence figures, all with --sync full on this machine's disk (data in
a fresh directory under bench/.. /.bench-data, not /tmp):

  * bench_journal: durable appends/s straight into the journal - the
    baseline of one append per write transaction + sync, one submitter
    through the group-commit writer, 64 concurrent entities - and recovery
    time of one entity with 1,000,000 events with and without a snapshot;
  * bench_durable: durable turns/s through the whole runtime in one
    process (workers, turns, output gates, group commit, LMDB), for one
    entity with 1 and 64 calls outstanding (is one entity's throughput
    bounded by the sync latency?) and 64 entities x 16 outstanding (the
    node's durable events/s);
  * HTTP, one real shoald: cart AddItem p50/p99 with 1 caller and with 16
    callers (each its own cart), and 16 callers on one counter.

Each configuration runs --trials times; medians are reported.  Writes (or
replaces) the `## Persistence` section of bench/RESULTS.md.  Speed figures
live here, never as assertions in tests.
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import shoal_harness as h  # noqa: E402
from entities import run_json, write_results  # noqa: E402

LOAD_AT_START = os.getloadavg()[0]


def scratch():
    base = os.path.join(ROOT, ".bench-data")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="persist-", dir=base)


def journal_bench(build):
    d = scratch()
    try:
        r = subprocess.run([os.path.join(build, "bench", "bench_journal"), "--dir", d,
                            "--secs", "3"], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
        print(r.stdout, flush=True)
        out = {}
        for key, pat in (("baseline", r"\(c\).*?\s(\d+)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)"),
                         ("one", r"\(a\).*?\s(\d+)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)"),
                         ("many", r"\(b\).*?\s(\d+)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)")):
            m = re.search(pat, r.stdout)
            out[key] = (int(m.group(1)), float(m.group(2)), float(m.group(3)))
        m = re.search(r"no snapshot\s+([\d.]+) ms", r.stdout)
        out["rec_full_ms"] = float(m.group(1))
        m = re.search(r"snapshot at \d+\s+([\d.]+) ms", r.stdout)
        out["rec_snap_ms"] = float(m.group(1))
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def durable(build, ents, window, secs, trials):
    docs = []
    for _ in range(trials):
        d = scratch()
        try:
            docs.append(run_json([os.path.join(build, "bench", "bench_durable"), d, str(ents),
                                  str(window), str(secs)], secs * 4 + 60))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return {k: statistics.median(x[k] for x in docs)
            for k in ("events_per_s", "mean_batch", "mean_sync_us", "p50_us", "p99_us")}


def http_runs(build, secs, trials):
    bench = os.path.join(build, "bench", "bench_invoke")
    c = h.Cluster(19400, "bench-persist")
    n = c.add(1, args=["--sync", "full"]).start().wait_ready()
    out = {}
    try:
        for name, threads, env in (("cart1", 1, {"BENCH_CART": "1"}),
                                   ("cart16", 16, {"BENCH_CART": "1"}),
                                   ("shared16", 16, {"BENCH_SHARED": "1"})):
            os.environ.update(env)
            try:
                run_json([bench, "http", n.http, str(threads), "1", "1"], 60)  # warm-up
                docs = [run_json([bench, "http", n.http, str(threads), str(secs), "1"],
                                 secs * 4 + 60) for _ in range(trials)]
            finally:
                for k in env:
                    os.environ.pop(k, None)
            out[name] = {k: statistics.median(d[k] for d in docs)
                         for k in ("calls_per_s", "p50_us", "p99_us", "errors")}
        m = n.metrics()
        cnt = h.metric_value(m, "shoal_journal_sync_seconds_count") or 0
        tot = h.metric_value(m, "shoal_journal_sync_seconds_sum") or 0
        out["sync_ms"] = 1000 * tot / cnt if cnt else 0
    finally:
        c.shutdown()
        shutil.rmtree(c.dir, ignore_errors=True)
    return out


def section(args, jb, d1, d64, dn, hr):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ms = lambda us: f"{us / 1000:.2f}"  # noqa: E731
    s = "## Persistence\n\n"
    s += (f"`python3 bench/persist.py {args.build} --seconds {args.seconds:g} --trials "
          f"{args.trials}` on {now}, {platform.machine()}, {os.cpu_count()} cores, load "
          f"{LOAD_AT_START:.2f} at start; `--sync full` on the machine's disk (virtio); "
          "medians of the trials.\n\n")
    s += "| journal (`bench_journal`, 64-byte events) | events/s | × baseline | p50 ms | p99 ms |\n"
    s += "| --- | --- | --- | --- | --- |\n"
    b = jb["baseline"][0]
    for key, label in (("baseline", "baseline: one append per transaction + sync"),
                       ("one", "writer thread, 1 submitter, one at a time"),
                       ("many", "writer thread, 64 entities at once (group commit)")):
        ev, p50, p99 = jb[key]
        s += f"| {label} | {ev:,} | {ev / b:.1f} | {p50:.2f} | {p99:.2f} |\n"
    s += "\n| runtime (`bench_durable`: workers + output gates + group commit) | durable events/s | mean batch | mean sync ms | reply p50 ms | p99 ms |\n"
    s += "| --- | --- | --- | --- | --- | --- |\n"
    for label, d in (("1 entity, 1 call outstanding", d1),
                     ("1 entity, 64 calls outstanding", d64),
                     ("64 entities × 16 calls outstanding", dn)):
        s += (f"| {label} | {d['events_per_s']:,.0f} | {d['mean_batch']:.0f} | "
              f"{ms(d['mean_sync_us'])} | {ms(d['p50_us'])} | {ms(d['p99_us'])} |\n")
    s += "\n| HTTP, one shoald | calls/s | p50 ms | p99 ms |\n| --- | --- | --- | --- |\n"
    for key, label in (("cart1", "cart AddItem, 1 caller"),
                       ("cart16", "cart AddItem, 16 callers (16 carts)"),
                       ("shared16", "counter add, 16 callers on ONE counter")):
        r = hr[key]
        s += f"| {label} | {r['calls_per_s']:,.0f} | {ms(r['p50_us'])} | {ms(r['p99_us'])} |\n"
    s += (f"\nRecovery of one entity with 1,000,000 events: {jb['rec_full_ms']:.0f} ms from the "
          f"full journal, {jb['rec_snap_ms']:.2f} ms from a snapshot + 1,000-event tail.\n\n")
    bound = d1["events_per_s"]  # one call at a time: one commit + sync per turn
    s += (f"Aims: ≥ 100,000 durable events/s per node — {dn['events_per_s']:,.0f}/s through the "
          f"runtime in one process (the HTTP front end, not the journal, limits a real node: "
          f"see Entities). Per-entity throughput not bounded by the sync latency — one entity "
          f"with 64 calls outstanding commits {d64['events_per_s']:,.0f} events/s, "
          f"{d64['events_per_s'] / bound if bound else 0:.0f}× the {bound:,.0f}/s it gets with "
          f"one call at a time, i.e. one commit + sync per turn; over HTTP, 16 "
          f"callers on one counter get {hr['shared16']['calls_per_s']:,.0f} calls/s with a "
          f"mean sync of {hr['sync_ms']:.2f} ms. Each commit costs two flushes with "
          "`--sync full` (data pages in the commit, the meta page in the sync: "
          "`MDB_NOMETASYNC`), so a power loss cannot leave a meta page pointing at unwritten "
          "pages.\n")
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    os.environ["SHOALD"] = os.path.join(args.build, "node", "shoald")
    os.environ["SHOALCTL"] = os.path.join(args.build, "cli", "shoalctl")
    jb = journal_bench(args.build)
    d1 = durable(args.build, 1, 1, args.seconds, args.trials)
    d64 = durable(args.build, 1, 64, args.seconds, args.trials)
    dn = durable(args.build, 64, 16, args.seconds, args.trials)
    hr = http_runs(args.build, args.seconds, args.trials)
    text = section(args, jb, d1, d64, dn, hr)
    print(text)
    if not args.no_write:
        write_results(text, "## Persistence")


if __name__ == "__main__":
    main()
