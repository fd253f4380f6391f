/* Unit tests for tools/lib/bench/src/report.c: rates, CPU shares, number formats, the
 * summary line and the JSON report that tools/bench reads. */
#include "hist.h"
#include "report.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void ck_count(uint64_t n, const char *want)
{
    char out[32];
    size_t len = report_format_count(n, out, sizeof(out));
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(len, strlen(want));
}

static void ck_us(uint64_t us, const char *want)
{
    char out[32];
    report_format_us(us, out, sizeof(out));
    ck_assert_str_eq(out, want);
}

static bool ck_near(double got, double want)
{
    return fabs(got - want) <= 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
}

/* A report of 10 s with 250,000 records of 100 B and two target processes. */
static void fill_put(struct report *r, struct hist *h)
{
    report_init(r, "put", "eddy", "PutRecords");
    r->connections = 8;
    r->record_bytes = 100;
    r->batch = 500;
    r->shards = 4;
    r->seconds = 10;
    r->requests = 500;
    r->records = 250000;
    r->bytes = 25000000;
    r->client_cpu_s = 1.5;
    r->proc_count = 2;
    r->procs[0] =
        (struct report_proc){.pid = 11, .cpu_s = 6, .rss_max_kib = 2048, .rss_end_kib = 1024};
    r->procs[1] =
        (struct report_proc){.pid = 12, .cpu_s = 4, .rss_max_kib = 4096, .rss_end_kib = 4096};
    for (uint64_t v = 1; v <= 1000; v++) {
        hist_record(h, v * 10); /* 10 us .. 10 ms */
    }
    r->latency_us = h;
}

START_TEST(test_report_format_count_groups)
{
    ck_count(0, "0");
    ck_count(7, "7");
    ck_count(999, "999");
    ck_count(1000, "1,000");
    ck_count(25000, "25,000");
    ck_count(1234567, "1,234,567");
    ck_count(UINT64_MAX, "18,446,744,073,709,551,615");
}
END_TEST

START_TEST(test_report_format_count_cut)
{
    char out[4];
    size_t len = report_format_count(1234567, out, sizeof(out));
    ck_assert_str_eq(out, "1,2");
    ck_assert_uint_eq(len, 3);
}
END_TEST

START_TEST(test_report_format_us_units)
{
    ck_us(0, "0 us");
    ck_us(640, "640 us");
    ck_us(999, "999 us");
    ck_us(1000, "1.00 ms");
    ck_us(1234, "1.23 ms");
    ck_us(9994, "9.99 ms");
    ck_us(45600, "45.6 ms");
    ck_us(312000, "312 ms");
    ck_us(2500000, "2.50 s");
}
END_TEST

START_TEST(test_report_rates)
{
    struct report r;
    struct hist *h = hist_create();
    fill_put(&r, h);
    ck_assert(ck_near(report_records_per_s(&r), 25000));
    ck_assert(ck_near(report_mb_per_s(&r), 2.5));
    ck_assert(ck_near(report_client_cpu_pct(&r), 15));
    ck_assert(ck_near(report_server_cpu_pct(&r), 100)); /* 6 + 4 s in 10 s */
    hist_destroy(h);
}
END_TEST

START_TEST(test_report_rates_empty_window)
{
    struct report r;
    report_init(&r, "get", "kinesalite", "GetRecords");
    r.records = 10;
    r.client_cpu_s = 1;
    ck_assert(report_records_per_s(&r) == 0);
    ck_assert(report_mb_per_s(&r) == 0);
    ck_assert(report_client_cpu_pct(&r) == 0);
    ck_assert(report_server_cpu_pct(&r) == 0);
}
END_TEST

START_TEST(test_report_init_cuts_names)
{
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    struct report r;
    report_init(&r, longname, NULL, "x");
    ck_assert_uint_eq(strlen(r.workload), REPORT_NAME_MAX - 1);
    ck_assert_str_eq(r.target, "");
    ck_assert_str_eq(r.api, "x");
    ck_assert_uint_eq(r.records, 0);
    ck_assert_ptr_null(r.latency_us);
}
END_TEST

START_TEST(test_report_summary_line)
{
    struct report r;
    struct hist *h = hist_create();
    fill_put(&r, h);
    char line[512];
    size_t len = report_summary(&r, line, sizeof(line));
    ck_assert_uint_eq(len, strlen(line));
    ck_assert_ptr_nonnull(strstr(line, "eddy put PutRecords: 25,000 records/s, 2.5 MB/s"));
    ck_assert_ptr_nonnull(strstr(line, "latency p50 5.02 ms"));
    ck_assert_ptr_nonnull(strstr(line, "max 10.0 ms"));
    ck_assert_ptr_nonnull(strstr(line, "generator 15%, target 100%"));
    ck_assert_ptr_null(strstr(line, "FAILED"));
    hist_destroy(h);
}
END_TEST

START_TEST(test_report_summary_failures)
{
    struct report r;
    report_init(&r, "put", "kinesalite", "PutRecord");
    r.seconds = 1;
    r.failed_requests = 3;
    strcpy(r.first_error, "HTTP 400 ValidationException bad");
    char line[512];
    report_summary(&r, line, sizeof(line));
    ck_assert_ptr_nonnull(strstr(line, "FAILED 3 calls, 0 records, 0 lost"));
    ck_assert_ptr_nonnull(strstr(line, "ValidationException"));
    ck_assert_ptr_null(strstr(line, "latency")); /* no histogram */
}
END_TEST

START_TEST(test_report_summary_cut)
{
    struct report r;
    struct hist *h = hist_create();
    fill_put(&r, h);
    char line[10];
    size_t len = report_summary(&r, line, sizeof(line));
    ck_assert_uint_eq(len, 9);
    ck_assert_str_eq(line, "eddy put ");
    hist_destroy(h);
}
END_TEST

static double json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s is a number", key);
    return v->valuedouble;
}

START_TEST(test_report_json_fields)
{
    struct report r;
    struct hist *h = hist_create();
    fill_put(&r, h);
    r.failed_records = 2;
    char *json = report_to_json(&r);
    ck_assert_ptr_nonnull(json);
    ck_assert_ptr_null(strchr(json, '\n'));
    cJSON *o = cJSON_Parse(json);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "workload")->valuestring, "put");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "target")->valuestring, "eddy");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "api")->valuestring, "PutRecords");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "first_error")->valuestring, "");
    ck_assert(json_num(o, "connections") == 8);
    ck_assert(json_num(o, "record_bytes") == 100);
    ck_assert(json_num(o, "batch") == 500);
    ck_assert(json_num(o, "shards") == 4);
    ck_assert(json_num(o, "seconds") == 10);
    ck_assert(json_num(o, "records") == 250000);
    ck_assert(json_num(o, "bytes") == 25000000);
    ck_assert(ck_near(json_num(o, "records_per_s"), 25000));
    ck_assert(ck_near(json_num(o, "mb_per_s"), 2.5));
    ck_assert(json_num(o, "failed_records") == 2);
    ck_assert(json_num(o, "failed_requests") == 0);
    ck_assert(json_num(o, "lost_records") == 0);
    ck_assert(ck_near(json_num(o, "client_cpu_pct"), 15));
    ck_assert(ck_near(json_num(o, "server_cpu_pct"), 100));

    const cJSON *procs = cJSON_GetObjectItem(o, "server_procs");
    ck_assert_int_eq(cJSON_GetArraySize(procs), 2);
    const cJSON *p0 = cJSON_GetArrayItem(procs, 0);
    ck_assert(json_num(p0, "pid") == 11);
    ck_assert(json_num(p0, "cpu_s") == 6);
    ck_assert(json_num(p0, "rss_max_mib") == 2);
    ck_assert(json_num(p0, "rss_end_mib") == 1);
    cJSON_Delete(o);
    report_json_free(json);
    hist_destroy(h);
}
END_TEST

START_TEST(test_report_json_latency)
{
    struct report r;
    struct hist *h = hist_create();
    fill_put(&r, h);
    char *json = report_to_json(&r);
    cJSON *o = cJSON_Parse(json);
    const cJSON *lat = cJSON_GetObjectItem(o, "latency_ms");
    ck_assert(cJSON_IsObject(lat));
    /* Milliseconds, from the histogram's own percentiles. */
    ck_assert(json_num(lat, "count") == 1000);
    ck_assert(ck_near(json_num(lat, "min"), 0.01));
    ck_assert(ck_near(json_num(lat, "max"), 10.0));
    ck_assert(ck_near(json_num(lat, "p50"), (double)hist_percentile(h, 50) / 1000));
    ck_assert(ck_near(json_num(lat, "p90"), (double)hist_percentile(h, 90) / 1000));
    ck_assert(ck_near(json_num(lat, "p99"), (double)hist_percentile(h, 99) / 1000));
    ck_assert(ck_near(json_num(lat, "p999"), (double)hist_percentile(h, 99.9) / 1000));
    ck_assert(ck_near(json_num(lat, "mean"), hist_mean(h) / 1000));
    /* The buckets add up to the count, in increasing order. */
    const cJSON *buckets = cJSON_GetObjectItem(lat, "buckets_us");
    ck_assert(cJSON_IsArray(buckets));
    double total = 0;
    double last = -1;
    const cJSON *pair = NULL;
    cJSON_ArrayForEach(pair, buckets)
    {
        ck_assert_int_eq(cJSON_GetArraySize(pair), 2);
        double v = cJSON_GetArrayItem(pair, 0)->valuedouble;
        ck_assert(v > last);
        last = v;
        total += cJSON_GetArrayItem(pair, 1)->valuedouble;
    }
    ck_assert(total == 1000);
    ck_assert(last == 10000);
    cJSON_Delete(o);
    report_json_free(json);
    hist_destroy(h);
}
END_TEST

START_TEST(test_report_json_no_latency)
{
    struct report r;
    report_init(&r, "e2e", "kinesalite", "PutRecords+GetRecords");
    r.lost_records = 4;
    strcpy(r.first_error, "say \"no\"");
    char *json = report_to_json(&r);
    cJSON *o = cJSON_Parse(json);
    ck_assert_ptr_nonnull(o);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "latency_ms")));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "server_procs")), 0);
    ck_assert(json_num(o, "lost_records") == 4);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "first_error")->valuestring, "say \"no\"");
    cJSON_Delete(o);
    report_json_free(json);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");

    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_report_format_count_groups);
    tcase_add_test(tc, test_report_format_count_cut);
    tcase_add_test(tc, test_report_format_us_units);
    suite_add_tcase(s, tc);

    tc = tcase_create("rates");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_report_rates);
    tcase_add_test(tc, test_report_rates_empty_window);
    tcase_add_test(tc, test_report_init_cuts_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("summary");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_report_summary_line);
    tcase_add_test(tc, test_report_summary_failures);
    tcase_add_test(tc, test_report_summary_cut);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_report_json_fields);
    tcase_add_test(tc, test_report_json_latency);
    tcase_add_test(tc, test_report_json_no_latency);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
