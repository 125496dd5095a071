/*
 * ent_turn_api.c - the turn API of include/shoal/entity.h (what a handler
 * calls during its turn) and ent_invoke_direct.  Effects are only
 * recorded in the turn here; ent_turn.c and ent_jrnl.c decide when they
 * take effect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ent.h"
#include "ent_int.h"
#include "sh_err.h"
#include "sh_time.h"

/* ---- the turn API (include/shoal/entity.h) */

const char *shoal_turn_type(const shoal_turn_t *t) { return t->type->name; }
const char *shoal_turn_id(const shoal_turn_t *t) { return t->id; }
uint64_t shoal_turn_now_ms(const shoal_turn_t *t) { return t->now_ms; }

uint64_t shoal_turn_wall_ms(const shoal_turn_t *t)
{
    uint64_t wall = sh_time_wall_ms();
    if (t->direct)
        return wall;
    uint64_t mono = sh_time_mono_ms();
    return wall - (mono > t->now_ms ? mono - t->now_ms : 0);
}

int shoal_turn_emit(shoal_turn_t *t, const void *event, size_t len)
{
    if (len && !event)
        return SHOAL_EBAD_REQUEST;
    uint32_t n = (uint32_t)len;
    if (len > CALL_BODY_MAX || t->ev_len + sizeof n + len > ENT_EVENTS_BYTES_MAX)
        return SHOAL_ETOO_BIG;
    size_t need = t->ev_len + sizeof n + len;
    if (need > t->ev_cap) {
        size_t cap = t->ev_cap ? t->ev_cap * 2 : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = realloc(t->ev, cap);
        if (!nb)
            return -ENOMEM;
        t->ev = nb;
        t->ev_cap = cap;
    }
    memcpy(t->ev + t->ev_len, &n, sizeof n);
    if (len)
        memcpy(t->ev + t->ev_len + sizeof n, event, len);
    t->ev_len = need;
    t->ev_n++;
    return 0;
}

int shoal_turn_reply(shoal_turn_t *t, const void *body, size_t len)
{
    if (len && !body)
        return SHOAL_EBAD_REQUEST;
    if (len > CALL_BODY_MAX)
        return SHOAL_ETOO_BIG;
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, body, len);
    }
    free(t->reply);
    t->reply = copy;
    t->reply_len = len;
    return 0;
}

int shoal_turn_fail(shoal_turn_t *t, int code, const char *message)
{
    if (message)
        snprintf(t->errmsg, sizeof t->errmsg, "%s", message);
    return code;
}

int shoal_turn_ask(shoal_turn_t *t, const char *type, const char *id, const char *method,
                   const void *body, size_t len, uint32_t timeout_ms, shoal_cont_fn cont,
                   void *arg)
{
    if (t->direct || !cont)
        return SHOAL_EBAD_REQUEST;
    if (t->req != TURN_WAIT_NONE)
        return SHOAL_EBUSY;
    uint64_t deadline = t->call->deadline_ms;
    if (timeout_ms && t->now_ms + timeout_ms < deadline)
        deadline = t->now_ms + timeout_ms;
    call_t *c;
    int rc = call_new(&c, CALL_ASK, type, id, method, body, len, deadline, t->w->cfg.shards);
    if (rc != 0)
        return rc;
    t->ask_out = c;
    t->req = TURN_WAIT_ASK;
    t->cont = cont;
    t->cont_arg = arg;
    return 0;
}

int shoal_turn_defer(shoal_turn_t *t, uint32_t ms, shoal_cont_fn cont, void *arg)
{
    if (t->direct || !cont)
        return SHOAL_EBAD_REQUEST;
    if (t->req != TURN_WAIT_NONE)
        return SHOAL_EBUSY;
    t->req = TURN_WAIT_DEFER;
    t->defer_ms = ms;
    t->cont = cont;
    t->cont_arg = arg;
    return 0;
}

int shoal_turn_tell(shoal_turn_t *t, const char *type, const char *id, const char *method,
                    const void *body, size_t len)
{
    if (t->direct)
        return SHOAL_EBAD_REQUEST;
    if (t->ntells >= ENT_TELLS_MAX)
        return SHOAL_ETOO_BIG;
    call_t *c;
    int rc = call_new(&c, CALL_TELL, type, id, method, body, len,
                      t->now_ms + CALL_DEFAULT_TIMEOUT_MS, t->w->cfg.shards);
    if (rc != 0)
        return rc;
    if (t->tells_tail)
        t->tells_tail->next = c;
    else
        t->tells_head = c;
    t->tells_tail = c;
    t->ntells++;
    return 0;
}

/* ---- ent.h */

int ent_invoke_direct(const shoal_entity_type_t *type, void *state, const char *id,
                      const char *method, const void *body, size_t len, uint64_t now_ms,
                      ent_direct_result_t *res)
{
    memset(res, 0, sizeof *res);
    struct shoal_turn t;
    memset(&t, 0, sizeof t);
    t.direct = true;
    t.type = type;
    t.id = id;
    t.direct_state = state;
    t.now_ms = now_ms;
    t.tq.idx = ENT_TQ_NONE;
    int rc = type->handle(&t, state, method, (const uint8_t *)body, len);
    if (rc == SHOAL_TURN_PENDING || rc > 0) {
        snprintf(t.errmsg, sizeof t.errmsg, "handler returned %d without a pending ask", rc);
        rc = SH_EINTERNAL;
    }
    if (rc == 0 && t.ev_n && !type->apply)
        rc = SH_EINTERNAL;
    size_t off = 0;
    for (uint32_t i = 0; rc == 0 && i < t.ev_n; i++) {
        uint32_t n;
        memcpy(&n, t.ev + off, sizeof n);
        off += sizeof n;
        rc = type->apply(state, t.ev + off, n, type->udata);
        off += n;
    }
    res->status = rc;
    res->events = rc == 0 ? t.ev_n : 0;
    if (rc == 0) {
        res->reply = t.reply;
        res->reply_len = t.reply_len;
    } else {
        free(t.reply);
    }
    snprintf(res->errmsg, sizeof res->errmsg, "%s", t.errmsg);
    free(t.ev);
    return rc;
}
