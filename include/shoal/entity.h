/*
 * shoal/entity.h - writing an entity type (a virtual actor) for Shoal.
 *
 * An entity is (type, id, private state).  The runtime activates it on
 * the owner of its shard when the first message arrives, runs its turns
 * one at a time, and passivates it when idle.  A type supplies:
 *
 *   create   - make the empty state of a fresh activation;
 *   handle   - one command: read the state, validate, emit events with
 *              shoal_turn_emit() and reply with shoal_turn_reply(); never
 *              mutate the state directly;
 *   apply    - apply one event to the state (deterministic: it is also
 *              how state is recovered from the journal);
 *   snapshot / restore - optional, to recover without replaying every event;
 *   destroy  - free the state.
 *
 * A turn's events are applied only if the handler returns 0; a handler
 * that returns an error code fails only its own call, and the events it
 * emitted are discarded.  The reply (and messages the turn sends) are held
 * until the events are durable (the "output gate"), so a caller never sees
 * an effect that could still be lost.
 *
 * Entity-to-entity calls: shoal_turn_ask() sends a call and returns; the
 * handler then returns SHOAL_TURN_PENDING.  The turn stays open (the entity
 * takes no other message) until the reply, an error or the deadline
 * arrives, when the continuation runs as part of the same turn.  Turns are
 * not reentrant: a cycle A -> B -> A waits on A's own open turn and ends
 * in SHOAL_ETIMEOUT at the deadline, never in a hang.
 *
 * Threads: every callback of an entity runs on the worker thread that owns
 * its shard; state needs no locks.  Callbacks must not block.
 *
 * Bodies, replies and events are opaque bytes to the runtime.  Built-in
 * types and the HTTP API use JSON bodies and replies.
 */
#ifndef SHOAL_ENTITY_H
#define SHOAL_ENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/error.h"

#define SHOAL_TYPE_NAME_MAX 64   /* incl. NUL */
#define SHOAL_ENTITY_ID_MAX 256  /* incl. NUL */
#define SHOAL_METHOD_MAX 128     /* incl. NUL */

/* A handler or continuation returns this when it issued an ask and waits. */
#define SHOAL_TURN_PENDING 1

typedef struct shoal_turn shoal_turn_t; /* one turn; valid only during a callback */

typedef struct shoal_entity_type {
    const char *name; /* [A-Za-z0-9._-]{1,63}; unique per node */
    bool persistent;  /* events journaled (persistence); false: memory only */
    /* Empty state for a new activation.  0 or a negative SHOAL_E* code. */
    int (*create)(void **state, const char *id, void *udata);
    void (*destroy)(void *state, void *udata);
    /* One command.  0: done (replied, or a tell); SHOAL_TURN_PENDING: an ask
     * is outstanding; < 0: the call fails with that code (see
     * shoal_turn_fail for a message); SHOAL_ECORRUPT: the state is bad, the
     * entity is dropped and reactivated on the next call. */
    int (*handle)(shoal_turn_t *t, void *state, const char *method,
                  const uint8_t *body, size_t len);
    /* Apply one event.  0, or SHOAL_ECORRUPT. */
    int (*apply)(void *state, const uint8_t *event, size_t len, void *udata);
    /* Optional.  snapshot: malloc'd *out owned by the runtime afterwards. */
    int (*snapshot)(const void *state, uint8_t **out, size_t *len, void *udata);
    int (*restore)(void *state, const uint8_t *data, size_t len, void *udata);
    void *udata;
} shoal_entity_type_t;

/* Continuation of an ask: `status` is 0 with the callee's reply, or a
 * negative code (SHOAL_ETIMEOUT, SHOAL_EBUSY, ...) with reply NULL.
 * Returns like handle. */
typedef int (*shoal_cont_fn)(shoal_turn_t *t, void *state, int status,
                             const uint8_t *reply, size_t len, void *arg);

/* The entity's own identity, valid during the callback. */
const char *shoal_turn_type(const shoal_turn_t *t);
const char *shoal_turn_id(const shoal_turn_t *t);
/* Monotonic milliseconds at the start of the turn (use it instead of the clock
 * so handlers stay deterministic in tests). */
uint64_t shoal_turn_now_ms(const shoal_turn_t *t);
/* Wall-clock milliseconds at the start of the turn. */
uint64_t shoal_turn_wall_ms(const shoal_turn_t *t);

/* Emit an event (copied).  Applied after the handler returns 0, in order.
 * 0, SHOAL_ETOO_BIG, -ENOMEM. */
int shoal_turn_emit(shoal_turn_t *t, const void *event, size_t len);
/* Set the reply (copied); the last call wins.  0, SHOAL_ETOO_BIG, -ENOMEM. */
int shoal_turn_reply(shoal_turn_t *t, const void *body, size_t len);
/* Record a message for the caller and return `code`, so a handler can
 * `return shoal_turn_fail(t, SHOAL_ECONFLICT, "cart is full");`. */
int shoal_turn_fail(shoal_turn_t *t, int code, const char *message);

/* Call another entity; the continuation runs when it answers.  At most one
 * ask is outstanding per turn.  timeout_ms 0 = the remaining deadline of
 * the current call (or the default).  0 (then return SHOAL_TURN_PENDING),
 * SHOAL_EBUSY if an ask is already outstanding, SHOAL_EBAD_REQUEST. */
int shoal_turn_ask(shoal_turn_t *t, const char *type, const char *id,
                   const char *method, const void *body, size_t len,
                   uint32_t timeout_ms, shoal_cont_fn cont, void *arg);
/* Continue this turn after `ms` milliseconds without blocking the worker
 * (the entity takes no other message meanwhile): the continuation runs
 * with status 0 and no reply.  For back-off and for tests of slow turns.
 * 0 (then return SHOAL_TURN_PENDING), SHOAL_EBUSY if an ask or defer is
 * already outstanding. */
int shoal_turn_defer(shoal_turn_t *t, uint32_t ms, shoal_cont_fn cont, void *arg);

/* Send a one-way message; delivered after this turn's events are durable.
 * 0, SHOAL_EBAD_REQUEST, -ENOMEM. */
int shoal_turn_tell(shoal_turn_t *t, const char *type, const char *id,
                    const char *method, const void *body, size_t len);

/* Durable reminders (Dapr's reminders, from inside a turn): set or
 * replace reminder `name` of this entity to fire after due_ms and then
 * every period_ms (0: once).  A fire is a call of method "remind/<name>"
 * with body {"name":"<name>","data":<data_json or null>}; it activates the
 * entity if needed and fires on the shard's owner only.  Written with the
 * turn's events (nothing if the turn fails).  0, SHOAL_EBAD_REQUEST,
 * SHOAL_EUNAVAILABLE (the node has no journal), -ENOMEM. */
int shoal_turn_remind(shoal_turn_t *t, const char *name, uint64_t due_ms, uint64_t period_ms,
                      const char *data_json);
/* Delete reminder `name` when the turn commits (absent: nothing). */
int shoal_turn_forget(shoal_turn_t *t, const char *name);
/* Delete everything the journal holds for this entity (events, snapshot,
 * reminders, idempotency records) when the turn commits.  The turn's own
 * events are applied to the state but not journaled, so a turn that
 * emits a "reset" event and purges leaves the same state in memory as a
 * recovery from the empty journal.  0, SHOAL_EBAD_REQUEST. */
int shoal_turn_purge(shoal_turn_t *t);

/* Registration: shoald calls a plugin's `shoal_plugin_init` after dlopen. */
typedef struct shoal_registry shoal_registry_t;
/* 0, SHOAL_EEXISTS for a duplicate name, SHOAL_EBAD_REQUEST for a bad type.
 * `type` must stay valid for the life of the process. */
int shoal_register_type(shoal_registry_t *reg, const shoal_entity_type_t *type);
/* What a plugin .so exports (shoald --plugin lib.so). */
typedef int (*shoal_plugin_init_fn)(shoal_registry_t *reg);
#define SHOAL_PLUGIN_INIT_SYMBOL "shoal_plugin_init"

#endif
