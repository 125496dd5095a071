/*
 * fuzz_wire.c - wire_decode on arbitrary bytes.
 *
 * Each input is decoded twice: with a fixed key (the path every received
 * frame takes; mutations mostly stop at the tag, which is the point) and
 * with key == NULL (no verification, so the fuzzer reaches the lz4 and
 * payload paths).  A frame that decodes is re-encoded and decoded again,
 * and must come back with the same header and payload: the codec has one
 * meaning per frame.  Limits are smaller than the defaults so that the
 * "too big" paths are reachable with short inputs.
 *
 * Seeds: tests/fuzz/corpus/fuzz_wire/ (valid frames signed with "fuzz").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "wire.h"

static void fuzz_wire_check_roundtrip(const wire_key_t *key, const wire_limits_t *lim,
                                      const wire_hdr_t *h, const uint8_t *p, size_t n)
{
    uint8_t *f, *p2;
    size_t flen, n2;
    wire_hdr_t h2;

    /* Re-encoding may legitimately not fit: the input could have been lz4
     * while the raw payload plus header exceeds frame_max, or vice versa. */
    if (wire_encode(key, lim, h, p, n, &f, &flen) != 0)
        return;
    SH_ASSERT(wire_decode(key, lim, f, flen, &h2, &p2, &n2) == 0);
    SH_ASSERT(h2.version == h->version && h2.kind == h->kind);
    SH_ASSERT(h2.corr_id == h->corr_id && h2.deadline_ms == h->deadline_ms);
    SH_ASSERT(h2.shards == h->shards);
    SH_ASSERT(strcmp(h2.src_id, h->src_id) == 0);
    SH_ASSERT(strcmp(h2.src_addr, h->src_addr) == 0);
    SH_ASSERT(strcmp(h2.cluster, h->cluster) == 0);
    SH_ASSERT(n2 == n && (n == 0 || memcmp(p2, p, n) == 0));
    free(p2);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static wire_key_t key;
    static int init;
    wire_limits_t lim = {.frame_max = 1u << 16, .payload_max = 1u << 17, .lz4_threshold = 64};
    const wire_key_t *keys[2] = {&key, NULL};

    if (!init) {
        wire_key_init(&key, "fuzz");
        init = 1;
    }
    for (int i = 0; i < 2; i++) {
        wire_hdr_t h;
        uint8_t *p = (uint8_t *)1;
        size_t n = 7;
        int rc = wire_decode(keys[i], &lim, data, size, &h, &p, &n);
        if (rc != 0) {
            SH_ASSERT(p == NULL && n == 0);
            continue;
        }
        SH_ASSERT(n <= lim.payload_max && (n == 0) == (p == NULL));
        fuzz_wire_check_roundtrip(keys[i], &lim, &h, p, n);
        free(p);
    }
    return 0;
}
