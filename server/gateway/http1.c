/*
 * HTTP/1.1 transport of the HTTP server (http_server.c accepts connections
 * and hands over those that do not open with the HTTP/2 preface). Owns each
 * such connection (over an http_io, plain or TLS) and each request from its
 * first byte until the application holds it.
 *
 * Connection lifecycle: OPEN (parsing requests), DRAINING (no further
 * requests: flushing the responses still owed), SHUTDOWN (write side shut;
 * input is read and dropped until EOF or HTTP1_LINGER_MS, so that closing
 * with unread bytes does not reset the connection before the client read its
 * last response), CLOSING (uv_close called; freed in the close callback).
 *
 * Request lifecycle: PARSING, then PENDING (handed to request_cb) or ANSWERED
 * (an error response made here); PENDING becomes ANSWERED when the
 * application responds, STREAMING when it starts a streamed response (which
 * becomes ANSWERED when it ends), or DETACHED when the connection closes
 * first; an ANSWERED request becomes WRITING once it heads the queue and its
 * last bytes are written, and is freed in the write callback. A stream
 * heading the queue writes its chunks as they come, one write at a time; its
 * owner's callback runs from the idle callback when its queue drops below
 * half of HTTP_STREAM_QUEUED_MAX, and when the connection closes.
 *
 * Ordering: requests sit in the connection's queue in arrival order and a
 * response is written only after every earlier one, so an early answer waits
 * in its request. Past GW_PIPELINE_DEPTH_MAX queued requests, or while more
 * than GW_WRITE_QUEUE_BYTES_MAX response bytes are queued, parsing pauses on
 * a request boundary, the unparsed bytes are kept and reading stops. Resuming
 * runs from an idle callback so http_request_respond never re-enters
 * request_cb. The parser pauses after every request, so request_cb always
 * runs outside http_parser_execute.
 *
 * Budget: every byte read on an OPEN connection is charged to the server's
 * buffered bytes (at most GW_BUFFERED_BYTES_MAX) when it is read, and given
 * back when the request it belongs to is answered (its input is freed then)
 * or dropped. A read is sized to the budget left; with none left the read
 * callback gets UV_ENOBUFS, reading stops and the connection waits in the
 * server's FIFO (budget WAITING). Released bytes grant waiting connections
 * their turn in FIFO order (GRANTED: may read; a connection not waiting
 * queues behind them), from the idle callback. When the budget is spent and
 * the application holds no request whose answer would free bytes, partial
 * requests alone hold it: the oldest waiting connection then reads past the
 * budget until one request completes (the overdraft, one connection at a
 * time), so the server cannot deadlock and overshoots by one request at most.
 * Requests detached from a closed connection stay charged until answered.
 *
 * Timeouts: the server's sweep timer checks every connection each
 * HTTP_SWEEP_INTERVAL_MS (idle, whole request, write stall, linger). Time
 * spent waiting for the budget is the server's, so it does not count.
 */
#include "http1.h"
#include "http_internal.h"
#include "http_io.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/buf.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP1_READ_BUF_BYTES HTTP_READ_BUF_BYTES
/* Reading and dropping input after the last response (RFC 7230 6.6). */
#define HTTP1_LINGER_MS 2000
/* Input dropped after the last request is bounded like a body. */
#define HTTP1_DISCARD_BYTES_MAX GW_HTTP_BODY_BYTES_MAX

static_assert(GW_HTTP_HEADER_BYTES_MAX < UINT32_MAX, "header offsets fit 32 bits");
static_assert(GW_PIPELINE_DEPTH_MAX >= 1, "a connection parses at least one request");
static_assert(GW_BUFFERED_BYTES_MAX >= HTTP1_READ_BUF_BYTES, "the budget holds one read");

/* Test hooks, declared again in tests/unit/gateway/test_http1.c: runs the
 * timeout checks as if the loop clock read now_ms; replaces the server's
 * GW_BUFFERED_BYTES_MAX; reads the bytes charged to the budget now. */
void http1_sweep_for_test(struct http_server *s, uint64_t now_ms);
void http1_set_buffered_max_for_test(struct http_server *s, size_t bytes);
size_t http1_buffered_bytes_for_test(const struct http_server *s);

enum http1_req_state {
    REQ_PARSING,
    REQ_PENDING,
    REQ_STREAMING,
    REQ_ANSWERED,
    REQ_WRITING,
    REQ_DETACHED,
    REQ_STATE_COUNT
};

enum http1_conn_state { CONN_OPEN, CONN_DRAINING, CONN_SHUTDOWN, CONN_CLOSING, CONN_STATE_COUNT };

enum http1_last_cb { LAST_NONE, LAST_URL, LAST_FIELD, LAST_VALUE };

/* A connection's place in the server's budget queue (only while OPEN). */
enum http1_budget { BUDGET_FREE, BUDGET_WAITING, BUDGET_GRANTED, BUDGET_STATE_COUNT };

struct http1_request {
    struct http_request base;      /* what the application reads; first member */
    struct http_io_write write;    /* the one write of this request in flight */
    struct list_link link;         /* in conn->fifo while PENDING, STREAMING or ANSWERED,
                                       or in server->detached while DETACHED and charged */
    struct list_link notify_link;  /* in server->notify while a stream callback is due */
    struct http1_conn *conn;       /* NULL when DETACHED or parsed without a server */
    struct http1_conn *write_conn; /* the connection of the write in flight */
    struct http_server *server;    /* while charged to its budget: PENDING, DETACHED */
    size_t charged_bytes;          /* input bytes of this request, in the budget */
    enum http1_req_state state;
    struct buf arena; /* target\0name\0value\0...: every string of the request */
    uint32_t name_off[GW_HTTP_HEADERS_COUNT_MAX];
    uint32_t value_off[GW_HTTP_HEADERS_COUNT_MAX];
    size_t header_count;
    struct http_header *headers; /* built once the header section ended */
    struct buf body;             /* one spare byte for the NUL */
    struct buf response;         /* bytes to send, not yet handed to uv_write */
    struct buf sending;          /* streams: the bytes of a body write in flight */
    uv_buf_t out;                /* the last bytes of the response, once ANSWERED */
    bool keep_alive;             /* the response says keep-alive; false on the last one */
    bool is_head;
    bool is_http10; /* an HTTP/1.0 request: no chunked streams */
    bool expects_continue;
    bool continue_sent;
    bool is_chunked;    /* a streamed body goes in chunks (else until the close) */
    bool is_writing;    /* write is in flight */
    bool is_ended;      /* DETACHED stream ended by the application: freed after its write */
    bool is_above_half; /* the stream queue reached HTTP_STREAM_QUEUED_MAX / 2 */
};

struct http1_parse {
    http_parser parser;
    struct http1_request *cur;  /* between message begin and complete */
    struct http1_request *done; /* complete, until taken */
    enum http1_last_cb last;
    bool headers_done; /* trailers after a chunked body are ignored */
    int status;        /* 400, 413, 431 or 503 once parsing failed */
    uint64_t now_ms;
    uint64_t message_start_ms;
};

struct http1_conn {
    struct http_io *io;
    struct http_server *server;
    struct list_link link;        /* in server->conns until the close callback */
    struct list_link resume_link; /* in server->resume while a resume is due */
    struct list_link budget_link; /* in server->paused unless BUDGET_FREE */
    enum http1_conn_state state;
    enum http1_budget budget;
    uint64_t budget_since_ms; /* when it joined server->paused */
    size_t input_bytes;       /* charged, not yet a request's: partial_bytes + in.len */
    size_t partial_bytes;     /* parsed since the last complete request */
    struct http1_parse parse;
    struct list_link fifo; /* PENDING and ANSWERED requests, in arrival order */
    size_t fifo_count;
    struct buf in;      /* unparsed input kept while parsing is paused */
    size_t write_bytes; /* handed to uv_write, not yet called back */
    size_t held_bytes;  /* answered, waiting for an earlier response */
    size_t writes_in_flight;
    size_t discarded_bytes;
    size_t write_queue_seen; /* libuv's unsent bytes at the last sweep */
    uint64_t activity_ms;    /* last request parsed or write completed */
    uint64_t write_progress_ms;
    uint64_t linger_start_ms;
    bool is_reading;
    bool peer_eof;
};

struct http1_continue_write {
    struct http_io_write req;
    struct http1_conn *conn;
};

static const char http1_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";
static const char http1_fallback_500[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                         "Content-Length: 0\r\nConnection: close\r\n\r\n";

static const bool req_transitions[REQ_STATE_COUNT][REQ_STATE_COUNT] = {
    [REQ_PARSING] = {[REQ_PENDING] = true, [REQ_ANSWERED] = true},
    [REQ_PENDING] = {[REQ_ANSWERED] = true, [REQ_STREAMING] = true, [REQ_DETACHED] = true},
    [REQ_STREAMING] = {[REQ_ANSWERED] = true, [REQ_DETACHED] = true},
    /* DETACHED from ANSWERED: a stream ended with a write in flight. */
    [REQ_ANSWERED] = {[REQ_WRITING] = true, [REQ_DETACHED] = true},
};

static const bool conn_transitions[CONN_STATE_COUNT][CONN_STATE_COUNT] = {
    [CONN_OPEN] = {[CONN_DRAINING] = true, [CONN_CLOSING] = true},
    [CONN_DRAINING] = {[CONN_SHUTDOWN] = true, [CONN_CLOSING] = true},
    [CONN_SHUTDOWN] = {[CONN_CLOSING] = true},
};

static const bool budget_transitions[BUDGET_STATE_COUNT][BUDGET_STATE_COUNT] = {
    [BUDGET_FREE] = {[BUDGET_WAITING] = true},
    [BUDGET_WAITING] = {[BUDGET_GRANTED] = true, [BUDGET_FREE] = true},
    [BUDGET_GRANTED] = {[BUDGET_WAITING] = true, [BUDGET_FREE] = true},
};

static void conn_close(struct http1_conn *c);
static void conn_flush(struct http1_conn *c);
static void conn_update_reading(struct http1_conn *c);
static void conn_after_progress(struct http1_conn *c);
static void conn_leave_budget(struct http1_conn *c);

/* --- requests --- */

static const struct http_request_ops http1_ops;

static struct http1_request *http1_of(const struct http_request *base)
{
    EDDY_ASSERT(base->ops == &http1_ops);
    return container_of(base, struct http1_request, base);
}

static struct http1_request *request_create(void)
{
    struct http1_request *r = eddy_calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    http_request_base_init(&r->base, &http1_ops);
    list_init(&r->link);
    list_init(&r->notify_link);
    r->state = REQ_PARSING;
    buf_init(&r->arena, GW_HTTP_HEADER_BYTES_MAX);
    buf_init(&r->body, (size_t)GW_HTTP_BODY_BYTES_MAX + 1);
    buf_init(&r->response, GW_WRITE_QUEUE_BYTES_MAX);
    buf_init(&r->sending, GW_WRITE_QUEUE_BYTES_MAX);
    r->keep_alive = true;
    return r;
}

static void request_destroy(struct http1_request *r)
{
    EDDY_ASSERT(list_is_empty(&r->link));
    EDDY_ASSERT(!r->is_writing);
    list_remove(&r->notify_link);
    buf_free(&r->arena);
    buf_free(&r->body);
    buf_free(&r->response);
    buf_free(&r->sending);
    eddy_free(r->headers);
    eddy_free(r);
}

static void request_set_state(struct http1_request *r, enum http1_req_state to)
{
    EDDY_ASSERT(req_transitions[r->state][to]);
    r->state = to;
}

/* r stops counting against its server's budget: answered, streaming, or the
 * server is closing. */
static void request_uncharge(struct http1_request *r)
{
    struct http_server *s = r->server;
    EDDY_ASSERT(s != NULL);
    if (r->state == REQ_DETACHED) {
        list_remove(&r->link); /* from s->detached */
    }
    r->server = NULL;
    EDDY_ASSERT(s->app_request_count > 0);
    s->app_request_count--;
    http_server_release(s, r->charged_bytes);
    r->charged_bytes = 0;
}

/* The application answered r: its input is freed, and its bytes go back to
 * the server's budget (if the server is still there). */
static void request_release(struct http1_request *r)
{
    EDDY_ASSERT(r->state == REQ_ANSWERED || r->state == REQ_DETACHED);
    buf_free(&r->arena);
    buf_free(&r->body);
    eddy_free(r->headers);
    r->headers = NULL;
    r->base.headers = NULL;
    r->base.header_count = 0;
    r->base.target = "";
    r->base.body = NULL;
    r->base.body_len = 0;
    if (r->server != NULL) {
        request_uncharge(r);
    }
}

/* How the body of a response is delimited. */
enum http1_framing { FRAMING_LENGTH, FRAMING_CHUNKED, FRAMING_CLOSE };

/* The headers the transport adds itself. */
static bool http1_is_added_header(const char *name)
{
    return strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Date") == 0 ||
           strcasecmp(name, "Connection") == 0 || strcasecmp(name, "Transfer-Encoding") == 0;
}

static int request_build_head(struct http1_request *r,
                              int status,
                              const struct http_header *headers,
                              size_t header_count,
                              enum http1_framing framing,
                              size_t body_len)
{
    char date[64];
    http_format_date(date, sizeof(date), (int64_t)time(NULL));
    int rv = buf_printf(&r->response, "HTTP/1.1 %d %s\r\n", status,
                        http_status_str((enum http_status)status));
    for (size_t i = 0; i < header_count && rv == 0; i++) {
        if (!http_header_is_valid(&headers[i]) || http1_is_added_header(headers[i].name)) {
            LOG_WARN("http response header dropped status=%d", status);
            continue;
        }
        rv = buf_printf(&r->response, "%s: %s\r\n", headers[i].name, headers[i].value);
    }
    if (rv == 0 && framing == FRAMING_LENGTH) {
        rv = buf_printf(&r->response, "Content-Length: %zu\r\n", body_len);
    } else if (rv == 0 && framing == FRAMING_CHUNKED) {
        rv = buf_append_str(&r->response, "Transfer-Encoding: chunked\r\n");
    }
    if (rv == 0) {
        rv = buf_printf(&r->response, "Date: %s\r\nConnection: %s\r\n\r\n", date,
                        r->keep_alive ? "keep-alive" : "close");
    }
    return rv;
}

static size_t request_head_len(const struct http_header *headers, size_t header_count)
{
    size_t head_len = 256; /* status line and the headers added here */
    for (size_t i = 0; i < header_count; i++) {
        head_len += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    }
    return head_len;
}

/* Fills r->out. Too big or out of memory: a bodyless 500 and a close. */
static void request_build_response(struct http1_request *r,
                                   int status,
                                   const struct http_header *headers,
                                   size_t header_count,
                                   const uint8_t *body,
                                   size_t body_len)
{
    size_t head_len = request_head_len(headers, header_count);
    int rv = buf_reserve(&r->response, head_len + (r->is_head ? 0 : body_len));
    if (rv == 0) {
        rv = request_build_head(r, status, headers, header_count, FRAMING_LENGTH, body_len);
    }
    if (rv == 0 && !r->is_head) {
        rv = buf_append(&r->response, body, body_len);
    }
    if (rv != 0) {
        LOG_ERROR("http response failed status=%d body_len=%zu err=%s", status, body_len,
                  eddy_strerror(rv));
        buf_free(&r->response);
        r->keep_alive = false;
        r->out = uv_buf_init((char *)http1_fallback_500, sizeof(http1_fallback_500) - 1);
        return;
    }
    r->out = uv_buf_init((char *)r->response.data, (unsigned)r->response.len);
}

/* --- parsing (no sockets) --- */

static struct http1_parse *parse_of(http_parser *hp)
{
    return container_of(hp, struct http1_parse, parser);
}

static int parse_fail(struct http1_parse *p, int status)
{
    p->status = status;
    return -1;
}

static int parse_fail_rv(struct http1_parse *p, int rv, int too_big_status)
{
    return parse_fail(p, rv == -EDDY_ETOOBIG ? too_big_status : 503);
}

static int parse_on_message_begin(http_parser *hp)
{
    struct http1_parse *p = parse_of(hp);
    EDDY_ASSERT(p->cur == NULL);
    EDDY_ASSERT(p->done == NULL);
    p->cur = request_create();
    if (p->cur == NULL) {
        return parse_fail(p, 503);
    }
    p->last = LAST_NONE;
    p->headers_done = false;
    p->message_start_ms = p->now_ms;
    return 0;
}

static int parse_on_url(http_parser *hp, const char *at, size_t len)
{
    struct http1_parse *p = parse_of(hp);
    if (p->last != LAST_NONE && p->last != LAST_URL) {
        return parse_fail(p, 400);
    }
    p->last = LAST_URL;
    int rv = buf_append(&p->cur->arena, at, len);
    return rv == 0 ? 0 : parse_fail_rv(p, rv, 431);
}

static int parse_on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct http1_parse *p = parse_of(hp);
    struct http1_request *r = p->cur;
    if (p->headers_done) {
        return 0;
    }
    int rv = 0;
    if (p->last != LAST_FIELD) {
        if (r->header_count == GW_HTTP_HEADERS_COUNT_MAX) {
            return parse_fail(p, 431);
        }
        rv = buf_append(&r->arena, "", 1);
        r->name_off[r->header_count++] = (uint32_t)r->arena.len;
    }
    p->last = LAST_FIELD;
    if (rv == 0) {
        rv = buf_append(&r->arena, at, len);
    }
    return rv == 0 ? 0 : parse_fail_rv(p, rv, 431);
}

static int parse_on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct http1_parse *p = parse_of(hp);
    struct http1_request *r = p->cur;
    if (p->headers_done) {
        return 0;
    }
    int rv = 0;
    if (p->last != LAST_VALUE) {
        if (p->last != LAST_FIELD) {
            return parse_fail(p, 400);
        }
        rv = buf_append(&r->arena, "", 1);
        r->value_off[r->header_count - 1] = (uint32_t)r->arena.len;
    }
    p->last = LAST_VALUE;
    if (rv == 0) {
        rv = buf_append(&r->arena, at, len);
    }
    return rv == 0 ? 0 : parse_fail_rv(p, rv, 431);
}

static int parse_end_headers(struct http1_parse *p)
{
    struct http1_request *r = p->cur;
    int rv = buf_append(&r->arena, "", 1);
    if (rv == 0 && p->last == LAST_FIELD) {
        /* A name without a value callback: give it an empty value. */
        r->value_off[r->header_count - 1] = (uint32_t)r->arena.len;
        rv = buf_append(&r->arena, "", 1);
    }
    if (rv != 0) {
        return parse_fail_rv(p, rv, 431);
    }
    r->headers = eddy_calloc(r->header_count ? r->header_count : 1, sizeof(*r->headers));
    if (r->headers == NULL) {
        return parse_fail(p, 503);
    }
    const char *base = (const char *)r->arena.data;
    for (size_t i = 0; i < r->header_count; i++) {
        r->headers[i].name = base + r->name_off[i];
        r->headers[i].value = base + r->value_off[i];
    }
    r->base.target = base;
    r->base.headers = r->headers;
    r->base.header_count = r->header_count;
    p->headers_done = true;
    return 0;
}

static int parse_on_headers_complete(http_parser *hp)
{
    struct http1_parse *p = parse_of(hp);
    struct http1_request *r = p->cur;
    if (parse_end_headers(p) != 0) {
        return -1;
    }
    r->base.method = http_method_str((enum http_method)hp->method);
    r->is_head = hp->method == HTTP_HEAD;
    r->is_http10 = hp->http_major == 1 && hp->http_minor == 0;
    r->keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    bool has_length = (hp->flags & F_CONTENTLENGTH) != 0;
    if (has_length && hp->content_length > GW_HTTP_BODY_BYTES_MAX) {
        return parse_fail(p, 413);
    }
    const char *expect = http_request_header(&r->base, "Expect");
    bool has_body = (hp->flags & F_CHUNKED) != 0 || (has_length && hp->content_length > 0);
    r->expects_continue = expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
                          hp->http_major == 1 && hp->http_minor >= 1 && has_body;
    return 0;
}

static int parse_on_body(http_parser *hp, const char *at, size_t len)
{
    struct http1_parse *p = parse_of(hp);
    struct http1_request *r = p->cur;
    if (len > GW_HTTP_BODY_BYTES_MAX - r->body.len) {
        return parse_fail(p, 413);
    }
    int rv = buf_append(&r->body, at, len);
    return rv == 0 ? 0 : parse_fail_rv(p, rv, 413);
}

static int parse_on_message_complete(http_parser *hp)
{
    struct http1_parse *p = parse_of(hp);
    struct http1_request *r = p->cur;
    if (r->body.len > 0) {
        /* body.len_max leaves room for the terminator. */
        int rv = buf_reserve(&r->body, 1);
        if (rv != 0) {
            return parse_fail_rv(p, rv, 413);
        }
        r->body.data[r->body.len] = '\0';
        r->base.body = r->body.data;
        r->base.body_len = r->body.len;
    }
    p->done = r;
    p->cur = NULL;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings parse_settings = {
    .on_message_begin = parse_on_message_begin,
    .on_url = parse_on_url,
    .on_header_field = parse_on_header_field,
    .on_header_value = parse_on_header_value,
    .on_headers_complete = parse_on_headers_complete,
    .on_body = parse_on_body,
    .on_message_complete = parse_on_message_complete,
};

static void parse_init(struct http1_parse *p, uint64_t now_ms)
{
    memset(p, 0, sizeof(*p));
    http_parser_init(&p->parser, HTTP_REQUEST);
    p->now_ms = now_ms;
}

static void parse_release(struct http1_parse *p)
{
    if (p->cur != NULL) {
        request_destroy(p->cur);
        p->cur = NULL;
    }
    if (p->done != NULL) {
        request_destroy(p->done);
        p->done = NULL;
    }
}

static struct http1_request *parse_take(struct http1_parse *p)
{
    struct http1_request *r = p->done;
    EDDY_ASSERT(r != NULL);
    p->done = NULL;
    return r;
}

static int parse_error_code(int status)
{
    switch (status) {
    case 400:
        return -EDDY_EMALFORMED;
    case 503:
        return -ENOMEM;
    default:
        return -EDDY_ETOOBIG;
    }
}

/* Feeds bytes until one request completes. Returns 1 with the request in
 * p->done, 0 when all len bytes were consumed without completing one, or a
 * negative error with p->status set (the parser is then dead). *used is the
 * number of bytes consumed: len when 0 is returned, at least 1 when 1 is. */
static int parse_feed(struct http1_parse *p, const char *data, size_t len, size_t *used)
{
    EDDY_ASSERT(p->done == NULL);
    EDDY_ASSERT(p->status == 0);
    EDDY_ASSERT(len > 0); /* zero bytes would mean EOF to http_parser */
    size_t n = http_parser_execute(&p->parser, &parse_settings, data, len);
    EDDY_ASSERT(n <= len);
    *used = n;
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&p->parser, 0);
        EDDY_ASSERT(p->done != NULL);
        EDDY_ASSERT(n >= 1);
        return 1;
    }
    if (e == HPE_OK && n < len) {
        /* Only after an upgrade, which parsing stops at anyway. */
        e = HPE_UNKNOWN;
    }
    if (e != HPE_OK) {
        if (p->status == 0) {
            p->status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
        }
        return parse_error_code(p->status);
    }
    return 0;
}

/* --- connections --- */

static void conn_set_state(struct http1_conn *c, enum http1_conn_state to)
{
    EDDY_ASSERT(conn_transitions[c->state][to]);
    if (c->state == CONN_OPEN) {
        conn_leave_budget(c); /* input is only dropped from now on */
    }
    c->state = to;
}

static uint64_t conn_now(const struct http1_conn *c)
{
    return uv_now(c->server->loop);
}

/* Another request may be parsed: the queue and the write backlog have room. */
static bool conn_can_parse(const struct http1_conn *c)
{
    return c->fifo_count < GW_PIPELINE_DEPTH_MAX &&
           c->write_bytes + c->held_bytes <= GW_WRITE_QUEUE_BYTES_MAX;
}

/* --- the buffered-bytes budget --- */

static void conn_set_budget(struct http1_conn *c, enum http1_budget to)
{
    EDDY_ASSERT(budget_transitions[c->budget][to]);
    c->budget = to;
}

/* Bytes that may still be read before the budget is spent. */
static size_t server_room(const struct http_server *s)
{
    return s->buffered_bytes < s->buffered_max ? s->buffered_max - s->buffered_bytes : 0;
}

/* Has the idle callback look at the waiting connections (server_grant). */
static void server_schedule_grant(struct http_server *s)
{
    if (s->is_closing || list_is_empty(&s->paused)) {
        return;
    }
    s->is_grant_due = true;
    http_server_wake(s);
}

/* Charges n bytes just read on c to the budget. */
static void conn_charge(struct http1_conn *c, size_t n)
{
    c->server->buffered_bytes += n;
    c->input_bytes += n;
}

/* Gives back the charged input c no longer keeps (dropped after the last
 * request, or a partial request released). */
static void conn_settle(struct http1_conn *c)
{
    size_t kept = c->partial_bytes + c->in.len;
    EDDY_ASSERT(c->input_bytes >= kept);
    size_t dropped = c->input_bytes - kept;
    c->input_bytes = kept;
    http_server_release(c->server, dropped);
}

/* Takes c out of the waiting queue. The time it waited was the server's, so
 * the request and idle timeouts get it back. */
static void conn_unqueue(struct http1_conn *c)
{
    if (c->budget == BUDGET_FREE) {
        return;
    }
    list_remove(&c->budget_link);
    conn_set_budget(c, BUDGET_FREE);
    uint64_t now = conn_now(c);
    if (now > c->budget_since_ms) {
        c->parse.message_start_ms += now - c->budget_since_ms;
        c->activity_ms += now - c->budget_since_ms;
    }
}

/* c found no budget for a read: it stops reading and waits its turn, keeping
 * its place if it already had one. */
static void conn_wait_for_budget(struct http1_conn *c)
{
    struct http_server *s = c->server;
    EDDY_ASSERT(c->state == CONN_OPEN);
    EDDY_ASSERT(s->overdraft != c);
    if (c->budget == BUDGET_FREE) {
        list_push(&s->paused, &c->budget_link);
        c->budget_since_ms = conn_now(c);
    }
    conn_set_budget(c, BUDGET_WAITING);
    conn_update_reading(c);
    server_schedule_grant(s); /* perhaps nothing else can free bytes */
}

/* c takes no more requests (leaving OPEN). */
static void conn_leave_budget(struct http1_conn *c)
{
    struct http_server *s = c->server;
    conn_unqueue(c);
    if (s->overdraft == c) {
        s->overdraft = NULL;
        server_schedule_grant(s);
    }
}

/* The size of c's next read: all of it for input that is dropped or for the
 * overdraft; nothing while others wait ahead of c; else the budget left. */
static size_t conn_read_size(const struct http1_conn *c)
{
    const struct http_server *s = c->server;
    if (c->state != CONN_OPEN || s->overdraft == c) {
        return HTTP1_READ_BUF_BYTES;
    }
    if (c->budget == BUDGET_FREE && !list_is_empty(&s->paused)) {
        return 0;
    }
    size_t room = server_room(s);
    return room < HTTP1_READ_BUF_BYTES ? room : HTTP1_READ_BUF_BYTES;
}

/* Lets the waiting connections at the head of the queue read, as many as the
 * budget left gives one read each. With no budget left and no request held
 * by the application (so no answer will free bytes), the oldest waiting
 * connection becomes the overdraft: it reads past the budget until one
 * request completes. */
static void server_grant(struct http_server *s)
{
    size_t room = server_room(s);
    size_t turns = 0;
    struct list_link *l = s->paused.next;
    while (l != &s->paused && turns * HTTP1_READ_BUF_BYTES < room) {
        struct http1_conn *c = container_of(l, struct http1_conn, budget_link);
        l = l->next;
        turns++;
        if (c->budget != BUDGET_WAITING) {
            continue;
        }
        conn_set_budget(c, BUDGET_GRANTED);
        conn_update_reading(c);
        if (c->state == CONN_OPEN && !c->is_reading) {
            conn_unqueue(c); /* cannot read for another reason: no turn to hold */
        }
    }
    while (room == 0 && s->overdraft == NULL && s->app_request_count == 0 &&
           !list_is_empty(&s->paused)) {
        struct http1_conn *c = container_of(s->paused.next, struct http1_conn, budget_link);
        conn_unqueue(c);
        conn_update_reading(c);
        if (c->state == CONN_OPEN && c->is_reading) {
            LOG_DEBUG("http budget overdraft buffered=%zu max=%zu", s->buffered_bytes,
                      s->buffered_max);
            s->overdraft = c;
        }
    }
}

static void conn_on_close(struct http_io *io)
{
    struct http1_conn *c = http_io_data(io);
    struct http_server *s = c->server;
    EDDY_ASSERT(c->writes_in_flight == 0);
    EDDY_ASSERT(list_is_empty(&c->fifo));
    list_remove(&c->link);
    buf_free(&c->in);
    eddy_free(c);
    http_server_conn_closed(s);
}

/* Drops the request being parsed; conn_settle then gives its bytes back. */
static void conn_parse_release(struct http1_conn *c)
{
    parse_release(&c->parse);
    c->partial_bytes = 0;
}

/* Has r's stream callback run from the idle callback (never inside a
 * stream_* call). */
static void server_notify(struct http_server *s, struct http1_request *r)
{
    if (r->base.stream_cb == NULL || !list_is_empty(&r->notify_link)) {
        return;
    }
    list_push(&s->notify, &r->notify_link);
    http_server_wake(s);
}

/* Runs the due stream callbacks. A callback may end any stream, so each
 * request leaves the list before its callback runs. */
static void server_run_notify(struct http_server *s)
{
    while (!list_is_empty(&s->notify)) {
        struct http1_request *r = container_of(s->notify.next, struct http1_request, notify_link);
        list_remove(&r->notify_link);
        if (r->base.stream_cb != NULL) {
            r->base.stream_cb(r->base.stream_arg, &r->base);
        }
    }
}

/* A request of a closing connection: one the application holds is detached
 * (and, PENDING, stays charged to the budget until answered), an answered one
 * dies here unless its write is in flight (then in the write callback). */
static void conn_drop_request(struct http1_conn *c, struct http1_request *r)
{
    struct http_server *s = c->server;
    r->conn = NULL;
    switch (r->state) {
    case REQ_PENDING:
        request_set_state(r, REQ_DETACHED);
        list_push(&s->detached, &r->link);
        break;
    case REQ_STREAMING:
        request_set_state(r, REQ_DETACHED);
        server_notify(s, r);
        break;
    default:
        EDDY_ASSERT(r->state == REQ_ANSWERED);
        c->held_bytes -= r->out.len;
        if (r->is_writing) {
            request_set_state(r, REQ_DETACHED);
            r->is_ended = true;
        } else {
            request_destroy(r);
        }
        break;
    }
}

/* Writes in flight are cancelled by libuv before the close callback.
 * Idempotent. */
static void conn_close(struct http1_conn *c)
{
    struct http_server *s = c->server;
    if (c->state == CONN_CLOSING) {
        return;
    }
    conn_set_state(c, CONN_CLOSING);
    list_remove(&c->resume_link);
    while (!list_is_empty(&c->fifo)) {
        struct http1_request *r = container_of(c->fifo.next, struct http1_request, link);
        list_remove(&r->link);
        c->fifo_count--;
        conn_drop_request(c, r);
    }
    conn_parse_release(c);
    http_server_release(s, c->input_bytes); /* c->in is freed in the close callback */
    c->input_bytes = 0;
    c->is_reading = false;
    http_io_close(c->io, conn_on_close);
}

static void conn_on_write_done(struct http1_conn *c, size_t len, int status)
{
    EDDY_ASSERT(c->writes_in_flight > 0);
    EDDY_ASSERT(c->write_bytes >= len);
    c->writes_in_flight--;
    c->write_bytes -= len;
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (status < 0) {
        LOG_DEBUG("http write failed err=%s", uv_strerror(status));
        conn_close(c);
        return;
    }
    c->activity_ms = conn_now(c);
    c->write_progress_ms = c->activity_ms;
    conn_after_progress(c);
}

/* The stream queue of r went down: tell its owner once it is below half. */
static void request_after_stream_write(struct http1_request *r, struct http_server *s)
{
    if (r->state == REQ_STREAMING && r->is_above_half &&
        r->response.len + r->sending.len < HTTP_STREAM_QUEUED_MAX / 2) {
        r->is_above_half = false;
        server_notify(s, r);
    }
}

/* The write of r's last bytes (WRITING) frees r; a stream body write lets the
 * next one start. */
static void conn_on_write_response(struct http_io_write *w, int status)
{
    struct http1_request *r = container_of(w, struct http1_request, write);
    struct http1_conn *c = r->write_conn;
    EDDY_ASSERT(r->is_writing);
    r->is_writing = false;
    r->write_conn = NULL;
    if (r->state == REQ_WRITING) {
        size_t len = r->out.len;
        request_destroy(r);
        conn_on_write_done(c, len, status);
        return;
    }
    size_t len = r->sending.len;
    buf_reset(&r->sending);
    if (r->state == REQ_DETACHED && r->is_ended) {
        request_destroy(r);
    } else {
        request_after_stream_write(r, c->server);
    }
    conn_on_write_done(c, len, status);
    conn_flush(c);
}

static void conn_on_write_continue(struct http_io_write *w, int status)
{
    struct http1_continue_write *cw = container_of(w, struct http1_continue_write, req);
    struct http1_conn *c = cw->conn;
    eddy_free(cw);
    conn_on_write_done(c, sizeof(http1_continue) - 1, status);
}

/* Sends "100 Continue" for the request being parsed once no earlier response
 * is owed, so the interim response cannot pass a final one. */
static void conn_send_continue_if_due(struct http1_conn *c)
{
    struct http1_request *r = c->parse.cur;
    if (c->state != CONN_OPEN || r == NULL || !r->expects_continue || r->continue_sent ||
        !list_is_empty(&c->fifo)) {
        return;
    }
    r->continue_sent = true;
    struct http1_continue_write *cw = eddy_xmalloc(sizeof(*cw));
    cw->conn = c;
    uv_buf_t b = uv_buf_init((char *)http1_continue, sizeof(http1_continue) - 1);
    int rv = http_io_write(c->io, &cw->req, &b, 1, conn_on_write_continue);
    if (rv != 0) {
        eddy_free(cw);
        conn_close(c);
        return;
    }
    c->writes_in_flight++;
    c->write_bytes += b.len;
}

static void conn_on_shutdown(struct http_io *io, int status)
{
    struct http1_conn *c = http_io_data(io);
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (status < 0 || c->peer_eof) {
        conn_close(c);
        return;
    }
    conn_update_reading(c);
}

static void conn_shutdown(struct http1_conn *c)
{
    conn_set_state(c, CONN_SHUTDOWN);
    c->linger_start_ms = conn_now(c);
    int rv = http_io_shutdown(c->io, conn_on_shutdown);
    if (rv != 0) {
        conn_close(c);
    }
}

/* A zero-length buffer makes libuv call conn_on_read with UV_ENOBUFS. */
static void conn_on_alloc(struct http_io *io, uv_buf_t *b)
{
    struct http1_conn *c = http_io_data(io);
    static_assert(sizeof(c->server->read_buf) == HTTP1_READ_BUF_BYTES, "one read buffer");
    *b = uv_buf_init(c->server->read_buf, (unsigned)conn_read_size(c));
}

static void conn_on_read(struct http_io *io, ssize_t nread, const uv_buf_t *b);

static void conn_update_reading(struct http1_conn *c)
{
    bool want = false;
    switch (c->state) {
    case CONN_OPEN:
        want = !c->peer_eof && c->in.len == 0 && conn_can_parse(c) && c->budget != BUDGET_WAITING;
        break;
    case CONN_DRAINING:
    case CONN_SHUTDOWN:
        want = !c->peer_eof;
        break;
    default:
        return;
    }
    if (want && !c->is_reading) {
        int rv = http_io_read_start(c->io, conn_on_alloc, conn_on_read);
        if (rv != 0) {
            conn_close(c);
            return;
        }
        c->is_reading = true;
    } else if (!want && c->is_reading) {
        http_io_read_stop(c->io);
        c->is_reading = false;
    }
}

static void conn_maybe_resume(struct http1_conn *c)
{
    struct http_server *s = c->server;
    if (c->state != CONN_OPEN || c->in.len == 0 || !conn_can_parse(c) ||
        !list_is_empty(&c->resume_link)) {
        return;
    }
    list_push(&s->resume, &c->resume_link);
    http_server_wake(s);
}

/* What follows any change: a due 100 Continue, reading on or off, a resume,
 * or the end of a drained connection. */
static void conn_after_progress(struct http1_conn *c)
{
    switch (c->state) {
    case CONN_OPEN:
        conn_send_continue_if_due(c);
        conn_update_reading(c);
        conn_maybe_resume(c);
        break;
    case CONN_DRAINING:
        if (list_is_empty(&c->fifo) && c->writes_in_flight == 0) {
            conn_shutdown(c);
        } else {
            conn_update_reading(c);
        }
        break;
    default:
        break;
    }
}

/* Writes every answered response at the head of the queue. */
static int conn_write_request(struct http1_conn *c, struct http1_request *r, uv_buf_t *b)
{
    EDDY_ASSERT(!r->is_writing);
    int rv = http_io_write(c->io, &r->write, b, 1, conn_on_write_response);
    if (rv != 0) {
        return rv;
    }
    r->is_writing = true;
    r->write_conn = c;
    c->writes_in_flight++;
    c->write_bytes += b->len;
    return 0;
}

/* A stream heading the queue: its queued body bytes go out, one write at a
 * time. */
static int conn_flush_stream(struct http1_conn *c, struct http1_request *r)
{
    if (r->is_writing || r->response.len == 0) {
        return 0;
    }
    struct buf tmp = r->sending;
    r->sending = r->response;
    r->response = tmp;
    uv_buf_t b = uv_buf_init((char *)r->sending.data, (unsigned)r->sending.len);
    return conn_write_request(c, r, &b);
}

/* Writes every answered response at the head of the queue, and the body of a
 * stream heading it. */
static void conn_flush(struct http1_conn *c)
{
    while ((c->state == CONN_OPEN || c->state == CONN_DRAINING) && !list_is_empty(&c->fifo)) {
        struct http1_request *r = container_of(c->fifo.next, struct http1_request, link);
        if (r->state == REQ_STREAMING) {
            if (conn_flush_stream(c, r) != 0) {
                conn_close(c);
                return;
            }
            break;
        }
        if (r->state != REQ_ANSWERED || r->is_writing) {
            break;
        }
        list_remove(&r->link);
        c->fifo_count--;
        c->held_bytes -= r->out.len;
        request_set_state(r, REQ_WRITING);
        if (!r->keep_alive && c->state == CONN_OPEN) {
            conn_set_state(c, CONN_DRAINING);
        }
        if (r->out.len == 0) {
            request_destroy(r); /* a stream whose every byte is written */
            continue;
        }
        if (conn_write_request(c, r, &r->out) != 0) {
            request_destroy(r);
            conn_close(c);
            return;
        }
    }
    conn_after_progress(c);
}

static void conn_enqueue(struct http1_conn *c, struct http1_request *r)
{
    r->conn = c;
    list_push(&c->fifo, &r->link);
    c->fifo_count++;
    if (!r->keep_alive && c->state == CONN_OPEN) {
        conn_set_state(c, CONN_DRAINING); /* nothing is parsed after it */
    }
}

/* Queues an error response after the requests already queued, then closes. */
static void conn_reject(struct http1_conn *c, int status)
{
    LOG_DEBUG("http request rejected status=%d", status);
    conn_parse_release(c);
    struct http1_request *r = request_create();
    if (r == NULL) {
        conn_close(c);
        return;
    }
    r->keep_alive = false;
    request_build_response(r, status, NULL, 0, NULL, 0);
    request_set_state(r, REQ_ANSWERED);
    conn_enqueue(c, r);
    c->held_bytes += r->out.len;
    conn_flush(c);
}

/* Parses requests from data and hands each to the application. Stops at the
 * end of data, on a request boundary when the queue is full, or when the
 * connection leaves OPEN. Returns the bytes consumed. */
static size_t conn_feed(struct http1_conn *c, const char *data, size_t len)
{
    struct http_server *s = c->server;
    size_t off = 0;
    c->parse.now_ms = conn_now(c);
    while (off < len && c->state == CONN_OPEN && conn_can_parse(c)) {
        size_t n = 0;
        int rv = parse_feed(&c->parse, data + off, len - off, &n);
        off += n;
        c->partial_bytes += n;
        if (rv < 0) {
            conn_reject(c, c->parse.status);
            break;
        }
        if (rv == 0) {
            conn_send_continue_if_due(c);
            continue;
        }
        struct http1_request *r = parse_take(&c->parse);
        c->activity_ms = c->parse.now_ms;
        /* The request's input moves from c's charge to the request's. */
        EDDY_ASSERT(c->input_bytes >= c->partial_bytes);
        r->server = s;
        r->charged_bytes = c->partial_bytes;
        c->input_bytes -= c->partial_bytes;
        c->partial_bytes = 0;
        s->app_request_count++;
        if (s->overdraft == c) {
            s->overdraft = NULL; /* its one request past the budget is done */
        }
        request_set_state(r, REQ_PENDING);
        conn_enqueue(c, r);
        s->request_cb(s->data, &r->base);
    }
    return off;
}

static void conn_on_eof(struct http1_conn *c)
{
    c->peer_eof = true;
    if (c->state == CONN_SHUTDOWN) {
        conn_close(c);
        return;
    }
    if (c->state != CONN_OPEN) {
        return;
    }
    /* A request cut short can never complete. */
    conn_parse_release(c);
    conn_settle(c);
    if (list_is_empty(&c->fifo) && c->writes_in_flight == 0) {
        conn_close(c);
        return;
    }
    if (!list_is_empty(&c->fifo)) {
        struct http1_request *tail = container_of(c->fifo.prev, struct http1_request, link);
        if (tail->state == REQ_PENDING) {
            tail->keep_alive = false;
        }
    }
    conn_set_state(c, CONN_DRAINING);
    conn_after_progress(c);
}

static void conn_on_read(struct http_io *io, ssize_t nread, const uv_buf_t *b)
{
    struct http1_conn *c = http_io_data(io);
    if (nread == 0 || c->state == CONN_CLOSING) {
        return;
    }
    if (nread == UV_ENOBUFS && c->state == CONN_OPEN) {
        conn_wait_for_budget(c); /* conn_on_alloc found no budget */
        return;
    }
    conn_unqueue(c); /* a granted turn is used */
    if (nread < 0) {
        http_io_read_stop(io);
        c->is_reading = false;
        if (nread == UV_EOF) {
            conn_on_eof(c);
        } else {
            LOG_DEBUG("http read failed err=%s", uv_strerror((int)nread));
            conn_close(c);
        }
        return;
    }
    size_t len = (size_t)nread;
    if (c->state == CONN_OPEN) {
        conn_charge(c, len);
    }
    size_t used = c->state == CONN_OPEN && c->in.len == 0 ? conn_feed(c, b->base, len) : 0;
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (c->state == CONN_OPEN && used < len) {
        if (buf_append(&c->in, b->base + used, len - used) != 0) {
            conn_close(c);
            return;
        }
    } else if (c->state != CONN_OPEN) {
        c->discarded_bytes += len - used;
        if (c->discarded_bytes > HTTP1_DISCARD_BYTES_MAX) {
            conn_close(c);
            return;
        }
    }
    conn_settle(c);
    conn_after_progress(c);
}

/* Continues parsing the input kept when parsing paused. */
static void conn_resume(struct http1_conn *c)
{
    if (c->state != CONN_OPEN) {
        return;
    }
    size_t used = conn_feed(c, (const char *)c->in.data, c->in.len);
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (c->state == CONN_OPEN) {
        buf_consume(&c->in, used);
    } else {
        buf_reset(&c->in);
    }
    conn_settle(c);
    conn_after_progress(c);
}

/* Closes c if a client stalled: no request progress, nothing read from a
 * queued write, idle too long, or lingering too long. */
static void conn_sweep(struct http1_conn *c, uint64_t now_ms)
{
    if (c->state == CONN_CLOSING) {
        return;
    }
    const char *reason = NULL;
    size_t queued = http_io_write_queue_size(c->io);
    if (queued != c->write_queue_seen) {
        c->write_queue_seen = queued;
        c->write_progress_ms = now_ms;
    } else if (queued > 0 && http_has_passed(now_ms, c->write_progress_ms, GW_IDLE_TIMEOUT_MS)) {
        reason = "write stalled";
    }
    /* Paused by the server (write backlog, budget): not the client's slowness. */
    bool is_write_ok = c->write_bytes + c->held_bytes <= GW_WRITE_QUEUE_BYTES_MAX;
    bool is_budget_ok = c->budget == BUDGET_FREE;
    if (c->state == CONN_OPEN && c->parse.cur != NULL && is_write_ok && is_budget_ok &&
        http_has_passed(now_ms, c->parse.message_start_ms, GW_REQUEST_TIMEOUT_MS)) {
        reason = "request timeout";
    }
    if (c->state == CONN_OPEN && c->parse.cur == NULL && list_is_empty(&c->fifo) &&
        c->writes_in_flight == 0 && c->in.len == 0 && is_budget_ok &&
        http_has_passed(now_ms, c->activity_ms, GW_IDLE_TIMEOUT_MS)) {
        reason = "idle";
    }
    if (c->state == CONN_SHUTDOWN && http_has_passed(now_ms, c->linger_start_ms, HTTP1_LINGER_MS)) {
        reason = "linger";
    }
    if (reason != NULL) {
        LOG_DEBUG("http conn closed reason=%s", reason);
        conn_close(c);
    }
}

/* --- the server's side --- */

void http1_server_sweep(struct http_server *s, uint64_t now_ms)
{
    for (struct list_link *l = s->conns.next; l != &s->conns; l = l->next) {
        conn_sweep(container_of(l, struct http1_conn, link), now_ms);
    }
}

void http1_set_buffered_max_for_test(struct http_server *s, size_t bytes)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(bytes >= 1);
    s->buffered_max = bytes;
    server_schedule_grant(s);
}

size_t http1_buffered_bytes_for_test(const struct http_server *s)
{
    EDDY_ASSERT(s != NULL);
    return s->buffered_bytes;
}

void http1_server_idle(struct http_server *s)
{
    struct list_link batch;
    list_init(&batch);
    list_take(&batch, &s->resume);
    while (!list_is_empty(&batch)) {
        struct http1_conn *c = container_of(batch.next, struct http1_conn, resume_link);
        list_remove(&c->resume_link);
        conn_resume(c);
    }
    if (s->is_grant_due) {
        s->is_grant_due = false;
        server_grant(s);
    }
    server_run_notify(s);
}

void http1_server_budget_freed(struct http_server *s)
{
    server_schedule_grant(s);
}

void http1_server_close(struct http_server *s)
{
    for (struct list_link *l = s->conns.next; l != &s->conns; l = l->next) {
        conn_close(container_of(l, struct http1_conn, link));
    }
    EDDY_ASSERT(list_is_empty(&s->paused));
    /* The owners of streams cut by the close hear of it now. */
    server_run_notify(s);
    /* Detached requests outlive s: they leave its budget now. */
    while (!list_is_empty(&s->detached)) {
        request_uncharge(container_of(s->detached.next, struct http1_request, link));
    }
}

void http1_conn_start(struct http_server *s, struct http_io *io, const uint8_t *data, size_t len)
{
    EDDY_ASSERT(len <= HTTP1_READ_BUF_BYTES);
    struct http1_conn *c = eddy_xcalloc(1, sizeof(*c));
    c->io = io;
    http_io_set_data(io, c);
    c->server = s;
    c->state = CONN_OPEN;
    list_init(&c->resume_link);
    list_init(&c->budget_link);
    c->budget = BUDGET_FREE;
    list_init(&c->fifo);
    list_init(&c->link);
    list_push(&s->conns, &c->link);
    parse_init(&c->parse, uv_now(s->loop));
    buf_init(&c->in, 2 * HTTP1_READ_BUF_BYTES);
    c->activity_ms = uv_now(s->loop);
    c->write_progress_ms = c->activity_ms;
    if (len > 0) {
        /* The bytes protocol detection read: parsed as if read now. */
        int rv = buf_append(&c->in, data, len);
        EDDY_ASSERT(rv == 0);
        conn_charge(c, len);
        conn_resume(c);
        return;
    }
    conn_update_reading(c);
}

/* --- requests: the application's side (through http.c) --- */

static bool http1_is_connected(const struct http_request *base)
{
    return http1_of(base)->conn != NULL;
}

static void http1_respond(struct http_request *base,
                          int status,
                          const struct http_header *headers,
                          size_t header_count,
                          const uint8_t *body,
                          size_t body_len)
{
    struct http1_request *r = http1_of(base);
    if (r->state == REQ_DETACHED) {
        request_release(r);
        request_destroy(r);
        return;
    }
    EDDY_ASSERT(r->state == REQ_PENDING);
    struct http1_conn *c = r->conn;
    EDDY_ASSERT(c != NULL);
    EDDY_ASSERT(c->state == CONN_OPEN || c->state == CONN_DRAINING);
    request_build_response(r, status, headers, header_count, body, body_len);
    request_set_state(r, REQ_ANSWERED);
    request_release(r); /* after the build: headers and body may point into r */
    c->held_bytes += r->out.len;
    conn_flush(c);
}

/* The body is freed and the request leaves the budget at once: a stream may
 * last minutes and must not hold input bytes the whole time. HTTP/1.0
 * clients get a body delimited by the close instead of chunks. */
static void http1_stream_begin(struct http_request *base,
                               int status,
                               const struct http_header *headers,
                               size_t header_count)
{
    struct http1_request *r = http1_of(base);
    buf_free(&r->body);
    if (r->server != NULL) {
        request_uncharge(r);
    }
    if (r->state == REQ_DETACHED) {
        return; /* the client is gone: stream_write says so */
    }
    EDDY_ASSERT(r->state == REQ_PENDING);
    struct http1_conn *c = r->conn;
    EDDY_ASSERT(c != NULL);
    r->is_chunked = !r->is_http10;
    if (!r->is_chunked) {
        r->keep_alive = false;
    }
    request_set_state(r, REQ_STREAMING);
    int rv = buf_reserve(&r->response, request_head_len(headers, header_count));
    if (rv == 0) {
        rv = request_build_head(r, status, headers, header_count,
                                r->is_chunked ? FRAMING_CHUNKED : FRAMING_CLOSE, 0);
    }
    if (rv != 0) {
        LOG_ERROR("http stream head failed status=%d err=%s", status, eddy_strerror(rv));
        conn_close(c); /* the owner hears of it from its callback */
        return;
    }
    conn_flush(c);
}

static int http1_stream_write(struct http_request *base, const uint8_t *data, size_t len)
{
    struct http1_request *r = http1_of(base);
    EDDY_ASSERT(r->state == REQ_STREAMING);
    if (r->is_head) {
        return 0;
    }
    int rv = buf_reserve(&r->response, len + 32);
    if (rv != 0) {
        return rv;
    }
    if (r->is_chunked) {
        rv = buf_printf(&r->response, "%zx\r\n", len);
        EDDY_ASSERT(rv == 0); /* reserved */
    }
    rv = buf_append(&r->response, data, len);
    EDDY_ASSERT(rv == 0);
    if (r->is_chunked) {
        rv = buf_append(&r->response, "\r\n", 2);
        EDDY_ASSERT(rv == 0);
    }
    if (r->response.len + r->sending.len >= HTTP_STREAM_QUEUED_MAX / 2) {
        r->is_above_half = true;
    }
    conn_flush(r->conn);
    return 0;
}

static size_t http1_stream_queued(const struct http_request *base)
{
    const struct http1_request *r = http1_of(base);
    return r->response.len + r->sending.len;
}

static void http1_stream_end(struct http_request *base)
{
    struct http1_request *r = http1_of(base);
    list_remove(&r->notify_link);
    if (r->state == REQ_DETACHED) {
        if (r->is_writing) {
            r->is_ended = true; /* freed in the write callback */
        } else {
            request_destroy(r);
        }
        return;
    }
    EDDY_ASSERT(r->state == REQ_STREAMING);
    struct http1_conn *c = r->conn;
    if (r->is_chunked && !r->is_head && buf_append_str(&r->response, "0\r\n\r\n") != 0) {
        r->keep_alive = false; /* the client sees a cut body */
    }
    request_set_state(r, REQ_ANSWERED);
    r->out = uv_buf_init((char *)r->response.data, (unsigned)r->response.len);
    c->held_bytes += r->out.len;
    conn_flush(c);
}

static const struct http_request_ops http1_ops = {
    .protocol = "HTTP/1.1",
    .is_connected = http1_is_connected,
    .respond = http1_respond,
    .stream_begin = http1_stream_begin,
    .stream_write = http1_stream_write,
    .stream_queued = http1_stream_queued,
    .stream_end = http1_stream_end,
};

/* --- the parser alone --- */

static uint64_t http1_hash(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211ULL;
    }
    return h;
}

static uint64_t http1_hash_request(uint64_t h, const struct http1_request *r)
{
    const char *target = r->base.target;
    h = http1_hash(h, r->base.method, strlen(r->base.method) + 1);
    h = http1_hash(h, target, strlen(target) + 1);
    for (size_t i = 0; i < http_request_header_count(&r->base); i++) {
        h = http1_hash(h, r->headers[i].name, strlen(r->headers[i].name) + 1);
        h = http1_hash(h, r->headers[i].value, strlen(r->headers[i].value) + 1);
    }
    size_t len = 0;
    const uint8_t *body = http_request_body(&r->base, &len);
    h = http1_hash(h, body, len);
    return http1_hash(h, &r->keep_alive, sizeof(r->keep_alive));
}

/* Parses data fed in pieces of step bytes, as a connection would, stopping
 * after a request that ends the connection. */
static int http1_parse_run(const uint8_t *data, size_t len, size_t step, uint64_t *hash)
{
    struct http1_parse p;
    parse_init(&p, 0);
    const char *in = (const char *)data;
    int count = 0;
    int rv = 0;
    bool is_last = false;
    *hash = 14695981039346656037ULL;
    for (size_t off = 0; off < len && rv >= 0 && !is_last;) {
        size_t end = len - off > step ? off + step : len;
        while (off < end && rv >= 0 && !is_last) {
            size_t n = 0;
            rv = parse_feed(&p, in + off, end - off, &n);
            off += n;
            if (rv == 1) {
                struct http1_request *r = parse_take(&p);
                *hash = http1_hash_request(*hash, r);
                is_last = !r->keep_alive;
                request_destroy(r);
                count++;
            }
        }
    }
    parse_release(&p);
    return rv < 0 ? rv : count;
}

int http1_parse_for_test(const uint8_t *data, size_t len)
{
    EDDY_ASSERT(data != NULL || len == 0);
    uint64_t whole_hash = 0;
    uint64_t split_hash = 0;
    int whole = http1_parse_run(data, len, len > 0 ? len : 1, &whole_hash);
    /* Where reads split the input must not change what is parsed. Errors may
     * differ in kind (a size limit can trip before a bad byte is seen). */
    int split = http1_parse_run(data, len, 1 + len % 13, &split_hash);
    EDDY_ASSERT((whole < 0) == (split < 0));
    EDDY_ASSERT(whole < 0 || whole == split);
    EDDY_ASSERT(whole_hash == split_hash);
    return whole;
}
