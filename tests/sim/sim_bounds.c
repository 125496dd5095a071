/*
 * sim_bounds.c - bootstrapping a cluster, and the timing bounds the
 * scenarios assert, computed from the protocol parameters exactly as the
 * core computes them (membership/swim_suspect.c, swim_gossip.c,
 * swim_sync.c).  README.md derives each scenario's bound from these.
 */
#include <math.h>
#include <stdlib.h>

#include "sh_assert.h"
#include "sim.h"

static int sim_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t sim_boot(sim_t *s, uint32_t n, uint64_t spread_ms)
{
    SH_ASSERT(n >= 1 && n <= s->cfg.n_nodes);
    /* Start times come from their own stream so that changing N or the
     * spread does not shift the network's draws in a surprising way. */
    sh_rng_t r;
    uint64_t x = s->seed ^ 0x626f6f74ULL;
    sh_rng_seed(&r, sh_splitmix64(&x));
    uint64_t *at = malloc(n * sizeof *at);
    SH_ASSERT(at != NULL);
    for (uint32_t i = 1; i < n; i++)
        at[i] = s->now + 1 + sh_rng_below(&r, spread_ms ? spread_ms : 1);
    qsort(at + 1, n - 1, sizeof *at, sim_u64_cmp);
    sim_node_start(s, 0, NULL, 0);
    uint32_t seed0 = 0;
    uint64_t last = s->now;
    for (uint32_t i = 1; i < n; i++) {
        sim_run_until(s, at[i]);
        sim_node_start(s, i, &seed0, 1);
        last = at[i];
    }
    free(at);
    return last;
}

uint64_t sim_boot_converged(sim_t *s, uint32_t n, uint64_t spread_ms,
                            uint64_t *last_start)
{
    uint64_t last = sim_boot(s, n, spread_ms);
    if (last_start)
        *last_start = last;
    return sim_converge(s, last + sim_dissem_ms(&s->cfg.swim, n) +
                               10 * sim_pushpull_ms(&s->cfg.swim, n),
                        "initial join");
}

static double sim_log10_floor1(size_t n)
{
    double l = log10((double)(n ? n : 1));
    return l < 1.0 ? 1.0 : l;
}

uint64_t sim_susp_min_ms(const swim_config_t *c, size_t n)
{
    return (uint64_t)((double)c->suspicion_mult * sim_log10_floor1(n) *
                      c->probe_interval_ms);
}

uint64_t sim_susp_max_ms(const swim_config_t *c, size_t n)
{
    return c->suspicion_max_mult * sim_susp_min_ms(c, n);
}

uint32_t sim_retransmits(const swim_config_t *c, size_t n)
{
    uint32_t d = 0;
    for (uint64_t p = 1; p < (uint64_t)n + 1; p *= 10)
        d++;
    return c->retransmit_mult * d;
}

uint64_t sim_pushpull_ms(const swim_config_t *c, size_t n)
{
    (void)n; /* swim_sync.c deliberately does not stretch it with N */
    return c->pushpull_interval_ms;
}

uint64_t sim_dissem_ms(const swim_config_t *c, size_t n)
{
    return (uint64_t)sim_retransmits(c, n) * c->probe_interval_ms;
}
