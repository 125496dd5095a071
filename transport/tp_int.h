/*
 * tp_int.h - shared inside the transport (tp.c, tp_fault.c); nobody else
 * includes it.
 */
#ifndef TP_INT_H
#define TP_INT_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sh_rng.h"
#include "tp.h"

/* ---- fault table (tp_fault.c) ---------------------------------------- */

typedef struct tp_fault_ent {
    bool any;                /* the NULL-address entry: every peer */
    char addr[TP_ADDR_MAX];
    tp_fault_t f;
} tp_fault_ent_t;

/* Its own lock: tp_send consults it on every frame, before the tp lock. */
typedef struct tp_faults {
    pthread_mutex_t mu;
    sh_rng_t rng;
    size_t n;
    tp_fault_ent_t ents[TP_FAULT_MAX];
} tp_faults_t;

void tp_faults_init(tp_faults_t *fs);
void tp_faults_fini(tp_faults_t *fs);
/* The fate of one outgoing frame to addr: true = drop it (cut or lost by
 * drop_prob); otherwise *delay_ms is how long to hold it (0 = not at all). */
bool tp_faults_drop(tp_faults_t *fs, const char *addr, uint32_t *delay_ms);

/* ---- peers and the transport (tp.c) ---------------------------------- */

/* One queued frame.  `frame` is the caller's buffer, owned by the queue. */
typedef struct tp_qent {
    struct tp_qent *next;
    uint8_t *frame;
    size_t len;
    uint64_t ready_ms; /* monotonic; 0 = now (no delay fault) */
} tp_qent_t;

enum tp_peer_state {
    TP_PEER_IDLE,     /* no aio operation outstanding */
    TP_PEER_SENDING,  /* nng_send_aio outstanding */
    TP_PEER_SLEEPING, /* nng_sleep_aio outstanding: head held by a delay */
};

typedef struct tp_peer {
    struct tp_peer *hnext; /* hash chain */
    struct tp_peer *next;  /* every peer (tp_free, the eviction sweep) */
    struct tp_peer *prev;
    tp_t *tp;
    char addr[TP_ADDR_MAX];
    nng_socket sock;       /* PUSH0, one dialer */
    nng_dialer dialer;
    nng_aio *aio;          /* the one send-or-sleep in flight */
    enum tp_peer_state state;
    tp_qent_t *qhead, *qtail;
    size_t qframes, qbytes; /* waiting + in flight: what the bounds count */
    size_t inflight_len;
    /* Eviction (see tp.c "Forgetting peers"). */
    unsigned pins;         /* tp_send calls using the peer outside mu */
    bool ever_up;          /* a pipe was added at least once */
    bool down;             /* the last pipe was removed, none added since */
    bool evicted;          /* unlinked and closing: its pipe events are ours */
    uint64_t created_ms, down_ms; /* monotonic */
} tp_peer_t;

struct tp {
    tp_config_t cfg;
    char bind_addr[TP_ADDR_MAX];

    /* mu guards every field below it; never held across an nng call or a
     * user callback (nng may run callbacks while holding its own locks). */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* signalled when submitting drops to 0 */
    bool closing;
    unsigned submitting;    /* threads about to start an aio operation */
    tp_peer_t **buckets;
    size_t nbuckets, npeers;
    tp_peer_t *peers;
    tp_peer_t *sweep;       /* next peer the bounded sweep examines */
    tp_stats_t st;

    /* Serialises peer creation, which makes nng calls without mu held. */
    pthread_mutex_t create_mu;

    nng_socket pull;
    nng_listener listener;
    nng_aio *recv_aio;
    tp_faults_t faults;
};

/* ---- shared between tp.c and tp_peer.c -------------------------------- */

#define TP_URL_MAX (TP_ADDR_MAX + 8)
/* Peers examined for eviction per tp_send: O(1) per call, yet the whole
 * table is visited every max_peers / TP_SWEEP_STEP sends. */
#define TP_SWEEP_STEP 4
#define TP_DIAL_EVICT_MS 60000 /* default dial_evict_ms */

/* tp.c: error translation, the submit window, nng callbacks of a peer. */
int tp_err_from_nng(int rv, const char *op, const char *addr);
bool tp_submit_begin_locked(tp_t *t);
void tp_submit_end(tp_t *t);
void tp_peer_aio_cb(void *arg);
void tp_pipe_rem_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg);
void tp_pipe_add_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg);

/* tp_peer.c: the peer table.  tp_peer_get finds or opens the peer for
 * addr and pins it (0, SH_EFULL when the table is full even after a full
 * sweep, SH_ECLOSED while closing, or a translated nng error);
 * tp_peer_unpin releases the pin;
 * tp_sweep examines up to `budget` peers, evicts the idle down ones and
 * returns how many;
 * tp_peer_close closes an unlinked peer's socket and frees it and its
 * queue (its aio must be idle). */
int tp_peer_get(tp_t *t, const char *addr, const char *url, tp_peer_t **out);
void tp_peer_unpin(tp_peer_t *p);
size_t tp_sweep(tp_t *t, size_t budget);
void tp_peer_close(tp_peer_t *p);

#endif
