/*
 * Requests of the stream-settings actions: UpdateStreamMode (api_stream_mode.c),
 * Enable/DisableEnhancedMonitoring (api_monitoring.c), Start/StopStream-
 * Encryption (api_encryption.c), Put/Get/DeleteResourcePolicy (api_policy.c),
 * UpdateMaxRecordSize and UpdateStreamWarmThroughput (api_record_size.c), and
 * what they share (api_stream_update.c): the ACTIVE check and one call of
 * backend_update_stream with its errors mapped to AWS's.
 *
 * Included by api.h only, inside its requests section (it uses struct
 * api_config, struct api_error and the json readers declared before it).
 */
#ifndef EDDY_GW_API_SETTINGS_H
#define EDDY_GW_API_SETTINGS_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_call;

/* Shard-level metrics, one bit each (AWS's MetricsName without ALL). */
enum api_metric {
    API_METRIC_INCOMING_BYTES,
    API_METRIC_INCOMING_RECORDS,
    API_METRIC_OUTGOING_BYTES,
    API_METRIC_OUTGOING_RECORDS,
    API_METRIC_WRITE_THROUGHPUT_EXCEEDED,
    API_METRIC_READ_THROUGHPUT_EXCEEDED,
    API_METRIC_ITERATOR_AGE,
    API_METRIC_COUNT_
};
#define API_METRICS_ALL ((1u << API_METRIC_COUNT_) - 1)

/* The AWS name of metric m ("IncomingBytes"). */
const char *api_metric_name(enum api_metric m);
/* The metric named s (len bytes), or -1 (also for "ALL"). */
int api_metric_lookup(const char *s, size_t len);
/* The metrics the catalogue lists for st, as bits (unknown names ignored). */
uint32_t api_stream_metrics(const Eddy__StreamInfo *st);
/* "key": [names of the metrics set in metrics, in the model's order]. */
void api_write_metrics(struct json_out *o, const char *key, uint32_t metrics);

struct api_update_stream_mode_req {
    char name[API_NAME_TEXT_MAX];
    Eddy__StreamMode mode;
    bool has_warm; /* WarmThroughputMiBps given */
    uint32_t warm_mibps;
};

/* EnableEnhancedMonitoring and DisableEnhancedMonitoring. */
struct api_monitoring_req {
    char name[API_NAME_TEXT_MAX];
    uint32_t metrics; /* bits of enum api_metric; ALL sets every bit */
    uint32_t current; /* set by the runner: the stream's before the change */
};

/* StartStreamEncryption and StopStreamEncryption. */
struct api_encryption_req {
    char name[API_NAME_TEXT_MAX];
    bool kms;           /* EncryptionType KMS (NONE decodes too, refused at run) */
    const char *key_id; /* borrowed from the document, NUL-terminated */
};

/* PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy. */
struct api_policy_req {
    const char *arn;     /* ResourceARN, borrowed from the document */
    const char *account; /* its account field, not NUL-terminated */
    size_t account_len;
    bool ours;                    /* names a stream or consumer of this region and account */
    bool consumer;                /* a consumer ARN: .../stream/S/consumer/C:T */
    char name[API_NAME_TEXT_MAX]; /* S when ours */
    const char *stream;           /* S (or what stands there), in arn, for messages */
    size_t stream_len;
    struct api_consumer_arn cons; /* the consumer, when ours and consumer (api_consumer.h) */
    const char *policy;           /* PutResourcePolicy: borrowed, NUL-terminated */
};

/* ResourceARN's pattern, arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+, matched
 * whole as Java does (api_policy.c). */
bool api_resource_arn_match(const char *s, size_t len);

struct api_update_max_record_size_req {
    char name[API_NAME_TEXT_MAX];
    uint32_t kib;
};

struct api_update_warm_throughput_req {
    char name[API_NAME_TEXT_MAX];
    uint32_t mibps;
    uint32_t current_mibps; /* set by the runner: the stream's before the change */
};

int api_update_stream_mode_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_update_stream_mode_req *r,
                                  struct api_error *e);
int api_monitoring_decode(const cJSON *root,
                          const struct api_config *cfg,
                          struct api_monitoring_req *r,
                          struct api_error *e);
int api_encryption_decode(const cJSON *root,
                          const struct api_config *cfg,
                          struct api_encryption_req *r,
                          struct api_error *e);
int api_put_resource_policy_decode(const cJSON *root,
                                   const struct api_config *cfg,
                                   struct api_policy_req *r,
                                   struct api_error *e);
/* GetResourcePolicy and DeleteResourcePolicy (ResourceARN only). */
int api_resource_policy_decode(const cJSON *root,
                               const struct api_config *cfg,
                               struct api_policy_req *r,
                               struct api_error *e);
int api_update_max_record_size_decode(const cJSON *root,
                                      const struct api_config *cfg,
                                      struct api_update_max_record_size_req *r,
                                      struct api_error *e);
int api_update_warm_throughput_decode(const cJSON *root,
                                      const struct api_config *cfg,
                                      struct api_update_warm_throughput_req *r,
                                      struct api_error *e);

void api_update_stream_mode_run(struct api_call *c);
void api_enable_enhanced_monitoring_run(struct api_call *c);
void api_disable_enhanced_monitoring_run(struct api_call *c);
void api_start_stream_encryption_run(struct api_call *c);
void api_stop_stream_encryption_run(struct api_call *c);
void api_put_resource_policy_run(struct api_call *c);
void api_get_resource_policy_run(struct api_call *c);
void api_delete_resource_policy_run(struct api_call *c);
void api_update_max_record_size_run(struct api_call *c);
void api_update_warm_throughput_run(struct api_call *c);

/* ---- shared by the runners (api_stream_update.c) ---- */

/* Answers ResourceNotFoundException (st NULL) or ResourceInUseException (st
 * not ACTIVE, nor UPDATING when updating_ok) as AWS words them and returns
 * false; true when st may take the change. The coordinator applies the same
 * rule (coordinator/catalog_update.c): policies may change while UPDATING,
 * the settings that put the stream in UPDATING may not. */
bool api_stream_require_active(struct api_call *c,
                               const char *name,
                               const Eddy__StreamInfo *st,
                               bool updating_ok);

/* Called with the stream after the change (valid during the call only) once
 * the coordinator applied it; the failures were answered already. */
typedef void (*api_stream_updated_cb)(struct api_call *c, const Eddy__StreamInfo *stream);

/* Sends u (borrowed during the call) to the coordinator. On failure answers
 * the AWS error (name is the stream for the messages); on success calls cb,
 * or answers 200 with an empty body when cb is NULL. */
void api_stream_update(struct api_call *c,
                       const char *name,
                       const Eddy__StreamUpdate *u,
                       api_stream_updated_cb cb);

/* Whether WarmThroughputMiBps mibps may be asked for a stream named name
 * that is (or goes) in mode: false, with InvalidArgumentException answered,
 * when mode is not ON_DEMAND or the account has no MinimumThroughputBilling-
 * Commitment; with LimitExceededException above 10 GiBps (api_record_size.c). */
bool api_warm_throughput_allowed(struct api_call *c,
                                 const Eddy__Catalog *cat,
                                 const char *name,
                                 Eddy__StreamMode mode,
                                 uint32_t mibps);

/* Whether every record's data fits st's MaxRecordSizeInKiB: false, with a
 * ValidationException naming each one that does not ("data", or
 * "records.N.member.data" when batch), answered (api_record_size.c). */
bool api_records_fit(struct api_call *c,
                     const Eddy__StreamInfo *st,
                     const struct api_put_entry *entries,
                     size_t n,
                     bool batch);

/* The max record size of st in bytes (MaxRecordSizeInKiB, default 1 MiB). */
size_t api_stream_record_bytes_max(const Eddy__StreamInfo *st);
/* "KMS" or "NONE". */
const char *api_encryption_name(bool kms);
/* "EncryptionType": NONE or KMS, and "KeyId" when KMS (api_encryption.c). */
void api_write_encryption(struct json_out *o, const Eddy__StreamInfo *st);
/* "WarmThroughput": {"TargetMiBps", "CurrentMiBps"} when the stream has one
 * (api_record_size.c); nothing otherwise. */
void api_write_warm_throughput(struct json_out *o, const Eddy__StreamInfo *st);

#endif
