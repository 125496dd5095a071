/*
 * ctl_native.h - `shoalctl invoke` over the native client
 * (include/shoal/client.h) instead of the HTTP API: what runs when a peer
 * (--peer / SHOAL_PEER, a node's CLUSTER address) is given.
 *
 * Thread: blocks the calling thread until the reply or the deadline; one
 * client per call, created and freed here (a CLI makes one call per run).
 */
#ifndef CTL_NATIVE_H
#define CTL_NATIVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ctl_native_opts {
    const char *peer;     /* "host:port" of a node's --bind / --advertise */
    const char *cluster;  /* NULL: the daemon's default, "shoal" */
    const char *secret;   /* NULL: none, the daemon's default */
    uint32_t shards;      /* 0: the daemon's default, 256 */
    uint32_t timeout_ms;  /* the call's deadline */
    const char *idem_key; /* NULL or "": none; at most SHOAL_CLIENT_IDEM_MAX bytes */
} ctl_native_opts_t;

/* Call method of type/id with body (NUL-terminated JSON, or NULL for
 * none) through a fresh native client to o->peer, and wait.
 *   0      *reply is the entity's reply (malloc'd, NUL-terminated for
 *          printing; *rlen excludes the NUL), owned by the caller;
 *   < 0    a SHOAL_E* code of shoal/client.h or -ENOMEM; *reply is NULL
 *          and err (errcap bytes) holds the client's or node's message
 *          ("" when there is none).  Creating the client can fail with
 *          SHOAL_EBAD_REQUEST (peer not host:port, a name that does not
 *          resolve) or SHOAL_EUNAVAILABLE (no local port for the replies),
 *          the call itself with every code shoal_client_invoke_opts
 *          documents: a wrong secret is SHOAL_EUNAVAILABLE ("refused:
 *          ..."), a peer that does not answer SHOAL_ETIMEOUT. */
int ctl_native_invoke(const ctl_native_opts_t *o, const char *type, const char *id,
                      const char *method, const char *body, char **reply, size_t *rlen,
                      char *err, size_t errcap);

#endif
