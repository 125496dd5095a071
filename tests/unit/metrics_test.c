/* metrics_test.c - Prometheus text rendering (suite "metrics"). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "sh_err.h"

static char *render(const metrics_snapshot_t *s, size_t *len_out)
{
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(metrics_render(s, &text, &len), 0);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    if (len_out)
        *len_out = len;
    return text;
}

/* True if `line` (without its newline) is a whole line of `text`. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

START_TEST(test_metrics_zero_snapshot_lists_every_series)
{
    metrics_snapshot_t s;
    memset(&s, 0, sizeof s);
    char *t = render(&s, NULL);
    static const char *const lines[] = {
        "# TYPE shoal_members gauge",
        "shoal_members{state=\"alive\"} 0",
        "shoal_members{state=\"suspect\"} 0",
        "shoal_members{state=\"dead\"} 0",
        "shoal_members{state=\"left\"} 0",
        "# TYPE shoal_swim_probes_sent_total counter",
        "shoal_swim_probes_sent_total 0",
        "shoal_swim_probes_failed_total 0",
        "shoal_swim_suspicions_total 0",
        "shoal_swim_refutations_total 0",
        "shoal_swim_deaths_declared_total 0",
        "# TYPE shoal_swim_awareness gauge",
        "shoal_swim_awareness 0",
        "shoal_gossip_bytes_total{dir=\"in\"} 0",
        "shoal_gossip_bytes_total{dir=\"out\"} 0",
        "shoal_frames_total{dir=\"in\"} 0",
        "shoal_frames_total{dir=\"out\"} 0",
        "# TYPE shoal_frames_dropped_total counter",
        "shoal_frames_dropped_total{reason=\"malformed\"} 0",
        "shoal_frames_dropped_total{reason=\"too_big\"} 0",
        "shoal_frames_dropped_total{reason=\"auth\"} 0",
        "shoal_frames_dropped_total{reason=\"version\"} 0",
        "shoal_frames_dropped_total{reason=\"cluster\"} 0",
        "shoal_frames_dropped_total{reason=\"unknown_kind\"} 0",
        "shoal_frames_dropped_total{reason=\"fault\"} 0",
        "shoal_frames_dropped_total{reason=\"queue_full\"} 0",
        "shoal_frames_dropped_total{reason=\"send_timeout\"} 0",
        "shoal_frames_dropped_total{reason=\"send_error\"} 0",
        "# TYPE shoal_transport_queued_frames gauge",
        "shoal_transport_queued_frames 0",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(has_line(t, lines[i]), "missing line: %s", lines[i]);
    free(t);
}
END_TEST

/* Every sample line belongs to a family announced by HELP and TYPE lines
 * just before it; exactly 127 samples and 51 families. */
START_TEST(test_metrics_format_is_well_formed)
{
    metrics_snapshot_t s;
    memset(&s, 0, sizeof s);
    size_t len;
    char *t = render(&s, &len);
    ck_assert_int_eq(t[len - 1], '\n');
    int samples = 0, helps = 0, types = 0, histos = 0;
    char family[128] = "";
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# HELP ", 7) == 0) {
            helps++;
            sscanf(line + 7, "%127s", family);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            types++;
            char name[128], type[32];
            ck_assert_int_eq(sscanf(line + 7, "%127s %31s", name, type), 2);
            ck_assert_str_eq(name, family);
            ck_assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                      strcmp(type, "histogram") == 0);
            histos += strcmp(type, "histogram") == 0;
            if (strcmp(type, "counter") == 0)
                ck_assert_msg(strstr(name, "_total") != NULL, "counter %s lacks _total", name);
        } else {
            samples++;
            size_t n = strlen(family);
            const char *rest = line + n;
            if (strncmp(rest, "_bucket", 7) == 0)
                rest += 7;
            else if (strncmp(rest, "_sum", 4) == 0)
                rest += 4;
            else if (strncmp(rest, "_count", 6) == 0)
                rest += 6;
            ck_assert_msg(strncmp(line, family, n) == 0 && (*rest == ' ' || *rest == '{'),
                          "sample '%s' outside family %s", line, family);
        }
    }
    /* 13 membership/transport families (27 samples), 8 entity families
     * (32 samples: the turn histogram has 12 buckets + sum + count, the
     * mailbox one 8 buckets + count), 8 routing families and 22 journal
     * families (60 samples: 19 counters and gauges; batch sizes 12 buckets +
     * count; commit and sync latency 12 buckets + sum + count each). */
    ck_assert_int_eq(helps, 51);
    ck_assert_int_eq(types, 51);
    ck_assert_int_eq(histos, 5);
    ck_assert_int_eq(samples, 127);
    free(t);
}
END_TEST

START_TEST(test_metrics_values_rendered)
{
    metrics_snapshot_t s;
    memset(&s, 0, sizeof s);
    s.members[SWIM_ALIVE] = 3;
    s.members[SWIM_LEFT] = 1;
    s.probes_sent = 18446744073709551615ull;
    s.awareness = 7;
    s.gossip_bytes_in = 1234;
    s.frames_out = 99;
    s.dropped[SWIM_IO_DROP_AUTH] = 5;
    s.queued_frames = 42;
    char *t = render(&s, NULL);
    ck_assert(has_line(t, "shoal_members{state=\"alive\"} 3"));
    ck_assert(has_line(t, "shoal_members{state=\"left\"} 1"));
    ck_assert(has_line(t, "shoal_swim_probes_sent_total 18446744073709551615"));
    ck_assert(has_line(t, "shoal_swim_awareness 7"));
    ck_assert(has_line(t, "shoal_gossip_bytes_total{dir=\"in\"} 1234"));
    ck_assert(has_line(t, "shoal_frames_total{dir=\"out\"} 99"));
    ck_assert(has_line(t, "shoal_frames_dropped_total{reason=\"auth\"} 5"));
    ck_assert(has_line(t, "shoal_transport_queued_frames 42"));
    free(t);
}
END_TEST

/* Worker histograms are per bucket; the exposition is cumulative, with
 * +Inf equal to _count, and the labels are the documented bounds. */
START_TEST(test_metrics_runtime_rendered)
{
    metrics_snapshot_t s;
    memset(&s, 0, sizeof s);
    s.wrk.active = 12;
    s.wrk.activations = 30;
    s.wrk.passivations = 18;
    s.wrk.turns_ok = 100;
    s.wrk.turns_timeout = 2;
    s.wrk.turns_corrupt = 1;
    s.wrk.lat_buckets[0] = 5;  /* <= 10us */
    s.wrk.lat_buckets[3] = 3;  /* <= 100us */
    s.wrk.lat_buckets[11] = 1; /* > 50ms */
    s.wrk.lat_sum_us = 2500000;
    s.wrk.depth_buckets[0] = 7;
    s.wrk.depth_buckets[7] = 2;
    s.wrk.busy_rejections = 4;
    s.router_busy = 1;
    s.rpc.forwards = 9;
    s.rpc.pending = 3;
    s.shards_owned = 85;
    char *t = render(&s, NULL);
    static const char *const lines[] = {
        "shoal_entities_active 12",
        "shoal_activations_total 30",
        "shoal_passivations_total 18",
        "shoal_turns_total{outcome=\"ok\"} 100",
        "shoal_turns_total{outcome=\"error\"} 0",
        "shoal_turns_total{outcome=\"timeout\"} 2",
        "shoal_turns_total{outcome=\"corrupt\"} 1",
        "# TYPE shoal_turn_duration_seconds histogram",
        "shoal_turn_duration_seconds_bucket{le=\"1e-05\"} 5",
        "shoal_turn_duration_seconds_bucket{le=\"5e-05\"} 5",
        "shoal_turn_duration_seconds_bucket{le=\"0.0001\"} 8",
        "shoal_turn_duration_seconds_bucket{le=\"0.05\"} 8",
        "shoal_turn_duration_seconds_bucket{le=\"+Inf\"} 9",
        "shoal_turn_duration_seconds_sum 2.5",
        "shoal_turn_duration_seconds_count 9",
        "shoal_mailbox_depth_bucket{le=\"0\"} 7",
        "shoal_mailbox_depth_bucket{le=\"1000\"} 7",
        "shoal_mailbox_depth_bucket{le=\"+Inf\"} 9",
        "shoal_mailbox_depth_count 9",
        "shoal_busy_rejections_total 5",
        "shoal_forwards_total 9",
        "shoal_rpc_pending 3",
        "shoal_shards_owned 85",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(has_line(t, lines[i]), "missing line: %s", lines[i]);
    free(t);
}
END_TEST

START_TEST(test_metrics_collect_merges_transport_drops)
{
    swim_io_counters_t io;
    memset(&io, 0, sizeof io);
    io.dropped[SWIM_IO_DROP_QUEUE_FULL] = 2;
    io.dropped[SWIM_IO_DROP_SEND_ERROR] = 1;
    io.dropped[SWIM_IO_DROP_FAULT] = 4;
    io.frames_in = 10;
    io.gossip_bytes_out = 500;
    tp_stats_t tp;
    memset(&tp, 0, sizeof tp);
    tp.drop_queue_full = 100; /* already counted by the adapter: ignored */
    tp.drop_send_timeout = 3;
    tp.drop_send_error = 6;
    tp.drop_fault = 8;
    tp.queued_frames = 11;
    metrics_snapshot_t s;
    metrics_collect(&s, NULL, &io, &tp);
    ck_assert_uint_eq(s.dropped[SWIM_IO_DROP_QUEUE_FULL], 2);
    ck_assert_uint_eq(s.dropped[SWIM_IO_DROP_SEND_TIMEOUT], 3);
    ck_assert_uint_eq(s.dropped[SWIM_IO_DROP_SEND_ERROR], 7);
    ck_assert_uint_eq(s.dropped[SWIM_IO_DROP_FAULT], 12);
    ck_assert_uint_eq(s.frames_in, 10);
    ck_assert_uint_eq(s.gossip_bytes_out, 500);
    ck_assert_uint_eq(s.queued_frames, 11);
    ck_assert_uint_eq(s.members[SWIM_ALIVE], 0);

    metrics_collect(&s, NULL, NULL, NULL);
    for (int r = 0; r < SWIM_IO_DROP_COUNT; r++)
        ck_assert_uint_eq(s.dropped[r], 0);
}
END_TEST

START_TEST(test_metrics_drop_names)
{
    ck_assert_str_eq(swim_io_drop_name(SWIM_IO_DROP_MALFORMED), "malformed");
    ck_assert_str_eq(swim_io_drop_name(SWIM_IO_DROP_SEND_ERROR), "send_error");
    ck_assert_str_eq(swim_io_drop_name(-1), "?");
    ck_assert_str_eq(swim_io_drop_name(SWIM_IO_DROP_COUNT), "?");
    ck_assert_int_eq(SWIM_IO_DROP_COUNT, 10);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, test_metrics_zero_snapshot_lists_every_series);
    tcase_add_test(tc, test_metrics_format_is_well_formed);
    tcase_add_test(tc, test_metrics_values_rendered);
    tcase_add_test(tc, test_metrics_runtime_rendered);
    suite_add_tcase(s, tc);
    tc = tcase_create("collect");
    tcase_add_test(tc, test_metrics_collect_merges_transport_drops);
    tcase_add_test(tc, test_metrics_drop_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
