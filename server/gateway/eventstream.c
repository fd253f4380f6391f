/*
 * The event-stream message encoder (see eventstream.h): sizes the message,
 * reserves it whole in the buffer, then writes prelude, headers, payload and
 * the two checksums in place, so a failure leaves the buffer untouched.
 */
#include "eventstream.h"

#include "eddy/assert.h"
#include "eddy/crc32.h"
#include "eddy/errors.h"

#include <string.h>

#define EVENTSTREAM_TYPE_STRING 7
#define EVENTSTREAM_PRELUDE_BYTES 12

static_assert(EVENTSTREAM_PAYLOAD_BYTES_MAX + EVENTSTREAM_HEADERS_BYTES_MAX +
                      EVENTSTREAM_OVERHEAD_BYTES <
                  UINT32_MAX,
              "a message length fits its u32 field");

static uint8_t *eventstream_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* Bytes of the header block, or 0 when a header is out of bounds. */
static size_t eventstream_headers_bytes(const struct eventstream_header *headers, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t name = strlen(headers[i].name);
        size_t value = strlen(headers[i].value);
        if (name == 0 || name > EVENTSTREAM_NAME_BYTES_MAX || value > EVENTSTREAM_VALUE_BYTES_MAX) {
            return 0;
        }
        total += 1 + name + 1 + 2 + value;
    }
    return total;
}

int eventstream_encode(struct buf *out,
                       const struct eventstream_header *headers,
                       size_t header_count,
                       const uint8_t *payload,
                       size_t len)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(headers != NULL || header_count == 0);
    EDDY_ASSERT(payload != NULL || len == 0);
    size_t hlen = eventstream_headers_bytes(headers, header_count);
    if (hlen == 0 && header_count > 0) {
        return -EDDY_EINVAL;
    }
    if (hlen > EVENTSTREAM_HEADERS_BYTES_MAX || len > EVENTSTREAM_PAYLOAD_BYTES_MAX) {
        return -EDDY_ETOOBIG;
    }
    size_t total = EVENTSTREAM_OVERHEAD_BYTES + hlen + len;
    int rv = buf_reserve(out, total);
    if (rv != 0) {
        return rv;
    }
    uint8_t *start = out->data + out->len;
    uint8_t *p = eventstream_put_u32(start, (uint32_t)total);
    p = eventstream_put_u32(p, (uint32_t)hlen);
    p = eventstream_put_u32(p, crc32_update(0, start, 8));
    for (size_t i = 0; i < header_count; i++) {
        size_t name = strlen(headers[i].name);
        size_t value = strlen(headers[i].value);
        *p++ = (uint8_t)name;
        memcpy(p, headers[i].name, name);
        p += name;
        *p++ = EVENTSTREAM_TYPE_STRING;
        *p++ = (uint8_t)(value >> 8);
        *p++ = (uint8_t)value;
        memcpy(p, headers[i].value, value);
        p += value;
    }
    if (len > 0) {
        memcpy(p, payload, len);
        p += len;
    }
    /* The message CRC covers the prelude and its CRC too. */
    p = eventstream_put_u32(p, crc32_update(0, start, (size_t)(p - start)));
    EDDY_ASSERT((size_t)(p - start) == total);
    out->len += total;
    return 0;
}

int eventstream_event(struct buf *out,
                      const char *event_type,
                      const char *content_type,
                      const uint8_t *payload,
                      size_t len)
{
    const struct eventstream_header h[] = {
        {":event-type", event_type},
        {":content-type", content_type},
        {":message-type", "event"},
    };
    return eventstream_encode(out, h, sizeof(h) / sizeof(h[0]), payload, len);
}

int eventstream_exception(struct buf *out,
                          const char *exception_type,
                          const char *content_type,
                          const uint8_t *payload,
                          size_t len)
{
    const struct eventstream_header h[] = {
        {":exception-type", exception_type},
        {":content-type", content_type},
        {":message-type", "exception"},
    };
    return eventstream_encode(out, h, sizeof(h) / sizeof(h[0]), payload, len);
}
