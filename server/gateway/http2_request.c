/*
 * HTTP/2 request streams (lifecycle in http2.c): the nghttp2 callbacks that
 * build a request from HEADERS and DATA frames, and the request API of
 * http.h for HTTP/2 (responses and streamed bodies through a data provider
 * that reads from the request's out buffer).
 */
#include "http2_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Response headers one answer may carry (the API sends a handful). */
#define H2_RESPONSE_HEADERS_MAX 32
#define H2_HEADER_NAME_LEN_MAX 63

static const bool h2_req_transitions[H2_REQ_STATE_COUNT][H2_REQ_STATE_COUNT] = {
    [H2_REQ_RECEIVING] = {[H2_REQ_PENDING] = true, [H2_REQ_ANSWERED] = true},
    [H2_REQ_PENDING] =
        {[H2_REQ_ANSWERED] = true, [H2_REQ_STREAMING] = true, [H2_REQ_DETACHED] = true},
    [H2_REQ_STREAMING] = {[H2_REQ_ANSWERED] = true, [H2_REQ_DETACHED] = true},
};

static const struct http_request_ops h2_ops;

static struct h2_request *h2_of(const struct http_request *base)
{
    EDDY_ASSERT(base->ops == &h2_ops);
    return container_of(base, struct h2_request, base);
}

static void h2_request_set_state(struct h2_request *r, enum h2_req_state to)
{
    EDDY_ASSERT(h2_req_transitions[r->state][to]);
    r->state = to;
}

static struct h2_request *h2_request_create(struct h2_conn *c, int32_t stream_id)
{
    struct h2_request *r = eddy_xcalloc(1, sizeof(*r));
    http_request_base_init(&r->base, &h2_ops);
    list_init(&r->link);
    list_init(&r->ready_link);
    list_init(&r->notify_link);
    list_init(&r->held_link);
    r->conn = c;
    r->stream_id = stream_id;
    r->state = H2_REQ_RECEIVING;
    r->start_ms = c->server->loop != NULL ? uv_now(c->server->loop) : 0;
    buf_init(&r->arena, GW_HTTP_HEADER_BYTES_MAX);
    buf_init(&r->body, (size_t)GW_HTTP_BODY_BYTES_MAX + 1);
    buf_init(&r->out, GW_WRITE_QUEUE_BYTES_MAX);
    list_push(&c->streams, &r->link);
    c->stream_count++;
    return r;
}

static void h2_request_destroy(struct h2_request *r)
{
    EDDY_ASSERT(list_is_empty(&r->link));
    EDDY_ASSERT(list_is_empty(&r->ready_link));
    EDDY_ASSERT(list_is_empty(&r->held_link));
    EDDY_ASSERT(r->server == NULL);
    list_remove(&r->notify_link);
    if (r->conn != NULL) {
        r->conn->queued_bytes -= r->out.len - r->out_off;
    }
    buf_free(&r->arena);
    buf_free(&r->body);
    buf_free(&r->out);
    eddy_free(r->headers);
    eddy_free(r);
}

/* --- the budget --- */

static void h2_request_charge(struct h2_request *r, size_t n)
{
    struct h2_conn *c = r->conn;
    r->server = c->server;
    r->charged_bytes += n;
    c->buffered_bytes += n;
    c->server->buffered_bytes += n;
}

void h2_request_uncharge(struct h2_request *r)
{
    struct http_server *s = r->server;
    if (s == NULL) {
        return;
    }
    if (r->state == H2_REQ_DETACHED) {
        list_remove(&r->link); /* from s->h2_detached */
    }
    if (r->is_app_counted) {
        r->is_app_counted = false;
        EDDY_ASSERT(s->app_request_count > 0);
        s->app_request_count--;
    }
    size_t n = r->charged_bytes;
    r->charged_bytes = 0;
    r->server = NULL;
    if (r->conn != NULL) {
        h2_conn_uncharged(r->conn, n);
    }
    http_server_release(s, n);
}

/* The request's input is no longer needed: its bytes leave the budget. The
 * strings stay while the application may read them. */
static void h2_request_release_input(struct h2_request *r)
{
    buf_free(&r->body);
    r->base.body = NULL;
    r->base.body_len = 0;
    h2_request_uncharge(r);
}

/* The application no longer holds r. */
static void h2_request_unhold(struct h2_request *r)
{
    if (r->owner != NULL) {
        list_remove(&r->held_link);
        h2_conn_released(r->owner);
        r->owner = NULL;
    }
}

/* --- notifications --- */

static void h2_notify(struct http_server *s, struct h2_request *r)
{
    if (r->base.stream_cb == NULL || !list_is_empty(&r->notify_link)) {
        return;
    }
    list_push(&s->h2_notify, &r->notify_link);
    http_server_wake(s);
}

void h2_run_notify(struct http_server *s)
{
    while (!list_is_empty(&s->h2_notify)) {
        struct h2_request *r = container_of(s->h2_notify.next, struct h2_request, notify_link);
        list_remove(&r->notify_link);
        if (r->base.stream_cb != NULL) {
            r->base.stream_cb(r->base.stream_arg, &r->base);
        }
    }
}

/* --- responses --- */

/* The name of a header the application may not send over HTTP/2: those of
 * HTTP/1.1 connections (RFC 9113 8.2.2) and those added here. */
static bool h2_is_dropped_header(const char *name)
{
    static const char *const dropped[] = {"connection",        "keep-alive", "proxy-connection",
                                          "transfer-encoding", "upgrade",    "te",
                                          "content-length",    "date"};
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        if (strcasecmp(name, dropped[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* A response's header block: names lowercased (HTTP/2 requires it). */
struct h2_head {
    nghttp2_nv nv[H2_RESPONSE_HEADERS_MAX + 3];
    size_t count;
    char names[H2_RESPONSE_HEADERS_MAX][H2_HEADER_NAME_LEN_MAX + 1];
    char status[8];
    char length[24];
    char date[64];
};

static void h2_head_add(struct h2_head *h, const char *name, const char *value)
{
    EDDY_ASSERT(h->count < sizeof(h->nv) / sizeof(h->nv[0]));
    h->nv[h->count++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                                     NGHTTP2_NV_FLAG_NONE};
}

/* has_length: a Content-Length of body_len (not for streams). */
static void h2_head_build(struct h2_head *h,
                          int status,
                          const struct http_header *headers,
                          size_t header_count,
                          bool has_length,
                          size_t body_len)
{
    h->count = 0;
    snprintf(h->status, sizeof(h->status), "%d", status);
    h2_head_add(h, ":status", h->status);
    size_t named = 0;
    for (size_t i = 0; i < header_count; i++) {
        const struct http_header *hd = &headers[i];
        size_t len = hd->name != NULL ? strlen(hd->name) : 0;
        if (!http_header_is_valid(hd) || h2_is_dropped_header(hd->name) ||
            len > H2_HEADER_NAME_LEN_MAX || named == H2_RESPONSE_HEADERS_MAX) {
            LOG_WARN("http2 response header dropped status=%d", status);
            continue;
        }
        char *lower = h->names[named++];
        for (size_t k = 0; k <= len; k++) {
            char ch = hd->name[k];
            lower[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        h2_head_add(h, lower, hd->value);
    }
    if (has_length) {
        snprintf(h->length, sizeof(h->length), "%zu", body_len);
        h2_head_add(h, "content-length", h->length);
    }
    http_format_date(h->date, sizeof(h->date), (int64_t)time(NULL));
    h2_head_add(h, "date", h->date);
}

static ssize_t h2_on_data_read(nghttp2_session *session,
                               int32_t stream_id,
                               uint8_t *buf,
                               size_t length,
                               uint32_t *data_flags,
                               nghttp2_data_source *source,
                               void *user_data)
{
    struct h2_request *r = source->ptr;
    struct h2_conn *c = user_data;
    (void)session;
    (void)stream_id;
    size_t avail = r->out.len - r->out_off;
    size_t n = avail < length ? avail : length;
    if (n > 0) {
        memcpy(buf, r->out.data + r->out_off, n);
    }
    r->out_off += n;
    c->queued_bytes -= n;
    if (r->out_off == r->out.len) {
        buf_reset(&r->out);
        r->out_off = 0;
    }
    if (n == 0 && !r->is_eof) {
        r->is_deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (r->out.len == 0 && r->is_eof) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    if (r->state == H2_REQ_STREAMING && r->is_above_half &&
        r->out.len - r->out_off < HTTP_STREAM_QUEUED_MAX / 2) {
        r->is_above_half = false;
        h2_notify(c->server, r);
    }
    return (ssize_t)n;
}

/* Submits the response head; a data provider when a body follows. */
static int h2_submit(struct h2_request *r, const struct h2_head *h, bool has_body)
{
    nghttp2_data_provider prd = {.source.ptr = r, .read_callback = h2_on_data_read};
    int rv = nghttp2_submit_response(r->conn->session, r->stream_id, h->nv, h->count,
                                     has_body ? &prd : NULL);
    if (rv != 0) {
        LOG_ERROR("http2 response failed err=%s", nghttp2_strerror(rv));
        nghttp2_submit_rst_stream(r->conn->session, NGHTTP2_FLAG_NONE, r->stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    }
    return rv;
}

/* A request refused here (431, 413): a bodyless answer; once it is sent,
 * for 413 a reset if the client is still sending (h2_on_frame_send). */
static void h2_request_reject(struct h2_request *r)
{
    struct h2_conn *c = r->conn;
    LOG_DEBUG("http2 request rejected status=%d", r->reject_status);
    h2_request_set_state(r, H2_REQ_ANSWERED);
    struct h2_head h;
    h2_head_build(&h, r->reject_status, NULL, 0, true, 0);
    r->is_eof = true;
    (void)h2_submit(r, &h, false);
    h2_request_release_input(r);
    c->is_send_due = true;
}

/* After the last frame of a 413 answer: RST_STREAM NO_ERROR stops the
 * upload (RFC 9113 8.1). Resetting earlier would drop the answer, which
 * nghttp2 may queue behind the reset. After a 431 the (small) rest of the
 * request is read and dropped instead: some clients (curl 7.88) report a
 * reset stream as an error even after a whole response. */
static int h2_on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)user_data;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
        return 0;
    }
    struct h2_request *r = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (r != NULL && r->reject_status == 413 &&
        !nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id)) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    }
    return 0;
}

/* --- building requests (nghttp2 callbacks) --- */

static struct h2_request *h2_request_of(nghttp2_session *session, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int
h2_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    if (c->app_count >= GW_HTTP2_APP_REQUESTS_MAX) {
        if (!c->is_calm_sent) {
            c->is_calm_sent = true;
            LOG_WARN("http2 conn ended reason=too many requests held held=%zu", c->app_count);
            nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM);
        }
        return 0;
    }
    struct h2_request *r = h2_request_create(c, frame->hd.stream_id);
    int rv = nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, r);
    EDDY_ASSERT(rv == 0);
    return 0;
}

/* Appends "value\0" (and "name\0" before it when name is set) to the arena. */
static int h2_request_store(struct h2_request *r,
                            const uint8_t *name,
                            size_t name_len,
                            const uint8_t *value,
                            size_t value_len,
                            uint32_t *name_off,
                            uint32_t *value_off)
{
    int rv = 0;
    if (name != NULL) {
        *name_off = (uint32_t)r->arena.len;
        rv = buf_append(&r->arena, name, name_len);
        if (rv == 0) {
            rv = buf_append(&r->arena, "", 1);
        }
    }
    if (rv == 0) {
        *value_off = (uint32_t)r->arena.len;
        rv = buf_append(&r->arena, value, value_len);
    }
    if (rv == 0) {
        rv = buf_append(&r->arena, "", 1);
    }
    return rv;
}

/* A content-length over the body limit means 413 before any body arrives. */
static void h2_request_check_length(struct h2_request *r, const uint8_t *value, size_t len)
{
    uint64_t n = 0;
    for (size_t i = 0; i < len && i < 20; i++) {
        if (value[i] < '0' || value[i] > '9') {
            return; /* nghttp2 rejects it */
        }
        n = n * 10 + (uint64_t)(value[i] - '0');
    }
    if (len > 19 || n > GW_HTTP_BODY_BYTES_MAX) {
        r->reject_status = 413;
    }
}

static int h2_on_pseudo_header(struct h2_request *r,
                               const uint8_t *name,
                               size_t name_len,
                               const uint8_t *value,
                               size_t value_len)
{
    uint32_t unused = 0;
    uint32_t *off = NULL;
    bool *has = NULL;
    if (name_len == 7 && memcmp(name, ":method", 7) == 0) {
        off = &r->method_off;
        has = &r->has_method;
    } else if (name_len == 5 && memcmp(name, ":path", 5) == 0) {
        off = &r->path_off;
        has = &r->has_path;
    } else if (name_len == 10 && memcmp(name, ":authority", 10) == 0) {
        off = &r->authority_off;
        has = &r->has_authority;
    } else {
        return 0; /* :scheme; nghttp2 rejects unknown ones */
    }
    *has = true;
    return h2_request_store(r, NULL, 0, value, value_len, &unused, off);
}

static int h2_on_header(nghttp2_session *session,
                        const nghttp2_frame *frame,
                        const uint8_t *name,
                        size_t name_len,
                        const uint8_t *value,
                        size_t value_len,
                        uint8_t flags,
                        void *user_data)
{
    (void)flags;
    (void)user_data;
    struct h2_request *r = h2_request_of(session, frame->hd.stream_id);
    if (r == NULL || r->state != H2_REQ_RECEIVING || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0; /* trailers are ignored, as over HTTP/1.1 */
    }
    r->header_bytes += name_len + value_len + 32;
    if (r->reject_status != 0) {
        return 0;
    }
    if (r->header_bytes > GW_HTTP_HEADER_BYTES_MAX) {
        r->reject_status = 431;
        return 0;
    }
    int rv = 0;
    if (name_len > 0 && name[0] == ':') {
        rv = h2_on_pseudo_header(r, name, name_len, value, value_len);
    } else if (r->header_count == GW_HTTP_HEADERS_COUNT_MAX) {
        r->reject_status = 431;
    } else {
        size_t i = r->header_count++;
        rv = h2_request_store(r, name, name_len, value, value_len, &r->name_off[i],
                              &r->value_off[i]);
        if (name_len == 4 && memcmp(name, "host", 4) == 0) {
            r->has_host = true;
        } else if (name_len == 14 && memcmp(name, "content-length", 14) == 0) {
            h2_request_check_length(r, value, value_len);
        }
    }
    if (rv != 0) {
        r->reject_status = 431;
    }
    return 0;
}

/* The whole request arrived: its strings and body are fixed up and it waits
 * for request_cb in the connection's ready list. */
static void h2_request_complete(struct h2_conn *c, struct h2_request *r)
{
    if (r->reject_status == 0 && r->has_authority && !r->has_host) {
        size_t i = r->header_count; /* name_off has room for one more */
        size_t len = strlen((const char *)r->arena.data + r->authority_off);
        /* Reserved first: the value is copied from the arena itself. */
        if (buf_reserve(&r->arena, len + 6) == 0 &&
            h2_request_store(r, (const uint8_t *)"host", 4, r->arena.data + r->authority_off, len,
                             &r->name_off[i], &r->value_off[i]) == 0) {
            r->header_count++;
        } else {
            r->reject_status = 431;
        }
    }
    if (r->reject_status == 0 && buf_reserve(&r->body, 1) != 0) {
        r->reject_status = 413;
    }
    if (r->reject_status != 0) {
        h2_request_reject(r);
        return;
    }
    r->headers = eddy_xcalloc(r->header_count + 1, sizeof(*r->headers));
    const char *base = r->arena.len > 0 ? (const char *)r->arena.data : "";
    for (size_t i = 0; i < r->header_count; i++) {
        r->headers[i].name = base + r->name_off[i];
        r->headers[i].value = base + r->value_off[i];
    }
    r->base.method = r->has_method ? base + r->method_off : "";
    r->base.target = r->has_path ? base + r->path_off : "";
    r->base.headers = r->headers;
    r->base.header_count = r->header_count;
    r->is_head = strcmp(r->base.method, "HEAD") == 0;
    if (r->body.len > 0) {
        r->body.data[r->body.len] = '\0';
        r->base.body = r->body.data;
        r->base.body_len = r->body.len;
    }
    h2_request_charge(r, r->arena.len);
    h2_request_set_state(r, H2_REQ_PENDING);
    r->is_app_counted = true;
    c->server->app_request_count++;
    r->owner = c;
    list_push(&c->held, &r->held_link);
    c->app_count++;
    list_push(&c->ready, &r->ready_link);
}

static int h2_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    struct h2_request *r = h2_request_of(session, frame->hd.stream_id);
    if (r == NULL || r->state != H2_REQ_RECEIVING) {
        return 0;
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
        h2_request_complete(c, r);
    } else if (r->reject_status != 0 && frame->hd.type == NGHTTP2_HEADERS) {
        h2_request_reject(r); /* no need to wait for a body */
    }
    return 0;
}

static int h2_on_data_chunk_recv(nghttp2_session *session,
                                 uint8_t flags,
                                 int32_t stream_id,
                                 const uint8_t *data,
                                 size_t len,
                                 void *user_data)
{
    struct h2_conn *c = user_data;
    (void)flags;
    struct h2_request *r = h2_request_of(session, stream_id);
    if (r == NULL || r->state != H2_REQ_RECEIVING || r->reject_status != 0) {
        nghttp2_session_consume(session, stream_id, len); /* dropped */
        return 0;
    }
    if (len > GW_HTTP_BODY_BYTES_MAX - r->body.len || buf_append(&r->body, data, len) != 0) {
        nghttp2_session_consume(session, stream_id, len);
        r->reject_status = 413;
        h2_request_reject(r);
        return 0;
    }
    h2_request_charge(r, len);
    nghttp2_session_consume_stream(session, stream_id, len);
    h2_conn_received(c, len);
    return 0;
}

static int h2_on_stream_close(nghttp2_session *session,
                              int32_t stream_id,
                              uint32_t error_code,
                              void *user_data)
{
    (void)user_data;
    (void)error_code;
    struct h2_request *r = h2_request_of(session, stream_id);
    if (r != NULL) {
        h2_request_stream_closed(r);
    }
    return 0;
}

void h2_request_stream_closed(struct h2_request *r)
{
    struct h2_conn *c = r->conn;
    EDDY_ASSERT(c != NULL);
    list_remove(&r->link);
    EDDY_ASSERT(c->stream_count > 0);
    c->stream_count--;
    if (c->session != NULL) {
        nghttp2_session_set_stream_user_data(c->session, r->stream_id, NULL);
    }
    if (!list_is_empty(&r->ready_link)) {
        /* Complete but never seen by the application: it just goes. */
        list_remove(&r->ready_link);
        h2_request_unhold(r);
        h2_request_uncharge(r);
        h2_request_destroy(r);
        return;
    }
    switch (r->state) {
    case H2_REQ_PENDING:
    case H2_REQ_STREAMING: {
        bool is_streaming = r->state == H2_REQ_STREAMING;
        struct http_server *s = c->server;
        c->queued_bytes -= r->out.len - r->out_off;
        buf_free(&r->out);
        r->out_off = 0;
        h2_conn_uncharged(c, r->charged_bytes); /* stays in the server's budget */
        r->conn = NULL;
        h2_request_set_state(r, H2_REQ_DETACHED);
        if (r->server != NULL) {
            list_push(&s->h2_detached, &r->link);
        }
        if (is_streaming) {
            h2_notify(s, r);
        }
        break;
    }
    default:
        h2_request_uncharge(r);
        h2_request_destroy(r);
        break;
    }
}

int h2_session_create(struct h2_conn *c)
{
    nghttp2_session_callbacks *cbs = NULL;
    int rv = nghttp2_session_callbacks_new(&cbs);
    if (rv != 0) {
        return rv;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, h2_on_frame_send);
    nghttp2_option *opt = NULL;
    rv = nghttp2_option_new(&opt);
    if (rv == 0) {
        /* Window updates follow the budget (http2.c), not mere receipt. */
        nghttp2_option_set_no_auto_window_update(opt, 1);
        rv = nghttp2_session_server_new2(&c->session, cbs, c, opt);
        nghttp2_option_del(opt);
    }
    nghttp2_session_callbacks_del(cbs);
    return rv;
}

/* --- the application's side (through http.c) --- */

static bool h2_is_connected(const struct http_request *base)
{
    return h2_of(base)->conn != NULL;
}

static void h2_respond(struct http_request *base,
                       int status,
                       const struct http_header *headers,
                       size_t header_count,
                       const uint8_t *body,
                       size_t body_len)
{
    struct h2_request *r = h2_of(base);
    h2_request_unhold(r);
    if (r->state == H2_REQ_DETACHED) {
        h2_request_uncharge(r);
        h2_request_destroy(r);
        return;
    }
    EDDY_ASSERT(r->state == H2_REQ_PENDING);
    struct h2_conn *c = r->conn;
    struct h2_head h;
    h2_head_build(&h, status, headers, header_count, true, body_len);
    bool has_body = body_len > 0 && !r->is_head;
    if (has_body && buf_append(&r->out, body, body_len) != 0) {
        LOG_ERROR("http2 response too big status=%d body_len=%zu", status, body_len);
        h2_head_build(&h, 500, NULL, 0, true, 0);
        has_body = false;
    }
    if (has_body) {
        c->queued_bytes += body_len;
    }
    r->is_eof = true;
    h2_request_set_state(r, H2_REQ_ANSWERED);
    h2_request_release_input(r);
    (void)h2_submit(r, &h, has_body);
    h2_conn_after_submit(c);
}

static void h2_stream_begin(struct http_request *base,
                            int status,
                            const struct http_header *headers,
                            size_t header_count)
{
    struct h2_request *r = h2_of(base);
    h2_request_release_input(r);
    if (r->state == H2_REQ_DETACHED) {
        return; /* the client is gone: stream_write says so */
    }
    EDDY_ASSERT(r->state == H2_REQ_PENDING);
    h2_request_set_state(r, H2_REQ_STREAMING);
    struct h2_head h;
    h2_head_build(&h, status, headers, header_count, false, 0);
    (void)h2_submit(r, &h, !r->is_head);
    h2_conn_after_submit(r->conn);
}

static int h2_stream_write(struct http_request *base, const uint8_t *data, size_t len)
{
    struct h2_request *r = h2_of(base);
    EDDY_ASSERT(r->state == H2_REQ_STREAMING);
    struct h2_conn *c = r->conn;
    if (r->is_head) {
        return 0;
    }
    if (r->out_off > 0) {
        buf_consume(&r->out, r->out_off);
        r->out_off = 0;
    }
    int rv = buf_append(&r->out, data, len);
    if (rv != 0) {
        return rv;
    }
    c->queued_bytes += len;
    if (r->out.len >= HTTP_STREAM_QUEUED_MAX / 2) {
        r->is_above_half = true;
    }
    if (r->is_deferred) {
        r->is_deferred = false;
        nghttp2_session_resume_data(c->session, r->stream_id);
    }
    h2_conn_after_submit(c);
    return 0;
}

static size_t h2_stream_queued(const struct http_request *base)
{
    const struct h2_request *r = h2_of(base);
    return r->out.len - r->out_off;
}

static void h2_stream_end(struct http_request *base)
{
    struct h2_request *r = h2_of(base);
    h2_request_unhold(r);
    list_remove(&r->notify_link);
    if (r->state == H2_REQ_DETACHED) {
        h2_request_uncharge(r);
        h2_request_destroy(r);
        return;
    }
    EDDY_ASSERT(r->state == H2_REQ_STREAMING);
    struct h2_conn *c = r->conn;
    r->is_eof = true;
    h2_request_set_state(r, H2_REQ_ANSWERED);
    if (r->is_deferred) {
        r->is_deferred = false;
        nghttp2_session_resume_data(c->session, r->stream_id);
    }
    h2_conn_after_submit(c);
}

static const struct http_request_ops h2_ops = {
    .protocol = "HTTP/2",
    .is_connected = h2_is_connected,
    .respond = h2_respond,
    .stream_begin = h2_stream_begin,
    .stream_write = h2_stream_write,
    .stream_queued = h2_stream_queued,
    .stream_end = h2_stream_end,
};
