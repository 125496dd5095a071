/*
 * unit_fixture.h - what any Check suite here can share: adding a TCase
 * from a NULL-terminated list of tests, and running a suite to an exit
 * status.  Used by the suites split out of one file each (the ent_*,
 * jrnl_*, jw_* and rpc_* suites) so that their mains stay one call.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef UNIT_FIXTURE_H
#define UNIT_FIXTURE_H

#include <check.h>
#include <stdlib.h>

/* Add TCase `name` to `s` with `tests` (NULL-terminated, added in order),
 * the checked fixture `setup`/`teardown` (both NULL: none) and a timeout
 * of `timeout_s` seconds (0: Check's default). */
static inline void unit_tcase_add(Suite *s, const char *name, SFun setup, SFun teardown,
                                  double timeout_s, const TTest **tests)
{
    TCase *tc = tcase_create(name);
    if (setup || teardown)
        tcase_add_checked_fixture(tc, setup, teardown);
    if (timeout_s > 0)
        tcase_set_timeout(tc, timeout_s);
    for (size_t i = 0; tests[i]; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
}

/* Run every test of `s` (and free it): EXIT_FAILURE if any failed. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* UNIT_FIXTURE_H */
