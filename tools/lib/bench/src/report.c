/*
 * JSON and text forms of a struct report (report.h). cJSON stays inside
 * this module. Latencies go out in milliseconds with microsecond
 * precision; the histogram goes out as [bucket high value in us, count]
 * pairs for the non-empty buckets, enough to redraw a CDF.
 */
#include "report.h"

#include "eddy/assert.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void report_copy_name(char *dst, const char *src)
{
    snprintf(dst, REPORT_NAME_MAX, "%s", src != NULL ? src : "");
}

void report_init(struct report *r, const char *workload, const char *target, const char *api)
{
    EDDY_ASSERT(r != NULL);
    memset(r, 0, sizeof(*r));
    report_copy_name(r->workload, workload);
    report_copy_name(r->target, target);
    report_copy_name(r->api, api);
}

double report_records_per_s(const struct report *r)
{
    return r->seconds > 0 ? (double)r->records / r->seconds : 0.0;
}

double report_mb_per_s(const struct report *r)
{
    return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0.0;
}

double report_client_cpu_pct(const struct report *r)
{
    return r->seconds > 0 ? 100.0 * r->client_cpu_s / r->seconds : 0.0;
}

double report_server_cpu_pct(const struct report *r)
{
    double s = 0;
    for (size_t i = 0; i < r->proc_count; i++) {
        s += r->procs[i].cpu_s;
    }
    return r->seconds > 0 ? 100.0 * s / r->seconds : 0.0;
}

/* Milliseconds from microseconds, as a JSON number with 3 decimals. */
static double report_ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static cJSON *report_latency_json(const struct hist *h)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    static const struct {
        const char *key;
        double p;
    } pcts[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    cJSON_AddNumberToObject(o, "count", (double)hist_count(h));
    cJSON_AddNumberToObject(o, "min", report_ms(hist_min(h)));
    cJSON_AddNumberToObject(o, "mean", hist_mean(h) / 1000.0);
    for (size_t i = 0; i < EDDY_ARRAY_LEN(pcts); i++) {
        cJSON_AddNumberToObject(o, pcts[i].key, report_ms(hist_percentile(h, pcts[i].p)));
    }
    cJSON_AddNumberToObject(o, "max", report_ms(hist_max(h)));
    cJSON *buckets = cJSON_AddArrayToObject(o, "buckets_us");
    if (buckets == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    struct hist_iter it;
    hist_iter_init(&it);
    while (hist_iter_next(h, &it)) {
        cJSON *pair = cJSON_CreateArray();
        if (pair == NULL) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)it.value_high));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)it.count));
        cJSON_AddItemToArray(buckets, pair);
    }
    return o;
}

static cJSON *report_procs_json(const struct report *r)
{
    cJSON *a = cJSON_CreateArray();
    if (a == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < r->proc_count; i++) {
        cJSON *p = cJSON_CreateObject();
        if (p == NULL) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddNumberToObject(p, "pid", r->procs[i].pid);
        cJSON_AddNumberToObject(p, "cpu_s", r->procs[i].cpu_s);
        cJSON_AddNumberToObject(p, "rss_max_mib", (double)r->procs[i].rss_max_kib / 1024.0);
        cJSON_AddNumberToObject(p, "rss_end_mib", (double)r->procs[i].rss_end_kib / 1024.0);
        cJSON_AddItemToArray(a, p);
    }
    return a;
}

char *report_to_json(const struct report *r)
{
    EDDY_ASSERT(r != NULL);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "workload", r->workload);
    cJSON_AddStringToObject(o, "target", r->target);
    cJSON_AddStringToObject(o, "api", r->api);
    cJSON_AddNumberToObject(o, "connections", r->connections);
    cJSON_AddNumberToObject(o, "record_bytes", r->record_bytes);
    cJSON_AddNumberToObject(o, "batch", r->batch);
    cJSON_AddNumberToObject(o, "shards", r->shards);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddNumberToObject(o, "requests", (double)r->requests);
    cJSON_AddNumberToObject(o, "records", (double)r->records);
    cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
    cJSON_AddNumberToObject(o, "records_per_s", report_records_per_s(r));
    cJSON_AddNumberToObject(o, "mb_per_s", report_mb_per_s(r));
    cJSON_AddNumberToObject(o, "failed_requests", (double)r->failed_requests);
    cJSON_AddNumberToObject(o, "failed_records", (double)r->failed_records);
    cJSON_AddNumberToObject(o, "lost_records", (double)r->lost_records);
    cJSON_AddStringToObject(o, "first_error", r->first_error);
    cJSON_AddNumberToObject(o, "client_cpu_pct", report_client_cpu_pct(r));
    cJSON_AddNumberToObject(o, "server_cpu_pct", report_server_cpu_pct(r));
    cJSON *procs = report_procs_json(r);
    if (procs == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "server_procs", procs);
    if (r->latency_us != NULL) {
        cJSON *lat = report_latency_json(r->latency_us);
        if (lat == NULL) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, "latency_ms", lat);
    } else {
        cJSON_AddNullToObject(o, "latency_ms");
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void report_json_free(char *json)
{
    cJSON_free(json);
}

size_t report_format_count(uint64_t n, char *out, size_t cap)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(cap > 0);
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%" PRIu64, n);
    EDDY_ASSERT(len > 0 && (size_t)len < sizeof(digits));
    char tmp[32];
    size_t o = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) {
            tmp[o++] = ',';
        }
        tmp[o++] = digits[i];
    }
    tmp[o] = '\0';
    int w = snprintf(out, cap, "%s", tmp);
    return (size_t)w < cap ? (size_t)w : cap - 1;
}

size_t report_format_us(uint64_t us, char *out, size_t cap)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(cap > 0);
    int w;
    if (us < 1000) {
        w = snprintf(out, cap, "%" PRIu64 " us", us);
    } else if (us < 10000) {
        w = snprintf(out, cap, "%.2f ms", (double)us / 1e3);
    } else if (us < 100000) {
        w = snprintf(out, cap, "%.1f ms", (double)us / 1e3);
    } else if (us < 1000000) {
        w = snprintf(out, cap, "%.0f ms", (double)us / 1e3);
    } else {
        w = snprintf(out, cap, "%.2f s", (double)us / 1e6);
    }
    return (size_t)w < cap ? (size_t)w : cap - 1;
}

size_t report_summary(const struct report *r, char *out, size_t cap)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(cap > 0);
    char rate[32];
    report_format_count((uint64_t)(report_records_per_s(r) + 0.5), rate, sizeof(rate));
    char lat[128] = "";
    if (r->latency_us != NULL && hist_count(r->latency_us) > 0) {
        char p50[16];
        char p99[16];
        char p999[16];
        char max[16];
        report_format_us(hist_percentile(r->latency_us, 50), p50, sizeof(p50));
        report_format_us(hist_percentile(r->latency_us, 99), p99, sizeof(p99));
        report_format_us(hist_percentile(r->latency_us, 99.9), p999, sizeof(p999));
        report_format_us(hist_max(r->latency_us), max, sizeof(max));
        snprintf(lat, sizeof(lat), "; latency p50 %s p99 %s p99.9 %s max %s", p50, p99, p999, max);
    }
    char fail[REPORT_ERROR_MAX + 96] = "";
    if (r->failed_requests > 0 || r->failed_records > 0 || r->lost_records > 0) {
        snprintf(fail, sizeof(fail),
                 "; FAILED %" PRIu64 " calls, %" PRIu64 " records, %" PRIu64 " lost (%s)",
                 r->failed_requests, r->failed_records, r->lost_records, r->first_error);
    }
    int w = snprintf(out, cap,
                     "%s %s %s: %s records/s, %.1f MB/s%s; cpu: generator %.0f%%, target %.0f%%%s",
                     r->target, r->workload, r->api, rate, report_mb_per_s(r), lat,
                     report_client_cpu_pct(r), report_server_cpu_pct(r), fail);
    return (size_t)w < cap ? (size_t)w : cap - 1;
}
