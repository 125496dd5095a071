/*
 * swim_suspect.c - Lifeguard suspicion timers, local health, and answering
 * doubt about ourselves (refutation).
 *
 * Design notes.
 *
 * Suspicion (SWIM §4.2, Lifeguard §IV-B "dynamic suspicion timeout").  A
 * suspect is declared dead when its timer runs out unless it refutes.  The
 * timer starts long and shrinks as independent accusers confirm it:
 *
 *   min     = suspicion_mult * max(1, log10(N)) * probe_interval
 *   max     = suspicion_max_mult * min
 *   timeout = max(min, max - (max - min) * log(C + 1) / log(K + 1))
 *
 * with N = alive + suspect members (incl. self) when the suspicion starts,
 * C = distinct accusers heard after the first one (a relay of the same
 * accusation is not a confirmation: updates carry the accuser), K =
 * indirect_k, the number of confirmations we could expect, and the timeout
 * counted from when *we* started suspecting.  With the defaults and N = 10:
 * min = 4 s, max = 24 s; C = 0 -> 24 s, 1 -> 14 s, 2 -> 8.2 s, 3 -> 4 s.
 * A lone slow node that accuses everyone thus needs 24 s to kill anyone,
 * while a really dead member, which every prober accuses, goes in ~4-8 s.
 *
 * Refused connections.  swim_peer_unreachable (the transport saw the TCP
 * connection drop) caps the timeout at refused_suspicion_ms.  A process
 * killed with kill -9 has its sockets closed by the kernel, so the hint is
 * strong evidence; a process paused with SIGSTOP, or behind a partition,
 * keeps its connections and produces no hint, so it still gets the full
 * Lifeguard timeout and time to refute.  Never longer than the normal
 * timeout: a hint can only hasten a verdict.
 *
 * Timers live in a binary min-heap keyed (deadline, slot), so ticks and
 * swim_next_deadline cost O(1) and a change costs O(log N), never a scan.
 *
 * Refutation (SWIM §4.2).  A member that reads it is suspect or dead at
 * an incarnation >= its own outbids it (swim_table.c) and gossips the new
 * alive like any update.  Gossip alone is not enough: each update is sent
 * only lambda * log10(N) times, all of them maybe in the burst of ACKs a
 * resumed member owes for the PINGs queued while it was paused, so the
 * refutation can miss a member whose timer then fires (tests/sim pause,
 * N = 32: a 5.02 s pause killed the member in 27 of 3,000 seeds, a 3 s
 * one in 1; with what follows, 0 and 0).  So every message that
 * says we are suspect or dead, at any incarnation, is also answered
 * directly, because its sender holds that view now (gossip is read from
 * the table when sent) and so, for a SUSPECT, does the accuser it names:
 *   - a PING gets our alive forced into its ACK (no extra message; this
 *     completes Lifeguard's buddy system, whose suspicion in the PING we
 *     may have refuted before, so our gossip of it may be spent);
 *   - a SYNC gets it in the SYNC_ACK's full state anyway;
 *   - any other sender, and each accuser named (the accusers are the
 *     members whose timers started first and shrink fastest), get a
 *     GOSSIP message with our alive, each at most once per incarnation of
 *     ours and at most indirect_k + 1 of them (K confirmations plus the
 *     first accuser are what bring a timer to its floor).
 * The direct sends are bounded per refutation; the forced ACKs by the
 * PINGs we get.  A member that holds us suspect but neither accused us
 * nor talks to us is still reached only by gossip (it heard later, so its
 * timer runs later); one that holds us dead, by the reconnect SYNCs of
 * swim_sync.c.  Forced updates cost no gossip transmission (see
 * swim_gossip.c), so a burst of ACKs leaves the epidemic its full count.
 *
 * Local health (Lifeguard §IV-A).  awareness in [0, awareness_max] rises
 * by one for each probe without an ack, for each NACK a ping-req relay
 * owed us and did not send, and for each suspicion of ourselves we had to
 * refute; it falls by one for each acked probe.  The probe period and the
 * probe timeout are multiplied by (awareness + 1), so a node that is slow
 * (CPU starved, GC, swapping) probes less and waits longer instead of
 * accusing healthy members.
 *
 * Direct evidence (after Lifeguard's "local evidence beats hearsay" and
 * memberlist's practice of turning a merged dead verdict into a
 * suspicion).  Every member remembers when it last got a message whose
 * sender was that member (last_heard_ms; a relayed ACK names the relay,
 * not the target, so only first-hand contact counts).  A dead(i) verdict
 * that arrives by gossip about a member we hold alive or suspect at i,
 * and that talked to us within the last suspicion_mult probe periods, is
 * read as suspect(i) accused by the verdict's sender (swim_table.c): we
 * start, or confirm, our own suspicion with its Lifeguard timeout and
 * gossip it, so the member hears it (buddy system) and refutes.  Without
 * this, a node whose stale timer fired after a partition healed (its
 * gossip spent while cut off, its probes stretched by local health)
 * declared a healthy member dead and everyone took its word over their
 * own fresh acks; dead moves shards.
 *
 * The window is Lifeguard's minimum suspicion timeout (suspicion_mult *
 * probe_interval, 4 s by default, unscaled): any accuser suspected the
 * member at least that long before its verdict, so contact inside it is
 * newer than the accusation.  Two probe periods proved too short: in a
 * 5-node cluster a pair exchanges a direct message only every ~2 periods
 * on average (round-robin probing), and chaos seed 1 still lost a
 * bystander.  A stale verdict (no contact in the window) is taken as
 * before, so a crashed member, which sends nothing after the crash, dies
 * no later; with a transport hint its accuser's timeout is shorter
 * (refused_suspicion_ms), but then our own connection to it broke too and
 * our own suspicion carries the same cap.
 *
 * Our own timer, by contrast, is not stopped by contact: SWIM §4.2 lets
 * only a refutation clear a suspicion (ack_clears_hint in swim_probe.c);
 * a member that talks to us hears our suspicion and refutes, and one that
 * can send but never receive (a one-way cut) must still be declared.
 *
 * Telling a suspect.  The buddy update of our next PING to a suspect is
 * not soon enough after a partition heals: the suspicion's gossip was
 * retransmitted into the cut, local health stretches our periods, and the
 * suspect's turn in our round robin can come after our timer (a long
 * chaos run, seed 202, declared a healthy member dead 10 s after a heal
 * that way).  So a direct message from a member we suspect - proof that
 * it can reach us, so likely that we can reach it - is answered at once
 * with a GOSSIP carrying our suspicion, at most once per probe interval
 * per member.  A partition costs nothing (nothing arrives from across
 * it); a member that is merely slow refutes a period or more earlier.
 */
#include <math.h>
#include <string.h>

#include "sh_assert.h"
#include "swim_int.h"

uint64_t swim_suspicion_timeout(uint64_t min_ms, uint64_t max_ms, uint32_t c,
                                uint32_t k)
{
    if (k < 1 || max_ms <= min_ms)
        return min_ms;
    double frac = log((double)c + 1.0) / log((double)k + 1.0);
    double to = (double)max_ms - (double)(max_ms - min_ms) * frac;
    return to < (double)min_ms ? min_ms : (uint64_t)to;
}

void swim_awareness_add(swim_t *s, int delta)
{
    int64_t a = (int64_t)s->awareness + delta;
    if (a < 0)
        a = 0;
    if (a > (int64_t)s->cfg.awareness_max)
        a = s->cfg.awareness_max;
    s->awareness = (uint32_t)a;
}

/* ---- heap of suspects by (deadline, slot) ------------------------------ */

static bool heap_less(const swim_t *s, uint32_t a, uint32_t b)
{
    uint64_t da = s->m[a].susp_deadline_ms, db = s->m[b].susp_deadline_ms;
    return da < db || (da == db && a < b);
}

static void heap_put(swim_t *s, uint32_t i, uint32_t slot)
{
    s->heap[i] = slot;
    s->m[slot].heap_pos = (int32_t)i;
}

static void heap_up(swim_t *s, uint32_t i)
{
    uint32_t slot = s->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!heap_less(s, slot, s->heap[p]))
            break;
        heap_put(s, i, s->heap[p]);
        i = p;
    }
    heap_put(s, i, slot);
}

static void heap_down(swim_t *s, uint32_t i)
{
    uint32_t slot = s->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= s->heap_n)
            break;
        if (c + 1 < s->heap_n && heap_less(s, s->heap[c + 1], s->heap[c]))
            c++;
        if (!heap_less(s, s->heap[c], slot))
            break;
        heap_put(s, i, s->heap[c]);
        i = c;
    }
    heap_put(s, i, slot);
}

/* Insert slot, or restore the order after its deadline moved. */
static void heap_fix(swim_t *s, uint32_t slot)
{
    int32_t pos = s->m[slot].heap_pos;
    if (pos == SWIM_NONE) {
        pos = (int32_t)s->heap_n++;
        heap_put(s, (uint32_t)pos, slot);
    }
    heap_up(s, (uint32_t)pos);
    heap_down(s, (uint32_t)s->m[slot].heap_pos);
}

void swim_heap_remove(swim_t *s, uint32_t slot)
{
    int32_t pos = s->m[slot].heap_pos;
    if (pos == SWIM_NONE)
        return;
    s->m[slot].heap_pos = SWIM_NONE;
    uint32_t last = s->heap[--s->heap_n];
    if ((uint32_t)pos == s->heap_n)
        return;
    heap_put(s, (uint32_t)pos, last);
    heap_up(s, (uint32_t)pos);
    heap_down(s, (uint32_t)s->m[last].heap_pos);
}

void swim_heap_check(const swim_t *s)
{
    for (uint32_t i = 0; i < s->heap_n; i++) {
        uint32_t slot = s->heap[i];
        SH_ASSERT(slot < s->n && s->m[slot].heap_pos == (int32_t)i);
        SH_ASSERT(s->m[slot].state == SWIM_SUSPECT);
        if (i > 0)
            SH_ASSERT(!heap_less(s, slot, s->heap[(i - 1) / 2]));
    }
}

/* ---- suspicions ---------------------------------------------------------- */

static void deadline_update(swim_t *s, uint32_t slot)
{
    swim_member_t *m = &s->m[slot];
    uint64_t to = swim_suspicion_timeout(m->susp_min_ms, m->susp_max_ms,
                                         (uint32_t)m->susp_n - 1,
                                         s->cfg.indirect_k);
    if (m->susp_refused && s->cfg.refused_suspicion_ms < to)
        to = s->cfg.refused_suspicion_ms;
    m->susp_deadline_ms = m->susp_start_ms + to;
    heap_fix(s, slot);
}

void swim_suspect_arm(swim_t *s, uint64_t t, uint32_t slot, swim_str_t by,
                      bool refused)
{
    swim_member_t *m = &s->m[slot];
    double n = (double)s->counts[SWIM_ALIVE] + s->counts[SWIM_SUSPECT];
    double lg = n > 10.0 ? log10(n) : 1.0;
    m->susp_min_ms = (uint64_t)(s->cfg.suspicion_mult * lg *
                                s->cfg.probe_interval_ms);
    m->susp_max_ms = (uint64_t)s->cfg.suspicion_max_mult * m->susp_min_ms;
    m->susp_start_ms = t;
    m->susp_n = 1;
    m->susp_by[0] = (uint32_t)swim_hash(by.p, by.len);
    m->susp_refused = refused;
    deadline_update(s, slot);
}

void swim_suspect_begin(swim_t *s, uint64_t t, uint32_t slot, uint32_t inc,
                        swim_str_t by, bool refused)
{
    s->st.suspicions++;
    swim_member_set(s, t, slot, SWIM_SUSPECT, inc, by);
    swim_suspect_arm(s, t, slot, by, refused);
}

/* Another member accuses the same incarnation.  A new accuser shortens the
 * timer and is re-gossiped (so others count it too); a known one is a
 * relay of old news and changes nothing. */
void swim_suspect_confirm(swim_t *s, uint64_t t, uint32_t slot, swim_str_t by)
{
    swim_member_t *m = &s->m[slot];
    uint32_t h = (uint32_t)swim_hash(by.p, by.len);
    for (uint32_t i = 0; i < m->susp_n; i++)
        if (m->susp_by[i] == h)
            return;
    if (m->susp_n >= SWIM_CONFIRM_MAX)
        return;
    m->susp_by[m->susp_n++] = h;
    deadline_update(s, slot);
    swim_gossip_queue(s, slot, by);
}

void swim_suspect_refused(swim_t *s, uint32_t slot)
{
    if (s->m[slot].susp_refused)
        return;
    s->m[slot].susp_refused = true;
    deadline_update(s, slot);
}

uint64_t swim_suspect_next(const swim_t *s)
{
    return s->heap_n ? s->m[s->heap[0]].susp_deadline_ms : UINT64_MAX;
}

/* ---- direct evidence ---------------------------------------------------- */

void swim_heard_note(swim_t *s, uint64_t t, swim_str_t from)
{
    int32_t slot = swim_table_find(s, from.p, from.len);
    if (slot <= 0)
        return; /* a stranger (its alive is in the updates), or ourselves */
    s->m[slot].heard = true;
    s->m[slot].last_heard_ms = t;
}

void swim_suspect_tell(swim_t *s, uint64_t t, swim_str_t from)
{
    int32_t slot = swim_table_find(s, from.p, from.len);
    if (slot <= 0)
        return;
    swim_member_t *m = &s->m[slot];
    if (m->state != SWIM_SUSPECT ||
        (m->susp_told_ms && t - m->susp_told_ms < s->cfg.probe_interval_ms))
        return;
    m->susp_told_ms = t;
    swim_update_t u;
    swim_member_view_update(s, (uint32_t)slot, &u, true);
    swim_msg_t msg = {.type = SWIM_MSG_GOSSIP, .gossip = &u, .n_gossip = 1};
    swim_send(s, m->addr, &msg);
}

bool swim_heard_fresh(const swim_t *s, uint64_t t, uint32_t slot)
{
    const swim_member_t *m = &s->m[slot];
    /* The shortest suspicion anyone runs (Lifeguard's floor, unscaled:
     * local health stretches our probes, not this bound), so contact
     * within it is newer than the accuser's suspicion (see notes). */
    uint64_t window =
        (uint64_t)s->cfg.suspicion_mult * s->cfg.probe_interval_ms;
    return m->heard && m->last_heard_ms <= t && t - m->last_heard_ms < window;
}

void swim_suspect_expire(swim_t *s, uint64_t t)
{
    SH_ASSERT(s->heap_n > 0);
    uint32_t slot = s->heap[0];
    SH_ASSERT(s->m[slot].susp_deadline_ms <= t);
    s->st.deaths_declared++;
    swim_member_set(s, t, slot, SWIM_DEAD, s->m[slot].incarnation,
                    swim_str_of(NULL));
}

/* ---- answering doubt about ourselves -------------------------------------- */

/* Claim one of this incarnation's direct refutations for member `id`:
 * false if it already had one or the budget is spent. */
static bool told_claim(swim_t *s, swim_str_t id)
{
    uint32_t inc = s->m[0].incarnation;
    if (s->told_inc != inc) {
        s->told_inc = inc;
        s->n_told = 0;
    }
    uint32_t h = (uint32_t)swim_hash(id.p, id.len);
    for (uint32_t i = 0; i < s->n_told; i++)
        if (s->told[i] == h)
            return false;
    uint32_t max = s->cfg.indirect_k + 1;
    if (max > SWIM_TOLD_MAX)
        max = SWIM_TOLD_MAX;
    if (s->n_told >= max)
        return false;
    s->told[s->n_told++] = h;
    return true;
}

static void told_send(swim_t *s, const char *addr)
{
    swim_update_t self;
    swim_member_view_update(s, 0, &self, false);
    swim_msg_t msg = {.type = SWIM_MSG_GOSSIP, .gossip = &self, .n_gossip = 1};
    swim_send(s, addr, &msg);
}

/* An accuser we know and believe alive: tell it directly. */
static void told_accuser(swim_t *s, swim_str_t by)
{
    int32_t slot = swim_table_find(s, by.p, by.len);
    if (slot <= 0)
        return; /* unknown, or ourselves (a hostile peer) */
    const swim_member_t *a = &s->m[slot];
    if (a->state != SWIM_ALIVE && a->state != SWIM_SUSPECT)
        return;
    if (told_claim(s, by))
        told_send(s, a->addr);
}

/* Scan updates for doubt about us; accusers are told on the way. */
static bool doubt_scan(swim_t *s, const swim_update_t *u, size_t n,
                       swim_str_t sender)
{
    swim_str_t me = swim_str_of(s->self_id);
    bool doubted = false;
    for (size_t i = 0; i < n; i++) {
        if (u[i].state == SWIM_ALIVE || !swim_str_eq(u[i].id, me))
            continue;
        doubted = true;
        if (u[i].by.len && !swim_str_eq(u[i].by, sender))
            told_accuser(s, u[i].by);
    }
    return doubted;
}

bool swim_refute_answer(swim_t *s, const swim_msg_t *m, const char *reply)
{
    bool doubted = doubt_scan(s, m->gossip, m->n_gossip, m->from_id);
    doubted |= doubt_scan(s, m->members, m->n_members, m->from_id);
    if (!doubted || s->m[0].state != SWIM_ALIVE)
        return false;
    if (m->type == SWIM_MSG_PING)
        return true;
    if (m->type != SWIM_MSG_SYNC && told_claim(s, m->from_id))
        told_send(s, reply);
    return false;
}
