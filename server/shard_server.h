/*
 * The shard server role: hosts this node's replicas of the shard groups,
 * each a Raft group (rgroup) over a shard_fsm, and answers the data RPCs
 * (PutRecords, Read, CreateShards, DropStream) for the groups it leads.
 *
 * Writes are group-committed: concurrent PutRecords for one group are
 * packed into one Raft entry while earlier entries are in flight, up to
 * SERVER_BATCHES_INFLIGHT_MAX entries and GROUP_COMMIT_BYTES_MAX per entry.
 * A reply means the entry is committed and applied (fsynced on a majority
 * by raft_uv).
 *
 * Lifecycle: shard_server_init -> shard_server_start -> (handle)* ->
 * shard_server_close(cb).
 */
#ifndef EDDY_SHARD_SERVER_H
#define EDDY_SHARD_SERVER_H

#include "eddy/rgroup.h"
#include "eddy/rpc.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct shard_server;
struct rmux;
struct hydrate_peer;
struct limits_profile;

struct shard_server_config {
    uint64_t node_id;
    const char *data_dir; /* groups live in data_dir/groups/<id> */
    /* Every node, in --peers order; this node hosts the groups placement.h
     * puts on it, each with exactly its replicas as voters. */
    const struct rgroup_peer *peers;
    unsigned peer_count;
    uint32_t group_count; /* groups 1..group_count, of which it hosts some */
    /* The cluster exists already: replicas with no Raft data start in join
     * mode (rgroup_config.join) and wait for their leader to add them. */
    bool join;
    /* Node id -> RPC address of every node, for segment fetches when a
     * replica hydrates (hydrate.h); copied. */
    const struct hydrate_peer *rpc_peers;
    unsigned rpc_peer_count;
    /* Per-shard write and read limits (throttle.h); read at init. NULL: none. */
    const struct limits_profile *limits;
    /* The groups to start (ids 1..group_count, each once), or NULL for those
     * placement.h gives this node: after the first boot the catalogue says
     * who hosts what (docs/adr/0004), so eddyd starts the groups with Raft
     * data here and adds others at run time. Read by shard_server_init only. */
    const uint32_t *hosted;
    unsigned hosted_count;
};

/* *out is freed in shard_server_close's callback. mux, data_dir, peers and
 * rpc_peers are borrowed until then (groups added at run time use them). */
int shard_server_init(struct shard_server **out,
                      uv_loop_t *loop,
                      struct rmux *mux,
                      const struct shard_server_config *cfg);
int shard_server_start(struct shard_server *s);
/* Takes ownership of call: PutRecords, Read, CreateShards, DropStream,
 * JoinGroup (the ready leader rejoins the node: rgroup_rejoin, or with
 * replaces has it replace that member: rgroup_replace; Ack when done) and
 * TransferLeader (the leader hands leadership over: Ack once it moved).
 * Not the leader: -EDDY_ENOTLEADER with the leader hint. A group this node
 * does not host: -EDDY_ENOTHOSTED.
 * FetchSegment is served by any replica that has the file (hydrate_serve),
 * at most HYDRATE_SERVE_INFLIGHT_MAX at once (-EDDY_EFULL past it). */
void shard_server_handle(struct shard_server *s, struct rpc_call *call);
/* Appends one GroupStatus per hosted group to resp and sets its
 * shard_loads (the busiest shards of the groups it leads, shard_rate.h);
 * entries eddy_malloc'd, freed by shard_server_status_free. */
void shard_server_status(struct shard_server *s, Eddy__NodeStatusResp *resp);
void shard_server_status_free(Eddy__NodeStatusResp *resp);
/* Every replica here, and those added later, drains (rgroup_set_draining):
 * it hands away any leadership it gets. */
void shard_server_set_draining(struct shard_server *s, bool draining);
/* Closes every replica, then calls cb. No shard_server_remove_group may be
 * in flight (its caller closes first). */
void shard_server_close(struct shard_server *s, void (*cb)(void *arg), void *arg);

/* ---- groups added and removed at run time (docs/adr/0004) ---- */

enum shard_server_hosting {
    SHARD_SERVER_NOT_HOSTED,
    SHARD_SERVER_HOSTED,
    SHARD_SERVER_REMOVING, /* closing (shard_server_remove_group) */
};

enum shard_server_hosting shard_server_hosting(struct shard_server *s, uint32_t id);
/* Creates and starts a replica of group id (1..group_count) in join mode:
 * with no Raft data it waits for the group's leader to add it. 0, or
 * -EDDY_EEXISTS (hosted already), -EDDY_EINUSE (being removed),
 * -EDDY_EINVAL (bad id), errors of rgroup_init/rgroup_start. */
int shard_server_add_group(struct shard_server *s, uint32_t id);
/* Fails the replica's waiting calls, closes it (its files stay) and calls
 * cb(arg) once it is closed and forgotten, never synchronously. 0, or
 * -EDDY_ENOTHOSTED / -EDDY_EINUSE (being removed already) with cb never
 * called. */
int shard_server_remove_group(struct shard_server *s,
                              uint32_t id,
                              void (*cb)(void *arg),
                              void *arg);

#endif
