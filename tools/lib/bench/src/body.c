/*
 * Encoders of body.h. JSON strings written here are names the bench chose
 * or tokens the server gave; they are escaped anyway, and refused when
 * they hold control characters.
 */
#include "body.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/base64.h"
#include "eddy/errors.h"

#include <stdio.h>
#include <string.h>

uint64_t body_rand(uint64_t *state)
{
    EDDY_ASSERT(*state != 0);
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

/* Appends s (n bytes) as a JSON string. */
static int body_json_string(struct buf *out, const char *s, size_t n)
{
    if (n > BODY_FIELD_MAX) {
        return -EDDY_EINVAL;
    }
    int rc = buf_append(out, "\"", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20) {
            return -EDDY_EINVAL;
        }
        if (ch == '"' || ch == '\\') {
            rc = buf_append(out, "\\", 1);
        }
        if (rc == 0) {
            rc = buf_append(out, &s[i], 1);
        }
    }
    return rc != 0 ? rc : buf_append(out, "\"", 1);
}

/* Appends {"Data":"<base64>","PartitionKey":"k<hex>"} and reports where
 * the base64 starts. */
static int body_record(
    struct buf *out, unsigned record_bytes, uint64_t *rng, uint8_t *scratch, size_t *data_offset)
{
    for (unsigned i = 0; i < record_bytes; i += 8) {
        uint64_t r = body_rand(rng);
        size_t n = record_bytes - i < 8 ? record_bytes - i : 8;
        memcpy(scratch + i, &r, n);
    }
    int rc = buf_append_str(out, "\"Data\":\"");
    if (rc != 0) {
        return rc;
    }
    size_t enc = base64_encoded_len(record_bytes);
    rc = buf_reserve(out, enc);
    if (rc != 0) {
        return rc;
    }
    if (data_offset != NULL) {
        *data_offset = out->len;
    }
    out->len += base64_encode(scratch, record_bytes, (char *)out->data + out->len);
    return buf_printf(out, "\",\"PartitionKey\":\"k%016llx\"", (unsigned long long)body_rand(rng));
}

int body_put(struct buf *out,
             const char *stream,
             unsigned count,
             unsigned record_bytes,
             bool single,
             uint64_t *rng,
             size_t *data_offsets)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(count > 0);
    EDDY_ASSERT(!single || count == 1);
    uint8_t *scratch = eddy_xmalloc(record_bytes + 8);
    int rc = buf_append_str(out, "{\"StreamName\":");
    if (rc == 0) {
        rc = body_json_string(out, stream, strlen(stream));
    }
    if (rc == 0) {
        rc = buf_append_str(out, single ? "," : ",\"Records\":[");
    }
    for (unsigned i = 0; i < count && rc == 0; i++) {
        if (!single) { /* PutRecord: the record's fields are the body's */
            rc = buf_append_str(out, i == 0 ? "{" : ",{");
        }
        if (rc == 0) {
            rc = body_record(out, record_bytes, rng, scratch,
                             data_offsets != NULL ? &data_offsets[i] : NULL);
        }
        if (rc == 0 && !single) {
            rc = buf_append_str(out, "}");
        }
    }
    if (rc == 0) {
        rc = buf_append_str(out, single ? "}" : "]}");
    }
    eddy_free(scratch);
    return rc;
}

int body_get_records(struct buf *out, const char *iterator, size_t iterator_len, unsigned limit)
{
    int rc = buf_append_str(out, "{\"ShardIterator\":");
    if (rc == 0) {
        rc = body_json_string(out, iterator, iterator_len);
    }
    return rc != 0 ? rc : buf_printf(out, ",\"Limit\":%u}", limit);
}

int body_get_shard_iterator(struct buf *out,
                            const char *stream,
                            const char *shard_id,
                            const char *type)
{
    int rc = buf_append_str(out, "{\"StreamName\":");
    if (rc == 0) {
        rc = body_json_string(out, stream, strlen(stream));
    }
    if (rc == 0) {
        rc = buf_append_str(out, ",\"ShardId\":");
    }
    if (rc == 0) {
        rc = body_json_string(out, shard_id, strlen(shard_id));
    }
    if (rc == 0) {
        rc = buf_append_str(out, ",\"ShardIteratorType\":");
    }
    if (rc == 0) {
        rc = body_json_string(out, type, strlen(type));
    }
    return rc != 0 ? rc : buf_append_str(out, "}");
}

int body_list_shards(struct buf *out, const char *stream)
{
    int rc = buf_append_str(out, "{\"StreamName\":");
    if (rc == 0) {
        rc = body_json_string(out, stream, strlen(stream));
    }
    return rc != 0 ? rc : buf_append_str(out, "}");
}

void body_stamp(char *b64, uint64_t us)
{
    uint8_t raw[BODY_STAMP_BYTES];
    raw[0] = BODY_STAMP_MARK;
    for (int i = 0; i < 8; i++) {
        raw[1 + i] = (uint8_t)(us >> (56 - 8 * i));
    }
    size_t n = base64_encode(raw, sizeof(raw), b64);
    EDDY_ASSERT(n == BODY_STAMP_CHARS);
}

bool body_unstamp(const char *b64, size_t n, uint64_t *us)
{
    if (n < BODY_STAMP_CHARS) {
        return false;
    }
    uint8_t raw[BODY_STAMP_BYTES + 3];
    size_t len = 0;
    if (base64_decode(b64, BODY_STAMP_CHARS, raw, &len) != 0 || len != BODY_STAMP_BYTES ||
        raw[0] != BODY_STAMP_MARK) {
        return false;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | raw[1 + i];
    }
    *us = v;
    return true;
}

int body_request_head(struct buf *out,
                      const struct sign_ctx *sign,
                      const char *host,
                      const char *op,
                      const uint8_t *body,
                      size_t len)
{
    char target[96];
    int n = snprintf(target, sizeof(target), "%s%s", BODY_TARGET_PREFIX, op);
    if (n < 0 || (size_t)n >= sizeof(target)) {
        return -EDDY_EINVAL;
    }
    char auth[SIGN_AUTH_MAX];
    sign_request(sign, host, BODY_CONTENT_TYPE, target, body, len, auth);
    return buf_printf(out,
                      "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Target: %s\r\n"
                      "X-Amz-Date: %s\r\nAuthorization: %s\r\nContent-Length: %zu\r\n\r\n",
                      host, BODY_CONTENT_TYPE, target, sign->amz_date, auth, len);
}
