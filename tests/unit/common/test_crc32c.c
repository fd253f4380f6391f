/* Unit tests for common/crc32c.c: published check values and incremental use. */
#include "eddy/crc32c.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_crc32c_vectors_check_value)
{
    /* The CRC catalogue's check value for CRC-32C. */
    ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xE3069283u);
}
END_TEST

START_TEST(test_crc32c_vectors_empty)
{
    ck_assert_uint_eq(crc32c_update(0, NULL, 0), 0);
    ck_assert_uint_eq(crc32c_update(0xdeadbeef, "", 0), 0xdeadbeef);
}
END_TEST

START_TEST(test_crc32c_vectors_rfc3720)
{
    /* iSCSI (RFC 3720 B.4) vectors: 32 zero bytes, 32 0xff bytes, 0..31. */
    uint8_t buf[32];
    memset(buf, 0, sizeof(buf));
    ck_assert_uint_eq(crc32c_update(0, buf, sizeof(buf)), 0x8A9136AAu);
    memset(buf, 0xff, sizeof(buf));
    ck_assert_uint_eq(crc32c_update(0, buf, sizeof(buf)), 0x62A8AB43u);
    for (size_t k = 0; k < sizeof(buf); k++) {
        buf[k] = (uint8_t)k;
    }
    ck_assert_uint_eq(crc32c_update(0, buf, sizeof(buf)), 0x46DD794Eu);
}
END_TEST

START_TEST(test_crc32c_update_split_anywhere)
{
    /* Feeding the data in two pieces gives the same crc as one call. */
    uint8_t buf[257];
    for (size_t k = 0; k < sizeof(buf); k++) {
        buf[k] = (uint8_t)(k * 37 + 11);
    }
    uint32_t whole = crc32c_update(0, buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut++) {
        uint32_t crc = crc32c_update(0, buf, cut);
        crc = crc32c_update(crc, buf + cut, sizeof(buf) - cut);
        ck_assert_uint_eq(crc, whole);
    }
}
END_TEST

START_TEST(test_crc32c_update_detects_bit_flip)
{
    uint8_t buf[64];
    memset(buf, 0x5a, sizeof(buf));
    uint32_t good = crc32c_update(0, buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(crc32c_update(0, buf, sizeof(buf)), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
END_TEST

static Suite *crc32c_suite(void)
{
    Suite *s = suite_create("crc32c");

    TCase *tc = tcase_create("vectors");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_crc32c_vectors_check_value);
    tcase_add_test(tc, test_crc32c_vectors_empty);
    tcase_add_test(tc, test_crc32c_vectors_rfc3720);
    suite_add_tcase(s, tc);

    tc = tcase_create("update");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_crc32c_update_split_anywhere);
    tcase_add_test(tc, test_crc32c_update_detects_bit_flip);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crc32c_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
