/*
 * jrnl_records_test.c - the journal's side records: idempotency records
 * (put, get, expiry, the bounded sweep) and reminders (scan in key order
 * per shard, overwrite, get, delete).
 *
 * The journal harness is in jrnl_fixture.h.
 */
#include "jrnl_fixture.h"

static uint32_t idem_sweep(jrnl_t *j, uint64_t now, uint32_t max)
{
    jrnl_txn_t *t;
    uint32_t n = 99;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_idem_sweep(t, now, max, &n), 0);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    return n;
}

START_TEST(test_jrnl_idem_put_get_expiry_sweep)
{
    jrnl_t *j = jopen(0, 0, 0);
    jrnl_idem_t g;
    ck_assert_int_eq(idem_put(j, &ent_a, "k1", 1000, 0), 0);
    ck_assert_int_eq(idem_put(j, &ent_a, "k2", 1000, SH_ECONFLICT), 0);
    ck_assert_int_eq(idem_put(j, &ent_a, "forever", 0, 0), 0);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k1", 999, &g), 0);
    ck_assert_int_eq(g.status, 0);
    ck_assert_uint_eq(g.expires_wall_ms, 1000);
    ck_assert_uint_eq(g.reply_len, 8);
    ck_assert_mem_eq(g.reply, "{\"ok\":1}", 8);
    free(g.reply);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k2", 999, &g), 0);
    ck_assert_int_eq(g.status, SH_ECONFLICT);
    ck_assert_str_eq(g.msg, "insufficient funds");
    free(g.reply);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k1", 1000, &g), SH_ENOT_FOUND); /* expired */
    ck_assert_ptr_null(g.reply);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_b, "k1", 0, &g), SH_ENOT_FOUND);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "forever", UINT64_MAX, &g), 0);
    free(g.reply);
    ck_assert_int_eq(idem_put(j, &ent_a, "", 1, 0), SH_EBAD_REQUEST);
    /* Sweep: 10 more expired at 2000 and 5 live; bounded by max. */
    char key[16];
    for (int i = 0; i < 15; i++) {
        snprintf(key, sizeof key, "s%02d", i);
        ck_assert_int_eq(idem_put(j, i < 10 ? &ent_b : &ent_c, key, i < 10 ? 2000 : 9000, 0), 0);
    }
    ck_assert_uint_eq(idem_sweep(j, 2000, 3), 3);
    ck_assert_uint_eq(idem_sweep(j, 2000, 100), 9); /* the rest: s01..s09 */
    ck_assert_uint_eq(idem_sweep(j, 2000, 100), 0);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.idem, 6); /* "forever" and the 5 live ones */
    ck_assert_int_eq(jrnl_idem_get(j, &ent_c, "s14", 2000, &g), 0);
    free(g.reply);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_reminders)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(rem_put(j, &ent_b, "tick", 30, NULL), 0);
    ck_assert_int_eq(rem_put(j, &ent_a, "tock", 20, "{\"x\":2}"), 0);
    ck_assert_int_eq(rem_put(j, &ent_a, "tick", 10, "{\"x\":1}"), 0);
    ck_assert_int_eq(rem_put(j, &ent_c, "other", 5, NULL), 0); /* shard 9 */
    rems_seen_t s = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 7, rem_fn, &s), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.names[0], "cart/a/tick"); /* key order */
    ck_assert_str_eq(s.names[1], "cart/a/tock");
    ck_assert_str_eq(s.names[2], "cart/b/tick");
    ck_assert_uint_eq(s.due[0], 10);
    ck_assert_int_eq(s.reps[0], -1);
    ck_assert_str_eq(s.data[0], "{\"x\":1}");
    ck_assert_str_eq(s.data[2], "");
    ck_assert_str_eq(s.spec[1], "{\"due\":1}");
    /* Overwrite, get, delete. */
    ck_assert_int_eq(rem_put(j, &ent_a, "tick", 11, NULL), 0);
    rems_seen_t g = {0};
    ck_assert_int_eq(jrnl_rem_get(j, &ent_a, "tick", rem_fn, &g), 0);
    ck_assert_int_eq(g.n, 1);
    ck_assert_uint_eq(g.due[0], 11);
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_rem_del(t, &ent_a, "tick"), 0);
    ck_assert_int_eq(jrnl_txn_rem_del(t, &ent_a, "tick"), SH_ENOT_FOUND);
    ck_assert_int_eq(jrnl_txn_commit(t), 0); /* a miss does not poison */
    ck_assert_int_eq(jrnl_rem_get(j, &ent_a, "tick", rem_fn, &g), SH_ENOT_FOUND);
    rems_seen_t s9 = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 9, rem_fn, &s9), 0);
    ck_assert_int_eq(s9.n, 1);
    rems_seen_t s8 = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 8, rem_fn, &s8), 0);
    ck_assert_int_eq(s8.n, 0);
    jrnl_close(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jrnl_records");
    unit_tcase_add(s, "records", dir_make, dir_remove, 0,
                   (const TTest *[]){test_jrnl_idem_put_get_expiry_sweep, test_jrnl_reminders,
                                     NULL});
    return unit_run(s);
}
