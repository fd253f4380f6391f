/*
 * SplitShard: StreamName or StreamARN, ShardToSplit, NewStartingHashKey.
 * Answers 200 with an empty body once the split has begun (the stream is
 * UPDATING); the coordinator places the two children, closes the parent and
 * makes the stream ACTIVE again (coordinator/coord_reshard.h).
 *
 * Checks in kinesalite's order (its tests ran against AWS): a ShardToSplit
 * that names no shard number, the stream, the shard, the account's shard
 * limit (open shards; the limits profile's shard-limit), the shard still
 * open, NewStartingHashKey strictly between one plus the shard's
 * StartingHashKey and its EndingHashKey, the stream ACTIVE.
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <string.h>

int api_split_shard_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_split_shard_req *r,
                           struct api_error *e)
{
    struct api_stream_input in;
    struct json_str shard, hash;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_str(root, "ShardToSplit", &shard, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "NewStartingHashKey", &hash, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_not_null(&in.v, "newStartingHashKey", hash.present);
    validation_pattern(&in.v, "newStartingHashKey", &hash, JSON_PATTERN_HASH_KEY);
    validation_stream_name(&in.v, "streamName", &in.name);
    validation_not_null(&in.v, "shardToSplit", shard.present);
    validation_pattern(&in.v, "shardToSplit", &shard, JSON_PATTERN_NAME);
    validation_length(&in.v, "shardToSplit", &shard, 1, KIN_SHARD_ID_LEN_MAX);
    validation_stream_arn(&in.v, "streamARN", &in.arn);
    rv = validation_finish(&in.v, e);
    if (rv == 0) {
        rv = api_stream_input_resolve(cfg, &in, r->name, e);
    }
    if (rv != 0) {
        return rv;
    }
    api_reshard_shard_ref(&shard, &r->shard);
    json_copy(r->hash_text, sizeof(r->hash_text), hash.ptr, hash.len);
    /* The pattern allows 39 digits: from 2^128 up it is only too big. */
    r->hash_too_big = u128_parse_decimal(hash.ptr, hash.len, &r->new_start) != 0;
    return 0;
}

/* NewStartingHashKey inside (start + 1, end), as AWS requires. */
static bool api_split_shard_hash_ok(const struct api_split_shard_req *r, u128 start, u128 end)
{
    if (r->hash_too_big) {
        return false;
    }
    return r->new_start > start && r->new_start - start > 1 && r->new_start < end;
}

static void api_split_shard_on_stream(struct api_call *c,
                                      int status,
                                      const Eddy__Catalog *cat,
                                      const Eddy__StreamInfo *st)
{
    const struct api_split_shard_req *r = &c->req.split_shard;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    if (!api_reshard_require_stream(c, r->name, st)) {
        return;
    }
    const Eddy__ShardInfo *sh = api_reshard_require_shard(c, r->name, st, &r->shard);
    if (sh == NULL) {
        return;
    }
    uint64_t open = api_reshard_account_open_count(cat);
    struct api_account_limits lim;
    api_account_limits(c->ctx, &lim);
    if (open + 1 > lim.shard_limit) {
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "This request would exceed the shard limit for the account %s in %s. Current "
                 "shard count for the account: %llu. Limit: %u. Number of additional shards that "
                 "would have resulted from this request: 1. Refer to the AWS Service Limits page "
                 "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for "
                 "current limits and how to request higher limits.",
                 c->cfg.account, c->cfg.region, (unsigned long long)open,
                 (unsigned)lim.shard_limit);
        return;
    }
    if (!api_reshard_require_open(c, r->name, st, sh)) {
        return;
    }
    u128 start = sh->hash_start.len == 16 ? u128_from_be(sh->hash_start.data) : 0;
    u128 end = sh->hash_end.len == 16 ? u128_from_be(sh->hash_end.data) : 0;
    if (!api_split_shard_hash_ok(r, start, end)) {
        char id[API_SHARD_ID_TEXT_MAX];
        char start_text[U128_DECIMAL_LEN_MAX + 1];
        char end_text[U128_DECIMAL_LEN_MAX + 1];
        api_shard_id(sh->index, id);
        u128_format_decimal(start, start_text);
        u128_format_decimal(end, end_text);
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under "
                 "account %s is not both greater than one plus the shard's StartingHashKey %s "
                 "and less than the shard's EndingHashKey %s.",
                 r->hash_text, id, r->name, c->cfg.account, start_text, end_text);
        return;
    }
    if (!api_reshard_require_active(c, r->name, st)) {
        return;
    }
    uint8_t key[16];
    u128_to_be(r->new_start, key);
    Eddy__SplitShardOp op = EDDY__SPLIT_SHARD_OP__INIT;
    op.shard = sh->index;
    op.new_starting_hash_key = (ProtobufCBinaryData){16, key};
    Eddy__ReshardReq req = EDDY__RESHARD_REQ__INIT;
    req.name = st->name;
    req.created_ms = st->created_ms;
    req.op_case = EDDY__RESHARD_REQ__OP_SPLIT;
    req.split = &op;
    api_reshard_send(c, r->name, &req, NULL);
}

void api_split_shard_run(struct api_call *c)
{
    const struct api_split_shard_req *r = &c->req.split_shard;
    if (!r->shard.ok) {
        /* AWS answers this before it looks the stream up. */
        api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                 "Could not find shard %s in stream %s under account %s.", r->shard.text, r->name,
                 c->cfg.account);
        return;
    }
    api_lookup_stream(c, r->name, true, api_split_shard_on_stream);
}
