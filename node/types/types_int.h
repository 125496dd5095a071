/*
 * types_int.h - JSON helpers shared by the built-in entity types
 * (the .c files of node/types).  Not for use outside node/types.
 *
 * They turn client input into SHOAL_EBAD_REQUEST with a message naming the
 * field (through shoal_turn_fail), so the type files read as contracts
 * rather than as jansson plumbing.
 */
#ifndef TYPES_INT_H
#define TYPES_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/entity.h"

/* Parse a request body that must be a JSON object.  0 with *out owned by
 * the caller (json_decref); 0 with *out NULL when len == 0 and `optional`;
 * otherwise the turn fails with SHOAL_EBAD_REQUEST ("malformed JSON body:
 * ...", "body must be a JSON object") and that code is returned. */
int type_json_body(shoal_turn_t *t, const uint8_t *body, size_t len, bool optional,
                   json_t **out);

/* Integer field `name` of `obj` (obj may be NULL: the field is absent).
 * Absent or null: *out = dflt when has_dflt, else SHOAL_EBAD_REQUEST
 * "missing field 'name'".  Not an integer, or outside [min, max]:
 * SHOAL_EBAD_REQUEST naming the field. */
int type_json_int(shoal_turn_t *t, const json_t *obj, const char *name, bool has_dflt,
                  int64_t dflt, int64_t min, int64_t max, int64_t *out);

/* Reply with `reply` encoded compactly; takes the reference.  0, or the
 * code of shoal_turn_reply (SHOAL_ETOO_BIG, -ENOMEM) after failing the
 * turn with a message. */
int type_json_reply(shoal_turn_t *t, json_t *reply);

/* Emit `ev` encoded compactly; takes the reference.  0 or the code of
 * shoal_turn_emit. */
int type_json_emit(shoal_turn_t *t, json_t *ev);

/* Encode `v` (any JSON value) compactly into a malloc'd buffer, not
 * NUL-terminated; the caller frees it with free().  0 or -ENOMEM. */
int type_json_dump(const json_t *v, char **out, size_t *len);

/* Decode an event or snapshot (any JSON value).  NULL if malformed, which
 * the callers report as SHOAL_ECORRUPT. */
json_t *type_json_load(const uint8_t *data, size_t len);

/* Encode `v` compactly into a malloc'd buffer for a snapshot; takes the
 * reference.  0 or -ENOMEM. */
int type_json_snapshot(json_t *v, uint8_t **out, size_t *len);

/* Fail the turn with SHOAL_ENOT_FOUND "unknown method 'm' for type 'x'". */
int type_unknown_method(shoal_turn_t *t, const char *type, const char *method);

/* Fail the turn with SHOAL_EBAD_REQUEST and a printf-style message. */
int type_fail_bad(shoal_turn_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
