/*
 * sim_lossy.c - 5 % loss on every link (and 1 % duplication), N = 100,
 * 10 simulated minutes: no live member is ever declared dead by anyone
 * (every EVENT output is checked), and the cluster is converged at the end.
 *
 * Why it should hold (README.md, "lossy").  A probe fails only if the
 * direct round trip fails (1 - 0.95^2 = 9.75 %) and all k = 3 indirect
 * round trips fail too (each is 4 messages: 1 - 0.95^4 = 18.5 %, all three
 * 0.63 %): ~6e-4 per probe, so ~36 suspicions in 100 members x 600 probes.
 * Each is refuted unless the suspicion fails to reach the suspect and the
 * refutation fails to reach every accuser within the minimum suspicion
 * timeout (8 s = 8 protocol periods at N = 100), i.e. unless a dozen
 * gossip retransmissions are all lost: ~0.05^12.  A death here is a bug.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

#define LOSSY_N 100
#define LOSSY_SIM_MS (10ull * 60 * 1000)

typedef struct lossy_run {
    uint64_t suspects, false_deaths;
} lossy_run_t;

static void lossy_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    lossy_run_t *r = udata;
    if (ev->member.state == SWIM_SUSPECT)
        r->suspects++;
    /* Nobody crashes in this scenario, so every DEAD is a false positive. */
    SIM_CHECK(ev->member.state != SWIM_DEAD,
              "n%04u declared live member %s dead (inc=%u) under 5%% loss", obs,
              ev->member.id, ev->member.incarnation);
}

static void lossy_one(uint64_t seed, void *udata)
{
    uint32_t n = *(uint32_t *)udata;
    lossy_run_t r = {0};
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, n);
    cfg.net.loss = 0.05;
    cfg.net.dup = 0.01;
    cfg.on_event = lossy_on_event;
    cfg.udata = &r;
    sim_t *s = sim_new(&cfg, seed);

    uint64_t conv = sim_boot_converged(s, n, 3000, NULL);
    uint64_t end = conv + LOSSY_SIM_MS;
    /* The check_all sweeps every simulated minute are cheap next to the run. */
    while (s->now < end) {
        sim_run_until(s, s->now + 60000 < end ? s->now + 60000 : end);
        sim_check_all(s);
    }
    /* Still converged, or converging: suspects must have been refuted. */
    sim_converge(s, s->now + sim_susp_max_ms(&cfg.swim, n), "end of the lossy run");
    swim_stats_t st;
    uint64_t refutations = 0;
    for (uint32_t i = 0; i < n; i++) {
        swim_stats_get(s->nodes[i].core, &st);
        refutations += st.refutations;
    }
    printf("  N=%u %llu simulated s after convergence at %llu ms: suspect events %llu, "
           "refutations %llu, deaths 0; messages lost %llu, delivered %llu\n",
           n, (unsigned long long)(LOSSY_SIM_MS / 1000), (unsigned long long)conv,
           (unsigned long long)r.suspects, (unsigned long long)refutations,
           (unsigned long long)s->ctr.lost,
           (unsigned long long)s->ctr.delivered);
    sim_free(s);
}

int main(void)
{
    sim_main_init("lossy");
    uint32_t n = sim_sanitized() ? 50 : LOSSY_N;
    sim_sweep("lossy", sim_sanitized() ? 1 : 3, lossy_one, &n);
    return 0;
}
