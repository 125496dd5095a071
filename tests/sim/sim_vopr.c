/*
 * sim_vopr.c - randomized faults from one seed, then heal and converge
 * (TigerBeetle's VOPR: a safety phase under faults followed by
 * heal-and-converge).
 *
 * Everything is drawn from the seed: N in [8, 40], link delays, jitter,
 * loss (0-10 %), duplication (0-5 %), and a 120 s schedule of nemesis
 * actions every 0.2-5 s: crash (with or without the hint), restart,
 * pause, resume, graceful leave, partition (random halves or one member
 * cut off), heal, and a new loss rate.  At most a third of the members are
 * down or paused at once.
 *
 * Safety, checked at every step (besides swim_check_invariants and the
 * event shadow of sim_cluster.c): nobody believes an incarnation of a
 * member higher than any that member ever claimed, and nobody sees a
 * member LEFT that never left.
 *
 * Liveness after the heal (partition healed, loss and duplication off,
 * paused members resumed, every member that is down restarted): the
 * cluster converges within
 *   (awareness_max + 1) * 11 * T   probes stretched by local health
 * + max_susp(N)                    pending suspicions resolve
 * + reconnect_interval             dead-but-alive members are re-synced
 * + retransmits(N) * T             refutations spread
 * + pushpull(N)                    anti-entropy for what gossip missed
 * (N = 40: 99 + 38.4 + 5 + 8 + 60 = 210.4 s).  Loose on purpose: the
 * schedule is random; the tight bounds live in the targeted scenarios.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sim.h"

#define VOPR_FAULT_MS 120000ull

typedef struct vopr_run {
    uint32_t *claimed; /* highest incarnation each member claimed */
    bool *ever_left;
    uint32_t actions;
} vopr_run_t;

static void vopr_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    vopr_run_t *r = udata;
    uint32_t j = (uint32_t)sim_node_index(s, ev->member.id);
    if (j == obs && ev->member.incarnation > r->claimed[j])
        r->claimed[j] = ev->member.incarnation;
    if (j == obs && ev->member.state == SWIM_LEFT)
        r->ever_left[j] = true;
    SIM_CHECK(ev->member.incarnation <= r->claimed[j],
              "n%04u sees %s at incarnation %u, which it never claimed (max %u)", obs,
              ev->member.id, ev->member.incarnation, r->claimed[j]);
    SIM_CHECK(ev->member.state != SWIM_LEFT || r->ever_left[j],
              "n%04u sees %s LEFT, but it never left", obs, ev->member.id);
}

static int32_t vopr_pick(sim_t *s, sh_rng_t *rng, enum sim_node_state st)
{
    uint32_t n = s->cfg.n_nodes, start = (uint32_t)sh_rng_below(rng, n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (start + k) % n;
        if (s->nodes[i].st == st)
            return (int32_t)i;
    }
    return -1;
}

static void vopr_partition(sim_t *s, sh_rng_t *rng)
{
    uint32_t n = s->cfg.n_nodes;
    int *g = calloc(n, sizeof *g);
    if (sh_rng_below(rng, 2)) {
        for (uint32_t i = 0; i < n; i++)
            g[i] = (int)sh_rng_below(rng, 2);
    } else {
        g[sh_rng_below(rng, n)] = 1; /* one member cut off */
    }
    sim_partition_set(s, g);
    free(g);
}

/* One random nemesis action. */
static void vopr_act(sim_t *s, sh_rng_t *rng)
{
    uint32_t n = s->cfg.n_nodes;
    size_t impaired = n - sim_nodes_running(s);
    for (uint32_t i = 0; i < n; i++)
        impaired += s->nodes[i].st == SIM_NODE_PAUSED;
    bool may_impair = impaired + 1 <= n / 3;
    int32_t i;
    switch (sh_rng_below(rng, 9)) {
    case 0:
    case 1:
        if (may_impair && (i = vopr_pick(s, rng, SIM_NODE_UP)) >= 0)
            sim_node_crash(s, (uint32_t)i, sh_rng_below(rng, 2));
        break;
    case 2:
        if ((i = vopr_pick(s, rng, SIM_NODE_DOWN)) >= 0) {
            int32_t seed = vopr_pick(s, rng, SIM_NODE_UP);
            uint32_t sd = seed >= 0 ? (uint32_t)seed : 0;
            sim_node_start(s, (uint32_t)i, &sd, seed >= 0);
        }
        break;
    case 3:
        if (may_impair && (i = vopr_pick(s, rng, SIM_NODE_UP)) >= 0)
            sim_node_pause(s, (uint32_t)i);
        break;
    case 4:
        if ((i = vopr_pick(s, rng, SIM_NODE_PAUSED)) >= 0)
            sim_node_resume(s, (uint32_t)i);
        break;
    case 5:
        if (may_impair && sh_rng_below(rng, 3) == 0 &&
            (i = vopr_pick(s, rng, SIM_NODE_UP)) >= 0)
            sim_node_leave(s, (uint32_t)i);
        break;
    case 6:
        vopr_partition(s, rng);
        break;
    case 7:
        sim_partition_set(s, NULL);
        break;
    default:
        s->cfg.net.loss = sh_rng_unit(rng) * 0.10;
        break;
    }
}

static void vopr_heal(sim_t *s, sh_rng_t *rng)
{
    sim_partition_set(s, NULL);
    s->cfg.net.loss = 0;
    s->cfg.net.dup = 0;
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++)
        if (s->nodes[i].st == SIM_NODE_PAUSED)
            sim_node_resume(s, i);
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        if (s->nodes[i].st != SIM_NODE_DOWN)
            continue;
        int32_t seed = vopr_pick(s, rng, SIM_NODE_UP);
        uint32_t sd = seed >= 0 ? (uint32_t)seed : 0;
        sim_node_start(s, i, &sd, seed >= 0);
    }
}

static void vopr_one(uint64_t seed, void *udata)
{
    uint32_t *passed = udata;
    sh_rng_t rng;
    uint64_t x = seed ^ 0x766f7072ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));
    uint32_t n = 8 + (uint32_t)sh_rng_below(&rng, 33);
    vopr_run_t r = {0};
    r.claimed = calloc(n, sizeof *r.claimed);
    r.ever_left = calloc(n, sizeof *r.ever_left);
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, n);
    cfg.net.delay_min_ms = 1 + (uint32_t)sh_rng_below(&rng, 5);
    cfg.net.delay_max_ms = cfg.net.delay_min_ms + (uint32_t)sh_rng_below(&rng, 30);
    cfg.net.jitter_ms = (uint32_t)sh_rng_below(&rng, 50);
    cfg.net.loss = sh_rng_unit(&rng) * 0.10;
    cfg.net.dup = sh_rng_unit(&rng) * 0.05;
    cfg.on_event = vopr_on_event;
    cfg.udata = &r;
    /* Members claim incarnation 1 before their first event is seen. */
    for (uint32_t i = 0; i < n; i++)
        r.claimed[i] = 1;
    sim_t *s = sim_new(&cfg, seed);
    sim_boot_converged(s, n, 3000, NULL);

    uint64_t end = s->now + VOPR_FAULT_MS;
    while (s->now < end) {
        sim_run_until(s, s->now + 200 + sh_rng_below(&rng, 4800));
        vopr_act(s, &rng);
        r.actions++;
    }
    sim_check_all(s);
    uint64_t heal_at = s->now;
    vopr_heal(s, &rng);
    const swim_config_t *w = &cfg.swim;
    uint64_t bound = (w->awareness_max + 1ull) * 11 * w->probe_interval_ms +
                     sim_susp_max_ms(w, n) + w->reconnect_interval_ms +
                     sim_dissem_ms(w, n) + sim_pushpull_ms(w, n);
    uint64_t t = sim_converge(s, heal_at + bound, "after the heal");
    sim_check_all(s);
    printf("  N=%u loss %.1f%% dup %.1f%% delay %u-%u+%u ms, %u actions: converged "
           "%llu ms after the heal (bound %llu); msgs %llu lost %llu dup %llu cut %llu\n",
           n, cfg.net.loss * 100, cfg.net.dup * 100, cfg.net.delay_min_ms,
           cfg.net.delay_max_ms, cfg.net.jitter_ms, r.actions,
           (unsigned long long)(t - heal_at), (unsigned long long)bound,
           (unsigned long long)s->ctr.delivered, (unsigned long long)s->ctr.lost,
           (unsigned long long)s->ctr.dup, (unsigned long long)s->ctr.cut);
    (*passed)++;
    sim_free(s);
    free(r.claimed);
    free(r.ever_left);
}

int main(void)
{
    sim_main_init("vopr");
    uint32_t passed = 0;
    sim_sweep("vopr", sim_sanitized() ? 4 : 20, vopr_one, &passed);
    printf("vopr: %u runs passed\n", passed);
    return 0;
}
