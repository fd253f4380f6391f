/*
 * The catalogue for a node that starts (see join.h): GetCatalogReq to the
 * peers in turn, following leader hints, with a bounded back-off, until one
 * answers. The RPC callback keeps the answer packed; the join's timer
 * decodes it and calls back, outside any client's callback.
 */
#include "join_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>

static void join_on_catalog_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct join_call *call = arg;
    struct join *j = call->j;
    uint64_t node_id = call->node_id;
    if (!join_call_end(call)) {
        return;
    }
    EDDY_ASSERT(j->is_catalog_inflight);
    j->is_catalog_inflight = false;
    uint64_t now = uv_now(j->loop);
    const Eddy__Status *st = status == 0 ? rpc_frame_status(resp) : NULL;
    int code = status != 0 ? status : st != NULL ? st->code : -EDDY_EMALFORMED;
    if (code == 0 && resp->body_case == EDDY__FRAME__BODY_CATALOG &&
        resp->catalog->catalog != NULL) {
        /* Kept packed: the tick decodes it and calls back, outside this
         * client's callback. */
        j->catalog_len = eddy__catalog__get_packed_size(resp->catalog->catalog);
        j->catalog_bytes = eddy_xmalloc(j->catalog_len ? j->catalog_len : 1);
        eddy__catalog__pack(resp->catalog->catalog, j->catalog_bytes);
        LOG_INFO("join: catalogue v%" PRIu64 " from node=%" PRIu64 " after %u attempt(s)",
                 resp->catalog->catalog->version, node_id, j->catalog_attempts);
        return;
    }
    uint64_t hint = code == -EDDY_ENOTLEADER && st != NULL ? st->leader_node : 0;
    if (hint != 0 && hint != node_id && hint != j->node_id && join_conn_find(j, hint) != NULL) {
        j->catalog_target = hint;
        j->catalog_next_ms = now + JOIN_RETRY_MS_MIN;
        return;
    }
    if (j->catalog_attempts <= JOIN_LOG_FIRST_ATTEMPTS) {
        LOG_INFO("join: no catalogue from node=%" PRIu64 ": %s; asking again", node_id,
                 eddy_strerror(code == 0 ? -EDDY_EMALFORMED : code));
    }
    j->catalog_target = 0;
    j->catalog_turn++;
    j->catalog_next_ms = now + j->catalog_backoff_ms;
    j->catalog_backoff_ms = j->catalog_backoff_ms * 2 > JOIN_RETRY_MS_MAX
                                ? JOIN_RETRY_MS_MAX
                                : j->catalog_backoff_ms * 2;
}

/* Hands an answer over, or asks the next peer when due. The callback may
 * close the join. */
void join_catalog_tick(struct join *j, uint64_t now)
{
    if (j->catalog_cb == NULL || j->state != JOIN_RUNNING) {
        return;
    }
    if (j->catalog_bytes != NULL) {
        Eddy__Catalog *cat = eddy__catalog__unpack(NULL, j->catalog_len, j->catalog_bytes);
        eddy_free(j->catalog_bytes);
        j->catalog_bytes = NULL;
        EDDY_ASSERT(cat != NULL); /* packed by this process a moment ago */
        join_catalog_cb cb = j->catalog_cb;
        j->catalog_cb = NULL;
        cb(j->catalog_arg, cat);
        eddy__catalog__free_unpacked(cat, NULL);
        return;
    }
    if (j->is_catalog_inflight || now < j->catalog_next_ms || j->conn_count == 0) {
        return;
    }
    struct join_conn *c = j->catalog_target != 0 ? join_conn_find(j, j->catalog_target) : NULL;
    if (c == NULL) {
        c = &j->conns[j->catalog_turn % j->conn_count];
    }
    Eddy__GetCatalogReq req = EDDY__GET_CATALOG_REQ__INIT;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_GET_CATALOG;
    f.get_catalog = &req;
    j->catalog_attempts++;
    j->is_catalog_inflight = true;
    if (!join_call_send(j, c, &f, JOIN_PROBE_TIMEOUT_MS, NULL, join_on_catalog_reply)) {
        j->is_catalog_inflight = false;
        j->catalog_turn++;
        j->catalog_next_ms = now + JOIN_RETRY_MS_MIN;
    }
}

void join_fetch_catalog(struct join *j, join_catalog_cb cb, void *arg)
{
    EDDY_ASSERT(j->state == JOIN_RUNNING);
    EDDY_ASSERT(j->catalog_cb == NULL);
    EDDY_ASSERT(cb != NULL);
    j->catalog_cb = cb;
    j->catalog_arg = arg;
    j->catalog_target = 0;
    j->catalog_turn = (unsigned)(j->node_id % (j->conn_count ? j->conn_count : 1));
    j->catalog_backoff_ms = JOIN_RETRY_MS_MIN;
    j->catalog_next_ms = 0;
    j->catalog_attempts = 0;
    if (j->conn_count == 0) {
        LOG_WARN("join: no other peer to ask for the catalogue");
    }
    join_wake(j);
}
