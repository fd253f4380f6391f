/*
 * Unit tests for the two implementations inside common/crc32c.c (SSE 4.2
 * crc32 instruction and slicing-by-8): each must equal a bitwise reference
 * and the other on every length, alignment and starting crc.
 */
#include "crc32c_internal.h"
#include "eddy/crc32c.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

enum { PATHS_BUF_BYTES = 4096 + 16, PATHS_ROUNDS = 2000 };

/* The definition itself: one bit at a time, reflected polynomial. */
static uint32_t paths_reference(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    for (size_t k = 0; k < len; k++) {
        crc ^= p[k];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
    }
    return ~crc;
}

/* xorshift64: a fixed seed, so a failure reproduces. */
static uint64_t paths_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void paths_fill(uint8_t *buf, size_t len, uint64_t *state)
{
    for (size_t k = 0; k < len; k++) {
        buf[k] = (uint8_t)paths_next(state);
    }
}

START_TEST(test_crc32c_paths_sw_matches_reference)
{
    static uint8_t buf[PATHS_BUF_BYTES];
    uint64_t state = 0x9e3779b97f4a7c15u;
    paths_fill(buf, sizeof(buf), &state);
    /* Every length 0..64 at every offset 0..15: the head, word and tail loops. */
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len <= 64; len++) {
            uint32_t want = paths_reference(0, buf + off, len);
            ck_assert_uint_eq(crc32c_update_sw(0, buf + off, len), want);
            ck_assert_uint_eq(crc32c_update(0, buf + off, len), want);
        }
    }
    /* Random lengths, offsets and starting crcs. */
    for (int round = 0; round < PATHS_ROUNDS; round++) {
        size_t off = paths_next(&state) % 16;
        size_t len = paths_next(&state) % (sizeof(buf) - off + 1);
        uint32_t seed = (uint32_t)paths_next(&state);
        uint32_t want = paths_reference(seed, buf + off, len);
        ck_assert_uint_eq(crc32c_update_sw(seed, buf + off, len), want);
        ck_assert_uint_eq(crc32c_update(seed, buf + off, len), want);
    }
}
END_TEST

START_TEST(test_crc32c_paths_hw_matches_sw)
{
    if (!crc32c_has_hw()) {
        /* Nothing to compare on this CPU; the sw test covers crc32c_update. */
        return;
    }
    static uint8_t buf[PATHS_BUF_BYTES];
    uint64_t state = 0x2545f4914f6cdd1du;
    paths_fill(buf, sizeof(buf), &state);
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len <= 64; len++) {
            ck_assert_uint_eq(crc32c_update_hw(0, buf + off, len),
                              crc32c_update_sw(0, buf + off, len));
        }
    }
    for (int round = 0; round < PATHS_ROUNDS; round++) {
        size_t off = paths_next(&state) % 16;
        size_t len = paths_next(&state) % (sizeof(buf) - off + 1);
        uint32_t seed = (uint32_t)paths_next(&state);
        uint32_t sw = crc32c_update_sw(seed, buf + off, len);
        ck_assert_uint_eq(crc32c_update_hw(seed, buf + off, len), sw);
        ck_assert_uint_eq(sw, paths_reference(seed, buf + off, len));
    }
}
END_TEST

START_TEST(test_crc32c_paths_chain_across_paths)
{
    /* A run may be split anywhere and continued by either implementation. */
    static uint8_t buf[1031];
    uint64_t state = 42;
    paths_fill(buf, sizeof(buf), &state);
    uint32_t whole = paths_reference(0, buf, sizeof(buf));
    bool hw = crc32c_has_hw();
    for (size_t cut = 0; cut <= sizeof(buf); cut++) {
        uint32_t crc = crc32c_update_sw(0, buf, cut);
        crc = (hw ? crc32c_update_hw : crc32c_update_sw)(crc, buf + cut, sizeof(buf) - cut);
        ck_assert_uint_eq(crc, whole);
        crc = (hw ? crc32c_update_hw : crc32c_update_sw)(0, buf, cut);
        crc = crc32c_update_sw(crc, buf + cut, sizeof(buf) - cut);
        ck_assert_uint_eq(crc, whole);
    }
}
END_TEST

START_TEST(test_crc32c_paths_check_values)
{
    /* The catalogue check value and RFC 3720 B.4 through each path. */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof(ones));
    ck_assert_uint_eq(crc32c_update_sw(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c_update_sw(0, ones, sizeof(ones)), 0x62A8AB43u);
    if (crc32c_has_hw()) {
        ck_assert_uint_eq(crc32c_update_hw(0, "123456789", 9), 0xE3069283u);
        ck_assert_uint_eq(crc32c_update_hw(0, ones, sizeof(ones)), 0x62A8AB43u);
    }
}
END_TEST

static Suite *crc32c_paths_suite(void)
{
    Suite *s = suite_create("crc32c_paths");
    TCase *tc = tcase_create("paths");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_crc32c_paths_sw_matches_reference);
    tcase_add_test(tc, test_crc32c_paths_hw_matches_sw);
    tcase_add_test(tc, test_crc32c_paths_chain_across_paths);
    tcase_add_test(tc, test_crc32c_paths_check_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crc32c_paths_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
