/*
 * What the sigv4 files share: sigv4.c (the checks, in AWS's order),
 * sigv4_canon.c (the canonical request and the signature) and sigv4_keys.c
 * (credentials and the signing-key cache).
 */
#ifndef EDDY_GW_SIGV4_INTERNAL_H
#define EDDY_GW_SIGV4_INTERNAL_H

#include "sigv4.h"

#include "eddy/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
/* "20150830T123600Z" */
#define SIGV4_AMZ_DATE_LEN 16
#define SIGV4_SCOPE_DATE_LEN 8
#define SIGV4_HASH_BYTES 32
#define SIGV4_HEX_LEN (2 * SIGV4_HASH_BYTES)

/* A borrowed slice of the request (not NUL-terminated). */
struct sigv4_str {
    const char *p;
    size_t n;
};

/* One credential, with the signing key of its last (date, region, service). */
struct sigv4_key {
    char access_key[SIGV4_ACCESS_KEY_LEN_MAX + 1];
    char *k_secret; /* "AWS4" + the secret: the first HMAC key of the chain */
    size_t k_secret_len;
    char *token; /* NULL: a long-term key */
    size_t token_len;
    char account[API_ACCOUNT_ID_LEN + 1]; /* "": the gateway's */
    bool cached;
    char cached_date[SIGV4_SCOPE_DATE_LEN + 1];
    char cached_region[API_REGION_LEN_MAX + 1];
    char cached_service[API_REGION_LEN_MAX + 1];
    uint8_t signing_key[SIGV4_HASH_BYTES];
};

/* What the credentials of a request say, once their shape was checked. */
struct sigv4_auth {
    bool from_query; /* X-Amz-* query parameters rather than a header */
    struct sigv4_str algorithm;
    struct sigv4_str credential;
    struct sigv4_str signed_headers;
    struct sigv4_str signature;
    struct sigv4_str token; /* p NULL: none */
    /* The credential's five parts. */
    struct sigv4_str key_id;
    struct sigv4_str scope_date;
    struct sigv4_str region;
    struct sigv4_str service;
    struct sigv4_str terminator;
    /* The request's date as ISO-8601 basic, and in seconds. */
    char amz_date[SIGV4_AMZ_DATE_LEN + 1];
    int64_t date_s;
};

/* sigv4_keys.c */
struct sigv4_key *sigv4_keys_find(struct sigv4_keys *k, const char *id, size_t len);
/* key's signing key for the scope (computed, or from its cache). */
void sigv4_key_signing_key(struct sigv4_key *key,
                           struct sigv4_str date,
                           struct sigv4_str region,
                           struct sigv4_str service,
                           uint8_t out[SIGV4_HASH_BYTES]);
void sigv4_hmac(const void *key,
                size_t key_len,
                const void *msg,
                size_t msg_len,
                uint8_t out[SIGV4_HASH_BYTES]);
/* out holds SIGV4_HEX_LEN + 1 bytes. */
void sigv4_hex(const uint8_t *in, size_t n, char *out);

/* sigv4_canon.c */
/* Appends the canonical request of req signed as a says to out
 * (len_max SIGV4_CANONICAL_BYTES_MAX). -EDDY_ETOOBIG when it does not fit. */
int sigv4_canonical_request(const struct sigv4_request *req,
                            const struct sigv4_auth *a,
                            struct buf *out);
/* Appends the string to sign for a canonical request. */
int sigv4_string_to_sign(const struct sigv4_auth *a,
                         const uint8_t *canonical,
                         size_t canonical_len,
                         struct buf *out);
/* Room for percent-decoded query values: as many bytes as the target has,
 * since distinct parameters are disjoint parts of it. */
struct sigv4_scratch {
    char *p;
    size_t len;
    size_t cap;
};
/* The value of the first query parameter called name in target's query,
 * percent-decoded into s (s NULL: left encoded, for a presence check).
 * False when absent (a parameter without '=' is present, empty). */
bool sigv4_query_param(const char *target,
                       const char *name,
                       struct sigv4_scratch *s,
                       struct sigv4_str *value);
/* Case-insensitive header lookup in req (first one). */
bool sigv4_header(const struct sigv4_request *req, const char *name, struct sigv4_str *value);

#endif
