/* Unit tests for common/u128.c: MD5 routing hash, decimal text, BE bytes, shard split. */
#include "eddy/errors.h"
#include "eddy/u128.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define U128_MAX_STR "340282366920938463463374607431768211455"

/* Decimal form of v, for readable assertion messages. */
static const char *dec(u128 v, char buf[U128_DECIMAL_LEN_MAX + 1])
{
    u128_format_decimal(v, buf);
    return buf;
}

static void check_md5(const char *key, const char *expect)
{
    char buf[U128_DECIMAL_LEN_MAX + 1];
    ck_assert_str_eq(dec(u128_md5(key, strlen(key)), buf), expect);
}

START_TEST(test_u128_md5_known_vectors)
{
    check_md5("my-partition-key", "226336741450937621595453596756398715590");
    check_md5("", "281949768489412648962353822266799178366");
    check_md5("a", "16955237001963240173058271559858726497");
    check_md5("partitionKey-0", "283893945402358862714065952676399797471");
    check_md5("shardId-000000000000", "233934123263385091621941975700200382378");
}
END_TEST

START_TEST(test_u128_md5_null_empty_key)
{
    char buf[U128_DECIMAL_LEN_MAX + 1];
    ck_assert_str_eq(dec(u128_md5(NULL, 0), buf), "281949768489412648962353822266799178366");
}
END_TEST

START_TEST(test_u128_md5_big_endian)
{
    /* md5("a") = 0cc175b9c0f1b6a831c399e269772661: the first byte is the most significant. */
    uint8_t be[16];
    u128_to_be(u128_md5("a", 1), be);
    ck_assert_uint_eq(be[0], 0x0c);
    ck_assert_uint_eq(be[1], 0xc1);
    ck_assert_uint_eq(be[15], 0x61);
}
END_TEST

START_TEST(test_u128_md5_hasher_matches)
{
    /* One hasher over many keys gives what u128_md5 gives for each. */
    struct u128_md5 *h = u128_md5_create();
    char key[300];
    for (size_t n = 0; n < sizeof(key); n++) {
        key[n] = (char)('a' + n % 26);
        ck_assert(u128_md5_next(h, key, n) == u128_md5(key, n));
    }
    ck_assert(u128_md5_next(h, NULL, 0) == u128_md5(NULL, 0));
    ck_assert(u128_md5_next(h, "abc", 3) == u128_md5("abc", 3));
    u128_md5_destroy(h);
    u128_md5_destroy(NULL);
}
END_TEST

START_TEST(test_u128_parse_valid)
{
    u128 v = 1;
    ck_assert_int_eq(u128_parse_decimal("0", 1, &v), 0);
    ck_assert(v == 0);
    ck_assert_int_eq(u128_parse_decimal("7", 1, &v), 0);
    ck_assert(v == 7);
    ck_assert_int_eq(u128_parse_decimal("18446744073709551616", 20, &v), 0);
    ck_assert(v == (u128)1 << 64);
    ck_assert_int_eq(u128_parse_decimal(U128_MAX_STR, strlen(U128_MAX_STR), &v), 0);
    ck_assert(v == ~(u128)0);
}
END_TEST

START_TEST(test_u128_parse_exact_len)
{
    /* Only len bytes are read: the rest of the buffer is not part of the number. */
    u128 v = 0;
    ck_assert_int_eq(u128_parse_decimal("123abc", 3, &v), 0);
    ck_assert(v == 123);
}
END_TEST

/* A string literal and its length, so cases may hold a NUL. */
#define LIT(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

START_TEST(test_u128_parse_rejects)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        LIT("-1"),
        LIT("+1"),
        LIT(" 1"),
        LIT("1 "),
        LIT("1a"),
        LIT("0x10"),
        LIT("01"),
        LIT("00"),
        LIT("1."),
        LIT("1e3"),
        LIT("\x01"),
        LIT("12\0"),
        LIT("340282366920938463463374607431768211456"),  /* 2^128 */
        LIT("999999999999999999999999999999999999999"),  /* 39 digits, too big */
        LIT("1000000000000000000000000000000000000000"), /* 40 digits */
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        u128 v = 42;
        ck_assert_msg(u128_parse_decimal(bad[k].s, bad[k].len, &v) == -EDDY_EINVAL, "accepted %s",
                      bad[k].s);
        ck_assert_msg(v == 42, "wrote out for %s", bad[k].s);
    }
    u128 v = 42;
    ck_assert_int_eq(u128_parse_decimal("", 0, &v), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_u128_parse_rejects_empty_null)
{
    u128 v = 0;
    ck_assert_int_eq(u128_parse_decimal(NULL, 0, &v), -EDDY_EINVAL);
    ck_assert_int_eq(u128_parse_decimal_lenient(NULL, 0, &v), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_u128_parse_lenient_leading_zeros)
{
    u128 v = 1;
    ck_assert_int_eq(u128_parse_decimal_lenient("00", 2, &v), 0);
    ck_assert(v == 0);
    ck_assert_int_eq(u128_parse_decimal_lenient("000123", 6, &v), 0);
    ck_assert(v == 123);
    const char *max = "0000" U128_MAX_STR;
    ck_assert_int_eq(u128_parse_decimal_lenient(max, strlen(max), &v), 0);
    ck_assert(v == ~(u128)0);
}
END_TEST

START_TEST(test_u128_parse_lenient_rejects)
{
    u128 v = 0;
    ck_assert_int_eq(u128_parse_decimal_lenient("", 0, &v), -EDDY_EINVAL);
    ck_assert_int_eq(u128_parse_decimal_lenient("-0", 2, &v), -EDDY_EINVAL);
    ck_assert_int_eq(u128_parse_decimal_lenient("0 1", 3, &v), -EDDY_EINVAL);
    const char *big = "00340282366920938463463374607431768211456";
    ck_assert_int_eq(u128_parse_decimal_lenient(big, strlen(big), &v), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_u128_format_values)
{
    char buf[U128_DECIMAL_LEN_MAX + 1];
    ck_assert_uint_eq(u128_format_decimal(0, buf), 1);
    ck_assert_str_eq(buf, "0");
    ck_assert_uint_eq(u128_format_decimal(10, buf), 2);
    ck_assert_str_eq(buf, "10");
    ck_assert_uint_eq(u128_format_decimal(UINT64_MAX, buf), 20);
    ck_assert_str_eq(buf, "18446744073709551615");
    ck_assert_uint_eq(u128_format_decimal(~(u128)0, buf), U128_DECIMAL_LEN_MAX);
    ck_assert_str_eq(buf, U128_MAX_STR);
}
END_TEST

START_TEST(test_u128_format_chunk_edges)
{
    /* Around the 19-digit chunks the formatter works in: inner zeros kept. */
    const u128 e19 = (u128)10000000000000000000ULL;
    static const char *const want[] = {
        "9999999999999999999",
        "10000000000000000000",
        "10000000000000000001",
        "99999999999999999999999999999999999999",
        "100000000000000000000000000000000000000",
        "100000000000000000000000000000000000001",
        "340282366920938463463374607431768211455",
    };
    u128 cases[] = {e19 - 1, e19, e19 + 1, e19 * e19 - 1, e19 * e19, e19 * e19 + 1, ~(u128)0};
    char buf[U128_DECIMAL_LEN_MAX + 1];
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        ck_assert_uint_eq(u128_format_decimal(cases[k], buf), strlen(want[k]));
        ck_assert_str_eq(buf, want[k]);
    }
}
END_TEST

START_TEST(test_u128_format_round_trip)
{
    /* Powers of two, their neighbours and 2^128-1 survive format then parse. */
    char buf[U128_DECIMAL_LEN_MAX + 1];
    for (int s = 0; s < 128; s++) {
        u128 p = (u128)1 << s;
        u128 cases[3] = {p - 1, p, p + 1};
        for (int c = 0; c < 3; c++) {
            size_t n = u128_format_decimal(cases[c], buf);
            ck_assert_uint_eq(n, strlen(buf));
            u128 back = 0;
            ck_assert_int_eq(u128_parse_decimal(buf, n, &back), 0);
            ck_assert(back == cases[c]);
        }
    }
    u128 max = ~(u128)0;
    size_t n = u128_format_decimal(max, buf);
    u128 back = 0;
    ck_assert_int_eq(u128_parse_decimal(buf, n, &back), 0);
    ck_assert(back == max);
}
END_TEST

START_TEST(test_u128_be_layout)
{
    uint8_t be[16];
    u128 v = ((u128)0x0102030405060708 << 64) | 0x090a0b0c0d0e0f10;
    u128_to_be(v, be);
    for (int k = 0; k < 16; k++) {
        ck_assert_uint_eq(be[k], (unsigned)k + 1);
    }
    ck_assert(u128_from_be(be) == v);
}
END_TEST

START_TEST(test_u128_be_round_trip_max)
{
    uint8_t be[16];
    u128_to_be(~(u128)0, be);
    for (int k = 0; k < 16; k++) {
        ck_assert_uint_eq(be[k], 0xff);
    }
    ck_assert(u128_from_be(be) == ~(u128)0);
    u128_to_be(0, be);
    ck_assert(u128_from_be(be) == 0);
}
END_TEST

/* Expected ranges from python: w = 2**128 // n; (i*w, (i+1)*w-1), the last ends at 2**128-1. */
static const struct {
    uint32_t n;
    uint32_t i;
    const char *start;
    const char *end;
} shard_vectors[] = {
    {1, 0, "0", U128_MAX_STR},
    {2, 0, "0", "170141183460469231731687303715884105727"},
    {2, 1, "170141183460469231731687303715884105728", U128_MAX_STR},
    {3, 0, "0", "113427455640312821154458202477256070484"},
    {3, 1, "113427455640312821154458202477256070485", "226854911280625642308916404954512140969"},
    {3, 2, "226854911280625642308916404954512140970", U128_MAX_STR},
    {4, 0, "0", "85070591730234615865843651857942052863"},
    {4, 1, "85070591730234615865843651857942052864", "170141183460469231731687303715884105727"},
    {4, 2, "170141183460469231731687303715884105728", "255211775190703847597530955573826158591"},
    {4, 3, "255211775190703847597530955573826158592", U128_MAX_STR},
};

START_TEST(test_u128_shard_range_vectors)
{
    char buf[U128_DECIMAL_LEN_MAX + 1];
    for (size_t k = 0; k < sizeof(shard_vectors) / sizeof(shard_vectors[0]); k++) {
        u128 start = 1;
        u128 end = 0;
        u128_shard_range(shard_vectors[k].i, shard_vectors[k].n, &start, &end);
        ck_assert_str_eq(dec(start, buf), shard_vectors[k].start);
        ck_assert_str_eq(dec(end, buf), shard_vectors[k].end);
    }
}
END_TEST

START_TEST(test_u128_shard_range_contiguous)
{
    /* For several n, the ranges tile [0, 2^128-1] with no gap or overlap. */
    static const uint32_t ns[] = {1, 2, 3, 5, 7, 8, 10, 64, 100, 1000, 4096};
    for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
        u128 next = 0;
        for (uint32_t i = 0; i < ns[k]; i++) {
            u128 start = 0;
            u128 end = 0;
            u128_shard_range(i, ns[k], &start, &end);
            ck_assert(start == next);
            ck_assert(end >= start);
            next = end + 1;
        }
        ck_assert(next == 0); /* the last end was 2^128-1 */
    }
}
END_TEST

START_TEST(test_u128_shard_range_i_out_of_range)
{
    u128 start = 0;
    u128 end = 0;
    u128_shard_range(3, 3, &start, &end);
}
END_TEST

START_TEST(test_u128_shard_range_zero_shards)
{
    u128 start = 0;
    u128 end = 0;
    u128_shard_range(0, 0, &start, &end);
}
END_TEST

static Suite *u128_suite(void)
{
    Suite *s = suite_create("u128");

    TCase *tc = tcase_create("md5");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_u128_md5_known_vectors);
    tcase_add_test(tc, test_u128_md5_null_empty_key);
    tcase_add_test(tc, test_u128_md5_big_endian);
    tcase_add_test(tc, test_u128_md5_hasher_matches);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_u128_parse_valid);
    tcase_add_test(tc, test_u128_parse_exact_len);
    tcase_add_test(tc, test_u128_parse_rejects);
    tcase_add_test(tc, test_u128_parse_rejects_empty_null);
    tcase_add_test(tc, test_u128_parse_lenient_leading_zeros);
    tcase_add_test(tc, test_u128_parse_lenient_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_u128_format_values);
    tcase_add_test(tc, test_u128_format_round_trip);
    tcase_add_test(tc, test_u128_format_chunk_edges);
    suite_add_tcase(s, tc);

    tc = tcase_create("be");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_u128_be_layout);
    tcase_add_test(tc, test_u128_be_round_trip_max);
    suite_add_tcase(s, tc);

    tc = tcase_create("shard_range");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_u128_shard_range_vectors);
    tcase_add_test(tc, test_u128_shard_range_contiguous);
    tcase_add_test_raise_signal(tc, test_u128_shard_range_i_out_of_range, SIGABRT);
    tcase_add_test_raise_signal(tc, test_u128_shard_range_zero_shards, SIGABRT);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(u128_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
