/*
 * SubscribeToShard leases on a shard group leader: see shard_lease.h.
 *
 * A chained hash table of keys (group, stream incarnation, shard, consumer
 * incarnation), with every key also in one list from least to most
 * recently seen, whose head is what a full table forgets.
 */
#include "shard_lease.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/list.h"

#include <string.h>

#define SHARD_LEASE_BUCKETS SHARD_LEASE_MAX

static_assert((SHARD_LEASE_BUCKETS & (SHARD_LEASE_BUCKETS - 1)) == 0, "buckets are a power of two");

struct shard_lease_key {
    struct list_link seen;        /* l->seen, least recently seen first */
    struct shard_lease_key *next; /* in its bucket */
    uint32_t hash;
    uint32_t group;
    uint32_t shard;
    uint64_t stream_created_ms;
    uint64_t consumer_created_ms;
    uint64_t holder;     /* the holding subscription's id, never 0 */
    uint64_t started_ms; /* when the holder started, leader's uv_now */
    char stream[KIN_STREAM_NAME_LEN_MAX + 1];
    char consumer[KIN_CONSUMER_NAME_LEN_MAX + 1];
};

struct shard_lease {
    struct shard_lease_key *buckets[SHARD_LEASE_BUCKETS];
    struct list_link seen;
    unsigned count;
};

void shard_lease_create(struct shard_lease **out)
{
    struct shard_lease *l = eddy_xcalloc(1, sizeof(*l));
    list_init(&l->seen);
    *out = l;
}

static void shard_lease_unlink(struct shard_lease *l, struct shard_lease_key *k)
{
    struct shard_lease_key **at = &l->buckets[k->hash & (SHARD_LEASE_BUCKETS - 1)];
    while (*at != k) {
        EDDY_ASSERT(*at != NULL);
        at = &(*at)->next;
    }
    *at = k->next;
    list_remove(&k->seen);
    EDDY_ASSERT(l->count > 0);
    l->count--;
    eddy_free(k);
}

void shard_lease_destroy(struct shard_lease *l)
{
    if (l == NULL) {
        return;
    }
    while (!list_is_empty(&l->seen)) {
        shard_lease_unlink(l, container_of(l->seen.next, struct shard_lease_key, seen));
    }
    EDDY_ASSERT(l->count == 0);
    eddy_free(l);
}

/* FNV-1a, folding in bytes then integers. */
static uint32_t shard_lease_mix(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

static uint32_t shard_lease_hash(uint32_t group, const Eddy__ReadReq *req)
{
    uint32_t h = 2166136261u;
    h = shard_lease_mix(h, &group, sizeof(group));
    h = shard_lease_mix(h, &req->shard, sizeof(req->shard));
    h = shard_lease_mix(h, &req->stream_created_ms, sizeof(req->stream_created_ms));
    h = shard_lease_mix(h, &req->consumer_created_ms, sizeof(req->consumer_created_ms));
    h = shard_lease_mix(h, req->stream, strlen(req->stream) + 1);
    return shard_lease_mix(h, req->consumer, strlen(req->consumer));
}

static bool shard_lease_is_key(const struct shard_lease_key *k,
                               uint32_t hash,
                               uint32_t group,
                               const Eddy__ReadReq *req)
{
    return k->hash == hash && k->group == group && k->shard == req->shard &&
           k->stream_created_ms == req->stream_created_ms &&
           k->consumer_created_ms == req->consumer_created_ms &&
           strcmp(k->stream, req->stream) == 0 && strcmp(k->consumer, req->consumer) == 0;
}

static struct shard_lease_key *
shard_lease_find(struct shard_lease *l, uint32_t hash, uint32_t group, const Eddy__ReadReq *req)
{
    for (struct shard_lease_key *k = l->buckets[hash & (SHARD_LEASE_BUCKETS - 1)]; k != NULL;
         k = k->next) {
        if (shard_lease_is_key(k, hash, group, req)) {
            return k;
        }
    }
    return NULL;
}

/* A new key held by id since started_ms; forgets the least recently seen
 * key first when the table is full. */
static struct shard_lease_key *shard_lease_add(struct shard_lease *l,
                                               uint32_t hash,
                                               uint32_t group,
                                               const Eddy__ReadReq *req,
                                               uint64_t started_ms)
{
    if (l->count >= SHARD_LEASE_MAX) {
        shard_lease_unlink(l, container_of(l->seen.next, struct shard_lease_key, seen));
    }
    struct shard_lease_key *k = eddy_xcalloc(1, sizeof(*k));
    k->hash = hash;
    k->group = group;
    k->shard = req->shard;
    k->stream_created_ms = req->stream_created_ms;
    k->consumer_created_ms = req->consumer_created_ms;
    k->holder = req->subscription_id;
    k->started_ms = started_ms;
    memcpy(k->stream, req->stream, strlen(req->stream) + 1);
    memcpy(k->consumer, req->consumer, strlen(req->consumer) + 1);
    struct shard_lease_key **bucket = &l->buckets[hash & (SHARD_LEASE_BUCKETS - 1)];
    k->next = *bucket;
    *bucket = k;
    list_push(&l->seen, &k->seen);
    l->count++;
    EDDY_ASSERT(l->count <= SHARD_LEASE_MAX);
    return k;
}

static void shard_lease_hold(struct shard_lease_key *k, uint64_t id, uint64_t started_ms)
{
    k->holder = id;
    k->started_ms = started_ms;
}

/* Whether req's lease fields can name a key (they come from the network). */
static bool shard_lease_is_valid(const Eddy__ReadReq *req)
{
    return req->stream != NULL && req->consumer != NULL && req->consumer[0] != '\0' &&
           req->subscription_id != 0 &&
           strnlen(req->stream, KIN_STREAM_NAME_LEN_MAX + 1) <= KIN_STREAM_NAME_LEN_MAX &&
           strnlen(req->consumer, KIN_CONSUMER_NAME_LEN_MAX + 1) <= KIN_CONSUMER_NAME_LEN_MAX;
}

int shard_lease_check(struct shard_lease *l,
                      uint32_t group,
                      const Eddy__ReadReq *req,
                      uint64_t now_ms,
                      uint64_t *holder_out,
                      bool *is_changed_out)
{
    *holder_out = 0;
    *is_changed_out = false;
    if (req->lease == EDDY__LEASE__LEASE_NONE) {
        return 0;
    }
    if (!shard_lease_is_valid(req)) {
        return -EDDY_EINVAL;
    }
    uint64_t id = req->subscription_id;
    uint32_t hash = shard_lease_hash(group, req);
    struct shard_lease_key *k = shard_lease_find(l, hash, group, req);
    if (k != NULL) {
        list_remove(&k->seen);
        list_push(&l->seen, &k->seen); /* seen now */
        *holder_out = k->holder;
    }
    switch (req->lease) {
    case EDDY__LEASE__LEASE_ACQUIRE:
        if (k == NULL) {
            k = shard_lease_add(l, hash, group, req, now_ms);
        } else if (k->holder != id) {
            if (now_ms - k->started_ms < KIN_SUBSCRIBE_TAKEOVER_MS) {
                return -EDDY_EINUSE;
            }
            shard_lease_hold(k, id, now_ms);
        }
        break;
    case EDDY__LEASE__LEASE_HOLD: {
        uint64_t age = req->subscription_age_ms < now_ms ? req->subscription_age_ms : now_ms;
        uint64_t started = now_ms - age;
        if (k == NULL) {
            k = shard_lease_add(l, hash, group, req, started); /* re-attached, or forgotten */
        } else if (k->holder == id) {
            /* A read resent across a leader change carries the age it was
             * built with, so the start it gives is late by the resending:
             * each later read corrects it (never by more than a transit). */
            k->started_ms = started < k->started_ms ? started : k->started_ms;
        } else {
            if (started <= k->started_ms) {
                return -EDDY_ESUPERSEDED;
            }
            shard_lease_hold(k, id, started); /* the later of two accepted subscriptions */
        }
        break;
    }
    case EDDY__LEASE__LEASE_RELEASE:
        if (k != NULL && k->holder == id) {
            shard_lease_unlink(l, k);
            *holder_out = 0;
            *is_changed_out = true;
        }
        return 0;
    default:
        return -EDDY_EINVAL;
    }
    *is_changed_out = *holder_out != id;
    *holder_out = id;
    return 0;
}

void shard_lease_drop_group(struct shard_lease *l, uint32_t group)
{
    struct list_link *at = l->seen.next;
    while (at != &l->seen) {
        struct shard_lease_key *k = container_of(at, struct shard_lease_key, seen);
        at = at->next;
        if (k->group == group) {
            shard_lease_unlink(l, k);
        }
    }
}

unsigned shard_lease_count(const struct shard_lease *l)
{
    return l->count;
}
