#!/usr/bin/env python3
"""bench/entities.py BUILD_DIR [--seconds S] [--trials N] [--entities N] [--no-shoald-mem]

Entity-runtime figures:

  * invocations: counter `add` calls per second and p50/p99 latency on a
    3-node loopback cluster of real shoald processes, through the native
    client (bench_invoke native) and the HTTP API (bench_invoke http, C
    keep-alive connections), with 1 and 16 concurrent callers (closed
    loop: each caller waits for its answer before the next call); each
    configuration runs --trials times for --seconds, and the medians are
    reported;
  * local entity-to-entity messages per second on one worker (bench_local
    pingpong: an ask and its reply are two messages), 1 and 64 pairs;
  * activations per second and resident memory per active idle entity at
    --entities entities, in-process on one worker (bench_local activate:
    `null` = the runtime alone, `counter` = plus a counter's state);
  * the same memory figure on a real shoald (1 worker): RSS growth after
    activating --entities counters through the native client.

Writes (or replaces) the `## Entities` section of bench/RESULTS.md.
Speed figures live here, never as assertions in tests.  Process control
comes from the integration harness (tests/integration/shoal_harness.py).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import shoal_harness as h  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
LOAD_AT_START = os.getloadavg()[0]  # other work on a shared box skews every figure
IDS = ["n1", "n2", "n3"]


def run_json(cmd, timeout):
    """Run a bench executable; its last stdout line is one JSON object."""
    env = dict(os.environ, SHOAL_SECRET=h.SECRET)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    print("  " + json.dumps(doc), flush=True)
    return doc


def cpu_of(pid):
    """CPU seconds (user + system) process pid has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start_cluster(base, name, n, args):
    c = h.Cluster(base, name)
    nodes = [c.add(i, args=args) for i in range(1, n + 1)]
    for nd in nodes:
        nd.start()
    for nd in nodes:
        nd.wait_ready()
    ids = [nd.id for nd in nodes]
    h.wait_until(lambda: c.all_see(ids, "alive"), h.scaled(20), f"{ids} alive")
    h.wait_until(lambda: len({json.dumps([s["owner"] for s in nd.get("/v1/cluster/shards")[1]
                                          ["shards"]]) for nd in nodes}) == 1,
                 h.scaled(10), "identical shard tables")
    return c, nodes


def invocations(bench, args):
    """{(proto, threads): median doc} on a 3-node cluster."""
    c, nodes = start_cluster(18900, "bench-entities", 3, [])
    out = {}
    try:
        addrs = {"native": ",".join(n.addr for n in nodes),
                 "http": ",".join(n.http for n in nodes)}
        for proto in ("native", "http"):  # warm-up: activate the callers' entities
            run_json([bench, proto, addrs[proto], "16", "1"], 60)
        for proto in ("native", "http"):
            for threads in (1, 16):
                docs = []
                for _ in range(args.trials):
                    cpu0 = sum(cpu_of(n.proc.pid) for n in nodes)
                    d = run_json([bench, proto, addrs[proto], str(threads), str(args.seconds)],
                                 args.seconds * 4 + 60)
                    d["node_cpu_us_per_call"] = (sum(cpu_of(n.proc.pid) for n in nodes) -
                                                 cpu0) * 1e6 / d["calls"]
                    docs.append(d)
                out[(proto, threads)] = {
                    k: statistics.median(d[k] for d in docs)
                    for k in ("calls_per_s", "p50_us", "p99_us", "errors",
                              "client_cpu_us_per_call", "node_cpu_us_per_call")}
    finally:
        problems = c.shutdown()
        if problems:
            print("shutdown problems: " + "; ".join(problems), file=sys.stderr)
        shutil.rmtree(c.dir, ignore_errors=True)
    return out


def shoald_memory(bench, n):
    """(bytes per entity, activations/s, rss before, rss after) on one shoald."""
    c, nodes = start_cluster(18950, "bench-entities-mem", 1,
                             ["--workers", "1", "--max-active", str(n + 100000),
                              "--idle-timeout", "1h"])
    nd = nodes[0]
    try:
        run_json([bench, "activate", nd.addr, "1000", "256"], 120)  # warm the paths
        before = rss_of(nd.proc.pid)
        doc = run_json([bench, "activate", nd.addr, str(n), "512"], 1800)
        active = nd.metric("shoal_entities_active")
        after = rss_of(nd.proc.pid)
        if active is None or active < n:
            raise RuntimeError(f"only {active} entities active after activating {n}")
        return (after - before) / n, doc["calls_per_s"], before, after
    finally:
        c.shutdown()
        shutil.rmtree(c.dir, ignore_errors=True)


def section(args, inv, pp1, pp64, act_null, act_counter, mem):
    def row(proto, t):
        d = inv[(proto, t)]
        return (f"| {proto}, {t} caller{'s' if t > 1 else ''} | {d['calls_per_s']:,.0f} | "
                f"{d['p50_us'] / 1000:.2f} | {d['p99_us'] / 1000:.2f} | "
                f"{d['client_cpu_us_per_call']:.0f} | {d['node_cpu_us_per_call']:.0f} |\n")
    ratio = "; ".join(f"{t} caller{'s' if t > 1 else ''}: native/http calls/s = "
                      f"{inv[('native', t)]['calls_per_s'] / inv[('http', t)]['calls_per_s']:.2f}"
                      f", p50 http/native = "
                      f"{inv[('http', t)]['p50_us'] / max(inv[('native', t)]['p50_us'], 1):.2f}"
                      for t in (1, 16))
    cmd = (f"python3 bench/entities.py {args.build} --seconds {args.seconds:g} "
           f"--trials {args.trials} --entities {args.entities}"
           + (" --no-shoald-mem" if args.no_shoald_mem else ""))
    s = ("## Entities\n\n"
         f"Date: {datetime.date.today().isoformat()}; machine: {platform.machine()}, "
         f"nproc={os.cpu_count()}, {platform.system()} {platform.release()} (shared, noisy: "
         f"load average {LOAD_AT_START:.1f} at the start; medians of {args.trials} runs of "
         f"{args.seconds:g} s, ratios from the same run)"
         f"{'; ASan build' if h.SANITIZED else ''}.\n\n"
         f"Command: `{cmd}`\n\n"
         "Invocations: `counter add` on a 3-node loopback cluster (default workers = nproc), "
         "callers spread over the nodes (so about 2/3 of calls are forwarded to the owner), "
         "each caller one call at a time over 64 entities.\n\n"
         "| path | calls/s | p50 ms | p99 ms | caller CPU µs/call | nodes' CPU µs/call |\n"
         "| --- | --- | --- | --- | --- | --- |\n"
         + row("native", 1) + row("native", 16) + row("http", 1) + row("http", 16) +
         f"\nRatios: {ratio}.\n\n"
         "Runtime, in-process on one shard worker (`bench_local`):\n\n"
         "| figure | value | aim |\n| --- | --- | --- |\n"
         f"| local entity-to-entity messages/s, 1 pair (ask + reply = 2) | "
         f"{pp1['messages_per_s']:,.0f} | ≥ 1,000,000 per worker |\n"
         f"| local entity-to-entity messages/s, 64 pairs | {pp64['messages_per_s']:,.0f} | "
         "≥ 1,000,000 per worker |\n"
         f"| activations/s (`counter`, {args.entities:,} fresh ids) | "
         f"{act_counter['activations_per_s']:,.0f} | |\n"
         f"| RSS per active idle entity, runtime only (`null` type, {args.entities:,}) | "
         f"{act_null['bytes_per_entity']:.0f} B | ≤ 256 B |\n"
         f"| RSS per active idle `counter` ({args.entities:,}) | "
         f"{act_counter['bytes_per_entity']:.0f} B | |\n")
    if mem:
        per, rate, before, after = mem
        s += (f"| RSS per active idle `counter` in a real shoald, 1 worker "
              f"({args.entities:,} activated through the native client at {rate:,.0f}/s; "
              f"RSS {before / 2**20:.0f} → {after / 2**20:.0f} MiB) | {per:.0f} B | |\n")
    return s


def write_results(text, heading="## Entities"):
    """Write (or replace) the section `heading` of bench/RESULTS.md."""
    old = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.strip() == heading), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        new = "".join(lines[:start]) + text + ("\n" if end < len(lines) else "") + \
            "".join(lines[end:])
    with open(RESULTS, "w") as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--entities", type=int, default=1000000)
    ap.add_argument("--no-shoald-mem", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    os.environ.setdefault("SHOALD", os.path.join(build, "node", "shoald"))
    bench = os.path.join(build, "bench", "bench_invoke")
    local = os.path.join(build, "bench", "bench_local")

    print("invocations (3 nodes):", flush=True)
    inv = invocations(bench, args)
    print("local runtime:", flush=True)
    pp1 = run_json([local, "pingpong", "1", "1000000"], 300)
    pp64 = run_json([local, "pingpong", "64", "50000"], 300)
    act_null = run_json([local, "activate", "null", str(args.entities)], 600)
    act_counter = run_json([local, "activate", "counter", str(args.entities)], 600)
    mem = None
    if not args.no_shoald_mem:
        print("shoald memory:", flush=True)
        mem = shoald_memory(bench, args.entities)
    text = section(args, inv, pp1, pp64, act_null, act_counter, mem)
    print()
    print(text)
    if not args.no_write:
        write_results(text)
        print(f"updated {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
