/*
 * ent_life_test.c - how activations end, through real workers: idle and
 * LRU passivation (an entity in a turn is never evicted), a shard release
 * that fails the calls of its entities, and shutdown completing every
 * open call with SH_ECLOSED.
 *
 * The test type "t" and the runtime harness are in ent_fixture.h.
 */
#include "ent_fixture.h"

/* ---- passivation */

START_TEST(test_ent_idle_passivation)
{
    rt_start((rt_opts_t){.workers = 1, .idle_ms = 50});
    char r[512], id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "i%d", i);
        ck_assert_int_eq(call(id, "add", "2", r), 0);
    }
    ck_assert_uint_eq(stats(0).activations, 5);
    ck_assert(POLL_UNTIL(stats(0).passivations == 5, 5000));
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.active, 0);
    ck_assert_int_eq(atomic_load(&g_destroys), 5);
    ck_assert_int_eq(wrk_entity_active(g_w[0], "t", "i0"), false);
    /* reactivation: a fresh state (memory only until persistence lands) */
    ck_assert_int_eq(call("i0", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    ck_assert_uint_eq(stats(0).activations, 6);
    ck_assert_int_eq(atomic_load(&g_creates), 6);
    rt_stop();
}
END_TEST

START_TEST(test_ent_lru_passivation)
{
    rt_start((rt_opts_t){.workers = 1, .max_active = 3});
    char r[512];
    ck_assert_int_eq(call("e1", "get", NULL, r), 0);
    ck_assert_int_eq(call("e2", "get", NULL, r), 0);
    ck_assert_int_eq(call("e3", "get", NULL, r), 0);
    ck_assert_int_eq(call("e4", "get", NULL, r), 0);
    ck_assert_uint_eq(stats(0).passivations, 1);
    ck_assert_str_eq(g_destroyed, "e1,");
    ck_assert_int_eq(call("e2", "get", NULL, r), 0); /* e2 is now the most recent */
    ck_assert_int_eq(call("e5", "get", NULL, r), 0);
    ck_assert_str_eq(g_destroyed, "e1,e3,");
    /* an entity in a turn is never evicted, even when least recently used */
    waiter_t *h = submit(CALL_ASK, "e4", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    ck_assert_int_eq(call("e6", "get", NULL, r), 0);
    ck_assert_str_eq(g_destroyed, "e1,e3,e2,");
    ck_assert_int_eq(call("e7", "get", NULL, r), 0);
    ck_assert_str_eq(g_destroyed, "e1,e3,e2,e5,");
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000));
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.passivations, 4);
    ck_assert_uint_eq(s.active, 3);
    ck_assert_uint_eq(s.activations, 7);
    free(h);
    rt_stop();
}
END_TEST

/* ---- shard release and shutdown */

START_TEST(test_ent_shard_release_drops_entities)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(call("A", "add", "1", r), 0);
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *q = submit(CALL_ASK, "A", "ping", NULL);
    wrk_shard_release(g_w[0], shard_of("A"));
    ck_assert(wait_done(h, 5000) && wait_done(q, 5000));
    ck_assert_int_eq(h->status, SH_EUNAVAILABLE);
    ck_assert_int_eq(q->status, SH_EUNAVAILABLE);
    ck_assert(POLL_UNTIL(wrk_shard_active(g_w[0], shard_of("A")) == 0, 5000));
    ck_assert_int_eq(atomic_load(&g_destroys), 1);
    ck_assert_uint_eq(stats(0).active, 0);
    free(h);
    free(q);
    rt_stop();
}
END_TEST

START_TEST(test_ent_shutdown_completes_closed)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *q1 = submit(CALL_ASK, "A", "ping", NULL);
    waiter_t *q2 = submit(CALL_ASK, "B", "ask", "t A ping 0");
    ck_assert(POLL_UNTIL(stats(0).activations == 2 && atomic_load(&g_handled) == 2, 5000));
    rt_stop();
    ck_assert(is_done(h) && is_done(q1) && is_done(q2));
    ck_assert_int_eq(h->status, SH_ECLOSED);
    ck_assert_int_eq(q1->status, SH_ECLOSED);
    ck_assert_int_eq(q2->status, SH_ECLOSED);
    ck_assert_msg(atomic_load(&g_destroys) == 2, "destroyed %s", g_destroyed);
    free(h);
    free(q1);
    free(q2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ent_life");
    unit_tcase_add(s, "passivation", reset, NULL, 60,
                   (const TTest *[]){test_ent_idle_passivation, test_ent_lru_passivation, NULL});
    unit_tcase_add(s, "lifecycle", reset, NULL, 60,
                   (const TTest *[]){test_ent_shard_release_drops_entities,
                                     test_ent_shutdown_completes_closed, NULL});
    return ent_run(s);
}
