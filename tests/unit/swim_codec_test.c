/*
 * swim_codec_test.c - the SWIM payload codec: round trips and strict,
 * bounded decoding of bad input.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "swim_codec.h"

#define MAX (1u << 20)

static const char id63[] =
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk";

static swim_update_t up(const char *id, const char *addr, uint8_t st,
                        uint32_t inc, const char *by)
{
    swim_update_t u = {.id = swim_str_of(id), .addr = swim_str_of(addr),
                       .state = st, .incarnation = inc};
    if (by)
        u.by = swim_str_of(by);
    return u;
}

static void assert_update_eq(const swim_update_t *a, const swim_update_t *b)
{
    ck_assert(swim_str_eq(a->id, b->id));
    ck_assert(swim_str_eq(a->addr, b->addr));
    ck_assert(swim_str_eq(a->by, b->by));
    ck_assert_uint_eq(a->state, b->state);
    ck_assert_uint_eq(a->incarnation, b->incarnation);
}

static void round_trip(const swim_msg_t *m)
{
    uint8_t *p;
    size_t len;
    swim_msg_t d;
    ck_assert_int_eq(swim_msg_encode(m, MAX, &p, &len), 0);
    ck_assert_int_eq(swim_msg_decode(p, len, MAX, &d), 0);
    ck_assert_uint_eq(d.type, m->type);
    ck_assert_uint_eq(d.seq, m->seq);
    ck_assert(swim_str_eq(d.from_id, m->from_id));
    ck_assert(swim_str_eq(d.from_addr, m->from_addr));
    ck_assert(swim_str_eq(d.target_id, m->target_id));
    ck_assert(swim_str_eq(d.target_addr, m->target_addr));
    ck_assert_int_eq(d.join, m->join);
    ck_assert_uint_eq(d.n_gossip, m->n_gossip);
    ck_assert_uint_eq(d.n_members, m->n_members);
    for (size_t i = 0; i < m->n_gossip; i++)
        assert_update_eq(&d.gossip[i], &m->gossip[i]);
    for (size_t i = 0; i < m->n_members; i++)
        assert_update_eq(&d.members[i], &m->members[i]);
    /* Every strict prefix is truncated input. */
    for (size_t cut = 0; cut < len; cut++) {
        swim_msg_t x;
        ck_assert_int_eq(swim_msg_decode(p, cut, MAX, &x), SH_EMALFORMED);
    }
    swim_msg_fini(&d);
    ck_assert_int_eq(swim_msg_decode(p, len, len - 1, &d), SH_ETOO_BIG);
    free(p);
}

START_TEST(test_swim_codec_round_trip_all_types)
{
    swim_update_t g[] = {
        up("n1", "10.0.0.1:7946", 0, 7, NULL),
        up(id63, id63, 1, UINT32_MAX, id63),
        up("n3", "h:1", 2, 200, NULL),
        up("n4", "h:2", 3, 70000, NULL),
    };
    for (uint8_t t = SWIM_MSG_PING; t <= SWIM_MSG_GOSSIP; t++) {
        swim_msg_t m = {.type = t, .seq = t == 1 ? UINT32_MAX : t * 1000u,
                        .from_id = swim_str_of("me"), .from_addr = swim_str_of(id63)};
        if (t == SWIM_MSG_PING || t == SWIM_MSG_PING_REQ)
            m.target_id = swim_str_of("target");
        if (t == SWIM_MSG_PING_REQ)
            m.target_addr = swim_str_of("target:1");
        if (t == SWIM_MSG_SYNC)
            m.join = true;
        if (t == SWIM_MSG_SYNC || t == SWIM_MSG_SYNC_ACK) {
            m.members = g;
            m.n_members = SH_ARRAY_LEN(g);
        }
        round_trip(&m);
        m.gossip = g;
        m.n_gossip = SH_ARRAY_LEN(g);
        round_trip(&m);
    }
    ck_assert_uint_eq(swim_update_size(&g[0]), 1 + 3 + 14 + 1 + 1);
}
END_TEST

START_TEST(test_swim_codec_many_updates)
{
    enum { N = 5000 };
    swim_update_t *u = malloc(N * sizeof(*u));
    for (int i = 0; i < N; i++)
        u[i] = up("member-id", "addr:1", (uint8_t)(i % 4), (uint32_t)i, NULL);
    swim_msg_t m = {.type = SWIM_MSG_SYNC_ACK, .from_id = swim_str_of("a"),
                    .from_addr = swim_str_of("a:1"), .members = u, .n_members = N};
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(swim_msg_encode(&m, MAX, &p, &len), 0);
    swim_msg_t d;
    ck_assert_int_eq(swim_msg_decode(p, len, MAX, &d), 0);
    ck_assert_uint_eq(d.n_members, N);
    ck_assert_uint_eq(d.members[N - 1].incarnation, N - 1);
    swim_msg_fini(&d);
    free(p);
    ck_assert_int_eq(swim_msg_encode(&m, 4096, &p, &len), SH_ETOO_BIG);
    free(u);
}
END_TEST

START_TEST(test_swim_codec_encode_rejects_invalid)
{
    uint8_t *p = NULL;
    size_t len;
    swim_update_t bad[] = {
        up("x", "a:1", 4, 0, NULL),    /* state > 3 */
        up("", "a:1", 0, 0, NULL),     /* empty id */
        up("x", "a:1", 0, 0, "y"),     /* accuser on a non-suspect */
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        swim_msg_t m = {.type = SWIM_MSG_ACK, .from_id = swim_str_of("a"),
                        .from_addr = swim_str_of("a:1"), .gossip = &bad[i],
                        .n_gossip = 1};
        ck_assert_int_eq(swim_msg_encode(&m, MAX, &p, &len), SH_EBAD_REQUEST);
    }
    swim_msg_t m = {.type = 9, .from_id = swim_str_of("a"), .from_addr = swim_str_of("a:1")};
    ck_assert_int_eq(swim_msg_encode(&m, MAX, &p, &len), SH_EBAD_REQUEST);
    m.type = SWIM_MSG_PING; /* no target */
    ck_assert_int_eq(swim_msg_encode(&m, MAX, &p, &len), SH_EBAD_REQUEST);
    ck_assert_ptr_null(p);
}
END_TEST

/* ---- bad input, byte by byte ------------------------------------------------ */

typedef struct bb {
    uint8_t b[256];
    size_t n;
} bb_t;

static void put(bb_t *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put1(bb_t *b, uint8_t x)
{
    put(b, &x, 1);
}

static void pstr(bb_t *b, const char *s)
{
    put1(b, (uint8_t)(0xa0 | strlen(s)));
    put(b, s, strlen(s));
}

/* A valid ACK map header + fields, with `extra` more keys to come. */
static void ack_head(bb_t *b, int extra)
{
    put1(b, (uint8_t)(0x84 + extra));
    pstr(b, "t"), put1(b, 2);
    pstr(b, "s"), put1(b, 9);
    pstr(b, "i"), pstr(b, "n1");
    pstr(b, "a"), pstr(b, "h:1");
}

static int dec(const bb_t *b)
{
    swim_msg_t m;
    int rc = swim_msg_decode(b->b, b->n, MAX, &m);
    if (rc == 0)
        swim_msg_fini(&m);
    return rc;
}

START_TEST(test_swim_codec_decode_bad_input)
{
    bb_t b = {0};
    ack_head(&b, 0);
    ck_assert_int_eq(dec(&b), 0);
    put1(&b, 0xc0); /* trailing byte */
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);

    memset(&b, 0, sizeof(b)); /* unknown key */
    ack_head(&b, 1), pstr(&b, "zz"), put1(&b, 1);
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);

    memset(&b, 0, sizeof(b)); /* duplicate key */
    ack_head(&b, 1), pstr(&b, "s"), put1(&b, 1);
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);

    memset(&b, 0, sizeof(b)); /* a key another type uses */
    ack_head(&b, 1), pstr(&b, "ti"), pstr(&b, "x");
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);

    memset(&b, 0, sizeof(b)); /* missing sender address */
    put1(&b, 0x83), pstr(&b, "t"), put1(&b, 2), pstr(&b, "s"), put1(&b, 9);
    pstr(&b, "i"), pstr(&b, "n1");
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);

    static const uint8_t bad_vals[][4] = {
        {0xa1, 'x'},       /* t as a string */
        {0xd0, 0xff},      /* negative int */
        {0x08},            /* type 8: unknown */
        {0x00},            /* type 0 */
        {0xca, 0, 0, 0},   /* float32, truncated anyway */
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad_vals); i++) {
        memset(&b, 0, sizeof(b));
        put1(&b, 0x84), pstr(&b, "t");
        put(&b, bad_vals[i], bad_vals[i][0] == 0xa1 || bad_vals[i][0] == 0xd0 ? 2 : 1);
        pstr(&b, "s"), put1(&b, 9), pstr(&b, "i"), pstr(&b, "n1"), pstr(&b, "a"), pstr(&b, "h:1");
        ck_assert_msg(dec(&b) == SH_EMALFORMED, "value %zu", i);
    }

    memset(&b, 0, sizeof(b)); /* seq above 2^32 (uint64) */
    put1(&b, 0x84), pstr(&b, "t"), put1(&b, 2), pstr(&b, "s");
    put(&b, "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9);
    pstr(&b, "i"), pstr(&b, "n1"), pstr(&b, "a"), pstr(&b, "h:1");
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);
    b.b[10] = 0, b.b[14] = 5; /* the same width with a small value is fine */
    ck_assert_int_eq(dec(&b), 0);

    memset(&b, 0, sizeof(b)); /* id as bin */
    put1(&b, 0x84), pstr(&b, "t"), put1(&b, 2), pstr(&b, "s"), put1(&b, 9);
    pstr(&b, "i"), put(&b, "\xc4\x02n1", 4), pstr(&b, "a"), pstr(&b, "h:1");
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);
}
END_TEST

START_TEST(test_swim_codec_decode_bad_strings)
{
    bb_t b = {0};
    char s64[65];
    memset(s64, 'x', 64);
    s64[64] = 0;
    /* 64-byte id (str8) */
    put1(&b, 0x84), pstr(&b, "t"), put1(&b, 2), pstr(&b, "s"), put1(&b, 9);
    pstr(&b, "i"), put1(&b, 0xd9), put1(&b, 64), put(&b, s64, 64);
    pstr(&b, "a"), pstr(&b, "h:1");
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);
    b.b[b.n - 4 - 2 - 64 - 1] = 63; /* now 63 bytes, one byte left over */
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);

    memset(&b, 0, sizeof(b)); /* empty id, NUL inside an address */
    put1(&b, 0x84), pstr(&b, "t"), put1(&b, 2), pstr(&b, "s"), put1(&b, 9);
    pstr(&b, "i"), pstr(&b, ""), pstr(&b, "a"), pstr(&b, "h:1");
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);
    memset(&b, 0, sizeof(b));
    put1(&b, 0x84), pstr(&b, "t"), put1(&b, 2), pstr(&b, "s"), put1(&b, 9);
    pstr(&b, "i"), pstr(&b, "n1"), pstr(&b, "a"), put(&b, "\xa3h\0x", 4);
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);

    memset(&b, 0, sizeof(b)); /* str32 claiming 4 GiB */
    put1(&b, 0x84), pstr(&b, "t"), put1(&b, 2), pstr(&b, "s"), put1(&b, 9);
    pstr(&b, "i"), put(&b, "\xdb\xff\xff\xff\xff", 5);
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);
}
END_TEST

START_TEST(test_swim_codec_decode_bad_updates)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x93\xa1x\xa1y\x00", 6},           /* 3 elements */
        {"\x94\xa1x\xa1y\x04\x00", 7},       /* state 4 */
        {"\x95\xa1x\xa1y\x00\x00\xa1z", 9},  /* accuser on alive */
        {"\x95\xa1x\xa1y\x01\x00\xa0", 8},   /* empty accuser */
        {"\x94\xa1x\xa1y\x01\xc0", 7},       /* nil incarnation */
        {"\xdd\xff\xff\xff\xff", 5},         /* a 4-billion-element update */
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        bb_t b = {0};
        ack_head(&b, 1);
        pstr(&b, "g");
        put1(&b, 0x91);
        put(&b, bad[i].bytes, bad[i].len);
        ck_assert_msg(dec(&b) == SH_EMALFORMED, "update %zu", i);
    }
    bb_t b = {0}; /* the update array itself claims 2^32-1 entries */
    ack_head(&b, 1);
    pstr(&b, "g");
    put(&b, "\xdd\xff\xff\xff\xff\x94\xa1x\xa1y\x00\x00", 12);
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);
    memset(&b, 0, sizeof(b)); /* a map claiming 2^32-1 keys */
    put(&b, "\xdf\xff\xff\xff\xff", 5);
    ck_assert_int_eq(dec(&b), SH_EMALFORMED);
    memset(&b, 0, sizeof(b)); /* a valid suspect update with an accuser */
    ack_head(&b, 1);
    pstr(&b, "g");
    put(&b, "\x91\x95\xa1x\xa1y\x01\x00\xa1z", 10);
    ck_assert_int_eq(dec(&b), 0);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("swim_codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_swim_codec_round_trip_all_types);
    tcase_add_test(tc, test_swim_codec_many_updates);
    tcase_add_test(tc, test_swim_codec_encode_rejects_invalid);
    suite_add_tcase(s, tc);
    tc = tcase_create("codec_bad_input");
    tcase_add_test(tc, test_swim_codec_decode_bad_input);
    tcase_add_test(tc, test_swim_codec_decode_bad_strings);
    tcase_add_test(tc, test_swim_codec_decode_bad_updates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
