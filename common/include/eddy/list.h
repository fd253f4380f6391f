/*
 * Intrusive circular doubly-linked list. A struct that can be listed embeds
 * a struct list_link and is recovered with container_of. A head is a
 * list_link linked to itself when empty; a removed element is left
 * self-linked, so list_is_empty on it tells that it is in no list.
 */
#ifndef EDDY_LIST_H
#define EDDY_LIST_H

#include "eddy/assert.h"

#include <stdbool.h>

struct list_link {
    struct list_link *prev;
    struct list_link *next;
};

static inline void list_init(struct list_link *l)
{
    l->prev = l;
    l->next = l;
}

static inline bool list_is_empty(const struct list_link *l)
{
    return l->next == l;
}

/* Appends n at the tail of head. */
static inline void list_push(struct list_link *head, struct list_link *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void list_remove(struct list_link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* Moves every element of src, in order, to the empty list dst. */
static inline void list_take(struct list_link *dst, struct list_link *src)
{
    EDDY_ASSERT(list_is_empty(dst));
    if (list_is_empty(src)) {
        return;
    }
    dst->next = src->next;
    dst->prev = src->prev;
    dst->next->prev = dst;
    dst->prev->next = dst;
    list_init(src);
}

#endif
