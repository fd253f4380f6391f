/*
 * Which shard groups this node hosts, changed at run time (docs/adr/0004):
 * the coordinator leader's HostGroupReq and DropGroupReq, and the groups
 * the catalogue gives this node at start-up.
 *
 *   host  a group not hosted here gets a replica in join mode
 *         (shard_server_add_group); when it has no Raft data the leader is
 *         asked to add it (join_group: rgroup_rejoin). With replaces != 0
 *         the leader is then asked to remove that member
 *         (join_group_replace: rgroup_replace). Idempotent: a hosted group
 *         only gets the removal asked again; Ack once asked (the
 *         coordinator watches the reports for the outcome).
 *   drop  the replica is closed (shard_server_remove_group), its join
 *         requests cancelled, and its directory data_dir/groups/<id>
 *         renamed to <id>.dropped and deleted on the threadpool; Ack once
 *         gone. A group not hosted is acknowledged at once.
 * Either one for a group being dropped gets -EDDY_EINUSE (ask again).
 *
 * Lifecycle: host_init -> (host_handle | host_start_group)* ->
 * host_close(cb). It holds no handle of its own; the close waits for the
 * drops in flight. The shard server and the join must outlive it.
 */
#ifndef EDDY_HOST_H
#define EDDY_HOST_H

#include "eddy/rpc.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct host;
struct join;
struct shard_server;

struct host_config {
    uint64_t node_id;
    const char *data_dir; /* copied */
    uint32_t group_count; /* shard groups 1..group_count exist (--groups) */
};

/* server and j are borrowed until the close callback; j may be NULL (a
 * one-node cluster: nobody to join, HostGroupReq fails -EDDY_EINVAL). */
int host_init(struct host **out,
              uv_loop_t *loop,
              struct shard_server *server,
              struct join *j,
              const struct host_config *cfg);
/* Takes ownership of call: HostGroupReq or DropGroupReq. */
void host_handle(struct host *h, struct rpc_call *call);
/* At start-up: hosts group as HostGroupReq{group, 0} would. */
int host_start_group(struct host *h, uint32_t group);
/* Answers nothing more; cb(arg) runs once the drops in flight are done,
 * never synchronously. */
void host_close(struct host *h, void (*cb)(void *arg), void *arg);

/* Deletes dir and everything under it, not following symbolic links: it is
 * first renamed to "<dir>.dropped" (so a crash half way never leaves a
 * directory that looks like a replica), then removed. Blocking: the
 * threadpool or start-up only. 0 (also when dir is missing) or -errno. */
int host_remove_tree(const char *dir);
/* Removes what a crash during a drop left: data_dir/groups/<id>.dropped for
 * ids 1..group_count. Blocking: start-up only. 0 or the first -errno. */
int host_cleanup(const char *data_dir, uint32_t group_count);

#endif
