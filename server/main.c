/*
 * eddyd: one daemon with the coordinator, shard server and gateway roles.
 * main owns the loop and the process-wide objects, wires the internal RPC
 * dispatcher to the roles, and shuts everything down in reverse order on
 * SIGINT or SIGTERM.
 */
#include "config.h"
#include "heartbeat.h"
#include "host.h"
#include "hydrate.h"
#include "join.h"
#include "shard_rate.h"
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
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static_assert(CONFIG_NODE_DEAD_MS_MIN >= COORD_NODE_DEAD_MS_MIN, "--node-dead-ms within bounds");
static_assert(CONFIG_NODE_DEAD_MS_MAX <= COORD_NODE_DEAD_MS_MAX, "--node-dead-ms within bounds");
static_assert(CONFIG_REPLACE_DEAD_MS_MIN >= COORD_REPLACE_DEAD_MS_MIN,
              "--replace-dead-ms within bounds");
static_assert(CONFIG_REPLACE_DEAD_MS_MAX <= COORD_REPLACE_DEAD_MS_MAX,
              "--replace-dead-ms within bounds");
static_assert(CONFIG_RETENTION_HOUR_MS_DEFAULT == COORD_RETENTION_HOUR_MS_DEFAULT,
              "--retention-hour-ms within bounds");
static_assert(CONFIG_RETENTION_HOUR_MS_MIN >= COORD_RETENTION_HOUR_MS_MIN,
              "--retention-hour-ms within bounds");
static_assert(CONFIG_TRIM_INTERVAL_MS_MIN >= COORD_TRIM_INTERVAL_MS_MIN,
              "--trim-interval-ms within bounds");
static_assert(CONFIG_TRIM_INTERVAL_MS_MAX <= COORD_TRIM_INTERVAL_MS_MAX,
              "--trim-interval-ms within bounds");
static_assert(LIMITS_DEV_SHARD_LIMIT <= COORD_SHARDS_MAX, "the dev shard quota fits the catalogue");
static_assert(CONFIG_ONDEMAND_SCALE_MS_MIN >= COORD_AUTOSCALE_SUSTAIN_MS_MIN,
              "--ondemand-scale-ms within bounds");
static_assert(CONFIG_ONDEMAND_SCALE_MS_MAX <= COORD_AUTOSCALE_SUSTAIN_MS_MAX,
              "--ondemand-scale-ms within bounds");
static_assert(CONFIG_ONDEMAND_SCALE_RATE_MAX <= COORD_AUTOSCALE_RATE_MAX,
              "--ondemand-scale-*-per-s within bounds");
static_assert(SHARD_RATE_REPORT_MAX <= COORD_REPORT_SHARD_LOADS_MAX,
              "the coordinator reads every shard load a heartbeat carries");
static_assert(LIMITS_DEV_ON_DEMAND_STREAM_COUNT_LIMIT <= COORD_STREAMS_MAX, "dev quota fits");

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
    struct host *host; /* groups hosted and dropped at run time (docs/adr/0004) */
    uv_signal_t sigint;
    uv_signal_t sigterm;
    bool stopping;
    bool is_draining; /* DrainReq; memory only: a restarted node does not drain */
};

/* Appends the state of every replica this node hosts (group 0 first) to
 * resp; shard_server_status_free releases it. Also the heartbeat's report. */
static void eddyd_collect_groups(void *arg, Eddy__NodeStatusResp *resp)
{
    struct eddyd *d = arg;
    if (d->coord != NULL) {
        EDDY_ASSERT(resp->n_groups == 0);
        /* One block: the status and its voters (`eddy leader drain` tells a
         * group with no other voter by them). */
        uint64_t voters[CONFIG_PEERS_MAX];
        unsigned n = coord_voters(d->coord, voters, CONFIG_PEERS_MAX);
        n = n < CONFIG_PEERS_MAX ? n : CONFIG_PEERS_MAX;
        Eddy__GroupStatus *gs = eddy_xmalloc(sizeof(*gs) + n * sizeof(uint32_t));
        coord_status(d->coord, gs);
        gs->n_voters = n;
        gs->voters = (uint32_t *)(gs + 1);
        for (unsigned v = 0; v < n; v++) {
            gs->voters[v] = (uint32_t)voters[v];
        }
        resp->groups = eddy_xmalloc(sizeof(*resp->groups));
        resp->groups[0] = gs;
        resp->n_groups = 1;
    }
    if (d->server != NULL) {
        shard_server_status(d->server, resp);
    }
    resp->draining = d->is_draining;
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

/* The roles' replicas drain as the node does (replicas started later are
 * told when they start). */
static void eddyd_apply_draining(struct eddyd *d)
{
    if (d->coord != NULL) {
        coord_set_draining(d->coord, d->is_draining);
    }
    if (d->server != NULL) {
        shard_server_set_draining(d->server, d->is_draining);
    }
}

/* DrainReq (`eddy leader drain`, `eddy leader undrain`): while draining,
 * every replica here hands away any leadership it gets, and the heartbeats
 * say so, so that the coordinator's balancer gives this node none. The
 * coordinator hears of it at once: its balancer must not move a group back
 * here between the drain and the stop. */
static void eddyd_drain(struct eddyd *d, struct rpc_call *call)
{
    bool draining = rpc_call_request(call)->drain->draining;
    if (draining != d->is_draining) {
        LOG_INFO("node=%" PRIu64 " %s", d->cfg.node_id,
                 draining ? "draining: hands away every leadership"
                          : "no longer draining: may lead again");
    }
    d->is_draining = draining;
    eddyd_apply_draining(d);
    if (d->heartbeat != NULL) {
        heartbeat_send_soon(d->heartbeat);
    }
    rpc_reply_ok(call);
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
    case EDDY__FRAME__BODY_RESHARD:
    case EDDY__FRAME__BODY_UPDATE_STREAM:
    case EDDY__FRAME__BODY_UPDATE_ACCOUNT:
    case EDDY__FRAME__BODY_CONSUMER:
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
    case EDDY__FRAME__BODY_TRIM:
    case EDDY__FRAME__BODY_CLOSE_SHARDS:
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
        /* Group 0 is the coordinator's (`eddy leader drain` moves it). */
        if (rpc_call_request(call)->transfer_leader->group == 0) {
            if (d->coord == NULL) {
                rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no coordinator role on this node");
                return;
            }
            coord_handle(d->coord, call);
            return;
        }
        if (d->server == NULL) {
            rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no server role on this node");
            return;
        }
        shard_server_handle(d->server, call);
        return;
    case EDDY__FRAME__BODY_HOST_GROUP:
    case EDDY__FRAME__BODY_DROP_GROUP:
        if (d->host == NULL) {
            rpc_reply_error(call, -EDDY_EUNAVAILABLE, 0, "not hosting shard groups (yet)");
            return;
        }
        host_handle(d->host, call);
        return;
    case EDDY__FRAME__BODY_NODE_STATUS:
        eddyd_node_status(d, call);
        return;
    case EDDY__FRAME__BODY_DRAIN:
        eddyd_drain(d, call);
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
    if (d->host != NULL) {
        struct host *h = d->host; /* first: it uses the join and the server */
        d->host = NULL;
        host_close(h, eddyd_on_closed, d);
        return;
    }
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
 * add them instead of bootstrapping. hosted: the shard groups to start
 * (NULL: those placement.h gives this node, at the first boot only). */
static int
eddyd_start_replicas(struct eddyd *d, bool join, const uint32_t *hosted, unsigned hosted_count)
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
            .limits = &cfg->limits,
            .hosted = hosted,
            .hosted_count = hosted_count,
        };
        rv = shard_server_init(&d->server, &d->loop, d->mux, &sc);
        if (rv == 0) {
            rv = shard_server_start(d->server);
        }
        if (rv != 0) {
            return rv;
        }
        struct host_config hc = {
            .node_id = cfg->node_id,
            .data_dir = cfg->data_dir,
            .group_count = cfg->group_count,
        };
        rv = host_init(&d->host, &d->loop, d->server, d->join, &hc);
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
            .replace_dead_ms = cfg->replace_dead_ms,
            .trim_interval_ms = cfg->trim_interval_ms,
            .retention_hour_ms = cfg->retention_hour_ms,
            .ondemand_scale_ms = cfg->ondemand_scale_ms,
            .ondemand_scale_bytes_per_s = cfg->ondemand_scale_bytes_per_s,
            .ondemand_scale_records_per_s = cfg->ondemand_scale_records_per_s,
            .account_shard_limit = cfg->limits.shard_limit,
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
    eddyd_apply_draining(d); /* a DrainReq may have come before the replicas */
    return 0;
}

static bool eddyd_group_is_pristine(const struct eddyd *d, uint32_t group)
{
    char dir[PATH_MAX];
    if (join_raft_dir(dir, sizeof(dir), d->cfg.data_dir, group) != 0) {
        return false; /* rgroup_init refuses the path anyway */
    }
    return !rgroup_dir_has_data(dir);
}

/* The catalogue's replica lists say which shard groups this node hosts
 * (docs/adr/0004): the ones listing it that it does not host yet (no Raft
 * data here) are added, and join. */
static void eddyd_on_catalog(void *arg, const Eddy__Catalog *cat)
{
    struct eddyd *d = arg;
    if (d->host == NULL) {
        return; /* stopping */
    }
    unsigned added = 0;
    for (size_t i = 0; i < cat->n_groups; i++) {
        const Eddy__GroupInfo *gi = cat->groups[i];
        for (size_t r = 0; r < gi->n_replicas; r++) {
            if (gi->replicas[r] != d->cfg.node_id ||
                shard_server_hosting(d->server, gi->id) != SHARD_SERVER_NOT_HOSTED) {
                continue;
            }
            int rv = host_start_group(d->host, gi->id);
            if (rv != 0) {
                LOG_WARN("group=%" PRIu32 " of the catalogue not hosted: %s", gi->id,
                         eddy_strerror(rv));
            }
            added += rv == 0;
        }
    }
    LOG_INFO("catalogue v%" PRIu64 ": %u more group(s) to host here", cat->version, added);
}

/* The cluster exists: the coordinator replica rejoins when it has no data,
 * and the catalogue says which shard groups to host besides those with
 * data here. */
static void eddyd_join_existing(struct eddyd *d)
{
    if (d->cfg.role_coordinator && eddyd_group_is_pristine(d, 0)) {
        join_group(d->join, 0);
    }
    if (d->cfg.role_server) {
        join_fetch_catalog(d->join, eddyd_on_catalog, d);
    }
}

static void eddyd_on_probe(void *arg, bool cluster_exists)
{
    struct eddyd *d = arg;
    /* No Raft data here at all: at the first boot, the groups placement.h
     * gives this node (the catalogue's init entry uses the same rule);
     * otherwise the catalogue's. */
    const uint32_t none[1] = {0};
    int rv = cluster_exists ? eddyd_start_replicas(d, true, none, 0)
                            : eddyd_start_replicas(d, false, NULL, 0);
    if (rv != 0) {
        LOG_ERROR("start failed: %s", eddy_strerror(rv));
        exit(1); /* as when the replicas fail to start before the loop runs */
    }
    if (cluster_exists) {
        eddyd_join_existing(d);
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
    /* The probe waits for the coordinator's leader: the shard groups to
     * host come from its catalogue once the cluster is known to exist. */
    uint32_t coord_group = 0;
    struct join_config jc = {
        .node_id = cfg->node_id,
        .raft_address = raft_address,
        .peers = jpeers,
        .peer_count = cfg->peer_count,
        .groups = &coord_group,
        .group_count = cfg->role_coordinator ? 1 : 0,
    };
    int rv = join_init(&d->join, &d->loop, &jc);
    if (rv != 0) {
        LOG_ERROR("join: %s", eddy_strerror(rv));
    }
    return rv;
}

/* A replica directory without Raft data is pristine (join.h). After the
 * first boot the catalogue, not placement.h, says which shard groups a
 * node hosts (docs/adr/0004), so: no Raft data here at all: ask the peers,
 * then bootstrap the placement.h groups (first boot) or join (the groups
 * then come from the catalogue). Some: the cluster exists; start the
 * groups with data, rejoin the coordinator if it has none, and add the
 * catalogue's other groups for this node. A one-node cluster has nobody to
 * join and always starts its placement.h groups (bootstrapping what is
 * pristine). */
static int eddyd_start_raft(struct eddyd *d)
{
    const struct config *cfg = &d->cfg;
    if (cfg->peer_count == 1) {
        return eddyd_start_replicas(d, false, NULL, 0);
    }
    int rv = host_cleanup(cfg->data_dir, cfg->group_count);
    if (rv != 0) {
        LOG_WARN("leftovers of dropped groups under %s: %s", cfg->data_dir, eddy_strerror(rv));
    }
    uint32_t with_data[CONFIG_GROUPS_MAX];
    unsigned data_count = 0;
    for (uint32_t g = 1; cfg->role_server && g <= cfg->group_count; g++) {
        if (!eddyd_group_is_pristine(d, g)) {
            with_data[data_count++] = g;
        }
    }
    bool is_coord_data = cfg->role_coordinator && !eddyd_group_is_pristine(d, 0);
    rv = eddyd_join_init(d);
    if (rv != 0) {
        return rv;
    }
    if (data_count == 0 && !is_coord_data) {
        join_probe(d->join, eddyd_on_probe, d); /* the replicas start from its callback */
        return 0;
    }
    LOG_INFO("Raft data for %u shard group(s)%s here: the cluster exists", data_count,
             is_coord_data ? " and the coordinator" : "");
    rv = eddyd_start_replicas(d, true, with_data, data_count);
    if (rv != 0) {
        return rv;
    }
    eddyd_join_existing(d);
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
            .tls_port = cfg->gateway_tls_port,
            .tls_cert = cfg->tls_cert,
            .tls_key = cfg->tls_key,
            .region = cfg->region,
            .account = cfg->account,
            .retention_hour_ms = cfg->retention_hour_ms,
            .subscription_ms = cfg->subscription_ms,
            .subscription_bytes_per_s = cfg->subscription_bytes_per_s,
            .limits = &cfg->limits,
            .auth_verify = cfg->auth_sigv4,
            .credentials_path = cfg->credentials,
        };
        rv = gateway_init(&d->gateway, &d->loop, &gc, d->backend);
        if (rv != 0) {
            LOG_ERROR("gateway listen=%s:%d: %s", cfg->gateway_host, cfg->gateway_port,
                      eddy_strerror(rv));
            return rv;
        }
        LOG_INFO("gateway listening on http://%s:%d", cfg->gateway_host, gateway_port(d->gateway));
        if (cfg->tls_cert != NULL) {
            LOG_INFO("gateway listening on https://%s:%d", cfg->gateway_host,
                     gateway_tls_port(d->gateway));
        }
    }
    if (cfg->role_server) {
        return eddyd_start_heartbeat(d);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct eddyd d;
    char err[CONFIG_MESSAGE_BYTES_MAX];
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
    LOG_INFO("limits profile=%s", d.cfg.limits.name);
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
