/*
 * swim_test.c - SWIM cores in a cluster: 2-5 cores exchanging payloads
 * in-process with a virtual clock and zero latency (join, probing,
 * detection, refutation, leave, rejoin, push-pull, partition healing, and
 * deadline-driven ticks behaving exactly like ticks every millisecond).
 * Single-core protocol rules are in swim_rules_test.c, the codec in
 * swim_codec_test.c, large clusters in tests/sim.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "swim.h"
#include "swim_codec.h"
#include "swim_int.h"

/* ---- an in-process network ------------------------------------------------ */

#define NET_MAX 8

typedef struct ev {
    int node;
    uint64_t at;
    swim_out_t o;
} ev_t;

typedef struct pkt {
    int to, from;
    uint8_t *p;
    size_t len;
} pkt_t;

typedef struct net {
    int n;
    swim_t *s[NET_MAX];
    char id[NET_MAX][16], addr[NET_MAX][32];
    bool down[NET_MAX];
    int part[NET_MAX]; /* partition group: different groups cannot talk */
    uint64_t now;
    ev_t *evs;
    size_t nev, evcap;
    pkt_t *q;
    size_t qh, qt, qcap;
    uint64_t delivered;
} net_t;

static void net_cfg(net_t *net, int i, swim_config_t *cfg)
{
    swim_config_default(cfg);
    snprintf(net->id[i], sizeof(net->id[i]), "n%d", i);
    snprintf(net->addr[i], sizeof(net->addr[i]), "10.0.0.%d:7946", i + 1);
    cfg->self_id = net->id[i];
    cfg->self_addr = net->addr[i];
    cfg->seed = 0x5eed00 + (uint64_t)i;
}

static void net_start(net_t *net, int i, const swim_config_t *cfg)
{
    ck_assert_int_eq(swim_new(&net->s[i], cfg, net->now), 0);
    net->down[i] = false;
    if (i >= net->n)
        net->n = i + 1;
}

static void net_add(net_t *net, int i)
{
    swim_config_t cfg;
    net_cfg(net, i, &cfg);
    net_start(net, i, &cfg);
}

static int net_find(const net_t *net, const char *addr)
{
    for (int i = 0; i < net->n; i++)
        if (!strcmp(net->addr[i], addr))
            return i;
    return -1;
}

static void net_push(net_t *net, pkt_t p)
{
    if (net->qt == net->qcap) {
        net->qcap = net->qcap ? net->qcap * 2 : 256;
        net->q = realloc(net->q, net->qcap * sizeof(*net->q));
    }
    net->q[net->qt++] = p;
}

static void net_drain(net_t *net, int i)
{
    swim_out_t o;
    while (net->s[i] && swim_next_output(net->s[i], &o)) {
        if (o.kind == SWIM_OUT_EVENT) {
            if (net->nev == net->evcap) {
                net->evcap = net->evcap ? net->evcap * 2 : 256;
                net->evs = realloc(net->evs, net->evcap * sizeof(*net->evs));
            }
            net->evs[net->nev++] = (ev_t){i, net->now, o};
            continue;
        }
        int to = net_find(net, o.to_addr);
        if (to < 0 || net->down[i] || net->down[to] || net->part[to] != net->part[i]) {
            free(o.payload);
            continue;
        }
        net_push(net, (pkt_t){to, i, o.payload, o.len});
    }
}

/* Deliver until nothing is in flight (zero latency). */
static void net_pump(net_t *net)
{
    for (;;) {
        for (int i = 0; i < net->n; i++)
            net_drain(net, i);
        if (net->qh == net->qt)
            break;
        pkt_t p = net->q[net->qh++];
        if (net->qh == net->qt)
            net->qh = net->qt = 0;
        if (!net->down[p.to] && net->s[p.to]) {
            ck_assert_int_eq(swim_recv(net->s[p.to], net->now, net->addr[p.from],
                                       p.p, p.len), 0);
            swim_check_invariants(net->s[p.to]);
            net->delivered++;
        }
        free(p.p);
    }
}

static uint64_t net_next(const net_t *net)
{
    uint64_t d = UINT64_MAX;
    for (int i = 0; i < net->n; i++) {
        if (net->down[i] || !net->s[i])
            continue;
        uint64_t x = swim_next_deadline(net->s[i]);
        if (x < d)
            d = x;
    }
    return d;
}

/* Advance to t_end, ticking each core exactly at its deadlines. */
static void net_run(net_t *net, uint64_t t_end)
{
    for (;;) {
        net_pump(net);
        uint64_t d = net_next(net);
        if (d > t_end)
            break;
        if (d < net->now)
            d = net->now; /* a node just brought back up: late, like a resumed process */
        net->now = d;
        for (int i = 0; i < net->n; i++) {
            if (net->down[i] || !net->s[i] || swim_next_deadline(net->s[i]) > d)
                continue;
            swim_tick(net->s[i], d);
            swim_check_invariants(net->s[i]);
        }
    }
    net->now = t_end;
}

static void net_free(net_t *net)
{
    net_pump(net);
    for (int i = 0; i < net->n; i++) {
        net_drain(net, i);
        swim_free(net->s[i]);
    }
    for (size_t i = net->qh; i < net->qt; i++)
        free(net->q[i].p);
    free(net->q);
    free(net->evs);
}

static enum swim_state net_state(const net_t *net, int at, int who)
{
    swim_member_view_t v;
    if (swim_member_find(net->s[at], net->id[who], &v) != 0)
        return (enum swim_state)-1;
    return v.state;
}

/* Time of the first event at node `at` putting `who` into state st. */
static uint64_t ev_time(const net_t *net, int at, int who, enum swim_state st)
{
    for (size_t i = 0; i < net->nev; i++) {
        const ev_t *e = &net->evs[i];
        if (e->node == at && e->o.member.state == st &&
            !strcmp(e->o.member.id, net->id[who]))
            return e->at;
    }
    return UINT64_MAX;
}

/* n nodes, all joined through node 0, after `settle` ms. */
static void net_cluster(net_t *net, int n, uint64_t settle)
{
    memset(net, 0, sizeof(*net));
    for (int i = 0; i < n; i++)
        net_add(net, i);
    const char *seed[] = {net->addr[0]};
    for (int i = 1; i < n; i++)
        ck_assert_int_eq(swim_join(net->s[i], net->now, seed, 1), 0);
    net_run(net, settle);
}

static void assert_all(const net_t *net, int at, size_t alive, size_t suspect,
                       size_t dead, size_t left)
{
    size_t c[4];
    swim_count_by_state(net->s[at], c);
    ck_assert_uint_eq(c[SWIM_ALIVE], alive);
    ck_assert_uint_eq(c[SWIM_SUSPECT], suspect);
    ck_assert_uint_eq(c[SWIM_DEAD], dead);
    ck_assert_uint_eq(c[SWIM_LEFT], left);
}


/* ---- join ------------------------------------------------------------------- */

START_TEST(test_swim_join_through_seed)
{
    net_t net;
    net_cluster(&net, 4, 3000);
    for (int i = 0; i < 4; i++) {
        assert_all(&net, i, 4, 0, 0, 0);
        size_t is_new = 0;
        for (size_t e = 0; e < net.nev; e++)
            is_new += net.evs[e].node == i && net.evs[e].o.is_new;
        ck_assert_uint_eq(is_new, 4); /* self + three others, once each */
        ck_assert(!net.s[i]->joining);
    }
    net_free(&net);
}
END_TEST

START_TEST(test_swim_join_retries_until_seed_answers)
{
    net_t net;
    memset(&net, 0, sizeof(net));
    net_add(&net, 0);
    net_add(&net, 1);
    net.down[0] = true;
    const char *seeds[] = {net.addr[1], net.addr[0]}; /* self is skipped */
    ck_assert_int_eq(swim_join(net.s[1], 0, seeds, 2), 0);
    net_run(&net, 3000);
    swim_stats_t st;
    swim_stats_get(net.s[1], &st);
    ck_assert_uint_eq(st.syncs_sent, 4); /* at 0, 1000, 2000, 3000 */
    ck_assert(net.s[1]->joining);
    net.down[0] = false;
    net_run(&net, 4000);
    ck_assert(!net.s[1]->joining);
    assert_all(&net, 0, 2, 0, 0, 0);
    assert_all(&net, 1, 2, 0, 0, 0);
    const char *bad[] = {"x"};
    char longer[SWIM_ADDR_MAX + 1];
    memset(longer, 'a', SWIM_ADDR_MAX);
    longer[SWIM_ADDR_MAX] = 0;
    bad[0] = longer;
    ck_assert_int_eq(swim_join(net.s[1], 4000, bad, 1), SH_EBAD_REQUEST);
    net_free(&net);
}
END_TEST

/* ---- probe ------------------------------------------------------------------ */

START_TEST(test_swim_probe_acked)
{
    net_t net;
    net_cluster(&net, 3, 30000);
    for (int i = 0; i < 3; i++) {
        swim_stats_t st;
        swim_stats_get(net.s[i], &st);
        ck_assert_uint_eq(st.probes_sent, 30); /* first within 1 s, then 1/s */
        ck_assert_uint_eq(st.probes_failed, 0);
        ck_assert_uint_eq(st.ping_reqs_sent, 0);
        ck_assert_uint_eq(st.suspicions, 0);
        ck_assert_uint_eq(st.awareness, 0);
        ck_assert_uint_eq(st.bad_payloads, 0);
        assert_all(&net, i, 3, 0, 0, 0);
    }
    net_run(&net, 100000);
    swim_stats_t st;
    swim_stats_get(net.s[1], &st);
    ck_assert_uint_ge(st.syncs_sent, 3); /* join + a push-pull per 30 s */
    net_free(&net);
}
END_TEST

/* ---- suspect ---------------------------------------------------------------- */

START_TEST(test_swim_suspect_expires_to_dead)
{
    net_t net;
    net_cluster(&net, 2, 5000);
    net.down[1] = true;
    net_run(&net, 60000);
    uint64_t ts = ev_time(&net, 0, 1, SWIM_SUSPECT);
    uint64_t td = ev_time(&net, 0, 1, SWIM_DEAD);
    ck_assert_uint_gt(ts, 5000);
    ck_assert_uint_le(ts, 7000); /* the next probe period plus its wait */
    /* N = 2: min = 4 * 1 * 1000, max = 6 * min, no confirmations. */
    ck_assert_uint_eq(td - ts, 24000);
    swim_stats_t st;
    swim_stats_get(net.s[0], &st);
    ck_assert_uint_eq(st.suspicions, 1);
    ck_assert_uint_eq(st.deaths_declared, 1);
    ck_assert_uint_ge(st.probes_failed, 1);
    assert_all(&net, 0, 1, 0, 1, 0);
    uint64_t failed = st.probes_failed;
    net_run(&net, 90000); /* the dead are not probed, only synced with */
    swim_stats_get(net.s[0], &st);
    ck_assert_uint_eq(st.probes_failed, failed);
    ck_assert_uint_eq(st.syncs_sent >= 6, 1);
    net_free(&net);
}
END_TEST

START_TEST(test_swim_suspect_dead_everywhere)
{
    net_t net;
    net_cluster(&net, 5, 5000);
    net.down[4] = true;
    net_run(&net, 40000);
    for (int i = 0; i < 4; i++) {
        assert_all(&net, i, 4, 0, 1, 0);
        ck_assert_int_eq(net_state(&net, i, 4), SWIM_DEAD);
        uint64_t ts = ev_time(&net, i, 4, SWIM_SUSPECT);
        uint64_t td = ev_time(&net, i, 4, SWIM_DEAD);
        ck_assert_uint_le(td - ts, 24000);
    }
    net_free(&net);
}
END_TEST

/* ---- refute ----------------------------------------------------------------- */

/* The gossip of a PING payload holds alive(me, inc). */
START_TEST(test_swim_refute_in_cluster)
{
    net_t net;
    net_cluster(&net, 3, 5000);
    net.down[2] = true; /* paused: no ticks, no traffic */
    net_run(&net, 12000);
    ck_assert_int_eq(net_state(&net, 0, 2), SWIM_SUSPECT);
    net.down[2] = false;
    net_run(&net, 40000);
    for (int i = 0; i < 3; i++) {
        assert_all(&net, i, 3, 0, 0, 0);
        swim_member_view_t v;
        ck_assert_int_eq(swim_member_find(net.s[i], "n2", &v), 0);
        ck_assert_uint_eq(v.incarnation, 1);
        swim_stats_t st;
        swim_stats_get(net.s[i], &st);
        ck_assert_uint_eq(st.deaths_declared, 0);
    }
    net_free(&net);
}
END_TEST

/* ---- leave and rejoin ---------------------------------------------------------- */

START_TEST(test_swim_leave_left_everywhere)
{
    net_t net;
    net_cluster(&net, 3, 5000);
    ck_assert_int_eq(swim_leave(net.s[2], net.now), 0);
    net_pump(&net); /* the direct GOSSIP, no ticks needed */
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(net_state(&net, i, 2), SWIM_LEFT);
    ck_assert_uint_eq(swim_next_deadline(net.s[2]), UINT64_MAX);
    ck_assert_int_eq(swim_leave(net.s[2], net.now), 0); /* idempotent */
    swim_member_view_t v;
    ck_assert_int_eq(swim_member_find(net.s[0], "n2", &v), 0);
    ck_assert_uint_eq(v.incarnation, 1);
    net_run(&net, 60000);
    for (int i = 0; i < 2; i++) {
        assert_all(&net, i, 2, 0, 0, 1);
        swim_stats_t st;
        swim_stats_get(net.s[i], &st);
        ck_assert_uint_eq(st.deaths_declared, 0);
    }
    assert_all(&net, 2, 2, 0, 0, 1); /* frozen at the leave */
    net_free(&net);
}
END_TEST

START_TEST(test_swim_rejoin_after_dead)
{
    net_t net;
    net_cluster(&net, 3, 5000);
    net.down[2] = true;
    net_run(&net, 40000);
    ck_assert_int_eq(net_state(&net, 0, 2), SWIM_DEAD);
    ck_assert_int_eq(net_state(&net, 1, 2), SWIM_DEAD);
    net_drain(&net, 2);
    swim_free(net.s[2]);
    swim_config_t cfg;
    net_cfg(&net, 2, &cfg);
    cfg.incarnation = 1; /* the adapter persists incarnation + 1 */
    cfg.seed = 99;
    net_start(&net, 2, &cfg);
    const char *seed[] = {net.addr[0]};
    ck_assert_int_eq(swim_join(net.s[2], net.now, seed, 1), 0);
    net_run(&net, 45000);
    for (int i = 0; i < 3; i++) {
        assert_all(&net, i, 3, 0, 0, 0);
        swim_member_view_t v;
        ck_assert_int_eq(swim_member_find(net.s[i], "n2", &v), 0);
        ck_assert_uint_eq(v.incarnation, 1);
    }
    net_free(&net);
}
END_TEST

/* ---- push-pull ------------------------------------------------------------------ */

START_TEST(test_swim_pushpull_merges_both_ways)
{
    net_t net;
    memset(&net, 0, sizeof(net));
    for (int i = 0; i < 4; i++)
        net_add(&net, i);
    const char *s0[] = {net.addr[0]}, *s2[] = {net.addr[2]};
    ck_assert_int_eq(swim_join(net.s[1], 0, s0, 1), 0);
    ck_assert_int_eq(swim_join(net.s[3], 0, s2, 1), 0);
    net_run(&net, 3000);
    ck_assert_uint_eq(swim_member_count(net.s[0]), 2);
    ck_assert_int_eq(swim_join(net.s[0], net.now, s2, 1), 0);
    net_pump(&net); /* one SYNC / SYNC_ACK exchange, no ticks */
    ck_assert_uint_eq(swim_member_count(net.s[0]), 4);
    ck_assert_uint_eq(swim_member_count(net.s[2]), 4);
    net_run(&net, 20000);
    for (int i = 0; i < 4; i++)
        assert_all(&net, i, 4, 0, 0, 0);
    net_free(&net);
}
END_TEST

START_TEST(test_swim_partition_heals)
{
    net_t net;
    net_cluster(&net, 4, 3000);
    net.part[2] = net.part[3] = 1;
    net_run(&net, 60000);
    assert_all(&net, 0, 2, 0, 2, 0);
    assert_all(&net, 3, 2, 0, 2, 0);
    net.part[2] = net.part[3] = 0;
    net_run(&net, 120000);
    for (int i = 0; i < 4; i++)
        assert_all(&net, i, 4, 0, 0, 0);
    net_free(&net);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------ */

/* A 5-node run with a failure, ticked at deadlines or every millisecond. */
static void scenario(net_t *net, bool every_ms)
{
    net_cluster(net, 5, 0);
    for (uint64_t t = 1; t <= 40000; t++) {
        if (t == 8000)
            net->down[3] = true;
        if (t == 20000) {
            net->now = t;
            swim_leave(net->s[1], t);
        }
        if (!every_ms) {
            net_run(net, t);
            continue;
        }
        net->now = t;
        for (int i = 0; i < net->n; i++)
            if (!net->down[i]) {
                swim_tick(net->s[i], t);
                swim_check_invariants(net->s[i]);
            }
        net_pump(net);
    }
}

START_TEST(test_swim_deadline_ticks_equal_every_ms)
{
    net_t a, b;
    scenario(&a, false);
    scenario(&b, true);
    ck_assert_uint_eq(a.nev, b.nev);
    ck_assert_uint_eq(a.delivered, b.delivered);
    for (size_t i = 0; i < a.nev; i++) {
        ck_assert_int_eq(a.evs[i].node, b.evs[i].node);
        ck_assert_uint_eq(a.evs[i].at, b.evs[i].at);
        ck_assert_int_eq(a.evs[i].o.member.state, b.evs[i].o.member.state);
        ck_assert_uint_eq(a.evs[i].o.member.incarnation, b.evs[i].o.member.incarnation);
        ck_assert_str_eq(a.evs[i].o.member.id, b.evs[i].o.member.id);
    }
    ck_assert_int_eq(net_state(&a, 0, 3), SWIM_DEAD);
    ck_assert_int_eq(net_state(&a, 0, 1), SWIM_LEFT);
    net_free(&a);
    net_free(&b);
}
END_TEST


static Suite *swim_suite(void)
{
    Suite *s = suite_create("swim");
    struct {
        const char *name;
        const TTest *tests[8];
    } cases[] = {
        {"join", {test_swim_join_through_seed, test_swim_join_retries_until_seed_answers}},
        {"probe", {test_swim_probe_acked}},
        {"suspect", {test_swim_suspect_expires_to_dead, test_swim_suspect_dead_everywhere}},
        {"refute", {test_swim_refute_in_cluster}},
        {"leave", {test_swim_leave_left_everywhere, test_swim_rejoin_after_dead}},
        {"pushpull", {test_swim_pushpull_merges_both_ways, test_swim_partition_heals}},
        {"determinism", {test_swim_deadline_ticks_equal_every_ms}},
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        for (size_t j = 0; j < 8 && cases[i].tests[j]; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(swim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
