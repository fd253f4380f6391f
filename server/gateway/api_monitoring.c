/*
 * EnableEnhancedMonitoring and DisableEnhancedMonitoring: StreamName or
 * StreamARN, ShardLevelMetrics (required, 1..7 of IncomingBytes,
 * IncomingRecords, OutgoingBytes, OutgoingRecords, WriteProvisioned-
 * ThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAge-
 * Milliseconds, ALL; ALL stands for all seven). The stream must be ACTIVE.
 * The coordinator adds (removes) the metrics to (from) the stream's list in
 * the catalogue; the answer names the stream and lists the metrics before
 * (CurrentShardLevelMetrics) and after (DesiredShardLevelMetrics) the change.
 * DescribeStream and DescribeStreamSummary show the list as EnhancedMonitoring.
 *
 * A list member's constraint prints as Coral prints it: the whole list as
 * Java's List.toString, then "Member must satisfy constraint: [<rule>]".
 */
#include "api.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <stdio.h>
#include <string.h>

/* MetricsNameList: 1..7 entries (model). */
#define API_METRICS_LIST_MIN 1
#define API_METRICS_LIST_MAX 7

static const char *const api_metric_names[API_METRIC_COUNT_] = {
    [API_METRIC_INCOMING_BYTES] = "IncomingBytes",
    [API_METRIC_INCOMING_RECORDS] = "IncomingRecords",
    [API_METRIC_OUTGOING_BYTES] = "OutgoingBytes",
    [API_METRIC_OUTGOING_RECORDS] = "OutgoingRecords",
    [API_METRIC_WRITE_THROUGHPUT_EXCEEDED] = "WriteProvisionedThroughputExceeded",
    [API_METRIC_READ_THROUGHPUT_EXCEEDED] = "ReadProvisionedThroughputExceeded",
    [API_METRIC_ITERATOR_AGE] = "IteratorAgeMilliseconds",
};

/* The enum value set, as the model lists it. */
static const char *const api_metric_values[] = {
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
    "ALL",
};

static_assert(API_METRIC_COUNT_ == API_METRICS_LIST_MAX, "a list can name every metric");
static_assert(EDDY_ARRAY_LEN(api_metric_values) == API_METRIC_COUNT_ + 1, "the metrics and ALL");

const char *api_metric_name(enum api_metric m)
{
    EDDY_ASSERT(m >= 0 && m < API_METRIC_COUNT_);
    return api_metric_names[m];
}

int api_metric_lookup(const char *s, size_t len)
{
    for (int m = 0; m < API_METRIC_COUNT_; m++) {
        if (strlen(api_metric_names[m]) == len && memcmp(api_metric_names[m], s, len) == 0) {
            return m;
        }
    }
    return -1;
}

uint32_t api_stream_metrics(const Eddy__StreamInfo *st)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < st->n_shard_level_metrics; i++) {
        const char *n = st->shard_level_metrics[i];
        int m = n != NULL ? api_metric_lookup(n, strlen(n)) : -1;
        if (m >= 0) {
            bits |= 1u << m;
        }
    }
    return bits;
}

void api_write_metrics(struct json_out *o, const char *key, uint32_t metrics)
{
    json_out_key(o, key);
    json_out_arr_begin(o);
    for (int m = 0; m < API_METRIC_COUNT_; m++) {
        if (metrics & (1u << m)) {
            json_out_cstr(o, api_metric_names[m]);
        }
    }
    json_out_arr_end(o);
}

/* ---- decoding ---- */

/* The list as Java prints a List<String>: "[a, b, null]", cut once it passes
 * the bound on a value in a message. */
static void api_monitoring_list_text(const cJSON *list, struct buf *out)
{
    (void)buf_append_str(out, "[");
    size_t i = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, list)
    {
        if (out->len > API_MESSAGE_VALUE_BYTES_MAX) {
            break;
        }
        const char *s = cJSON_IsString(item) ? item->valuestring : "null";
        (void)buf_printf(out, "%s%s", i ? ", " : "", s);
        i++;
    }
    (void)buf_append_str(out, "]");
}

/* Reads the list's names into *bits (ALL: every metric); *valid is false
 * when an entry is null or names no metric. Entries past the list bound are
 * only type-checked. */
static int
api_monitoring_read_list(const cJSON *list, uint32_t *bits, bool *valid, struct api_error *e)
{
    *bits = 0;
    *valid = true;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, list)
    {
        struct json_str s;
        int rv = json_item_str(item, &s, e);
        if (rv != 0) {
            return rv;
        }
        int k = s.present
                    ? json_enum_index(&s, api_metric_values, EDDY_ARRAY_LEN(api_metric_values))
                    : -1;
        if (k < 0) {
            *valid = false;
        } else if (k == API_METRIC_COUNT_) {
            *bits |= API_METRICS_ALL;
        } else {
            *bits |= 1u << k;
        }
    }
    return 0;
}

/* ShardLevelMetrics: not null, 1..7 entries, each a metric name or ALL. */
static void
api_monitoring_validate_list(struct validation *v, const cJSON *list, int count, bool valid)
{
    validation_not_null(v, "shardLevelMetrics", list != NULL);
    if (list == NULL || (valid && count >= API_METRICS_LIST_MIN && count <= API_METRICS_LIST_MAX)) {
        return;
    }
    struct buf text;
    buf_init(&text, API_MESSAGE_VALUE_BYTES_MAX * 2);
    api_monitoring_list_text(list, &text);
    char rule[640];
    if (count < API_METRICS_LIST_MIN || count > API_METRICS_LIST_MAX) {
        snprintf(rule, sizeof(rule), "Member must have length %s than or equal to %d",
                 count < API_METRICS_LIST_MIN ? "greater" : "less",
                 count < API_METRICS_LIST_MIN ? API_METRICS_LIST_MIN : API_METRICS_LIST_MAX);
        validation_add(v, (const char *)text.data, text.len, "shardLevelMetrics", rule);
    }
    if (!valid) {
        size_t used = (size_t)snprintf(
            rule, sizeof(rule),
            "Member must satisfy constraint: [Member must satisfy enum value set: [");
        for (size_t k = 0; k < EDDY_ARRAY_LEN(api_metric_values) && used < sizeof(rule); k++) {
            used += (size_t)snprintf(rule + used, sizeof(rule) - used, "%s%s", k ? ", " : "",
                                     api_metric_values[k]);
        }
        if (used < sizeof(rule)) {
            snprintf(rule + used, sizeof(rule) - used, "]]");
        }
        validation_add(v, (const char *)text.data, text.len, "shardLevelMetrics", rule);
    }
    buf_free(&text);
}

int api_monitoring_decode(const cJSON *root,
                          const struct api_config *cfg,
                          struct api_monitoring_req *r,
                          struct api_error *e)
{
    struct api_stream_input in;
    const cJSON *list = NULL;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_list(root, "ShardLevelMetrics", &list, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    uint32_t bits = 0;
    bool valid = true;
    if (rv == 0 && list != NULL) {
        rv = api_monitoring_read_list(list, &bits, &valid, e);
    }
    if (rv != 0) {
        return rv;
    }
    int count = list != NULL ? cJSON_GetArraySize(list) : 0;
    api_monitoring_validate_list(&in.v, list, count, valid);
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    rv = api_stream_input_resolve(cfg, &in, r->name, e);
    if (rv != 0) {
        return rv;
    }
    r->metrics = bits;
    return 0;
}

/* ---- serving ---- */

static void api_monitoring_on_updated(struct api_call *c, const Eddy__StreamInfo *stream)
{
    const struct api_monitoring_req *r = &c->req.monitoring;
    char arn[API_STREAM_ARN_TEXT_MAX];
    api_stream_arn(&c->cfg, stream->name, arn);
    struct json_out o;
    api_out_init(c, &o, 4096);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "StreamName", stream->name);
    api_write_metrics(&o, "CurrentShardLevelMetrics", r->current);
    api_write_metrics(&o, "DesiredShardLevelMetrics", api_stream_metrics(stream));
    json_out_kv_cstr(&o, "StreamARN", arn);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

/* Sends the change: the metrics asked, enabled (EnableEnhancedMonitoring)
 * or disabled. */
static void api_monitoring_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    bool enable = c->op == API_OP_ENABLE_ENHANCED_MONITORING;
    struct api_monitoring_req *r = &c->req.monitoring;
    if (!api_stream_require_active(c, r->name, st, false)) {
        return;
    }
    r->current = api_stream_metrics(st);
    char *names[API_METRIC_COUNT_];
    size_t n = 0;
    for (int m = 0; m < API_METRIC_COUNT_; m++) {
        if (r->metrics & (1u << m)) {
            names[n++] = (char *)api_metric_names[m];
        }
    }
    Eddy__MetricNames list = EDDY__METRIC_NAMES__INIT;
    list.n_names = n;
    list.names = names;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = r->name;
    u.created_ms = st->created_ms;
    if (enable) {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_ENABLE_METRICS;
        u.enable_metrics = &list;
    } else {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_DISABLE_METRICS;
        u.disable_metrics = &list;
    }
    api_stream_update(c, r->name, &u, api_monitoring_on_updated);
}

void api_enable_enhanced_monitoring_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.monitoring.name, true, api_monitoring_on_stream);
}

void api_disable_enhanced_monitoring_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.monitoring.name, true, api_monitoring_on_stream);
}
