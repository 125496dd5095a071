/* ctl_journal_test.c - `shoalctl journal`, the pure parts: the request
 * path, the SEQ TIME EVENT table from canned documents, the "more" line,
 * and the cell cut it relies on (suite "ctl_journal"). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_journal.h"
#include "sh_err.h"

static json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    ck_assert_msg(j != NULL, "bad canned JSON: %s", e.text);
    return j;
}

static char *render(ctl_table_t *t)
{
    char *text;
    ck_assert_int_eq(ctl_table_render(t, &text), 0);
    ctl_table_free(t);
    return text;
}

/* ---- path ---------------------------------------------------------------- */

START_TEST(test_ctl_journal_path)
{
    char p[128];
    ck_assert_int_eq(ctl_journal_path("counter", "c1", CTL_JOURNAL_UNSET, CTL_JOURNAL_UNSET, p,
                                      sizeof p),
                     (int)strlen("/v1/actors/counter/c1/journal"));
    ck_assert_str_eq(p, "/v1/actors/counter/c1/journal");
    ck_assert_int_gt(ctl_journal_path("counter", "c1", 13, CTL_JOURNAL_UNSET, p, sizeof p), 0);
    ck_assert_str_eq(p, "/v1/actors/counter/c1/journal?from=13");
    ck_assert_int_gt(ctl_journal_path("counter", "c1", CTL_JOURNAL_UNSET, 5, p, sizeof p), 0);
    ck_assert_str_eq(p, "/v1/actors/counter/c1/journal?limit=5");
    ck_assert_int_gt(ctl_journal_path("counter", "c1", 0, 100000, p, sizeof p), 0);
    ck_assert_str_eq(p, "/v1/actors/counter/c1/journal?from=0&limit=100000");
    /* Type and id are escaped as one segment each: a '/' in the id too. */
    ck_assert_int_gt(ctl_journal_path("log", "a/b c", CTL_JOURNAL_UNSET, CTL_JOURNAL_UNSET, p,
                                      sizeof p),
                     0);
    ck_assert_str_eq(p, "/v1/actors/log/a%2Fb%20c/journal");
}
END_TEST

START_TEST(test_ctl_journal_path_bad)
{
    char p[128];
    ck_assert_int_eq(ctl_journal_path("c", "1", -2, CTL_JOURNAL_UNSET, p, sizeof p),
                     SH_EBAD_REQUEST);
    ck_assert_int_eq(ctl_journal_path("c", "1", CTL_JOURNAL_UNSET, 0, p, sizeof p),
                     SH_EBAD_REQUEST);
    ck_assert_int_eq(ctl_journal_path("c", "1", CTL_JOURNAL_UNSET, CTL_JOURNAL_LIMIT_MAX + 1, p,
                                      sizeof p),
                     SH_EBAD_REQUEST);
    /* Too small a buffer at every stage: never a partial path. */
    size_t full = strlen("/v1/actors/counter/c1/journal?from=1&limit=2");
    for (size_t cap = 0; cap <= full; cap++)
        ck_assert_int_eq(ctl_journal_path("counter", "c1", 1, 2, p, cap), -1);
    ck_assert_int_eq(ctl_journal_path("counter", "c1", 1, 2, p, full + 1), (int)full);
}
END_TEST

/* ---- table --------------------------------------------------------------- */

START_TEST(test_ctl_journal_table)
{
    json_t *doc = load(
        "{\"type\":\"counter\",\"id\":\"c1\",\"shard\":17,\"last_seq\":12,\"snapshot_seq\":0,"
        "\"events\":["
        "{\"seq\":1,\"time\":\"2026-11-24T07:00:00.123Z\",\"event\":{\"by\":1}},"
        "{\"seq\":2,\"time\":\"2026-11-24T07:00:01.000Z\",\"event\":{\"b\":[1, 2],\"a\":\"x\"}},"
        "{\"seq\":10,\"time\":null,\"event_base64\":\"AAEC/w==\"},"
        "{\"seq\":11,\"event\":\"caf\\u00e9\"},"
        "{\"seq\":12,\"time\":\"2026-11-24T07:00:02.000Z\",\"event\":null}],"
        "\"next\":13}");
    ctl_table_t *t;
    char err[128] = "";
    ck_assert_int_eq(ctl_journal_table(doc, &t, err, sizeof err), 0);
    ck_assert_uint_eq(ctl_table_rows(t), 5);
    ck_assert_str_eq(ctl_table_cell(t, 0, 0), "1");
    ck_assert_str_eq(ctl_table_cell(t, 0, 1), "2026-11-24T07:00:00.123Z");
    ck_assert_str_eq(ctl_table_cell(t, 0, 2), "{\"by\":1}");
    /* Compact, keys in the document's order. */
    ck_assert_str_eq(ctl_table_cell(t, 1, 2), "{\"b\":[1,2],\"a\":\"x\"}");
    ck_assert_str_eq(ctl_table_cell(t, 2, 0), "10");
    ck_assert_str_eq(ctl_table_cell(t, 2, 1), "-");
    ck_assert_str_eq(ctl_table_cell(t, 2, 2), "base64:AAEC/w==");
    ck_assert_str_eq(ctl_table_cell(t, 3, 1), "-"); /* no time at all */
    ck_assert_str_eq(ctl_table_cell(t, 3, 2), "\"caf\\u00E9\""); /* ASCII only */
    ck_assert_str_eq(ctl_table_cell(t, 4, 2), "null");
    char *text = render(t);
    ck_assert_str_eq(text,
                     "SEQ  TIME                      EVENT\n"
                     "1    2026-11-24T07:00:00.123Z  {\"by\":1}\n"
                     "2    2026-11-24T07:00:01.000Z  {\"b\":[1,2],\"a\":\"x\"}\n"
                     "10   -                         base64:AAEC/w==\n"
                     "11   -                         \"caf\\u00E9\"\n"
                     "12   2026-11-24T07:00:02.000Z  null\n");
    free(text);
    char more[64];
    ck_assert_int_eq(ctl_journal_more(doc, more, sizeof more), 1);
    ck_assert_str_eq(more, "more events: --from 13");
    json_decref(doc);
}
END_TEST

/* A long event is cut to CTL_CELL_MAX bytes ending in "..."; so is a
 * long base64 one; an empty page has the header only and no "more". */
START_TEST(test_ctl_journal_table_cut_and_empty)
{
    char big[400], b64[400], doc_s[1024];
    memset(big, 'x', 300);
    big[300] = '\0';
    memset(b64, 'A', 300);
    b64[300] = '\0';
    snprintf(doc_s, sizeof doc_s,
             "{\"events\":[{\"seq\":1,\"time\":\"t\",\"event\":{\"s\":\"%s\"}},"
             "{\"seq\":2,\"time\":\"t\",\"event_base64\":\"%s\"}],\"next\":null}",
             big, b64);
    json_t *doc = load(doc_s);
    ctl_table_t *t;
    char err[128];
    ck_assert_int_eq(ctl_journal_table(doc, &t, err, sizeof err), 0);
    const char *c0 = ctl_table_cell(t, 0, 2), *c1 = ctl_table_cell(t, 1, 2);
    ck_assert_uint_eq(strlen(c0), CTL_CELL_MAX);
    ck_assert_uint_eq(strlen(c1), CTL_CELL_MAX);
    ck_assert(strncmp(c0, "{\"s\":\"xxx", 9) == 0);
    ck_assert_str_eq(c0 + CTL_CELL_MAX - 3, "...");
    ck_assert(strncmp(c1, "base64:AAA", 10) == 0);
    ck_assert_str_eq(c1 + CTL_CELL_MAX - 3, "...");
    ctl_table_free(t);
    char more[64];
    ck_assert_int_eq(ctl_journal_more(doc, more, sizeof more), 0);
    ck_assert_str_eq(more, "");
    json_decref(doc);

    doc = load("{\"type\":\"counter\",\"id\":\"c9\",\"events\":[],\"next\":null}");
    ck_assert_int_eq(ctl_journal_table(doc, &t, err, sizeof err), 0);
    char *text = render(t);
    ck_assert_str_eq(text, "SEQ  TIME  EVENT\n");
    free(text);
    json_decref(doc);
}
END_TEST

static const struct {
    const char *doc, *err;
} bad_docs[] = {
    {"{}", "no \"events\" array in the response"},
    {"{\"events\":{}}", "no \"events\" array in the response"},
    {"[]", "no \"events\" array in the response"},
    {"{\"events\":[],\"next\":\"13\"}", "\"next\" is neither a sequence number nor null"},
    {"{\"events\":[1]}", "events[0].(the event) is missing or has the wrong type"},
    {"{\"events\":[{\"seq\":1,\"event\":1},{\"time\":\"t\",\"event\":1}]}",
     "events[1].seq is missing or has the wrong type"},
    {"{\"events\":[{\"seq\":\"1\",\"event\":1}]}", "events[0].seq is missing or has the wrong type"},
    {"{\"events\":[{\"seq\":1,\"time\":5,\"event\":1}]}",
     "events[0].time is missing or has the wrong type"},
    {"{\"events\":[{\"seq\":1,\"time\":\"t\"}]}",
     "events[0] has neither \"event\" nor \"event_base64\""},
    {"{\"events\":[{\"seq\":1,\"event_base64\":7}]}",
     "events[0] has neither \"event\" nor \"event_base64\""},
};

START_TEST(test_ctl_journal_table_malformed)
{
    json_t *doc = load(bad_docs[_i].doc);
    ctl_table_t *t = (ctl_table_t *)1;
    char err[128] = "";
    ck_assert_int_eq(ctl_journal_table(doc, &t, err, sizeof err), SH_EMALFORMED);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err, bad_docs[_i].err);
    json_decref(doc);
}
END_TEST

/* ---- the cut ------------------------------------------------------------- */

START_TEST(test_ctl_cell_cut)
{
    char s[32];
    strcpy(s, "abcdef");
    ck_assert(!ctl_cell_cut(s, 6));
    ck_assert_str_eq(s, "abcdef");
    ck_assert(ctl_cell_cut(s, 5));
    ck_assert_str_eq(s, "ab...");
    /* Never inside a UTF-8 sequence: "a" + U+00E9 (2 bytes) + "bcd", cut
     * to 5 would keep "a\xc3" - it keeps "a" instead. */
    strcpy(s, "a\xc3\xa9" "bcd");
    ck_assert(ctl_cell_cut(s, 5));
    ck_assert_str_eq(s, "a...");
    strcpy(s, "\xe2\x82\xac\xe2\x82\xac"); /* two euro signs, 6 bytes */
    ck_assert(ctl_cell_cut(s, 5));
    ck_assert_str_eq(s, "...");
}
END_TEST

static Suite *ctl_journal_suite(void)
{
    Suite *s = suite_create("ctl_journal");
    TCase *tc = tcase_create("path");
    tcase_add_test(tc, test_ctl_journal_path);
    tcase_add_test(tc, test_ctl_journal_path_bad);
    suite_add_tcase(s, tc);
    tc = tcase_create("table");
    tcase_add_test(tc, test_ctl_journal_table);
    tcase_add_test(tc, test_ctl_journal_table_cut_and_empty);
    tcase_add_loop_test(tc, test_ctl_journal_table_malformed, 0,
                        (int)(sizeof bad_docs / sizeof bad_docs[0]));
    tcase_add_test(tc, test_ctl_cell_cut);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ctl_journal_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
