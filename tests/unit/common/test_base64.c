/* Unit tests for common/base64.c: RFC 4648 vectors, strict decoding, round trips. */
#include "eddy/base64.h"
#include "eddy/errors.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *plain;
    const char *encoded;
} rfc_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

/* Decodes s (NUL-terminated) into out; returns the code, *len the byte count. */
static int decode_str(const char *s, uint8_t *out, size_t *len)
{
    return base64_decode(s, strlen(s), out, len);
}

START_TEST(test_base64_encode_rfc_vectors)
{
    char out[16];
    for (size_t k = 0; k < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); k++) {
        size_t n = strlen(rfc_vectors[k].plain);
        size_t w = base64_encode((const uint8_t *)rfc_vectors[k].plain, n, out);
        ck_assert_uint_eq(w, base64_encoded_len(n));
        ck_assert_uint_eq(w, strlen(rfc_vectors[k].encoded));
        ck_assert(memcmp(out, rfc_vectors[k].encoded, w) == 0);
    }
}
END_TEST

START_TEST(test_base64_encode_all_alphabet)
{
    /* 0x00 0x10 0x83 ... : 48 bytes whose 6-bit groups count 0..63. */
    uint8_t in[48];
    for (size_t k = 0; k < 16; k++) {
        uint32_t v = (uint32_t)(4 * k) << 18 | (uint32_t)(4 * k + 1) << 12 |
                     (uint32_t)(4 * k + 2) << 6 | (uint32_t)(4 * k + 3);
        in[3 * k] = (uint8_t)(v >> 16);
        in[3 * k + 1] = (uint8_t)(v >> 8);
        in[3 * k + 2] = (uint8_t)v;
    }
    char out[64];
    ck_assert_uint_eq(base64_encode(in, sizeof(in), out), 64);
    ck_assert(memcmp(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 64) ==
              0);
}
END_TEST

START_TEST(test_base64_encode_null_empty)
{
    ck_assert_uint_eq(base64_encode(NULL, 0, NULL), 0);
}
END_TEST

START_TEST(test_base64_decode_rfc_vectors)
{
    uint8_t out[16];
    for (size_t k = 0; k < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); k++) {
        size_t len = 99;
        ck_assert_int_eq(decode_str(rfc_vectors[k].encoded, out, &len), 0);
        ck_assert_uint_eq(len, strlen(rfc_vectors[k].plain));
        ck_assert(memcmp(out, rfc_vectors[k].plain, len) == 0);
        ck_assert_uint_le(len, base64_decoded_len_max(strlen(rfc_vectors[k].encoded)));
    }
}
END_TEST

START_TEST(test_base64_decode_missing_padding)
{
    uint8_t out[16];
    size_t len = 0;
    ck_assert_int_eq(decode_str("Zg", out, &len), 0);
    ck_assert_uint_eq(len, 1);
    ck_assert(memcmp(out, "f", 1) == 0);
    ck_assert_int_eq(decode_str("Zm8", out, &len), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert(memcmp(out, "fo", 2) == 0);
    ck_assert_int_eq(decode_str("Zm9vYmE", out, &len), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(out, "fooba", 5) == 0);
}
END_TEST

START_TEST(test_base64_decode_nonzero_trailing_bits)
{
    /* Java's decoder ignores the unused low bits: "Zh==" and "Zm9=" still decode. */
    uint8_t out[16];
    size_t len = 0;
    ck_assert_int_eq(decode_str("Zh==", out, &len), 0);
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(out[0], 'f');
    ck_assert_int_eq(decode_str("Zm9=", out, &len), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert(memcmp(out, "fo", 2) == 0);
}
END_TEST

START_TEST(test_base64_decode_binary)
{
    uint8_t out[16];
    size_t len = 0;
    ck_assert_int_eq(decode_str("AP8A/w==", out, &len), 0);
    ck_assert_uint_eq(len, 4);
    static const uint8_t expect[4] = {0x00, 0xff, 0x00, 0xff};
    ck_assert(memcmp(out, expect, 4) == 0);
    ck_assert_int_eq(decode_str("+/+/", out, &len), 0);
    ck_assert_uint_eq(len, 3);
    static const uint8_t expect2[3] = {0xfb, 0xff, 0xbf};
    ck_assert(memcmp(out, expect2, 3) == 0);
}
END_TEST

START_TEST(test_base64_decode_null_empty)
{
    size_t len = 7;
    ck_assert_int_eq(base64_decode(NULL, 0, NULL, &len), 0);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_base64_reject_bad_input)
{
    static const char *const bad[] = {
        "Z",                                       /* a lone char is not a byte */
        "Zm9vY",                                   /* same after a full unit */
        "=",                                       /* padding alone */
        "==",       "====",    "Zg=",              /* one '=' where two are needed */
        "Z===",                                    /* too much padding */
        "Zg===",    "Zm9v=",                       /* padding after a full unit */
        "Zg==Zg==",                                /* '=' in the middle */
        "Zm=v",     "Z=9v",    "Zm9v\n",           /* whitespace is not in the alphabet */
        " Zm9v",    "Zm 9v",   "Zm9v\r\n", "Zm-_", /* URL-safe alphabet is not accepted */
        "Zm9v*A==", "Zm9\x80",                     /* high byte */
        "Zg==\n",                                  /* trailing newline after padding */
    };
    uint8_t out[32];
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        size_t len = 99;
        ck_assert_msg(decode_str(bad[k], out, &len) == -EDDY_EMALFORMED, "accepted \"%s\"", bad[k]);
        ck_assert_uint_eq(len, 99);
    }
}
END_TEST

START_TEST(test_base64_reject_nul_inside)
{
    uint8_t out[8];
    size_t len = 0;
    ck_assert_int_eq(base64_decode("Zm\0v", 4, out, &len), -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_base64_round_trip_lengths)
{
    /* Every length 0..300 of a byte pattern encodes and decodes back to itself. */
    uint8_t in[300];
    for (size_t k = 0; k < sizeof(in); k++) {
        in[k] = (uint8_t)(k * 131 + 7);
    }
    char enc[400];
    uint8_t dec[400];
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t w = base64_encode(in, n, enc);
        ck_assert_uint_eq(w, base64_encoded_len(n));
        ck_assert_uint_le(w, sizeof(enc));
        size_t len = 0;
        ck_assert_int_eq(base64_decode(enc, w, dec, &len), 0);
        ck_assert_uint_eq(len, n);
        ck_assert(memcmp(dec, in, n) == 0);
        /* Without its padding the text still decodes to the same bytes. */
        size_t stripped = w;
        while (stripped > 0 && enc[stripped - 1] == '=') {
            stripped--;
        }
        ck_assert_int_eq(base64_decode(enc, stripped, dec, &len), 0);
        ck_assert_uint_eq(len, n);
        ck_assert(memcmp(dec, in, n) == 0);
    }
}
END_TEST

START_TEST(test_base64_decode_in_place)
{
    /* Every length 0..300 decodes over its own text (json_get_blob does). */
    uint8_t in[300];
    for (size_t k = 0; k < sizeof(in); k++) {
        in[k] = (uint8_t)(k * 37 + 11);
    }
    char text[400];
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t w = base64_encode(in, n, text);
        size_t len = 0;
        ck_assert_int_eq(base64_decode(text, w, (uint8_t *)text, &len), 0);
        ck_assert_uint_eq(len, n);
        ck_assert(memcmp(text, in, n) == 0);
    }
}
END_TEST

START_TEST(test_base64_reject_in_place_keeps_text)
{
    /* A bad char anywhere, in a whole unit or the last one, padded or not:
     * decoding in place leaves the text as it was, so that the caller can
     * still show it in its error (json_get_blob does). */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char text[64];
    for (size_t n = 2; n <= 44; n++) {
        for (size_t bad = 0; bad < n; bad++) {
            for (size_t i = 0; i < n; i++) {
                text[i] = alphabet[(i * 7 + n) % 64];
            }
            text[bad] = bad % 2 ? '!' : '=';
            char before[64];
            memcpy(before, text, n);
            size_t len = 99;
            int rv = base64_decode(text, n, (uint8_t *)text, &len);
            if (rv == 0) {
                continue; /* '=' as valid padding at the end */
            }
            ck_assert_int_eq(rv, -EDDY_EMALFORMED);
            ck_assert_uint_eq(len, 99);
            ck_assert_msg(memcmp(text, before, n) == 0, "text changed: n=%zu bad=%zu", n, bad);
        }
    }
}
END_TEST

START_TEST(test_base64_lengths_bounds)
{
    ck_assert_uint_eq(base64_encoded_len(0), 0);
    ck_assert_uint_eq(base64_encoded_len(1), 4);
    ck_assert_uint_eq(base64_encoded_len(3), 4);
    ck_assert_uint_eq(base64_encoded_len(4), 8);
    /* 1 MiB, the Kinesis record limit, and its base64 size. */
    ck_assert_uint_eq(base64_encoded_len(1048576), 1398104);
    ck_assert_uint_ge(base64_decoded_len_max(1398104), 1048576);
    ck_assert_uint_ge(base64_decoded_len_max(3), 2);
    ck_assert_uint_ge(base64_decoded_len_max(2), 1);
}
END_TEST

static Suite *base64_suite(void)
{
    Suite *s = suite_create("base64");

    TCase *tc = tcase_create("encode");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_base64_encode_rfc_vectors);
    tcase_add_test(tc, test_base64_encode_all_alphabet);
    tcase_add_test(tc, test_base64_encode_null_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_base64_decode_rfc_vectors);
    tcase_add_test(tc, test_base64_decode_missing_padding);
    tcase_add_test(tc, test_base64_decode_nonzero_trailing_bits);
    tcase_add_test(tc, test_base64_decode_binary);
    tcase_add_test(tc, test_base64_decode_null_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("reject");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_base64_reject_bad_input);
    tcase_add_test(tc, test_base64_reject_nul_inside);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_base64_round_trip_lengths);
    tcase_add_test(tc, test_base64_decode_in_place);
    tcase_add_test(tc, test_base64_reject_in_place_keeps_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("lengths");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_base64_lengths_bounds);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(base64_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
