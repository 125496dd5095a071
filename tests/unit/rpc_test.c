/*
 * rpc_test.c - forwarded calls across one hop (suite "rpc"): a round trip
 * between two endpoints with different clocks, the owner's error kept,
 * the idempotency key carried, replies from the wrong peer or malformed,
 * requests refused on arrival, and request deadlines defaulted and
 * clamped.
 *
 * The endpoints and their fake network are in rpc_fixture.h; the
 * pending table's timeouts and bounds are in rpc_pending_test.c, the
 * payload codec in rpc_codec_test.c.
 */
#include "rpc_fixture.h"

/* A forwards to B; B's router runs the call and it completes; the reply
 * goes back to A and completes A's call exactly once, with the reply. */
START_TEST(test_rpc_roundtrip)
{
    forwarded(1500, 1000, 50000);
    ck_assert_int_eq(ep_a.nout, 1);
    ck_assert_int_eq(ep_a.out[0].kind, WIRE_KIND_RPC_REQ);
    ck_assert_str_eq(ep_a.out[0].to, "b:1");
    ck_assert_uint_eq(ep_a.out[0].deadline, 50500); /* wall = now_wall + 500 */
    rpc_stats_t st;
    rpc_stats_get(ep_a.rpc, &st);
    ck_assert_uint_eq(st.pending, 1);
    ck_assert_uint_eq(st.forwards, 1);
    ck_assert_uint_eq(rpc_next_deadline(ep_a.rpc), 1500);

    /* B's clocks differ from A's: the deadline is re-based on B's mono. */
    ep_carry(&ep_a, 0, &ep_b, 7000, 50100);
    ck_assert_int_eq(ep_b.ndelivered, 1);
    call_t *bc = ep_b.delivered[0];
    ck_assert_str_eq(ep_b.delivered_from[0], "a"); /* the forwarder, for route_decide */
    ep_b.ndelivered = 0;
    ck_assert_uint_eq(bc->deadline_ms, 7400);
    ck_assert_int_eq(bc->hops, 2);
    ck_assert_str_eq(bc->method, "AddItem");
    ck_assert(rpc_is_origin(ep_b.rpc, bc));
    call_complete(bc, 0, "{\"ok\":true}", 11, NULL);
    ck_assert_int_eq(ep_b.nhomed, 1);
    ep_reply_all(&ep_b);
    ck_assert_int_eq(ep_b.nout, 1);
    ck_assert_int_eq(ep_b.out[0].kind, WIRE_KIND_RPC_REP);
    ck_assert_str_eq(ep_b.out[0].to, "a:1");
    ck_assert_uint_eq(ep_b.out[0].corr, ep_a.out[0].corr);

    ep_carry(&ep_b, 0, &ep_a, 1100, 50200);
    ck_assert_int_eq(ndone, 1);
    ck_assert_int_eq(done_calls[0]->status, 0);
    ck_assert_uint_eq(done_calls[0]->reply_len, 11);
    ck_assert_mem_eq(done_calls[0]->reply, "{\"ok\":true}", 11);
    rpc_stats_get(ep_a.rpc, &st);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert_uint_eq(st.replies_in, 1);
    ck_assert_uint_eq(rpc_next_deadline(ep_a.rpc), UINT64_MAX);
    /* The same reply again is late: no second completion. */
    ep_carry(&ep_b, 0, &ep_a, 1100, 50200);
    ck_assert_int_eq(ndone, 1);
    rpc_stats_get(ep_a.rpc, &st);
    ck_assert_uint_eq(st.late_replies, 1);
}
END_TEST

/* The owner's error keeps its code and message across the hop. */
START_TEST(test_rpc_remote_error_kept)
{
    forwarded(5000, 0, 0);
    ep_carry(&ep_a, 0, &ep_b, 0, 0);
    call_complete(ep_b.delivered[0], SH_ECONFLICT, NULL, 0, "cart is full");
    ep_b.ndelivered = 0;
    ep_reply_all(&ep_b);
    ep_carry(&ep_b, 0, &ep_a, 1, 1);
    ck_assert_int_eq(ndone, 1);
    ck_assert_int_eq(done_calls[0]->status, SH_ECONFLICT);
    ck_assert_str_eq(done_calls[0]->errmsg, "cart is full");
    ck_assert_uint_eq(done_calls[0]->reply_len, 0);
}
END_TEST

/* The idempotency key reaches the owner's call; a call without one
 * arrives with "". */
START_TEST(test_rpc_forward_keeps_idem_key)
{
    call_t *c = mkcall(CALL_ASK, "{}", 5000);
    c->on_done = test_done;
    snprintf(c->idem_key, sizeof c->idem_key, "retry-me-once");
    ck_assert_int_eq(rpc_forward(ep_a.rpc, c, ep_b.addr, 0, 0), 0);
    forwarded(5000, 0, 0);
    ep_carry(&ep_a, 0, &ep_b, 0, 0);
    ep_carry(&ep_a, 1, &ep_b, 0, 0);
    ck_assert_int_eq(ep_b.ndelivered, 2);
    ck_assert_str_eq(ep_b.delivered[0]->idem_key, "retry-me-once");
    ck_assert_str_eq(ep_b.delivered[1]->idem_key, "");
    call_complete(ep_b.delivered[0], 0, NULL, 0, NULL);
    call_complete(ep_b.delivered[1], 0, NULL, 0, NULL);
    ep_b.ndelivered = 0;
    ep_reply_all(&ep_b);
    ep_carry(&ep_b, 0, &ep_a, 1, 1);
    ep_carry(&ep_b, 1, &ep_a, 1, 1);
    ck_assert_int_eq(ndone, 2);
}
END_TEST

/* A reply with the right corr id from another address completes nothing. */
START_TEST(test_rpc_reply_from_wrong_peer)
{
    forwarded(5000, 0, 0);
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(rpc_rep_encode(0, NULL, NULL, 0, &p, &len), 0);
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.kind = WIRE_KIND_RPC_REP;
    h.corr_id = ep_a.out[0].corr;
    snprintf(h.src_addr, sizeof h.src_addr, "evil:1");
    rpc_on_frame(ep_a.rpc, &h, p, len, 1, 1);
    free(p);
    ck_assert_int_eq(ndone, 0);
    rpc_stats_t st;
    rpc_stats_get(ep_a.rpc, &st);
    ck_assert_uint_eq(st.late_replies, 1);
    ck_assert_uint_eq(st.pending, 1);
}
END_TEST

/* A bad reply payload for a pending call completes it as internal. */
START_TEST(test_rpc_malformed_reply)
{
    forwarded(5000, 0, 0);
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.kind = WIRE_KIND_RPC_REP;
    h.corr_id = ep_a.out[0].corr;
    snprintf(h.src_addr, sizeof h.src_addr, "b:1");
    rpc_on_frame(ep_a.rpc, &h, (const uint8_t *)"\x90", 1, 1, 1);
    ck_assert_int_eq(ndone, 1);
    ck_assert_int_eq(done_calls[0]->status, SH_EINTERNAL);
}
END_TEST

/* Requests that cannot become calls are answered at once. */
START_TEST(test_rpc_request_refused_early)
{
    forwarded(1500, 1000, 50000);          /* wall deadline 50500 */
    ep_carry(&ep_a, 0, &ep_b, 0, 50500);   /* expired on arrival */
    ck_assert_int_eq(ep_b.ndelivered, 0);
    ck_assert_int_eq(ep_b.nout, 1);
    rpc_rep_t r;
    ck_assert_int_eq(rpc_rep_decode(ep_b.out[0].p, ep_b.out[0].len, &r), 0);
    ck_assert_int_eq(r.status, SH_ETIMEOUT);

    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.kind = WIRE_KIND_RPC_REQ;
    h.corr_id = 77;
    snprintf(h.src_addr, sizeof h.src_addr, "a:1");
    rpc_on_frame(ep_b.rpc, &h, (const uint8_t *)"\x80", 1, 0, 0);
    ck_assert_int_eq(ep_b.nout, 2);
    ck_assert_uint_eq(ep_b.out[1].corr, 77);
    ck_assert_int_eq(rpc_rep_decode(ep_b.out[1].p, ep_b.out[1].len, &r), 0);
    ck_assert_int_eq(r.status, SH_EBAD_REQUEST);
    rpc_stats_t st;
    rpc_stats_get(ep_b.rpc, &st);
    ck_assert_uint_eq(st.requests_in, 2);
    ck_assert_uint_eq(st.bad_frames, 1);
}
END_TEST

/* No deadline in the header: the default applies; a far one is clamped. */
START_TEST(test_rpc_request_deadlines)
{
    call_t *c = mkcall(CALL_TELL, NULL, 10);
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(rpc_req_encode(c, 1, &p, &len), 0);
    call_free(c);
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.kind = WIRE_KIND_RPC_REQ;
    h.corr_id = 5;
    snprintf(h.src_addr, sizeof h.src_addr, "a:1");
    rpc_on_frame(ep_b.rpc, &h, p, len, 100, 100);
    h.deadline_ms = UINT64_MAX;
    rpc_on_frame(ep_b.rpc, &h, p, len, 100, 100);
    free(p);
    ck_assert_int_eq(ep_b.ndelivered, 2);
    ck_assert_uint_eq(ep_b.delivered[0]->deadline_ms, 100 + CALL_DEFAULT_TIMEOUT_MS);
    ck_assert_uint_eq(ep_b.delivered[1]->deadline_ms, 100 + RPC_DEADLINE_MAX_MS);
    ck_assert_int_eq(ep_b.delivered[0]->kind, CALL_TELL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc");
    unit_tcase_add(s, "forward", setup, teardown, 0,
                   (const TTest *[]){test_rpc_roundtrip, test_rpc_remote_error_kept,
                                     test_rpc_forward_keeps_idem_key,
                                     test_rpc_reply_from_wrong_peer, test_rpc_malformed_reply,
                                     test_rpc_request_refused_early, test_rpc_request_deadlines,
                                     NULL});
    return unit_run(s);
}
