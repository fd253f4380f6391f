/*
 * The Amazon event-stream encoding (content type
 * application/vnd.amazon.eventstream), in which SubscribeToShard streams its
 * response: a sequence of self-delimiting messages, each
 *
 *   u32 total_length    the whole message, these 4 bytes and the CRC included
 *   u32 headers_length  bytes of the header block
 *   u32 prelude_crc     CRC-32 (IEEE, eddy/crc32.h) of the 8 bytes above
 *   headers             name_len u8, name, type u8 (7: string), u16 len, value
 *   payload             total_length - headers_length - 16 bytes
 *   u32 message_crc     CRC-32 of every byte before it
 *
 * all big-endian (Smithy's "Amazon Event Stream Specification"; byte-level
 * examples in notes/wire-protocols.md 1.4, tests/unit/gateway/
 * test_eventstream.c). Kinesis needs string headers only. Messages are not
 * signed (SubscribeToShard has no input stream).
 *
 * Pure functions over a struct buf: nothing here does I/O.
 */
#ifndef EDDY_GW_EVENTSTREAM_H
#define EDDY_GW_EVENTSTREAM_H

#include "eddy/buf.h"

#include <stddef.h>
#include <stdint.h>

#define EVENTSTREAM_CONTENT_TYPE "application/vnd.amazon.eventstream"
/* Prelude (12) and message CRC (4). */
#define EVENTSTREAM_OVERHEAD_BYTES 16
/* The specification's bounds ("Services MUST validate"; botocore enforces
 * them too: _MAX_PAYLOAD_LENGTH, _MAX_HEADERS_LENGTH). */
#define EVENTSTREAM_PAYLOAD_BYTES_MAX (24 * 1024 * 1024)
#define EVENTSTREAM_HEADERS_BYTES_MAX (128 * 1024)
/* A header name is 1..255 bytes; a string value at most 65535. */
#define EVENTSTREAM_NAME_BYTES_MAX 255
#define EVENTSTREAM_VALUE_BYTES_MAX 65535

/* One header of string type (7). */
struct eventstream_header {
    const char *name;
    const char *value;
};

/* Appends one message with these headers, in this order, and payload (len
 * bytes, borrowed) to out. Returns 0; -EDDY_EINVAL for a header name of 0 or
 * more than EVENTSTREAM_NAME_BYTES_MAX bytes or a value longer than
 * EVENTSTREAM_VALUE_BYTES_MAX; -EDDY_ETOOBIG past the specification's bounds
 * or out's. out is unchanged on failure. */
int eventstream_encode(struct buf *out,
                       const struct eventstream_header *headers,
                       size_t header_count,
                       const uint8_t *payload,
                       size_t len);

/* An event: ":event-type" (the union member, e.g. "SubscribeToShardEvent",
 * or "initial-response"), ":content-type" and ":message-type" "event". */
int eventstream_event(struct buf *out,
                      const char *event_type,
                      const char *content_type,
                      const uint8_t *payload,
                      size_t len);

/* A modeled exception: ":exception-type" (e.g. "ResourceInUseException"),
 * ":content-type" and ":message-type" "exception"; the payload is the
 * exception's structure, {"message": ...}. */
int eventstream_exception(struct buf *out,
                          const char *exception_type,
                          const char *content_type,
                          const uint8_t *payload,
                          size_t len);

#endif
