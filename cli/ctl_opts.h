/*
 * ctl_opts.h - shoalctl's command line: options (before or after the
 * command, each with its environment twin where it has one), the usage
 * text, the one-line error, and which options fit which command.
 *
 * Thread: the CLI's main thread only (getenv, stdio).
 */
#ifndef CTL_OPTS_H
#define CTL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_native.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2
#define CTL_ARGS_MAX 16

typedef struct ctl_opts {
    const char *node;
    bool node_given; /* --node on the command line */
    int json; /* -o json */
    uint32_t timeout_ms;
    /* invoke over the native client (peer NULL: over HTTP) */
    const char *peer;
    bool peer_given; /* --peer on the command line, not SHOAL_PEER */
    ctl_native_opts_t nat; /* nat.idem_key: also sent over HTTP (Idempotency-Key) */
    /* journal */
    int64_t from, limit; /* CTL_JOURNAL_UNSET when not given */
    const char *args[CTL_ARGS_MAX]; /* the command and its arguments */
    size_t nargs;
} ctl_opts_t;

/* Print "shoalctl: " + the message + newline on stderr: every failure is
 * exactly one such line. */
void ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fill *o from argv and the environment (SHOAL_NODE, SHOAL_PEER,
 * SHOAL_CLUSTER, SHOAL_SECRET, SHOAL_SHARDS).  Returns -1 to go on and
 * run o->args, else the exit code to leave with: CTL_EXIT_OK after
 * --help (usage printed on stdout), CTL_EXIT_USAGE after a bad option
 * (one line printed).  Pointers in *o point into argv or the environment. */
int ctl_opts_parse(ctl_opts_t *o, int argc, char **argv);

/* CTL_EXIT_OK, or CTL_EXIT_USAGE (one line printed) if an option was
 * given to a command it means nothing to.  o->nargs >= 1. */
int ctl_opts_fit(const ctl_opts_t *o);

/* The usage text, for `shoalctl` with no command. */
extern const char ctl_usage_text[];

#endif
