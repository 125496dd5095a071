/*
 * jw.h - the journal writer: one thread that commits requests from every
 * worker in batches, one LMDB write transaction and one sync per batch
 * (group commit), then completes each request.
 *
 * Batching is adaptive without a timer: the writer takes everything queued
 * when it wakes, commits it, and while it commits (the sync is the slow
 * part) new requests pile up for the next batch.  A lone request is
 * committed at once; under load batches grow by themselves, capped at
 * JW_BATCH_MAX requests / JW_BATCH_BYTES.
 *
 * One request carries everything one turn must make durable together:
 * its events, optionally a snapshot after them, an idempotency record,
 * reminder changes, or a purge.  A request either commits entirely or not
 * at all.  Requests of one entity commit in submission order; a request
 * whose first_seq does not follow the entity's head fails with SH_ESEQ
 * without touching the rest of its batch, so after one failed append the
 * entity's later in-flight appends fail too (never a gap).
 *
 * Failures: MDB_MAP_FULL -> jrnl_grow and retry the batch; at the map
 * ceiling or with the disk full the whole batch fails with SH_ENOSPACE and
 * the journal is untouched; the next batch tries again, so the node
 * recovers by itself when space returns.
 *
 * Ownership: the submitter owns the request and every buffer it points to;
 * they must stay valid until `done` runs.  `done` runs on the writer
 * thread: it must be quick and must not block (post to the worker's queue
 * and wake it).
 */
#ifndef JW_H
#define JW_H

#include <stdbool.h>
#include <stdint.h>

#include "jrnl.h"

#define JW_QUEUE_MAX 65536         /* requests waiting; jw_submit answers SH_EFULL beyond */
#define JW_BATCH_MAX 4096          /* requests per transaction */
#define JW_BATCH_BYTES (16u << 20) /* event bytes per transaction */
#define JW_HIST_BUCKETS 12

typedef struct jw jw_t;

typedef struct jw_rem_op {
    struct jw_rem_op *next;
    bool del;               /* delete rem.name; else put rem */
    jrnl_rem_t rem;         /* rem.shard/type/id are the request's entity */
} jw_rem_op_t;

typedef struct jw_req {
    struct jw_req *next;    /* owned by jw while queued */
    jrnl_ent_t ent;
    /* events: n records [u32 len][bytes] as shoal_turn's buffer; n may be 0.
     * first_seq: the seq the first event gets, head + 1; also checked when
     * n is 0 unless first_seq is 0 (a request that depends on no state). */
    uint64_t first_seq;
    uint32_t ev_n;
    const uint8_t *ev;
    size_t ev_len;
    uint64_t wall_ms;       /* the events' timestamp */
    /* optional snapshot covering events up to snap_seq (after this request's events) */
    const uint8_t *snap;
    size_t snap_len;
    uint64_t snap_seq;      /* 0: no snapshot */
    uint64_t retain;        /* events kept below the snapshot */
    /* optional idempotency record, written with the events */
    const char *idem_key;   /* NULL: none */
    jrnl_idem_t idem;
    jw_rem_op_t *rems;      /* reminder changes, in order */
    bool purge;             /* delete the entity's records before writing the rest */
    /* completion */
    int status;             /* set by the writer before done */
    void (*done)(struct jw_req *r);
    void *arg;
} jw_req_t;

typedef struct jw_stats {
    uint64_t requests, events, batches, failed, grows;
    uint64_t queued;        /* gauge: waiting now */
    /* batch sizes (requests): bucket upper bounds 1,2,4,...,1024, +Inf */
    uint64_t batch_hist[JW_HIST_BUCKETS];
    /* commit (txn, no sync) and sync latency, microseconds: bucket upper
     * bounds 50,100,250,500,1000,2500,5000,10000,25000,50000,100000,+Inf */
    uint64_t commit_hist[JW_HIST_BUCKETS], sync_hist[JW_HIST_BUCKETS];
    uint64_t commit_us_sum, sync_us_sum;
} jw_stats_t;

extern const uint64_t jw_batch_bounds[JW_HIST_BUCKETS - 1];
extern const uint64_t jw_lat_bounds_us[JW_HIST_BUCKETS - 1];

/* Start the writer thread over an open journal (not owned). */
int jw_start(jw_t **out, jrnl_t *j);
/* Commit what is queued, complete it, stop the thread, free. */
void jw_stop(jw_t *w);
/* Queue r (any thread).  0, SH_EFULL (queue at JW_QUEUE_MAX: the caller
 * fails the call with busy), SH_ECLOSED after jw_stop began.  done is not
 * called when jw_submit fails. */
int jw_submit(jw_t *w, jw_req_t *r);
void jw_stats(jw_t *w, jw_stats_t *st);
/* Ask the writer to sweep expired idempotency records now (it also does
 * so by itself every few seconds).  For tests. */
void jw_kick_sweep(jw_t *w);

#endif
