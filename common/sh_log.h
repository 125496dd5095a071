/*
 * sh_log.h - one line per event: time, level, node id, event name, fields.
 *
 *   text: 2026-11-24T03:50:01.123Z INFO n1 member_dead id=n3 incarnation=4
 *   json: {"ts":"...","level":"info","node":"n1","event":"member_dead","id":"n3","incarnation":4}
 *
 * Fields are given as a printf-style "k=v k=v" string whose values must not
 * contain spaces unless quoted with "..." ; the json writer turns each k=v
 * into a string or number member.  Thread-safe: one write(2) per line.
 */
#ifndef SH_LOG_H
#define SH_LOG_H

#include <stdbool.h>

enum sh_log_level { SH_LOG_DEBUG = 0, SH_LOG_INFO, SH_LOG_WARN, SH_LOG_ERROR };

/* Configure once at start, before any thread logs.  node_id is copied. */
void sh_log_init(const char *node_id, enum sh_log_level level, bool json);
/* Parse "debug|info|warn|error"; returns -1 if unknown. */
int sh_log_level_parse(const char *s);
bool sh_log_enabled(enum sh_log_level level);

/* sh_log(SH_LOG_INFO, "member_dead", "id=%s incarnation=%u", id, inc); */
void sh_log(enum sh_log_level level, const char *event, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SH_LOGD(ev, ...) sh_log(SH_LOG_DEBUG, ev, __VA_ARGS__)
#define SH_LOGI(ev, ...) sh_log(SH_LOG_INFO, ev, __VA_ARGS__)
#define SH_LOGW(ev, ...) sh_log(SH_LOG_WARN, ev, __VA_ARGS__)
#define SH_LOGE(ev, ...) sh_log(SH_LOG_ERROR, ev, __VA_ARGS__)

#endif
