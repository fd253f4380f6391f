/*
 * Resharding on the coordinator leader: SplitShard, MergeShards and
 * UpdateShardCount requests (ReshardReq), and the driver that carries a
 * begun reshard through the shard groups to its end.
 *
 * A request is checked against the catalogue, planned (reshard_plan.h) and
 * proposed as a Reshard begin entry (catalog_reshard.h); the caller is
 * answered once it applied, with the stream UPDATING, as AWS answers at
 * once. Then, for each stream whose reshard has begun, the driver:
 *
 *   1. CreateShardsReq to each group that gets children (idempotent);
 *   2. once all are created, CloseShardsReq to each group holding a closing
 *      shard: the group commits the close, after which puts to the shard
 *      fail with -EDDY_ECLOSED (gateways put them again on the children),
 *      and answers its ending sequence number (the same one again when
 *      asked again);
 *   3. once every ending is known, proposes the finish entry, which closes
 *      the shards in the catalogue and makes the stream ACTIVE.
 *
 * Children exist before any parent closes, so a put that finds its parent
 * closed always has somewhere to go. The driver's progress is memory only:
 * everything it needs is in the catalogue from the begin entry on (the
 * pending children and the closing parents), so a new leader rebuilds the
 * task and repeats the idempotent calls, and the finish, if proposed twice,
 * changes nothing the second time. Calls go through the reconciler's
 * clients and leader hints (reconcile.h); at most
 * COORD_RECONCILE_INFLIGHT_MAX are outstanding; failed calls are retried on
 * the next pass.
 */
#ifndef EDDY_COORD_RESHARD_H
#define EDDY_COORD_RESHARD_H

#include "rpc.pb-c.h"

#include "eddy/u128.h"

#include <stdint.h>

struct coord;
struct coord_op;
struct rpc_call;
struct coord_reshard_task;

struct coord_reshard {
    struct coord_reshard_task *tasks;
    unsigned task_count;
    uint64_t next_task_id;
    unsigned rpcs_inflight; /* CreateShards/CloseShards calls outstanding */
};

/* Answers a ReshardReq (takes ownership of call) once its begin entry is
 * applied: 0, or -EDDY_ENOTFOUND (stream or shard), -EDDY_EINUSE (not
 * ACTIVE), -EDDY_EINVAL (closed shard, not adjacent, bad hash key, ON_DEMAND
 * stream), -EDDY_ELIMIT (double/half, per-day quota, shard bounds), and the
 * proposal errors of coord_handle. Call on the ready leader. */
void coord_reshard_handle(struct coord *c, struct rpc_call *call, const Eddy__ReshardReq *req);
/* Begins a split of shard of the ACTIVE stream s at new_start for on-demand
 * scaling (coord_autoscale.h): planned, placed, bounded and proposed as a
 * SplitShard is, whatever the stream's mode. op (eddy_xcalloc'd, its kind
 * set, not COORD_OP_CLIENT) is taken and completes when the begin entry
 * applies; on an error (those of coord_reshard_handle) nothing is proposed
 * and op is left to the caller. Call on the ready leader. */
int coord_reshard_begin_split(struct coord *c,
                              const Eddy__StreamInfo *s,
                              uint32_t shard,
                              u128 new_start,
                              struct coord_op *op);
/* One pass of the driver, on the ready leader with an initialised catalogue. */
void coord_reshard_run(struct coord *c);
/* The finish of task task_id was applied (code 0) or failed. */
void coord_reshard_on_proposed(struct coord *c, uint64_t task_id, int code);
/* Forgets every task (leadership lost, closing); calls in flight then
 * complete against nothing. */
void coord_reshard_clear(struct coord_reshard *r);

#endif
