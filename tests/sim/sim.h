/*
 * sim.h - deterministic simulator for the SWIM membership core.
 *
 * Design notes.  The same swim_t object code that runs in shoald is driven
 * here by a virtual clock (milliseconds) and a simulated network, after
 * TigerBeetle's VOPR and FoundationDB's simulation: every source of
 * nondeterminism (delays, loss, duplication, partitions, crashes, pauses)
 * comes from ONE seed, so a failing run replays exactly with
 * SHOAL_SIM_SEED=0x... .  Time is an event queue (binary heap) ordered by
 * (time, sequence number), so ties break in insertion order and never by
 * pointer values or hash order.
 *
 * Each node owns one core.  After every input (a delivered payload, a tick,
 * a transport hint, join or leave) the node's outbox is drained: sends go
 * through the network model as byte copies, so the core's codec is on the
 * path of every message; member events update the simulator's shadow view
 * (which checks that events really report every change) and are handed to
 * the scenario's observer.  Then one wake-up is armed at
 * swim_next_deadline().  swim_check_invariants() runs on the core that just
 * stepped after every step; the other cores did not change, so this is the
 * same as checking all of them, at 1/N of the cost.
 *
 * What it deliberately does not model: bandwidth and queueing (a message's
 * delay does not depend on its size), the wire frame header and its HMAC
 * (transport/wire is fuzzed and unit-tested on its own), clock drift (every
 * core reads the same virtual now).
 *
 * Threads: none.  Everything here is single-threaded and allocation
 * failures abort the run (a test harness, not production code).
 */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sh_rng.h"
#include "swim.h"

/* ---- the network model (sim_net.c) ----------------------------------- */

typedef struct sim_net_cfg {
    uint32_t delay_min_ms; /* per-link base delay, drawn once per ordered pair */
    uint32_t delay_max_ms;
    uint32_t jitter_ms;    /* per-message extra delay in [0, jitter]: reorders */
    double loss;           /* per-message drop probability */
    double dup;            /* per-message duplication probability */
} sim_net_cfg_t;

/* 1-20 ms one way (base 1-10 + jitter 0-10), no loss, no duplication. */
void sim_net_cfg_default(sim_net_cfg_t *cfg);

enum sim_ev_kind { SIM_EV_DELIVER = 1, SIM_EV_WAKE = 2, SIM_EV_HINT = 3 };

/* One scheduled happening.  DELIVER owns payload (malloc'd). */
typedef struct sim_ev {
    uint64_t at;  /* virtual ms */
    uint64_t seq; /* tie-break: insertion order */
    uint8_t kind;
    uint32_t dst, src;
    uint32_t dst_gen; /* dropped if the destination restarted meanwhile */
    uint8_t *payload;
    size_t len;
} sim_ev_t;

/* A binary min-heap of events keyed by (at, seq). */
typedef struct sim_heap {
    sim_ev_t *v;
    size_t n, cap;
} sim_heap_t;

void sim_heap_push(sim_heap_t *h, const sim_ev_t *ev);
/* 1 and *out filled, or 0 if empty. */
int sim_heap_pop(sim_heap_t *h, sim_ev_t *out);
/* Frees the payloads still queued. */
void sim_heap_fini(sim_heap_t *h);

/* Traffic counters, per node (sender side). */
typedef struct sim_traffic {
    uint64_t msgs, bytes;           /* every payload sent */
    uint64_t sync_msgs, sync_bytes; /* of which full-state syncs */
} sim_traffic_t;

/* ---- nodes and the cluster (sim_cluster.c) --------------------------- */

enum sim_node_state {
    SIM_NODE_NEW = 0, /* never started */
    SIM_NODE_UP,
    SIM_NODE_PAUSED,  /* SIGSTOP: no ticks, inputs queued until resume */
    SIM_NODE_DOWN,    /* crashed or left: no core */
};

typedef struct sim_pending {
    sim_ev_t *v; /* inputs that reached a paused node, in arrival order */
    size_t n, cap;
} sim_pending_t;

typedef struct sim_node {
    swim_t *core;
    char id[SWIM_ID_MAX];
    char addr[SWIM_ADDR_MAX];
    enum sim_node_state st;
    uint32_t gen;        /* bumped on every crash: stale events are dropped */
    uint32_t inc_next;   /* starting incarnation of the next (re)start */
    uint64_t wake_at;    /* the armed wake-up, UINT64_MAX if none */
    uint64_t started_at; /* virtual ms of the last (re)start */
    uint64_t steps;          /* inputs handled by the current core */
    int group;           /* partition group */
    sim_pending_t pending;
    sim_traffic_t tx;
} sim_node_t;

/* Shadow of one observer's view of one member, rebuilt from events. */
typedef struct sim_view {
    uint8_t known;
    uint8_t state;
    uint32_t inc;
} sim_view_t;

typedef struct sim sim_t;

/* Called for every SWIM_OUT_EVENT a node emits (after the shadow check). */
typedef void (*sim_event_fn)(sim_t *s, uint32_t observer, const swim_out_t *ev,
                             void *udata);

typedef struct sim_cfg {
    uint32_t n_nodes;       /* fixed population: ids n0000..; not all need start */
    sim_net_cfg_t net;
    swim_config_t swim;     /* template; id, addr, seed, incarnation set per node */
    uint32_t check_every;   /* run swim_check_invariants every k-th step of a node (1) */
    sim_event_fn on_event;
    void *udata;
} sim_cfg_t;

typedef struct sim_counters {
    uint64_t steps, delivered, lost, dup, cut, to_down, hints;
} sim_counters_t;

struct sim {
    sim_cfg_t cfg;
    uint64_t seed;
    uint64_t now;
    uint64_t seq;
    sh_rng_t rng; /* network faults only: cores have their own seeds */
    sim_heap_t heap;
    sim_node_t *nodes;
    sim_view_t *view; /* n_nodes * n_nodes shadow views, [observer][member] */
    sim_counters_t ctr;
    const char *trace; /* SHOAL_SIM_TRACE: a node id to trace, or NULL */
};

/* Defaults: sim_net_cfg_default, swim_config_default, check_every 1. */
void sim_cfg_default(sim_cfg_t *cfg, uint32_t n_nodes);

/* Create a world of cfg->n_nodes nodes, none started.  Aborts on OOM. */
sim_t *sim_new(const sim_cfg_t *cfg, uint64_t seed);
void sim_free(sim_t *s);

/* Start node i (a new core, incarnation inc_next) and join through the
 * listed seed nodes (none: a cluster of one).  Restarting a crashed node is
 * the same call: a NEW core, same id and address, higher incarnation. */
void sim_node_start(sim_t *s, uint32_t i, const uint32_t *seeds, size_t n_seeds);
/* kill -9: the core is freed, queued deliveries to it are dropped.  With
 * hint, every running peer reachable from it gets swim_peer_unreachable
 * after one link delay, as a TCP close would tell it. */
void sim_node_crash(sim_t *s, uint32_t i, bool hint);
/* SIGSTOP / SIGCONT. */
void sim_node_pause(sim_t *s, uint32_t i);
void sim_node_resume(sim_t *s, uint32_t i);
/* Graceful leave; the node stops once its outbox is drained. */
void sim_node_leave(sim_t *s, uint32_t i);

/* group[i] for every node; messages between groups are dropped (checked
 * when sent and again when delivered).  NULL heals. */
void sim_partition_set(sim_t *s, const int *group);

/* Process events up to and including time t; then now = t. */
void sim_run_until(sim_t *s, uint64_t t);

typedef bool (*sim_pred_fn)(sim_t *s, void *udata);
/* Run until pred holds, polled every step_ms, or until deadline.  Returns
 * the virtual time at which it held, or UINT64_MAX. */
uint64_t sim_run_until_pred(sim_t *s, uint64_t deadline, uint32_t step_ms,
                            sim_pred_fn pred, void *udata);

/* True if every running node sees exactly the running and paused nodes as
 * alive, and every other started node as not alive.  Cheap prefilter on
 * swim_count_by_state, then a full table walk. */
bool sim_converged(sim_t *s, void *unused);
/* Run until sim_converged, polled every 10 ms; past deadline, explain and
 * fail naming `what`.  Returns the time of convergence. */
uint64_t sim_converge(sim_t *s, uint64_t deadline, const char *what);
/* Print up to max lines "observer sees member state inc, expected ..."
 * for what keeps sim_converged false (to stderr, for failure reports). */
void sim_explain(sim_t *s, int max);
/* Full consistency sweep: invariants of every running core, and every
 * table entry equal to the view its events reported. */
void sim_check_all(sim_t *s);

/* Node index from an id ("n0042") or address; -1 if not one of ours. */
int sim_node_index(const sim_t *s, const char *id_or_addr);
size_t sim_nodes_running(const sim_t *s); /* UP + PAUSED */

/* ---- bootstrap (sim_bounds.c) --------------------------------------- */

/* Start node 0 alone now, then nodes 1..n-1 at sorted uniform times in
 * (now, now + spread_ms], each joining through node 0 (the process runs
 * the world up to each start).  Returns the time of the last start. */
uint64_t sim_boot(sim_t *s, uint32_t n, uint64_t spread_ms);

/* sim_boot, then run until converged.  This is setup, not a claim (the
 * join100 scenario makes the claim): the deadline is a generous
 * last start + retransmits(n) * T + 10 push-pull periods.  Returns the
 * convergence time; *last_start gets the time of the last start. */
uint64_t sim_boot_converged(sim_t *s, uint32_t n, uint64_t spread_ms,
                            uint64_t *last_start);

/* ---- timing bounds from the protocol parameters (sim_bounds.c) ------- */

/* Lifeguard suspicion timeout bounds for a cluster of n:
 * min = alpha * max(1, log10 n) * T,  max = beta * min. */
uint64_t sim_susp_min_ms(const swim_config_t *c, size_t n);
uint64_t sim_susp_max_ms(const swim_config_t *c, size_t n);
/* Times each node retransmits an update: lambda * ceil(log10(n + 1)). */
uint32_t sim_retransmits(const swim_config_t *c, size_t n);
/* Push-pull period at n members, as membership/swim_sync.c computes it:
 * pushpull_interval_ms, not stretched with n (unlike memberlist). */
uint64_t sim_pushpull_ms(const swim_config_t *c, size_t n);
/* Gossip dissemination bound: retransmits(n) protocol periods. */
uint64_t sim_dissem_ms(const swim_config_t *c, size_t n);

/* ---- runs, seeds and failure reports (sim_net.c) ---------------------- */

/* Seeds of a sweep: SHOAL_SIM_SEED=0x.. runs exactly that one; otherwise
 * SHOAL_SIM_SEEDS=n (else default_n) seeds derived from the case name.
 * SHOAL_SIM_CASE=x runs only the cases whose name has x as whole
 * '/'-separated components ("n=10" selects "detect/n=10", not n=100).
 * Prints "case=... seed=0x..." before each run. */
typedef void (*sim_case_fn)(uint64_t seed, void *udata);
void sim_sweep(const char *case_name, uint32_t default_n, sim_case_fn fn,
               void *udata);

/* Scenario start: names the scenario for failure reports, installs the
 * SIGABRT reporter (an SH_ASSERT in a core prints the seed too), and sets
 * the log level (SHOAL_SIM_LOG=debug|info|warn|error, default error). */
void sim_main_init(const char *scenario);
/* SHOAL_SANITIZED=1: scenarios shrink N and seed counts. */
bool sim_sanitized(void);
/* The world whose time failure reports print (set by sim_new). */
void sim_ctx_set(const sim_t *s);

/* Print scenario, case, seed, virtual time and the message; exit(1). */
void sim_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define SIM_CHECK(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            sim_fail(__FILE__, __LINE__, __VA_ARGS__);                         \
    } while (0)

/* Median and max of v[0..n) (sorts v). */
uint64_t sim_median(uint64_t *v, size_t n);
uint64_t sim_max(const uint64_t *v, size_t n);

/* Network primitives used by sim_cluster.c. */
void sim_net_send(sim_t *s, uint32_t src, uint32_t dst, uint8_t *payload,
                  size_t len);
void sim_net_hint(sim_t *s, uint32_t src_crashed, uint32_t dst);
bool sim_payload_is_sync(const uint8_t *p, size_t len);

#endif
