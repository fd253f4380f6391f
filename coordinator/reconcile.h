/*
 * The reconciler: on the ready coordinator leader, drives each CREATING
 * stream to ACTIVE (CreateShardsReq to every group holding its shards, then
 * set_status ACTIVE) and each DELETING stream out of the catalogue
 * (DropStreamReq to those groups, then remove_stream). A stream UPDATING for
 * a settings change (StreamInfo.settings_updating, catalog_update.h) needs
 * no group: it goes back to ACTIVE once the creating time has passed since
 * the change, as a new stream does.
 *
 * One task per such stream, rebuilt from the catalogue on every pass and
 * dropped when its stream moves on or leadership is lost; progress is in
 * memory only, and every call is idempotent, so a new leader starts over.
 * A group is asked through the node that leads it: the last known leader,
 * then -EDDY_ENOTLEADER hints, else each replica in turn. Failed calls are
 * retried on the next pass; at most COORD_RECONCILE_INFLIGHT_MAX calls are
 * outstanding. Callbacks find their task by id, never by pointer.
 *
 * It owns one RPC client per node it has called, closed with the service.
 */
#ifndef EDDY_RECONCILE_H
#define EDDY_RECONCILE_H

#include "coord_limits.h"

#include <stdbool.h>
#include <stdint.h>

struct coord;
struct rpc_client;
struct reconcile_task;

struct reconcile_client {
    uint32_t node_id;
    struct rpc_client *client;
};

struct reconcile {
    struct reconcile_task *tasks;
    unsigned task_count;
    uint64_t next_task_id;
    struct reconcile_client clients[COORD_NODES_MAX];
    unsigned client_count;
    uint32_t group_leader_hint[COORD_GROUPS_MAX + 1]; /* by group id; 0 unknown */
    unsigned rpcs_inflight;      /* CreateShards/DropStream calls outstanding */
    bool consumer_step_inflight; /* a consumer's step is proposed (coord_consumer.h) */
};

/* The task id of the consumers' steps (coord_consumer_reconcile); tasks of
 * streams count up from 1. */
#define RECONCILE_TASK_CONSUMERS UINT64_MAX

/* Called on c's ready leader with an initialised catalogue: syncs the tasks
 * with the catalogue, sends the calls due, proposes the final steps, and the
 * consumers' next step (one at a time). */
void reconcile_run(struct coord *c);
/* Forgets every task (leadership lost, closing); calls in flight then
 * complete against nothing. */
void reconcile_clear(struct reconcile *r);
/* The final step of task task_id was applied (code 0) or failed. */
void reconcile_on_proposed(struct reconcile *r, uint64_t task_id, int code);
/* The RPC client of a catalogue node, made on first use and kept until the
 * service closes (shared with the balancer, cluster.c); NULL for a node not
 * in the catalogue or when the client cannot be made. */
struct rpc_client *reconcile_client_get(struct coord *c, uint32_t node_id);
/* Starts closing every client; each close calls cb(arg). Returns how many. */
unsigned reconcile_close_clients(struct reconcile *r, void (*cb)(void *arg), void *arg);

#endif
