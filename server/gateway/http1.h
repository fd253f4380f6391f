/*
 * HTTP/1.1 server on libuv (llhttp's predecessor http-parser, Debian
 * libhttp-parser): keep-alive, pipelining with in-order responses, bounded
 * header and body sizes (GW_HTTP_*), idle and whole-request timeouts, and a
 * bound on queued response bytes. Malformed requests get 400 and a close;
 * oversize ones 413 (body) or 431 (headers) and a close; never a crash.
 *
 * Every complete request reaches request_cb as a struct http_request that
 * must be answered exactly once with http_request_respond, which also frees
 * it; answering after the connection closed is fine (the bytes are dropped).
 */
#ifndef EDDY_HTTP1_H
#define EDDY_HTTP1_H

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

/* *out is freed in http_server_close's callback. */
int http_server_init(struct http_server **out,
                     uv_loop_t *loop,
                     const char *host,
                     int port,
                     http_request_cb cb,
                     void *data);
/* The bound port (useful with port 0). */
int http_server_port(const struct http_server *s);
/* Stops listening, closes every connection; cb after all handles closed.
 * Requests still unanswered stay valid until answered. */
void http_server_close(struct http_server *s, void (*cb)(void *arg), void *arg);

const char *http_request_method(const struct http_request *r); /* "POST" */
const char *http_request_target(const struct http_request *r); /* "/" */
/* Case-insensitive lookup; NUL-terminated value, NULL if absent. */
const char *http_request_header(const struct http_request *r, const char *name);
size_t http_request_header_count(const struct http_request *r);
/* The i-th header as received (names as sent). */
struct http_header http_request_header_at(const struct http_request *r, size_t i);
/* Body bytes (NUL-terminated for convenience; len excludes it). */
const uint8_t *http_request_body(const struct http_request *r, size_t *len);
/* False once the client connection is gone. */
bool http_request_is_connected(const struct http_request *r);

/* Sends status, headers (Content-Length, Date, Connection added here) and
 * body (borrowed; copied before return), then frees r. */
void http_request_respond(struct http_request *r,
                          int status,
                          const struct http_header *headers,
                          size_t header_count,
                          const uint8_t *body,
                          size_t body_len);

/* The incremental request parser on its own, for the fuzz target and tests:
 * feeds bytes, returns the number of complete requests parsed or a negative
 * error (-EDDY_EMALFORMED, -EDDY_ETOOBIG). */
int http1_parse_for_test(const uint8_t *data, size_t len);

#endif
