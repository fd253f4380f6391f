/*
 * 128-bit unsigned integers: the MD5 partition-key hash, the decimal text
 * form Kinesis uses for hash keys and sequence numbers, big-endian bytes for
 * storage, and the even split of the hash-key space into shards. Stateless
 * but for struct u128_md5, a hasher one caller owns for a batch of keys.
 */
#include "eddy/u128.h"
#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <openssl/evp.h>
#include <string.h>

#define U128_MAX (~(u128)0)

u128 u128_md5(const void *key, size_t len)
{
    EDDY_ASSERT(key != NULL || len == 0);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    /* An empty key still needs a valid pointer for EVP. */
    const void *data = key != NULL ? key : "";
    int ok = EVP_Digest(data, len, md, &md_len, EVP_md5(), NULL);
    /* Fails only without an MD5 provider (e.g. FIPS-only), a deployment error. */
    EDDY_ASSERT(ok == 1);
    EDDY_ASSERT(md_len == 16);
    return u128_from_be(md);
}

struct u128_md5 {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

struct u128_md5 *u128_md5_create(void)
{
    struct u128_md5 *h = eddy_xmalloc(sizeof(*h));
    h->md = EVP_MD_fetch(NULL, "MD5", NULL);
    h->ctx = EVP_MD_CTX_new();
    /* As in u128_md5: no MD5 provider is a deployment error; no memory
     * aborts the daemon as eddy_xmalloc does. */
    EDDY_ASSERT(h->md != NULL);
    EDDY_ASSERT(h->ctx != NULL);
    int ok = EVP_DigestInit_ex2(h->ctx, h->md, NULL);
    EDDY_ASSERT(ok == 1);
    return h;
}

u128 u128_md5_next(struct u128_md5 *h, const void *key, size_t len)
{
    EDDY_ASSERT(h != NULL);
    EDDY_ASSERT(key != NULL || len == 0);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    /* NULL: the digest the context already holds, no new fetch. */
    int ok = EVP_DigestInit_ex2(h->ctx, NULL, NULL) == 1 &&
             EVP_DigestUpdate(h->ctx, key != NULL ? key : "", len) == 1 &&
             EVP_DigestFinal_ex(h->ctx, md, &md_len) == 1;
    EDDY_ASSERT(ok);
    EDDY_ASSERT(md_len == 16);
    return u128_from_be(md);
}

void u128_md5_destroy(struct u128_md5 *h)
{
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    eddy_free(h);
}

/* Shared by both parsers; leading zeros are the only difference. */
static int u128_parse(const char *s, size_t len, bool allow_leading_zeros, u128 *out)
{
    EDDY_ASSERT(s != NULL || len == 0);
    EDDY_ASSERT(out != NULL);
    if (len == 0) {
        return -EDDY_EINVAL;
    }
    if (!allow_leading_zeros && len > 1 && s[0] == '0') {
        return -EDDY_EINVAL;
    }
    u128 v = 0;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (c < '0' || c > '9') {
            return -EDDY_EINVAL;
        }
        unsigned digit = (unsigned)(c - '0');
        if (v > (U128_MAX - digit) / 10) {
            return -EDDY_EINVAL;
        }
        v = v * 10 + digit;
    }
    *out = v;
    return 0;
}

int u128_parse_decimal(const char *s, size_t len, u128 *out)
{
    return u128_parse(s, len, false, out);
}

int u128_parse_decimal_lenient(const char *s, size_t len, u128 *out)
{
    return u128_parse(s, len, true, out);
}

/* Writes the `digits` lowest decimal digits of v, zero-padded. */
static void u128_format_digits(uint64_t v, char *out, size_t digits)
{
    for (size_t k = digits; k > 0; k--) {
        out[k - 1] = (char)('0' + v % 10); /* a 64-bit division: a multiply */
        v /= 10;
    }
}

size_t u128_format_decimal(u128 v, char *out)
{
    EDDY_ASSERT(out != NULL);
    /* In chunks of 19 digits: one 128-bit division (a libgcc call) per
     * chunk, not two per digit; a sequence number has ~50 digits and every
     * record's answer carries one (docs/BENCHMARKS.md, 2026-11-26). */
    const uint64_t chunk = 10000000000000000000ULL; /* 10^19 */
    uint64_t parts[3];                              /* 2^128 < 10^57 */
    size_t count = 0;
    do {
        EDDY_ASSERT(count < 3);
        parts[count++] = (uint64_t)(v % chunk);
        v /= chunk;
    } while (v != 0);
    /* The leading chunk without its leading zeros. */
    char lead[20];
    size_t lead_len = 0;
    uint64_t top = parts[count - 1];
    do {
        lead[lead_len++] = (char)('0' + top % 10);
        top /= 10;
    } while (top != 0);
    size_t n = 0;
    while (lead_len > 0) {
        out[n++] = lead[--lead_len];
    }
    for (size_t k = count - 1; k > 0; k--) {
        u128_format_digits(parts[k - 1], out + n, 19);
        n += 19;
    }
    out[n] = '\0';
    EDDY_ASSERT(n >= 1);
    EDDY_ASSERT(n <= U128_DECIMAL_LEN_MAX);
    return n;
}

void u128_to_be(u128 v, uint8_t out[16])
{
    EDDY_ASSERT(out != NULL);
    for (int k = 15; k >= 0; k--) {
        out[k] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

u128 u128_from_be(const uint8_t in[16])
{
    EDDY_ASSERT(in != NULL);
    u128 v = 0;
    for (int k = 0; k < 16; k++) {
        v = (v << 8) | in[k];
    }
    return v;
}

void u128_shard_range(uint32_t i, uint32_t n, u128 *start, u128 *end)
{
    EDDY_ASSERT(n >= 1);
    EDDY_ASSERT(i < n);
    EDDY_ASSERT(start != NULL);
    EDDY_ASSERT(end != NULL);
    if (n == 1) {
        /* floor(2^128 / 1) does not fit in 128 bits. */
        *start = 0;
        *end = U128_MAX;
        return;
    }
    /* floor(2^128 / n) from 2^128 - 1: one more exactly when n divides 2^128. */
    u128 width = U128_MAX / n;
    if (U128_MAX % n == (u128)n - 1) {
        width++;
    }
    *start = (u128)i * width;
    *end = i == n - 1 ? U128_MAX : *start + width - 1;
    EDDY_ASSERT(*start <= *end);
}
