/*
 * bench_durable.c - durable turns per second through the whole entity
 * runtime in one process: shard workers, turns, output gates, the journal
 * writer's group commit and a real LMDB with fsync (--sync full), without
 * HTTP or the network in the way.
 *
 *   bench_durable DIR ENTITIES WINDOW SECONDS [SYNC]
 *       ENTITIES counters, each with WINDOW calls outstanding at all
 *       times (a closed loop per entity); every call emits one event and
 *       its reply waits until the event is durable.  SYNC 1 (default) or 0.
 * Output: one JSON object: events/s, batches, mean batch size, mean sync
 * latency, reply latency p50/p99.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "jrnl.h"
#include "jw.h"
#include "reg.h"
#include "sh_time.h"
#include "wrk.h"

#define SHARDS 256
#define NW 2
#define LAT_MAX (1u << 22)

static int b_create(void **s, const char *id, void *u)
{
    *s = calloc(1, sizeof(int64_t));
    return *s ? 0 : -1;
}
static void b_destroy(void *s, void *u) { free(s); }
static int b_apply(void *s, const uint8_t *ev, size_t n, void *u)
{
    int64_t d;
    memcpy(&d, ev, sizeof d);
    *(int64_t *)s += d;
    return 0;
}
static int b_handle(shoal_turn_t *t, void *s, const char *m, const uint8_t *b, size_t n)
{
    int64_t d = 1;
    return shoal_turn_emit(t, &d, sizeof d);
}
static const shoal_entity_type_t b_type = {
    .name = "b", .persistent = true, .create = b_create, .destroy = b_destroy,
    .handle = b_handle, .apply = b_apply,
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static wrk_t *g_w[NW];
static atomic_ullong g_done;
static atomic_bool g_stop;
static uint32_t *g_lat; /* microseconds */
static atomic_uint g_nlat;
static char g_ids[4096][16];

static void route(void *router, call_t *c) { wrk_submit(g_w[c->shard % NW], c); }

static void send_one(long ent, uint64_t t0);

static void on_done(call_t *c)
{
    long ent = (long)(intptr_t)c->done_arg;
    uint64_t t0 = c->corr;
    uint64_t now = mono_ns();
    if (c->status == 0) {
        atomic_fetch_add(&g_done, 1);
        unsigned i = atomic_fetch_add(&g_nlat, 1);
        if (i < LAT_MAX)
            g_lat[i] = (uint32_t)((now - t0) / 1000);
    }
    call_free(c);
    if (!atomic_load(&g_stop))
        send_one(ent, now);
}

static void send_one(long ent, uint64_t t0)
{
    call_t *c;
    if (call_new(&c, CALL_ASK, "b", g_ids[ent], "add", NULL, 0, sh_time_mono_ms() + 60000,
                 SHARDS) != 0)
        abort();
    c->on_done = on_done;
    c->done_arg = (void *)(intptr_t)ent;
    c->corr = t0;
    if (wrk_submit(g_w[c->shard % NW], c) != 0)
        call_complete(c, -1, NULL, 0, "busy");
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_durable DIR ENTITIES WINDOW SECONDS [SYNC]\n");
        return 2;
    }
    long ents = atol(argv[2]), window = atol(argv[3]);
    double secs = atof(argv[4]);
    bool sync = argc < 6 || atoi(argv[5]) != 0;
    if (ents < 1 || ents > 4096 || window < 1 || window > 1000)
        return 2;
    g_lat = malloc(LAT_MAX * sizeof *g_lat);
    jrnl_t *j;
    jw_t *jw;
    reg_t *reg;
    jrnl_opts_t o = {.dir = argv[1], .sync = sync};
    if (!g_lat || jrnl_open(&j, &o) != 0 || jw_start(&jw, j) != 0 || reg_new(&reg) != 0 ||
        shoal_register_type(reg, &b_type) != 0)
        return 1;
    for (uint32_t i = 0; i < NW; i++) {
        wrk_config_t cfg = {.index = i, .nworkers = NW, .shards = SHARDS, .mailbox_max = 1000,
                            .reg = reg, .route = route, .jrnl = j, .jw = jw,
                            .snapshot_every = 0, .retain_events = 1000, .idem_ttl_ms = 60000};
        if (wrk_new(&g_w[i], &cfg) != 0)
            return 1;
    }
    for (long e = 0; e < ents; e++)
        snprintf(g_ids[e], sizeof g_ids[e], "e%ld", e);
    jw_stats_t s0, s1;
    jw_stats(jw, &s0);
    uint64_t t0 = mono_ns();
    for (long e = 0; e < ents; e++)
        for (long k = 0; k < window; k++)
            send_one(e, mono_ns());
    struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
    nanosleep(&ts, NULL); /* the measurement window */
    uint64_t done = atomic_load(&g_done);
    uint64_t el = mono_ns() - t0;
    jw_stats(jw, &s1);
    unsigned n = atomic_load(&g_nlat);
    atomic_store(&g_stop, true);
    jw_stop(jw);
    for (uint32_t i = 0; i < NW; i++)
        wrk_free(g_w[i]);
    n = n < LAT_MAX ? n : LAT_MAX;
    qsort(g_lat, n, sizeof *g_lat, cmp_u32);
    uint64_t batches = s1.batches - s0.batches;
    printf("{\"entities\":%ld,\"window\":%ld,\"sync\":%s,\"events_per_s\":%.0f,"
           "\"batches\":%llu,\"mean_batch\":%.1f,\"mean_sync_us\":%.0f,"
           "\"p50_us\":%u,\"p99_us\":%u}\n",
           ents, window, sync ? "true" : "false", done / (el / 1e9),
           (unsigned long long)batches, batches ? (double)(s1.requests - s0.requests) / batches : 0,
           batches ? (double)(s1.sync_us_sum - s0.sync_us_sum) / batches : 0,
           n ? g_lat[n / 2] : 0, n ? g_lat[n * 99 / 100] : 0);
    reg_free(reg);
    jrnl_close(j);
    free(g_lat);
    return 0;
}
