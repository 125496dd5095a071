/*
 * sh_log.c - line logger; see sh_log.h.
 *
 * Each line is formatted into a stack buffer and written with one write(2)
 * so lines from different threads never interleave.
 */
#include "sh_log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SH_LOG_LINE_MAX 2048

static char sh_log_node[64] = "-";
static enum sh_log_level sh_log_min = SH_LOG_INFO;
static bool sh_log_json;

static const char *const sh_log_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const sh_log_names_lc[] = {"debug", "info", "warn", "error"};

void sh_log_init(const char *node_id, enum sh_log_level level, bool json)
{
    snprintf(sh_log_node, sizeof sh_log_node, "%s", node_id ? node_id : "-");
    sh_log_min = level;
    sh_log_json = json;
}

int sh_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, sh_log_names_lc[i]) == 0)
            return i;
    return -1;
}

bool sh_log_enabled(enum sh_log_level level)
{
    return level >= sh_log_min;
}

static size_t sh_log_ts(char *buf, size_t cap)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    return n;
}

/* Append s to the line as JSON string content (escaped), bounded by cap. */
static size_t sh_log_json_str(char *out, size_t n, size_t cap, const char *s, size_t len)
{
    for (size_t i = 0; i < len && n + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

static bool sh_log_is_number(const char *s, size_t len)
{
    if (len == 0)
        return false;
    size_t i = (s[0] == '-') ? 1 : 0;
    if (i == len)
        return false;
    for (; i < len; i++)
        if (!isdigit((unsigned char)s[i]) && s[i] != '.')
            return false;
    return true;
}

/* Turn "k=v k2=\"a b\"" into ,"k":v,"k2":"a b" members. */
static size_t sh_log_json_fields(char *out, size_t n, size_t cap, const char *f)
{
    while (*f && n + 8 < cap) {
        while (*f == ' ')
            f++;
        const char *eq = strchr(f, '=');
        if (!*f || !eq)
            break;
        const char *v = eq + 1, *end;
        size_t vlen;
        bool quoted = (*v == '"');
        if (quoted) {
            v++;
            end = strchr(v, '"');
            if (!end)
                end = v + strlen(v);
            vlen = (size_t)(end - v);
            end = *end ? end + 1 : end;
        } else {
            end = strchr(v, ' ');
            if (!end)
                end = v + strlen(v);
            vlen = (size_t)(end - v);
        }
        out[n++] = ',';
        out[n++] = '"';
        n = sh_log_json_str(out, n, cap, f, (size_t)(eq - f));
        out[n++] = '"';
        out[n++] = ':';
        if (!quoted && sh_log_is_number(v, vlen)) {
            n = sh_log_json_str(out, n, cap, v, vlen);
        } else {
            out[n++] = '"';
            n = sh_log_json_str(out, n, cap, v, vlen);
            if (n < cap)
                out[n++] = '"';
        }
        f = end;
    }
    return n;
}

void sh_log(enum sh_log_level level, const char *event, const char *fmt, ...)
{
    if (level < sh_log_min)
        return;
    char fields[SH_LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fields, sizeof fields, fmt, ap);
    va_end(ap);

    char line[SH_LOG_LINE_MAX], ts[40];
    sh_log_ts(ts, sizeof ts);
    size_t n;
    if (sh_log_json) {
        n = (size_t)snprintf(line, sizeof line,
                             "{\"ts\":\"%s\",\"level\":\"%s\",\"node\":\"%s\",\"event\":\"%s\"",
                             ts, sh_log_names_lc[level], sh_log_node, event);
        if (n >= sizeof line)
            n = sizeof line - 1;
        n = sh_log_json_fields(line, n, sizeof line - 3, fields);
        line[n++] = '}';
    } else {
        n = (size_t)snprintf(line, sizeof line, "%s %s %s %s%s%s", ts,
                             sh_log_names[level], sh_log_node, event,
                             fields[0] ? " " : "", fields);
        if (n >= sizeof line - 1)
            n = sizeof line - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
