/*
 * jrnl_head.c - jrnl_head: an entity's last committed seq and the seq its
 * snapshot covers, without replaying anything (the journal endpoint).
 */
#include "jrnl_int.h"
#include "sh_err.h"

int jrnl_head(jrnl_t *j, const jrnl_ent_t *e, uint64_t *last_seq, uint64_t *snap_seq)
{
    jrnl_key_t key;
    MDB_txn *txn;
    *last_seq = *snap_seq = 0;
    int rc = jrnl_key_ent(&key, e);
    if (rc == 0)
        rc = jrnl_rd_begin(j, &txn);
    if (rc != 0)
        return rc;
    rc = jrnl_head_read(j, txn, &key, last_seq);
    MDB_val k = {key.ent_len, key.b}, v;
    int mrc = rc == 0 ? mdb_get(txn, j->dbi[JRNL_DB_SNAPS], &k, &v) : MDB_NOTFOUND;
    if (mrc == 0) {
        jrnl_rec_t r;
        rc = jrnl_rec_peek(JRNL_REC_SNAP, v.mv_data, v.mv_size, &r);
        if (rc == 0)
            *snap_seq = r.seq;
    } else if (mrc != MDB_NOTFOUND) {
        rc = jrnl_mdb_err(mrc, "snapshot");
    }
    jrnl_rd_end(j, txn);
    return rc;
}
