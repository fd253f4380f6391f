/*
 * CBOR request decoding into a cJSON document, the CBOR head encoder, and the
 * transcoder from json_out's JSON to CBOR (see cbor.h). Nothing here keeps
 * state between calls: a decode owns its document until it hands it over.
 */
#include "cbor.h"

#include "api.h"
#include "api_limits.h"
#include "json.h"

#include "eddy/assert.h"
#include "eddy/base64.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define CBOR_LIST_HERE "Start of list found where not expected"

/* The bytes being read and where. */
struct cbor_in {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

/* One head: major type, additional information and its argument. */
struct cbor_item_head {
    enum cbor_major major;
    unsigned ai; /* 31: indefinite length (or break, for major 7) */
    uint64_t arg;
};

/* An array or map being filled. */
struct cbor_frame {
    cJSON *node;     /* borrowed: the document owns it */
    uint64_t left;   /* items (array) or members (map) still due; definite only */
    bool indefinite; /* ends at a break instead */
    bool is_map;
    char *key; /* a map's member name whose value comes next (owned), else NULL */
};

struct cbor_dec {
    struct cbor_in in;
    size_t values; /* items created, keys included: at most API_JSON_VALUES_MAX */
    unsigned depth;
    struct cbor_frame stack[GW_JSON_DEPTH_MAX];
    cJSON *root;
    bool root_is_array; /* the body was an array, not a map */
};

/* ---- heads ---- */

size_t cbor_head(uint8_t out[CBOR_HEAD_BYTES_MAX], enum cbor_major major, uint64_t v)
{
    uint8_t mt = (uint8_t)(major << 5);
    if (v < 24) {
        out[0] = (uint8_t)(mt | v);
        return 1;
    }
    size_t n;
    uint8_t ai;
    if (v <= UINT8_MAX) {
        n = 1;
        ai = 24;
    } else if (v <= UINT16_MAX) {
        n = 2;
        ai = 25;
    } else if (v <= UINT32_MAX) {
        n = 4;
        ai = 26;
    } else {
        n = 8;
        ai = 27;
    }
    out[0] = (uint8_t)(mt | ai);
    for (size_t i = 0; i < n; i++) {
        out[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
    return 1 + n;
}

/* Reads one head. Fails on truncation and on the reserved ai 28..30. */
static int cbor_read_head(struct cbor_in *in, struct cbor_item_head *h)
{
    if (in->pos >= in->len) {
        return -EDDY_EMALFORMED;
    }
    uint8_t ib = in->p[in->pos++];
    h->major = (enum cbor_major)(ib >> 5);
    h->ai = ib & 31u;
    h->arg = h->ai;
    if (h->ai < 24) {
        return 0;
    }
    if (h->ai == 31) {
        h->arg = 0;
        return 0;
    }
    if (h->ai > 27) {
        return -EDDY_EMALFORMED;
    }
    size_t n = (size_t)1 << (h->ai - 24);
    if (in->len - in->pos < n) {
        return -EDDY_EMALFORMED;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | in->p[in->pos + i];
    }
    in->pos += n;
    h->arg = v;
    return 0;
}

/* ---- strings ---- */

/* Whether s is valid UTF-8 without NUL (NUL would cut the C strings the
 * readers hand out: "a\0b" must not read as "a"). */
static bool cbor_text_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == 0) {
            return false;
        }
        size_t step = json_utf8_seq(s, n, i);
        if (step == 0) {
            return false;
        }
        i += step;
    }
    return true;
}

/* Total length of the chunks of an indefinite-length string whose head was
 * read, leaving in after its break. Chunks must be definite strings of the
 * same major type (RFC 8949 3.2.3). */
static int cbor_chunks_len(struct cbor_in *in, enum cbor_major major, size_t *total)
{
    *total = 0;
    for (;;) {
        if (in->pos >= in->len) {
            return -EDDY_EMALFORMED;
        }
        if (in->p[in->pos] == CBOR_BREAK) {
            in->pos++;
            return 0;
        }
        struct cbor_item_head h;
        int rv = cbor_read_head(in, &h);
        if (rv != 0) {
            return rv;
        }
        if (h.major != major || h.ai == 31 || h.arg > in->len - in->pos) {
            return -EDDY_EMALFORMED;
        }
        in->pos += (size_t)h.arg;
        *total += (size_t)h.arg;
    }
}

/* Reads the content of a byte or text string whose head h was read into a
 * new NUL-terminated buffer from cJSON_malloc (the document frees it). */
static int
cbor_read_string(struct cbor_in *in, const struct cbor_item_head *h, char **out, size_t *out_len)
{
    *out = NULL;
    size_t total;
    struct cbor_in scan = *in;
    if (h->ai == 31) {
        int rv = cbor_chunks_len(&scan, h->major, &total);
        if (rv != 0) {
            return rv;
        }
    } else {
        if (h->arg > in->len - in->pos) {
            return -EDDY_EMALFORMED;
        }
        total = (size_t)h->arg;
        scan.pos += total;
    }
    /* total <= in->len: the bytes are all there, so the allocation is bounded. */
    char *s = cJSON_malloc(total + 1);
    EDDY_ASSERT(s != NULL); /* daemons abort on out-of-memory */
    if (h->ai == 31) {
        size_t at = 0;
        while (in->p[in->pos] != CBOR_BREAK) {
            struct cbor_item_head c;
            int rv = cbor_read_head(in, &c);
            EDDY_ASSERT(rv == 0); /* checked by the scan */
            memcpy(s + at, in->p + in->pos, (size_t)c.arg);
            in->pos += (size_t)c.arg;
            at += (size_t)c.arg;
        }
        in->pos++;
        EDDY_ASSERT(at == total);
    } else {
        memcpy(s, in->p + in->pos, total);
    }
    in->pos = scan.pos;
    s[total] = '\0';
    if (h->major == CBOR_TEXT && !cbor_text_ok((const uint8_t *)s, total)) {
        cJSON_free(s);
        return -EDDY_EMALFORMED;
    }
    *out = s;
    *out_len = total;
    return 0;
}

/* ---- numbers ---- */

/* IEEE 754 half precision (RFC 8949 appendix D). */
static double cbor_half(uint16_t h)
{
    int exp = (h >> 10) & 0x1F;
    int mant = h & 0x3FF;
    double v;
    if (exp == 0) {
        v = ldexp(mant, -24);
    } else if (exp != 31) {
        v = ldexp(mant + 1024, exp - 25);
    } else {
        v = mant == 0 ? INFINITY : NAN;
    }
    return (h & 0x8000) ? -v : v;
}

static double cbor_float(const struct cbor_item_head *h)
{
    if (h->ai == 25) {
        return cbor_half((uint16_t)h->arg);
    }
    if (h->ai == 26) {
        uint32_t bits = (uint32_t)h->arg;
        float f;
        memcpy(&f, &bits, sizeof(f));
        return f;
    }
    double d;
    memcpy(&d, &h->arg, sizeof(d));
    return d;
}

static cJSON *cbor_number(double v)
{
    cJSON *n = cJSON_CreateNumber(v);
    EDDY_ASSERT(n != NULL);
    /* Every CBOR number is milliseconds where a timestamp is read. */
    n->type |= JSON_ITEM_MS;
    return n;
}

/* ---- the document ---- */

/* The item for a head that is not a container, tag or break. */
static int cbor_scalar(struct cbor_dec *d, const struct cbor_item_head *h, cJSON **out)
{
    *out = NULL;
    switch (h->major) {
    case CBOR_UINT:
        if (h->ai == 31) {
            return -EDDY_EMALFORMED;
        }
        *out = cbor_number((double)h->arg);
        return 0;
    case CBOR_NEGINT:
        if (h->ai == 31) {
            return -EDDY_EMALFORMED;
        }
        *out = cbor_number(-1.0 - (double)h->arg);
        return 0;
    case CBOR_BYTES:
    case CBOR_TEXT: {
        char *s;
        size_t n;
        int rv = cbor_read_string(&d->in, h, &s, &n);
        if (rv != 0) {
            return rv;
        }
        cJSON *item = cJSON_CreateNull();
        EDDY_ASSERT(item != NULL);
        item->type = cJSON_String;
        item->valuestring = s;
        if (h->major == CBOR_BYTES) {
            item->type |= JSON_ITEM_BYTES;
            item->valuedouble = (double)n;
        }
        *out = item;
        return 0;
    }
    case CBOR_SIMPLE:
        break;
    default:
        EDDY_ASSERT(0);
    }
    switch (h->ai) {
    case 20:
    case 21:
        *out = cJSON_CreateBool(h->ai == 21);
        break;
    case 22:
    case 23: /* undefined: absent, like null */
        *out = cJSON_CreateNull();
        break;
    case 25:
    case 26:
    case 27:
        *out = cbor_number(cbor_float(h));
        return 0;
    default: /* unassigned simple values */
        return -EDDY_EMALFORMED;
    }
    EDDY_ASSERT(*out != NULL);
    return 0;
}

/* Puts item (owned) into the container on top, or makes it the root. */
static int cbor_attach(struct cbor_dec *d, cJSON *item)
{
    if (d->depth == 0) {
        EDDY_ASSERT(d->root == NULL);
        if (!cJSON_IsObject(item)) {
            d->root_is_array = cJSON_IsArray(item);
            cJSON_Delete(item);
            return -EDDY_EMALFORMED;
        }
        d->root = item;
        return 0;
    }
    struct cbor_frame *f = &d->stack[d->depth - 1];
    if (f->is_map) {
        EDDY_ASSERT(f->key != NULL);
        item->string = f->key; /* the document frees it with the item */
        f->key = NULL;
    }
    cJSON_AddItemToArray(f->node, item);
    if (!f->indefinite) {
        EDDY_ASSERT(f->left > 0);
        f->left--;
    }
    return 0;
}

/* Opens an array or map whose head h was read (the node is attached). */
static int cbor_open(struct cbor_dec *d, const struct cbor_item_head *h)
{
    bool is_map = h->major == CBOR_MAP;
    if (d->depth == GW_JSON_DEPTH_MAX) {
        return -EDDY_EMALFORMED;
    }
    /* Each item takes a byte at least: a longer count is a lie. */
    size_t left_bytes = d->in.len - d->in.pos;
    if (h->ai != 31 && (h->arg > left_bytes || (is_map && h->arg > left_bytes / 2))) {
        return -EDDY_EMALFORMED;
    }
    cJSON *node = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
    EDDY_ASSERT(node != NULL);
    int rv = cbor_attach(d, node);
    if (rv != 0) {
        return rv;
    }
    d->stack[d->depth++] = (struct cbor_frame){
        .node = node,
        .left = h->arg,
        .indefinite = h->ai == 31,
        .is_map = is_map,
        .key = NULL,
    };
    return 0;
}

static int cbor_count_value(struct cbor_dec *d)
{
    if (++d->values > API_JSON_VALUES_MAX) {
        return -EDDY_ETOOBIG;
    }
    return 0;
}

/* Reads a member name where a map expects one. */
static int cbor_read_key(struct cbor_dec *d, const struct cbor_item_head *h)
{
    struct cbor_frame *f = &d->stack[d->depth - 1];
    if (h->major != CBOR_TEXT) {
        return -EDDY_EMALFORMED; /* AWS members are named by text */
    }
    size_t n;
    int rv = cbor_read_string(&d->in, h, &f->key, &n);
    if (rv != 0) {
        return rv;
    }
    return cbor_count_value(d);
}

/* Closes the containers that are complete: definite ones with nothing left. */
static void cbor_pop_complete(struct cbor_dec *d)
{
    while (d->depth > 0) {
        const struct cbor_frame *f = &d->stack[d->depth - 1];
        if (f->indefinite || f->left > 0 || f->key != NULL) {
            return;
        }
        d->depth--;
    }
}

/* One step: reads the next head and what it starts. *done once the root
 * is complete. */
static int cbor_step(struct cbor_dec *d, bool *tagged)
{
    struct cbor_item_head h;
    int rv = cbor_read_head(&d->in, &h);
    if (rv != 0) {
        return rv;
    }
    struct cbor_frame *f = d->depth > 0 ? &d->stack[d->depth - 1] : NULL;
    if (h.major == CBOR_SIMPLE && h.ai == 31) {
        /* A break ends an indefinite container, never a member half-way. */
        if (*tagged || f == NULL || !f->indefinite || f->key != NULL) {
            return -EDDY_EMALFORMED;
        }
        d->depth--;
        return 0;
    }
    if (f != NULL && f->is_map && f->key == NULL) {
        return cbor_read_key(d, &h);
    }
    if (h.major == CBOR_TAG) {
        /* The SDK tags timestamps (1); numbers are milliseconds anyway. */
        if (h.ai == 31) {
            return -EDDY_EMALFORMED;
        }
        *tagged = true;
        return 0;
    }
    *tagged = false;
    rv = cbor_count_value(d);
    if (rv != 0) {
        return rv;
    }
    if (h.major == CBOR_ARRAY || h.major == CBOR_MAP) {
        return cbor_open(d, &h);
    }
    cJSON *item;
    rv = cbor_scalar(d, &h, &item);
    if (rv != 0) {
        return rv;
    }
    return cbor_attach(d, item);
}

static void cbor_dec_free(struct cbor_dec *d)
{
    for (unsigned i = 0; i < d->depth; i++) {
        cJSON_free(d->stack[i].key);
        d->stack[i].key = NULL;
    }
    cJSON_Delete(d->root);
    d->root = NULL;
}

int cbor_parse_request(const uint8_t *body, size_t len, cJSON **doc, struct api_error *e)
{
    *doc = NULL;
    struct cbor_dec d = {.in = {body, len, 0}};
    bool tagged = false;
    int rv = 0;
    /* Every step consumes a byte at least, so len + 1 steps bound the loop. */
    for (size_t steps = 0; steps <= len; steps++) {
        rv = cbor_step(&d, &tagged);
        if (rv != 0) {
            break;
        }
        cbor_pop_complete(&d);
        if (d.depth == 0 && d.root != NULL) {
            break;
        }
    }
    if (rv == 0 && (d.root == NULL || d.depth != 0 || d.in.pos != len)) {
        rv = -EDDY_EMALFORMED; /* truncated, or bytes after the document */
    }
    if (rv != 0) {
        bool list = d.root_is_array;
        cbor_dec_free(&d);
        if (list) {
            api_error_set(e, API_EX_SERIALIZATION, CBOR_LIST_HERE);
        } else {
            api_error_set(e, API_EX_SERIALIZATION, NULL);
        }
        return -EDDY_EMALFORMED;
    }
    *doc = d.root;
    return 0;
}

/* ---- JSON (json_out's) to CBOR ---- */

static int cbor_put_head(struct buf *out, enum cbor_major major, uint64_t v)
{
    uint8_t h[CBOR_HEAD_BYTES_MAX];
    return buf_append(out, h, cbor_head(h, major, v));
}

static int cbor_hex4(const uint8_t *s, uint32_t *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = s[i];
        unsigned v;
        if (c >= '0' && c <= '9') {
            v = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v = (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v = (unsigned)(c - 'A' + 10);
        } else {
            return -EDDY_EMALFORMED;
        }
        *cp = (*cp << 4) | v;
    }
    return 0;
}

/* Decodes one escape at s (after the backslash, n bytes left) into u (at
 * most 3 bytes: json_out escapes nothing beyond U+FFFF). Returns the escape's
 * length, or 0 if it is not one. */
static size_t cbor_unescape(const uint8_t *s, size_t n, uint8_t u[3], size_t *ulen)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *hit = n > 0 && s[0] != 'u' ? memchr(from, s[0], sizeof(from) - 1) : NULL;
    if (hit != NULL) {
        u[0] = (uint8_t)to[hit - from];
        *ulen = 1;
        return 1;
    }
    uint32_t cp;
    if (n < 5 || s[0] != 'u' || cbor_hex4(s + 1, &cp) != 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        *ulen = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        *ulen = 2;
    } else {
        u[0] = (uint8_t)(0xE0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        *ulen = 3;
    }
    return 5;
}

/* A JSON string at s[0] == '"' as a text string. *used: bytes consumed. */
static int cbor_text_from_json(const uint8_t *s, size_t n, struct buf *out, size_t *used)
{
    /* First pass: the end and the unescaped length. */
    size_t i = 1;
    size_t text_len = 0;
    while (i < n && s[i] != '"') {
        if (s[i] == '\\') {
            uint8_t u[3];
            size_t ulen;
            size_t k = cbor_unescape(s + i + 1, n - i - 1, u, &ulen);
            if (k == 0) {
                return -EDDY_EMALFORMED;
            }
            i += 1 + k;
            text_len += ulen;
        } else {
            i++;
            text_len++;
        }
    }
    if (i >= n) {
        return -EDDY_EMALFORMED;
    }
    *used = i + 1;
    int rv = cbor_put_head(out, CBOR_TEXT, text_len);
    /* Second pass: runs copied as they are, escapes decoded. */
    size_t run = 1;
    for (size_t j = 1; rv == 0 && j < i; j++) {
        if (s[j] != '\\') {
            continue;
        }
        rv = buf_append(out, s + run, j - run);
        uint8_t u[3];
        size_t ulen;
        size_t k = cbor_unescape(s + j + 1, n - j - 1, u, &ulen);
        if (rv == 0) {
            rv = buf_append(out, u, ulen);
        }
        j += k;
        run = j + 1;
    }
    if (rv == 0) {
        rv = buf_append(out, s + run, i - run);
    }
    return rv;
}

/* A base64 JSON string at s[0] == '"' as a byte string. */
static int cbor_blob_from_json(const uint8_t *s, size_t n, struct buf *out, size_t *used)
{
    const uint8_t *end = memchr(s + 1, '"', n - 1);
    if (end == NULL) {
        return -EDDY_EMALFORMED;
    }
    size_t b64_len = (size_t)(end - s) - 1;
    *used = b64_len + 2;
    size_t pad = 0;
    while (pad < 2 && pad < b64_len && s[b64_len - pad] == '=') {
        pad++;
    }
    if (b64_len % 4 != 0) {
        return -EDDY_EMALFORMED;
    }
    size_t raw_len = b64_len / 4 * 3 - pad;
    int rv = cbor_put_head(out, CBOR_BYTES, raw_len);
    if (rv == 0) {
        rv = buf_reserve(out, base64_decoded_len_max(b64_len));
    }
    if (rv != 0) {
        return rv;
    }
    size_t got = 0;
    if (base64_decode((const char *)s + 1, b64_len, out->data + out->len, &got) != 0 ||
        got != raw_len) {
        return -EDDY_EMALFORMED;
    }
    out->len += got;
    return 0;
}

/* An unsigned integer, or a timestamp (seconds with a fraction of at most 3
 * digits) as tag 1 and integer milliseconds. */
static int cbor_number_from_json(const uint8_t *s, size_t n, struct buf *out, size_t *used)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - dgt) / 10) {
            return -EDDY_EMALFORMED;
        }
        v = v * 10 + dgt;
        i++;
    }
    if (i == n || s[i] != '.') {
        *used = i;
        return cbor_put_head(out, CBOR_UINT, v);
    }
    uint64_t frac = 0;
    size_t digits = 0;
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        frac = frac * 10 + (uint64_t)(s[i] - '0');
        if (++digits > 3) {
            return -EDDY_EMALFORMED;
        }
    }
    for (size_t k = digits; k < 3; k++) {
        frac *= 10;
    }
    if (digits == 0 || v > (UINT64_MAX - frac) / 1000) {
        return -EDDY_EMALFORMED;
    }
    *used = i;
    uint8_t tag = CBOR_TAG_EPOCH;
    int rv = buf_append(out, &tag, 1);
    return rv != 0 ? rv : cbor_put_head(out, CBOR_UINT, v * 1000 + frac);
}

int cbor_from_json(
    const uint8_t *json, size_t len, const size_t *blob_at, size_t blob_count, struct buf *out)
{
    static const struct {
        const char *word;
        uint8_t byte;
    } words[] = {{"true", CBOR_TRUE}, {"false", CBOR_FALSE}, {"null", CBOR_NULL}};
    size_t next_blob = 0;
    size_t i = 0;
    int rv = 0;
    /* A flat token map: CBOR's indefinite containers need no counts, and keys
     * and values are both plain items in order. */
    while (rv == 0 && i < len) {
        uint8_t c = json[i];
        size_t used = 1;
        uint8_t byte;
        if (c == ',' || c == ':') {
            i++;
            continue;
        }
        if (c == '{' || c == '[' || c == '}' || c == ']') {
            byte = c == '{' ? CBOR_MAP_INDEFINITE : c == '[' ? CBOR_ARRAY_INDEFINITE : CBOR_BREAK;
            rv = buf_append(out, &byte, 1);
        } else if (c == '"' && next_blob < blob_count && blob_at[next_blob] == i) {
            next_blob++;
            rv = cbor_blob_from_json(json + i, len - i, out, &used);
        } else if (c == '"') {
            rv = cbor_text_from_json(json + i, len - i, out, &used);
        } else if (c >= '0' && c <= '9') {
            rv = cbor_number_from_json(json + i, len - i, out, &used);
        } else {
            rv = -EDDY_EMALFORMED;
            for (size_t w = 0; w < EDDY_ARRAY_LEN(words); w++) {
                size_t wl = strlen(words[w].word);
                if (len - i >= wl && memcmp(json + i, words[w].word, wl) == 0) {
                    used = wl;
                    rv = buf_append(out, &words[w].byte, 1);
                    break;
                }
            }
        }
        i += used;
    }
    if (rv == 0 && next_blob != blob_count) {
        rv = -EDDY_EMALFORMED; /* a blob mark pointed at no string */
    }
    return rv;
}
