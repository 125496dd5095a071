/*
 * ctl_opts.c - shoalctl's command line; see ctl_opts.h.
 *
 * Design notes.  Flags may come before or after the command (`shoalctl
 * members -o json`), because people type them in both orders, so one
 * pass takes every option wherever it stands and leaves the rest as the
 * command and its arguments.  Flags beat the environment; for the two
 * addresses that means an explicit --node also beats a SHOAL_PEER from
 * the environment (the person typed an HTTP address: they mean HTTP).
 * An option given to a command it means nothing to is an error rather
 * than silently ignored (ctl_opts_fit).  The cluster's name, secret and
 * shard count are not checked against a command: their SHOAL_* twins are
 * commonly set for shoald in the same shell.
 */
#include "ctl_opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_http.h"
#include "ctl_journal.h"
#include "shoal/client.h"

const char ctl_usage_text[] =
    "usage: shoalctl [--node HOST:PORT] [-o table|json] [--timeout MS] COMMAND\n"
    "\n"
    "Commands:\n"
    "  members                        the cluster's members as this node sees them\n"
    "  health                         the node's liveness (/healthz) and readiness (/readyz)\n"
    "  shards [N]                     the shard table (or shard N): owner, replicas,\n"
    "                                 epoch, and active entities on the owner\n"
    "  locate TYPE/ID                 the shard and owner of an entity, and whether it\n"
    "                                 is active\n"
    "  invoke TYPE/ID METHOD [JSON]   call an entity; prints its reply (over HTTP, or\n"
    "                                 over the native client with --peer)\n"
    "  journal TYPE/ID [--from SEQ] [--limit N]\n"
    "                                 an entity's journaled events: SEQ TIME EVENT\n"
    "\n"
    "Options (before or after the command):\n"
    "  --node HOST:PORT   the node's HTTP API (env SHOAL_NODE, default 127.0.0.1:8080)\n"
    "  -o, --output FMT   table (default) or json (the API's document)\n"
    "  --timeout MS       deadline for each request (default 5000)\n"
    "  -h, --help         this text\n"
    "\n"
    "journal:\n"
    "  --from SEQ         first sequence number to show (default: the server's)\n"
    "  --limit N          at most N events, 1..100000 (default: the server's)\n"
    "\n"
    "invoke:\n"
    "  --idempotency-key K\n"
    "                     sent with the call (1..128 bytes; over HTTP as the\n"
    "                     Idempotency-Key header): a retry with the same key takes\n"
    "                     effect once and gets the first call's reply\n"
    "  --peer HOST:PORT   call through the native client (the cluster's own frames)\n"
    "                     to this node's CLUSTER address (its --bind/--advertise;\n"
    "                     env SHOAL_PEER, ignored when --node is given) instead of\n"
    "                     the HTTP API; with it:\n"
    "  --cluster NAME     the cluster's name (env SHOAL_CLUSTER, default shoal)\n"
    "  --secret S         the cluster secret (better: env SHOAL_SECRET; default none)\n"
    "  --shards N         the cluster's shard count (env SHOAL_SHARDS, default 256)\n";

void ctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shoalctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* What flag_value returns for a flag whose value is missing or empty
 * (the message printed): callers compare the pointer. */
static const char flag_bad[] = "";

/* "--name value" or "--name=value"; *i advances past a separate value.
 * Returns the value, NULL if argv[*i] is not this flag, or flag_bad (and
 * a message) if the value is missing, or empty unless empty_ok. */
static const char *flag_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
                              bool empty_ok)
{
    const char *a = argv[*i], *v;
    size_t ll = strlen(lng);
    if (strncmp(a, lng, ll) == 0 && a[ll] == '=') {
        v = a + ll + 1;
    } else if (strcmp(a, lng) != 0 && !(shrt && strcmp(a, shrt) == 0)) {
        return NULL;
    } else if (*i + 1 >= argc) {
        ctl_fail("%s needs a value", a);
        return flag_bad;
    } else {
        v = argv[++*i];
    }
    if (!*v && !empty_ok) {
        ctl_fail("%s needs a value", lng);
        return flag_bad;
    }
    return v;
}

/* An integer flag value in lo..hi into *out.  -1, or CTL_EXIT_USAGE with
 * the message printed (flag_bad was reported by flag_value). */
static int num_value(const char *flag, const char *v, long long lo, long long hi,
                     long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (v == flag_bad)
        return CTL_EXIT_USAGE; /* reported by flag_value */
    if (!*v || *end || errno || n < lo || n > hi) {
        ctl_fail("%s: expected an integer in %lld..%lld, got '%s'", flag, lo, hi, v);
        return CTL_EXIT_USAGE;
    }
    *out = n;
    return -1;
}

/* The options every command has.  -1 consumed, -2 not one of them, or an
 * exit code. */
static int opt_common(ctl_opts_t *o, int argc, char **argv, int *i)
{
    const char *v;
    long long n;
    int ex = -1;
    if (strcmp(argv[*i], "-h") == 0 || strcmp(argv[*i], "--help") == 0) {
        fputs(ctl_usage_text, stdout);
        return CTL_EXIT_OK;
    } else if ((v = flag_value(argc, argv, i, "--node", NULL, false))) {
        o->node = v;
        o->node_given = true;
    } else if ((v = flag_value(argc, argv, i, "--output", "-o", false))) {
        if (v != flag_bad && strcmp(v, "json") != 0 && strcmp(v, "table") != 0) {
            ctl_fail("-o: expected table or json, got '%s'", v);
            return CTL_EXIT_USAGE;
        }
        o->json = strcmp(v, "json") == 0;
    } else if ((v = flag_value(argc, argv, i, "--timeout", NULL, false))) {
        if ((ex = num_value("--timeout", v, 1, 3600000, &n)) < 0)
            o->timeout_ms = (uint32_t)n;
    } else if ((v = flag_value(argc, argv, i, "--from", NULL, false))) {
        if ((ex = num_value("--from", v, 0, INT64_MAX, &n)) < 0)
            o->from = n;
    } else if ((v = flag_value(argc, argv, i, "--limit", NULL, false))) {
        if ((ex = num_value("--limit", v, 1, CTL_JOURNAL_LIMIT_MAX, &n)) < 0)
            o->limit = n;
    } else {
        return -2;
    }
    return v == flag_bad ? CTL_EXIT_USAGE : ex;
}

/* The native client's options (invoke with a peer).  Same returns. */
static int opt_native(ctl_opts_t *o, int argc, char **argv, int *i)
{
    const char *v;
    long long n;
    int ex = -1;
    if ((v = flag_value(argc, argv, i, "--peer", NULL, false))) {
        o->peer = v;
        o->peer_given = true;
    } else if ((v = flag_value(argc, argv, i, "--cluster", NULL, false))) {
        o->nat.cluster = v;
    } else if ((v = flag_value(argc, argv, i, "--secret", NULL, true))) {
        o->nat.secret = v; /* "": no secret, shoald's default */
    } else if ((v = flag_value(argc, argv, i, "--shards", NULL, false))) {
        if ((ex = num_value("--shards", v, 1, 65536, &n)) < 0)
            o->nat.shards = (uint32_t)n;
    } else if ((v = flag_value(argc, argv, i, "--idempotency-key", NULL, false))) {
        if (v != flag_bad && strlen(v) > SHOAL_CLIENT_IDEM_MAX) {
            ctl_fail("--idempotency-key: at most %d bytes, got %zu", SHOAL_CLIENT_IDEM_MAX,
                 strlen(v));
            return CTL_EXIT_USAGE;
        }
        o->nat.idem_key = v;
    } else {
        return -2;
    }
    return v == flag_bad ? CTL_EXIT_USAGE : ex;
}

/* Defaults, from the environment where the flag has an env twin.
 * -1, or CTL_EXIT_USAGE for a bad SHOAL_SHARDS. */
static int opts_defaults(ctl_opts_t *o)
{
    const char *env = getenv("SHOAL_NODE");
    o->node = env && *env ? env : "127.0.0.1:8080";
    o->timeout_ms = CTL_HTTP_TIMEOUT_MS_DEFAULT;
    o->from = o->limit = CTL_JOURNAL_UNSET;
    env = getenv("SHOAL_PEER");
    o->peer = env && *env ? env : NULL;
    env = getenv("SHOAL_CLUSTER");
    o->nat.cluster = env && *env ? env : NULL;
    o->nat.secret = getenv("SHOAL_SECRET");
    env = getenv("SHOAL_SHARDS");
    long long n;
    if (env && *env) {
        if (num_value("SHOAL_SHARDS", env, 1, 65536, &n) >= 0)
            return CTL_EXIT_USAGE;
        o->nat.shards = (uint32_t)n;
    }
    return -1;
}

int ctl_opts_parse(ctl_opts_t *o, int argc, char **argv)
{
    int ex = opts_defaults(o);
    if (ex >= 0)
        return ex;
    for (int i = 1; i < argc; i++) {
        if ((ex = opt_common(o, argc, argv, &i)) == -2)
            ex = opt_native(o, argc, argv, &i);
        if (ex >= 0)
            return ex;
        if (ex == -1)
            continue;
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            ctl_fail("unknown option '%s' (see shoalctl --help)", argv[i]);
            return CTL_EXIT_USAGE;
        } else if (o->nargs < CTL_ARGS_MAX) {
            o->args[o->nargs++] = argv[i];
        } else {
            ctl_fail("too many arguments");
            return CTL_EXIT_USAGE;
        }
    }
    if (o->node_given && !o->peer_given)
        o->peer = NULL; /* --node beats SHOAL_PEER */
    o->nat.peer = o->peer;
    o->nat.timeout_ms = o->timeout_ms;
    return -1;
}

/* A flag given to a command it means nothing to is a mistake (a journal
 * --from on invoke, an --idempotency-key on locate). */
int ctl_opts_fit(const ctl_opts_t *o)
{
    const char *cmd = o->args[0];
    if (strcmp(cmd, "journal") != 0 &&
        (o->from != CTL_JOURNAL_UNSET || o->limit != CTL_JOURNAL_UNSET)) {
        ctl_fail("--from and --limit are options of journal, not of %s", cmd);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(cmd, "invoke") != 0 && (o->peer_given || o->nat.idem_key)) {
        ctl_fail("--peer and --idempotency-key are options of invoke, not of %s", cmd);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}
