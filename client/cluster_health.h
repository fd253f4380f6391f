/*
 * What `eddy cluster status` concludes from a ClusterStatusResp, pure: per
 * group (0, the coordinator, first; then the shard groups of the catalogue)
 * its replicas, its ready leader and how each replica stands, and the list
 * of problems that make the cluster unhealthy.
 *
 * Healthy means: every catalogue node alive and not draining (`eddy leader
 * drain`: it is about to stop); every group has a ready leader
 * (an alive replica reporting itself ready); every replica is on an alive
 * node, reported the group, is not hydrating and has applied within
 * EDDY_REPLICA_LAG_ENTRIES_MAX entries of its leader; every shard group's
 * leader reports exactly the catalogue's replicas as voters; and no alive
 * node still hosts a replica of a group it was replaced in (docs/adr/0004).
 */
#ifndef EDDY_CLUSTER_HEALTH_H
#define EDDY_CLUSTER_HEALTH_H

#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Replicas shown per group: every voter of group 0 is a node. */
#define HEALTH_REPLICAS_MAX 64
/* Problems kept with their text; more are only counted. */
#define HEALTH_PROBLEMS_MAX 32
#define HEALTH_PROBLEM_LEN_MAX 160

enum health_replica_state {
    HEALTH_REPLICA_OK,
    HEALTH_REPLICA_NODE_DEAD,    /* its node is dead */
    HEALTH_REPLICA_NODE_UNKNOWN, /* its node has not reported to this coordinator leader */
    HEALTH_REPLICA_MISSING,      /* its node is alive but did not report the group */
    HEALTH_REPLICA_HYDRATING,
    HEALTH_REPLICA_LAGGING,
};

struct health_replica {
    uint32_t node;
    enum health_replica_state state;
    bool has_report;
    uint64_t applied_index; /* when has_report */
};

struct health_group {
    uint32_t id;     /* 0: the coordinator */
    uint32_t leader; /* 0: no ready leader */
    uint64_t leader_applied_index;
    struct health_replica replicas[HEALTH_REPLICAS_MAX];
    unsigned replica_count;
    bool is_healthy;
};

struct health {
    struct health_group *groups; /* eddy_malloc'd */
    size_t group_count;
    unsigned nodes_alive;
    unsigned groups_healthy;
    char problems[HEALTH_PROBLEMS_MAX][HEALTH_PROBLEM_LEN_MAX];
    unsigned problem_count; /* all of them, also those past HEALTH_PROBLEMS_MAX */
    bool is_healthy;
};

/* Evaluates resp (borrowed; status 0, with a catalogue) into h. */
void health_evaluate(const Eddy__ClusterStatusResp *resp, struct health *h);
void health_free(struct health *h);
/* The node's liveness entry in resp, NULL if the coordinator sent none. */
const Eddy__NodeLiveness *health_node(const Eddy__ClusterStatusResp *resp, uint32_t node);
/* The report of node for group, NULL if none. */
const Eddy__GroupStatus *health_report(const Eddy__NodeLiveness *n, uint32_t group);

#endif
