/*
 * tp_fixture.h - what the transport suites share (tp_test.c,
 * tp_fault_test.c, tp_peer_test.c): transports bound to port 0 on
 * 127.0.0.1 whose callbacks record what they saw, waits on condition
 * variables or counters with a generous deadline (never fixed sleeps),
 * numbered frames, and dead peers that are sockets we own.
 *
 * Header-only (static): each suite is its own executable, and the CMake
 * glob takes only tests/unit/<name>_test.c as suites.
 */
#ifndef TP_FIXTURE_H
#define TP_FIXTURE_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sh_time.h"
#include "tp.h"

#define RX_MAX 4096
#define WAIT_MS 20000 /* deadline for things that take milliseconds */

/* What one transport's callbacks saw. */
typedef struct rx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n;
    uint32_t seqs[RX_MAX];
    uint64_t first_ms;
    size_t downs;
    char down_addr[TP_ADDR_MAX];
    volatile int freed; /* set after tp_free: any later callback aborts */
} rx_t;

static inline void rx_init(rx_t *r)
{
    pthread_condattr_t ca;
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
}

static inline void on_recv(void *udata, uint8_t *frame, size_t len)
{
    rx_t *r = udata;
    if (r->freed)
        abort();
    pthread_mutex_lock(&r->mu);
    if (r->n == 0)
        r->first_ms = sh_time_mono_ms();
    if (r->n < RX_MAX && len >= 4)
        r->seqs[r->n] = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 |
                        (uint32_t)frame[2] << 8 | frame[3];
    r->n++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    free(frame);
}

static inline void on_down(void *udata, const char *addr)
{
    rx_t *r = udata;
    if (r->freed)
        abort();
    pthread_mutex_lock(&r->mu);
    r->downs++;
    snprintf(r->down_addr, sizeof(r->down_addr), "%s", addr);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Wait until *field >= target or the deadline passes; true if reached. */
static inline bool rx_wait(rx_t *r, const size_t *field, size_t target)
{
    struct timespec dl;
    bool ok;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&r->mu);
    while (*field < target && pthread_cond_timedwait(&r->cv, &r->mu, &dl) == 0)
        ;
    ok = *field >= target;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* Poll a transport counter until it equals want (deadline WAIT_MS). */
#define STAT_WAIT_EQ(t, field, want)                                           \
    do {                                                                       \
        tp_stats_t st_;                                                        \
        uint64_t dl_ = sh_time_mono_ms() + WAIT_MS;                            \
        for (;;) {                                                             \
            tp_stats_get((t), &st_);                                           \
            if (st_.field == (want) || sh_time_mono_ms() > dl_)                \
                break;                                                         \
            nanosleep(&(struct timespec){0, 2000000}, NULL);                   \
        }                                                                      \
        ck_assert_uint_eq(st_.field, (want));                                  \
    } while (0)

static inline tp_t *mk(rx_t *r, const tp_config_t *base, char addr[TP_ADDR_MAX])
{
    tp_config_t cfg;
    tp_t *t;
    if (base != NULL)
        cfg = *base;
    else
        tp_config_default(&cfg);
    cfg.bind_addr = "127.0.0.1:0";
    cfg.on_recv = on_recv;
    cfg.on_peer_down = on_down;
    cfg.udata = r;
    ck_assert_int_eq(tp_new(&t, &cfg), 0);
    int port = tp_bound_port(t);
    ck_assert_int_gt(port, 0);
    snprintf(addr, TP_ADDR_MAX, "127.0.0.1:%d", port);
    return t;
}

static inline void rm(tp_t *t, rx_t *r)
{
    tp_free(t);
    r->freed = 1;
}

static inline uint8_t *frame_new(uint32_t seq, size_t len)
{
    uint8_t *f = calloc(1, len < 4 ? 4 : len);
    f[0] = (uint8_t)(seq >> 24);
    f[1] = (uint8_t)(seq >> 16);
    f[2] = (uint8_t)(seq >> 8);
    f[3] = (uint8_t)seq;
    return f;
}

static inline void send_ok(tp_t *t, const char *addr, uint32_t seq, size_t len)
{
    ck_assert_int_eq(tp_send(t, addr, frame_new(seq, len), len), 0);
}

/* A local address that refuses connections (listen=false) or accepts TCP
 * but never speaks SP (listen=true).  Returns the fd to close. */
static inline int dead_peer(bool listen_, char addr[TP_ADDR_MAX])
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (listen_)
        ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(addr, TP_ADDR_MAX, "127.0.0.1:%d", ntohs(sa.sin_port));
    return fd;
}

/* The first n frames are first, first+1, ...  Only RX_MAX are recorded
 * (a slow sweep under ASan may send more); the count is checked by the
 * caller's rx_wait. */
static inline void assert_in_order(rx_t *r, uint32_t first, size_t n)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n && i < RX_MAX; i++)
        ck_assert_msg(r->seqs[i] == first + i, "frame %zu is seq %u", i, r->seqs[i]);
    pthread_mutex_unlock(&r->mu);
}

#endif
