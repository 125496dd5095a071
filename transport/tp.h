/*
 * tp.h - the cluster transport: nng over TCP, per-peer bounded send queues,
 * timeouts, and fault injection.
 *
 * One PULL socket listens on the bind address for frames from everyone.
 * Each peer address gets its own PUSH socket and dialer, a bounded queue
 * (frames and bytes) and at most one send in flight with a timeout, so a
 * dead or slow peer fills only its own queue and never delays traffic to
 * others.  Frames are opaque bytes here (wire.h gives them meaning).
 *
 * Threads: tp_send, tp_fault_* and tp_stats_get may be called from any
 * thread.  Callbacks run on nng's threads: they must only hand work off
 * (MPSC queue + uv_async_send), never block.
 */
#ifndef TP_H
#define TP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tp tp_t;

/* Longest "host:port" accepted anywhere here, incl. NUL (as WIRE_ADDR_MAX). */
#define TP_ADDR_MAX 64
/* Fault table bound (tp_fault_set). */
#define TP_FAULT_MAX 64

/* Receive callback: `frame` (len bytes, malloc'd) belongs to the callee,
 * which frees it with free().  Called on an nng thread. */
typedef void (*tp_recv_cb)(void *udata, uint8_t *frame, size_t len);
/* The connection to a peer we send to dropped (remote closed it: process
 * exit or crash).  Called on an nng thread; `addr` is valid only during the
 * call. */
typedef void (*tp_down_cb)(void *udata, const char *addr);

typedef struct tp_config {
    const char *bind_addr;      /* "host:port" to listen on */
    size_t recv_max_bytes;      /* larger frames are dropped by nng (default 1 MiB + 4 KiB) */
    size_t peer_queue_frames;   /* per-peer queue bound in frames (default 1024) */
    size_t peer_queue_bytes;    /* per-peer queue bound in bytes (default 8 MiB) */
    uint32_t send_timeout_ms;   /* one send's deadline; on expiry the frame is dropped (default 1000) */
    uint32_t reconnect_min_ms;  /* dialer backoff (default 100) */
    uint32_t reconnect_max_ms;  /* (default 1000) */
    size_t max_peers;           /* peer table bound (default 8192) */
    tp_recv_cb on_recv;
    tp_down_cb on_peer_down;    /* may be NULL */
    void *udata;
    /* A peer whose dialer has not connected once in this long, with an
     * empty queue, is forgotten (default 60000; 0 means the default). */
    uint32_t dial_evict_ms;
} tp_config_t;

void tp_config_default(tp_config_t *cfg);

/* Listen and start receiving.  0, SH_EBAD_REQUEST for a bad address,
 * -EADDRINUSE, or another -errno / SH_E* translated from nng (the nng text
 * is logged).  The caller owns *out. */
int tp_new(tp_t **out, const tp_config_t *cfg);
/* Stop receiving, drop queued frames, close sockets; no callback runs after
 * tp_free returns.  Accepts NULL. */
void tp_free(tp_t *t);

/* Queue `frame` for `addr`.  On 0 the transport owns frame (and frees it
 * once sent or dropped).  SH_EFULL: the peer's queue is full, SH_ECLOSED:
 * transport closing, SH_EFULL also when the peer table is full,
 * SH_EBAD_REQUEST when addr is not "host:port" (port 1..65535, shorter than
 * TP_ADDR_MAX), -ENOMEM; on any error the caller still owns frame.
 * Idle peers whose connection dropped (or never came up) are forgotten
 * lazily from here; sending to such an address again simply dials anew.
 * Must not be called from a tp callback (eviction closes sockets, and
 * nng_close waits for callbacks).  A frame
 * dropped by an injected fault returns 0 (it looks like network loss). */
int tp_send(tp_t *t, const char *addr, uint8_t *frame, size_t len);

/* Fault injection for tests, the simulator's real-network twin and chaos.
 * Applies to frames sent to `addr` (NULL: every peer) and, through
 * tp_fault_blocks_incoming, to frames received from it. */
typedef struct tp_fault {
    double drop_prob;   /* 0..1: drop each frame with this probability */
    uint32_t delay_ms;  /* hold each frame this long before sending */
    bool cut;           /* drop everything both ways */
} tp_fault_t;

/* 0, SH_EFULL if the fault table is full, SH_EBAD_REQUEST for drop_prob
 * outside [0, 1] or an over-long addr.  An all-zero fault clears it.  When
 * several entries match a peer (its own and the NULL one) they combine:
 * cut if any is cut, drop probabilities compose, the longest delay wins. */
int tp_fault_set(tp_t *t, const char *addr, const tp_fault_t *f);
void tp_fault_clear_all(tp_t *t);
/* True if frames from `src_addr` must be dropped (cut link).  The adapter
 * calls this after decoding the header, since only the header names the
 * sender. */
bool tp_fault_blocks_incoming(tp_t *t, const char *src_addr);

typedef struct tp_stats {
    uint64_t frames_out, bytes_out, frames_in, bytes_in;
    uint64_t drop_queue_full, drop_send_timeout, drop_send_error, drop_fault;
    uint64_t peers_down;
    uint64_t queued_frames; /* currently queued, all peers */
    uint64_t peers_evicted; /* peers forgotten: down or never connected, idle */
    uint64_t peers;         /* currently in the peer table */
} tp_stats_t;

void tp_stats_get(tp_t *t, tp_stats_t *out);

/* The TCP port the listener actually bound: with bind_addr "host:0" the
 * kernel picks a free one (tests, ephemeral nodes).  >0, or SH_E*. */
int tp_bound_port(tp_t *t);

/* Reseed the RNG behind drop_prob (by default seeded from the clock and
 * pid), so that a test or a chaos run can repeat its drop pattern. */
void tp_fault_seed(tp_t *t, uint64_t seed);

#endif
