/*
 * The Kinesis API layer of the gateway: request dispatch, the error model and
 * the per-action handlers (one api_<action>.c each).
 *
 * A request goes through two stages. Decode and validate is a pure function
 * per action (api_<action>_decode): body bytes in, a typed request or an AWS
 * error out, no I/O, so tests and the fuzzer call it directly. Run
 * (api_<action>_run) then turns the request into backend calls and answers
 * exactly once through api_respond_* or api_fail*, which also free the call.
 *
 * Errors are AWS exceptions (enum api_exception): the __type, the HTTP status
 * and where the message goes live in one table in api.c, and every Eddy error
 * code maps to one of them in one table there too (api_exception_for_code).
 */
#ifndef EDDY_GW_API_H
#define EDDY_GW_API_H

#include "api_limits.h"
#include "json.h"
#include "sigv4.h"

#include "catalog.pb-c.h"
#include "rpc.pb-c.h"
#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct backend;
struct http_request;
struct subscription_registry;
struct limits_profile;
struct ratelimit;

/* ---- errors ---- */

enum api_exception {
    API_EX_NONE = 0,
    API_EX_VALIDATION,
    API_EX_SERIALIZATION,
    API_EX_UNKNOWN_OPERATION,
    API_EX_INVALID_ARGUMENT,
    API_EX_RESOURCE_NOT_FOUND,
    API_EX_RESOURCE_IN_USE,
    API_EX_LIMIT_EXCEEDED,
    API_EX_EXPIRED_ITERATOR,
    API_EX_EXPIRED_NEXT_TOKEN,
    API_EX_THROUGHPUT_EXCEEDED,
    API_EX_ACCESS_DENIED,
    API_EX_INTERNAL_FAILURE,
    API_EX_SERVICE_UNAVAILABLE,
    /* Authentication (sigv4.h). */
    API_EX_MISSING_AUTH_TOKEN,
    API_EX_INCOMPLETE_SIGNATURE,
    API_EX_INVALID_SIGNATURE,
    API_EX_UNRECOGNIZED_CLIENT,
    API_EX_COUNT_
};

/* An AWS error ready to send. message is heap-owned (NULL: no message). */
struct api_error {
    enum api_exception ex;
    char *message;
};

/* Sets *e (replacing what it held). fmt NULL: no message. The message is cut
 * at API_MESSAGE_BYTES_MAX. */
void api_error_set(struct api_error *e, enum api_exception ex, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_error_free(struct api_error *e);
/* The exception for an Eddy error code (or -errno): the one mapping table. */
enum api_exception api_exception_for_code(int code);
/* __type, HTTP status, and whether the body says "Message" (Serialization-
 * Exception does) rather than "message". */
const char *api_exception_type(enum api_exception ex);
int api_exception_status(enum api_exception ex);
bool api_exception_capital_message(enum api_exception ex);

/* ---- configuration and identifiers ---- */

struct api_config {
    const char *region;         /* borrowed, e.g. "us-east-1" */
    const char *account;        /* borrowed, 12 digits */
    uint64_t retention_hour_ms; /* one hour of stream retention; 0: 3600000 (api_retention.c) */
    /* SubscribeToShard (subscription.h): how long a subscription streams (0:
     * 5 minutes) and each consumer's bytes per second per shard (0: no limit). */
    uint64_t subscription_ms;
    uint64_t subscription_bytes_per_s;
};

/* "shardId-%012u"; out holds API_SHARD_ID_TEXT_MAX. Returns the length. */
size_t api_shard_id(uint32_t index, char *out);
/* arn:aws:kinesis:REGION:ACCOUNT:stream/NAME; out holds API_STREAM_ARN_TEXT_MAX. */
size_t api_stream_arn(const struct api_config *cfg, const char *name, char *out);
/* Resolves StreamName / StreamARN (either, or both naming the same stream)
 * into name (KIN_STREAM_NAME_LEN_MAX + 1). Call after validation passed.
 * Returns 0, or -EDDY_EINVAL with e set (neither given, or they disagree),
 * or -EDDY_ENOTFOUND with e set (ARN of another region or account). */
int api_resolve_stream(const struct api_config *cfg,
                       const struct json_str *name,
                       const struct json_str *arn,
                       char *out,
                       struct api_error *e);

/* The members every stream action's input has (api_stream_input.c). A
 * decoder reads StreamName into name first, then its own members, then
 * calls api_stream_input_get; v then collects its validation errors, and
 * api_stream_input_finish adds the name's and the ARN's and ends it. */
struct api_stream_input {
    struct json_str name;
    struct json_str arn;
    struct json_str id;
    struct validation v;
};
/* Reads StreamARN and StreamId when rv (the members read so far) is 0, and
 * starts v when all were read. Returns rv, or a negative code with e set. */
int api_stream_input_get(const cJSON *root,
                         int rv,
                         struct api_stream_input *in,
                         struct api_error *e);
/* Validates StreamName and StreamARN after the action's members and ends v
 * (validation_finish). */
int api_stream_input_finish(struct api_stream_input *in, struct api_error *e);
/* api_resolve_stream of in's StreamName and StreamARN. */
int api_stream_input_resolve(const struct api_config *cfg,
                             const struct api_stream_input *in,
                             char *out,
                             struct api_error *e);
/* A ShardId as AWS reads it: the digits after the first '-' (or the whole
 * id), at most API_SHARD_ID_NUMBER_MAX. False when it names no shard. */
bool api_parse_shard_id(const char *s, size_t len, uint32_t *index);
/* Wall-clock milliseconds since the epoch. */
uint64_t api_now_ms(void);
/* "CREATING", "ACTIVE", ... */
const char *api_stream_status_name(Eddy__StreamStatus s);
const char *api_stream_mode_name(Eddy__StreamMode m);
/* The stream named name in cat, or NULL. */
const Eddy__StreamInfo *api_find_stream(const Eddy__Catalog *cat, const char *name);
bool api_shard_is_open(const Eddy__ShardInfo *sh);
/* Retention (api_retention.c): records of st that arrived before the result
 * are past retention at now_ms (0: none is). */
uint64_t
api_retention_horizon_ms(const struct api_config *cfg, const Eddy__StreamInfo *st, uint64_t now_ms);
/* A closed shard whose records are all past retention: AWS lists it no
 * more. */
bool api_shard_is_expired(const struct api_config *cfg,
                          const Eddy__StreamInfo *st,
                          const Eddy__ShardInfo *sh,
                          uint64_t now_ms);
/* Number of shard records in the stream the API shows: none while CREATING
 * (AWS lists no shards until the stream is ACTIVE). */
size_t api_visible_shard_count(const Eddy__StreamInfo *st);

/* ---- requests ---- */

enum api_op {
    API_OP_CREATE_STREAM,
    API_OP_DELETE_STREAM,
    API_OP_DESCRIBE_STREAM,
    API_OP_DESCRIBE_STREAM_SUMMARY,
    API_OP_LIST_STREAMS,
    API_OP_LIST_SHARDS,
    API_OP_PUT_RECORD,
    API_OP_PUT_RECORDS,
    API_OP_GET_SHARD_ITERATOR,
    API_OP_GET_RECORDS,
    /* Stream settings (api_settings.h). */
    API_OP_UPDATE_STREAM_MODE,
    API_OP_ENABLE_ENHANCED_MONITORING,
    API_OP_DISABLE_ENHANCED_MONITORING,
    API_OP_START_STREAM_ENCRYPTION,
    API_OP_STOP_STREAM_ENCRYPTION,
    API_OP_PUT_RESOURCE_POLICY,
    API_OP_GET_RESOURCE_POLICY,
    API_OP_DELETE_RESOURCE_POLICY,
    API_OP_UPDATE_MAX_RECORD_SIZE,
    API_OP_UPDATE_STREAM_WARM_THROUGHPUT,
    /* Resharding (api_reshard.h). */
    API_OP_SPLIT_SHARD,
    API_OP_MERGE_SHARDS,
    API_OP_UPDATE_SHARD_COUNT,
    /* Tags, retention, account settings, limits (api_meta.h). */
    API_OP_ADD_TAGS_TO_STREAM,
    API_OP_REMOVE_TAGS_FROM_STREAM,
    API_OP_LIST_TAGS_FOR_STREAM,
    API_OP_TAG_RESOURCE,
    API_OP_UNTAG_RESOURCE,
    API_OP_LIST_TAGS_FOR_RESOURCE,
    API_OP_INCREASE_STREAM_RETENTION_PERIOD,
    API_OP_DECREASE_STREAM_RETENTION_PERIOD,
    API_OP_DESCRIBE_ACCOUNT_SETTINGS,
    API_OP_UPDATE_ACCOUNT_SETTINGS,
    API_OP_DESCRIBE_LIMITS,
    /* Enhanced fan-out consumers (api_consumer.h). */
    API_OP_REGISTER_STREAM_CONSUMER,
    API_OP_DESCRIBE_STREAM_CONSUMER,
    API_OP_LIST_STREAM_CONSUMERS,
    API_OP_DEREGISTER_STREAM_CONSUMER,
    API_OP_SUBSCRIBE_TO_SHARD, /* api_subscribe.h */
    API_OP_COUNT_
};

#define API_NAME_TEXT_MAX (KIN_STREAM_NAME_LEN_MAX + 1)

struct api_create_stream_req {
    char name[API_NAME_TEXT_MAX];
    uint32_t shard_count;
    Eddy__StreamMode mode;
    uint32_t max_record_size_kib; /* 0: not given (1024) */
    bool has_warm;                /* WarmThroughputMiBps given */
    uint32_t warm_mibps;
    const cJSON *tags; /* Tags, borrowed from the document; NULL: none */
};

struct api_delete_stream_req {
    char name[API_NAME_TEXT_MAX];
    bool enforce_consumer_deletion;
};

struct api_describe_stream_req {
    char name[API_NAME_TEXT_MAX];
    uint32_t limit;
    bool has_start;
    char start_shard_id[KIN_SHARD_ID_LEN_MAX + 1];
};

struct api_describe_stream_summary_req {
    char name[API_NAME_TEXT_MAX];
};

struct api_list_streams_req {
    uint32_t limit;
    bool has_start;
    char start_name[API_NAME_TEXT_MAX];
    bool has_next_token;
    bool next_token_too_long; /* longer than any token Eddy issues */
    char next_token[API_NEXT_TOKEN_TEXT_MAX + 1];
};

enum api_shard_filter {
    API_SHARD_FILTER_NONE = 0,
    API_SHARD_FILTER_AFTER_SHARD_ID,
    API_SHARD_FILTER_AT_TRIM_HORIZON,
    API_SHARD_FILTER_FROM_TRIM_HORIZON,
    API_SHARD_FILTER_AT_LATEST,
    API_SHARD_FILTER_AT_TIMESTAMP,
    API_SHARD_FILTER_FROM_TIMESTAMP,
};

struct api_list_shards_req {
    char name[API_NAME_TEXT_MAX]; /* empty with a NextToken */
    bool has_next_token;
    bool next_token_too_long;
    char next_token[API_NEXT_TOKEN_TEXT_MAX + 1];
    bool has_start;
    char start_shard_id[KIN_SHARD_ID_LEN_MAX + 1];
    uint32_t max_results;
    bool has_max_results;
    bool has_created;
    int64_t created_ms;
    enum api_shard_filter filter;
    char filter_shard_id[KIN_SHARD_ID_LEN_MAX + 1];
    int64_t filter_timestamp_ms;
    bool filter_has_timestamp;
};

/* One record of PutRecord or PutRecords. partition_key is borrowed from the
 * decoded document; data is owned. */
struct api_put_entry {
    const char *partition_key;
    size_t partition_key_len;
    uint8_t *data; /* borrowed from the request's document, like the key */
    size_t data_len;
    bool has_hash_key;
    bool hash_key_out_of_range; /* matches the pattern but >= 2^128 */
    u128 hash_key;
    char hash_key_text[U128_DECIMAL_LEN_MAX + 2];
};

/* The members a record has in both PutRecord and PutRecords. */
struct api_put_fields {
    struct json_str partition_key;
    struct json_blob data; /* borrowed from the document */
    struct json_str hash_key;
};

/* Reads PartitionKey, Data and ExplicitHashKey from obj (NULL: all absent),
 * borrowing from the document (Data is decoded in place: json_get_blob). */
int api_put_fields_read(const cJSON *obj, struct api_put_fields *f, struct api_error *e);
/* Validates them in AWS's order; prefix is "" or "records.N.member.". */
void api_put_fields_validate(struct validation *v,
                             const char *prefix,
                             const struct api_put_fields *f);
/* True when api_put_fields_validate would record nothing: lets PutRecords
 * build the member paths only for a record that fails (formatting them for
 * every record cost ~10 % of its decode, docs/BENCHMARKS.md 2026-11-26). */
bool api_put_fields_are_valid(const struct api_put_fields *f);
/* Copies the fields into an entry (pointers still borrowed). */
void api_put_fields_move(struct api_put_fields *f, struct api_put_entry *entry);
/* The hash a record routes by: ExplicitHashKey, else MD5 of the key, with
 * md5 when given (a batch's hasher), else u128_md5. */
u128 api_put_entry_hash(const struct api_put_entry *entry, struct u128_md5 *md5);

struct api_put_record_req {
    char name[API_NAME_TEXT_MAX];
    struct api_put_entry entry;
    bool has_ordering;
    char ordering[KIN_SEQUENCE_NUMBER_DIGITS_MAX + 2];
    bool kms; /* set by the runner: the record is written encrypted (KMS) */
};

struct api_put_records_req {
    char name[API_NAME_TEXT_MAX];
    struct api_put_entry *entries; /* owned */
    size_t count;
    size_t bytes; /* data plus partition keys, for the 10 MiB request limit */
    bool kms;     /* set by the runner: the records are written encrypted (KMS) */
};

enum api_iterator_type {
    API_ITERATOR_AT_SEQUENCE_NUMBER,
    API_ITERATOR_AFTER_SEQUENCE_NUMBER,
    API_ITERATOR_TRIM_HORIZON,
    API_ITERATOR_LATEST,
    API_ITERATOR_AT_TIMESTAMP,
};

struct api_get_shard_iterator_req {
    char name[API_NAME_TEXT_MAX];
    char shard_id[KIN_SHARD_ID_LEN_MAX + 1];
    bool shard_ok; /* shard_id names a shard number */
    uint32_t shard;
    enum api_iterator_type type;
    bool has_sequence;
    char sequence[KIN_SEQUENCE_NUMBER_DIGITS_MAX + 2];
    bool has_timestamp;
    int64_t timestamp_ms;
};

struct api_get_records_req {
    char iterator[API_ITERATOR_TEXT_MAX + 1]; /* surrounding quotes removed */
    uint32_t limit;
    bool has_arn;
    char arn_name[API_NAME_TEXT_MAX]; /* the stream the StreamARN names */
};

#include "api_consumer.h"
#include "api_settings.h"
#include "api_reshard.h"
#include "api_subscribe.h"
#include "api_meta.h"

union api_req {
    struct api_create_stream_req create_stream;
    struct api_delete_stream_req delete_stream;
    struct api_describe_stream_req describe_stream;
    struct api_describe_stream_summary_req describe_stream_summary;
    struct api_list_streams_req list_streams;
    struct api_list_shards_req list_shards;
    struct api_put_record_req put_record;
    struct api_put_records_req put_records;
    struct api_get_shard_iterator_req get_shard_iterator;
    struct api_get_records_req get_records;
    struct api_update_stream_mode_req update_stream_mode;
    struct api_monitoring_req monitoring;
    struct api_encryption_req encryption;
    struct api_policy_req policy;
    struct api_update_max_record_size_req update_max_record_size;
    struct api_update_warm_throughput_req update_warm_throughput;
    struct api_split_shard_req split_shard;
    struct api_merge_shards_req merge_shards;
    struct api_update_shard_count_req update_shard_count;
    struct api_stream_tags_req stream_tags;
    struct api_list_tags_for_stream_req list_tags_for_stream;
    struct api_resource_tags_req resource_tags;
    struct api_retention_req retention;
    struct api_update_account_settings_req update_account_settings;
    struct api_register_consumer_req register_consumer;
    struct api_consumer_ref_req consumer_ref; /* Describe/DeregisterStreamConsumer */
    struct api_list_consumers_req list_consumers;
    struct api_subscribe_to_shard_req subscribe_to_shard;
};

/* The action named name (e.g. "PutRecord"), or -1. */
int api_op_lookup(const char *name, size_t len);
const char *api_op_name(enum api_op op);

/* Decodes and validates a JSON request body for op: the whole pure path.
 * On success returns 0 with *req filled (release with api_request_free);
 * strings in *req may point into *doc, which the caller frees with
 * cJSON_Delete after api_request_free. On failure returns a negative code
 * with e set and nothing to free but *doc (may be NULL). */
int api_decode_request(enum api_op op,
                       const struct api_config *cfg,
                       const uint8_t *body,
                       size_t len,
                       cJSON **doc,
                       union api_req *req,
                       struct api_error *e);
void api_request_free(enum api_op op, union api_req *req);

/* Per-action decoders over a parsed document (root is an object). */
int api_create_stream_decode(const cJSON *root,
                             const struct api_config *cfg,
                             struct api_create_stream_req *r,
                             struct api_error *e);
int api_delete_stream_decode(const cJSON *root,
                             const struct api_config *cfg,
                             struct api_delete_stream_req *r,
                             struct api_error *e);
int api_describe_stream_decode(const cJSON *root,
                               const struct api_config *cfg,
                               struct api_describe_stream_req *r,
                               struct api_error *e);
int api_describe_stream_summary_decode(const cJSON *root,
                                       const struct api_config *cfg,
                                       struct api_describe_stream_summary_req *r,
                                       struct api_error *e);
int api_list_streams_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_list_streams_req *r,
                            struct api_error *e);
int api_list_shards_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_list_shards_req *r,
                           struct api_error *e);
int api_put_record_decode(const cJSON *root,
                          const struct api_config *cfg,
                          struct api_put_record_req *r,
                          struct api_error *e);
void api_put_record_free(struct api_put_record_req *r);
int api_put_records_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_put_records_req *r,
                           struct api_error *e);
void api_put_records_free(struct api_put_records_req *r);
int api_get_shard_iterator_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_get_shard_iterator_req *r,
                                  struct api_error *e);
int api_get_records_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_get_records_req *r,
                           struct api_error *e);

/* ---- serving ---- */

/* What the handlers share: owned by the gateway, borrowed by every call. */
struct api_ctx {
    uv_loop_t *loop;
    struct backend *backend;
    struct api_config cfg;
    /* The service limits (eddy/limits_profile.h): ShardLimit and the other
     * quotas. Never NULL while serving. */
    const struct limits_profile *limits;
    struct sigv4_config auth;                    /* how requests authenticate (sigv4.h) */
    struct ratelimit *ratelimit;                 /* control-plane call rates; NULL: none */
    struct subscription_registry *subscriptions; /* live SubscribeToShard streams */
    unsigned inflight;                           /* calls not yet answered */
    /* Called when inflight drops to 0 while draining is set. */
    bool draining;
    void (*drained_cb)(struct api_ctx *ctx);
};

struct api_call;

enum api_format {
    API_FORMAT_JSON, /* application/x-amz-json-1.1 */
    API_FORMAT_CBOR, /* application/x-amz-cbor-1.1 (cbor.h), the Java SDK's */
};

/* api_decode_request for a body in either format. */
int api_decode_body(enum api_op op,
                    enum api_format format,
                    const struct api_config *cfg,
                    const uint8_t *body,
                    size_t len,
                    cJSON **doc,
                    union api_req *req,
                    struct api_error *e);

typedef void (*api_stream_cb)(struct api_call *c,
                              int status,
                              const Eddy__Catalog *cat,
                              const Eddy__StreamInfo *stream);
/* stream: NULL when the catalogue has no such stream. */
typedef void (*api_stream_found_cb)(struct api_call *c, const Eddy__StreamInfo *stream);

/* One request being served. Freed by api_respond_* / api_fail*. */
struct api_call {
    struct api_ctx *ctx;
    struct http_request *http;
    enum api_op op;
    bool op_known; /* op is set (the target named a known action) */
    enum api_format format;
    /* ctx->cfg with the region and account the request's credentials name
     * (sigv4.h), which the strings below hold; what handlers read. */
    struct api_config cfg;
    char region[API_REGION_LEN_MAX + 1];
    char account[API_ACCOUNT_ID_LEN + 1];
    cJSON *doc;
    union api_req req;
    char request_id[37];
    bool cors;      /* the request had an Origin header */
    void *op_state; /* per-action scratch, freed by the action before answering */
    struct {
        const char *name; /* borrowed from req */
        bool fresh;
        bool has_shard; /* api_lookup_shard: the shard the call names */
        uint64_t shard;
        api_stream_cb cb;
        /* api_lookup_stream_or_fail's callback */
        api_stream_found_cb found;
    } lookup; /* api_lookup_stream in progress */
};

/* Entry point for every HTTP request (answers it exactly once). */
void api_handle(struct api_ctx *ctx, struct http_request *http);

/* Answers 200 with body (in the call's format, borrowed) and frees the call. */
void api_respond(struct api_call *c, const uint8_t *body, size_t len);
/* A response writer in the call's format (JSON or CBOR). Writers started
 * with plain json_out_init work too: api_respond_out transcodes their JSON
 * for a CBOR call; this saves that pass on large responses. */
void api_out_init(const struct api_call *c, struct json_out *out, size_t len_max);
/* Answers 200 with the writer's document in the call's format (or 500 if
 * the writer failed), and frees the writer. */
void api_respond_out(struct api_call *c, struct json_out *out);
/* Answers 200 with an empty body (actions without output). */
void api_respond_empty(struct api_call *c);
/* A streamed answer (SubscribeToShard): api_stream_begin sends 200 and the
 * headers (x-amzn-RequestId, content_type); the body then goes out through
 * http_request_stream_* on c->http; api_stream_end ends the body (c->http is
 * NULL after it); api_stream_release frees the call, which counts as in
 * flight (the gateway drains) until then. */
void api_stream_begin(struct api_call *c, const char *content_type);
void api_stream_end(struct api_call *c);
void api_stream_release(struct api_call *c);
/* Answers with e and frees the call (and e's message). */
void api_respond_error(struct api_call *c, struct api_error *e);
void api_fail(struct api_call *c, enum api_exception ex, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers the error an Eddy code maps to; message may be NULL. */
void api_fail_code(struct api_call *c, int code, const char *message);

/* The catalogue plus the stream a data-plane call names. Looks in the local
 * copy first and asks the coordinator again when the stream is missing or
 * not ACTIVE there (a stream just created may not have reached this gateway). */
void api_lookup_stream(struct api_call *c, const char *name, bool fresh, api_stream_cb cb);
/* api_lookup_stream for a call that names a shard: a local copy without
 * that shard is refreshed too (the children of a reshard that another
 * gateway already listed may not have reached this one). */
void api_lookup_shard(struct api_call *c, const char *name, uint64_t shard, api_stream_cb cb);
/* The shard of st with this index while st can be read (ACTIVE or
 * UPDATING), else NULL. */
const Eddy__ShardInfo *api_readable_shard(const Eddy__StreamInfo *st, uint64_t index);
/* api_lookup_stream for the actions that need the stream only: a failed
 * lookup answers the call with its code (api_fail_code, no message). */
void api_lookup_stream_or_fail(struct api_call *c,
                               const char *name,
                               bool fresh,
                               api_stream_found_cb cb);

/* Per-action runners. */
void api_create_stream_run(struct api_call *c);
void api_delete_stream_run(struct api_call *c);
void api_describe_stream_run(struct api_call *c);
void api_describe_stream_summary_run(struct api_call *c);
void api_list_streams_run(struct api_call *c);
void api_list_shards_run(struct api_call *c);
void api_put_record_run(struct api_call *c);
void api_put_records_run(struct api_call *c);
void api_get_shard_iterator_run(struct api_call *c);
void api_get_records_run(struct api_call *c);

/* Shared output pieces. */
void api_write_shard(struct json_out *o, const Eddy__ShardInfo *sh);
void api_write_stream_mode(struct json_out *o, Eddy__StreamMode m);
/* "EnhancedMonitoring": [{"ShardLevelMetrics": [the metrics st has enabled]}]. */
void api_write_enhanced_monitoring(struct json_out *o, const Eddy__StreamInfo *st);
/* The shard holding hash, among the open shards of st, or NULL. */
const Eddy__ShardInfo *api_route(const Eddy__StreamInfo *st, u128 hash);

#endif
