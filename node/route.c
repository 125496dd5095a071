/*
 * route.c - the node's shard table and the routing decision; see route.h.
 *
 * Design notes.  Placement itself lives in sharding/stab.c; this file only
 * adds what a node needs on top of it: which shards are *mine* (a byte per
 * shard, compared after each update to find the shards acquired and
 * released - released ones have their entities dropped by the node), and
 * the routing rule: owner, the replica exception for two views that name
 * each other, the hop limit.  Keeping it free of libuv and nng means the
 * rule is unit tested with hand-made views, including two nodes whose
 * views disagree, and tests/sim/sim_placement.c runs this very code.
 *
 * The view comes in whole on each update rather than as single member
 * events: the table is a pure function of the view, and recomputing it
 * (O(S*N*R) hashes) is cheap at the sizes a node runs with.  The node
 * coalesces a burst of membership events into one update per loop turn.
 *
 * What it does not do: handoff (buffering calls while a shard moves is
 * the handoff issue's hoff_), or any notion of replicas beyond reporting
 * them and the replica exception of route_decide.
 */
#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "sh_err.h"

struct route {
    char self[STAB_ID_MAX];
    stab_t *stab;
    uint32_t shards;
    uint8_t *mine;      /* per shard: this node owns it */
    uint32_t *released; /* shards released by the last update */
    size_t nreleased;
    uint32_t *acquired; /* shards acquired by the last update */
    size_t nacquired;
};

int route_new(route_t **out, const route_config_t *cfg)
{
    *out = NULL;
    if (!cfg->self_id || !cfg->self_id[0] || strlen(cfg->self_id) >= STAB_ID_MAX ||
        cfg->shards == 0 || cfg->shards > STAB_SHARDS_MAX || cfg->replicas == 0)
        return SH_EBAD_REQUEST;
    stab_config_t sc;
    stab_config_default(&sc);
    sc.shards = cfg->shards;
    sc.replicas = cfg->replicas > STAB_REPLICAS_MAX ? STAB_REPLICAS_MAX : cfg->replicas;
    if (cfg->max_members)
        sc.max_members = cfg->max_members;
    route_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    int rc = stab_new(&r->stab, &sc);
    r->mine = calloc(cfg->shards, 1);
    r->released = calloc(cfg->shards, sizeof *r->released);
    r->acquired = calloc(cfg->shards, sizeof *r->acquired);
    if (rc != 0 || !r->mine || !r->released || !r->acquired) {
        route_free(r);
        return rc != 0 ? rc : -ENOMEM;
    }
    memcpy(r->self, cfg->self_id, strlen(cfg->self_id) + 1);
    r->shards = cfg->shards;
    *out = r;
    return 0;
}

void route_free(route_t *r)
{
    if (!r)
        return;
    stab_free(r->stab);
    free(r->mine);
    free(r->released);
    free(r->acquired);
    free(r);
}

int route_update(route_t *r, const stab_member_t *view, size_t n, route_change_t *chg)
{
    stab_delta_t d;
    int rc = stab_update(r->stab, view, n, &d);
    if (rc < 0)
        return rc;
    route_change_t c = {.owners_changed = d.owners_changed, .slots_moved = d.slots_moved,
                        .eligible = d.eligible};
    r->nreleased = r->nacquired = 0;
    /* Only shards whose owner changed can change hands for us. */
    const uint32_t *changed;
    size_t k = stab_owner_changes(r->stab, &changed);
    for (size_t i = 0; i < k; i++) {
        uint32_t s = changed[i];
        const char *owner = stab_owner(r->stab, s);
        uint8_t now = owner && strcmp(owner, r->self) == 0;
        if (now && !r->mine[s])
            r->acquired[r->nacquired++] = s;
        else if (!now && r->mine[s])
            r->released[r->nreleased++] = s;
        r->mine[s] = now;
    }
    c.released = (uint32_t)r->nreleased;
    c.acquired = (uint32_t)r->nacquired;
    if (chg)
        *chg = c;
    return 0;
}

size_t route_released(const route_t *r, const uint32_t **shards)
{
    *shards = r->released;
    return r->nreleased;
}

size_t route_acquired(const route_t *r, const uint32_t **shards)
{
    *shards = r->acquired;
    return r->nacquired;
}

/* Does this node's view give it a replica slot of `shard`? */
static bool route_is_replica(const route_t *r, uint32_t shard)
{
    stab_shard_view_t v;
    if (stab_shard_get(r->stab, shard, &v) != 0)
        return false;
    for (uint32_t k = 0; k < v.n_replicas; k++)
        if (strcmp(v.replicas[k], r->self) == 0)
            return true;
    return false;
}

/*
 * The rule and why it is safe: route.h.  The replica exception is checked
 * before the hop limit: a call the owner handed back at its last hop is
 * still served rather than refused.  strcmp(from, owner) is the whole
 * "handed over by the owner" test: `from` is the frame's authenticated
 * source id, and a native client's id is never a member id.
 */
enum route_action route_decide(const route_t *r, uint32_t shard, uint8_t hops,
                               const char *from, const char **owner)
{
    *owner = NULL;
    if (shard >= r->shards)
        return ROUTE_UNAVAILABLE;
    if (r->mine[shard])
        return ROUTE_LOCAL;
    const char *o = stab_owner(r->stab, shard);
    if (!o)
        return ROUTE_UNAVAILABLE;
    if (from && strcmp(from, o) == 0 && route_is_replica(r, shard))
        return ROUTE_LOCAL;
    if (hops >= CALL_HOPS_MAX)
        return ROUTE_UNAVAILABLE;
    *owner = o;
    return ROUTE_FORWARD;
}

bool route_owns(const route_t *r, uint32_t shard)
{
    return shard < r->shards && r->mine[shard];
}

const stab_t *route_stab(const route_t *r)
{
    return r->stab;
}

const char *route_self(const route_t *r)
{
    return r->self;
}
