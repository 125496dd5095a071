/*
 * mbox_test.c - the bounded intrusive mailbox: FIFO order, the bound,
 * ownership on refusal, and reuse after draining.
 */
#include <check.h>
#include <stdlib.h>

#include "call.h"
#include "mbox.h"
#include "sh_err.h"

static call_t *mk(const char *method)
{
    call_t *c;
    ck_assert_int_eq(call_new(&c, CALL_ASK, "t", "1", method, NULL, 0, 1000, 16), 0);
    return c;
}

START_TEST(test_mbox_fifo_order)
{
    mbox_t m;
    mbox_init(&m);
    ck_assert_ptr_null(mbox_pop(&m));
    call_t *a = mk("a"), *b = mk("b"), *c = mk("c");
    ck_assert_int_eq(mbox_push(&m, a, 10), 0);
    ck_assert_int_eq(mbox_push(&m, b, 10), 0);
    ck_assert_int_eq(mbox_push(&m, c, 10), 0);
    ck_assert_uint_eq(mbox_len(&m), 3);
    ck_assert_ptr_eq(mbox_peek(&m), a);
    ck_assert_ptr_eq(mbox_pop(&m), a);
    ck_assert_ptr_null(a->next);
    ck_assert_ptr_eq(mbox_pop(&m), b);
    ck_assert_ptr_eq(mbox_pop(&m), c);
    ck_assert_ptr_null(mbox_pop(&m));
    ck_assert_uint_eq(mbox_len(&m), 0);
    call_free(a);
    call_free(b);
    call_free(c);
}
END_TEST

START_TEST(test_mbox_bound_exact)
{
    mbox_t m = {0};
    call_t *cs[5];
    for (int i = 0; i < 5; i++)
        cs[i] = mk("x");
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(mbox_push(&m, cs[i], 4), 0);
    ck_assert_int_eq(mbox_push(&m, cs[4], 4), SH_EBUSY);
    ck_assert_uint_eq(mbox_len(&m), 4);
    /* refused: the caller still owns it, and the queue is untouched */
    ck_assert_ptr_eq(m.tail, cs[3]);
    ck_assert_ptr_eq(mbox_pop(&m), cs[0]);
    ck_assert_int_eq(mbox_push(&m, cs[4], 4), 0);
    for (int i = 1; i < 5; i++)
        ck_assert_ptr_eq(mbox_pop(&m), cs[i]);
    for (int i = 0; i < 5; i++)
        call_free(cs[i]);
}
END_TEST

START_TEST(test_mbox_reuse_after_drain)
{
    mbox_t m;
    mbox_init(&m);
    for (int round = 0; round < 3; round++) {
        call_t *a = mk("a"), *b = mk("b");
        ck_assert_int_eq(mbox_push(&m, a, 2), 0);
        ck_assert_ptr_eq(mbox_pop(&m), a);
        ck_assert_ptr_null(m.head);
        ck_assert_ptr_null(m.tail);
        ck_assert_int_eq(mbox_push(&m, b, 2), 0);
        ck_assert_ptr_eq(m.head, b);
        ck_assert_ptr_eq(mbox_pop(&m), b);
        call_free(a);
        call_free(b);
    }
}
END_TEST

START_TEST(test_mbox_zero_bound_refuses)
{
    mbox_t m = {0};
    call_t *a = mk("a");
    ck_assert_int_eq(mbox_push(&m, a, 0), SH_EBUSY);
    ck_assert_uint_eq(mbox_len(&m), 0);
    call_free(a);
}
END_TEST

static Suite *mbox_suite(void)
{
    Suite *s = suite_create("mbox");
    TCase *tc = tcase_create("fifo");
    tcase_add_test(tc, test_mbox_fifo_order);
    tcase_add_test(tc, test_mbox_reuse_after_drain);
    suite_add_tcase(s, tc);
    tc = tcase_create("bound");
    tcase_add_test(tc, test_mbox_bound_exact);
    tcase_add_test(tc, test_mbox_zero_bound_refuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mbox_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
