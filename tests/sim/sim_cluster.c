/*
 * sim_cluster.c - N SWIM cores on the simulated network: node lifecycle
 * (start, crash, restart, pause, leave), the drive loop, and the checks.
 *
 * Design notes.  The drive loop pops one event, feeds it to one core, then
 * drains that core's outbox completely and re-arms its one wake-up.  This
 * mirrors swim_io.c (drain after *each* input, one timer), so the
 * simulator exercises the adapter's contract with the core, not a kinder
 * one.
 *
 * Wake-ups: a node has at most one armed wake-up that counts (wake_at).  If
 * the core's deadline moves earlier, a new event is pushed and the old one
 * becomes stale (its time no longer equals wake_at, so it is skipped); if
 * it moves later, the earlier wake-up stays and simply ticks early, which a
 * correct core treats as a no-op.  So the heap holds O(1) wake-ups per
 * node and no event is ever removed from the middle of the heap.
 *
 * Pause (SIGSTOP): the core is kept but gets no input; deliveries and
 * transport hints to it are parked in arrival order.  On resume (SIGCONT)
 * the wake-up is armed *before* the parked inputs are re-queued at the same
 * virtual time, because libuv runs due timers before polling sockets: the
 * resumed node's probe timeouts fire before it reads the acks that arrived
 * while it slept, as in a real process.
 *
 * Checks.  Besides swim_check_invariants, the simulator keeps a shadow of
 * every observer's view, built only from the events it emitted, and checks
 * each event against it: old_state must be the last reported state, is_new
 * only for a member never reported (or reported dead/left, which a core
 * may forget), and a member's incarnation never goes down.  sim_check_all
 * compares each table with its shadow, which proves events report every
 * change (the node adapter and the shard table rely on that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sim.h"
#include "swim_codec.h" /* decoding for SHOAL_SIM_TRACE only */

void sim_cfg_default(sim_cfg_t *cfg, uint32_t n_nodes)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_nodes = n_nodes;
    sim_net_cfg_default(&cfg->net);
    swim_config_default(&cfg->swim);
    /* swim_check_invariants is O(N): after every step at N = 1,000 it
     * would be most of the run time.  Above 100 members each core is
     * checked every (N^2 / 10^4)-th of its steps (every 100th at 1,000:
     * every ~30 simulated s per core, ~30 checks per simulated second
     * cluster-wide), and sim_check_all checks every core at the end of
     * every phase.  A broken table stays broken, so it is still caught. */
    cfg->check_every = n_nodes > 100 ? (uint32_t)((uint64_t)n_nodes * n_nodes / 10000) : 1;
}

sim_t *sim_new(const sim_cfg_t *cfg, uint64_t seed)
{
    SH_ASSERT(cfg->n_nodes > 0 && cfg->n_nodes <= 10000);
    sim_t *s = calloc(1, sizeof *s);
    SH_ASSERT(s != NULL);
    s->cfg = *cfg;
    if (s->cfg.check_every == 0)
        s->cfg.check_every = 1;
    s->seed = seed;
    uint64_t x = seed ^ 0x6e65747770726e67ULL; /* the network's own stream */
    sh_rng_seed(&s->rng, sh_splitmix64(&x));
    s->nodes = calloc(cfg->n_nodes, sizeof *s->nodes);
    s->view = calloc((size_t)cfg->n_nodes * cfg->n_nodes, sizeof *s->view);
    SH_ASSERT(s->nodes != NULL && s->view != NULL);
    for (uint32_t i = 0; i < cfg->n_nodes; i++) {
        sim_node_t *nd = &s->nodes[i];
        snprintf(nd->id, sizeof nd->id, "n%04u", i);
        snprintf(nd->addr, sizeof nd->addr, "n%04u.sim:7946", i);
        nd->inc_next = 1;
        nd->wake_at = UINT64_MAX;
    }
    const char *tr = getenv("SHOAL_SIM_TRACE");
    s->trace = tr && *tr ? tr : NULL;
    sim_ctx_set(s);
    return s;
}

static void sim_pending_clear(sim_pending_t *p)
{
    for (size_t k = 0; k < p->n; k++)
        free(p->v[k].payload);
    p->n = 0;
}

void sim_free(sim_t *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        swim_free(s->nodes[i].core);
        sim_pending_clear(&s->nodes[i].pending);
        free(s->nodes[i].pending.v);
    }
    sim_heap_fini(&s->heap);
    free(s->nodes);
    free(s->view);
    sim_ctx_set(NULL);
    free(s);
}

int sim_node_index(const sim_t *s, const char *id_or_addr)
{
    if (id_or_addr[0] != 'n')
        return -1;
    char *end;
    unsigned long i = strtoul(id_or_addr + 1, &end, 10);
    if (end == id_or_addr + 1 || i >= s->cfg.n_nodes)
        return -1;
    const sim_node_t *nd = &s->nodes[i];
    if (strcmp(id_or_addr, nd->id) != 0 && strcmp(id_or_addr, nd->addr) != 0)
        return -1;
    return (int)i;
}

size_t sim_nodes_running(const sim_t *s)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++)
        n += s->nodes[i].st == SIM_NODE_UP || s->nodes[i].st == SIM_NODE_PAUSED;
    return n;
}

/* ---- events and the shadow view -------------------------------------- */

static void sim_shadow_event(sim_t *s, uint32_t obs, const swim_out_t *o)
{
    const swim_member_view_t *m = &o->member;
    int j = sim_node_index(s, m->id);
    SIM_CHECK(j >= 0, "n%04u reported an unknown member id='%s' addr='%s'", obs,
              m->id, m->addr);
    SIM_CHECK(strcmp(m->addr, s->nodes[j].addr) == 0,
              "n%04u reports %s at addr '%s', expected '%s'", obs, m->id, m->addr,
              s->nodes[j].addr);
    SIM_CHECK(m->state <= SWIM_LEFT, "n%04u: event state %d out of range", obs,
              (int)m->state);
    sim_view_t *v = &s->view[(size_t)obs * s->cfg.n_nodes + (uint32_t)j];
    bool self = (uint32_t)j == obs;
    SIM_CHECK(!self || m->state == SWIM_ALIVE || m->state == SWIM_LEFT,
              "n%04u reports itself %s", obs, swim_state_name(m->state));
    bool forgettable = v->known && (v->state == SWIM_DEAD || v->state == SWIM_LEFT);
    if (!v->known) {
        SIM_CHECK(o->is_new, "n%04u: first event about %s (%s) has is_new=0",
                  obs, m->id, swim_state_name(m->state));
    } else if (!(o->is_new && (forgettable || self))) {
        SIM_CHECK(!o->is_new, "n%04u: is_new=1 for %s, already known as %s inc=%u",
                  obs, m->id, swim_state_name(v->state), v->inc);
        SIM_CHECK(o->old_state == v->state,
                  "n%04u: event on %s says old_state=%s, last reported %s", obs,
                  m->id, swim_state_name(o->old_state), swim_state_name(v->state));
        SIM_CHECK(m->incarnation >= v->inc,
                  "n%04u: incarnation of %s went down %u -> %u (%s -> %s)", obs,
                  m->id, v->inc, m->incarnation, swim_state_name(v->state),
                  swim_state_name(m->state));
        SIM_CHECK(m->incarnation != v->inc || m->state != v->state,
                  "n%04u: event on %s changes nothing (%s inc=%u)", obs, m->id,
                  swim_state_name(m->state), m->incarnation);
    }
    v->known = 1;
    v->state = (uint8_t)m->state;
    v->inc = m->incarnation;
}

/* SHOAL_SIM_TRACE=n0042 prints every event about or seen by n0042, and
 * every payload it receives or is sent (decoded with the module's codec). */
static void sim_trace_event(const sim_t *s, uint32_t obs, const swim_out_t *o)
{
    const char *tr = s->trace;
    if (!tr || (strcmp(tr, o->member.id) != 0 && strcmp(tr, s->nodes[obs].id) != 0))
        return;
    fprintf(stderr, "t=%llu n%04u: %s %s -> %s inc=%u%s\n", (unsigned long long)s->now,
            obs, o->member.id, swim_state_name(o->old_state),
            swim_state_name(o->member.state), o->member.incarnation,
            o->is_new ? " (new)" : "");
}

static void sim_trace_msg(const sim_t *s, const sim_ev_t *ev)
{
    const char *tr = s->trace;
    if (!tr || (strcmp(tr, s->nodes[ev->src].id) != 0 && strcmp(tr, s->nodes[ev->dst].id) != 0))
        return;
    swim_msg_t m;
    if (swim_msg_decode(ev->payload, ev->len, s->cfg.swim.payload_max_bytes, &m) != 0)
        return;
    fprintf(stderr, "t=%llu %s -> %s type=%u seq=%u members=%zu gossip:",
            (unsigned long long)s->now, s->nodes[ev->src].id, s->nodes[ev->dst].id,
            m.type, m.seq, m.n_members);
    for (size_t k = 0; k < m.n_gossip; k++)
        fprintf(stderr, " %.*s=%s/%u", (int)m.gossip[k].id.len, m.gossip[k].id.p,
                swim_state_name(m.gossip[k].state), m.gossip[k].incarnation);
    fprintf(stderr, "\n");
    swim_msg_fini(&m);
}

static void sim_drain(sim_t *s, uint32_t i)
{
    sim_node_t *nd = &s->nodes[i];
    swim_out_t o;
    while (nd->core && swim_next_output(nd->core, &o)) {
        if (o.kind == SWIM_OUT_SEND) {
            int dst = sim_node_index(s, o.to_addr);
            SIM_CHECK(o.payload != NULL && o.len > 0, "n%04u: empty SEND", i);
            /* Every address a core knows came from one of our members. */
            SIM_CHECK(dst >= 0, "n%04u sends to unknown address '%s'", i, o.to_addr);
            SIM_CHECK((uint32_t)dst != i, "n%04u sends to itself", i);
            sim_net_send(s, i, (uint32_t)dst, o.payload, o.len);
        } else {
            SIM_CHECK(o.kind == SWIM_OUT_EVENT, "n%04u: output kind %d", i, (int)o.kind);
            sim_shadow_event(s, i, &o);
            sim_trace_event(s, i, &o);
            if (s->cfg.on_event)
                s->cfg.on_event(s, i, &o, s->cfg.udata);
        }
    }
}

/* Arm the node's wake-up at the core's deadline unless an earlier one is
 * already armed (see the design notes). */
static void sim_arm(sim_t *s, uint32_t i, bool resumed)
{
    sim_node_t *nd = &s->nodes[i];
    uint64_t d = swim_next_deadline(nd->core);
    if (d == UINT64_MAX)
        return;
    /* swim.h: every call runs the timers due at its now, so the deadline
     * is always later; anything else would make a real adapter spin.  A
     * core that was paused is the exception: its timers are overdue. */
    if (resumed && d < s->now)
        d = s->now;
    SIM_CHECK(d > s->now || resumed, "n%04u: next deadline %llu is not after now", i,
              (unsigned long long)d);
    if (d >= nd->wake_at)
        return;
    nd->wake_at = d;
    sim_ev_t ev = {.at = d, .seq = s->seq++, .kind = SIM_EV_WAKE, .dst = i,
                   .src = i, .dst_gen = nd->gen};
    sim_heap_push(&s->heap, &ev);
}

/* After any input to node i: drain, check, re-arm. */
static void sim_after(sim_t *s, uint32_t i)
{
    sim_node_t *nd = &s->nodes[i];
    s->ctr.steps++;
    sim_drain(s, i);
    if (!nd->core)
        return;
    if (++nd->steps % s->cfg.check_every == 0)
        swim_check_invariants(nd->core);
    sim_arm(s, i, false);
}

/* ---- node lifecycle -------------------------------------------------- */

void sim_node_start(sim_t *s, uint32_t i, const uint32_t *seeds, size_t n_seeds)
{
    SH_ASSERT(i < s->cfg.n_nodes && n_seeds <= 64);
    sim_node_t *nd = &s->nodes[i];
    SH_ASSERT(nd->st == SIM_NODE_NEW || nd->st == SIM_NODE_DOWN);
    swim_config_t c = s->cfg.swim;
    c.self_id = nd->id;
    c.self_addr = nd->addr;
    c.incarnation = nd->inc_next;
    uint64_t x = s->seed ^ ((uint64_t)i * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)nd->gen << 40);
    c.seed = sh_splitmix64(&x);
    int rc = swim_new(&nd->core, &c, s->now);
    SIM_CHECK(rc == 0, "swim_new(n%04u) = %d", i, rc);
    nd->st = SIM_NODE_UP;
    nd->wake_at = UINT64_MAX;
    nd->started_at = s->now;
    nd->steps = 0;
    sim_view_t *row = &s->view[(size_t)i * s->cfg.n_nodes];
    memset(row, 0, s->cfg.n_nodes * sizeof *row);
    row[i] = (sim_view_t){.known = 1, .state = SWIM_ALIVE, .inc = nd->inc_next};

    const char *addrs[64];
    for (size_t k = 0; k < n_seeds; k++)
        addrs[k] = s->nodes[seeds[k]].addr;
    rc = swim_join(nd->core, s->now, addrs, n_seeds);
    SIM_CHECK(rc == 0, "swim_join(n%04u) = %d", i, rc);
    sim_after(s, i);
}

static void sim_node_stop(sim_t *s, uint32_t i)
{
    sim_node_t *nd = &s->nodes[i];
    swim_member_view_t self;
    int rc = swim_member_get(nd->core, 0, &self);
    SIM_CHECK(rc == 0 && strcmp(self.id, nd->id) == 0,
              "n%04u: member 0 is not self (rc=%d)", i, rc);
    /* The adapter persists the start incarnation; a restart uses more
     * than anything this process ever claimed. */
    nd->inc_next = self.incarnation + 1;
    swim_free(nd->core);
    nd->core = NULL;
    nd->st = SIM_NODE_DOWN;
    nd->gen++;
    nd->wake_at = UINT64_MAX;
    sim_pending_clear(&nd->pending);
}

void sim_node_crash(sim_t *s, uint32_t i, bool hint)
{
    sim_node_t *nd = &s->nodes[i];
    SH_ASSERT(nd->st == SIM_NODE_UP || nd->st == SIM_NODE_PAUSED);
    sim_node_stop(s, i);
    if (!hint)
        return;
    for (uint32_t j = 0; j < s->cfg.n_nodes; j++) {
        enum sim_node_state st = s->nodes[j].st;
        if (j != i && (st == SIM_NODE_UP || st == SIM_NODE_PAUSED))
            sim_net_hint(s, i, j);
    }
}

void sim_node_leave(sim_t *s, uint32_t i)
{
    sim_node_t *nd = &s->nodes[i];
    SH_ASSERT(nd->st == SIM_NODE_UP);
    int rc = swim_leave(nd->core, s->now);
    SIM_CHECK(rc == 0, "swim_leave(n%04u) = %d", i, rc);
    sim_drain(s, i);
    swim_check_invariants(nd->core);
    sim_node_stop(s, i);
}

void sim_node_pause(sim_t *s, uint32_t i)
{
    SH_ASSERT(s->nodes[i].st == SIM_NODE_UP);
    s->nodes[i].st = SIM_NODE_PAUSED;
}

void sim_node_resume(sim_t *s, uint32_t i)
{
    sim_node_t *nd = &s->nodes[i];
    SH_ASSERT(nd->st == SIM_NODE_PAUSED);
    nd->st = SIM_NODE_UP;
    nd->wake_at = UINT64_MAX;
    sim_arm(s, i, true); /* timers first, as libuv does */
    for (size_t k = 0; k < nd->pending.n; k++) {
        sim_ev_t ev = nd->pending.v[k];
        ev.at = s->now;
        ev.seq = s->seq++;
        ev.dst_gen = nd->gen;
        sim_heap_push(&s->heap, &ev);
    }
    nd->pending.n = 0;
}

static void sim_park(sim_node_t *nd, const sim_ev_t *ev)
{
    sim_pending_t *p = &nd->pending;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->v = realloc(p->v, p->cap * sizeof *p->v);
        SH_ASSERT(p->v != NULL);
    }
    p->v[p->n++] = *ev;
}

void sim_partition_set(sim_t *s, const int *group)
{
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++)
        s->nodes[i].group = group ? group[i] : 0;
}

/* ---- the drive loop -------------------------------------------------- */

static void sim_deliver(sim_t *s, sim_ev_t *ev)
{
    sim_node_t *nd = &s->nodes[ev->dst];
    if (nd->st == SIM_NODE_PAUSED) {
        sim_park(nd, ev);
        return;
    }
    if (ev->kind == SIM_EV_HINT) {
        s->ctr.hints++;
        swim_peer_unreachable(nd->core, s->now, s->nodes[ev->src].addr);
        sim_after(s, ev->dst);
        return;
    }
    s->ctr.delivered++;
    sim_trace_msg(s, ev);
    int rc = swim_recv(nd->core, s->now, s->nodes[ev->src].addr, ev->payload, ev->len);
    /* Every payload here was encoded by a real core: a refusal is a codec
     * or core bug, not bad input. */
    SIM_CHECK(rc == 0, "n%04u: swim_recv of %zu bytes from n%04u = %d", ev->dst,
              ev->len, ev->src, rc);
    free(ev->payload);
    ev->payload = NULL;
    sim_after(s, ev->dst);
}

static void sim_wake(sim_t *s, const sim_ev_t *ev)
{
    sim_node_t *nd = &s->nodes[ev->dst];
    if (nd->st != SIM_NODE_UP || ev->at != nd->wake_at)
        return; /* paused (re-armed on resume) or stale */
    nd->wake_at = UINT64_MAX;
    swim_tick(nd->core, s->now);
    sim_after(s, ev->dst);
}

static void sim_dispatch(sim_t *s, sim_ev_t *ev)
{
    sim_node_t *nd = &s->nodes[ev->dst];
    bool live = ev->dst_gen == nd->gen &&
                (nd->st == SIM_NODE_UP || nd->st == SIM_NODE_PAUSED);
    if (ev->kind == SIM_EV_WAKE) {
        if (live)
            sim_wake(s, ev);
        return;
    }
    if (!live) {
        s->ctr.to_down += ev->kind == SIM_EV_DELIVER;
        free(ev->payload);
        return;
    }
    if (s->nodes[ev->src].group != nd->group) {
        s->ctr.cut++;
        free(ev->payload);
        return;
    }
    sim_deliver(s, ev);
}

void sim_run_until(sim_t *s, uint64_t t)
{
    sim_ev_t ev;
    while (s->heap.n > 0 && s->heap.v[0].at <= t) {
        sim_heap_pop(&s->heap, &ev);
        SH_ASSERT(ev.at >= s->now);
        s->now = ev.at;
        sim_dispatch(s, &ev);
    }
    if (t > s->now)
        s->now = t;
}

uint64_t sim_run_until_pred(sim_t *s, uint64_t deadline, uint32_t step_ms,
                            sim_pred_fn pred, void *udata)
{
    for (;;) {
        if (pred(s, udata))
            return s->now;
        if (s->now >= deadline)
            return UINT64_MAX;
        uint64_t t = s->now + (step_ms ? step_ms : 1);
        sim_run_until(s, t < deadline ? t : deadline);
    }
}

/* ---- whole-cluster checks -------------------------------------------- */

static bool sim_running(const sim_node_t *nd)
{
    return nd->st == SIM_NODE_UP || nd->st == SIM_NODE_PAUSED;
}

bool sim_converged(sim_t *s, void *unused)
{
    size_t want = sim_nodes_running(s);
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        const sim_node_t *nd = &s->nodes[i];
        if (nd->st != SIM_NODE_UP)
            continue;
        size_t counts[4];
        swim_count_by_state(nd->core, counts);
        if (counts[SWIM_ALIVE] != want)
            return false;
    }
    /* The counts match; now make sure they are the right members. */
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        const sim_node_t *nd = &s->nodes[i];
        if (nd->st != SIM_NODE_UP)
            continue;
        size_t n = swim_member_count(nd->core);
        for (size_t k = 0; k < n; k++) {
            swim_member_view_t m;
            SIM_CHECK(swim_member_get(nd->core, k, &m) == 0, "n%04u: member_get(%zu)", i, k);
            int j = sim_node_index(s, m.id);
            SIM_CHECK(j >= 0, "n%04u: unknown member '%s' in table", i, m.id);
            if ((m.state == SWIM_ALIVE) != sim_running(&s->nodes[j]))
                return false;
        }
    }
    return true;
}

uint64_t sim_converge(sim_t *s, uint64_t deadline, const char *what)
{
    uint64_t t = sim_run_until_pred(s, deadline, 10, sim_converged, NULL);
    if (t == UINT64_MAX) {
        sim_explain(s, 20);
        sim_fail(__FILE__, __LINE__, "%s: not converged by t=%llu ms", what,
                 (unsigned long long)deadline);
    }
    return t;
}

void sim_explain(sim_t *s, int max)
{
    int shown = 0;
    for (uint32_t i = 0; i < s->cfg.n_nodes && shown < max; i++) {
        const sim_node_t *nd = &s->nodes[i];
        if (nd->st != SIM_NODE_UP)
            continue;
        bool *seen = calloc(s->cfg.n_nodes, sizeof *seen);
        SH_ASSERT(seen != NULL);
        size_t n = swim_member_count(nd->core);
        for (size_t k = 0; k < n && shown < max; k++) {
            swim_member_view_t m;
            if (swim_member_get(nd->core, k, &m) != 0)
                continue;
            int j = sim_node_index(s, m.id);
            if (j < 0)
                continue;
            seen[j] = true;
            if ((m.state == SWIM_ALIVE) == sim_running(&s->nodes[j]))
                continue;
            fprintf(stderr, "  n%04u sees %s %s inc=%u since %llu ms; it is %s\n", i,
                    m.id, swim_state_name(m.state), m.incarnation,
                    (unsigned long long)m.last_change_ms,
                    sim_running(&s->nodes[j]) ? "running" : "down");
            shown++;
        }
        for (uint32_t j = 0; j < s->cfg.n_nodes && shown < max; j++) {
            if (!seen[j] && sim_running(&s->nodes[j])) {
                fprintf(stderr, "  n%04u does not know running n%04u\n", i, j);
                shown++;
            }
        }
        free(seen);
    }
}

void sim_check_all(sim_t *s)
{
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        const sim_node_t *nd = &s->nodes[i];
        if (!sim_running(nd))
            continue;
        swim_check_invariants(nd->core);
        size_t n = swim_member_count(nd->core);
        for (size_t k = 0; k < n; k++) {
            swim_member_view_t m;
            SIM_CHECK(swim_member_get(nd->core, k, &m) == 0, "n%04u: member_get(%zu)", i, k);
            SIM_CHECK(k != 0 || strcmp(m.id, nd->id) == 0,
                      "n%04u: member 0 is '%s', not self", i, m.id);
            int j = sim_node_index(s, m.id);
            SIM_CHECK(j >= 0, "n%04u: unknown member '%s' in table", i, m.id);
            const sim_view_t *v = &s->view[(size_t)i * s->cfg.n_nodes + (uint32_t)j];
            SIM_CHECK(v->known && v->state == m.state && v->inc == m.incarnation,
                      "n%04u: table has %s %s inc=%u, its events said %s inc=%u", i,
                      m.id, swim_state_name(m.state), m.incarnation,
                      v->known ? swim_state_name(v->state) : "(nothing)", v->inc);
        }
    }
}
