/*
 * AWS Signature Version 4 as a Kinesis endpoint checks it: the credentials a
 * request carries (an Authorization header, or X-Amz-* query parameters),
 * refused with AWS's exceptions and messages, in AWS's order.
 *
 * Two modes. SIGV4_MODE_OPEN, the default, checks what AWS checks before it
 * looks up the key (shape, algorithm, credential scope, the date's format)
 * and accepts any signature, as emulators do; no hashing, so the hot path
 * pays a parse of one header. SIGV4_MODE_VERIFY also refuses a request
 * whose clock is more than SIGV4_CLOCK_SKEW_MS off, whose access key is not
 * in the credentials (struct sigv4_keys), whose signature differs from the
 * one computed with the key's secret (one SHA-256 of the body and a few
 * HMACs; the signing key is cached per key, date and region), or whose
 * session token is not the key's.
 *
 * Errors (api_error, HTTP 400 for the JSON and CBOR protocols) and their
 * sources are listed in README.md ("Authentication").
 */
#ifndef EDDY_GW_SIGV4_H
#define EDDY_GW_SIGV4_H

#include "api_limits.h"
#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_error;
struct sigv4_keys;

/* How far a request's date may be from the gateway's clock. Kinesis refuses
 * requests 5 minutes off: "Signature expired: 20151120T200815Z is now earlier
 * than 20151120T201846Z (20151120T202346Z - 5 min.)" (remind101/logspout-
 * kinesis#21, awslabs/amazon-kinesis-producer#222) and "Signature not yet
 * current: ... (20181017T093139Z + 5 min.)" (s12v/awsbeats#48), all from
 * Kinesis Data Streams. (Other Coral services, DynamoDB or STS, allow 15.) */
#define SIGV4_CLOCK_SKEW_MS (5 * 60 * 1000)
/* Credentials one gateway holds (lines of a credentials file). */
#define SIGV4_KEYS_MAX 4096
/* An access key id: IAM's AccessKeyId is 16..128 characters. */
#define SIGV4_ACCESS_KEY_LEN_MAX 128
/* A secret access key (AWS issues 40 characters). */
#define SIGV4_SECRET_LEN_MAX 256
/* A session token: STS documents no bound and its tokens grow with session
 * policies and tags; real ones are 400..2000 characters. */
#define SIGV4_TOKEN_LEN_MAX 8192
/* A credentials file, read whole at start-up. */
#define SIGV4_CREDENTIALS_FILE_BYTES_MAX (4 * 1024 * 1024)
/* The canonical request built to verify one request: its path and query
 * (at most three times their 64 KiB once percent-encoded) and each signed
 * header once. Past this (SignedHeaders naming one big header many times)
 * the signature cannot match anyway. */
#define SIGV4_CANONICAL_BYTES_MAX (4 * GW_HTTP_HEADER_BYTES_MAX)

enum sigv4_mode {
    SIGV4_MODE_OPEN = 0, /* well-formed credentials, any signature */
    SIGV4_MODE_VERIFY,   /* the signature of a known key, within the clock skew */
};

/* What a gateway checks requests against. Owned by the gateway. */
struct sigv4_config {
    enum sigv4_mode mode;
    const char *service; /* the signing name, "kinesis" */
    const char *region;  /* the gateway's region: valid in a scope whatever its shape */
    /* The credentials (VERIFY: the only keys accepted; OPEN: NULL, or keys
     * whose account applies to their requests). sigv4_check caches signing
     * keys in it, hence not const. */
    struct sigv4_keys *keys;
};

/* A request as sigv4 reads it; every field borrowed. */
struct sigv4_request {
    const char *method;                /* "POST" */
    const char *target;                /* the request-target: path, then '?' and the query */
    const struct http_header *headers; /* as received, in order; HTTP/2 has a host */
    size_t header_count;
    const uint8_t *body;
    size_t body_len;
};

/* Who a request speaks for, once accepted. */
struct sigv4_identity {
    /* The credential scope's region ("" when it names the gateway's). */
    char region[API_REGION_LEN_MAX + 1];
    /* The key's account from the credentials ("": the gateway's). */
    char account[API_ACCOUNT_ID_LEN + 1];
};

/* ---- credentials ---- */

void sigv4_keys_create(struct sigv4_keys **out);
void sigv4_keys_destroy(struct sigv4_keys *k); /* NULL is fine */
size_t sigv4_keys_count(const struct sigv4_keys *k);
/* Adds one credential (copied). token NULL: a long-term key; account NULL:
 * the gateway's. -EDDY_EINVAL for a field out of shape (access_key 1..128
 * printable characters without '/', ',', ';', '='; secret and token 1..their
 * bound printable; account 12 digits), -EDDY_EEXISTS for a key already
 * there, -EDDY_EFULL past SIGV4_KEYS_MAX. */
int sigv4_keys_add(struct sigv4_keys *k,
                   const char *access_key,
                   const char *secret,
                   const char *token,
                   const char *account);
/* Adds every credential of a credentials file (format in README.md: lines
 * "ACCESS_KEY SECRET [TOKEN|-] [ACCOUNT]", '#' comments). On failure writes
 * "PATH:LINE: reason" to err and returns a negative code; the credentials
 * of the lines before stay. */
int sigv4_keys_load(struct sigv4_keys *k, const char *path, char *err, size_t err_len);

/* ---- checking requests ---- */

/* True when the request carries credentials at all: an Authorization header
 * or an X-Amz-Algorithm query parameter. */
bool sigv4_has_auth(const char *target, const char *authorization);
/* Checks req's credentials at wall-clock now_ms as cfg says. Returns 0 with
 * *id set, or a negative code with e set to the AWS exception. */
int sigv4_check(const struct sigv4_config *cfg,
                const struct sigv4_request *req,
                uint64_t now_ms,
                struct sigv4_identity *id,
                struct api_error *e);
/* sigv4_check of an HTTP request (its headers, target and body). */
int sigv4_check_http(const struct sigv4_config *cfg,
                     const struct http_request *http,
                     uint64_t now_ms,
                     struct sigv4_identity *id,
                     struct api_error *e);

/* ---- pieces, for tests ---- */

/* A region Eddy accepts in a credential scope: the gateway's, or the shape
 * of AWS's region names (lowercase letters, digits and '-', at least two
 * parts, the last one digits: "us-east-1", "us-gov-west-1"). */
bool sigv4_region_is_valid(const struct sigv4_config *cfg, const char *region, size_t len);
/* Parses an ISO-8601 basic date-time ("20150830T123600Z") into seconds since
 * the epoch. False when malformed. */
bool sigv4_parse_amz_date(const char *s, size_t len, int64_t *epoch_s);

#endif
