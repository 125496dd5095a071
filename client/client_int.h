/*
 * client_int.h - shared inside client/: the client object, the pending
 * table (client.c) and the network side (client_io.c).
 */
#ifndef CLIENT_INT_H
#define CLIENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "shoal/client.h"
#include "tp.h"
#include "wire.h"

/* How long a refusal is held: calls fail at once meanwhile.  The node
 * answers a refused address at most once per 10 s
 * (SWIM_IO_REFUSE_INTERVAL_MS), so a client that forgot the refusal
 * sooner would only wait for timeouts. */
#define CL_REFUSE_HOLD_MS 10000u
#define CL_REFUSE_PAYLOAD_MAX 4096u /* a refusal is two short strings */

/* One call in flight.  Slots live in a fixed array indexed by
 * corr & mask; `next`/`prev` keep the used ones in deadline order. */
typedef struct cl_pend {
    uint64_t corr;        /* 0: slot free */
    uint64_t deadline;    /* monotonic ms */
    uint32_t timeout_ms;  /* for the timeout message */
    shoal_client_done_fn done;
    void *udata;
    struct cl_pend *prev, *next;
} cl_pend_t;

struct shoal_client {
    tp_t *tp;
    wire_key_t key;
    wire_limits_t lim;
    char node[TP_ADDR_MAX];
    char self_addr[WIRE_ADDR_MAX];
    char self_id[WIRE_ID_MAX];
    char cluster[WIRE_CLUSTER_MAX];
    uint32_t shards;
    uint32_t timeout_ms;

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t sweep_cv; /* CLOCK_MONOTONIC: the deadline thread waits here */
    pthread_t sweeper;
    bool sweeper_started, stopping;
    uint64_t sweep_until; /* when the deadline thread wakes next; UINT64_MAX: not before a signal */
    cl_pend_t *slots;
    size_t mask;
    uint64_t next_corr;
    cl_pend_t *head, *tail; /* in flight, earliest deadline first */
    char refusal[SHOAL_CLIENT_ERRMSG_MAX];
    uint64_t refused_until; /* monotonic ms; 0: not refused */
    shoal_client_stats_t st;
};

/* client_io.c */

/* Pick the reply address (cfg->reply_addr or the local address routed to
 * the node), start the transport listening there and fill c->self_addr.
 * 0, SHOAL_EBAD_REQUEST, SHOAL_EUNAVAILABLE, -errno. */
int cl_io_start(shoal_client_t *c, const char *reply_addr);
/* Send request `corr` for the call described by q.  0, or SHOAL_E* /
 * -ENOMEM (nothing was sent). */
int cl_io_send(shoal_client_t *c, const call_t *q, uint64_t corr, uint64_t deadline_wall_ms);
/* The transport's receive callback (nng thread). */
void cl_io_on_recv(void *udata, uint8_t *frame, size_t len);

/* client.c, for client_io.c */

/* Complete call `corr` with an outcome (reply borrowed); counted late if
 * no such call is in flight. */
void cl_complete(shoal_client_t *c, uint64_t corr, int status, const uint8_t *reply,
                 size_t len, const char *errmsg);
/* The node refused us: hold `why` for CL_REFUSE_HOLD_MS and fail every
 * call in flight with SHOAL_EUNAVAILABLE. */
void cl_refused(shoal_client_t *c, const char *why);
void cl_count_bad_frame(shoal_client_t *c);
/* A daemon status as a public code (shoal/error.h). */
int cl_public_code(int status);

#endif
