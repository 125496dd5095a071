/*
 * shoal/client.h - the native client: call entities of a Shoal cluster
 * from a C program over the cluster's own transport (nng over TCP).
 *
 * A client talks to one node (any node: the node routes each call to the
 * owner of its shard).  It speaks the frames nodes use to forward calls to
 * one another - an RPC request signed with the cluster secret, answered by
 * an RPC reply with the same correlation id - so it needs the cluster's
 * name, secret and shard count, exactly as a node would.  It listens on
 * its own TCP port for the replies (the "reply address"), which the node
 * must be able to reach.  Holding the secret, a client is as trusted as a
 * node: give it only to programs you would let join the cluster (others
 * use the HTTP API).
 *
 *   shoal_client_t *c;
 *   shoal_client_config_t cfg = {.node_addr = "127.0.0.1:7946",
 *                                .secret = getenv("SHOAL_SECRET")};
 *   if (shoal_client_new(&c, &cfg) == 0) {
 *       uint8_t *rep; size_t n; char msg[256];
 *       int rc = shoal_client_invoke(c, "counter", "c1", "add", "{\"by\":1}", 8,
 *                                    0, &rep, &n, msg, sizeof msg);
 *       ...  free(rep);
 *       shoal_client_free(c);
 *   }
 *
 * Semantics.  A call is sent once and never retried by the client (a
 * retried `add` would add twice); a caller may retry the codes the API
 * calls retryable (busy, unavailable, timeout).  Every call has a
 * deadline; the client answers it by that deadline whatever the network
 * does (no reply in time: SHOAL_ETIMEOUT; the node may still run the call).
 * The node clamps a deadline to one hour (the HTTP API accepts 1..60000 ms).
 *
 * Threads.  A client may be used by any number of threads at once:
 * shoal_client_invoke and shoal_client_invoke_async are thread-safe.
 * shoal_client_new and shoal_client_free are not (no other call on the
 * client may run during them).  The client owns two internal threads
 * (nng's receive thread and a deadline thread); async callbacks run on
 * those.
 *
 * Codes.  Functions return 0 or a negative code: the SHOAL_E* codes of
 * shoal/error.h (the same numbers and names as the HTTP API's errorCode),
 * or -ENOMEM when a local allocation fails.  Codes of the daemon's
 * internal table that have no public number are mapped to the public code
 * with the same API name (e.g. a refused frame -> SHOAL_EUNAVAILABLE).
 */
#ifndef SHOAL_CLIENT_H
#define SHOAL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/error.h"

#define SHOAL_CLIENT_TIMEOUT_DEFAULT_MS 5000u
#define SHOAL_CLIENT_PENDING_DEFAULT 4096u
#define SHOAL_CLIENT_BODY_MAX (1u << 20) /* request and reply bodies */
#define SHOAL_CLIENT_ERRMSG_MAX 256      /* incl. NUL: messages are cut here */
#define SHOAL_CLIENT_IDEM_MAX 128        /* idempotency key, bytes (excl. NUL) */

typedef struct shoal_client shoal_client_t;

typedef struct shoal_client_config {
    /* "host:port" of a node's cluster address (shoald --bind / --advertise).
     * Required. */
    const char *node_addr;
    /* Must equal the cluster's --cluster, --secret and --shards, or the
     * node refuses every frame.  NULL / 0: "shoal", no secret, 256. */
    const char *cluster;
    const char *secret;
    uint32_t shards;
    /* Deadline of a call whose timeout_ms is 0.  0: 5000 ms. */
    uint32_t timeout_ms;
    /* Calls in flight at once; more answer SHOAL_EBUSY.  Rounded up to a
     * power of two.  0: SHOAL_CLIENT_PENDING_DEFAULT. */
    uint32_t max_pending;
    /* "host:port" to listen on for replies.  NULL: the local address the
     * kernel would use to reach node_addr, port chosen by the kernel.  Port
     * 0 also means "chosen by the kernel"; host "0.0.0.0" listens on every
     * interface and advertises the address that reaches node_addr. */
    const char *reply_addr;
} shoal_client_config_t;

/* Outcome of an asynchronous call.  status is 0 with the entity's reply,
 * or a negative code with reply NULL; errmsg is "" or a message (for a
 * handler error, the handler's own message).  reply and errmsg are
 * borrowed: valid only during the callback. */
typedef void (*shoal_client_done_fn)(void *udata, int status, const uint8_t *reply,
                                     size_t len, const char *errmsg);

/* Create a client: resolve the reply address, listen on it and start the
 * deadline thread.  No frame is sent yet (a node that is down shows up as
 * the first call's SHOAL_ETIMEOUT, not here).
 *   0                   *out is a client owned by the caller (shoal_client_free);
 *   SHOAL_EBAD_REQUEST  node_addr missing or not "host:port", a bad
 *                       reply_addr, a name that does not resolve, strings
 *                       over their bound (cluster 63 bytes);
 *   SHOAL_EUNAVAILABLE  the reply address cannot be bound;
 *   -ENOMEM, or another -errno from the OS.
 * Thread: any, but not concurrently with other calls on the same client. */
int shoal_client_new(shoal_client_t **out, const shoal_client_config_t *cfg);

/* Close the listener, stop the threads, and complete every call still in
 * flight with SHOAL_EUNAVAILABLE ("client closed") - their callbacks run
 * before this returns, on the calling thread.  No callback runs after it
 * returns.  Must not be called from a callback, nor while another thread
 * uses the client.  Accepts NULL. */
void shoal_client_free(shoal_client_t *c);

/* Call method `method` of entity type/id with body (len bytes, may be
 * NULL when len is 0) and wait for the outcome.  timeout_ms 0 = the
 * configured default.
 *   0                   *reply is a malloc'd copy of the entity's reply
 *                       (NULL when *rlen is 0), owned by the caller: free();
 *   < 0                 *reply is NULL, *rlen 0, and errmsg (if not NULL)
 *                       holds a message of at most errcap - 1 bytes:
 *     the entity's or the node's code - SHOAL_EBAD_REQUEST (unknown type or
 *     method, bad body), SHOAL_ECONFLICT, SHOAL_EBUSY (mailbox full),
 *     SHOAL_ENOT_FOUND, SHOAL_EINTERNAL, ...;
 *     SHOAL_ETIMEOUT      no reply within the deadline (node down,
 *                         unreachable, or the call itself timed out);
 *     SHOAL_EUNAVAILABLE  the node refused the client (wrong secret,
 *                         cluster name or shard count: errmsg says which;
 *                         held for 10 s, during which calls fail at once),
 *                         the node has no owner for the shard, or the
 *                         client's send queue to the node is full;
 *     SHOAL_EBUSY         max_pending calls already in flight;
 *     SHOAL_EBAD_REQUEST  type (1..63 bytes), id (1..255), method (1..127)
 *                         out of bounds; SHOAL_ETOO_BIG: body over
 *                         SHOAL_CLIENT_BODY_MAX; -ENOMEM.
 * reply and rlen may be NULL when the reply is not wanted.
 * Thread-safe; blocks the calling thread until the outcome (at most about
 * timeout_ms). */
int shoal_client_invoke(shoal_client_t *c, const char *type, const char *id,
                        const char *method, const void *body, size_t len,
                        uint32_t timeout_ms, uint8_t **reply, size_t *rlen,
                        char *errmsg, size_t errcap);

/* Per-call options.  A zeroed struct, or NULL where a function takes a
 * pointer to one, means every default. */
typedef struct shoal_client_call_opts {
    /* Deadline of this call; 0: the client's timeout_ms. */
    uint32_t timeout_ms;
    /* Idempotency key: NULL or "" for none, else 1..SHOAL_CLIENT_IDEM_MAX
     * bytes.  It travels with the call to the shard's owner (forwards
     * included), which uses it to make a retried call with the same key
     * take effect once; the client itself still never retries.  Borrowed:
     * read before the call function returns. */
    const char *idem_key;
} shoal_client_call_opts_t;

/* shoal_client_invoke with options (opts may be NULL).  The same codes,
 * plus SHOAL_EBAD_REQUEST for an idem_key over SHOAL_CLIENT_IDEM_MAX
 * bytes.  Thread-safe. */
int shoal_client_invoke_opts(shoal_client_t *c, const char *type, const char *id,
                             const char *method, const void *body, size_t len,
                             const shoal_client_call_opts_t *opts, uint8_t **reply,
                             size_t *rlen, char *errmsg, size_t errcap);

/* As shoal_client_invoke without waiting: done(udata, ...) runs exactly
 * once with the outcome, on a client thread (nng's receive thread or the
 * deadline thread), possibly before this function returns.  done must
 * not block: it may start asynchronous calls, but a synchronous
 * shoal_client_invoke from a callback would wait on the very thread that
 * delivers replies (and end in SHOAL_ETIMEOUT); it must not free the
 * client.
 *   0     the call is in flight; done will run;
 *   < 0   the codes shoal_client_invoke returns without sending (bad
 *         arguments, SHOAL_EBUSY, SHOAL_EUNAVAILABLE while refused or when
 *         the send queue is full, -ENOMEM); done never runs.
 * Thread-safe. */
int shoal_client_invoke_async(shoal_client_t *c, const char *type, const char *id,
                              const char *method, const void *body, size_t len,
                              uint32_t timeout_ms, shoal_client_done_fn done, void *udata);

/* shoal_client_invoke_async with options (opts may be NULL); the codes of
 * shoal_client_invoke_opts that it returns without sending.  Thread-safe. */
int shoal_client_invoke_async_opts(shoal_client_t *c, const char *type, const char *id,
                                   const char *method, const void *body, size_t len,
                                   const shoal_client_call_opts_t *opts,
                                   shoal_client_done_fn done, void *udata);

/* The address replies come back to ("host:port"), as sent to the node.
 * Owned by c, valid until shoal_client_free.  Thread-safe. */
const char *shoal_client_reply_addr(const shoal_client_t *c);

/* The stable API name of a code ("busy", "timeout", ...), as in the HTTP
 * API's errorCode; "internal" for -errno and unknown codes.  Static
 * string; thread-safe. */
const char *shoal_client_err_name(int code);
/* True if a call that failed with `code` may be retried unchanged (busy,
 * unavailable, timeout).  Thread-safe. */
bool shoal_client_err_retryable(int code);

typedef struct shoal_client_stats {
    uint64_t sent;          /* requests handed to the transport */
    uint64_t replies;       /* replies matched to a call in flight */
    uint64_t timeouts;      /* calls completed by their deadline */
    uint64_t late_replies;  /* replies for no call in flight (after a timeout): dropped */
    uint64_t bad_frames;    /* undecodable or unauthenticated frames: dropped */
    uint64_t refusals;      /* REFUSE frames received */
    uint64_t pending;       /* calls in flight now */
} shoal_client_stats_t;

/* A snapshot of the counters.  Thread-safe. */
void shoal_client_stats_get(shoal_client_t *c, shoal_client_stats_t *out);

#endif
