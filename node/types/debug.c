/*
 * debug.c - the `debug` entity type: tools for testing the runtime.
 *
 * Registered only when shoald runs with --debug-faults (tests), never in
 * a normal node, so it adds nothing to the public surface.  Not
 * persistent; it has no state and emits no events.
 *
 *   sleep {"ms":n}      hold this entity's turn for n ms (0..60000) without
 *                       blocking the worker (shoal_turn_defer), then reply
 *                       {"slept":n}.  Shows that a slow turn delays only
 *                       its own entity, and fills mailboxes on demand.
 *   call {"type":t,"id":i,"method":m,"body":<JSON, optional>}
 *                       ask t/i to run m with body and reply with its
 *                       reply verbatim; a failed ask fails this call with
 *                       the same code.  `call` chains make A -> B -> A
 *                       cycles, which must end in `timeout`.
 *   echo <any body>     reply the body itself ({} if empty).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "node_int.h"
#include "shoal/entity.h"

#define DEBUG_SLEEP_MAX_MS 60000

static int debug_create(void **state, const char *id, void *udata)
{
    (void)id;
    (void)udata;
    *state = malloc(1); /* stateless; a non-NULL token keeps runtimes simple */
    return *state ? 0 : SHOAL_EINTERNAL;
}

static void debug_destroy(void *state, void *udata)
{
    (void)udata;
    free(state);
}

static int debug_apply(void *state, const uint8_t *ev, size_t len, void *udata)
{
    (void)state, (void)ev, (void)len, (void)udata;
    return 0;
}

static int debug_slept(shoal_turn_t *t, void *state, int status, const uint8_t *reply,
                       size_t len, void *arg)
{
    (void)state, (void)reply, (void)len;
    if (status != 0)
        return shoal_turn_fail(t, status, "sleep interrupted");
    char out[48];
    int n = snprintf(out, sizeof out, "{\"slept\":%lu}", (unsigned long)(uintptr_t)arg);
    return shoal_turn_reply(t, out, (size_t)n);
}

static int debug_called(shoal_turn_t *t, void *state, int status, const uint8_t *reply,
                        size_t len, void *arg)
{
    (void)state, (void)arg;
    if (status != 0)
        return shoal_turn_fail(t, status, "the called entity failed");
    return shoal_turn_reply(t, reply, len);
}

static json_t *debug_body(shoal_turn_t *t, const uint8_t *body, size_t len)
{
    json_t *j = len ? json_loadb((const char *)body, len, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        shoal_turn_fail(t, SHOAL_EBAD_REQUEST, "body must be a JSON object");
        return NULL;
    }
    return j;
}

static int debug_sleep(shoal_turn_t *t, const uint8_t *body, size_t len)
{
    json_t *j = debug_body(t, body, len);
    if (!j)
        return SHOAL_EBAD_REQUEST;
    json_t *ms = json_object_get(j, "ms");
    json_int_t v = json_is_integer(ms) ? json_integer_value(ms) : -1;
    json_decref(j);
    if (v < 0 || v > DEBUG_SLEEP_MAX_MS)
        return shoal_turn_fail(t, SHOAL_EBAD_REQUEST, "ms must be an integer in 0..60000");
    int rc = shoal_turn_defer(t, (uint32_t)v, debug_slept, (void *)(uintptr_t)v);
    return rc == 0 ? SHOAL_TURN_PENDING : rc;
}

static int debug_call(shoal_turn_t *t, const uint8_t *body, size_t len)
{
    json_t *j = debug_body(t, body, len);
    if (!j)
        return SHOAL_EBAD_REQUEST;
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *method = json_string_value(json_object_get(j, "method"));
    json_t *inner = json_object_get(j, "body");
    char *ib = inner ? json_dumps(inner, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc;
    if (!type || !id || !method)
        rc = shoal_turn_fail(t, SHOAL_EBAD_REQUEST, "type, id and method are required strings");
    else
        rc = shoal_turn_ask(t, type, id, method, ib, ib ? strlen(ib) : 0, 0, debug_called,
                            NULL);
    free(ib);
    json_decref(j);
    return rc == 0 ? SHOAL_TURN_PENDING : rc;
}

static int debug_handle(shoal_turn_t *t, void *state, const char *method, const uint8_t *body,
                        size_t len)
{
    (void)state;
    if (strcmp(method, "sleep") == 0)
        return debug_sleep(t, body, len);
    if (strcmp(method, "call") == 0)
        return debug_call(t, body, len);
    if (strcmp(method, "echo") == 0)
        return len ? shoal_turn_reply(t, body, len) : shoal_turn_reply(t, "{}", 2);
    char msg[SHOAL_METHOD_MAX + 64];
    snprintf(msg, sizeof msg, "unknown method '%s' for type 'debug'", method);
    return shoal_turn_fail(t, SHOAL_ENOT_FOUND, msg);
}

static const shoal_entity_type_t debug_type = {
    .name = "debug",
    .persistent = false,
    .create = debug_create,
    .destroy = debug_destroy,
    .handle = debug_handle,
    .apply = debug_apply,
};

int type_debug_register(reg_t *reg)
{
    return shoal_register_type(reg, &debug_type);
}
