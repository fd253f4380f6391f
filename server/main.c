/*
 * eddyd: one daemon with the coordinator, shard server and gateway roles.
 * main owns the loop and the process-wide objects, wires the internal RPC
 * dispatcher to the roles, and shuts everything down in reverse order on
 * SIGINT or SIGTERM.
 */
#include "config.h"
#include "shard_server.h"

#include "backend.h"
#include "coord.h"
#include "gateway.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rmux.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct eddyd {
    uv_loop_t loop;
    struct config cfg;
    struct rgroup_peer peers[CONFIG_PEERS_MAX];
    struct rmux *mux;
    struct rpc_server *rpc;
    struct coord *coord;
    struct shard_server *server;
    struct backend *backend;
    struct gateway *gateway;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    bool stopping;
};

static void eddyd_node_status(struct eddyd *d, struct rpc_call *call)
{
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__NodeStatusResp resp = EDDY__NODE_STATUS_RESP__INIT;
    resp.status = &st;
    resp.node = (uint32_t)d->cfg.node_id;
    if (d->coord != NULL) {
        resp.groups = eddy_xmalloc(sizeof(*resp.groups));
        resp.groups[0] = eddy_xmalloc(sizeof(Eddy__GroupStatus));
        eddy__group_status__init(resp.groups[0]);
        coord_status(d->coord, resp.groups[0]);
        resp.n_groups = 1;
    }
    if (d->server != NULL) {
        shard_server_status(d->server, &resp);
    }
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
        if (d->server == NULL) {
            rpc_reply_error(call, -EDDY_ENOTFOUND, 0, "no server role on this node");
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

static int eddyd_start(struct eddyd *d)
{
    struct config *cfg = &d->cfg;
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        d->peers[i].node_id = cfg->peers[i].node_id;
        d->peers[i].raft_addr = cfg->peers[i].raft_addr;
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
    if (cfg->role_server) {
        struct shard_server_config sc = {
            .node_id = cfg->node_id,
            .data_dir = cfg->data_dir,
            .peers = d->peers,
            .peer_count = cfg->peer_count,
            .group_count = cfg->group_count,
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
