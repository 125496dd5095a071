/*
 * sim_detect.c - crash a member; every survivor must mark it dead, and
 * nobody else may be marked dead.  Detection time distribution for
 * N = 10, 100, 1,000, without the transport's unreachable hint (a silent
 * network failure) and with it (kill -9: the kernel closes the sockets).
 *
 * Each run converges once and then measures both: first a silent crash of
 * one member, then (after every survivor saw it dead) a crash of another
 * with the hint.  Converging 1,000 members costs ~150 simulated seconds, so
 * sharing it halves the run time; the second crash happens with one dead
 * member in the tables, which changes neither bound.
 *
 * Bounds (README.md, "detect"), T = probe interval, defaults:
 *   silent:  10*T                (some survivor probes the victim: each
 *                                 probes one member per period, so
 *                                 P(nobody in 10 periods) ~ e^-10)
 *          + T                   (probe timeout, ping-req to k relays,
 *                                 suspicion at the end of the period)
 *          + max suspicion       (beta * alpha * max(1,log10 N) * T: the
 *                                 timeout with no confirmation at all)
 *          + retransmits(N) * T  (the dead update reaches everyone; each
 *                                 survivor also probes and suspects it
 *                                 itself, so this is rarely needed)
 *     N=10: 10+1+24+8 = 43 s; N=100: 10+1+48+12 = 71 s; N=1000: 10+1+72+16 = 99 s
 *   hint:   every survivor gets the hint one link delay after the crash
 *           and caps its own suspicion at refused_suspicion_ms:
 *     bound = max link delay + refused_suspicion_ms = 20 + 2000 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sim.h"

#define DET_SEEDS_MAX 256

typedef struct det_series {
    uint64_t first[DET_SEEDS_MAX]; /* crash -> first survivor declares dead */
    uint64_t all[DET_SEEDS_MAX];   /* crash -> every survivor has */
    size_t runs;
    uint64_t bound;
} det_series_t;

typedef struct det_case {
    const char *name;
    uint32_t n;
    uint32_t seeds;
    uint64_t spread_ms;
    det_series_t silent, hint;
    uint64_t join[DET_SEEDS_MAX]; /* setup: convergence after the last start */
    size_t joins;
} det_case_t;

/* One crash being watched. */
typedef struct det_run {
    uint32_t victim[2]; /* UINT32_MAX until crashed */
    int phase;          /* index of the crash being measured */
    uint64_t crash_at;
    uint64_t *detected_at; /* per observer, for the current victim */
    uint32_t n_detected;
    uint64_t first;
} det_run_t;

static void det_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    det_run_t *r = udata;
    if (ev->member.state != SWIM_DEAD)
        return;
    uint32_t j = (uint32_t)sim_node_index(s, ev->member.id);
    SIM_CHECK(j == r->victim[0] || j == r->victim[1],
              "n%04u declared %s dead; only crashed members may be (no loss, no "
              "partition): a false positive", obs, ev->member.id);
    SIM_CHECK(j == r->victim[r->phase], "n%04u declared %s dead again", obs,
              ev->member.id);
    if (r->detected_at[obs] == UINT64_MAX) {
        r->detected_at[obs] = s->now;
        if (r->n_detected++ == 0)
            r->first = s->now;
    }
}

static bool det_all_detected(sim_t *s, void *udata)
{
    det_run_t *r = udata;
    return r->n_detected >= sim_nodes_running(s);
}

static uint64_t det_bound(const sim_cfg_t *cfg, uint32_t n, bool hint)
{
    const swim_config_t *w = &cfg->swim;
    if (hint)
        return cfg->net.delay_max_ms + cfg->net.jitter_ms + w->refused_suspicion_ms;
    return 11ull * w->probe_interval_ms + sim_susp_max_ms(w, n) + sim_dissem_ms(w, n);
}

/* Crash a random running member at a random phase; wait for every survivor. */
static void det_crash(sim_t *s, det_run_t *r, sh_rng_t *rng, bool hint,
                      det_series_t *out)
{
    uint32_t n = s->cfg.n_nodes;
    sim_run_until(s, s->now + 1000 + sh_rng_below(rng, s->cfg.swim.probe_interval_ms));
    uint32_t v;
    do
        v = (uint32_t)sh_rng_below(rng, n);
    while (v == r->victim[0]);
    for (uint32_t i = 0; i < n; i++)
        r->detected_at[i] = UINT64_MAX;
    r->n_detected = 0;
    r->victim[r->phase] = v;
    r->crash_at = s->now;
    sim_node_crash(s, v, hint);

    out->bound = det_bound(&s->cfg, n, hint);
    uint64_t t = sim_run_until_pred(s, r->crash_at + out->bound + 60000, 10,
                                    det_all_detected, r);
    SIM_CHECK(t != UINT64_MAX, "%u of %zu survivors saw n%04u dead after %llu ms",
              r->n_detected, sim_nodes_running(s), v,
              (unsigned long long)(s->now - r->crash_at));
    SIM_CHECK(t - r->crash_at <= out->bound,
              "every survivor saw n%04u dead only after %llu ms, bound %llu ms", v,
              (unsigned long long)(t - r->crash_at), (unsigned long long)out->bound);
    sim_check_all(s);
    printf("  N=%u %s crash of n%04u: first %llu ms, all %llu ms (bound %llu)\n", n,
           hint ? "kill -9 (hint)" : "silent", v,
           (unsigned long long)(r->first - r->crash_at),
           (unsigned long long)(t - r->crash_at), (unsigned long long)out->bound);
    if (out->runs < DET_SEEDS_MAX) {
        out->first[out->runs] = r->first - r->crash_at;
        out->all[out->runs] = t - r->crash_at;
        out->runs++;
    }
}

static void det_one(uint64_t seed, void *udata)
{
    det_case_t *c = udata;
    det_run_t r = {.victim = {UINT32_MAX, UINT32_MAX}};
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, c->n);
    cfg.on_event = det_on_event;
    cfg.udata = &r;
    r.detected_at = malloc(c->n * sizeof *r.detected_at);
    sim_t *s = sim_new(&cfg, seed);

    uint64_t last;
    uint64_t conv = sim_boot_converged(s, c->n, c->spread_ms, &last);
    if (c->joins < DET_SEEDS_MAX)
        c->join[c->joins++] = conv - last;
    printf("  N=%u joined over %llu ms, converged %llu ms after the last start\n", c->n,
           (unsigned long long)c->spread_ms, (unsigned long long)(conv - last));

    sh_rng_t rng;
    uint64_t x = seed ^ 0x76696374ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));
    r.phase = 0;
    det_crash(s, &r, &rng, false, &c->silent);
    r.phase = 1;
    det_crash(s, &r, &rng, true, &c->hint);
    sim_free(s);
    free(r.detected_at);
}

static void det_row(uint32_t n, const char *mode, det_series_t *d)
{
    if (!d->runs)
        return;
    uint64_t fmx = sim_max(d->first, d->runs), amx = sim_max(d->all, d->runs);
    uint64_t fmd = sim_median(d->first, d->runs), amd = sim_median(d->all, d->runs);
    printf("%-6u %-8s %5zu %11llu %11llu %11llu %11llu %9llu\n", n, mode, d->runs,
           (unsigned long long)fmd, (unsigned long long)fmx, (unsigned long long)amd,
           (unsigned long long)amx, (unsigned long long)d->bound);
}

int main(void)
{
    sim_main_init("detect");
    bool san = sim_sanitized();
    det_case_t cases[] = {
        {.name = "detect/n=10", .n = 10, .seeds = san ? 5 : 30, .spread_ms = 1000},
        {.name = "detect/n=100", .n = 100, .seeds = san ? 2 : 10, .spread_ms = 3000},
        {.name = "detect/n=1000", .n = 1000, .seeds = san ? 0 : 1, .spread_ms = 10000},
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++)
        sim_sweep(cases[i].name, cases[i].seeds, det_one, &cases[i]);

    printf("\ndetection time after the crash, ms (first = first survivor to declare "
           "it dead, all = every survivor)\n");
    printf("%-6s %-8s %5s %11s %11s %11s %11s %9s\n", "N", "mode", "runs",
           "first(med)", "first(max)", "all(med)", "all(max)", "bound");
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
        det_row(cases[i].n, "silent", &cases[i].silent);
        det_row(cases[i].n, "kill-9", &cases[i].hint);
    }
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
        det_case_t *c = &cases[i];
        if (c->joins)
            printf("setup: N=%u joined over %llu ms converged after the last start: "
                   "median %llu ms, max %llu ms\n", c->n,
                   (unsigned long long)c->spread_ms,
                   (unsigned long long)sim_median(c->join, c->joins),
                   (unsigned long long)sim_max(c->join, c->joins));
    }
    return 0;
}
