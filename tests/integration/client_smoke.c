/*
 * client_smoke.c - drive the native client (include/shoal/client.h)
 * against running nodes; run by test_client.py.  Exit 0 when every check
 * holds, 1 (with a line on stderr saying which) otherwise.
 *
 *   client_smoke add NODE ID N THREADS
 *       THREADS threads each call counter/ID add {"by":1} N times through
 *       one shared client; every reply must be {"value":v} with v > 0 and
 *       all values distinct (each add saw its own turn); then get must
 *       answer the largest v.  Prints "final=<v>".
 *   client_smoke async NODE ID N WINDOW
 *       N adds with invoke_async, at most WINDOW in flight; checks as above.
 *   client_smoke errors NODE
 *       unknown type -> SHOAL_ENOT_FOUND, bad arguments -> SHOAL_EBAD_REQUEST
 *       without sending, an oversized body -> SHOAL_ETOO_BIG, a cart's 11th
 *       item -> SHOAL_ECONFLICT "cart is full", an idempotency key of 129
 *       bytes -> SHOAL_EBAD_REQUEST without sending, one of 128 accepted.
 *   client_smoke unreachable ADDR TIMEOUT_MS
 *       a call to an address nobody listens on answers SHOAL_ETIMEOUT or
 *       SHOAL_EUNAVAILABLE, by the deadline (+ 2 s of slack for a loaded box).
 *   client_smoke slow NODE
 *       (nodes run with --debug-faults) debug/slow sleep 1000 ms with a
 *       300 ms timeout -> SHOAL_ETIMEOUT by about 300 ms; then 8 async
 *       sleeps in flight and shoal_client_free at once: every callback
 *       runs before free returns, with SHOAL_EUNAVAILABLE "client closed".
 *   client_smoke refused NODE
 *       with the secret from SHOAL_SECRET (the test passes a wrong one):
 *       SHOAL_EUNAVAILABLE with a message naming the refusal, twice (the
 *       second answered from the held refusal).
 *
 * The cluster secret comes from SHOAL_SECRET, the cluster name from
 * SHOAL_CLUSTER (default "shoal"), the shard count from SHOAL_SHARDS.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shoal/client.h"

#define FAIL(...)                                                                   \
    do {                                                                            \
        fprintf(stderr, "client_smoke: FAIL %s:%d: ", __FILE__, __LINE__);         \
        fprintf(stderr, __VA_ARGS__);                                               \
        fputc('\n', stderr);                                                        \
        exit(1);                                                                    \
    } while (0)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static shoal_client_t *connect_to(const char *addr, uint32_t timeout_ms)
{
    const char *shards = getenv("SHOAL_SHARDS");
    shoal_client_config_t cfg = {.node_addr = addr,
                                 .cluster = getenv("SHOAL_CLUSTER"),
                                 .secret = getenv("SHOAL_SECRET"),
                                 .shards = shards ? (uint32_t)atoi(shards) : 0,
                                 .timeout_ms = timeout_ms};
    shoal_client_t *c;
    int rc = shoal_client_new(&c, &cfg);
    if (rc != 0)
        FAIL("shoal_client_new(%s): %d %s", addr, rc, shoal_client_err_name(rc));
    return c;
}

/* {"value":N} -> N, or -1. */
static long parse_value(const uint8_t *p, size_t n)
{
    char buf[64];
    long v = -1;
    if (!p || n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (sscanf(buf, "{\"value\":%ld}", &v) != 1)
        return -1;
    return v;
}

/* ---- add: threads over one client -------------------------------------- */

typedef struct adder {
    shoal_client_t *c;
    const char *id;
    long n;
    long *values; /* n slots */
} adder_t;

static void *adder_main(void *arg)
{
    adder_t *a = arg;
    for (long i = 0; i < a->n; i++) {
        uint8_t *rep;
        size_t len;
        char msg[SHOAL_CLIENT_ERRMSG_MAX];
        int rc = shoal_client_invoke(a->c, "counter", a->id, "add", "{\"by\":1}", 8, 0, &rep,
                                     &len, msg, sizeof msg);
        if (rc != 0)
            FAIL("add #%ld: %d %s: %s", i, rc, shoal_client_err_name(rc), msg);
        a->values[i] = parse_value(rep, len);
        if (a->values[i] <= 0)
            FAIL("add #%ld: bad reply '%.*s'", i, (int)len, (const char *)rep);
        free(rep);
    }
    return NULL;
}

static int cmp_long(const void *x, const void *y)
{
    long a = *(const long *)x, b = *(const long *)y;
    return (a > b) - (a < b);
}

/* Values distinct, and get answers their maximum. */
static void check_values(shoal_client_t *c, const char *id, long *v, long total)
{
    qsort(v, (size_t)total, sizeof *v, cmp_long);
    for (long i = 1; i < total; i++)
        if (v[i] == v[i - 1])
            FAIL("two adds answered the same value %ld", v[i]);
    uint8_t *rep;
    size_t len;
    char msg[SHOAL_CLIENT_ERRMSG_MAX];
    int rc = shoal_client_invoke(c, "counter", id, "get", NULL, 0, 0, &rep, &len, msg,
                                 sizeof msg);
    if (rc != 0)
        FAIL("get: %d %s: %s", rc, shoal_client_err_name(rc), msg);
    long got = parse_value(rep, len);
    free(rep);
    if (got != v[total - 1])
        FAIL("get answered %ld, the last add %ld", got, v[total - 1]);
    printf("final=%ld\n", got);
}

static int cmd_add(const char *node, const char *id, long n, int threads)
{
    shoal_client_t *c = connect_to(node, 0);
    adder_t a[64];
    pthread_t t[64];
    long *values = calloc((size_t)(n * threads), sizeof *values);
    if (threads < 1 || threads > 64 || n < 1 || !values)
        FAIL("bad arguments");
    for (int i = 0; i < threads; i++) {
        a[i] = (adder_t){.c = c, .id = id, .n = n, .values = values + i * n};
        if (pthread_create(&t[i], NULL, adder_main, &a[i]) != 0)
            FAIL("pthread_create");
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    check_values(c, id, values, n * threads);
    shoal_client_stats_t st;
    shoal_client_stats_get(c, &st);
    if (st.pending != 0 || st.replies != st.sent || st.timeouts != 0)
        FAIL("stats: sent=%" PRIu64 " replies=%" PRIu64 " timeouts=%" PRIu64
             " pending=%" PRIu64, st.sent, st.replies, st.timeouts, st.pending);
    free(values);
    shoal_client_free(c);
    return 0;
}

/* ---- async: a window of calls in flight --------------------------------- */

typedef struct window {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long inflight, done, failed;
    long *values;
} window_t;

static void async_done(void *udata, int status, const uint8_t *reply, size_t len,
                       const char *errmsg)
{
    window_t *w = udata;
    long v = status == 0 ? parse_value(reply, len) : -1;
    pthread_mutex_lock(&w->mu);
    if (v <= 0) {
        fprintf(stderr, "client_smoke: async add: %d %s: %s\n", status,
                shoal_client_err_name(status), errmsg);
        w->failed++;
    }
    w->values[w->done++] = v;
    w->inflight--;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int cmd_async(const char *node, const char *id, long n, long window)
{
    shoal_client_t *c = connect_to(node, 0);
    window_t w = {.values = calloc((size_t)n, sizeof(long))};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    if (!w.values || n < 1 || window < 1)
        FAIL("bad arguments");
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&w.mu);
        while (w.inflight >= window)
            pthread_cond_wait(&w.cv, &w.mu);
        w.inflight++;
        pthread_mutex_unlock(&w.mu);
        int rc = shoal_client_invoke_async(c, "counter", id, "add", "{\"by\":1}", 8, 0,
                                           async_done, &w);
        if (rc != 0)
            FAIL("invoke_async #%ld: %d %s", i, rc, shoal_client_err_name(rc));
    }
    pthread_mutex_lock(&w.mu);
    while (w.done < n)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    if (w.failed)
        FAIL("%ld async adds failed", w.failed);
    check_values(c, id, w.values, n);
    shoal_client_free(c);
    free(w.values);
    return 0;
}

/* ---- error paths ------------------------------------------------------- */

static void expect(shoal_client_t *c, const char *type, const char *id, const char *method,
                   const char *body, size_t len, int want, const char *want_msg)
{
    char msg[SHOAL_CLIENT_ERRMSG_MAX] = "unset";
    uint8_t *rep = (uint8_t *)"x";
    size_t rlen = 1;
    int rc = shoal_client_invoke(c, type, id, method, body, len, 0, &rep, &rlen, msg,
                                 sizeof msg);
    if (rc != want)
        FAIL("%s/%s %s: got %d %s (%s), want %d %s", type ? type : "(null)", id ? id : "(null)",
             method, rc, shoal_client_err_name(rc), msg, want, shoal_client_err_name(want));
    if (rc != 0 && (rep != NULL || rlen != 0))
        FAIL("%s/%s %s: an error left a reply", type, id, method);
    if (want_msg && !strstr(msg, want_msg))
        FAIL("%s/%s %s: message '%s' lacks '%s'", type, id, method, msg, want_msg);
    free(rep);
}

static int cmd_errors(const char *node)
{
    shoal_client_t *c = connect_to(node, 0);
    expect(c, "nosuchtype", "x", "get", NULL, 0, SHOAL_ENOT_FOUND, NULL);
    expect(c, "counter", "e1", "nosuchmethod", NULL, 0, SHOAL_ENOT_FOUND, NULL);
    expect(c, "counter", "e1", "add", "{bad json", 9, SHOAL_EBAD_REQUEST, NULL);
    expect(c, "", "x", "get", NULL, 0, SHOAL_EBAD_REQUEST, NULL);
    expect(c, "counter", NULL, "get", NULL, 0, SHOAL_EBAD_REQUEST, NULL);
    expect(c, "counter", "x", "get", NULL, 5, SHOAL_EBAD_REQUEST, NULL);
    char *big = calloc(1, SHOAL_CLIENT_BODY_MAX + 1);
    if (!big)
        FAIL("calloc");
    expect(c, "counter", "x", "add", big, SHOAL_CLIENT_BODY_MAX + 1, SHOAL_ETOO_BIG, NULL);
    free(big);
    char item[64];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(item, sizeof item, "{\"itemId\":\"i%d\",\"quantity\":1}", i);
        expect(c, "cart", "smoke-full", "AddItem", item, (size_t)n, 0, NULL);
    }
    const char *eleventh = "{\"itemId\":\"x\",\"quantity\":1}";
    expect(c, "cart", "smoke-full", "AddItem", eleventh, strlen(eleventh), SHOAL_ECONFLICT,
           "cart is full");
    /* Idempotency keys: up to SHOAL_CLIENT_IDEM_MAX bytes travel with the
     * call; one byte more is refused before sending. */
    char key[SHOAL_CLIENT_IDEM_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    shoal_client_call_opts_t co = {.idem_key = key};
    char msg[SHOAL_CLIENT_ERRMSG_MAX];
    int rc = shoal_client_invoke_opts(c, "counter", "e-idem", "get", NULL, 0, &co, NULL, NULL,
                                      msg, sizeof msg);
    if (rc != SHOAL_EBAD_REQUEST)
        FAIL("129-byte idempotency key: got %d %s (%s)", rc, shoal_client_err_name(rc), msg);
    key[SHOAL_CLIENT_IDEM_MAX] = '\0';
    rc = shoal_client_invoke_opts(c, "counter", "e-idem", "get", NULL, 0, &co, NULL, NULL, msg,
                                  sizeof msg);
    if (rc != 0)
        FAIL("128-byte idempotency key: got %d %s (%s)", rc, shoal_client_err_name(rc), msg);
    shoal_client_stats_t st;
    shoal_client_stats_get(c, &st);
    if (st.sent != 15) /* the four bad-argument calls never left */
        FAIL("sent %" PRIu64 " frames, want 15", st.sent);
    shoal_client_free(c);
    printf("errors ok\n");
    return 0;
}

static int cmd_unreachable(const char *addr, uint32_t timeout_ms)
{
    shoal_client_t *c = connect_to(addr, timeout_ms);
    char msg[SHOAL_CLIENT_ERRMSG_MAX];
    uint64_t t0 = now_ms();
    int rc = shoal_client_invoke(c, "counter", "u", "get", NULL, 0, 0, NULL, NULL, msg,
                                 sizeof msg);
    uint64_t took = now_ms() - t0;
    if (rc != SHOAL_ETIMEOUT && rc != SHOAL_EUNAVAILABLE)
        FAIL("unreachable: got %d %s (%s)", rc, shoal_client_err_name(rc), msg);
    if (took > timeout_ms + 2000)
        FAIL("unreachable: answered after %" PRIu64 " ms, deadline %u ms", took, timeout_ms);
    printf("unreachable: %s after %" PRIu64 " ms: %s\n", shoal_client_err_name(rc), took, msg);
    shoal_client_free(c);
    return 0;
}

typedef struct closed_count {
    int n, unavailable;
} closed_count_t;

/* Runs on the thread calling shoal_client_free: no lock needed. */
static void closed_done(void *udata, int status, const uint8_t *reply, size_t len,
                        const char *errmsg)
{
    closed_count_t *k = udata;
    k->n++;
    k->unavailable += status == SHOAL_EUNAVAILABLE && strcmp(errmsg, "client closed") == 0;
}

static int cmd_slow(const char *node)
{
    shoal_client_t *c = connect_to(node, 0);
    const char *body = "{\"ms\":1000}";
    char msg[SHOAL_CLIENT_ERRMSG_MAX];
    uint64_t t0 = now_ms();
    int rc = shoal_client_invoke(c, "debug", "slow", "sleep", body, strlen(body), 300, NULL, NULL,
                                 msg, sizeof msg);
    uint64_t took = now_ms() - t0;
    if (rc != SHOAL_ETIMEOUT || took > 300 + 2000)
        FAIL("slow: got %d %s (%s) after %" PRIu64 " ms", rc, shoal_client_err_name(rc), msg,
             took);
    printf("slow: timeout after %" PRIu64 " ms: %s\n", took, msg);
    closed_count_t k = {0, 0};
    char id[16];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof id, "slow%d", i);
        rc = shoal_client_invoke_async(c, "debug", id, "sleep", body, strlen(body), 10000,
                                       closed_done, &k);
        if (rc != 0)
            FAIL("slow: invoke_async: %d", rc);
    }
    shoal_client_free(c);
    if (k.n != 8 || k.unavailable != 8)
        FAIL("slow: free ran %d callbacks, %d with 'client closed'", k.n, k.unavailable);
    printf("slow: free completed 8 calls in flight\n");
    return 0;
}

static int cmd_refused(const char *node)
{
    shoal_client_t *c = connect_to(node, 0);
    for (int i = 0; i < 2; i++) {
        char msg[SHOAL_CLIENT_ERRMSG_MAX] = "";
        int rc = shoal_client_invoke(c, "counter", "r", "get", NULL, 0, 0, NULL, NULL, msg,
                                     sizeof msg);
        if (rc != SHOAL_EUNAVAILABLE || !strstr(msg, "refused"))
            FAIL("refused #%d: got %d %s (%s)", i, rc, shoal_client_err_name(rc), msg);
        printf("refused #%d: %s\n", i, msg);
    }
    shoal_client_stats_t st;
    shoal_client_stats_get(c, &st);
    if (st.sent != 1 || st.refusals != 1 || st.timeouts != 0)
        FAIL("refused: sent=%" PRIu64 " refusals=%" PRIu64 " timeouts=%" PRIu64, st.sent,
             st.refusals, st.timeouts);
    shoal_client_free(c);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "add") == 0 && argc == 6)
        return cmd_add(argv[2], argv[3], atol(argv[4]), atoi(argv[5]));
    if (strcmp(cmd, "async") == 0 && argc == 6)
        return cmd_async(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
    if (strcmp(cmd, "errors") == 0 && argc == 3)
        return cmd_errors(argv[2]);
    if (strcmp(cmd, "unreachable") == 0 && argc == 4)
        return cmd_unreachable(argv[2], (uint32_t)atoi(argv[3]));
    if (strcmp(cmd, "slow") == 0 && argc == 3)
        return cmd_slow(argv[2]);
    if (strcmp(cmd, "refused") == 0 && argc == 3)
        return cmd_refused(argv[2]);
    fprintf(stderr, "usage: client_smoke add|async|errors|unreachable|slow|refused ... "
                    "(see the file's header)\n");
    return 2;
}
