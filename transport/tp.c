/*
 * tp.c - the cluster transport: one PULL socket to receive, one PUSH
 * socket per peer to send, bounded per-peer queues.
 *
 * Design notes.
 *
 * Isolation.  Each peer address gets its own PUSH0 socket with a single
 * non-blocking dialer, its own FIFO (bounded in frames and bytes) and at
 * most one nng aio in flight.  A PUSH0 send with no connected pipe waits
 * for one; we bound that wait with send_timeout_ms and then drop the frame
 * (drop_send_timeout).  Because nothing is shared between peers but the
 * lock below, a dead or slow peer fills only its own queue: tp_send to it
 * returns SH_EFULL (drop_queue_full) and the caller decides; traffic to
 * every other peer is unaffected.  PUSH0 is unbuffered by default, so a
 * send completes only when a pipe has taken the message: the queue here is
 * the only buffer, and its bound is the real bound.
 *
 * The frame in flight counts against its peer's bounds, so a peer whose
 * dialer never connects accepts exactly peer_queue_frames frames.
 *
 * Delays (tp_fault.c) reuse the same aio: a queue head whose release time
 * is in the future puts the peer to sleep (nng_sleep_aio) instead of
 * sending, so a delay holds everything behind it and order is preserved.
 *
 * Locking.  One mutex (mu) guards the peer table, the queues, the states
 * and the counters.  It is never held across a call into nng or into a
 * user callback: nng runs some completions synchronously and pipe
 * callbacks under its own locks, so holding mu there could deadlock.  The
 * price is a window between deciding to start an aio operation (under mu)
 * and starting it (after mu): `submitting` counts threads in that window
 * and tp_free waits for it to drain after setting `closing`, so that no
 * operation starts on an aio that tp_free has stopped or freed.
 *
 * Teardown.  tp_free: closing = true (callbacks stop re-arming and the
 * peer-down callback goes quiet); wait until submitting == 0; nng_aio_stop
 * every aio (cancels, waits for the callback; a cancelled send frees its
 * message); close the sockets (nng_close waits for pipe callbacks); free.
 * No user callback runs after tp_free returns.
 *
 * Forgetting peers.  Everything here is bounded, and the peer table must
 * not fill with the dead: native clients each reply from their own
 * ephemeral address, so a node answering many short-lived clients would
 * otherwise keep one PUSH socket per client ever seen, redialing forever
 * (about once a second), until max_peers distinct addresses make tp_send
 * fail with SH_EFULL for every new client.  So a peer is evicted (socket
 * closed, entry freed, peers_evicted++) once it is idle (empty queue,
 * nothing in flight, no tp_send using it: `pins`) and either its
 * connection dropped (REM_POST marks it `down`; ADD_POST clears that) or
 * its dialer never connected for dial_evict_ms (60 s).  Sending to an
 * evicted address again just creates a fresh peer: new socket, new dial.
 * Eviction is lazy and happens only in tp_send: a bounded sweep of a few
 * peers per call, round-robin, plus a full sweep when the table is full
 * before answering SH_EFULL.  Never from an nng callback: nng_close waits
 * for the socket's callbacks, so closing a socket from its own pipe
 * callback would deadlock.  The evicting thread holds the submit window,
 * so tp_free waits for it.  The peer-down callback is unchanged: it fires
 * on REM_POST whether or not the peer is later evicted (membership relies
 * on it to notice kill -9 quickly).
 *
 * What it deliberately does not do: no retransmission or acknowledgement
 * (SWIM and the layers above own reliability), no eviction of peers with
 * queued frames (they drain through send timeouts first), no priority
 * between frames of one peer.
 */
#include "tp_int.h" /* first: nng.h before nng's protocol headers */

#include <errno.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/transport/tcp/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"


void tp_config_default(tp_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind_addr = "127.0.0.1:7946";
    cfg->recv_max_bytes = (1u << 20) + 4096;
    cfg->peer_queue_frames = 1024;
    cfg->peer_queue_bytes = 8u << 20;
    cfg->send_timeout_ms = 1000;
    cfg->reconnect_min_ms = 100;
    cfg->reconnect_max_ms = 1000;
    cfg->max_peers = 8192;
    cfg->dial_evict_ms = TP_DIAL_EVICT_MS;
}

/* nng codes stop here; the text is logged once, where it is translated. */
int tp_err_from_nng(int rv, const char *op, const char *addr)
{
    SH_LOGW("tp_nng_error", "op=%s addr=%s err=\"%s\"", op, addr, nng_strerror(rv));
    switch (rv) {
    case NNG_EADDRINUSE: return -EADDRINUSE;
    case NNG_EADDRINVAL:
    case NNG_EINVAL: return SH_EBAD_REQUEST;
    case NNG_ETIMEDOUT: return SH_ETIMEOUT;
    case NNG_ECLOSED: return SH_ECLOSED;
    case NNG_ENOMEM: return -ENOMEM;
    default: return SH_EUNAVAILABLE;
    }
}

/* "host:port" -> "tcp://host:port".  The port is decimal, 1..65535 (0 is
 * allowed only to bind, meaning "pick one"); the host is non-empty except
 * when binding (empty = every interface).  Characters that would change
 * the meaning of the URL are refused, so the peer table key is canonical
 * enough: the caller passes the address it learned from the cluster. */
static int tp_addr_url(const char *addr, bool bind, char url[TP_URL_MAX])
{
    size_t n = addr ? strnlen(addr, TP_ADDR_MAX) : 0;
    const char *colon = n ? strrchr(addr, ':') : NULL;
    unsigned long port = 0;

    if (n == 0 || n >= TP_ADDR_MAX || colon == NULL || colon[1] == '\0')
        return SH_EBAD_REQUEST;
    if (strpbrk(addr, "/?#@ \t\r\n") != NULL || (!bind && colon == addr))
        return SH_EBAD_REQUEST;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || p - colon > 5)
            return SH_EBAD_REQUEST;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535 || (!bind && port == 0))
        return SH_EBAD_REQUEST;
    snprintf(url, TP_URL_MAX, "tcp://%s", addr);
    return 0;
}

/* ---- the submit window (see "Locking") ------------------------------- */

bool tp_submit_begin_locked(tp_t *t)
{
    if (t->closing)
        return false;
    t->submitting++;
    return true;
}

void tp_submit_end(tp_t *t)
{
    pthread_mutex_lock(&t->mu);
    if (--t->submitting == 0 && t->closing)
        pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* ---- receive --------------------------------------------------------- */

static void tp_recv_post(tp_t *t)
{
    pthread_mutex_lock(&t->mu);
    bool ok = tp_submit_begin_locked(t);
    pthread_mutex_unlock(&t->mu);
    if (!ok)
        return;
    nng_recv_aio(t->pull, t->recv_aio);
    tp_submit_end(t);
}

static void tp_recv_aio_cb(void *arg)
{
    tp_t *t = arg;
    int rv = nng_aio_result(t->recv_aio);

    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return; /* tp_free */
    if (rv == 0) {
        nng_msg *m = nng_aio_get_msg(t->recv_aio);
        size_t len = nng_msg_len(m);
        uint8_t *copy = malloc(len ? len : 1);
        nng_aio_set_msg(t->recv_aio, NULL);
        if (copy != NULL)
            memcpy(copy, nng_msg_body(m), len);
        nng_msg_free(m);
        if (copy != NULL) {
            pthread_mutex_lock(&t->mu);
            t->st.frames_in++;
            t->st.bytes_in += len;
            pthread_mutex_unlock(&t->mu);
            t->cfg.on_recv(t->cfg.udata, copy, len);
        }
    }
    tp_recv_post(t);
}

/* ---- peers: the send pump -------------------------------------------- */

/* Under mu: pick p's next operation.  false: nothing to start (busy,
 * empty, or closing).  true: *e is the frame to send now, or NULL with
 * *wait_ms the time to sleep until the head's release time.  Either way
 * the caller is inside the submit window. */
static bool tp_peer_next_locked(tp_peer_t *p, tp_qent_t **e, nng_duration *wait_ms)
{
    uint64_t now;

    *e = NULL;
    if (p->state != TP_PEER_IDLE || p->qhead == NULL || !tp_submit_begin_locked(p->tp))
        return false;
    now = sh_time_mono_ms();
    if (p->qhead->ready_ms > now) {
        p->state = TP_PEER_SLEEPING;
        *wait_ms = (nng_duration)(p->qhead->ready_ms - now);
        return true;
    }
    *e = p->qhead;
    p->qhead = (*e)->next;
    if (p->qhead == NULL)
        p->qtail = NULL;
    p->state = TP_PEER_SENDING;
    p->inflight_len = (*e)->len;
    return true;
}

/* The frame in flight is finished (sent or dropped): release its share of
 * the bounds. */
static void tp_peer_inflight_done_locked(tp_peer_t *p)
{
    p->qframes--;
    p->qbytes -= p->inflight_len;
    p->tp->st.queued_frames--;
    p->state = TP_PEER_IDLE;
}

/* Start p's next operation if it is idle and has work: send the head, or
 * sleep until the head's release time.  Called without mu. */
static void tp_peer_pump(tp_peer_t *p)
{
    tp_t *t = p->tp;
    tp_qent_t *e;
    nng_duration wait_ms = 0;
    nng_msg *m;

    for (;;) {
        pthread_mutex_lock(&t->mu);
        bool go = tp_peer_next_locked(p, &e, &wait_ms);
        pthread_mutex_unlock(&t->mu);
        if (!go)
            return;
        if (e == NULL) {
            nng_sleep_aio(wait_ms, p->aio);
            tp_submit_end(t);
            return;
        }
        /* Copied here rather than in tp_send, so a full queue costs the
         * caller no allocation and queued frames are not held twice. */
        m = NULL;
        if (nng_msg_alloc(&m, e->len) == 0)
            memcpy(nng_msg_body(m), e->frame, e->len);
        free(e->frame);
        free(e);
        if (m != NULL) {
            nng_aio_set_msg(p->aio, m);
            nng_aio_set_timeout(p->aio, (nng_duration)t->cfg.send_timeout_ms);
            nng_send_aio(p->sock, p->aio);
            tp_submit_end(t);
            return;
        }
        pthread_mutex_lock(&t->mu); /* out of memory: drop it, try the next */
        t->st.drop_send_error++;
        tp_peer_inflight_done_locked(p);
        pthread_mutex_unlock(&t->mu);
        tp_submit_end(t);
    }
}

void tp_peer_aio_cb(void *arg)
{
    tp_peer_t *p = arg;
    tp_t *t = p->tp;
    int rv = nng_aio_result(p->aio);
    nng_msg *unsent = NULL;

    pthread_mutex_lock(&t->mu);
    if (p->state == TP_PEER_SENDING) {
        if (rv == 0) {
            t->st.frames_out++;
            t->st.bytes_out += p->inflight_len;
        } else {
            /* On failure the message is still ours (nng aio contract). */
            unsent = nng_aio_get_msg(p->aio);
            nng_aio_set_msg(p->aio, NULL);
            if (rv == NNG_ETIMEDOUT)
                t->st.drop_send_timeout++;
            else if (!t->closing)
                t->st.drop_send_error++;
        }
        tp_peer_inflight_done_locked(p);
    }
    p->state = TP_PEER_IDLE;
    pthread_mutex_unlock(&t->mu);
    if (unsent != NULL)
        nng_msg_free(unsent);
    tp_peer_pump(p);
}

/* The remote end of a peer's connection went away.  Runs on nng's reaper
 * thread; nng_close of the socket waits for it, and tp_free sets closing
 * first, so our own teardown is never reported. */
void tp_pipe_rem_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    tp_peer_t *p = arg;
    tp_t *t = p->tp;

    (void)pipe;
    (void)ev;
    pthread_mutex_lock(&t->mu);
    bool closing = t->closing || p->evicted; /* our own close: not news */
    if (!closing)
        t->st.peers_down++;
    p->down = true; /* only marked: tp_send evicts it (see "Forgetting peers") */
    p->down_ms = sh_time_mono_ms();
    pthread_mutex_unlock(&t->mu);
    if (!closing && t->cfg.on_peer_down != NULL)
        t->cfg.on_peer_down(t->cfg.udata, p->addr);
}

/* A connection to the peer is up: it is alive again (a restarted member). */
void tp_pipe_add_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    tp_peer_t *p = arg;

    (void)pipe;
    (void)ev;
    pthread_mutex_lock(&p->tp->mu);
    p->ever_up = true;
    p->down = false;
    pthread_mutex_unlock(&p->tp->mu);
}


int tp_send(tp_t *t, const char *addr, uint8_t *frame, size_t len)
{
    char url[TP_URL_MAX];
    uint32_t delay_ms;
    tp_peer_t *p;
    tp_qent_t *e;
    int rc;

    if (tp_addr_url(addr, false, url) != 0)
        return SH_EBAD_REQUEST;
    if (tp_faults_drop(&t->faults, addr, &delay_ms)) {
        pthread_mutex_lock(&t->mu);
        t->st.drop_fault++;
        pthread_mutex_unlock(&t->mu);
        free(frame);
        return 0;
    }
    tp_sweep(t, TP_SWEEP_STEP);
    if ((rc = tp_peer_get(t, addr, url, &p)) != 0)
        return rc;
    if ((e = malloc(sizeof(*e))) == NULL) {
        tp_peer_unpin(p);
        return -ENOMEM;
    }
    *e = (tp_qent_t){.frame = frame, .len = len,
                     .ready_ms = delay_ms ? sh_time_mono_ms() + delay_ms : 0};
    pthread_mutex_lock(&t->mu);
    if (t->closing) {
        rc = SH_ECLOSED;
    } else if (p->qframes >= t->cfg.peer_queue_frames ||
               p->qbytes + len > t->cfg.peer_queue_bytes) {
        t->st.drop_queue_full++;
        rc = SH_EFULL;
    } else {
        if (p->qtail != NULL)
            p->qtail->next = e;
        else
            p->qhead = e;
        p->qtail = e;
        p->qframes++;
        p->qbytes += len;
        t->st.queued_frames++;
    }
    pthread_mutex_unlock(&t->mu);
    if (rc != 0) {
        tp_peer_unpin(p);
        free(e); /* not the frame: the caller keeps it */
        return rc;
    }
    tp_peer_pump(p);
    tp_peer_unpin(p);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------- */

static int tp_listen(tp_t *t, const char *url)
{
    int rv;

    if ((rv = nng_pull0_open(&t->pull)) != 0 ||
        (rv = nng_socket_set_size(t->pull, NNG_OPT_RECVMAXSZ, t->cfg.recv_max_bytes)) != 0 ||
        (rv = nng_listener_create(&t->listener, t->pull, url)) != 0 ||
        (rv = nng_listener_set_size(t->listener, NNG_OPT_RECVMAXSZ, t->cfg.recv_max_bytes)) != 0 ||
        (rv = nng_listener_start(t->listener, 0)) != 0 ||
        (rv = nng_aio_alloc(&t->recv_aio, tp_recv_aio_cb, t)) != 0)
        return tp_err_from_nng(rv, "listen", t->bind_addr);
    return 0;
}

int tp_new(tp_t **out, const tp_config_t *cfg)
{
    char url[TP_URL_MAX];
    tp_t *t;
    int rc;

    *out = NULL;
    if (cfg->on_recv == NULL || cfg->max_peers == 0 || cfg->peer_queue_frames == 0 ||
        tp_addr_url(cfg->bind_addr, true, url) != 0)
        return SH_EBAD_REQUEST;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return -ENOMEM;
    t->cfg = *cfg;
    strcpy(t->bind_addr, cfg->bind_addr);
    t->cfg.bind_addr = t->bind_addr;
    if (t->cfg.dial_evict_ms == 0)
        t->cfg.dial_evict_ms = TP_DIAL_EVICT_MS;
    t->pull = (nng_socket)NNG_SOCKET_INITIALIZER;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->create_mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    tp_faults_init(&t->faults);
    for (t->nbuckets = 16; t->nbuckets < cfg->max_peers && t->nbuckets < 4096;)
        t->nbuckets *= 2;
    if ((t->buckets = calloc(t->nbuckets, sizeof(*t->buckets))) == NULL) {
        tp_free(t);
        return -ENOMEM;
    }
    if ((rc = tp_listen(t, url)) != 0) {
        tp_free(t);
        return rc;
    }
    tp_recv_post(t);
    SH_LOGI("tp_listening", "addr=%s port=%d", t->bind_addr, tp_bound_port(t));
    *out = t;
    return 0;
}

void tp_free(tp_t *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->closing = true;
    while (t->submitting > 0)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);

    /* From here no aio operation can start; stop the ones in flight. */
    if (t->recv_aio != NULL)
        nng_aio_stop(t->recv_aio);
    for (tp_peer_t *p = t->peers; p != NULL; p = p->next)
        nng_aio_stop(p->aio);
    if (nng_socket_id(t->pull) > 0)
        nng_close(t->pull);
    for (tp_peer_t *p = t->peers, *n; p != NULL; p = n) {
        n = p->next;
        tp_peer_close(p);
    }
    if (t->recv_aio != NULL)
        nng_aio_free(t->recv_aio);
    free(t->buckets);
    tp_faults_fini(&t->faults);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->create_mu);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void tp_stats_get(tp_t *t, tp_stats_t *out)
{
    pthread_mutex_lock(&t->mu);
    *out = t->st;
    out->peers = t->npeers;
    pthread_mutex_unlock(&t->mu);
}

int tp_bound_port(tp_t *t)
{
    int port = 0;
    int rv = nng_listener_get_int(t->listener, NNG_OPT_TCP_BOUND_PORT, &port);
    return rv != 0 ? tp_err_from_nng(rv, "bound_port", t->bind_addr) : port;
}
