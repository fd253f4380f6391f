/*
 * Per-shard write rates on the shard group leader (server/shard_rate.c):
 * the windows and their moving average, refused records, the bounded
 * table, and the report the heartbeat carries. The clock is a number the
 * test moves.
 */
#include "shard_rate.h"

#include "eddy/alloc.h"
#include "eddy/limits.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0_MS 7000000
#define T_RECORDS_MAX 500

static struct shard_rate *rates;

static void setup(void)
{
    shard_rate_create(&rates);
}

static void teardown(void)
{
    shard_rate_destroy(rates);
    rates = NULL;
}

/* A PutRecordsReq of n records of data_len bytes each (key "k") for one
 * shard of stream (created at 1). */
struct t_put {
    Eddy__PutRecordsReq req;
    Eddy__PutRecord records[T_RECORDS_MAX];
    Eddy__PutRecord *ptrs[T_RECORDS_MAX];
    uint8_t data[64];
};

static void
put(const char *stream, uint32_t group, uint32_t shard, size_t n, size_t data_len, uint64_t now_ms)
{
    static struct t_put p;
    ck_assert_uint_le(n, T_RECORDS_MAX);
    ck_assert_uint_le(data_len, sizeof(p.data));
    eddy__put_records_req__init(&p.req);
    p.req.group = group;
    p.req.stream = (char *)stream;
    p.req.stream_created_ms = 1;
    for (size_t i = 0; i < n; i++) {
        eddy__put_record__init(&p.records[i]);
        p.records[i].shard = shard;
        p.records[i].partition_key = "k";
        p.records[i].data = (ProtobufCBinaryData){data_len, p.data};
        p.ptrs[i] = &p.records[i];
    }
    p.req.n_records = n;
    p.req.records = p.ptrs;
    shard_rate_put(rates, &p.req, NULL, now_ms);
}

static void rate(const char *stream, uint32_t shard, uint64_t now_ms, uint64_t *b, uint64_t *r)
{
    shard_rate_get(rates, stream, 1, shard, now_ms, b, r);
}

static bool lead_all(void *arg, uint32_t group)
{
    (void)arg;
    (void)group;
    return true;
}

static bool lead_odd(void *arg, uint32_t group)
{
    (void)arg;
    return group % 2 == 1;
}

START_TEST(test_shard_rate_steady_rate_converges)
{
    uint64_t b, r;
    /* 100 records of 9 bytes (8 of data, 1 of key) a second. */
    for (int sec = 0; sec < 10; sec++) {
        for (int k = 0; k < 10; k++) {
            put("s", 1, 3, 10, 8, T0_MS + sec * 1000 + k * 100);
        }
        rate("s", 3, T0_MS + (sec + 1) * 1000, &b, &r);
        /* After n windows: 100 (1 - 2^-n), as integers halve. */
        uint64_t want = 100 - (100 >> (sec + 1));
        ck_assert_uint_le(r, 100);
        ck_assert_uint_ge(r + 1, want);
    }
    rate("s", 3, T0_MS + 10000, &b, &r);
    ck_assert_uint_ge(r, 99);
    ck_assert_uint_ge(b, 891);
    ck_assert_uint_le(b, 900);
    /* A window still open does not count yet. */
    put("s", 1, 3, 400, 8, T0_MS + 10500);
    rate("s", 3, T0_MS + 10999, &b, &r);
    ck_assert_uint_ge(r, 99);
    ck_assert_uint_le(r, 100);
    rate("s", 3, T0_MS + 11000, &b, &r);
    ck_assert_uint_ge(r, 249); /* (100 + 400) / 2 */
    ck_assert_uint_le(r, 250);
}
END_TEST

START_TEST(test_shard_rate_idle_windows_halve_then_zero)
{
    uint64_t b, r;
    for (int sec = 0; sec < 12; sec++) {
        put("s", 1, 0, 400, 0, T0_MS + sec * 1000);
    }
    rate("s", 0, T0_MS + 12000, &b, &r);
    ck_assert_uint_ge(r, 399);
    ck_assert_uint_le(r, 400);
    rate("s", 0, T0_MS + 14000, &b, &r); /* two empty windows */
    ck_assert_uint_le(r, 101);
    ck_assert_uint_ge(r, 99);
    rate("s", 0, T0_MS + 14000 + SHARD_RATE_IDLE_WINDOWS_MAX * 1000 + 1000, &b, &r);
    ck_assert_uint_eq(r, 0);
    ck_assert_uint_eq(b, 0);
    /* A clock that goes backwards changes nothing. */
    rate("s", 0, T0_MS, &b, &r);
    ck_assert_uint_eq(r, 0);
}
END_TEST

START_TEST(test_shard_rate_refused_records_do_not_count)
{
    static Eddy__PutRecord recs[4];
    static Eddy__PutRecord *ptrs[4];
    uint8_t data[10] = {0};
    for (int i = 0; i < 4; i++) {
        eddy__put_record__init(&recs[i]);
        recs[i].shard = (uint32_t)(i % 2);
        recs[i].partition_key = "key";
        recs[i].data = (ProtobufCBinaryData){sizeof(data), data};
        ptrs[i] = &recs[i];
    }
    Eddy__PutRecordsReq req = EDDY__PUT_RECORDS_REQ__INIT;
    req.group = 1;
    req.stream = "s";
    req.stream_created_ms = 1;
    req.n_records = 4;
    req.records = ptrs;
    uint8_t refused[4] = {0, 1, 1, 0};
    shard_rate_put(rates, &req, refused, T0_MS);
    uint64_t b, r;
    rate("s", 0, T0_MS + 1000, &b, &r);
    ck_assert_uint_eq(r, 0); /* one record, halved, rounds down: see bytes */
    ck_assert_uint_eq(b, 13 / 2);
    rate("s", 1, T0_MS + 1000, &b, &r);
    ck_assert_uint_eq(b, 13 / 2);
    /* Another incarnation of the stream is another shard. */
    shard_rate_get(rates, "s", 2, 0, T0_MS + 1000, &b, &r);
    ck_assert_uint_eq(b, 0);
    /* A name too long for the catalogue is not counted. */
    char long_name[KIN_STREAM_NAME_LEN_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    req.stream = long_name;
    shard_rate_put(rates, &req, NULL, T0_MS);
    Eddy__NodeStatusResp resp = EDDY__NODE_STATUS_RESP__INIT;
    shard_rate_report(rates, T0_MS + 1000, lead_all, NULL, &resp);
    ck_assert_uint_eq(resp.n_shard_loads, 2);
    shard_rate_report_free(&resp);
}
END_TEST

START_TEST(test_shard_rate_report_busiest_first_and_bounded)
{
    /* 40 shards, shard i with 10 * (i + 1) records in the window. */
    for (uint32_t i = 0; i < 40; i++) {
        put("s", 1 + i % 2, i, 10 * (i + 1), 0, T0_MS);
    }
    put("t", 1, 0, 1, 64, T0_MS); /* 65 bytes: a sliver of a shard */
    Eddy__NodeStatusResp resp = EDDY__NODE_STATUS_RESP__INIT;
    shard_rate_report(rates, T0_MS + 1000, lead_all, NULL, &resp);
    ck_assert_uint_eq(resp.n_shard_loads, SHARD_RATE_REPORT_MAX);
    for (size_t k = 0; k < resp.n_shard_loads; k++) {
        const Eddy__ShardLoad *l = resp.shard_loads[k];
        ck_assert_str_eq(l->stream, "s");
        ck_assert_uint_eq(l->stream_created_ms, 1);
        ck_assert_uint_eq(l->shard, 39 - k);
        ck_assert_uint_eq(l->write_records_per_s, 5 * (40 - k));
    }
    shard_rate_report_free(&resp);
    ck_assert_uint_eq(resp.n_shard_loads, 0);
    ck_assert_ptr_null(resp.shard_loads);
    /* Only the groups this node leads. */
    shard_rate_report(rates, T0_MS + 1000, lead_odd, NULL, &resp);
    ck_assert_uint_eq(resp.n_shard_loads, 21); /* 20 of s on group 1, and t */
    for (size_t k = 0; k < resp.n_shard_loads; k++) {
        const Eddy__ShardLoad *l = resp.shard_loads[k];
        ck_assert(strcmp(l->stream, "t") == 0 || l->shard % 2 == 0);
    }
    shard_rate_report_free(&resp);
    /* Nothing to say once every rate is zero. */
    shard_rate_report(rates, T0_MS + 100000, lead_all, NULL, &resp);
    ck_assert_uint_eq(resp.n_shard_loads, 0);
    shard_rate_report_free(&resp);
}
END_TEST

START_TEST(test_shard_rate_table_forgets_least_recent)
{
    /* More shards than the table holds: each new one takes the least
     * recently written slot of its set; no crash, the latest are kept. */
    size_t total = SHARD_RATE_SETS * SHARD_RATE_WAYS * 2;
    for (size_t i = 0; i < total; i++) {
        put("s", 1, (uint32_t)i, 10, 8, T0_MS + i);
    }
    uint64_t b, r;
    size_t kept = 0;
    for (size_t i = total - 64; i < total; i++) {
        shard_rate_get(rates, "s", 1, (uint32_t)i, T0_MS + total + 1000, &b, &r);
        kept += r == 5 && b == 45;
    }
    ck_assert_uint_eq(kept, 64); /* 64 shards over 256 sets fit */
    shard_rate_get(rates, "s", 1, 0, T0_MS + total + 1000, &b, &r);
    ck_assert_uint_eq(r, 0); /* the first shard's slot went long ago */
    Eddy__NodeStatusResp resp = EDDY__NODE_STATUS_RESP__INIT;
    shard_rate_report(rates, T0_MS + total + 1000, lead_all, NULL, &resp);
    ck_assert_uint_eq(resp.n_shard_loads, SHARD_RATE_REPORT_MAX);
    shard_rate_report_free(&resp);
}
END_TEST

static Suite *shard_rate_suite(void)
{
    Suite *s = suite_create("shard_rate");
    TCase *tc = tcase_create("rates");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_shard_rate_steady_rate_converges);
    tcase_add_test(tc, test_shard_rate_idle_windows_halve_then_zero);
    tcase_add_test(tc, test_shard_rate_refused_records_do_not_count);
    tcase_add_test(tc, test_shard_rate_report_busiest_first_and_bounded);
    tcase_add_test(tc, test_shard_rate_table_forgets_least_recent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shard_rate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
