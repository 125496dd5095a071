"""chaos_workload - the plug-in point for client traffic during chaos.

A workload runs beside the nemeses for the whole run and writes what it
did to the history, one event per completed operation (Jepsen style):

    hist.add("op", wl=NAME, client=C, f="inc", value=..., invoke=t0,
             ok=True|False|None)     # None: outcome unknown (timeout)

and names the checkers that judge those events.  A checker has the same
signature as the membership ones in chk.py: fn(chk.Hist, params) ->
chk.Result, and must be able to fail.

Today only `membership` exists: no traffic, the membership checkers only.
An entity workload (e.g. `counter`: concurrent increments through random
nodes, checked for lost or duplicated acknowledged increments; or `log`:
appends checked for linearizability) subclasses Workload, registers in
WORKLOADS, and is chosen with `chaos_run.py --workload NAME`.
"""

import threading


class Workload:
    """Base: start() spawns its clients, stop() joins them; checkers() lists
    the extra checkers.  `ctx` is chaos_run.Ctx (nodes, hist, scaled())."""

    name = "membership"

    def __init__(self, ctx, rng):
        self.ctx = ctx
        self.rng = rng  # seeded from --seed: clients draw from it only in start()
        self._stop = threading.Event()
        self._threads = []

    def start(self):
        """Start client threads (none here)."""

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(timeout=30)

    def extra_params(self):
        """Fields merged into the checkers' params (bounds, expected state)."""
        return {}

    @staticmethod
    def checkers():
        return []


WORKLOADS = {"membership": Workload}
