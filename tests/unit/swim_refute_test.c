/*
 * swim_refute_test.c - how the core answers doubt about itself
 * (swim_suspect.c, "Refutation"), and that it spreads its own alive on
 * start and join (swim.c).  One core, "me", fed crafted payloads at a
 * fixed time, so no timer runs and every send is one of the answers;
 * each send is decoded and recorded.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "swim_fixture.h"

static void rig_init(rig_t *r, uint32_t inc)
{
    swim_config_t cfg;
    swim_config_default(&cfg);
    cfg.seed = 7;
    cfg.incarnation = inc;
    rig_start(r, &cfg, NULL);
}

/* Sends of `type` to member `id` since send index `since`. */
static size_t rig_count(const rig_t *r, size_t since, uint8_t type, const char *id)
{
    char to[SWIM_ADDR_MAX];
    snprintf(to, sizeof(to), "%s.test:1", id);
    ck_assert_uint_le(r->n, RIG_SENT_MAX);
    size_t n = 0;
    for (size_t i = since; i < r->n; i++)
        n += r->out[i].type == type && !strcmp(r->out[i].to, to);
    return n;
}

static const sent_t *rig_last(const rig_t *r)
{
    ck_assert_uint_gt(r->n, 0);
    ck_assert_uint_le(r->n, RIG_SENT_MAX);
    return &r->out[r->n - 1];
}

static uint32_t my_inc(const rig_t *r)
{
    uint32_t inc;
    state_of(r, "me", &inc);
    return inc;
}

/* ---- spreading our own alive ----------------------------------------------- */

/* A restarted member (incarnation 2) joins; its first PING carries
 * me=alive/2, so the members that suspect its old life hear of the new
 * one from it, not only from the seed. */
START_TEST(test_swim_self_gossiped_after_join)
{
    rig_t r;
    rig_init(&r, 2);
    const char *seed = "s.test:1";
    ck_assert_int_eq(swim_join(r.s, 0, &seed, 1), 0);
    rig_pump(&r);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.out[0].type, SWIM_MSG_SYNC);
    swim_update_t m[3] = {upd("s", SWIM_ALIVE, 0, NULL), upd("b", SWIM_ALIVE, 0, NULL),
                          upd("me", SWIM_ALIVE, 2, NULL)};
    swim_msg_t ack = {.type = SWIM_MSG_SYNC_ACK, .members = m, .n_members = 3};
    rig_inject(&r, &ack, "s");
    while (r.n == 0 || rig_last(&r)->type != SWIM_MSG_PING) {
        r.now = swim_next_deadline(r.s);
        ck_assert_uint_le(r.now, 1000); /* the first probe period */
        swim_tick(r.s, r.now);
        rig_pump(&r);
    }
    ck_assert_uint_eq(rig_last(&r)->self_n, 1);
    ck_assert_uint_eq(rig_last(&r)->self_state, SWIM_ALIVE);
    ck_assert_uint_eq(rig_last(&r)->self_inc, 2);
    swim_free(r.s);
}
END_TEST

/* ---- answering doubt ----------------------------------------------------------- */

/* A PING whose buddy update says we are suspect at an incarnation we have
 * already refuted gets our alive forced first into the ACK, once (the
 * gossip selection does not repeat it), and no extra message. */
START_TEST(test_swim_ping_doubt_answered_in_ack)
{
    rig_t r;
    rig_init(&r, 0);
    rig_gossip(&r, "b", upd("b", SWIM_ALIVE, 0, NULL));
    rig_gossip(&r, "c", upd("c", SWIM_ALIVE, 0, NULL));
    rig_gossip(&r, "b", upd("me", SWIM_SUSPECT, 0, "b"));
    ck_assert_uint_eq(my_inc(&r), 1);
    size_t since = r.n;
    swim_update_t buddy = upd("me", SWIM_SUSPECT, 0, "x");
    swim_msg_t ping = {.type = SWIM_MSG_PING, .seq = 9, .target_id = swim_str_of("me"),
                       .gossip = &buddy, .n_gossip = 1};
    rig_inject(&r, &ping, "c");
    ck_assert_uint_eq(my_inc(&r), 1); /* old news: no new refutation */
    ck_assert_uint_eq(r.n - since, 1);
    ck_assert_uint_eq(rig_last(&r)->type, SWIM_MSG_ACK);
    ck_assert(rig_last(&r)->self_first);
    ck_assert_uint_eq(rig_last(&r)->self_n, 1);
    ck_assert_uint_eq(rig_last(&r)->self_state, SWIM_ALIVE);
    ck_assert_uint_eq(rig_last(&r)->self_inc, 1);
    /* A PING that does not doubt us gets no forced update. */
    for (int i = 0; i < 20; i++) { /* spend our own gossip entry */
        swim_msg_t p = {.type = SWIM_MSG_PING, .seq = 10, .target_id = swim_str_of("me")};
        rig_inject(&r, &p, "c");
    }
    ck_assert_uint_eq(rig_last(&r)->type, SWIM_MSG_ACK);
    ck_assert_uint_eq(rig_last(&r)->self_n, 0);
    swim_free(r.s);
}
END_TEST

/* Each accuser named and each non-PING sender that doubts us gets one
 * GOSSIP with our alive, at most indirect_k + 1 = 4 per incarnation. */
START_TEST(test_swim_refute_tells_accusers)
{
    rig_t r;
    rig_init(&r, 0);
    const char *ids[] = {"r", "a1", "a2", "a3", "a4"};
    for (size_t i = 0; i < SH_ARRAY_LEN(ids); i++)
        rig_gossip(&r, ids[i], upd(ids[i], SWIM_ALIVE, 0, NULL));
    size_t since = r.n;
    rig_gossip(&r, "r", upd("me", SWIM_SUSPECT, 0, "a1"));
    ck_assert_uint_eq(my_inc(&r), 1);
    ck_assert_uint_eq(r.n - since, 2);
    ck_assert_uint_eq(rig_count(&r, since, SWIM_MSG_GOSSIP, "a1"), 1);
    ck_assert_uint_eq(rig_count(&r, since, SWIM_MSG_GOSSIP, "r"), 1);
    ck_assert(r.out[since].self_first && r.out[since].self_inc == 1);
    /* Repeats are not told again; new accusers until the budget is spent. */
    rig_gossip(&r, "r", upd("me", SWIM_SUSPECT, 0, "a1"));
    ck_assert_uint_eq(r.n - since, 2);
    rig_gossip(&r, "r", upd("me", SWIM_SUSPECT, 0, "a2"));
    rig_gossip(&r, "r", upd("me", SWIM_SUSPECT, 0, "a3"));
    rig_gossip(&r, "r", upd("me", SWIM_SUSPECT, 0, "a4"));
    rig_gossip(&r, "r", upd("me", SWIM_SUSPECT, 0, "stranger"));
    ck_assert_uint_eq(r.n - since, 4);
    ck_assert_uint_eq(rig_count(&r, since, SWIM_MSG_GOSSIP, "a4"), 0);
    /* A new refutation has a new budget. */
    since = r.n;
    rig_gossip(&r, "a4", upd("me", SWIM_DEAD, 1, NULL));
    ck_assert_uint_eq(my_inc(&r), 2);
    ck_assert_uint_eq(r.n - since, 1);
    ck_assert_uint_eq(rig_count(&r, since, SWIM_MSG_GOSSIP, "a4"), 1);
    ck_assert_uint_eq(rig_last(&r)->self_inc, 2);
    swim_free(r.s);
}
END_TEST

/* A SYNC that holds us dead is answered by the SYNC_ACK alone (our full
 * state); a SYNC_ACK that does gets a GOSSIP back. */
START_TEST(test_swim_sync_doubt)
{
    rig_t r;
    rig_init(&r, 0);
    swim_update_t m[2] = {upd("p", SWIM_ALIVE, 0, NULL), upd("me", SWIM_DEAD, 0, NULL)};
    swim_msg_t sync = {.type = SWIM_MSG_SYNC, .members = m, .n_members = 2};
    rig_inject(&r, &sync, "p");
    ck_assert_uint_eq(my_inc(&r), 1);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.out[0].type, SWIM_MSG_SYNC_ACK);
    m[0] = upd("q", SWIM_ALIVE, 0, NULL);
    m[1] = upd("me", SWIM_DEAD, 1, NULL);
    swim_msg_t sack = {.type = SWIM_MSG_SYNC_ACK, .members = m, .n_members = 2};
    rig_inject(&r, &sack, "q");
    ck_assert_uint_eq(my_inc(&r), 2);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(rig_count(&r, 1, SWIM_MSG_GOSSIP, "q"), 1);
    ck_assert_uint_eq(rig_last(&r)->self_inc, 2);
    swim_free(r.s);
}
END_TEST

static Suite *refute_suite(void)
{
    Suite *s = suite_create("swim_refute");
    TCase *tc = tcase_create("refute");
    tcase_add_test(tc, test_swim_self_gossiped_after_join);
    tcase_add_test(tc, test_swim_ping_doubt_answered_in_ack);
    tcase_add_test(tc, test_swim_refute_tells_accusers);
    tcase_add_test(tc, test_swim_sync_doubt);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(refute_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
