/*
 * stab_test.c - the shard table: determinism, minimal movement, balance,
 * member states, epochs, and refusal of bad views.
 *
 * Measured figures the bounds below come from (S=256, R=3, N=10, 1000
 * random id sets per id style, see the design notes in sharding/stab.c):
 *   plain rendezvous: owner max/mean 1.31 on average, worst 1.80, over 1.3
 *     for 46% of id sets; 1.445 for "n1".."n10".
 *   balanced (owner_load_pct 125): owner max/mean 1.24 on average, worst
 *     1.289; 1.25 for "n1".."n10"; replica slots max/mean 1.16 on average.
 *   one member added or removed: 69.8 slots moved on average (S*R/11) and
 *     0 slots outside the changed member's sets; owner changes 23.9 vs 23.1
 *     for plain, of which 0.65 on average (at most 6) in sets that did not
 *     change.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "sh_err.h"
#include "sh_rng.h"
#include "stab.h"

/* Check records every passing ck_assert with a write(2); hot loops use
 * this instead, which costs nothing unless it fails. */
#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg("%s:%d: expected %s", __FILE__, __LINE__, #cond);     \
    } while (0)

enum { S = 256, R = 3, POOL = 1024 };

static char g_ids[POOL][STAB_ID_MAX];

/* Fill g_ids[0..n) with distinct ids of one of several styles. */
static void make_ids(size_t n, unsigned style, sh_rng_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        switch (style % 4) {
        case 0: snprintf(g_ids[i], STAB_ID_MAX, "n%zu", i + 1); break;
        case 1:
            snprintf(g_ids[i], STAB_ID_MAX, "%016llx",
                     (unsigned long long)sh_rng_next(rng));
            break;
        case 2:
            snprintf(g_ids[i], STAB_ID_MAX, "10.%u.%u.%u:7946",
                     (unsigned)sh_rng_below(rng, 256), (unsigned)sh_rng_below(rng, 256),
                     (unsigned)sh_rng_below(rng, 256));
            break;
        default:
            snprintf(g_ids[i], STAB_ID_MAX, "shoald-%u",
                     (unsigned)sh_rng_below(rng, 1000000));
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(g_ids[i], g_ids[j]) == 0) {
                i--; /* draw again */
                break;
            }
    }
}

static void make_view(stab_member_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (stab_member_t){g_ids[i], SWIM_ALIVE};
}

static stab_t *new_table(uint32_t shards, uint32_t pct, uint32_t max_members)
{
    stab_config_t c;
    stab_config_default(&c);
    c.shards = shards;
    c.replicas = R;
    c.owner_load_pct = pct;
    c.max_members = max_members;
    stab_t *t = NULL;
    ck_assert_int_eq(stab_new(&t, &c), 0);
    return t;
}

/* A copy of a table's placement, comparable across tables and updates. */
typedef struct shot {
    char rep[R][STAB_ID_MAX]; /* owner first */
    uint32_t n;
    uint64_t epoch;
    enum stab_shard_state state;
} shot_t;

static void take(const stab_t *t, shot_t *out, uint32_t shards)
{
    for (uint32_t s = 0; s < shards; s++) {
        stab_shard_view_t v;
        EXPECT(stab_shard_get(t, s, &v) == 0);
        memset(&out[s], 0, sizeof(out[s]));
        out[s].n = v.n_replicas;
        out[s].epoch = v.epoch;
        out[s].state = v.state;
        for (uint32_t j = 0; j < v.n_replicas; j++)
            strcpy(out[s].rep[j], v.replicas[j]);
        EXPECT(v.owner == (v.n_replicas ? v.replicas[0] : NULL));
    }
}

static bool in_set(const shot_t *a, const char *id)
{
    for (uint32_t j = 0; j < a->n; j++)
        if (strcmp(a->rep[j], id) == 0)
            return true;
    return false;
}

/* Members of a missing from b. */
static uint32_t missing(const shot_t *a, const shot_t *b)
{
    uint32_t m = 0;
    for (uint32_t j = 0; j < a->n; j++)
        m += !in_set(b, a->rep[j]);
    return m;
}

static void ck_same_shots(const shot_t *a, const shot_t *b, uint32_t shards)
{
    for (uint32_t s = 0; s < shards; s++) {
        EXPECT(a[s].n == b[s].n);
        EXPECT(a[s].epoch == b[s].epoch);
        EXPECT(a[s].state == b[s].state);
        for (uint32_t j = 0; j < a[s].n; j++)
            EXPECT(strcmp(a[s].rep[j], b[s].rep[j]) == 0);
    }
}

static uint32_t load_owned(const stab_t *t, const char *id)
{
    uint32_t owned = 0, held = 0;
    EXPECT(stab_member_load(t, id, &owned, &held) == 0);
    return owned;
}

static uint32_t load_held(const stab_t *t, const char *id)
{
    uint32_t owned = 0, held = 0;
    EXPECT(stab_member_load(t, id, &owned, &held) == 0);
    return held;
}

/* ---- config and views ------------------------------------------------ */

START_TEST(test_stab_config_rejects_bad)
{
    stab_config_t good, c;
    stab_config_default(&good);
    ck_assert_uint_eq(good.shards, 256);
    ck_assert_uint_eq(good.replicas, 3);
    ck_assert_uint_eq(good.owner_load_pct, 125);
    stab_t *sentinel = (stab_t *)&c, *t = sentinel;
    ck_assert_int_eq(stab_new(&t, NULL), SH_EBAD_REQUEST);
    c = good, c.shards = 0;
    ck_assert_int_eq(stab_new(&t, &c), SH_EBAD_REQUEST);
    c = good, c.shards = STAB_SHARDS_MAX + 1;
    ck_assert_int_eq(stab_new(&t, &c), SH_EBAD_REQUEST);
    c = good, c.replicas = 0;
    ck_assert_int_eq(stab_new(&t, &c), SH_EBAD_REQUEST);
    c = good, c.replicas = STAB_REPLICAS_MAX + 1;
    ck_assert_int_eq(stab_new(&t, &c), SH_EBAD_REQUEST);
    c = good, c.max_members = 0;
    ck_assert_int_eq(stab_new(&t, &c), SH_EBAD_REQUEST);
    c = good, c.owner_load_pct = 99;
    ck_assert_int_eq(stab_new(&t, &c), SH_EBAD_REQUEST);
    ck_assert_ptr_eq(t, sentinel);
    stab_free(NULL);
}
END_TEST

START_TEST(test_stab_empty_table_is_unplaced)
{
    stab_t *t = new_table(S, 125, 16);
    stab_shard_view_t v;
    ck_assert_uint_eq(stab_shard_count(t), S);
    ck_assert_uint_eq(stab_replica_count(t), R);
    for (uint32_t s = 0; s < S; s++) {
        ck_assert_int_eq(stab_shard_get(t, s, &v), 0);
        ck_assert_int_eq(v.state, STAB_SHARD_UNPLACED);
        ck_assert_uint_eq(v.epoch, 0);
        ck_assert_ptr_null(v.owner);
        ck_assert_ptr_null(stab_owner(t, s));
    }
    ck_assert_int_eq(stab_shard_get(t, S, &v), SH_ENOT_FOUND);
    ck_assert_ptr_null(stab_owner(t, S));
    uint32_t o, h;
    ck_assert_int_eq(stab_member_load(t, "n1", &o, &h), SH_ENOT_FOUND);
    stab_check_invariants(t);
    /* Only dead and left members: still nothing placed, no owner change. */
    stab_member_t view[2] = {{"a", SWIM_DEAD}, {"b", SWIM_LEFT}};
    stab_delta_t d;
    ck_assert_int_eq(stab_update(t, view, 2, &d), 0);
    ck_assert_uint_eq(d.owners_changed, 0);
    ck_assert_uint_eq(d.eligible, 0);
    ck_assert_int_eq(stab_member_load(t, "a", &o, &h), 0);
    ck_assert_uint_eq(o + h, 0);
    ck_assert_int_eq(stab_shard_get(t, 0, &v), 0);
    ck_assert_int_eq(v.state, STAB_SHARD_UNPLACED);
    ck_assert_str_eq(stab_shard_state_name(v.state), "unplaced");
    stab_check_invariants(t);
    stab_free(t);
}
END_TEST

START_TEST(test_stab_bad_view_leaves_table)
{
    stab_t *t = new_table(S, 125, 8);
    sh_rng_t rng;
    sh_rng_seed(&rng, 7);
    make_ids(9, 0, &rng);
    stab_member_t v[9];
    make_view(v, 9);
    ck_assert_int_eq(stab_update(t, v, 5, NULL) > 0, 1);
    static shot_t before[S], after[S];
    take(t, before, S);
    const uint32_t *ch;
    size_t nch = stab_owner_changes(t, &ch);
    ck_assert_uint_eq(nch, S);

    ck_assert_int_eq(stab_update(t, v, 9, NULL), SH_ETOO_BIG);
    ck_assert_int_eq(stab_update(t, NULL, 2, NULL), SH_EBAD_REQUEST);
    stab_member_t bad[3] = {v[0], v[1], v[2]};
    bad[2].id = v[0].id; /* duplicate */
    ck_assert_int_eq(stab_update(t, bad, 3, NULL), SH_EBAD_REQUEST);
    bad[2].id = NULL;
    ck_assert_int_eq(stab_update(t, bad, 3, NULL), SH_EBAD_REQUEST);
    bad[2].id = "";
    ck_assert_int_eq(stab_update(t, bad, 3, NULL), SH_EBAD_REQUEST);
    char longid[STAB_ID_MAX + 1];
    memset(longid, 'x', STAB_ID_MAX);
    longid[STAB_ID_MAX] = '\0';
    bad[2].id = longid; /* 64 bytes: one too many */
    ck_assert_int_eq(stab_update(t, bad, 3, NULL), SH_EBAD_REQUEST);
    bad[2] = v[2];
    bad[2].state = (enum swim_state)7;
    ck_assert_int_eq(stab_update(t, bad, 3, NULL), SH_EBAD_REQUEST);

    take(t, after, S);
    ck_same_shots(before, after, S);
    ck_assert_uint_eq(stab_owner_changes(t, &ch), nch);
    stab_stats_t st;
    stab_stats_get(t, &st);
    ck_assert_uint_eq(st.updates, 1);
    ck_assert_uint_eq(st.views_refused, 7);
    stab_check_invariants(t);
    /* 63 bytes is the longest id accepted. */
    longid[STAB_ID_MAX - 1] = '\0';
    bad[2] = (stab_member_t){longid, SWIM_ALIVE};
    ck_assert_int_ge(stab_update(t, bad, 3, NULL), 0);
    ck_assert_uint_eq(load_held(t, longid) > 0, 1);
    stab_check_invariants(t);
    stab_free(t);
}
END_TEST

/* ---- determinism --------------------------------------------------- */

/* Ten nodes, each given the same view in its own order, compute the same
 * table; dead and left members in the view change nothing. */
START_TEST(test_stab_same_view_any_order)
{
    enum { NODES = 10, N = 14 };
    sh_rng_t rng;
    sh_rng_seed(&rng, 100 + (uint64_t)_i);
    make_ids(N, (unsigned)_i, &rng);
    stab_member_t v[N];
    make_view(v, N);
    v[3].state = SWIM_DEAD;
    v[7].state = SWIM_LEFT;
    v[9].state = SWIM_SUSPECT;
    uint32_t pct = _i % 2 ? 125 : 0;
    static shot_t ref[S], got[S];
    for (int node = 0; node < NODES; node++) {
        stab_member_t p[N];
        memcpy(p, v, sizeof(v));
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = sh_rng_below(&rng, i + 1);
            stab_member_t x = p[i];
            p[i] = p[j];
            p[j] = x;
        }
        stab_t *t = new_table(S, pct, 64);
        ck_assert_int_ge(stab_update(t, p, N, NULL), 0);
        stab_check_invariants(t);
        take(t, node == 0 ? ref : got, S);
        if (node > 0)
            ck_same_shots(ref, got, S);
        stab_free(t);
    }
    /* The same view without its dead and left members. */
    stab_member_t w[N];
    size_t nw = 0;
    for (size_t i = 0; i < N; i++)
        if (v[i].state == SWIM_ALIVE || v[i].state == SWIM_SUSPECT)
            w[nw++] = v[i];
    stab_t *t = new_table(S, pct, 64);
    ck_assert_int_ge(stab_update(t, w, nw, NULL), 0);
    take(t, got, S);
    ck_same_shots(ref, got, S);
    stab_free(t);
}
END_TEST

/* ---- replica count ------------------------------------------------- */

START_TEST(test_stab_replicas_capped_at_members)
{
    stab_t *t = new_table(S, 125, 16);
    sh_rng_t rng;
    sh_rng_seed(&rng, 3);
    make_ids(4, 1, &rng);
    stab_member_t v[4];
    make_view(v, 4);
    static shot_t before[S], after[S];
    stab_delta_t d;
    for (uint32_t n = 1; n <= 3; n++) {
        /* Each shard gains one replica on the new member. */
        ck_assert_int_eq(stab_update(t, v, n, &d), S);
        ck_assert_uint_eq(d.sets_changed, S);
        ck_assert_uint_eq(d.eligible, n);
        ck_assert_uint_eq(load_held(t, g_ids[n - 1]), S);
        stab_check_invariants(t);
        for (uint32_t s = 0; s < S; s++) {
            stab_shard_view_t sv;
            ck_assert_int_eq(stab_shard_get(t, s, &sv), 0);
            ck_assert_uint_eq(sv.n_replicas, n);
            ck_assert_int_eq(sv.state, STAB_SHARD_ACTIVE);
        }
    }
    int moved = stab_update(t, v, 4, &d);
    ck_assert_int_eq(moved, (int)load_held(t, g_ids[3]));
    take(t, before, S);
    /* All dead: every shard loses its 3 replicas and its owner. */
    for (int i = 0; i < 4; i++)
        v[i].state = SWIM_DEAD;
    ck_assert_int_eq(stab_update(t, v, 4, &d), S * R);
    ck_assert_uint_eq(d.owners_changed, S);
    take(t, after, S);
    for (uint32_t s = 0; s < S; s++) {
        ck_assert_uint_eq(after[s].n, 0);
        ck_assert_int_eq(after[s].state, STAB_SHARD_UNPLACED);
        ck_assert_uint_eq(after[s].epoch, before[s].epoch + 1);
        ck_assert_ptr_null(stab_owner(t, s));
    }
    stab_check_invariants(t);
    stab_free(t);
}
END_TEST

/* ---- movement ------------------------------------------------------- */

typedef struct move_stats {
    uint32_t slots, owners, owners_outside; /* outside x's old or new sets */
} move_stats_t;

/* Apply view v[0..n) to t and check that only the sets that contain x
 * (before or after) changed, each by exactly one member, and that the
 * count returned is exactly that.  With pct 0 an owner may only change
 * to or from x. */
static move_stats_t apply_one_change(stab_t *t, const stab_member_t *v,
                                     size_t n, const char *x, uint32_t pct)
{
    static shot_t a[S], b[S];
    take(t, a, S);
    stab_delta_t d;
    int moved = stab_update(t, v, n, &d);
    EXPECT(moved >= 0);
    stab_check_invariants(t);
    take(t, b, S);
    move_stats_t m = {0, 0, 0};
    uint32_t expect = 0;
    for (uint32_t s = 0; s < S; s++) {
        bool touched = in_set(&a[s], x) || in_set(&b[s], x);
        uint32_t added = missing(&b[s], &a[s]), removed = missing(&a[s], &b[s]);
        if (touched) {
            EXPECT(added == 1);
            EXPECT(removed == 1);
            expect++;
        } else {
            EXPECT(added + removed == 0);
        }
        bool owner_changed = strcmp(a[s].rep[0], b[s].rep[0]) != 0;
        EXPECT(b[s].epoch == a[s].epoch + owner_changed);
        m.owners += owner_changed;
        if (owner_changed && !touched) {
            EXPECT(pct != 0);
            m.owners_outside++;
        }
        if (owner_changed && pct == 0)
            EXPECT(strcmp(a[s].rep[0], x) == 0 || strcmp(b[s].rep[0], x) == 0);
    }
    EXPECT((uint32_t)moved == expect);
    EXPECT(d.slots_moved == expect);
    EXPECT(d.sets_changed == expect);
    EXPECT(d.owners_changed == m.owners);
    m.slots = expect;
    return m;
}

/* S*R/N slots move in expectation; the count is Binomial(S, R/N), so one
 * change stays within 4 standard deviations. */
static void ck_near_binomial(uint32_t got, double p)
{
    double mean = S * p, var = S * p * (1 - p);
    ck_assert_msg((got - mean) * (got - mean) < 16 * var,
                  "moved %u, expected %.1f (var %.1f)", got, mean, var);
}

/* N=10 -> 11 -> back to 10 (the new member dies) -> the first leaves. */
static void run_join_leave(unsigned seed, unsigned style, uint32_t pct,
                           move_stats_t *sum)
{
    enum { N = 10 };
    sh_rng_t rng;
    sh_rng_seed(&rng, seed);
    make_ids(N + 1, style, &rng);
    stab_member_t v[N + 1];
    make_view(v, N + 1);
    stab_t *t = new_table(S, pct, 64);
    ck_assert_int_eq(stab_update(t, v, N, NULL), S * R);
    move_stats_t m[3];
    m[0] = apply_one_change(t, v, N + 1, g_ids[N], pct); /* join */
    ck_near_binomial(m[0].slots, (double)R / (N + 1));
    uint32_t held = load_held(t, g_ids[N]);
    v[N].state = SWIM_DEAD;
    m[1] = apply_one_change(t, v, N + 1, g_ids[N], pct); /* dies */
    ck_assert_uint_eq(m[1].slots, held);
    held = load_held(t, g_ids[0]);
    m[2] = apply_one_change(t, v + 1, N, g_ids[0], pct); /* leaves the view */
    ck_assert_uint_eq(m[2].slots, held);
    ck_near_binomial(m[2].slots, (double)R / N);
    for (int i = 0; i < 3; i++) {
        /* A few owners may shift inside unchanged sets (design notes). */
        ck_assert_uint_le(m[i].owners_outside, 16);
        sum[i].slots += m[i].slots;
        sum[i].owners += m[i].owners;
        sum[i].owners_outside += m[i].owners_outside;
    }
    stab_free(t);
}

START_TEST(test_stab_one_change_moves_only_its_sets)
{
    move_stats_t sum[3] = {{0}};
    run_join_leave((unsigned)_i, (unsigned)_i, 0, sum);
    run_join_leave((unsigned)_i, (unsigned)_i, 125, sum);
}
END_TEST

/* Averages over 200 id sets: slots moved are S*R/N within 4 standard
 * errors, and balancing adds few owner changes over plain rendezvous. */
START_TEST(test_stab_movement_averages)
{
    enum { TRIALS = 200 };
    move_stats_t plain[3] = {{0}}, bal[3] = {{0}};
    for (unsigned i = 0; i < TRIALS; i++) {
        /* Random ids only, so that the trials are independent. */
        run_join_leave(5000 + i, 1 + i % 3, 0, plain);
        run_join_leave(5000 + i, 1 + i % 3, 125, bal);
    }
    const double p[3] = {3.0 / 11, 3.0 / 11, 3.0 / 10};
    for (int k = 0; k < 3; k++) {
        double mean = S * p[k], se2 = S * p[k] * (1 - p[k]) / TRIALS;
        double avg = (double)bal[k].slots / TRIALS;
        ck_assert_msg((avg - mean) * (avg - mean) < 16 * se2,
                      "step %d: avg moved %.2f, expected %.2f", k, avg, mean);
        ck_assert_uint_eq(bal[k].slots, plain[k].slots); /* same sets */
        ck_assert_uint_eq(plain[k].owners_outside, 0);
        ck_assert_msg(bal[k].owners_outside <= 2 * TRIALS, "step %d: %u", k,
                      bal[k].owners_outside);
        ck_assert_msg(bal[k].owners <= plain[k].owners * 1.1, "step %d: %u vs %u",
                      k, bal[k].owners, plain[k].owners);
    }
}
END_TEST

/* ---- balance -------------------------------------------------------- */

/* Owned shards are balanced by stab's owner choice; replica slots are
 * plain rendezvous, Binomial(S, R/N): mean 76.8, sd 7.3 at N=10, so the
 * fullest of ten members reaches 1.3x the mean in about 1 id set of 100
 * (measured worst 1.34 over 400 sets); 1.4 is 4 sd above the mean. */
static void ck_balance(const stab_t *t, size_t n, double bound,
                       double held_bound)
{
    uint32_t mo = 0, mh = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t o = load_owned(t, g_ids[i]), h = load_held(t, g_ids[i]);
        mo = o > mo ? o : mo;
        mh = h > mh ? h : mh;
    }
    double ro = mo / ((double)S / n), rh = mh / ((double)S * R / n);
    ck_assert_msg(ro <= bound, "owned max/mean %.3f (%s...)", ro, g_ids[0]);
    ck_assert_msg(rh <= held_bound, "held max/mean %.3f (%s...)", rh, g_ids[0]);
}

/* A shard and a member that would both rather be matched to each other
 * than to what they got: none may exist (checked only for views without
 * shards beyond the cap). */
static void ck_no_blocking_pair(const stab_t *t, size_t n, uint32_t cap)
{
    static ring_member_t m[POOL];
    for (size_t i = 0; i < n; i++)
        m[i] = (ring_member_t){g_ids[i], strlen(g_ids[i]), true};
    static uint32_t owner[S];
    static uint64_t w[16][S]; /* w[member][shard] */
    uint32_t idx[R];
    EXPECT(n <= 16);
    for (size_t i = 0; i < n; i++)
        for (uint32_t s = 0; s < S; s++)
            w[i][s] = ring_weight(m[i].id, m[i].len, s);
    for (uint32_t s = 0; s < S; s++) {
        EXPECT(ring_place(m, n, s, R, idx, NULL) == R);
        owner[s] = n;
        for (int j = 0; j < R; j++)
            if (strcmp(stab_owner(t, s), g_ids[idx[j]]) == 0)
                owner[s] = idx[j];
        EXPECT(owner[s] < n);
    }
    for (uint32_t s = 0; s < S; s++) {
        ring_place(m, n, s, R, idx, NULL);
        for (int j = 0; j < R && idx[j] != owner[s]; j++) {
            /* idx[j] ranks above the owner for s: it must prefer all of
             * its own shards to s. */
            uint32_t x = idx[j];
            EXPECT(load_owned(t, g_ids[x]) == cap);
            for (uint32_t q = 0; q < S; q++) {
                if (owner[q] == x)
                    EXPECT(w[x][q] > w[x][s] || (w[x][q] == w[x][s] && q < s));
            }
        }
    }
}

/* 400 id sets (100 per id style; one fork for all, which keeps the
 * sanitizer build fast).  The failure message names the first id. */
START_TEST(test_stab_balance_bounded)
{
    enum { N = 10, SETS = 400 };
    stab_t *t = new_table(S, 125, 64);
    for (unsigned i = 0; i < SETS; i++) {
        sh_rng_t rng;
        sh_rng_seed(&rng, 9000 + i);
        make_ids(N, i, &rng);
        stab_member_t v[N];
        make_view(v, N);
        stab_delta_t d;
        ck_assert_int_ge(stab_update(t, v, N, &d), 0);
        ck_assert_uint_eq(d.owner_cap, 32); /* ceil(256 * 1.25 / 10) */
        ck_balance(t, N, 1.3, 1.4);
        if (d.over_cap == 0)
            ck_no_blocking_pair(t, N, d.owner_cap);
    }
    stab_free(t);
}
END_TEST

/* The fixed ids "n1".."n10" that tests and demos use. */
START_TEST(test_stab_balance_sequential_ids)
{
    enum { N = 10 };
    make_ids(N, 0, NULL);
    ck_assert_str_eq(g_ids[9], "n10");
    stab_member_t v[N];
    make_view(v, N);
    stab_t *t = new_table(S, 125, 64);
    stab_delta_t d;
    ck_assert_int_eq(stab_update(t, v, N, &d), S * R);
    ck_assert_uint_eq(d.over_cap, 0);
    ck_balance(t, N, 1.25, 1.3);
    ck_no_blocking_pair(t, N, d.owner_cap);
    stab_free(t);
}
END_TEST

/* ---- member states and epochs --------------------------------------- */

START_TEST(test_stab_suspect_keeps_dead_loses)
{
    enum { N = 10 };
    sh_rng_t rng;
    sh_rng_seed(&rng, 77 + (uint64_t)_i);
    make_ids(N, (unsigned)_i, &rng);
    stab_member_t v[N];
    make_view(v, N);
    stab_t *t = new_table(S, _i % 2 ? 125 : 0, 64);
    ck_assert_int_eq(stab_update(t, v, N, NULL), S * R);
    static shot_t a[S], b[S];
    take(t, a, S);
    uint32_t held = load_held(t, g_ids[4]);
    stab_delta_t d;
    v[4].state = SWIM_SUSPECT;
    ck_assert_int_eq(stab_update(t, v, N, &d), 0);
    ck_assert_uint_eq(d.owners_changed, 0);
    take(t, b, S);
    ck_same_shots(a, b, S);
    ck_assert_uint_eq(load_held(t, g_ids[4]), held);

    v[4].state = SWIM_DEAD;
    ck_assert_int_eq(stab_update(t, v, N, &d), (int)held);
    ck_assert_uint_eq(load_held(t, g_ids[4]), 0);
    ck_assert_uint_eq(load_owned(t, g_ids[4]), 0);
    v[4].state = SWIM_LEFT;
    ck_assert_int_eq(stab_update(t, v, N, &d), 0);
    ck_assert_uint_eq(d.owners_changed, 0);

    /* Back alive: the same placement as before; epochs remember. */
    v[4].state = SWIM_ALIVE;
    ck_assert_int_eq(stab_update(t, v, N, &d), (int)held);
    take(t, b, S);
    for (uint32_t s = 0; s < S; s++) {
        ck_assert_uint_eq(a[s].n, b[s].n);
        for (uint32_t j = 0; j < a[s].n; j++)
            ck_assert_str_eq(a[s].rep[j], b[s].rep[j]);
        ck_assert(b[s].epoch == a[s].epoch || b[s].epoch == a[s].epoch + 2);
    }
    stab_check_invariants(t);
    stab_free(t);
}
END_TEST

/* A random walk of views over a pool of members: after every step the
 * epoch of a shard rose by one exactly when its owner changed, and
 * stab_owner_changes lists exactly those shards. */
START_TEST(test_stab_epochs_follow_owner_changes)
{
    enum { N = 16, STEPS = 80 };
    sh_rng_t rng;
    sh_rng_seed(&rng, 300 + (uint64_t)_i);
    make_ids(N, (unsigned)_i, &rng);
    stab_member_t v[N];
    make_view(v, N);
    bool present[N];
    for (int i = 0; i < N; i++)
        present[i] = sh_rng_below(&rng, 2);
    stab_t *t = new_table(S, _i % 2 ? 125 : 0, N);
    static shot_t a[S], b[S];
    uint64_t total = 0;
    for (int step = 0; step < STEPS; step++) {
        take(t, a, S);
        int x = (int)sh_rng_below(&rng, N);
        present[x] = sh_rng_below(&rng, 5) != 0;
        v[x].state = (enum swim_state)sh_rng_below(&rng, 4);
        stab_member_t p[N];
        size_t n = 0;
        for (int i = 0; i < N; i++)
            if (present[i])
                p[n++] = v[i];
        stab_delta_t d;
        EXPECT(stab_update(t, p, n, &d) >= 0);
        stab_check_invariants(t);
        take(t, b, S);
        const uint32_t *ch;
        size_t nch = stab_owner_changes(t, &ch), k = 0;
        EXPECT(nch == d.owners_changed);
        for (uint32_t s = 0; s < S; s++) {
            bool changed = strcmp(a[s].rep[0], b[s].rep[0]) != 0;
            EXPECT(b[s].epoch == a[s].epoch + changed);
            if (changed) {
                EXPECT(k < nch);
                EXPECT(ch[k++] == s);
            }
        }
        EXPECT(k == nch);
        total += nch;
    }
    stab_stats_t st;
    stab_stats_get(t, &st);
    EXPECT(st.updates == STEPS);
    EXPECT(st.owner_changes == total);
    stab_free(t);
}
END_TEST

START_TEST(test_stab_large_view)
{
    enum { N = 1000 };
    sh_rng_t rng;
    sh_rng_seed(&rng, 11);
    make_ids(N + 1, 1, &rng);
    static stab_member_t v[N + 1];
    make_view(v, N + 1);
    stab_t *t = new_table(S, 125, N);
    ck_assert_int_eq(stab_update(t, v, N + 1, NULL), SH_ETOO_BIG);
    ck_assert_int_eq(stab_update(t, v, N, NULL), S * R);
    stab_check_invariants(t);
    uint32_t owned = 0, held = 0;
    for (int i = 0; i < N; i++) {
        owned += load_owned(t, g_ids[i]);
        held += load_held(t, g_ids[i]);
    }
    ck_assert_uint_eq(owned, S);
    ck_assert_uint_eq(held, S * R);
    /* The same view again moves nothing. */
    stab_delta_t d;
    ck_assert_int_eq(stab_update(t, v, N, &d), 0);
    ck_assert_uint_eq(d.owners_changed, 0);
    stab_free(t);
}
END_TEST

static Suite *stab_suite(void)
{
    Suite *s = suite_create("stab");
    TCase *tc = tcase_create("view");
    tcase_add_test(tc, test_stab_config_rejects_bad);
    tcase_add_test(tc, test_stab_empty_table_is_unplaced);
    tcase_add_test(tc, test_stab_bad_view_leaves_table);
    tcase_add_loop_test(tc, test_stab_same_view_any_order, 0, 8);
    tcase_add_test(tc, test_stab_replicas_capped_at_members);
    tcase_add_test(tc, test_stab_large_view);
    suite_add_tcase(s, tc);
    tc = tcase_create("movement");
    tcase_add_loop_test(tc, test_stab_one_change_moves_only_its_sets, 0, 16);
    tcase_add_test(tc, test_stab_movement_averages);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("balance");
    tcase_add_test(tc, test_stab_balance_bounded);
    tcase_add_test(tc, test_stab_balance_sequential_ids);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("states");
    tcase_add_loop_test(tc, test_stab_suspect_keeps_dead_loses, 0, 8);
    tcase_add_loop_test(tc, test_stab_epochs_follow_owner_changes, 0, 8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stab_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
