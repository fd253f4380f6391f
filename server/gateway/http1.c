/*
 * HTTP/1.1 server. Owns the listening socket, every client connection, and
 * each request from its first byte until the application holds it.
 *
 * Connection lifecycle: OPEN (parsing requests), DRAINING (no further
 * requests: flushing the responses still owed), SHUTDOWN (write side shut;
 * input is read and dropped until EOF or HTTP1_LINGER_MS, so that closing
 * with unread bytes does not reset the connection before the client read its
 * last response), CLOSING (uv_close called; freed in the close callback).
 *
 * Request lifecycle: PARSING, then PENDING (handed to request_cb) or ANSWERED
 * (an error response made here); PENDING becomes ANSWERED when the
 * application responds, or DETACHED when the connection closes first; an
 * ANSWERED request becomes WRITING once it heads the queue and its bytes go
 * to uv_write, and is freed in the write callback.
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
 * Timeouts: one sweep timer per server checks every connection each
 * HTTP1_SWEEP_INTERVAL_MS (idle, whole request, write stall, linger). Time
 * spent waiting for the budget is the server's, so it does not count.
 */
#include "http1.h"

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

/* One read; also bounds the unparsed input kept while parsing is paused. */
#define HTTP1_READ_BUF_BYTES (64 * 1024)
/* Timeouts are checked this often, so they are accurate to this. */
#define HTTP1_SWEEP_INTERVAL_MS 1000
/* Reading and dropping input after the last response (RFC 7230 6.6). */
#define HTTP1_LINGER_MS 2000
/* Input dropped after the last request is bounded like a body. */
#define HTTP1_DISCARD_BYTES_MAX GW_HTTP_BODY_BYTES_MAX
#define HTTP1_LISTEN_BACKLOG 511
/* Refused connections are logged at most this often. */
#define HTTP1_REJECT_LOG_INTERVAL_MS 1000

static_assert(GW_HTTP_HEADER_BYTES_MAX < UINT32_MAX, "header offsets fit 32 bits");
static_assert(GW_PIPELINE_DEPTH_MAX >= 1, "a connection parses at least one request");
static_assert(GW_BUFFERED_BYTES_MAX >= HTTP1_READ_BUF_BYTES, "the budget holds one read");

/* Test hooks, declared again in tests/unit/gateway/test_http1.c: runs the
 * timeout checks as if the loop clock read now_ms; replaces the server's
 * GW_BUFFERED_BYTES_MAX; reads the bytes charged to the budget now. */
void http1_sweep_for_test(struct http_server *s, uint64_t now_ms);
void http1_set_buffered_max_for_test(struct http_server *s, size_t bytes);
size_t http1_buffered_bytes_for_test(const struct http_server *s);

struct http1_link {
    struct http1_link *prev;
    struct http1_link *next;
};

enum http1_req_state {
    REQ_PARSING,
    REQ_PENDING,
    REQ_ANSWERED,
    REQ_WRITING,
    REQ_DETACHED,
    REQ_STATE_COUNT
};

enum http1_conn_state { CONN_OPEN, CONN_DRAINING, CONN_SHUTDOWN, CONN_CLOSING, CONN_STATE_COUNT };

enum http1_last_cb { LAST_NONE, LAST_URL, LAST_FIELD, LAST_VALUE };

/* A connection's place in the server's budget queue (only while OPEN). */
enum http1_budget { BUDGET_FREE, BUDGET_WAITING, BUDGET_GRANTED, BUDGET_STATE_COUNT };

struct http_request {
    uv_write_t write;           /* the response, while WRITING */
    struct http1_link link;     /* in conn->fifo while PENDING or ANSWERED, or in
                                   server->detached while DETACHED */
    struct http1_conn *conn;    /* NULL when DETACHED or parsed without a server */
    struct http_server *server; /* while charged to its budget: PENDING, DETACHED */
    size_t charged_bytes;       /* input bytes of this request, in the budget */
    enum http1_req_state state;
    const char *method;
    struct buf arena; /* target\0name\0value\0...: every string of the request */
    uint32_t name_off[GW_HTTP_HEADERS_COUNT_MAX];
    uint32_t value_off[GW_HTTP_HEADERS_COUNT_MAX];
    size_t header_count;
    struct http_header *headers; /* built once the header section ended */
    struct buf body;             /* one spare byte for the NUL */
    struct buf response;
    uv_buf_t out;    /* the response bytes to write */
    bool keep_alive; /* the response says keep-alive; false on the last one */
    bool is_head;
    bool expects_continue;
    bool continue_sent;
};

struct http1_parse {
    http_parser parser;
    struct http_request *cur;  /* between message begin and complete */
    struct http_request *done; /* complete, until taken */
    enum http1_last_cb last;
    bool headers_done; /* trailers after a chunked body are ignored */
    int status;        /* 400, 413, 431 or 503 once parsing failed */
    uint64_t now_ms;
    uint64_t message_start_ms;
};

struct http1_conn {
    uv_tcp_t tcp;
    uv_shutdown_t shutdown;
    struct http_server *server;
    struct http1_link link;        /* in server->conns until the close callback */
    struct http1_link resume_link; /* in server->resume while a resume is due */
    struct http1_link budget_link; /* in server->paused unless BUDGET_FREE */
    enum http1_conn_state state;
    enum http1_budget budget;
    uint64_t budget_since_ms; /* when it joined server->paused */
    size_t input_bytes;       /* charged, not yet a request's: partial_bytes + in.len */
    size_t partial_bytes;     /* parsed since the last complete request */
    struct http1_parse parse;
    struct http1_link fifo; /* PENDING and ANSWERED requests, in arrival order */
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
    uv_write_t req;
    struct http1_conn *conn;
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_idle_t resume_idle;
    http_request_cb request_cb;
    void *data;
    int port;
    struct http1_link conns;
    struct http1_link resume;
    struct http1_link paused;     /* connections waiting for budget, FIFO */
    struct http1_link detached;   /* DETACHED requests, still charged */
    struct http1_conn *overdraft; /* may read past the budget, one request */
    size_t buffered_bytes;        /* charged input, at most buffered_max + overdraft */
    size_t buffered_max;          /* GW_BUFFERED_BYTES_MAX but in tests */
    size_t app_request_count;     /* PENDING and DETACHED: answers will free bytes */
    bool is_grant_due;            /* the idle callback runs server_grant */
    size_t conn_count;
    unsigned handle_count; /* s is freed when the last one is closed */
    bool is_closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    uint64_t reject_log_ms;
    char read_buf[HTTP1_READ_BUF_BYTES]; /* one read at a time on one loop */
};

static const char http1_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";
static const char http1_fallback_500[] = "HTTP/1.1 500 Internal Server Error\r\n"
                                         "Content-Length: 0\r\nConnection: close\r\n\r\n";

static const bool req_transitions[REQ_STATE_COUNT][REQ_STATE_COUNT] = {
    [REQ_PARSING] = {[REQ_PENDING] = true, [REQ_ANSWERED] = true},
    [REQ_PENDING] = {[REQ_ANSWERED] = true, [REQ_DETACHED] = true},
    [REQ_ANSWERED] = {[REQ_WRITING] = true},
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
static void server_handle_closed(struct http_server *s);
static void server_on_resume(uv_idle_t *idle);
static void server_release(struct http_server *s, size_t n);
static void conn_leave_budget(struct http1_conn *c);

/* --- intrusive list --- */

static void link_init(struct http1_link *l)
{
    l->prev = l;
    l->next = l;
}

static bool link_is_empty(const struct http1_link *head)
{
    return head->next == head;
}

static void link_insert_tail(struct http1_link *head, struct http1_link *l)
{
    EDDY_ASSERT(link_is_empty(l));
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

/* Unlinks l from whatever list holds it; a no-op for an unlinked node. */
static void link_remove(struct http1_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

/* --- requests --- */

static struct http_request *request_create(void)
{
    struct http_request *r = eddy_calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    link_init(&r->link);
    r->state = REQ_PARSING;
    r->method = "";
    buf_init(&r->arena, GW_HTTP_HEADER_BYTES_MAX);
    buf_init(&r->body, (size_t)GW_HTTP_BODY_BYTES_MAX + 1);
    buf_init(&r->response, GW_WRITE_QUEUE_BYTES_MAX);
    r->keep_alive = true;
    return r;
}

static void request_destroy(struct http_request *r)
{
    EDDY_ASSERT(link_is_empty(&r->link));
    buf_free(&r->arena);
    buf_free(&r->body);
    buf_free(&r->response);
    eddy_free(r->headers);
    eddy_free(r);
}

static void request_set_state(struct http_request *r, enum http1_req_state to)
{
    EDDY_ASSERT(req_transitions[r->state][to]);
    r->state = to;
}

/* r stops counting against its server's budget: answered, or the server is
 * closing. */
static void request_uncharge(struct http_request *r)
{
    struct http_server *s = r->server;
    EDDY_ASSERT(s != NULL);
    if (r->state == REQ_DETACHED) {
        link_remove(&r->link); /* from s->detached */
    }
    r->server = NULL;
    EDDY_ASSERT(s->app_request_count > 0);
    s->app_request_count--;
    server_release(s, r->charged_bytes);
    r->charged_bytes = 0;
}

/* The application answered r: its input is freed, and its bytes go back to
 * the server's budget (if the server is still there). */
static void request_release(struct http_request *r)
{
    EDDY_ASSERT(r->state == REQ_ANSWERED || r->state == REQ_DETACHED);
    buf_free(&r->arena);
    buf_free(&r->body);
    eddy_free(r->headers);
    r->headers = NULL;
    if (r->server != NULL) {
        request_uncharge(r);
    }
}

static bool http1_is_token_char(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", ch) == NULL;
}

/* A header the application may send: a token name and a value without
 * control characters other than tab, so no response splitting. */
static bool http1_is_valid_header(const struct http_header *h)
{
    if (h->name == NULL || h->value == NULL || h->name[0] == '\0') {
        return false;
    }
    for (const char *p = h->name; *p != '\0'; p++) {
        if (!http1_is_token_char((unsigned char)*p)) {
            return false;
        }
    }
    for (const char *p = h->value; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/* The headers http_request_respond adds itself. */
static bool http1_is_added_header(const char *name)
{
    return strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Date") == 0 ||
           strcasecmp(name, "Connection") == 0;
}

/* RFC 7231 7.1.1.1 IMF-fixdate, independent of the locale. */
static void http1_format_date(char *out, size_t size, time_t t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int request_build_head(struct http_request *r,
                              int status,
                              const struct http_header *headers,
                              size_t header_count,
                              size_t body_len)
{
    char date[64];
    http1_format_date(date, sizeof(date), time(NULL));
    int rv = buf_printf(&r->response, "HTTP/1.1 %d %s\r\n", status,
                        http_status_str((enum http_status)status));
    for (size_t i = 0; i < header_count && rv == 0; i++) {
        if (!http1_is_valid_header(&headers[i]) || http1_is_added_header(headers[i].name)) {
            LOG_WARN("http response header dropped status=%d", status);
            continue;
        }
        rv = buf_printf(&r->response, "%s: %s\r\n", headers[i].name, headers[i].value);
    }
    if (rv == 0) {
        rv = buf_printf(&r->response, "Content-Length: %zu\r\nDate: %s\r\nConnection: %s\r\n\r\n",
                        body_len, date, r->keep_alive ? "keep-alive" : "close");
    }
    return rv;
}

/* Fills r->out. Too big or out of memory: a bodyless 500 and a close. */
static void request_build_response(struct http_request *r,
                                   int status,
                                   const struct http_header *headers,
                                   size_t header_count,
                                   const uint8_t *body,
                                   size_t body_len)
{
    size_t head_len = 256; /* status line and the headers added here */
    for (size_t i = 0; i < header_count; i++) {
        head_len += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    }
    int rv = buf_reserve(&r->response, head_len + (r->is_head ? 0 : body_len));
    if (rv == 0) {
        rv = request_build_head(r, status, headers, header_count, body_len);
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
    struct http_request *r = p->cur;
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
    struct http_request *r = p->cur;
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
    struct http_request *r = p->cur;
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
    p->headers_done = true;
    return 0;
}

static int parse_on_headers_complete(http_parser *hp)
{
    struct http1_parse *p = parse_of(hp);
    struct http_request *r = p->cur;
    if (parse_end_headers(p) != 0) {
        return -1;
    }
    r->method = http_method_str((enum http_method)hp->method);
    r->is_head = hp->method == HTTP_HEAD;
    r->keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    bool has_length = (hp->flags & F_CONTENTLENGTH) != 0;
    if (has_length && hp->content_length > GW_HTTP_BODY_BYTES_MAX) {
        return parse_fail(p, 413);
    }
    const char *expect = http_request_header(r, "Expect");
    bool has_body = (hp->flags & F_CHUNKED) != 0 || (has_length && hp->content_length > 0);
    r->expects_continue = expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
                          hp->http_major == 1 && hp->http_minor >= 1 && has_body;
    return 0;
}

static int parse_on_body(http_parser *hp, const char *at, size_t len)
{
    struct http1_parse *p = parse_of(hp);
    struct http_request *r = p->cur;
    if (len > GW_HTTP_BODY_BYTES_MAX - r->body.len) {
        return parse_fail(p, 413);
    }
    int rv = buf_append(&r->body, at, len);
    return rv == 0 ? 0 : parse_fail_rv(p, rv, 413);
}

static int parse_on_message_complete(http_parser *hp)
{
    struct http1_parse *p = parse_of(hp);
    struct http_request *r = p->cur;
    if (r->body.len > 0) {
        /* body.len_max leaves room for the terminator. */
        int rv = buf_reserve(&r->body, 1);
        if (rv != 0) {
            return parse_fail_rv(p, rv, 413);
        }
        r->body.data[r->body.len] = '\0';
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

static struct http_request *parse_take(struct http1_parse *p)
{
    struct http_request *r = p->done;
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
    return uv_now(c->tcp.loop);
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
    if (s->is_closing || link_is_empty(&s->paused)) {
        return;
    }
    s->is_grant_due = true;
    uv_idle_start(&s->resume_idle, server_on_resume);
}

static void server_release(struct http_server *s, size_t n)
{
    EDDY_ASSERT(s->buffered_bytes >= n);
    s->buffered_bytes -= n;
    if (n > 0) {
        server_schedule_grant(s);
    }
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
    server_release(c->server, dropped);
}

/* Takes c out of the waiting queue. The time it waited was the server's, so
 * the request and idle timeouts get it back. */
static void conn_unqueue(struct http1_conn *c)
{
    if (c->budget == BUDGET_FREE) {
        return;
    }
    link_remove(&c->budget_link);
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
        link_insert_tail(&s->paused, &c->budget_link);
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
    if (c->budget == BUDGET_FREE && !link_is_empty(&s->paused)) {
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
    struct http1_link *l = s->paused.next;
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
           !link_is_empty(&s->paused)) {
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

static void conn_on_close(uv_handle_t *h)
{
    struct http1_conn *c = container_of(h, struct http1_conn, tcp);
    struct http_server *s = c->server;
    EDDY_ASSERT(c->writes_in_flight == 0);
    EDDY_ASSERT(link_is_empty(&c->fifo));
    link_remove(&c->link);
    EDDY_ASSERT(s->conn_count > 0);
    s->conn_count--;
    buf_free(&c->in);
    eddy_free(c);
    server_handle_closed(s);
}

/* Drops the request being parsed; conn_settle then gives its bytes back. */
static void conn_parse_release(struct http1_conn *c)
{
    parse_release(&c->parse);
    c->partial_bytes = 0;
}

/* Unanswered requests are detached and stay the application's (and charged
 * to the budget until answered); answered ones die here; writes in flight
 * are cancelled by libuv before the close callback. Idempotent. */
static void conn_close(struct http1_conn *c)
{
    struct http_server *s = c->server;
    if (c->state == CONN_CLOSING) {
        return;
    }
    conn_set_state(c, CONN_CLOSING);
    link_remove(&c->resume_link);
    while (!link_is_empty(&c->fifo)) {
        struct http_request *r = container_of(c->fifo.next, struct http_request, link);
        link_remove(&r->link);
        c->fifo_count--;
        if (r->state == REQ_PENDING) {
            r->conn = NULL;
            request_set_state(r, REQ_DETACHED);
            link_insert_tail(&s->detached, &r->link);
        } else {
            EDDY_ASSERT(r->state == REQ_ANSWERED);
            c->held_bytes -= r->out.len;
            request_destroy(r);
        }
    }
    conn_parse_release(c);
    server_release(s, c->input_bytes); /* c->in is freed in the close callback */
    c->input_bytes = 0;
    c->is_reading = false;
    uv_close((uv_handle_t *)&c->tcp, conn_on_close);
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

static void conn_on_write_response(uv_write_t *w, int status)
{
    struct http_request *r = container_of(w, struct http_request, write);
    struct http1_conn *c = r->conn;
    size_t len = r->out.len;
    request_destroy(r);
    conn_on_write_done(c, len, status);
}

static void conn_on_write_continue(uv_write_t *w, int status)
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
    struct http_request *r = c->parse.cur;
    if (c->state != CONN_OPEN || r == NULL || !r->expects_continue || r->continue_sent ||
        !link_is_empty(&c->fifo)) {
        return;
    }
    r->continue_sent = true;
    struct http1_continue_write *cw = eddy_xmalloc(sizeof(*cw));
    cw->conn = c;
    uv_buf_t b = uv_buf_init((char *)http1_continue, sizeof(http1_continue) - 1);
    int rv = uv_write(&cw->req, (uv_stream_t *)&c->tcp, &b, 1, conn_on_write_continue);
    if (rv != 0) {
        eddy_free(cw);
        conn_close(c);
        return;
    }
    c->writes_in_flight++;
    c->write_bytes += b.len;
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
    struct http1_conn *c = container_of(req, struct http1_conn, shutdown);
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
    int rv = uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn_on_shutdown);
    if (rv != 0) {
        conn_close(c);
    }
}

/* A zero-length buffer makes libuv call conn_on_read with UV_ENOBUFS. */
static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct http1_conn *c = container_of(h, struct http1_conn, tcp);
    (void)suggested;
    static_assert(sizeof(c->server->read_buf) == HTTP1_READ_BUF_BYTES, "one read buffer");
    *b = uv_buf_init(c->server->read_buf, (unsigned)conn_read_size(c));
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);

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
        int rv = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
        if (rv != 0) {
            conn_close(c);
            return;
        }
        c->is_reading = true;
    } else if (!want && c->is_reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->is_reading = false;
    }
}

static void conn_maybe_resume(struct http1_conn *c)
{
    struct http_server *s = c->server;
    if (c->state != CONN_OPEN || c->in.len == 0 || !conn_can_parse(c) ||
        !link_is_empty(&c->resume_link)) {
        return;
    }
    if (link_is_empty(&s->resume)) {
        uv_idle_start(&s->resume_idle, server_on_resume);
    }
    link_insert_tail(&s->resume, &c->resume_link);
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
        if (link_is_empty(&c->fifo) && c->writes_in_flight == 0) {
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
static void conn_flush(struct http1_conn *c)
{
    while ((c->state == CONN_OPEN || c->state == CONN_DRAINING) && !link_is_empty(&c->fifo)) {
        struct http_request *r = container_of(c->fifo.next, struct http_request, link);
        if (r->state != REQ_ANSWERED) {
            break;
        }
        link_remove(&r->link);
        c->fifo_count--;
        c->held_bytes -= r->out.len;
        request_set_state(r, REQ_WRITING);
        if (!r->keep_alive && c->state == CONN_OPEN) {
            conn_set_state(c, CONN_DRAINING);
        }
        size_t len = r->out.len;
        int rv = uv_write(&r->write, (uv_stream_t *)&c->tcp, &r->out, 1, conn_on_write_response);
        if (rv != 0) {
            request_destroy(r);
            conn_close(c);
            return;
        }
        c->writes_in_flight++;
        c->write_bytes += len;
    }
    conn_after_progress(c);
}

static void conn_enqueue(struct http1_conn *c, struct http_request *r)
{
    r->conn = c;
    link_insert_tail(&c->fifo, &r->link);
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
    struct http_request *r = request_create();
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
        struct http_request *r = parse_take(&c->parse);
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
        s->request_cb(s->data, r);
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
    if (link_is_empty(&c->fifo) && c->writes_in_flight == 0) {
        conn_close(c);
        return;
    }
    if (!link_is_empty(&c->fifo)) {
        struct http_request *tail = container_of(c->fifo.prev, struct http_request, link);
        if (tail->state == REQ_PENDING) {
            tail->keep_alive = false;
        }
    }
    conn_set_state(c, CONN_DRAINING);
    conn_after_progress(c);
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct http1_conn *c = container_of(stream, struct http1_conn, tcp);
    if (nread == 0 || c->state == CONN_CLOSING) {
        return;
    }
    if (nread == UV_ENOBUFS && c->state == CONN_OPEN) {
        conn_wait_for_budget(c); /* conn_on_alloc found no budget */
        return;
    }
    conn_unqueue(c); /* a granted turn is used */
    if (nread < 0) {
        uv_read_stop(stream);
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

static bool http1_has_passed(uint64_t now_ms, uint64_t since_ms, uint64_t timeout_ms)
{
    return now_ms >= since_ms && now_ms - since_ms >= timeout_ms;
}

/* Closes c if a client stalled: no request progress, nothing read from a
 * queued write, idle too long, or lingering too long. */
static void conn_sweep(struct http1_conn *c, uint64_t now_ms)
{
    if (c->state == CONN_CLOSING) {
        return;
    }
    const char *reason = NULL;
    size_t queued = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    if (queued != c->write_queue_seen) {
        c->write_queue_seen = queued;
        c->write_progress_ms = now_ms;
    } else if (queued > 0 && http1_has_passed(now_ms, c->write_progress_ms, GW_IDLE_TIMEOUT_MS)) {
        reason = "write stalled";
    }
    /* Paused by the server (write backlog, budget): not the client's slowness. */
    bool is_write_ok = c->write_bytes + c->held_bytes <= GW_WRITE_QUEUE_BYTES_MAX;
    bool is_budget_ok = c->budget == BUDGET_FREE;
    if (c->state == CONN_OPEN && c->parse.cur != NULL && is_write_ok && is_budget_ok &&
        http1_has_passed(now_ms, c->parse.message_start_ms, GW_REQUEST_TIMEOUT_MS)) {
        reason = "request timeout";
    }
    if (c->state == CONN_OPEN && c->parse.cur == NULL && link_is_empty(&c->fifo) &&
        c->writes_in_flight == 0 && c->in.len == 0 && is_budget_ok &&
        http1_has_passed(now_ms, c->activity_ms, GW_IDLE_TIMEOUT_MS)) {
        reason = "idle";
    }
    if (c->state == CONN_SHUTDOWN &&
        http1_has_passed(now_ms, c->linger_start_ms, HTTP1_LINGER_MS)) {
        reason = "linger";
    }
    if (reason != NULL) {
        LOG_DEBUG("http conn closed reason=%s", reason);
        conn_close(c);
    }
}

/* --- server --- */

/* Frees s once its last handle closed, then calls the close callback. */
static void server_handle_closed(struct http_server *s)
{
    EDDY_ASSERT(s->handle_count > 0);
    if (--s->handle_count == 0) {
        EDDY_ASSERT(s->buffered_bytes == 0);
        EDDY_ASSERT(s->app_request_count == 0);
        void (*cb)(void *arg) = s->close_cb;
        void *arg = s->close_arg;
        eddy_free(s);
        if (cb != NULL) {
            cb(arg);
        }
    }
}

static void server_on_handle_close(uv_handle_t *h)
{
    struct http_server *s = h->data;
    if (h->type == UV_TCP && h != (uv_handle_t *)&s->listener) {
        eddy_free(h); /* a refused connection */
    }
    server_handle_closed(s);
}

static void server_close_handles(struct http_server *s)
{
    uv_close((uv_handle_t *)&s->listener, server_on_handle_close);
    uv_close((uv_handle_t *)&s->sweep, server_on_handle_close);
    uv_close((uv_handle_t *)&s->resume_idle, server_on_handle_close);
}

static void server_sweep(struct http_server *s, uint64_t now_ms)
{
    for (struct http1_link *l = s->conns.next; l != &s->conns; l = l->next) {
        conn_sweep(container_of(l, struct http1_conn, link), now_ms);
    }
}

void http1_sweep_for_test(struct http_server *s, uint64_t now_ms)
{
    EDDY_ASSERT(s != NULL);
    server_sweep(s, now_ms);
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

static void server_on_sweep(uv_timer_t *t)
{
    struct http_server *s = t->data;
    server_sweep(s, uv_now(s->loop));
}

static void server_on_resume(uv_idle_t *idle)
{
    struct http_server *s = idle->data;
    struct http1_link batch;
    link_init(&batch);
    if (!link_is_empty(&s->resume)) {
        batch.next = s->resume.next;
        batch.prev = s->resume.prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        link_init(&s->resume);
    }
    uv_idle_stop(idle);
    while (!link_is_empty(&batch)) {
        struct http1_conn *c = container_of(batch.next, struct http1_conn, resume_link);
        link_remove(&c->resume_link);
        conn_resume(c);
    }
    if (s->is_grant_due) {
        s->is_grant_due = false;
        server_grant(s);
    }
}

/* Past GW_CONNECTIONS_MAX: accept and close at once, so the backlog drains. */
static void server_refuse(struct http_server *s)
{
    uv_tcp_t *t = eddy_xmalloc(sizeof(*t));
    int rv = uv_tcp_init(s->loop, t);
    EDDY_ASSERT(rv == 0);
    t->data = s;
    s->handle_count++;
    rv = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, server_on_handle_close);
    uint64_t now = uv_now(s->loop);
    if (rv == 0 && http1_has_passed(now, s->reject_log_ms, HTTP1_REJECT_LOG_INTERVAL_MS)) {
        s->reject_log_ms = now;
        LOG_WARN("http connection refused reason=limit conns=%zu", s->conn_count);
    }
}

static void server_on_connection(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    if (status < 0) {
        LOG_WARN("http accept failed err=%s", uv_strerror(status));
        return;
    }
    if (s->conn_count >= GW_CONNECTIONS_MAX) {
        server_refuse(s);
        return;
    }
    struct http1_conn *c = eddy_xcalloc(1, sizeof(*c));
    int rv = uv_tcp_init(s->loop, &c->tcp);
    EDDY_ASSERT(rv == 0);
    c->server = s;
    c->state = CONN_OPEN;
    link_init(&c->resume_link);
    link_init(&c->budget_link);
    c->budget = BUDGET_FREE;
    link_init(&c->fifo);
    link_init(&c->link);
    link_insert_tail(&s->conns, &c->link);
    s->conn_count++;
    s->handle_count++;
    parse_init(&c->parse, uv_now(s->loop));
    buf_init(&c->in, 2 * HTTP1_READ_BUF_BYTES);
    c->activity_ms = uv_now(s->loop);
    c->write_progress_ms = c->activity_ms;
    rv = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rv != 0) {
        LOG_WARN("http accept failed err=%s", uv_strerror(rv));
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_update_reading(c);
}

static int server_parse_addr(const char *host, int port, struct sockaddr_storage *addr)
{
    int rv = uv_ip4_addr(host, port, (struct sockaddr_in *)addr);
    if (rv != 0) {
        rv = uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr);
    }
    return rv;
}

static int server_bound_port(struct http_server *s)
{
    struct sockaddr_storage bound;
    int len = (int)sizeof(bound);
    int rv = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    if (rv != 0) {
        return rv;
    }
    if (bound.ss_family == AF_INET6) {
        s->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    } else {
        s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    return 0;
}

int http_server_init(struct http_server **out,
                     uv_loop_t *loop,
                     const char *host,
                     int port,
                     http_request_cb cb,
                     void *data)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(host != NULL);
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(port >= 0 && port <= 65535);
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    int rv = server_parse_addr(host, port, &addr);
    if (rv != 0) {
        return -EDDY_EINVAL;
    }
    struct http_server *s = eddy_calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->request_cb = cb;
    s->data = data;
    link_init(&s->conns);
    link_init(&s->resume);
    link_init(&s->paused);
    link_init(&s->detached);
    s->buffered_max = GW_BUFFERED_BYTES_MAX;
    rv = uv_timer_init(loop, &s->sweep);
    EDDY_ASSERT(rv == 0);
    rv = uv_idle_init(loop, &s->resume_idle);
    EDDY_ASSERT(rv == 0);
    rv = uv_tcp_init(loop, &s->listener);
    EDDY_ASSERT(rv == 0);
    s->sweep.data = s;
    s->resume_idle.data = s;
    s->listener.data = s;
    s->handle_count = 3;
    rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rv != 0) {
        goto err_after_handles;
    }
    rv = uv_listen((uv_stream_t *)&s->listener, HTTP1_LISTEN_BACKLOG, server_on_connection);
    if (rv != 0) {
        goto err_after_handles;
    }
    rv = server_bound_port(s);
    if (rv != 0) {
        goto err_after_handles;
    }
    rv = uv_timer_start(&s->sweep, server_on_sweep, HTTP1_SWEEP_INTERVAL_MS,
                        HTTP1_SWEEP_INTERVAL_MS);
    EDDY_ASSERT(rv == 0);
    LOG_INFO("http listening host=%s port=%d", host, s->port);
    *out = s;
    return 0;

err_after_handles:
    server_close_handles(s); /* s is freed in the last close callback */
    return rv;
}

int http_server_port(const struct http_server *s)
{
    EDDY_ASSERT(s != NULL);
    return s->port;
}

void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(!s->is_closing);
    s->is_closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    for (struct http1_link *l = s->conns.next; l != &s->conns; l = l->next) {
        conn_close(container_of(l, struct http1_conn, link));
    }
    EDDY_ASSERT(link_is_empty(&s->paused));
    /* Detached requests outlive s: they leave its budget now. */
    while (!link_is_empty(&s->detached)) {
        request_uncharge(container_of(s->detached.next, struct http_request, link));
    }
    server_close_handles(s);
}

/* --- requests: the application's side --- */

const char *http_request_method(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->method;
}

const char *http_request_target(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->arena.data != NULL ? (const char *)r->arena.data : "";
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(name != NULL);
    for (size_t i = 0; i < r->header_count && r->headers != NULL; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            return r->headers[i].value;
        }
    }
    return NULL;
}

size_t http_request_header_count(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->headers != NULL ? r->header_count : 0;
}

struct http_header http_request_header_at(const struct http_request *r, size_t i)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(i < http_request_header_count(r));
    return r->headers[i];
}

const uint8_t *http_request_body(const struct http_request *r, size_t *len)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(len != NULL);
    *len = r->body.len;
    return r->body.len > 0 ? r->body.data : (const uint8_t *)"";
}

bool http_request_is_connected(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->conn != NULL;
}

/* Headers named Content-Length, Date or Connection, or that could split the
 * response (CR, LF, bad name), are dropped with a warning. */
void http_request_respond(struct http_request *r,
                          int status,
                          const struct http_header *headers,
                          size_t header_count,
                          const uint8_t *body,
                          size_t body_len)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(status >= 200 && status <= 599);
    EDDY_ASSERT(header_count == 0 || headers != NULL);
    EDDY_ASSERT(body_len == 0 || body != NULL);
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

/* --- the parser alone --- */

static uint64_t http1_hash(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211ULL;
    }
    return h;
}

static uint64_t http1_hash_request(uint64_t h, const struct http_request *r)
{
    const char *target = http_request_target(r);
    h = http1_hash(h, r->method, strlen(r->method) + 1);
    h = http1_hash(h, target, strlen(target) + 1);
    for (size_t i = 0; i < http_request_header_count(r); i++) {
        h = http1_hash(h, r->headers[i].name, strlen(r->headers[i].name) + 1);
        h = http1_hash(h, r->headers[i].value, strlen(r->headers[i].value) + 1);
    }
    size_t len = 0;
    const uint8_t *body = http_request_body(r, &len);
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
                struct http_request *r = parse_take(&p);
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
