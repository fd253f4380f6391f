/*
 * SubscribeToShard (api_subscribe_to_shard.c): the request, its decoder and
 * runner, and what the live subscriptions (subscription.h) need of the API
 * layer: the ChildShards of a closed shard (api_child_shards.c).
 *
 * Included by api.h only, inside its requests section (it uses struct
 * api_config, struct api_error, enum api_iterator_type, struct json_out and
 * the json readers declared before it).
 */
#ifndef EDDY_GW_API_SUBSCRIBE_H
#define EDDY_GW_API_SUBSCRIBE_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_call;

/* ConsumerARN length 1..2048 (model). */
#define API_CONSUMER_ARN_LEN_MAX 2048

struct api_subscribe_to_shard_req {
    const char *consumer_arn; /* borrowed from the document */
    size_t consumer_arn_len;
    char shard_id[KIN_SHARD_ID_LEN_MAX + 1];
    bool shard_ok; /* shard_id names a shard number */
    uint32_t shard;
    enum api_iterator_type type; /* StartingPosition.Type */
    bool has_sequence;
    char sequence[KIN_SEQUENCE_NUMBER_DIGITS_MAX + 2];
    bool has_timestamp;
    int64_t timestamp_ms;
};

int api_subscribe_to_shard_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_subscribe_to_shard_req *r,
                                  struct api_error *e);
void api_subscribe_to_shard_run(struct api_call *c);

/* ---- ChildShards (api_child_shards.c) ---- */

/* Children a closed shard has: two after a split, one after a merge. */
#define API_CHILD_SHARDS_MAX 4

/* What ChildShards says of a closed shard, copied out of the catalogue (which
 * is gone by the time a read answers). */
struct api_child_shards {
    bool closed; /* the catalogue shows the shard closed (the reshard finished) */
    size_t count;
    struct {
        uint32_t index;
        int64_t parent; /* -1: none */
        int64_t adjacent_parent;
        uint8_t hash_keys[32]; /* starting and ending hash keys, big-endian */
    } children[API_CHILD_SHARDS_MAX];
};

/* Notes whether sh of st is closed and, if so, its children. */
void api_child_shards_note(const Eddy__StreamInfo *st,
                           const Eddy__ShardInfo *sh,
                           struct api_child_shards *out);
/* "ChildShards": [{ShardId, ParentShards, HashKeyRange}...]. */
void api_child_shards_write(struct json_out *o, const struct api_child_shards *cs);

#endif
