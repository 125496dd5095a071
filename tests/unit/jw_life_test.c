/*
 * jw_life_test.c - the group-commit writer's lifecycle: jw_stop draining
 * every accepted request (and refusing new ones once it has begun), the
 * queue bound (SH_EFULL, the refused request never completes), and the
 * idempotency sweep on a kick.
 *
 * The journal, the gate and the request helpers are in jw_fixture.h.
 */
#include <sched.h>

#include "jw_fixture.h"

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

int main(void)
{
    Suite *s = suite_create("jw_life");
    unit_tcase_add(s, "lifecycle", setup, dir_remove, 120,
                   (const TTest *[]){test_jw_stop_drains, test_jw_queue_full,
                                     test_jw_idem_sweep_on_kick, NULL});
    return unit_run(s);
}
