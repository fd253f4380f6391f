/*
 * Signed tokens: shard iterators and NextTokens (format in iterator.h).
 * Pure functions of their inputs and the key; the clock comes in as now_ms.
 */
#include "iterator.h"

#include "json.h"

#include "eddy/assert.h"
#include "eddy/base64.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ITERATOR_FORMAT_VERSION 1
#define ITERATOR_HEADER_BYTES 2
#define ITERATOR_SEALED_MAX (ITERATOR_HEADER_BYTES + ITERATOR_PAYLOAD_MAX + API_TOKEN_TAG_BYTES)
/* Base64 text of the largest sealed token, and its NUL. */
#define ITERATOR_TEXT_CAP ((ITERATOR_SEALED_MAX + 2) / 3 * 4 + 1)
/* created_ms, issued_ms, shard, position, value, name length. */
#define ITERATOR_SHARD_FIXED_BYTES (8 + 8 + 4 + 1 + 16 + 1)

static_assert(ITERATOR_SHARD_FIXED_BYTES + KIN_STREAM_NAME_LEN_MAX <= ITERATOR_PAYLOAD_MAX,
              "a shard iterator payload fits");
static_assert((ITERATOR_HEADER_BYTES + ITERATOR_SHARD_FIXED_BYTES + KIN_STREAM_NAME_LEN_MAX +
               API_TOKEN_TAG_BYTES + 2) /
                      3 * 4 <=
                  API_ITERATOR_TEXT_MAX,
              "a shard iterator fits the 512 characters of the model");

static void iterator_tag(const struct iterator_key *key,
                         const uint8_t *msg,
                         size_t len,
                         uint8_t tag[API_TOKEN_TAG_BYTES])
{
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned full_len = 0;
    /* HMAC accepts an empty key; a NULL pointer with length 0 is not allowed. */
    static const uint8_t empty = 0;
    const uint8_t *k = key->len > 0 ? key->data : &empty;
    uint8_t *rv = HMAC(EVP_sha256(), k, (int)key->len, msg, len, full, &full_len);
    EDDY_ASSERT(rv != NULL);
    EDDY_ASSERT(full_len >= API_TOKEN_TAG_BYTES);
    memcpy(tag, full, API_TOKEN_TAG_BYTES);
}

size_t iterator_token_seal(enum iterator_kind kind,
                           const uint8_t *payload,
                           size_t len,
                           const struct iterator_key *key,
                           char *out,
                           size_t out_max)
{
    EDDY_ASSERT(len <= ITERATOR_PAYLOAD_MAX);
    uint8_t raw[ITERATOR_SEALED_MAX];
    raw[0] = ITERATOR_FORMAT_VERSION;
    raw[1] = (uint8_t)kind;
    memcpy(raw + ITERATOR_HEADER_BYTES, payload, len);
    size_t n = ITERATOR_HEADER_BYTES + len;
    iterator_tag(key, raw, n, raw + n);
    n += API_TOKEN_TAG_BYTES;
    EDDY_ASSERT(base64_encoded_len(n) <= out_max);
    size_t w = base64_encode(raw, n, out);
    out[w] = '\0';
    return w;
}

int iterator_token_open(enum iterator_kind kind,
                        const char *text,
                        size_t text_len,
                        const struct iterator_key *key,
                        uint8_t *payload,
                        size_t *len)
{
    if (text_len == 0 || text_len >= ITERATOR_TEXT_CAP || text_len % 4 != 0) {
        return -EDDY_EMALFORMED;
    }
    uint8_t raw[ITERATOR_SEALED_MAX + 3];
    size_t n = 0;
    if (base64_decode(text, text_len, raw, &n) != 0 || n > ITERATOR_SEALED_MAX ||
        n < ITERATOR_HEADER_BYTES + API_TOKEN_TAG_BYTES) {
        return -EDDY_EMALFORMED;
    }
    /* Only the canonical text of a token is the token. */
    char again[ITERATOR_TEXT_CAP];
    if (base64_encode(raw, n, again) != text_len || memcmp(again, text, text_len) != 0) {
        return -EDDY_EMALFORMED;
    }
    size_t body = n - API_TOKEN_TAG_BYTES;
    uint8_t tag[API_TOKEN_TAG_BYTES];
    iterator_tag(key, raw, body, tag);
    if (CRYPTO_memcmp(tag, raw + body, API_TOKEN_TAG_BYTES) != 0) {
        return -EDDY_EMALFORMED;
    }
    if (raw[0] != ITERATOR_FORMAT_VERSION || raw[1] != (uint8_t)kind) {
        return -EDDY_EMALFORMED;
    }
    *len = body - ITERATOR_HEADER_BYTES;
    memcpy(payload, raw + ITERATOR_HEADER_BYTES, *len);
    return 0;
}

static void iterator_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t iterator_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

size_t iterator_encode(const struct iterator *it, const struct iterator_key *key, char *out)
{
    size_t name_len = strlen(it->stream);
    EDDY_ASSERT(name_len >= 1 && name_len <= KIN_STREAM_NAME_LEN_MAX);
    EDDY_ASSERT(it->position >= ITERATOR_AT_SEQUENCE && it->position <= ITERATOR_TRIM_HORIZON);
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    uint8_t *w = p;
    iterator_put_u64(w, it->stream_created_ms);
    w += 8;
    iterator_put_u64(w, it->issued_ms);
    w += 8;
    w[0] = (uint8_t)(it->shard >> 24);
    w[1] = (uint8_t)(it->shard >> 16);
    w[2] = (uint8_t)(it->shard >> 8);
    w[3] = (uint8_t)it->shard;
    w += 4;
    *w++ = (uint8_t)it->position;
    if (it->position == ITERATOR_AT_TIMESTAMP) {
        memset(w, 0, 8);
        iterator_put_u64(w + 8, it->timestamp_ms);
    } else {
        u128_to_be(it->seq, w);
    }
    w += 16;
    *w++ = (uint8_t)name_len;
    memcpy(w, it->stream, name_len);
    w += name_len;
    return iterator_token_seal(ITERATOR_KIND_SHARD, p, (size_t)(w - p), key, out,
                               API_ITERATOR_TEXT_MAX);
}

void iterator_strip_quotes(const char **text, size_t *len)
{
    if (*len >= 2 && (*text)[0] == '"' && (*text)[*len - 1] == '"') {
        (*text)++;
        *len -= 2;
    }
}

int iterator_decode(const char *text,
                    size_t len,
                    const struct iterator_key *key,
                    uint64_t now_ms,
                    struct iterator *out)
{
    iterator_strip_quotes(&text, &len);
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    size_t n = 0;
    int rv = iterator_token_open(ITERATOR_KIND_SHARD, text, len, key, p, &n);
    if (rv != 0) {
        return rv;
    }
    if (n < ITERATOR_SHARD_FIXED_BYTES) {
        return -EDDY_EMALFORMED;
    }
    size_t name_len = p[ITERATOR_SHARD_FIXED_BYTES - 1];
    if (name_len == 0 || name_len > KIN_STREAM_NAME_LEN_MAX ||
        n != ITERATOR_SHARD_FIXED_BYTES + name_len) {
        return -EDDY_EMALFORMED;
    }
    const uint8_t *r = p;
    *out = (struct iterator){0};
    out->stream_created_ms = iterator_get_u64(r);
    r += 8;
    out->issued_ms = iterator_get_u64(r);
    r += 8;
    out->shard = ((uint32_t)r[0] << 24) | ((uint32_t)r[1] << 16) | ((uint32_t)r[2] << 8) | r[3];
    r += 4;
    uint8_t position = *r++;
    if (position < ITERATOR_AT_SEQUENCE || position > ITERATOR_TRIM_HORIZON) {
        return -EDDY_EMALFORMED;
    }
    out->position = (enum iterator_position)position;
    if (out->position == ITERATOR_AT_TIMESTAMP) {
        out->timestamp_ms = iterator_get_u64(r + 8);
    } else {
        out->seq = u128_from_be(r);
    }
    r += 16 + 1;
    memcpy(out->stream, r, name_len);
    out->stream[name_len] = '\0';
    if (!json_pattern_match(JSON_PATTERN_NAME, out->stream, name_len)) {
        return -EDDY_EMALFORMED;
    }
    if (now_ms > out->issued_ms && now_ms - out->issued_ms > KIN_SHARD_ITERATOR_TTL_MS) {
        return -EDDY_EEXPIRED;
    }
    return 0;
}

void iterator_format_date(uint64_t ms, char *buf, size_t size)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "%" PRIu64, ms);
        return;
    }
    snprintf(buf, size, "%s %s %02d %02d:%02d:%02d UTC %d", days[tm.tm_wday % 7],
             months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             tm.tm_year + 1900);
}

void iterator_expired_message(uint64_t issued_ms, uint64_t now_ms, char *buf, size_t size)
{
    char created[48];
    char now[48];
    iterator_format_date(issued_ms, created, sizeof(created));
    iterator_format_date(now_ms, now, sizeof(now));
    snprintf(buf, size,
             "Iterator expired. The iterator was created at time %s while right now it is %s "
             "which is further in the future than the tolerated delay of %u milliseconds.",
             created, now, (unsigned)KIN_SHARD_ITERATOR_TTL_MS);
}
