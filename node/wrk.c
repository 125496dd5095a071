/*
 * wrk.c - a shard worker: its thread, its libuv loop, how other threads
 * reach it, and the batch that runs turns.
 *
 * Design notes.
 *
 * Input.  Other threads hand a worker calls (wrk_submit), ask replies
 * (ent_ask_done) and shard releases through its port: a mutex, a closed
 * flag and the uv_async_t that wakes the loop.  Calls go into a bounded
 * sh_mpsc_t (full: SH_EBUSY, the caller keeps the call); replies go into
 * an unbounded intrusive list, because a reply must never be refused and
 * there can be at most one per open turn, which the mailboxes bound.
 * uv_async_send is issued under the port mutex after checking `closed`,
 * so no thread touches the async handle once the worker has closed it.
 * The async callback drains everything (libuv coalesces wake-ups).
 *
 * The port is reference counted and outlives the worker: an ask sent to
 * another worker or node holds a reference through its turn, and a reply
 * arriving after shutdown finds the port closed and is freed there.
 *
 * Batches.  Work found by a callback (ready entities, replies completed on
 * this thread) runs in batches of WRK_BATCH turns and continuations; if
 * work is left, a uv_idle handle brings the loop back after it has polled
 * for input and timers, so a stream of local messages cannot starve them.
 * One turn per entity per visit, entities round-robin (ent.c).
 *
 * Fast path.  A call an entity makes (ask or tell) for a shard this
 * worker serves is delivered directly, without the router; "serves" means
 * shard % nworkers == index AND the node told the worker it owns the
 * shard (wrk_shard_acquire), because in a cluster the same shard number
 * may belong to another node.
 *
 * Shutdown.  wrk_free sets `stop` and wakes the loop; the worker closes the
 * port, completes queued input and mail with SH_ECLOSED, ends open turns,
 * destroys entities and timers, closes its handles and its loop returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ent_int.h"
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"

_Thread_local struct wrk *wrk_self;

/* ---- the port */

wrk_port_t *wrk_port_ref(wrk_port_t *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void wrk_port_unref(wrk_port_t *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p);
}

bool wrk_port_reply(wrk_port_t *p, call_t *c)
{
    pthread_mutex_lock(&p->mu);
    bool open = !p->closed;
    if (open) {
        c->next = NULL;
        if (p->rtail)
            p->rtail->next = c;
        else
            p->rhead = c;
        p->rtail = c;
        uv_async_send(p->async);
    }
    pthread_mutex_unlock(&p->mu);
    return open;
}

int wrk_submit(wrk_t *w, call_t *c)
{
    wrk_port_t *p = w->port;
    int rc = SH_ECLOSED;
    pthread_mutex_lock(&p->mu);
    if (!p->closed) {
        rc = sh_mpsc_push(&w->input, c) == 0 ? 0 : SH_EBUSY;
        if (rc == 0)
            uv_async_send(p->async);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void wrk_shard_acquire(wrk_t *w, uint32_t shard)
{
    if (shard < w->cfg.shards)
        atomic_store_explicit(&w->owned[shard], 1, memory_order_relaxed);
}

void wrk_shard_release(wrk_t *w, uint32_t shard)
{
    if (shard >= w->cfg.shards)
        return;
    atomic_store_explicit(&w->owned[shard], 0, memory_order_relaxed);
    wrk_port_t *p = w->port;
    pthread_mutex_lock(&p->mu);
    if (!p->closed) {
        w->release_bits[shard] = 1;
        p->release_pending = true;
        uv_async_send(p->async);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Move replies queued by other threads to the local list. */
static void wrk_take_replies(struct wrk *w)
{
    wrk_port_t *p = w->port;
    pthread_mutex_lock(&p->mu);
    call_t *h = p->rhead, *t = p->rtail;
    p->rhead = p->rtail = NULL;
    pthread_mutex_unlock(&p->mu);
    if (!h)
        return;
    if (w->lr_tail)
        w->lr_tail->next = h;
    else
        w->lr_head = h;
    w->lr_tail = t;
}

/* Journal commits completed by the writer: release their output. */
static void wrk_take_commits(struct wrk *w)
{
    wrk_port_t *p = w->port;
    pthread_mutex_lock(&p->mu);
    ent_pend_t *h = p->jhead;
    p->jhead = p->jtail = NULL;
    pthread_mutex_unlock(&p->mu);
    for (ent_pend_t *nx; h; h = nx) {
        nx = h->dnext;
        ent_jrnl_done(w, h);
    }
}

/* Shard releases, one at a time with the lock dropped in between: the
 * release completes calls, whose on_done may submit to this worker. */
static void wrk_take_releases(struct wrk *w)
{
    wrk_port_t *p = w->port;
    uint32_t n = w->cfg.nworkers;
    pthread_mutex_lock(&p->mu);
    bool any = p->release_pending;
    p->release_pending = false;
    pthread_mutex_unlock(&p->mu);
    for (uint32_t s = w->cfg.index; any && s < w->cfg.shards; s += n) {
        pthread_mutex_lock(&p->mu);
        bool set = w->release_bits[s];
        w->release_bits[s] = 0;
        pthread_mutex_unlock(&p->mu);
        if (set)
            ent_release_shard(w, s);
    }
}

void wrk_send(struct wrk *w, call_t *c)
{
    uint32_t s = c->shard;
    if (s % w->cfg.nworkers == w->cfg.index &&
        atomic_load_explicit(&w->owned[s], memory_order_relaxed)) {
        WRK_INC(w, local_fast_path);
        ent_deliver(w, c);
        return;
    }
    if (!w->cfg.route) {
        call_complete(c, SH_EUNAVAILABLE, NULL, 0, "no route for entity calls");
        return;
    }
    w->cfg.route(w->cfg.router, c);
}

/* ---- the loop */

static void wrk_idle_cb(uv_idle_t *h);

/* Run up to WRK_BATCH continuations and turns; keep the idle handle on
 * while work is left. */
static void wrk_pump(struct wrk *w)
{
    for (unsigned budget = WRK_BATCH; budget > 0; budget--) {
        call_t *c = w->lr_head;
        if (c) {
            w->lr_head = c->next;
            if (!w->lr_head)
                w->lr_tail = NULL;
            c->next = NULL;
            ent_turn_reply_in(w, c);
            continue;
        }
        ent_t *e = ent_ready_pop(w);
        if (!e)
            break;
        ent_turn_run(w, e);
    }
    if (w->lr_head || w->ready_head)
        uv_idle_start(&w->idle, wrk_idle_cb);
    else
        uv_idle_stop(&w->idle);
}

static void wrk_close(struct wrk *w)
{
    wrk_port_t *p = w->port;
    w->closing = true;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_mutex_unlock(&p->mu);
    wrk_take_replies(w);
    /* The node stops the journal writer before its workers, so every
     * commit has come back by now: release them before dropping entities. */
    wrk_take_commits(w);
    call_t *c;
    while ((c = sh_mpsc_pop(&w->input)))
        call_complete(c, SH_ECLOSED, NULL, 0, "worker shutting down");
    ent_close_all(w);
    while ((c = w->lr_head)) { /* every turn has ended: these are dropped */
        w->lr_head = c->next;
        if (!w->lr_head)
            w->lr_tail = NULL;
        ent_turn_reply_in(w, c);
    }
    SH_ASSERT(w->tq.n == 0 && w->active == 0);
    uv_close((uv_handle_t *)&w->async, NULL);
    uv_close((uv_handle_t *)&w->idle, NULL);
    uv_close((uv_handle_t *)&w->tq_timer, NULL);
    uv_close((uv_handle_t *)&w->sweep_timer, NULL);
}

static void wrk_async_cb(uv_async_t *h)
{
    struct wrk *w = h->data;
    if (w->closing)
        return;
    if (atomic_load(&w->stop)) {
        wrk_close(w);
        return;
    }
    /* Input first: calls queued before a release belong to the old owner
     * and are dropped with the shard, not served by a new activation. */
    call_t *c;
    while ((c = sh_mpsc_pop(&w->input)))
        ent_deliver(w, c);
    wrk_take_releases(w);
    wrk_take_replies(w);
    wrk_take_commits(w);
    wrk_pump(w);
    ent_tq_arm(w);
}

static void wrk_idle_cb(uv_idle_t *h)
{
    struct wrk *w = h->data;
    wrk_pump(w);
    ent_tq_arm(w);
}

void ent_tq_timer_cb(uv_timer_t *h)
{
    struct wrk *w = h->data;
    ent_tq_fire_due(w);
    wrk_pump(w);
    ent_tq_arm(w);
}

static void wrk_sweep_cb(uv_timer_t *h)
{
    struct wrk *w = h->data;
    ent_sweep(w, uv_now(&w->loop));
    ent_tq_arm(w);
}

static void *wrk_main(void *arg)
{
    struct wrk *w = arg;
    wrk_self = w;
    char name[16];
    snprintf(name, sizeof name, "shoal-wrk-%u", w->cfg.index);
    pthread_setname_np(pthread_self(), name);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    wrk_self = NULL;
    return NULL;
}

/* ---- life cycle */

static void wrk_mem_free(struct wrk *w)
{
    ent_turn_scratch_fini(&w->scratch);
    if (w->tab)
        ent_table_fini(w);
    free(w->tq.v);
    if (w->input.slots)
        sh_mpsc_fini(&w->input);
    free((void *)w->owned);
    free(w->release_bits);
    free((void *)w->shard_active);
    free(w->depth_cnt);
    wrk_port_unref(w->port);
    free(w);
}

static int wrk_mem_init(struct wrk *w)
{
    uint32_t slots = (w->cfg.shards + w->cfg.nworkers - 1) / w->cfg.nworkers;
    w->port = calloc(1, sizeof *w->port);
    if (!w->port)
        return -ENOMEM;
    pthread_mutex_init(&w->port->mu, NULL);
    atomic_init(&w->port->refs, 1);
    w->port->async = &w->async;
    w->owned = calloc(w->cfg.shards, sizeof *w->owned);
    w->release_bits = calloc(w->cfg.shards, 1);
    w->shard_active = calloc(slots, sizeof *w->shard_active);
    w->depth_cnt = calloc((size_t)w->cfg.mailbox_max + 2, sizeof *w->depth_cnt);
    if (!w->owned || !w->release_bits || !w->shard_active || !w->depth_cnt)
        return -ENOMEM;
    w->scratch.tq.idx = ENT_TQ_NONE;
    if (sh_mpsc_init(&w->input, WRK_INPUT_MAX) != 0)
        return -ENOMEM;
    return ent_table_init(w);
}

/* Handles on the (not yet running) loop.  On failure every handle made so
 * far is closed and the loop closed. */
static int wrk_loop_init(struct wrk *w)
{
    int rc = uv_loop_init(&w->loop);
    if (rc != 0)
        return rc;
    uv_async_init(&w->loop, &w->async, wrk_async_cb);
    uv_idle_init(&w->loop, &w->idle);
    uv_timer_init(&w->loop, &w->tq_timer);
    uv_timer_init(&w->loop, &w->sweep_timer);
    w->async.data = w->idle.data = w->tq_timer.data = w->sweep_timer.data = w;
    if (w->cfg.idle_timeout_ms) {
        uint64_t iv = w->cfg.idle_timeout_ms / 4;
        iv = iv < 5 ? 5 : iv > 1000 ? 1000 : iv;
        uv_timer_start(&w->sweep_timer, wrk_sweep_cb, iv, iv);
    }
    return 0;
}

static void wrk_loop_abort(struct wrk *w)
{
    uv_close((uv_handle_t *)&w->async, NULL);
    uv_close((uv_handle_t *)&w->idle, NULL);
    uv_close((uv_handle_t *)&w->tq_timer, NULL);
    uv_close((uv_handle_t *)&w->sweep_timer, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
}

int wrk_new(wrk_t **out, const wrk_config_t *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->reg || cfg->nworkers == 0 || cfg->index >= cfg->nworkers ||
        cfg->shards == 0 || cfg->mailbox_max == 0)
        return -EINVAL;
    struct wrk *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->cfg = *cfg;
    int rc = wrk_mem_init(w);
    if (rc == 0)
        rc = wrk_loop_init(w);
    if (rc != 0) {
        wrk_mem_free(w);
        return rc;
    }
    rc = -pthread_create(&w->thread, NULL, wrk_main, w);
    if (rc != 0) {
        wrk_loop_abort(w);
        wrk_mem_free(w);
        return rc;
    }
    w->thread_started = true;
    *out = w;
    return 0;
}

void wrk_free(wrk_t *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    pthread_mutex_lock(&w->port->mu);
    if (!w->port->closed)
        uv_async_send(&w->async);
    pthread_mutex_unlock(&w->port->mu);
    pthread_join(w->thread, NULL);
    int rc = uv_loop_close(&w->loop);
    SH_ASSERT(rc == 0);
    wrk_mem_free(w);
}

/* ---- observation (any thread) */

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void wrk_stats_get(wrk_t *w, wrk_stats_t *out)
{
    const wrk_counters_t *s = &w->st;
    memset(out, 0, sizeof *out);
    out->active = LD(s->active);
    out->activations = LD(s->activations);
    out->passivations = LD(s->passivations);
    out->turns_ok = LD(s->turns_ok);
    out->turns_error = LD(s->turns_error);
    out->turns_timeout = LD(s->turns_timeout);
    out->turns_corrupt = LD(s->turns_corrupt);
    out->busy_rejections = LD(s->busy_rejections);
    out->local_fast_path = LD(s->local_fast_path);
    out->timer_fires = LD(s->timer_fires);
    out->timer_skipped = LD(s->timer_skipped);
    out->late_replies = LD(s->late_replies);
    out->recoveries = LD(s->recoveries);
    out->recovery_us_sum = LD(s->recovery_us_sum);
    out->recovery_events = LD(s->recovery_events);
    out->recovery_failed = LD(s->recovery_failed);
    out->commits_held = LD(s->commits_held);
    out->commits_failed = LD(s->commits_failed);
    out->idem_hits = LD(s->idem_hits);
    out->snapshots = LD(s->snapshots);
    out->reminders_fired = LD(s->reminders_fired);
    for (size_t i = 0; i < WRK_LAT_BUCKETS; i++)
        out->lat_buckets[i] = LD(s->lat[i]);
    out->lat_sum_us = (double)LD(s->lat_sum_us);
    for (size_t i = 0; i < WRK_DEPTH_BUCKETS; i++)
        out->depth_buckets[i] = LD(s->depth[i]);
    out->mailbox_depth_max = LD(s->depth_max);
}

uint32_t wrk_shard_active(wrk_t *w, uint32_t shard)
{
    if (shard >= w->cfg.shards || shard % w->cfg.nworkers != w->cfg.index)
        return 0;
    return atomic_load_explicit(&w->shard_active[shard / w->cfg.nworkers],
                                memory_order_relaxed);
}
