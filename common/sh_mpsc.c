/* sh_mpsc.c - bounded MPSC ring; see sh_mpsc.h. */
#include "sh_mpsc.h"

#include <errno.h>
#include <stdlib.h>

#include "sh_err.h"

int sh_mpsc_init(sh_mpsc_t *q, size_t cap)
{
    q->slots = calloc(cap ? cap : 1, sizeof(void *));
    if (!q->slots)
        return -ENOMEM;
    q->cap = cap ? cap : 1;
    q->head = q->count = 0;
    pthread_mutex_init(&q->mu, NULL);
    return 0;
}

void sh_mpsc_fini(sh_mpsc_t *q)
{
    free(q->slots);
    q->slots = NULL;
    pthread_mutex_destroy(&q->mu);
}

int sh_mpsc_push(sh_mpsc_t *q, void *item)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    if (q->count == q->cap)
        rc = SH_EFULL;
    else
        q->slots[(q->head + q->count++) % q->cap] = item;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void *sh_mpsc_pop(sh_mpsc_t *q)
{
    void *item = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->count > 0) {
        item = q->slots[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    return item;
}

size_t sh_mpsc_len(sh_mpsc_t *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}
