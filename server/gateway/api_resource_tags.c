/*
 * TagResource, UntagResource, ListTagsForResource: ResourceARN (required,
 * arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+) naming a stream or a consumer of
 * one, and Tags or TagKeys. On a stream they do what AddTagsToStream,
 * RemoveTagsFromStream and ListTagsForStream do (api_tags.c), with the same
 * checks and texts; on a consumer (.../stream/S/consumer/C:EPOCH) they
 * change or list the consumer's own tags (api_consumer_settings.c). An ARN
 * of another region or account names nothing here. ListTagsForResource
 * lists every tag, in key order.
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

/* ResourceARN: not null, the pattern, the length. */
static void api_resource_validate_arn(struct validation *v, const struct json_str *arn)
{
    validation_not_null(v, "resourceARN", arn->present);
    if (arn->present && !api_resource_arn_match(arn->ptr, arn->len)) {
        validation_add(v, arn->ptr, arn->len, "resourceARN",
                       "Member must satisfy regular expression pattern: "
                       "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+");
    }
    validation_length(v, "resourceARN", arn, 1, KIN_STREAM_ARN_LEN_MAX);
}

enum api_resource_items { API_RESOURCE_NONE, API_RESOURCE_TAGS, API_RESOURCE_KEYS };

static int api_resource_decode(const cJSON *root,
                               const struct api_config *cfg,
                               enum api_resource_items what,
                               struct api_resource_tags_req *r,
                               struct api_error *e)
{
    struct json_str arn;
    struct json_str id;
    const cJSON *items = NULL;
    int rv = json_get_str(root, "ResourceARN", &arn, e);
    if (rv == 0 && what == API_RESOURCE_TAGS) {
        rv = api_tag_map_get(root, "Tags", &items, e);
    }
    if (rv == 0 && what == API_RESOURCE_KEYS) {
        rv = api_tag_keys_get(root, "TagKeys", &items, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    api_resource_validate_arn(&v, &arn);
    if (what == API_RESOURCE_TAGS) {
        validation_not_null(&v, "tags", items != NULL);
        api_tag_map_validate(&v, "tags", items);
    } else if (what == API_RESOURCE_KEYS) {
        validation_not_null(&v, "tagKeys", items != NULL);
        api_tag_keys_validate(&v, "tagKeys", items);
    }
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    r->tags = what == API_RESOURCE_TAGS ? items : NULL;
    r->keys = what == API_RESOURCE_KEYS ? items : NULL;
    return api_resolve_resource(cfg, &arn, &r->res, e);
}

int api_tag_resource_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_resource_tags_req *r,
                            struct api_error *e)
{
    return api_resource_decode(root, cfg, API_RESOURCE_TAGS, r, e);
}

int api_untag_resource_decode(const cJSON *root,
                              const struct api_config *cfg,
                              struct api_resource_tags_req *r,
                              struct api_error *e)
{
    return api_resource_decode(root, cfg, API_RESOURCE_KEYS, r, e);
}

int api_list_tags_for_resource_decode(const cJSON *root,
                                      const struct api_config *cfg,
                                      struct api_resource_tags_req *r,
                                      struct api_error *e)
{
    return api_resource_decode(root, cfg, API_RESOURCE_NONE, r, e);
}

/* The stream lookup every resource action starts with: false when the
 * call was answered (a lookup failure), or handed to the consumer action
 * (a consumer ARN). */
static bool api_resource_found(struct api_call *c, int status, const Eddy__StreamInfo *st)
{
    const struct api_resource_tags_req *r = &c->req.resource_tags;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return false;
    }
    if (!r->res.consumer) {
        return true;
    }
    switch (c->op) {
    case API_OP_TAG_RESOURCE:
        api_consumer_tag_resource(c, st, &r->res.cons, r->tags);
        break;
    case API_OP_UNTAG_RESOURCE:
        api_consumer_untag_resource(c, st, &r->res.cons, r->keys);
        break;
    default:
        api_consumer_list_tags(c, st, &r->res.cons);
        break;
    }
    return false;
}

static void api_tag_resource_on_stream(struct api_call *c,
                                       int status,
                                       const Eddy__Catalog *cat,
                                       const Eddy__StreamInfo *st)
{
    (void)cat;
    const struct api_resource_tags_req *r = &c->req.resource_tags;
    if (api_resource_found(c, status, st)) {
        api_tags_add(c, r->res.stream, st, r->tags);
    }
}

static void api_untag_resource_on_stream(struct api_call *c,
                                         int status,
                                         const Eddy__Catalog *cat,
                                         const Eddy__StreamInfo *st)
{
    (void)cat;
    const struct api_resource_tags_req *r = &c->req.resource_tags;
    if (api_resource_found(c, status, st)) {
        api_tags_remove(c, r->res.stream, st, r->keys);
    }
}

static void api_list_tags_for_resource_on_stream(struct api_call *c,
                                                 int status,
                                                 const Eddy__Catalog *cat,
                                                 const Eddy__StreamInfo *st)
{
    (void)cat;
    const struct api_resource_tags_req *r = &c->req.resource_tags;
    if (!api_resource_found(c, status, st)) {
        return;
    }
    if (st == NULL) {
        (void)api_meta_require_status(c, r->res.stream, NULL, true); /* not found */
        return;
    }
    struct json_out o;
    api_out_init(c, &o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    bool more;
    api_write_tags(&o, st, NULL, st->n_tags, &more);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

void api_tag_resource_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.resource_tags.res.stream, true, api_tag_resource_on_stream);
}

void api_untag_resource_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.resource_tags.res.stream, true, api_untag_resource_on_stream);
}

void api_list_tags_for_resource_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.resource_tags.res.stream, true,
                      api_list_tags_for_resource_on_stream);
}
