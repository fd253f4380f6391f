/*
 * The enhanced fan-out consumer actions (see api_consumer.h):
 *
 *  - RegisterStreamConsumer: StreamARN and ConsumerName (required), Tags
 *    (1..200 entries, at most 50 distinct keys). Answers {"Consumer": ...}
 *    in CREATING; the coordinator's reconciler makes it ACTIVE after the
 *    creating time. Refused: a name the stream has (ResourceInUseException),
 *    KIN_CONSUMERS_PER_STREAM_MAX consumers or KIN_CONSUMERS_CREATING_MAX
 *    of them CREATING (LimitExceededException), a stream neither ACTIVE nor
 *    UPDATING (ResourceInUseException).
 *  - DescribeStreamConsumer: ConsumerARN, or StreamARN and ConsumerName, or
 *    all three as long as they agree. Answers {"ConsumerDescription": ...}
 *    with the StreamARN, in any status.
 *  - ListStreamConsumers: StreamARN (required), MaxResults (1..10000, at
 *    most 100 returned, the default), StreamCreationTimestamp (the stream's
 *    creation second, else not found), NextToken (signed, expiring after
 *    300 s, not with StreamCreationTimestamp). Consumers in registration
 *    order (creation time, then name), any status.
 *  - DeregisterStreamConsumer: as Describe names the consumer; it goes
 *    DELETING (already DELETING: accepted again) and is removed after the
 *    creating time. Empty 200.
 *
 * Every action reads a fresh catalogue (a consumer registered through
 * another gateway is seen at once); changes go to the coordinator, which
 * checks them again against its own catalogue.
 *
 * NextToken payload: u64 issued_ms, u64 stream created_ms, u64 the last
 * listed consumer's created_ms, u8 its name's length, its name.
 */
#include "api_consumer.h"

#include "backend.h"
#include "iterator.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <stdlib.h>
#include <string.h>

#define API_CONSUMERS_TOKEN_FIXED 25

/* ---- output ---- */

static void api_consumers_write(struct json_out *o,
                                const struct api_config *cfg,
                                const char *stream,
                                const Eddy__ConsumerInfo *ci,
                                bool with_stream_arn)
{
    char arn[API_CONSUMER_ARN_TEXT_MAX];
    api_consumer_arn_format(cfg, stream, ci, arn);
    json_out_obj_begin(o);
    json_out_kv_cstr(o, "ConsumerName", ci->name != NULL ? ci->name : "");
    json_out_kv_cstr(o, "ConsumerARN", arn);
    json_out_kv_cstr(o, "ConsumerStatus", api_consumer_status_name(ci->status));
    json_out_key(o, "ConsumerCreationTimestamp");
    json_out_timestamp_ms(o, ci->created_ms);
    if (with_stream_arn) {
        char sarn[API_STREAM_ARN_TEXT_MAX];
        api_stream_arn(cfg, stream, sarn);
        json_out_kv_cstr(o, "StreamARN", sarn);
    }
    json_out_obj_end(o);
}

/* Answers {"<key>": consumer}. */
static void api_consumers_respond_one(struct api_call *c,
                                      const char *key,
                                      const char *stream,
                                      const Eddy__ConsumerInfo *ci,
                                      bool with_stream_arn)
{
    struct json_out o;
    api_out_init(c, &o, API_CONSUMER_ARN_TEXT_MAX * 2 + 512);
    json_out_obj_begin(&o);
    json_out_key(&o, key);
    api_consumers_write(&o, &c->cfg, stream, ci, with_stream_arn);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

static void api_consumers_fail_stream_missing(struct api_call *c, const char *stream)
{
    api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", stream,
             c->cfg.account);
}

/* ---- decoding ---- */

/* ConsumerARN: the pattern and the length. */
static void api_consumers_validate_arn(struct validation *v, const struct json_str *arn)
{
    if (arn->present && !api_consumer_arn_match(arn->ptr, arn->len)) {
        char rule[256];
        snprintf(rule, sizeof(rule), "Member must satisfy regular expression pattern: %s",
                 api_consumer_arn_pattern_text());
        validation_add(v, arn->ptr, arn->len, "consumerARN", rule);
    }
    validation_length(v, "consumerARN", arn, 1, KIN_STREAM_ARN_LEN_MAX);
}

int api_register_consumer_decode(const cJSON *root,
                                 const struct api_config *cfg,
                                 struct api_register_consumer_req *r,
                                 struct api_error *e)
{
    struct json_str arn;
    struct json_str name;
    struct json_str id;
    const cJSON *tags = NULL;
    int rv = json_get_str(root, "StreamARN", &arn, e);
    if (rv == 0) {
        rv = json_get_str(root, "ConsumerName", &name, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv == 0) {
        rv = api_tag_map_get(root, "Tags", &tags, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_not_null(&v, "streamARN", arn.present);
    validation_stream_arn(&v, "streamARN", &arn);
    validation_not_null(&v, "consumerName", name.present);
    validation_stream_name(&v, "consumerName", &name);
    api_tag_map_validate(&v, "tags", tags);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    r->tags = tags;
    json_copy(r->consumer, sizeof(r->consumer), name.ptr, name.len);
    struct json_str none = {0};
    return api_resolve_stream(cfg, &none, &arn, r->stream, e);
}

int api_consumer_ref_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_consumer_ref_req *r,
                            struct api_error *e)
{
    struct json_str sarn;
    struct json_str name;
    struct json_str carn;
    struct json_str id;
    int rv = json_get_str(root, "StreamARN", &sarn, e);
    if (rv == 0) {
        rv = json_get_str(root, "ConsumerName", &name, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "ConsumerARN", &carn, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_stream_arn(&v, "streamARN", &sarn);
    validation_stream_name(&v, "consumerName", &name);
    api_consumers_validate_arn(&v, &carn);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    if (!carn.present && (!sarn.present || !name.present)) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "Either ConsumerARN or both StreamARN and ConsumerName must be provided.");
        return -EDDY_EINVAL;
    }
    struct json_str none = {0};
    if (sarn.present) {
        rv = api_resolve_stream(cfg, &none, &sarn, r->stream, e);
        if (rv != 0) {
            return rv;
        }
    }
    if (name.present) {
        json_copy(r->consumer, sizeof(r->consumer), name.ptr, name.len);
    }
    if (!carn.present) {
        return 0;
    }
    r->by_arn = true;
    api_consumer_arn_parse(cfg, carn.ptr, carn.len, &r->arn);
    /* "You may also provide all three parameters, as long as they don't
     * conflict with each other" (API_DescribeStreamConsumer). */
    bool agree = (!sarn.present || (r->arn.ours && strcmp(r->stream, r->arn.stream) == 0)) &&
                 (!name.present || strcmp(r->consumer, r->arn.consumer) == 0);
    if (!agree) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "ConsumerARN %.*s does not name consumer %s of stream %s.", (int)carn.len,
                      carn.ptr, name.present ? r->consumer : r->arn.consumer,
                      sarn.present ? r->stream : r->arn.stream);
        return -EDDY_EINVAL;
    }
    json_copy(r->stream, sizeof(r->stream), r->arn.stream, strlen(r->arn.stream));
    json_copy(r->consumer, sizeof(r->consumer), r->arn.consumer, strlen(r->arn.consumer));
    return 0;
}

int api_list_consumers_decode(const cJSON *root,
                              const struct api_config *cfg,
                              struct api_list_consumers_req *r,
                              struct api_error *e)
{
    struct json_str arn;
    struct json_str token;
    struct json_str id;
    struct json_int max;
    struct json_timestamp created;
    int rv = json_get_str(root, "StreamARN", &arn, e);
    if (rv == 0) {
        rv = json_get_str(root, "NextToken", &token, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "MaxResults", &max, e);
    }
    if (rv == 0) {
        rv = json_get_timestamp(root, "StreamCreationTimestamp", &created, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_not_null(&v, "streamARN", arn.present);
    validation_stream_arn(&v, "streamARN", &arn);
    validation_length(&v, "nextToken", &token, 1, KIN_NEXT_TOKEN_LEN_MAX);
    validation_range(&v, "maxResults", &max, 1, API_LIST_CONSUMERS_MAX_RESULTS_MAX);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    if (token.present && created.present) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "NextToken and StreamCreationTimestamp cannot be provided together.");
        return -EDDY_EINVAL;
    }
    r->max_results = API_LIST_CONSUMERS_RESULTS_MAX;
    if (max.present && max.value < API_LIST_CONSUMERS_RESULTS_MAX) {
        r->max_results = (uint32_t)max.value;
    }
    r->has_created = created.present;
    r->created_ms = created.ms;
    r->has_next_token = token.present;
    if (token.present) {
        r->next_token_too_long = token.len > API_NEXT_TOKEN_TEXT_MAX;
        if (!r->next_token_too_long) {
            json_copy(r->next_token, sizeof(r->next_token), token.ptr, token.len);
        }
    }
    struct json_str none = {0};
    return api_resolve_stream(cfg, &none, &arn, r->stream, e);
}

/* ---- RegisterStreamConsumer ---- */

static void
api_register_on_done(void *arg, int status, const char *message, const Eddy__ConsumerResp *resp)
{
    struct api_call *c = arg;
    const struct api_register_consumer_req *r = &c->req.register_consumer;
    const char *acct = c->cfg.account;
    const Eddy__ConsumerInfo *ci = resp != NULL ? resp->consumer : NULL;
    switch (status) {
    case 0:
        if (ci == NULL) {
            api_fail_code(c, -EDDY_EMALFORMED, NULL); /* a register answers the consumer */
            return;
        }
        api_consumers_respond_one(c, "Consumer", r->stream, ci, false);
        return;
    case -EDDY_ENOTFOUND:
        api_consumers_fail_stream_missing(c, r->stream);
        return;
    case -EDDY_EINUSE:
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "Stream %s under account %s not ACTIVE or UPDATING, instead in state %s",
                 r->stream, acct,
                 api_stream_status_name(resp != NULL ? resp->stream_status
                                                     : EDDY__STREAM_STATUS__STREAM_CREATING));
        return;
    case -EDDY_EEXISTS: {
        struct api_consumer_arn a;
        if (ci != NULL) {
            api_consumer_arn_of(r->stream, ci, &a);
        }
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "Consumer %s with creation timestamp %s under stream %s and account %s already "
                 "exists.",
                 r->consumer, ci != NULL ? a.created_text : "0", r->stream, acct);
        return;
    }
    case -EDDY_ELIMIT:
        if (message != NULL && strcmp(message, "consumers") == 0) {
            api_fail(c, API_EX_LIMIT_EXCEEDED,
                     "Stream %s under account %s already has %d registered consumers, the most "
                     "a stream can have.",
                     r->stream, acct, KIN_CONSUMERS_PER_STREAM_MAX);
        } else if (message != NULL && strcmp(message, "creating") == 0) {
            api_fail(c, API_EX_LIMIT_EXCEEDED,
                     "Stream %s under account %s already has %d consumers in CREATING status. "
                     "Only %d consumers can be created simultaneously.",
                     r->stream, acct, KIN_CONSUMERS_CREATING_MAX, KIN_CONSUMERS_CREATING_MAX);
        } else {
            api_fail(c, API_EX_LIMIT_EXCEEDED,
                     "The tags and resource policies of all streams and consumers would exceed "
                     "this deployment's limit.");
        }
        return;
    case -EDDY_EINVAL:
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Failed to add tags to consumer %s under stream %s and account %s because a "
                 "given consumer cannot have more than %d tags associated with it.",
                 r->consumer, r->stream, acct, API_TAGS_MAX);
        return;
    default:
        api_fail_code(c, status, NULL);
        return;
    }
}

void api_register_consumer_run(struct api_call *c)
{
    const struct api_register_consumer_req *r = &c->req.register_consumer;
    struct api_tag in[API_TAG_MAP_MAX];
    Eddy__Tag t[API_TAG_MAP_MAX];
    Eddy__Tag *ptrs[API_TAG_MAP_MAX];
    size_t n = 0;
    if (r->tags != NULL) {
        if (!api_tag_chars_ok(c, api_tag_map_chars(r->tags), r->stream, true)) {
            return;
        }
        n = api_tag_map_collect(r->tags, in, API_TAG_MAP_MAX);
        if (n > API_TAGS_MAX) {
            api_register_on_done(c, -EDDY_EINVAL, NULL, NULL);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            eddy__tag__init(&t[i]);
            t[i].key = (char *)in[i].key;
            t[i].value = (char *)in[i].value;
            ptrs[i] = &t[i];
        }
    }
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.stream = (char *)r->stream;
    ch.name = (char *)r->consumer;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REGISTER;
    ch.register_ = true;
    ch.n_tags = n;
    ch.tags = n > 0 ? ptrs : NULL;
    backend_consumer(c->ctx->backend, &ch, api_register_on_done, c);
}

/* ---- DescribeStreamConsumer, DeregisterStreamConsumer ---- */

/* The consumer the request names in st (NULL: the stream is missing), or
 * NULL with the call answered. */
static const Eddy__ConsumerInfo *api_consumers_find(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_consumer_ref_req *r = &c->req.consumer_ref;
    if (r->by_arn) {
        struct api_error e = {0};
        const Eddy__ConsumerInfo *ci = api_consumer_resolve(&c->cfg, st, &r->arn, &e);
        if (ci == NULL) {
            api_respond_error(c, &e);
        }
        return ci;
    }
    if (st == NULL) {
        api_consumers_fail_stream_missing(c, r->stream);
        return NULL;
    }
    const Eddy__ConsumerInfo *ci = api_find_consumer(st, r->consumer);
    if (ci == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND,
                 "Consumer %s under stream %s and account %s not found.", r->consumer, r->stream,
                 c->cfg.account);
    }
    return ci;
}

static void api_describe_consumer_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const Eddy__ConsumerInfo *ci = api_consumers_find(c, st);
    if (ci != NULL) {
        api_consumers_respond_one(c, "ConsumerDescription", st->name, ci, true);
    }
}

void api_describe_consumer_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.consumer_ref.stream, true, api_describe_consumer_on_stream);
}

static void
api_deregister_on_done(void *arg, int status, const char *message, const Eddy__ConsumerResp *resp)
{
    (void)message;
    (void)resp;
    struct api_call *c = arg;
    const struct api_consumer_ref_req *r = &c->req.consumer_ref;
    if (status == 0) {
        api_respond_empty(c);
        return;
    }
    if (status != -EDDY_ENOTFOUND) {
        api_fail_code(c, status, NULL);
        return;
    }
    /* Deregistered or deleted with its stream meanwhile. */
    if (r->by_arn) {
        struct api_error e = {0};
        Eddy__StreamInfo any = EDDY__STREAM_INFO__INIT;
        api_consumer_error_not_found(&c->cfg, &any, &r->arn, &e);
        api_respond_error(c, &e);
        return;
    }
    api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Consumer %s under stream %s and account %s not found.",
             r->consumer, r->stream, c->cfg.account);
}

static void api_deregister_consumer_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const Eddy__ConsumerInfo *ci = api_consumers_find(c, st);
    if (ci == NULL) {
        return;
    }
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.stream = st->name;
    ch.stream_created_ms = st->created_ms;
    ch.name = ci->name;
    ch.consumer_created_ms = ci->created_ms;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS;
    ch.set_status = EDDY__CONSUMER_STATUS__CONSUMER_DELETING;
    backend_consumer(c->ctx->backend, &ch, api_deregister_on_done, c);
}

void api_deregister_consumer_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.consumer_ref.stream, true,
                              api_deregister_consumer_on_stream);
}

/* ---- ListStreamConsumers ---- */

/* Registration order: creation time, then name. */
static int api_consumers_cmp(const Eddy__ConsumerInfo *a, uint64_t b_ms, const char *b_name)
{
    if (a->created_ms != b_ms) {
        return a->created_ms < b_ms ? -1 : 1;
    }
    return strcmp(a->name, b_name);
}

static int api_consumers_sort_cmp(const void *x, const void *y)
{
    const Eddy__ConsumerInfo *a = *(const Eddy__ConsumerInfo *const *)x;
    const Eddy__ConsumerInfo *b = *(const Eddy__ConsumerInfo *const *)y;
    return api_consumers_cmp(a, b->created_ms, b->name);
}

static void api_consumers_put_be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t api_consumers_get_be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Where a page starts: after (after_ms, after_name); none for the first. */
struct api_consumers_page {
    bool has_after;
    uint64_t after_ms;
    char after_name[KIN_STREAM_NAME_LEN_MAX + 1];
};

static void api_consumers_seal(const Eddy__Catalog *cat,
                               const Eddy__StreamInfo *st,
                               const Eddy__ConsumerInfo *last,
                               char *out)
{
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    size_t len = strlen(last->name);
    EDDY_ASSERT(API_CONSUMERS_TOKEN_FIXED + len <= sizeof(p));
    api_consumers_put_be(p, api_now_ms());
    api_consumers_put_be(p + 8, st->created_ms);
    api_consumers_put_be(p + 16, last->created_ms);
    p[24] = (uint8_t)len;
    memcpy(p + API_CONSUMERS_TOKEN_FIXED, last->name, len);
    struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
    (void)iterator_token_seal(ITERATOR_KIND_LIST_CONSUMERS, p, API_CONSUMERS_TOKEN_FIXED + len,
                              &key, out, API_NEXT_TOKEN_TEXT_MAX);
}

/* Fills pg from the request's NextToken, which must have been issued for
 * st; fails the call and returns false on a bad or expired token. */
static bool api_consumers_open(struct api_call *c,
                               const Eddy__Catalog *cat,
                               const Eddy__StreamInfo *st,
                               struct api_consumers_page *pg)
{
    const struct api_list_consumers_req *r = &c->req.list_consumers;
    struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    size_t n = 0;
    if (r->next_token_too_long ||
        iterator_token_open(ITERATOR_KIND_LIST_CONSUMERS, r->next_token, strlen(r->next_token),
                            &key, p, &n) != 0 ||
        n <= API_CONSUMERS_TOKEN_FIXED || p[24] > KIN_STREAM_NAME_LEN_MAX ||
        n != API_CONSUMERS_TOKEN_FIXED + (size_t)p[24] ||
        api_consumers_get_be(p + 8) != st->created_ms) {
        api_fail(c, API_EX_INVALID_ARGUMENT, "Invalid NextToken.");
        return false;
    }
    uint64_t issued = api_consumers_get_be(p);
    uint64_t now = api_now_ms();
    if (now > issued && now - issued > KIN_NEXT_TOKEN_TTL_MS) {
        api_fail(c, API_EX_EXPIRED_NEXT_TOKEN, "The NextToken has expired.");
        return false;
    }
    pg->has_after = true;
    pg->after_ms = api_consumers_get_be(p + 16);
    memcpy(pg->after_name, p + API_CONSUMERS_TOKEN_FIXED, p[24]);
    pg->after_name[p[24]] = '\0';
    return true;
}

static void api_list_consumers_on_stream(struct api_call *c,
                                         int status,
                                         const Eddy__Catalog *cat,
                                         const Eddy__StreamInfo *st)
{
    const struct api_list_consumers_req *r = &c->req.list_consumers;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    bool same = st != NULL &&
                (!r->has_created ||
                 (r->created_ms >= 0 && st->created_ms / 1000 == (uint64_t)r->created_ms / 1000));
    if (!same) {
        api_consumers_fail_stream_missing(c, r->stream);
        return;
    }
    struct api_consumers_page pg = {0};
    if (r->has_next_token && !api_consumers_open(c, cat, st, &pg)) {
        return;
    }
    const Eddy__ConsumerInfo *sorted[KIN_CONSUMERS_PER_STREAM_MAX];
    size_t n = st->n_consumers < EDDY_ARRAY_LEN(sorted) ? st->n_consumers : EDDY_ARRAY_LEN(sorted);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = st->consumers[i];
    }
    if (n > 1) {
        qsort(sorted, n, sizeof(*sorted), api_consumers_sort_cmp);
    }
    struct json_out o;
    api_out_init(c, &o, (API_CONSUMER_ARN_TEXT_MAX + 512) * (n + 1) + API_NEXT_TOKEN_TEXT_MAX);
    json_out_obj_begin(&o);
    json_out_key(&o, "Consumers");
    json_out_arr_begin(&o);
    size_t listed = 0;
    const Eddy__ConsumerInfo *last = NULL;
    bool more = false;
    for (size_t i = 0; i < n; i++) {
        if (pg.has_after && api_consumers_cmp(sorted[i], pg.after_ms, pg.after_name) <= 0) {
            continue;
        }
        if (listed == r->max_results) {
            more = true;
            break;
        }
        api_consumers_write(&o, &c->cfg, st->name, sorted[i], false);
        last = sorted[i];
        listed++;
    }
    json_out_arr_end(&o);
    if (more && last != NULL) {
        char token[API_NEXT_TOKEN_TEXT_MAX + 1];
        api_consumers_seal(cat, st, last, token);
        json_out_kv_cstr(&o, "NextToken", token);
    }
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

void api_list_consumers_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.list_consumers.stream, true, api_list_consumers_on_stream);
}
