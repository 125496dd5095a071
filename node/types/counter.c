/*
 * counter.c - the built-in "counter" entity type.
 *
 * Methods (bodies and replies are JSON):
 *   add {"by":n}  -> {"value":v}   n an integer, default 1 when the body
 *                                  or the field is absent; a sum outside
 *                                  int64 is SHOAL_EBAD_REQUEST.
 *   get           -> {"value":v}   the body is ignored.
 *   remind/<name> -> {"value":v}   a durable reminder fired: adds the
 *                                  reminder data's "by" (default 1), so a
 *                                  counter counts its reminder's fires.
 *
 * Events: one per non-zero add, the delta as a bare JSON integer ("5",
 * "-2").  A delta is smaller than "set to v" only for large values, but
 * it is what the command meant, so a journal reads as the history of
 * adds.  `add {"by":0}` emits nothing: no state change, no journal write.
 * Snapshot: {"value":v}.
 *
 * The handler checks overflow against the current state; apply checks it
 * again and reports SHOAL_ECORRUPT, because an event that overflows can
 * only come from a journal that does not belong to this state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"
#include "types_int.h"

typedef struct counter {
    int64_t value;
} counter_t;

static int counter_create(void **state, const char *id, void *udata)
{
    counter_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    *state = c;
    return 0;
}

static void counter_destroy(void *state, void *udata)
{
    free(state);
}

static int counter_reply(shoal_turn_t *t, int64_t v)
{
    char buf[48];
    int n = snprintf(buf, sizeof buf, "{\"value\":%lld}", (long long)v);
    int rc = shoal_turn_reply(t, buf, (size_t)n);
    return rc < 0 ? shoal_turn_fail(t, rc, "out of memory") : 0;
}

static int counter_add(shoal_turn_t *t, const counter_t *c, const uint8_t *body,
                       size_t len)
{
    json_t *req = NULL;
    int rc = type_json_body(t, body, len, true, &req);
    if (rc < 0)
        return rc;
    int64_t by = 0;
    rc = type_json_int(t, req, "by", true, 1, INT64_MIN, INT64_MAX, &by);
    json_decref(req);
    if (rc < 0)
        return rc;
    int64_t v;
    if (__builtin_add_overflow(c->value, by, &v))
        return type_fail_bad(t, "field 'by': the counter would overflow");
    if (by != 0) {
        char ev[24];
        int n = snprintf(ev, sizeof ev, "%lld", (long long)by);
        rc = shoal_turn_emit(t, ev, (size_t)n);
        if (rc < 0)
            return shoal_turn_fail(t, rc, "out of memory");
    }
    return counter_reply(t, v);
}

static int counter_handle(shoal_turn_t *t, void *state, const char *method,
                          const uint8_t *body, size_t len)
{
    counter_t *c = state;
    if (strcmp(method, "add") == 0)
        return counter_add(t, c, body, len);
    if (strcmp(method, "get") == 0)
        return counter_reply(t, c->value);
    if (strncmp(method, "remind/", 7) == 0) { /* body {"name","data"} */
        json_t *b = type_json_load(body, len);
        json_t *data = json_object_get(b, "data");
        char *d = json_is_object(data) ? json_dumps(data, JSON_COMPACT) : NULL;
        json_decref(b);
        int rc = counter_add(t, c, (const uint8_t *)d, d ? strlen(d) : 0);
        free(d);
        return rc;
    }
    return type_unknown_method(t, "counter", method);
}

static int counter_apply(void *state, const uint8_t *event, size_t len, void *udata)
{
    counter_t *c = state;
    json_t *ev = type_json_load(event, len);
    int rc = SHOAL_ECORRUPT;
    int64_t v;
    if (json_is_integer(ev) &&
        !__builtin_add_overflow(c->value, (int64_t)json_integer_value(ev), &v)) {
        c->value = v;
        rc = 0;
    }
    json_decref(ev);
    return rc;
}

static int counter_snapshot(const void *state, uint8_t **out, size_t *len, void *udata)
{
    const counter_t *c = state;
    return type_json_snapshot(json_pack("{sI}", "value", (json_int_t)c->value), out, len);
}

static int counter_restore(void *state, const uint8_t *data, size_t len, void *udata)
{
    counter_t *c = state;
    json_t *snap = type_json_load(data, len);
    json_t *v = json_is_object(snap) ? json_object_get(snap, "value") : NULL;
    int rc = SHOAL_ECORRUPT;
    if (json_is_integer(v) && json_object_size(snap) == 1) {
        c->value = (int64_t)json_integer_value(v);
        rc = 0;
    }
    json_decref(snap);
    return rc;
}

static const shoal_entity_type_t counter_type = {
    .name = "counter",
    .persistent = true,
    .create = counter_create,
    .destroy = counter_destroy,
    .handle = counter_handle,
    .apply = counter_apply,
    .snapshot = counter_snapshot,
    .restore = counter_restore,
    .udata = NULL,
};

const shoal_entity_type_t *type_counter(void)
{
    return &counter_type;
}
