/*
 * A bounded writer for response documents in JSON or CBOR (see json.h).
 * Errors are sticky: the first failure (the document outgrew its bound) is
 * kept in o->err and every later call does nothing, so callers write a whole
 * document and check once.
 */
#include "json.h"

#include "cbor.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/base64.h"
#include "eddy/errors.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void json_out_init_format(struct json_out *o, enum json_out_format format, size_t len_max)
{
    buf_init(&o->b, len_max);
    o->format = format;
    o->depth = 0;
    o->has_items = 0;
    o->after_key = false;
    o->err = 0;
    o->blob_at = NULL;
    o->blob_count = 0;
    o->blob_cap = 0;
}

void json_out_init(struct json_out *o, size_t len_max)
{
    json_out_init_format(o, JSON_OUT_JSON, len_max);
}

void json_out_free(struct json_out *o)
{
    buf_free(&o->b);
    eddy_free(o->blob_at);
    o->blob_at = NULL;
    o->blob_count = 0;
    o->blob_cap = 0;
}

static void json_out_raw(struct json_out *o, const char *s, size_t n)
{
    if (o->err == 0) {
        o->err = buf_append(&o->b, s, n);
    }
}

static bool json_out_is_cbor(const struct json_out *o)
{
    return o->format == JSON_OUT_CBOR;
}

/* A CBOR head (CBOR format only). */
static void json_out_head(struct json_out *o, enum cbor_major major, uint64_t v)
{
    uint8_t h[CBOR_HEAD_BYTES_MAX];
    json_out_raw(o, (const char *)h, cbor_head(h, major, v));
}

static void json_out_byte(struct json_out *o, uint8_t byte)
{
    json_out_raw(o, (const char *)&byte, 1);
}

/* Separator before a value or a key at the current depth. */
static void json_out_sep(struct json_out *o)
{
    if (o->after_key) {
        o->after_key = false;
        return;
    }
    if (o->depth > 0) {
        uint32_t bit = 1u << o->depth;
        if ((o->has_items & bit) && !json_out_is_cbor(o)) {
            json_out_raw(o, ",", 1);
        }
        o->has_items |= bit;
    }
}

/* c: the JSON bracket; CBOR opens an indefinite-length container. */
static void json_out_open(struct json_out *o, char c)
{
    json_out_sep(o);
    EDDY_ASSERT(o->depth + 1 < JSON_OUT_DEPTH_MAX);
    o->depth++;
    o->has_items &= ~(1u << o->depth);
    if (json_out_is_cbor(o)) {
        json_out_byte(o, c == '{' ? CBOR_MAP_INDEFINITE : CBOR_ARRAY_INDEFINITE);
    } else {
        json_out_raw(o, &c, 1);
    }
}

static void json_out_close(struct json_out *o, char c)
{
    EDDY_ASSERT(o->depth > 0);
    EDDY_ASSERT(!o->after_key);
    o->depth--;
    if (json_out_is_cbor(o)) {
        json_out_byte(o, CBOR_BREAK);
    } else {
        json_out_raw(o, &c, 1);
    }
}

void json_out_obj_begin(struct json_out *o)
{
    json_out_open(o, '{');
}

void json_out_obj_end(struct json_out *o)
{
    json_out_close(o, '}');
}

void json_out_arr_begin(struct json_out *o)
{
    json_out_open(o, '[');
}

void json_out_arr_end(struct json_out *o)
{
    json_out_close(o, ']');
}

void json_out_key(struct json_out *o, const char *key)
{
    EDDY_ASSERT(!o->after_key);
    json_out_sep(o);
    size_t n = strlen(key);
    if (json_out_is_cbor(o)) {
        json_out_head(o, CBOR_TEXT, n);
        json_out_raw(o, key, n);
    } else {
        json_out_raw(o, "\"", 1);
        json_out_raw(o, key, n);
        json_out_raw(o, "\":", 2);
    }
    o->after_key = true;
}

void json_out_str(struct json_out *o, const char *s, size_t len)
{
    json_out_sep(o);
    if (json_out_is_cbor(o)) {
        json_out_head(o, CBOR_TEXT, len);
        json_out_raw(o, s, len);
        return;
    }
    json_out_raw(o, "\"", 1);
    size_t run = 0; /* bytes copied as they are */
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        json_out_raw(o, s + run, i - run);
        run = i + 1;
        char esc[8];
        int n;
        switch (c) {
        case '"':
            n = snprintf(esc, sizeof(esc), "\\\"");
            break;
        case '\\':
            n = snprintf(esc, sizeof(esc), "\\\\");
            break;
        case '\n':
            n = snprintf(esc, sizeof(esc), "\\n");
            break;
        case '\r':
            n = snprintf(esc, sizeof(esc), "\\r");
            break;
        case '\t':
            n = snprintf(esc, sizeof(esc), "\\t");
            break;
        default:
            n = snprintf(esc, sizeof(esc), "\\u%04x", c);
            break;
        }
        json_out_raw(o, esc, (size_t)n);
    }
    json_out_raw(o, s + run, len - run);
    json_out_raw(o, "\"", 1);
}

void json_out_cstr(struct json_out *o, const char *s)
{
    json_out_str(o, s, strlen(s));
}

void json_out_u64(struct json_out *o, uint64_t v)
{
    json_out_sep(o);
    if (json_out_is_cbor(o)) {
        json_out_head(o, CBOR_UINT, v);
        return;
    }
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRIu64, v);
    json_out_raw(o, text, (size_t)n);
}

void json_out_bool(struct json_out *o, bool v)
{
    json_out_sep(o);
    if (json_out_is_cbor(o)) {
        json_out_byte(o, v ? CBOR_TRUE : CBOR_FALSE);
        return;
    }
    json_out_raw(o, v ? "true" : "false", v ? 4 : 5);
}

void json_out_null(struct json_out *o)
{
    json_out_sep(o);
    if (json_out_is_cbor(o)) {
        json_out_byte(o, CBOR_NULL);
        return;
    }
    json_out_raw(o, "null", 4);
}

/* Remembers that a blob starts here (JSON format), for json_out_to_cbor. */
static void json_out_mark_blob(struct json_out *o)
{
    if (o->err != 0) {
        return;
    }
    if (o->blob_count == o->blob_cap) {
        /* Each blob takes two bytes of text at least: bounded by len_max. */
        o->blob_cap = o->blob_cap ? o->blob_cap * 2 : 16;
        o->blob_at = eddy_xrealloc(o->blob_at, o->blob_cap * sizeof(*o->blob_at));
    }
    o->blob_at[o->blob_count++] = o->b.len;
}

void json_out_blob(struct json_out *o, const uint8_t *data, size_t len)
{
    json_out_sep(o);
    if (json_out_is_cbor(o)) {
        json_out_head(o, CBOR_BYTES, len);
        json_out_raw(o, (const char *)data, len);
        return;
    }
    json_out_mark_blob(o);
    json_out_raw(o, "\"", 1);
    size_t n = base64_encoded_len(len);
    if (o->err == 0) {
        o->err = buf_reserve(&o->b, n);
    }
    if (o->err == 0) {
        size_t w = base64_encode(data, len, (char *)o->b.data + o->b.len);
        EDDY_ASSERT(w == n);
        o->b.len += w;
    }
    json_out_raw(o, "\"", 1);
}

void json_out_timestamp_ms(struct json_out *o, uint64_t ms)
{
    json_out_sep(o);
    if (json_out_is_cbor(o)) {
        json_out_byte(o, CBOR_TAG_EPOCH);
        json_out_head(o, CBOR_UINT, ms);
        return;
    }
    char text[32];
    int n = snprintf(text, sizeof(text), "%" PRIu64 ".%03u", ms / 1000, (unsigned)(ms % 1000));
    json_out_raw(o, text, (size_t)n);
}

void json_out_u128(struct json_out *o, u128 v)
{
    char text[U128_DECIMAL_LEN_MAX + 1];
    size_t n = u128_format_decimal(v, text);
    json_out_str(o, text, n);
}

void json_out_kv_cstr(struct json_out *o, const char *key, const char *v)
{
    json_out_key(o, key);
    json_out_cstr(o, v);
}

void json_out_kv_u64(struct json_out *o, const char *key, uint64_t v)
{
    json_out_key(o, key);
    json_out_u64(o, v);
}

void json_out_kv_bool(struct json_out *o, const char *key, bool v)
{
    json_out_key(o, key);
    json_out_bool(o, v);
}

void json_out_to_cbor(const struct json_out *json, struct json_out *cbor)
{
    EDDY_ASSERT(json->format == JSON_OUT_JSON);
    EDDY_ASSERT(json->depth == 0);
    json_out_init_format(cbor, JSON_OUT_CBOR, json->b.len_max);
    cbor->err = json->err;
    if (cbor->err == 0) {
        cbor->err =
            cbor_from_json(json->b.data, json->b.len, json->blob_at, json->blob_count, &cbor->b);
    }
}
