/*
 * dur.h - the duration strings of Dapr's actor timer API.
 *
 * Dapr accepts a timer's dueTime and period in three forms, and so do we:
 *   - Go's time.ParseDuration: "0h0m3s0ms", "1.5s", "250ms", "1h30m", "0"
 *     (units h, m, s, ms, us, µs, ns; decimal fractions allowed);
 *   - ISO 8601 durations: "PT3S", "P1DT2H", "P2W", "PT0.5S" (years and
 *     months are refused: their length depends on the calendar);
 *   - for period only, ISO 8601 repetitions "R5/PT10S" (fire 5 times);
 *   - for dueTime only, an RFC 3339 time "2026-01-02T15:04:05Z", which
 *     means "that long from now" (0 if already past).
 * Results are whole milliseconds (sub-millisecond parts are truncated).
 * Pure functions: no clock reads (the caller passes "now"), no allocation.
 */
#ifndef DUR_H
#define DUR_H

#include <stdint.h>

/* Largest accepted duration: ten years, far beyond any sane timer, and
 * small enough that due = now + ms never overflows. */
#define DUR_MS_MAX (10ull * 366 * 24 * 3600 * 1000)

/* A duration in either form into *ms.  0, or SH_EBAD_REQUEST (empty,
 * malformed, negative, years/months, or more than DUR_MS_MAX). */
int dur_parse(const char *s, uint64_t *ms);

/* A timer period: a duration, or "R<n>/<duration>".  *reps is n, or -1
 * when the string has no repetition count (repeat forever).
 * 0 or SH_EBAD_REQUEST. */
int dur_parse_period(const char *s, uint64_t *ms, int64_t *reps);

/* A timer dueTime: a duration, or an RFC 3339 time converted with
 * `wall_now_ms` (milliseconds since the epoch) into the delay from now.
 * 0 or SH_EBAD_REQUEST. */
int dur_parse_due(const char *s, uint64_t wall_now_ms, uint64_t *ms);

#endif
