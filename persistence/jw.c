/*
 * jw.c - the journal writer: one thread, group commit (see jw.h).
 *
 * Design notes.
 *
 * Queue.  A mutex-protected intrusive FIFO bounded at JW_QUEUE_MAX.  The
 * writer sleeps on a condition variable only when the queue is empty, and
 * jw_submit signals only then (w->idle), so under load a submission costs
 * one uncontended-ish lock and no wakeup.
 *
 * Batch.  The writer takes everything queued, up to JW_BATCH_MAX requests
 * and JW_BATCH_BYTES of events, and applies it in one write transaction:
 * no timer, so a lone request is committed at once and batches grow by
 * themselves while a commit and its sync are in progress.
 *
 * One request, all or nothing.  Each request is first checked against
 * the transaction's current view (the entity's head after the earlier
 * requests of the batch, the events buffer, key sizes, the snapshot seq)
 * and fails alone, writing nothing, if it cannot apply: that is how one
 * SH_ESEQ fails one request and not its batch, and why a later request of
 * the same entity then fails too (the head did not move: never a gap).  A
 * failure after a request started writing (which the checks make rare:
 * damage found in the journal, say) poisons the transaction; the writer
 * aborts it, marks that request failed and retries the batch without it.
 * MDB_MAP_FULL (SH_EFULL) aborts, grows the map and retries the same
 * batch; at the map ceiling or on a full disk the batch fails with
 * SH_ENOSPACE, nothing of it is written, and the next batch tries again.
 * Every loop is bounded: a retry either grows the map (bounded by the
 * ceiling or the disk) or removes a request (bounded by the batch).
 *
 * Completion.  After the commit, and the sync when the journal was opened
 * with sync, each request gets its status and `done` runs on this thread
 * (after the stats are updated, so a test woken by done sees them).  A
 * failed sync fails every request of the batch: its records are committed
 * and will be read back, but their durability is unknown, and the callers
 * (who drop the entity and reload it from the journal) must not tell a
 * client "done" for them.
 *
 * Idempotency sweep.  When the queue has been empty for JW_SWEEP_MS the
 * writer deletes expired idempotency records, at most JW_SWEEP_ROUNDS
 * transactions of JW_SWEEP_MAX, stopping early if requests arrive.  Under
 * sustained load the queue is never empty, so a sweep also runs after a
 * batch once JW_SWEEP_BUSY_MS have passed: the table stays bounded.
 */
#include "jw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jrnl_int.h" /* jrnl_t.sync and the key checks */
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

#define JW_SWEEP_MS 5000u
#define JW_SWEEP_BUSY_MS 30000u
#define JW_SWEEP_MAX 1024u
#define JW_SWEEP_ROUNDS 4
#define JW_PENDING 1 /* status while a request is in the writer's hands */
#define JW_RETRY 1   /* jw_batch_try: a request was excluded, try again */

const uint64_t jw_batch_bounds[JW_HIST_BUCKETS - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
                                                       1024};
const uint64_t jw_lat_bounds_us[JW_HIST_BUCKETS - 1] = {50,   100,   250,   500,   1000, 2500,
                                                        5000, 10000, 25000, 50000, 100000};

struct jw {
    jrnl_t *j;
    bool sync;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* the writer waits here for work */
    jw_req_t *head, *tail;     /* under mu */
    uint64_t queued;           /* under mu */
    bool stopping, kick, idle; /* under mu */
    jw_stats_t st;             /* under mu */
    /* Writer thread only. */
    uint64_t last_sweep_ms;
    uint32_t n;                /* requests in the current batch */
    jw_req_t *batch[JW_BATCH_MAX];
    int excl[JW_BATCH_MAX];    /* sticky failure of a request that poisoned a try */
    uint64_t commit_us, sync_us;
    bool synced;
};

static uint64_t jw_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned jw_bucket(const uint64_t *bounds, uint64_t v)
{
    unsigned i = 0;
    while (i < JW_HIST_BUCKETS - 1 && v > bounds[i])
        i++;
    return i;
}

/* ---- one request --------------------------------------------------------- */

/* Everything that can be known before writing.  0, or the request's own
 * failure (nothing written). */
static int jw_req_check(jrnl_txn_t *t, const jw_req_t *r)
{
    jrnl_key_t k;
    uint64_t head = 0;
    int rc = jrnl_key_ent(&k, &r->ent);

    if (rc == 0 && !r->purge)
        rc = jrnl_txn_head(t, &r->ent, &head);
    if (rc == 0)
        rc = jrnl_ev_check(r->ev, r->ev_len, r->ev_n);
    if (rc != 0)
        return rc;
    /* With purge the head restarts at 0 (head stays 0 here).  A request
     * without events but with a first_seq still states what it was based
     * on - a reply or idempotency record computed from state up to
     * first_seq - 1 - so after a failed append it must fail too. */
    if ((r->ev_n > 0 || r->first_seq != 0) && r->first_seq != head + 1)
        return SH_ESEQ;
    uint64_t top = head + r->ev_n;
    if (r->snap_seq != 0 && r->snap_seq > top)
        return SH_ESEQ;
    if (r->idem_key != NULL && (rc = jrnl_key_name(&k, r->idem_key)) != 0)
        return rc;
    if (r->idem_key != NULL && (r->idem.status > 0 || (r->idem.reply_len && !r->idem.reply)))
        return SH_EBAD_REQUEST;
    for (const jw_rem_op_t *op = r->rems; op != NULL; op = op->next) {
        if ((rc = jrnl_key_name(&k, op->rem.name)) != 0)
            return rc;
        if (!op->del && op->rem.reps < -1)
            return SH_EBAD_REQUEST;
    }
    return 0;
}

/* Write the request's records; the checks have passed.  0 or the error
 * that poisoned the transaction. */
static int jw_req_write(jrnl_txn_t *t, const jw_req_t *r)
{
    int rc = 0;
    if (r->purge)
        rc = jrnl_txn_purge(t, &r->ent);
    if (rc == 0 && r->ev_n > 0)
        rc = jrnl_txn_append(t, &r->ent, r->first_seq, r->ev_n, r->ev, r->ev_len, r->wall_ms);
    if (rc == 0 && r->snap_seq != 0)
        rc = jrnl_txn_snapshot(t, &r->ent, r->snap_seq, r->snap, r->snap_len, r->wall_ms,
                               r->retain);
    if (rc == 0 && r->idem_key != NULL)
        rc = jrnl_txn_idem_put(t, &r->ent, r->idem_key, &r->idem);
    for (const jw_rem_op_t *op = r->rems; rc == 0 && op != NULL; op = op->next) {
        if (!op->del) {
            jrnl_rem_t rem = op->rem;
            rem.shard = r->ent.shard;
            rem.type = r->ent.type;
            rem.id = r->ent.id;
            rc = jrnl_txn_rem_put(t, &rem);
        } else if ((rc = jrnl_txn_rem_del(t, &r->ent, op->rem.name)) == SH_ENOT_FOUND) {
            rc = 0; /* deleting an absent reminder is done */
        }
    }
    return rc;
}

/* ---- one batch ----------------------------------------------------------- */

/* Failures that say nothing about one request: the whole batch fails. */
static bool jw_err_is_batch(int rc)
{
    return rc == SH_EFULL || rc == SH_ENOSPACE || rc == SH_ENOMEM || rc == SH_EBUSY ||
           (rc < 0 && rc > -4096);
}

/* One attempt: apply the batch's requests that are not excluded, and
 * commit.  0; JW_RETRY (a request poisoned the txn and is now excluded);
 * SH_EFULL (grow and retry); or a failure of the whole batch. */
static int jw_batch_try(jw_t *w)
{
    jrnl_txn_t *t;
    int rc = jrnl_txn_begin(w->j, &t);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < w->n; i++) {
        jw_req_t *r = w->batch[i];
        r->status = w->excl[i];
        if (w->excl[i] != 0)
            continue;
        if ((r->status = jw_req_check(t, r)) != 0)
            continue; /* nothing written: the batch goes on without it */
        if ((rc = jw_req_write(t, r)) == 0)
            continue;
        jrnl_txn_abort(t);
        for (uint32_t k = i + 1; k < w->n; k++)
            w->batch[k]->status = JW_PENDING;
        if (jw_err_is_batch(rc))
            return rc;
        SH_LOGE("jw_request_failed", "type=%s id=%s err=\"%s\"", r->ent.type, r->ent.id,
                jrnl_strerror(rc));
        w->excl[i] = rc;
        return JW_RETRY;
    }
    uint64_t t0 = jw_now_us();
    rc = jrnl_txn_commit(t);
    w->commit_us = jw_now_us() - t0;
    return rc;
}

/* Commit the batch (retrying as the notes say), sync, set every status. */
static void jw_batch_run(jw_t *w, uint64_t *grows)
{
    int rc;
    uint32_t attempts = 0;

    memset(w->excl, 0, sizeof(w->excl[0]) * w->n);
    w->synced = false;
    for (;;) {
        rc = jw_batch_try(w);
        SH_ASSERT(++attempts <= JW_BATCH_MAX + 128); /* see "bounded" above */
        if (rc == SH_EFULL) {
            if ((rc = jrnl_grow(w->j)) != 0)
                break; /* SH_ENOSPACE: at the ceiling */
            ++*grows;
        } else if (rc != JW_RETRY) {
            break;
        }
    }
    if (rc == 0 && w->sync) {
        uint64_t t0 = jw_now_us();
        rc = jrnl_sync(w->j);
        w->sync_us = jw_now_us() - t0;
        w->synced = true;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        jw_req_t *r = w->batch[i];
        if (r->status == 0 || r->status == JW_PENDING)
            r->status = rc;
    }
    if (rc != 0)
        SH_LOGW("jw_batch_failed", "requests=%u err=\"%s\"", w->n, jrnl_strerror(rc));
}

/* ---- the thread ---------------------------------------------------------- */

/* Move up to the caps from the queue into w->batch (under mu). */
static void jw_take(jw_t *w)
{
    uint64_t bytes = 0;
    w->n = 0;
    while (w->head != NULL && w->n < JW_BATCH_MAX) {
        jw_req_t *r = w->head;
        if (w->n > 0 && bytes + r->ev_len > JW_BATCH_BYTES)
            break;
        bytes += r->ev_len;
        w->head = r->next;
        r->next = NULL;
        w->batch[w->n++] = r;
    }
    if (w->head == NULL)
        w->tail = NULL;
    w->queued -= w->n;
}

static void jw_account(jw_t *w, uint64_t grows)
{
    jw_stats_t *st = &w->st;
    st->batches++;
    st->grows += grows;
    st->batch_hist[jw_bucket(jw_batch_bounds, w->n)]++;
    st->commit_hist[jw_bucket(jw_lat_bounds_us, w->commit_us)]++;
    st->commit_us_sum += w->commit_us;
    if (w->synced) {
        st->sync_hist[jw_bucket(jw_lat_bounds_us, w->sync_us)]++;
        st->sync_us_sum += w->sync_us;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        st->requests++;
        if (w->batch[i]->status == 0)
            st->events += w->batch[i]->ev_n;
        else
            st->failed++;
    }
}

/* Called with mu held; returns with it held. */
static void jw_batch(jw_t *w)
{
    uint64_t grows = 0;
    jw_take(w);
    pthread_mutex_unlock(&w->mu);
    w->commit_us = w->sync_us = 0;
    jw_batch_run(w, &grows);
    pthread_mutex_lock(&w->mu);
    jw_account(w, grows);
    pthread_mutex_unlock(&w->mu);
    /* r may be freed by its done: read nothing of it afterwards. */
    for (uint32_t i = 0; i < w->n; i++)
        if (w->batch[i]->done != NULL)
            w->batch[i]->done(w->batch[i]);
    pthread_mutex_lock(&w->mu);
}

/* Delete expired idempotency records; called without mu. */
static void jw_sweep(jw_t *w)
{
    uint64_t now = sh_time_wall_ms(), total = 0;
    for (int round = 0; round < JW_SWEEP_ROUNDS; round++) {
        jrnl_txn_t *t;
        uint32_t n = 0;
        int rc = jrnl_txn_begin(w->j, &t);
        if (rc == 0 && (rc = jrnl_txn_idem_sweep(t, now, JW_SWEEP_MAX, &n)) != 0)
            jrnl_txn_abort(t);
        else if (rc == 0)
            rc = jrnl_txn_commit(t);
        if (rc == SH_EFULL && jrnl_grow(w->j) == 0)
            continue;
        if (rc != 0) {
            SH_LOGW("jw_sweep_failed", "err=\"%s\"", jrnl_strerror(rc));
            break;
        }
        total += n;
        pthread_mutex_lock(&w->mu);
        bool busy = w->head != NULL;
        pthread_mutex_unlock(&w->mu);
        if (n < JW_SWEEP_MAX || busy)
            break; /* done, or requests are waiting: they come first */
    }
    if (total > 0)
        SH_LOGD("jw_idem_swept", "deleted=%llu", (unsigned long long)total);
    w->last_sweep_ms = sh_time_mono_ms();
}

/* Sleep until work arrives or the next sweep is due (under mu). */
static void jw_wait(jw_t *w)
{
    uint64_t due = w->last_sweep_ms + JW_SWEEP_MS;
    struct timespec ts = {.tv_sec = (time_t)(due / 1000), .tv_nsec = (long)(due % 1000) * 1000000};
    w->idle = true;
    while (w->head == NULL && !w->stopping && !w->kick &&
           pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
        ;
    w->idle = false;
}

static void *jw_main(void *arg)
{
    jw_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->head == NULL && !w->stopping && !w->kick)
            jw_wait(w);
        if (w->head != NULL) {
            jw_batch(w);
            if (sh_time_mono_ms() - w->last_sweep_ms < JW_SWEEP_BUSY_MS)
                continue;
        } else if (w->stopping) {
            break;
        } else if (!w->kick && sh_time_mono_ms() - w->last_sweep_ms < JW_SWEEP_MS) {
            continue; /* a spurious or early wakeup */
        }
        w->kick = false;
        pthread_mutex_unlock(&w->mu);
        jw_sweep(w);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- public -------------------------------------------------------------- */

int jw_start(jw_t **out, jrnl_t *j)
{
    pthread_condattr_t ca;
    jw_t *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (w == NULL)
        return SH_ENOMEM;
    w->j = j;
    w->sync = j->sync;
    w->last_sweep_ms = sh_time_mono_ms();
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* jw_wait's deadline */
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&w->th, NULL, jw_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

void jw_stop(jw_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL); /* the writer drains the queue first */
    SH_ASSERT(w->head == NULL && w->queued == 0);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int jw_submit(jw_t *w, jw_req_t *r)
{
    int rc = 0;
    r->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->stopping)
        rc = SH_ECLOSED;
    else if (w->queued >= JW_QUEUE_MAX)
        rc = SH_EFULL;
    if (rc == 0) {
        if (w->tail != NULL)
            w->tail->next = r;
        else
            w->head = r;
        w->tail = r;
        w->queued++;
        if (w->idle)
            pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void jw_stats(jw_t *w, jw_stats_t *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    st->queued = w->queued;
    pthread_mutex_unlock(&w->mu);
}

void jw_kick_sweep(jw_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->kick = true;
    if (w->idle)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}
