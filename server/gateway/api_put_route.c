/*
 * Puts that race a reshard (api_reshard.h, api_put_send). A group closes a
 * shard with one Raft entry; every put entry applied after it refuses that
 * shard's records with -EDDY_ECLOSED, on every replica alike, so a refused
 * record was never written. Such records go again, in rounds: the
 * catalogue fresh from the coordinator (whose leader has the reshard's
 * children from before any parent closed), each record to the lowest-
 * numbered open shard above the one that refused it that holds its hash
 * key, a backend_put of those records only. Everything else a put answers
 * is kept as it came.
 *
 * Order per partition key holds: a record reaches a child only after its
 * parent refused it, that is after the parent's last record.
 */
#include "api.h"

#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <string.h>

/* One api_put_send, from the first backend_put to the callback. */
struct api_put_route {
    struct api_call *call;
    api_put_done_cb cb;
    char name[API_NAME_TEXT_MAX];
    uint64_t created_ms;
    struct backend_put *recs; /* the caller's */
    size_t n;
    u128 *hashes;
    int status; /* of the first round: the call's */
    unsigned rounds;
    struct backend_put *sub; /* the records of the current round, after the first */
    size_t *sub_index;       /* their places in recs */
    size_t sub_n;
};

static void api_put_route_finish(struct api_put_route *r)
{
    struct api_call *c = r->call;
    api_put_done_cb cb = r->cb;
    int status = r->status;
    struct backend_put *recs = r->recs;
    size_t n = r->n;
    eddy_free(r->hashes);
    eddy_free(r->sub);
    eddy_free(r->sub_index);
    eddy_free(r);
    cb(c, status, recs, n);
}

static size_t api_put_route_closed(const struct api_put_route *r)
{
    size_t closed = 0;
    for (size_t i = 0; i < r->n; i++) {
        closed += r->recs[i].code == -EDDY_ECLOSED;
    }
    return closed;
}

static void api_put_route_on_put(void *arg, int status, struct backend_put *recs, size_t n);

static void api_put_route_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_put_route *r = arg;
    const Eddy__StreamInfo *st = status == 0 ? api_find_stream(cat, r->name) : NULL;
    if (st == NULL || st->created_ms != r->created_ms) {
        api_put_route_finish(r); /* the refused records stay refused */
        return;
    }
    size_t closed = api_put_route_closed(r);
    eddy_free(r->sub);
    eddy_free(r->sub_index);
    r->sub = eddy_xcalloc(closed, sizeof(*r->sub));
    r->sub_index = eddy_xcalloc(closed, sizeof(*r->sub_index));
    r->sub_n = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->recs[i].code != -EDDY_ECLOSED) {
            continue;
        }
        const Eddy__ShardInfo *to = api_reshard_route_after(st, r->hashes[i], r->recs[i].shard);
        if (to == NULL) {
            continue; /* no child known: it stays refused */
        }
        struct backend_put *p = &r->sub[r->sub_n];
        *p = r->recs[i];
        p->shard = to->index;
        r->sub_index[r->sub_n++] = i;
    }
    if (r->sub_n == 0) {
        api_put_route_finish(r);
        return;
    }
    LOG_DEBUG("put after a closed shard stream=%s records=%zu round=%u", r->name, r->sub_n,
              r->rounds);
    backend_put(r->call->ctx->backend, st, r->sub, r->sub_n, api_put_route_on_put, r);
}

static void api_put_route_on_put(void *arg, int status, struct backend_put *recs, size_t n)
{
    struct api_put_route *r = arg;
    if (r->rounds == 0) {
        EDDY_ASSERT(recs == r->recs);
        r->status = status;
    } else {
        EDDY_ASSERT(recs == r->sub && n == r->sub_n);
        for (size_t k = 0; k < n; k++) {
            struct backend_put *out = &r->recs[r->sub_index[k]];
            out->shard = recs[k].shard;
            out->code = recs[k].code;
            out->seq = recs[k].seq;
        }
    }
    if (r->status != 0 || api_put_route_closed(r) == 0 || r->rounds == API_PUT_REROUTES_MAX) {
        api_put_route_finish(r);
        return;
    }
    r->rounds++;
    backend_catalog(r->call->ctx->backend, true, api_put_route_on_catalog, r);
}

void api_put_send(struct api_call *c,
                  const Eddy__StreamInfo *st,
                  struct backend_put *recs,
                  const u128 *hashes,
                  size_t n,
                  api_put_done_cb cb)
{
    struct api_put_route *r = eddy_xcalloc(1, sizeof(*r));
    r->call = c;
    r->cb = cb;
    json_copy(r->name, sizeof(r->name), st->name, strlen(st->name));
    r->created_ms = st->created_ms;
    r->recs = recs;
    r->n = n;
    r->hashes = eddy_xcalloc(n ? n : 1, sizeof(*r->hashes));
    memcpy(r->hashes, hashes, n * sizeof(*hashes));
    backend_put(c->ctx->backend, st, recs, n, api_put_route_on_put, r);
}
