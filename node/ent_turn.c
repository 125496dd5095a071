/*
 * ent_turn.c - turns: running a call through an entity type's handler,
 * the turn API of include/shoal/entity.h, asks and defers, deadlines, and
 * ent_invoke_direct.
 *
 * Design notes.
 *
 * A turn serves one call.  It begins when the worker pops the call from
 * the entity's mailbox and ends when the call completes; while it is open
 * (e->turn != NULL) the entity takes no other call.  A handler that asks
 * another entity or defers returns SHOAL_TURN_PENDING and the turn stays
 * open, possibly across many loop iterations, while other entities of the
 * same worker keep running: nothing here blocks the thread.
 *
 * Non-reentrancy is what makes a cycle A -> B -> A end in a timeout rather
 * than a deadlock: B's ask to A waits in A's mailbox behind A's open turn.
 * Every open turn sits in the worker's timer queue at min(call deadline,
 * ask deadline or defer due), so at the outer call's deadline the turn
 * ends with SH_ETIMEOUT, the entity moves on, and the queued inner calls,
 * now expired, complete with SH_ETIMEOUT without running.
 *
 * An ask goes out only after the handler returns (t->ask_out waits until
 * then), because only then is the turn copied to the heap and its final
 * address known; the ask's done_arg is that heap turn and call->corr the
 * turn's ask sequence number.  A reply whose sequence number is no longer
 * current (the ask timed out on the caller's side and the continuation
 * already ran with SH_ETIMEOUT), or whose turn has ended, is dropped and
 * counted (late_replies).
 *
 * Effects are held by the turn: events, the reply and outgoing tells.
 * They take effect only if the handler (or the last continuation) returns
 * 0, through ent_events_commit; any error discards them all, so a failed
 * turn has no effect at all.  State changes only through apply, at the end
 * of the turn: a continuation sees the state as it was when the turn began.
 *
 * What this file deliberately does not do: persistence (ent_events_commit
 * is the seam), retries, or more than one ask in flight per turn.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ent.h"
#include "ent_int.h"
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_time.h"

enum turn_outcome { OUT_OK, OUT_ERROR, OUT_TIMEOUT, OUT_CORRUPT, OUT_DROPPED };

static const uint64_t lat_bounds_us[WRK_LAT_BUCKETS - 1] = {10,   25,   50,   100,   250,  500,
                                                            1000, 2500, 5000, 10000, 50000};

static void turn_finish(struct shoal_turn *t, int rc);

/* ---- lifetime of heap turns */

static void turn_free_tells(struct shoal_turn *t)
{
    call_t *c = t->tells_head, *nx;
    for (; c; c = nx) {
        nx = c->next;
        call_free(c);
    }
    t->tells_head = t->tells_tail = NULL;
    t->ntells = 0;
}

static void turn_unref(struct shoal_turn *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(t->ev);
    free(t->reply);
    turn_free_tells(t);
    ent_rem_ops_free(t->rems);
    ent_rem_ops_free(t->rem_fire);
    call_free(t->ask_out);
    wrk_port_unref(t->port);
    free(t);
}

void ent_turn_scratch_fini(struct shoal_turn *t)
{
    free(t->ev);
    t->ev = NULL;
    t->ev_cap = 0;
}

/* Copy the worker's scratch turn to the heap; the scratch keeps none of
 * the buffers.  NULL on allocation failure (the scratch is unchanged). */
static struct shoal_turn *turn_promote(struct shoal_turn *s)
{
    struct shoal_turn *h = malloc(sizeof *h);
    if (!h)
        return NULL;
    memcpy(h, s, sizeof *h);
    atomic_init(&h->refs, 1);
    h->heap = true;
    h->port = wrk_port_ref(s->w->port);
    s->ev = NULL;
    s->ev_cap = s->ev_len = 0;
    s->ev_n = 0;
    s->reply = NULL;
    s->tells_head = s->tells_tail = NULL;
    s->rems = s->rem_fire = NULL;
    s->ask_out = NULL;
    s->e = NULL;
    s->call = NULL;
    return h;
}

/* ---- effects */

static void turn_discard_effects(struct shoal_turn *t)
{
    t->ev_len = 0;
    t->ev_n = 0;
    free(t->reply);
    t->reply = NULL;
    t->reply_len = 0;
    turn_free_tells(t);
    ent_rem_ops_free(t->rems);
    t->rems = NULL;
    t->purge = false;
}

/* Forget an ask or defer the current callback requested but did not wait
 * for (it returned something other than SHOAL_TURN_PENDING). */
static void turn_drop_request(struct shoal_turn *t)
{
    call_free(t->ask_out);
    t->ask_out = NULL;
    t->req = TURN_WAIT_NONE;
}

static void turn_send_tells(struct shoal_turn *t)
{
    call_t *c = t->tells_head, *nx;
    t->tells_head = t->tells_tail = NULL;
    t->ntells = 0;
    for (; c; c = nx) {
        nx = c->next;
        c->next = NULL;
        wrk_send(t->w, c);
    }
}

static void turn_stats(struct wrk *w, enum turn_outcome o, uint64_t start_ns)
{
    if (o == OUT_DROPPED)
        return;
    uint64_t us = (uv_hrtime() - start_ns) / 1000;
    size_t b = 0;
    while (b < WRK_LAT_BUCKETS - 1 && us > lat_bounds_us[b])
        b++;
    WRK_INC(w, lat[b]);
    wrk_cnt_add(&w->st.lat_sum_us, us);
    switch (o) {
    case OUT_OK: WRK_INC(w, turns_ok); break;
    case OUT_ERROR: WRK_INC(w, turns_error); break;
    case OUT_TIMEOUT: WRK_INC(w, turns_timeout); break;
    case OUT_CORRUPT: WRK_INC(w, turns_corrupt); break;
    case OUT_DROPPED: break;
    }
}

/* End the open turn: send tells (on success), complete the call, detach
 * from the entity and, if `after`, let the entity take its next call.
 * Effects must already be discarded when status != 0. */
static void turn_end(struct shoal_turn *t, int status, const char *msg, enum turn_outcome o,
                     bool after)
{
    struct wrk *w = t->w;
    ent_t *e = t->e;
    call_t *c = t->call;
    ent_rem_ops_free(t->rems); /* not taken by the journal: no journal */
    ent_rem_ops_free(t->rem_fire);
    t->rems = t->rem_fire = NULL;
    if (t->tq.idx != ENT_TQ_NONE)
        ent_tq_remove(w, &t->tq);
    t->wait = TURN_WAIT_NONE;
    bool activity = t->activity;
    turn_stats(w, o, t->start_ns);
    if (status == 0)
        turn_send_tells(t);
    uint8_t *reply = t->reply;
    size_t rl = t->reply_len;
    t->reply = NULL;
    t->reply_len = 0;
    if (status != 0 && !msg)
        msg = t->errmsg[0] ? t->errmsg : sh_strerror(status);
    t->call = NULL;
    t->e = NULL;
    e->turn = NULL;
    if (c) /* NULL: the output is held until durable (ent_jrnl.c) */
        call_complete_owned(c, status, reply, rl, status ? msg : NULL);
    else
        free(reply);
    if (t->heap)
        turn_unref(t);
    if (after)
        ent_after_turn(w, e, activity, o == OUT_CORRUPT);
}

static void turn_fail_now(struct shoal_turn *t, int status, const char *msg, enum turn_outcome o)
{
    turn_drop_request(t);
    turn_discard_effects(t);
    if (!msg)
        msg = t->errmsg[0] ? t->errmsg : sh_strerror(status);
    /* An error reply may reveal state that is not durable yet (a cart
     * full of items whose adds are still committing): it waits behind
     * the entity's pending commits, as a reply would. */
    ent_jrnl_hold_error(t, status, msg);
    ent_rem_ops_free(t->rem_fire);
    t->rem_fire = NULL;
    turn_end(t, status, msg, o, true);
}

/*
 * The seam for persistence.  Today: apply the turn's events to the state
 * in order, then release the output (tells, then the reply) at once.
 * With the journal, this applies the events (so the next turn sees them),
 * hands the encoded events to the group-commit writer and ends the turn
 * WITHOUT completing the call; the writer's completion, delivered to this
 * worker like an ask reply, releases the held tells and reply (the output
 * gate of DESIGN.md) or, on a failed commit, completes the call with the
 * error and drops the entity (its state ran ahead of the journal).
 */
void ent_events_commit(struct shoal_turn *t)
{
    const shoal_entity_type_t *ty = t->type;
    if (t->ev_n && !ty->apply) {
        turn_fail_now(t, SH_EINTERNAL, "entity type emits events but has no apply", OUT_ERROR);
        return;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < t->ev_n; i++) {
        uint32_t n;
        memcpy(&n, t->ev + off, sizeof n);
        off += sizeof n;
        int rc = ty->apply(t->e->state, t->ev + off, n, ty->udata);
        off += n;
        if (rc != 0) {
            turn_fail_now(t, SH_ECORRUPT, "applying an event failed: entity state dropped",
                          OUT_CORRUPT);
            return;
        }
    }
    /* The events stay in t->ev for the journal; the state has them. */
    ent_jrnl_hold(t);
    t->ev_len = 0;
    t->ev_n = 0;
    turn_end(t, 0, NULL, OUT_OK, true);
}

/* ---- running turns */

static void turn_begin(struct shoal_turn *t, struct wrk *w, ent_t *e, call_t *c, uint64_t ns)
{
    t->w = w;
    t->e = e;
    t->call = c;
    t->type = e->type;
    t->id = e->id;
    t->direct_state = NULL;
    t->now_ms = ns / 1000000u;
    t->start_ns = ns;
    t->ev_len = 0;
    t->ev_n = 0;
    t->reply = NULL;
    t->reply_len = 0;
    t->tells_head = t->tells_tail = NULL;
    t->ntells = 0;
    t->rems = t->rem_fire = NULL;
    t->purge = false;
    t->req = t->wait = TURN_WAIT_NONE;
    t->ask_out = NULL;
    t->ask_seq = 0;
    t->cont = NULL;
    t->cont_arg = NULL;
    t->tq.idx = ENT_TQ_NONE;
    t->tq.kind = ENT_TQ_TURN;
    t->port = NULL;
    t->heap = t->direct = false;
    t->activity = !(c->flags & CALL_F_TIMER);
    t->errmsg[0] = '\0';
}

void ent_turn_run(struct wrk *w, ent_t *e)
{
    if (e->flags & ENT_F_BROKEN)
        return; /* no turns on state ahead of the journal; reloads when its pends drain */
    call_t *c = ent_mbox_pop(w, e);
    if (!c)
        return;
    bool activity = !(c->flags & CALL_F_TIMER);
    /* Both clocks are CLOCK_MONOTONIC: one read serves the deadline check,
     * the turn's "now" and the latency histogram. */
    uint64_t ns = uv_hrtime();
    if (ns / 1000000u >= c->deadline_ms) {
        WRK_INC(w, turns_timeout);
        call_complete(c, SH_ETIMEOUT, NULL, 0, "deadline expired before the turn started");
        ent_after_turn(w, e, activity, false);
        return;
    }
    if (e->flags & ENT_F_REFUSE) {
        call_complete(c, SH_EINTERNAL, NULL, 0,
                      "the entity's journal cannot be replayed (see the node's log)");
        ent_after_turn(w, e, activity, false);
        return;
    }
    if (ent_jrnl_idem_check(w, e, c)) {
        ent_after_turn(w, e, activity, false);
        return;
    }
    struct shoal_turn *t = &w->scratch;
    turn_begin(t, w, e, c, ns);
    e->turn = t;
    int rc = (c->kind == CALL_ASK || c->kind == CALL_TELL) && !(c->flags & CALL_F_REMINDER)
                 ? e->type->handle(t, e->state, c->method, c->body, c->len)
                 : ent_turn_special(t, e->state, c);
    turn_finish(t, rc);
}

/* The callback returned SHOAL_TURN_PENDING with an ask or defer: keep the
 * turn open on the heap, queue its wake-up, send the ask. */
static void turn_suspend(struct shoal_turn *t)
{
    struct wrk *w = t->w;
    if (!t->heap) {
        struct shoal_turn *h = turn_promote(t);
        if (!h) {
            turn_fail_now(t, SH_ENOMEM, "out of memory suspending a turn", OUT_ERROR);
            return;
        }
        t = h;
        t->e->turn = t;
    }
    t->wait = t->req;
    t->req = TURN_WAIT_NONE;
    t->wait_due = t->wait == TURN_WAIT_DEFER ? sh_time_mono_ms() + t->defer_ms
                                             : t->ask_out->deadline_ms;
    t->tq.due_ms = t->wait_due < t->call->deadline_ms ? t->wait_due : t->call->deadline_ms;
    if (ent_tq_push(w, &t->tq) != 0) {
        turn_fail_now(t, SH_ENOMEM, "out of memory suspending a turn", OUT_ERROR);
        return;
    }
    if (t->wait == TURN_WAIT_ASK) {
        call_t *a = t->ask_out;
        t->ask_out = NULL;
        a->on_done = ent_ask_done;
        a->done_arg = t;
        a->corr = ++t->ask_seq;
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
        wrk_send(w, a); /* may complete at once: the reply is queued, not run */
    }
}

static void turn_finish(struct shoal_turn *t, int rc)
{
    if (rc == SHOAL_TURN_PENDING && t->req != TURN_WAIT_NONE) {
        turn_suspend(t);
        return;
    }
    turn_drop_request(t);
    if (rc == SHOAL_TURN_PENDING || rc > 0) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "handler of type '%s' returned %d without a pending ask or defer",
                 t->type->name, rc);
        rc = SH_EINTERNAL;
    }
    if (rc == 0) {
        ent_events_commit(t);
        return;
    }
    bool corrupt = rc == SHOAL_ECORRUPT;
    turn_fail_now(t, rc, corrupt ? "entity state corrupt: entity dropped" : NULL,
                  corrupt ? OUT_CORRUPT : OUT_ERROR);
}

/* Run the continuation of an open turn. */
static void turn_continue(struct shoal_turn *t, int status, const uint8_t *reply, size_t len)
{
    if (t->tq.idx != ENT_TQ_NONE)
        ent_tq_remove(t->w, &t->tq);
    t->wait = TURN_WAIT_NONE;
    t->now_ms = sh_time_mono_ms();
    shoal_cont_fn cont = t->cont;
    void *arg = t->cont_arg;
    t->cont = NULL;
    t->cont_arg = NULL;
    int rc = cont(t, t->e->state, status, reply, len, arg);
    turn_finish(t, rc);
}

void ent_turn_wake(struct wrk *w, struct shoal_turn *t)
{
    uint64_t now = sh_time_mono_ms();
    if (now >= t->call->deadline_ms) {
        turn_fail_now(t, SH_ETIMEOUT, "deadline expired while the turn waited", OUT_TIMEOUT);
        return;
    }
    if (now < t->wait_due) { /* woken early: wait on */
        t->tq.due_ms = t->wait_due < t->call->deadline_ms ? t->wait_due : t->call->deadline_ms;
        if (ent_tq_push(w, &t->tq) != 0)
            turn_fail_now(t, SH_ENOMEM, "out of memory re-arming a turn", OUT_ERROR);
        return;
    }
    int status = 0;
    if (t->wait == TURN_WAIT_ASK) {
        t->ask_seq++; /* orphan the ask: its reply, if any, is dropped */
        status = SH_ETIMEOUT;
    }
    turn_continue(t, status, NULL, 0);
}

void ent_turn_abandon(struct wrk *w, struct shoal_turn *t, int status, const char *msg)
{
    (void)w;
    turn_drop_request(t);
    turn_discard_effects(t);
    turn_end(t, status, msg, OUT_DROPPED, false);
}

void ent_ask_done(call_t *c)
{
    struct shoal_turn *t = c->done_arg;
    struct wrk *w = wrk_self;
    if (w && w->port == t->port) {
        /* Completed on the caller's own thread (same-worker fast path):
         * queue it for the worker's batch; never run a continuation from
         * inside another entity's turn. */
        c->next = NULL;
        if (w->lr_tail)
            w->lr_tail->next = c;
        else
            w->lr_head = c;
        w->lr_tail = c;
        return;
    }
    if (!wrk_port_reply(t->port, c)) {
        call_free(c);
        turn_unref(t);
    }
}

void ent_turn_reply_in(struct wrk *w, call_t *c)
{
    struct shoal_turn *t = c->done_arg;
    if (!t->e || t->wait != TURN_WAIT_ASK || c->corr != t->ask_seq)
        WRK_INC(w, late_replies);
    else if (sh_time_mono_ms() >= t->call->deadline_ms)
        /* The reply raced the turn's own wake-up: the caller has given up,
         * so the turn ends in a timeout whatever the answer was. */
        turn_fail_now(t, SH_ETIMEOUT, "deadline expired while the turn waited", OUT_TIMEOUT);
    else
        turn_continue(t, c->status, c->reply, c->reply_len);
    call_free(c);
    turn_unref(t);
}

