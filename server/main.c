/*
 * eddyd: one daemon with the coordinator, shard server and gateway roles.
 * main owns the loop and the process-wide objects, wires the internal RPC
 * dispatcher to the roles, and shuts everything down in reverse order on
 * SIGINT or SIGTERM.
 */
#include "config.h"
#include "heartbeat.h"
#include "hydrate.h"
#include "join.h"
#include "shard_server.h"

#include "backend.h"
#include "coord.h"
#include "coord_limits.h"
#include "gateway.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/placement.h"
#include "eddy/rmux.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static_assert(CONFIG_NODE_DEAD_MS_MIN >= COORD_NODE_DEAD_MS_MIN, "--node-dead-ms within bounds");
static_assert(CONFIG_NODE_DEAD_MS_MAX <= COORD_NODE_DEAD_MS_MAX, "--node-dead-ms within bounds");

struct eddyd {
    uv_loop_t loop;
    struct config cfg;
    struct rgroup_peer peers[CONFIG_PEERS_MAX];
    struct hydrate_peer rpc_peers[CONFIG_PEERS_MAX]; /* segment fetches of hydrating replicas */
    struct rmux *mux;
    struct rpc_server *rpc;
    struct coord *coord;
    struct shard_server *server;
    struct backend *backend;
    struct gateway *gateway;
    struct heartbeat *heartbeat;
    struct join *join; /* bootstrap or join at first start, rejoin of wiped groups */
    uv_signal_t sigint;
    uv_signal_t sigterm;
    bool stopping;
};

/* Appends the state of every replica this node hosts (group 0 first) to
 * resp; shard_server_status_free releases it. Also the heartbeat's report. */
static void eddyd_collect_groups(void *arg, Eddy__NodeStatusResp *resp)
{
    struct eddyd *d = arg;
    if (d->coord != NULL) {
        EDDY_ASSERT(resp->n_groups == 0);
        resp->groups = eddy_xmalloc(sizeof(*resp->groups));
        resp->groups[0] = eddy_xmalloc(sizeof(Eddy__GroupStatus));
        eddy__group_status__init(resp->groups[0]);
        coord_status(d->coord, resp->groups[0]);
        resp->n_groups = 1;
    }
    if (d->server != NULL) {
        shard_server_status(d->server, resp);
    }
}

static void eddyd_release_groups(void *arg, Eddy__NodeStatusResp *resp)
{
    (void)arg;
    shard_server_status_free(resp);
}

static void eddyd_node_status(struct eddyd *d, struct rpc_call *call)
{
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__NodeStatusResp resp = EDDY__NODE_STATUS_RESP__INIT;
    resp.status = &st;
    resp.node = (uint32_t)d->cfg.node_id;
    eddyd_collect_groups(d, &resp);
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_NODE_STATUS_RESP;
    f.node_status_resp = &resp;
    rpc_call_reply(call, &f);
    shard_server_status_free(&resp);
}

/* Internal RPC dispatcher: each request goes to the role that owns it. */
static void eddyd_on_rpc(void *data, struct rpc_call *call)
{
    struct eddyd *d = data;
    switch (rpc_call_request(call)->body_case) {
    case EDDY__FRAME__BODY_CREATE_STREAM:
    case EDDY__FRAME__BODY_DELETE_STREAM:
    case EDDY__FRAME__BODY_GET_CATALOG:
    case EDDY__FRAME__BODY_HEARTBEAT:
    case EDDY__FRAME__BODY_CLUSTER_STATUS:
        if (d->coord == NULL) {
            rpc_reply_error(call, -EDDY_ENOTLEADER, 0, "no coordinator role on this node");
            return;
        }
        coord_handle(d->coord, call);
        return;
    case EDDY__FRAME__BODY_PUT_RECORDS:
    case EDDY__FRAME__BODY_READ:
    case EDDY__FRAME__BODY_CREATE_SHARDS:
    case EDDY__FRAME__BODY_DROP_STREAM:
    case EDDY__FRAME__BODY_FETCH_SEGMENT:
        if (d->server == NULL) {
            rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no server role on this node");
            return;
        }
        shard_server_handle(d->server, call);
        return;
    case EDDY__FRAME__BODY_JOIN_GROUP:
        /* Group 0 is the coordinator's; a node that does not host the group
         * (or has not started its replicas yet) knows no leader. */
        if (rpc_call_request(call)->join_group->group == 0 && d->coord != NULL) {
            coord_handle(d->coord, call);
        } else if (rpc_call_request(call)->join_group->group != 0 && d->server != NULL) {
            shard_server_handle(d->server, call);
        } else {
            rpc_reply_error(call, -EDDY_ENOTLEADER, 0, "group not hosted here (yet)");
        }
        return;
    case EDDY__FRAME__BODY_TRANSFER_LEADER:
        if (d->server == NULL) {
            rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no server role on this node");
            return;
        }
        shard_server_handle(d->server, call);
        return;
    case EDDY__FRAME__BODY_NODE_STATUS:
        eddyd_node_status(d, call);
        return;
    default:
        rpc_reply_error(call, -EDDY_EMALFORMED, 0, "unexpected frame");
        return;
    }
}

/* ---- shutdown, in reverse order of start ---- */

static void eddyd_stop_step(void *arg);

static void eddyd_on_closed(void *arg)
{
    eddyd_stop_step(arg);
}

static void eddyd_signal_closed(uv_handle_t *h)
{
    (void)h;
}

static void eddyd_stop_step(void *arg)
{
    struct eddyd *d = arg;
    if (d->join != NULL) {
        struct join *j = d->join;
        d->join = NULL;
        join_close(j, eddyd_on_closed, d);
        return;
    }
    if (d->heartbeat != NULL) {
        struct heartbeat *h = d->heartbeat;
        d->heartbeat = NULL;
        heartbeat_close(h, eddyd_on_closed, d);
        return;
    }
    if (d->gateway != NULL) {
        struct gateway *g = d->gateway;
        d->gateway = NULL;
        gateway_close(g, eddyd_on_closed, d);
        return;
    }
    if (d->backend != NULL) {
        struct backend *b = d->backend;
        d->backend = NULL;
        backend_close(b, eddyd_on_closed, d);
        return;
    }
    if (d->coord != NULL) {
        struct coord *c = d->coord;
        d->coord = NULL;
        coord_close(c, eddyd_on_closed, d);
        return;
    }
    if (d->server != NULL) {
        struct shard_server *s = d->server;
        d->server = NULL;
        shard_server_close(s, eddyd_on_closed, d);
        return;
    }
    if (d->rpc != NULL) {
        struct rpc_server *r = d->rpc;
        d->rpc = NULL;
        rpc_server_close(r, eddyd_on_closed, d);
        return;
    }
    if (d->mux != NULL) {
        struct rmux *m = d->mux;
        d->mux = NULL;
        rmux_close(m, eddyd_on_closed, d);
        return;
    }
    uv_close((uv_handle_t *)&d->sigint, eddyd_signal_closed);
    uv_close((uv_handle_t *)&d->sigterm, eddyd_signal_closed);
    LOG_INFO("stopped");
}

static void eddyd_on_signal(uv_signal_t *h, int signum)
{
    struct eddyd *d = h->data;
    if (d->stopping) {
        LOG_WARN("signal=%d again: exiting now", signum);
        exit(1);
    }
    d->stopping = true;
    LOG_INFO("signal=%d: stopping", signum);
    eddyd_stop_step(d);
}

/* ---- start ---- */

static int eddyd_mkdir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/* Every server node heartbeats to the coordinator leader among its peers. */
static int eddyd_start_heartbeat(struct eddyd *d)
{
    struct config *cfg = &d->cfg;
    struct heartbeat_peer hpeers[CONFIG_PEERS_MAX];
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        hpeers[i] = (struct heartbeat_peer){
            .node_id = cfg->peers[i].node_id,
            .rpc_address = cfg->peers[i].rpc_addr,
        };
    }
    char gw[CONFIG_ADDR_LEN_MAX + 8] = "";
    if (d->gateway != NULL) {
        snprintf(gw, sizeof(gw), "%s:%d", cfg->gateway_host, gateway_port(d->gateway));
    }
    struct heartbeat_config hc = {
        .node_id = cfg->node_id,
        .rpc_address = cfg->rpc_addr,
        .gateway_address = gw,
        .peers = hpeers,
        .peer_count = cfg->peer_count,
        .collect = eddyd_collect_groups,
        .release = eddyd_release_groups,
        .arg = d,
    };
    int rv = heartbeat_init(&d->heartbeat, &d->loop, &hc);
    if (rv != 0) {
        LOG_ERROR("heartbeat start: %s", eddy_strerror(rv));
        return rv;
    }
    heartbeat_start(d->heartbeat);
    return 0;
}

/* ---- Raft replicas: start as before, bootstrap, or join (join.h) ---- */

/* Starts the shard server's and the coordinator's replicas. join: the
 * cluster exists, so replicas without Raft data wait for their leader to
 * add them instead of bootstrapping. */
static int eddyd_start_replicas(struct eddyd *d, bool join)
{
    struct config *cfg = &d->cfg;
    int rv;
    if (cfg->role_server) {
        struct shard_server_config sc = {
            .node_id = cfg->node_id,
            .data_dir = cfg->data_dir,
            .peers = d->peers,
            .peer_count = cfg->peer_count,
            .group_count = cfg->group_count,
            .join = join,
            .rpc_peers = d->rpc_peers,
            .rpc_peer_count = cfg->peer_count,
        };
        rv = shard_server_init(&d->server, &d->loop, d->mux, &sc);
        if (rv == 0) {
            rv = shard_server_start(d->server);
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (cfg->role_coordinator) {
        struct coord_peer cpeers[CONFIG_PEERS_MAX];
        for (unsigned i = 0; i < cfg->peer_count; i++) {
            cpeers[i] = (struct coord_peer){
                .node_id = cfg->peers[i].node_id,
                .rpc_address = cfg->peers[i].rpc_addr,
                .raft_address = cfg->peers[i].raft_addr,
            };
        }
        struct coord_config cc = {
            .node_id = cfg->node_id,
            .data_dir = cfg->data_dir,
            .peers = cpeers,
            .peer_count = cfg->peer_count,
            .group_count = cfg->group_count,
            .stream_creating_ms_min = cfg->creating_ms,
            .node_dead_ms = cfg->node_dead_ms,
            .join = join,
        };
        rv = coord_init(&d->coord, &d->loop, d->mux, &cc);
        if (rv == 0) {
            rv = coord_start(d->coord);
        }
        if (rv != 0) {
            LOG_ERROR("coordinator start: %s", eddy_strerror(rv));
            return rv;
        }
    }
    return 0;
}

/* Groups this node hosts a replica of: 0 (the coordinator, on every peer)
 * and the shard groups placement.h puts on it. */
static bool eddyd_hosts_group(const struct eddyd *d, uint32_t group)
{
    const struct config *cfg = &d->cfg;
    if (group == 0) {
        return cfg->role_coordinator;
    }
    if (!cfg->role_server || group > cfg->group_count) {
        return false;
    }
    for (unsigned pos = 0; pos < cfg->peer_count; pos++) {
        if (cfg->peers[pos].node_id == cfg->node_id) {
            return placement_is_replica(group, cfg->peer_count, pos);
        }
    }
    return false;
}

static bool eddyd_group_is_pristine(const struct eddyd *d, uint32_t group)
{
    char dir[PATH_MAX];
    if (join_raft_dir(dir, sizeof(dir), d->cfg.data_dir, group) != 0) {
        return false; /* rgroup_init refuses the path anyway */
    }
    return !rgroup_dir_has_data(dir);
}

static void eddyd_on_probe(void *arg, bool cluster_exists)
{
    struct eddyd *d = arg;
    int rv = eddyd_start_replicas(d, cluster_exists);
    if (rv != 0) {
        LOG_ERROR("start failed: %s", eddy_strerror(rv));
        exit(1); /* as when the replicas fail to start before the loop runs */
    }
    for (uint32_t g = 0; cluster_exists && g <= d->cfg.group_count; g++) {
        if (eddyd_hosts_group(d, g)) {
            join_group(d->join, g); /* every replica here is new */
        }
    }
}

static int eddyd_join_init(struct eddyd *d)
{
    struct config *cfg = &d->cfg;
    struct join_peer jpeers[CONFIG_PEERS_MAX];
    const char *raft_address = cfg->raft_addr;
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        jpeers[i] = (struct join_peer){
            .node_id = cfg->peers[i].node_id,
            .rpc_address = cfg->peers[i].rpc_addr,
        };
        if (cfg->peers[i].node_id == cfg->node_id) {
            raft_address = cfg->peers[i].raft_addr; /* as the others know it */
        }
    }
    uint32_t groups[CONFIG_GROUPS_MAX + 1];
    unsigned group_count = 0;
    for (uint32_t g = 0; g <= cfg->group_count; g++) {
        if (eddyd_hosts_group(d, g)) {
            groups[group_count++] = g;
        }
    }
    struct join_config jc = {
        .node_id = cfg->node_id,
        .raft_address = raft_address,
        .peers = jpeers,
        .peer_count = cfg->peer_count,
        .groups = groups,
        .group_count = group_count,
    };
    int rv = join_init(&d->join, &d->loop, &jc);
    if (rv != 0) {
        LOG_ERROR("join: %s", eddy_strerror(rv));
    }
    return rv;
}

/* A replica directory without Raft data is pristine (join.h). All data
 * there: start as before. None: ask the peers, then bootstrap or join.
 * Some: the cluster exists; join the pristine groups. A one-node cluster
 * has nobody to join and always starts (bootstrapping what is pristine). */
static int eddyd_start_raft(struct eddyd *d)
{
    bool is_pristine[CONFIG_GROUPS_MAX + 1] = {false};
    bool is_any_pristine = false;
    bool is_any_data = false;
    for (uint32_t g = 0; g <= d->cfg.group_count; g++) {
        if (eddyd_hosts_group(d, g)) {
            is_pristine[g] = eddyd_group_is_pristine(d, g);
            is_any_pristine = is_any_pristine || is_pristine[g];
            is_any_data = is_any_data || !is_pristine[g];
        }
    }
    if (!is_any_pristine || d->cfg.peer_count == 1) {
        return eddyd_start_replicas(d, false);
    }
    int rv = eddyd_join_init(d);
    if (rv != 0) {
        return rv;
    }
    if (!is_any_data) {
        join_probe(d->join, eddyd_on_probe, d); /* the replicas start from its callback */
        return 0;
    }
    LOG_INFO("some replicas have no Raft data: the cluster exists, rejoining them");
    rv = eddyd_start_replicas(d, true);
    if (rv != 0) {
        return rv;
    }
    for (uint32_t g = 0; g <= d->cfg.group_count; g++) {
        if (is_pristine[g]) {
            join_group(d->join, g);
        }
    }
    return 0;
}

static int eddyd_start(struct eddyd *d)
{
    struct config *cfg = &d->cfg;
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        d->peers[i].node_id = cfg->peers[i].node_id;
        d->peers[i].raft_addr = cfg->peers[i].raft_addr;
        d->rpc_peers[i].node_id = cfg->peers[i].node_id;
        d->rpc_peers[i].rpc_address = cfg->peers[i].rpc_addr;
    }
    int rv;
    if (cfg->role_coordinator || cfg->role_server) {
        rv = eddyd_mkdir(cfg->data_dir);
        if (rv != 0) {
            LOG_ERROR("data=%s: %s", cfg->data_dir, eddy_strerror(rv));
            return rv;
        }
        rv = rmux_init(&d->mux, &d->loop, cfg->raft_addr);
        if (rv != 0) {
            LOG_ERROR("raft listen=%s: %s", cfg->raft_addr, eddy_strerror(rv));
            return rv;
        }
        char host[CONFIG_ADDR_LEN_MAX];
        int port;
        rv = config_split_addr(cfg->rpc_addr, host, sizeof(host), &port);
        if (rv == 0) {
            rv = rpc_server_init(&d->rpc, &d->loop, host, port, eddyd_on_rpc, d);
        }
        if (rv != 0) {
            LOG_ERROR("rpc listen=%s: %s", cfg->rpc_addr, eddy_strerror(rv));
            return rv;
        }
    }
    if (cfg->role_coordinator || cfg->role_server) {
        rv = eddyd_start_raft(d);
        if (rv != 0) {
            return rv;
        }
    }
    if (cfg->role_gateway) {
        const char *coords[CONFIG_COORDINATORS_MAX];
        for (unsigned i = 0; i < cfg->coordinator_count; i++) {
            coords[i] = cfg->coordinators[i];
        }
        struct backend_config bc = {
            .coordinator_rpc_addrs = coords,
            .coordinator_count = cfg->coordinator_count,
        };
        rv = backend_init(&d->backend, &d->loop, &bc);
        if (rv != 0) {
            return rv;
        }
        struct gateway_config gc = {
            .host = cfg->gateway_host,
            .port = cfg->gateway_port,
            .region = cfg->region,
            .account = cfg->account,
        };
        rv = gateway_init(&d->gateway, &d->loop, &gc, d->backend);
        if (rv != 0) {
            LOG_ERROR("gateway listen=%s:%d: %s", cfg->gateway_host, cfg->gateway_port,
                      eddy_strerror(rv));
            return rv;
        }
        LOG_INFO("gateway listening on http://%s:%d", cfg->gateway_host, gateway_port(d->gateway));
    }
    if (cfg->role_server) {
        return eddyd_start_heartbeat(d);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct eddyd d;
    char err[2048];
    log_init_from_env();
    int rv = config_parse(&d.cfg, argc, argv, err, sizeof(err));
    if (rv != 0) {
        fputs(err, rv > 0 ? stdout : stderr);
        return rv > 0 ? 0 : 2;
    }
    char tag[32];
    snprintf(tag, sizeof(tag), "n%llu", (unsigned long long)d.cfg.node_id);
    log_set_tag(tag);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&d.loop);
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = &d;
    d.sigterm.data = &d;
    uv_signal_start(&d.sigint, eddyd_on_signal, SIGINT);
    uv_signal_start(&d.sigterm, eddyd_on_signal, SIGTERM);
    rv = eddyd_start(&d);
    if (rv != 0) {
        LOG_ERROR("start failed: %s", eddy_strerror(rv));
        return 1;
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
    rv = uv_loop_close(&d.loop);
    if (rv != 0) {
        LOG_WARN("loop closed with handles still open: %s", uv_strerror(rv));
    }
    return 0;
}
