/* route_test.c - the node's shard table and routing rule (suite "route"). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "route.h"
#include "sh_err.h"

#define S 64

static route_t *mk(const char *self, uint32_t replicas)
{
    route_t *r;
    route_config_t cfg = {.self_id = self, .shards = S, .replicas = replicas};
    ck_assert_int_eq(route_new(&r, &cfg), 0);
    return r;
}

static void update(route_t *r, const stab_member_t *v, size_t n, route_change_t *chg)
{
    ck_assert_int_eq(route_update(r, v, n, chg), 0);
}

START_TEST(test_route_bad_config)
{
    route_t *r = NULL;
    route_config_t cfg = {.self_id = "", .shards = S, .replicas = 3};
    ck_assert_int_eq(route_new(&r, &cfg), SH_EBAD_REQUEST);
    cfg.self_id = "n1";
    cfg.shards = 0;
    ck_assert_int_eq(route_new(&r, &cfg), SH_EBAD_REQUEST);
    cfg.shards = S;
    cfg.replicas = 0;
    ck_assert_int_eq(route_new(&r, &cfg), SH_EBAD_REQUEST);
    ck_assert_ptr_null(r);
    route_free(NULL);
}
END_TEST

/* Before any view nothing is placed; a view with no eligible member places
 * nothing either: every call is unavailable, none is "local". */
START_TEST(test_route_unplaced_is_unavailable)
{
    route_t *r = mk("n1", 3);
    const char *owner = "x";
    ck_assert_int_eq(route_decide(r, 0, 0, NULL, &owner), ROUTE_UNAVAILABLE);
    ck_assert_ptr_null(owner);
    stab_member_t v[] = {{"n1", SWIM_LEFT}};
    update(r, v, 1, NULL);
    for (uint32_t s = 0; s < S; s++)
        ck_assert_int_eq(route_decide(r, s, 0, NULL, &owner), ROUTE_UNAVAILABLE);
    ck_assert_int_eq(route_decide(r, S, 0, NULL, &owner), ROUTE_UNAVAILABLE); /* out of range */
    route_free(r);
}
END_TEST

START_TEST(test_route_single_node_owns_all)
{
    route_t *r = mk("n1", 3);
    stab_member_t v[] = {{"n1", SWIM_ALIVE}};
    route_change_t chg;
    update(r, v, 1, &chg);
    ck_assert_uint_eq(chg.acquired, S);
    ck_assert_uint_eq(chg.released, 0);
    ck_assert_uint_eq(chg.owners_changed, S);
    ck_assert_uint_eq(chg.eligible, 1);
    const char *owner;
    for (uint32_t s = 0; s < S; s++) {
        ck_assert_int_eq(route_decide(r, s, 0, NULL, &owner), ROUTE_LOCAL);
        ck_assert(route_owns(r, s));
    }
    /* The same view again changes nothing. */
    update(r, v, 1, &chg);
    ck_assert_uint_eq(chg.owners_changed, 0);
    ck_assert_uint_eq(chg.acquired, 0);
    route_free(r);
}
END_TEST

/* Three nodes with the same view: each shard is local on exactly one, and
 * the other two forward to that one. */
START_TEST(test_route_same_view_one_owner)
{
    const char *ids[] = {"n1", "n2", "n3"};
    stab_member_t v[] = {{"n3", SWIM_ALIVE}, {"n1", SWIM_ALIVE}, {"n2", SWIM_SUSPECT}};
    route_t *r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = mk(ids[i], 3);
        update(r[i], v, 3, NULL);
    }
    uint32_t owned[3] = {0, 0, 0};
    for (uint32_t s = 0; s < S; s++) {
        int local = -1;
        for (int i = 0; i < 3; i++) {
            const char *o;
            if (route_decide(r[i], s, 0, NULL, &o) == ROUTE_LOCAL) {
                ck_assert_int_eq(local, -1);
                local = i;
            }
        }
        ck_assert_int_ge(local, 0);
        owned[local]++;
        for (int i = 0; i < 3; i++) {
            const char *o;
            if (i == local)
                continue;
            ck_assert_int_eq(route_decide(r[i], s, 1, NULL, &o), ROUTE_FORWARD);
            ck_assert_str_eq(o, ids[local]);
        }
    }
    ck_assert_uint_eq(owned[0] + owned[1] + owned[2], S);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_gt(owned[i], 0); /* a suspect keeps its shards */
        route_free(r[i]);
    }
}
END_TEST

/* n1 with R = 1 in the view {n1, n2}; *s is a shard n2 owns, of which n1
 * holds no replica. */
static route_t *r1_pair(uint32_t *s)
{
    route_t *r = mk("n1", 1);
    stab_member_t v[] = {{"n1", SWIM_ALIVE}, {"n2", SWIM_ALIVE}};
    update(r, v, 2, NULL);
    for (*s = 0; route_owns(r, *s); (*s)++)
        ;
    return r;
}

START_TEST(test_route_hop_limit)
{
    uint32_t s;
    route_t *r = r1_pair(&s);
    const char *o;
    for (uint8_t h = 0; h < CALL_HOPS_MAX; h++) {
        ck_assert_int_eq(route_decide(r, s, h, NULL, &o), ROUTE_FORWARD);
        ck_assert_str_eq(o, "n2");
    }
    ck_assert_int_eq(route_decide(r, s, CALL_HOPS_MAX, NULL, &o), ROUTE_UNAVAILABLE);
    ck_assert_ptr_null(o);
    /* A local shard is local whatever the hop count. */
    uint32_t mine = 0;
    while (!route_owns(r, mine))
        mine++;
    ck_assert_int_eq(route_decide(r, mine, 200, NULL, &o), ROUTE_LOCAL);
    route_free(r);
}
END_TEST

/* n2 joins a cluster of one: the shards n2 now owns are exactly the ones
 * released by n1, listed in increasing order; n2 leaving gives them back. */
START_TEST(test_route_release_on_join)
{
    route_t *r = mk("n1", 3);
    stab_member_t one[] = {{"n1", SWIM_ALIVE}};
    stab_member_t two[] = {{"n1", SWIM_ALIVE}, {"n2", SWIM_ALIVE}};
    stab_member_t gone[] = {{"n1", SWIM_ALIVE}, {"n2", SWIM_DEAD}};
    update(r, one, 1, NULL);
    route_change_t chg;
    update(r, two, 2, &chg);
    const uint32_t *rel;
    size_t n = route_released(r, &rel);
    ck_assert_uint_eq(n, chg.released);
    ck_assert_uint_gt(n, S / 4);
    ck_assert_uint_lt(n, 3 * S / 4);
    ck_assert_uint_eq(chg.acquired, 0);
    size_t k = 0;
    for (uint32_t s = 0; s < S; s++) {
        const char *o;
        if (route_decide(r, s, 0, NULL, &o) == ROUTE_FORWARD) {
            ck_assert_str_eq(o, "n2");
            ck_assert_uint_lt(k, n);
            ck_assert_uint_eq(rel[k++], s); /* increasing, and exactly these */
        }
    }
    ck_assert_uint_eq(k, n);
    update(r, gone, 2, &chg);
    ck_assert_uint_eq(chg.acquired, n);
    ck_assert_uint_eq(chg.released, 0);
    ck_assert_uint_eq(route_released(r, &rel), 0);
    for (uint32_t s = 0; s < S; s++)
        ck_assert(route_owns(r, s));
    route_free(r);
}
END_TEST

/* Each owner change bumps the shard's epoch by one. */
START_TEST(test_route_epochs_count_owner_changes)
{
    route_t *r = mk("n1", 2);
    stab_member_t one[] = {{"n1", SWIM_ALIVE}};
    stab_member_t two[] = {{"n1", SWIM_ALIVE}, {"n2", SWIM_ALIVE}};
    update(r, one, 1, NULL);
    update(r, two, 2, NULL);
    update(r, one, 1, NULL);
    for (uint32_t s = 0; s < S; s++) {
        stab_shard_view_t v;
        ck_assert_int_eq(stab_shard_get(route_stab(r), s, &v), 0);
        ck_assert_str_eq(v.owner, "n1");
        /* 1 (placed) + 2 if it went to n2 and came back */
        ck_assert(v.epoch == 1 || v.epoch == 3);
    }
    route_free(r);
}
END_TEST

/* Views that disagree: n1 believes n2 owns everything and n2 believes n1
 * does, and neither holds a replica in its own view (each sees itself
 * gone), so the replica rule does not apply even though each gets the
 * call from the owner it names.  A call bounces between them and is
 * refused after exactly CALL_HOPS_MAX forwards - never a loop. */
START_TEST(test_route_disagreeing_views_end_unavailable)
{
    route_t *a = mk("n1", 3), *b = mk("n2", 3);
    stab_member_t va[] = {{"n1", SWIM_LEFT}, {"n2", SWIM_ALIVE}};
    stab_member_t vb[] = {{"n1", SWIM_ALIVE}, {"n2", SWIM_LEFT}};
    update(a, va, 2, NULL);
    update(b, vb, 2, NULL);
    route_t *at = a;
    uint8_t hops = 0;
    const char *o, *from = NULL;
    enum route_action act;
    while ((act = route_decide(at, 7, hops, from, &o)) == ROUTE_FORWARD) {
        ck_assert_str_eq(o, at == a ? "n2" : "n1");
        from = route_self(at);
        at = at == a ? b : a;
        hops++;
        ck_assert_uint_le(hops, CALL_HOPS_MAX);
    }
    ck_assert_int_eq(act, ROUTE_UNAVAILABLE);
    ck_assert_uint_eq(hops, CALL_HOPS_MAX);
    route_free(a);
    route_free(b);
}
END_TEST

/* A call for shard s entering at r[start], routed through each node's
 * route_decide with the forwarder's id, as the RPC frame's source passes
 * it (ids[i] is r[i]'s id, "n1".."n9").  It must end ROUTE_LOCAL within
 * CALL_HOPS_MAX forwards; returns where, *hops how many it took. */
static int walk(route_t *const *r, const char *const *ids, int start, uint32_t s,
                uint8_t *hops)
{
    int at = start;
    const char *o, *from = NULL;
    enum route_action act;
    *hops = 0;
    while ((act = route_decide(r[at], s, *hops, from, &o)) == ROUTE_FORWARD) {
        from = ids[at];
        at = o[1] - '1';
        ck_assert_str_eq(ids[at], o);
        ck_assert_uint_le(++*hops, CALL_HOPS_MAX);
    }
    ck_assert_int_eq(act, ROUTE_LOCAL);
    return at;
}

/* Views that differ but converge on an owner: n1 still sees n3 (dead to
 * the others); every call ends local somewhere within the hop limit. */
START_TEST(test_route_partial_views_still_deliver)
{
    const char *ids[] = {"n1", "n2", "n3"};
    stab_member_t v1[] = {{"n1", SWIM_ALIVE}, {"n2", SWIM_ALIVE}, {"n3", SWIM_SUSPECT}};
    stab_member_t v2[] = {{"n1", SWIM_ALIVE}, {"n2", SWIM_ALIVE}, {"n3", SWIM_DEAD}};
    route_t *r[3] = {mk("n1", 3), mk("n2", 3), mk("n3", 3)};
    update(r[0], v1, 3, NULL);
    update(r[1], v2, 3, NULL);
    update(r[2], v1, 3, NULL); /* n3 thinks itself alive */
    for (uint32_t s = 0; s < S; s++)
        for (int start = 0; start < 2; start++) {
            uint8_t hops;
            walk(r, ids, start, s, &hops);
            ck_assert_uint_le(hops, 2);
        }
    for (int i = 0; i < 3; i++)
        route_free(r[i]);
}
END_TEST

/* ---- the replica rule: two views that name each other ------------------ */

static const char *const ids6[] = {"n1", "n2", "n3", "n4", "n5", "n6"};

static void view_of(stab_member_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (stab_member_t){ids6[i], SWIM_ALIVE};
}

/* n6 joins n1..n5: the owner cap changes with N and the stable matching
 * moves a few owners between live members (sharding/stab.c).  For such a
 * shard, the old owner holding the NEW view and the new owner holding the
 * OLD one name each other: the bounce of tests/sim/sim_placement.c.
 * Finds one: *a is the old owner holding the new view, *b the new owner
 * holding the old one; returns the shard. */
static uint32_t bounce_pair(route_t **a, route_t **b)
{
    stab_member_t vold[5], vnew[6];
    view_of(vold, 5);
    view_of(vnew, 6);
    for (int i = 0; i < 5; i++) { /* try every live pair as (A, B) */
        for (int j = 0; j < 5; j++) {
            if (i == j)
                continue;
            *a = mk(ids6[i], 3);
            *b = mk(ids6[j], 3);
            update(*a, vnew, 6, NULL);
            update(*b, vold, 5, NULL);
            for (uint32_t s = 0; s < S; s++) {
                const char *oa, *ob;
                if (route_decide(*a, s, 0, NULL, &oa) == ROUTE_FORWARD &&
                    route_decide(*b, s, 0, NULL, &ob) == ROUTE_FORWARD &&
                    strcmp(oa, ids6[j]) == 0 && strcmp(ob, ids6[i]) == 0)
                    return s;
            }
            route_free(*a);
            route_free(*b);
        }
    }
    ck_abort_msg("no shard whose owner moves between live members on 5 -> 6");
    return 0;
}

/* Each of the two serves the call the other hands it, even at the last
 * hop, without becoming its owner; with from = NULL (the call entered
 * here), from a third member or from a client id it still forwards. */
START_TEST(test_route_bounce_served_by_replica)
{
    route_t *a, *b;
    uint32_t s = bounce_pair(&a, &b);
    const char *ida = route_self(a), *idb = route_self(b), *o;
    ck_assert_int_eq(route_decide(a, s, 0, NULL, &o), ROUTE_FORWARD);
    ck_assert_str_eq(o, idb);
    ck_assert_int_eq(route_decide(b, s, 1, ida, &o), ROUTE_LOCAL);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(route_decide(b, s, 0, NULL, &o), ROUTE_FORWARD);
    ck_assert_str_eq(o, ida);
    ck_assert_int_eq(route_decide(a, s, 1, idb, &o), ROUTE_LOCAL);
    ck_assert_int_eq(route_decide(a, s, CALL_HOPS_MAX, idb, &o), ROUTE_LOCAL);
    ck_assert(!route_owns(a, s) && !route_owns(b, s));
    /* Not handed over by the owner it names: the old rule. */
    const char *third = ids6[0];
    for (int i = 0; !strcmp(third, ida) || !strcmp(third, idb); i++)
        third = ids6[i];
    const char *others[] = {NULL, third, "client-7f3a"};
    for (size_t k = 0; k < 3; k++) {
        ck_assert_int_eq(route_decide(b, s, 1, others[k], &o), ROUTE_FORWARD);
        ck_assert_str_eq(o, ida);
        ck_assert_int_eq(route_decide(b, s, CALL_HOPS_MAX, others[k], &o), ROUTE_UNAVAILABLE);
    }
    route_free(a);
    route_free(b);
}
END_TEST

/* Every other member holds the old or the new view (all 8 mixes; the
 * joiner n6 the new one): whatever the entry point, a call for the
 * bouncing shard ends local at one of the two within 2 hops (with
 * from = NULL it used to run out of hops). */
START_TEST(test_route_bounce_ends_within_two_hops)
{
    route_t *a, *b;
    uint32_t s = bounce_pair(&a, &b);
    stab_member_t vold[5], vnew[6];
    view_of(vold, 5);
    view_of(vnew, 6);
    for (unsigned mix = 0; mix < 8; mix++) {
        route_t *r[6];
        unsigned bit = 0;
        for (int i = 0; i < 6; i++) {
            if (!strcmp(ids6[i], route_self(a)) || !strcmp(ids6[i], route_self(b))) {
                r[i] = !strcmp(ids6[i], route_self(a)) ? a : b;
                continue;
            }
            r[i] = mk(ids6[i], 3);
            bool is_new = i == 5 || (mix >> bit++ & 1);
            update(r[i], is_new ? vnew : vold, is_new ? 6 : 5, NULL);
        }
        for (int start = 0; start < 6; start++) {
            uint8_t hops;
            int at = walk(r, ids6, start, s, &hops);
            ck_assert_uint_le(hops, 2);
            ck_assert(r[at] == a || r[at] == b);
        }
        for (int i = 0; i < 6; i++)
            if (r[i] != a && r[i] != b)
                route_free(r[i]);
    }
    route_free(a);
    route_free(b);
}
END_TEST

/* R = 1: n1 holds no replica of n2's shards, so a call n2 hands it (views
 * that disagree) is forwarded back, not served. */
START_TEST(test_route_non_replica_from_owner_forwards)
{
    uint32_t s;
    route_t *r = r1_pair(&s);
    const char *o;
    ck_assert_int_eq(route_decide(r, s, 1, "n2", &o), ROUTE_FORWARD);
    ck_assert_str_eq(o, "n2");
    ck_assert_int_eq(route_decide(r, s, CALL_HOPS_MAX, "n2", &o), ROUTE_UNAVAILABLE);
    route_free(r);
}
END_TEST

START_TEST(test_route_bad_view_keeps_table)
{
    route_t *r = mk("n1", 3);
    stab_member_t v[] = {{"n1", SWIM_ALIVE}};
    update(r, v, 1, NULL);
    stab_member_t dup[] = {{"n1", SWIM_ALIVE}, {"n1", SWIM_ALIVE}};
    ck_assert_int_eq(route_update(r, dup, 2, NULL), SH_EBAD_REQUEST);
    const char *o;
    ck_assert_int_eq(route_decide(r, 3, 0, NULL, &o), ROUTE_LOCAL);
    ck_assert_str_eq(route_self(r), "n1");
    route_free(r);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_route_bad_config);
    tcase_add_test(tc, test_route_unplaced_is_unavailable);
    tcase_add_test(tc, test_route_single_node_owns_all);
    tcase_add_test(tc, test_route_same_view_one_owner);
    tcase_add_test(tc, test_route_release_on_join);
    tcase_add_test(tc, test_route_epochs_count_owner_changes);
    tcase_add_test(tc, test_route_bad_view_keeps_table);
    suite_add_tcase(s, tc);
    tc = tcase_create("hops");
    tcase_add_test(tc, test_route_hop_limit);
    tcase_add_test(tc, test_route_disagreeing_views_end_unavailable);
    tcase_add_test(tc, test_route_partial_views_still_deliver);
    suite_add_tcase(s, tc);
    tc = tcase_create("replica");
    tcase_add_test(tc, test_route_bounce_served_by_replica);
    tcase_add_test(tc, test_route_bounce_ends_within_two_hops);
    tcase_add_test(tc, test_route_non_replica_from_owner_forwards);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
