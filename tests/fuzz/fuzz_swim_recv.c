/*
 * fuzz_swim_recv.c - libFuzzer target: a live SWIM core fed arbitrary
 * inputs, with its invariants checked after every step.
 *
 * The input is a list of records [op][len hi][len lo][len bytes]:
 *   op % 4 == 0  swim_recv of the bytes (from "p1:1")
 *   op % 4 == 1  advance the clock by the bytes' first two (<= 65535 ms), tick
 *   op % 4 == 2  swim_peer_unreachable for the bytes as an address
 *   op % 4 == 3  swim_leave (then everything is ignored)
 * The core starts knowing three members (a crafted SYNC_ACK), so probes,
 * ping-reqs, suspicions and syncs all run.  Outputs are drained and freed
 * after every step.  A fresh core per input keeps crashes reproducible.
 */
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "swim.h"
#include "swim_codec.h"

static void drain(swim_t *s)
{
    swim_out_t o;
    while (swim_next_output(s, &o))
        free(o.payload);
}

static void seed_members(swim_t *s)
{
    swim_update_t u[3] = {
        {.id = swim_str_of("p1"), .addr = swim_str_of("p1:1"), .state = 0},
        {.id = swim_str_of("p2"), .addr = swim_str_of("p2:1"), .state = 0, .incarnation = 3},
        {.id = swim_str_of("p3"), .addr = swim_str_of("p3:1"), .state = 1,
         .by = swim_str_of("p1")},
    };
    swim_msg_t m = {.type = SWIM_MSG_SYNC_ACK, .from_id = swim_str_of("p1"),
                    .from_addr = swim_str_of("p1:1"), .members = u, .n_members = 3};
    uint8_t *p;
    size_t len;
    SH_ASSERT(swim_msg_encode(&m, 4096, &p, &len) == 0);
    SH_ASSERT(swim_recv(s, 0, "p1:1", p, len) == 0);
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    swim_config_t cfg;
    swim_t *s;
    uint64_t now = 0;
    swim_config_default(&cfg);
    cfg.self_id = "me";
    cfg.self_addr = "me:1";
    cfg.max_members = 8; /* exercise eviction and full tables */
    cfg.payload_max_bytes = 64 * 1024;
    cfg.seed = size;
    SH_ASSERT(swim_new(&s, &cfg, 0) == 0);
    seed_members(s);
    drain(s);
    while (size >= 3) {
        uint8_t op = data[0];
        size_t len = ((size_t)data[1] << 8) | data[2];
        data += 3, size -= 3;
        if (len > size)
            len = size;
        if (op % 4 == 0) {
            (void)swim_recv(s, now, "p1:1", data, len);
        } else if (op % 4 == 1) {
            now += len >= 2 ? ((uint64_t)data[0] << 8 | data[1]) : 1;
            swim_tick(s, now);
        } else if (op % 4 == 2) {
            char addr[SWIM_ADDR_MAX] = {0};
            memcpy(addr, data, len < sizeof(addr) - 1 ? len : sizeof(addr) - 1);
            swim_peer_unreachable(s, now, addr);
        } else {
            (void)swim_leave(s, now);
        }
        swim_check_invariants(s);
        drain(s);
        data += len, size -= len;
    }
    swim_free(s);
    return 0;
}
