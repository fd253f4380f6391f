/*
 * libFuzzer target for base64_decode, the decoder of every Data blob a client
 * sends. Arbitrary bytes must either be rejected or decode to bytes whose
 * encoding decodes back to the same bytes; any mismatch aborts.
 */
#include "eddy/alloc.h"
#include "eddy/base64.h"
#include "eddy/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bigger inputs add no coverage and only slow the run. */
#define FUZZ_BASE64_INPUT_MAX 4096

static void fuzz_base64_fail(const char *what)
{
    fprintf(stderr, "fuzz_base64: %s\n", what);
    abort();
}

/* The 6-bit value of an alphabet char (decode already accepted it). */
static unsigned fuzz_base64_value(char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c != '\0' ? strchr(alphabet, c) : NULL;
    if (p == NULL) {
        fuzz_base64_fail("accepted a char outside the alphabet");
    }
    return (unsigned)(p - alphabet);
}

/* Length without trailing '=' (at most two). */
static size_t fuzz_base64_unpadded_len(const char *s, size_t n)
{
    size_t k = n;
    while (k > 0 && n - k < 2 && s[k - 1] == '=') {
        k--;
    }
    return k;
}

/* The accepted text and our encoding of its bytes must match char for char
 * once padding is dropped, except the last char of a partial unit: there
 * the decoder ignores the unused low bits, so only the used bits must agree. */
static void fuzz_base64_check_text(const char *in, size_t n, const char *enc, size_t enc_len)
{
    size_t in_data = fuzz_base64_unpadded_len(in, n);
    size_t enc_data = fuzz_base64_unpadded_len(enc, enc_len);
    if (in_data != enc_data) {
        fuzz_base64_fail("data length differs from re-encoding");
    }
    if (in_data == 0) {
        return;
    }
    size_t last = in_data - 1;
    if (memcmp(in, enc, last) != 0) {
        fuzz_base64_fail("text differs from re-encoding");
    }
    static const unsigned unused_bits[4] = {0, 0, 4, 2};
    unsigned drop = unused_bits[in_data % 4];
    if (fuzz_base64_value(in[last]) >> drop != fuzz_base64_value(enc[last]) >> drop) {
        fuzz_base64_fail("last char differs in its used bits");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_BASE64_INPUT_MAX) {
        return 0;
    }
    const char *in = (const char *)data;
    uint8_t *dec = eddy_xmalloc(base64_decoded_len_max(size));
    size_t dec_len = 0;
    int rv = base64_decode(in, size, dec, &dec_len);
    if (rv != 0) {
        if (rv != -EDDY_EMALFORMED) {
            fuzz_base64_fail("unexpected error code");
        }
        eddy_free(dec);
        return 0;
    }
    if (dec_len > base64_decoded_len_max(size) || dec_len > (size / 4) * 3 + 2) {
        fuzz_base64_fail("decoded length out of bounds");
    }
    char *enc = eddy_xmalloc(base64_encoded_len(dec_len) + 1);
    size_t enc_len = base64_encode(dec, dec_len, enc);
    if (enc_len != base64_encoded_len(dec_len)) {
        fuzz_base64_fail("encoded length mismatch");
    }
    /* Padded input has a multiple of 4 chars and re-encodes to the same length. */
    if (size % 4 == 0 && enc_len != size) {
        fuzz_base64_fail("padded input re-encodes to another length");
    }
    fuzz_base64_check_text(in, size, enc, enc_len);
    uint8_t *dec2 = eddy_xmalloc(base64_decoded_len_max(enc_len));
    size_t dec2_len = 0;
    if (base64_decode(enc, enc_len, dec2, &dec2_len) != 0) {
        fuzz_base64_fail("own encoding rejected");
    }
    if (dec2_len != dec_len || memcmp(dec, dec2, dec_len) != 0) {
        fuzz_base64_fail("round trip changed the bytes");
    }
    eddy_free(dec2);
    eddy_free(enc);
    eddy_free(dec);
    return 0;
}
