/*
 * ent_ask_test.c - entity-to-entity calls through real workers: asks on
 * the same worker (the local fast path) and across workers (routed), call
 * cycles that end at their deadline on one worker and across two, an ask
 * that times out before a late reply, and tells answered at enqueue.
 *
 * The test type "t" and the runtime harness are in ent_fixture.h.
 */
#include "ent_fixture.h"

/* ---- entity-to-entity calls */

START_TEST(test_ent_ask_same_worker)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    const char *a = id_on(0, "a", 0), *b = id_on(0, "b", 0);
    snprintf(body, sizeof body, "t %s ping 0", b);
    ck_assert_int_eq(call(a, "ask", body, r), 0);
    ck_assert_str_eq(r, "ok:pong");
    ck_assert_uint_eq(stats(0).local_fast_path, 1);
    ck_assert_int_eq(atomic_load(&g_routed), 0);
    /* an ask to an unknown type answers the continuation, not the caller */
    ck_assert_int_eq(call(a, "ask", "nope x get 0", r), 0);
    snprintf(body, sizeof body, "err:%d", SH_ENOT_FOUND);
    ck_assert_str_eq(r, body);
    rt_stop();
}
END_TEST

START_TEST(test_ent_ask_other_worker)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    const char *a = id_on(0, "a", 0), *b = id_on(1, "b", 0);
    snprintf(body, sizeof body, "t %s add 0 9", b);
    ck_assert_int_eq(call(a, "ask", body, r), 0);
    ck_assert_str_eq(r, "ok:9");
    ck_assert_int_eq(atomic_load(&g_routed), 1);
    ck_assert_uint_eq(stats_sum().local_fast_path, 0);
    ck_assert_int_eq(call(b, "get", NULL, r), 0);
    ck_assert_str_eq(r, "9");
    rt_stop();
}
END_TEST

/* A -> B -> A: B's ask waits behind A's open turn; the outer call ends at
 * its deadline with SH_ETIMEOUT, and both entities serve calls again. */
static void cycle_case(uint32_t wa, uint32_t wb)
{
    char r[512], body[256];
    const char *a = id_on(wa, "ca", 0);
    const char *b = id_on(wb, "cb", 0);
    char aid[32];
    snprintf(aid, sizeof aid, "%s", a);
    snprintf(body, sizeof body, "t %s ask 0 t %s ping 0", b, aid);
    waiter_t *wt = submit_dl(CALL_ASK, aid, "ask", body, sh_time_mono_ms() + 300);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ETIMEOUT);
    free(wt);
    ck_assert_int_eq(call(aid, "ping", NULL, r), 0);
    ck_assert_int_eq(call(b, "ping", NULL, r), 0);
    ck_assert(POLL_UNTIL(stats_sum().turns_timeout >= 2, 5000));
}

START_TEST(test_ent_cycle_same_worker_times_out)
{
    rt_start((rt_opts_t){.workers = 2});
    cycle_case(0, 0);
    rt_stop();
}
END_TEST

START_TEST(test_ent_cycle_across_workers_times_out)
{
    rt_start((rt_opts_t){.workers = 2});
    cycle_case(0, 1);
    rt_stop();
}
END_TEST

START_TEST(test_ent_ask_timeout_then_late_reply)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    const char *a = id_on(0, "a", 0), *b = id_on(1, "b", 0);
    /* B blocks its worker, so only A's own clock can end the ask */
    snprintf(body, sizeof body, "t %s spin 300", b);
    waiter_t *wt = submit(CALL_ASK, a, "ask", body);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, 0);
    snprintf(body, sizeof body, "err:%d", SH_ETIMEOUT);
    ck_assert_str_eq(wt->reply, body); /* the continuation saw the ask's own timeout */
    atomic_store(&g_release, true);
    ck_assert(POLL_UNTIL(stats(0).late_replies == 1, 5000));
    ck_assert_int_eq(call(a, "ping", NULL, r), 0);
    free(wt);
    rt_stop();
}
END_TEST

START_TEST(test_ent_tell_answers_at_enqueue)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    /* A is busy, yet the tell is acknowledged as soon as it is queued */
    ck_assert_int_eq(call_k(CALL_TELL, "A", "add", "4", r), 0);
    ck_assert_str_eq(r, "");
    ck_assert(!is_done(h));
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000));
    ck_assert_int_eq(call("A", "get", NULL, r), 0);
    ck_assert_str_eq(r, "4");
    /* an entity's tell goes out after its turn succeeded */
    snprintf(body, sizeof body, "t %s add 2", id_on(1, "tb", 0));
    ck_assert_int_eq(call(id_on(0, "ta", 0), "tell", body, r), 0);
    ck_assert(POLL_UNTIL(call(id_on(1, "tb", 0), "get", NULL, r) == 0 && strcmp(r, "2") == 0,
                         5000));
    free(h);
    rt_stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ent_ask");
    unit_tcase_add(s, "calls", reset, NULL, 60,
                   (const TTest *[]){test_ent_ask_same_worker, test_ent_ask_other_worker,
                                     test_ent_cycle_same_worker_times_out,
                                     test_ent_cycle_across_workers_times_out,
                                     test_ent_ask_timeout_then_late_reply,
                                     test_ent_tell_answers_at_enqueue, NULL});
    return ent_run(s);
}
