/*
 * What a reshard request turns into: the child shards (hash ranges and
 * parents) SplitShard, MergeShards or UpdateShardCount creates, and the
 * shard groups they go to. Pure: the coordinator leader calls it on its
 * catalogue and proposes the result as a Reshard begin entry
 * (catalog_reshard.h), which checks it again.
 *
 * UpdateShardCount (UNIFORM_SCALING) goes from the open shards to the even
 * split of [0, 2^128-1] in `target` ranges that CreateStream would make, as
 * AWS does, through splits and merges only, so that every child has at most
 * a parent and an adjacent parent: first each open shard is split, in a
 * chain, at every target boundary inside it; then the pieces of each target
 * range are merged, in a chain, from the lowest up. A shard that is already
 * a target range is left alone. The chains' middle links are the
 * "short-lived shards" of the AWS documentation: created and closed by the
 * same reshard.
 *
 * Placement: each child that stays open goes to the group with the fewest
 * open shards of all streams, counting the parents as gone and the children
 * placed so far; on a tie, a group that holds none of the parents (a split
 * moves load off a busy group), then the lowest id. A short-lived child
 * stays on its parent's group, where it costs no new Raft traffic.
 */
#ifndef EDDY_RESHARD_PLAN_H
#define EDDY_RESHARD_PLAN_H

#include "catalog.pb-c.h"
#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reshard_child {
    uint32_t index; /* shard number: the stream's next index on */
    u128 start;
    u128 end;
    int64_t parent;
    int64_t adjacent_parent; /* -1: none (a split child) */
    bool is_final;           /* stays open: no later child names it */
    uint32_t group;          /* set by reshard_plan_place */
};

struct reshard_plan {
    struct reshard_child *children; /* eddy_malloc'd, in index order */
    size_t count;
    size_t cap;
    uint32_t closing; /* shards of the stream the plan closes */
};

void reshard_plan_free(struct reshard_plan *p);

/* SplitShard of an ACTIVE stream at new_start (the upper child's first
 * hash key). -EDDY_ENOTFOUND: no such shard; -EDDY_EINVAL: the shard is
 * closed, or new_start is not in (start + 1, end) as AWS requires. */
int reshard_plan_split(const Eddy__StreamInfo *s,
                       uint32_t shard,
                       u128 new_start,
                       struct reshard_plan *out);
/* MergeShards: shard's range must end right before adjacent's begins.
 * -EDDY_ENOTFOUND: either is missing; -EDDY_EINVAL: closed or not adjacent. */
int reshard_plan_merge(const Eddy__StreamInfo *s,
                       uint32_t shard,
                       uint32_t adjacent,
                       struct reshard_plan *out);
/* UpdateShardCount to target open shards (1..COORD_STREAM_SHARDS_MAX; the
 * double/half bounds are the caller's). An empty plan when the open shards
 * already are the even split. */
int reshard_plan_scale(const Eddy__StreamInfo *s, uint32_t target, struct reshard_plan *out);
/* Chooses every child's group (see above). cat holds the stream. */
void reshard_plan_place(const Eddy__Catalog *cat,
                        const Eddy__StreamInfo *s,
                        struct reshard_plan *p);

#endif
