/*
 * ent_int.h - shared inside the entity runtime (wrk.c, ent.c, ent_turn.c,
 * ent_timer.c): the worker, entity, turn and timer structs.  Not for other
 * modules: they use wrk.h, call.h and ent.h.
 *
 * Threads.  Everything here belongs to one worker thread, except:
 *  - wrk_port_t, which other threads use to hand the worker input
 *    (wrk_submit), ask replies and shard releases, under its mutex;
 *  - the counters (wrk_counters_t) and per-shard active counts, written by
 *    the worker only and read by anyone with relaxed atomics;
 *  - the entity table, which the worker reads without a lock but mutates
 *    under tab_mu so wrk_entity_active can look from other threads;
 *  - a heap turn's reference count, which an ask completing on another
 *    thread after the worker closed may drop (ent_ask_done).
 */
#ifndef ENT_INT_H
#define ENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "call.h"
#include "mbox.h"
#include "jw.h"
#include "sh_mpsc.h"
#include "wrk.h"

#define WRK_INPUT_MAX 65536          /* calls waiting in a worker's input queue */
#define WRK_BATCH 512                /* turns + continuations per loop callback */
#define ENT_TIMERS_MAX 64            /* Dapr timers per entity */
#define ENT_TELLS_MAX 1024           /* tells one turn may send */
#define ENT_EVENTS_BYTES_MAX (8u << 20) /* events one turn may emit */
#define ENT_EVICT_SCAN 64            /* LRU entries examined to find an idle victim */

/* ---- timer queue: one min-heap per worker for everything that fires at a
 * time (turn deadlines and defers, Dapr timers), behind one uv_timer. */
#define ENT_TQ_NONE UINT32_MAX
enum ent_tq_kind { ENT_TQ_TURN = 1, ENT_TQ_TIMER = 2 };
typedef struct ent_tq_item {
    uint64_t due_ms; /* monotonic (sh_time_mono_ms) */
    uint32_t idx;    /* position in the heap, ENT_TQ_NONE when not queued */
    uint8_t kind;    /* enum ent_tq_kind: which struct embeds the item */
} ent_tq_item_t;

typedef struct ent_tq {
    ent_tq_item_t **v;
    uint32_t n, cap;
} ent_tq_t;

/* ---- the port: how other threads reach a worker.  Reference counted
 * because it outlives the worker while asks it sent are still out: their
 * completions find it closed and drop the reply. */
typedef struct wrk_port {
    pthread_mutex_t mu;
    bool closed;          /* set by the worker as it shuts down */
    uv_async_t *async;    /* the worker's wake-up; never used once closed */
    call_t *rhead, *rtail; /* ask replies completed on other threads */
    struct ent_pend *jhead, *jtail; /* journal commits completed by the writer */
    bool release_pending; /* some bit of wrk.release_bits is set */
    atomic_int refs;
} wrk_port_t;

/* ---- an active entity.  Kept small: it is the runtime's whole per-entity
 * cost besides the type's state (see ent.c for the budget). */
enum ent_flag {
    ENT_F_READY = 1 << 0,  /* in the worker's ready queue */
    ENT_F_LINKED = 1 << 1, /* in the LRU list */
    ENT_F_BROKEN = 1 << 2, /* a commit failed: no turns until its pends drain, then reload */
    ENT_F_REFUSE = 1 << 3, /* its journal is corrupt: every call answers `internal` */
};

typedef struct ent {
    struct ent *hnext;            /* hash chain */
    struct ent *prev, *next;      /* LRU list, oldest activity first */
    struct ent *rnext;            /* ready queue */
    const shoal_entity_type_t *type;
    void *state;
    struct shoal_turn *turn;      /* the open turn, or NULL */
    struct ent_timer *timers;     /* Dapr timers (volatile) */
    mbox_t mbox;
    uint32_t shard;
    uint32_t hash;                /* low bits index the table; kept for resizes */
    uint64_t last_ms;             /* last activity (uv_now), not timer fires */
    uint64_t seq;                 /* last journal seq assigned (persistent types) */
    struct ent_pend *pq_head, *pq_tail; /* output held until durable, in turn order */
    uint32_t since_snap;          /* events since the last snapshot */
    uint16_t flags;               /* enum ent_flag */
    uint16_t idlen;
    char id[];                    /* NUL-terminated, allocated with the entity */
} ent_t;

/* ---- a turn (the shoal_turn_t of include/shoal/entity.h).
 * A turn that finishes inside its handler (the common case) uses the
 * worker's scratch turn: no allocation.  A handler that asks or defers
 * returns SHOAL_TURN_PENDING; only then is the turn copied to the heap
 * ("promoted"), because it must survive across loop iterations and its
 * address travels in the ask's done_arg.  Heap turns are reference
 * counted: one reference while attached to the entity, one per ask
 * still out, so a reply arriving after the turn ended (deadline) finds
 * valid memory and is discarded. */
enum turn_wait { TURN_WAIT_NONE = 0, TURN_WAIT_ASK, TURN_WAIT_DEFER };

struct shoal_turn {
    struct wrk *w;        /* NULL for ent_invoke_direct */
    ent_t *e;             /* NULL once the turn ended */
    call_t *call;         /* the call being served; NULL once completed */
    const shoal_entity_type_t *type;
    const char *id;
    void *direct_state;   /* ent_invoke_direct only */
    uint64_t now_ms;      /* monotonic, at the start of the current callback */
    uint64_t start_ns;    /* uv_hrtime at turn start, for the latency histogram */
    /* emitted events: [u32 length][bytes] ... */
    uint8_t *ev;
    size_t ev_len, ev_cap;
    uint32_t ev_n;
    uint8_t *reply;
    size_t reply_len;
    call_t *tells_head, *tells_tail; /* held until the events commit */
    uint32_t ntells;
    struct jw_rem_op *rems;       /* reminder changes, committed with the events */
    struct jw_rem_op *rem_fire;   /* a reminder fire's own update: kept even if the turn fails */
    bool purge;                   /* shoal_turn_purge: delete the entity's journal */
    /* requested by the current callback, acted on after it returns */
    enum turn_wait req;
    call_t *ask_out;
    uint32_t defer_ms;
    /* what the open turn waits for */
    enum turn_wait wait;
    uint64_t wait_due;    /* ask deadline or defer due, monotonic ms */
    uint64_t ask_seq;     /* the current ask's call->corr; bumped to orphan it */
    shoal_cont_fn cont;
    void *cont_arg;
    ent_tq_item_t tq;
    atomic_int refs;      /* heap turns only */
    wrk_port_t *port;     /* heap turns only: where ask replies go */
    bool heap, direct, activity;
    char errmsg[CALL_MSG_MAX];
};

/* ---- a Dapr timer */
typedef struct ent_timer {
    ent_tq_item_t tq;
    struct ent_timer *next;
    ent_t *e;
    uint64_t period_ms;   /* 0: one-shot */
    int64_t reps;         /* fires left, -1 unlimited */
    uint64_t end_ms;      /* ttl end (monotonic), 0 none */
    char *name, *callback;
    char *data;           /* compact JSON of "data", or NULL */
    size_t data_len;
    char *spec;           /* the body it was set with (TIMER_GET) */
    size_t spec_len;
} ent_timer_t;

/* ---- output held until durable (ent_jrnl.c).  One per turn that must
 * wait for the journal: either `submitted` (its jw_req carries the turn's
 * events / idempotency record / reminder changes) or a barrier (a turn
 * without effects of its own whose reply may show state that is not yet
 * durable: it is released right after the commits queued before it). */
typedef struct ent_pend {
    struct ent_pend *qnext;   /* the entity's queue */
    struct ent_pend *dnext;   /* the port's completed list */
    ent_t *e;                 /* NULL once the entity was dropped */
    struct wrk *w;
    call_t *call;             /* NULL: nobody waits (snapshot, reminder update) */
    uint8_t *reply;
    size_t reply_len;
    call_t *tells;            /* sent on success, in order */
    call_t *dups;             /* idempotent retries waiting for this commit */
    uint8_t *ev, *snap, *idem_reply; /* owned buffers req points into */
    bool submitted;
    bool completed;           /* the writer is done with it (release waits for the head) */
    int err;                  /* a held error reply (ent_jrnl_hold_error), else 0 */
    char errmsg[CALL_MSG_MAX];
    jw_req_t req;             /* req.arg = this pend */
    char names[];             /* "type\0id\0idem\0" for req.ent / req.idem_key */
} ent_pend_t;

/* ---- counters: written by the worker only (single writer), so a relaxed
 * load + store is enough and cheaper than an atomic add. */
typedef struct wrk_counters {
    _Atomic uint64_t active, activations, passivations;
    _Atomic uint64_t turns_ok, turns_error, turns_timeout, turns_corrupt;
    _Atomic uint64_t busy_rejections, local_fast_path;
    _Atomic uint64_t timer_fires, timer_skipped, late_replies;
    _Atomic uint64_t lat[WRK_LAT_BUCKETS], lat_sum_us;
    _Atomic uint64_t recoveries, recovery_us_sum, recovery_events, recovery_failed;
    _Atomic uint64_t commits_held, commits_failed, idem_hits, snapshots;
    _Atomic uint64_t reminders_fired;
    _Atomic uint64_t depth[WRK_DEPTH_BUCKETS], depth_max;
} wrk_counters_t;

static inline void wrk_cnt_add(_Atomic uint64_t *x, uint64_t n)
{
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void wrk_cnt_set(_Atomic uint64_t *x, uint64_t v)
{
    atomic_store_explicit(x, v, memory_order_relaxed);
}
#define WRK_INC(w, field) wrk_cnt_add(&(w)->st.field, 1)

struct wrk {
    wrk_config_t cfg;
    pthread_t thread;
    bool thread_started;
    uv_loop_t loop;
    uv_async_t async;
    uv_idle_t idle;       /* keeps turning while work is left after a batch */
    uv_timer_t tq_timer;
    uv_timer_t sweep_timer;
    sh_mpsc_t input;
    wrk_port_t *port;
    atomic_bool stop;
    bool closing;
    _Atomic uint8_t *owned;       /* per shard: served here (fast path allowed) */
    uint8_t *release_bits;        /* per shard, under port->mu */
    /* entity table: chained hash, power-of-two buckets */
    pthread_mutex_t tab_mu;
    ent_t **tab;
    uint32_t tab_nb, tab_n;
    ent_t *lru_head, *lru_tail;
    ent_t *ready_head, *ready_tail;
    call_t *lr_head, *lr_tail;    /* ask replies completed on this thread */
    ent_tq_t tq;
    struct shoal_turn scratch;
    _Atomic uint32_t *shard_active; /* indexed by shard / nworkers */
    uint32_t *depth_cnt;          /* entities per mailbox depth 1..mailbox_max */
    uint32_t depth_max;
    uint64_t active;
    wrk_counters_t st;
};

/* The worker running on this thread, or NULL. */
extern _Thread_local struct wrk *wrk_self;

/* wrk.c */
/* An entity's call out (ask or tell): the fast path for shards this worker
 * serves, else the router.  Takes c. */
void wrk_send(struct wrk *w, call_t *c);
/* Queue an ask reply from another thread.  False if the worker has closed
 * (the caller then drops the reply). */
bool wrk_port_reply(wrk_port_t *p, call_t *c);
void wrk_port_unref(wrk_port_t *p);
wrk_port_t *wrk_port_ref(wrk_port_t *p);

/* ent.c */
int ent_table_init(struct wrk *w);
void ent_table_fini(struct wrk *w);
/* Route a call to its entity (activating it) and queue it; takes c. */
void ent_deliver(struct wrk *w, call_t *c);
/* Queue c in e's mailbox: 0, or SH_EBUSY (caller keeps c). */
int ent_enqueue(struct wrk *w, ent_t *e, call_t *c);
call_t *ent_mbox_pop(struct wrk *w, ent_t *e);
ent_t *ent_ready_pop(struct wrk *w);
/* After a turn ended: schedule the next, refresh the LRU, or passivate. */
void ent_after_turn(struct wrk *w, ent_t *e, bool activity, bool corrupt);
void ent_sweep(struct wrk *w, uint64_t now);
void ent_release_shard(struct wrk *w, uint32_t shard);
void ent_close_all(struct wrk *w);

/* ent_turn.c */
/* Run the next call of e (e is not in a turn). */
void ent_turn_run(struct wrk *w, ent_t *e);
/* An ask reply reached its worker: continue the turn or drop the reply. */
void ent_turn_reply_in(struct wrk *w, call_t *c);
/* The turn's timer-queue item fired. */
void ent_turn_wake(struct wrk *w, struct shoal_turn *t);
/* End e's open turn now (entity being dropped): the call completes with
 * status; no next turn is scheduled. */
void ent_turn_abandon(struct wrk *w, struct shoal_turn *t, int status, const char *msg);
void ent_turn_scratch_fini(struct shoal_turn *t);
/* The turn's handler (or last continuation) returned 0: apply its events
 * and release its output.  The seam for persistence (see ent_turn.c). */
void ent_events_commit(struct shoal_turn *t);
/* on_done of every ask an entity sends (any thread). */
void ent_ask_done(call_t *c);

/* ent.c: e's last pend was released: reload it if BROKEN, passivate it if
 * the idle sweep gave up on it meanwhile, or let it take mail. */
void ent_pends_drained(struct wrk *w, ent_t *e);

/* ent_jrnl.c */
/* Replay e's journal into its fresh state (persistent types with a
 * journal; otherwise nothing).  0, or a code with ENT_F_REFUSE set. */
int ent_jrnl_recover(struct wrk *w, ent_t *e);
/* The turn succeeded and its events are applied: hold its output (reply,
 * tells) until durable, submitting what it must write.  True if held:
 * the call, reply and tells moved out of t (or, out of memory, the call
 * failed and the entity reloads).  False: release them now. */
bool ent_jrnl_hold(struct shoal_turn *t);
/* The turn failed with status: hold the error reply behind e's pending
 * commits, and submit a reminder fire's update.  True if t->call moved. */
bool ent_jrnl_hold_error(struct shoal_turn *t, int status, const char *msg);
/* A pend came back from the writer (worker thread). */
void ent_jrnl_done(struct wrk *w, ent_pend_t *p);
/* e is being freed: its pends complete without it. */
void ent_jrnl_detach(ent_t *e);
/* c carries an idempotency key: true if it was answered (stored reply) or
 * attached to the same key's pending commit; false: run it. */
bool ent_jrnl_idem_check(struct wrk *w, ent_t *e, call_t *c);
/* e is being passivated: write a snapshot if events came since the last. */
void ent_jrnl_passivate(struct wrk *w, ent_t *e);
void ent_rem_ops_free(jw_rem_op_t *o);

/* ent_rem.c: calls that are not a plain handler call - state reads,
 * reminder set/delete/get, and reminder fires (which then run the
 * handler).  Runs inside the open turn t; returns like a handler. */
int ent_turn_special(struct shoal_turn *t, void *state, call_t *c);

/* ent_timer.c */
int ent_tq_push(struct wrk *w, ent_tq_item_t *it);
void ent_tq_remove(struct wrk *w, ent_tq_item_t *it);
/* Re-arm the uv timer for the earliest item (end of every loop callback). */
void ent_tq_arm(struct wrk *w);
void ent_tq_timer_cb(uv_timer_t *h); /* wrk.c */
/* Fire every item due now (turn wake-ups, Dapr timers). */
void ent_tq_fire_due(struct wrk *w);
/* CALL_TIMER_SET/DEL/GET for e; completes c. */
void ent_timer_call(struct wrk *w, ent_t *e, call_t *c);
/* Drop every timer of e (passivation). */
void ent_timers_drop(struct wrk *w, ent_t *e);

#endif
