/* ctl_actors_test.c - shoalctl's entity commands, the pure parts
 * (suite "ctl_actors"). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_actors.h"
#include "sh_err.h"

START_TEST(test_ctl_entity_parse)
{
    char t[16], i[16];
    ck_assert_int_eq(ctl_entity_parse("cart/42", t, sizeof t, i, sizeof i), 0);
    ck_assert_str_eq(t, "cart");
    ck_assert_str_eq(i, "42");
    ck_assert_int_eq(ctl_entity_parse("log/a/b", t, sizeof t, i, sizeof i), 0);
    ck_assert_str_eq(i, "a/b"); /* the id keeps later slashes */
    static const char *const bad[] = {"cart", "/42", "cart/", "", "waytoolongtypename/x",
                                      "c/waytoolongidentifier"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        ck_assert_int_eq(ctl_entity_parse(bad[k], t, sizeof t, i, sizeof i), SH_EBAD_REQUEST);
}
END_TEST

START_TEST(test_ctl_path_escape)
{
    char out[32];
    ck_assert_int_eq(ctl_path_escape("Az09-._~", out, sizeof out), 8);
    ck_assert_str_eq(out, "Az09-._~");
    ck_assert_int_eq(ctl_path_escape("a/b c%\xc3\xa9", out, sizeof out), 18);
    ck_assert_str_eq(out, "a%2Fb%20c%25%C3%A9");
    ck_assert_int_eq(ctl_path_escape("", out, sizeof out), 0);
    ck_assert_int_eq(ctl_path_escape("abc", out, 3), -1);   /* no room for the NUL */
    ck_assert_int_eq(ctl_path_escape("a b", out, 5), -1);   /* %20 does not fit */
    ck_assert_int_eq(ctl_path_escape("a b", out, 6), 5);
}
END_TEST

static json_t *load(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(j);
    return j;
}

static char *render(ctl_table_t *t)
{
    char *text;
    ck_assert_int_eq(ctl_table_render(t, &text), 0);
    ctl_table_free(t);
    return text;
}

START_TEST(test_ctl_shards_table)
{
    json_t *doc = load("{\"node\":\"n1\",\"shard_count\":2,\"replicas\":2,\"shards\":["
                       "{\"shard\":0,\"owner\":\"n1\",\"replicas\":[\"n1\",\"n2\"],\"epoch\":1,"
                       "\"state\":\"active\",\"entities\":12},"
                       "{\"shard\":1,\"owner\":null,\"replicas\":[],\"epoch\":3,"
                       "\"state\":\"unplaced\",\"entities\":null}]}");
    ctl_table_t *t;
    char err[128];
    ck_assert_int_eq(ctl_shards_table(doc, &t, err, sizeof err), 0);
    char *text = render(t);
    ck_assert_str_eq(text, "SHARD  OWNER  REPLICAS  EPOCH  STATE     ENTITIES\n"
                           "0      n1     n1,n2     1      active    12\n"
                           "1      -      -         3      unplaced  -\n");
    free(text);
    json_decref(doc);
    /* One shard (GET /v1/cluster/shards/{n}) makes a one-row table. */
    doc = load("{\"shard\":7,\"owner\":\"n2\",\"replicas\":[\"n2\"],\"epoch\":2,"
               "\"state\":\"active\",\"entities\":null,\"node\":\"n1\"}");
    ck_assert_int_eq(ctl_shards_table(doc, &t, err, sizeof err), 0);
    ck_assert_uint_eq(ctl_table_rows(t), 1);
    ck_assert_str_eq(ctl_table_cell(t, 0, 1), "n2");
    ctl_table_free(t);
    json_decref(doc);
}
END_TEST

START_TEST(test_ctl_shards_table_malformed)
{
    static const char *const docs[] = {
        "{}",
        "{\"shards\":[1]}",
        "{\"shards\":[{\"shard\":\"0\"}]}",
        "{\"shards\":[{\"shard\":0,\"owner\":\"n1\",\"replicas\":[1],\"epoch\":1,"
        "\"state\":\"active\",\"entities\":1}]}",
        "{\"shards\":[{\"shard\":0,\"owner\":\"n1\",\"replicas\":[],\"epoch\":1,"
        "\"state\":\"active\",\"entities\":\"x\"}]}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_t *doc = load(docs[i]);
        ctl_table_t *t = (ctl_table_t *)1;
        char err[128] = "";
        ck_assert_int_eq(ctl_shards_table(doc, &t, err, sizeof err), SH_EMALFORMED);
        ck_assert_ptr_null(t);
        ck_assert_msg(err[0] != '\0', "doc %zu: no message", i);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_ctl_locate_table)
{
    static const struct {
        const char *doc, *active;
    } cases[] = {
        {"{\"type\":\"cart\",\"id\":\"42\",\"shard\":17,\"owner\":\"n2\",\"active\":true}", "yes"},
        {"{\"type\":\"cart\",\"id\":\"42\",\"shard\":17,\"owner\":\"n2\",\"active\":false}", "no"},
        {"{\"type\":\"cart\",\"id\":\"42\",\"shard\":17,\"owner\":null,\"active\":null}", "?"},
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *doc = load(cases[i].doc);
        ctl_table_t *t;
        char err[128];
        ck_assert_int_eq(ctl_locate_table(doc, &t, err, sizeof err), 0);
        ck_assert_str_eq(ctl_table_cell(t, 0, 0), "cart/42");
        ck_assert_str_eq(ctl_table_cell(t, 0, 1), "17");
        ck_assert_str_eq(ctl_table_cell(t, 0, 3), cases[i].active);
        ctl_table_free(t);
        json_decref(doc);
    }
    json_t *doc = load("{\"type\":\"cart\",\"id\":\"42\",\"shard\":17,\"owner\":\"n2\"}");
    ctl_table_t *t;
    char err[128];
    ck_assert_int_eq(ctl_locate_table(doc, &t, err, sizeof err), SH_EMALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "active"));
    json_decref(doc);
}
END_TEST

static Suite *ctl_actors_suite(void)
{
    Suite *s = suite_create("ctl_actors");
    TCase *tc = tcase_create("args");
    tcase_add_test(tc, test_ctl_entity_parse);
    tcase_add_test(tc, test_ctl_path_escape);
    suite_add_tcase(s, tc);
    tc = tcase_create("tables");
    tcase_add_test(tc, test_ctl_shards_table);
    tcase_add_test(tc, test_ctl_shards_table_malformed);
    tcase_add_test(tc, test_ctl_locate_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ctl_actors_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
