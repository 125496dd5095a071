/*
 * node_int.h - shared inside node/: the node struct, the data-directory
 * helpers (node_meta.c) and the route handlers (api_cluster.c).  Not for
 * other modules.
 */
#ifndef NODE_INT_H
#define NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include <pthread.h>

#include "api.h"
#include "call.h"
#include "cfg.h"
#include "node.h"
#include "reg.h"
#include "route.h"
#include "rpc.h"
#include "swim_io.h"
#include "wrk.h"

#define NODE_LEAVE_GRACE_MS 500 /* keep running after leave so it reaches peers */

/* An intrusive FIFO of calls (through call->next) filled by any thread and
 * drained by the loop.  Unbounded by design: every call in it already
 * exists and was admitted elsewhere (API queue, mailbox, pending table),
 * and a completion must never be dropped, or an HTTP request would hang. */
typedef struct node_callq {
    call_t *head, *tail;
} node_callq_t;

/* Node-side counters of the entity runtime (loop thread only). */
typedef struct node_call_ctr {
    uint64_t http_calls;     /* calls accepted from the HTTP API */
    uint64_t routed_local;   /* submitted to a local worker */
    uint64_t unavailable;    /* answered unavailable: no owner / out of hops */
    uint64_t busy_rejections; /* a worker's input queue was full */
    uint64_t owner_changes;  /* shards whose owner changed, all updates */
    uint64_t view_updates;
} node_call_ctr_t;

struct node {
    cfg_t cfg;
    uv_loop_t loop;
    bool loop_init;
    uv_signal_t sigterm, sigint;
    uv_timer_t grace;
    bool handles_init;
    swim_io_t *io;
    api_t *api;
    int lock_fd;
    uint32_t incarnation;
    bool stopping; /* leave sent, grace running */
    bool stopped;  /* handles closing */

    /* Entity runtime (node_call.c). */
    reg_t *reg;
    wrk_t **workers;
    uint32_t nworkers;
    route_t *route;
    rpc_t *rpc;
    bool calls_init;     /* async and timers below exist */
    bool calls_stopping; /* shutdown began: new calls get `unavailable` */
    bool route_dirty;    /* membership changed since the table was computed */
    uv_async_t calls_async;
    uv_timer_t route_timer; /* coalesces a burst of member events */
    uv_timer_t rpc_timer;   /* next forwarded-call deadline */
    uint64_t rpc_armed;     /* deadline rpc_timer is set for, UINT64_MAX if none */
    pthread_mutex_t q_mu;
    bool q_async_ok;        /* under q_mu: calls_async may be signalled */
    node_callq_t routeq;    /* under q_mu: calls entities made, to route */
    node_callq_t doneq;     /* under q_mu: completed calls this node made */
    node_call_ctr_t ctr;

    /* Persistence (node_jrnl.c) and durable reminders (node_rem.c). */
    struct jrnl *jrnl;
    struct jw *jw;
    struct node_rem *rem;
};

/* Create `dir` (mkdir -p), take an exclusive flock on <dir>/LOCK and read
 * <dir>/node.meta; the next incarnation (stored + 1, or 1) is written back
 * atomically (tmp file, fsync, rename, fsync of the directory) before this
 * returns.  On 0, *lock_fd holds the lock (close it to release) and
 * *incarnation the new value.  SH_EBUSY (locked by another process),
 * SH_ECONFLICT (dir belongs to another id), SH_EMALFORMED (bad node.meta),
 * SH_EFULL (incarnation exhausted) or -errno; `err` says which, for the
 * operator.  Blocking: start-up only. */
int node_meta_open(const char *dir, const char *id, uint32_t *incarnation, int *lock_fd,
                   char *err, size_t errcap);

/* ---- journal (node_jrnl.c) ---------------------------------------------- */

/* Open <data>/journal and start the writer.  0 or a code (logged).  Loop
 * thread, before the workers start. */
int node_jrnl_start(node_t *n);
/* The journal's part of a worker's configuration. */
void node_jrnl_wrk_config(node_t *n, wrk_config_t *wc);
/* Commit and complete what is queued, stop the writer (before the workers
 * stop).  Idempotent. */
void node_jrnl_stop(node_t *n);
/* After the workers are gone: stop (if needed) and close. */
void node_jrnl_free(node_t *n);

/* ---- durable reminders (node_rem.c) --------------------------------------- */

/* Start the reminder scheduler (loop thread, after node_jrnl_start).  0 or
 * a code. */
int node_rem_start(node_t *n);
/* The shards this node just acquired (after a route update): load their
 * reminders.  Loop thread. */
void node_rem_acquired(node_t *n, const uint32_t *shards, size_t count);
/* wrk_rem_fn: a reminder's next due time (0: deleted); any thread. */
void node_rem_changed(void *node, uint32_t shard, const char *type, const char *id,
                      const char *name, uint64_t due_wall_ms);
/* Stop firing; close handles (loop thread, shutdown).  Idempotent. */
void node_rem_stop(node_t *n);
/* After the loop ended: free. */
void node_rem_free(node_t *n);
/* Reminders scheduled here, and fires sent (loop thread; metrics). */
uint64_t node_rem_pending(node_t *n);
uint64_t node_rem_fired(node_t *n);

/* ---- entity runtime (node_call.c) ---------------------------------------- */

/* Load the registry (built-ins, plugins, and `debug` with --debug-faults),
 * start the workers, the route table and the RPC endpoint, and hook them
 * to the SWIM adapter.  0, or a code after logging node_start_failed
 * (a plugin that does not load is fatal).  Loop thread, before the join. */
int node_calls_start(node_t *n);
/* Shutdown, before api_close: fail what is pending, stop the workers,
 * answer every HTTP request and forwarded call still held, and start
 * closing the runtime's handles.  Idempotent. */
void node_calls_stop(node_t *n);
/* After the loop ended: free workers, table, RPC and registry. */
void node_calls_free(node_t *n);

/* Route call c (owned by the node from now on): run it on a local worker,
 * forward it to its owner, or complete it with `unavailable`.  Loop. */
void node_call_route(node_t *n, call_t *c);
/* on_done of calls made by the HTTP API: done_arg is the api_req_t.  Any
 * thread; hands the call to the loop, which calls api_actors_done. */
void node_call_http_done(call_t *c);
/* Bring the shard table up to date if membership changed.  Loop. */
void node_route_refresh(node_t *n);
/* Member address for an id in the current view, or NULL. */
const char *node_member_addr(node_t *n, const char *id, char *buf, size_t cap);
/* Sum of every worker's counters. */
void node_wrk_stats(node_t *n, wrk_stats_t *sum);

/* Register the `debug` entity type (node/types/debug.c; --debug-faults
 * only): `sleep {"ms":n}` holds its turn n ms without blocking the worker,
 * `call {"type","id","method","body"}` asks another entity and replies
 * with its answer (A -> B -> A cycles in tests). */
int type_debug_register(reg_t *reg);

/* ---- HTTP actor API (api_actors.c) ---------------------------------------- */

int api_actors_invoke(api_req_t *r);
int api_actors_timer(api_req_t *r);
/* Refuse what the node knows it cannot run (names, unknown type, body not
 * JSON).  0, or the error (replied). */
int api_actor_check(api_req_t *r, node_t *n, bool need_json);
/* Make the call for this request (deadline, Idempotency-Key) and route
 * it; answered in api_actors_done.  Always 0. */
int api_call_start(api_req_t *r, node_t *n, enum call_kind kind, const char *method,
                   const uint8_t *body, size_t len);

/* ---- HTTP persistence API (api_persist.c) ---------------------------------- */

int api_actors_reminder(api_req_t *r);
int api_actors_state(api_req_t *r);
int api_actors_journal(api_req_t *r);
/* The owner's node loop answers a CALL_JOURNAL from its journal. */
void node_journal_answer(node_t *n, call_t *c);
int api_cluster_shards(api_req_t *r);
int api_cluster_shard(api_req_t *r);
int api_cluster_locate(api_req_t *r);
/* A completed HTTP call: answer its request and free it.  Loop. */
void api_actors_done(node_t *n, call_t *c);

/* Route handlers (api_cluster.c); r->udata is the node_t. */
int api_cluster_healthz(api_req_t *r);
int api_cluster_readyz(api_req_t *r);
int api_cluster_members(api_req_t *r);
int api_cluster_metrics(api_req_t *r);
int api_debug_fault(api_req_t *r);

#endif
