/*
 * Request parsing and typed member readers (see json.h). Type errors carry
 * the texts AWS's JSON deserializer (Coral) returns as SerializationException,
 * as recorded against the live service by kinesalite's test-suite.
 */
#include "json.h"

#include "api.h"
#include "api_limits.h"
#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/base64.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define JSON_NUMBER_CLASS "class com.amazon.coral.value.json.numbers.TruncatingBigNumber"
#define JSON_LIST_HERE "Start of list found where not expected"
#define JSON_STRUCT_HERE "Start of structure or map found where not expected."

size_t json_utf8_seq(const uint8_t *s, size_t n, size_t i)
{
    uint8_t c = s[i];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n - i < len) {
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

/* The first index from i on, in steps of 8, whose word may hold a byte the
 * scan must look at inside a string: '"', '\\' or a non-ASCII byte. Record
 * data is base64 text, most of a PutRecords body: skipping it a word at a
 * time instead of decoding it as UTF-8 byte by byte made the scan several
 * times faster (docs/BENCHMARKS.md, 2026-11-26). */
static size_t json_skip_plain(const uint8_t *s, size_t n, size_t i)
{
    const uint64_t ones = 0x0101010101010101ULL;
    const uint64_t highs = 0x8080808080808080ULL;
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof(w));
        uint64_t quote = w ^ (ones * '"');
        uint64_t slash = w ^ (ones * '\\');
        /* A zero byte in quote or slash marks that char; w marks high bytes. */
        uint64_t marks = ((quote - ones) & ~quote) | ((slash - ones) & ~slash) | w;
        if ((marks & highs) != 0) {
            break;
        }
        i += 8;
    }
    return i;
}

/* One pass over the body before cJSON sees it: valid UTF-8, nesting within
 * GW_JSON_DEPTH_MAX (cJSON recurses per level) and a bound on the number of
 * values (each a heap node). Every value but the first follows a ',' or opens
 * a container, so commas + containers + 1 bounds them. */
static int json_scan(const uint8_t *s, size_t n)
{
    unsigned depth = 0;
    size_t values = 1;
    bool in_string = false;
    bool escaped = false;
    size_t i = 0;
    while (i < n) {
        if (in_string && !escaped) {
            i = json_skip_plain(s, n, i);
            if (i == n) {
                break;
            }
        }
        size_t step = json_utf8_seq(s, n, i);
        if (step == 0) {
            return -EDDY_EMALFORMED;
        }
        uint8_t c = s[i];
        i += step;
        if (step > 1) {
            continue;
        }
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '{':
        case '[':
            if (++depth > GW_JSON_DEPTH_MAX) {
                return -EDDY_EMALFORMED;
            }
            values++;
            break;
        case '}':
        case ']':
            if (depth > 0) {
                depth--;
            }
            break;
        case ',':
            values++;
            break;
        default:
            break;
        }
        if (values > API_JSON_VALUES_MAX) {
            return -EDDY_ETOOBIG;
        }
    }
    return 0;
}

int json_parse_request(const uint8_t *body, size_t len, cJSON **doc, struct api_error *e)
{
    *doc = NULL;
    if (json_scan(body, len) != 0) {
        api_error_set(e, API_EX_SERIALIZATION, NULL);
        return -EDDY_EMALFORMED;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)body, len, &end, false);
    if (root == NULL) {
        api_error_set(e, API_EX_SERIALIZATION, NULL);
        return -EDDY_EMALFORMED;
    }
    size_t pos = (size_t)(end - (const char *)body);
    while (pos < len && (body[pos] == ' ' || body[pos] == '\t' || body[pos] == '\r' ||
                         body[pos] == '\n' || body[pos] == '\0')) {
        pos++;
    }
    if (pos != len) {
        cJSON_Delete(root);
        api_error_set(e, API_EX_SERIALIZATION, NULL);
        return -EDDY_EMALFORMED;
    }
    if (cJSON_IsArray(root)) {
        cJSON_Delete(root);
        api_error_set(e, API_EX_SERIALIZATION, JSON_LIST_HERE);
        return -EDDY_EMALFORMED;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        api_error_set(e, API_EX_SERIALIZATION, NULL);
        return -EDDY_EMALFORMED;
    }
    *doc = root;
    return 0;
}

/* The member, or NULL when absent or JSON null (AWS treats both alike). */
static const cJSON *json_member(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (item == NULL || cJSON_IsNull(item)) {
        return NULL;
    }
    return item;
}

/* The error for a container where a scalar was expected. */
static int json_container_error(const cJSON *item, struct api_error *e)
{
    api_error_set(e, API_EX_SERIALIZATION, "%s",
                  cJSON_IsArray(item) ? JSON_LIST_HERE : JSON_STRUCT_HERE);
    return -EDDY_EMALFORMED;
}

/* The Java class AWS names for a string item: a CBOR byte string is a byte[]. */
static const char *json_string_class(const cJSON *item)
{
    return (item->type & JSON_ITEM_BYTES) ? "[B" : "java.lang.String";
}

/* The string check for a value already in hand (not NULL, not null). */
static int json_str_value(const cJSON *item, struct json_str *out, struct api_error *e)
{
    if (item->type & JSON_ITEM_BYTES) {
        api_error_set(e, API_EX_SERIALIZATION, "class [B can not be converted to an String");
        return -EDDY_EMALFORMED;
    }
    if (cJSON_IsString(item)) {
        out->present = true;
        out->ptr = item->valuestring;
        out->len = strlen(item->valuestring);
        return 0;
    }
    if (cJSON_IsBool(item)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      "class java.lang.Boolean can not be converted to an String");
        return -EDDY_EMALFORMED;
    }
    if (cJSON_IsNumber(item)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      JSON_NUMBER_CLASS " can not be converted to an String");
        return -EDDY_EMALFORMED;
    }
    return json_container_error(item, e);
}

int json_get_str(const cJSON *obj, const char *key, struct json_str *out, struct api_error *e)
{
    *out = (struct json_str){0};
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    return json_str_value(item, out, e);
}

int json_item_str(const cJSON *item, struct json_str *out, struct api_error *e)
{
    *out = (struct json_str){0};
    if (item == NULL || cJSON_IsNull(item)) {
        return 0;
    }
    return json_str_value(item, out, e);
}

int json_get_int(const cJSON *obj, const char *key, struct json_int *out, struct api_error *e)
{
    *out = (struct json_int){0};
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        /* Coral truncates the number to an int: kinesalite floors and clamps. */
        double v = floor(item->valuedouble);
        if (!(v >= (double)INT32_MIN)) {
            v = (double)INT32_MIN;
        }
        if (v > (double)INT32_MAX) {
            v = (double)INT32_MAX;
        }
        out->present = true;
        out->value = (int64_t)v;
        return 0;
    }
    if (cJSON_IsBool(item)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      "class java.lang.Boolean can not be converted to an Integer");
        return -EDDY_EMALFORMED;
    }
    if (cJSON_IsString(item)) {
        api_error_set(e, API_EX_SERIALIZATION, "class %s can not be converted to an Integer",
                      json_string_class(item));
        return -EDDY_EMALFORMED;
    }
    return json_container_error(item, e);
}

/* Strings Coral accepts as booleans. */
static int json_bool_word(const char *s)
{
    static const char *const yes[] = {"true", "yes", "1"};
    static const char *const no[] = {"false", "no", "0"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            return 1;
        }
        if (strcasecmp(s, no[i]) == 0) {
            return 0;
        }
    }
    return -1;
}

int json_get_bool(const cJSON *obj, const char *key, struct json_bool *out, struct api_error *e)
{
    *out = (struct json_bool){0};
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    if (cJSON_IsBool(item)) {
        out->present = true;
        out->value = cJSON_IsTrue(item);
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      JSON_NUMBER_CLASS " can not be converted to an Boolean");
        return -EDDY_EMALFORMED;
    }
    if (item->type & JSON_ITEM_BYTES) {
        api_error_set(e, API_EX_SERIALIZATION, "class [B can not be converted to an Boolean");
        return -EDDY_EMALFORMED;
    }
    if (cJSON_IsString(item)) {
        int w = json_bool_word(item->valuestring);
        if (w >= 0) {
            out->present = true;
            out->value = w == 1;
            return 0;
        }
        /* AWS echoes the value upper-cased. */
        char up[API_MESSAGE_VALUE_BYTES_MAX + 1];
        json_copy(up, sizeof(up), item->valuestring, strlen(item->valuestring));
        for (char *p = up; *p != '\0'; p++) {
            if (*p >= 'a' && *p <= 'z') {
                *p = (char)(*p - 'a' + 'A');
            }
        }
        api_error_set(e, API_EX_SERIALIZATION, "'%s' can not be converted to an Boolean", up);
        return -EDDY_EMALFORMED;
    }
    return json_container_error(item, e);
}

static bool json_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static unsigned json_base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return (unsigned)(c - 'A');
    }
    if (c >= 'a' && c <= 'z') {
        return (unsigned)(c - 'a' + 26);
    }
    if (c >= '0' && c <= '9') {
        return (unsigned)(c - '0' + 52);
    }
    return c == '+' ? 62u : 63u;
}

/* At most two '=' end the text, and the char before them leaves no unused
 * bits set: the final quantum decodes canonically, as AWS requires. The
 * chars themselves are not checked. n % 4 == 0. */
static bool json_blob_is_canonical(const char *s, size_t n)
{
    size_t pad = 0;
    while (pad < n && s[n - 1 - pad] == '=') {
        pad++;
    }
    bool canonical = pad <= 2;
    if (canonical && pad > 0) {
        unsigned v = json_base64_value(s[n - 1 - pad]);
        canonical = (v & (pad == 2 ? 0x0Fu : 0x03u)) == 0;
    }
    return canonical;
}

/* Checks base64 text the way AWS reports it, in AWS's order: length, then the
 * first bad character (or '=' followed by something else), then a final
 * quantum that does not decode canonically. Returns 0 or sets e. */
static int json_blob_check(const char *s, size_t n, struct api_error *e)
{
    int shown = (int)(n < API_MESSAGE_VALUE_BYTES_MAX ? n : API_MESSAGE_VALUE_BYTES_MAX);
    if (n % 4 != 0) {
        api_error_set(e, API_EX_SERIALIZATION,
                      "'%.*s' can not be converted to a Blob: Base64 encoded length is expected a "
                      "multiple of 4 bytes but found: %zu",
                      shown, s, n);
        return -EDDY_EMALFORMED;
    }
    for (size_t i = 0; i < n; i++) {
        bool bad = !json_base64_char(s[i]) && s[i] != '=';
        if (s[i] == '=' && i + 1 < n && s[i + 1] != '=') {
            bad = true;
        }
        if (bad) {
            size_t clen = json_utf8_seq((const uint8_t *)s, n, i);
            api_error_set(e, API_EX_SERIALIZATION,
                          "'%.*s' can not be converted to a Blob: Invalid Base64 character: '%.*s'",
                          shown, s, (int)(clen ? clen : 1), s + i);
            return -EDDY_EMALFORMED;
        }
    }
    if (!json_blob_is_canonical(s, n)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      "'%.*s' can not be converted to a Blob: Invalid last non-pad Base64 "
                      "character dectected",
                      shown, s);
        return -EDDY_EMALFORMED;
    }
    return 0;
}

/* Decodes the base64 text of a string item where it stands and marks the
 * item raw bytes, as a CBOR byte string is: no copy and no allocation per
 * record (docs/BENCHMARKS.md, 2026-11-26). The item belongs to the
 * request's own document, which outlives every use of the blob. Valid text
 * takes the fast checks (length, final quantum, base64_decode's alphabet);
 * bad text is left as it was (base64_decode restores what it decoded in
 * place) and json_blob_check names the first fault as AWS does. */
static int json_blob_decode(cJSON *item, struct api_error *e)
{
    const char *s = item->valuestring;
    size_t n = strlen(s);
    size_t len = 0;
    if (n % 4 == 0 && json_blob_is_canonical(s, n) &&
        base64_decode(s, n, (uint8_t *)item->valuestring, &len) == 0) {
        item->type |= JSON_ITEM_BYTES;
        item->valuedouble = (double)len;
        return 0;
    }
    int rv = json_blob_check(s, n, e);
    if (rv != 0) {
        return rv;
    }
    api_error_set(e, API_EX_SERIALIZATION,
                  "'%.*s' can not be converted to a Blob: Invalid last non-pad Base64 "
                  "character dectected",
                  (int)(n < API_MESSAGE_VALUE_BYTES_MAX ? n : API_MESSAGE_VALUE_BYTES_MAX), s);
    return -EDDY_EMALFORMED;
}

int json_get_blob(const cJSON *obj, const char *key, struct json_blob *out, struct api_error *e)
{
    *out = (struct json_blob){0};
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    if (cJSON_IsBool(item)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      "class java.lang.Boolean can not be converted to a Blob");
        return -EDDY_EMALFORMED;
    }
    if (cJSON_IsNumber(item)) {
        api_error_set(e, API_EX_SERIALIZATION, JSON_NUMBER_CLASS " can not be converted to a Blob");
        return -EDDY_EMALFORMED;
    }
    if (!cJSON_IsString(item)) {
        return json_container_error(item, e);
    }
    if (!(item->type & JSON_ITEM_BYTES)) {
        int rv = json_blob_decode((cJSON *)item, e);
        if (rv != 0) {
            return rv;
        }
    }
    /* Raw bytes: from a CBOR body, or base64 text decoded in place. */
    out->present = true;
    out->data = (uint8_t *)item->valuestring;
    out->len = (size_t)item->valuedouble;
    return 0;
}

int json_get_timestamp(const cJSON *obj,
                       const char *key,
                       struct json_timestamp *out,
                       struct api_error *e)
{
    *out = (struct json_timestamp){0};
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        /* JSON says epoch seconds; CBOR, like the Java SDK, milliseconds. */
        double ms = (item->type & JSON_ITEM_MS) ? item->valuedouble : item->valuedouble * 1000.0;
        /* Far outside any real clock; clamped so the cast is defined. */
        const double lim = 9.0e15;
        if (!(ms > -lim)) {
            ms = -lim;
        }
        if (ms > lim) {
            ms = lim;
        }
        out->present = true;
        out->ms = (int64_t)floor(ms);
        return 0;
    }
    if (cJSON_IsBool(item)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      "class java.lang.Boolean can not be converted to milliseconds since epoch");
        return -EDDY_EMALFORMED;
    }
    if (cJSON_IsString(item)) {
        api_error_set(e, API_EX_SERIALIZATION,
                      "class %s can not be converted to milliseconds since epoch",
                      json_string_class(item));
        return -EDDY_EMALFORMED;
    }
    return json_container_error(item, e);
}

int json_get_list(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e)
{
    *out = NULL;
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    if (cJSON_IsArray(item)) {
        *out = item;
        return 0;
    }
    if (cJSON_IsObject(item)) {
        api_error_set(e, API_EX_SERIALIZATION, JSON_STRUCT_HERE);
        return -EDDY_EMALFORMED;
    }
    api_error_set(e, API_EX_SERIALIZATION, "Expected list or null");
    return -EDDY_EMALFORMED;
}

/* The structure check for a value already in hand. */
static int json_struct_value(const cJSON *item, const cJSON **out, struct api_error *e)
{
    if (cJSON_IsObject(item)) {
        *out = item;
        return 0;
    }
    if (cJSON_IsArray(item)) {
        api_error_set(e, API_EX_SERIALIZATION, JSON_LIST_HERE);
        return -EDDY_EMALFORMED;
    }
    api_error_set(e, API_EX_SERIALIZATION, "Expected null");
    return -EDDY_EMALFORMED;
}

int json_get_struct(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e)
{
    *out = NULL;
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    return json_struct_value(item, out, e);
}

int json_item_struct(const cJSON *item, const cJSON **out, struct api_error *e)
{
    *out = NULL;
    if (item == NULL || cJSON_IsNull(item)) {
        return 0;
    }
    return json_struct_value(item, out, e);
}

int json_check_map_of_strings(const cJSON *obj, const char *key, struct api_error *e)
{
    const cJSON *item = json_member(obj, key);
    if (item == NULL) {
        return 0;
    }
    if (cJSON_IsArray(item)) {
        api_error_set(e, API_EX_SERIALIZATION, JSON_LIST_HERE);
        return -EDDY_EMALFORMED;
    }
    if (!cJSON_IsObject(item)) {
        api_error_set(e, API_EX_SERIALIZATION, "Expected map or null");
        return -EDDY_EMALFORMED;
    }
    const cJSON *child = NULL;
    cJSON_ArrayForEach(child, item)
    {
        struct json_str s;
        int rv = json_get_str(item, child->string, &s, e);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

size_t json_utf16_len(const char *s, size_t len)
{
    size_t units = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if ((c & 0xC0) == 0x80) {
            continue;
        }
        /* A 4-byte sequence is a surrogate pair in Java. */
        units += (c & 0xF8) == 0xF0 ? 2 : 1;
    }
    return units;
}

void json_copy(char *dst, size_t cap, const char *s, size_t len)
{
    EDDY_ASSERT(cap > 0);
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n < len) {
        /* Back off to a character boundary. */
        while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}
