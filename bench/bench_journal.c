/*
 * bench_journal.c - durable appends per second through the journal, and
 * recovery time.
 *
 *   bench_journal [--sync full|none] [--secs S] [--events N] [--dir D]
 *
 * Each mode runs S seconds (default 3) in a fresh mkdtemp directory under
 * D (default /tmp), appending one 64-byte event per request:
 *   (c) baseline: one thread, one write transaction + commit + sync per
 *       event, straight through jrnl_txn_* (no writer thread);
 *   (a) jw, 1 submitter: one thread submits a request and waits for its
 *       completion before the next (what one busy entity sees);
 *   (b) jw, 64 entities: 64 threads, each its own entity, each submit +
 *       wait in a loop, so up to 64 requests are outstanding and the
 *       writer batches them (group commit).
 * Then recovery of one entity with N events (default 1,000,000): replay
 * without a snapshot, and with a snapshot at N - 1000 (1000-event tail).
 *
 * Prints a small table: events/s, ratio to the baseline, p50/p99
 * completion latency (submit to done).  Speed figures only: nothing here
 * asserts a rate.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jw.h"
#include "sh_err.h"
#include "sh_log.h"

#define BJ_EV_SIZE 64
#define BJ_THREADS 64

static bool bj_sync = true;
static double bj_secs = 3;
static long bj_events = 1000000;
static const char *bj_base = "/tmp";

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_journal: %s: %d %s\n", what, rc, jrnl_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- temp dirs and the journal --------------------------------------------- */

static jrnl_t *bj_open(char *dir, size_t cap, bool sync)
{
    snprintf(dir, cap, "%s/bench_journal.XXXXXX", bj_base);
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", -1);
    jrnl_opts_t o = {.dir = dir, .sync = sync, .map_init = 256u << 20};
    jrnl_t *j;
    int rc = jrnl_open(&j, &o);
    if (rc != 0)
        die("jrnl_open", rc);
    return j;
}

static void bj_close(jrnl_t *j, const char *dir)
{
    char path[512];
    DIR *d = opendir(dir);
    struct dirent *de;
    jrnl_close(j);
    while (d && (de = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.')
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* ---- latency samples ----------------------------------------------------------- */

typedef struct lat {
    uint32_t *us;
    size_t n, cap;
} lat_t;

static void lat_add(lat_t *l, double s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->us = realloc(l->us, l->cap * sizeof *l->us);
    }
    l->us[l->n++] = (uint32_t)(s * 1e6);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double lat_pct(lat_t *l, double p)
{
    if (l->n == 0)
        return 0;
    qsort(l->us, l->n, sizeof *l->us, cmp_u32);
    return l->us[(size_t)(p * (double)(l->n - 1))] / 1000.0;
}

typedef struct row {
    const char *name;
    double eps, p50, p99;
} row_t;

/* One event buffer: [u32 len][64 bytes]. */
static void bj_event(uint8_t *buf, uint64_t seq)
{
    uint32_t len = BJ_EV_SIZE;
    memcpy(buf, &len, 4);
    for (int i = 0; i < BJ_EV_SIZE; i++)
        buf[4 + i] = (uint8_t)(seq * 131 + (uint64_t)i * 7);
}

/* ---- (c) baseline --------------------------------------------------------------- */

static int bj_append_direct(jrnl_t *j, const jrnl_ent_t *e, uint64_t seq, uint32_t n,
                            const uint8_t *ev, size_t len)
{
    for (;;) {
        jrnl_txn_t *t;
        int rc = jrnl_txn_begin(j, &t);
        if (rc != 0)
            return rc;
        if ((rc = jrnl_txn_append(t, e, seq, n, ev, len, 1)) != 0)
            jrnl_txn_abort(t);
        else
            rc = jrnl_txn_commit(t);
        if (rc != SH_EFULL || (rc = jrnl_grow(j)) != 0)
            return rc;
    }
}

static row_t bj_baseline(void)
{
    char dir[256];
    jrnl_t *j = bj_open(dir, sizeof dir, bj_sync);
    jrnl_ent_t e = {1, "bench", "base"};
    uint8_t ev[4 + BJ_EV_SIZE];
    lat_t l = {0};
    uint64_t seq = 0;
    double t0 = now_s(), t;
    while ((t = now_s()) - t0 < bj_secs) {
        bj_event(ev, ++seq);
        int rc = bj_append_direct(j, &e, seq, 1, ev, sizeof ev);
        if (rc == 0 && bj_sync)
            rc = jrnl_sync(j);
        if (rc != 0)
            die("baseline append", rc);
        lat_add(&l, now_s() - t);
    }
    row_t r = {"(c) baseline: 1 append/txn + sync", (double)seq / (now_s() - t0),
               lat_pct(&l, 0.5), lat_pct(&l, 0.99)};
    free(l.us);
    bj_close(j, dir);
    return r;
}

/* ---- (a)/(b) through the writer --------------------------------------------------- */

typedef struct bj_thr {
    jw_t *w;
    int idx;
    double t0;
    uint64_t done;
    lat_t lat;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool fin;
    jw_req_t req;
    uint8_t ev[4 + BJ_EV_SIZE];
    char id[16];
} bj_thr_t;

static void bj_done(jw_req_t *r)
{
    bj_thr_t *t = r->arg;
    pthread_mutex_lock(&t->mu);
    t->fin = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *bj_submitter(void *arg)
{
    bj_thr_t *t = arg;
    double s;
    snprintf(t->id, sizeof t->id, "e%02d", t->idx);
    while ((s = now_s()) - t->t0 < bj_secs) {
        bj_event(t->ev, t->done + 1);
        memset(&t->req, 0, sizeof t->req);
        t->req.ent = (jrnl_ent_t){(uint32_t)t->idx, "bench", t->id};
        t->req.first_seq = t->done + 1;
        t->req.ev_n = 1;
        t->req.ev = t->ev;
        t->req.ev_len = sizeof t->ev;
        t->req.done = bj_done;
        t->req.arg = t;
        t->fin = false;
        int rc = jw_submit(t->w, &t->req);
        if (rc != 0)
            die("jw_submit", rc);
        pthread_mutex_lock(&t->mu);
        while (!t->fin)
            pthread_cond_wait(&t->cv, &t->mu);
        pthread_mutex_unlock(&t->mu);
        if (t->req.status != 0)
            die("jw request", t->req.status);
        t->done++;
        lat_add(&t->lat, now_s() - s);
    }
    return NULL;
}

static row_t bj_writer(const char *name, int nthreads, jw_stats_t *st)
{
    char dir[256];
    jrnl_t *j = bj_open(dir, sizeof dir, bj_sync);
    jw_t *w;
    int rc = jw_start(&w, j);
    if (rc != 0)
        die("jw_start", rc);
    bj_thr_t *ts = calloc((size_t)nthreads, sizeof *ts);
    pthread_t th[BJ_THREADS];
    double t0 = now_s();
    for (int i = 0; i < nthreads; i++) {
        ts[i].w = w;
        ts[i].idx = i;
        ts[i].t0 = t0;
        pthread_mutex_init(&ts[i].mu, NULL);
        pthread_cond_init(&ts[i].cv, NULL);
        pthread_create(&th[i], NULL, bj_submitter, &ts[i]);
    }
    lat_t all = {0};
    uint64_t total = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        total += ts[i].done;
        for (size_t k = 0; k < ts[i].lat.n; k++)
            lat_add(&all, ts[i].lat.us[k] / 1e6);
        free(ts[i].lat.us);
    }
    double el = now_s() - t0;
    jw_stats(w, st);
    jw_stop(w);
    row_t r = {name, (double)total / el, lat_pct(&all, 0.5), lat_pct(&all, 0.99)};
    free(all.us);
    free(ts);
    bj_close(j, dir);
    return r;
}

/* ---- recovery -------------------------------------------------------------------- */

static int bj_count(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
                    const uint8_t *data, size_t len)
{
    ++*(uint64_t *)arg;
    return 0;
}

static void bj_recovery(void)
{
    char dir[256];
    jrnl_t *j = bj_open(dir, sizeof dir, false);
    jrnl_ent_t e = {1, "bench", "recover"};
    enum { CHUNK = 10000 };
    uint8_t *buf = malloc((size_t)CHUNK * (4 + BJ_EV_SIZE));
    double tw = now_s();
    for (long s = 1; s <= bj_events; s += CHUNK) {
        uint32_t n = (uint32_t)(bj_events - s + 1 < CHUNK ? bj_events - s + 1 : CHUNK);
        for (uint32_t i = 0; i < n; i++)
            bj_event(buf + (size_t)i * (4 + BJ_EV_SIZE), (uint64_t)s + i);
        int rc = bj_append_direct(j, &e, (uint64_t)s, n, buf, (size_t)n * (4 + BJ_EV_SIZE));
        if (rc != 0)
            die("recovery append", rc);
    }
    jrnl_sync(j);
    tw = now_s() - tw;
    uint64_t n1 = 0, n2 = 0;
    jrnl_load_info_t info;
    double t1 = now_s();
    int rc = jrnl_load(j, &e, false, bj_count, &n1, &info);
    t1 = now_s() - t1;
    if (rc != 0)
        die("load", rc);
    uint64_t snap_at = bj_events > 1000 ? (uint64_t)bj_events - 1000 : 1;
    jrnl_txn_t *t;
    if ((rc = jrnl_txn_begin(j, &t)) != 0 ||
        (rc = jrnl_txn_snapshot(t, &e, snap_at, (const uint8_t *)"state", 5, 1,
                                (uint64_t)bj_events)) != 0 ||
        (rc = jrnl_txn_commit(t)) != 0)
        die("snapshot", rc);
    double t2 = now_s();
    rc = jrnl_load(j, &e, true, bj_count, &n2, &info);
    t2 = now_s() - t2;
    if (rc != 0)
        die("load with snapshot", rc);
    printf("\nrecovery of one entity with %ld events (%d-byte payloads; written in %.1f s):\n",
           bj_events, BJ_EV_SIZE, tw);
    printf("  no snapshot           %9.3f ms (%llu items, %.0f events/s)\n", t1 * 1e3,
           (unsigned long long)n1, (double)n1 / t1);
    printf("  snapshot at %-9llu %9.3f ms (%llu items: snapshot + %llu events)\n",
           (unsigned long long)snap_at, t2 * 1e3, (unsigned long long)n2,
           (unsigned long long)(n2 - 1));
    free(buf);
    bj_close(j, dir);
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_journal [--sync full|none] [--secs S] [--events N] [--dir D]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--sync") == 0)
            bj_sync = strcmp(argv[++i], "none") != 0;
        else if (strcmp(argv[i], "--secs") == 0)
            bj_secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--events") == 0)
            bj_events = atol(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0)
            bj_base = argv[++i];
        else
            usage();
    }
    sh_log_init("bench", SH_LOG_WARN, false);
    jw_stats_t sa, sb;
    row_t rows[3];
    rows[0] = bj_baseline();
    rows[1] = bj_writer("(a) jw, 1 submitter, one at a time", 1, &sa);
    rows[2] = bj_writer("(b) jw, 64 entities concurrently", BJ_THREADS, &sb);
    printf("journal appends, --sync %s, %.0f s per mode, %d-byte events, dir %s\n",
           bj_sync ? "full" : "none", bj_secs, BJ_EV_SIZE, bj_base);
    printf("%-38s %11s %11s %9s %9s\n", "mode", "events/s", "x baseline", "p50 ms", "p99 ms");
    for (int i = 0; i < 3; i++)
        printf("%-38s %11.0f %11.2f %9.3f %9.3f\n", rows[i].name, rows[i].eps,
               rows[i].eps / rows[0].eps, rows[i].p50, rows[i].p99);
    const jw_stats_t *ss[2] = {&sa, &sb};
    for (int i = 0; i < 2; i++) {
        double b = ss[i]->batches ? (double)ss[i]->batches : 1;
        printf("  (%c) %llu batches, %.2f requests/batch, mean commit %.3f ms, mean sync %.3f ms\n",
               'a' + i, (unsigned long long)ss[i]->batches, (double)ss[i]->requests / b,
               (double)ss[i]->commit_us_sum / 1000.0 / b, (double)ss[i]->sync_us_sum / 1000.0 / b);
    }
    if (bj_events > 0)
        bj_recovery();
    return 0;
}
