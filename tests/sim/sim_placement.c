/*
 * sim_placement.c - shard placement over real membership views.  Every
 * member builds its shard table (sharding/stab.h) from ITS OWN SWIM member
 * table, as node/node_call.c does, while one member crashes (silently) and
 * then a new one joins.  N = 10 and 50, S = 256, R = 3, 1 % loss, 1-30 ms
 * one way.  Ids are a random subset of a larger world, so placement
 * differs from seed to seed.  README.md, "placement", derives the bounds.
 * This file runs the phases and checks claims 1, 3 and 4 after each
 * convergence; plc_views.c keeps the members' tables and checks claim 2
 * at every change; plc.h is what they share.
 *
 *  1. Agreement: after each convergence every member's table has the same
 *     owner and replica set for every shard as the ground truth's (epochs
 *     are not compared: they count the owner changes a member happened to
 *     see).
 *  2. Routing while views differ.  Every member routes with its own
 *     route_t (node/route.c itself, fed the member's SWIM view as
 *     node_call.c feeds it): a call for shard s entering at member o runs
 *     where route_decide says ROUTE_LOCAL - at the owner in that member's
 *     view, or at a replica the owner it names handed the call to - and
 *     follows ROUTE_FORWARD otherwise, passing the forwarder's id; a
 *     forward to the crashed member is lost (the caller times out).
 *     Tables change only at membership events, so sampling at each event
 *     that changes someone's set of eligible members sees every
 *     configuration the cluster goes through.  Asserted at each one:
 *     every view is exactly the old or the new table (the joiner excepted
 *     until its SYNC answer); no call for a shard with a live owner is
 *     lost; a call is served only at the shard's owner before or after
 *     the change; it is answered unavailable only if the owner moved
 *     between two live members A -> B while A holds the new table and B
 *     the old one (they name each other); at least PLC_GOAL_PCT of the
 *     calls for shards with a live owner are served; once all views
 *     agree, every call is served by the converged owner.  Measured for
 *     comparison: the % the hop-only rule (before the replica exception)
 *     would serve, and for the crashed member's own shards, which views
 *     that have not declared it dead still send to it whatever the rule,
 *     how many are lost.
 *  3. Crash: after convergence the replica slots that moved equal the
 *     slots it held, within 4 sd of Binomial(S, R/N) (the bound of
 *     tests/unit/stab_balance_test.c), and no set without it changes.
 *  4. Join: the same with the slots the new member holds, R/N' with N'
 *     counting it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plc.h"
#include "sh_assert.h"

typedef struct plc_case {
    const char *name;
    uint32_t n, seeds;
    uint64_t spread_ms;
    plc_res_t crash[PLC_RUNS_MAX], join[PLC_RUNS_MAX];
    size_t runs;
} plc_case_t;

/* ---- claims after convergence ----------------------------------------- */

/* Claim 1: every live member's own table equals the ground truth's. */
static void plc_check_agreement(sim_t *s, plc_run_t *r, const plc_tab_t *truth,
                                const char *when)
{
    for (uint32_t k = 0; k <= r->n; k++) {
        uint32_t i = r->m[k];
        if (!plc_up(s, i))
            continue;
        plc_build(s, r, i);
        SIM_CHECK(plc_same(&r->cur[i], truth), "%s: n%04u's table is not the ground "
                  "truth's", when, i);
    }
}

/* Claims 3 and 4: exactly the subject's sets change, by one slot each. */
static void plc_check_moves(plc_run_t *r, const stab_delta_t *d, uint32_t eligible)
{
    plc_res_t *p = &r->res;
    const plc_tab_t *with = r->phase == PLC_CRASH ? &r->before : &r->after;
    for (uint32_t sh = 0; sh < PLC_S; sh++) {
        uint32_t added = plc_missing(&r->after, &r->before, sh);
        uint32_t removed = plc_missing(&r->before, &r->after, sh);
        bool held = plc_in(with, sh, r->subject);
        bool owner = plc_owner_differs(&r->before, &r->after, sh);
        SIM_CHECK(held ? added == 1 && removed == 1 : added + removed == 0,
                  "shard %u: +%u -%u slots; n%04u %s in its set", sh, added, removed,
                  r->subject, held ? "is" : "is not");
        p->moved += held;
        p->owners += owner;
        p->outside += owner && !held;
    }
    SIM_CHECK(p->moved == d->slots_moved, "moved %u slots, stab_update says %u", p->moved,
              d->slots_moved);
    /* stab_balance_test.c: Binomial(S, R/N), within 4 standard deviations. */
    double q = (double)PLC_R / eligible, mean = PLC_S * q, var = PLC_S * q * (1 - q);
    SIM_CHECK((p->moved - mean) * (p->moved - mean) < 16 * var,
              "moved %u slots, expected %.1f +- %.1f", p->moved, mean, 4 * sqrt(var));
}

/* ---- phases ---------------------------------------------------------- */

static void plc_phase_begin(sim_t *s, plc_run_t *r, enum plc_phase ph, uint32_t subject)
{
    memset(&r->res, 0, sizeof r->res);
    r->phase = ph;
    r->subject = subject;
    r->t0 = s->now;
    for (uint32_t k = 0; k <= r->n; k++)
        r->new_at[r->m[k]] = UINT64_MAX;
}

/* sim_converged counts a suspect as "not alive"; placement still counts it
 * eligible, so also wait until no view holds a crashed member eligible. */
static bool plc_converged(sim_t *s, void *udata)
{
    const plc_run_t *r = udata;
    if (!sim_converged(s, NULL))
        return false;
    for (uint32_t k = 0; k <= r->n; k++) {
        swim_member_view_t m;
        if (!plc_up(s, r->m[k]))
            continue;
        for (uint32_t l = 0; l <= r->n; l++)
            if (s->nodes[r->m[l]].st == SIM_NODE_DOWN &&
                swim_member_find(s->nodes[r->m[k]].core, s->nodes[r->m[l]].id, &m) == 0 &&
                plc_eligible(m.state))
                return false;
    }
    return true;
}

/* Converge (setup, not a claim: sim_detect and sim_restart hold the
 * timing bounds), check claims 1, 3/4, print the run's line. */
static void plc_phase_end(sim_t *s, plc_run_t *r, uint64_t deadline, stab_delta_t *d,
                          uint32_t eligible, const char *what)
{
    if (sim_run_until_pred(s, deadline, 10, plc_converged, r) == UINT64_MAX) {
        sim_explain(s, 20);
        sim_fail(__FILE__, __LINE__, "%s: no agreement on eligible members by t=%llu ms",
                 what, (unsigned long long)deadline);
    }
    plc_check_agreement(s, r, &r->after, what);
    plc_check_moves(r, d, eligible);
    uint64_t ms[PLC_N_MAX];
    size_t n = 0;
    for (uint32_t k = 0; k <= r->n; k++)
        if (plc_up(s, r->m[k])) {
            SIM_CHECK(r->new_at[r->m[k]] != UINT64_MAX, "%s: n%04u never held the new "
                      "table", what, r->m[k]);
            ms[n++] = r->new_at[r->m[k]] - r->t0;
        }
    plc_res_t *p = &r->res;
    p->new_max = sim_max(ms, n);
    p->new_med = sim_median(ms, n);
    r->phase = PLC_IDLE;
    printf("  %s n%04u: %u replica slots moved (= held), %u owners changed (%u outside "
           "its sets); views new after median %llu ms, max %llu ms\n    %u instants "
           "while views differed: served >= %.2f %%, unavailable <= %.2f %% (mean %.3f "
           "%%); hop-only rule: served >= %.2f %%, < 99 %% at %u",
           what, r->subject, p->moved, p->owners, p->outside, (unsigned long long)p->new_med,
           (unsigned long long)p->new_max, p->instants, p->served_min, p->unav_max,
           plc_pct(p->all.unav, p->all.pairs), p->alt_min, p->below);
    if (p->subj.pairs)
        printf("; its %u shards: %.1f %% served, %.1f %% lost", p->subj_shards,
               plc_pct(p->subj.served, p->subj.pairs), plc_pct(p->subj.lost, p->subj.pairs));
    printf("\n");
}

static int plc_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* sim_boot over a random subset of a larger world: node i is always
 * n%04u, and placement is a function of the ids, so booting nodes 0..n-1
 * would place the shards the same way in every seed.  m[0] starts alone,
 * m[1..n) join through it at sorted uniform times; m[n] joins later. */
static uint64_t plc_boot(sim_t *s, plc_run_t *r, sh_rng_t *rng, uint64_t spread_ms)
{
    uint32_t world = s->cfg.n_nodes, *perm = malloc(world * sizeof *perm);
    uint64_t at[PLC_N_MAX];
    SH_ASSERT(perm != NULL);
    for (uint32_t i = 0; i < world; i++)
        perm[i] = i;
    for (uint32_t k = 0; k <= r->n; k++) {
        uint32_t j = k + (uint32_t)sh_rng_below(rng, world - k), tmp = perm[k];
        perm[k] = perm[j], perm[j] = tmp;
        r->m[k] = perm[k];
        at[k] = s->now + 1 + sh_rng_below(rng, spread_ms);
    }
    free(perm);
    qsort(at + 1, r->n - 1, sizeof *at, plc_u64_cmp);
    sim_node_start(s, r->m[0], NULL, 0);
    for (uint32_t k = 1; k < r->n; k++) {
        sim_run_until(s, at[k]);
        sim_node_start(s, r->m[k], &r->m[0], 1);
    }
    const swim_config_t *w = &s->cfg.swim;
    return sim_converge(s, at[r->n - 1] + sim_dissem_ms(w, r->n) +
                               10 * sim_pushpull_ms(w, r->n), "initial join");
}

static plc_run_t *plc_run_new(uint32_t n, uint32_t world)
{
    plc_run_t *r = calloc(1, sizeof *r);
    SH_ASSERT(r != NULL && n + 1 <= PLC_N_MAX);
    r->n = n;
    r->rt = calloc(world, sizeof *r->rt);
    r->cur = calloc(world, sizeof *r->cur);
    r->built_step = calloc(world, sizeof *r->built_step);
    r->new_at = calloc(world, sizeof *r->new_at);
    r->vstate = calloc(world, sizeof *r->vstate);
    SH_ASSERT(r->rt && r->cur && r->built_step && r->new_at && r->vstate);
    return r;
}

static void plc_run_free(plc_run_t *r, uint32_t world)
{
    for (uint32_t i = 0; i < world; i++)
        route_free(r->rt[i]);
    free(r->rt);
    free(r->cur);
    free(r->built_step);
    free(r->new_at);
    free(r->vstate);
    free(r);
}

static void plc_one(uint64_t seed, void *udata)
{
    plc_case_t *c = udata;
    uint32_t world = PLC_WORLD_MULT * (c->n + 1);
    plc_run_t *r = plc_run_new(c->n, world);
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, world);
    cfg.net.loss = 0.01;
    cfg.net.jitter_ms = 20;
    cfg.on_event = plc_on_event;
    cfg.udata = r;
    const swim_config_t *w = &cfg.swim;
    stab_config_t sc;
    stab_config_default(&sc);
    sc.shards = PLC_S, sc.replicas = PLC_R, sc.max_members = PLC_N_MAX;
    stab_t *ref;
    SH_ASSERT(stab_new(&ref, &sc) == 0);
    sim_t *s = sim_new(&cfg, seed);
    sh_rng_t rng;
    uint64_t x = seed ^ 0x706c6163ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));
    stab_delta_t d;

    plc_boot(s, r, &rng, c->spread_ms);
    for (uint32_t k = 0; k <= r->n; k++) {
        route_config_t rc = {.self_id = s->nodes[r->m[k]].id, .shards = PLC_S,
                             .replicas = PLC_R, .max_members = PLC_N_MAX};
        SH_ASSERT(route_new(&r->rt[r->m[k]], &rc) == 0);
    }
    plc_reference(s, ref, UINT32_MAX, UINT32_MAX, &r->before, &d);
    plc_check_agreement(s, r, &r->before, "after the initial join");
    r->tracking = true;

    /* Crash a member silently: the slowest detection, the longest window. */
    sim_run_until(s, s->now + sh_rng_below(&rng, w->probe_interval_ms));
    uint32_t v = r->m[sh_rng_below(&rng, c->n)];
    plc_phase_begin(s, r, PLC_CRASH, v);
    plc_reference(s, ref, v, UINT32_MAX, &r->after, &d);
    for (uint32_t sh = 0; sh < PLC_S; sh++) {
        r->subj_owned[sh] = r->before.rep[sh][0] == v;
        r->res.subj_shards += r->subj_owned[sh];
    }
    sim_node_crash(s, v, false);
    plc_phase_end(s, r, s->now + 11ull * w->probe_interval_ms + sim_susp_max_ms(w, c->n) +
                            sim_dissem_ms(w, c->n) + sim_pushpull_ms(w, c->n),
                  &d, c->n, "crash");
    if (c->runs < PLC_RUNS_MAX)
        c->crash[c->runs] = r->res;

    /* A new member joins through a random survivor. */
    sim_run_until(s, s->now + sh_rng_below(&rng, w->probe_interval_ms));
    r->before = r->after;
    uint32_t via, joiner = r->m[c->n];
    do
        via = r->m[sh_rng_below(&rng, c->n)];
    while (via == v);
    plc_phase_begin(s, r, PLC_JOIN, joiner);
    plc_reference(s, ref, v, joiner, &r->after, &d);
    sim_node_start(s, joiner, &via, 1);
    plc_phase_end(s, r, s->now + 1000 + sim_dissem_ms(w, c->n) + sim_pushpull_ms(w, c->n),
                  &d, c->n, "join");
    if (c->runs < PLC_RUNS_MAX)
        c->join[c->runs++] = r->res;

    sim_check_all(s);
    sim_free(s);
    stab_free(ref);
    plc_run_free(r, world);
}

/* ---- summary --------------------------------------------------------- */

static void plc_row(const plc_case_t *c, const char *what, const plc_res_t *v)
{
    uint64_t moved[PLC_RUNS_MAX] = {0}, own[PLC_RUNS_MAX] = {0}, stale[PLC_RUNS_MAX] = {0};
    uint32_t outside = 0, inst = 0, below = 0, runs_below = 0;
    double served_min = 100, unav_max = 0, alt_min = 100;
    plc_tally_t all = {0}, subj = {0};
    for (size_t i = 0; i < c->runs; i++) {
        moved[i] = v[i].moved, own[i] = v[i].owners, stale[i] = v[i].new_max;
        outside = v[i].outside > outside ? v[i].outside : outside;
        inst += v[i].instants, below += v[i].below, runs_below += v[i].below > 0;
        served_min = v[i].served_min < served_min ? v[i].served_min : served_min;
        alt_min = v[i].alt_min < alt_min ? v[i].alt_min : alt_min;
        unav_max = v[i].unav_max > unav_max ? v[i].unav_max : unav_max;
        plc_tally_add(&all, &v[i].all);
        plc_tally_add(&subj, &v[i].subj);
    }
    double q = (double)PLC_R / c->n;
    unsigned long long mmx = sim_max(moved, c->runs), omx = sim_max(own, c->runs);
    unsigned long long smx = sim_max(stale, c->runs);
    unsigned long long mmd = sim_median(moved, c->runs), omd = sim_median(own, c->runs);
    unsigned long long smd = sim_median(stale, c->runs);
    printf("%-3u %-5s %4zu %5.1f+-%4.1f %4llu %4llu %4llu %4llu %3u | %5llu %5llu %5u "
           "%4u/%-4u %6.2f %5.2f %6.3f %6.2f", c->n, what, c->runs, PLC_S * q,
           4 * sqrt(PLC_S * q * (1 - q)), mmd, mmx, omd, omx, outside, smd, smx, inst,
           below, runs_below, served_min, unav_max, plc_pct(all.unav, all.pairs), alt_min);
    if (subj.pairs)
        printf(" %5.1f %5.1f", plc_pct(subj.served, subj.pairs),
               plc_pct(subj.lost, subj.pairs));
    printf("\n");
}

int main(void)
{
    sim_main_init("placement");
    bool san = sim_sanitized();
    static plc_case_t cases[] = {
        {.name = "placement/n=10", .n = 10, .spread_ms = 1000},
        {.name = "placement/n=50", .n = 50, .spread_ms = 2000},
    };
    cases[0].seeds = san ? 4 : 40;
    cases[1].seeds = san ? 2 : 20;
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++)
        sim_sweep(cases[i].name, cases[i].seeds, plc_one, &cases[i]);

    printf("\nS=%u R=%u.  expected: slots moved, S*R/N +- 4 sd; moved, owners: median "
           "max over runs; out: owner changes in sets without the member (max).  Views: "
           "ms until every view was new (median, max); instants while views differed, "
           "those where the hop-only rule (before the replica exception) would serve "
           "< 99 %% / runs with one; per instant: worst %% served, worst %% unavailable, "
           "mean %% unavailable, worst %% the hop-only rule would serve; crash: the "
           "crashed member's own shards, %% served and %% lost\n", PLC_S, PLC_R);
    printf("%-3s %-5s %4s %11s %9s %9s %3s | %11s %5s %9s %6s %5s %6s %6s %5s %5s\n", "N",
           "phase", "runs", "expected", "moved", "owners", "out", "views ms", "inst",
           "hops<99%", "served", "unav", "unav%", "hops", "own%", "lost%");
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++)
        if (cases[i].runs) {
            plc_row(&cases[i], "crash", cases[i].crash);
            plc_row(&cases[i], "join", cases[i].join);
        }
    return 0;
}
