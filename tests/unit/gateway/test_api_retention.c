/*
 * Retention as the API shows it (server/gateway/api_retention.c): a
 * stream's trim horizon for its retention and the configured length of an
 * hour, and closed shards that expired (left out of ListShards and
 * DescribeStream).
 */
#include "api.h"

#include "eddy/limits.h"

#include <check.h>
#include <stdlib.h>

#define T_NOW 1700000000000ull
#define T_HOUR 3600000ull

START_TEST(test_api_retention_horizon)
{
    struct api_config cfg = {.region = "us-east-1", .account = "000000000000"};
    Eddy__StreamInfo st = EDDY__STREAM_INFO__INIT;
    st.retention_hours = 48;
    ck_assert_uint_eq(api_retention_horizon_ms(&cfg, &st, T_NOW), T_NOW - 48 * T_HOUR);
    st.retention_hours = 0; /* an old catalogue entry: the default */
    ck_assert_uint_eq(api_retention_horizon_ms(&cfg, &st, T_NOW),
                      T_NOW - KIN_RETENTION_HOURS_DEFAULT * T_HOUR);
    cfg.retention_hour_ms = 100; /* eddyd --retention-hour-ms 100 */
    st.retention_hours = 24;
    ck_assert_uint_eq(api_retention_horizon_ms(&cfg, &st, T_NOW), T_NOW - 2400);
    ck_assert_uint_eq(api_retention_horizon_ms(&cfg, &st, 2000), 0);
}
END_TEST

START_TEST(test_api_retention_closed_shard_expires)
{
    struct api_config cfg = {.region = "us-east-1", .account = "000000000000"};
    Eddy__StreamInfo st = EDDY__STREAM_INFO__INIT;
    st.retention_hours = 24;
    Eddy__ShardInfo sh = EDDY__SHARD_INFO__INIT;
    uint8_t end[16] = {0};
    ck_assert(!api_shard_is_expired(&cfg, &st, &sh, T_NOW)); /* open */
    sh.ending_sequence.data = end;
    sh.ending_sequence.len = 16;
    ck_assert(!api_shard_is_expired(&cfg, &st, &sh, T_NOW)); /* closed, time unknown */
    sh.closed_ms = T_NOW - 24 * T_HOUR;
    ck_assert(!api_shard_is_expired(&cfg, &st, &sh, T_NOW)); /* exactly at the horizon */
    sh.closed_ms = T_NOW - 24 * T_HOUR - 1;
    ck_assert(api_shard_is_expired(&cfg, &st, &sh, T_NOW));
    cfg.retention_hour_ms = 100; /* hours of 100 ms: long expired */
    sh.closed_ms = T_NOW - 2401;
    ck_assert(api_shard_is_expired(&cfg, &st, &sh, T_NOW));
    sh.closed_ms = T_NOW - 2399;
    ck_assert(!api_shard_is_expired(&cfg, &st, &sh, T_NOW));
}
END_TEST

static Suite *api_retention_suite(void)
{
    Suite *s = suite_create("api_retention");
    TCase *tc = tcase_create("expiry");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_api_retention_horizon);
    tcase_add_test(tc, test_api_retention_closed_shard_expires);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_retention_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
