/*
 * dur.c - Dapr's duration strings; see dur.h.
 *
 * Design notes.  Values are accumulated in nanoseconds in a 128-bit
 * integer, so no intermediate product can overflow whatever the input
 * (at most DUR_MS_MAX ms is accepted at the end); fractions keep at most
 * nine digits, which is all nanoseconds can hold.  Parsing is strict: a
 * string either parses completely or is refused, because a timer that
 * silently fires at the wrong time is worse than a 400.
 */
#include "dur.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "sh_err.h"

typedef unsigned __int128 u128;

#define NS_PER_MS 1000000ull
#define NS_PER_S (1000ull * NS_PER_MS)

/* Parse "digits[.digits]" at *p: the value times `unit_ns` is added to
 * *acc.  Returns false if there is no digit at all. */
static bool dur_number(const char **p, u128 unit_ns, u128 *acc)
{
    const char *s = *p;
    u128 whole = 0, frac = 0, scale = 1;
    bool any = false;
    while (*s >= '0' && *s <= '9') {
        whole = whole * 10 + (u128)(*s++ - '0');
        if (whole > (u128)DUR_MS_MAX * NS_PER_MS)
            return false; /* absurd; also keeps the products below bounded */
        any = true;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (scale < 1000000000u) {
                frac = frac * 10 + (u128)(*s - '0');
                scale *= 10;
            }
            s++;
            any = true;
        }
    }
    if (!any)
        return false;
    *acc += whole * unit_ns + frac * unit_ns / scale;
    *p = s;
    return *acc <= (u128)DUR_MS_MAX * NS_PER_MS; /* also bounds the sum of many parts */
}

static bool dur_finish(u128 ns, uint64_t *ms)
{
    u128 v = ns / NS_PER_MS;
    if (v > DUR_MS_MAX)
        return false;
    *ms = (uint64_t)v;
    return true;
}

/* Go units; longest match first so "ms" is not read as "m" + "s". */
static const struct {
    const char *name;
    uint64_t ns;
} go_units[] = {
    {"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
    {"ms", NS_PER_MS}, {"s", NS_PER_S}, {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S},
};

static bool dur_parse_go(const char *s, uint64_t *ms)
{
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return true;
    }
    u128 acc = 0;
    while (*s) {
        /* Find the unit after the number first: its size scales the number. */
        const char *q = s;
        while ((*q >= '0' && *q <= '9') || *q == '.')
            q++;
        uint64_t unit = 0;
        size_t ulen = 0;
        for (size_t i = 0; i < sizeof go_units / sizeof go_units[0]; i++) {
            size_t n = strlen(go_units[i].name);
            if (n > ulen && strncmp(q, go_units[i].name, n) == 0) {
                unit = go_units[i].ns;
                ulen = n;
            }
        }
        if (!unit || q == s)
            return false;
        if (!dur_number(&s, unit, &acc) || s != q)
            return false;
        s = q + ulen;
    }
    return dur_finish(acc, ms);
}

/* ISO 8601 "PnWnDTnHnMnS" (any subset, in that order; at least one). */
static bool dur_parse_iso(const char *s, uint64_t *ms)
{
    static const char date_units[] = "WD", time_units[] = "HMS";
    static const uint64_t date_ns[] = {7 * 86400 * NS_PER_S, 86400 * NS_PER_S};
    static const uint64_t time_ns[] = {3600 * NS_PER_S, 60 * NS_PER_S, NS_PER_S};
    if (*s++ != 'P')
        return false;
    u128 acc = 0;
    int parts = 0;
    bool in_time = false;
    size_t next = 0; /* index of the next allowed unit: keeps the order strict */
    while (*s) {
        if (*s == 'T' && !in_time) {
            in_time = true;
            next = 0;
            s++;
            if (!*s)
                return false; /* "P1DT" */
            continue;
        }
        const char *q = s;
        while ((*q >= '0' && *q <= '9') || *q == '.')
            q++;
        const char *units = in_time ? time_units : date_units;
        const char *u = *q ? strchr(units + next, *q) : NULL;
        if (!u || q == s)
            return false; /* also refuses Y and the date-part M */
        size_t k = (size_t)(u - units);
        if (!dur_number(&s, in_time ? time_ns[k] : date_ns[k], &acc) || s != q)
            return false;
        next = k + 1;
        s = q + 1;
        parts++;
    }
    return parts > 0 && dur_finish(acc, ms);
}

int dur_parse(const char *s, uint64_t *ms)
{
    if (!s || !*s)
        return SH_EBAD_REQUEST;
    bool ok = s[0] == 'P' ? dur_parse_iso(s, ms) : dur_parse_go(s, ms);
    return ok ? 0 : SH_EBAD_REQUEST;
}

int dur_parse_period(const char *s, uint64_t *ms, int64_t *reps)
{
    *reps = -1;
    if (!s || s[0] != 'R')
        return dur_parse(s, ms);
    const char *p = s + 1;
    int64_t n = 0;
    if (*p < '0' || *p > '9')
        return SH_EBAD_REQUEST;
    while (*p >= '0' && *p <= '9') {
        n = n * 10 + (*p++ - '0');
        if (n > 1000000000)
            return SH_EBAD_REQUEST;
    }
    if (*p++ != '/')
        return SH_EBAD_REQUEST;
    int rc = dur_parse(p, ms);
    if (rc == 0)
        *reps = n;
    return rc;
}

/* Exactly `n` digits at *p as an int. */
static bool dur_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return false;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)" into epoch ms. */
static bool dur_rfc3339(const char *s, int64_t *epoch_ms)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, frac_ms = 0;
    if (!dur_digits(&s, 4, &y) || *s++ != '-' || !dur_digits(&s, 2, &mo) || *s++ != '-' ||
        !dur_digits(&s, 2, &d))
        return false;
    if (*s != 'T' && *s != 't')
        return false;
    s++;
    if (!dur_digits(&s, 2, &h) || *s++ != ':' || !dur_digits(&s, 2, &mi) || *s++ != ':' ||
        !dur_digits(&s, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    if (*s == '.') {
        int scale = 100;
        s++;
        if (*s < '0' || *s > '9')
            return false;
        for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
            frac_ms += (*s - '0') * scale;
    }
    int off_min = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;
        if (!dur_digits(&s, 2, &oh) || *s++ != ':' || !dur_digits(&s, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        off_min = sign * (oh * 60 + om);
    } else {
        return false;
    }
    if (*s)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31))
        return false;
    *epoch_ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + frac_ms;
    return true;
}

int dur_parse_due(const char *s, uint64_t wall_now_ms, uint64_t *ms)
{
    if (s && strlen(s) >= 20 && s[4] == '-' && s[0] != 'P') {
        int64_t at;
        if (!dur_rfc3339(s, &at))
            return SH_EBAD_REQUEST;
        int64_t delta = at - (int64_t)wall_now_ms;
        if (delta > (int64_t)DUR_MS_MAX)
            return SH_EBAD_REQUEST;
        *ms = delta > 0 ? (uint64_t)delta : 0;
        return 0;
    }
    return dur_parse(s, ms);
}
