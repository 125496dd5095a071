/*
 * swim.c - the SWIM + Lifeguard core: lifecycle, inputs, timers, outbox.
 *
 * Design notes.
 *
 * Sans-IO.  Inputs are (now, event) calls; outputs are queued and drained
 * with swim_next_output; nothing here reads a clock, draws randomness other
 * than from the seeded s->rng, or touches a socket.  Members are iterated
 * in slot order and random choices are drawn in a fixed order, so one seed
 * and one input sequence give one run, byte for byte.
 *
 * Timers.  The core has a handful of timers: the probe period, the direct
 * ack deadline, relay NACKs, suspicion expiries (a heap), push-pull,
 * reconnect and join retry.  swim_next_deadline returns the earliest one,
 * and every input first runs every timer due at or before `now`, one at a
 * time in deadline order (ties broken by a fixed order: suspicion, relay,
 * indirect probe, probe period, push-pull, reconnect, join), and runs them
 * again after the input (a confirmation may have made a suspicion due).
 * Hence a driver that ticks only at deadlines and one that ticks every
 * millisecond see identical behaviour.  A timer acts at `now` and the next
 * period is scheduled from `now`: a process resumed after a pause (or a
 * late driver) runs one overdue probe period, not every period it missed
 * with no chance to read the acks in between.  The first probe, push-pull
 * and reconnect are staggered randomly within their interval so nodes
 * started together do not probe in lock step.
 *
 * Outbox.  A ring of outputs that grows on demand up to 4 * max_members
 * entries (at least 64).  When it is full the oldest SEND is dropped
 * (gossip is redundant by design and probes are retried); events are only
 * dropped if the ring holds nothing else, and every drop is counted in
 * outbox_dropped.  The adapter is expected to drain after every call.
 *
 * After swim_leave the core is inert: inputs and ticks return at once and
 * swim_next_deadline is UINT64_MAX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "swim_int.h"

const char *swim_state_name(enum swim_state st)
{
    switch (st) {
    case SWIM_ALIVE: return "alive";
    case SWIM_SUSPECT: return "suspect";
    case SWIM_DEAD: return "dead";
    case SWIM_LEFT: return "left";
    }
    return "unknown";
}

void swim_config_default(swim_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_members = 4096;
    cfg->probe_interval_ms = 1000;
    cfg->probe_timeout_ms = 500;
    cfg->indirect_k = 3;
    cfg->suspicion_mult = 4;
    cfg->suspicion_max_mult = 6;
    cfg->retransmit_mult = 4;
    cfg->awareness_max = 8;
    cfg->pushpull_interval_ms = 30000;
    cfg->reconnect_interval_ms = 5000;
    cfg->join_retry_ms = 1000;
    cfg->refused_suspicion_ms = 2000;
    cfg->gossip_max_bytes = 1024;
    cfg->payload_max_bytes = 1u << 20;
}

uint64_t swim_scaled(const swim_t *s, uint32_t ms)
{
    return (uint64_t)ms * (s->awareness + 1);
}

/* ---- outbox ------------------------------------------------------------ */

static swim_out_t *ob_at(swim_t *s, size_t i)
{
    return &s->ob[(s->ob_head + i) % s->ob_cap];
}

static int ob_grow(swim_t *s)
{
    size_t cap = s->ob_cap * 2 < s->ob_max ? s->ob_cap * 2 : s->ob_max;
    if (cap <= s->ob_cap)
        return SH_EFULL;
    swim_out_t *n = malloc(cap * sizeof(*n));
    if (!n)
        return -ENOMEM;
    for (size_t i = 0; i < s->ob_len; i++)
        n[i] = *ob_at(s, i);
    free(s->ob);
    s->ob = n;
    s->ob_cap = cap;
    s->ob_head = 0;
    return 0;
}

/* Full: drop the oldest SEND (or, with none queued, the new send or the
 * oldest event).  Returns false if `o` itself was dropped. */
static bool ob_make_room(swim_t *s, swim_out_t *o)
{
    size_t victim = 0;
    while (victim < s->ob_len && ob_at(s, victim)->kind != SWIM_OUT_SEND)
        victim++;
    s->st.outbox_dropped++;
    if (victim == s->ob_len) {
        if (o->kind == SWIM_OUT_SEND) {
            free(o->payload);
            return false;
        }
        victim = 0;
    }
    free(ob_at(s, victim)->payload);
    for (size_t i = victim; i + 1 < s->ob_len; i++)
        *ob_at(s, i) = *ob_at(s, i + 1);
    s->ob_len--;
    return true;
}

static void ob_push(swim_t *s, swim_out_t *o)
{
    if (s->ob_len == s->ob_cap && ob_grow(s) != 0 && !ob_make_room(s, o))
        return;
    *ob_at(s, s->ob_len++) = *o;
}

void swim_out_event(swim_t *s, uint32_t slot, enum swim_state old, bool is_new)
{
    swim_out_t o = {.kind = SWIM_OUT_EVENT, .old_state = old, .is_new = is_new};
    const swim_member_t *m = &s->m[slot];
    memcpy(o.member.id, m->id, sizeof(o.member.id));
    memcpy(o.member.addr, m->addr, sizeof(o.member.addr));
    o.member.state = (enum swim_state)m->state;
    o.member.incarnation = m->incarnation;
    o.member.last_change_ms = m->last_change_ms;
    ob_push(s, &o);
}

int swim_send(swim_t *s, const char *to_addr, swim_msg_t *msg)
{
    msg->from_id = swim_str_of(s->self_id);
    msg->from_addr = swim_str_of(s->self_addr);
    if (msg->type != SWIM_MSG_SYNC && msg->type != SWIM_MSG_SYNC_ACK) {
        /* Updates the caller insists on (at most SWIM_FORCED_MAX) go
         * first, then the fewest-sent gossip in the remaining budget,
         * which skips the forced ones (see swim_gossip_select). */
        size_t nf = msg->n_gossip, used = 0;
        SH_ASSERT(nf <= SWIM_FORCED_MAX);
        for (size_t i = 0; i < nf; i++) {
            s->g_views[i] = msg->gossip[i];
            used += swim_update_size(&msg->gossip[i]);
        }
        size_t budget = s->cfg.gossip_max_bytes;
        msg->n_gossip = nf + swim_gossip_select(s, used < budget ? budget - used : 0, nf);
        msg->gossip = s->g_views;
    }
    swim_out_t o = {.kind = SWIM_OUT_SEND};
    int rc = swim_msg_encode(msg, s->cfg.payload_max_bytes, &o.payload, &o.len);
    if (rc)
        return rc;
    snprintf(o.to_addr, sizeof(o.to_addr), "%s", to_addr);
    s->st.msgs_out++;
    s->st.bytes_out += o.len;
    ob_push(s, &o);
    return 0;
}

int swim_next_output(swim_t *s, swim_out_t *out)
{
    if (s->ob_len == 0)
        return 0;
    *out = *ob_at(s, 0);
    s->ob_head = (s->ob_head + 1) % s->ob_cap;
    s->ob_len--;
    return 1;
}

/* ---- timers ------------------------------------------------------------ */

enum swim_timer {
    T_NONE, T_SUSPECT, T_RELAY, T_INDIRECT, T_PROBE, T_PUSHPULL, T_RECONNECT,
    T_JOIN,
};

static enum swim_timer timer_next(const swim_t *s, uint64_t *at)
{
    const swim_probe_t *p = &s->probe;
    uint64_t d[8] = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                     UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
    d[T_SUSPECT] = swim_suspect_next(s);
    d[T_RELAY] = swim_relay_next(s);
    if (p->active && !p->acked && !p->indirect && p->ack_at < s->probe_next_at)
        d[T_INDIRECT] = p->ack_at;
    d[T_PROBE] = s->probe_next_at;
    d[T_PUSHPULL] = s->pushpull_at;
    d[T_RECONNECT] = s->reconnect_at;
    if (s->joining)
        d[T_JOIN] = s->join_at;
    enum swim_timer best = T_NONE;
    for (int i = T_SUSPECT; i <= T_JOIN; i++)
        if (d[i] < d[best])
            best = (enum swim_timer)i;
    *at = d[best];
    return best;
}

static void timers_run(swim_t *s, uint64_t now)
{
    uint64_t d;
    enum swim_timer which;
    while (!s->left && (which = timer_next(s, &d)) != T_NONE && d <= now) {
        switch (which) {
        case T_SUSPECT: swim_suspect_expire(s, now); break;
        case T_RELAY: swim_relay_nack(s, now); break;
        case T_INDIRECT: swim_probe_indirect(s, now); break;
        case T_PROBE: swim_probe_period(s, now); break;
        case T_PUSHPULL: swim_pushpull_run(s, now); break;
        case T_RECONNECT: swim_reconnect_run(s, now); break;
        case T_JOIN: swim_join_run(s, now); break;
        case T_NONE: break;
        }
    }
}

uint64_t swim_next_deadline(const swim_t *s)
{
    uint64_t d;
    if (s->left || timer_next(s, &d) == T_NONE)
        return UINT64_MAX;
    return d;
}

void swim_tick(swim_t *s, uint64_t now_ms)
{
    timers_run(s, now_ms);
}

/* ---- lifecycle ---------------------------------------------------------- */

static bool name_ok(const char *p)
{
    return p && p[0] && strlen(p) < SWIM_ID_MAX;
}

static int config_check(const swim_config_t *c)
{
    if (!name_ok(c->self_id) || !name_ok(c->self_addr))
        return SH_EBAD_REQUEST;
    if (c->max_members < 1 || c->probe_interval_ms < 1 ||
        c->probe_timeout_ms < 1 || c->pushpull_interval_ms < 1 ||
        c->reconnect_interval_ms < 1 || c->join_retry_ms < 1 ||
        c->suspicion_mult < 1 || c->suspicion_max_mult < 1)
        return SH_EBAD_REQUEST;
    if (c->payload_max_bytes < 2 * SWIM_MSG_OVERHEAD_MAX ||
        c->gossip_max_bytes > c->payload_max_bytes - SWIM_MSG_OVERHEAD_MAX)
        return SH_EBAD_REQUEST;
    return 0;
}

int swim_new(swim_t **out, const swim_config_t *cfg, uint64_t now_ms)
{
    int rc = config_check(cfg);
    if (rc)
        return rc;
    swim_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cfg = *cfg;
    snprintf(s->self_id, sizeof(s->self_id), "%s", cfg->self_id);
    snprintf(s->self_addr, sizeof(s->self_addr), "%s", cfg->self_addr);
    s->cfg.self_id = s->self_id;
    s->cfg.self_addr = s->self_addr;
    sh_rng_seed(&s->rng, cfg->seed);
    s->ob_max = (size_t)cfg->max_members * 4 < 64 ? 64 : (size_t)cfg->max_members * 4;
    s->ob_cap = 64;
    s->ob = malloc(s->ob_cap * sizeof(*s->ob));
    if (!s->ob || (rc = swim_table_init(s)) != 0 || (rc = swim_gossip_init(s)) != 0) {
        swim_free(s);
        return rc ? rc : -ENOMEM;
    }
    swim_table_add_self(s, now_ms);
    /* "I am here, at this incarnation" is news like any other: a restarted
     * member must spread its new life itself, not rely on its seed alone,
     * or members still holding the old life suspect declare it dead. */
    swim_gossip_queue(s, 0, swim_str_of(NULL));
    s->probe_next_at = now_ms + 1 + sh_rng_below(&s->rng, cfg->probe_interval_ms);
    s->pushpull_at = now_ms + 1 + sh_rng_below(&s->rng, cfg->pushpull_interval_ms);
    s->reconnect_at = now_ms + 1 + sh_rng_below(&s->rng, cfg->reconnect_interval_ms);
    *out = s;
    return 0;
}

void swim_free(swim_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->ob && i < s->ob_len; i++)
        free(ob_at(s, i)->payload);
    free(s->ob);
    free(s->seeds);
    swim_table_fini(s);
    swim_gossip_fini(s);
    free(s);
}

int swim_join(swim_t *s, uint64_t now_ms, const char *const *seeds, size_t n)
{
    if (s->left)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_ok(seeds[i]))
            return SH_EBAD_REQUEST;
    timers_run(s, now_ms);
    char(*list)[SWIM_ADDR_MAX] = n ? calloc(n, SWIM_ADDR_MAX) : NULL;
    if (n && !list)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = !strcmp(seeds[i], s->self_addr);
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp(seeds[i], list[j]);
        if (!dup)
            snprintf(list[k++], SWIM_ADDR_MAX, "%s", seeds[i]);
    }
    free(s->seeds);
    s->seeds = list;
    s->n_seeds = k;
    s->joining = k > 0;
    /* Announce ourselves afresh: a second join (the cluster was lost,
     * seeds replaced) comes after swim_new's entry was sent out. */
    swim_gossip_queue(s, 0, swim_str_of(NULL));
    if (s->joining)
        swim_join_run(s, now_ms);
    timers_run(s, now_ms);
    return 0;
}

int swim_leave(swim_t *s, uint64_t now_ms)
{
    if (s->left)
        return 0;
    timers_run(s, now_ms);
    uint32_t inc = s->m[0].incarnation;
    s->left = true;
    s->joining = false;
    swim_member_set(s, now_ms, 0, SWIM_LEFT, inc < UINT32_MAX ? inc + 1 : inc,
                    swim_str_of(NULL));
    swim_leave_send(s);
    return 0;
}

static void dispatch(swim_t *s, uint64_t now, const swim_msg_t *m,
                     const char *reply)
{
    /* Before the updates: a verdict about the sender itself in this very
     * message must meet the evidence the message is. */
    swim_heard_note(s, now, m->from_id);
    for (size_t i = 0; i < m->n_gossip; i++)
        swim_update_apply(s, now, &m->gossip[i], m->from_id, false);
    /* A SYNC's full state is merged here too, so that any refutation it
     * causes is made before it is answered. */
    for (size_t i = 0; i < m->n_members; i++)
        swim_update_apply(s, now, &m->members[i], m->from_id, true);
    swim_suspect_tell(s, now, m->from_id);
    bool vouch = swim_refute_answer(s, m, reply);
    switch (m->type) {
    case SWIM_MSG_PING: swim_on_ping(s, now, m, reply, vouch); break;
    case SWIM_MSG_ACK: swim_on_ack(s, now, m); break;
    case SWIM_MSG_PING_REQ: swim_on_ping_req(s, now, m, reply); break;
    case SWIM_MSG_NACK: swim_on_nack(s, now, m); break;
    case SWIM_MSG_SYNC:
    case SWIM_MSG_SYNC_ACK: swim_on_sync(s, now, m, reply); break;
    default: break; /* GOSSIP: the updates were the message */
    }
}

int swim_recv(swim_t *s, uint64_t now_ms, const char *from_addr,
              const uint8_t *payload, size_t len)
{
    if (s->left)
        return 0;
    /* Decode first: a bad payload changes nothing but a counter, not even
     * the timers (the driver still ticks at the deadlines). */
    swim_msg_t m;
    int rc = swim_msg_decode(payload, len, s->cfg.payload_max_bytes, &m);
    if (rc) {
        if (rc == SH_EMALFORMED || rc == SH_ETOO_BIG)
            s->st.bad_payloads++;
        return rc;
    }
    timers_run(s, now_ms);
    s->st.msgs_in++;
    s->st.bytes_in += len;
    /* Our own id: a loop through a seed list naming us under another
     * address, or an id clash.  Either way nothing to learn. */
    if (!swim_str_eq(m.from_id, swim_str_of(s->self_id))) {
        char reply[SWIM_ADDR_MAX];
        if (name_ok(from_addr))
            snprintf(reply, sizeof(reply), "%s", from_addr);
        else
            snprintf(reply, sizeof(reply), "%.*s", (int)m.from_addr.len,
                     m.from_addr.p);
        dispatch(s, now_ms, &m, reply);
    }
    swim_msg_fini(&m);
    timers_run(s, now_ms);
    return 0;
}

void swim_peer_unreachable(swim_t *s, uint64_t now_ms, const char *addr)
{
    if (s->left || !addr)
        return;
    timers_run(s, now_ms);
    swim_str_t me = swim_str_of(s->self_id);
    for (uint32_t i = 1; i < s->n; i++) {
        swim_member_t *m = &s->m[i];
        if (strcmp(m->addr, addr) != 0)
            continue;
        if (m->state == SWIM_ALIVE)
            swim_suspect_begin(s, now_ms, i, m->incarnation, me, true);
        else if (m->state == SWIM_SUSPECT)
            swim_suspect_refused(s, i);
    }
    timers_run(s, now_ms);
}

/* ---- queries --------------------------------------------------------------- */

size_t swim_member_count(const swim_t *s)
{
    return s->n;
}

int swim_member_get(const swim_t *s, size_t i, swim_member_view_t *out)
{
    if (i >= s->n)
        return SH_ENOT_FOUND;
    const swim_member_t *m = &s->m[i];
    memcpy(out->id, m->id, sizeof(out->id));
    memcpy(out->addr, m->addr, sizeof(out->addr));
    out->state = (enum swim_state)m->state;
    out->incarnation = m->incarnation;
    out->last_change_ms = m->last_change_ms;
    return 0;
}

int swim_member_find(const swim_t *s, const char *id, swim_member_view_t *out)
{
    int32_t slot = id ? swim_table_find(s, id, strlen(id)) : SWIM_NONE;
    if (slot == SWIM_NONE)
        return SH_ENOT_FOUND;
    return swim_member_get(s, (size_t)slot, out);
}

void swim_count_by_state(const swim_t *s, size_t counts[4])
{
    for (int i = 0; i < 4; i++)
        counts[i] = s->counts[i];
}

void swim_stats_get(const swim_t *s, swim_stats_t *out)
{
    *out = s->st;
    out->awareness = s->awareness;
}

static void gossip_check(const swim_t *s)
{
    uint32_t n = 0;
    for (uint32_t b = 0; b < s->gq_nb; b++) {
        int32_t prev = SWIM_NONE;
        for (int32_t e = s->gq[b].head; e != SWIM_NONE; e = s->m[e].g_next) {
            SH_ASSERT((uint32_t)e < s->n && s->m[e].g_bucket == (int16_t)b);
            SH_ASSERT(s->m[e].g_prev == prev);
            prev = e;
            SH_ASSERT(++n <= s->n);
        }
        SH_ASSERT(s->gq[b].tail == prev);
    }
    SH_ASSERT(n == s->gq_count);
}

void swim_check_invariants(const swim_t *s)
{
    swim_table_check(s);
    swim_heap_check(s);
    gossip_check(s);
    SH_ASSERT(s->probe_pos <= s->probe_len && s->probe_len <= s->cap);
    SH_ASSERT(s->awareness <= s->cfg.awareness_max);
    SH_ASSERT(s->n_relays <= SWIM_RELAY_MAX);
    SH_ASSERT(s->ob_len <= s->ob_cap && s->ob_cap <= s->ob_max);
}
