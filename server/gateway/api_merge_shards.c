/*
 * MergeShards: StreamName or StreamARN, ShardToMerge, AdjacentShardToMerge.
 * Answers 200 with an empty body once the merge has begun (the stream is
 * UPDATING). The child's ParentShardId is ShardToMerge and its
 * AdjacentParentShardId AdjacentShardToMerge; ShardToMerge's range must end
 * right before AdjacentShardToMerge's begins ("adjacency is inverted" is
 * refused on AWS, per kinesalite's tests).
 *
 * Checks in kinesalite's order: either id naming no shard number, the
 * stream, each shard, both still open, adjacency, the stream ACTIVE.
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

int api_merge_shards_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_merge_shards_req *r,
                            struct api_error *e)
{
    struct api_stream_input in;
    struct json_str shard, adjacent;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_str(root, "ShardToMerge", &shard, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "AdjacentShardToMerge", &adjacent, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_not_null(&in.v, "shardToMerge", shard.present);
    validation_pattern(&in.v, "shardToMerge", &shard, JSON_PATTERN_NAME);
    validation_length(&in.v, "shardToMerge", &shard, 1, KIN_SHARD_ID_LEN_MAX);
    validation_not_null(&in.v, "adjacentShardToMerge", adjacent.present);
    validation_pattern(&in.v, "adjacentShardToMerge", &adjacent, JSON_PATTERN_NAME);
    validation_length(&in.v, "adjacentShardToMerge", &adjacent, 1, KIN_SHARD_ID_LEN_MAX);
    rv = api_stream_input_finish(&in, e);
    if (rv == 0) {
        rv = api_stream_input_resolve(cfg, &in, r->name, e);
    }
    if (rv != 0) {
        return rv;
    }
    api_reshard_shard_ref(&shard, &r->shard);
    api_reshard_shard_ref(&adjacent, &r->adjacent);
    return 0;
}

static bool api_merge_shards_adjacent(const Eddy__ShardInfo *a, const Eddy__ShardInfo *b)
{
    if (a == b || a->hash_end.len != 16 || b->hash_start.len != 16) {
        return false;
    }
    u128 a_end = u128_from_be(a->hash_end.data);
    return a_end != ~(u128)0 && a_end + 1 == u128_from_be(b->hash_start.data);
}

static void api_merge_shards_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_merge_shards_req *r = &c->req.merge_shards;
    if (!api_reshard_require_stream(c, r->name, st)) {
        return;
    }
    const Eddy__ShardInfo *a = api_reshard_require_shard(c, r->name, st, &r->shard);
    if (a == NULL) {
        return;
    }
    const Eddy__ShardInfo *b = api_reshard_require_shard(c, r->name, st, &r->adjacent);
    if (b == NULL || !api_reshard_require_open(c, r->name, st, a) ||
        !api_reshard_require_open(c, r->name, st, b)) {
        return;
    }
    if (!api_merge_shards_adjacent(a, b)) {
        char id_a[API_SHARD_ID_TEXT_MAX];
        char id_b[API_SHARD_ID_TEXT_MAX];
        api_shard_id(a->index, id_a);
        api_shard_id(b->index, id_b);
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Shards %s and %s in stream %s under account %s are not an adjacent pair of "
                 "shards eligible for merging",
                 id_a, id_b, r->name, c->cfg.account);
        return;
    }
    if (!api_reshard_require_active(c, r->name, st)) {
        return;
    }
    Eddy__MergeShardsOp op = EDDY__MERGE_SHARDS_OP__INIT;
    op.shard = a->index;
    op.adjacent_shard = b->index;
    Eddy__ReshardReq req = EDDY__RESHARD_REQ__INIT;
    req.name = st->name;
    req.created_ms = st->created_ms;
    req.op_case = EDDY__RESHARD_REQ__OP_MERGE;
    req.merge = &op;
    api_reshard_send(c, r->name, &req, NULL);
}

void api_merge_shards_run(struct api_call *c)
{
    const struct api_merge_shards_req *r = &c->req.merge_shards;
    const struct api_shard_ref *bad = !r->shard.ok      ? &r->shard
                                      : !r->adjacent.ok ? &r->adjacent
                                                        : NULL;
    if (bad != NULL) {
        /* AWS answers this before it looks the stream up. */
        api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                 "Could not find shard %s in stream %s under account %s.", bad->text, r->name,
                 c->cfg.account);
        return;
    }
    api_lookup_stream_or_fail(c, r->name, true, api_merge_shards_on_stream);
}
