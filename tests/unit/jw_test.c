/*
 * jw_test.c - the group-commit writer's batching: 64 submitting threads
 * committed in order in batches (one sync per batch), a lone request
 * completing promptly, and one SH_ESEQ in the middle of a batch failing
 * only its request (and the entity's later ones).
 *
 * The journal, the gate and the request helpers are in jw_fixture.h;
 * the other jw_* suites cover stopping, the queue bound and the
 * idempotency sweep (jw_life_test.c), and map growth, the ceiling and
 * requests carrying every kind of record (jw_records_test.c).
 */
#include "jw_fixture.h"

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

int main(void)
{
    Suite *s = suite_create("jw");
    unit_tcase_add(s, "batch", setup, dir_remove, 120,
                   (const TTest *[]){test_jw_many_threads_batched_in_order,
                                     test_jw_lone_request_prompt,
                                     test_jw_seq_conflict_fails_only_its_request, NULL});
    return unit_run(s);
}
