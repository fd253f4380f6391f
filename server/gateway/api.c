/*
 * Dispatch of Kinesis API requests, the error model, and what the action
 * handlers share (identifiers, catalogue lookups, shard output).
 *
 * Protocol behaviour follows AWS as recorded by kinesalite's test-suite (run
 * against the live service) and notes/peers.md section 3:
 *   - not POST: 403, XML AccessDeniedException (MissingAuthenticationToken-
 *     Exception when the request carries no credentials at all);
 *   - a Content-Type other than JSON 1.1 / CBOR 1.1 / application/json: 404
 *     "<UnknownOperationException/>" (403 AccessDenied without a target);
 *   - application/json: the deprecated Coral envelope, HTTP 200;
 *   - x-amz-json-1.1: empty or unparsable body -> 400 SerializationException,
 *     unknown target -> 400 UnknownOperationException, then the credentials
 *     (sigv4.h: 400 MissingAuthenticationToken-, IncompleteSignature-,
 *     InvalidSignature-, UnrecognizedClientException), then the action;
 *   - x-amz-cbor-1.1: the same with a CBOR body, answered in CBOR (cbor.h).
 * Every response carries x-amzn-RequestId (UUID v4) and x-amz-id-2; errors
 * carry x-amzn-ErrorType and {"__type": ..., "message": ...}.
 */
#include "api.h"

#include "backend.h"
#include "cbor.h"
#include "http1.h"
#include "json.h"
#include "ratelimit.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/base64.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/seqnum.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define API_TARGET_PREFIX "Kinesis_20131202"
#define API_CT_JSON11 "application/x-amz-json-1.1"
#define API_CT_CBOR11 "application/x-amz-cbor-1.1"
#define API_CT_JSON "application/json"
#define API_ID2_RANDOM_BYTES 72
#define API_ID2_TEXT_CAP ((API_ID2_RANDOM_BYTES + 2) / 3 * 4 + 1)
#define API_HEADERS_MAX 10

/* ---- the error tables ---- */

static const struct api_exception_info {
    const char *type;
    int status;
    bool capital_message;
} api_exceptions[API_EX_COUNT_] = {
    [API_EX_NONE] = {"InternalFailure", 500, false},
    [API_EX_VALIDATION] = {"ValidationException", 400, false},
    [API_EX_SERIALIZATION] = {"SerializationException", 400, true},
    [API_EX_UNKNOWN_OPERATION] = {"UnknownOperationException", 400, false},
    [API_EX_INVALID_ARGUMENT] = {"InvalidArgumentException", 400, false},
    [API_EX_RESOURCE_NOT_FOUND] = {"ResourceNotFoundException", 400, false},
    [API_EX_RESOURCE_IN_USE] = {"ResourceInUseException", 400, false},
    [API_EX_LIMIT_EXCEEDED] = {"LimitExceededException", 400, false},
    [API_EX_EXPIRED_ITERATOR] = {"ExpiredIteratorException", 400, false},
    [API_EX_EXPIRED_NEXT_TOKEN] = {"ExpiredNextTokenException", 400, false},
    [API_EX_THROUGHPUT_EXCEEDED] = {"ProvisionedThroughputExceededException", 400, false},
    [API_EX_ACCESS_DENIED] = {"AccessDeniedException", 400, false},
    [API_EX_INTERNAL_FAILURE] = {"InternalFailure", 500, false},
    [API_EX_SERVICE_UNAVAILABLE] = {"ServiceUnavailable", 503, false},
    /* HTTP 400 in Kinesis's JSON protocol (kinesalite's tests run against
     * AWS; Kinesis answers quoted in README.md "Authentication"). */
    [API_EX_MISSING_AUTH_TOKEN] = {"MissingAuthenticationTokenException", 400, false},
    [API_EX_INCOMPLETE_SIGNATURE] = {"IncompleteSignatureException", 400, false},
    [API_EX_INVALID_SIGNATURE] = {"InvalidSignatureException", 400, false},
    [API_EX_UNRECOGNIZED_CLIENT] = {"UnrecognizedClientException", 400, false},
};

/* Every Eddy error code and the exception a client sees for it. Codes not
 * listed (and -errno values) are internal failures. */
static const struct api_code_map {
    int code;
    enum api_exception ex;
} api_codes[] = {
    {EDDY_EMALFORMED, API_EX_INTERNAL_FAILURE}, /* a peer sent bytes we cannot read */
    {EDDY_ECORRUPT, API_EX_INTERNAL_FAILURE},
    {EDDY_ENOTLEADER, API_EX_SERVICE_UNAVAILABLE}, /* retried inside the backend first */
    {EDDY_ETHROTTLED, API_EX_THROUGHPUT_EXCEEDED},
    {EDDY_ETOOBIG, API_EX_INVALID_ARGUMENT},
    {EDDY_ENOTFOUND, API_EX_RESOURCE_NOT_FOUND},
    {EDDY_EEXISTS, API_EX_RESOURCE_IN_USE},
    {EDDY_EINUSE, API_EX_RESOURCE_IN_USE},
    {EDDY_EINVAL, API_EX_INVALID_ARGUMENT},
    {EDDY_EEXPIRED, API_EX_EXPIRED_ITERATOR},
    {EDDY_EUNAVAILABLE, API_EX_SERVICE_UNAVAILABLE},
    {EDDY_ESHUTDOWN, API_EX_SERVICE_UNAVAILABLE},
    {EDDY_EUNKNOWN, API_EX_INTERNAL_FAILURE}, /* the write may have happened */
    {EDDY_EFULL, API_EX_SERVICE_UNAVAILABLE},
    {EDDY_ELIMIT, API_EX_LIMIT_EXCEEDED},
    {EDDY_ETIMEDOUT, API_EX_INTERNAL_FAILURE}, /* outcome unknown, like EUNKNOWN */
    {EDDY_EHYDRATING, API_EX_SERVICE_UNAVAILABLE},
    {EDDY_ENOTHOSTED, API_EX_SERVICE_UNAVAILABLE}, /* retried on the other replicas first */
    {EDDY_ECLOSED, API_EX_SERVICE_UNAVAILABLE},    /* a put raced a reshard: rerouted first */
    {EDDY_ESUPERSEDED, API_EX_RESOURCE_IN_USE},    /* a subscription taken over (ADR 0008) */
};

static_assert(EDDY_ARRAY_LEN(api_codes) == EDDY_ERRNO_END_ - EDDY_ERRNO_BASE_ - 1,
              "every Eddy error code has an exception");

enum api_exception api_exception_for_code(int code)
{
    for (size_t i = 0; i < EDDY_ARRAY_LEN(api_codes); i++) {
        if (-code == api_codes[i].code) {
            return api_codes[i].ex;
        }
    }
    return API_EX_INTERNAL_FAILURE;
}

const char *api_exception_type(enum api_exception ex)
{
    EDDY_ASSERT(ex >= 0 && ex < API_EX_COUNT_);
    return api_exceptions[ex].type;
}

int api_exception_status(enum api_exception ex)
{
    EDDY_ASSERT(ex >= 0 && ex < API_EX_COUNT_);
    return api_exceptions[ex].status;
}

bool api_exception_capital_message(enum api_exception ex)
{
    EDDY_ASSERT(ex >= 0 && ex < API_EX_COUNT_);
    return api_exceptions[ex].capital_message;
}

/* api_error_set with a va_list. */
static void api_error_vset(struct api_error *e, enum api_exception ex, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void api_error_vset(struct api_error *e, enum api_exception ex, const char *fmt, va_list ap)
{
    EDDY_ASSERT(ex > API_EX_NONE && ex < API_EX_COUNT_);
    api_error_free(e);
    e->ex = ex;
    if (fmt == NULL) {
        return;
    }
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0) {
        size_t cap = (size_t)n + 1 < API_MESSAGE_BYTES_MAX ? (size_t)n + 1 : API_MESSAGE_BYTES_MAX;
        e->message = eddy_xmalloc(cap);
        vsnprintf(e->message, cap, fmt, ap2);
    }
    va_end(ap2);
}

void api_error_set(struct api_error *e, enum api_exception ex, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_error_vset(e, ex, fmt, ap);
    va_end(ap);
}

void api_error_free(struct api_error *e)
{
    eddy_free(e->message);
    e->message = NULL;
    e->ex = API_EX_NONE;
}

/* ---- identifiers ---- */

size_t api_shard_id(uint32_t index, char *out)
{
    int n = snprintf(out, API_SHARD_ID_TEXT_MAX, "shardId-%012u", index);
    EDDY_ASSERT(n > 0 && n < API_SHARD_ID_TEXT_MAX);
    return (size_t)n;
}

size_t api_stream_arn(const struct api_config *cfg, const char *name, char *out)
{
    int n = snprintf(out, API_STREAM_ARN_TEXT_MAX, "arn:aws:kinesis:%s:%s:stream/%s", cfg->region,
                     cfg->account, name);
    EDDY_ASSERT(n > 0 && (size_t)n < API_STREAM_ARN_TEXT_MAX);
    return (size_t)n;
}

/* Splits a validated StreamARN into its fields; false if it does not have
 * the arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME shape. */
static bool api_split_arn(const char *arn, size_t len, const char *field[6], size_t field_len[6])
{
    size_t start = 0;
    size_t k = 0;
    for (size_t i = 0; i <= len && k < 6; i++) {
        if (i == len || (arn[i] == ':' && k < 5)) {
            field[k] = arn + start;
            field_len[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    return k == 6;
}

static bool api_field_is(const char *f, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(f, want, n) == 0;
}

int api_resolve_stream(const struct api_config *cfg,
                       const struct json_str *name,
                       const struct json_str *arn,
                       char *out,
                       struct api_error *e)
{
    if (!name->present && !arn->present) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "Either StreamName or StreamARN should be provided.");
        return -EDDY_EINVAL;
    }
    if (!arn->present) {
        json_copy(out, API_NAME_TEXT_MAX, name->ptr, name->len);
        return 0;
    }
    const char *f[6] = {0};
    size_t fl[6] = {0};
    bool shaped = api_split_arn(arn->ptr, arn->len, f, fl) &&
                  api_field_is(f[2], fl[2], "kinesis") && fl[5] > 7 &&
                  memcmp(f[5], "stream/", 7) == 0;
    const char *res_name = shaped ? f[5] + 7 : arn->ptr;
    size_t res_len = shaped ? fl[5] - 7 : arn->len;
    bool ours = shaped && api_field_is(f[1], fl[1], "aws") &&
                api_field_is(f[3], fl[3], cfg->region) && api_field_is(f[4], fl[4], cfg->account) &&
                json_pattern_match(JSON_PATTERN_NAME, res_name, res_len) &&
                res_len <= KIN_STREAM_NAME_LEN_MAX;
    if (!ours) {
        /* Another region, account or resource: no such stream here. */
        const char *acct = shaped ? f[4] : cfg->account;
        int acct_len = shaped ? (int)fl[4] : (int)strlen(cfg->account);
        api_error_set(e, API_EX_RESOURCE_NOT_FOUND, "Stream %.*s under account %.*s not found.",
                      (int)(res_len < KIN_STREAM_ARN_LEN_MAX ? res_len : KIN_STREAM_ARN_LEN_MAX),
                      res_name, acct_len, acct);
        return -EDDY_ENOTFOUND;
    }
    if (name->present && (name->len != res_len || memcmp(name->ptr, res_name, res_len) != 0)) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "StreamARN %.*s and StreamName %.*s do not name the same stream.",
                      (int)arn->len, arn->ptr, (int)name->len, name->ptr);
        return -EDDY_EINVAL;
    }
    json_copy(out, API_NAME_TEXT_MAX, res_name, res_len);
    return 0;
}

bool api_parse_shard_id(const char *s, size_t len, uint32_t *index)
{
    /* AWS reads shardId.split('-')[1], or the whole id when that is empty. */
    const char *seg = s;
    size_t seg_len = len;
    const char *dash = memchr(s, '-', len);
    if (dash != NULL) {
        const char *from = dash + 1;
        const char *end = s + len;
        const char *next = memchr(from, '-', (size_t)(end - from));
        size_t n = (size_t)((next != NULL ? next : end) - from);
        if (n > 0) {
            seg = from;
            seg_len = n;
        }
    }
    if (seg_len == 0) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < seg_len; i++) {
        if (seg[i] < '0' || seg[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(seg[i] - '0');
        if (v > API_SHARD_ID_NUMBER_MAX) {
            return false;
        }
    }
    *index = (uint32_t)v;
    return true;
}

uint64_t api_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *api_stream_status_name(Eddy__StreamStatus s)
{
    switch (s) {
    case EDDY__STREAM_STATUS__STREAM_CREATING:
        return "CREATING";
    case EDDY__STREAM_STATUS__STREAM_ACTIVE:
        return "ACTIVE";
    case EDDY__STREAM_STATUS__STREAM_UPDATING:
        return "UPDATING";
    case EDDY__STREAM_STATUS__STREAM_DELETING:
        return "DELETING";
    default:
        return "ACTIVE";
    }
}

const char *api_stream_mode_name(Eddy__StreamMode m)
{
    return m == EDDY__STREAM_MODE__MODE_ON_DEMAND ? "ON_DEMAND" : "PROVISIONED";
}

const Eddy__StreamInfo *api_find_stream(const Eddy__Catalog *cat, const char *name)
{
    for (size_t i = 0; cat != NULL && i < cat->n_streams; i++) {
        const Eddy__StreamInfo *st = cat->streams[i];
        if (st != NULL && st->name != NULL && strcmp(st->name, name) == 0) {
            return st;
        }
    }
    return NULL;
}

bool api_shard_is_open(const Eddy__ShardInfo *sh)
{
    return sh->ending_sequence.len == 0;
}

size_t api_visible_shard_count(const Eddy__StreamInfo *st)
{
    return st->status == EDDY__STREAM_STATUS__STREAM_CREATING ? 0 : api_reshard_settled_count(st);
}

/* A 16-byte catalogue field as a number; 0 when malformed. */
static u128 api_u128_field(ProtobufCBinaryData d)
{
    return d.len == 16 ? u128_from_be(d.data) : 0;
}

const Eddy__ShardInfo *api_route(const Eddy__StreamInfo *st, u128 hash)
{
    for (size_t i = 0; i < st->n_shards; i++) {
        const Eddy__ShardInfo *sh = st->shards[i];
        if (sh == NULL || !api_shard_is_open(sh) || sh->hash_start.len != 16 ||
            sh->hash_end.len != 16) {
            continue;
        }
        if (api_u128_field(sh->hash_start) <= hash && hash <= api_u128_field(sh->hash_end)) {
            return sh;
        }
    }
    return NULL;
}

void api_write_shard(struct json_out *o, const Eddy__ShardInfo *sh)
{
    char id[API_SHARD_ID_TEXT_MAX];
    json_out_obj_begin(o);
    api_shard_id(sh->index, id);
    json_out_kv_cstr(o, "ShardId", id);
    if (sh->parent >= 0 && sh->parent <= (int64_t)UINT32_MAX) {
        api_shard_id((uint32_t)sh->parent, id);
        json_out_kv_cstr(o, "ParentShardId", id);
    }
    if (sh->adjacent_parent >= 0 && sh->adjacent_parent <= (int64_t)UINT32_MAX) {
        api_shard_id((uint32_t)sh->adjacent_parent, id);
        json_out_kv_cstr(o, "AdjacentParentShardId", id);
    }
    json_out_key(o, "HashKeyRange");
    json_out_obj_begin(o);
    json_out_key(o, "StartingHashKey");
    json_out_u128(o, api_u128_field(sh->hash_start));
    json_out_key(o, "EndingHashKey");
    json_out_u128(o, api_u128_field(sh->hash_end));
    json_out_obj_end(o);
    json_out_key(o, "SequenceNumberRange");
    json_out_obj_begin(o);
    json_out_key(o, "StartingSequenceNumber");
    json_out_u128(o, sh->starting_sequence.len == 16 ? api_u128_field(sh->starting_sequence)
                                                     : seqnum_shard_start(sh->index));
    if (!api_shard_is_open(sh)) {
        json_out_key(o, "EndingSequenceNumber");
        json_out_u128(o, api_u128_field(sh->ending_sequence));
    }
    json_out_obj_end(o);
    json_out_obj_end(o);
}

void api_write_stream_mode(struct json_out *o, Eddy__StreamMode m)
{
    json_out_key(o, "StreamModeDetails");
    json_out_obj_begin(o);
    json_out_kv_cstr(o, "StreamMode", api_stream_mode_name(m));
    json_out_obj_end(o);
}

void api_write_enhanced_monitoring(struct json_out *o, const Eddy__StreamInfo *st)
{
    json_out_key(o, "EnhancedMonitoring");
    json_out_arr_begin(o);
    json_out_obj_begin(o);
    api_write_metrics(o, "ShardLevelMetrics", api_stream_metrics(st));
    json_out_obj_end(o);
    json_out_arr_end(o);
}

/* ---- the action table ---- */

static const struct api_op_entry {
    const char *name;
    void (*run)(struct api_call *c);
} api_ops[API_OP_COUNT_] = {
    [API_OP_CREATE_STREAM] = {"CreateStream", api_create_stream_run},
    [API_OP_DELETE_STREAM] = {"DeleteStream", api_delete_stream_run},
    [API_OP_DESCRIBE_STREAM] = {"DescribeStream", api_describe_stream_run},
    [API_OP_DESCRIBE_STREAM_SUMMARY] = {"DescribeStreamSummary", api_describe_stream_summary_run},
    [API_OP_LIST_STREAMS] = {"ListStreams", api_list_streams_run},
    [API_OP_LIST_SHARDS] = {"ListShards", api_list_shards_run},
    [API_OP_PUT_RECORD] = {"PutRecord", api_put_record_run},
    [API_OP_PUT_RECORDS] = {"PutRecords", api_put_records_run},
    [API_OP_GET_SHARD_ITERATOR] = {"GetShardIterator", api_get_shard_iterator_run},
    [API_OP_GET_RECORDS] = {"GetRecords", api_get_records_run},
    [API_OP_UPDATE_STREAM_MODE] = {"UpdateStreamMode", api_update_stream_mode_run},
    [API_OP_ENABLE_ENHANCED_MONITORING] = {"EnableEnhancedMonitoring",
                                           api_enable_enhanced_monitoring_run},
    [API_OP_DISABLE_ENHANCED_MONITORING] = {"DisableEnhancedMonitoring",
                                            api_disable_enhanced_monitoring_run},
    [API_OP_START_STREAM_ENCRYPTION] = {"StartStreamEncryption", api_start_stream_encryption_run},
    [API_OP_STOP_STREAM_ENCRYPTION] = {"StopStreamEncryption", api_stop_stream_encryption_run},
    [API_OP_PUT_RESOURCE_POLICY] = {"PutResourcePolicy", api_put_resource_policy_run},
    [API_OP_GET_RESOURCE_POLICY] = {"GetResourcePolicy", api_get_resource_policy_run},
    [API_OP_DELETE_RESOURCE_POLICY] = {"DeleteResourcePolicy", api_delete_resource_policy_run},
    [API_OP_UPDATE_MAX_RECORD_SIZE] = {"UpdateMaxRecordSize", api_update_max_record_size_run},
    [API_OP_UPDATE_STREAM_WARM_THROUGHPUT] = {"UpdateStreamWarmThroughput",
                                              api_update_warm_throughput_run},
    [API_OP_SPLIT_SHARD] = {"SplitShard", api_split_shard_run},
    [API_OP_MERGE_SHARDS] = {"MergeShards", api_merge_shards_run},
    [API_OP_UPDATE_SHARD_COUNT] = {"UpdateShardCount", api_update_shard_count_run},
    [API_OP_ADD_TAGS_TO_STREAM] = {"AddTagsToStream", api_add_tags_to_stream_run},
    [API_OP_REMOVE_TAGS_FROM_STREAM] = {"RemoveTagsFromStream", api_remove_tags_from_stream_run},
    [API_OP_LIST_TAGS_FOR_STREAM] = {"ListTagsForStream", api_list_tags_for_stream_run},
    [API_OP_TAG_RESOURCE] = {"TagResource", api_tag_resource_run},
    [API_OP_UNTAG_RESOURCE] = {"UntagResource", api_untag_resource_run},
    [API_OP_LIST_TAGS_FOR_RESOURCE] = {"ListTagsForResource", api_list_tags_for_resource_run},
    [API_OP_INCREASE_STREAM_RETENTION_PERIOD] = {"IncreaseStreamRetentionPeriod",
                                                 api_increase_retention_run},
    [API_OP_DECREASE_STREAM_RETENTION_PERIOD] = {"DecreaseStreamRetentionPeriod",
                                                 api_decrease_retention_run},
    [API_OP_DESCRIBE_ACCOUNT_SETTINGS] = {"DescribeAccountSettings",
                                          api_describe_account_settings_run},
    [API_OP_UPDATE_ACCOUNT_SETTINGS] = {"UpdateAccountSettings", api_update_account_settings_run},
    [API_OP_DESCRIBE_LIMITS] = {"DescribeLimits", api_describe_limits_run},
    [API_OP_REGISTER_STREAM_CONSUMER] = {"RegisterStreamConsumer", api_register_consumer_run},
    [API_OP_DESCRIBE_STREAM_CONSUMER] = {"DescribeStreamConsumer", api_describe_consumer_run},
    [API_OP_LIST_STREAM_CONSUMERS] = {"ListStreamConsumers", api_list_consumers_run},
    [API_OP_DEREGISTER_STREAM_CONSUMER] = {"DeregisterStreamConsumer", api_deregister_consumer_run},
    [API_OP_SUBSCRIBE_TO_SHARD] = {"SubscribeToShard", api_subscribe_to_shard_run},
};

int api_op_lookup(const char *name, size_t len)
{
    for (int i = 0; i < API_OP_COUNT_; i++) {
        if (strlen(api_ops[i].name) == len && memcmp(api_ops[i].name, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

const char *api_op_name(enum api_op op)
{
    EDDY_ASSERT(op >= 0 && op < API_OP_COUNT_);
    return api_ops[op].name;
}

/* Decodes a parsed document for op. */
static int api_decode_doc(enum api_op op,
                          const struct api_config *cfg,
                          const cJSON *root,
                          union api_req *req,
                          struct api_error *e)
{
    memset(req, 0, sizeof(*req));
    switch (op) {
    case API_OP_CREATE_STREAM:
        return api_create_stream_decode(root, cfg, &req->create_stream, e);
    case API_OP_DELETE_STREAM:
        return api_delete_stream_decode(root, cfg, &req->delete_stream, e);
    case API_OP_DESCRIBE_STREAM:
        return api_describe_stream_decode(root, cfg, &req->describe_stream, e);
    case API_OP_DESCRIBE_STREAM_SUMMARY:
        return api_describe_stream_summary_decode(root, cfg, &req->describe_stream_summary, e);
    case API_OP_LIST_STREAMS:
        return api_list_streams_decode(root, cfg, &req->list_streams, e);
    case API_OP_LIST_SHARDS:
        return api_list_shards_decode(root, cfg, &req->list_shards, e);
    case API_OP_PUT_RECORD:
        return api_put_record_decode(root, cfg, &req->put_record, e);
    case API_OP_PUT_RECORDS:
        return api_put_records_decode(root, cfg, &req->put_records, e);
    case API_OP_GET_SHARD_ITERATOR:
        return api_get_shard_iterator_decode(root, cfg, &req->get_shard_iterator, e);
    case API_OP_GET_RECORDS:
        return api_get_records_decode(root, cfg, &req->get_records, e);
    case API_OP_UPDATE_STREAM_MODE:
        return api_update_stream_mode_decode(root, cfg, &req->update_stream_mode, e);
    case API_OP_ENABLE_ENHANCED_MONITORING:
    case API_OP_DISABLE_ENHANCED_MONITORING:
        return api_monitoring_decode(root, cfg, &req->monitoring, e);
    case API_OP_START_STREAM_ENCRYPTION:
    case API_OP_STOP_STREAM_ENCRYPTION:
        return api_encryption_decode(root, cfg, &req->encryption, e);
    case API_OP_PUT_RESOURCE_POLICY:
        return api_put_resource_policy_decode(root, cfg, &req->policy, e);
    case API_OP_GET_RESOURCE_POLICY:
    case API_OP_DELETE_RESOURCE_POLICY:
        return api_resource_policy_decode(root, cfg, &req->policy, e);
    case API_OP_UPDATE_MAX_RECORD_SIZE:
        return api_update_max_record_size_decode(root, cfg, &req->update_max_record_size, e);
    case API_OP_UPDATE_STREAM_WARM_THROUGHPUT:
        return api_update_warm_throughput_decode(root, cfg, &req->update_warm_throughput, e);
    case API_OP_SPLIT_SHARD:
        return api_split_shard_decode(root, cfg, &req->split_shard, e);
    case API_OP_MERGE_SHARDS:
        return api_merge_shards_decode(root, cfg, &req->merge_shards, e);
    case API_OP_UPDATE_SHARD_COUNT:
        return api_update_shard_count_decode(root, cfg, &req->update_shard_count, e);
    case API_OP_ADD_TAGS_TO_STREAM:
        return api_add_tags_to_stream_decode(root, cfg, &req->stream_tags, e);
    case API_OP_REMOVE_TAGS_FROM_STREAM:
        return api_remove_tags_from_stream_decode(root, cfg, &req->stream_tags, e);
    case API_OP_LIST_TAGS_FOR_STREAM:
        return api_list_tags_for_stream_decode(root, cfg, &req->list_tags_for_stream, e);
    case API_OP_TAG_RESOURCE:
        return api_tag_resource_decode(root, cfg, &req->resource_tags, e);
    case API_OP_UNTAG_RESOURCE:
        return api_untag_resource_decode(root, cfg, &req->resource_tags, e);
    case API_OP_LIST_TAGS_FOR_RESOURCE:
        return api_list_tags_for_resource_decode(root, cfg, &req->resource_tags, e);
    case API_OP_INCREASE_STREAM_RETENTION_PERIOD:
    case API_OP_DECREASE_STREAM_RETENTION_PERIOD:
        return api_retention_decode(root, cfg, &req->retention, e);
    case API_OP_DESCRIBE_ACCOUNT_SETTINGS:
    case API_OP_DESCRIBE_LIMITS:
        return api_no_input_decode(root, cfg, e);
    case API_OP_UPDATE_ACCOUNT_SETTINGS:
        return api_update_account_settings_decode(root, cfg, &req->update_account_settings, e);
    case API_OP_REGISTER_STREAM_CONSUMER:
        return api_register_consumer_decode(root, cfg, &req->register_consumer, e);
    case API_OP_DESCRIBE_STREAM_CONSUMER:
    case API_OP_DEREGISTER_STREAM_CONSUMER:
        return api_consumer_ref_decode(root, cfg, &req->consumer_ref, e);
    case API_OP_LIST_STREAM_CONSUMERS:
        return api_list_consumers_decode(root, cfg, &req->list_consumers, e);
    case API_OP_SUBSCRIBE_TO_SHARD:
        return api_subscribe_to_shard_decode(root, cfg, &req->subscribe_to_shard, e);
    default:
        break;
    }
    EDDY_ASSERT(0);
    return -EDDY_EINVAL;
}

/* Parses a body of either format into the document the decoders read. */
static int api_parse_body(
    enum api_format format, const uint8_t *body, size_t len, cJSON **doc, struct api_error *e)
{
    if (format == API_FORMAT_CBOR) {
        return cbor_parse_request(body, len, doc, e);
    }
    return json_parse_request(body, len, doc, e);
}

int api_decode_body(enum api_op op,
                    enum api_format format,
                    const struct api_config *cfg,
                    const uint8_t *body,
                    size_t len,
                    cJSON **doc,
                    union api_req *req,
                    struct api_error *e)
{
    memset(req, 0, sizeof(*req));
    int rv = api_parse_body(format, body, len, doc, e);
    if (rv != 0) {
        return rv;
    }
    return api_decode_doc(op, cfg, *doc, req, e);
}

int api_decode_request(enum api_op op,
                       const struct api_config *cfg,
                       const uint8_t *body,
                       size_t len,
                       cJSON **doc,
                       union api_req *req,
                       struct api_error *e)
{
    return api_decode_body(op, API_FORMAT_JSON, cfg, body, len, doc, req, e);
}

void api_request_free(enum api_op op, union api_req *req)
{
    switch (op) {
    case API_OP_PUT_RECORD:
        api_put_record_free(&req->put_record);
        break;
    case API_OP_PUT_RECORDS:
        api_put_records_free(&req->put_records);
        break;
    default:
        break;
    }
}

/* ---- responses ---- */

static void api_random(void *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1) {
        /* The ids only need to be unique enough to trace a request. */
        uint8_t *p = out;
        uint64_t x = api_now_ms() ^ (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            p[i] = (uint8_t)(x >> 56);
        }
    }
}

static void api_make_request_id(char out[37])
{
    uint8_t b[16];
    api_random(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* The action's name for logs ("-" before the target is known). */
static const char *api_call_op_name(const struct api_call *c)
{
    return c->op_known ? api_op_name(c->op) : "-";
}

static void api_call_free(struct api_call *c)
{
    struct api_ctx *ctx = c->ctx;
    EDDY_ASSERT(c->op_state == NULL);
    if (c->doc != NULL) {
        api_request_free(c->op, &c->req);
        cJSON_Delete(c->doc);
    }
    eddy_free(c);
    EDDY_ASSERT(ctx->inflight > 0);
    ctx->inflight--;
    if (ctx->inflight == 0 && ctx->draining && ctx->drained_cb != NULL) {
        ctx->drained_cb(ctx);
    }
}

/* The headers of every answer into h (API_HEADERS_MAX entries); id2 holds
 * API_ID2_TEXT_CAP bytes and must outlive h. Returns how many. */
static size_t api_headers(const struct api_call *c,
                          const char *content_type,
                          const char *error_type,
                          struct http_header *h,
                          char *id2)
{
    size_t n = 0;
    uint8_t rnd[API_ID2_RANDOM_BYTES];
    api_random(rnd, sizeof(rnd));
    id2[base64_encode(rnd, sizeof(rnd), id2)] = '\0';
    h[n++] = (struct http_header){"x-amzn-RequestId", c->request_id};
    h[n++] = (struct http_header){"x-amz-id-2", id2};
    if (content_type != NULL) {
        h[n++] = (struct http_header){"Content-Type", content_type};
    }
    if (error_type != NULL) {
        h[n++] = (struct http_header){"x-amzn-ErrorType", error_type};
    }
    if (c->cors) {
        h[n++] = (struct http_header){"Access-Control-Allow-Origin", "*"};
        h[n++] = (struct http_header){"Access-Control-Expose-Headers",
                                      "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,"
                                      "x-amz-id-2,x-amzn-ErrorMessage,Date"};
    }
    EDDY_ASSERT(n <= API_HEADERS_MAX);
    return n;
}

/* Sends the response and frees the call. content_type NULL: none (XML
 * errors); error_type NULL: not an error. */
static void api_send(struct api_call *c,
                     int status,
                     const char *content_type,
                     const char *error_type,
                     const uint8_t *body,
                     size_t len)
{
    struct http_header h[API_HEADERS_MAX];
    char id2[API_ID2_TEXT_CAP];
    size_t n = api_headers(c, content_type, error_type, h, id2);
    http_request_respond(c->http, status, h, n, body, len);
    c->http = NULL;
    api_call_free(c);
}

void api_stream_begin(struct api_call *c, const char *content_type)
{
    EDDY_ASSERT(c->http != NULL);
    struct http_header h[API_HEADERS_MAX];
    char id2[API_ID2_TEXT_CAP];
    size_t n = api_headers(c, content_type, NULL, h, id2);
    http_request_stream_begin(c->http, 200, h, n);
}

void api_stream_end(struct api_call *c)
{
    EDDY_ASSERT(c->http != NULL);
    http_request_stream_end(c->http);
    c->http = NULL;
}

void api_stream_release(struct api_call *c)
{
    EDDY_ASSERT(c->http == NULL);
    api_call_free(c);
}

static const char *api_content_type(const struct api_call *c)
{
    return c->format == API_FORMAT_CBOR ? API_CT_CBOR11 : API_CT_JSON11;
}

void api_respond(struct api_call *c, const uint8_t *body, size_t len)
{
    api_send(c, 200, api_content_type(c), NULL, body, len);
}

void api_respond_empty(struct api_call *c)
{
    api_send(c, 200, api_content_type(c), NULL, (const uint8_t *)"", 0);
}

void api_out_init(const struct api_call *c, struct json_out *out, size_t len_max)
{
    json_out_init_format(out, c->format == API_FORMAT_CBOR ? JSON_OUT_CBOR : JSON_OUT_JSON,
                         len_max);
}

void api_respond_out(struct api_call *c, struct json_out *out)
{
    EDDY_ASSERT(c->format == API_FORMAT_CBOR || out->format == JSON_OUT_JSON);
    if (c->format == API_FORMAT_CBOR && out->format == JSON_OUT_JSON) {
        /* Written by an action that did not ask for the call's format. */
        struct json_out cbor;
        json_out_to_cbor(out, &cbor);
        json_out_free(out);
        *out = cbor;
    }
    if (out->err != 0) {
        LOG_ERROR("response too big op=%s err=%s", api_call_op_name(c), eddy_strerror(out->err));
        json_out_free(out);
        api_fail(c, API_EX_INTERNAL_FAILURE, NULL);
        return;
    }
    api_respond(c, out->b.data, out->b.len);
    json_out_free(out);
}

void api_respond_error(struct api_call *c, struct api_error *e)
{
    enum api_exception ex = e->ex != API_EX_NONE ? e->ex : API_EX_INTERNAL_FAILURE;
    const char *type = api_exception_type(ex);
    int status = api_exception_status(ex);
    const char *key = api_exception_capital_message(ex) ? "Message" : "message";
    if (status >= 500) {
        LOG_WARN("request failed op=%s type=%s id=%s", api_call_op_name(c), type, c->request_id);
    }
    struct json_out o;
    api_out_init(c, &o, API_MESSAGE_BYTES_MAX + 256);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "__type", type);
    if (e->message != NULL) {
        json_out_kv_cstr(&o, key, e->message);
    }
    json_out_obj_end(&o);
    api_error_free(e);
    api_send(c, status, api_content_type(c), type, o.b.data, o.b.len);
    json_out_free(&o);
}

void api_fail(struct api_call *c, enum api_exception ex, const char *fmt, ...)
{
    struct api_error e = {0};
    va_list ap;
    va_start(ap, fmt);
    api_error_vset(&e, ex, fmt, ap);
    va_end(ap);
    api_respond_error(c, &e);
}

void api_fail_code(struct api_call *c, int code, const char *message)
{
    enum api_exception ex = api_exception_for_code(code);
    if (ex == API_EX_INTERNAL_FAILURE || ex == API_EX_SERVICE_UNAVAILABLE) {
        LOG_WARN("backend error op=%s err=%s id=%s", api_call_op_name(c), eddy_strerror(code),
                 c->request_id);
        message = NULL; /* AWS sends these bare */
    }
    if (message != NULL) {
        api_fail(c, ex, "%s", message);
    } else {
        api_fail(c, ex, NULL);
    }
}

/* ---- catalogue lookups ---- */

static void api_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_call *c = arg;
    if (status != 0) {
        c->lookup.cb(c, status, NULL, NULL);
        return;
    }
    const Eddy__StreamInfo *st = api_find_stream(cat, c->lookup.name);
    if (!c->lookup.fresh &&
        (st == NULL || st->status != EDDY__STREAM_STATUS__STREAM_ACTIVE ||
         (c->lookup.has_shard && api_readable_shard(st, c->lookup.shard) == NULL))) {
        c->lookup.fresh = true;
        backend_catalog(c->ctx->backend, true, api_on_catalog, c);
        return;
    }
    c->lookup.cb(c, 0, cat, st);
}

static void api_lookup_begin(
    struct api_call *c, const char *name, bool fresh, const uint64_t *shard, api_stream_cb cb)
{
    c->lookup.name = name;
    c->lookup.fresh = fresh;
    c->lookup.has_shard = shard != NULL;
    c->lookup.shard = shard != NULL ? *shard : 0;
    c->lookup.cb = cb;
    backend_catalog(c->ctx->backend, fresh, api_on_catalog, c); /* may answer at once */
}

void api_lookup_stream(struct api_call *c, const char *name, bool fresh, api_stream_cb cb)
{
    api_lookup_begin(c, name, fresh, NULL, cb);
}

void api_lookup_shard(struct api_call *c, const char *name, uint64_t shard, api_stream_cb cb)
{
    api_lookup_begin(c, name, false, &shard, cb);
}

const Eddy__ShardInfo *api_readable_shard(const Eddy__StreamInfo *st, uint64_t index)
{
    if (st == NULL || (st->status != EDDY__STREAM_STATUS__STREAM_ACTIVE &&
                       st->status != EDDY__STREAM_STATUS__STREAM_UPDATING)) {
        return NULL;
    }
    for (size_t i = 0; i < st->n_shards; i++) {
        if (st->shards[i] != NULL && st->shards[i]->index == index) {
            return st->shards[i];
        }
    }
    return NULL;
}

static void api_on_stream_or_fail(struct api_call *c,
                                  int status,
                                  const Eddy__Catalog *cat,
                                  const Eddy__StreamInfo *st)
{
    (void)cat;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    c->lookup.found(c, st);
}

void api_lookup_stream_or_fail(struct api_call *c,
                               const char *name,
                               bool fresh,
                               api_stream_found_cb cb)
{
    c->lookup.found = cb;
    api_lookup_stream(c, name, fresh, api_on_stream_or_fail);
}

/* ---- dispatch ---- */

enum api_content {
    API_CONTENT_OTHER,
    API_CONTENT_JSON11,
    API_CONTENT_CBOR11,
    API_CONTENT_JSON,
};

static enum api_content api_classify_content(const char *ct)
{
    if (ct == NULL) {
        return API_CONTENT_OTHER;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) {
        n--;
    }
    static const struct {
        const char *text;
        enum api_content kind;
    } known[] = {
        {API_CT_JSON11, API_CONTENT_JSON11},
        {API_CT_CBOR11, API_CONTENT_CBOR11},
        {API_CT_JSON, API_CONTENT_JSON},
    };
    for (size_t i = 0; i < EDDY_ARRAY_LEN(known); i++) {
        if (strlen(known[i].text) == n && strncasecmp(ct, known[i].text, n) == 0) {
            return known[i].kind;
        }
    }
    return API_CONTENT_OTHER;
}

struct api_target {
    bool service_ok; /* "Kinesis_20131202" */
    bool both_parts; /* "<service>.<operation>", both non-empty */
    int op;          /* -1: unknown */
};

static struct api_target api_parse_target(const char *t)
{
    struct api_target r = {false, false, -1};
    if (t == NULL) {
        return r;
    }
    const char *dot = strchr(t, '.');
    size_t svc_len = dot != NULL ? (size_t)(dot - t) : strlen(t);
    r.service_ok =
        svc_len == strlen(API_TARGET_PREFIX) && memcmp(t, API_TARGET_PREFIX, svc_len) == 0;
    if (dot == NULL) {
        return r;
    }
    const char *name = dot + 1;
    size_t name_len = strcspn(name, ".");
    r.both_parts = svc_len > 0 && name_len > 0;
    if (r.service_ok) {
        r.op = api_op_lookup(name, name_len);
    }
    return r;
}

static void api_send_xml(struct api_call *c, int status, const char *body)
{
    api_send(c, status, NULL, NULL, (const uint8_t *)body, strlen(body));
}

static void api_send_access_denied(struct api_call *c, bool has_auth)
{
    if (!has_auth) {
        api_send_xml(c, 403,
                     "<MissingAuthenticationTokenException>\n"
                     "  <Message>Missing Authentication Token</Message>\n"
                     "</MissingAuthenticationTokenException>\n");
        return;
    }
    api_send_xml(
        c, 403,
        "<AccessDeniedException>\n"
        "  <Message>Unable to determine service/operation name to be authorized</Message>\n"
        "</AccessDeniedException>\n");
}

static void api_send_preflight(struct api_call *c)
{
    struct http_header h[8];
    size_t n = 0;
    const char *req_headers = http_request_header(c->http, "Access-Control-Request-Headers");
    const char *req_method = http_request_header(c->http, "Access-Control-Request-Method");
    h[n++] = (struct http_header){"x-amzn-RequestId", c->request_id};
    h[n++] = (struct http_header){"Access-Control-Allow-Origin", "*"};
    if (req_headers != NULL) {
        h[n++] = (struct http_header){"Access-Control-Allow-Headers", req_headers};
    }
    if (req_method != NULL) {
        h[n++] = (struct http_header){"Access-Control-Allow-Methods", req_method};
    }
    h[n++] = (struct http_header){"Access-Control-Max-Age", "172800"};
    http_request_respond(c->http, 200, h, n, (const uint8_t *)"", 0);
    c->http = NULL;
    api_call_free(c);
}

/* application/json: Coral's deprecated envelope, HTTP 200. */
static void api_send_deprecated_json(struct api_call *c, const uint8_t *body, size_t len)
{
    cJSON *doc = NULL;
    struct api_error e = {0};
    bool parsed = len > 0 && json_parse_request(body, len, &doc, &e) == 0;
    api_error_free(&e);
    cJSON_Delete(doc);
    const char *text =
        parsed ? "{\"Output\":{\"__type\":\"com.amazon.coral.service#UnknownOperationException\","
                 "\"message\":null},\"Version\":\"1.0\"}"
               : "{\"Output\":{\"__type\":\"com.amazon.coral.service#SerializationException\","
                 "\"Message\":null},\"Version\":\"1.0\"}";
    api_send(c, 200, API_CT_JSON, NULL, (const uint8_t *)text, strlen(text));
}

static bool api_has_auth(struct http_request *http)
{
    return sigv4_has_auth(http_request_target(http), http_request_header(http, "Authorization"));
}

/* The request's credentials (sigv4.h), checked after the target as AWS
 * does; the call then speaks for the region and account they name. */
static int api_authenticate(struct api_call *c, struct api_error *e)
{
    struct sigv4_identity id;
    int rv = sigv4_check_http(&c->ctx->auth, c->http, api_now_ms(), &id, e);
    if (rv != 0) {
        return rv;
    }
    if (id.region[0] != '\0') {
        memcpy(c->region, id.region, sizeof(c->region));
        c->cfg.region = c->region;
    }
    if (id.account[0] != '\0') {
        memcpy(c->account, id.account, sizeof(c->account));
        c->cfg.account = c->account;
    }
    return 0;
}

/* x-amz-json-1.1 or x-amz-cbor-1.1 (c->format): parse, check the target,
 * decode, run. */
static void api_dispatch_json(struct api_call *c, struct api_target t)
{
    size_t len = 0;
    const uint8_t *body = http_request_body(c->http, &len);
    if (len == 0) {
        api_fail(c, t.op >= 0 ? API_EX_SERIALIZATION : API_EX_UNKNOWN_OPERATION, NULL);
        return;
    }
    struct api_error e = {0};
    cJSON *doc = NULL;
    if (api_parse_body(c->format, body, len, &doc, &e) != 0) {
        api_respond_error(c, &e);
        return;
    }
    if (t.op < 0) {
        cJSON_Delete(doc);
        api_fail(c, API_EX_UNKNOWN_OPERATION, NULL);
        return;
    }
    if (api_authenticate(c, &e) != 0) {
        cJSON_Delete(doc);
        api_respond_error(c, &e);
        return;
    }
    c->op = (enum api_op)t.op;
    c->op_known = true;
    c->doc = doc; /* freed with the call, with whatever req points into it */
    if (api_decode_doc(c->op, &c->cfg, doc, &c->req, &e) != 0) {
        api_respond_error(c, &e);
        return;
    }
    if (ratelimit_admit(c->ctx->ratelimit, api_op_name(c->op), doc, &c->cfg, uv_now(c->ctx->loop),
                        &e) != 0) {
        api_respond_error(c, &e); /* over the operation's call rate */
        return;
    }
    api_ops[c->op].run(c);
}

void api_handle(struct api_ctx *ctx, struct http_request *http)
{
    struct api_call *c = eddy_xcalloc(1, sizeof(*c));
    c->ctx = ctx;
    c->http = http;
    c->format = API_FORMAT_JSON;
    c->cfg = ctx->cfg;
    c->cors = http_request_header(http, "Origin") != NULL;
    api_make_request_id(c->request_id);
    ctx->inflight++;

    const char *method = http_request_method(http);
    if (c->cors && strcmp(method, "OPTIONS") == 0) {
        api_send_preflight(c);
        return;
    }
    if (ctx->inflight > API_CALLS_INFLIGHT_MAX) {
        api_fail(c, API_EX_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    bool has_auth = api_has_auth(http);
    if (strcmp(method, "POST") != 0) {
        api_send_access_denied(c, has_auth);
        return;
    }
    struct api_target t = api_parse_target(http_request_header(http, "X-Amz-Target"));
    size_t len = 0;
    const uint8_t *body = http_request_body(http, &len);
    switch (api_classify_content(http_request_header(http, "Content-Type"))) {
    case API_CONTENT_JSON11:
        api_dispatch_json(c, t);
        return;
    case API_CONTENT_CBOR11:
        /* The same protocol with a CBOR body; answered in CBOR, errors too. */
        c->format = API_FORMAT_CBOR;
        api_dispatch_json(c, t);
        return;
    case API_CONTENT_JSON:
        api_send_deprecated_json(c, body, len);
        return;
    case API_CONTENT_OTHER:
        if (!has_auth) {
            api_send_access_denied(c, false);
        } else if (!t.both_parts) {
            api_send_access_denied(c, true);
        } else {
            api_send_xml(c, 404, "<UnknownOperationException/>\n");
        }
        return;
    }
    EDDY_ASSERT(0);
}
