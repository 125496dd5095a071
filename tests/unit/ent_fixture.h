/*
 * ent_fixture.h - what the entity runtime suites share (ent_test.c,
 * ent_ask_test.c, ent_life_test.c, ent_timer_test.c): the test type "t",
 * real workers (wrk_new) started and stopped per test, calls submitted
 * from the test and awaited with a deadline, and worker statistics.
 *
 * The test type "t".  Its methods (body in brackets):
 *   get                 -> "<value>"
 *   add [n]             emits n (default 1)            -> "<value + n>"
 *   fail                emits 1, then fails CONFLICT "nope"
 *   corrupt             -> SHOAL_ECORRUPT
 *   badevent            emits an event apply refuses (corrupt)
 *   ping                -> "pong"
 *   slow [ms]           defers ms; checks no other turn of it overlaps
 *   hold                defers until the test sets g_release
 *   spin                blocks its worker until g_release (a bad handler)
 *   rendezvous          blocks until two entities are inside at once
 *   ask "T I M ms [B]"  asks T/I method M (timeout ms, body B)
 *                       -> "ok:<reply>" or "err:<code>"
 *   tell "T I M [B]"    tells T/I method M
 *   tick [data]         timer callback: counts and records data
 * Waiting is by polling a condition with a deadline, never a bare sleep.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef ENT_FIXTURE_H
#define ENT_FIXTURE_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "reg.h"
#include "ring.h"
#include "sh_err.h"
#include "sh_time.h"
#include "unit_fixture.h"
#include "wrk.h"

#define SHARDS 64
#define WMAX 4

/* ---- observations shared with the type (reset per test) */
static atomic_int g_creates, g_destroys, g_handled, g_violations, g_ticks, g_hold_started;
static atomic_int g_inside, g_inside_max, g_routed;
static atomic_bool g_release;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;
static char g_destroyed[1024]; /* "id,id," in destroy order */
static char g_last_tick[256];

/* ---- the test type */
typedef struct tstate {
    char id[64];
    int64_t value;
    int in_turn;
} tstate_t;

static inline int t_create(void **state, const char *id, void *udata)
{
    tstate_t *s = calloc(1, sizeof *s);
    if (!s)
        return SHOAL_EINTERNAL;
    snprintf(s->id, sizeof s->id, "%s", id);
    *state = s;
    atomic_fetch_add(&g_creates, 1);
    return 0;
}

static inline void t_destroy(void *state, void *udata)
{
    tstate_t *s = state;
    pthread_mutex_lock(&g_mu);
    strncat(g_destroyed, s->id, sizeof g_destroyed - strlen(g_destroyed) - 2);
    strcat(g_destroyed, ",");
    pthread_mutex_unlock(&g_mu);
    atomic_fetch_add(&g_destroys, 1);
    free(s);
}

static inline int t_apply(void *state, const uint8_t *ev, size_t len, void *udata)
{
    int64_t d;
    if (len != sizeof d)
        return SHOAL_ECORRUPT;
    memcpy(&d, ev, sizeof d);
    ((tstate_t *)state)->value += d;
    return 0;
}

/* Bodies are bytes, not C strings. */
static inline long long body_int(const uint8_t *body, size_t len, long long dflt)
{
    char buf[32];
    if (!len || len >= sizeof buf)
        return dflt;
    memcpy(buf, body, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10);
}

static inline int reply_str(shoal_turn_t *t, const char *s)
{
    return shoal_turn_reply(t, s, strlen(s));
}

static inline int slow_cont(shoal_turn_t *t, void *state, int status, const uint8_t *r,
                            size_t n, void *a)
{
    ((tstate_t *)state)->in_turn = 0;
    return reply_str(t, "slow-done");
}

static inline int hold_cont(shoal_turn_t *t, void *state, int status, const uint8_t *r,
                            size_t n, void *a)
{
    if (atomic_load(&g_release))
        return reply_str(t, "held");
    return shoal_turn_defer(t, 2, hold_cont, NULL) == 0 ? SHOAL_TURN_PENDING : SHOAL_EINTERNAL;
}

static inline int ask_cont(shoal_turn_t *t, void *state, int status, const uint8_t *r,
                           size_t n, void *a)
{
    char buf[512];
    if (status)
        snprintf(buf, sizeof buf, "err:%d", status);
    else
        snprintf(buf, sizeof buf, "ok:%.*s", (int)n, (const char *)r);
    return reply_str(t, buf);
}

static inline void rendezvous(void)
{
    int now_in = atomic_fetch_add(&g_inside, 1) + 1;
    uint64_t end = sh_time_mono_ms() + 3000;
    while (now_in < 2 && sh_time_mono_ms() < end) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        now_in = atomic_load(&g_inside);
    }
    int m = atomic_load(&g_inside_max);
    while (now_in > m && !atomic_compare_exchange_weak(&g_inside_max, &m, now_in))
        ;
    /* Leave only once the partner has seen us (or gave up). */
    while (atomic_load(&g_inside_max) < 2 && sh_time_mono_ms() < end)
        ;
    atomic_fetch_sub(&g_inside, 1);
}

static inline int t_route_call(shoal_turn_t *t, const char *body, size_t len, bool ask)
{
    char buf[512], ty[64], id[256], m[128];
    unsigned ms = 0;
    int off = 0;
    snprintf(buf, sizeof buf, "%.*s", (int)len, body ? body : "");
    if (ask ? sscanf(buf, "%63s %255s %127s %u %n", ty, id, m, &ms, &off) < 4
            : sscanf(buf, "%63s %255s %127s %n", ty, id, m, &off) < 3)
        return SHOAL_EBAD_REQUEST;
    const char *rest = buf + off;
    if (!ask)
        return shoal_turn_tell(t, ty, id, m, rest, strlen(rest));
    int rc = shoal_turn_ask(t, ty, id, m, rest, strlen(rest), ms, ask_cont, NULL);
    return rc == 0 ? SHOAL_TURN_PENDING : rc;
}

static inline int t_handle(shoal_turn_t *t, void *state, const char *method,
                           const uint8_t *body, size_t len)
{
    tstate_t *s = state;
    char buf[64];
    atomic_fetch_add(&g_handled, 1);
    if (s->in_turn)
        atomic_fetch_add(&g_violations, 1);
    if (strcmp(method, "get") == 0 || strcmp(method, "add") == 0) {
        int64_t d = 0;
        if (strcmp(method, "add") == 0) {
            d = body_int(body, len, 1);
            shoal_turn_emit(t, &d, sizeof d);
        }
        snprintf(buf, sizeof buf, "%lld", (long long)(s->value + d));
        return reply_str(t, buf);
    }
    if (strcmp(method, "fail") == 0) {
        int64_t d = 1;
        shoal_turn_emit(t, &d, sizeof d);
        reply_str(t, "should not be seen");
        return shoal_turn_fail(t, SHOAL_ECONFLICT, "nope");
    }
    if (strcmp(method, "corrupt") == 0)
        return SHOAL_ECORRUPT;
    if (strcmp(method, "badevent") == 0)
        return shoal_turn_emit(t, "x", 1);
    if (strcmp(method, "ping") == 0)
        return reply_str(t, "pong");
    if (strcmp(method, "slow") == 0) {
        s->in_turn = 1;
        return shoal_turn_defer(t, (uint32_t)body_int(body, len, 5), slow_cont, NULL) == 0
                   ? SHOAL_TURN_PENDING
                   : SHOAL_EINTERNAL;
    }
    if (strcmp(method, "hold") == 0) {
        atomic_fetch_add(&g_hold_started, 1);
        return hold_cont(t, state, 0, NULL, 0, NULL);
    }
    if (strcmp(method, "spin") == 0) { /* blocks its worker until released */
        atomic_fetch_add(&g_hold_started, 1);
        uint64_t end = sh_time_mono_ms() + 5000;
        while (!atomic_load(&g_release) && sh_time_mono_ms() < end)
            ;
        return reply_str(t, "spun");
    }
    if (strcmp(method, "rendezvous") == 0) {
        rendezvous();
        return reply_str(t, "met");
    }
    if (strcmp(method, "ask") == 0 || strcmp(method, "tell") == 0)
        return t_route_call(t, (const char *)body, len, method[0] == 'a');
    if (strcmp(method, "tick") == 0) {
        pthread_mutex_lock(&g_mu);
        snprintf(g_last_tick, sizeof g_last_tick, "%.*s", (int)len, (const char *)body);
        pthread_mutex_unlock(&g_mu);
        atomic_fetch_add(&g_ticks, 1);
        return 0;
    }
    snprintf(buf, sizeof buf, "unknown method '%s'", method);
    return shoal_turn_fail(t, SHOAL_ENOT_FOUND, buf);
}

static const shoal_entity_type_t t_type = {
    .name = "t", .create = t_create, .destroy = t_destroy,
    .handle = t_handle, .apply = t_apply,
};

/* ---- the runtime under test */
static reg_t *g_reg;
static wrk_t *g_w[WMAX];
static uint32_t g_n;

static inline void route(void *router, call_t *c)
{
    atomic_fetch_add(&g_routed, 1);
    int rc = wrk_submit(g_w[c->shard % g_n], c);
    if (rc != 0)
        call_complete(c, rc, NULL, 0, "route refused");
}

typedef struct rt_opts {
    uint32_t workers, mailbox, idle_ms, max_active;
} rt_opts_t;

static inline void rt_start(rt_opts_t o)
{
    ck_assert_int_eq(reg_new(&g_reg), 0);
    ck_assert_int_eq(shoal_register_type(g_reg, &t_type), 0);
    g_n = o.workers ? o.workers : 1;
    for (uint32_t i = 0; i < g_n; i++) {
        wrk_config_t cfg = {
            .index = i, .nworkers = g_n, .shards = SHARDS,
            .mailbox_max = o.mailbox ? o.mailbox : 1000, .idle_timeout_ms = o.idle_ms,
            .max_active = o.max_active, .reg = g_reg, .route = route, .router = NULL,
        };
        ck_assert_int_eq(wrk_new(&g_w[i], &cfg), 0);
        for (uint32_t s = 0; s < SHARDS; s++)
            wrk_shard_acquire(g_w[i], s);
    }
}

static inline void rt_stop(void)
{
    for (uint32_t i = 0; i < g_n; i++) {
        wrk_free(g_w[i]);
        g_w[i] = NULL;
    }
    reg_free(g_reg);
    g_reg = NULL;
}

static inline void reset(void)
{
    atomic_store(&g_creates, 0);
    atomic_store(&g_destroys, 0);
    atomic_store(&g_handled, 0);
    atomic_store(&g_violations, 0);
    atomic_store(&g_ticks, 0);
    atomic_store(&g_hold_started, 0);
    atomic_store(&g_inside, 0);
    atomic_store(&g_inside_max, 0);
    atomic_store(&g_routed, 0);
    atomic_store(&g_release, false);
    g_destroyed[0] = g_last_tick[0] = '\0';
}

static inline uint32_t shard_of(const char *id)
{
    return ring_shard_of("t", 1, id, strlen(id), SHARDS);
}

/* The k-th id "<prefix><i>" served by worker `w` (of g_n). */
static inline const char *id_on(uint32_t w, const char *prefix, int k)
{
    static char ids[16][32];
    static int next;
    char *buf = ids[next++ % 16];
    for (int i = 0;; i++) {
        snprintf(buf, 32, "%s%d", prefix, i);
        if (shard_of(buf) % g_n == w && k-- == 0)
            return buf;
    }
}

/* ---- calls from the test */
typedef struct waiter {
    int done, status;
    char reply[512], err[256];
} waiter_t;

static inline void on_done(call_t *c)
{
    waiter_t *wt = c->done_arg;
    pthread_mutex_lock(&g_mu);
    wt->status = c->status;
    snprintf(wt->reply, sizeof wt->reply, "%.*s", (int)c->reply_len, (const char *)c->reply);
    snprintf(wt->err, sizeof wt->err, "%s", c->errmsg);
    wt->done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    call_free(c);
}

static inline waiter_t *submit_dl(enum call_kind k, const char *id, const char *method,
                                  const char *body, uint64_t deadline_ms)
{
    waiter_t *wt = calloc(1, sizeof *wt);
    call_t *c;
    ck_assert_int_eq(call_new(&c, k, "t", id, method, body, body ? strlen(body) : 0,
                              deadline_ms, SHARDS), 0);
    c->on_done = on_done;
    c->done_arg = wt;
    ck_assert_int_eq(wrk_submit(g_w[c->shard % g_n], c), 0);
    return wt;
}

static inline waiter_t *submit(enum call_kind k, const char *id, const char *method,
                               const char *body)
{
    return submit_dl(k, id, method, body, sh_time_mono_ms() + CALL_DEFAULT_TIMEOUT_MS);
}

static inline bool wait_done(waiter_t *wt, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g_mu);
    while (!wt->done && pthread_cond_timedwait(&g_cv, &g_mu, &ts) == 0)
        ;
    bool done = wt->done;
    pthread_mutex_unlock(&g_mu);
    return done;
}

static inline bool is_done(waiter_t *wt)
{
    pthread_mutex_lock(&g_mu);
    bool d = wt->done;
    pthread_mutex_unlock(&g_mu);
    return d;
}

/* Call and wait; the reply lands in `reply` (if not NULL).  Returns status. */
static inline int call_k(enum call_kind k, const char *id, const char *method, const char *body,
                         char *reply)
{
    waiter_t *wt = submit(k, id, method, body);
    ck_assert_msg(wait_done(wt, 10000), "call %s.%s never completed", id, method);
    int st = wt->status;
    if (reply)
        strcpy(reply, wt->reply);
    free(wt);
    return st;
}

static inline int call(const char *id, const char *method, const char *body, char *reply)
{
    return call_k(CALL_ASK, id, method, body, reply);
}

#define POLL_UNTIL(cond, ms)                                                   \
    ({                                                                         \
        uint64_t end_ = sh_time_mono_ms() + (ms);                              \
        while (!(cond) && sh_time_mono_ms() < end_) {                          \
            struct timespec ts_ = {0, 1000000};                                \
            nanosleep(&ts_, NULL);                                             \
        }                                                                      \
        (cond);                                                                \
    })

static inline wrk_stats_t stats(uint32_t i)
{
    wrk_stats_t s;
    wrk_stats_get(g_w[i], &s);
    return s;
}

static inline wrk_stats_t stats_sum(void)
{
    wrk_stats_t t = {0}, s;
    for (uint32_t i = 0; i < g_n; i++) {
        wrk_stats_get(g_w[i], &s);
        t.active += s.active;
        t.activations += s.activations;
        t.passivations += s.passivations;
        t.turns_ok += s.turns_ok;
        t.turns_timeout += s.turns_timeout;
        t.local_fast_path += s.local_fast_path;
        t.late_replies += s.late_replies;
    }
    return t;
}

/* ---- suites */

/* Run suite `s` (g_cv waits on the monotonic clock); the exit status. */
static inline int ent_run(Suite *s)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cv, &ca);
    return unit_run(s);
}

#endif /* ENT_FIXTURE_H */
