/*
 * sim_partition.c - split the cluster into two random halves until each
 * side has declared the other dead, hold the split a while, heal, and
 * assert both sides agree again (every member sees all alive) within the
 * bound.  Safety throughout: nobody declares a member of its own side
 * dead during the split, and nobody declares anyone dead after the heal.
 *
 * Split phase.  Each side must see the other dead within
 *   (awareness_max + 1) * 11 * T + max_susp(N) + retransmits(N) * T:
 * as in sim_detect, but the probe period stretches up to (awareness_max+1)
 * times: ping-reqs sent to relays on the other side get no NACK, which
 * Lifeguard counts against our own health.
 *
 * Hold.  The split is held max_susp(N) longer so the last suspicions
 * expire and local health recovers (one acked probe lowers awareness by 1).
 *
 * Heal bound (README.md, "partition").  Two sides that declared each other
 * dead never probe each other; every member SYNCs with a random DEAD member
 * every reconnect_interval (5 s), so the first cross SYNC starts within
 * 5 s of the heal.  The receiver reads itself DEAD in the sender's state,
 * refutes with incarnation + 1, and answers with its state, so the two
 * learn each other's refutations at once; the others learn by their own
 * reconnect SYNCs (each member makes one per interval) and by gossip of
 * the refutations.  Every member has made its own cross SYNC within one
 * interval and the refutations it carries back spread within
 * retransmits(N) periods, so
 *   bound = 2 * reconnect_interval + retransmits(N) * T
 *   (N = 20: 10 + 8 = 18 s; N = 100: 10 + 12 = 22 s).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sh_assert.h"
#include "sim.h"

typedef struct part_run {
    int *group;
    int phase; /* 0 joined, 1 split, 2 healed */
    uint64_t split_deaths;
} part_run_t;

static void part_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    part_run_t *r = udata;
    if (ev->member.state != SWIM_DEAD)
        return;
    int j = sim_node_index(s, ev->member.id);
    SIM_CHECK(r->phase == 1, "n%04u declared %s dead %s", obs, ev->member.id,
              r->phase == 0 ? "before the split" : "after the heal (nobody is down)");
    SIM_CHECK(r->group[j] != r->group[obs],
              "n%04u declared %s dead, on its own side of the partition", obs,
              ev->member.id);
    r->split_deaths++;
}

/* Every member sees its own side alive and the other side dead. */
static bool part_split_seen(sim_t *s, void *udata)
{
    part_run_t *r = udata;
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        size_t n = swim_member_count(s->nodes[i].core);
        for (size_t k = 0; k < n; k++) {
            swim_member_view_t m;
            swim_member_get(s->nodes[i].core, k, &m);
            int j = sim_node_index(s, m.id);
            bool same = r->group[j] == r->group[i];
            if (same != (m.state == SWIM_ALIVE) || (!same && m.state != SWIM_DEAD))
                return false;
        }
    }
    return true;
}

static void part_one(uint64_t seed, void *udata)
{
    uint32_t n = *(uint32_t *)udata;
    part_run_t r = {0};
    r.group = calloc(n, sizeof *r.group);
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, n);
    cfg.on_event = part_on_event;
    cfg.udata = &r;
    sim_t *s = sim_new(&cfg, seed);
    const swim_config_t *w = &cfg.swim;
    sim_boot_converged(s, n, 2000, NULL);

    /* Random halves: a seeded shuffle of the indices. */
    sh_rng_t rng;
    uint64_t x = seed ^ 0x7061727469ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));
    uint32_t *perm = malloc(n * sizeof *perm);
    for (uint32_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t k = (uint32_t)sh_rng_below(&rng, i + 1), t = perm[i];
        perm[i] = perm[k];
        perm[k] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        r.group[perm[i]] = i < n / 2 ? 1 : 2;
    free(perm);

    r.phase = 1;
    uint64_t split_at = s->now;
    sim_partition_set(s, r.group);
    uint64_t split_bound = (w->awareness_max + 1ull) * 11 * w->probe_interval_ms +
                           sim_susp_max_ms(w, n) + sim_dissem_ms(w, n);
    uint64_t seen = sim_run_until_pred(s, split_at + split_bound, 100, part_split_seen, &r);
    if (seen == UINT64_MAX)
        sim_explain(s, 20);
    SIM_CHECK(seen != UINT64_MAX, "the sides did not declare each other dead within "
              "%llu ms", (unsigned long long)split_bound);
    sim_run_until(s, s->now + sim_susp_max_ms(w, n));
    sim_check_all(s);

    r.phase = 2;
    uint64_t heal_at = s->now;
    sim_partition_set(s, NULL);
    uint64_t bound = 2ull * w->reconnect_interval_ms + sim_dissem_ms(w, n);
    uint64_t t = sim_converge(s, heal_at + bound + 120000, "after the heal");
    SIM_CHECK(t - heal_at <= bound, "converged %llu ms after the heal, bound %llu ms",
              (unsigned long long)(t - heal_at), (unsigned long long)bound);
    /* Stay converged: no late verdicts from suspicions raised in the heal. */
    sim_run_until(s, s->now + sim_susp_max_ms(w, n));
    SIM_CHECK(sim_converged(s, NULL), "diverged again after the heal");
    sim_check_all(s);
    printf("  N=%u split %u/%u: other side dead everywhere %llu ms after the split "
           "(%llu death events); converged %llu ms after the heal (bound %llu)\n",
           n, n / 2, n - n / 2, (unsigned long long)(seen - split_at),
           (unsigned long long)r.split_deaths, (unsigned long long)(t - heal_at),
           (unsigned long long)bound);
    sim_free(s);
    free(r.group);
}

int main(void)
{
    sim_main_init("partition");
    bool san = sim_sanitized();
    uint32_t n20 = 20, n100 = 100;
    sim_sweep("partition/n=20", san ? 2 : 8, part_one, &n20);
    sim_sweep("partition/n=100", san ? 1 : 3, part_one, &n100);
    return 0;
}
