/*
 * swim_test.c - the SWIM core driven by hand: 1-5 cores exchanging payloads
 * in-process with a virtual clock and zero latency, plus single cores fed
 * crafted payloads (swim_codec.h) with an auto-responder that acks every
 * probe, so that suspicion timing is exact.  Codec tests live in
 * swim_codec_test.c.
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

/* ---- a single core fed crafted payloads ---------------------------------- */

typedef struct solo {
    swim_t *s;
    uint64_t now;
    const char *silent; /* member id the responder never answers for */
    size_t nev;
    swim_out_t ev[64]; /* the last events (ring) */
    size_t sends, by_type[8];
    uint8_t *last_ping; /* a copy of the last PING sent */
    size_t last_len;
} solo_t;

static char g_addr_buf[8][SWIM_ADDR_MAX];

/* Members of a solo test are "<id>" at "<id>.test:1". */
static swim_str_t addr_of(const char *id, int buf)
{
    snprintf(g_addr_buf[buf], SWIM_ADDR_MAX, "%s.test:1", id);
    return swim_str_of(g_addr_buf[buf]);
}

static swim_update_t upd(const char *id, enum swim_state st, uint32_t inc,
                         const char *by)
{
    swim_update_t u = {.id = swim_str_of(id), .addr = addr_of(id, 7),
                       .state = (uint8_t)st, .incarnation = inc};
    if (by)
        u.by = swim_str_of(by);
    return u;
}

static void solo_pump(solo_t *so);

static int solo_inject(solo_t *so, const swim_msg_t *m)
{
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(swim_msg_encode(m, 1u << 20, &p, &len), 0);
    char from[SWIM_ADDR_MAX];
    snprintf(from, sizeof(from), "%.*s", (int)m->from_addr.len, m->from_addr.p);
    int rc = swim_recv(so->s, so->now, from, p, len);
    free(p);
    swim_check_invariants(so->s);
    solo_pump(so);
    return rc;
}

static void solo_reply(solo_t *so, uint8_t type, uint32_t seq, const char *from)
{
    swim_msg_t m = {.type = type, .seq = seq, .from_id = swim_str_of(from),
                    .from_addr = addr_of(from, 6)};
    ck_assert_int_eq(solo_inject(so, &m), 0);
}

/* The rest of the cluster: acks every probe except for `silent`. */
static void solo_answer(solo_t *so, const uint8_t *p, size_t len)
{
    swim_msg_t m;
    char target[SWIM_ID_MAX];
    ck_assert_int_eq(swim_msg_decode(p, len, 1u << 20, &m), 0);
    snprintf(target, sizeof(target), "%.*s", (int)m.target_id.len, m.target_id.p);
    uint8_t type = m.type;
    uint32_t seq = m.seq;
    swim_msg_fini(&m);
    so->by_type[type]++;
    if (type == SWIM_MSG_PING) {
        free(so->last_ping);
        so->last_ping = malloc(len);
        memcpy(so->last_ping, p, len);
        so->last_len = len;
    }
    bool silent = so->silent && !strcmp(target, so->silent);
    if (type == SWIM_MSG_PING && !silent)
        solo_reply(so, SWIM_MSG_ACK, seq, target);
    else if (type == SWIM_MSG_PING_REQ)
        solo_reply(so, silent ? SWIM_MSG_NACK : SWIM_MSG_ACK, seq, target);
}

static void solo_pump(solo_t *so)
{
    swim_out_t o;
    while (swim_next_output(so->s, &o)) {
        if (o.kind == SWIM_OUT_EVENT) {
            so->ev[so->nev++ % SH_ARRAY_LEN(so->ev)] = o;
            continue;
        }
        so->sends++;
        solo_answer(so, o.payload, o.len);
        free(o.payload);
    }
}

static void solo_run(solo_t *so, uint64_t t_end)
{
    for (;;) {
        solo_pump(so);
        uint64_t d = swim_next_deadline(so->s);
        if (d > t_end)
            break;
        so->now = d;
        swim_tick(so->s, d);
        swim_check_invariants(so->s);
    }
    so->now = t_end;
}

static void solo_init(solo_t *so, const swim_config_t *cfg_in)
{
    swim_config_t cfg;
    memset(so, 0, sizeof(*so));
    if (cfg_in) {
        cfg = *cfg_in;
    } else {
        swim_config_default(&cfg);
        cfg.seed = 42;
    }
    cfg.self_id = "me";
    cfg.self_addr = "me.test:1";
    ck_assert_int_eq(swim_new(&so->s, &cfg, 0), 0);
    solo_pump(so);
}

static void solo_fini(solo_t *so)
{
    swim_free(so->s);
    free(so->last_ping);
}

/* Gossip `n` updates from member `from`. */
static int solo_gossip(solo_t *so, const char *from, swim_update_t *u, size_t n)
{
    swim_msg_t m = {.type = SWIM_MSG_GOSSIP, .from_id = swim_str_of(from),
                    .from_addr = addr_of(from, 5), .gossip = u, .n_gossip = n};
    return solo_inject(so, &m);
}

static void solo_add(solo_t *so, const char *id, uint32_t inc)
{
    swim_update_t u = upd(id, SWIM_ALIVE, inc, NULL);
    ck_assert_int_eq(solo_gossip(so, id, &u, 1), 0);
}

static swim_member_view_t solo_get(const solo_t *so, const char *id)
{
    swim_member_view_t v;
    ck_assert_int_eq(swim_member_find(so->s, id, &v), 0);
    return v;
}

/* Time of the most recent event about id in state st, or UINT64_MAX. */
static uint64_t solo_ev(const solo_t *so, const char *id, enum swim_state st)
{
    size_t cap = SH_ARRAY_LEN(so->ev), lo = so->nev > cap ? so->nev - cap : 0;
    for (size_t i = so->nev; i-- > lo;) {
        const swim_out_t *o = &so->ev[i % cap];
        if (o->member.state == st && !strcmp(o->member.id, id))
            return o->member.last_change_ms;
    }
    return UINT64_MAX;
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

START_TEST(test_swim_ping_req_relay)
{
    solo_t so;
    solo_init(&so, NULL);
    solo_add(&so, "x", 0);
    so.by_type[SWIM_MSG_PING] = so.by_type[SWIM_MSG_ACK] = 0;
    swim_msg_t m = {.type = SWIM_MSG_PING_REQ, .seq = 77,
                    .from_id = swim_str_of("b"), .from_addr = addr_of("b", 4),
                    .target_id = swim_str_of("x"), .target_addr = addr_of("x", 3)};
    ck_assert_int_eq(solo_inject(&so, &m), 0);
    ck_assert_uint_eq(so.by_type[SWIM_MSG_PING], 1);
    ck_assert_uint_eq(so.by_type[SWIM_MSG_ACK], 1); /* relayed */
    so.silent = "x";
    ck_assert_int_eq(solo_inject(&so, &m), 0);
    ck_assert_uint_eq(so.by_type[SWIM_MSG_PING], 2);
    solo_run(&so, so.now + 399);
    ck_assert_uint_eq(so.by_type[SWIM_MSG_NACK], 0);
    solo_run(&so, so.now + 1); /* 80% of the 500 ms probe timeout */
    ck_assert_uint_eq(so.by_type[SWIM_MSG_NACK], 1);
    swim_stats_t st;
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(st.nacks_sent, 1);
    solo_fini(&so);
}
END_TEST

START_TEST(test_swim_ping_misdirected_ignored)
{
    solo_t so;
    solo_init(&so, NULL);
    swim_msg_t m = {.type = SWIM_MSG_PING, .seq = 5, .from_id = swim_str_of("b"),
                    .from_addr = addr_of("b", 4), .target_id = swim_str_of("other")};
    size_t before = so.sends;
    ck_assert_int_eq(solo_inject(&so, &m), 0);
    ck_assert_uint_eq(so.sends, before);
    m.target_id = swim_str_of("me");
    ck_assert_int_eq(solo_inject(&so, &m), 0);
    ck_assert_uint_eq(so.sends, before + 1);
    ck_assert_uint_eq(so.by_type[SWIM_MSG_ACK], 1);
    solo_fini(&so);
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

START_TEST(test_swim_suspicion_timeout_formula)
{
    static const struct {
        uint64_t min, max;
        uint32_t c, k;
        uint64_t want;
    } rows[] = {
        {4000, 24000, 0, 3, 24000}, {4000, 24000, 1, 3, 14000},
        {4000, 24000, 2, 3, 8150},  {4000, 24000, 3, 3, 4000},
        {4000, 24000, 9, 3, 4000},  {4000, 24000, 5, 0, 4000},
        {4000, 24000, 1, 1, 4000},  {4000, 4000, 0, 3, 4000},
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(rows); i++)
        ck_assert_uint_eq(swim_suspicion_timeout(rows[i].min, rows[i].max,
                                                 rows[i].c, rows[i].k),
                          rows[i].want);
}
END_TEST

START_TEST(test_swim_confirmations_shorten_timeout)
{
    solo_t so;
    solo_init(&so, NULL);
    const char *ids[] = {"b", "c", "d", "x"};
    for (size_t i = 0; i < 4; i++)
        solo_add(&so, ids[i], 0);
    so.now = 1000;
    swim_update_t u = upd("x", SWIM_SUSPECT, 0, "b");
    ck_assert_int_eq(solo_gossip(&so, "b", &u, 1), 0);
    u.by = swim_str_of("c");
    ck_assert_int_eq(solo_gossip(&so, "c", &u, 1), 0);
    ck_assert_int_eq(solo_gossip(&so, "d", &u, 1), 0); /* a relay: not new */
    u.by = swim_str_of("d");
    ck_assert_int_eq(solo_gossip(&so, "d", &u, 1), 0);
    /* N = 5: min 4000, max 24000; C = 2 of K = 3 -> 8150 ms (our own probes
     * of x are acked, so we never accuse it ourselves). */
    solo_run(&so, 1000 + 8149);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_SUSPECT);
    solo_run(&so, 1000 + 8150);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_DEAD);
    ck_assert_uint_eq(solo_ev(&so, "x", SWIM_DEAD), 9150);
    swim_stats_t st;
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(st.deaths_declared, 1);
    ck_assert_uint_eq(st.suspicions, 1);
    solo_fini(&so);
}
END_TEST

START_TEST(test_swim_peer_unreachable_short_timeout)
{
    solo_t so;
    solo_init(&so, NULL);
    solo_add(&so, "x", 0);
    solo_add(&so, "y", 0);
    so.now = 1000;
    swim_peer_unreachable(so.s, 1000, "nobody.test:1"); /* unknown: ignored */
    swim_peer_unreachable(so.s, 1000, "x.test:1");
    swim_peer_unreachable(so.s, 1000, "y.test:1");
    solo_pump(&so);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_SUSPECT);
    /* An alive update with a higher incarnation still clears it. */
    so.now = 2000;
    swim_update_t u = upd("y", SWIM_ALIVE, 1, NULL);
    ck_assert_int_eq(solo_gossip(&so, "y", &u, 1), 0);
    solo_run(&so, 2999);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_SUSPECT);
    solo_run(&so, 3000); /* refused_suspicion_ms = 2000 */
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_DEAD);
    solo_run(&so, 60000);
    ck_assert_int_eq(solo_get(&so, "y").state, SWIM_ALIVE);
    solo_fini(&so);
}
END_TEST

START_TEST(test_swim_peer_unreachable_never_longer)
{
    swim_config_t cfg;
    swim_config_default(&cfg);
    cfg.refused_suspicion_ms = 60000;
    solo_t so;
    solo_init(&so, &cfg);
    solo_add(&so, "x", 0);
    so.now = 1000;
    swim_peer_unreachable(so.s, 1000, "x.test:1");
    solo_run(&so, 1000 + 23999);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_SUSPECT);
    solo_run(&so, 1000 + 24000);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_DEAD);
    solo_fini(&so);
}
END_TEST

/* ---- refute ----------------------------------------------------------------- */

/* The gossip of a PING payload holds alive(me, inc). */
static bool ping_carries_self_alive(const solo_t *so, uint32_t inc)
{
    swim_msg_t m;
    ck_assert_int_eq(swim_msg_decode(so->last_ping, so->last_len, 1u << 20, &m), 0);
    bool found = false;
    for (size_t i = 0; i < m.n_gossip; i++)
        found |= swim_str_eq(m.gossip[i].id, swim_str_of("me")) &&
                 m.gossip[i].state == SWIM_ALIVE && m.gossip[i].incarnation == inc;
    swim_msg_fini(&m);
    return found;
}

START_TEST(test_swim_refute_bumps_incarnation)
{
    solo_t so;
    solo_init(&so, NULL);
    solo_add(&so, "b", 0);
    swim_update_t u = upd("me", SWIM_SUSPECT, 0, "b");
    ck_assert_int_eq(solo_gossip(&so, "b", &u, 1), 0);
    swim_stats_t st;
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(solo_get(&so, "me").incarnation, 1);
    ck_assert_int_eq(solo_get(&so, "me").state, SWIM_ALIVE);
    ck_assert_uint_eq(st.refutations, 1);
    ck_assert_uint_eq(st.awareness, 1);
    ck_assert_uint_eq(solo_ev(&so, "me", SWIM_ALIVE), 0);
    solo_run(&so, 3000);
    ck_assert(ping_carries_self_alive(&so, 1));
    /* Old news changes nothing; dead and a higher alive are outbid. */
    ck_assert_int_eq(solo_gossip(&so, "b", &u, 1), 0);
    ck_assert_uint_eq(solo_get(&so, "me").incarnation, 1);
    u = upd("me", SWIM_DEAD, 1, NULL);
    ck_assert_int_eq(solo_gossip(&so, "b", &u, 1), 0);
    ck_assert_uint_eq(solo_get(&so, "me").incarnation, 2);
    u = upd("me", SWIM_ALIVE, 5, NULL);
    ck_assert_int_eq(solo_gossip(&so, "b", &u, 1), 0);
    ck_assert_uint_eq(solo_get(&so, "me").incarnation, 6);
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(st.refutations, 3);
    ck_assert_uint_le(st.awareness, 2); /* alive news costs no health */
    solo_fini(&so);
}
END_TEST

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

/* ---- precedence --------------------------------------------------------------- */

#define NONE_ 9 /* "not in the table" */

START_TEST(test_swim_precedence_table)
{
    static const struct {
        int cs;
        uint32_t ci;
        int ns;
        uint32_t ni;
        int want;
        uint32_t want_i;
    } rows[] = {
        {SWIM_ALIVE, 1, SWIM_ALIVE, 1, SWIM_ALIVE, 1},
        {SWIM_ALIVE, 1, SWIM_ALIVE, 2, SWIM_ALIVE, 2},
        {SWIM_ALIVE, 2, SWIM_ALIVE, 1, SWIM_ALIVE, 2},
        {SWIM_ALIVE, 1, SWIM_SUSPECT, 1, SWIM_SUSPECT, 1},
        {SWIM_ALIVE, 2, SWIM_SUSPECT, 1, SWIM_ALIVE, 2},
        {SWIM_SUSPECT, 1, SWIM_ALIVE, 1, SWIM_SUSPECT, 1},
        {SWIM_SUSPECT, 1, SWIM_ALIVE, 2, SWIM_ALIVE, 2},
        {SWIM_SUSPECT, 1, SWIM_SUSPECT, 2, SWIM_SUSPECT, 2},
        {SWIM_SUSPECT, 2, SWIM_SUSPECT, 1, SWIM_SUSPECT, 2},
        {SWIM_ALIVE, 1, SWIM_DEAD, 1, SWIM_DEAD, 1},
        {SWIM_SUSPECT, 1, SWIM_DEAD, 1, SWIM_DEAD, 1},
        {SWIM_ALIVE, 2, SWIM_DEAD, 1, SWIM_ALIVE, 2},
        {SWIM_DEAD, 1, SWIM_ALIVE, 1, SWIM_DEAD, 1},
        {SWIM_DEAD, 1, SWIM_ALIVE, 2, SWIM_ALIVE, 2},
        {SWIM_DEAD, 1, SWIM_SUSPECT, 1, SWIM_DEAD, 1},
        {SWIM_DEAD, 1, SWIM_DEAD, 2, SWIM_DEAD, 2},
        {SWIM_ALIVE, 1, SWIM_LEFT, 1, SWIM_LEFT, 1},
        {SWIM_DEAD, 1, SWIM_LEFT, 1, SWIM_LEFT, 1},
        {SWIM_LEFT, 1, SWIM_DEAD, 1, SWIM_LEFT, 1},
        {SWIM_LEFT, 1, SWIM_ALIVE, 1, SWIM_LEFT, 1},
        {SWIM_LEFT, 1, SWIM_SUSPECT, 1, SWIM_LEFT, 1},
        {SWIM_LEFT, 1, SWIM_LEFT, 1, SWIM_LEFT, 1},
        {SWIM_LEFT, 1, SWIM_ALIVE, 2, SWIM_ALIVE, 2},
        {NONE_, 0, SWIM_ALIVE, 3, SWIM_ALIVE, 3},
        {NONE_, 0, SWIM_SUSPECT, 3, SWIM_SUSPECT, 3},
        {NONE_, 0, SWIM_DEAD, 3, NONE_, 0},
        {NONE_, 0, SWIM_LEFT, 3, NONE_, 0},
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(rows); i++) {
        solo_t so;
        solo_init(&so, NULL);
        solo_add(&so, "b", 0);
        if (rows[i].cs != NONE_) {
            solo_add(&so, "x", rows[i].ci);
            swim_update_t u = upd("x", (enum swim_state)rows[i].cs, rows[i].ci,
                                  rows[i].cs == SWIM_SUSPECT ? "b" : NULL);
            ck_assert_int_eq(solo_gossip(&so, "b", &u, 1), 0);
        }
        size_t nev = so.nev;
        swim_update_t u = upd("x", (enum swim_state)rows[i].ns, rows[i].ni,
                              rows[i].ns == SWIM_SUSPECT ? "b" : NULL);
        ck_assert_int_eq(solo_gossip(&so, "b", &u, 1), 0);
        swim_member_view_t v;
        int rc = swim_member_find(so.s, "x", &v);
        if (rows[i].want == NONE_) {
            ck_assert_msg(rc == SH_ENOT_FOUND, "row %zu", i);
            ck_assert_uint_eq(so.nev, nev);
        } else {
            ck_assert_msg(rc == 0 && (int)v.state == rows[i].want &&
                              v.incarnation == rows[i].want_i,
                          "row %zu: got %d/%u", i, (int)v.state, v.incarnation);
            bool changed = rows[i].cs != rows[i].want || rows[i].ci != rows[i].want_i;
            ck_assert_uint_eq(so.nev, nev + (changed ? 1u : 0u));
        }
        solo_fini(&so);
    }
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

/* ---- bounds and bad input -------------------------------------------------------- */

START_TEST(test_swim_outbox_bounded)
{
    swim_config_t cfg;
    swim_config_default(&cfg);
    cfg.max_members = 16; /* outbox: 4 * 16 = 64 */
    solo_t so;
    solo_init(&so, &cfg);
    swim_msg_t m = {.type = SWIM_MSG_PING, .seq = 5, .from_id = swim_str_of("b"),
                    .from_addr = addr_of("b", 4), .target_id = swim_str_of("me")};
    uint8_t *p;
    size_t len;
    ck_assert_int_eq(swim_msg_encode(&m, 4096, &p, &len), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(swim_recv(so.s, 0, "b.test:1", p, len), 0);
    free(p);
    swim_out_t o;
    size_t sends = 0;
    while (swim_next_output(so.s, &o)) {
        sends += o.kind == SWIM_OUT_SEND;
        free(o.payload);
    }
    swim_stats_t st;
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(sends, 64);
    ck_assert_uint_eq(st.outbox_dropped, 36);
    ck_assert_uint_eq(st.msgs_out, 100);
    solo_fini(&so);
}
END_TEST

START_TEST(test_swim_table_full_evicts_dead)
{
    swim_config_t cfg;
    swim_config_default(&cfg);
    cfg.max_members = 4;
    cfg.seed = 7;
    solo_t so;
    solo_init(&so, &cfg);
    solo_add(&so, "a", 0);
    solo_add(&so, "b", 0);
    solo_add(&so, "c", 0);
    solo_add(&so, "d", 0); /* full of live members: dropped */
    swim_stats_t st;
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(st.members_dropped, 1);
    ck_assert_uint_eq(swim_member_count(so.s), 4);
    swim_update_t u = upd("b", SWIM_DEAD, 0, NULL);
    ck_assert_int_eq(solo_gossip(&so, "a", &u, 1), 0);
    solo_add(&so, "d", 0); /* takes b's slot */
    ck_assert_int_eq(solo_get(&so, "d").state, SWIM_ALIVE);
    swim_member_view_t v;
    ck_assert_int_eq(swim_member_find(so.s, "b", &v), SH_ENOT_FOUND);
    ck_assert_uint_eq(swim_member_count(so.s), 4);
    solo_run(&so, 20000);
    solo_fini(&so);
}
END_TEST

START_TEST(test_swim_bad_payload_counted)
{
    swim_config_t cfg;
    swim_config_default(&cfg);
    cfg.payload_max_bytes = 4096;
    cfg.seed = 3;
    solo_t so;
    solo_init(&so, &cfg);
    solo_add(&so, "b", 0);
    static const uint8_t junk[] = {0x81, 0xa1, 't', 0x09};
    uint8_t *big = calloc(1, 5000);
    ck_assert_int_eq(swim_recv(so.s, 0, "b.test:1", junk, sizeof(junk)), SH_EMALFORMED);
    ck_assert_int_eq(swim_recv(so.s, 0, "b.test:1", big, 5000), SH_ETOO_BIG);
    ck_assert_int_eq(swim_recv(so.s, 0, "b.test:1", NULL, 0), SH_EMALFORMED);
    free(big);
    swim_stats_t st;
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(st.bad_payloads, 3);
    ck_assert_uint_eq(st.msgs_in, 1); /* only the good gossip of solo_add */
    ck_assert_uint_eq(swim_member_count(so.s), 2);
    swim_check_invariants(so.s);
    solo_fini(&so);
}
END_TEST

START_TEST(test_swim_config_rejected)
{
    swim_config_t cfg;
    swim_t *s = NULL;
    swim_config_default(&cfg);
    ck_assert_int_eq(swim_new(&s, &cfg, 0), SH_EBAD_REQUEST); /* no id */
    cfg.self_id = "";
    cfg.self_addr = "a:1";
    ck_assert_int_eq(swim_new(&s, &cfg, 0), SH_EBAD_REQUEST);
    cfg.self_id = "0123456789012345678901234567890123456789012345678901234567890123";
    ck_assert_int_eq(swim_new(&s, &cfg, 0), SH_EBAD_REQUEST);
    cfg.self_id = "a";
    cfg.probe_interval_ms = 0;
    ck_assert_int_eq(swim_new(&s, &cfg, 0), SH_EBAD_REQUEST);
    ck_assert_ptr_null(s);
    swim_free(NULL);
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
        {"probe", {test_swim_probe_acked, test_swim_ping_req_relay,
                   test_swim_ping_misdirected_ignored}},
        {"suspect", {test_swim_suspect_expires_to_dead, test_swim_suspect_dead_everywhere,
                     test_swim_suspicion_timeout_formula,
                     test_swim_confirmations_shorten_timeout,
                     test_swim_peer_unreachable_short_timeout,
                     test_swim_peer_unreachable_never_longer}},
        {"refute", {test_swim_refute_bumps_incarnation, test_swim_refute_in_cluster}},
        {"precedence", {test_swim_precedence_table}},
        {"leave", {test_swim_leave_left_everywhere, test_swim_rejoin_after_dead}},
        {"pushpull", {test_swim_pushpull_merges_both_ways, test_swim_partition_heals}},
        {"bounds", {test_swim_outbox_bounded, test_swim_table_full_evicts_dead,
                    test_swim_bad_payload_counted, test_swim_config_rejected}},
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
