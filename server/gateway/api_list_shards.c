/*
 * ListShards: StreamName or StreamARN, or a NextToken alone; MaxResults
 * (1..10000, default 1000, at most 1000 returned), ExclusiveStartShardId,
 * StreamCreationTimestamp, ShardFilter. Answers Shards in id order and a
 * NextToken (signed, expiring after 300 s) when there are more.
 *
 * ShardFilter over each shard's open time: from its parent's closed_ms (a
 * child opens as its parent closes) or the stream's creation, to its own
 * closed_ms or now. TH is the trim horizon (api_retention_horizon_ms), not
 * before the stream's creation; expired shards are never listed:
 *   AFTER_SHARD_ID     shards after ShardId
 *   AT_TRIM_HORIZON    shards open at TH
 *   FROM_TRIM_HORIZON  every shard (the default)
 *   AT_LATEST          open shards
 *   AT_TIMESTAMP       shards open at Timestamp (TH when earlier)
 *   FROM_TIMESTAMP     open shards, and closed ones that closed at or after
 *                      Timestamp (TH when earlier)
 * A begun reshard's children are not listed until it finishes
 * (api_visible_shard_count).
 *
 * NextToken payload: u64 issued_ms, u64 stream created_ms, u32 last shard
 * index returned, u8 filter, u64 filter timestamp, u8 name length, name.
 */
#include "api.h"

#include "backend.h"
#include "iterator.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <string.h>

#define API_LIST_SHARDS_TOKEN_FIXED 30

static const char *const api_list_shards_filters[] = {
    "AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON",
    "AT_LATEST",      "AT_TIMESTAMP",    "FROM_TIMESTAMP",
};

/* The request's shape rules beyond the model (InvalidArgumentException). */
static int api_list_shards_exclusive(const struct json_str *name,
                                     const struct json_str *arn,
                                     const struct json_str *token,
                                     const struct json_str *start,
                                     const struct json_timestamp *created,
                                     bool has_filter,
                                     struct api_error *e)
{
    if (token->present) {
        /* The token carries the filter too: AWS refuses a second one
         * ("NextToken and ShardFilter cannot be provided together.",
         * apache/beam#33478). */
        const char *other = name->present      ? "StreamName"
                            : arn->present     ? "StreamARN"
                            : start->present   ? "ExclusiveStartShardId"
                            : created->present ? "StreamCreationTimestamp"
                            : has_filter       ? "ShardFilter"
                                               : NULL;
        if (other != NULL) {
            api_error_set(e, API_EX_INVALID_ARGUMENT,
                          "NextToken and %s cannot be provided together.", other);
            return -EDDY_EINVAL;
        }
        return 0;
    }
    if (!name->present && !arn->present) {
        api_error_set(e, API_EX_INVALID_ARGUMENT,
                      "Either NextToken or StreamName should be provided.");
        return -EDDY_EINVAL;
    }
    return 0;
}

static int api_list_shards_read(const cJSON *root,
                                struct json_str *name,
                                struct json_str *arn,
                                struct json_str *token,
                                struct json_str *start,
                                struct json_int *max,
                                struct json_timestamp *created,
                                struct api_error *e)
{
    struct json_str id;
    int rv = json_get_str(root, "StreamName", name, e);
    if (rv == 0) {
        rv = json_get_str(root, "NextToken", token, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "ExclusiveStartShardId", start, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "MaxResults", max, e);
    }
    if (rv == 0) {
        rv = json_get_timestamp(root, "StreamCreationTimestamp", created, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamARN", arn, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    return rv;
}

int api_list_shards_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_list_shards_req *r,
                           struct api_error *e)
{
    struct json_str name, arn, token, start;
    struct json_str f_type = {0}, f_shard = {0};
    struct json_timestamp created, f_ts = {0};
    struct json_int max;
    const cJSON *filter = NULL;
    int rv = api_list_shards_read(root, &name, &arn, &token, &start, &max, &created, e);
    if (rv == 0) {
        rv = json_get_struct(root, "ShardFilter", &filter, e);
    }
    if (rv == 0 && filter != NULL) {
        rv = json_get_str(filter, "Type", &f_type, e);
        if (rv == 0) {
            rv = json_get_str(filter, "ShardId", &f_shard, e);
        }
        if (rv == 0) {
            rv = json_get_timestamp(filter, "Timestamp", &f_ts, e);
        }
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_pattern(&v, "exclusiveStartShardId", &start, JSON_PATTERN_NAME);
    validation_length(&v, "exclusiveStartShardId", &start, 1, KIN_SHARD_ID_LEN_MAX);
    validation_range(&v, "maxResults", &max, 1, KIN_LIST_SHARDS_MAX_RESULTS_MAX);
    validation_length(&v, "nextToken", &token, 1, KIN_NEXT_TOKEN_LEN_MAX);
    validation_stream_name(&v, "streamName", &name);
    if (filter != NULL) {
        validation_not_null(&v, "shardFilter.type", f_type.present);
        validation_enum(&v, "shardFilter.type", &f_type, api_list_shards_filters,
                        EDDY_ARRAY_LEN(api_list_shards_filters));
        validation_pattern(&v, "shardFilter.shardId", &f_shard, JSON_PATTERN_NAME);
        validation_length(&v, "shardFilter.shardId", &f_shard, 1, KIN_SHARD_ID_LEN_MAX);
    }
    validation_stream_arn(&v, "streamARN", &arn);
    rv = validation_finish(&v, e);
    if (rv == 0) {
        rv = api_list_shards_exclusive(&name, &arn, &token, &start, &created, filter != NULL, e);
    }
    if (rv != 0) {
        return rv;
    }
    if (filter != NULL) {
        r->filter =
            (enum api_shard_filter)(json_enum_index(&f_type, api_list_shards_filters,
                                                    EDDY_ARRAY_LEN(api_list_shards_filters)) +
                                    1);
        if (r->filter == API_SHARD_FILTER_AFTER_SHARD_ID && !f_shard.present) {
            api_error_set(e, API_EX_INVALID_ARGUMENT,
                          "ShardId must be provided in ShardFilter with Type AFTER_SHARD_ID.");
            return -EDDY_EINVAL;
        }
        if ((r->filter == API_SHARD_FILTER_AT_TIMESTAMP ||
             r->filter == API_SHARD_FILTER_FROM_TIMESTAMP) &&
            !f_ts.present) {
            api_error_set(e, API_EX_INVALID_ARGUMENT,
                          "Timestamp must be provided in ShardFilter with Type %s.",
                          api_list_shards_filters[r->filter - 1]);
            return -EDDY_EINVAL;
        }
        if (f_shard.present) {
            json_copy(r->filter_shard_id, sizeof(r->filter_shard_id), f_shard.ptr, f_shard.len);
        }
        r->filter_has_timestamp = f_ts.present;
        r->filter_timestamp_ms = f_ts.ms;
    }
    r->has_max_results = max.present;
    r->max_results = max.present ? (uint32_t)max.value : KIN_LIST_SHARDS_MAX_RESULTS_DEFAULT;
    if (r->max_results > API_LIST_SHARDS_RESULTS_MAX) {
        r->max_results = API_LIST_SHARDS_RESULTS_MAX;
    }
    r->has_start = start.present;
    if (start.present) {
        json_copy(r->start_shard_id, sizeof(r->start_shard_id), start.ptr, start.len);
    }
    r->has_created = created.present;
    r->created_ms = created.ms;
    r->has_next_token = token.present;
    if (token.present) {
        r->next_token_too_long = token.len > API_NEXT_TOKEN_TEXT_MAX;
        if (!r->next_token_too_long) {
            json_copy(r->next_token, sizeof(r->next_token), token.ptr, token.len);
        }
        return 0;
    }
    return api_resolve_stream(cfg, &name, &arn, r->name, e);
}

/* Where listing resumes and under which filter. */
struct api_list_shards_page {
    const char *name;
    uint64_t created_ms; /* 0: any incarnation */
    bool has_after;
    uint32_t after; /* shard index: list only later shards */
    enum api_shard_filter filter;
    int64_t filter_ts_ms;
};

static void api_put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t api_get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static size_t api_list_shards_seal(const Eddy__Catalog *cat,
                                   const struct api_list_shards_page *pg,
                                   uint32_t last,
                                   char *out)
{
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    size_t len = strlen(pg->name);
    api_put_be(p, api_now_ms(), 8);
    api_put_be(p + 8, pg->created_ms, 8);
    api_put_be(p + 16, last, 4);
    p[20] = (uint8_t)pg->filter;
    api_put_be(p + 21, (uint64_t)pg->filter_ts_ms, 8);
    p[29] = (uint8_t)len;
    memcpy(p + API_LIST_SHARDS_TOKEN_FIXED, pg->name, len);
    struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
    return iterator_token_seal(ITERATOR_KIND_LIST_SHARDS, p, API_LIST_SHARDS_TOKEN_FIXED + len,
                               &key, out, API_NEXT_TOKEN_TEXT_MAX);
}

/* Fills pg from the request's NextToken; fails the call and returns -1 on a
 * bad or expired token. name points into buf. */
static int api_list_shards_open(struct api_call *c,
                                const Eddy__Catalog *cat,
                                struct api_list_shards_page *pg,
                                char *buf)
{
    const struct api_list_shards_req *r = &c->req.list_shards;
    struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    size_t n = 0;
    if (r->next_token_too_long ||
        iterator_token_open(ITERATOR_KIND_LIST_SHARDS, r->next_token, strlen(r->next_token), &key,
                            p, &n) != 0 ||
        n <= API_LIST_SHARDS_TOKEN_FIXED || p[29] > KIN_STREAM_NAME_LEN_MAX ||
        n != API_LIST_SHARDS_TOKEN_FIXED + (size_t)p[29] ||
        p[20] > API_SHARD_FILTER_FROM_TIMESTAMP) {
        api_fail(c, API_EX_INVALID_ARGUMENT, "Invalid NextToken.");
        return -1;
    }
    uint64_t issued = api_get_be(p, 8);
    uint64_t now = api_now_ms();
    if (now > issued && now - issued > KIN_NEXT_TOKEN_TTL_MS) {
        api_fail(c, API_EX_EXPIRED_NEXT_TOKEN, "The NextToken has expired.");
        return -1;
    }
    memcpy(buf, p + API_LIST_SHARDS_TOKEN_FIXED, p[29]);
    buf[p[29]] = '\0';
    pg->name = buf;
    pg->created_ms = api_get_be(p + 8, 8);
    pg->has_after = true;
    pg->after = (uint32_t)api_get_be(p + 16, 4);
    pg->filter = (enum api_shard_filter)p[20];
    pg->filter_ts_ms = (int64_t)api_get_be(p + 21, 8);
    if (r->filter != API_SHARD_FILTER_NONE) {
        pg->filter = r->filter;
        pg->filter_ts_ms = r->filter_timestamp_ms;
    }
    return 0;
}

/* When sh opened: as its parent closed, or with the stream. */
static uint64_t api_list_shards_opened_ms(const Eddy__StreamInfo *st, const Eddy__ShardInfo *sh)
{
    const Eddy__ShardInfo *p =
        sh->parent >= 0 && (uint64_t)sh->parent < st->n_shards ? st->shards[sh->parent] : NULL;
    if (p == NULL || p->index != (uint64_t)sh->parent || p->closed_ms == 0) {
        return st->created_ms;
    }
    return p->closed_ms;
}

/* Whether sh was open at t_ms. */
static bool
api_list_shards_open_at(const Eddy__StreamInfo *st, const Eddy__ShardInfo *sh, uint64_t t_ms)
{
    if (api_list_shards_opened_ms(st, sh) > t_ms) {
        return false;
    }
    return api_shard_is_open(sh) || sh->closed_ms == 0 || sh->closed_ms >= t_ms;
}

static bool api_list_shards_keep(const struct api_list_shards_req *r,
                                 const struct api_list_shards_page *pg,
                                 const Eddy__StreamInfo *st,
                                 const Eddy__ShardInfo *sh,
                                 uint64_t horizon_ms)
{
    char id[API_SHARD_ID_TEXT_MAX];
    api_shard_id(sh->index, id);
    if (pg->has_after && sh->index <= pg->after) {
        return false;
    }
    if (r->has_start && strcmp(id, r->start_shard_id) <= 0) {
        return false;
    }
    switch (pg->filter) {
    case API_SHARD_FILTER_AFTER_SHARD_ID:
        return r->filter_shard_id[0] == '\0' || strcmp(id, r->filter_shard_id) > 0;
    case API_SHARD_FILTER_AT_TRIM_HORIZON:
        return api_list_shards_open_at(st, sh, horizon_ms);
    case API_SHARD_FILTER_AT_LATEST:
        return api_shard_is_open(sh);
    case API_SHARD_FILTER_AT_TIMESTAMP:
    case API_SHARD_FILTER_FROM_TIMESTAMP: {
        uint64_t t_ms =
            pg->filter_ts_ms > (int64_t)horizon_ms ? (uint64_t)pg->filter_ts_ms : horizon_ms;
        if (pg->filter == API_SHARD_FILTER_AT_TIMESTAMP) {
            return api_list_shards_open_at(st, sh, t_ms);
        }
        return api_shard_is_open(sh) || sh->closed_ms == 0 || sh->closed_ms >= t_ms;
    }
    default:
        return true;
    }
}

static void api_list_shards_write(struct api_call *c,
                                  const Eddy__Catalog *cat,
                                  const Eddy__StreamInfo *st,
                                  struct api_list_shards_page *pg)
{
    const struct api_list_shards_req *r = &c->req.list_shards;
    struct json_out o;
    json_out_init(&o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    json_out_key(&o, "Shards");
    json_out_arr_begin(&o);
    uint32_t shown = 0;
    uint32_t last = 0;
    bool more = false;
    uint64_t now_ms = api_now_ms();
    uint64_t horizon_ms = api_retention_horizon_ms(&c->cfg, st, now_ms);
    if (horizon_ms < st->created_ms) {
        horizon_ms = st->created_ms;
    }
    size_t visible = api_visible_shard_count(st);
    for (size_t i = 0; i < visible; i++) {
        const Eddy__ShardInfo *sh = st->shards[i];
        if (!api_list_shards_keep(r, pg, st, sh, horizon_ms) ||
            api_shard_is_expired(&c->cfg, st, sh, now_ms)) {
            continue;
        }
        if (shown == r->max_results) {
            more = true;
            break;
        }
        api_write_shard(&o, sh);
        last = sh->index;
        shown++;
    }
    json_out_arr_end(&o);
    if (more) {
        char token[API_NEXT_TOKEN_TEXT_MAX + 1];
        pg->created_ms = st->created_ms;
        api_list_shards_seal(cat, pg, last, token);
        json_out_kv_cstr(&o, "NextToken", token);
    }
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

static void api_list_shards_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_call *c = arg;
    const struct api_list_shards_req *r = &c->req.list_shards;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    char name[API_NAME_TEXT_MAX];
    struct api_list_shards_page pg = {
        .name = r->name, .filter = r->filter, .filter_ts_ms = r->filter_timestamp_ms};
    if (r->has_next_token && api_list_shards_open(c, cat, &pg, name) != 0) {
        return;
    }
    const Eddy__StreamInfo *st = api_find_stream(cat, pg.name);
    bool same = st != NULL && (pg.created_ms == 0 || st->created_ms == pg.created_ms);
    if (same && r->has_created) {
        /* Clients send seconds; compare at that precision. */
        same = r->created_ms >= 0 && st->created_ms / 1000 == (uint64_t)r->created_ms / 1000;
    }
    if (!same) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", pg.name,
                 c->cfg.account);
        return;
    }
    if (st->status == EDDY__STREAM_STATUS__STREAM_CREATING) {
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "Stream %s under account %s not ACTIVE, instead in state CREATING", pg.name,
                 c->cfg.account);
        return;
    }
    api_list_shards_write(c, cat, st, &pg);
}

void api_list_shards_run(struct api_call *c)
{
    backend_catalog(c->ctx->backend, true, api_list_shards_on_catalog, c);
}
