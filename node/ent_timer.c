/*
 * ent_timer.c - the worker's timer queue and Dapr-style actor timers.
 *
 * Design notes.
 *
 * One binary min-heap per worker holds everything that fires at a time:
 * the wake-up of every open turn (its deadline, or its defer or ask
 * deadline if sooner) and every Dapr timer.  Items are embedded in the
 * turn or timer (no allocation per item) and remember their heap index,
 * so removal is O(log n).  A single uv_timer is armed for the root at the
 * end of each loop callback (ent_tq_arm), so heap changes in a batch cost
 * nothing in libuv.  Due times are CLOCK_MONOTONIC milliseconds, as call
 * deadlines are.
 *
 * Dapr timers (PUT .../timers/{name}) are volatile: they live with the
 * activation and are dropped when it is passivated, and their fires do not
 * count as activity, so an entity with only timers still passivates after
 * the idle timeout.  A fire queues a tell to the timer's callback method
 * with the timer's data as body, marked CALL_F_TIMER; if the mailbox is
 * full that fire is skipped and counted (timer_skipped), never queued
 * elsewhere.  A periodic timer that fell behind (a long stall) skips the
 * fires it missed rather than firing a burst.
 *
 * Registration is handled when the call is delivered, not queued behind
 * the mailbox: it touches only runtime state, never the type's state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dur.h"
#include "ent_int.h"
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_time.h"

/* ---- heap */

static void tq_set(ent_tq_t *q, uint32_t i, ent_tq_item_t *it)
{
    q->v[i] = it;
    it->idx = i;
}

static void tq_up(ent_tq_t *q, uint32_t i)
{
    ent_tq_item_t *it = q->v[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (q->v[p]->due_ms <= it->due_ms)
            break;
        tq_set(q, i, q->v[p]);
        i = p;
    }
    tq_set(q, i, it);
}

static void tq_down(ent_tq_t *q, uint32_t i)
{
    ent_tq_item_t *it = q->v[i];
    for (;;) {
        uint32_t l = 2 * i + 1, m = l;
        if (l >= q->n)
            break;
        if (l + 1 < q->n && q->v[l + 1]->due_ms < q->v[l]->due_ms)
            m = l + 1;
        if (it->due_ms <= q->v[m]->due_ms)
            break;
        tq_set(q, i, q->v[m]);
        i = m;
    }
    tq_set(q, i, it);
}

int ent_tq_push(struct wrk *w, ent_tq_item_t *it)
{
    ent_tq_t *q = &w->tq;
    SH_ASSERT(it->idx == ENT_TQ_NONE);
    if (q->n == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 64;
        ent_tq_item_t **nv = realloc(q->v, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        q->v = nv;
        q->cap = cap;
    }
    tq_set(q, q->n++, it);
    tq_up(q, it->idx);
    return 0;
}

void ent_tq_remove(struct wrk *w, ent_tq_item_t *it)
{
    ent_tq_t *q = &w->tq;
    uint32_t i = it->idx;
    SH_ASSERT(i < q->n && q->v[i] == it);
    it->idx = ENT_TQ_NONE;
    ent_tq_item_t *last = q->v[--q->n];
    if (last == it)
        return;
    tq_set(q, i, last);
    tq_down(q, i);
    tq_up(q, last->idx);
}

void ent_tq_arm(struct wrk *w)
{
    if (w->closing)
        return;
    if (w->tq.n == 0) {
        uv_timer_stop(&w->tq_timer);
        return;
    }
    uint64_t now = sh_time_mono_ms(), due = w->tq.v[0]->due_ms;
    /* Refresh libuv's cached clock so the relative timeout is measured
     * from now, not from the start of this loop iteration. */
    uv_update_time(&w->loop);
    uv_timer_start(&w->tq_timer, ent_tq_timer_cb, due > now ? due - now : 0, 0);
}

static void ent_timer_fire(struct wrk *w, ent_timer_t *tm);

/* Fire everything due.  Items fired may queue new ones (a periodic timer,
 * a turn waiting on); those due already fire in the same pass. */
void ent_tq_fire_due(struct wrk *w)
{
    uint64_t now = sh_time_mono_ms();
    while (w->tq.n && w->tq.v[0]->due_ms <= now) {
        ent_tq_item_t *it = w->tq.v[0];
        ent_tq_remove(w, it);
        if (it->kind == ENT_TQ_TURN)
            ent_turn_wake(w, (struct shoal_turn *)((char *)it - offsetof(struct shoal_turn, tq)));
        else
            ent_timer_fire(w, (ent_timer_t *)((char *)it - offsetof(ent_timer_t, tq)));
    }
}

/* ---- Dapr timers */

static void ent_timer_free(struct wrk *w, ent_timer_t *tm)
{
    if (tm->tq.idx != ENT_TQ_NONE)
        ent_tq_remove(w, &tm->tq);
    free(tm->name);
    free(tm->callback);
    free(tm->data);
    free(tm->spec);
    free(tm);
}

static ent_timer_t **ent_timer_find(ent_t *e, const char *name)
{
    ent_timer_t **p = &e->timers;
    while (*p && strcmp((*p)->name, name) != 0)
        p = &(*p)->next;
    return p;
}

static void ent_timer_unlink(struct wrk *w, ent_timer_t *tm)
{
    ent_timer_t **p = ent_timer_find(tm->e, tm->name);
    SH_ASSERT(*p == tm);
    *p = tm->next;
    ent_timer_free(w, tm);
}

void ent_timers_drop(struct wrk *w, ent_t *e)
{
    while (e->timers) {
        ent_timer_t *tm = e->timers;
        e->timers = tm->next;
        ent_timer_free(w, tm);
    }
}

static void ent_timer_fire(struct wrk *w, ent_timer_t *tm)
{
    ent_t *e = tm->e;
    uint64_t now = sh_time_mono_ms();
    if (tm->end_ms && now >= tm->end_ms) {
        ent_timer_unlink(w, tm);
        return;
    }
    call_t *c;
    int rc = call_new(&c, CALL_TELL, e->type->name, e->id, tm->callback, tm->data,
                      tm->data_len, now + CALL_DEFAULT_TIMEOUT_MS, w->cfg.shards);
    if (rc == 0) {
        c->flags |= CALL_F_TIMER;
        WRK_INC(w, timer_fires);
        if (ent_enqueue(w, e, c) != 0) {
            WRK_INC(w, timer_skipped);
            call_free(c);
        }
    } else {
        WRK_INC(w, timer_skipped);
    }
    if (tm->reps > 0)
        tm->reps--;
    if (tm->period_ms == 0 || tm->reps == 0) {
        ent_timer_unlink(w, tm);
        return;
    }
    tm->tq.due_ms += tm->period_ms;
    if (tm->tq.due_ms <= now)
        tm->tq.due_ms = now + tm->period_ms;
    if (ent_tq_push(w, &tm->tq) != 0)
        ent_timer_unlink(w, tm);
}

/* The optional duration member `key` of o parsed by `parse` (0 if absent
 * or ""). */
static int timer_dur(json_t *o, const char *key, int (*parse)(const char *, uint64_t *),
                     uint64_t *ms)
{
    json_t *v = json_object_get(o, key);
    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return SH_EBAD_REQUEST;
    const char *s = json_string_value(v);
    return *s ? parse(s, ms) : 0;
}

static int dur_due_now(const char *s, uint64_t *ms)
{
    return dur_parse_due(s, sh_time_wall_ms(), ms);
}

/* Build a timer from a TIMER_SET body.  0, or SH_EBAD_REQUEST with *why. */
static int timer_parse(call_t *c, ent_timer_t *tm, const char **why)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *)c->body, c->len, 0, &jerr);
    int rc = SH_EBAD_REQUEST;
    uint64_t due = 0, ttl = 0;
    json_t *cb = o ? json_object_get(o, "callback") : NULL, *data, *p;
    const char *ps = NULL;
    *why = "timer body must be a JSON object";
    if (!json_is_object(o))
        goto out;
    *why = "timer callback must be a method name";
    if (!json_is_string(cb) || !*json_string_value(cb) ||
        strlen(json_string_value(cb)) >= SHOAL_METHOD_MAX)
        goto out;
    *why = "bad timer dueTime";
    if (timer_dur(o, "dueTime", dur_due_now, &due) != 0)
        goto out;
    *why = "bad timer ttl";
    if (timer_dur(o, "ttl", dur_due_now, &ttl) != 0)
        goto out;
    *why = "bad timer period";
    p = json_object_get(o, "period");
    if (p && !json_is_null(p) && !json_is_string(p))
        goto out;
    ps = json_is_string(p) ? json_string_value(p) : "";
    if (*ps && (dur_parse_period(ps, &tm->period_ms, &tm->reps) != 0 || tm->reps == 0))
        goto out;
    *why = "out of memory";
    rc = -ENOMEM;
    data = json_object_get(o, "data");
    tm->callback = strdup(json_string_value(cb));
    tm->data = data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    tm->spec = malloc(c->len);
    if (!tm->callback || (data && !tm->data) || !tm->spec)
        goto out;
    tm->data_len = tm->data ? strlen(tm->data) : 0;
    memcpy(tm->spec, c->body, c->len);
    tm->spec_len = c->len;
    uint64_t now = sh_time_mono_ms();
    tm->tq.due_ms = now + due;
    tm->end_ms = ttl ? now + ttl : 0;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static void ent_timer_set(struct wrk *w, ent_t *e, call_t *c)
{
    ent_timer_t **p = ent_timer_find(e, c->method);
    size_t n = 0;
    for (ent_timer_t *x = e->timers; x; x = x->next)
        n++;
    if (!*p && n >= ENT_TIMERS_MAX) {
        call_complete(c, SH_ECONFLICT, NULL, 0, "too many timers on this entity (max 64)");
        return;
    }
    ent_timer_t *tm = calloc(1, sizeof *tm);
    const char *why = "out of memory";
    int rc = tm ? 0 : -ENOMEM;
    if (tm) {
        tm->tq.idx = ENT_TQ_NONE;
        tm->tq.kind = ENT_TQ_TIMER;
        tm->e = e;
        tm->reps = -1;
        tm->name = strdup(c->method);
        rc = tm->name ? timer_parse(c, tm, &why) : -ENOMEM;
    }
    if (rc == 0)
        rc = ent_tq_push(w, &tm->tq);
    if (rc != 0) {
        if (tm)
            ent_timer_free(w, tm);
        call_complete(c, rc, NULL, 0, why);
        return;
    }
    if (*p) /* replace: same name, new schedule */
        ent_timer_unlink(w, *p);
    tm->next = e->timers;
    e->timers = tm;
    call_complete(c, 0, NULL, 0, NULL);
}

void ent_timer_call(struct wrk *w, ent_t *e, call_t *c)
{
    if (sh_time_mono_ms() >= c->deadline_ms) {
        call_complete(c, SH_ETIMEOUT, NULL, 0, "deadline expired");
        return;
    }
    if (c->kind == CALL_TIMER_SET) {
        ent_timer_set(w, e, c);
        return;
    }
    ent_timer_t **p = ent_timer_find(e, c->method);
    if (!*p) {
        char msg[CALL_MSG_MAX];
        snprintf(msg, sizeof msg, "no timer '%.60s' on %.63s/%.100s", c->method, e->type->name,
                 e->id);
        call_complete(c, SH_ENOT_FOUND, NULL, 0, msg);
        return;
    }
    if (c->kind == CALL_TIMER_DEL) {
        ent_timer_unlink(w, *p);
        call_complete(c, 0, NULL, 0, NULL);
    } else {
        call_complete(c, 0, (*p)->spec, (*p)->spec_len, NULL);
    }
}
