/*
 * Node liveness on the coordinator leader: per node, when it last sent a
 * heartbeat and the state of its replicas as it reported them. Pure: the
 * caller passes the time (a monotonic clock in milliseconds) and checks
 * that the node belongs to the catalogue.
 *
 * Liveness is not replicated. A leader calls liveness_reset when it takes
 * over; from then on a node is
 *
 *   UNKNOWN  not heard from, and less than the dead time since the reset;
 *   ALIVE    heard from within the dead time;
 *   DEAD     otherwise (silent for the dead time, or never heard from and
 *            the dead time has passed since the reset).
 *
 * So a new leader never calls a node dead before a node it could have heard
 * from had a full dead time to speak.
 *
 * The table holds at most COORD_NODES_MAX nodes; a heartbeat from a new
 * node when it is full replaces the node heard from least recently.
 * Lifecycle: liveness_init -> (reset | record | queries)* -> liveness_clear.
 */
#ifndef EDDY_LIVENESS_H
#define EDDY_LIVENESS_H

#include "coord_limits.h"

#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum liveness_state { LIVENESS_UNKNOWN, LIVENESS_ALIVE, LIVENESS_DEAD };

/* Voters of one report kept: a group's replicas and one being added. */
#define LIVENESS_VOTERS_MAX (COORD_GROUP_REPLICAS_MAX + 1)

/* One replica as its node reported it (a GroupStatus). */
struct liveness_report {
    uint32_t group;
    uint32_t leader_node;
    uint64_t applied_index;
    uint64_t last_index;
    bool is_ready;
    bool is_hydrating;
    /* The voters the replica knows, when they fit (voter_count <=
     * LIVENESS_VOTERS_MAX); voter_count is the reported count. */
    uint32_t voters[LIVENESS_VOTERS_MAX];
    unsigned voter_count;
};

struct liveness_node {
    uint32_t node_id; /* 0: free slot */
    uint64_t last_seen_ms;
    char gateway_address[COORD_ADDRESS_LEN_MAX + 1];
    struct liveness_report *reports; /* ascending by group, eddy_malloc'd */
    size_t report_count;
    bool is_draining; /* as last reported: it must be given no leadership */
};

struct liveness {
    unsigned dead_ms;
    uint64_t since_ms; /* the last reset */
    struct liveness_node nodes[COORD_NODES_MAX];
};

/* dead_ms within [COORD_NODE_DEAD_MS_MIN, COORD_NODE_DEAD_MS_MAX]. */
void liveness_init(struct liveness *l, unsigned dead_ms, uint64_t now_ms);
/* Forgets every node: they are all unknown from now_ms. */
void liveness_reset(struct liveness *l, uint64_t now_ms);
/* Frees the reports; the table is empty afterwards. */
void liveness_clear(struct liveness *l);
/* Records hb (borrowed) at now_ms: the node is alive and its reports
 * replace the previous ones. -EDDY_EINVAL for node 0 or above
 * COORD_NODE_ID_MAX, more than COORD_REPORT_GROUPS_MAX groups, a group
 * reported twice, or a gateway address longer than COORD_ADDRESS_LEN_MAX;
 * nothing changes then. */
int liveness_record(struct liveness *l, uint64_t now_ms, const Eddy__HeartbeatReq *hb);
enum liveness_state liveness_state(const struct liveness *l, uint32_t node_id, uint64_t now_ms);
/* How long the node has been DEAD at now_ms (0 unless it is): the time past
 * the dead time since its last heartbeat, or since the reset when it was
 * never heard from. */
uint64_t liveness_dead_for_ms(const struct liveness *l, uint32_t node_id, uint64_t now_ms);
/* The node's entry, NULL when not heard from since the reset. */
const struct liveness_node *liveness_find(const struct liveness *l, uint32_t node_id);
/* The node's report for group, NULL if it reported none. */
const struct liveness_report *liveness_report(const struct liveness_node *n, uint32_t group);
const char *liveness_state_name(enum liveness_state s);

/* Fills out (initialised by the caller) with the catalogue and one
 * NodeLiveness per catalogue node, in catalogue order. cat is borrowed
 * until liveness_status_free; the rest is eddy_malloc'd. */
void liveness_status_build(const struct liveness *l,
                           const Eddy__Catalog *cat,
                           uint64_t now_ms,
                           Eddy__ClusterStatusResp *out);
void liveness_status_free(Eddy__ClusterStatusResp *out);

#endif
