/*
 * swim_codec.h - the SWIM payload codec (module-internal, also used by the
 * fuzzer and the unit tests).
 *
 * A payload is one msgpack map; the layout is documented at the top of
 * swim_codec.c.  Decoding is strict and bounded: every count and string
 * length is checked against the bytes that remain before anything is
 * allocated, and the decoded message *borrows* its strings from the input
 * buffer (swim_str_t views, not NUL-terminated), so a decode allocates at
 * most two arrays of 40-byte update views, each smaller than 6x the input.
 *
 * Thread-safety: all functions are reentrant.
 */
#ifndef SWIM_CODEC_H
#define SWIM_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "swim.h"

enum swim_msg_type {
    SWIM_MSG_PING = 1,     /* direct probe: seq, target id */
    SWIM_MSG_ACK = 2,      /* answer to a PING (or relayed for a PING_REQ): seq */
    SWIM_MSG_PING_REQ = 3, /* "probe target for me": seq, target id + addr */
    SWIM_MSG_NACK = 4,     /* Lifeguard: relay got the PING_REQ, target was silent */
    SWIM_MSG_SYNC = 5,     /* push-pull: full state, join flag */
    SWIM_MSG_SYNC_ACK = 6, /* push-pull answer: full state */
    SWIM_MSG_GOSSIP = 7,   /* piggyback only (graceful leave) */
    SWIM_MSG_TYPE_MAX_ = 7,
};

/* A borrowed byte string; len == 0 means absent. */
typedef struct swim_str {
    const char *p;
    uint32_t len;
} swim_str_t;

/* One member update {id, addr, state, incarnation[, by]}.  `by` is only
 * present on a SUSPECT update: the member that accuses (Lifeguard counts
 * distinct accusers as independent confirmations). */
typedef struct swim_update {
    swim_str_t id, addr, by;
    uint8_t state;
    uint32_t incarnation;
} swim_update_t;

typedef struct swim_msg {
    uint8_t type; /* enum swim_msg_type */
    uint32_t seq;
    swim_str_t from_id, from_addr;
    swim_str_t target_id;   /* PING, PING_REQ */
    swim_str_t target_addr; /* PING_REQ */
    bool join;              /* SYNC */
    const swim_update_t *gossip; /* piggybacked updates, any type */
    size_t n_gossip;
    const swim_update_t *members; /* SYNC, SYNC_ACK: full state */
    size_t n_members;
} swim_msg_t;

/* The smallest encoded update: fixarray + 2-byte id + 2-byte addr + state
 * + incarnation.  Used to bound counts against the remaining input. */
#define SWIM_UPDATE_MIN_BYTES 7u
/* Upper bound of everything in a message except its two update arrays. */
#define SWIM_MSG_OVERHEAD_MAX 320u

/* Encoded size of one update, exactly. */
size_t swim_update_size(const swim_update_t *u);

/* Encode m into a fresh malloc'd buffer (*out, *out_len; the caller frees
 * it).  0; SH_EBAD_REQUEST if a field is invalid (bad type, empty or
 * over-long id/addr, state > 3); SH_ETOO_BIG if the payload would exceed
 * max_bytes; -ENOMEM. */
int swim_msg_encode(const swim_msg_t *m, size_t max_bytes, uint8_t **out,
                    size_t *out_len);

/* Decode p[0..len) into *m.  On 0, m's strings point into p (p must outlive
 * m) and swim_msg_fini(m) must be called.  SH_ETOO_BIG if len > max_bytes;
 * SH_EMALFORMED for truncation, trailing bytes, wrong types, unknown or
 * duplicate or missing keys, an unknown type, ids/addrs empty, longer than
 * 63 bytes or holding a NUL, state > 3, integers out of range; -ENOMEM.
 * On error nothing needs freeing. */
int swim_msg_decode(const uint8_t *p, size_t len, size_t max_bytes,
                    swim_msg_t *m);

/* Free what swim_msg_decode allocated.  Accepts a zeroed msg. */
void swim_msg_fini(swim_msg_t *m);

/* A view of a NUL-terminated C string (NULL -> empty). */
swim_str_t swim_str_of(const char *s);
/* True if the two views hold the same bytes. */
bool swim_str_eq(swim_str_t a, swim_str_t b);

#endif
