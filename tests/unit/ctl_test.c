/*
 * ctl_test.c - shoalctl's pure formatting: aligned tables, durations and
 * the members table built from a GET /v1/cluster/members document.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_table.h"
#include "sh_err.h"

static char *render(const ctl_table_t *t)
{
    char *s = NULL;
    ck_assert_int_eq(ctl_table_render(t, &s), 0);
    return s;
}

START_TEST(test_ctl_table_aligns_columns)
{
    static const char *const hdr[] = {"ID", "STATE", "N"};
    ctl_table_t *t;
    ck_assert_int_eq(ctl_table_new(&t, 3, hdr), 0);
    ck_assert_int_eq(ctl_table_add_row(t, (const char *const[]){"n10", "alive", "3"}), 0);
    ck_assert_int_eq(ctl_table_add_row(t, (const char *const[]){"n2", "suspect", NULL}), 0);
    char *s = render(t);
    ck_assert_str_eq(s, "ID   STATE    N\n"
                        "n10  alive    3\n"
                        "n2   suspect  -\n");
    free(s);
    ctl_table_free(t);
}
END_TEST

START_TEST(test_ctl_table_empty_has_header_only)
{
    static const char *const hdr[] = {"A", "LONGER"};
    ctl_table_t *t;
    ck_assert_int_eq(ctl_table_new(&t, 2, hdr), 0);
    char *s = render(t);
    ck_assert_str_eq(s, "A  LONGER\n");
    free(s);
    ck_assert_uint_eq(ctl_table_rows(t), 0);
    ctl_table_free(t);
    ctl_table_free(NULL);
}
END_TEST

START_TEST(test_ctl_table_bad_args)
{
    static const char *const hdr[] = {"A"};
    ctl_table_t *t = (ctl_table_t *)1;
    ck_assert_int_eq(ctl_table_new(&t, 0, hdr), SH_EBAD_REQUEST);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(ctl_table_new(&t, CTL_TABLE_COLS_MAX + 1, hdr), SH_EBAD_REQUEST);
    ck_assert_int_eq(ctl_table_new(&t, 1, hdr), 0);
    ck_assert_int_eq(ctl_table_sort(t, 1), SH_EBAD_REQUEST);
    ck_assert_ptr_null(ctl_table_cell(t, 0, 0));
    ctl_table_free(t);
}
END_TEST

START_TEST(test_ctl_table_sort_is_stable)
{
    static const char *const hdr[] = {"K", "V"};
    ctl_table_t *t;
    ck_assert_int_eq(ctl_table_new(&t, 2, hdr), 0);
    const char *rows[][2] = {{"b", "1"}, {"a", "2"}, {"b", "3"}, {"a", "4"}, {"c", "5"}};
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(ctl_table_add_row(t, rows[i]), 0);
    ck_assert_int_eq(ctl_table_sort(t, 0), 0);
    const char *want[] = {"2", "4", "1", "3", "5"};
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(ctl_table_cell(t, i, 1), want[i]);
    ctl_table_free(t);
}
END_TEST

START_TEST(test_ctl_dur_format)
{
    char b[32];
    const struct { int64_t ms; const char *want; } cases[] = {
        {-5000, "0s"},       {0, "0s"},           {999, "0s"},
        {59999, "59s"},      {60000, "1m00s"},    {125000, "2m05s"},
        {3599000, "59m59s"}, {3600000, "1h00m"},  {11220000, "3h07m"},
        {86400000, "1d00h"}, {352800000, "4d02h"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ctl_dur_format(b, sizeof(b), cases[i].ms);
        ck_assert_msg(strcmp(b, cases[i].want) == 0, "%lld ms: got %s want %s",
                      (long long)cases[i].ms, b, cases[i].want);
    }
}
END_TEST

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ck_assert_msg(j != NULL, "bad test json: %s", e.text);
    return j;
}

START_TEST(test_ctl_members_table_sorted_by_id)
{
    json_t *doc = load(
        "{\"self\":\"n1\",\"cluster\":\"shoal\",\"members\":["
        "{\"id\":\"n3\",\"addr\":\"127.0.0.3:7946\",\"state\":\"dead\",\"incarnation\":2,"
        "\"last_change_ms\":1000000},"
        "{\"id\":\"n1\",\"addr\":\"127.0.0.1:7946\",\"state\":\"alive\",\"incarnation\":12,"
        "\"last_change_ms\":1065000},"
        "{\"id\":\"n2\",\"addr\":\"127.0.0.2:7946\",\"state\":\"left\",\"incarnation\":0}]}");
    ctl_table_t *t;
    char err[128];
    ck_assert_int_eq(ctl_members_table(doc, 1070000, &t, err, sizeof(err)), 0);
    char *s = render(t);
    ck_assert_str_eq(s, "ID  ADDR            STATE  INCARNATION  SINCE\n"
                        "n1  127.0.0.1:7946  alive  12           5s\n"
                        "n2  127.0.0.2:7946  left   0            -\n"
                        "n3  127.0.0.3:7946  dead   2            1m10s\n");
    free(s);
    ctl_table_free(t);
    json_decref(doc);
}
END_TEST

START_TEST(test_ctl_members_table_rejects_bad_shape)
{
    const struct { const char *doc; const char *msg; } cases[] = {
        {"{}", "no \"members\" array in the response"},
        {"{\"members\":{}}", "no \"members\" array in the response"},
        {"{\"members\":[1]}", "members[0] is not an object"},
        {"{\"members\":[{\"addr\":\"a\",\"state\":\"alive\",\"incarnation\":1}]}",
         "members[0].id is missing or has the wrong type"},
        {"{\"members\":[{\"id\":\"n1\",\"addr\":\"a\",\"state\":\"alive\",\"incarnation\":\"1\"}]}",
         "members[0].incarnation is missing or has the wrong type"},
        {"[]", "no \"members\" array in the response"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = load(cases[i].doc);
        ctl_table_t *t = (ctl_table_t *)1;
        char err[128] = "";
        ck_assert_int_eq(ctl_members_table(doc, 0, &t, err, sizeof(err)), SH_EMALFORMED);
        ck_assert_ptr_null(t);
        ck_assert_str_eq(err, cases[i].msg);
        json_decref(doc);
    }
}
END_TEST

static Suite *ctl_suite(void)
{
    Suite *s = suite_create("ctl");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_ctl_table_aligns_columns);
    tcase_add_test(tc, test_ctl_table_empty_has_header_only);
    tcase_add_test(tc, test_ctl_table_bad_args);
    tcase_add_test(tc, test_ctl_table_sort_is_stable);
    tcase_add_test(tc, test_ctl_dur_format);
    suite_add_tcase(s, tc);
    tc = tcase_create("members");
    tcase_add_test(tc, test_ctl_members_table_sorted_by_id);
    tcase_add_test(tc, test_ctl_members_table_rejects_bad_shape);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ctl_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
