/*
 * jrnl_rec.h - private to persistence/: LMDB key building and the record
 * codec (the msgpack values of the events, snaps, idem and rems
 * databases).  Pure: no LMDB, no clock, no threads; fuzzed by
 * tests/fuzz/fuzz_jrnl_rec.c.  The byte layout is described in jrnl_rec.c.
 */
#ifndef JRNL_REC_H
#define JRNL_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jrnl.h"

/* LMDB's default (and compiled-in) maximum key size. */
#define JRNL_KEY_MAX 511
/* Largest raw payload a record may carry (well under LZ4_MAX_INPUT_SIZE). */
#define JRNL_REC_RAW_MAX (256u << 20)
/* An idempotency record's message, as jrnl_idem_t.msg (NUL excluded). */
#define JRNL_REC_MSG_MAX 159u

/* ---- growable byte buffer (owned by whoever embeds it) */

typedef struct jrnl_buf {
    uint8_t *p;
    size_t len, cap;
} jrnl_buf_t;

/* Make room for `need` bytes in total (len is untouched).  0 or SH_ENOMEM. */
int jrnl_buf_reserve(jrnl_buf_t *b, size_t need);
/* Free the storage; the buffer is then empty and reusable. */
void jrnl_buf_fini(jrnl_buf_t *b);

/* ---- keys: shard (u32 BE) | type | 0x00 | id | 0x00 [| suffix] */

typedef struct jrnl_key {
    size_t len;
    size_t ent_len; /* length of the entity prefix */
    uint8_t b[JRNL_KEY_MAX];
} jrnl_key_t;

/* The entity key of e.  SH_EBAD_REQUEST if type is NULL/empty or id is
 * NULL, SH_ETOO_BIG if it does not fit a key. */
int jrnl_key_ent(jrnl_key_t *k, const jrnl_ent_t *e);
/* Truncate to the entity prefix and append seq (u64 BE).  SH_ETOO_BIG. */
int jrnl_key_seq(jrnl_key_t *k, uint64_t seq);
/* Truncate to the entity prefix and append s (no terminator).
 * SH_EBAD_REQUEST for NULL or empty s, SH_ETOO_BIG if too long. */
int jrnl_key_name(jrnl_key_t *k, const char *s);
/* Split a stored key into its entity prefix: *ent_len is the prefix length,
 * type/id point into p (NUL-terminated there).  SH_ECORRUPT if p is not
 * shard|type|0|id|0... */
int jrnl_key_split(const uint8_t *p, size_t n, uint32_t *shard, const char **type,
                   const char **id, size_t *ent_len);
uint64_t jrnl_be64_get(const uint8_t *p);
void jrnl_be64_put(uint8_t *p, uint64_t v);

/* ---- events buffer: n records [u32 native-endian length][bytes] */

/* 0 if ev/len holds exactly n well-formed records, else SH_EBAD_REQUEST. */
int jrnl_ev_check(const uint8_t *ev, size_t len, uint32_t n);

/* ---- records */

enum jrnl_rec_kind { JRNL_REC_EVENT = 0, JRNL_REC_SNAP, JRNL_REC_IDEM, JRNL_REC_REM };

/* A decoded (or to-be-encoded) record.  Pointers are borrowed: from the
 * encoded input, or from the caller's scratch buffer for a decompressed
 * payload.  Which fields mean something depends on the kind. */
typedef struct jrnl_rec {
    uint64_t wall_ms;       /* event/snap: time; idem: expiry; rem: due */
    const uint8_t *data;    /* raw payload (event, snapshot, idem reply, rem spec) */
    size_t len;
    uint64_t seq;           /* snap: seq covered */
    int status;             /* idem: 0 or a negative code */
    const char *msg;        /* idem: not NUL-terminated */
    size_t msg_len;
    uint64_t period_ms;     /* rem */
    int64_t reps;           /* rem: -1 unlimited */
    uint64_t ttl_wall_ms;   /* rem */
    const uint8_t *rdata;   /* rem: "data" JSON or NULL */
    size_t rdata_len;
} jrnl_rec_t;

/* Encode r into out (out->len is set; previous content is replaced),
 * lz4-compressing a payload longer than lz4_min when that saves space; z
 * is compression scratch.  0, SH_ETOO_BIG, SH_EBAD_REQUEST (a field out of
 * range) or SH_ENOMEM. */
int jrnl_rec_encode(enum jrnl_rec_kind kind, const jrnl_rec_t *r, uint32_t lz4_min,
                    jrnl_buf_t *out, jrnl_buf_t *z);

/* Strictly decode p/n as a record of `kind`: every size is checked against
 * the bytes left and the limits above before use, the checksum is
 * verified, an lz4 payload is inflated into scratch (so out->data is valid
 * until scratch is reused or freed).  0 or SH_ECORRUPT with a reason in
 * err (errlen bytes, may be 0). */
int jrnl_rec_decode(enum jrnl_rec_kind kind, const uint8_t *p, size_t n, jrnl_rec_t *out,
                    jrnl_buf_t *scratch, char *err, size_t errlen);

/* The fields before the payload only: no checksum, no inflation (out->data
 * is NULL).  For cheap looks at big records (a snapshot's seq).  0 or
 * SH_ECORRUPT. */
int jrnl_rec_peek(enum jrnl_rec_kind kind, const uint8_t *p, size_t n, jrnl_rec_t *out);

#endif
