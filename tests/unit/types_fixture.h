/*
 * types_fixture.h - what the entity type suites share (types_test.c,
 * types_state_test.c): one turn at a time through ent_invoke_direct with
 * exact replies and codes (OK, FAIL, ALLOW), a wrapper type that records
 * the events its inner type applies, and snapshot clones.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef TYPES_FIXTURE_H
#define TYPES_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ent.h"
#include "sh_assert.h"
#include "types/types.h"

/* The outcome of one turn, reply NUL-terminated (replies here are small,
 * except a few log reads, which use invoke_big). */
typedef struct res {
    int status;
    size_t events;
    char reply[4096];
    char msg[256];
} res_t;

static inline void *state_new(const shoal_entity_type_t *ty)
{
    void *st = NULL;
    ck_assert_int_eq(ty->create(&st, "e1", ty->udata), 0);
    ck_assert_ptr_nonnull(st);
    return st;
}

static inline res_t invoke(const shoal_entity_type_t *ty, void *st, const char *method,
                           const char *body, uint64_t now)
{
    ent_direct_result_t r;
    memset(&r, 0, sizeof r);
    size_t len = body ? strlen(body) : 0;
    int rc = ent_invoke_direct(ty, st, "e1", method, body, len, now, &r);
    ck_assert_int_eq(rc, r.status);
    res_t out = {.status = r.status, .events = r.events};
    if (r.reply) {
        ck_assert_uint_lt(r.reply_len, sizeof out.reply);
        memcpy(out.reply, r.reply, r.reply_len);
    }
    snprintf(out.msg, sizeof out.msg, "%s", r.errmsg);
    free(r.reply);
    return out;
}

static inline const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* A turn that must succeed with exactly `reply` and `events` events. */
#define OK(ty, st, method, body, want_reply, want_events)                      \
    do {                                                                       \
        res_t r_ = invoke(ty, st, method, body, 0);                            \
        ck_assert_msg(r_.status == 0, "%s %s: status %d (%s)", method,         \
                      or_empty(body), r_.status, r_.msg);                      \
        ck_assert_str_eq(r_.reply, want_reply);                                \
        ck_assert_uint_eq(r_.events, want_events);                             \
    } while (0)

/* A turn that must fail with `code` and exactly `msg`, emitting nothing. */
#define FAIL(ty, st, method, body, want_code, want_msg)                        \
    do {                                                                       \
        res_t r_ = invoke(ty, st, method, body, 0);                            \
        ck_assert_int_eq(r_.status, want_code);                                \
        ck_assert_str_eq(r_.msg, want_msg);                                    \
        ck_assert_uint_eq(r_.events, 0);                                       \
    } while (0)

/* A wrapper type that records the events its inner type applies, so a
 * test can replay them into a fresh state. */
typedef struct rec {
    const shoal_entity_type_t *inner;
    shoal_entity_type_t type;
    size_t n;
    uint8_t *ev[512];
    size_t len[512];
} rec_t;

static inline int rec_apply(void *state, const uint8_t *event, size_t len, void *udata)
{
    rec_t *r = udata;
    ck_assert_uint_lt(r->n, SH_ARRAY_LEN(r->ev));
    r->ev[r->n] = malloc(len);
    memcpy(r->ev[r->n], event, len);
    r->len[r->n++] = len;
    return r->inner->apply(state, event, len, r->inner->udata);
}

static inline void rec_init(rec_t *r, const shoal_entity_type_t *inner)
{
    memset(r, 0, sizeof *r);
    r->inner = inner;
    r->type = *inner;
    r->type.apply = rec_apply;
    r->type.udata = r; /* only apply reads it: create gets inner->udata */
}

/* Apply every recorded event to `st`, each must succeed. */
static inline void rec_replay(const rec_t *r, void *st)
{
    for (size_t i = 0; i < r->n; i++)
        ck_assert_int_eq(r->inner->apply(st, r->ev[i], r->len[i], r->inner->udata), 0);
}

static inline void rec_fini(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ev[i]);
}

static inline int apply_str(const shoal_entity_type_t *ty, void *st, const char *ev)
{
    return ty->apply(st, (const uint8_t *)ev, strlen(ev), ty->udata);
}

static inline int restore_str(const shoal_entity_type_t *ty, void *st, const char *snap)
{
    return ty->restore(st, (const uint8_t *)snap, strlen(snap), ty->udata);
}

/* Snapshot `st` into a fresh state of the same type and return it. */
static inline void *clone_by_snapshot(const shoal_entity_type_t *ty, const void *st)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(ty->snapshot(st, &buf, &len, ty->udata), 0);
    void *copy = state_new(ty);
    ck_assert_int_eq(ty->restore(copy, buf, len, ty->udata), 0);
    free(buf);
    return copy;
}

/* The ratelimiter's one method, at time `now`. */
static inline res_t allow(const shoal_entity_type_t *ty, void *st, const char *body,
                          uint64_t now)
{
    return invoke(ty, st, "AllowRequest", body, now);
}

#define ALLOW(body, now, want_reply, want_events)                              \
    do {                                                                       \
        res_t r_ = allow(ty, st, body, now);                                   \
        ck_assert_msg(r_.status == 0, "status %d (%s)", r_.status, r_.msg);    \
        ck_assert_str_eq(r_.reply, want_reply);                                \
        ck_assert_uint_eq(r_.events, want_events);                             \
    } while (0)

/* `method` answers the same on `a` and on `b` at time `now`. */
static inline void same_reply_at(const shoal_entity_type_t *ty, void *a, void *b,
                                 const char *method, const char *body, uint64_t now)
{
    res_t ra = invoke(ty, a, method, body, now), rb = invoke(ty, b, method, body, now);
    ck_assert_int_eq(ra.status, rb.status);
    ck_assert_str_eq(ra.reply, rb.reply);
    ck_assert_str_eq(ra.msg, rb.msg);
}

static inline void same_reply(const shoal_entity_type_t *ty, void *a, void *b,
                              const char *method, const char *body)
{
    same_reply_at(ty, a, b, method, body, 0);
}

#endif
