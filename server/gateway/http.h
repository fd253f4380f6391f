/*
 * The gateway's HTTP server, whatever the transport: HTTP/1.1 (http1.c) and
 * HTTP/2 (http2.c), in clear text on one port (h2c by prior knowledge: a
 * connection that opens with the HTTP/2 client preface speaks HTTP/2) and,
 * optionally, over TLS on a second port (ALPN chooses h2 or http/1.1). Every
 * bound (sizes, streams, queued bytes, timeouts) is a GW_* constant of
 * eddy/limits.h; a misbehaving client gets an error response, RST_STREAM or
 * GOAWAY and a close, never a crash or unbounded memory.
 *
 * Every complete request reaches request_cb as a struct http_request, the
 * same type for both transports, that must be answered exactly once: either
 * with http_request_respond, or with http_request_stream_begin and later
 * http_request_stream_end. Both free it. Answering after the client went away
 * is fine (the bytes are dropped).
 */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_server;
struct http_request;

struct http_header {
    const char *name;
    const char *value;
};

typedef void (*http_request_cb)(void *data, struct http_request *req);

/* Bytes of a streamed response that may wait unsent (HTTP/1.1: not yet
 * written to the socket; HTTP/2: not yet sent in DATA frames). */
#define HTTP_STREAM_QUEUED_MAX (1024 * 1024)

/* A TLS port: the PEM certificate chain (leaf first) and private key,
 * read when the server starts. ALPN offers h2 and http/1.1; a client
 * without ALPN gets HTTP/1.1, or HTTP/2 if it sends the preface. */
struct http_server_tls {
    int port; /* 0: any free port */
    const char *cert_path;
    const char *key_path;
};

/* Listens on host:port for HTTP/1.1 and h2c, and on host:tls->port for TLS
 * unless tls is NULL. -EDDY_EINVAL when host or the TLS files are bad, or a
 * libuv error (the port is taken). *out is freed in http_server_close's
 * callback. */
int http_server_init(struct http_server **out,
                     uv_loop_t *loop,
                     const char *host,
                     int port,
                     const struct http_server_tls *tls,
                     http_request_cb cb,
                     void *data);
/* The bound ports (useful with port 0); the TLS one is 0 without TLS. */
int http_server_port(const struct http_server *s);
int http_server_tls_port(const struct http_server *s);
/* Stops listening, closes every connection; cb after all handles closed.
 * Requests still unanswered stay valid until answered. */
void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg);

const char *http_request_method(const struct http_request *r); /* "POST" */
const char *http_request_target(const struct http_request *r); /* "/" */
/* Case-insensitive lookup; NUL-terminated value, NULL if absent. HTTP/2
 * requests carry their :authority as a "host" header when they have none. */
const char *http_request_header(const struct http_request *r, const char *name);
size_t http_request_header_count(const struct http_request *r);
/* The i-th header as received (names as sent; HTTP/2 names are lowercase). */
struct http_header http_request_header_at(const struct http_request *r, size_t i);
/* Body bytes (NUL-terminated for convenience; len excludes it). Not after
 * http_request_stream_begin. */
const uint8_t *http_request_body(const struct http_request *r, size_t *len);
/* False once the client connection (HTTP/2: the stream) is gone. */
bool http_request_is_connected(const struct http_request *r);
/* "HTTP/1.1" or "HTTP/2". */
const char *http_request_protocol(const struct http_request *r);

/* Sends status, headers (Content-Length and Date added here; HTTP/1.1 adds
 * Connection) and body (borrowed; copied before return), then frees r.
 * Headers the transport adds itself, or that could split the response, are
 * dropped with a warning. */
void http_request_respond(struct http_request *r,
                          int status,
                          const struct http_header *headers,
                          size_t header_count,
                          const uint8_t *body,
                          size_t body_len);

/* Starts a streamed response: status and headers now (Date added here), body
 * later (HTTP/1.1: Transfer-Encoding: chunked; HTTP/2: DATA frames under flow
 * control). After this r is answered only by http_request_stream_end; its
 * method, target and headers stay readable, its body does not. */
void http_request_stream_begin(struct http_request *r,
                               int status,
                               const struct http_header *headers,
                               size_t header_count);
/* Queues body bytes (copied). Returns 0, or -EDDY_EFULL when
 * HTTP_STREAM_QUEUED_MAX bytes are already queued unsent (nothing queued
 * then), or -EDDY_ESHUTDOWN when the client is gone. */
int http_request_stream_write(struct http_request *r, const uint8_t *data, size_t len);
/* Bytes queued and not yet handed to the socket (HTTP/2: not yet sent in
 * DATA frames). */
size_t http_request_stream_queued(const struct http_request *r);
/* cb runs (never inside a stream_* call) when the queue drops below half of
 * HTTP_STREAM_QUEUED_MAX after having been at or above it, and once when the
 * client goes away (then http_request_is_connected is false and the owner
 * should end the stream). NULL clears it. */
void http_request_stream_set_cb(struct http_request *r,
                                void (*cb)(void *arg, struct http_request *r),
                                void *arg);
/* Ends the body (HTTP/1.1: the last chunk; HTTP/2: END_STREAM) and frees r.
 * Safe after the client went away. */
void http_request_stream_end(struct http_request *r);

#endif
