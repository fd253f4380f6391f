/*
 * The field scanners of scan.h: memmem for "Name", then optional white
 * space, ':', optional white space and the value.
 */
#include "scan.h"

#include "eddy/assert.h"

#include <string.h>

/* Longest field name looked for, quotes included. */
#define SCAN_NAME_MAX 64

static bool scan_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* From p, the start of the value of the next "name": field, or NULL. */
static const char *scan_field(const char *p, const char *end, const char *name)
{
    char quoted[SCAN_NAME_MAX + 2];
    size_t n = strlen(name);
    EDDY_ASSERT(n > 0 && n <= SCAN_NAME_MAX);
    quoted[0] = '"';
    memcpy(quoted + 1, name, n);
    quoted[n + 1] = '"';
    n += 2;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), quoted, n);
        if (hit == NULL) {
            return NULL;
        }
        const char *q = hit + n;
        while (q < end && scan_is_space(*q)) {
            q++;
        }
        if (q < end && *q == ':') {
            q++;
            while (q < end && scan_is_space(*q)) {
                q++;
            }
            return q;
        }
        p = hit + 1;
    }
    return NULL;
}

/* The string starting at p (the opening quote), up to its unescaped
 * closing quote. */
static bool scan_string_at(const char *p, const char *end, const char **value, size_t *value_len)
{
    if (p >= end || *p != '"') {
        return false;
    }
    const char *s = ++p;
    while (p < end && *p != '"') {
        if (*p == '\\') {
            p++;
        }
        p++;
    }
    if (p >= end) {
        return false;
    }
    *value = s;
    *value_len = (size_t)(p - s);
    return true;
}

bool scan_string(
    const char *body, size_t len, const char *name, const char **value, size_t *value_len)
{
    EDDY_ASSERT(body != NULL || len == 0);
    const char *end = body + len;
    const char *v = scan_field(body, end, name);
    if (v == NULL) {
        return false;
    }
    return scan_string_at(v, end, value, value_len);
}

bool scan_int(const char *body, size_t len, const char *name, int64_t *value)
{
    EDDY_ASSERT(body != NULL || len == 0);
    const char *end = body + len;
    const char *p = scan_field(body, end, name);
    if (p == NULL) {
        return false;
    }
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    const char *digits = p;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p == digits) {
        return false;
    }
    *value = neg ? -v : v;
    return true;
}

/* Decoded size of a base64 string of n chars (with or without padding). */
static uint64_t scan_base64_bytes(const char *b64, size_t n)
{
    size_t pad = 0;
    while (pad < 2 && n > pad && b64[n - 1 - pad] == '=') {
        pad++;
    }
    size_t chars = n - pad;
    return (uint64_t)(chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1));
}

void scan_get_records(
    const char *body, size_t len, struct scan_records *out, scan_data_cb cb, void *arg)
{
    EDDY_ASSERT(body != NULL || len == 0);
    EDDY_ASSERT(out != NULL);
    memset(out, 0, sizeof(*out));
    out->millis_behind = -1;
    const char *end = body + len;
    const char *p = body;
    for (;;) {
        const char *v = scan_field(p, end, "Data");
        const char *s = NULL;
        size_t n = 0;
        if (v == NULL || !scan_string_at(v, end, &s, &n)) {
            break;
        }
        out->records++;
        out->data_bytes += scan_base64_bytes(s, n);
        if (cb != NULL) {
            cb(arg, s, n);
        }
        p = s + n + 1;
    }
    if (!scan_string(body, len, "NextShardIterator", &out->next_iterator,
                     &out->next_iterator_len)) {
        out->next_iterator = NULL;
        out->next_iterator_len = 0;
    }
    int64_t behind = 0;
    if (scan_int(body, len, "MillisBehindLatest", &behind)) {
        out->millis_behind = behind;
    }
}

size_t scan_shard_ids(const char *body, size_t len, scan_data_cb cb, void *arg)
{
    EDDY_ASSERT(body != NULL || len == 0);
    const char *end = body + len;
    const char *p = body;
    size_t count = 0;
    for (;;) {
        const char *v = scan_field(p, end, "ShardId");
        const char *s = NULL;
        size_t n = 0;
        if (v == NULL || !scan_string_at(v, end, &s, &n)) {
            break;
        }
        count++;
        if (cb != NULL) {
            cb(arg, s, n);
        }
        p = s + n + 1;
    }
    return count;
}
