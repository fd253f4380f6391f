/*
 * Shard iterators and NextTokens: opaque, self-contained, HMAC-signed tokens
 * that any gateway can verify with the catalogue's iterator_key, so no
 * gateway keeps per-client state.
 *
 * Sealed token (before standard base64 with padding):
 *
 *   byte 0      format version (1)
 *   byte 1      kind (ITERATOR_KIND_*), so a NextToken is never an iterator
 *   bytes 2..   payload, big-endian fields
 *   last 16     HMAC-SHA256(key, bytes 0..end of payload), truncated
 *
 * Shard iterator payload (ITERATOR_KIND_SHARD), 38 + name bytes:
 *
 *   u64 stream created_ms    the stream incarnation (a re-created stream of
 *                            the same name does not accept old iterators)
 *   u64 issued_ms            for the 300 s expiry
 *   u32 shard index
 *   u8  position             enum iterator_position
 *   16  value                sequence number (AT/AFTER) or, for AT_TIMESTAMP,
 *                            zeros and the u64 timestamp in the last 8 bytes
 *   u8  name length (1..128), then the stream name
 *
 * At most 2 + 38 + 128 + 16 = 184 bytes: 248 base64 characters, within the
 * model's 512.
 */
#ifndef EDDY_GW_ITERATOR_H
#define EDDY_GW_ITERATOR_H

#include "api_limits.h"
#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum iterator_kind {
    ITERATOR_KIND_SHARD = 1,
    ITERATOR_KIND_LIST_SHARDS = 2,
    ITERATOR_KIND_LIST_STREAMS = 3,
    ITERATOR_KIND_LIST_CONSUMERS = 4, /* ListStreamConsumers (api_consumers.c) */
};

enum iterator_position {
    ITERATOR_AT_SEQUENCE = 1,
    ITERATOR_AFTER_SEQUENCE = 2,
    ITERATOR_AT_TIMESTAMP = 3,
    ITERATOR_TRIM_HORIZON = 4,
};

struct iterator {
    char stream[KIN_STREAM_NAME_LEN_MAX + 1];
    uint64_t stream_created_ms;
    uint32_t shard;
    enum iterator_position position;
    u128 seq;              /* AT/AFTER_SEQUENCE */
    uint64_t timestamp_ms; /* AT_TIMESTAMP */
    uint64_t issued_ms;
};

/* The HMAC key (the catalogue's iterator_key), borrowed. */
struct iterator_key {
    const uint8_t *data;
    size_t len;
};

/* Largest sealed payload. */
#define ITERATOR_PAYLOAD_MAX 256

/* Seals payload into base64 text in out (room for out_max bytes and a NUL).
 * Returns the text length; asserts it fits. */
size_t iterator_token_seal(enum iterator_kind kind,
                           const uint8_t *payload,
                           size_t len,
                           const struct iterator_key *key,
                           char *out,
                           size_t out_max);
/* Opens a token of the given kind: 0 with the payload copied to payload
 * (room for ITERATOR_PAYLOAD_MAX) and *len set, or -EDDY_EMALFORMED for
 * anything not sealed by this key as this kind. */
int iterator_token_open(enum iterator_kind kind,
                        const char *text,
                        size_t text_len,
                        const struct iterator_key *key,
                        uint8_t *payload,
                        size_t *len);

/* Encodes it into out (API_ITERATOR_TEXT_MAX + 1 bytes). Returns the length. */
size_t iterator_encode(const struct iterator *it, const struct iterator_key *key, char *out);
/* Decodes a ShardIterator as a client sent it (one pair of surrounding
 * double quotes is tolerated, as AWS does). Returns 0; -EDDY_EMALFORMED when
 * it is not one of ours ("Invalid ShardIterator."); -EDDY_EEXPIRED when older
 * than KIN_SHARD_ITERATOR_TTL_MS at now_ms, with *out filled (issued_ms is
 * needed for the message). */
int iterator_decode(const char *text,
                    size_t len,
                    const struct iterator_key *key,
                    uint64_t now_ms,
                    struct iterator *out);
/* AWS's ExpiredIteratorException text into buf:
 * "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02 UTC
 * 2015 while right now it is ... which is further in the future than the
 * tolerated delay of 300000 milliseconds." */
void iterator_expired_message(uint64_t issued_ms, uint64_t now_ms, char *buf, size_t size);
/* Java's Date.toString() in UTC ("Thu Jan 22 01:22:02 UTC 2015"); buf >= 32. */
void iterator_format_date(uint64_t ms, char *buf, size_t size);

/* Removes one pair of surrounding double quotes, if present. */
void iterator_strip_quotes(const char **text, size_t *len);

#endif
