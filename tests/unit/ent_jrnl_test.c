/*
 * ent_jrnl_test.c - entities over a real journal (LMDB in a temp dir) and
 * the real group-commit writer: output gates, pipelined turns, recovery
 * (from the full journal and from a snapshot + tail), a failed commit,
 * idempotency, and a damaged journal.
 *
 * The persistent test type "p": add [n] emits n (int64) -> "<value>";
 * get -> "<value>"; snapshot/restore the int64.  Waiting is by polling
 * with a deadline, never a bare sleep.
 */
#include <check.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "jrnl.h"
#include "jw.h"
#include "reg.h"
#include "ring.h"
#include "sh_err.h"
#include "sh_time.h"
#include "wrk.h"

#define SHARDS 16
#define NW 2

static int p_create(void **state, const char *id, void *udata)
{
    *state = calloc(1, sizeof(int64_t));
    return *state ? 0 : SHOAL_EINTERNAL;
}

static void p_destroy(void *state, void *udata) { free(state); }

static int p_apply(void *state, const uint8_t *ev, size_t len, void *udata)
{
    int64_t d;
    if (len != sizeof d)
        return SHOAL_ECORRUPT;
    memcpy(&d, ev, sizeof d);
    *(int64_t *)state += d;
    return 0;
}

static int p_snapshot(const void *state, uint8_t **out, size_t *len, void *udata)
{
    *out = malloc(sizeof(int64_t));
    if (!*out)
        return SHOAL_EINTERNAL;
    memcpy(*out, state, sizeof(int64_t));
    *len = sizeof(int64_t);
    return 0;
}

static int p_restore(void *state, const uint8_t *d, size_t len, void *udata)
{
    if (len != sizeof(int64_t))
        return SHOAL_ECORRUPT;
    memcpy(state, d, len);
    return 0;
}

static int p_handle(shoal_turn_t *t, void *state, const char *method, const uint8_t *body,
                    size_t len)
{
    int64_t d = 0;
    char buf[64];
    if (strcmp(method, "add") == 0) {
        char num[32] = "1";
        if (len && len < sizeof num) {
            memcpy(num, body, len);
            num[len] = '\0';
        }
        d = strtoll(num, NULL, 10);
        int rc = shoal_turn_emit(t, &d, sizeof d);
        if (rc)
            return rc;
    } else if (strcmp(method, "big") == 0) { /* 256 KiB of noise: fills a small map */
        static uint8_t noise[256 << 10];
        for (size_t i = 0; i < sizeof noise; i++)
            noise[i] = (uint8_t)(rand() >> 7);
        int rc = shoal_turn_emit(t, noise, sizeof noise);
        if (rc)
            return rc;
    } else if (strcmp(method, "get") != 0) {
        return SHOAL_ENOT_FOUND;
    }
    snprintf(buf, sizeof buf, "%lld", (long long)(*(int64_t *)state + d));
    return shoal_turn_reply(t, buf, strlen(buf));
}

/* "big" events are not int64s: apply ignores them (they only take space) */
static int p_apply_any(void *state, const uint8_t *ev, size_t len, void *udata)
{
    return len == sizeof(int64_t) ? p_apply(state, ev, len, udata) : 0;
}

static const shoal_entity_type_t p_type = {
    .name = "p", .persistent = true, .create = p_create, .destroy = p_destroy,
    .handle = p_handle, .apply = p_apply_any, .snapshot = p_snapshot, .restore = p_restore,
};

/* ---- runtime */
static char g_dir[64];
static jrnl_t *g_j;
static jw_t *g_jw;
static reg_t *g_reg;
static wrk_t *g_w[NW];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static atomic_int g_gate_violations;

static void route(void *router, call_t *c)
{
    int rc = wrk_submit(g_w[c->shard % NW], c);
    if (rc != 0)
        call_complete(c, rc, NULL, 0, "route refused");
}

static void rt_start(uint32_t snapshot_every, uint64_t map_max)
{
    jrnl_opts_t o = {.dir = g_dir, .map_init = map_max, .map_max = map_max, .sync = true};
    ck_assert_int_eq(jrnl_open(&g_j, &o), 0);
    ck_assert_int_eq(jw_start(&g_jw, g_j), 0);
    ck_assert_int_eq(reg_new(&g_reg), 0);
    ck_assert_int_eq(shoal_register_type(g_reg, &p_type), 0);
    for (uint32_t i = 0; i < NW; i++) {
        wrk_config_t cfg = {.index = i, .nworkers = NW, .shards = SHARDS, .mailbox_max = 1000,
                            .reg = g_reg, .route = route, .jrnl = g_j, .jw = g_jw,
                            .snapshot_every = snapshot_every, .retain_events = 1000000,
                            .idem_ttl_ms = 60000};
        ck_assert_int_eq(wrk_new(&g_w[i], &cfg), 0);
        for (uint32_t s = 0; s < SHARDS; s++)
            wrk_shard_acquire(g_w[i], s);
    }
}

static void rt_stop(void)
{
    jw_stop(g_jw); /* before the workers, as the node does */
    for (uint32_t i = 0; i < NW; i++)
        wrk_free(g_w[i]);
    reg_free(g_reg);
    jrnl_close(g_j);
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/shoal-entjrnl-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    atomic_store(&g_gate_violations, 0);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- calls */
typedef struct waiter {
    int done, status;
    uint64_t head_at_reply; /* the journal's head when the reply arrived */
    char reply[64];
} waiter_t;

static void on_done(call_t *c)
{
    waiter_t *wt = c->done_arg;
    /* The output gate: a successful reply is only seen once its event is
     * committed, so a fresh read must already find it. */
    jrnl_ent_t je = {.shard = c->shard, .type = c->type, .id = c->id};
    uint64_t head = 0, snap = 0;
    jrnl_head(g_j, &je, &head, &snap);
    pthread_mutex_lock(&g_mu);
    wt->status = c->status;
    wt->head_at_reply = head;
    snprintf(wt->reply, sizeof wt->reply, "%.*s", (int)c->reply_len, (const char *)c->reply);
    wt->done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    call_free(c);
}

static void submit(waiter_t *wt, const char *id, const char *method, const char *body,
                   const char *idem)
{
    call_t *c;
    memset(wt, 0, sizeof *wt);
    ck_assert_int_eq(call_new(&c, CALL_ASK, "p", id, method, body, body ? strlen(body) : 0,
                              sh_time_mono_ms() + 10000, SHARDS),
                     0);
    if (idem)
        snprintf(c->idem_key, sizeof c->idem_key, "%s", idem);
    c->on_done = on_done;
    c->done_arg = wt;
    ck_assert_int_eq(wrk_submit(g_w[c->shard % NW], c), 0);
}

static void wait_done(waiter_t *wt)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&g_mu);
    while (!wt->done)
        ck_assert_int_eq(pthread_cond_timedwait(&g_cv, &g_mu, &ts), 0);
    pthread_mutex_unlock(&g_mu);
}

static waiter_t call1(const char *id, const char *method, const char *body, const char *idem)
{
    waiter_t wt;
    submit(&wt, id, method, body, idem);
    wait_done(&wt);
    return wt;
}

/* ---- tests */

START_TEST(gate_and_pipelining)
{
    rt_start(0, 0);
    enum { N = 200 };
    static waiter_t w[N];
    for (int i = 0; i < N; i++) /* one entity, many turns outstanding */
        submit(&w[i], "e1", "add", "1", NULL);
    for (int i = 0; i < N; i++) {
        wait_done(&w[i]);
        ck_assert_int_eq(w[i].status, 0);
        ck_assert_int_eq(atoi(w[i].reply), i + 1); /* turn order */
        /* the reply of the (i+1)-th add saw a journal holding >= i+1 events */
        ck_assert_uint_ge(w[i].head_at_reply, (uint64_t)i + 1);
    }
    jw_stats_t st;
    jw_stats(g_jw, &st);
    ck_assert_uint_eq(st.events, N);
    ck_assert_uint_lt(st.batches, N); /* turns ran ahead of syncs: group commit */
    rt_stop();
    rt_start(0, 0);
    ck_assert_str_eq(call1("e1", "get", NULL, NULL).reply, "200");
    rt_stop();
}
END_TEST

/* Collect a replay into an int64. */
static int sum_cb(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall, const uint8_t *d,
                  size_t n)
{
    int64_t *v = arg;
    if (kind == JRNL_SNAPSHOT)
        return p_restore(v, d, n, NULL);
    return p_apply(v, d, n, NULL);
}

START_TEST(snapshot_recovery_equals_full_replay)
{
    rt_start(7, 0);
    for (int i = 1; i <= 100; i++)
        ck_assert_int_eq(call1("s1", "add", i % 2 ? "3" : "-1", NULL).status, 0);
    rt_stop();
    rt_start(7, 0);
    jrnl_ent_t je = {.shard = ring_shard_of("p", 1, "s1", 2, SHARDS), .type = "p", .id = "s1"};
    int64_t a = 0, b = 0;
    jrnl_load_info_t ia, ib;
    ck_assert_int_eq(jrnl_load(g_j, &je, true, sum_cb, &a, &ia), 0);
    ck_assert_int_eq(jrnl_load(g_j, &je, false, sum_cb, &b, &ib), 0);
    ck_assert_int_eq(a, b);
    ck_assert_int_eq(a, 100);
    ck_assert_uint_eq(ia.snap_seq, 98);  /* snapshots every 7 events */
    ck_assert_uint_eq(ia.events, 2);     /* the tail */
    ck_assert_uint_eq(ib.events, 100);
    ck_assert_str_eq(call1("s1", "get", NULL, NULL).reply, "100");
    rt_stop();
}
END_TEST

START_TEST(failed_commit_reloads_durable_state)
{
    rt_start(0, 1u << 20); /* 1 MiB map, no growth */
    ck_assert_str_eq(call1("f1", "add", "5", NULL).reply, "5");
    int failed = 0;
    for (int i = 0; i < 8 && !failed; i++) {
        waiter_t w = call1("f1", "big", NULL, NULL);
        if (w.status != 0) {
            ck_assert_int_eq(w.status, SH_ENOSPACE);
            failed = 1;
        }
    }
    ck_assert_int_eq(failed, 1);
    /* the entity ran ahead of its journal; it reloads: still 5 (and a
     * later small append may or may not fit, but never a wrong value) */
    ck_assert_str_eq(call1("f1", "get", NULL, NULL).reply, "5");
    rt_stop();
}
END_TEST

START_TEST(idempotent_calls_run_once)
{
    rt_start(0, 0);
    waiter_t a, b;
    submit(&a, "i1", "add", "10", "key-1"); /* the same key twice, in flight together */
    submit(&b, "i1", "add", "10", "key-1");
    wait_done(&a);
    wait_done(&b);
    ck_assert_str_eq(a.reply, "10");
    ck_assert_str_eq(b.reply, "10");
    ck_assert_str_eq(call1("i1", "add", "10", "key-1").reply, "10");
    ck_assert_str_eq(call1("i1", "get", NULL, NULL).reply, "10");
    rt_stop();
    rt_start(0, 0);
    ck_assert_str_eq(call1("i1", "add", "10", "key-1").reply, "10"); /* after a restart */
    ck_assert_str_eq(call1("i1", "add", "1", "key-2").reply, "11");
    rt_stop();
}
END_TEST

/* Delete event 2 of entity d1 with LMDB directly (the runtime is down). */
static void punch_gap(void)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, g_dir, 0, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "events", 0, &dbi), 0);
    uint8_t key[64];
    uint32_t shard = ring_shard_of("p", 1, "d1", 2, SHARDS);
    size_t n = 0;
    key[n++] = (uint8_t)(shard >> 24);
    key[n++] = (uint8_t)(shard >> 16);
    key[n++] = (uint8_t)(shard >> 8);
    key[n++] = (uint8_t)shard;
    memcpy(key + n, "p\0d1\0", 5);
    n += 5;
    for (int i = 7; i >= 0; i--)
        key[n++] = (uint8_t)(2ull >> (8 * i));
    MDB_val k = {n, key};
    ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

START_TEST(damaged_journal_refuses_calls)
{
    rt_start(0, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(call1("d1", "add", "1", NULL).status, 0);
    rt_stop();
    punch_gap();
    rt_start(0, 0);
    waiter_t w = call1("d1", "get", NULL, NULL);
    ck_assert_int_eq(w.status, SH_EINTERNAL);
    ck_assert_int_eq(call1("d1", "add", "1", NULL).status, SH_EINTERNAL); /* not on wrong state */
    ck_assert_str_eq(call1("ok", "add", "1", NULL).reply, "1");           /* others unaffected */
    rt_stop();
}
END_TEST

/* ---- a writer queue that is full */
static pthread_mutex_t g_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_gate_cv = PTHREAD_COND_INITIALIZER;
static int g_gate_state; /* 0 idle, 1 writer parked in the gate, 2 released */

static void gate_done(jw_req_t *r)
{
    pthread_mutex_lock(&g_gate_mu);
    g_gate_state = 1;
    pthread_cond_broadcast(&g_gate_cv);
    while (g_gate_state != 2)
        pthread_cond_wait(&g_gate_cv, &g_gate_mu);
    pthread_mutex_unlock(&g_gate_mu);
}

static void noop_done(jw_req_t *r) { (void)r; }

/* An entity's second turn is refused by the full writer queue (busy) and
 * comes back at once, while its first is still queued: its error must not
 * overtake the first turn's reply, and the entity then reloads from what
 * is durable. */
START_TEST(refused_submit_waits_for_earlier_commits)
{
    rt_start(0, 0);
    ck_assert_str_eq(call1("q1", "add", "1", NULL).reply, "1"); /* active, seq 1 */
    jw_req_t gate = {.ent = {.shard = 0, .type = "p", .id = "gate"}, .done = gate_done};
    ck_assert_int_eq(jw_submit(g_jw, &gate), 0);
    pthread_mutex_lock(&g_gate_mu);
    while (g_gate_state != 1) /* the writer is parked: nothing commits now */
        pthread_cond_wait(&g_gate_cv, &g_gate_mu);
    pthread_mutex_unlock(&g_gate_mu);
    waiter_t first, second;
    submit(&first, "q1", "add", "10", NULL); /* queued behind the gate */
    jw_req_t *fill = calloc(JW_QUEUE_MAX, sizeof *fill);
    ck_assert_ptr_nonnull(fill);
    size_t n = 0;
    for (;; n++) {
        ck_assert_uint_lt(n, JW_QUEUE_MAX);
        fill[n] = (jw_req_t){.ent = {.shard = 1, .type = "p", .id = "fill"}, .done = noop_done};
        int rc = jw_submit(g_jw, &fill[n]);
        if (rc == SH_EFULL)
            break;
        ck_assert_int_eq(rc, 0);
    }
    submit(&second, "q1", "add", "100", NULL); /* refused by the writer: busy */
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL); /* room for a wrong early release to happen; none may */
    pthread_mutex_lock(&g_mu);
    ck_assert_int_eq(first.done, 0);
    ck_assert_int_eq(second.done, 0); /* waits for the first, queued before it */
    pthread_mutex_unlock(&g_mu);
    pthread_mutex_lock(&g_gate_mu);
    g_gate_state = 2;
    pthread_cond_broadcast(&g_gate_cv);
    pthread_mutex_unlock(&g_gate_mu);
    wait_done(&first);
    wait_done(&second);
    ck_assert_int_eq(first.status, 0);
    ck_assert_str_eq(first.reply, "11");
    ck_assert_int_eq(second.status, SH_EBUSY);
    ck_assert_str_eq(call1("q1", "get", NULL, NULL).reply, "11"); /* reloaded: durable state */
    rt_stop();
    free(fill);
    g_gate_state = 0;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ent_jrnl");
    TCase *tc = tcase_create("ent_jrnl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gate_and_pipelining);
    tcase_add_test(tc, snapshot_recovery_equals_full_replay);
    tcase_add_test(tc, failed_commit_reloads_durable_state);
    tcase_add_test(tc, idempotent_calls_run_once);
    tcase_add_test(tc, damaged_journal_refuses_calls);
    tcase_add_test(tc, refused_submit_waits_for_earlier_commits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
