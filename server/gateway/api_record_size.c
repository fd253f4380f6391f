/*
 * Two per-stream capacity settings:
 *
 *  - UpdateMaxRecordSize: StreamARN, MaxRecordSizeInKiB (required,
 *    1024..10240). PutRecord and PutRecords then accept records up to that
 *    size (api_put_record.c). Answers 200 with an empty body.
 *  - UpdateStreamWarmThroughput: StreamName or StreamARN, WarmThroughputMiBps
 *    (required, >= 0), for ON_DEMAND streams of an account with
 *    MinimumThroughputBillingCommitment, at most 10 GiBps. Answers the
 *    stream's name, ARN and WarmThroughput: TargetMiBps the value asked,
 *    CurrentMiBps what the stream had before (the scaling is asynchronous).
 *
 * Both need the stream ACTIVE; the coordinator keeps the value in the
 * catalogue, where DescribeStreamSummary reads it on any gateway.
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <stdio.h>

bool api_warm_throughput_allowed(struct api_call *c,
                                 const Eddy__Catalog *cat,
                                 const char *name,
                                 Eddy__StreamMode mode,
                                 uint32_t mibps)
{
    if (mode != EDDY__STREAM_MODE__MODE_ON_DEMAND) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Warm throughput is only supported for streams in ON_DEMAND mode. Stream %s "
                 "under account %s is in PROVISIONED mode.",
                 name, c->cfg.account);
        return false;
    }
    const Eddy__AccountSettings *acct = cat != NULL ? cat->account : NULL;
    bool committed = acct != NULL && acct->commitment_enabled &&
                     (acct->ended_ms == 0 || api_now_ms() < acct->ended_ms);
    if (!committed) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Warm throughput requires MinimumThroughputBillingCommitment to be enabled for "
                 "account %s.",
                 c->cfg.account);
        return false;
    }
    if (mibps > API_WARM_THROUGHPUT_MIBPS_MAX) {
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "Requested warm throughput of %u MiBps for stream %s under account %s exceeds "
                 "the limit of %u MiBps.",
                 mibps, name, c->cfg.account, (unsigned)API_WARM_THROUGHPUT_MIBPS_MAX);
        return false;
    }
    return true;
}

void api_write_warm_throughput(struct json_out *o, const Eddy__StreamInfo *st)
{
    if (st->warm_throughput_mibps == 0) {
        return;
    }
    /* The change takes the stream through UPDATING; once it is ACTIVE
     * again the stream runs at the target (Eddy does not throttle by it). */
    json_out_key(o, "WarmThroughput");
    json_out_obj_begin(o);
    json_out_kv_u64(o, "TargetMiBps", st->warm_throughput_mibps);
    json_out_kv_u64(o, "CurrentMiBps", st->warm_throughput_mibps);
    json_out_obj_end(o);
}

bool api_records_fit(struct api_call *c,
                     const Eddy__StreamInfo *st,
                     const struct api_put_entry *entries,
                     size_t n,
                     bool batch)
{
    size_t max = api_stream_record_bytes_max(st);
    unsigned count = 0;
    struct buf text;
    buf_init(&text, API_MESSAGE_BYTES_MAX);
    for (size_t i = 0; i < n && count < KIN_VALIDATION_ERRORS_MAX; i++) {
        if (entries[i].data_len <= max) {
            continue;
        }
        char path[API_PATH_BYTES_MAX];
        if (batch) {
            snprintf(path, sizeof(path), "records.%zu.member.data", i + 1);
        } else {
            snprintf(path, sizeof(path), "data");
        }
        /* The stream's limit is checked past the model's (10 MiB), by the
         * service: its message names no value, unlike the model's checks
         * (AWS's answer quoted in awslabs/amazon-kinesis-producer#680). */
        (void)buf_printf(&text,
                         "%sValue at '%s' failed to satisfy constraint: Member must have length "
                         "less than or equal to %zu",
                         count ? "; " : "", path, max);
        count++;
    }
    if (count > 0) {
        (void)buf_append(&text, "", 1);
        api_fail(c, API_EX_VALIDATION, "%u validation error%s detected: %s.", count,
                 count == 1 ? "" : "s", text.data != NULL ? (const char *)text.data : "");
    }
    buf_free(&text);
    return count == 0;
}

/* ---- UpdateMaxRecordSize ---- */

int api_update_max_record_size_decode(const cJSON *root,
                                      const struct api_config *cfg,
                                      struct api_update_max_record_size_req *r,
                                      struct api_error *e)
{
    struct json_str arn;
    struct json_str id;
    struct json_int kib;
    int rv = json_get_str(root, "StreamARN", &arn, e);
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "MaxRecordSizeInKiB", &kib, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_not_null(&v, "maxRecordSizeInKiB", kib.present);
    validation_range(&v, "maxRecordSizeInKiB", &kib, API_MAX_RECORD_SIZE_KIB_MIN,
                     API_MAX_RECORD_SIZE_KIB_MAX);
    validation_stream_arn(&v, "streamARN", &arn);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    struct json_str no_name = {0};
    rv = api_resolve_stream(cfg, &no_name, &arn, r->name, e);
    if (rv != 0) {
        return rv;
    }
    r->kib = (uint32_t)kib.value;
    return 0;
}

static void api_update_max_record_size_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_update_max_record_size_req *r = &c->req.update_max_record_size;
    if (!api_stream_require_active(c, r->name, st, false)) {
        return;
    }
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)r->name;
    u.created_ms = st->created_ms;
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB;
    u.set_max_record_size_kib = r->kib;
    api_stream_update(c, r->name, &u, NULL);
}

void api_update_max_record_size_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.update_max_record_size.name, true,
                              api_update_max_record_size_on_stream);
}

/* ---- UpdateStreamWarmThroughput ---- */

int api_update_warm_throughput_decode(const cJSON *root,
                                      const struct api_config *cfg,
                                      struct api_update_warm_throughput_req *r,
                                      struct api_error *e)
{
    struct json_str name;
    struct json_str arn;
    struct json_str id;
    struct json_int mibps;
    int rv = json_get_str(root, "StreamARN", &arn, e);
    if (rv == 0) {
        rv = json_get_str(root, "StreamName", &name, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "WarmThroughputMiBps", &mibps, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_stream_arn(&v, "streamARN", &arn);
    validation_stream_name(&v, "streamName", &name);
    validation_not_null(&v, "warmThroughputMiBps", mibps.present);
    validation_range(&v, "warmThroughputMiBps", &mibps, 0, INT32_MAX);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    rv = api_resolve_stream(cfg, &name, &arn, r->name, e);
    if (rv != 0) {
        return rv;
    }
    r->mibps = (uint32_t)mibps.value;
    return 0;
}

static void api_update_warm_throughput_on_updated(struct api_call *c,
                                                  const Eddy__StreamInfo *stream)
{
    const struct api_update_warm_throughput_req *r = &c->req.update_warm_throughput;
    char arn[API_STREAM_ARN_TEXT_MAX];
    api_stream_arn(&c->cfg, stream->name, arn);
    struct json_out o;
    api_out_init(c, &o, 4096);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "StreamARN", arn);
    json_out_kv_cstr(&o, "StreamName", stream->name);
    json_out_key(&o, "WarmThroughput");
    json_out_obj_begin(&o);
    json_out_kv_u64(&o, "TargetMiBps", r->mibps);
    if (r->current_mibps != 0) {
        json_out_kv_u64(&o, "CurrentMiBps", r->current_mibps);
    }
    json_out_obj_end(&o);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

static void api_update_warm_throughput_on_stream(struct api_call *c,
                                                 int status,
                                                 const Eddy__Catalog *cat,
                                                 const Eddy__StreamInfo *st)
{
    struct api_update_warm_throughput_req *r = &c->req.update_warm_throughput;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    if (!api_stream_require_active(c, r->name, st, false)) {
        return;
    }
    if (!api_warm_throughput_allowed(c, cat, r->name, st->mode, r->mibps)) {
        return;
    }
    r->current_mibps = st->warm_throughput_mibps;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)r->name;
    u.created_ms = st->created_ms;
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS;
    u.set_warm_throughput_mibps = r->mibps;
    api_stream_update(c, r->name, &u, api_update_warm_throughput_on_updated);
}

void api_update_warm_throughput_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.update_warm_throughput.name, true,
                      api_update_warm_throughput_on_stream);
}
