/*
 * swim_probe.c - failure detection: one probe per protocol period, direct
 * then indirect, and the ping-req relays we run for others.
 *
 * Design notes.
 *
 * Protocol period (SWIM §4, Lifeguard §IV-A).  Every probe_interval *
 * (awareness + 1) ms we PING the next member of the probe list.  Without
 * an ACK after probe_timeout * (awareness + 1) ms we send PING_REQ to
 * indirect_k random alive members, which PING the target with their own
 * sequence number and relay its ACK under ours, or send a NACK when the
 * target stays silent (Lifeguard: a missing NACK means the relay or our
 * own link is slow, which counts against our local health, not against
 * the target).  If no ACK came by the end of the period, the target
 * becomes suspect (swim_suspect.c); a target that is suspect already gets
 * our accusation as a confirmation.
 *
 * Probe order (SWIM §4.3).  Targets come from a list of the alive and
 * suspect members, shuffled at the start of each pass and consumed in
 * order, so every member is probed once per pass (a bounded worst-case
 * detection time, unlike uniform random choice).  A member that turns up
 * mid-pass is inserted at a random position among those not yet probed.
 * Members that died meanwhile are skipped when reached.  Each slot appears
 * at most once among the pending entries (member.in_probe), so the list
 * fits in the table's capacity after compacting the consumed prefix.
 *
 * Relays.  At most SWIM_RELAY_MAX ping-reqs are relayed at once (further
 * ones are dropped and counted: the requester then sees a missing NACK).
 * A relay answers NACK at 80% of our probe timeout, so that it reaches the
 * requester before its period ends (the default period leaves 500 ms after
 * the direct timeout; the NACK is sent 400 ms after the PING_REQ).
 *
 * Not here: what suspicion does, push-pull (swim_sync.c).
 */
#include <stdio.h>
#include <string.h>

#include "sh_assert.h"
#include "swim_int.h"

/* ---- the probe list ------------------------------------------------------ */

static void probe_list_compact(swim_t *s)
{
    uint32_t pending = s->probe_len - s->probe_pos;
    memmove(s->probe_list, s->probe_list + s->probe_pos,
            pending * sizeof(uint32_t));
    s->probe_pos = 0;
    s->probe_len = pending;
}

void swim_probe_list_add(swim_t *s, uint32_t slot)
{
    swim_member_t *m = &s->m[slot];
    if (m->in_probe || slot == 0)
        return;
    if (s->probe_len == s->cap)
        probe_list_compact(s);
    SH_ASSERT(s->probe_len < s->cap);
    uint32_t pending = s->probe_len - s->probe_pos;
    uint32_t r = s->probe_pos + (uint32_t)sh_rng_below(&s->rng, pending + 1);
    s->probe_list[s->probe_len++] = s->probe_list[r];
    s->probe_list[r] = slot;
    m->in_probe = true;
}

/* Start a new pass: every alive or suspect member, Fisher-Yates shuffled. */
static void probe_list_rebuild(swim_t *s)
{
    s->probe_pos = s->probe_len = 0;
    for (uint32_t i = 1; i < s->n; i++) {
        swim_member_t *m = &s->m[i];
        if (m->state == SWIM_ALIVE || m->state == SWIM_SUSPECT) {
            s->probe_list[s->probe_len++] = i;
            m->in_probe = true;
        }
    }
    for (uint32_t i = s->probe_len; i > 1; i--) {
        uint32_t j = (uint32_t)sh_rng_below(&s->rng, i);
        uint32_t tmp = s->probe_list[i - 1];
        s->probe_list[i - 1] = s->probe_list[j];
        s->probe_list[j] = tmp;
    }
}

static int32_t probe_next_target(swim_t *s)
{
    for (int pass = 0; pass < 2; pass++) {
        while (s->probe_pos < s->probe_len) {
            uint32_t slot = s->probe_list[s->probe_pos++];
            swim_member_t *m = &s->m[slot];
            m->in_probe = false;
            if (m->state == SWIM_ALIVE || m->state == SWIM_SUSPECT)
                return (int32_t)slot;
        }
        probe_list_rebuild(s);
    }
    return SWIM_NONE;
}

/* ---- our own probes ------------------------------------------------------- */

static void str_copy(char *dst, size_t cap, swim_str_t v)
{
    size_t n = v.len < cap ? v.len : cap - 1;
    memcpy(dst, v.p, n);
    dst[n] = 0;
}

static void send_ping(swim_t *s, const char *to, uint32_t seq, swim_str_t target,
                      const swim_update_t *buddy)
{
    swim_msg_t msg = {.type = SWIM_MSG_PING, .seq = seq, .target_id = target,
                      .gossip = buddy, .n_gossip = buddy ? 1 : 0};
    swim_send(s, to, &msg);
}

static void send_seq(swim_t *s, const char *to, uint8_t type, uint32_t seq)
{
    swim_msg_t msg = {.type = type, .seq = seq};
    swim_send(s, to, &msg);
}

/* The period ended without an ack: local health suffers (one for the
 * probe, one per NACK owed), and the target is accused. */
static void probe_failed(swim_t *s, uint64_t t)
{
    swim_probe_t *p = &s->probe;
    s->st.probes_failed++;
    int delta = 1;
    if (p->indirect && p->nacks < p->nacks_expected)
        delta += (int)(p->nacks_expected - p->nacks);
    swim_awareness_add(s, delta);
    if (p->slot >= s->n || s->m[p->slot].id_hash != p->id_hash)
        return; /* evicted and reused meanwhile */
    swim_member_t *m = &s->m[p->slot];
    swim_str_t me = swim_str_of(s->self_id);
    if (m->state == SWIM_ALIVE)
        swim_suspect_begin(s, t, p->slot, m->incarnation, me, false);
    else if (m->state == SWIM_SUSPECT)
        swim_suspect_confirm(s, t, p->slot, me);
}

void swim_probe_period(swim_t *s, uint64_t t)
{
    if (s->probe.active && !s->probe.acked)
        probe_failed(s, t);
    memset(&s->probe, 0, sizeof(s->probe));
    s->probe_next_at = t + swim_scaled(s, s->cfg.probe_interval_ms);
    int32_t slot = probe_next_target(s);
    if (slot == SWIM_NONE)
        return;
    swim_member_t *m = &s->m[slot];
    swim_probe_t *p = &s->probe;
    p->active = true;
    p->slot = (uint32_t)slot;
    p->id_hash = m->id_hash;
    p->seq = ++s->seq_next;
    p->ack_at = t + swim_scaled(s, s->cfg.probe_timeout_ms);
    s->st.probes_sent++;
    /* Lifeguard's buddy system: a suspect learns of its suspicion from the
     * very probe, even after the gossip about it has been retransmitted
     * out, and can refute before the timeout. */
    swim_update_t buddy;
    swim_member_view_update(s, (uint32_t)slot, &buddy, true);
    send_ping(s, m->addr, p->seq, swim_str_of(m->id),
              m->state == SWIM_SUSPECT ? &buddy : NULL);
}

/* The direct ack is late: ask k others to probe the target for us. */
void swim_probe_indirect(swim_t *s, uint64_t t)
{
    swim_probe_t *p = &s->probe;
    uint32_t k = s->cfg.indirect_k < SWIM_RELAY_MAX ? s->cfg.indirect_k
                                                    : SWIM_RELAY_MAX;
    uint32_t pick[SWIM_RELAY_MAX];
    p->indirect = true;
    if (p->slot >= s->n || s->m[p->slot].id_hash != p->id_hash)
        return;
    uint32_t got = swim_alive_sample(s, pick, k, (int32_t)p->slot);
    const swim_member_t *target = &s->m[p->slot];
    for (uint32_t i = 0; i < got; i++) {
        swim_msg_t msg = {
            .type = SWIM_MSG_PING_REQ,
            .seq = p->seq,
            .target_id = swim_str_of(target->id),
            .target_addr = swim_str_of(target->addr),
        };
        s->st.ping_reqs_sent++;
        swim_send(s, s->m[pick[i]].addr, &msg);
    }
    p->nacks_expected = got;
}

/* ---- inputs ------------------------------------------------------------ */

void swim_on_ping(swim_t *s, uint64_t t, const swim_msg_t *m, const char *reply,
                  bool vouch)
{
    /* Misdirected (the address now belongs to someone else): an ACK
     * would vouch for a member that is not here. */
    if (!swim_str_eq(m->target_id, swim_str_of(s->self_id)))
        return;
    swim_update_t self;
    swim_member_view_update(s, 0, &self, false);
    swim_msg_t msg = {.type = SWIM_MSG_ACK, .seq = m->seq, .gossip = &self,
                      .n_gossip = vouch ? 1 : 0};
    swim_send(s, reply, &msg);
}

static void relay_remove(swim_t *s, uint32_t i)
{
    memmove(&s->relays[i], &s->relays[i + 1],
            (s->n_relays - i - 1) * sizeof(s->relays[0]));
    s->n_relays--;
}

/* A suspicion that rests on a transport hint (swim_peer_unreachable) is
 * dropped when the member answers our own probe: the connection came back,
 * and first-hand evidence beats a dropped socket.  This is the one place a
 * member goes from SUSPECT back to ALIVE at the same incarnation, and only
 * locally: others who heard our accusation keep their (full Lifeguard)
 * timers until the member refutes, which our next PING's buddy update and
 * the gossip prompt it to do.  Suspicions from probes or gossip are never
 * cleared by an ack (SWIM §4.2: only a refutation does). */
static void ack_clears_hint(swim_t *s, uint64_t t)
{
    const swim_probe_t *p = &s->probe;
    if (p->slot >= s->n || s->m[p->slot].id_hash != p->id_hash)
        return;
    swim_member_t *m = &s->m[p->slot];
    if (m->state == SWIM_SUSPECT && m->susp_refused)
        swim_member_set(s, t, p->slot, SWIM_ALIVE, m->incarnation,
                        swim_str_of(NULL));
}

void swim_on_ack(swim_t *s, uint64_t t, const swim_msg_t *m)
{
    swim_probe_t *p = &s->probe;
    if (p->active && !p->acked && m->seq == p->seq) {
        p->acked = true;
        swim_awareness_add(s, -1);
        ack_clears_hint(s, t);
        return;
    }
    for (uint32_t i = 0; i < s->n_relays; i++) {
        if (s->relays[i].my_seq != m->seq)
            continue;
        send_seq(s, s->relays[i].req_addr, SWIM_MSG_ACK, s->relays[i].req_seq);
        relay_remove(s, i);
        return;
    }
}

void swim_on_ping_req(swim_t *s, uint64_t t, const swim_msg_t *m,
                      const char *reply)
{
    if (s->n_relays == SWIM_RELAY_MAX) {
        s->st.relays_dropped++;
        return;
    }
    swim_relay_t *r = &s->relays[s->n_relays++];
    char to[SWIM_ADDR_MAX];
    r->my_seq = ++s->seq_next;
    r->req_seq = m->seq;
    r->nack_at = t + (uint64_t)s->cfg.probe_timeout_ms * 4 / 5;
    snprintf(r->req_addr, sizeof(r->req_addr), "%s", reply);
    str_copy(to, sizeof(to), m->target_addr);
    send_ping(s, to, r->my_seq, m->target_id, NULL);
}

void swim_on_nack(swim_t *s, uint64_t t, const swim_msg_t *m)
{
    swim_probe_t *p = &s->probe;
    if (p->active && p->indirect && m->seq == p->seq &&
        p->nacks < p->nacks_expected)
        p->nacks++;
}

uint64_t swim_relay_next(const swim_t *s)
{
    uint64_t d = UINT64_MAX;
    for (uint32_t i = 0; i < s->n_relays; i++)
        if (s->relays[i].nack_at < d)
            d = s->relays[i].nack_at;
    return d;
}

/* The earliest relay is due: the target stayed silent; tell the requester. */
void swim_relay_nack(swim_t *s, uint64_t t)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < s->n_relays; i++)
        if (s->relays[i].nack_at < s->relays[best].nack_at)
            best = i;
    SH_ASSERT(s->n_relays > 0 && s->relays[best].nack_at <= t);
    s->st.nacks_sent++;
    send_seq(s, s->relays[best].req_addr, SWIM_MSG_NACK, s->relays[best].req_seq);
    relay_remove(s, best);
}
