"""chk - checkers: read a history (chaos_hist.py), report violations.

A checker is `fn(hist: Hist, params: dict) -> Result`; it never talks to
the cluster, so a saved history can be checked again (--check-only).
Membership checkers, always run:

  no_false_death  a node paused (only) for < 3 s is never reported `dead`
                  by anyone, during the pause or after it (until the next
                  nemesis starts).
  bystander_alive a node no nemesis touched is never reported `dead` by a
                  viewer no nemesis touched ("touched" lasts from an
                  episode's start until the cluster next settled after its
                  heal).
  convergence     after every heal the executor waited for agreement (all
                  running nodes list all five alive with the same
                  incarnations) within the bound; after the final heal the
                  history shows agreement within the bound.
  kill_detected   after each kill -9, every survivor no other nemesis
                  touched reports the victim `dead`, or `alive` with a
                  higher incarnation (restarted), within the bound.
  leave_not_dead  a node stopped by SIGTERM (graceful leave) is never
                  reported `dead` until the next nemesis.
  process_health  every SIGTERM (during the run and at the end) exits 0 in
                  time, no process exits unasked, every restart serves,
                  every /v1/debug/fault request is answered 200, every
                  nemesis could be applied, and no log holds a sanitizer
                  report or an `assertion failed`.

A workload adds its own checkers (chaos_workload.py).  Each violation is
one line; repeated ones (the same viewer, subject and episode) are merged
with a count.
"""

from chaos_hist import views_agree

INF = float("inf")


class Result:
    def __init__(self, name):
        self.name = name
        self.checked = 0
        self.skipped = 0
        self.violations = []
        self.notes = []
        self.warn_only = False  # set by the runner (--warn-only): report, do not fail
        self._merged = {}

    def violate(self, key, msg):
        """Record a violation; the same key again only bumps its count."""
        if key in self._merged:
            self._merged[key][1] += 1
            return
        entry = [msg, 1]
        self._merged[key] = entry
        self.violations.append(entry)

    def lines(self):
        return [m if n == 1 else f"{m} (x{n})" for m, n in self.violations]

    @property
    def ok(self):
        return not self.violations


class Hist:
    """Indexes over a history's events, shared by the checkers."""

    def __init__(self, events):
        self.events = events
        self.views = [e for e in events if e["type"] == "view"]
        self.end = events[-1]["t"] if events else 0.0
        starts = {e["ep"]: e for e in events if e["type"] == "nem_start"}
        heals = {e["ep"]: e for e in events if e["type"] == "nem_heal"}
        self.settles = [e for e in events if e["type"] == "settled"]
        self.start_times = sorted(e["t0"] for e in starts.values())
        self.eps = []
        for n, s in sorted(starts.items()):
            h = heals.get(n)
            ep = dict(s)
            ep["heal"] = h
            ep["t_heal"] = h["t"] if h else INF
            ep["after"] = self._settled_after(ep["t_heal"])
            self.eps.append(ep)
        # Unasked exits touch their node from then on.
        self.crashes = [e for e in events if e["type"] == "exit" and e["why"] == "crashed"]

    def _settled_after(self, t):
        for s in self.settles:
            if s["t"] >= t and s["ok"]:
                return s["t"]
        return INF

    def next_start_after(self, t):
        for s in self.start_times:
            if s > t:
                return s
        return INF

    def touched(self, node, t, skip_ep=None):
        """True if a nemesis episode (other than skip_ep) touched `node` at t."""
        for ep in self.eps:
            if ep["ep"] != skip_ep and node in ep["targets"] and ep["t0"] <= t < ep["after"]:
                return True
        return any(c["node"] == node and c["t"] <= t for c in self.crashes)

    def first_touch_after(self, node, t, skip_ep=None):
        """Earliest time > t at which an episode (other than skip_ep) or a
        crash starts touching `node`; INF if none."""
        starts = [ep["t0"] for ep in self.eps
                  if ep["ep"] != skip_ep and node in ep["targets"] and ep["t0"] > t]
        starts += [c["t"] for c in self.crashes if c["node"] == node and c["t"] > t]
        return min(starts, default=INF)

    def last_heal_before(self, t):
        """The episode healed most recently before t, or None."""
        done = [e for e in self.eps if e["t_heal"] <= t]
        return max(done, key=lambda e: e["t_heal"]) if done else None

    def overlapping(self, ep):
        """Episodes other than ep active (start..heal) during ep's start..heal."""
        return [o for o in self.eps if o["ep"] != ep["ep"]
                and o["t0"] < ep["t_heal"] and ep["t0"] < o["t_heal"]]

    def settled_before(self, ep):
        """True if the last settle before ep's start succeeded."""
        prev = [s for s in self.settles if s["t"] <= ep["t0"]]
        return bool(prev) and prev[-1]["ok"]


def _views_after(h, viewer, t_from, t_to):
    for v in h.views:
        if v["viewer"] == viewer and t_from < v["t"] <= t_to:
            yield v


def _pause_windows(h, p):
    """{ep: (episode, window end, clean)} for every pause episode: the window
    runs from the SIGSTOP to the next nemesis start; `clean` if it lasted
    < pause_max_s, overlapped no other episode, and began settled."""
    out = {}
    for ep in (e for e in h.eps if e["kind"] == "pause"):
        paused = (ep["heal"] or {}).get("paused_s", INF)
        clean = paused < p["pause_max_s"] and not h.overlapping(ep) and h.settled_before(ep)
        out[ep["ep"]] = (ep, h.next_start_after(ep["t0"]), clean)
    return out


def _dead_reports(h):
    for v in h.views:
        for subj, (st, _inc) in (v["members"] or {}).items():
            if st == "dead":
                yield v, subj


def chk_no_false_death(h, p):
    r = Result("no_false_death")
    windows = _pause_windows(h, p)
    r.checked = sum(1 for w in windows.values() if w[2])
    r.skipped = len(windows) - r.checked
    r.notes.append(f"{r.checked} pauses checked, {r.skipped} skipped (>= "
                   f"{p['pause_max_s']}s, overlapping or unsettled)")
    for v, subj in _dead_reports(h):
        for ep, end, clean in windows.values():
            if (clean and ep["targets"][0] == subj and ep["t0"] <= v["t"] < end
                    and not h.touched(v["viewer"], v["t"], skip_ep=ep["ep"])):
                r.violate(("pause", ep["ep"], v["viewer"]),
                          f"t={v['t']:.2f} {v['viewer']} reports {subj} dead; {subj} was only "
                          f"paused ({ep['heal']['paused_s']}s, episode {ep['ep']} at "
                          f"t={ep['t0']:.2f})")
    return r


def chk_bystander_alive(h, p):
    """A node no nemesis touched is never reported dead by a viewer no
    nemesis touched (a paused node's own window is no_false_death's)."""
    r = Result("bystander_alive")
    windows = _pause_windows(h, p)
    for v, subj in _dead_reports(h):
        if any(ep["targets"][0] == subj and ep["t0"] <= v["t"] < end
               for ep, end, _ in windows.values()):
            continue
        if h.touched(subj, v["t"]) or h.touched(v["viewer"], v["t"]):
            continue
        last = h.last_heal_before(v["t"])
        since = (f"; last heal: episode {last['ep']} {last['kind']} "
                 f"{','.join(last['targets'])}, {v['t'] - last['t_heal']:.1f}s before"
                 if last else "")
        r.violate(("bystander", v["viewer"], subj),
                  f"t={v['t']:.2f} {v['viewer']} reports {subj} dead; no nemesis touched "
                  f"either{since}")
    r.checked = len(h.views)
    r.notes.append(f"{r.checked} views checked")
    return r


def chk_convergence(h, p):
    r = Result("convergence")
    for s in h.settles:
        if s.get("final"):
            continue
        r.checked += 1
        if not s["ok"]:
            r.violate(("settle", s["t"]), f"t={s['t']:.2f} views did not agree within "
                      f"{s['took']:.1f}s (before episode {s.get('before_ep')}; last: "
                      f"{s.get('last')})")
    fin = next((e for e in h.events if e["type"] == "final_heal"), None)
    if fin is None:
        r.violate(("final",), "no final heal in the history (run aborted?)")
        return r
    r.checked += 1
    latest = {}
    for v in h.views:
        if v["t"] < fin["t"] or v["members"] is None:
            continue
        latest[v["viewer"]] = v["members"]
        if views_agree(latest, p["ids"]):
            took = v["t"] - fin["t"]
            r.notes.append(f"final agreement {took:.1f}s after the final heal")
            if took > p["converge_s"]:
                r.violate(("final",), f"final agreement took {took:.1f}s > {p['converge_s']}s")
            return r
    r.violate(("final",), f"no agreement within {h.end - fin['t']:.1f}s of the final heal; "
              f"last views: {latest}")
    return r


def _detected(h, survivor, victim, inc0, t_from, t_to):
    """Seconds after t_from at which `survivor` first reported the victim
    dead, or alive above inc0 (restarted), in (t_from, t_to]; None if not."""
    for v in _views_after(h, survivor, t_from, t_to):
        st, inc = (v["members"] or {}).get(victim, (None, None))
        if st == "dead" or (st == "alive" and inc is not None and inc > inc0):
            return v["t"] - t_from
    return None


def chk_kill_detected(h, p):
    """A survivor is judged until the bound, or until another episode
    touches it first (then a miss is skipped, a detection still counts)."""
    r = Result("kill_detected")
    worst = 0.0
    for ep in (e for e in h.eps if e["kind"] == "kill"):
        victim, t0, inc0 = ep["targets"][0], ep["t0"], ep["inc"]
        bound_t = t0 + p["detect_s"]
        for s in ep["others"]:
            if h.touched(s, t0, skip_ep=ep["ep"]):
                r.skipped += 1
                continue
            until = min(bound_t, h.first_touch_after(s, t0, skip_ep=ep["ep"]), h.end)
            seen = _detected(h, s, victim, inc0, t0, until)
            if seen is not None:
                r.checked += 1
                worst = max(worst, seen)
            elif until < bound_t:
                r.skipped += 1
            else:
                r.checked += 1
                r.violate(("kill", ep["ep"], s),
                          f"episode {ep['ep']}: {s} did not report killed {victim} dead (or "
                          f"alive above incarnation {inc0}) within {p['detect_s']:g}s of "
                          f"t={t0:.2f}")
    r.notes.append(f"{r.checked} (kill, survivor) pairs, slowest detection {worst:.2f}s")
    return r


def chk_leave_not_dead(h, p):
    r = Result("leave_not_dead")
    for ep in (e for e in h.eps if e["kind"] == "term"):
        if h.overlapping(ep) or not h.settled_before(ep):
            r.skipped += 1
            continue
        r.checked += 1
        node, t_end = ep["targets"][0], h.next_start_after(ep["t0"])
        for v in h.views:
            if not ep["t0"] <= v["t"] < t_end or h.touched(v["viewer"], v["t"], ep["ep"]):
                continue
            st = (v["members"] or {}).get(node, (None,))[0]
            if st == "dead":
                r.violate(("leave", ep["ep"], v["viewer"]),
                          f"t={v['t']:.2f} {v['viewer']} reports {node} dead after its graceful "
                          f"leave (episode {ep['ep']} at t={ep['t0']:.2f})")
    return r


def chk_process_health(h, p):
    r = Result("process_health")
    for e in h.events:
        ty = e["type"]
        if ty == "exit":
            r.checked += 1
            if e["why"] == "crashed":
                r.violate(("crash", e["node"], e["t"]),
                          f"t={e['t']:.2f} {e['node']} exited unasked with status {e['rc']}")
            elif e["rc"] != 0:
                r.violate(("exit", e["node"], e["t"]),
                          f"t={e['t']:.2f} {e['node']} {e['why']}: exit status {e['rc']} "
                          "(want 0)")
        elif ty in ("nem_start", "nem_heal"):
            if e.get("api_failed"):
                r.violate(("api", e["ep"], ty), f"t={e['t']:.2f} episode {e['ep']} {ty}: "
                          f"fault API failed for {e['api_failed']}")
            if e.get("error"):
                r.violate(("error", e["ep"], ty), f"t={e['t']:.2f} episode {e['ep']} {ty} "
                          f"could not be applied: {e['error']}")
            if e.get("ready") is False:
                r.violate(("restart", e["ep"]), f"t={e['t']:.2f} {e['targets'][0]} did not "
                          "serve /healthz after its restart")
        elif ty == "log_problem":
            r.violate(("log", e["node"]), f"{e['node']} log: {e['line']}")
    r.notes.append(f"{r.checked} exits")
    return r


CHECKERS = [chk_no_false_death, chk_bystander_alive, chk_convergence, chk_kill_detected, chk_leave_not_dead,
            chk_process_health]


def chk_run_all(events, params, extra=()):
    """Run every checker (plus a workload's `extra` ones) -> [Result]."""
    h = Hist(events)
    return [fn(h, params) for fn in list(CHECKERS) + list(extra)]


def chk_table(results):
    """The summary table, as text."""
    rows = [("checker", "checked", "skipped", "violations", "result")]
    for r in results:
        rows.append((r.name, str(r.checked), str(r.skipped), str(len(r.violations)),
                     "ok" if r.ok else "WARN" if r.warn_only else "FAIL"))
    w = [max(len(row[i]) for row in rows) for i in range(5)]
    out = ["  ".join(c.ljust(w[i]) for i, c in enumerate(row)) for row in rows]
    out.insert(1, "  ".join("-" * x for x in w))
    for r in results:
        for n in r.notes:
            out.append(f"  {r.name}: {n}")
    return "\n".join(out)
