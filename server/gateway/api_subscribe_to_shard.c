/*
 * SubscribeToShard: ConsumerARN (1..2048, the model's pattern), ShardId
 * (1..128, [a-zA-Z0-9_.-]+), StartingPosition {Type (AT_SEQUENCE_NUMBER,
 * AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP), SequenceNumber,
 * Timestamp}, StreamId (reserved, ignored).
 *
 * Everything that can fail the call is decided before the stream starts, so
 * errors are ordinary HTTP 400 JSON (or CBOR) answers, as AWS sends them:
 * the consumer (ResourceNotFoundException, or ResourceInUseException when
 * not ACTIVE), the shard, the position (the rules and texts of
 * GetShardIterator), then the subscription rules (subscription.h): one call a
 * second through this gateway (LimitExceededException), one live
 * subscription per consumer and shard (ResourceInUseException within 5 s),
 * here and then across the cluster: the shard group's leader grants the
 * lease (docs/adr/0008) in the read that also resolves LATEST to the shard's
 * last sequence number before the 200 goes out, so every record put after
 * the client has its answer is pushed to it.
 */
#include "api.h"

#include "backend.h"
#include "subscription.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/seqnum.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The order AWS lists them in its enum message (ShardIteratorType's). */
static const char *const api_subscribe_types[] = {
    "AFTER_SEQUENCE_NUMBER", "LATEST", "AT_TIMESTAMP", "AT_SEQUENCE_NUMBER", "TRIM_HORIZON",
};
static const enum api_iterator_type api_subscribe_type_of[] = {
    API_ITERATOR_AFTER_SEQUENCE_NUMBER, API_ITERATOR_LATEST,       API_ITERATOR_AT_TIMESTAMP,
    API_ITERATOR_AT_SEQUENCE_NUMBER,    API_ITERATOR_TRIM_HORIZON,
};

static const char *api_subscribe_type_name(enum api_iterator_type t)
{
    for (size_t i = 0; i < EDDY_ARRAY_LEN(api_subscribe_type_of); i++) {
        if (api_subscribe_type_of[i] == t) {
            return api_subscribe_types[i];
        }
    }
    return "";
}

/* ConsumerARN: not null, pattern, length (json_validate.c's order). */
static void api_subscribe_validate_arn(struct validation *v, const struct json_str *arn)
{
    validation_not_null(v, "consumerARN", arn->present);
    if (arn->present && !api_consumer_arn_match(arn->ptr, arn->len)) {
        char rule[256];
        snprintf(rule, sizeof(rule), "Member must satisfy regular expression pattern: %s",
                 api_consumer_arn_pattern_text());
        validation_add(v, arn->ptr, arn->len, "consumerARN", rule);
    }
    validation_length(v, "consumerARN", arn, 1, API_CONSUMER_ARN_LEN_MAX);
}

int api_subscribe_to_shard_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_subscribe_to_shard_req *r,
                                  struct api_error *e)
{
    (void)cfg;
    struct json_str arn, shard, id, type = {0}, seq = {0};
    struct json_timestamp ts = {0};
    const cJSON *pos = NULL;
    int rv = json_get_str(root, "ConsumerARN", &arn, e);
    if (rv == 0) {
        rv = json_get_str(root, "ShardId", &shard, e);
    }
    if (rv == 0) {
        rv = json_get_struct(root, "StartingPosition", &pos, e);
    }
    if (rv == 0 && pos != NULL) {
        rv = json_get_str(pos, "Type", &type, e);
        if (rv == 0) {
            rv = json_get_str(pos, "SequenceNumber", &seq, e);
        }
        if (rv == 0) {
            rv = json_get_timestamp(pos, "Timestamp", &ts, e);
        }
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e); /* "Not Implemented. Reserved" */
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    api_subscribe_validate_arn(&v, &arn);
    validation_not_null(&v, "shardId", shard.present);
    validation_pattern(&v, "shardId", &shard, JSON_PATTERN_NAME);
    validation_length(&v, "shardId", &shard, 1, KIN_SHARD_ID_LEN_MAX);
    validation_not_null(&v, "startingPosition", pos != NULL);
    if (pos != NULL) {
        validation_not_null(&v, "startingPosition.type", type.present);
        validation_enum(&v, "startingPosition.type", &type, api_subscribe_types,
                        EDDY_ARRAY_LEN(api_subscribe_types));
        validation_pattern(&v, "startingPosition.sequenceNumber", &seq, JSON_PATTERN_SEQUENCE);
    }
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    r->consumer_arn = arn.ptr;
    r->consumer_arn_len = arn.len;
    json_copy(r->shard_id, sizeof(r->shard_id), shard.ptr, shard.len);
    r->shard_ok = api_parse_shard_id(shard.ptr, shard.len, &r->shard);
    r->type = api_subscribe_type_of[json_enum_index(&type, api_subscribe_types,
                                                    EDDY_ARRAY_LEN(api_subscribe_types))];
    r->has_sequence = seq.present;
    if (seq.present) {
        json_copy(r->sequence, sizeof(r->sequence), seq.ptr, seq.len);
    }
    r->has_timestamp = ts.present;
    r->timestamp_ms = ts.ms;
    return 0;
}

/* op_state between the catalogue and the stream: what the call resolved to
 * (the catalogue is gone by the time a LATEST read answers). */
struct api_subscribe_state {
    bool fresh; /* the catalogue was asked of the coordinator */
    char stream[API_NAME_TEXT_MAX];
    char consumer[API_NAME_TEXT_MAX];
    struct subscription_target t;
};

static void api_subscribe_free_state(struct api_call *c)
{
    eddy_free(c->op_state);
    c->op_state = NULL;
}

/* The starting position into s->t, in GetShardIterator's rules and order:
 * 0, or -EDDY_EINVAL with e set. */
static int
api_subscribe_position(struct api_call *c, struct api_subscribe_state *s, struct api_error *e)
{
    const struct api_subscribe_to_shard_req *r = &c->req.subscribe_to_shard;
    const char *type = api_subscribe_type_name(r->type);
    bool by_seq =
        r->type == API_ITERATOR_AT_SEQUENCE_NUMBER || r->type == API_ITERATOR_AFTER_SEQUENCE_NUMBER;
    bool symbolic = r->type == API_ITERATOR_TRIM_HORIZON || r->type == API_ITERATOR_LATEST;
    char shard_id[API_SHARD_ID_TEXT_MAX];
    api_shard_id(r->shard, shard_id);
    if ((by_seq && !r->has_sequence) || (symbolic && r->has_sequence)) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
                      "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
                      "StartingSequenceNumber. Request specified %s and %s StartingSequenceNumber.",
                      type, r->has_sequence ? "also a" : "no");
        return -EDDY_EINVAL;
    }
    if (by_seq) {
        uint64_t index;
        uint32_t shard, place;
        if (u128_parse_decimal(r->sequence, strlen(r->sequence), &s->t.seq) != 0 ||
            !seqnum_split(s->t.seq, &index, &shard, &place)) {
            api_error_set(
                e, API_EX_INVALID_ARGUMENT,
                "StartingSequenceNumber %s used in SubscribeToShard on shard %s in stream %s "
                "under account %s is invalid.",
                r->sequence, shard_id, s->stream, c->cfg.account);
            return -EDDY_EINVAL;
        }
        if (shard != r->shard) {
            char encoded[API_SHARD_ID_TEXT_MAX];
            api_shard_id(shard, encoded);
            api_error_set(
                e, API_EX_INVALID_ARGUMENT,
                "Invalid StartingSequenceNumber. It encodes %s, while it was used in a call "
                "to a shard with %s",
                encoded, shard_id);
            return -EDDY_EINVAL;
        }
        s->t.position = r->type == API_ITERATOR_AT_SEQUENCE_NUMBER
                            ? EDDY__POSITION__POSITION_AT_SEQUENCE
                            : EDDY__POSITION__POSITION_AFTER_SEQUENCE;
        return 0;
    }
    if (r->type == API_ITERATOR_AT_TIMESTAMP) {
        if (!r->has_timestamp) {
            api_error_set(
                e, API_EX_INVALID_ARGUMENT,
                "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                "Current request has no timestamp parameter.");
            return -EDDY_EINVAL;
        }
        uint64_t now = api_now_ms();
        if (r->timestamp_ms > (int64_t)now) {
            api_error_set(e, API_EX_INVALID_ARGUMENT,
                          "The timestampInMillis parameter cannot be greater than the "
                          "currentTimestampInMillis. timestampInMillis: %" PRId64
                          ", currentTimestampInMillis: %" PRIu64,
                          r->timestamp_ms, now);
            return -EDDY_EINVAL;
        }
        s->t.position = EDDY__POSITION__POSITION_AT_TIMESTAMP;
        s->t.timestamp_ms = r->timestamp_ms > 0 ? (uint64_t)r->timestamp_ms : 0;
        return 0;
    }
    s->t.position = r->type == API_ITERATOR_LATEST ? EDDY__POSITION__POSITION_LATEST
                                                   : EDDY__POSITION__POSITION_TRIM_HORIZON;
    return 0;
}

/* Answers a call the subscription rules refused (rv from subscription_admit,
 * or -EDDY_EINUSE from the shard's leader). */
static void api_subscribe_refuse(struct api_call *c, const struct api_subscribe_state *s, int rv)
{
    char shard_id[API_SHARD_ID_TEXT_MAX];
    api_shard_id(s->t.shard, shard_id);
    const char *account = c->cfg.account;
    switch (rv) {
    case -EDDY_ELIMIT:
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "Rate exceeded for consumer %s:%s:%s:%s. SubscribeToShard allows one call per "
                 "second per consumer and shard.",
                 account, s->stream, shard_id, s->consumer);
        return;
    case -EDDY_EINUSE:
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "Another active subscription exists for this consumer: %s:%s:%s:%s", account,
                 s->stream, shard_id, s->consumer);
        return;
    default:
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "The number of concurrent subscriptions on this endpoint exceeds %d.",
                 SUBSCRIPTION_LIVE_MAX);
        return;
    }
}

/* The shard's leader answered the lease read (LEASE_ACQUIRE, which also
 * resolved LATEST): the stream starts, or the call is answered. */
static void api_subscribe_on_acquired(void *arg, int status, const Eddy__ReadResp *resp)
{
    struct api_call *c = arg;
    struct api_subscribe_state s = *(struct api_subscribe_state *)c->op_state;
    api_subscribe_free_state(c);
    s.t.stream = s.stream;
    s.t.consumer = s.consumer;
    struct subscription_registry *reg = c->ctx->subscriptions;
    if (status == 0 && (resp == NULL || resp->next_sequence.len != 16)) {
        status = -EDDY_EMALFORMED;
    }
    if (status != 0) {
        subscription_abandon(reg);
        if (status == -EDDY_EINUSE) {
            api_subscribe_refuse(c, &s, status); /* held through another gateway */
        } else {
            api_fail_code(c, status, NULL);
        }
        return;
    }
    if (s.t.position == EDDY__POSITION__POSITION_LATEST) {
        /* Pinned now: what is written from here on comes after it. */
        s.t.position = EDDY__POSITION__POSITION_AFTER_SEQUENCE;
        s.t.seq = u128_from_be(resp->next_sequence.data);
    }
    if (subscription_open(reg, c, &s.t) != 0) {
        api_fail_code(c, -EDDY_ESHUTDOWN, NULL); /* the gateway is closing */
    }
}

/* Admits the call under this gateway's rules, then asks the shard's leader
 * for the lease (docs/adr/0008): one read that resolves nothing but LATEST. */
static void api_subscribe_admit(struct api_call *c, const Eddy__StreamInfo *st)
{
    struct api_subscribe_state *s = c->op_state;
    s->t.stream = s->stream;
    s->t.consumer = s->consumer;
    int rv = subscription_admit(c->ctx->subscriptions, &s->t, uv_now(c->ctx->loop));
    if (rv != 0) {
        struct api_subscribe_state copy = *s;
        api_subscribe_free_state(c); /* before the answer, which may free the call */
        api_subscribe_refuse(c, &copy, rv);
        return;
    }
    struct backend_read rd = {
        .shard = s->t.shard,
        .position = s->t.position,
        .seq = s->t.seq,
        .timestamp_ms = s->t.timestamp_ms,
    };
    subscription_lease_read(&s->t, EDDY__LEASE__LEASE_ACQUIRE, s->t.admitted_ms, &rd);
    backend_read(c->ctx->backend, st, &rd, api_subscribe_on_acquired, c);
}

static void api_subscribe_on_catalog(void *arg, int status, const Eddy__Catalog *cat);

/* The consumer, stream and shard the call names; answers the call and
 * returns NULL when they are not there to subscribe to. */
static const Eddy__ShardInfo *api_subscribe_resolve(struct api_call *c,
                                                    const Eddy__Catalog *cat,
                                                    const Eddy__StreamInfo **stream_out,
                                                    const Eddy__ConsumerInfo **consumer_out)
{
    const struct api_subscribe_to_shard_req *r = &c->req.subscribe_to_shard;
    struct api_subscribe_state *s = c->op_state;
    struct api_error e = {0};
    const Eddy__StreamInfo *st = NULL;
    const Eddy__ConsumerInfo *ci =
        api_find_consumer_by_arn(&c->cfg, cat, r->consumer_arn, r->consumer_arn_len, &st, &e);
    const Eddy__ShardInfo *sh = r->shard_ok ? api_readable_shard(st, r->shard) : NULL;
    if ((ci == NULL || ci->status != EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE || sh == NULL) &&
        !s->fresh) {
        /* A consumer just registered or turned ACTIVE, or a shard a reshard
         * just made, may not be in this gateway's copy yet: ask the
         * coordinator before refusing. */
        api_error_free(&e);
        s->fresh = true;
        backend_catalog(c->ctx->backend, true, api_subscribe_on_catalog, c);
        return NULL;
    }
    if (ci == NULL) {
        api_subscribe_free_state(c);
        api_respond_error(c, &e);
        return NULL;
    }
    if (ci->status != EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE) {
        /* AWS's text (kinesis-hot-shard-advisor#37). */
        api_subscribe_free_state(c);
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "Consumer %s with creation timestamp %" PRIu64
                 " under stream: %s , account %s is not in ACTIVE status.",
                 ci->name, ci->created_ms / 1000, st->name, c->cfg.account);
        return NULL;
    }
    if (sh == NULL) {
        api_subscribe_free_state(c);
        if (!r->shard_ok) {
            api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                     "Could not find shard %s in stream %s under account %s.", r->shard_id,
                     st->name, c->cfg.account);
            return NULL;
        }
        char shard_id[API_SHARD_ID_TEXT_MAX];
        api_shard_id(r->shard, shard_id);
        api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                 "Shard %s in stream %s under account %s does not exist", shard_id, st->name,
                 c->cfg.account);
        return NULL;
    }
    *stream_out = st;
    *consumer_out = ci;
    return sh;
}

static void api_subscribe_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_call *c = arg;
    const struct api_subscribe_to_shard_req *r = &c->req.subscribe_to_shard;
    struct api_subscribe_state *s = c->op_state;
    if (status != 0) {
        api_subscribe_free_state(c);
        api_fail_code(c, status, NULL);
        return;
    }
    const Eddy__StreamInfo *st = NULL;
    const Eddy__ConsumerInfo *ci = NULL;
    if (api_subscribe_resolve(c, cat, &st, &ci) == NULL) {
        return; /* answered, or asking again */
    }
    json_copy(s->stream, sizeof(s->stream), st->name, strlen(st->name));
    json_copy(s->consumer, sizeof(s->consumer), ci->name, strlen(ci->name));
    s->t.stream_created_ms = st->created_ms;
    s->t.consumer_created_ms = ci->created_ms;
    s->t.shard = r->shard;
    struct api_error e = {0};
    if (api_subscribe_position(c, s, &e) != 0) {
        api_subscribe_free_state(c);
        api_respond_error(c, &e);
        return;
    }
    api_subscribe_admit(c, st);
}

void api_subscribe_to_shard_run(struct api_call *c)
{
    c->op_state = eddy_xcalloc(1, sizeof(struct api_subscribe_state));
    backend_catalog(c->ctx->backend, false, api_subscribe_on_catalog, c);
}
