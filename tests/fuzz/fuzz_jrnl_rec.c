/*
 * fuzz_jrnl_rec.c - every journal record decoder on arbitrary bytes.
 *
 * Each input is decoded as each kind (event, snapshot, idempotency,
 * reminder) with jrnl_rec_decode and jrnl_rec_peek.  A record that
 * decodes must also peek to the same header fields, and must re-encode
 * (with a low lz4 threshold, so the compressed path is taken too) and
 * decode again to the same fields and payload: one meaning per record.
 * The input also goes through the key splitter and the events-buffer
 * check, which read stored keys and workers' buffers.
 *
 * Seeds: tests/fuzz/corpus/fuzz_jrnl_rec/ (valid records of every kind,
 * raw and lz4).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jrnl_rec.h"
#include "sh_assert.h"

static void fuzz_same(const jrnl_rec_t *a, const jrnl_rec_t *b)
{
    SH_ASSERT(a->wall_ms == b->wall_ms && a->seq == b->seq && a->status == b->status);
    SH_ASSERT(a->period_ms == b->period_ms && a->reps == b->reps);
    SH_ASSERT(a->ttl_wall_ms == b->ttl_wall_ms);
    SH_ASSERT(a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0));
    SH_ASSERT(a->msg_len == b->msg_len && (a->msg_len == 0 || !memcmp(a->msg, b->msg, a->msg_len)));
    SH_ASSERT((a->rdata == NULL) == (b->rdata == NULL) && a->rdata_len == b->rdata_len);
    SH_ASSERT(a->rdata_len == 0 || memcmp(a->rdata, b->rdata, a->rdata_len) == 0);
}

static void fuzz_kind(enum jrnl_rec_kind kind, const uint8_t *data, size_t size)
{
    jrnl_buf_t s1 = {0}, s2 = {0}, out = {0}, z = {0};
    jrnl_rec_t r, p, r2;
    char err[128];

    int rc = jrnl_rec_decode(kind, data, size, &r, &s1, err, sizeof err);
    int prc = jrnl_rec_peek(kind, data, size, &p);
    if (rc == 0) {
        SH_ASSERT(prc == 0);
        SH_ASSERT(p.wall_ms == r.wall_ms && p.seq == r.seq && p.status == r.status);
        SH_ASSERT(r.len <= JRNL_REC_RAW_MAX && r.msg_len <= JRNL_REC_MSG_MAX);
        SH_ASSERT(jrnl_rec_encode(kind, &r, 16, &out, &z) == 0);
        SH_ASSERT(jrnl_rec_decode(kind, out.p, out.len, &r2, &s2, err, sizeof err) == 0);
        fuzz_same(&r, &r2);
    } else {
        SH_ASSERT(rc == -9017 && strlen(err) < sizeof err); /* SH_ECORRUPT, with a reason */
    }
    jrnl_buf_fini(&s1);
    jrnl_buf_fini(&s2);
    jrnl_buf_fini(&out);
    jrnl_buf_fini(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int k = JRNL_REC_EVENT; k <= JRNL_REC_REM; k++)
        fuzz_kind((enum jrnl_rec_kind)k, data, size);
    uint32_t shard;
    const char *type, *id;
    size_t el;
    if (jrnl_key_split(data, size, &shard, &type, &id, &el) == 0)
        SH_ASSERT(el <= size && type[0] != '\0' && strlen(type) + strlen(id) + 6 == el);
    (void)jrnl_ev_check(data, size, size > 0 ? data[0] % 8 : 0);
    return 0;
}
