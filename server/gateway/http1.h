/*
 * HTTP/1.1 transport of the gateway's HTTP server (http.h): keep-alive,
 * pipelining with in-order responses, chunked streamed responses, bounded
 * header and body sizes (GW_HTTP_*), idle and whole-request timeouts, and a
 * bound on queued response bytes. Malformed requests get 400 and a close;
 * oversize ones 413 (body) or 431 (headers) and a close; never a crash.
 */
#ifndef EDDY_HTTP1_H
#define EDDY_HTTP1_H

#include "http.h"

#include <stddef.h>
#include <stdint.h>

/* The incremental request parser on its own, for the fuzz target and tests:
 * feeds bytes, returns the number of complete requests parsed or a negative
 * error (-EDDY_EMALFORMED, -EDDY_ETOOBIG). */
int http1_parse_for_test(const uint8_t *data, size_t len);

#endif
