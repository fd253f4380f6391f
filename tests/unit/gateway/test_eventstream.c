/*
 * Unit tests for server/gateway/eventstream.c: the three messages of
 * notes/wire-protocols.md 1.4 (checked there against the smithy and botocore
 * decoders) byte for byte, every message a strict decoder written here
 * accepts (lengths, both CRCs, string headers), and the bounds.
 */
#include "eventstream.h"

#include "eddy/crc32.h"
#include "eddy/errors.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* initial-response, 104 bytes: the hex dump of wire-protocols.md 1.4. */
static const uint8_t test_initial_response[104] = {
    0x00, 0x00, 0x00, 0x68, 0x00, 0x00, 0x00, 0x56, 0x4e, 0x68, 0x17, 0x24, 0x0b, 0x3a, 0x65,
    0x76, 0x65, 0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x10, 0x69, 0x6e, 0x69,
    0x74, 0x69, 0x61, 0x6c, 0x2d, 0x72, 0x65, 0x73, 0x70, 0x6f, 0x6e, 0x73, 0x65, 0x0d, 0x3a,
    0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x10,
    0x61, 0x70, 0x70, 0x6c, 0x69, 0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f, 0x6a, 0x73, 0x6f,
    0x6e, 0x0d, 0x3a, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x2d, 0x74, 0x79, 0x70, 0x65,
    0x07, 0x00, 0x05, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x7b, 0x7d, 0xd5, 0x91, 0xc6, 0x2b,
};

/* The first 0x70 bytes of the 417-byte SubscribeToShardEvent of 1.4. */
static const uint8_t test_event_head[0x70] = {
    0x00, 0x00, 0x01, 0xa1, 0x00, 0x00, 0x00, 0x5b, 0x1f, 0x80, 0x32, 0x96, 0x0b, 0x3a, 0x65, 0x76,
    0x65, 0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x15, 0x53, 0x75, 0x62, 0x73, 0x63,
    0x72, 0x69, 0x62, 0x65, 0x54, 0x6f, 0x53, 0x68, 0x61, 0x72, 0x64, 0x45, 0x76, 0x65, 0x6e, 0x74,
    0x0d, 0x3a, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00,
    0x10, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f, 0x6a, 0x73, 0x6f,
    0x6e, 0x0d, 0x3a, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07,
    0x00, 0x05, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x7b, 0x22, 0x52, 0x65, 0x63, 0x6f, 0x72, 0x64, 0x73,
};

static const char test_event_payload[] =
    "{\"Records\":[{\"SequenceNumber\":"
    "\"49590338271490256608559692538361571095921575989136588898\","
    "\"ApproximateArrivalTimestamp\":1700000000.123,\"Data\":\"aGVsbG8=\",\"PartitionKey\":\"pk1\","
    "\"EncryptionType\":\"NONE\"}],"
    "\"ContinuationSequenceNumber\":\"49590338271490256608559692538361571095921575989136588898\","
    "\"MillisBehindLatest\":0}";

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- a strict decoder, as botocore's EventStreamBuffer checks ---- */

struct decoded {
    size_t header_count;
    char names[8][256];
    char values[8][256];
    const uint8_t *payload;
    size_t payload_len;
};

/* Decodes the one message that fills msg exactly; fails the test otherwise. */
static void decode(const uint8_t *msg, size_t len, struct decoded *d)
{
    memset(d, 0, sizeof(*d));
    ck_assert_uint_ge(len, EVENTSTREAM_OVERHEAD_BYTES);
    uint32_t total = get_u32(msg);
    uint32_t hlen = get_u32(msg + 4);
    ck_assert_uint_eq(total, len);
    ck_assert_uint_le((uint64_t)hlen + EVENTSTREAM_OVERHEAD_BYTES, total);
    ck_assert_uint_eq(get_u32(msg + 8), crc32_update(0, msg, 8));
    ck_assert_uint_eq(get_u32(msg + total - 4), crc32_update(0, msg, total - 4));
    const uint8_t *p = msg + 12;
    const uint8_t *end = p + hlen;
    while (p < end) {
        ck_assert_uint_lt(d->header_count, 8);
        size_t n = *p++;
        ck_assert_uint_gt(n, 0);
        ck_assert(p + n + 3 <= end);
        memcpy(d->names[d->header_count], p, n);
        p += n;
        ck_assert_uint_eq(*p++, 7); /* string */
        size_t v = (size_t)p[0] << 8 | p[1];
        p += 2;
        ck_assert(p + v <= end);
        ck_assert_uint_lt(v, 256);
        memcpy(d->values[d->header_count], p, v);
        p += v;
        for (size_t i = 0; i < d->header_count; i++) {
            ck_assert_str_ne(d->names[i], d->names[d->header_count]); /* DuplicateHeader */
        }
        d->header_count++;
    }
    ck_assert_ptr_eq(p, end);
    d->payload = end;
    d->payload_len = total - hlen - EVENTSTREAM_OVERHEAD_BYTES;
}

static const char *header(const struct decoded *d, const char *name)
{
    for (size_t i = 0; i < d->header_count; i++) {
        if (strcmp(d->names[i], name) == 0) {
            return d->values[i];
        }
    }
    return NULL;
}

/* ---- the examples ---- */

START_TEST(test_eventstream_examples_initial_response)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(
        eventstream_event(&b, "initial-response", "application/json", (const uint8_t *)"{}", 2), 0);
    ck_assert_uint_eq(b.len, sizeof(test_initial_response));
    ck_assert_mem_eq(b.data, test_initial_response, sizeof(test_initial_response));
    buf_free(&b);
}
END_TEST

START_TEST(test_eventstream_examples_subscribe_event)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    size_t plen = strlen(test_event_payload);
    ck_assert_int_eq(eventstream_event(&b, "SubscribeToShardEvent", "application/json",
                                       (const uint8_t *)test_event_payload, plen),
                     0);
    ck_assert_uint_eq(b.len, 417);
    ck_assert_mem_eq(b.data, test_event_head, sizeof(test_event_head));
    /* The dump's tail: ...indLatest":0} f3 3a 77 33. */
    static const uint8_t tail[] = {0x3a, 0x30, 0x7d, 0xf3, 0x3a, 0x77, 0x33};
    ck_assert_mem_eq(b.data + b.len - sizeof(tail), tail, sizeof(tail));
    ck_assert_mem_eq(b.data + 12 + 0x5b, test_event_payload, plen);
    buf_free(&b);
}
END_TEST

START_TEST(test_eventstream_examples_exception)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    const char *payload = "{\"message\":\"Another active subscription exists\"}";
    ck_assert_int_eq(eventstream_exception(&b, "ResourceInUseException", "application/json",
                                           (const uint8_t *)payload, strlen(payload)),
                     0);
    ck_assert_uint_eq(b.len, 164);
    ck_assert_uint_eq(get_u32(b.data), 0xA4);
    ck_assert_uint_eq(get_u32(b.data + 4), 0x64);
    ck_assert_uint_eq(get_u32(b.data + 8), 0xAA5A437Eu);
    ck_assert_uint_eq(get_u32(b.data + b.len - 4), 0x64180EFDu);
    struct decoded d;
    decode(b.data, b.len, &d);
    ck_assert_str_eq(d.names[0], ":exception-type");
    ck_assert_str_eq(header(&d, ":exception-type"), "ResourceInUseException");
    ck_assert_str_eq(header(&d, ":message-type"), "exception");
    ck_assert_str_eq(header(&d, ":content-type"), "application/json");
    ck_assert_uint_eq(d.payload_len, strlen(payload));
    ck_assert_mem_eq(d.payload, payload, d.payload_len);
    buf_free(&b);
}
END_TEST

/* ---- any message decodes ---- */

START_TEST(test_eventstream_decode_payload_sizes)
{
    /* Payload sizes around the byte boundaries of the length fields. */
    static const size_t sizes[] = {0, 1, 255, 256, 65535, 65536, 1 << 20};
    uint8_t *payload = malloc(1 << 20);
    ck_assert_ptr_nonnull(payload);
    for (size_t i = 0; i < (size_t)(1 << 20); i++) {
        payload[i] = (uint8_t)(i * 7 + 3);
    }
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct buf b;
        buf_init(&b, 2 << 20);
        ck_assert_int_eq(eventstream_event(&b, "SubscribeToShardEvent",
                                           "application/x-amz-cbor-1.1",
                                           sizes[k] > 0 ? payload : NULL, sizes[k]),
                         0);
        struct decoded d;
        decode(b.data, b.len, &d);
        ck_assert_uint_eq(d.header_count, 3);
        ck_assert_str_eq(header(&d, ":event-type"), "SubscribeToShardEvent");
        ck_assert_str_eq(header(&d, ":content-type"), "application/x-amz-cbor-1.1");
        ck_assert_str_eq(header(&d, ":message-type"), "event");
        ck_assert_uint_eq(d.payload_len, sizes[k]);
        if (sizes[k] > 0) {
            ck_assert_mem_eq(d.payload, payload, sizes[k]);
        }
        buf_free(&b);
    }
    free(payload);
}
END_TEST

START_TEST(test_eventstream_decode_appends)
{
    /* Messages follow each other in one buffer, each whole. */
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(
        eventstream_event(&b, "initial-response", "application/json", (const uint8_t *)"{}", 2), 0);
    size_t first = b.len;
    ck_assert_int_eq(eventstream_event(&b, "SubscribeToShardEvent", "application/json",
                                       (const uint8_t *)"{\"Records\":[]}", 14),
                     0);
    ck_assert_mem_eq(b.data, test_initial_response, first);
    struct decoded d;
    decode(b.data + first, b.len - first, &d);
    ck_assert_uint_eq(d.payload_len, 14);
    buf_free(&b);
}
END_TEST

START_TEST(test_eventstream_decode_header_lengths)
{
    /* Names of 1 and 255 bytes, values of 0 and 255 bytes. */
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0';
    char value[256];
    memset(value, 'v', 255);
    value[255] = '\0';
    const struct eventstream_header h[] = {{"a", ""}, {name, value}};
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(eventstream_encode(&b, h, 2, NULL, 0), 0);
    struct decoded d;
    decode(b.data, b.len, &d);
    ck_assert_uint_eq(d.header_count, 2);
    ck_assert_str_eq(header(&d, "a"), "");
    ck_assert_str_eq(header(&d, name), value);
    ck_assert_uint_eq(d.payload_len, 0);
    buf_free(&b);
}
END_TEST

/* ---- bounds ---- */

START_TEST(test_eventstream_bounds_header_name)
{
    char name[257];
    memset(name, 'n', 256);
    name[256] = '\0';
    struct buf b;
    buf_init(&b, 1 << 20);
    const struct eventstream_header empty[] = {{"", "x"}};
    ck_assert_int_eq(eventstream_encode(&b, empty, 1, NULL, 0), -EDDY_EINVAL);
    const struct eventstream_header longer[] = {{name, "x"}};
    ck_assert_int_eq(eventstream_encode(&b, longer, 1, NULL, 0), -EDDY_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_eventstream_bounds_header_value)
{
    char *value = malloc(EVENTSTREAM_VALUE_BYTES_MAX + 2);
    ck_assert_ptr_nonnull(value);
    memset(value, 'v', EVENTSTREAM_VALUE_BYTES_MAX + 1);
    value[EVENTSTREAM_VALUE_BYTES_MAX + 1] = '\0';
    struct buf b;
    buf_init(&b, 1 << 20);
    const struct eventstream_header h[] = {{"x", value}};
    ck_assert_int_eq(eventstream_encode(&b, h, 1, NULL, 0), -EDDY_EINVAL);
    value[EVENTSTREAM_VALUE_BYTES_MAX] = '\0'; /* the longest allowed */
    ck_assert_int_eq(eventstream_encode(&b, h, 1, NULL, 0), 0);
    ck_assert_uint_eq(b.len,
                      EVENTSTREAM_OVERHEAD_BYTES + 1 + 1 + 1 + 2 + EVENTSTREAM_VALUE_BYTES_MAX);
    buf_free(&b);
    free(value);
}
END_TEST

START_TEST(test_eventstream_bounds_payload)
{
    /* Refused before any byte of the payload is read. */
    static const uint8_t one = 0;
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(eventstream_event(&b, "E", "application/json", &one,
                                       (size_t)EVENTSTREAM_PAYLOAD_BYTES_MAX + 1),
                     -EDDY_ETOOBIG);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_eventstream_bounds_buffer_unchanged)
{
    /* A message that does not fit leaves the buffer as it was. */
    struct buf b;
    buf_init(&b, 150);
    ck_assert_int_eq(
        eventstream_event(&b, "initial-response", "application/json", (const uint8_t *)"{}", 2), 0);
    ck_assert_int_eq(
        eventstream_event(&b, "initial-response", "application/json", (const uint8_t *)"{}", 2),
        -EDDY_ETOOBIG);
    ck_assert_uint_eq(b.len, sizeof(test_initial_response));
    ck_assert_mem_eq(b.data, test_initial_response, b.len);
    buf_free(&b);
}
END_TEST

static Suite *eventstream_suite(void)
{
    Suite *s = suite_create("eventstream");

    TCase *tc = tcase_create("examples");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_eventstream_examples_initial_response);
    tcase_add_test(tc, test_eventstream_examples_subscribe_event);
    tcase_add_test(tc, test_eventstream_examples_exception);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_eventstream_decode_payload_sizes);
    tcase_add_test(tc, test_eventstream_decode_appends);
    tcase_add_test(tc, test_eventstream_decode_header_lengths);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_eventstream_bounds_header_name);
    tcase_add_test(tc, test_eventstream_bounds_header_value);
    tcase_add_test(tc, test_eventstream_bounds_payload);
    tcase_add_test(tc, test_eventstream_bounds_buffer_unchanged);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eventstream_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
