/*
 * rpc_codec.c - msgpack payloads of RPC frames; see rpc.h.
 *
 * Design notes.  A payload is one msgpack fixmap whose keys are the full
 * field names, in a fixed order:
 *
 *   request  0x86  "type" str  "id" str  "method" str  "body" bin
 *                  "kind" uint "hops" uint
 *            0x87  the same six, then "idem" str (the idempotency key,
 *                  1..CALL_IDEM_MAX-1 bytes)
 *   reply    0x83  "status" int  "errmsg" str  "reply" bin
 *
 * The idempotency key is optional: a call without one is written as the
 * six-field map, byte for byte what nodes wrote before the key existed,
 * and a call with one as the seven-field map.  An empty key is not
 * written (0x87 with an empty "idem" is malformed), so each call still
 * has exactly one encoding.
 *
 * As in transport/wire.c, the fixed order lets the decoder be a small
 * hand-written reader instead of msgpack-c's generic unpacker: every
 * length is checked against the bytes left and against its field's bound
 * before it is used, nothing is allocated (strings are copied into the
 * caller's fixed arrays, bins are borrowed), there is no recursion, and
 * an attacker-controlled array of a million elements is just malformed
 * rather than a million allocated objects.  Anything else - another key,
 * another order, a wider type, a NUL inside a string, trailing bytes - is
 * SH_EMALFORMED.  The encoder writes the shortest msgpack forms; the
 * decoder accepts any width whose value fits.
 *
 * What it does not do: no versioning inside the payload (the frame header
 * carries the protocol version), no compression (the wire does lz4).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "sh_err.h"

#define RPC_MAP_REQ 0x86
#define RPC_MAP_REQ_IDEM 0x87 /* RPC_MAP_REQ plus "idem" */
#define RPC_MAP_REP 0x83
#define RPC_STATUS_MIN (-9099)

/* ---- writer ---------------------------------------------------------- */

typedef struct rpc_wr {
    uint8_t *p;
    size_t off;
} rpc_wr_t;

static void wr_be(rpc_wr_t *w, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static size_t len_hdr_size(size_t n, bool is_str)
{
    if (is_str && n < 32)
        return 1;
    return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

static void wr_len(rpc_wr_t *w, size_t n, bool is_str)
{
    if (is_str && n < 32) {
        w->p[w->off++] = (uint8_t)(0xa0 | n);
    } else if (n <= 0xff) {
        w->p[w->off++] = is_str ? 0xd9 : 0xc4;
        wr_be(w, n, 1);
    } else if (n <= 0xffff) {
        w->p[w->off++] = is_str ? 0xda : 0xc5;
        wr_be(w, n, 2);
    } else {
        w->p[w->off++] = is_str ? 0xdb : 0xc6;
        wr_be(w, n, 4);
    }
}

static void wr_bytes(rpc_wr_t *w, const void *p, size_t n, bool is_str)
{
    wr_len(w, n, is_str);
    if (n)
        memcpy(w->p + w->off, p, n);
    w->off += n;
}

static void wr_str(rpc_wr_t *w, const char *s)
{
    wr_bytes(w, s, strlen(s), true);
}

/* A small non-negative integer (kind, hops): positive fixint or uint8. */
static void wr_small(rpc_wr_t *w, uint8_t v)
{
    if (v >= 0x80)
        w->p[w->off++] = 0xcc;
    w->p[w->off++] = v;
}

/* A status, 0 or negative (>= RPC_STATUS_MIN): fixint or int16. */
static void wr_status(rpc_wr_t *w, int v)
{
    if (v >= -32) {
        w->p[w->off++] = (uint8_t)(int8_t)v;
        return;
    }
    w->p[w->off++] = 0xd1;
    wr_be(w, (uint16_t)(int16_t)v, 2);
}

static size_t str_size(size_t n)
{
    return len_hdr_size(n, true) + n;
}

/* ---- reader ---------------------------------------------------------- */

typedef struct rpc_rd {
    const uint8_t *p;
    size_t len, off;
} rpc_rd_t;

static size_t rd_left(const rpc_rd_t *r)
{
    return r->len - r->off;
}

static int rd_be(rpc_rd_t *r, int bytes, uint64_t *v)
{
    if (rd_left(r) < (size_t)bytes)
        return SH_EMALFORMED;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v = (*v << 8) | r->p[r->off++];
    return 0;
}

/* A str or bin header; *n is the payload length, checked against what is left. */
static int rd_len(rpc_rd_t *r, bool is_str, size_t *n)
{
    if (rd_left(r) < 1)
        return SH_EMALFORMED;
    uint8_t t = r->p[r->off++];
    uint64_t v;
    int rc = 0;
    if (is_str && (t & 0xe0) == 0xa0)
        v = t & 0x1f;
    else if (t == (is_str ? 0xd9 : 0xc4))
        rc = rd_be(r, 1, &v);
    else if (t == (is_str ? 0xda : 0xc5))
        rc = rd_be(r, 2, &v);
    else if (t == (is_str ? 0xdb : 0xc6))
        rc = rd_be(r, 4, &v);
    else
        return SH_EMALFORMED;
    if (rc != 0 || v > rd_left(r))
        return SH_EMALFORMED;
    *n = (size_t)v;
    return 0;
}

/* The key `k`, exactly. */
static int rd_key(rpc_rd_t *r, const char *k)
{
    size_t n, kl = strlen(k);
    if (rd_len(r, true, &n) != 0 || n != kl || memcmp(r->p + r->off, k, kl) != 0)
        return SH_EMALFORMED;
    r->off += n;
    return 0;
}

/* A str of min..cap-1 bytes without NUL, copied into dst (cap bytes). */
static int rd_str(rpc_rd_t *r, const char *k, char *dst, size_t cap, size_t min)
{
    size_t n;
    if (rd_key(r, k) != 0 || rd_len(r, true, &n) != 0 || n < min || n >= cap ||
        memchr(r->p + r->off, '\0', n))
        return SH_EMALFORMED;
    memcpy(dst, r->p + r->off, n);
    dst[n] = '\0';
    r->off += n;
    return 0;
}

/* A bin of at most CALL_BODY_MAX bytes, borrowed. */
static int rd_bin(rpc_rd_t *r, const char *k, const uint8_t **p, size_t *n)
{
    if (rd_key(r, k) != 0 || rd_len(r, false, n) != 0)
        return SH_EMALFORMED;
    if (*n > CALL_BODY_MAX)
        return SH_ETOO_BIG;
    *p = *n ? r->p + r->off : NULL;
    r->off += *n;
    return 0;
}

/* An unsigned integer in any msgpack uint form, <= max. */
static int rd_uint(rpc_rd_t *r, const char *k, uint64_t max, uint64_t *v)
{
    if (rd_key(r, k) != 0 || rd_left(r) < 1)
        return SH_EMALFORMED;
    uint8_t t = r->p[r->off++];
    int rc = 0;
    if (t <= 0x7f)
        *v = t;
    else if (t >= 0xcc && t <= 0xcf)
        rc = rd_be(r, 1 << (t - 0xcc), v);
    else
        return SH_EMALFORMED;
    return (rc != 0 || *v > max) ? SH_EMALFORMED : 0;
}

/* A signed integer (fixint, int8..int32, or uint8..uint32), in lo..hi. */
static int rd_int(rpc_rd_t *r, const char *k, int64_t lo, int64_t hi, int64_t *v)
{
    if (rd_key(r, k) != 0 || rd_left(r) < 1)
        return SH_EMALFORMED;
    uint8_t t = r->p[r->off++];
    uint64_t u = 0;
    int rc = 0;
    if (t <= 0x7f || t >= 0xe0) {
        *v = (int8_t)t;
    } else if (t >= 0xd0 && t <= 0xd2) { /* int8, int16, int32 */
        int bytes = 1 << (t - 0xd0);
        rc = rd_be(r, bytes, &u);
        *v = bytes == 1 ? (int8_t)u : bytes == 2 ? (int16_t)u : (int32_t)u;
    } else if (t >= 0xcc && t <= 0xce) { /* uint8, uint16, uint32 */
        rc = rd_be(r, 1 << (t - 0xcc), &u);
        *v = (int64_t)u;
    } else {
        return SH_EMALFORMED;
    }
    return (rc != 0 || *v < lo || *v > hi) ? SH_EMALFORMED : 0;
}

static int rd_map(rpc_rd_t *r, uint8_t map)
{
    if (rd_left(r) < 1 || r->p[r->off] != map)
        return SH_EMALFORMED;
    r->off++;
    return 0;
}

/* ---- request --------------------------------------------------------- */

int rpc_req_encode(const call_t *c, uint8_t hops, uint8_t **out, size_t *len)
{
    size_t tl = strnlen(c->type, sizeof c->type), il = strnlen(c->id, sizeof c->id);
    size_t ml = strnlen(c->method, sizeof c->method);
    size_t kl = strnlen(c->idem_key, sizeof c->idem_key);
    *out = NULL;
    *len = 0;
    if (tl == 0 || tl >= sizeof c->type || il == 0 || il >= sizeof c->id ||
        ml >= sizeof c->method || kl >= sizeof c->idem_key || (c->len && !c->body))
        return SH_EBAD_REQUEST;
    if (c->len > CALL_BODY_MAX)
        return SH_ETOO_BIG;
    size_t need = 1 + str_size(4) + str_size(tl) + str_size(2) + str_size(il) + str_size(6) +
                  str_size(ml) + str_size(4) + len_hdr_size(c->len, false) + c->len +
                  str_size(4) + 2 + str_size(4) + 2 + (kl ? str_size(4) + str_size(kl) : 0);
    rpc_wr_t w = {.p = malloc(need), .off = 0};
    if (!w.p)
        return -ENOMEM;
    w.p[w.off++] = kl ? RPC_MAP_REQ_IDEM : RPC_MAP_REQ;
    wr_str(&w, "type");
    wr_str(&w, c->type);
    wr_str(&w, "id");
    wr_str(&w, c->id);
    wr_str(&w, "method");
    wr_str(&w, c->method);
    wr_str(&w, "body");
    wr_bytes(&w, c->body, c->len, false);
    wr_str(&w, "kind");
    wr_small(&w, (uint8_t)c->kind);
    wr_str(&w, "hops");
    wr_small(&w, hops);
    if (kl) {
        wr_str(&w, "idem");
        wr_str(&w, c->idem_key);
    }
    *out = w.p;
    *len = w.off;
    return 0;
}

int rpc_req_decode(const uint8_t *p, size_t len, rpc_req_t *out)
{
    rpc_rd_t r = {.p = p, .len = p ? len : 0, .off = 0};
    uint64_t kind, hops;
    int rc;
    memset(out, 0, sizeof *out);
    bool idem = r.len > 0 && p[0] == RPC_MAP_REQ_IDEM;
    if ((rc = rd_map(&r, idem ? RPC_MAP_REQ_IDEM : RPC_MAP_REQ)) != 0 ||
        (rc = rd_str(&r, "type", out->type, sizeof out->type, 1)) != 0 ||
        (rc = rd_str(&r, "id", out->id, sizeof out->id, 1)) != 0 ||
        (rc = rd_str(&r, "method", out->method, sizeof out->method, 0)) != 0 ||
        (rc = rd_bin(&r, "body", &out->body, &out->len)) != 0 ||
        (rc = rd_uint(&r, "kind", RPC_CALL_KIND_MAX, &kind)) != 0 ||
        (rc = rd_uint(&r, "hops", UINT8_MAX, &hops)) != 0 ||
        (idem && (rc = rd_str(&r, "idem", out->idem_key, sizeof out->idem_key, 1)) != 0))
        return rc;
    if (kind < CALL_ASK || rd_left(&r) != 0)
        return SH_EMALFORMED;
    out->kind = (uint8_t)kind;
    out->hops = (uint8_t)hops;
    return 0;
}

/* ---- reply ----------------------------------------------------------- */

int rpc_rep_encode(int status, const char *errmsg, const uint8_t *reply, size_t rlen,
                   uint8_t **out, size_t *len)
{
    size_t el = errmsg ? strnlen(errmsg, CALL_MSG_MAX) : 0;
    *out = NULL;
    *len = 0;
    if (status > 0 || status < RPC_STATUS_MIN || el >= CALL_MSG_MAX || (rlen && !reply))
        return SH_EBAD_REQUEST;
    if (rlen > CALL_BODY_MAX)
        return SH_ETOO_BIG;
    size_t need = 1 + str_size(6) + 3 + str_size(6) + str_size(el) + str_size(5) +
                  len_hdr_size(rlen, false) + rlen;
    rpc_wr_t w = {.p = malloc(need), .off = 0};
    if (!w.p)
        return -ENOMEM;
    w.p[w.off++] = RPC_MAP_REP;
    wr_str(&w, "status");
    wr_status(&w, status);
    wr_str(&w, "errmsg");
    wr_bytes(&w, errmsg ? errmsg : "", el, true);
    wr_str(&w, "reply");
    wr_bytes(&w, reply, rlen, false);
    *out = w.p;
    *len = w.off;
    return 0;
}

int rpc_rep_decode(const uint8_t *p, size_t len, rpc_rep_t *out)
{
    rpc_rd_t r = {.p = p, .len = p ? len : 0, .off = 0};
    int64_t status;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = rd_map(&r, RPC_MAP_REP)) != 0 ||
        (rc = rd_int(&r, "status", RPC_STATUS_MIN, 0, &status)) != 0 ||
        (rc = rd_str(&r, "errmsg", out->errmsg, sizeof out->errmsg, 0)) != 0 ||
        (rc = rd_bin(&r, "reply", &out->reply, &out->len)) != 0)
        return rc;
    if (rd_left(&r) != 0)
        return SH_EMALFORMED;
    out->status = (int)status;
    return 0;
}
