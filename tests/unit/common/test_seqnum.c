/* Unit tests for common/seqnum.c: the bit layout, validation and ordering. */
#include "eddy/seqnum.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *dec(u128 v, char buf[U128_DECIMAL_LEN_MAX + 1])
{
    u128_format_decimal(v, buf);
    return buf;
}

START_TEST(test_seqnum_layout_known_values)
{
    /* Expected values from python: (2 << 124) | (index << 64) | (shard << 40) | (place << 20). */
    char buf[U128_DECIMAL_LEN_MAX + 1];
    ck_assert_str_eq(dec(seqnum_make(12345, 7, 3), buf), "42535295865117535657977423569970266112");
    ck_assert_str_eq(dec(seqnum_shard_start(7), buf), "42535295865117307932921833625552420864");
    ck_assert_str_eq(dec(seqnum_make(SEQNUM_INDEX_MAX, SEQNUM_SHARD_MAX, SEQNUM_PLACE_MAX), buf),
                     "63802943797675961899382738893455491072");
    ck_assert_str_eq(dec(seqnum_shard_start(0), buf), "42535295865117307932921825928971026432");
}
END_TEST

START_TEST(test_seqnum_layout_fields)
{
    u128 v = seqnum_make(0x123456789abcdefULL, 0xabcdef, 0x54321);
    ck_assert_uint_eq((unsigned)(v >> 124), SEQNUM_VERSION);
    ck_assert_uint_eq((uint64_t)(v >> 64) & SEQNUM_INDEX_MAX, 0x123456789abcdefULL);
    ck_assert_uint_eq((uint32_t)(v >> 40) & SEQNUM_SHARD_MAX, 0xabcdef);
    ck_assert_uint_eq((uint32_t)(v >> 20) & SEQNUM_PLACE_MAX, 0x54321);
    ck_assert_uint_eq((uint32_t)v & 0xfffff, 0);
}
END_TEST

START_TEST(test_seqnum_layout_digit_count)
{
    /* Every number in this layout has 38 decimal digits, from the lowest to the highest. */
    char buf[U128_DECIMAL_LEN_MAX + 1];
    ck_assert_uint_eq(u128_format_decimal(seqnum_shard_start(0), buf), 38);
    ck_assert_uint_eq(
        u128_format_decimal(seqnum_make(SEQNUM_INDEX_MAX, SEQNUM_SHARD_MAX, SEQNUM_PLACE_MAX), buf),
        38);
}
END_TEST

START_TEST(test_seqnum_split_round_trip)
{
    static const struct {
        uint64_t index;
        uint32_t shard;
        uint32_t place;
    } cases[] = {
        {0, 0, 0},
        {1, 0, 0},
        {0, 1, 0},
        {0, 0, 1},
        {42, 3, 499},
        {SEQNUM_INDEX_MAX, SEQNUM_SHARD_MAX, SEQNUM_PLACE_MAX},
        {SEQNUM_INDEX_MAX, 0, 0},
        {0, SEQNUM_SHARD_MAX, 0},
        {0, 0, SEQNUM_PLACE_MAX},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        u128 v = seqnum_make(cases[k].index, cases[k].shard, cases[k].place);
        uint64_t index = 99;
        uint32_t shard = 99;
        uint32_t place = 99;
        ck_assert(seqnum_split(v, &index, &shard, &place));
        ck_assert_uint_eq(index, cases[k].index);
        ck_assert_uint_eq(shard, cases[k].shard);
        ck_assert_uint_eq(place, cases[k].place);
    }
}
END_TEST

START_TEST(test_seqnum_split_through_decimal)
{
    /* What a client sends back is the decimal text; it parses to the same fields. */
    char buf[U128_DECIMAL_LEN_MAX + 1];
    size_t n = u128_format_decimal(seqnum_make(777, 12, 5), buf);
    u128 v = 0;
    ck_assert_int_eq(u128_parse_decimal(buf, n, &v), 0);
    uint64_t index = 0;
    uint32_t shard = 0;
    uint32_t place = 0;
    ck_assert(seqnum_split(v, &index, &shard, &place));
    ck_assert_uint_eq(index, 777);
    ck_assert_uint_eq(shard, 12);
    ck_assert_uint_eq(place, 5);
}
END_TEST

START_TEST(test_seqnum_split_rejects)
{
    uint64_t index = 0;
    uint32_t shard = 0;
    uint32_t place = 0;
    u128 good = seqnum_make(5, 6, 7);
    ck_assert(!seqnum_split(0, &index, &shard, &place));
    ck_assert(!seqnum_split(~(u128)0, &index, &shard, &place));
    ck_assert(!seqnum_split(good | 1, &index, &shard, &place));
    ck_assert(!seqnum_split(good | ((u128)1 << 19), &index, &shard, &place));
    /* Version 1 and 3 in the top nibble. */
    u128 body = good & ~((u128)0xf << 124);
    ck_assert(!seqnum_split(body | ((u128)1 << 124), &index, &shard, &place));
    ck_assert(!seqnum_split(body | ((u128)3 << 124), &index, &shard, &place));
    ck_assert(!seqnum_split(body, &index, &shard, &place));
}
END_TEST

START_TEST(test_seqnum_order_increasing)
{
    /* Later places, then later Raft indexes, give larger numbers within a shard. */
    u128 prev = seqnum_shard_start(9);
    for (uint64_t index = 1; index < 50; index++) {
        for (uint32_t place = 0; place < 50; place++) {
            u128 v = seqnum_make(index, 9, place);
            ck_assert(v > prev);
            prev = v;
        }
    }
    ck_assert(seqnum_make(2, 9, 0) > seqnum_make(1, 9, SEQNUM_PLACE_MAX));
}
END_TEST

START_TEST(test_seqnum_order_shard_start_lowest)
{
    u128 start = seqnum_shard_start(4);
    ck_assert(start == seqnum_make(0, 4, 0));
    ck_assert(seqnum_make(0, 4, 1) > start);
    ck_assert(seqnum_make(1, 4, 0) > start);
}
END_TEST

START_TEST(test_seqnum_make_index_too_big)
{
    seqnum_make(SEQNUM_INDEX_MAX + 1, 0, 0);
}
END_TEST

START_TEST(test_seqnum_make_shard_too_big)
{
    seqnum_make(0, SEQNUM_SHARD_MAX + 1, 0);
}
END_TEST

START_TEST(test_seqnum_make_place_too_big)
{
    seqnum_make(0, 0, SEQNUM_PLACE_MAX + 1);
}
END_TEST

static Suite *seqnum_suite(void)
{
    Suite *s = suite_create("seqnum");

    TCase *tc = tcase_create("layout");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_seqnum_layout_known_values);
    tcase_add_test(tc, test_seqnum_layout_fields);
    tcase_add_test(tc, test_seqnum_layout_digit_count);
    suite_add_tcase(s, tc);

    tc = tcase_create("split");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_seqnum_split_round_trip);
    tcase_add_test(tc, test_seqnum_split_through_decimal);
    tcase_add_test(tc, test_seqnum_split_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("order");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_seqnum_order_increasing);
    tcase_add_test(tc, test_seqnum_order_shard_start_lowest);
    suite_add_tcase(s, tc);

    tc = tcase_create("make");
    tcase_set_timeout(tc, 5);
    tcase_add_test_raise_signal(tc, test_seqnum_make_index_too_big, SIGABRT);
    tcase_add_test_raise_signal(tc, test_seqnum_make_shard_too_big, SIGABRT);
    tcase_add_test_raise_signal(tc, test_seqnum_make_place_too_big, SIGABRT);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seqnum_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
