/*
 * The coordinator service on one node: its replica of the catalogue group
 * (Raft group 0, the catalog.h state machine, in <data_dir>/coord), the
 * metadata RPCs (CreateStream, DeleteStream, GetCatalog), first-boot init,
 * and, on the ready leader, the reconciler that drives streams through their
 * lifecycle:
 *
 *   CREATING: CreateShardsReq to the leader of every group holding shards of
 *             the stream; when all acked, propose ACTIVE.
 *   DELETING: DropStreamReq to every such group; when all acked, propose
 *             remove_stream.
 *
 * The reconciler runs every COORD_RECONCILE_INTERVAL_MS and after each
 * catalogue change. Its calls are idempotent and retried until they succeed
 * (following -EDDY_ENOTLEADER hints, else trying each replica in turn); at
 * most COORD_RECONCILE_INFLIGHT_MAX are outstanding. Its progress lives in
 * memory only: a new leader starts over, which the idempotent calls allow.
 *
 * Only a ready leader (election barrier applied) answers: other replicas
 * reply -EDDY_ENOTLEADER with the leader they know, so a catalogue read never
 * goes backwards after a leader change.
 *
 * Lifecycle: coord_init -> coord_start -> (coord_handle)* -> coord_close(cb).
 * All calls on the loop thread.
 */
#ifndef EDDY_COORD_H
#define EDDY_COORD_H

#include "catalog.pb-c.h"
#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct coord;
struct rmux;
struct rpc_call;

/* One node of the cluster. Every peer is a voter of the coordinator group
 * and a node of the catalogue. Strings are copied by coord_init. */
struct coord_peer {
    uint64_t node_id;            /* 1..COORD_NODE_ID_MAX */
    const char *rpc_address;     /* "host:port" of its RPC server */
    const char *raft_address;    /* "host:port" of its rmux */
    const char *gateway_address; /* "host:port" of its gateway; NULL if none */
};

/* Replicas of one shard group, for the init entry. */
struct coord_group {
    const uint64_t *replicas; /* node ids, 1..COORD_GROUP_REPLICAS_MAX of them */
    unsigned replica_count;
};

struct coord_config {
    uint64_t node_id;               /* this node; one of peers */
    const char *data_dir;           /* the Raft group lives in <data_dir>/coord */
    const struct coord_peer *peers; /* 1..COORD_NODES_MAX, this node included */
    unsigned peer_count;
    uint32_t group_count; /* shard groups 1..group_count, at most COORD_GROUPS_MAX */
    /* groups[g - 1] for group g; NULL: the replicas placement.h gives
     * (group g on peers[(g - 1 + k) mod N], k < COORD_GROUP_REPLICAS_DEFAULT),
     * as the shard servers host them. Copied. */
    const struct coord_group *groups;
    unsigned election_timeout_ms;  /* 0: RAFT_ELECTION_TIMEOUT_MS */
    unsigned heartbeat_timeout_ms; /* 0: RAFT_HEARTBEAT_TIMEOUT_MS */
    /* A new stream stays CREATING at least this long, as on AWS, where
     * CreateStream returns with the stream CREATING and clients wait for
     * ACTIVE; 0 activates as soon as every shard exists. */
    unsigned stream_creating_ms_min;
    /* A node silent this long is dead (cluster.h); 0: COORD_NODE_DEAD_MS_DEFAULT,
     * else within [COORD_NODE_DEAD_MS_MIN, COORD_NODE_DEAD_MS_MAX]. */
    unsigned node_dead_ms;
    /* A node dead this long loses its shard-group replicas to other nodes
     * (coord_replace.h); 0: COORD_REPLACE_DEAD_MS_DEFAULT, else within
     * [COORD_REPLACE_DEAD_MS_MIN, COORD_REPLACE_DEAD_MS_MAX]. */
    unsigned replace_dead_ms;
    /* Retention (coord_trim.h): between trim passes, 0 for
     * COORD_TRIM_INTERVAL_MS_DEFAULT, else within COORD_TRIM_INTERVAL_MS_MIN..MAX;
     * how many ms one retention hour lasts, 0 for an hour, else at most an
     * hour (tests shorten it). */
    unsigned trim_interval_ms;
    uint64_t retention_hour_ms;
    /* On-demand scaling (coord_autoscale.h): a shard of an ON_DEMAND stream
     * whose reported write rate stays at or above ondemand_scale_bytes_per_s
     * or ondemand_scale_records_per_s (0 leaves a rate out; both 0: half
     * of AWS's per-shard limits) for ondemand_scale_ms (0:
     * COORD_AUTOSCALE_SUSTAIN_MS_DEFAULT, else within
     * COORD_AUTOSCALE_SUSTAIN_MS_MIN..MAX) is split in two, while the
     * account has fewer than account_shard_limit open shards (the limits
     * profile's shard-limit; 0: COORD_SHARDS_MAX). */
    unsigned ondemand_scale_ms;
    uint64_t ondemand_scale_bytes_per_s;
    uint64_t ondemand_scale_records_per_s;
    uint32_t account_shard_limit;
    /* The cluster exists already: a replica with no Raft data starts in join
     * mode (rgroup_config.join) and waits for the leader to add it. */
    bool join;
};

/* Called after every change of the catalogue on this replica (applied entry
 * or restored snapshot), leader or not. cat is borrowed for the call. */
typedef void (*coord_change_cb)(void *arg, const Eddy__Catalog *cat);
typedef void (*coord_close_cb)(void *arg);

/* Validates cfg (-EDDY_EINVAL), creates the catalogue and the group's
 * replica (errors of rgroup_init). mux is borrowed until the close callback.
 * *out is freed in coord_close's callback. */
int coord_init(struct coord **out,
               uv_loop_t *loop,
               struct rmux *mux,
               const struct coord_config *cfg);
/* Starts the replica and the reconciler timer. */
int coord_start(struct coord *c);
/* Answers CreateStream (Ack), DeleteStream (Ack), GetCatalog
 * (GetCatalogResp), Heartbeat (Ack), ClusterStatus (ClusterStatusResp;
 * see cluster.h), JoinGroup of group 0 (Ack once rgroup_rejoin made the
 * node a voter again), UpdateStream (UpdateStreamResp) and UpdateAccount
 * (UpdateAccountResp; see coord_update.h). Takes ownership of call; replies exactly once, for
 * changes once the entry is applied:
 *   -EDDY_ENOTLEADER (with leader_node)  not the ready leader
 *   -EDDY_EINVAL      bad name, mode or request type
 *   -EDDY_EEXISTS     CreateStream of a name in use
 *   -EDDY_ENOTFOUND   DeleteStream of an unknown name
 *   -EDDY_ELIMIT      stream, shard or per-stream shard bound passed
 *   -EDDY_EUNAVAILABLE the catalogue is not initialised yet
 *   -EDDY_EFULL       COORD_PROPOSALS_INFLIGHT_MAX requests already waiting
 *   -EDDY_EUNKNOWN    leadership lost while proposing: outcome unknown
 *   -EDDY_ESHUTDOWN   closing */
void coord_handle(struct coord *c, struct rpc_call *call);
/* True on the leader whose election barrier is applied. */
bool coord_is_leader(const struct coord *c);
/* This replica's catalogue (possibly stale on a follower). Borrowed until
 * the next loop callback that may apply an entry. */
const Eddy__Catalog *coord_catalog(const struct coord *c);
/* Fills the coordinator group's NodeStatus entry (group 0). */
void coord_status(const struct coord *c, Eddy__GroupStatus *out);
/* The coordinator group's voters as this replica knows them (rgroup_voters):
 * the count, at most max written. */
unsigned coord_voters(const struct coord *c, uint64_t *out, unsigned max);
/* The coordinator replica drains (rgroup_set_draining): it hands away the
 * group's leadership whenever it gets it. */
void coord_set_draining(struct coord *c, bool draining);
void coord_set_change_cb(struct coord *c, coord_change_cb cb, void *arg);
/* Fails waiting requests with -EDDY_ESHUTDOWN (through the group's proposal
 * callbacks), closes the group, the timer and the RPC clients, then calls cb
 * and frees c. */
void coord_close(struct coord *c, coord_close_cb cb, void *arg);

#endif
