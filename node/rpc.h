/*
 * rpc.h - forwarding entity calls between nodes over the cluster transport.
 *
 * A node that does not own a call's shard forwards the call to the owner
 * it sees, as a WIRE_KIND_RPC_REQ frame; the owner runs it (or forwards it
 * again when its view differs) and answers with a WIRE_KIND_RPC_REP frame
 * carrying the same correlation id, sent to the request's src_addr.
 *
 * Header fields used: corr_id (the pending call on the sender), and
 * deadline_ms - the call's deadline as WALL-clock milliseconds, because
 * monotonic clocks of two machines share no epoch.  Each side converts at
 * this boundary (mono -> wall when sending, wall -> mono when receiving),
 * so a skew between the machines' wall clocks shortens or stretches the
 * remote part of a deadline by that skew, never more.  The sender enforces
 * the deadline itself anyway (the pending table times out), so a call's
 * caller is always answered by its own deadline.
 *
 * Payloads (msgpack, one fixmap with full-name keys in a fixed order,
 * decoded strictly by hand: see rpc_codec.c):
 *   request  {"type": str, "id": str, "method": str, "body": bin,
 *             "kind": uint, "hops": uint[, "idem": str]}
 *            ("idem", the call's idempotency key, only when it has one)
 *   reply    {"status": int, "errmsg": str, "reply": bin}
 *
 * Thread: an rpc_t belongs to the node loop; nothing here is thread-safe.
 * The functions call the callbacks of rpc_config_t synchronously.
 */
#ifndef RPC_H
#define RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "wire.h"

#define RPC_PENDING_MAX 65536        /* forwarded calls awaiting a reply */
#define RPC_PROBE_MAX 64             /* correlation ids tried for a free slot */
#define RPC_DEADLINE_MAX_MS 3600000u /* a received deadline further out is clamped */

/* ---- payload codec (rpc_codec.c; pure, fuzzed) ------------------------- */

/* A decoded request.  Strings are NUL-terminated copies; body points into
 * the decoded buffer (borrowed: valid while that buffer is). */
typedef struct rpc_req {
    uint8_t kind; /* enum call_kind, checked: CALL_ASK .. RPC_CALL_KIND_MAX */
    uint8_t hops;
    char type[SHOAL_TYPE_NAME_MAX];  /* 1..63 bytes */
    char id[SHOAL_ENTITY_ID_MAX];    /* 1..255 bytes */
    char method[SHOAL_METHOD_MAX];   /* 0..127 bytes */
    const uint8_t *body;             /* NULL when len == 0 */
    size_t len;                      /* 0..CALL_BODY_MAX */
    char idem_key[CALL_IDEM_MAX];    /* "" (none) or 1..128 bytes, no NUL */
} rpc_req_t;

/* A decoded reply; reply borrowed like rpc_req_t.body. */
typedef struct rpc_rep {
    int status;                /* 0 or a negative code, -9099..0 */
    char errmsg[CALL_MSG_MAX]; /* 0..255 bytes */
    const uint8_t *reply;
    size_t len;                /* 0..CALL_BODY_MAX */
} rpc_rep_t;

/* Highest call kind a request may carry. */
#define RPC_CALL_KIND_MAX CALL_KIND_MAX

/* Encode call c as a request that has been forwarded `hops` times; its
 * idempotency key travels with it when not "".  On 0, *out is malloc'd
 * (*len bytes) and owned by the caller.  SH_EBAD_REQUEST for names or a
 * key out of bounds (not NUL-terminated in their arrays), SH_ETOO_BIG for
 * a body over CALL_BODY_MAX, -ENOMEM. */
int rpc_req_encode(const call_t *c, uint8_t hops, uint8_t **out, size_t *len);
/* 0, or SH_EMALFORMED for anything but exactly the documented layout
 * (wrong type, key, order or count, a string with a NUL or over its bound,
 * truncation, trailing bytes), SH_ETOO_BIG for a body over CALL_BODY_MAX.
 * Nothing is allocated. */
int rpc_req_decode(const uint8_t *p, size_t len, rpc_req_t *out);

/* Encode an outcome.  errmsg may be NULL (= "").  Same codes as
 * rpc_req_encode. */
int rpc_rep_encode(int status, const char *errmsg, const uint8_t *reply, size_t rlen,
                   uint8_t **out, size_t *len);
int rpc_rep_decode(const uint8_t *p, size_t len, rpc_rep_t *out);

/* ---- the forwarding endpoint (rpc.c) ----------------------------------- */

/* Queue one frame for `to` (the transport; swim_io_send in shoald).  0, or
 * a negative code (SH_EFULL: the peer's queue is full). */
typedef int (*rpc_send_fn)(void *udata, uint8_t kind, const char *to, uint64_t corr,
                           uint64_t deadline_wall_ms, const uint8_t *payload, size_t len);
/* A request arrived and became call c (ownership passes): route it.
 * `from` is the request frame's src_id, the node that forwarded it (or a
 * native client's id), borrowed for the duration of the callback. */
typedef void (*rpc_deliver_fn)(void *udata, call_t *c, const char *from);

typedef struct rpc_config {
    uint32_t shards;         /* S, for call_new */
    size_t pending_max;      /* power of two; 0 = RPC_PENDING_MAX */
    uint64_t corr_seed;      /* first correlation id (random in shoald, so a
                                restarted node cannot match its previous
                                life's late replies) */
    rpc_send_fn send;
    rpc_deliver_fn deliver;
    /* on_done of the calls made from incoming requests.  It must hand the
     * call back to the loop that owns this rpc_t, which then passes it to
     * rpc_reply (see call.h: on_done runs on the completing thread). */
    call_done_fn origin_done;
    void *udata;
} rpc_config_t;

typedef struct rpc rpc_t;

typedef struct rpc_stats {
    uint64_t forwards;        /* requests sent */
    uint64_t requests_in;     /* requests received (valid or not) */
    uint64_t replies_in;      /* replies matched to a pending call */
    uint64_t late_replies;    /* replies for no pending call: dropped */
    uint64_t timeouts;        /* pending calls expired by rpc_sweep */
    uint64_t bad_frames;      /* undecodable requests or replies */
    uint64_t send_failed;     /* requests or replies the transport refused */
    uint64_t pending;         /* gauge */
} rpc_stats_t;

/* 0, SH_EBAD_REQUEST (pending_max not a power of two, missing callback),
 * -ENOMEM.  The caller owns *out. */
int rpc_new(rpc_t **out, const rpc_config_t *cfg);
/* Completes whatever is still pending with SH_ECLOSED, then frees.
 * Accepts NULL. */
void rpc_free(rpc_t *r);

/* Forward call c to the node at `to`, as forwarded c->hops + 1 times.
 *   0               sent; the rpc owns c until the reply or the deadline,
 *                   then completes it (call_complete) exactly once;
 *   SH_ETIMEOUT     c's deadline has already passed;
 *   SH_EBUSY        the pending table is full;
 *   SH_EUNAVAILABLE the transport refused the frame (peer queue full,
 *                   closed);
 *   other <0        from encoding (SH_ETOO_BIG, SH_EBAD_REQUEST, -ENOMEM).
 * On error the caller still owns c (and completes it). */
int rpc_forward(rpc_t *r, call_t *c, const char *to, uint64_t now_mono, uint64_t now_wall);

/* A frame of kind RPC_REQ or RPC_REP (authenticated by the adapter).
 * Requests become calls (deliver) or, when undecodable or already
 * expired, get an error reply at once; replies complete their pending
 * call, or are counted late and dropped. */
void rpc_on_frame(rpc_t *r, const wire_hdr_t *h, const uint8_t *payload, size_t len,
                  uint64_t now_mono, uint64_t now_wall);

/* True if c was made by this rpc from an incoming request. */
bool rpc_is_origin(const rpc_t *r, const call_t *c);
/* For origin_done: the udata of the rpc_t that made c (any thread; c was
 * made by an rpc_t, so done_arg is its origin record). */
void *rpc_origin_udata(const call_t *c);
/* c (completed, rpc_is_origin) goes home: its outcome is sent to the node
 * that asked, and c is freed. */
void rpc_reply(rpc_t *r, call_t *c);

/* Complete every pending call whose deadline is <= now_mono with
 * SH_ETIMEOUT.  Returns the next deadline (monotonic ms), UINT64_MAX if
 * nothing is pending. */
uint64_t rpc_sweep(rpc_t *r, uint64_t now_mono);
uint64_t rpc_next_deadline(const rpc_t *r);
/* Complete every pending call with `code` (shutdown: SH_ECLOSED). */
void rpc_fail_all(rpc_t *r, int code, const char *msg);

void rpc_stats_get(const rpc_t *r, rpc_stats_t *out);

#endif
