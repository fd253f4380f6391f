/*
 * libFuzzer target for the RPC frame decoder: arbitrary bytes are decoded
 * as consecutive frames until one is incomplete or bad. Every whole frame
 * is re-encoded and decoded again. The second decode may fail: protobuf-c
 * accepts an unknown field number 0 written as an overlong varint but
 * rejects its canonical re-encoding, so only a successful decode is checked.
 * Seed corpus: tests/fuzz/corpus/rpc_frame/.
 */
#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/rpc.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes f and decodes the result: whole, with the same id and body. */
static void fuzz_rpc_frame_reencode(const Eddy__Frame *f)
{
    uint8_t *out;
    size_t len;
    if (rpc_frame_encode(f, &out, &len) != 0) {
        return; /* past the limit: unknown fields can re-encode larger */
    }
    size_t used;
    Eddy__Frame *g;
    int rv = rpc_frame_decode(out, len, &used, &g);
    EDDY_ASSERT(rv == 0 || rv == -EDDY_EMALFORMED);
    if (rv == 0) {
        EDDY_ASSERT(used == len);
        EDDY_ASSERT(g->id == f->id);
        EDDY_ASSERT(g->body_case == f->body_case);
        rpc_frame_free(g);
    }
    eddy_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    /* Each frame consumes at least its 4-byte header, so this ends. */
    while (off < size) {
        size_t used;
        Eddy__Frame *f;
        int rv = rpc_frame_decode(data + off, size - off, &used, &f);
        if (rv != 0 || used == 0) {
            EDDY_ASSERT(f == NULL);
            break;
        }
        EDDY_ASSERT(used >= 4);
        EDDY_ASSERT(used <= size - off);
        fuzz_rpc_frame_reencode(f);
        rpc_frame_free(f);
        off += used;
    }
    return 0;
}
