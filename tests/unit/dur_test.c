/*
 * dur_test.c - Dapr timer duration strings: Go durations, ISO 8601
 * durations and repetitions, RFC 3339 due times; strict refusal of
 * everything else.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "dur.h"
#include "sh_err.h"

static uint64_t ok_ms(const char *s)
{
    uint64_t ms = 12345;
    int rc = dur_parse(s, &ms);
    ck_assert_msg(rc == 0, "dur_parse(\"%s\") = %d", s, rc);
    return ms;
}

static void bad(const char *s)
{
    uint64_t ms = 7;
    ck_assert_msg(dur_parse(s, &ms) == SH_EBAD_REQUEST, "dur_parse(\"%s\") accepted", s);
    ck_assert_int_eq(ms, 7);
}

START_TEST(test_dur_go_forms)
{
    ck_assert_uint_eq(ok_ms("0h0m3s0ms"), 3000);
    ck_assert_uint_eq(ok_ms("0h0m0s250ms"), 250);
    ck_assert_uint_eq(ok_ms("1h2m3s4ms"), 3723004);
    ck_assert_uint_eq(ok_ms("0"), 0);
    ck_assert_uint_eq(ok_ms("1.5s"), 1500);
    ck_assert_uint_eq(ok_ms("90m"), 5400000);
    ck_assert_uint_eq(ok_ms("2500us"), 2);
    ck_assert_uint_eq(ok_ms("2500\xc2\xb5s"), 2);
    ck_assert_uint_eq(ok_ms("999999ns"), 0);
    ck_assert_uint_eq(ok_ms(".5s"), 500);
    ck_assert_uint_eq(ok_ms("1h0.5m"), 3630000);
}
END_TEST

START_TEST(test_dur_iso_forms)
{
    ck_assert_uint_eq(ok_ms("PT3S"), 3000);
    ck_assert_uint_eq(ok_ms("P1DT2H"), 93600000);
    ck_assert_uint_eq(ok_ms("PT0.5S"), 500);
    ck_assert_uint_eq(ok_ms("P2W"), 1209600000);
    ck_assert_uint_eq(ok_ms("PT1H30M"), 5400000);
    ck_assert_uint_eq(ok_ms("P1D"), 86400000);
    ck_assert_uint_eq(ok_ms("PT0S"), 0);
}
END_TEST

START_TEST(test_dur_refuses_malformed)
{
    const char *cases[] = {"",     "3",    "3x",   "s",    "-1s",  "1s ",  " 1s",  "1..5s",
                           "P",    "PT",   "P1DT", "P1Y",  "P1M",  "PT1D", "PT1S1M", "P1H",
                           "PT3", "P1S", "1s3",  "1e3s", "1.s.", "PT-1S"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad(cases[i]);
    uint64_t ms;
    ck_assert_int_eq(dur_parse(NULL, &ms), SH_EBAD_REQUEST);
}
END_TEST

START_TEST(test_dur_refuses_overflow)
{
    bad("99999999999999999999999999h");
    bad("100000h"); /* > ten years */
    ck_assert_uint_eq(ok_ms("87600h"), 87600ull * 3600 * 1000); /* ten years of 365 days */
    bad("P10000W");
}
END_TEST

START_TEST(test_dur_period_repetitions)
{
    uint64_t ms = 0;
    int64_t reps = 0;
    ck_assert_int_eq(dur_parse_period("R5/PT10S", &ms, &reps), 0);
    ck_assert_uint_eq(ms, 10000);
    ck_assert_int_eq(reps, 5);
    ck_assert_int_eq(dur_parse_period("0h0m1s", &ms, &reps), 0);
    ck_assert_uint_eq(ms, 1000);
    ck_assert_int_eq(reps, -1);
    ck_assert_int_eq(dur_parse_period("R3/1s", &ms, &reps), 0);
    ck_assert_int_eq(reps, 3);
    ck_assert_int_eq(dur_parse_period("R/PT1S", &ms, &reps), SH_EBAD_REQUEST);
    ck_assert_int_eq(dur_parse_period("R5PT1S", &ms, &reps), SH_EBAD_REQUEST);
    ck_assert_int_eq(dur_parse_period("R5/", &ms, &reps), SH_EBAD_REQUEST);
}
END_TEST

START_TEST(test_dur_due_rfc3339)
{
    const uint64_t now = 1767225600000ull; /* 2026-01-01T00:00:00Z */
    uint64_t ms = 1;
    ck_assert_int_eq(dur_parse_due("2026-01-01T00:00:05Z", now, &ms), 0);
    ck_assert_uint_eq(ms, 5000);
    ck_assert_int_eq(dur_parse_due("2026-01-01T01:00:05.250+01:00", now, &ms), 0);
    ck_assert_uint_eq(ms, 5250);
    ck_assert_int_eq(dur_parse_due("2025-12-31T23:59:00Z", now, &ms), 0);
    ck_assert_uint_eq(ms, 0); /* in the past: due at once */
    ck_assert_int_eq(dur_parse_due("0h0m2s", now, &ms), 0);
    ck_assert_uint_eq(ms, 2000);
    ck_assert_int_eq(dur_parse_due("2026-13-01T00:00:00Z", now, &ms), SH_EBAD_REQUEST);
    ck_assert_int_eq(dur_parse_due("2026-01-01T00:00:00", now, &ms), SH_EBAD_REQUEST);
    ck_assert_int_eq(dur_parse_due("2026-01-01 00:00:00Z", now, &ms), SH_EBAD_REQUEST);
    ck_assert_int_eq(dur_parse_due("2026-01-01T00:00:00Zjunk", now, &ms), SH_EBAD_REQUEST);
}
END_TEST

static Suite *dur_suite(void)
{
    Suite *s = suite_create("dur");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_dur_go_forms);
    tcase_add_test(tc, test_dur_iso_forms);
    tcase_add_test(tc, test_dur_refuses_malformed);
    tcase_add_test(tc, test_dur_refuses_overflow);
    suite_add_tcase(s, tc);
    tc = tcase_create("timer_forms");
    tcase_add_test(tc, test_dur_period_repetitions);
    tcase_add_test(tc, test_dur_due_rfc3339);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dur_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
