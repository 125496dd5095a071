/*
 * rpc_fixture.h - what the forwarded-call suites share (rpc_test.c,
 * rpc_pending_test.c, rpc_codec_test.c): calls to encode or forward, and
 * two rpc_t endpoints that talk through a fake network which queues
 * frames; a test delivers them (or not) by hand.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef RPC_FIXTURE_H
#define RPC_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "rpc.h"
#include "sh_err.h"
#include "unit_fixture.h"

#define SHARDS 16

/* ---- calls ------------------------------------------------------------ */

/* A call to cart/42 AddItem with `body` (none if NULL), due at `deadline`. */
static inline call_t *mkcall(enum call_kind kind, const char *body, uint64_t deadline)
{
    call_t *c;
    ck_assert_int_eq(call_new(&c, kind, "cart", "42", "AddItem", body, body ? strlen(body) : 0,
                              deadline, SHARDS),
                     0);
    return c;
}

/* ---- endpoints over a fake network --------------------------------------- */

typedef struct frame {
    uint8_t kind;
    char to[64];
    uint64_t corr, deadline;
    uint8_t *p;
    size_t len;
} frame_t;

typedef struct endpoint {
    const char *id, *addr;
    rpc_t *rpc;
    frame_t out[64];
    int nout;
    int send_rc;            /* forced result of send */
    call_t *delivered[64];  /* calls made from requests, not yet completed */
    char delivered_from[64][WIRE_ID_MAX]; /* ... and deliver's `from` */
    int ndelivered;
    call_t *homed[64];      /* completed origin calls (origin_done) */
    int nhomed;
} endpoint_t;

static endpoint_t ep_a, ep_b;
static call_t *done_calls[64]; /* completed calls made by the test */
static int ndone;

static inline int fake_send(void *udata, uint8_t kind, const char *to, uint64_t corr,
                            uint64_t deadline, const uint8_t *p, size_t len)
{
    endpoint_t *e = udata;
    if (e->send_rc)
        return e->send_rc;
    ck_assert_int_lt(e->nout, 64);
    frame_t *f = &e->out[e->nout++];
    f->kind = kind;
    snprintf(f->to, sizeof f->to, "%s", to);
    f->corr = corr;
    f->deadline = deadline;
    f->p = malloc(len ? len : 1);
    memcpy(f->p, p, len);
    f->len = len;
    return 0;
}

static inline void fake_deliver(void *udata, call_t *c, const char *from)
{
    endpoint_t *e = udata;
    snprintf(e->delivered_from[e->ndelivered], WIRE_ID_MAX, "%s", from);
    e->delivered[e->ndelivered++] = c;
}

static inline void origin_done(call_t *c)
{
    endpoint_t *e = rpc_origin_udata(c);
    e->homed[e->nhomed++] = c;
}

static inline void test_done(call_t *c)
{
    done_calls[ndone++] = c;
}

static inline void ep_init(endpoint_t *e, const char *id, const char *addr, size_t pending_max)
{
    memset(e, 0, sizeof *e);
    e->id = id;
    e->addr = addr;
    rpc_config_t cfg = {.shards = SHARDS, .pending_max = pending_max, .corr_seed = 1000,
                        .send = fake_send, .deliver = fake_deliver, .origin_done = origin_done,
                        .udata = e};
    ck_assert_int_eq(rpc_new(&e->rpc, &cfg), 0);
}

/* Send every completed origin call home (rpc_reply frees it). */
static inline void ep_reply_all(endpoint_t *e)
{
    for (int i = 0; i < e->nhomed; i++)
        rpc_reply(e->rpc, e->homed[i]);
    e->nhomed = 0;
}

static inline void ep_fini(endpoint_t *e)
{
    for (int i = 0; i < e->ndelivered; i++)
        call_complete(e->delivered[i], SH_ECLOSED, NULL, 0, NULL);
    e->ndelivered = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 64; i++)
            free(e->out[i].p);
        memset(e->out, 0, sizeof e->out);
        e->nout = 0;
        if (pass == 0) {
            ep_reply_all(e);
            rpc_free(e->rpc);
        }
    }
}

/* Deliver the i-th frame `from` sent to `to`, as the adapter would. */
static inline void ep_carry(endpoint_t *from, int i, endpoint_t *to, uint64_t now_mono,
                            uint64_t now_wall)
{
    frame_t *f = &from->out[i];
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.kind = f->kind;
    h.corr_id = f->corr;
    h.deadline_ms = f->deadline;
    snprintf(h.src_id, sizeof h.src_id, "%s", from->id);
    snprintf(h.src_addr, sizeof h.src_addr, "%s", from->addr);
    rpc_on_frame(to->rpc, &h, f->p, f->len, now_mono, now_wall);
}

static inline void setup(void)
{
    ep_init(&ep_a, "a", "a:1", 0);
    ep_init(&ep_b, "b", "b:1", 0);
    ndone = 0;
}

static inline void teardown(void)
{
    ep_fini(&ep_a);
    ep_fini(&ep_b);
    for (int i = 0; i < ndone; i++)
        call_free(done_calls[i]);
}

static inline call_t *forwarded(uint64_t deadline, uint64_t now_mono, uint64_t now_wall)
{
    call_t *c = mkcall(CALL_ASK, "{\"itemId\":\"a\"}", deadline);
    c->on_done = test_done;
    c->hops = 1;
    ck_assert_int_eq(rpc_forward(ep_a.rpc, c, ep_b.addr, now_mono, now_wall), 0);
    return c;
}

#endif /* RPC_FIXTURE_H */
