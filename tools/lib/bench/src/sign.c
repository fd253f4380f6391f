/*
 * SigV4 (sign.h) with OpenSSL's one-shot SHA256 and HMAC. The canonical
 * request is fixed but for host, content type, date, target and the body
 * hash, so it is built with one snprintf.
 */
#include "sign.h"

#include "eddy/assert.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define SIGN_SIGNED_HEADERS "content-type;host;x-amz-date;x-amz-target"

static void sign_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static void sign_hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t out[32])
{
    unsigned int out_len = 0;
    uint8_t *rv =
        HMAC(EVP_sha256(), key, (int)key_len, (const uint8_t *)msg, strlen(msg), out, &out_len);
    EDDY_ASSERT(rv != NULL);
    EDDY_ASSERT(out_len == 32);
}

void sign_init(struct sign_ctx *s,
               const char *access_key,
               const char *secret_key,
               const char *region,
               const char *service,
               time_t now)
{
    EDDY_ASSERT(s != NULL);
    memset(s, 0, sizeof(*s));
    snprintf(s->access_key, sizeof(s->access_key), "%s", access_key);
    snprintf(s->region, sizeof(s->region), "%s", region);
    snprintf(s->service, sizeof(s->service), "%s", service);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(s->date, sizeof(s->date), "%Y%m%d", &tm);
    strftime(s->amz_date, sizeof(s->amz_date), "%Y%m%dT%H%M%SZ", &tm);

    char secret[SIGN_FIELD_MAX + 8];
    snprintf(secret, sizeof(secret), "AWS4%s", secret_key);
    uint8_t k[32];
    sign_hmac((const uint8_t *)secret, strlen(secret), s->date, k);
    sign_hmac(k, sizeof(k), s->region, k);
    sign_hmac(k, sizeof(k), s->service, k);
    sign_hmac(k, sizeof(k), "aws4_request", s->key);
}

void sign_request(const struct sign_ctx *s,
                  const char *host,
                  const char *content_type,
                  const char *target,
                  const uint8_t *body,
                  size_t len,
                  char auth[SIGN_AUTH_MAX])
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(body != NULL || len == 0);
    uint8_t digest[32];
    char body_hex[65];
    SHA256(body, len, digest);
    sign_hex(digest, sizeof(digest), body_hex);

    char canonical[1024];
    int n = snprintf(canonical, sizeof(canonical),
                     "POST\n/\n\ncontent-type:%s\nhost:%s\nx-amz-date:%s\nx-amz-target:%s\n\n"
                     "%s\n%s",
                     content_type, host, s->amz_date, target, SIGN_SIGNED_HEADERS, body_hex);
    EDDY_ASSERT(n > 0 && (size_t)n < sizeof(canonical));
    char canonical_hex[65];
    SHA256((const uint8_t *)canonical, (size_t)n, digest);
    sign_hex(digest, sizeof(digest), canonical_hex);

    char to_sign[512];
    n = snprintf(to_sign, sizeof(to_sign), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                 s->amz_date, s->date, s->region, s->service, canonical_hex);
    EDDY_ASSERT(n > 0 && (size_t)n < sizeof(to_sign));
    uint8_t sig[32];
    sign_hmac(s->key, sizeof(s->key), to_sign, sig);
    char sig_hex[65];
    sign_hex(sig, sizeof(sig), sig_hex);
    n = snprintf(auth, SIGN_AUTH_MAX,
                 "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                 "Signature=%s",
                 s->access_key, s->date, s->region, s->service, SIGN_SIGNED_HEADERS, sig_hex);
    EDDY_ASSERT(n > 0 && n < SIGN_AUTH_MAX);
}
