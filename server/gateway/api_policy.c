/*
 * Resource policies of streams and of their consumers:
 *
 *  - PutResourcePolicy: ResourceARN (required), Policy (required, a JSON
 *    object of at most API_RESOURCE_POLICY_BYTES_MAX bytes). The stream must
 *    be ACTIVE. Replaces the stream's policy. Empty 200.
 *  - GetResourcePolicy: ResourceARN. Answers {"Policy": text}, "{}" when the
 *    stream has none.
 *  - DeleteResourcePolicy: ResourceARN. The stream must be ACTIVE. Removes the
 *    policy (none is not an error). Empty 200.
 *
 * ResourceARN matches arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+; it names a
 * stream (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME) or a consumer
 * (.../stream/NAME/consumer/CONSUMER:CREATED; api_consumer_settings.c serves
 * those: the consumer must be ACTIVE to change its policy). An ARN of
 * another region or account names nothing here: ResourceNotFoundException
 * as for a missing stream.
 * Policies are stored in the catalogue, not enforced (no IAM in Eddy yet).
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <string.h>

/* ---- ResourceARN ---- */

static bool api_policy_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Java's \s (ASCII whitespace). */
static bool api_policy_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\x0B' || c == '\f' || c == '\r';
}

/* Length of a line terminator ('.' does not match it) at s[i], or 0:
 * \n, \r, U+0085, U+2028, U+2029. */
static size_t api_policy_line_terminator(const char *s, size_t len, size_t i)
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

/* The first position at or after from where needle starts, or SIZE_MAX. */
static size_t api_policy_find(const char *s, size_t len, size_t from, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = from; i + n <= len; i++) {
        if (memcmp(s + i, needle, n) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* "arn:aws" A ":kinesis:" B ":" D ":" C "stream/" T, matched whole: A, B and C
 * free of line terminators, D twelve digits, T non-empty without ASCII
 * whitespace. The earliest ":kinesis:" and the earliest ":DDDDDDDDDDDD:" after
 * it leave the most room for the rest, so one pass over "stream/" positions
 * after them decides, in linear time. */
bool api_resource_arn_match(const char *s, size_t len)
{
    static const char head[] = "arn:aws";
    const size_t head_len = sizeof(head) - 1;
    if (len < head_len || memcmp(s, head, head_len) != 0) {
        return false;
    }
    size_t first_lt = len;
    size_t after_ws = 0; /* one past the last ASCII whitespace */
    for (size_t i = 0; i < len; i++) {
        if (first_lt == len && api_policy_line_terminator(s, len, i) != 0) {
            first_lt = i;
        }
        if (api_policy_is_space(s[i])) {
            after_ws = i + 1;
        }
    }
    size_t kin = api_policy_find(s, len, head_len, ":kinesis:");
    if (kin == SIZE_MAX) {
        return false;
    }
    size_t acct = SIZE_MAX; /* the ':' before the twelve digits */
    for (size_t j = kin + 9; j + 14 <= len && acct == SIZE_MAX; j++) {
        if (s[j] != ':' || s[j + 13] != ':') {
            continue;
        }
        bool digits = true;
        for (size_t k = 1; k <= 12 && digits; k++) {
            digits = api_policy_is_digit(s[j + k]);
        }
        if (digits) {
            acct = j;
        }
    }
    if (acct == SIZE_MAX) {
        return false;
    }
    for (size_t k = api_policy_find(s, len, acct + 14, "stream/"); k != SIZE_MAX;
         k = api_policy_find(s, len, k + 1, "stream/")) {
        size_t tail = k + 7;
        if (tail > first_lt) {
            return false; /* later ones are past it too */
        }
        if (tail < len && tail >= after_ws) {
            return true;
        }
    }
    return false;
}

static bool api_policy_field_is(const char *f, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(f, want, n) == 0;
}

static bool api_policy_name_ok(const char *s, size_t n)
{
    return n <= KIN_STREAM_NAME_LEN_MAX && json_pattern_match(JSON_PATTERN_NAME, s, n);
}

/* Splits a matched ResourceARN into the stream (or consumer) it names and
 * whether that is in this region and account. */
static void api_policy_classify(const struct api_config *cfg,
                                const char *arn,
                                size_t len,
                                struct api_policy_req *r)
{
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
    r->account = k == 6 ? f[4] : cfg->account;
    r->account_len = k == 6 ? fl[4] : strlen(cfg->account);
    const char *rest = arn;
    size_t rest_len = len;
    bool shaped = k == 6 && fl[5] > 7 && memcmp(f[5], "stream/", 7) == 0;
    if (shaped) {
        rest = f[5] + 7;
        rest_len = fl[5] - 7;
    }
    r->stream = rest;
    r->stream_len = rest_len;
    size_t cons = api_policy_find(rest, rest_len, 0, "/consumer/");
    if (cons != SIZE_MAX) {
        r->consumer = true;
        r->stream_len = cons; /* for messages, whatever follows */
    }
    bool ok = shaped && api_policy_field_is(f[0], fl[0], "arn") &&
              api_policy_field_is(f[1], fl[1], "aws") &&
              api_policy_field_is(f[2], fl[2], "kinesis") &&
              api_policy_field_is(f[3], fl[3], cfg->region) &&
              api_policy_field_is(f[4], fl[4], cfg->account) &&
              api_policy_name_ok(r->stream, r->stream_len);
    if (ok && r->consumer) {
        /* The one consumer-ARN parser (api_consumer_arn.c). */
        ok = api_consumer_arn_parse_path(rest, rest_len, &r->cons);
        r->cons.ours = ok;
    }
    r->ours = ok;
    if (ok) {
        json_copy(r->name, sizeof(r->name), r->stream, r->stream_len);
    }
}

/* ResourceARN: read, validated, classified. */
static int api_policy_read_arn(const cJSON *root,
                               struct validation *v,
                               struct json_str *arn,
                               struct api_error *e)
{
    struct json_str id;
    int rv = json_get_str(root, "ResourceARN", arn, e);
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv != 0) {
        validation_free(v);
        return rv;
    }
    validation_not_null(v, "resourceARN", arn->present);
    if (arn->present && !api_resource_arn_match(arn->ptr, arn->len)) {
        validation_add(v, arn->ptr, arn->len, "resourceARN",
                       "Member must satisfy regular expression pattern: "
                       "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+");
    }
    validation_length(v, "resourceARN", arn, 1, KIN_STREAM_ARN_LEN_MAX);
    return 0;
}

/* Whether the JSON text nests at most GW_JSON_DEPTH_MAX deep, so that
 * cJSON's recursive parser stays shallow whatever a client sends. */
static bool api_policy_depth_ok(const char *s, size_t len)
{
    unsigned depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (in_string) {
            if (ch == '\\') {
                i++; /* the escaped character, whatever it is */
            } else if (ch == '"') {
                in_string = false;
            }
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > GW_JSON_DEPTH_MAX) {
                return false;
            }
        } else if ((ch == '}' || ch == ']') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* The policy document: a JSON object of bounded size. */
static int api_policy_check_document(const struct json_str *policy, struct api_error *e)
{
    if (policy->len > API_RESOURCE_POLICY_BYTES_MAX) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "Policy document of %zu bytes exceeds the maximum size of %d bytes.",
                      policy->len, API_RESOURCE_POLICY_BYTES_MAX);
        return -EDDY_ETOOBIG;
    }
    cJSON *doc = api_policy_depth_ok(policy->ptr, policy->len)
                     ? cJSON_ParseWithLengthOpts(policy->ptr, policy->len + 1, NULL, true)
                     : NULL;
    bool ok = doc != NULL && cJSON_IsObject(doc);
    cJSON_Delete(doc);
    if (!ok) {
        api_error_set(e, API_EX_INVALID_ARGUMENT, "Policy is not a valid JSON policy document.");
        return -EDDY_EINVAL;
    }
    return 0;
}

int api_put_resource_policy_decode(const cJSON *root,
                                   const struct api_config *cfg,
                                   struct api_policy_req *r,
                                   struct api_error *e)
{
    struct json_str policy;
    struct json_str arn;
    int rv = json_get_str(root, "Policy", &policy, e);
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_not_null(&v, "policy", policy.present);
    rv = api_policy_read_arn(root, &v, &arn, e);
    if (rv == 0) {
        rv = validation_finish(&v, e);
    }
    if (rv == 0) {
        rv = api_policy_check_document(&policy, e);
    }
    if (rv != 0) {
        return rv;
    }
    r->arn = arn.ptr;
    r->policy = policy.ptr;
    api_policy_classify(cfg, arn.ptr, arn.len, r);
    return 0;
}

int api_resource_policy_decode(const cJSON *root,
                               const struct api_config *cfg,
                               struct api_policy_req *r,
                               struct api_error *e)
{
    struct json_str arn;
    struct validation v;
    validation_init(&v);
    int rv = api_policy_read_arn(root, &v, &arn, e);
    if (rv == 0) {
        rv = validation_finish(&v, e);
    }
    if (rv != 0) {
        return rv;
    }
    r->arn = arn.ptr;
    api_policy_classify(cfg, arn.ptr, arn.len, r);
    return 0;
}

/* ---- serving ---- */

/* Answers ResourceNotFoundException when the ARN names nothing here (another
 * region or account, a missing stream) and returns false; a consumer ARN is
 * handed to its action (api_consumer_settings.c), false too. */
static bool api_policy_require_resource(struct api_call *c,
                                        const struct api_policy_req *r,
                                        const Eddy__StreamInfo *st)
{
    int sl = (int)(r->stream_len < KIN_STREAM_ARN_LEN_MAX ? r->stream_len : KIN_STREAM_ARN_LEN_MAX);
    if (st == NULL || !r->ours) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %.*s under account %.*s not found.", sl,
                 r->stream, (int)r->account_len, r->account);
        return false;
    }
    if (!r->consumer) {
        return true;
    }
    switch (c->op) {
    case API_OP_PUT_RESOURCE_POLICY:
        api_consumer_put_policy(c, st, &r->cons, r->policy);
        break;
    case API_OP_DELETE_RESOURCE_POLICY:
        api_consumer_delete_policy(c, st, &r->cons);
        break;
    default:
        api_consumer_get_policy(c, st, &r->cons);
        break;
    }
    return false;
}

/* PutResourcePolicy and DeleteResourcePolicy on a stream. */
static void api_change_policy_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_policy_req *r = &c->req.policy;
    if (!api_policy_require_resource(c, r, st) ||
        !api_stream_require_active(c, r->name, st, true)) {
        return;
    }
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)r->name;
    u.created_ms = st->created_ms;
    if (c->op == API_OP_PUT_RESOURCE_POLICY) {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_PUT_POLICY;
        u.put_policy = (char *)r->policy;
    } else {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY;
        u.delete_policy = true;
    }
    api_stream_update(c, r->name, &u, NULL);
}

static void api_get_policy_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_policy_req *r = &c->req.policy;
    if (!api_policy_require_resource(c, r, st)) {
        return;
    }
    const char *policy = st->policy != NULL && st->policy[0] != '\0' ? st->policy : "{}";
    struct json_out o;
    api_out_init(c, &o, API_RESOURCE_POLICY_BYTES_MAX * 6 + 64);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "Policy", policy);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

/* Looks the stream up even for an ARN that names nothing here, so that the
 * answer is the same whichever way the resource is missing. */
static void api_policy_lookup(struct api_call *c, api_stream_found_cb cb)
{
    const struct api_policy_req *r = &c->req.policy;
    api_lookup_stream_or_fail(c, r->ours ? r->name : "", true, cb);
}

void api_put_resource_policy_run(struct api_call *c)
{
    api_policy_lookup(c, api_change_policy_on_stream);
}

void api_get_resource_policy_run(struct api_call *c)
{
    api_policy_lookup(c, api_get_policy_on_stream);
}

void api_delete_resource_policy_run(struct api_call *c)
{
    api_policy_lookup(c, api_change_policy_on_stream);
}
