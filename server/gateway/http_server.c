/*
 * The HTTP server: listening sockets (one clear-text port, optionally one
 * TLS port), accepting, telling which protocol a connection speaks, and the
 * timer and idle handle the transports share. Owns every connection until
 * its protocol is known; then http1.c or http2.c owns it.
 *
 * Detection lifecycle of a connection: HANDSHAKE (TLS only; ALPN h2 or
 * http/1.1 decides at once), then SNIFF: the first bytes are compared with
 * the 24-byte HTTP/2 client preface; the first byte that differs means
 * HTTP/1.1, all 24 matching mean HTTP/2 (h2c by prior knowledge, or h2 over
 * TLS without ALPN). The bytes read go to the transport with the io. The
 * whole detection must end within GW_HANDSHAKE_TIMEOUT_MS.
 *
 * Server lifecycle: listening, then closing (http_server_close: listeners,
 * timer, idle handle and every connection close) and freed when the last
 * handle's close callback ran.
 */
#include "http_internal.h"
#include "http_io.h"
#include "tls.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"

#include <string.h>

#define HTTP_LISTEN_BACKLOG 511
/* Refused connections are logged at most this often. */
#define HTTP_REJECT_LOG_INTERVAL_MS 1000
/* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 3.4). */
#define HTTP_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define HTTP_PREFACE_LEN (sizeof(HTTP_PREFACE) - 1)

static_assert(HTTP_PREFACE_LEN == 24, "the HTTP/2 client preface is 24 bytes");

/* Test hook, declared again in tests/unit/gateway/test_http1.c: runs the
 * timeout checks as if the loop clock read now_ms. */
void http1_sweep_for_test(struct http_server *s, uint64_t now_ms);

enum http_detect_state { DETECT_HANDSHAKE, DETECT_SNIFF, DETECT_CLOSING, DETECT_STATE_COUNT };

static const bool detect_transitions[DETECT_STATE_COUNT][DETECT_STATE_COUNT] = {
    [DETECT_HANDSHAKE] = {[DETECT_SNIFF] = true, [DETECT_CLOSING] = true},
    [DETECT_SNIFF] = {[DETECT_CLOSING] = true},
};

/* A connection whose protocol is not known yet. */
struct http_detect {
    struct list_link link; /* in s->detecting */
    struct http_server *server;
    struct http_io *io;
    enum http_detect_state state;
    uint64_t start_ms;
    size_t len;
    uint8_t bytes[HTTP_PREFACE_LEN];
};

bool http_has_passed(uint64_t now_ms, uint64_t since_ms, uint64_t timeout_ms)
{
    return now_ms >= since_ms && now_ms - since_ms >= timeout_ms;
}

/* Frees s once its last handle closed, then calls the close callback. */
static void server_handle_closed(struct http_server *s)
{
    EDDY_ASSERT(s->handle_count > 0);
    if (--s->handle_count > 0) {
        return;
    }
    EDDY_ASSERT(s->buffered_bytes == 0);
    EDDY_ASSERT(s->app_request_count == 0);
    EDDY_ASSERT(s->conn_count == 0);
    void (*cb)(void *arg) = s->close_cb;
    void *arg = s->close_arg;
    tls_ctx_destroy(s->tls);
    eddy_free(s);
    if (cb != NULL) {
        cb(arg);
    }
}

void http_server_conn_closed(struct http_server *s)
{
    EDDY_ASSERT(s->conn_count > 0);
    s->conn_count--;
    server_handle_closed(s);
}

static void server_on_idle(uv_idle_t *idle)
{
    struct http_server *s = idle->data;
    uv_idle_stop(idle); /* work found below wakes it again */
    http1_server_idle(s);
    http2_server_idle(s);
}

void http_server_wake(struct http_server *s)
{
    if (s->is_closing || s->loop == NULL) {
        return; /* closing, or a server of a test without a loop */
    }
    uv_idle_start(&s->idle, server_on_idle);
}

void http_server_release(struct http_server *s, size_t n)
{
    EDDY_ASSERT(s->buffered_bytes >= n);
    s->buffered_bytes -= n;
    if (n > 0) {
        http1_server_budget_freed(s);
        http2_server_budget_freed(s);
    }
}

/* --- protocol detection --- */

static void detect_set_state(struct http_detect *d, enum http_detect_state to)
{
    EDDY_ASSERT(detect_transitions[d->state][to]);
    d->state = to;
}

static void detect_on_close(struct http_io *io)
{
    struct http_detect *d = http_io_data(io);
    struct http_server *s = d->server;
    eddy_free(d);
    http_server_conn_closed(s);
}

static void detect_close(struct http_detect *d)
{
    if (d->state == DETECT_CLOSING) {
        return;
    }
    detect_set_state(d, DETECT_CLOSING);
    list_remove(&d->link);
    http_io_close(d->io, detect_on_close);
}

/* The protocol is known: the transport takes the io and the bytes read. */
static void detect_hand_over(struct http_detect *d, bool is_h2)
{
    struct http_server *s = d->server;
    struct http_io *io = d->io;
    http_io_read_stop(io);
    list_remove(&d->link);
    uint8_t bytes[HTTP_PREFACE_LEN];
    size_t len = d->len;
    memcpy(bytes, d->bytes, len);
    eddy_free(d);
    if (is_h2) {
        http2_conn_start(s, io, bytes, len);
    } else {
        http1_conn_start(s, io, bytes, len);
    }
}

static void detect_on_alloc(struct http_io *io, uv_buf_t *buf)
{
    struct http_detect *d = http_io_data(io);
    EDDY_ASSERT(d->len < HTTP_PREFACE_LEN);
    *buf = uv_buf_init((char *)d->bytes + d->len, (unsigned)(HTTP_PREFACE_LEN - d->len));
}

static void detect_on_read(struct http_io *io, ssize_t nread, const uv_buf_t *buf)
{
    struct http_detect *d = http_io_data(io);
    (void)buf;
    if (nread == 0 || d->state != DETECT_SNIFF) {
        return;
    }
    if (nread < 0) {
        LOG_DEBUG("http conn closed before a request err=%s", uv_strerror((int)nread));
        detect_close(d);
        return;
    }
    d->len += (size_t)nread;
    EDDY_ASSERT(d->len <= HTTP_PREFACE_LEN);
    if (memcmp(d->bytes, HTTP_PREFACE, d->len) != 0) {
        detect_hand_over(d, false);
    } else if (d->len == HTTP_PREFACE_LEN) {
        detect_hand_over(d, true);
    }
}

static void detect_sniff(struct http_detect *d)
{
    detect_set_state(d, DETECT_SNIFF);
    if (http_io_read_start(d->io, detect_on_alloc, detect_on_read) != 0) {
        detect_close(d);
    }
}

static void detect_on_handshake(struct http_io *io, int status)
{
    struct http_detect *d = http_io_data(io);
    if (status != 0) {
        LOG_DEBUG("tls handshake failed err=%s", eddy_strerror(status));
        detect_close(d);
        return;
    }
    const char *alpn = http_io_alpn(io);
    if (alpn != NULL && strcmp(alpn, "h2") == 0) {
        detect_hand_over(d, true);
    } else if (alpn != NULL) {
        detect_hand_over(d, false);
    } else {
        detect_sniff(d); /* no ALPN: the first bytes tell */
    }
}

static void detect_sweep(struct http_server *s, uint64_t now_ms)
{
    struct list_link *l = s->detecting.next;
    while (l != &s->detecting) {
        struct http_detect *d = container_of(l, struct http_detect, link);
        l = l->next;
        if (http_has_passed(now_ms, d->start_ms, GW_HANDSHAKE_TIMEOUT_MS)) {
            LOG_DEBUG("http conn closed reason=handshake timeout");
            detect_close(d);
        }
    }
}

/* --- accepting --- */

static void server_on_handle_close(uv_handle_t *h)
{
    struct http_server *s = h->data;
    if (h->type == UV_TCP && h != (uv_handle_t *)&s->listener &&
        h != (uv_handle_t *)&s->tls_listener) {
        eddy_free(h); /* a refused connection */
    }
    server_handle_closed(s);
}

/* Past GW_CONNECTIONS_MAX: accept and close at once, so the backlog drains. */
static void server_refuse(struct http_server *s, uv_stream_t *listener)
{
    uv_tcp_t *t = eddy_xmalloc(sizeof(*t));
    int rv = uv_tcp_init(s->loop, t);
    EDDY_ASSERT(rv == 0);
    t->data = s;
    s->handle_count++;
    rv = uv_accept(listener, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, server_on_handle_close);
    uint64_t now = uv_now(s->loop);
    if (rv == 0 && http_has_passed(now, s->reject_log_ms, HTTP_REJECT_LOG_INTERVAL_MS)) {
        s->reject_log_ms = now;
        LOG_WARN("http connection refused reason=limit conns=%zu", s->conn_count);
    }
}

static void server_on_connection(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    bool is_tls = listener == (uv_stream_t *)&s->tls_listener;
    if (status < 0) {
        LOG_WARN("http accept failed err=%s", uv_strerror(status));
        return;
    }
    if (s->conn_count >= GW_CONNECTIONS_MAX) {
        server_refuse(s, listener);
        return;
    }
    struct http_detect *d = eddy_xcalloc(1, sizeof(*d));
    d->server = s;
    d->start_ms = uv_now(s->loop);
    d->state = DETECT_HANDSHAKE;
    list_init(&d->link);
    list_push(&s->detecting, &d->link);
    s->conn_count++;
    s->handle_count++;
    int rv = http_io_accept(&d->io, s->loop, listener, is_tls ? s->tls : NULL,
                            (uint8_t *)s->read_buf, sizeof(s->read_buf));
    http_io_set_data(d->io, d);
    if (rv == 0 && is_tls) {
        rv = http_io_handshake(d->io, detect_on_handshake);
    } else if (rv == 0) {
        detect_sniff(d);
        return;
    }
    if (rv != 0) {
        LOG_WARN("http accept failed err=%s", eddy_strerror(rv));
        detect_close(d);
    }
}

static int server_parse_addr(const char *host, int port, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof(*addr));
    int rv = uv_ip4_addr(host, port, (struct sockaddr_in *)addr);
    if (rv != 0) {
        rv = uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr);
    }
    return rv;
}

static int server_bound_port(uv_tcp_t *listener, int *port)
{
    struct sockaddr_storage bound;
    int len = (int)sizeof(bound);
    int rv = uv_tcp_getsockname(listener, (struct sockaddr *)&bound, &len);
    if (rv != 0) {
        return rv;
    }
    if (bound.ss_family == AF_INET6) {
        *port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    } else {
        *port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    return 0;
}

/* Binds and listens an initialized listener. */
static int server_listen(uv_tcp_t *listener, const struct sockaddr_storage *addr, int *port)
{
    int rv = uv_tcp_bind(listener, (const struct sockaddr *)addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)listener, HTTP_LISTEN_BACKLOG, server_on_connection);
    }
    if (rv == 0) {
        rv = server_bound_port(listener, port);
    }
    return rv;
}

static void server_close_handles(struct http_server *s)
{
    uv_close((uv_handle_t *)&s->listener, server_on_handle_close);
    uv_close((uv_handle_t *)&s->sweep, server_on_handle_close);
    uv_close((uv_handle_t *)&s->idle, server_on_handle_close);
    if (s->tls != NULL) {
        uv_close((uv_handle_t *)&s->tls_listener, server_on_handle_close);
    }
}

static void server_sweep(struct http_server *s, uint64_t now_ms)
{
    detect_sweep(s, now_ms);
    http1_server_sweep(s, now_ms);
    http2_server_sweep(s, now_ms);
}

void http1_sweep_for_test(struct http_server *s, uint64_t now_ms)
{
    EDDY_ASSERT(s != NULL);
    server_sweep(s, now_ms);
}

static void server_on_sweep(uv_timer_t *t)
{
    struct http_server *s = t->data;
    server_sweep(s, uv_now(s->loop));
}

/* --- the API --- */

static int server_listen_tls(struct http_server *s,
                             const struct sockaddr_storage *addr,
                             const struct http_server_tls *tls)
{
    int rv = tls_ctx_create(&s->tls, tls->cert_path, tls->key_path);
    if (rv != 0) {
        return rv;
    }
    rv = uv_tcp_init(s->loop, &s->tls_listener);
    EDDY_ASSERT(rv == 0);
    s->tls_listener.data = s;
    s->handle_count++;
    return server_listen(&s->tls_listener, addr, &s->tls_port);
}

int http_server_init(struct http_server **out,
                     uv_loop_t *loop,
                     const char *host,
                     int port,
                     const struct http_server_tls *tls,
                     http_request_cb cb,
                     void *data)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(host != NULL);
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(port >= 0 && port <= 65535);
    EDDY_ASSERT(tls == NULL || (tls->port >= 0 && tls->port <= 65535));
    EDDY_ASSERT(tls == NULL || (tls->cert_path != NULL && tls->key_path != NULL));
    struct sockaddr_storage addr;
    struct sockaddr_storage tls_addr;
    if (server_parse_addr(host, port, &addr) != 0 ||
        (tls != NULL && server_parse_addr(host, tls->port, &tls_addr) != 0)) {
        return -EDDY_EINVAL;
    }
    struct http_server *s = eddy_calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->request_cb = cb;
    s->data = data;
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
    s->buffered_max = GW_BUFFERED_BYTES_MAX;
    int rv = uv_timer_init(loop, &s->sweep);
    EDDY_ASSERT(rv == 0);
    rv = uv_idle_init(loop, &s->idle);
    EDDY_ASSERT(rv == 0);
    rv = uv_tcp_init(loop, &s->listener);
    EDDY_ASSERT(rv == 0);
    s->sweep.data = s;
    s->idle.data = s;
    s->listener.data = s;
    s->handle_count = 3;
    rv = server_listen(&s->listener, &addr, &s->port);
    if (rv == 0 && tls != NULL) {
        rv = server_listen_tls(s, &tls_addr, tls);
    }
    if (rv != 0) {
        s->is_closing = true;
        server_close_handles(s); /* s is freed in the last close callback */
        return rv;
    }
    rv = uv_timer_start(&s->sweep, server_on_sweep, HTTP_SWEEP_INTERVAL_MS, HTTP_SWEEP_INTERVAL_MS);
    EDDY_ASSERT(rv == 0);
    LOG_INFO("http listening host=%s port=%d tls_port=%d", host, s->port, s->tls_port);
    *out = s;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    EDDY_ASSERT(s != NULL);
    return s->port;
}

int http_server_tls_port(const struct http_server *s)
{
    EDDY_ASSERT(s != NULL);
    return s->tls_port;
}

void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(!s->is_closing);
    s->is_closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    while (!list_is_empty(&s->detecting)) {
        detect_close(container_of(s->detecting.next, struct http_detect, link));
    }
    http1_server_close(s);
    http2_server_close(s);
    server_close_handles(s);
}
