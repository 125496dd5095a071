/*
 * ent.c - the entities of one worker: table, activation, mailboxes, the
 * ready queue, the LRU list and passivation.
 *
 * Design notes.
 *
 * Table.  A chained hash keyed by (type name, id) with power-of-two
 * buckets, grown at load 1 and shrunk below 1/8 so a burst of activations
 * does not pin memory after passivation.  Only the worker mutates it, under
 * tab_mu; the worker's own lookups take no lock (it is the only writer),
 * other threads' lookups (wrk_entity_active) do.
 *
 * Memory per active idle entity (the budget is 256 bytes besides the
 * type's state): the ent_t header is 136 bytes plus the id, in one malloc
 * (glibc adds 8 and rounds to 16: 160 bytes for ids up to 15 bytes), plus
 * one bucket pointer per entity at load <= 1 (8-16 bytes).  The mailbox is
 * intrusive (three words, no allocation while empty), timers and turns are
 * allocated only when used.  Total: about 170 bytes for short ids
 * (measured: bench_local activate null), 28 of them for persistence (the
 * journal seq, the output-gate queue, events since the last snapshot).
 *
 * LRU.  The list holds active entities ordered by their last activity: a
 * call that is not a timer fire moves its entity to the tail when it is
 * queued and again when its turn ends.  Timer fires do not touch it, so
 * timers do not keep an entity alive.  The idle sweep pops expired
 * entities from the head, O(k) for k expired: an idle one is passivated;
 * a busy one (running a timer turn, or a turn longer than the idle
 * timeout) is unlinked and passivated when it next goes idle, unless a
 * call arrives first and relinks it.  Beyond max_active, activation evicts
 * the least recently used idle entity, scanning at most ENT_EVICT_SCAN
 * entries from the head; if all of those are busy the limit is exceeded
 * for now and enforced again as turns end (an entity in a turn or with
 * queued mail is never evicted).
 *
 * Ready queue.  An entity with mail and no open turn is queued once
 * (ENT_F_READY); the worker runs one call per entity per visit and
 * requeues it at the tail, so entities of a worker share it round-robin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ent_int.h"
#include "sh_assert.h"
#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

#define ENT_TAB_MIN 64

static uint32_t ent_hash(const char *type, const char *id, size_t idlen)
{
    return (uint32_t)XXH3_64bits_withSeed(id, idlen, XXH3_64bits(type, strlen(type)));
}

int ent_table_init(struct wrk *w)
{
    w->tab = calloc(ENT_TAB_MIN, sizeof *w->tab);
    if (!w->tab)
        return -ENOMEM;
    w->tab_nb = ENT_TAB_MIN;
    w->tab_n = 0;
    pthread_mutex_init(&w->tab_mu, NULL);
    return 0;
}

void ent_table_fini(struct wrk *w)
{
    SH_ASSERT(w->tab_n == 0);
    free(w->tab);
    w->tab = NULL;
    pthread_mutex_destroy(&w->tab_mu);
}

static ent_t *ent_find(struct wrk *w, const char *type, const char *id, uint32_t h)
{
    for (ent_t *e = w->tab[h & (w->tab_nb - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->id, id) == 0 && strcmp(e->type->name, type) == 0)
            return e;
    return NULL;
}

/* Rehash into nb buckets; on allocation failure keep the old table (a
 * longer chain is slower, not wrong).  Caller holds tab_mu. */
static void ent_table_resize(struct wrk *w, uint32_t nb)
{
    ent_t **nt = calloc(nb, sizeof *nt);
    if (!nt)
        return;
    for (uint32_t i = 0; i < w->tab_nb; i++) {
        ent_t *e = w->tab[i];
        while (e) {
            ent_t *nx = e->hnext;
            e->hnext = nt[e->hash & (nb - 1)];
            nt[e->hash & (nb - 1)] = e;
            e = nx;
        }
    }
    free(w->tab);
    w->tab = nt;
    w->tab_nb = nb;
}

static void ent_table_insert(struct wrk *w, ent_t *e)
{
    pthread_mutex_lock(&w->tab_mu);
    ent_t **b = &w->tab[e->hash & (w->tab_nb - 1)];
    e->hnext = *b;
    *b = e;
    if (++w->tab_n > w->tab_nb)
        ent_table_resize(w, w->tab_nb * 2);
    pthread_mutex_unlock(&w->tab_mu);
}

static void ent_table_remove(struct wrk *w, ent_t *e)
{
    pthread_mutex_lock(&w->tab_mu);
    ent_t **p = &w->tab[e->hash & (w->tab_nb - 1)];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    if (--w->tab_n < w->tab_nb / 8 && w->tab_nb > ENT_TAB_MIN)
        ent_table_resize(w, w->tab_nb / 2);
    pthread_mutex_unlock(&w->tab_mu);
}

bool wrk_entity_active(wrk_t *w, const char *type, const char *id)
{
    if (!type || !id)
        return false;
    uint32_t h = ent_hash(type, id, strlen(id));
    pthread_mutex_lock(&w->tab_mu);
    bool found = ent_find(w, type, id, h) != NULL;
    pthread_mutex_unlock(&w->tab_mu);
    return found;
}

/* ---- LRU list */

static void lru_unlink(struct wrk *w, ent_t *e)
{
    if (!(e->flags & ENT_F_LINKED))
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        w->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        w->lru_tail = e->prev;
    e->prev = e->next = NULL;
    e->flags &= ~ENT_F_LINKED;
}

/* Activity: e becomes the most recently used. */
static void lru_touch(struct wrk *w, ent_t *e)
{
    lru_unlink(w, e);
    e->last_ms = uv_now(&w->loop);
    e->prev = w->lru_tail;
    e->next = NULL;
    if (w->lru_tail)
        w->lru_tail->next = e;
    else
        w->lru_head = e;
    w->lru_tail = e;
    e->flags |= ENT_F_LINKED;
}

/* Idle: no turn, no mail, and no output waiting for the journal (an
 * entity with pends must stay: its pends point at it, and a reactivation
 * would read a journal that lacks them). */
static bool ent_idle(const ent_t *e)
{
    return !e->turn && mbox_len(&e->mbox) == 0 && !(e->flags & ENT_F_READY) && !e->pq_head;
}

/* ---- ready queue */

static void ent_ready_push(struct wrk *w, ent_t *e)
{
    if (e->flags & ENT_F_READY)
        return;
    e->flags |= ENT_F_READY;
    e->rnext = NULL;
    if (w->ready_tail)
        w->ready_tail->rnext = e;
    else
        w->ready_head = e;
    w->ready_tail = e;
}

ent_t *ent_ready_pop(struct wrk *w)
{
    ent_t *e = w->ready_head;
    if (!e)
        return NULL;
    w->ready_head = e->rnext;
    if (!w->ready_head)
        w->ready_tail = NULL;
    e->rnext = NULL;
    e->flags &= ~ENT_F_READY;
    return e;
}

/* Remove the entities of `shard` (or all, shard == UINT32_MAX) from the
 * ready queue.  O(queue): shard release and shutdown only. */
static void ent_ready_filter(struct wrk *w, uint32_t shard)
{
    ent_t *keep_h = NULL, *keep_t = NULL, *e;
    while ((e = ent_ready_pop(w))) {
        if (shard == UINT32_MAX || e->shard == shard)
            continue;
        e->flags |= ENT_F_READY;
        if (keep_t)
            keep_t->rnext = e;
        else
            keep_h = e;
        keep_t = e;
    }
    w->ready_head = keep_h;
    w->ready_tail = keep_t;
}

/* ---- mailboxes, with the depth histogram and the deepest-mailbox gauge */

static const uint32_t depth_bounds[WRK_DEPTH_BUCKETS - 1] = {0, 1, 2, 5, 10, 100, 1000};

int ent_enqueue(struct wrk *w, ent_t *e, call_t *c)
{
    uint32_t d = mbox_len(&e->mbox);
    if (mbox_push(&e->mbox, c, w->cfg.mailbox_max) != 0)
        return SH_EBUSY;
    size_t b = 0;
    while (b < WRK_DEPTH_BUCKETS - 1 && d > depth_bounds[b])
        b++;
    WRK_INC(w, depth[b]);
    if (d > 0)
        w->depth_cnt[d]--;
    w->depth_cnt[d + 1]++;
    if (d + 1 > w->depth_max) {
        w->depth_max = d + 1;
        wrk_cnt_set(&w->st.depth_max, w->depth_max);
    }
    if (!e->turn)
        ent_ready_push(w, e);
    return 0;
}

call_t *ent_mbox_pop(struct wrk *w, ent_t *e)
{
    uint32_t d = mbox_len(&e->mbox);
    call_t *c = mbox_pop(&e->mbox);
    if (!c)
        return NULL;
    w->depth_cnt[d]--;
    if (d > 1)
        w->depth_cnt[d - 1]++;
    while (w->depth_max > 0 && w->depth_cnt[w->depth_max] == 0)
        w->depth_max--;
    wrk_cnt_set(&w->st.depth_max, w->depth_max);
    return c;
}

/* ---- activation and passivation */

/* Free e: timers, state (unless already destroyed), table, LRU, counts.
 * e has no open turn, empty mailbox and is not in the ready queue. */
static void ent_remove(struct wrk *w, ent_t *e, bool destroy)
{
    SH_ASSERT(!e->turn && mbox_len(&e->mbox) == 0 && !(e->flags & ENT_F_READY));
    ent_jrnl_detach(e);
    ent_timers_drop(w, e);
    if (destroy && e->type->destroy)
        e->type->destroy(e->state, e->type->udata);
    lru_unlink(w, e);
    ent_table_remove(w, e);
    atomic_fetch_sub_explicit(&w->shard_active[e->shard / w->cfg.nworkers], 1,
                              memory_order_relaxed);
    w->active--;
    wrk_cnt_set(&w->st.active, w->active);
    free(e);
}

static void ent_passivate(struct wrk *w, ent_t *e)
{
    ent_jrnl_passivate(w, e);
    ent_remove(w, e, true);
    WRK_INC(w, passivations);
}

/* Passivate least recently used idle entities until there is room for one
 * more (or none of the oldest ENT_EVICT_SCAN is idle). */
static void ent_make_room(struct wrk *w, uint64_t limit)
{
    while (w->cfg.max_active && w->active >= limit) {
        ent_t *e = w->lru_head;
        for (int i = 0; e && i < ENT_EVICT_SCAN && !ent_idle(e); i++)
            e = e->next;
        if (!e || !ent_idle(e))
            return;
        ent_passivate(w, e);
    }
}

/* Activate (type, id) for c: 0 with *out, or a code for c. */
static int ent_activate(struct wrk *w, call_t *c, uint32_t h, ent_t **out)
{
    const shoal_entity_type_t *type = reg_find(w->cfg.reg, c->type);
    if (!type)
        return SH_ENOT_FOUND;
    ent_make_room(w, w->cfg.max_active);
    size_t idlen = strlen(c->id);
    ent_t *e = calloc(1, offsetof(ent_t, id) + idlen + 1);
    if (!e)
        return -ENOMEM;
    memcpy(e->id, c->id, idlen + 1);
    e->idlen = (uint16_t)idlen;
    e->type = type;
    e->shard = c->shard;
    e->hash = h;
    if (type->create) {
        int rc = type->create(&e->state, e->id, type->udata);
        if (rc != 0) {
            free(e);
            return rc < 0 && rc != SH_ENOT_FOUND ? rc : SH_EINTERNAL;
        }
    }
    /* A journal that cannot be replayed leaves the entity active but
     * refusing calls (ENT_F_REFUSE) until it passivates: running on wrong
     * state would be worse than not running. */
    ent_jrnl_recover(w, e);
    ent_table_insert(w, e);
    atomic_fetch_add_explicit(&w->shard_active[e->shard / w->cfg.nworkers], 1,
                              memory_order_relaxed);
    w->active++;
    wrk_cnt_set(&w->st.active, w->active);
    WRK_INC(w, activations);
    lru_touch(w, e);
    *out = e;
    return 0;
}

/* A tell is answered when queued, but the queued message must live on:
 * the caller's envelope goes back to its on_done, so a copy (taking over
 * the body) is what waits in the mailbox.  NULL on allocation failure. */
static call_t *ent_tell_detach(call_t *c)
{
    call_t *d;
    if (call_new(&d, CALL_TELL, c->type, c->id, c->method, NULL, 0, c->deadline_ms, 1) != 0)
        return NULL;
    d->shard = c->shard;
    d->flags = c->flags;
    d->body = c->body;
    d->len = c->len;
    c->body = NULL;
    c->len = 0;
    return d;
}

static void ent_fail(call_t *c, int rc)
{
    char msg[CALL_MSG_MAX];
    if (rc == SH_ENOT_FOUND)
        snprintf(msg, sizeof msg, "unknown entity type '%.63s'", c->type);
    else
        snprintf(msg, sizeof msg, "cannot activate %.40s/%.80s: %.80s", c->type, c->id,
                 sh_strerror(rc));
    call_complete(c, rc, NULL, 0, msg);
}

void ent_deliver(struct wrk *w, call_t *c)
{
    if (c->shard % w->cfg.nworkers != w->cfg.index || c->shard >= w->cfg.shards) {
        call_complete(c, SH_EUNAVAILABLE, NULL, 0, "call for a shard this worker does not serve");
        return;
    }
    uint32_t h = ent_hash(c->type, c->id, strlen(c->id));
    ent_t *e = ent_find(w, c->type, c->id, h);
    if (!e && (c->kind == CALL_TIMER_GET || c->kind == CALL_TIMER_DEL)) {
        call_complete(c, SH_ENOT_FOUND, NULL, 0, "no such timer (entity not active)");
        return;
    }
    if (!e) {
        int rc = ent_activate(w, c, h, &e);
        if (rc != 0) {
            ent_fail(c, rc);
            return;
        }
    }
    if (!(c->flags & CALL_F_TIMER))
        lru_touch(w, e);
    if (c->kind == CALL_TIMER_SET || c->kind == CALL_TIMER_DEL || c->kind == CALL_TIMER_GET) {
        ent_timer_call(w, e, c);
        return;
    }
    call_t *q = c;
    if (c->kind == CALL_TELL && c->on_done && !(q = ent_tell_detach(c))) {
        call_complete(c, SH_ENOMEM, NULL, 0, "out of memory queueing a tell");
        return;
    }
    if (ent_enqueue(w, e, q) != 0) {
        WRK_INC(w, busy_rejections);
        char msg[CALL_MSG_MAX];
        snprintf(msg, sizeof msg, "mailbox of %.63s/%.150s is full (%u calls)", c->type, c->id,
                 w->cfg.mailbox_max);
        if (q != c)
            call_free(q);
        call_complete(c, SH_EBUSY, NULL, 0, msg);
        return;
    }
    if (q != c)
        call_complete(c, 0, NULL, 0, NULL);
}

/* Throw e's state away and build it again: create, then replay the
 * journal (persistent types).  Mail waiting is served by the new state;
 * if the state cannot be created the mail fails and e is freed. */
static void ent_reload(struct wrk *w, ent_t *e)
{
    ent_timers_drop(w, e);
    if (e->type->destroy)
        e->type->destroy(e->state, e->type->udata);
    e->state = NULL;
    e->flags &= (uint16_t)~ENT_F_BROKEN;
    int rc = e->type->create ? e->type->create(&e->state, e->id, e->type->udata) : 0;
    if (rc == 0) {
        WRK_INC(w, activations);
        ent_jrnl_recover(w, e);
        if (mbox_len(&e->mbox) > 0)
            ent_ready_push(w, e);
        else if (!(e->flags & ENT_F_REFUSE))
            lru_touch(w, e);
        return;
    }
    call_t *c;
    while ((c = ent_mbox_pop(w, e)))
        call_complete(c, rc < 0 ? rc : SH_EINTERNAL, NULL, 0, "reactivation failed");
    ent_remove(w, e, false);
}

/* The handler reported corrupt state: drop the state and timers and
 * reload it (create, replay the journal) - at once if nothing of e is
 * waiting for the journal, else once its pends drain (ENT_F_BROKEN).
 * With no mail waiting e is simply forgotten: the next call activates it
 * afresh. */
static void ent_corrupt(struct wrk *w, ent_t *e)
{
    SH_LOGW("entity_corrupt", "type=%s id=%s", e->type->name, e->id);
    if (e->pq_head) {
        e->flags |= ENT_F_BROKEN;
        return;
    }
    if (mbox_len(&e->mbox) == 0) {
        ent_remove(w, e, true);
        return;
    }
    ent_reload(w, e);
}

void ent_pends_drained(struct wrk *w, ent_t *e)
{
    if (e->turn)
        return; /* the open turn's end decides */
    if (e->flags & ENT_F_BROKEN) {
        ent_reload(w, e);
        return;
    }
    if (mbox_len(&e->mbox) > 0) {
        ent_ready_push(w, e);
        return;
    }
    if (!(e->flags & ENT_F_LINKED)) {
        ent_passivate(w, e);
        return;
    }
    if (w->cfg.max_active && w->active > w->cfg.max_active)
        ent_make_room(w, w->cfg.max_active + 1);
}

void ent_after_turn(struct wrk *w, ent_t *e, bool activity, bool corrupt)
{
    if (corrupt) {
        ent_corrupt(w, e);
        return;
    }
    if (activity)
        lru_touch(w, e);
    if (e->flags & ENT_F_BROKEN) {
        if (!e->pq_head)
            ent_reload(w, e);
        return; /* else reloaded when its pends drain */
    }
    if (mbox_len(&e->mbox) > 0) {
        ent_ready_push(w, e);
        return;
    }
    if (e->pq_head)
        return; /* idle once its output is released (ent_pends_drained) */
    if (!(e->flags & ENT_F_LINKED)) {
        /* The idle sweep found it expired while a timer turn ran. */
        ent_passivate(w, e);
        return;
    }
    if (w->cfg.max_active && w->active > w->cfg.max_active)
        ent_make_room(w, w->cfg.max_active + 1);
}

void ent_sweep(struct wrk *w, uint64_t now)
{
    ent_t *e;
    while ((e = w->lru_head) && now - e->last_ms >= w->cfg.idle_timeout_ms) {
        if (ent_idle(e))
            ent_passivate(w, e);
        else
            lru_unlink(w, e);
    }
}

/* Complete e's mail and open turn with `status`, then free it. */
static void ent_drop(struct wrk *w, ent_t *e, int status, const char *msg)
{
    call_t *c;
    if (e->turn)
        ent_turn_abandon(w, e->turn, status, msg);
    while ((c = ent_mbox_pop(w, e)))
        call_complete(c, status, NULL, 0, msg);
    ent_remove(w, e, true);
}

/* Take every entity of `shard` (or all) out of the table into a list
 * linked through rnext (free once the ready queue was filtered). */
static ent_t *ent_collect(struct wrk *w, uint32_t shard)
{
    ent_t *list = NULL;
    for (uint32_t i = 0; i < w->tab_nb; i++)
        for (ent_t *e = w->tab[i]; e; e = e->hnext)
            if (shard == UINT32_MAX || e->shard == shard) {
                e->rnext = list;
                list = e;
            }
    return list;
}

void ent_release_shard(struct wrk *w, uint32_t shard)
{
    ent_ready_filter(w, shard);
    ent_t *e = ent_collect(w, shard), *nx;
    uint32_t n = 0;
    for (; e; e = nx, n++) {
        nx = e->rnext;
        ent_drop(w, e, SH_EUNAVAILABLE, "shard moved to another node");
    }
    if (n)
        SH_LOGI("shard_released", "worker=%u shard=%u entities=%u", w->cfg.index, shard, n);
}

void ent_close_all(struct wrk *w)
{
    ent_ready_filter(w, UINT32_MAX);
    ent_t *e = ent_collect(w, UINT32_MAX), *nx;
    for (; e; e = nx) {
        nx = e->rnext;
        ent_drop(w, e, SH_ECLOSED, "worker shutting down");
    }
}
