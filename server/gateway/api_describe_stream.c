/*
 * DescribeStream: StreamName or StreamARN, Limit (1..10000, default 100, at
 * most 100 returned), ExclusiveStartShardId. Answers the StreamDescription
 * with a page of shards in id order and HasMoreShards. A CREATING stream
 * shows no shards, as on AWS.
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <string.h>

int api_describe_stream_decode(const cJSON *root,
                               const struct api_config *cfg,
                               struct api_describe_stream_req *r,
                               struct api_error *e)
{
    struct api_stream_input in;
    struct json_str start;
    struct json_int limit;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_int(root, "Limit", &limit, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "ExclusiveStartShardId", &start, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_range(&in.v, "limit", &limit, 1, KIN_DESCRIBE_STREAM_LIMIT_MAX);
    validation_pattern(&in.v, "exclusiveStartShardId", &start, JSON_PATTERN_NAME);
    validation_length(&in.v, "exclusiveStartShardId", &start, 1, KIN_SHARD_ID_LEN_MAX);
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    r->limit = limit.present ? (uint32_t)limit.value : KIN_DESCRIBE_STREAM_LIMIT_DEFAULT;
    if (r->limit > API_DESCRIBE_STREAM_RESULTS_MAX) {
        r->limit = API_DESCRIBE_STREAM_RESULTS_MAX;
    }
    r->has_start = start.present;
    if (start.present) {
        json_copy(r->start_shard_id, sizeof(r->start_shard_id), start.ptr, start.len);
    }
    return api_stream_input_resolve(cfg, &in, r->name, e);
}

static void api_describe_stream_on_catalog(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_describe_stream_req *r = &c->req.describe_stream;
    if (st == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", r->name,
                 c->cfg.account);
        return;
    }
    char arn[API_STREAM_ARN_TEXT_MAX];
    api_stream_arn(&c->cfg, st->name, arn);
    struct json_out o;
    json_out_init(&o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    json_out_key(&o, "StreamDescription");
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "StreamName", st->name);
    json_out_kv_cstr(&o, "StreamARN", arn);
    json_out_kv_cstr(&o, "StreamStatus", api_stream_status_name(st->status));
    api_write_stream_mode(&o, st->mode);
    json_out_key(&o, "Shards");
    json_out_arr_begin(&o);
    size_t shown = 0;
    bool more = false;
    size_t visible = api_visible_shard_count(st);
    uint64_t now_ms = api_now_ms();
    for (size_t i = 0; i < visible; i++) {
        const Eddy__ShardInfo *sh = st->shards[i];
        char id[API_SHARD_ID_TEXT_MAX];
        api_shard_id(sh->index, id);
        if ((r->has_start && strcmp(id, r->start_shard_id) <= 0) ||
            api_shard_is_expired(&c->cfg, st, sh, now_ms)) {
            continue;
        }
        if (shown == r->limit) {
            more = true;
            break;
        }
        api_write_shard(&o, sh);
        shown++;
    }
    json_out_arr_end(&o);
    json_out_kv_bool(&o, "HasMoreShards", more);
    json_out_kv_u64(&o, "RetentionPeriodHours",
                    st->retention_hours ? st->retention_hours : KIN_RETENTION_HOURS_DEFAULT);
    json_out_key(&o, "StreamCreationTimestamp");
    json_out_timestamp_ms(&o, st->created_ms);
    api_write_enhanced_monitoring(&o, st);
    api_write_encryption(&o, st);
    json_out_obj_end(&o);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

void api_describe_stream_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.describe_stream.name, true, api_describe_stream_on_catalog);
}
