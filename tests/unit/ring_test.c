/*
 * ring_test.c - key -> shard hashing and rendezvous placement.
 *
 * The hash values are part of the cluster contract (every node and client
 * must agree), so a few are pinned here, and the compiled-in XXH3 is
 * checked against the system libxxhash.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h> /* the shared library, not ring.c's inlined copy */

#include "ring.h"
#include "sh_rng.h"

/* Check records every passing ck_assert with a write(2); hot loops use
 * this instead, which costs nothing unless it fails. */
#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg("%s:%d: expected %s", __FILE__, __LINE__, #cond);     \
    } while (0)

static uint32_t shard_of(const char *type, const char *id, uint32_t shards)
{
    return ring_shard_of(type, strlen(type), id, strlen(id), shards);
}

/* XXH3 of type "/" id built the obvious way, through libxxhash. */
static uint64_t ref_key_hash(const char *type, size_t tlen, const char *id,
                             size_t ilen)
{
    char *buf = malloc(tlen + 1 + ilen);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, type, tlen);
    buf[tlen] = '/';
    memcpy(buf + tlen + 1, id, ilen);
    uint64_t h = XXH3_64bits(buf, tlen + 1 + ilen);
    free(buf);
    return h;
}

START_TEST(test_ring_shard_of_pinned_values)
{
    /* Frozen: changing these breaks routing between mixed-version nodes. */
    ck_assert_uint_eq(shard_of("counter", "c1", 256), 148);
    ck_assert_uint_eq(shard_of("cart", "alice", 256), 13);
    ck_assert_uint_eq(shard_of("log", "0", 256), 156);
    ck_assert_uint_eq(shard_of("", "", 256), 46);
    ck_assert_uint_eq(shard_of("counter", "c1", 1000), 556);
    ck_assert_uint_eq(shard_of("cart", "alice", 1000), 109);
    ck_assert_uint_eq(ring_weight("n1", 2, 0), 0xd733a26dd4b49b94ULL);
    ck_assert_uint_eq(ring_weight("n1", 2, 7), 0xf6eec6b3d95be154ULL);
    ck_assert_uint_eq(ring_weight("node-a", 6, 255), 0xb1c4414146ee8bf5ULL);
}
END_TEST

START_TEST(test_ring_shard_of_matches_concatenation)
{
    /* Around the stack-buffer limit (256 bytes of "type/id") and well
     * beyond it, both code paths must equal XXH3 of the built string. */
    static char type[600], id[600];
    memset(type, 't', sizeof(type));
    memset(id, 'i', sizeof(id));
    const size_t tl[] = {0, 1, 7, 100, 254, 255, 256, 257, 599};
    const size_t il[] = {0, 1, 2, 100, 154, 155, 156, 200, 599};
    for (size_t a = 0; a < sizeof(tl) / sizeof(tl[0]); a++) {
        for (size_t b = 0; b < sizeof(il) / sizeof(il[0]); b++) {
            uint64_t h = ref_key_hash(type, tl[a], id, il[b]);
            EXPECT(ring_shard_of(type, tl[a], id, il[b], 256) == h % 256);
            EXPECT(ring_shard_of(type, tl[a], id, il[b], 977) == h % 977);
            EXPECT(ring_shard_of(type, tl[a], id, il[b], 1) == 0);
        }
    }
    /* The separator is hashed: moving bytes across it changes the key. */
    uint32_t abc = ring_shard_of("ab", 2, "c", 1, UINT32_MAX);
    ck_assert_uint_eq(abc, ref_key_hash("ab", 2, "c", 1) % UINT32_MAX);
    ck_assert_uint_ne(abc, ring_shard_of("a", 1, "bc", 2, UINT32_MAX));
}
END_TEST

START_TEST(test_ring_weight_matches_libxxhash)
{
    const char *ids[] = {"n1", "n10", "a", "10.0.3.17:7946",
                         "a-rather-long-member-id-that-exceeds-sixteen-bytes"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        for (uint32_t s = 0; s < 300; s += 7)
            EXPECT(ring_weight(ids[i], strlen(ids[i]), s) ==
                   XXH3_64bits_withSeed(ids[i], strlen(ids[i]), s));
}
END_TEST

/* Chi-square of `n` counts against a uniform expectation. */
static double chi2_uniform(const uint32_t *count, size_t n, double total)
{
    double e = total / (double)n, chi2 = 0;
    for (size_t i = 0; i < n; i++)
        chi2 += (count[i] - e) * (count[i] - e) / e;
    return chi2;
}

/* |chi2 - df| < 5 standard deviations, where the variance is 2 df. */
static bool within_5sd(double chi2, double df)
{
    return (chi2 - df) * (chi2 - df) < 25 * 2 * df;
}

/* 100k keys into S buckets.  Chi-square with S-1 degrees of freedom has
 * mean S-1 and variance 2(S-1); a correct hash stays within 5 standard
 * deviations (p < 1e-6 either side) and the keys are fixed, so the test
 * is deterministic. */
static void check_spread(uint32_t shards, const char *type, const char *fmt)
{
    uint32_t *count = calloc(shards, sizeof(uint32_t));
    ck_assert_ptr_nonnull(count);
    char id[64];
    for (int k = 0; k < 100000; k++) {
        snprintf(id, sizeof(id), fmt, k);
        uint32_t s = shard_of(type, id, shards);
        EXPECT(s < shards);
        count[s]++;
    }
    double df = shards - 1;
    double chi2 = chi2_uniform(count, shards, 100000);
    ck_assert_msg(within_5sd(chi2, df), "S=%u %s/%s chi2=%.1f df=%.0f",
                  shards, type, fmt, chi2, df);
    free(count);
}

START_TEST(test_ring_shard_of_spreads_uniformly)
{
    check_spread(256, "counter", "c%d");
    check_spread(256, "cart", "user-%08d");
    check_spread(1000, "log", "%d");
    check_spread(7, "counter", "%x");
}
END_TEST

/* Brute force: rank eligible members by (weight desc, id asc). */
static size_t ref_place(const ring_member_t *m, size_t n, uint32_t shard,
                        size_t r, uint32_t *out)
{
    size_t k = 0;
    uint8_t used[64] = {0};
    EXPECT(n <= 64);
    while (k < r) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (!m[i].eligible || used[i])
                continue;
            if (best == n ||
                ring_ranks_above(ring_weight(m[i].id, m[i].len, shard), &m[i], i,
                                 ring_weight(m[best].id, m[best].len, shard),
                                 &m[best], best))
                best = i;
        }
        if (best == n)
            break;
        used[best] = 1;
        out[k++] = (uint32_t)best;
    }
    return k;
}

static char g_ids[64][32];

static void make_members(ring_member_t *m, size_t n, sh_rng_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(g_ids[i], sizeof(g_ids[i]), "m-%llx",
                 (unsigned long long)sh_rng_below(rng, 1u << 20));
        m[i] = (ring_member_t){g_ids[i], strlen(g_ids[i]),
                               sh_rng_below(rng, 4) != 0};
    }
}

START_TEST(test_ring_place_is_top_r_by_weight)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, (uint64_t)_i);
    ring_member_t m[40];
    size_t n = 1 + sh_rng_below(&rng, 40);
    make_members(m, n, &rng);
    for (uint32_t s = 0; s < 64; s++) {
        for (size_t r = 1; r <= 8; r++) {
            uint32_t got[8], want[8];
            uint64_t w[8];
            size_t k = ring_place(m, n, s, r, got, w);
            size_t kr = ref_place(m, n, s, r, want);
            EXPECT(k == kr);
            for (size_t j = 0; j < k; j++) {
                EXPECT(got[j] == want[j]);
                EXPECT(w[j] == ring_weight(m[got[j]].id, m[got[j]].len, s));
                EXPECT(m[got[j]].eligible);
            }
            /* The weights are optional. */
            EXPECT(ring_place(m, n, s, r, got, NULL) == kr);
        }
    }
}
END_TEST

START_TEST(test_ring_place_caps_and_empty)
{
    ring_member_t m[3] = {{"a", 1, true}, {"b", 1, false}, {"c", 1, true}};
    uint32_t out[8] = {0};
    ck_assert_uint_eq(ring_place(m, 3, 5, 8, out, NULL), 2);
    ck_assert_uint_eq(ring_place(m, 3, 5, 0, out, NULL), 0);
    ck_assert_uint_eq(ring_place(m, 0, 5, 3, out, NULL), 0);
    m[0].eligible = m[2].eligible = false;
    ck_assert_uint_eq(ring_place(m, 3, 5, 3, out, NULL), 0);
}
END_TEST

START_TEST(test_ring_place_ignores_member_order)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, 1000 + (uint64_t)_i);
    ring_member_t m[20], p[20];
    make_members(m, 20, &rng);
    memcpy(p, m, sizeof(m));
    for (size_t i = 19; i > 0; i--) { /* Fisher-Yates */
        size_t j = sh_rng_below(&rng, i + 1);
        ring_member_t x = p[i];
        p[i] = p[j];
        p[j] = x;
    }
    for (uint32_t s = 0; s < 256; s++) {
        uint32_t a[3], b[3];
        size_t ka = ring_place(m, 20, s, 3, a, NULL);
        EXPECT(ring_place(p, 20, s, 3, b, NULL) == ka);
        for (size_t j = 0; j < ka; j++)
            EXPECT(strcmp(m[a[j]].id, p[b[j]].id) == 0);
    }
}
END_TEST

START_TEST(test_ring_ranks_above_tie_breaks)
{
    ring_member_t a = {"n1", 2, true}, b = {"n10", 3, true}, c = {"n2", 2, true};
    ck_assert(ring_ranks_above(2, &b, 1, 1, &a, 0)); /* weight first */
    ck_assert(!ring_ranks_above(1, &a, 0, 2, &b, 1));
    ck_assert(ring_ranks_above(5, &a, 9, 5, &b, 0)); /* prefix sorts first */
    ck_assert(!ring_ranks_above(5, &b, 0, 5, &a, 9));
    ck_assert(ring_ranks_above(5, &b, 9, 5, &c, 0)); /* "n10" < "n2" */
    ck_assert(ring_ranks_above(5, &a, 0, 5, &a, 1)); /* same id: index */
    ck_assert(!ring_ranks_above(5, &a, 1, 5, &a, 0));
}
END_TEST

/* Rendezvous must pick the owner, and the (owner, second) pair, uniformly
 * and independently per shard, also for short sequential ids such as
 * "n1".."n10" where XXH3 takes its 1..3 / 4..8 byte paths.  65536 shards,
 * chi-square bounds as in check_spread. */
static void check_rank_uniform(const char *fmt)
{
    enum { N = 10, S = 65536 };
    ring_member_t m[N];
    for (int i = 0; i < N; i++) {
        snprintf(g_ids[i], sizeof(g_ids[i]), fmt, i + 1);
        m[i] = (ring_member_t){g_ids[i], strlen(g_ids[i]), true};
    }
    uint32_t first[N] = {0}, pair[N * N] = {0}, top[2];
    for (uint32_t s = 0; s < S; s++) {
        EXPECT(ring_place(m, N, s, 2, top, NULL) == 2);
        first[top[0]]++;
        pair[top[0] * N + top[1]]++;
    }
    double c1 = chi2_uniform(first, N, S);
    ck_assert_msg(within_5sd(c1, N - 1), "%s owner chi2=%.1f", fmt, c1);
    /* Pack the 90 off-diagonal cells. */
    uint32_t off[N * (N - 1)];
    size_t k = 0;
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++)
            if (a != b)
                off[k++] = pair[a * N + b];
    double c2 = chi2_uniform(off, k, S);
    ck_assert_msg(within_5sd(c2, k - 1), "%s pair chi2=%.1f", fmt, c2);
}

START_TEST(test_ring_place_rank_uniform)
{
    check_rank_uniform("n%d");
    check_rank_uniform("10.0.0.%d:7946");
    check_rank_uniform("shoald-%04d.example.internal");
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("shard_of");
    tcase_add_test(tc, test_ring_shard_of_pinned_values);
    tcase_add_test(tc, test_ring_shard_of_matches_concatenation);
    tcase_add_test(tc, test_ring_weight_matches_libxxhash);
    tcase_add_test(tc, test_ring_shard_of_spreads_uniformly);
    suite_add_tcase(s, tc);
    tc = tcase_create("place");
    tcase_add_loop_test(tc, test_ring_place_is_top_r_by_weight, 0, 20);
    tcase_add_test(tc, test_ring_place_caps_and_empty);
    tcase_add_loop_test(tc, test_ring_place_ignores_member_order, 0, 20);
    tcase_add_test(tc, test_ring_ranks_above_tie_breaks);
    tcase_add_test(tc, test_ring_place_rank_uniform);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ring_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
