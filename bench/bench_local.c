/*
 * bench_local.c - the entity runtime in-process, without the network: one
 * shard worker (wrk_new, nworkers 1, every shard acquired so entity calls
 * take the same-worker fast path) driven from the main thread.
 *
 *   bench_local pingpong PAIRS ROUNDS
 *       PAIRS pairs of `pp` entities; each pair's A asks its B "ping"
 *       ROUNDS times in a row, one ask outstanding (A's turn stays open
 *       across the asks).  Messages = 2 per round (the ask and its reply).
 *       Prints messages/s for the one worker.
 *   bench_local activate TYPE N
 *       N calls to N fresh entities of TYPE (`counter`: get; `null`: a
 *       type with no state at all), at most 1,000 in flight; every entity
 *       stays active (max-active > N, idle timeout 1 h).  Prints
 *       activations/s and the resident memory (VmRSS) grown per active
 *       entity.  With `null`, that is the runtime's own per-entity cost;
 *       with `counter`, it adds the counter's state (one malloc'd int64).
 *
 * Output: one JSON object per run on stdout (bench/entities.py parses it).
 * Speed figures only: nothing here asserts a rate.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "reg.h"
#include "sh_time.h"
#include "wrk.h"

#define BL_SHARDS 256
#define BL_WINDOW 1000

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_local: %s: %d\n", what, rc);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS of this process in bytes. */
static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* ---- the `pp` type: A asks B "ping" ROUNDS times ------------------------- */

typedef struct pp_run {
    long left;
    char peer[SHOAL_ENTITY_ID_MAX];
} pp_run_t;

static int pp_cont(shoal_turn_t *t, void *state, int status, const uint8_t *reply, size_t len,
                   void *arg)
{
    pp_run_t *r = arg;
    if (status != 0 || --r->left == 0) {
        free(r);
        return status != 0 ? shoal_turn_fail(t, status, "ping failed") : 0;
    }
    int rc = shoal_turn_ask(t, "pp", r->peer, "ping", NULL, 0, 0, pp_cont, r);
    if (rc != 0)
        free(r);
    return rc == 0 ? SHOAL_TURN_PENDING : rc;
}

static int pp_handle(shoal_turn_t *t, void *state, const char *method, const uint8_t *body,
                     size_t len)
{
    if (strcmp(method, "ping") == 0)
        return 0; /* an empty reply */
    pp_run_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    char buf[32] = "";
    if (body && len)
        memcpy(buf, body, len < sizeof buf - 1 ? len : sizeof buf - 1);
    r->left = atol(buf);
    snprintf(r->peer, sizeof r->peer, "%s-b", shoal_turn_id(t));
    if (r->left <= 0) {
        free(r);
        return 0;
    }
    int rc = shoal_turn_ask(t, "pp", r->peer, "ping", NULL, 0, 0, pp_cont, r);
    if (rc != 0)
        free(r);
    return rc == 0 ? SHOAL_TURN_PENDING : rc;
}

static const shoal_entity_type_t pp_type = {.name = "pp", .handle = pp_handle};

static int null_handle(shoal_turn_t *t, void *state, const char *method, const uint8_t *body,
                       size_t len)
{
    return 0;
}

static const shoal_entity_type_t null_type = {.name = "null", .handle = null_handle};

/* ---- driving the worker ------------------------------------------------- */

typedef struct bl_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long inflight, done, failed;
} bl_sync_t;

static bl_sync_t bl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static void bl_done(call_t *c)
{
    pthread_mutex_lock(&bl.mu);
    if (c->status != 0 && bl.failed++ == 0)
        fprintf(stderr, "bench_local: call %s/%s failed: %d %s\n", c->type, c->id, c->status,
                c->errmsg);
    bl.done++;
    bl.inflight--;
    pthread_cond_signal(&bl.cv);
    pthread_mutex_unlock(&bl.mu);
    call_free(c);
}

/* Every shard is acquired, so entity calls never leave the worker; one
 * that did would be a bench bug, reported as a failed call. */
static void bl_route(void *router, call_t *c)
{
    call_complete(c, -EHOSTUNREACH, NULL, 0, "bench_local routes nothing");
}

static wrk_t *bl_worker(reg_t *reg, uint32_t max_active)
{
    static wrk_t *w;
    wrk_config_t wc = {.index = 0, .nworkers = 1, .shards = BL_SHARDS, .mailbox_max = 1000,
                       .idle_timeout_ms = 3600000, .max_active = max_active, .reg = reg,
                       .route = bl_route};
    int rc = wrk_new(&w, &wc);
    if (rc != 0)
        die("wrk_new", rc);
    for (uint32_t s = 0; s < BL_SHARDS; s++)
        wrk_shard_acquire(w, s);
    return w;
}

/* Submit one call, waiting while BL_WINDOW are in flight. */
static void bl_submit(wrk_t *w, const char *type, const char *id, const char *method,
                      const char *body)
{
    pthread_mutex_lock(&bl.mu);
    while (bl.inflight >= BL_WINDOW)
        pthread_cond_wait(&bl.cv, &bl.mu);
    bl.inflight++;
    pthread_mutex_unlock(&bl.mu);
    call_t *c;
    int rc = call_new(&c, CALL_ASK, type, id, method, body, body ? strlen(body) : 0,
                      sh_time_mono_ms() + 600000, BL_SHARDS);
    if (rc != 0)
        die("call_new", rc);
    c->on_done = bl_done;
    if ((rc = wrk_submit(w, c)) != 0)
        die("wrk_submit", rc);
}

static void bl_wait_all(long n)
{
    pthread_mutex_lock(&bl.mu);
    while (bl.done < n)
        pthread_cond_wait(&bl.cv, &bl.mu);
    pthread_mutex_unlock(&bl.mu);
    if (bl.failed)
        die("calls failed", (int)bl.failed);
}

static int cmd_pingpong(long pairs, long rounds)
{
    reg_t *reg;
    if (reg_new(&reg) != 0 || shoal_register_type(reg, &pp_type) != 0)
        die("registry", -1);
    wrk_t *w = bl_worker(reg, 1000000);
    char id[32], body[32];
    snprintf(body, sizeof body, "%ld", rounds);
    double t0 = now_s();
    for (long p = 0; p < pairs; p++) {
        snprintf(id, sizeof id, "a%ld", p);
        bl_submit(w, "pp", id, "run", body);
    }
    bl_wait_all(pairs);
    double dt = now_s() - t0;
    wrk_stats_t st;
    wrk_stats_get(w, &st);
    double msgs = 2.0 * (double)pairs * (double)rounds;
    printf("{\"bench\":\"pingpong\",\"pairs\":%ld,\"rounds\":%ld,\"seconds\":%.3f,"
           "\"messages\":%.0f,\"messages_per_s\":%.0f,\"fast_path\":%" PRIu64 "}\n",
           pairs, rounds, dt, msgs, msgs / dt, st.local_fast_path);
    wrk_free(w);
    reg_free(reg);
    return 0;
}

static int cmd_activate(const char *type, long n)
{
    reg_t *reg;
    struct reg_builtin_cfg bc = {.ratelimit_limit = 100, .ratelimit_window_ms = 3600000};
    if (reg_new(&reg) != 0 || reg_add_builtins(reg, &bc) != 0 ||
        shoal_register_type(reg, &null_type) != 0)
        die("registry", -1);
    wrk_t *w = bl_worker(reg, (uint32_t)n + 1000);
    /* Warm the allocator and the call path with a few entities we then
     * leave out of the count. */
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "w%06d", i);
        bl_submit(w, type, id, "get", NULL);
    }
    bl_wait_all(1000);
    long rss0 = rss_bytes();
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "e%07ld", i); /* 8 bytes, like short real ids */
        bl_submit(w, type, id, "get", NULL);
    }
    bl_wait_all(1000 + n);
    double dt = now_s() - t0;
    long rss1 = rss_bytes();
    wrk_stats_t st;
    wrk_stats_get(w, &st);
    printf("{\"bench\":\"activate\",\"type\":\"%s\",\"entities\":%ld,\"active\":%" PRIu64
           ",\"seconds\":%.3f,\"activations_per_s\":%.0f,\"rss_before\":%ld,"
           "\"rss_after\":%ld,\"bytes_per_entity\":%.1f}\n",
           type, n, st.active, dt, (double)n / dt, rss0, rss1,
           (double)(rss1 - rss0) / (double)n);
    wrk_free(w);
    reg_free(reg);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "pingpong") == 0)
        return cmd_pingpong(atol(argv[2]), atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "activate") == 0)
        return cmd_activate(argv[2], atol(argv[3]));
    fprintf(stderr, "usage: bench_local pingpong PAIRS ROUNDS | activate counter|null N\n");
    return 2;
}
