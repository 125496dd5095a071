/*
 * api_cluster.c - cluster and health endpoints: /healthz, /readyz,
 * /v1/cluster/members, /metrics, and POST /v1/debug/fault.  (The shard
 * and locate endpoints live with the actor API in api_actors.c.)
 *
 * All run on the loop thread (see api.h), so they read the SWIM core and
 * the adapter directly.  Response shapes are part of the external contract
 * (shoalctl and the integration tests parse them): change them only
 * together with docs and clients.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "node_int.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

#define API_FAULT_DELAY_MAX_MS 60000

/* GET /healthz: answered by the loop, so a 200 proves the loop is alive. */
int api_cluster_healthz(api_req_t *r)
{
    node_t *n = r->udata;
    api_reply_json(r, 200, json_pack("{s:s,s:s}", "status", "ok", "id", n->cfg.id));
    return 0;
}

static void readyz_joining_detail(const node_t *n, char *buf, size_t cap)
{
    size_t off = (size_t)snprintf(buf, cap, "waiting for a seed to answer (seeds:");
    for (size_t i = 0; i < n->cfg.nseeds && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? "," : " ", n->cfg.seeds[i]);
    if (off < cap)
        off += (size_t)snprintf(buf + off, cap - off, ")");
    const char *refused = swim_io_refused_reason(n->io);
    if (refused[0] && off < cap)
        snprintf(buf + off, cap - off, "; %s", refused);
}

/* GET /readyz: 200 once joined; 503 while joining (with why) or stopping. */
int api_cluster_readyz(api_req_t *r)
{
    node_t *n = r->udata;
    if (n->stopping) {
        api_reply_json(r, 503, json_pack("{s:s,s:s}", "status", "stopping", "detail",
                                         "node is leaving the cluster"));
        return 0;
    }
    if (swim_io_joined(n->io)) {
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
        return 0;
    }
    char detail[1024];
    readyz_joining_detail(n, detail, sizeof detail);
    api_reply_json(r, 503, json_pack("{s:s,s:s}", "status", "joining", "detail", detail));
    return 0;
}

static int members_cmp(const void *a, const void *b)
{
    return strcmp(((const swim_member_view_t *)a)->id, ((const swim_member_view_t *)b)->id);
}

/* One member as JSON; last_change_ms converted from the core's monotonic
 * clock to wall-clock epoch ms (mono_to_wall = wall_now - mono_now). */
static json_t *members_one(const swim_member_view_t *m, int64_t mono_to_wall)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", m->id, "addr", m->addr, "state",
                     swim_state_name(m->state), "incarnation", (json_int_t)m->incarnation,
                     "last_change_ms", (json_int_t)((int64_t)m->last_change_ms + mono_to_wall));
}

/* GET /v1/cluster/members: every member, sorted by id. */
int api_cluster_members(api_req_t *r)
{
    node_t *n = r->udata;
    const swim_t *core = swim_io_core(n->io);
    size_t count = swim_member_count(core);
    swim_member_view_t *v = calloc(count ? count : 1, sizeof *v);
    if (!v)
        return SH_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (swim_member_get(core, i, &v[k]) == 0)
            k++;
    qsort(v, k, sizeof *v, members_cmp);
    int64_t mono_to_wall = (int64_t)sh_time_wall_ms() - (int64_t)sh_time_mono_ms();
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < k; i++)
        if (json_array_append_new(arr, members_one(&v[i], mono_to_wall)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(v);
    if (!arr)
        return SH_ENOMEM;
    api_reply_json(r, 200, json_pack("{s:s,s:s,s:o}", "self", n->cfg.id, "cluster",
                                     n->cfg.cluster, "members", arr));
    return 0;
}

/* The entity runtime's part of a snapshot. */
static void metrics_collect_node(node_t *n, metrics_snapshot_t *s)
{
    node_wrk_stats(n, &s->wrk);
    if (n->rpc)
        rpc_stats_get(n->rpc, &s->rpc);
    if (n->route) {
        node_route_refresh(n);
        for (uint32_t i = 0; i < n->cfg.shards; i++)
            s->shards_owned += route_owns(n->route, i);
    }
    s->owner_changes = n->ctr.owner_changes;
    s->calls_unavailable = n->ctr.unavailable;
    s->router_busy = n->ctr.busy_rejections;
    if (n->jw)
        jw_stats(n->jw, &s->jw);
    if (n->jrnl)
        jrnl_stats(n->jrnl, &s->jrnl);
    s->reminders_scheduled = node_rem_pending(n);
    s->reminders_sent = node_rem_fired(n);
}

/* GET /metrics: Prometheus text. */
int api_cluster_metrics(api_req_t *r)
{
    node_t *n = r->udata;
    metrics_snapshot_t s;
    swim_io_counters_t ioc;
    tp_stats_t ts;
    tp_t *tp = swim_io_tp(n->io);
    swim_io_counters_get(n->io, &ioc);
    if (tp)
        tp_stats_get(tp, &ts);
    metrics_collect(&s, swim_io_core(n->io), &ioc, tp ? &ts : NULL);
    metrics_collect_node(n, &s);
    char *text;
    size_t len;
    int rc = metrics_render(&s, &text, &len);
    if (rc != 0)
        return rc;
    api_reply_data(r, 200, METRICS_CONTENT_TYPE, text, len);
    free(text);
    return 0;
}

/* Read {"peer","drop","delay_ms","cut"} into *f and *peer; 0 or a message. */
static int fault_parse(json_t *j, tp_fault_t *f, const char **peer, char *err, size_t cap)
{
    const char *key;
    json_t *val;
    memset(f, 0, sizeof *f);
    *peer = NULL;
    json_object_foreach(j, key, val)
    {
        if (strcmp(key, "peer") == 0 && json_is_string(val)) {
            *peer = json_string_value(val);
        } else if (strcmp(key, "drop") == 0 && json_is_number(val)) {
            f->drop_prob = json_number_value(val);
            if (!(f->drop_prob >= 0.0 && f->drop_prob <= 1.0))
                return snprintf(err, cap, "drop must be in 0.0..1.0"), -1;
        } else if (strcmp(key, "delay_ms") == 0 && json_is_integer(val)) {
            json_int_t d = json_integer_value(val);
            if (d < 0 || d > API_FAULT_DELAY_MAX_MS)
                return snprintf(err, cap, "delay_ms must be in 0..%d", API_FAULT_DELAY_MAX_MS),
                       -1;
            f->delay_ms = (uint32_t)d;
        } else if (strcmp(key, "cut") == 0 && json_is_boolean(val)) {
            f->cut = json_is_true(val);
        } else {
            return snprintf(err, cap, "unexpected or mistyped field '%.64s'", key), -1;
        }
    }
    if (!*peer || (strcmp(*peer, "*") != 0 && !cfg_addr_valid(*peer)))
        return snprintf(err, cap, "peer must be \"HOST:PORT\" or \"*\""), -1;
    return 0;
}

/* POST /v1/debug/fault (only with --debug-faults). */
int api_debug_fault(api_req_t *r)
{
    node_t *n = r->udata;
    char err[256];
    json_t *j = api_body_object(r, err, sizeof err);
    if (!j) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "%s", err);
        return 0;
    }
    tp_t *tp = swim_io_tp(n->io);
    if (!tp) {
        json_decref(j);
        return SH_ECLOSED;
    }
    if (json_is_true(json_object_get(j, "clear")) && json_object_size(j) == 1) {
        tp_fault_clear_all(tp);
        json_decref(j);
        SH_LOGW("fault_cleared", "scope=all");
        api_reply_json(r, 200, json_pack("{s:s,s:b}", "status", "ok", "cleared", 1));
        return 0;
    }
    tp_fault_t f;
    const char *peer;
    if (fault_parse(j, &f, &peer, err, sizeof err) != 0) {
        json_decref(j);
        api_reply_error(r, SH_EBAD_REQUEST, 0, "%s", err);
        return 0;
    }
    int rc = tp_fault_set(tp, strcmp(peer, "*") == 0 ? NULL : peer, &f);
    if (rc == 0) {
        SH_LOGW("fault_set", "peer=%s drop=%.3f delay_ms=%u cut=%s", peer, f.drop_prob,
                f.delay_ms, f.cut ? "true" : "false");
        api_reply_json(r, 200, json_pack("{s:s,s:s,s:f,s:i,s:b}", "status", "ok", "peer", peer,
                                         "drop", f.drop_prob, "delay_ms", (int)f.delay_ms,
                                         "cut", (int)f.cut));
    }
    json_decref(j); /* after the reply: `peer` points into j */
    return rc;
}
