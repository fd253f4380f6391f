/*
 * HTTP/2 transport (nghttp2) of the gateway's HTTP server: one nghttp2
 * server session per connection over an http_io (clear text after the
 * preface was seen, or TLS). Each request stream becomes a struct
 * http_request; responses and streamed bodies go out as DATA frames under
 * flow control.
 *
 * Connection lifecycle: OPEN, DRAINING (GOAWAY sent or the session wants no
 * more input: the remaining frames are written), SHUTDOWN (write side shut;
 * input dropped until EOF or H2_LINGER_MS), CLOSING (io closing; freed in its
 * close callback). nghttp2 is never re-entered: frames are generated only
 * outside its callbacks, and requests reach request_cb after mem_recv
 * returned (they wait in the connection's ready list meanwhile).
 *
 * Request lifecycle: RECEIVING (headers and body arriving), then PENDING
 * (the application holds it) or ANSWERED (an error response made here);
 * PENDING becomes ANSWERED (respond) or STREAMING (stream_begin), STREAMING
 * becomes ANSWERED (stream_end); PENDING and STREAMING become DETACHED when
 * the stream closes first (reset by the client, or the connection closed).
 * RECEIVING and ANSWERED requests are freed when their stream closes,
 * DETACHED ones when the application answers.
 *
 * Bounds: SETTINGS advertise GW_HTTP2_STREAMS_MAX concurrent streams, a
 * GW_HTTP_HEADER_BYTES_MAX header list and a GW_HTTP2_STREAM_WINDOW_BYTES
 * stream window; the connection window is GW_HTTP2_CONN_WINDOW_BYTES.
 * Request bytes are charged to the server's budget as they arrive and
 * WINDOW_UPDATE for the connection is withheld while the connection holds
 * more than GW_HTTP2_CONN_BUFFERED_BYTES_MAX or the server's budget is
 * spent, so a client can never make the server buffer more than the window
 * past those bounds. Frames handed to the socket and unwritten are bounded
 * by GW_HTTP2_WRITE_BYTES_MAX (reading stops meanwhile); a response body
 * waits in its request, a streamed one bounded by HTTP_STREAM_QUEUED_MAX.
 * Requests the application holds per connection (reset streams included) are
 * bounded by GW_HTTP2_APP_REQUESTS_MAX: past it, GOAWAY ENHANCE_YOUR_CALM.
 * Oversize headers get 431, oversize bodies 413, then RST_STREAM; protocol
 * errors get GOAWAY from nghttp2 and a close once it is written.
 *
 * Timeouts (swept every HTTP_SWEEP_INTERVAL_MS): a request must arrive whole
 * within GW_REQUEST_TIMEOUT_MS (else RST_STREAM CANCEL); an idle connection
 * (no stream, nothing held) gets GOAWAY after GW_IDLE_TIMEOUT_MS; a socket
 * or a flow-control window that takes nothing for GW_IDLE_TIMEOUT_MS while
 * bytes wait closes the connection.
 */
#include "http2.h"
#include "http2_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Input dropped after the session is done (RFC 9113 6.8: GOAWAY, then close
 * once the client had a chance to read it). */
#define H2_LINGER_MS 2000
/* One socket write gathers frames up to about this many bytes. */
#define H2_WRITE_CHUNK_BYTES (64 * 1024)

static_assert(GW_HTTP2_WRITE_BYTES_MAX >= H2_WRITE_CHUNK_BYTES, "one write fits the bound");
static_assert(GW_HTTP2_CONN_BUFFERED_BYTES_MAX >= GW_HTTP_BODY_BYTES_MAX,
              "a connection can hold its largest request");

static const bool h2_conn_transitions[H2_CONN_STATE_COUNT][H2_CONN_STATE_COUNT] = {
    [H2_CONN_OPEN] = {[H2_CONN_DRAINING] = true, [H2_CONN_CLOSING] = true},
    [H2_CONN_DRAINING] = {[H2_CONN_SHUTDOWN] = true, [H2_CONN_CLOSING] = true},
    [H2_CONN_SHUTDOWN] = {[H2_CONN_CLOSING] = true},
};

struct h2_write {
    struct http_io_write req;
    struct h2_conn *conn;
    size_t len;
    uint8_t data[];
};

static void h2_conn_set_state(struct h2_conn *c, enum h2_conn_state to)
{
    EDDY_ASSERT(h2_conn_transitions[c->state][to]);
    c->state = to;
}

static uint64_t h2_now(const struct h2_conn *c)
{
    return c->server->loop != NULL ? uv_now(c->server->loop) : 0;
}

/* --- the budget --- */

/* Gives the withheld connection window back once the bounds allow it. */
static void h2_conn_consume_withheld(struct h2_conn *c)
{
    struct http_server *s = c->server;
    if (c->withheld_bytes == 0 || c->state == H2_CONN_CLOSING) {
        return;
    }
    if (c->buffered_bytes > GW_HTTP2_CONN_BUFFERED_BYTES_MAX ||
        s->buffered_bytes >= s->buffered_max) {
        if (list_is_empty(&c->withheld_link)) {
            list_push(&s->h2_withheld, &c->withheld_link);
        }
        return;
    }
    list_remove(&c->withheld_link);
    int rv = nghttp2_session_consume_connection(c->session, c->withheld_bytes);
    EDDY_ASSERT(rv == 0);
    c->withheld_bytes = 0;
    c->is_send_due = true;
}

/* n request bytes of c went back to the budget. */
void h2_conn_uncharged(struct h2_conn *c, size_t n)
{
    EDDY_ASSERT(c->buffered_bytes >= n);
    c->buffered_bytes -= n;
    h2_conn_consume_withheld(c);
}

void h2_conn_received(struct h2_conn *c, size_t n)
{
    c->withheld_bytes += n;
    h2_conn_consume_withheld(c);
}

void h2_conn_released(struct h2_conn *c)
{
    EDDY_ASSERT(c->app_count > 0);
    c->app_count--;
}

void http2_server_budget_freed(struct http_server *s)
{
    if (!list_is_empty(&s->h2_withheld) && !s->is_h2_due) {
        s->is_h2_due = true;
        http_server_wake(s);
    }
}

/* --- writing --- */

static void h2_conn_close(struct h2_conn *c);
static void h2_conn_update_reading(struct h2_conn *c);

static void h2_on_write(struct http_io_write *req, int status)
{
    struct h2_write *w = container_of(req, struct h2_write, req);
    struct h2_conn *c = w->conn;
    EDDY_ASSERT(c->writes_in_flight > 0);
    EDDY_ASSERT(c->write_bytes >= w->len);
    c->writes_in_flight--;
    c->write_bytes -= w->len;
    eddy_free(w);
    if (c->state == H2_CONN_CLOSING) {
        return;
    }
    if (status < 0) {
        LOG_DEBUG("http2 write failed err=%s", uv_strerror(status));
        h2_conn_close(c);
        return;
    }
    c->activity_ms = h2_now(c);
    h2_conn_send(c);
}

static void h2_on_shutdown(struct http_io *io, int status)
{
    struct h2_conn *c = http_io_data(io);
    if (c->state == H2_CONN_CLOSING) {
        return;
    }
    if (status < 0 || c->is_peer_eof) {
        h2_conn_close(c);
    }
}

/* The session has nothing more to say or hear: shut the sending side once
 * the last frames are written, then linger for the client's EOF. */
static void h2_conn_maybe_finish(struct h2_conn *c)
{
    if (c->state == H2_CONN_SHUTDOWN || c->state == H2_CONN_CLOSING) {
        return;
    }
    if (nghttp2_session_want_read(c->session) || nghttp2_session_want_write(c->session)) {
        return;
    }
    if (c->state == H2_CONN_OPEN) {
        h2_conn_set_state(c, H2_CONN_DRAINING);
    }
    if (c->writes_in_flight > 0) {
        return;
    }
    if (c->io == NULL) {
        h2_conn_close(c);
        return;
    }
    h2_conn_set_state(c, H2_CONN_SHUTDOWN);
    c->linger_start_ms = h2_now(c);
    if (http_io_shutdown(c->io, h2_on_shutdown) != 0) {
        h2_conn_close(c);
        return;
    }
    h2_conn_update_reading(c);
}

/* Takes frames from the session into one write of up to about
 * H2_WRITE_CHUNK_BYTES. NULL when there are none; sets *rv on an error. */
static struct h2_write *h2_conn_gather(struct h2_conn *c, int *rv)
{
    struct h2_write *w = NULL;
    size_t cap = 0;
    *rv = 0;
    while (w == NULL || w->len < H2_WRITE_CHUNK_BYTES) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            *rv = -EDDY_EMALFORMED;
            LOG_DEBUG("http2 send failed err=%s", nghttp2_strerror((int)n));
            break;
        }
        if (n == 0) {
            break;
        }
        size_t len = w != NULL ? w->len : 0;
        if (len + (size_t)n > cap) {
            cap = len + (size_t)n > H2_WRITE_CHUNK_BYTES ? len + (size_t)n : H2_WRITE_CHUNK_BYTES;
            w = eddy_xrealloc(w, sizeof(*w) + cap);
            w->len = len;
        }
        memcpy(w->data + w->len, data, (size_t)n);
        w->len += (size_t)n;
    }
    return w;
}

void h2_conn_send(struct h2_conn *c)
{
    if (c->state == H2_CONN_CLOSING || c->state == H2_CONN_SHUTDOWN || c->is_in_session) {
        return;
    }
    c->is_send_due = false;
    c->is_in_session = true;
    int rv = 0;
    while (c->write_bytes < GW_HTTP2_WRITE_BYTES_MAX && rv == 0) {
        struct h2_write *w = h2_conn_gather(c, &rv);
        if (w == NULL) {
            break;
        }
        c->send_progress_ms = h2_now(c);
        if (c->io == NULL) {
            eddy_free(w); /* a connection of a test: frames go nowhere */
            continue;
        }
        w->conn = c;
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
        int wrv = http_io_write(c->io, &w->req, &b, 1, h2_on_write);
        if (wrv != 0) {
            eddy_free(w);
            rv = wrv;
            break;
        }
        c->writes_in_flight++;
        c->write_bytes += w->len;
    }
    c->is_in_session = false;
    if (rv != 0) {
        h2_conn_close(c);
        return;
    }
    h2_conn_update_reading(c);
    h2_conn_maybe_finish(c);
}

/* After work that may have produced frames: send them unless nghttp2 is
 * running (then they go once it returns). */
void h2_conn_after_submit(struct h2_conn *c)
{
    if (c == NULL || c->state == H2_CONN_CLOSING) {
        return;
    }
    c->is_send_due = true;
    if (!c->is_in_session) {
        h2_conn_send(c);
    }
}

/* --- reading --- */

static void h2_on_alloc(struct http_io *io, uv_buf_t *buf)
{
    struct h2_conn *c = http_io_data(io);
    *buf = uv_buf_init(c->server->read_buf, sizeof(c->server->read_buf));
}

/* Runs the requests completed by the last input, outside nghttp2. Each
 * leaves the list before request_cb, which may close the connection (then
 * the rest are freed by the close). */
static void h2_conn_dispatch(struct h2_conn *c)
{
    struct http_server *s = c->server;
    while (!list_is_empty(&c->ready)) {
        struct h2_request *r = container_of(c->ready.next, struct h2_request, ready_link);
        list_remove(&r->ready_link);
        s->request_cb(s->data, &r->base);
    }
}

/* Feeds input to the session. A protocol error ends the session with a
 * GOAWAY (nghttp2's, or ours for errors it returns). */
static void h2_conn_feed(struct h2_conn *c, const uint8_t *data, size_t len)
{
    c->activity_ms = h2_now(c);
    c->is_in_session = true;
    ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
    c->is_in_session = false;
    if (n < 0) {
        LOG_DEBUG("http2 input rejected err=%s", nghttp2_strerror((int)n));
        uint32_t code =
            n == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
        nghttp2_session_terminate_session(c->session, code);
    }
    h2_conn_dispatch(c);
    if (c->state != H2_CONN_CLOSING) {
        h2_conn_send(c);
    }
}

static void h2_on_read(struct http_io *io, ssize_t nread, const uv_buf_t *buf)
{
    struct h2_conn *c = http_io_data(io);
    if (nread == 0 || c->state == H2_CONN_CLOSING) {
        return;
    }
    if (nread < 0) {
        c->is_peer_eof = true;
        if (nread != UV_EOF) {
            LOG_DEBUG("http2 read failed err=%s", uv_strerror((int)nread));
        }
        /* A client that ends its side cannot send a WINDOW_UPDATE or another
         * frame: nothing it waits for can be completed. */
        h2_conn_close(c);
        return;
    }
    if (c->state == H2_CONN_SHUTDOWN) {
        return; /* lingering: input is dropped */
    }
    h2_conn_feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void h2_conn_update_reading(struct h2_conn *c)
{
    if (c->io == NULL || c->state == H2_CONN_CLOSING) {
        return;
    }
    bool want = !c->is_peer_eof &&
                (c->state == H2_CONN_SHUTDOWN || c->write_bytes < GW_HTTP2_WRITE_BYTES_MAX);
    if (want && !c->is_reading) {
        if (http_io_read_start(c->io, h2_on_alloc, h2_on_read) != 0) {
            h2_conn_close(c);
            return;
        }
        c->is_reading = true;
    } else if (!want && c->is_reading) {
        http_io_read_stop(c->io);
        c->is_reading = false;
    }
}

/* --- connections --- */

static void h2_on_close(struct http_io *io)
{
    struct h2_conn *c = http_io_data(io);
    struct http_server *s = c->server;
    EDDY_ASSERT(c->writes_in_flight == 0);
    eddy_free(c);
    http_server_conn_closed(s);
}

/* Requests the application holds are detached; the others die here. Writes
 * in flight are cancelled by libuv before the close callback. Idempotent. */
static void h2_conn_close(struct h2_conn *c)
{
    if (c->state == H2_CONN_CLOSING) {
        return;
    }
    h2_conn_set_state(c, H2_CONN_CLOSING);
    while (!list_is_empty(&c->streams)) {
        struct h2_request *r = container_of(c->streams.next, struct h2_request, link);
        h2_request_stream_closed(r);
    }
    EDDY_ASSERT(list_is_empty(&c->ready));
    EDDY_ASSERT(c->buffered_bytes == 0);
    while (!list_is_empty(&c->held)) {
        struct h2_request *r = container_of(c->held.next, struct h2_request, held_link);
        list_remove(&r->held_link);
        r->owner = NULL; /* still the application's, now of no connection */
        c->app_count--;
    }
    list_remove(&c->link);
    list_remove(&c->withheld_link);
    nghttp2_session_del(c->session);
    c->session = NULL;
    c->is_reading = false;
    if (c->io == NULL) {
        return; /* a connection of a test: freed by the test */
    }
    http_io_close(c->io, h2_on_close);
}

/* A request that takes too long to arrive is reset; an idle connection gets
 * GOAWAY; a stalled socket or window closes the connection. */
static void h2_conn_sweep(struct h2_conn *c, uint64_t now_ms)
{
    if (c->state == H2_CONN_CLOSING) {
        return;
    }
    if (c->state == H2_CONN_SHUTDOWN) {
        if (http_has_passed(now_ms, c->linger_start_ms, H2_LINGER_MS)) {
            h2_conn_close(c);
        }
        return;
    }
    size_t queued = c->io != NULL ? http_io_write_queue_size(c->io) : 0;
    if (queued != c->write_queue_seen) {
        c->write_queue_seen = queued;
        c->write_progress_ms = now_ms;
    }
    bool is_write_stalled =
        queued > 0 && http_has_passed(now_ms, c->write_progress_ms, GW_IDLE_TIMEOUT_MS);
    bool is_window_stalled = c->queued_bytes > 0 && c->writes_in_flight == 0 &&
                             http_has_passed(now_ms, c->send_progress_ms, GW_IDLE_TIMEOUT_MS);
    if (is_write_stalled || is_window_stalled) {
        LOG_DEBUG("http2 conn closed reason=%s", is_write_stalled ? "write stalled" : "window");
        h2_conn_close(c);
        return;
    }
    for (struct list_link *l = c->streams.next; l != &c->streams; l = l->next) {
        struct h2_request *r = container_of(l, struct h2_request, link);
        /* A refused request still sending its body counts as arriving. */
        bool is_arriving =
            r->state == H2_REQ_RECEIVING || (r->state == H2_REQ_ANSWERED && r->reject_status != 0);
        if (is_arriving && http_has_passed(now_ms, r->start_ms, GW_REQUEST_TIMEOUT_MS)) {
            LOG_DEBUG("http2 stream reset reason=request timeout");
            nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
            c->is_send_due = true;
        }
    }
    if (c->state == H2_CONN_OPEN && c->stream_count == 0 && c->app_count == 0 &&
        http_has_passed(now_ms, c->activity_ms, GW_IDLE_TIMEOUT_MS)) {
        LOG_DEBUG("http2 conn closing reason=idle");
        nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
        c->is_send_due = true;
    }
    if (c->is_send_due) {
        h2_conn_send(c);
    }
}

void http2_server_sweep(struct http_server *s, uint64_t now_ms)
{
    struct list_link *l = s->h2_conns.next;
    while (l != &s->h2_conns) {
        struct h2_conn *c = container_of(l, struct h2_conn, link);
        l = l->next; /* c may close */
        h2_conn_sweep(c, now_ms);
    }
}

void http2_server_idle(struct http_server *s)
{
    if (s->is_h2_due) {
        s->is_h2_due = false;
        struct list_link batch;
        list_init(&batch);
        list_take(&batch, &s->h2_withheld);
        while (!list_is_empty(&batch)) {
            struct h2_conn *c = container_of(batch.next, struct h2_conn, withheld_link);
            list_remove(&c->withheld_link);
            h2_conn_consume_withheld(c); /* back on s->h2_withheld if still bound */
            if (c->is_send_due) {
                h2_conn_send(c);
            }
        }
    }
    h2_run_notify(s);
}

void http2_server_close(struct http_server *s)
{
    while (!list_is_empty(&s->h2_conns)) {
        h2_conn_close(container_of(s->h2_conns.next, struct h2_conn, link));
    }
    h2_run_notify(s);
    while (!list_is_empty(&s->h2_detached)) {
        h2_request_uncharge(container_of(s->h2_detached.next, struct h2_request, link));
    }
}

static int h2_conn_submit_settings(struct h2_conn *c)
{
    const nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, GW_HTTP2_STREAMS_MAX},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, GW_HTTP2_STREAM_WINDOW_BYTES},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GW_HTTP_HEADER_BYTES_MAX},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    int rv = nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    if (rv == 0) {
        rv = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                                   GW_HTTP2_CONN_WINDOW_BYTES);
    }
    return rv;
}

/* Makes c with its session; NULL io for a test without sockets. */
static struct h2_conn *h2_conn_create(struct http_server *s, struct http_io *io)
{
    struct h2_conn *c = eddy_xcalloc(1, sizeof(*c));
    c->server = s;
    c->io = io;
    c->state = H2_CONN_OPEN;
    list_init(&c->link);
    list_init(&c->withheld_link);
    list_init(&c->streams);
    list_init(&c->ready);
    list_init(&c->held);
    list_push(&s->h2_conns, &c->link);
    c->activity_ms = h2_now(c);
    c->write_progress_ms = c->activity_ms;
    c->send_progress_ms = c->activity_ms;
    int rv = h2_session_create(c);
    EDDY_ASSERT(rv == 0); /* nghttp2 fails only when out of memory */
    rv = h2_conn_submit_settings(c);
    EDDY_ASSERT(rv == 0);
    if (io != NULL) {
        http_io_set_data(io, c);
    }
    return c;
}

void http2_conn_start(struct http_server *s, struct http_io *io, const uint8_t *data, size_t len)
{
    struct h2_conn *c = h2_conn_create(s, io);
    if (len > 0) {
        h2_conn_feed(c, data, len); /* the preface protocol detection read */
    } else {
        h2_conn_send(c); /* the server's SETTINGS */
    }
    if (c->state != H2_CONN_CLOSING) {
        h2_conn_update_reading(c);
    }
}

/* --- without sockets, for the fuzz target and tests --- */

static void h2_test_on_request(void *data, struct http_request *r)
{
    size_t *count = data;
    (*count)++;
    size_t len = 0;
    const uint8_t *body = http_request_body(r, &len);
    if (len % 2 == 0) {
        const struct http_header h[] = {{"Content-Type", "application/x-amz-json-1.1"}};
        http_request_respond(r, 200, h, 1, body, len);
        return;
    }
    static const uint8_t event[64] = {0}; /* the body is gone after stream_begin */
    http_request_stream_begin(r, 200, NULL, 0);
    (void)http_request_stream_write(r, event, len < sizeof(event) ? len : sizeof(event));
    http_request_stream_end(r);
}

int http2_feed_for_test(const uint8_t *data, size_t len, size_t step)
{
    EDDY_ASSERT(data != NULL || len == 0);
    EDDY_ASSERT(step > 0);
    struct http_server *s = eddy_xcalloc(1, sizeof(*s));
    size_t count = 0;
    s->request_cb = h2_test_on_request;
    s->data = &count;
    s->buffered_max = GW_BUFFERED_BYTES_MAX;
    list_init(&s->detecting);
    list_init(&s->conns);
    list_init(&s->resume);
    list_init(&s->paused);
    list_init(&s->detached);
    list_init(&s->notify);
    list_init(&s->h2_conns);
    list_init(&s->h2_withheld);
    list_init(&s->h2_notify);
    list_init(&s->h2_detached);
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    struct h2_conn *c = h2_conn_create(s, NULL);
    h2_conn_feed(c, (const uint8_t *)preface, sizeof(preface) - 1);
    for (size_t off = 0; off < len && c->state != H2_CONN_CLOSING;) {
        size_t n = len - off < step ? len - off : step;
        if (c->state == H2_CONN_OPEN || c->state == H2_CONN_DRAINING) {
            h2_conn_feed(c, data + off, n);
        }
        off += n;
        if (!list_is_empty(&s->h2_withheld)) {
            s->is_h2_due = true;
            http2_server_idle(s);
        }
    }
    http2_server_close(s);
    eddy_free(c);
    EDDY_ASSERT(s->buffered_bytes == 0);
    EDDY_ASSERT(s->app_request_count == 0);
    eddy_free(s);
    return (int)count;
}
