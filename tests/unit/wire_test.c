/*
 * wire_test.c - the frame codec: round trips, authentication, and strict
 * rejection of mutated valid frames (truncation, flips, trailing bytes,
 * oversize).  Hand-built frames that break one rule each (wrong keys and
 * types, lying lengths, bad lz4) are in wire_frames_test.c.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "sh_rng.h"
#include "wire_fixture.h"

static void hdr_assert_eq(const wire_hdr_t *a, const wire_hdr_t *b)
{
    ck_assert_uint_eq(a->kind, b->kind);
    ck_assert_uint_eq(a->corr_id, b->corr_id);
    ck_assert_uint_eq(a->deadline_ms, b->deadline_ms);
    ck_assert_str_eq(a->src_id, b->src_id);
    ck_assert_str_eq(a->src_addr, b->src_addr);
    ck_assert_str_eq(a->cluster, b->cluster);
    ck_assert_uint_eq(a->shards, b->shards);
}

/* Encode, decode, compare; returns the decoded flags. */
static uint32_t roundtrip(const wire_hdr_t *h, const uint8_t *p, size_t n)
{
    uint8_t *f, *out;
    size_t flen, olen;
    wire_hdr_t d;

    ck_assert_int_eq(wire_encode(&g_key, NULL, h, p, n, &f, &flen), 0);
    ck_assert_int_eq(wire_decode(&g_key, NULL, f, flen, &d, &out, &olen), 0);
    ck_assert_uint_eq(d.version, WIRE_VERSION);
    hdr_assert_eq(&d, h);
    ck_assert_uint_eq(olen, n);
    if (n > 0)
        ck_assert_mem_eq(out, p, n);
    else
        ck_assert_ptr_null(out);
    free(f);
    free(out);
    return d.flags;
}

START_TEST(test_wire_roundtrip_small)
{
    wire_hdr_t h = hdr_full();
    uint8_t p[100];
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)i;
    ck_assert_uint_eq(roundtrip(&h, p, sizeof(p)), 0);
    ck_assert_uint_eq(roundtrip(&h, NULL, 0), 0);
    memset(&h, 0, sizeof(h)); /* all-empty header is valid too */
    ck_assert_uint_eq(roundtrip(&h, p, 1), 0);
}
END_TEST

START_TEST(test_wire_roundtrip_large_compressed)
{
    wire_hdr_t h = hdr_full();
    size_t n = 256 * 1024;
    uint8_t *p = malloc(n), *f;
    size_t flen;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)("member alive incarnation "[i % 25]);
    ck_assert_uint_eq(roundtrip(&h, p, n), WIRE_F_LZ4);
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, p, n, &f, &flen), 0);
    ck_assert_uint_lt(flen, n / 10);
    free(f);
    free(p);
}
END_TEST

START_TEST(test_wire_incompressible_sent_raw)
{
    wire_hdr_t h = hdr_full();
    uint8_t p[4096];
    sh_rng_t rng;
    sh_rng_seed(&rng, 42);
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)sh_rng_next(&rng);
    ck_assert_uint_eq(roundtrip(&h, p, sizeof(p)), 0);
    /* At the threshold exactly: not compressed, even if compressible. */
    memset(p, 'a', sizeof(p));
    ck_assert_uint_eq(roundtrip(&h, p, WIRE_LZ4_THRESHOLD_DEFAULT), 0);
    ck_assert_uint_eq(roundtrip(&h, p, WIRE_LZ4_THRESHOLD_DEFAULT + 1), WIRE_F_LZ4);
}
END_TEST

/* Every msgpack integer width on both sides of its boundary. */
static const uint64_t k_widths[] = {0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000,
                                     0xffffffffull, 0x100000000ull, UINT64_MAX};

START_TEST(test_wire_roundtrip_int_widths)
{
    wire_hdr_t h = hdr_full();
    h.corr_id = k_widths[_i];
    h.deadline_ms = k_widths[SH_ARRAY_LEN(k_widths) - 1 - (size_t)_i];
    h.shards = (uint32_t)k_widths[_i];
    h.kind = (uint8_t)k_widths[_i];
    ck_assert_uint_eq(roundtrip(&h, (const uint8_t *)"x", 1), 0);
}
END_TEST

/* A typical SWIM frame: the layout and its overhead are pinned here (and
 * quoted in docs/ARCHITECTURE.md), so a change to either is deliberate. */
START_TEST(test_wire_layout_pinned)
{
    static const uint8_t head[] = {0x8b, 0xa1, 'v', 0x01, 0xa1, 'k', 0x01,
                                   0xa1, 'f', 0x00, 0xa1, 'c', 0x00,
                                   0xa1, 'd', 0x00, 0xa1, 's', 0xa6};
    wire_hdr_t h;
    uint8_t *f, pay[120] = {0};
    size_t flen;

    memset(&h, 0, sizeof(h));
    h.kind = WIRE_KIND_SWIM;
    strcpy(h.src_id, "node-1");
    strcpy(h.src_addr, "10.0.0.1:7946");
    strcpy(h.cluster, "shoal");
    h.shards = 256;
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, pay, sizeof(pay), &f, &flen), 0);
    ck_assert_mem_eq(f, head, sizeof(head));
    ck_assert_uint_eq(flen - sizeof(pay), 94); /* 58 header + 36 tag */
    ck_assert_uint_eq(f[flen - 34], 0xc4);
    ck_assert_uint_eq(f[flen - 33], 32);
    free(f);
}
END_TEST

START_TEST(test_wire_wrong_key_is_auth_with_header)
{
    wire_hdr_t h = hdr_full(), d;
    wire_key_t other;
    uint8_t *f, *out = (uint8_t *)1;
    size_t flen, olen = 7;

    wire_key_init(&other, "another-secret");
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, (const uint8_t *)"hi", 2, &f, &flen), 0);
    ck_assert_int_eq(wire_decode(&other, NULL, f, flen, &d, &out, &olen), SH_EAUTH);
    hdr_assert_eq(&d, &h);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(olen, 0);
    /* key == NULL skips verification. */
    ck_assert_int_eq(wire_decode(NULL, NULL, f, flen, &d, &out, &olen), 0);
    ck_assert_uint_eq(olen, 2);
    free(out);
    free(f);
}
END_TEST

START_TEST(test_wire_empty_and_nonempty_secret_refuse)
{
    wire_key_t empty, null_key, some;
    wire_hdr_t h = hdr_full(), d;
    uint8_t *f, *out;
    size_t flen, olen;

    wire_key_init(&empty, "");
    wire_key_init(&null_key, NULL);
    wire_key_init(&some, "s");
    ck_assert_uint_eq(empty.len, 0);
    ck_assert_int_eq(wire_encode(&empty, NULL, &h, NULL, 0, &f, &flen), 0);
    ck_assert_int_eq(wire_decode(&some, NULL, f, flen, &d, &out, &olen), SH_EAUTH);
    ck_assert_int_eq(wire_decode(&null_key, NULL, f, flen, &d, &out, &olen), 0);
    free(f);
    ck_assert_int_eq(wire_encode(&some, NULL, &h, NULL, 0, &f, &flen), 0);
    ck_assert_int_eq(wire_decode(&empty, NULL, f, flen, &d, &out, &olen), SH_EAUTH);
    free(f);
    /* A NULL encode key signs as the empty secret. */
    ck_assert_int_eq(wire_encode(NULL, NULL, &h, NULL, 0, &f, &flen), 0);
    ck_assert_int_eq(wire_decode(&empty, NULL, f, flen, &d, &out, &olen), 0);
    free(f);
}
END_TEST

START_TEST(test_wire_long_secret_hashed)
{
    char a[101], b[101];
    wire_key_t ka, kb;
    wire_hdr_t h = hdr_full(), d;
    uint8_t *f, *out;
    size_t flen, olen;

    memset(a, 'x', 100);
    a[100] = '\0';
    memcpy(b, a, sizeof(a));
    b[99] = 'y'; /* differs only beyond the 64-byte block */
    wire_key_init(&ka, a);
    wire_key_init(&kb, b);
    ck_assert_uint_eq(ka.len, WIRE_MAC_LEN);
    ck_assert_int_eq(wire_encode(&ka, NULL, &h, NULL, 0, &f, &flen), 0);
    ck_assert_int_eq(wire_decode(&kb, NULL, f, flen, &d, &out, &olen), SH_EAUTH);
    ck_assert_int_eq(wire_decode(&ka, NULL, f, flen, &d, &out, &olen), 0);
    free(f);
}
END_TEST

/* ---- bad input ------------------------------------------------------- */

static uint8_t *encode_sample(size_t n, size_t *flen)
{
    wire_hdr_t h = hdr_full();
    uint8_t *p = malloc(n + 1), *f;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)("abcabcabd"[i % 9]);
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, p, n, &f, flen), 0);
    free(p);
    return f;
}
static const size_t k_sample_sizes[] = {0, 40, 3000}; /* 3000 is lz4 */

START_TEST(test_wire_every_truncation_is_malformed)
{
    size_t flen;
    uint8_t *f = encode_sample(k_sample_sizes[_i], &flen);
    for (size_t n = 0; n < flen; n++) {
        /* A copy of exactly n bytes, so ASan sees any over-read. */
        uint8_t *t = malloc(n ? n : 1);
        memcpy(t, f, n);
        ck_assert_msg(decode_rc(&g_key, NULL, t, n) == SH_EMALFORMED, "len %zu", n);
        ck_assert_msg(decode_rc(NULL, NULL, t, n) == SH_EMALFORMED, "len %zu", n);
        free(t);
    }
    free(f);
}
END_TEST

START_TEST(test_wire_every_flipped_byte_rejected)
{
    size_t flen;
    uint8_t *f = encode_sample(k_sample_sizes[_i], &flen);
    for (size_t i = 0; i < flen; i++) {
        for (int bit = 0; bit < 8; bit++) {
            f[i] ^= (uint8_t)(1u << bit);
            int rc = decode_rc(&g_key, NULL, f, flen);
            ck_assert_msg(rc < 0, "byte %zu bit %d accepted", i, bit);
            (void)decode_rc(NULL, NULL, f, flen); /* must not crash */
            f[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert_int_eq(decode_rc(&g_key, NULL, f, flen), 0);
    free(f);
}
END_TEST

START_TEST(test_wire_trailing_garbage_malformed)
{
    size_t flen;
    uint8_t *f = encode_sample(40, &flen);
    uint8_t *g = malloc(flen + 32);
    memcpy(g, f, flen);
    memset(g + flen, 0, 32);
    ck_assert_int_eq(decode_rc(&g_key, NULL, g, flen + 1), SH_EMALFORMED);
    ck_assert_int_eq(decode_rc(&g_key, NULL, g, flen + 32), SH_EMALFORMED);
    ck_assert_int_eq(decode_rc(NULL, NULL, g, flen + 1), SH_EMALFORMED);
    free(g);
    free(f);
}
END_TEST

START_TEST(test_wire_oversize)
{
    wire_hdr_t h = hdr_full();
    wire_limits_t lim;
    uint8_t p[2000] = {1}, *f;
    size_t flen;
    sh_rng_t rng;

    sh_rng_seed(&rng, 7);
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)sh_rng_next(&rng); /* incompressible */
    wire_limits_default(&lim);
    lim.payload_max = 1000;
    ck_assert_int_eq(wire_encode(&g_key, &lim, &h, p, 1001, &f, &flen), SH_ETOO_BIG);
    ck_assert_ptr_null(f);
    wire_limits_default(&lim);
    lim.frame_max = 1000; /* payload fits payload_max, frame does not */
    ck_assert_int_eq(wire_encode(&g_key, &lim, &h, p, 1000, &f, &flen), SH_ETOO_BIG);
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, p, 1000, &f, &flen), 0);
    ck_assert_int_eq(decode_rc(&g_key, &lim, f, flen), SH_ETOO_BIG);
    wire_limits_default(&lim);
    lim.payload_max = 999;
    ck_assert_int_eq(decode_rc(&g_key, &lim, f, flen), SH_ETOO_BIG);
    free(f);
    /* Compressed: the declared raw length is what counts. */
    memset(p, 'z', sizeof(p));
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, p, 2000, &f, &flen), 0);
    ck_assert_uint_lt(flen, 1000);
    lim.payload_max = 1999;
    ck_assert_int_eq(decode_rc(&g_key, &lim, f, flen), SH_ETOO_BIG);
    free(f);
}
END_TEST

START_TEST(test_wire_encode_rejects_long_strings)
{
    wire_hdr_t h = hdr_full();
    uint8_t *f;
    size_t flen;
    memset(h.cluster, 'c', sizeof(h.cluster)); /* no NUL inside */
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, NULL, 0, &f, &flen), SH_EBAD_REQUEST);
    h = hdr_full();
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, NULL, 5, &f, &flen), SH_EBAD_REQUEST);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_wire_roundtrip_small);
    tcase_add_test(tc, test_wire_roundtrip_large_compressed);
    tcase_add_test(tc, test_wire_incompressible_sent_raw);
    tcase_add_loop_test(tc, test_wire_roundtrip_int_widths, 0, SH_ARRAY_LEN(k_widths));
    tcase_add_test(tc, test_wire_layout_pinned);
    suite_add_tcase(s, tc);

    tc = tcase_create("auth");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_wire_wrong_key_is_auth_with_header);
    tcase_add_test(tc, test_wire_empty_and_nonempty_secret_refuse);
    tcase_add_test(tc, test_wire_long_secret_hashed);
    suite_add_tcase(s, tc);

    tc = tcase_create("codec_bad_input");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_wire_every_truncation_is_malformed, 0, SH_ARRAY_LEN(k_sample_sizes));
    tcase_add_loop_test(tc, test_wire_every_flipped_byte_rejected, 0, SH_ARRAY_LEN(k_sample_sizes));
    tcase_add_test(tc, test_wire_trailing_garbage_malformed);
    tcase_add_test(tc, test_wire_oversize);
    tcase_add_test(tc, test_wire_encode_rejects_long_strings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
