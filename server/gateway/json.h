/*
 * JSON for the Kinesis API (application/x-amz-json-1.1), in three parts:
 *
 *  - json.c: parsing a request body (bounded depth and size, UTF-8 checked)
 *    and typed member readers over cJSON that fail with AWS's
 *    SerializationException texts ("class java.lang.String can not be
 *    converted to an Integer", "Start of list found where not expected"...).
 *  - json_validate.c: the ValidationException accumulator, which prints
 *    "N validation error(s) detected: Value 'v' at 'path' failed to satisfy
 *    constraint: Member must ...; ..." exactly as AWS does (at most 10).
 *  - json_out.c: a bounded writer for response documents.
 *
 * The readers take a member by name from an object; absent and null members
 * read as not present. Strings they return point into the cJSON document.
 * CBOR (application/x-amz-cbor-1.1) plugs in below the readers: its decoder
 * (cbor.c) builds the same cJSON document with two marks on items the readers
 * honour (JSON_ITEM_BYTES, JSON_ITEM_MS), and json_out has a CBOR format
 * behind the same calls.
 */
#ifndef EDDY_GW_JSON_H
#define EDDY_GW_JSON_H

#include "eddy/buf.h"
#include "eddy/u128.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_error;

/* ---- parsing and reading (json.c) ---- */

/* Marks the CBOR decoder puts on items, above cJSON's own type bits (cJSON
 * tests types with type & 0xFF and frees by IsReference/StringIsConst only).
 * JSON_ITEM_BYTES: a string item holding raw bytes (a CBOR byte string), its
 * length in valuedouble: a Blob reads the bytes, a String refuses them.
 * JSON_ITEM_MS: a number from a CBOR body, which a timestamp reads as epoch
 * milliseconds (JSON numbers are seconds). */
#define JSON_ITEM_BYTES (1 << 12)
#define JSON_ITEM_MS (1 << 13)

struct json_str {
    bool present;
    const char *ptr; /* NUL-terminated, borrowed from the document */
    size_t len;      /* bytes */
};

struct json_int {
    bool present;
    int64_t value; /* an Integer member: floored and clamped to int32 as AWS does */
};

struct json_bool {
    bool present;
    bool value;
};

struct json_blob {
    bool present;
    uint8_t *data; /* borrowed from the document, until cJSON_Delete */
    size_t len;
};

struct json_timestamp {
    bool present;
    int64_t ms; /* epoch milliseconds */
};

/* Parses a request body. The top level must be an object. Rejects bodies
 * nested deeper than GW_JSON_DEPTH_MAX, with more than API_JSON_VALUES_MAX
 * values, with invalid UTF-8 or trailing bytes. Returns 0 and *doc (free with
 * cJSON_Delete), or -EDDY_EMALFORMED with e set to a SerializationException. */
int json_parse_request(const uint8_t *body, size_t len, cJSON **doc, struct api_error *e);

/* Typed readers. Each returns 0 (out->present tells whether the member was
 * there and not null) or -EDDY_EMALFORMED with e set. */
int json_get_str(const cJSON *obj, const char *key, struct json_str *out, struct api_error *e);
int json_get_int(const cJSON *obj, const char *key, struct json_int *out, struct api_error *e);
int json_get_bool(const cJSON *obj, const char *key, struct json_bool *out, struct api_error *e);
/* Base64 text decoded; errors use AWS's Blob texts. Decodes in place: the
 * item then holds raw bytes (JSON_ITEM_BYTES, as from CBOR), and reading it
 * again gives the same blob. */
int json_get_blob(const cJSON *obj, const char *key, struct json_blob *out, struct api_error *e);
/* Epoch seconds (a number, fraction allowed) read as milliseconds. */
int json_get_timestamp(const cJSON *obj,
                       const char *key,
                       struct json_timestamp *out,
                       struct api_error *e);
/* A list member: *out is the array (NULL when absent or null). */
int json_get_list(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e);
/* A structure member: *out is the object (NULL when absent or null). */
int json_get_struct(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e);
/* A map member (e.g. Tags): type-checked only, values must be strings. */
int json_check_map_of_strings(const cJSON *obj, const char *key, struct api_error *e);
/* A list element that must be a structure: 0 with *out the object, or NULL
 * for a null element; -EDDY_EMALFORMED with e set otherwise. */
int json_item_struct(const cJSON *item, const cJSON **out, struct api_error *e);
/* A list element that must be a string: 0 with *out set (not present for a
 * null element); -EDDY_EMALFORMED with e set (json_get_str's texts). */
int json_item_str(const cJSON *item, struct json_str *out, struct api_error *e);

/* Length of the UTF-8 sequence starting at s[i] (i < n) if it is valid and
 * shortest-form, else 0. */
size_t json_utf8_seq(const uint8_t *s, size_t n, size_t i);
/* Length as Java counts it (UTF-16 code units) of valid UTF-8. */
size_t json_utf16_len(const char *s, size_t len);
/* Copies at most cap-1 bytes of s and a NUL; never splits a UTF-8 char. */
void json_copy(char *dst, size_t cap, const char *s, size_t len);

/* ---- validation (json_validate.c) ---- */

enum json_pattern {
    JSON_PATTERN_NAME,       /* [a-zA-Z0-9_.-]+ (StreamName, ShardId) */
    JSON_PATTERN_HASH_KEY,   /* 0|([1-9]\d{0,38}) */
    JSON_PATTERN_SEQUENCE,   /* 0|([1-9]\d{0,128}) */
    JSON_PATTERN_STREAM_ARN, /* arn:aws.*:kinesis:.*:\d{12}:stream/\S+ */
};

struct validation {
    struct buf text; /* "Value ... constraint: ...; Value ..." */
    unsigned count;  /* errors recorded, at most KIN_VALIDATION_ERRORS_MAX */
};

void validation_init(struct validation *v);
void validation_free(struct validation *v);
bool validation_full(const struct validation *v);
/* Records one error. value NULL prints null; otherwise 'value' (cut at
 * API_MESSAGE_VALUE_BYTES_MAX). path is the lowerCamel member path. */
void validation_add(
    struct validation *v, const char *value, size_t value_len, const char *path, const char *rule);
/* Member checks, each a no-op when its condition holds. */
void validation_not_null(struct validation *v, const char *path, bool present);
void validation_pattern(struct validation *v,
                        const char *path,
                        const struct json_str *s,
                        enum json_pattern p);
void validation_length(
    struct validation *v, const char *path, const struct json_str *s, size_t min, size_t max);
void validation_range(
    struct validation *v, const char *path, const struct json_int *i, int64_t min, int64_t max);
void validation_enum(struct validation *v,
                     const char *path,
                     const struct json_str *s,
                     const char *const *values,
                     size_t count);
void validation_blob_max(struct validation *v,
                         const char *path,
                         const struct json_blob *b,
                         size_t max);
/* The StreamName, StreamARN pair every stream action takes (both optional). */
void validation_stream_name(struct validation *v, const char *path, const struct json_str *s);
void validation_stream_arn(struct validation *v, const char *path, const struct json_str *s);
/* Fails with a ValidationException when anything was recorded: returns
 * -EDDY_EINVAL with e set, else 0. Frees v either way. */
int validation_finish(struct validation *v, struct api_error *e);

/* Whether s matches the pattern, whole. */
bool json_pattern_match(enum json_pattern p, const char *s, size_t len);
/* The pattern's text as AWS prints it. */
const char *json_pattern_text(enum json_pattern p);
/* Index of s in values, or -1. */
int json_enum_index(const struct json_str *s, const char *const *values, size_t count);

/* ---- writing (json_out.c) ---- */

#define JSON_OUT_DEPTH_MAX 16

/* What a writer produces. CBOR: maps and arrays of indefinite length (as
 * AWS and Jackson write them), blobs as byte strings, timestamps as tag 1 and
 * integer epoch milliseconds (what the Java SDK parses), 128-bit numbers as
 * text like JSON. */
enum json_out_format {
    JSON_OUT_JSON,
    JSON_OUT_CBOR,
};

struct json_out {
    struct buf b;
    enum json_out_format format;
    unsigned depth;
    uint32_t has_items; /* bit d: the container at depth d has a member */
    bool after_key;
    int err; /* first error (-EDDY_ETOOBIG); later calls are no-ops */
    /* JSON format: offsets of the blobs' opening quotes, in order (owned), so
     * json_out_to_cbor can tell base64 blobs from text. */
    size_t *blob_at;
    size_t blob_count;
    size_t blob_cap;
};

/* A JSON writer (json_out_init_format with JSON_OUT_JSON). */
void json_out_init(struct json_out *o, size_t len_max);
void json_out_init_format(struct json_out *o, enum json_out_format format, size_t len_max);
void json_out_free(struct json_out *o);
/* The CBOR form of a finished JSON document: initialises *cbor (same bound)
 * and fills it; on failure cbor->err is set. Either way free both. It knows
 * the writer's grammar, not member names: blobs by their marks, timestamps
 * as the only numbers with a fraction (a new kind of value needs its CBOR
 * form here and in the writer, and the test that compares the two). */
void json_out_to_cbor(const struct json_out *json, struct json_out *cbor);
void json_out_obj_begin(struct json_out *o);
void json_out_obj_end(struct json_out *o);
void json_out_arr_begin(struct json_out *o);
void json_out_arr_end(struct json_out *o);
/* An object key (plain ASCII, written as is). */
void json_out_key(struct json_out *o, const char *key);
void json_out_str(struct json_out *o, const char *s, size_t len);
void json_out_cstr(struct json_out *o, const char *s);
void json_out_u64(struct json_out *o, uint64_t v);
void json_out_bool(struct json_out *o, bool v);
void json_out_null(struct json_out *o);
/* A blob: base64 text (JSON), a byte string (CBOR). */
void json_out_blob(struct json_out *o, const uint8_t *data, size_t len);
/* A timestamp: epoch seconds with millisecond precision (JSON, e.g.
 * 1459799926.480), tag 1 and integer milliseconds (CBOR). */
void json_out_timestamp_ms(struct json_out *o, uint64_t ms);
/* A 128-bit number as a decimal string (sequence numbers, hash keys). */
void json_out_u128(struct json_out *o, u128 v);
/* Convenience: "key": value. */
void json_out_kv_cstr(struct json_out *o, const char *key, const char *v);
void json_out_kv_u64(struct json_out *o, const char *key, uint64_t v);
void json_out_kv_bool(struct json_out *o, const char *key, bool v);

#endif
