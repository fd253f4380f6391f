/*
 * CreateStream: StreamName (required), ShardCount (optional, default 4),
 * StreamModeDetails, Tags, WarmThroughputMiBps, MaxRecordSizeInKiB. Answers
 * 200 with an empty body; the stream is CREATING until the coordinator
 * activates it. The record size and the warm throughput (ON_DEMAND streams
 * of an account with MinimumThroughputBillingCommitment only) go into the
 * catalogue with the stream, and so do the tags (checked as AddTagsToStream
 * checks them, api_tags_create_stream). An ON_DEMAND stream counts against
 * the account's OnDemandStreamCountLimit (api_require_on_demand_quota).
 */
#include "api.h"

#include "backend.h"

#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/limits_profile.h"

#include <string.h>

static const char *const api_create_stream_modes[] = {"PROVISIONED", "ON_DEMAND"};

int api_create_stream_decode(const cJSON *root,
                             const struct api_config *cfg,
                             struct api_create_stream_req *r,
                             struct api_error *e)
{
    (void)cfg;
    struct json_str name;
    struct json_int shard_count;
    struct json_int record_kib;
    struct json_int warm;
    struct json_str mode = {0};
    const cJSON *details = NULL;
    int rv = json_get_str(root, "StreamName", &name, e);
    if (rv == 0) {
        rv = json_get_int(root, "ShardCount", &shard_count, e);
    }
    if (rv == 0) {
        rv = json_get_struct(root, "StreamModeDetails", &details, e);
    }
    if (rv == 0 && details != NULL) {
        rv = json_get_str(details, "StreamMode", &mode, e);
    }
    if (rv == 0) {
        rv = api_tag_map_get(root, "Tags", &r->tags, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "WarmThroughputMiBps", &warm, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "MaxRecordSizeInKiB", &record_kib, e);
    }
    if (rv != 0) {
        return rv;
    }

    struct validation v;
    validation_init(&v);
    validation_range(&v, "shardCount", &shard_count, 1, INT32_MAX);
    validation_not_null(&v, "streamName", name.present);
    validation_stream_name(&v, "streamName", &name);
    if (details != NULL) {
        validation_not_null(&v, "streamModeDetails.streamMode", mode.present);
        validation_enum(&v, "streamModeDetails.streamMode", &mode, api_create_stream_modes, 2);
    }
    api_tag_map_validate(&v, "tags", r->tags);
    validation_range(&v, "maxRecordSizeInKiB", &record_kib, API_MAX_RECORD_SIZE_KIB_MIN,
                     API_MAX_RECORD_SIZE_KIB_MAX);
    validation_range(&v, "warmThroughputMiBps", &warm, 0, INT32_MAX);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }

    json_copy(r->name, sizeof(r->name), name.ptr, name.len);
    r->shard_count = shard_count.present ? (uint32_t)shard_count.value : KIN_SHARD_COUNT_DEFAULT;
    r->mode = json_enum_index(&mode, api_create_stream_modes, 2) == 1
                  ? EDDY__STREAM_MODE__MODE_ON_DEMAND
                  : EDDY__STREAM_MODE__MODE_PROVISIONED;
    r->max_record_size_kib = record_kib.present ? (uint32_t)record_kib.value : 0;
    r->has_warm = warm.present;
    r->warm_mibps = warm.present ? (uint32_t)warm.value : 0;
    return 0;
}

static void api_create_stream_on_done(void *arg, int status, const char *message)
{
    struct api_call *c = arg;
    const struct api_create_stream_req *r = &c->req.create_stream;
    if (status == 0) {
        api_respond_empty(c);
        return;
    }
    if (status == -EDDY_EEXISTS) {
        api_fail(c, API_EX_RESOURCE_IN_USE, "Stream %s under account %s already exists.", r->name,
                 c->cfg.account);
        return;
    }
    api_fail_code(c, status, message);
}

/* Streams CREATING or DELETING, for the limit on streams in transition. */
static uint32_t api_create_stream_in_transition(const Eddy__Catalog *cat)
{
    uint32_t n = 0;
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *st = cat->streams[i];
        n += st != NULL && (st->status == EDDY__STREAM_STATUS__STREAM_CREATING ||
                            st->status == EDDY__STREAM_STATUS__STREAM_DELETING);
    }
    return n;
}

/* Open shards of the account, for the shard quota. */
static uint64_t api_create_stream_open_shards(const Eddy__Catalog *cat)
{
    uint64_t n = 0;
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *st = cat->streams[i];
        for (size_t k = 0; st != NULL && k < st->n_shards; k++) {
            n += st->shards[k] != NULL && api_shard_is_open(st->shards[k]);
        }
    }
    return n;
}

static void api_create_stream_on_catalog(struct api_call *c,
                                         int status,
                                         const Eddy__Catalog *cat,
                                         const Eddy__StreamInfo *st)
{
    const struct api_create_stream_req *r = &c->req.create_stream;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    if (st != NULL) {
        api_fail(c, API_EX_RESOURCE_IN_USE, "Stream %s under account %s already exists.", r->name,
                 c->cfg.account);
        return;
    }
    uint32_t transition_max = c->ctx->limits->streams_in_transition_max;
    if (transition_max > 0 && api_create_stream_in_transition(cat) >= transition_max) {
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "This request would have exceed the limit on the number of streams that can "
                 "simultaneously be in CREATING or DELETING for the account %s. Limit: %u.",
                 c->cfg.account, (unsigned)transition_max);
        return;
    }
    if (r->mode == EDDY__STREAM_MODE__MODE_ON_DEMAND && !api_require_on_demand_quota(c, cat)) {
        return;
    }
    uint32_t shard_limit = c->ctx->limits->shard_limit;
    uint64_t open = api_create_stream_open_shards(cat);
    if (open + r->shard_count > shard_limit) {
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "This request would exceed the shard limit for the account %s in %s. Current "
                 "shard count for the account: %llu. Limit: %u. Number of additional shards that "
                 "would have resulted from this request: %u. Refer to the AWS Service Limits page "
                 "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for "
                 "current limits and how to request higher limits.",
                 c->cfg.account, c->cfg.region, (unsigned long long)open, (unsigned)shard_limit,
                 r->shard_count);
        return;
    }
    if (r->has_warm && !api_warm_throughput_allowed(c, cat, r->name, r->mode, r->warm_mibps)) {
        return;
    }
    Eddy__CreateStreamReq req = EDDY__CREATE_STREAM_REQ__INIT;
    req.name = (char *)r->name;
    req.shard_count = r->shard_count;
    req.mode = r->mode;
    req.max_record_size_kib = r->max_record_size_kib;
    req.warm_throughput_mibps = r->warm_mibps;
    api_tags_create_stream(c, &req, r->tags, api_create_stream_on_done);
}

void api_create_stream_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.create_stream.name, true, api_create_stream_on_catalog);
}
