/* Unit tests for common/crc32.c: zlib's check values and incremental use. */
#include "eddy/crc32.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_crc32_vectors_check_value)
{
    /* The CRC catalogue's check value for CRC-32 (zlib, gzip, PNG). */
    ck_assert_uint_eq(crc32_update(0, "123456789", 9), 0xCBF43926u);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    ck_assert_uint_eq(crc32_update(0, fox, strlen(fox)), 0x414FA339u);
}
END_TEST

START_TEST(test_crc32_vectors_empty)
{
    ck_assert_uint_eq(crc32_update(0, NULL, 0), 0);
    ck_assert_uint_eq(crc32_update(0xdeadbeef, "", 0), 0xdeadbeef);
}
END_TEST

START_TEST(test_crc32_vectors_zlib)
{
    /* Values of Python's zlib.crc32 for 32 zero bytes, 32 0xff, 0..31. */
    uint8_t buf[32];
    memset(buf, 0, sizeof(buf));
    ck_assert_uint_eq(crc32_update(0, buf, sizeof(buf)), 0x190A55ADu);
    memset(buf, 0xff, sizeof(buf));
    ck_assert_uint_eq(crc32_update(0, buf, sizeof(buf)), 0xFF6CAB0Bu);
    for (size_t k = 0; k < sizeof(buf); k++) {
        buf[k] = (uint8_t)k;
    }
    ck_assert_uint_eq(crc32_update(0, buf, sizeof(buf)), 0x91267E8Au);
}
END_TEST

START_TEST(test_crc32_vectors_eventstream_prelude)
{
    /* The prelude of the initial-response message in notes/wire-protocols.md
     * 1.4 (total 104, headers 86). */
    static const uint8_t prelude[8] = {0, 0, 0, 0x68, 0, 0, 0, 0x56};
    ck_assert_uint_eq(crc32_update(0, prelude, sizeof(prelude)), 0x4E681724u);
}
END_TEST

START_TEST(test_crc32_update_split_anywhere)
{
    uint8_t buf[257];
    for (size_t k = 0; k < sizeof(buf); k++) {
        buf[k] = (uint8_t)(k * 37 + 11);
    }
    uint32_t whole = crc32_update(0, buf, sizeof(buf));
    for (size_t cut = 0; cut <= sizeof(buf); cut++) {
        uint32_t crc = crc32_update(0, buf, cut);
        crc = crc32_update(crc, buf + cut, sizeof(buf) - cut);
        ck_assert_uint_eq(crc, whole);
    }
}
END_TEST

START_TEST(test_crc32_update_detects_bit_flip)
{
    uint8_t buf[64];
    memset(buf, 0x5a, sizeof(buf));
    uint32_t good = crc32_update(0, buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(crc32_update(0, buf, sizeof(buf)), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
END_TEST

static Suite *crc32_suite(void)
{
    Suite *s = suite_create("crc32");

    TCase *tc = tcase_create("vectors");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_crc32_vectors_check_value);
    tcase_add_test(tc, test_crc32_vectors_empty);
    tcase_add_test(tc, test_crc32_vectors_zlib);
    tcase_add_test(tc, test_crc32_vectors_eventstream_prelude);
    suite_add_tcase(s, tc);

    tc = tcase_create("update");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_crc32_update_split_anywhere);
    tcase_add_test(tc, test_crc32_update_detects_bit_flip);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crc32_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
