/*
 * jrnl.c - the journal's LMDB environment: open/close, growth, sync,
 * stats, and error translation.  Reads are in jrnl_read.c, writes in
 * jrnl_txn.c.
 *
 * Design notes.
 *
 * Flags.  MDB_NOTLS because read transactions are short and may run on
 * any worker thread (a reader slot is then tied to the transaction, not
 * to the thread).  Never MDB_WRITEMAP: with a writable map a full disk
 * surfaces as SIGBUS on a page fault; with write(2) it is ENOSPC from the
 * commit, which we turn into SH_ENOSPACE and survive.  Syncing: see the
 * note at the top of jrnl.h.
 *
 * Map size.  LMDB fails a write with MDB_MAP_FULL when the map is used up;
 * the writer then aborts, calls jrnl_grow (doubling up to map_max) and
 * retries.  mdb_env_set_mapsize requires that no transaction of the
 * process is open, hence the read-write lock every transaction holds
 * shared.  A map_max of 0 means "the disk is the limit".
 *
 * Format.  meta["format"] holds JRNL_FORMAT (u32 BE).  An environment
 * without it is accepted only if it holds no entity (then it is new and
 * gets stamped); a different number is SH_ECORRUPT: we do not guess at a
 * layout we did not write.
 */
#include "jrnl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"

#define JRNL_FORMAT 1u
#define JRNL_MAP_INIT_DEFAULT (64ull << 20)
#define JRNL_LZ4_MIN_DEFAULT 1024u
#define JRNL_MAXREADERS 512u

static const char *const jrnl_db_names[JRNL_DB_N] = {
    [JRNL_DB_EVENTS] = "events", [JRNL_DB_HEADS] = "heads", [JRNL_DB_SNAPS] = "snaps",
    [JRNL_DB_REMS] = "rems",     [JRNL_DB_IDEM] = "idem",   [JRNL_DB_META] = "meta"};

int jrnl_mdb_err(int rc, const char *op)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return SH_ENOT_FOUND;
    case MDB_MAP_FULL:
        return SH_EFULL; /* routine: the writer grows the map */
    case ENOSPC:
    case EDQUOT:
    case EIO: /* LMDB reports a short write - a disk filling up - as EIO */
        SH_LOGW("jrnl_disk_full", "op=%s err=\"%s\"", op, mdb_strerror(rc));
        return SH_ENOSPACE;
    case ENOMEM:
        return SH_ENOMEM;
    case MDB_READERS_FULL:
        return SH_EBUSY;
    case MDB_BAD_VALSIZE:
    case MDB_TXN_FULL:
        return SH_ETOO_BIG;
    case MDB_KEYEXIST:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        SH_LOGE("jrnl_corrupt", "op=%s err=\"%s\"", op, mdb_strerror(rc));
        return SH_ECORRUPT;
    default:
        SH_LOGE("jrnl_error", "op=%s err=\"%s\"", op, mdb_strerror(rc));
        return rc > 0 ? -rc : SH_EINTERNAL;
    }
}

const char *jrnl_strerror(int err)
{
    switch (err) {
    case SH_EFULL:
        return "MDB_MAP_FULL: journal map full (grow it and retry)";
    case SH_ENOSPACE:
        return "SH_ENOSPACE: journal full: map ceiling reached or disk full";
    case SH_ESEQ:
        return "SH_ESEQ: first seq does not follow the entity's head";
    case SH_ECORRUPT:
        return "SH_ECORRUPT: journal record or environment corrupt";
    default:
        return sh_strerror(err);
    }
}

/* ---- open / close ------------------------------------------------------- */

static uint64_t jrnl_page_round(uint64_t v)
{
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    return v / pg * pg;
}

static int jrnl_env_create(jrnl_t *j, const jrnl_opts_t *o)
{
    uint64_t map = o->map_init ? o->map_init : JRNL_MAP_INIT_DEFAULT;
    j->map_max = o->map_max ? jrnl_page_round(o->map_max) : 0;
    if (j->map_max && map > j->map_max)
        map = j->map_max;
    map = jrnl_page_round(map);
    if (map == 0)
        return SH_EBAD_REQUEST;
    if (mkdir(o->dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    int rc = mdb_env_create(&j->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(j->env, JRNL_DB_N + 2);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(j->env, JRNL_MAXREADERS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(j->env, (size_t)map);
    if (rc != 0)
        return jrnl_mdb_err(rc, "env_create");
    /* See jrnl.h: with sync, commits flush the data pages (one fdatasync)
     * and jrnl_sync then makes the meta page durable. */
    unsigned flags = MDB_NOTLS | (o->sync ? MDB_NOMETASYNC : MDB_NOSYNC);
    rc = mdb_env_open(j->env, o->dir, flags, 0644);
    if (rc != 0)
        return jrnl_mdb_err(rc, "env_open");
    SH_ASSERT(mdb_env_get_maxkeysize(j->env) >= JRNL_KEY_MAX);
    int dead = 0;
    mdb_reader_check(j->env, &dead);
    if (dead > 0)
        SH_LOGI("jrnl_stale_readers", "dir=%s cleared=%d", o->dir, dead);
    MDB_envinfo info;
    mdb_env_info(j->env, &info);
    j->map_size = info.me_mapsize;
    /* LMDB raises a map smaller than the data already there to exactly
     * the pages in use: the first write would then hit MDB_MAP_FULL.  Give
     * an existing journal the headroom a growth would (doubling, capped). */
    if (j->map_size > map) {
        uint64_t want = jrnl_page_round(j->map_size * 2);
        if (j->map_max != 0 && want > j->map_max)
            want = j->map_max;
        if (want > j->map_size && mdb_env_set_mapsize(j->env, (size_t)want) == 0)
            j->map_size = want;
    }
    return 0;
}

/* A new environment gets stamped; an old one must carry our number. */
static int jrnl_format_check(jrnl_t *j, MDB_txn *txn)
{
    static const char key[] = "format";
    MDB_val k = {sizeof(key) - 1, (void *)key}, v;
    uint8_t be[4] = {0, 0, 0, JRNL_FORMAT};
    int rc = mdb_get(txn, j->dbi[JRNL_DB_META], &k, &v);

    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        if ((rc = mdb_stat(txn, j->dbi[JRNL_DB_HEADS], &st)) != 0)
            return jrnl_mdb_err(rc, "format");
        if (st.ms_entries != 0) {
            SH_LOGE("jrnl_format", "err=\"entities present but no format stamp\"");
            return SH_ECORRUPT;
        }
        v.mv_size = sizeof(be);
        v.mv_data = be;
        return jrnl_mdb_err(mdb_put(txn, j->dbi[JRNL_DB_META], &k, &v, 0), "format");
    }
    if (rc != 0)
        return jrnl_mdb_err(rc, "format");
    if (v.mv_size != sizeof(be) || memcmp(v.mv_data, be, sizeof(be)) != 0) {
        SH_LOGE("jrnl_format", "err=\"unknown journal format\" want=%u", JRNL_FORMAT);
        return SH_ECORRUPT;
    }
    return 0;
}

static int jrnl_dbs_open(jrnl_t *j)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
    if (rc != 0)
        return jrnl_mdb_err(rc, "open_txn");
    for (int i = 0; i < JRNL_DB_N && rc == 0; i++)
        rc = mdb_dbi_open(txn, jrnl_db_names[i], MDB_CREATE, &j->dbi[i]);
    /* MDB_INCOMPATIBLE here means a main-DB key of that name that is not a
     * database: a foreign environment (jrnl_mdb_err -> SH_ECORRUPT). */
    rc = rc != 0 ? jrnl_mdb_err(rc, "dbi_open") : jrnl_format_check(j, txn);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return jrnl_mdb_err(mdb_txn_commit(txn), "open_commit");
}

int jrnl_open(jrnl_t **out, const jrnl_opts_t *o)
{
    *out = NULL;
    if (o == NULL || o->dir == NULL || o->dir[0] == '\0')
        return SH_EBAD_REQUEST;
    jrnl_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return SH_ENOMEM;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&j->lock, &a);
    pthread_rwlockattr_destroy(&a);
    j->lz4_min = o->lz4_min ? o->lz4_min : JRNL_LZ4_MIN_DEFAULT;
    j->sync = o->sync;
    j->wtxn.j = j;
    int rc = jrnl_env_create(j, o);
    if (rc == 0)
        rc = jrnl_dbs_open(j);
    if (rc != 0) {
        jrnl_close(j);
        return rc;
    }
    *out = j;
    return 0;
}

void jrnl_close(jrnl_t *j)
{
    if (j == NULL)
        return;
    SH_ASSERT(!j->wtxn_open);
    if (j->env != NULL)
        mdb_env_close(j->env); /* also closes the dbi handles */
    jrnl_buf_fini(&j->wbuf);
    jrnl_buf_fini(&j->zbuf);
    pthread_rwlock_destroy(&j->lock);
    free(j);
}

/* ---- growth, sync, stats ------------------------------------------------- */

int jrnl_grow(jrnl_t *j)
{
    SH_ASSERT(!j->wtxn_open);
    pthread_rwlock_wrlock(&j->lock);
    uint64_t next = j->map_size * 2;
    if (j->map_max != 0 && next > j->map_max)
        next = j->map_max;
    int rc = SH_ENOSPACE;
    if (next > j->map_size) {
        rc = jrnl_mdb_err(mdb_env_set_mapsize(j->env, (size_t)next), "grow");
        if (rc == 0) {
            j->map_size = next;
            j->grows++;
        }
    }
    pthread_rwlock_unlock(&j->lock);
    if (rc == 0)
        SH_LOGI("jrnl_grow", "map_size=%llu", (unsigned long long)next);
    else if (rc == SH_ENOSPACE)
        SH_LOGW("jrnl_map_ceiling", "map_size=%llu", (unsigned long long)j->map_size);
    return rc;
}

int jrnl_sync(jrnl_t *j)
{
    int rc = mdb_env_sync(j->env, 1);
    if (rc == 0)
        return 0;
    SH_LOGE("jrnl_sync", "err=\"%s\"", mdb_strerror(rc));
    return rc > 0 ? -rc : SH_EINTERNAL;
}

int jrnl_stats(jrnl_t *j, jrnl_stats_t *st)
{
    static const enum jrnl_db dbs[] = {JRNL_DB_EVENTS, JRNL_DB_SNAPS, JRNL_DB_REMS,
                                       JRNL_DB_IDEM, JRNL_DB_HEADS};
    uint64_t *dst[] = {&st->events, &st->snapshots, &st->reminders, &st->idem, &st->heads};
    MDB_txn *txn;
    MDB_stat ms;
    MDB_envinfo info;

    memset(st, 0, sizeof(*st));
    pthread_rwlock_rdlock(&j->lock);
    int rc = jrnl_mdb_err(mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn), "stats");
    if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < SH_ARRAY_LEN(dbs); i++) {
            rc = jrnl_mdb_err(mdb_stat(txn, j->dbi[dbs[i]], &ms), "stats");
            *dst[i] = ms.ms_entries;
        }
        mdb_txn_abort(txn);
    }
    if (rc == 0) {
        mdb_env_info(j->env, &info);
        mdb_env_stat(j->env, &ms);
        st->map_size = j->map_size;
        st->map_used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
        st->grows = j->grows;
    }
    pthread_rwlock_unlock(&j->lock);
    return rc;
}

int jrnl_rd_begin(jrnl_t *j, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&j->lock);
    int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&j->lock);
        *txn = NULL;
        return jrnl_mdb_err(rc, "read_begin");
    }
    return 0;
}

void jrnl_rd_end(jrnl_t *j, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&j->lock);
}

int jrnl_head_read(jrnl_t *j, MDB_txn *txn, const jrnl_key_t *ek, uint64_t *seq)
{
    MDB_val k = {ek->ent_len, (void *)ek->b}, v;
    int rc = mdb_get(txn, j->dbi[JRNL_DB_HEADS], &k, &v);

    *seq = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return jrnl_mdb_err(rc, "head");
    if (v.mv_size != 8)
        return SH_ECORRUPT;
    *seq = jrnl_be64_get(v.mv_data);
    return 0;
}
