/*
 * jrnl_int.h - shared inside persistence/ between jrnl.c (environment and
 * reads) and jrnl_txn.c (the write side).  Nothing outside the module
 * includes it.
 */
#ifndef JRNL_INT_H
#define JRNL_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "jrnl.h"
#include "jrnl_rec.h"

enum jrnl_db {
    JRNL_DB_EVENTS = 0,
    JRNL_DB_HEADS,
    JRNL_DB_SNAPS,
    JRNL_DB_REMS,
    JRNL_DB_IDEM,
    JRNL_DB_META,
    JRNL_DB_N
};

/* The one write transaction (the writer thread has at most one open).
 * err poisons it: set when an operation failed after it may have written
 * part of its records, so that commit refuses instead of making half a
 * request durable (LMDB's MDB_TXN_ERROR, extended to our own failures). */
struct jrnl_txn {
    jrnl_t *j;
    MDB_txn *txn;
    int err;
};

struct jrnl {
    MDB_env *env;
    MDB_dbi dbi[JRNL_DB_N];
    /* Readers and the write txn hold it shared; jrnl_grow holds it
     * exclusively, because mdb_env_set_mapsize needs every transaction
     * of the process closed.  Writer-preferring so a stream of reads
     * cannot starve a growth the writer is waiting on. */
    pthread_rwlock_t lock;
    uint64_t map_size, map_max; /* under lock */
    uint64_t grows;             /* under lock */
    uint32_t lz4_min;
    bool sync;
    /* Writer-thread state (jrnl_txn.c). */
    struct jrnl_txn wtxn;
    bool wtxn_open;
    jrnl_buf_t wbuf, zbuf;      /* record encoding and lz4 scratch */
    jrnl_key_t sweep_from;      /* where the next idempotency sweep resumes */
    bool sweep_resume;
};

/* Translate an LMDB (or errno) code to a Shoal code, logging the original
 * text once for anything unexpected.  MDB_MAP_FULL -> SH_EFULL,
 * ENOSPC/EDQUOT -> SH_ENOSPACE, MDB_NOTFOUND -> SH_ENOT_FOUND, damage ->
 * SH_ECORRUPT. */
int jrnl_mdb_err(int rc, const char *op);

/* The entity's head in txn: 0 with *seq (0 if none) or SH_ECORRUPT. */
int jrnl_head_read(jrnl_t *j, MDB_txn *txn, const jrnl_key_t *ek, uint64_t *seq);

/* A read transaction under the shared lock, and its end.  0 or a code. */
int jrnl_rd_begin(jrnl_t *j, MDB_txn **txn);
void jrnl_rd_end(jrnl_t *j, MDB_txn *txn);

#endif
