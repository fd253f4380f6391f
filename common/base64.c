/*
 * Standard base64 (RFC 4648 alphabet, '=' padding) for Kinesis JSON blobs.
 * Decoding is as strict as AWS's Java decoder: only the alphabet, padding
 * only at the end and only where it completes a 4-char unit, no lone final
 * char. Unpadded final units and non-zero unused bits are accepted. Stateless.
 */
#include "eddy/base64.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdbool.h>

static const char base64_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const uint8_t *in, size_t n, char *out)
{
    EDDY_ASSERT(in != NULL || n == 0);
    EDDY_ASSERT(out != NULL || n == 0);
    size_t o = 0;
    size_t k = 0;
    for (; n - k >= 3; k += 3) {
        uint32_t v = (uint32_t)in[k] << 16 | (uint32_t)in[k + 1] << 8 | in[k + 2];
        out[o++] = base64_alphabet[(v >> 18) & 0x3f];
        out[o++] = base64_alphabet[(v >> 12) & 0x3f];
        out[o++] = base64_alphabet[(v >> 6) & 0x3f];
        out[o++] = base64_alphabet[v & 0x3f];
    }
    if (n - k == 1) {
        uint32_t v = (uint32_t)in[k] << 16;
        out[o++] = base64_alphabet[(v >> 18) & 0x3f];
        out[o++] = base64_alphabet[(v >> 12) & 0x3f];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - k == 2) {
        uint32_t v = (uint32_t)in[k] << 16 | (uint32_t)in[k + 1] << 8;
        out[o++] = base64_alphabet[(v >> 18) & 0x3f];
        out[o++] = base64_alphabet[(v >> 12) & 0x3f];
        out[o++] = base64_alphabet[(v >> 6) & 0x3f];
        out[o++] = '=';
    }
    EDDY_ASSERT(o == base64_encoded_len(n));
    return o;
}

/* The 6-bit value of c, or -1 outside the alphabet ('=' included). */
static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/* Packs k (2..4) chars into the top of a 24-bit value; false on a bad char. */
static bool base64_unit(const char *in, size_t k, uint32_t *v)
{
    uint32_t acc = 0;
    for (size_t j = 0; j < 4; j++) {
        int d = 0;
        if (j < k) {
            d = base64_value(in[j]);
            if (d < 0) {
                return false;
            }
        }
        acc = acc << 6 | (uint32_t)d;
    }
    *v = acc;
    return true;
}

int base64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len)
{
    EDDY_ASSERT(in != NULL || n == 0);
    EDDY_ASSERT(out != NULL || n == 0);
    EDDY_ASSERT(out_len != NULL);
    size_t pad = 0;
    if (n >= 1 && in[n - 1] == '=') {
        pad = (n >= 2 && in[n - 2] == '=') ? 2 : 1;
    }
    size_t data_len = n - pad;
    size_t tail = data_len % 4;
    /* Padding only completes a unit: "xxx=" or "xx==", never "xx=" or "x===". */
    if (pad != 0 && (n % 4 != 0 || tail != 4 - pad)) {
        return -EDDY_EMALFORMED;
    }
    /* A lone final char carries only 6 bits: not even one byte. */
    if (tail == 1) {
        return -EDDY_EMALFORMED;
    }
    size_t o = 0;
    size_t k = 0;
    uint32_t v;
    for (; data_len - k >= 4; k += 4) {
        if (!base64_unit(in + k, 4, &v)) {
            return -EDDY_EMALFORMED;
        }
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (tail != 0) {
        if (!base64_unit(in + k, tail, &v)) {
            return -EDDY_EMALFORMED;
        }
        out[o++] = (uint8_t)(v >> 16);
        if (tail == 3) {
            out[o++] = (uint8_t)(v >> 8);
        }
    }
    EDDY_ASSERT(o <= base64_decoded_len_max(n));
    *out_len = o;
    return 0;
}
