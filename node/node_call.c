/*
 * node_call.c - the node loop's side of entity calls: start-up of the
 * runtime (registry, workers, shard table, RPC), routing each call, and
 * bringing completions home.
 *
 * Design notes.
 *
 * Where calls come from: the HTTP API (api_actors.c), other nodes
 * (rpc_on_frame -> deliver) and entities (a worker's route callback).
 * All of them meet in node_call_route, on the loop, which owns the shard
 * table: local shard -> wrk_submit to worker shard % N; remote -> rpc
 * forward; nobody -> `unavailable`.
 *
 * Threads.  A worker completes a call on its own thread, and call.h says
 * on_done then runs there.  The on_done of every call this node makes
 * (node_call_http_done, node_call_origin_done) only appends the call to
 * `doneq` and wakes the loop; likewise the workers' route callback appends
 * to `routeq`.  Both queues are intrusive lists through call->next under
 * one mutex: they cannot fill up, so a completion is never lost and no
 * HTTP request is left hanging.  libuv coalesces async wakeups, so the
 * callback drains both lists whole.  When the loop itself completes a call
 * (unavailable, busy, an RPC reply) it goes through the same path, one
 * loop turn later, which keeps every reply on one code path and avoids
 * re-entering the API from inside a route decision.
 *
 * Membership.  Every member event marks the table dirty and schedules a
 * zero-delay timer, so a burst of events (a join brings the whole member
 * list) costs one recomputation; a call routed before that timer fires
 * refreshes the table itself, so no call is routed on a stale view.
 * Shards this node stopped owning are released on their worker (entities
 * dropped: until persistence and handoff land, their in-memory state is
 * gone, which is the documented behaviour of this stage).
 *
 * Shutdown order matters because calls point at whoever made them: see
 * node_calls_stop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "node_int.h"
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

/* ---- the two queues (any thread) ------------------------------------------ */

static void callq_push(node_callq_t *q, call_t *c)
{
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

static call_t *callq_take(node_callq_t *q)
{
    call_t *all = q->head;
    q->head = q->tail = NULL;
    return all;
}

static void node_enqueue(node_t *n, node_callq_t *q, call_t *c)
{
    pthread_mutex_lock(&n->q_mu);
    callq_push(q, c);
    if (n->q_async_ok)
        uv_async_send(&n->calls_async);
    pthread_mutex_unlock(&n->q_mu);
}

void node_call_http_done(call_t *c)
{
    api_req_t *r = c->done_arg;
    node_t *n = r->udata;
    node_enqueue(n, &n->doneq, c);
}

/* on_done of calls made from forwarded requests (rpc_config_t.origin_done). */
static void node_call_origin_done(call_t *c)
{
    node_t *n = rpc_origin_udata(c);
    node_enqueue(n, &n->doneq, c);
}

/* wrk_route_fn: an entity's ask or tell, from a worker thread. */
static void node_wrk_route(void *router, call_t *c)
{
    node_t *n = router;
    node_enqueue(n, &n->routeq, c);
}

/* A completed call made by this node goes home. */
static void node_call_home(node_t *n, call_t *c)
{
    if (c->on_done == node_call_http_done)
        api_actors_done(n, c);
    else if (n->rpc && rpc_is_origin(n->rpc, c))
        rpc_reply(n->rpc, c);
    else
        SH_ASSERT(!"a completed call the node did not make");
}

static void node_calls_drain(node_t *n)
{
    pthread_mutex_lock(&n->q_mu);
    call_t *route = callq_take(&n->routeq);
    call_t *done = callq_take(&n->doneq);
    pthread_mutex_unlock(&n->q_mu);
    while (route) {
        call_t *next = route->next;
        route->next = NULL;
        node_call_route(n, route);
        route = next;
    }
    while (done) {
        call_t *next = done->next;
        done->next = NULL;
        node_call_home(n, done);
        done = next;
    }
}

static void node_calls_async_cb(uv_async_t *a)
{
    node_calls_drain(a->data);
}

/* ---- RPC timer ------------------------------------------------------------- */

static void node_rpc_arm(node_t *n);

static void node_rpc_timer_cb(uv_timer_t *t)
{
    node_t *n = t->data;
    n->rpc_armed = UINT64_MAX;
    rpc_sweep(n->rpc, sh_time_mono_ms());
    node_rpc_arm(n);
}

/* Keep rpc_timer set for the earliest pending deadline. */
static void node_rpc_arm(node_t *n)
{
    uint64_t d = rpc_next_deadline(n->rpc);
    if (d == n->rpc_armed || n->calls_stopping)
        return;
    if (d == UINT64_MAX) {
        uv_timer_stop(&n->rpc_timer);
    } else {
        uint64_t now = sh_time_mono_ms();
        uv_timer_start(&n->rpc_timer, node_rpc_timer_cb, d > now ? d - now : 0, 0);
    }
    n->rpc_armed = d;
}

/* ---- routing --------------------------------------------------------------- */

static void node_call_local(node_t *n, call_t *c)
{
    wrk_t *w = n->workers[c->shard % n->nworkers];
    if (c->kind == CALL_LOCATE) { /* answered here: never enters a mailbox */
        bool active = wrk_entity_active(w, c->type, c->id);
        const char *rep = active ? "{\"active\":true}" : "{\"active\":false}";
        call_complete(c, 0, rep, strlen(rep), NULL);
        return;
    }
    if (c->kind == CALL_JOURNAL) { /* read from this node's journal, here */
        node_journal_answer(n, c);
        return;
    }
    int rc = wrk_submit(w, c);
    if (rc == 0) {
        n->ctr.routed_local++;
        return;
    }
    if (rc == SH_EBUSY)
        n->ctr.busy_rejections++;
    call_complete(c, rc, NULL, 0,
                  rc == SH_EBUSY ? "worker queue full, retry" : "worker is stopping");
}

static void node_call_unavailable(node_t *n, call_t *c, const char *why)
{
    char msg[CALL_MSG_MAX];
    n->ctr.unavailable++;
    snprintf(msg, sizeof msg, "no owner reachable for shard %u (%s)", c->shard, why);
    call_complete(c, SH_EUNAVAILABLE, NULL, 0, msg);
}

static void node_call_forward(node_t *n, call_t *c, const char *owner)
{
    char addr[SWIM_ADDR_MAX];
    if (!node_member_addr(n, owner, addr, sizeof addr)) {
        node_call_unavailable(n, c, "owner has no address");
        return;
    }
    int rc = rpc_forward(n->rpc, c, addr, sh_time_mono_ms(), sh_time_wall_ms());
    if (rc != 0) {
        if (rc == SH_EUNAVAILABLE)
            node_call_unavailable(n, c, "owner's send queue is full");
        else
            call_complete(c, rc, NULL, 0, rc == SH_EBUSY ? "too many forwarded calls" : NULL);
        return;
    }
    node_rpc_arm(n);
}

/* Route c, forwarded here by node `from` (NULL: it entered at this node);
 * route_decide's replica rule needs the forwarder. */
static void node_call_route_from(node_t *n, call_t *c, const char *from)
{
    if (n->calls_stopping) {
        call_complete(c, SH_ECLOSED, NULL, 0, "node is shutting down");
        return;
    }
    node_route_refresh(n);
    const char *owner;
    switch (route_decide(n->route, c->shard, c->hops, from, &owner)) {
    case ROUTE_LOCAL:
        node_call_local(n, c);
        break;
    case ROUTE_FORWARD:
        node_call_forward(n, c, owner);
        break;
    default:
        node_call_unavailable(n, c, c->hops ? "forwarded too often: views disagree"
                                            : "no member is eligible");
        break;
    }
}

void node_call_route(node_t *n, call_t *c)
{
    node_call_route_from(n, c, NULL);
}

/* ---- membership ------------------------------------------------------------ */

const char *node_member_addr(node_t *n, const char *id, char *buf, size_t cap)
{
    swim_member_view_t m;
    if (swim_member_find(swim_io_core(n->io), id, &m) != 0 || !m.addr[0])
        return NULL;
    snprintf(buf, cap, "%s", m.addr);
    return buf;
}

/* The whole view, as stab wants it.  Returns the count, or -ENOMEM. */
static long node_view_build(node_t *n, swim_member_view_t **mv, stab_member_t **sv)
{
    const swim_t *core = swim_io_core(n->io);
    size_t count = swim_member_count(core);
    *mv = calloc(count ? count : 1, sizeof **mv);
    *sv = calloc(count ? count : 1, sizeof **sv);
    if (!*mv || !*sv)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (swim_member_get(core, i, &(*mv)[k]) == 0) {
            (*sv)[k] = (stab_member_t){.id = (*mv)[k].id, .state = (*mv)[k].state};
            k++;
        }
    return (long)k;
}

void node_route_refresh(node_t *n)
{
    if (!n->route_dirty)
        return;
    swim_member_view_t *mv;
    stab_member_t *sv;
    long nv = node_view_build(n, &mv, &sv);
    route_change_t chg;
    int rc = nv < 0 ? (int)nv : route_update(n->route, sv, (size_t)nv, &chg);
    free(mv);
    free(sv);
    if (rc != 0) { /* keep the old table and try again at the next event */
        SH_LOGE("shard_table_update_failed", "members=%ld err=\"%s\"", nv, sh_strerror(rc));
        return;
    }
    n->route_dirty = false;
    n->ctr.view_updates++;
    n->ctr.owner_changes += chg.owners_changed;
    const uint32_t *sh;
    size_t k = n->nworkers ? route_released(n->route, &sh) : 0; /* none once stopped */
    for (size_t i = 0; i < k; i++)
        wrk_shard_release(n->workers[sh[i] % n->nworkers], sh[i]);
    k = n->nworkers ? route_acquired(n->route, &sh) : 0;
    for (size_t i = 0; i < k; i++) /* lets entities' calls take the fast path */
        wrk_shard_acquire(n->workers[sh[i] % n->nworkers], sh[i]);
    if (k)
        node_rem_acquired(n, sh, k); /* their durable reminders fire here now */
    if (chg.owners_changed)
        SH_LOGI("shard_owner_changed",
                "owners_changed=%u acquired=%u released=%u slots_moved=%u eligible=%u",
                chg.owners_changed, chg.acquired, chg.released, chg.slots_moved, chg.eligible);
}

static void node_route_timer_cb(uv_timer_t *t)
{
    node_route_refresh(t->data);
}

static void node_on_member(void *udata, const swim_member_view_t *m, enum swim_state old,
                           bool is_new)
{
    node_t *n = udata;
    (void)m;
    (void)old;
    (void)is_new;
    n->route_dirty = true;
    if (n->calls_init && !n->calls_stopping)
        uv_timer_start(&n->route_timer, node_route_timer_cb, 0, 0);
}

static void node_on_frame(void *udata, const wire_hdr_t *h, const uint8_t *p, size_t len)
{
    node_t *n = udata;
    if (h->kind != WIRE_KIND_RPC_REQ && h->kind != WIRE_KIND_RPC_REP)
        return; /* (counted by the adapter as frames_in; nothing else speaks yet) */
    rpc_on_frame(n->rpc, h, p, len, sh_time_mono_ms(), sh_time_wall_ms());
    node_rpc_arm(n);
}

/* ---- RPC glue -------------------------------------------------------------- */

static int node_rpc_send(void *udata, uint8_t kind, const char *to, uint64_t corr,
                         uint64_t deadline_wall_ms, const uint8_t *p, size_t len)
{
    node_t *n = udata;
    return swim_io_send(n->io, kind, to, corr, deadline_wall_ms, p, len);
}

static void node_rpc_deliver(void *udata, call_t *c, const char *from)
{
    node_call_route_from(udata, c, from);
}

/* ---- start and stop -------------------------------------------------------- */

static int node_reg_start(node_t *n)
{
    const cfg_t *c = &n->cfg;
    struct reg_builtin_cfg bc = {.ratelimit_limit = c->ratelimit_limit,
                                 .ratelimit_window_ms = c->ratelimit_window_ms,
                                 .cart_ttl_ms = c->cart_ttl_ms};
    int rc = reg_new(&n->reg);
    if (rc == 0 && (rc = reg_add_builtins(n->reg, &bc)) != 0)
        SH_LOGE("node_start_failed", "what=builtin_types err=\"%s\"", sh_strerror(rc));
    if (rc == 0 && c->debug_faults && (rc = type_debug_register(n->reg)) != 0)
        SH_LOGE("node_start_failed", "what=debug_type err=\"%s\"", sh_strerror(rc));
    for (size_t i = 0; rc == 0 && i < c->nplugins; i++) {
        char err[512] = "";
        if ((rc = reg_load_plugin(n->reg, c->plugins[i], err, sizeof err)) != 0)
            SH_LOGE("node_start_failed", "what=plugin path=\"%s\" err=\"%s\"", c->plugins[i],
                    err[0] ? err : sh_strerror(rc));
        else
            SH_LOGI("plugin_loaded", "path=\"%s\" types=%zu", c->plugins[i], reg_count(n->reg));
    }
    return rc;
}

static int node_workers_start(node_t *n)
{
    const cfg_t *c = &n->cfg;
    n->workers = calloc(c->workers, sizeof *n->workers);
    if (!n->workers)
        return -ENOMEM;
    uint32_t share = (c->max_active + c->workers - 1) / c->workers;
    for (uint32_t i = 0; i < c->workers; i++) {
        wrk_config_t wc = {.index = i, .nworkers = c->workers, .shards = c->shards,
                           .mailbox_max = c->mailbox, .idle_timeout_ms = c->idle_timeout_ms,
                           .max_active = share, .reg = n->reg, .route = node_wrk_route,
                           .router = n};
        node_jrnl_wrk_config(n, &wc);
        int rc = wrk_new(&n->workers[i], &wc);
        if (rc != 0) {
            SH_LOGE("node_start_failed", "what=worker index=%u err=\"%s\"", i, sh_strerror(rc));
            return rc;
        }
        n->nworkers = i + 1;
    }
    return 0;
}

static int node_rpc_start(node_t *n)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = sh_time_wall_ms() << 20;
    rpc_config_t rc = {.shards = n->cfg.shards, .corr_seed = seed, .send = node_rpc_send,
                       .deliver = node_rpc_deliver, .origin_done = node_call_origin_done,
                       .udata = n};
    return rpc_new(&n->rpc, &rc);
}

static void node_calls_handles_init(node_t *n)
{
    pthread_mutex_init(&n->q_mu, NULL);
    uv_async_init(&n->loop, &n->calls_async, node_calls_async_cb);
    uv_timer_init(&n->loop, &n->route_timer);
    uv_timer_init(&n->loop, &n->rpc_timer);
    n->calls_async.data = n->route_timer.data = n->rpc_timer.data = n;
    n->rpc_armed = UINT64_MAX;
    n->calls_init = true;
    pthread_mutex_lock(&n->q_mu);
    n->q_async_ok = true;
    pthread_mutex_unlock(&n->q_mu);
}

int node_calls_start(node_t *n)
{
    const cfg_t *c = &n->cfg;
    route_config_t rc = {.self_id = c->id, .shards = c->shards, .replicas = c->replicas};
    node_calls_handles_init(n);
    int err = node_reg_start(n);
    if (err == 0 && (err = route_new(&n->route, &rc)) != 0)
        SH_LOGE("node_start_failed", "what=shard_table err=\"%s\"", sh_strerror(err));
    if (err == 0 && (err = node_rpc_start(n)) != 0)
        SH_LOGE("node_start_failed", "what=rpc err=\"%s\"", sh_strerror(err));
    if (err == 0)
        err = node_jrnl_start(n);
    if (err == 0)
        err = node_rem_start(n);
    if (err == 0)
        err = node_workers_start(n);
    if (err != 0)
        return err;
    n->route_dirty = true; /* self is a member from the start */
    node_route_refresh(n);
    swim_io_set_handlers(n->io, node_on_frame, node_on_member, n);
    SH_LOGI("runtime_started", "workers=%u types=%zu mailbox=%u idle_timeout_ms=%u "
            "max_active=%u call_timeout_ms=%u",
            n->nworkers, reg_count(n->reg), c->mailbox, c->idle_timeout_ms, c->max_active,
            c->call_timeout_ms);
    return 0;
}

/*
 * Order, and why:
 *  1. calls_stopping: anything routed from now on completes `unavailable`;
 *  2. pending forwarded calls complete (ECLOSED) while their makers still
 *     exist - an entity's ask goes back to its (still running) worker;
 *  3. the queues are drained: entity calls waiting to be routed complete
 *     via step 1, completions are answered;
 *  4. workers stop (wrk_free): each completes what it holds, so HTTP
 *     requests and forwarded calls come back through doneq;
 *  5. the queues are drained once more; an entity call that a worker
 *     emitted while stopping has no maker any more and is just freed;
 *  6. the handles close.
 * After this, every api_req_t the actor API kept has been answered, as
 * api_close requires.
 */
void node_calls_stop(node_t *n)
{
    if (!n->calls_init || n->calls_stopping)
        return;
    n->calls_stopping = true;
    if (n->io)
        swim_io_set_handlers(n->io, NULL, NULL, NULL);
    if (n->rpc)
        rpc_fail_all(n->rpc, SH_ECLOSED, "node is shutting down");
    node_calls_drain(n);
    node_rem_stop(n);
    node_jrnl_stop(n); /* before the workers: see node_jrnl.c */
    for (uint32_t i = 0; i < n->nworkers; i++)
        wrk_free(n->workers[i]);
    n->nworkers = 0;
    pthread_mutex_lock(&n->q_mu);
    n->q_async_ok = false;
    call_t *orphans = callq_take(&n->routeq);
    pthread_mutex_unlock(&n->q_mu);
    /* Calls entities made that never reached the router.  Completing them
     * (rather than freeing) lets the asking worker's port, which outlives
     * the worker, release the waiting turn; a closed port drops them. */
    while (orphans) {
        call_t *next = orphans->next;
        call_complete(orphans, SH_ECLOSED, NULL, 0, "node is shutting down");
        orphans = next;
    }
    node_calls_drain(n);
    uv_timer_stop(&n->rpc_timer);
    uv_timer_stop(&n->route_timer);
    uv_close((uv_handle_t *)&n->calls_async, NULL);
    uv_close((uv_handle_t *)&n->route_timer, NULL);
    uv_close((uv_handle_t *)&n->rpc_timer, NULL);
}

void node_calls_free(node_t *n)
{
    node_jrnl_stop(n);
    for (uint32_t i = 0; i < n->nworkers; i++)
        wrk_free(n->workers[i]);
    n->nworkers = 0;
    node_rem_free(n);
    node_jrnl_free(n);
    free(n->workers);
    n->workers = NULL;
    rpc_free(n->rpc);
    n->rpc = NULL;
    route_free(n->route);
    n->route = NULL;
    reg_free(n->reg);
    n->reg = NULL;
    if (n->calls_init)
        pthread_mutex_destroy(&n->q_mu);
    n->calls_init = false;
}

void node_wrk_stats(node_t *n, wrk_stats_t *sum)
{
    memset(sum, 0, sizeof *sum);
    for (uint32_t i = 0; i < n->nworkers; i++) {
        wrk_stats_t s;
        wrk_stats_get(n->workers[i], &s);
        sum->active += s.active;
        sum->activations += s.activations;
        sum->passivations += s.passivations;
        sum->turns_ok += s.turns_ok;
        sum->turns_error += s.turns_error;
        sum->turns_timeout += s.turns_timeout;
        sum->turns_corrupt += s.turns_corrupt;
        sum->busy_rejections += s.busy_rejections;
        sum->local_fast_path += s.local_fast_path;
        sum->timer_fires += s.timer_fires;
        sum->timer_skipped += s.timer_skipped;
        sum->late_replies += s.late_replies;
        sum->recoveries += s.recoveries;
        sum->recovery_us_sum += s.recovery_us_sum;
        sum->recovery_events += s.recovery_events;
        sum->recovery_failed += s.recovery_failed;
        sum->commits_held += s.commits_held;
        sum->commits_failed += s.commits_failed;
        sum->idem_hits += s.idem_hits;
        sum->snapshots += s.snapshots;
        sum->reminders_fired += s.reminders_fired;
        for (int b = 0; b < WRK_LAT_BUCKETS; b++)
            sum->lat_buckets[b] += s.lat_buckets[b];
        sum->lat_sum_us += s.lat_sum_us;
        for (int b = 0; b < WRK_DEPTH_BUCKETS; b++)
            sum->depth_buckets[b] += s.depth_buckets[b];
        if (s.mailbox_depth_max > sum->mailbox_depth_max)
            sum->mailbox_depth_max = s.mailbox_depth_max;
    }
}
