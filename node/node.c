/*
 * node.c - the node loop: start-up, wiring, the route table and shutdown.
 *
 * Design notes.  One libuv loop thread owns all cluster state; the SWIM
 * adapter (membership/swim_io.c) and the HTTP API (api.c) each bring an
 * async handle through which nng threads hand work to it.  Start-up does
 * its blocking work (data directory, lock, incarnation) before the loop
 * runs; after that, nothing on the loop blocks.
 *
 * Shutdown (SIGTERM or SIGINT):
 *   1. swim_io_leave: the core marks us `left` and the news is queued on
 *      the transport at once;
 *   2. the loop keeps running for NODE_LEAVE_GRACE_MS so the frames leave
 *      the per-peer queues (peers then see `left`, not `dead`) while the
 *      API still answers (/readyz says stopping);
 *   3. the API closes (queued requests get 503), the transport is freed,
 *      and every handle is closed; uv_run returns when none is left, and
 *      uv_loop_close proves it.
 * A second signal during the grace skips the rest of the wait.  Step 3
 * first stops the entity runtime (node_call.c, node_calls_stop): workers
 * are freed after the grace, and every call still held is answered before
 * the API closes.
 */
#include "node_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

/* The HTTP API.  One row per endpoint (see api.h for patterns). */
static const api_route_t node_routes[] = {
    {"GET", "/healthz", api_cluster_healthz, 0},
    {"GET", "/readyz", api_cluster_readyz, 0},
    {"GET", "/v1/cluster/members", api_cluster_members, 0},
    {"GET", "/v1/cluster/shards", api_cluster_shards, 0},
    {"GET", "/v1/cluster/shards/{n}", api_cluster_shard, 0},
    {"GET", "/v1/cluster/locate/{type}/{id}", api_cluster_locate, 0},
    {"GET", "/metrics", api_cluster_metrics, 0},
    {"POST", "/v1.0/actors/{type}/{id}/method/{method}", api_actors_invoke, 0},
    {"PUT", "/v1.0/actors/{type}/{id}/method/{method}", api_actors_invoke, 0},
    {"PUT", "/v1.0/actors/{type}/{id}/timers/{name}", api_actors_timer, 0},
    {"POST", "/v1.0/actors/{type}/{id}/timers/{name}", api_actors_timer, 0},
    {"GET", "/v1.0/actors/{type}/{id}/timers/{name}", api_actors_timer, 0},
    {"DELETE", "/v1.0/actors/{type}/{id}/timers/{name}", api_actors_timer, 0},
    {"PUT", "/v1.0/actors/{type}/{id}/reminders/{name}", api_actors_reminder, 0},
    {"POST", "/v1.0/actors/{type}/{id}/reminders/{name}", api_actors_reminder, 0},
    {"GET", "/v1.0/actors/{type}/{id}/reminders/{name}", api_actors_reminder, 0},
    {"DELETE", "/v1.0/actors/{type}/{id}/reminders/{name}", api_actors_reminder, 0},
    {"GET", "/v1.0/actors/{type}/{id}/state/{key}", api_actors_state, 0},
    {"GET", "/v1/actors/{type}/{id}/journal", api_actors_journal, 0},
    {"POST", "/v1/debug/fault", api_debug_fault, API_ROUTE_DEBUG},
};

/* ---- shutdown -------------------------------------------------------- */

static void node_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h))
        return;
    SH_LOGW("handle_left_open", "type=%s", uv_handle_type_name(uv_handle_get_type(h)));
    uv_close(h, NULL);
}

/* Close the API, the transport and our own handles; the loop then ends. */
static void node_teardown(node_t *n)
{
    if (n->stopped)
        return;
    n->stopped = true;
    node_calls_stop(n); /* answers every request the actor API holds */
    api_close(n->api);
    swim_io_close(n->io);
    if (n->handles_init) {
        uv_close((uv_handle_t *)&n->sigterm, NULL);
        uv_close((uv_handle_t *)&n->sigint, NULL);
        uv_close((uv_handle_t *)&n->grace, NULL);
    }
    uv_walk(&n->loop, node_walk_close, NULL);
}

static void node_grace_cb(uv_timer_t *t)
{
    node_teardown(t->data);
}

static void node_signal_cb(uv_signal_t *s, int signum)
{
    node_t *n = s->data;
    if (n->stopping) { /* impatient operator: skip the rest of the grace */
        node_teardown(n);
        return;
    }
    n->stopping = true;
    SH_LOGI("node_stopping", "signal=%s grace_ms=%d", strsignal(signum), NODE_LEAVE_GRACE_MS);
    swim_io_leave(n->io);
    uv_timer_start(&n->grace, node_grace_cb, NODE_LEAVE_GRACE_MS, 0);
}

/* ---- start-up -------------------------------------------------------- */

static uint64_t node_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) == (ssize_t)sizeof seed)
        return seed;
    return sh_time_wall_ms() ^ ((uint64_t)getpid() << 32);
}

static int node_start_swim(node_t *n)
{
    const cfg_t *c = &n->cfg;
    swim_io_config_t sc = {
        .loop = &n->loop,
        .self_id = c->id,
        .bind_addr = c->bind,
        .advertise_addr = c->advertise,
        .cluster = c->cluster,
        .secret = c->secret,
        .shards = c->shards,
        .incarnation = n->incarnation,
        .seed = node_seed(),
        .probe_interval_ms = c->probe_interval_ms,
        .probe_timeout_ms = c->probe_timeout_ms,
        .suspicion_mult = c->suspicion_mult,
        .pushpull_interval_ms = c->pushpull_interval_ms,
    };
    int rc = swim_io_new(&n->io, &sc);
    if (rc != 0)
        SH_LOGE("node_start_failed", "what=cluster_listener bind=%s err=\"%s\"", c->bind,
                sh_strerror(rc));
    return rc;
}

static int node_start_api(node_t *n)
{
    int rc = api_new(&n->api, &n->loop, n->cfg.http, node_routes, SH_ARRAY_LEN(node_routes),
                     n->cfg.debug_faults, n);
    if (rc != 0)
        SH_LOGE("node_start_failed", "what=http_listener http=%s err=\"%s\"", n->cfg.http,
                sh_strerror(rc));
    return rc;
}

static void node_start_handles(node_t *n)
{
    uv_signal_init(&n->loop, &n->sigterm);
    uv_signal_init(&n->loop, &n->sigint);
    uv_timer_init(&n->loop, &n->grace);
    n->sigterm.data = n->sigint.data = n->grace.data = n;
    n->handles_init = true;
    uv_signal_start(&n->sigterm, node_signal_cb, SIGTERM);
    uv_signal_start(&n->sigint, node_signal_cb, SIGINT);
}

static void node_log_started(const node_t *n)
{
    const cfg_t *c = &n->cfg;
    char seeds[CFG_SEEDS_MAX * CFG_ADDR_MAX] = "-";
    size_t off = 0;
    for (size_t i = 0; i < c->nseeds; i++)
        off += (size_t)snprintf(seeds + off, sizeof seeds - off, "%s%s", i ? "," : "",
                                c->seeds[i]);
    SH_LOGI("node_started",
            "id=%s bind=%s advertise=%s http=%s cluster=%s shards=%u replicas=%u "
            "incarnation=%u seeds=%s data=%s secret=%s debug_faults=%s",
            c->id, c->bind, c->advertise, c->http, c->cluster, c->shards, c->replicas,
            n->incarnation, seeds, c->data, c->secret[0] ? "set" : "none",
            c->debug_faults ? "on" : "off");
}

static void node_destroy(node_t *n)
{
    if (n->loop_init) {
        node_teardown(n);
        uv_run(&n->loop, UV_RUN_DEFAULT); /* run the close callbacks */
        if (uv_loop_close(&n->loop) != 0)
            SH_LOGE("loop_not_empty", "detail=\"handles left open at exit\"");
    }
    api_free(n->api);
    node_calls_free(n); /* workers were stopped by node_calls_stop */
    swim_io_free(n->io);
    if (n->lock_fd >= 0)
        close(n->lock_fd);
    free(n);
}

int node_new(node_t **out, const cfg_t *cfg)
{
    *out = NULL;
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    n->cfg = *cfg;
    n->lock_fd = -1;
    char err[512];
    int rc = node_meta_open(cfg->data, cfg->id, &n->incarnation, &n->lock_fd, err, sizeof err);
    if (rc != 0) {
        SH_LOGE("node_start_failed", "what=data_dir err=\"%s\"", err);
        free(n);
        return rc;
    }
    if ((rc = uv_loop_init(&n->loop)) != 0) {
        node_destroy(n);
        return rc;
    }
    n->loop_init = true;
    if ((rc = node_start_swim(n)) != 0 || (rc = node_start_api(n)) != 0 ||
        (rc = node_calls_start(n)) != 0) {
        node_destroy(n);
        return rc;
    }
    node_start_handles(n);
    node_log_started(n);
    const char *seeds[CFG_SEEDS_MAX];
    for (size_t i = 0; i < cfg->nseeds; i++)
        seeds[i] = cfg->seeds[i];
    swim_io_join(n->io, seeds, cfg->nseeds);
    *out = n;
    return 0;
}

int node_run(node_t *n)
{
    uv_run(&n->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&n->loop);
    n->loop_init = false;
    if (rc != 0) {
        SH_LOGE("loop_not_empty", "detail=\"handles left open after stop\"");
        return SH_EINTERNAL;
    }
    swim_member_view_t self;
    if (swim_member_find(swim_io_core(n->io), n->cfg.id, &self) != 0)
        self.incarnation = n->incarnation;
    SH_LOGI("node_stopped", "id=%s incarnation=%u", n->cfg.id, self.incarnation);
    return 0;
}

void node_free(node_t *n)
{
    if (n)
        node_destroy(n);
}
