/*
 * ent.h - the entity runtime inside a worker: activation, turns, the turn
 * API of include/shoal/entity.h.  Worker-internal except for the direct
 * invocation below, which unit tests of entity types use to run a turn
 * synchronously (no worker thread, no asks).
 */
#ifndef ENT_H
#define ENT_H

#include <stddef.h>
#include <stdint.h>

#include "shoal/entity.h"

typedef struct ent_direct_result {
    int status;        /* handler's return: 0 or a negative code */
    uint8_t *reply;    /* malloc'd, caller frees; NULL if none */
    size_t reply_len;
    char errmsg[256];  /* from shoal_turn_fail */
    size_t events;     /* events emitted and applied (0 when status != 0) */
} ent_direct_result_t;

/* Run one turn of `type` on `state` (created by the caller with
 * type->create) synchronously: handle, then apply the emitted events if it
 * returned 0.  An ask inside returns SH_EBAD_REQUEST to the handler.
 * Returns the handler status (also in res->status). */
int ent_invoke_direct(const shoal_entity_type_t *type, void *state, const char *id,
                      const char *method, const void *body, size_t len,
                      uint64_t now_ms, ent_direct_result_t *res);

#endif
