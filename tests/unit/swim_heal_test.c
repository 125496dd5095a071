/*
 * swim_heal_test.c - direct evidence against hearsay (swim_suspect.c,
 * "Direct evidence"): after a partition heals, a stale dead verdict about
 * a member that has just talked to us must become a suspicion it can
 * refute, not a death; a verdict without such contact is still taken, and
 * our own timer still fires for a member that talks but never refutes.
 * One core, "me", fed crafted payloads; every send is decoded and recorded.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "swim.h"
#include "swim_codec.h"

typedef struct rig {
    swim_t *s;
    uint64_t now;
    size_t sends;
    size_t x_suspect_sends; /* sends whose gossip holds suspect("x") */
} rig_t;

static char g_addr[8][SWIM_ADDR_MAX];

/* Member "<id>" lives at "<id>.test:1". */
static swim_str_t addr_of(const char *id, int buf)
{
    snprintf(g_addr[buf], SWIM_ADDR_MAX, "%s.test:1", id);
    return swim_str_of(g_addr[buf]);
}

static swim_update_t upd(const char *id, enum swim_state st, uint32_t inc)
{
    swim_update_t u = {.id = swim_str_of(id), .addr = addr_of(id, 7),
                       .state = (uint8_t)st, .incarnation = inc};
    return u;
}

static void rig_pump(rig_t *r)
{
    swim_out_t o;
    while (swim_next_output(r->s, &o)) {
        if (o.kind != SWIM_OUT_SEND)
            continue;
        swim_msg_t m;
        ck_assert_int_eq(swim_msg_decode(o.payload, o.len, 1u << 20, &m), 0);
        r->sends++;
        for (size_t i = 0; i < m.n_gossip; i++)
            if (swim_str_eq(m.gossip[i].id, swim_str_of("x")) &&
                m.gossip[i].state == SWIM_SUSPECT) {
                r->x_suspect_sends++;
                break;
            }
        swim_msg_fini(&m);
        free(o.payload);
    }
}

static void rig_init(rig_t *r)
{
    swim_config_t cfg;
    memset(r, 0, sizeof(*r));
    swim_config_default(&cfg);
    cfg.seed = 11;
    cfg.self_id = "me";
    cfg.self_addr = "me.test:1";
    /* Probes go unanswered here; without local health the period stays
     * 1 s (the freshness window is 4 * 1 s either way). */
    cfg.awareness_max = 0;
    ck_assert_int_eq(swim_new(&r->s, &cfg, 0), 0);
    rig_pump(r);
}

static void rig_inject(rig_t *r, swim_msg_t *m, const char *from)
{
    uint8_t *p;
    size_t len;
    m->from_id = swim_str_of(from);
    m->from_addr = addr_of(from, 6);
    ck_assert_int_eq(swim_msg_encode(m, 1u << 20, &p, &len), 0);
    ck_assert_int_eq(swim_recv(r->s, r->now, g_addr[6], p, len), 0);
    free(p);
    swim_check_invariants(r->s);
    rig_pump(r);
}

static void rig_gossip(rig_t *r, const char *from, swim_update_t u)
{
    swim_msg_t m = {.type = SWIM_MSG_GOSSIP, .gossip = &u, .n_gossip = 1};
    rig_inject(r, &m, from);
}

/* A message straight from `from` (an ACK no probe waits for): contact. */
static void rig_contact(rig_t *r, const char *from)
{
    swim_msg_t m = {.type = SWIM_MSG_ACK, .seq = 0xdead};
    rig_inject(r, &m, from);
}

static void rig_tick(rig_t *r, uint64_t ms)
{
    r->now += ms;
    swim_tick(r->s, r->now);
    swim_check_invariants(r->s);
    rig_pump(r);
}

static enum swim_state state_of(const rig_t *r, const char *id, uint32_t *inc)
{
    swim_member_view_t v;
    ck_assert_int_eq(swim_member_find(r->s, id, &v), 0);
    if (inc)
        *inc = v.incarnation;
    return v.state;
}

/* "me" knows x and y alive at 3; x has just acked (talked to us). */
static void rig_cluster(rig_t *r)
{
    rig_init(r);
    rig_gossip(r, "y", upd("y", SWIM_ALIVE, 3));
    rig_gossip(r, "x", upd("x", SWIM_ALIVE, 3));
    r->now += 100;
    rig_contact(r, "x");
    r->now += 300;
}

START_TEST(test_swim_fresh_contact_demotes_dead)
{
    rig_t r;
    rig_cluster(&r);
    swim_stats_t st0, st1;
    swim_stats_get(r.s, &st0);
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3));
    uint32_t inc;
    ck_assert_int_eq(state_of(&r, "x", &inc), SWIM_SUSPECT);
    ck_assert_uint_eq(inc, 3);
    swim_stats_get(r.s, &st1);
    ck_assert_uint_eq(st1.suspicions, st0.suspicions + 1);
    ck_assert_uint_eq(st1.deaths_declared, st0.deaths_declared);
    /* A relay of the verdict (another sender) is a confirmation. */
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3));
    ck_assert_int_eq(state_of(&r, "x", NULL), SWIM_SUSPECT);
    /* Our suspicion is gossiped, so x hears it and refutes. */
    rig_tick(&r, 1000);
    ck_assert_uint_gt(r.x_suspect_sends, 0);
    ck_assert_int_eq(state_of(&r, "x", NULL), SWIM_SUSPECT);
    rig_gossip(&r, "x", upd("x", SWIM_ALIVE, 4));
    ck_assert_int_eq(state_of(&r, "x", &inc), SWIM_ALIVE);
    ck_assert_uint_eq(inc, 4);
    swim_free(r.s);
}
END_TEST

START_TEST(test_swim_stale_dead_taken)
{
    rig_t r;
    /* x known only through y: no contact of its own. */
    rig_init(&r);
    rig_gossip(&r, "y", upd("y", SWIM_ALIVE, 3));
    rig_gossip(&r, "y", upd("x", SWIM_ALIVE, 3));
    r.now += 100;
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3));
    uint32_t inc;
    ck_assert_int_eq(state_of(&r, "x", &inc), SWIM_DEAD);
    ck_assert_uint_eq(inc, 3);
    swim_free(r.s);

    /* Contact, but a verdict at a newer incarnation than we hold. */
    rig_cluster(&r);
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 4));
    ck_assert_int_eq(state_of(&r, "x", &inc), SWIM_DEAD);
    ck_assert_uint_eq(inc, 4);
    swim_free(r.s);
}
END_TEST

START_TEST(test_swim_stale_contact_dead_taken)
{
    rig_t r;
    rig_cluster(&r);
    /* Silent for 5 s, over the 4 s window but within our own timer
     * (x is suspect by our probes, or still alive): the verdict stands. */
    for (int i = 0; i < 20; i++)
        rig_tick(&r, 250);
    ck_assert_int_ne(state_of(&r, "x", NULL), SWIM_DEAD);
    swim_stats_t st0, st1;
    swim_stats_get(r.s, &st0);
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3));
    ck_assert_int_eq(state_of(&r, "x", NULL), SWIM_DEAD);
    swim_stats_get(r.s, &st1);
    ck_assert_uint_eq(st1.deaths_declared, st0.deaths_declared);
    swim_free(r.s);
}
END_TEST

START_TEST(test_swim_own_timer_ignores_contact)
{
    rig_t r;
    rig_cluster(&r);
    rig_gossip(&r, "y", upd("x", SWIM_SUSPECT, 3));
    ck_assert_int_eq(state_of(&r, "x", NULL), SWIM_SUSPECT);
    /* x keeps talking but never refutes: only a refutation clears a
     * suspicion, so our own timer (N = 3: at most 6 * 4 s) declares it. */
    swim_stats_t st0, st1;
    swim_stats_get(r.s, &st0);
    for (int i = 0; i < 300 && state_of(&r, "x", NULL) == SWIM_SUSPECT; i++) {
        rig_tick(&r, 100);
        rig_contact(&r, "x");
    }
    ck_assert_int_eq(state_of(&r, "x", NULL), SWIM_DEAD);
    swim_stats_get(r.s, &st1);
    ck_assert_uint_eq(st1.deaths_declared, st0.deaths_declared + 1);
    swim_free(r.s);
}
END_TEST

static Suite *heal_suite(void)
{
    Suite *s = suite_create("swim_heal");
    TCase *tc = tcase_create("heal");
    tcase_add_test(tc, test_swim_fresh_contact_demotes_dead);
    tcase_add_test(tc, test_swim_stale_dead_taken);
    tcase_add_test(tc, test_swim_stale_contact_dead_taken);
    tcase_add_test(tc, test_swim_own_timer_ignores_contact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(heal_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
