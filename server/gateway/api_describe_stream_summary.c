/*
 * DescribeStreamSummary: StreamName or StreamARN. Answers the
 * StreamDescriptionSummary: status, mode, retention, creation time, enhanced
 * monitoring, encryption (EncryptionType, KeyId when KMS), open shard count,
 * ConsumerCount (its enhanced fan-out consumers, DELETING ones until they
 * are gone, as they count against the limit), WarmThroughput (when asked)
 * and MaxRecordSizeInKiB, all from the catalogue.
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

int api_describe_stream_summary_decode(const cJSON *root,
                                       const struct api_config *cfg,
                                       struct api_describe_stream_summary_req *r,
                                       struct api_error *e)
{
    struct api_stream_input in;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    return api_stream_input_resolve(cfg, &in, r->name, e);
}

static void api_describe_stream_summary_on_catalog(struct api_call *c, const Eddy__StreamInfo *st)
{
    if (st == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.",
                 c->req.describe_stream_summary.name, c->cfg.account);
        return;
    }
    uint64_t open = 0;
    size_t visible = api_visible_shard_count(st);
    for (size_t i = 0; i < visible; i++) {
        open += api_shard_is_open(st->shards[i]);
    }
    char arn[API_STREAM_ARN_TEXT_MAX];
    api_stream_arn(&c->cfg, st->name, arn);
    struct json_out o;
    json_out_init(&o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    json_out_key(&o, "StreamDescriptionSummary");
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "StreamName", st->name);
    json_out_kv_cstr(&o, "StreamARN", arn);
    json_out_kv_cstr(&o, "StreamStatus", api_stream_status_name(st->status));
    api_write_stream_mode(&o, st->mode);
    json_out_kv_u64(&o, "RetentionPeriodHours",
                    st->retention_hours ? st->retention_hours : KIN_RETENTION_HOURS_DEFAULT);
    json_out_key(&o, "StreamCreationTimestamp");
    json_out_timestamp_ms(&o, st->created_ms);
    api_write_enhanced_monitoring(&o, st);
    api_write_encryption(&o, st);
    json_out_kv_u64(&o, "OpenShardCount", open);
    json_out_kv_u64(&o, "ConsumerCount", st->n_consumers);
    api_write_warm_throughput(&o, st);
    json_out_kv_u64(&o, "MaxRecordSizeInKiB", api_stream_record_bytes_max(st) / 1024);
    json_out_obj_end(&o);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

void api_describe_stream_summary_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.describe_stream_summary.name, true,
                              api_describe_stream_summary_on_catalog);
}
