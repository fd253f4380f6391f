/*
 * AWS Signature Version 4 for the bench's requests: POST / with the headers
 * Content-Type, Host, X-Amz-Date and X-Amz-Target signed. The signing key
 * is derived once per date (sign_init); sign_request then costs one
 * SHA-256 of the body and one HMAC. Neither Eddy nor kinesalite verifies
 * signatures today, but the bench signs as an SDK does so that its
 * requests stay valid when Eddy starts to. Plain data, no allocation.
 */
#ifndef EDDY_BENCH_SIGN_H
#define EDDY_BENCH_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SIGN_FIELD_MAX 64
/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=<64 hex>". */
#define SIGN_AUTH_MAX 320

struct sign_ctx {
    char access_key[SIGN_FIELD_MAX];
    char region[SIGN_FIELD_MAX];
    char service[SIGN_FIELD_MAX];
    char date[9];      /* YYYYMMDD */
    char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
    uint8_t key[32];   /* HMAC(... HMAC("AWS4" secret, date) ..., "aws4_request") */
};

/* Derives the key for the UTC time now. Fields longer than
 * SIGN_FIELD_MAX - 1 are cut. */
void sign_init(struct sign_ctx *s,
               const char *access_key,
               const char *secret_key,
               const char *region,
               const char *service,
               time_t now);
/* Writes the Authorization header value for a POST / to host with the
 * given content type, X-Amz-Target and body (s->amz_date is the
 * X-Amz-Date to send with it). */
void sign_request(const struct sign_ctx *s,
                  const char *host,
                  const char *content_type,
                  const char *target,
                  const uint8_t *body,
                  size_t len,
                  char auth[SIGN_AUTH_MAX]);

#endif
