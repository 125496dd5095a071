/*
 * jw_fixture.h - what the group-commit writer suites share (jw_test.c,
 * jw_life_test.c, jw_records_test.c): a journal in its own mkdtemp
 * directory per test, completion counting, the gate, requests that
 * append one numbered event, and a check of what the journal loads.
 *
 * Nothing here sleeps to synchronise: the writer is held where a test
 * needs it by a `done` callback that blocks on a gate the test opens (the
 * writer runs callbacks on its own thread), and completions are awaited
 * on a condition variable with a deadline.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef JW_FIXTURE_H
#define JW_FIXTURE_H

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jdir_fixture.h"
#include "jw.h"
#include "sh_err.h"
#include "unit_fixture.h"

#define DEADLINE_MS 20000

static inline jrnl_t *jopen(uint64_t map_init, uint64_t map_max, bool sync)
{
    return jdir_open((jrnl_opts_t){.map_init = map_init, .map_max = map_max, .sync = sync});
}

/* ---- completion counting and the gate ------------------------------------- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} waiter_t;

static waiter_t wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static inline void count_done(jw_req_t *r)
{
    (void)r;
    pthread_mutex_lock(&wt.mu);
    wt.done++;
    pthread_cond_broadcast(&wt.cv);
    pthread_mutex_unlock(&wt.mu);
}

static inline struct timespec deadline_in(int ms)
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
static inline bool wait_done(int n, int ms)
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
static inline void gate_done(jw_req_t *r)
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
static inline void gate_close(jw_t *w)
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

static inline void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

static inline void setup(void)
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

static inline void ev_req_init(ev_req_t *q, const jrnl_ent_t *e, uint64_t seq,
                               void (*done)(jw_req_t *))
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

static inline int check_fn(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
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

static inline uint64_t loaded(jrnl_t *j, const jrnl_ent_t *e)
{
    check_arg_t c = {.id = e->id};
    ck_assert_int_eq(jrnl_load(j, e, true, check_fn, &c, NULL), 0);
    ck_assert_int_eq(c.bad, 0);
    return c.n;
}

/* Submit `r` and wait until it completed. */
static inline void submit_wait(jw_t *w, jw_req_t *r)
{
    int before = wt.done;
    r->done = count_done;
    ck_assert_int_eq(jw_submit(w, r), 0);
    ck_assert(wait_done(before + 1, DEADLINE_MS));
}

#endif /* JW_FIXTURE_H */
