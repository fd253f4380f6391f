/*
 * Bounds of the gateway's Kinesis API layer that common/include/eddy/limits.h
 * does not list, each with its reason. Kinesis limits follow the Amazon
 * Kinesis Data Streams API Reference, API version 2013-12-02 (botocore model
 * kinesis/2013-12-02/service-2.json as shipped with botocore 1.43).
 */
#ifndef EDDY_GW_API_LIMITS_H
#define EDDY_GW_API_LIMITS_H

#include "eddy/limits.h"

#include <assert.h>

/* --- Kinesis API (AWS) --- */

/* ListStreams: "If you specify a value greater than 100, at most 100 results
 * are returned" (API_ListStreams). */
#define API_LIST_STREAMS_RESULTS_MAX 100
/* ListShards MaxResults: "The default value is 1000. If you specify a value
 * greater than 1000, at most 1000 results are returned" (API_ListShards). */
#define API_LIST_SHARDS_RESULTS_MAX 1000
/* DescribeStream Limit: "The default value is 100. If you specify a value
 * greater than 100, at most 100 results are returned" (API_DescribeStream). */
#define API_DESCRIBE_STREAM_RESULTS_MAX 100
/* ShardId numbers AWS resolves: "shardId-002147483647" is found, a larger
 * number is "Could not find shard" (kinesalite tests run against AWS). */
#define API_SHARD_ID_NUMBER_MAX 2147483647u
/* CreateStream: the account-wide shard quota this deployment reports in
 * LimitExceededException ("Current shard count for the account: N. Limit: M."). */
#define API_ACCOUNT_SHARD_LIMIT KIN_SHARD_COUNT_MAX
/* CreateStream MaxRecordSizeInKiB range (model 1024..10240). */
#define API_MAX_RECORD_SIZE_KIB_MIN 1024
#define API_MAX_RECORD_SIZE_KIB_MAX 10240
/* Warm throughput of one on-demand stream: "you cannot ... scale to more than
 * 10 GiBps for an on-demand stream" (API_UpdateStreamWarmThroughput, default
 * limit; past it LimitExceededException). */
#define API_WARM_THROUGHPUT_MIBPS_MAX 10240
/* A resource policy document. The Kinesis reference gives no bound; 20 KiB
 * is the resource-based policy bound of the other AWS services that state
 * one (DynamoDB, Secrets Manager), and bounds the catalogue entry. */
#define API_RESOURCE_POLICY_BYTES_MAX (20 * 1024)
/* A stream ARN: arn:aws:kinesis:REGION:ACCOUNT:stream/NAME. */
#define API_ACCOUNT_ID_LEN 12
#define API_REGION_LEN_MAX 64
#define API_STREAM_ARN_TEXT_MAX                                                                    \
    (sizeof("arn:aws:kinesis:") + API_REGION_LEN_MAX + 1 + API_ACCOUNT_ID_LEN +                    \
     sizeof(":stream/") + KIN_STREAM_NAME_LEN_MAX)
/* "shardId-" + 12 digits (u32 needs at most 10). */
#define API_SHARD_ID_TEXT_MAX 24

/* --- Request decoding --- */

/* JSON values (objects, arrays, scalars) in one request body. PutRecords, the
 * largest request, has 500 records of at most 4 members: a few thousand values.
 * Bounds cJSON's node memory (about 64 bytes a node) whatever the body holds. */
#define API_JSON_VALUES_MAX 100000
/* A value echoed inside an error message (SerializationException or
 * ValidationException). AWS echoes it whole; Eddy cuts it here so a 20 MiB
 * bogus StreamName cannot make a 20 MiB error. Real names and keys are far
 * shorter (StreamName 128, PartitionKey 256). */
#define API_MESSAGE_VALUE_BYTES_MAX 4096
/* One error message (ValidationException lists up to 10 values). */
#define API_MESSAGE_BYTES_MAX (KIN_VALIDATION_ERRORS_MAX * (API_MESSAGE_VALUE_BYTES_MAX + 512))
/* Entries of a list value printed in a ValidationException ("[a, b, ...]"). */
#define API_MESSAGE_LIST_ITEMS_MAX 600
/* A validation path such as "records.500.member.explicitHashKey". */
#define API_PATH_BYTES_MAX 96

/* --- Tokens --- */

/* HMAC-SHA256 tag kept in iterators and NextTokens (truncated: 128 bits are
 * plenty against forgery and keep the token short). */
#define API_TOKEN_TAG_BYTES 16
/* Shard iterators: the model bounds ShardIterator at 1..512 characters. */
#define API_ITERATOR_TEXT_MAX KIN_SHARD_ITERATOR_LEN_MAX
/* NextTokens Eddy issues (the model allows up to 1 MiB; ours are tiny). */
#define API_NEXT_TOKEN_TEXT_MAX 512

/* --- Responses --- */

/* One response body: GetRecords returns up to 10 MiB of data, 4/3 of it in
 * base64, plus up to 10000 records of framing (~250 bytes each). */
#define API_RESPONSE_BYTES_MAX (KIN_GET_RECORDS_BYTES_MAX / 3 * 4 + 8 * 1024 * 1024)
/* Requests being served at once by one gateway (each holds a decoded body and
 * possibly a response of up to API_RESPONSE_BYTES_MAX). Past it: 503. */
#define API_CALLS_INFLIGHT_MAX (GW_CONNECTIONS_MAX * 2)

static_assert(API_NEXT_TOKEN_TEXT_MAX <= KIN_NEXT_TOKEN_LEN_MAX, "our tokens fit the model");
static_assert(API_JSON_VALUES_MAX > KIN_PUT_RECORDS_COUNT_MAX * 8, "a full PutRecords decodes");
static_assert(API_SHARD_ID_NUMBER_MAX >= (1u << 24) - 1, "every shard index has an id");
static_assert(API_MAX_RECORD_SIZE_KIB_MAX * 1024 == KIN_RECORD_DATA_LARGE_MAX,
              "the largest MaxRecordSizeInKiB is the largest record stored");
static_assert(API_MAX_RECORD_SIZE_KIB_MIN * 1024 == KIN_RECORD_DATA_MAX,
              "the default record size is the smallest MaxRecordSizeInKiB");

#endif
