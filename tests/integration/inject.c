/*
 * inject.c - shoal_inject: send hostile frames to a node's cluster port
 * through a real nng PUSH socket, for the integration tests.
 *
 *   shoal_inject --to HOST:PORT --mode MODE [--count N] [--secret S]
 *                [--cluster C] [--shards N] [--id ID] [--from HOST:PORT]
 *                [--size BYTES] [--seed N]
 *
 * Modes (what the receiving node must do with each frame):
 *   garbage       random bytes                       -> dropped, reason=malformed
 *   truncated     a valid frame (right secret) cut   -> dropped, reason=malformed
 *   oversize      random bytes over the 1 MiB frame
 *                 limit (but under nng's receive cap) -> dropped, reason=too_big
 *   wrong-secret  a well-formed SWIM frame signed
 *                 with --secret (give a wrong one)   -> dropped, reason=auth
 *   bad-version   a well-formed frame, version 99    -> dropped, reason=version
 *   bad-payload   an authentic SWIM frame whose
 *                 payload is random bytes            -> dropped by the SWIM codec
 *
 * Design notes.  Raw TCP garbage never reaches Shoal's decoder: nng's SP
 * handshake rejects it first (the tests send that with a plain socket).
 * To exercise the decoder the bytes must arrive as SP messages, so this
 * tool speaks PUSH like a real peer.  The secret defaults to SHOAL_SECRET,
 * as for shoald.  nng has no linger on close, so after the last send the
 * tool waits --linger ms (default 300) for the pipe to flush; the tests
 * never rely on that wait: they poll /metrics with a deadline.
 *
 * Exit: 0 all frames queued, 1 the dial or a send failed, 2 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>

#include "sh_err.h"
#include "sh_rng.h"
#include "wire.h"

typedef struct inj_opts {
    const char *to, *mode, *secret, *cluster, *id, *from;
    unsigned long count, shards, size, seed, linger_ms;
} inj_opts_t;

static const char usage_text[] =
    "usage: shoal_inject --to HOST:PORT --mode garbage|truncated|oversize|wrong-secret|\n"
    "                    bad-version|bad-payload [--count N] [--secret S] [--cluster C]\n"
    "                    [--shards N] [--id ID] [--from HOST:PORT] [--size BYTES]\n"
    "                    [--seed N] [--linger MS]\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "shoal_inject: %s\n", why);
    fputs(usage_text, stderr);
    return 2;
}

static int opts_parse(inj_opts_t *o, int argc, char **argv)
{
    const char *env = getenv("SHOAL_SECRET");
    *o = (inj_opts_t){.secret = env ? env : "", .cluster = "shoal", .id = "inject",
                      .from = "127.0.0.254:9", .count = 1, .shards = 256,
                      .size = WIRE_FRAME_MAX_DEFAULT + 1024, .seed = 1, .linger_ms = 300};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "-h") == 0 || strcmp(k, "--help") == 0)
            return usage(NULL);
        if (i + 1 >= argc)
            return usage("every option takes a value");
        const char *v = argv[++i];
        const char **sp = strcmp(k, "--to") == 0        ? &o->to
                          : strcmp(k, "--mode") == 0    ? &o->mode
                          : strcmp(k, "--secret") == 0  ? &o->secret
                          : strcmp(k, "--cluster") == 0 ? &o->cluster
                          : strcmp(k, "--id") == 0      ? &o->id
                          : strcmp(k, "--from") == 0    ? &o->from
                                                        : NULL;
        unsigned long *np = strcmp(k, "--count") == 0    ? &o->count
                            : strcmp(k, "--shards") == 0 ? &o->shards
                            : strcmp(k, "--size") == 0   ? &o->size
                            : strcmp(k, "--seed") == 0   ? &o->seed
                            : strcmp(k, "--linger") == 0 ? &o->linger_ms
                                                         : NULL;
        char *end;
        if (sp)
            *sp = v;
        else if (!np)
            return usage("unknown option");
        else if ((*np = strtoul(v, &end, 10), *v == '\0' || *end != '\0'))
            return usage("expected a number");
    }
    if (!o->to || !o->mode)
        return usage("--to and --mode are required");
    static const char *const modes[] = {"garbage", "truncated", "oversize",
                                        "wrong-secret", "bad-version", "bad-payload"};
    bool known = false;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        known = known || strcmp(o->mode, modes[i]) == 0;
    if (!known)
        return usage("unknown --mode");
    if (o->size == 0 || o->size > (64u << 20))
        return usage("--size must be 1..64 MiB");
    return -1;
}

static uint8_t *random_bytes(sh_rng_t *rng, size_t n)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; b && i < n; i++)
        b[i] = (uint8_t)sh_rng_next(rng);
    return b;
}

/* A well-formed frame for the mode; `secret` signs it. */
static int make_frame(const inj_opts_t *o, sh_rng_t *rng, uint8_t version,
                      uint8_t **out, size_t *out_len)
{
    wire_key_t key;
    wire_limits_t lim;
    wire_key_init(&key, o->secret);
    wire_limits_default(&lim);
    wire_hdr_t h = {.version = version, .kind = WIRE_KIND_SWIM};
    snprintf(h.src_id, sizeof(h.src_id), "%s", o->id);
    snprintf(h.src_addr, sizeof(h.src_addr), "%s", o->from);
    snprintf(h.cluster, sizeof(h.cluster), "%s", o->cluster);
    h.shards = (uint32_t)o->shards;
    uint8_t payload[48];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)sh_rng_next(rng);
    return wire_encode(&key, &lim, &h, payload, sizeof(payload), out, out_len);
}

/* One frame for `mode`: a malloc'd buffer in *out, or an error code. */
static int build(const inj_opts_t *o, sh_rng_t *rng, uint8_t **out, size_t *len)
{
    const char *m = o->mode;
    *out = NULL;
    if (strcmp(m, "garbage") == 0) {
        *len = 1 + sh_rng_below(rng, 256);
        *out = random_bytes(rng, *len);
        return *out ? 0 : -ENOMEM;
    }
    if (strcmp(m, "oversize") == 0) {
        *len = o->size;
        *out = random_bytes(rng, *len);
        return *out ? 0 : -ENOMEM;
    }
    if (strcmp(m, "wrong-secret") == 0 || strcmp(m, "bad-payload") == 0)
        return make_frame(o, rng, WIRE_VERSION, out, len);
    if (strcmp(m, "bad-version") == 0)
        return make_frame(o, rng, 99, out, len);
    if (strcmp(m, "truncated") == 0) {
        int rc = make_frame(o, rng, WIRE_VERSION, out, len);
        if (rc == 0) /* cut anywhere: keep 1 .. len-1 bytes */
            *len = 1 + sh_rng_below(rng, *len - 1);
        return rc;
    }
    return SH_EBAD_REQUEST;
}

static int send_all(nng_socket s, const inj_opts_t *o, sh_rng_t *rng)
{
    for (unsigned long i = 0; i < o->count; i++) {
        uint8_t *f;
        size_t len;
        int rc = build(o, rng, &f, &len);
        if (rc < 0) {
            fprintf(stderr, "shoal_inject: building frame: %s\n", sh_strerror(rc));
            return 1;
        }
        int rv = nng_send(s, f, len, 0);
        free(f);
        if (rv != 0) {
            fprintf(stderr, "shoal_inject: send %lu to %s: %s\n", i, o->to, nng_strerror(rv));
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    inj_opts_t o;
    int ex = opts_parse(&o, argc, argv);
    if (ex >= 0)
        return ex;
    sh_rng_t rng;
    sh_rng_seed(&rng, o.seed);

    nng_socket s;
    char url[128];
    snprintf(url, sizeof(url), "tcp://%s", o.to);
    int rv = nng_push0_open(&s);
    if (rv == 0)
        rv = nng_setopt_ms(s, NNG_OPT_SENDTIMEO, 2000);
    if (rv == 0)
        rv = nng_dial(s, url, NULL, 0);
    if (rv != 0) {
        fprintf(stderr, "shoal_inject: cannot reach %s: %s\n", o.to, nng_strerror(rv));
        return 1;
    }
    ex = send_all(s, &o, &rng);
    if (ex == 0) {
        nng_msleep((nng_duration)o.linger_ms);
        printf("shoal_inject: sent %lu %s frame(s) to %s\n", o.count, o.mode, o.to);
    }
    nng_close(s);
    return ex;
}
