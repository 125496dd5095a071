/*
 * jw_test.c - the group-commit writer: 64 submitting threads committed in
 * order in batches, a lone request completing promptly, one SH_ESEQ in
 * the middle of a batch failing only its request (and the entity's later
 * ones), jw_stop draining, the queue bound, map growth and the ceiling
 * through the writer, a request carrying every kind of record, and the
 * idempotency sweep.
 *
 * Nothing here sleeps to synchronise: the writer is held where a test
 * needs it by a `done` callback that blocks on a gate the test opens (the
 * writer runs callbacks on its own thread), and completions are awaited
 * on a condition variable with a deadline.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jw.h"
#include "sh_err.h"

#define DEADLINE_MS 20000

static char dir[64];

static void dir_make(void)
{
    snprintf(dir, sizeof dir, "/tmp/jw_test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_remove(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[512];
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.')
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static jrnl_t *jopen(uint64_t map_init, uint64_t map_max, bool sync)
{
    jrnl_opts_t o = {.dir = dir, .map_init = map_init, .map_max = map_max, .sync = sync};
    jrnl_t *j;
    ck_assert_int_eq(jrnl_open(&j, &o), 0);
    return j;
}

/* ---- completion counting and the gate ------------------------------------- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} waiter_t;

static waiter_t wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void count_done(jw_req_t *r)
{
    (void)r;
    pthread_mutex_lock(&wt.mu);
    wt.done++;
    pthread_cond_broadcast(&wt.cv);
    pthread_mutex_unlock(&wt.mu);
}

static struct timespec deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Wait until `n` requests completed; false on the deadline. */
static bool wait_done(int n, int ms)
{
    struct timespec ts = deadline_in(ms);
    int rc = 0;
    pthread_mutex_lock(&wt.mu);
    while (wt.done < n && rc == 0)
        rc = pthread_cond_timedwait(&wt.cv, &wt.mu, &ts);
    bool ok = wt.done >= n;
    pthread_mutex_unlock(&wt.mu);
    return ok;
}

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
} gate_t;

static gate_t gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

/* A done callback that holds the writer until gate_open(). */
static void gate_done(jw_req_t *r)
{
    pthread_mutex_lock(&gate.mu);
    gate.entered = true;
    pthread_cond_broadcast(&gate.cv);
    while (!gate.open)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    count_done(r);
}

static jw_req_t gate_req;

/* Submit a no-op request whose completion blocks the writer; return once
 * the writer is blocked in it. */
static void gate_close(jw_t *w)
{
    gate.entered = gate.open = false;
    memset(&gate_req, 0, sizeof gate_req);
    gate_req.ent = (jrnl_ent_t){1, "gate", "g"};
    gate_req.done = gate_done;
    ck_assert_int_eq(jw_submit(w, &gate_req), 0);
    struct timespec ts = deadline_in(DEADLINE_MS);
    pthread_mutex_lock(&gate.mu);
    while (!gate.entered)
        ck_assert_int_eq(pthread_cond_timedwait(&gate.cv, &gate.mu, &ts), 0);
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

static void setup(void)
{
    dir_make();
    wt.done = 0;
}

/* ---- requests ---------------------------------------------------------------- */

/* A request appending one event "<tag>-<seq>" (buffer inside the req). */
typedef struct ev_req {
    jw_req_t r;
    uint8_t buf[64];
} ev_req_t;

static void ev_req_init(ev_req_t *q, const jrnl_ent_t *e, uint64_t seq, void (*done)(jw_req_t *))
{
    char text[32];
    uint32_t len = (uint32_t)snprintf(text, sizeof text, "%s-%llu", e->id, (unsigned long long)seq);
    memset(q, 0, sizeof *q);
    memcpy(q->buf, &len, 4);
    memcpy(q->buf + 4, text, len);
    q->r.ent = *e;
    q->r.first_seq = seq;
    q->r.ev_n = 1;
    q->r.ev = q->buf;
    q->r.ev_len = 4 + len;
    q->r.wall_ms = 1000 + seq;
    q->r.done = done;
    q->r.status = 12345;
}

typedef struct check_arg {
    const char *id;
    uint64_t n;
    int bad;
} check_arg_t;

static int check_fn(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
                    const uint8_t *data, size_t len)
{
    check_arg_t *c = arg;
    char want[32];
    int n = snprintf(want, sizeof want, "%s-%llu", c->id, (unsigned long long)seq);
    if (kind != JRNL_EVENT || seq != c->n + 1 || len != (size_t)n || memcmp(data, want, len))
        c->bad++;
    c->n++;
    return 0;
}

static uint64_t loaded(jrnl_t *j, const jrnl_ent_t *e)
{
    check_arg_t c = {.id = e->id};
    ck_assert_int_eq(jrnl_load(j, e, true, check_fn, &c, NULL), 0);
    ck_assert_int_eq(c.bad, 0);
    return c.n;
}

/* ---- 64 threads ----------------------------------------------------------------- */

#define THREADS 64
#define PER_THREAD 40

static uint64_t next_seq[THREADS]; /* checked on the writer thread only */
static int order_bad;

static void ordered_done(jw_req_t *r)
{
    int t = (int)(intptr_t)r->arg;
    if (r->status != 0 || r->first_seq != next_seq[t] + 1)
        order_bad++;
    next_seq[t] = r->first_seq;
    count_done(r);
}

typedef struct thr {
    jw_t *w;
    int idx;
    char id[16];
    ev_req_t reqs[PER_THREAD];
} thr_t;

static void *submitter(void *arg)
{
    thr_t *t = arg;
    jrnl_ent_t e = {(uint32_t)t->idx % 4, "acct", t->id};
    for (int i = 0; i < PER_THREAD; i++) {
        ev_req_init(&t->reqs[i], &e, (uint64_t)i + 1, ordered_done);
        t->reqs[i].r.arg = (void *)(intptr_t)t->idx;
        ck_assert_int_eq(jw_submit(t->w, &t->reqs[i].r), 0);
    }
    return NULL;
}

START_TEST(test_jw_many_threads_batched_in_order)
{
    jrnl_t *j = jopen(0, 0, true);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    thr_t *ts = calloc(THREADS, sizeof *ts);
    pthread_t th[THREADS];
    memset(next_seq, 0, sizeof next_seq);
    order_bad = 0;
    /* Hold the writer so the first batches are certainly > 1; the rest
     * batch by themselves while each commit syncs. */
    gate_close(w);
    for (int i = 0; i < THREADS; i++) {
        ts[i].w = w;
        ts[i].idx = i;
        snprintf(ts[i].id, sizeof ts[i].id, "t%02d", i);
        ck_assert_int_eq(pthread_create(&th[i], NULL, submitter, &ts[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    gate_open();
    ck_assert(wait_done(THREADS * PER_THREAD + 1, DEADLINE_MS));
    ck_assert_int_eq(order_bad, 0);
    jw_stats_t st;
    jw_stats(w, &st);
    ck_assert_uint_eq(st.requests, THREADS * PER_THREAD + 1);
    ck_assert_uint_eq(st.events, THREADS * PER_THREAD);
    ck_assert_uint_eq(st.failed, 0);
    ck_assert_uint_eq(st.queued, 0);
    uint64_t batches = 0, big = 0;
    for (int b = 0; b < JW_HIST_BUCKETS; b++) {
        batches += st.batch_hist[b];
        big += b > 0 ? st.batch_hist[b] : 0;
    }
    ck_assert_uint_eq(batches, st.batches);
    ck_assert_uint_gt(big, 0);                     /* batches > 1 observed */
    ck_assert_uint_lt(st.batches, st.requests / 2); /* group commit at work */
    uint64_t syncs = 0;
    for (int b = 0; b < JW_HIST_BUCKETS; b++)
        syncs += st.sync_hist[b];
    ck_assert_uint_eq(syncs, st.batches); /* one sync per batch */
    jw_stop(w);
    for (int i = 0; i < THREADS; i++) {
        jrnl_ent_t e = {(uint32_t)i % 4, "acct", ts[i].id};
        ck_assert_uint_eq(loaded(j, &e), PER_THREAD);
    }
    free(ts);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jw_lone_request_prompt)
{
    jrnl_t *j = jopen(0, 0, true);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    ev_req_t q;
    jrnl_ent_t e = {3, "acct", "solo"};
    ev_req_init(&q, &e, 1, count_done);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(jw_submit(w, &q.r), 0);
    ck_assert(wait_done(1, 2000)); /* no batching timer: well under 2 s */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(q.r.status, 0);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert(ms < 2000);
    ck_assert_uint_eq(loaded(j, &e), 1);
    jw_stats_t st;
    jw_stats(w, &st);
    ck_assert_uint_eq(st.batches, 1);
    ck_assert_uint_eq(st.batch_hist[0], 1);
    jw_stop(w);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jw_seq_conflict_fails_only_its_request)
{
    jrnl_t *j = jopen(0, 0, false);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    jrnl_ent_t a = {1, "acct", "a"}, b = {1, "acct", "b"}, c = {2, "acct", "c"};
    ev_req_t q[7];
    ev_req_init(&q[0], &a, 1, count_done);
    ev_req_init(&q[1], &a, 2, count_done);
    ev_req_init(&q[2], &b, 5, count_done); /* b's head is 0: conflict */
    ev_req_init(&q[3], &c, 1, count_done);
    ev_req_init(&q[4], &b, 6, count_done); /* follows the failed one: fails too */
    ev_req_init(&q[5], &a, 3, count_done);
    ev_req_init(&q[6], &b, 1, count_done); /* b's real first event: fine */
    gate_close(w);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(jw_submit(w, &q[i].r), 0);
    gate_open();
    ck_assert(wait_done(8, DEADLINE_MS));
    int want[7] = {0, 0, SH_ESEQ, 0, SH_ESEQ, 0, 0};
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(q[i].r.status, want[i]);
    jw_stats_t st;
    jw_stats(w, &st);
    ck_assert_uint_eq(st.batches, 2);         /* the gate's, then all seven */
    ck_assert_uint_eq(st.batch_hist[3], 1);   /* 5..8 requests */
    ck_assert_uint_eq(st.failed, 2);
    ck_assert_uint_eq(st.events, 5);
    jw_stop(w);
    ck_assert_uint_eq(loaded(j, &a), 3);
    ck_assert_uint_eq(loaded(j, &b), 1);
    ck_assert_uint_eq(loaded(j, &c), 1);
    jrnl_close(j);
}
END_TEST

typedef struct stopper {
    jw_t *w;
} stopper_t;

static void *stop_thread(void *arg)
{
    jw_stop(((stopper_t *)arg)->w);
    return NULL;
}

START_TEST(test_jw_stop_drains)
{
    jrnl_t *j = jopen(0, 0, false);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    jrnl_ent_t e = {5, "acct", "drain"};
    enum { N = 100, PROBES = 1 << 16 };
    static ev_req_t q[N];
    static jw_req_t probes[PROBES];
    gate_close(w);
    for (int i = 0; i < N; i++) {
        ev_req_init(&q[i], &e, (uint64_t)i + 1, count_done);
        ck_assert_int_eq(jw_submit(w, &q[i].r), 0);
    }
    stopper_t s = {w};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stop_thread, &s), 0);
    /* Submissions are refused once jw_stop has begun (those accepted
     * before that are drained like the rest). */
    int accepted = 0, rc = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < PROBES && rc != SH_ECLOSED; i++) {
        memset(&probes[i], 0, sizeof probes[i]);
        probes[i].ent = (jrnl_ent_t){1, "probe", "p"};
        probes[i].done = count_done;
        if ((rc = jw_submit(w, &probes[i])) == 0)
            accepted++;
        else
            ck_assert_int_eq(rc, SH_ECLOSED);
        sched_yield(); /* let the stopper run; the loop ends on SH_ECLOSED */
        clock_gettime(CLOCK_MONOTONIC, &now);
        ck_assert_int_lt(now.tv_sec - t0.tv_sec, DEADLINE_MS / 1000);
    }
    ck_assert_int_eq(rc, SH_ECLOSED);
    gate_open();
    pthread_join(th, NULL); /* jw_stop returned: everything completed */
    ck_assert_int_eq(wt.done, 1 + N + accepted);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(q[i].r.status, 0);
    ck_assert_uint_eq(loaded(j, &e), N);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jw_queue_full)
{
    jrnl_t *j = jopen(0, 0, false);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    jw_req_t *rs = calloc(JW_QUEUE_MAX + 1, sizeof *rs);
    gate_close(w);
    for (int i = 0; i < JW_QUEUE_MAX; i++) {
        rs[i].ent = (jrnl_ent_t){1, "noop", "n"};
        rs[i].done = count_done;
        ck_assert_int_eq(jw_submit(w, &rs[i]), 0);
    }
    jw_stats_t st;
    jw_stats(w, &st);
    ck_assert_uint_eq(st.queued, JW_QUEUE_MAX);
    rs[JW_QUEUE_MAX].done = count_done;
    ck_assert_int_eq(jw_submit(w, &rs[JW_QUEUE_MAX]), SH_EFULL);
    gate_open();
    ck_assert(wait_done(JW_QUEUE_MAX + 1, DEADLINE_MS));
    jw_stop(w);
    ck_assert_int_eq(wt.done, JW_QUEUE_MAX + 1); /* the refused one never completes */
    free(rs);
    jrnl_close(j);
}
END_TEST


/* ---- map growth and the ceiling through the writer ------------------------- */

#define BIG (256u * 1024u)

typedef struct big_req {
    jw_req_t r;
    uint8_t *buf;
} big_req_t;

static void big_req_init(big_req_t *q, const jrnl_ent_t *e, uint64_t seq, uint32_t size)
{
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + 7;
    memset(q, 0, sizeof *q);
    q->buf = malloc(4 + size);
    memcpy(q->buf, &size, 4);
    for (uint32_t i = 0; i < size; i++) { /* incompressible */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        q->buf[4 + i] = (uint8_t)x;
    }
    q->r.ent = *e;
    q->r.first_seq = seq;
    q->r.ev_n = 1;
    q->r.ev = q->buf;
    q->r.ev_len = 4 + size;
    q->r.done = count_done;
}

static uint64_t head_of(jrnl_t *j, const jrnl_ent_t *e)
{
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, e, true, NULL, NULL, &info), 0);
    return info.last_seq;
}

START_TEST(test_jw_map_growth_retries_batch)
{
    jrnl_t *j = jopen(1u << 20, 0, false);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    jrnl_ent_t e = {4, "blob", "g"};
    enum { N = 40 }; /* 10 MiB into a 1 MiB map */
    big_req_t *q = calloc(N, sizeof *q);
    gate_close(w);
    for (int i = 0; i < N; i++) {
        big_req_init(&q[i], &e, (uint64_t)i + 1, BIG);
        ck_assert_int_eq(jw_submit(w, &q[i].r), 0);
    }
    gate_open();
    ck_assert(wait_done(N + 1, DEADLINE_MS));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(q[i].r.status, 0);
        free(q[i].buf);
    }
    jw_stats_t st;
    jw_stats(w, &st);
    ck_assert_uint_ge(st.grows, 3);
    ck_assert_uint_eq(st.failed, 0);
    jw_stop(w);
    ck_assert_uint_eq(head_of(j, &e), N);
    free(q);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jw_map_ceiling_fails_batch_then_recovers)
{
    jrnl_t *j = jopen(1u << 20, 2u << 20, false);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    jrnl_ent_t e = {4, "blob", "c"};
    big_req_t q;
    uint64_t seq = 1;
    int status = 0;
    for (int i = 0; i < 32 && status == 0; i++) {
        big_req_init(&q, &e, seq, BIG);
        ck_assert_int_eq(jw_submit(w, &q.r), 0);
        ck_assert(wait_done(i + 1, DEADLINE_MS));
        status = q.r.status;
        free(q.buf);
        seq += status == 0;
    }
    ck_assert_int_eq(status, SH_ENOSPACE);
    ck_assert_uint_eq(head_of(j, &e), seq - 1); /* untouched by the failed batch */
    /* A smaller request fits in what is left: the writer goes on. */
    ev_req_t small;
    int before = wt.done; /* nothing else in flight */
    ev_req_init(&small, &e, seq, count_done);
    ck_assert_int_eq(jw_submit(w, &small.r), 0);
    ck_assert(wait_done(before + 1, DEADLINE_MS));
    ck_assert_int_eq(small.r.status, 0);
    jw_stop(w);
    ck_assert_uint_eq(head_of(j, &e), seq);
    jrnl_close(j);
}
END_TEST

/* ---- a request with every kind of record ------------------------------------ */

static int rem_count_fn(void *arg, const jrnl_rem_t *r)
{
    (*(int *)arg)++;
    return 0;
}

static void submit_wait(jw_t *w, jw_req_t *r)
{
    int before = wt.done;
    r->done = count_done;
    ck_assert_int_eq(jw_submit(w, r), 0);
    ck_assert(wait_done(before + 1, DEADLINE_MS));
}

START_TEST(test_jw_request_all_parts)
{
    jrnl_t *j = jopen(0, 0, false);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    jrnl_ent_t e = {6, "cart", "full"};
    uint8_t ev[64];
    size_t off = 0;
    for (uint32_t i = 1; i <= 3; i++) {
        uint32_t len = 2;
        memcpy(ev + off, &len, 4);
        memcpy(ev + off + 4, "ev", 2);
        off += 6;
    }
    jw_rem_op_t tock = {.rem = {.name = "tock", .due_wall_ms = 9, .reps = 1}};
    jw_rem_op_t tick = {.next = &tock, .rem = {.name = "tick", .due_wall_ms = 5, .reps = -1}};
    jw_req_t r1 = {.ent = e, .first_seq = 1, .ev_n = 3, .ev = ev, .ev_len = off, .wall_ms = 1,
                   .snap = (const uint8_t *)"S3", .snap_len = 2, .snap_seq = 3, .retain = 1,
                   .idem_key = "k", .idem = {.status = 0, .expires_wall_ms = 0},
                   .rems = &tick};
    submit_wait(w, &r1);
    ck_assert_int_eq(r1.status, 0);
    jw_rem_op_t absent = {.del = true, .rem = {.name = "absent"}};
    jw_rem_op_t del = {.next = &absent, .del = true, .rem = {.name = "tock"}};
    jw_req_t r2 = {.ent = e, .first_seq = 4, .ev_n = 1, .ev = ev, .ev_len = 6, .rems = &del};
    submit_wait(w, &r2);
    ck_assert_int_eq(r2.status, 0);
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &e, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.snap_seq, 3);
    ck_assert_uint_eq(info.last_seq, 4);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 2); /* 3 (retained) and 4 */
    int nrem = 0;
    ck_assert_int_eq(jrnl_rem_scan(j, 6, rem_count_fn, &nrem), 0);
    ck_assert_int_eq(nrem, 1);
    jrnl_idem_t g;
    ck_assert_int_eq(jrnl_idem_get(j, &e, "k", 100, &g), 0);
    free(g.reply);
    /* A snapshot beyond the events: the request fails, nothing written. */
    jw_req_t r3 = {.ent = e, .first_seq = 5, .ev_n = 1, .ev = ev, .ev_len = 6,
                   .snap = (const uint8_t *)"S9", .snap_len = 2, .snap_seq = 9};
    submit_wait(w, &r3);
    ck_assert_int_eq(r3.status, SH_ESEQ);
    /* Purge, then the entity starts over at seq 1 in the same request. */
    jw_req_t r4 = {.ent = e, .purge = true, .first_seq = 1, .ev_n = 1, .ev = ev, .ev_len = 6};
    submit_wait(w, &r4);
    ck_assert_int_eq(r4.status, 0);
    ck_assert_int_eq(jrnl_load(j, &e, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.snap_seq, 0);
    ck_assert_uint_eq(info.last_seq, 1);
    nrem = 0;
    ck_assert_int_eq(jrnl_rem_scan(j, 6, rem_count_fn, &nrem), 0);
    ck_assert_int_eq(nrem, 0);
    ck_assert_int_eq(jrnl_idem_get(j, &e, "k", 100, &g), SH_ENOT_FOUND);
    jw_stop(w);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jw_idem_sweep_on_kick)
{
    jrnl_t *j = jopen(0, 0, false);
    jw_t *w;
    ck_assert_int_eq(jw_start(&w, j), 0);
    jrnl_ent_t e = {6, "cart", "idem"};
    jw_req_t old = {.ent = e, .idem_key = "old", .idem = {.expires_wall_ms = 1}};
    jw_req_t keep = {.ent = e, .idem_key = "keep", .idem = {.expires_wall_ms = 0}};
    submit_wait(w, &old);
    submit_wait(w, &keep);
    ck_assert_int_eq(old.status, 0);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.idem, 2);
    jw_kick_sweep(w);
    struct timespec t0, now, nap = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) { /* poll with a deadline */
        ck_assert_int_eq(jrnl_stats(j, &st), 0);
        if (st.idem == 1)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        ck_assert_int_lt(now.tv_sec - t0.tv_sec, DEADLINE_MS / 1000);
        nanosleep(&nap, NULL);
    }
    jrnl_idem_t g;
    ck_assert_int_eq(jrnl_idem_get(j, &e, "keep", 5, &g), 0);
    free(g.reply);
    jw_stop(w);
    jrnl_close(j);
}
END_TEST

static Suite *jw_suite(void)
{
    Suite *s = suite_create("jw");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, dir_remove);
    tcase_add_test(tc, test_jw_many_threads_batched_in_order);
    tcase_add_test(tc, test_jw_lone_request_prompt);
    tcase_add_test(tc, test_jw_seq_conflict_fails_only_its_request);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, dir_remove);
    tcase_add_test(tc, test_jw_stop_drains);
    tcase_add_test(tc, test_jw_queue_full);
    tcase_add_test(tc, test_jw_idem_sweep_on_kick);
    suite_add_tcase(s, tc);
    tc = tcase_create("records");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, dir_remove);
    tcase_add_test(tc, test_jw_map_growth_retries_batch);
    tcase_add_test(tc, test_jw_map_ceiling_fails_batch_then_recovers);
    tcase_add_test(tc, test_jw_request_all_parts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jw_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
