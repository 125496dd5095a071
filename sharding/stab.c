/*
 * stab.c - the shard table: replica sets, owners and fencing epochs.
 *
 * Design notes.
 *
 * Replica sets are plain rendezvous (ring_place): the top R eligible
 * members by weight.  That keeps data movement minimal - a member joining
 * or leaving changes only the sets that contain it, about S*R/N slots -
 * and it is the property every later module (handoff, replication) leans
 * on, so nothing below is allowed to change a replica set.
 *
 * Owners are balanced inside the replica set.  With independent hashes the
 * number of shards a member owns is Binomial(S, 1/N): at S=256, N=10 the
 * mean is 25.6 with a standard deviation of 4.8, and the fullest of ten
 * members owns 1.31x the mean on average; the bound of 1.3 is broken for
 * 46% of random id sets, and 1.445 for "n1".."n10".  Giving each member
 * several hash seeds and keeping its best ("virtual weights") does not
 * help: each shard still picks a uniformly random member, independently of
 * the other shards, so the counts stay Binomial.  Only a rule that looks
 * at all shards at once can do better, so the owner is chosen by a
 * capacity-bounded matching:
 *
 *   cap = ceil(S * owner_load_pct / 100 / eligible)
 *   take all (member, shard) pairs of the replica sets in decreasing
 *   weight (ties: smaller id, then smaller shard); a pair becomes the
 *   shard's owner if the shard has none yet and the member owns < cap;
 *   a shard left over (all its members at the cap) goes to the least
 *   loaded member of its set, beyond the cap.
 *
 * Because shards and members rank each other by the same weights, this
 * greedy order yields the unique stable matching (no shard and member both
 * prefer each other to what they got): the result depends on no processing
 * order, so every node computes the same owners.  Left-over shards are rare
 * (about 1 view in 100 at S=256, N=10, R=3, 125%, one or two shards each)
 * because a stable matching need not be a maximum one; a maximum matching
 * would balance perfectly but could reshuffle owners anywhere on every
 * change.  With R = 1 or one eligible member there is no choice and the
 * owner is the top member.
 *
 * Measured at S=256, N=10, R=3, 125% over 4000 id sets: owner max/mean
 * 1.24 on average, worst 1.289.  The price: the cap depends on the eligible
 * count, so when a member joins or leaves a few shards whose set did not
 * change hand ownership to another member of the same set - 0.65 shards
 * per change on average, 6 at most, against 23 owner changes that any
 * scheme must make.  That member already holds a replica, so such a move
 * is a role change (one epoch bump), not a data copy.  Replica slots are
 * not balanced (max/mean 1.16 on average, up to 1.34): that would move data.
 *
 * Cost of an update: O(S*N*R) for the sets (hashing dominates) plus a sort
 * of the S*R pairs; both run only on membership changes.
 *
 * Invariants (stab_check_invariants): ids in a view are sorted and unique;
 * every replica set equals ring_place's top-R; the owner is in the set;
 * owners beyond the cap add up to over_cap.  The epoch of a shard rises by
 * exactly one on each owner change and never otherwise (tested, since the
 * check sees only the current table).
 *
 * Two generations of the view and its sets are kept, so an update is
 * computed beside the current table and compared with it, then the two
 * are swapped; a refused view leaves the current table untouched.
 *
 * What it deliberately does not do: talk to anyone (handoff is hoff_),
 * read the clock, weight members by capacity, or keep any history besides
 * the epochs - two nodes with the same view always agree on placement.
 */
#include "stab.h"

#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "sh_assert.h"
#include "sh_err.h"

#define STAB_NONE UINT32_MAX

struct stab_gen {
    char *ids;       /* n ids, STAB_ID_MAX bytes each, strictly ascending */
    uint8_t *elig;   /* per member: alive or suspect */
    uint32_t *owned; /* per member: shards owned */
    uint32_t *held;  /* per member: replica slots, owner included */
    uint32_t *set;   /* S x R member indices, owner first */
    uint32_t n, e, k; /* members, eligible, replicas per shard */
    uint32_t cap;      /* owner cap (0: balancing off) */
    uint32_t over_cap; /* shards owned beyond the cap (stab_overflow) */
};

struct stab_pair {
    uint64_t w;
    uint32_t m, s;
};

struct stab {
    stab_config_t cfg;
    struct stab_gen gen[2];
    unsigned cur;
    uint64_t *epoch;   /* per shard */
    uint32_t *changed; /* shards whose owner changed in the last update */
    uint32_t n_changed;
    /* Scratch, sized at init.  rm always describes gen[cur] after an
     * update, which stab_check_invariants relies on. */
    stab_member_t *sorted;
    ring_member_t *rm;
    uint64_t *w;
    struct stab_pair *pairs;
    uint32_t *owner;
    uint32_t *remap;
    stab_stats_t stats;
};

static inline const char *stab_gen_id(const struct stab_gen *g, uint32_t i)
{
    return g->ids + (size_t)i * STAB_ID_MAX;
}

const char *stab_shard_state_name(enum stab_shard_state s)
{
    switch (s) {
    case STAB_SHARD_ACTIVE: return "active";
    case STAB_SHARD_UNPLACED: return "unplaced";
    }
    return "unknown";
}

void stab_config_default(stab_config_t *cfg)
{
    cfg->shards = 256;
    cfg->replicas = 3;
    cfg->max_members = 4096;
    cfg->owner_load_pct = 125;
}

static bool stab_config_ok(const stab_config_t *c)
{
    return c->shards >= 1 && c->shards <= STAB_SHARDS_MAX &&
           c->replicas >= 1 && c->replicas <= STAB_REPLICAS_MAX &&
           c->max_members >= 1 && c->max_members <= STAB_MEMBERS_MAX &&
           (c->owner_load_pct == 0 || c->owner_load_pct >= 100);
}

static int stab_gen_alloc(struct stab_gen *g, const stab_config_t *c)
{
    size_t m = c->max_members, sr = (size_t)c->shards * c->replicas;
    g->ids = calloc(m, STAB_ID_MAX);
    g->elig = calloc(m, 1);
    g->owned = calloc(m, sizeof(uint32_t));
    g->held = calloc(m, sizeof(uint32_t));
    g->set = calloc(sr, sizeof(uint32_t));
    if (!g->ids || !g->elig || !g->owned || !g->held || !g->set)
        return SH_ENOMEM;
    return 0;
}

static void stab_gen_free(struct stab_gen *g)
{
    free(g->ids);
    free(g->elig);
    free(g->owned);
    free(g->held);
    free(g->set);
}

int stab_new(stab_t **out, const stab_config_t *cfg)
{
    if (cfg == NULL || !stab_config_ok(cfg))
        return SH_EBAD_REQUEST;
    stab_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return SH_ENOMEM;
    t->cfg = *cfg;
    size_t m = cfg->max_members, s = cfg->shards, sr = s * cfg->replicas;
    int rc = stab_gen_alloc(&t->gen[0], cfg);
    if (rc == 0)
        rc = stab_gen_alloc(&t->gen[1], cfg);
    t->epoch = calloc(s, sizeof(uint64_t));
    t->changed = calloc(s, sizeof(uint32_t));
    t->sorted = calloc(m, sizeof(stab_member_t));
    t->rm = calloc(m, sizeof(ring_member_t));
    t->w = calloc(sr, sizeof(uint64_t));
    t->pairs = calloc(sr, sizeof(struct stab_pair));
    t->owner = calloc(s, sizeof(uint32_t));
    t->remap = calloc(m, sizeof(uint32_t));
    if (rc != 0 || !t->epoch || !t->changed || !t->sorted || !t->rm ||
        !t->w || !t->pairs || !t->owner || !t->remap) {
        stab_free(t);
        return SH_ENOMEM;
    }
    *out = t;
    return 0;
}

void stab_free(stab_t *t)
{
    if (t == NULL)
        return;
    stab_gen_free(&t->gen[0]);
    stab_gen_free(&t->gen[1]);
    free(t->epoch);
    free(t->changed);
    free(t->sorted);
    free(t->rm);
    free(t->w);
    free(t->pairs);
    free(t->owner);
    free(t->remap);
    free(t);
}

static int stab_member_cmp(const void *a, const void *b)
{
    return strcmp(((const stab_member_t *)a)->id,
                  ((const stab_member_t *)b)->id);
}

/* Validate the view and load it, sorted by id, into generation g (which
 * is not the current one, so a refusal leaves the table as it was). */
static int stab_view_load(stab_t *t, struct stab_gen *g,
                          const stab_member_t *view, size_t n)
{
    if (n > t->cfg.max_members)
        return SH_ETOO_BIG;
    if (n > 0 && view == NULL)
        return SH_EBAD_REQUEST;
    for (size_t i = 0; i < n; i++) {
        const stab_member_t *m = &view[i];
        if (m->id == NULL || (unsigned)m->state > SWIM_LEFT)
            return SH_EBAD_REQUEST;
        size_t len = strnlen(m->id, STAB_ID_MAX);
        if (len == 0 || len >= STAB_ID_MAX)
            return SH_EBAD_REQUEST;
        t->sorted[i] = *m;
    }
    if (n > 1)
        qsort(t->sorted, n, sizeof(t->sorted[0]), stab_member_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(t->sorted[i - 1].id, t->sorted[i].id) == 0)
            return SH_EBAD_REQUEST;
    g->n = (uint32_t)n;
    g->e = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        enum swim_state st = t->sorted[i].state;
        char *dst = g->ids + (size_t)i * STAB_ID_MAX;
        strcpy(dst, t->sorted[i].id);
        g->elig[i] = st == SWIM_ALIVE || st == SWIM_SUSPECT;
        g->e += g->elig[i];
        t->rm[i] = (ring_member_t){dst, strlen(dst), g->elig[i] != 0};
    }
    g->k = g->e < t->cfg.replicas ? g->e : t->cfg.replicas;
    return 0;
}

/* Replica sets by rendezvous, best first, weights beside them in t->w. */
static void stab_place(stab_t *t, struct stab_gen *g)
{
    uint32_t r = t->cfg.replicas;
    for (uint32_t s = 0; s < t->cfg.shards; s++) {
        size_t got = ring_place(t->rm, g->n, s, r, &g->set[(size_t)s * r],
                                &t->w[(size_t)s * r]);
        SH_ASSERT(got == g->k);
    }
}

/* Pair order: weight descending, then member index (= id order, the
 * shard's tie-break), then shard (the member's tie-break). */
static int stab_pair_cmp(const void *a, const void *b)
{
    const struct stab_pair *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    if (x->m != y->m)
        return x->m < y->m ? -1 : 1;
    return (x->s > y->s) - (x->s < y->s);
}

/* Move the chosen owner of shard s to the front of its set, keeping the
 * others in weight order. */
static void stab_owner_front(uint32_t *set, uint32_t k, uint32_t owner)
{
    uint32_t j = 0;
    while (j < k && set[j] != owner)
        j++;
    SH_ASSERT(j < k);
    for (; j > 0; j--)
        set[j] = set[j - 1];
    set[0] = owner;
}

/* One greedy pass over the sorted pairs with a given cap; returns how
 * many shards found no owner (all their members already at the cap). */
static uint32_t stab_match(stab_t *t, struct stab_gen *g, size_t np,
                           uint32_t cap)
{
    uint32_t unmatched = t->cfg.shards;
    for (uint32_t s = 0; s < t->cfg.shards; s++)
        t->owner[s] = STAB_NONE;
    memset(g->owned, 0, (size_t)g->n * sizeof(uint32_t));
    for (size_t i = 0; i < np && unmatched > 0; i++) {
        const struct stab_pair *p = &t->pairs[i];
        if (t->owner[p->s] == STAB_NONE && g->owned[p->m] < cap) {
            t->owner[p->s] = p->m;
            g->owned[p->m]++;
            unmatched--;
        }
    }
    return unmatched;
}

/* A shard left without an owner (all its members at the cap) goes to the
 * least-loaded member of its set, ties to the higher weight; shards are
 * taken in increasing order, so the choice is deterministic. */
static void stab_overflow(stab_t *t, struct stab_gen *g, uint32_t s)
{
    const uint32_t *set = &g->set[(size_t)s * t->cfg.replicas];
    uint32_t best = set[0];
    for (uint32_t j = 1; j < g->k; j++)
        if (g->owned[set[j]] < g->owned[best])
            best = set[j];
    t->owner[s] = best;
    g->owned[best]++;
    g->over_cap++;
}

/* The capacity-bounded stable matching described in the design notes. */
static void stab_balance(stab_t *t, struct stab_gen *g)
{
    uint32_t S = t->cfg.shards, r = t->cfg.replicas, k = g->k;
    g->cap = 0;
    g->over_cap = 0;
    if (t->cfg.owner_load_pct == 0 || k < 2)
        return;
    uint64_t num = (uint64_t)S * t->cfg.owner_load_pct;
    uint64_t den = 100ull * g->e;
    g->cap = (uint32_t)((num + den - 1) / den);
    size_t np = 0;
    for (uint32_t s = 0; s < S; s++) {
        for (uint32_t j = 0; j < k; j++) {
            size_t at = (size_t)s * r + j;
            t->pairs[np++] = (struct stab_pair){t->w[at], g->set[at], s};
        }
    }
    qsort(t->pairs, np, sizeof(t->pairs[0]), stab_pair_cmp);
    if (stab_match(t, g, np, g->cap) > 0) {
        for (uint32_t s = 0; s < S; s++)
            if (t->owner[s] == STAB_NONE)
                stab_overflow(t, g, s);
    }
    for (uint32_t s = 0; s < S; s++)
        stab_owner_front(&g->set[(size_t)s * r], k, t->owner[s]);
}

static void stab_loads(const stab_t *t, struct stab_gen *g)
{
    uint32_t r = t->cfg.replicas;
    memset(g->owned, 0, (size_t)g->n * sizeof(uint32_t));
    memset(g->held, 0, (size_t)g->n * sizeof(uint32_t));
    for (uint32_t s = 0; s < t->cfg.shards && g->k > 0; s++) {
        const uint32_t *set = &g->set[(size_t)s * r];
        g->owned[set[0]]++;
        for (uint32_t j = 0; j < g->k; j++)
            g->held[set[j]]++;
    }
}

/* remap[i] = index in nw of old member i, or STAB_NONE: a merge of two
 * sorted id lists, O(n_old + n_new). */
static void stab_remap(stab_t *t, const struct stab_gen *old,
                       const struct stab_gen *nw)
{
    uint32_t i = 0, j = 0;
    while (i < old->n) {
        int c = j < nw->n ? strcmp(stab_gen_id(old, i), stab_gen_id(nw, j)) : -1;
        if (c < 0)
            t->remap[i++] = STAB_NONE;
        else if (c > 0)
            j++;
        else
            t->remap[i++] = j++;
    }
}

static uint32_t stab_count_missing(const uint32_t *a, uint32_t na,
                                   const uint32_t *b, uint32_t nb)
{
    uint32_t missing = 0;
    for (uint32_t x = 0; x < na; x++) {
        uint32_t y = 0;
        while (y < nb && b[y] != a[x])
            y++;
        missing += y == nb;
    }
    return missing;
}

/* Compare the new sets with the old ones (member identity is the id),
 * bump epochs on owner changes and fill the delta. */
static void stab_diff(stab_t *t, const struct stab_gen *old,
                      const struct stab_gen *nw, stab_delta_t *d)
{
    uint32_t r = t->cfg.replicas;
    uint32_t prev[STAB_REPLICAS_MAX];
    stab_remap(t, old, nw);
    t->n_changed = 0;
    for (uint32_t s = 0; s < t->cfg.shards; s++) {
        const uint32_t *os = &old->set[(size_t)s * r];
        const uint32_t *ns = &nw->set[(size_t)s * r];
        for (uint32_t j = 0; j < old->k; j++)
            prev[j] = t->remap[os[j]];
        uint32_t added = stab_count_missing(ns, nw->k, prev, old->k);
        uint32_t removed = stab_count_missing(prev, old->k, ns, nw->k);
        d->slots_moved += added > removed ? added : removed;
        d->sets_changed += added || removed;
        uint32_t o_old = old->k ? prev[0] : STAB_NONE;
        uint32_t o_new = nw->k ? ns[0] : STAB_NONE;
        if (o_old != o_new) {
            t->epoch[s]++;
            t->changed[t->n_changed++] = s;
        }
    }
    d->owners_changed = t->n_changed;
    d->eligible = nw->e;
    d->owner_cap = nw->cap;
    d->over_cap = nw->over_cap;
}

int stab_update(stab_t *t, const stab_member_t *view, size_t n,
                stab_delta_t *delta)
{
    SH_ASSERT(t != NULL);
    struct stab_gen *old = &t->gen[t->cur], *nw = &t->gen[t->cur ^ 1];
    int rc = stab_view_load(t, nw, view, n);
    if (rc < 0) {
        t->stats.views_refused++;
        return rc;
    }
    stab_place(t, nw);
    stab_balance(t, nw);
    stab_loads(t, nw);
    stab_delta_t d = {0};
    stab_diff(t, old, nw, &d);
    t->cur ^= 1;
    t->stats.updates++;
    t->stats.owner_changes += d.owners_changed;
    t->stats.slots_moved += d.slots_moved;
    if (delta != NULL)
        *delta = d;
    return (int)d.slots_moved;
}

size_t stab_owner_changes(const stab_t *t, const uint32_t **shards)
{
    *shards = t->changed;
    return t->n_changed;
}

int stab_shard_get(const stab_t *t, uint32_t shard, stab_shard_view_t *out)
{
    if (shard >= t->cfg.shards)
        return SH_ENOT_FOUND;
    const struct stab_gen *g = &t->gen[t->cur];
    const uint32_t *set = &g->set[(size_t)shard * t->cfg.replicas];
    memset(out, 0, sizeof(*out));
    out->state = g->k ? STAB_SHARD_ACTIVE : STAB_SHARD_UNPLACED;
    out->epoch = t->epoch[shard];
    out->n_replicas = g->k;
    for (uint32_t j = 0; j < g->k; j++)
        out->replicas[j] = stab_gen_id(g, set[j]);
    out->owner = g->k ? out->replicas[0] : NULL;
    return 0;
}

const char *stab_owner(const stab_t *t, uint32_t shard)
{
    const struct stab_gen *g = &t->gen[t->cur];
    if (shard >= t->cfg.shards || g->k == 0)
        return NULL;
    return stab_gen_id(g, g->set[(size_t)shard * t->cfg.replicas]);
}

int stab_member_load(const stab_t *t, const char *id, uint32_t *owned,
                     uint32_t *held)
{
    const struct stab_gen *g = &t->gen[t->cur];
    uint32_t lo = 0, hi = g->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(stab_gen_id(g, mid), id);
        if (c == 0) {
            *owned = g->owned[mid];
            *held = g->held[mid];
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SH_ENOT_FOUND;
}

uint32_t stab_shard_count(const stab_t *t) { return t->cfg.shards; }
uint32_t stab_replica_count(const stab_t *t) { return t->cfg.replicas; }

void stab_stats_get(const stab_t *t, stab_stats_t *out) { *out = t->stats; }

/* One shard against its definition. */
static void stab_check_shard(const stab_t *t, const struct stab_gen *g,
                                 uint32_t s)
{
    uint32_t r = t->cfg.replicas, idx[STAB_REPLICAS_MAX], o;
    uint64_t w[STAB_REPLICAS_MAX];
    const uint32_t *set = &g->set[(size_t)s * r];
    size_t got = ring_place(t->rm, g->n, s, r, idx, w);
    SH_ASSERT(got == g->k);
    if (g->k == 0)
        return;
    o = set[0];
    SH_ASSERT(o < g->n && g->elig[o]);
    /* set[1..k) is the rendezvous order with the owner taken out. */
    for (uint32_t j = 0, x = 1; j < g->k; j++) {
        if (idx[j] == o)
            continue;
        SH_ASSERT(x < g->k && set[x] == idx[j]);
        x++;
    }
    if (g->cap == 0)
        SH_ASSERT(o == idx[0]); /* balancing off: plain rendezvous */
}

void stab_check_invariants(const stab_t *t)
{
    const struct stab_gen *g = &t->gen[t->cur];
    uint32_t e = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        SH_ASSERT(i == 0 || strcmp(stab_gen_id(g, i - 1), stab_gen_id(g, i)) < 0);
        SH_ASSERT(t->rm[i].id == stab_gen_id(g, i));
        e += g->elig[i] != 0;
    }
    SH_ASSERT(e == g->e);
    SH_ASSERT(g->k == (e < t->cfg.replicas ? e : t->cfg.replicas));
    uint64_t owned = 0, held = 0, excess = 0;
    for (uint32_t s = 0; s < t->cfg.shards; s++) {
        stab_check_shard(t, g, s);
        SH_ASSERT(g->k == 0 || t->epoch[s] >= 1);
    }
    for (uint32_t i = 0; i < g->n; i++) {
        owned += g->owned[i];
        held += g->held[i];
        SH_ASSERT(g->elig[i] || g->held[i] == 0);
        if (g->cap && g->owned[i] > g->cap)
            excess += g->owned[i] - g->cap;
    }
    SH_ASSERT(owned == (g->k ? t->cfg.shards : 0));
    SH_ASSERT(held == (uint64_t)t->cfg.shards * g->k);
    SH_ASSERT(excess == g->over_cap);
}
