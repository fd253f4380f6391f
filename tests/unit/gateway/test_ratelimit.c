/*
 * Unit tests for server/gateway/ratelimit.c: control-plane call rates per
 * account, stream and shard, and the AWS errors over them. The clock is a
 * number the test moves.
 */
#include "ratelimit.h"

#include "eddy/errors.h"
#include "eddy/limits_profile.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define T0_MS 5000000

static const struct api_config test_cfg = {.region = "us-east-1", .account = "123456789012"};

static struct ratelimit *aws_ratelimit(void)
{
    struct limits_profile p;
    ck_assert_int_eq(limits_profile_init(&p, "aws"), 0);
    struct ratelimit *rl = NULL;
    ratelimit_create(&rl, &p);
    ck_assert_ptr_nonnull(rl);
    return rl;
}

/* Calls op with body n times at now; returns how many were admitted and
 * leaves the last refusal in *e (the caller frees it). */
static int admit_n(struct ratelimit *rl,
                   const char *op,
                   const char *body,
                   int n,
                   uint64_t now,
                   struct api_error *e,
                   int *last_rv)
{
    cJSON *doc = cJSON_Parse(body);
    ck_assert_ptr_nonnull(doc);
    int admitted = 0;
    for (int i = 0; i < n; i++) {
        struct api_error one = {0};
        int rv = ratelimit_admit(rl, op, doc, &test_cfg, now, &one);
        if (rv == 0) {
            ck_assert_ptr_null(one.message);
            admitted++;
        } else {
            api_error_free(e);
            *e = one;
            *last_rv = rv;
        }
    }
    cJSON_Delete(doc);
    return admitted;
}

START_TEST(test_ratelimit_account_scope)
{
    struct ratelimit *rl = aws_ratelimit();
    struct api_error e = {0};
    int rv = 0;
    /* ListStreams: 5 a second per account, names no stream. */
    ck_assert_int_eq(admit_n(rl, "ListStreams", "{}", 8, T0_MS, &e, &rv), 5);
    ck_assert_int_eq(rv, -EDDY_ELIMIT);
    ck_assert_int_eq(e.ex, API_EX_LIMIT_EXCEEDED);
    ck_assert_str_eq(e.message, "Rate exceeded for account 123456789012.");
    api_error_free(&e);
    /* DescribeStream: 10 a second per account, whatever the stream. */
    ck_assert_int_eq(admit_n(rl, "DescribeStream", "{\"StreamName\":\"a\"}", 6, T0_MS, &e, &rv), 6);
    ck_assert_int_eq(admit_n(rl, "DescribeStream", "{\"StreamName\":\"b\"}", 6, T0_MS, &e, &rv), 4);
    ck_assert_str_eq(e.message, "Rate exceeded for stream b under account 123456789012.");
    api_error_free(&e);
    /* Each operation has its own allowance; a second later it is back. */
    ck_assert_int_eq(admit_n(rl, "CreateStream", "{\"StreamName\":\"c\"}", 5, T0_MS, &e, &rv), 5);
    ck_assert_int_eq(admit_n(rl, "ListStreams", "{}", 5, T0_MS + 1000, &e, &rv), 5);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_stream_scope)
{
    struct ratelimit *rl = aws_ratelimit();
    struct api_error e = {0};
    int rv = 0;
    /* ListShards: 1,000 a second per stream; the ARN names the stream too. */
    ck_assert_int_eq(admit_n(rl, "ListShards", "{\"StreamName\":\"a\"}", 600, T0_MS, &e, &rv), 600);
    const char *arn = "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/a\"}";
    ck_assert_int_eq(admit_n(rl, "ListShards", arn, 600, T0_MS, &e, &rv), 400);
    ck_assert_str_eq(e.message, "Rate exceeded for stream a under account 123456789012.");
    api_error_free(&e);
    ck_assert_int_eq(admit_n(rl, "ListShards", "{\"StreamName\":\"b\"}", 1000, T0_MS, &e, &rv),
                     1000);
    /* A consumer ARN counts against its stream. */
    const char *consumer = "{\"ConsumerARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/"
                           "a/consumer/c:1700000000\"}";
    ck_assert_int_eq(admit_n(rl, "DescribeStreamConsumer", consumer, 25, T0_MS, &e, &rv), 20);
    ck_assert_str_eq(e.message, "Rate exceeded for stream a under account 123456789012.");
    api_error_free(&e);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_shard_scope)
{
    struct ratelimit *rl = aws_ratelimit();
    struct api_error e = {0};
    int rv = 0;
    const char *s0 = "{\"StreamName\":\"a\",\"ShardId\":\"shardId-000000000000\"}";
    const char *s1 = "{\"StreamName\":\"a\",\"ShardId\":\"1\"}";
    ck_assert_int_eq(admit_n(rl, "GetShardIterator", s0, 7, T0_MS, &e, &rv), 5);
    ck_assert_int_eq(rv, -EDDY_ETHROTTLED);
    ck_assert_int_eq(e.ex, API_EX_THROUGHPUT_EXCEEDED);
    ck_assert_str_eq(e.message, "Rate exceeded for shard shardId-000000000000 in stream a under "
                                "account 123456789012.");
    api_error_free(&e);
    ck_assert_int_eq(admit_n(rl, "GetShardIterator", s1, 7, T0_MS, &e, &rv), 5);
    ck_assert_str_eq(e.message, "Rate exceeded for shard shardId-000000000001 in stream a under "
                                "account 123456789012.");
    api_error_free(&e);
    /* A ShardId that names no shard is left to the action's own error. */
    const char *bad = "{\"StreamName\":\"a\",\"ShardId\":\"shardId-x\"}";
    ck_assert_int_eq(admit_n(rl, "GetShardIterator", bad, 50, T0_MS, &e, &rv), 50);
    ck_assert_int_eq(admit_n(rl, "GetShardIterator", s0, 1, T0_MS + 200, &e, &rv), 1);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_ratelimit_unlimited)
{
    struct api_error e = {0};
    int rv = 0;
    /* No ratelimit (dev), an operation without a rate, an override to 0. */
    ck_assert_int_eq(admit_n(NULL, "ListStreams", "{}", 1000, T0_MS, &e, &rv), 1000);
    struct ratelimit *rl = aws_ratelimit();
    ck_assert_int_eq(admit_n(rl, "PutRecords", "{}", 1000, T0_MS, &e, &rv), 1000);
    ck_assert_int_eq(admit_n(rl, "IncreaseStreamRetentionPeriod", "{}", 1000, T0_MS, &e, &rv),
                     1000);
    ratelimit_destroy(rl);
    struct limits_profile p;
    ck_assert_int_eq(limits_profile_init(&p, "dev"), 0);
    ratelimit_create(&rl, &p);
    ck_assert_ptr_null(rl);
    ck_assert_int_eq(limits_profile_init(&p, "aws"), 0);
    ck_assert_int_eq(limits_profile_set(&p, "api.ListStreams=0"), 0);
    ratelimit_create(&rl, &p);
    ck_assert_int_eq(admit_n(rl, "ListStreams", "{}", 1000, T0_MS, &e, &rv), 1000);
    ratelimit_destroy(rl);
    ck_assert_ptr_null(e.message);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("scope");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_ratelimit_account_scope);
    tcase_add_test(tc, test_ratelimit_stream_scope);
    tcase_add_test(tc, test_ratelimit_shard_scope);
    tcase_add_test(tc, test_ratelimit_unlimited);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
