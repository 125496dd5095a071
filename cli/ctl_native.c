/*
 * ctl_native.c - `shoalctl invoke` through the native client; see
 * ctl_native.h.
 *
 * Design notes.  This is the one place the CLI speaks something other
 * than the HTTP API, because client.h promises a path from the command
 * line to a node's cluster port: it lets an operator check that a node's
 * cluster address, name, secret and shard count accept calls, which HTTP
 * cannot show.  The CLI stays a plain client: one shoal_client_t per run,
 * one synchronous call, no retries (the client never retries either).  The
 * client's reply address is the kernel's choice (NULL reply_addr): the
 * local address that routes to the peer, on an ephemeral port, which the
 * node's transport forgets when this process exits.
 */
#include "ctl_native.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_log.h"
#include "shoal/client.h"

static void msg_set(char *err, size_t errcap, const char *s)
{
    if (err && errcap)
        snprintf(err, errcap, "%s", s ? s : "");
}

/* The reply as a NUL-terminated heap string (the CLI prints it). */
static int reply_own(uint8_t *rep, size_t n, char **reply, size_t *rlen)
{
    char *s = malloc(n + 1);
    if (!s)
        return -ENOMEM;
    if (n)
        memcpy(s, rep, n);
    s[n] = '\0';
    *reply = s;
    *rlen = n;
    return 0;
}

int ctl_native_invoke(const ctl_native_opts_t *o, const char *type, const char *id,
                      const char *method, const char *body, char **reply, size_t *rlen,
                      char *err, size_t errcap)
{
    *reply = NULL;
    *rlen = 0;
    msg_set(err, errcap, "");
    /* The client's transport logs its progress (listening, dialling) on
     * stderr, where the CLI promises one line per failure: keep only the
     * transport's own errors.  Before shoal_client_new, which starts the
     * only threads that log. */
    sh_log_init("shoalctl", SH_LOG_ERROR, false);
    shoal_client_config_t cfg = {
        .node_addr = o->peer,
        .cluster = o->cluster,
        .secret = o->secret,
        .shards = o->shards,
        .timeout_ms = o->timeout_ms,
        .max_pending = 1,
    };
    shoal_client_t *c;
    int rc = shoal_client_new(&c, &cfg);
    if (rc != 0) {
        msg_set(err, errcap, rc == SHOAL_EBAD_REQUEST
                                 ? "bad peer address (HOST:PORT), cluster name or reply address"
                             : rc == SHOAL_EUNAVAILABLE ? "cannot listen for the node's replies"
                             : rc > -9000               ? strerror(-rc) /* -errno */
                                                        : "cannot start the client");
        return rc;
    }
    shoal_client_call_opts_t co = {.timeout_ms = o->timeout_ms, .idem_key = o->idem_key};
    uint8_t *rep = NULL;
    size_t n = 0;
    char msg[SHOAL_CLIENT_ERRMSG_MAX] = "";
    rc = shoal_client_invoke_opts(c, type, id, method, body, body ? strlen(body) : 0, &co,
                                  &rep, &n, msg, sizeof msg);
    shoal_client_free(c);
    if (rc == 0) {
        rc = reply_own(rep, n, reply, rlen);
        if (rc != 0)
            msg_set(err, errcap, "out of memory for the reply");
    } else {
        msg_set(err, errcap, msg);
    }
    free(rep);
    return rc;
}
