/*
 * cfg.c - flags and SHOAL_* environment variables; see cfg.h.
 *
 * Design notes.  One table lists every option: its name, default, metavar,
 * help line and a setter that validates and stores the value.  Defaults,
 * environment and argv all go through the same setter, so a value is
 * checked the same way wherever it came from, and --help is generated from
 * the same table and therefore cannot drift from what is accepted.
 * Precedence falls out of the order of application (defaults, env, argv):
 * the last writer wins.  --advertise is the one derived default (= bind),
 * resolved after everything else has been read.
 */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"

typedef int (*cfg_setter)(cfg_t *c, const char *v, char *err, size_t cap);

typedef struct cfg_opt {
    const char *name; /* flag without "--" */
    const char *def;  /* default as text; NULL = see help */
    const char *meta; /* metavar; NULL = boolean flag (takes no value) */
    const char *help;
    cfg_setter set;
} cfg_opt_t;

static int cfg_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return SH_EBAD_REQUEST;
}

/* ---- validators ------------------------------------------------------ */

bool cfg_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CFG_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
            return false;
    }
    return true;
}

/* A host name or IPv4 literal ([A-Za-z0-9.-]), or "[v6]"; then ":port" with
 * port 1..65535.  Whole string shorter than CFG_ADDR_MAX. */
bool cfg_addr_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CFG_ADDR_MAX)
        return false;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    const char *h = s, *hend = colon;
    if (*h == '[') {
        if (hend[-1] != ']' || hend - h < 3)
            return false;
        for (const char *p = h + 1; p < hend - 1; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return false;
    } else {
        for (const char *p = h; p < hend; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
                return false;
    }
    const char *port = colon + 1;
    if (*port == '\0' || strlen(port) > 5)
        return false;
    long v = 0;
    for (const char *p = port; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535;
}

static int cfg_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!*v || strlen(v) > 10)
        return -1;
    unsigned long long x = 0;
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        x = x * 10 + (unsigned)(*p - '0');
    }
    if (x < lo || x > hi)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

static int cfg_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return (*out = true), 0;
        if (strcasecmp(v, no[i]) == 0)
            return (*out = false), 0;
    }
    return -1;
}

/* ---- setters (one per option) ---------------------------------------- */

static int set_id(cfg_t *c, const char *v, char *err, size_t cap)
{
    if (!cfg_name_valid(v))
        return cfg_fail(err, cap, "must be 1..63 bytes of [A-Za-z0-9._-]");
    snprintf(c->id, sizeof c->id, "%s", v);
    return 0;
}

#define CFG_ADDR_SETTER(fn, field, extra)                                      \
    static int fn(cfg_t *c, const char *v, char *err, size_t cap)              \
    {                                                                          \
        if (!cfg_addr_valid(v))                                                \
            return cfg_fail(err, cap, "must be HOST:PORT (port 1..65535)");    \
        snprintf(c->field, sizeof c->field, "%s", v);                          \
        extra;                                                                 \
        return 0;                                                              \
    }
CFG_ADDR_SETTER(set_bind, bind, (void)0)
CFG_ADDR_SETTER(set_advertise, advertise, c->advertise_set = true)
CFG_ADDR_SETTER(set_http, http, (void)0)

static int set_seeds(cfg_t *c, const char *v, char *err, size_t cap)
{
    c->nseeds = 0;
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[CFG_ADDR_MAX];
        if (len == 0 || len >= sizeof one)
            return cfg_fail(err, cap, "must be HOST:PORT,HOST:PORT,...");
        memcpy(one, p, len);
        one[len] = '\0';
        if (!cfg_addr_valid(one))
            return cfg_fail(err, cap, "bad seed address '%s'", one);
        if (c->nseeds == CFG_SEEDS_MAX)
            return cfg_fail(err, cap, "at most %d seeds", CFG_SEEDS_MAX);
        memcpy(c->seeds[c->nseeds++], one, len + 1);
        p = comma ? comma + 1 : p + len;
    }
    return 0;
}

static int set_data(cfg_t *c, const char *v, char *err, size_t cap)
{
    if (!*v || strlen(v) >= sizeof c->data)
        return cfg_fail(err, cap, "must be a directory path (1..%d bytes)",
                        CFG_PATH_MAX - 1);
    snprintf(c->data, sizeof c->data, "%s", v);
    return 0;
}

#define CFG_U32_SETTER(fn, field, lo, hi)                                      \
    static int fn(cfg_t *c, const char *v, char *err, size_t cap)              \
    {                                                                          \
        if (cfg_u32(v, lo, hi, &c->field) != 0)                                \
            return cfg_fail(err, cap, "must be an integer in %u..%u",          \
                            (unsigned)(lo), (unsigned)(hi));                   \
        return 0;                                                              \
    }
CFG_U32_SETTER(set_shards, shards, 1, 65536)
CFG_U32_SETTER(set_replicas, replicas, 1, 8) /* STAB_REPLICAS_MAX */
CFG_U32_SETTER(set_probe_interval, probe_interval_ms, 50, 600000)
CFG_U32_SETTER(set_probe_timeout, probe_timeout_ms, 10, 600000)
CFG_U32_SETTER(set_suspicion_mult, suspicion_mult, 1, 64)
CFG_U32_SETTER(set_pushpull, pushpull_interval_ms, 100, 86400000)

static int set_cluster(cfg_t *c, const char *v, char *err, size_t cap)
{
    if (!cfg_name_valid(v))
        return cfg_fail(err, cap, "must be 1..63 bytes of [A-Za-z0-9._-]");
    snprintf(c->cluster, sizeof c->cluster, "%s", v);
    return 0;
}

static int set_secret(cfg_t *c, const char *v, char *err, size_t cap)
{
    if (strlen(v) >= sizeof c->secret)
        return cfg_fail(err, cap, "longer than %d bytes", CFG_SECRET_MAX - 1);
    snprintf(c->secret, sizeof c->secret, "%s", v);
    return 0;
}

static int set_log_format(cfg_t *c, const char *v, char *err, size_t cap)
{
    if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
        return cfg_fail(err, cap, "must be text or json");
    c->log_json = (v[0] == 'j');
    return 0;
}

static int set_log_level(cfg_t *c, const char *v, char *err, size_t cap)
{
    int lvl = sh_log_level_parse(v);
    if (lvl < 0)
        return cfg_fail(err, cap, "must be debug, info, warn or error");
    c->log_level = lvl;
    return 0;
}

static int set_debug_faults(cfg_t *c, const char *v, char *err, size_t cap)
{
    if (cfg_bool(v, &c->debug_faults) != 0)
        return cfg_fail(err, cap, "must be true or false");
    return 0;
}

int cfg_duration_ms(const char *s, uint32_t *ms)
{
    size_t nd = 0;
    uint64_t v = 0;
    while (isdigit((unsigned char)s[nd]) && nd < 11)
        v = v * 10 + (uint64_t)(s[nd++] - '0');
    if (nd == 0 || isdigit((unsigned char)s[nd]))
        return -1;
    const char *u = s + nd;
    uint64_t mult = (*u == '\0' || strcmp(u, "ms") == 0) ? 1
                    : strcmp(u, "s") == 0                ? 1000
                    : strcmp(u, "m") == 0                ? 60000
                    : strcmp(u, "h") == 0                ? 3600000
                                                         : 0;
    if (mult == 0 || v > UINT32_MAX / mult)
        return -1;
    *ms = (uint32_t)(v * mult);
    return 0;
}

#define CFG_DUR_SETTER(fn, field, lo, hi)                                      \
    static int fn(cfg_t *c, const char *v, char *err, size_t cap)              \
    {                                                                          \
        uint32_t ms;                                                           \
        if (cfg_duration_ms(v, &ms) != 0 || ms < (lo) || ms > (hi))            \
            return cfg_fail(err, cap,                                          \
                            "must be a duration in %ums..%ums "                \
                            "(a number with optional unit ms, s, m or h)",     \
                            (unsigned)(lo), (unsigned)(hi));                   \
        c->field = ms;                                                         \
        return 0;                                                              \
    }
CFG_DUR_SETTER(set_idle_timeout, idle_timeout_ms, 1, 86400000)
CFG_DUR_SETTER(set_call_timeout, call_timeout_ms, 1, 60000)
CFG_DUR_SETTER(set_ratelimit_window, ratelimit_window_ms, 1, 2592000000u)
CFG_U32_SETTER(set_workers, workers, 1, CFG_WORKERS_MAX)
CFG_U32_SETTER(set_mailbox, mailbox, 1, 1000000)
CFG_U32_SETTER(set_max_active, max_active, 1, 100000000)
CFG_U32_SETTER(set_ratelimit_limit, ratelimit_limit, 1, 1000000000)
CFG_DUR_SETTER(set_idem_ttl, idem_ttl_ms, 1, 2592000000u)
CFG_DUR_SETTER(set_cart_ttl, cart_ttl_ms, 1, 2592000000u)
CFG_U32_SETTER(set_snapshot_every, snapshot_every, 0, 1000000000)
CFG_U32_SETTER(set_retain_events, retain_events, 0, 1000000000)
CFG_U32_SETTER(set_journal_max_mb, journal_max_mb, 0, 16777216)

static int set_sync(cfg_t *c, const char *v, char *err, size_t cap)
{
    if (strcmp(v, "full") != 0 && strcmp(v, "none") != 0)
        return cfg_fail(err, cap, "must be full or none");
    c->sync_full = strcmp(v, "full") == 0;
    return 0;
}

/* One path, or (SHOAL_PLUGIN) a comma-separated list; appended. */
static int set_plugin(cfg_t *c, const char *v, char *err, size_t cap)
{
    const char *p = v;
    if (!*p)
        return cfg_fail(err, cap, "must be the path of a plugin .so");
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= CFG_PATH_MAX)
            return cfg_fail(err, cap, "must be PATH or PATH,PATH,... (each 1..%d bytes)",
                            CFG_PATH_MAX - 1);
        if (c->nplugins == CFG_PLUGINS_MAX)
            return cfg_fail(err, cap, "at most %d plugins", CFG_PLUGINS_MAX);
        memcpy(c->plugins[c->nplugins], p, len);
        c->plugins[c->nplugins++][len] = '\0';
        p = comma ? comma + 1 : p + len;
    }
    return 0;
}

static const cfg_opt_t cfg_opts[] = {
    {"id", NULL, "ID", "member id, 1..63 of [A-Za-z0-9._-] (default: host name)", set_id},
    {"bind", "127.0.0.1:7946", "HOST:PORT", "cluster (gossip) listen address", set_bind},
    {"advertise", NULL, "HOST:PORT", "address peers use to reach us (default: --bind)", set_advertise},
    {"http", "127.0.0.1:8080", "HOST:PORT", "HTTP API listen address", set_http},
    {"seeds", "", "A,B,...", "seed addresses to join through (default: none)", set_seeds},
    {"data", "./shoal-data", "DIR", "data directory (created if missing)", set_data},
    {"shards", "256", "N", "shard count, 1..65536, fixed for the cluster's life", set_shards},
    {"replicas", "3", "R", "replicas per shard, 1..8", set_replicas},
    {"cluster", "shoal", "NAME", "cluster name; nodes of other clusters are refused", set_cluster},
    {"secret", NULL, "S", "cluster secret (default: none; prefer SHOAL_SECRET)", set_secret},
    {"log-format", "text", "text|json", "log line format", set_log_format},
    {"log-level", "info", "LEVEL", "debug, info, warn or error", set_log_level},
    {"probe-interval", "1000", "MS", "SWIM protocol period", set_probe_interval},
    {"probe-timeout", "500", "MS", "direct probe ack timeout (< probe-interval)", set_probe_timeout},
    {"suspicion-mult", "4", "N", "Lifeguard suspicion multiplier", set_suspicion_mult},
    {"pushpull-interval", "30000", "MS", "full-state sync period", set_pushpull},
    {"debug-faults", "false", NULL,
     "enable POST /v1/debug/fault and the `debug` entity type (tests only)", set_debug_faults},
    {"workers", NULL, "N", "shard worker threads, 1..256 (default: number of cores)",
     set_workers},
    {"mailbox", "1000", "N", "calls queued per entity before `busy` (429)", set_mailbox},
    {"idle-timeout", "60s", "DUR", "passivate an entity idle this long (ms, or 500ms/60s/5m/1h)",
     set_idle_timeout},
    {"max-active", "1000000", "N", "active entities per node; beyond, least recently used "
     "are passivated", set_max_active},
    {"call-timeout", "5s", "DUR", "default call deadline, 1ms..60s (per call: "
     "Shoal-Timeout-Ms header)", set_call_timeout},
    {"plugin", NULL, "PATH", "load entity types from a .so (repeatable; env: comma list)",
     set_plugin},
    {"ratelimit-limit", "100", "N", "ratelimiter type: requests allowed per window",
     set_ratelimit_limit},
    {"ratelimit-window", "1h", "DUR", "ratelimiter type: window length",
     set_ratelimit_window},
    {"sync", "full", "full|none", "journal: fsync each group commit (none: the OS decides; "
     "a power loss may lose acknowledged writes)", set_sync},
    {"snapshot-every", "1000", "N", "journal: snapshot an entity every N events "
     "(and on passivation); 0: only on passivation", set_snapshot_every},
    {"retain-events", "1000", "N", "journal: events kept below an entity's latest snapshot",
     set_retain_events},
    {"idempotency-ttl", "10m", "DUR", "how long a call's Idempotency-Key and reply are kept",
     set_idem_ttl},
    {"journal-max-mb", "0", "N", "journal size ceiling in MiB (0: grow until the disk is "
     "full); beyond it writes answer `unavailable`", set_journal_max_mb},
    {"cart-ttl", "2h", "DUR", "cart type: delete a cart after this long without calls",
     set_cart_ttl},
};

/* ---- parsing --------------------------------------------------------- */

static const cfg_opt_t *cfg_opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < SH_ARRAY_LEN(cfg_opts); i++)
        if (strlen(cfg_opts[i].name) == len && strncmp(cfg_opts[i].name, name, len) == 0)
            return &cfg_opts[i];
    return NULL;
}

/* "probe-interval" -> "SHOAL_PROBE_INTERVAL" */
static void cfg_env_name(const cfg_opt_t *o, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "SHOAL_");
    for (const char *p = o->name; *p && n + 1 < cap; p++)
        buf[n++] = (*p == '-') ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

static const char *cfg_env_get(char *const envp[], const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
            return envp[i] + len + 1;
    return NULL;
}

static int cfg_apply(cfg_t *c, const cfg_opt_t *o, const char *v, const char *src,
                     char *err, size_t cap)
{
    char why[160];
    if (o->set(c, v, why, sizeof why) == 0)
        return 0;
    /* Never echo a secret back; everything else helps the operator. */
    if (o->set == set_secret)
        return cfg_fail(err, cap, "%s: %s", src, why);
    return cfg_fail(err, cap, "%s: bad value '%.64s': %s", src, v, why);
}

static void cfg_defaults(cfg_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < SH_ARRAY_LEN(cfg_opts); i++)
        if (cfg_opts[i].def)
            SH_ASSERT(cfg_opts[i].set(c, cfg_opts[i].def, NULL, 0) == 0);
    c->advertise_set = false;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = ncpu < 1 ? 1 : ncpu > CFG_WORKERS_MAX ? CFG_WORKERS_MAX : (uint32_t)ncpu;
    char host[256] = "";
    /* An unusable host name is not fatal yet: --id or SHOAL_ID may still
     * provide an id; cfg_check complains if neither does. */
    if (gethostname(host, sizeof host - 1) == 0 && cfg_name_valid(host))
        memcpy(c->id, host, strlen(host) + 1); /* valid => < CFG_ID_MAX */
}

static int cfg_env(cfg_t *c, char *const envp[], char *err, size_t cap)
{
    for (size_t i = 0; i < SH_ARRAY_LEN(cfg_opts); i++) {
        char name[64];
        cfg_env_name(&cfg_opts[i], name, sizeof name);
        const char *v = cfg_env_get(envp, name);
        if (v && cfg_apply(c, &cfg_opts[i], v, name, err, cap) != 0)
            return SH_EBAD_REQUEST;
    }
    return 0;
}

/* One argv element at *i (advanced past a separate value). */
static int cfg_arg(cfg_t *c, int argc, char *const argv[], int *i, char *err, size_t cap)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
        return cfg_fail(err, cap, "unexpected argument '%.64s' (see --help)", a);
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const cfg_opt_t *o = cfg_opt_find(name, nlen);
    if (!o)
        return cfg_fail(err, cap, "unknown flag --%.*s (see --help)", (int)nlen, name);
    char src[80];
    snprintf(src, sizeof src, "--%s", o->name);
    if (o->set == set_plugin && !c->plugins_argv) {
        /* Flags win over the environment: the first --plugin replaces
         * SHOAL_PLUGIN's list, later ones add to it. */
        c->plugins_argv = true;
        c->nplugins = 0;
    }
    if (eq)
        return cfg_apply(c, o, eq + 1, src, err, cap);
    if (!o->meta) /* boolean: present means true */
        return cfg_apply(c, o, "true", src, err, cap);
    if (*i + 1 >= argc)
        return cfg_fail(err, cap, "%s needs a value %s", src, o->meta);
    (*i)++;
    return cfg_apply(c, o, argv[*i], src, err, cap);
}

static int cfg_check(cfg_t *c, char *err, size_t cap)
{
    if (c->id[0] == '\0')
        return cfg_fail(err, cap, "the host name is not a valid member id; set --id");
    if (!c->advertise_set)
        snprintf(c->advertise, sizeof c->advertise, "%s", c->bind);
    if (c->probe_timeout_ms >= c->probe_interval_ms)
        return cfg_fail(err, cap, "--probe-timeout (%u) must be below --probe-interval (%u)",
                        c->probe_timeout_ms, c->probe_interval_ms);
    if (strcmp(c->bind, c->http) == 0)
        return cfg_fail(err, cap, "--bind and --http must differ (%s)", c->bind);
    return 0;
}

int cfg_parse(cfg_t *c, int argc, char *const argv[], char *const envp[],
              char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CFG_HELP;
    cfg_defaults(c);
    int rc = cfg_env(c, envp, err, errcap);
    for (int i = 1; rc == 0 && i < argc; i++)
        rc = cfg_arg(c, argc, argv, &i, err, errcap);
    if (rc == 0)
        rc = cfg_check(c, err, errcap);
    return rc;
}

size_t cfg_usage(char *buf, size_t cap)
{
    size_t n = 0;
#define CFG_PUT(...)                                                           \
    do {                                                                       \
        /* snprintf(NULL, 0) only measures: no pointer arithmetic on NULL. */  \
        int k_ = snprintf(n < cap ? buf + n : NULL, n < cap ? cap - n : 0,     \
                          __VA_ARGS__);                                        \
        n += (size_t)(k_ > 0 ? k_ : 0);                                        \
    } while (0)
    if (cap)
        buf[0] = '\0';
    CFG_PUT("usage: shoald [--flag value | --flag=value] ...\n\n"
            "Every flag is also read from the environment as SHOAL_<NAME>\n"
            "(upper case, '-' -> '_'); flags win over the environment.\n\n");
    for (size_t i = 0; i < SH_ARRAY_LEN(cfg_opts); i++) {
        const cfg_opt_t *o = &cfg_opts[i];
        char env[64], flag[64];
        cfg_env_name(o, env, sizeof env);
        snprintf(flag, sizeof flag, "--%s%s%s", o->name, o->meta ? " " : "",
                 o->meta ? o->meta : "");
        CFG_PUT("  %-30s %s\n", flag, o->help);
        if (o->def && o->def[0])
            CFG_PUT("  %-30s default: %s; env %s\n", "", o->def, env);
        else
            CFG_PUT("  %-30s env %s\n", "", env);
    }
    CFG_PUT("  %-30s %s\n", "--help", "print this text and exit");
#undef CFG_PUT
    return n;
}
