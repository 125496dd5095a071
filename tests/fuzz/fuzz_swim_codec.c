/*
 * fuzz_swim_codec.c - libFuzzer target for the SWIM payload codec.
 *
 * Decode arbitrary bytes; whatever decodes must re-encode (the encoder
 * accepts everything the decoder does, within the same size) and decode
 * again to the same message.  ASan/UBSan catch reads past the input and
 * allocation blow-ups from hostile counts.
 */
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "swim_codec.h"

#define FUZZ_MAX (1u << 20)

static void same_update(const swim_update_t *a, const swim_update_t *b)
{
    SH_ASSERT(swim_str_eq(a->id, b->id) && swim_str_eq(a->addr, b->addr));
    SH_ASSERT(swim_str_eq(a->by, b->by));
    SH_ASSERT(a->state == b->state && a->incarnation == b->incarnation);
}

static void same_msg(const swim_msg_t *a, const swim_msg_t *b)
{
    SH_ASSERT(a->type == b->type && a->seq == b->seq && a->join == b->join);
    SH_ASSERT(swim_str_eq(a->from_id, b->from_id));
    SH_ASSERT(swim_str_eq(a->from_addr, b->from_addr));
    SH_ASSERT(swim_str_eq(a->target_id, b->target_id));
    SH_ASSERT(swim_str_eq(a->target_addr, b->target_addr));
    SH_ASSERT(a->n_gossip == b->n_gossip && a->n_members == b->n_members);
    for (size_t i = 0; i < a->n_gossip; i++)
        same_update(&a->gossip[i], &b->gossip[i]);
    for (size_t i = 0; i < a->n_members; i++)
        same_update(&a->members[i], &b->members[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    swim_msg_t m, m2;
    if (swim_msg_decode(data, size, FUZZ_MAX, &m) != 0)
        return 0;
    uint8_t *p = NULL;
    size_t len = 0;
    int rc = swim_msg_encode(&m, FUZZ_MAX, &p, &len);
    SH_ASSERT(rc == 0);
    SH_ASSERT(len <= size); /* shortest forms, empty "g" omitted */
    rc = swim_msg_decode(p, len, FUZZ_MAX, &m2);
    SH_ASSERT(rc == 0);
    same_msg(&m, &m2);
    swim_msg_fini(&m2);
    swim_msg_fini(&m);
    free(p);
    return 0;
}
