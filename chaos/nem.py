"""nem - nemeses: what chaos does to the cluster, and the seeded plan of it.

The plan is a pure function of (seed, node ids, duration, max_faulty): a
list of episodes on a *virtual* timeline, drawn before anything runs, so
`--seed N` replays the same sequence of nemeses, targets, hold times and
gaps whatever the machine's speed.  The executor (chaos_run.py) may stretch
real time (it waits for the cluster to settle before an episode that
starts on a healthy cluster), never the order.

Episode kinds (each has a start and a heal):
  kill      kill -9; heal = restart with the same id and data dir
  pause     SIGSTOP for 0.5..2.5 s; heal = SIGCONT (kept under 3 s: the
            no-false-death checker's promise is about pauses shorter
            than the Lifeguard minimum suspicion timeout, 4 probe periods)
  term      SIGTERM (graceful leave, must exit 0); heal = restart
  isolate   cut one node from every other (POST /v1/debug/fault
            {"peer": ..., "cut": true} on both sides of every link)
  split     cut a random 2 from the other 3, both ways
Partitions heal with {"peer": ..., "cut": false} per link (so one heal
never undoes another episode's cut); the final heal also sends
{"clear": true} to every node.

Faults stay a minority: a partition runs alone; kill, pause and term may
overlap on disjoint nodes while the number of affected nodes stays at most
max_faulty (1 in short mode, so one episode at a time; 2 in long mode).
"""

import random
import signal
import subprocess

# kind -> weight in the draw (partitions together weigh like a kill).
KIND_WEIGHTS = (("kill", 3), ("pause", 3), ("term", 2), ("isolate", 2), ("split", 1))
HOLD_S = {"kill": (1.0, 10.0), "pause": (0.5, 2.5), "term": (1.0, 6.0),
          "isolate": (3.0, 15.0), "split": (3.0, 15.0)}
PARTITIONS = ("isolate", "split")


def nem_plan(seed, ids, duration, max_faulty=1, gap_s=(1.0, 4.0), kinds=None, hold=None):
    """Episodes [{ep, kind, targets, others, start, end, settle}] in start
    order.  `hold` overrides HOLD_S per kind ({kind: (lo, hi)} seconds).  `targets` is the affected minority (the cut-off side for a
    partition), `others` the rest; `settle` is True when no episode is
    active at its start (the executor then waits for agreement first)."""
    rng = random.Random(seed)
    ids = sorted(ids)
    holds = dict(HOLD_S, **(hold or {}))
    table = [(k, w) for k, w in KIND_WEIGHTS if kinds is None or k in kinds]
    if not table:
        raise ValueError("no nemesis kind selected")
    eps, active, v = [], [], 0.0
    while True:
        v += rng.uniform(*gap_s)
        if v >= duration:
            return eps
        active = [e for e in active if e["end"] > v]
        busy = {t for e in active for t in e["targets"]}
        exclusive = any(e["kind"] in PARTITIONS for e in active)
        choices = [(k, w) for k, w in table
                   if (k in PARTITIONS and not active)
                   or (k not in PARTITIONS and not exclusive and len(busy) < max_faulty)]
        if not choices:
            v = min(e["end"] for e in active)  # the next slot opens at the next heal
            continue
        kind = _weighted(rng, choices)
        if kind == "split":
            targets = sorted(rng.sample(ids, 2))
        else:
            targets = [rng.choice([i for i in ids if i not in busy])]
        held = rng.uniform(*holds[kind])
        ep = {"ep": len(eps) + 1, "kind": kind, "targets": targets,
              "others": [i for i in ids if i not in targets],
              "start": round(v, 3), "end": round(v + held, 3), "settle": not active}
        eps.append(ep)
        active.append(ep)


def _weighted(rng, choices):
    total = sum(w for _, w in choices)
    x = rng.uniform(0, total)
    for k, w in choices:
        x -= w
        if x <= 0:
            return k
    return choices[-1][0]


def nem_actions(eps):
    """The plan as a timeline [(v, 'start'|'heal', ep)]; a heal sorts before
    a start at the same instant."""
    acts = [(e["start"], 1, "start", e) for e in eps] + [(e["end"], 0, "heal", e) for e in eps]
    acts.sort(key=lambda a: (a[0], a[1], a[3]["ep"]))
    return [(v, what, e) for v, _, what, e in acts]


# -- applying them ---------------------------------------------------------
# Each function takes the run context (chaos_run.Ctx: nodes, history,
# helpers) and the episode, does the deed, and returns the extra fields to
# record in the nem_start / nem_heal event.

def _kill_start(ctx, ep):
    node = ctx.node(ep["targets"][0])
    inc = ctx.max_incarnation(node.id)
    ctx.expect_down(node.id)
    rc = node.kill()
    return {"inc": inc, "rc": rc}


def _restart(ctx, ep):
    node = ctx.node(ep["targets"][0])
    return {"ready": ctx.restart(node)}


def _pause_start(ctx, ep):
    node = ctx.node(ep["targets"][0])
    inc = ctx.max_incarnation(node.id)
    node.pause()
    ep["_paused_at"] = ctx.hist.now()
    return {"inc": inc}


def _pause_heal(ctx, ep):
    node = ctx.node(ep["targets"][0])
    node.resume()
    return {"paused_s": round(ctx.hist.now() - ep.get("_paused_at", ctx.hist.now()), 3)}


def _term_start(ctx, ep):
    node = ctx.node(ep["targets"][0])
    inc = ctx.max_incarnation(node.id)
    ctx.expect_down(node.id)
    node.proc.send_signal(signal.SIGTERM)
    try:
        rc = node.proc.wait(timeout=ctx.scaled(15))
    except subprocess.TimeoutExpired:
        rc = None
        node.proc.kill()
        node.proc.wait(timeout=10)
    ctx.hist.add("exit", node=node.id, rc=rc, why="sigterm" if rc is not None else
                 "sigterm_timeout")
    return {"inc": inc, "rc": rc}


def _links(ep):
    return [(a, b) for a in ep["targets"] for b in ep["others"]]


def _cut(ctx, ep, cut):
    """Set or undo the cut on both ends of every link; returns the links
    whose POST failed (a healthy node's API must answer)."""
    failed = []
    for a, b in _links(ep):
        for x, y in ((a, b), (b, a)):
            status = ctx.fault(x, {"peer": ctx.node(y).addr, "cut": cut})
            if status != 200:
                failed.append(f"{x}->{y}:{status}")
    return failed


def _part_start(ctx, ep):
    incs = {t: ctx.max_incarnation(t) for t in ep["targets"]}
    return {"incs": incs, "api_failed": _cut(ctx, ep, True)}


def _part_heal(ctx, ep):
    return {"api_failed": _cut(ctx, ep, False)}


NEMESES = {
    "kill": (_kill_start, _restart),
    "pause": (_pause_start, _pause_heal),
    "term": (_term_start, _restart),
    "isolate": (_part_start, _part_heal),
    "split": (_part_start, _part_heal),
}


def nem_start(ctx, ep):
    return NEMESES[ep["kind"]][0](ctx, ep)


def nem_heal(ctx, ep):
    return NEMESES[ep["kind"]][1](ctx, ep)
