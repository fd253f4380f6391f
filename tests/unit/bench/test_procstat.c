/* Unit tests for tools/lib/bench/src/procstat.c: /proc text parsing, and the
 * readers on this very process. */
#include "procstat.h"

#include "eddy/errors.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_procstat_stat_ticks)
{
    /* utime 1500 and stime 250 are fields 14 and 15. */
    static const char text[] = "4242 (eddyd) S 1 4242 4242 0 -1 4194560 6000 0 12 0 1500 250 0 0 "
                               "20 0 5 0 100 300000000 20000 18446744073709551615\n";
    uint64_t ticks = 0;
    ck_assert_int_eq(procstat_parse_stat_ticks(text, strlen(text), &ticks), 0);
    ck_assert_uint_eq(ticks, 1750);
}
END_TEST

START_TEST(test_procstat_stat_odd_command)
{
    /* A command with spaces and parentheses: fields count from the last ')'. */
    static const char text[] = "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 40 2 0 0 20 0 1 0\n";
    uint64_t ticks = 0;
    ck_assert_int_eq(procstat_parse_stat_ticks(text, strlen(text), &ticks), 0);
    ck_assert_uint_eq(ticks, 42);
}
END_TEST

START_TEST(test_procstat_stat_malformed)
{
    uint64_t ticks = 0;
    static const char short_text[] = "7 (x) R 1 7 7 0 -1 0 0 0 0 0 40\n";
    ck_assert_int_eq(procstat_parse_stat_ticks(short_text, strlen(short_text), &ticks),
                     -EDDY_EMALFORMED);
    static const char no_paren[] = "7 x R 1";
    ck_assert_int_eq(procstat_parse_stat_ticks(no_paren, strlen(no_paren), &ticks),
                     -EDDY_EMALFORMED);
    static const char letters[] = "7 (x) R 1 7 7 0 -1 0 0 0 0 0 4x 2 0";
    ck_assert_int_eq(procstat_parse_stat_ticks(letters, strlen(letters), &ticks), -EDDY_EMALFORMED);
    ck_assert_int_eq(procstat_parse_stat_ticks("", 0, &ticks), -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_procstat_status_rss)
{
    static const char text[] =
        "Name:\teddyd\nVmPeak:\t  999 kB\nVmRSS:\t  123456 kB\nThreads:\t3\n";
    uint64_t kib = 0;
    ck_assert_int_eq(procstat_parse_status_rss_kib(text, strlen(text), &kib), 0);
    ck_assert_uint_eq(kib, 123456);
    static const char zombie[] = "Name:\tx\nState:\tZ (zombie)\n";
    ck_assert_int_eq(procstat_parse_status_rss_kib(zombie, strlen(zombie), &kib), -EDDY_ENOTFOUND);
    static const char bad[] = "VmRSS:\t kB\n";
    ck_assert_int_eq(procstat_parse_status_rss_kib(bad, strlen(bad), &kib), -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_procstat_self)
{
    /* This process: it has some RSS; CPU readings are non-negative. */
    uint64_t kib = 0;
    ck_assert_int_eq(procstat_rss_kib(getpid(), &kib), 0);
    ck_assert_uint_gt(kib, 0);
    double cpu = -1;
    ck_assert_int_eq(procstat_cpu_s(getpid(), &cpu), 0);
    ck_assert(cpu >= 0);
    ck_assert(procstat_self_cpu_s() >= 0);
    ck_assert_int_lt(procstat_rss_kib(-1, &kib), 0);
}
END_TEST

static Suite *procstat_suite(void)
{
    Suite *s = suite_create("procstat");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_procstat_stat_ticks);
    tcase_add_test(tc, test_procstat_stat_odd_command);
    tcase_add_test(tc, test_procstat_stat_malformed);
    tcase_add_test(tc, test_procstat_status_rss);
    suite_add_tcase(s, tc);
    tc = tcase_create("read");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_procstat_self);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(procstat_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
