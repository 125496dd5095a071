/*
 * types_state_test.c - the built-in entity types' state outside a turn
 * (suite "types_state"): a snapshot restored into a fresh state answers
 * like the original, corrupt snapshots and events are refused with
 * SHOAL_ECORRUPT, and replaying the events a random run recorded rebuilds
 * the same state.  The harness is types_fixture.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_rng.h"
#include "types_fixture.h"

/* ---- snapshot and restore ---- */

START_TEST(test_types_snapshot_restore)
{
    const shoal_entity_type_t *ty = type_counter();
    void *st = state_new(ty);
    OK(ty, st, "add", "{\"by\":42}", "{\"value\":42}", 1);
    void *copy = clone_by_snapshot(ty, st);
    same_reply(ty, st, copy, "get", NULL);
    same_reply(ty, st, copy, "add", "{\"by\":-50}");
    ty->destroy(st, ty->udata);
    ty->destroy(copy, ty->udata);

    ty = type_cart(0);
    st = state_new(ty);
    char body[64];
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof body, "{\"itemId\":\"%c\",\"quantity\":%d}", 'j' - i, 2 * i + 1);
        ck_assert_int_eq(invoke(ty, st, "AddItem", body, 0).status, 0);
    }
    copy = clone_by_snapshot(ty, st);
    same_reply(ty, st, copy, "GetItems", NULL);
    same_reply(ty, st, copy, "AddItem", "{\"itemId\":\"z\"}"); /* full in both */
    same_reply(ty, st, copy, "RemoveItem", "{\"itemId\":\"c\"}");
    same_reply(ty, st, copy, "GetItems", NULL);
    ty->destroy(st, ty->udata);
    ty->destroy(copy, ty->udata);

    ty = type_log();
    st = state_new(ty);
    OK(ty, st, "append", "{\"value\":[1,{\"k\":\"v\"}]}", "{\"index\":0}", 1);
    OK(ty, st, "append", "{\"value\":\"\\u00e9\\n\"}", "{\"index\":1}", 1);
    copy = clone_by_snapshot(ty, st);
    same_reply(ty, st, copy, "read", NULL);
    same_reply(ty, st, copy, "append", "{\"value\":3}");
    same_reply(ty, st, copy, "read", "{\"from\":1}");
    ty->destroy(st, ty->udata);
    ty->destroy(copy, ty->udata);

    ck_assert_ptr_null(type_ratelimiter(0, 0)->snapshot); /* in memory only */
    ck_assert_ptr_null(type_ratelimiter(0, 0)->restore);
}
END_TEST

START_TEST(test_types_restore_corrupt)
{
    const shoal_entity_type_t *ty = type_counter();
    void *st = state_new(ty);
    ck_assert_int_eq(restore_str(ty, st, ""), SHOAL_ECORRUPT);
    ck_assert_int_eq(restore_str(ty, st, "{\"value\":\"1\"}"), SHOAL_ECORRUPT);
    ck_assert_int_eq(restore_str(ty, st, "{\"value\":1,\"x\":2}"), SHOAL_ECORRUPT);
    ck_assert_int_eq(restore_str(ty, st, "7"), SHOAL_ECORRUPT);
    ck_assert_int_eq(restore_str(ty, st, "{\"value\":7}"), 0);
    OK(ty, st, "get", NULL, "{\"value\":7}", 0);
    ty->destroy(st, ty->udata);

    ty = type_cart(0);
    st = state_new(ty);
    const char *bad[] = {
        "[]", "{\"items\":{}}", "{\"items\":[{\"itemId\":\"a\",\"quantity\":0}]}",
        "{\"items\":[{\"itemId\":\"a\",\"quantity\":1},{\"itemId\":\"a\",\"quantity\":1}]}",
        "{\"items\":[{\"itemId\":\"\",\"quantity\":1}]}",
        "{\"items\":[{\"itemId\":\"a\"}]}",
        "{\"items\":[{\"itemId\":\"0\",\"quantity\":1},{\"itemId\":\"1\",\"quantity\":1},"
        "{\"itemId\":\"2\",\"quantity\":1},{\"itemId\":\"3\",\"quantity\":1},"
        "{\"itemId\":\"4\",\"quantity\":1},{\"itemId\":\"5\",\"quantity\":1},"
        "{\"itemId\":\"6\",\"quantity\":1},{\"itemId\":\"7\",\"quantity\":1},"
        "{\"itemId\":\"8\",\"quantity\":1},{\"itemId\":\"9\",\"quantity\":1},"
        "{\"itemId\":\"10\",\"quantity\":1}]}",
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        ck_assert_int_eq(restore_str(ty, st, "{\"items\":[{\"itemId\":\"k\",\"quantity\":1}]}"),
                         0);
        ck_assert_msg(restore_str(ty, st, bad[i]) == SHOAL_ECORRUPT, "%s", bad[i]);
        OK(ty, st, "GetItems", NULL, "{\"items\":[]}", 0); /* empty, not half restored */
    }
    ty->destroy(st, ty->udata);

    ty = type_log();
    st = state_new(ty);
    ck_assert_int_eq(restore_str(ty, st, "{\"values\":[1,2]}"), 0);
    ck_assert_int_eq(restore_str(ty, st, "{\"values\":1}"), SHOAL_ECORRUPT);
    ck_assert_int_eq(restore_str(ty, st, "{\"values\":[1],\"more\":2}"), SHOAL_ECORRUPT);
    ck_assert_int_eq(restore_str(ty, st, "[1,2]"), SHOAL_ECORRUPT);
    OK(ty, st, "read", NULL, "{\"values\":[]}", 0);
    ty->destroy(st, ty->udata);
}
END_TEST

/* ---- events ---- */

START_TEST(test_types_apply_corrupt)
{
    const shoal_entity_type_t *ty = type_counter();
    void *st = state_new(ty);
    const char *bad_counter[] = {"", "x", "1.5", "{\"by\":1}", "[1]", "1 2"};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad_counter); i++)
        ck_assert_int_eq(apply_str(ty, st, bad_counter[i]), SHOAL_ECORRUPT);
    ck_assert_int_eq(apply_str(ty, st, "9223372036854775807"), 0);
    ck_assert_int_eq(apply_str(ty, st, "1"), SHOAL_ECORRUPT); /* overflow */
    OK(ty, st, "get", NULL, "{\"value\":9223372036854775807}", 0);
    ty->destroy(st, ty->udata);

    ty = type_cart(0);
    st = state_new(ty);
    const char *bad_cart[] = {"{\"a\":\"x\"}", "{\"r\":\"absent\"}", "{\"a\":\"\",\"q\":1}",
                              "{\"a\":\"x\",\"q\":0}", "{\"a\":\"x\",\"q\":1,\"z\":0}",
                              "{\"a\":1,\"q\":1}", "{\"r\":\"x\",\"q\":1}", "[]", "{"};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad_cart); i++)
        ck_assert_msg(apply_str(ty, st, bad_cart[i]) == SHOAL_ECORRUPT, "%s", bad_cart[i]);
    char ev[32];
    for (int i = 0; i < 10; i++) {
        snprintf(ev, sizeof ev, "{\"a\":\"%d\",\"q\":1}", i);
        ck_assert_int_eq(apply_str(ty, st, ev), 0);
    }
    ck_assert_int_eq(apply_str(ty, st, "{\"a\":\"10\",\"q\":1}"), SHOAL_ECORRUPT);
    ck_assert_int_eq(apply_str(ty, st, "{\"a\":\"9\",\"q\":999999999}"), 0);
    ck_assert_int_eq(apply_str(ty, st, "{\"a\":\"9\",\"q\":1}"), SHOAL_ECORRUPT);
    ty->destroy(st, ty->udata);

    ty = type_log();
    st = state_new(ty);
    const char *bad_log[] = {"", "{", "1,2", "[1", "\"x"};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad_log); i++)
        ck_assert_int_eq(apply_str(ty, st, bad_log[i]), SHOAL_ECORRUPT);
    OK(ty, st, "read", NULL, "{\"values\":[]}", 0);
    ty->destroy(st, ty->udata);

    ty = type_ratelimiter(3, 1000);
    st = state_new(ty);
    const char *bad_rl[] = {"[1]", "[-1,5]", "[1,0]", "{}", "[1,5,6]", "[1,\"5\"]"};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad_rl); i++)
        ck_assert_int_eq(apply_str(ty, st, bad_rl[i]), SHOAL_ECORRUPT);
    ALLOW(NULL, 10, "{\"allowed\":true,\"remaining\":2}", 1);
    ty->destroy(st, ty->udata);
}
END_TEST

/* Random commands through a recording type; replaying the recorded events
 * into a fresh state must give the same answers, and for the persistent
 * types the same snapshot.  One seed per loop iteration. */
static void replay_check(rec_t *rec, void *st, const char *method, uint64_t now)
{
    const shoal_entity_type_t *ty = rec->inner;
    void *fresh = state_new(ty);
    rec_replay(rec, fresh);
    same_reply_at(ty, st, fresh, method, NULL, now);
    if (ty->snapshot) {
        uint8_t *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        ck_assert_int_eq(ty->snapshot(st, &a, &la, ty->udata), 0);
        ck_assert_int_eq(ty->snapshot(fresh, &b, &lb, ty->udata), 0);
        ck_assert_uint_eq(la, lb);
        ck_assert(memcmp(a, b, la) == 0);
        free(a);
        free(b);
    }
    ty->destroy(fresh, ty->udata);
}

/* A random command for type number k of test_types_replay: its method,
 * body in `body`, and for the ratelimiter time moving on. */
static const char *replay_command(size_t k, sh_rng_t *rng, int op, char *body, size_t cap,
                                  uint64_t *now)
{
    unsigned x = (unsigned)sh_rng_below(rng, 1000);
    switch (k) {
    case 0:
        snprintf(body, cap, "{\"by\":%d}", (int)x - 500);
        return "add";
    case 1:
        snprintf(body, cap, "{\"itemId\":\"item%u\",\"quantity\":%u}", x % 14, x % 5 + 1);
        return x % 3 ? "AddItem" : "RemoveItem";
    case 2:
        snprintf(body, cap, "{\"value\":[%u,\"s%d\"]}", x, op);
        return "append";
    default:
        *now += x % 40;
        if (x % 4)
            snprintf(body, cap, "{}");
        else
            snprintf(body, cap, "{\"limit\":%u,\"windowMs\":%u}", x % 7 + 1, x % 300 + 1);
        return "AllowRequest";
    }
}

START_TEST(test_types_replay)
{
    sh_rng_t rng;
    sh_rng_seed(&rng, 0x7e57ULL + (uint64_t)_i);
    const shoal_entity_type_t *types[] = {type_counter(), type_cart(0), type_log(),
                                          type_ratelimiter(5, 100)};
    const char *probe[] = {"get", "GetItems", "read", "AllowRequest"};
    for (size_t k = 0; k < SH_ARRAY_LEN(types); k++) {
        rec_t *rec = malloc(sizeof *rec);
        rec_init(rec, types[k]);
        void *st = state_new(types[k]);
        uint64_t now = 1000;
        size_t ok = 0;
        for (int op = 0; op < 300; op++) {
            char body[96];
            const char *method = replay_command(k, &rng, op, body, sizeof body, &now);
            res_t r = invoke(&rec->type, st, method, body, now);
            /* conflict: a full cart; not_found: removing an absent item */
            ck_assert_msg(r.status == 0 || r.status == SHOAL_ECONFLICT ||
                              r.status == SHOAL_ENOT_FOUND,
                          "seed %d %s %s: %d %s", _i, method, body, r.status, r.msg);
            ok += r.status == 0;
        }
        ck_assert_uint_gt(ok, 100);
        ck_assert_uint_gt(rec->n, 50);
        replay_check(rec, st, probe[k], now);
        rec_fini(rec);
        free(rec);
        types[k]->destroy(st, types[k]->udata);
    }
}
END_TEST
static Suite *types_state_suite(void)
{
    Suite *s = suite_create("types_state");
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, test_types_snapshot_restore);
    tcase_add_test(tc, test_types_restore_corrupt);
    suite_add_tcase(s, tc);
    tc = tcase_create("events");
    tcase_add_test(tc, test_types_apply_corrupt);
    tcase_add_loop_test(tc, test_types_replay, 0, 20);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(types_state_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
