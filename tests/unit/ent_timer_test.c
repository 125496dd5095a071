/*
 * ent_timer_test.c - entity timers through real workers: set, get and
 * delete, periods and repetitions, bad timer bodies, and timers that do
 * not keep an idle entity active (they go with its activation).
 *
 * The test type "t" (whose "tick" method is the timer callback) and the
 * runtime harness are in ent_fixture.h.
 */
#include "ent_fixture.h"

/* ---- timers */

START_TEST(test_ent_timer_set_get_del)
{
    rt_start((rt_opts_t){.workers = 1});
    const char *spec =
        "{\"dueTime\":\"0h0m0s10ms\",\"period\":\"0h0m0s20ms\",\"callback\":\"tick\","
        "\"data\":{\"n\":1}}";
    char r[512];
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), SH_ENOT_FOUND);
    ck_assert_int_eq(stats(0).activations, 0); /* looking does not activate */
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t1", spec, r), 0);
    ck_assert_uint_eq(stats(0).activations, 1);
    ck_assert(POLL_UNTIL(atomic_load(&g_ticks) >= 3, 5000));
    pthread_mutex_lock(&g_mu);
    ck_assert_str_eq(g_last_tick, "{\"n\":1}");
    pthread_mutex_unlock(&g_mu);
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), 0);
    ck_assert_str_eq(r, spec);
    ck_assert_int_eq(call_k(CALL_TIMER_DEL, "A", "t1", NULL, r), 0);
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), SH_ENOT_FOUND);
    ck_assert_int_eq(call_k(CALL_TIMER_DEL, "A", "t1", NULL, r), SH_ENOT_FOUND);
    ck_assert_uint_ge(stats(0).timer_fires, 3);
    /* bad bodies */
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t2", "{\"dueTime\":\"soon\",\"callback\":\"tick\"}", r),
                     SH_EBAD_REQUEST);
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t2", "{\"dueTime\":\"1s\"}", r), SH_EBAD_REQUEST);
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t2", "[1]", r), SH_EBAD_REQUEST);
    /* one-shot with repetitions: "R2/..." fires exactly twice */
    int before = atomic_load(&g_ticks);
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t3",
                            "{\"dueTime\":\"0\",\"period\":\"R2/PT0.01S\",\"callback\":\"tick\"}",
                            r), 0);
    ck_assert(POLL_UNTIL(call_k(CALL_TIMER_GET, "A", "t3", NULL, r) == SH_ENOT_FOUND, 5000));
    ck_assert(POLL_UNTIL(atomic_load(&g_ticks) == before + 2, 5000));
    rt_stop();
}
END_TEST

START_TEST(test_ent_timers_do_not_keep_alive)
{
    rt_start((rt_opts_t){.workers = 1, .idle_ms = 100});
    char r[512];
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t1",
                            "{\"dueTime\":\"0s\",\"period\":\"10ms\",\"callback\":\"tick\"}", r),
                     0);
    ck_assert(POLL_UNTIL(stats(0).passivations == 1, 5000));
    ck_assert_int_gt(atomic_load(&g_ticks), 0);
    ck_assert_uint_eq(stats(0).active, 0);
    ck_assert_int_eq(atomic_load(&g_destroys), 1);
    /* the timer went with the activation */
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), SH_ENOT_FOUND);
    rt_stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ent_timer");
    unit_tcase_add(s, "timers", reset, NULL, 60,
                   (const TTest *[]){test_ent_timer_set_get_del, test_ent_timers_do_not_keep_alive,
                                     NULL});
    return ent_run(s);
}
