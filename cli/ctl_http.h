/*
 * ctl_http.h - one blocking HTTP request to a shoald API, for shoalctl.
 *
 * A thin wrapper over nng's HTTP client (<nng/supplemental/http/http.h>):
 * one connection per request (nng does not pool client connections, and
 * the CLI makes one or two calls per run), a deadline on the whole
 * exchange (connect + request + response), and the body copied out so the
 * caller never touches nng objects.
 *
 * Thread: blocks the calling thread until the response or the deadline;
 * fine for a CLI, never to be used on a loop.
 */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define CTL_HTTP_TIMEOUT_MS_DEFAULT 5000

typedef struct ctl_http_res {
    int status;   /* HTTP status, e.g. 200, 503 */
    char *body;   /* malloc'd, NUL-terminated (len excludes the NUL); never NULL on 0 */
    size_t len;
} ctl_http_res_t;

/* Send `method` `path` (starting with '/') to node "HOST:PORT" (or a full
 * "http://HOST:PORT" URL) with an optional body (Content-Type
 * application/json when blen > 0) and extra headers (hdrs: name, value,
 * name, value, ..., NULL; or NULL for none; copied), and wait at most
 * timeout_ms.
 *   0                a response arrived, whatever its status; *res is
 *                    filled and the caller releases it with ctl_http_res_fini.
 *   SH_EBAD_REQUEST  node or path does not make a URL.
 *   SH_EUNAVAILABLE  the node cannot be reached (refused, unreachable, reset).
 *   SH_ETIMEOUT      no full response within timeout_ms.
 *   SH_EMALFORMED    the peer did not speak HTTP.
 *   -ENOMEM
 * On error, err (errcap bytes) holds the cause as text (nng's wording,
 * e.g. "Connection refused") and *res is zeroed. */
int ctl_http_request(const char *node, const char *method, const char *path,
                     const char *body, size_t blen, const char *const *hdrs,
                     uint32_t timeout_ms, ctl_http_res_t *res, char *err, size_t errcap);

/* Free the body; accepts a zeroed or already released res. */
void ctl_http_res_fini(ctl_http_res_t *res);

#endif
