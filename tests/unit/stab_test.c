/*
 * stab_test.c - the shard table: config and refusal of bad views,
 * determinism, replica counts, member states and epochs.  Movement and
 * balance, with the figures their bounds come from, are in
 * stab_balance_test.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "stab_fixture.h"

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
