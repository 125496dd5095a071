/*
 * plc_views.c - the placement scenario's views (see sim_placement.c, claim
 * 2, and README.md "placement"): each member's router (node/route.c
 * itself) is fed that member's own SWIM table whenever its set of eligible
 * members changes, and at each such instant every (shard, live origin)
 * call is routed through the members' route_decide and tallied, against
 * the tables before and after the change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "plc.h"
#include "sh_assert.h"

/* ---- tables ---------------------------------------------------------- */

static void plc_snapshot(const sim_t *s, const stab_t *t, plc_tab_t *out)
{
    for (uint32_t sh = 0; sh < PLC_S; sh++) {
        stab_shard_view_t v;
        SIM_CHECK(stab_shard_get(t, sh, &v) == 0, "stab_shard_get(%u)", sh);
        out->n[sh] = (uint8_t)v.n_replicas;
        for (uint32_t k = 0; k < v.n_replicas; k++) {
            int j = sim_node_index(s, v.replicas[k]);
            SIM_CHECK(j >= 0, "shard %u placed on unknown member '%s'", sh, v.replicas[k]);
            out->rep[sh][k] = (uint16_t)j;
        }
    }
}

/* Member i rebuilds its table from its own SWIM member table. */
void plc_build(sim_t *s, plc_run_t *r, uint32_t i)
{
    const swim_t *core = s->nodes[i].core;
    size_t cnt = swim_member_count(core), k = 0;
    SIM_CHECK(cnt <= PLC_N_MAX, "n%04u lists %zu members", i, cnt);
    for (size_t m = 0; m < cnt; m++)
        if (swim_member_get(core, m, &r->mv[k]) == 0) {
            r->sv[k] = (stab_member_t){.id = r->mv[k].id, .state = r->mv[k].state};
            k++;
        }
    int rc = route_update(r->rt[i], r->sv, k, NULL);
    SIM_CHECK(rc == 0, "n%04u: route_update of its own view = %d", i, rc);
    stab_check_invariants(route_stab(r->rt[i]));
    plc_snapshot(s, route_stab(r->rt[i]), &r->cur[i]);
    r->built_step[i] = s->ctr.steps;
}

/* The ground truth's table, computed before the change happens: running
 * nodes and `joiner` alive, `dead` dead (UINT32_MAX: none). */
void plc_reference(sim_t *s, stab_t *t, uint32_t dead, uint32_t joiner,
                          plc_tab_t *out, stab_delta_t *d)
{
    stab_member_t v[PLC_N_MAX];
    size_t k = 0;
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++)
        if (i == dead || plc_up(s, i) || i == joiner)
            v[k++] = (stab_member_t){.id = s->nodes[i].id,
                                     .state = i == dead ? SWIM_DEAD : SWIM_ALIVE};
    SIM_CHECK(stab_update(t, v, k, d) >= 0, "reference stab_update");
    plc_snapshot(s, t, out);
}

bool plc_in(const plc_tab_t *t, uint32_t sh, uint32_t m)
{
    for (uint32_t k = 0; k < t->n[sh]; k++)
        if (t->rep[sh][k] == m)
            return true;
    return false;
}

/* |a's set of sh minus b's|. */
uint32_t plc_missing(const plc_tab_t *a, const plc_tab_t *b, uint32_t sh)
{
    uint32_t c = 0;
    for (uint32_t k = 0; k < a->n[sh]; k++)
        c += !plc_in(b, sh, a->rep[sh][k]);
    return c;
}

bool plc_owner_differs(const plc_tab_t *a, const plc_tab_t *b, uint32_t sh)
{
    return a->n[sh] != b->n[sh] || (a->n[sh] && a->rep[sh][0] != b->rep[sh][0]);
}

/* Same owner and same replica set for every shard. */
bool plc_same(const plc_tab_t *a, const plc_tab_t *b)
{
    for (uint32_t sh = 0; sh < PLC_S; sh++)
        if (plc_owner_differs(a, b, sh) || plc_missing(a, b, sh))
            return false;
    return true;
}

/* ---- routing --------------------------------------------------------- */

/* A call for sh entering at origin, routed by each member's route_decide
 * (node/route.c): forwarded with the forwarder's id, as node_call.c does
 * with the RPC frame's source, one hop per forward.  *at: where it ran. */
static enum plc_out plc_route(const sim_t *s, const plc_run_t *r, uint32_t sh,
                              uint32_t origin, uint32_t *at)
{
    uint32_t x = origin;
    const char *from = NULL;
    for (uint8_t hops = 0;; hops++) {
        const char *owner;
        enum route_action act = route_decide(r->rt[x], sh, hops, from, &owner);
        if (act == ROUTE_LOCAL) {
            *at = x;
            return PLC_SERVED;
        }
        if (act != ROUTE_FORWARD)
            return PLC_UNAVAIL;
        int j = sim_node_index(s, owner);
        SIM_CHECK(j >= 0, "n%04u forwards shard %u to unknown '%s'", x, sh, owner);
        from = s->nodes[x].id;
        x = (uint32_t)j;
        if (!plc_up(s, x))
            return PLC_LOST;
    }
}

/* For comparison only: the rule before the replica exception, on the
 * snapshots - the owner in my view runs it, anyone else forwards it there
 * until CALL_HOPS_MAX, so two views naming each other bounce the call to
 * `unavailable`. */
static enum plc_out plc_route_hops(const sim_t *s, const plc_run_t *r, uint32_t sh,
                                   uint32_t origin)
{
    uint32_t x = origin;
    for (uint32_t hops = 0;; hops++) {
        const plc_tab_t *t = &r->cur[x];
        if (t->n[sh] && t->rep[sh][0] == x)
            return PLC_SERVED;
        if (!t->n[sh] || hops >= CALL_HOPS_MAX)
            return PLC_UNAVAIL;
        x = t->rep[sh][0];
        if (!plc_up(s, x))
            return PLC_LOST;
    }
}

/* Every view is the old or the new table (the joiner's may be partial
 * until its seed's SYNC answer arrives).  Sets vstate[], records when each
 * first held the new one; returns whether they all agree. */
static bool plc_views_check(sim_t *s, plc_run_t *r)
{
    bool agree = true;
    for (uint32_t k = 0; k <= r->n; k++) {
        uint32_t i = r->m[k];
        if (!plc_up(s, i))
            continue;
        bool is_new = plc_same(&r->cur[i], &r->after);
        bool is_old = !is_new && plc_same(&r->cur[i], &r->before);
        agree = agree && is_new;
        r->vstate[i] = is_new ? PLC_VIEW_NEW : is_old ? PLC_VIEW_OLD : PLC_VIEW_OTHER;
        if (is_new && r->new_at[i] == UINT64_MAX)
            r->new_at[i] = s->now;
        SIM_CHECK(is_new || is_old || (r->phase == PLC_JOIN && i == r->subject),
                  "n%04u's table is neither the one before nor the one after the %s of "
                  "n%04u", i, r->phase == PLC_CRASH ? "crash" : "join", r->subject);
    }
    return agree;
}

/* The owner of sh moved between two live members A -> B, and A holds the
 * new table while B holds the old one: each names the other.  Under the
 * hop-only rule a call bounced between them until its hops ran out; now
 * the one the other hands it to serves it if its view gives it a replica.
 * README.md shows this is the only way a shard with a live owner can be
 * answered unavailable (when neither holds a replica in its own view). */
static bool plc_bouncing(const sim_t *s, const plc_run_t *r, uint32_t sh)
{
    uint32_t a = r->before.rep[sh][0], b = r->after.rep[sh][0];
    return a != b && plc_up(s, a) && r->vstate[a] == PLC_VIEW_NEW &&
           r->vstate[b] == PLC_VIEW_OLD;
}

/* Route the calls for shard sh from every live member into y. */
static void plc_sample_shard(sim_t *s, plc_run_t *r, uint32_t sh, plc_tally_t *y)
{
    bool bouncing = plc_bouncing(s, r, sh);
    uint32_t was = r->before.rep[sh][0], will = r->after.rep[sh][0];
    for (uint32_t k = 0; k <= r->n; k++) {
        uint32_t o = r->m[k], at = UINT32_MAX;
        if (!plc_up(s, o))
            continue;
        enum plc_out out = plc_route(s, r, sh, o, &at);
        SIM_CHECK(out != PLC_UNAVAIL || bouncing, "shard %u from n%04u: unavailable, "
                  "yet its owners n%04u -> n%04u do not name each other", sh, o, was, will);
        SIM_CHECK(out != PLC_SERVED || at == was || at == will ||
                      r->vstate[at] == PLC_VIEW_OTHER, /* the joiner, alone in its view */
                  "shard %u from n%04u: served at n%04u, neither its owner before (n%04u) "
                  "nor after (n%04u)", sh, o, at, was, will);
        y->pairs++;
        y->served += out == PLC_SERVED;
        y->by_conv += out == PLC_SERVED && at == r->after.rep[sh][0];
        y->unav += out == PLC_UNAVAIL;
        y->lost += out == PLC_LOST;
        y->alt += plc_route_hops(s, r, sh, o) == PLC_SERVED;
    }
}

void plc_tally_add(plc_tally_t *a, const plc_tally_t *b)
{
    a->pairs += b->pairs, a->served += b->served, a->by_conv += b->by_conv;
    a->unav += b->unav, a->lost += b->lost, a->alt += b->alt;
}

/* One instant: every (shard, live origin) pair. */
static void plc_sample(sim_t *s, plc_run_t *r)
{
    bool agree = plc_views_check(s, r);
    plc_tally_t t[2] = {{0}}; /* [1]: the crashed member's shards */
    for (uint32_t sh = 0; sh < PLC_S; sh++)
        plc_sample_shard(s, r, sh, &t[r->phase == PLC_CRASH && r->subj_owned[sh]]);
    if (agree) {
        SIM_CHECK(t[0].by_conv == t[0].pairs && t[1].by_conv == t[1].pairs,
                  "views agree, yet %llu of %llu calls miss the converged owner",
                  (unsigned long long)(t[0].pairs + t[1].pairs - t[0].by_conv -
                                       t[1].by_conv),
                  (unsigned long long)(t[0].pairs + t[1].pairs));
        return;
    }
    SIM_CHECK(t[0].lost == 0, "%llu calls for shards with a live owner were sent to "
              "the crashed n%04u", (unsigned long long)t[0].lost, r->subject);
    plc_res_t *p = &r->res;
    double served = plc_pct(t[0].served, t[0].pairs), alt = plc_pct(t[0].alt, t[0].pairs);
    double unav = plc_pct(t[0].unav, t[0].pairs);
    p->served_min = p->instants && p->served_min < served ? p->served_min : served;
    p->alt_min = p->instants && p->alt_min < alt ? p->alt_min : alt;
    p->unav_max = unav > p->unav_max ? unav : p->unav_max;
    p->below += alt < PLC_GOAL_PCT;
    p->instants++;
    SIM_CHECK(served >= PLC_GOAL_PCT, "%s of n%04u: %.2f %% of the calls for shards with a "
              "live owner served at this instant (%llu unavailable of %llu), goal %.0f %%",
              r->phase == PLC_CRASH ? "crash" : "join", r->subject, served,
              (unsigned long long)t[0].unav, (unsigned long long)t[0].pairs, PLC_GOAL_PCT);
    plc_tally_add(&p->all, &t[0]);
    plc_tally_add(&p->subj, &t[1]);
}

/* A member's set of eligible members changed: rebuild its table (once per
 * step: the core's table is final when its events are drained) and, in a
 * phase, sample the instant. */
void plc_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    plc_run_t *r = udata;
    int j = sim_node_index(s, ev->member.id);
    SIM_CHECK(j >= 0, "unknown member %s", ev->member.id);
    if (ev->member.state == SWIM_DEAD || ev->member.state == SWIM_LEFT)
        SIM_CHECK(r->phase == PLC_CRASH && (uint32_t)j == r->subject,
                  "n%04u declared the live %s %s (1 %% loss only)", obs, ev->member.id,
                  swim_state_name(ev->member.state));
    if (!r->tracking || r->built_step[obs] == s->ctr.steps)
        return;
    bool was = !ev->is_new && plc_eligible(ev->old_state);
    if (was == plc_eligible(ev->member.state))
        return;
    plc_build(s, r, obs);
    if (r->phase != PLC_IDLE)
        plc_sample(s, r);
}

