/*
 * sh_assert.h - programmer errors abort with file:line:expr.  Stays on in
 * release builds inside the cores.  Peer or client input never reaches an
 * assert: it yields an error code and bumps a counter.
 */
#ifndef SH_ASSERT_H
#define SH_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define SH_ASSERT(expr)                                                        \
    do {                                                                       \
        if (!(expr)) {                                                         \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                    __LINE__, #expr);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define SH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
