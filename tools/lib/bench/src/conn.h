/*
 * One HTTP/1.1 keep-alive client connection on a libuv loop, one request at
 * a time (no pipelining: each connection is one closed-loop client). The
 * socket connects on the first conn_send and again after the server closes
 * it. Lifecycle: conn_create -> conn_send ... -> conn_close, which frees
 * the connection in its close callback.
 */
#ifndef EDDY_BENCH_CONN_H
#define EDDY_BENCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

/* Largest response body kept (a GetRecords answer of 10 MiB of data is
 * about 14 MB of JSON). */
#define CONN_BODY_MAX (64u << 20)
/* Buffers one request may be made of. */
#define CONN_BUFS_MAX 4

struct conn;

/* A whole response arrived (status 0, http_status and body, borrowed until
 * the callback returns), or the request failed (status < 0: connect, write
 * or read error, or the connection closed early; http_status 0). The
 * callback may call conn_send again. */
typedef void (*conn_cb)(
    struct conn *c, void *arg, int status, unsigned http_status, const char *body, size_t len);

/* A connection to addr (copied). Never fails (aborts when out of memory). */
struct conn *conn_create(uv_loop_t *loop, const struct sockaddr *addr);
/* Sends one request made of bufs (their memory is borrowed until cb) and
 * calls cb exactly once with its response. The connection must be idle.
 * Returns 0, or a negative code and then cb is not called. */
int conn_send(struct conn *c, const uv_buf_t *bufs, unsigned nbufs, conn_cb cb, void *arg);
bool conn_is_busy(const struct conn *c);
/* Closes the socket and frees c in the close callback; a request in flight
 * is dropped without its callback. */
void conn_close(struct conn *c);

/* Parses "http://HOST:PORT" (HOST numeric or a name, resolved now, which
 * blocks: call it before the loop runs). host gets "HOST:PORT" for the Host
 * header. -EDDY_EINVAL when it does not parse or resolve. */
int conn_parse_endpoint(const char *url,
                        struct sockaddr_storage *addr,
                        char *host,
                        size_t host_cap);

#endif
