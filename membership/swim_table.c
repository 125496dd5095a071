/*
 * swim_table.c - the member table: slots, the id hash, the state sets and
 * SWIM §4.2 precedence.
 *
 * Design notes.
 *
 * Slots.  Members live in an array in first-sighting order; self is slot
 * 0 and a slot is never vacated, only reused when the table is full and a
 * new member arrives (the oldest DEAD/LEFT member is evicted; with none,
 * the news is dropped and counted in members_dropped).  Everything that
 * iterates members does so in slot order, so one seed gives one run.  The
 * arrays grow by doubling up to max_members: a simulator running 1,000
 * cores of a 1,000-member cluster must not pay for 4,096 slots each.
 *
 * Lookups.  An id -> slot hash (FNV-1a 64, chained through the slots)
 * keeps per-update work O(1).  ALIVE and DEAD members are also kept in two
 * unordered index sets with O(1) insert/remove, so "k random alive
 * members" (ping-req, push-pull, leave) and "a random dead member"
 * (reconnect) never scan the table.
 *
 * Precedence (SWIM §4.2, with Lifeguard's and memberlist's practice), for
 * news (state, i) about a member we hold at incarnation j:
 *   alive(i)    wins if i > j, over any state (a dead or left member that
 *               comes back with a higher incarnation has restarted);
 *   suspect(i)  wins over alive(j) if i >= j, over anything else if i > j;
 *               suspect(i) on suspect(i) is a confirmation (Lifeguard);
 *   dead(i)     wins over alive/suspect(j) if i >= j, over dead/left if i > j;
 *   left(i)     wins over alive/suspect/dead(j) if i >= j (a graceful leave
 *               says more than a timeout), over left(j) if i > j.
 * News about strangers is taken only if it is alive or suspect: a dead or
 * left member we never knew is nothing to us.  News about ourselves that
 * is not alive at our incarnation is refuted (incarnation + 1); who is
 * told directly, beyond the gossip, is swim_suspect.c's business.
 *
 * Full-state merges (push-pull, join, reconnect) are more careful than
 * gossip: a SYNC is one node's whole opinion, possibly formed on the other
 * side of a partition.  From it we take alive news (precedence already
 * discards stale ones), LEFT (only the member itself issues it), strangers
 * that are alive or suspect, and anything about ourselves (a DEAD entry
 * about us is what makes a healed partition refute).  We ignore its
 * SUSPECT/DEAD verdicts on members we know: memberlist turns them into
 * suspicions, but at a partition heal every SYNC from the other side then
 * accuses our healthy neighbours, each sender counting as an independent
 * Lifeguard confirmation, and the shortened timeout killed members before
 * their refutation spread (found by tests/sim partition/n=20).  A member
 * that really died is found by our own probes; gossip still carries
 * verdicts, which are fresh by construction, except that a gossiped dead
 * at the incarnation we hold, about a member that talked to us within the
 * minimum suspicion timeout, is demoted to a suspicion (swim_suspect.c,
 * "Direct evidence").
 *
 * Not here: timers (swim_suspect.c), dissemination (swim_gossip.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "swim_int.h"

uint64_t swim_hash(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int table_grow(swim_t *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    if (cap > s->cfg.max_members)
        cap = s->cfg.max_members;
    if (cap <= s->cap)
        return SH_EFULL;
    void *p;
    if (!(p = realloc(s->m, cap * sizeof(*s->m))))
        return -ENOMEM;
    s->m = p;
    if (!(p = realloc(s->alive_set, cap * sizeof(uint32_t))))
        return -ENOMEM;
    s->alive_set = p;
    if (!(p = realloc(s->dead_set, cap * sizeof(uint32_t))))
        return -ENOMEM;
    s->dead_set = p;
    if (!(p = realloc(s->probe_list, cap * sizeof(uint32_t))))
        return -ENOMEM;
    s->probe_list = p;
    if (!(p = realloc(s->heap, cap * sizeof(uint32_t))))
        return -ENOMEM;
    s->heap = p;
    s->cap = cap; /* only once every array holds cap entries */
    return 0;
}

int swim_table_init(swim_t *s)
{
    uint32_t nb = 16;
    while (nb < s->cfg.max_members)
        nb *= 2;
    s->hbuckets = calloc(nb, sizeof(uint32_t));
    if (!s->hbuckets)
        return -ENOMEM;
    s->hmask = nb - 1;
    return table_grow(s);
}

void swim_table_fini(swim_t *s)
{
    free(s->m);
    free(s->alive_set);
    free(s->dead_set);
    free(s->probe_list);
    free(s->heap);
    free(s->hbuckets);
}

int32_t swim_table_find(const swim_t *s, const char *id, size_t len)
{
    uint64_t h = swim_hash(id, len);
    for (uint32_t i = s->hbuckets[h & s->hmask]; i; i = s->m[i - 1].hnext) {
        const swim_member_t *m = &s->m[i - 1];
        if (m->id_hash == h && m->id_len == len && !memcmp(m->id, id, len))
            return (int32_t)(i - 1);
    }
    return SWIM_NONE;
}

static void hash_insert(swim_t *s, uint32_t slot)
{
    uint32_t *b = &s->hbuckets[s->m[slot].id_hash & s->hmask];
    s->m[slot].hnext = *b;
    *b = slot + 1;
}

static void hash_remove(swim_t *s, uint32_t slot)
{
    uint32_t *p = &s->hbuckets[s->m[slot].id_hash & s->hmask];
    while (*p != slot + 1) {
        SH_ASSERT(*p != 0);
        p = &s->m[*p - 1].hnext;
    }
    *p = s->m[slot].hnext;
}

/* ---- the ALIVE and DEAD index sets ------------------------------------ */

static void set_add(uint32_t *set, uint32_t *n, swim_member_t *m, uint32_t slot)
{
    m->set_pos = (int32_t)*n;
    set[(*n)++] = slot;
}

static void set_del(swim_t *s, uint32_t *set, uint32_t *n, uint32_t slot)
{
    uint32_t pos = (uint32_t)s->m[slot].set_pos;
    uint32_t last = set[--(*n)];
    set[pos] = last;
    s->m[last].set_pos = (int32_t)pos;
    s->m[slot].set_pos = SWIM_NONE;
}

static void state_exit(swim_t *s, uint32_t slot)
{
    switch (s->m[slot].state) {
    case SWIM_ALIVE: set_del(s, s->alive_set, &s->n_alive, slot); break;
    case SWIM_DEAD: set_del(s, s->dead_set, &s->n_dead, slot); break;
    case SWIM_SUSPECT: swim_heap_remove(s, slot); break;
    default: break;
    }
}

static void state_enter(swim_t *s, uint32_t slot, enum swim_state st)
{
    swim_member_t *m = &s->m[slot];
    if (st == SWIM_ALIVE)
        set_add(s->alive_set, &s->n_alive, m, slot);
    else if (st == SWIM_DEAD)
        set_add(s->dead_set, &s->n_dead, m, slot);
    if (st == SWIM_ALIVE || st == SWIM_SUSPECT)
        swim_probe_list_add(s, slot);
}

void swim_member_set(swim_t *s, uint64_t t, uint32_t slot,
                     enum swim_state st, uint32_t inc, swim_str_t by)
{
    swim_member_t *m = &s->m[slot];
    enum swim_state old = (enum swim_state)m->state;
    if (old != st) {
        if (slot != 0) {
            state_exit(s, slot);
            state_enter(s, slot, st);
        }
        s->counts[old]--;
        s->counts[st]++;
    }
    m->state = (uint8_t)st;
    m->incarnation = inc;
    m->last_change_ms = t;
    swim_out_event(s, slot, old, false);
    swim_gossip_queue(s, slot, by);
}

/* ---- adding members --------------------------------------------------- */

/* Free a DEAD/LEFT slot for reuse: the oldest one, lowest slot on ties. */
static int32_t table_evict(swim_t *s)
{
    int32_t best = SWIM_NONE;
    for (uint32_t i = 1; i < s->n; i++) {
        const swim_member_t *m = &s->m[i];
        if (m->state != SWIM_DEAD && m->state != SWIM_LEFT)
            continue;
        if (best == SWIM_NONE || m->last_change_ms < s->m[best].last_change_ms)
            best = (int32_t)i;
    }
    if (best == SWIM_NONE)
        return best;
    uint32_t slot = (uint32_t)best;
    hash_remove(s, slot);
    if (s->m[slot].state == SWIM_DEAD)
        set_del(s, s->dead_set, &s->n_dead, slot);
    swim_gossip_drop(s, slot);
    s->counts[s->m[slot].state]--;
    return best;
}

static int32_t table_slot_alloc(swim_t *s, bool *reused)
{
    *reused = s->n == s->cap && table_grow(s) != 0;
    if (*reused)
        return table_evict(s);
    return (int32_t)s->n++;
}

/* Put id/addr into a free slot as state st; emits the is_new event. */
static int32_t table_add(swim_t *s, uint64_t t, swim_str_t id, swim_str_t addr,
                         enum swim_state st, uint32_t inc)
{
    bool reused;
    int32_t slot = table_slot_alloc(s, &reused);
    if (slot == SWIM_NONE)
        return slot;
    swim_member_t *m = &s->m[slot];
    /* A reused slot keeps its place in the probe list: the entry now
     * stands for the newcomer, so the list still holds each slot once. */
    bool in_probe = reused && m->in_probe;
    memset(m, 0, sizeof(*m));
    m->in_probe = in_probe;
    memcpy(m->id, id.p, id.len);
    memcpy(m->addr, addr.p, addr.len);
    m->id_len = (uint8_t)id.len;
    m->addr_len = (uint8_t)addr.len;
    m->id_hash = swim_hash(m->id, id.len);
    m->state = (uint8_t)st;
    m->incarnation = inc;
    m->last_change_ms = t;
    m->set_pos = m->heap_pos = m->g_prev = m->g_next = SWIM_NONE;
    m->g_bucket = SWIM_NONE;
    hash_insert(s, (uint32_t)slot);
    s->counts[st]++;
    if (slot != 0)
        state_enter(s, (uint32_t)slot, st);
    swim_out_event(s, (uint32_t)slot, st, true);
    return slot;
}

int32_t swim_table_add_self(swim_t *s, uint64_t t)
{
    return table_add(s, t, swim_str_of(s->self_id), swim_str_of(s->self_addr),
                     SWIM_ALIVE, s->cfg.incarnation);
}

/* ---- precedence -------------------------------------------------------- */

bool swim_update_wins(enum swim_state cs, uint32_t ci, enum swim_state ns,
                      uint32_t ni)
{
    bool live = cs == SWIM_ALIVE || cs == SWIM_SUSPECT;
    switch (ns) {
    case SWIM_ALIVE: return ni > ci;
    case SWIM_SUSPECT: return cs == SWIM_ALIVE ? ni >= ci : ni > ci;
    case SWIM_DEAD: return live ? ni >= ci : ni > ci;
    case SWIM_LEFT: return cs != SWIM_LEFT ? ni >= ci : ni > ci;
    }
    return false;
}

/* News about ourselves: anything but alive at our incarnation, with an
 * incarnation at least ours, is refuted by outbidding it (SWIM §4.2).
 * Being suspected or declared dead also raises our local-health score
 * (Lifeguard: if others cannot hear us, we are probably the slow one). */
static void self_news(swim_t *s, uint64_t t, enum swim_state ns, uint32_t inc)
{
    swim_member_t *me = &s->m[0];
    if (inc < me->incarnation || (ns == SWIM_ALIVE && inc == me->incarnation))
        return;
    if (inc == UINT32_MAX)
        return; /* cannot be outbid; only a hostile peer gets here */
    s->st.refutations++;
    if (ns != SWIM_ALIVE)
        swim_awareness_add(s, 1);
    swim_member_set(s, t, 0, SWIM_ALIVE, inc + 1, swim_str_of(NULL));
}

void swim_update_apply(swim_t *s, uint64_t t, const swim_update_t *u,
                       swim_str_t sender, bool from_sync)
{
    enum swim_state ns = (enum swim_state)u->state;
    swim_str_t by = u->by.len ? u->by : sender;
    int32_t slot = swim_table_find(s, u->id.p, u->id.len);
    if (slot == 0) {
        self_news(s, t, ns, u->incarnation);
        return;
    }
    if (from_sync && slot != SWIM_NONE && (ns == SWIM_SUSPECT || ns == SWIM_DEAD))
        return; /* another node's verdict on a third party: see the notes */
    if (slot == SWIM_NONE) {
        if (ns != SWIM_ALIVE && ns != SWIM_SUSPECT)
            return;
        slot = table_add(s, t, u->id, u->addr, ns, u->incarnation);
        if (slot == SWIM_NONE) {
            s->st.members_dropped++;
            return;
        }
        swim_gossip_queue(s, (uint32_t)slot, by);
        if (ns == SWIM_SUSPECT) {
            s->st.suspicions++;
            swim_suspect_arm(s, t, (uint32_t)slot, by, false);
        }
        return;
    }
    swim_member_t *m = &s->m[slot];
    if (ns == SWIM_DEAD && u->incarnation == m->incarnation &&
        (m->state == SWIM_ALIVE || m->state == SWIM_SUSPECT) &&
        swim_heard_fresh(s, t, (uint32_t)slot)) {
        /* Hearsay against our own fresh contact: suspect, not dead (see
         * "Direct evidence" in swim_suspect.c). */
        ns = SWIM_SUSPECT;
    }
    if (!swim_update_wins((enum swim_state)m->state, m->incarnation, ns,
                          u->incarnation)) {
        if (ns == SWIM_SUSPECT && m->state == SWIM_SUSPECT &&
            u->incarnation == m->incarnation)
            swim_suspect_confirm(s, t, (uint32_t)slot, by);
        return;
    }
    swim_str_t addr = {m->addr, m->addr_len};
    if (ns == SWIM_ALIVE && !swim_str_eq(u->addr, addr)) {
        /* A restarted member may come back on another address. */
        memset(m->addr, 0, sizeof(m->addr));
        memcpy(m->addr, u->addr.p, u->addr.len);
        m->addr_len = (uint8_t)u->addr.len;
    }
    if (ns == SWIM_SUSPECT)
        swim_suspect_begin(s, t, (uint32_t)slot, u->incarnation, by, false);
    else
        swim_member_set(s, t, (uint32_t)slot, ns, u->incarnation, by);
}

/* ---- helpers ------------------------------------------------------------- */

void swim_member_view_update(const swim_t *s, uint32_t slot, swim_update_t *u,
                             bool with_by)
{
    const swim_member_t *m = &s->m[slot];
    u->id.p = m->id;
    u->id.len = m->id_len;
    u->addr.p = m->addr;
    u->addr.len = m->addr_len;
    u->state = m->state;
    u->incarnation = m->incarnation;
    u->by = swim_str_of(NULL);
    if (with_by && m->state == SWIM_SUSPECT && m->g_by[0])
        u->by = swim_str_of(m->g_by);
}

/* A partial Fisher-Yates shuffle of the alive set, in place: O(k), and the
 * set's order is irrelevant to everything else. */
uint32_t swim_alive_sample(swim_t *s, uint32_t *out, uint32_t k, int32_t except)
{
    uint32_t got = 0;
    for (uint32_t i = 0; i < s->n_alive && got < k; i++) {
        uint32_t r = i + (uint32_t)sh_rng_below(&s->rng, s->n_alive - i);
        uint32_t a = s->alive_set[i], b = s->alive_set[r];
        s->alive_set[i] = b;
        s->alive_set[r] = a;
        s->m[b].set_pos = (int32_t)i;
        s->m[a].set_pos = (int32_t)r;
        if ((int32_t)b != except)
            out[got++] = b;
    }
    return got;
}

void swim_table_check(const swim_t *s)
{
    uint32_t counts[4] = {0};
    SH_ASSERT(s->n >= 1 && s->n <= s->cap && s->cap <= s->cfg.max_members);
    SH_ASSERT(!strcmp(s->m[0].id, s->self_id));
    SH_ASSERT(s->m[0].state == SWIM_ALIVE || s->m[0].state == SWIM_LEFT);
    SH_ASSERT(s->left == (s->m[0].state == SWIM_LEFT));
    for (uint32_t i = 0; i < s->n; i++) {
        const swim_member_t *m = &s->m[i];
        SH_ASSERT(m->state <= SWIM_LEFT);
        SH_ASSERT(m->id[0] && m->addr[0]);
        SH_ASSERT(m->id_len == strlen(m->id) && m->addr_len == strlen(m->addr));
        SH_ASSERT(swim_table_find(s, m->id, m->id_len) == (int32_t)i);
        counts[m->state]++;
        if (i == 0)
            continue;
        if (m->state == SWIM_ALIVE)
            SH_ASSERT(m->set_pos >= 0 && s->alive_set[m->set_pos] == i);
        else if (m->state == SWIM_DEAD)
            SH_ASSERT(m->set_pos >= 0 && s->dead_set[m->set_pos] == i);
        else
            SH_ASSERT(m->set_pos == SWIM_NONE);
        SH_ASSERT((m->state == SWIM_SUSPECT) == (m->heap_pos >= 0));
    }
    for (int k = 0; k < 4; k++)
        SH_ASSERT(counts[k] == s->counts[k]);
    SH_ASSERT(s->n_alive == counts[SWIM_ALIVE] - (s->m[0].state == SWIM_ALIVE));
    SH_ASSERT(s->n_dead == counts[SWIM_DEAD]);
    SH_ASSERT(s->heap_n == counts[SWIM_SUSPECT]);
}
