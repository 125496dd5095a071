/*
 * metrics.h - the node's Prometheus text exposition (GET /metrics).
 *
 * Two steps, so the rendering is testable without a running node:
 * metrics_collect() copies the live counters (core stats, adapter counters,
 * transport stats) into a plain snapshot on the loop thread, and
 * metrics_render() turns any snapshot into text format 0.0.4 with HELP and
 * TYPE lines.  Every label value of a family is always emitted, zeros
 * included, so dashboards and rate() never see a series appear from nothing.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "jrnl.h"
#include "jw.h"
#include "rpc.h"
#include "swim.h"
#include "swim_io.h"
#include "tp.h"
#include "wrk.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4"

typedef struct metrics_snapshot {
    uint64_t members[4]; /* indexed by enum swim_state */
    uint64_t probes_sent, probes_failed, suspicions, refutations, deaths_declared;
    uint32_t awareness;
    uint64_t gossip_bytes_in, gossip_bytes_out; /* wire bytes of SWIM frames */
    uint64_t frames_in, frames_out;
    uint64_t dropped[SWIM_IO_DROP_COUNT]; /* indexed by enum swim_io_drop */
    uint64_t queued_frames;
    uint64_t tp_peers, tp_peers_evicted; /* transport peer table */
    /* Entity runtime: worker counters summed over workers (lat_buckets and
     * depth_buckets per bucket, not cumulative), forwarding, routing. */
    wrk_stats_t wrk;
    rpc_stats_t rpc;
    uint64_t shards_owned;
    uint64_t owner_changes;    /* shards whose owner changed, all updates */
    uint64_t calls_unavailable; /* answered unavailable by the router */
    uint64_t router_busy;      /* a worker's input queue was full */
    /* Persistence (all zero without a journal). */
    jw_stats_t jw;
    jrnl_stats_t jrnl;
    uint64_t reminders_scheduled, reminders_sent;
} metrics_snapshot_t;

/* Upper bounds of wrk_stats_t's buckets (the last is +Inf), as rendered. */
#define METRICS_LAT_BOUNDS_US {10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000}
#define METRICS_DEPTH_BOUNDS {0, 1, 2, 5, 10, 100, 1000}

/* Fill *s from the core, the adapter's counters and the transport's stats
 * (any may be NULL: its fields stay zero).  Loop thread. */
void metrics_collect(metrics_snapshot_t *s, const swim_t *core,
                     const swim_io_counters_t *io, const tp_stats_t *tp);

/* Render *s.  On 0, *out is a malloc'd NUL-terminated text of *len bytes
 * owned by the caller (free()).  SH_ENOMEM on allocation failure (nothing
 * to free).  Pure: any thread. */
int metrics_render(const metrics_snapshot_t *s, char **out, size_t *len);

#endif
