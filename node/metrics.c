/*
 * metrics.c - Prometheus text rendering; see metrics.h.
 *
 * Design notes.  The exposition is produced on demand from a snapshot (no
 * metrics registry, no locks): the loop thread owns every counter it
 * reports, so a scrape is one pass over plain integers.  Counter names end
 * in _total and gauges do not, as Prometheus naming asks.  The transport's
 * own drops (send timeouts, send errors, fault-injected drops of outgoing
 * frames) are merged into the same shoal_frames_dropped_total family as
 * the adapter's receive-side drops, so one family answers "where do frames
 * go missing".  The entity runtime's counters come from the workers
 * (relaxed atomics, summed by the node) and the router; its histograms are
 * kept per bucket and made cumulative here, as the format requires.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"

/* A growable text buffer; `failed` sticks after the first allocation error
 * so callers check once at the end. */
typedef struct mx_buf {
    char *p;
    size_t len, cap;
    int failed;
} mx_buf_t;

static void mx_printf(mx_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mx_printf(mx_buf_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void mx_family(mx_buf_t *b, const char *name, const char *type, const char *help)
{
    mx_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void mx_value(mx_buf_t *b, const char *name, uint64_t v)
{
    mx_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void mx_labeled(mx_buf_t *b, const char *name, const char *label, const char *lv,
                       uint64_t v)
{
    mx_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, lv, (unsigned long long)v);
}

static void mx_gauge(mx_buf_t *b, const char *name, const char *help, uint64_t v);

static void mx_counter(mx_buf_t *b, const char *name, const char *help, uint64_t v)
{
    mx_family(b, name, "counter", help);
    mx_value(b, name, v);
}

static void mx_in_out(mx_buf_t *b, const char *name, const char *help, uint64_t in,
                      uint64_t out)
{
    mx_family(b, name, "counter", help);
    mx_labeled(b, name, "dir", "in", in);
    mx_labeled(b, name, "dir", "out", out);
}

static void mx_render_swim(mx_buf_t *b, const metrics_snapshot_t *s)
{
    mx_family(b, "shoal_members", "gauge", "Members known to this node, by state.");
    for (int st = SWIM_ALIVE; st <= SWIM_LEFT; st++)
        mx_labeled(b, "shoal_members", "state", swim_state_name((enum swim_state)st),
                   s->members[st]);
    mx_counter(b, "shoal_swim_probes_sent_total", "SWIM direct probes sent.", s->probes_sent);
    mx_counter(b, "shoal_swim_probes_failed_total",
               "SWIM probes that got no ack, direct or indirect.", s->probes_failed);
    mx_counter(b, "shoal_swim_suspicions_total", "Members this node started suspecting.",
               s->suspicions);
    mx_counter(b, "shoal_swim_refutations_total",
               "Suspicions of this node it refuted by bumping its incarnation.",
               s->refutations);
    mx_counter(b, "shoal_swim_deaths_declared_total",
               "Suspects this node declared dead after the suspicion timeout.",
               s->deaths_declared);
    mx_family(b, "shoal_swim_awareness", "gauge",
              "Lifeguard local health score (0 = healthy; higher = slower probing).");
    mx_value(b, "shoal_swim_awareness", s->awareness);
}

static void mx_render_frames(mx_buf_t *b, const metrics_snapshot_t *s)
{
    mx_in_out(b, "shoal_gossip_bytes_total", "Wire bytes of SWIM frames.", s->gossip_bytes_in,
              s->gossip_bytes_out);
    mx_in_out(b, "shoal_frames_total", "Cluster frames received and queued for sending.",
              s->frames_in, s->frames_out);
    mx_family(b, "shoal_frames_dropped_total", "counter", "Cluster frames dropped, by reason.");
    for (int r = 0; r < SWIM_IO_DROP_COUNT; r++)
        mx_labeled(b, "shoal_frames_dropped_total", "reason", swim_io_drop_name(r),
                   s->dropped[r]);
    mx_family(b, "shoal_transport_queued_frames", "gauge",
              "Frames waiting in the per-peer send queues.");
    mx_value(b, "shoal_transport_queued_frames", s->queued_frames);
    mx_gauge(b, "shoal_transport_peers", "Peers in the transport's peer table.", s->tp_peers);
    mx_counter(b, "shoal_transport_peers_evicted_total",
               "Peers forgotten: connection down or never up, and idle.", s->tp_peers_evicted);
}

/* A histogram from per-bucket counts (bounds[i] is bucket i's upper
 * bound, scaled by `scale` for the le label; the last bucket is +Inf). */
static void mx_histogram(mx_buf_t *b, const char *name, const char *help, const uint64_t *cnt,
                         const double *bounds, size_t nb, double sum, bool with_sum)
{
    uint64_t acc = 0;
    mx_family(b, name, "histogram", help);
    for (size_t i = 0; i < nb; i++) {
        acc += cnt[i];
        if (i + 1 < nb)
            mx_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                      (unsigned long long)acc);
        else
            mx_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)acc);
    }
    if (with_sum)
        mx_printf(b, "%s_sum %.9g\n", name, sum);
    mx_printf(b, "%s_count %llu\n", name, (unsigned long long)acc);
}

static void mx_gauge(mx_buf_t *b, const char *name, const char *help, uint64_t v)
{
    mx_family(b, name, "gauge", help);
    mx_value(b, name, v);
}

static void mx_render_entities(mx_buf_t *b, const metrics_snapshot_t *s)
{
    const wrk_stats_t *w = &s->wrk;
    mx_gauge(b, "shoal_entities_active", "Entities active on this node.", w->active);
    mx_counter(b, "shoal_activations_total", "Entity activations.", w->activations);
    mx_counter(b, "shoal_passivations_total", "Entity passivations (idle, LRU, released).",
               w->passivations);
    mx_family(b, "shoal_turns_total", "counter", "Entity turns, by outcome.");
    mx_labeled(b, "shoal_turns_total", "outcome", "ok", w->turns_ok);
    mx_labeled(b, "shoal_turns_total", "outcome", "error", w->turns_error);
    mx_labeled(b, "shoal_turns_total", "outcome", "timeout", w->turns_timeout);
    mx_labeled(b, "shoal_turns_total", "outcome", "corrupt", w->turns_corrupt);
    static const unsigned lat_us[] = METRICS_LAT_BOUNDS_US;
    double lat[WRK_LAT_BUCKETS];
    for (size_t i = 0; i < WRK_LAT_BUCKETS; i++)
        lat[i] = i < SH_ARRAY_LEN(lat_us) ? lat_us[i] / 1e6 : 0;
    mx_histogram(b, "shoal_turn_duration_seconds", "Duration of entity turns.", w->lat_buckets,
                 lat, WRK_LAT_BUCKETS, w->lat_sum_us / 1e6, true);
    static const unsigned depth_n[] = METRICS_DEPTH_BOUNDS;
    double depth[WRK_DEPTH_BUCKETS];
    for (size_t i = 0; i < WRK_DEPTH_BUCKETS; i++)
        depth[i] = i < SH_ARRAY_LEN(depth_n) ? depth_n[i] : 0;
    /* No _sum: workers count depths per bucket only. */
    mx_histogram(b, "shoal_mailbox_depth", "Mailbox depth found by each enqueued call.",
                 w->depth_buckets, depth, WRK_DEPTH_BUCKETS, 0, false);
    mx_gauge(b, "shoal_mailbox_depth_max", "Deepest mailbox right now.", w->mailbox_depth_max);
    mx_counter(b, "shoal_busy_rejections_total",
               "Calls refused busy: a full mailbox or worker queue (HTTP 429).",
               w->busy_rejections + s->router_busy);
}

static void mx_render_routing(mx_buf_t *b, const metrics_snapshot_t *s)
{
    mx_counter(b, "shoal_forwards_total", "Calls forwarded to another node.", s->rpc.forwards);
    mx_gauge(b, "shoal_rpc_pending", "Forwarded calls waiting for their reply.",
             s->rpc.pending);
    mx_counter(b, "shoal_rpc_requests_total", "Forwarded calls received from other nodes.",
               s->rpc.requests_in);
    mx_counter(b, "shoal_rpc_timeouts_total", "Forwarded calls that got no reply in time.",
               s->rpc.timeouts);
    mx_counter(b, "shoal_rpc_late_replies_total", "Replies for no pending call, dropped.",
               s->rpc.late_replies);
    mx_counter(b, "shoal_calls_unavailable_total",
               "Calls answered unavailable: no owner, or out of forwarding hops.",
               s->calls_unavailable);
    mx_gauge(b, "shoal_shards_owned", "Shards this node owns in its view.", s->shards_owned);
    mx_counter(b, "shoal_shard_owner_changes_total",
               "Shards whose owner changed in this node's view.", s->owner_changes);
}

static void mx_render_journal(mx_buf_t *b, const metrics_snapshot_t *s)
{
    const jw_stats_t *j = &s->jw;
    const wrk_stats_t *w = &s->wrk;
    mx_counter(b, "shoal_journal_appends_total", "Journal requests committed or failed.",
               j->requests);
    mx_counter(b, "shoal_journal_events_total", "Events appended to the journal.", j->events);
    mx_counter(b, "shoal_journal_batches_total", "Group commits (one transaction each).",
               j->batches);
    mx_counter(b, "shoal_journal_failed_total", "Journal requests that failed.", j->failed);
    double bb[JW_HIST_BUCKETS], lb[JW_HIST_BUCKETS];
    for (size_t i = 0; i < JW_HIST_BUCKETS; i++) {
        bb[i] = i + 1 < JW_HIST_BUCKETS ? (double)jw_batch_bounds[i] : 0;
        lb[i] = i + 1 < JW_HIST_BUCKETS ? jw_lat_bounds_us[i] / 1e6 : 0;
    }
    mx_histogram(b, "shoal_journal_batch_size", "Requests per group commit.", j->batch_hist, bb,
                 JW_HIST_BUCKETS, 0, false);
    mx_histogram(b, "shoal_journal_commit_seconds", "Write transaction commit time (no sync).",
                 j->commit_hist, lb, JW_HIST_BUCKETS, j->commit_us_sum / 1e6, true);
    mx_histogram(b, "shoal_journal_sync_seconds", "Journal fsync time per group commit.",
                 j->sync_hist, lb, JW_HIST_BUCKETS, j->sync_us_sum / 1e6, true);
    mx_gauge(b, "shoal_journal_queued", "Journal requests waiting for the writer.", j->queued);
    mx_gauge(b, "shoal_journal_map_size_bytes", "LMDB map size.", s->jrnl.map_size);
    mx_gauge(b, "shoal_journal_map_used_bytes", "LMDB pages in use.", s->jrnl.map_used);
    mx_gauge(b, "shoal_journal_entries_events", "Events stored.", s->jrnl.events);
    mx_gauge(b, "shoal_journal_entries_snapshots", "Snapshots stored.", s->jrnl.snapshots);
    mx_counter(b, "shoal_snapshots_total", "Snapshots written by this node.", w->snapshots);
    mx_counter(b, "shoal_recoveries_total", "Entity recoveries from the journal.",
               w->recoveries);
    mx_counter(b, "shoal_recovery_failures_total", "Recoveries that found a corrupt journal.",
               w->recovery_failed);
    mx_counter(b, "shoal_recovery_events_total", "Events replayed by recoveries.",
               w->recovery_events);
    mx_counter(b, "shoal_recovery_seconds_total", "Time spent recovering entities (seconds).",
               w->recovery_us_sum / 1000000);
    mx_counter(b, "shoal_output_held_total", "Turns whose output waited for the journal.",
               w->commits_held);
    mx_counter(b, "shoal_idempotent_replays_total",
               "Calls answered from an idempotency record or a pending commit.", w->idem_hits);
    mx_gauge(b, "shoal_reminders_scheduled", "Durable reminders scheduled on this node.",
             s->reminders_scheduled);
    mx_counter(b, "shoal_reminders_due_total", "Reminder fires sent.", s->reminders_sent);
    mx_counter(b, "shoal_reminders_fired_total", "Reminder fires that ran the handler.",
               w->reminders_fired);
}

int metrics_render(const metrics_snapshot_t *s, char **out, size_t *len)
{
    mx_buf_t b = {.p = malloc(4096), .len = 0, .cap = 4096, .failed = 0};
    *out = NULL;
    *len = 0;
    if (!b.p)
        return SH_ENOMEM;
    b.p[0] = '\0';
    mx_render_swim(&b, s);
    mx_render_frames(&b, s);
    mx_render_entities(&b, s);
    mx_render_routing(&b, s);
    mx_render_journal(&b, s);
    if (b.failed) {
        free(b.p);
        return SH_ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

void metrics_collect(metrics_snapshot_t *s, const swim_t *core, const swim_io_counters_t *io,
                     const tp_stats_t *tp)
{
    memset(s, 0, sizeof *s);
    if (core) {
        size_t counts[4] = {0, 0, 0, 0};
        swim_count_by_state(core, counts);
        for (int i = 0; i < 4; i++)
            s->members[i] = counts[i];
        swim_stats_t st;
        swim_stats_get(core, &st);
        s->probes_sent = st.probes_sent;
        s->probes_failed = st.probes_failed;
        s->suspicions = st.suspicions;
        s->refutations = st.refutations;
        s->deaths_declared = st.deaths_declared;
        s->awareness = st.awareness;
    }
    if (io) {
        memcpy(s->dropped, io->dropped, sizeof s->dropped);
        s->frames_in = io->frames_in;
        s->frames_out = io->frames_out;
        s->gossip_bytes_in = io->gossip_bytes_in;
        s->gossip_bytes_out = io->gossip_bytes_out;
    }
    if (tp) {
        /* queue_full is counted by the adapter from tp_send's SH_EFULL (and
         * its own inbox); adding tp's drop_queue_full would count it twice. */
        s->dropped[SWIM_IO_DROP_SEND_TIMEOUT] += tp->drop_send_timeout;
        s->dropped[SWIM_IO_DROP_SEND_ERROR] += tp->drop_send_error;
        s->dropped[SWIM_IO_DROP_FAULT] += tp->drop_fault;
        s->queued_frames = tp->queued_frames;
        s->tp_peers = tp->peers;
        s->tp_peers_evicted = tp->peers_evicted;
    }
}
