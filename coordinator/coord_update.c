/*
 * The settings RPCs of the coordinator (see coord_update.h): a check against
 * the leader's catalogue, one proposal, and an answer carrying the stream or
 * the account as the applied entry left it. The proposal callback runs
 * right after its entry applied (rgroup.c: raft 0.15 calls it before the
 * next entry), so the catalogue read then is the entry's result.
 */
#include "coord_update.h"
#include "catalog.h"
#include "catalog_update.h"
#include "coord_internal.h"
#include "coord_limits.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* AWS's texts are short; a stream name is at most 128 bytes. */
#define COORD_UPDATE_MESSAGE_MAX 512

/* ---- answers ---- */

static void coord_update_reply_stream(struct rpc_call *call,
                                      int code,
                                      const char *message,
                                      const Eddy__StreamInfo *s)
{
    Eddy__Status st = EDDY__STATUS__INIT;
    st.code = code;
    st.message = (char *)(message != NULL ? message : "");
    Eddy__UpdateStreamResp resp = EDDY__UPDATE_STREAM_RESP__INIT;
    resp.status = &st;
    resp.stream = (Eddy__StreamInfo *)s; /* packed before rpc_call_reply returns */
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_UPDATE_STREAM_RESP;
    f.update_stream_resp = &resp;
    rpc_call_reply(call, &f);
}

/* AWS's text for a rejected update, when it names no account; "" otherwise
 * (the gateway words those). */
static void coord_update_message(
    const Eddy__StreamInfo *s, const Eddy__StreamUpdate *u, int code, char *out, size_t cap)
{
    out[0] = '\0';
    bool up = u->change_case == EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS;
    bool retention = up || u->change_case == EDDY__STREAM_UPDATE__CHANGE_DECREASE_RETENTION_HOURS;
    if (code == -EDDY_EINVAL && retention && s != NULL) {
        uint32_t hours = up ? u->increase_retention_hours : u->decrease_retention_hours;
        uint32_t now = s->retention_hours != 0 ? s->retention_hours : KIN_RETENTION_HOURS_DEFAULT;
        if (hours < COORD_RETENTION_HOURS_MIN) {
            snprintf(out, cap,
                     "Minimum allowed retention period is %u hours. Requested retention period "
                     "(%" PRIu32 " hours) is too short.",
                     (unsigned)COORD_RETENTION_HOURS_MIN, hours);
        } else if (hours > COORD_RETENTION_HOURS_MAX) {
            snprintf(out, cap,
                     "Maximum allowed retention period is %u hours. Requested retention period "
                     "(%" PRIu32 " hours) is too long.",
                     (unsigned)COORD_RETENTION_HOURS_MAX, hours);
        } else {
            snprintf(out, cap,
                     "Requested retention period (%" PRIu32 " hours) for stream %s can not be "
                     "%s than existing retention period (%" PRIu32 " hours). Use %s API.",
                     hours, s->name, up ? "shorter" : "longer", now,
                     up ? "DecreaseRetentionPeriod" : "IncreaseRetentionPeriod");
        }
        return;
    }
    bool warm = u->change_case == EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS ||
                u->change_case == EDDY__STREAM_UPDATE__CHANGE_SET_MODE;
    if (code == -EDDY_ELIMIT && !warm) {
        snprintf(out, cap,
                 "The tags, encryption key ids and resource policies of all streams would "
                 "exceed this deployment's limit of %u bytes.",
                 (unsigned)COORD_SETTINGS_BYTES_MAX);
    }
}

/* Answers a rejected or applied update of u: the stream as it is now. */
static void
coord_update_answer(struct coord *c, struct rpc_call *call, const Eddy__StreamUpdate *u, int code)
{
    const Eddy__StreamInfo *s = catalog_find_stream(c->catalog, u->name);
    if (code == 0 && s == NULL) {
        code = -EDDY_EUNKNOWN; /* applied, then gone: cannot happen within one callback */
    }
    bool with_stream =
        code == 0 || code == -EDDY_EINUSE || code == -EDDY_EINVAL || code == -EDDY_ELIMIT;
    bool rejected = with_stream || code == -EDDY_ENOTFOUND || code == -EDDY_EMALFORMED;
    if (!rejected) {
        /* The proposal failed (-EDDY_EUNKNOWN, -EDDY_ESHUTDOWN...). */
        rpc_reply_error(call, code, 0, eddy_strerror(code));
        return;
    }
    char message[COORD_UPDATE_MESSAGE_MAX];
    coord_update_message(s, u, code, message, sizeof(message));
    coord_update_reply_stream(call, code, message, with_stream ? s : NULL);
}

static void coord_update_on_stream_applied(struct coord *c, struct rpc_call *call, int code)
{
    const Eddy__StreamUpdate *u = rpc_call_request(call)->update_stream->update;
    EDDY_ASSERT(u != NULL && u->name != NULL); /* checked before it was proposed */
    if (code == 0) {
        LOG_DEBUG("stream updated stream=%s change=%d", u->name, (int)u->change_case);
    }
    coord_update_answer(c, call, u, code);
}

static void coord_update_reply_account(struct coord *c, struct rpc_call *call, int code)
{
    if (code != 0) {
        rpc_reply_error(call, code, 0, eddy_strerror(code));
        return;
    }
    Eddy__AccountSettings none = EDDY__ACCOUNT_SETTINGS__INIT;
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__UpdateAccountResp resp = EDDY__UPDATE_ACCOUNT_RESP__INIT;
    resp.status = &st;
    resp.settings = cat->account != NULL ? cat->account : &none;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_UPDATE_ACCOUNT_RESP;
    f.update_account_resp = &resp;
    rpc_call_reply(call, &f);
}

/* ---- requests ---- */

/* Whether a client proposal may start now; answers the call when not. */
static bool coord_update_may_propose(struct coord *c, struct rpc_call *call)
{
    int code = 0;
    if (!catalog_is_initialized(c->catalog)) {
        code = -EDDY_EUNAVAILABLE;
    } else if (c->client_ops_inflight >= COORD_PROPOSALS_INFLIGHT_MAX) {
        code = -EDDY_EFULL;
    }
    if (code != 0) {
        rpc_reply_error(call, code, 0, eddy_strerror(code));
        return false;
    }
    return true;
}

static void coord_update_propose(struct coord *c,
                                 struct rpc_call *call,
                                 const Eddy__CatalogEntry *e,
                                 void (*reply)(struct coord *, struct rpc_call *, int))
{
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_CLIENT;
    op->call = call;
    op->reply = reply;
    c->client_ops_inflight++;
    coord_propose(c, e, op);
}

void coord_update_stream(struct coord *c, struct rpc_call *call, const Eddy__UpdateStreamReq *req)
{
    const Eddy__StreamUpdate *u = req->update;
    if (u == NULL || u->name == NULL) {
        coord_update_reply_stream(call, -EDDY_EINVAL, NULL, NULL);
        return;
    }
    if (!coord_update_may_propose(c, call)) {
        return;
    }
    uint64_t now_ms = coord_now_ms(c);
    const Eddy__StreamInfo *s = NULL;
    int code = catalog_update_check(catalog_get(c->catalog), u, now_ms, &s);
    if (code != 0) {
        coord_update_answer(c, call, u, code);
        return;
    }
    /* Pinned to the incarnation checked: a stream deleted and created again
     * before the entry applies is not changed by it. */
    Eddy__StreamUpdate pinned = *u;
    pinned.created_ms = s->created_ms;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_UPDATE_STREAM;
    e.update_stream = &pinned;
    coord_update_propose(c, call, &e, coord_update_on_stream_applied);
}

void coord_update_account(struct coord *c, struct rpc_call *call, const Eddy__UpdateAccountReq *req)
{
    if (req->settings == NULL) {
        rpc_reply_error(call, -EDDY_EINVAL, 0, "no settings");
        return;
    }
    if (!coord_update_may_propose(c, call)) {
        return;
    }
    Eddy__AccountSettings want = EDDY__ACCOUNT_SETTINGS__INIT;
    want.commitment_enabled = req->settings->commitment_enabled;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = coord_now_ms(c);
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_ACCOUNT;
    e.set_account = &want;
    LOG_INFO("account commitment %s", want.commitment_enabled ? "enable" : "disable");
    coord_update_propose(c, call, &e, coord_update_reply_account);
}

Eddy__Tag **coord_update_create_tags(const Eddy__CreateStreamReq *req, size_t *n)
{
    *n = req->n_tags;
    if (req->n_tags == 0) {
        return NULL;
    }
    Eddy__Tag **tags = eddy_xcalloc(req->n_tags, sizeof(*tags));
    memcpy(tags, req->tags, req->n_tags * sizeof(*tags));
    if (req->n_tags <= COORD_TAGS_PER_UPDATE_MAX) {
        catalog_update_tags_normalize(tags, n);
    }
    return tags;
}
