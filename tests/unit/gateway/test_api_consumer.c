/*
 * Consumer ARNs and the pure request path of the consumer actions
 * (server/gateway/api_consumer.h): the model's ConsumerARN pattern, the one
 * parser (through ConsumerARN, and ResourceARN via api_resolve_resource),
 * the ARN Eddy issues, lookups in a catalogue with AWS's not-found texts,
 * and the decoders' validation and argument rules.
 */
#include "api.h"
#include "api_consumer.h"
#include "json.h"
#include "../support/api_decode_fixture.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_STREAM_ARN "arn:aws:kinesis:us-east-1:000000000000:stream/s1"
#define T_ARN T_STREAM_ARN "/consumer/c-1:1700000000"

static bool match(const char *s)
{
    return api_consumer_arn_match(s, strlen(s));
}

/* ---- the pattern ---- */

START_TEST(test_api_consumer_arn_pattern)
{
    ck_assert(match(T_ARN));
    ck_assert(match("arn:aws:kinesis:us-east-1:123456789012:stream/x/consumer/c:1"));
    ck_assert(match("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/x.y_z/consumer/a-b.c:0"));
    /* .* before "stream/", and around the account, take anything else. */
    ck_assert(match("arn:aws:kinesis:r:123456789012:xstream/s/consumer/c:12"));
    ck_assert(match("arn:aws:foo:kinesis:r:x:123456789012:a/b:stream/s/consumer/c:12"));
    ck_assert(!match(""));
    ck_assert(!match(T_STREAM_ARN));
    ck_assert(!match(T_STREAM_ARN "/consumer/c"));
    ck_assert(!match(T_STREAM_ARN "/consumer/c:"));
    ck_assert(!match(T_STREAM_ARN "/consumer/c:12x"));
    ck_assert(!match(T_STREAM_ARN "/consumer/:12"));
    ck_assert(!match(T_STREAM_ARN "/consumer/a/b:12"));
    ck_assert(!match(T_STREAM_ARN "/consumers/c:12"));
    ck_assert(!match("arn:aws:kinesis:us-east-1:00000000000:stream/s1/consumer/c:1"));
    ck_assert(!match("arn:aws:kinesis:us-east-1:000000000000:stream//consumer/c:1"));
    ck_assert(!match("arn:aws:kinesis:us-east-1:000000000000:stream/s 1/consumer/c:1"));
    ck_assert(!match("arn:aws:kinesis:us-east-1\n:000000000000:stream/s1/consumer/c:1"));
    ck_assert(!match("xarn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/c:1"));
    ck_assert(!match("arn:aws:kinesi:us-east-1:000000000000:stream/s1/consumer/c:1"));
    ck_assert_str_eq(api_consumer_arn_pattern_text(),
                     "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
                     "[a-zA-Z0-9_.-]+:[0-9]+");
}
END_TEST

/* ---- parsing and formatting ---- */

START_TEST(test_api_consumer_arn_parse)
{
    struct api_consumer_arn a;
    api_consumer_arn_parse(&test_cfg, T_ARN, strlen(T_ARN), &a);
    ck_assert(a.ours);
    ck_assert_str_eq(a.stream, "s1");
    ck_assert_str_eq(a.consumer, "c-1");
    ck_assert_str_eq(a.created_text, "1700000000");
    ck_assert_uint_eq(a.created_s, 1700000000u);
    ck_assert_str_eq(a.account, "000000000000");
    /* Other region or account: names nothing here; the text keeps both. */
    const char *other = "arn:aws:kinesis:eu-west-1:123456789012:stream/s2/consumer/c:1";
    api_consumer_arn_parse(&test_cfg, other, strlen(other), &a);
    ck_assert(!a.ours);
    ck_assert_str_eq(a.stream, "s2");
    ck_assert_str_eq(a.account, "123456789012");
    /* An EPOCH too long to be one of ours; one past 2^64 saturates. */
    const char *long_ts = T_STREAM_ARN "/consumer/c:123456789012345678901234567";
    api_consumer_arn_parse(&test_cfg, long_ts, strlen(long_ts), &a);
    ck_assert(!a.ours);
    const char *big = T_STREAM_ARN "/consumer/c:99999999999999999999";
    api_consumer_arn_parse(&test_cfg, big, strlen(big), &a);
    ck_assert(a.ours);
    ck_assert_uint_eq(a.created_s, UINT64_MAX);
    /* The path alone. */
    ck_assert(api_consumer_arn_parse_path("s/consumer/c:5", 14, &a));
    ck_assert(!api_consumer_arn_parse_path("s/consumer/c", 12, &a));
    ck_assert(!api_consumer_arn_parse_path("s/other/c:5", 11, &a));
    ck_assert(!api_consumer_arn_parse_path("/consumer/c:5", 13, &a));
}
END_TEST

START_TEST(test_api_consumer_arn_format)
{
    Eddy__ConsumerInfo ci = EDDY__CONSUMER_INFO__INIT;
    ci.name = (char *)"reader";
    ci.created_ms = 1700000000999ull;
    char out[API_CONSUMER_ARN_TEXT_MAX];
    size_t n = api_consumer_arn_format(&test_cfg, "s1", &ci, out);
    ck_assert_str_eq(out, T_STREAM_ARN "/consumer/reader:1700000000");
    ck_assert_uint_eq(n, strlen(out));
    ck_assert(api_consumer_arn_match(out, n));
    struct api_consumer_arn a;
    api_consumer_arn_parse(&test_cfg, out, n, &a);
    ck_assert(a.ours);
    ck_assert(api_consumer_is_incarnation(&ci, a.created_s));
    /* The longest names fit. */
    char name[129];
    memset(name, 'n', 128);
    name[128] = '\0';
    ci.name = name;
    ci.created_ms = UINT64_MAX;
    n = api_consumer_arn_format(&test_cfg, name, &ci, out);
    ck_assert(api_consumer_arn_match(out, n));
    ck_assert_str_eq(api_consumer_status_name(EDDY__CONSUMER_STATUS__CONSUMER_CREATING),
                     "CREATING");
    ck_assert_str_eq(api_consumer_status_name(EDDY__CONSUMER_STATUS__CONSUMER_DELETING),
                     "DELETING");
}
END_TEST

/* ---- lookups ---- */

START_TEST(test_api_consumer_find_by_arn)
{
    Eddy__ConsumerInfo ci = EDDY__CONSUMER_INFO__INIT;
    Eddy__ConsumerInfo *cptrs[1] = {&ci};
    ci.name = (char *)"c-1";
    ci.created_ms = 1700000000123ull;
    Eddy__StreamInfo st = EDDY__STREAM_INFO__INIT;
    Eddy__StreamInfo *sptrs[1] = {&st};
    st.name = (char *)"s1";
    st.n_consumers = 1;
    st.consumers = cptrs;
    Eddy__Catalog cat = EDDY__CATALOG__INIT;
    cat.n_streams = 1;
    cat.streams = sptrs;
    struct api_error e = {0};
    const Eddy__StreamInfo *out = NULL;
    ck_assert_ptr_eq(api_find_consumer_by_arn(&test_cfg, &cat, T_ARN, strlen(T_ARN), &out, &e),
                     &ci);
    ck_assert_ptr_eq(out, &st);
    ck_assert_int_eq(e.ex, API_EX_NONE);
    /* Another incarnation of the name. */
    const char *old = T_STREAM_ARN "/consumer/c-1:1699999999";
    ck_assert_ptr_null(api_find_consumer_by_arn(&test_cfg, &cat, old, strlen(old), &out, &e));
    ck_assert_ptr_null(out);
    ck_assert_int_eq(e.ex, API_EX_RESOURCE_NOT_FOUND);
    ck_assert_str_eq(e.message, "Consumer c-1 with creation timestamp 1699999999 under stream s1 "
                                "and account 000000000000 not found.");
    const char *gone = "arn:aws:kinesis:us-east-1:000000000000:stream/s9/consumer/c-1:1700000000";
    ck_assert_ptr_null(api_find_consumer_by_arn(&test_cfg, &cat, gone, strlen(gone), &out, &e));
    ck_assert_str_eq(e.message, "Stream s9 under account 000000000000 not found.");
    const char *other = "arn:aws:kinesis:us-east-1:111111111111:stream/s1/consumer/c-1:1700000000";
    ck_assert_ptr_null(api_find_consumer_by_arn(&test_cfg, &cat, other, strlen(other), &out, &e));
    ck_assert_str_eq(e.message, "Stream s1 under account 111111111111 not found.");
    struct api_consumer_arn a;
    api_consumer_arn_of("s1", &ci, &a);
    api_consumer_error_not_active(&test_cfg, &a, &e);
    ck_assert_int_eq(e.ex, API_EX_RESOURCE_IN_USE);
    ck_assert_str_eq(e.message, "Consumer c-1 with creation timestamp 1700000000 under stream s1 "
                                "and account 000000000000 is not in ACTIVE status.");
    api_error_free(&e);
}
END_TEST

/* ---- decoding ---- */

START_TEST(test_api_consumer_register_decode)
{
    expect_error(API_OP_REGISTER_STREAM_CONSUMER, "{}", API_EX_VALIDATION,
                 "2 validation errors detected: Value null at 'streamARN' failed to satisfy "
                 "constraint: Member must not be null; Value null at 'consumerName' failed to "
                 "satisfy constraint: Member must not be null");
    expect_error(API_OP_REGISTER_STREAM_CONSUMER,
                 "{\"StreamARN\":\"" T_STREAM_ARN "\",\"ConsumerName\":\"a b\"}", API_EX_VALIDATION,
                 "1 validation error detected: Value 'a b' at 'consumerName' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    expect_error(API_OP_REGISTER_STREAM_CONSUMER,
                 "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s1\","
                 "\"ConsumerName\":\"c\"}",
                 API_EX_RESOURCE_NOT_FOUND, "Stream s1 under account 123456789012 not found.");
    expect_error(API_OP_REGISTER_STREAM_CONSUMER,
                 "{\"StreamARN\":\"" T_STREAM_ARN "\",\"ConsumerName\":\"c\",\"Tags\":[]}",
                 API_EX_SERIALIZATION, "Start of list found where not expected");
    struct decoded d;
    decode(&d, API_OP_REGISTER_STREAM_CONSUMER,
           "{\"StreamARN\":\"" T_STREAM_ARN "\",\"ConsumerName\":\"c.1\",\"Tags\":{\"k\":\"v\"}}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_str_eq(d.req.register_consumer.stream, "s1");
    ck_assert_str_eq(d.req.register_consumer.consumer, "c.1");
    ck_assert_ptr_nonnull(d.req.register_consumer.tags);
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_consumer_ref_decode)
{
    struct decoded d;
    decode(&d, API_OP_DESCRIBE_STREAM_CONSUMER, "{\"ConsumerARN\":\"" T_ARN "\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(d.req.consumer_ref.by_arn);
    ck_assert(d.req.consumer_ref.arn.ours);
    ck_assert_str_eq(d.req.consumer_ref.stream, "s1");
    ck_assert_str_eq(d.req.consumer_ref.consumer, "c-1");
    decoded_free(&d);
    decode(&d, API_OP_DEREGISTER_STREAM_CONSUMER,
           "{\"StreamARN\":\"" T_STREAM_ARN "\",\"ConsumerName\":\"c-1\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(!d.req.consumer_ref.by_arn);
    ck_assert_str_eq(d.req.consumer_ref.stream, "s1");
    ck_assert_str_eq(d.req.consumer_ref.consumer, "c-1");
    decoded_free(&d);
    /* All three, agreeing. */
    decode(&d, API_OP_DESCRIBE_STREAM_CONSUMER,
           "{\"StreamARN\":\"" T_STREAM_ARN "\",\"ConsumerName\":\"c-1\",\"ConsumerARN\":\"" T_ARN
           "\"}");
    ck_assert_int_eq(d.rv, 0);
    decoded_free(&d);
    expect_error(
        API_OP_DESCRIBE_STREAM_CONSUMER, "{\"ConsumerName\":\"c-2\",\"ConsumerARN\":\"" T_ARN "\"}",
        API_EX_INVALID_ARGUMENT, "ConsumerARN " T_ARN " does not name consumer c-2 of stream s1.");
    expect_error(API_OP_DESCRIBE_STREAM_CONSUMER, "{}", API_EX_INVALID_ARGUMENT,
                 "Either ConsumerARN or both StreamARN and ConsumerName must be provided.");
    expect_error(API_OP_DEREGISTER_STREAM_CONSUMER, "{\"ConsumerName\":\"c\"}",
                 API_EX_INVALID_ARGUMENT,
                 "Either ConsumerARN or both StreamARN and ConsumerName must be provided.");
    expect_error(API_OP_DESCRIBE_STREAM_CONSUMER, "{\"ConsumerARN\":\"" T_STREAM_ARN "\"}",
                 API_EX_VALIDATION,
                 "1 validation error detected: Value '" T_STREAM_ARN
                 "' at 'consumerARN' failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: ^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+"
                 "\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+");
}
END_TEST

START_TEST(test_api_consumer_list_decode)
{
    struct decoded d;
    decode(&d, API_OP_LIST_STREAM_CONSUMERS, "{\"StreamARN\":\"" T_STREAM_ARN "\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_str_eq(d.req.list_consumers.stream, "s1");
    ck_assert_uint_eq(d.req.list_consumers.max_results, 100);
    decoded_free(&d);
    decode(&d, API_OP_LIST_STREAM_CONSUMERS,
           "{\"StreamARN\":\"" T_STREAM_ARN "\",\"MaxResults\":7,\"NextToken\":\"abc\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.list_consumers.max_results, 7);
    ck_assert(d.req.list_consumers.has_next_token);
    decoded_free(&d);
    decode(&d, API_OP_LIST_STREAM_CONSUMERS,
           "{\"StreamARN\":\"" T_STREAM_ARN "\",\"MaxResults\":10000}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.list_consumers.max_results, 100); /* at most 100 returned */
    decoded_free(&d);
    expect_error(API_OP_LIST_STREAM_CONSUMERS,
                 "{\"StreamARN\":\"" T_STREAM_ARN "\",\"MaxResults\":0}", API_EX_VALIDATION,
                 "1 validation error detected: Value '0' at 'maxResults' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 1");
    expect_error(API_OP_LIST_STREAM_CONSUMERS, "{}", API_EX_VALIDATION,
                 "1 validation error detected: Value null at 'streamARN' failed to satisfy "
                 "constraint: Member must not be null");
    expect_error(API_OP_LIST_STREAM_CONSUMERS,
                 "{\"StreamARN\":\"" T_STREAM_ARN
                 "\",\"NextToken\":\"x\",\"StreamCreationTimestamp\":1}",
                 API_EX_INVALID_ARGUMENT,
                 "NextToken and StreamCreationTimestamp cannot be provided together.");
}
END_TEST

static Suite *api_consumer_suite(void)
{
    Suite *s = suite_create("api_consumer");
    TCase *tc = tcase_create("arn");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_api_consumer_arn_pattern);
    tcase_add_test(tc, test_api_consumer_arn_parse);
    tcase_add_test(tc, test_api_consumer_arn_format);
    tcase_add_test(tc, test_api_consumer_find_by_arn);
    suite_add_tcase(s, tc);
    tc = tcase_create("decode");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_api_consumer_register_decode);
    tcase_add_test(tc, test_api_consumer_ref_decode);
    tcase_add_test(tc, test_api_consumer_list_decode);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_consumer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
