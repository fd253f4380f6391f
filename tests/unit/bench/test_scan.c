/* Unit tests for tools/lib/bench/src/scan.c: the response field readers. */
#include "scan.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

struct seen {
    char items[8][64];
    size_t n;
};

static void on_item(void *arg, const char *s, size_t n)
{
    struct seen *seen = arg;
    ck_assert_uint_lt(seen->n, 8);
    ck_assert_uint_lt(n, 64);
    memcpy(seen->items[seen->n], s, n);
    seen->items[seen->n][n] = '\0';
    seen->n++;
}

START_TEST(test_scan_string_and_int)
{
    static const char body[] = "{\"FailedRecordCount\" : 3,\"__type\":\"Thing\","
                               "\"message\":\"a \\\"quoted\\\" word\",\"neg\":-12}";
    size_t len = strlen(body);
    int64_t v = 0;
    ck_assert(scan_int(body, len, "FailedRecordCount", &v));
    ck_assert_int_eq(v, 3);
    ck_assert(scan_int(body, len, "neg", &v));
    ck_assert_int_eq(v, -12);
    const char *s = NULL;
    size_t n = 0;
    ck_assert(scan_string(body, len, "__type", &s, &n));
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(s, "Thing", 5) == 0);
    ck_assert(scan_string(body, len, "message", &s, &n));
    ck_assert_uint_eq(n, strlen("a \\\"quoted\\\" word"));
    /* Missing, wrong type, name only as a value. */
    ck_assert(!scan_int(body, len, "Missing", &v));
    ck_assert(!scan_int(body, len, "__type", &v));
    ck_assert(!scan_string(body, len, "FailedRecordCount", &s, &n));
    ck_assert(!scan_string(body, len, "Thing", &s, &n));
}
END_TEST

START_TEST(test_scan_truncated)
{
    static const char body[] = "{\"a\":\"unterminated";
    const char *s = NULL;
    size_t n = 0;
    ck_assert(!scan_string(body, strlen(body), "a", &s, &n));
    int64_t v = 0;
    ck_assert(!scan_int("{\"a\":", 5, "a", &v));
    ck_assert(!scan_int("", 0, "a", &v));
}
END_TEST

START_TEST(test_scan_get_records)
{
    /* Two records (4 bytes and 1 byte of data), a quote inside a key. */
    static const char body[] =
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"AAECAw==\",\"PartitionKey\":"
        "\"k\\\"Data\\\":\\\"x\"},{\"Data\":\"/w==\",\"PartitionKey\":\"k2\"}],"
        "\"NextShardIterator\":\"it-2\",\"MillisBehindLatest\":0}";
    struct seen seen = {0};
    struct scan_records sr;
    scan_get_records(body, strlen(body), &sr, on_item, &seen);
    ck_assert_uint_eq(sr.records, 2);
    ck_assert_uint_eq(sr.data_bytes, 5);
    ck_assert_uint_eq(seen.n, 2);
    ck_assert_str_eq(seen.items[0], "AAECAw==");
    ck_assert_str_eq(seen.items[1], "/w==");
    ck_assert_uint_eq(sr.next_iterator_len, 4);
    ck_assert(memcmp(sr.next_iterator, "it-2", 4) == 0);
    ck_assert_int_eq(sr.millis_behind, 0);
}
END_TEST

START_TEST(test_scan_get_records_end_of_shard)
{
    static const char body[] = "{\"Records\":[],\"NextShardIterator\":null,\"ChildShards\":[]}";
    struct scan_records sr;
    scan_get_records(body, strlen(body), &sr, NULL, NULL);
    ck_assert_uint_eq(sr.records, 0);
    ck_assert_ptr_null(sr.next_iterator);
    ck_assert_int_eq(sr.millis_behind, -1);
}
END_TEST

START_TEST(test_scan_shard_ids)
{
    static const char body[] =
        "{\"Shards\":[{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{}},"
        "{\"ParentShardId\":\"shardId-000000000000\",\"ShardId\":\"shardId-000000000001\"}]}";
    struct seen seen = {0};
    ck_assert_uint_eq(scan_shard_ids(body, strlen(body), on_item, &seen), 2);
    ck_assert_str_eq(seen.items[0], "shardId-000000000000");
    ck_assert_str_eq(seen.items[1], "shardId-000000000001");
    ck_assert_uint_eq(scan_shard_ids("{}", 2, NULL, NULL), 0);
}
END_TEST

static Suite *scan_suite(void)
{
    Suite *s = suite_create("scan");
    TCase *tc = tcase_create("fields");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_scan_string_and_int);
    tcase_add_test(tc, test_scan_truncated);
    suite_add_tcase(s, tc);
    tc = tcase_create("answers");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_scan_get_records);
    tcase_add_test(tc, test_scan_get_records_end_of_shard);
    tcase_add_test(tc, test_scan_shard_ids);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scan_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
