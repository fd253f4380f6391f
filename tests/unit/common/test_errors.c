/* Unit tests for common/errors.c: text for project codes and -errno. */
#include "eddy/errors.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Every project code with its table text, built from the same X-macro. */
static const struct {
    int code;
    const char *text;
} error_table[] = {
#define ERROR_ROW(name, text) {name, text},
    EDDY_ERRNO_TABLE(ERROR_ROW)
#undef ERROR_ROW
};

START_TEST(test_errors_strerror_project_codes)
{
    for (size_t k = 0; k < sizeof(error_table) / sizeof(error_table[0]); k++) {
        ck_assert_str_eq(eddy_strerror(-error_table[k].code), error_table[k].text);
        /* A positive code is read the same way. */
        ck_assert_str_eq(eddy_strerror(error_table[k].code), error_table[k].text);
    }
    ck_assert_str_eq(eddy_strerror(-EDDY_EMALFORMED), "malformed input");
    ck_assert_str_eq(eddy_strerror(-EDDY_EHYDRATING), "replica is hydrating");
}
END_TEST

START_TEST(test_errors_strerror_unique_texts)
{
    size_t n = sizeof(error_table) / sizeof(error_table[0]);
    for (size_t a = 0; a < n; a++) {
        ck_assert_uint_gt(strlen(error_table[a].text), 0);
        for (size_t b = a + 1; b < n; b++) {
            ck_assert_str_ne(error_table[a].text, error_table[b].text);
        }
    }
}
END_TEST

START_TEST(test_errors_strerror_errno)
{
    ck_assert_str_eq(eddy_strerror(-ENOMEM), strerror(ENOMEM));
    ck_assert_str_eq(eddy_strerror(-ENOENT), strerror(ENOENT));
    ck_assert_str_eq(eddy_strerror(-EINVAL), strerror(EINVAL));
}
END_TEST

START_TEST(test_errors_strerror_unknown)
{
    ck_assert_str_eq(eddy_strerror(-EDDY_ERRNO_BASE_), "unknown error");
    ck_assert_str_eq(eddy_strerror(-EDDY_ERRNO_END_), "unknown error");
    ck_assert_str_eq(eddy_strerror(-99999), "unknown error");
    ck_assert_ptr_nonnull(eddy_strerror(0));
}
END_TEST

START_TEST(test_errors_space_codes_above_errno)
{
    /* Project codes never collide with errno or UV_E* (all below 4096 on Linux). */
    for (size_t k = 0; k < sizeof(error_table) / sizeof(error_table[0]); k++) {
        ck_assert_int_gt(error_table[k].code, 4095);
        ck_assert_int_gt(error_table[k].code, EDDY_ERRNO_BASE_);
        ck_assert_int_lt(error_table[k].code, EDDY_ERRNO_END_);
    }
    ck_assert_int_eq(EDDY_ERRNO_END_ - EDDY_ERRNO_BASE_ - 1,
                     (int)(sizeof(error_table) / sizeof(error_table[0])));
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");

    TCase *tc = tcase_create("strerror");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_errors_strerror_project_codes);
    tcase_add_test(tc, test_errors_strerror_unique_texts);
    tcase_add_test(tc, test_errors_strerror_errno);
    tcase_add_test(tc, test_errors_strerror_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("space");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_errors_space_codes_above_errno);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(errors_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
