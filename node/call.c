/*
 * call.c - the call envelope; see call.h.
 *
 * Design notes.  A call is one allocation of fixed size (names inline) plus
 * its body and reply, so it can cross threads as a single pointer with no
 * reference counting: ownership moves with the pointer (creator -> worker
 * -> on_done).  call_new does not zero the whole struct: the inline name
 * buffers are most of its ~700 bytes and only their used prefix matters,
 * and calls are made on the entity-to-entity fast path.
 */
#include "call.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "sh_assert.h"
#include "sh_err.h"

/* Length of s if it is 1..cap-1 bytes long, else 0. */
static size_t name_len(const char *s, size_t cap)
{
    if (!s)
        return 0;
    size_t n = strnlen(s, cap);
    return n < cap ? n : 0;
}

int call_new(call_t **out, enum call_kind kind, const char *type, const char *id,
             const char *method, const void *body, size_t len,
             uint64_t deadline_ms, uint32_t shards)
{
    *out = NULL;
    size_t tl = name_len(type, SHOAL_TYPE_NAME_MAX);
    size_t il = name_len(id, SHOAL_ENTITY_ID_MAX);
    size_t ml = name_len(method, SHOAL_METHOD_MAX);
    if (!tl || !il || !ml || shards == 0 || (len && !body))
        return SH_EBAD_REQUEST;
    if (len > CALL_BODY_MAX)
        return SH_ETOO_BIG;
    call_t *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->body = NULL;
    if (len) {
        c->body = malloc(len);
        if (!c->body) {
            free(c);
            return -ENOMEM;
        }
        memcpy(c->body, body, len);
    }
    c->kind = kind;
    memcpy(c->type, type, tl + 1);
    memcpy(c->id, id, il + 1);
    memcpy(c->method, method, ml + 1);
    c->len = len;
    c->shard = ring_shard_of(type, tl, id, il, shards);
    c->deadline_ms = deadline_ms;
    c->hops = 0;
    c->flags = 0;
    c->idem_key[0] = '\0'; /* none: rpc_req_encode sends a key only when set */
    c->status = 0;
    c->reply = NULL;
    c->reply_len = 0;
    c->errmsg[0] = '\0';
    c->completed = false;
    c->on_done = NULL;
    c->done_arg = NULL;
    c->corr = 0;
    c->next = NULL;
    *out = c;
    return 0;
}

void call_free(call_t *c)
{
    if (!c)
        return;
    free(c->body);
    free(c->reply);
    free(c);
}

void call_complete_owned(call_t *c, int status, uint8_t *reply, size_t reply_len,
                         const char *errmsg)
{
    SH_ASSERT(!c->completed);
    c->completed = true;
    c->status = status;
    free(c->reply);
    c->reply = reply_len ? reply : NULL;
    c->reply_len = reply_len ? reply_len : 0;
    if (!reply_len)
        free(reply);
    c->errmsg[0] = '\0';
    if (errmsg) {
        strncpy(c->errmsg, errmsg, CALL_MSG_MAX - 1);
        c->errmsg[CALL_MSG_MAX - 1] = '\0';
    }
    if (c->on_done)
        c->on_done(c);
    else
        call_free(c);
}

void call_complete(call_t *c, int status, const void *reply, size_t reply_len,
                   const char *errmsg)
{
    uint8_t *copy = NULL;
    if (reply_len) {
        copy = malloc(reply_len);
        if (!copy) {
            call_complete_owned(c, SH_ENOMEM, NULL, 0, "out of memory copying the reply");
            return;
        }
        memcpy(copy, reply, reply_len);
    }
    call_complete_owned(c, status, copy, reply_len, errmsg);
}
