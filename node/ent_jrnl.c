/*
 * ent_jrnl.c - entities and the journal: recovery on activation, output
 * gates, idempotency, snapshots.
 *
 * Design notes.
 *
 * Output gate.  A turn's events are applied to the in-memory state as soon
 * as its handler returns 0 (ent_turn.c), so the entity's next turn can run
 * at once; what the turn produced for the outside world - its reply and the
 * tells it sent - waits in an ent_pend_t until the journal writer reports
 * the events durable.  A persistent entity thus runs many turns per sync
 * (throughput not bounded by the sync latency) while no caller ever sees
 * an effect that could still be lost.
 *
 * Each entity keeps its pends in a FIFO (pq_head..pq_tail).  A turn with
 * nothing to write still waits if pends are queued ahead of it: its reply
 * may show state those pends have not made durable yet, so it is queued
 * as a barrier and released right after them.  The writer completes one
 * entity's requests in submission order, so releases happen in turn order.
 *
 * Failure.  If a commit fails (disk full, map ceiling, a sequence
 * conflict) the entity's state has run ahead of its journal: the entity is
 * marked BROKEN, takes no further turns, its later pends fail too (the
 * writer's head check refuses them: SH_ESEQ), and once its queue is empty
 * it is reloaded from the journal (ent_pends_drained).  Calls that arrived
 * meanwhile wait in its mailbox and then run on the recovered state.
 *
 * Idempotency.  A call with an idempotency key is answered from its record
 * if one exists (written in the same transaction as the first call's
 * events, with its reply), or attached to the pend of the same key still
 * in flight; only otherwise does it run.  Only successful calls leave a
 * record: a failed call had no effect, so running it again is safe.
 *
 * Threads: everything here runs on the entity's worker, except
 * ent_jrnl_committed (the writer's thread), which only queues the pend on
 * the worker's port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ent_int.h"
#include "jrnl.h"
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

static void pend_free(ent_pend_t *p)
{
    free(p->reply);
    for (call_t *c = p->tells, *nx; c; c = nx) {
        nx = c->next;
        call_free(c);
    }
    for (jw_rem_op_t *o = p->req.rems, *nx; o; o = nx) {
        nx = o->next;
        free(o);
    }
    free(p->ev);
    free(p->snap);
    free(p->idem_reply);
    free(p);
}

/* A pend for entity e (which may be NULL for a pend nobody waits for:
 * then type/id/shard come from the arguments). */
static ent_pend_t *pend_new(struct wrk *w, uint32_t shard, const char *type, const char *id,
                            const char *idem)
{
    size_t tl = strlen(type), il = strlen(id), kl = idem ? strlen(idem) : 0;
    ent_pend_t *p = calloc(1, sizeof *p + tl + il + kl + 3);
    if (!p)
        return NULL;
    char *s = p->names;
    memcpy(s, type, tl + 1);
    memcpy(s + tl + 1, id, il + 1);
    p->w = w;
    p->req.ent.shard = shard;
    p->req.ent.type = s;
    p->req.ent.id = s + tl + 1;
    if (idem) {
        memcpy(s + tl + il + 2, idem, kl + 1);
        p->req.idem_key = s + tl + il + 2;
    }
    p->req.arg = p;
    return p;
}

static void pend_enqueue(ent_t *e, ent_pend_t *p)
{
    p->e = e;
    p->qnext = NULL;
    if (e->pq_tail)
        e->pq_tail->qnext = p;
    else
        e->pq_head = p;
    e->pq_tail = p;
}

/* The writer's done callback (writer thread): hand the pend to its worker. */
static void ent_jrnl_committed(jw_req_t *r)
{
    ent_pend_t *p = r->arg;
    wrk_port_t *port = p->w->port;
    pthread_mutex_lock(&port->mu);
    bool open = !port->closed;
    if (open) {
        p->dnext = NULL;
        if (port->jtail)
            port->jtail->dnext = p;
        else
            port->jhead = p;
        port->jtail = p;
        uv_async_send(port->async);
    }
    pthread_mutex_unlock(&port->mu);
    if (!open) { /* cannot happen when jw stops before the workers; be safe */
        if (p->call)
            call_complete(p->call, SH_ECLOSED, NULL, 0, "worker shut down");
        p->call = NULL;
        pend_free(p);
    }
}

static int pend_submit(struct wrk *w, ent_pend_t *p)
{
    p->submitted = true;
    p->req.done = ent_jrnl_committed;
    int rc = jw_submit(w->cfg.jw, &p->req);
    if (rc != 0) {
        /* Not queued: complete it through the port like a failed commit,
         * so the failure path is the same one. */
        p->req.status = rc == SH_EFULL ? SH_EBUSY : rc;
        p->submitted = true;
        ent_jrnl_committed(&p->req);
    }
    return 0;
}

/* ---- recovery */

typedef struct rec_ctx {
    ent_t *e;
    uint64_t events;
    char why[128];
} rec_ctx_t;

static int rec_item(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
                    const uint8_t *data, size_t len)
{
    rec_ctx_t *x = arg;
    const shoal_entity_type_t *ty = x->e->type;
    (void)wall_ms;
    int rc;
    if (kind == JRNL_SNAPSHOT) {
        rc = ty->restore ? ty->restore(x->e->state, data, len, ty->udata) : SH_ECORRUPT;
    } else {
        rc = ty->apply ? ty->apply(x->e->state, data, len, ty->udata) : SH_ECORRUPT;
        x->events++;
    }
    if (rc != 0)
        snprintf(x->why, sizeof x->why, "%s at seq %llu was refused by the type",
                 kind == JRNL_SNAPSHOT ? "snapshot" : "event", (unsigned long long)seq);
    return rc != 0 ? SH_ECORRUPT : 0;
}

int ent_jrnl_recover(struct wrk *w, ent_t *e)
{
    e->seq = 0;
    e->since_snap = 0;
    e->flags &= (uint16_t)~ENT_F_REFUSE;
    if (!w->cfg.jrnl || !e->type->persistent)
        return 0;
    uint64_t t0 = uv_hrtime();
    jrnl_ent_t je = {.shard = e->shard, .type = e->type->name, .id = e->id};
    rec_ctx_t x = {.e = e};
    jrnl_load_info_t info;
    memset(&info, 0, sizeof info);
    int rc = jrnl_load(w->cfg.jrnl, &je, true, rec_item, &x, &info);
    uint64_t us = (uv_hrtime() - t0) / 1000;
    WRK_INC(w, recoveries);
    wrk_cnt_add(&w->st.recovery_us_sum, us);
    wrk_cnt_add(&w->st.recovery_events, x.events);
    if (rc != 0) {
        WRK_INC(w, recovery_failed);
        e->flags |= ENT_F_REFUSE;
        SH_LOGE("entity_recovery_failed", "type=%s id=%s err=\"%s\" why=\"%s\"", e->type->name,
                e->id, sh_strerror(rc), x.why[0] ? x.why : info.err);
        return rc;
    }
    e->seq = info.last_seq;
    e->since_snap = (uint32_t)(info.last_seq - info.snap_seq);
    if (us > 100000)
        SH_LOGI("entity_recovered", "type=%s id=%s events=%llu snapshot_seq=%llu ms=%llu",
                e->type->name, e->id, (unsigned long long)x.events,
                (unsigned long long)info.snap_seq, (unsigned long long)(us / 1000));
    return 0;
}

/* ---- holding a turn's output */

static uint8_t *memdup(const void *src, size_t n)
{
    if (!n)
        return NULL;
    uint8_t *d = malloc(n);
    if (d)
        memcpy(d, src, n);
    return d;
}

/* Move the turn's reply, tells, reminder changes into p. */
static void pend_take_output(ent_pend_t *p, struct shoal_turn *t)
{
    p->call = t->call;
    t->call = NULL;
    p->reply = t->reply;
    p->reply_len = t->reply_len;
    t->reply = NULL;
    t->reply_len = 0;
    p->tells = t->tells_head;
    t->tells_head = t->tells_tail = NULL;
    t->ntells = 0;
}

/* Reminder changes: a fire's own update first, then the turn's, so a
 * handler that re-arms the reminder that fired has the last word. */
static void pend_take_rems(ent_pend_t *p, struct shoal_turn *t, bool with_turn_rems)
{
    jw_rem_op_t *head = t->rem_fire, **tail = &head;
    t->rem_fire = NULL;
    while (*tail)
        tail = &(*tail)->next;
    if (with_turn_rems)
        *tail = t->rems;
    else
        ent_rem_ops_free(t->rems);
    t->rems = NULL;
    for (jw_rem_op_t *o = head; o; o = o->next) {
        o->rem.shard = p->req.ent.shard;
        o->rem.type = p->req.ent.type;
        o->rem.id = p->req.ent.id;
    }
    p->req.rems = head;
}

/* Snapshot the (already updated) state into the request if one is due. */
static void pend_maybe_snapshot(struct wrk *w, ent_t *e, ent_pend_t *p)
{
    const shoal_entity_type_t *ty = e->type;
    if (!ty->snapshot || !w->cfg.snapshot_every || e->since_snap < w->cfg.snapshot_every)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ty->snapshot(e->state, &buf, &len, ty->udata) != 0) {
        free(buf);
        return; /* a later turn tries again; the events are enough */
    }
    p->snap = buf;
    p->req.snap = buf;
    p->req.snap_len = len;
    p->req.snap_seq = e->seq;
    p->req.retain = w->cfg.retain_events;
    e->since_snap = 0;
    WRK_INC(w, snapshots);
}

bool ent_jrnl_hold(struct shoal_turn *t)
{
    struct wrk *w = t->w;
    ent_t *e = t->e;
    call_t *c = t->call;
    bool jw = w->cfg.jw != NULL;
    bool persist = jw && e->type->persistent;
    bool idem = jw && c && c->kind == CALL_ASK && c->idem_key[0];
    bool writes = jw && ((persist && t->ev_n) || t->rems || t->rem_fire || t->purge || idem);
    if (!writes && !e->pq_head)
        return false;
    ent_pend_t *p = pend_new(w, e->shard, e->type->name, e->id, idem ? c->idem_key : NULL);
    if (!p) {
        /* The state may hold effects that can no longer be made durable
         * or gated: fail the call, drop the output, reload the entity. */
        if (c)
            call_complete(c, SH_ENOMEM, NULL, 0, "out of memory holding a turn's output");
        t->call = NULL;
        for (call_t *x = t->tells_head, *nx; x; x = nx) {
            nx = x->next;
            call_free(x);
        }
        t->tells_head = t->tells_tail = NULL;
        t->ntells = 0;
        e->flags |= ENT_F_BROKEN;
        return true;
    }
    pend_take_output(p, t);
    WRK_INC(w, commits_held);
    if (!writes) {
        pend_enqueue(e, p); /* a barrier */
        return true;
    }
    pend_take_rems(p, t, true);
    bool purge = t->purge;
    if (purge) {
        /* Everything journaled goes; this turn's events (a reset, say)
         * are applied in memory only, so recovery from the empty journal
         * and the live state agree. */
        p->req.purge = true;
        e->seq = 0;
        e->since_snap = 0;
        t->purge = false;
    }
    if (persist && t->ev_n && !purge) {
        p->ev = t->ev;
        p->req.ev = t->ev;
        p->req.ev_len = t->ev_len;
        p->req.ev_n = t->ev_n;
        t->ev = NULL;
        t->ev_cap = t->ev_len = 0;
        t->ev_n = 0;
    }
    p->req.first_seq = e->seq + 1;
    e->seq += p->req.ev_n;
    e->since_snap += p->req.ev_n;
    p->req.wall_ms = sh_time_wall_ms();
    if (persist && p->req.ev_n)
        pend_maybe_snapshot(w, e, p);
    if (idem) {
        p->idem_reply = memdup(p->reply, p->reply_len);
        p->req.idem.reply = p->idem_reply;
        p->req.idem.reply_len = p->idem_reply ? p->reply_len : 0;
        p->req.idem.expires_wall_ms = p->req.wall_ms + w->cfg.idem_ttl_ms;
    }
    pend_enqueue(e, p);
    pend_submit(w, p);
    return true;
}

bool ent_jrnl_hold_error(struct shoal_turn *t, int status, const char *msg)
{
    struct wrk *w = t->w;
    ent_t *e = t->e;
    bool fire = t->rem_fire && w->cfg.jw;
    if (!e || (!e->pq_head && !fire))
        return false;
    ent_pend_t *p = pend_new(w, e->shard, e->type->name, e->id, NULL);
    if (!p)
        return false;
    /* the error is the reply: keep it in the call until release */
    free(t->reply);
    t->reply = NULL;
    t->reply_len = 0;
    p->call = t->call;
    t->call = NULL;
    p->err = status;
    snprintf(p->errmsg, sizeof p->errmsg, "%s", msg ? msg : sh_strerror(status));
    WRK_INC(w, commits_held);
    if (!fire) {
        pend_enqueue(e, p);
        return true;
    }
    pend_take_rems(p, t, false);
    p->req.first_seq = e->seq + 1;
    p->req.wall_ms = sh_time_wall_ms();
    pend_enqueue(e, p);
    pend_submit(w, p);
    return true;
}

/* ---- release */


/* Release p's output: on success the tells go out and the callers get
 * the reply; otherwise every waiting caller gets `status`. */
static void pend_release(struct wrk *w, ent_pend_t *p, int status)
{
    char msg[CALL_MSG_MAX];
    if (status != 0)
        snprintf(msg, sizeof msg, "journal commit failed (%s); the entity reloads its state",
                 sh_strerror(status));
    if (status == 0) {
        for (call_t *c = p->tells, *nx; c; c = nx) {
            nx = c->next;
            c->next = NULL;
            wrk_send(w, c);
        }
        p->tells = NULL;
        for (jw_rem_op_t *o = p->req.rems; o && w->cfg.rem_changed; o = o->next)
            w->cfg.rem_changed(w->cfg.router, o->rem.shard, o->rem.type, o->rem.id,
                               o->rem.name, o->del ? 0 : o->rem.due_wall_ms);
    }
    if (status == 0 && p->err) { /* a held error reply */
        status = p->err;
        snprintf(msg, sizeof msg, "%s", p->errmsg);
    }
    for (call_t *d = p->dups, *nx; d; d = nx) {
        nx = d->next;
        d->next = NULL;
        call_complete(d, status, status ? NULL : p->reply, status ? 0 : p->reply_len,
                      status ? msg : NULL);
    }
    p->dups = NULL;
    if (p->call) {
        call_t *c = p->call;
        p->call = NULL;
        if (status == 0) {
            call_complete_owned(c, 0, p->reply, p->reply_len, NULL);
            p->reply = NULL;
        } else {
            call_complete(c, status, NULL, 0, msg);
        }
    }
}

void ent_jrnl_done(struct wrk *w, ent_pend_t *p)
{
    ent_t *e = p->e;
    int status = p->req.status;
    p->completed = true;
    if (status != 0) {
        WRK_INC(w, commits_failed);
        SH_LOGW("journal_commit_failed", "type=%s id=%s seq=%llu err=\"%s\"", p->req.ent.type,
                p->req.ent.id, (unsigned long long)p->req.first_seq, sh_strerror(status));
    }
    if (!e) { /* the entity was dropped meanwhile */
        pend_release(w, p, status);
        pend_free(p);
        return;
    }
    /* The writer completes in submission order, but a request it never
     * took (queue full) comes back at once, ahead of older ones: release
     * strictly from the head, as far as completions and barriers allow. */
    while ((p = e->pq_head) && (p->completed || !p->submitted)) {
        e->pq_head = p->qnext;
        if (!e->pq_head)
            e->pq_tail = NULL;
        if (p->submitted && p->req.status != 0)
            e->flags |= ENT_F_BROKEN;
        int st = p->submitted ? p->req.status : (e->flags & ENT_F_BROKEN) ? SH_EUNAVAILABLE : 0;
        if (st == 0 && (e->flags & ENT_F_BROKEN))
            st = SH_EUNAVAILABLE; /* computed on state that an earlier failure lost */
        pend_release(w, p, st);
        pend_free(p);
    }
    if (!e->pq_head)
        ent_pends_drained(w, e);
}

void ent_jrnl_detach(ent_t *e)
{
    for (ent_pend_t *p = e->pq_head, *nx; p; p = nx) {
        nx = p->qnext;
        p->e = NULL;
        if (!p->submitted || p->completed) { /* nothing will complete it again */
            pend_release(p->w, p, p->submitted ? p->req.status : SH_EUNAVAILABLE);
            pend_free(p);
        }
    }
    e->pq_head = e->pq_tail = NULL;
}

/* ---- idempotency */

bool ent_jrnl_idem_check(struct wrk *w, ent_t *e, call_t *c)
{
    if (!w->cfg.jw || !c->idem_key[0] || c->kind != CALL_ASK)
        return false;
    for (ent_pend_t *p = e->pq_head; p; p = p->qnext)
        if (p->req.idem_key && strcmp(p->req.idem_key, c->idem_key) == 0) {
            c->next = p->dups;
            p->dups = c;
            WRK_INC(w, idem_hits);
            return true;
        }
    jrnl_ent_t je = {.shard = e->shard, .type = e->type->name, .id = e->id};
    jrnl_idem_t rec;
    memset(&rec, 0, sizeof rec);
    int rc = jrnl_idem_get(w->cfg.jrnl, &je, c->idem_key, sh_time_wall_ms(), &rec);
    if (rc == SH_ENOT_FOUND)
        return false;
    if (rc != 0) {
        call_complete(c, SH_EUNAVAILABLE, NULL, 0, "idempotency record unreadable");
        return true;
    }
    WRK_INC(w, idem_hits);
    if (rec.status == 0)
        call_complete_owned(c, 0, rec.reply, rec.reply_len, NULL);
    else {
        free(rec.reply);
        call_complete(c, rec.status, NULL, 0, rec.msg);
    }
    return true;
}

/* ---- passivation */

void ent_jrnl_passivate(struct wrk *w, ent_t *e)
{
    const shoal_entity_type_t *ty = e->type;
    if (!w->cfg.jw || !ty->persistent || !ty->snapshot || e->since_snap == 0 ||
        (e->flags & (ENT_F_BROKEN | ENT_F_REFUSE)))
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ty->snapshot(e->state, &buf, &len, ty->udata) != 0) {
        free(buf);
        return;
    }
    ent_pend_t *p = pend_new(w, e->shard, ty->name, e->id, NULL);
    if (!p) {
        free(buf);
        return;
    }
    p->snap = buf;
    p->req.snap = buf;
    p->req.snap_len = len;
    p->req.snap_seq = e->seq;
    p->req.retain = w->cfg.retain_events;
    p->req.first_seq = e->seq + 1;
    p->req.wall_ms = sh_time_wall_ms();
    WRK_INC(w, snapshots);
    pend_submit(w, p); /* p->e stays NULL: nobody waits */
}

void ent_rem_ops_free(jw_rem_op_t *o)
{
    for (jw_rem_op_t *nx; o; o = nx) {
        nx = o->next;
        free(o);
    }
}
