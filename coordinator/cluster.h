/*
 * The cluster view of the coordinator leader: it takes the nodes'
 * heartbeats into the liveness table (liveness.h), answers ClusterStatus,
 * and spreads shard-group leaders over the live nodes (balance.h) by sending
 * TransferLeaderReq to a group's current leader, at most one move per
 * COORD_BALANCE_INTERVAL_MS.
 *
 * Everything here is in memory on the leader and starts over when a replica
 * becomes the ready leader (cluster_on_ready). A TransferLeader call in
 * flight keeps the coordinator from being freed (coord_maybe_free waits for
 * rpcs_inflight); its reply only logs.
 *
 * Part of struct coord; all calls on the loop thread.
 */
#ifndef EDDY_CLUSTER_H
#define EDDY_CLUSTER_H

#include "liveness.h"

#include <stdbool.h>
#include <stdint.h>

struct coord;
struct rpc_call;

struct cluster {
    struct liveness live;
    bool is_leading;        /* liveness was reset for the current leadership */
    uint64_t next_look_ms;  /* the balancer's next look */
    unsigned rpcs_inflight; /* TransferLeader calls outstanding */
    unsigned failures;      /* TransferLeader failures in a row */
};

/* dead_ms: 0 for COORD_NODE_DEAD_MS_DEFAULT; else within the bounds of
 * coord_limits.h (checked by coord_init). */
void cluster_init(struct coord *c, unsigned dead_ms);
/* Frees the liveness table. */
void cluster_clear(struct coord *c);
/* Readiness of the coordinator replica changed: on becoming the ready
 * leader every node becomes unknown. */
void cluster_on_ready(struct coord *c, bool is_ready);
/* HeartbeatReq on the ready leader: Ack, or -EDDY_ENOTFOUND for a node not
 * in the catalogue, -EDDY_EUNAVAILABLE before the catalogue exists,
 * -EDDY_EINVAL for a bad report. Takes ownership of call. */
void cluster_heartbeat(struct coord *c, struct rpc_call *call);
/* ClusterStatusReq on any replica: the catalogue and each catalogue node's
 * liveness on the ready leader; elsewhere -EDDY_ENOTLEADER with the leader
 * hint and this replica's catalogue, whose node list maps the hint to an
 * address. Takes ownership of call. */
void cluster_status(struct coord *c, struct rpc_call *call);
/* On the ready leader with an initialised catalogue, from the service's
 * timer: makes at most one balancing move when a look is due. */
void cluster_run(struct coord *c);

#endif
