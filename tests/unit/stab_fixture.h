/*
 * stab_fixture.h - what the shard table suites share (stab_test.c,
 * stab_balance_test.c): id sets of several styles, views, tables, and
 * snapshots of a table's placement to compare across updates.
 *
 * Header-only (static): each suite is its own executable, and the
 * CMake glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef STAB_FIXTURE_H
#define STAB_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sh_rng.h"
#include "stab.h"

/* Check records every passing ck_assert with a write(2); hot loops use
 * this instead, which costs nothing unless it fails. */
#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg("%s:%d: expected %s", __FILE__, __LINE__, #cond);     \
    } while (0)

enum { S = 256, R = 3, POOL = 1024 };

static char g_ids[POOL][STAB_ID_MAX];

/* Fill g_ids[0..n) with distinct ids of one of several styles. */
static inline void make_ids(size_t n, unsigned style, sh_rng_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        switch (style % 4) {
        case 0: snprintf(g_ids[i], STAB_ID_MAX, "n%zu", i + 1); break;
        case 1:
            snprintf(g_ids[i], STAB_ID_MAX, "%016llx",
                     (unsigned long long)sh_rng_next(rng));
            break;
        case 2:
            snprintf(g_ids[i], STAB_ID_MAX, "10.%u.%u.%u:7946",
                     (unsigned)sh_rng_below(rng, 256), (unsigned)sh_rng_below(rng, 256),
                     (unsigned)sh_rng_below(rng, 256));
            break;
        default:
            snprintf(g_ids[i], STAB_ID_MAX, "shoald-%u",
                     (unsigned)sh_rng_below(rng, 1000000));
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(g_ids[i], g_ids[j]) == 0) {
                i--; /* draw again */
                break;
            }
    }
}

static inline void make_view(stab_member_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (stab_member_t){g_ids[i], SWIM_ALIVE};
}

static inline stab_t *new_table(uint32_t shards, uint32_t pct, uint32_t max_members)
{
    stab_config_t c;
    stab_config_default(&c);
    c.shards = shards;
    c.replicas = R;
    c.owner_load_pct = pct;
    c.max_members = max_members;
    stab_t *t = NULL;
    ck_assert_int_eq(stab_new(&t, &c), 0);
    return t;
}

/* A copy of a table's placement, comparable across tables and updates. */
typedef struct shot {
    char rep[R][STAB_ID_MAX]; /* owner first */
    uint32_t n;
    uint64_t epoch;
    enum stab_shard_state state;
} shot_t;

static inline void take(const stab_t *t, shot_t *out, uint32_t shards)
{
    for (uint32_t s = 0; s < shards; s++) {
        stab_shard_view_t v;
        EXPECT(stab_shard_get(t, s, &v) == 0);
        memset(&out[s], 0, sizeof(out[s]));
        out[s].n = v.n_replicas;
        out[s].epoch = v.epoch;
        out[s].state = v.state;
        for (uint32_t j = 0; j < v.n_replicas; j++)
            strcpy(out[s].rep[j], v.replicas[j]);
        EXPECT(v.owner == (v.n_replicas ? v.replicas[0] : NULL));
    }
}

static inline bool in_set(const shot_t *a, const char *id)
{
    for (uint32_t j = 0; j < a->n; j++)
        if (strcmp(a->rep[j], id) == 0)
            return true;
    return false;
}

/* Members of a missing from b. */
static inline uint32_t missing(const shot_t *a, const shot_t *b)
{
    uint32_t m = 0;
    for (uint32_t j = 0; j < a->n; j++)
        m += !in_set(b, a->rep[j]);
    return m;
}

static inline void ck_same_shots(const shot_t *a, const shot_t *b, uint32_t shards)
{
    for (uint32_t s = 0; s < shards; s++) {
        EXPECT(a[s].n == b[s].n);
        EXPECT(a[s].epoch == b[s].epoch);
        EXPECT(a[s].state == b[s].state);
        for (uint32_t j = 0; j < a[s].n; j++)
            EXPECT(strcmp(a[s].rep[j], b[s].rep[j]) == 0);
    }
}

static inline uint32_t load_owned(const stab_t *t, const char *id)
{
    uint32_t owned = 0, held = 0;
    EXPECT(stab_member_load(t, id, &owned, &held) == 0);
    return owned;
}

static inline uint32_t load_held(const stab_t *t, const char *id)
{
    uint32_t owned = 0, held = 0;
    EXPECT(stab_member_load(t, id, &owned, &held) == 0);
    return held;
}

#endif
