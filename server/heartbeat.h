/*
 * Heartbeats: every EDDY_HEARTBEAT_MS a server node tells the coordinator
 * leader it is alive (HeartbeatReq: node id, RPC and gateway addresses, the
 * state of every replica it hosts, the write rates of its busiest led
 * shards and whether it drains, as the collect callback reports them).
 *
 * The leader is found by asking: the last node that answered, then the
 * leader a -EDDY_ENOTLEADER reply names, else the next coordinator peer in
 * turn. Within one period at most 2 * peer_count calls are made, one at a
 * time; a period that finds a call still outstanding skips its turn.
 * Failures are logged once when they start and once when they end.
 *
 * Lifecycle: heartbeat_init -> heartbeat_start -> heartbeat_close(cb). It
 * owns a timer and one RPC client per peer it has called; the memory is
 * freed once they have closed and the last call has come back.
 */
#ifndef EDDY_HEARTBEAT_H
#define EDDY_HEARTBEAT_H

#include "rpc.pb-c.h"

#include <stdint.h>
#include <uv.h>

struct heartbeat;

/* A voter of the coordinator group. */
struct heartbeat_peer {
    uint64_t node_id;
    const char *rpc_address;
};

/* Appends this node's GroupStatus entries to resp->groups and may set
 * resp->shard_loads and resp->draining (all are sent); release frees what
 * collect added.
 * Both run on the loop, once per call made. */
typedef void (*heartbeat_collect_cb)(void *arg, Eddy__NodeStatusResp *resp);
typedef void (*heartbeat_release_cb)(void *arg, Eddy__NodeStatusResp *resp);

struct heartbeat_config {
    uint64_t node_id;
    const char *rpc_address;     /* this node's, as peers call it */
    const char *gateway_address; /* NULL or "" when this node has no gateway */
    const struct heartbeat_peer *peers;
    unsigned peer_count;  /* 1..HEARTBEAT_PEERS_MAX */
    unsigned interval_ms; /* 0: EDDY_HEARTBEAT_MS */
    heartbeat_collect_cb collect;
    heartbeat_release_cb release;
    void *arg;
};

#define HEARTBEAT_PEERS_MAX 64

/* Copies cfg's strings; -EDDY_EINVAL for a bad config. *out is freed in
 * heartbeat_close's callback. */
int heartbeat_init(struct heartbeat **out, uv_loop_t *loop, const struct heartbeat_config *cfg);
/* Sends the first heartbeat now, then every interval. */
void heartbeat_start(struct heartbeat *h);
/* The report changed (the node drains): starts the next period now, so
 * the coordinator hears of it at once unless a call is outstanding. */
void heartbeat_send_soon(struct heartbeat *h);
/* Stops; the collect callback is not called any more. cb(arg) runs once
 * everything is closed, never synchronously. */
void heartbeat_close(struct heartbeat *h, void (*cb)(void *arg), void *arg);

#endif
