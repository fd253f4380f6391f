/*
 * Unit tests for the rate limits: the token buckets and their bounded table
 * (common/tbucket.c), the limit profiles and their overrides
 * (common/limits_profile.c), and the per-shard write and read limits of the
 * shard leader (server/throttle.c). Every clock is a number the test moves.
 */
#include "throttle.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits_profile.h"
#include "eddy/tbucket.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define T0_MS 1000000 /* any start: the clock is monotonic, not the epoch */

/* ---- tbucket ---- */

START_TEST(test_throttle_bucket_starts_full_and_drains)
{
    struct tbucket_rate r = tbucket_rate_make(1000, 1000);
    ck_assert_uint_eq(r.burst, 1000);
    struct tbucket b;
    tbucket_init(&b, &r, T0_MS);
    ck_assert_int_eq(tbucket_tokens(&b, &r, T0_MS), 1000);
    for (int i = 0; i < 1000; i++) {
        ck_assert(tbucket_can_take(&b, &r, 1, T0_MS));
        tbucket_take(&b, &r, 1, T0_MS);
    }
    ck_assert(!tbucket_can_take(&b, &r, 1, T0_MS));
    ck_assert_int_eq(tbucket_tokens(&b, &r, T0_MS), 0);
}
END_TEST

START_TEST(test_throttle_bucket_refills_at_rate)
{
    struct tbucket_rate r = tbucket_rate_make(1000, 1000);
    struct tbucket b;
    tbucket_init(&b, &r, T0_MS);
    tbucket_take(&b, &r, 1000, T0_MS);
    ck_assert(!tbucket_can_take(&b, &r, 1, T0_MS));
    /* 1,000 a second is one a millisecond. */
    ck_assert(tbucket_can_take(&b, &r, 1, T0_MS + 1));
    ck_assert(!tbucket_can_take(&b, &r, 2, T0_MS + 1));
    ck_assert_int_eq(tbucket_tokens(&b, &r, T0_MS + 250), 250);
    /* Never more than the burst, however long the pause. */
    ck_assert_int_eq(tbucket_tokens(&b, &r, T0_MS + 3600 * 1000), 1000);
}
END_TEST

START_TEST(test_throttle_bucket_fractional_refill_is_kept)
{
    /* 5 a second: one token every 200 ms, refilled in steps of 1 ms. */
    struct tbucket_rate r = tbucket_rate_make(5, 1000);
    ck_assert_uint_eq(r.burst, 5);
    struct tbucket b;
    tbucket_init(&b, &r, T0_MS);
    tbucket_take(&b, &r, 5, T0_MS);
    for (uint64_t t = T0_MS + 1; t < T0_MS + 200; t++) {
        ck_assert(!tbucket_can_take(&b, &r, 1, t));
    }
    ck_assert(tbucket_can_take(&b, &r, 1, T0_MS + 200));
}
END_TEST

START_TEST(test_throttle_bucket_unlimited)
{
    struct tbucket_rate r = tbucket_rate_make(0, 1000);
    ck_assert(!tbucket_rate_is_limited(&r));
    struct tbucket b;
    tbucket_init(&b, &r, T0_MS);
    for (int i = 0; i < 100000; i++) {
        ck_assert(tbucket_can_take(&b, &r, TBUCKET_UNITS_MAX, T0_MS));
        tbucket_take(&b, &r, TBUCKET_UNITS_MAX, T0_MS);
    }
    ck_assert(tbucket_is_positive(&b, &r, T0_MS));
}
END_TEST

START_TEST(test_throttle_bucket_oversize_passes_when_full_then_owes)
{
    /* 2 MiB a second; a 10 MiB take from a full bucket leaves 8 MiB owed,
     * paid back in 4 s (AWS: a 10 MiB GetRecords blocks reads ~5 s). */
    uint64_t mib = 1024 * 1024;
    struct tbucket_rate r = tbucket_rate_make(2 * mib, 1000);
    struct tbucket b;
    tbucket_init(&b, &r, T0_MS);
    ck_assert(tbucket_can_take(&b, &r, 10 * mib, T0_MS));
    tbucket_take(&b, &r, 10 * mib, T0_MS);
    ck_assert(!tbucket_is_positive(&b, &r, T0_MS));
    ck_assert(!tbucket_can_take(&b, &r, 10 * mib, T0_MS + 1000));
    ck_assert(!tbucket_is_positive(&b, &r, T0_MS + 4000));
    ck_assert(tbucket_is_positive(&b, &r, T0_MS + 4001));
    /* A bucket not full refuses what it does not hold. */
    ck_assert(!tbucket_can_take(&b, &r, mib, T0_MS + 4001));
    ck_assert(tbucket_can_take(&b, &r, 10 * mib, T0_MS + 5000));
}
END_TEST

START_TEST(test_throttle_bucket_clock_backwards)
{
    struct tbucket_rate r = tbucket_rate_make(10, 1000);
    struct tbucket b;
    tbucket_init(&b, &r, T0_MS);
    tbucket_take(&b, &r, 10, T0_MS);
    ck_assert(!tbucket_can_take(&b, &r, 1, T0_MS - 500));
    ck_assert(tbucket_can_take(&b, &r, 1, T0_MS + 100));
}
END_TEST

START_TEST(test_throttle_bucket_burst_ms)
{
    struct tbucket_rate r = tbucket_rate_make(1000, 100);
    ck_assert_uint_eq(r.burst, 100);
    r = tbucket_rate_make(5, 1);
    ck_assert_uint_eq(r.burst, 1); /* at least one unit */
    r = tbucket_rate_make(TBUCKET_UNITS_MAX, 60000);
    ck_assert_uint_eq(r.burst, TBUCKET_UNITS_MAX);
}
END_TEST

/* ---- tbucket_table ---- */

START_TEST(test_throttle_table_keys_are_separate)
{
    struct tbucket_rate r = tbucket_rate_make(10, 1000);
    struct tbucket_table *t = tbucket_table_create(64, 1);
    struct tbucket *a = tbucket_table_get(t, 1, &r, T0_MS);
    tbucket_take(a, &r, 10, T0_MS);
    struct tbucket *b = tbucket_table_get(t, 2, &r, T0_MS);
    ck_assert_int_eq(tbucket_tokens(b, &r, T0_MS), 10);
    a = tbucket_table_get(t, 1, &r, T0_MS);
    ck_assert_int_eq(tbucket_tokens(a, &r, T0_MS), 0);
    ck_assert_uint_eq(tbucket_table_count(t), 2);
    tbucket_table_destroy(t);
}
END_TEST

START_TEST(test_throttle_table_is_bounded)
{
    struct tbucket_rate r = tbucket_rate_make(10, 1000);
    struct tbucket_table *t = tbucket_table_create(100, 1);
    for (uint64_t k = 0; k < 100000; k++) {
        struct tbucket *b = tbucket_table_get(t, k * 7919, &r, T0_MS + k);
        ck_assert_int_eq(tbucket_tokens(b, &r, T0_MS + k), 10);
    }
    ck_assert_uint_le(tbucket_table_count(t), 128);
    tbucket_table_destroy(t);
}
END_TEST

START_TEST(test_throttle_table_evicts_least_recent)
{
    struct tbucket_rate r = tbucket_rate_make(10, 1000);
    /* One set: TBUCKET_WAYS slots for every key. */
    struct tbucket_table *t = tbucket_table_create(TBUCKET_WAYS, 1);
    for (uint64_t k = 0; k < TBUCKET_WAYS; k++) {
        tbucket_take(tbucket_table_get(t, 100 + k, &r, T0_MS + k), &r, 10, T0_MS + k);
    }
    /* Key 100 is used again; 101 becomes the least recent and goes. */
    tbucket_table_get(t, 100, &r, T0_MS + 50);
    tbucket_table_get(t, 999, &r, T0_MS + 51);
    ck_assert_int_eq(tbucket_tokens(tbucket_table_get(t, 100, &r, T0_MS + 52), &r, T0_MS + 52), 0);
    ck_assert_int_eq(tbucket_tokens(tbucket_table_get(t, 101, &r, T0_MS + 53), &r, T0_MS + 53), 10);
    tbucket_table_destroy(t);
}
END_TEST

/* ---- limits_profile ---- */

START_TEST(test_throttle_profile_aws_and_dev)
{
    struct limits_profile p;
    ck_assert_int_eq(limits_profile_init(&p, "aws"), 0);
    ck_assert_str_eq(p.name, "aws");
    ck_assert_uint_eq(p.write_records_per_s, 1000);
    ck_assert_uint_eq(p.write_bytes_per_s, 1024 * 1024);
    ck_assert_uint_eq(p.read_calls_per_s, 5);
    ck_assert_uint_eq(p.read_bytes_per_s, 2 * 1024 * 1024);
    ck_assert_uint_eq(p.streams_in_transition_max, 5);
    ck_assert_uint_eq(p.shard_limit, LIMITS_AWS_SHARD_LIMIT);
    ck_assert_uint_eq(p.on_demand_stream_count_limit, 50);
    int op = limits_profile_api_find("ListShards", strlen("ListShards"));
    ck_assert_int_ge(op, 0);
    ck_assert_uint_eq(p.api_tps[op], 1000);
    ck_assert_int_eq(limits_profile_api((size_t)op)->scope, LIMITS_SCOPE_STREAM);
    op = limits_profile_api_find("DescribeStream", strlen("DescribeStream"));
    ck_assert_uint_eq(p.api_tps[op], 10);
    ck_assert(limits_profile_limits_shards(&p));
    ck_assert(limits_profile_limits_api(&p));

    ck_assert_int_eq(limits_profile_init(&p, "dev"), 0);
    ck_assert(!limits_profile_limits_shards(&p));
    ck_assert(!limits_profile_limits_api(&p));
    ck_assert_uint_eq(p.streams_in_transition_max, 0);
    ck_assert_int_eq(limits_profile_init(&p, "AWS"), -EDDY_EINVAL);
    ck_assert_int_eq(limits_profile_init(&p, ""), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_throttle_profile_overrides)
{
    struct limits_profile p;
    ck_assert_int_eq(limits_profile_init(&p, "dev"), 0);
    ck_assert_int_eq(limits_profile_set(&p, "write-records-per-s=200"), 0);
    ck_assert_uint_eq(p.write_records_per_s, 200);
    ck_assert(limits_profile_limits_shards(&p));
    ck_assert_int_eq(limits_profile_set(&p, "api.ListStreams=3"), 0);
    ck_assert(limits_profile_limits_api(&p));
    ck_assert_int_eq(limits_profile_set(&p, "shard-limit=500"), 0);
    ck_assert_uint_eq(p.shard_limit, 500);
    ck_assert_int_eq(limits_profile_set(&p, "burst-ms=250"), 0);
    ck_assert_uint_eq(p.burst_ms, 250);
    ck_assert_int_eq(limits_profile_set(&p, "write-records-per-s=0"), 0);
    ck_assert_uint_eq(p.write_records_per_s, 0);

    static const char *const bad[] = {
        "write-records-per-s",
        "=5",
        "nope=1",
        "write-records-per-s=",
        "write-records-per-s=-1",
        "burst-ms=0",
        "burst-ms=60001",
        "shard-limit=1000001",
        "write-bytes-per-s=1e3",
        "api.Nope=1",
        "api.=1",
        "read-calls-per-s= 5",
        "read-bytes-per-s=99999999999999999999",
        "api.ListStreams=5x",
    };
    struct limits_profile before = p;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(limits_profile_set(&p, bad[i]) == -EDDY_EINVAL, "accepted %s", bad[i]);
        ck_assert(memcmp(&p, &before, sizeof(p)) == 0);
    }
}
END_TEST

/* ---- throttle: the shard leader's write and read limits ---- */

/* A PutRecords request of n records of size bytes each (key "k") on
 * shards[i % shard_count]. Freed by put_req_free. */
static Eddy__PutRecordsReq *
put_req(size_t n, size_t size, const uint32_t *shards, size_t shard_count)
{
    Eddy__PutRecordsReq *req = eddy_xmalloc(sizeof(*req));
    eddy__put_records_req__init(req);
    req->stream = "s";
    req->stream_created_ms = 42;
    req->n_records = n;
    req->records = eddy_xcalloc(n, sizeof(*req->records));
    uint8_t *data = eddy_xcalloc(size ? size : 1, 1);
    for (size_t i = 0; i < n; i++) {
        Eddy__PutRecord *r = eddy_xmalloc(sizeof(*r));
        eddy__put_record__init(r);
        r->shard = shards[i % shard_count];
        r->partition_key = "k";
        r->data.data = data;
        r->data.len = size;
        req->records[i] = r;
    }
    return req;
}

static void put_req_free(Eddy__PutRecordsReq *req)
{
    if (req->n_records > 0) {
        eddy_free(req->records[0]->data.data);
    }
    for (size_t i = 0; i < req->n_records; i++) {
        eddy_free(req->records[i]);
    }
    eddy_free(req->records);
    eddy_free(req);
}

static struct throttle *aws_throttle(void)
{
    struct limits_profile p;
    ck_assert_int_eq(limits_profile_init(&p, "aws"), 0);
    struct throttle *t = NULL;
    throttle_create(&t, &p);
    ck_assert_ptr_nonnull(t);
    return t;
}

START_TEST(test_throttle_put_dev_admits_all)
{
    struct limits_profile p;
    ck_assert_int_eq(limits_profile_init(&p, "dev"), 0);
    struct throttle *t = (struct throttle *)1;
    throttle_create(&t, &p);
    ck_assert_ptr_null(t);
    uint32_t shard = 0;
    Eddy__PutRecordsReq *req = put_req(500, 10, &shard, 1);
    uint8_t *refused = (uint8_t *)1;
    for (int i = 0; i < 100; i++) {
        ck_assert_uint_eq(throttle_put(NULL, req, T0_MS, &refused), 500);
        ck_assert_ptr_null(refused);
    }
    put_req_free(req);
}
END_TEST

START_TEST(test_throttle_put_records_per_shard)
{
    struct throttle *t = aws_throttle();
    uint32_t shard = 1;
    Eddy__PutRecordsReq *req = put_req(500, 10, &shard, 1);
    uint8_t *refused = NULL;
    ck_assert_uint_eq(throttle_put(t, req, T0_MS, &refused), 500);
    ck_assert_ptr_null(refused);
    ck_assert_uint_eq(throttle_put(t, req, T0_MS, &refused), 500);
    /* The burst (1,000 records) is spent: the third call is refused whole. */
    ck_assert_uint_eq(throttle_put(t, req, T0_MS, &refused), 0);
    ck_assert_ptr_nonnull(refused);
    for (size_t i = 0; i < 500; i++) {
        ck_assert_uint_eq(refused[i], 1);
    }
    eddy_free(refused);
    /* 100 ms later 100 records fit: the first 100, in request order. */
    ck_assert_uint_eq(throttle_put(t, req, T0_MS + 100, &refused), 100);
    for (size_t i = 0; i < 500; i++) {
        ck_assert_uint_eq(refused[i], i >= 100);
    }
    eddy_free(refused);
    /* Another shard of the stream has its own limit. */
    uint32_t other = 2;
    Eddy__PutRecordsReq *req2 = put_req(500, 10, &other, 1);
    ck_assert_uint_eq(throttle_put(t, req2, T0_MS + 100, &refused), 500);
    ck_assert_ptr_null(refused);
    put_req_free(req2);
    /* So has the same shard of a stream created again under the name. */
    req->stream_created_ms = 43;
    ck_assert_uint_eq(throttle_put(t, req, T0_MS + 100, &refused), 500);
    ck_assert_ptr_null(refused);
    put_req_free(req);
    throttle_destroy(t);
}
END_TEST

START_TEST(test_throttle_put_mixed_shards)
{
    struct throttle *t = aws_throttle();
    uint32_t hot = 3;
    Eddy__PutRecordsReq *fill = put_req(500, 0, &hot, 1);
    uint8_t *refused = NULL;
    ck_assert_uint_eq(throttle_put(t, fill, T0_MS, &refused), 500);
    ck_assert_uint_eq(throttle_put(t, fill, T0_MS, &refused), 500);
    put_req_free(fill);
    /* Records alternate between the spent shard and a fresh one. */
    uint32_t shards[] = {3, 4};
    Eddy__PutRecordsReq *req = put_req(10, 5, shards, 2);
    ck_assert_uint_eq(throttle_put(t, req, T0_MS, &refused), 5);
    ck_assert_ptr_nonnull(refused);
    for (size_t i = 0; i < 10; i++) {
        ck_assert_uint_eq(refused[i], i % 2 == 0);
    }
    eddy_free(refused);
    put_req_free(req);
    throttle_destroy(t);
}
END_TEST

START_TEST(test_throttle_put_bytes_per_shard)
{
    struct throttle *t = aws_throttle();
    uint32_t shard = 0;
    /* 1 MiB a second counts data and partition key: 4 records of 256 KiB
     * minus the key fill the burst exactly; the fifth is refused. */
    Eddy__PutRecordsReq *req = put_req(5, 256 * 1024 - 1, &shard, 1);
    uint8_t *refused = NULL;
    ck_assert_uint_eq(throttle_put(t, req, T0_MS, &refused), 4);
    ck_assert_uint_eq(refused[4], 1);
    eddy_free(refused);
    /* A quarter second pays for one more. */
    ck_assert_uint_eq(throttle_put(t, req, T0_MS + 250, &refused), 1);
    eddy_free(refused);
    put_req_free(req);
    /* A record larger than the burst passes alone into a full bucket. */
    uint32_t big_shard = 9;
    Eddy__PutRecordsReq *big = put_req(2, 2 * 1024 * 1024, &big_shard, 1);
    ck_assert_uint_eq(throttle_put(t, big, T0_MS, &refused), 1);
    ck_assert_uint_eq(refused[0], 0);
    ck_assert_uint_eq(refused[1], 1);
    eddy_free(refused);
    put_req_free(big);
    throttle_destroy(t);
}
END_TEST

static Eddy__ReadReq read_req(uint32_t shard, uint32_t limit)
{
    Eddy__ReadReq req = EDDY__READ_REQ__INIT;
    req.stream = "s";
    req.stream_created_ms = 42;
    req.shard = shard;
    req.limit = limit;
    return req;
}

START_TEST(test_throttle_read_calls_per_shard)
{
    struct throttle *t = aws_throttle();
    Eddy__ReadReq req = read_req(0, 10000);
    Eddy__ReadResp resp = EDDY__READ_RESP__INIT;
    for (int i = 0; i < 5; i++) {
        ck_assert(throttle_read_begin(t, &req, T0_MS));
        throttle_read_end(t, &req, &resp, T0_MS);
    }
    ck_assert(!throttle_read_begin(t, &req, T0_MS));
    ck_assert(!throttle_read_begin(t, &req, T0_MS + 199));
    ck_assert(throttle_read_begin(t, &req, T0_MS + 200));
    /* Positions only (limit 0) are not reads. */
    Eddy__ReadReq pos = read_req(0, 0);
    for (int i = 0; i < 100; i++) {
        ck_assert(throttle_read_begin(t, &pos, T0_MS + 200));
    }
    /* Another shard reads on. */
    Eddy__ReadReq other = read_req(1, 10000);
    ck_assert(throttle_read_begin(t, &other, T0_MS + 200));
    throttle_destroy(t);
}
END_TEST

START_TEST(test_throttle_read_bytes_debt)
{
    struct throttle *t = aws_throttle();
    Eddy__ReadReq req = read_req(0, 10000);
    /* A read that returned 10 MiB (10 records of 1 MiB minus the key). */
    Eddy__ReadResp resp = EDDY__READ_RESP__INIT;
    Eddy__ReadRecord recs[10];
    Eddy__ReadRecord *ptrs[10];
    for (int i = 0; i < 10; i++) {
        eddy__read_record__init(&recs[i]);
        recs[i].partition_key = "k";
        recs[i].data.len = 1024 * 1024 - 1;
        ptrs[i] = &recs[i];
    }
    resp.records = ptrs;
    resp.n_records = 10;
    ck_assert(throttle_read_begin(t, &req, T0_MS));
    throttle_read_end(t, &req, &resp, T0_MS);
    /* 8 MiB owed at 2 MiB a second: refused for 4 s although calls remain. */
    ck_assert(!throttle_read_begin(t, &req, T0_MS + 1000));
    ck_assert(!throttle_read_begin(t, &req, T0_MS + 4000));
    ck_assert(throttle_read_begin(t, &req, T0_MS + 4001));
    throttle_destroy(t);
}
END_TEST

static Suite *throttle_suite(void)
{
    Suite *s = suite_create("throttle");

    TCase *tc = tcase_create("bucket");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_throttle_bucket_starts_full_and_drains);
    tcase_add_test(tc, test_throttle_bucket_refills_at_rate);
    tcase_add_test(tc, test_throttle_bucket_fractional_refill_is_kept);
    tcase_add_test(tc, test_throttle_bucket_unlimited);
    tcase_add_test(tc, test_throttle_bucket_oversize_passes_when_full_then_owes);
    tcase_add_test(tc, test_throttle_bucket_clock_backwards);
    tcase_add_test(tc, test_throttle_bucket_burst_ms);
    suite_add_tcase(s, tc);

    tc = tcase_create("table");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_throttle_table_keys_are_separate);
    tcase_add_test(tc, test_throttle_table_is_bounded);
    tcase_add_test(tc, test_throttle_table_evicts_least_recent);
    suite_add_tcase(s, tc);

    tc = tcase_create("profile");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_throttle_profile_aws_and_dev);
    tcase_add_test(tc, test_throttle_profile_overrides);
    suite_add_tcase(s, tc);

    tc = tcase_create("put");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_throttle_put_dev_admits_all);
    tcase_add_test(tc, test_throttle_put_records_per_shard);
    tcase_add_test(tc, test_throttle_put_mixed_shards);
    tcase_add_test(tc, test_throttle_put_bytes_per_shard);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_throttle_read_calls_per_shard);
    tcase_add_test(tc, test_throttle_read_bytes_debt);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(throttle_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
