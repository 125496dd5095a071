/*
 * swim_gossip.c - the dissemination queue: membership updates piggybacked
 * on every message (SWIM §4.1 "infection-style dissemination").
 *
 * Design notes.
 *
 * One entry per member, newest news wins: the entry names a slot and the
 * update is read from the table when it is sent, so it is always the
 * latest state we hold (plus, for a SUSPECT, the accuser we last heard,
 * because Lifeguard counts distinct accusers).  Re-queuing a member
 * resets its transmit count.
 *
 * Each update is sent lambda * ceil(log10(N + 1)) times (memberlist's
 * retransmit limit; N = alive + suspect members incl. self), which SWIM
 * shows reaches everyone with high probability.  Fewest-sent first: the
 * entries sit in buckets by transmit count (the newest first within a
 * bucket), so selecting u updates costs O(u + buckets) rather than a sort
 * of the queue.  The limit is recomputed at each selection; entries at or
 * past it are dropped then.
 *
 * The queue is bounded by the table (one entry per slot); a message takes
 * updates up to gossip_max_bytes.  An update that does not fit is skipped
 * for a smaller one, at most four times per message.
 *
 * Forced updates.  A sender may put up to SWIM_FORCED_MAX updates into a
 * message ahead of the gossip: the buddy suspicion in a PING, our own
 * alive in a reply to someone who doubts us.  They are meant for that one
 * recipient, so the selection skips them and they cost no transmission:
 * otherwise a burst of replies (a resumed member acking the pings queued
 * while it was paused) would spend the whole retransmit budget of its
 * refutation on the members that get it forced anyway, and none would be
 * left for the epidemic to reach the others (tests/sim pause).
 *
 * Not here: what is news (swim_table.c decides, then calls queue).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "swim_int.h"

/* ceil(log10(n + 1)) in integers: the smallest c with 10^c >= n + 1. */
static uint32_t ceil_log10p1(uint64_t n)
{
    uint32_t c = 0;
    for (uint64_t x = 1; x < n + 1; x *= 10)
        c++;
    return c;
}

int swim_gossip_init(swim_t *s)
{
    uint64_t nb = (uint64_t)s->cfg.retransmit_mult *
                      ceil_log10p1(s->cfg.max_members) + 1;
    if (nb > SWIM_GOSSIP_BUCKETS_MAX)
        nb = SWIM_GOSSIP_BUCKETS_MAX;
    s->gq_nb = (uint32_t)nb;
    s->gq = malloc(nb * sizeof(*s->gq));
    s->g_pick_max = s->cfg.gossip_max_bytes / SWIM_UPDATE_MIN_BYTES + 1;
    s->g_pick = malloc(s->g_pick_max * sizeof(*s->g_pick));
    s->g_views = malloc((s->g_pick_max + SWIM_FORCED_MAX) * sizeof(*s->g_views));
    if (!s->gq || !s->g_pick || !s->g_views)
        return -ENOMEM;
    for (uint32_t b = 0; b < s->gq_nb; b++)
        s->gq[b].head = s->gq[b].tail = SWIM_NONE;
    return 0;
}

void swim_gossip_fini(swim_t *s)
{
    free(s->gq);
    free(s->g_pick);
    free(s->g_views);
}

uint32_t swim_gossip_limit(const swim_t *s)
{
    uint64_t n = (uint64_t)s->counts[SWIM_ALIVE] + s->counts[SWIM_SUSPECT];
    uint64_t lim = (uint64_t)s->cfg.retransmit_mult * ceil_log10p1(n);
    return lim >= s->gq_nb ? s->gq_nb - 1 : (uint32_t)lim;
}

static void unlink_entry(swim_t *s, uint32_t slot)
{
    swim_member_t *m = &s->m[slot];
    swim_gbucket_t *b = &s->gq[m->g_bucket];
    if (m->g_prev != SWIM_NONE)
        s->m[m->g_prev].g_next = m->g_next;
    else
        b->head = m->g_next;
    if (m->g_next != SWIM_NONE)
        s->m[m->g_next].g_prev = m->g_prev;
    else
        b->tail = m->g_prev;
    m->g_prev = m->g_next = SWIM_NONE;
}

static void push_head(swim_t *s, uint32_t slot, int16_t bucket)
{
    swim_member_t *m = &s->m[slot];
    swim_gbucket_t *b = &s->gq[bucket];
    m->g_bucket = bucket;
    m->g_prev = SWIM_NONE;
    m->g_next = b->head;
    if (b->head != SWIM_NONE)
        s->m[b->head].g_prev = (int32_t)slot;
    else
        b->tail = (int32_t)slot;
    b->head = (int32_t)slot;
}

static void push_tail(swim_t *s, uint32_t slot, int16_t bucket)
{
    swim_member_t *m = &s->m[slot];
    swim_gbucket_t *b = &s->gq[bucket];
    m->g_bucket = bucket;
    m->g_next = SWIM_NONE;
    m->g_prev = b->tail;
    if (b->tail != SWIM_NONE)
        s->m[b->tail].g_next = (int32_t)slot;
    else
        b->head = (int32_t)slot;
    b->tail = (int32_t)slot;
}

void swim_gossip_queue(swim_t *s, uint32_t slot, swim_str_t by)
{
    swim_member_t *m = &s->m[slot];
    if (m->g_bucket != SWIM_NONE)
        unlink_entry(s, slot);
    else
        s->gq_count++;
    memset(m->g_by, 0, sizeof(m->g_by));
    if (by.len && by.len < SWIM_ID_MAX)
        memcpy(m->g_by, by.p, by.len);
    push_head(s, slot, 0);
}

void swim_gossip_drop(swim_t *s, uint32_t slot)
{
    if (s->m[slot].g_bucket == SWIM_NONE)
        return;
    unlink_entry(s, slot);
    s->m[slot].g_bucket = SWIM_NONE;
    s->gq_count--;
}

/* Entries sent `limit` times or more are done (the limit shrinks when
 * members die). */
static void purge_from(swim_t *s, uint32_t limit)
{
    for (uint32_t b = limit; b < s->gq_nb; b++)
        while (s->gq[b].head != SWIM_NONE)
            swim_gossip_drop(s, (uint32_t)s->gq[b].head);
}

/* Is slot one of the forced updates' slots? */
static bool is_forced(const int32_t *forced, size_t first, int32_t slot)
{
    for (size_t i = 0; i < first; i++)
        if (forced[i] == slot)
            return true;
    return false;
}

size_t swim_gossip_select(swim_t *s, size_t budget, size_t first)
{
    uint32_t limit = swim_gossip_limit(s);
    size_t n = 0, used = 0;
    int skips = 0;
    int32_t forced[SWIM_FORCED_MAX];
    SH_ASSERT(first <= SWIM_FORCED_MAX);
    for (size_t i = 0; i < first; i++)
        forced[i] = swim_table_find(s, s->g_views[i].id.p, s->g_views[i].id.len);
    purge_from(s, limit);
    for (uint32_t b = 0; b < limit; b++) {
        for (int32_t e = s->gq[b].head; e != SWIM_NONE; e = s->m[e].g_next) {
            if (is_forced(forced, first, e))
                continue;
            swim_update_t *u = &s->g_views[first + n];
            swim_member_view_update(s, (uint32_t)e, u, true);
            size_t sz = swim_update_size(u);
            if (used + sz > budget) {
                if (++skips >= 4)
                    goto done;
                continue;
            }
            s->g_pick[n++] = (uint32_t)e;
            used += sz;
            if (n == s->g_pick_max || budget - used < SWIM_UPDATE_MIN_BYTES)
                goto done;
        }
    }
done:
    for (size_t i = 0; i < n; i++) {
        uint32_t slot = s->g_pick[i];
        int16_t next = (int16_t)(s->m[slot].g_bucket + 1);
        unlink_entry(s, slot);
        if ((uint32_t)next >= limit) {
            s->m[slot].g_bucket = SWIM_NONE;
            s->gq_count--;
        } else {
            push_tail(s, slot, next);
        }
    }
    return n;
}
