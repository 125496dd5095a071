/* rpc_test.c - forwarded calls: payload codec and the pending table
 * (suite "rpc").  Two rpc_t endpoints talk through a fake network that
 * queues frames; the test delivers them (or not) by hand. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "rpc.h"
#include "sh_err.h"

#define SHARDS 16

/* ---- codec ------------------------------------------------------------- */

static call_t *mkcall(enum call_kind kind, const char *body, uint64_t deadline)
{
    call_t *c;
    ck_assert_int_eq(call_new(&c, kind, "cart", "42", "AddItem", body, body ? strlen(body) : 0,
                              deadline, SHARDS),
                     0);
    return c;
}

START_TEST(test_rpc_req_roundtrip)
{
    call_t *c = mkcall(CALL_ASK, "{\"itemId\":\"a\",\"quantity\":2}", 1000);
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(rpc_req_encode(c, 2, &p, &len), 0);
    rpc_req_t q;
    ck_assert_int_eq(rpc_req_decode(p, len, &q), 0);
    ck_assert_int_eq(q.kind, CALL_ASK);
    ck_assert_int_eq(q.hops, 2);
    ck_assert_str_eq(q.type, "cart");
    ck_assert_str_eq(q.id, "42");
    ck_assert_str_eq(q.method, "AddItem");
    ck_assert_uint_eq(q.len, c->len);
    ck_assert_mem_eq(q.body, c->body, c->len);
    ck_assert(q.body > p && q.body < p + len); /* borrowed from the buffer */
    free(p);
    call_free(c);
}
END_TEST

/* Big bodies use bin32; hops >= 128 use uint8; an empty body is bin8 0. */
START_TEST(test_rpc_req_widths)
{
    char *big = malloc(70001);
    memset(big, 'x', 70000);
    big[70000] = '\0';
    call_t *c = mkcall(CALL_TELL, big, 1);
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(rpc_req_encode(c, 200, &p, &len), 0);
    rpc_req_t q;
    ck_assert_int_eq(rpc_req_decode(p, len, &q), 0);
    ck_assert_uint_eq(q.len, 70000);
    ck_assert_int_eq(q.hops, 200);
    ck_assert_int_eq(q.kind, CALL_TELL);
    free(p);
    call_free(c);
    free(big);
    c = mkcall(CALL_LOCATE, NULL, 1);
    ck_assert_int_eq(rpc_req_encode(c, 0, &p, &len), 0);
    ck_assert_int_eq(rpc_req_decode(p, len, &q), 0);
    ck_assert_uint_eq(q.len, 0);
    ck_assert_ptr_null(q.body);
    ck_assert_int_eq(q.kind, CALL_LOCATE);
    free(p);
    call_free(c);
}
END_TEST

/* Every strict prefix and every one-byte extension is malformed. */
START_TEST(test_rpc_req_truncated_and_trailing)
{
    call_t *c = mkcall(CALL_ASK, "{}", 1);
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(rpc_req_encode(c, 0, &p, &len), 0);
    rpc_req_t q;
    for (size_t n = 0; n < len; n++)
        ck_assert_int_eq(rpc_req_decode(p, n, &q), SH_EMALFORMED);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, p, len);
    longer[len] = 0xc0;
    ck_assert_int_eq(rpc_req_decode(longer, len + 1, &q), SH_EMALFORMED);
    ck_assert_int_eq(rpc_req_decode(NULL, 0, &q), SH_EMALFORMED);
    free(longer);
    free(p);
    call_free(c);
}
END_TEST

/* Hand-made payloads that break one rule each. */
static const struct {
    const char *what;
    const char *bytes;
    size_t len;
} bad_reqs[] = {
#define B(s) s, sizeof(s) - 1
    {"fixmap 5", B("\x85\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00\xa4kind\x01")},
    {"keys out of order", B("\x86\xa2id\xa1i\xa4type\xa1t\xa6method\xa1m\xa4" "body\xc4\x00"
                            "\xa4kind\x01\xa4hops\x00")},
    {"NUL in id", B("\x86\xa4type\xa1t\xa2id\xa2i\x00\xa6method\xa1m\xa4" "body\xc4\x00"
                    "\xa4kind\x01\xa4hops\x00")},
    {"empty type", B("\x86\xa4type\xa0\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                     "\xa4kind\x01\xa4hops\x00")},
    {"kind 0", B("\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                 "\xa4kind\x00\xa4hops\x00")},
    {"kind 12 (> CALL_KIND_MAX)", B("\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4"
                                    "body\xc4\x00\xa4kind\x0c\xa4hops\x00")},
    {"hops 256", B("\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                   "\xa4kind\x01\xa4hops\xcd\x01\x00")},
    {"body as str", B("\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xa0"
                      "\xa4kind\x01\xa4hops\x00")},
    {"negative kind", B("\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                        "\xa4kind\xff\xa4hops\x00")},
    {"fixmap 7 without idem", B("\x87\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4"
                                "body\xc4\x00\xa4kind\x01\xa4hops\x00")},
    {"fixmap 6 with idem", B("\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4"
                             "body\xc4\x00\xa4kind\x01\xa4hops\x00\xa4idem\xa1k")},
    {"empty idem", B("\x87\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                     "\xa4kind\x01\xa4hops\x00\xa4idem\xa0")},
    {"NUL in idem", B("\x87\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                      "\xa4kind\x01\xa4hops\x00\xa4idem\xa2k\x00")},
    {"idem as bin", B("\x87\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                      "\xa4kind\x01\xa4hops\x00\xa4idem\xc4\x01k")},
    {"idem before hops", B("\x87\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                           "\xa4kind\x01\xa4idem\xa1k\xa4hops\x00")},
    {"idem key misspelt", B("\x87\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc4\x00"
                            "\xa4kind\x01\xa4hops\x00\xa4idex\xa1k")},
    {"bin length past end", B("\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa1m\xa4" "body\xc6"
                              "\xff\xff\xff\xff\xa4kind\x01\xa4hops\x00")},
#undef B
};

START_TEST(test_rpc_req_bad_layouts)
{
    rpc_req_t q;
    ck_assert_msg(rpc_req_decode((const uint8_t *)bad_reqs[_i].bytes, bad_reqs[_i].len, &q) ==
                      SH_EMALFORMED,
                  "accepted: %s", bad_reqs[_i].what);
}
END_TEST

/* The same layout with valid values decodes: the table above breaks only
 * the rule it names. */
START_TEST(test_rpc_req_minimal_valid)
{
    static const char ok[] = "\x86\xa4type\xa1t\xa2id\xa1i\xa6method\xa0\xa4"
                             "body\xc4\x00\xa4kind\x01\xa4hops\xcc\x03";
    rpc_req_t q;
    ck_assert_int_eq(rpc_req_decode((const uint8_t *)ok, sizeof ok - 1, &q), 0);
    ck_assert_str_eq(q.method, "");
    ck_assert_int_eq(q.hops, 3);
}
END_TEST

/* The seven-field form with an idempotency key decodes, too. */
START_TEST(test_rpc_req_minimal_valid_idem)
{
    static const char ok[] = "\x87\xa4type\xa1t\xa2id\xa1i\xa6method\xa0\xa4"
                             "body\xc4\x00\xa4kind\x01\xa4hops\x00\xa4idem\xd9\x01k";
    rpc_req_t q;
    ck_assert_int_eq(rpc_req_decode((const uint8_t *)ok, sizeof ok - 1, &q), 0);
    ck_assert_str_eq(q.idem_key, "k"); /* a wider str8 header is accepted */
}
END_TEST

/* A key travels only when set; without one the payload is the six-field
 * map nodes wrote before keys existed, and the decoded key is "". */
START_TEST(test_rpc_req_idem_roundtrip)
{
    call_t *c = mkcall(CALL_ASK, "{\"by\":1}", 1000);
    uint8_t *p;
    size_t len, len0;
    ck_assert_int_eq(rpc_req_encode(c, 0, &p, &len0), 0);
    ck_assert_uint_eq(p[0], 0x86);
    rpc_req_t q;
    ck_assert_int_eq(rpc_req_decode(p, len0, &q), 0);
    ck_assert_str_eq(q.idem_key, "");
    free(p);

    snprintf(c->idem_key, sizeof c->idem_key, "order-7f3a");
    ck_assert_int_eq(rpc_req_encode(c, 1, &p, &len), 0);
    ck_assert_uint_eq(p[0], 0x87);
    ck_assert_uint_eq(len, len0 + 5 + 1 + 10); /* "idem" key + fixstr 10 */
    ck_assert_int_eq(rpc_req_decode(p, len, &q), 0);
    ck_assert_str_eq(q.idem_key, "order-7f3a");
    ck_assert_str_eq(q.method, "AddItem");
    ck_assert_int_eq(q.hops, 1);
    for (size_t n = 0; n < len; n++) /* every prefix is malformed */
        ck_assert_int_eq(rpc_req_decode(p, n, &q), SH_EMALFORMED);
    free(p);

    /* The longest key (128 bytes: str8) round-trips. */
    memset(c->idem_key, 'k', CALL_IDEM_MAX - 1);
    c->idem_key[CALL_IDEM_MAX - 1] = '\0';
    ck_assert_int_eq(rpc_req_encode(c, 0, &p, &len), 0);
    ck_assert_int_eq(rpc_req_decode(p, len, &q), 0);
    ck_assert_uint_eq(strlen(q.idem_key), CALL_IDEM_MAX - 1);
    ck_assert_mem_eq(q.idem_key, c->idem_key, CALL_IDEM_MAX);

    /* One byte more is over the bound: patch the str8 length to 129 and
     * append a byte. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, p, len);
    ck_assert_uint_eq(longer[len - 130], 0xd9);
    longer[len - 129] = 129;
    longer[len] = 'k';
    ck_assert_int_eq(rpc_req_decode(longer, len + 1, &q), SH_EMALFORMED);
    free(longer);
    free(p);

    /* The encoder refuses a key that fills its array without a NUL. */
    memset(c->idem_key, 'k', CALL_IDEM_MAX);
    ck_assert_int_eq(rpc_req_encode(c, 0, &p, &len), SH_EBAD_REQUEST);
    ck_assert_ptr_null(p);
    call_free(c);
}
END_TEST

START_TEST(test_rpc_req_too_long_names)
{
    char type[SHOAL_TYPE_NAME_MAX + 8];
    memset(type, 'a', sizeof type - 1);
    type[sizeof type - 1] = '\0';
    /* Hand-build: fixmap, "type" with a 71-byte str8 value. */
    uint8_t buf[256];
    size_t n = 0;
    buf[n++] = 0x86;
    memcpy(buf + n, "\xa4type\xd9", 6);
    n += 6;
    buf[n++] = (uint8_t)strlen(type);
    memcpy(buf + n, type, strlen(type));
    n += strlen(type);
    rpc_req_t q;
    ck_assert_int_eq(rpc_req_decode(buf, n, &q), SH_EMALFORMED);
}
END_TEST

START_TEST(test_rpc_rep_roundtrip)
{
    static const int codes[] = {0, SH_EBUSY, SH_ECONFLICT, SH_ETIMEOUT, -ENOMEM, -1, SH_ECORRUPT};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        uint8_t *p;
        size_t len;
        ck_assert_int_eq(rpc_rep_encode(codes[i], codes[i] ? "cart is full" : NULL,
                                        (const uint8_t *)"{\"v\":1}", 7, &p, &len),
                         0);
        rpc_rep_t r;
        ck_assert_int_eq(rpc_rep_decode(p, len, &r), 0);
        ck_assert_int_eq(r.status, codes[i]);
        ck_assert_str_eq(r.errmsg, codes[i] ? "cart is full" : "");
        ck_assert_uint_eq(r.len, 7);
        ck_assert_mem_eq(r.reply, "{\"v\":1}", 7);
        for (size_t k = 0; k < len; k++)
            ck_assert_int_eq(rpc_rep_decode(p, k, &r), SH_EMALFORMED);
        free(p);
    }
}
END_TEST

START_TEST(test_rpc_rep_bad)
{
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(rpc_rep_encode(5, NULL, NULL, 0, &p, &len), SH_EBAD_REQUEST);
    ck_assert_int_eq(rpc_rep_encode(-20000, NULL, NULL, 0, &p, &len), SH_EBAD_REQUEST);
    ck_assert_int_eq(rpc_rep_encode(0, NULL, NULL, CALL_BODY_MAX + 1, &p, &len),
                     SH_EBAD_REQUEST); /* len without a buffer */
    rpc_rep_t r;
    static const char pos[] = "\x83\xa6status\x05\xa6" "errmsg\xa0\xa5reply\xc4\x00";
    ck_assert_int_eq(rpc_rep_decode((const uint8_t *)pos, sizeof pos - 1, &r), SH_EMALFORMED);
    static const char i16[] = "\x83\xa6status\xd1\xdc\xd8\xa6" "errmsg\xa0\xa5reply\xc4\x00";
    ck_assert_int_eq(rpc_rep_decode((const uint8_t *)i16, sizeof i16 - 1, &r), 0);
    ck_assert_int_eq(r.status, -9000); /* 0xdcd8 */
    static const char low[] = "\x83\xa6status\xd1\xd8\xf0\xa6" "errmsg\xa0\xa5reply\xc4\x00";
    ck_assert_int_eq(rpc_rep_decode((const uint8_t *)low, sizeof low - 1, &r), SH_EMALFORMED);
}
END_TEST

/* ---- endpoints over a fake network --------------------------------------- */

typedef struct frame {
    uint8_t kind;
    char to[64];
    uint64_t corr, deadline;
    uint8_t *p;
    size_t len;
} frame_t;

typedef struct endpoint {
    const char *id, *addr;
    rpc_t *rpc;
    frame_t out[64];
    int nout;
    int send_rc;            /* forced result of send */
    call_t *delivered[64];  /* calls made from requests, not yet completed */
    char delivered_from[64][WIRE_ID_MAX]; /* ... and deliver's `from` */
    int ndelivered;
    call_t *homed[64];      /* completed origin calls (origin_done) */
    int nhomed;
} endpoint_t;

static endpoint_t ep_a, ep_b;
static call_t *done_calls[64]; /* completed calls made by the test */
static int ndone;

static int fake_send(void *udata, uint8_t kind, const char *to, uint64_t corr,
                     uint64_t deadline, const uint8_t *p, size_t len)
{
    endpoint_t *e = udata;
    if (e->send_rc)
        return e->send_rc;
    ck_assert_int_lt(e->nout, 64);
    frame_t *f = &e->out[e->nout++];
    f->kind = kind;
    snprintf(f->to, sizeof f->to, "%s", to);
    f->corr = corr;
    f->deadline = deadline;
    f->p = malloc(len ? len : 1);
    memcpy(f->p, p, len);
    f->len = len;
    return 0;
}

static void fake_deliver(void *udata, call_t *c, const char *from)
{
    endpoint_t *e = udata;
    snprintf(e->delivered_from[e->ndelivered], WIRE_ID_MAX, "%s", from);
    e->delivered[e->ndelivered++] = c;
}

static void origin_done(call_t *c)
{
    endpoint_t *e = rpc_origin_udata(c);
    e->homed[e->nhomed++] = c;
}

static void test_done(call_t *c)
{
    done_calls[ndone++] = c;
}

static void ep_init(endpoint_t *e, const char *id, const char *addr, size_t pending_max)
{
    memset(e, 0, sizeof *e);
    e->id = id;
    e->addr = addr;
    rpc_config_t cfg = {.shards = SHARDS, .pending_max = pending_max, .corr_seed = 1000,
                        .send = fake_send, .deliver = fake_deliver, .origin_done = origin_done,
                        .udata = e};
    ck_assert_int_eq(rpc_new(&e->rpc, &cfg), 0);
}

/* Send every completed origin call home (rpc_reply frees it). */
static void ep_reply_all(endpoint_t *e)
{
    for (int i = 0; i < e->nhomed; i++)
        rpc_reply(e->rpc, e->homed[i]);
    e->nhomed = 0;
}

static void ep_fini(endpoint_t *e)
{
    for (int i = 0; i < e->ndelivered; i++)
        call_complete(e->delivered[i], SH_ECLOSED, NULL, 0, NULL);
    e->ndelivered = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 64; i++)
            free(e->out[i].p);
        memset(e->out, 0, sizeof e->out);
        e->nout = 0;
        if (pass == 0) {
            ep_reply_all(e);
            rpc_free(e->rpc);
        }
    }
}

/* Deliver the i-th frame `from` sent to `to`, as the adapter would. */
static void ep_carry(endpoint_t *from, int i, endpoint_t *to, uint64_t now_mono,
                     uint64_t now_wall)
{
    frame_t *f = &from->out[i];
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.kind = f->kind;
    h.corr_id = f->corr;
    h.deadline_ms = f->deadline;
    snprintf(h.src_id, sizeof h.src_id, "%s", from->id);
    snprintf(h.src_addr, sizeof h.src_addr, "%s", from->addr);
    rpc_on_frame(to->rpc, &h, f->p, f->len, now_mono, now_wall);
}

static void setup(void)
{
    ep_init(&ep_a, "a", "a:1", 0);
    ep_init(&ep_b, "b", "b:1", 0);
    ndone = 0;
}

static void teardown(void)
{
    ep_fini(&ep_a);
    ep_fini(&ep_b);
    for (int i = 0; i < ndone; i++)
        call_free(done_calls[i]);
}

static call_t *forwarded(uint64_t deadline, uint64_t now_mono, uint64_t now_wall)
{
    call_t *c = mkcall(CALL_ASK, "{\"itemId\":\"a\"}", deadline);
    c->on_done = test_done;
    c->hops = 1;
    ck_assert_int_eq(rpc_forward(ep_a.rpc, c, ep_b.addr, now_mono, now_wall), 0);
    return c;
}

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

/* The largest request (longest names, a full 1 MiB body that lz4 cannot
 * shrink) and the largest frame header fit in 1 MiB + 1000 bytes: the
 * slack the SWIM adapter allows over 1 MiB (swim_io_int.h). */
START_TEST(test_rpc_envelope_bound)
{
    static call_t c;
    memset(&c, 0, sizeof c);
    c.kind = CALL_ASK;
    memset(c.type, 't', SHOAL_TYPE_NAME_MAX - 1);
    memset(c.id, 'i', SHOAL_ENTITY_ID_MAX - 1);
    memset(c.method, 'm', SHOAL_METHOD_MAX - 1);
    c.len = CALL_BODY_MAX;
    c.body = malloc(c.len);
    uint64_t x = 88172645463325252ull; /* xorshift: incompressible */
    for (size_t i = 0; i < c.len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c.body[i] = (uint8_t)x;
    }
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(rpc_req_encode(&c, 255, &p, &len), 0);
    ck_assert_uint_lt(len - CALL_BODY_MAX, 500);
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.kind = WIRE_KIND_RPC_REQ;
    h.corr_id = h.deadline_ms = UINT64_MAX;
    h.shards = UINT32_MAX;
    memset(h.src_id, 'n', WIRE_ID_MAX - 1);
    memset(h.src_addr, 'a', WIRE_ADDR_MAX - 1);
    memset(h.cluster, 'c', WIRE_CLUSTER_MAX - 1);
    wire_limits_t lim;
    wire_limits_default(&lim);
    lim.frame_max = lim.payload_max = WIRE_FRAME_MAX_DEFAULT + 1000;
    uint8_t *f;
    size_t flen;
    ck_assert_int_eq(wire_encode(NULL, &lim, &h, p, len, &f, &flen), 0);
    ck_assert_uint_le(flen, WIRE_FRAME_MAX_DEFAULT + 1000);
    free(f);
    free(p);
    free(c.body);
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_rpc_req_roundtrip);
    tcase_add_test(tc, test_rpc_req_widths);
    tcase_add_test(tc, test_rpc_req_truncated_and_trailing);
    tcase_add_loop_test(tc, test_rpc_req_bad_layouts, 0,
                        (int)(sizeof bad_reqs / sizeof bad_reqs[0]));
    tcase_add_test(tc, test_rpc_req_minimal_valid);
    tcase_add_test(tc, test_rpc_req_minimal_valid_idem);
    tcase_add_test(tc, test_rpc_req_idem_roundtrip);
    tcase_add_test(tc, test_rpc_req_too_long_names);
    tcase_add_test(tc, test_rpc_rep_roundtrip);
    tcase_add_test(tc, test_rpc_rep_bad);
    tcase_add_test(tc, test_rpc_envelope_bound);
    suite_add_tcase(s, tc);
    tc = tcase_create("forward");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rpc_roundtrip);
    tcase_add_test(tc, test_rpc_remote_error_kept);
    tcase_add_test(tc, test_rpc_forward_keeps_idem_key);
    tcase_add_test(tc, test_rpc_timeout_then_late_reply);
    tcase_add_test(tc, test_rpc_reply_from_wrong_peer);
    tcase_add_test(tc, test_rpc_malformed_reply);
    tcase_add_test(tc, test_rpc_table_full_and_send_failures);
    tcase_add_test(tc, test_rpc_request_refused_early);
    tcase_add_test(tc, test_rpc_request_deadlines);
    tcase_add_test(tc, test_rpc_fail_all);
    tcase_add_test(tc, test_rpc_sweep_order);
    tcase_add_test(tc, test_rpc_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
