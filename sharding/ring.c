/*
 * ring.c - key -> shard hashing and rendezvous placement.
 *
 * Design notes.
 *
 * Why rendezvous (highest random weight, Thaler & Ravishankar 1998) rather
 * than a token ring: each shard ranks every member by an independent hash,
 * so the replica set of a shard is a pure function of the set of eligible
 * members.  Adding or removing one member changes a shard's top-R only if
 * that member is in it, which moves about S*R/N replica slots and nothing
 * else; there are no token counts to tune and no neighbour hand-offs.
 * The cost is O(N) hashes per shard per recomputation, i.e. O(S*N) per
 * membership change: 256 x 1000 short hashes is well under a millisecond.
 *
 * Invariants.
 *  - The functions are deterministic across hosts, word sizes and build
 *    flags: XXH3 is compiled in (XXH_INLINE_ALL) and only its frozen 64-bit
 *    output is used; ties are broken by id bytes, never by pointer values.
 *  - ring_shard_of hashes the bytes type "/" id; it never builds a
 *    heap string.  Short keys go through a stack buffer and one-shot XXH3,
 *    long ones through XXH3's streaming state; both give the same value.
 *
 * What it deliberately does not do: balance load beyond what independent
 * hashing gives (that is stab.c's owner choice), remember anything between
 * calls, or know about member states beyond the "eligible" flag.
 */
#include "ring.h"

#include <string.h>

#include "sh_assert.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Keys up to this many bytes ("type/id") are hashed in one shot from a
 * stack copy; entity types and ids are short, so this is the common path. */
#define RING_KEY_STACK 256

uint32_t ring_shard_of(const char *type, size_t tlen, const char *id,
                       size_t ilen, uint32_t shards)
{
    SH_ASSERT(shards >= 1);
    SH_ASSERT(type != NULL || tlen == 0);
    SH_ASSERT(id != NULL || ilen == 0);
    uint64_t h;
    if (tlen < RING_KEY_STACK && ilen < RING_KEY_STACK - tlen) {
        char buf[RING_KEY_STACK];
        if (tlen)
            memcpy(buf, type, tlen);
        buf[tlen] = '/';
        if (ilen)
            memcpy(buf + tlen + 1, id, ilen);
        h = XXH3_64bits(buf, tlen + 1 + ilen);
    } else {
        XXH3_state_t st;
        XXH3_INITSTATE(&st);
        XXH3_64bits_reset(&st);
        XXH3_64bits_update(&st, type, tlen);
        XXH3_64bits_update(&st, "/", 1);
        XXH3_64bits_update(&st, id, ilen);
        h = XXH3_64bits_digest(&st);
    }
    return (uint32_t)(h % shards);
}

uint64_t ring_weight(const char *id, size_t len, uint32_t shard)
{
    return XXH3_64bits_withSeed(id, len, (XXH64_hash_t)shard);
}

/* Bytewise id order; a proper prefix sorts first. */
static int ring_id_cmp(const ring_member_t *a, const ring_member_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->id, b->id, n) : 0;
    if (c != 0)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

bool ring_ranks_above(uint64_t wa, const ring_member_t *a, size_t ia,
                      uint64_t wb, const ring_member_t *b, size_t ib)
{
    if (wa != wb)
        return wa > wb;
    int c = ring_id_cmp(a, b);
    if (c != 0)
        return c < 0;
    return ia < ib;
}

/* Keep out_idx[0..k) sorted best-first: insert candidate i if it beats the
 * current last entry (or there is room).  r is small (replication factor),
 * so insertion into a short sorted array beats a heap. */
static size_t ring_top_insert(const ring_member_t *m, uint32_t *out_idx,
                              uint64_t *w, size_t k, size_t r, uint32_t i,
                              uint64_t wi)
{
    if (k == r && !ring_ranks_above(wi, &m[i], i, w[k - 1], &m[out_idx[k - 1]],
                                    out_idx[k - 1]))
        return k;
    size_t pos = k < r ? k : r - 1;
    while (pos > 0 && ring_ranks_above(wi, &m[i], i, w[pos - 1],
                                       &m[out_idx[pos - 1]], out_idx[pos - 1])) {
        out_idx[pos] = out_idx[pos - 1];
        w[pos] = w[pos - 1];
        pos--;
    }
    out_idx[pos] = i;
    w[pos] = wi;
    return k < r ? k + 1 : k;
}

size_t ring_place(const ring_member_t *members, size_t n, uint32_t shard,
                  size_t r, uint32_t *out_idx, uint64_t *out_w)
{
    SH_ASSERT(members != NULL || n == 0);
    SH_ASSERT(out_idx != NULL || r == 0);
    SH_ASSERT(n <= UINT32_MAX);
    if (r == 0)
        return 0;
    uint64_t wbuf[16];
    uint64_t *w = out_w;
    if (w == NULL) {
        SH_ASSERT(r <= SH_ARRAY_LEN(wbuf));
        w = wbuf;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!members[i].eligible)
            continue;
        uint64_t wi = ring_weight(members[i].id, members[i].len, shard);
        k = ring_top_insert(members, out_idx, w, k, r, (uint32_t)i, wi);
    }
    return k;
}
