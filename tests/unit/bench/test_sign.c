/* Unit tests for tools/lib/bench/src/sign.c: SigV4 as botocore computes it. */
#include "sign.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* botocore's SigV4Auth(Credentials("AKID", "SECRET"), "kinesis", "us-east-1")
 * on this request at 2026-11-26T06:51:30Z gave this header. */
START_TEST(test_sign_matches_botocore)
{
    struct sign_ctx s;
    sign_init(&s, "AKID", "SECRET", "us-east-1", "kinesis", (time_t)1795675890);
    ck_assert_str_eq(s.date, "20261126");
    ck_assert_str_eq(s.amz_date, "20261126T065130Z");
    static const char body[] = "{\"StreamName\":\"s\"}";
    char auth[SIGN_AUTH_MAX];
    sign_request(&s, "127.0.0.1:4567", "application/x-amz-json-1.1", "Kinesis_20131202.ListShards",
                 (const uint8_t *)body, strlen(body), auth);
    ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/kinesis/"
                           "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                           "x-amz-target, Signature=7beb14b752e2605a6445d90b760f4ac2618ab8b"
                           "25963bc798c63c6b5d44aa035");
}
END_TEST

START_TEST(test_sign_body_changes_signature)
{
    struct sign_ctx s;
    sign_init(&s, "x", "x", "us-east-1", "kinesis", (time_t)1795675890);
    char a[SIGN_AUTH_MAX];
    char b[SIGN_AUTH_MAX];
    sign_request(&s, "h:1", "application/x-amz-json-1.1", "T", (const uint8_t *)"{}", 2, a);
    sign_request(&s, "h:1", "application/x-amz-json-1.1", "T", (const uint8_t *)"{ }", 3, b);
    ck_assert_str_ne(a, b);
    sign_request(&s, "h:1", "application/x-amz-json-1.1", "T", (const uint8_t *)"{}", 2, b);
    ck_assert_str_eq(a, b);
    sign_request(&s, "h:1", "application/x-amz-json-1.1", "T", NULL, 0, b);
    ck_assert_str_ne(a, b);
}
END_TEST

static Suite *sign_suite(void)
{
    Suite *s = suite_create("sign");
    TCase *tc = tcase_create("sigv4");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_sign_matches_botocore);
    tcase_add_test(tc, test_sign_body_changes_signature);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sign_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
