/*
 * AddTagsToStream, RemoveTagsFromStream, ListTagsForStream: StreamName or
 * StreamARN, and Tags (a map of up to 200 entries), TagKeys (1..50 keys), or
 * Limit (1..50) and ExclusiveStartTagKey.
 *
 * A change is checked in AWS's order after the stream is found: the tags'
 * characters, then at most 50 tags on the stream (InvalidArgumentException,
 * "cannot have more than 50 tags"), then the stream's status (ACTIVE or
 * UPDATING; ResourceInUseException otherwise). The coordinator applies the
 * same rules again (catalog_update.h), so a change racing another one gets
 * the same answers. Both answer 200 with an empty body; a stream keeps its
 * status. ListTagsForStream lists the tags in key order after
 * ExclusiveStartTagKey (which need not be a key the stream has), whatever
 * the stream's status, with HasMoreTags.
 */
#include "api.h"

#include "backend.h"

#include "eddy/errors.h"

#include <string.h>

/* ---- decoding ---- */

/* StreamName, StreamARN, StreamId and one collection member (Tags or
 * TagKeys) of the two changes. */
static int api_tags_decode(const cJSON *root,
                           const struct api_config *cfg,
                           bool adding,
                           struct api_stream_tags_req *r,
                           struct api_error *e)
{
    struct api_stream_input in;
    const cJSON *items = NULL;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = adding ? api_tag_map_get(root, "Tags", &items, e)
                    : api_tag_keys_get(root, "TagKeys", &items, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    if (adding) {
        validation_not_null(&in.v, "tags", items != NULL);
        api_tag_map_validate(&in.v, "tags", items);
    } else {
        validation_not_null(&in.v, "tagKeys", items != NULL);
        api_tag_keys_validate(&in.v, "tagKeys", items);
    }
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    r->tags = adding ? items : NULL;
    r->keys = adding ? NULL : items;
    return api_stream_input_resolve(cfg, &in, r->name, e);
}

int api_add_tags_to_stream_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_stream_tags_req *r,
                                  struct api_error *e)
{
    return api_tags_decode(root, cfg, true, r, e);
}

int api_remove_tags_from_stream_decode(const cJSON *root,
                                       const struct api_config *cfg,
                                       struct api_stream_tags_req *r,
                                       struct api_error *e)
{
    return api_tags_decode(root, cfg, false, r, e);
}

int api_list_tags_for_stream_decode(const cJSON *root,
                                    const struct api_config *cfg,
                                    struct api_list_tags_for_stream_req *r,
                                    struct api_error *e)
{
    struct api_stream_input in;
    struct json_str start;
    struct json_int limit;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_str(root, "ExclusiveStartTagKey", &start, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "Limit", &limit, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_range(&in.v, "limit", &limit, 1, API_LIST_TAGS_LIMIT_MAX);
    validation_length(&in.v, "exclusiveStartTagKey", &start, 1, API_TAG_KEY_LEN_MAX);
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    r->limit = limit.present ? (uint32_t)limit.value : API_LIST_TAGS_LIMIT_MAX;
    r->start = start.present ? start.ptr : NULL;
    return api_stream_input_resolve(cfg, &in, r->name, e);
}

/* ---- the changes ---- */

/* A bare -EDDY_EINVAL from the coordinator for an add: the tag limit (the
 * only argument it judges against the stream). */
static void
api_tags_on_add_invalid(struct api_call *c, const char *name, const Eddy__StreamInfo *st)
{
    (void)st;
    api_fail(c, API_EX_INVALID_ARGUMENT,
             "Failed to add tags to stream %s under account %s because a given stream cannot "
             "have more than %d tags associated with it.",
             name, c->cfg.account, API_TAGS_MAX);
}

/* The tags of map into t and ptrs (API_TAG_MAP_MAX each), borrowed from
 * the document; returns how many. */
static size_t api_tags_fill(const cJSON *map, Eddy__Tag *t, Eddy__Tag **ptrs)
{
    struct api_tag in[API_TAG_MAP_MAX];
    size_t n = api_tag_map_collect(map, in, API_TAG_MAP_MAX);
    if (n > API_TAG_MAP_MAX) {
        n = API_TAG_MAP_MAX; /* validated: cannot happen */
    }
    for (size_t i = 0; i < n; i++) {
        eddy__tag__init(&t[i]);
        t[i].key = (char *)in[i].key;
        t[i].value = (char *)in[i].value;
        ptrs[i] = &t[i];
    }
    return n;
}

void api_tags_create_stream(struct api_call *c,
                            Eddy__CreateStreamReq *req,
                            const cJSON *map,
                            void (*done)(void *arg, int status, const char *message))
{
    Eddy__Tag t[API_TAG_MAP_MAX];
    Eddy__Tag *ptrs[API_TAG_MAP_MAX];
    if (map != NULL) {
        if (!api_tag_chars_ok(c, api_tag_map_chars(map), req->name, true) ||
            !api_tag_count_ok(c, NULL, req->name, map)) {
            return;
        }
        req->n_tags = api_tags_fill(map, t, ptrs);
        req->tags = ptrs;
    }
    backend_create_stream(c->ctx->backend, req, done, c);
}

void api_tags_add(struct api_call *c,
                  const char *name,
                  const Eddy__StreamInfo *st,
                  const cJSON *tags)
{
    if (st == NULL) {
        (void)api_meta_require_status(c, name, NULL, true); /* not found */
        return;
    }
    if (!api_tag_chars_ok(c, api_tag_map_chars(tags), name, true) ||
        !api_tag_count_ok(c, st, name, tags) || !api_meta_require_status(c, name, st, true)) {
        return;
    }
    Eddy__Tag t[API_TAG_MAP_MAX];
    Eddy__Tag *ptrs[API_TAG_MAP_MAX];
    Eddy__TagList list = EDDY__TAG_LIST__INIT;
    list.n_tags = api_tags_fill(tags, t, ptrs);
    list.tags = ptrs;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)name;
    u.created_ms = st->created_ms;
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_ADD_TAGS;
    u.add_tags = &list;
    api_meta_update(c, name, &u, true, api_tags_on_add_invalid);
}

void api_tags_remove(struct api_call *c,
                     const char *name,
                     const Eddy__StreamInfo *st,
                     const cJSON *keys)
{
    if (st == NULL) {
        (void)api_meta_require_status(c, name, NULL, true);
        return;
    }
    if (!api_tag_chars_ok(c, api_tag_keys_chars(keys), name, false) ||
        !api_meta_require_status(c, name, st, true)) {
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
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)name;
    u.created_ms = st->created_ms;
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_REMOVE_TAGS;
    u.remove_tags = &list;
    api_meta_update(c, name, &u, true, NULL);
}

static void api_add_tags_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_stream_tags_req *r = &c->req.stream_tags;
    api_tags_add(c, r->name, st, r->tags);
}

static void api_remove_tags_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_stream_tags_req *r = &c->req.stream_tags;
    api_tags_remove(c, r->name, st, r->keys);
}

void api_add_tags_to_stream_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.stream_tags.name, true, api_add_tags_on_stream);
}

void api_remove_tags_from_stream_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.stream_tags.name, true, api_remove_tags_on_stream);
}

/* ---- listing ---- */

void api_write_tags(
    struct json_out *o, const Eddy__StreamInfo *st, const char *start, size_t limit, bool *more)
{
    api_write_tag_list(o, st->tags, st->n_tags, start, limit, more);
}

void api_write_tag_list(struct json_out *o,
                        Eddy__Tag *const *tags,
                        size_t n,
                        const char *start,
                        size_t limit,
                        bool *more)
{
    json_out_key(o, "Tags");
    json_out_arr_begin(o);
    size_t written = 0;
    *more = false;
    for (size_t i = 0; i < n; i++) {
        const Eddy__Tag *t = tags[i];
        if (t == NULL || t->key == NULL || (start != NULL && strcmp(t->key, start) <= 0)) {
            continue;
        }
        if (written == limit) {
            *more = true;
            break;
        }
        json_out_obj_begin(o);
        json_out_kv_cstr(o, "Key", t->key);
        json_out_kv_cstr(o, "Value", t->value != NULL ? t->value : "");
        json_out_obj_end(o);
        written++;
    }
    json_out_arr_end(o);
}

static void api_list_tags_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_list_tags_for_stream_req *r = &c->req.list_tags_for_stream;
    if (st == NULL) {
        (void)api_meta_require_status(c, r->name, NULL, true);
        return;
    }
    struct json_out o;
    api_out_init(c, &o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    bool more;
    api_write_tags(&o, st, r->start, r->limit, &more);
    json_out_kv_bool(&o, "HasMoreTags", more);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

void api_list_tags_for_stream_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.list_tags_for_stream.name, true, api_list_tags_on_stream);
}
