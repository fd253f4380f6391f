/*
 * What the tagging, retention, account and limits actions share (see
 * api_meta.h): ResourceARNs, the status rules as AWS words them, one
 * stream-setting change sent to the coordinator with its refusals worded,
 * and the account quotas.
 */
#include "api.h"

#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/limits_profile.h"

#include <string.h>

/* ---- resources ---- */

static bool api_meta_field_is(const char *f, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(f, want, n) == 0;
}

static bool api_meta_name_ok(const char *s, size_t n)
{
    return n <= KIN_STREAM_NAME_LEN_MAX && json_pattern_match(JSON_PATTERN_NAME, s, n);
}

/* "S" or "S/consumer/C:T" after "stream/": fills out, false otherwise. */
static bool api_meta_resource_path(const char *p, size_t n, struct api_resource *out)
{
    const char *slash = memchr(p, '/', n);
    if (slash == NULL) {
        if (!api_meta_name_ok(p, n)) {
            return false;
        }
        json_copy(out->stream, sizeof(out->stream), p, n);
        return true;
    }
    /* The one consumer-ARN parser (api_consumer_arn.c). */
    if (!api_consumer_arn_parse_path(p, n, &out->cons)) {
        return false;
    }
    out->consumer = true;
    out->cons.ours = true;
    json_copy(out->stream, sizeof(out->stream), out->cons.stream, strlen(out->cons.stream));
    return true;
}

int api_resolve_resource(const struct api_config *cfg,
                         const struct json_str *arn,
                         struct api_resource *out,
                         struct api_error *e)
{
    memset(out, 0, sizeof(*out));
    /* arn:PARTITION:kinesis:REGION:ACCOUNT:RESOURCE (the resource may hold
     * colons: a consumer's creation time). */
    const char *f[6] = {0};
    size_t fl[6] = {0};
    size_t k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= arn->len && k < 6; i++) {
        if (i == arn->len || (arn->ptr[i] == ':' && k < 5)) {
            f[k] = arn->ptr + start;
            fl[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    bool shaped = k == 6 && fl[5] > 7 && memcmp(f[5], "stream/", 7) == 0;
    const char *what = shaped ? f[5] + 7 : arn->ptr;
    size_t what_len = shaped ? fl[5] - 7 : arn->len;
    bool ours =
        shaped && api_meta_field_is(f[0], fl[0], "arn") && api_meta_field_is(f[1], fl[1], "aws") &&
        api_meta_field_is(f[2], fl[2], "kinesis") && api_meta_field_is(f[3], fl[3], cfg->region) &&
        api_meta_field_is(f[4], fl[4], cfg->account) && api_meta_resource_path(what, what_len, out);
    if (ours) {
        return 0;
    }
    /* Another partition, region or account, or no stream: nothing here. */
    const char *slash = memchr(what, '/', what_len);
    size_t name_len = slash != NULL ? (size_t)(slash - what) : what_len;
    const char *acct = k == 6 ? f[4] : cfg->account;
    size_t acct_len = k == 6 ? fl[4] : strlen(cfg->account);
    api_error_set(
        e, API_EX_RESOURCE_NOT_FOUND, "Stream %.*s under account %.*s not found.",
        (int)(name_len < KIN_STREAM_ARN_LEN_MAX ? name_len : KIN_STREAM_ARN_LEN_MAX), what,
        (int)(acct_len < KIN_STREAM_ARN_LEN_MAX ? acct_len : KIN_STREAM_ARN_LEN_MAX), acct);
    memset(out, 0, sizeof(*out));
    return -EDDY_ENOTFOUND;
}

/* ---- status rules ---- */

static void api_meta_fail_status(struct api_call *c,
                                 const char *name,
                                 Eddy__StreamStatus status,
                                 bool updating_ok)
{
    api_fail(c, API_EX_RESOURCE_IN_USE,
             "Stream %s under account %s not ACTIVE%s, instead in state %s", name, c->cfg.account,
             updating_ok ? " or UPDATING" : "", api_stream_status_name(status));
}

bool api_meta_require_status(struct api_call *c,
                             const char *name,
                             const Eddy__StreamInfo *st,
                             bool updating_ok)
{
    if (st == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", name,
                 c->cfg.account);
        return false;
    }
    if (st->status == EDDY__STREAM_STATUS__STREAM_ACTIVE ||
        (updating_ok && st->status == EDDY__STREAM_STATUS__STREAM_UPDATING)) {
        return true;
    }
    api_meta_fail_status(c, name, st->status, updating_ok);
    return false;
}

/* ---- one change ---- */

/* A change in flight. Freed before the call is answered. */
struct api_meta_pending {
    struct api_call *call;
    const char *name;
    bool updating_ok;
    api_meta_invalid_cb invalid;
};

static void
api_meta_on_updated(void *arg, int status, const char *message, const Eddy__StreamInfo *stream)
{
    struct api_meta_pending p = *(struct api_meta_pending *)arg;
    eddy_free(arg);
    struct api_call *c = p.call;
    switch (status) {
    case 0:
        api_respond_empty(c);
        return;
    case -EDDY_ENOTFOUND:
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", p.name,
                 c->cfg.account);
        return;
    case -EDDY_EINUSE:
        /* The stream left the status the gateway saw before the change. */
        api_meta_fail_status(c, p.name,
                             stream != NULL ? stream->status : EDDY__STREAM_STATUS__STREAM_UPDATING,
                             p.updating_ok);
        return;
    case -EDDY_EINVAL:
        if (message == NULL && p.invalid != NULL) {
            p.invalid(c, p.name, stream);
            return;
        }
        break;
    default:
        break;
    }
    api_fail_code(c, status, message);
}

void api_meta_update(struct api_call *c,
                     const char *name,
                     const Eddy__StreamUpdate *u,
                     bool updating_ok,
                     api_meta_invalid_cb invalid)
{
    struct api_meta_pending *p = eddy_xmalloc(sizeof(*p));
    *p = (struct api_meta_pending){
        .call = c, .name = name, .updating_ok = updating_ok, .invalid = invalid};
    backend_update_stream(c->ctx->backend, u, api_meta_on_updated, p);
}

/* ---- input without members, account quotas ---- */

int api_no_input_decode(const cJSON *root, const struct api_config *cfg, struct api_error *e)
{
    (void)root; /* AWS ignores members these actions do not have */
    (void)cfg;
    (void)e;
    return 0;
}

/* The on-demand stream quota without a profile (AWS's default). */
#define API_META_ON_DEMAND_STREAMS_DEFAULT 50

void api_account_limits(const struct api_ctx *ctx, struct api_account_limits *out)
{
    if (ctx->limits != NULL) {
        out->shard_limit = ctx->limits->shard_limit;
        out->on_demand_stream_count_limit = ctx->limits->on_demand_stream_count_limit;
        return;
    }
    out->shard_limit = API_ACCOUNT_SHARD_LIMIT;
    out->on_demand_stream_count_limit = API_META_ON_DEMAND_STREAMS_DEFAULT;
}
