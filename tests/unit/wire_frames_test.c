/*
 * wire_frames_test.c - the frame codec against hand-built frames (suite
 * "wire_frames"): each breaks one rule of the layout (map structure,
 * strings, flags, lz4 body, declared lengths, version) and is then signed
 * with the real key, so each case proves the *structure* check fires, not
 * merely the MAC.  Round trips, authentication and mutations of valid
 * frames are in wire_test.c.
 */
#include <check.h>
#include <lz4.h>
#include <mbedtls/md.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "wire_fixture.h"

/* ---- hand-built frames ----------------------------------------------- */

typedef struct fb {
    uint8_t b[8192];
    size_t n;
} fb_t;

static void fb_raw(fb_t *b, const void *p, size_t n)
{
    ck_assert_uint_le(b->n + n, sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void fb_u8(fb_t *b, uint8_t v)
{
    fb_raw(b, &v, 1);
}

static void fb_key(fb_t *b, char k)
{
    fb_u8(b, 0xa1);
    fb_u8(b, (uint8_t)k);
}

static void fb_be(fb_t *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        fb_u8(b, (uint8_t)(v >> (8 * i)));
}

static void fb_uint(fb_t *b, char k, uint64_t v)
{
    fb_key(b, k);
    if (v < 0x80) {
        fb_u8(b, (uint8_t)v);
    } else {
        fb_u8(b, 0xcf);
        fb_be(b, v, 8); /* the widest form: also valid */
    }
}

static void fb_str(fb_t *b, char k, const char *s, size_t n)
{
    fb_key(b, k);
    fb_u8(b, 0xd9);
    fb_u8(b, (uint8_t)n);
    fb_raw(b, s, n);
}

static void fb_bin(fb_t *b, char k, const void *p, size_t n)
{
    fb_key(b, k);
    fb_u8(b, 0xc5);
    fb_be(b, n, 2);
    fb_raw(b, p, n);
}

/* Append "m" and a valid tag under g_key. */
static void fb_sign(fb_t *b)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    fb_key(b, 'm');
    fb_u8(b, 0xc4);
    fb_u8(b, 32);
    ck_assert_uint_le(b->n + 32, sizeof(b->b));
    mbedtls_md_hmac(md, g_key.key, g_key.len, b->b, b->n, b->b + b->n);
    b->n += 32;
}

/* The header fields between "v" and "h", standard values. */
static void fb_std_hdr(fb_t *b, uint32_t flags)
{
    fb_uint(b, 'v', 1);
    fb_uint(b, 'k', 1);
    fb_uint(b, 'f', flags);
    fb_uint(b, 'c', 7);
    fb_uint(b, 'd', 0);
    fb_str(b, 's', "n1", 2);
    fb_str(b, 'a', "127.0.0.1:1", 11);
    fb_str(b, 'n', "c", 1);
    fb_uint(b, 'h', 256);
}

START_TEST(test_wire_builder_baseline_valid)
{
    fb_t b = {.n = 0};
    fb_u8(&b, 0x8b);
    fb_std_hdr(&b, 0);
    fb_bin(&b, 'p', "hello", 5);
    fb_sign(&b);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), 0);
}
END_TEST

/* Each case: one structural defect in an otherwise valid, signed frame. */
static void fb_case(fb_t *b, int c)
{
    static const char order[] = "vkfcdsanh";
    b->n = 0;
    switch (c) {
    case 0: /* two keys swapped */
        fb_u8(b, 0x8b);
        fb_uint(b, 'k', 1);
        fb_uint(b, 'v', 1);
        for (const char *k = order + 2; *k; k++)
            fb_uint(b, *k, 1);
        break;
    case 1: /* unknown key in place of "c" */
        fb_u8(b, 0x8b);
        fb_uint(b, 'v', 1);
        fb_uint(b, 'k', 1);
        fb_uint(b, 'f', 0);
        fb_uint(b, 'x', 1);
        break;
    case 2: /* duplicate "k" */
        fb_u8(b, 0x8b);
        fb_uint(b, 'v', 1);
        fb_uint(b, 'k', 1);
        fb_uint(b, 'k', 1);
        break;
    case 3: /* missing "p": map of 10 */
        fb_u8(b, 0x8a);
        fb_std_hdr(b, 0);
        fb_sign(b);
        return;
    case 4: /* kind as a string */
        fb_u8(b, 0x8b);
        fb_uint(b, 'v', 1);
        fb_str(b, 'k', "1", 1);
        break;
    case 5: /* kind > 255 */
        fb_u8(b, 0x8b);
        fb_uint(b, 'v', 1);
        fb_uint(b, 'k', 256);
        break;
    case 6: /* negative fixint as a uint */
        fb_u8(b, 0x8b);
        fb_uint(b, 'v', 1);
        fb_key(b, 'k');
        fb_u8(b, 0xff);
        break;
    default:
        ck_abort_msg("no case %d", c);
    }
    fb_bin(b, 'p', "x", 1);
    fb_sign(b);
}

START_TEST(test_wire_structure_defects_malformed)
{
    fb_t b;
    fb_case(&b, _i);
    ck_assert_msg(decode_rc(&g_key, NULL, b.b, b.n) == SH_EMALFORMED, "case %d", _i);
}
END_TEST

static void fb_frame_str(fb_t *b, const char *id, size_t n)
{
    b->n = 0;
    fb_u8(b, 0x8b);
    fb_uint(b, 'v', 1);
    fb_uint(b, 'k', 1);
    fb_uint(b, 'f', 0);
    fb_uint(b, 'c', 0);
    fb_uint(b, 'd', 0);
    fb_str(b, 's', id, n);
    fb_str(b, 'a', "a:1", 3);
    fb_str(b, 'n', "c", 1);
    fb_uint(b, 'h', 1);
    fb_bin(b, 'p', "", 0);
    fb_sign(b);
}

START_TEST(test_wire_bad_strings_malformed)
{
    char s[64];
    fb_t b;
    memset(s, 'q', sizeof(s));
    fb_frame_str(&b, s, 63);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), 0);
    fb_frame_str(&b, s, 64); /* one over WIRE_ID_MAX - 1 */
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
    fb_frame_str(&b, "ab\0cd", 5); /* embedded NUL */
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
}
END_TEST

START_TEST(test_wire_flag_defects_malformed)
{
    fb_t b = {.n = 0};
    /* Unknown flag bit. */
    fb_u8(&b, 0x8b);
    fb_std_hdr(&b, 2);
    fb_bin(&b, 'p', "x", 1);
    fb_sign(&b);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
    /* LZ4 flag in an 11-entry map (no "u"). */
    b.n = 0;
    fb_u8(&b, 0x8b);
    fb_std_hdr(&b, WIRE_F_LZ4);
    fb_bin(&b, 'p', "x", 1);
    fb_sign(&b);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
    /* A 12-entry map without the flag. */
    b.n = 0;
    fb_u8(&b, 0x8c);
    fb_std_hdr(&b, 0);
    fb_uint(&b, 'u', 1);
    fb_bin(&b, 'p', "x", 1);
    fb_sign(&b);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
}
END_TEST

/* An lz4 frame with raw length `u` and body `body`, signed. */
static void fb_lz4(fb_t *b, uint64_t u, const void *body, size_t n)
{
    b->n = 0;
    fb_u8(b, 0x8c);
    fb_std_hdr(b, WIRE_F_LZ4);
    fb_uint(b, 'u', u);
    fb_bin(b, 'p', body, n);
    fb_sign(b);
}

START_TEST(test_wire_bad_lz4_body_malformed)
{
    char raw[3000], comp[3100];
    fb_t b;
    memset(raw, 'r', sizeof(raw));
    int n = LZ4_compress_default(raw, comp, sizeof(raw), sizeof(comp));
    ck_assert_int_gt(n, 0);
    fb_lz4(&b, sizeof(raw), comp, (size_t)n);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), 0);
    fb_lz4(&b, sizeof(raw) + 1, comp, (size_t)n); /* says one more */
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
    fb_lz4(&b, sizeof(raw) - 1, comp, (size_t)n); /* says one less */
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
    memset(comp, 0xff, 64); /* garbage block */
    fb_lz4(&b, 1000, comp, 64);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
    fb_lz4(&b, 0, comp, 64); /* zero raw length */
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
    fb_lz4(&b, 10, comp, 0); /* empty block */
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EMALFORMED);
}
END_TEST

/* Under ASan a multi-gigabyte malloc aborts the test, so these pass only if
 * the decoder refuses before allocating. */
START_TEST(test_wire_huge_declared_lengths_refused_before_alloc)
{
    wire_limits_t big = {.frame_max = SIZE_MAX, .payload_max = SIZE_MAX, .lz4_threshold = 1024};
    uint8_t body[16] = {0};
    fb_t b;

    fb_lz4(&b, 1ull << 40, body, sizeof(body)); /* beyond what lz4 can address */
    ck_assert_int_eq(decode_rc(&g_key, &big, b.b, b.n), SH_ETOO_BIG);
    fb_lz4(&b, 16 * 255 + 1, body, sizeof(body)); /* beyond lz4's 255x ratio */
    ck_assert_int_eq(decode_rc(&g_key, &big, b.b, b.n), SH_EMALFORMED);
    fb_lz4(&b, (1u << 20) + 1, body, sizeof(body)); /* over default payload_max */
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_ETOO_BIG);

    /* bin32 / str32 claiming 4 GiB in a short buffer. */
    b.n = 0;
    fb_u8(&b, 0x8b);
    fb_std_hdr(&b, 0);
    fb_key(&b, 'p');
    fb_u8(&b, 0xc6);
    fb_be(&b, 0xffffffffu, 4);
    fb_sign(&b);
    ck_assert_int_eq(decode_rc(&g_key, &big, b.b, b.n), SH_EMALFORMED);
    b.n = 0;
    fb_u8(&b, 0x8b);
    fb_uint(&b, 'v', 1);
    fb_uint(&b, 'k', 1);
    fb_uint(&b, 'f', 0);
    fb_uint(&b, 'c', 0);
    fb_uint(&b, 'd', 0);
    fb_key(&b, 's');
    fb_u8(&b, 0xdb);
    fb_be(&b, 0xffffffffu, 4);
    fb_sign(&b);
    ck_assert_int_eq(decode_rc(&g_key, &big, b.b, b.n), SH_EMALFORMED);
}
END_TEST

START_TEST(test_wire_other_version)
{
    wire_hdr_t h = hdr_full(), d;
    uint8_t *f, *out;
    size_t flen, olen;

    h.version = 2;
    ck_assert_int_eq(wire_encode(&g_key, NULL, &h, (const uint8_t *)"x", 1, &f, &flen), 0);
    ck_assert_int_eq(wire_decode(&g_key, NULL, f, flen, &d, &out, &olen), SH_EVERSION);
    ck_assert_uint_eq(d.version, 2);
    ck_assert_str_eq(d.src_id, h.src_id);
    ck_assert_ptr_null(out);
    free(f);
    /* A later version's unknown layout still says "version", not "malformed". */
    fb_t b = {.n = 0};
    fb_u8(&b, 0xde);
    fb_be(&b, 20, 2);
    fb_uint(&b, 'v', 9);
    fb_uint(&b, 'z', 1);
    ck_assert_int_eq(decode_rc(&g_key, NULL, b.b, b.n), SH_EVERSION);
}
END_TEST

static Suite *wire_frames_suite(void)
{
    Suite *s = suite_create("wire_frames");
    TCase *tc = tcase_create("codec_bad_input");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_wire_builder_baseline_valid);
    tcase_add_loop_test(tc, test_wire_structure_defects_malformed, 0, 7);
    tcase_add_test(tc, test_wire_bad_strings_malformed);
    tcase_add_test(tc, test_wire_flag_defects_malformed);
    tcase_add_test(tc, test_wire_bad_lz4_body_malformed);
    tcase_add_test(tc, test_wire_huge_declared_lengths_refused_before_alloc);
    tcase_add_test(tc, test_wire_other_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_frames_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
