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

/* Each byte's 6-bit value in the alphabet, BASE64_BAD for every other
 * byte ('=' included), so that one lookup both checks and decodes a char.
 * Built by the preprocessor from BASE64_VALUE. */
#define BASE64_BAD 0x100
#define BASE64_VALUE(c)                                                                            \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                        \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                                   \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                                   \
     : (c) == '+'               ? 62                                                               \
     : (c) == '/'               ? 63                                                               \
                                : BASE64_BAD)
#define BASE64_ROW4(c)                                                                             \
    BASE64_VALUE(c), BASE64_VALUE((c) + 1), BASE64_VALUE((c) + 2), BASE64_VALUE((c) + 3)
#define BASE64_ROW16(c)                                                                            \
    BASE64_ROW4(c), BASE64_ROW4((c) + 4), BASE64_ROW4((c) + 8), BASE64_ROW4((c) + 12)
#define BASE64_ROW64(c)                                                                            \
    BASE64_ROW16(c), BASE64_ROW16((c) + 16), BASE64_ROW16((c) + 32), BASE64_ROW16((c) + 48)
static const uint16_t base64_values[256] = {BASE64_ROW64(0), BASE64_ROW64(64), BASE64_ROW64(128),
                                            BASE64_ROW64(192)};

/* The 6-bit value of an alphabet char. */
static uint32_t base64_value(char c)
{
    return base64_values[(uint8_t)c];
}

/* Decoding in place stopped at a bad unit after the text's first k chars
 * (k / 4 whole units) had been decoded over their own text: encodes them
 * back, which gives the same chars (a whole unit decodes one to one), from
 * the last unit to the first, so that each unit's bytes are read before its
 * chars are written over them. */
static void base64_undo(const char *in, uint8_t *out, size_t k)
{
    if ((const void *)out != (const void *)in) {
        return;
    }
    char *text = (char *)out;
    for (size_t u = k / 4; u > 0; u--) {
        const uint8_t *p = out + 3 * (u - 1);
        uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        char *t = text + 4 * (u - 1);
        t[0] = base64_alphabet[(v >> 18) & 0x3f];
        t[1] = base64_alphabet[(v >> 12) & 0x3f];
        t[2] = base64_alphabet[(v >> 6) & 0x3f];
        t[3] = base64_alphabet[v & 0x3f];
    }
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
    for (; data_len - k >= 4; k += 4) {
        uint32_t a = base64_value(in[k]);
        uint32_t b = base64_value(in[k + 1]);
        uint32_t c = base64_value(in[k + 2]);
        uint32_t d = base64_value(in[k + 3]);
        /* One test per unit, rarely taken: a branch per char is what made
         * the decoder slow (docs/BENCHMARKS.md, 2026-11-26). */
        if (((a | b | c | d) & BASE64_BAD) != 0) {
            base64_undo(in, out, k);
            return -EDDY_EMALFORMED;
        }
        /* Read before written: out + o never passes in + k. */
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        out[o] = (uint8_t)(v >> 16);
        out[o + 1] = (uint8_t)(v >> 8);
        out[o + 2] = (uint8_t)v;
        o += 3;
    }
    if (tail != 0) {
        uint32_t a = base64_value(in[k]);
        uint32_t b = base64_value(in[k + 1]);
        uint32_t c = tail == 3 ? base64_value(in[k + 2]) : 0;
        if (((a | b | c) & BASE64_BAD) != 0) {
            base64_undo(in, out, k);
            return -EDDY_EMALFORMED;
        }
        uint32_t v = a << 18 | b << 12 | c << 6;
        out[o++] = (uint8_t)(v >> 16);
        if (tail == 3) {
            out[o++] = (uint8_t)(v >> 8);
        }
    }
    EDDY_ASSERT(o <= base64_decoded_len_max(n));
    *out_len = o;
    return 0;
}
