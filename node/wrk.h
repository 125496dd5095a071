/*
 * wrk.h - a shard worker: one thread with its own libuv loop that owns a
 * disjoint set of shards (shard % nworkers == index) with their entities,
 * mailboxes and timers.  Entity state is touched only on this thread, so
 * it needs no locks.
 *
 * The node loop (router) submits calls for local shards with wrk_submit();
 * the worker activates the entity if needed (create, later: recover from
 * the journal), appends the call to its bounded mailbox (full: the call
 * completes with SH_EBUSY), and runs turns one at a time per entity,
 * different entities interleaved.  Calls an entity makes (ask/tell) go out
 * through the router callback given at creation; a fast path delivers
 * calls for shards of the same worker directly.
 */
#ifndef WRK_H
#define WRK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "reg.h"

typedef struct wrk wrk_t;

/* Thread-safe: hand a call an entity made to the router (node loop). */
typedef void (*wrk_route_fn)(void *router, call_t *c);
/* Thread-safe: a durable reminder of (shard, type, id, name) now fires
 * next at due_wall_ms (0: it was deleted).  Called after the change is
 * durable; the node's reminder scheduler (node loop) takes it. */
typedef void (*wrk_rem_fn)(void *router, uint32_t shard, const char *type, const char *id,
                           const char *name, uint64_t due_wall_ms);

struct jrnl;
struct jw;

typedef struct wrk_config {
    uint32_t index, nworkers; /* this worker owns shards with shard % nworkers == index */
    uint32_t shards;          /* cluster shard count S */
    uint32_t mailbox_max;     /* --mailbox (default 1000) */
    uint32_t idle_timeout_ms; /* --idle-timeout (default 60000) */
    uint32_t max_active;      /* this worker's share of --max-active */
    const reg_t *reg;         /* entity types (read-only after start) */
    wrk_route_fn route;
    void *router;
    /* Persistence (NULL jrnl: everything in memory, as before the journal). */
    struct jrnl *jrnl;        /* reads: recovery, idempotency lookups */
    struct jw *jw;            /* writes: the group-commit writer */
    uint32_t snapshot_every;  /* --snapshot-every (events; 0: only on passivation) */
    uint64_t retain_events;   /* --retain-events: kept below a snapshot */
    uint64_t idem_ttl_ms;     /* --idempotency-ttl */
    wrk_rem_fn rem_changed;   /* may be NULL */
} wrk_config_t;

/* Histogram buckets (upper bounds) shared by metrics.  Counts are per
 * bucket, not cumulative: bucket i counts samples in (bound[i-1], bound[i]]. */
#define WRK_LAT_BUCKETS 12   /* turn latency, microseconds: 10,25,50,100,250,500,1k,2.5k,5k,10k,50k,+Inf */
#define WRK_DEPTH_BUCKETS 8  /* mailbox depth at enqueue: 0,1,2,5,10,100,1000,+Inf */

typedef struct wrk_stats {
    uint64_t active, activations, passivations;
    uint64_t turns_ok, turns_error, turns_timeout, turns_corrupt;
    uint64_t busy_rejections, local_fast_path;
    uint64_t lat_buckets[WRK_LAT_BUCKETS];
    double lat_sum_us;
    uint64_t depth_buckets[WRK_DEPTH_BUCKETS];
    uint64_t mailbox_depth_max; /* current deepest mailbox */
    uint64_t timer_fires;   /* Dapr timer fires queued */
    uint64_t timer_skipped; /* fires dropped: mailbox full */
    uint64_t late_replies;  /* ask replies after their turn ended or the ask timed out */
    /* persistence */
    uint64_t recoveries, recovery_us_sum, recovery_events, recovery_failed;
    uint64_t commits_held;   /* turns whose output waited for the journal */
    uint64_t commits_failed; /* of those, the commit failed */
    uint64_t idem_hits;      /* calls answered from an idempotency record */
    uint64_t snapshots;      /* snapshots written */
    uint64_t reminders_fired;
} wrk_stats_t;

/* Create and start the thread.  0, -EINVAL (bad config), -ENOMEM, or a
 * uv/pthread error as -errno.  cfg is copied; cfg->reg must outlive w. */
int wrk_new(wrk_t **out, const wrk_config_t *cfg);
/* Stop the thread: calls still queued complete with SH_ECLOSED, entities
 * are passivated, timers dropped.  Blocks until the thread exits (node
 * shutdown only).  Accepts NULL. */
void wrk_free(wrk_t *w);
/* Thread-safe.  Ownership of c passes to the worker (0) or stays with the
 * caller (SH_EBUSY: input queue full; SH_ECLOSED). */
int wrk_submit(wrk_t *w, call_t *c);
/* Thread-safe: drop every entity of `shard` (ownership moved away); their
 * queued calls and open turns complete with SH_EUNAVAILABLE.  Also turns
 * the fast path off for the shard. */
void wrk_shard_release(wrk_t *w, uint32_t shard);
/* Thread-safe: this node now owns `shard`, so calls entities of this
 * worker make to it may skip the router (the fast path).  Until acquired,
 * every such call goes through cfg->route.  Calls submitted with
 * wrk_submit are served whether or not the shard was acquired. */
void wrk_shard_acquire(wrk_t *w, uint32_t shard);
/* Thread-safe snapshot of counters (relaxed atomics). */
void wrk_stats_get(wrk_t *w, wrk_stats_t *out);
/* Thread-safe: active entities of one shard, and whether type/id is active. */
uint32_t wrk_shard_active(wrk_t *w, uint32_t shard);
bool wrk_entity_active(wrk_t *w, const char *type, const char *id);

#endif
