/*
 * PutRecord: StreamName or StreamARN, Data (base64, at most 10 MiB decoded,
 * and at most the stream's MaxRecordSizeInKiB, 1 MiB unless raised),
 * PartitionKey (1..256 characters), ExplicitHashKey, SequenceNumberFor-
 * Ordering. Routes by MD5(PartitionKey) or ExplicitHashKey to the open shard
 * whose hash range holds it and answers ShardId, SequenceNumber and
 * EncryptionType (KMS when the stream is encrypted: the record is stored so
 * marked). Also holds the record members PutRecords shares.
 *
 * SequenceNumberForOrdering is validated (pattern, then it must be a
 * sequence number in Eddy's layout) but does not change ordering: a shard's
 * sequence numbers already increase with every write.
 */
#include "api.h"

#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/seqnum.h"

#include <stdio.h>
#include <string.h>

int api_put_fields_read(const cJSON *obj, struct api_put_fields *f, struct api_error *e)
{
    memset(f, 0, sizeof(*f));
    if (obj == NULL) {
        return 0;
    }
    int rv = json_get_str(obj, "PartitionKey", &f->partition_key, e);
    if (rv == 0) {
        rv = json_get_str(obj, "ExplicitHashKey", &f->hash_key, e);
    }
    if (rv == 0) {
        rv = json_get_blob(obj, "Data", &f->data, e);
    }
    return rv;
}

/* The record's checks in AWS's order, at the three members' paths. */
static void api_put_fields_check(struct validation *v,
                                 const char *key_path,
                                 const char *hash_path,
                                 const char *data_path,
                                 const struct api_put_fields *f)
{
    validation_not_null(v, key_path, f->partition_key.present);
    validation_length(v, key_path, &f->partition_key, 1, KIN_PARTITION_KEY_LEN_MAX);
    validation_pattern(v, hash_path, &f->hash_key, JSON_PATTERN_HASH_KEY);
    validation_not_null(v, data_path, f->data.present);
    validation_blob_max(v, data_path, &f->data, KIN_RECORD_DATA_LARGE_MAX);
}

void api_put_fields_validate(struct validation *v,
                             const char *prefix,
                             const struct api_put_fields *f)
{
    char key_path[API_PATH_BYTES_MAX];
    char hash_path[API_PATH_BYTES_MAX];
    char data_path[API_PATH_BYTES_MAX];
    snprintf(key_path, sizeof(key_path), "%spartitionKey", prefix);
    snprintf(hash_path, sizeof(hash_path), "%sexplicitHashKey", prefix);
    snprintf(data_path, sizeof(data_path), "%sdata", prefix);
    api_put_fields_check(v, key_path, hash_path, data_path, f);
}

bool api_put_fields_are_valid(const struct api_put_fields *f)
{
    struct validation probe;
    validation_init(&probe);
    api_put_fields_check(&probe, "", "", "", f);
    bool is_valid = probe.count == 0;
    validation_free(&probe);
    return is_valid;
}

void api_put_fields_move(struct api_put_fields *f, struct api_put_entry *entry)
{
    memset(entry, 0, sizeof(*entry));
    entry->partition_key = f->partition_key.ptr;
    entry->partition_key_len = f->partition_key.len;
    entry->data = f->data.data;
    entry->data_len = f->data.len;
    entry->has_hash_key = f->hash_key.present;
    if (f->hash_key.present) {
        json_copy(entry->hash_key_text, sizeof(entry->hash_key_text), f->hash_key.ptr,
                  f->hash_key.len);
        /* The pattern allows 39 digits: values from 2^128 up are an
         * InvalidArgumentException once the stream is known. */
        entry->hash_key_out_of_range =
            u128_parse_decimal(f->hash_key.ptr, f->hash_key.len, &entry->hash_key) != 0;
    }
}

u128 api_put_entry_hash(const struct api_put_entry *entry, struct u128_md5 *md5)
{
    if (entry->has_hash_key) {
        return entry->hash_key;
    }
    if (md5 != NULL) {
        return u128_md5_next(md5, entry->partition_key, entry->partition_key_len);
    }
    return u128_md5(entry->partition_key, entry->partition_key_len);
}

int api_put_record_decode(const cJSON *root,
                          const struct api_config *cfg,
                          struct api_put_record_req *r,
                          struct api_error *e)
{
    struct api_stream_input in;
    struct json_str ordering;
    struct api_put_fields f;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_str(root, "SequenceNumberForOrdering", &ordering, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv == 0) {
        rv = api_put_fields_read(root, &f, e);
    }
    if (rv != 0) {
        return rv;
    }
    validation_pattern(&in.v, "sequenceNumberForOrdering", &ordering, JSON_PATTERN_SEQUENCE);
    api_put_fields_validate(&in.v, "", &f);
    rv = api_stream_input_finish(&in, e);
    if (rv == 0) {
        rv = api_stream_input_resolve(cfg, &in, r->name, e);
    }
    if (rv != 0) {
        return rv;
    }
    api_put_fields_move(&f, &r->entry);
    r->has_ordering = ordering.present;
    if (ordering.present) {
        json_copy(r->ordering, sizeof(r->ordering), ordering.ptr, ordering.len);
    }
    return 0;
}

void api_put_record_free(struct api_put_record_req *r)
{
    r->entry.data = NULL; /* borrowed from the document */
}

static void api_put_record_on_put(void *arg, int status, struct backend_put *recs, size_t n)
{
    struct api_call *c = arg;
    const struct api_put_record_req *r = &c->req.put_record;
    struct backend_put *put = c->op_state;
    c->op_state = NULL;
    int code = status != 0 ? status : (n == 1 ? recs[0].code : -EDDY_EUNKNOWN);
    uint32_t shard = put->shard;
    u128 seq = n == 1 ? recs[0].seq : 0;
    eddy_free(put);
    char id[API_SHARD_ID_TEXT_MAX];
    api_shard_id(shard, id);
    if (code == -EDDY_ENOTFOUND) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", r->name,
                 c->cfg.account);
        return;
    }
    if (code == -EDDY_ETHROTTLED) {
        api_fail(c, API_EX_THROUGHPUT_EXCEEDED,
                 "Rate exceeded for shard %s in stream %s under account %s.", id, r->name,
                 c->cfg.account);
        return;
    }
    if (code != 0) {
        api_fail_code(c, code, NULL);
        return;
    }
    struct json_out o;
    json_out_init(&o, 4096);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "ShardId", id);
    json_out_key(&o, "SequenceNumber");
    json_out_u128(&o, seq);
    json_out_kv_cstr(&o, "EncryptionType", api_encryption_name(r->kms));
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

/* The stream accepts writes (ACTIVE or UPDATING). */
static bool api_put_record_writable(const Eddy__StreamInfo *st)
{
    return st != NULL && (st->status == EDDY__STREAM_STATUS__STREAM_ACTIVE ||
                          st->status == EDDY__STREAM_STATUS__STREAM_UPDATING);
}

static void api_put_record_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_put_record_req *r = &c->req.put_record;
    if (!api_put_record_writable(st)) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", r->name,
                 c->cfg.account);
        return;
    }
    if (!api_records_fit(c, st, &r->entry, 1, false)) {
        return;
    }
    c->req.put_record.kms = backend_stream_is_encrypted(st);
    if (r->entry.has_hash_key && r->entry.hash_key_out_of_range) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
                 "Specified value was %s",
                 r->entry.hash_key_text);
        return;
    }
    if (r->has_ordering) {
        u128 seq = 0;
        uint64_t index;
        uint32_t shard, place;
        if (u128_parse_decimal(r->ordering, strlen(r->ordering), &seq) != 0 ||
            !seqnum_split(seq, &index, &shard, &place)) {
            api_fail(c, API_EX_INVALID_ARGUMENT,
                     "ExclusiveMinimumSequenceNumber %s used in PutRecord on stream %s under "
                     "account %s is invalid.",
                     r->ordering, r->name, c->cfg.account);
            return;
        }
    }
    u128 hash = api_put_entry_hash(&r->entry, NULL);
    const Eddy__ShardInfo *sh = api_route(st, hash);
    if (sh == NULL) {
        api_fail_code(c, -EDDY_EUNKNOWN, NULL);
        return;
    }
    struct backend_put *put = eddy_xcalloc(1, sizeof(*put));
    put->shard = sh->index;
    put->partition_key = r->entry.partition_key;
    put->partition_key_len = r->entry.partition_key_len;
    put->data = r->entry.data;
    put->data_len = r->entry.data_len;
    c->op_state = put;
    api_put_send(c, st, put, &hash, 1, api_put_record_on_put); /* follows a reshard */
}

void api_put_record_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.put_record.name, false, api_put_record_on_stream);
}
