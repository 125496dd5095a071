/*
 * fuzz_rpc_codec.c - rpc_req_decode and rpc_rep_decode on arbitrary bytes.
 *
 * Every input is decoded as a request and as a reply.  What decodes is
 * re-encoded and decoded again and must come back identical: the codec
 * has one meaning per payload.  A decoded request's strings must respect
 * their bounds and contain no NUL, and its body must lie inside the input.
 *
 * The codec is compiled into this target directly (it is pure: it needs
 * only call.h's struct, the error table and no other object of shoal_node,
 * which fuzz builds do not link).
 *
 * Seeds: tests/fuzz/corpus/fuzz_rpc_codec/ (valid requests, with and
 * without an idempotency key, and replies).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../node/rpc_codec.c"
#include "sh_assert.h"

static void fuzz_req(const uint8_t *data, size_t size)
{
    rpc_req_t q;
    if (rpc_req_decode(data, size, &q) != 0)
        return;
    SH_ASSERT(q.type[0] && strlen(q.type) < SHOAL_TYPE_NAME_MAX);
    SH_ASSERT(q.id[0] && strlen(q.id) < SHOAL_ENTITY_ID_MAX);
    SH_ASSERT(strlen(q.method) < SHOAL_METHOD_MAX);
    SH_ASSERT(strlen(q.idem_key) < CALL_IDEM_MAX);
    SH_ASSERT(q.kind >= CALL_ASK && q.kind <= RPC_CALL_KIND_MAX);
    SH_ASSERT(q.len <= CALL_BODY_MAX);
    SH_ASSERT(q.len == 0 || (q.body >= data && q.body + q.len <= data + size));

    static call_t c; /* large: not on the stack */
    memset(&c, 0, sizeof c);
    c.kind = (enum call_kind)q.kind;
    memcpy(c.type, q.type, sizeof c.type);
    memcpy(c.id, q.id, sizeof c.id);
    memcpy(c.method, q.method, sizeof c.method);
    memcpy(c.idem_key, q.idem_key, sizeof c.idem_key);
    c.body = (uint8_t *)q.body;
    c.len = q.len;
    uint8_t *p;
    size_t n;
    SH_ASSERT(rpc_req_encode(&c, q.hops, &p, &n) == 0);
    rpc_req_t q2;
    SH_ASSERT(rpc_req_decode(p, n, &q2) == 0);
    SH_ASSERT(q2.kind == q.kind && q2.hops == q.hops && q2.len == q.len);
    SH_ASSERT(strcmp(q2.type, q.type) == 0 && strcmp(q2.id, q.id) == 0);
    SH_ASSERT(strcmp(q2.method, q.method) == 0);
    SH_ASSERT(strcmp(q2.idem_key, q.idem_key) == 0);
    SH_ASSERT(q.len == 0 || memcmp(q2.body, q.body, q.len) == 0);
    SH_ASSERT(n <= size); /* the encoder writes the shortest forms */
    free(p);
}

static void fuzz_rep(const uint8_t *data, size_t size)
{
    rpc_rep_t r;
    if (rpc_rep_decode(data, size, &r) != 0)
        return;
    SH_ASSERT(r.status <= 0 && r.status >= -9099);
    SH_ASSERT(strlen(r.errmsg) < CALL_MSG_MAX);
    SH_ASSERT(r.len == 0 || (r.reply >= data && r.reply + r.len <= data + size));
    uint8_t *p;
    size_t n;
    SH_ASSERT(rpc_rep_encode(r.status, r.errmsg, r.reply, r.len, &p, &n) == 0);
    rpc_rep_t r2;
    SH_ASSERT(rpc_rep_decode(p, n, &r2) == 0);
    SH_ASSERT(r2.status == r.status && r2.len == r.len);
    SH_ASSERT(strcmp(r2.errmsg, r.errmsg) == 0);
    SH_ASSERT(r.len == 0 || memcmp(r2.reply, r.reply, r.len) == 0);
    SH_ASSERT(n <= size);
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_req(data, size);
    fuzz_rep(data, size);
    return 0;
}
