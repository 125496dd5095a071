/*
 * cfg.h - shoald's configuration: command-line flags and SHOAL_* variables.
 *
 * Every flag `--name value` (or `--name=value`) can also be given in the
 * environment as SHOAL_<NAME> (upper case, '-' -> '_').  Precedence, lowest
 * first: built-in default, environment, command line.  Values are validated
 * as they are read, so a cfg_t that cfg_parse accepted is ready to use:
 * addresses are host:port, ids and cluster names are 1..63 bytes of
 * [A-Za-z0-9._-], numbers are in range.
 *
 * The parser is pure apart from one gethostname() for the default id; the
 * environment comes in as an envp array so tests can supply their own.
 */
#ifndef CFG_H
#define CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_ID_MAX 64       /* member id incl. NUL (matches SWIM_ID_MAX) */
#define CFG_ADDR_MAX 64     /* "host:port" incl. NUL (matches SWIM_ADDR_MAX) */
#define CFG_SEEDS_MAX 64    /* seed addresses */
#define CFG_PATH_MAX 1024   /* data directory */
#define CFG_SECRET_MAX 1024 /* cluster secret incl. NUL */
#define CFG_PLUGINS_MAX 16  /* --plugin paths */
#define CFG_WORKERS_MAX 256

/* cfg_parse's positive result: --help (or -h) was given. */
#define CFG_HELP 1

typedef struct cfg {
    char id[CFG_ID_MAX];
    char bind[CFG_ADDR_MAX];
    char advertise[CFG_ADDR_MAX]; /* defaults to bind */
    char http[CFG_ADDR_MAX];
    char seeds[CFG_SEEDS_MAX][CFG_ADDR_MAX];
    size_t nseeds;
    char data[CFG_PATH_MAX];
    uint32_t shards;
    uint32_t replicas;
    char cluster[CFG_ID_MAX];
    char secret[CFG_SECRET_MAX]; /* empty = no secret */
    bool log_json;
    int log_level; /* enum sh_log_level */
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t suspicion_mult;
    uint32_t pushpull_interval_ms;
    bool debug_faults;
    /* Entity runtime. */
    uint32_t workers;             /* shard workers (default: online CPUs) */
    uint32_t mailbox;             /* per-entity mailbox bound */
    uint32_t idle_timeout_ms;     /* passivate after this long idle */
    uint32_t max_active;          /* active entities per node */
    uint32_t call_timeout_ms;     /* default deadline of a call */
    uint32_t ratelimit_limit;     /* ratelimiter built-in: requests per window */
    uint32_t ratelimit_window_ms; /* ratelimiter built-in: window */
    /* Persistence. */
    bool sync_full;               /* --sync full|none */
    uint32_t snapshot_every;      /* events between snapshots (0: passivation only) */
    uint32_t retain_events;       /* events kept below a snapshot */
    uint32_t idem_ttl_ms;         /* --idempotency-ttl */
    uint32_t journal_max_mb;      /* map ceiling, 0 = none */
    uint32_t cart_ttl_ms;         /* cart type: delete after this long without calls */
    char plugins[CFG_PLUGINS_MAX][CFG_PATH_MAX]; /* entity type plugins (.so) */
    size_t nplugins;
    /* Set while parsing: advertise was given explicitly (else = bind). */
    bool advertise_set;
    /* Set while parsing: a --plugin came from argv (it replaces SHOAL_PLUGIN). */
    bool plugins_argv;
} cfg_t;

/* Parse defaults, then envp ("K=V" strings, NULL-terminated; NULL = none),
 * then argv[1..argc-1] into *c.
 *   0               *c is complete and valid.
 *   CFG_HELP        --help/-h was given (nothing else is checked).
 *   SH_EBAD_REQUEST an unknown flag, a missing value or a bad value; `err`
 *                   (errcap bytes, may be NULL) holds a one-line message
 *                   naming the flag or variable, without a trailing newline.
 * Never prints; the caller decides what to do with the message.  The
 * secret is never copied into `err`. */
int cfg_parse(cfg_t *c, int argc, char *const argv[], char *const envp[],
              char *err, size_t errcap);

/* Write the --help text (every flag, its variable and its default) into
 * buf (cap bytes, NUL-terminated, truncated if short).  Returns the length
 * the full text needs, as snprintf does. */
size_t cfg_usage(char *buf, size_t cap);

/* A duration: an integer with an optional unit ms (default), s, m or h
 * ("1500", "1500ms", "60s", "5m", "1h").  0 and *ms set, or -1 if it is
 * malformed or over UINT32_MAX ms. */
int cfg_duration_ms(const char *s, uint32_t *ms);

/* Validators shared with the API (e.g. POST /v1/debug/fault's peer). */
bool cfg_addr_valid(const char *s);
bool cfg_name_valid(const char *s);

#endif
