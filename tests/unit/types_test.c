/*
 * types_test.c - the built-in entity types (counter, cart, ratelimiter,
 * log) and the example plugin (bank), driven one turn at a time through
 * ent_invoke_direct: exact replies and codes, bad input and limits.
 * Snapshot and restore, replay of the recorded events and corrupt events
 * are in types_state_test.c; the harness is types_fixture.h.
 *
 * SHOAL_EXAMPLE_PLUGIN is the path of libshoal_example_bank.so, passed by
 * CMake; the plugin resolves shoal_register_type from this executable,
 * which is linked with ENABLE_EXPORTS.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reg.h"
#include "types_fixture.h"

/* ---- counter ---- */

START_TEST(test_types_counter_add_get)
{
    const shoal_entity_type_t *ty = type_counter();
    ck_assert_str_eq(ty->name, "counter");
    ck_assert(ty->persistent);
    void *st = state_new(ty);
    OK(ty, st, "get", NULL, "{\"value\":0}", 0);
    OK(ty, st, "add", NULL, "{\"value\":1}", 1);
    OK(ty, st, "add", "{\"by\":5}", "{\"value\":6}", 1);
    OK(ty, st, "add", "{\"by\":-10}", "{\"value\":-4}", 1);
    OK(ty, st, "add", "{}", "{\"value\":-3}", 1);
    OK(ty, st, "add", "{\"by\":null}", "{\"value\":-2}", 1);
    OK(ty, st, "add", "{\"by\":0}", "{\"value\":-2}", 0);
    OK(ty, st, "get", "ignored", "{\"value\":-2}", 0);
    ty->destroy(st, ty->udata);
}
END_TEST

START_TEST(test_types_counter_bad_input)
{
    const shoal_entity_type_t *ty = type_counter();
    void *st = state_new(ty);
    res_t r = invoke(ty, st, "add", "{\"by\":", 0);
    ck_assert_int_eq(r.status, SHOAL_EBAD_REQUEST);
    ck_assert_msg(strncmp(r.msg, "malformed JSON body: ", 21) == 0, "%s", r.msg);
    r = invoke(ty, st, "add", "{\"by\":99999999999999999999}", 0);
    ck_assert_int_eq(r.status, SHOAL_EBAD_REQUEST);
    r = invoke(ty, st, "add", "{\"by\":1,\"by\":2}", 0); /* ambiguous */
    ck_assert_int_eq(r.status, SHOAL_EBAD_REQUEST);
    FAIL(ty, st, "add", "[1]", SHOAL_EBAD_REQUEST, "body must be a JSON object");
    FAIL(ty, st, "add", "{\"by\":\"2\"}", SHOAL_EBAD_REQUEST, "field 'by' must be an integer");
    FAIL(ty, st, "add", "{\"by\":1.5}", SHOAL_EBAD_REQUEST, "field 'by' must be an integer");
    FAIL(ty, st, "add", "{\"by\":true}", SHOAL_EBAD_REQUEST, "field 'by' must be an integer");
    FAIL(ty, st, "Add", NULL, SHOAL_ENOT_FOUND, "unknown method 'Add' for type 'counter'");
    OK(ty, st, "add", "{\"by\":9223372036854775807}", "{\"value\":9223372036854775807}", 1);
    FAIL(ty, st, "add", NULL, SHOAL_EBAD_REQUEST, "field 'by': the counter would overflow");
    OK(ty, st, "add", "{\"by\":-9223372036854775807}", "{\"value\":0}", 1);
    OK(ty, st, "add", "{\"by\":-9223372036854775807}", "{\"value\":-9223372036854775807}", 1);
    OK(ty, st, "add", "{\"by\":-1}", "{\"value\":-9223372036854775808}", 1);
    FAIL(ty, st, "add", "{\"by\":-1}", SHOAL_EBAD_REQUEST,
         "field 'by': the counter would overflow");
    OK(ty, st, "get", NULL, "{\"value\":-9223372036854775808}", 0);
    ty->destroy(st, ty->udata);
}
END_TEST

/* ---- cart ---- */

START_TEST(test_types_cart_items)
{
    const shoal_entity_type_t *ty = type_cart(0);
    ck_assert_str_eq(ty->name, "cart");
    ck_assert(ty->persistent);
    void *st = state_new(ty);
    OK(ty, st, "GetItems", NULL, "{\"items\":[]}", 0);
    OK(ty, st, "AddItem", "{\"itemId\":\"a\",\"quantity\":2}",
       "{\"itemId\":\"a\",\"quantity\":2}", 1);
    OK(ty, st, "AddItem", "{\"itemId\":\"b\"}", "{\"itemId\":\"b\",\"quantity\":1}", 1);
    OK(ty, st, "AddItem", "{\"quantity\":3,\"itemId\":\"a\"}",
       "{\"itemId\":\"a\",\"quantity\":5}", 1);
    OK(ty, st, "GetItems", NULL,
       "{\"items\":[{\"itemId\":\"a\",\"quantity\":5},{\"itemId\":\"b\",\"quantity\":1}]}", 0);
    OK(ty, st, "RemoveItem", "{\"itemId\":\"a\"}", "{\"itemId\":\"a\",\"quantity\":0}", 1);
    FAIL(ty, st, "RemoveItem", "{\"itemId\":\"a\"}", SHOAL_ENOT_FOUND,
         "item 'a' is not in the cart");
    OK(ty, st, "AddItem", "{\"itemId\":\"a\"}", "{\"itemId\":\"a\",\"quantity\":1}", 1);
    OK(ty, st, "GetItems", NULL,
       "{\"items\":[{\"itemId\":\"b\",\"quantity\":1},{\"itemId\":\"a\",\"quantity\":1}]}", 0);
    ty->destroy(st, ty->udata);
}
END_TEST

START_TEST(test_types_cart_full)
{
    const shoal_entity_type_t *ty = type_cart(0);
    void *st = state_new(ty);
    char body[64], reply[64];
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof body, "{\"itemId\":\"i%d\",\"quantity\":%d}", i, i + 1);
        snprintf(reply, sizeof reply, "{\"itemId\":\"i%d\",\"quantity\":%d}", i, i + 1);
        OK(ty, st, "AddItem", body, reply, 1);
    }
    FAIL(ty, st, "AddItem", "{\"itemId\":\"i10\"}", SHOAL_ECONFLICT, "cart is full");
    /* more of an item already there is not a new item */
    OK(ty, st, "AddItem", "{\"itemId\":\"i9\"}", "{\"itemId\":\"i9\",\"quantity\":11}", 1);
    OK(ty, st, "RemoveItem", "{\"itemId\":\"i0\"}", "{\"itemId\":\"i0\",\"quantity\":0}", 1);
    OK(ty, st, "AddItem", "{\"itemId\":\"i10\"}", "{\"itemId\":\"i10\",\"quantity\":1}", 1);
    FAIL(ty, st, "AddItem", "{\"itemId\":\"i0\"}", SHOAL_ECONFLICT, "cart is full");
    res_t r = invoke(ty, st, "GetItems", NULL, 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_null(strstr(r.reply, "\"i0\""));
    ck_assert_ptr_nonnull(strstr(r.reply, "{\"itemId\":\"i10\",\"quantity\":1}]}"));
    ty->destroy(st, ty->udata);
}
END_TEST

START_TEST(test_types_cart_bad_input)
{
    const shoal_entity_type_t *ty = type_cart(0);
    void *st = state_new(ty);
    const char *id_msg = "field 'itemId' must be a string of 1 to 128 bytes";
    const char *q_msg = "field 'quantity' must be between 1 and 1000000000";
    FAIL(ty, st, "AddItem", NULL, SHOAL_EBAD_REQUEST, "missing JSON body");
    FAIL(ty, st, "AddItem", "{}", SHOAL_EBAD_REQUEST, "missing field 'itemId'");
    FAIL(ty, st, "AddItem", "{\"itemId\":7}", SHOAL_EBAD_REQUEST, id_msg);
    FAIL(ty, st, "AddItem", "{\"itemId\":\"\"}", SHOAL_EBAD_REQUEST, id_msg);
    res_t r = invoke(ty, st, "AddItem", "{\"itemId\":\"a\\u0000b\"}", 0); /* NUL: refused */
    ck_assert_int_eq(r.status, SHOAL_EBAD_REQUEST);
    char longid[200];
    snprintf(longid, sizeof longid, "{\"itemId\":\"%0129d\"}", 0);
    FAIL(ty, st, "AddItem", longid, SHOAL_EBAD_REQUEST, id_msg);
    snprintf(longid, sizeof longid, "{\"itemId\":\"%0128d\"}", 0);
    r = invoke(ty, st, "AddItem", longid, 0);
    ck_assert_int_eq(r.status, 0);
    FAIL(ty, st, "AddItem", "{\"itemId\":\"a\",\"quantity\":0}", SHOAL_EBAD_REQUEST, q_msg);
    FAIL(ty, st, "AddItem", "{\"itemId\":\"a\",\"quantity\":-1}", SHOAL_EBAD_REQUEST, q_msg);
    FAIL(ty, st, "AddItem", "{\"itemId\":\"a\",\"quantity\":\"2\"}", SHOAL_EBAD_REQUEST,
         "field 'quantity' must be an integer");
    OK(ty, st, "AddItem", "{\"itemId\":\"a\",\"quantity\":1000000000}",
       "{\"itemId\":\"a\",\"quantity\":1000000000}", 1);
    FAIL(ty, st, "AddItem", "{\"itemId\":\"a\"}", SHOAL_EBAD_REQUEST,
         "field 'quantity': the item's quantity would exceed 1000000000");
    FAIL(ty, st, "RemoveItem", "{\"item\":\"a\"}", SHOAL_EBAD_REQUEST, "missing field 'itemId'");
    FAIL(ty, st, "RemoveItem", "\"a\"", SHOAL_EBAD_REQUEST, "body must be a JSON object");
    FAIL(ty, st, "getItems", NULL, SHOAL_ENOT_FOUND, "unknown method 'getItems' for type 'cart'");
    ty->destroy(st, ty->udata);
}
END_TEST

/* ---- ratelimiter ---- */

START_TEST(test_types_ratelimiter_window)
{
    const shoal_entity_type_t *ty = type_ratelimiter(3, 1000);
    ck_assert_str_eq(ty->name, "ratelimiter");
    ck_assert(!ty->persistent);
    void *st = state_new(ty);
    ALLOW(NULL, 5000, "{\"allowed\":true,\"remaining\":2}", 1);
    ALLOW(NULL, 5100, "{\"allowed\":true,\"remaining\":1}", 1);
    ALLOW("{}", 5200, "{\"allowed\":true,\"remaining\":0}", 1);
    ALLOW(NULL, 5200, "{\"allowed\":false,\"remaining\":0,\"retryAfterMs\":800}", 0);
    ALLOW(NULL, 5999, "{\"allowed\":false,\"remaining\":0,\"retryAfterMs\":1}", 0);
    /* the window opened at 5000 ends at 6000; the next opens at 6500 */
    ALLOW(NULL, 6500, "{\"allowed\":true,\"remaining\":2}", 1);
    /* overrides: a larger limit admits more in the same window */
    ALLOW("{\"limit\":5}", 6600, "{\"allowed\":true,\"remaining\":3}", 1);
    ALLOW("{\"limit\":2}", 6600, "{\"allowed\":false,\"remaining\":0,\"retryAfterMs\":900}",
          0);
    /* a shorter window measured from the same start is already over */
    ALLOW("{\"limit\":2,\"windowMs\":50}", 6600, "{\"allowed\":true,\"remaining\":1}", 1);
    ALLOW("{\"limit\":2,\"windowMs\":50}", 6649, "{\"allowed\":true,\"remaining\":0}", 1);
    ALLOW("{\"limit\":2,\"windowMs\":50}", 6649,
          "{\"allowed\":false,\"remaining\":0,\"retryAfterMs\":1}", 0);
    ty->destroy(st, ty->udata);

    ty = type_ratelimiter(0, 0); /* the built-in defaults: 100 per hour */
    st = state_new(ty);
    for (int i = 0; i < 100; i++) {
        res_t r = allow(ty, st, NULL, 1000 + (uint64_t)i);
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.reply, "\"allowed\":true"));
    }
    ALLOW(NULL, 2000, "{\"allowed\":false,\"remaining\":0,\"retryAfterMs\":3599000}", 0);
    ALLOW(NULL, 3601000, "{\"allowed\":true,\"remaining\":99}", 1);
    ty->destroy(st, ty->udata);
}
END_TEST

START_TEST(test_types_ratelimiter_bad_input)
{
    const shoal_entity_type_t *ty = type_ratelimiter(3, 1000);
    void *st = state_new(ty);
    FAIL(ty, st, "AllowRequest", "{\"limit\":0}", SHOAL_EBAD_REQUEST,
         "field 'limit' must be between 1 and 1000000000");
    FAIL(ty, st, "AllowRequest", "{\"windowMs\":0}", SHOAL_EBAD_REQUEST,
         "field 'windowMs' must be between 1 and 31622400000");
    FAIL(ty, st, "AllowRequest", "{\"windowMs\":\"1s\"}", SHOAL_EBAD_REQUEST,
         "field 'windowMs' must be an integer");
    FAIL(ty, st, "AllowRequest", "[]", SHOAL_EBAD_REQUEST, "body must be a JSON object");
    FAIL(ty, st, "allow", NULL, SHOAL_ENOT_FOUND,
         "unknown method 'allow' for type 'ratelimiter'");
    ALLOW(NULL, 0, "{\"allowed\":true,\"remaining\":2}", 1);
    ty->destroy(st, ty->udata);
}
END_TEST

/* ---- log ---- */

START_TEST(test_types_log_append_read)
{
    const shoal_entity_type_t *ty = type_log();
    ck_assert_str_eq(ty->name, "log");
    ck_assert(ty->persistent);
    void *st = state_new(ty);
    OK(ty, st, "read", NULL, "{\"values\":[]}", 0);
    OK(ty, st, "append", "{\"value\":1}", "{\"index\":0}", 1);
    OK(ty, st, "append", "{\"value\": \"x y\"}", "{\"index\":1}", 1);
    OK(ty, st, "append", "{\"value\":{\"a\": [1, 2]}}", "{\"index\":2}", 1);
    OK(ty, st, "append", "{\"value\":null}", "{\"index\":3}", 1);
    OK(ty, st, "append", "{\"value\":true}", "{\"index\":4}", 1);
    OK(ty, st, "read", NULL, "{\"values\":[1,\"x y\",{\"a\":[1,2]},null,true]}", 0);
    OK(ty, st, "read", "{\"from\":1,\"limit\":2}", "{\"values\":[\"x y\",{\"a\":[1,2]}]}", 0);
    OK(ty, st, "read", "{\"from\":4}", "{\"values\":[true]}", 0);
    OK(ty, st, "read", "{\"from\":5}", "{\"values\":[]}", 0);
    OK(ty, st, "read", "{\"from\":99,\"limit\":3}", "{\"values\":[]}", 0);
    OK(ty, st, "read", "{\"limit\":0}", "{\"values\":[]}", 0);
    OK(ty, st, "read", "{\"limit\":1}", "{\"values\":[1]}", 0);
    FAIL(ty, st, "read", "{\"from\":-1}", SHOAL_EBAD_REQUEST,
         "field 'from' must be between 0 and 9223372036854775807");
    FAIL(ty, st, "read", "{\"limit\":\"all\"}", SHOAL_EBAD_REQUEST,
         "field 'limit' must be an integer");
    FAIL(ty, st, "append", NULL, SHOAL_EBAD_REQUEST, "missing JSON body");
    FAIL(ty, st, "append", "{\"v\":1}", SHOAL_EBAD_REQUEST, "missing field 'value'");
    FAIL(ty, st, "append", "1", SHOAL_EBAD_REQUEST, "body must be a JSON object");
    FAIL(ty, st, "write", NULL, SHOAL_ENOT_FOUND, "unknown method 'write' for type 'log'");
    ty->destroy(st, ty->udata);
}
END_TEST

START_TEST(test_types_log_full_entries)
{
    const shoal_entity_type_t *ty = type_log();
    void *st = state_new(ty);
    char body[64], reply[64];
    for (unsigned i = 0; i < TYPE_LOG_ENTRIES_MAX; i++) {
        snprintf(body, sizeof body, "{\"value\":%u}", i);
        res_t r = invoke(ty, st, "append", body, 0);
        if (r.status != 0 || r.events != 1) /* no ck_assert per turn: 10^5 turns */
            ck_abort_msg("append %u: status %d (%s)", i, r.status, r.msg);
    }
    FAIL(ty, st, "append", "{\"value\":0}", SHOAL_ECONFLICT, "log is full");
    snprintf(body, sizeof body, "{\"from\":%u}", TYPE_LOG_ENTRIES_MAX - 1);
    snprintf(reply, sizeof reply, "{\"values\":[%u]}", TYPE_LOG_ENTRIES_MAX - 1);
    OK(ty, st, "read", body, reply, 0);
    ty->destroy(st, ty->udata);
}
END_TEST

START_TEST(test_types_log_full_bytes)
{
    /* Values of 512 KiB: each takes 512 KiB + 3 bytes (quotes and comma),
     * so 31 fit in 16 MiB and the 32nd does not. */
    const shoal_entity_type_t *ty = type_log();
    void *st = state_new(ty);
    size_t n = 512 * 1024;
    char *body = malloc(n + 32);
    memcpy(body, "{\"value\":\"", 10);
    memset(body + 10, 'x', n);
    memcpy(body + 10 + n, "\"}", 3);
    char reply[32];
    for (unsigned i = 0; i < 31; i++) {
        snprintf(reply, sizeof reply, "{\"index\":%u}", i);
        OK(ty, st, "append", body, reply, 1);
    }
    FAIL(ty, st, "append", body, SHOAL_ECONFLICT, "log is full");
    OK(ty, st, "append", "{\"value\":1}", "{\"index\":31}", 1);
    OK(ty, st, "read", "{\"from\":31}", "{\"values\":[1]}", 0);
    free(body);
    ty->destroy(st, ty->udata);
}
END_TEST
/* ---- the example plugin ---- */

#ifdef SHOAL_EXAMPLE_PLUGIN
START_TEST(test_types_plugin_bank)
{
    reg_t *reg = NULL;
    ck_assert_int_eq(reg_new(&reg), 0);
    char err[256] = "";
    ck_assert_msg(reg_load_plugin(reg, SHOAL_EXAMPLE_PLUGIN, err, sizeof err) == 0, "%s", err);
    const shoal_entity_type_t *ty = reg_find(reg, "bank");
    ck_assert_ptr_nonnull(ty);
    ck_assert(ty->persistent);
    void *st = state_new(ty);
    OK(ty, st, "balance", NULL, "{\"balance\":0}", 0);
    OK(ty, st, "deposit", "{\"amount\":50}", "{\"balance\":50}", 1);
    OK(ty, st, "withdraw", "{\"amount\":20}", "{\"balance\":30}", 1);
    FAIL(ty, st, "withdraw", "{\"amount\":31}", SHOAL_ECONFLICT, "insufficient funds");
    FAIL(ty, st, "withdraw", "{\"amount\":0}", SHOAL_EBAD_REQUEST,
         "field 'amount' must be an integer >= 1");
    FAIL(ty, st, "deposit", "{\"amount\":\"5\"}", SHOAL_EBAD_REQUEST,
         "field 'amount' must be an integer >= 1");
    FAIL(ty, st, "deposit", "{}", SHOAL_EBAD_REQUEST, "missing field 'amount'");
    FAIL(ty, st, "deposit", NULL, SHOAL_EBAD_REQUEST, "missing JSON body");
    FAIL(ty, st, "deposit", "{", SHOAL_EBAD_REQUEST, "malformed JSON body");
    FAIL(ty, st, "deposit", "[5]", SHOAL_EBAD_REQUEST, "body must be a JSON object");
    FAIL(ty, st, "transfer", NULL, SHOAL_ENOT_FOUND, "unknown method 'transfer' for type 'bank'");
    FAIL(ty, st, "deposit", "{\"amount\":9223372036854775807}", SHOAL_EBAD_REQUEST,
         "field 'amount': the balance would overflow");
    void *copy = clone_by_snapshot(ty, st);
    same_reply(ty, st, copy, "balance", NULL);
    same_reply(ty, st, copy, "withdraw", "{\"amount\":30}");
    OK(ty, st, "balance", NULL, "{\"balance\":0}", 0);
    ck_assert_int_eq(apply_str(ty, st, "-1"), SHOAL_ECORRUPT); /* never negative */
    ck_assert_int_eq(apply_str(ty, st, "x"), SHOAL_ECORRUPT);
    ck_assert_int_eq(restore_str(ty, st, "{\"balance\":-5}"), SHOAL_ECORRUPT);
    ty->destroy(st, ty->udata);
    ty->destroy(copy, ty->udata);
    reg_free(reg); /* dlcloses: the type's code is gone after this */
}
END_TEST
#else
START_TEST(test_types_plugin_bank)
{
    ck_abort_msg("SHOAL_EXAMPLE_PLUGIN is not defined: the build must pass the path of "
                 "libshoal_example_bank.so (tests/CMakeLists.txt)");
}
END_TEST
#endif

static Suite *types_suite(void)
{
    Suite *s = suite_create("types");
    TCase *tc = tcase_create("counter");
    tcase_add_test(tc, test_types_counter_add_get);
    tcase_add_test(tc, test_types_counter_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("cart");
    tcase_add_test(tc, test_types_cart_items);
    tcase_add_test(tc, test_types_cart_full);
    tcase_add_test(tc, test_types_cart_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("ratelimiter");
    tcase_add_test(tc, test_types_ratelimiter_window);
    tcase_add_test(tc, test_types_ratelimiter_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("log");
    tcase_add_test(tc, test_types_log_append_read);
    tcase_add_test(tc, test_types_log_full_entries);
    tcase_add_test(tc, test_types_log_full_bytes);
    tcase_set_timeout(tc, 120); /* 10^5 turns; slow under sanitizers */
    suite_add_tcase(s, tc);
    tc = tcase_create("plugin");
    tcase_add_test(tc, test_types_plugin_bank);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(types_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
