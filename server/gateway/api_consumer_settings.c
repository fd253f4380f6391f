/*
 * Tags and resource policies of consumers (see api_consumer.h): what
 * TagResource, UntagResource, ListTagsForResource (api_resource_tags.c) and
 * Put/Get/DeleteResourcePolicy (api_policy.c) do when their ResourceARN
 * names a consumer. The checks follow the stream ones (api_tags.c,
 * api_policy.c) in AWS's order: the consumer is found, then the tags'
 * characters and count, then its status. The coordinator checks the change
 * again against its catalogue (catalog_consumer.h), so a change racing a
 * deregistration gets the same answers.
 */
#include "api_consumer.h"

#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"

#include <string.h>

/* A change in flight; a is borrowed from the call's request. Freed before
 * the call is answered. */
struct api_consumer_pending {
    struct api_call *call;
    const struct api_consumer_arn *a;
};

static void api_consumer_fail_tag_count(struct api_call *c, const struct api_consumer_arn *a)
{
    api_fail(c, API_EX_INVALID_ARGUMENT,
             "Failed to add tags to consumer %s under stream %s and account %s because a given "
             "consumer cannot have more than %d tags associated with it.",
             a->consumer, a->stream, c->cfg.account, API_TAGS_MAX);
}

static void
api_consumer_on_changed(void *arg, int status, const char *message, const Eddy__ConsumerResp *resp)
{
    (void)message;
    (void)resp;
    struct api_consumer_pending p = *(struct api_consumer_pending *)arg;
    eddy_free(arg);
    struct api_call *c = p.call;
    struct api_error e = {0};
    switch (status) {
    case 0:
        api_respond_empty(c);
        return;
    case -EDDY_ENOTFOUND: {
        Eddy__StreamInfo any = EDDY__STREAM_INFO__INIT; /* the consumer's text */
        api_consumer_error_not_found(&c->cfg, &any, p.a, &e);
        api_respond_error(c, &e);
        return;
    }
    case -EDDY_EINUSE:
        api_consumer_error_not_active(&c->cfg, p.a, &e);
        api_respond_error(c, &e);
        return;
    case -EDDY_EINVAL:
        api_consumer_fail_tag_count(c, p.a);
        return;
    case -EDDY_ELIMIT:
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "The tags and resource policies of all streams and consumers would exceed this "
                 "deployment's limit.");
        return;
    default:
        api_fail_code(c, status, NULL);
        return;
    }
}

/* Sends ch, filled with the consumer's names and incarnations here. */
static void api_consumer_send(struct api_call *c,
                              const Eddy__StreamInfo *st,
                              const Eddy__ConsumerInfo *ci,
                              const struct api_consumer_arn *a,
                              Eddy__ConsumerChange *ch)
{
    ch->stream = st->name;
    ch->stream_created_ms = st->created_ms;
    ch->name = ci->name;
    ch->consumer_created_ms = ci->created_ms;
    struct api_consumer_pending *p = eddy_xmalloc(sizeof(*p));
    *p = (struct api_consumer_pending){.call = c, .a = a};
    backend_consumer(c->ctx->backend, ch, api_consumer_on_changed, p);
}

/* The consumer a names in st, or NULL with the call answered. */
static const Eddy__ConsumerInfo *
api_consumer_found(struct api_call *c, const Eddy__StreamInfo *st, const struct api_consumer_arn *a)
{
    struct api_error e = {0};
    const Eddy__ConsumerInfo *ci = api_consumer_resolve(&c->cfg, st, a, &e);
    if (ci == NULL) {
        api_respond_error(c, &e);
    }
    return ci;
}

/* Whether ci has a tag of that key. */
static bool api_consumer_has_tag(const Eddy__ConsumerInfo *ci, const char *key)
{
    for (size_t i = 0; i < ci->n_tags; i++) {
        if (ci->tags[i] != NULL && ci->tags[i]->key != NULL && strcmp(ci->tags[i]->key, key) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- tags ---- */

void api_consumer_tag_resource(struct api_call *c,
                               const Eddy__StreamInfo *st,
                               const struct api_consumer_arn *a,
                               const cJSON *tags)
{
    const Eddy__ConsumerInfo *ci = api_consumer_found(c, st, a);
    if (ci == NULL || !api_tag_chars_ok(c, api_tag_map_chars(tags), a->stream, true)) {
        return;
    }
    struct api_tag in[API_TAG_MAP_MAX];
    size_t n = api_tag_map_collect(tags, in, API_TAG_MAP_MAX);
    size_t count = ci->n_tags + (n > API_TAG_MAP_MAX ? n - API_TAG_MAP_MAX : 0);
    for (size_t i = 0; i < n && i < API_TAG_MAP_MAX; i++) {
        count += !api_consumer_has_tag(ci, in[i].key);
    }
    if (count > API_TAGS_MAX) {
        api_consumer_fail_tag_count(c, a);
        return;
    }
    if (ci->status == EDDY__CONSUMER_STATUS__CONSUMER_DELETING) {
        struct api_error e = {0};
        api_consumer_error_not_active(&c->cfg, a, &e);
        api_respond_error(c, &e);
        return;
    }
    Eddy__Tag t[API_TAG_MAP_MAX];
    Eddy__Tag *ptrs[API_TAG_MAP_MAX];
    for (size_t i = 0; i < n; i++) {
        eddy__tag__init(&t[i]);
        t[i].key = (char *)in[i].key;
        t[i].value = (char *)in[i].value;
        ptrs[i] = &t[i];
    }
    Eddy__TagList list = EDDY__TAG_LIST__INIT;
    list.n_tags = n;
    list.tags = ptrs;
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_ADD_TAGS;
    ch.add_tags = &list;
    api_consumer_send(c, st, ci, a, &ch);
}

void api_consumer_untag_resource(struct api_call *c,
                                 const Eddy__StreamInfo *st,
                                 const struct api_consumer_arn *a,
                                 const cJSON *keys)
{
    const Eddy__ConsumerInfo *ci = api_consumer_found(c, st, a);
    if (ci == NULL || !api_tag_chars_ok(c, api_tag_keys_chars(keys), a->stream, false)) {
        return;
    }
    if (ci->status == EDDY__CONSUMER_STATUS__CONSUMER_DELETING) {
        struct api_error e = {0};
        api_consumer_error_not_active(&c->cfg, a, &e);
        api_respond_error(c, &e);
        return;
    }
    char *ptrs[API_TAG_KEYS_MAX];
    size_t n = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, keys)
    {
        if (n < API_TAG_KEYS_MAX && cJSON_IsString(item)) {
            ptrs[n++] = item->valuestring;
        }
    }
    Eddy__TagKeys list = EDDY__TAG_KEYS__INIT;
    list.n_keys = n;
    list.keys = ptrs;
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REMOVE_TAGS;
    ch.remove_tags = &list;
    api_consumer_send(c, st, ci, a, &ch);
}

void api_consumer_list_tags(struct api_call *c,
                            const Eddy__StreamInfo *st,
                            const struct api_consumer_arn *a)
{
    const Eddy__ConsumerInfo *ci = api_consumer_found(c, st, a);
    if (ci == NULL) {
        return;
    }
    struct json_out o;
    api_out_init(c, &o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    bool more;
    api_write_tag_list(&o, ci->tags, ci->n_tags, NULL, ci->n_tags, &more);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

/* ---- policies ---- */

/* The consumer a names, ACTIVE, or NULL with the call answered. */
static const Eddy__ConsumerInfo *api_consumer_active(struct api_call *c,
                                                     const Eddy__StreamInfo *st,
                                                     const struct api_consumer_arn *a)
{
    const Eddy__ConsumerInfo *ci = api_consumer_found(c, st, a);
    if (ci != NULL && ci->status != EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE) {
        struct api_error e = {0};
        api_consumer_error_not_active(&c->cfg, a, &e);
        api_respond_error(c, &e);
        return NULL;
    }
    return ci;
}

void api_consumer_put_policy(struct api_call *c,
                             const Eddy__StreamInfo *st,
                             const struct api_consumer_arn *a,
                             const char *policy)
{
    const Eddy__ConsumerInfo *ci = api_consumer_active(c, st, a);
    if (ci == NULL) {
        return;
    }
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_PUT_POLICY;
    ch.put_policy = (char *)policy;
    api_consumer_send(c, st, ci, a, &ch);
}

void api_consumer_get_policy(struct api_call *c,
                             const Eddy__StreamInfo *st,
                             const struct api_consumer_arn *a)
{
    const Eddy__ConsumerInfo *ci = api_consumer_found(c, st, a);
    if (ci == NULL) {
        return;
    }
    const char *policy = ci->policy != NULL && ci->policy[0] != '\0' ? ci->policy : "{}";
    struct json_out o;
    api_out_init(c, &o, API_RESOURCE_POLICY_BYTES_MAX * 6 + 64);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "Policy", policy);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

void api_consumer_delete_policy(struct api_call *c,
                                const Eddy__StreamInfo *st,
                                const struct api_consumer_arn *a)
{
    const Eddy__ConsumerInfo *ci = api_consumer_active(c, st, a);
    if (ci == NULL) {
        return;
    }
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_DELETE_POLICY;
    ch.delete_policy = true;
    api_consumer_send(c, st, ci, a, &ch);
}
