/*
 * route.h - where a call goes: the node's shard table, kept from the
 * membership view, and the routing decision for one call.
 *
 * Pure (no I/O, no clock): the node loop feeds it views and asks it
 * questions; tests/unit/route_test.c drives it with hand-made views.
 *
 * Routing rule (DESIGN.md "Placement", issue "Sharding"): the owner of a
 * call's shard in this node's view runs it.  A node that is not the owner
 * forwards to the owner it sees; the receiver, whose view may differ,
 * applies the same rule, so a call may be forwarded again.  Each forward
 * counts one hop; a call that would need a forward beyond CALL_HOPS_MAX
 * (views disagree for longer than a few round trips), or whose shard has
 * no owner at all, is answered `unavailable` - retryable, since views
 * converge by gossip.
 *
 * Thread: a route_t belongs to the node loop.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stab.h"

enum route_action {
    ROUTE_LOCAL = 1,       /* this node owns the shard: submit to its worker */
    ROUTE_FORWARD = 2,     /* send to `owner` */
    ROUTE_UNAVAILABLE = 3, /* no owner, or out of hops */
};

typedef struct route route_t;

typedef struct route_config {
    const char *self_id;   /* copied */
    uint32_t shards;       /* S */
    uint32_t replicas;     /* R, capped at STAB_REPLICAS_MAX */
    uint32_t max_members;  /* view capacity (default 4096 when 0) */
} route_config_t;

/* What one route_update changed, for the shard_owner_changed log line. */
typedef struct route_change {
    uint32_t owners_changed; /* shards whose owner changed anywhere */
    uint32_t acquired;       /* shards this node now owns and did not */
    uint32_t released;       /* shards this node owned and no longer does */
    uint32_t slots_moved;
    uint32_t eligible;       /* alive + suspect members in the view */
} route_change_t;

/* 0, SH_EBAD_REQUEST for a bad config (id, S, R), -ENOMEM.  Before the
 * first update every shard is unplaced. */
int route_new(route_t **out, const route_config_t *cfg);
void route_free(route_t *r); /* accepts NULL */

/* Recompute the table from a whole view (self included; any order).  On 0,
 * *chg (may be NULL) says what changed, and route_released lists the
 * shards this node stopped owning (the node drops their entities).  On
 * error (SH_EBAD_REQUEST / SH_ETOO_BIG from stab_update) the table is
 * unchanged. */
int route_update(route_t *r, const stab_member_t *view, size_t n, route_change_t *chg);
/* Shards released by the last successful update, increasing; valid until
 * the next update.  Returns the count. */
size_t route_released(const route_t *r, const uint32_t **shards);
/* Shards acquired by the last successful update (this node became their
 * owner), increasing; valid until the next update. */
size_t route_acquired(const route_t *r, const uint32_t **shards);

/* Where a call for `shard`, already forwarded `hops` times, goes.  For
 * ROUTE_FORWARD *owner is the owner's id (valid until the next update). */
enum route_action route_decide(const route_t *r, uint32_t shard, uint8_t hops,
                               const char **owner);

/* True if this node owns `shard` in its view. */
bool route_owns(const route_t *r, uint32_t shard);
/* The table, for the shards/locate endpoints (read-only). */
const stab_t *route_stab(const route_t *r);
const char *route_self(const route_t *r);

#endif
