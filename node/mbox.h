/*
 * mbox.h - an entity's mailbox: a bounded FIFO of calls, linked through
 * call->next (intrusive: no allocation per message and none per mailbox).
 *
 * An empty mailbox is three zero words, so an idle entity pays 24 bytes for
 * it and nothing on the heap.  The bound is passed at each push rather
 * than stored: every mailbox of a worker has the same bound (--mailbox),
 * and storing it per entity would cost 4 bytes each for nothing.
 *
 * Single-threaded: a mailbox belongs to one entity, touched only on its
 * worker's thread.  A call is in at most one mailbox or queue at a time
 * (its `next` link is shared with every other intrusive queue).
 */
#ifndef MBOX_H
#define MBOX_H

#include <stdint.h>

#include "call.h"

typedef struct mbox {
    call_t *head, *tail;
    uint32_t count;
} mbox_t;

/* An empty mailbox (all zero is also empty). */
void mbox_init(mbox_t *m);
/* Append c at the tail unless `max` calls are already queued.
 * 0 (the mailbox owns c until popped), or SH_EBUSY (the caller keeps c). */
int mbox_push(mbox_t *m, call_t *c, uint32_t max);
/* Remove and return the oldest call, or NULL if empty.  c->next is NULL
 * afterwards. */
call_t *mbox_pop(mbox_t *m);
/* The oldest call without removing it, or NULL. */
static inline call_t *mbox_peek(const mbox_t *m) { return m->head; }
static inline uint32_t mbox_len(const mbox_t *m) { return m->count; }

#endif
