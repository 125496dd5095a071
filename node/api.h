/*
 * api.h - the HTTP API server: nng's HTTP server in front, the node loop
 * behind.
 *
 * One nng handler catches every path and method.  It runs on an nng thread
 * and only hands the request (with its nng_aio) to the loop through a
 * bounded MPSC queue and a uv_async_t.  On the loop the request is matched
 * against a route table and its handler builds the response, so handlers
 * read loop-owned state without locks.  Adding an endpoint is one row in
 * the table:
 *
 *     {"GET", "/v1/cluster/shards/{n}", api_cluster_shard, 0},
 *
 * `{name}` matches one non-empty path segment, percent-decoded into
 * r->params[] in order.  A path that matches no route gets 404 not_found;
 * one that matches only with another method gets 405 (errorCode
 * bad_request).  HEAD is served by GET routes.  Bodies are collected by
 * nng up to API_BODY_MAX; a larger one is refused with 400 before any
 * handler runs.
 *
 * Error bodies are always {"errorCode": sh_err_name(err), "message": ...}.
 */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#define API_BODY_MAX (1u << 20)   /* request bodies over 1 MiB are refused */
#define API_QUEUE_CAP 4096        /* requests waiting for the loop */
#define API_PATH_MAX 1024
#define API_PARAMS_MAX 8
#define API_PARAM_MAX 256

/* Route flags. */
#define API_ROUTE_DEBUG 1u /* only served when enabled (--debug-faults); else 404 */

typedef struct api api_t;

/* One request, owned by the API until a handler replies. */
typedef struct api_req {
    void *udata;        /* the udata given to api_new (the node) */
    const char *method; /* "GET", "POST", ... (HEAD shows as "HEAD") */
    char path[API_PATH_MAX];    /* percent-encoded, without the query */
    const char *query;          /* after '?', or "" */
    const uint8_t *body;        /* request body, body_len bytes (NULL if none) */
    size_t body_len;
    char params[API_PARAMS_MAX][API_PARAM_MAX]; /* {name} captures, decoded */
    size_t nparams;
    /* private */
    void *aio_;
    void *http_;
} api_req_t;

/* A handler replies exactly once with one of api_reply_* (now, or later
 * from the loop thread) and returns 0; or it returns an error code without
 * replying, and the API answers with that error. */
typedef int (*api_handler_fn)(api_req_t *r);

typedef struct api_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/cluster/members", "/v1/x/{id}" */
    api_handler_fn fn;
    unsigned flags;      /* API_ROUTE_* */
} api_route_t;

/* Start serving HTTP on `addr` ("host:port").  `routes` (nroutes rows) must
 * outlive the API; routes flagged API_ROUTE_DEBUG are served only when
 * `debug` is true.  0, SH_EBAD_REQUEST for a bad address, -EADDRINUSE,
 * another code translated from nng (logged), -ENOMEM.  Loop thread.  On
 * success the caller must api_close, run the loop until handles close,
 * then api_free.  On error *out is NULL; what was opened is closed and
 * freed by the loop's next run (the caller runs it to close its handles). */
int api_new(api_t **out, uv_loop_t *loop, const char *addr, const api_route_t *routes,
            size_t nroutes, bool debug, void *udata);

/* Stop: requests arriving from now on are answered 503 unavailable on the
 * nng thread, queued ones are answered 503 here, the server stops and the
 * async handle starts closing.  Handlers must have replied to every request
 * they kept.  Idempotent; loop thread. */
void api_close(api_t *a);

/* Free after api_close once the loop has run the close callbacks.
 * Accepts NULL. */
void api_free(api_t *a);

/* Reply with a JSON body (takes the reference to `body`) and status. */
void api_reply_json(api_req_t *r, int status, json_t *body);
/* Reply with `len` bytes of `data` (copied) and the given content type. */
void api_reply_data(api_req_t *r, int status, const char *ctype, const void *data, size_t len);
/* Reply {"errorCode": sh_err_name(err), "message": ...} with status
 * sh_err_http(err); `status` overrides it when non-zero (405, 413). */
void api_reply_error(api_req_t *r, int err, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse the body as a JSON object.  NULL (and a message in err) if it is
 * missing, not JSON or not an object.  The caller owns the result. */
json_t *api_body_object(const api_req_t *r, char *err, size_t errcap);

#endif
