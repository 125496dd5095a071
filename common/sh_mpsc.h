/*
 * sh_mpsc.h - bounded multi-producer single-consumer queue of pointers.
 *
 * Producers are nng callback threads (or workers); the one consumer is a
 * libuv loop woken by uv_async_send.  libuv coalesces wakeups, so the
 * consumer must drain the whole queue in its async callback.
 *
 * A mutex-protected ring: the critical sections are a few stores long and
 * the producers are few, so a lock-free design would buy nothing
 * measurable here and cost clarity.  Bounded: a push onto a full queue
 * fails with SH_EFULL and the caller still owns the item.
 */
#ifndef SH_MPSC_H
#define SH_MPSC_H

#include <pthread.h>
#include <stddef.h>

typedef struct sh_mpsc {
    pthread_mutex_t mu;
    void **slots;
    size_t cap, head, count;
} sh_mpsc_t;

/* 0, or -ENOMEM.  cap >= 1. */
int sh_mpsc_init(sh_mpsc_t *q, size_t cap);
/* Frees the ring, not the items left in it (drain first). */
void sh_mpsc_fini(sh_mpsc_t *q);
/* 0, or SH_EFULL (the caller keeps ownership of item). Any thread. */
int sh_mpsc_push(sh_mpsc_t *q, void *item);
/* Next item, or NULL if empty.  Consumer thread only. */
void *sh_mpsc_pop(sh_mpsc_t *q);
size_t sh_mpsc_len(sh_mpsc_t *q);

#endif
