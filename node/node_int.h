/*
 * node_int.h - shared inside node/: the node struct, the data-directory
 * helpers (node_meta.c) and the route handlers (api_cluster.c).  Not for
 * other modules.
 */
#ifndef NODE_INT_H
#define NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "api.h"
#include "cfg.h"
#include "node.h"
#include "swim_io.h"

#define NODE_LEAVE_GRACE_MS 500 /* keep running after leave so it reaches peers */

struct node {
    cfg_t cfg;
    uv_loop_t loop;
    bool loop_init;
    uv_signal_t sigterm, sigint;
    uv_timer_t grace;
    bool handles_init;
    swim_io_t *io;
    api_t *api;
    int lock_fd;
    uint32_t incarnation;
    bool stopping; /* leave sent, grace running */
    bool stopped;  /* handles closing */
};

/* Create `dir` (mkdir -p), take an exclusive flock on <dir>/LOCK and read
 * <dir>/node.meta; the next incarnation (stored + 1, or 1) is written back
 * atomically (tmp file, fsync, rename, fsync of the directory) before this
 * returns.  On 0, *lock_fd holds the lock (close it to release) and
 * *incarnation the new value.  SH_EBUSY (locked by another process),
 * SH_ECONFLICT (dir belongs to another id), SH_EMALFORMED (bad node.meta),
 * SH_EFULL (incarnation exhausted) or -errno; `err` says which, for the
 * operator.  Blocking: start-up only. */
int node_meta_open(const char *dir, const char *id, uint32_t *incarnation, int *lock_fd,
                   char *err, size_t errcap);

/* Route handlers (api_cluster.c); r->udata is the node_t. */
int api_cluster_healthz(api_req_t *r);
int api_cluster_readyz(api_req_t *r);
int api_cluster_members(api_req_t *r);
int api_cluster_metrics(api_req_t *r);
int api_debug_fault(api_req_t *r);

#endif
