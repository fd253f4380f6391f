/*
 * Consumers on the coordinator leader (see coord_consumer.h): the
 * ConsumerReq RPC (a check against the leader's catalogue, one proposal, an
 * answer carrying the consumer as the applied entry left it) and the
 * reconciler's consumer steps. The proposal callback runs right after its
 * entry applied (rgroup.c: raft 0.15 calls it before the next entry), so the
 * catalogue read then is the entry's result.
 */
#include "coord_consumer.h"
#include "catalog.h"
#include "catalog_consumer.h"
#include "catalog_update.h"
#include "coord_internal.h"
#include "coord_limits.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <string.h>

/* ---- answers ---- */

/* Which limit a register passed (Status.message of -EDDY_ELIMIT). */
static const char *coord_consumer_limit_reason(const Eddy__StreamInfo *s,
                                               const Eddy__ConsumerChange *ch)
{
    if (s == NULL || ch->change_case != EDDY__CONSUMER_CHANGE__CHANGE_REGISTER) {
        return "settings";
    }
    size_t creating = 0;
    for (size_t i = 0; i < s->n_consumers; i++) {
        creating += s->consumers[i]->status == EDDY__CONSUMER_STATUS__CONSUMER_CREATING;
    }
    if (s->n_consumers >= COORD_CONSUMERS_PER_STREAM_MAX) {
        return "consumers";
    }
    return creating >= COORD_CONSUMERS_CREATING_MAX ? "creating" : "settings";
}

/* Answers a rejected or applied change ch with code: the consumer and
 * stream as the catalogue has them now. */
static void coord_consumer_answer(struct coord *c,
                                  struct rpc_call *call,
                                  const Eddy__ConsumerChange *ch,
                                  int code)
{
    bool rejected = code == 0 || code == -EDDY_EEXISTS || code == -EDDY_EINUSE ||
                    code == -EDDY_ELIMIT || code == -EDDY_ENOTFOUND || code == -EDDY_EINVAL ||
                    code == -EDDY_EMALFORMED;
    if (!rejected) {
        /* The proposal failed (-EDDY_EUNKNOWN, -EDDY_ESHUTDOWN...). */
        rpc_reply_error(call, code, 0, eddy_strerror(code));
        return;
    }
    const Eddy__StreamInfo *s =
        ch->stream != NULL ? catalog_find_stream(c->catalog, ch->stream) : NULL;
    const Eddy__ConsumerInfo *ci =
        s != NULL && ch->name != NULL ? catalog_consumer_find(s, ch->name) : NULL;
    Eddy__Status st = EDDY__STATUS__INIT;
    st.code = code;
    st.message = (char *)"";
    Eddy__ConsumerResp resp = EDDY__CONSUMER_RESP__INIT;
    resp.status = &st;
    bool with_consumer = code == 0 || code == -EDDY_EEXISTS || code == -EDDY_EINUSE;
    if (with_consumer && ci != NULL) {
        resp.consumer = (Eddy__ConsumerInfo *)ci; /* packed before rpc_call_reply returns */
    }
    if (code == -EDDY_EINUSE && ch->change_case == EDDY__CONSUMER_CHANGE__CHANGE_REGISTER &&
        s != NULL) {
        resp.consumer = NULL;
        resp.stream_in_use = true;
        resp.stream_status = s->status;
    }
    if (code == -EDDY_ELIMIT) {
        st.message = (char *)coord_consumer_limit_reason(s, ch);
    }
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_CONSUMER_RESP;
    f.consumer_resp = &resp;
    rpc_call_reply(call, &f);
}

static void coord_consumer_on_applied(struct coord *c, struct rpc_call *call, int code)
{
    const Eddy__ConsumerChange *ch = rpc_call_request(call)->consumer->change;
    EDDY_ASSERT(ch != NULL); /* checked before it was proposed */
    if (code == 0) {
        LOG_INFO("consumer changed stream=%s consumer=%s change=%d", ch->stream, ch->name,
                 (int)ch->change_case);
    }
    coord_consumer_answer(c, call, ch, code);
}

/* ---- requests ---- */

/* A register's tags sorted by key with one per key: an eddy_xcalloc'd copy
 * of the pointers (borrowed from ch), NULL when there are none or too many
 * to sort (the check refuses those). */
static Eddy__Tag **coord_consumer_tags(const Eddy__ConsumerChange *ch, size_t *n)
{
    *n = ch->n_tags;
    if (ch->n_tags == 0 || ch->n_tags > COORD_TAGS_PER_UPDATE_MAX) {
        return NULL;
    }
    Eddy__Tag **tags = eddy_xcalloc(ch->n_tags, sizeof(*tags));
    memcpy(tags, ch->tags, ch->n_tags * sizeof(*tags));
    catalog_update_tags_normalize(tags, n);
    return tags;
}

void coord_consumer_handle(struct coord *c, struct rpc_call *call, const Eddy__ConsumerReq *req)
{
    const Eddy__ConsumerChange *ch = req->change;
    int code = 0;
    if (ch == NULL) {
        code = -EDDY_EINVAL;
    } else if (!catalog_is_initialized(c->catalog)) {
        code = -EDDY_EUNAVAILABLE;
    } else if (c->client_ops_inflight >= COORD_PROPOSALS_INFLIGHT_MAX) {
        code = -EDDY_EFULL;
    }
    if (code != 0) {
        rpc_reply_error(call, code, 0, eddy_strerror(code));
        return;
    }
    Eddy__ConsumerChange pinned = *ch;
    Eddy__Tag **tags = coord_consumer_tags(ch, &pinned.n_tags);
    if (tags != NULL) {
        pinned.tags = tags;
    }
    uint64_t now_ms = coord_now_ms(c);
    const Eddy__StreamInfo *s = NULL;
    const Eddy__ConsumerInfo *ci = NULL;
    code = catalog_consumer_check(catalog_get(c->catalog), &pinned, now_ms, &s, &ci);
    if (code != 0) {
        eddy_free(tags);
        coord_consumer_answer(c, call, ch, code);
        return;
    }
    /* Pinned to the incarnations checked: a stream or consumer deleted and
     * made again before the entry applies is not changed by it. */
    pinned.stream_created_ms = s->created_ms;
    if (ch->change_case != EDDY__CONSUMER_CHANGE__CHANGE_REGISTER) {
        EDDY_ASSERT(ci != NULL);
        pinned.consumer_created_ms = ci->created_ms;
    }
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_CONSUMER;
    e.consumer = &pinned;
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_CLIENT;
    op->call = call;
    op->reply = coord_consumer_on_applied;
    c->client_ops_inflight++;
    coord_propose(c, &e, op);
    eddy_free(tags);
}

/* ---- the reconciler's steps ---- */

/* The step due for ci at now_ms: set_status ACTIVE, remove, or none. */
static Eddy__ConsumerChange__ChangeCase
coord_consumer_step(const struct coord *c, const Eddy__ConsumerInfo *ci, uint64_t now_ms)
{
    if (now_ms < ci->status_changed_ms + c->stream_creating_ms_min) {
        return EDDY__CONSUMER_CHANGE__CHANGE__NOT_SET;
    }
    if (ci->status == EDDY__CONSUMER_STATUS__CONSUMER_CREATING) {
        return EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS;
    }
    if (ci->status == EDDY__CONSUMER_STATUS__CONSUMER_DELETING &&
        catalog_consumer_may_remove(ci, now_ms)) {
        return EDDY__CONSUMER_CHANGE__CHANGE_REMOVE;
    }
    return EDDY__CONSUMER_CHANGE__CHANGE__NOT_SET;
}

bool coord_consumer_reconcile(struct coord *c)
{
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    uint64_t now_ms = coord_now_ms(c);
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *s = cat->streams[i];
        if (s->status == EDDY__STREAM_STATUS__STREAM_DELETING) {
            continue; /* its consumers go with it */
        }
        for (size_t j = 0; j < s->n_consumers; j++) {
            const Eddy__ConsumerInfo *ci = s->consumers[j];
            Eddy__ConsumerChange__ChangeCase step = coord_consumer_step(c, ci, now_ms);
            if (step == EDDY__CONSUMER_CHANGE__CHANGE__NOT_SET) {
                continue;
            }
            Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
            ch.stream = s->name;
            ch.stream_created_ms = s->created_ms;
            ch.name = ci->name;
            ch.consumer_created_ms = ci->created_ms;
            ch.change_case = step;
            if (step == EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS) {
                ch.set_status = EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE;
            } else {
                ch.remove = true;
            }
            Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
            e.now_ms = now_ms;
            e.op_case = EDDY__CATALOG_ENTRY__OP_CONSUMER;
            e.consumer = &ch;
            struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
            op->kind = COORD_OP_TASK;
            op->task_id = RECONCILE_TASK_CONSUMERS;
            LOG_INFO("consumer %s stream=%s consumer=%s",
                     step == EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS ? "activating" : "removing",
                     s->name, ci->name);
            coord_propose(c, &e, op);
            return true;
        }
    }
    return false;
}
