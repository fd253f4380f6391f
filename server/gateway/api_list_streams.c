/*
 * ListStreams: Limit (1..10000, default 100, at most 100 returned),
 * ExclusiveStartStreamName, NextToken. Answers StreamNames and
 * StreamSummaries in name order, HasMoreStreams, and a NextToken (signed,
 * expiring after 300 s, see iterator.h) when there are more.
 *
 * NextToken payload: u64 issued_ms, u8 name length, the last name returned.
 */
#include "api.h"

#include "backend.h"
#include "iterator.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <stdlib.h>
#include <string.h>

int api_list_streams_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_list_streams_req *r,
                            struct api_error *e)
{
    (void)cfg;
    struct json_int limit;
    struct json_str start;
    struct json_str token;
    int rv = json_get_int(root, "Limit", &limit, e);
    if (rv == 0) {
        rv = json_get_str(root, "ExclusiveStartStreamName", &start, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "NextToken", &token, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_range(&v, "limit", &limit, 1, KIN_LIST_STREAMS_LIMIT_MAX);
    validation_stream_name(&v, "exclusiveStartStreamName", &start);
    validation_length(&v, "nextToken", &token, 1, KIN_NEXT_TOKEN_LEN_MAX);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    r->limit = limit.present ? (uint32_t)limit.value : KIN_LIST_STREAMS_LIMIT_DEFAULT;
    if (r->limit > API_LIST_STREAMS_RESULTS_MAX) {
        r->limit = API_LIST_STREAMS_RESULTS_MAX;
    }
    r->has_start = start.present;
    if (start.present) {
        json_copy(r->start_name, sizeof(r->start_name), start.ptr, start.len);
    }
    r->has_next_token = token.present;
    r->next_token_too_long = token.present && token.len > API_NEXT_TOKEN_TEXT_MAX;
    if (token.present && !r->next_token_too_long) {
        json_copy(r->next_token, sizeof(r->next_token), token.ptr, token.len);
    }
    return 0;
}

static int api_list_streams_cmp(const void *a, const void *b)
{
    const Eddy__StreamInfo *x = *(const Eddy__StreamInfo *const *)a;
    const Eddy__StreamInfo *y = *(const Eddy__StreamInfo *const *)b;
    return strcmp(x->name, y->name);
}

/* Reads the NextToken into after (the last name of the previous page).
 * Returns 0 or fails the call and returns -1. */
static int api_list_streams_open_token(struct api_call *c, const Eddy__Catalog *cat, char *after)
{
    const struct api_list_streams_req *r = &c->req.list_streams;
    struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    size_t n = 0;
    if (r->next_token_too_long ||
        iterator_token_open(ITERATOR_KIND_LIST_STREAMS, r->next_token, strlen(r->next_token), &key,
                            p, &n) != 0 ||
        n < 9 || n != 9 + (size_t)p[8] || p[8] > KIN_STREAM_NAME_LEN_MAX) {
        api_fail(c, API_EX_INVALID_ARGUMENT, "Invalid NextToken.");
        return -1;
    }
    uint64_t issued = 0;
    for (int i = 0; i < 8; i++) {
        issued = (issued << 8) | p[i];
    }
    uint64_t now = api_now_ms();
    if (now > issued && now - issued > KIN_NEXT_TOKEN_TTL_MS) {
        api_fail(c, API_EX_EXPIRED_NEXT_TOKEN, "The NextToken has expired.");
        return -1;
    }
    memcpy(after, p + 9, p[8]);
    after[p[8]] = '\0';
    return 0;
}

static size_t api_list_streams_seal(const Eddy__Catalog *cat, const char *last, char *out)
{
    uint8_t p[ITERATOR_PAYLOAD_MAX];
    uint64_t now = api_now_ms();
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)now;
        now >>= 8;
    }
    size_t len = strlen(last);
    p[8] = (uint8_t)len;
    memcpy(p + 9, last, len);
    struct iterator_key key = {cat->iterator_key.data, cat->iterator_key.len};
    return iterator_token_seal(ITERATOR_KIND_LIST_STREAMS, p, 9 + len, &key, out,
                               API_NEXT_TOKEN_TEXT_MAX);
}

static void api_list_streams_write(struct api_call *c,
                                   const Eddy__Catalog *cat,
                                   const Eddy__StreamInfo **sorted,
                                   size_t first,
                                   size_t count,
                                   bool more)
{
    struct json_out o;
    json_out_init(&o, API_RESPONSE_BYTES_MAX);
    json_out_obj_begin(&o);
    json_out_key(&o, "StreamNames");
    json_out_arr_begin(&o);
    for (size_t i = first; i < first + count; i++) {
        json_out_cstr(&o, sorted[i]->name);
    }
    json_out_arr_end(&o);
    json_out_kv_bool(&o, "HasMoreStreams", more);
    if (more && count > 0) {
        char token[API_NEXT_TOKEN_TEXT_MAX + 1];
        api_list_streams_seal(cat, sorted[first + count - 1]->name, token);
        json_out_kv_cstr(&o, "NextToken", token);
    }
    json_out_key(&o, "StreamSummaries");
    json_out_arr_begin(&o);
    for (size_t i = first; i < first + count; i++) {
        const Eddy__StreamInfo *st = sorted[i];
        char arn[API_STREAM_ARN_TEXT_MAX];
        api_stream_arn(&c->cfg, st->name, arn);
        json_out_obj_begin(&o);
        json_out_kv_cstr(&o, "StreamName", st->name);
        json_out_kv_cstr(&o, "StreamARN", arn);
        json_out_kv_cstr(&o, "StreamStatus", api_stream_status_name(st->status));
        api_write_stream_mode(&o, st->mode);
        json_out_key(&o, "StreamCreationTimestamp");
        json_out_timestamp_ms(&o, st->created_ms);
        json_out_obj_end(&o);
    }
    json_out_arr_end(&o);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

static void api_list_streams_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_call *c = arg;
    const struct api_list_streams_req *r = &c->req.list_streams;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    char after[API_NAME_TEXT_MAX] = "";
    bool has_after = false;
    if (r->has_next_token) {
        if (api_list_streams_open_token(c, cat, after) != 0) {
            return;
        }
        has_after = true;
    } else if (r->has_start) {
        memcpy(after, r->start_name, sizeof(after));
        has_after = true;
    }
    size_t n = 0;
    const Eddy__StreamInfo **sorted = eddy_xcalloc(cat->n_streams + 1, sizeof(*sorted));
    for (size_t i = 0; i < cat->n_streams; i++) {
        if (cat->streams[i] != NULL && cat->streams[i]->name != NULL) {
            sorted[n++] = cat->streams[i];
        }
    }
    qsort(sorted, n, sizeof(*sorted), api_list_streams_cmp);
    size_t first = 0;
    while (has_after && first < n && strcmp(sorted[first]->name, after) <= 0) {
        first++;
    }
    size_t count = n - first < r->limit ? n - first : r->limit;
    api_list_streams_write(c, cat, sorted, first, count, first + count < n);
    eddy_free(sorted);
}

void api_list_streams_run(struct api_call *c)
{
    backend_catalog(c->ctx->backend, true, api_list_streams_on_catalog, c);
}
