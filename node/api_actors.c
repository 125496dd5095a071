/*
 * api_actors.c - the actor endpoints (Dapr's path shapes) and the shard
 * endpoints:
 *
 *   POST|PUT  /v1.0/actors/{type}/{id}/method/{method}     invoke (ask)
 *   PUT|POST|GET|DELETE /v1.0/actors/{type}/{id}/timers/{name}
 *   GET /v1/cluster/shards, /v1/cluster/shards/{n}
 *   GET /v1/cluster/locate/{type}/{id}
 *
 * Design notes.  Everything a node can refuse on its own is refused
 * before the call is routed, so a bad request costs no hop: an unknown
 * type (all nodes load the same types, so the local registry answers for
 * the cluster), a body that is not JSON (an empty body is allowed: Dapr
 * sends none for methods without input), names too long, a deadline out
 * of bounds.  Bodies over 1 MiB never get here (api.c, 400).  The call
 * then holds the api_req_t until it completes (node_call.c brings it back
 * to the loop), and the outcome becomes the response: 200 with the reply
 * for an invocation, 204 for a timer set or deleted (as Dapr), or the
 * error document with sh_err_http's status.
 *
 * Deadlines: Shoal-Timeout-Ms header or ?timeout_ms= query (1..60000),
 * else --call-timeout.  Every call has one, so no request waits forever.
 *
 * What the shard endpoints report is this node's view (documented in
 * docs/ARCHITECTURE.md): owner, replicas and epoch from its shard table;
 * "entities" is the count of active entities for shards THIS node owns,
 * and null for the others (their owners know).  locate asks the owner:
 * a CALL_LOCATE call routed like any other, answered by the owner's
 * node loop from its worker's table without activating anything;
 * "active" is null if the owner could not be asked (timeout, unavailable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "node_int.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

#define API_TIMEOUT_MAX_MS 60000
#define API_TIMEOUT_HEADER "Shoal-Timeout-Ms"
#define API_IDEM_HEADER "Idempotency-Key"

/* ---- request checks ---------------------------------------------------- */

/* "1".."60000" -> ms; 0 if malformed or out of range. */
static uint32_t api_timeout_parse(const char *s, size_t n)
{
    uint32_t v = 0;
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    return v <= API_TIMEOUT_MAX_MS ? v : 0;
}

/* The deadline of a call from this request.  0, or SH_EBAD_REQUEST (and
 * the reply sent). */
static int api_deadline(api_req_t *r, uint32_t dflt_ms, uint64_t *deadline)
{
    uint32_t ms = dflt_ms;
    /* api.h keeps the nng request private; the header is read here, on
     * the loop, like api.c reads the method and body. */
    const char *h = nng_http_req_get_header((nng_http_req *)r->http_, API_TIMEOUT_HEADER);
    const char *src = NULL;
    if (h) {
        src = API_TIMEOUT_HEADER;
        ms = api_timeout_parse(h, strlen(h));
    }
    for (const char *q = r->query; *q;) {
        size_t n = strcspn(q, "&");
        if (n > 11 && strncmp(q, "timeout_ms=", 11) == 0) {
            src = "timeout_ms";
            ms = api_timeout_parse(q + 11, n - 11);
        } else if (n == 11 && strncmp(q, "timeout_ms=", 11) == 0) {
            src = "timeout_ms";
            ms = 0;
        }
        q += n + (q[n] == '&');
    }
    if (ms == 0) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "%s must be an integer in 1..%d (milliseconds)",
                        src, API_TIMEOUT_MAX_MS);
        return SH_EBAD_REQUEST;
    }
    *deadline = sh_time_mono_ms() + ms;
    return 0;
}

/* Refuse what the node knows it cannot run.  0, or the error (replied). */
int api_actor_check(api_req_t *r, node_t *n, bool need_json)
{
    const char *type = r->params[0];
    if (strlen(type) >= SHOAL_TYPE_NAME_MAX || strlen(r->params[1]) >= SHOAL_ENTITY_ID_MAX) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "type or id too long (max %d and %d bytes)",
                        SHOAL_TYPE_NAME_MAX - 1, SHOAL_ENTITY_ID_MAX - 1);
        return SH_EBAD_REQUEST;
    }
    if (!reg_find(n->reg, type)) {
        api_reply_error(r, SH_ENOT_FOUND, 0, "unknown entity type '%s'", type);
        return SH_ENOT_FOUND;
    }
    if (need_json && r->body_len > 0) {
        json_error_t je;
        json_t *j = json_loadb((const char *)r->body, r->body_len, JSON_DECODE_ANY, &je);
        if (!j) {
            api_reply_error(r, SH_EBAD_REQUEST, 0, "body is not valid JSON: %s (line %d)",
                            je.text, je.line);
            return SH_EBAD_REQUEST;
        }
        json_decref(j);
    }
    return 0;
}

/* Make the call for this request and route it; the request is answered
 * when the call completes (api_actors_done).  Always returns 0. */
int api_call_start(api_req_t *r, node_t *n, enum call_kind kind, const char *method,
                   const uint8_t *body, size_t len)
{
    uint64_t deadline;
    if (api_deadline(r, n->cfg.call_timeout_ms, &deadline) != 0)
        return 0;
    const char *ik = nng_http_req_get_header((nng_http_req *)r->http_, API_IDEM_HEADER);
    if (ik && (!*ik || strlen(ik) >= CALL_IDEM_MAX)) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "%s must be 1..%d bytes", API_IDEM_HEADER,
                        CALL_IDEM_MAX - 1);
        return 0;
    }
    call_t *c;
    int rc = call_new(&c, kind, r->params[0], r->params[1], method, body, len, deadline,
                      n->cfg.shards);
    if (rc != 0) {
        api_reply_error(r, rc, 0, "cannot make the call: %s", sh_strerror(rc));
        return 0;
    }
    if (ik && kind == CALL_ASK)
        snprintf(c->idem_key, sizeof c->idem_key, "%s", ik);
    c->on_done = node_call_http_done;
    c->done_arg = r;
    n->ctr.http_calls++;
    node_call_route(n, c);
    return 0;
}

/* ---- actor endpoints --------------------------------------------------- */

/* POST|PUT /v1.0/actors/{type}/{id}/method/{method} */
int api_actors_invoke(api_req_t *r)
{
    node_t *n = r->udata;
    if (strlen(r->params[2]) >= SHOAL_METHOD_MAX) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "method name longer than %d bytes",
                        SHOAL_METHOD_MAX - 1);
        return 0;
    }
    if (api_actor_check(r, n, true) != 0)
        return 0;
    return api_call_start(r, n, CALL_ASK, r->params[2], r->body, r->body_len);
}

/* PUT|POST|GET|DELETE /v1.0/actors/{type}/{id}/timers/{name} */
int api_actors_timer(api_req_t *r)
{
    node_t *n = r->udata;
    enum call_kind kind = strcmp(r->method, "GET") == 0      ? CALL_TIMER_GET
                          : strcmp(r->method, "DELETE") == 0 ? CALL_TIMER_DEL
                                                             : CALL_TIMER_SET;
    if (strlen(r->params[2]) >= SHOAL_METHOD_MAX) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "timer name longer than %d bytes",
                        SHOAL_METHOD_MAX - 1);
        return 0;
    }
    if (kind == CALL_TIMER_SET && r->body_len == 0) {
        api_reply_error(r, SH_EBAD_REQUEST, 0,
                        "a JSON body {\"dueTime\",\"period\",\"callback\",\"data\"} is required");
        return 0;
    }
    if (api_actor_check(r, n, kind == CALL_TIMER_SET) != 0)
        return 0;
    bool body = kind == CALL_TIMER_SET;
    return api_call_start(r, n, kind, r->params[2], body ? r->body : NULL,
                          body ? r->body_len : 0);
}

/* ---- locate ------------------------------------------------------------ */

/* GET /v1/cluster/locate/{type}/{id} */
int api_cluster_locate(api_req_t *r)
{
    node_t *n = r->udata;
    if (api_actor_check(r, n, false) != 0)
        return 0;
    return api_call_start(r, n, CALL_LOCATE, "locate", NULL, 0);
}

/* {"active":true|false} from the owner's worker, else JSON null. */
static json_t *locate_active(const call_t *c)
{
    if (c->status != 0 || c->reply_len == 0)
        return json_null();
    json_t *j = json_loadb((const char *)c->reply, c->reply_len, 0, NULL);
    json_t *a = json_object_get(j, "active");
    json_t *out = json_is_boolean(a) ? json_incref(a) : json_null();
    json_decref(j);
    return out;
}

static void locate_reply(node_t *n, api_req_t *r, const call_t *c)
{
    node_route_refresh(n);
    const char *owner = stab_owner(route_stab(n->route), c->shard);
    if (c->status == SH_ENOT_FOUND) { /* the owner does not know the type */
        api_reply_error(r, c->status, 0, "%s", c->errmsg[0] ? c->errmsg : "not found");
        return;
    }
    if (c->status != 0)
        SH_LOGD("locate_unanswered", "type=%s shard=%u err=\"%s\"", c->type, c->shard,
                sh_strerror(c->status));
    api_reply_json(r, 200, json_pack("{s:s,s:s,s:I,s:s?,s:o}", "type", c->type, "id", c->id,
                                     "shard", (json_int_t)c->shard, "owner", owner, "active",
                                     locate_active(c)));
}

/* ---- completion -------------------------------------------------------- */

void api_actors_done(node_t *n, call_t *c)
{
    api_req_t *r = c->done_arg;
    c->done_arg = NULL;
    if (c->kind == CALL_LOCATE) {
        locate_reply(n, r, c);
    } else if (c->status != 0) {
        api_reply_error(r, c->status, 0, "%s",
                        c->errmsg[0] ? c->errmsg : sh_strerror(c->status));
    } else if (c->kind == CALL_TIMER_SET || c->kind == CALL_TIMER_DEL ||
               c->kind == CALL_REM_SET || c->kind == CALL_REM_DEL) {
        api_reply_data(r, 204, "application/json", NULL, 0);
    } else {
        api_reply_data(r, 200, "application/json", c->reply, c->reply_len);
    }
    call_free(c);
}

/* ---- shard table ------------------------------------------------------- */

static json_t *shard_json(node_t *n, uint32_t s)
{
    stab_shard_view_t v;
    if (stab_shard_get(route_stab(n->route), s, &v) != 0)
        return NULL;
    json_t *reps = json_array();
    for (uint32_t i = 0; reps && i < v.n_replicas; i++)
        json_array_append_new(reps, json_string(v.replicas[i]));
    json_t *ents = route_owns(n->route, s) && n->nworkers
                       ? json_integer(wrk_shard_active(n->workers[s % n->nworkers], s))
                       : json_null();
    return json_pack("{s:I,s:s?,s:o,s:I,s:s,s:o}", "shard", (json_int_t)s, "owner", v.owner,
                     "replicas", reps, "epoch", (json_int_t)v.epoch, "state",
                     stab_shard_state_name(v.state), "entities", ents);
}

/* GET /v1/cluster/shards */
int api_cluster_shards(api_req_t *r)
{
    node_t *n = r->udata;
    node_route_refresh(n);
    const stab_t *t = route_stab(n->route);
    json_t *arr = json_array();
    for (uint32_t s = 0; arr && s < stab_shard_count(t); s++) {
        json_t *one = shard_json(n, s);
        if (!one || json_array_append_new(arr, one) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr)
        return SH_ENOMEM;
    api_reply_json(r, 200, json_pack("{s:s,s:I,s:I,s:o}", "node", n->cfg.id, "shard_count",
                                     (json_int_t)stab_shard_count(t), "replicas",
                                     (json_int_t)stab_replica_count(t), "shards", arr));
    return 0;
}

/* GET /v1/cluster/shards/{n} */
int api_cluster_shard(api_req_t *r)
{
    node_t *n = r->udata;
    const char *p = r->params[0];
    uint32_t s = 0;
    size_t len = strlen(p);
    bool ok = len > 0 && len <= 5;
    for (size_t i = 0; ok && i < len; i++) {
        ok = p[i] >= '0' && p[i] <= '9';
        s = s * 10 + (uint32_t)(p[i] - '0');
    }
    node_route_refresh(n);
    if (!ok || s >= stab_shard_count(route_stab(n->route))) {
        api_reply_error(r, SH_ENOT_FOUND, 0, "no shard '%s' (shards are 0..%u)", p,
                        stab_shard_count(route_stab(n->route)) - 1);
        return 0;
    }
    json_t *one = shard_json(n, s);
    if (!one)
        return SH_ENOMEM;
    json_object_set_new(one, "node", json_string(n->cfg.id));
    api_reply_json(r, 200, one);
    return 0;
}
