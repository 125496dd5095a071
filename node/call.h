/*
 * call.h - one entity call in flight: the envelope that travels from the
 * HTTP API or a peer (node loop) to a shard worker and back, or from one
 * entity to another.
 *
 * Ownership: whoever holds the pointer owns the call.  The creator sets
 * on_done; the worker that runs it (or the router that fails it) calls
 * call_complete() exactly once, which stores the outcome and calls
 * on_done on THAT thread; on_done takes ownership and typically pushes
 * the call to its own loop's MPSC queue (node loop: answer HTTP / send an
 * RPC reply; worker: run an ask continuation).  The final owner frees it
 * with call_free().
 */
#ifndef CALL_H
#define CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal/entity.h"

enum call_kind {
    CALL_ASK = 1,       /* reply expected */
    CALL_TELL = 2,      /* one-way; completed (status only) when enqueued */
    CALL_TIMER_SET = 3, /* body: JSON {"dueTime","period","callback","data"}; method = timer name */
    CALL_TIMER_DEL = 4, /* method = timer name */
    CALL_TIMER_GET = 5, /* method = timer name; reply JSON */
    /* "Is type/id active on its owner?" for GET /v1/cluster/locate.
     * Routed (and forwarded) like any call; the owner's node loop answers
     * it with reply {"active":true|false} from wrk_entity_active, so it
     * never reaches a worker and activates nothing.  method "locate". */
    CALL_LOCATE = 6,
    /* Durable reminders (Dapr's reminder API): method = reminder name.
     * SET body: JSON {"dueTime","period","ttl","data"}; GET replies JSON. */
    CALL_REM_SET = 7,
    CALL_REM_DEL = 8,
    CALL_REM_GET = 9,
    /* GET .../state/{key}: method = key; reply the field of the current
     * state (a turn-free read on the entity's worker). */
    CALL_STATE_GET = 10,
    /* GET /v1/actors/{type}/{id}/journal: answered by the owner's node
     * loop from its journal like CALL_LOCATE; body JSON {"from","limit"}. */
    CALL_JOURNAL = 11,
};
#define CALL_KIND_MAX CALL_JOURNAL

#define CALL_HOPS_MAX 3          /* forwards before `unavailable` */
#define CALL_BODY_MAX (1u << 20) /* request and reply bodies */
#define CALL_MSG_MAX 256         /* error message */
#define CALL_DEFAULT_TIMEOUT_MS 5000
#define CALL_IDEM_MAX 129        /* idempotency key, incl. NUL */

/* call->flags */
#define CALL_F_TIMER 0x01    /* fired by an entity timer: not activity (no keep-alive) */
#define CALL_F_REMINDER 0x02 /* fired by a durable reminder (activates; is activity) */

typedef struct call call_t;
typedef void (*call_done_fn)(call_t *c);

struct call {
    enum call_kind kind;
    char type[SHOAL_TYPE_NAME_MAX];
    char id[SHOAL_ENTITY_ID_MAX];
    char method[SHOAL_METHOD_MAX];
    uint8_t *body; /* malloc'd, owned by the call; NULL when len == 0 */
    size_t len;
    uint32_t shard;       /* ring_shard_of(type, id), set by call_new */
    uint64_t deadline_ms; /* monotonic, always set */
    uint8_t hops;         /* times forwarded between nodes */
    uint8_t flags;        /* CALL_F_*; 0 from call_new */
    char idem_key[CALL_IDEM_MAX]; /* idempotency key, "" when none */
    /* outcome, set by call_complete */
    int status; /* 0 or a negative SH_E* code */
    uint8_t *reply; /* malloc'd, owned by the call */
    size_t reply_len;
    char errmsg[CALL_MSG_MAX];
    bool completed;
    /* completion */
    call_done_fn on_done;
    void *done_arg;  /* for the creator: an HTTP request, a peer+corr id, a turn */
    uint64_t corr;   /* creator's correlation id, if any */
    call_t *next;    /* intrusive link for mailboxes and queues (one at a time) */
};

/* A new call with copies of every argument; shard computed from type/id
 * with `shards`.  0, SH_EBAD_REQUEST (empty/too long names), SH_ETOO_BIG
 * (body), -ENOMEM.  *out owned by the caller. */
int call_new(call_t **out, enum call_kind kind, const char *type, const char *id,
             const char *method, const void *body, size_t len,
             uint64_t deadline_ms, uint32_t shards);
/* Accepts NULL. */
void call_free(call_t *c);
/* Record the outcome (reply copied; errmsg may be NULL) and hand the call
 * to c->on_done on the calling thread.  Exactly once per call.  A call
 * whose on_done is NULL (a tell nobody waits for) is freed here.  If the
 * reply cannot be copied the call completes with SH_ENOMEM instead. */
void call_complete(call_t *c, int status, const void *reply, size_t reply_len,
                   const char *errmsg);
/* As call_complete, but takes ownership of `reply` (malloc'd, or NULL)
 * instead of copying it: the worker's turns hand their reply buffer over. */
void call_complete_owned(call_t *c, int status, uint8_t *reply, size_t reply_len,
                         const char *errmsg);

#endif
