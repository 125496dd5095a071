/*
 * swim_sync.c - full-state push-pull, join, partition healing and leave.
 *
 * Design notes.
 *
 * Push-pull (memberlist's anti-entropy on top of SWIM).  Gossip is
 * probabilistic and bounded; a periodic full-state exchange with one random
 * alive member repairs whatever it missed.  Unlike memberlist we do not
 * stretch the period with the cluster size: a SYNC carries ~30-40 bytes
 * per member, so 1,000 nodes syncing every 30 s cost ~2.7 KB/s each, and
 * after a mass join the sync, not the 1 KiB gossip budget, is what brings
 * every member up to date within a period or two (tests/sim join at
 * N=1000).  An operator who wants less can raise pushpull_interval_ms.  A SYNC is answered with a SYNC_ACK carrying our state; both
 * sides merge.  A merge takes alive news, LEFT, strangers and news about
 * ourselves, but not the sender's verdicts on members we know (the reason
 * is above swim_update_apply in swim_table.c).
 *
 * Full state order is slot order with self first.  If it does not fit
 * payload_max_bytes it is truncated to the members that fit (about 25,000
 * members with 20-byte ids and addresses per MiB, far above max_members'
 * default of 4,096); the rest still travels by gossip.
 *
 * Join.  A joining node sends SYNC{join} to every seed but itself, every
 * join_retry_ms, until any SYNC_ACK arrives.  The join flag is
 * informational (the receiver merges the same way).
 *
 * Partition healing.  Two sides that declared each other dead never probe
 * each other again, so every reconnect_interval_ms we SYNC with one random
 * DEAD (not LEFT) member.  If it is in fact alive it refutes the death it
 * reads in our state, and the refutation spreads on both sides.
 *
 * Leave.  The LEFT update about ourselves is sent directly to 3 + log2(N)
 * random alive members in a GOSSIP message (more than the retransmit limit
 * would carry in one period), after which the core ignores everything.
 */
#include <stdlib.h>

#include "swim_int.h"

void swim_sync_send(swim_t *s, const char *to_addr, uint8_t type, bool join)
{
    size_t budget = s->cfg.payload_max_bytes - SWIM_MSG_OVERHEAD_MAX;
    swim_update_t *u = malloc(s->n * sizeof(*u));
    if (!u)
        return;
    size_t used = 0, k = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        swim_member_view_update(s, i, &u[k], false);
        size_t sz = swim_update_size(&u[k]);
        if (used + sz > budget)
            break; /* truncated: see the design notes */
        used += sz;
        k++;
    }
    swim_msg_t msg = {.type = type, .join = join, .members = u, .n_members = k};
    if (type == SWIM_MSG_SYNC)
        s->st.syncs_sent++;
    swim_send(s, to_addr, &msg);
    free(u);
}

void swim_on_sync(swim_t *s, uint64_t t, const swim_msg_t *m, const char *reply)
{
    /* m->members were merged by swim.c's dispatch already. */
    if (m->type == SWIM_MSG_SYNC) {
        swim_sync_send(s, reply, SWIM_MSG_SYNC_ACK, false);
    } else if (s->joining) {
        s->joining = false;
        free(s->seeds);
        s->seeds = NULL;
        s->n_seeds = 0;
    }
}

void swim_pushpull_run(swim_t *s, uint64_t t)
{
    uint32_t pick;
    s->pushpull_at = t + s->cfg.pushpull_interval_ms;
    if (swim_alive_sample(s, &pick, 1, SWIM_NONE) == 1)
        swim_sync_send(s, s->m[pick].addr, SWIM_MSG_SYNC, false);
}

void swim_reconnect_run(swim_t *s, uint64_t t)
{
    s->reconnect_at = t + s->cfg.reconnect_interval_ms;
    if (s->n_dead == 0)
        return;
    uint32_t slot = s->dead_set[sh_rng_below(&s->rng, s->n_dead)];
    swim_sync_send(s, s->m[slot].addr, SWIM_MSG_SYNC, false);
}

void swim_join_run(swim_t *s, uint64_t t)
{
    s->join_at = t + s->cfg.join_retry_ms;
    for (size_t i = 0; i < s->n_seeds; i++)
        swim_sync_send(s, s->seeds[i], SWIM_MSG_SYNC, true);
}

void swim_leave_send(swim_t *s)
{
    uint32_t n = s->n_alive + 1, fan = 3;
    for (uint32_t x = 2; x <= n; x *= 2)
        fan++;
    uint32_t *pick = malloc(fan * sizeof(*pick));
    if (!pick)
        return;
    uint32_t got = swim_alive_sample(s, pick, fan, SWIM_NONE);
    swim_update_t self;
    swim_member_view_update(s, 0, &self, false);
    for (uint32_t i = 0; i < got; i++) {
        swim_msg_t msg = {.type = SWIM_MSG_GOSSIP, .gossip = &self, .n_gossip = 1};
        swim_send(s, s->m[pick[i]].addr, &msg);
    }
    free(pick);
}
