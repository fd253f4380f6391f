/*
 * Parked reads of SubscribeToShard on a shard group leader: see shard_wait.h.
 *
 * Every parked call is in two lists: its group's (for wakes by applied
 * entries and for leadership loss) and the node's deadline list, kept in
 * deadline order (most calls are parked for the same wait, so an insert
 * walks back from the tail a step or two), whose head arms the one timer.
 * A wake takes its calls out of both lists into a local batch first and
 * only then hands them back, so a callback may park again freely.
 */
#include "shard_wait.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/list.h"
#include "eddy/rpc.h"

#include <stdlib.h>
#include <string.h>

/* Shard keys of an entry sorted on the stack when it has this many records
 * at most; larger entries (up to a group commit's) sort a heap copy. */
#define SHARD_WAIT_KEYS_STACK 64

struct shard_wait_entry {
    struct list_link by_deadline;
    struct list_link by_group; /* or in a wake batch */
    uint32_t group;
    struct rpc_call *call;
    u128 after;
    uint64_t deadline_ms;
};

struct shard_wait {
    uv_loop_t *loop;
    uv_timer_t timer;
    shard_wait_cb cb;
    void *arg;
    struct list_link deadlines;
    struct list_link *groups; /* index = group id, 1..group_max */
    unsigned *group_counts;
    uint32_t group_max;
    unsigned count;
    bool is_closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

void shard_wait_init(
    struct shard_wait **out, uv_loop_t *loop, uint32_t group_max, shard_wait_cb cb, void *arg)
{
    EDDY_ASSERT(cb != NULL);
    struct shard_wait *w = eddy_xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->cb = cb;
    w->arg = arg;
    w->group_max = group_max;
    list_init(&w->deadlines);
    w->groups = eddy_xcalloc((size_t)group_max + 1, sizeof(*w->groups));
    w->group_counts = eddy_xcalloc((size_t)group_max + 1, sizeof(*w->group_counts));
    for (uint32_t i = 0; i <= group_max; i++) {
        list_init(&w->groups[i]);
    }
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    *out = w;
}

static struct shard_wait_entry *shard_wait_of_deadline(struct list_link *l)
{
    return container_of(l, struct shard_wait_entry, by_deadline);
}

static struct shard_wait_entry *shard_wait_of_group(struct list_link *l)
{
    return container_of(l, struct shard_wait_entry, by_group);
}

static void shard_wait_on_timer(uv_timer_t *t);

/* Arms the timer for the earliest deadline, or stops it. */
static void shard_wait_arm(struct shard_wait *w)
{
    if (list_is_empty(&w->deadlines)) {
        uv_timer_stop(&w->timer);
        return;
    }
    uint64_t first = shard_wait_of_deadline(w->deadlines.next)->deadline_ms;
    uint64_t now = uv_now(w->loop);
    uv_timer_start(&w->timer, shard_wait_on_timer, first > now ? first - now : 0, 0);
}

/* Takes x out of both lists and into batch (a wake in progress). */
static void
shard_wait_take(struct shard_wait *w, struct shard_wait_entry *x, struct list_link *batch)
{
    EDDY_ASSERT(w->count > 0);
    EDDY_ASSERT(w->group_counts[x->group] > 0);
    list_remove(&x->by_deadline);
    list_remove(&x->by_group);
    list_push(batch, &x->by_group);
    w->count--;
    w->group_counts[x->group]--;
}

/* Hands every call of batch (count of them) back with why, in one call. */
static void shard_wait_hand_back(struct shard_wait *w,
                                 struct list_link *batch,
                                 size_t count,
                                 enum shard_wait_wake why)
{
    if (count == 0) {
        EDDY_ASSERT(list_is_empty(batch));
        return;
    }
    struct shard_wait_woken *woken = eddy_xmalloc(count * sizeof(*woken));
    size_t n = 0;
    while (!list_is_empty(batch)) {
        struct shard_wait_entry *x = shard_wait_of_group(batch->next);
        list_remove(&x->by_group);
        EDDY_ASSERT(n < count);
        woken[n++] = (struct shard_wait_woken){
            .call = x->call, .after = x->after, .deadline_ms = x->deadline_ms};
        eddy_free(x);
    }
    EDDY_ASSERT(n == count);
    w->cb(w->arg, woken, n, why);
    eddy_free(woken);
}

int shard_wait_park(
    struct shard_wait *w, uint32_t group, struct rpc_call *call, u128 after, uint64_t deadline_ms)
{
    EDDY_ASSERT(call != NULL);
    if (w->is_closing) {
        return -EDDY_ESHUTDOWN;
    }
    if (group == 0 || group > w->group_max) {
        return -EDDY_EINVAL;
    }
    if (w->count >= SHARD_WAIT_NODE_MAX || w->group_counts[group] >= SHARD_WAIT_GROUP_MAX) {
        return -EDDY_EFULL;
    }
    struct shard_wait_entry *x = eddy_xcalloc(1, sizeof(*x));
    x->group = group;
    x->call = call;
    x->after = after;
    x->deadline_ms = deadline_ms;
    list_push(&w->groups[group], &x->by_group);
    /* Walk back from the tail to the last deadline not after this one. */
    struct list_link *at = w->deadlines.prev;
    while (at != &w->deadlines && shard_wait_of_deadline(at)->deadline_ms > deadline_ms) {
        at = at->prev;
    }
    list_push(at->next, &x->by_deadline); /* before at->next: right after at */
    w->count++;
    w->group_counts[group]++;
    if (w->deadlines.next == &x->by_deadline) {
        shard_wait_arm(w); /* the new earliest deadline */
    }
    return 0;
}

static void shard_wait_on_timer(uv_timer_t *t)
{
    struct shard_wait *w = t->data;
    uint64_t now = uv_now(w->loop);
    struct list_link batch;
    list_init(&batch);
    size_t n = 0;
    while (!list_is_empty(&w->deadlines)) {
        struct shard_wait_entry *x = shard_wait_of_deadline(w->deadlines.next);
        if (x->deadline_ms > now) {
            break;
        }
        shard_wait_take(w, x, &batch);
        n++;
    }
    shard_wait_hand_back(w, &batch, n, SHARD_WAIT_TIMEOUT);
    if (!w->is_closing) {
        shard_wait_arm(w);
    }
}

/* ---- wakes by applied entries ---- */

static int shard_wait_key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t shard_wait_key(uint32_t stream_ref, uint32_t shard)
{
    return (uint64_t)stream_ref << 32 | shard;
}

/* The index of the request's stream in e's stream table, or -1. */
static int64_t shard_wait_stream_ref(const Eddy__GroupEntry *e, const Eddy__ReadReq *req)
{
    for (size_t i = 0; i < e->n_streams; i++) {
        const Eddy__StreamRef *r = e->streams[i];
        if (r->created_ms == req->stream_created_ms && r->name != NULL && req->stream != NULL &&
            strcmp(r->name, req->stream) == 0) {
            return (int64_t)i;
        }
    }
    return -1;
}

/* Whether e touches the shard a parked read waits on. keys: the sorted
 * (stream_ref, shard) keys of e's records and closes. */
static bool shard_wait_is_touched(const Eddy__GroupEntry *e,
                                  const Eddy__ReadReq *req,
                                  const uint64_t *keys,
                                  size_t key_count)
{
    int64_t ref = shard_wait_stream_ref(e, req);
    if (ref < 0) {
        return false;
    }
    if (e->drop_stream && ref == 0) {
        return true; /* a drop names streams[0]: every shard of it */
    }
    uint64_t key = shard_wait_key((uint32_t)ref, req->shard);
    return bsearch(&key, keys, key_count, sizeof(*keys), shard_wait_key_cmp) != NULL;
}

void shard_wait_applied(struct shard_wait *w, uint32_t group, const Eddy__GroupEntry *e)
{
    if (group == 0 || group > w->group_max || w->group_counts[group] == 0) {
        return; /* nobody waits on the group: the common case costs nothing */
    }
    size_t n = e->n_records + e->n_close_shards;
    if (n == 0 && !e->drop_stream) {
        return; /* creates and trims change no shard's readable records */
    }
    uint64_t stack[SHARD_WAIT_KEYS_STACK];
    uint64_t *keys = n <= SHARD_WAIT_KEYS_STACK ? stack : eddy_xmalloc(n * sizeof(*keys));
    size_t k = 0;
    for (size_t i = 0; i < e->n_records; i++) {
        keys[k++] = shard_wait_key(e->records[i]->stream_ref, e->records[i]->shard);
    }
    for (size_t i = 0; i < e->n_close_shards; i++) {
        keys[k++] = shard_wait_key(0, e->close_shards[i]); /* closes name streams[0] */
    }
    qsort(keys, k, sizeof(*keys), shard_wait_key_cmp);
    struct list_link batch;
    list_init(&batch);
    size_t count = 0;
    struct list_link *head = &w->groups[group];
    struct list_link *l = head->next;
    while (l != head) {
        struct shard_wait_entry *x = shard_wait_of_group(l);
        l = l->next;
        if (shard_wait_is_touched(e, rpc_call_request(x->call)->read, keys, k)) {
            shard_wait_take(w, x, &batch);
            count++;
        }
    }
    if (keys != stack) {
        eddy_free(keys);
    }
    if (count == 0) {
        return;
    }
    shard_wait_arm(w);
    shard_wait_hand_back(w, &batch, count, SHARD_WAIT_APPLIED);
}

void shard_wait_fail_group(struct shard_wait *w, uint32_t group)
{
    if (group == 0 || group > w->group_max || w->group_counts[group] == 0) {
        return;
    }
    struct list_link batch;
    list_init(&batch);
    size_t count = 0;
    while (!list_is_empty(&w->groups[group])) {
        shard_wait_take(w, shard_wait_of_group(w->groups[group].next), &batch);
        count++;
    }
    if (!w->is_closing) {
        shard_wait_arm(w);
    }
    shard_wait_hand_back(w, &batch, count, SHARD_WAIT_FAILED);
}

/* Whether a parked read is another subscription's on key's lease. */
static bool
shard_wait_is_superseded(const Eddy__ReadReq *r, const Eddy__ReadReq *key, uint64_t holder)
{
    return r->lease != EDDY__LEASE__LEASE_NONE && r->subscription_id != holder &&
           r->shard == key->shard && r->stream_created_ms == key->stream_created_ms &&
           r->consumer_created_ms == key->consumer_created_ms && r->stream != NULL &&
           r->consumer != NULL && strcmp(r->stream, key->stream) == 0 &&
           strcmp(r->consumer, key->consumer) == 0;
}

void shard_wait_supersede(struct shard_wait *w,
                          uint32_t group,
                          const Eddy__ReadReq *key,
                          uint64_t holder)
{
    if (group == 0 || group > w->group_max || w->group_counts[group] == 0) {
        return;
    }
    struct list_link batch;
    list_init(&batch);
    size_t count = 0;
    struct list_link *head = &w->groups[group];
    struct list_link *l = head->next;
    while (l != head) {
        struct shard_wait_entry *x = shard_wait_of_group(l);
        l = l->next;
        if (shard_wait_is_superseded(rpc_call_request(x->call)->read, key, holder)) {
            shard_wait_take(w, x, &batch);
            count++;
        }
    }
    if (count == 0) {
        return;
    }
    shard_wait_arm(w);
    shard_wait_hand_back(w, &batch, count, SHARD_WAIT_SUPERSEDED);
}

unsigned shard_wait_count(const struct shard_wait *w, uint32_t group)
{
    if (group == 0) {
        return w->count;
    }
    return group <= w->group_max ? w->group_counts[group] : 0;
}

static void shard_wait_on_closed(uv_handle_t *h)
{
    struct shard_wait *w = h->data;
    void (*cb)(void *) = w->close_cb;
    void *arg = w->close_arg;
    EDDY_ASSERT(w->count == 0);
    eddy_free(w->groups);
    eddy_free(w->group_counts);
    eddy_free(w);
    if (cb != NULL) {
        cb(arg);
    }
}

void shard_wait_close(struct shard_wait *w, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(!w->is_closing);
    w->is_closing = true; /* from here on parks are refused */
    w->close_cb = cb;
    w->close_arg = arg;
    uv_timer_stop(&w->timer);
    for (uint32_t g = 1; g <= w->group_max; g++) {
        shard_wait_fail_group(w, g);
    }
    EDDY_ASSERT(w->count == 0);
    uv_close((uv_handle_t *)&w->timer, shard_wait_on_closed);
}
