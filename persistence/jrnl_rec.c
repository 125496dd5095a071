/*
 * jrnl_rec.c - LMDB keys and the record codec of the journal.
 *
 * Design notes.
 *
 * A record is one msgpack array whose length says its kind, so a value
 * read from the wrong database is rejected rather than misread:
 *
 *   EVENT 0x94  [wall_ms, raw_len, xxh32, bin]
 *   SNAP  0x95  [seq, wall_ms, raw_len, xxh32, bin]
 *   IDEM  0x96  [status int, msg str, wall_ms=expires, raw_len, xxh32, bin=reply]
 *   REM   0x98  [period_ms, reps int, ttl_wall_ms, data bin|nil,
 *                wall_ms=due, raw_len, xxh32, bin=spec]
 *
 * The kind's own fields come first and the common tail last, so one
 * reader handles the tail for every kind.  raw_len is 0 when the payload
 * is stored as is, else the payload is an lz4 block that inflates to
 * exactly raw_len bytes.  xxh32 is XXH32(raw payload, seed = XXH32(every
 * record byte before the xxh32 field, 0)): it covers the raw payload as
 * the journal contract asks, and also the small fields before it (a
 * flipped bit in a reminder's period or an idempotency status would
 * otherwise decode as a plausible wrong value).  Only the bin header is
 * outside it, and its length is pinned by "the array ends exactly at the
 * end of the value".
 *
 * As in wire.c the reader is hand-written instead of msgpack-c's generic
 * unpacker: every length is checked against the bytes left and against
 * JRNL_REC_RAW_MAX before it is used, nothing is allocated but the
 * inflation buffer (sized from a raw_len already bounded by 255 x the
 * compressed length, lz4's largest ratio), and there is no recursion.
 * Integers are accepted in any msgpack width; the encoder writes the
 * shortest.
 *
 * Keys are binary: shard (u32 BE) | type | 0x00 | id | 0x00, then a seq
 * (u64 BE) for events or a name for reminders and idempotency records, so
 * that memcmp order (LMDB's default) groups a shard, then an entity, then
 * its events in seq order.
 */
#include "jrnl_rec.h"

#include <lz4.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "sh_err.h"

#define JRNL_LZ4_RATIO_MAX 255u

static const uint8_t jrnl_rec_hdr[] = {
    [JRNL_REC_EVENT] = 0x94, [JRNL_REC_SNAP] = 0x95, [JRNL_REC_IDEM] = 0x96, [JRNL_REC_REM] = 0x98};

/* ---- buffers ----------------------------------------------------------- */

int jrnl_buf_reserve(jrnl_buf_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
        return SH_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

void jrnl_buf_fini(jrnl_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- keys -------------------------------------------------------------- */

uint64_t jrnl_be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

void jrnl_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

int jrnl_key_ent(jrnl_key_t *k, const jrnl_ent_t *e)
{
    if (e == NULL || e->type == NULL || e->type[0] == '\0' || e->id == NULL)
        return SH_EBAD_REQUEST;
    size_t tl = strlen(e->type), il = strlen(e->id);
    /* The entity key plus the longest suffix (a u64 seq) must fit. */
    if (tl > JRNL_KEY_MAX || il > JRNL_KEY_MAX || 4 + tl + 1 + il + 1 + 8 > JRNL_KEY_MAX)
        return SH_ETOO_BIG;
    k->b[0] = (uint8_t)(e->shard >> 24);
    k->b[1] = (uint8_t)(e->shard >> 16);
    k->b[2] = (uint8_t)(e->shard >> 8);
    k->b[3] = (uint8_t)e->shard;
    memcpy(k->b + 4, e->type, tl + 1);
    memcpy(k->b + 4 + tl + 1, e->id, il + 1);
    k->ent_len = k->len = 4 + tl + 1 + il + 1;
    return 0;
}

int jrnl_key_seq(jrnl_key_t *k, uint64_t seq)
{
    jrnl_be64_put(k->b + k->ent_len, seq); /* jrnl_key_ent left room for it */
    k->len = k->ent_len + 8;
    return 0;
}

int jrnl_key_name(jrnl_key_t *k, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return SH_EBAD_REQUEST;
    size_t n = strlen(s);
    if (n > JRNL_KEY_MAX - k->ent_len)
        return SH_ETOO_BIG;
    memcpy(k->b + k->ent_len, s, n);
    k->len = k->ent_len + n;
    return 0;
}

int jrnl_key_split(const uint8_t *p, size_t n, uint32_t *shard, const char **type,
                   const char **id, size_t *ent_len)
{
    if (n < 4 + 2 + 1)
        return SH_ECORRUPT;
    const uint8_t *t = p + 4;
    const uint8_t *z1 = memchr(t, 0, n - 4);
    if (z1 == NULL || z1 == t)
        return SH_ECORRUPT;
    const uint8_t *i = z1 + 1;
    const uint8_t *z2 = memchr(i, 0, (size_t)(p + n - i));
    if (z2 == NULL)
        return SH_ECORRUPT;
    *shard = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *type = (const char *)t;
    *id = (const char *)i;
    *ent_len = (size_t)(z2 + 1 - p);
    return 0;
}

int jrnl_ev_check(const uint8_t *ev, size_t len, uint32_t n)
{
    size_t off = 0;
    if (n > 0 && ev == NULL)
        return SH_EBAD_REQUEST;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t l;
        if (len - off < sizeof(l))
            return SH_EBAD_REQUEST;
        memcpy(&l, ev + off, sizeof(l));
        off += sizeof(l);
        if (len - off < l)
            return SH_EBAD_REQUEST;
        off += l;
    }
    return off == len ? 0 : SH_EBAD_REQUEST;
}

/* XXH32 that accepts (NULL, 0) for an empty payload. */
static uint32_t jrnl_xxh(const void *p, size_t n, uint32_t seed)
{
    return XXH32(p != NULL ? p : "", n, seed);
}

/* ---- msgpack writer (room reserved by the caller) ------------------------ */

typedef struct jrnl_wr {
    uint8_t *p;
    size_t off;
} jrnl_wr_t;

static void wr_be(jrnl_wr_t *w, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static void wr_uint(jrnl_wr_t *w, uint64_t v)
{
    if (v < 0x80) {
        w->p[w->off++] = (uint8_t)v;
    } else if (v <= UINT8_MAX) {
        w->p[w->off++] = 0xcc;
        wr_be(w, v, 1);
    } else if (v <= UINT16_MAX) {
        w->p[w->off++] = 0xcd;
        wr_be(w, v, 2);
    } else if (v <= UINT32_MAX) {
        w->p[w->off++] = 0xce;
        wr_be(w, v, 4);
    } else {
        w->p[w->off++] = 0xcf;
        wr_be(w, v, 8);
    }
}

static void wr_int(jrnl_wr_t *w, int64_t v)
{
    if (v >= 0) {
        wr_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        w->p[w->off++] = (uint8_t)(int8_t)v;
    } else if (v >= INT8_MIN) {
        w->p[w->off++] = 0xd0;
        wr_be(w, (uint8_t)(int8_t)v, 1);
    } else if (v >= INT16_MIN) {
        w->p[w->off++] = 0xd1;
        wr_be(w, (uint16_t)(int16_t)v, 2);
    } else if (v >= INT32_MIN) {
        w->p[w->off++] = 0xd2;
        wr_be(w, (uint32_t)(int32_t)v, 4);
    } else {
        w->p[w->off++] = 0xd3;
        wr_be(w, (uint64_t)v, 8);
    }
}

/* A str (fixstr/str8/16/32) or bin (bin8/16/32) with its bytes. */
static void wr_blob(jrnl_wr_t *w, const void *p, size_t n, bool is_str)
{
    if (is_str && n < 32) {
        w->p[w->off++] = (uint8_t)(0xa0 | n);
    } else if (n <= UINT8_MAX) {
        w->p[w->off++] = is_str ? 0xd9 : 0xc4;
        wr_be(w, n, 1);
    } else if (n <= UINT16_MAX) {
        w->p[w->off++] = is_str ? 0xda : 0xc5;
        wr_be(w, n, 2);
    } else {
        w->p[w->off++] = is_str ? 0xdb : 0xc6;
        wr_be(w, n, 4);
    }
    if (n > 0)
        memcpy(w->p + w->off, p, n);
    w->off += n;
}

/* ---- encoder ------------------------------------------------------------ */

static int jrnl_rec_check_fields(enum jrnl_rec_kind kind, const jrnl_rec_t *r)
{
    if (r->len > JRNL_REC_RAW_MAX || (r->len > 0 && r->data == NULL))
        return r->len > JRNL_REC_RAW_MAX ? SH_ETOO_BIG : SH_EBAD_REQUEST;
    if (kind == JRNL_REC_IDEM && (r->status > 0 || r->msg_len > JRNL_REC_MSG_MAX ||
                                  (r->msg_len > 0 && r->msg == NULL)))
        return SH_EBAD_REQUEST;
    if (kind == JRNL_REC_REM) {
        if (r->reps < -1 || (r->rdata_len > 0 && r->rdata == NULL))
            return SH_EBAD_REQUEST;
        if (r->rdata_len > JRNL_REC_RAW_MAX)
            return SH_ETOO_BIG;
    }
    return 0;
}

/* Compress into z when the payload is over lz4_min and lz4 actually saves
 * space; stored, slen and raw_len say what goes into the record. */
static int jrnl_rec_pack(const jrnl_rec_t *r, uint32_t lz4_min, jrnl_buf_t *z,
                         const uint8_t **stored, size_t *slen, uint64_t *raw_len)
{
    *stored = r->data;
    *slen = r->len;
    *raw_len = 0;
    if (r->len <= lz4_min)
        return 0;
    int bound = LZ4_compressBound((int)r->len);
    if (bound <= 0 || jrnl_buf_reserve(z, (size_t)bound) != 0)
        return bound <= 0 ? 0 : SH_ENOMEM;
    int c = LZ4_compress_default((const char *)r->data, (char *)z->p, (int)r->len, bound);
    if (c > 0 && (size_t)c < r->len) {
        *stored = z->p;
        *slen = (size_t)c;
        *raw_len = r->len;
    }
    return 0;
}

static void jrnl_rec_put_fields(jrnl_wr_t *w, enum jrnl_rec_kind kind, const jrnl_rec_t *r)
{
    w->p[w->off++] = jrnl_rec_hdr[kind];
    switch (kind) {
    case JRNL_REC_SNAP:
        wr_uint(w, r->seq);
        break;
    case JRNL_REC_IDEM:
        wr_int(w, r->status);
        wr_blob(w, r->msg, r->msg_len, true);
        break;
    case JRNL_REC_REM:
        wr_uint(w, r->period_ms);
        wr_int(w, r->reps);
        wr_uint(w, r->ttl_wall_ms);
        if (r->rdata == NULL)
            w->p[w->off++] = 0xc0; /* nil */
        else
            wr_blob(w, r->rdata, r->rdata_len, false);
        break;
    case JRNL_REC_EVENT:
        break;
    }
}

int jrnl_rec_encode(enum jrnl_rec_kind kind, const jrnl_rec_t *r, uint32_t lz4_min,
                    jrnl_buf_t *out, jrnl_buf_t *z)
{
    const uint8_t *stored;
    size_t slen;
    uint64_t raw_len;
    int rc = jrnl_rec_check_fields(kind, r);

    if (rc == 0)
        rc = jrnl_rec_pack(r, lz4_min, z, &stored, &slen, &raw_len);
    if (rc != 0)
        return rc;
    /* 1 array header + at most 8 fields of 9 bytes + str/bin headers. */
    size_t need = 1 + 8 * 9 + 3 * 5 + r->msg_len + r->rdata_len + slen;
    if (jrnl_buf_reserve(out, need) != 0)
        return SH_ENOMEM;
    jrnl_wr_t w = {.p = out->p, .off = 0};
    jrnl_rec_put_fields(&w, kind, r);
    wr_uint(&w, r->wall_ms);
    wr_uint(&w, raw_len);
    uint32_t seed = XXH32(w.p, w.off, 0);
    wr_uint(&w, jrnl_xxh(r->data, r->len, seed));
    wr_blob(&w, stored, slen, false);
    out->len = w.off;
    return 0;
}

/* ---- reader ------------------------------------------------------------- */

typedef struct jrnl_rd {
    const uint8_t *p;
    size_t n, off;
    const char *why; /* first failure, for the caller's message */
} jrnl_rd_t;

static int rd_fail(jrnl_rd_t *r, const char *why)
{
    if (r->why == NULL)
        r->why = why;
    return SH_ECORRUPT;
}

static int rd_be(jrnl_rd_t *r, int bytes, uint64_t *v)
{
    if (r->n - r->off < (size_t)bytes)
        return rd_fail(r, "truncated");
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v = (*v << 8) | r->p[r->off++];
    return 0;
}

static int rd_uint(jrnl_rd_t *r, uint64_t max, uint64_t *v)
{
    if (r->off >= r->n)
        return rd_fail(r, "truncated");
    uint8_t t = r->p[r->off++];
    if (t <= 0x7f)
        *v = t;
    else if (t >= 0xcc && t <= 0xcf) {
        if (rd_be(r, 1 << (t - 0xcc), v) != 0)
            return SH_ECORRUPT;
    } else
        return rd_fail(r, "expected an unsigned integer");
    return *v > max ? rd_fail(r, "integer out of range") : 0;
}

static int rd_int(jrnl_rd_t *r, int64_t lo, int64_t hi, int64_t *v)
{
    if (r->off >= r->n)
        return rd_fail(r, "truncated");
    uint8_t t = r->p[r->off];
    uint64_t u;
    if (t <= 0x7f || (t >= 0xcc && t <= 0xcf)) {
        if (rd_uint(r, INT64_MAX, &u) != 0)
            return SH_ECORRUPT;
        *v = (int64_t)u;
    } else if (t >= 0xe0) {
        r->off++;
        *v = (int8_t)t;
    } else if (t >= 0xd0 && t <= 0xd3) {
        int bytes = 1 << (t - 0xd0);
        r->off++;
        if (rd_be(r, bytes, &u) != 0)
            return SH_ECORRUPT;
        *v = bytes == 1 ? (int8_t)u : bytes == 2 ? (int16_t)u : bytes == 4 ? (int32_t)u
                                                                         : (int64_t)u;
    } else {
        return rd_fail(r, "expected an integer");
    }
    return (*v < lo || *v > hi) ? rd_fail(r, "integer out of range") : 0;
}

/* A str or bin of at most max bytes, borrowed from the input. */
static int rd_blob(jrnl_rd_t *r, bool is_str, size_t max, const uint8_t **p, size_t *n)
{
    if (r->off >= r->n)
        return rd_fail(r, "truncated");
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
        return rd_fail(r, is_str ? "expected a str" : "expected a bin");
    if (rc != 0)
        return SH_ECORRUPT;
    if (v > r->n - r->off)
        return rd_fail(r, "length beyond the value");
    if (v > max)
        return rd_fail(r, "length over the limit");
    *p = r->p + r->off;
    *n = (size_t)v;
    r->off += (size_t)v;
    return 0;
}

static int rd_kind_fields(jrnl_rd_t *r, enum jrnl_rec_kind kind, jrnl_rec_t *o)
{
    int64_t i;
    const uint8_t *s;
    if (r->n < 1 || r->p[0] != jrnl_rec_hdr[kind])
        return rd_fail(r, "not a record of this kind");
    r->off = 1;
    switch (kind) {
    case JRNL_REC_SNAP:
        return rd_uint(r, UINT64_MAX, &o->seq);
    case JRNL_REC_IDEM:
        if (rd_int(r, INT32_MIN, 0, &i) != 0 ||
            rd_blob(r, true, JRNL_REC_MSG_MAX, &s, &o->msg_len) != 0)
            return SH_ECORRUPT;
        o->status = (int)i;
        o->msg = (const char *)s;
        return 0;
    case JRNL_REC_REM:
        if (rd_uint(r, UINT64_MAX, &o->period_ms) != 0 || rd_int(r, -1, INT64_MAX, &o->reps) != 0 ||
            rd_uint(r, UINT64_MAX, &o->ttl_wall_ms) != 0)
            return SH_ECORRUPT;
        if (r->off < r->n && r->p[r->off] == 0xc0) {
            r->off++;
            return 0;
        }
        return rd_blob(r, false, JRNL_REC_RAW_MAX, &o->rdata, &o->rdata_len);
    case JRNL_REC_EVENT:
        return 0;
    }
    return rd_fail(r, "unknown kind");
}

/* Everything up to and including the stored payload; *hlen is the number
 * of bytes the checksum's seed covers. */
static int rd_record(jrnl_rd_t *r, enum jrnl_rec_kind kind, jrnl_rec_t *o, uint64_t *raw_len,
                     uint64_t *xxh, size_t *hlen)
{
    memset(o, 0, sizeof(*o));
    if ((unsigned)kind >= sizeof(jrnl_rec_hdr))
        return rd_fail(r, "unknown kind");
    if (rd_kind_fields(r, kind, o) != 0 || rd_uint(r, UINT64_MAX, &o->wall_ms) != 0 ||
        rd_uint(r, JRNL_REC_RAW_MAX, raw_len) != 0)
        return SH_ECORRUPT;
    *hlen = r->off;
    if (rd_uint(r, UINT32_MAX, xxh) != 0 || rd_blob(r, false, JRNL_REC_RAW_MAX, &o->data, &o->len))
        return SH_ECORRUPT;
    if (r->off != r->n)
        return rd_fail(r, "trailing bytes");
    return 0;
}

static int rd_inflate(jrnl_rd_t *r, jrnl_rec_t *o, uint64_t raw_len, jrnl_buf_t *scratch)
{
    if (o->len == 0 || raw_len > (uint64_t)o->len * JRNL_LZ4_RATIO_MAX)
        return rd_fail(r, "lz4 length impossible");
    if (jrnl_buf_reserve(scratch, (size_t)raw_len) != 0)
        return rd_fail(r, "out of memory inflating");
    int got = LZ4_decompress_safe((const char *)o->data, (char *)scratch->p, (int)o->len,
                                  (int)raw_len);
    if (got < 0 || (uint64_t)got != raw_len)
        return rd_fail(r, "lz4 block does not inflate to raw_len");
    o->data = scratch->p;
    o->len = (size_t)raw_len;
    return 0;
}

static const char *const jrnl_rec_names[] = {"event", "snapshot", "idempotency", "reminder"};

int jrnl_rec_decode(enum jrnl_rec_kind kind, const uint8_t *p, size_t n, jrnl_rec_t *out,
                    jrnl_buf_t *scratch, char *err, size_t errlen)
{
    jrnl_rd_t r = {.p = p, .n = p ? n : 0};
    uint64_t raw_len, xxh;
    size_t hlen;
    int rc = rd_record(&r, kind, out, &raw_len, &xxh, &hlen);

    if (rc == 0 && raw_len > 0)
        rc = rd_inflate(&r, out, raw_len, scratch);
    if (rc == 0 && jrnl_xxh(out->data, out->len, XXH32(p, hlen, 0)) != (uint32_t)xxh)
        rc = rd_fail(&r, "checksum mismatch");
    if (rc != 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s record: %s at byte %zu of %zu",
                     (unsigned)kind < 4 ? jrnl_rec_names[kind] : "?", r.why ? r.why : "invalid",
                     r.off, r.n);
        memset(out, 0, sizeof(*out));
        return SH_ECORRUPT;
    }
    if (out->len == 0)
        out->data = NULL;
    return 0;
}

int jrnl_rec_peek(enum jrnl_rec_kind kind, const uint8_t *p, size_t n, jrnl_rec_t *out)
{
    jrnl_rd_t r = {.p = p, .n = p ? n : 0};
    uint64_t raw_len, xxh;
    size_t hlen;

    if (rd_record(&r, kind, out, &raw_len, &xxh, &hlen) != 0) {
        memset(out, 0, sizeof(*out));
        return SH_ECORRUPT;
    }
    out->data = NULL;
    out->len = 0;
    return 0;
}
