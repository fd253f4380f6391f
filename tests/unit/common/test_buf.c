/* Unit tests for common/buf.c: bounded growth, consume, steal, allocation failure. */
#include "eddy/alloc.h"
#include "eddy/buf.h"
#include "eddy/errors.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_buf_init_empty)
{
    struct buf b;
    buf_init(&b, 100);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_uint_eq(b.len_max, 100);
    buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_append_bytes)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
    ck_assert_int_eq(buf_append(&b, "def", 3), 0);
    ck_assert_uint_eq(b.len, 6);
    ck_assert(memcmp(b.data, "abcdef", 6) == 0);
    ck_assert_uint_ge(b.cap, b.len);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_append_zero_bytes)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_null(b.data);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_append_grows)
{
    /* Many appends past the first capacity keep every byte. */
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int k = 0; k < 10000; k++) {
        uint8_t c = (uint8_t)k;
        ck_assert_int_eq(buf_append(&b, &c, 1), 0);
    }
    ck_assert_uint_eq(b.len, 10000);
    for (int k = 0; k < 10000; k++) {
        ck_assert_uint_eq(b.data[k], (uint8_t)k);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_append_str_and_printf)
{
    struct buf b;
    buf_init(&b, 1024);
    ck_assert_int_eq(buf_append_str(&b, "stream="), 0);
    ck_assert_int_eq(buf_printf(&b, "%s shard=%d", "s1", 42), 0);
    ck_assert_uint_eq(b.len, strlen("stream=s1 shard=42"));
    ck_assert(memcmp(b.data, "stream=s1 shard=42", b.len) == 0);
    /* printf leaves a NUL just past len, not counted. */
    ck_assert_uint_eq(b.data[b.len], '\0');
    ck_assert_int_eq(buf_printf(&b, "%s", ""), 0);
    ck_assert_uint_eq(b.len, strlen("stream=s1 shard=42"));
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_limit_exact_fit)
{
    struct buf b;
    buf_init(&b, 10);
    ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
    ck_assert_uint_eq(b.len, 10);
    ck_assert_uint_le(b.cap, 10);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_limit_too_big)
{
    struct buf b;
    buf_init(&b, 10);
    ck_assert_int_eq(buf_append(&b, "0123456", 7), 0);
    ck_assert_int_eq(buf_append(&b, "7890", 4), -EDDY_ETOOBIG);
    /* A failed append leaves the contents as they were. */
    ck_assert_uint_eq(b.len, 7);
    ck_assert(memcmp(b.data, "0123456", 7) == 0);
    ck_assert_int_eq(buf_append(&b, "789", 3), 0);
    ck_assert_int_eq(buf_append(&b, "x", 1), -EDDY_ETOOBIG);
    ck_assert_int_eq(buf_printf(&b, "%d", 1), -EDDY_ETOOBIG);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_limit_reserve_huge)
{
    /* n near SIZE_MAX must not wrap around the bound check. */
    struct buf b;
    buf_init(&b, 100);
    ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
    ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -EDDY_ETOOBIG);
    ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - 1), -EDDY_ETOOBIG);
    ck_assert_int_eq(buf_reserve(&b, 98), -EDDY_ETOOBIG);
    ck_assert_int_eq(buf_reserve(&b, 97), 0);
    ck_assert_uint_ge(b.cap, 100);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_limit_zero)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, "a", 1), -EDDY_ETOOBIG);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_consume_prefix)
{
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(buf_append_str(&b, "headerbody"), 0);
    buf_consume(&b, 6);
    ck_assert_uint_eq(b.len, 4);
    ck_assert(memcmp(b.data, "body", 4) == 0);
    buf_consume(&b, 4);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_consume_too_much)
{
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(buf_append_str(&b, "abc"), 0);
    buf_consume(&b, 4);
}
END_TEST

START_TEST(test_buf_reset_keeps_memory)
{
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(buf_append_str(&b, "abc"), 0);
    size_t cap = b.cap;
    buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_int_eq(buf_append_str(&b, "xy"), 0);
    ck_assert(memcmp(b.data, "xy", 2) == 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_steal_hands_over)
{
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(buf_append_str(&b, "payload"), 0);
    size_t len = 0;
    uint8_t *p = buf_steal(&b, &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, 7);
    ck_assert(memcmp(p, "payload", 7) == 0);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    /* The buffer is usable again after a steal. */
    ck_assert_int_eq(buf_append_str(&b, "more"), 0);
    ck_assert_uint_eq(b.len, 4);
    eddy_free(p);
    buf_free(&b);
}
END_TEST

START_TEST(test_buf_steal_empty)
{
    struct buf b;
    buf_init(&b, 64);
    size_t len = 99;
    ck_assert_ptr_null(buf_steal(&b, &len));
    ck_assert_uint_eq(len, 0);
}
END_TEST

/* Loop test: allocation number _i fails; every call either succeeds or
 * returns -ENOMEM with the contents so far intact. */
START_TEST(test_buf_alloc_fail_sweep)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    uint8_t chunk[100];
    memset(chunk, 'z', sizeof(chunk));
    eddy_alloc_fail_after(_i);
    size_t expect = 0;
    int failures = 0;
    for (int k = 0; k < 60; k++) {
        int rv = k % 2 ? buf_append(&b, chunk, sizeof(chunk)) : buf_printf(&b, "%090d", k);
        if (rv == 0) {
            expect += k % 2 ? sizeof(chunk) : 90;
        } else {
            ck_assert_int_eq(rv, -ENOMEM);
            failures++;
        }
        ck_assert_uint_eq(b.len, expect);
    }
    eddy_alloc_fail_after(-1);
    ck_assert_int_le(failures, 1);
    if (_i == 0) {
        ck_assert_int_eq(failures, 1);
    }
    for (size_t k = 0; k < b.len; k++) {
        ck_assert(b.data[k] == 'z' || (b.data[k] >= '0' && b.data[k] <= '9'));
    }
    buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");

    TCase *tc = tcase_create("init");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_buf_init_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("append");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_buf_append_bytes);
    tcase_add_test(tc, test_buf_append_zero_bytes);
    tcase_add_test(tc, test_buf_append_grows);
    tcase_add_test(tc, test_buf_append_str_and_printf);
    suite_add_tcase(s, tc);

    tc = tcase_create("limit");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_buf_limit_exact_fit);
    tcase_add_test(tc, test_buf_limit_too_big);
    tcase_add_test(tc, test_buf_limit_reserve_huge);
    tcase_add_test(tc, test_buf_limit_zero);
    suite_add_tcase(s, tc);

    tc = tcase_create("consume");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_buf_consume_prefix);
    tcase_add_test_raise_signal(tc, test_buf_consume_too_much, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("reset");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_buf_reset_keeps_memory);
    suite_add_tcase(s, tc);

    tc = tcase_create("steal");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_buf_steal_hands_over);
    tcase_add_test(tc, test_buf_steal_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc_fail");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_buf_alloc_fail_sweep, 0, 10);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(buf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
