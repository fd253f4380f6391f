/*
 * HTTP/2 transport of the gateway's HTTP server (http.h), on nghttp2: h2c by
 * prior knowledge and h2 over TLS, chosen by http_server.c.
 */
#ifndef EDDY_HTTP2_H
#define EDDY_HTTP2_H

#include "http.h"

#include <stddef.h>
#include <stdint.h>

/* Runs one connection without sockets, for the fuzz target and tests: the
 * client preface, then data fed step bytes at a time into the connection's
 * session; each request is answered at once (even body lengths with a
 * response, odd ones with a streamed response). Frames the server makes are
 * dropped. Returns the number of requests answered; aborts if the budget or
 * the requests are not all given back at the end. */
int http2_feed_for_test(const uint8_t *data, size_t len, size_t step);

#endif
