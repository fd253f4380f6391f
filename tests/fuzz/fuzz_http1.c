/*
 * libFuzzer target for the HTTP/1.1 request parser, the first code to touch
 * every byte a client sends. http1_parse_for_test parses the input twice, in
 * one piece and split as reads would split it, and aborts if the two disagree;
 * here any result other than a request count or a documented error aborts.
 */
#include "http1.h"

#include "eddy/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Past a few requests' worth, bigger inputs add no coverage and slow the run. */
#define FUZZ_HTTP1_INPUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_HTTP1_INPUT_MAX) {
        return 0;
    }
    int rv = http1_parse_for_test(data, size);
    if (rv < 0 && rv != -EDDY_EMALFORMED && rv != -EDDY_ETOOBIG) {
        fprintf(stderr, "fuzz_http1: unexpected result %d\n", rv);
        abort();
    }
    /* A request that keeps the connection takes at least 16 bytes
     * ("GET / HTTP/1.1\n\n"); only the last one may be shorter. */
    if (rv > 0 && (size_t)rv > 1 + size / 16) {
        fprintf(stderr, "fuzz_http1: %d requests from %zu bytes\n", rv, size);
        abort();
    }
    return 0;
}
