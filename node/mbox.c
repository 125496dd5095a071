/* mbox.c - bounded intrusive FIFO of calls; see mbox.h. */
#include "mbox.h"

#include <stddef.h>

#include "sh_err.h"

void mbox_init(mbox_t *m)
{
    m->head = m->tail = NULL;
    m->count = 0;
}

int mbox_push(mbox_t *m, call_t *c, uint32_t max)
{
    if (m->count >= max)
        return SH_EBUSY;
    c->next = NULL;
    if (m->tail)
        m->tail->next = c;
    else
        m->head = c;
    m->tail = c;
    m->count++;
    return 0;
}

call_t *mbox_pop(mbox_t *m)
{
    call_t *c = m->head;
    if (!c)
        return NULL;
    m->head = c->next;
    if (!m->head)
        m->tail = NULL;
    m->count--;
    c->next = NULL;
    return c;
}
