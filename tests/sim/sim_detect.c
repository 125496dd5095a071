/*
 * sim_detect.c - crash one member; every survivor must mark it dead, and
 * nobody else may be marked dead.  Detection time distribution for
 * N = 10, 100, 1,000, with the transport's unreachable hint (kill -9: the
 * kernel closes the sockets) and without it (a silent network failure).
 *
 * Bounds (README.md, "detect"), T = probe interval, defaults:
 *   without hint:  10*T                (some survivor probes the victim:
 *                                       P(nobody in 10 periods) ~ e^-10)
 *                + T                   (probe timeout, then ping-req to k
 *                                       relays until the period ends)
 *                + max suspicion       (beta * alpha * max(1,log10 N) * T,
 *                                       the timeout with no confirmation)
 *                + retransmits(N) * T  (the dead update reaches everyone)
 *     N=10: 10+1+24+8 = 43 s; N=100: 10+1+48+12 = 71 s; N=1000: 10+1+72+16 = 99 s
 *   with hint: every survivor gets the hint one link delay after the
 *   crash and caps its own suspicion at refused_suspicion_ms, so
 *     bound = max link delay + refused_suspicion_ms = 20 + 2000 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define DET_SEEDS_MAX 64

typedef struct det_case {
    const char *name;
    uint32_t n;
    bool hint;
    uint32_t seeds;
    uint64_t spread_ms;
    uint64_t first[DET_SEEDS_MAX]; /* crash -> first survivor declares dead */
    uint64_t all[DET_SEEDS_MAX];   /* crash -> every survivor has */
    size_t runs;
    uint64_t bound;
} det_case_t;

typedef struct det_run {
    uint32_t victim;
    bool crashed;
    uint64_t crash_at;
    uint64_t *detected_at; /* per observer */
    uint32_t n_detected;
    uint64_t first;
} det_run_t;

static void det_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    det_run_t *r = udata;
    if (ev->member.state != SWIM_DEAD)
        return;
    int j = sim_node_index(s, ev->member.id);
    SIM_CHECK(r->crashed && (uint32_t)j == r->victim,
              "n%04u declared %s dead (victim n%04u, crashed=%d); no loss, no "
              "partition: a false positive",
              obs, ev->member.id, r->victim, (int)r->crashed);
    if (r->detected_at[obs] == UINT64_MAX) {
        r->detected_at[obs] = s->now;
        if (r->n_detected++ == 0)
            r->first = s->now;
    }
}

static bool det_all_detected(sim_t *s, void *udata)
{
    det_run_t *r = udata;
    return r->n_detected + 1 >= s->cfg.n_nodes;
}

static uint64_t det_bound(const det_case_t *c, const sim_cfg_t *cfg)
{
    const swim_config_t *w = &cfg->swim;
    uint64_t max_delay = cfg->net.delay_max_ms + cfg->net.jitter_ms;
    if (c->hint)
        return max_delay + w->refused_suspicion_ms;
    return 11ull * w->probe_interval_ms + sim_susp_max_ms(w, c->n) +
           sim_dissem_ms(w, c->n);
}

static void det_one(uint64_t seed, void *udata)
{
    det_case_t *c = udata;
    det_run_t r = {0};
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, c->n);
    cfg.on_event = det_on_event;
    cfg.udata = &r;
    r.detected_at = malloc(c->n * sizeof *r.detected_at);
    for (uint32_t i = 0; i < c->n; i++)
        r.detected_at[i] = UINT64_MAX;
    sim_t *s = sim_new(&cfg, seed);

    uint64_t last = sim_boot(s, c->n, getenv("XSPREAD") ? strtoull(getenv("XSPREAD"),0,0) : c->spread_ms);
    uint64_t conv_deadline = last + sim_dissem_ms(&cfg.swim, c->n) +
                             cfg.swim.pushpull_interval_ms;
    if (getenv("XCONV")) conv_deadline = last + strtoull(getenv("XCONV"),0,0);
    uint64_t ct = sim_converge(s, conv_deadline, "initial join");
    printf("conv %llu after last\n", (unsigned long long)(ct - last));

    /* Crash at a random phase of the probe periods. */
    sh_rng_t rng;
    uint64_t x = seed ^ 0x76696374ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));
    sim_run_until(s, s->now + 1000 + sh_rng_below(&rng, cfg.swim.probe_interval_ms));
    r.victim = (uint32_t)sh_rng_below(&rng, c->n);
    r.crashed = true;
    r.crash_at = s->now;
    sim_node_crash(s, r.victim, c->hint);

    c->bound = det_bound(c, &cfg);
    uint64_t t = sim_run_until_pred(s, r.crash_at + c->bound + 60000, 10,
                                    det_all_detected, &r);
    SIM_CHECK(t != UINT64_MAX, "%u of %u survivors saw n%04u dead after %llu ms",
              r.n_detected, c->n - 1, r.victim, (unsigned long long)(s->now - r.crash_at));
    SIM_CHECK(t - r.crash_at <= c->bound,
              "all survivors saw n%04u dead after %llu ms, bound %llu ms", r.victim,
              (unsigned long long)(t - r.crash_at), (unsigned long long)c->bound);
    sim_check_all(s);
    printf("  N=%u hint=%s victim=n%04u: first %llu ms, all %llu ms (bound %llu)\n",
           c->n, c->hint ? "yes" : "no", r.victim,
           (unsigned long long)(r.first - r.crash_at),
           (unsigned long long)(t - r.crash_at), (unsigned long long)c->bound);
    if (c->runs < DET_SEEDS_MAX) {
        c->first[c->runs] = r.first - r.crash_at;
        c->all[c->runs] = t - r.crash_at;
        c->runs++;
    }
    sim_free(s);
    free(r.detected_at);
}

int main(void)
{
    sim_main_init("detect");
    bool san = sim_sanitized();
    det_case_t cases[] = {
        {.name = "detect/n=10/hint", .n = 10, .hint = true, .seeds = san ? 4 : 20, .spread_ms = 1000},
        {.name = "detect/n=10/silent", .n = 10, .hint = false, .seeds = san ? 4 : 20, .spread_ms = 1000},
        {.name = "detect/n=100/hint", .n = 100, .hint = true, .seeds = san ? 2 : 8, .spread_ms = 3000},
        {.name = "detect/n=100/silent", .n = 100, .hint = false, .seeds = san ? 2 : 8, .spread_ms = 3000},
        {.name = "detect/n=1000/hint", .n = 1000, .hint = true, .seeds = san ? 1 : 2, .spread_ms = 10000},
        {.name = "detect/n=1000/silent", .n = 1000, .hint = false, .seeds = san ? 1 : 2, .spread_ms = 10000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        sim_sweep(cases[i].name, cases[i].seeds, det_one, &cases[i]);

    printf("\ndetection time after crash (ms); first = first survivor, all = every survivor\n");
    printf("%-6s %-6s %5s %12s %10s %12s %10s %9s\n", "N", "hint", "seeds",
           "first(med)", "first(max)", "all(med)", "all(max)", "bound");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        det_case_t *c = &cases[i];
        if (!c->runs)
            continue;
        uint64_t fmx = sim_max(c->first, c->runs), amx = sim_max(c->all, c->runs);
        uint64_t fmd = sim_median(c->first, c->runs), amd = sim_median(c->all, c->runs);
        printf("%-6u %-6s %5zu %12llu %10llu %12llu %10llu %9llu\n", c->n,
               c->hint ? "yes" : "no", c->runs, (unsigned long long)fmd,
               (unsigned long long)fmx, (unsigned long long)amd,
               (unsigned long long)amx, (unsigned long long)c->bound);
    }
    return 0;
}
