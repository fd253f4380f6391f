/*
 * Unit tests for the pure request path of the Kinesis API: decoding and
 * validation (server/gateway/json*.c, api_*_decode), the exception table and
 * StreamARN handling. Expected texts are AWS's, as recorded against the live
 * service by kinesalite's test-suite, adjusted for today's model (StreamName
 * optional since StreamARN exists, five iterator types, 10 MiB Data).
 */
#include "api.h"
#include "json.h"
#include "../support/api_decode_fixture.h"

#include "eddy/alloc.h"
#include "eddy/base64.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *repeat(char c, size_t n)
{
    char *s = eddy_xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- format ---- */

START_TEST(test_api_validate_format_single_error)
{
    expect_validation(API_OP_CREATE_STREAM, "{}",
                      "1 validation error detected: Value null at 'streamName' failed to satisfy "
                      "constraint: Member must not be null");
    expect_validation(API_OP_GET_RECORDS, "{}",
                      "1 validation error detected: Value null at 'shardIterator' failed to "
                      "satisfy constraint: Member must not be null");
}
END_TEST

START_TEST(test_api_validate_format_several_errors)
{
    expect_validation(API_OP_CREATE_STREAM, "{\"StreamName\":\"\",\"ShardCount\":0}",
                      "3 validation errors detected: "
                      "Value '0' at 'shardCount' failed to satisfy constraint: "
                      "Member must have value greater than or equal to 1; "
                      "Value '' at 'streamName' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
                      "Value '' at 'streamName' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1");
    expect_validation(API_OP_GET_RECORDS, "{\"ShardIterator\":\"\",\"Limit\":0}",
                      "2 validation errors detected: "
                      "Value '0' at 'limit' failed to satisfy constraint: "
                      "Member must have value greater than or equal to 1; "
                      "Value '' at 'shardIterator' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1");
}
END_TEST

START_TEST(test_api_validate_format_put_record_order)
{
    expect_validation(
        API_OP_PUT_RECORD,
        "{\"StreamName\":\"\",\"PartitionKey\":\"\",\"Data\":\"\",\"ExplicitHashKey\":\"\","
        "\"SequenceNumberForOrdering\":\"\"}",
        "5 validation errors detected: "
        "Value '' at 'sequenceNumberForOrdering' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128}); "
        "Value '' at 'partitionKey' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value '' at 'explicitHashKey' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38}); "
        "Value '' at 'streamName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '' at 'streamName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1");
    expect_validation(API_OP_PUT_RECORD, "{}",
                      "2 validation errors detected: "
                      "Value null at 'partitionKey' failed to satisfy constraint: "
                      "Member must not be null; "
                      "Value null at 'data' failed to satisfy constraint: "
                      "Member must not be null");
}
END_TEST

START_TEST(test_api_validate_format_long_values)
{
    char *name = repeat('a', 129);
    char *key = repeat('a', 257);
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"StreamName\":\"%s\",\"ShardId\":\"%s\",\"ShardIteratorType\":\"LATEST\"}", name,
             name);
    char msg[1024];
    snprintf(msg, sizeof(msg),
             "2 validation errors detected: "
             "Value '%s' at 'shardId' failed to satisfy constraint: "
             "Member must have length less than or equal to 128; "
             "Value '%s' at 'streamName' failed to satisfy constraint: "
             "Member must have length less than or equal to 128",
             name, name);
    expect_validation(API_OP_GET_SHARD_ITERATOR, body, msg);
    snprintf(body, sizeof(body), "{\"StreamName\":\"s\",\"PartitionKey\":\"%s\",\"Data\":\"\"}",
             key);
    snprintf(msg, sizeof(msg),
             "1 validation error detected: Value '%s' at 'partitionKey' failed to satisfy "
             "constraint: Member must have length less than or equal to 256",
             key);
    expect_validation(API_OP_PUT_RECORD, body, msg);
    expect_validation(API_OP_GET_RECORDS, "{\"ShardIterator\":\"x\",\"Limit\":100000}",
                      "1 validation error detected: Value '100000' at 'limit' failed to satisfy "
                      "constraint: Member must have value less than or equal to 10000");
    eddy_free(name);
    eddy_free(key);
}
END_TEST

START_TEST(test_api_validate_format_blob_value)
{
    size_t n = KIN_RECORD_DATA_LARGE_MAX + 1; /* the model's bound; streams' own is checked later */
    uint8_t *data = eddy_xcalloc(1, n);
    char *b64 = eddy_xmalloc(base64_encoded_len(n) + 1);
    b64[base64_encode(data, n, b64)] = '\0';
    size_t cap = strlen(b64) + 128;
    char *body = eddy_xmalloc(cap);
    snprintf(body, cap, "{\"StreamName\":\"s\",\"PartitionKey\":\"k\",\"Data\":\"%s\"}", b64);
    expect_validation(API_OP_PUT_RECORD, body,
                      "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 "
                      "lim=10485761 cap=10485761]' at 'data' failed to satisfy constraint: Member "
                      "must have length less than or equal to 10485760");
    eddy_free(body);
    eddy_free(b64);
    eddy_free(data);
}
END_TEST

START_TEST(test_api_validate_format_enum)
{
    expect_validation(
        API_OP_GET_SHARD_ITERATOR,
        "{\"StreamName\":\"\",\"ShardIteratorType\":\"\",\"ShardId\":\"\","
        "\"StartingSequenceNumber\":\"\"}",
        "6 validation errors detected: "
        "Value '' at 'shardId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '' at 'shardId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value '' at 'shardIteratorType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, "
        "AT_SEQUENCE_NUMBER, TRIM_HORIZON]; "
        "Value '' at 'startingSequenceNumber' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128}); "
        "Value '' at 'streamName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '' at 'streamName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1");
}
END_TEST

START_TEST(test_api_validate_format_records_list)
{
    expect_validation(API_OP_PUT_RECORDS, "{\"StreamName\":\"\",\"Records\":[]}",
                      "3 validation errors detected: "
                      "Value '[]' at 'records' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1; "
                      "Value '' at 'streamName' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
                      "Value '' at 'streamName' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1");
    expect_validation(
        API_OP_PUT_RECORDS,
        "{\"StreamName\":\"s\",\"Records\":[{\"PartitionKey\":\"\",\"Data\":\"\","
        "\"ExplicitHashKey\":\"\"},{}]}",
        "4 validation errors detected: "
        "Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value '' at 'records.1.member.explicitHashKey' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38}); "
        "Value null at 'records.2.member.partitionKey' failed to satisfy constraint: "
        "Member must not be null; "
        "Value null at 'records.2.member.data' failed to satisfy constraint: "
        "Member must not be null");
}
END_TEST

/* 501 records with empty keys: the list error, then only 9 of the 501 key
 * errors, and the count says 10. */
START_TEST(test_api_validate_format_at_most_ten)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(buf_append_str(&b, "{\"StreamName\":\"\",\"Records\":["), 0);
    for (int i = 0; i < 501; i++) {
        ck_assert_int_eq(buf_printf(&b, "%s{\"PartitionKey\":\"\",\"Data\":\"\"}", i ? "," : ""),
                         0);
    }
    ck_assert_int_eq(buf_append(&b, "]}", 3), 0);
    struct decoded d;
    decode(&d, API_OP_PUT_RECORDS, (const char *)b.data);
    ck_assert_int_ne(d.rv, 0);
    ck_assert_int_eq(d.e.ex, API_EX_VALIDATION);
    const char *m = d.e.message;
    ck_assert_msg(strncmp(m,
                          "10 validation errors detected: Value '[com.amazonaws.kinesis."
                          "v20131202.PutRecordsRequestEntry@",
                          82) == 0,
                  "%s", m);
    ck_assert_ptr_nonnull(strstr(m, ", ...]' at 'records' failed to satisfy constraint: Member "
                                    "must have length less than or equal to 500; "));
    ck_assert_ptr_nonnull(strstr(m, "at 'records.9.member.partitionKey'"));
    ck_assert_ptr_null(strstr(m, "records.10.member"));
    ck_assert_ptr_null(strstr(m, "streamName"));
    decoded_free(&d);
    buf_free(&b);
}
END_TEST

START_TEST(test_api_validate_format_exception_table)
{
    ck_assert_str_eq(api_exception_type(API_EX_SERIALIZATION), "SerializationException");
    ck_assert(api_exception_capital_message(API_EX_SERIALIZATION));
    ck_assert(!api_exception_capital_message(API_EX_VALIDATION));
    ck_assert_int_eq(api_exception_status(API_EX_INTERNAL_FAILURE), 500);
    ck_assert_int_eq(api_exception_status(API_EX_SERVICE_UNAVAILABLE), 503);
    ck_assert_int_eq(api_exception_status(API_EX_RESOURCE_NOT_FOUND), 400);
    ck_assert_int_eq(api_exception_for_code(-EDDY_ENOTFOUND), API_EX_RESOURCE_NOT_FOUND);
    ck_assert_int_eq(api_exception_for_code(-EDDY_EEXISTS), API_EX_RESOURCE_IN_USE);
    ck_assert_int_eq(api_exception_for_code(-EDDY_ETHROTTLED), API_EX_THROUGHPUT_EXCEEDED);
    ck_assert_int_eq(api_exception_for_code(-EDDY_EUNAVAILABLE), API_EX_SERVICE_UNAVAILABLE);
    ck_assert_int_eq(api_exception_for_code(-EDDY_EUNKNOWN), API_EX_INTERNAL_FAILURE);
    ck_assert_int_eq(api_exception_for_code(-12 /* ENOMEM */), API_EX_INTERNAL_FAILURE);
    for (int code = EDDY_ERRNO_BASE_ + 1; code < EDDY_ERRNO_END_; code++) {
        enum api_exception ex = api_exception_for_code(-code);
        ck_assert(ex > API_EX_NONE && ex < API_EX_COUNT_);
    }
}
END_TEST

/* ---- types ---- */

START_TEST(test_api_validate_types_string)
{
    expect_serialization(API_OP_DESCRIBE_STREAM, "{\"StreamName\":true}",
                         "class java.lang.Boolean can not be converted to an String");
    expect_serialization(API_OP_DESCRIBE_STREAM, "{\"StreamName\":23}",
                         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not "
                         "be converted to an String");
    expect_serialization(API_OP_DESCRIBE_STREAM, "{\"StreamName\":34.56}",
                         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not "
                         "be converted to an String");
    expect_serialization(API_OP_DESCRIBE_STREAM, "{\"StreamName\":[]}",
                         "Start of list found where not expected");
    expect_serialization(API_OP_DESCRIBE_STREAM, "{\"StreamName\":{}}",
                         "Start of structure or map found where not expected.");
}
END_TEST

START_TEST(test_api_validate_types_integer)
{
    expect_serialization(API_OP_CREATE_STREAM, "{\"ShardCount\":\"23\"}",
                         "class java.lang.String can not be converted to an Integer");
    expect_serialization(API_OP_CREATE_STREAM, "{\"ShardCount\":true}",
                         "class java.lang.Boolean can not be converted to an Integer");
    expect_serialization(API_OP_CREATE_STREAM, "{\"ShardCount\":[]}",
                         "Start of list found where not expected");
    /* Numbers are floored and clamped to an int, then validated. */
    expect_validation(API_OP_GET_RECORDS, "{\"ShardIterator\":\"x\",\"Limit\":0.9}",
                      "1 validation error detected: Value '0' at 'limit' failed to satisfy "
                      "constraint: Member must have value greater than or equal to 1");
    expect_validation(API_OP_GET_RECORDS, "{\"ShardIterator\":\"x\",\"Limit\":1e30}",
                      "1 validation error detected: Value '2147483647' at 'limit' failed to "
                      "satisfy constraint: Member must have value less than or equal to 10000");
}
END_TEST

START_TEST(test_api_validate_types_blob)
{
    const char *pre = "{\"StreamName\":\"s\",\"PartitionKey\":\"k\",\"Data\":";
    char body[256];
    snprintf(body, sizeof(body), "%strue}", pre);
    expect_serialization(API_OP_PUT_RECORD, body,
                         "class java.lang.Boolean can not be converted to a Blob");
    snprintf(body, sizeof(body), "%s23}", pre);
    expect_serialization(API_OP_PUT_RECORD, body,
                         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not "
                         "be converted to a Blob");
    snprintf(body, sizeof(body), "%s\"23456\"}", pre);
    expect_serialization(API_OP_PUT_RECORD, body,
                         "'23456' can not be converted to a Blob: Base64 encoded length is "
                         "expected a multiple of 4 bytes but found: 5");
    snprintf(body, sizeof(body), "%s\"=+/=\"}", pre);
    expect_serialization(API_OP_PUT_RECORD, body,
                         "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='");
    snprintf(body, sizeof(body), "%s\"+/+=\"}", pre);
    expect_serialization(API_OP_PUT_RECORD, body,
                         "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 "
                         "character dectected");
    snprintf(body, sizeof(body), "%s\"ab*d\"}", pre);
    expect_serialization(API_OP_PUT_RECORD, body,
                         "'ab*d' can not be converted to a Blob: Invalid Base64 character: '*'");
}
END_TEST

START_TEST(test_api_validate_types_blob_in_records)
{
    /* Data is decoded in place in the document: each record's own bytes,
     * and a bad record after good ones still shows its own text. */
    struct decoded d;
    expect_ok(&d, API_OP_PUT_RECORDS,
              "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":\"a\"},"
              "{\"Data\":\"YmFyYg==\",\"PartitionKey\":\"b\"},"
              "{\"Data\":\"\",\"PartitionKey\":\"c\"}]}");
    ck_assert_uint_eq(d.req.put_records.count, 3);
    ck_assert_uint_eq(d.req.put_records.entries[0].data_len, 3);
    ck_assert_mem_eq(d.req.put_records.entries[0].data, "foo", 3);
    ck_assert_uint_eq(d.req.put_records.entries[1].data_len, 4);
    ck_assert_mem_eq(d.req.put_records.entries[1].data, "barb", 4);
    ck_assert_uint_eq(d.req.put_records.entries[2].data_len, 0);
    ck_assert_ptr_nonnull(d.req.put_records.entries[2].data);
    decoded_free(&d);
    expect_serialization(API_OP_PUT_RECORDS,
                         "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":"
                         "\"a\"},{\"Data\":\"ab*d\",\"PartitionKey\":\"b\"}]}",
                         "'ab*d' can not be converted to a Blob: Invalid Base64 character: '*'");
    expect_serialization(API_OP_PUT_RECORDS,
                         "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":"
                         "\"a\"},{\"Data\":\"Zm9v+/+=\",\"PartitionKey\":\"b\"}]}",
                         "'Zm9v+/+=' can not be converted to a Blob: Invalid last non-pad Base64 "
                         "character dectected");
}
END_TEST

START_TEST(test_api_validate_types_list_and_structure)
{
    expect_serialization(API_OP_PUT_RECORDS, "{\"Records\":\"23\"}", "Expected list or null");
    expect_serialization(API_OP_PUT_RECORDS, "{\"Records\":23}", "Expected list or null");
    expect_serialization(API_OP_PUT_RECORDS, "{\"Records\":{}}",
                         "Start of structure or map found where not expected.");
    expect_serialization(API_OP_PUT_RECORDS, "{\"Records\":[\"23\"]}", "Expected null");
    expect_serialization(API_OP_PUT_RECORDS, "{\"Records\":[[]]}",
                         "Start of list found where not expected");
    expect_serialization(API_OP_CREATE_STREAM, "{\"StreamName\":\"s\",\"StreamModeDetails\":1}",
                         "Expected null");
    expect_serialization(API_OP_CREATE_STREAM, "{\"StreamName\":\"s\",\"Tags\":[]}",
                         "Start of list found where not expected");
    expect_serialization(API_OP_CREATE_STREAM, "{\"StreamName\":\"s\",\"Tags\":\"x\"}",
                         "Expected map or null");
}
END_TEST

START_TEST(test_api_validate_types_boolean_and_timestamp)
{
    expect_serialization(API_OP_DELETE_STREAM,
                         "{\"StreamName\":\"s\",\"EnforceConsumerDeletion\":\"hello\"}",
                         "'HELLO' can not be converted to an Boolean");
    expect_serialization(API_OP_DELETE_STREAM,
                         "{\"StreamName\":\"s\",\"EnforceConsumerDeletion\":23}",
                         "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not "
                         "be converted to an Boolean");
    struct decoded d;
    decode(&d, API_OP_DELETE_STREAM, "{\"StreamName\":\"s\",\"EnforceConsumerDeletion\":\"yes\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(d.req.delete_stream.enforce_consumer_deletion);
    decoded_free(&d);
    expect_serialization(API_OP_GET_SHARD_ITERATOR,
                         "{\"StreamName\":\"s\",\"ShardId\":\"0\",\"ShardIteratorType\":"
                         "\"AT_TIMESTAMP\",\"Timestamp\":\"x\"}",
                         "class java.lang.String can not be converted to milliseconds since epoch");
    decode(&d, API_OP_GET_SHARD_ITERATOR,
           "{\"StreamName\":\"s\",\"ShardId\":\"0\",\"ShardIteratorType\":\"AT_TIMESTAMP\","
           "\"Timestamp\":1459799926.48}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_int_eq(d.req.get_shard_iterator.timestamp_ms, 1459799926480);
    ck_assert_int_eq(d.req.get_shard_iterator.type, API_ITERATOR_AT_TIMESTAMP);
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_validate_types_bad_documents)
{
    expect_serialization(API_OP_LIST_STREAMS, "hello", NULL);
    expect_serialization(API_OP_LIST_STREAMS, "", NULL);
    expect_serialization(API_OP_LIST_STREAMS, "{} x", NULL);
    expect_serialization(API_OP_LIST_STREAMS, "23", NULL);
    expect_serialization(API_OP_LIST_STREAMS, "[]", "Start of list found where not expected");
    expect_serialization(API_OP_LIST_STREAMS, "{\"Limit\":\"\xff\"}", NULL);
    /* Deeper than GW_JSON_DEPTH_MAX. */
    char deep[256];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"a\":");
    for (int i = 0; i < 40; i++) {
        deep[n++] = '[';
    }
    for (int i = 0; i < 40; i++) {
        deep[n++] = ']';
    }
    deep[n++] = '}';
    deep[n] = '\0';
    expect_serialization(API_OP_LIST_STREAMS, deep, NULL);
    /* Unknown members are ignored; null reads as absent. */
    struct decoded d;
    decode(&d, API_OP_LIST_STREAMS, "{\"Whatever\":[1,{\"x\":2}],\"Limit\":null}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.list_streams.limit, KIN_LIST_STREAMS_LIMIT_DEFAULT);
    decoded_free(&d);
}
END_TEST

/* ---- arn ---- */

START_TEST(test_api_validate_arn_pattern)
{
    static const struct {
        const char *arn;
        bool ok;
    } cases[] = {
        {"arn:aws:kinesis:us-east-1:000000000000:stream/s", true},
        {"arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a.b-c_d", true},
        {"arn:aws:kinesis::123456789012:stream/x", true},
        {"arn:aws:kinesis:us-east-1:123456789012:stream/x/consumer/c:1", true},
        {"arn:aws:kinesis:us-east-1:12345678901:stream/x", false},
        {"arn:aws:kinesis:us-east-1:123456789012:stream/", false},
        {"arn:aws:kinesis:us-east-1:123456789012:stream/a b", false},
        {"arn:aws:kinesis:us\neast:123456789012:stream/x", false},
        {"arn:aws:dynamodb:us-east-1:123456789012:stream/x", false},
        {"arn:azure:kinesis:us-east-1:123456789012:stream/x", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(json_pattern_match(JSON_PATTERN_STREAM_ARN, cases[i].arn,
                                         strlen(cases[i].arn)) == cases[i].ok,
                      "%s", cases[i].arn);
    }
}
END_TEST

START_TEST(test_api_validate_arn_resolves)
{
    struct decoded d;
    decode(&d, API_OP_DESCRIBE_STREAM_SUMMARY,
           "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/my.stream\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_str_eq(d.req.describe_stream_summary.name, "my.stream");
    decoded_free(&d);
    decode(&d, API_OP_DELETE_STREAM,
           "{\"StreamName\":\"my.stream\","
           "\"StreamARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/my.stream\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_str_eq(d.req.delete_stream.name, "my.stream");
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_validate_arn_rejects)
{
    expect_error(API_OP_DESCRIBE_STREAM,
                 "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:111111111111:stream/s\"}",
                 API_EX_RESOURCE_NOT_FOUND, "Stream s under account 111111111111 not found.");
    expect_error(API_OP_DESCRIBE_STREAM,
                 "{\"StreamARN\":\"arn:aws:kinesis:eu-west-1:000000000000:stream/s\"}",
                 API_EX_RESOURCE_NOT_FOUND, "Stream s under account 000000000000 not found.");
    expect_validation(API_OP_DESCRIBE_STREAM, "{\"StreamARN\":\"arn:foo\"}",
                      "1 validation error detected: Value 'arn:foo' at 'streamARN' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
    expect_error(API_OP_DESCRIBE_STREAM,
                 "{\"StreamName\":\"t\","
                 "\"StreamARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/s\"}",
                 API_EX_INVALID_ARGUMENT,
                 "StreamARN arn:aws:kinesis:us-east-1:000000000000:stream/s and StreamName t do "
                 "not name the same stream.");
    expect_error(API_OP_DESCRIBE_STREAM, "{}", API_EX_INVALID_ARGUMENT,
                 "Either StreamName or StreamARN should be provided.");
    expect_error(API_OP_PUT_RECORD, "{\"PartitionKey\":\"k\",\"Data\":\"\"}",
                 API_EX_INVALID_ARGUMENT, "Either StreamName or StreamARN should be provided.");
}
END_TEST

/* ---- shard ids, routing fields, shape rules ---- */

START_TEST(test_api_validate_fields_shard_id)
{
    static const struct {
        const char *id;
        bool ok;
        uint32_t index;
    } cases[] = {
        {"shardId-000000000005", true, 5},
        {"shardId-5", true, 5},
        {"2147483647", true, 2147483647u},
        {"x-2147483647", true, 2147483647u},
        {"a-00002147483647", true, 2147483647u},
        {"-00002147483647", true, 2147483647u},
        {"shard-0", true, 0},
        {"2147483648", false, 0},
        {"shardId-002147483648", false, 0},
        {"ABKLFD8", false, 0},
        {"2.14E4", false, 0},
        {"a-b-1", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t index = 0;
        bool ok = api_parse_shard_id(cases[i].id, strlen(cases[i].id), &index);
        ck_assert_msg(ok == cases[i].ok, "%s", cases[i].id);
        if (ok) {
            ck_assert_uint_eq(index, cases[i].index);
        }
    }
}
END_TEST

START_TEST(test_api_validate_fields_hash_key_range)
{
    struct decoded d;
    decode(&d, API_OP_PUT_RECORD,
           "{\"StreamName\":\"s\",\"PartitionKey\":\"a\",\"Data\":\"\","
           "\"ExplicitHashKey\":\"340282366920938463463374607431768211456\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(d.req.put_record.entry.hash_key_out_of_range);
    ck_assert_str_eq(d.req.put_record.entry.hash_key_text,
                     "340282366920938463463374607431768211456");
    decoded_free(&d);
    decode(&d, API_OP_PUT_RECORD,
           "{\"StreamName\":\"s\",\"PartitionKey\":\"a\",\"Data\":\"AAEC\","
           "\"ExplicitHashKey\":\"340282366920938463463374607431768211455\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(!d.req.put_record.entry.hash_key_out_of_range);
    ck_assert(d.req.put_record.entry.hash_key == ~(u128)0);
    ck_assert_uint_eq(d.req.put_record.entry.data_len, 3);
    ck_assert_uint_eq(d.req.put_record.entry.data[2], 2);
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_validate_fields_partition_key_utf16)
{
    /* 128 four-byte characters are 256 UTF-16 units: the limit exactly. */
    struct buf b;
    buf_init(&b, 4096);
    ck_assert_int_eq(buf_append_str(&b, "{\"StreamName\":\"s\",\"Data\":\"\",\"PartitionKey\":\""),
                     0);
    for (int i = 0; i < 128; i++) {
        ck_assert_int_eq(buf_append_str(&b, "\xf0\x9f\x92\xa3"), 0);
    }
    ck_assert_int_eq(buf_append(&b, "\"}", 3), 0);
    struct decoded d;
    decode(&d, API_OP_PUT_RECORD, (const char *)b.data);
    ck_assert_int_eq(d.rv, 0);
    decoded_free(&d);
    b.len -= 3;
    ck_assert_int_eq(buf_append(&b, "x\"}", 4), 0);
    decode(&d, API_OP_PUT_RECORD, (const char *)b.data);
    ck_assert_int_eq(d.rv, -EDDY_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.e.message, "length less than or equal to 256"));
    decoded_free(&d);
    buf_free(&b);
}
END_TEST

START_TEST(test_api_validate_fields_list_shards_shape)
{
    expect_error(API_OP_LIST_SHARDS, "{\"StreamName\":\"s\",\"NextToken\":\"t\"}",
                 API_EX_INVALID_ARGUMENT, "NextToken and StreamName cannot be provided together.");
    expect_error(API_OP_LIST_SHARDS,
                 "{\"NextToken\":\"t\",\"ShardFilter\":{\"Type\":\"AT_LATEST\"}}",
                 API_EX_INVALID_ARGUMENT, "NextToken and ShardFilter cannot be provided together.");
    expect_error(API_OP_LIST_SHARDS, "{}", API_EX_INVALID_ARGUMENT,
                 "Either NextToken or StreamName should be provided.");
    expect_validation(API_OP_LIST_SHARDS, "{\"StreamName\":\"s\",\"ShardFilter\":{}}",
                      "1 validation error detected: Value null at 'shardFilter.type' failed to "
                      "satisfy constraint: Member must not be null");
    struct decoded d;
    decode(&d, API_OP_LIST_SHARDS,
           "{\"StreamName\":\"s\",\"MaxResults\":5000,\"ShardFilter\":{\"Type\":\"AT_LATEST\"}}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.list_shards.max_results, 1000);
    ck_assert_int_eq(d.req.list_shards.filter, API_SHARD_FILTER_AT_LATEST);
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_validate_fields_get_records_quotes)
{
    struct decoded d;
    decode(&d, API_OP_GET_RECORDS, "{\"ShardIterator\":\"\\\"AAAA\\\"\",\"Limit\":5}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_str_eq(d.req.get_records.iterator, "AAAA");
    ck_assert_uint_eq(d.req.get_records.limit, 5);
    decoded_free(&d);
}
END_TEST

static Suite *api_validate_suite(void)
{
    Suite *s = suite_create("api_validate");

    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_api_validate_format_single_error);
    tcase_add_test(tc, test_api_validate_format_several_errors);
    tcase_add_test(tc, test_api_validate_format_put_record_order);
    tcase_add_test(tc, test_api_validate_format_long_values);
    tcase_add_test(tc, test_api_validate_format_blob_value);
    tcase_add_test(tc, test_api_validate_format_enum);
    tcase_add_test(tc, test_api_validate_format_records_list);
    tcase_add_test(tc, test_api_validate_format_at_most_ten);
    tcase_add_test(tc, test_api_validate_format_exception_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("types");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_api_validate_types_string);
    tcase_add_test(tc, test_api_validate_types_integer);
    tcase_add_test(tc, test_api_validate_types_blob);
    tcase_add_test(tc, test_api_validate_types_blob_in_records);
    tcase_add_test(tc, test_api_validate_types_list_and_structure);
    tcase_add_test(tc, test_api_validate_types_boolean_and_timestamp);
    tcase_add_test(tc, test_api_validate_types_bad_documents);
    suite_add_tcase(s, tc);

    tc = tcase_create("arn");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_api_validate_arn_pattern);
    tcase_add_test(tc, test_api_validate_arn_resolves);
    tcase_add_test(tc, test_api_validate_arn_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_api_validate_fields_shard_id);
    tcase_add_test(tc, test_api_validate_fields_hash_key_range);
    tcase_add_test(tc, test_api_validate_fields_partition_key_utf16);
    tcase_add_test(tc, test_api_validate_fields_list_shards_shape);
    tcase_add_test(tc, test_api_validate_fields_get_records_quotes);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_validate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
