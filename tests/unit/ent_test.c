/*
 * ent_test.c - the entity runtime driven through real workers (wrk_new):
 * activation, unknown types and methods, failure isolation, corruption,
 * one turn at a time, parallelism across workers, defer, the mailbox
 * bound, deadlines, and the runtime's cost per entity.
 *
 * The test type "t" and the runtime harness are in ent_fixture.h; the
 * other ent_* suites cover asks and tells (ent_ask_test.c), passivation
 * and shard release and shutdown (ent_life_test.c), and timers
 * (ent_timer_test.c).
 */
#include <malloc.h>

#include "ent_fixture.h"
#include "ent_int.h"

/* ---- activation, errors, isolation */

START_TEST(test_ent_activates_on_first_message)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(wrk_entity_active(g_w[0], "t", "a1"), false);
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    ck_assert_int_eq(call("a1", "add", "5", r), 0);
    ck_assert_str_eq(r, "5");
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "5");
    ck_assert_int_eq(atomic_load(&g_creates), 1);
    ck_assert_int_eq(wrk_entity_active(g_w[0], "t", "a1"), true);
    ck_assert_uint_eq(wrk_shard_active(g_w[0], shard_of("a1")), 1);
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.activations, 1);
    ck_assert_uint_eq(s.active, 1);
    ck_assert_uint_eq(s.turns_ok, 3);
    uint64_t lat = 0;
    for (int i = 0; i < WRK_LAT_BUCKETS; i++)
        lat += s.lat_buckets[i];
    ck_assert_uint_eq(lat, 3);
    ck_assert_uint_eq(s.depth_buckets[0], 3); /* each found an empty mailbox */
    rt_stop();
    ck_assert_int_eq(atomic_load(&g_destroys), 1);
}
END_TEST

START_TEST(test_ent_unknown_type_and_method)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *wt = calloc(1, sizeof *wt);
    call_t *c;
    ck_assert_int_eq(call_new(&c, CALL_ASK, "nope", "1", "get", NULL, 0,
                              sh_time_mono_ms() + 5000, SHARDS), 0);
    c->on_done = on_done;
    c->done_arg = wt;
    ck_assert_int_eq(wrk_submit(g_w[0], c), 0);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ENOT_FOUND);
    ck_assert_str_eq(wt->err, "unknown entity type 'nope'");
    free(wt);
    wt = submit(CALL_ASK, "a1", "frobnicate", NULL);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ENOT_FOUND);
    ck_assert_str_eq(wt->err, "unknown method 'frobnicate'");
    free(wt);
    ck_assert_uint_eq(stats(0).activations, 1);
    rt_stop();
}
END_TEST

START_TEST(test_ent_handler_error_isolates)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(call("a1", "add", "5", r), 0);
    ck_assert_int_eq(call("b1", "add", "7", r), 0);
    waiter_t *wt = submit(CALL_ASK, "a1", "fail", NULL);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ECONFLICT);
    ck_assert_str_eq(wt->err, "nope");
    ck_assert_str_eq(wt->reply, ""); /* a failed turn's reply is discarded */
    free(wt);
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "5"); /* its event was discarded too */
    ck_assert_int_eq(call("b1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "7");
    ck_assert_uint_eq(stats(0).turns_error, 1);
    ck_assert_int_eq(atomic_load(&g_creates), 2);
    rt_stop();
}
END_TEST

START_TEST(test_ent_corrupt_drops_and_reactivates)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(call("a1", "add", "3", r), 0);
    ck_assert_int_eq(call("a1", "corrupt", NULL, r), SH_ECORRUPT);
    /* the call completes first, the drop follows in the same loop pass */
    ck_assert(POLL_UNTIL(atomic_load(&g_destroys) == 1, 5000));
    ck_assert_uint_eq(stats(0).active, 0);
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    ck_assert_int_eq(atomic_load(&g_creates), 2);
    /* an event apply refuses is corruption too */
    ck_assert_int_eq(call("a1", "badevent", NULL, r), SH_ECORRUPT);
    ck_assert(POLL_UNTIL(atomic_load(&g_destroys) == 2, 5000));
    /* with mail waiting, the entity is recreated at once for it */
    ck_assert_int_eq(call("a1", "add", "4", r), 0);
    waiter_t *h = submit(CALL_ASK, "a1", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *c1 = submit(CALL_ASK, "a1", "corrupt", NULL);
    waiter_t *g1 = submit(CALL_ASK, "a1", "get", NULL);
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000) && wait_done(c1, 5000) && wait_done(g1, 5000));
    ck_assert_int_eq(c1->status, SH_ECORRUPT);
    ck_assert_int_eq(g1->status, 0);
    ck_assert_str_eq(g1->reply, "0");
    ck_assert_int_eq(atomic_load(&g_creates), 4);
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.turns_corrupt, 3);
    ck_assert_uint_eq(s.activations, 4);
    ck_assert_uint_eq(s.active, 1);
    free(h);
    free(c1);
    free(g1);
    rt_stop();
}
END_TEST

/* ---- turns: one at a time per entity, parallel across entities */

START_TEST(test_ent_one_turn_at_a_time)
{
    rt_start((rt_opts_t){.workers = 2});
    enum { N = 40 };
    waiter_t *wts[N];
    for (int i = 0; i < N; i++)
        wts[i] = submit(CALL_ASK, i % 2 ? "x1" : "x2", "slow", "3");
    for (int i = 0; i < N; i++) {
        ck_assert(wait_done(wts[i], 10000));
        ck_assert_int_eq(wts[i]->status, 0);
        ck_assert_str_eq(wts[i]->reply, "slow-done");
        free(wts[i]);
    }
    ck_assert_int_eq(atomic_load(&g_violations), 0);
    ck_assert_int_eq(atomic_load(&g_handled), N);
    ck_assert_uint_eq(stats_sum().turns_ok, N);
    rt_stop();
}
END_TEST

START_TEST(test_ent_parallel_across_workers)
{
    rt_start((rt_opts_t){.workers = 2});
    waiter_t *a = submit(CALL_ASK, id_on(0, "p", 0), "rendezvous", NULL);
    waiter_t *b = submit(CALL_ASK, id_on(1, "p", 0), "rendezvous", NULL);
    ck_assert(wait_done(a, 10000) && wait_done(b, 10000));
    ck_assert_int_eq(a->status, 0);
    ck_assert_int_eq(b->status, 0);
    /* both handlers were inside at the same time */
    ck_assert_int_eq(atomic_load(&g_inside_max), 2);
    free(a);
    free(b);
    rt_stop();
}
END_TEST

START_TEST(test_ent_defer_does_not_block_worker)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *slow = submit(CALL_ASK, "A", "slow", "500");
    char r[512];
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(call("B", "ping", NULL, r), 0);
        ck_assert_str_eq(r, "pong");
    }
    /* B's 100 turns completed while A's single turn was still open */
    ck_assert(!is_done(slow));
    ck_assert(wait_done(slow, 5000));
    ck_assert_int_eq(slow->status, 0);
    ck_assert_str_eq(slow->reply, "slow-done");
    free(slow);
    rt_stop();
}
END_TEST

/* ---- bounds and deadlines */

START_TEST(test_ent_mailbox_overflow_busy)
{
    rt_start((rt_opts_t){.workers = 1, .mailbox = 3});
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *q[3];
    for (int i = 0; i < 3; i++)
        q[i] = submit(CALL_ASK, "A", "ping", NULL);
    waiter_t *over = submit(CALL_ASK, "A", "ping", NULL);
    ck_assert(wait_done(over, 5000));
    ck_assert_int_eq(over->status, SH_EBUSY);
    ck_assert_str_eq(over->err, "mailbox of t/A is full (3 calls)");
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.busy_rejections, 1);
    ck_assert_uint_eq(s.mailbox_depth_max, 3);
    /* depth found at enqueue: hold 0 (mailbox empty), then the pings 0,
     * 1, 2 (hold left the mailbox when its turn began); the refused one
     * is not sampled */
    ck_assert_uint_eq(s.depth_buckets[0], 2);
    ck_assert_uint_eq(s.depth_buckets[1], 1);
    ck_assert_uint_eq(s.depth_buckets[2], 1);
    for (int i = 0; i < 3; i++)
        ck_assert(!is_done(q[i]));
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000));
    for (int i = 0; i < 3; i++) {
        ck_assert(wait_done(q[i], 5000));
        ck_assert_int_eq(q[i]->status, 0);
        free(q[i]);
    }
    ck_assert(POLL_UNTIL(stats(0).mailbox_depth_max == 0, 5000));
    free(h);
    free(over);
    rt_stop();
}
END_TEST

START_TEST(test_ent_deadline_expired_before_turn)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *wt = submit_dl(CALL_ASK, "A", "add", "1", sh_time_mono_ms() - 1);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ETIMEOUT);
    ck_assert_int_eq(atomic_load(&g_handled), 0); /* never ran */
    ck_assert_uint_eq(stats(0).turns_timeout, 1);
    char r[512];
    ck_assert_int_eq(call("A", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    free(wt);
    rt_stop();
}
END_TEST

START_TEST(test_ent_deadline_expires_during_turn)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *wt = submit_dl(CALL_ASK, "A", "hold", NULL, sh_time_mono_ms() + 100);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ETIMEOUT);
    ck_assert_uint_eq(stats(0).turns_timeout, 1);
    /* the entity is free again */
    char r[512];
    ck_assert_int_eq(call("A", "ping", NULL, r), 0);
    ck_assert_str_eq(r, "pong");
    free(wt);
    rt_stop();
}
END_TEST

/* ---- cost per entity */

START_TEST(test_ent_overhead_per_entity)
{
    /* The runtime's own bytes per active idle entity: the ent_t header and
     * id in one allocation (as malloc really sizes it) plus the hash
     * bucket share (at most 2 pointers per entity at load 1/2..1). */
    size_t hdr = offsetof(ent_t, id);
    void *p = malloc(hdr + sizeof "counter-1234567");
    size_t usable = malloc_usable_size(p);
    free(p);
    size_t total = usable + 8 /* malloc header */ + 2 * sizeof(ent_t *);
    printf("ent overhead: header %zu B, allocation %zu B, total <= %zu B per entity\n", hdr,
           usable + 8, total);
    ck_assert_uint_le(total, 256);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ent");
    unit_tcase_add(s, "activation", reset, NULL, 60,
                   (const TTest *[]){test_ent_activates_on_first_message,
                                     test_ent_unknown_type_and_method, test_ent_overhead_per_entity,
                                     NULL});
    unit_tcase_add(s, "isolation", reset, NULL, 60,
                   (const TTest *[]){test_ent_handler_error_isolates,
                                     test_ent_corrupt_drops_and_reactivates, NULL});
    unit_tcase_add(s, "turns", reset, NULL, 60,
                   (const TTest *[]){test_ent_one_turn_at_a_time, test_ent_parallel_across_workers,
                                     test_ent_defer_does_not_block_worker, NULL});
    unit_tcase_add(s, "bounds", reset, NULL, 60,
                   (const TTest *[]){test_ent_mailbox_overflow_busy,
                                     test_ent_deadline_expired_before_turn,
                                     test_ent_deadline_expires_during_turn, NULL});
    return ent_run(s);
}
