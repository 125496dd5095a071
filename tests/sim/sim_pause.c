/*
 * sim_pause.c - a member is paused (SIGSTOP: no ticks, no input; messages
 * to it wait in its socket buffer) and later resumed.
 *
 *  short:  paused 3 s             -> never declared dead; alive everywhere
 *  safe:   paused L = min_susp - T -> never declared dead; alive everywhere
 *  long:   paused max_susp + 20 s -> declared dead (that is correct), and
 *          after resume it refutes and is alive everywhere again
 *
 * Derivation of L (README.md, "pause").  A prober that pinged the paused
 * member gets no ack and raises suspicion at the end of its protocol
 * period, at the earliest T - d after the pause began (d = one link delay:
 * the ping that just missed it).  The suspicion cannot expire before
 * min_susp (Lifeguard's floor, reached only with K = 3 confirmations), so
 * no one can declare it dead before pause + T - d + min_susp.  Resuming at
 * pause + L with L = min_susp - T leaves 2T - d for the refutation: the
 * resumed member reads the queued suspicions, bumps its incarnation and
 * piggybacks the refutation on the acks to the queued pings and on its next
 * probes, which reaches the accusers within two periods.  N = 32 gives
 * min_susp = 4 * log10(32) * 1 s = 6.02 s, so L = 5.02 s.
 *
 * Bounds for "alive everywhere after resume": short/safe: the refutation
 * must spread, retransmits(N) * T + T.  long: the member learns it is dead
 * from the first reconnect sync of any peer (every peer syncs with a random
 * dead member every reconnect_interval, and it is the only dead one), then
 * its refutation spreads: reconnect_interval + retransmits(N) * T + T.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

#define PAUSE_N 32

typedef struct pause_case {
    const char *name;
    uint64_t pause_ms; /* 0: computed (safe), UINT64_MAX: long */
    bool may_die;
    /* Default seeds (gcc, sanitized).  The short cases are where a lost
     * refutation shows, ~1 % of seeds before the core answered doubt
     * directly, and a run costs ~7 ms: 200 of them catch a regression to
     * that rate 5 times in 6. */
    uint32_t seeds, seeds_san;
} pause_case_t;

typedef struct pause_run {
    uint32_t victim;
    uint64_t victim_deaths, other_deaths, victim_suspects;
    bool may_die;
} pause_run_t;

static void pause_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    pause_run_t *r = udata;
    int j = sim_node_index(s, ev->member.id);
    if ((uint32_t)j == r->victim && ev->member.state == SWIM_SUSPECT)
        r->victim_suspects++;
    if (ev->member.state != SWIM_DEAD)
        return;
    SIM_CHECK((uint32_t)j == r->victim,
              "n%04u declared %s dead; only the paused n%04u may ever be", obs,
              ev->member.id, r->victim);
    SIM_CHECK(r->may_die, "n%04u declared the paused n%04u dead (pause shorter than "
                          "the suspicion floor)", obs, r->victim);
    r->victim_deaths++;
}

static void pause_one(uint64_t seed, void *udata)
{
    const pause_case_t *c = udata;
    pause_run_t r = {.victim = UINT32_MAX, .may_die = c->may_die};
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, PAUSE_N);
    cfg.on_event = pause_on_event;
    cfg.udata = &r;
    sim_t *s = sim_new(&cfg, seed);
    const swim_config_t *w = &cfg.swim;

    sim_boot_converged(s, PAUSE_N, 2000, NULL);

    sh_rng_t rng;
    uint64_t x = seed ^ 0x7061757365ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));
    sim_run_until(s, s->now + 2000 + sh_rng_below(&rng, w->probe_interval_ms));
    r.victim = (uint32_t)sh_rng_below(&rng, PAUSE_N);
    uint64_t len = c->pause_ms;
    if (len == 0)
        len = sim_susp_min_ms(w, PAUSE_N) - w->probe_interval_ms;
    else if (len == UINT64_MAX)
        len = sim_susp_max_ms(w, PAUSE_N) + 20000;
    printf("  pause n%04u at t=%llu ms for %llu ms\n", r.victim,
           (unsigned long long)s->now, (unsigned long long)len);
    sim_node_pause(s, r.victim);
    sim_run_until(s, s->now + len);
    sim_node_resume(s, r.victim);
    uint64_t resumed = s->now;
    if (c->may_die)
        SIM_CHECK(r.victim_deaths > 0, "paused %llu ms > max suspicion, yet nobody "
                  "declared n%04u dead", (unsigned long long)len, r.victim);

    uint64_t bound = sim_dissem_ms(w, PAUSE_N) + w->probe_interval_ms;
    if (c->may_die)
        bound += w->reconnect_interval_ms;
    uint64_t t = sim_converge(s, resumed + bound + 60000, "after resume");
    SIM_CHECK(t - resumed <= bound, "alive everywhere %llu ms after resume, bound %llu",
              (unsigned long long)(t - resumed), (unsigned long long)bound);
    /* And it stays so: nobody dies afterwards either. */
    sim_run_until(s, s->now + sim_susp_max_ms(w, PAUSE_N));
    SIM_CHECK(sim_converged(s, NULL), "not converged %llu ms after resume",
              (unsigned long long)(s->now - resumed));
    sim_check_all(s);
    swim_member_view_t self;
    swim_member_get(s->nodes[r.victim].core, 0, &self);
    printf("  paused n%04u %llu ms: suspect events %llu, death events %llu, alive "
           "everywhere %llu ms after resume (bound %llu), incarnation now %u\n",
           r.victim, (unsigned long long)len, (unsigned long long)r.victim_suspects,
           (unsigned long long)r.victim_deaths, (unsigned long long)(t - resumed),
           (unsigned long long)bound, self.incarnation);
    sim_free(s);
}

int main(void)
{
    sim_main_init("pause");
    static pause_case_t cases[] = {
        {"pause/short-3s", 3000, false, 200, 10},
        {"pause/safe-min_susp-T", 0, false, 200, 10},
        {"pause/long", UINT64_MAX, true, 6, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        sim_sweep(cases[i].name, sim_sanitized() ? cases[i].seeds_san : cases[i].seeds,
                  pause_one, &cases[i]);
    return 0;
}
