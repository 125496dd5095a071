/*
 * jrnl_read.c - the journal's read side: recovery (jrnl_load), the
 * journal API (jrnl_read_events), idempotency and reminder lookups.
 *
 * Design notes.  Every read is one short read-only transaction under the
 * shared lock (jrnl_rd_begin), so reads run on any thread next to the
 * writer.  Callbacks run inside that transaction: they see LMDB's pages
 * directly (borrowed, valid during the call) and must not call back into
 * jrnl_* nor wait for the writer - jrnl_grow would wait for them.
 *
 * Recovery trusts nothing: the events replayed must be exactly
 * from .. head with no hole, each record must decode and match its
 * checksum, and the snapshot may not claim more than the head.  Any
 * violation is SH_ECORRUPT with a sentence saying which, because the
 * operator reading the log needs to know what is wrong, not only that
 * something is.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrnl_int.h"
#include "sh_err.h"
#include "sh_log.h"

typedef struct jrnl_scan {
    jrnl_t *j;
    MDB_txn *txn;
    jrnl_key_t key;     /* entity key; the suffix is rewritten */
    uint64_t from;      /* first seq wanted */
    uint64_t head;      /* the entity's head */
    uint64_t limit;     /* events at most; 0: no limit */
    bool trim_hint;     /* a snapshot exists: a missing first event was trimmed */
    bool skip_trimmed;  /* reading pages: start at the first event kept */
    jrnl_load_fn fn;
    void *arg;
    jrnl_buf_t scratch; /* lz4 inflation, reused for every record */
    uint64_t count;     /* events delivered */
    char err[160];
} jrnl_scan_t;

__attribute__((format(printf, 2, 3))) static int jrnl_scan_fail(jrnl_scan_t *s, const char *fmt,
                                                                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return SH_ECORRUPT;
}

/* The event `want` is not there; `found` is the next one (0: none). */
static int jrnl_scan_missing(jrnl_scan_t *s, uint64_t want, uint64_t found)
{
    unsigned long long w = want, f = found, h = s->head;
    if (want == s->from && s->trim_hint)
        return found ? jrnl_scan_fail(s, "trimmed: first event is %llu, wanted %llu", f, w)
                     : jrnl_scan_fail(s, "trimmed: no event from %llu to head %llu", w, h);
    if (found)
        return jrnl_scan_fail(s, "gap: expected seq %llu, found %llu", w, f);
    return jrnl_scan_fail(s, "missing tail: no event %llu..%llu (head %llu)", w, h, h);
}

static int jrnl_scan_deliver(jrnl_scan_t *s, uint64_t seq, const MDB_val *v)
{
    jrnl_rec_t r;
    char why[128];
    if (jrnl_rec_decode(JRNL_REC_EVENT, v->mv_data, v->mv_size, &r, &s->scratch, why,
                        sizeof(why)) != 0)
        return jrnl_scan_fail(s, "seq %llu: %s", (unsigned long long)seq, why);
    return s->fn ? s->fn(s->arg, JRNL_EVENT, seq, r.wall_ms, r.data, r.len) : 0;
}

/* Deliver events from s->from, contiguous, up to the head or the limit. */
static int jrnl_scan_events(jrnl_scan_t *s)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t want = s->from;
    size_t el = s->key.ent_len;
    int op = MDB_SET_RANGE, stop = 0;
    int rc = mdb_cursor_open(s->txn, s->j->dbi[JRNL_DB_EVENTS], &c);

    if (rc != 0)
        return jrnl_mdb_err(rc, "cursor");
    jrnl_key_seq(&s->key, s->from);
    k.mv_size = s->key.len;
    k.mv_data = s->key.b;
    while (want <= s->head && (s->limit == 0 || s->count < s->limit)) {
        rc = mdb_cursor_get(c, &k, &v, op);
        op = MDB_NEXT;
        if (rc != 0 || k.mv_size != el + 8 || memcmp(k.mv_data, s->key.b, el) != 0)
            break; /* ran off the entity's events (or the database) */
        uint64_t seq = jrnl_be64_get((const uint8_t *)k.mv_data + el);
        if (seq != want && want == s->from && s->trim_hint && s->skip_trimmed && seq > want)
            want = s->from = seq; /* events below a snapshot are gone by design */
        if (seq != want) {
            stop = jrnl_scan_missing(s, want, seq);
            break;
        }
        if ((stop = jrnl_scan_deliver(s, seq, &v)) != 0)
            break; /* SH_ECORRUPT or the callback's own non-zero */
        want++;
        s->count++;
    }
    mdb_cursor_close(c);
    if (stop != 0)
        return stop;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return jrnl_mdb_err(rc, "events");
    if (want <= s->head && (s->limit == 0 || s->count < s->limit))
        return jrnl_scan_missing(s, want, 0);
    return 0;
}

/* The snapshot, if wanted and present: deliver it and start after it. */
static int jrnl_scan_snapshot(jrnl_scan_t *s, bool use, jrnl_load_info_t *info)
{
    MDB_val k = {s->key.ent_len, s->key.b}, v;
    jrnl_rec_t r;
    char why[128];
    int rc = mdb_get(s->txn, s->j->dbi[JRNL_DB_SNAPS], &k, &v);

    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return jrnl_mdb_err(rc, "snapshot");
    if (!use) {
        s->trim_hint = true;
        return 0;
    }
    if (jrnl_rec_decode(JRNL_REC_SNAP, v.mv_data, v.mv_size, &r, &s->scratch, why,
                        sizeof(why)) != 0)
        return jrnl_scan_fail(s, "%s", why);
    if (r.seq == 0 || r.seq > s->head)
        return jrnl_scan_fail(s, "snapshot covers seq %llu, head is %llu",
                              (unsigned long long)r.seq, (unsigned long long)s->head);
    info->snap_seq = r.seq;
    s->from = r.seq + 1;
    return s->fn ? s->fn(s->arg, JRNL_SNAPSHOT, r.seq, r.wall_ms, r.data, r.len) : 0;
}

static int jrnl_scan_begin(jrnl_scan_t *s, jrnl_t *j, const jrnl_ent_t *e)
{
    s->j = j;
    int rc = jrnl_key_ent(&s->key, e);
    if (rc == 0)
        rc = jrnl_rd_begin(j, &s->txn);
    if (rc != 0)
        return rc;
    if ((rc = jrnl_head_read(j, s->txn, &s->key, &s->head)) == SH_ECORRUPT)
        jrnl_scan_fail(s, "head record is not a u64");
    return rc;
}

static void jrnl_scan_end(jrnl_scan_t *s)
{
    if (s->txn != NULL)
        jrnl_rd_end(s->j, s->txn);
    jrnl_buf_fini(&s->scratch);
}

int jrnl_load(jrnl_t *j, const jrnl_ent_t *e, bool use_snapshot, jrnl_load_fn fn, void *arg,
              jrnl_load_info_t *info)
{
    jrnl_load_info_t tmp;
    jrnl_scan_t s = {.from = 1, .fn = fn, .arg = arg};

    if (info == NULL)
        info = &tmp;
    memset(info, 0, sizeof(*info));
    int rc = jrnl_scan_begin(&s, j, e);
    if (rc == 0)
        rc = jrnl_scan_snapshot(&s, use_snapshot, info);
    if (rc == 0)
        rc = jrnl_scan_events(&s);
    info->last_seq = s.head;
    info->events = s.count;
    if (rc == SH_ECORRUPT)
        snprintf(info->err, sizeof(info->err), "%s", s.err[0] ? s.err : "journal damaged");
    jrnl_scan_end(&s);
    return rc;
}

int jrnl_read_events(jrnl_t *j, const jrnl_ent_t *e, uint64_t from, uint32_t limit,
                     jrnl_load_fn fn, void *arg, uint64_t *next)
{
    jrnl_scan_t s = {.from = from, .limit = limit, .fn = fn, .arg = arg, .skip_trimmed = true};
    jrnl_load_info_t info;

    *next = 0;
    if (from == 0)
        return SH_EBAD_REQUEST;
    int rc = jrnl_scan_begin(&s, j, e);
    if (rc == 0)
        rc = jrnl_scan_snapshot(&s, false, &info); /* only sets trim_hint */
    if (rc == 0 && limit > 0 && from <= s.head)
        rc = jrnl_scan_events(&s);
    if (rc == 0 && s.from <= s.head) {
        uint64_t last = s.from + s.count - 1;
        *next = limit == 0 ? s.from : (last < s.head ? last + 1 : 0);
    }
    if (rc == SH_ECORRUPT)
        SH_LOGE("jrnl_read_corrupt", "shard=%u type=%s id=%s err=\"%s\"", e->shard, e->type,
                e->id, s.err);
    jrnl_scan_end(&s);
    return rc;
}

/* ---- idempotency --------------------------------------------------------- */

static int jrnl_idem_fill(const jrnl_rec_t *r, jrnl_idem_t *out)
{
    out->status = r->status;
    out->expires_wall_ms = r->wall_ms;
    memcpy(out->msg, r->msg, r->msg_len); /* <= JRNL_REC_MSG_MAX < sizeof msg */
    out->msg[r->msg_len] = '\0';
    if (r->len == 0)
        return 0;
    if ((out->reply = malloc(r->len)) == NULL)
        return SH_ENOMEM;
    memcpy(out->reply, r->data, r->len);
    out->reply_len = r->len;
    return 0;
}

/* Read the record `name` of entity e from db `db` (idem, rems) in a new
 * read transaction.  0 with the transaction open (the caller ends it) and
 * *kv / *v set; otherwise the code (SH_ENOT_FOUND if absent) and no
 * transaction.  *k holds the key bytes kv points at. */
static int jrnl_get_named(jrnl_t *j, enum jrnl_db db, const jrnl_ent_t *e, const char *name,
                          const char *op, jrnl_key_t *k, MDB_txn **txn, MDB_val *kv, MDB_val *v)
{
    int rc = jrnl_key_ent(k, e);
    if (rc == 0)
        rc = jrnl_key_name(k, name);
    if (rc == 0)
        rc = jrnl_rd_begin(j, txn);
    if (rc != 0)
        return rc;
    kv->mv_size = k->len;
    kv->mv_data = k->b;
    rc = jrnl_mdb_err(mdb_get(*txn, j->dbi[db], kv, v), op);
    if (rc != 0)
        jrnl_rd_end(j, *txn);
    return rc;
}

int jrnl_idem_get(jrnl_t *j, const jrnl_ent_t *e, const char *key, uint64_t now_wall_ms,
                  jrnl_idem_t *out)
{
    jrnl_key_t k;
    jrnl_buf_t scratch = {0};
    jrnl_rec_t r;
    char why[128];
    MDB_txn *txn;
    MDB_val kv, v;

    memset(out, 0, sizeof(*out));
    int rc = jrnl_get_named(j, JRNL_DB_IDEM, e, key, "idem_get", &k, &txn, &kv, &v);
    if (rc != 0)
        return rc;
    if (jrnl_rec_decode(JRNL_REC_IDEM, v.mv_data, v.mv_size, &r, &scratch, why, sizeof(why))) {
        SH_LOGE("jrnl_idem_corrupt", "type=%s id=%s key=%s err=\"%s\"", e->type, e->id, key, why);
        rc = SH_ECORRUPT;
    }
    /* 0 means "never expires" (jrnl.h). */
    if (rc == 0 && r.wall_ms != 0 && r.wall_ms <= now_wall_ms)
        rc = SH_ENOT_FOUND;
    if (rc == 0)
        rc = jrnl_idem_fill(&r, out);
    jrnl_rd_end(j, txn);
    jrnl_buf_fini(&scratch);
    return rc;
}

/* ---- reminders ----------------------------------------------------------- */

/* Decode one rems entry and hand it to fn.  SH_ECORRUPT for a bad key or
 * record, else fn's return. */
static int jrnl_rem_emit(const MDB_val *k, const MDB_val *v, jrnl_buf_t *scratch,
                         jrnl_rem_fn fn, void *arg)
{
    jrnl_rem_t r = {0};
    jrnl_rec_t rec;
    size_t el;
    char name[JRNL_KEY_MAX + 1], why[128];

    if (jrnl_key_split(k->mv_data, k->mv_size, &r.shard, &r.type, &r.id, &el) != 0 ||
        k->mv_size == el) {
        SH_LOGE("jrnl_rem_corrupt", "err=\"bad key\"");
        return SH_ECORRUPT;
    }
    memcpy(name, (const uint8_t *)k->mv_data + el, k->mv_size - el);
    name[k->mv_size - el] = '\0';
    r.name = name;
    if (jrnl_rec_decode(JRNL_REC_REM, v->mv_data, v->mv_size, &rec, scratch, why, sizeof(why))) {
        SH_LOGE("jrnl_rem_corrupt", "type=%s id=%s name=%s err=\"%s\"", r.type, r.id, name, why);
        return SH_ECORRUPT;
    }
    r.due_wall_ms = rec.wall_ms;
    r.period_ms = rec.period_ms;
    r.reps = rec.reps;
    r.ttl_wall_ms = rec.ttl_wall_ms;
    r.data = rec.rdata;
    r.data_len = rec.rdata_len;
    r.spec = rec.data;
    r.spec_len = rec.len;
    return fn(arg, &r);
}

int jrnl_rem_scan(jrnl_t *j, uint32_t shard, jrnl_rem_fn fn, void *arg)
{
    uint8_t pfx[4] = {(uint8_t)(shard >> 24), (uint8_t)(shard >> 16), (uint8_t)(shard >> 8),
                      (uint8_t)shard};
    MDB_val k = {sizeof(pfx), pfx}, v;
    jrnl_buf_t scratch = {0};
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = jrnl_rd_begin(j, &txn);

    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, j->dbi[JRNL_DB_REMS], &c)) != 0) {
        jrnl_rd_end(j, txn);
        return jrnl_mdb_err(rc, "rem_scan");
    }
    int stop = 0;
    for (int op = MDB_SET_RANGE;; op = MDB_NEXT) {
        if ((rc = mdb_cursor_get(c, &k, &v, op)) != 0)
            break;
        if (k.mv_size < sizeof(pfx) || memcmp(k.mv_data, pfx, sizeof(pfx)) != 0)
            break;
        /* A damaged reminder is logged and skipped: it must not keep
         * every other reminder of the shard from firing. */
        stop = jrnl_rem_emit(&k, &v, &scratch, fn, arg);
        if (stop != 0 && stop != SH_ECORRUPT)
            break;
        stop = 0;
    }
    mdb_cursor_close(c);
    jrnl_rd_end(j, txn);
    jrnl_buf_fini(&scratch);
    if (stop != 0)
        return stop;
    return rc == MDB_NOTFOUND ? 0 : jrnl_mdb_err(rc, "rem_scan");
}

int jrnl_rem_get(jrnl_t *j, const jrnl_ent_t *e, const char *name, jrnl_rem_fn fn, void *arg)
{
    jrnl_key_t k;
    jrnl_buf_t scratch = {0};
    MDB_txn *txn;
    MDB_val kv, v;
    int rc = jrnl_get_named(j, JRNL_DB_REMS, e, name, "rem_get", &k, &txn, &kv, &v);
    if (rc != 0)
        return rc;
    rc = jrnl_rem_emit(&kv, &v, &scratch, fn, arg);
    jrnl_rd_end(j, txn);
    jrnl_buf_fini(&scratch);
    return rc;
}
