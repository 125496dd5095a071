/*
 * jrnl_test.c - the LMDB journal's events and snapshots: append/load
 * round trips (raw and lz4), paging, sequence conflicts, bad arguments,
 * snapshot + tail equal to a full replay, trimming, and purge.
 *
 * The journal harness is in jrnl_fixture.h; the other jrnl_* suites
 * cover damage found on load (jrnl_damage_test.c), idempotency records
 * and reminders (jrnl_records_test.c), and map growth, the map ceiling
 * and reopening (jrnl_map_test.c).
 */
#include "jrnl_fixture.h"

/* ---- tests ----------------------------------------------------------------- */

START_TEST(test_jrnl_append_load_roundtrip)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 3, 40, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_b, 1, 2, 40, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_a, 4, 5, 40, 0), 0);
    coll_t c = {.size = 40};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, &info), 0);
    ck_assert_uint_eq(c.n, 8);
    ck_assert_uint_eq(c.first, 1);
    ck_assert_uint_eq(c.last, 8);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_uint_eq(c.wall_last, 1004); /* the wall_ms of the second append */
    ck_assert_uint_eq(info.last_seq, 8);
    ck_assert_uint_eq(info.events, 8);
    ck_assert_uint_eq(info.snap_seq, 0);
    /* An unknown entity is empty, not an error. */
    coll_t e = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_c, true, coll_fn, &e, &info), 0);
    ck_assert_uint_eq(e.n, 0);
    ck_assert_uint_eq(info.last_seq, 0);
    /* The journal API pages through events. */
    uint64_t next;
    coll_t p = {.size = 40};
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 3, 4, coll_fn, &p, &next), 0);
    ck_assert_uint_eq(p.first, 3);
    ck_assert_uint_eq(p.n, 4);
    ck_assert_uint_eq(next, 7);
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, next, 4, coll_fn, &p, &next), 0);
    ck_assert_uint_eq(p.n, 6);
    ck_assert_uint_eq(next, 0);
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 9, 4, coll_fn, &p, &next), 0);
    ck_assert_uint_eq(next, 0);
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 0, 4, coll_fn, &p, &next), SH_EBAD_REQUEST);
    /* A callback's non-zero return stops the load and comes back. */
    coll_t s = {.stop_at = 2};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &s, NULL), 77);
    ck_assert_uint_eq(s.n, 2);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 10);
    ck_assert_uint_eq(st.heads, 2);
    ck_assert_uint_gt(st.map_used, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_lz4_roundtrip)
{
    jrnl_t *j = jopen(0, 0, 64);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 2, 4096, 1), 0); /* compressible */
    coll_t c = {.size = 4096, .text = 1};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, NULL), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_int_eq(put_events(j, &ent_b, 1, 1, 4096, 0), 0); /* incompressible */
    jrnl_close(j);
    raw_arg_t a = {.seq = 2};
    raw_edit("events", raw_event, &a);
    ck_assert_uint_lt(a.size, 4096 / 4); /* stored as an lz4 block */
    j = jopen(0, 0, 64);
    coll_t d = {.size = 4096, .text = 1};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &d, NULL), 0);
    ck_assert_int_eq(d.bad, 0);
    coll_t r = {.size = 4096};
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, coll_fn, &r, NULL), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_int_eq(r.bad, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_seq_conflict_writes_nothing)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 2, 1, 8, 0), SH_ESEQ); /* new entity starts at 1 */
    ck_assert_int_eq(put_events(j, &ent_a, 1, 3, 8, 0), 0);
    jrnl_txn_t *t;
    uint64_t head;
    evb_t b = {0};
    evb_add(&b, "xy", 2);
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 5, 1, b.p, b.len, 1), SH_ESEQ);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 3, 1, b.p, b.len, 1), SH_ESEQ);
    /* The transaction is still usable: a conflict writes nothing. */
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 4, 1, b.p, b.len, 1), 0);
    ck_assert_int_eq(jrnl_txn_head(t, &ent_a, &head), 0);
    ck_assert_uint_eq(head, 4);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 5, 2, b.p, b.len, 1), SH_EBAD_REQUEST);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    free(b.p);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 4);
    ck_assert_uint_eq(st.heads, 1);
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, 4);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_bad_arguments)
{
    jrnl_t *j = jopen(0, 0, 0);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jrnl_ent_t too_big = {1, "t", big}, no_type = {1, "", "i"};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &too_big, true, NULL, NULL, &info), SH_ETOO_BIG);
    ck_assert_int_eq(jrnl_load(j, &no_type, true, NULL, NULL, &info), SH_EBAD_REQUEST);
    ck_assert_int_eq(put_events(j, &too_big, 1, 1, 4, 0), SH_ETOO_BIG);
    jrnl_txn_t *t;
    uint8_t junk[6] = {9, 0, 0, 0, 1, 2}; /* says 9 bytes, holds 2 */
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 1, 1, junk, sizeof junk, 0), SH_EBAD_REQUEST);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 1, 0, NULL, 0, 0), 0); /* nothing to do */
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    jrnl_opts_t o = {.dir = ""};
    jrnl_t *k = (jrnl_t *)1;
    ck_assert_int_eq(jrnl_open(&k, &o), SH_EBAD_REQUEST);
    ck_assert_ptr_null(k);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_snapshot_tail_equals_replay)
{
    jrnl_t *j = jopen(0, 0, 0);
    for (uint64_t s = 1; s <= 100; s += 10)
        ck_assert_int_eq(put_events(j, &ent_a, s, 10, 24, 0), 0);
    put_snapshot(j, &ent_a, 60, 1000, 0);
    coll_t full = {.size = 24}, snap = {.size = 24};
    jrnl_load_info_t i1, i2;
    ck_assert_int_eq(jrnl_load(j, &ent_a, false, coll_fn, &full, &i1), 0);
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &snap, &i2), 0);
    ck_assert_uint_eq(full.n, 100);
    ck_assert_uint_eq(i1.snap_seq, 0);
    ck_assert_uint_eq(snap.snap_seq, 60);
    ck_assert_uint_eq(i2.snap_seq, 60);
    ck_assert_uint_eq(snap.n, 40);
    ck_assert_uint_eq(i2.events, 40);
    ck_assert_uint_eq(snap.first, 61);
    ck_assert_uint_eq(snap.fold, full.fold);
    ck_assert_int_eq(full.bad + snap.bad, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_trim_deletes_old_events)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 100, 24, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_b, 1, 5, 24, 0), 0);
    put_snapshot(j, &ent_a, 80, 10, 0); /* keeps 71..100 */
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 30 + 5);
    ck_assert_uint_eq(st.snapshots, 1);
    coll_t full = {0}, snap = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, coll_fn, &full, NULL), 0);
    ck_assert_uint_eq(full.n, 5); /* the neighbour is untouched */
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &snap, &info), 0);
    ck_assert_uint_eq(snap.n, 20);
    ck_assert_int_eq(jrnl_load(j, &ent_a, false, NULL, NULL, &info), SH_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(info.err, "trimmed"));
    uint64_t next;
    coll_t r = {0};
    /* The journal API skips what a snapshot trimmed (jrnl.h). */
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 1, 10, coll_fn, &r, &next), 0);
    ck_assert_uint_eq(r.first, 71);
    ck_assert_uint_eq(r.n, 10);
    ck_assert_uint_eq(next, 81);
    coll_t r2 = {0};
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 75, 100, coll_fn, &r2, &next), 0);
    ck_assert_uint_eq(r2.first, 75);
    ck_assert_uint_eq(r2.n, 26);
    ck_assert_uint_eq(next, 0);
    /* Snapshots may neither go back nor run ahead of the head. */
    put_snapshot(j, &ent_a, 75, 10, SH_ESEQ);
    put_snapshot(j, &ent_a, 101, 10, SH_ESEQ);
    /* retain 0 at the head deletes every event; the snapshot alone loads. */
    put_snapshot(j, &ent_a, 100, 0, 0);
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 5);
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.snap_seq, 100);
    ck_assert_uint_eq(info.events, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_purge)
{
    jrnl_t *j = jopen(0, 0, 0);
    const jrnl_ent_t *es[2] = {&ent_a, &ent_b};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(put_events(j, es[i], 1, 20, 16, 0), 0);
        put_snapshot(j, es[i], 10, 100, 0);
        ck_assert_int_eq(rem_put(j, es[i], "tick", 10, NULL), 0);
        ck_assert_int_eq(idem_put(j, es[i], "k", 0, 0), 0);
    }
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_purge(t, &ent_a), 0);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    jrnl_load_info_t info;
    coll_t c = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, &info), 0);
    ck_assert_uint_eq(info.last_seq, 0);
    ck_assert_uint_eq(c.n + c.snap_seq, 0);
    rems_seen_t g = {0};
    jrnl_idem_t id;
    ck_assert_int_eq(jrnl_rem_get(j, &ent_a, "tick", rem_fn, &g), SH_ENOT_FOUND);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k", 0, &id), SH_ENOT_FOUND);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 20);
    ck_assert_uint_eq(st.heads + st.snapshots + st.reminders + st.idem, 4);
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, 20);
    /* The purged entity starts again at seq 1. */
    ck_assert_int_eq(put_events(j, &ent_a, 1, 2, 16, 0), 0);
    jrnl_close(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jrnl");
    unit_tcase_add(s, "events", dir_make, dir_remove, 0,
                   (const TTest *[]){test_jrnl_append_load_roundtrip, test_jrnl_lz4_roundtrip,
                                     test_jrnl_seq_conflict_writes_nothing, test_jrnl_bad_arguments,
                                     NULL});
    unit_tcase_add(s, "snapshot", dir_make, dir_remove, 0,
                   (const TTest *[]){test_jrnl_snapshot_tail_equals_replay,
                                     test_jrnl_trim_deletes_old_events, test_jrnl_purge, NULL});
    return unit_run(s);
}
