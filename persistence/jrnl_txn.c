/*
 * jrnl_txn.c - the journal's write side (jrnl_txn_*), used by the writer
 * thread only (jw.c).
 *
 * Design notes.
 *
 * One write transaction at a time, embedded in the jrnl (no allocation
 * per batch), holding the journal's lock shared so that jrnl_grow cannot
 * resize the map under it.
 *
 * Validate, then write.  An operation checks everything that depends on
 * its arguments or on the entity's state (key sizes, the events buffer,
 * the head) before its first put, and fails without writing: SH_ESEQ,
 * SH_EBAD_REQUEST, SH_ETOO_BIG leave the transaction usable, which is
 * what lets the writer fail one request of a batch and commit the rest.
 * A failure after the first put (MDB_MAP_FULL, a full disk, damage) may
 * have written part of the operation, so it poisons the transaction:
 * every later call and the commit return that error, and the writer must
 * abort (LMDB does the same with MDB_TXN_ERROR for its own failures).
 *
 * Trimming and purging delete key ranges with a cursor; they are bounded
 * by what the entity holds, which the snapshot policy keeps small.
 */
#include <string.h>

#include "jrnl_int.h"
#include "sh_assert.h"
#include "sh_err.h"

int jrnl_txn_begin(jrnl_t *j, jrnl_txn_t **out)
{
    *out = NULL;
    SH_ASSERT(!j->wtxn_open);
    pthread_rwlock_rdlock(&j->lock);
    int rc = mdb_txn_begin(j->env, NULL, 0, &j->wtxn.txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&j->lock);
        return jrnl_mdb_err(rc, "txn_begin");
    }
    j->wtxn.err = 0;
    j->wtxn_open = true;
    *out = &j->wtxn;
    return 0;
}

static void jrnl_txn_end(jrnl_txn_t *t)
{
    t->txn = NULL;
    t->j->wtxn_open = false;
    pthread_rwlock_unlock(&t->j->lock);
}

void jrnl_txn_abort(jrnl_txn_t *t)
{
    if (t == NULL)
        return;
    mdb_txn_abort(t->txn);
    jrnl_txn_end(t);
}

int jrnl_txn_commit(jrnl_txn_t *t)
{
    jrnl_t *j = t->j;
    int rc = t->err;

    if (rc != 0) {
        jrnl_txn_abort(t);
        return rc;
    }
    rc = mdb_txn_commit(t->txn); /* frees the txn whatever happens */
    jrnl_txn_end(t);
    /* map_size changes only in jrnl_grow, on this (the writer's) thread. */
    if (rc == MDB_MAP_FULL && j->map_max != 0 && j->map_size >= j->map_max)
        return SH_ENOSPACE;
    return jrnl_mdb_err(rc, "commit");
}

/* ---- helpers ------------------------------------------------------------- */

static int jrnl_txn_fail(jrnl_txn_t *t, int rc)
{
    t->err = rc; /* poison: see the design notes */
    return rc;
}

static int jrnl_txn_put(jrnl_txn_t *t, enum jrnl_db db, const jrnl_key_t *k, size_t klen,
                        const void *v, size_t vlen, unsigned flags, const char *op)
{
    MDB_val kv = {klen, (void *)k->b}, vv = {vlen, (void *)v};
    int rc = mdb_put(t->txn, t->j->dbi[db], &kv, &vv, flags);
    return rc == 0 ? 0 : jrnl_txn_fail(t, jrnl_mdb_err(rc, op));
}

static int jrnl_txn_put_rec(jrnl_txn_t *t, enum jrnl_db db, enum jrnl_rec_kind kind,
                            const jrnl_key_t *k, size_t klen, const jrnl_rec_t *r,
                            unsigned flags, const char *op)
{
    jrnl_t *j = t->j;
    int rc = jrnl_rec_encode(kind, r, j->lz4_min, &j->wbuf, &j->zbuf);
    if (rc != 0)
        return jrnl_txn_fail(t, rc);
    return jrnl_txn_put(t, db, k, klen, j->wbuf.p, j->wbuf.len, flags, op);
}

/* Delete the keys of db that start with pfx; with cut != 0 (events only)
 * stop at the first seq above cut. */
static int jrnl_txn_del_range(jrnl_txn_t *t, enum jrnl_db db, const jrnl_key_t *pfx,
                              size_t plen, uint64_t cut)
{
    MDB_cursor *c;
    MDB_val k = {pfx->len, (void *)pfx->b}, v;
    int rc = mdb_cursor_open(t->txn, t->j->dbi[db], &c);

    if (rc != 0)
        return jrnl_txn_fail(t, jrnl_mdb_err(rc, "cursor"));
    for (int op = MDB_SET_RANGE;; op = MDB_NEXT) {
        if ((rc = mdb_cursor_get(c, &k, &v, op)) != 0)
            break;
        if (k.mv_size < plen || memcmp(k.mv_data, pfx->b, plen) != 0)
            break;
        if (cut != 0 && (k.mv_size != plen + 8 ||
                         jrnl_be64_get((const uint8_t *)k.mv_data + plen) > cut))
            break;
        /* After a delete the cursor sits on the next key; MDB_NEXT then
         * returns that key rather than skipping it (LMDB's C_DEL). */
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return jrnl_txn_fail(t, jrnl_mdb_err(rc, "delete"));
    return 0;
}

/* ---- events, snapshots, purge --------------------------------------------- */

int jrnl_txn_head(jrnl_txn_t *t, const jrnl_ent_t *e, uint64_t *seq)
{
    jrnl_key_t k;
    int rc = jrnl_key_ent(&k, e);
    *seq = 0;
    return rc != 0 ? rc : jrnl_head_read(t->j, t->txn, &k, seq);
}

static int jrnl_txn_head_put(jrnl_txn_t *t, const jrnl_key_t *k, uint64_t seq)
{
    uint8_t be[8];
    jrnl_be64_put(be, seq);
    return jrnl_txn_put(t, JRNL_DB_HEADS, k, k->ent_len, be, sizeof(be), 0, "head");
}

int jrnl_txn_append(jrnl_txn_t *t, const jrnl_ent_t *e, uint64_t first_seq, uint32_t n,
                    const uint8_t *ev, size_t ev_len, uint64_t wall_ms)
{
    jrnl_key_t k;
    uint64_t head;
    int rc = t->err;

    if (rc == 0)
        rc = jrnl_key_ent(&k, e);
    if (rc == 0)
        rc = jrnl_ev_check(ev, ev_len, n);
    if (rc == 0 && n > 0)
        rc = jrnl_head_read(t->j, t->txn, &k, &head);
    if (rc != 0 || n == 0)
        return rc;
    if (head == UINT64_MAX || first_seq != head + 1 || UINT64_MAX - head < n)
        return SH_ESEQ;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        memcpy(&len, ev + off, sizeof(len));
        jrnl_rec_t r = {.wall_ms = wall_ms, .data = ev + off + sizeof(len), .len = len};
        off += sizeof(len) + len;
        jrnl_key_seq(&k, first_seq + i);
        /* NOOVERWRITE: an event above the head already there is damage. */
        rc = jrnl_txn_put_rec(t, JRNL_DB_EVENTS, JRNL_REC_EVENT, &k, k.len, &r,
                              MDB_NOOVERWRITE, "append");
        if (rc != 0)
            return rc;
    }
    return jrnl_txn_head_put(t, &k, first_seq + n - 1);
}

/* The seq of the entity's current snapshot, 0 if none (or unreadable:
 * it is about to be replaced anyway). */
static uint64_t jrnl_txn_snap_seq(jrnl_txn_t *t, const jrnl_key_t *k)
{
    MDB_val kv = {k->ent_len, (void *)k->b}, v;
    jrnl_rec_t r;
    if (mdb_get(t->txn, t->j->dbi[JRNL_DB_SNAPS], &kv, &v) != 0 ||
        jrnl_rec_peek(JRNL_REC_SNAP, v.mv_data, v.mv_size, &r) != 0)
        return 0;
    return r.seq;
}

int jrnl_txn_snapshot(jrnl_txn_t *t, const jrnl_ent_t *e, uint64_t seq, const uint8_t *data,
                      size_t len, uint64_t wall_ms, uint64_t retain)
{
    jrnl_key_t k;
    uint64_t head;
    int rc = t->err;

    if (rc == 0)
        rc = jrnl_key_ent(&k, e);
    if (rc == 0)
        rc = jrnl_head_read(t->j, t->txn, &k, &head);
    if (rc == 0 && len > JRNL_REC_RAW_MAX)
        rc = SH_ETOO_BIG;
    if (rc != 0)
        return rc;
    /* A snapshot may not cover events that do not exist, nor go back in
     * time: events below a newer snapshot may already be trimmed. */
    if (seq == 0 || seq > head || seq < jrnl_txn_snap_seq(t, &k))
        return SH_ESEQ;
    jrnl_rec_t r = {.wall_ms = wall_ms, .data = data, .len = len, .seq = seq};
    rc = jrnl_txn_put_rec(t, JRNL_DB_SNAPS, JRNL_REC_SNAP, &k, k.ent_len, &r, 0, "snapshot");
    if (rc != 0 || retain >= seq)
        return rc;
    k.len = k.ent_len;
    return jrnl_txn_del_range(t, JRNL_DB_EVENTS, &k, k.ent_len, seq - retain);
}

int jrnl_txn_purge(jrnl_txn_t *t, const jrnl_ent_t *e)
{
    static const enum jrnl_db dbs[] = {JRNL_DB_EVENTS, JRNL_DB_HEADS, JRNL_DB_SNAPS,
                                       JRNL_DB_REMS, JRNL_DB_IDEM};
    jrnl_key_t k;
    int rc = t->err;

    if (rc == 0)
        rc = jrnl_key_ent(&k, e);
    /* The entity key ends with NUL and types/ids contain none, so the
     * prefix matches this entity's keys and no other's. */
    for (size_t i = 0; rc == 0 && i < SH_ARRAY_LEN(dbs); i++)
        rc = jrnl_txn_del_range(t, dbs[i], &k, k.ent_len, 0);
    return rc;
}

/* ---- idempotency records and reminders ----------------------------------- */

int jrnl_txn_idem_put(jrnl_txn_t *t, const jrnl_ent_t *e, const char *key,
                      const jrnl_idem_t *rec)
{
    jrnl_key_t k;
    int rc = t->err;

    if (rc == 0)
        rc = jrnl_key_ent(&k, e);
    if (rc == 0)
        rc = jrnl_key_name(&k, key);
    if (rc == 0 && (rec->status > 0 || (rec->reply_len > 0 && rec->reply == NULL)))
        rc = SH_EBAD_REQUEST;
    if (rc == 0 && rec->reply_len > JRNL_REC_RAW_MAX)
        rc = SH_ETOO_BIG;
    if (rc != 0)
        return rc;
    jrnl_rec_t r = {.wall_ms = rec->expires_wall_ms,
                    .data = rec->reply,
                    .len = rec->reply_len,
                    .status = rec->status,
                    .msg = rec->msg,
                    .msg_len = strnlen(rec->msg, JRNL_REC_MSG_MAX)};
    return jrnl_txn_put_rec(t, JRNL_DB_IDEM, JRNL_REC_IDEM, &k, k.len, &r, 0, "idem_put");
}

int jrnl_txn_rem_put(jrnl_txn_t *t, const jrnl_rem_t *rem)
{
    jrnl_ent_t e = {rem->shard, rem->type, rem->id};
    jrnl_key_t k;
    int rc = t->err;

    if (rc == 0)
        rc = jrnl_key_ent(&k, &e);
    if (rc == 0)
        rc = jrnl_key_name(&k, rem->name);
    if (rc == 0 && (rem->reps < -1 || (rem->spec_len > 0 && rem->spec == NULL) ||
                    (rem->data_len > 0 && rem->data == NULL)))
        rc = SH_EBAD_REQUEST;
    if (rc == 0 && (rem->spec_len > JRNL_REC_RAW_MAX || rem->data_len > JRNL_REC_RAW_MAX))
        rc = SH_ETOO_BIG;
    if (rc != 0)
        return rc;
    jrnl_rec_t r = {.wall_ms = rem->due_wall_ms,
                    .data = rem->spec,
                    .len = rem->spec_len,
                    .period_ms = rem->period_ms,
                    .reps = rem->reps,
                    .ttl_wall_ms = rem->ttl_wall_ms,
                    .rdata = rem->data,
                    .rdata_len = rem->data ? rem->data_len : 0};
    return jrnl_txn_put_rec(t, JRNL_DB_REMS, JRNL_REC_REM, &k, k.len, &r, 0, "rem_put");
}

int jrnl_txn_rem_del(jrnl_txn_t *t, const jrnl_ent_t *e, const char *name)
{
    jrnl_key_t k;
    int rc = t->err;

    if (rc == 0)
        rc = jrnl_key_ent(&k, e);
    if (rc == 0)
        rc = jrnl_key_name(&k, name);
    if (rc != 0)
        return rc;
    MDB_val kv = {k.len, k.b};
    rc = mdb_del(t->txn, t->j->dbi[JRNL_DB_REMS], &kv, NULL);
    if (rc == MDB_NOTFOUND)
        return SH_ENOT_FOUND; /* nothing written: not a poison */
    return rc == 0 ? 0 : jrnl_txn_fail(t, jrnl_mdb_err(rc, "rem_del"));
}

/* A sweep looks at no more than this many records per record it may
 * delete (plus a floor), so a table full of live records costs a bounded
 * amount per call; the next call resumes where this one stopped. */
#define JRNL_SWEEP_SCAN_PER 8u
#define JRNL_SWEEP_SCAN_MIN 256u

static bool jrnl_idem_expired(const MDB_val *v, uint64_t now_wall_ms)
{
    jrnl_rec_t r;
    /* The expiry is before the payload: peek, no checksum or inflation.  A
     * record that does not even peek is left for jrnl_idem_get to report. */
    if (jrnl_rec_peek(JRNL_REC_IDEM, v->mv_data, v->mv_size, &r) != 0)
        return false;
    return r.wall_ms != 0 && r.wall_ms <= now_wall_ms;
}

int jrnl_txn_idem_sweep(jrnl_txn_t *t, uint64_t now_wall_ms, uint32_t max, uint32_t *n)
{
    jrnl_t *j = t->j;
    uint64_t scanned = 0, scan_max = (uint64_t)max * JRNL_SWEEP_SCAN_PER + JRNL_SWEEP_SCAN_MIN;
    MDB_cursor *c;
    MDB_val k = {j->sweep_from.len, j->sweep_from.b}, v;
    int rc = t->err, op = j->sweep_resume ? MDB_SET_RANGE : MDB_FIRST;

    *n = 0;
    if (rc != 0 || max == 0)
        return rc;
    if ((rc = mdb_cursor_open(t->txn, j->dbi[JRNL_DB_IDEM], &c)) != 0)
        return jrnl_txn_fail(t, jrnl_mdb_err(rc, "cursor"));
    j->sweep_resume = false;
    for (;; op = MDB_NEXT) {
        if ((rc = mdb_cursor_get(c, &k, &v, op)) != 0)
            break;
        if (*n == max || scanned == scan_max) {
            /* Resume at this (unexamined) key next time. */
            memcpy(j->sweep_from.b, k.mv_data, k.mv_size); /* <= JRNL_KEY_MAX */
            j->sweep_from.len = k.mv_size;
            j->sweep_resume = true;
            break;
        }
        scanned++;
        if (!jrnl_idem_expired(&v, now_wall_ms))
            continue;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return jrnl_txn_fail(t, jrnl_mdb_err(rc, "idem_sweep"));
    return 0;
}
