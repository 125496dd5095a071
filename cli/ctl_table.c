/*
 * ctl_table.c - aligned text tables and the members table.
 *
 * Design notes.  A table is a growable array of rows, each an array of
 * ncols heap strings.  Widths are computed at render time, from byte
 * lengths: ids, addresses and states are ASCII by the config validators
 * (cfg_name_valid, cfg_addr_valid), so bytes equal columns here.  Should
 * a cell ever hold UTF-8, it still renders, only misaligned, never
 * truncated.  Rendering builds one string so the caller writes it in one
 * go and a closed pipe is detected once.
 */
#include "ctl_table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"

struct ctl_table {
    size_t ncols;
    char *headers[CTL_TABLE_COLS_MAX];
    char **cells; /* nrows * ncols */
    size_t nrows, cap_rows;
};

static char *dup_or_dash(const char *s)
{
    return strdup(s ? s : "-");
}

int ctl_table_new(ctl_table_t **out, size_t ncols, const char *const *headers)
{
    *out = NULL;
    if (ncols == 0 || ncols > CTL_TABLE_COLS_MAX)
        return SH_EBAD_REQUEST;
    ctl_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        t->headers[i] = dup_or_dash(headers[i]);
        if (!t->headers[i]) {
            ctl_table_free(t);
            return -ENOMEM;
        }
    }
    *out = t;
    return 0;
}

void ctl_table_free(ctl_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++)
        free(t->headers[i]);
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

int ctl_table_add_row(ctl_table_t *t, const char *const *cells)
{
    if (t->nrows >= CTL_TABLE_ROWS_MAX)
        return SH_EFULL;
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
        if (!c)
            return -ENOMEM;
        t->cells = c;
        t->cap_rows = cap;
    }
    char **row = &t->cells[t->nrows * t->ncols];
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = dup_or_dash(cells[i]);
        if (!row[i]) {
            while (i > 0)
                free(row[--i]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

size_t ctl_table_rows(const ctl_table_t *t)
{
    return t->nrows;
}

const char *ctl_table_cell(const ctl_table_t *t, size_t row, size_t col)
{
    if (row >= t->nrows || col >= t->ncols)
        return NULL;
    return t->cells[row * t->ncols + col];
}

/* Insertion sort of whole rows: stable, no allocation, and member lists
 * are at most a few thousand rows, printed for a person to read. */
int ctl_table_sort(ctl_table_t *t, size_t col)
{
    if (col >= t->ncols)
        return SH_EBAD_REQUEST;
    size_t n = t->ncols;
    char *tmp[CTL_TABLE_COLS_MAX];
    for (size_t i = 1; i < t->nrows; i++) {
        memcpy(tmp, &t->cells[i * n], n * sizeof(char *));
        size_t j = i;
        while (j > 0 && strcmp(t->cells[(j - 1) * n + col], tmp[col]) > 0) {
            memcpy(&t->cells[j * n], &t->cells[(j - 1) * n], n * sizeof(char *));
            j--;
        }
        memcpy(&t->cells[j * n], tmp, n * sizeof(char *));
    }
    return 0;
}

static void render_line(char *p, size_t *off, char *const *row, size_t ncols,
                        const size_t *width)
{
    for (size_t c = 0; c < ncols; c++) {
        size_t len = strlen(row[c]);
        memcpy(p + *off, row[c], len);
        *off += len;
        if (c + 1 < ncols) {
            size_t pad = width[c] - len + 2;
            memset(p + *off, ' ', pad);
            *off += pad;
        }
    }
    p[(*off)++] = '\n';
}

int ctl_table_render(const ctl_table_t *t, char **out)
{
    size_t width[CTL_TABLE_COLS_MAX] = {0};
    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = strlen(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t len = strlen(t->cells[r * t->ncols + c]);
            if (len > width[c])
                width[c] = len;
        }
    }
    size_t line = 1; /* '\n' */
    for (size_t c = 0; c < t->ncols; c++)
        line += width[c] + 2;
    char *p = malloc(line * (t->nrows + 1) + 1);
    if (!p)
        return -ENOMEM;
    size_t off = 0;
    render_line(p, &off, t->headers, t->ncols, width);
    for (size_t r = 0; r < t->nrows; r++)
        render_line(p, &off, &t->cells[r * t->ncols], t->ncols, width);
    p[off] = '\0';
    *out = p;
    return 0;
}

bool ctl_cell_cut(char *s, size_t max)
{
    SH_ASSERT(max >= 4);
    if (strlen(s) <= max)
        return false;
    size_t keep = max - 3;
    while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80) /* inside a sequence */
        keep--;
    memcpy(s + keep, "...", 4);
    return true;
}

int ctl_dur_format(char *buf, size_t cap, int64_t ms)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;
    if (s < 60)
        return snprintf(buf, cap, "%" PRId64 "s", s);
    if (s < 3600)
        return snprintf(buf, cap, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    if (s < 86400)
        return snprintf(buf, cap, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    return snprintf(buf, cap, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
}

/* One member object -> one row; SH_EMALFORMED names the first bad field. */
static int member_row(ctl_table_t *t, const json_t *m, size_t idx, int64_t now_ms,
                      char *err, size_t errcap)
{
    const json_t *id = json_object_get(m, "id");
    const json_t *addr = json_object_get(m, "addr");
    const json_t *state = json_object_get(m, "state");
    const json_t *inc = json_object_get(m, "incarnation");
    const json_t *since = json_object_get(m, "last_change_ms");
    const char *bad = !json_is_string(id)      ? "id"
                      : !json_is_string(addr)  ? "addr"
                      : !json_is_string(state) ? "state"
                      : !json_is_integer(inc)  ? "incarnation"
                                               : NULL;
    if (bad) {
        snprintf(err, errcap, "members[%zu].%s is missing or has the wrong type", idx, bad);
        return SH_EMALFORMED;
    }
    char incs[24], ages[24] = "-";
    snprintf(incs, sizeof(incs), "%" JSON_INTEGER_FORMAT, json_integer_value(inc));
    /* last_change_ms is optional: an older node may not send it. */
    if (json_is_integer(since))
        ctl_dur_format(ages, sizeof(ages), now_ms - (int64_t)json_integer_value(since));
    const char *cells[] = {json_string_value(id), json_string_value(addr),
                           json_string_value(state), incs, ages};
    return ctl_table_add_row(t, cells);
}

int ctl_members_table(const json_t *doc, int64_t now_ms, ctl_table_t **out,
                      char *err, size_t errcap)
{
    *out = NULL;
    const json_t *members = json_object_get(doc, "members");
    if (!json_is_array(members)) {
        snprintf(err, errcap, "no \"members\" array in the response");
        return SH_EMALFORMED;
    }
    static const char *const hdr[] = {"ID", "ADDR", "STATE", "INCARNATION", "SINCE"};
    ctl_table_t *t;
    int rc = ctl_table_new(&t, SH_ARRAY_LEN(hdr), hdr);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < json_array_size(members); i++) {
        const json_t *m = json_array_get(members, i);
        if (!json_is_object(m)) {
            snprintf(err, errcap, "members[%zu] is not an object", i);
            rc = SH_EMALFORMED;
        } else {
            rc = member_row(t, m, i, now_ms, err, errcap);
        }
        if (rc < 0) {
            ctl_table_free(t);
            return rc;
        }
    }
    ctl_table_sort(t, 0);
    *out = t;
    return 0;
}
