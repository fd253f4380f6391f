/*
 * The credentials a gateway accepts (struct sigv4_keys): an array sorted by
 * access key, filled at start-up (sigv4_keys_add, sigv4_keys_load) and read
 * by every request afterwards. Each key caches the signing key of the last
 * (date, region, service) it signed for: four HMACs saved per request, and
 * the date changes once a day.
 */
#include "sigv4_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sigv4_keys {
    struct sigv4_key *keys; /* sorted by access_key (strcmp) */
    size_t count;
    size_t cap;
};

void sigv4_hmac(
    const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[SIGV4_HASH_BYTES])
{
    unsigned int out_len = 0;
    EDDY_ASSERT(key_len <= INT32_MAX);
    uint8_t *rv = HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &out_len);
    EDDY_ASSERT(rv != NULL);
    EDDY_ASSERT(out_len == SIGV4_HASH_BYTES);
}

void sigv4_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xF];
    }
    out[2 * n] = '\0';
}

void sigv4_keys_create(struct sigv4_keys **out)
{
    *out = eddy_xcalloc(1, sizeof(**out));
}

void sigv4_keys_destroy(struct sigv4_keys *k)
{
    if (k == NULL) {
        return;
    }
    for (size_t i = 0; i < k->count; i++) {
        struct sigv4_key *key = &k->keys[i];
        OPENSSL_cleanse(key->k_secret, key->k_secret_len);
        OPENSSL_cleanse(key->signing_key, sizeof(key->signing_key));
        eddy_free(key->k_secret);
        eddy_free(key->token);
    }
    eddy_free(k->keys);
    eddy_free(k);
}

size_t sigv4_keys_count(const struct sigv4_keys *k)
{
    return k != NULL ? k->count : 0;
}

/* The index of id in k, or where it would go (*found false). */
static size_t sigv4_keys_search(const struct sigv4_keys *k, const char *id, size_t len, bool *found)
{
    size_t lo = 0;
    size_t hi = k->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = k->keys[mid].access_key;
        int c = strncmp(m, id, len);
        if (c == 0) {
            c = m[len] == '\0' ? 0 : 1; /* m is longer: it sorts after id */
        }
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

struct sigv4_key *sigv4_keys_find(struct sigv4_keys *k, const char *id, size_t len)
{
    if (k == NULL || len == 0 || len > SIGV4_ACCESS_KEY_LEN_MAX || memchr(id, '\0', len) != NULL) {
        return NULL;
    }
    bool found = false;
    size_t i = sigv4_keys_search(k, id, len, &found);
    return found ? &k->keys[i] : NULL;
}

/* 1..max printable ASCII characters, none of reject. */
static bool sigv4_field_ok(const char *s, size_t max, const char *reject)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] > '~' || strchr(reject, s[i]) != NULL) {
            return false;
        }
    }
    return true;
}

static bool sigv4_account_ok(const char *s)
{
    if (strlen(s) != API_ACCOUNT_ID_LEN) {
        return false;
    }
    for (size_t i = 0; i < API_ACCOUNT_ID_LEN; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

int sigv4_keys_add(struct sigv4_keys *k,
                   const char *access_key,
                   const char *secret,
                   const char *token,
                   const char *account)
{
    EDDY_ASSERT(k != NULL);
    /* The credential splits on '/', the header on ',' and ' ', SignedHeaders on ';'. */
    if (!sigv4_field_ok(access_key, SIGV4_ACCESS_KEY_LEN_MAX, "/,;=") ||
        !sigv4_field_ok(secret, SIGV4_SECRET_LEN_MAX, "") ||
        (token != NULL && !sigv4_field_ok(token, SIGV4_TOKEN_LEN_MAX, "")) ||
        (account != NULL && !sigv4_account_ok(account))) {
        return -EDDY_EINVAL;
    }
    bool found = false;
    size_t at = sigv4_keys_search(k, access_key, strlen(access_key), &found);
    if (found) {
        return -EDDY_EEXISTS;
    }
    if (k->count == SIGV4_KEYS_MAX) {
        return -EDDY_EFULL;
    }
    if (k->count == k->cap) {
        k->cap = k->cap == 0 ? 8 : 2 * k->cap;
        k->keys = eddy_xrealloc(k->keys, k->cap * sizeof(*k->keys));
    }
    memmove(&k->keys[at + 1], &k->keys[at], (k->count - at) * sizeof(*k->keys));
    k->count++;
    struct sigv4_key *key = &k->keys[at];
    memset(key, 0, sizeof(*key));
    memcpy(key->access_key, access_key, strlen(access_key) + 1);
    key->k_secret_len = 4 + strlen(secret);
    key->k_secret = eddy_xmalloc(key->k_secret_len + 1);
    memcpy(key->k_secret, "AWS4", 4);
    memcpy(key->k_secret + 4, secret, strlen(secret) + 1);
    if (token != NULL) {
        key->token = eddy_xstrdup(token);
        key->token_len = strlen(token);
    }
    if (account != NULL) {
        memcpy(key->account, account, API_ACCOUNT_ID_LEN + 1);
    }
    return 0;
}

static bool sigv4_str_eq(const char *cached, struct sigv4_str s)
{
    return strlen(cached) == s.n && memcmp(cached, s.p, s.n) == 0;
}

void sigv4_key_signing_key(struct sigv4_key *key,
                           struct sigv4_str date,
                           struct sigv4_str region,
                           struct sigv4_str service,
                           uint8_t out[SIGV4_HASH_BYTES])
{
    bool cacheable = date.n <= SIGV4_SCOPE_DATE_LEN && region.n <= API_REGION_LEN_MAX &&
                     service.n <= API_REGION_LEN_MAX;
    if (key->cached && sigv4_str_eq(key->cached_date, date) &&
        sigv4_str_eq(key->cached_region, region) && sigv4_str_eq(key->cached_service, service)) {
        memcpy(out, key->signing_key, SIGV4_HASH_BYTES);
        return;
    }
    uint8_t k[SIGV4_HASH_BYTES];
    sigv4_hmac(key->k_secret, key->k_secret_len, date.p, date.n, k);
    sigv4_hmac(k, sizeof(k), region.p, region.n, k);
    sigv4_hmac(k, sizeof(k), service.p, service.n, k);
    sigv4_hmac(k, sizeof(k), SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), out);
    OPENSSL_cleanse(k, sizeof(k));
    if (cacheable) {
        memcpy(key->cached_date, date.p, date.n);
        key->cached_date[date.n] = '\0';
        memcpy(key->cached_region, region.p, region.n);
        key->cached_region[region.n] = '\0';
        memcpy(key->cached_service, service.p, service.n);
        key->cached_service[service.n] = '\0';
        memcpy(key->signing_key, out, SIGV4_HASH_BYTES);
        key->cached = true;
    }
}

/* ---- the credentials file ---- */

#define SIGV4_FILE_FIELDS_MAX 4

/* Splits line (NUL-terminated, modified) into whitespace-separated fields;
 * returns how many, SIGV4_FILE_FIELDS_MAX + 1 when there are more. */
static size_t sigv4_split_fields(char *line, char *field[SIGV4_FILE_FIELDS_MAX])
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\r", &save)) {
        if (n == SIGV4_FILE_FIELDS_MAX) {
            return n + 1;
        }
        field[n++] = tok;
    }
    return n;
}

/* One line of the file (comment and blank lines included). */
static int sigv4_load_line(struct sigv4_keys *k, char *line, const char **why)
{
    char *hash = strchr(line, '#');
    if (hash != NULL) {
        *hash = '\0';
    }
    char *f[SIGV4_FILE_FIELDS_MAX] = {0};
    size_t n = sigv4_split_fields(line, f);
    if (n == 0) {
        return 0;
    }
    if (n < 2 || n > SIGV4_FILE_FIELDS_MAX) {
        *why = "want ACCESS_KEY SECRET [TOKEN|-] [ACCOUNT]";
        return -EDDY_EINVAL;
    }
    const char *token = n >= 3 && strcmp(f[2], "-") != 0 ? f[2] : NULL;
    const char *account = n == 4 ? f[3] : NULL;
    int rv = sigv4_keys_add(k, f[0], f[1], token, account);
    if (rv == -EDDY_EEXISTS) {
        *why = "access key listed twice";
    } else if (rv == -EDDY_EFULL) {
        *why = "more credentials than SIGV4_KEYS_MAX";
    } else if (rv != 0) {
        *why = "bad field (access key 1..128 printable characters without / , ; =, "
               "account 12 digits)";
    }
    return rv;
}

/* Reads path whole into *out (NUL-terminated, *out_len bytes before it). */
static int sigv4_read_file(const char *path, char **out, size_t *out_len, const char **why)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *why = strerror(errno);
        return -errno;
    }
    char *data = eddy_xmalloc(SIGV4_CREDENTIALS_FILE_BYTES_MAX + 1);
    size_t len = fread(data, 1, SIGV4_CREDENTIALS_FILE_BYTES_MAX + 1, f);
    int rv = 0;
    if (ferror(f)) {
        *why = "read error";
        rv = -EIO;
    } else if (len > SIGV4_CREDENTIALS_FILE_BYTES_MAX) {
        *why = "larger than 4 MiB";
        rv = -EDDY_ETOOBIG;
    } else if (memchr(data, '\0', len) != NULL) {
        *why = "NUL byte in the file";
        rv = -EDDY_EINVAL;
    }
    fclose(f);
    if (rv != 0) {
        eddy_free(data);
        return rv;
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    return 0;
}

int sigv4_keys_load(struct sigv4_keys *k, const char *path, char *err, size_t err_len)
{
    EDDY_ASSERT(k != NULL);
    const char *why = NULL;
    char *data = NULL;
    size_t len = 0;
    int rv = sigv4_read_file(path, &data, &len, &why);
    if (rv != 0) {
        snprintf(err, err_len, "%s: %s", path, why);
        return rv;
    }
    unsigned line_no = 0;
    char *p = data;
    while (rv == 0 && p != NULL) {
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        line_no++;
        rv = sigv4_load_line(k, p, &why);
        p = nl != NULL ? nl + 1 : NULL;
    }
    OPENSSL_cleanse(data, len); /* secrets */
    eddy_free(data);
    if (rv != 0) {
        snprintf(err, err_len, "%s:%u: %s", path, line_no, why);
    }
    return rv;
}
