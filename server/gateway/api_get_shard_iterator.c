/*
 * GetShardIterator: StreamName or StreamARN, ShardId, ShardIteratorType
 * (AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST,
 * AT_TIMESTAMP), StartingSequenceNumber, Timestamp. Answers a signed
 * ShardIterator (iterator.h). LATEST is pinned now: the backend resolves it
 * to the shard's last sequence number and the iterator reads after it. The
 * other positions need no backend call.
 *
 * Texts are AWS's: "Shard shardId-N in stream S under account A does not
 * exist", "Could not find shard X in stream S under account A.", the "Must
 * either specify (1) ..." rule, "Invalid StartingSequenceNumber. It encodes
 * shardId-X, while it was used in a call to a shard with shardId-Y", the
 * AT_TIMESTAMP texts about timestampInMillis.
 */
#include "api.h"

#include "backend.h"
#include "iterator.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/seqnum.h"

#include <inttypes.h>
#include <string.h>

/* The order AWS lists them in its enum message. */
static const char *const api_iterator_types[] = {
    "AFTER_SEQUENCE_NUMBER", "LATEST", "AT_TIMESTAMP", "AT_SEQUENCE_NUMBER", "TRIM_HORIZON",
};
static const enum api_iterator_type api_iterator_type_of[] = {
    API_ITERATOR_AFTER_SEQUENCE_NUMBER, API_ITERATOR_LATEST,       API_ITERATOR_AT_TIMESTAMP,
    API_ITERATOR_AT_SEQUENCE_NUMBER,    API_ITERATOR_TRIM_HORIZON,
};

static const char *api_iterator_type_name(enum api_iterator_type t)
{
    for (size_t i = 0; i < EDDY_ARRAY_LEN(api_iterator_type_of); i++) {
        if (api_iterator_type_of[i] == t) {
            return api_iterator_types[i];
        }
    }
    return "";
}

int api_get_shard_iterator_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_get_shard_iterator_req *r,
                                  struct api_error *e)
{
    struct api_stream_input in;
    struct json_str shard, type, seq;
    struct json_timestamp ts;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_str(root, "ShardId", &shard, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "ShardIteratorType", &type, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StartingSequenceNumber", &seq, e);
    }
    if (rv == 0) {
        rv = json_get_timestamp(root, "Timestamp", &ts, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_not_null(&in.v, "shardId", shard.present);
    validation_pattern(&in.v, "shardId", &shard, JSON_PATTERN_NAME);
    validation_length(&in.v, "shardId", &shard, 1, KIN_SHARD_ID_LEN_MAX);
    validation_not_null(&in.v, "shardIteratorType", type.present);
    validation_enum(&in.v, "shardIteratorType", &type, api_iterator_types,
                    EDDY_ARRAY_LEN(api_iterator_types));
    validation_pattern(&in.v, "startingSequenceNumber", &seq, JSON_PATTERN_SEQUENCE);
    rv = api_stream_input_finish(&in, e);
    if (rv == 0) {
        rv = api_stream_input_resolve(cfg, &in, r->name, e);
    }
    if (rv != 0) {
        return rv;
    }
    json_copy(r->shard_id, sizeof(r->shard_id), shard.ptr, shard.len);
    r->shard_ok = api_parse_shard_id(shard.ptr, shard.len, &r->shard);
    r->type = api_iterator_type_of[json_enum_index(&type, api_iterator_types,
                                                   EDDY_ARRAY_LEN(api_iterator_types))];
    r->has_sequence = seq.present;
    if (seq.present) {
        json_copy(r->sequence, sizeof(r->sequence), seq.ptr, seq.len);
    }
    r->has_timestamp = ts.present;
    r->timestamp_ms = ts.ms;
    return 0;
}

/* The position rules that need no catalogue, in AWS's order. Fills it's
 * position; returns 0 or fails the call and returns -1. */
static int
api_get_shard_iterator_position(struct api_call *c, const char *shard_id, struct iterator *it)
{
    const struct api_get_shard_iterator_req *r = &c->req.get_shard_iterator;
    const char *type = api_iterator_type_name(r->type);
    bool by_seq =
        r->type == API_ITERATOR_AT_SEQUENCE_NUMBER || r->type == API_ITERATOR_AFTER_SEQUENCE_NUMBER;
    bool symbolic = r->type == API_ITERATOR_TRIM_HORIZON || r->type == API_ITERATOR_LATEST;
    if ((by_seq && !r->has_sequence) || (symbolic && r->has_sequence)) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
                 "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
                 "StartingSequenceNumber. Request specified %s and %s StartingSequenceNumber.",
                 type, r->has_sequence ? "also a" : "no");
        return -1;
    }
    if (by_seq) {
        uint64_t index;
        uint32_t shard, place;
        if (u128_parse_decimal(r->sequence, strlen(r->sequence), &it->seq) != 0 ||
            !seqnum_split(it->seq, &index, &shard, &place)) {
            api_fail(c, API_EX_INVALID_ARGUMENT,
                     "StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s "
                     "under account %s is invalid.",
                     r->sequence, shard_id, r->name, c->cfg.account);
            return -1;
        }
        if (shard != r->shard) {
            char encoded[API_SHARD_ID_TEXT_MAX];
            api_shard_id(shard, encoded);
            api_fail(c, API_EX_INVALID_ARGUMENT,
                     "Invalid StartingSequenceNumber. It encodes %s, while it was used in a call "
                     "to a shard with %s",
                     encoded, shard_id);
            return -1;
        }
        it->position = r->type == API_ITERATOR_AT_SEQUENCE_NUMBER ? ITERATOR_AT_SEQUENCE
                                                                  : ITERATOR_AFTER_SEQUENCE;
        return 0;
    }
    if (r->type == API_ITERATOR_AT_TIMESTAMP) {
        if (!r->has_timestamp) {
            api_fail(c, API_EX_INVALID_ARGUMENT,
                     "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                     "Current request has no timestamp parameter.");
            return -1;
        }
        uint64_t now = api_now_ms();
        if (r->timestamp_ms > (int64_t)now) {
            api_fail(c, API_EX_INVALID_ARGUMENT,
                     "The timestampInMillis parameter cannot be greater than the "
                     "currentTimestampInMillis. timestampInMillis: %" PRId64
                     ", currentTimestampInMillis: %" PRIu64,
                     r->timestamp_ms, now);
            return -1;
        }
        it->position = ITERATOR_AT_TIMESTAMP;
        it->timestamp_ms = r->timestamp_ms > 0 ? (uint64_t)r->timestamp_ms : 0;
        return 0;
    }
    it->position = ITERATOR_TRIM_HORIZON; /* LATEST is resolved by the backend */
    return 0;
}

/* Answers {"ShardIterator": ...}. */
static void api_get_shard_iterator_send(struct api_call *c,
                                        const struct iterator *it,
                                        const struct iterator_key *key)
{
    char text[API_ITERATOR_TEXT_MAX + 1];
    iterator_encode(it, key, text);
    struct json_out o;
    json_out_init(&o, API_ITERATOR_TEXT_MAX + 64);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "ShardIterator", text);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

/* op_state while LATEST resolves: the iterator so far and a key copy (the
 * catalogue is gone by the time the backend answers). */
struct api_get_shard_iterator_state {
    struct iterator it;
    size_t key_len;
    uint8_t key[];
};

static void api_get_shard_iterator_on_read(void *arg, int status, const Eddy__ReadResp *resp)
{
    struct api_call *c = arg;
    struct api_get_shard_iterator_state *s = c->op_state;
    c->op_state = NULL;
    if (status != 0 || resp == NULL) {
        eddy_free(s);
        api_fail_code(c, status != 0 ? status : -EDDY_EUNKNOWN, NULL);
        return;
    }
    struct iterator it = s->it;
    if (resp->next_sequence.len == 16) {
        it.position = ITERATOR_AFTER_SEQUENCE;
        it.seq = u128_from_be(resp->next_sequence.data);
    } else {
        /* Nothing written yet: everything from the start comes after now. */
        it.position = ITERATOR_AT_SEQUENCE;
        it.seq = seqnum_shard_start(it.shard);
    }
    struct iterator_key key = {s->key, s->key_len};
    api_get_shard_iterator_send(c, &it, &key);
    eddy_free(s);
}

/* The shard the request names, if the stream serves reads. */
static void api_get_shard_iterator_on_stream(struct api_call *c,
                                             int status,
                                             const Eddy__Catalog *cat,
                                             const Eddy__StreamInfo *st)
{
    const struct api_get_shard_iterator_req *r = &c->req.get_shard_iterator;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    char shard_id[API_SHARD_ID_TEXT_MAX];
    api_shard_id(r->shard, shard_id);
    const Eddy__ShardInfo *sh = api_readable_shard(st, r->shard);
    if (sh == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                 "Shard %s in stream %s under account %s does not exist", shard_id, r->name,
                 c->cfg.account);
        return;
    }
    struct iterator it = {0};
    if (api_get_shard_iterator_position(c, shard_id, &it) != 0) {
        return; /* answered */
    }
    /* A closed shard's EndingSequenceNumber is the last one it can have:
     * nothing comes after it (AWS's answer, peers.md section 3). */
    if (it.position == ITERATOR_AFTER_SEQUENCE && !api_shard_is_open(sh) &&
        sh->ending_sequence.len == 16 && it.seq == u128_from_be(sh->ending_sequence.data)) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Invalid SequenceNumber for ShardIteratorType AFTER_SEQUENCE_NUMBER, "
                 "SequenceNumber has reached max possible value for the shard.");
        return;
    }
    json_copy(it.stream, sizeof(it.stream), st->name, strlen(st->name));
    it.stream_created_ms = st->created_ms;
    it.shard = r->shard;
    it.issued_ms = api_now_ms();
    if (r->type != API_ITERATOR_LATEST) {
        struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
        api_get_shard_iterator_send(c, &it, &key);
        return;
    }
    struct api_get_shard_iterator_state *s =
        eddy_xcalloc(1, sizeof(*s) + cat->iterator_key.len + 1);
    s->it = it;
    s->key_len = cat->iterator_key.len;
    if (s->key_len > 0) {
        memcpy(s->key, cat->iterator_key.data, s->key_len);
    }
    c->op_state = s;
    struct backend_read rd = {.shard = r->shard, .position = EDDY__POSITION__POSITION_LATEST};
    backend_read(c->ctx->backend, st, &rd, api_get_shard_iterator_on_read, c);
}

void api_get_shard_iterator_run(struct api_call *c)
{
    const struct api_get_shard_iterator_req *r = &c->req.get_shard_iterator;
    if (!r->shard_ok) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                 "Could not find shard %s in stream %s under account %s.", r->shard_id, r->name,
                 c->cfg.account);
        return;
    }
    api_lookup_shard(c, r->name, r->shard, api_get_shard_iterator_on_stream);
}
