/*
 * node_jrnl.c - the node's journal: open it under --data, start and stop
 * the group-commit writer, and hand both to the shard workers.
 *
 * Order matters at shutdown: the writer stops (committing and completing
 * everything queued) before the workers, so each worker finds every one of
 * its commits completed when it closes (wrk.c) and no completion ever
 * arrives at a closed worker.
 */
#include <stdio.h>
#include <string.h>

#include "jrnl.h"
#include "jw.h"
#include "node_int.h"
#include "sh_err.h"
#include "sh_log.h"

int node_jrnl_start(node_t *n)
{
    const cfg_t *c = &n->cfg;
    char dir[CFG_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/journal", c->data);
    jrnl_opts_t o = {.dir = dir,
                     .map_max = (uint64_t)c->journal_max_mb << 20,
                     .sync = c->sync_full};
    if (o.map_max && o.map_max < (64u << 20))
        o.map_init = o.map_max; /* a small ceiling (tests): start there */
    int rc = jrnl_open(&n->jrnl, &o);
    if (rc != 0) {
        SH_LOGE("node_start_failed", "what=journal dir=\"%s\" err=\"%s\"", dir,
                jrnl_strerror(rc));
        return rc;
    }
    if ((rc = jw_start(&n->jw, n->jrnl)) != 0) {
        SH_LOGE("node_start_failed", "what=journal_writer err=\"%s\"", sh_strerror(rc));
        return rc;
    }
    SH_LOGI("journal_opened", "dir=\"%s\" sync=%s snapshot_every=%u retain_events=%u "
            "max_mb=%u", dir, c->sync_full ? "full" : "none", c->snapshot_every,
            c->retain_events, c->journal_max_mb);
    return 0;
}

void node_jrnl_wrk_config(node_t *n, wrk_config_t *wc)
{
    wc->jrnl = n->jrnl;
    wc->jw = n->jw;
    wc->snapshot_every = n->cfg.snapshot_every;
    wc->retain_events = n->cfg.retain_events;
    wc->idem_ttl_ms = n->cfg.idem_ttl_ms;
    wc->rem_changed = node_rem_changed;
}

void node_jrnl_stop(node_t *n)
{
    if (n->jw)
        jw_stop(n->jw);
    n->jw = NULL;
}

void node_jrnl_free(node_t *n)
{
    node_jrnl_stop(n);
    if (n->jrnl)
        jrnl_close(n->jrnl);
    n->jrnl = NULL;
}
