/*
 * tp_fault_test.c - the transport's fault hooks (tp_fault_*, in
 * transport/tp_fault.c): cuts, drop probability, delays, and the fault
 * table's rules, over real sockets on 127.0.0.1 (tp_fixture.h).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sh_err.h"
#include "sh_time.h"
#include "tp_fixture.h"

/* ---- faults --------------------------------------------------------- */

START_TEST(test_tp_cut_drops_counts_and_blocks)
{
    rx_t ra, rb;
    char aa[TP_ADDR_MAX], ab[TP_ADDR_MAX];
    tp_fault_t cut = {.cut = true}, none = {0};
    tp_stats_t st;

    rx_init(&ra);
    rx_init(&rb);
    tp_t *a = mk(&ra, NULL, aa), *b = mk(&rb, NULL, ab);
    ck_assert_int_eq(tp_fault_set(a, ab, &cut), 0);
    for (uint32_t i = 0; i < 10; i++)
        send_ok(a, ab, i, 10); /* 0: looks like network loss */
    tp_stats_get(a, &st);
    ck_assert_uint_eq(st.drop_fault, 10);
    ck_assert_uint_eq(st.queued_frames, 0);
    ck_assert(tp_fault_blocks_incoming(a, ab));
    ck_assert(!tp_fault_blocks_incoming(a, aa));
    ck_assert_int_eq(tp_fault_set(a, ab, &none), 0);
    ck_assert(!tp_fault_blocks_incoming(a, ab));
    send_ok(a, ab, 99, 10);
    ck_assert(rx_wait(&rb, &rb.n, 1));
    ck_assert_uint_eq(rb.seqs[0], 99); /* none of the cut frames got through */
    rm(a, &ra);
    rm(b, &rb);
    ck_assert_uint_eq(rb.n, 1);
}
END_TEST

START_TEST(test_tp_drop_prob_matches_expectation)
{
    rx_t ra, rb;
    char aa[TP_ADDR_MAX], ab[TP_ADDR_MAX];
    tp_fault_t lossy = {.drop_prob = 0.25};
    tp_config_t cfg;
    tp_stats_t st;
    const uint32_t n = 2000;

    rx_init(&ra);
    rx_init(&rb);
    tp_config_default(&cfg);
    cfg.peer_queue_frames = n;
    cfg.send_timeout_ms = WAIT_MS;
    tp_t *a = mk(&ra, &cfg, aa), *b = mk(&rb, &cfg, ab);
    tp_fault_seed(a, 0x5eed);
    ck_assert_int_eq(tp_fault_set(a, NULL, &lossy), 0);
    for (uint32_t i = 0; i < n; i++)
        send_ok(a, ab, i, 12);
    tp_stats_get(a, &st);
    /* Binomial(2000, 0.25): mean 500, sd 19.4; +-6 sd. */
    ck_assert_uint_ge(st.drop_fault, 384);
    ck_assert_uint_le(st.drop_fault, 616);
    ck_assert(rx_wait(&rb, &rb.n, n - st.drop_fault));
    pthread_mutex_lock(&rb.mu);
    for (size_t i = 1; i < rb.n; i++)
        ck_assert_uint_gt(rb.seqs[i], rb.seqs[i - 1]);
    pthread_mutex_unlock(&rb.mu);
    rm(a, &ra);
    rm(b, &rb);
    ck_assert_uint_eq(rb.n, n - st.drop_fault);
}
END_TEST

START_TEST(test_tp_delay_holds_then_delivers_in_order)
{
    rx_t ra, rb;
    char aa[TP_ADDR_MAX], ab[TP_ADDR_MAX];
    tp_fault_t delay = {.delay_ms = 150}, none = {0};

    rx_init(&ra);
    rx_init(&rb);
    tp_t *a = mk(&ra, NULL, aa), *b = mk(&rb, NULL, ab);
    ck_assert_int_eq(tp_fault_set(a, ab, &delay), 0);
    uint64_t t0 = sh_time_mono_ms();
    for (uint32_t i = 0; i < 10; i++)
        send_ok(a, ab, i, 10);
    ck_assert_int_eq(tp_fault_set(a, ab, &none), 0);
    for (uint32_t i = 10; i < 20; i++)
        send_ok(a, ab, i, 10); /* undelayed, but queued behind held frames */
    ck_assert(rx_wait(&rb, &rb.n, 20));
    ck_assert_uint_ge(rb.first_ms, t0 + 150); /* held at least the delay */
    assert_in_order(&rb, 0, 20);
    rm(a, &ra);
    rm(b, &rb);
}
END_TEST

START_TEST(test_tp_fault_table_rules)
{
    rx_t ra;
    char aa[TP_ADDR_MAX], name[TP_ADDR_MAX];
    tp_fault_t cut = {.cut = true}, slow = {.delay_ms = 5}, none = {0};
    tp_fault_t bad = {.drop_prob = 1.5}, nan_ = {.drop_prob = 0.0 / 0.0};
    tp_fault_t all = {.drop_prob = 1.0};
    tp_stats_t st;

    rx_init(&ra);
    tp_t *a = mk(&ra, NULL, aa);
    ck_assert_int_eq(tp_fault_set(a, "x:1", &bad), SH_EBAD_REQUEST);
    ck_assert_int_eq(tp_fault_set(a, "x:1", &nan_), SH_EBAD_REQUEST);
    for (int i = 0; i < TP_FAULT_MAX; i++) {
        snprintf(name, sizeof(name), "10.0.0.%d:1", i);
        ck_assert_int_eq(tp_fault_set(a, name, &slow), 0);
    }
    ck_assert_int_eq(tp_fault_set(a, "x:1", &cut), SH_EFULL);
    ck_assert_int_eq(tp_fault_set(a, "10.0.0.3:1", &cut), 0); /* update in place */
    ck_assert(tp_fault_blocks_incoming(a, "10.0.0.3:1"));
    ck_assert(!tp_fault_blocks_incoming(a, "10.0.0.4:1")); /* delay only */
    ck_assert_int_eq(tp_fault_set(a, "10.0.0.5:1", &none), 0); /* frees a slot */
    ck_assert_int_eq(tp_fault_set(a, NULL, &cut), 0);
    ck_assert(tp_fault_blocks_incoming(a, "anyone:1"));
    tp_fault_clear_all(a);
    ck_assert(!tp_fault_blocks_incoming(a, "10.0.0.3:1"));
    /* drop_prob 1 on every peer: deterministic loss. */
    ck_assert_int_eq(tp_fault_set(a, NULL, &all), 0);
    for (uint32_t i = 0; i < 50; i++)
        send_ok(a, "127.0.0.1:9", i, 10);
    tp_stats_get(a, &st);
    ck_assert_uint_eq(st.drop_fault, 50);
    rm(a, &ra);
}
END_TEST
static Suite *tp_fault_suite(void)
{
    Suite *s = suite_create("tp_fault");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tp_cut_drops_counts_and_blocks);
    tcase_add_test(tc, test_tp_drop_prob_matches_expectation);
    tcase_add_test(tc, test_tp_delay_holds_then_delivers_in_order);
    tcase_add_test(tc, test_tp_fault_table_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tp_fault_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
