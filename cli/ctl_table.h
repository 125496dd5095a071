/*
 * ctl_table.h - plain aligned text tables for shoalctl, and the pure
 * formatting of API documents into them.
 *
 * Tables are for people: columns separated by two spaces, left-aligned,
 * a header row in capitals, no borders, no colour, so the output pastes
 * cleanly into a ticket and `column`/`awk` still split it.  Scripts use
 * `-o json` instead; nothing here is a stable machine format.
 *
 * Everything in this file is pure (no I/O, no clock: "now" is a
 * parameter), so tests/unit/ctl_test.c covers it without a server.
 * Thread-safety: no shared state; a table belongs to one thread.
 */
#ifndef CTL_TABLE_H
#define CTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CTL_TABLE_COLS_MAX 16
#define CTL_TABLE_ROWS_MAX 100000 /* bounded like everything else */
/* A free-text cell (an entity's event, say) is cut to this many bytes, so
 * a row still fits a 100-column terminal beside a few short columns. */
#define CTL_CELL_MAX 60

typedef struct ctl_table ctl_table_t;

/* A table with ncols (1..CTL_TABLE_COLS_MAX) columns named by headers
 * (copied).  0, SH_EBAD_REQUEST for a bad column count, -ENOMEM.  The
 * caller owns *out and frees it with ctl_table_free. */
int ctl_table_new(ctl_table_t **out, size_t ncols, const char *const *headers);
/* Accepts NULL. */
void ctl_table_free(ctl_table_t *t);

/* Append a row of ncols cells (copied; NULL prints as "-").  0, SH_EFULL
 * past CTL_TABLE_ROWS_MAX rows, -ENOMEM. */
int ctl_table_add_row(ctl_table_t *t, const char *const *cells);

size_t ctl_table_rows(const ctl_table_t *t);
/* The cell at (row, col), or NULL when out of range. */
const char *ctl_table_cell(const ctl_table_t *t, size_t row, size_t col);

/* Sort rows by column `col` (byte order, stable for equal keys).  0, or
 * SH_EBAD_REQUEST if col is out of range. */
int ctl_table_sort(ctl_table_t *t, size_t col);

/* Render header and rows: each column padded to its widest cell plus two
 * spaces (the last column is not padded), one line per row, each ending
 * in '\n'.  On 0, *out is a malloc'd NUL-terminated string the caller
 * frees.  -ENOMEM. */
int ctl_table_render(const ctl_table_t *t, char **out);

/* Cut the NUL-terminated string s in place to at most max (>= 4) bytes:
 * a longer one keeps its first bytes and ends in "...".  Never splits a
 * UTF-8 sequence (the cut backs up to the start of one).  Returns true if
 * s was cut. */
bool ctl_cell_cut(char *s, size_t max);

/* A duration for people: "0s", "59s", "2m05s", "3h07m", "4d02h".  Negative
 * durations (a clock ahead of ours) print as "0s".  Returns what snprintf
 * returns for the text. */
int ctl_dur_format(char *buf, size_t cap, int64_t ms);

/* Build the `shoalctl members` table (ID ADDR STATE INCARNATION SINCE,
 * sorted by id) from a GET /v1/cluster/members document.  SINCE is the age
 * of last_change_ms relative to now_ms (both wall-clock milliseconds).
 *   0               *out is a table the caller frees.
 *   SH_EMALFORMED   the document does not have the documented shape; err
 *                   (errcap bytes) says what is missing.
 *   -ENOMEM */
int ctl_members_table(const json_t *doc, int64_t now_ms, ctl_table_t **out,
                      char *err, size_t errcap);

#endif
