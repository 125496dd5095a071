/*
 * ring.h - key -> shard hashing and rendezvous (highest-random-weight)
 * placement, as pure functions.
 *
 * Every node, and every client that wants to route by itself, must compute
 * exactly the same numbers from the same inputs, so the hash functions are
 * part of the cluster's contract (docs/ARCHITECTURE.md, "Placement"):
 *
 *   shard  = XXH3_64bits(type "/" id) mod S
 *   weight = XXH3_64bits_withSeed(member_id, seed = shard)
 *
 * XXH3 is compiled into shoal (XXH_INLINE_ALL), so the result does not
 * depend on the libxxhash installed on a host; XXH3's output has been
 * frozen since xxHash 0.8.0.
 *
 * No allocation, no state, no I/O: callable from any thread.
 */
#ifndef RING_H
#define RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shard of an entity: XXH3_64bits over the bytes of type, one '/', and
 * id (not NUL-terminated; lengths given), reduced mod shards.  Neither part
 * may be longer than the caller allows elsewhere; any length works here.
 * shards must be >= 1 (a programmer error otherwise: SH_ASSERT). */
uint32_t ring_shard_of(const char *type, size_t tlen, const char *id,
                       size_t ilen, uint32_t shards);

/* Rendezvous weight of member `id` (len bytes) for `shard`:
 * XXH3_64bits_withSeed(id, len, shard). */
uint64_t ring_weight(const char *id, size_t len, uint32_t shard);

/* One candidate member for ring_place.  `id` is borrowed for the call. */
typedef struct ring_member {
    const char *id;
    size_t len;
    bool eligible; /* alive or suspect; dead and left members are skipped */
} ring_member_t;

/* Order used by placement: does member a rank above member b for a shard?
 * Higher weight first; on an exact weight tie the bytewise-smaller id
 * (a proper prefix sorts first) wins; on identical ids the lower index
 * wins, so the order is total even for a malformed view. */
bool ring_ranks_above(uint64_t wa, const ring_member_t *a, size_t ia,
                      uint64_t wb, const ring_member_t *b, size_t ib);

/* The replica set of `shard`: the top min(r, eligible) eligible members by
 * ring_ranks_above, written to out_idx[] as indices into members[], owner
 * (highest weight) first.  out_idx must hold r entries; if out_w is not
 * NULL it receives the matching weights (and must hold r entries too);
 * with out_w NULL, r must be <= 16.  Returns how many were written
 * (0 when no member is eligible).  O(n * r); the result depends only on
 * the set of eligible members, not on their order in members[], except
 * for the index tie-break between identical ids.
 *
 * Minimal movement: adding or removing member x changes the set of shard
 * s only if x is (or becomes) one of the top r for s. */
size_t ring_place(const ring_member_t *members, size_t n, uint32_t shard,
                  size_t r, uint32_t *out_idx, uint64_t *out_w);

#endif
