/*
 * jw_records_test.c - what the group-commit writer writes: map growth
 * retrying a batch, the map ceiling failing a batch (nothing written)
 * after which smaller requests still commit, and one request carrying
 * events, a snapshot, reminders, an idempotency record and a purge.
 *
 * The journal, the gate and the request helpers are in jw_fixture.h.
 */
#include "jw_fixture.h"

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

int main(void)
{
    Suite *s = suite_create("jw_records");
    unit_tcase_add(s, "records", setup, dir_remove, 120,
                   (const TTest *[]){test_jw_map_growth_retries_batch,
                                     test_jw_map_ceiling_fails_batch_then_recovers,
                                     test_jw_request_all_parts, NULL});
    return unit_run(s);
}
