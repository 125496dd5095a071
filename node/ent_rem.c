/*
 * ent_rem.c - the calls a worker runs inside a turn without (or before)
 * the type's handler: durable reminders (Dapr's reminder API: set, delete,
 * get, and their fires) and reads of a field of the state.  Also the turn
 * API for reminders and purging (shoal_turn_remind / _forget / _purge).
 *
 * Design notes.
 *
 * Reminder changes are effects of a turn like events: they go to the
 * journal in the same transaction as the turn's events (ent_jrnl.c) and
 * the reply waits until they are durable; only then is the node's
 * reminder scheduler told the new due time (cfg.rem_changed).
 *
 * A fire is a call of method "remind/<name>" (Dapr's app callback path)
 * carrying CALL_F_REMINDER.  Its turn first reads the stored reminder: a
 * reminder deleted meanwhile, or moved to a later time, is skipped
 * without running the handler.  Otherwise the turn carries the
 * reminder's next state (next due time, or deletion) as `rem_fire`, which
 * is written even if the handler fails - a reminder whose handler always
 * fails must not fire in a tight loop.  A crash before that write makes
 * the reminder fire again after restart: fires are at least once.
 *
 * State reads answer from the type's snapshot (JSON for every built-in
 * type) and wait, like any reply, for the commits queued before them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dur.h"
#include "ent_int.h"
#include "jrnl.h"
#include "sh_err.h"
#include "sh_time.h"

#define REM_NAME_MAX SHOAL_METHOD_MAX
#define REM_STALE_MS 1000 /* a fire this long before the stored due is stale */

/* One allocation: the op, then name, data and spec strings. */
static jw_rem_op_t *rem_op_new(const char *name, const char *data, size_t dlen, const char *spec,
                               size_t slen)
{
    size_t nl = strlen(name);
    jw_rem_op_t *o = calloc(1, sizeof *o + nl + 1 + dlen + 1 + slen + 1);
    if (!o)
        return NULL;
    char *s = (char *)(o + 1);
    memcpy(s, name, nl + 1);
    o->rem.name = s;
    s += nl + 1;
    if (data) {
        memcpy(s, data, dlen);
        s[dlen] = '\0';
        o->rem.data = (const uint8_t *)s;
        o->rem.data_len = dlen;
    }
    s += dlen + 1;
    if (spec) {
        memcpy(s, spec, slen);
        s[slen] = '\0';
        o->rem.spec = (const uint8_t *)s;
        o->rem.spec_len = slen;
    }
    o->rem.reps = -1;
    return o;
}

static void rem_push(struct shoal_turn *t, jw_rem_op_t *o)
{
    jw_rem_op_t **p = &t->rems;
    while (*p)
        p = &(*p)->next;
    *p = o;
}

static bool rem_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < REM_NAME_MAX - 7; /* "remind/" + name fits a method */
}

/* ---- the turn API */

int shoal_turn_remind(shoal_turn_t *t, const char *name, uint64_t due_ms, uint64_t period_ms,
                      const char *data_json)
{
    if (t->direct || !name || !rem_name_ok(name) || due_ms > DUR_MS_MAX ||
        period_ms > DUR_MS_MAX)
        return SHOAL_EBAD_REQUEST;
    if (!t->w->cfg.jw)
        return SHOAL_EUNAVAILABLE;
    size_t dl = data_json ? strlen(data_json) : 0;
    jw_rem_op_t *o = rem_op_new(name, data_json, dl, NULL, 0);
    if (!o)
        return -ENOMEM;
    o->rem.due_wall_ms = shoal_turn_wall_ms(t) + due_ms;
    o->rem.period_ms = period_ms;
    rem_push(t, o);
    return 0;
}

int shoal_turn_forget(shoal_turn_t *t, const char *name)
{
    if (t->direct || !name || !rem_name_ok(name))
        return SHOAL_EBAD_REQUEST;
    if (!t->w->cfg.jw)
        return SHOAL_EUNAVAILABLE;
    jw_rem_op_t *o = rem_op_new(name, NULL, 0, NULL, 0);
    if (!o)
        return -ENOMEM;
    o->del = true;
    rem_push(t, o);
    return 0;
}

int shoal_turn_purge(shoal_turn_t *t)
{
    if (t->direct)
        return SHOAL_EBAD_REQUEST;
    t->purge = true;
    return 0;
}

/* ---- reading a stored reminder */

typedef struct rem_copy {
    jw_rem_op_t *op; /* a put op holding a copy of the record */
} rem_copy_t;

static int rem_copy_cb(void *arg, const jrnl_rem_t *r)
{
    rem_copy_t *x = arg;
    x->op = rem_op_new(r->name, (const char *)r->data, r->data ? r->data_len : 0,
                       (const char *)r->spec, r->spec ? r->spec_len : 0);
    if (!x->op)
        return -ENOMEM;
    x->op->rem.due_wall_ms = r->due_wall_ms;
    x->op->rem.period_ms = r->period_ms;
    x->op->rem.reps = r->reps;
    x->op->rem.ttl_wall_ms = r->ttl_wall_ms;
    return 0;
}

/* The stored reminder `name` of the turn's entity as a put op (malloc'd),
 * or NULL with *rc (SH_ENOT_FOUND, ...). */
static jw_rem_op_t *rem_read(struct shoal_turn *t, const char *name, int *rc)
{
    jrnl_ent_t je = {.shard = t->e->shard, .type = t->type->name, .id = t->id};
    rem_copy_t x = {0};
    *rc = jrnl_rem_get(t->w->cfg.jrnl, &je, name, rem_copy_cb, &x);
    if (*rc != 0) {
        ent_rem_ops_free(x.op);
        return NULL;
    }
    return x.op;
}

/* ---- Dapr's reminder API */

static int rem_dur(json_t *o, const char *key, bool due, uint64_t now, uint64_t *ms,
                   int64_t *reps)
{
    json_t *v = json_object_get(o, key);
    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return SH_EBAD_REQUEST;
    const char *s = json_string_value(v);
    if (!*s)
        return 0;
    if (reps)
        return dur_parse_period(s, ms, reps);
    return due ? dur_parse_due(s, now, ms) : dur_parse(s, ms);
}

static int rem_set(struct shoal_turn *t, call_t *c)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *)c->body, c->len, 0, &jerr);
    uint64_t now = shoal_turn_wall_ms(t), due = 0, period = 0, ttl = 0;
    int64_t reps = -1;
    const char *why = NULL;
    if (!json_is_object(o))
        why = "reminder body must be a JSON object";
    else if (rem_dur(o, "dueTime", true, now, &due, NULL) != 0)
        why = "bad reminder dueTime";
    else if (rem_dur(o, "period", false, now, &period, &reps) != 0 || reps == 0)
        why = "bad reminder period";
    else if (rem_dur(o, "ttl", true, now, &ttl, NULL) != 0)
        why = "bad reminder ttl";
    if (why) {
        json_decref(o);
        return shoal_turn_fail(t, SHOAL_EBAD_REQUEST, why);
    }
    json_t *data = json_object_get(o, "data");
    char *ds = data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    jw_rem_op_t *op = rem_op_new(c->method, ds, ds ? strlen(ds) : 0, (const char *)c->body,
                                 c->len);
    free(ds);
    json_decref(o);
    if (!op)
        return -ENOMEM;
    op->rem.due_wall_ms = now + due;
    op->rem.period_ms = period;
    op->rem.reps = period ? reps : 1;
    op->rem.ttl_wall_ms = ttl ? now + ttl : 0;
    rem_push(t, op);
    return 0;
}

static int rem_call(struct shoal_turn *t, call_t *c)
{
    if (!t->w->cfg.jw)
        return shoal_turn_fail(t, SHOAL_EUNAVAILABLE, "reminders need a journal (--data)");
    if (!rem_name_ok(c->method))
        return shoal_turn_fail(t, SHOAL_EBAD_REQUEST, "bad reminder name");
    if (c->kind == CALL_REM_SET)
        return rem_set(t, c);
    int rc;
    jw_rem_op_t *op = rem_read(t, c->method, &rc);
    if (!op)
        return shoal_turn_fail(t, rc, rc == SH_ENOT_FOUND ? "no such reminder" : NULL);
    if (c->kind == CALL_REM_GET) {
        rc = shoal_turn_reply(t, op->rem.spec, op->rem.spec_len);
        ent_rem_ops_free(op);
        return rc;
    }
    op->del = true;
    rem_push(t, op);
    return 0;
}

/* ---- fires */

/* The reminder's state after this fire: the next due time, or deletion. */
static void rem_advance(jw_rem_op_t *op, uint64_t now)
{
    jrnl_rem_t *r = &op->rem;
    if (r->reps > 0)
        r->reps--;
    if (r->period_ms == 0 || r->reps == 0) {
        op->del = true;
        return;
    }
    r->due_wall_ms += r->period_ms;
    if (r->due_wall_ms <= now) /* missed fires (node down) are not replayed one by one */
        r->due_wall_ms = now + r->period_ms;
    if (r->ttl_wall_ms && r->due_wall_ms >= r->ttl_wall_ms)
        op->del = true;
}

static int rem_fire(struct shoal_turn *t, void *state, call_t *c)
{
    const char *name = c->method + 7; /* "remind/" */
    if (strncmp(c->method, "remind/", 7) != 0 || !t->w->cfg.jw)
        return 0;
    int rc;
    jw_rem_op_t *op = rem_read(t, name, &rc);
    uint64_t now = shoal_turn_wall_ms(t);
    if (!op || op->rem.due_wall_ms > now + REM_STALE_MS) {
        ent_rem_ops_free(op); /* deleted or moved meanwhile: nothing to do */
        return 0;
    }
    bool expired = op->rem.ttl_wall_ms && now >= op->rem.ttl_wall_ms;
    rem_advance(op, now);
    if (expired)
        op->del = true;
    t->rem_fire = op;
    if (expired)
        return 0;
    WRK_INC(t->w, reminders_fired);
    json_t *body = json_pack("{s:s}", "name", name);
    json_t *data = op->rem.data ? json_loadb((const char *)op->rem.data, op->rem.data_len,
                                             JSON_DECODE_ANY, NULL)
                                : NULL;
    json_object_set_new(body, "data", data ? data : json_null());
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s)
        return -ENOMEM;
    rc = t->type->handle(t, state, c->method, (const uint8_t *)s, strlen(s));
    free(s);
    return rc;
}

/* ---- state reads */

static int state_get(struct shoal_turn *t, void *state, call_t *c)
{
    const shoal_entity_type_t *ty = t->type;
    uint8_t *snap = NULL;
    size_t len = 0;
    if (!ty->snapshot)
        return shoal_turn_fail(t, SHOAL_ENOT_FOUND, "this entity type has no readable state");
    int rc = ty->snapshot(state, &snap, &len, ty->udata);
    if (rc != 0) {
        free(snap);
        return rc;
    }
    json_t *o = json_loadb((const char *)snap, len, 0, NULL);
    free(snap);
    json_t *v = json_is_object(o) ? json_object_get(o, c->method) : NULL;
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(o);
    if (!v)
        return shoal_turn_fail(t, SHOAL_ENOT_FOUND, "no such state key");
    if (!s)
        return -ENOMEM;
    rc = shoal_turn_reply(t, s, strlen(s));
    free(s);
    return rc;
}

int ent_turn_special(struct shoal_turn *t, void *state, call_t *c)
{
    if (c->flags & CALL_F_REMINDER)
        return rem_fire(t, state, c);
    switch (c->kind) {
    case CALL_REM_SET:
    case CALL_REM_DEL:
    case CALL_REM_GET: return rem_call(t, c);
    case CALL_STATE_GET: return state_get(t, state, c);
    default: break;
    }
    return shoal_turn_fail(t, SHOAL_EBAD_REQUEST, "this call kind does not reach entities");
}
