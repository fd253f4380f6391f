/*
 * libFuzzer target for the HTTP/2 connection handler: the bytes a client
 * sends after the preface go into one connection's nghttp2 session with no
 * sockets (http2_feed_for_test), fed whole and split as reads would split
 * them. Every request is answered (a response or a streamed one), frames
 * the server makes are dropped, and the connection is closed at the end;
 * http2_feed_for_test aborts if the budget or a request is not given back,
 * and ASan reports any leak.
 */
#include "http2.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Past a few frames' worth, bigger inputs add no coverage and slow the run. */
#define FUZZ_HTTP2_INPUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_HTTP2_INPUT_MAX) {
        return 0;
    }
    int whole = http2_feed_for_test(data, size, size > 0 ? size : 1);
    int split = http2_feed_for_test(data, size, 1 + size % 17);
    /* Each request takes at least a 9-byte HEADERS frame. */
    if (whole < 0 || split < 0 || (size_t)whole > size / 9 || (size_t)split > size / 9) {
        fprintf(stderr, "fuzz_http2: %d and %d requests from %zu bytes\n", whole, split, size);
        abort();
    }
    return 0;
}
