/*
 * Unit tests for server/gateway/iterator.c: shard iterators and NextTokens
 * round-trip, reject anything not sealed by the key, expire after 300 s with
 * AWS's message, tolerate surrounding quotes and fit the model's 512 chars.
 */
#include "iterator.h"

#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/seqnum.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t key_bytes[32] = "0123456789abcdef0123456789abcdef";
static const struct iterator_key test_key = {key_bytes, sizeof(key_bytes)};
static const uint64_t t0 = 1421889722000ULL; /* Thu Jan 22 01:22:02 UTC 2015 */

static struct iterator sample(enum iterator_position p)
{
    struct iterator it = {0};
    strcpy(it.stream, "my-stream_1.a");
    it.stream_created_ms = 1400000000123ULL;
    it.shard = 7;
    it.position = p;
    it.seq = seqnum_make(12345, 7, 3);
    it.timestamp_ms = p == ITERATOR_AT_TIMESTAMP ? 1421889000555ULL : 0;
    if (p == ITERATOR_AT_TIMESTAMP) {
        it.seq = 0;
    }
    it.issued_ms = t0;
    return it;
}

static void assert_same(const struct iterator *a, const struct iterator *b)
{
    ck_assert_str_eq(a->stream, b->stream);
    ck_assert_uint_eq(a->stream_created_ms, b->stream_created_ms);
    ck_assert_uint_eq(a->shard, b->shard);
    ck_assert_int_eq(a->position, b->position);
    ck_assert(a->seq == b->seq);
    ck_assert_uint_eq(a->timestamp_ms, b->timestamp_ms);
    ck_assert_uint_eq(a->issued_ms, b->issued_ms);
}

START_TEST(test_iterator_round_trip_every_position)
{
    static const enum iterator_position ps[] = {ITERATOR_AT_SEQUENCE, ITERATOR_AFTER_SEQUENCE,
                                                ITERATOR_AT_TIMESTAMP, ITERATOR_TRIM_HORIZON};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        struct iterator it = sample(ps[i]);
        char text[API_ITERATOR_TEXT_MAX + 1];
        size_t n = iterator_encode(&it, &test_key, text);
        ck_assert_uint_eq(n, strlen(text));
        struct iterator back;
        ck_assert_int_eq(iterator_decode(text, n, &test_key, t0 + 1000, &back), 0);
        assert_same(&it, &back);
    }
}
END_TEST

START_TEST(test_iterator_round_trip_longest_name_fits)
{
    struct iterator it = sample(ITERATOR_AFTER_SEQUENCE);
    memset(it.stream, 'z', KIN_STREAM_NAME_LEN_MAX);
    it.stream[KIN_STREAM_NAME_LEN_MAX] = '\0';
    it.shard = SEQNUM_SHARD_MAX;
    it.seq = ~(u128)0;
    char text[API_ITERATOR_TEXT_MAX + 1];
    size_t n = iterator_encode(&it, &test_key, text);
    ck_assert_uint_le(n, KIN_SHARD_ITERATOR_LEN_MAX);
    struct iterator back;
    ck_assert_int_eq(iterator_decode(text, n, &test_key, t0, &back), 0);
    assert_same(&it, &back);
}
END_TEST

START_TEST(test_iterator_round_trip_quotes_tolerated)
{
    struct iterator it = sample(ITERATOR_AT_SEQUENCE);
    char text[API_ITERATOR_TEXT_MAX + 1];
    size_t n = iterator_encode(&it, &test_key, text);
    char quoted[API_ITERATOR_TEXT_MAX + 3];
    quoted[0] = '"';
    memcpy(quoted + 1, text, n);
    quoted[n + 1] = '"';
    struct iterator back;
    ck_assert_int_eq(iterator_decode(quoted, n + 2, &test_key, t0, &back), 0);
    assert_same(&it, &back);
    /* One quote alone is not a pair. */
    ck_assert_int_eq(iterator_decode(quoted, n + 1, &test_key, t0, &back), -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_iterator_tamper_any_byte)
{
    struct iterator it = sample(ITERATOR_AFTER_SEQUENCE);
    char text[API_ITERATOR_TEXT_MAX + 1];
    size_t n = iterator_encode(&it, &test_key, text);
    struct iterator back;
    for (size_t i = 0; i < n; i++) {
        char saved = text[i];
        if (saved == '=') {
            continue;
        }
        text[i] = saved == 'A' ? 'B' : 'A';
        ck_assert_msg(iterator_decode(text, n, &test_key, t0, &back) == -EDDY_EMALFORMED,
                      "accepted a change at %zu", i);
        text[i] = saved;
    }
    ck_assert_int_eq(iterator_decode(text, n, &test_key, t0, &back), 0);
}
END_TEST

START_TEST(test_iterator_tamper_other_key)
{
    struct iterator it = sample(ITERATOR_TRIM_HORIZON);
    char text[API_ITERATOR_TEXT_MAX + 1];
    size_t n = iterator_encode(&it, &test_key, text);
    uint8_t other_bytes[32];
    memcpy(other_bytes, key_bytes, sizeof(other_bytes));
    other_bytes[31] ^= 1;
    struct iterator_key other = {other_bytes, sizeof(other_bytes)};
    struct iterator back;
    ck_assert_int_eq(iterator_decode(text, n, &other, t0, &back), -EDDY_EMALFORMED);
    struct iterator_key empty = {NULL, 0};
    ck_assert_int_eq(iterator_decode(text, n, &empty, t0, &back), -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_iterator_tamper_garbage)
{
    static const char *const junk[] = {
        "",
        "a",
        "AAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "__kinesalite_test_1234.5",
        "not base64 at all!",
        "\"\"",
    };
    struct iterator back;
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        ck_assert_int_eq(iterator_decode(junk[i], strlen(junk[i]), &test_key, t0, &back),
                         -EDDY_EMALFORMED);
    }
}
END_TEST

START_TEST(test_iterator_tamper_kind_separated)
{
    /* A NextToken sealed by the same key is not a shard iterator. */
    uint8_t payload[64] = {0};
    char text[API_ITERATOR_TEXT_MAX + 1];
    size_t n = iterator_token_seal(ITERATOR_KIND_LIST_SHARDS, payload, sizeof(payload), &test_key,
                                   text, API_ITERATOR_TEXT_MAX);
    struct iterator back;
    ck_assert_int_eq(iterator_decode(text, n, &test_key, t0, &back), -EDDY_EMALFORMED);
    uint8_t out[ITERATOR_PAYLOAD_MAX];
    size_t len = 0;
    ck_assert_int_eq(iterator_token_open(ITERATOR_KIND_LIST_SHARDS, text, n, &test_key, out, &len),
                     0);
    ck_assert_uint_eq(len, sizeof(payload));
    ck_assert_int_eq(iterator_token_open(ITERATOR_KIND_LIST_STREAMS, text, n, &test_key, out, &len),
                     -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_iterator_expiry_after_300_seconds)
{
    struct iterator it = sample(ITERATOR_AT_SEQUENCE);
    char text[API_ITERATOR_TEXT_MAX + 1];
    size_t n = iterator_encode(&it, &test_key, text);
    struct iterator back;
    ck_assert_int_eq(iterator_decode(text, n, &test_key, t0 + KIN_SHARD_ITERATOR_TTL_MS, &back), 0);
    ck_assert_int_eq(iterator_decode(text, n, &test_key, t0 + KIN_SHARD_ITERATOR_TTL_MS + 1, &back),
                     -EDDY_EEXPIRED);
    ck_assert_uint_eq(back.issued_ms, t0);
    /* A clock behind the issuing gateway's is no reason to refuse. */
    ck_assert_int_eq(iterator_decode(text, n, &test_key, t0 - 5000, &back), 0);
}
END_TEST

START_TEST(test_iterator_expiry_message)
{
    char msg[256];
    iterator_expired_message(t0, t0 + 301000, msg, sizeof(msg));
    ck_assert_str_eq(msg, "Iterator expired. The iterator was created at time Thu Jan 22 "
                          "01:22:02 UTC 2015 while right now it is Thu Jan 22 01:27:03 UTC 2015 "
                          "which is further in the future than the tolerated delay of 300000 "
                          "milliseconds.");
    char date[48];
    iterator_format_date(0, date, sizeof(date));
    ck_assert_str_eq(date, "Thu Jan 01 00:00:00 UTC 1970");
}
END_TEST

static Suite *iterator_suite(void)
{
    Suite *s = suite_create("iterator");

    TCase *tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_iterator_round_trip_every_position);
    tcase_add_test(tc, test_iterator_round_trip_longest_name_fits);
    tcase_add_test(tc, test_iterator_round_trip_quotes_tolerated);
    suite_add_tcase(s, tc);

    tc = tcase_create("tamper");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_iterator_tamper_any_byte);
    tcase_add_test(tc, test_iterator_tamper_other_key);
    tcase_add_test(tc, test_iterator_tamper_garbage);
    tcase_add_test(tc, test_iterator_tamper_kind_separated);
    suite_add_tcase(s, tc);

    tc = tcase_create("expiry");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_iterator_expiry_after_300_seconds);
    tcase_add_test(tc, test_iterator_expiry_message);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(iterator_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
