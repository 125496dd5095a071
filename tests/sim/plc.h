/*
 * plc.h - the placement scenario's (sim_placement.c) shared state: shard
 * tables by node index, the per-member routers, and the tallies of where
 * calls end.  plc_views.c keeps every member's table in step with its own
 * SWIM view and samples routing at each change; sim_placement.c runs the
 * phases and checks the claims after convergence.
 */
#ifndef PLC_H
#define PLC_H

#include <stdbool.h>
#include <stdint.h>

#include "route.h"
#include "sim.h"
#include "stab.h"

#define PLC_S 256
#define PLC_R 3
#define PLC_N_MAX 64       /* members, joiner included */
#define PLC_WORLD_MULT 4   /* ids drawn from 4 x (N + 1) nodes */
#define PLC_RUNS_MAX 2048
#define PLC_GOAL_PCT 99.0  /* served per instant while views differ: asserted */

/* A shard table by node index: rep[s][0] is the owner. */
typedef struct plc_tab {
    uint8_t n[PLC_S];
    uint16_t rep[PLC_S][PLC_R];
} plc_tab_t;

/* Outcomes of (shard, origin) pairs. */
typedef struct plc_tally {
    uint64_t pairs, served, by_conv, unav, lost;
    uint64_t alt; /* served by the hop-only rule (plc_route_hops), for comparison */
} plc_tally_t;

enum plc_view { PLC_VIEW_OTHER = 0, PLC_VIEW_OLD, PLC_VIEW_NEW };
enum plc_phase { PLC_IDLE = 0, PLC_CRASH, PLC_JOIN };
enum plc_out { PLC_SERVED, PLC_UNAVAIL, PLC_LOST };

/* One phase of one run. */
typedef struct plc_res {
    uint32_t instants;     /* sampled while views differed */
    uint32_t below;        /* of which the hop-only rule served < PLC_GOAL_PCT */
    double served_min, unav_max, alt_min; /* worst instant, %; alt: hop-only rule */
    plc_tally_t all;       /* shards with a live owner */
    plc_tally_t subj;      /* crash: the shards the crashed member owned */
    uint32_t subj_shards;
    uint32_t moved;        /* replica slots; = slots the subject holds */
    uint32_t owners;       /* owner changes: what an old view gets wrong */
    uint32_t outside;      /* ... in sets without the subject */
    uint64_t new_med, new_max; /* ms until a member's view was the new one */
} plc_res_t;

typedef struct plc_run {
    uint32_t n;            /* members booted: m[0..n); m[n] joins later */
    uint32_t m[PLC_N_MAX]; /* their node indices */
    /* By node index (the world is larger than the cluster): */
    route_t **rt;          /* its own router and table (NULL: never a member) */
    plc_tab_t *cur;        /* ... as of its last change */
    uint64_t *built_step;  /* s->ctr.steps of its last rebuild */
    uint64_t *new_at;      /* when its table first equalled `after` */
    uint8_t *vstate;       /* enum plc_view at the current instant */
    bool tracking;         /* tables follow their member's events */
    enum plc_phase phase;
    uint32_t subject;      /* the crashed or the joining member */
    uint64_t t0;           /* the crash or the join */
    plc_tab_t before, after;
    bool subj_owned[PLC_S];
    plc_res_t res;
    swim_member_view_t mv[PLC_N_MAX];
    stab_member_t sv[PLC_N_MAX];
} plc_run_t;


static inline bool plc_eligible(enum swim_state st)
{
    return st == SWIM_ALIVE || st == SWIM_SUSPECT;
}

static inline bool plc_up(const sim_t *s, uint32_t i)
{
    return s->nodes[i].st == SIM_NODE_UP;
}

static inline double plc_pct(uint64_t x, uint64_t of)
{
    return of ? 100.0 * (double)x / (double)of : 100.0;
}

/* ---- plc_views.c ------------------------------------------------------- */

/* Member i rebuilds its router's table from its own SWIM member table. */
void plc_build(sim_t *s, plc_run_t *r, uint32_t i);
/* The ground truth's table, computed before the change happens: running
 * nodes and `joiner` alive, `dead` dead (UINT32_MAX: none). */
void plc_reference(sim_t *s, stab_t *t, uint32_t dead, uint32_t joiner, plc_tab_t *out,
                   stab_delta_t *d);
/* Is node m in shard sh's set; |a's set of sh minus b's|; owners differ;
 * same owner and set for every shard. */
bool plc_in(const plc_tab_t *t, uint32_t sh, uint32_t m);
uint32_t plc_missing(const plc_tab_t *a, const plc_tab_t *b, uint32_t sh);
bool plc_owner_differs(const plc_tab_t *a, const plc_tab_t *b, uint32_t sh);
bool plc_same(const plc_tab_t *a, const plc_tab_t *b);
void plc_tally_add(plc_tally_t *a, const plc_tally_t *b);
/* sim_cfg_t.on_event (udata: the plc_run_t): rebuilds the observer's
 * table when its set of eligible members changed and, in a phase, routes
 * every (shard, live origin) pair and checks the routing claims. */
void plc_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata);

#endif
