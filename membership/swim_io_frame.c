/*
 * swim_io_frame.c - what the SWIM adapter does with one received frame.
 *
 * Design notes.  Every frame is decoded and authenticated with the cluster
 * key before anything else looks at it; a frame that fails is counted by
 * reason (shoal_frames_dropped_total{reason}) and dropped, never asserted
 * on.  Order of checks, and why:
 *   1. wire_decode: structure, size, version, MAC.  Malformed or oversized
 *      frames name no trustworthy sender, so their log lines are limited
 *      globally rather than per peer.
 *   2. the fault hook (tp_fault_blocks_incoming), as soon as a header names
 *      the sender: a cut link must drop refusals too, or tests of a cut
 *      would still see traffic.
 *   3. REFUSE frames are accepted even when their MAC fails: a node that
 *      lacks our secret can only tell us so unauthenticated.  They are only
 *      logged and remembered for /readyz; they change no membership state,
 *      so forging one gains an attacker nothing but a log line.
 *   4. MAC failure, cluster name or shard count mismatch: answered with a
 *      REFUSE frame naming the reason, and logged, both at most once per
 *      peer address per 10 s (a refused node keeps probing every period).
 *   5. SWIM payloads go to the core; other kinds (the node's RPC) go to
 *      the handler installed with swim_io_set_handlers, or are dropped
 *      as unknown_kind.
 * We never answer a REFUSE with a REFUSE, so two misconfigured nodes
 * cannot ping-pong.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "sh_log.h"
#include "swim_io_int.h"

#define SWIM_IO_REFUSE_PAYLOAD_MAX 4096 /* a refusal is two short strings */
#define SWIM_IO_DETAIL_MAX 200

static const char swim_io_auth_detail[] =
    "authentication failed: wrong or missing cluster secret";

/* ---- helpers --------------------------------------------------------- */

bool swim_io_rate_allow(swim_io_rate_t *tab, size_t n, const char *key,
                        uint64_t now_ms, uint64_t interval_ms)
{
    swim_io_rate_t *victim = &tab[0];
    for (size_t i = 0; i < n; i++) {
        swim_io_rate_t *r = &tab[i];
        if (r->used && strncmp(r->key, key, sizeof r->key - 1) == 0) {
            if (now_ms - r->last_ms < interval_ms)
                return false;
            r->last_ms = now_ms;
            return true;
        }
        if (!r->used || (victim->used && r->last_ms < victim->last_ms))
            victim = r;
    }
    victim->used = true;
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->last_ms = now_ms;
    return true;
}

void swim_io_safe(char *dst, size_t cap, const char *src, bool quoted)
{
    size_t n = 0;
    if (cap == 0)
        return;
    for (; src && *src && n + 1 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        bool bad = c < 0x20 || c > 0x7e || (quoted ? (c == '"' || c == '\\') : c == ' ');
        dst[n++] = bad ? '?' : (char)c;
    }
    if (n == 0 && cap > 1 && !quoted)
        dst[n++] = '-';
    dst[n] = '\0';
}

/* msgpack {"reason": reason, "detail": detail}.  0 or SH_ENOMEM. */
static int swim_io_refuse_encode(const char *reason, const char *detail,
                                 msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int rc = msgpack_pack_map(&pk, 2);
    rc |= msgpack_pack_str_with_body(&pk, "reason", 6);
    rc |= msgpack_pack_str_with_body(&pk, reason, strlen(reason));
    rc |= msgpack_pack_str_with_body(&pk, "detail", 6);
    rc |= msgpack_pack_str_with_body(&pk, detail, strlen(detail));
    return rc == 0 ? 0 : SH_ENOMEM;
}

/* Copy a msgpack str into buf (sanitised for a quoted log value). */
static void swim_io_mp_str(const msgpack_object *o, char *buf, size_t cap)
{
    char tmp[SWIM_IO_DETAIL_MAX + 1];
    size_t n = o->via.str.size < sizeof tmp - 1 ? o->via.str.size : sizeof tmp - 1;
    memcpy(tmp, o->via.str.ptr, n);
    tmp[n] = '\0';
    swim_io_safe(buf, cap, tmp, true);
}

/* Parse a refusal payload; unknown keys are ignored (a newer peer may say
 * more).  0, or SH_EMALFORMED. */
static int swim_io_refuse_decode(const uint8_t *p, size_t len, char *reason, size_t rcap,
                                 char *detail, size_t dcap)
{
    if (!p || len == 0 || len > SWIM_IO_REFUSE_PAYLOAD_MAX)
        return SH_EMALFORMED;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = SH_EMALFORMED;
    if (msgpack_unpack_next(&u, (const char *)p, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len && u.data.type == MSGPACK_OBJECT_MAP) {
        snprintf(reason, rcap, "?");
        snprintf(detail, dcap, "-");
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
                continue;
            if (kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "reason", 6) == 0)
                swim_io_mp_str(&kv->val, reason, rcap);
            else if (kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "detail", 6) == 0)
                swim_io_mp_str(&kv->val, detail, dcap);
        }
        rc = 0;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- refusals -------------------------------------------------------- */

/* Refuse the sender of `h`: log frame_refused and send it a REFUSE frame,
 * at most once per peer address per interval. */
static void swim_io_refuse(swim_io_t *io, uint64_t now, const wire_hdr_t *h,
                           const char *reason, const char *detail)
{
    if (!swim_io_rate_allow(io->refuse_rl, SWIM_IO_RATE_SLOTS, h->src_addr, now,
                            SWIM_IO_REFUSE_INTERVAL_MS))
        return;
    char peer[SWIM_ADDR_MAX], id[SWIM_ID_MAX];
    swim_io_safe(peer, sizeof peer, h->src_addr, false);
    swim_io_safe(id, sizeof id, h->src_id, false);
    SH_LOGW("frame_refused", "reason=%s peer=%s claimed_id=%s detail=\"%s\"", reason, peer, id,
            detail);
    if (h->src_addr[0] == '\0')
        return;
    msgpack_sbuffer sb;
    if (swim_io_refuse_encode(reason, detail, &sb) == 0) {
        swim_io_send_frame(io, WIRE_KIND_REFUSE, h->src_addr, (const uint8_t *)sb.data,
                           sb.size);
        io->ctr.refusals_sent++;
    }
    msgpack_sbuffer_destroy(&sb);
}

/* A peer refused us.  Log it (rate-limited) and keep the reason for
 * /readyz; nothing else changes. */
static void swim_io_refused_by_peer(swim_io_t *io, uint64_t now, const wire_hdr_t *h,
                                    const uint8_t *payload, size_t plen, bool authed)
{
    char reason[64], detail[SWIM_IO_DETAIL_MAX + 1], peer[SWIM_ADDR_MAX];
    io->ctr.refusals_received++;
    swim_io_safe(peer, sizeof peer, h->src_addr, false);
    if (swim_io_refuse_decode(payload, plen, reason, sizeof reason, detail, sizeof detail) != 0) {
        io->ctr.dropped[SWIM_IO_DROP_MALFORMED]++;
        return;
    }
    snprintf(io->refused_reason, sizeof io->refused_reason, "peer %s refused us: %s: %s", peer,
             reason, detail);
    if (swim_io_rate_allow(io->refused_rl, SWIM_IO_RATE_SLOTS, h->src_addr, now,
                           SWIM_IO_REFUSE_INTERVAL_MS))
        SH_LOGW("refused_by_peer", "peer=%s reason=%s authenticated=%s detail=\"%s\"", peer,
                reason, authed ? "true" : "false", detail);
}

/* ---- dispatch -------------------------------------------------------- */

/* Count a decode failure; log it at most once per interval per kind. */
static void swim_io_decode_failed(swim_io_t *io, uint64_t now, int rc, const wire_hdr_t *h)
{
    int reason = rc == SH_ETOO_BIG  ? SWIM_IO_DROP_TOO_BIG
                 : rc == SH_EVERSION ? SWIM_IO_DROP_VERSION
                                     : SWIM_IO_DROP_MALFORMED;
    io->ctr.dropped[reason]++;
    char peer[SWIM_ADDR_MAX] = "-";
    const char *key = swim_io_drop_name(reason);
    if (rc == SH_EVERSION) { /* the header parsed: we know who claims to send */
        swim_io_safe(peer, sizeof peer, h->src_addr, false);
        key = h->src_addr;
    }
    if (swim_io_rate_allow(io->bad_rl, SWIM_IO_RATE_SLOTS, key, now, SWIM_IO_REFUSE_INTERVAL_MS))
        SH_LOGW("frame_dropped", "reason=%s peer=%s version=%u err=\"%s\"",
                swim_io_drop_name(reason), peer, rc == SH_EVERSION ? h->version : 0,
                sh_strerror(rc));
}

/* Cluster name and shard count must match ours; 0 if they do. */
static int swim_io_check_cluster(swim_io_t *io, uint64_t now, const wire_hdr_t *h)
{
    char detail[256], theirs[WIRE_CLUSTER_MAX];
    if (strncmp(h->cluster, io->cluster, sizeof h->cluster) != 0) {
        swim_io_safe(theirs, sizeof theirs, h->cluster, true);
        snprintf(detail, sizeof detail, "cluster name '%s' != '%s' (sender != receiver)",
                 theirs, io->cluster);
        swim_io_refuse(io, now, h, "cluster_mismatch", detail);
        return SH_ECLUSTER;
    }
    if (h->shards != io->shards) {
        snprintf(detail, sizeof detail, "shard count %u != %u (sender != receiver)",
                 h->shards, io->shards);
        swim_io_refuse(io, now, h, "shards_mismatch", detail);
        return SH_ECLUSTER;
    }
    return 0;
}

void swim_io_frame_handle(swim_io_t *io, uint64_t now, const uint8_t *buf, size_t len)
{
    wire_hdr_t h;
    uint8_t *payload = NULL;
    size_t plen = 0;
    bool authed = true;
    memset(&h, 0, sizeof h);
    int rc = wire_decode(&io->key, &io->lim, buf, len, &h, &payload, &plen);
    if (rc == SH_EAUTH && h.kind == WIRE_KIND_REFUSE) {
        authed = false;
        rc = wire_decode(NULL, &io->lim, buf, len, &h, &payload, &plen);
    }
    if (rc != 0 && rc != SH_EAUTH) {
        swim_io_decode_failed(io, now, rc, &h);
        return;
    }
    if (io->tp && tp_fault_blocks_incoming(io->tp, h.src_addr)) {
        io->ctr.dropped[SWIM_IO_DROP_FAULT]++;
    } else if (rc == SH_EAUTH) {
        io->ctr.dropped[SWIM_IO_DROP_AUTH]++;
        swim_io_refuse(io, now, &h, "auth", swim_io_auth_detail);
    } else if (h.kind == WIRE_KIND_REFUSE) {
        swim_io_refused_by_peer(io, now, &h, payload, plen, authed);
    } else if (swim_io_check_cluster(io, now, &h) != 0) {
        io->ctr.dropped[SWIM_IO_DROP_CLUSTER]++;
    } else if (h.kind == WIRE_KIND_SWIM) {
        io->ctr.gossip_bytes_in += len;
        if (swim_recv(io->core, now, h.src_addr, payload, plen) != 0)
            io->ctr.dropped[SWIM_IO_DROP_MALFORMED]++;
    } else if (io->on_frame) {
        /* Authenticated and from our cluster: another module's frame. */
        io->on_frame(io->handler_udata, &h, payload, plen);
    } else {
        io->ctr.dropped[SWIM_IO_DROP_UNKNOWN_KIND]++;
    }
    free(payload);
}
