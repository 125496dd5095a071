/*
 * api_persist.c - the HTTP endpoints of persistence:
 *
 *   PUT|POST|GET|DELETE /v1.0/actors/{type}/{id}/reminders/{name}  (Dapr)
 *   GET /v1.0/actors/{type}/{id}/state/{key}                       (Dapr)
 *   GET /v1/actors/{type}/{id}/journal?from=SEQ&limit=N
 *
 * Reminder and state calls are routed to the entity and run in its turn
 * order (ent_rem.c), so their answers wait for the commits before them.
 * The journal is read on the owner's node loop (CALL_JOURNAL, like
 * locate): it reads committed events only and activates nothing.
 *
 * Journal response:
 *   {"type":"counter","id":"c1","shard":17,"last_seq":12,"snapshot_seq":0,
 *    "events":[{"seq":1,"time":"2026-11-24T07:00:00.123Z","event":{...}}],
 *    "next":13}
 * "event" is the event when it is JSON (every built-in type), else
 * "event_base64"; "next" is null when no event follows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jrnl.h"
#include "node_int.h"
#include "sh_err.h"

#define JOURNAL_LIMIT_DEFAULT 100
#define JOURNAL_LIMIT_MAX 1000

/* PUT|POST|GET|DELETE /v1.0/actors/{type}/{id}/reminders/{name} */
int api_actors_reminder(api_req_t *r)
{
    node_t *n = r->udata;
    enum call_kind kind = strcmp(r->method, "GET") == 0      ? CALL_REM_GET
                          : strcmp(r->method, "DELETE") == 0 ? CALL_REM_DEL
                                                             : CALL_REM_SET;
    if (strlen(r->params[2]) >= SHOAL_METHOD_MAX - 7) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "reminder name longer than %d bytes",
                        SHOAL_METHOD_MAX - 8);
        return 0;
    }
    if (kind == CALL_REM_SET && r->body_len == 0) {
        api_reply_error(r, SH_EBAD_REQUEST, 0,
                        "a JSON body {\"dueTime\",\"period\",\"ttl\",\"data\"} is required");
        return 0;
    }
    if (api_actor_check(r, n, kind == CALL_REM_SET) != 0)
        return 0;
    bool body = kind == CALL_REM_SET;
    return api_call_start(r, n, kind, r->params[2], body ? r->body : NULL,
                          body ? r->body_len : 0);
}

/* GET /v1.0/actors/{type}/{id}/state/{key} */
int api_actors_state(api_req_t *r)
{
    node_t *n = r->udata;
    if (strlen(r->params[2]) >= SHOAL_METHOD_MAX) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "state key longer than %d bytes",
                        SHOAL_METHOD_MAX - 1);
        return 0;
    }
    if (api_actor_check(r, n, false) != 0)
        return 0;
    return api_call_start(r, n, CALL_STATE_GET, r->params[2], NULL, 0);
}

/* A decimal query parameter `name`: 0 (absent: *v unchanged), or -1. */
static int query_u64(const char *q, const char *name, uint64_t *v)
{
    size_t nl = strlen(name);
    for (; *q;) {
        size_t n = strcspn(q, "&");
        if (n > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
            uint64_t x = 0;
            if (n == nl + 1 || n - nl - 1 > 18)
                return -1;
            for (size_t i = nl + 1; i < n; i++) {
                if (q[i] < '0' || q[i] > '9')
                    return -1;
                x = x * 10 + (uint64_t)(q[i] - '0');
            }
            *v = x;
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

/* GET /v1/actors/{type}/{id}/journal?from=SEQ&limit=N */
int api_actors_journal(api_req_t *r)
{
    node_t *n = r->udata;
    uint64_t from = 1, limit = JOURNAL_LIMIT_DEFAULT;
    if (query_u64(r->query, "from", &from) != 0 || query_u64(r->query, "limit", &limit) != 0 ||
        from == 0 || limit == 0 || limit > JOURNAL_LIMIT_MAX) {
        api_reply_error(r, SH_EBAD_REQUEST, 0, "from must be >= 1 and limit in 1..%d",
                        JOURNAL_LIMIT_MAX);
        return 0;
    }
    if (api_actor_check(r, n, false) != 0)
        return 0;
    char body[64];
    int len = snprintf(body, sizeof body, "{\"from\":%llu,\"limit\":%llu}",
                       (unsigned long long)from, (unsigned long long)limit);
    return api_call_start(r, n, CALL_JOURNAL, "journal", (const uint8_t *)body, (size_t)len);
}

/* ---- the owner's side */

static json_t *time_json(uint64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40];
    gmtime_r(&s, &tm);
    size_t k = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, sizeof buf - k, ".%03uZ", (unsigned)(ms % 1000));
    return json_string(buf);
}

static json_t *base64_json(const uint8_t *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return json_null();
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    json_t *j = json_string(out);
    free(out);
    return j;
}

static int journal_event_cb(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
                            const uint8_t *data, size_t len)
{
    json_t *arr = arg;
    (void)kind;
    json_t *ev = json_loadb((const char *)data, len, JSON_DECODE_ANY, NULL);
    json_t *o = json_pack("{s:I,s:o}", "seq", (json_int_t)seq, "time", time_json(wall_ms));
    if (!o)
        return SH_ENOMEM;
    json_object_set_new(o, ev ? "event" : "event_base64", ev ? ev : base64_json(data, len));
    return json_array_append_new(arr, o) == 0 ? 0 : SH_ENOMEM;
}

void node_journal_answer(node_t *n, call_t *c)
{
    json_t *q = json_loadb((const char *)c->body, c->len, 0, NULL);
    uint64_t from = (uint64_t)json_integer_value(json_object_get(q, "from"));
    uint32_t limit = (uint32_t)json_integer_value(json_object_get(q, "limit"));
    json_decref(q);
    if (!n->jrnl) {
        call_complete(c, SH_EUNAVAILABLE, NULL, 0, "this node has no journal");
        return;
    }
    jrnl_ent_t je = {.shard = c->shard, .type = c->type, .id = c->id};
    uint64_t last = 0, snap = 0, next = 0;
    json_t *arr = json_array();
    int rc = jrnl_head(n->jrnl, &je, &last, &snap);
    if (rc == 0)
        rc = jrnl_read_events(n->jrnl, &je, from ? from : 1, limit ? limit : 100,
                              journal_event_cb, arr, &next);
    if (rc != 0) {
        json_decref(arr);
        call_complete(c, rc, NULL, 0, rc == SH_ECORRUPT ? "journal record corrupt" : NULL);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:o,s:o}", "type", c->type, "id", c->id, "shard",
                          (json_int_t)c->shard, "last_seq", (json_int_t)last, "snapshot_seq",
                          (json_int_t)snap, "events", arr, "next",
                          next ? json_integer((json_int_t)next) : json_null());
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        call_complete(c, SH_ENOMEM, NULL, 0, NULL);
        return;
    }
    call_complete(c, 0, s, strlen(s), NULL);
    free(s);
}
