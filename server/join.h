/*
 * Start-up of a node that may have to join a cluster that already exists
 * (the three-node cluster issue: "wipe its data directory and restart it:
 * it rejoins and is re-replicated").
 *
 * A Raft directory with no data (rgroup_dir_has_data) is pristine for its
 * group. eddyd decides, before it starts any replica:
 *   - no pristine directory: start as usual (bootstrap never happens);
 *   - some pristine, some not: the cluster exists (this node was part of
 *     it); start every replica in join mode and join the pristine groups;
 *   - all pristine: join_probe asks the peers. The cluster exists as soon
 *     as one of them reports a group past its bootstrap entry (applied or
 *     last index above 1). It does not when a majority of the peers (this
 *     node counted) answered and none did so: then every replica
 *     bootstraps. Otherwise it asks again, forever, so a wiped node never
 *     bootstraps a second cluster while the first one is out of reach.
 *     When the cluster exists, the replicas start only once every group
 *     this node hosts has shown a ready leader, so each leader was elected
 *     without this node. A pristine replica votes for nobody (it has no
 *     configuration), but it becomes a voter again as soon as a leader
 *     replicates the old configuration to it, and stays one until that
 *     leader's raft_remove commits: only then could its vote elect a
 *     leader lacking entries it acknowledged before it lost them.
 *
 * join_group then asks the leader of a group to make this node a voter
 * again (JoinGroupReq: the leader runs rgroup_rejoin), sending to the peers
 * in turn and following -EDDY_ENOTLEADER hints, retrying with a bounded
 * back-off until one answers Ack. join_group_replace asks it to remove a
 * member this node replaces (JoinGroupReq.replaces: rgroup_replace), after
 * the rejoin when both are asked (docs/adr/0004). Progress goes to the log.
 *
 * join_fetch_catalog asks the peers for the catalogue (GetCatalogReq,
 * following leader hints, retrying until one answers): after the first
 * boot it, not placement.h, says which groups this node hosts.
 *
 * Lifecycle: join_init -> [join_probe] -> (join_group | join_group_replace
 * | join_group_cancel | join_fetch_catalog)* -> join_close(cb). Loop thread
 * only. Callbacks never run inside the call that asked.
 */
#ifndef EDDY_JOIN_H
#define EDDY_JOIN_H

#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct join;

struct join_peer {
    uint64_t node_id;
    const char *rpc_address; /* "host:port" of its RPC server */
};

struct join_config {
    uint64_t node_id;
    const char *raft_address;      /* this node's rmux address, sent in JoinGroupReq */
    const struct join_peer *peers; /* coordinator and server nodes, this one included */
    unsigned peer_count;           /* 1..JOIN_PEERS_MAX */
    const uint32_t *groups;        /* groups whose leader the probe awaits (0: coord) */
    unsigned group_count;          /* 0..JOIN_GROUPS_MAX */
};

typedef void (*join_probe_cb)(void *arg, bool cluster_exists);
/* cat is borrowed for the call. */
typedef void (*join_catalog_cb)(void *arg, const Eddy__Catalog *cat);
typedef void (*join_close_cb)(void *arg);

/* Copies cfg. *out is freed in join_close's callback. -EDDY_EINVAL when
 * cfg is malformed (no such node among the peers, too many peers). */
int join_init(struct join **out, uv_loop_t *loop, const struct join_config *cfg);
/* Decides whether the cluster exists (see the top of this file); cb runs
 * once, from the loop, unless the join closes first. One probe per join. */
void join_probe(struct join *j, join_probe_cb cb, void *arg);
/* Starts asking the leader of group (0: the coordinator) to rejoin this
 * node (its replica has no data). Again after an Ack asks again. */
void join_group(struct join *j, uint32_t group);
/* Starts asking the leader of shard group to make this node a voter and
 * remove replaces (not this node), after the rejoin if one is asked. */
void join_group_replace(struct join *j, uint32_t group, uint32_t replaces);
/* Stops asking anything for group; a call in flight is ignored. */
void join_group_cancel(struct join *j, uint32_t group);
/* Whether something is still to be asked for group. */
bool join_group_is_pending(const struct join *j, uint32_t group);
/* Groups asked for and not yet acknowledged. */
unsigned join_groups_pending(const struct join *j);
/* Asks the peers for the catalogue until one answers; cb runs once, from
 * the loop, unless the join closes first. One at a time. */
void join_fetch_catalog(struct join *j, join_catalog_cb cb, void *arg);
/* Stops asking; calls in flight are abandoned. */
void join_close(struct join *j, join_close_cb cb, void *arg);

/* ---- pure parts, for eddyd and the tests ---- */

enum join_verdict { JOIN_VERDICT_WAIT, JOIN_VERDICT_BOOTSTRAP, JOIN_VERDICT_JOIN };

/* peer_count counts this node; answered counts the other peers that
 * answered this round; is_seen: one of them showed the cluster; is_led:
 * every group this node hosts showed a ready leader. */
enum join_verdict join_verdict(unsigned peer_count, unsigned answered, bool is_seen, bool is_led);
/* True when a NodeStatus answer shows a group past its bootstrap entry. */
bool join_status_shows_cluster(const Eddy__NodeStatusResp *resp);
/* The Raft directory of group (0: the coordinator) under data_dir, as
 * coord.h and server/README.md lay them out. -ENAMETOOLONG if it does not
 * fit. */
int join_raft_dir(char *buf, size_t len, const char *data_dir, uint32_t group);

#endif
