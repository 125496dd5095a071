/*
 * tp_fault.c - fault injection on the real network: drop, delay and cut.
 *
 * Design notes.  This is the real-network twin of the simulator's seeded
 * network, used by tests and by the chaos harness against running nodes.
 * A small table maps a peer address (or NULL: every peer) to a fault.
 * tp_send consults it before queueing a frame:
 *   - cut: the frame is dropped and counted (drop_fault); tp_send still
 *     returns 0, because to the caller it must look like network loss;
 *   - drop_prob: the same, with that probability per frame;
 *   - delay_ms: the frame is queued with a release time; the peer's queue
 *     is FIFO, so a held head holds everything behind it and order per
 *     peer is preserved even when the delay is lifted or shortened.
 * Incoming frames can only be attributed after the header is decoded, so
 * the adapter asks tp_fault_blocks_incoming(src_addr) and drops them
 * itself: a cut is symmetric only if both sides apply it.
 *
 * Entries that match a peer combine (its own entry and the NULL entry):
 * cut if any is cut, drop probabilities compose as independent losses,
 * the longest delay wins.  That lets a chaos run add a global 1% loss on
 * top of a partition without the one masking the other.
 *
 * The drop RNG is seeded from the clock and pid, since real-network runs
 * are not replayable anyway; tp_fault_seed fixes it when a test needs a
 * repeatable pattern.  The table has its own lock so the per-frame check
 * never contends with the peer queues' lock.
 *
 * What it does not do: no reordering or duplication (the simulator covers
 * those), no bandwidth shaping, no per-kind rules.
 */
#include <string.h>
#include <unistd.h>

#include "sh_err.h"
#include "sh_time.h"
#include "tp_int.h"

void tp_faults_init(tp_faults_t *fs)
{
    memset(fs, 0, sizeof(*fs));
    pthread_mutex_init(&fs->mu, NULL);
    sh_rng_seed(&fs->rng, sh_time_wall_ms() ^ sh_time_mono_ms() << 20 ^
                              (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)fs);
}

void tp_faults_fini(tp_faults_t *fs)
{
    pthread_mutex_destroy(&fs->mu);
}

static bool tp_fault_ent_matches(const tp_fault_ent_t *e, const char *addr)
{
    return e->any || (addr != NULL && strcmp(e->addr, addr) == 0);
}

bool tp_faults_drop(tp_faults_t *fs, const char *addr, uint32_t *delay_ms)
{
    bool cut = false, drop = false;
    double keep = 1.0;

    *delay_ms = 0;
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < fs->n; i++) {
        const tp_fault_ent_t *e = &fs->ents[i];
        if (!tp_fault_ent_matches(e, addr))
            continue;
        cut |= e->f.cut;
        keep *= 1.0 - e->f.drop_prob;
        if (e->f.delay_ms > *delay_ms)
            *delay_ms = e->f.delay_ms;
    }
    if (cut)
        drop = true;
    else if (keep < 1.0)
        drop = sh_rng_unit(&fs->rng) >= keep;
    pthread_mutex_unlock(&fs->mu);
    return drop;
}

/* The entry for addr (NULL = the every-peer entry), or NULL. */
static tp_fault_ent_t *tp_fault_find(tp_faults_t *fs, const char *addr)
{
    for (size_t i = 0; i < fs->n; i++) {
        tp_fault_ent_t *e = &fs->ents[i];
        if (addr == NULL ? e->any : (!e->any && strcmp(e->addr, addr) == 0))
            return e;
    }
    return NULL;
}

int tp_fault_set(tp_t *t, const char *addr, const tp_fault_t *f)
{
    tp_faults_t *fs = &t->faults;
    bool clear = f->drop_prob == 0.0 && f->delay_ms == 0 && !f->cut;
    int rc = 0;

    /* Written so that NaN fails too. */
    if (!(f->drop_prob >= 0.0 && f->drop_prob <= 1.0))
        return SH_EBAD_REQUEST;
    if (addr != NULL && strnlen(addr, TP_ADDR_MAX) >= TP_ADDR_MAX)
        return SH_EBAD_REQUEST;
    pthread_mutex_lock(&fs->mu);
    tp_fault_ent_t *e = tp_fault_find(fs, addr);
    if (clear) {
        if (e != NULL)
            *e = fs->ents[--fs->n]; /* order of entries does not matter */
    } else if (e == NULL && fs->n == TP_FAULT_MAX) {
        rc = SH_EFULL;
    } else {
        if (e == NULL) {
            e = &fs->ents[fs->n++];
            memset(e, 0, sizeof(*e));
            e->any = addr == NULL;
            if (addr != NULL)
                strcpy(e->addr, addr);
        }
        e->f = *f;
    }
    pthread_mutex_unlock(&fs->mu);
    return rc;
}

void tp_fault_clear_all(tp_t *t)
{
    pthread_mutex_lock(&t->faults.mu);
    t->faults.n = 0;
    pthread_mutex_unlock(&t->faults.mu);
}

bool tp_fault_blocks_incoming(tp_t *t, const char *src_addr)
{
    tp_faults_t *fs = &t->faults;
    bool cut = false;

    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < fs->n && !cut; i++)
        cut = fs->ents[i].f.cut && tp_fault_ent_matches(&fs->ents[i], src_addr);
    pthread_mutex_unlock(&fs->mu);
    return cut;
}

void tp_fault_seed(tp_t *t, uint64_t seed)
{
    pthread_mutex_lock(&t->faults.mu);
    sh_rng_seed(&t->faults.rng, seed);
    pthread_mutex_unlock(&t->faults.mu);
}
