/*
 * log.c - the built-in "log" entity type: an append-only list of JSON
 * values, for linearizability checks (each append answers its position).
 *
 * Methods (bodies and replies are JSON):
 *   append {"value":<any JSON>} -> {"index":i}      i is 0-based
 *   read [{"from":i,"limit":n}] -> {"values":[...]} values[from, from+limit);
 *       from >= 0 (default 0; past the end gives []), limit >= 0 (default:
 *       to the end).  A reply beyond the runtime's reply limit fails with
 *       SHOAL_ETOO_BIG: read in pages.
 * Bounds: TYPE_LOG_ENTRIES_MAX values and TYPE_LOG_BYTES_MAX bytes of
 * encoded values; an append beyond either is SHOAL_ECONFLICT "log is full"
 * (a log never shrinks, so a bound is the only way to bound its memory).
 *
 * Events: one per append, the value itself in compact JSON.  Values are
 * re-encoded by jansson, so a read returns an equal value, not always the
 * client's bytes ("1e2" comes back as 100.0).
 * Snapshot: {"values":[...]}, the reply of a full read.
 *
 * Representation: the encoded values sit one after another in one buffer,
 * each followed by a comma, with an offset per value.  A read of any range
 * is then one memcpy between "{\"values\":[" and "]}", and an entity costs
 * one allocation per doubling instead of one per value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"
#include "types_int.h"

typedef struct tlog {
    char *buf;    /* values, each followed by ',' */
    size_t used;  /* bytes of buf in use, <= TYPE_LOG_BYTES_MAX */
    size_t cap;
    uint32_t *off; /* off[i]: start of value i in buf */
    size_t n;
    size_t ocap;
} tlog_t;

static const char LOG_PRE[] = "{\"values\":[";
static const char LOG_POST[] = "]}";

static int log_create(void **state, const char *id, void *udata)
{
    tlog_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    *state = l;
    return 0;
}

static void log_clear(tlog_t *l)
{
    free(l->buf);
    free(l->off);
    *l = (tlog_t){0};
}

static void log_destroy(void *state, void *udata)
{
    if (state == NULL)
        return;
    log_clear(state);
    free(state);
}

/* Whether a value of `len` encoded bytes still fits. */
static bool log_fits(const tlog_t *l, size_t len)
{
    return l->n < TYPE_LOG_ENTRIES_MAX && len < TYPE_LOG_BYTES_MAX - l->used;
}

/* Append one encoded value.  0, -ENOMEM (state unchanged). */
static int log_push(tlog_t *l, const char *v, size_t len)
{
    if (l->n == l->ocap) {
        size_t c = l->ocap ? l->ocap * 2 : 16;
        uint32_t *o = realloc(l->off, c * sizeof *o);
        if (o == NULL)
            return -ENOMEM;
        l->off = o;
        l->ocap = c;
    }
    if (l->cap - l->used < len + 1) {
        size_t c = l->cap ? l->cap : 256;
        while (c - l->used < len + 1)
            c *= 2;
        char *b = realloc(l->buf, c);
        if (b == NULL)
            return -ENOMEM;
        l->buf = b;
        l->cap = c;
    }
    l->off[l->n++] = (uint32_t)l->used;
    memcpy(l->buf + l->used, v, len);
    l->used += len;
    l->buf[l->used++] = ',';
    return 0;
}

/* {"values":[ values [from, to) ]} in a malloc'd buffer.  NULL: -ENOMEM. */
static char *log_render(const tlog_t *l, size_t from, size_t to, size_t *len)
{
    size_t a = from < to ? l->off[from] : 0;
    size_t b = from < to ? (to < l->n ? l->off[to] : l->used) - 1 : 0; /* drop ',' */
    size_t n = sizeof LOG_PRE - 1 + (b - a) + sizeof LOG_POST - 1;
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    memcpy(out, LOG_PRE, sizeof LOG_PRE - 1);
    if (b > a)
        memcpy(out + sizeof LOG_PRE - 1, l->buf + a, b - a);
    memcpy(out + sizeof LOG_PRE - 1 + (b - a), LOG_POST, sizeof LOG_POST - 1);
    *len = n;
    return out;
}

static int log_append(shoal_turn_t *t, const tlog_t *l, const uint8_t *body, size_t len)
{
    json_t *req = NULL;
    int rc = type_json_body(t, body, len, false, &req);
    if (rc < 0)
        return rc;
    json_t *v = json_object_get(req, "value");
    char *enc = NULL;
    size_t n = 0;
    rc = v ? type_json_dump(v, &enc, &n) : 0;
    json_decref(req);
    if (v == NULL)
        return type_fail_bad(t, "missing field 'value'");
    if (rc < 0)
        return shoal_turn_fail(t, rc, "out of memory encoding the value");
    if (!log_fits(l, n))
        rc = shoal_turn_fail(t, SHOAL_ECONFLICT, "log is full");
    else if ((rc = shoal_turn_emit(t, enc, n)) < 0)
        rc = shoal_turn_fail(t, rc, rc == SHOAL_ETOO_BIG ? "value too large" : "out of memory");
    free(enc);
    if (rc < 0)
        return rc;
    char buf[32];
    int m = snprintf(buf, sizeof buf, "{\"index\":%zu}", l->n);
    rc = shoal_turn_reply(t, buf, (size_t)m);
    return rc < 0 ? shoal_turn_fail(t, rc, "out of memory") : 0;
}

static int log_read(shoal_turn_t *t, const tlog_t *l, const uint8_t *body, size_t len)
{
    json_t *req = NULL;
    int rc = type_json_body(t, body, len, true, &req);
    int64_t from = 0, limit = 0;
    if (rc == 0)
        rc = type_json_int(t, req, "from", true, 0, 0, INT64_MAX, &from);
    if (rc == 0)
        rc = type_json_int(t, req, "limit", true, INT64_MAX, 0, INT64_MAX, &limit);
    json_decref(req);
    if (rc < 0)
        return rc;
    size_t a = (uint64_t)from < l->n ? (size_t)from : l->n;
    size_t b = (uint64_t)limit < l->n - a ? a + (size_t)limit : l->n;
    size_t n = 0;
    char *out = log_render(l, a, b, &n);
    rc = out ? shoal_turn_reply(t, out, n) : -ENOMEM;
    free(out);
    if (rc == SHOAL_ETOO_BIG)
        return shoal_turn_fail(t, rc, "reply too large: read fewer values (field 'limit')");
    return rc < 0 ? shoal_turn_fail(t, rc, "out of memory") : 0;
}

static int log_handle(shoal_turn_t *t, void *state, const char *method,
                      const uint8_t *body, size_t len)
{
    if (strcmp(method, "append") == 0)
        return log_append(t, state, body, len);
    if (strcmp(method, "read") == 0)
        return log_read(t, state, body, len);
    return type_unknown_method(t, "log", method);
}

static int log_apply(void *state, const uint8_t *event, size_t len, void *udata)
{
    tlog_t *l = state;
    json_t *v = type_json_load(event, len); /* only to validate */
    int rc = v != NULL && log_fits(l, len) ? log_push(l, (const char *)event, len)
                                           : SHOAL_ECORRUPT;
    json_decref(v);
    return rc;
}

static int log_snapshot(const void *state, uint8_t **out, size_t *len, void *udata)
{
    const tlog_t *l = state;
    *out = (uint8_t *)log_render(l, 0, l->n, len);
    return *out ? 0 : -ENOMEM;
}

/* Replace the state with the snapshot's values; on error the log is left
 * empty rather than half restored. */
static int log_restore(void *state, const uint8_t *data, size_t len, void *udata)
{
    tlog_t *l = state;
    log_clear(l);
    json_t *snap = type_json_load(data, len);
    json_t *vals = json_object_get(snap, "values");
    int rc = json_is_array(vals) && json_object_size(snap) == 1 ? 0 : SHOAL_ECORRUPT;
    for (size_t i = 0; rc == 0 && i < json_array_size(vals); i++) {
        char *enc = NULL;
        size_t n = 0;
        rc = type_json_dump(json_array_get(vals, i), &enc, &n);
        if (rc == 0)
            rc = log_fits(l, n) ? log_push(l, enc, n) : SHOAL_ECORRUPT;
        free(enc);
    }
    json_decref(snap);
    if (rc < 0)
        log_clear(l);
    return rc;
}

static const shoal_entity_type_t log_type = {
    .name = "log",
    .persistent = true,
    .create = log_create,
    .destroy = log_destroy,
    .handle = log_handle,
    .apply = log_apply,
    .snapshot = log_snapshot,
    .restore = log_restore,
    .udata = NULL,
};

const shoal_entity_type_t *type_log(void)
{
    return &log_type;
}
