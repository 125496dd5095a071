/*
 * ctl_http.c - blocking HTTP request over nng's HTTP client.
 *
 * Design notes.  nng's client is asynchronous; the CLI wants one call that
 * returns an answer, so we start the transaction on an aio with no callback
 * and nng_aio_wait() for it.  The aio's timeout covers the whole
 * transaction, which is the deadline a person at a terminal cares about.
 * nng error codes stop here: they become the SH_E* the header documents,
 * and nng's text goes into `err` for the one-line message.
 */
#include "ctl_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "sh_err.h"

static int map_nng_err(int rv)
{
    switch (rv) {
    case NNG_ENOMEM:
        return -ENOMEM;
    case NNG_ETIMEDOUT:
        return SH_ETIMEOUT;
    case NNG_EADDRINVAL:
    case NNG_EINVAL:
        return SH_EBAD_REQUEST;
    case NNG_EPROTO:
        return SH_EMALFORMED;
    default:
        /* ECONNREFUSED, EUNREACHABLE, ECONNRESET, ECLOSED, ECONNSHUT ... */
        return SH_EUNAVAILABLE;
    }
}

/* Copy the response body out of nng's object into a NUL-terminated heap
 * string, so the caller owns plain memory. */
static int copy_body(nng_http_res *hres, ctl_http_res_t *res)
{
    void *data = NULL;
    size_t len = 0;
    nng_http_res_get_data(hres, &data, &len);
    res->body = malloc(len + 1);
    if (!res->body)
        return -ENOMEM;
    if (len)
        memcpy(res->body, data, len);
    res->body[len] = '\0';
    res->len = len;
    res->status = nng_http_res_get_status(hres);
    return 0;
}

static int build_url(char *buf, size_t cap, const char *node, const char *path)
{
    if (!node || !*node || !path || path[0] != '/')
        return SH_EBAD_REQUEST;
    const char *scheme = strncmp(node, "http://", 7) == 0 ? "" : "http://";
    int n = snprintf(buf, cap, "%s%s%s", scheme, node, path);
    return (n < 0 || (size_t)n >= cap) ? SH_EBAD_REQUEST : 0;
}

/* Everything that is allocated before the transaction; freed together. */
typedef struct http_call {
    nng_url *url;
    nng_http_client *cli;
    nng_http_req *req;
    nng_http_res *res;
    nng_aio *aio;
} http_call_t;

static void call_fini(http_call_t *c)
{
    if (c->aio)
        nng_aio_free(c->aio);
    if (c->res)
        nng_http_res_free(c->res);
    if (c->req)
        nng_http_req_free(c->req);
    if (c->cli)
        nng_http_client_free(c->cli);
    if (c->url)
        nng_url_free(c->url);
}

static int call_init(http_call_t *c, const char *url, const char *method,
                     const char *body, size_t blen, const char *const *hdrs)
{
    int rv;
    if ((rv = nng_url_parse(&c->url, url)) != 0 ||
        (rv = nng_http_client_alloc(&c->cli, c->url)) != 0 ||
        (rv = nng_http_req_alloc(&c->req, c->url)) != 0 ||
        (rv = nng_http_res_alloc(&c->res)) != 0 ||
        (rv = nng_aio_alloc(&c->aio, NULL, NULL)) != 0 ||
        (rv = nng_http_req_set_method(c->req, method)) != 0 ||
        (rv = nng_http_req_set_header(c->req, "Accept", "application/json")) != 0)
        return rv;
    if (blen > 0) {
        if ((rv = nng_http_req_set_header(c->req, "Content-Type", "application/json")) != 0 ||
            (rv = nng_http_req_copy_data(c->req, body, blen)) != 0)
            return rv;
    }
    for (size_t i = 0; hdrs && hdrs[i] && hdrs[i + 1]; i += 2)
        if ((rv = nng_http_req_set_header(c->req, hdrs[i], hdrs[i + 1])) != 0)
            return rv;
    return 0;
}

int ctl_http_request(const char *node, const char *method, const char *path,
                     const char *body, size_t blen, const char *const *hdrs,
                     uint32_t timeout_ms, ctl_http_res_t *res, char *err, size_t errcap)
{
    memset(res, 0, sizeof(*res));
    char url[512];
    if (build_url(url, sizeof(url), node, path) < 0) {
        snprintf(err, errcap, "bad node address or path");
        return SH_EBAD_REQUEST;
    }
    http_call_t c = {0};
    int rv = call_init(&c, url, method, body, blen, hdrs);
    if (rv == 0) {
        nng_aio_set_timeout(c.aio, timeout_ms ? (nng_duration)timeout_ms : NNG_DURATION_DEFAULT);
        nng_http_client_transact(c.cli, c.req, c.res, c.aio);
        nng_aio_wait(c.aio);
        rv = nng_aio_result(c.aio);
    }
    int rc;
    if (rv != 0) {
        snprintf(err, errcap, "%s", nng_strerror(rv));
        rc = map_nng_err(rv);
    } else {
        rc = copy_body(c.res, res);
        if (rc < 0)
            snprintf(err, errcap, "out of memory");
    }
    call_fini(&c);
    return rc;
}

void ctl_http_res_fini(ctl_http_res_t *res)
{
    free(res->body);
    memset(res, 0, sizeof(*res));
}
