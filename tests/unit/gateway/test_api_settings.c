/*
 * Unit tests for the decoders of the stream-settings actions (api_settings.h):
 * UpdateStreamMode, Enable/DisableEnhancedMonitoring, Start/StopStream-
 * Encryption, Put/Get/DeleteResourcePolicy, UpdateMaxRecordSize and
 * UpdateStreamWarmThroughput, plus the ResourceARN pattern. Validation texts
 * follow the Coral format the other actions use (test_api_validate.c).
 */
#include "api.h"
#include "json.h"
#include "../support/api_decode_fixture.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_ARN "arn:aws:kinesis:us-east-1:000000000000:stream/s1"

/* ---- UpdateStreamMode ---- */

START_TEST(test_api_settings_mode_validation)
{
    expect_validation(API_OP_UPDATE_STREAM_MODE, "{}",
                      "2 validation errors detected: "
                      "Value null at 'streamARN' failed to satisfy constraint: "
                      "Member must not be null; "
                      "Value null at 'streamModeDetails' failed to satisfy constraint: "
                      "Member must not be null");
    expect_validation(
        API_OP_UPDATE_STREAM_MODE,
        "{\"StreamARN\":\"" T_ARN "\",\"StreamModeDetails\":{\"StreamMode\":\"FAST\"},"
        "\"WarmThroughputMiBps\":-1}",
        "2 validation errors detected: "
        "Value 'FAST' at 'streamModeDetails.streamMode' failed to satisfy constraint: "
        "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]; "
        "Value '-1' at 'warmThroughputMiBps' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0");
    expect_validation(API_OP_UPDATE_STREAM_MODE, "{\"StreamARN\":\"s1\",\"StreamModeDetails\":{}}",
                      "2 validation errors detected: "
                      "Value 's1' at 'streamARN' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: "
                      "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+; "
                      "Value null at 'streamModeDetails.streamMode' failed to satisfy "
                      "constraint: Member must not be null");
    expect_error(API_OP_UPDATE_STREAM_MODE,
                 "{\"StreamARN\":\"" T_ARN "\",\"StreamModeDetails\":[]}", API_EX_SERIALIZATION,
                 "Start of list found where not expected");
}
END_TEST

START_TEST(test_api_settings_mode_decodes)
{
    struct decoded d;
    expect_ok(&d, API_OP_UPDATE_STREAM_MODE,
              "{\"StreamARN\":\"" T_ARN "\",\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"},"
              "\"WarmThroughputMiBps\":25}");
    ck_assert_str_eq(d.req.update_stream_mode.name, "s1");
    ck_assert_int_eq(d.req.update_stream_mode.mode, EDDY__STREAM_MODE__MODE_ON_DEMAND);
    ck_assert(d.req.update_stream_mode.has_warm);
    ck_assert_uint_eq(d.req.update_stream_mode.warm_mibps, 25);
    decoded_free(&d);
    expect_ok(&d, API_OP_UPDATE_STREAM_MODE,
              "{\"StreamARN\":\"" T_ARN
              "\",\"StreamModeDetails\":{\"StreamMode\":\"PROVISIONED\"}}");
    ck_assert_int_eq(d.req.update_stream_mode.mode, EDDY__STREAM_MODE__MODE_PROVISIONED);
    ck_assert(!d.req.update_stream_mode.has_warm);
    decoded_free(&d);
    /* Another account's stream is not here. */
    expect_error(API_OP_UPDATE_STREAM_MODE,
                 "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:111111111111:stream/s1\","
                 "\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"}}",
                 API_EX_RESOURCE_NOT_FOUND, "Stream s1 under account 111111111111 not found.");
}
END_TEST

/* ---- Enable/DisableEnhancedMonitoring ---- */

START_TEST(test_api_settings_monitoring_validation)
{
    expect_validation(API_OP_ENABLE_ENHANCED_MONITORING, "{\"StreamName\":\"s1\"}",
                      "1 validation error detected: Value null at 'shardLevelMetrics' failed to "
                      "satisfy constraint: Member must not be null");
    expect_validation(API_OP_DISABLE_ENHANCED_MONITORING,
                      "{\"StreamName\":\"s1\",\"ShardLevelMetrics\":[]}",
                      "1 validation error detected: Value '[]' at 'shardLevelMetrics' failed to "
                      "satisfy constraint: Member must have length greater than or equal to 1");
    expect_validation(
        API_OP_ENABLE_ENHANCED_MONITORING,
        "{\"StreamName\":\"s1\",\"ShardLevelMetrics\":[\"IncomingBytes\",\"Nope\",null]}",
        "1 validation error detected: Value '[IncomingBytes, Nope, null]' at "
        "'shardLevelMetrics' failed to satisfy constraint: Member must satisfy constraint: "
        "[Member must satisfy enum value set: [IncomingBytes, IncomingRecords, OutgoingBytes, "
        "OutgoingRecords, WriteProvisionedThroughputExceeded, "
        "ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL]]");
    expect_validation(API_OP_ENABLE_ENHANCED_MONITORING,
                      "{\"StreamName\":\"\",\"ShardLevelMetrics\":[\"ALL\",\"ALL\",\"ALL\","
                      "\"ALL\",\"ALL\",\"ALL\",\"ALL\",\"ALL\"]}",
                      "3 validation errors detected: "
                      "Value '[ALL, ALL, ALL, ALL, ALL, ALL, ALL, ALL]' at 'shardLevelMetrics' "
                      "failed to satisfy constraint: Member must have length less than or "
                      "equal to 7; "
                      "Value '' at 'streamName' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
                      "Value '' at 'streamName' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1");
    expect_error(API_OP_ENABLE_ENHANCED_MONITORING,
                 "{\"StreamName\":\"s1\",\"ShardLevelMetrics\":[\"ALL\",3]}", API_EX_SERIALIZATION,
                 "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be "
                 "converted to an String");
    expect_error(API_OP_ENABLE_ENHANCED_MONITORING,
                 "{\"StreamName\":\"s1\",\"ShardLevelMetrics\":\"ALL\"}", API_EX_SERIALIZATION,
                 "Expected list or null");
    expect_error(API_OP_ENABLE_ENHANCED_MONITORING, "{\"ShardLevelMetrics\":[\"ALL\"]}",
                 API_EX_INVALID_ARGUMENT, "Either StreamName or StreamARN should be provided.");
}
END_TEST

START_TEST(test_api_settings_monitoring_decodes)
{
    struct decoded d;
    expect_ok(&d, API_OP_ENABLE_ENHANCED_MONITORING,
              "{\"StreamARN\":\"" T_ARN "\",\"ShardLevelMetrics\":[\"ALL\"]}");
    ck_assert_str_eq(d.req.monitoring.name, "s1");
    ck_assert_uint_eq(d.req.monitoring.metrics, API_METRICS_ALL);
    decoded_free(&d);
    expect_ok(&d, API_OP_DISABLE_ENHANCED_MONITORING,
              "{\"StreamName\":\"s1\",\"ShardLevelMetrics\":[\"IteratorAgeMilliseconds\","
              "\"IncomingBytes\",\"IncomingBytes\"]}");
    ck_assert_uint_eq(d.req.monitoring.metrics,
                      (1u << API_METRIC_ITERATOR_AGE) | (1u << API_METRIC_INCOMING_BYTES));
    decoded_free(&d);
    ck_assert_int_eq(api_metric_lookup("OutgoingRecords", 15), API_METRIC_OUTGOING_RECORDS);
    ck_assert_int_eq(api_metric_lookup("ALL", 3), -1);
    ck_assert_str_eq(api_metric_name(API_METRIC_WRITE_THROUGHPUT_EXCEEDED),
                     "WriteProvisionedThroughputExceeded");
    Eddy__StreamInfo st = EDDY__STREAM_INFO__INIT;
    char *names[] = {"IncomingRecords", "bogus", "ReadProvisionedThroughputExceeded"};
    st.n_shard_level_metrics = 3;
    st.shard_level_metrics = names;
    ck_assert_uint_eq(api_stream_metrics(&st), (1u << API_METRIC_INCOMING_RECORDS) |
                                                   (1u << API_METRIC_READ_THROUGHPUT_EXCEEDED));
    struct json_out o;
    json_out_init(&o, 1024);
    json_out_obj_begin(&o);
    api_write_enhanced_monitoring(&o, &st);
    json_out_obj_end(&o);
    ck_assert_int_eq(o.err, 0);
    (void)buf_append(&o.b, "", 1);
    ck_assert_str_eq((const char *)o.b.data,
                     "{\"EnhancedMonitoring\":[{\"ShardLevelMetrics\":[\"IncomingRecords\","
                     "\"ReadProvisionedThroughputExceeded\"]}]}");
    json_out_free(&o);
}
END_TEST

/* ---- Start/StopStreamEncryption ---- */

START_TEST(test_api_settings_encryption_validation)
{
    expect_validation(API_OP_START_STREAM_ENCRYPTION, "{\"StreamName\":\"s1\"}",
                      "2 validation errors detected: "
                      "Value null at 'encryptionType' failed to satisfy constraint: "
                      "Member must not be null; "
                      "Value null at 'keyId' failed to satisfy constraint: "
                      "Member must not be null");
    expect_validation(API_OP_STOP_STREAM_ENCRYPTION,
                      "{\"StreamName\":\"s1\",\"EncryptionType\":\"AES\",\"KeyId\":\"\"}",
                      "2 validation errors detected: "
                      "Value 'AES' at 'encryptionType' failed to satisfy constraint: "
                      "Member must satisfy enum value set: [NONE, KMS]; "
                      "Value '' at 'keyId' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1");
    char *key = eddy_xmalloc(2050);
    memset(key, 'k', 2049);
    key[2049] = '\0';
    char *body = eddy_xmalloc(4200);
    snprintf(body, 4200, "{\"StreamName\":\"s1\",\"EncryptionType\":\"KMS\",\"KeyId\":\"%s\"}",
             key);
    char *msg = eddy_xmalloc(4200);
    snprintf(msg, 4200,
             "1 validation error detected: Value '%s' at 'keyId' failed to satisfy constraint: "
             "Member must have length less than or equal to 2048",
             key);
    expect_validation(API_OP_START_STREAM_ENCRYPTION, body, msg);
    eddy_free(msg);
    eddy_free(body);
    eddy_free(key);
}
END_TEST

START_TEST(test_api_settings_encryption_decodes)
{
    struct decoded d;
    expect_ok(&d, API_OP_START_STREAM_ENCRYPTION,
              "{\"StreamName\":\"s1\",\"EncryptionType\":\"KMS\",\"KeyId\":\"alias/aws/kinesis\"}");
    ck_assert_str_eq(d.req.encryption.name, "s1");
    ck_assert(d.req.encryption.kms);
    ck_assert_str_eq(d.req.encryption.key_id, "alias/aws/kinesis");
    decoded_free(&d);
    /* NONE passes the model and is refused once the stream is known. */
    expect_ok(&d, API_OP_STOP_STREAM_ENCRYPTION,
              "{\"StreamARN\":\"" T_ARN "\",\"EncryptionType\":\"NONE\",\"KeyId\":\"k\"}");
    ck_assert(!d.req.encryption.kms);
    decoded_free(&d);
}
END_TEST

/* ---- resource policies ---- */

START_TEST(test_api_settings_policy_arn_pattern)
{
    static const char *const good[] = {
        T_ARN,
        "arn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/c:1700000000",
        "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/x",
        "arn:aws:kinesis::123456789012:foostream/x",
        "arn:aws:kinesis:a:b:123456789012:x:stream/y",
    };
    static const char *const bad[] = {
        "",
        "arn:aws:kinesis:us-east-1:000000000000:stream/",
        "arn:aws:kinesis:123456789012:stream/x",     /* no region field */
        "arn:aws:kinesis:r:12345678901:stream/x",    /* 11 digits */
        "arn:aws:kinesis:r:000000000000:stream/a b", /* whitespace in the tail */
        "arn:aws:kinesis:r\n:000000000000:stream/x", /* '.' does not match \n */
        "arn:aws:sqs:r:000000000000:stream/x",
        "xarn:aws:kinesis:r:000000000000:stream/x",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(api_resource_arn_match(good[i], strlen(good[i])), "%s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!api_resource_arn_match(bad[i], strlen(bad[i])), "%s", bad[i]);
    }
}
END_TEST

START_TEST(test_api_settings_policy_validation)
{
    expect_validation(API_OP_PUT_RESOURCE_POLICY, "{}",
                      "2 validation errors detected: "
                      "Value null at 'policy' failed to satisfy constraint: "
                      "Member must not be null; "
                      "Value null at 'resourceARN' failed to satisfy constraint: "
                      "Member must not be null");
    expect_validation(API_OP_GET_RESOURCE_POLICY, "{\"ResourceARN\":\"s1\"}",
                      "1 validation error detected: Value 's1' at 'resourceARN' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+");
    expect_validation(API_OP_DELETE_RESOURCE_POLICY, "{\"ResourceARN\":\"\"}",
                      "2 validation errors detected: Value '' at 'resourceARN' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+; Value '' at 'resourceARN' "
                      "failed to satisfy constraint: Member must have length greater than or "
                      "equal to 1");
    expect_error(API_OP_PUT_RESOURCE_POLICY,
                 "{\"ResourceARN\":\"" T_ARN "\",\"Policy\":\"not json\"}", API_EX_INVALID_ARGUMENT,
                 "Policy is not a valid JSON policy document.");
    expect_error(API_OP_PUT_RESOURCE_POLICY, "{\"ResourceARN\":\"" T_ARN "\",\"Policy\":\"[1]\"}",
                 API_EX_INVALID_ARGUMENT, "Policy is not a valid JSON policy document.");
    /* Nesting past the bound is refused before cJSON recurses into it. */
    char deep[256] = "{\"ResourceARN\":\"" T_ARN "\",\"Policy\":\"{\\\"a\\\":";
    size_t n = strlen(deep);
    for (int i = 0; i < 40; i++) {
        deep[n++] = '[';
    }
    for (int i = 0; i < 40; i++) {
        deep[n++] = ']';
    }
    memcpy(deep + n, "}\"}", 4);
    expect_error(API_OP_PUT_RESOURCE_POLICY, deep, API_EX_INVALID_ARGUMENT,
                 "Policy is not a valid JSON policy document.");
    /* A policy over the size bound. */
    size_t big = API_RESOURCE_POLICY_BYTES_MAX + 1;
    char *body = eddy_xmalloc(big + 256);
    int k =
        snprintf(body, big + 256, "{\"ResourceARN\":\"" T_ARN "\",\"Policy\":\"{\\\"a\\\":\\\"");
    size_t fill = big - 8; /* {"a":"<fill>"} */
    memset(body + k, 'x', fill);
    memcpy(body + k + fill, "\\\"}\"}", 6);
    char msg[128];
    snprintf(msg, sizeof(msg), "Policy document of %zu bytes exceeds the maximum size of %d bytes.",
             big, API_RESOURCE_POLICY_BYTES_MAX);
    expect_error(API_OP_PUT_RESOURCE_POLICY, body, API_EX_INVALID_ARGUMENT, msg);
    eddy_free(body);
}
END_TEST

START_TEST(test_api_settings_policy_decodes)
{
    struct decoded d;
    expect_ok(&d, API_OP_PUT_RESOURCE_POLICY,
              "{\"ResourceARN\":\"" T_ARN
              "\",\"Policy\":\"{\\\"Version\\\":\\\"2012-10-17\\\"}\"}");
    ck_assert(d.req.policy.ours);
    ck_assert(!d.req.policy.consumer);
    ck_assert_str_eq(d.req.policy.name, "s1");
    ck_assert_str_eq(d.req.policy.policy, "{\"Version\":\"2012-10-17\"}");
    decoded_free(&d);
    expect_ok(&d, API_OP_GET_RESOURCE_POLICY,
              "{\"ResourceARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/"
              "c-1:1700000000\"}");
    ck_assert(d.req.policy.ours);
    ck_assert(d.req.policy.consumer);
    ck_assert_str_eq(d.req.policy.name, "s1");
    ck_assert_str_eq(d.req.policy.cons.consumer, "c-1");
    ck_assert_str_eq(d.req.policy.cons.created_text, "1700000000");
    ck_assert_uint_eq(d.req.policy.cons.created_s, 1700000000u);
    decoded_free(&d);
    /* Matches the pattern, but names nothing in this region and account. */
    expect_ok(&d, API_OP_DELETE_RESOURCE_POLICY,
              "{\"ResourceARN\":\"arn:aws:kinesis:eu-west-1:000000000000:stream/s1\"}");
    ck_assert(!d.req.policy.ours);
    ck_assert_uint_eq(d.req.policy.stream_len, 2);
    decoded_free(&d);
    expect_ok(&d, API_OP_DELETE_RESOURCE_POLICY,
              "{\"ResourceARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/bad*name\"}");
    ck_assert(!d.req.policy.ours);
    decoded_free(&d);
}
END_TEST

/* ---- UpdateMaxRecordSize, UpdateStreamWarmThroughput ---- */

START_TEST(test_api_settings_record_size)
{
    expect_validation(API_OP_UPDATE_MAX_RECORD_SIZE, "{\"StreamARN\":\"" T_ARN "\"}",
                      "1 validation error detected: Value null at 'maxRecordSizeInKiB' failed to "
                      "satisfy constraint: Member must not be null");
    expect_validation(API_OP_UPDATE_MAX_RECORD_SIZE,
                      "{\"StreamARN\":\"" T_ARN "\",\"MaxRecordSizeInKiB\":1023}",
                      "1 validation error detected: Value '1023' at 'maxRecordSizeInKiB' failed "
                      "to satisfy constraint: Member must have value greater than or equal to "
                      "1024");
    expect_validation(API_OP_UPDATE_MAX_RECORD_SIZE, "{\"MaxRecordSizeInKiB\":10241}",
                      "1 validation error detected: Value '10241' at 'maxRecordSizeInKiB' failed "
                      "to satisfy constraint: Member must have value less than or equal to "
                      "10240");
    expect_error(API_OP_UPDATE_MAX_RECORD_SIZE, "{\"MaxRecordSizeInKiB\":2048}",
                 API_EX_INVALID_ARGUMENT, "Either StreamName or StreamARN should be provided.");
    struct decoded d;
    expect_ok(&d, API_OP_UPDATE_MAX_RECORD_SIZE,
              "{\"StreamARN\":\"" T_ARN "\",\"MaxRecordSizeInKiB\":10240}");
    ck_assert_str_eq(d.req.update_max_record_size.name, "s1");
    ck_assert_uint_eq(d.req.update_max_record_size.kib, 10240);
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_settings_warm_throughput)
{
    expect_validation(API_OP_UPDATE_STREAM_WARM_THROUGHPUT, "{\"StreamName\":\"s1\"}",
                      "1 validation error detected: Value null at 'warmThroughputMiBps' failed to "
                      "satisfy constraint: Member must not be null");
    expect_validation(API_OP_UPDATE_STREAM_WARM_THROUGHPUT,
                      "{\"StreamName\":\"s1\",\"WarmThroughputMiBps\":-5}",
                      "1 validation error detected: Value '-5' at 'warmThroughputMiBps' failed to "
                      "satisfy constraint: Member must have value greater than or equal to 0");
    struct decoded d;
    expect_ok(&d, API_OP_UPDATE_STREAM_WARM_THROUGHPUT,
              "{\"StreamName\":\"s1\",\"StreamARN\":\"" T_ARN "\",\"WarmThroughputMiBps\":100}");
    ck_assert_str_eq(d.req.update_warm_throughput.name, "s1");
    ck_assert_uint_eq(d.req.update_warm_throughput.mibps, 100);
    decoded_free(&d);
    expect_error(API_OP_UPDATE_STREAM_WARM_THROUGHPUT,
                 "{\"StreamName\":\"s2\",\"StreamARN\":\"" T_ARN "\",\"WarmThroughputMiBps\":1}",
                 API_EX_INVALID_ARGUMENT,
                 "StreamARN " T_ARN " and StreamName s2 do not name the same stream.");
}
END_TEST

/* Every new action is in the table under its AWS name. */
START_TEST(test_api_settings_op_names)
{
    static const char *const names[] = {
        "UpdateStreamMode",           "EnableEnhancedMonitoring", "DisableEnhancedMonitoring",
        "StartStreamEncryption",      "StopStreamEncryption",     "PutResourcePolicy",
        "GetResourcePolicy",          "DeleteResourcePolicy",     "UpdateMaxRecordSize",
        "UpdateStreamWarmThroughput",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int op = api_op_lookup(names[i], strlen(names[i]));
        ck_assert_msg(op >= 0, "%s", names[i]);
        ck_assert_str_eq(api_op_name((enum api_op)op), names[i]);
    }
}
END_TEST

static Suite *api_settings_suite(void)
{
    Suite *s = suite_create("api_settings");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_api_settings_mode_validation);
    tcase_add_test(tc, test_api_settings_mode_decodes);
    tcase_add_test(tc, test_api_settings_monitoring_validation);
    tcase_add_test(tc, test_api_settings_monitoring_decodes);
    tcase_add_test(tc, test_api_settings_encryption_validation);
    tcase_add_test(tc, test_api_settings_encryption_decodes);
    tcase_add_test(tc, test_api_settings_record_size);
    tcase_add_test(tc, test_api_settings_warm_throughput);
    tcase_add_test(tc, test_api_settings_op_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("policy");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_api_settings_policy_arn_pattern);
    tcase_add_test(tc, test_api_settings_policy_validation);
    tcase_add_test(tc, test_api_settings_policy_decodes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_settings_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
