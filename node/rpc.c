/*
 * rpc.c - forwarded calls: the pending table, deadlines, and both ends of
 * the request/reply exchange; see rpc.h.
 *
 * Design notes.
 *
 * Pending table.  A forwarded call waits in a fixed table of pending_max
 * slots (a power of two), indexed by corr_id & (pending_max - 1).
 * Correlation ids are handed out in sequence from a random start, so
 * consecutive calls land in consecutive slots and a lookup is one probe
 * plus an exact corr_id compare; a slot still held by a slow call is
 * skipped by taking the next id (at most RPC_PROBE_MAX tries, then
 * SH_EBUSY: the table is effectively full).  The table is allocated once:
 * memory does not grow with load.
 *
 * Deadlines.  Pending slots are also kept in a binary min-heap by deadline
 * (each slot remembers its heap position), so a reply removes its slot in
 * O(log n) and rpc_sweep pops only what expired.  The node re-arms one
 * timer to rpc_next_deadline().  A reply that arrives after its call
 * timed out finds no slot (or a slot reused under another corr_id) and is
 * counted late and dropped.  A reply must also come from the address the
 * request went to (checked through a hash kept in the slot), so a stray or
 * forged-but-authenticated frame from a third node cannot complete it.
 *
 * Incoming requests become ordinary calls (call_new) whose on_done is the
 * node's origin_done; the reply address and corr id travel in a small
 * rpc_origin_t hung on done_arg until rpc_reply sends the outcome back.
 *
 * What it does not do: no retries (a caller sees `unavailable` or
 * `timeout` and may retry), no flow control beyond the transport's
 * per-peer queue bound.  A call's idempotency key only travels here (the
 * payload's "idem" field, copied into the call on arrival and encoded
 * again when forwarded); honouring it is the owner's business.
 */
#include "rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"

typedef struct rpc_slot {
    call_t *c;         /* NULL when free */
    uint64_t corr;
    uint64_t deadline; /* monotonic ms */
    uint64_t to_hash;  /* hash of the address the request went to */
    uint32_t heap_pos;
} rpc_slot_t;

/* What an incoming request's call carries home. */
typedef struct rpc_origin {
    void *udata; /* rpc_config_t.udata, for origin_done */
    uint64_t corr;
    char addr[WIRE_ADDR_MAX];
} rpc_origin_t;

struct rpc {
    rpc_config_t cfg;
    size_t mask;
    rpc_slot_t *slots;
    uint32_t *heap; /* slot indices, min-heap by deadline */
    size_t nheap;
    uint64_t next_corr;
    rpc_stats_t st;
};

/* FNV-1a: only to tell addresses apart, not security (frames are MACed). */
static uint64_t rpc_addr_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---- deadline heap ----------------------------------------------------- */

static bool heap_less(const rpc_t *r, size_t a, size_t b)
{
    return r->slots[r->heap[a]].deadline < r->slots[r->heap[b]].deadline;
}

static void heap_swap(rpc_t *r, size_t a, size_t b)
{
    uint32_t t = r->heap[a];
    r->heap[a] = r->heap[b];
    r->heap[b] = t;
    r->slots[r->heap[a]].heap_pos = (uint32_t)a;
    r->slots[r->heap[b]].heap_pos = (uint32_t)b;
}

static void heap_up(rpc_t *r, size_t i)
{
    while (i > 0 && heap_less(r, i, (i - 1) / 2)) {
        heap_swap(r, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(rpc_t *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->nheap && heap_less(r, l, m))
            m = l;
        if (l + 1 < r->nheap && heap_less(r, l + 1, m))
            m = l + 1;
        if (m == i)
            return;
        heap_swap(r, i, m);
        i = m;
    }
}

static void heap_remove(rpc_t *r, size_t pos)
{
    SH_ASSERT(pos < r->nheap);
    r->nheap--;
    if (pos == r->nheap)
        return;
    heap_swap(r, pos, r->nheap);
    heap_down(r, pos);
    heap_up(r, pos);
}

/* ---- pending slots ----------------------------------------------------- */

/* Claim a free slot for a new corr id; its index, or -1 if none was free
 * within RPC_PROBE_MAX ids. */
static long rpc_slot_claim(rpc_t *r, call_t *c, uint64_t to_hash)
{
    for (int i = 0; i < RPC_PROBE_MAX; i++) {
        uint64_t corr = r->next_corr++;
        if (corr == 0) /* 0 means "no correlation" on the wire */
            corr = r->next_corr++;
        size_t idx = (size_t)(corr & r->mask);
        rpc_slot_t *s = &r->slots[idx];
        if (s->c)
            continue;
        *s = (rpc_slot_t){.c = c, .corr = corr, .deadline = c->deadline_ms,
                          .to_hash = to_hash, .heap_pos = (uint32_t)r->nheap};
        r->heap[r->nheap++] = (uint32_t)idx;
        heap_up(r, r->nheap - 1);
        r->st.pending++;
        return (long)idx;
    }
    return -1;
}

/* Take the call out of slot idx; the slot is free afterwards. */
static call_t *rpc_slot_release(rpc_t *r, size_t idx)
{
    rpc_slot_t *s = &r->slots[idx];
    call_t *c = s->c;
    heap_remove(r, s->heap_pos);
    s->c = NULL;
    r->st.pending--;
    return c;
}

/* ---- lifecycle --------------------------------------------------------- */

int rpc_new(rpc_t **out, const rpc_config_t *cfg)
{
    *out = NULL;
    size_t cap = cfg->pending_max ? cfg->pending_max : RPC_PENDING_MAX;
    if ((cap & (cap - 1)) != 0 || cap > (1u << 24) || !cfg->send || !cfg->deliver ||
        !cfg->origin_done || cfg->shards == 0)
        return SH_EBAD_REQUEST;
    rpc_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->slots = calloc(cap, sizeof *r->slots);
    r->heap = calloc(cap, sizeof *r->heap);
    if (!r->slots || !r->heap) {
        free(r->slots);
        free(r->heap);
        free(r);
        return -ENOMEM;
    }
    r->cfg = *cfg;
    r->cfg.pending_max = cap;
    r->mask = cap - 1;
    r->next_corr = cfg->corr_seed ? cfg->corr_seed : 1;
    *out = r;
    return 0;
}

void rpc_free(rpc_t *r)
{
    if (!r)
        return;
    rpc_fail_all(r, SH_ECLOSED, "node is shutting down");
    free(r->slots);
    free(r->heap);
    free(r);
}

/* ---- sending side ------------------------------------------------------ */

int rpc_forward(rpc_t *r, call_t *c, const char *to, uint64_t now_mono, uint64_t now_wall)
{
    if (c->deadline_ms <= now_mono)
        return SH_ETIMEOUT;
    uint8_t *p;
    size_t len;
    int rc = rpc_req_encode(c, (uint8_t)(c->hops + 1), &p, &len);
    if (rc != 0)
        return rc;
    long idx = rpc_slot_claim(r, c, rpc_addr_hash(to));
    if (idx < 0) {
        free(p);
        return SH_EBUSY;
    }
    uint64_t wall_deadline = now_wall + (c->deadline_ms - now_mono);
    rc = r->cfg.send(r->cfg.udata, WIRE_KIND_RPC_REQ, to, r->slots[idx].corr, wall_deadline,
                     p, len);
    free(p);
    if (rc != 0) {
        rpc_slot_release(r, (size_t)idx);
        r->st.send_failed++;
        return (rc == SH_ETOO_BIG || rc == -ENOMEM) ? rc : SH_EUNAVAILABLE;
    }
    r->st.forwards++;
    return 0;
}

static void rpc_on_reply(rpc_t *r, const wire_hdr_t *h, const uint8_t *p, size_t len)
{
    size_t idx = (size_t)(h->corr_id & r->mask);
    rpc_slot_t *s = &r->slots[idx];
    if (h->corr_id == 0 || !s->c || s->corr != h->corr_id ||
        s->to_hash != rpc_addr_hash(h->src_addr)) {
        r->st.late_replies++;
        return;
    }
    rpc_rep_t rep;
    int rc = rpc_rep_decode(p, len, &rep);
    call_t *c = rpc_slot_release(r, idx);
    r->st.replies_in++;
    if (rc != 0) {
        r->st.bad_frames++;
        call_complete(c, SH_EINTERNAL, NULL, 0, "malformed reply from the owner");
        return;
    }
    call_complete(c, rep.status, rep.reply, rep.len, rep.errmsg[0] ? rep.errmsg : NULL);
}

uint64_t rpc_next_deadline(const rpc_t *r)
{
    return r->nheap ? r->slots[r->heap[0]].deadline : UINT64_MAX;
}

uint64_t rpc_sweep(rpc_t *r, uint64_t now_mono)
{
    while (r->nheap && r->slots[r->heap[0]].deadline <= now_mono) {
        call_t *c = rpc_slot_release(r, r->heap[0]);
        r->st.timeouts++;
        call_complete(c, SH_ETIMEOUT, NULL, 0, "no reply from the owner within the deadline");
    }
    return rpc_next_deadline(r);
}

void rpc_fail_all(rpc_t *r, int code, const char *msg)
{
    while (r->nheap) {
        call_t *c = rpc_slot_release(r, r->heap[0]);
        call_complete(c, code, NULL, 0, msg);
    }
}

/* ---- receiving side ---------------------------------------------------- */

/* Answer a request that never became a call. */
static void rpc_reply_error(rpc_t *r, const wire_hdr_t *h, int status, const char *msg)
{
    uint8_t *p;
    size_t len;
    if (h->corr_id == 0 || !h->src_addr[0] || rpc_rep_encode(status, msg, NULL, 0, &p, &len) != 0)
        return;
    if (r->cfg.send(r->cfg.udata, WIRE_KIND_RPC_REP, h->src_addr, h->corr_id, 0, p, len) != 0)
        r->st.send_failed++;
    free(p);
}

/* Remaining time of a request, from its wall-clock deadline. */
static uint64_t rpc_remaining(const wire_hdr_t *h, uint64_t now_wall)
{
    if (h->deadline_ms == 0)
        return CALL_DEFAULT_TIMEOUT_MS;
    if (h->deadline_ms <= now_wall)
        return 0;
    uint64_t left = h->deadline_ms - now_wall;
    return left > RPC_DEADLINE_MAX_MS ? RPC_DEADLINE_MAX_MS : left;
}

static void rpc_on_request(rpc_t *r, const wire_hdr_t *h, const uint8_t *p, size_t len,
                           uint64_t now_mono, uint64_t now_wall)
{
    rpc_req_t q;
    r->st.requests_in++;
    int rc = rpc_req_decode(p, len, &q);
    if (rc != 0) {
        r->st.bad_frames++;
        rpc_reply_error(r, h, rc == SH_ETOO_BIG ? SH_ETOO_BIG : SH_EBAD_REQUEST,
                        "malformed forwarded call");
        return;
    }
    uint64_t left = rpc_remaining(h, now_wall);
    if (left == 0) {
        rpc_reply_error(r, h, SH_ETIMEOUT, "deadline expired before the owner got the call");
        return;
    }
    rpc_origin_t *o = calloc(1, sizeof *o);
    call_t *c = NULL;
    rc = o ? call_new(&c, (enum call_kind)q.kind, q.type, q.id, q.method, q.body, q.len,
                      now_mono + left, r->cfg.shards)
           : -ENOMEM;
    if (rc != 0) {
        free(o);
        rpc_reply_error(r, h, rc, "cannot accept the forwarded call");
        return;
    }
    o->udata = r->cfg.udata;
    o->corr = h->corr_id;
    snprintf(o->addr, sizeof o->addr, "%s", h->src_addr);
    c->hops = q.hops;
    memcpy(c->idem_key, q.idem_key, sizeof c->idem_key); /* both CALL_IDEM_MAX, terminated */
    c->corr = h->corr_id;
    c->on_done = r->cfg.origin_done;
    c->done_arg = o;
    r->cfg.deliver(r->cfg.udata, c, h->src_id);
}

void rpc_on_frame(rpc_t *r, const wire_hdr_t *h, const uint8_t *payload, size_t len,
                  uint64_t now_mono, uint64_t now_wall)
{
    if (h->kind == WIRE_KIND_RPC_REQ)
        rpc_on_request(r, h, payload, len, now_mono, now_wall);
    else if (h->kind == WIRE_KIND_RPC_REP)
        rpc_on_reply(r, h, payload, len);
    else
        r->st.bad_frames++;
}

bool rpc_is_origin(const rpc_t *r, const call_t *c)
{
    return c->on_done == r->cfg.origin_done;
}

void *rpc_origin_udata(const call_t *c)
{
    return ((const rpc_origin_t *)c->done_arg)->udata;
}

void rpc_reply(rpc_t *r, call_t *c)
{
    rpc_origin_t *o = c->done_arg;
    int status = c->status;
    if (status > 0 || status < -9099) /* not representable: an OS or foreign code */
        status = SH_EINTERNAL;
    uint8_t *p;
    size_t len;
    int rc = rpc_rep_encode(status, c->errmsg, c->reply, c->reply_len, &p, &len);
    if (rc != 0) /* e.g. a reply over the limit: the caller still hears why */
        rc = rpc_rep_encode(rc == SH_ETOO_BIG ? SH_ETOO_BIG : SH_EINTERNAL,
                            "reply could not be encoded", NULL, 0, &p, &len);
    if (rc == 0) {
        if (r->cfg.send(r->cfg.udata, WIRE_KIND_RPC_REP, o->addr, o->corr, 0, p, len) != 0)
            r->st.send_failed++;
        free(p);
    }
    free(o);
    c->done_arg = NULL;
    call_free(c);
}

void rpc_stats_get(const rpc_t *r, rpc_stats_t *out)
{
    *out = r->st;
}
