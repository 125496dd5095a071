/*
 * jrnl_test.c - the LMDB journal: append/load round trips (raw and lz4),
 * sequence conflicts, snapshots and trimming, damage found on load (a
 * flipped byte, a gap, a missing tail, a foreign format), purge,
 * idempotency records, reminders, map growth and the map ceiling, and
 * reopening.  Each test works in its own mkdtemp directory under /tmp and
 * removes it.  Damage is made with raw LMDB writes on the closed journal
 * (LMDB forbids opening one environment twice in a process).
 */
#include <check.h>
#include <dirent.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrnl.h"
#include "sh_err.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---- fixtures ----------------------------------------------------------- */

static char dir[64];

static void dir_make(void)
{
    snprintf(dir, sizeof dir, "/tmp/jrnl_test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_remove(void)
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

static jrnl_t *jopen(uint64_t map_init, uint64_t map_max, uint32_t lz4_min)
{
    jrnl_opts_t o = {.dir = dir, .map_init = map_init, .map_max = map_max, .lz4_min = lz4_min};
    jrnl_t *j = NULL;
    ck_assert_int_eq(jrnl_open(&j, &o), 0);
    return j;
}

static const jrnl_ent_t ent_a = {7, "cart", "a"}, ent_b = {7, "cart", "b"}, ent_c = {9, "bank", "c"};

/* ---- events buffers and payloads ----------------------------------------- */

typedef struct evb {
    uint8_t *p;
    size_t len;
    uint32_t n;
} evb_t;

static void evb_add(evb_t *b, const void *data, uint32_t len)
{
    b->p = realloc(b->p, b->len + 4 + len);
    memcpy(b->p + b->len, &len, 4);
    memcpy(b->p + b->len + 4, data, len);
    b->len += 4 + len;
    b->n++;
}

/* Payload of event `seq` of size `size`: incompressible unless `text`. */
static void payload(uint8_t *p, size_t size, uint64_t seq, int text)
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
static int put_events(jrnl_t *j, const jrnl_ent_t *e, uint64_t first, uint32_t n, size_t size,
                      int text)
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

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int coll_fn(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
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

static size_t raw_key(uint8_t *k, const jrnl_ent_t *e, uint64_t seq)
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

static void raw_edit(const char *db, raw_fn fn, void *arg)
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

static void raw_event(MDB_txn *txn, MDB_dbi dbi, void *arg)
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

/* ---- tests ----------------------------------------------------------------- */

START_TEST(test_jrnl_append_load_roundtrip)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 3, 40, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_b, 1, 2, 40, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_a, 4, 5, 40, 0), 0);
    coll_t c = {.size = 40};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, &info), 0);
    ck_assert_uint_eq(c.n, 8);
    ck_assert_uint_eq(c.first, 1);
    ck_assert_uint_eq(c.last, 8);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_uint_eq(c.wall_last, 1004); /* the wall_ms of the second append */
    ck_assert_uint_eq(info.last_seq, 8);
    ck_assert_uint_eq(info.events, 8);
    ck_assert_uint_eq(info.snap_seq, 0);
    /* An unknown entity is empty, not an error. */
    coll_t e = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_c, true, coll_fn, &e, &info), 0);
    ck_assert_uint_eq(e.n, 0);
    ck_assert_uint_eq(info.last_seq, 0);
    /* The journal API pages through events. */
    uint64_t next;
    coll_t p = {.size = 40};
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 3, 4, coll_fn, &p, &next), 0);
    ck_assert_uint_eq(p.first, 3);
    ck_assert_uint_eq(p.n, 4);
    ck_assert_uint_eq(next, 7);
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, next, 4, coll_fn, &p, &next), 0);
    ck_assert_uint_eq(p.n, 6);
    ck_assert_uint_eq(next, 0);
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 9, 4, coll_fn, &p, &next), 0);
    ck_assert_uint_eq(next, 0);
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 0, 4, coll_fn, &p, &next), SH_EBAD_REQUEST);
    /* A callback's non-zero return stops the load and comes back. */
    coll_t s = {.stop_at = 2};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &s, NULL), 77);
    ck_assert_uint_eq(s.n, 2);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 10);
    ck_assert_uint_eq(st.heads, 2);
    ck_assert_uint_gt(st.map_used, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_lz4_roundtrip)
{
    jrnl_t *j = jopen(0, 0, 64);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 2, 4096, 1), 0); /* compressible */
    coll_t c = {.size = 4096, .text = 1};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, NULL), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_int_eq(put_events(j, &ent_b, 1, 1, 4096, 0), 0); /* incompressible */
    jrnl_close(j);
    raw_arg_t a = {.seq = 2};
    raw_edit("events", raw_event, &a);
    ck_assert_uint_lt(a.size, 4096 / 4); /* stored as an lz4 block */
    j = jopen(0, 0, 64);
    coll_t d = {.size = 4096, .text = 1};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &d, NULL), 0);
    ck_assert_int_eq(d.bad, 0);
    coll_t r = {.size = 4096};
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, coll_fn, &r, NULL), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_int_eq(r.bad, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_seq_conflict_writes_nothing)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 2, 1, 8, 0), SH_ESEQ); /* new entity starts at 1 */
    ck_assert_int_eq(put_events(j, &ent_a, 1, 3, 8, 0), 0);
    jrnl_txn_t *t;
    uint64_t head;
    evb_t b = {0};
    evb_add(&b, "xy", 2);
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 5, 1, b.p, b.len, 1), SH_ESEQ);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 3, 1, b.p, b.len, 1), SH_ESEQ);
    /* The transaction is still usable: a conflict writes nothing. */
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 4, 1, b.p, b.len, 1), 0);
    ck_assert_int_eq(jrnl_txn_head(t, &ent_a, &head), 0);
    ck_assert_uint_eq(head, 4);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 5, 2, b.p, b.len, 1), SH_EBAD_REQUEST);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    free(b.p);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 4);
    ck_assert_uint_eq(st.heads, 1);
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, 4);
    jrnl_close(j);
}
END_TEST

/* A snapshot is the fold of the events it covers, so "snapshot + tail"
 * must fold to the same value as replaying every event. */
static void put_snapshot(jrnl_t *j, const jrnl_ent_t *e, uint64_t seq, uint64_t retain, int want)
{
    coll_t c = {.upto = seq};
    ck_assert_int_eq(jrnl_load(j, e, true, coll_fn, &c, NULL), 0);
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_snapshot(t, e, seq, (uint8_t *)&c.fold, 8, 5, retain), want);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
}

START_TEST(test_jrnl_snapshot_tail_equals_replay)
{
    jrnl_t *j = jopen(0, 0, 0);
    for (uint64_t s = 1; s <= 100; s += 10)
        ck_assert_int_eq(put_events(j, &ent_a, s, 10, 24, 0), 0);
    put_snapshot(j, &ent_a, 60, 1000, 0);
    coll_t full = {.size = 24}, snap = {.size = 24};
    jrnl_load_info_t i1, i2;
    ck_assert_int_eq(jrnl_load(j, &ent_a, false, coll_fn, &full, &i1), 0);
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &snap, &i2), 0);
    ck_assert_uint_eq(full.n, 100);
    ck_assert_uint_eq(i1.snap_seq, 0);
    ck_assert_uint_eq(snap.snap_seq, 60);
    ck_assert_uint_eq(i2.snap_seq, 60);
    ck_assert_uint_eq(snap.n, 40);
    ck_assert_uint_eq(i2.events, 40);
    ck_assert_uint_eq(snap.first, 61);
    ck_assert_uint_eq(snap.fold, full.fold);
    ck_assert_int_eq(full.bad + snap.bad, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_trim_deletes_old_events)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 100, 24, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_b, 1, 5, 24, 0), 0);
    put_snapshot(j, &ent_a, 80, 10, 0); /* keeps 71..100 */
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 30 + 5);
    ck_assert_uint_eq(st.snapshots, 1);
    coll_t full = {0}, snap = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, coll_fn, &full, NULL), 0);
    ck_assert_uint_eq(full.n, 5); /* the neighbour is untouched */
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &snap, &info), 0);
    ck_assert_uint_eq(snap.n, 20);
    ck_assert_int_eq(jrnl_load(j, &ent_a, false, NULL, NULL, &info), SH_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(info.err, "trimmed"));
    uint64_t next;
    coll_t r = {0};
    /* The journal API skips what a snapshot trimmed (jrnl.h). */
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 1, 10, coll_fn, &r, &next), 0);
    ck_assert_uint_eq(r.first, 71);
    ck_assert_uint_eq(r.n, 10);
    ck_assert_uint_eq(next, 81);
    coll_t r2 = {0};
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 75, 100, coll_fn, &r2, &next), 0);
    ck_assert_uint_eq(r2.first, 75);
    ck_assert_uint_eq(r2.n, 26);
    ck_assert_uint_eq(next, 0);
    /* Snapshots may neither go back nor run ahead of the head. */
    put_snapshot(j, &ent_a, 75, 10, SH_ESEQ);
    put_snapshot(j, &ent_a, 101, 10, SH_ESEQ);
    /* retain 0 at the head deletes every event; the snapshot alone loads. */
    put_snapshot(j, &ent_a, 100, 0, 0);
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 5);
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.snap_seq, 100);
    ck_assert_uint_eq(info.events, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_corrupt_record)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 5, 64, 0), 0);
    jrnl_close(j);
    raw_arg_t a = {.seq = 3, .flip = 1};
    raw_edit("events", raw_event, &a);
    j = jopen(0, 0, 0);
    coll_t c = {0};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, &info), SH_ECORRUPT);
    ck_assert_uint_eq(c.n, 2); /* events before the damage were delivered */
    ck_assert_ptr_nonnull(strstr(info.err, "seq 3"));
    ck_assert_ptr_nonnull(strstr(info.err, "checksum"));
    ck_assert_uint_eq(info.last_seq, 5);
    uint64_t next;
    ck_assert_int_eq(jrnl_read_events(j, &ent_a, 1, 10, NULL, NULL, &next), SH_ECORRUPT);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_gap_and_missing_tail)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 5, 16, 0), 0);
    jrnl_close(j);
    raw_arg_t a = {.seq = 3, .del = 1};
    raw_edit("events", raw_event, &a);
    j = jopen(0, 0, 0);
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), SH_ECORRUPT);
    ck_assert_str_eq(info.err, "gap: expected seq 3, found 4");
    jrnl_close(j);
    raw_arg_t b = {.seq = 5, .del = 1};
    raw_edit("events", raw_event, &b);
    raw_arg_t c = {.seq = 4, .del = 1};
    raw_edit("events", raw_event, &c);
    j = jopen(0, 0, 0);
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), SH_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(info.err, "missing tail"));
    jrnl_close(j);
}
END_TEST

static void raw_format(MDB_txn *txn, MDB_dbi dbi, void *arg)
{
    uint8_t be[4] = {0, 0, 0, 99};
    MDB_val k = {6, "format"}, v = {4, be};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
}

START_TEST(test_jrnl_foreign_format_refused)
{
    jrnl_t *j = jopen(0, 0, 0);
    jrnl_close(j);
    raw_edit("meta", raw_format, NULL);
    jrnl_opts_t o = {.dir = dir};
    ck_assert_int_eq(jrnl_open(&j, &o), SH_ECORRUPT);
    ck_assert_ptr_null(j);
}
END_TEST

/* ---- idempotency and reminders -------------------------------------------- */

static int idem_put(jrnl_t *j, const jrnl_ent_t *e, const char *key, uint64_t exp, int status)
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

static uint32_t idem_sweep(jrnl_t *j, uint64_t now, uint32_t max)
{
    jrnl_txn_t *t;
    uint32_t n = 99;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_idem_sweep(t, now, max, &n), 0);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    return n;
}

START_TEST(test_jrnl_idem_put_get_expiry_sweep)
{
    jrnl_t *j = jopen(0, 0, 0);
    jrnl_idem_t g;
    ck_assert_int_eq(idem_put(j, &ent_a, "k1", 1000, 0), 0);
    ck_assert_int_eq(idem_put(j, &ent_a, "k2", 1000, SH_ECONFLICT), 0);
    ck_assert_int_eq(idem_put(j, &ent_a, "forever", 0, 0), 0);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k1", 999, &g), 0);
    ck_assert_int_eq(g.status, 0);
    ck_assert_uint_eq(g.expires_wall_ms, 1000);
    ck_assert_uint_eq(g.reply_len, 8);
    ck_assert_mem_eq(g.reply, "{\"ok\":1}", 8);
    free(g.reply);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k2", 999, &g), 0);
    ck_assert_int_eq(g.status, SH_ECONFLICT);
    ck_assert_str_eq(g.msg, "insufficient funds");
    free(g.reply);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k1", 1000, &g), SH_ENOT_FOUND); /* expired */
    ck_assert_ptr_null(g.reply);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_b, "k1", 0, &g), SH_ENOT_FOUND);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "forever", UINT64_MAX, &g), 0);
    free(g.reply);
    ck_assert_int_eq(idem_put(j, &ent_a, "", 1, 0), SH_EBAD_REQUEST);
    /* Sweep: 10 more expired at 2000 and 5 live; bounded by max. */
    char key[16];
    for (int i = 0; i < 15; i++) {
        snprintf(key, sizeof key, "s%02d", i);
        ck_assert_int_eq(idem_put(j, i < 10 ? &ent_b : &ent_c, key, i < 10 ? 2000 : 9000, 0), 0);
    }
    ck_assert_uint_eq(idem_sweep(j, 2000, 3), 3);
    ck_assert_uint_eq(idem_sweep(j, 2000, 100), 9); /* the rest: s01..s09 */
    ck_assert_uint_eq(idem_sweep(j, 2000, 100), 0);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.idem, 6); /* "forever" and the 5 live ones */
    ck_assert_int_eq(jrnl_idem_get(j, &ent_c, "s14", 2000, &g), 0);
    free(g.reply);
    jrnl_close(j);
}
END_TEST

typedef struct rems_seen {
    int n;
    char names[8][32];
    uint64_t due[8];
    int64_t reps[8];
    char data[8][32];
    char spec[8][64];
} rems_seen_t;

static int rem_fn(void *arg, const jrnl_rem_t *r)
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

static int rem_put(jrnl_t *j, const jrnl_ent_t *e, const char *name, uint64_t due, const char *data)
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

START_TEST(test_jrnl_reminders)
{
    jrnl_t *j = jopen(0, 0, 0);
    ck_assert_int_eq(rem_put(j, &ent_b, "tick", 30, NULL), 0);
    ck_assert_int_eq(rem_put(j, &ent_a, "tock", 20, "{\"x\":2}"), 0);
    ck_assert_int_eq(rem_put(j, &ent_a, "tick", 10, "{\"x\":1}"), 0);
    ck_assert_int_eq(rem_put(j, &ent_c, "other", 5, NULL), 0); /* shard 9 */
    rems_seen_t s = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 7, rem_fn, &s), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.names[0], "cart/a/tick"); /* key order */
    ck_assert_str_eq(s.names[1], "cart/a/tock");
    ck_assert_str_eq(s.names[2], "cart/b/tick");
    ck_assert_uint_eq(s.due[0], 10);
    ck_assert_int_eq(s.reps[0], -1);
    ck_assert_str_eq(s.data[0], "{\"x\":1}");
    ck_assert_str_eq(s.data[2], "");
    ck_assert_str_eq(s.spec[1], "{\"due\":1}");
    /* Overwrite, get, delete. */
    ck_assert_int_eq(rem_put(j, &ent_a, "tick", 11, NULL), 0);
    rems_seen_t g = {0};
    ck_assert_int_eq(jrnl_rem_get(j, &ent_a, "tick", rem_fn, &g), 0);
    ck_assert_int_eq(g.n, 1);
    ck_assert_uint_eq(g.due[0], 11);
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_rem_del(t, &ent_a, "tick"), 0);
    ck_assert_int_eq(jrnl_txn_rem_del(t, &ent_a, "tick"), SH_ENOT_FOUND);
    ck_assert_int_eq(jrnl_txn_commit(t), 0); /* a miss does not poison */
    ck_assert_int_eq(jrnl_rem_get(j, &ent_a, "tick", rem_fn, &g), SH_ENOT_FOUND);
    rems_seen_t s9 = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 9, rem_fn, &s9), 0);
    ck_assert_int_eq(s9.n, 1);
    rems_seen_t s8 = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 8, rem_fn, &s8), 0);
    ck_assert_int_eq(s8.n, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_purge)
{
    jrnl_t *j = jopen(0, 0, 0);
    const jrnl_ent_t *es[2] = {&ent_a, &ent_b};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(put_events(j, es[i], 1, 20, 16, 0), 0);
        put_snapshot(j, es[i], 10, 100, 0);
        ck_assert_int_eq(rem_put(j, es[i], "tick", 10, NULL), 0);
        ck_assert_int_eq(idem_put(j, es[i], "k", 0, 0), 0);
    }
    jrnl_txn_t *t;
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_purge(t, &ent_a), 0);
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    jrnl_load_info_t info;
    coll_t c = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, &info), 0);
    ck_assert_uint_eq(info.last_seq, 0);
    ck_assert_uint_eq(c.n + c.snap_seq, 0);
    rems_seen_t g = {0};
    jrnl_idem_t id;
    ck_assert_int_eq(jrnl_rem_get(j, &ent_a, "tick", rem_fn, &g), SH_ENOT_FOUND);
    ck_assert_int_eq(jrnl_idem_get(j, &ent_a, "k", 0, &id), SH_ENOT_FOUND);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 20);
    ck_assert_uint_eq(st.heads + st.snapshots + st.reminders + st.idem, 4);
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, 20);
    /* The purged entity starts again at seq 1. */
    ck_assert_int_eq(put_events(j, &ent_a, 1, 2, 16, 0), 0);
    jrnl_close(j);
}
END_TEST

/* ---- map growth, the ceiling, reopening ------------------------------------- */

START_TEST(test_jrnl_map_growth)
{
    jrnl_t *j = jopen(1 * MIB, 0, 0);
    for (uint64_t s = 1; s <= 320; s++) /* 320 x 64 KiB = 20 MiB, incompressible */
        ck_assert_int_eq(put_events(j, &ent_a, s, 1, 64 * KIB, 0), 0);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_ge(st.grows, 5);
    ck_assert_uint_ge(st.map_size, 20 * MIB);
    ck_assert_uint_le(st.map_used, st.map_size);
    coll_t c = {.size = 64 * KIB};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, NULL), 0);
    ck_assert_uint_eq(c.n, 320);
    ck_assert_int_eq(c.bad, 0);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_map_ceiling)
{
    jrnl_t *j = jopen(1 * MIB, 2 * MIB, 0);
    uint64_t seq = 1;
    int rc;
    while ((rc = put_events(j, &ent_a, seq, 1, 64 * KIB, 0)) == 0)
        seq++;
    ck_assert_int_eq(rc, SH_ENOSPACE);
    ck_assert_str_eq(jrnl_strerror(rc), "SH_ENOSPACE: journal full: map ceiling reached or disk full");
    uint64_t committed = seq - 1;
    ck_assert_uint_gt(committed, 8);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.map_size, 2 * MIB);
    ck_assert_int_eq(jrnl_grow(j), SH_ENOSPACE); /* cannot be lifted at runtime */
    /* Nothing committed was lost, and reads work. */
    coll_t c = {.size = 64 * KIB};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &c, NULL), 0);
    ck_assert_uint_eq(c.n, committed);
    ck_assert_int_eq(c.bad, 0);
    /* Smaller writes still fit in what is left. */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(put_events(j, &ent_b, (uint64_t)i + 1, 1, 100, 0), 0);
    ck_assert_int_eq(put_events(j, &ent_a, seq, 1, 100, 0), 0);
    jrnl_close(j);
    /* A restart with a higher ceiling lifts it; everything is still there. */
    j = jopen(1 * MIB, 0, 0);
    ck_assert_int_eq(put_events(j, &ent_a, seq + 1, 4, 64 * KIB, 0), 0);
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, seq + 4);
    ck_assert_int_eq(jrnl_load(j, &ent_b, true, NULL, NULL, &info), 0);
    ck_assert_uint_eq(info.last_seq, 10);
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_reopen_keeps_everything)
{
    jrnl_t *j = jopen(0, 0, 128);
    ck_assert_int_eq(put_events(j, &ent_a, 1, 30, 300, 1), 0);
    put_snapshot(j, &ent_a, 20, 5, 0);
    ck_assert_int_eq(rem_put(j, &ent_c, "r", 42, "{}"), 0);
    ck_assert_int_eq(idem_put(j, &ent_b, "k", 0, SH_ECONFLICT), 0);
    coll_t before = {0};
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &before, NULL), 0);
    jrnl_close(j);
    j = jopen(0, 0, 128);
    coll_t after = {.size = 300, .text = 1};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &ent_a, true, coll_fn, &after, &info), 0);
    ck_assert_uint_eq(info.snap_seq, 20);
    ck_assert_uint_eq(after.n, 10);
    ck_assert_uint_eq(after.fold, before.fold);
    ck_assert_int_eq(after.bad, 0);
    rems_seen_t s = {0};
    ck_assert_int_eq(jrnl_rem_scan(j, 9, rem_fn, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_uint_eq(s.due[0], 42);
    jrnl_idem_t g;
    ck_assert_int_eq(jrnl_idem_get(j, &ent_b, "k", 1, &g), 0);
    ck_assert_int_eq(g.status, SH_ECONFLICT);
    free(g.reply);
    jrnl_stats_t st;
    ck_assert_int_eq(jrnl_stats(j, &st), 0);
    ck_assert_uint_eq(st.events, 15); /* 16..30 after the trim */
    jrnl_close(j);
}
END_TEST

START_TEST(test_jrnl_bad_arguments)
{
    jrnl_t *j = jopen(0, 0, 0);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jrnl_ent_t too_big = {1, "t", big}, no_type = {1, "", "i"};
    jrnl_load_info_t info;
    ck_assert_int_eq(jrnl_load(j, &too_big, true, NULL, NULL, &info), SH_ETOO_BIG);
    ck_assert_int_eq(jrnl_load(j, &no_type, true, NULL, NULL, &info), SH_EBAD_REQUEST);
    ck_assert_int_eq(put_events(j, &too_big, 1, 1, 4, 0), SH_ETOO_BIG);
    jrnl_txn_t *t;
    uint8_t junk[6] = {9, 0, 0, 0, 1, 2}; /* says 9 bytes, holds 2 */
    ck_assert_int_eq(jrnl_txn_begin(j, &t), 0);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 1, 1, junk, sizeof junk, 0), SH_EBAD_REQUEST);
    ck_assert_int_eq(jrnl_txn_append(t, &ent_a, 1, 0, NULL, 0, 0), 0); /* nothing to do */
    ck_assert_int_eq(jrnl_txn_commit(t), 0);
    jrnl_opts_t o = {.dir = ""};
    jrnl_t *k = (jrnl_t *)1;
    ck_assert_int_eq(jrnl_open(&k, &o), SH_EBAD_REQUEST);
    ck_assert_ptr_null(k);
    jrnl_close(j);
}
END_TEST

static Suite *jrnl_suite(void)
{
    Suite *s = suite_create("jrnl");
    TCase *tc = tcase_create("events");
    tcase_add_checked_fixture(tc, dir_make, dir_remove);
    tcase_add_test(tc, test_jrnl_append_load_roundtrip);
    tcase_add_test(tc, test_jrnl_lz4_roundtrip);
    tcase_add_test(tc, test_jrnl_seq_conflict_writes_nothing);
    tcase_add_test(tc, test_jrnl_bad_arguments);
    suite_add_tcase(s, tc);
    tc = tcase_create("snapshot");
    tcase_add_checked_fixture(tc, dir_make, dir_remove);
    tcase_add_test(tc, test_jrnl_snapshot_tail_equals_replay);
    tcase_add_test(tc, test_jrnl_trim_deletes_old_events);
    tcase_add_test(tc, test_jrnl_purge);
    suite_add_tcase(s, tc);
    tc = tcase_create("damage");
    tcase_add_checked_fixture(tc, dir_make, dir_remove);
    tcase_add_test(tc, test_jrnl_corrupt_record);
    tcase_add_test(tc, test_jrnl_gap_and_missing_tail);
    tcase_add_test(tc, test_jrnl_foreign_format_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("records");
    tcase_add_checked_fixture(tc, dir_make, dir_remove);
    tcase_add_test(tc, test_jrnl_idem_put_get_expiry_sweep);
    tcase_add_test(tc, test_jrnl_reminders);
    suite_add_tcase(s, tc);
    tc = tcase_create("map");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, dir_make, dir_remove);
    tcase_add_test(tc, test_jrnl_map_growth);
    tcase_add_test(tc, test_jrnl_map_ceiling);
    tcase_add_test(tc, test_jrnl_reopen_keeps_everything);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jrnl_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
