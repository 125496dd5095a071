/*
 * jdir_fixture.h - a journal directory per test, for the suites that open
 * a real LMDB journal (jrnl_fixture.h, jw_fixture.h): a fresh mkdtemp
 * directory under /tmp made by dir_make and removed by dir_remove (the
 * checked fixture), and jdir_open to open a journal in it.  LMDB keeps
 * its files flat in the directory, so removal does not recurse.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef JDIR_FIXTURE_H
#define JDIR_FIXTURE_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrnl.h"

static char dir[64];

static inline void dir_make(void)
{
    snprintf(dir, sizeof dir, "/tmp/shoal_jrnl.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Remove the directory and the files in it; a missing one is no error. */
static inline void dir_remove(void)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Open a journal in the test's directory with options `o` (its .dir is
 * set here); the test fails if it cannot be opened. */
static inline jrnl_t *jdir_open(jrnl_opts_t o)
{
    jrnl_t *j = NULL;
    o.dir = dir;
    ck_assert_int_eq(jrnl_open(&j, &o), 0);
    return j;
}

#endif /* JDIR_FIXTURE_H */
