/*
 * jrnl.h - the node's journal: one LMDB environment under --data holding
 * every persistent entity's events, its latest snapshot, its durable
 * reminders, idempotency records and node metadata.
 *
 * Keys.  Every record of an entity starts with the entity key
 *     shard (u32 big-endian) | type | 0x00 | id | 0x00
 * (types and ids never contain NUL), so a shard's data is one contiguous
 * key range (the handoff issue ships it) and an entity's events, keyed
 * entity key | seq (u64 big-endian), are contiguous and in order.
 *
 * Named databases:
 *     events   entity key | seq      -> event record
 *     heads    entity key            -> last committed seq (u64)
 *     snaps    entity key            -> snapshot record (latest only)
 *     rems     entity key | name     -> reminder record
 *     idem     entity key | idem key -> idempotency record
 *     meta     utf-8 name            -> bytes (format version, ...)
 * Values are msgpack arrays with an xxh32 of the payload and lz4 for
 * payloads over opts.lz4_min (the layout is in jrnl_rec.c).
 *
 * Threads.  Writes happen only on the journal writer's thread (jw.h)
 * through jrnl_txn_*.  Reads (jrnl_load, jrnl_read_events, ...) may run on
 * any thread at any time, each in its own short read transaction; a
 * read-write lock keeps them out while the writer grows the map
 * (mdb_env_set_mapsize needs no transaction active in the process).
 * Callbacks (jrnl_load_fn, jrnl_rem_fn) run inside that read transaction:
 * they must not call jrnl_* nor wait for the writer.
 *
 * Changes to the contract as first written (why):
 *  - Syncing with opts.sync.  The environment is opened MDB_NOMETASYNC
 *    (not MDB_NOSYNC) when opts.sync is set, so jrnl_txn_commit does one
 *    fdatasync of the data pages and jrnl_sync then makes the meta page
 *    durable.  With MDB_NOSYNC the commit writes data pages and the meta
 *    page with no barrier between them; a power loss before jrnl_sync
 *    completes could persist a meta page pointing at pages never written
 *    (LMDB documents MDB_NOSYNC as able to corrupt the database), which
 *    "--sync full" must not allow.  Cost: two flushes per batch instead
 *    of one (LMDB's default also does two).  Without opts.sync it is
 *    MDB_NOSYNC as planned: a process crash loses nothing, a power loss
 *    may lose recent commits.  One line in jrnl_env_create to revert.
 *  - jrnl_idem_t.expires_wall_ms == 0 means "never expires".
 *  - jrnl_txn_idem_sweep looks at a bounded number of records per call
 *    (8 per deletion allowed + 256) and resumes where the last call
 *    stopped, so *n can be below the number expired; call it again.
 *  - jrnl_txn_snapshot also fails with SH_ESEQ for a seq of 0, above the
 *    head, or below the current snapshot's (events under a newer
 *    snapshot may be gone already).
 *  - jrnl_txn_commit answers SH_EFULL (not SH_ENOSPACE) for MDB_MAP_FULL
 *    below the ceiling, so the writer grows and retries as for a put.
 */
#ifndef JRNL_H
#define JRNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jrnl jrnl_t;

typedef struct jrnl_opts {
    const char *dir;        /* created if missing; the LMDB files live here */
    uint64_t map_init;      /* initial map size, bytes (0: 64 MiB) */
    uint64_t map_max;       /* growth ceiling, bytes (0: no ceiling but the disk) */
    bool sync;              /* --sync full: jw syncs after each batch */
    uint32_t lz4_min;       /* compress payloads larger than this (0: 1024) */
} jrnl_opts_t;

/* Open (creating) the environment, clear stale reader slots
 * (mdb_reader_check), create the named databases.  0 or a negative code
 * (-errno, SH_ECORRUPT for a foreign/newer format). */
int jrnl_open(jrnl_t **out, const jrnl_opts_t *o);
void jrnl_close(jrnl_t *j);
/* "MDB_MAP_FULL: ..." etc. for a code jrnl returned (falls back to sh_strerror). */
const char *jrnl_strerror(int err);

/* An entity.  type and id are NUL-terminated, without NUL inside. */
typedef struct jrnl_ent {
    uint32_t shard;
    const char *type;
    const char *id;
} jrnl_ent_t;

/* ---- recovery */

enum jrnl_item { JRNL_SNAPSHOT = 1, JRNL_EVENT = 2 };
/* Called for the snapshot (if any and wanted), then each event after it in
 * order.  Return 0 to go on, non-zero to stop (jrnl_load returns it). */
typedef int (*jrnl_load_fn)(void *arg, enum jrnl_item kind, uint64_t seq, uint64_t wall_ms,
                            const uint8_t *data, size_t len);

typedef struct jrnl_load_info {
    uint64_t last_seq;      /* the head: the entity's last committed seq, 0 if none */
    uint64_t snap_seq;      /* seq the used snapshot covers, 0 if none used */
    uint64_t events;        /* events replayed */
    char err[160];          /* why, when jrnl_load returns SH_ECORRUPT */
} jrnl_load_info_t;

/* Replay an entity: its snapshot (unless use_snapshot is false), then its
 * events after the snapshot, checking that they are contiguous up to the
 * head.  0; SH_ECORRUPT with info->err for a gap, a missing tail, a bad
 * checksum or an undecodable record; the callback's non-zero return; or
 * another negative code.  With use_snapshot false and events trimmed
 * below the snapshot, the first event is not 1: SH_ECORRUPT ("trimmed"). */
int jrnl_load(jrnl_t *j, const jrnl_ent_t *e, bool use_snapshot, jrnl_load_fn fn, void *arg,
              jrnl_load_info_t *info);

/* Events from seq `from` (>= 1), at most `limit`, in order (no snapshot):
 * the journal API.  Events trimmed below a snapshot are skipped: the page
 * starts at the first event kept at or after `from`.  *next is the seq after the last one returned (0 when
 * there are no more).  Same return codes as jrnl_load. */
int jrnl_read_events(jrnl_t *j, const jrnl_ent_t *e, uint64_t from, uint32_t limit,
                     jrnl_load_fn fn, void *arg, uint64_t *next);

/* The entity's head (last committed seq, 0 if none) and the seq its
 * snapshot covers (0 if none).  0 or a negative code. */
int jrnl_head(jrnl_t *j, const jrnl_ent_t *e, uint64_t *last_seq, uint64_t *snap_seq);

/* ---- idempotency records */

typedef struct jrnl_idem {
    int status;             /* 0 or the call's negative code */
    uint64_t expires_wall_ms;
    uint8_t *reply;         /* malloc'd, owned by the caller after jrnl_idem_get */
    size_t reply_len;
    char msg[160];          /* error message when status != 0 */
} jrnl_idem_t;

/* 0 with *out filled (caller frees out->reply), SH_ENOT_FOUND if absent or
 * expired at now_wall_ms, or a negative code. */
int jrnl_idem_get(jrnl_t *j, const jrnl_ent_t *e, const char *key, uint64_t now_wall_ms,
                  jrnl_idem_t *out);

/* ---- reminders */

typedef struct jrnl_rem {
    uint32_t shard;
    const char *type, *id, *name; /* valid during the callback / as given */
    uint64_t due_wall_ms;   /* next fire */
    uint64_t period_ms;     /* 0: one-shot */
    int64_t reps;           /* fires left, -1 unlimited */
    uint64_t ttl_wall_ms;   /* 0: none; no fire at or after it */
    const uint8_t *data;    /* compact JSON of "data", or NULL */
    size_t data_len;
    const uint8_t *spec;    /* the JSON body it was set with (GET answers it) */
    size_t spec_len;
} jrnl_rem_t;

typedef int (*jrnl_rem_fn)(void *arg, const jrnl_rem_t *r);
/* Every reminder of `shard`, in key order.  0, the callback's non-zero
 * return, or a negative code. */
int jrnl_rem_scan(jrnl_t *j, uint32_t shard, jrnl_rem_fn fn, void *arg);
/* One reminder: 0 (fn called once), SH_ENOT_FOUND, or a negative code. */
int jrnl_rem_get(jrnl_t *j, const jrnl_ent_t *e, const char *name, jrnl_rem_fn fn, void *arg);

/* ---- write transactions (the writer thread only) */

typedef struct jrnl_txn jrnl_txn_t;
int jrnl_txn_begin(jrnl_t *j, jrnl_txn_t **out);
/* Commit (no sync: see jrnl_sync).  On failure the transaction is gone and
 * nothing of it is visible.  SH_ENOSPACE for MDB_MAP_FULL at the ceiling
 * or a full disk (ENOSPC/EDQUOT). */
int jrnl_txn_commit(jrnl_txn_t *t);
void jrnl_txn_abort(jrnl_txn_t *t);
/* Grow the map (doubling, up to map_max) after a MDB_MAP_FULL.  No
 * transaction of this process may be open: takes the read-write lock.
 * 0, or SH_ENOSPACE when already at the ceiling. */
int jrnl_grow(jrnl_t *j);
/* fsync the environment (mdb_env_sync(force)).  0 or -errno. */
int jrnl_sync(jrnl_t *j);

/* The head (last committed seq) as this transaction sees it; 0 if none. */
int jrnl_txn_head(jrnl_txn_t *t, const jrnl_ent_t *e, uint64_t *seq);
/* Append events first_seq .. first_seq+n-1 and move the head.  `ev` holds
 * n records [u32 native-endian length][bytes] (the turn's buffer).
 * SH_ESEQ unless first_seq == head + 1.  MDB_MAP_FULL comes back as
 * SH_EFULL: the caller aborts, jrnl_grow()s and retries the batch. */
int jrnl_txn_append(jrnl_txn_t *t, const jrnl_ent_t *e, uint64_t first_seq, uint32_t n,
                    const uint8_t *ev, size_t ev_len, uint64_t wall_ms);
/* Replace the entity's snapshot with one covering events up to seq, then
 * delete events with seq <= seq - retain (retain events kept below it). */
int jrnl_txn_snapshot(jrnl_txn_t *t, const jrnl_ent_t *e, uint64_t seq, const uint8_t *data,
                      size_t len, uint64_t wall_ms, uint64_t retain);
/* Delete everything of the entity: events, head, snapshot, reminders,
 * idempotency records (the cart's TTL). */
int jrnl_txn_purge(jrnl_txn_t *t, const jrnl_ent_t *e);
int jrnl_txn_idem_put(jrnl_txn_t *t, const jrnl_ent_t *e, const char *key,
                      const jrnl_idem_t *rec);
/* Delete up to `max` idempotency records expired at now_wall_ms; *n deleted. */
int jrnl_txn_idem_sweep(jrnl_txn_t *t, uint64_t now_wall_ms, uint32_t max, uint32_t *n);
int jrnl_txn_rem_put(jrnl_txn_t *t, const jrnl_rem_t *r);
/* SH_ENOT_FOUND if absent. */
int jrnl_txn_rem_del(jrnl_txn_t *t, const jrnl_ent_t *e, const char *name);

/* ---- observation */

typedef struct jrnl_stats {
    uint64_t map_size;      /* bytes mapped */
    uint64_t map_used;      /* bytes of pages in use (last page number * page size) */
    uint64_t events, snapshots, reminders, idem, heads; /* entries per database */
    uint64_t grows;         /* map growths since open */
} jrnl_stats_t;
int jrnl_stats(jrnl_t *j, jrnl_stats_t *st);

#endif
