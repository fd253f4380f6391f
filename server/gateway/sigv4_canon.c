/*
 * The canonical request of SigV4 as a server rebuilds it from what arrived
 * (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-
 * request.html), checked against AWS's test suite (aws-c-auth
 * tests/aws-signing-test-suite/v4) and against requests signed by botocore
 * and by the JS SDK over HTTP/2:
 *
 *   METHOD \n PATH \n QUERY \n (name:value \n)* \n SIGNED_HEADERS \n PAYLOAD_HASH
 *
 * PATH is the request's path as sent, its dot segments and empty segments
 * removed (botocore's remove_dot_segments: AWS "normalizes" paths of every
 * service but S3), then percent-encoded once more, '/' kept: what the SDKs
 * do to a path they already encoded ("double encoding" for non-S3).
 * QUERY: each name and value decoded, then encoded with only the unreserved
 * characters A-Z a-z 0-9 - _ . ~ kept, sorted by name then value, joined
 * with '&'; a presigned request's X-Amz-Signature is left out.
 * Headers: those SignedHeaders lists, in its order, names lowercased, values
 * trimmed with inner runs of blanks made one space, repeated fields joined
 * with ','. ":authority" (the JS SDK signs it over HTTP/2) is the request's
 * authority, which the HTTP/2 transport hands over as host.
 * PAYLOAD_HASH is the SHA-256 of the body: services other than S3 hash the
 * body themselves and take no UNSIGNED-PAYLOAD.
 */
#include "sigv4_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest query parameter name looked up ("X-Amz-SignedHeaders"). */
#define SIGV4_QUERY_NAME_LEN_MAX 32

bool sigv4_header(const struct sigv4_request *req, const char *name, struct sigv4_str *value)
{
    for (size_t i = 0; i < req->header_count; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            value->p = req->headers[i].value;
            value->n = strlen(req->headers[i].value);
            return true;
        }
    }
    return false;
}

static int sigv4_hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes in (n bytes) into out (room for n); '+' stays '+' and a
 * '%' not followed by two hex digits stays literal. Returns the length. */
static size_t sigv4_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = in[i] == '%' && i + 2 < n ? sigv4_hex_value(in[i + 1]) : -1;
        int lo = hi >= 0 ? sigv4_hex_value(in[i + 2]) : -1;
        if (lo >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

bool sigv4_query_param(const char *target,
                       const char *name,
                       struct sigv4_scratch *s,
                       struct sigv4_str *value)
{
    const char *q = strchr(target, '?');
    if (q == NULL) {
        return false;
    }
    size_t name_len = strlen(name);
    EDDY_ASSERT(name_len <= SIGV4_QUERY_NAME_LEN_MAX);
    const char *p = q + 1;
    while (*p != '\0') {
        size_t seg = strcspn(p, "&");
        const char *eq = memchr(p, '=', seg);
        size_t key_n = eq != NULL ? (size_t)(eq - p) : seg;
        /* Names are compared decoded, as the values are; a name of
         * name_len characters is at most three times that long encoded. */
        char key[3 * SIGV4_QUERY_NAME_LEN_MAX];
        if (key_n <= 3 * name_len && sigv4_decode(p, key_n, key) == name_len &&
            memcmp(key, name, name_len) == 0) {
            const char *v = eq != NULL ? eq + 1 : p + seg;
            size_t vn = eq != NULL ? seg - key_n - 1 : 0;
            if (s == NULL) {
                value->p = v; /* presence only: not decoded */
                value->n = vn;
                return true;
            }
            EDDY_ASSERT(s->len + vn <= s->cap);
            value->p = s->p + s->len;
            value->n = sigv4_decode(v, vn, s->p + s->len);
            s->len += value->n;
            return true;
        }
        p += seg;
        if (*p == '&') {
            p++;
        }
    }
    return false;
}

static bool sigv4_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Appends in percent-encoded (unreserved kept). */
static int sigv4_encode(struct buf *out, const char *in, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    int rv = buf_reserve(out, 3 * n);
    if (rv != 0) {
        return rv;
    }
    char *o = (char *)out->data + out->len;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (sigv4_is_unreserved(c)) {
            o[k++] = (char)c;
        } else {
            o[k++] = '%';
            o[k++] = digits[c >> 4];
            o[k++] = digits[c & 0xF];
        }
    }
    out->len += k;
    return 0;
}

/* The canonical path of path (n bytes, up to the query). */
static int sigv4_canonical_path(struct buf *out, const char *path, size_t n)
{
    size_t base = out->len;
    size_t segments = 0;
    int rv = 0;
    size_t i = 0;
    while (i < n && rv == 0) {
        size_t seg = 0;
        while (i + seg < n && path[i + seg] != '/') {
            seg++;
        }
        const char *s = path + i;
        i += seg + 1;
        if (seg == 0 || (seg == 1 && s[0] == '.')) {
            continue;
        }
        if (seg == 2 && s[0] == '.' && s[1] == '.') {
            if (segments > 0) {
                /* Back to the '/' that started the last segment (an encoded
                 * segment holds no '/'). */
                while (out->len > base && out->data[out->len - 1] != '/') {
                    out->len--;
                }
                out->len--;
                segments--;
            }
            continue;
        }
        rv = buf_append(out, "/", 1);
        if (rv == 0) {
            rv = sigv4_encode(out, s, seg);
        }
        segments++;
    }
    if (rv != 0) {
        return rv;
    }
    bool leading = n > 0 && path[0] == '/';
    if (segments == 0) {
        return buf_append(out, "/", 1); /* "" and "/./" alike */
    }
    if (!leading) {
        memmove(out->data + base, out->data + base + 1, out->len - base - 1);
        out->len--;
    }
    return n > 0 && path[n - 1] == '/' ? buf_append(out, "/", 1) : 0;
}

struct sigv4_param {
    const char *key; /* encoded, in the scratch */
    size_t key_n;
    const char *value;
    size_t value_n;
};

static int sigv4_param_cmp(const void *a, const void *b)
{
    const struct sigv4_param *x = a;
    const struct sigv4_param *y = b;
    size_t n = x->key_n < y->key_n ? x->key_n : y->key_n;
    int c = memcmp(x->key, y->key, n);
    if (c != 0 || x->key_n != y->key_n) {
        return c != 0 ? c : (x->key_n < y->key_n ? -1 : 1);
    }
    n = x->value_n < y->value_n ? x->value_n : y->value_n;
    c = memcmp(x->value, y->value, n);
    if (c != 0 || x->value_n == y->value_n) {
        return c;
    }
    return x->value_n < y->value_n ? -1 : 1;
}

/* Decodes then encodes in (n bytes) into enc; returns where it starts. */
static const char *
sigv4_reencode(struct buf *enc, char *tmp, const char *in, size_t n, size_t *out_n)
{
    size_t d = sigv4_decode(in, n, tmp);
    size_t start = enc->len;
    int rv = sigv4_encode(enc, tmp, d);
    EDDY_ASSERT(rv == 0); /* enc was sized for three times the query */
    *out_n = enc->len - start;
    return (const char *)enc->data + start;
}

/* The canonical query string of query (n bytes after '?'). */
static int sigv4_canonical_query(struct buf *out, const char *query, size_t n, bool presigned)
{
    size_t count = 0;
    for (size_t i = 0; i <= n; i++) {
        if ((i == n || query[i] == '&') && i > 0 && query[i - 1] != '&') {
            count++;
        }
    }
    if (count == 0) {
        return 0;
    }
    struct sigv4_param *params = eddy_xcalloc(count, sizeof(*params));
    struct buf enc;
    buf_init(&enc, 3 * n + 1);
    int rv = buf_reserve(&enc, 3 * n + 1); /* never moves after this */
    EDDY_ASSERT(rv == 0);
    char *tmp = eddy_xmalloc(n + 1);
    size_t k = 0;
    const char *p = query;
    const char *end = query + n;
    while (p < end) {
        size_t seg = 0;
        while (p + seg < end && p[seg] != '&') {
            seg++;
        }
        if (seg > 0) {
            const char *eq = memchr(p, '=', seg);
            size_t key_n = eq != NULL ? (size_t)(eq - p) : seg;
            struct sigv4_param *pm = &params[k];
            pm->key = sigv4_reencode(&enc, tmp, p, key_n, &pm->key_n);
            const char *v = eq != NULL ? eq + 1 : p + seg;
            pm->value =
                sigv4_reencode(&enc, tmp, v, eq != NULL ? seg - key_n - 1 : 0, &pm->value_n);
            bool is_sig = pm->key_n == 15 && memcmp(pm->key, "X-Amz-Signature", 15) == 0;
            if (!(presigned && is_sig)) {
                k++;
            }
        }
        p += seg + 1;
    }
    qsort(params, k, sizeof(*params), sigv4_param_cmp);
    rv = 0;
    for (size_t i = 0; i < k && rv == 0; i++) {
        rv = buf_append(out, i > 0 ? "&" : "", i > 0 ? 1 : 0);
        if (rv == 0) {
            rv = buf_append(out, params[i].key, params[i].key_n);
        }
        if (rv == 0) {
            rv = buf_append(out, "=", 1);
        }
        if (rv == 0) {
            rv = buf_append(out, params[i].value, params[i].value_n);
        }
    }
    eddy_free(tmp);
    buf_free(&enc);
    eddy_free(params);
    return rv;
}

static bool sigv4_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Appends value trimmed, its inner runs of blanks made one space. */
static int sigv4_append_value(struct buf *out, const char *v)
{
    size_t n = strlen(v);
    int rv = buf_reserve(out, n);
    if (rv != 0) {
        return rv;
    }
    char *o = (char *)out->data + out->len;
    size_t k = 0;
    bool blank = false;
    for (size_t i = 0; i < n; i++) {
        if (sigv4_is_blank(v[i])) {
            blank = k > 0;
            continue;
        }
        if (blank) {
            o[k++] = ' ';
            blank = false;
        }
        o[k++] = v[i];
    }
    out->len += k;
    return 0;
}

static int sigv4_append_lower(struct buf *out, const char *s, size_t n)
{
    int rv = buf_reserve(out, n);
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        out->data[out->len++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return 0;
}

/* "name:value\n" of one signed header. */
static int
sigv4_canonical_header(struct buf *out, const struct sigv4_request *req, const char *name, size_t n)
{
    int rv = sigv4_append_lower(out, name, n);
    if (rv == 0) {
        rv = buf_append(out, ":", 1);
    }
    if (n == 10 && strncasecmp(name, ":authority", 10) == 0) {
        name = "host";
        n = 4;
    }
    bool first = true;
    for (size_t i = 0; i < req->header_count && rv == 0; i++) {
        const char *h = req->headers[i].name;
        if (strlen(h) != n || strncasecmp(h, name, n) != 0) {
            continue;
        }
        if (!first) {
            rv = buf_append(out, ",", 1);
        }
        first = false;
        if (rv == 0) {
            rv = sigv4_append_value(out, req->headers[i].value);
        }
    }
    return rv == 0 ? buf_append(out, "\n", 1) : rv;
}

/* The headers block and the signed-headers line. Each name costs a scan of
 * the (at most GW_HTTP_HEADERS_COUNT_MAX) headers, and the names fit the
 * header bytes: bounded. */
static int sigv4_canonical_headers(struct buf *out,
                                   const struct sigv4_request *req,
                                   struct sigv4_str signed_headers)
{
    int rv = 0;
    const char *p = signed_headers.p;
    const char *end = p + signed_headers.n;
    while (p < end && rv == 0) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        size_t n = semi != NULL ? (size_t)(semi - p) : (size_t)(end - p);
        if (n > 0) {
            rv = sigv4_canonical_header(out, req, p, n);
        }
        p += n + 1;
    }
    if (rv == 0) {
        rv = buf_append(out, "\n", 1);
    }
    if (rv == 0) {
        rv = sigv4_append_lower(out, signed_headers.p, signed_headers.n);
    }
    return rv;
}

static void sigv4_sha256_hex(const void *data, size_t n, char out[SIGV4_HEX_LEN + 1])
{
    uint8_t md[SIGV4_HASH_BYTES];
    unsigned int md_len = 0;
    int ok = EVP_Digest(data, n, md, &md_len, EVP_sha256(), NULL);
    EDDY_ASSERT(ok == 1);
    EDDY_ASSERT(md_len == SIGV4_HASH_BYTES);
    sigv4_hex(md, sizeof(md), out);
}

int sigv4_canonical_request(const struct sigv4_request *req,
                            const struct sigv4_auth *a,
                            struct buf *out)
{
    const char *target = req->target;
    size_t path_n = strcspn(target, "?");
    int rv = buf_append_str(out, req->method);
    if (rv == 0) {
        rv = buf_append(out, "\n", 1);
    }
    if (rv == 0) {
        rv = sigv4_canonical_path(out, target, path_n);
    }
    if (rv == 0) {
        rv = buf_append(out, "\n", 1);
    }
    if (rv == 0 && target[path_n] == '?') {
        const char *q = target + path_n + 1;
        rv = sigv4_canonical_query(out, q, strlen(q), a->from_query);
    }
    if (rv == 0) {
        rv = buf_append(out, "\n", 1);
    }
    if (rv == 0) {
        rv = sigv4_canonical_headers(out, req, a->signed_headers);
    }
    if (rv == 0) {
        char hash[SIGV4_HEX_LEN + 1];
        sigv4_sha256_hex(req->body != NULL ? (const void *)req->body : "", req->body_len, hash);
        rv = buf_printf(out, "\n%s", hash);
    }
    return rv;
}

int sigv4_string_to_sign(const struct sigv4_auth *a,
                         const uint8_t *canonical,
                         size_t canonical_len,
                         struct buf *out)
{
    char hash[SIGV4_HEX_LEN + 1];
    sigv4_sha256_hex(canonical, canonical_len, hash);
    return buf_printf(out, "%s\n%s\n%.*s/%.*s/%.*s/%.*s\n%s", SIGV4_ALGORITHM, a->amz_date,
                      (int)a->scope_date.n, a->scope_date.p, (int)a->region.n, a->region.p,
                      (int)a->service.n, a->service.p, (int)a->terminator.n, a->terminator.p, hash);
}
