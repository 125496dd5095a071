/*
 * wire_fixture.h - what the frame codec suites share (wire_test.c,
 * wire_frames_test.c): the cluster key, a header with every field at its
 * widest, and decoding that checks nothing leaks on error.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef WIRE_FIXTURE_H
#define WIRE_FIXTURE_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static wire_key_t g_key;

static inline void setup(void)
{
    wire_key_init(&g_key, "cluster-secret");
}

static inline wire_hdr_t hdr_full(void)
{
    wire_hdr_t h;
    memset(&h, 0, sizeof(h));
    h.kind = WIRE_KIND_SWIM;
    h.corr_id = UINT64_MAX;
    h.deadline_ms = 1767225600123ull;
    memset(h.src_id, 'i', WIRE_ID_MAX - 1); /* longest allowed */
    strcpy(h.src_addr, "[2001:db8::1]:7946");
    strcpy(h.cluster, "prod-eu");
    h.shards = 256;
    return h;
}

/* wire_decode's code; on error it must have allocated nothing. */
static inline int decode_rc(const wire_key_t *key, const wire_limits_t *lim,
                     const uint8_t *f, size_t n)
{
    wire_hdr_t d;
    uint8_t *out = (uint8_t *)1;
    size_t olen;
    int rc = wire_decode(key, lim, f, n, &d, &out, &olen);
    if (rc != 0)
        ck_assert_ptr_null(out);
    free(out);
    return rc;
}

#endif
