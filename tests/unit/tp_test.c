/*
 * tp_test.c - the nng transport over real sockets on 127.0.0.1: delivery
 * (order, dead peers, send timeouts, peer down, freeing with frames in
 * flight) and bounds and bad input.  Fault hooks are tested in
 * tp_fault_test.c, the peer table's eviction in tp_peer_test.c; the
 * harness (port 0, dead peers, waits) is tp_fixture.h.
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

/* ---- delivery ------------------------------------------------------- */

START_TEST(test_tp_exchange_1000_in_order)
{
    rx_t ra, rb;
    char aa[TP_ADDR_MAX], ab[TP_ADDR_MAX];
    tp_config_t cfg;
    tp_stats_t st;

    rx_init(&ra);
    rx_init(&rb);
    tp_config_default(&cfg);
    cfg.send_timeout_ms = WAIT_MS; /* nothing may be dropped here */
    tp_t *a = mk(&ra, &cfg, aa), *b = mk(&rb, &cfg, ab);
    for (uint32_t i = 0; i < 1000; i++) {
        send_ok(a, ab, i, 64 + i % 300);
        send_ok(b, aa, i, 16);
    }
    ck_assert(rx_wait(&rb, &rb.n, 1000));
    ck_assert(rx_wait(&ra, &ra.n, 1000));
    assert_in_order(&rb, 0, 1000);
    assert_in_order(&ra, 0, 1000);
    STAT_WAIT_EQ(a, frames_out, 1000);
    STAT_WAIT_EQ(a, queued_frames, 0);
    tp_stats_get(a, &st);
    ck_assert_uint_eq(st.frames_in, 1000);
    ck_assert_uint_eq(st.bytes_in, 16 * 1000);
    ck_assert_uint_eq(st.drop_queue_full + st.drop_send_timeout + st.drop_send_error, 0);
    rm(a, &ra);
    rm(b, &rb);
    ck_assert_uint_eq(rb.n, 1000); /* and nothing more after the free */
}
END_TEST

START_TEST(test_tp_dead_peers_do_not_delay_live_peer)
{
    rx_t ra, rb;
    char aa[TP_ADDR_MAX], ab[TP_ADDR_MAX], refused[TP_ADDR_MAX], mute[TP_ADDR_MAX];
    tp_config_t cfg;
    tp_stats_t st;
    int fd1 = dead_peer(false, refused), fd2 = dead_peer(true, mute);

    rx_init(&ra);
    rx_init(&rb);
    tp_config_default(&cfg);
    cfg.peer_queue_frames = 16;
    cfg.send_timeout_ms = 60000; /* dead peers' frames stay stuck */
    tp_t *a = mk(&ra, &cfg, aa), *b = mk(&rb, &cfg, ab);
    const char *dead[] = {refused, mute};
    for (int d = 0; d < 2; d++) {
        for (uint32_t i = 0; i < 16; i++)
            send_ok(a, dead[d], i, 100);
        uint8_t *f = frame_new(16, 100);
        ck_assert_int_eq(tp_send(a, dead[d], f, 100), SH_EFULL);
        free(f); /* on error the caller still owns it */
    }
    /* 320 frames to the live peer, 16 at a time (its own queue bound);
     * after each burst, wait until it arrived and its queue is empty again
     * (the receiver can see a frame before the sender's completion runs). */
    for (uint32_t i = 0; i < 320; i++) {
        send_ok(a, ab, i, 100);
        if (i % 16 == 15) {
            ck_assert(rx_wait(&rb, &rb.n, i + 1));
            STAT_WAIT_EQ(a, queued_frames, 32);
        }
    }
    assert_in_order(&rb, 0, 320);
    tp_stats_get(a, &st);
    ck_assert_uint_eq(st.drop_queue_full, 2);
    ck_assert_uint_eq(st.drop_send_timeout, 0); /* delivered before any dead send expired */
    ck_assert_uint_eq(st.queued_frames, 32);     /* the dead peers' frames, still held */
    rm(a, &ra); /* with frames queued and in flight: ASan checks nothing leaks */
    rm(b, &rb);
    close(fd1);
    close(fd2);
}
END_TEST

START_TEST(test_tp_send_timeout_drops_and_counts)
{
    rx_t ra;
    char aa[TP_ADDR_MAX], refused[TP_ADDR_MAX];
    tp_config_t cfg;
    int fd = dead_peer(false, refused);

    rx_init(&ra);
    tp_config_default(&cfg);
    cfg.send_timeout_ms = 30;
    tp_t *a = mk(&ra, &cfg, aa);
    for (uint32_t i = 0; i < 3; i++)
        send_ok(a, refused, i, 10);
    STAT_WAIT_EQ(a, drop_send_timeout, 3);
    STAT_WAIT_EQ(a, queued_frames, 0);
    STAT_WAIT_EQ(a, frames_out, 0);
    rm(a, &ra);
    close(fd);
}
END_TEST

START_TEST(test_tp_peer_down_when_remote_freed)
{
    rx_t ra, rb;
    char aa[TP_ADDR_MAX], ab[TP_ADDR_MAX];
    tp_stats_t st;

    rx_init(&ra);
    rx_init(&rb);
    tp_t *a = mk(&ra, NULL, aa), *b = mk(&rb, NULL, ab);
    send_ok(a, ab, 1, 8);
    ck_assert(rx_wait(&rb, &rb.n, 1)); /* connected */
    rm(b, &rb);
    ck_assert(rx_wait(&ra, &ra.downs, 1));
    pthread_mutex_lock(&ra.mu);
    ck_assert_str_eq(ra.down_addr, ab);
    pthread_mutex_unlock(&ra.mu);
    tp_stats_get(a, &st);
    ck_assert_uint_eq(st.peers_down, 1);
    rm(a, &ra);
    ck_assert_uint_eq(ra.downs, 1); /* our own close is not reported */
}
END_TEST

START_TEST(test_tp_free_with_frames_in_flight)
{
    rx_t ra, rb;
    char aa[TP_ADDR_MAX], ab[TP_ADDR_MAX], refused[TP_ADDR_MAX];
    int fd = dead_peer(false, refused);
    tp_fault_t delay = {.delay_ms = 60000};

    rx_init(&ra);
    rx_init(&rb);
    tp_t *a = mk(&ra, NULL, aa), *b = mk(&rb, NULL, ab);
    send_ok(a, ab, 0, 10);
    ck_assert(rx_wait(&rb, &rb.n, 1));
    for (uint32_t i = 1; i < 100; i++)
        send_ok(a, ab, i, 64 * 1024); /* sending: 6.3 MiB, under the 8 MiB bound */
    for (uint32_t i = 0; i < 100; i++)
        send_ok(a, refused, i, 1000); /* waiting for a pipe */
    ck_assert_int_eq(tp_fault_set(a, "127.0.0.1:9", &delay), 0);
    for (uint32_t i = 0; i < 10; i++)
        send_ok(a, "127.0.0.1:9", i, 1000); /* sleeping */
    rm(a, &ra);
    rm(b, &rb);
    close(fd);
}
END_TEST
/* ---- bounds and bad input ------------------------------------------- */

START_TEST(test_tp_bounds)
{
    rx_t ra;
    char aa[TP_ADDR_MAX];
    tp_config_t cfg;
    uint8_t *f;

    rx_init(&ra);
    tp_config_default(&cfg);
    cfg.max_peers = 2;
    cfg.peer_queue_bytes = 100;
    cfg.send_timeout_ms = 60000;
    tp_t *a = mk(&ra, &cfg, aa);
    send_ok(a, "127.0.0.1:9", 0, 40);
    send_ok(a, "127.0.0.1:9", 1, 40);
    f = frame_new(2, 40);
    ck_assert_int_eq(tp_send(a, "127.0.0.1:9", f, 40), SH_EFULL); /* 120 > 100 bytes */
    send_ok(a, "127.0.0.1:10", 0, 40);
    ck_assert_int_eq(tp_send(a, "127.0.0.1:11", f, 40), SH_EFULL); /* third peer */
    free(f);
    rm(a, &ra);
}
END_TEST

START_TEST(test_tp_bad_addresses)
{
    static const char *bad[] = {"", "nohost", "h:", "h:0", ":80", "h:65536", "h:12a",
                                "h:123456", "tcp://h:1", "a b:1", "h:-1",
                                "01234567890123456789012345678901234567890123456789012345678901:1"};
    rx_t ra, rb;
    char aa[TP_ADDR_MAX];
    tp_config_t cfg;
    tp_t *t;
    uint8_t f[4] = {0};

    rx_init(&ra);
    rx_init(&rb);
    tp_t *a = mk(&ra, NULL, aa);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(tp_send(a, bad[i], f, 4) == SH_EBAD_REQUEST, "%s", bad[i]);
    ck_assert_int_eq(tp_send(a, NULL, f, 4), SH_EBAD_REQUEST);
    tp_config_default(&cfg);
    cfg.on_recv = on_recv;
    cfg.udata = &rb;
    cfg.bind_addr = aa; /* taken */
    ck_assert_int_eq(tp_new(&t, &cfg), -EADDRINUSE);
    ck_assert_ptr_null(t);
    cfg.bind_addr = "127.0.0.1:99999";
    ck_assert_int_eq(tp_new(&t, &cfg), SH_EBAD_REQUEST);
    cfg.bind_addr = "192.0.2.1:0"; /* not a local address */
    ck_assert_int_eq(tp_new(&t, &cfg), SH_EBAD_REQUEST);
    cfg.bind_addr = "127.0.0.1:0";
    cfg.on_recv = NULL;
    ck_assert_int_eq(tp_new(&t, &cfg), SH_EBAD_REQUEST);
    tp_free(NULL);
    rm(a, &ra);
}
END_TEST
static Suite *tp_suite(void)
{
    Suite *s = suite_create("tp");
    TCase *tc = tcase_create("delivery");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tp_exchange_1000_in_order);
    tcase_add_test(tc, test_tp_dead_peers_do_not_delay_live_peer);
    tcase_add_test(tc, test_tp_send_timeout_drops_and_counts);
    tcase_add_test(tc, test_tp_peer_down_when_remote_freed);
    tcase_add_test(tc, test_tp_free_with_frames_in_flight);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tp_bounds);
    tcase_add_test(tc, test_tp_bad_addresses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
