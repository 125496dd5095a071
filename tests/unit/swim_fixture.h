/*
 * swim_fixture.h - the rig the single-core SWIM suites share
 * (swim_heal_test.c, swim_refute_test.c): one core, "me", fed crafted
 * payloads as if from members "<id>" at "<id>.test:1"; every payload it
 * sends is decoded, counted, and (the first RIG_SENT_MAX) recorded with
 * what its gossip says about "me".  A suite may also name a member to
 * `watch`: the rig counts the sends whose gossip suspects it.
 * swim_rules_test.c, whose rig answers probes itself, takes only addr_of
 * and upd.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef SWIM_FIXTURE_H
#define SWIM_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "swim.h"
#include "swim_codec.h"

#define RIG_SENT_MAX 256

/* One payload "me" sent, decoded. */
typedef struct sent {
    char to[SWIM_ADDR_MAX];
    uint8_t type;
    size_t self_n;     /* updates about "me" in its gossip */
    bool self_first;   /* gossip[0] is about "me" */
    uint8_t self_state;
    uint32_t self_inc;
} sent_t;

typedef struct rig {
    swim_t *s;
    uint64_t now;
    size_t n;                   /* payloads sent */
    sent_t out[RIG_SENT_MAX];   /* the first RIG_SENT_MAX of them */
    const char *watch;          /* NULL, or a member id ... */
    size_t watch_suspect_sends; /* ... and the sends whose gossip suspects it */
} rig_t;

static char g_addr[8][SWIM_ADDR_MAX];

/* Member "<id>" lives at "<id>.test:1" (formatted into g_addr[buf]). */
static inline swim_str_t addr_of(const char *id, int buf)
{
    snprintf(g_addr[buf], SWIM_ADDR_MAX, "%s.test:1", id);
    return swim_str_of(g_addr[buf]);
}

/* An update about `id`; `by` (the accuser of a suspicion) may be NULL. */
static inline swim_update_t upd(const char *id, enum swim_state st, uint32_t inc,
                                const char *by)
{
    swim_update_t u = {.id = swim_str_of(id), .addr = addr_of(id, 7),
                       .state = (uint8_t)st, .incarnation = inc};
    if (by)
        u.by = swim_str_of(by);
    return u;
}

static inline void rig_record(rig_t *r, const swim_out_t *o)
{
    swim_msg_t m;
    ck_assert_int_eq(swim_msg_decode(o->payload, o->len, 1u << 20, &m), 0);
    sent_t x = {.type = m.type};
    snprintf(x.to, sizeof(x.to), "%s", o->to_addr);
    bool watched = false;
    for (size_t i = 0; i < m.n_gossip; i++) {
        if (r->watch && swim_str_eq(m.gossip[i].id, swim_str_of(r->watch)) &&
            m.gossip[i].state == SWIM_SUSPECT)
            watched = true;
        if (!swim_str_eq(m.gossip[i].id, swim_str_of("me")))
            continue;
        x.self_first |= i == 0;
        x.self_n++;
        x.self_state = m.gossip[i].state;
        x.self_inc = m.gossip[i].incarnation;
    }
    swim_msg_fini(&m);
    r->watch_suspect_sends += watched;
    if (r->n < RIG_SENT_MAX)
        r->out[r->n] = x;
    r->n++;
}

static inline void rig_pump(rig_t *r)
{
    swim_out_t o;
    while (swim_next_output(r->s, &o)) {
        if (o.kind == SWIM_OUT_SEND) {
            rig_record(r, &o);
            free(o.payload);
        }
    }
}

/* Start "me" at "me.test:1" with the rest of cfg; the rig is zeroed
 * first, then watches `watch` (may be NULL). */
static inline void rig_start(rig_t *r, swim_config_t *cfg, const char *watch)
{
    memset(r, 0, sizeof(*r));
    r->watch = watch;
    cfg->self_id = "me";
    cfg->self_addr = "me.test:1";
    ck_assert_int_eq(swim_new(&r->s, cfg, 0), 0);
    rig_pump(r);
}

/* Deliver m as sent by member `from`, at r->now. */
static inline void rig_inject(rig_t *r, swim_msg_t *m, const char *from)
{
    uint8_t *p;
    size_t len;
    m->from_id = swim_str_of(from);
    m->from_addr = addr_of(from, 6);
    ck_assert_int_eq(swim_msg_encode(m, 1u << 20, &p, &len), 0);
    ck_assert_int_eq(swim_recv(r->s, r->now, g_addr[6], p, len), 0);
    free(p);
    swim_check_invariants(r->s);
    rig_pump(r);
}

static inline void rig_gossip(rig_t *r, const char *from, swim_update_t u)
{
    swim_msg_t m = {.type = SWIM_MSG_GOSSIP, .gossip = &u, .n_gossip = 1};
    rig_inject(r, &m, from);
}

static inline void rig_tick(rig_t *r, uint64_t ms)
{
    r->now += ms;
    swim_tick(r->s, r->now);
    swim_check_invariants(r->s);
    rig_pump(r);
}

/* What "me" believes of `id` (which it must know); *inc may be NULL. */
static inline enum swim_state state_of(const rig_t *r, const char *id, uint32_t *inc)
{
    swim_member_view_t v;
    ck_assert_int_eq(swim_member_find(r->s, id, &v), 0);
    if (inc)
        *inc = v.incarnation;
    return v.state;
}

#endif
