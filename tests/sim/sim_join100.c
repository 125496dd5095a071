/*
 * sim_join100.c - 100 members join through one seed, staggered over 3 s;
 * every member must see all 100 alive within the gossip bound.
 *
 * Bounds (README.md, "join100").  Node 0 answers each joiner's SYNC with
 * its full state, so a joiner learns at once everyone who joined before
 * it; the news that must travel by gossip is "X joined", for observers
 * that joined before X.  Node 0 queues that update when the SYNC arrives
 * and every node that learns it piggybacks it on its next
 * lambda * ceil(log10(N+1)) outgoing messages; each node sends at least one
 * message per protocol period T (its probe), so the epidemic is over
 * within retransmits(N) periods of the last start: 4 * 3 * 1 s = 12 s.
 * An epidemic with a finite number of copies can miss a node (each node
 * receives ~retransmits copies, so P(miss) ~ e^-12 per node and update,
 * about one run in twenty with 100 x 100 pairs); the push-pull sync heals
 * that within one push-pull period (30 s).  Hence two assertions:
 *   every run:        converged <= t_last + retransmits(N)*T + pushpull (42 s)
 *   median of seeds:  converged <= t_last + retransmits(N)*T            (12 s)
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

#define JOIN_N 100
#define JOIN_SPREAD_MS 3000
#define JOIN_SEEDS_MAX 1024

typedef struct join_res {
    uint64_t after_last[JOIN_SEEDS_MAX]; /* convergence - last start */
    uint64_t total[JOIN_SEEDS_MAX];      /* convergence - first start */
    size_t n;
    uint64_t gossip_ms;
} join_res_t;

static void join_case(uint64_t seed, void *udata)
{
    join_res_t *res = udata;
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, JOIN_N);
    sim_t *s = sim_new(&cfg, seed);

    uint64_t last = sim_boot(s, JOIN_N, JOIN_SPREAD_MS);
    uint64_t gossip = last + sim_dissem_ms(&cfg.swim, JOIN_N);
    uint64_t bound = gossip + sim_pushpull_ms(&cfg.swim, JOIN_N);
    /* Run past the bound to report how late a failure is. */
    uint64_t t = sim_run_until_pred(s, bound + 60000, 10, sim_converged, NULL);
    if (t == UINT64_MAX)
        sim_explain(s, 20);
    SIM_CHECK(t != UINT64_MAX, "no convergence %llu ms after the last start",
              (unsigned long long)(bound + 60000 - last));
    SIM_CHECK(t <= bound, "converged at %llu ms, bound %llu ms (last start %llu)",
              (unsigned long long)t, (unsigned long long)bound,
              (unsigned long long)last);
    sim_check_all(s);
    printf("  converged at t=%llu ms: %llu ms after the last start (gossip bound "
           "%llu, with push-pull %llu); msgs=%llu\n",
           (unsigned long long)t, (unsigned long long)(t - last),
           (unsigned long long)(gossip - last), (unsigned long long)(bound - last),
           (unsigned long long)s->ctr.delivered);
    res->gossip_ms = gossip - last;
    if (res->n < JOIN_SEEDS_MAX) {
        res->after_last[res->n] = t - last;
        res->total[res->n] = t;
        res->n++;
    }
    sim_free(s);
}

int main(void)
{
    sim_main_init("join100");
    join_res_t res = {0};
    sim_sweep("join100", sim_sanitized() ? 2 : 5, join_case, &res);
    if (res.n) {
        uint64_t mx = sim_max(res.after_last, res.n), mt = sim_max(res.total, res.n);
        uint64_t md = sim_median(res.after_last, res.n);
        uint64_t mdt = sim_median(res.total, res.n);
        printf("join100: N=%d spread=%d ms seeds=%zu: converged after last start "
               "median %llu ms max %llu ms; from first start median %llu ms max %llu ms\n",
               JOIN_N, JOIN_SPREAD_MS, res.n, (unsigned long long)md,
               (unsigned long long)mx, (unsigned long long)mdt, (unsigned long long)mt);
        SIM_CHECK(md <= res.gossip_ms, "median convergence %llu ms after the last "
                  "start exceeds the gossip bound %llu ms", (unsigned long long)md,
                  (unsigned long long)res.gossip_ms);
    }
    return 0;
}
