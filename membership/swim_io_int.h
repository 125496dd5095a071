/*
 * swim_io_int.h - shared between swim_io.c (lifecycle, loop plumbing,
 * outputs) and swim_io_frame.c (incoming frames, refusals).  Not for use
 * outside membership/swim_io*.c.
 */
#ifndef SWIM_IO_INT_H
#define SWIM_IO_INT_H

#include "sh_mpsc.h"
#include "swim_io.h"
#include "wire.h"

#define SWIM_IO_INBOX_CAP 8192          /* queued inputs from nng threads */
#define SWIM_IO_RATE_SLOTS 64           /* peers remembered per rate limiter */
#define SWIM_IO_REFUSE_INTERVAL_MS 10000 /* one refusal/log per peer per 10 s */
#define SWIM_IO_REASON_MAX 512
/* Frame and payload room beyond 1 MiB, so a forwarded call or reply with a
 * full 1 MiB body fits: the largest RPC envelope (node/rpc_codec.c: map,
 * six keys, a 63-byte type, 255-byte id and 127-byte method with their
 * headers, bin32 header, kind, hops) is under 500 bytes, and the largest
 * frame header with its tag under 300.  Still below tp's receive cap
 * (1 MiB + 4 KiB) and below the oversize frames of the garbage test
 * (tests/integration/inject.c: 1 MiB + 1 KiB), which must stay too_big. */
#define SWIM_IO_ENVELOPE_SLACK 1000

/* Remembers when we last acted for a key (a peer address), so a
 * misconfigured or hostile peer costs one log line and one refusal per
 * interval, not one per frame.  Fixed size: the oldest entry is evicted. */
typedef struct swim_io_rate {
    char key[SWIM_ADDR_MAX];
    uint64_t last_ms;
    bool used;
} swim_io_rate_t;

enum swim_io_msg_kind { SWIM_IO_MSG_FRAME = 1, SWIM_IO_MSG_DOWN = 2 };

/* One input handed from an nng thread to the loop. */
typedef struct swim_io_msg {
    enum swim_io_msg_kind kind;
    uint8_t *frame; /* FRAME: malloc'd, owned by the message */
    size_t len;
    char addr[SWIM_ADDR_MAX]; /* DOWN: the peer whose connection dropped */
} swim_io_msg_t;

struct swim_io {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_async_t async;
    bool handles_init; /* timer and async were initialised */
    bool closed;
    bool leaving;
    int ready; /* atomic: the async handle may be signalled */

    swim_t *core;
    tp_t *tp;
    sh_mpsc_t inbox;
    wire_key_t key;
    wire_limits_t lim;

    char self_id[SWIM_ID_MAX];
    char bind[SWIM_ADDR_MAX];
    char advertise[SWIM_ADDR_MAX];
    char cluster[WIRE_CLUSTER_MAX];
    uint32_t shards;

    bool joined;
    char refused_reason[SWIM_IO_REASON_MAX];

    /* Loop-only counters, except the two atomics written by nng threads. */
    swim_io_counters_t ctr;
    uint64_t frames_in_atomic;   /* __atomic: counted in tp's callback */
    uint64_t inbox_full_atomic;  /* __atomic: inputs lost to a full inbox */

    swim_io_rate_t refuse_rl[SWIM_IO_RATE_SLOTS];  /* frame_refused + REFUSE sent */
    swim_io_rate_t refused_rl[SWIM_IO_RATE_SLOTS]; /* refused_by_peer logs */
    swim_io_rate_t bad_rl[SWIM_IO_RATE_SLOTS];     /* malformed/version logs */

    /* Other users of the transport (swim_io_set_handlers). */
    swim_io_frame_fn on_frame;
    swim_io_member_fn on_member;
    void *handler_udata;
};

/* Decode, check and dispatch one received frame (loop thread).  Never
 * frees buf. */
void swim_io_frame_handle(swim_io_t *io, uint64_t now_ms, const uint8_t *buf, size_t len);

/* Frame `payload` under our header (kind, self id/addr, cluster, shards)
 * and queue it for `to`.  Counts frames_out / gossip bytes, or the drop
 * reason.  The payload stays the caller's.  (swim_io_send with no corr id
 * and no deadline, its result ignored: SWIM tolerates loss.) */
void swim_io_send_frame(swim_io_t *io, uint8_t kind, const char *to,
                        const uint8_t *payload, size_t len);

/* True (and the slot stamped) if `key` has not been seen in the last
 * interval_ms.  Bounded: evicts the least recently stamped slot. */
bool swim_io_rate_allow(swim_io_rate_t *tab, size_t n, const char *key,
                        uint64_t now_ms, uint64_t interval_ms);

/* Copy untrusted text for a log line: printable ASCII only (others become
 * '?'); with `quoted`, '"' and '\\' are replaced too, else ' ' as well.
 * Always NUL-terminates. */
void swim_io_safe(char *dst, size_t cap, const char *src, bool quoted);

#endif
