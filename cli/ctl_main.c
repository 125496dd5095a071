/*
 * ctl_main.c - shoalctl: the operator CLI over a node's HTTP API.
 *
 *   shoalctl [--node HOST:PORT] [-o table|json] [--timeout MS] COMMAND [ARGS]
 *
 * Design notes.  The CLI is a client like any other: it only speaks the
 * public HTTP API, so anything it shows a script could get with curl.
 * Flags may come before or after the command (`shoalctl members -o json`),
 * because people type them in both orders.  Output: a table for people,
 * `-o json` prints the API's own document, re-indented, so scripts get
 * exactly what the API promises and nothing the CLI invented.
 *
 * Exit codes: 0 success; 1 the node was unreachable, answered with an
 * error, or (health) is not ready; 2 a usage error.  Every failure prints
 * exactly one line on stderr, starting with "shoalctl: ".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_http.h"
#include "ctl_table.h"
#include "sh_err.h"
#include "sh_time.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2
#define CTL_ARGS_MAX 16

typedef struct ctl_opts {
    const char *node;
    int json; /* -o json */
    uint32_t timeout_ms;
    const char *args[CTL_ARGS_MAX]; /* the command and its arguments */
    size_t nargs;
} ctl_opts_t;

static const char usage_text[] =
    "usage: shoalctl [--node HOST:PORT] [-o table|json] [--timeout MS] COMMAND\n"
    "\n"
    "Commands:\n"
    "  members   list the cluster's members as this node sees them\n"
    "  health    the node's liveness (/healthz) and readiness (/readyz)\n"
    "\n"
    "Options (before or after the command):\n"
    "  --node HOST:PORT   the node's HTTP API (env SHOAL_NODE, default 127.0.0.1:8080)\n"
    "  -o, --output FMT   table (default) or json (the API's document)\n"
    "  --timeout MS       deadline for each request (default 5000)\n"
    "  -h, --help         this text\n";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shoalctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* "--name value" or "--name=value"; *i advances past a separate value.
 * Returns the value, NULL if argv[*i] is not this flag, or "" (and a
 * message) if the value is missing. */
static const char *flag_value(int argc, char **argv, int *i, const char *lng, const char *shrt)
{
    const char *a = argv[*i];
    size_t ll = strlen(lng);
    if (strncmp(a, lng, ll) == 0 && a[ll] == '=')
        return a + ll + 1;
    if (strcmp(a, lng) != 0 && !(shrt && strcmp(a, shrt) == 0))
        return NULL;
    if (*i + 1 >= argc) {
        fail("%s needs a value", a);
        return "";
    }
    return argv[++*i];
}

/* Returns -1 to continue, else an exit code. */
static int opts_parse(ctl_opts_t *o, int argc, char **argv)
{
    const char *env = getenv("SHOAL_NODE");
    o->node = env && *env ? env : "127.0.0.1:8080";
    o->timeout_ms = CTL_HTTP_TIMEOUT_MS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return CTL_EXIT_OK;
        } else if ((v = flag_value(argc, argv, &i, "--node", NULL))) {
            if (!*v)
                return CTL_EXIT_USAGE;
            o->node = v;
        } else if ((v = flag_value(argc, argv, &i, "--output", "-o"))) {
            if (strcmp(v, "json") != 0 && strcmp(v, "table") != 0) {
                if (*v)
                    fail("-o: expected table or json, got '%s'", v);
                return CTL_EXIT_USAGE;
            }
            o->json = strcmp(v, "json") == 0;
        } else if ((v = flag_value(argc, argv, &i, "--timeout", NULL))) {
            char *end;
            long ms = strtol(v, &end, 10);
            if (!*v || *end || ms <= 0 || ms > 3600000) {
                if (*v)
                    fail("--timeout: expected milliseconds (1..3600000), got '%s'", v);
                return CTL_EXIT_USAGE;
            }
            o->timeout_ms = (uint32_t)ms;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fail("unknown option '%s' (see shoalctl --help)", argv[i]);
            return CTL_EXIT_USAGE;
        } else if (o->nargs < CTL_ARGS_MAX) {
            o->args[o->nargs++] = argv[i];
        } else {
            fail("too many arguments");
            return CTL_EXIT_USAGE;
        }
    }
    return -1;
}

/* GET path; on success *doc is the parsed JSON body (NULL if the body is
 * not JSON) and *status the HTTP status.  Returns an exit code, having
 * printed the one-line error, or CTL_EXIT_OK. */
static int api_get(const ctl_opts_t *o, const char *path, int *status, json_t **doc)
{
    ctl_http_res_t res;
    char err[256];
    *doc = NULL;
    int rc = ctl_http_request(o->node, "GET", path, NULL, 0, o->timeout_ms, &res, err, sizeof(err));
    if (rc == SH_ETIMEOUT) {
        fail("no answer from %s within %u ms (%s)", o->node, o->timeout_ms, err);
        return CTL_EXIT_FAIL;
    }
    if (rc < 0) {
        fail("cannot reach %s: %s", o->node, err);
        return CTL_EXIT_FAIL;
    }
    json_error_t jerr;
    *doc = json_loadb(res.body, res.len, 0, &jerr);
    *status = res.status;
    ctl_http_res_fini(&res);
    return CTL_EXIT_OK;
}

/* An API error document {"errorCode":..,"message":..} as one line. */
static int api_error(const ctl_opts_t *o, int status, const json_t *doc)
{
    const char *code = json_string_value(json_object_get(doc, "errorCode"));
    const char *msg = json_string_value(json_object_get(doc, "message"));
    if (code)
        fail("%s: %s (HTTP %d from %s)", code, msg ? msg : "", status, o->node);
    else
        fail("HTTP %d from %s", status, o->node);
    return CTL_EXIT_FAIL;
}

static int print_json(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) {
        fail("out of memory");
        return CTL_EXIT_FAIL;
    }
    puts(s);
    free(s);
    return CTL_EXIT_OK;
}

static int cmd_members(const ctl_opts_t *o)
{
    int status = 0;
    json_t *doc;
    int ex = api_get(o, "/v1/cluster/members", &status, &doc);
    if (ex != CTL_EXIT_OK)
        return ex;
    if (status != 200) {
        ex = api_error(o, status, doc);
    } else if (!doc) {
        fail("%s answered with something that is not JSON", o->node);
        ex = CTL_EXIT_FAIL;
    } else if (o->json) {
        ex = print_json(doc);
    } else {
        ctl_table_t *t;
        char err[160];
        char *text;
        int rc = ctl_members_table(doc, (int64_t)sh_time_wall_ms(), &t, err, sizeof(err));
        if (rc < 0) {
            fail("unexpected members document from %s: %s", o->node,
                 rc == SH_EMALFORMED ? err : sh_strerror(rc));
            ex = CTL_EXIT_FAIL;
        } else if (ctl_table_render(t, &text) < 0) {
            fail("out of memory");
            ex = CTL_EXIT_FAIL;
        } else {
            fputs(text, stdout);
            free(text);
        }
        ctl_table_free(t);
    }
    json_decref(doc);
    return ex;
}

/* "ok (n1)", "ready", "joining (waiting for seeds)", or "HTTP 500". */
static void health_word(char *buf, size_t cap, int status, const json_t *doc,
                        const char *extra_key)
{
    const char *st = json_string_value(json_object_get(doc, "status"));
    const char *extra = json_string_value(json_object_get(doc, extra_key));
    if (!st)
        snprintf(buf, cap, "HTTP %d", status);
    else if (extra)
        snprintf(buf, cap, "%s (%s)", st, extra);
    else
        snprintf(buf, cap, "%s", st);
}

static int cmd_health(const ctl_opts_t *o)
{
    int hs = 0, rs = 0;
    json_t *hdoc = NULL, *rdoc = NULL;
    int ex = api_get(o, "/healthz", &hs, &hdoc);
    if (ex == CTL_EXIT_OK)
        ex = api_get(o, "/readyz", &rs, &rdoc);
    if (ex != CTL_EXIT_OK) {
        json_decref(hdoc);
        return ex;
    }
    if (o->json) {
        json_t *both = json_pack("{s:O?,s:O?}", "healthz", hdoc, "readyz", rdoc);
        ex = both ? print_json(both) : CTL_EXIT_FAIL;
        json_decref(both);
    } else {
        char hw[256], rw[256];
        health_word(hw, sizeof(hw), hs, hdoc, "id");
        health_word(rw, sizeof(rw), rs, rdoc, "detail");
        printf("healthz: %s\nreadyz:  %s\n", hw, rw);
    }
    if (ex == CTL_EXIT_OK && (hs != 200 || rs != 200)) {
        fail("%s is %s", o->node, hs != 200 ? "not healthy" : "not ready");
        ex = CTL_EXIT_FAIL;
    }
    json_decref(hdoc);
    json_decref(rdoc);
    return ex;
}

int main(int argc, char **argv)
{
    ctl_opts_t o = {0};
    int ex = opts_parse(&o, argc, argv);
    if (ex >= 0)
        return ex;
    if (o.nargs == 0) {
        fputs(usage_text, stderr);
        return CTL_EXIT_USAGE;
    }
    const char *cmd = o.args[0];
    if (strcmp(cmd, "members") == 0 && o.nargs == 1)
        return cmd_members(&o);
    if (strcmp(cmd, "health") == 0 && o.nargs == 1)
        return cmd_health(&o);
    if (strcmp(cmd, "members") == 0 || strcmp(cmd, "health") == 0)
        fail("%s takes no arguments (see shoalctl --help)", cmd);
    else
        fail("unknown command '%s' (see shoalctl --help)", cmd);
    return CTL_EXIT_USAGE;
}
