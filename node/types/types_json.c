/*
 * types_json.c - JSON helpers of the built-in entity types (types_int.h).
 *
 * Encodings are compact (no spaces) and keep object keys in insertion
 * order (jansson >= 2.8 always does), so replies are byte-stable and the
 * unit tests can compare them as strings.  Decoding rejects duplicate
 * keys: `{"by":1,"by":2}` is ambiguous, and we would rather refuse it than
 * guess which one the client meant.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "types_int.h"

#define TYPE_MSG_MAX 256

int type_fail_bad(shoal_turn_t *t, const char *fmt, ...)
{
    char msg[TYPE_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return shoal_turn_fail(t, SHOAL_EBAD_REQUEST, msg);
}

int type_unknown_method(shoal_turn_t *t, const char *type, const char *method)
{
    char msg[TYPE_MSG_MAX];
    snprintf(msg, sizeof msg, "unknown method '%s' for type '%s'", method, type);
    return shoal_turn_fail(t, SHOAL_ENOT_FOUND, msg);
}

int type_json_body(shoal_turn_t *t, const uint8_t *body, size_t len, bool optional,
                   json_t **out)
{
    *out = NULL;
    if (len == 0) {
        if (optional)
            return 0;
        return type_fail_bad(t, "missing JSON body");
    }
    json_error_t err;
    json_t *v = json_loadb((const char *)body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                          &err);
    if (v == NULL)
        return type_fail_bad(t, "malformed JSON body: %s", err.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return type_fail_bad(t, "body must be a JSON object");
    }
    *out = v;
    return 0;
}

int type_json_int(shoal_turn_t *t, const json_t *obj, const char *name, bool has_dflt,
                  int64_t dflt, int64_t min, int64_t max, int64_t *out)
{
    json_t *f = obj ? json_object_get(obj, name) : NULL;
    if (f == NULL || json_is_null(f)) {
        if (!has_dflt)
            return type_fail_bad(t, "missing field '%s'", name);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(f))
        return type_fail_bad(t, "field '%s' must be an integer", name);
    json_int_t v = json_integer_value(f);
    if (v < min || v > max)
        return type_fail_bad(t, "field '%s' must be between %lld and %lld", name,
                             (long long)min, (long long)max);
    *out = (int64_t)v;
    return 0;
}

/* Into a malloc'd buffer, not jansson's allocator (which a host may have
 * replaced): the runtime frees snapshots with free(). */
int type_json_dump(const json_t *v, char **out, size_t *len)
{
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    size_t n = json_dumpb(v, NULL, 0, flags);
    if (n == 0)
        return -ENOMEM; /* only an unencodable value, never built here */
    char *buf = malloc(n);
    if (buf == NULL)
        return -ENOMEM;
    if (json_dumpb(v, buf, n, flags) != n) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    *len = n;
    return 0;
}

int type_json_reply(shoal_turn_t *t, json_t *reply)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = reply ? type_json_dump(reply, &buf, &n) : -ENOMEM;
    json_decref(reply);
    if (rc == 0)
        rc = shoal_turn_reply(t, buf, n);
    free(buf);
    if (rc == SHOAL_ETOO_BIG)
        return shoal_turn_fail(t, rc, "reply too large");
    if (rc < 0)
        return shoal_turn_fail(t, rc, "out of memory encoding the reply");
    return 0;
}

int type_json_emit(shoal_turn_t *t, json_t *ev)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = ev ? type_json_dump(ev, &buf, &n) : -ENOMEM;
    json_decref(ev);
    if (rc == 0)
        rc = shoal_turn_emit(t, buf, n);
    free(buf);
    if (rc == SHOAL_ETOO_BIG)
        return shoal_turn_fail(t, rc, "event too large");
    if (rc < 0)
        return shoal_turn_fail(t, rc, "out of memory encoding an event");
    return 0;
}

json_t *type_json_load(const uint8_t *data, size_t len)
{
    if (data == NULL || len == 0)
        return NULL;
    return json_loadb((const char *)data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                      NULL);
}

int type_json_snapshot(json_t *v, uint8_t **out, size_t *len)
{
    char *buf = NULL;
    int rc = v ? type_json_dump(v, &buf, len) : -ENOMEM;
    json_decref(v);
    *out = (uint8_t *)buf;
    return rc;
}
