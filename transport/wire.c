/*
 * wire.c - the frame codec: encode, strictly decode and authenticate one
 * frame.  Pure: no sockets, no clock, no global state.
 *
 * Design notes.
 *
 * A frame is exactly one msgpack map whose keys are one-character fixstrs
 * in a fixed order.  msgpack keeps frames readable by any msgpack tool
 * (`msgpack2json` on a capture shows the header), while the fixed order
 * lets the decoder be a small hand-written reader instead of a generic
 * unpacker: every length is checked against the bytes that remain and the
 * configured limits before anything is allocated, and there is no
 * recursion, no zone and no object tree to bound.
 *
 * Byte layout (version 1).  `K(x)` is the fixstr key 0xa1 'x'.
 *
 *   0x8b | 0x8c     fixmap, 11 entries (raw payload) or 12 (lz4: adds "u")
 *   K(v) uint       version, WIRE_VERSION (1)                  always first
 *   K(k) uint       kind (enum wire_kind), 0..255
 *   K(f) uint       flags (enum wire_flags); unknown bits are malformed
 *   K(c) uint       correlation id, 0..2^64-1 (0 = none)
 *   K(d) uint       absolute wall-clock deadline in ms (0 = none)
 *   K(s) str        source node id, 0..63 bytes, no NUL
 *   K(a) str        source address "host:port", 0..63 bytes, no NUL
 *   K(n) str        cluster name, 0..63 bytes, no NUL
 *   K(h) uint       shard count of the sender's cluster, 0..2^32-1
 *   K(u) uint       raw payload length, 1..payload_max    only with WIRE_F_LZ4
 *   K(p) bin        payload bytes (lz4 block when WIRE_F_LZ4), bin8/16/32
 *   K(m) 0xc4 0x20  bin8 of 32 bytes: HMAC-SHA256(key, all bytes before
 *        + 32 bytes the 32 tag bytes), i.e. the tag covers the map header,
 *                    every key, and its own key and bin header.     last
 *
 * "uint" is any msgpack unsigned form (positive fixint, 0xcc..0xcf); the
 * encoder always writes the shortest.  "str" is fixstr/str8/16/32 and
 * "bin" is bin8/16/32, accepted in any width when the length fits.  The
 * map ends exactly at the end of the buffer: trailing bytes are malformed.
 *
 * The tag is the last 32 bytes of every frame, so a receiver can verify
 * before decompressing: the expensive step only runs on authentic input.
 * A frame whose version is not WIRE_VERSION yields SH_EVERSION with the
 * header fields that still parse in this layout (best effort, untrusted),
 * so that a mixed-version cluster logs who is speaking which version.
 *
 * lz4 is used when the payload is longer than lz4_threshold and the block
 * is actually shorter than the payload.  An lz4 block cannot expand more
 * than 255x (each byte of a match-length run adds at most 255 output
 * bytes), so a declared raw length above 255 x compressed length is
 * malformed and is rejected before the output buffer is allocated.
 *
 * What it deliberately does not do: no streaming and no partial frames
 * (nng delivers whole messages); no replay protection (the corr id and
 * SWIM incarnations handle duplicates at the layer above); no encryption
 * (confidentiality, if wanted, comes from nng's TLS transport).
 */
#include "wire.h"

#include <errno.h>
#include <lz4.h>
#include <mbedtls/md.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"

#define WIRE_MAP_RAW 0x8b /* fixmap, 11 entries */
#define WIRE_MAP_LZ4 0x8c /* fixmap, 12 entries */
#define WIRE_LZ4_RATIO_MAX 255u

/* ---- HMAC ------------------------------------------------------------- */

int wire_key_init(wire_key_t *key, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;

    memset(key, 0, sizeof(*key));
    if (n > sizeof(key->key)) {
        /* As HMAC itself does for keys longer than the block size. */
        const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
        mbedtls_md(md, (const unsigned char *)secret, n, key->key);
        key->len = WIRE_MAC_LEN;
    } else {
        if (n > 0)
            memcpy(key->key, secret, n);
        key->len = n;
    }
    return 0;
}

static int wire_mac(const wire_key_t *key, const uint8_t *buf, size_t len,
                    uint8_t out[WIRE_MAC_LEN])
{
    static const wire_key_t empty; /* a NULL key signs as the empty secret */
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    if (key == NULL)
        key = &empty;
    if (md == NULL || mbedtls_md_hmac(md, key->key, key->len, buf, len, out) != 0)
        return SH_EINTERNAL;
    return 0;
}

/* Constant-time: the time taken must not tell an attacker how many leading
 * bytes of a forged tag were right. */
static bool wire_mac_equal(const uint8_t *a, const uint8_t *b)
{
    volatile uint8_t diff = 0;

    for (size_t i = 0; i < WIRE_MAC_LEN; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

void wire_limits_default(wire_limits_t *lim)
{
    lim->frame_max = WIRE_FRAME_MAX_DEFAULT;
    lim->payload_max = WIRE_FRAME_MAX_DEFAULT;
    lim->lz4_threshold = WIRE_LZ4_THRESHOLD_DEFAULT;
}

static const wire_limits_t *wire_limits_or_default(const wire_limits_t *lim,
                                                   wire_limits_t *tmp)
{
    if (lim != NULL)
        return lim;
    wire_limits_default(tmp);
    return tmp;
}

/* ---- encoder ---------------------------------------------------------- */

static size_t wire_uint_size(uint64_t v)
{
    if (v < 0x80)
        return 1;
    if (v <= UINT8_MAX)
        return 2;
    if (v <= UINT16_MAX)
        return 3;
    if (v <= UINT32_MAX)
        return 5;
    return 9;
}

static size_t wire_len_hdr_size(size_t n, bool is_str)
{
    if (is_str && n < 32)
        return 1;
    if (n <= UINT8_MAX)
        return 2;
    if (n <= UINT16_MAX)
        return 3;
    return 5;
}

static uint8_t *wire_put_be(uint8_t *w, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *w++ = (uint8_t)(v >> (8 * i));
    return w;
}

static uint8_t *wire_put_key(uint8_t *w, char k)
{
    *w++ = 0xa1;
    *w++ = (uint8_t)k;
    return w;
}

static uint8_t *wire_put_uint(uint8_t *w, char k, uint64_t v)
{
    w = wire_put_key(w, k);
    switch (wire_uint_size(v)) {
    case 1: *w++ = (uint8_t)v; return w;
    case 2: *w++ = 0xcc; return wire_put_be(w, v, 1);
    case 3: *w++ = 0xcd; return wire_put_be(w, v, 2);
    case 5: *w++ = 0xce; return wire_put_be(w, v, 4);
    default: *w++ = 0xcf; return wire_put_be(w, v, 8);
    }
}

/* str (is_str) or bin: header, then the bytes. */
static uint8_t *wire_put_bytes(uint8_t *w, char k, const void *p, size_t n, bool is_str)
{
    w = wire_put_key(w, k);
    switch (wire_len_hdr_size(n, is_str)) {
    case 1: *w++ = (uint8_t)(0xa0 | n); break;
    case 2: *w++ = is_str ? 0xd9 : 0xc4; w = wire_put_be(w, n, 1); break;
    case 3: *w++ = is_str ? 0xda : 0xc5; w = wire_put_be(w, n, 2); break;
    default: *w++ = is_str ? 0xdb : 0xc6; w = wire_put_be(w, n, 4); break;
    }
    if (n > 0)
        memcpy(w, p, n);
    return w + n;
}

/* Compress when worth it.  On 0, the bytes for "p" (*body_len long) are
 * `payload` itself when *tmp is NULL, else *tmp (malloc'd, caller frees). */
static int wire_maybe_compress(const wire_limits_t *lim, const uint8_t *payload,
                               size_t len, uint8_t **tmp, size_t *body_len)
{
    *tmp = NULL;
    *body_len = len;
    if (len <= lim->lz4_threshold || len > LZ4_MAX_INPUT_SIZE)
        return 0;
    int bound = LZ4_compressBound((int)len);
    uint8_t *c = malloc((size_t)bound);
    if (c == NULL)
        return -ENOMEM;
    int n = LZ4_compress_default((const char *)payload, (char *)c, (int)len, bound);
    if (n <= 0 || (size_t)n >= len) {
        free(c); /* incompressible: send raw */
        return 0;
    }
    *tmp = c;
    *body_len = (size_t)n;
    return 0;
}

static size_t wire_frame_size(const wire_hdr_t *h, size_t sl[3], bool lz4,
                              size_t raw_len, size_t body_len)
{
    size_t n = 1;
    n += 2 + wire_uint_size(h->version ? h->version : WIRE_VERSION);
    n += 2 + wire_uint_size(h->kind);
    n += 2 + wire_uint_size(lz4 ? WIRE_F_LZ4 : 0);
    n += 2 + wire_uint_size(h->corr_id);
    n += 2 + wire_uint_size(h->deadline_ms);
    for (int i = 0; i < 3; i++)
        n += 2 + wire_len_hdr_size(sl[i], true) + sl[i];
    n += 2 + wire_uint_size(h->shards);
    if (lz4)
        n += 2 + wire_uint_size(raw_len);
    n += 2 + wire_len_hdr_size(body_len, false) + body_len;
    n += 2 + 2 + WIRE_MAC_LEN;
    return n;
}

/* The header's version 0 means WIRE_VERSION, so a zeroed wire_hdr_t encodes
 * a current frame; any other value is written as given (tests and future
 * versions).  A NULL key signs with the empty secret, NULL lim = defaults. */
int wire_encode(const wire_key_t *key, const wire_limits_t *lim,
                const wire_hdr_t *h, const uint8_t *payload, size_t len,
                uint8_t **out, size_t *out_len)
{
    wire_limits_t dl;
    const char *strs[3] = {h->src_id, h->src_addr, h->cluster};
    size_t caps[3] = {WIRE_ID_MAX, WIRE_ADDR_MAX, WIRE_CLUSTER_MAX}, sl[3];
    uint8_t *tmp, *buf, *w;
    size_t body_len;
    int rc;

    *out = NULL;
    *out_len = 0;
    lim = wire_limits_or_default(lim, &dl);
    for (int i = 0; i < 3; i++) {
        sl[i] = strnlen(strs[i], caps[i]);
        if (sl[i] >= caps[i])
            return SH_EBAD_REQUEST;
    }
    if (payload == NULL && len > 0)
        return SH_EBAD_REQUEST;
    if (len > lim->payload_max)
        return SH_ETOO_BIG;
    if ((rc = wire_maybe_compress(lim, payload, len, &tmp, &body_len)) != 0)
        return rc;
    bool lz4 = tmp != NULL;
    size_t total = wire_frame_size(h, sl, lz4, len, body_len);
    if (total > lim->frame_max) {
        free(tmp);
        return SH_ETOO_BIG;
    }
    if ((buf = malloc(total)) == NULL) {
        free(tmp);
        return -ENOMEM;
    }
    w = buf;
    *w++ = lz4 ? WIRE_MAP_LZ4 : WIRE_MAP_RAW;
    w = wire_put_uint(w, 'v', h->version ? h->version : WIRE_VERSION);
    w = wire_put_uint(w, 'k', h->kind);
    w = wire_put_uint(w, 'f', lz4 ? WIRE_F_LZ4 : 0);
    w = wire_put_uint(w, 'c', h->corr_id);
    w = wire_put_uint(w, 'd', h->deadline_ms);
    w = wire_put_bytes(w, 's', h->src_id, sl[0], true);
    w = wire_put_bytes(w, 'a', h->src_addr, sl[1], true);
    w = wire_put_bytes(w, 'n', h->cluster, sl[2], true);
    w = wire_put_uint(w, 'h', h->shards);
    if (lz4)
        w = wire_put_uint(w, 'u', len);
    w = wire_put_bytes(w, 'p', lz4 ? tmp : payload, body_len, false);
    free(tmp);
    w = wire_put_key(w, 'm');
    *w++ = 0xc4;
    *w++ = WIRE_MAC_LEN;
    SH_ASSERT((size_t)(w - buf) + WIRE_MAC_LEN == total);
    if ((rc = wire_mac(key, buf, total - WIRE_MAC_LEN, w)) != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = total;
    return 0;
}

/* ---- decoder ---------------------------------------------------------- */

/* A bounded cursor: every read checks what is left first. */
typedef struct wire_rd {
    const uint8_t *p, *end;
} wire_rd_t;

static size_t wire_rd_left(const wire_rd_t *r)
{
    return (size_t)(r->end - r->p);
}

static int wire_rd_be(wire_rd_t *r, size_t bytes, uint64_t *v)
{
    uint64_t x = 0;

    if (wire_rd_left(r) < bytes)
        return SH_EMALFORMED;
    for (size_t i = 0; i < bytes; i++)
        x = x << 8 | *r->p++;
    *v = x;
    return 0;
}

static int wire_rd_key(wire_rd_t *r, char k)
{
    if (wire_rd_left(r) < 2 || r->p[0] != 0xa1 || r->p[1] != (uint8_t)k)
        return SH_EMALFORMED;
    r->p += 2;
    return 0;
}

static int wire_rd_uint(wire_rd_t *r, char k, uint64_t max, uint64_t *v)
{
    uint8_t t;

    if (wire_rd_key(r, k) != 0 || wire_rd_left(r) < 1)
        return SH_EMALFORMED;
    t = *r->p++;
    if (t < 0x80)
        *v = t;
    else if (t >= 0xcc && t <= 0xcf) {
        if (wire_rd_be(r, (size_t)1 << (t - 0xcc), v) != 0)
            return SH_EMALFORMED;
    } else
        return SH_EMALFORMED;
    return *v > max ? SH_EMALFORMED : 0;
}

/* The length header of a str (is_str) or bin.  The declared length must
 * fit in what is left of the buffer, so nothing larger than the input can
 * be claimed past this point. */
static int wire_rd_len(wire_rd_t *r, bool is_str, size_t *n)
{
    uint64_t v;
    uint8_t t;
    int rc = 0;

    if (wire_rd_left(r) < 1)
        return SH_EMALFORMED;
    t = *r->p++;
    if (is_str && (t & 0xe0) == 0xa0)
        v = t & 0x1f;
    else if (t == (is_str ? 0xd9 : 0xc4))
        rc = wire_rd_be(r, 1, &v);
    else if (t == (is_str ? 0xda : 0xc5))
        rc = wire_rd_be(r, 2, &v);
    else if (t == (is_str ? 0xdb : 0xc6))
        rc = wire_rd_be(r, 4, &v);
    else
        return SH_EMALFORMED;
    if (rc != 0 || v > wire_rd_left(r))
        return SH_EMALFORMED;
    *n = (size_t)v;
    return 0;
}

static int wire_rd_str(wire_rd_t *r, char k, char *dst, size_t cap)
{
    size_t n;

    if (wire_rd_key(r, k) != 0 || wire_rd_len(r, true, &n) != 0)
        return SH_EMALFORMED;
    /* An embedded NUL would silently truncate the C string. */
    if (n >= cap || memchr(r->p, 0, n) != NULL)
        return SH_EMALFORMED;
    memcpy(dst, r->p, n);
    dst[n] = '\0';
    r->p += n;
    return 0;
}

/* The fields between "v" and "h" inclusive, assigned as they parse (so a
 * best-effort read of a foreign version keeps what it got). */
static int wire_hdr_read(wire_rd_t *r, wire_hdr_t *h)
{
    uint64_t v;

    if (wire_rd_uint(r, 'k', UINT8_MAX, &v) != 0)
        return SH_EMALFORMED;
    h->kind = (uint8_t)v;
    if (wire_rd_uint(r, 'f', UINT32_MAX, &v) != 0)
        return SH_EMALFORMED;
    h->flags = (uint32_t)v;
    if (wire_rd_uint(r, 'c', UINT64_MAX, &h->corr_id) != 0 ||
        wire_rd_uint(r, 'd', UINT64_MAX, &h->deadline_ms) != 0 ||
        wire_rd_str(r, 's', h->src_id, WIRE_ID_MAX) != 0 ||
        wire_rd_str(r, 'a', h->src_addr, WIRE_ADDR_MAX) != 0 ||
        wire_rd_str(r, 'n', h->cluster, WIRE_CLUSTER_MAX) != 0 ||
        wire_rd_uint(r, 'h', UINT32_MAX, &v) != 0)
        return SH_EMALFORMED;
    h->shards = (uint32_t)v;
    return 0;
}

/* Sizes of the payload, checked before anything is allocated. */
static int wire_body_check(const wire_limits_t *lim, bool lz4, uint64_t raw,
                           size_t blen)
{
    if (!lz4)
        return blen > lim->payload_max ? SH_ETOO_BIG : 0;
    if (raw > lim->payload_max || raw > LZ4_MAX_INPUT_SIZE || blen > LZ4_MAX_INPUT_SIZE)
        return SH_ETOO_BIG;
    if (raw == 0 || blen == 0 || raw > (uint64_t)blen * WIRE_LZ4_RATIO_MAX)
        return SH_EMALFORMED;
    return 0;
}

static int wire_body_decode(bool lz4, const uint8_t *body, size_t blen,
                            uint64_t raw, uint8_t **payload, size_t *plen)
{
    size_t n = lz4 ? (size_t)raw : blen;
    uint8_t *out;

    if (n == 0)
        return 0;
    if ((out = malloc(n)) == NULL)
        return -ENOMEM;
    if (!lz4)
        memcpy(out, body, n);
    else if (LZ4_decompress_safe((const char *)body, (char *)out, (int)blen, (int)n) != (int)n) {
        free(out);
        return SH_EMALFORMED;
    }
    *payload = out;
    *plen = n;
    return 0;
}

/* The map header and "v".  A map16 header is tolerated here only so that a
 * later version with more keys still reports SH_EVERSION. */
static int wire_rd_version(wire_rd_t *r, uint8_t *map, wire_hdr_t *h)
{
    uint64_t v;

    if (wire_rd_left(r) < 1)
        return SH_EMALFORMED;
    *map = *r->p++;
    if (*map == 0xde) {
        if (wire_rd_left(r) < 2)
            return SH_EMALFORMED;
        r->p += 2;
    } else if ((*map & 0xf0) != 0x80)
        return SH_EMALFORMED;
    if (wire_rd_uint(r, 'v', UINT8_MAX, &v) != 0)
        return SH_EMALFORMED;
    h->version = (uint8_t)v;
    return 0;
}

int wire_decode(const wire_key_t *key, const wire_limits_t *lim,
                const uint8_t *buf, size_t len, wire_hdr_t *h,
                uint8_t **payload, size_t *plen)
{
    wire_limits_t dl;
    wire_rd_t r = {buf, buf + len};
    const uint8_t *body;
    uint64_t raw = 0;
    size_t blen;
    uint8_t map;
    int rc;

    *payload = NULL;
    *plen = 0;
    memset(h, 0, sizeof(*h));
    lim = wire_limits_or_default(lim, &dl);
    if (len > lim->frame_max)
        return SH_ETOO_BIG;
    if (buf == NULL || wire_rd_version(&r, &map, h) != 0)
        return SH_EMALFORMED;
    if (h->version != WIRE_VERSION) {
        (void)wire_hdr_read(&r, h); /* best effort, for the log line */
        return SH_EVERSION;
    }
    if ((map != WIRE_MAP_RAW && map != WIRE_MAP_LZ4) || wire_hdr_read(&r, h) != 0)
        return SH_EMALFORMED;
    bool lz4 = (h->flags & WIRE_F_LZ4) != 0;
    if ((h->flags & ~(uint32_t)WIRE_F_LZ4) != 0 || lz4 != (map == WIRE_MAP_LZ4))
        return SH_EMALFORMED;
    if (lz4 && wire_rd_uint(&r, 'u', UINT64_MAX, &raw) != 0)
        return SH_EMALFORMED;
    if (wire_rd_key(&r, 'p') != 0 || wire_rd_len(&r, false, &blen) != 0)
        return SH_EMALFORMED;
    body = r.p;
    r.p += blen;
    if ((rc = wire_body_check(lim, lz4, raw, blen)) != 0)
        return rc;
    /* The tag: key, bin8 header, then exactly the 32 bytes that remain. */
    if (wire_rd_key(&r, 'm') != 0 || wire_rd_left(&r) != 2 + WIRE_MAC_LEN ||
        r.p[0] != 0xc4 || r.p[1] != WIRE_MAC_LEN)
        return SH_EMALFORMED;
    r.p += 2;
    if (key != NULL) {
        uint8_t tag[WIRE_MAC_LEN];
        if ((rc = wire_mac(key, buf, len - WIRE_MAC_LEN, tag)) != 0)
            return rc;
        if (!wire_mac_equal(tag, r.p))
            return SH_EAUTH;
    }
    return wire_body_decode(lz4, body, blen, raw, payload, plen);
}
