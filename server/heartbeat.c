/*
 * Heartbeats to the coordinator leader (see heartbeat.h).
 *
 * State: the peer to call next (target), whether a call is outstanding, and
 * how many calls this period made. A reply that names another leader, or a
 * failure, moves target and calls again at once while the period's budget
 * lasts, so a heartbeat finds a new coordinator leader within one period of
 * its election.
 */
#include "heartbeat.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

/* Periods without an answer before a warning: an election or a start-up
 * takes a period or two and is not worth one. */
#define HEARTBEAT_FAILED_PERIODS_WARN 4

struct heartbeat_peer_state {
    uint64_t node_id;
    char *rpc_address;
    struct rpc_client *client; /* made on first call */
};

struct heartbeat {
    uv_loop_t *loop;
    uv_timer_t timer;
    uint64_t node_id;
    char *rpc_address;
    char *gateway_address;
    struct heartbeat_peer_state *peers;
    unsigned peer_count;
    unsigned interval_ms;
    heartbeat_collect_cb collect;
    heartbeat_release_cb release;
    void *arg;
    unsigned target;         /* index into peers */
    bool is_inflight;        /* a call is outstanding */
    unsigned period_calls;   /* calls made this period */
    unsigned failed_periods; /* periods in a row that ended without an answer */
    bool is_failing;         /* failed_periods reached HEARTBEAT_FAILED_PERIODS_WARN */
    uint64_t leader_node;    /* who answered last; 0 none */
    bool is_closing;
    unsigned closes_pending; /* handles, clients and the outstanding call */
    void (*close_cb)(void *arg);
    void *close_arg;
};

static void heartbeat_send(struct heartbeat *h);

int heartbeat_init(struct heartbeat **out, uv_loop_t *loop, const struct heartbeat_config *cfg)
{
    if (cfg->node_id == 0 || cfg->rpc_address == NULL || cfg->peers == NULL ||
        cfg->peer_count == 0 || cfg->peer_count > HEARTBEAT_PEERS_MAX || cfg->collect == NULL ||
        cfg->release == NULL) {
        return -EDDY_EINVAL;
    }
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        if (cfg->peers[i].node_id == 0 || cfg->peers[i].rpc_address == NULL) {
            return -EDDY_EINVAL;
        }
    }
    struct heartbeat *h = eddy_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->node_id = cfg->node_id;
    h->rpc_address = eddy_xstrdup(cfg->rpc_address);
    h->gateway_address = eddy_xstrdup(cfg->gateway_address != NULL ? cfg->gateway_address : "");
    h->peer_count = cfg->peer_count;
    h->peers = eddy_xcalloc(cfg->peer_count, sizeof(*h->peers));
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        h->peers[i].node_id = cfg->peers[i].node_id;
        h->peers[i].rpc_address = eddy_xstrdup(cfg->peers[i].rpc_address);
    }
    h->interval_ms = cfg->interval_ms != 0 ? cfg->interval_ms : EDDY_HEARTBEAT_MS;
    h->collect = cfg->collect;
    h->release = cfg->release;
    h->arg = cfg->arg;
    int rv = uv_timer_init(loop, &h->timer);
    EDDY_ASSERT(rv == 0); /* uv_timer_init cannot fail */
    *out = h;
    return 0;
}

static void heartbeat_on_tick(uv_timer_t *t)
{
    struct heartbeat *h = container_of(t, struct heartbeat, timer);
    if (h->is_closing || h->is_inflight) {
        return; /* the outstanding call times out within the period */
    }
    if (h->period_calls > 0 && h->leader_node == 0) {
        h->failed_periods++;
        if (h->failed_periods == HEARTBEAT_FAILED_PERIODS_WARN) {
            LOG_WARN("heartbeat: no coordinator leader answers peers=%u periods=%u", h->peer_count,
                     h->failed_periods);
            h->is_failing = true;
        }
    }
    h->period_calls = 0;
    heartbeat_send(h);
}

void heartbeat_start(struct heartbeat *h)
{
    uv_timer_start(&h->timer, heartbeat_on_tick, 0, h->interval_ms);
}

void heartbeat_send_soon(struct heartbeat *h)
{
    EDDY_ASSERT(!h->is_closing);
    uv_timer_start(&h->timer, heartbeat_on_tick, 0, h->interval_ms); /* a new period, now */
}

static int heartbeat_peer_index(const struct heartbeat *h, uint64_t node_id)
{
    for (unsigned i = 0; i < h->peer_count; i++) {
        if (h->peers[i].node_id == node_id) {
            return (int)i;
        }
    }
    return -1;
}

static void heartbeat_maybe_free(struct heartbeat *h)
{
    if (h->closes_pending > 0) {
        return;
    }
    void (*cb)(void *) = h->close_cb;
    void *arg = h->close_arg;
    for (unsigned i = 0; i < h->peer_count; i++) {
        eddy_free(h->peers[i].rpc_address);
    }
    eddy_free(h->peers);
    eddy_free(h->rpc_address);
    eddy_free(h->gateway_address);
    eddy_free(h);
    if (cb != NULL) {
        cb(arg);
    }
}

static void heartbeat_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct heartbeat *h = arg;
    EDDY_ASSERT(h->is_inflight);
    h->is_inflight = false;
    if (h->is_closing) {
        h->closes_pending--;
        heartbeat_maybe_free(h);
        return;
    }
    int code = status;
    uint32_t hint = 0;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : -EDDY_EMALFORMED;
        hint = st != NULL ? st->leader_node : 0;
    }
    if (code == 0) {
        uint64_t leader = h->peers[h->target].node_id;
        if (h->is_failing || leader != h->leader_node) {
            LOG_INFO("heartbeat: reporting to coordinator leader node=%" PRIu64, leader);
        }
        h->leader_node = leader;
        h->is_failing = false;
        h->failed_periods = 0;
        return;
    }
    h->leader_node = 0;
    int at = code == -EDDY_ENOTLEADER ? heartbeat_peer_index(h, hint) : -1;
    if (at >= 0 && (unsigned)at != h->target) {
        h->target = (unsigned)at;
    } else {
        h->target = (h->target + 1) % h->peer_count;
    }
    LOG_DEBUG("heartbeat: call failed code=%d err=%s next=%" PRIu64, code, eddy_strerror(code),
              h->peers[h->target].node_id);
    if (h->period_calls < 2 * h->peer_count) {
        heartbeat_send(h);
    }
}

static void heartbeat_send(struct heartbeat *h)
{
    EDDY_ASSERT(!h->is_inflight);
    EDDY_ASSERT(!h->is_closing);
    struct heartbeat_peer_state *p = &h->peers[h->target];
    if (p->client == NULL) {
        int rv = rpc_client_init(&p->client, h->loop, p->rpc_address);
        if (rv != 0) {
            LOG_WARN("heartbeat: bad coordinator address node=%" PRIu64 " addr=%s err=%s",
                     p->node_id, p->rpc_address, eddy_strerror(rv));
            p->client = NULL;
            h->target = (h->target + 1) % h->peer_count;
            return;
        }
    }
    Eddy__NodeStatusResp groups = EDDY__NODE_STATUS_RESP__INIT;
    h->collect(h->arg, &groups);
    Eddy__HeartbeatReq req = EDDY__HEARTBEAT_REQ__INIT;
    req.node = (uint32_t)h->node_id;
    req.rpc_address = h->rpc_address;
    req.gateway_address = h->gateway_address;
    req.n_groups = groups.n_groups;
    req.groups = groups.groups;
    req.n_shard_loads = groups.n_shard_loads;
    req.shard_loads = groups.shard_loads;
    req.draining = groups.draining;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_HEARTBEAT;
    f.heartbeat = &req;
    h->is_inflight = true;
    h->period_calls++;
    rpc_client_call(p->client, &f, h->interval_ms, heartbeat_on_reply, h);
    h->release(h->arg, &groups);
}

static void heartbeat_on_closed(void *arg)
{
    struct heartbeat *h = arg;
    EDDY_ASSERT(h->closes_pending > 0);
    h->closes_pending--;
    heartbeat_maybe_free(h);
}

static void heartbeat_on_timer_closed(uv_handle_t *handle)
{
    heartbeat_on_closed(container_of((uv_timer_t *)handle, struct heartbeat, timer));
}

void heartbeat_close(struct heartbeat *h, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(!h->is_closing);
    h->is_closing = true;
    h->close_cb = cb;
    h->close_arg = arg;
    /* Everything counts as pending before the first close starts. */
    h->closes_pending = 1 + (h->is_inflight ? 1 : 0);
    for (unsigned i = 0; i < h->peer_count; i++) {
        h->closes_pending += h->peers[i].client != NULL;
    }
    uv_close((uv_handle_t *)&h->timer, heartbeat_on_timer_closed);
    for (unsigned i = 0; i < h->peer_count; i++) {
        if (h->peers[i].client != NULL) {
            rpc_client_close(h->peers[i].client, heartbeat_on_closed, h);
            h->peers[i].client = NULL;
        }
    }
}
