/*
 * rpc_pending_test.c - the origin's table of pending forwarded calls:
 * timeouts at the deadline (and late replies dropped), the table bound
 * and send failures, failing everything at shutdown, the sweep in
 * deadline order, and configurations refused.
 *
 * The endpoints and their fake network are in rpc_fixture.h.
 */
#include "rpc_fixture.h"

/* No reply: the sweep times the call out at its deadline, not before; a
 * reply arriving afterwards is counted late and dropped. */
START_TEST(test_rpc_timeout_then_late_reply)
{
    forwarded(3000, 1000, 1000);
    forwarded(2000, 1000, 1000);
    ck_assert_uint_eq(rpc_next_deadline(ep_a.rpc), 2000);
    ck_assert_uint_eq(rpc_sweep(ep_a.rpc, 1999), 2000);
    ck_assert_int_eq(ndone, 0);
    ck_assert_uint_eq(rpc_sweep(ep_a.rpc, 2000), 3000);
    ck_assert_int_eq(ndone, 1);
    ck_assert_int_eq(done_calls[0]->status, SH_ETIMEOUT);
    ck_assert_uint_eq(rpc_sweep(ep_a.rpc, 5000), UINT64_MAX);
    ck_assert_int_eq(ndone, 2);
    ep_carry(&ep_a, 0, &ep_b, 1000, 1000);
    call_complete(ep_b.delivered[0], 0, NULL, 0, NULL);
    ep_b.ndelivered = 0;
    ep_reply_all(&ep_b);
    ep_carry(&ep_b, 0, &ep_a, 5000, 5000);
    ck_assert_int_eq(ndone, 2);
    rpc_stats_t st;
    rpc_stats_get(ep_a.rpc, &st);
    ck_assert_uint_eq(st.timeouts, 2);
    ck_assert_uint_eq(st.late_replies, 1);
    ck_assert_uint_eq(st.pending, 0);
}
END_TEST

START_TEST(test_rpc_table_full_and_send_failures)
{
    ep_fini(&ep_a);
    ep_init(&ep_a, "a", "a:1", 4);
    for (int i = 0; i < 4; i++)
        forwarded(100 + (uint64_t)i, 0, 0);
    call_t *c = mkcall(CALL_ASK, NULL, 1000);
    ck_assert_int_eq(rpc_forward(ep_a.rpc, c, "b:1", 0, 0), SH_EBUSY);
    rpc_sweep(ep_a.rpc, 1000); /* frees all four */
    ck_assert_int_eq(ndone, 4);
    ep_a.send_rc = SH_EFULL;
    ck_assert_int_eq(rpc_forward(ep_a.rpc, c, "b:1", 0, 0), SH_EUNAVAILABLE);
    ep_a.send_rc = 0;
    ck_assert_int_eq(rpc_forward(ep_a.rpc, c, "b:1", 1000, 0), SH_ETIMEOUT); /* expired */
    rpc_stats_t st;
    rpc_stats_get(ep_a.rpc, &st);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert_uint_eq(st.send_failed, 1);
    ck_assert_int_eq(ndone, 4); /* the refused call was never completed */
    call_free(c);
}
END_TEST

/* Shutdown: whatever is pending completes with the given code. */
START_TEST(test_rpc_fail_all)
{
    forwarded(100, 0, 0);
    forwarded(200, 0, 0);
    rpc_fail_all(ep_a.rpc, SH_ECLOSED, "node is shutting down");
    ck_assert_int_eq(ndone, 2);
    ck_assert_int_eq(done_calls[1]->status, SH_ECLOSED);
    ck_assert_str_eq(done_calls[1]->errmsg, "node is shutting down");
    ck_assert_uint_eq(rpc_next_deadline(ep_a.rpc), UINT64_MAX);
}
END_TEST

/* Many calls with interleaved deadlines come out of the sweep in deadline
 * order (the heap), whatever order they were sent in. */
START_TEST(test_rpc_sweep_order)
{
    ep_fini(&ep_a);
    ep_init(&ep_a, "a", "a:1", 64);
    uint64_t dl[40];
    for (int i = 0; i < 40; i++) {
        dl[i] = 1000 + (uint64_t)((i * 37) % 40) * 10;
        forwarded(dl[i], 0, 0);
        free(ep_a.out[0].p);
        ep_a.out[0].p = NULL;
        ep_a.nout = 0;
    }
    uint64_t last = 0;
    for (uint64_t t = 1000; t <= 1400; t += 10) {
        int before = ndone;
        rpc_sweep(ep_a.rpc, t);
        for (int k = before; k < ndone; k++) {
            ck_assert_uint_ge(done_calls[k]->deadline_ms, last);
            ck_assert_uint_le(done_calls[k]->deadline_ms, t);
            last = done_calls[k]->deadline_ms;
        }
    }
    ck_assert_int_eq(ndone, 40);
}
END_TEST

START_TEST(test_rpc_bad_config)
{
    rpc_t *r;
    rpc_config_t cfg = {.shards = 4, .pending_max = 3, .send = fake_send,
                        .deliver = fake_deliver, .origin_done = origin_done};
    ck_assert_int_eq(rpc_new(&r, &cfg), SH_EBAD_REQUEST);
    cfg.pending_max = 4;
    cfg.send = NULL;
    ck_assert_int_eq(rpc_new(&r, &cfg), SH_EBAD_REQUEST);
    rpc_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc_pending");
    unit_tcase_add(s, "pending", setup, teardown, 0,
                   (const TTest *[]){test_rpc_timeout_then_late_reply,
                                     test_rpc_table_full_and_send_failures, test_rpc_fail_all,
                                     test_rpc_sweep_order, test_rpc_bad_config, NULL});
    return unit_run(s);
}
