/*
 * node.h - shoald's node: the libuv loop that owns membership (and later
 * the shard table, routing and handoff), wired to the transport and the
 * HTTP API.  main.c is its only user.
 */
#ifndef NODE_H
#define NODE_H

#include "cfg.h"

typedef struct node node_t;

/* Prepare a node from a validated configuration: open and lock the data
 * directory, persist the next incarnation, start the transport and the
 * HTTP server, install SIGTERM/SIGINT handlers and begin joining.  Blocking
 * start-up I/O happens here, before the loop runs.
 *   0               *out is ready for node_run.
 *   SH_EBUSY        the data directory is locked by another shoald.
 *   SH_ECONFLICT    the data directory belongs to another node id.
 *   SH_EMALFORMED   node.meta is unreadable.
 *   -EADDRINUSE     the cluster or HTTP address is taken.
 *   other <0        -errno from the file system, or from tp/api start-up.
 * Each failure is logged with a clear message before returning; on error
 * nothing is left open.  Main thread (which becomes the loop thread). */
int node_new(node_t **out, const cfg_t *cfg);

/* Run the loop until a signal stops the node: leave the cluster, wait a
 * short grace so the news reaches peers, close the API and transport and
 * every handle.  Returns 0 after a clean stop, SH_EINTERNAL if a handle
 * was left open (logged). */
int node_run(node_t *n);

/* Release the lock and free everything.  Accepts NULL. */
void node_free(node_t *n);

#endif
