/*
 * rpc_codec_test.c - the forwarded-call payload codec: request round
 * trips and widths, truncated and trailing bytes, hand-made layouts that
 * break one rule each, idempotency keys, over-long names, reply round
 * trips and bad replies, and the bound on the largest request's frame.
 *
 * Calls are made by mkcall() in rpc_fixture.h.
 */
#include <errno.h>

#include "rpc_fixture.h"

/* ---- requests ---------------------------------------------------------- */

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

/* ---- replies and the envelope ------------------------------------------ */

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

int main(void)
{
    Suite *s = suite_create("rpc_codec");
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
    return unit_run(s);
}
