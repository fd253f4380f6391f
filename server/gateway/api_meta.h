/*
 * Requests of the tagging, retention, account and limits actions:
 * AddTagsToStream, RemoveTagsFromStream, ListTagsForStream (api_tags.c),
 * TagResource, UntagResource, ListTagsForResource (api_resource_tags.c),
 * Increase/DecreaseStreamRetentionPeriod (api_retention.c),
 * Describe/UpdateAccountSettings (api_account.c), DescribeLimits
 * (api_limits_op.c), and what they share: tag maps and key lists as AWS
 * validates them (api_tag_input.c), the ResourceARN of a stream or consumer
 * and one stream-setting change sent with its errors worded (api_meta.c).
 *
 * Included by api.h only, inside its requests section (it uses struct
 * api_config, struct api_error, struct validation and API_NAME_TEXT_MAX).
 */
#ifndef EDDY_GW_API_META_H
#define EDDY_GW_API_META_H

#include "catalog.pb-c.h"
#include "rpc.pb-c.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_call;
struct api_ctx;

/* --- Kinesis limits of these actions (API reference, botocore 1.43 model) --- */

/* Tags one stream may have: "You can assign up to 50 tags" (API_AddTagsToStream). */
#define API_TAGS_MAX 50
/* TagMap entries of one request (model: max 200). */
#define API_TAG_MAP_MAX 200
/* TagKeyList entries (model: 1..50). */
#define API_TAG_KEYS_MAX 50
/* TagKey 1..128 and TagValue 0..256 characters (UTF-16 units). */
#define API_TAG_KEY_LEN_MAX 128
#define API_TAG_VALUE_LEN_MAX 256
/* ListTagsForStream Limit 1..50 (model); the default is the most. */
#define API_LIST_TAGS_LIMIT_MAX 50

/* ---- tag input (api_tag_input.c) ---- */

/* One tag of a request, borrowed from the document. */
struct api_tag {
    const char *key;
    const char *value; /* "" for a JSON null */
};

/* Type-checks a map-of-strings member (SerializationException texts as
 * json_check_map_of_strings); *out is the object, NULL when absent. */
int api_tag_map_get(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e);
/* Type-checks a list-of-strings member; *out is the array, NULL when absent. */
int api_tag_keys_get(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e);
/* ValidationException clauses of a TagMap at path (nothing for NULL):
 * length 1..API_TAG_MAP_MAX, then the keys' and the values' lengths. */
void api_tag_map_validate(struct validation *v, const char *path, const cJSON *map);
/* The same for a TagKeyList (1..API_TAG_KEYS_MAX keys of 1..128). */
void api_tag_keys_validate(struct validation *v, const char *path, const cJSON *keys);
/* The tags of map sorted by key, one per key (the later value, as AWS's
 * JSON reader keeps), into out (cap entries). Returns how many there are,
 * which may exceed cap (then out holds the first cap). */
size_t api_tag_map_collect(const cJSON *map, struct api_tag *out, size_t cap);

/* Which characters AWS allows in tags: letters (Latin-1 and beyond up to
 * U+D7FF), digits, space and _ . / = + - @ : (and %, refused separately). */
enum api_tag_chars {
    API_TAG_CHARS_OK,
    API_TAG_CHARS_PERCENT, /* "... because some tags contained illegal characters..." */
    API_TAG_CHARS_INVALID, /* "Some tags contain invalid characters...": reported first */
};
enum api_tag_chars api_tag_chars(const char *s);
/* The worse verdict over a map's keys and values, or a key list. */
enum api_tag_chars api_tag_map_chars(const cJSON *map);
enum api_tag_chars api_tag_keys_chars(const cJSON *keys);
/* Answers InvalidArgumentException for a verdict other than OK (adding
 * true: AddTags/TagResource/CreateStream wording, false: removal) and
 * returns false; true for OK. */
bool api_tag_chars_ok(struct api_call *c,
                      enum api_tag_chars verdict,
                      const char *name,
                      bool adding);
/* Answers InvalidArgumentException when st would have more than
 * API_TAGS_MAX tags with map's added (st NULL: a new stream); returns false
 * then, true otherwise. */
bool api_tag_count_ok(struct api_call *c,
                      const Eddy__StreamInfo *st,
                      const char *name,
                      const cJSON *map);

/* ---- requests ---- */

/* AddTagsToStream and RemoveTagsFromStream. */
struct api_stream_tags_req {
    char name[API_NAME_TEXT_MAX];
    const cJSON *tags; /* AddTagsToStream's Tags, borrowed from the document */
    const cJSON *keys; /* RemoveTagsFromStream's TagKeys, borrowed */
};

struct api_list_tags_for_stream_req {
    char name[API_NAME_TEXT_MAX];
    uint32_t limit;
    const char *start; /* ExclusiveStartTagKey, borrowed; NULL: none */
};

/* What a ResourceARN names in this region and account. */
struct api_resource {
    bool consumer; /* .../stream/S/consumer/C:T */
    char stream[API_NAME_TEXT_MAX];
    struct api_consumer_arn cons; /* when consumer (api_consumer.h) */
};

/* TagResource, UntagResource, ListTagsForResource. */
struct api_resource_tags_req {
    struct api_resource res;
    const cJSON *tags; /* TagResource, borrowed */
    const cJSON *keys; /* UntagResource, borrowed */
};

/* Increase/DecreaseStreamRetentionPeriod. */
struct api_retention_req {
    char name[API_NAME_TEXT_MAX];
    int64_t hours;
};

struct api_update_account_settings_req {
    bool enable; /* MinimumThroughputBillingCommitment.Status ENABLED */
};

int api_add_tags_to_stream_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_stream_tags_req *r,
                                  struct api_error *e);
int api_remove_tags_from_stream_decode(const cJSON *root,
                                       const struct api_config *cfg,
                                       struct api_stream_tags_req *r,
                                       struct api_error *e);
int api_list_tags_for_stream_decode(const cJSON *root,
                                    const struct api_config *cfg,
                                    struct api_list_tags_for_stream_req *r,
                                    struct api_error *e);
int api_tag_resource_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_resource_tags_req *r,
                            struct api_error *e);
int api_untag_resource_decode(const cJSON *root,
                              const struct api_config *cfg,
                              struct api_resource_tags_req *r,
                              struct api_error *e);
int api_list_tags_for_resource_decode(const cJSON *root,
                                      const struct api_config *cfg,
                                      struct api_resource_tags_req *r,
                                      struct api_error *e);
/* Increase and Decrease share the input shape. */
int api_retention_decode(const cJSON *root,
                         const struct api_config *cfg,
                         struct api_retention_req *r,
                         struct api_error *e);
/* DescribeAccountSettings and DescribeLimits take no members. */
int api_no_input_decode(const cJSON *root, const struct api_config *cfg, struct api_error *e);
int api_update_account_settings_decode(const cJSON *root,
                                       const struct api_config *cfg,
                                       struct api_update_account_settings_req *r,
                                       struct api_error *e);

void api_add_tags_to_stream_run(struct api_call *c);
void api_remove_tags_from_stream_run(struct api_call *c);
void api_list_tags_for_stream_run(struct api_call *c);
void api_tag_resource_run(struct api_call *c);
void api_untag_resource_run(struct api_call *c);
void api_list_tags_for_resource_run(struct api_call *c);
void api_increase_retention_run(struct api_call *c);
void api_decrease_retention_run(struct api_call *c);
void api_describe_account_settings_run(struct api_call *c);
void api_update_account_settings_run(struct api_call *c);
void api_describe_limits_run(struct api_call *c);

/* ---- shared by the stream and the resource actions (api_tags.c) ---- */

/* The checks and the change of AddTagsToStream for st (NULL: not found),
 * named name (borrowed from the request): answers the call. */
void api_tags_add(struct api_call *c,
                  const char *name,
                  const Eddy__StreamInfo *st,
                  const cJSON *tags);
/* The same for RemoveTagsFromStream. */
void api_tags_remove(struct api_call *c,
                     const char *name,
                     const Eddy__StreamInfo *st,
                     const cJSON *keys);
/* CreateStream's Tags (map, NULL: none) for the new stream req->name: checks
 * their characters and count (answering the call when they fail), else
 * sends req (borrowed; its tags set here) with backend_create_stream, done
 * being its callback with the call as argument. */
void api_tags_create_stream(struct api_call *c,
                            Eddy__CreateStreamReq *req,
                            const cJSON *map,
                            void (*done)(void *arg, int status, const char *message));
/* "Tags": [{"Key", "Value"}...] of st's tags after start (NULL: from the
 * first), at most limit; *more tells whether tags were left out. */
void api_write_tags(
    struct json_out *o, const Eddy__StreamInfo *st, const char *start, size_t limit, bool *more);
/* The same over any tag set (sorted by key): a stream's or a consumer's. */
void api_write_tag_list(struct json_out *o,
                        Eddy__Tag *const *tags,
                        size_t n,
                        const char *start,
                        size_t limit,
                        bool *more);

/* ---- shared (api_meta.c) ---- */

/* Resolves a validated ResourceARN (pattern arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+).
 * Returns 0, or -EDDY_ENOTFOUND with e set (another partition, region or
 * account, or not a stream or consumer of one). */
int api_resolve_resource(const struct api_config *cfg,
                         const struct json_str *arn,
                         struct api_resource *out,
                         struct api_error *e);
/* Answers ResourceNotFoundException (st NULL) or ResourceInUseException
 * ("not ACTIVE[ or UPDATING], instead in state X") and returns false; true
 * when st's status is ACTIVE, or UPDATING with updating_ok. */
bool api_meta_require_status(struct api_call *c,
                             const char *name,
                             const Eddy__StreamInfo *st,
                             bool updating_ok);

/* Words the -EDDY_EINVAL the coordinator returned without a message: the
 * stream (as it is) and the update give the reason; answers the call. */
typedef void (*api_meta_invalid_cb)(struct api_call *c,
                                    const char *name,
                                    const Eddy__StreamInfo *stream);
/* Sends u (borrowed for the call) and answers: 200 with an empty body, or
 * the error as AWS words it (not found, not ACTIVE[ or UPDATING] with the
 * state the coordinator saw, its message, invalid(c, ...) for a bare
 * -EDDY_EINVAL). name is borrowed from the call's request. */
void api_meta_update(struct api_call *c,
                     const char *name,
                     const Eddy__StreamUpdate *u,
                     bool updating_ok,
                     api_meta_invalid_cb invalid);

/* The account quotas DescribeLimits and CreateStream report: the limits
 * profile's (--limits aws|dev, eddy/limits_profile.h), or Eddy's defaults
 * without one. */
struct api_account_limits {
    uint32_t shard_limit;
    uint32_t on_demand_stream_count_limit;
};
void api_account_limits(const struct api_ctx *ctx, struct api_account_limits *out);
/* Whether the account may hold one more ON_DEMAND stream (CreateStream in
 * ON_DEMAND mode, UpdateStreamMode from PROVISIONED to ON_DEMAND): fewer
 * than OnDemandStreamCountLimit in cat, whatever their status. Fails c with
 * AWS's LimitExceededException and returns false otherwise. */
bool api_require_on_demand_quota(struct api_call *c, const Eddy__Catalog *cat);

#endif
