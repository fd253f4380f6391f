/*
 * PutRecords: StreamName or StreamARN, Records (1..500 of PartitionKey,
 * Data, ExplicitHashKey), at most 10 MiB of data and keys in all. Each
 * record is routed like PutRecord; the backend splits them by shard group
 * and answers in request order. Per-record failures come back inside a 200:
 * ErrorCode and ErrorMessage in place of SequenceNumber and ShardId, counted
 * in FailedRecordCount.
 */
#include "api.h"

#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <stdio.h>
#include <string.h>

/* How a too-long Records list prints: AWS shows each entry's Java identity
 * ("[...PutRecordsRequestEntry@2, ...]"); Eddy stops at the value bound. */
static void api_put_records_list_value(const cJSON *list, struct buf *out)
{
    static const char entry[] = "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@";
    (void)buf_append_str(out, "[");
    size_t i = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, list)
    {
        if (i == API_MESSAGE_LIST_ITEMS_MAX ||
            out->len + sizeof(entry) + 16 > API_MESSAGE_VALUE_BYTES_MAX - 8) {
            (void)buf_append_str(out, ", ...");
            break;
        }
        (void)buf_printf(out, "%s%s%x", i ? ", " : "", entry, (unsigned)(i * 31u + 2u));
        i++;
    }
    (void)buf_append_str(out, "]");
}

/* Records: not null, 1..500 entries; its value as AWS prints it. */
static void api_put_records_validate_list(struct validation *v, const cJSON *list, int count)
{
    validation_not_null(v, "records", list != NULL);
    if (list == NULL || (count >= 1 && count <= KIN_PUT_RECORDS_COUNT_MAX)) {
        return;
    }
    struct buf value;
    buf_init(&value, API_MESSAGE_VALUE_BYTES_MAX * 4);
    api_put_records_list_value(list, &value);
    char rule[96];
    if (count < 1) {
        snprintf(rule, sizeof(rule), "Member must have length greater than or equal to 1");
    } else {
        snprintf(rule, sizeof(rule), "Member must have length less than or equal to %d",
                 KIN_PUT_RECORDS_COUNT_MAX);
    }
    validation_add(v, (const char *)value.data, value.len, "records", rule);
    buf_free(&value);
}

/* Reads every entry, then validates the list, the entries and the names in
 * AWS's order. On success *out holds count fields (the array owned, the
 * fields borrowed from the document). */
static int api_put_records_read(const cJSON *root,
                                struct json_str *name,
                                struct json_str *arn,
                                const cJSON **list,
                                struct api_put_fields **out,
                                int *count,
                                struct api_error *e)
{
    struct json_str id;
    int rv = json_get_list(root, "Records", list, e);
    if (rv == 0) {
        rv = json_get_str(root, "StreamName", name, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamARN", arn, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv != 0) {
        return rv;
    }
    *count = *list != NULL ? cJSON_GetArraySize(*list) : 0;
    /* Entries past the limit are only counted; the list is rejected anyway. */
    size_t keep = *count < KIN_PUT_RECORDS_COUNT_MAX ? (size_t)*count : KIN_PUT_RECORDS_COUNT_MAX;
    struct api_put_fields *f = eddy_xcalloc(keep + 1, sizeof(*f));
    size_t i = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, *list)
    {
        if (i == keep) {
            break;
        }
        const cJSON *obj = NULL;
        rv = json_item_struct(item, &obj, e);
        if (rv == 0) {
            rv = api_put_fields_read(obj, &f[i], e);
        }
        if (rv != 0) {
            eddy_free(f);
            return rv;
        }
        i++;
    }
    *out = f;
    return 0;
}

int api_put_records_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_put_records_req *r,
                           struct api_error *e)
{
    struct json_str name;
    struct json_str arn;
    const cJSON *list = NULL;
    struct api_put_fields *f = NULL;
    int count = 0;
    int rv = api_put_records_read(root, &name, &arn, &list, &f, &count, e);
    if (rv != 0) {
        return rv;
    }
    size_t keep = count < KIN_PUT_RECORDS_COUNT_MAX ? (size_t)count : KIN_PUT_RECORDS_COUNT_MAX;
    struct validation v;
    validation_init(&v);
    api_put_records_validate_list(&v, list, count);
    for (size_t i = 0; i < keep && !validation_full(&v); i++) {
        if (api_put_fields_are_valid(&f[i])) {
            continue;
        }
        char prefix[API_PATH_BYTES_MAX];
        snprintf(prefix, sizeof(prefix), "records.%zu.member.", i + 1);
        api_put_fields_validate(&v, prefix, &f[i]);
    }
    validation_stream_name(&v, "streamName", &name);
    validation_stream_arn(&v, "streamARN", &arn);
    rv = validation_finish(&v, e);
    if (rv == 0) {
        rv = api_resolve_stream(cfg, &name, &arn, r->name, e);
    }
    size_t bytes = 0;
    for (size_t i = 0; rv == 0 && i < keep; i++) {
        bytes += f[i].data.len + f[i].partition_key.len;
    }
    if (rv == 0 && bytes > KIN_PUT_RECORDS_BYTES_MAX) {
        /* AWS's words, from when the limit was 5 MiB ("Records size exceeds
         * 5 MB limit": aws/amazon-kinesis-streams-for-fluent-bit#21,
         * snowplow/enrich#685); no period, no sizes. */
        api_error_set(e, API_EX_INVALID_ARGUMENT, "Records size exceeds %d MB limit",
                      KIN_PUT_RECORDS_BYTES_MAX / (1024 * 1024));
        rv = -EDDY_ETOOBIG;
    }
    if (rv != 0) {
        eddy_free(f);
        return rv;
    }
    r->entries = eddy_xcalloc(keep, sizeof(*r->entries));
    for (size_t i = 0; i < keep; i++) {
        api_put_fields_move(&f[i], &r->entries[i]);
    }
    eddy_free(f);
    r->count = keep;
    r->bytes = bytes;
    return 0;
}

void api_put_records_free(struct api_put_records_req *r)
{
    eddy_free(r->entries); /* their data is borrowed from the document */
    r->entries = NULL;
    r->count = 0;
}

static void api_put_records_write(struct api_call *c, const struct backend_put *recs, size_t n)
{
    const struct api_put_records_req *r = &c->req.put_records;
    uint64_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        failed += recs[i].code != 0;
    }
    struct json_out o;
    json_out_init(&o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    json_out_kv_u64(&o, "FailedRecordCount", failed);
    json_out_key(&o, "Records");
    json_out_arr_begin(&o);
    for (size_t i = 0; i < n; i++) {
        char id[API_SHARD_ID_TEXT_MAX];
        api_shard_id(recs[i].shard, id);
        json_out_obj_begin(&o);
        if (recs[i].code == 0) {
            json_out_key(&o, "SequenceNumber");
            json_out_u128(&o, recs[i].seq);
            json_out_kv_cstr(&o, "ShardId", id);
        } else if (recs[i].code == -EDDY_ETHROTTLED) {
            char msg[API_SHARD_ID_TEXT_MAX + API_NAME_TEXT_MAX + 96];
            snprintf(msg, sizeof(msg), "Rate exceeded for shard %s in stream %s under account %s.",
                     id, r->name, c->cfg.account);
            json_out_kv_cstr(&o, "ErrorCode", "ProvisionedThroughputExceededException");
            json_out_kv_cstr(&o, "ErrorMessage", msg);
        } else {
            json_out_kv_cstr(&o, "ErrorCode", "InternalFailure");
            json_out_kv_cstr(&o, "ErrorMessage", "Internal service failure.");
        }
        json_out_obj_end(&o);
    }
    json_out_arr_end(&o);
    json_out_kv_cstr(&o, "EncryptionType", api_encryption_name(r->kms));
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

static void api_put_records_on_put(void *arg, int status, struct backend_put *recs, size_t n)
{
    struct api_call *c = arg;
    const struct api_put_records_req *r = &c->req.put_records;
    struct backend_put *puts = c->op_state;
    c->op_state = NULL;
    if (status == -EDDY_ENOTFOUND) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", r->name,
                 c->cfg.account);
    } else if (status != 0) {
        api_fail_code(c, status, NULL);
    } else if (n != r->count) {
        api_fail_code(c, -EDDY_EUNKNOWN, NULL);
    } else {
        api_put_records_write(c, recs, n);
    }
    eddy_free(puts);
}

static void api_put_records_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_put_records_req *r = &c->req.put_records;
    if (st == NULL || (st->status != EDDY__STREAM_STATUS__STREAM_ACTIVE &&
                       st->status != EDDY__STREAM_STATUS__STREAM_UPDATING)) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", r->name,
                 c->cfg.account);
        return;
    }
    if (!api_records_fit(c, st, r->entries, r->count, true)) {
        return;
    }
    c->req.put_records.kms = backend_stream_is_encrypted(st);
    for (size_t i = 0; i < r->count; i++) {
        if (r->entries[i].has_hash_key && r->entries[i].hash_key_out_of_range) {
            api_fail(c, API_EX_INVALID_ARGUMENT,
                     "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                     "[0, 2^128-1]. Specified value was %s",
                     r->entries[i].hash_key_text);
            return;
        }
    }
    struct backend_put *puts = eddy_xcalloc(r->count, sizeof(*puts));
    u128 *hashes = eddy_xcalloc(r->count, sizeof(*hashes));
    struct u128_md5 *md5 = u128_md5_create();
    for (size_t i = 0; i < r->count; i++) {
        const struct api_put_entry *en = &r->entries[i];
        hashes[i] = api_put_entry_hash(en, md5);
        const Eddy__ShardInfo *sh = api_route(st, hashes[i]);
        if (sh == NULL) {
            u128_md5_destroy(md5);
            eddy_free(hashes);
            eddy_free(puts);
            api_fail_code(c, -EDDY_EUNKNOWN, NULL);
            return;
        }
        puts[i].shard = sh->index;
        puts[i].partition_key = en->partition_key;
        puts[i].partition_key_len = en->partition_key_len;
        puts[i].data = en->data;
        puts[i].data_len = en->data_len;
    }
    u128_md5_destroy(md5);
    c->op_state = puts;
    api_put_send(c, st, puts, hashes, r->count, api_put_records_on_put); /* follows a reshard */
    eddy_free(hashes);
}

void api_put_records_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.put_records.name, false, api_put_records_on_stream);
}
