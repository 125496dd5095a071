/*
 * swim_heal_test.c - direct evidence against hearsay (swim_suspect.c,
 * "Direct evidence"): after a partition heals, a stale dead verdict about
 * a member that has just talked to us must become a suspicion it can
 * refute, not a death; a verdict without such contact is still taken, and
 * our own timer still fires for a member that talks but never refutes.
 * One core, "me", fed crafted payloads; every send is decoded and recorded.
 */
#include <check.h>
#include <stdlib.h>

#include "swim_fixture.h"

static void rig_init(rig_t *r)
{
    swim_config_t cfg;
    swim_config_default(&cfg);
    cfg.seed = 11;
    /* Probes go unanswered here; without local health the period stays
     * 1 s (the freshness window is 4 * 1 s either way). */
    cfg.awareness_max = 0;
    rig_start(r, &cfg, "x");
}

/* A message straight from `from` (an ACK no probe waits for): contact. */
static void rig_contact(rig_t *r, const char *from)
{
    swim_msg_t m = {.type = SWIM_MSG_ACK, .seq = 0xdead};
    rig_inject(r, &m, from);
}

/* "me" knows x and y alive at 3; x has just acked (talked to us). */
static void rig_cluster(rig_t *r)
{
    rig_init(r);
    rig_gossip(r, "y", upd("y", SWIM_ALIVE, 3, NULL));
    rig_gossip(r, "x", upd("x", SWIM_ALIVE, 3, NULL));
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
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3, NULL));
    uint32_t inc;
    ck_assert_int_eq(state_of(&r, "x", &inc), SWIM_SUSPECT);
    ck_assert_uint_eq(inc, 3);
    swim_stats_get(r.s, &st1);
    ck_assert_uint_eq(st1.suspicions, st0.suspicions + 1);
    ck_assert_uint_eq(st1.deaths_declared, st0.deaths_declared);
    /* A relay of the verdict (another sender) is a confirmation. */
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3, NULL));
    ck_assert_int_eq(state_of(&r, "x", NULL), SWIM_SUSPECT);
    /* Our suspicion is gossiped, so x hears it and refutes. */
    rig_tick(&r, 1000);
    ck_assert_uint_gt(r.watch_suspect_sends, 0);
    ck_assert_int_eq(state_of(&r, "x", NULL), SWIM_SUSPECT);
    rig_gossip(&r, "x", upd("x", SWIM_ALIVE, 4, NULL));
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
    rig_gossip(&r, "y", upd("y", SWIM_ALIVE, 3, NULL));
    rig_gossip(&r, "y", upd("x", SWIM_ALIVE, 3, NULL));
    r.now += 100;
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3, NULL));
    uint32_t inc;
    ck_assert_int_eq(state_of(&r, "x", &inc), SWIM_DEAD);
    ck_assert_uint_eq(inc, 3);
    swim_free(r.s);

    /* Contact, but a verdict at a newer incarnation than we hold. */
    rig_cluster(&r);
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 4, NULL));
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
    rig_gossip(&r, "y", upd("x", SWIM_DEAD, 3, NULL));
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
    rig_gossip(&r, "y", upd("x", SWIM_SUSPECT, 3, NULL));
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
