/*
 * stab.h - the shard table: for every shard, its replica set (owner first),
 * a fencing epoch and a state, computed from a membership view.  Sans-IO.
 *
 * The table is a pure function of the view's set of (id, state) pairs:
 * every node that holds the same view computes the same owners and replica
 * sets, whatever order the view lists its members in.  Only the per-shard
 * epochs carry history (they count owner changes this table has seen).
 *
 * Placement (see stab.c for the reasoning):
 *  - eligible members are alive or suspect (a suspect keeps its shards;
 *    only dead and left members lose them);
 *  - the replica set of shard s is the top min(R, eligible) members by
 *    rendezvous weight (ring_place), so one member joining or leaving
 *    changes only the sets that contain it (about S*R/N slots);
 *  - the owner is one member of that set, chosen so that no member owns
 *    more than ceil(S * owner_load_pct / 100 / eligible) shards, as the
 *    unique stable matching between shards and members under the
 *    rendezvous weights (a rare shard whose members are all at the cap
 *    goes to the least-loaded one).  With owner_load_pct = 0, R = 1 or a single
 *    eligible member, the owner is simply the highest-weight member
 *    (plain rendezvous).
 *
 * Memory: everything is allocated by stab_new, sized by the config;
 * stab_update allocates nothing.
 * Thread: a stab_t belongs to one thread (the node loop); no call is
 * thread-safe.  Pointers returned by getters are valid until the next
 * stab_update or stab_free.
 */
#ifndef STAB_H
#define STAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "swim.h"

#define STAB_ID_MAX SWIM_ID_MAX /* member id incl. NUL: at most 63 bytes */
#define STAB_REPLICAS_MAX 8
#define STAB_SHARDS_MAX 65536
#define STAB_MEMBERS_MAX 65536

enum stab_shard_state {
    STAB_SHARD_ACTIVE = 0,   /* has an owner */
    STAB_SHARD_UNPLACED = 1, /* no eligible member: no owner, no replicas */
};

/* "active" | "unplaced" */
const char *stab_shard_state_name(enum stab_shard_state s);

typedef struct stab_config {
    uint32_t shards;         /* S, 1..STAB_SHARDS_MAX (default 256) */
    uint32_t replicas;       /* R, 1..STAB_REPLICAS_MAX (default 3) */
    uint32_t max_members;    /* view capacity, 1..STAB_MEMBERS_MAX (default 4096) */
    uint32_t owner_load_pct; /* owner cap, % of the mean (default 125); 0 = off,
                                otherwise >= 100 */
} stab_config_t;

/* Fill cfg with the defaults above. */
void stab_config_default(stab_config_t *cfg);

/* One member of a view.  id is borrowed for the call (NUL-terminated,
 * 1..STAB_ID_MAX-1 bytes). */
typedef struct stab_member {
    const char *id;
    enum swim_state state;
} stab_member_t;

typedef struct stab stab_t;

/* Create an empty table: every shard unplaced, epoch 0.  0,
 * SH_EBAD_REQUEST for a config out of range, or SH_ENOMEM.  The caller
 * owns *out (untouched on error). */
int stab_new(stab_t **out, const stab_config_t *cfg);
/* Accepts NULL. */
void stab_free(stab_t *t);

typedef struct stab_delta {
    uint32_t slots_moved;    /* sum over shards of max(|new \ old|, |old \ new|) */
    uint32_t sets_changed;   /* shards whose replica set changed */
    uint32_t owners_changed; /* shards whose owner changed (epoch bumped) */
    uint32_t eligible;       /* eligible members in the new view */
    uint32_t owner_cap;      /* owner cap used; 0 when balancing is off */
    uint32_t over_cap;       /* shards whose members were all at the cap:
                                owned beyond it by the least-loaded one */
} stab_delta_t;

/* Recompute the table from a view of n members (any order; dead and left
 * members may be included or omitted - they place nothing).  For each shard
 * whose owner changed (including to or from "no owner") the epoch goes up
 * by exactly one and the shard is listed by stab_owner_changes.
 *
 * Returns the number of replica slots moved (>= 0, also in delta->
 * slots_moved; delta may be NULL), or, leaving the table unchanged:
 * SH_ETOO_BIG if n > max_members; SH_EBAD_REQUEST for a NULL, empty or
 * too long id, a duplicate id, or a state out of range.  O(S*N*R) time
 * (hashing dominates), no allocation. */
int stab_update(stab_t *t, const stab_member_t *view, size_t n,
                stab_delta_t *delta);

/* The shards whose owner changed in the last successful stab_update, in
 * increasing order; *shards is valid until the next update.  Returns the
 * count. */
size_t stab_owner_changes(const stab_t *t, const uint32_t **shards);

typedef struct stab_shard_view {
    enum stab_shard_state state;
    uint64_t epoch;                             /* owner changes so far */
    uint32_t n_replicas;                        /* min(R, eligible) */
    const char *replicas[STAB_REPLICAS_MAX];    /* owner first, then by weight */
    const char *owner;                          /* replicas[0], NULL if unplaced */
} stab_shard_view_t;

/* 0 and *out filled (ids borrowed, see above), or SH_ENOT_FOUND if
 * shard >= S. */
int stab_shard_get(const stab_t *t, uint32_t shard, stab_shard_view_t *out);

/* The owner's id, or NULL if the shard is unplaced or out of range. */
const char *stab_owner(const stab_t *t, uint32_t shard);

/* Shards owned by, and replica slots held by (owner included), member id
 * in the current table.  0, or SH_ENOT_FOUND if id is not in the view. */
int stab_member_load(const stab_t *t, const char *id, uint32_t *owned,
                     uint32_t *held);

uint32_t stab_shard_count(const stab_t *t);
uint32_t stab_replica_count(const stab_t *t); /* configured R */

typedef struct stab_stats {
    uint64_t updates;       /* successful stab_update calls */
    uint64_t views_refused; /* stab_update calls that returned an error */
    uint64_t owner_changes; /* total epoch bumps */
    uint64_t slots_moved;   /* total over all updates */
} stab_stats_t;

void stab_stats_get(const stab_t *t, stab_stats_t *out);

/* Check the table against its definition: ids sorted and unique, every
 * replica set equal to ring_place's top-R of the eligible members, owner
 * in the set, owner loads within the cap except the over_cap shards,
 * loads and states consistent.  SH_ASSERT on a violation.  O(S*N*R). */
void stab_check_invariants(const stab_t *t);

#endif
