/*
 * ctl_journal.h - the pure parts of `shoalctl journal TYPE/ID [--from SEQ]
 * [--limit N]`: the request path and the table built from the API's
 * document.  No I/O (tests/unit/ctl_journal_test.c covers it).
 *
 * The document (GET /v1/actors/{type}/{id}/journal?from=SEQ&limit=N):
 *   {"type":"counter","id":"c1","shard":17,"last_seq":12,"snapshot_seq":0,
 *    "events":[{"seq":1,"time":"2026-11-24T07:00:00.123Z","event":{"by":1}},
 *              {"seq":2,"time":"...","event_base64":"AAEC"}, ...],
 *    "next":13}                       ("next": null when there are no more)
 */
#ifndef CTL_JOURNAL_H
#define CTL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ctl_table.h"

/* --from and --limit not given: the server's defaults. */
#define CTL_JOURNAL_UNSET (-1)
#define CTL_JOURNAL_LIMIT_MAX CTL_TABLE_ROWS_MAX

/* "/v1/actors/{type}/{id}/journal" with type and id percent-encoded as
 * one path segment each (ctl_path_escape), then "?from=SEQ" and/or
 * "&limit=N" for the values that are not CTL_JOURNAL_UNSET.  from must be
 * CTL_JOURNAL_UNSET or >= 0; limit CTL_JOURNAL_UNSET or
 * 1..CTL_JOURNAL_LIMIT_MAX.  Returns the length written (NUL-terminated),
 * SH_EBAD_REQUEST for a bad from/limit, or -1 if it does not fit in cap. */
int ctl_journal_path(const char *type, const char *id, int64_t from, int64_t limit,
                     char *out, size_t cap);

/* The `shoalctl journal` table - SEQ TIME EVENT, one row per event, in the
 * document's order.  EVENT is the event as compact JSON (non-ASCII
 * escaped, so bytes are columns), or "base64:..." for an event that is
 * not JSON, cut to CTL_CELL_MAX bytes (ctl_cell_cut).  A missing or null
 * time prints "-".
 *   0               *out is a table the caller frees.
 *   SH_EMALFORMED   not the documented shape ("events" not an array, an
 *                   event without an integer seq, or with neither "event"
 *                   nor a string "event_base64", a "next" that is neither
 *                   an integer nor null); err says what.
 *   -ENOMEM */
int ctl_journal_table(const json_t *doc, ctl_table_t **out, char *err, size_t errcap);

/* The line printed under the table when the document says there is more:
 * "more events: --from 13" into buf (cap bytes).  Returns 1 when written,
 * 0 when "next" is null or absent (nothing more; buf is ""). */
int ctl_journal_more(const json_t *doc, char *buf, size_t cap);

#endif
