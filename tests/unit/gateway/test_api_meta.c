/*
 * The pure request path of the tagging, retention, account and limits
 * actions (server/gateway/api_meta.h): decoding and validation texts, tag
 * maps collected as AWS's JSON reader keeps them, AWS's tag character
 * rules, and ResourceARNs of streams, consumers and other accounts.
 */
#include "api.h"
#include "json.h"
#include "../support/api_decode_fixture.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_RULE                                                                                  \
    "Map keys must satisfy constraint: [Member must have length less than or equal to 128, "       \
    "Member must have length greater than or equal to 1]"

/* ---- tag maps and lists ---- */

START_TEST(test_api_meta_add_tags_validation)
{
    expect_error(API_OP_ADD_TAGS_TO_STREAM, "{}", API_EX_VALIDATION,
                 "1 validation error detected: Value null at 'tags' failed to satisfy constraint: "
                 "Member must not be null");
    expect_error(API_OP_ADD_TAGS_TO_STREAM, "{\"StreamName\":\"\",\"Tags\":{}}", API_EX_VALIDATION,
                 "3 validation errors detected: Value '{}' at 'tags' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1; Value '' at "
                 "'streamName' failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'streamName' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1");
    expect_error(API_OP_ADD_TAGS_TO_STREAM, "{\"StreamName\":\"s\",\"Tags\":{\"\":\"v\"}}",
                 API_EX_VALIDATION,
                 "1 validation error detected: Value '{=v}' at 'tags' failed to satisfy "
                 "constraint: " KEYS_RULE);
    expect_error(API_OP_ADD_TAGS_TO_STREAM, "{\"StreamName\":\"s\",\"Tags\":[]}",
                 API_EX_SERIALIZATION, "Start of list found where not expected");
    expect_error(API_OP_ADD_TAGS_TO_STREAM, "{\"StreamName\":\"s\",\"Tags\":{\"a\":\"1\",\"a\":2}}",
                 API_EX_SERIALIZATION,
                 "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
                 "converted to an String");
    /* 128 characters of 2 bytes each are fine: lengths are in characters. */
    char body[1024];
    char key[2 * 129 + 1] = "";
    for (int i = 0; i < 128; i++) {
        strcat(key, "\xc3\xa9");
    }
    snprintf(body, sizeof(body), "{\"StreamName\":\"s\",\"Tags\":{\"%s\":\"v\"}}", key);
    struct decoded d;
    decode(&d, API_OP_ADD_TAGS_TO_STREAM, body);
    ck_assert_int_eq(d.rv, 0);
    decoded_free(&d);
    strcat(key, "\xc3\xa9");
    snprintf(body, sizeof(body), "{\"StreamName\":\"s\",\"Tags\":{\"%s\":\"v\"}}", key);
    decode(&d, API_OP_ADD_TAGS_TO_STREAM, body);
    ck_assert_int_eq(d.rv, -EDDY_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.e.message, KEYS_RULE));
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_meta_tag_map_count)
{
    /* 200 distinct keys pass; a key given twice counts once; 201 fail. */
    size_t cap = 16 + 201 * 16;
    char *body = eddy_xmalloc(cap);
    size_t n = (size_t)snprintf(body, cap, "{\"StreamName\":\"s\",\"Tags\":{\"k000\":\"x\"");
    for (int i = 0; i < 200; i++) {
        n += (size_t)snprintf(body + n, cap - n, ",\"k%03d\":\"\"", i);
    }
    snprintf(body + n, cap - n, "}}");
    struct decoded d;
    decode(&d, API_OP_ADD_TAGS_TO_STREAM, body);
    ck_assert_int_eq(d.rv, 0);
    struct api_tag tags[4];
    ck_assert_uint_eq(api_tag_map_collect(d.req.stream_tags.tags, tags, 4), 200);
    ck_assert_str_eq(tags[0].key, "k000");
    ck_assert_str_eq(tags[0].value, ""); /* the later value */
    ck_assert_str_eq(tags[3].key, "k003");
    decoded_free(&d);
    snprintf(body + n, cap - n, ",\"k200\":\"\"}}");
    decode(&d, API_OP_ADD_TAGS_TO_STREAM, body);
    ck_assert_int_eq(d.rv, -EDDY_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(d.e.message, "failed to satisfy constraint: Member must have length less than or "
                            "equal to 200"));
    decoded_free(&d);
    eddy_free(body);
}
END_TEST

START_TEST(test_api_meta_tag_keys_validation)
{
    expect_error(API_OP_REMOVE_TAGS_FROM_STREAM, "{\"StreamName\":\"s\",\"TagKeys\":[]}",
                 API_EX_VALIDATION,
                 "1 validation error detected: Value '[]' at 'tagKeys' failed to satisfy "
                 "constraint: Member must have length greater than or equal to 1");
    expect_error(API_OP_REMOVE_TAGS_FROM_STREAM, "{\"StreamName\":\"s\",\"TagKeys\":[\"a\",\"\"]}",
                 API_EX_VALIDATION,
                 "1 validation error detected: Value '[a, ]' at 'tagKeys' failed to satisfy "
                 "constraint: Member must satisfy constraint: [Member must have length less than "
                 "or equal to 128, Member must have length greater than or equal to 1]");
    expect_error(API_OP_REMOVE_TAGS_FROM_STREAM, "{\"StreamName\":\"s\",\"TagKeys\":[1]}",
                 API_EX_SERIALIZATION,
                 "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
                 "converted to an String");
    expect_error(API_OP_LIST_TAGS_FOR_STREAM, "{\"StreamName\":\"s\",\"Limit\":51}",
                 API_EX_VALIDATION,
                 "1 validation error detected: Value '51' at 'limit' failed to satisfy "
                 "constraint: Member must have value less than or equal to 50");
    struct decoded d;
    decode(&d, API_OP_LIST_TAGS_FOR_STREAM, "{\"StreamName\":\"s\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.list_tags_for_stream.limit, API_LIST_TAGS_LIMIT_MAX);
    ck_assert_ptr_null(d.req.list_tags_for_stream.start);
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_meta_tag_chars)
{
    ck_assert_int_eq(api_tag_chars("aZ09 _./=+-@:"), API_TAG_CHARS_OK);
    ck_assert_int_eq(api_tag_chars("\xc3\xbc\xc3\xbf"), API_TAG_CHARS_OK);      /* ü ÿ */
    ck_assert_int_eq(api_tag_chars("\xe4\xb8\xad"), API_TAG_CHARS_OK);          /* U+4E2D */
    ck_assert_int_eq(api_tag_chars("\xc2\xa9"), API_TAG_CHARS_INVALID);         /* © U+00A9 */
    ck_assert_int_eq(api_tag_chars("\xf0\x9f\x98\x80"), API_TAG_CHARS_INVALID); /* emoji */
    ck_assert_int_eq(api_tag_chars("a\tb"), API_TAG_CHARS_INVALID);
    ck_assert_int_eq(api_tag_chars("a;b"), API_TAG_CHARS_INVALID);
    ck_assert_int_eq(api_tag_chars("a,b"), API_TAG_CHARS_INVALID);
    ck_assert_int_eq(api_tag_chars("a%b"), API_TAG_CHARS_PERCENT);
    ck_assert_int_eq(api_tag_chars("%;"), API_TAG_CHARS_INVALID); /* invalid wins */
    ck_assert_int_eq(api_tag_chars(""), API_TAG_CHARS_OK);
}
END_TEST

/* ---- ResourceARNs ---- */

static int resolve(const char *arn, struct api_resource *res, struct api_error *e)
{
    struct json_str s = {.present = true, .ptr = arn, .len = strlen(arn)};
    return api_resolve_resource(&test_cfg, &s, res, e);
}

START_TEST(test_api_meta_resource_arns)
{
    struct api_resource res;
    struct api_error e = {0};
    ck_assert_int_eq(resolve("arn:aws:kinesis:us-east-1:000000000000:stream/s1", &res, &e), 0);
    ck_assert(!res.consumer);
    ck_assert_str_eq(res.stream, "s1");
    ck_assert_int_eq(
        resolve("arn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/c.1:1525898737", &res,
                &e),
        0);
    ck_assert(res.consumer);
    ck_assert_str_eq(res.stream, "s1");
    ck_assert_str_eq(res.cons.consumer, "c.1");
    ck_assert_str_eq(res.cons.created_text, "1525898737");
    ck_assert_uint_eq(res.cons.created_s, 1525898737u);
    ck_assert_int_eq(resolve("arn:aws:kinesis:us-east-1:123456789012:stream/s1", &res, &e),
                     -EDDY_ENOTFOUND);
    ck_assert_int_eq(e.ex, API_EX_RESOURCE_NOT_FOUND);
    ck_assert_str_eq(e.message, "Stream s1 under account 123456789012 not found.");
    ck_assert_int_eq(resolve("arn:aws:kinesis:eu-west-1:000000000000:stream/s1", &res, &e),
                     -EDDY_ENOTFOUND);
    ck_assert_int_eq(resolve("arn:aws:kinesis:us-east-1:000000000000:stream/s1/other", &res, &e),
                     -EDDY_ENOTFOUND);
    ck_assert_int_eq(
        resolve("arn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/c:x", &res, &e),
        -EDDY_ENOTFOUND);
    api_error_free(&e);
    expect_error(API_OP_TAG_RESOURCE, "{\"ResourceARN\":\"arn:aws:s3:::b\",\"Tags\":{\"a\":\"\"}}",
                 API_EX_VALIDATION,
                 "1 validation error detected: Value 'arn:aws:s3:::b' at 'resourceARN' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: "
                 "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+");
    expect_error(API_OP_LIST_TAGS_FOR_RESOURCE,
                 "{\"ResourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/x\"}",
                 API_EX_RESOURCE_NOT_FOUND, "Stream x under account 123456789012 not found.");
}
END_TEST

/* ---- retention and account ---- */

START_TEST(test_api_meta_retention_and_account)
{
    expect_error(API_OP_INCREASE_STREAM_RETENTION_PERIOD, "{\"StreamName\":\"s\"}",
                 API_EX_VALIDATION,
                 "1 validation error detected: Value null at 'retentionPeriodHours' failed to "
                 "satisfy constraint: Member must not be null");
    struct decoded d;
    decode(&d, API_OP_DECREASE_STREAM_RETENTION_PERIOD,
           "{\"StreamName\":\"s\",\"RetentionPeriodHours\":-1}");
    ck_assert_int_eq(d.rv, 0); /* the model has no range: the run answers */
    ck_assert_int_eq(d.req.retention.hours, -1);
    decoded_free(&d);
    expect_error(API_OP_UPDATE_ACCOUNT_SETTINGS,
                 "{\"MinimumThroughputBillingCommitment\":{\"Status\":\"ON\"}}", API_EX_VALIDATION,
                 "1 validation error detected: Value 'ON' at "
                 "'minimumThroughputBillingCommitment.status' failed to satisfy constraint: Member "
                 "must satisfy enum value set: [ENABLED, DISABLED]");
    decode(&d, API_OP_UPDATE_ACCOUNT_SETTINGS,
           "{\"MinimumThroughputBillingCommitment\":{\"Status\":\"ENABLED\"}}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(d.req.update_account_settings.enable);
    decoded_free(&d);
    decode(&d, API_OP_DESCRIBE_LIMITS, "{\"Anything\":1}");
    ck_assert_int_eq(d.rv, 0);
    decoded_free(&d);
    ck_assert_int_eq(api_op_lookup("ListTagsForResource", strlen("ListTagsForResource")),
                     API_OP_LIST_TAGS_FOR_RESOURCE);
}
END_TEST

static Suite *api_meta_suite(void)
{
    Suite *s = suite_create("api_meta");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_api_meta_add_tags_validation);
    tcase_add_test(tc, test_api_meta_tag_map_count);
    tcase_add_test(tc, test_api_meta_tag_keys_validation);
    tcase_add_test(tc, test_api_meta_tag_chars);
    tcase_add_test(tc, test_api_meta_resource_arns);
    tcase_add_test(tc, test_api_meta_retention_and_account);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_meta_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
