"""chaos_hist - the run's history: one JSON object per line, in time order.

Everything a checker needs goes through here, so a checker can be re-run
on a saved history (`chaos_run.py --check-only FILE`) without a cluster.
Record types (field `type`):

  view       {viewer, members: {id: [state, incarnation]} | null}
             one answer of GET /v1/cluster/members (null: no answer in
             time: the viewer is paused, down or overloaded)
  nem_start  {ep, kind, targets, ...}    a nemesis was applied
  nem_heal   {ep, kind, targets, ...}    ... and undone
  settled    {ok, took}                  waited for every view to agree
  exit       {node, rc, why}             a node process ended (SIGTERM,
             final shutdown, or `crashed`: an exit nobody asked for)
  final_heal {}                          every fault undone, every node up
  log_problem{node, line}                sanitizer report or assertion
  op / ...   reserved for workloads (see chaos_workload.py)

`t` is seconds since the history was opened (monotonic clock).

Views are polled by one thread per node (so a paused node's timeout
never delays the others) every `interval` seconds.
"""

import json
import threading
import time


class History:
    """Append-only event list, mirrored to a JSON-lines file."""

    def __init__(self, path):
        self.path = path
        self.t0 = time.monotonic()
        self.events = []
        self._lock = threading.Lock()
        self._f = open(path, "w", encoding="utf-8")
        # Latest answered view per viewer, for the executor's own waits.
        self._latest = {}

    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def add(self, type_, **fields):
        ev = {"t": self.now(), "type": type_}
        ev.update(fields)
        with self._lock:
            self.events.append(ev)
            self._f.write(json.dumps(ev, sort_keys=True) + "\n")
            if type_ == "view":
                self._latest[ev["viewer"]] = ev
        return ev

    def latest(self, viewer):
        """The last view event of `viewer` (answered or not), or None."""
        with self._lock:
            return self._latest.get(viewer)

    def snapshot(self):
        with self._lock:
            return list(self.events)

    def close(self):
        with self._lock:
            self._f.close()


def load(path):
    """Events of a saved history file, in file order."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compact_members(members):
    """{id: member dict} -> {id: [state, incarnation]} (what the history keeps)."""
    if members is None:
        return None
    return {mid: [m.get("state"), m.get("incarnation")] for mid, m in members.items()}


def views_agree(views, ids):
    """True if every view in `views` ({viewer: {id: [state, inc]}}) lists
    exactly `ids`, all alive, with the same incarnation for each member."""
    want = sorted(ids)
    first = None
    for viewer in ids:
        m = views.get(viewer)
        if m is None or sorted(m) != want:
            return False
        if any(st != "alive" for st, _ in m.values()):
            return False
        incs = {mid: inc for mid, (_, inc) in m.items()}
        if first is None:
            first = incs
        elif incs != first:
            return False
    return True


class Poller:
    """One thread per node, each polling its node's member list."""

    def __init__(self, hist, nodes, interval=0.25, timeout=0.5):
        self.hist = hist
        self.nodes = list(nodes)
        self.interval = interval
        self.timeout = timeout
        self._stop = threading.Event()
        self._threads = []

    def start(self):
        for n in self.nodes:
            th = threading.Thread(target=self._loop, args=(n,), name=f"poll-{n.id}",
                                  daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(timeout=10)

    def _loop(self, node):
        while not self._stop.is_set():
            started = time.monotonic()
            if node.proc is not None:  # never started yet: nothing to ask
                m = node.members(timeout=self.timeout)
                self.hist.add("view", viewer=node.id, members=compact_members(m))
            left = self.interval - (time.monotonic() - started)
            if left > 0:
                self._stop.wait(left)

    def latest_views(self, since):
        """{viewer: members} from views answered at or after `since` (history
        time); a viewer without such an answer is absent."""
        out = {}
        for n in self.nodes:
            ev = self.hist.latest(n.id)
            if ev is not None and ev["t"] >= since and ev["members"] is not None:
                out[n.id] = ev["members"]
        return out
