/*
 * node_rem.c - the durable reminder scheduler of a node (node loop).
 *
 * Design notes.
 *
 * The journal is the truth; this is an index of when each reminder of the
 * shards this node owns fires next: a hash map by (shard, type, id, name)
 * and a min-heap by due time (wall clock: reminders are durable across
 * restarts, so monotonic time means nothing to them), behind one uv timer.
 *
 * It learns reminders three ways: a scan of the journal for every shard
 * the node acquires (start-up included), a change reported by a worker
 * after a reminder set / delete / fire commits (node_rem_changed, any
 * thread, queued under a mutex and taken on the loop), and a re-read of
 * the journal after a fire completes without a change (the worker skipped
 * it, or it failed: then it is retried a second later).
 *
 * A fire is an ordinary call - method "remind/<name>", CALL_F_REMINDER -
 * routed like any other, so it activates the entity on its worker.  It
 * fires only if this node still owns the shard; a shard that moved away is
 * forgotten here and loaded by its new owner (which reads its own journal;
 * shipping the journal is the handoff issue's).  While a fire is in
 * flight its entry sits outside the heap (`inflight`) so it fires once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "jrnl.h"
#include "node_int.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

#define REM_RETRY_MS 1000
#define REM_ARM_MAX_MS 60000 /* re-check at least this often (wall clock jumps) */
#define REM_NONE UINT32_MAX

typedef struct rem_ent {
    struct rem_ent *hnext;
    uint64_t due;     /* wall ms */
    uint64_t hash;
    uint32_t idx;     /* heap position, REM_NONE when not in the heap */
    uint32_t shard;
    bool inflight;
    char *type, *id, *name; /* into key[] */
    char key[];       /* type \0 id \0 name \0 */
} rem_ent_t;

/* A change from a worker, or a completed fire. */
typedef struct rem_msg {
    struct rem_msg *next;
    bool fired;       /* a fire completed (status) rather than a change */
    int status;
    uint64_t due;     /* change: next due, 0 = deleted */
    uint32_t shard;
    char key[];       /* type \0 id \0 name \0 */
} rem_msg_t;

struct node_rem {
    node_t *n;
    uv_timer_t timer;
    uv_async_t async;
    bool handles;
    pthread_mutex_t mu;
    bool open;        /* under mu: async may be signalled */
    rem_msg_t *mhead, *mtail;
    rem_ent_t **tab;
    uint32_t nb, count;
    rem_ent_t **heap;
    uint32_t hn, hcap;
    uint64_t fired;
};

/* ---- keys */

static size_t key_build(char *dst, const char *type, const char *id, const char *name)
{
    size_t a = strlen(type) + 1, b = strlen(id) + 1, c = strlen(name) + 1;
    if (dst) {
        memcpy(dst, type, a);
        memcpy(dst + a, id, b);
        memcpy(dst + a + b, name, c);
    }
    return a + b + c;
}

static uint64_t key_hash(uint32_t shard, const char *key, size_t len)
{
    return XXH3_64bits_withSeed(key, len, shard);
}

/* ---- the heap */

static void heap_set(struct node_rem *r, uint32_t i, rem_ent_t *e)
{
    r->heap[i] = e;
    e->idx = i;
}

static void heap_up(struct node_rem *r, uint32_t i)
{
    rem_ent_t *e = r->heap[i];
    while (i > 0 && r->heap[(i - 1) / 2]->due > e->due) {
        heap_set(r, i, r->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(r, i, e);
}

static void heap_down(struct node_rem *r, uint32_t i)
{
    rem_ent_t *e = r->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= r->hn)
            break;
        if (c + 1 < r->hn && r->heap[c + 1]->due < r->heap[c]->due)
            c++;
        if (r->heap[c]->due >= e->due)
            break;
        heap_set(r, i, r->heap[c]);
        i = c;
    }
    heap_set(r, i, e);
}

static int heap_push(struct node_rem *r, rem_ent_t *e)
{
    if (r->hn == r->hcap) {
        uint32_t cap = r->hcap ? r->hcap * 2 : 64;
        rem_ent_t **v = realloc(r->heap, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->heap = v;
        r->hcap = cap;
    }
    heap_set(r, r->hn++, e);
    heap_up(r, e->idx);
    return 0;
}

static void heap_remove(struct node_rem *r, rem_ent_t *e)
{
    uint32_t i = e->idx;
    if (i == REM_NONE)
        return;
    e->idx = REM_NONE;
    rem_ent_t *last = r->heap[--r->hn];
    if (i == r->hn)
        return;
    heap_set(r, i, last);
    heap_up(r, i);
    heap_down(r, last->idx);
}

/* ---- the map */

static rem_ent_t **map_slot(struct node_rem *r, uint32_t shard, const char *key, size_t len,
                            uint64_t h)
{
    rem_ent_t **p = &r->tab[h & (r->nb - 1)];
    for (; *p; p = &(*p)->hnext)
        if ((*p)->hash == h && (*p)->shard == shard && memcmp((*p)->key, key, len) == 0)
            break;
    return p;
}

static void map_grow(struct node_rem *r)
{
    uint32_t nb = r->nb * 2;
    rem_ent_t **t = calloc(nb, sizeof *t);
    if (!t)
        return; /* longer chains, still correct */
    for (uint32_t i = 0; i < r->nb; i++)
        for (rem_ent_t *e = r->tab[i], *nx; e; e = nx) {
            nx = e->hnext;
            e->hnext = t[e->hash & (nb - 1)];
            t[e->hash & (nb - 1)] = e;
        }
    free(r->tab);
    r->tab = t;
    r->nb = nb;
}

static void ent_forget(struct node_rem *r, rem_ent_t **slot)
{
    rem_ent_t *e = *slot;
    heap_remove(r, e);
    *slot = e->hnext;
    r->count--;
    free(e);
}

/* Set (shard, key)'s next fire to due (0: forget it). */
static void rem_upsert(struct node_rem *r, uint32_t shard, const char *key, size_t len,
                       uint64_t due)
{
    uint64_t h = key_hash(shard, key, len);
    rem_ent_t **slot = map_slot(r, shard, key, len, h), *e = *slot;
    if (!due) {
        if (e)
            ent_forget(r, slot);
        return;
    }
    if (!e) {
        if (!(e = calloc(1, sizeof *e + len)))
            return;
        memcpy(e->key, key, len);
        e->type = e->key;
        e->id = e->type + strlen(e->type) + 1;
        e->name = e->id + strlen(e->id) + 1;
        e->hash = h;
        e->shard = shard;
        e->idx = REM_NONE;
        e->hnext = r->tab[h & (r->nb - 1)];
        r->tab[h & (r->nb - 1)] = e;
        if (++r->count > r->nb)
            map_grow(r);
    }
    e->inflight = false;
    e->due = due;
    if (e->idx == REM_NONE) {
        if (heap_push(r, e) != 0)
            SH_LOGW("reminder_dropped", "type=%s id=%s name=%s err=\"out of memory\"", e->type,
                    e->id, e->name);
    } else {
        heap_up(r, e->idx);
        heap_down(r, e->idx);
    }
}

/* ---- firing */

static void rem_timer_cb(uv_timer_t *h);

static void rem_arm(struct node_rem *r)
{
    if (!r->handles)
        return;
    if (!r->hn) {
        uv_timer_stop(&r->timer);
        return;
    }
    uint64_t now = sh_time_wall_ms(), due = r->heap[0]->due;
    uint64_t ms = due > now ? due - now : 0;
    uv_timer_start(&r->timer, rem_timer_cb, ms > REM_ARM_MAX_MS ? REM_ARM_MAX_MS : ms, 0);
}

static void rem_post(struct node_rem *r, rem_msg_t *m)
{
    pthread_mutex_lock(&r->mu);
    bool open = r->open;
    if (open) {
        m->next = NULL;
        if (r->mtail)
            r->mtail->next = m;
        else
            r->mhead = m;
        r->mtail = m;
        uv_async_send(&r->async);
    }
    pthread_mutex_unlock(&r->mu);
    if (!open)
        free(m);
}

/* on_done of a fire (any thread). */
static void rem_fire_done(call_t *c)
{
    struct node_rem *r = c->done_arg;
    size_t len = key_build(NULL, c->type, c->id, c->method + 7);
    rem_msg_t *m = malloc(sizeof *m + len);
    if (m) {
        m->fired = true;
        m->status = c->status;
        m->due = 0;
        m->shard = c->shard;
        key_build(m->key, c->type, c->id, c->method + 7);
        rem_post(r, m);
    }
    call_free(c);
}

static void rem_fire(struct node_rem *r, rem_ent_t *e)
{
    node_t *n = r->n;
    char method[SHOAL_METHOD_MAX];
    if ((size_t)snprintf(method, sizeof method, "remind/%s", e->name) >= sizeof method)
        return;
    call_t *c;
    uint64_t deadline = sh_time_mono_ms() + n->cfg.call_timeout_ms;
    if (call_new(&c, CALL_ASK, e->type, e->id, method, NULL, 0, deadline, n->cfg.shards) != 0) {
        e->due = sh_time_wall_ms() + REM_RETRY_MS;
        heap_push(r, e);
        return;
    }
    c->flags |= CALL_F_REMINDER;
    c->on_done = rem_fire_done;
    c->done_arg = r;
    e->inflight = true;
    r->fired++;
    node_call_route(n, c);
}

static void rem_timer_cb(uv_timer_t *h)
{
    struct node_rem *r = h->data;
    uint64_t now = sh_time_wall_ms();
    while (r->hn && r->heap[0]->due <= now) {
        rem_ent_t *e = r->heap[0];
        heap_remove(r, e);
        if (!route_owns(r->n->route, e->shard)) { /* moved away: its new owner fires it */
            size_t len = key_build(NULL, e->type, e->id, e->name);
            ent_forget(r, map_slot(r, e->shard, e->key, len, e->hash));
            continue;
        }
        rem_fire(r, e);
    }
    rem_arm(r);
}

/* ---- loading from the journal */

typedef struct rem_load {
    struct node_rem *r;
    uint32_t n;
} rem_load_t;

static int rem_load_cb(void *arg, const jrnl_rem_t *rem)
{
    rem_load_t *x = arg;
    char key[3 * SHOAL_ENTITY_ID_MAX];
    if (strlen(rem->type) + strlen(rem->id) + strlen(rem->name) + 3 > sizeof key)
        return 0;
    size_t len = key_build(key, rem->type, rem->id, rem->name);
    rem_upsert(x->r, rem->shard, key, len, rem->due_wall_ms ? rem->due_wall_ms : 1);
    x->n++;
    return 0;
}

/* After a fire without a change: the journal says what is next. */
static void rem_reload_one(struct node_rem *r, rem_msg_t *m)
{
    const char *type = m->key, *id = type + strlen(type) + 1, *name = id + strlen(id) + 1;
    size_t len = key_build(NULL, type, id, name);
    uint64_t h = key_hash(m->shard, m->key, len);
    rem_ent_t *e = *map_slot(r, m->shard, m->key, len, h);
    if (!e || !e->inflight)
        return; /* a change came first and already rescheduled it */
    jrnl_ent_t je = {.shard = m->shard, .type = type, .id = id};
    rem_load_t x = {.r = r};
    int rc = jrnl_rem_get(r->n->jrnl, &je, name, rem_load_cb, &x);
    if (rc == SH_ENOT_FOUND) {
        rem_upsert(r, m->shard, m->key, len, 0);
        return;
    }
    /* rem_load_cb rescheduled it at its stored due time; a failed fire
     * leaves that in the past: retry a little later, not in a tight loop. */
    uint64_t retry = sh_time_wall_ms() + REM_RETRY_MS;
    if (rc != 0 || e->inflight || e->due < retry)
        rem_upsert(r, m->shard, m->key, len, rc == 0 && !e->inflight && e->due >= retry
                                                   ? e->due : retry);
}

static void rem_async_cb(uv_async_t *h)
{
    struct node_rem *r = h->data;
    pthread_mutex_lock(&r->mu);
    rem_msg_t *m = r->mhead;
    r->mhead = r->mtail = NULL;
    pthread_mutex_unlock(&r->mu);
    for (rem_msg_t *nx; m; m = nx) {
        nx = m->next;
        if (m->fired) {
            rem_reload_one(r, m);
        } else {
            const char *t = m->key, *i = t + strlen(t) + 1, *nm = i + strlen(i) + 1;
            rem_upsert(r, m->shard, m->key, key_build(NULL, t, i, nm), m->due);
        }
        free(m);
    }
    rem_arm(r);
}

/* ---- node_int.h */

void node_rem_changed(void *node, uint32_t shard, const char *type, const char *id,
                      const char *name, uint64_t due_wall_ms)
{
    node_t *n = node;
    if (!n->rem)
        return;
    size_t len = key_build(NULL, type, id, name);
    rem_msg_t *m = malloc(sizeof *m + len);
    if (!m)
        return; /* the journal still has it: the next acquisition reloads it */
    m->fired = false;
    m->status = 0;
    m->due = due_wall_ms;
    m->shard = shard;
    key_build(m->key, type, id, name);
    rem_post(n->rem, m);
}

void node_rem_acquired(node_t *n, const uint32_t *shards, size_t count)
{
    struct node_rem *r = n->rem;
    if (!r || !n->jrnl)
        return;
    rem_load_t x = {.r = r};
    for (size_t i = 0; i < count; i++) {
        int rc = jrnl_rem_scan(n->jrnl, shards[i], rem_load_cb, &x);
        if (rc != 0)
            SH_LOGW("reminder_load_failed", "shard=%u err=\"%s\"", shards[i], sh_strerror(rc));
    }
    if (x.n)
        SH_LOGI("reminders_loaded", "shards=%zu reminders=%u", count, x.n);
    rem_arm(r);
}

int node_rem_start(node_t *n)
{
    struct node_rem *r = calloc(1, sizeof *r);
    if (!r || !(r->tab = calloc(64, sizeof *r->tab))) {
        free(r);
        return -ENOMEM;
    }
    r->nb = 64;
    r->n = n;
    pthread_mutex_init(&r->mu, NULL);
    uv_timer_init(&n->loop, &r->timer);
    uv_async_init(&n->loop, &r->async, rem_async_cb);
    r->timer.data = r->async.data = r;
    r->handles = true;
    r->open = true;
    n->rem = r;
    /* rem_arm starts the timer with this callback */
    uv_timer_start(&r->timer, rem_timer_cb, REM_ARM_MAX_MS, 0);
    return 0;
}

void node_rem_stop(node_t *n)
{
    struct node_rem *r = n->rem;
    if (!r || !r->handles)
        return;
    pthread_mutex_lock(&r->mu);
    r->open = false;
    rem_msg_t *m = r->mhead;
    r->mhead = r->mtail = NULL;
    pthread_mutex_unlock(&r->mu);
    for (rem_msg_t *nx; m; m = nx) {
        nx = m->next;
        free(m);
    }
    r->handles = false;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
    uv_close((uv_handle_t *)&r->async, NULL);
}

void node_rem_free(node_t *n)
{
    struct node_rem *r = n->rem;
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nb; i++)
        for (rem_ent_t *e = r->tab[i], *nx; e; e = nx) {
            nx = e->hnext;
            free(e);
        }
    free(r->tab);
    free(r->heap);
    pthread_mutex_destroy(&r->mu);
    free(r);
    n->rem = NULL;
}

uint64_t node_rem_pending(node_t *n)
{
    return n->rem ? n->rem->count : 0;
}

uint64_t node_rem_fired(node_t *n)
{
    return n->rem ? n->rem->fired : 0;
}
