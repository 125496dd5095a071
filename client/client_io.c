/*
 * client_io.c - the native client's network side: the reply address, the
 * frames it sends, and what it does with each frame it receives.
 *
 * Design notes.
 *
 * Reply address.  The node answers to the request header's src_addr, so
 * that address must be one the node can dial.  Unless the caller names
 * one, the client asks the kernel which local address routes to the node
 * (a connected UDP socket sends nothing; getsockname tells the source
 * address the kernel chose) and listens there on a port the kernel picks.
 * A node on 127.0.0.2 is thus answered through loopback, a node on the
 * LAN through the LAN interface.  The client never listens on every
 * interface unless told to.
 *
 * Receiving.  Every frame is decoded and authenticated with the cluster
 * key before anything looks at it; failures are counted and dropped.  As
 * on the nodes (membership/swim_io_frame.c), a REFUSE frame is accepted
 * even when its MAC fails: a node can only tell a client with the wrong
 * secret so without authentication.  A forged refusal can make calls fail
 * with `unavailable` for CL_REFUSE_HOLD_MS, nothing more; anyone who can
 * reach the client's port can do as much by other means.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <msgpack.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "rpc.h"
#include "sh_err.h"

#define CL_HOST_MAX 48 /* an IPv6 literal in brackets, or a short name */

/* "host:port" -> host (brackets of an IPv6 literal kept) and port.  0, or
 * SHOAL_EBAD_REQUEST.  Port 0 is allowed only when `bind`. */
static int cl_addr_split(const char *addr, bool bind, char *host, size_t hcap, unsigned *port)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    unsigned long v = 0;
    if (!colon || (size_t)(colon - addr) >= hcap || !colon[1] || strlen(colon + 1) > 5)
        return SHOAL_EBAD_REQUEST;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return SHOAL_EBAD_REQUEST;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535 || (v == 0 && !bind) || (colon == addr && !bind))
        return SHOAL_EBAD_REQUEST;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (unsigned)v;
    return 0;
}

/* The local address the kernel routes to c->node from, as a host for
 * "host:port" (IPv6 in brackets).  0, SHOAL_EBAD_REQUEST (does not
 * resolve), or -errno. */
static int cl_route_source(const shoal_client_t *c, char *out, size_t cap)
{
    char host[CL_HOST_MAX], portstr[8];
    unsigned port;
    if (cl_addr_split(c->node, false, host, sizeof host, &port) != 0)
        return SHOAL_EBAD_REQUEST;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    snprintf(portstr, sizeof portstr, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *ai = NULL;
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || !ai)
        return SHOAL_EBAD_REQUEST;
    int rc = 0, fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        rc = -errno;
    else if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    if (rc == 0)
        snprintf(out, cap, ss.ss_family == AF_INET6 ? "[%s]" : "%s", ip);
    return rc;
}

static bool cl_host_is_wildcard(const char *h)
{
    return !h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "[::]") == 0;
}

int cl_io_start(shoal_client_t *c, const char *reply_addr)
{
    char node_host[CL_HOST_MAX], bind_host[CL_HOST_MAX] = "", adv_host[CL_HOST_MAX] = "";
    char bind[TP_ADDR_MAX];
    unsigned port = 0, node_port;
    int rc;
    if (cl_addr_split(c->node, false, node_host, sizeof node_host, &node_port) != 0)
        return SHOAL_EBAD_REQUEST;
    if (reply_addr && cl_addr_split(reply_addr, true, bind_host, sizeof bind_host, &port) != 0)
        return SHOAL_EBAD_REQUEST;
    if (!reply_addr || cl_host_is_wildcard(bind_host)) {
        if ((rc = cl_route_source(c, adv_host, sizeof adv_host)) != 0)
            return rc;
    } else {
        snprintf(adv_host, sizeof adv_host, "%s", bind_host);
    }
    snprintf(bind, sizeof bind, "%s:%u", reply_addr ? bind_host : adv_host, port);
    tp_config_t tc;
    tp_config_default(&tc);
    tc.bind_addr = bind;
    tc.peer_queue_frames = c->mask + 1 > 1024 ? c->mask + 1 : 1024;
    tc.max_peers = 4; /* only ever the one node */
    tc.on_recv = cl_io_on_recv;
    tc.udata = c;
    if ((rc = tp_new(&c->tp, &tc)) != 0)
        return rc == SH_EBAD_REQUEST || rc == -ENOMEM ? rc : SHOAL_EUNAVAILABLE;
    int bound = tp_bound_port(c->tp);
    if (bound <= 0)
        return SHOAL_EUNAVAILABLE;
    int n = snprintf(c->self_addr, sizeof c->self_addr, "%s:%d", adv_host, bound);
    return n > 0 && (size_t)n < sizeof c->self_addr ? 0 : SHOAL_EBAD_REQUEST;
}

/* ---- sending ------------------------------------------------------------ */

int cl_io_send(shoal_client_t *c, const call_t *q, uint64_t corr, uint64_t deadline_wall_ms)
{
    uint8_t *p = NULL, *buf = NULL;
    size_t plen = 0, blen = 0;
    int rc = rpc_req_encode(q, 0, &p, &plen); /* hops 0: routed like an HTTP call */
    if (rc != 0)
        return cl_public_code(rc);
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.version = WIRE_VERSION;
    h.kind = WIRE_KIND_RPC_REQ;
    h.corr_id = corr;
    h.deadline_ms = deadline_wall_ms;
    h.shards = c->shards;
    memcpy(h.src_id, c->self_id, sizeof h.src_id);
    memcpy(h.src_addr, c->self_addr, sizeof h.src_addr);
    memcpy(h.cluster, c->cluster, sizeof h.cluster);
    rc = wire_encode(&c->key, &c->lim, &h, p, plen, &buf, &blen);
    free(p);
    if (rc != 0)
        return cl_public_code(rc);
    if ((rc = tp_send(c->tp, c->node, buf, blen)) != 0) {
        free(buf);
        return rc == -ENOMEM ? rc : rc == SH_EBAD_REQUEST ? SHOAL_EBAD_REQUEST
                                                          : SHOAL_EUNAVAILABLE;
    }
    return 0;
}

/* ---- receiving ---------------------------------------------------------- */

/* Copy a msgpack str, printable ASCII only (it ends up in an errmsg). */
static void cl_mp_str(const msgpack_object *o, char *dst, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < o->via.str.size && n + 1 < cap; i++) {
        unsigned char ch = (unsigned char)o->via.str.ptr[i];
        dst[n++] = ch < 0x20 || ch > 0x7e ? '?' : (char)ch;
    }
    dst[n] = '\0';
}

/* {"reason": str, "detail": str} (unknown keys ignored).  0 or SH_EMALFORMED. */
static int cl_refuse_decode(const uint8_t *p, size_t len, char *reason, size_t rcap,
                            char *detail, size_t dcap)
{
    if (!p || len == 0 || len > CL_REFUSE_PAYLOAD_MAX)
        return SH_EMALFORMED;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = SH_EMALFORMED;
    snprintf(reason, rcap, "?");
    snprintf(detail, dcap, "-");
    if (msgpack_unpack_next(&u, (const char *)p, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len && u.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
                continue;
            if (kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "reason", 6) == 0)
                cl_mp_str(&kv->val, reason, rcap);
            else if (kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "detail", 6) == 0)
                cl_mp_str(&kv->val, detail, dcap);
        }
        rc = 0;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

static void cl_io_refusal(shoal_client_t *c, const wire_hdr_t *h, const uint8_t *p, size_t len)
{
    char reason[40], detail[128], from[WIRE_ADDR_MAX], why[SHOAL_CLIENT_ERRMSG_MAX];
    if (cl_refuse_decode(p, len, reason, sizeof reason, detail, sizeof detail) != 0) {
        cl_count_bad_frame(c);
        return;
    }
    msgpack_object o = {.type = MSGPACK_OBJECT_STR,
                        .via.str = {.size = (uint32_t)strnlen(h->src_addr, sizeof h->src_addr),
                                    .ptr = h->src_addr}};
    cl_mp_str(&o, from, sizeof from);
    snprintf(why, sizeof why, "refused by node %s: %s: %s", from[0] ? from : c->node, reason,
             detail);
    cl_refused(c, why);
}

static void cl_io_reply(shoal_client_t *c, const wire_hdr_t *h, const uint8_t *p, size_t len)
{
    rpc_rep_t rep;
    if (rpc_rep_decode(p, len, &rep) != 0) {
        cl_count_bad_frame(c);
        cl_complete(c, h->corr_id, SH_EINTERNAL, NULL, 0, "malformed reply from the node");
        return;
    }
    cl_complete(c, h->corr_id, rep.status, rep.reply, rep.len, rep.errmsg);
}

void cl_io_on_recv(void *udata, uint8_t *frame, size_t len)
{
    shoal_client_t *c = udata;
    wire_hdr_t h;
    uint8_t *payload = NULL;
    size_t plen = 0;
    memset(&h, 0, sizeof h);
    int rc = wire_decode(&c->key, &c->lim, frame, len, &h, &payload, &plen);
    if (rc == SH_EAUTH && h.kind == WIRE_KIND_REFUSE)
        rc = wire_decode(NULL, &c->lim, frame, len, &h, &payload, &plen);
    free(frame);
    if (rc != 0)
        cl_count_bad_frame(c);
    else if (h.kind == WIRE_KIND_RPC_REP)
        cl_io_reply(c, &h, payload, plen);
    else if (h.kind == WIRE_KIND_REFUSE)
        cl_io_refusal(c, &h, payload, plen);
    else
        cl_count_bad_frame(c);
    free(payload);
}
