/*
 * sim_placement.c - shard placement over real membership views: every
 * member builds its shard table (sharding/stab.h) from ITS OWN SWIM member
 * table, as node/node_call.c does, while the cluster crashes a member and
 * admits a new one.  N = 10 and 50, S = 256, R = 3, 1 % loss, 0-20 ms
 * jitter.
 *
 *  1. Agreement.  After each convergence every member's table has the
 *     same owner and replica set for every shard as the table computed
 *     from the ground truth (the running nodes).  Epochs are not compared:
 *     they count the owner changes each member happened to see.
 *  2. Routing while views differ.  A call for shard s entering at member o
 *     follows node/route.c: the owner in the current member's view runs
 *     it; anyone else forwards it to that owner; a member that would have
 *     to forward it a 4th time (CALL_HOPS_MAX = 3), or sees no owner,
 *     answers `unavailable`.  A forward to the crashed member is lost (the
 *     caller times out).  Views change only at membership events, so the
 *     instants sampled are exactly the events that change some member's
 *     set of eligible members: every distinct configuration is seen.  At
 *     each one, for every (shard, live origin) pair:
 *       - shards the crashed member did not own: >= 99 % reach a live
 *         member that believes it owns the shard, the rest are answered
 *         unavailable, none is lost (asserted per instant);
 *       - shards it owned: before a member declares it dead, its view
 *         still names the crashed owner, so those calls are lost whatever
 *         the forwarding rule; reported, not asserted;
 *       - once every view agrees: every pair served by the converged owner.
 *     Per member: the shards whose owner differs from the converged answer
 *     (every view must be exactly the old or the new table) and for how
 *     long.
 *  3. Crash (silent) one member: after convergence the replica slots that
 *     moved equal the slots it held, within 4 standard deviations of
 *     Binomial(S, R/N) (the bound of tests/unit/stab_test.c), and no shard
 *     whose set did not contain it changes its set.
 *  4. Join a new member: the same, with the slots the new member holds and
 *     Binomial(S, R/N') where N' counts it.
 * README.md, "placement", has the derivation and the measured figures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sim.h"
#include "stab.h"

#define PLC_S 256
#define PLC_R 3
#define PLC_HOPS 3 /* CALL_HOPS_MAX, node/call.h */
#define PLC_N_MAX 64
#define PLC_RUNS_MAX 256
#define PLC_SERVED_MIN_PCT 99.0

/* A shard table by node index: rep[s][0] is the owner. */
typedef struct plc_tab {
    uint8_t n[PLC_S];
    uint16_t rep[PLC_S][PLC_R];
} plc_tab_t;

/* Outcomes of the (shard, origin) pairs of one instant, or of a phase. */
typedef struct plc_tally {
    uint64_t pairs, served, by_conv, unav, lost;
} plc_tally_t;

enum plc_phase { PLC_IDLE = 0, PLC_CRASH, PLC_JOIN };

typedef struct plc_phase_res {
    uint32_t instants;    /* sampled while views differed */
    double served_min;    /* worst instant, % of pairs (crash: its shards excluded) */
    double unav_max;      /* worst instant, % unavailable */
    plc_tally_t all;      /* over those instants: shards with a live owner */
    plc_tally_t subj;     /* crash: the shards the crashed member owned */
    uint32_t moved, held, owners, owners_outside;
    uint32_t diff;        /* owners differing between the old and the new table */
    uint32_t subj_shards; /* crash: shards the crashed member owned */
    uint64_t stale_max;   /* ms from the change until the last member's view agreed */
} plc_phase_res_t;

typedef struct plc_run {
    uint32_t n;      /* members booted; node n is the joiner */
    stab_t *tab[PLC_N_MAX];
    plc_tab_t cur[PLC_N_MAX];      /* each member's table, as of its last change */
    uint64_t built_step[PLC_N_MAX];
    uint64_t agreed_at[PLC_N_MAX]; /* when its view first equalled `after` */
    bool tracking;    /* tables follow their member's events */
    enum plc_phase phase;
    uint32_t subject; /* the crashed or the joining member */
    uint64_t t0;      /* the crash or the join */
    plc_tab_t before, after;
    bool subj_owned[PLC_S];
    plc_phase_res_t res;
    swim_member_view_t mv[PLC_N_MAX];
    stab_member_t sv[PLC_N_MAX];
} plc_run_t;

typedef struct plc_case {
    const char *name;
    uint32_t n, seeds;
    uint64_t spread_ms;
    plc_phase_res_t crash[PLC_RUNS_MAX], join[PLC_RUNS_MAX];
    size_t runs;
} plc_case_t;

static bool plc_eligible(enum swim_state st)
{
    return st == SWIM_ALIVE || st == SWIM_SUSPECT;
}

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
static void plc_build(sim_t *s, plc_run_t *r, uint32_t i)
{
    const swim_t *core = s->nodes[i].core;
    size_t cnt = swim_member_count(core), k = 0;
    SIM_CHECK(cnt <= PLC_N_MAX, "n%04u lists %zu members", i, cnt);
    for (size_t m = 0; m < cnt; m++)
        if (swim_member_get(core, m, &r->mv[k]) == 0) {
            r->sv[k] = (stab_member_t){.id = r->mv[k].id, .state = r->mv[k].state};
            k++;
        }
    int rc = stab_update(r->tab[i], r->sv, k, NULL);
    SIM_CHECK(rc >= 0, "n%04u: stab_update of its own view = %d", i, rc);
    stab_check_invariants(r->tab[i]);
    plc_snapshot(s, r->tab[i], &r->cur[i]);
    r->built_step[i] = s->ctr.steps;
}

/* The table of the ground truth, computed before the change happens: the
 * running nodes and `joiner` alive, `dead` dead (UINT32_MAX: none). */
static void plc_reference(sim_t *s, stab_t *t, uint32_t dead, uint32_t joiner,
                          plc_tab_t *out, stab_delta_t *d)
{
    stab_member_t v[PLC_N_MAX];
    size_t k = 0;
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        if (i == dead)
            v[k++] = (stab_member_t){.id = s->nodes[i].id, .state = SWIM_DEAD};
        else if (s->nodes[i].st == SIM_NODE_UP || i == joiner)
            v[k++] = (stab_member_t){.id = s->nodes[i].id, .state = SWIM_ALIVE};
    }
    SIM_CHECK(stab_update(t, v, k, d) >= 0, "reference stab_update");
    plc_snapshot(s, t, out);
}

static bool plc_in(const plc_tab_t *t, uint32_t sh, uint32_t m)
{
    for (uint32_t k = 0; k < t->n[sh]; k++)
        if (t->rep[sh][k] == m)
            return true;
    return false;
}

/* |a's set of sh minus b's|. */
static uint32_t plc_missing(const plc_tab_t *a, const plc_tab_t *b, uint32_t sh)
{
    uint32_t c = 0;
    for (uint32_t k = 0; k < a->n[sh]; k++)
        c += !plc_in(b, sh, a->rep[sh][k]);
    return c;
}

/* Same owner and same replica set for every shard. */
static bool plc_same(const plc_tab_t *a, const plc_tab_t *b)
{
    for (uint32_t sh = 0; sh < PLC_S; sh++)
        if (a->n[sh] != b->n[sh] || (a->n[sh] && a->rep[sh][0] != b->rep[sh][0]) ||
            plc_missing(a, b, sh))
            return false;
    return true;
}

static uint32_t plc_owner_diff(const plc_tab_t *a, const plc_tab_t *b)
{
    uint32_t c = 0;
    for (uint32_t sh = 0; sh < PLC_S; sh++)
        c += a->n[sh] != b->n[sh] || (a->n[sh] && a->rep[sh][0] != b->rep[sh][0]);
    return c;
}

/* ---- routing (node/route.c route_decide, one hop per forward) -------- */

enum plc_out { PLC_SERVED, PLC_UNAVAIL, PLC_LOST };

static enum plc_out plc_route(const sim_t *s, const plc_run_t *r, uint32_t sh,
                              uint32_t origin, uint32_t *at)
{
    uint32_t x = origin;
    for (uint32_t hops = 0;; hops++) {
        const plc_tab_t *t = &r->cur[x];
        if (t->n[sh] && t->rep[sh][0] == x) {
            *at = x;
            return PLC_SERVED;
        }
        if (!t->n[sh] || hops >= PLC_HOPS)
            return PLC_UNAVAIL;
        x = t->rep[sh][0];
        if (s->nodes[x].st != SIM_NODE_UP)
            return PLC_LOST;
    }
}

static void plc_tally_add(plc_tally_t *a, const plc_tally_t *b)
{
    a->pairs += b->pairs, a->served += b->served, a->by_conv += b->by_conv;
    a->unav += b->unav, a->lost += b->lost;
}

static double plc_pct(uint64_t x, uint64_t of)
{
    return of ? 100.0 * (double)x / (double)of : 100.0;
}

/* Every member's view is the old or the new table (the joiner may hold a
 * partial one until the seed's SYNC answer reaches it); returns whether
 * they all agree, and records when each first held the new one. */
static bool plc_views_check(sim_t *s, plc_run_t *r)
{
    bool agree = true;
    for (uint32_t i = 0; i <= r->n; i++) {
        if (s->nodes[i].st != SIM_NODE_UP)
            continue;
        bool is_new = plc_same(&r->cur[i], &r->after);
        agree = agree && is_new;
        if (is_new && r->agreed_at[i] == UINT64_MAX)
            r->agreed_at[i] = s->now;
        if (is_new || (r->phase == PLC_JOIN && i == r->subject))
            continue;
        SIM_CHECK(plc_same(&r->cur[i], &r->before),
                  "n%04u's table is neither the one before nor the one after the %s of "
                  "n%04u", i, r->phase == PLC_CRASH ? "crash" : "join", r->subject);
    }
    return agree;
}

/* One instant: route every (shard, live origin) pair. */
static void plc_sample(sim_t *s, plc_run_t *r)
{
    bool agree = plc_views_check(s, r);
    plc_tally_t t[2] = {{0}}; /* [1]: the crashed member's shards */
    for (uint32_t sh = 0; sh < PLC_S; sh++) {
        plc_tally_t *y = &t[r->phase == PLC_CRASH && r->subj_owned[sh]];
        for (uint32_t o = 0; o <= r->n; o++) {
            if (s->nodes[o].st != SIM_NODE_UP)
                continue;
            uint32_t at = UINT32_MAX;
            enum plc_out out = plc_route(s, r, sh, o, &at);
            y->pairs++;
            y->served += out == PLC_SERVED;
            y->by_conv += out == PLC_SERVED && at == r->after.rep[sh][0];
            y->unav += out == PLC_UNAVAIL;
            y->lost += out == PLC_LOST;
        }
    }
    if (agree) {
        SIM_CHECK(t[0].by_conv == t[0].pairs && t[1].by_conv == t[1].pairs,
                  "views agree, yet %llu + %llu of %llu pairs are not served by the "
                  "converged owner", (unsigned long long)(t[0].pairs - t[0].by_conv),
                  (unsigned long long)(t[1].pairs - t[1].by_conv),
                  (unsigned long long)(t[0].pairs + t[1].pairs));
        return;
    }
    double served = plc_pct(t[0].served, t[0].pairs), unav = plc_pct(t[0].unav, t[0].pairs);
    SIM_CHECK(t[0].lost == 0, "%llu calls for shards with a live owner were forwarded to "
              "the crashed n%04u", (unsigned long long)t[0].lost, r->subject);
    SIM_CHECK(served >= PLC_SERVED_MIN_PCT,
              "views differ: only %.2f %% of %llu (shard, origin) pairs reach a member "
              "that owns the shard in its view (%.2f %% unavailable)", served,
              (unsigned long long)t[0].pairs, unav);
    plc_phase_res_t *p = &r->res;
    p->served_min = p->instants && p->served_min < served ? p->served_min : served;
    p->unav_max = unav > p->unav_max ? unav : p->unav_max;
    p->instants++;
    plc_tally_add(&p->all, &t[0]);
    plc_tally_add(&p->subj, &t[1]);
}

/* A member's set of eligible members changed: rebuild its table (once per
 * step - the core's table is final when its events are drained) and, in a
 * phase, sample the instant. */
static void plc_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
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

/* ---- phases ---------------------------------------------------------- */

/* Claim 1: every live member's own table equals the ground truth. */
static void plc_check_agreement(sim_t *s, plc_run_t *r, const plc_tab_t *truth,
                                const char *when)
{
    for (uint32_t i = 0; i <= r->n; i++) {
        if (s->nodes[i].st != SIM_NODE_UP)
            continue;
        plc_build(s, r, i);
        SIM_CHECK(plc_same(&r->cur[i], truth), "%s: n%04u's table differs from the "
                  "ground truth in %u owners", when, i, plc_owner_diff(&r->cur[i], truth));
    }
}

/* Claims 3 and 4: only the subject's sets change, each by one slot. */
static void plc_check_moves(plc_run_t *r, const stab_delta_t *d, uint32_t eligible)
{
    plc_phase_res_t *p = &r->res;
    const plc_tab_t *with = r->phase == PLC_CRASH ? &r->before : &r->after;
    for (uint32_t sh = 0; sh < PLC_S; sh++) {
        uint32_t added = plc_missing(&r->after, &r->before, sh);
        uint32_t removed = plc_missing(&r->before, &r->after, sh);
        bool touched = plc_in(with, sh, r->subject);
        bool owner = r->before.rep[sh][0] != r->after.rep[sh][0];
        p->held += touched;
        p->owners += owner;
        p->owners_outside += owner && !touched;
        if (touched) {
            SIM_CHECK(added == 1 && removed == 1, "shard %u: +%u -%u slots", sh, added,
                      removed);
            p->moved++;
        } else {
            SIM_CHECK(added + removed == 0, "shard %u's set changed (+%u -%u) without "
                      "containing n%04u", sh, added, removed, r->subject);
        }
    }
    SIM_CHECK(p->moved == d->slots_moved, "moved %u slots, stab_update says %u", p->moved,
              d->slots_moved);
    /* stab_test.c: the count is Binomial(S, R/N), within 4 sd. */
    double q = (double)PLC_R / eligible, mean = PLC_S * q, var = PLC_S * q * (1 - q);
    double dev = p->moved - mean;
    SIM_CHECK(dev * dev < 16 * var, "moved %u slots, expected %.1f +- %.1f", p->moved,
              mean, 4 * sqrt(var));
    p->diff = plc_owner_diff(&r->before, &r->after);
}

static void plc_phase_begin(plc_run_t *r, enum plc_phase ph, uint32_t subject,
                            uint64_t now)
{
    memset(&r->res, 0, sizeof r->res);
    r->phase = ph;
    r->subject = subject;
    r->t0 = now;
    for (uint32_t i = 0; i < PLC_N_MAX; i++)
        r->agreed_at[i] = UINT64_MAX;
}

static void plc_phase_end(sim_t *s, plc_run_t *r, const char *what)
{
    for (uint32_t i = 0; i <= r->n; i++)
        if (s->nodes[i].st == SIM_NODE_UP) {
            SIM_CHECK(r->agreed_at[i] != UINT64_MAX, "%s: n%04u never held the new "
                      "table", what, i);
            uint64_t ms = r->agreed_at[i] - r->t0;
            r->res.stale_max = ms > r->res.stale_max ? ms : r->res.stale_max;
        }
    r->phase = PLC_IDLE;
    const plc_phase_res_t *p = &r->res;
    printf("  %s of n%04u: slots moved %u (= held), owners changed %u (%u outside its "
           "sets, stale views differ in %u); %u instants with views differing over %llu ms: served >= %.2f %%, "
           "unavailable <= %.2f %% (mean %.3f %%)", what, r->subject, p->moved, p->owners,
           p->owners_outside, p->diff, p->instants, (unsigned long long)p->stale_max, p->served_min,
           p->unav_max, plc_pct(p->all.unav, p->all.pairs));
    if (p->subj.pairs)
        printf("; its %u shards: %.1f %% served, %.1f %% lost", p->subj_shards,
               plc_pct(p->subj.served, p->subj.pairs), plc_pct(p->subj.lost, p->subj.pairs));
    printf("\n");
}

static uint64_t plc_deadline(const sim_cfg_t *c, uint32_t n, bool detect)
{
    const swim_config_t *w = &c->swim;
    uint64_t d = sim_dissem_ms(w, n) + sim_pushpull_ms(w, n);
    return detect ? d + 11ull * w->probe_interval_ms + sim_susp_max_ms(w, n) : d + 1000;
}

static void plc_one(uint64_t seed, void *udata)
{
    plc_case_t *c = udata;
    plc_run_t *r = calloc(1, sizeof *r);
    SH_ASSERT(r != NULL && c->n + 1 <= PLC_N_MAX);
    r->n = c->n;
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, c->n + 1);
    cfg.net.loss = 0.01;
    cfg.net.jitter_ms = 20;
    cfg.on_event = plc_on_event;
    cfg.udata = r;
    stab_config_t sc;
    stab_config_default(&sc);
    sc.shards = PLC_S, sc.replicas = PLC_R, sc.max_members = PLC_N_MAX;
    stab_t *ref;
    SH_ASSERT(stab_new(&ref, &sc) == 0);
    for (uint32_t i = 0; i <= c->n; i++)
        SH_ASSERT(stab_new(&r->tab[i], &sc) == 0);
    sim_t *s = sim_new(&cfg, seed);
    sh_rng_t rng;
    uint64_t x = seed ^ 0x706c6163ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));

    /* Boot and agree (claim 1). */
    stab_delta_t d;
    sim_boot_converged(s, c->n, c->spread_ms, NULL);
    plc_reference(s, ref, UINT32_MAX, UINT32_MAX, &r->before, &d);
    plc_check_agreement(s, r, &r->before, "after the join of all");
    r->tracking = true;
    sim_run_until(s, s->now + sh_rng_below(&rng, cfg.swim.probe_interval_ms));

    /* Crash one member silently (claims 2 and 3). */
    uint32_t v = (uint32_t)sh_rng_below(&rng, c->n);
    plc_phase_begin(r, PLC_CRASH, v, s->now);
    plc_reference(s, ref, v, UINT32_MAX, &r->after, &d);
    for (uint32_t sh = 0; sh < PLC_S; sh++) {
        r->subj_owned[sh] = r->before.rep[sh][0] == v;
        r->res.subj_shards += r->subj_owned[sh];
    }
    sim_node_crash(s, v, false);
    sim_converge(s, s->now + plc_deadline(&cfg, c->n, true), "after the crash");
    plc_check_agreement(s, r, &r->after, "after the crash");
    plc_check_moves(r, &d, c->n);
    plc_phase_end(s, r, "crash");
    if (c->runs < PLC_RUNS_MAX)
        c->crash[c->runs] = r->res;

    /* A new member joins through a random survivor (claims 2 and 4). */
    sim_run_until(s, s->now + sh_rng_below(&rng, cfg.swim.probe_interval_ms));
    r->before = r->after;
    uint32_t seed_node;
    do
        seed_node = (uint32_t)sh_rng_below(&rng, c->n);
    while (seed_node == v);
    plc_phase_begin(r, PLC_JOIN, c->n, s->now);
    plc_reference(s, ref, v, c->n, &r->after, &d);
    sim_node_start(s, c->n, &seed_node, 1);
    sim_converge(s, s->now + plc_deadline(&cfg, c->n, false), "after the join");
    plc_check_agreement(s, r, &r->after, "after the join");
    plc_check_moves(r, &d, c->n);
    plc_phase_end(s, r, "join");
    if (c->runs < PLC_RUNS_MAX)
        c->join[c->runs++] = r->res;

    sim_check_all(s);
    sim_free(s);
    stab_free(ref);
    for (uint32_t i = 0; i <= c->n; i++)
        stab_free(r->tab[i]);
    free(r);
}

/* ---- summary --------------------------------------------------------- */

static void plc_summary(const plc_case_t *c, const char *what, const plc_phase_res_t *v)
{
    if (!c->runs)
        return;
    uint64_t moved[PLC_RUNS_MAX], stale[PLC_RUNS_MAX];
    uint32_t outside = 0, inst = 0;
    double served_min = 100, unav_max = 0;
    plc_tally_t all = {0}, subj = {0};
    for (size_t i = 0; i < c->runs; i++) {
        moved[i] = v[i].moved;
        stale[i] = v[i].stale_max;
        outside = v[i].owners_outside > outside ? v[i].owners_outside : outside;
        inst += v[i].instants;
        served_min = v[i].served_min < served_min ? v[i].served_min : served_min;
        unav_max = v[i].unav_max > unav_max ? v[i].unav_max : unav_max;
        plc_tally_add(&all, &v[i].all);
        plc_tally_add(&subj, &v[i].subj);
    }
    double q = (double)PLC_R / c->n;
    uint64_t mx = sim_max(moved, c->runs), smx = sim_max(stale, c->runs);
    uint64_t md = sim_median(moved, c->runs), smd = sim_median(stale, c->runs);
    printf("%-4u %-5s %4zu %6llu %5llu %9.1f %9.1f %7u %8u %8.2f %7.3f %8.2f %6llu %6llu",
           c->n, what, c->runs, (unsigned long long)md, (unsigned long long)mx,
           PLC_S * q, 4 * sqrt(PLC_S * q * (1 - q)), outside, inst, served_min,
           plc_pct(all.unav, all.pairs), unav_max, (unsigned long long)smd,
           (unsigned long long)smx);
    if (subj.pairs)
        printf("  its shards: %.1f %% served, %.1f %% lost",
               plc_pct(subj.served, subj.pairs), plc_pct(subj.lost, subj.pairs));
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

    printf("\nS=%u R=%u; moved = replica slots moved (= slots the member held), expected "
           "S*R/N +- 4 sd; outside = owner changes in sets without the member (max); "
           "served/unav over the instants while views differed (crash: the crashed "
           "member's own shards excluded); stale = ms until every view agreed\n",
           PLC_S, PLC_R);
    printf("%-4s %-5s %4s %6s %5s %9s %9s %7s %8s %8s %7s %8s %6s %6s\n", "N", "phase",
           "runs", "moved", "max", "expected", "4sd", "outside", "instants", "served>=",
           "unav%", "unav%max", "stale", "max");
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
        plc_summary(&cases[i], "crash", cases[i].crash);
        plc_summary(&cases[i], "join", cases[i].join);
    }
    return 0;
}
