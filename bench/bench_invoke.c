/*
 * bench_invoke.c - entity calls against a running cluster, through the
 * native client (include/shoal/client.h) or the HTTP API, with N
 * concurrent callers; reports calls/s and latency percentiles.
 *
 *   bench_invoke native|http ADDRS THREADS SECONDS [IDS]
 *       ADDRS: comma-separated node addresses (cluster addresses for
 *       native, HTTP addresses for http).  Caller i uses node i % n and
 *       calls counter/"b<i>-<k>" add {"by":1} for k = 0, 1, ..., IDS-1, 0, ...
 *       (IDS default 64), one call at a time: a closed loop, so latency is
 *       what one caller waits and calls/s is what THREADS callers get.
 *       Native callers on the same node share one client (it is
 *       thread-safe); HTTP callers each hold one keep-alive connection.
 *   bench_invoke activate ADDR N WINDOW
 *       N calls counter/"m<k>" get through one native client, WINDOW in
 *       flight (invoke_async): activates N entities on the node (used to
 *       measure a real shoald's memory per active entity).
 *
 * Environment: BENCH_SHARED=1 makes every caller use the one entity
 * "shared" (one entity's throughput under concurrency); BENCH_CART=1 makes
 * HTTP callers send cart AddItem {"itemId":"i<k%10>"} instead of counter
 * add (every call is a durable write either way).
 *
 * The secret comes from SHOAL_SECRET.  Output: one JSON object on stdout.
 * A call that fails is counted (errors) and its latency is not recorded;
 * the run fails (exit 1) if more than 1% of calls fail.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shoal/client.h"

#define BI_NODES_MAX 8
#define BI_THREADS_MAX 256

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_invoke: %s: %s\n", what, detail);
    exit(1);
}

/* ---- latency samples ----------------------------------------------------- */

typedef struct samples {
    uint32_t *us; /* microseconds */
    size_t n, cap;
} samples_t;

static void samples_add(samples_t *s, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->us = realloc(s->us, s->cap * sizeof *s->us);
        if (!s->us)
            die("realloc", "out of memory");
    }
    s->us[s->n++] = (uint32_t)(ns / 1000u);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* ---- HTTP/1.1 keep-alive caller ----------------------------------------- */

typedef struct http_conn {
    int fd;
    char host[64];
    char port[8];
    char buf[65536];
    size_t have;
} http_conn_t;

static int http_connect(http_conn_t *h)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(h->host, h->port, &hints, &ai) != 0)
        return -1;
    h->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (h->fd < 0 || connect(h->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        freeaddrinfo(ai);
        if (h->fd >= 0)
            close(h->fd);
        h->fd = -1;
        return -1;
    }
    freeaddrinfo(ai);
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    h->have = 0;
    return 0;
}

/* Read until the whole response (headers + Content-Length body) is in
 * buf.  Returns the HTTP status, or -1 (connection lost).  Sets *close if
 * the server will close the connection. */
static int http_read_response(http_conn_t *h, bool *close_after)
{
    for (;;) {
        h->buf[h->have] = '\0';
        char *end = strstr(h->buf, "\r\n\r\n");
        if (end) {
            int status = 0;
            long clen = 0;
            sscanf(h->buf, "HTTP/1.%*d %d", &status);
            const char *cl = strcasestr(h->buf, "\r\ncontent-length:");
            if (cl && cl < end)
                clen = atol(cl + 17);
            *close_after = strcasestr(h->buf, "\r\nconnection: close") != NULL;
            size_t total = (size_t)(end + 4 - h->buf) + (size_t)clen;
            if (h->have >= total) {
                memmove(h->buf, h->buf + total, h->have - total);
                h->have -= total;
                return status;
            }
        }
        if (h->have + 1 >= sizeof h->buf)
            return -1;
        ssize_t r = read(h->fd, h->buf + h->have, sizeof h->buf - 1 - h->have);
        if (r <= 0)
            return -1;
        h->have += (size_t)r;
    }
}

static bool bench_cart;

/* One POST; the HTTP status, or -1. */
static int http_call(http_conn_t *h, const char *id, long k)
{
    char req[512], body[64];
    int bl = bench_cart ? snprintf(body, sizeof body, "{\"itemId\":\"i%ld\"}", k % 10)
                        : snprintf(body, sizeof body, "{\"by\":1}");
    int n = snprintf(req, sizeof req,
                     "POST /v1.0/actors/%s/%s/method/%s HTTP/1.1\r\nHost: %s:%s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     bench_cart ? "cart" : "counter", id, bench_cart ? "AddItem" : "add",
                     h->host, h->port, bl, body);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (h->fd < 0 && http_connect(h) != 0)
            return -1;
        bool close_after = false;
        int st = -1;
        if (write(h->fd, req, (size_t)n) == n)
            st = http_read_response(h, &close_after);
        if (st < 0 || close_after) {
            close(h->fd);
            h->fd = -1;
        }
        if (st > 0)
            return st;
    }
    return -1;
}

/* ---- callers ----------------------------------------------------------- */

typedef struct caller {
    int index;
    bool http;
    shoal_client_t *client;
    http_conn_t *conn;
    long ids;
    bool shared;
    uint64_t until_ns;
    samples_t lat;
    long errors;
} caller_t;

static void *caller_main(void *arg)
{
    caller_t *c = arg;
    char id[64];
    for (long k = 0; now_ns() < c->until_ns; k++) {
        if (c->shared)
            snprintf(id, sizeof id, "shared");
        else
            snprintf(id, sizeof id, "b%d-%ld", c->index, k % c->ids);
        uint64_t t0 = now_ns();
        bool ok;
        if (c->http) {
            ok = http_call(c->conn, id, k) == 200;
        } else {
            uint8_t *rep;
            size_t len;
            ok = shoal_client_invoke(c->client, "counter", id, "add", "{\"by\":1}", 8, 0, &rep,
                                     &len, NULL, 0) == 0;
            if (ok)
                free(rep);
        }
        if (ok)
            samples_add(&c->lat, now_ns() - t0);
        else
            c->errors++;
    }
    return NULL;
}

static int split_addrs(char *list, char **out)
{
    int n = 0;
    for (char *s = strtok(list, ","); s && n < BI_NODES_MAX; s = strtok(NULL, ","))
        out[n++] = s;
    return n;
}

static shoal_client_t *client_for(const char *addr, uint32_t max_pending)
{
    shoal_client_config_t cfg = {.node_addr = addr, .secret = getenv("SHOAL_SECRET"),
                                 .max_pending = max_pending};
    shoal_client_t *c;
    int rc = shoal_client_new(&c, &cfg);
    if (rc != 0)
        die("shoal_client_new", shoal_client_err_name(rc));
    return c;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report(const char *proto, int threads, double secs, double cpu, caller_t *cs)
{
    samples_t all = {0};
    long errors = 0;
    for (int i = 0; i < threads; i++) {
        for (size_t j = 0; j < cs[i].lat.n; j++)
            samples_add(&all, (uint64_t)cs[i].lat.us[j] * 1000u);
        errors += cs[i].errors;
    }
    if (all.n == 0)
        die("no call succeeded", proto);
    qsort(all.us, all.n, sizeof *all.us, cmp_u32);
    printf("{\"bench\":\"invoke\",\"proto\":\"%s\",\"threads\":%d,\"seconds\":%.2f,"
           "\"calls\":%zu,\"errors\":%ld,\"calls_per_s\":%.0f,\"p50_us\":%u,\"p99_us\":%u,"
           "\"max_us\":%u,\"client_cpu_us_per_call\":%.1f}\n",
           proto, threads, secs, all.n, errors, (double)all.n / secs, all.us[all.n / 2],
           all.us[(size_t)((double)all.n * 0.99)], all.us[all.n - 1],
           cpu * 1e6 / (double)all.n);
    if (errors * 100 > (long)all.n)
        die("more than 1% of calls failed", proto);
    free(all.us);
}

static int cmd_run(bool http, char *addrs, int threads, double secs, long ids)
{
    char *nodes[BI_NODES_MAX];
    int nn = split_addrs(addrs, nodes);
    if (nn == 0 || threads < 1 || threads > BI_THREADS_MAX || secs <= 0 || ids < 1)
        die("bad arguments", addrs);
    shoal_client_t *clients[BI_NODES_MAX] = {0};
    caller_t *cs = calloc((size_t)threads, sizeof *cs);
    pthread_t th[BI_THREADS_MAX];
    for (int i = 0; i < nn && !http; i++)
        clients[i] = client_for(nodes[i], 0);
    uint64_t until = now_ns() + (uint64_t)(secs * 1e9);
    for (int i = 0; i < threads; i++) {
        cs[i] = (caller_t){.index = i, .http = http, .client = clients[i % nn], .ids = ids,
                           .shared = getenv("BENCH_SHARED") != NULL,
                           .until_ns = until};
        if (http) {
            cs[i].conn = calloc(1, sizeof *cs[i].conn);
            char *colon = strrchr(nodes[i % nn], ':');
            if (!cs[i].conn || !colon)
                die("bad HTTP address", nodes[i % nn]);
            snprintf(cs[i].conn->host, sizeof cs[i].conn->host, "%.*s",
                     (int)(colon - nodes[i % nn]), nodes[i % nn]);
            snprintf(cs[i].conn->port, sizeof cs[i].conn->port, "%s", colon + 1);
            cs[i].conn->fd = -1;
        }
    }
    uint64_t t0 = now_ns();
    double cpu0 = cpu_s();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, caller_main, &cs[i]) != 0)
            die("pthread_create", "");
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    report(http ? "http" : "native", threads, (double)(now_ns() - t0) / 1e9, cpu_s() - cpu0,
           cs);
    for (int i = 0; i < threads; i++) {
        if (cs[i].conn && cs[i].conn->fd >= 0)
            close(cs[i].conn->fd);
        free(cs[i].conn);
        free(cs[i].lat.us);
    }
    for (int i = 0; i < nn; i++)
        shoal_client_free(clients[i]);
    free(cs);
    return 0;
}

/* ---- activate: many entities through invoke_async ------------------------ */

typedef struct act {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long inflight, done, errors;
} act_t;

static void act_done(void *udata, int status, const uint8_t *reply, size_t len,
                     const char *errmsg)
{
    act_t *a = udata;
    pthread_mutex_lock(&a->mu);
    if (status != 0 && a->errors++ == 0)
        fprintf(stderr, "bench_invoke: activate: %s: %s\n", shoal_client_err_name(status),
                errmsg);
    a->done++;
    a->inflight--;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static int cmd_activate(const char *addr, long n, long window)
{
    shoal_client_t *c = client_for(addr, (uint32_t)window * 2);
    act_t a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    char id[32];
    uint64_t t0 = now_ns();
    for (long k = 0; k < n; k++) {
        pthread_mutex_lock(&a.mu);
        while (a.inflight >= window)
            pthread_cond_wait(&a.cv, &a.mu);
        a.inflight++;
        pthread_mutex_unlock(&a.mu);
        snprintf(id, sizeof id, "m%07ld", k);
        int rc;
        while ((rc = shoal_client_invoke_async(c, "counter", id, "get", NULL, 0, 30000,
                                               act_done, &a)) == SHOAL_EBUSY)
            usleep(1000);
        if (rc != 0)
            die("invoke_async", shoal_client_err_name(rc));
    }
    pthread_mutex_lock(&a.mu);
    while (a.done < n)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("{\"bench\":\"activate_remote\",\"entities\":%ld,\"errors\":%ld,\"seconds\":%.2f,"
           "\"calls_per_s\":%.0f}\n", n, a.errors, secs, (double)n / secs);
    shoal_client_free(c);
    return a.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_cart = getenv("BENCH_CART") != NULL;
    if (argc >= 5 && argc <= 6 && (strcmp(argv[1], "native") == 0 ||
                                   strcmp(argv[1], "http") == 0))
        return cmd_run(strcmp(argv[1], "http") == 0, argv[2], atoi(argv[3]), atof(argv[4]),
                       argc == 6 ? atol(argv[5]) : 64);
    if (argc == 5 && strcmp(argv[1], "activate") == 0)
        return cmd_activate(argv[2], atol(argv[3]), atol(argv[4]));
    fprintf(stderr, "usage: bench_invoke native|http ADDRS THREADS SECONDS [IDS]\n"
                    "       bench_invoke activate ADDR N WINDOW\n");
    return 2;
}
