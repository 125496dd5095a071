/*
 * swim_io.h - the SWIM core's adapter to the real world: nng transport,
 * wire frames and a libuv loop.
 *
 * The adapter owns a swim_t, a tp_t and two libuv handles (a timer and an
 * async).  Frames arrive on nng threads, are queued (bounded MPSC) and
 * handled on the loop: decoded and authenticated (wire_decode), checked
 * against our cluster name and shard count, and handed to swim_recv.  After
 * every input the adapter drains swim_next_output (sends are framed and
 * queued on the transport, events are logged) and re-arms the timer to
 * swim_next_deadline.  Frames from nodes that fail authentication or belong
 * to another cluster are answered with a WIRE_KIND_REFUSE frame, and the
 * refusals we receive are logged and kept for /readyz.
 *
 * Thread: everything here runs on the loop thread, except where noted.
 */
#ifndef SWIM_IO_H
#define SWIM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "swim.h"
#include "tp.h"
#include "wire.h"

/* Why a received (or, for the transport reasons, sent) frame was dropped.
 * The names are the `reason` label of shoal_frames_dropped_total. */
#define SWIM_IO_DROP_MAP(X)                                                    \
    X(MALFORMED, "malformed")                                                  \
    X(TOO_BIG, "too_big")                                                      \
    X(AUTH, "auth")                                                            \
    X(VERSION, "version")                                                      \
    X(CLUSTER, "cluster")                                                      \
    X(UNKNOWN_KIND, "unknown_kind")                                            \
    X(FAULT, "fault")                                                          \
    X(QUEUE_FULL, "queue_full")                                                \
    X(SEND_TIMEOUT, "send_timeout")                                            \
    X(SEND_ERROR, "send_error")

enum swim_io_drop {
#define SWIM_IO_DROP_ENUM_(name, label) SWIM_IO_DROP_##name,
    SWIM_IO_DROP_MAP(SWIM_IO_DROP_ENUM_)
#undef SWIM_IO_DROP_ENUM_
    SWIM_IO_DROP_COUNT
};

/* "malformed", "too_big", ...; "?" out of range. */
const char *swim_io_drop_name(int reason);

typedef struct swim_io_config {
    uv_loop_t *loop;
    const char *self_id;
    const char *bind_addr;      /* tp listen address */
    const char *advertise_addr; /* in every frame header; peers answer here */
    const char *cluster;
    const char *secret;         /* NULL or "" = no secret */
    uint32_t shards;
    uint32_t incarnation;       /* starting incarnation (persisted + 1) */
    uint64_t seed;              /* for the core's PRNG */
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t suspicion_mult;
    uint32_t pushpull_interval_ms;
} swim_io_config_t;

typedef struct swim_io swim_io_t;

/* Counters the adapter keeps (transport counters come from tp_stats_get). */
typedef struct swim_io_counters {
    uint64_t dropped[SWIM_IO_DROP_COUNT]; /* adapter drops only */
    uint64_t frames_in, frames_out;       /* every frame received / queued */
    uint64_t gossip_bytes_in, gossip_bytes_out; /* wire bytes of SWIM frames */
    uint64_t refusals_sent, refusals_received;
} swim_io_counters_t;

/* Create the core, start the transport listening on bind_addr and init the
 * loop handles.  0; SH_EBAD_REQUEST for a bad config; -EADDRINUSE or
 * another code from tp_new; -ENOMEM.  On error nothing is left open.  The
 * caller owns *out and must call swim_io_close, let the loop run until the
 * handles are closed, then swim_io_free. */
int swim_io_new(swim_io_t **out, const swim_io_config_t *cfg);

/* Begin joining through the seeds (copied).  0 always: an empty list (or one
 * naming only ourselves) makes this node a cluster of one, ready at once. */
int swim_io_join(swim_io_t *io, const char *const *seeds, size_t n);

/* Graceful leave: the core marks self `left` and the news is queued on the
 * transport right away.  Inputs after this are ignored by the core.  The
 * caller keeps the loop (and so the transport) running for a short grace
 * so the frames reach the peers. */
int swim_io_leave(swim_io_t *io);

/* Stop: free the transport (no nng callback runs after this), drop the
 * queued inputs and start closing the libuv handles.  Idempotent.  The
 * memory stays valid until swim_io_free. */
void swim_io_close(swim_io_t *io);

/* Free everything; call after swim_io_close once the loop has run the close
 * callbacks (uv_run returned).  Accepts NULL. */
void swim_io_free(swim_io_t *io);

/* The core, for read-only queries (member list, stats). */
const swim_t *swim_io_core(const swim_io_t *io);
/* The transport, for stats and fault injection (tp_* are thread-safe).
 * NULL after swim_io_close. */
tp_t *swim_io_tp(swim_io_t *io);

/* True once a member other than self answered (or there were no seeds). */
bool swim_io_joined(const swim_io_t *io);
/* Last refusal a peer sent us ("peer 1.2.3.4:7946 refused us: reason: ..."),
 * or "" if none.  Valid until the next loop iteration. */
const char *swim_io_refused_reason(const swim_io_t *io);

void swim_io_counters_get(const swim_io_t *io, swim_io_counters_t *out);

/* ---- other users of the cluster transport (the node's RPC) ------------
 *
 * The adapter owns the transport and the cluster key, so every frame kind
 * goes through it: frames of kinds other than SWIM and REFUSE are decoded,
 * authenticated and checked against our cluster name and shard count
 * exactly like SWIM frames, then handed to `on_frame`.  Without a handler
 * they are dropped as unknown_kind. */

/* A received frame of another kind.  `h` and `payload` are valid only
 * during the call (copy what you keep).  Loop thread. */
typedef void (*swim_io_frame_fn)(void *udata, const wire_hdr_t *h, const uint8_t *payload,
                                 size_t len);
/* A member's state or incarnation changed (also self), after the core
 * applied it: the view the core now holds.  Loop thread. */
typedef void (*swim_io_member_fn)(void *udata, const swim_member_view_t *m,
                                  enum swim_state old_state, bool is_new);

/* Install the handlers (either may be NULL); replaces earlier ones.  Call
 * before swim_io_join so no event is missed.  Loop thread. */
void swim_io_set_handlers(swim_io_t *io, swim_io_frame_fn on_frame,
                          swim_io_member_fn on_member, void *udata);

/* Frame `payload` (copied) as `kind` under our header, with corr_id and
 * the absolute wall-clock deadline (0 = none), and queue it for `to`.
 * Counted in frames_out, or in dropped{reason} on failure.
 *   0                queued (the network may still lose it);
 *   SH_EFULL         the peer's queue (or the peer table) is full;
 *   SH_ECLOSED       the adapter is closed;
 *   SH_ETOO_BIG      over the frame limit;
 *   SH_EBAD_REQUEST  `to` is not HOST:PORT;  -ENOMEM.
 * Loop thread. */
int swim_io_send(swim_io_t *io, uint8_t kind, const char *to, uint64_t corr_id,
                 uint64_t deadline_wall_ms, const uint8_t *payload, size_t len);

/* The address peers reach us at (--advertise), as sent in headers. */
const char *swim_io_self_addr(const swim_io_t *io);

#endif
