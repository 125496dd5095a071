/*
 * tp_peer_test.c - the transport's peer table (transport/tp_peer.c):
 * peers that went down or never connected are forgotten once idle, so
 * short-lived senders cannot fill the table, and a live peer never is.
 * Over real sockets on 127.0.0.1 (tp_fixture.h).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sh_err.h"
#include "sh_time.h"
#include "tp_fixture.h"

/* ---- forgetting peers ----------------------------------------------- */

/* Send from `a` to the live `c` until all peers but c are evicted (each
 * tp_send sweeps a few); returns how many frames were sent. */
static uint32_t sweep_until(tp_t *a, const char *ac, uint64_t evicted, uint32_t seq)
{
    tp_stats_t st;
    uint64_t dl = sh_time_mono_ms() + WAIT_MS;
    uint32_t n = 0;
    for (;;) {
        tp_stats_get(a, &st);
        if (st.peers_evicted >= evicted || sh_time_mono_ms() > dl)
            break;
        send_ok(a, ac, seq + n++, 8);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    return n;
}

/* Short-lived receivers (each with its own address, like native clients)
 * must not fill the table: more of them than max_peers all get answered,
 * their peers are evicted once down and idle, the live peer never is. */
START_TEST(test_tp_evicts_down_peers_keeps_live)
{
    enum { K = 20 };
    rx_t ra, rc, rb[K];
    char aa[TP_ADDR_MAX], ac[TP_ADDR_MAX], ab[TP_ADDR_MAX], seen[K][TP_ADDR_MAX];
    tp_config_t cfg;
    tp_stats_t st;
    uint32_t sent_c = 0;
    size_t distinct = 0; /* the kernel may hand a freed port out again */

    rx_init(&ra);
    rx_init(&rc);
    tp_config_default(&cfg);
    cfg.max_peers = 8;
    tp_t *a = mk(&ra, &cfg, aa), *c = mk(&rc, NULL, ac);
    send_ok(a, ac, sent_c++, 8);
    for (size_t i = 0; i < K; i++) {
        rx_init(&rb[i]);
        tp_t *b = mk(&rb[i], NULL, ab);
        size_t j = 0;
        while (j < distinct && strcmp(seen[j], ab) != 0)
            j++;
        if (j == distinct)
            strcpy(seen[distinct++], ab);
        send_ok(a, ab, (uint32_t)i, 8); /* a new address even when the table was full */
        ck_assert(rx_wait(&rb[i], &rb[i].n, 1));
        rm(b, &rb[i]);
        ck_assert(rx_wait(&ra, &ra.downs, i + 1)); /* marked down */
        send_ok(a, ac, sent_c++, 8);
    }
    sent_c += sweep_until(a, ac, distinct, sent_c);
    ck_assert(rx_wait(&rc, &rc.n, sent_c));
    tp_stats_get(a, &st);
    ck_assert_uint_gt(distinct, cfg.max_peers);
    /* The table stayed bounded and enough peers were evicted for every
     * address to get one.  Eviction is lazy (a few peers per tp_send), so
     * how many of the last receivers are already gone depends on timing:
     * under ASan one may still be waiting for its sweep. */
    ck_assert_uint_le(st.peers, cfg.max_peers);
    ck_assert_uint_ge(st.peers_evicted + cfg.max_peers, distinct + 1);
    ck_assert_uint_ge(st.peers, 1); /* c, never evicted: all its frames arrive in order below */
    ck_assert_uint_eq(st.peers_down, K);
    ck_assert_uint_eq(st.drop_queue_full, 0);
    ck_assert_uint_eq(ra.downs, K); /* evicting is not reported as down */
    assert_in_order(&rc, 0, sent_c);
    /* An evicted address is simply dialled anew. */
    rx_init(&rb[0]);
    tp_t *b = mk(&rb[0], NULL, ab);
    send_ok(a, ab, 7, 8);
    ck_assert(rx_wait(&rb[0], &rb[0].n, 1));
    rm(b, &rb[0]);
    rm(c, &rc);
    rm(a, &ra);
}
END_TEST

/* A dialer that never connects is forgotten after dial_evict_ms once its
 * queue has drained; one with frames queued is kept. */
START_TEST(test_tp_evicts_never_connected_when_idle)
{
    rx_t ra, rc;
    char aa[TP_ADDR_MAX], ac[TP_ADDR_MAX], refused[TP_ADDR_MAX], silent[TP_ADDR_MAX];
    tp_config_t cfg;
    tp_stats_t st;
    uint32_t sent_c = 0;

    rx_init(&ra);
    rx_init(&rc);
    tp_config_default(&cfg);
    cfg.send_timeout_ms = 100;
    cfg.dial_evict_ms = 200;
    int fd1 = dead_peer(false, refused), fd2 = dead_peer(true, silent);
    tp_t *a = mk(&ra, &cfg, aa), *c = mk(&rc, NULL, ac);
    /* silent: its one frame is held by a delay, so its queue never drains */
    ck_assert_int_eq(tp_fault_set(a, silent, &(tp_fault_t){.delay_ms = 60000}), 0);
    send_ok(a, silent, 2, 8);
    send_ok(a, refused, 1, 8);
    STAT_WAIT_EQ(a, drop_send_timeout, 1);
    sent_c += sweep_until(a, ac, 1, sent_c);
    ck_assert(rx_wait(&rc, &rc.n, sent_c));
    tp_stats_get(a, &st);
    ck_assert_uint_eq(st.peers_evicted, 1); /* refused */
    ck_assert_uint_eq(st.peers, 2);         /* c, silent */
    ck_assert_uint_eq(st.queued_frames, 1);
    ck_assert_uint_eq(st.peers_down, 0);
    rm(a, &ra);
    rm(c, &rc);
    close(fd1);
    close(fd2);
}
END_TEST
static Suite *tp_peer_suite(void)
{
    Suite *s = suite_create("tp_peer");
    TCase *tc = tcase_create("eviction");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tp_evicts_down_peers_keeps_live);
    tcase_add_test(tc, test_tp_evicts_never_connected_when_idle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tp_peer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
