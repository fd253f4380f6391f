/*
 * Enhanced fan-out consumers in the gateway: RegisterStreamConsumer,
 * DescribeStreamConsumer, ListStreamConsumers, DeregisterStreamConsumer
 * (api_consumers.c), and the consumer ARNs every action that names a
 * consumer shares (api_consumer_arn.c): TagResource, UntagResource,
 * ListTagsForResource, Put/Get/DeleteResourcePolicy and SubscribeToShard.
 *
 * A consumer lives in its stream's catalogue entry (StreamInfo.consumers,
 * coordinator/catalog_consumer.h) and is named by
 *
 *   arn:aws:kinesis:REGION:ACCOUNT:stream/STREAM/consumer/NAME:EPOCH
 *
 * with EPOCH its creation time in seconds (ConsumerInfo.created_ms / 1000),
 * so a consumer deregistered and registered again under the same name gets
 * another ARN, and the old ARN names nothing.
 *
 * api.h includes it before its other action headers (its requests are in
 * union api_req, and api_settings.h and api_meta.h hold its ARNs);
 * other files may include it alone. api.h comes first, outside the guard,
 * so either order of inclusion sees struct api_config, struct api_error and
 * API_NAME_TEXT_MAX before this header's body.
 */
#include "api.h"

#ifndef EDDY_GW_API_CONSUMER_H
#define EDDY_GW_API_CONSUMER_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_call;

/* A ConsumerARN Eddy issues: a stream ARN, "/consumer/", a name of at most
 * 128 and ":" with at most 20 digits. */
#define API_CONSUMER_ARN_TEXT_MAX                                                                  \
    (API_STREAM_ARN_TEXT_MAX + sizeof("/consumer/") + KIN_STREAM_NAME_LEN_MAX + 1 + 20)

/* An ARN's account field as echoed in a message (AWS's are 12 digits). */
#define API_CONSUMER_ACCOUNT_TEXT_MAX 64
/* A consumer ARN's creation timestamp: epoch seconds as text. */
#define API_CONSUMER_TS_TEXT_MAX 24
/* ListStreamConsumers MaxResults: "The default value is 100. If you specify
 * a value greater than 100, at most 100 results are returned" (model range
 * 1..10000). */
#define API_LIST_CONSUMERS_RESULTS_MAX 100
#define API_LIST_CONSUMERS_MAX_RESULTS_MAX 10000

/* ---- consumer ARNs (api_consumer_arn.c) ---- */

/* What a ConsumerARN (or a ResourceARN naming a consumer) names. */
struct api_consumer_arn {
    /* arn:aws:kinesis:REGION:ACCOUNT with this gateway's region and account,
     * and well-formed names: the only ARNs that can name a consumer here. */
    bool ours;
    /* The ARN's account field (cut at API_CONSUMER_ACCOUNT_TEXT_MAX - 1), for
     * the not-found text of an ARN of another account. */
    char account[API_CONSUMER_ACCOUNT_TEXT_MAX];
    char stream[API_NAME_TEXT_MAX];
    char consumer[API_NAME_TEXT_MAX];
    /* EPOCH as written (digits only, at most API_CONSUMER_TS_TEXT_MAX - 1),
     * for messages; created_s is its value (UINT64_MAX when it overflows). */
    char created_text[API_CONSUMER_TS_TEXT_MAX];
    uint64_t created_s;
};

/* Whether s matches the model's ConsumerARN pattern, whole:
 * ^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+
 * Linear in len. */
bool api_consumer_arn_match(const char *s, size_t len);
/* The pattern as AWS prints it in a ValidationException. */
const char *api_consumer_arn_pattern_text(void);

/* Parses "STREAM/consumer/NAME:EPOCH", the part of a resource ARN after
 * "stream/": false when it is not of that shape (names [a-zA-Z0-9_.-]{1,128},
 * EPOCH 1..API_CONSUMER_TS_TEXT_MAX-1 digits). Fills out's names and time,
 * not out->ours. */
bool api_consumer_arn_parse_path(const char *p, size_t n, struct api_consumer_arn *out);
/* Parses a whole ConsumerARN: 0 with out filled (out->ours false when it is
 * of another partition, region or account, or not of the shape above: it
 * names no consumer here, and out->stream/consumer hold what could be read,
 * for messages). Never fails on any input. */
void api_consumer_arn_parse(const struct api_config *cfg,
                            const char *arn,
                            size_t len,
                            struct api_consumer_arn *out);

/* The ARN of consumer ci of stream (the stream's name); out holds
 * API_CONSUMER_ARN_TEXT_MAX. Returns the length. */
size_t api_consumer_arn_format(const struct api_config *cfg,
                               const char *stream,
                               const Eddy__ConsumerInfo *ci,
                               char *out);

/* ---- lookups (api_consumer_arn.c) ---- */

/* "CREATING", "ACTIVE", "DELETING". */
const char *api_consumer_status_name(Eddy__ConsumerStatus s);
/* The consumer named name of st (any status), or NULL. */
const Eddy__ConsumerInfo *api_find_consumer(const Eddy__StreamInfo *st, const char *name);
/* Whether ci is the incarnation an ARN's EPOCH names. */
bool api_consumer_is_incarnation(const Eddy__ConsumerInfo *ci, uint64_t created_s);

/* The consumer a ConsumerARN names in cat (any status: the caller checks
 * ConsumerStatus, e.g. SubscribeToShard wants ACTIVE), with *stream_out its
 * stream. When there is none, returns NULL with e set to
 * ResourceNotFoundException and AWS's text:
 *   - the stream is missing, or the ARN is of another region or account:
 *     "Stream STREAM under account ACCOUNT not found."
 *   - no consumer of that name and creation time on the stream:
 *     "Consumer NAME with creation timestamp EPOCH under stream STREAM and
 *     account ACCOUNT not found."
 * The ARN is validated against the pattern beforehand (ValidationException
 * belongs to the decoder); arn is not NUL-terminated. */
const Eddy__ConsumerInfo *api_find_consumer_by_arn(const struct api_config *cfg,
                                                   const Eddy__Catalog *cat,
                                                   const char *arn,
                                                   size_t len,
                                                   const Eddy__StreamInfo **stream_out,
                                                   struct api_error *e);
/* The same for a parsed ARN, st being the stream a->stream names in the
 * catalogue (NULL: none). */
const Eddy__ConsumerInfo *api_consumer_resolve(const struct api_config *cfg,
                                               const Eddy__StreamInfo *st,
                                               const struct api_consumer_arn *a,
                                               struct api_error *e);
/* Sets e to ResourceInUseException for ci, named by a, not ACTIVE: "Consumer
 * NAME with creation timestamp EPOCH under stream STREAM and account ACCOUNT
 * is not in ACTIVE status." (AWS's PutResourcePolicy text). */
void api_consumer_error_not_active(const struct api_config *cfg,
                                   const struct api_consumer_arn *a,
                                   struct api_error *e);
/* Sets e to ResourceNotFoundException for a consumer of stream st (NULL:
 * the stream is missing) that a names. */
void api_consumer_error_not_found(const struct api_config *cfg,
                                  const Eddy__StreamInfo *st,
                                  const struct api_consumer_arn *a,
                                  struct api_error *e);
/* The api_consumer_arn naming ci of stream (for the texts above). */
void api_consumer_arn_of(const char *stream,
                         const Eddy__ConsumerInfo *ci,
                         struct api_consumer_arn *out);

/* ---- the actions (api_consumers.c) ---- */

/* RegisterStreamConsumer: StreamARN, ConsumerName, Tags. */
struct api_register_consumer_req {
    char stream[API_NAME_TEXT_MAX];
    char consumer[API_NAME_TEXT_MAX];
    const cJSON *tags; /* borrowed from the document; NULL: none */
};

/* DescribeStreamConsumer and DeregisterStreamConsumer: ConsumerARN, or
 * StreamARN and ConsumerName (or all three, agreeing). */
struct api_consumer_ref_req {
    bool by_arn;                      /* ConsumerARN given */
    struct api_consumer_arn arn;      /* when by_arn */
    char stream[API_NAME_TEXT_MAX];   /* the stream meant (from either) */
    char consumer[API_NAME_TEXT_MAX]; /* the consumer meant (from either) */
};

/* ListStreamConsumers: StreamARN or a NextToken (with the StreamARN it was
 * issued for), MaxResults, StreamCreationTimestamp. */
struct api_list_consumers_req {
    char stream[API_NAME_TEXT_MAX];
    uint32_t max_results;
    bool has_created;
    int64_t created_ms;
    bool has_next_token;
    bool next_token_too_long;
    char next_token[API_NEXT_TOKEN_TEXT_MAX + 1];
};

int api_register_consumer_decode(const cJSON *root,
                                 const struct api_config *cfg,
                                 struct api_register_consumer_req *r,
                                 struct api_error *e);
int api_consumer_ref_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_consumer_ref_req *r,
                            struct api_error *e);
int api_list_consumers_decode(const cJSON *root,
                              const struct api_config *cfg,
                              struct api_list_consumers_req *r,
                              struct api_error *e);

/* ---- tags and policies of consumers (api_consumer_settings.c) ---- */

/* TagResource, UntagResource, ListTagsForResource, PutResourcePolicy,
 * GetResourcePolicy, DeleteResourcePolicy on a consumer ARN a (borrowed from
 * the call's request) of stream st (NULL: missing, from a fresh lookup).
 * Each answers the call: not found as api_consumer_resolve words it; tags
 * need the consumer CREATING or ACTIVE, policies ACTIVE
 * (api_consumer_error_not_active otherwise); changes go to the coordinator
 * pinned to the consumer's incarnation. */
void api_consumer_tag_resource(struct api_call *c,
                               const Eddy__StreamInfo *st,
                               const struct api_consumer_arn *a,
                               const cJSON *tags);
void api_consumer_untag_resource(struct api_call *c,
                                 const Eddy__StreamInfo *st,
                                 const struct api_consumer_arn *a,
                                 const cJSON *keys);
void api_consumer_list_tags(struct api_call *c,
                            const Eddy__StreamInfo *st,
                            const struct api_consumer_arn *a);
void api_consumer_put_policy(struct api_call *c,
                             const Eddy__StreamInfo *st,
                             const struct api_consumer_arn *a,
                             const char *policy);
void api_consumer_get_policy(struct api_call *c,
                             const Eddy__StreamInfo *st,
                             const struct api_consumer_arn *a);
void api_consumer_delete_policy(struct api_call *c,
                                const Eddy__StreamInfo *st,
                                const struct api_consumer_arn *a);

void api_register_consumer_run(struct api_call *c);
void api_describe_consumer_run(struct api_call *c);
void api_list_consumers_run(struct api_call *c);
void api_deregister_consumer_run(struct api_call *c);

#endif
