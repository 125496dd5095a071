/*
 * client.c - the native client's calls in flight: submit, wait, complete,
 * expire; see shoal/client.h.
 *
 * Design notes.
 *
 * Protocol.  The client is not a new protocol: it sends the RPC_REQ
 * frames a node sends when it forwards a call to a shard's owner (header
 * signed with the cluster secret, cluster name and shard count as a
 * node's; payload from node/rpc_codec.c, hops 0 so the receiving node
 * routes it like a call from its HTTP API), and the node answers with an
 * RPC_REP to the request's src_addr - the client's own PULL listener -
 * with the same correlation id.  A node accepts such a frame from any
 * sender that holds the secret; membership is not required.
 *
 * Pending table.  As in node/rpc.c: a fixed array of slots indexed by
 * corr & mask, correlation ids in sequence from a random start (so a
 * reply meant for a previous client on the same port matches nothing), a
 * slot still held by a slow call skipped by taking the next id.  The
 * table is allocated once.  Slots in use are also linked in deadline
 * order; since most calls use the same timeout, a new call's deadline is
 * almost always the latest and is appended in O(1) (the walk from the
 * tail covers the rest).  The deadline thread sleeps until the head's
 * deadline and completes what expired; a new call wakes it only if its
 * deadline is earlier than the thread's next wake-up (with equal timeouts:
 * almost never), because on some machines a thread wake-up costs more
 * than the rest of a call.
 *
 * Exactly once.  A call's slot is released under the mutex by whoever
 * completes it - the receive thread (reply, refusal), the deadline thread
 * (timeout) or shoal_client_free - and only that thread runs its
 * callback, after dropping the mutex, so a callback may start new calls.
 *
 * Synchronous calls are asynchronous calls whose callback copies the
 * outcome into the waiting thread's frame and signals its own condition
 * variable: one code path, and the deadline is enforced by the deadline
 * thread for both.
 *
 * What it does not do: no retries, no failover to another node (a caller
 * holding several clients can), no connection-state tracking (nng dials
 * and redials; an unreachable node shows up as timeouts).
 */
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "sh_err.h"
#include "sh_time.h"

#define CL_PROBE_MAX 64 /* correlation ids tried for a free slot */

static uint32_t cl_instances; /* per-process sequence for src_id */

/* ---- codes ------------------------------------------------------------- */

int cl_public_code(int status)
{
    switch (status) {
    case 0:
    case SH_EBAD_REQUEST: case SH_ENOT_FOUND: case SH_ECONFLICT: case SH_EBUSY:
    case SH_EUNAVAILABLE: case SH_ETIMEOUT: case SH_EINTERNAL: case SH_ETOO_BIG:
    case SH_EEXISTS: case SH_ECORRUPT:
        return status;
    case SH_EMALFORMED: case SH_EVERSION: return SHOAL_EBAD_REQUEST;
    case SH_EAUTH: case SH_ECLUSTER: case SH_ECLOSED: return SHOAL_EUNAVAILABLE;
    case SH_EFULL: return SHOAL_EBUSY;
    case -ENOMEM: return -ENOMEM;
    default: return SHOAL_EINTERNAL;
    }
}

const char *shoal_client_err_name(int code)
{
    return sh_err_name(code);
}

bool shoal_client_err_retryable(int code)
{
    return code == SHOAL_EBUSY || code == SHOAL_EUNAVAILABLE || code == SHOAL_ETIMEOUT;
}

static void cl_msg(char *dst, size_t cap, const char *src)
{
    if (dst && cap)
        snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- the pending table (under mu) -------------------------------------- */

static void cl_list_insert(shoal_client_t *c, cl_pend_t *p)
{
    cl_pend_t *after = c->tail;
    while (after && after->deadline > p->deadline)
        after = after->prev;
    p->prev = after;
    p->next = after ? after->next : c->head;
    if (p->next)
        p->next->prev = p;
    else
        c->tail = p;
    if (after)
        after->next = p;
    else
        c->head = p;
}

/* Claim a slot for a new call; NULL if none was free within CL_PROBE_MAX
 * ids.  Wakes the deadline thread if the call is due before its next
 * wake-up. */
static cl_pend_t *cl_slot_claim(shoal_client_t *c, uint64_t deadline, uint32_t timeout_ms,
                                shoal_client_done_fn done, void *udata)
{
    for (int i = 0; i < CL_PROBE_MAX; i++) {
        uint64_t corr = c->next_corr++;
        if (corr == 0) /* 0 means "no correlation" on the wire, and "free" here */
            corr = c->next_corr++;
        cl_pend_t *p = &c->slots[corr & c->mask];
        if (p->corr != 0)
            continue;
        *p = (cl_pend_t){.corr = corr, .deadline = deadline, .timeout_ms = timeout_ms,
                         .done = done, .udata = udata};
        cl_list_insert(c, p);
        if (deadline < c->sweep_until) /* the deadline thread would sleep past it */
            pthread_cond_signal(&c->sweep_cv);
        c->st.pending++;
        return p;
    }
    return NULL;
}

static void cl_slot_release(shoal_client_t *c, cl_pend_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        c->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        c->tail = p->prev;
    p->corr = 0;
    p->prev = p->next = NULL;
    c->st.pending--;
}

/* Complete every call in flight with `code`; takes and returns with mu held. */
static void cl_fail_all_locked(shoal_client_t *c, int code, const char *msg)
{
    while (c->head) {
        cl_pend_t *p = c->head;
        shoal_client_done_fn done = p->done;
        void *udata = p->udata;
        cl_slot_release(c, p);
        pthread_mutex_unlock(&c->mu);
        done(udata, code, NULL, 0, msg);
        pthread_mutex_lock(&c->mu);
    }
}

/* ---- completion (receive thread) ---------------------------------------- */

void cl_complete(shoal_client_t *c, uint64_t corr, int status, const uint8_t *reply,
                 size_t len, const char *errmsg)
{
    pthread_mutex_lock(&c->mu);
    cl_pend_t *p = &c->slots[corr & c->mask];
    if (corr == 0 || p->corr != corr) {
        c->st.late_replies++;
        pthread_mutex_unlock(&c->mu);
        return;
    }
    shoal_client_done_fn done = p->done;
    void *udata = p->udata;
    cl_slot_release(c, p);
    c->st.replies++;
    pthread_mutex_unlock(&c->mu);
    status = cl_public_code(status);
    done(udata, status, status == 0 ? reply : NULL, status == 0 ? len : 0,
         errmsg ? errmsg : "");
}

void cl_refused(shoal_client_t *c, const char *why)
{
    char msg[SHOAL_CLIENT_ERRMSG_MAX];
    cl_msg(msg, sizeof msg, why);
    pthread_mutex_lock(&c->mu);
    c->st.refusals++;
    memcpy(c->refusal, msg, sizeof msg);
    c->refused_until = sh_time_mono_ms() + CL_REFUSE_HOLD_MS;
    cl_fail_all_locked(c, SHOAL_EUNAVAILABLE, msg);
    pthread_mutex_unlock(&c->mu);
}

void cl_count_bad_frame(shoal_client_t *c)
{
    pthread_mutex_lock(&c->mu);
    c->st.bad_frames++;
    pthread_mutex_unlock(&c->mu);
}

/* ---- the deadline thread ------------------------------------------------ */

static void cl_abs_time(uint64_t mono_ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ms / 1000u);
    ts->tv_nsec = (long)(mono_ms % 1000u) * 1000000L;
}

static void *cl_sweeper_main(void *arg)
{
    shoal_client_t *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        uint64_t now = sh_time_mono_ms();
        cl_pend_t *p = c->head;
        if (p && p->deadline <= now) {
            shoal_client_done_fn done = p->done;
            void *udata = p->udata;
            char msg[SHOAL_CLIENT_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "no reply from node %s within %u ms", c->node,
                     p->timeout_ms);
            cl_slot_release(c, p);
            c->st.timeouts++;
            pthread_mutex_unlock(&c->mu);
            done(udata, SHOAL_ETIMEOUT, NULL, 0, msg);
            pthread_mutex_lock(&c->mu);
        } else if (p || c->sweep_until != UINT64_MAX) {
            /* Sleep until the earliest deadline, or - when nothing is in
             * flight - until the wake-up already set, which is early at
             * worst: not re-arming for every call saves the wake-up a
             * call into an empty table would otherwise cost. */
            if (p)
                c->sweep_until = p->deadline;
            struct timespec ts;
            cl_abs_time(c->sweep_until, &ts);
            if (pthread_cond_timedwait(&c->sweep_cv, &c->mu, &ts) == ETIMEDOUT && !c->head)
                c->sweep_until = UINT64_MAX;
        } else {
            pthread_cond_wait(&c->sweep_cv, &c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int cl_locks_init(shoal_client_t *c)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* sh_time_mono_ms's clock */
    int rc = pthread_cond_init(&c->sweep_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -rc;
    if ((rc = pthread_mutex_init(&c->mu, NULL)) != 0) {
        pthread_cond_destroy(&c->sweep_cv);
        return -rc;
    }
    return 0;
}

/* Copy and check the configuration.  0 or SHOAL_EBAD_REQUEST. */
static int cl_config(shoal_client_t *c, const shoal_client_config_t *cfg)
{
    const char *cluster = cfg->cluster ? cfg->cluster : "shoal";
    if (!cfg->node_addr || !cfg->node_addr[0] || strlen(cfg->node_addr) >= sizeof c->node ||
        !strchr(cfg->node_addr, ':') || strlen(cluster) >= sizeof c->cluster ||
        cfg->max_pending > (1u << 24))
        return SHOAL_EBAD_REQUEST;
    snprintf(c->node, sizeof c->node, "%s", cfg->node_addr);
    snprintf(c->cluster, sizeof c->cluster, "%s", cluster);
    c->shards = cfg->shards ? cfg->shards : 256;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : SHOAL_CLIENT_TIMEOUT_DEFAULT_MS;
    size_t cap = 1;
    while (cap < (cfg->max_pending ? cfg->max_pending : SHOAL_CLIENT_PENDING_DEFAULT))
        cap <<= 1;
    c->mask = cap - 1;
    snprintf(c->self_id, sizeof c->self_id, "client-%ld-%u", (long)getpid(),
             __atomic_fetch_add(&cl_instances, 1, __ATOMIC_RELAXED));
    wire_key_init(&c->key, cfg->secret);
    wire_limits_default(&c->lim);
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = sh_time_wall_ms() << 20 ^ (uint64_t)getpid();
    c->next_corr = seed ? seed : 1;
    c->sweep_until = UINT64_MAX;
    return 0;
}

int shoal_client_new(shoal_client_t **out, const shoal_client_config_t *cfg)
{
    *out = NULL;
    if (!cfg)
        return SHOAL_EBAD_REQUEST;
    shoal_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    int rc = cl_config(c, cfg);
    if (rc != 0) {
        free(c);
        return rc;
    }
    if ((rc = cl_locks_init(c)) != 0) {
        free(c);
        return rc;
    }
    c->slots = calloc(c->mask + 1, sizeof *c->slots);
    rc = c->slots ? cl_io_start(c, cfg->reply_addr) : -ENOMEM;
    if (rc == 0) {
        rc = -pthread_create(&c->sweeper, NULL, cl_sweeper_main, c);
        c->sweeper_started = rc == 0;
    }
    if (rc != 0) {
        shoal_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Closing the transport on a thread of its own, waited for with a bound:
 * nng 1.5's nng_close() can hang forever when a pipe is being set up as
 * the socket closes (nanomsg/nng#1543, #1813; seen here about once in 40
 * frees of a client with calls in flight, on a loaded machine).  The
 * closer owns this struct with the caller: the last one out frees it. */
typedef struct cl_closer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int refs;
    tp_t *tp;
} cl_closer_t;

static void cl_closer_unref(cl_closer_t *k)
{
    pthread_mutex_lock(&k->mu);
    bool last = --k->refs == 0;
    pthread_mutex_unlock(&k->mu);
    if (last) {
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        free(k);
    }
}

static void *cl_closer_main(void *arg)
{
    cl_closer_t *k = arg;
    tp_free(k->tp); /* no receive callback runs after this */
    pthread_mutex_lock(&k->mu);
    k->done = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    cl_closer_unref(k);
    return NULL;
}

#define CL_CLOSE_WAIT_MS 5000

/* tp_free(tp) within CL_CLOSE_WAIT_MS.  False if it did not return: the
 * transport (and anything its callbacks may touch) must then stay. */
static bool cl_tp_close_bounded(tp_t *tp)
{
    cl_closer_t *k = calloc(1, sizeof *k);
    pthread_t th;
    if (!k) {
        tp_free(tp);
        return true;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->refs = 2;
    k->tp = tp;
    if (pthread_create(&th, NULL, cl_closer_main, k) != 0) {
        k->refs = 1;
        cl_closer_main(k); /* closes inline and frees k */
        return true;
    }
    pthread_detach(th);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += CL_CLOSE_WAIT_MS / 1000;
    pthread_mutex_lock(&k->mu);
    while (!k->done && pthread_cond_timedwait(&k->cv, &k->mu, &ts) == 0)
        ;
    bool done = k->done;
    pthread_mutex_unlock(&k->mu);
    cl_closer_unref(k);
    return done;
}

void shoal_client_free(shoal_client_t *c)
{
    if (!c)
        return;
    bool closed = c->tp ? cl_tp_close_bounded(c->tp) : true;
    if (!closed)
        fprintf(stderr, "shoal_client: the transport did not close within %d ms (an nng "
                        "close hang); its memory is left behind\n", CL_CLOSE_WAIT_MS);
    else
        c->tp = NULL;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->sweep_cv);
    pthread_mutex_unlock(&c->mu);
    if (c->sweeper_started)
        pthread_join(c->sweeper, NULL);
    pthread_mutex_lock(&c->mu);
    if (c->slots)
        cl_fail_all_locked(c, SHOAL_EUNAVAILABLE, "client closed");
    pthread_mutex_unlock(&c->mu);
    if (!closed)
        return; /* a receive callback may still hold c: leave it */
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->sweep_cv);
    free(c->slots);
    free(c);
}

/* ---- calls -------------------------------------------------------------- */

_Static_assert(SHOAL_CLIENT_IDEM_MAX + 1 == CALL_IDEM_MAX,
               "the public key bound is call_t's array minus the NUL");

/* Check the arguments and build the call to encode.  0 or a code. */
static int cl_call_fill(call_t *q, const char *type, const char *id, const char *method,
                        const void *body, size_t len, const char *idem)
{
    size_t tl = type ? strnlen(type, SHOAL_TYPE_NAME_MAX) : 0;
    size_t il = id ? strnlen(id, SHOAL_ENTITY_ID_MAX) : 0;
    size_t ml = method ? strnlen(method, SHOAL_METHOD_MAX) : 0;
    size_t kl = idem ? strnlen(idem, CALL_IDEM_MAX) : 0;
    if (tl == 0 || tl >= SHOAL_TYPE_NAME_MAX || il == 0 || il >= SHOAL_ENTITY_ID_MAX ||
        ml == 0 || ml >= SHOAL_METHOD_MAX || kl >= CALL_IDEM_MAX || (len > 0 && !body))
        return SHOAL_EBAD_REQUEST;
    if (len > SHOAL_CLIENT_BODY_MAX || len > CALL_BODY_MAX)
        return SHOAL_ETOO_BIG;
    memset(q, 0, sizeof *q);
    q->kind = CALL_ASK;
    memcpy(q->type, type, tl + 1);
    memcpy(q->id, id, il + 1);
    if (ml)
        memcpy(q->method, method, ml + 1);
    if (kl)
        memcpy(q->idem_key, idem, kl + 1);
    q->body = (uint8_t *)body; /* borrowed: rpc_req_encode only reads it */
    q->len = len;
    return 0;
}

/* invoke_async, plus the reason of an immediate failure in errmsg. */
static int cl_submit(shoal_client_t *c, const char *type, const char *id, const char *method,
                     const void *body, size_t len, const shoal_client_call_opts_t *opts,
                     shoal_client_done_fn done, void *udata, char *errmsg, size_t errcap)
{
    call_t q;
    int rc = cl_call_fill(&q, type, id, method, body, len, opts ? opts->idem_key : NULL);
    if (rc != 0) {
        cl_msg(errmsg, errcap, rc == SHOAL_ETOO_BIG ? "body too big"
                                                    : "bad type, id, method or idempotency key");
        return rc;
    }
    uint32_t tmo = opts && opts->timeout_ms ? opts->timeout_ms : c->timeout_ms;
    uint64_t now = sh_time_mono_ms();
    pthread_mutex_lock(&c->mu);
    if (c->refused_until > now) {
        cl_msg(errmsg, errcap, c->refusal);
        pthread_mutex_unlock(&c->mu);
        return SHOAL_EUNAVAILABLE;
    }
    cl_pend_t *p = cl_slot_claim(c, now + tmo, tmo, done, udata);
    uint64_t corr = p ? p->corr : 0;
    pthread_mutex_unlock(&c->mu);
    if (!p) {
        cl_msg(errmsg, errcap, "too many calls in flight");
        return SHOAL_EBUSY;
    }
    rc = cl_io_send(c, &q, corr, sh_time_wall_ms() + tmo);
    pthread_mutex_lock(&c->mu);
    if (rc == 0) {
        c->st.sent++;
    } else if (p->corr == corr) {
        cl_slot_release(c, p);
    } else {
        rc = 0; /* already expired, and its callback ran: it is not an error now */
    }
    pthread_mutex_unlock(&c->mu);
    if (rc != 0)
        cl_msg(errmsg, errcap, rc == SHOAL_EUNAVAILABLE ? "send queue to the node is full"
                                                        : sh_strerror(rc));
    return rc;
}

int shoal_client_invoke_async_opts(shoal_client_t *c, const char *type, const char *id,
                                   const char *method, const void *body, size_t len,
                                   const shoal_client_call_opts_t *opts,
                                   shoal_client_done_fn done, void *udata)
{
    if (!done)
        return SHOAL_EBAD_REQUEST;
    return cl_submit(c, type, id, method, body, len, opts, done, udata, NULL, 0);
}

int shoal_client_invoke_async(shoal_client_t *c, const char *type, const char *id,
                              const char *method, const void *body, size_t len,
                              uint32_t timeout_ms, shoal_client_done_fn done, void *udata)
{
    shoal_client_call_opts_t o = {.timeout_ms = timeout_ms};
    return shoal_client_invoke_async_opts(c, type, id, method, body, len, &o, done, udata);
}

/* A synchronous call's frame on the caller's stack.  The completing
 * thread fills it and posts `done`; a semaphore rather than a condition
 * variable, so the waiter does not wake only to block on a mutex the
 * completing thread still holds (glibc allows destroying the semaphore as
 * soon as sem_wait returns). */
typedef struct cl_wait {
    sem_t done;
    int status;
    uint8_t *reply;
    size_t len;
    char errmsg[SHOAL_CLIENT_ERRMSG_MAX];
} cl_wait_t;

static void cl_wait_done(void *udata, int status, const uint8_t *reply, size_t len,
                         const char *errmsg)
{
    cl_wait_t *w = udata;
    uint8_t *copy = NULL;
    if (status == 0 && len > 0 && !(copy = malloc(len)))
        status = -ENOMEM;
    else if (copy)
        memcpy(copy, reply, len);
    w->status = status;
    w->reply = copy;
    w->len = copy ? len : 0;
    cl_msg(w->errmsg, sizeof w->errmsg, status == -ENOMEM ? "out of memory for the reply"
                                                          : errmsg);
    sem_post(&w->done); /* the last touch of w */
}

int shoal_client_invoke(shoal_client_t *c, const char *type, const char *id,
                        const char *method, const void *body, size_t len,
                        uint32_t timeout_ms, uint8_t **reply, size_t *rlen,
                        char *errmsg, size_t errcap)
{
    shoal_client_call_opts_t o = {.timeout_ms = timeout_ms};
    return shoal_client_invoke_opts(c, type, id, method, body, len, &o, reply, rlen, errmsg,
                                    errcap);
}

int shoal_client_invoke_opts(shoal_client_t *c, const char *type, const char *id,
                             const char *method, const void *body, size_t len,
                             const shoal_client_call_opts_t *opts, uint8_t **reply,
                             size_t *rlen, char *errmsg, size_t errcap)
{
    if (reply)
        *reply = NULL;
    if (rlen)
        *rlen = 0;
    cl_wait_t w;
    if (sem_init(&w.done, 0, 0) != 0)
        return -errno;
    int rc = cl_submit(c, type, id, method, body, len, opts, cl_wait_done, &w, errmsg, errcap);
    if (rc == 0) {
        while (sem_wait(&w.done) != 0) /* EINTR only */
            ;
        rc = w.status;
        cl_msg(errmsg, errcap, w.errmsg);
        if (rlen)
            *rlen = w.len;
        if (reply)
            *reply = w.reply;
        else
            free(w.reply);
    }
    sem_destroy(&w.done);
    return rc;
}

const char *shoal_client_reply_addr(const shoal_client_t *c)
{
    return c->self_addr;
}

void shoal_client_stats_get(shoal_client_t *c, shoal_client_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}
