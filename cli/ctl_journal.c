/*
 * ctl_journal.c - the journal request path and table; see ctl_journal.h.
 *
 * Design notes.  The table is for a person looking at what an entity did,
 * so an event is shown as one line of compact JSON, with non-ASCII
 * escaped (then bytes are columns and the cut cannot split a character)
 * and cut to CTL_CELL_MAX bytes: the whole event is one `-o json` away.
 * An event that is not JSON comes as base64 and is shown as such with a
 * "base64:" prefix, so it cannot be mistaken for a JSON string.  Paging
 * is the server's: the CLI passes --from/--limit through and, under the
 * table, says where the next page starts when the document has a "next".
 */
#include "ctl_journal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_actors.h"
#include "sh_assert.h"
#include "sh_err.h"

int ctl_journal_path(const char *type, const char *id, int64_t from, int64_t limit,
                     char *out, size_t cap)
{
    if ((from != CTL_JOURNAL_UNSET && from < 0) ||
        (limit != CTL_JOURNAL_UNSET && (limit < 1 || limit > CTL_JOURNAL_LIMIT_MAX)))
        return SH_EBAD_REQUEST;
    size_t off = 0;
    int n = snprintf(out, cap, "/v1/actors/");
    if (n < 0 || (size_t)n >= cap)
        return -1;
    off = (size_t)n;
    if ((n = ctl_path_escape(type, out + off, cap - off)) < 0)
        return -1;
    off += (size_t)n;
    if (off + 1 >= cap)
        return -1;
    out[off++] = '/';
    if ((n = ctl_path_escape(id, out + off, cap - off)) < 0)
        return -1;
    off += (size_t)n;
    char q[64] = "";
    if (from != CTL_JOURNAL_UNSET && limit != CTL_JOURNAL_UNSET)
        snprintf(q, sizeof q, "?from=%" PRId64 "&limit=%" PRId64, from, limit);
    else if (from != CTL_JOURNAL_UNSET)
        snprintf(q, sizeof q, "?from=%" PRId64, from);
    else if (limit != CTL_JOURNAL_UNSET)
        snprintf(q, sizeof q, "?limit=%" PRId64, limit);
    n = snprintf(out + off, cap - off, "/journal%s", q);
    if (n < 0 || (size_t)n >= cap - off)
        return -1;
    return (int)(off + (size_t)n);
}

/* The EVENT cell of event object e: malloc'd, cut to CTL_CELL_MAX.  NULL
 * with *rc SH_EMALFORMED (no event) or -ENOMEM. */
static char *event_cell(const json_t *e, int *rc)
{
    const json_t *ev = json_object_get(e, "event");
    const char *b64 = json_string_value(json_object_get(e, "event_base64"));
    char *s = NULL;
    if (ev) {
        s = json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII |
                               JSON_PRESERVE_ORDER);
    } else if (b64) {
        /* Cut before copying: a base64 event may be up to a megabyte. */
        size_t n = strnlen(b64, CTL_CELL_MAX + 1);
        if ((s = malloc(7 + n + 1))) {
            memcpy(s, "base64:", 7);
            memcpy(s + 7, b64, n);
            s[7 + n] = '\0';
        }
    } else {
        *rc = SH_EMALFORMED;
        return NULL;
    }
    if (!s) {
        *rc = -ENOMEM;
        return NULL;
    }
    ctl_cell_cut(s, CTL_CELL_MAX);
    return s;
}

static int event_row(ctl_table_t *t, const json_t *e, size_t idx, char *err, size_t errcap)
{
    const json_t *seq = json_object_get(e, "seq"), *time = json_object_get(e, "time");
    const char *bad = !json_is_object(e)                            ? "(the event)"
                      : !json_is_integer(seq)                       ? "seq"
                      : !(!time || json_is_null(time) || json_is_string(time)) ? "time"
                                                                                : NULL;
    if (bad) {
        snprintf(err, errcap, "events[%zu].%s is missing or has the wrong type", idx, bad);
        return SH_EMALFORMED;
    }
    int rc = 0;
    char *ev = event_cell(e, &rc);
    if (!ev) {
        if (rc == SH_EMALFORMED)
            snprintf(err, errcap, "events[%zu] has neither \"event\" nor \"event_base64\"", idx);
        return rc;
    }
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%" JSON_INTEGER_FORMAT, json_integer_value(seq));
    const char *cells[] = {seqs, json_string_value(time), ev};
    rc = ctl_table_add_row(t, cells);
    free(ev);
    return rc;
}

int ctl_journal_table(const json_t *doc, ctl_table_t **out, char *err, size_t errcap)
{
    *out = NULL;
    const json_t *events = json_object_get(doc, "events");
    const json_t *next = json_object_get(doc, "next");
    if (!json_is_array(events)) {
        snprintf(err, errcap, "no \"events\" array in the response");
        return SH_EMALFORMED;
    }
    if (next && !json_is_integer(next) && !json_is_null(next)) {
        snprintf(err, errcap, "\"next\" is neither a sequence number nor null");
        return SH_EMALFORMED;
    }
    static const char *const hdr[] = {"SEQ", "TIME", "EVENT"};
    ctl_table_t *t;
    int rc = ctl_table_new(&t, SH_ARRAY_LEN(hdr), hdr);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(events); i++) {
        rc = event_row(t, json_array_get(events, i), i, err, errcap);
        if (rc < 0) {
            ctl_table_free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

int ctl_journal_more(const json_t *doc, char *buf, size_t cap)
{
    const json_t *next = json_object_get(doc, "next");
    if (cap)
        buf[0] = '\0';
    if (!json_is_integer(next))
        return 0;
    snprintf(buf, cap, "more events: --from %" JSON_INTEGER_FORMAT, json_integer_value(next));
    return 1;
}
