/*
 * CBOR (RFC 8949) for the Kinesis API's application/x-amz-cbor-1.1, the
 * default protocol of the AWS SDK for Java (v1 and v2) and so of the KCL.
 *
 * The protocol is the JSON 1.1 protocol with a CBOR body: the same target
 * header, member names, errors and HTTP statuses. Three things differ, all
 * from the SDK's Jackson-based codec (SdkCborGenerator, AwsCborProtocolFactory):
 *   - blobs (Data) are byte strings (major type 2), not base64 text;
 *   - timestamps are epoch MILLISECONDS, written by the SDK as tag 1 and an
 *     integer (not RFC 8949's seconds), read by it as a long
 *     (UNIX_TIMESTAMP_MILLIS: a float would not parse);
 *   - Jackson writes maps and arrays with indefinite length (0xBF ... 0xFF),
 *     and long strings in indefinite-length chunks.
 *
 * Decoding turns a request body into the cJSON document the JSON path builds,
 * so every action's decoder serves both formats unchanged. The document
 * differs in two marks on items (see JSON_ITEM_BYTES and JSON_ITEM_MS in
 * json.h), which json.c's readers honour: a byte string is a string item
 * holding the raw bytes, and every number came from CBOR, so a timestamp
 * member reads it as milliseconds. The decoder is iterative (an explicit
 * stack of at most GW_JSON_DEPTH_MAX containers), checks every length against
 * the bytes left before allocating, and creates at most API_JSON_VALUES_MAX
 * items; anything malformed is AWS's SerializationException.
 *
 * Encoding: json_out writes CBOR directly in its CBOR format (indefinite
 * maps and arrays, byte strings, tag 1 + integer milliseconds), using
 * cbor_head; cbor_from_json transcodes a document json_out wrote as JSON.
 */
#ifndef EDDY_GW_CBOR_H
#define EDDY_GW_CBOR_H

#include "eddy/buf.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct api_error;

/* Major types (the top three bits of an item's first byte). */
enum cbor_major {
    CBOR_UINT = 0,
    CBOR_NEGINT = 1,
    CBOR_BYTES = 2,
    CBOR_TEXT = 3,
    CBOR_ARRAY = 4,
    CBOR_MAP = 5,
    CBOR_TAG = 6,
    CBOR_SIMPLE = 7,
};

#define CBOR_FALSE 0xF4
#define CBOR_TRUE 0xF5
#define CBOR_NULL 0xF6
#define CBOR_UNDEFINED 0xF7
#define CBOR_BREAK 0xFF
#define CBOR_MAP_INDEFINITE 0xBF
#define CBOR_ARRAY_INDEFINITE 0x9F
/* Tag 1, "epoch-based date/time"; the SDK puts milliseconds under it. */
#define CBOR_TAG_EPOCH 0xC1
/* A head is one byte plus at most an 8-byte argument. */
#define CBOR_HEAD_BYTES_MAX 9

/* Parses a request body into a document like json_parse_request's: the top
 * level must be a map with text keys. Returns 0 and *doc (free with
 * cJSON_Delete), or -EDDY_EMALFORMED with e set to a SerializationException
 * (a top-level array says "Start of list found where not expected", as for
 * JSON). Text must be valid UTF-8 without NUL (a member name with NUL names
 * no member and is skipped); tags are accepted and ignored (tag 1 included:
 * any number may be a timestamp, read as milliseconds). */
int cbor_parse_request(const uint8_t *body, size_t len, cJSON **doc, struct api_error *e);

/* Writes the head of an item of major type major with argument v (a value,
 * a length or a tag) in its shortest form. Returns its length. */
size_t cbor_head(uint8_t out[CBOR_HEAD_BYTES_MAX], enum cbor_major major, uint64_t v);

/* Appends to out the CBOR form of a JSON document written by json_out (its
 * grammar only: no whitespace, unsigned integers, timestamps as seconds with
 * a fraction, strings with json_out's escapes). blob_at lists, in order, the
 * offsets of the strings that are base64 blobs. Gives exactly what json_out's
 * CBOR format writes for the same calls. Returns 0, -EDDY_ETOOBIG when out
 * reaches its bound, or -EDDY_EMALFORMED for text outside that grammar. */
int cbor_from_json(
    const uint8_t *json, size_t len, const size_t *blob_at, size_t blob_count, struct buf *out);

#endif
