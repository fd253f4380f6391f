/*
 * Consumer ARNs (see api_consumer.h): the model's pattern, the one parser
 * every action naming a consumer uses (ConsumerARN members, and the
 * ResourceARN of the tag and policy actions through api_meta.c and
 * api_policy.c), the ARN Eddy issues, and the catalogue lookups.
 *
 * arn:aws:kinesis:REGION:ACCOUNT:stream/STREAM/consumer/NAME:EPOCH names a
 * consumer here when region and account are this gateway's, STREAM and NAME
 * are names ([a-zA-Z0-9_.-]{1,128}) and EPOCH digits; the consumer is the
 * one named NAME on stream STREAM whose creation second is EPOCH.
 */
#include "api_consumer.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char api_consumer_arn_infix[] = "/consumer/";
#define API_CONSUMER_ARN_INFIX_LEN (sizeof(api_consumer_arn_infix) - 1)

/* ---- the pattern ---- */

static bool api_consumer_arn_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool api_consumer_arn_name_ok(const char *s, size_t n)
{
    return n <= KIN_STREAM_NAME_LEN_MAX && json_pattern_match(JSON_PATTERN_NAME, s, n);
}

static bool api_consumer_arn_digits_ok(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!api_consumer_arn_is_digit(s[i])) {
            return false;
        }
    }
    return true;
}

/* Whether s[0..n) holds a Java line terminator ('.' does not match one):
 * \n, \r, U+0085, U+2028, U+2029. */
static bool api_consumer_arn_has_line_terminator(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '\n' || c == '\r') {
            return true;
        }
        if (c == 0xC2 && i + 1 < n && (uint8_t)s[i + 1] == 0x85) {
            return true;
        }
        if (c == 0xE2 && i + 2 < n && (uint8_t)s[i + 1] == 0x80 &&
            ((uint8_t)s[i + 2] == 0xA8 || (uint8_t)s[i + 2] == 0xA9)) {
            return true;
        }
    }
    return false;
}

static size_t api_consumer_arn_find(const char *s, size_t len, size_t from, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = from; i + n <= len; i++) {
        if (memcmp(s + i, needle, n) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* arn:aws.*:kinesis:.*:\d{12}:.* matched whole over p[0..n), no line
 * terminator in it. The earliest ":kinesis:" leaves the most room for the
 * account field after it, so one scan decides. */
static bool api_consumer_arn_prefix_ok(const char *p, size_t n)
{
    static const char head[] = "arn:aws";
    const size_t head_len = sizeof(head) - 1;
    if (n < head_len || memcmp(p, head, head_len) != 0 ||
        api_consumer_arn_has_line_terminator(p, n)) {
        return false;
    }
    size_t kin = api_consumer_arn_find(p, n, head_len, ":kinesis:");
    if (kin == SIZE_MAX) {
        return false;
    }
    for (size_t j = kin + 9; j + 14 <= n; j++) {
        if (p[j] != ':' || p[j + 13] != ':') {
            continue;
        }
        bool digits = true;
        for (size_t k = 1; k <= 12 && digits; k++) {
            digits = api_consumer_arn_is_digit(p[j + k]);
        }
        if (digits) {
            return true;
        }
    }
    return false;
}

bool api_consumer_arn_match(const char *s, size_t len)
{
    /* From the end: EPOCH after the last ':', NAME after the last '/'
     * before it, "/consumer/" before NAME, STREAM after the '/' before that,
     * "stream/" before STREAM, and the prefix. Names hold neither ':' nor
     * '/', so each of those positions is forced. */
    const char *colon = memrchr(s, ':', len);
    if (colon == NULL || !api_consumer_arn_digits_ok(colon + 1, len - (size_t)(colon - s) - 1)) {
        return false;
    }
    size_t colon_at = (size_t)(colon - s);
    const char *slash = memrchr(s, '/', colon_at);
    if (slash == NULL) {
        return false;
    }
    size_t slash_at = (size_t)(slash - s);
    if (!json_pattern_match(JSON_PATTERN_NAME, slash + 1, colon_at - slash_at - 1) ||
        slash_at + 1 < API_CONSUMER_ARN_INFIX_LEN ||
        memcmp(s + slash_at + 1 - API_CONSUMER_ARN_INFIX_LEN, api_consumer_arn_infix,
               API_CONSUMER_ARN_INFIX_LEN) != 0) {
        return false;
    }
    size_t infix_at = slash_at + 1 - API_CONSUMER_ARN_INFIX_LEN;
    const char *stream_slash = memrchr(s, '/', infix_at);
    if (stream_slash == NULL) {
        return false;
    }
    size_t ss_at = (size_t)(stream_slash - s);
    if (!json_pattern_match(JSON_PATTERN_NAME, stream_slash + 1, infix_at - ss_at - 1) ||
        ss_at < 6 || memcmp(s + ss_at - 6, "stream/", 7) != 0) {
        return false;
    }
    return api_consumer_arn_prefix_ok(s, ss_at - 6);
}

const char *api_consumer_arn_pattern_text(void)
{
    return "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
           "[a-zA-Z0-9_.-]+:[0-9]+";
}

/* ---- parsing and formatting ---- */

bool api_consumer_arn_parse_path(const char *p, size_t n, struct api_consumer_arn *out)
{
    size_t infix = api_consumer_arn_find(p, n, 0, api_consumer_arn_infix);
    if (infix == SIZE_MAX || !api_consumer_arn_name_ok(p, infix)) {
        return false;
    }
    const char *name = p + infix + API_CONSUMER_ARN_INFIX_LEN;
    size_t rest = n - infix - API_CONSUMER_ARN_INFIX_LEN;
    const char *colon = memrchr(name, ':', rest);
    if (colon == NULL) {
        return false;
    }
    size_t name_len = (size_t)(colon - name);
    size_t ts_len = rest - name_len - 1;
    if (!api_consumer_arn_name_ok(name, name_len) ||
        !api_consumer_arn_digits_ok(colon + 1, ts_len) || ts_len >= API_CONSUMER_TS_TEXT_MAX) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < ts_len && v != UINT64_MAX; i++) {
        uint64_t d = (uint64_t)(colon[1 + i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    json_copy(out->stream, sizeof(out->stream), p, infix);
    json_copy(out->consumer, sizeof(out->consumer), name, name_len);
    json_copy(out->created_text, sizeof(out->created_text), colon + 1, ts_len);
    out->created_s = v;
    return true;
}

static bool api_consumer_arn_field_is(const char *f, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(f, want, n) == 0;
}

void api_consumer_arn_parse(const struct api_config *cfg,
                            const char *arn,
                            size_t len,
                            struct api_consumer_arn *out)
{
    memset(out, 0, sizeof(*out));
    /* arn:PARTITION:kinesis:REGION:ACCOUNT:RESOURCE (the resource holds the
     * creation time's colon). */
    const char *f[6] = {0};
    size_t fl[6] = {0};
    size_t k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len && k < 6; i++) {
        if (i == len || (arn[i] == ':' && k < 5)) {
            f[k] = arn + start;
            fl[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    bool shaped = k == 6 && fl[5] > 7 && memcmp(f[5], "stream/", 7) == 0;
    const char *what = shaped ? f[5] + 7 : arn;
    size_t what_len = shaped ? fl[5] - 7 : len;
    const char *acct = k >= 5 ? f[4] : cfg->account;
    size_t acct_len = k >= 5 ? fl[4] : strlen(cfg->account);
    json_copy(out->account, sizeof(out->account), acct, acct_len);
    bool ours = shaped && api_consumer_arn_field_is(f[0], fl[0], "arn") &&
                api_consumer_arn_field_is(f[1], fl[1], "aws") &&
                api_consumer_arn_field_is(f[2], fl[2], "kinesis") &&
                api_consumer_arn_field_is(f[3], fl[3], cfg->region) &&
                api_consumer_arn_field_is(f[4], fl[4], cfg->account) &&
                api_consumer_arn_parse_path(what, what_len, out);
    out->ours = ours;
    if (!ours) {
        /* For the not-found text: the stream part as far as it goes. */
        const char *slash = memchr(what, '/', what_len);
        json_copy(out->stream, sizeof(out->stream), what,
                  slash != NULL ? (size_t)(slash - what) : what_len);
    }
}

size_t api_consumer_arn_format(const struct api_config *cfg,
                               const char *stream,
                               const Eddy__ConsumerInfo *ci,
                               char *out)
{
    char sarn[API_STREAM_ARN_TEXT_MAX];
    api_stream_arn(cfg, stream, sarn);
    int n = snprintf(out, API_CONSUMER_ARN_TEXT_MAX, "%s/consumer/%s:%" PRIu64, sarn,
                     ci->name != NULL ? ci->name : "", ci->created_ms / 1000);
    EDDY_ASSERT(n > 0 && (size_t)n < API_CONSUMER_ARN_TEXT_MAX);
    return (size_t)n;
}

/* ---- lookups ---- */

const char *api_consumer_status_name(Eddy__ConsumerStatus s)
{
    switch (s) {
    case EDDY__CONSUMER_STATUS__CONSUMER_CREATING:
        return "CREATING";
    case EDDY__CONSUMER_STATUS__CONSUMER_DELETING:
        return "DELETING";
    case EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE:
    default:
        return "ACTIVE";
    }
}

const Eddy__ConsumerInfo *api_find_consumer(const Eddy__StreamInfo *st, const char *name)
{
    for (size_t i = 0; st != NULL && i < st->n_consumers; i++) {
        const Eddy__ConsumerInfo *ci = st->consumers[i];
        if (ci != NULL && ci->name != NULL && strcmp(ci->name, name) == 0) {
            return ci;
        }
    }
    return NULL;
}

bool api_consumer_is_incarnation(const Eddy__ConsumerInfo *ci, uint64_t created_s)
{
    return ci->created_ms / 1000 == created_s;
}

void api_consumer_error_not_found(const struct api_config *cfg,
                                  const Eddy__StreamInfo *st,
                                  const struct api_consumer_arn *a,
                                  struct api_error *e)
{
    if (st == NULL) {
        api_error_set(e, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.",
                      a->stream, a->ours ? cfg->account : a->account);
        return;
    }
    api_error_set(e, API_EX_RESOURCE_NOT_FOUND,
                  "Consumer %s with creation timestamp %s under stream %s and account %s "
                  "not found.",
                  a->consumer, a->created_text, a->stream, cfg->account);
}

void api_consumer_error_not_active(const struct api_config *cfg,
                                   const struct api_consumer_arn *a,
                                   struct api_error *e)
{
    api_error_set(e, API_EX_RESOURCE_IN_USE,
                  "Consumer %s with creation timestamp %s under stream %s and account %s is not "
                  "in ACTIVE status.",
                  a->consumer, a->created_text, a->stream, cfg->account);
}

void api_consumer_arn_of(const char *stream,
                         const Eddy__ConsumerInfo *ci,
                         struct api_consumer_arn *out)
{
    memset(out, 0, sizeof(*out));
    out->ours = true;
    json_copy(out->stream, sizeof(out->stream), stream, strlen(stream));
    const char *name = ci->name != NULL ? ci->name : "";
    json_copy(out->consumer, sizeof(out->consumer), name, strlen(name));
    out->created_s = ci->created_ms / 1000;
    snprintf(out->created_text, sizeof(out->created_text), "%" PRIu64, out->created_s);
}

const Eddy__ConsumerInfo *api_consumer_resolve(const struct api_config *cfg,
                                               const Eddy__StreamInfo *st,
                                               const struct api_consumer_arn *a,
                                               struct api_error *e)
{
    if (!a->ours) {
        st = NULL; /* another region or account: nothing here */
    }
    const Eddy__ConsumerInfo *ci = st != NULL ? api_find_consumer(st, a->consumer) : NULL;
    if (ci == NULL || !api_consumer_is_incarnation(ci, a->created_s)) {
        api_consumer_error_not_found(cfg, st, a, e);
        return NULL;
    }
    return ci;
}

const Eddy__ConsumerInfo *api_find_consumer_by_arn(const struct api_config *cfg,
                                                   const Eddy__Catalog *cat,
                                                   const char *arn,
                                                   size_t len,
                                                   const Eddy__StreamInfo **stream_out,
                                                   struct api_error *e)
{
    struct api_consumer_arn a;
    api_consumer_arn_parse(cfg, arn, len, &a);
    const Eddy__StreamInfo *st = a.ours ? api_find_stream(cat, a.stream) : NULL;
    const Eddy__ConsumerInfo *ci = api_consumer_resolve(cfg, st, &a, e);
    *stream_out = ci != NULL ? st : NULL;
    return ci;
}
