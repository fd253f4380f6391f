/*
 * The ValidationException accumulator (see json.h). Format, as AWS sends it:
 *
 *   1 validation error detected: Value 'x' at 'streamName' failed to satisfy
 *   constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+
 *
 * with "N validation errors detected:" for several, errors joined by "; ",
 * at most KIN_VALIDATION_ERRORS_MAX of them, null printed bare and blobs as
 * java.nio.HeapByteBuffer[pos=0 lim=N cap=N]. Checks run in the order AWS
 * reports them: not null, pattern, minimum length, maximum length.
 */
#include "json.h"

#include "api.h"
#include "api_limits.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void validation_init(struct validation *v)
{
    buf_init(&v->text, API_MESSAGE_BYTES_MAX);
    v->count = 0;
}

void validation_free(struct validation *v)
{
    buf_free(&v->text);
    v->count = 0;
}

bool validation_full(const struct validation *v)
{
    return v->count >= KIN_VALIDATION_ERRORS_MAX;
}

void validation_add(
    struct validation *v, const char *value, size_t value_len, const char *path, const char *rule)
{
    if (validation_full(v)) {
        return;
    }
    /* The bound on text covers KIN_VALIDATION_ERRORS_MAX cut values, so
     * appends only fail on out-of-memory, where the message is just shorter. */
    if (v->count > 0) {
        (void)buf_append_str(&v->text, "; ");
    }
    (void)buf_append_str(&v->text, "Value ");
    if (value == NULL) {
        (void)buf_append_str(&v->text, "null");
    } else {
        char cut[API_MESSAGE_VALUE_BYTES_MAX + 1];
        json_copy(cut, sizeof(cut), value, value_len);
        (void)buf_printf(&v->text, "'%s'", cut);
    }
    (void)buf_printf(&v->text, " at '%s' failed to satisfy constraint: %s", path, rule);
    v->count++;
}

void validation_not_null(struct validation *v, const char *path, bool present)
{
    if (!present) {
        validation_add(v, NULL, 0, path, "Member must not be null");
    }
}

void validation_pattern(struct validation *v,
                        const char *path,
                        const struct json_str *s,
                        enum json_pattern p)
{
    if (!s->present || json_pattern_match(p, s->ptr, s->len)) {
        return;
    }
    char rule[128];
    snprintf(rule, sizeof(rule), "Member must satisfy regular expression pattern: %s",
             json_pattern_text(p));
    validation_add(v, s->ptr, s->len, path, rule);
}

void validation_length(
    struct validation *v, const char *path, const struct json_str *s, size_t min, size_t max)
{
    if (!s->present) {
        return;
    }
    size_t n = json_utf16_len(s->ptr, s->len);
    char rule[96];
    if (n < min) {
        snprintf(rule, sizeof(rule), "Member must have length greater than or equal to %zu", min);
        validation_add(v, s->ptr, s->len, path, rule);
    } else if (n > max) {
        snprintf(rule, sizeof(rule), "Member must have length less than or equal to %zu", max);
        validation_add(v, s->ptr, s->len, path, rule);
    }
}

void validation_range(
    struct validation *v, const char *path, const struct json_int *i, int64_t min, int64_t max)
{
    if (!i->present) {
        return;
    }
    char value[24];
    int n = snprintf(value, sizeof(value), "%" PRId64, i->value);
    char rule[96];
    if (i->value < min) {
        snprintf(rule, sizeof(rule), "Member must have value greater than or equal to %" PRId64,
                 min);
        validation_add(v, value, (size_t)n, path, rule);
    } else if (i->value > max) {
        snprintf(rule, sizeof(rule), "Member must have value less than or equal to %" PRId64, max);
        validation_add(v, value, (size_t)n, path, rule);
    }
}

void validation_enum(struct validation *v,
                     const char *path,
                     const struct json_str *s,
                     const char *const *values,
                     size_t count)
{
    if (!s->present || json_enum_index(s, values, count) >= 0) {
        return;
    }
    char rule[512];
    size_t used = (size_t)snprintf(rule, sizeof(rule), "Member must satisfy enum value set: [");
    for (size_t k = 0; k < count && used < sizeof(rule); k++) {
        used +=
            (size_t)snprintf(rule + used, sizeof(rule) - used, "%s%s", k ? ", " : "", values[k]);
    }
    if (used < sizeof(rule)) {
        snprintf(rule + used, sizeof(rule) - used, "]");
    }
    validation_add(v, s->ptr, s->len, path, rule);
}

void validation_blob_max(struct validation *v,
                         const char *path,
                         const struct json_blob *b,
                         size_t max)
{
    if (!b->present || b->len <= max) {
        return;
    }
    char value[96];
    int n = snprintf(value, sizeof(value), "java.nio.HeapByteBuffer[pos=0 lim=%zu cap=%zu]", b->len,
                     b->len);
    char rule[96];
    snprintf(rule, sizeof(rule), "Member must have length less than or equal to %zu", max);
    validation_add(v, value, (size_t)n, path, rule);
}

void validation_stream_name(struct validation *v, const char *path, const struct json_str *s)
{
    validation_pattern(v, path, s, JSON_PATTERN_NAME);
    validation_length(v, path, s, 1, KIN_STREAM_NAME_LEN_MAX);
}

void validation_stream_arn(struct validation *v, const char *path, const struct json_str *s)
{
    validation_pattern(v, path, s, JSON_PATTERN_STREAM_ARN);
    validation_length(v, path, s, 1, KIN_STREAM_ARN_LEN_MAX);
}

int validation_finish(struct validation *v, struct api_error *e)
{
    if (v->count == 0) {
        validation_free(v);
        return 0;
    }
    (void)buf_append(&v->text, "", 1);
    const char *text = v->text.data != NULL ? (const char *)v->text.data : "";
    api_error_set(e, API_EX_VALIDATION, "%u validation error%s detected: %s", v->count,
                  v->count == 1 ? "" : "s", text);
    validation_free(v);
    return -EDDY_EINVAL;
}

/* ---- patterns ---- */

static bool json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool json_name_match(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || json_is_digit(c) ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* 0|([1-9]\d{0,more}) */
static bool json_number_match(const char *s, size_t len, size_t more)
{
    if (len == 1 && s[0] == '0') {
        return true;
    }
    if (len == 0 || len > more + 1 || s[0] < '1' || s[0] > '9') {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        if (!json_is_digit(s[i])) {
            return false;
        }
    }
    return true;
}

/* Length of a Java line terminator ('.' does not match it) at s[i], or 0:
 * \n, \r, U+0085, U+2028, U+2029. */
static size_t json_line_terminator(const char *s, size_t len, size_t i)
{
    uint8_t c = (uint8_t)s[i];
    if (c == '\n' || c == '\r') {
        return 1;
    }
    if (c == 0xC2 && i + 1 < len && (uint8_t)s[i + 1] == 0x85) {
        return 2;
    }
    if (c == 0xE2 && i + 2 < len && (uint8_t)s[i + 1] == 0x80 &&
        ((uint8_t)s[i + 2] == 0xA8 || (uint8_t)s[i + 2] == 0xA9)) {
        return 3;
    }
    return 0;
}

static bool json_ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\x0B' || c == '\f' || c == '\r';
}

/* arn:aws.*:kinesis:.*:\d{12}:stream/\S+ matched whole, in linear time.
 * After "arn:aws", the text splits as A ":kinesis:" B ":" D ":stream/" C with
 * A and B free of line terminators, D twelve digits and C non-empty without
 * ASCII whitespace. A split at q (the ':' before D) exists iff the text before
 * q has no line terminator and holds ":kinesis:", and the tail after
 * ":stream/" has no whitespace. */
static bool json_arn_match(const char *s, size_t len)
{
    static const char head[] = "arn:aws";
    static const char kin[] = ":kinesis:";
    static const char stream[] = ":stream/";
    const size_t head_len = sizeof(head) - 1;
    const size_t kin_len = sizeof(kin) - 1;
    const size_t stream_len = sizeof(stream) - 1;
    const size_t tail_min = 1 + 12 + stream_len + 1; /* ':' D ":stream/" and one char */
    if (len < head_len || memcmp(s, head, head_len) != 0) {
        return false;
    }
    const char *r = s + head_len;
    size_t n = len - head_len;
    size_t first_lt = n;
    size_t kin_end = SIZE_MAX;
    size_t after_ws = 0; /* one past the last ASCII whitespace */
    for (size_t i = 0; i < n; i++) {
        if (first_lt == n && json_line_terminator(r, n, i) != 0) {
            first_lt = i;
        }
        if (kin_end == SIZE_MAX && n - i >= kin_len && memcmp(r + i, kin, kin_len) == 0) {
            kin_end = i + kin_len;
        }
        if (json_ascii_space(r[i])) {
            after_ws = i + 1;
        }
    }
    if (kin_end == SIZE_MAX || n < tail_min) {
        return false;
    }
    for (size_t q = kin_end; q + tail_min <= n; q++) {
        if (q > first_lt) {
            break;
        }
        if (r[q] != ':') {
            continue;
        }
        bool digits = true;
        for (size_t k = 1; k <= 12 && digits; k++) {
            digits = json_is_digit(r[q + k]);
        }
        size_t c_start = q + 13 + stream_len;
        if (digits && memcmp(r + q + 13, stream, stream_len) == 0 && c_start >= after_ws) {
            return true;
        }
    }
    return false;
}

bool json_pattern_match(enum json_pattern p, const char *s, size_t len)
{
    switch (p) {
    case JSON_PATTERN_NAME:
        return json_name_match(s, len);
    case JSON_PATTERN_HASH_KEY:
        return json_number_match(s, len, 38);
    case JSON_PATTERN_SEQUENCE:
        return json_number_match(s, len, KIN_SEQUENCE_NUMBER_DIGITS_MAX);
    case JSON_PATTERN_STREAM_ARN:
        return json_arn_match(s, len);
    }
    EDDY_ASSERT(0);
    return false;
}

const char *json_pattern_text(enum json_pattern p)
{
    switch (p) {
    case JSON_PATTERN_NAME:
        return "[a-zA-Z0-9_.-]+";
    case JSON_PATTERN_HASH_KEY:
        return "0|([1-9]\\d{0,38})";
    case JSON_PATTERN_SEQUENCE:
        return "0|([1-9]\\d{0,128})";
    case JSON_PATTERN_STREAM_ARN:
        return "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";
    }
    EDDY_ASSERT(0);
    return "";
}

int json_enum_index(const struct json_str *s, const char *const *values, size_t count)
{
    for (size_t k = 0; k < count; k++) {
        if (strlen(values[k]) == s->len && memcmp(values[k], s->ptr, s->len) == 0) {
            return (int)k;
        }
    }
    return -1;
}
