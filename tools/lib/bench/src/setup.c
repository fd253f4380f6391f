/*
 * setup_iterators of setup.h: a small state machine (LIST, then ITERATOR
 * for shard 0..n-1) driven by the responses on one connection.
 */
#include "setup.h"

#include "body.h"
#include "scan.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdio.h>
#include <string.h>

#define SETUP_BODY_MAX (1u << 20)

struct setup {
    struct run *r;
    struct conn *conn;
    const char *type;
    setup_done_fn done;
    size_t next_shard; /* the shard whose iterator is asked for */
    struct buf head;
    struct buf body;
};

static void setup_on_response(
    struct conn *c, void *arg, int status, unsigned http_status, const char *body, size_t len);

static void setup_finish(struct setup *s, int status)
{
    struct run *r = s->r;
    setup_done_fn done = s->done;
    conn_close(s->conn);
    buf_free(&s->head);
    buf_free(&s->body);
    eddy_free(s);
    done(r, status);
}

/* Sends op with the body already in s->body. */
static void setup_send(struct setup *s, const char *op)
{
    buf_reset(&s->head);
    int rc =
        body_request_head(&s->head, &s->r->sign, run_host(s->r, 0), op, s->body.data, s->body.len);
    if (rc == 0) {
        uv_buf_t bufs[2] = {uv_buf_init((char *)s->head.data, (unsigned)s->head.len),
                            uv_buf_init((char *)s->body.data, (unsigned)s->body.len)};
        rc = conn_send(s->conn, bufs, 2, setup_on_response, s);
    }
    if (rc != 0) {
        setup_finish(s, rc);
    }
}

static void setup_ask_iterator(struct setup *s)
{
    buf_reset(&s->body);
    int rc = body_get_shard_iterator(&s->body, s->r->opts->stream, s->r->shards[s->next_shard].id,
                                     s->type);
    if (rc != 0) {
        setup_finish(s, rc);
        return;
    }
    setup_send(s, "GetShardIterator");
}

static void setup_on_shard_id(void *arg, const char *id, size_t n)
{
    struct run *r = arg;
    if (r->shard_count >= RUN_SHARDS_MAX || n >= RUN_SHARD_ID_MAX) {
        return;
    }
    memcpy(r->shards[r->shard_count].id, id, n);
    r->shards[r->shard_count].id[n] = '\0';
    r->shard_count++;
}

static void setup_on_response(
    struct conn *c, void *arg, int status, unsigned http_status, const char *body, size_t len)
{
    (void)c;
    struct setup *s = arg;
    struct run *r = s->r;
    if (status < 0 || http_status != 200) {
        run_failure(r, status, http_status, body, len);
        fprintf(stderr, "eddy-bench: setup failed: %s\n", r->report.first_error);
        setup_finish(s, status < 0 ? status : -EDDY_EUNAVAILABLE);
        return;
    }
    if (r->shard_count == 0) {
        scan_shard_ids(body, len, setup_on_shard_id, r);
        if (r->shard_count == 0) {
            fprintf(stderr, "eddy-bench: ListShards of %s gave no shard\n", r->opts->stream);
            setup_finish(s, -EDDY_ENOTFOUND);
            return;
        }
        s->next_shard = 0;
        setup_ask_iterator(s);
        return;
    }
    const char *it = NULL;
    size_t it_len = 0;
    if (!scan_string(body, len, "ShardIterator", &it, &it_len) || it_len > BODY_FIELD_MAX) {
        setup_finish(s, -EDDY_EMALFORMED);
        return;
    }
    struct run_shard *sh = &r->shards[s->next_shard];
    sh->iterator = eddy_xmalloc(it_len + 1);
    memcpy(sh->iterator, it, it_len);
    sh->iterator[it_len] = '\0';
    sh->iterator_len = it_len;
    if (++s->next_shard < r->shard_count) {
        setup_ask_iterator(s);
        return;
    }
    setup_finish(s, 0);
}

void setup_iterators(struct run *r, const char *iterator_type, setup_done_fn done)
{
    struct setup *s = eddy_xcalloc(1, sizeof(*s));
    s->r = r;
    s->conn = run_conn(r, 0);
    s->type = iterator_type;
    s->done = done;
    buf_init(&s->head, SETUP_BODY_MAX);
    buf_init(&s->body, SETUP_BODY_MAX);
    r->shard_count = 0;
    int rc = body_list_shards(&s->body, r->opts->stream);
    if (rc != 0) {
        setup_finish(s, rc);
        return;
    }
    setup_send(s, "ListShards");
}
