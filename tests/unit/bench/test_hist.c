/* Unit tests for tools/lib/bench/src/hist.c: bucket layout, percentiles, merge, iteration. */
#include "hist.h"

#include "eddy/alloc.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

/* |got - want| <= want / HIST_SUB_BUCKETS: the promised resolution. */
static void ck_close(uint64_t got, uint64_t want)
{
    uint64_t diff = got > want ? got - want : want - got;
    ck_assert_msg(diff * HIST_SUB_BUCKETS <= want, "got %llu, want %llu within 1/%u",
                  (unsigned long long)got, (unsigned long long)want, HIST_SUB_BUCKETS);
}

START_TEST(test_hist_empty_all_zero)
{
    struct hist *h = hist_create();
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(hist_count(h), 0);
    ck_assert_uint_eq(hist_min(h), 0);
    ck_assert_uint_eq(hist_max(h), 0);
    ck_assert(hist_mean(h) == 0.0);
    ck_assert_uint_eq(hist_percentile(h, 0), 0);
    ck_assert_uint_eq(hist_percentile(h, 50), 0);
    ck_assert_uint_eq(hist_percentile(h, 100), 0);
    struct hist_iter it;
    hist_iter_init(&it);
    ck_assert(!hist_iter_next(h, &it));
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_buckets_contiguous)
{
    /* Every value falls in exactly one bucket and buckets tile the range. */
    ck_assert_uint_eq(hist_bucket_low(0), 0);
    for (size_t i = 0; i + 1 < HIST_BUCKET_COUNT; i++) {
        ck_assert_uint_le(hist_bucket_low(i), hist_bucket_high(i));
        ck_assert_uint_eq(hist_bucket_high(i) + 1, hist_bucket_low(i + 1));
        ck_assert_uint_eq(hist_bucket_index(hist_bucket_low(i)), i);
        ck_assert_uint_eq(hist_bucket_index(hist_bucket_high(i)), i);
    }
    ck_assert_uint_eq(hist_bucket_high(HIST_BUCKET_COUNT - 1), HIST_VALUE_MAX);
    ck_assert_uint_eq(hist_bucket_index(HIST_VALUE_MAX), HIST_BUCKET_COUNT - 1);
    ck_assert_uint_eq(hist_bucket_index(UINT64_MAX), HIST_BUCKET_COUNT - 1);
}
END_TEST

START_TEST(test_hist_buckets_resolution)
{
    /* Exact below HIST_EXACT_MAX; above, a bucket is at most 1/128 of its values. */
    for (uint64_t v = 0; v < HIST_EXACT_MAX; v++) {
        size_t i = hist_bucket_index(v);
        ck_assert_uint_eq(hist_bucket_low(i), v);
        ck_assert_uint_eq(hist_bucket_high(i), v);
    }
    for (size_t i = HIST_EXACT_MAX; i < HIST_BUCKET_COUNT; i++) {
        uint64_t width = hist_bucket_high(i) - hist_bucket_low(i) + 1;
        ck_assert_uint_le(width * HIST_SUB_BUCKETS, hist_bucket_low(i));
    }
}
END_TEST

START_TEST(test_hist_exact_range_percentiles)
{
    struct hist *h = hist_create();
    for (uint64_t v = 0; v < 256; v++) {
        hist_record(h, v);
    }
    ck_assert_uint_eq(hist_count(h), 256);
    ck_assert_uint_eq(hist_min(h), 0);
    ck_assert_uint_eq(hist_max(h), 255);
    ck_assert_uint_eq(hist_percentile(h, 0), 0);
    ck_assert_uint_eq(hist_percentile(h, 50), 127); /* rank 128 */
    ck_assert_uint_eq(hist_percentile(h, 100), 255);
    ck_assert(hist_mean(h) == 127.5);
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_nearest_rank)
{
    /* 1..1000: p99.9 is the 999th value, p99 the 990th, p50 the 500th. */
    struct hist *h = hist_create();
    for (uint64_t v = 1; v <= 1000; v++) {
        hist_record(h, v);
    }
    ck_close(hist_percentile(h, 50), 500);
    ck_close(hist_percentile(h, 99), 990);
    ck_close(hist_percentile(h, 99.9), 999);
    ck_assert_uint_ge(hist_percentile(h, 99.9), 999);
    ck_assert_uint_eq(hist_percentile(h, 100), 1000);
    ck_assert_uint_eq(hist_percentile(h, 0.01), 1);
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_uniform_large_values)
{
    /* Microseconds from 1 ms to 10 s in steps of 1 ms. */
    struct hist *h = hist_create();
    for (uint64_t v = 1000; v <= 10000000; v += 1000) {
        hist_record(h, v);
    }
    ck_assert_uint_eq(hist_count(h), 10000);
    ck_close(hist_percentile(h, 50), 5000000);
    ck_close(hist_percentile(h, 90), 9000000);
    ck_close(hist_percentile(h, 99), 9900000);
    ck_close(hist_percentile(h, 99.9), 9990000);
    ck_assert_uint_eq(hist_percentile(h, 100), 10000000);
    ck_assert_uint_eq(hist_min(h), 1000);
    ck_assert_uint_eq(hist_max(h), 10000000);
    /* Never below the true value: a bucket reports its highest value. */
    ck_assert_uint_ge(hist_percentile(h, 50), 5000000);
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_percentile_capped_at_max)
{
    /* One value in a wide bucket: every percentile is that value, not the bucket's top. */
    struct hist *h = hist_create();
    hist_record(h, 1000001);
    ck_assert_uint_eq(hist_percentile(h, 1), 1000001);
    ck_assert_uint_eq(hist_percentile(h, 50), 1000001);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 1000001);
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_skewed_tail)
{
    /* 990 fast calls and 10 slow ones: p99 is fast, p99.9 and max slow. */
    struct hist *h = hist_create();
    hist_record_n(h, 300, 990);
    hist_record_n(h, 250000, 10);
    ck_close(hist_percentile(h, 50), 300);
    ck_close(hist_percentile(h, 99), 300);
    ck_close(hist_percentile(h, 99.9), 250000);
    ck_assert_uint_eq(hist_max(h), 250000);
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_huge_values_clamped)
{
    /* Past HIST_VALUE_MAX the bucket is the top one, but max stays exact. */
    struct hist *h = hist_create();
    uint64_t big = UINT64_C(1) << 50;
    hist_record(h, 5);
    hist_record(h, big);
    ck_assert_uint_eq(hist_max(h), big);
    ck_assert_uint_eq(hist_percentile(h, 100), big);
    ck_assert_uint_eq(hist_percentile(h, 50), 5);
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_record_n_same_as_loop)
{
    struct hist *a = hist_create();
    struct hist *b = hist_create();
    hist_record_n(a, 777, 50);
    hist_record_n(a, 12345, 0); /* no-op */
    for (int i = 0; i < 50; i++) {
        hist_record(b, 777);
    }
    ck_assert_uint_eq(hist_count(a), hist_count(b));
    ck_assert_uint_eq(hist_min(a), 777);
    ck_assert_uint_eq(hist_max(a), 777);
    for (double p = 0; p <= 100; p += 12.5) {
        ck_assert_uint_eq(hist_percentile(a, p), hist_percentile(b, p));
    }
    hist_destroy(a);
    hist_destroy(b);
}
END_TEST

START_TEST(test_hist_merge_halves)
{
    struct hist *whole = hist_create();
    struct hist *lo = hist_create();
    struct hist *hi = hist_create();
    struct hist *empty = hist_create();
    for (uint64_t v = 1; v <= 20000; v += 7) {
        hist_record(whole, v);
        hist_record(v <= 10000 ? lo : hi, v);
    }
    hist_merge(hi, empty); /* no-op */
    hist_merge(empty, hi); /* into an empty one: takes min and max */
    ck_assert_uint_eq(hist_min(empty), hist_min(hi));
    hist_merge(lo, hi);
    ck_assert_uint_eq(hist_count(lo), hist_count(whole));
    ck_assert_uint_eq(hist_min(lo), hist_min(whole));
    ck_assert_uint_eq(hist_max(lo), hist_max(whole));
    ck_assert(hist_mean(lo) == hist_mean(whole));
    for (double p = 0; p <= 100; p += 0.5) {
        ck_assert_uint_eq(hist_percentile(lo, p), hist_percentile(whole, p));
    }
    hist_destroy(whole);
    hist_destroy(lo);
    hist_destroy(hi);
    hist_destroy(empty);
}
END_TEST

START_TEST(test_hist_reset_empties)
{
    struct hist *h = hist_create();
    hist_record(h, 42);
    hist_reset(h);
    ck_assert_uint_eq(hist_count(h), 0);
    ck_assert_uint_eq(hist_max(h), 0);
    hist_record(h, 7);
    ck_assert_uint_eq(hist_min(h), 7);
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_iter_walks_nonempty)
{
    struct hist *h = hist_create();
    hist_record_n(h, 3, 2);
    hist_record_n(h, 1000, 5);
    hist_record_n(h, 1000000, 1);
    struct hist_iter it;
    hist_iter_init(&it);
    ck_assert(hist_iter_next(h, &it));
    ck_assert_uint_eq(it.value_high, 3);
    ck_assert_uint_eq(it.count, 2);
    ck_assert_uint_eq(it.cumulative, 2);
    ck_assert(hist_iter_next(h, &it));
    ck_close(it.value_high, 1000);
    ck_assert_uint_eq(it.count, 5);
    ck_assert_uint_eq(it.cumulative, 7);
    ck_assert(hist_iter_next(h, &it));
    ck_assert_uint_eq(it.value_high, 1000000); /* capped at max */
    ck_assert_uint_eq(it.cumulative, 8);
    ck_assert(!hist_iter_next(h, &it));
    ck_assert(!hist_iter_next(h, &it));
    hist_destroy(h);
}
END_TEST

START_TEST(test_hist_alloc_fail)
{
    eddy_alloc_fail_after(0);
    struct hist *h = hist_create();
    eddy_alloc_fail_after(-1);
    ck_assert_ptr_null(h);
}
END_TEST

static Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");

    TCase *tc = tcase_create("empty");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_hist_empty_all_zero);
    suite_add_tcase(s, tc);

    tc = tcase_create("buckets");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_hist_buckets_contiguous);
    tcase_add_test(tc, test_hist_buckets_resolution);
    suite_add_tcase(s, tc);

    tc = tcase_create("percentile");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_hist_exact_range_percentiles);
    tcase_add_test(tc, test_hist_nearest_rank);
    tcase_add_test(tc, test_hist_uniform_large_values);
    tcase_add_test(tc, test_hist_percentile_capped_at_max);
    tcase_add_test(tc, test_hist_skewed_tail);
    tcase_add_test(tc, test_hist_huge_values_clamped);
    suite_add_tcase(s, tc);

    tc = tcase_create("record");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_hist_record_n_same_as_loop);
    tcase_add_test(tc, test_hist_merge_halves);
    tcase_add_test(tc, test_hist_reset_empties);
    suite_add_tcase(s, tc);

    tc = tcase_create("iter");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_hist_iter_walks_nonempty);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc_fail");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_hist_alloc_fail);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
