/*
 * jrnl_fixture.h - what the journal suites share (jrnl_test.c,
 * jrnl_damage_test.c, jrnl_records_test.c, jrnl_map_test.c): a journal in
 * its own mkdtemp directory per test, three entities, numbered payloads
 * appended in one txn, a load collector that folds what it sees, raw
 * LMDB edits on the closed journal (LMDB forbids opening one environment
 * twice in a process), snapshots, idempotency records and reminders.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef JRNL_FIXTURE_H
#define JRNL_FIXTURE_H

#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jdir_fixture.h"
#include "jrnl.h"
#include "sh_err.h"
#include "unit_fixture.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---- fixtures ----------------------------------------------------------- */

static inline jrnl_t *jopen(uint64_t map_init, uint64_t map_max, uint32_t lz4_min)
{
    return jdir_open((jrnl_opts_t){.map_init = map_init, .map_max = map_max, .lz4_min = lz4_min});
}

static const jrnl_ent_t ent_a = {7, "cart", "a"}, ent_b = {7, "cart", "b"},
                        ent_c = {9, "bank", "c"};

/* ---- events buffers and payloads ----------------------------------------- */

typedef struct evb {
    uint8_t *p;
    size_t len;
    uint32_t n;
} evb_t;

static inline void evb_add(evb_t *b, const void *data, uint32_t len)
{
    b->p = realloc(b->p, b->len + 4 + len);
    memcpy(b->p + b->len, &len, 4);
    memcpy(b->p + b->len + 4, data, len);
    b->len += 4 + len;
    b->n++;
}

/* Payload of event `seq` of size `size`: incompressible unless `text`. */
static inline void payload(uint8_t *p, size_t size, uint64_t seq, int text)
{
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = text ? (uint8_t)("shoal cart item "[i % 16]) : (uint8_t)x;
    }
    if (size >= 8)
        memcpy(p, &seq, 8);
}

/* Append events first..first+n-1 (payload(seq)) in one txn, growing the
 * map on SH_EFULL as the writer does.  Returns the commit's code. */
static inline int put_events(jrnl_t *j, const jrnl_ent_t *e, uint64_t first, uint32_t n,
                             size_t size, int text)
{
    evb_t b = {0};
    uint8_t *p = malloc(size ? size : 1);
    for (uint32_t i = 0; i < n; i++) {
        payload(p, size, first + i, text);
        evb_add(&b, p, (uint32_t)size);
    }
    int rc;
    for (;;) {
        jrnl_txn_t *t;
        ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
        rc = jrnl_txn_append(t, e, first, b.n, b.p, b.len, 1000 + first);
        if (rc != 0)
            jrnl_txn_abort(t);
        else
            rc = jrnl_txn_commit(t);
        if (rc != SH_EFULL || (rc = jrnl_grow(j)) != 0)
            break;
    }
    free(p);
    free(b.p);
    return rc;
}

/* ---- load collector ------------------------------------------------------- */

typedef struct coll {
    uint64_t snap_seq, first, last, n, wall_last;
    uint64_t fold;     /* FNV-1a over (seq, data) of every event seen */
    size_t size;       /* expected payload size (0: do not check content) */
    int text, bad;
    int stop_at;       /* return 77 at this event count (0: never) */
    uint64_t upto;     /* ignore events above this seq (0: none ignored) */
} coll_t;

static inline uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static inline int coll_fn(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
                          const uint8_t *data, size_t len)
{
    coll_t *c = arg;
    if (kind == JRNL_SNAPSHOT) {
        c->snap_seq = seq;
        if (len == 8)
            memcpy(&c->fold, data, 8); /* our snapshots are the fold so far */
        return 0;
    }
    if (c->upto && seq > c->upto)
        return 0;
    if (c->n == 0)
        c->first = seq;
    c->last = seq;
    c->n++;
    c->wall_last = wall_ms;
    c->fold = fnv(fnv(c->fold, &seq, 8), data, len);
    if (c->size) {
        uint8_t *want = malloc(c->size);
        payload(want, c->size, seq, c->text);
        if (len != c->size || memcmp(want, data, len) != 0)
            c->bad++;
        free(want);
    }
    return c->stop_at && (int)c->n == c->stop_at ? 77 : 0;
}

/* ---- raw LMDB access on the closed journal -------------------------------- */

static inline size_t raw_key(uint8_t *k, const jrnl_ent_t *e, uint64_t seq)
{
    size_t tl = strlen(e->type), il = strlen(e->id), n = 0;
    for (int i = 3; i >= 0; i--)
        k[n++] = (uint8_t)(e->shard >> (8 * i));
    memcpy(k + n, e->type, tl + 1);
    n += tl + 1;
    memcpy(k + n, e->id, il + 1);
    n += il + 1;
    for (int i = 7; i >= 0; i--)
        k[n++] = (uint8_t)(seq >> (8 * i));
    return n;
}

typedef void (*raw_fn)(MDB_txn *txn, MDB_dbi dbi, void *arg);

static inline void raw_edit(const char *db, raw_fn fn, void *arg)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
    fn(txn, dbi, arg);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* The size of event seq's stored value (to see lz4 at work). */
typedef struct raw_arg {
    uint64_t seq;
    size_t size;
    int flip; /* flip a byte of the value instead */
    int del;  /* delete the event instead */
} raw_arg_t;

static inline void raw_event(MDB_txn *txn, MDB_dbi dbi, void *arg)
{
    raw_arg_t *a = arg;
    uint8_t k[128];
    MDB_val kv = {raw_key(k, &ent_a, a->seq), k}, v;
    if (a->del) {
        ck_assert_int_eq(mdb_del(txn, dbi, &kv, NULL), 0);
        return;
    }
    ck_assert_int_eq(mdb_get(txn, dbi, &kv, &v), 0);
    a->size = v.mv_size;
    if (!a->flip)
        return;
    uint8_t *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 3] ^= 0x20; /* inside the payload bytes */
    MDB_val nv = {v.mv_size, copy};
    ck_assert_int_eq(mdb_put(txn, dbi, &kv, &nv, 0), 0);
    free(copy);
}

/* ---- snapshots ------------------------------------------------------------ */

/* A snapshot is the fold of the events it covers, so "snapshot + tail"
 * must fold to the same value as replaying every event. */
static inline void put_snapshot(jrnl_t *j, const jrnl_ent_t *e, uint64_t seq, uint64_t retain,
                                int want)
{
    coll_t c = {.upto = seq};
    ck_assert_int_eq(jrnl_load(j, e, true, coll_fn, &c, NULL), 0);
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_snapshot(t, e, seq, (uint8_t *)&c.fold, 8, 5, retain), want);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
}

/* ---- idempotency and reminders -------------------------------------------- */

static inline int idem_put(jrnl_t *j, const jrnl_ent_t *e, const char *key, uint64_t exp,
                           int status)
{
    jrnl_idem_t r = {.status = status, .expires_wall_ms = exp, .reply = (uint8_t *)"{\"ok\":1}",
                     .reply_len = 8};
    snprintf(r.msg, sizeof r.msg, "%s", status ? "insufficient funds" : "");
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    int rc = jrnl_txn_idem_put(t, e, key, &r);
    if (rc != 0) {
        jrnl_txn_abort(t);
        return rc;
    }
    return jrnl_txn_commit(t);
}

typedef struct rems_seen {
    int n;
    char names[8][32];
    uint64_t due[8];
    int64_t reps[8];
    char data[8][32];
    char spec[8][64];
} rems_seen_t;

static inline int rem_fn(void *arg, const jrnl_rem_t *r)
{
    rems_seen_t *s = arg;
    ck_assert_int_lt(s->n, 8);
    snprintf(s->names[s->n], 32, "%s/%s/%s", r->type, r->id, r->name);
    s->due[s->n] = r->due_wall_ms;
    s->reps[s->n] = r->reps;
    snprintf(s->data[s->n], 32, "%.*s", (int)r->data_len, r->data ? (const char *)r->data : "");
    snprintf(s->spec[s->n], 64, "%.*s", (int)r->spec_len, (const char *)r->spec);
    s->n++;
    return 0;
}

static inline int rem_put(jrnl_t *j, const jrnl_ent_t *e, const char *name, uint64_t due,
                          const char *data)
{
    jrnl_rem_t r = {.shard = e->shard, .type = e->type, .id = e->id, .name = name,
                    .due_wall_ms = due, .period_ms = 500, .reps = -1,
                    .data = (const uint8_t *)data, .data_len = data ? strlen(data) : 0,
                    .spec = (const uint8_t *)"{\"due\":1}", .spec_len = 9};
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    int rc = jrnl_txn_rem_put(t, &r);
    ck_assert_int_eq(rc, 0);
    return jrnl_txn_commit(t);
}

#endif /* JRNL_FIXTURE_H */
