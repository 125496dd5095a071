/*
 * ent_test.c - the entity runtime driven through real workers (wrk_new):
 * activation, one turn at a time, parallelism across workers, defer,
 * mailbox bound, deadlines, failure isolation, corruption, passivation
 * (idle and LRU), asks within and across workers, call cycles, timers,
 * tells, shard release and shutdown.
 *
 * The test type "t" is defined here.  Its methods (body in brackets):
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
 */
#include <check.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "ent_int.h"
#include "reg.h"
#include "ring.h"
#include "sh_err.h"
#include "sh_time.h"
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

static int t_create(void **state, const char *id, void *udata)
{
    tstate_t *s = calloc(1, sizeof *s);
    if (!s)
        return SHOAL_EINTERNAL;
    snprintf(s->id, sizeof s->id, "%s", id);
    *state = s;
    atomic_fetch_add(&g_creates, 1);
    return 0;
}

static void t_destroy(void *state, void *udata)
{
    tstate_t *s = state;
    pthread_mutex_lock(&g_mu);
    strncat(g_destroyed, s->id, sizeof g_destroyed - strlen(g_destroyed) - 2);
    strcat(g_destroyed, ",");
    pthread_mutex_unlock(&g_mu);
    atomic_fetch_add(&g_destroys, 1);
    free(s);
}

static int t_apply(void *state, const uint8_t *ev, size_t len, void *udata)
{
    int64_t d;
    if (len != sizeof d)
        return SHOAL_ECORRUPT;
    memcpy(&d, ev, sizeof d);
    ((tstate_t *)state)->value += d;
    return 0;
}

/* Bodies are bytes, not C strings. */
static long long body_int(const uint8_t *body, size_t len, long long dflt)
{
    char buf[32];
    if (!len || len >= sizeof buf)
        return dflt;
    memcpy(buf, body, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10);
}

static int reply_str(shoal_turn_t *t, const char *s)
{
    return shoal_turn_reply(t, s, strlen(s));
}

static int slow_cont(shoal_turn_t *t, void *state, int status, const uint8_t *r, size_t n, void *a)
{
    ((tstate_t *)state)->in_turn = 0;
    return reply_str(t, "slow-done");
}

static int hold_cont(shoal_turn_t *t, void *state, int status, const uint8_t *r, size_t n, void *a)
{
    if (atomic_load(&g_release))
        return reply_str(t, "held");
    return shoal_turn_defer(t, 2, hold_cont, NULL) == 0 ? SHOAL_TURN_PENDING : SHOAL_EINTERNAL;
}

static int ask_cont(shoal_turn_t *t, void *state, int status, const uint8_t *r, size_t n, void *a)
{
    char buf[512];
    if (status)
        snprintf(buf, sizeof buf, "err:%d", status);
    else
        snprintf(buf, sizeof buf, "ok:%.*s", (int)n, (const char *)r);
    return reply_str(t, buf);
}

static void rendezvous(void)
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

static int t_route_call(shoal_turn_t *t, const char *body, size_t len, bool ask)
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

static int t_handle(shoal_turn_t *t, void *state, const char *method, const uint8_t *body,
                    size_t len)
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

static void route(void *router, call_t *c)
{
    atomic_fetch_add(&g_routed, 1);
    int rc = wrk_submit(g_w[c->shard % g_n], c);
    if (rc != 0)
        call_complete(c, rc, NULL, 0, "route refused");
}

typedef struct rt_opts {
    uint32_t workers, mailbox, idle_ms, max_active;
} rt_opts_t;

static void rt_start(rt_opts_t o)
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

static void rt_stop(void)
{
    for (uint32_t i = 0; i < g_n; i++) {
        wrk_free(g_w[i]);
        g_w[i] = NULL;
    }
    reg_free(g_reg);
    g_reg = NULL;
}

static void reset(void)
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

static uint32_t shard_of(const char *id)
{
    return ring_shard_of("t", 1, id, strlen(id), SHARDS);
}

/* The k-th id "<prefix><i>" served by worker `w` (of g_n). */
static const char *id_on(uint32_t w, const char *prefix, int k)
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

static void on_done(call_t *c)
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

static waiter_t *submit_dl(enum call_kind k, const char *id, const char *method, const char *body,
                           uint64_t deadline_ms)
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

static waiter_t *submit(enum call_kind k, const char *id, const char *method, const char *body)
{
    return submit_dl(k, id, method, body, sh_time_mono_ms() + CALL_DEFAULT_TIMEOUT_MS);
}

static bool wait_done(waiter_t *wt, uint64_t ms)
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

static bool is_done(waiter_t *wt)
{
    pthread_mutex_lock(&g_mu);
    bool d = wt->done;
    pthread_mutex_unlock(&g_mu);
    return d;
}

/* Call and wait; the reply lands in `reply` (if not NULL).  Returns status. */
static int call_k(enum call_kind k, const char *id, const char *method, const char *body,
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

static int call(const char *id, const char *method, const char *body, char *reply)
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

static wrk_stats_t stats(uint32_t i)
{
    wrk_stats_t s;
    wrk_stats_get(g_w[i], &s);
    return s;
}

static wrk_stats_t stats_sum(void)
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


/* ---- activation, errors, isolation */

START_TEST(test_ent_activates_on_first_message)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(wrk_entity_active(g_w[0], "t", "a1"), false);
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    ck_assert_int_eq(call("a1", "add", "5", r), 0);
    ck_assert_str_eq(r, "5");
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "5");
    ck_assert_int_eq(atomic_load(&g_creates), 1);
    ck_assert_int_eq(wrk_entity_active(g_w[0], "t", "a1"), true);
    ck_assert_uint_eq(wrk_shard_active(g_w[0], shard_of("a1")), 1);
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.activations, 1);
    ck_assert_uint_eq(s.active, 1);
    ck_assert_uint_eq(s.turns_ok, 3);
    uint64_t lat = 0;
    for (int i = 0; i < WRK_LAT_BUCKETS; i++)
        lat += s.lat_buckets[i];
    ck_assert_uint_eq(lat, 3);
    ck_assert_uint_eq(s.depth_buckets[0], 3); /* each found an empty mailbox */
    rt_stop();
    ck_assert_int_eq(atomic_load(&g_destroys), 1);
}
END_TEST

START_TEST(test_ent_unknown_type_and_method)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *wt = calloc(1, sizeof *wt);
    call_t *c;
    ck_assert_int_eq(call_new(&c, CALL_ASK, "nope", "1", "get", NULL, 0,
                              sh_time_mono_ms() + 5000, SHARDS), 0);
    c->on_done = on_done;
    c->done_arg = wt;
    ck_assert_int_eq(wrk_submit(g_w[0], c), 0);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ENOT_FOUND);
    ck_assert_str_eq(wt->err, "unknown entity type 'nope'");
    free(wt);
    wt = submit(CALL_ASK, "a1", "frobnicate", NULL);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ENOT_FOUND);
    ck_assert_str_eq(wt->err, "unknown method 'frobnicate'");
    free(wt);
    ck_assert_uint_eq(stats(0).activations, 1);
    rt_stop();
}
END_TEST

START_TEST(test_ent_handler_error_isolates)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(call("a1", "add", "5", r), 0);
    ck_assert_int_eq(call("b1", "add", "7", r), 0);
    waiter_t *wt = submit(CALL_ASK, "a1", "fail", NULL);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ECONFLICT);
    ck_assert_str_eq(wt->err, "nope");
    ck_assert_str_eq(wt->reply, ""); /* a failed turn's reply is discarded */
    free(wt);
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "5"); /* its event was discarded too */
    ck_assert_int_eq(call("b1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "7");
    ck_assert_uint_eq(stats(0).turns_error, 1);
    ck_assert_int_eq(atomic_load(&g_creates), 2);
    rt_stop();
}
END_TEST

START_TEST(test_ent_corrupt_drops_and_reactivates)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(call("a1", "add", "3", r), 0);
    ck_assert_int_eq(call("a1", "corrupt", NULL, r), SH_ECORRUPT);
    /* the call completes first, the drop follows in the same loop pass */
    ck_assert(POLL_UNTIL(atomic_load(&g_destroys) == 1, 5000));
    ck_assert_uint_eq(stats(0).active, 0);
    ck_assert_int_eq(call("a1", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    ck_assert_int_eq(atomic_load(&g_creates), 2);
    /* an event apply refuses is corruption too */
    ck_assert_int_eq(call("a1", "badevent", NULL, r), SH_ECORRUPT);
    ck_assert(POLL_UNTIL(atomic_load(&g_destroys) == 2, 5000));
    /* with mail waiting, the entity is recreated at once for it */
    ck_assert_int_eq(call("a1", "add", "4", r), 0);
    waiter_t *h = submit(CALL_ASK, "a1", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *c1 = submit(CALL_ASK, "a1", "corrupt", NULL);
    waiter_t *g1 = submit(CALL_ASK, "a1", "get", NULL);
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000) && wait_done(c1, 5000) && wait_done(g1, 5000));
    ck_assert_int_eq(c1->status, SH_ECORRUPT);
    ck_assert_int_eq(g1->status, 0);
    ck_assert_str_eq(g1->reply, "0");
    ck_assert_int_eq(atomic_load(&g_creates), 4);
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.turns_corrupt, 3);
    ck_assert_uint_eq(s.activations, 4);
    ck_assert_uint_eq(s.active, 1);
    free(h);
    free(c1);
    free(g1);
    rt_stop();
}
END_TEST

/* ---- turns: one at a time per entity, parallel across entities */

START_TEST(test_ent_one_turn_at_a_time)
{
    rt_start((rt_opts_t){.workers = 2});
    enum { N = 40 };
    waiter_t *wts[N];
    for (int i = 0; i < N; i++)
        wts[i] = submit(CALL_ASK, i % 2 ? "x1" : "x2", "slow", "3");
    for (int i = 0; i < N; i++) {
        ck_assert(wait_done(wts[i], 10000));
        ck_assert_int_eq(wts[i]->status, 0);
        ck_assert_str_eq(wts[i]->reply, "slow-done");
        free(wts[i]);
    }
    ck_assert_int_eq(atomic_load(&g_violations), 0);
    ck_assert_int_eq(atomic_load(&g_handled), N);
    ck_assert_uint_eq(stats_sum().turns_ok, N);
    rt_stop();
}
END_TEST

START_TEST(test_ent_parallel_across_workers)
{
    rt_start((rt_opts_t){.workers = 2});
    waiter_t *a = submit(CALL_ASK, id_on(0, "p", 0), "rendezvous", NULL);
    waiter_t *b = submit(CALL_ASK, id_on(1, "p", 0), "rendezvous", NULL);
    ck_assert(wait_done(a, 10000) && wait_done(b, 10000));
    ck_assert_int_eq(a->status, 0);
    ck_assert_int_eq(b->status, 0);
    /* both handlers were inside at the same time */
    ck_assert_int_eq(atomic_load(&g_inside_max), 2);
    free(a);
    free(b);
    rt_stop();
}
END_TEST

START_TEST(test_ent_defer_does_not_block_worker)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *slow = submit(CALL_ASK, "A", "slow", "500");
    char r[512];
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(call("B", "ping", NULL, r), 0);
        ck_assert_str_eq(r, "pong");
    }
    /* B's 100 turns completed while A's single turn was still open */
    ck_assert(!is_done(slow));
    ck_assert(wait_done(slow, 5000));
    ck_assert_int_eq(slow->status, 0);
    ck_assert_str_eq(slow->reply, "slow-done");
    free(slow);
    rt_stop();
}
END_TEST

/* ---- bounds and deadlines */

START_TEST(test_ent_mailbox_overflow_busy)
{
    rt_start((rt_opts_t){.workers = 1, .mailbox = 3});
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *q[3];
    for (int i = 0; i < 3; i++)
        q[i] = submit(CALL_ASK, "A", "ping", NULL);
    waiter_t *over = submit(CALL_ASK, "A", "ping", NULL);
    ck_assert(wait_done(over, 5000));
    ck_assert_int_eq(over->status, SH_EBUSY);
    ck_assert_str_eq(over->err, "mailbox of t/A is full (3 calls)");
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.busy_rejections, 1);
    ck_assert_uint_eq(s.mailbox_depth_max, 3);
    /* depth found at enqueue: hold 0 (mailbox empty), then the pings 0,
     * 1, 2 (hold left the mailbox when its turn began); the refused one
     * is not sampled */
    ck_assert_uint_eq(s.depth_buckets[0], 2);
    ck_assert_uint_eq(s.depth_buckets[1], 1);
    ck_assert_uint_eq(s.depth_buckets[2], 1);
    for (int i = 0; i < 3; i++)
        ck_assert(!is_done(q[i]));
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000));
    for (int i = 0; i < 3; i++) {
        ck_assert(wait_done(q[i], 5000));
        ck_assert_int_eq(q[i]->status, 0);
        free(q[i]);
    }
    ck_assert(POLL_UNTIL(stats(0).mailbox_depth_max == 0, 5000));
    free(h);
    free(over);
    rt_stop();
}
END_TEST

START_TEST(test_ent_deadline_expired_before_turn)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *wt = submit_dl(CALL_ASK, "A", "add", "1", sh_time_mono_ms() - 1);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ETIMEOUT);
    ck_assert_int_eq(atomic_load(&g_handled), 0); /* never ran */
    ck_assert_uint_eq(stats(0).turns_timeout, 1);
    char r[512];
    ck_assert_int_eq(call("A", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    free(wt);
    rt_stop();
}
END_TEST

START_TEST(test_ent_deadline_expires_during_turn)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *wt = submit_dl(CALL_ASK, "A", "hold", NULL, sh_time_mono_ms() + 100);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ETIMEOUT);
    ck_assert_uint_eq(stats(0).turns_timeout, 1);
    /* the entity is free again */
    char r[512];
    ck_assert_int_eq(call("A", "ping", NULL, r), 0);
    ck_assert_str_eq(r, "pong");
    free(wt);
    rt_stop();
}
END_TEST

/* ---- passivation */

START_TEST(test_ent_idle_passivation)
{
    rt_start((rt_opts_t){.workers = 1, .idle_ms = 50});
    char r[512], id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "i%d", i);
        ck_assert_int_eq(call(id, "add", "2", r), 0);
    }
    ck_assert_uint_eq(stats(0).activations, 5);
    ck_assert(POLL_UNTIL(stats(0).passivations == 5, 5000));
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.active, 0);
    ck_assert_int_eq(atomic_load(&g_destroys), 5);
    ck_assert_int_eq(wrk_entity_active(g_w[0], "t", "i0"), false);
    /* reactivation: a fresh state (memory only until persistence lands) */
    ck_assert_int_eq(call("i0", "get", NULL, r), 0);
    ck_assert_str_eq(r, "0");
    ck_assert_uint_eq(stats(0).activations, 6);
    ck_assert_int_eq(atomic_load(&g_creates), 6);
    rt_stop();
}
END_TEST

START_TEST(test_ent_lru_passivation)
{
    rt_start((rt_opts_t){.workers = 1, .max_active = 3});
    char r[512];
    ck_assert_int_eq(call("e1", "get", NULL, r), 0);
    ck_assert_int_eq(call("e2", "get", NULL, r), 0);
    ck_assert_int_eq(call("e3", "get", NULL, r), 0);
    ck_assert_int_eq(call("e4", "get", NULL, r), 0);
    ck_assert_uint_eq(stats(0).passivations, 1);
    ck_assert_str_eq(g_destroyed, "e1,");
    ck_assert_int_eq(call("e2", "get", NULL, r), 0); /* e2 is now the most recent */
    ck_assert_int_eq(call("e5", "get", NULL, r), 0);
    ck_assert_str_eq(g_destroyed, "e1,e3,");
    /* an entity in a turn is never evicted, even when least recently used */
    waiter_t *h = submit(CALL_ASK, "e4", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    ck_assert_int_eq(call("e6", "get", NULL, r), 0);
    ck_assert_str_eq(g_destroyed, "e1,e3,e2,");
    ck_assert_int_eq(call("e7", "get", NULL, r), 0);
    ck_assert_str_eq(g_destroyed, "e1,e3,e2,e5,");
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000));
    wrk_stats_t s = stats(0);
    ck_assert_uint_eq(s.passivations, 4);
    ck_assert_uint_eq(s.active, 3);
    ck_assert_uint_eq(s.activations, 7);
    free(h);
    rt_stop();
}
END_TEST

/* ---- entity-to-entity calls */

START_TEST(test_ent_ask_same_worker)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    const char *a = id_on(0, "a", 0), *b = id_on(0, "b", 0);
    snprintf(body, sizeof body, "t %s ping 0", b);
    ck_assert_int_eq(call(a, "ask", body, r), 0);
    ck_assert_str_eq(r, "ok:pong");
    ck_assert_uint_eq(stats(0).local_fast_path, 1);
    ck_assert_int_eq(atomic_load(&g_routed), 0);
    /* an ask to an unknown type answers the continuation, not the caller */
    ck_assert_int_eq(call(a, "ask", "nope x get 0", r), 0);
    snprintf(body, sizeof body, "err:%d", SH_ENOT_FOUND);
    ck_assert_str_eq(r, body);
    rt_stop();
}
END_TEST

START_TEST(test_ent_ask_other_worker)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    const char *a = id_on(0, "a", 0), *b = id_on(1, "b", 0);
    snprintf(body, sizeof body, "t %s add 0 9", b);
    ck_assert_int_eq(call(a, "ask", body, r), 0);
    ck_assert_str_eq(r, "ok:9");
    ck_assert_int_eq(atomic_load(&g_routed), 1);
    ck_assert_uint_eq(stats_sum().local_fast_path, 0);
    ck_assert_int_eq(call(b, "get", NULL, r), 0);
    ck_assert_str_eq(r, "9");
    rt_stop();
}
END_TEST

/* A -> B -> A: B's ask waits behind A's open turn; the outer call ends at
 * its deadline with SH_ETIMEOUT, and both entities serve calls again. */
static void cycle_case(uint32_t wa, uint32_t wb)
{
    char r[512], body[256];
    const char *a = id_on(wa, "ca", 0);
    const char *b = id_on(wb, "cb", 0);
    char aid[32];
    snprintf(aid, sizeof aid, "%s", a);
    snprintf(body, sizeof body, "t %s ask 0 t %s ping 0", b, aid);
    waiter_t *wt = submit_dl(CALL_ASK, aid, "ask", body, sh_time_mono_ms() + 300);
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, SH_ETIMEOUT);
    free(wt);
    ck_assert_int_eq(call(aid, "ping", NULL, r), 0);
    ck_assert_int_eq(call(b, "ping", NULL, r), 0);
    ck_assert(POLL_UNTIL(stats_sum().turns_timeout >= 2, 5000));
}

START_TEST(test_ent_cycle_same_worker_times_out)
{
    rt_start((rt_opts_t){.workers = 2});
    cycle_case(0, 0);
    rt_stop();
}
END_TEST

START_TEST(test_ent_cycle_across_workers_times_out)
{
    rt_start((rt_opts_t){.workers = 2});
    cycle_case(0, 1);
    rt_stop();
}
END_TEST

START_TEST(test_ent_ask_timeout_then_late_reply)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    const char *a = id_on(0, "a", 0), *b = id_on(1, "b", 0);
    /* B blocks its worker, so only A's own clock can end the ask */
    snprintf(body, sizeof body, "t %s spin 300", b);
    waiter_t *wt = submit(CALL_ASK, a, "ask", body);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    ck_assert(wait_done(wt, 5000));
    ck_assert_int_eq(wt->status, 0);
    snprintf(body, sizeof body, "err:%d", SH_ETIMEOUT);
    ck_assert_str_eq(wt->reply, body); /* the continuation saw the ask's own timeout */
    atomic_store(&g_release, true);
    ck_assert(POLL_UNTIL(stats(0).late_replies == 1, 5000));
    ck_assert_int_eq(call(a, "ping", NULL, r), 0);
    free(wt);
    rt_stop();
}
END_TEST

START_TEST(test_ent_tell_answers_at_enqueue)
{
    rt_start((rt_opts_t){.workers = 2});
    char r[512], body[128];
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    /* A is busy, yet the tell is acknowledged as soon as it is queued */
    ck_assert_int_eq(call_k(CALL_TELL, "A", "add", "4", r), 0);
    ck_assert_str_eq(r, "");
    ck_assert(!is_done(h));
    atomic_store(&g_release, true);
    ck_assert(wait_done(h, 5000));
    ck_assert_int_eq(call("A", "get", NULL, r), 0);
    ck_assert_str_eq(r, "4");
    /* an entity's tell goes out after its turn succeeded */
    snprintf(body, sizeof body, "t %s add 2", id_on(1, "tb", 0));
    ck_assert_int_eq(call(id_on(0, "ta", 0), "tell", body, r), 0);
    ck_assert(POLL_UNTIL(call(id_on(1, "tb", 0), "get", NULL, r) == 0 && strcmp(r, "2") == 0,
                         5000));
    free(h);
    rt_stop();
}
END_TEST

/* ---- timers */

START_TEST(test_ent_timer_set_get_del)
{
    rt_start((rt_opts_t){.workers = 1});
    const char *spec =
        "{\"dueTime\":\"0h0m0s10ms\",\"period\":\"0h0m0s20ms\",\"callback\":\"tick\","
        "\"data\":{\"n\":1}}";
    char r[512];
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), SH_ENOT_FOUND);
    ck_assert_int_eq(stats(0).activations, 0); /* looking does not activate */
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t1", spec, r), 0);
    ck_assert_uint_eq(stats(0).activations, 1);
    ck_assert(POLL_UNTIL(atomic_load(&g_ticks) >= 3, 5000));
    pthread_mutex_lock(&g_mu);
    ck_assert_str_eq(g_last_tick, "{\"n\":1}");
    pthread_mutex_unlock(&g_mu);
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), 0);
    ck_assert_str_eq(r, spec);
    ck_assert_int_eq(call_k(CALL_TIMER_DEL, "A", "t1", NULL, r), 0);
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), SH_ENOT_FOUND);
    ck_assert_int_eq(call_k(CALL_TIMER_DEL, "A", "t1", NULL, r), SH_ENOT_FOUND);
    ck_assert_uint_ge(stats(0).timer_fires, 3);
    /* bad bodies */
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t2", "{\"dueTime\":\"soon\",\"callback\":\"tick\"}", r),
                     SH_EBAD_REQUEST);
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t2", "{\"dueTime\":\"1s\"}", r), SH_EBAD_REQUEST);
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t2", "[1]", r), SH_EBAD_REQUEST);
    /* one-shot with repetitions: "R2/..." fires exactly twice */
    int before = atomic_load(&g_ticks);
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t3",
                            "{\"dueTime\":\"0\",\"period\":\"R2/PT0.01S\",\"callback\":\"tick\"}",
                            r), 0);
    ck_assert(POLL_UNTIL(call_k(CALL_TIMER_GET, "A", "t3", NULL, r) == SH_ENOT_FOUND, 5000));
    ck_assert(POLL_UNTIL(atomic_load(&g_ticks) == before + 2, 5000));
    rt_stop();
}
END_TEST

START_TEST(test_ent_timers_do_not_keep_alive)
{
    rt_start((rt_opts_t){.workers = 1, .idle_ms = 100});
    char r[512];
    ck_assert_int_eq(call_k(CALL_TIMER_SET, "A", "t1",
                            "{\"dueTime\":\"0s\",\"period\":\"10ms\",\"callback\":\"tick\"}", r),
                     0);
    ck_assert(POLL_UNTIL(stats(0).passivations == 1, 5000));
    ck_assert_int_gt(atomic_load(&g_ticks), 0);
    ck_assert_uint_eq(stats(0).active, 0);
    ck_assert_int_eq(atomic_load(&g_destroys), 1);
    /* the timer went with the activation */
    ck_assert_int_eq(call_k(CALL_TIMER_GET, "A", "t1", NULL, r), SH_ENOT_FOUND);
    rt_stop();
}
END_TEST

/* ---- shard release and shutdown */

START_TEST(test_ent_shard_release_drops_entities)
{
    rt_start((rt_opts_t){.workers = 1});
    char r[512];
    ck_assert_int_eq(call("A", "add", "1", r), 0);
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *q = submit(CALL_ASK, "A", "ping", NULL);
    wrk_shard_release(g_w[0], shard_of("A"));
    ck_assert(wait_done(h, 5000) && wait_done(q, 5000));
    ck_assert_int_eq(h->status, SH_EUNAVAILABLE);
    ck_assert_int_eq(q->status, SH_EUNAVAILABLE);
    ck_assert(POLL_UNTIL(wrk_shard_active(g_w[0], shard_of("A")) == 0, 5000));
    ck_assert_int_eq(atomic_load(&g_destroys), 1);
    ck_assert_uint_eq(stats(0).active, 0);
    free(h);
    free(q);
    rt_stop();
}
END_TEST

START_TEST(test_ent_shutdown_completes_closed)
{
    rt_start((rt_opts_t){.workers = 1});
    waiter_t *h = submit(CALL_ASK, "A", "hold", NULL);
    ck_assert(POLL_UNTIL(atomic_load(&g_hold_started) == 1, 5000));
    waiter_t *q1 = submit(CALL_ASK, "A", "ping", NULL);
    waiter_t *q2 = submit(CALL_ASK, "B", "ask", "t A ping 0");
    ck_assert(POLL_UNTIL(stats(0).activations == 2 && atomic_load(&g_handled) == 2, 5000));
    rt_stop();
    ck_assert(is_done(h) && is_done(q1) && is_done(q2));
    ck_assert_int_eq(h->status, SH_ECLOSED);
    ck_assert_int_eq(q1->status, SH_ECLOSED);
    ck_assert_int_eq(q2->status, SH_ECLOSED);
    ck_assert_msg(atomic_load(&g_destroys) == 2, "destroyed %s", g_destroyed);
    free(h);
    free(q1);
    free(q2);
}
END_TEST

/* ---- cost per entity */

START_TEST(test_ent_overhead_per_entity)
{
    /* The runtime's own bytes per active idle entity: the ent_t header and
     * id in one allocation (as malloc really sizes it) plus the hash
     * bucket share (at most 2 pointers per entity at load 1/2..1). */
    size_t hdr = offsetof(ent_t, id);
    void *p = malloc(hdr + sizeof "counter-1234567");
    size_t usable = malloc_usable_size(p);
    free(p);
    size_t total = usable + 8 /* malloc header */ + 2 * sizeof(ent_t *);
    printf("ent overhead: header %zu B, allocation %zu B, total <= %zu B per entity\n", hdr,
           usable + 8, total);
    ck_assert_uint_le(total, 256);
}
END_TEST

static Suite *ent_suite(void)
{
    Suite *s = suite_create("ent");
    struct {
        const char *name;
        const TTest *tests[8];
    } cases[] = {
        {"activation", {test_ent_activates_on_first_message, test_ent_unknown_type_and_method,
                        test_ent_overhead_per_entity}},
        {"isolation", {test_ent_handler_error_isolates, test_ent_corrupt_drops_and_reactivates}},
        {"turns", {test_ent_one_turn_at_a_time, test_ent_parallel_across_workers,
                   test_ent_defer_does_not_block_worker}},
        {"bounds", {test_ent_mailbox_overflow_busy, test_ent_deadline_expired_before_turn,
                    test_ent_deadline_expires_during_turn}},
        {"passivation", {test_ent_idle_passivation, test_ent_lru_passivation}},
        {"calls", {test_ent_ask_same_worker, test_ent_ask_other_worker,
                   test_ent_cycle_same_worker_times_out, test_ent_cycle_across_workers_times_out,
                   test_ent_ask_timeout_then_late_reply, test_ent_tell_answers_at_enqueue}},
        {"timers", {test_ent_timer_set_get_del, test_ent_timers_do_not_keep_alive}},
        {"lifecycle", {test_ent_shard_release_drops_entities, test_ent_shutdown_completes_closed}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, reset, NULL);
        tcase_set_timeout(tc, 60);
        for (size_t j = 0; j < 8 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cv, &ca);
    SRunner *sr = srunner_create(ent_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
