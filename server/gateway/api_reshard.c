/*
 * What the resharding actions share (api_reshard.h): shard lineage in the
 * gateway's catalogue, the AWS errors about streams and shards they all
 * give (messages as kinesalite's tests recorded them from AWS), and the one
 * ReshardReq each sends to the coordinator.
 *
 * The gateway checks with a fresh catalogue so that clients get AWS's exact
 * messages; the coordinator checks the same again on its own catalogue (the
 * stream may change between the two), and its refusals come back as codes,
 * mapped here.
 */
#include "api.h"

#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <string.h>

/* ---- lineage ---- */

static u128 api_reshard_u128(ProtobufCBinaryData d)
{
    return d.len == 16 ? u128_from_be(d.data) : 0;
}

static bool api_reshard_is_open(const Eddy__ShardInfo *sh)
{
    return sh->ending_sequence.len == 0;
}

/* The shard numbered index among all of st's, pending ones included. */
static const Eddy__ShardInfo *api_reshard_any(const Eddy__StreamInfo *st, int64_t index)
{
    if (index < 0) {
        return NULL;
    }
    if ((uint64_t)index < st->n_shards && st->shards[index] != NULL &&
        st->shards[index]->index == (uint64_t)index) {
        return st->shards[index]; /* the catalogue keeps index == position */
    }
    for (size_t i = 0; i < st->n_shards; i++) {
        if (st->shards[i] != NULL && st->shards[i]->index == (uint64_t)index) {
            return st->shards[i];
        }
    }
    return NULL;
}

size_t api_reshard_settled_count(const Eddy__StreamInfo *st)
{
    /* Pending children are the tail, each with a parent still open. */
    size_t n = st->n_shards;
    while (n > 0 && st->shards[n - 1] != NULL) {
        const Eddy__ShardInfo *p = api_reshard_any(st, st->shards[n - 1]->parent);
        if (p == NULL || !api_reshard_is_open(p)) {
            break;
        }
        n--;
    }
    return n;
}

const Eddy__ShardInfo *api_reshard_find(const Eddy__StreamInfo *st, uint32_t index)
{
    size_t shown = api_reshard_settled_count(st);
    const Eddy__ShardInfo *sh = api_reshard_any(st, index);
    if (sh == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < shown; i++) {
        if (st->shards[i] == sh) {
            return sh;
        }
    }
    return NULL;
}

size_t api_reshard_open_count(const Eddy__StreamInfo *st)
{
    size_t shown = api_reshard_settled_count(st);
    size_t open = 0;
    for (size_t i = 0; i < shown; i++) {
        open += st->shards[i] != NULL && api_reshard_is_open(st->shards[i]);
    }
    return open;
}

uint64_t api_reshard_account_open_count(const Eddy__Catalog *cat)
{
    uint64_t open = 0;
    for (size_t i = 0; i < cat->n_streams; i++) {
        open += api_reshard_open_count(cat->streams[i]);
    }
    return open;
}

const Eddy__ShardInfo *
api_reshard_route_after(const Eddy__StreamInfo *st, u128 hash, uint32_t after)
{
    for (size_t i = 0; i < st->n_shards; i++) {
        const Eddy__ShardInfo *sh = st->shards[i];
        if (sh == NULL || sh->index <= after || !api_reshard_is_open(sh) ||
            sh->hash_start.len != 16 || sh->hash_end.len != 16) {
            continue;
        }
        if (api_reshard_u128(sh->hash_start) <= hash && hash <= api_reshard_u128(sh->hash_end)) {
            return sh;
        }
    }
    return NULL;
}

/* ---- the common errors ---- */

bool api_reshard_require_stream(struct api_call *c, const char *name, const Eddy__StreamInfo *st)
{
    if (st == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", name,
                 c->cfg.account);
        return false;
    }
    if (st->mode == EDDY__STREAM_MODE__MODE_ON_DEMAND) {
        /* "This API is only supported for the data streams with the
         * provisioned capacity mode" (API reference); text as moto. */
        api_fail(c, API_EX_VALIDATION,
                 "Request is invalid. Stream %s under account %s is in "
                 "On-Demand mode.",
                 name, c->cfg.account);
        return false;
    }
    return true;
}

bool api_reshard_require_active(struct api_call *c, const char *name, const Eddy__StreamInfo *st)
{
    if (st->status != EDDY__STREAM_STATUS__STREAM_ACTIVE) {
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "Stream %s under account %s not ACTIVE, instead in state %s", name, c->cfg.account,
                 api_stream_status_name(st->status));
        return false;
    }
    return true;
}

const Eddy__ShardInfo *api_reshard_require_shard(struct api_call *c,
                                                 const char *name,
                                                 const Eddy__StreamInfo *st,
                                                 const struct api_shard_ref *ref)
{
    const Eddy__ShardInfo *sh = ref->ok ? api_reshard_find(st, ref->index) : NULL;
    if (sh == NULL) {
        char id[API_SHARD_ID_TEXT_MAX];
        if (ref->ok) {
            api_shard_id(ref->index, id);
        }
        api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                 "Could not find shard %s in stream %s under account %s.", ref->ok ? id : ref->text,
                 name, c->cfg.account);
    }
    return sh;
}

bool api_reshard_require_open(struct api_call *c,
                              const char *name,
                              const Eddy__StreamInfo *st,
                              const Eddy__ShardInfo *sh)
{
    (void)st;
    if (!api_reshard_is_open(sh)) {
        char id[API_SHARD_ID_TEXT_MAX];
        api_shard_id(sh->index, id);
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Shard %s in stream %s under account %s has already been merged or split, and "
                 "thus is not eligible for merging or splitting.",
                 id, name, c->cfg.account);
        return false;
    }
    return true;
}

void api_reshard_shard_ref(const struct json_str *s, struct api_shard_ref *ref)
{
    memset(ref, 0, sizeof(*ref));
    if (!s->present) {
        return;
    }
    json_copy(ref->text, sizeof(ref->text), s->ptr, s->len);
    ref->ok = api_parse_shard_id(s->ptr, s->len, &ref->index);
}

/* ---- the call to the coordinator ---- */

struct api_reshard_pending {
    struct api_call *call;
    const char *name; /* borrowed from the call's request */
    void (*done)(struct api_call *c);
};

static void api_reshard_on_done(void *arg, int status, const char *message)
{
    struct api_reshard_pending *p = arg;
    struct api_call *c = p->call;
    const char *name = p->name;
    void (*done)(struct api_call * c) = p->done;
    eddy_free(p);
    switch (status) {
    case 0:
        if (done != NULL) {
            done(c);
        } else {
            api_respond_empty(c);
        }
        return;
    case -EDDY_ENOTFOUND:
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", name,
                 c->cfg.account);
        return;
    case -EDDY_EINUSE:
        /* Another change began between the gateway's look and this one. */
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "Stream %s under account %s not ACTIVE, instead in state UPDATING", name,
                 c->cfg.account);
        return;
    default:
        api_fail_code(c, status, message);
        return;
    }
}

void api_reshard_send(struct api_call *c,
                      const char *name,
                      const Eddy__ReshardReq *req,
                      void (*done)(struct api_call *c))
{
    struct api_reshard_pending *p = eddy_xmalloc(sizeof(*p));
    *p = (struct api_reshard_pending){.call = c, .name = name, .done = done};
    backend_reshard(c->ctx->backend, req, api_reshard_on_done, p);
}
