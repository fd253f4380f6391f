/*
 * GetRecords: ShardIterator (1..512, surrounding quotes tolerated), Limit
 * (1..10000, default 10000), StreamARN. Reads at most Limit records and
 * KIN_GET_RECORDS_BYTES_MAX bytes from the iterator's position and answers
 * Records, a fresh NextShardIterator (always re-signed with a new issue
 * time) and MillisBehindLatest. At the end of a closed shard there is no
 * NextShardIterator but ChildShards instead.
 *
 * An iterator names its stream incarnation (created_ms): once the stream is
 * deleted, or deleted and re-created, its shards "do not exist" for it.
 */
#include "api.h"

#include "backend.h"
#include "iterator.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <string.h>

/* Children a closed shard can have: two after a split, one after a merge. */
#define API_GET_RECORDS_CHILDREN_MAX 4

int api_get_records_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_get_records_req *r,
                           struct api_error *e)
{
    struct json_str iter;
    struct json_str arn;
    struct json_str id;
    struct json_int limit;
    int rv = json_get_str(root, "ShardIterator", &iter, e);
    if (rv == 0) {
        rv = json_get_int(root, "Limit", &limit, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamARN", &arn, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_range(&v, "limit", &limit, 1, KIN_GET_RECORDS_LIMIT_MAX);
    validation_not_null(&v, "shardIterator", iter.present);
    validation_length(&v, "shardIterator", &iter, 1, KIN_SHARD_ITERATOR_LEN_MAX);
    validation_stream_arn(&v, "streamARN", &arn);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    if (arn.present) {
        struct json_str no_name = {0};
        rv = api_resolve_stream(cfg, &no_name, &arn, r->arn_name, e);
        if (rv != 0) {
            return rv;
        }
        r->has_arn = true;
    }
    const char *text = iter.ptr;
    size_t len = iter.len;
    iterator_strip_quotes(&text, &len);
    json_copy(r->iterator, sizeof(r->iterator), text, len);
    r->limit = limit.present ? (uint32_t)limit.value : KIN_GET_RECORDS_LIMIT_MAX;
    return 0;
}

struct api_get_records_child {
    uint32_t index;
    int64_t parent;
    int64_t adjacent_parent;
    uint8_t bytes[32]; /* starting and ending hash keys, big-endian */
};

/* op_state from the decoded iterator to the answer. */
struct api_get_records_state {
    struct iterator it;
    bool closed;
    u128 ending; /* the closed shard's EndingSequenceNumber */
    size_t n_children;
    struct api_get_records_child children[API_GET_RECORDS_CHILDREN_MAX];
    size_t key_len;
    uint8_t key[];
};

static void api_get_records_free_state(struct api_call *c)
{
    eddy_free(c->op_state);
    c->op_state = NULL;
}

static void api_get_records_fail(struct api_call *c, enum api_exception ex)
{
    struct api_get_records_state *s = c->op_state;
    char shard_id[API_SHARD_ID_TEXT_MAX];
    api_shard_id(s->it.shard, shard_id);
    char stream[API_NAME_TEXT_MAX];
    memcpy(stream, s->it.stream, sizeof(stream));
    api_get_records_free_state(c);
    if (ex == API_EX_THROUGHPUT_EXCEEDED) {
        /* GetRecords' own form since at least 2023 (KCL 2.x and RisingWave
         * logs); PutRecord(s) still say "Rate exceeded for shard S in
         * stream N under account A." */
        api_fail(c, ex, "Rate exceeded for Shard - %s/%s/%s", c->cfg.account, stream, shard_id);
        return;
    }
    api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Shard %s in stream %s under account %s does not exist",
             shard_id, stream, c->cfg.account);
}

static void api_get_records_write_children(struct json_out *o,
                                           const struct api_get_records_state *s)
{
    json_out_key(o, "ChildShards");
    json_out_arr_begin(o);
    for (size_t i = 0; i < s->n_children; i++) {
        const struct api_get_records_child *ch = &s->children[i];
        char id[API_SHARD_ID_TEXT_MAX];
        json_out_obj_begin(o);
        api_shard_id(ch->index, id);
        json_out_kv_cstr(o, "ShardId", id);
        json_out_key(o, "ParentShards");
        json_out_arr_begin(o);
        int64_t parents[2] = {ch->parent, ch->adjacent_parent};
        for (int k = 0; k < 2; k++) {
            if (parents[k] >= 0 && parents[k] <= (int64_t)UINT32_MAX) {
                api_shard_id((uint32_t)parents[k], id);
                json_out_cstr(o, id);
            }
        }
        json_out_arr_end(o);
        json_out_key(o, "HashKeyRange");
        json_out_obj_begin(o);
        json_out_key(o, "StartingHashKey");
        json_out_u128(o, u128_from_be(ch->bytes));
        json_out_key(o, "EndingHashKey");
        json_out_u128(o, u128_from_be(ch->bytes + 16));
        json_out_obj_end(o);
        json_out_obj_end(o);
    }
    json_out_arr_end(o);
}

static void api_get_records_write(struct api_call *c, const Eddy__ReadResp *resp)
{
    struct api_get_records_state *s = c->op_state;
    struct json_out o;
    api_out_init(c, &o, API_RESPONSE_BYTES_MAX); /* CBOR directly: raw Data, no base64 pass */
    json_out_obj_begin(&o);
    json_out_key(&o, "Records");
    json_out_arr_begin(&o);
    for (size_t i = 0; i < resp->n_records; i++) {
        const Eddy__ReadRecord *rec = resp->records[i];
        json_out_obj_begin(&o);
        json_out_key(&o, "SequenceNumber");
        json_out_u128(&o, rec->sequence.len == 16 ? u128_from_be(rec->sequence.data) : 0);
        json_out_key(&o, "ApproximateArrivalTimestamp");
        json_out_timestamp_ms(&o, rec->arrival_ms);
        json_out_key(&o, "Data");
        json_out_blob(&o, rec->data.data, rec->data.len);
        json_out_key(&o, "PartitionKey");
        json_out_cstr(&o, rec->partition_key != NULL ? rec->partition_key : "");
        if (rec->encryption == BACKEND_RECORD_KMS) {
            /* As written; absent for records stored unencrypted, as AWS. */
            json_out_kv_cstr(&o, "EncryptionType", "KMS");
        }
        json_out_obj_end(&o);
    }
    json_out_arr_end(&o);
    struct iterator next = s->it;
    next.issued_ms = api_now_ms();
    if (resp->next_sequence.len == 16) {
        next.position = ITERATOR_AFTER_SEQUENCE;
        next.seq = u128_from_be(resp->next_sequence.data);
    }
    /* The end: the group says nothing follows these records in the shard,
     * and the catalogue shows it closed (the reshard finished, so ListShards
     * shows the children too). Before that a reader just reads again. */
    bool at_end = s->closed && resp->shard_end;
    if (at_end) {
        api_get_records_write_children(&o, s);
    } else {
        char text[API_ITERATOR_TEXT_MAX + 1];
        struct iterator_key key = {s->key, s->key_len};
        iterator_encode(&next, &key, text);
        json_out_kv_cstr(&o, "NextShardIterator", text);
    }
    json_out_kv_u64(&o, "MillisBehindLatest", resp->millis_behind_latest);
    json_out_obj_end(&o);
    api_get_records_free_state(c);
    api_respond_out(c, &o);
}

static void api_get_records_on_read(void *arg, int status, const Eddy__ReadResp *resp)
{
    struct api_call *c = arg;
    if (status == -EDDY_ETHROTTLED) {
        api_get_records_fail(c, API_EX_THROUGHPUT_EXCEEDED);
        return;
    }
    if (status == -EDDY_ENOTFOUND) {
        api_get_records_fail(c, API_EX_RESOURCE_NOT_FOUND);
        return;
    }
    if (status != 0 || resp == NULL) {
        api_get_records_free_state(c);
        api_fail_code(c, status != 0 ? status : -EDDY_EUNKNOWN, NULL);
        return;
    }
    api_get_records_write(c, resp);
}

/* Records what the answer needs of the shard (the catalogue is gone by the
 * time the backend answers). */
static void api_get_records_note_shard(struct api_get_records_state *s,
                                       const Eddy__StreamInfo *st,
                                       const Eddy__ShardInfo *sh)
{
    s->closed = sh->ending_sequence.len == 16;
    s->ending = s->closed ? u128_from_be(sh->ending_sequence.data) : 0;
    for (size_t i = 0; s->closed && i < st->n_shards; i++) {
        const Eddy__ShardInfo *ch = st->shards[i];
        if (ch == NULL || s->n_children == API_GET_RECORDS_CHILDREN_MAX ||
            (ch->parent != (int64_t)sh->index && ch->adjacent_parent != (int64_t)sh->index)) {
            continue;
        }
        struct api_get_records_child *out = &s->children[s->n_children++];
        out->index = ch->index;
        out->parent = ch->parent;
        out->adjacent_parent = ch->adjacent_parent;
        memset(out->bytes, 0, sizeof(out->bytes));
        if (ch->hash_start.len == 16) {
            memcpy(out->bytes, ch->hash_start.data, 16);
        }
        if (ch->hash_end.len == 16) {
            memcpy(out->bytes + 16, ch->hash_end.data, 16);
        }
    }
}

static void api_get_records_on_stream(struct api_call *c,
                                      int status,
                                      const Eddy__Catalog *cat,
                                      const Eddy__StreamInfo *st)
{
    (void)cat;
    struct api_get_records_state *s = c->op_state;
    if (status != 0) {
        api_get_records_free_state(c);
        api_fail_code(c, status, NULL);
        return;
    }
    const Eddy__ShardInfo *sh = st != NULL && st->created_ms == s->it.stream_created_ms
                                    ? api_readable_shard(st, s->it.shard)
                                    : NULL;
    if (sh == NULL) {
        api_get_records_fail(c, API_EX_RESOURCE_NOT_FOUND);
        return;
    }
    api_get_records_note_shard(s, st, sh);
    struct backend_read rd = {
        .shard = s->it.shard,
        .seq = s->it.seq,
        .timestamp_ms = s->it.timestamp_ms,
        .limit = c->req.get_records.limit,
        .bytes_max = KIN_GET_RECORDS_BYTES_MAX,
    };
    switch (s->it.position) {
    case ITERATOR_AT_SEQUENCE:
        rd.position = EDDY__POSITION__POSITION_AT_SEQUENCE;
        break;
    case ITERATOR_AFTER_SEQUENCE:
        rd.position = EDDY__POSITION__POSITION_AFTER_SEQUENCE;
        break;
    case ITERATOR_AT_TIMESTAMP:
        rd.position = EDDY__POSITION__POSITION_AT_TIMESTAMP;
        break;
    case ITERATOR_TRIM_HORIZON:
        rd.position = EDDY__POSITION__POSITION_TRIM_HORIZON;
        break;
    }
    backend_read(c->ctx->backend, st, &rd, api_get_records_on_read, c);
}

static void api_get_records_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_call *c = arg;
    const struct api_get_records_req *r = &c->req.get_records;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
    struct iterator it;
    uint64_t now = api_now_ms();
    int rv = iterator_decode(r->iterator, strlen(r->iterator), &key, now, &it);
    if (rv == -EDDY_EEXPIRED) {
        char msg[256];
        iterator_expired_message(it.issued_ms, now, msg, sizeof(msg));
        api_fail(c, API_EX_EXPIRED_ITERATOR, "%s", msg);
        return;
    }
    if (rv != 0 || (r->has_arn && strcmp(r->arn_name, it.stream) != 0)) {
        api_fail(c, API_EX_INVALID_ARGUMENT, "Invalid ShardIterator.");
        return;
    }
    struct api_get_records_state *s = eddy_xcalloc(1, sizeof(*s) + key.len + 1);
    s->it = it;
    s->key_len = key.len;
    if (key.len > 0) {
        memcpy(s->key, key.data, key.len);
    }
    c->op_state = s;
    api_lookup_shard(c, s->it.stream, s->it.shard, api_get_records_on_stream);
}

void api_get_records_run(struct api_call *c)
{
    backend_catalog(c->ctx->backend, false, api_get_records_on_catalog, c);
}
