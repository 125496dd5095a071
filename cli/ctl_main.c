/*
 * ctl_main.c - shoalctl: the operator CLI over a node's HTTP API.
 *
 *   shoalctl [--node HOST:PORT] [-o table|json] [--timeout MS] COMMAND [ARGS]
 *
 * Design notes.  The CLI is a client like any other: it only speaks the
 * public HTTP API, so anything it shows a script could get with curl.
 * Options are parsed in ctl_opts.c (before or after the command, flags
 * beat the environment).  Output: a table for people,
 * `-o json` prints the API's own document, re-indented, so scripts get
 * exactly what the API promises and nothing the CLI invented.
 *
 * One exception to "only HTTP": `invoke` with a peer (--peer or
 * SHOAL_PEER: a node's CLUSTER address) goes through the native client
 * (include/shoal/client.h, ctl_native.c) with the cluster's name, secret
 * and shard count, and prints the same reply and the same kind of error
 * line.  An explicit --node on the command line beats a SHOAL_PEER from
 * the environment (flags beat the environment, as for SHOAL_NODE).  An
 * --idempotency-key goes with the call either way: in the native call's
 * options, or as the API's Idempotency-Key header.
 *
 * Exit codes: 0 success; 1 the node was unreachable, answered with an
 * error, or (health) is not ready; 2 a usage error.  Every failure prints
 * exactly one line on stderr, starting with "shoalctl: ".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_actors.h"
#include "ctl_http.h"
#include "ctl_journal.h"
#include "ctl_native.h"
#include "ctl_opts.h"
#include "ctl_table.h"
#include "shoal/client.h"
#include "shoal/entity.h" /* the bounds of type, id and method */
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_time.h"

/* METHOD path [body] with extra headers hdrs (ctl_http_request's form, or
 * NULL); on success *doc is the parsed JSON body (NULL if the body is not
 * JSON or empty), *status the HTTP status and, if raw is not NULL, *raw
 * the body as received (caller frees).  Returns an exit code, having
 * printed the one-line error, or CTL_EXIT_OK. */
static int api_call(const ctl_opts_t *o, const char *method, const char *path,
                    const char *body, const char *const *hdrs, int *status, json_t **doc,
                    char **raw)
{
    ctl_http_res_t res;
    char err[256];
    *doc = NULL;
    int rc = ctl_http_request(o->node, method, path, body, body ? strlen(body) : 0, hdrs,
                              o->timeout_ms, &res, err, sizeof(err));
    if (rc == SH_ETIMEOUT) {
        ctl_fail("no answer from %s within %u ms (%s)", o->node, o->timeout_ms, err);
        return CTL_EXIT_FAIL;
    }
    if (rc < 0) {
        ctl_fail("cannot reach %s: %s", o->node, err);
        return CTL_EXIT_FAIL;
    }
    json_error_t jerr;
    *doc = json_loadb(res.body, res.len, JSON_DECODE_ANY, &jerr);
    *status = res.status;
    if (raw) {
        *raw = res.body; /* NUL-terminated; ownership moves to the caller */
        res.body = NULL;
    }
    ctl_http_res_fini(&res);
    return CTL_EXIT_OK;
}

static int api_get(const ctl_opts_t *o, const char *path, int *status, json_t **doc)
{
    return api_call(o, "GET", path, NULL, NULL, status, doc, NULL);
}

/* An API error document {"errorCode":..,"message":..} as one line. */
static int api_error(const ctl_opts_t *o, int status, const json_t *doc)
{
    const char *code = json_string_value(json_object_get(doc, "errorCode"));
    const char *msg = json_string_value(json_object_get(doc, "message"));
    if (code)
        ctl_fail("%s: %s (HTTP %d from %s)", code, msg ? msg : "", status, o->node);
    else
        ctl_fail("HTTP %d from %s", status, o->node);
    return CTL_EXIT_FAIL;
}

static int print_json(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) {
        ctl_fail("out of memory");
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
        ctl_fail("%s answered with something that is not JSON", o->node);
        ex = CTL_EXIT_FAIL;
    } else if (o->json) {
        ex = print_json(doc);
    } else {
        ctl_table_t *t;
        char err[160];
        char *text;
        int rc = ctl_members_table(doc, (int64_t)sh_time_wall_ms(), &t, err, sizeof(err));
        if (rc < 0) {
            ctl_fail("unexpected members document from %s: %s", o->node,
                 rc == SH_EMALFORMED ? err : sh_strerror(rc));
            ex = CTL_EXIT_FAIL;
        } else if (ctl_table_render(t, &text) < 0) {
            ctl_fail("out of memory");
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
        ctl_fail("%s is %s", o->node, hs != 200 ? "not healthy" : "not ready");
        ex = CTL_EXIT_FAIL;
    }
    json_decref(hdoc);
    json_decref(rdoc);
    return ex;
}

/* Print a table built by `build` from doc, or doc itself with -o json. */
static int print_doc(const ctl_opts_t *o, const json_t *doc, const char *what,
                     int (*build)(const json_t *, ctl_table_t **, char *, size_t))
{
    if (o->json)
        return print_json(doc);
    ctl_table_t *t;
    char err[160];
    char *text;
    int rc = build(doc, &t, err, sizeof(err));
    if (rc < 0) {
        ctl_fail("unexpected %s document from %s: %s", what, o->node,
             rc == SH_EMALFORMED ? err : sh_strerror(rc));
        return CTL_EXIT_FAIL;
    }
    rc = ctl_table_render(t, &text);
    ctl_table_free(t);
    if (rc < 0) {
        ctl_fail("out of memory");
        return CTL_EXIT_FAIL;
    }
    fputs(text, stdout);
    free(text);
    return CTL_EXIT_OK;
}

/* GET path: CTL_EXIT_OK with *doc (a JSON answer with status 200, the
 * caller's to decref), or the exit code after one line on stderr. */
static int get_doc(const ctl_opts_t *o, const char *path, json_t **doc)
{
    int status = 0;
    int ex = api_get(o, path, &status, doc);
    if (ex != CTL_EXIT_OK)
        return ex;
    if (status != 200)
        ex = api_error(o, status, *doc);
    else if (!*doc) {
        ctl_fail("%s answered with something that is not JSON", o->node);
        ex = CTL_EXIT_FAIL;
    }
    if (ex != CTL_EXIT_OK) {
        json_decref(*doc);
        *doc = NULL;
    }
    return ex;
}

/* GET path and show it with `build`; errors as one line. */
static int show(const ctl_opts_t *o, const char *path, const char *what,
                int (*build)(const json_t *, ctl_table_t **, char *, size_t))
{
    json_t *doc;
    int ex = get_doc(o, path, &doc);
    if (ex != CTL_EXIT_OK)
        return ex;
    ex = print_doc(o, doc, what, build);
    json_decref(doc);
    return ex;
}

static int cmd_shards(const ctl_opts_t *o)
{
    char path[64] = "/v1/cluster/shards";
    if (o->nargs == 2) {
        char *end;
        long n = strtol(o->args[1], &end, 10);
        if (!*o->args[1] || *end || n < 0 || n > 65535) {
            ctl_fail("shards: N must be a shard number, got '%s'", o->args[1]);
            return CTL_EXIT_USAGE;
        }
        snprintf(path, sizeof(path), "/v1/cluster/shards/%ld", n);
    }
    return show(o, path, "shards", ctl_shards_table);
}

/* "/v1/cluster/locate/T/I" or "/v1.0/actors/T/I/method/M", escaped.
 * Returns CTL_EXIT_OK or CTL_EXIT_USAGE (message printed). */
static int entity_path(const char *ent, const char *method, char *path, size_t cap)
{
    char type[256], id[1024], et[768], ei[3072], em[1536];
    if (ctl_entity_parse(ent, type, sizeof(type), id, sizeof(id)) != 0) {
        ctl_fail("expected TYPE/ID (e.g. cart/42), got '%s'", ent);
        return CTL_EXIT_USAGE;
    }
    if (ctl_path_escape(type, et, sizeof(et)) < 0 || ctl_path_escape(id, ei, sizeof(ei)) < 0 ||
        (method && ctl_path_escape(method, em, sizeof(em)) < 0)) {
        ctl_fail("TYPE/ID or METHOD too long");
        return CTL_EXIT_USAGE;
    }
    if (method)
        snprintf(path, cap, "/v1.0/actors/%s/%s/method/%s", et, ei, em);
    else
        snprintf(path, cap, "/v1/cluster/locate/%s/%s", et, ei);
    return CTL_EXIT_OK;
}

static int cmd_locate(const ctl_opts_t *o)
{
    char path[8192];
    int ex = entity_path(o->args[1], NULL, path, sizeof(path));
    return ex != CTL_EXIT_OK ? ex : show(o, path, "locate", ctl_locate_table);
}

/* Print an entity's reply: as it came, or re-indented with -o json when
 * it is JSON.  Nothing for an empty reply. */
static int print_reply(const ctl_opts_t *o, const char *raw, size_t len)
{
    json_t *doc = o->json && len ? json_loadb(raw, len, JSON_DECODE_ANY, NULL) : NULL;
    int ex = CTL_EXIT_OK;
    if (doc)
        ex = print_json(doc);
    else if (len)
        puts(raw);
    json_decref(doc);
    return ex;
}

/* invoke through the native client to o->peer. */
static int invoke_native(const ctl_opts_t *o, const char *method, const char *body)
{
    char type[SHOAL_TYPE_NAME_MAX], id[SHOAL_ENTITY_ID_MAX], err[SHOAL_CLIENT_ERRMSG_MAX];
    if (ctl_entity_parse(o->args[1], type, sizeof type, id, sizeof id) != 0 ||
        strlen(method) >= SHOAL_METHOD_MAX) {
        ctl_fail("expected TYPE/ID (type < %d, id < %d bytes) and METHOD (< %d bytes), got '%s' '%s'",
             SHOAL_TYPE_NAME_MAX, SHOAL_ENTITY_ID_MAX, SHOAL_METHOD_MAX, o->args[1], method);
        return CTL_EXIT_USAGE;
    }
    char *reply;
    size_t len;
    int rc = ctl_native_invoke(&o->nat, type, id, method, body, &reply, &len, err, sizeof err);
    if (rc != 0) {
        /* As api_error's line: the code's API name first, then the message. */
        ctl_fail("%s: %s%s(from peer %s)", shoal_client_err_name(rc), err, err[0] ? " " : "",
             o->peer);
        return CTL_EXIT_FAIL;
    }
    int ex = print_reply(o, reply, len);
    free(reply);
    return ex;
}

/* Prints the reply as the entity gave it (re-indented with -o json). */
static int cmd_invoke(const ctl_opts_t *o)
{
    char path[8192];
    const char *body = o->nargs == 4 ? o->args[3] : NULL;
    json_error_t jerr;
    json_t *check = body ? json_loads(body, JSON_DECODE_ANY, &jerr) : NULL;
    if (body && !check) {
        ctl_fail("invoke: JSON argument is not valid JSON: %s", jerr.text);
        return CTL_EXIT_USAGE;
    }
    json_decref(check);
    if (o->peer)
        return invoke_native(o, o->args[2], body);
    int ex = entity_path(o->args[1], o->args[2], path, sizeof(path));
    if (ex != CTL_EXIT_OK)
        return ex;
    int status = 0;
    json_t *doc;
    char *raw = NULL;
    const char *idem[] = {"Idempotency-Key", o->nat.idem_key, NULL};
    ex = api_call(o, "POST", path, body, o->nat.idem_key ? idem : NULL, &status, &doc, &raw);
    if (ex != CTL_EXIT_OK)
        return ex;
    if (status != 200)
        ex = api_error(o, status, doc);
    else if (o->json && doc)
        ex = print_json(doc);
    else if (raw && raw[0])
        puts(raw);
    json_decref(doc);
    free(raw);
    return ex;
}

/* The journal table (or the document with -o json), and under the table
 * where the next page starts. */
static int cmd_journal(const ctl_opts_t *o)
{
    char type[256], id[1024], path[8192], more[64];
    if (ctl_entity_parse(o->args[1], type, sizeof type, id, sizeof id) != 0) {
        ctl_fail("expected TYPE/ID (e.g. counter/c1), got '%s'", o->args[1]);
        return CTL_EXIT_USAGE;
    }
    if (ctl_journal_path(type, id, o->from, o->limit, path, sizeof path) < 0) {
        ctl_fail("TYPE/ID too long");
        return CTL_EXIT_USAGE;
    }
    json_t *doc;
    int ex = get_doc(o, path, &doc);
    if (ex != CTL_EXIT_OK)
        return ex;
    ex = print_doc(o, doc, "journal", ctl_journal_table);
    if (ex == CTL_EXIT_OK && !o->json && ctl_journal_more(doc, more, sizeof more))
        puts(more);
    json_decref(doc);
    return ex;
}

/* Exit code of running args[0] with its arguments, or -1 if the command or
 * its argument count is unknown. */
static int dispatch(const ctl_opts_t *o)
{
    const char *cmd = o->args[0];
    size_t n = o->nargs;
    if (strcmp(cmd, "members") == 0 && n == 1)
        return cmd_members(o);
    if (strcmp(cmd, "health") == 0 && n == 1)
        return cmd_health(o);
    if (strcmp(cmd, "shards") == 0 && n <= 2)
        return cmd_shards(o);
    if (strcmp(cmd, "locate") == 0 && n == 2)
        return cmd_locate(o);
    if (strcmp(cmd, "invoke") == 0 && (n == 3 || n == 4))
        return cmd_invoke(o);
    if (strcmp(cmd, "journal") == 0 && n == 2)
        return cmd_journal(o);
    return -1;
}

int main(int argc, char **argv)
{
    ctl_opts_t o = {0};
    int ex = ctl_opts_parse(&o, argc, argv);
    if (ex >= 0)
        return ex;
    if (o.nargs == 0) {
        fputs(ctl_usage_text, stderr);
        return CTL_EXIT_USAGE;
    }
    if ((ex = ctl_opts_fit(&o)) != CTL_EXIT_OK)
        return ex;
    ex = dispatch(&o);
    if (ex >= 0)
        return ex;
    const char *cmd = o.args[0];
    static const char *const known[] = {"members", "health", "shards", "locate", "invoke",
                                        "journal"};
    for (size_t i = 0; i < SH_ARRAY_LEN(known); i++)
        if (strcmp(cmd, known[i]) == 0) {
            ctl_fail("wrong arguments for %s (see shoalctl --help)", cmd);
            return CTL_EXIT_USAGE;
        }
    ctl_fail("unknown command '%s' (see shoalctl --help)", cmd);
    return CTL_EXIT_USAGE;
}
