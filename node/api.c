/*
 * api.c - HTTP server, hand-off to the loop, routing and replies; see api.h.
 *
 * Design notes.
 *
 * Threads.  nng calls api_http_cb on one of its threads.  The callback may
 * not touch loop state, so it allocates an api_req_t, pushes it on a
 * bounded MPSC queue and wakes the loop (uv_async_send); the loop drains
 * the whole queue (libuv coalesces wakeups), routes each request and the
 * handler completes the request's nng_aio with a response.  nng_aio_finish
 * only schedules nng's completion on its own task threads, so replying
 * never blocks the loop.
 *
 * Shutdown without races.  The nng side reaches the API only through a
 * small "gate" (mutex + pointer) owned by the nng handler object and freed
 * by the handler's destructor, which nng runs when its last reference
 * drops, i.e. after the server is released *and* every callback in flight
 * has returned.  api_close clears the gate's pointer under the mutex; from
 * then on callbacks answer 503 by themselves, and since a push happens
 * only under the same mutex with the pointer set, the queue drained right
 * after holds every request that will ever reach the loop.  So no aio is
 * left unfinished when the server stops, and no callback touches freed
 * memory.
 *
 * Errors nng answers itself (a body over the limit, a request without a
 * Host header) get a JSON error page, so clients always see errorCode.
 */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "sh_err.h"
#include "sh_log.h"
#include "sh_mpsc.h"

typedef struct api_gate {
    pthread_mutex_t mu;
    api_t *api; /* NULL once closing */
} api_gate_t;

struct api {
    uv_loop_t *loop;
    uv_async_t async;
    sh_mpsc_t queue;
    nng_http_server *server;
    api_gate_t *gate;
    const api_route_t *routes;
    size_t nroutes;
    bool debug;
    bool started;
    bool closed;
    void *udata;
};

/* ---- replies (any thread for api_finish; loop thread otherwise) ------- */

static void api_finish(nng_aio *aio, int status, const char *ctype, const void *data,
                       size_t len)
{
    nng_http_res *res;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM); /* nng drops the connection */
        return;
    }
    if (nng_http_res_set_status(res, (uint16_t)status) != 0 ||
        nng_http_res_set_header(res, "Content-Type", ctype) != 0 ||
        (len > 0 && nng_http_res_copy_data(res, data, len) != 0)) {
        nng_http_res_free(res);
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

/* {"errorCode":...,"message":...} for a request that never reached the loop. */
static void api_finish_error(nng_aio *aio, int err, const char *msg)
{
    char body[256];
    json_t *j = json_pack("{s:s,s:s}", "errorCode", sh_err_name(err), "message", msg);
    size_t n = j ? json_dumpb(j, body, sizeof body, JSON_COMPACT) : 0;
    json_decref(j);
    if (n == 0 || n > sizeof body)
        n = (size_t)snprintf(body, sizeof body, "{\"errorCode\":\"internal\"}");
    api_finish(aio, sh_err_http(err), "application/json", body, n);
}

void api_reply_data(api_req_t *r, int status, const char *ctype, const void *data, size_t len)
{
    api_finish(r->aio_, status, ctype, data, len);
    free(r);
}

void api_reply_json(api_req_t *r, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        api_finish_error(r->aio_, SH_ENOMEM, "out of memory building the response");
        free(r);
        return;
    }
    api_reply_data(r, status, "application/json", text, strlen(text));
    free(text);
}

void api_reply_error(api_req_t *r, int err, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s,s:s}", "errorCode", sh_err_name(err), "message", msg);
    api_reply_json(r, status ? status : sh_err_http(err), j);
}

json_t *api_body_object(const api_req_t *r, char *err, size_t errcap)
{
    if (!r->body || r->body_len == 0) {
        snprintf(err, errcap, "a JSON object body is required");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errcap, "body is not valid JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errcap, "body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- nng thread ------------------------------------------------------ */

static void api_http_cb(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    api_gate_t *g = nng_http_handler_get_data(h);
    api_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        api_finish_error(aio, SH_ENOMEM, "out of memory");
        return;
    }
    r->aio_ = aio;
    r->http_ = nng_aio_get_input(aio, 0);
    int rc = SH_ECLOSED;
    pthread_mutex_lock(&g->mu);
    if (g->api && (rc = sh_mpsc_push(&g->api->queue, r)) == 0)
        uv_async_send(&g->api->async);
    pthread_mutex_unlock(&g->mu);
    if (rc != 0) {
        free(r);
        api_finish_error(aio, rc == SH_EFULL ? SH_EBUSY : SH_ECLOSED,
                         rc == SH_EFULL ? "too many requests in flight, retry"
                                        : "node is shutting down");
    }
}

static void api_gate_free(void *p)
{
    api_gate_t *g = p;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* ---- routing (loop thread) ------------------------------------------- */

static int api_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n) into out (cap bytes).  -1 on a bad escape, an
 * embedded NUL or overflow. */
static int api_pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = api_hexval(s[i + 1]), lo = api_hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Match `path` against `pattern`, capturing {name} segments into r.
 * 1 on a match, 0 if not, -1 if a capture is malformed or too long. */
static int api_match(const char *pattern, const char *path, api_req_t *r)
{
    const char *p = pattern, *s = path;
    r->nparams = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *pend = strchr(p, '}');
            size_t n = strcspn(s, "/");
            if (!pend || n == 0 || r->nparams == API_PARAMS_MAX)
                return 0;
            if (api_pct_decode(s, n, r->params[r->nparams], API_PARAM_MAX) != 0)
                return -1;
            r->nparams++;
            p = pend + 1;
            s += n;
            continue;
        }
        if (*p != *s)
            return 0;
        p++, s++;
    }
    return (*p == '\0' && *s == '\0') ? 1 : 0;
}

/* Split the URI into path and query; 0, or -1 if the path is too long. */
static int api_parse_uri(api_req_t *r, const char *uri)
{
    size_t n = strcspn(uri, "?");
    if (n >= sizeof r->path)
        return -1;
    memcpy(r->path, uri, n);
    r->path[n] = '\0';
    r->query = uri[n] == '?' ? uri + n + 1 : "";
    return 0;
}

static void api_dispatch(api_t *a, api_req_t *r)
{
    nng_http_req *hr = r->http_;
    void *body = NULL;
    r->udata = a->udata;
    r->method = nng_http_req_get_method(hr);
    nng_http_req_get_data(hr, &body, &r->body_len);
    r->body = body;
    if (api_parse_uri(r, nng_http_req_get_uri(hr)) != 0) {
        api_reply_error(r, SH_ETOO_BIG, 414, "request path longer than %d bytes", API_PATH_MAX - 1);
        return;
    }
    const char *m = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    bool path_known = false;
    for (size_t i = 0; i < a->nroutes; i++) {
        const api_route_t *rt = &a->routes[i];
        if ((rt->flags & API_ROUTE_DEBUG) && !a->debug)
            continue;
        int k = api_match(rt->pattern, r->path, r);
        if (k < 0) {
            api_reply_error(r, SH_EBAD_REQUEST, 0, "bad percent-encoding in path %s", r->path);
            return;
        }
        if (k == 0)
            continue;
        path_known = true;
        if (strcmp(rt->method, m) != 0)
            continue;
        int rc = rt->fn(r);
        if (rc != 0)
            api_reply_error(r, rc, 0, "%s", sh_strerror(rc));
        return;
    }
    if (path_known)
        api_reply_error(r, SH_EBAD_REQUEST, 405, "method %s not allowed on %s", r->method,
                        r->path);
    else
        api_reply_error(r, SH_ENOT_FOUND, 0, "no such endpoint: %s %s", r->method, r->path);
}

static void api_async_cb(uv_async_t *h)
{
    api_t *a = h->data;
    api_req_t *r;
    while ((r = sh_mpsc_pop(&a->queue)) != NULL) {
        if (a->closed)
            api_reply_error(r, SH_ECLOSED, 0, "node is shutting down");
        else
            api_dispatch(a, r);
    }
}

/* ---- lifecycle ------------------------------------------------------- */

static int api_nng_err(int rv, const char *what, const char *addr)
{
    SH_LOGE("http_error", "op=%s addr=%s err=\"%s\"", what, addr, nng_strerror(rv));
    switch (rv) {
    case NNG_EADDRINUSE:
        return -EADDRINUSE;
    case NNG_ENOMEM:
        return -ENOMEM;
    case NNG_EADDRINVAL:
    case NNG_EINVAL:
        return SH_EBAD_REQUEST;
    default:
        return SH_EINTERNAL;
    }
}

static void api_shutdown(api_t *a, uv_close_cb cb);
static void api_free_cb(uv_handle_t *h);

static const char api_err_400[] =
    "{\"errorCode\":\"bad_request\",\"message\":\"malformed request, or body over 1 MiB\"}";

/* Allocate the catch-all handler (its gate included) and register it.
 * Never inlined: main.c's LeakSanitizer suppression names this frame. */
static __attribute__((noinline)) int api_handler_add(api_t *a, const char *addr)
{
    nng_http_handler *h;
    int rv = nng_http_handler_alloc(&h, "/", api_http_cb);
    if (rv != 0)
        return api_nng_err(rv, "handler_alloc", addr);
    api_gate_t *g = calloc(1, sizeof *g);
    if (!g) {
        nng_http_handler_free(h);
        return -ENOMEM;
    }
    pthread_mutex_init(&g->mu, NULL);
    g->api = a;
    if ((rv = nng_http_handler_set_data(h, g, api_gate_free)) != 0) {
        api_gate_free(g);
        nng_http_handler_free(h);
        return api_nng_err(rv, "handler_set_data", addr);
    }
    /* From here on the handler owns g: freeing h frees g. */
    if ((rv = nng_http_handler_set_method(h, NULL)) != 0 ||
        (rv = nng_http_handler_set_tree(h)) != 0 ||
        (rv = nng_http_handler_collect_body(h, true, API_BODY_MAX)) != 0 ||
        (rv = nng_http_server_add_handler(a->server, h)) != 0) {
        nng_http_handler_free(h);
        return api_nng_err(rv, "handler_add", addr);
    }
    a->gate = g; /* valid until the server releases the handler */
    return 0;
}

static int api_server_start(api_t *a, const char *addr)
{
    char url_s[128];
    nng_url *url;
    snprintf(url_s, sizeof url_s, "http://%s", addr);
    int rv = nng_url_parse(&url, url_s);
    if (rv != 0)
        return api_nng_err(rv, "url_parse", addr);
    rv = nng_http_server_hold(&a->server, url);
    nng_url_free(url);
    if (rv != 0)
        return api_nng_err(rv, "server_hold", addr);
    int rc = api_handler_add(a, addr);
    if (rc != 0)
        return rc;
    nng_http_server_set_error_page(a->server, 400, api_err_400);
    if ((rv = nng_http_server_start(a->server)) != 0)
        return api_nng_err(rv, "server_start", addr);
    a->started = true;
    return 0;
}

int api_new(api_t **out, uv_loop_t *loop, const char *addr, const api_route_t *routes,
            size_t nroutes, bool debug, void *udata)
{
    *out = NULL;
    api_t *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->loop = loop;
    a->routes = routes;
    a->nroutes = nroutes;
    a->debug = debug;
    a->udata = udata;
    int rc = sh_mpsc_init(&a->queue, API_QUEUE_CAP);
    if (rc != 0) {
        free(a);
        return rc;
    }
    if ((rc = uv_async_init(loop, &a->async, api_async_cb)) != 0) {
        sh_mpsc_fini(&a->queue);
        free(a);
        return rc;
    }
    a->async.data = a;
    if ((rc = api_server_start(a, addr)) != 0) {
        /* The async handle is open: it frees `a` once closed, which needs
         * one more run of the loop (the node runs it to close everything). */
        api_shutdown(a, api_free_cb);
        return rc;
    }
    *out = a;
    return 0;
}

static void api_free_cb(uv_handle_t *h)
{
    api_free(h->data);
}

static void api_shutdown(api_t *a, uv_close_cb cb)
{
    a->closed = true;
    if (a->gate) {
        pthread_mutex_lock(&a->gate->mu);
        a->gate->api = NULL;
        pthread_mutex_unlock(&a->gate->mu);
    }
    api_req_t *r;
    while ((r = sh_mpsc_pop(&a->queue)) != NULL)
        api_reply_error(r, SH_ECLOSED, 0, "node is shutting down");
    if (a->server) {
        if (a->started)
            nng_http_server_stop(a->server);
        nng_http_server_release(a->server);
        a->server = NULL;
    }
    uv_close((uv_handle_t *)&a->async, cb);
}

void api_close(api_t *a)
{
    if (a && !a->closed)
        api_shutdown(a, NULL);
}

void api_free(api_t *a)
{
    if (!a)
        return;
    sh_mpsc_fini(&a->queue);
    free(a);
}
