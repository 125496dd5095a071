/*
 * swim_rules_test.c - one SWIM core fed crafted payloads (swim_codec.h) by
 * a scripted "rest of the cluster" that acks every probe except for one
 * chosen member, so every timer is exact: relays, suspicion timeouts and
 * Lifeguard confirmations, transport hints, refutation, SWIM precedence,
 * and the bounds (outbox, table, bad payloads, config).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "swim.h"
#include "swim_codec.h"
#include "swim_fixture.h" /* addr_of, upd: members are "<id>" at "<id>.test:1" */
#include "swim_int.h"

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


/* ---- probe ------------------------------------------------------------------ */

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
    so.silent = "x"; /* really gone */
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

START_TEST(test_swim_peer_unreachable_cleared_by_ack)
{
    solo_t so;
    solo_init(&so, NULL);
    solo_add(&so, "x", 0);
    solo_run(&so, 1000); /* the probe in flight is answered */
    swim_peer_unreachable(so.s, 1000, "x.test:1");
    solo_pump(&so);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_SUSPECT);
    /* x is the only other member: our next probe goes to it, and it acks. */
    solo_run(&so, 2999);
    swim_member_view_t v = solo_get(&so, "x");
    ck_assert_int_eq(v.state, SWIM_ALIVE);
    ck_assert_uint_eq(v.incarnation, 0);
    solo_run(&so, 60000);
    ck_assert_int_eq(solo_get(&so, "x").state, SWIM_ALIVE);
    swim_stats_t st;
    swim_stats_get(so.s, &st);
    ck_assert_uint_eq(st.suspicions, 1);
    ck_assert_uint_eq(st.deaths_declared, 0);
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
    so.silent = "x";
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


static Suite *swim_suite(void)
{
    Suite *s = suite_create("swim");
    struct {
        const char *name;
        const TTest *tests[8];
    } cases[] = {
        {"probe", {test_swim_ping_req_relay, test_swim_ping_misdirected_ignored}},
        {"suspect", {test_swim_suspicion_timeout_formula,
                     test_swim_confirmations_shorten_timeout,
                     test_swim_peer_unreachable_short_timeout,
                     test_swim_peer_unreachable_cleared_by_ack,
                     test_swim_peer_unreachable_never_longer}},
        {"refute", {test_swim_refute_bumps_incarnation}},
        {"precedence", {test_swim_precedence_table}},
        {"bounds", {test_swim_outbox_bounded, test_swim_table_full_evicts_dead,
                    test_swim_bad_payload_counted, test_swim_config_rejected}},
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
