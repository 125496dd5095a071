/*
 * sim_load.c - per-member message load of a stable cluster must be flat:
 * for N = 10, 100, 1,000, messages sent per member per simulated second,
 * excluding the full-state syncs (O(N) by design, reported separately),
 * must have max/min <= 1.5 across members, and must not grow with N.
 *
 * Why flat (README.md, "load").  In a stable cluster a member sends, per
 * protocol period T: one PING (its probe) and one ACK per PING it gets.
 * Probe targets come from a shuffled round-robin list, so over a window
 * of W periods each member is probed ~W times (Poisson-like around W when
 * N >> W, exactly ~W when N <= W), and sends ~2W messages.  With W = 120
 * periods the spread of a Poisson(120) count over 1,000 members is about
 * +-3.2 * sqrt(120) = +-35 probes, i.e. (240+35)/(240-35) = 1.34 at worst,
 * under the 1.5 bound; with a 30 s window it would not be.  No ping-req is
 * sent while nothing fails.  Syncs: one per push-pull period per member
 * (period scaled with N, see sim_pushpull_ms) plus the answer, each ~N
 * updates; their bytes are what grows with N, by design.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sh_assert.h"
#include "sim.h"

#define LOAD_WINDOW_MS 120000ull
#define LOAD_RATIO_MAX 1.5
#define LOAD_RATE_MAX 3.0 /* msgs/s/member: ping + ack + slack */

typedef struct load_row {
    uint32_t n;
    uint64_t spread_ms;
    bool ran;
    double min, med, max, ratio;
    double sync_msgs, sync_bytes, other_bytes; /* per member per second */
} load_row_t;

static int load_dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Let the join's gossip backlog drain before measuring, or it inflates
 * the bytes (not the counts).  Every member must send each of the N join
 * updates retransmits(N) times, ~2 messages per period, each carrying
 * gossip_max_bytes / (7 + |id| + |addr|) updates (swim_codec.c sizes):
 * at N = 1,000 that is 1000 * 16 / (2 * 39) = 205 s. */
static uint64_t load_settle_ms(const sim_cfg_t *cfg, uint32_t n)
{
    const swim_config_t *w = &cfg->swim;
    uint64_t per_msg = w->gossip_max_bytes / (7 + 5 + 14); /* "n0042", "n0042.sim:7946" */
    uint64_t drain = (uint64_t)n * sim_retransmits(w, n) * w->probe_interval_ms /
                     (2 * (per_msg ? per_msg : 1));
    uint64_t floor = sim_dissem_ms(w, n) + sim_pushpull_ms(w, n);
    return drain > floor ? drain : floor;
}

static void load_one(uint64_t seed, void *udata)
{
    load_row_t *row = udata;
    uint32_t n = row->n;
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, n);
    sim_t *s = sim_new(&cfg, seed);
    sim_boot_converged(s, n, row->spread_ms, NULL);
    sim_run_until(s, s->now + load_settle_ms(&cfg, n));

    sim_traffic_t *t0 = malloc(n * sizeof *t0);
    for (uint32_t i = 0; i < n; i++)
        t0[i] = s->nodes[i].tx;
    sim_run_until(s, s->now + LOAD_WINDOW_MS);
    SIM_CHECK(sim_converged(s, NULL), "N=%u not converged after the window", n);
    sim_check_all(s);

    double secs = LOAD_WINDOW_MS / 1000.0;
    double *rate = malloc(n * sizeof *rate);
    double sm = 0, sb = 0, ob = 0;
    for (uint32_t i = 0; i < n; i++) {
        const sim_traffic_t *a = &t0[i], *b = &s->nodes[i].tx;
        uint64_t msgs = (b->msgs - a->msgs) - (b->sync_msgs - a->sync_msgs);
        rate[i] = (double)msgs / secs;
        sm += (double)(b->sync_msgs - a->sync_msgs) / secs;
        sb += (double)(b->sync_bytes - a->sync_bytes) / secs;
        ob += (double)((b->bytes - a->bytes) - (b->sync_bytes - a->sync_bytes)) / secs;
    }
    qsort(rate, n, sizeof *rate, load_dbl_cmp);
    row->min = rate[0];
    row->med = rate[n / 2];
    row->max = rate[n - 1];
    row->ratio = row->min > 0 ? row->max / row->min : 1e9;
    row->sync_msgs = sm / n;
    row->sync_bytes = sb / n;
    row->other_bytes = ob / n;
    row->ran = true;
    printf("  N=%u msgs/s/member excluding syncs: min %.2f median %.2f max %.2f "
           "(max/min %.2f); syncs %.3f msgs/s %.0f B/s; other %.0f B/s\n", n,
           row->min, row->med, row->max, row->ratio, row->sync_msgs, row->sync_bytes,
           row->other_bytes);
    SIM_CHECK(row->ratio <= LOAD_RATIO_MAX, "N=%u: per-member load not flat: max/min "
              "%.2f > %.2f", n, row->ratio, LOAD_RATIO_MAX);
    SIM_CHECK(row->max <= LOAD_RATE_MAX, "N=%u: a member sends %.2f msgs/s (> %.1f)", n,
              row->max, LOAD_RATE_MAX);
    free(rate);
    free(t0);
    sim_free(s);
}

int main(void)
{
    sim_main_init("load");
    bool san = sim_sanitized();
    load_row_t rows[] = {
        {.n = 10, .spread_ms = 1000},
        {.n = 100, .spread_ms = 3000},
        {.n = san ? 300 : 1000, .spread_ms = 10000},
    };
    char name[32];
    for (size_t i = 0; i < SH_ARRAY_LEN(rows); i++) {
        snprintf(name, sizeof name, "load/n=%u", rows[i].n);
        sim_sweep(name, 1, load_one, &rows[i]);
    }
    printf("\nper-member load over %llu simulated s of a stable cluster (sent, per member "
           "per second)\n", LOAD_WINDOW_MS / 1000);
    printf("%6s %8s %8s %8s %8s %10s %12s %12s\n", "N", "min", "median", "max",
           "max/min", "sync msg/s", "sync B/s", "other B/s");
    for (size_t i = 0; i < SH_ARRAY_LEN(rows); i++) {
        load_row_t *r = &rows[i];
        if (r->ran)
            printf("%6u %8.2f %8.2f %8.2f %8.2f %10.3f %12.0f %12.0f\n", r->n, r->min,
                   r->med, r->max, r->ratio, r->sync_msgs, r->sync_bytes,
                   r->other_bytes);
    }
    return 0;
}
