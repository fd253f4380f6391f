/*
 * The checks of a request's SigV4 credentials, in the order AWS's front end
 * (Coral) makes them, each refused with AWS's exception and message:
 *
 *  1. an Authorization header and an X-Amz-Algorithm query parameter both:
 *     InvalidSignatureException; neither: MissingAuthenticationTokenException;
 *  2. the header's key=value pairs, then Credential, Signature and
 *     SignedHeaders and a date (X-Amz-Date or Date) present; or the five
 *     X-Amz-* query parameters non-empty: IncompleteSignatureException;
 *  3. the date in ISO-8601 basic format: IncompleteSignatureException;
 *     within SIGV4_CLOCK_SKEW_MS of the clock (VERIFY): InvalidSignature-
 *     Exception "Signature expired" / "Signature not yet current";
 *  4. host or :authority signed: InvalidSignatureException;
 *  5. the algorithm AWS4-HMAC-SHA256, then a credential of five parts:
 *     IncompleteSignatureException;
 *  6. the scope's region, service, terminator and date, every mismatch in
 *     one message: InvalidSignatureException;
 *  7. (VERIFY) a known access key: UnrecognizedClientException; the
 *     signature: InvalidSignatureException with the canonical request and
 *     the string to sign; the session token: UnrecognizedClientException.
 *
 * Sources: kinesalite's test-suite run against Kinesis (steps 1 and 2),
 * dynalite's notes of DynamoDB's answers (the order, steps 3 to 7; DynamoDB
 * and Kinesis share the front end), and Kinesis answers quoted in client
 * issues (the 5-minute skew, the canonical request in the message, HTTP
 * 400); README.md lists them.
 */
#include "api.h"
#include "sigv4_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SIGV4_MSG_BAD_SIGNATURE                                                                    \
    "The request signature we calculated does not match the signature you provided. Check your "   \
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
/* Unknown access key (with the period) and wrong session token (without:
 * Kinesis "The security token included in the request is invalid (Service:
 * AmazonKinesis; Status Code: 400; Error Code: UnrecognizedClientException",
 * awslabs/amazon-kinesis-scaling-utils#46). */
#define SIGV4_MSG_UNKNOWN_KEY "The security token included in the request is invalid."
#define SIGV4_MSG_BAD_TOKEN "The security token included in the request is invalid"

static bool sigv4_str_is(struct sigv4_str s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

bool sigv4_has_auth(const char *target, const char *authorization)
{
    struct sigv4_str unused;
    return authorization != NULL ||
           (target != NULL && sigv4_query_param(target, "X-Amz-Algorithm", NULL, &unused));
}

/* ---- dates ---- */

static bool sigv4_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool sigv4_parse_amz_date(const char *s, size_t len, int64_t *epoch_s)
{
    int y = 0;
    int mo = 0;
    int d = 0;
    int h = 0;
    int mi = 0;
    int sec = 0;
    if (len != SIGV4_AMZ_DATE_LEN || s[8] != 'T' || s[15] != 'Z' || !sigv4_digits(s, 4, &y) ||
        !sigv4_digits(s + 4, 2, &mo) || !sigv4_digits(s + 6, 2, &d) ||
        !sigv4_digits(s + 9, 2, &h) || !sigv4_digits(s + 11, 2, &mi) ||
        !sigv4_digits(s + 13, 2, &sec)) {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return false;
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h};
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *epoch_s = (int64_t)timegm(&tm);
    return true;
}

static void sigv4_format_amz_date(int64_t epoch_s, char out[SIGV4_AMZ_DATE_LEN + 1])
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

/* The request's date (from X-Amz-Date, or a Date header in ISO-8601 basic
 * or RFC 7231 format) into a->amz_date and a->date_s. */
static int
sigv4_read_date(struct sigv4_str v, bool http_date_ok, struct sigv4_auth *a, struct api_error *e)
{
    int64_t t = 0;
    bool iso = sigv4_parse_amz_date(v.p, v.n, &t);
    bool ok = iso;
    if (!ok && http_date_ok && v.n < 64) {
        char text[64];
        memcpy(text, v.p, v.n);
        text[v.n] = '\0';
        struct tm tm = {0};
        const char *end = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        ok = end != NULL && *end == '\0';
        t = ok ? (int64_t)timegm(&tm) : 0;
    }
    if (!ok) {
        api_error_set(e, API_EX_INCOMPLETE_SIGNATURE,
                      "Date must be in ISO-8601 'basic format'. Got '%.*s'. See "
                      "http://en.wikipedia.org/wiki/ISO_8601",
                      (int)v.n, v.p);
        return -EDDY_EMALFORMED;
    }
    a->date_s = t;
    if (iso) {
        memcpy(a->amz_date, v.p, v.n); /* signed as sent, even "...T235960Z" */
        a->amz_date[v.n] = '\0';
    } else {
        sigv4_format_amz_date(t, a->amz_date);
    }
    return 0;
}

static int sigv4_check_skew(const struct sigv4_auth *a, uint64_t now_ms, struct api_error *e)
{
    int64_t now_s = (int64_t)(now_ms / 1000);
    int64_t skew_s = SIGV4_CLOCK_SKEW_MS / 1000;
    char now_text[SIGV4_AMZ_DATE_LEN + 1];
    char bound_text[SIGV4_AMZ_DATE_LEN + 1];
    sigv4_format_amz_date(now_s, now_text);
    if (a->date_s < now_s - skew_s) {
        sigv4_format_amz_date(now_s - skew_s, bound_text);
        api_error_set(e, API_EX_INVALID_SIGNATURE,
                      "Signature expired: %s is now earlier than %s (%s - %d min.)", a->amz_date,
                      bound_text, now_text, (int)(skew_s / 60));
        return -EDDY_EEXPIRED;
    }
    if (a->date_s > now_s + skew_s) {
        sigv4_format_amz_date(now_s + skew_s, bound_text);
        api_error_set(e, API_EX_INVALID_SIGNATURE,
                      "Signature not yet current: %s is still later than %s (%s + %d min.)",
                      a->amz_date, bound_text, now_text, (int)(skew_s / 60));
        return -EDDY_EEXPIRED;
    }
    return 0;
}

/* ---- the two places credentials come from ---- */

static bool sigv4_is_sep(char c)
{
    return c == ',' || c == ' ';
}

/* Authorization: ALGORITHM Credential=..., SignedHeaders=..., Signature=...
 * Pairs split on ',' and ' ' alike (kinesalite's tests: "AWS4- Signature=b,
 * Credential=a" lacks only SignedHeaders). */
static int sigv4_parse_header(const struct sigv4_request *req,
                              struct sigv4_str authz,
                              struct sigv4_auth *a,
                              struct api_error *e)
{
    const char *p = authz.p;
    const char *end = authz.p + authz.n;
    const char *alg_end = p;
    while (alg_end < end && !sigv4_is_sep(*alg_end)) {
        alg_end++;
    }
    a->algorithm = (struct sigv4_str){p, (size_t)(alg_end - p)};
    bool has_cred = false;
    bool has_sig = false;
    bool has_signed = false;
    for (p = alg_end; p < end;) {
        if (sigv4_is_sep(*p)) {
            p++;
            continue;
        }
        const char *tok = p;
        while (p < end && !sigv4_is_sep(*p)) {
            p++;
        }
        size_t n = (size_t)(p - tok);
        const char *eq = memchr(tok, '=', n);
        if (eq == NULL) {
            api_error_set(e, API_EX_INCOMPLETE_SIGNATURE,
                          "'%.*s' not a valid key=value pair (missing equal-sign) in Authorization "
                          "header: '%.*s'.",
                          (int)n, tok, (int)authz.n, authz.p);
            return -EDDY_EMALFORMED;
        }
        struct sigv4_str key = {tok, (size_t)(eq - tok)};
        struct sigv4_str value = {eq + 1, n - key.n - 1};
        if (sigv4_str_is(key, "Credential")) {
            a->credential = value;
            has_cred = true;
        } else if (sigv4_str_is(key, "Signature")) {
            a->signature = value;
            has_sig = true;
        } else if (sigv4_str_is(key, "SignedHeaders")) {
            a->signed_headers = value;
            has_signed = true;
        }
    }
    struct sigv4_str date = {0};
    bool has_amz_date = sigv4_header(req, "X-Amz-Date", &date);
    bool has_date = has_amz_date || sigv4_header(req, "Date", &date);
    if (!has_cred || !has_sig || !has_signed || !has_date) {
        api_error_set(e, API_EX_INCOMPLETE_SIGNATURE, "%s%s%s%sAuthorization=%.*s",
                      has_cred ? "" : "Authorization header requires 'Credential' parameter. ",
                      has_sig ? "" : "Authorization header requires 'Signature' parameter. ",
                      has_signed ? "" : "Authorization header requires 'SignedHeaders' parameter. ",
                      has_date ? ""
                               : "Authorization header requires existence of either a "
                                 "'X-Amz-Date' or a 'Date' header. ",
                      (int)authz.n, authz.p);
        return -EDDY_EMALFORMED;
    }
    (void)sigv4_header(req, "X-Amz-Security-Token", &a->token); /* a->token.p NULL: none */
    return sigv4_read_date(date, !has_amz_date, a, e);
}

/* X-Amz-Algorithm=...&X-Amz-Credential=...&X-Amz-Date=...&X-Amz-SignedHeaders=
 * ...&X-Amz-Signature=...; an empty value counts as missing (kinesalite's
 * tests: "/?X-Amz-Algorithm" lacks all five). */
static int sigv4_parse_query(const struct sigv4_request *req,
                             struct sigv4_scratch *s,
                             struct sigv4_auth *a,
                             struct api_error *e)
{
    static const char *const names[] = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
                                        "X-Amz-SignedHeaders", "X-Amz-Date"};
    struct sigv4_str date = {0};
    struct sigv4_str *dest[] = {&a->algorithm, &a->credential, &a->signature, &a->signed_headers,
                                &date};
    char msg[512];
    size_t used = 0;
    msg[0] = '\0';
    for (size_t i = 0; i < EDDY_ARRAY_LEN(names); i++) {
        if (!sigv4_query_param(req->target, names[i], s, dest[i]) || dest[i]->n == 0) {
            int n = snprintf(msg + used, sizeof(msg) - used,
                             "AWS query-string parameters must include '%s'. ", names[i]);
            EDDY_ASSERT(n > 0 && (size_t)n < sizeof(msg) - used);
            used += (size_t)n;
        }
    }
    if (used > 0) {
        api_error_set(e, API_EX_INCOMPLETE_SIGNATURE, "%sRe-examine the query-string parameters.",
                      msg);
        return -EDDY_EMALFORMED;
    }
    if (!sigv4_query_param(req->target, "X-Amz-Security-Token", s, &a->token)) {
        (void)sigv4_header(req, "X-Amz-Security-Token", &a->token);
    }
    a->from_query = true;
    return sigv4_read_date(date, false, a, e);
}

/* ---- the credential and its scope ---- */

static bool sigv4_signs_host(struct sigv4_str signed_headers)
{
    const char *p = signed_headers.p;
    const char *end = p + signed_headers.n;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        size_t n = semi != NULL ? (size_t)(semi - p) : (size_t)(end - p);
        if ((n == 4 && strncasecmp(p, "host", 4) == 0) ||
            (n == 10 && strncasecmp(p, ":authority", 10) == 0)) {
            return true;
        }
        p += n + 1;
    }
    return false;
}

/* Splits the credential into its five parts (trailing '/' ignored). */
static int sigv4_split_credential(struct sigv4_auth *a, struct api_error *e)
{
    struct sigv4_str c = a->credential;
    while (c.n > 0 && c.p[c.n - 1] == '/') {
        c.n--;
    }
    struct sigv4_str *part[] = {&a->key_id, &a->scope_date, &a->region, &a->service,
                                &a->terminator};
    size_t k = 0;
    const char *p = c.p;
    const char *end = c.p + c.n;
    while (k < EDDY_ARRAY_LEN(part)) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash != NULL ? slash : end;
        *part[k++] = (struct sigv4_str){p, (size_t)(stop - p)};
        if (slash == NULL) {
            break;
        }
        p = slash + 1;
    }
    if (k != EDDY_ARRAY_LEN(part) || memchr(p, '/', (size_t)(end - p)) != NULL) {
        api_error_set(e, API_EX_INCOMPLETE_SIGNATURE,
                      "Credential must have exactly 5 slash-delimited elements, e.g. "
                      "keyid/date/region/service/term, got '%.*s'",
                      (int)a->credential.n, a->credential.p);
        return -EDDY_EMALFORMED;
    }
    return 0;
}

bool sigv4_region_is_valid(const struct sigv4_config *cfg, const char *region, size_t len)
{
    if (cfg->region != NULL && strlen(cfg->region) == len &&
        memcmp(cfg->region, region, len) == 0) {
        return true;
    }
    if (len == 0 || len > API_REGION_LEN_MAX || region[0] < 'a' || region[0] > 'z' ||
        region[len - 1] < '0' || region[len - 1] > '9') {
        return false;
    }
    bool dash = false;
    for (size_t i = 0; i < len; i++) {
        char ch = region[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
        if (!ok || (ch == '-' && region[i - 1] == '-')) {
            return false;
        }
        dash = dash || ch == '-';
    }
    return dash;
}

/* Every mismatch of the scope, in one message as AWS gives them. */
static int
sigv4_check_scope(const struct sigv4_config *cfg, const struct sigv4_auth *a, struct api_error *e)
{
    struct buf m;
    buf_init(&m, API_MESSAGE_BYTES_MAX);
    if (!sigv4_region_is_valid(cfg, a->region.p, a->region.n)) {
        (void)buf_printf(&m, "Credential should be scoped to a valid region, not '%.*s'. ",
                         (int)a->region.n, a->region.p);
    }
    if (!sigv4_str_is(a->service, cfg->service)) {
        (void)buf_printf(&m, "Credential should be scoped to correct service: '%s'. ",
                         cfg->service);
    }
    if (!sigv4_str_is(a->terminator, SIGV4_TERMINATOR)) {
        (void)buf_printf(&m,
                         "Credential should be scoped with a valid terminator: '%s', not '%.*s'. ",
                         SIGV4_TERMINATOR, (int)a->terminator.n, a->terminator.p);
    }
    if (a->scope_date.n != SIGV4_SCOPE_DATE_LEN ||
        memcmp(a->scope_date.p, a->amz_date, SIGV4_SCOPE_DATE_LEN) != 0) {
        (void)buf_printf(&m,
                         "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                         "of date from HTTP: '%.*s' != '%.8s', from '%s'.",
                         (int)a->scope_date.n, a->scope_date.p, a->amz_date, a->amz_date);
    }
    int rv = 0;
    if (m.len > 0) {
        api_error_set(e, API_EX_INVALID_SIGNATURE, "%.*s", (int)m.len, (const char *)m.data);
        rv = -EDDY_EINVAL;
    }
    buf_free(&m);
    return rv;
}

/* Steps 3 (skew) to 6 of the file comment. */
static int sigv4_check_shape(const struct sigv4_config *cfg,
                             uint64_t now_ms,
                             struct sigv4_auth *a,
                             struct api_error *e)
{
    if (cfg->mode == SIGV4_MODE_VERIFY) {
        int rv = sigv4_check_skew(a, now_ms, e);
        if (rv != 0) {
            return rv;
        }
    }
    if (!sigv4_signs_host(a->signed_headers)) {
        api_error_set(e, API_EX_INVALID_SIGNATURE,
                      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
        return -EDDY_EINVAL;
    }
    if (!sigv4_str_is(a->algorithm, SIGV4_ALGORITHM)) {
        api_error_set(e, API_EX_INCOMPLETE_SIGNATURE,
                      "Unsupported AWS 'algorithm': '%.*s' (only %s for now). ",
                      (int)a->algorithm.n, a->algorithm.p, SIGV4_ALGORITHM);
        return -EDDY_EMALFORMED;
    }
    int rv = sigv4_split_credential(a, e);
    if (rv != 0) {
        return rv;
    }
    return sigv4_check_scope(cfg, a, e);
}

/* ---- the signature ---- */

static int sigv4_check_signature(struct sigv4_key *key,
                                 const struct sigv4_request *req,
                                 const struct sigv4_auth *a,
                                 struct api_error *e)
{
    struct buf canonical;
    struct buf sts;
    buf_init(&canonical, SIGV4_CANONICAL_BYTES_MAX);
    buf_init(&sts, 256 + 3 * API_REGION_LEN_MAX);
    int built = sigv4_canonical_request(req, a, &canonical);
    if (built == 0) {
        built = sigv4_string_to_sign(a, canonical.data, canonical.len, &sts);
    }
    uint8_t k[SIGV4_HASH_BYTES];
    uint8_t mac[SIGV4_HASH_BYTES];
    char hex[SIGV4_HEX_LEN + 1];
    sigv4_key_signing_key(key, a->scope_date, a->region, a->service, k);
    bool match = false;
    if (built == 0) {
        sigv4_hmac(k, sizeof(k), sts.data, sts.len, mac);
        sigv4_hex(mac, sizeof(mac), hex);
        match = a->signature.n == SIGV4_HEX_LEN &&
                CRYPTO_memcmp(hex, a->signature.p, SIGV4_HEX_LEN) == 0;
    }
    OPENSSL_cleanse(k, sizeof(k));
    int rv = 0;
    if (!match && built == 0) {
        api_error_set(e, API_EX_INVALID_SIGNATURE,
                      "%s\n\nThe Canonical String for this request should have been\n'%.*s'\n\n"
                      "The String-to-Sign should have been\n'%.*s'\n",
                      SIGV4_MSG_BAD_SIGNATURE, (int)canonical.len, (const char *)canonical.data,
                      (int)sts.len, (const char *)sts.data);
        rv = -EDDY_EINVAL;
    } else if (!match) {
        /* Too big to be a request anyone signed (sigv4.h). */
        api_error_set(e, API_EX_INVALID_SIGNATURE, "%s", SIGV4_MSG_BAD_SIGNATURE);
        rv = -EDDY_EINVAL;
    }
    buf_free(&sts);
    buf_free(&canonical);
    return rv;
}

static bool sigv4_token_ok(const struct sigv4_key *key, struct sigv4_str token)
{
    if (key->token == NULL) {
        return token.p == NULL;
    }
    return token.p != NULL && token.n == key->token_len &&
           CRYPTO_memcmp(token.p, key->token, token.n) == 0;
}

/* Step 7 of the file comment. */
static int sigv4_verify(const struct sigv4_request *req,
                        const struct sigv4_auth *a,
                        struct sigv4_key *key,
                        struct api_error *e)
{
    if (key == NULL) {
        api_error_set(e, API_EX_UNRECOGNIZED_CLIENT, SIGV4_MSG_UNKNOWN_KEY);
        return -EDDY_ENOTFOUND;
    }
    int rv = sigv4_check_signature(key, req, a, e);
    if (rv != 0) {
        return rv;
    }
    if (!sigv4_token_ok(key, a->token)) {
        api_error_set(e, API_EX_UNRECOGNIZED_CLIENT, SIGV4_MSG_BAD_TOKEN);
        return -EDDY_ENOTFOUND;
    }
    return 0;
}

int sigv4_check(const struct sigv4_config *cfg,
                const struct sigv4_request *req,
                uint64_t now_ms,
                struct sigv4_identity *id,
                struct api_error *e)
{
    EDDY_ASSERT(cfg != NULL && cfg->service != NULL);
    EDDY_ASSERT(req != NULL && req->target != NULL && req->method != NULL);
    memset(id, 0, sizeof(*id));
    struct sigv4_str authz = {0};
    struct sigv4_str alg = {0};
    bool has_header = sigv4_header(req, "Authorization", &authz);
    bool has_query = sigv4_query_param(req->target, "X-Amz-Algorithm", NULL, &alg);
    if (has_header && has_query) {
        api_error_set(e, API_EX_INVALID_SIGNATURE,
                      "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' "
                      "as HTTP header.");
        return -EDDY_EINVAL;
    }
    if (!has_header && !has_query) {
        api_error_set(e, API_EX_MISSING_AUTH_TOKEN, "Missing Authentication Token");
        return -EDDY_EINVAL;
    }
    struct sigv4_auth a = {0};
    struct sigv4_scratch scratch = {0};
    int rv = 0;
    if (has_header) {
        rv = sigv4_parse_header(req, authz, &a, e);
    } else {
        scratch.cap = strlen(req->target) + 1;
        scratch.p = eddy_xmalloc(scratch.cap);
        rv = sigv4_parse_query(req, &scratch, &a, e);
    }
    if (rv == 0) {
        rv = sigv4_check_shape(cfg, now_ms, &a, e);
    }
    struct sigv4_key *key = NULL;
    if (rv == 0) {
        key = sigv4_keys_find(cfg->keys, a.key_id.p, a.key_id.n);
        if (cfg->mode == SIGV4_MODE_VERIFY) {
            rv = sigv4_verify(req, &a, key, e);
        }
    }
    if (rv == 0) {
        if (!sigv4_str_is(a.region, cfg->region != NULL ? cfg->region : "")) {
            memcpy(id->region, a.region.p, a.region.n); /* valid: at most API_REGION_LEN_MAX */
            id->region[a.region.n] = '\0';
        }
        if (key != NULL) {
            memcpy(id->account, key->account, sizeof(id->account));
        }
    }
    eddy_free(scratch.p);
    return rv;
}

int sigv4_check_http(const struct sigv4_config *cfg,
                     const struct http_request *http,
                     uint64_t now_ms,
                     struct sigv4_identity *id,
                     struct api_error *e)
{
    /* The transports bound a request's fields (HTTP/2 adds a host). */
    struct http_header headers[GW_HTTP_HEADERS_COUNT_MAX + 1];
    size_t n = http_request_header_count(http);
    if (n > EDDY_ARRAY_LEN(headers)) {
        n = EDDY_ARRAY_LEN(headers);
    }
    for (size_t i = 0; i < n; i++) {
        headers[i] = http_request_header_at(http, i);
    }
    const char *target = http_request_target(http);
    struct sigv4_request req = {
        .method = http_request_method(http),
        .target = target != NULL ? target : "/",
        .headers = headers,
        .header_count = n,
    };
    if (cfg->mode == SIGV4_MODE_VERIFY) {
        req.body = http_request_body(http, &req.body_len);
    }
    return sigv4_check(cfg, &req, now_ms, id, e);
}
