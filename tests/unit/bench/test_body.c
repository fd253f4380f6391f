/* Unit tests for tools/lib/bench/src/body.c: request bodies and time stamps. */
#include "body.h"

#include "eddy/base64.h"
#include "eddy/errors.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_body_put_records_json)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    uint64_t rng = 1;
    size_t offsets[3];
    ck_assert_int_eq(body_put(&b, "st\"x", 3, 10, false, &rng, offsets), 0);
    cJSON *o = cJSON_ParseWithLength((const char *)b.data, b.len);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "StreamName")->valuestring, "st\"x");
    cJSON *recs = cJSON_GetObjectItem(o, "Records");
    ck_assert_int_eq(cJSON_GetArraySize(recs), 3);
    for (int i = 0; i < 3; i++) {
        cJSON *r = cJSON_GetArrayItem(recs, i);
        const char *data = cJSON_GetObjectItem(r, "Data")->valuestring;
        ck_assert_uint_eq(strlen(data), base64_encoded_len(10));
        /* The offset points at the record's base64 in the body. */
        ck_assert(memcmp(b.data + offsets[i], data, strlen(data)) == 0);
        ck_assert_uint_eq(strlen(cJSON_GetObjectItem(r, "PartitionKey")->valuestring), 17);
    }
    cJSON_Delete(o);
    buf_free(&b);
}
END_TEST

START_TEST(test_body_put_record_json)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    uint64_t rng = 7;
    ck_assert_int_eq(body_put(&b, "s", 1, 100, true, &rng, NULL), 0);
    cJSON *o = cJSON_ParseWithLength((const char *)b.data, b.len);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_null(cJSON_GetObjectItem(o, "Records"));
    ck_assert_uint_eq(strlen(cJSON_GetObjectItem(o, "Data")->valuestring), 136);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(o, "PartitionKey"));
    cJSON_Delete(o);
    buf_free(&b);
}
END_TEST

START_TEST(test_body_put_too_big)
{
    struct buf b;
    buf_init(&b, 1000);
    uint64_t rng = 3;
    ck_assert_int_eq(body_put(&b, "s", 10, 1000, false, &rng, NULL), -EDDY_ETOOBIG);
    buf_free(&b);
}
END_TEST

START_TEST(test_body_stamp_round_trip)
{
    /* A stamp patched into encoded data reads back; other data does not. */
    struct buf b;
    buf_init(&b, 1 << 20);
    uint64_t rng = 5;
    size_t off = 0;
    ck_assert_int_eq(body_put(&b, "s", 1, 100, false, &rng, &off), 0);
    char *data = (char *)b.data + off;
    body_stamp(data, UINT64_C(1234567890123));
    uint64_t us = 0;
    ck_assert(body_unstamp(data, 136, &us));
    ck_assert_uint_eq(us, UINT64_C(1234567890123));
    cJSON *o = cJSON_ParseWithLength((const char *)b.data, b.len); /* still JSON */
    ck_assert_ptr_nonnull(o);
    cJSON_Delete(o);
    ck_assert(!body_unstamp("AAAAAAAAAAAA", 12, &us)); /* no mark */
    ck_assert(!body_unstamp(data, 11, &us));           /* too short */
    buf_free(&b);
}
END_TEST

START_TEST(test_body_get_records_and_iterator)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    ck_assert_int_eq(body_get_records(&b, "it/+=", 5, 10000), 0);
    ck_assert_uint_eq(b.len, strlen("{\"ShardIterator\":\"it/+=\",\"Limit\":10000}"));
    ck_assert(memcmp(b.data, "{\"ShardIterator\":\"it/+=\",\"Limit\":10000}", b.len) == 0);
    buf_reset(&b);
    ck_assert_int_eq(body_get_shard_iterator(&b, "s", "shardId-000000000001", "LATEST"), 0);
    static const char want[] = "{\"StreamName\":\"s\",\"ShardId\":\"shardId-000000000001\","
                               "\"ShardIteratorType\":\"LATEST\"}";
    ck_assert_uint_eq(b.len, strlen(want));
    ck_assert(memcmp(b.data, want, b.len) == 0);
    buf_reset(&b);
    ck_assert_int_eq(body_get_records(&b, "a\nb", 3, 1), -EDDY_EINVAL); /* control char */
    buf_free(&b);
}
END_TEST

START_TEST(test_body_request_head)
{
    struct sign_ctx s;
    sign_init(&s, "x", "x", "us-east-1", "kinesis", (time_t)1795675890);
    struct buf b;
    buf_init(&b, 1 << 16);
    ck_assert_int_eq(
        body_request_head(&b, &s, "127.0.0.1:9", "PutRecords", (const uint8_t *)"{}", 2), 0);
    ck_assert_int_eq(buf_append(&b, "", 1), 0);
    const char *h = (const char *)b.data;
    ck_assert(strncmp(h, "POST / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n", 35) == 0);
    ck_assert_ptr_nonnull(strstr(h, "\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "\r\nX-Amz-Date: 20261126T065130Z\r\n"));
    ck_assert_ptr_nonnull(strstr(h, "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=x/"));
    ck_assert_ptr_nonnull(strstr(h, "\r\nContent-Length: 2\r\n\r\n"));
    buf_free(&b);
}
END_TEST

static Suite *body_suite(void)
{
    Suite *s = suite_create("body");
    TCase *tc = tcase_create("put");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_body_put_records_json);
    tcase_add_test(tc, test_body_put_record_json);
    tcase_add_test(tc, test_body_put_too_big);
    tcase_add_test(tc, test_body_stamp_round_trip);
    suite_add_tcase(s, tc);
    tc = tcase_create("other");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_body_get_records_and_iterator);
    tcase_add_test(tc, test_body_request_head);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(body_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
