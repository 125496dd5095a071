/*
 * wire.h - the frame codec: one msgpack map per frame, a fixed header, a
 * payload (lz4-compressed above a threshold) and an HMAC-SHA256 tag.
 *
 * Every inter-node and client frame goes through here.  Decoding is strict
 * and bounded: sizes and counts are checked before anything is allocated,
 * unknown or missing keys, wrong types, trailing bytes and truncation are
 * SH_EMALFORMED.  The exact byte layout is documented in wire.c and in
 * docs/ARCHITECTURE.md.
 *
 * Thread-safety: all functions are reentrant (no shared state).
 */
#ifndef WIRE_H
#define WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 1
#define WIRE_ID_MAX 64       /* incl. NUL */
#define WIRE_ADDR_MAX 64     /* incl. NUL */
#define WIRE_CLUSTER_MAX 64  /* incl. NUL */
#define WIRE_MAC_LEN 32
#define WIRE_FRAME_MAX_DEFAULT (1u << 20)   /* 1 MiB, encoded or decompressed */
#define WIRE_LZ4_THRESHOLD_DEFAULT 1024

enum wire_kind {
    WIRE_KIND_SWIM = 1,   /* membership payload (membership/swim_codec.c) */
    WIRE_KIND_REFUSE = 2, /* "you are refused, because ...": accepted unauthenticated, only logged */
    WIRE_KIND_RPC_REQ = 3, /* an entity call forwarded to its owner (node/rpc_codec.c) */
    WIRE_KIND_RPC_REP = 4, /* the outcome of a forwarded call, same corr_id */
    WIRE_KIND_MAX_ = 16,  /* kinds below this are reserved for later (rpc, handoff, replication) */
};

enum wire_flags {
    WIRE_F_LZ4 = 1u << 0, /* payload is lz4 block-compressed; header carries raw length */
};

typedef struct wire_hdr {
    uint8_t version;  /* WIRE_VERSION */
    uint8_t kind;     /* enum wire_kind */
    uint32_t flags;   /* enum wire_flags; set by the encoder */
    uint64_t corr_id; /* correlation id (0 = none) */
    uint64_t deadline_ms; /* absolute wall-clock deadline, 0 = none */
    char src_id[WIRE_ID_MAX];
    char src_addr[WIRE_ADDR_MAX]; /* where to answer */
    char cluster[WIRE_CLUSTER_MAX];
    uint32_t shards;
} wire_hdr_t;

/* The cluster secret as an HMAC key; an empty secret is a valid (weak) key,
 * so a node with a secret and one without still refuse each other. */
typedef struct wire_key {
    uint8_t key[64];
    size_t len;
} wire_key_t;

/* Copy secret (NULL = empty) into key; secrets longer than 64 bytes are
 * hashed first (as HMAC does).  0 always. */
int wire_key_init(wire_key_t *key, const char *secret);

typedef struct wire_limits {
    size_t frame_max;       /* largest encoded frame (default WIRE_FRAME_MAX_DEFAULT) */
    size_t payload_max;     /* largest decompressed payload (default WIRE_FRAME_MAX_DEFAULT) */
    size_t lz4_threshold;   /* compress payloads longer than this (default 1024) */
} wire_limits_t;

void wire_limits_default(wire_limits_t *lim);

/* Encode a frame.  On 0, *out is a malloc'd buffer of *out_len bytes owned by
 * the caller (free()).  SH_ETOO_BIG if the frame would exceed frame_max,
 * SH_EBAD_REQUEST for over-long strings, -ENOMEM.  h->flags is ignored and
 * computed here; h->version 0 means WIRE_VERSION.  key NULL signs with the
 * empty secret; lim NULL (here and in wire_decode) means the defaults. */
int wire_encode(const wire_key_t *key, const wire_limits_t *lim,
                const wire_hdr_t *h, const uint8_t *payload, size_t len,
                uint8_t **out, size_t *out_len);

/* Decode and authenticate a frame.
 *   0             *h filled; *payload is a malloc'd copy (decompressed) of
 *                 *plen bytes owned by the caller (may be NULL when *plen==0).
 *   SH_EAUTH      the frame parsed but its tag does not verify under key:
 *                 *h is filled (for logging who it claims to be; untrusted),
 *                 *payload is NULL.  key == NULL skips verification.
 *   SH_EMALFORMED structure, types, truncation, trailing bytes, bad lz4.
 *   SH_ETOO_BIG   over frame_max or payload_max.
 *   SH_EVERSION   a version this build does not speak (*h filled).
 *   -ENOMEM
 * On any error *payload is NULL and nothing needs freeing. */
int wire_decode(const wire_key_t *key, const wire_limits_t *lim,
                const uint8_t *buf, size_t len, wire_hdr_t *h,
                uint8_t **payload, size_t *plen);

#endif
