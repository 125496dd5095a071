/*
 * swim_codec.c - SWIM payloads as strict, bounded msgpack.
 *
 * Design notes.
 *
 * Layout.  A payload is one msgpack map with one-letter string keys (the
 * encoder writes them in this order; the decoder accepts any order):
 *
 *   "t"  uint   message type (swim_codec.h): 1 PING, 2 ACK, 3 PING_REQ,
 *               4 NACK, 5 SYNC, 6 SYNC_ACK, 7 GOSSIP            (always)
 *   "s"  uint   sequence number, 0..2^32-1                       (always)
 *   "i"  str    sender id                                        (always)
 *   "a"  str    sender advertised address "host:port"            (always)
 *   "ti" str    target id                             (PING, PING_REQ only)
 *   "ta" str    target address                               (PING_REQ only)
 *   "j"  bool   join flag                                        (SYNC only)
 *   "m"  array  full state, one update per member      (SYNC, SYNC_ACK only)
 *   "g"  array  piggybacked updates                     (optional, any type)
 *
 * An update is a msgpack array [id, addr, state, incarnation] or, for a
 * SUSPECT update, [id, addr, state, incarnation, by] where `by` is the
 * accuser.  state is 0 alive, 1 suspect, 2 dead, 3 left.  Ids and addresses
 * are 1..63 bytes with no NUL (SWIM_ID_MAX / SWIM_ADDR_MAX incl. NUL).
 *
 * A typical PING with no gossip is ~30 bytes plus the ids; an update is
 * 7 + |id| + |addr| (+ 1 + |by|) bytes, so ~20 updates of 20-byte ids fit
 * into the default 1 KiB gossip budget.
 *
 * Strictness.  Keys a type does not allow, duplicate keys, unknown keys,
 * missing required keys, wrong msgpack types (a negative int, a float, a
 * bin where a str is expected), out-of-range integers, empty or over-long
 * strings, a `by` on a non-suspect update, truncation and trailing bytes
 * are all SH_EMALFORMED.  Integers may use any unsigned msgpack width
 * (positive fixint, uint8..uint64): other encoders pick the shortest one,
 * but nothing forces them to.
 *
 * Bounds.  The reader never allocates on a count before checking that the
 * remaining bytes could hold that many minimal elements, and the decoded
 * message borrows its strings from the input, so a hostile 1 MiB payload
 * costs at most ~6 MiB of update views, never a 32-bit count times a
 * struct.  Nesting depth is fixed by the layout (map -> array -> array),
 * so no recursion and no depth counter are needed.
 *
 * Deliberately not here: the frame header, authentication and compression
 * (transport/wire.c), and any protocol decision (swim.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "swim_codec.h"

/* ---- writer ---------------------------------------------------------- */

typedef struct swim_wbuf {
    uint8_t *p;
    size_t len, cap, max;
    int err; /* sticky: the first failure wins */
} swim_wbuf_t;

static void wb_put(swim_wbuf_t *w, const void *src, size_t n)
{
    if (w->err)
        return;
    if (w->len + n > w->max) {
        w->err = SH_ETOO_BIG;
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        if (cap > w->max)
            cap = w->max;
        uint8_t *np = realloc(w->p, cap);
        if (!np) {
            w->err = -ENOMEM;
            return;
        }
        w->p = np;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void wb_be(swim_wbuf_t *w, uint8_t tag, uint64_t v, int bytes)
{
    uint8_t b[9];
    b[0] = tag;
    for (int i = 0; i < bytes; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    wb_put(w, b, (size_t)bytes + 1);
}

static void wb_uint(swim_wbuf_t *w, uint64_t v)
{
    if (v < 128) {
        uint8_t b = (uint8_t)v;
        wb_put(w, &b, 1);
    } else if (v <= 0xff) {
        wb_be(w, 0xcc, v, 1);
    } else if (v <= 0xffff) {
        wb_be(w, 0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
        wb_be(w, 0xce, v, 4);
    } else {
        wb_be(w, 0xcf, v, 8);
    }
}

static void wb_str(swim_wbuf_t *w, const char *s, size_t n)
{
    if (n < 32) {
        uint8_t b = (uint8_t)(0xa0 | n);
        wb_put(w, &b, 1);
    } else if (n <= 0xff) {
        wb_be(w, 0xd9, n, 1);
    } else {
        wb_be(w, 0xda, n, 2); /* strings are < 64 bytes: never str32 */
    }
    wb_put(w, s, n);
}

static void wb_array(swim_wbuf_t *w, size_t n)
{
    if (n < 16) {
        uint8_t b = (uint8_t)(0x90 | n);
        wb_put(w, &b, 1);
    } else if (n <= 0xffff) {
        wb_be(w, 0xdc, n, 2);
    } else {
        wb_be(w, 0xdd, n, 4);
    }
}

static void wb_map(swim_wbuf_t *w, size_t n)
{
    uint8_t b = (uint8_t)(0x80 | n); /* at most 9 keys: always a fixmap */
    wb_put(w, &b, 1);
}

static void wb_key(swim_wbuf_t *w, const char *k)
{
    wb_str(w, k, strlen(k));
}

/* ---- reader ---------------------------------------------------------- */

typedef struct swim_rbuf {
    const uint8_t *p;
    size_t len, off;
} swim_rbuf_t;

static int rb_be(swim_rbuf_t *r, int bytes, uint64_t *v)
{
    if (r->len - r->off < (size_t)bytes)
        return SH_EMALFORMED;
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++)
        x = (x << 8) | r->p[r->off + (size_t)i];
    r->off += (size_t)bytes;
    *v = x;
    return 0;
}

static int rb_byte(swim_rbuf_t *r, uint8_t *b)
{
    if (r->off >= r->len)
        return SH_EMALFORMED;
    *b = r->p[r->off++];
    return 0;
}

static int rb_uint(swim_rbuf_t *r, uint64_t max, uint64_t *v)
{
    uint8_t b;
    int rc = rb_byte(r, &b);
    if (rc)
        return rc;
    if (b < 0x80) {
        *v = b;
    } else if (b >= 0xcc && b <= 0xcf) {
        rc = rb_be(r, 1 << (b - 0xcc), v);
        if (rc)
            return rc;
    } else {
        return SH_EMALFORMED;
    }
    return *v > max ? SH_EMALFORMED : 0;
}

static int rb_bool(swim_rbuf_t *r, bool *v)
{
    uint8_t b;
    int rc = rb_byte(r, &b);
    if (rc)
        return rc;
    if (b != 0xc2 && b != 0xc3)
        return SH_EMALFORMED;
    *v = b == 0xc3;
    return 0;
}

/* Any str of at most max_len bytes; the view points into the input. */
static int rb_str(swim_rbuf_t *r, size_t max_len, swim_str_t *s)
{
    uint8_t b;
    uint64_t n;
    int rc = rb_byte(r, &b);
    if (rc)
        return rc;
    if ((b & 0xe0) == 0xa0)
        n = b & 0x1f;
    else if (b >= 0xd9 && b <= 0xdb)
        rc = rb_be(r, 1 << (b - 0xd9), &n);
    else
        return SH_EMALFORMED;
    if (rc)
        return rc;
    if (n > max_len || n > r->len - r->off)
        return SH_EMALFORMED;
    s->p = (const char *)r->p + r->off;
    s->len = (uint32_t)n;
    r->off += (size_t)n;
    return 0;
}

static int rb_array(swim_rbuf_t *r, uint64_t *n)
{
    uint8_t b;
    int rc = rb_byte(r, &b);
    if (rc)
        return rc;
    if ((b & 0xf0) == 0x90) {
        *n = b & 0x0f;
        return 0;
    }
    if (b == 0xdc || b == 0xdd)
        return rb_be(r, b == 0xdc ? 2 : 4, n);
    return SH_EMALFORMED;
}

static int rb_map(swim_rbuf_t *r, uint64_t *n)
{
    uint8_t b;
    int rc = rb_byte(r, &b);
    if (rc)
        return rc;
    if ((b & 0xf0) == 0x80) {
        *n = b & 0x0f;
        return 0;
    }
    if (b == 0xde || b == 0xdf)
        return rb_be(r, b == 0xde ? 2 : 4, n);
    return SH_EMALFORMED;
}

/* ---- shared helpers -------------------------------------------------- */

swim_str_t swim_str_of(const char *s)
{
    swim_str_t v = {s ? s : "", s ? (uint32_t)strlen(s) : 0};
    return v;
}

bool swim_str_eq(swim_str_t a, swim_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* An id or address: 1..63 bytes, no NUL (we store them as C strings). */
static bool name_ok(swim_str_t s)
{
    return s.len >= 1 && s.len < SWIM_ID_MAX && s.p &&
           memchr(s.p, 0, s.len) == NULL;
}

static int rb_name(swim_rbuf_t *r, swim_str_t *s)
{
    int rc = rb_str(r, SWIM_ID_MAX - 1, s);
    if (rc)
        return rc;
    return name_ok(*s) ? 0 : SH_EMALFORMED;
}

static size_t str_size(size_t n)
{
    return (n < 32 ? 1 : n <= 0xff ? 2 : 3) + n;
}

static size_t uint_size(uint64_t v)
{
    return v < 128 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9;
}

size_t swim_update_size(const swim_update_t *u)
{
    size_t n = 1 + str_size(u->id.len) + str_size(u->addr.len) + 1 +
               uint_size(u->incarnation);
    if (u->by.len)
        n += str_size(u->by.len);
    return n;
}

/* ---- encode ---------------------------------------------------------- */

enum {
    K_T = 1 << 0, K_S = 1 << 1, K_I = 1 << 2, K_A = 1 << 3, K_TI = 1 << 4,
    K_TA = 1 << 5, K_J = 1 << 6, K_M = 1 << 7, K_G = 1 << 8,
};

/* Keys each type must carry ("g" is optional for all). */
static unsigned keys_required(uint8_t type)
{
    unsigned k = K_T | K_S | K_I | K_A;
    switch (type) {
    case SWIM_MSG_PING: return k | K_TI;
    case SWIM_MSG_PING_REQ: return k | K_TI | K_TA;
    case SWIM_MSG_SYNC: return k | K_J | K_M;
    case SWIM_MSG_SYNC_ACK: return k | K_M;
    default: return k;
    }
}

static bool update_ok(const swim_update_t *u)
{
    if (!name_ok(u->id) || !name_ok(u->addr) || u->state > SWIM_LEFT)
        return false;
    if (u->by.len && (u->state != SWIM_SUSPECT || !name_ok(u->by)))
        return false;
    return true;
}

static void wb_updates(swim_wbuf_t *w, const swim_update_t *u, size_t n)
{
    wb_array(w, n);
    for (size_t i = 0; i < n && !w->err; i++) {
        wb_array(w, u[i].by.len ? 5 : 4);
        wb_str(w, u[i].id.p, u[i].id.len);
        wb_str(w, u[i].addr.p, u[i].addr.len);
        wb_uint(w, u[i].state);
        wb_uint(w, u[i].incarnation);
        if (u[i].by.len)
            wb_str(w, u[i].by.p, u[i].by.len);
    }
}

static int msg_check(const swim_msg_t *m, unsigned keys)
{
    if (m->type < 1 || m->type > SWIM_MSG_TYPE_MAX_)
        return SH_EBAD_REQUEST;
    if (!name_ok(m->from_id) || !name_ok(m->from_addr))
        return SH_EBAD_REQUEST;
    if ((keys & K_TI) && !name_ok(m->target_id))
        return SH_EBAD_REQUEST;
    if ((keys & K_TA) && !name_ok(m->target_addr))
        return SH_EBAD_REQUEST;
    for (size_t i = 0; i < m->n_gossip; i++)
        if (!update_ok(&m->gossip[i]))
            return SH_EBAD_REQUEST;
    for (size_t i = 0; (keys & K_M) && i < m->n_members; i++)
        if (!update_ok(&m->members[i]))
            return SH_EBAD_REQUEST;
    return 0;
}

int swim_msg_encode(const swim_msg_t *m, size_t max_bytes, uint8_t **out,
                    size_t *out_len)
{
    unsigned keys = keys_required(m->type);
    int rc = msg_check(m, keys);
    if (rc)
        return rc;
    if (m->n_gossip)
        keys |= K_G;
    swim_wbuf_t w = {.max = max_bytes};
    wb_map(&w, (size_t)__builtin_popcount(keys));
    wb_key(&w, "t"), wb_uint(&w, m->type);
    wb_key(&w, "s"), wb_uint(&w, m->seq);
    wb_key(&w, "i"), wb_str(&w, m->from_id.p, m->from_id.len);
    wb_key(&w, "a"), wb_str(&w, m->from_addr.p, m->from_addr.len);
    if (keys & K_TI)
        wb_key(&w, "ti"), wb_str(&w, m->target_id.p, m->target_id.len);
    if (keys & K_TA)
        wb_key(&w, "ta"), wb_str(&w, m->target_addr.p, m->target_addr.len);
    if (keys & K_J) {
        uint8_t b = m->join ? 0xc3 : 0xc2;
        wb_key(&w, "j"), wb_put(&w, &b, 1);
    }
    if (keys & K_M)
        wb_key(&w, "m"), wb_updates(&w, m->members, m->n_members);
    if (keys & K_G)
        wb_key(&w, "g"), wb_updates(&w, m->gossip, m->n_gossip);
    if (w.err) {
        free(w.p);
        return w.err;
    }
    *out = w.p;
    *out_len = w.len;
    return 0;
}

/* ---- decode ---------------------------------------------------------- */

static int rb_update(swim_rbuf_t *r, swim_update_t *u)
{
    uint64_t n, v;
    int rc = rb_array(r, &n);
    if (rc)
        return rc;
    if (n != 4 && n != 5)
        return SH_EMALFORMED;
    if ((rc = rb_name(r, &u->id)) || (rc = rb_name(r, &u->addr)))
        return rc;
    if ((rc = rb_uint(r, SWIM_LEFT, &v)))
        return rc;
    u->state = (uint8_t)v;
    if ((rc = rb_uint(r, UINT32_MAX, &v)))
        return rc;
    u->incarnation = (uint32_t)v;
    u->by.p = NULL;
    u->by.len = 0;
    if (n == 5) {
        if (u->state != SWIM_SUSPECT)
            return SH_EMALFORMED;
        return rb_name(r, &u->by);
    }
    return 0;
}

/* An update array; the count is checked against the remaining bytes before
 * the views are allocated. */
static int rb_updates(swim_rbuf_t *r, const swim_update_t **out, size_t *n_out)
{
    uint64_t n;
    int rc = rb_array(r, &n);
    if (rc)
        return rc;
    if (n > (r->len - r->off) / SWIM_UPDATE_MIN_BYTES)
        return SH_EMALFORMED;
    swim_update_t *u = NULL;
    if (n) {
        u = calloc((size_t)n, sizeof(*u));
        if (!u)
            return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        rc = rb_update(r, &u[i]);
        if (rc) {
            free(u);
            return rc;
        }
    }
    *out = u;
    *n_out = (size_t)n;
    return 0;
}

static int key_bit(swim_str_t k)
{
    static const char *const names[] = {"t", "s", "i", "a", "ti", "ta", "j", "m", "g"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (swim_str_eq(k, swim_str_of(names[i])))
            return 1 << i;
    return 0;
}

static int rb_field(swim_rbuf_t *r, int bit, swim_msg_t *m)
{
    uint64_t v;
    int rc;
    switch (bit) {
    case K_T:
        rc = rb_uint(r, SWIM_MSG_TYPE_MAX_, &v);
        if (!rc && v < 1)
            rc = SH_EMALFORMED;
        m->type = (uint8_t)v;
        return rc;
    case K_S:
        rc = rb_uint(r, UINT32_MAX, &v);
        m->seq = (uint32_t)v;
        return rc;
    case K_I: return rb_name(r, &m->from_id);
    case K_A: return rb_name(r, &m->from_addr);
    case K_TI: return rb_name(r, &m->target_id);
    case K_TA: return rb_name(r, &m->target_addr);
    case K_J: return rb_bool(r, &m->join);
    case K_M: return rb_updates(r, &m->members, &m->n_members);
    case K_G: return rb_updates(r, &m->gossip, &m->n_gossip);
    default: return SH_EMALFORMED;
    }
}

static int rb_msg(swim_rbuf_t *r, swim_msg_t *m)
{
    uint64_t n;
    unsigned seen = 0;
    int rc = rb_map(r, &n);
    if (rc)
        return rc;
    if (n > 9)
        return SH_EMALFORMED;
    for (uint64_t i = 0; i < n; i++) {
        swim_str_t k;
        if ((rc = rb_str(r, 2, &k)))
            return rc;
        int bit = key_bit(k);
        if (!bit || (seen & (unsigned)bit))
            return SH_EMALFORMED;
        seen |= (unsigned)bit;
        if ((rc = rb_field(r, bit, m)))
            return rc;
    }
    if (!(seen & K_T))
        return SH_EMALFORMED;
    unsigned req = keys_required(m->type);
    if ((seen & req) != req || (seen & ~(req | K_G)))
        return SH_EMALFORMED;
    return r->off == r->len ? 0 : SH_EMALFORMED;
}

int swim_msg_decode(const uint8_t *p, size_t len, size_t max_bytes,
                    swim_msg_t *m)
{
    memset(m, 0, sizeof(*m));
    if (len > max_bytes)
        return SH_ETOO_BIG;
    swim_rbuf_t r = {.p = p, .len = len};
    int rc = rb_msg(&r, m);
    if (rc)
        swim_msg_fini(m);
    return rc;
}

void swim_msg_fini(swim_msg_t *m)
{
    free((void *)m->gossip);
    free((void *)m->members);
    memset(m, 0, sizeof(*m));
}
