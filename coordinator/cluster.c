/*
 * The coordinator leader's cluster view (see cluster.h): heartbeat intake,
 * ClusterStatus answers and the leader balancer's moves.
 */
#include "cluster.h"
#include "balance.h"
#include "catalog.h"
#include "coord_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <stdio.h>

/* One TransferLeader call in flight. */
struct cluster_transfer {
    struct coord *c;
    struct balance_move move;
};

void cluster_init(struct coord *c, unsigned dead_ms)
{
    liveness_init(&c->cluster.live, dead_ms != 0 ? dead_ms : COORD_NODE_DEAD_MS_DEFAULT,
                  uv_now(c->loop));
}

void cluster_clear(struct coord *c)
{
    liveness_clear(&c->cluster.live);
}

void cluster_on_ready(struct coord *c, bool is_ready)
{
    struct cluster *cl = &c->cluster;
    if (!is_ready) {
        cl->is_leading = false;
        return;
    }
    if (cl->is_leading) {
        return;
    }
    uint64_t now_ms = uv_now(c->loop);
    liveness_reset(&cl->live, now_ms);
    coord_replace_reset(&c->replace, now_ms);
    cl->is_leading = true;
    cl->failures = 0;
    /* Let every node report once before the first look. */
    cl->next_look_ms = now_ms + EDDY_HEARTBEAT_MS;
    LOG_INFO("liveness reset: every node unknown until it reports dead_ms=%u", cl->live.dead_ms);
}

void cluster_heartbeat(struct coord *c, struct rpc_call *call)
{
    const Eddy__HeartbeatReq *hb = rpc_call_request(call)->heartbeat;
    if (!catalog_is_initialized(c->catalog)) {
        rpc_reply_error(call, -EDDY_EUNAVAILABLE, 0, "catalogue not initialised yet");
        return;
    }
    if (catalog_find_node(c->catalog, hb->node) == NULL) {
        rpc_reply_error(call, -EDDY_ENOTFOUND, 0, "node not in the catalogue");
        return;
    }
    cluster_on_ready(c, true);
    uint64_t now_ms = uv_now(c->loop);
    enum liveness_state before = liveness_state(&c->cluster.live, hb->node, now_ms);
    int rv = liveness_record(&c->cluster.live, now_ms, hb);
    if (rv != 0) {
        rpc_reply_error(call, rv, 0, "bad heartbeat");
        return;
    }
    coord_autoscale_on_heartbeat(c, hb);
    if (before == LIVENESS_DEAD) {
        LOG_INFO("node alive again node=%" PRIu32, hb->node);
    } else if (before == LIVENESS_UNKNOWN) {
        LOG_DEBUG("node reported node=%" PRIu32 " groups=%zu", hb->node, hb->n_groups);
    }
    rpc_reply_ok(call);
}

void cluster_status(struct coord *c, struct rpc_call *call)
{
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__ClusterStatusResp resp = EDDY__CLUSTER_STATUS_RESP__INIT;
    resp.status = &st;
    bool is_leader = coord_is_leader(c);
    if (is_leader && catalog_is_initialized(c->catalog)) {
        cluster_on_ready(c, true);
        liveness_status_build(&c->cluster.live, catalog_get(c->catalog), uv_now(c->loop), &resp);
    } else if (is_leader) {
        st.code = -EDDY_EUNAVAILABLE;
        st.message = "catalogue not initialised yet";
    } else {
        uint64_t leader = c->group != NULL ? rgroup_leader(c->group) : 0;
        st.code = -EDDY_ENOTLEADER;
        st.leader_node = leader == c->node_id ? 0 : (uint32_t)leader;
        st.message = "not the coordinator leader";
        if (catalog_is_initialized(c->catalog)) {
            resp.catalog = (Eddy__Catalog *)catalog_get(c->catalog); /* for the node list */
        }
    }
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_CLUSTER_STATUS_RESP;
    f.cluster_status_resp = &resp;
    rpc_call_reply(call, &f);
    liveness_status_free(&resp);
}

/* ---- the balancer ---- */

static void cluster_on_transferred(void *arg, int status, const Eddy__Frame *resp)
{
    struct cluster_transfer *t = arg;
    struct coord *c = t->c; /* alive: it waits for rpcs_inflight to drain */
    EDDY_ASSERT(c->cluster.rpcs_inflight > 0);
    c->cluster.rpcs_inflight--;
    int code = status;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : -EDDY_EMALFORMED;
    }
    struct cluster *cl = &c->cluster;
    if (code == 0) {
        LOG_INFO("balance: leadership moved group=%" PRIu32 " from=%" PRIu32 " to=%" PRIu32,
                 t->move.group, t->move.from, t->move.to);
        cl->failures = 0;
    } else if (c->state == COORD_RUNNING) {
        /* Wait longer before the next look, and say so only for the first
         * failures of a row (a node without the handler fails every time). */
        cl->next_look_ms = uv_now(c->loop) + COORD_BALANCE_RETRY_MS;
        cl->failures++;
        if (cl->failures <= COORD_BALANCE_FAILURES_LOGGED) {
            LOG_WARN("balance: transfer failed group=%" PRIu32 " from=%" PRIu32 " to=%" PRIu32
                     " code=%d err=%s%s",
                     t->move.group, t->move.from, t->move.to, code, eddy_strerror(code),
                     cl->failures == COORD_BALANCE_FAILURES_LOGGED ? " (quiet from now on)" : "");
        }
    }
    eddy_free(t);
    if (c->state == COORD_CLOSING) {
        coord_maybe_free(c);
    }
}

/* "node=count ..." of the leaderships the view counts, for the move log. */
static void cluster_describe_counts(const struct balance_group *groups,
                                    size_t group_count,
                                    const uint32_t *live,
                                    unsigned live_count,
                                    char *out,
                                    size_t out_len)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < live_count && used < out_len; i++) {
        unsigned n = 0;
        for (size_t g = 0; g < group_count; g++) {
            n += groups[g].leader == live[i];
        }
        int w = snprintf(out + used, out_len - used, "%s%" PRIu32 ":%u", i ? " " : "", live[i], n);
        used += w > 0 ? (size_t)w : 0;
    }
}

static void cluster_send_transfer(struct coord *c, const struct balance_move *m)
{
    struct rpc_client *rc = reconcile_client_get(c, m->from);
    if (rc == NULL) {
        return;
    }
    Eddy__TransferLeaderReq req = EDDY__TRANSFER_LEADER_REQ__INIT;
    req.group = m->group;
    req.node = m->to;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_TRANSFER_LEADER;
    f.transfer_leader = &req;
    struct cluster_transfer *t = eddy_xcalloc(1, sizeof(*t));
    t->c = c;
    t->move = *m;
    c->cluster.rpcs_inflight++;
    rpc_client_call(rc, &f, COORD_TRANSFER_RPC_TIMEOUT_MS, cluster_on_transferred, t);
}

void cluster_run(struct coord *c)
{
    struct cluster *cl = &c->cluster;
    cluster_on_ready(c, true);
    uint64_t now_ms = uv_now(c->loop);
    if (now_ms < cl->next_look_ms || cl->rpcs_inflight > 0) {
        return;
    }
    cl->next_look_ms = now_ms + COORD_BALANCE_INTERVAL_MS;
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    if (cat->n_groups == 0) {
        return;
    }
    struct balance_group *groups = eddy_xcalloc(cat->n_groups, sizeof(*groups));
    uint32_t live[COORD_NODES_MAX];
    unsigned live_count = balance_view_build(cat, &cl->live, now_ms, groups, live);
    struct balance_move m;
    if (balance_pick(groups, cat->n_groups, live, live_count, &m)) {
        char counts[COORD_NODES_MAX * 16];
        cluster_describe_counts(groups, cat->n_groups, live, live_count, counts, sizeof(counts));
        if (cl->failures < COORD_BALANCE_FAILURES_LOGGED) {
            LOG_INFO("balance: moving leadership group=%" PRIu32 " from=%" PRIu32 " to=%" PRIu32
                     " leaders=[%s]",
                     m.group, m.from, m.to, counts);
        }
        cluster_send_transfer(c, &m);
    }
    eddy_free(groups);
}
