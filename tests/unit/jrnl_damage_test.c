/*
 * jrnl_damage_test.c - damage the journal finds on load: a flipped byte
 * (checksum), a gap and a missing tail, and a foreign on-disk format.
 * Damage is made with raw LMDB writes on the closed journal (LMDB forbids
 * opening one environment twice in a process).
 *
 * The journal harness is in jrnl_fixture.h.
 */
#include "jrnl_fixture.h"

START_TEST(test_jrnl_corrupt_record)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 5, 64, 0), 0);
    jrnl_close(j);
    raw_arg_t a = {.seq = 3, .flip = 1};
    raw_edit("events", raw_event, &a);
    j = jopen(0, 0, 0);
    coll_t c = {0};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, &info), SH_ECORRUPT);
    ck_assert_uint_eq(c.n, 2); /* events before the damage were delivered */
    ck_assert_ptr_nonnull(strstr(info.err, "seq 3"));
    ck_assert_ptr_nonnull(strstr(info.err, "checksum"));
    ck_assert_uint_eq(info.last_seq, 5);
    uint64_t next;
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 1, 10, NULL, NULL, &next), SH_ECORRUPT);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_gap_and_missing_tail)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 5, 16, 0), 0);
    jrnl_close(j);
    raw_arg_t a = {.seq = 3, .del = 1};
    raw_edit("events", raw_event, &a);
    j = jopen(0, 0, 0);
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), SH_ECORRUPT);
    ck_assert_str_eq(info.err, "gap: expected seq 3, found 4");
    jrnl_close(j);
    raw_arg_t b = {.seq = 5, .del = 1};
    raw_edit("events", raw_event, &b);
    raw_arg_t c = {.seq = 4, .del = 1};
    raw_edit("events", raw_event, &c);
    j = jopen(0, 0, 0);
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), SH_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(info.err, "missing tail"));
    jrnl_close(j);
}
END_TEST

static void raw_format(MDB_txn *txn, MDB_dbi dbi, void *arg)
{
    uint8_t be[4] = {0, 0, 0, 99};
    MDB_val k = {6, "format"}, v = {4, be};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
}

START_TEST(test_jrnl_foreign_format_refused)
{
    jrnl_t *j = jopen(0, 0, 0);
    jrnl_close(j);
    raw_edit("meta", raw_format, NULL);
    jrnl_opts_t o = {.dir = dir};
    ck_assert_int_eq(jrnl_open(&j, &o), SH_ECORRUPT);
    ck_assert_ptr_null(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jrnl_damage");
    unit_tcase_add(s, "damage", dir_make, dir_remove, 0,
                   (const TTest *[]){test_jrnl_corrupt_record, test_jrnl_gap_and_missing_tail,
                                     test_jrnl_foreign_format_refused, NULL});
    return unit_run(s);
}
