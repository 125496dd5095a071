/*
 * main.c - shoald: parse the configuration, start the node, run its loop.
 *
 * Exit codes: 0 after a clean stop (SIGTERM/SIGINT) or --help; 2 for a bad
 * command line or environment (one line on stderr); 1 if the node cannot
 * start (data directory locked or foreign, address in use, ...; the reason
 * is logged).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <nng/nng.h>

#include "cfg.h"
#include "node.h"
#include "sh_log.h"

extern char **environ;

/* LeakSanitizer suppressions, read by ASan builds only (a weak hook; a
 * plain build never calls it).  nng 1.5.2's HTTP server leaks one
 * reference to a handler when it is stopped while a connection has just
 * read a request: http_sconn_rxdone takes the reference, nni_aio_begin on
 * the already-closed callback aio fails, and nothing drops it.  The
 * handler (nng's allocation) and the API gate it owns (api_handler_add)
 * then stay allocated until exit.  Bounded to one handler per process and
 * only at shutdown, so it is suppressed rather than worked around; both
 * allocations have api_handler_add on their stack, nothing else does. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:api_handler_add\n";
}

int main(int argc, char **argv)
{
    static cfg_t cfg; /* large (secret, seeds): keep it off the stack */
    char err[512];
    int rc = cfg_parse(&cfg, argc, argv, environ, err, sizeof err);
    if (rc == CFG_HELP) {
        size_t need = cfg_usage(NULL, 0) + 1;
        char *text = malloc(need);
        if (!text)
            return 1;
        cfg_usage(text, need);
        fputs(text, stdout);
        free(text);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "shoald: %s\n", err);
        return 2;
    }
    /* A peer closing a socket mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    sh_log_init(cfg.id, (enum sh_log_level)cfg.log_level, cfg.log_json);

    node_t *node;
    if (node_new(&node, &cfg) != 0) {
        nng_fini();
        return 1;
    }
    rc = node_run(node);
    node_free(node);
    nng_fini();
    return rc == 0 ? 0 : 1;
}
