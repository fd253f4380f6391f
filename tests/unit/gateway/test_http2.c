/*
 * Tests for the HTTP/2 transport without sockets (http2_feed_for_test): the
 * frames a client sends after the preface, built here with HPACK literals,
 * go into one connection; each request is answered at once; the run checks
 * that every request and every budgeted byte is given back.
 */
#include "http2.h"

#include "eddy/limits.h"
#include "eddy/log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_TCASE_TIMEOUT_S 30
#define TEST_FRAMES_MAX (256 * 1024)

struct test_frames {
    uint8_t data[TEST_FRAMES_MAX];
    size_t len;
};

static struct test_frames tf;

static void test_put(const void *p, size_t n)
{
    ck_assert_uint_le(tf.len + n, sizeof(tf.data));
    if (n > 0) {
        memcpy(tf.data + tf.len, p, n);
    }
    tf.len += n;
}

static void test_frame(uint8_t type, uint8_t flags, uint32_t stream, const void *p, size_t n)
{
    uint8_t h[9] = {(uint8_t)(n >> 16),
                    (uint8_t)(n >> 8),
                    (uint8_t)n,
                    type,
                    flags,
                    (uint8_t)(stream >> 24),
                    (uint8_t)(stream >> 16),
                    (uint8_t)(stream >> 8),
                    (uint8_t)stream};
    test_put(h, sizeof(h));
    test_put(p, n);
}

/* HPACK prefix integer (RFC 7541 5.1) with 7-bit prefix and no flags. */
static size_t test_hpack_int(uint8_t *out, size_t v)
{
    size_t n = 0;
    if (v < 127) {
        out[n++] = (uint8_t)v;
        return n;
    }
    out[n++] = 127;
    v -= 127;
    while (v >= 128) {
        out[n++] = (uint8_t)((v & 0x7f) | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* A literal header field without indexing, new name. */
static size_t test_hpack(uint8_t *out, const char *name, const char *value)
{
    size_t n = 0;
    out[n++] = 0;
    n += test_hpack_int(out + n, strlen(name));
    memcpy(out + n, name, strlen(name));
    n += strlen(name);
    n += test_hpack_int(out + n, strlen(value));
    memcpy(out + n, value, strlen(value));
    n += strlen(value);
    return n;
}

/* HEADERS (and DATA with END_STREAM when body is set) for a POST. */
static void test_request(uint32_t stream, const char *body, size_t extra_count, size_t extra_len)
{
    static uint8_t block[128 * 1024];
    static char extra_value[100 * 1024];
    size_t n = 0;
    n += test_hpack(block + n, ":method", "POST");
    n += test_hpack(block + n, ":scheme", "http");
    n += test_hpack(block + n, ":path", "/");
    n += test_hpack(block + n, ":authority", "127.0.0.1:4567");
    n += test_hpack(block + n, "x-amz-target", "Kinesis_20131202.ListStreams");
    ck_assert_uint_lt(extra_len, sizeof(extra_value));
    memset(extra_value, 'v', extra_len);
    extra_value[extra_len] = '\0';
    for (size_t i = 0; i < extra_count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-long-%zu", i);
        ck_assert_uint_lt(n + extra_len + 64, sizeof(block));
        n += test_hpack(block + n, name, extra_value);
    }
    /* Frames of at most 16384 bytes: HEADERS then CONTINUATION. */
    size_t off = 0;
    uint8_t type = 0x1;
    while (off < n) {
        size_t len = n - off > 16384 ? 16384 : n - off;
        uint8_t flags = off + len == n ? 0x4 : 0;
        if (body == NULL && type == 0x1) {
            flags |= 0x1; /* END_STREAM goes on HEADERS, not CONTINUATION */
        }
        test_frame(type, flags, stream, block + off, len);
        off += len;
        type = 0x9;
    }
    if (body != NULL) {
        test_frame(0x0, 0x1, stream, body, strlen(body));
    }
}

static int test_run(void)
{
    int whole = http2_feed_for_test(tf.data, tf.len, tf.len > 0 ? tf.len : 1);
    /* Reads of 1000 bytes: smaller ones split CONTINUATION frame headers so
     * often that nghttp2 1.52's CONTINUATION flood check counts them twice. */
    int split = http2_feed_for_test(tf.data, tf.len, 1000);
    ck_assert_int_eq(whole, split);
    return whole;
}

static void test_setup(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    memset(&tf, 0, sizeof(tf));
    test_frame(0x4, 0, 0, 0, 0); /* the client's SETTINGS */
}

START_TEST(test_http2_requests_one)
{
    test_request(1, "{}", 0, 0);
    ck_assert_int_eq(test_run(), 1);
}
END_TEST

/* Even bodies get a response, odd ones a streamed response. */
START_TEST(test_http2_requests_many_both_answers)
{
    for (uint32_t i = 0; i < 20; i++) {
        test_request(1 + 2 * i, i % 2 == 0 ? "{}" : "{ }", 0, 0);
    }
    ck_assert_int_eq(test_run(), 20);
}
END_TEST

START_TEST(test_http2_requests_without_body)
{
    test_request(1, NULL, 0, 0);
    ck_assert_int_eq(test_run(), 1);
}
END_TEST

START_TEST(test_http2_requests_continuation)
{
    test_request(1, "{}", 1, 40 * 1024);
    ck_assert_int_eq(test_run(), 1);
}
END_TEST

/* Past GW_HTTP_HEADER_BYTES_MAX the request is answered 431 here, never
 * given to the application. */
START_TEST(test_http2_limits_header_list)
{
    test_request(1, "{}", 2, GW_HTTP_HEADER_BYTES_MAX / 2);
    test_request(3, "{}", 0, 0);
    ck_assert_int_eq(test_run(), 1);
}
END_TEST

START_TEST(test_http2_limits_content_length)
{
    char length[32];
    snprintf(length, sizeof(length), "%d", GW_HTTP_BODY_BYTES_MAX + 1);
    uint8_t block[256];
    size_t n = 0;
    n += test_hpack(block + n, ":method", "POST");
    n += test_hpack(block + n, ":scheme", "http");
    n += test_hpack(block + n, ":path", "/");
    n += test_hpack(block + n, "content-length", length);
    test_frame(0x1, 0x4, 1, block, n);
    test_frame(0x0, 0x0, 1, "xxxx", 4);
    ck_assert_int_eq(test_run(), 0);
}
END_TEST

START_TEST(test_http2_malformed_garbage)
{
    static const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    test_put(garbage, sizeof(garbage) - 1);
    test_request(1, "{}", 0, 0); /* after the error: never read */
    ck_assert_int_eq(test_run(), 0);
}
END_TEST

START_TEST(test_http2_malformed_reset_and_ping)
{
    static const uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t cancel[4] = {0, 0, 0, 8};
    uint8_t block[128];
    size_t n = 0;
    n += test_hpack(block + n, ":method", "POST");
    n += test_hpack(block + n, ":scheme", "http");
    n += test_hpack(block + n, ":path", "/");
    test_frame(0x6, 0, 0, ping, sizeof(ping));
    test_frame(0x1, 0x4, 1, block, n);             /* a body is announced */
    test_frame(0x0, 0x0, 1, "{", 1);               /* part of it */
    test_frame(0x3, 0, 1, cancel, sizeof(cancel)); /* then the client gives up */
    test_request(3, "{}", 0, 0);
    ck_assert_int_eq(test_run(), 1);
}
END_TEST

START_TEST(test_http2_malformed_empty)
{
    tf.len = 0;
    ck_assert_int_eq(test_run(), 0);
}
END_TEST

static Suite *test_http2_suite(void)
{
    Suite *s = suite_create("http2");
    TCase *tc = tcase_create("requests");
    tcase_set_timeout(tc, TEST_TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(tc, test_setup, NULL);
    tcase_add_test(tc, test_http2_requests_one);
    tcase_add_test(tc, test_http2_requests_many_both_answers);
    tcase_add_test(tc, test_http2_requests_without_body);
    tcase_add_test(tc, test_http2_requests_continuation);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, TEST_TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(tc, test_setup, NULL);
    tcase_add_test(tc, test_http2_limits_header_list);
    tcase_add_test(tc, test_http2_limits_content_length);
    suite_add_tcase(s, tc);
    tc = tcase_create("malformed");
    tcase_set_timeout(tc, TEST_TCASE_TIMEOUT_S);
    tcase_add_checked_fixture(tc, test_setup, NULL);
    tcase_add_test(tc, test_http2_malformed_garbage);
    tcase_add_test(tc, test_http2_malformed_reset_and_ping);
    tcase_add_test(tc, test_http2_malformed_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(test_http2_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
