/* Standard base64 (RFC 4648, with padding), as Kinesis JSON blobs use. */
#ifndef EDDY_BASE64_H
#define EDDY_BASE64_H

#include <stddef.h>
#include <stdint.h>

static inline size_t base64_encoded_len(size_t n)
{
    return ((n + 2) / 3) * 4;
}
static inline size_t base64_decoded_len_max(size_t n)
{
    return (n / 4) * 3 + 3;
}
/* Writes base64_encoded_len(n) chars, no NUL. Returns the count. */
size_t base64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes n chars into out (room for base64_decoded_len_max(n)).
 * Strict like AWS (Java's decoder): padding must be right and only the
 * alphabet is allowed; a missing final padding is accepted. Returns
 * -EDDY_EMALFORMED on bad input, else 0 with *out_len set. out may be
 * (uint8_t *)in: decoding in place, where bad input is left as it was
 * (other outputs may hold part of the bytes). */
int base64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len);

#endif
