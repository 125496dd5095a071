/*
 * route.h - where a call goes: the node's shard table, kept from the
 * membership view, and the routing decision for one call.
 *
 * Pure (no I/O, no clock): the node loop feeds it views and asks it
 * questions; tests/unit/route_test.c drives it with hand-made views.
 *
 * Routing rule (docs/ARCHITECTURE.md "Routing").  The owner of a call's
 * shard in this node's view runs it.  A node that is not the owner
 * forwards to the owner it sees - unless the call was forwarded to it BY
 * that very owner and this node's view gives it a replica slot of the
 * shard: then it runs the call itself.  Each forward counts one hop; a
 * call that would need a forward beyond CALL_HOPS_MAX, or whose shard has
 * no owner at all, is answered `unavailable` - retryable, since views
 * converge by gossip.
 *
 * Why the exception.  When the owner moves A -> B and A already holds the
 * new table (owner B) while B still holds the old one (owner A), each
 * names the other: without it a call bounced A -> B -> A -> B until its
 * hops ran out, for as long as the views differed (tests/sim/
 * sim_placement.c measured < 99 % served at such instants).  With it the
 * call ends at whichever of the two got it from the other, at most 2 hops
 * from any entry point.  Why it is safe: only a member of the shard's
 * replica set (in the server's own view) serves, and only when the node
 * it names as owner handed it the call, i.e. that owner has already
 * disowned the shard; a node whose owner is a third member, or that holds
 * no replica, forwards as before.  The exception only turns a forward
 * into a local run, so it adds no hop and no loop, and while views agree
 * it never applies (an owner does not forward its own shard).
 *
 * What it does not give: single activation.  During the window both A
 * and B may run calls for the shard (as two views that both claim it
 * already could), and the one that is not the owner once views agree
 * keeps what it activated until passivation; fencing by epoch is the
 * handoff issue's.
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
    ROUTE_LOCAL = 1,       /* run here (owner, or replica handed the call by the owner) */
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

/* Where a call for `shard`, already forwarded `hops` times, goes.  `from`
 * is the id of the node that forwarded it here (the RPC request frame's
 * source), NULL for a call that entered at this node (HTTP, an entity);
 * borrowed for the call only.  ROUTE_LOCAL if this node owns the shard,
 * or if `from` is the owner in this view and this node holds a replica
 * slot; ROUTE_FORWARD with *owner the owner's id (valid until the next
 * update) if hops < CALL_HOPS_MAX; else ROUTE_UNAVAILABLE (*owner NULL).
 * A `from` that is no member (a native client) changes nothing. */
enum route_action route_decide(const route_t *r, uint32_t shard, uint8_t hops,
                               const char *from, const char **owner);

/* True if this node owns `shard` in its view. */
bool route_owns(const route_t *r, uint32_t shard);
/* The table, for the shards/locate endpoints (read-only). */
const stab_t *route_stab(const route_t *r);
const char *route_self(const route_t *r);

#endif
