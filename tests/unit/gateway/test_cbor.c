/*
 * Unit tests for server/gateway/cbor.c and json_out's CBOR format: requests
 * decoded into the document the JSON path reads (byte strings raw, numbers as
 * milliseconds where a timestamp is read), every malformed or oversized input
 * a SerializationException, responses written exactly as the Java SDK reads
 * them, and a JSON document transcoded to the same bytes as the CBOR writer.
 */
#include "api.h"
#include "cbor.h"
#include "json.h"

#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/u128.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct api_config test_cfg = {.region = "us-east-1", .account = "000000000000"};

/* ---- building CBOR by hand ---- */

static void put(struct buf *b, const void *p, size_t n)
{
    ck_assert_int_eq(buf_append(b, p, n), 0);
}

static void put_byte(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_head(struct buf *b, enum cbor_major m, uint64_t v)
{
    uint8_t h[CBOR_HEAD_BYTES_MAX];
    put(b, h, cbor_head(h, m, v));
}

static void put_text(struct buf *b, const char *s)
{
    put_head(b, CBOR_TEXT, strlen(s));
    put(b, s, strlen(s));
}

static void put_bytes(struct buf *b, const void *p, size_t n)
{
    put_head(b, CBOR_BYTES, n);
    put(b, p, n);
}

/* Bytes from hex text ("a1 61 61 01"; spaces ignored). */
static size_t hex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*h != '\0') {
        if (*h == ' ') {
            h++;
            continue;
        }
        unsigned v;
        ck_assert_int_eq(sscanf(h, "%2x", &v), 1);
        ck_assert_uint_lt(n, cap);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

/* ---- decoding ---- */

struct parsed {
    int rv;
    cJSON *doc;
    struct api_error e;
};

static void parse(struct parsed *p, const uint8_t *body, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->rv = cbor_parse_request(body, len, &p->doc, &p->e);
    if (p->rv == 0) {
        ck_assert_ptr_nonnull(p->doc);
        ck_assert_int_eq(p->e.ex, API_EX_NONE);
    } else {
        ck_assert_ptr_null(p->doc);
    }
}

static void parsed_free(struct parsed *p)
{
    cJSON_Delete(p->doc);
    api_error_free(&p->e);
}

static void parse_hex(struct parsed *p, const char *h)
{
    uint8_t body[512];
    parse(p, body, hex(h, body, sizeof(body)));
}

/* Expects a SerializationException, with message msg (NULL: none). */
static void expect_malformed(const uint8_t *body, size_t len, const char *msg)
{
    struct parsed p;
    parse(&p, body, len);
    ck_assert_int_eq(p.rv, -EDDY_EMALFORMED);
    ck_assert_int_eq(p.e.ex, API_EX_SERIALIZATION);
    if (msg == NULL) {
        ck_assert_ptr_null(p.e.message);
    } else {
        ck_assert_str_eq(p.e.message, msg);
    }
    parsed_free(&p);
}

static void expect_malformed_hex(const char *h)
{
    uint8_t body[512];
    expect_malformed(body, hex(h, body, sizeof(body)), NULL);
}

START_TEST(test_cbor_decode_definite_map)
{
    struct parsed p;
    parse_hex(&p, "a2 61 61 01 61 62 63 78 79 7a");
    ck_assert_int_eq(p.rv, 0);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p.doc, "a");
    ck_assert(cJSON_IsNumber(a));
    ck_assert(a->valuedouble == 1.0);
    ck_assert(a->type & JSON_ITEM_MS);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(p.doc, "b");
    ck_assert(cJSON_IsString(b));
    ck_assert_str_eq(b->valuestring, "xyz");
    ck_assert(!(b->type & JSON_ITEM_BYTES));
    parsed_free(&p);
}
END_TEST

START_TEST(test_cbor_decode_every_scalar)
{
    /* {_ "a": [_ 1, -1, false, true, null, undefined, 1.0 (half), 1.5
     * (single), 1.5 (double), -2^64, 2^64-1], "b": h'00ff', "c": 1(1700000000123)} */
    struct parsed p;
    parse_hex(&p, "bf 61 61 9f 01 20 f4 f5 f6 f7 f9 3c 00 fa 3f c0 00 00"
                  " fb 3f f8 00 00 00 00 00 00 3b ff ff ff ff ff ff ff ff"
                  " 1b ff ff ff ff ff ff ff ff ff"
                  " 61 62 42 00 ff 61 63 c1 1b 00 00 01 8b cf e5 68 7b ff");
    ck_assert_int_eq(p.rv, 0);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p.doc, "a");
    ck_assert(cJSON_IsArray(a));
    ck_assert_int_eq(cJSON_GetArraySize(a), 11);
    ck_assert(cJSON_GetArrayItem(a, 0)->valuedouble == 1.0);
    ck_assert(cJSON_GetArrayItem(a, 1)->valuedouble == -1.0);
    ck_assert(cJSON_IsFalse(cJSON_GetArrayItem(a, 2)));
    ck_assert(cJSON_IsTrue(cJSON_GetArrayItem(a, 3)));
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(a, 4)));
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(a, 5)));
    ck_assert(cJSON_GetArrayItem(a, 6)->valuedouble == 1.0);
    ck_assert(cJSON_GetArrayItem(a, 7)->valuedouble == 1.5);
    ck_assert(cJSON_GetArrayItem(a, 8)->valuedouble == 1.5);
    ck_assert(cJSON_GetArrayItem(a, 9)->valuedouble == -18446744073709551616.0);
    ck_assert(cJSON_GetArrayItem(a, 10)->valuedouble == 18446744073709551615.0);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(p.doc, "b");
    ck_assert(cJSON_IsString(b));
    ck_assert(b->type & JSON_ITEM_BYTES);
    ck_assert(b->valuedouble == 2.0);
    ck_assert_int_eq(memcmp(b->valuestring, "\x00\xff", 2), 0);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(p.doc, "c");
    ck_assert(c->valuedouble == 1700000000123.0);
    ck_assert(c->type & JSON_ITEM_MS);
    parsed_free(&p);
}
END_TEST

START_TEST(test_cbor_decode_half_floats)
{
    /* RFC 8949 appendix A: 0.0, -0.0, 65504.0, 5.960464477539063e-8, -4.0, inf. */
    struct parsed p;
    parse_hex(&p, "a1 61 61 86 f9 00 00 f9 80 00 f9 7b ff f9 00 01 f9 c4 00 f9 7c 00");
    ck_assert_int_eq(p.rv, 0);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p.doc, "a");
    ck_assert(cJSON_GetArrayItem(a, 0)->valuedouble == 0.0);
    ck_assert(signbit(cJSON_GetArrayItem(a, 1)->valuedouble));
    ck_assert(cJSON_GetArrayItem(a, 2)->valuedouble == 65504.0);
    ck_assert(cJSON_GetArrayItem(a, 3)->valuedouble == 5.960464477539063e-8);
    ck_assert(cJSON_GetArrayItem(a, 4)->valuedouble == -4.0);
    ck_assert(isinf(cJSON_GetArrayItem(a, 5)->valuedouble));
    parsed_free(&p);
}
END_TEST

START_TEST(test_cbor_decode_chunked_strings)
{
    /* Jackson writes long strings in chunks: text and bytes, empty too. */
    struct parsed p;
    parse_hex(&p, "bf 7f 61 74 ff 7f 62 61 62 61 63 60 ff"
                  " 61 62 5f 41 01 42 02 03 ff 61 65 7f ff ff");
    ck_assert_int_eq(p.rv, 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(p.doc, "t")->valuestring, "abc");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(p.doc, "b");
    ck_assert(b->valuedouble == 3.0);
    ck_assert_int_eq(memcmp(b->valuestring, "\x01\x02\x03", 3), 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(p.doc, "e")->valuestring, "");
    parsed_free(&p);
}
END_TEST

START_TEST(test_cbor_decode_tags_ignored)
{
    /* Tags on values (several, any number) leave the value as it is. */
    struct parsed p;
    parse_hex(&p, "a2 61 61 c1 d8 20 19 01 00 61 62 c2 42 01 02");
    ck_assert_int_eq(p.rv, 0);
    ck_assert(cJSON_GetObjectItemCaseSensitive(p.doc, "a")->valuedouble == 256.0);
    ck_assert(cJSON_GetObjectItemCaseSensitive(p.doc, "b")->type & JSON_ITEM_BYTES);
    parsed_free(&p);
}
END_TEST

START_TEST(test_cbor_decode_depth_limit)
{
    /* GW_JSON_DEPTH_MAX containers nest; one more does not. */
    struct buf b;
    buf_init(&b, 4096);
    put_byte(&b, 0xbf);
    for (int i = 1; i < GW_JSON_DEPTH_MAX; i++) {
        put_text(&b, "k");
        put_byte(&b, 0xbf);
    }
    for (int i = 0; i < GW_JSON_DEPTH_MAX; i++) {
        put_byte(&b, 0xff);
    }
    struct parsed p;
    parse(&p, b.data, b.len);
    ck_assert_int_eq(p.rv, 0);
    parsed_free(&p);
    buf_reset(&b);
    put_byte(&b, 0xbf);
    for (int i = 0; i < GW_JSON_DEPTH_MAX; i++) {
        put_text(&b, "k");
        put_byte(&b, 0x9f);
    }
    expect_malformed(b.data, b.len, NULL);
    buf_free(&b);
}
END_TEST

/* {"a": [n zeros]}: n + 3 values (map, name, array, items). */
static void build_zeros(struct buf *b, size_t n, bool indefinite)
{
    buf_reset(b);
    put_byte(b, 0xa1);
    put_text(b, "a");
    if (indefinite) {
        put_byte(b, 0x9f);
    } else {
        put_head(b, CBOR_ARRAY, n);
    }
    for (size_t i = 0; i < n; i++) {
        put_byte(b, 0x00);
    }
    if (indefinite) {
        put_byte(b, 0xff);
    }
}

START_TEST(test_cbor_decode_value_limit)
{
    /* API_JSON_VALUES_MAX values in all decode; one more does not. */
    struct buf b;
    buf_init(&b, API_JSON_VALUES_MAX + 64);
    for (int indefinite = 0; indefinite < 2; indefinite++) {
        build_zeros(&b, API_JSON_VALUES_MAX - 3, indefinite);
        struct parsed p;
        parse(&p, b.data, b.len);
        ck_assert_int_eq(p.rv, 0);
        parsed_free(&p);
        build_zeros(&b, API_JSON_VALUES_MAX - 2, indefinite);
        expect_malformed(b.data, b.len, NULL);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_cbor_malformed_every_prefix)
{
    /* Every proper prefix of a valid body fails cleanly (and frees all). */
    uint8_t body[128];
    size_t n = hex("bf 61 61 9f 01 38 63 f9 3c 00 ff 61 62 5f 41 01 42 02 03 ff"
                   " 62 63 63 a1 61 64 7f 62 78 79 ff 61 65 c1 1a 00 01 00 00 ff",
                   body, sizeof(body));
    struct parsed p;
    parse(&p, body, n);
    ck_assert_int_eq(p.rv, 0);
    parsed_free(&p);
    for (size_t k = 0; k < n; k++) {
        expect_malformed(body, k, NULL);
    }
}
END_TEST

START_TEST(test_cbor_malformed_shapes)
{
    expect_malformed_hex("a0 00");             /* bytes after the document */
    expect_malformed_hex("01");                /* not a map */
    expect_malformed_hex("61 61");             /* not a map */
    expect_malformed_hex("ff");                /* a lone break */
    expect_malformed_hex("a1 61 61 ff");       /* a break in a definite map */
    expect_malformed_hex("bf 61 61 ff");       /* a break where a value is due */
    expect_malformed_hex("bf 61 61 c1 ff");    /* a tag without its value */
    expect_malformed_hex("bf c1 61 61 01 ff"); /* a tag on a member name */
    expect_malformed_hex("a1 01 01");          /* a number as member name */
    expect_malformed_hex("a1 41 61 01");       /* bytes as member name */
    expect_malformed_hex("a1 61 61 1c");       /* reserved additional info */
    expect_malformed_hex("a1 61 61 1d");
    expect_malformed_hex("a1 61 61 1e");
    expect_malformed_hex("a1 61 61 1f");    /* indefinite integer */
    expect_malformed_hex("a1 61 61 3f");    /* indefinite negative integer */
    expect_malformed_hex("a1 61 61 df 01"); /* indefinite tag */
    expect_malformed_hex("a1 61 61 e0");    /* unassigned simple value */
    expect_malformed_hex("a1 61 61 f8 20"); /* simple value in a byte */
    expect_malformed_hex("a1 61 61 f3");
    expect_malformed_hex("a1 61 61 5f 61 61 ff");                /* a text chunk in bytes */
    expect_malformed_hex("a1 61 61 7f 7f 61 61 ff ff");          /* nested indefinite chunk */
    expect_malformed_hex("a1 61 61 5a ff ff ff ff 00");          /* longer than the body */
    expect_malformed_hex("a1 61 61 9b 00 00 00 01 00 00 00 00"); /* count beyond the body */
    expect_malformed_hex("bb ff ff ff ff ff ff ff ff");
    expect_malformed_hex("a1 61 61 62 c3 28");    /* invalid UTF-8 */
    expect_malformed_hex("a1 61 61 62 c0 80");    /* overlong UTF-8 */
    expect_malformed_hex("a1 61 61 63 ed a0 80"); /* a UTF-16 surrogate */
    expect_malformed_hex("a1 61 61 63 61 00 62"); /* NUL in a value */
    expect_malformed_hex("a1 63 61 00 62 01");    /* NUL in a member name */
    expect_malformed(NULL, 0, NULL);              /* empty */
    uint8_t arr[] = {0x80};
    expect_malformed(arr, 1, "Start of list found where not expected");
    uint8_t arr2[] = {0x9f, 0x01, 0xff};
    expect_malformed(arr2, 3, "Start of list found where not expected");
}
END_TEST

/* ---- the readers over a CBOR document ---- */

struct decoded {
    int rv;
    struct api_error e;
    cJSON *doc;
    union api_req req;
    enum api_op op;
};

static void decode(struct decoded *d, enum api_op op, enum api_format f, const struct buf *b)
{
    memset(d, 0, sizeof(*d));
    d->op = op;
    d->rv = api_decode_body(op, f, &test_cfg, b->data, b->len, &d->doc, &d->req, &d->e);
}

static void decoded_free(struct decoded *d)
{
    if (d->rv == 0) {
        api_request_free(d->op, &d->req);
    }
    cJSON_Delete(d->doc);
    api_error_free(&d->e);
}

static void expect_serialization(enum api_op op, const struct buf *b, const char *msg)
{
    struct decoded d;
    decode(&d, op, API_FORMAT_CBOR, b);
    ck_assert_int_eq(d.rv, -EDDY_EMALFORMED);
    ck_assert_int_eq(d.e.ex, API_EX_SERIALIZATION);
    ck_assert_str_eq(d.e.message, msg);
    decoded_free(&d);
}

START_TEST(test_cbor_readers_raw_data)
{
    /* PutRecord as the Java SDK sends it: indefinite map, Data raw bytes,
     * not UTF-8 and with NULs. */
    static const uint8_t data[] = {0x00, 0xff, 0xfe, 0x80, 0x00, 0xc3, 0x28, 0x7f};
    struct buf b;
    buf_init(&b, 4096);
    put_byte(&b, 0xbf);
    put_text(&b, "StreamName");
    put_text(&b, "s");
    put_text(&b, "Data");
    put_bytes(&b, data, sizeof(data));
    put_text(&b, "PartitionKey");
    put_text(&b, "pk");
    put_byte(&b, 0xff);
    struct decoded d;
    decode(&d, API_OP_PUT_RECORD, API_FORMAT_CBOR, &b);
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.put_record.entry.data_len, sizeof(data));
    ck_assert_int_eq(memcmp(d.req.put_record.entry.data, data, sizeof(data)), 0);
    ck_assert_str_eq(d.req.put_record.name, "s");
    decoded_free(&d);

    /* Empty Data is a byte string of length 0. */
    buf_reset(&b);
    put_byte(&b, 0xa3);
    put_text(&b, "StreamName");
    put_text(&b, "s");
    put_text(&b, "Data");
    put_bytes(&b, "", 0);
    put_text(&b, "PartitionKey");
    put_text(&b, "pk");
    decode(&d, API_OP_PUT_RECORD, API_FORMAT_CBOR, &b);
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.put_record.entry.data_len, 0);
    decoded_free(&d);
    buf_free(&b);
}
END_TEST

START_TEST(test_cbor_readers_put_records)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_byte(&b, 0xbf);
    put_text(&b, "Records");
    put_byte(&b, 0x9f);
    for (int i = 0; i < 500; i++) {
        uint8_t data[3] = {(uint8_t)i, 0xff, (uint8_t)(i >> 8)};
        char pk[16];
        snprintf(pk, sizeof(pk), "pk-%d", i);
        put_byte(&b, 0xbf);
        put_text(&b, "Data");
        put_bytes(&b, data, sizeof(data));
        put_text(&b, "PartitionKey");
        put_text(&b, pk);
        put_byte(&b, 0xff);
    }
    put_byte(&b, 0xff);
    put_text(&b, "StreamName");
    put_text(&b, "s");
    put_byte(&b, 0xff);
    struct decoded d;
    decode(&d, API_OP_PUT_RECORDS, API_FORMAT_CBOR, &b);
    ck_assert_int_eq(d.rv, 0);
    ck_assert_uint_eq(d.req.put_records.count, 500);
    const struct api_put_entry *e = &d.req.put_records.entries[300];
    ck_assert_uint_eq(e->data_len, 3);
    ck_assert_int_eq(e->data[0], 300 & 0xff);
    ck_assert_int_eq(e->data[1], 0xff);
    ck_assert_int_eq(e->data[2], 1);
    ck_assert_int_eq(memcmp(e->partition_key, "pk-300", 6), 0);
    decoded_free(&d);
    buf_free(&b);
}
END_TEST

START_TEST(test_cbor_readers_timestamp_millis)
{
    /* Tag 1 + integer milliseconds (SdkCborGenerator), or a float, or no tag:
     * milliseconds exactly. */
    static const char *const stamps[] = {"c1 1b 00 00 01 8b cf e5 68 7b",
                                         "c1 fb 42 78 bc fe 56 87 b0 00",
                                         "1b 00 00 01 8b cf e5 68 7b"};
    for (size_t i = 0; i < 3; i++) {
        struct buf b;
        buf_init(&b, 4096);
        put_byte(&b, 0xbf);
        put_text(&b, "StreamName");
        put_text(&b, "s");
        put_text(&b, "ShardId");
        put_text(&b, "shardId-000000000001");
        put_text(&b, "ShardIteratorType");
        put_text(&b, "AT_TIMESTAMP");
        put_text(&b, "Timestamp");
        uint8_t ts[16];
        put(&b, ts, hex(stamps[i], ts, sizeof(ts)));
        put_byte(&b, 0xff);
        struct decoded d;
        decode(&d, API_OP_GET_SHARD_ITERATOR, API_FORMAT_CBOR, &b);
        ck_assert_int_eq(d.rv, 0);
        ck_assert(d.req.get_shard_iterator.has_timestamp);
        ck_assert_int_eq(d.req.get_shard_iterator.timestamp_ms, 1700000000123LL);
        decoded_free(&d);
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_cbor_readers_bytes_are_not_strings)
{
    struct buf b;
    buf_init(&b, 4096);
    put_byte(&b, 0xa1);
    put_text(&b, "StreamName");
    put_bytes(&b, "abc", 3);
    expect_serialization(API_OP_DESCRIBE_STREAM_SUMMARY, &b,
                         "class [B can not be converted to an String");
    buf_reset(&b);
    put_byte(&b, 0xa1);
    put_text(&b, "Limit");
    put_bytes(&b, "1", 1);
    expect_serialization(API_OP_LIST_STREAMS, &b, "class [B can not be converted to an Integer");
    buf_reset(&b);
    put_byte(&b, 0xa1);
    put_text(&b, "Limit");
    put_text(&b, "1");
    expect_serialization(API_OP_LIST_STREAMS, &b,
                         "class java.lang.String can not be converted to an Integer");
    buf_reset(&b);
    put_byte(&b, 0xa1);
    put_text(&b, "StreamName");
    put_byte(&b, 0x80);
    expect_serialization(API_OP_DESCRIBE_STREAM_SUMMARY, &b,
                         "Start of list found where not expected");
    buf_free(&b);
}
END_TEST

START_TEST(test_cbor_readers_same_errors_as_json)
{
    /* The same request in both formats fails with the same text. */
    const char *json = "{\"StreamName\":\"a b\",\"ShardCount\":0}";
    struct buf jb;
    buf_init(&jb, 4096);
    put(&jb, json, strlen(json));
    struct buf cb;
    buf_init(&cb, 4096);
    put_byte(&cb, 0xbf);
    put_text(&cb, "StreamName");
    put_text(&cb, "a b");
    put_text(&cb, "ShardCount");
    put_byte(&cb, 0x00);
    put_byte(&cb, 0xff);
    struct decoded dj;
    struct decoded dc;
    decode(&dj, API_OP_CREATE_STREAM, API_FORMAT_JSON, &jb);
    decode(&dc, API_OP_CREATE_STREAM, API_FORMAT_CBOR, &cb);
    ck_assert_int_eq(dj.rv, -EDDY_EINVAL);
    ck_assert_int_eq(dc.rv, dj.rv);
    ck_assert_int_eq(dc.e.ex, API_EX_VALIDATION);
    ck_assert_str_eq(dc.e.message, dj.e.message);
    decoded_free(&dj);
    decoded_free(&dc);
    buf_free(&jb);
    buf_free(&cb);
}
END_TEST

/* ---- encoding ---- */

START_TEST(test_cbor_encode_heads)
{
    static const struct {
        uint64_t v;
        const char *hex;
    } cases[] = {
        {0, "00"},
        {23, "17"},
        {24, "18 18"},
        {255, "18 ff"},
        {256, "19 01 00"},
        {65535, "19 ff ff"},
        {65536, "1a 00 01 00 00"},
        {4294967295ULL, "1a ff ff ff ff"},
        {4294967296ULL, "1b 00 00 00 01 00 00 00 00"},
        {UINT64_MAX, "1b ff ff ff ff ff ff ff ff"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t want[16];
        size_t n = hex(cases[i].hex, want, sizeof(want));
        uint8_t got[CBOR_HEAD_BYTES_MAX];
        ck_assert_uint_eq(cbor_head(got, CBOR_UINT, cases[i].v), n);
        ck_assert_int_eq(memcmp(got, want, n), 0);
    }
    uint8_t got[CBOR_HEAD_BYTES_MAX];
    ck_assert_uint_eq(cbor_head(got, CBOR_TEXT, 5), 1);
    ck_assert_int_eq(got[0], 0x65);
}
END_TEST

/* One document with every kind of value, written by the same calls. */
static void write_sample(struct json_out *o, const char *long_text, size_t long_len)
{
    static const uint8_t blob[] = {0x00, 0xff, 0x22, 0x5c};
    json_out_obj_begin(o);
    json_out_key(o, "Records");
    json_out_arr_begin(o);
    for (size_t n = 0; n < 4; n++) {
        json_out_obj_begin(o);
        json_out_key(o, "SequenceNumber");
        json_out_u128(o, ((u128)1 << 100) + n);
        json_out_key(o, "ApproximateArrivalTimestamp");
        json_out_timestamp_ms(o, 1700000000000ULL + n * 7);
        json_out_key(o, "Data");
        json_out_blob(o, blob, n); /* 0 to 3 bytes: every base64 padding */
        json_out_key(o, "PartitionKey");
        json_out_cstr(o, "q\"b\\s\n\r\t\x01/\xc3\xa9");
        json_out_obj_end(o);
    }
    json_out_arr_end(o);
    json_out_kv_u64(o, "Big", UINT64_MAX);
    json_out_kv_u64(o, "Zero", 0);
    json_out_kv_bool(o, "T", true);
    json_out_kv_bool(o, "F", false);
    json_out_key(o, "N");
    json_out_null(o);
    json_out_key(o, "Epoch");
    json_out_timestamp_ms(o, 0);
    json_out_key(o, "Long");
    json_out_str(o, long_text, long_len);
    json_out_key(o, "Empty");
    json_out_arr_begin(o);
    json_out_arr_end(o);
    json_out_key(o, "E");
    json_out_obj_begin(o);
    json_out_obj_end(o);
    json_out_obj_end(o);
}

START_TEST(test_cbor_encode_exact_bytes)
{
    struct json_out o;
    json_out_init_format(&o, JSON_OUT_CBOR, 4096);
    json_out_obj_begin(&o);
    json_out_key(&o, "D");
    json_out_blob(&o, (const uint8_t *)"\x00\xff", 2);
    json_out_key(&o, "T");
    json_out_timestamp_ms(&o, 1700000000123ULL);
    json_out_key(&o, "A");
    json_out_arr_begin(&o);
    json_out_u64(&o, 24);
    json_out_bool(&o, true);
    json_out_null(&o);
    json_out_u128(&o, 49);
    json_out_arr_end(&o);
    json_out_obj_end(&o);
    ck_assert_int_eq(o.err, 0);
    uint8_t want[64];
    size_t n = hex("bf 61 44 42 00 ff 61 54 c1 1b 00 00 01 8b cf e5 68 7b"
                   " 61 41 9f 18 18 f5 f6 62 34 39 ff ff",
                   want, sizeof(want));
    ck_assert_uint_eq(o.b.len, n);
    ck_assert_int_eq(memcmp(o.b.data, want, n), 0);
    json_out_free(&o);
}
END_TEST

START_TEST(test_cbor_encode_transcode_equals_direct)
{
    /* Strings of every head size, escapes included. */
    static const size_t lens[] = {0, 23, 24, 255, 256, 65535, 65536, 70000};
    char *text = malloc(70000);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < 70000; i++) {
        text[i] = (char)(i % 7 == 0 ? '"' : i % 11 == 0 ? '\x1f' : 'a' + (char)(i % 26));
    }
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        struct json_out direct;
        struct json_out json;
        json_out_init_format(&direct, JSON_OUT_CBOR, 1 << 20);
        json_out_init(&json, 1 << 20);
        write_sample(&direct, text, lens[k]);
        write_sample(&json, text, lens[k]);
        ck_assert_int_eq(direct.err, 0);
        ck_assert_int_eq(json.err, 0);
        ck_assert_uint_eq(json.blob_count, 4);
        struct json_out cbor;
        json_out_to_cbor(&json, &cbor);
        ck_assert_int_eq(cbor.err, 0);
        ck_assert_uint_eq(cbor.b.len, direct.b.len);
        ck_assert_int_eq(memcmp(cbor.b.data, direct.b.data, direct.b.len), 0);
        /* And it reads back: blobs raw, timestamps as milliseconds. */
        struct parsed p;
        parse(&p, cbor.b.data, cbor.b.len);
        ck_assert_int_eq(p.rv, 0);
        const cJSON *recs = cJSON_GetObjectItemCaseSensitive(p.doc, "Records");
        const cJSON *r3 = cJSON_GetArrayItem(recs, 3);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(r3, "Data");
        ck_assert(data->type & JSON_ITEM_BYTES);
        ck_assert(data->valuedouble == 3.0);
        ck_assert_int_eq(memcmp(data->valuestring, "\x00\xff\x22", 3), 0);
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(r3, "ApproximateArrivalTimestamp");
        ck_assert(ts->valuedouble == 1700000000021.0);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r3, "PartitionKey")->valuestring,
                         "q\"b\\s\n\r\t\x01/\xc3\xa9");
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r3, "SequenceNumber")->valuestring,
                         "1267650600228229401496703205379");
        ck_assert_uint_eq(strlen(cJSON_GetObjectItemCaseSensitive(p.doc, "Long")->valuestring),
                          lens[k]);
        parsed_free(&p);
        json_out_free(&cbor);
        json_out_free(&json);
        json_out_free(&direct);
    }
    free(text);
}
END_TEST

START_TEST(test_cbor_encode_bounds)
{
    /* The CBOR writer and the transcoder both stop at the writer's bound. */
    static const uint8_t blob[100] = {0};
    struct json_out o;
    json_out_init_format(&o, JSON_OUT_CBOR, 64);
    json_out_obj_begin(&o);
    json_out_key(&o, "Data");
    json_out_blob(&o, blob, sizeof(blob));
    json_out_obj_end(&o);
    ck_assert_int_eq(o.err, -EDDY_ETOOBIG);
    json_out_free(&o);

    struct json_out json;
    json_out_init(&json, 4096);
    write_sample(&json, "x", 1);
    ck_assert_int_eq(json.err, 0);
    json.b.len_max = json.b.len; /* the CBOR copy gets this bound */
    struct json_out cbor;
    json_out_to_cbor(&json, &cbor);
    ck_assert_int_eq(cbor.err, 0); /* CBOR is the shorter */
    json_out_free(&cbor);
    json.b.len_max = 32;
    json_out_to_cbor(&json, &cbor);
    ck_assert_int_eq(cbor.err, -EDDY_ETOOBIG);
    json_out_free(&cbor);
    json_out_free(&json);
}
END_TEST

START_TEST(test_cbor_encode_transcode_rejects)
{
    /* Text json_out never writes is refused, not guessed at. */
    static const char *const bad[] = {
        "{\"a\":-1}",    "{\"a\":1.2345}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"open", "{\"a\":tru}",    "{\"a\":1.}",      "{\"a\":18446744073709551616}",
        "{\"a\" :1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf out;
        buf_init(&out, 4096);
        ck_assert_int_eq(cbor_from_json((const uint8_t *)bad[i], strlen(bad[i]), NULL, 0, &out),
                         -EDDY_EMALFORMED);
        buf_free(&out);
    }
    /* A blob mark must point at a base64 string. */
    const char *j = "{\"a\":\"QUJD\",\"b\":1}";
    size_t at_ok[] = {5};
    size_t at_bad[] = {16};
    struct buf out;
    buf_init(&out, 4096);
    ck_assert_int_eq(cbor_from_json((const uint8_t *)j, strlen(j), at_ok, 1, &out), 0);
    uint8_t want[16];
    size_t n = hex("bf 61 61 43 41 42 43 61 62 01 ff", want, sizeof(want));
    ck_assert_uint_eq(out.len, n);
    ck_assert_int_eq(memcmp(out.data, want, n), 0);
    buf_reset(&out);
    ck_assert_int_eq(cbor_from_json((const uint8_t *)j, strlen(j), at_bad, 1, &out),
                     -EDDY_EMALFORMED);
    buf_free(&out);
}
END_TEST

static Suite *cbor_suite(void)
{
    Suite *s = suite_create("cbor");

    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cbor_decode_definite_map);
    tcase_add_test(tc, test_cbor_decode_every_scalar);
    tcase_add_test(tc, test_cbor_decode_half_floats);
    tcase_add_test(tc, test_cbor_decode_chunked_strings);
    tcase_add_test(tc, test_cbor_decode_tags_ignored);
    tcase_add_test(tc, test_cbor_decode_depth_limit);
    tcase_add_test(tc, test_cbor_decode_value_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_cbor_malformed_every_prefix);
    tcase_add_test(tc, test_cbor_malformed_shapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("readers");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_cbor_readers_raw_data);
    tcase_add_test(tc, test_cbor_readers_put_records);
    tcase_add_test(tc, test_cbor_readers_timestamp_millis);
    tcase_add_test(tc, test_cbor_readers_bytes_are_not_strings);
    tcase_add_test(tc, test_cbor_readers_same_errors_as_json);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cbor_encode_heads);
    tcase_add_test(tc, test_cbor_encode_exact_bytes);
    tcase_add_test(tc, test_cbor_encode_transcode_equals_direct);
    tcase_add_test(tc, test_cbor_encode_bounds);
    tcase_add_test(tc, test_cbor_encode_transcode_rejects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cbor_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
