/*
 * The coordinator's retention arithmetic (coordinator/coord_trim.c): where a
 * stream's trim point stands for a given time, retention and length of a
 * retention hour, and the defaults of the pass state. The passes themselves
 * (calls to the groups) run in tests/integration/test_retention.py.
 */
#include "coord_trim.h"

#include <check.h>
#include <stdlib.h>

START_TEST(test_coord_trim_before_ms_is_now_minus_retention)
{
    uint64_t now = 1700000000000ull;
    ck_assert_uint_eq(coord_trim_before_ms(now, 24, 3600000), now - 24ull * 3600000);
    ck_assert_uint_eq(coord_trim_before_ms(now, 8760, 3600000), now - 8760ull * 3600000);
    /* Tests shorten an hour: 24 hours of 100 ms last 2.4 s. */
    ck_assert_uint_eq(coord_trim_before_ms(now, 24, 100), now - 2400);
    /* A retention reaching back past the epoch trims nothing. */
    ck_assert_uint_eq(coord_trim_before_ms(1000, 24, 3600000), 0);
    ck_assert_uint_eq(coord_trim_before_ms(2400, 24, 100), 0);
    ck_assert_uint_eq(coord_trim_before_ms(2401, 24, 100), 1);
}
END_TEST

START_TEST(test_coord_trim_init_defaults)
{
    struct coord_trim t;
    coord_trim_init(&t, 0, 0);
    ck_assert_uint_eq(t.interval_ms, COORD_TRIM_INTERVAL_MS_DEFAULT);
    ck_assert_uint_eq(t.retention_hour_ms, COORD_RETENTION_HOUR_MS_DEFAULT);
    ck_assert(!t.in_pass);
    ck_assert_uint_eq(t.next_pass_ms, 0); /* the first leadership trims at once */
    coord_trim_init(&t, 250, 100);
    ck_assert_uint_eq(t.interval_ms, 250);
    ck_assert_uint_eq(t.retention_hour_ms, 100);
    t.in_pass = true;
    t.next_pass_ms = 12345;
    coord_trim_reset(&t);
    ck_assert(!t.in_pass);
    ck_assert_uint_eq(t.next_pass_ms, 0);
}
END_TEST

static Suite *coord_trim_suite(void)
{
    Suite *s = suite_create("coord_trim");
    TCase *tc = tcase_create("arithmetic");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_coord_trim_before_ms_is_now_minus_retention);
    tcase_add_test(tc, test_coord_trim_init_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(coord_trim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
