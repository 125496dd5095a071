/*
 * tp_peer.c - the transport's peer table: lookup by address, opening a
 * peer's PUSH socket and dialer, pinning a peer for the length of a
 * tp_send, and forgetting peers (see "Forgetting peers" in tp.c's design
 * notes).  Split from tp.c, which keeps the send pump, receive and
 * lifecycle; both share tp_int.h.
 */
#include "tp_int.h" /* first: nng.h before nng's protocol headers */

#include <errno.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

/* ---- peers: the table ------------------------------------------------ */

static size_t tp_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    while (*s)
        h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
    return (size_t)h;
}

static tp_peer_t *tp_peer_find_locked(tp_t *t, const char *addr)
{
    tp_peer_t *p = t->buckets[tp_hash(addr) & (t->nbuckets - 1)];
    while (p != NULL && strcmp(p->addr, addr) != 0)
        p = p->hnext;
    return p;
}

static void tp_peer_insert_locked(tp_t *t, tp_peer_t *p)
{
    size_t b = tp_hash(p->addr) & (t->nbuckets - 1);
    p->hnext = t->buckets[b];
    t->buckets[b] = p;
    p->prev = NULL;
    p->next = t->peers;
    if (t->peers != NULL)
        t->peers->prev = p;
    t->peers = p;
    t->npeers++;
}

static void tp_peer_unlink_locked(tp_t *t, tp_peer_t *p)
{
    tp_peer_t **pp = &t->buckets[tp_hash(p->addr) & (t->nbuckets - 1)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    if (t->sweep == p)
        t->sweep = p->next;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        t->peers = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    t->npeers--;
}

/* Close the socket and free everything a peer holds.  Its aio must be idle
 * (stopped, or never started). */
void tp_peer_close(tp_peer_t *p)
{
    if (nng_socket_id(p->sock) > 0)
        nng_close(p->sock);
    for (tp_qent_t *e = p->qhead, *n; e != NULL; e = n) {
        n = e->next;
        free(e->frame);
        free(e);
    }
    if (p->aio != NULL)
        nng_aio_free(p->aio);
    free(p);
}

static int tp_peer_open(tp_t *t, const char *addr, const char *url, tp_peer_t **out)
{
    tp_peer_t *p = calloc(1, sizeof(*p));
    int rv;

    if (p == NULL)
        return -ENOMEM;
    p->tp = t;
    p->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
    strcpy(p->addr, addr);
    if ((rv = nng_push0_open(&p->sock)) != 0 ||
        (rv = nng_aio_alloc(&p->aio, tp_peer_aio_cb, p)) != 0 ||
        (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, tp_pipe_add_cb, p)) != 0 ||
        (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, tp_pipe_rem_cb, p)) != 0 ||
        (rv = nng_dialer_create(&p->dialer, p->sock, url)) != 0 ||
        (rv = nng_dialer_set_ms(p->dialer, NNG_OPT_RECONNMINT, (nng_duration)t->cfg.reconnect_min_ms)) != 0 ||
        (rv = nng_dialer_set_ms(p->dialer, NNG_OPT_RECONNMAXT, (nng_duration)t->cfg.reconnect_max_ms)) != 0 ||
        (rv = nng_dialer_start(p->dialer, NNG_FLAG_NONBLOCK)) != 0) {
        tp_peer_close(p);
        return tp_err_from_nng(rv, "peer_open", addr);
    }
    p->created_ms = sh_time_mono_ms();
    *out = p;
    return 0;
}

static bool tp_peer_evictable_locked(const tp_t *t, const tp_peer_t *p, uint64_t now)
{
    if (p->pins != 0 || p->qframes != 0 || p->state != TP_PEER_IDLE)
        return false;
    return p->down || (!p->ever_up && now - p->created_ms >= t->cfg.dial_evict_ms);
}

/* Examine up to `budget` peers from the sweep cursor (wrapping once) and
 * evict the idle dead ones; returns how many.  Called without mu, never
 * from an nng callback (nng_close waits for the socket's callbacks). */
size_t tp_sweep(tp_t *t, size_t budget)
{
    tp_peer_t *dead = NULL, *p, *n;
    size_t evicted = 0;
    uint64_t now;

    pthread_mutex_lock(&t->mu);
    now = sh_time_mono_ms(); /* under mu: no down_ms is later than it */
    if (budget > t->npeers)
        budget = t->npeers;
    if (!tp_submit_begin_locked(t)) {
        pthread_mutex_unlock(&t->mu);
        return 0;
    }
    for (; budget > 0; budget--) {
        if ((p = t->sweep != NULL ? t->sweep : t->peers) == NULL)
            break;
        t->sweep = p->next;
        if (!tp_peer_evictable_locked(t, p, now))
            continue;
        tp_peer_unlink_locked(t, p);
        p->evicted = true;
        t->st.peers_evicted++;
        p->next = dead;
        dead = p;
        evicted++;
    }
    pthread_mutex_unlock(&t->mu);
    for (p = dead; p != NULL; p = n) {
        n = p->next;
        SH_LOGD("tp_peer_evicted", "addr=%s down=%d down_for_ms=%llu", p->addr, (int)p->down,
                p->down ? (unsigned long long)(now - p->down_ms) : 0ull);
        nng_aio_stop(p->aio); /* idle, but its callback may still be returning */
        tp_peer_close(p);
    }
    tp_submit_end(t);
    return evicted;
}

/* Under mu: the peer for addr, pinned (safe from eviction until
 * tp_peer_unpin), or NULL. */
static tp_peer_t *tp_peer_find_pin_locked(tp_t *t, const char *addr)
{
    tp_peer_t *p = tp_peer_find_locked(t, addr);
    if (p != NULL)
        p->pins++;
    return p;
}

void tp_peer_unpin(tp_peer_t *p)
{
    pthread_mutex_lock(&p->tp->mu);
    p->pins--;
    pthread_mutex_unlock(&p->tp->mu);
}

/* The peer for addr, created on first use, pinned.  Creation is serialised
 * by create_mu and its nng calls run without mu.  A full table is swept
 * completely before the answer is SH_EFULL. */
int tp_peer_get(tp_t *t, const char *addr, const char *url, tp_peer_t **out)
{
    tp_peer_t *p = NULL;
    int rc = 0;

    pthread_mutex_lock(&t->mu);
    *out = t->closing ? NULL : tp_peer_find_pin_locked(t, addr);
    rc = t->closing ? SH_ECLOSED : 0;
    pthread_mutex_unlock(&t->mu);
    if (rc != 0 || *out != NULL)
        return rc;

    pthread_mutex_lock(&t->create_mu);
    pthread_mutex_lock(&t->mu);
    bool full = t->npeers >= t->cfg.max_peers;
    pthread_mutex_unlock(&t->mu);
    if (full)
        tp_sweep(t, SIZE_MAX);
    pthread_mutex_lock(&t->mu);
    *out = tp_peer_find_pin_locked(t, addr);
    if (*out == NULL && t->npeers >= t->cfg.max_peers) {
        t->st.drop_queue_full++; /* same answer as a full queue, same counter */
        rc = SH_EFULL;
    }
    pthread_mutex_unlock(&t->mu);
    if (*out == NULL && rc == 0 && (rc = tp_peer_open(t, addr, url, &p)) == 0) {
        pthread_mutex_lock(&t->mu);
        if (t->closing) {
            rc = SH_ECLOSED;
        } else {
            tp_peer_insert_locked(t, p);
            p->pins = 1;
        }
        pthread_mutex_unlock(&t->mu);
        if (rc != 0)
            tp_peer_close(p);
        else
            *out = p;
    }
    pthread_mutex_unlock(&t->create_mu);
    return rc;
}
