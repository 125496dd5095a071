/*
 * sim_restart.c - a member crashes and restarts under the same id and
 * address as a NEW core with a higher incarnation (the adapter persists
 * the start incarnation), then joins through a seed; it must be alive
 * everywhere at that incarnation or higher.
 *
 *   after-dead:  kill -9, restart once every survivor has declared it dead
 *   before-dead: kill -9, restart after 500 ms (suspected, not yet dead)
 *   silent:      silent crash, restart after 3 s (maybe suspected)
 *   graceful:    leave, restart after everyone saw it left
 *
 * Bound (README.md, "restart").  The restarted member's SYNC{join} reaches
 * the seed within one link delay; the seed's answer gives it the full
 * table; the seed takes alive(inc') over dead/suspect/left(inc < inc') and
 * gossips it, reaching everyone within retransmits(N) periods:
 *   bound = 2 * max link delay + retransmits(N) * T  (N = 20: 8 s + 40 ms).
 * Nobody but the restarted member may be declared dead, and it only at an
 * incarnation of the life that crashed (a verdict that reaches a member
 * after the restart is still true of the old process).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sh_assert.h"
#include "sim.h"

#define RST_N 20

enum rst_mode { RST_AFTER_DEAD, RST_BEFORE_DEAD, RST_SILENT, RST_GRACEFUL };

typedef struct rst_case {
    const char *name;
    enum rst_mode mode;
} rst_case_t;

typedef struct rst_run {
    uint32_t victim;
    bool down;
    uint32_t inc_life; /* incarnation of the restarted life */
    uint32_t gone_seen; /* survivors that saw it dead or left */
} rst_run_t;

static void rst_on_event(sim_t *s, uint32_t obs, const swim_out_t *ev, void *udata)
{
    rst_run_t *r = udata;
    uint32_t j = (uint32_t)sim_node_index(s, ev->member.id);
    /* Declaring the crashed life dead is right even after the restart, as
     * long as the verdict is about an incarnation of that life. */
    if (ev->member.state == SWIM_DEAD) {
        SIM_CHECK(j == r->victim && (r->down || ev->member.incarnation < r->inc_life),
                  "n%04u declared %s dead at incarnation %u (victim n%04u, down=%d, "
                  "restarted at incarnation %u)", obs, ev->member.id,
                  ev->member.incarnation, r->victim, (int)r->down, r->inc_life);
    }
    if (j == r->victim && r->down &&
        (ev->member.state == SWIM_DEAD || ev->member.state == SWIM_LEFT))
        r->gone_seen++;
}

static bool rst_gone_everywhere(sim_t *s, void *udata)
{
    rst_run_t *r = udata;
    return r->gone_seen >= sim_nodes_running(s);
}

/* Converged, and every member holds the victim at the restarted life's
 * incarnation or later: the bound above is about that, not only about
 * states (a member that never suspected the old life holds it alive at
 * the old incarnation, which sim_converged accepts). */
static bool rst_converged(sim_t *s, void *udata)
{
    rst_run_t *r = udata;
    if (!sim_converged(s, NULL))
        return false;
    for (uint32_t i = 0; i < s->cfg.n_nodes; i++) {
        swim_member_view_t m;
        if (s->nodes[i].st != SIM_NODE_UP)
            continue;
        if (swim_member_find(s->nodes[i].core, s->nodes[r->victim].id, &m) != 0 ||
            m.incarnation < r->inc_life)
            return false;
    }
    return true;
}

static void rst_one(uint64_t seed, void *udata)
{
    const rst_case_t *c = udata;
    rst_run_t r = {.victim = UINT32_MAX};
    sim_cfg_t cfg;
    sim_cfg_default(&cfg, RST_N);
    cfg.on_event = rst_on_event;
    cfg.udata = &r;
    sim_t *s = sim_new(&cfg, seed);
    const swim_config_t *w = &cfg.swim;
    sim_boot_converged(s, RST_N, 2000, NULL);

    sh_rng_t rng;
    uint64_t x = seed ^ 0x72737274ULL;
    sh_rng_seed(&rng, sh_splitmix64(&x));
    sim_run_until(s, s->now + 1000 + sh_rng_below(&rng, w->probe_interval_ms));
    r.victim = (uint32_t)sh_rng_below(&rng, RST_N);
    r.down = true;
    if (c->mode == RST_GRACEFUL)
        sim_node_leave(s, r.victim);
    else
        sim_node_crash(s, r.victim, c->mode != RST_SILENT);
    uint64_t down_at = s->now;

    if (c->mode == RST_AFTER_DEAD || c->mode == RST_GRACEFUL) {
        uint64_t t = sim_run_until_pred(s, s->now + 120000, 10, rst_gone_everywhere, &r);
        SIM_CHECK(t != UINT64_MAX, "only %u survivors saw n%04u gone", r.gone_seen,
                  r.victim);
    } else {
        sim_run_until(s, s->now + (c->mode == RST_SILENT ? 3000 : 500));
    }
    /* Join through a seed other than itself. */
    uint32_t seed_node = r.victim == 0 ? 1 : 0;
    uint32_t inc = s->nodes[r.victim].inc_next;
    r.inc_life = inc;
    r.down = false;
    uint64_t up_at = s->now;
    sim_node_start(s, r.victim, &seed_node, 1);

    uint64_t bound = 2ull * (cfg.net.delay_max_ms + cfg.net.jitter_ms) +
                     sim_dissem_ms(w, RST_N);
    uint64_t t = sim_run_until_pred(s, up_at + bound + 60000, 10, rst_converged, &r);
    if (t == UINT64_MAX)
        sim_explain(s, 20);
    SIM_CHECK(t != UINT64_MAX, "not alive everywhere at incarnation >= %u by t=%llu ms",
              inc, (unsigned long long)(up_at + bound + 60000));
    SIM_CHECK(t - up_at <= bound, "alive everywhere %llu ms after the restart, bound %llu",
              (unsigned long long)(t - up_at), (unsigned long long)bound);
    for (uint32_t i = 0; i < RST_N; i++) {
        swim_member_view_t m;
        SIM_CHECK(swim_member_find(s->nodes[i].core, s->nodes[r.victim].id, &m) == 0,
                  "n%04u lost n%04u", i, r.victim);
        SIM_CHECK(m.incarnation >= inc, "n%04u sees n%04u at incarnation %u < %u", i,
                  r.victim, m.incarnation, inc);
    }
    sim_run_until(s, s->now + sim_susp_max_ms(w, RST_N));
    SIM_CHECK(sim_converged(s, NULL), "diverged after the restart");
    sim_check_all(s);
    printf("  n%04u down %llu ms, restarted at incarnation %u: alive everywhere %llu ms "
           "later (bound %llu)\n", r.victim, (unsigned long long)(up_at - down_at), inc,
           (unsigned long long)(t - up_at), (unsigned long long)bound);
    sim_free(s);
}

int main(void)
{
    sim_main_init("restart");
    uint32_t seeds = sim_sanitized() ? 2 : 8;
    static rst_case_t cases[] = {
        {"restart/after-dead", RST_AFTER_DEAD},
        {"restart/before-dead", RST_BEFORE_DEAD},
        {"restart/silent", RST_SILENT},
        {"restart/graceful", RST_GRACEFUL},
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++)
        sim_sweep(cases[i].name, seeds, rst_one, &cases[i]);
    return 0;
}
