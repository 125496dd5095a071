/*
 * jrnl_map_test.c - the journal's LMDB map: growth on SH_EFULL, the map
 * ceiling (SH_ENOSPACE, nothing committed lost, lifted by a restart with
 * a higher one), and reopening with events, snapshots, reminders and
 * idempotency records intact.
 *
 * The journal harness is in jrnl_fixture.h.
 */
#include "jrnl_fixture.h"

/* ---- map growth, the ceiling, reopening ------------------------------------- */

START_TEST(test_jrnl_map_growth)
{
    jrnl_t *j = jopen(1 * MIB, 0, 0);
    for (uint64_t s = 1; s <= 320; s++) /* 320 x 64 KiB = 20 MiB, incompressible */
        ck_assert_int_eq(put_events(j, &ent_a, s, 1, 64 * KIB, 0), 0);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_ge(st.grows, 5);
    ck_assert_uint_ge(st.map_size, 20 * MIB);
    ck_assert_uint_le(st.map_used, st.map_size);
    coll_t c = {.size = 64 * KIB};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, NULL), 0);
    ck_assert_uint_eq(c.n, 320);
    ck_assert_int_eq(c.bad, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_map_ceiling)
{
    jrnl_t *j = jopen(1 * MIB, 2 * MIB, 0);
    uint64_t seq = 1;
    int rc;
    while ((rc = put_events(j, &ent_a, seq, 1, 64 * KIB, 0)) == 0)
        seq++;
    ck_assert_int_eq(rc, SH_ENOSPACE);
    ck_assert_str_eq(jrnl_strerror(rc), "SH_ENOSPACE: journal full: map ceiling reached or disk full");
    uint64_t committed = seq - 1;
    ck_assert_uint_gt(committed, 8);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.map_size, 2 * MIB);
    ck_assert_int_eq(jrnl_grow(j), SH_ENOSPACE); /* cannot be lifted at runtime */
    /* Nothing committed was lost, and reads work. */
    coll_t c = {.size = 64 * KIB};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, NULL), 0);
    ck_assert_uint_eq(c.n, committed);
    ck_assert_int_eq(c.bad, 0);
    /* Smaller writes still fit in what is left. */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(put_events(j, &ent_b, (uint64_t)i + 1, 1, 100, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_a, seq, 1, 100, 0), 0);
    jrnl_close(j);
    /* A restart with a higher ceiling lifts it; everything is still there. */
    j = jopen(1 * MIB, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, seq + 1, 4, 64 * KIB, 0), 0);
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, seq + 4);
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, 10);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_reopen_keeps_everything)
{
    jrnl_t *j = jopen(0, 0, 128);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 30, 300, 1), 0);
    put_snapshot(j, &ent_a, 20, 5, 0);
    ck_assert_int_eq(rem_put(j, &ent_c, "r", 42, "{}"), 0);
    ck_assert_int_eq(idem_put(j, &ent_b, "k", 0, SH_ECONFLICT), 0);
    coll_t before = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &before, NULL), 0);
    jrnl_close(j);
    j = jopen(0, 0, 128);
    coll_t after = {.size = 300, .text = 1};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &after, &info), 0);
    ck_assert_uint_eq(info.snap_seq, 20);
    ck_assert_uint_eq(after.n, 10);
    ck_assert_uint_eq(after.fold, before.fold);
    ck_assert_int_eq(after.bad, 0);
    rems_seen_t s = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 9, rem_fn, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_uint_eq(s.due[0], 42);
    jrnl_idem_t g;
    ck_assert_int_eq(jrnl_idem_get(j, &ent_b, "k", 1, &g), 0);
    ck_assert_int_eq(g.status, SH_ECONFLICT);
    free(g.reply);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 15); /* 16..30 after the trim */
    jrnl_close(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jrnl_map");
    unit_tcase_add(s, "map", dir_make, dir_remove, 120,
                   (const TTest *[]){test_jrnl_map_growth, test_jrnl_map_ceiling,
                                     test_jrnl_reopen_keeps_everything, NULL});
    return unit_run(s);
}
