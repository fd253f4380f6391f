/*
 * The keep-alive client connection of conn.h. States: DOWN (no socket
 * handle), CONNECTING, UP, CLOSING (uv_close called). A request is
 * "pending" from conn_send until its callback; the callback runs after the
 * parser returns, so it may send the next request at once. Responses are
 * parsed with http_parser; the body is kept in a bounded buf.
 */
#include "conn.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/buf.h"
#include "eddy/errors.h"

#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#define CONN_READ_BYTES (256u << 10)

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP, CONN_CLOSING };

struct conn {
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    enum conn_state state;
    bool freeing;  /* conn_close: free in the close callback */
    bool pending;  /* a request awaits its callback */
    bool complete; /* the pending request's response is complete */
    bool keep_alive;
    bool deferred;   /* sent while CLOSING: connect again once closed */
    int fail_status; /* reported from the close callback */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_buf_t bufs[CONN_BUFS_MAX];
    unsigned nbufs;
    conn_cb cb;
    void *cb_arg;
    http_parser parser;
    struct buf body;
    char read_buf[CONN_READ_BYTES];
};

static void conn_on_close(uv_handle_t *h);
static int conn_connect(struct conn *c);

struct conn *conn_create(uv_loop_t *loop, const struct sockaddr *addr)
{
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(addr != NULL);
    struct conn *c = eddy_xcalloc(1, sizeof(*c));
    c->loop = loop;
    size_t len =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&c->addr, addr, len);
    c->state = CONN_DOWN;
    buf_init(&c->body, CONN_BODY_MAX);
    return c;
}

bool conn_is_busy(const struct conn *c)
{
    return c->pending;
}

/* Ends the pending request with status (< 0) once the socket is closed. */
static void conn_fail(struct conn *c, int status)
{
    EDDY_ASSERT(status < 0);
    if (c->state == CONN_CLOSING || c->state == CONN_DOWN) {
        return;
    }
    c->fail_status = status;
    c->state = CONN_CLOSING;
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) { /* run_force may have closed it */
        uv_close((uv_handle_t *)&c->tcp, conn_on_close);
    }
}

static void conn_on_close(uv_handle_t *h)
{
    struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
    c->state = CONN_DOWN;
    if (c->freeing) {
        buf_free(&c->body);
        eddy_free(c);
        return;
    }
    int status = c->fail_status;
    c->fail_status = 0;
    if (c->pending && c->deferred) {
        c->deferred = false;
        int rc = conn_connect(c);
        if (rc < 0) {
            c->cb(c, c->cb_arg, rc, 0, NULL, 0);
        }
        return;
    }
    if (c->pending) {
        c->pending = false;
        c->cb(c, c->cb_arg, status != 0 ? status : -ECONNRESET, 0, NULL, 0);
    }
}

static int conn_on_status(http_parser *p, const char *at, size_t len)
{
    (void)p;
    (void)at;
    (void)len;
    return 0;
}

static int conn_on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    return buf_append(&c->body, at, len) == 0 ? 0 : -1;
}

static int conn_on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->complete = true;
    c->keep_alive = http_should_keep_alive(p) != 0;
    return 0;
}

static const http_parser_settings conn_parser_settings = {
    .on_status = conn_on_status,
    .on_body = conn_on_body,
    .on_message_complete = conn_on_message_complete,
};

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
    *b = uv_buf_init(c->read_buf, sizeof(c->read_buf));
}

/* The response is complete: hand it over, then keep or drop the socket. */
static void conn_deliver(struct conn *c)
{
    unsigned http_status = c->parser.status_code;
    bool keep = c->keep_alive;
    c->pending = false;
    c->complete = false;
    if (!keep) {
        /* Closed first: the callback's next send then reconnects. */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->state = CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, conn_on_close);
    }
    c->cb(c, c->cb_arg, 0, http_status, (const char *)c->body.data, c->body.len);
}

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = container_of((uv_tcp_t *)s, struct conn, tcp);
    if (n == 0) {
        return;
    }
    if (n < 0) {
        conn_fail(c, (int)n);
        return;
    }
    if (!c->pending) {
        conn_fail(c, -EDDY_EMALFORMED); /* bytes nobody asked for */
        return;
    }
    size_t used = http_parser_execute(&c->parser, &conn_parser_settings, b->base, (size_t)n);
    if (c->parser.http_errno != HPE_OK || used != (size_t)n) {
        conn_fail(c, -EDDY_EMALFORMED);
        return;
    }
    if (c->complete) {
        conn_deliver(c);
    }
}

static void conn_on_write(uv_write_t *w, int status)
{
    struct conn *c = container_of(w, struct conn, write_req);
    if (status < 0) {
        conn_fail(c, status);
    }
}

static void conn_write(struct conn *c)
{
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    buf_reset(&c->body);
    c->complete = false;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, c->bufs, c->nbufs, conn_on_write);
    if (rc < 0) {
        conn_fail(c, rc);
    }
}

static void conn_on_connect(uv_connect_t *req, int status)
{
    struct conn *c = container_of(req, struct conn, connect_req);
    if (c->state != CONN_CONNECTING) {
        return; /* closed meanwhile */
    }
    if (status < 0) {
        conn_fail(c, status);
        return;
    }
    c->state = CONN_UP;
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
    if (rc < 0) {
        conn_fail(c, rc);
        return;
    }
    conn_write(c);
}

/* Opens the socket for the pending request. A failure to make the handle
 * is returned (the request is no longer pending); a failure to connect
 * ends the request through the close callback. */
static int conn_connect(struct conn *c)
{
    EDDY_ASSERT(c->state == CONN_DOWN);
    EDDY_ASSERT(c->pending);
    int rc = uv_tcp_init(c->loop, &c->tcp);
    if (rc < 0) {
        c->pending = false;
        return rc;
    }
    c->state = CONN_CONNECTING;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&c->addr,
                        conn_on_connect);
    if (rc < 0) {
        conn_fail(c, rc);
    }
    return 0;
}

int conn_send(struct conn *c, const uv_buf_t *bufs, unsigned nbufs, conn_cb cb, void *arg)
{
    EDDY_ASSERT(c != NULL);
    EDDY_ASSERT(!c->pending);
    EDDY_ASSERT(!c->freeing);
    EDDY_ASSERT(c->state != CONN_CONNECTING);
    EDDY_ASSERT(nbufs > 0 && nbufs <= CONN_BUFS_MAX);
    EDDY_ASSERT(cb != NULL);
    memcpy(c->bufs, bufs, nbufs * sizeof(*bufs));
    c->nbufs = nbufs;
    c->cb = cb;
    c->cb_arg = arg;
    c->pending = true;
    switch (c->state) {
    case CONN_UP:
        conn_write(c);
        break;
    case CONN_CLOSING:
        c->deferred = true; /* the server ended keep-alive: reconnect once closed */
        break;
    case CONN_DOWN:
        return conn_connect(c);
    case CONN_CONNECTING:
        EDDY_ASSERT(!"connecting only with a request pending");
        break;
    }
    return 0;
}

void conn_close(struct conn *c)
{
    EDDY_ASSERT(c != NULL);
    EDDY_ASSERT(!c->freeing);
    c->freeing = true;
    c->pending = false;
    if (c->state == CONN_DOWN) {
        buf_free(&c->body);
        eddy_free(c);
        return;
    }
    if (c->state != CONN_CLOSING) {
        c->state = CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, conn_on_close);
    }
}

int conn_parse_endpoint(const char *url, struct sockaddr_storage *addr, char *host, size_t host_cap)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        return -EDDY_EINVAL;
    }
    const char *hp = url + sizeof(scheme) - 1;
    size_t hp_len = strcspn(hp, "/");
    const char *colon = NULL;
    for (size_t i = 0; i < hp_len; i++) {
        if (hp[i] == ':') {
            colon = hp + i;
        }
    }
    if (colon == NULL || colon == hp || hp_len >= host_cap || hp_len >= 256) {
        return -EDDY_EINVAL;
    }
    char name[256];
    char port[16];
    size_t name_len = (size_t)(colon - hp);
    size_t port_len = hp_len - name_len - 1;
    if (port_len == 0 || port_len >= sizeof(port)) {
        return -EDDY_EINVAL;
    }
    memcpy(name, hp, name_len);
    name[name_len] = '\0';
    if (name_len >= 2 && name[0] == '[' && name[name_len - 1] == ']') {
        memmove(name, name + 1, name_len - 2);
        name[name_len - 2] = '\0';
    }
    memcpy(port, colon + 1, port_len);
    port[port_len] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(name, port, &hints, &res) != 0 || res == NULL) {
        return -EDDY_EINVAL;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    memcpy(host, hp, hp_len);
    host[hp_len] = '\0';
    return 0;
}
