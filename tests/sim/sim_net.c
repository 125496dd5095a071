/*
 * sim_net.c - virtual clock, event heap, the simulated network, and the
 * seed/failure plumbing every scenario shares.
 *
 * Design notes.  A message's fate is decided when it is sent, from the
 * world's one network RNG, in this order: partition cut, loss, delay
 * (per-link base + per-message jitter), duplication (an independent copy
 * with its own jitter).  Drawing in a fixed order keeps replays exact.
 * The per-link base delay is a hash of (seed, src, dst) rather than an
 * N x N table: 1,000 nodes would need a million entries for a number that
 * can be recomputed.  Jitter larger than the spread of base delays is what
 * reorders messages between two nodes.
 *
 * A partition is checked again when the message arrives, so a cut also
 * drops what was in flight (a link that goes down loses its packets).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sh_assert.h"
#include "sh_log.h"
#include "sim.h"

/* ---- the failure context --------------------------------------------- */

static struct {
    const char *scenario;
    char case_name[128];
    uint64_t seed;
    const sim_t *world;
} g_ctx = {"?", "?", 0, NULL};

void sim_ctx_set(const sim_t *s)
{
    g_ctx.world = s;
}

static uint64_t sim_ctx_now(void)
{
    return g_ctx.world ? g_ctx.world->now : 0;
}

void sim_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "\nSIM FAIL scenario=%s case=%s seed=0x%016llx t=%llu ms (%s:%d)\n  ",
            g_ctx.scenario, g_ctx.case_name, (unsigned long long)g_ctx.seed,
            (unsigned long long)sim_ctx_now(), file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  replay: SHOAL_SIM_SEED=0x%016llx SHOAL_SIM_CASE='%s' ./sim_%s\n",
            (unsigned long long)g_ctx.seed, g_ctx.case_name, g_ctx.scenario);
    exit(1);
}

/* An SH_ASSERT inside a core aborts; say which run it was before dying.
 * fprintf is not async-signal-safe, but the process is going down anyway
 * and the message is what makes the abort reproducible. */
static void sim_on_abort(int sig)
{
    fprintf(stderr, "\nSIM ABORT scenario=%s case=%s seed=0x%016llx t=%llu ms\n"
                    "  replay: SHOAL_SIM_SEED=0x%016llx SHOAL_SIM_CASE='%s' ./sim_%s\n",
            g_ctx.scenario, g_ctx.case_name, (unsigned long long)g_ctx.seed,
            (unsigned long long)sim_ctx_now(), (unsigned long long)g_ctx.seed,
            g_ctx.case_name, g_ctx.scenario);
    signal(sig, SIG_DFL);
    raise(sig);
}

void sim_main_init(const char *scenario)
{
    g_ctx.scenario = scenario;
    signal(SIGABRT, sim_on_abort);
    const char *lv = getenv("SHOAL_SIM_LOG");
    int level = lv ? sh_log_level_parse(lv) : -1;
    sh_log_init("sim", level < 0 ? SH_LOG_ERROR : (enum sh_log_level)level, false);
    setvbuf(stdout, NULL, _IOLBF, 0);
}

bool sim_sanitized(void)
{
    const char *v = getenv("SHOAL_SANITIZED");
    return v && *v && strcmp(v, "0") != 0;
}

static uint64_t sim_str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

/* Does `want` match whole '/'-separated components of `name`?  "n=10"
 * selects "detect/n=10" but not "detect/n=100". */
static bool sim_case_match(const char *name, const char *want)
{
    size_t wl = strlen(want);
    for (const char *p = name; (p = strstr(p, want)) != NULL; p++) {
        bool start = p == name || p[-1] == '/';
        bool end = p[wl] == '\0' || p[wl] == '/';
        if (start && end)
            return true;
    }
    return false;
}

void sim_sweep(const char *case_name, uint32_t default_n, sim_case_fn fn,
               void *udata)
{
    const char *only = getenv("SHOAL_SIM_CASE");
    if (only && *only && !sim_case_match(case_name, only))
        return;
    snprintf(g_ctx.case_name, sizeof g_ctx.case_name, "%s", case_name);
    const char *one = getenv("SHOAL_SIM_SEED");
    if (one && *one) {
        g_ctx.seed = strtoull(one, NULL, 0);
        printf("case=%s seed=0x%016llx (replay)\n", case_name,
               (unsigned long long)g_ctx.seed);
        fn(g_ctx.seed, udata);
        return;
    }
    const char *ns = getenv("SHOAL_SIM_SEEDS");
    uint32_t n = ns && *ns ? (uint32_t)strtoul(ns, NULL, 0) : default_n;
    uint64_t x = sim_str_hash(case_name);
    for (uint32_t i = 0; i < n; i++) {
        g_ctx.seed = sh_splitmix64(&x);
        printf("case=%s seed=0x%016llx\n", case_name, (unsigned long long)g_ctx.seed);
        fn(g_ctx.seed, udata);
    }
}

/* ---- statistics ------------------------------------------------------ */

static int sim_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t sim_median(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, sim_u64_cmp);
    return v[n / 2];
}

uint64_t sim_max(const uint64_t *v, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* ---- the event heap -------------------------------------------------- */

static bool sim_ev_less(const sim_ev_t *a, const sim_ev_t *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

void sim_heap_push(sim_heap_t *h, const sim_ev_t *ev)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
        SH_ASSERT(h->v != NULL);
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!sim_ev_less(ev, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = *ev;
}

int sim_heap_pop(sim_heap_t *h, sim_ev_t *out)
{
    if (h->n == 0)
        return 0;
    *out = h->v[0];
    sim_ev_t last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && sim_ev_less(&h->v[c + 1], &h->v[c]))
            c++;
        if (!sim_ev_less(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return 1;
}

void sim_heap_fini(sim_heap_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i].payload);
    free(h->v);
    memset(h, 0, sizeof *h);
}

/* ---- the network ----------------------------------------------------- */

void sim_net_cfg_default(sim_net_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->delay_min_ms = 1;
    cfg->delay_max_ms = 10;
    cfg->jitter_ms = 10;
}

static uint64_t sim_link_base(const sim_t *s, uint32_t src, uint32_t dst)
{
    const sim_net_cfg_t *c = &s->cfg.net;
    uint64_t x = s->seed ^ ((uint64_t)src << 32 | dst);
    uint64_t h = sh_splitmix64(&x);
    uint32_t span = c->delay_max_ms >= c->delay_min_ms
                        ? c->delay_max_ms - c->delay_min_ms + 1 : 1;
    return c->delay_min_ms + h % span;
}

static uint64_t sim_link_delay(sim_t *s, uint32_t src, uint32_t dst)
{
    uint64_t d = sim_link_base(s, src, dst);
    if (s->cfg.net.jitter_ms)
        d += sh_rng_below(&s->rng, (uint64_t)s->cfg.net.jitter_ms + 1);
    return d;
}

static void sim_push(sim_t *s, uint8_t kind, uint64_t at, uint32_t src,
                     uint32_t dst, uint8_t *payload, size_t len)
{
    sim_ev_t ev = {
        .at = at, .seq = s->seq++, .kind = kind, .dst = dst, .src = src,
        .dst_gen = s->nodes[dst].gen, .payload = payload, .len = len,
    };
    sim_heap_push(&s->heap, &ev);
}

/* Takes payload (malloc'd) in every case. */
void sim_net_send(sim_t *s, uint32_t src, uint32_t dst, uint8_t *payload,
                  size_t len)
{
    sim_node_t *from = &s->nodes[src];
    from->tx.msgs++;
    from->tx.bytes += len;
    if (sim_payload_is_sync(payload, len)) {
        from->tx.sync_msgs++;
        from->tx.sync_bytes += len;
    }
    if (from->group != s->nodes[dst].group) {
        s->ctr.cut++;
        free(payload);
        return;
    }
    if (s->cfg.net.loss > 0 && sh_rng_unit(&s->rng) < s->cfg.net.loss) {
        s->ctr.lost++;
        free(payload);
        return;
    }
    uint64_t at = s->now + sim_link_delay(s, src, dst);
    bool dup = s->cfg.net.dup > 0 && sh_rng_unit(&s->rng) < s->cfg.net.dup;
    if (dup) {
        uint8_t *copy = malloc(len ? len : 1);
        SH_ASSERT(copy != NULL);
        memcpy(copy, payload, len);
        s->ctr.dup++;
        sim_push(s, SIM_EV_DELIVER, s->now + sim_link_delay(s, src, dst), src,
                 dst, copy, len);
    }
    sim_push(s, SIM_EV_DELIVER, at, src, dst, payload, len);
}

/* The TCP close of a crashed peer reaches dst after one link delay. */
void sim_net_hint(sim_t *s, uint32_t src_crashed, uint32_t dst)
{
    if (s->nodes[src_crashed].group != s->nodes[dst].group)
        return;
    sim_push(s, SIM_EV_HINT, s->now + sim_link_delay(s, src_crashed, dst),
             src_crashed, dst, NULL, 0);
}

/* Is this payload a full-state sync (SYNC or SYNC_ACK)?  The load scenario
 * reports those separately because they are O(N) by design.  We peek at the
 * documented layout (membership/swim_codec.c: a msgpack map whose first
 * key, as the encoder writes it, is "t" with the type as a small uint)
 * instead of decoding the whole message, which would double the cost of a
 * 1,000-member sync.  Anything else is counted as "not a sync". */
bool sim_payload_is_sync(const uint8_t *p, size_t len)
{
    size_t i;
    if (len < 4)
        return false;
    if ((p[0] & 0xf0) == 0x80)
        i = 1; /* fixmap */
    else if (p[0] == 0xde)
        i = 3; /* map16 */
    else
        return false;
    if (i + 3 > len || p[i] != 0xa1 || p[i + 1] != 't')
        return false;
    uint8_t t = p[i + 2];
    return t == 5 || t == 6; /* SWIM_MSG_SYNC, SWIM_MSG_SYNC_ACK */
}
