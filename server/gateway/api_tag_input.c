/*
 * Tags in requests (see api_meta.h): TagMap and TagKeyList members read and
 * validated as AWS does, and AWS's character rules.
 *
 * ValidationException texts for the collections, as AWS prints them (the
 * value is Java's toString of the map or list, kinesalite's tests run against
 * AWS):
 *   Value '{a=1, b=2}' at 'tags' failed to satisfy constraint: Map keys must
 *   satisfy constraint: [Member must have length less than or equal to 128,
 *   Member must have length greater than or equal to 1]
 *   Value '[a, b]' at 'tagKeys' failed to satisfy constraint: Member must
 *   satisfy constraint: [Member must have length less than or equal to 128,
 *   Member must have length greater than or equal to 1]
 * Java's map order is its hash order; Eddy prints the document's order.
 *
 * Characters (kinesalite's AddTagsToStream, checked against AWS): keys and
 * values may hold letters U+00C0..U+1FFF and U+2C00..U+D7FF, ASCII letters
 * and digits, space and _ . / = + - @ : ; '%' passes the first check and is
 * refused with a second text.
 */
#include "api.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdlib.h>
#include <string.h>

#define API_TAG_KEYS_RULE                                                                          \
    "[Member must have length less than or equal to 128, Member must have length greater than "    \
    "or equal to 1]"
#define API_TAG_VALUES_RULE                                                                        \
    "[Member must have length less than or equal to 256, Member must have length greater than "    \
    "or equal to 0]"

static_assert(API_TAG_KEY_LEN_MAX == 128 && API_TAG_VALUE_LEN_MAX == 256, "the rule texts");

/* ---- reading ---- */

int api_tag_map_get(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e)
{
    *out = NULL;
    int rv = json_check_map_of_strings(obj, key, e);
    if (rv != 0) {
        return rv;
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (map == NULL || !cJSON_IsObject(map)) {
        return 0; /* absent or null */
    }
    /* A key given twice: the check above reads the first only. */
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, map)
    {
        struct json_str s;
        rv = json_item_str(item, &s, e);
        if (rv != 0) {
            return rv;
        }
    }
    *out = map;
    return 0;
}

int api_tag_keys_get(const cJSON *obj, const char *key, const cJSON **out, struct api_error *e)
{
    int rv = json_get_list(obj, key, out, e);
    if (rv != 0 || *out == NULL) {
        return rv;
    }
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, *out)
    {
        struct json_str s;
        rv = json_item_str(item, &s, e);
        if (rv != 0) {
            *out = NULL;
            return rv;
        }
    }
    return 0;
}

static const char *api_tag_text(const cJSON *item)
{
    return cJSON_IsString(item) ? item->valuestring : "";
}

/* ---- collecting ---- */

struct api_tag_slot {
    const cJSON *item;
    size_t pos;
};

static int api_tag_slot_cmp(const void *a, const void *b)
{
    const struct api_tag_slot *x = a;
    const struct api_tag_slot *y = b;
    int cmp = strcmp(x->item->string, y->item->string);
    if (cmp != 0) {
        return cmp;
    }
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

size_t api_tag_map_collect(const cJSON *map, struct api_tag *out, size_t cap)
{
    size_t n = (size_t)cJSON_GetArraySize(map);
    if (n == 0) {
        return 0;
    }
    /* n is bounded by the request's value count (API_JSON_VALUES_MAX). */
    struct api_tag_slot *slots = eddy_xmalloc(n * sizeof(*slots));
    size_t i = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, map)
    {
        EDDY_ASSERT(i < n);
        slots[i] = (struct api_tag_slot){.item = item, .pos = i};
        i++;
    }
    qsort(slots, n, sizeof(*slots), api_tag_slot_cmp);
    size_t unique = 0;
    for (i = 0; i < n; i++) {
        bool last = i + 1 == n || strcmp(slots[i].item->string, slots[i + 1].item->string) != 0;
        if (!last) {
            continue; /* a later one with this key follows */
        }
        if (unique < cap) {
            out[unique] = (struct api_tag){.key = slots[i].item->string,
                                           .value = api_tag_text(slots[i].item)};
        }
        unique++;
    }
    eddy_free(slots);
    return unique;
}

/* ---- validation ---- */

/* Appends s to b unless b already holds more than a message can show. */
static void api_tag_print(struct buf *b, const char *s)
{
    if (b->len <= API_MESSAGE_VALUE_BYTES_MAX) {
        (void)buf_append_str(b, s);
    }
}

/* "{k=v, k2=v2}" of map in document order; null values print as null. */
static void api_tag_map_text(const cJSON *map, struct buf *b)
{
    api_tag_print(b, "{");
    const cJSON *item = NULL;
    bool first = true;
    cJSON_ArrayForEach(item, map)
    {
        api_tag_print(b, first ? "" : ", ");
        api_tag_print(b, item->string);
        api_tag_print(b, "=");
        api_tag_print(b, cJSON_IsString(item) ? item->valuestring : "null");
        first = false;
    }
    api_tag_print(b, "}");
}

static void api_tag_add(struct validation *v, struct buf *text, const char *path, const char *rule)
{
    validation_add(v, (const char *)text->data, text->len, path, rule);
}

void api_tag_map_validate(struct validation *v, const char *path, const cJSON *map)
{
    if (map == NULL) {
        return;
    }
    size_t n = api_tag_map_collect(map, NULL, 0);
    bool keys_ok = true;
    bool values_ok = true;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, map)
    {
        size_t k = json_utf16_len(item->string, strlen(item->string));
        const char *val = api_tag_text(item);
        keys_ok = keys_ok && k >= 1 && k <= API_TAG_KEY_LEN_MAX;
        values_ok = values_ok && json_utf16_len(val, strlen(val)) <= API_TAG_VALUE_LEN_MAX;
    }
    if (n >= 1 && n <= API_TAG_MAP_MAX && keys_ok && values_ok) {
        return;
    }
    struct buf text;
    buf_init(&text, API_MESSAGE_VALUE_BYTES_MAX * 2);
    api_tag_map_text(map, &text);
    if (n < 1) {
        api_tag_add(v, &text, path, "Member must have length greater than or equal to 1");
    }
    if (n > API_TAG_MAP_MAX) {
        api_tag_add(v, &text, path, "Member must have length less than or equal to 200");
    }
    if (!keys_ok) {
        api_tag_add(v, &text, path, "Map keys must satisfy constraint: " API_TAG_KEYS_RULE);
    }
    if (!values_ok) {
        api_tag_add(v, &text, path, "Map value must satisfy constraint: " API_TAG_VALUES_RULE);
    }
    buf_free(&text);
}

void api_tag_keys_validate(struct validation *v, const char *path, const cJSON *keys)
{
    if (keys == NULL) {
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(keys);
    bool each_ok = true;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, keys)
    {
        size_t k = cJSON_IsString(item)
                       ? json_utf16_len(item->valuestring, strlen(item->valuestring))
                       : 0; /* null: no key */
        each_ok = each_ok && k >= 1 && k <= API_TAG_KEY_LEN_MAX;
    }
    if (n >= 1 && n <= API_TAG_KEYS_MAX && each_ok) {
        return;
    }
    struct buf text;
    buf_init(&text, API_MESSAGE_VALUE_BYTES_MAX * 2);
    api_tag_print(&text, "[");
    bool first = true;
    cJSON_ArrayForEach(item, keys)
    {
        api_tag_print(&text, first ? "" : ", ");
        api_tag_print(&text, cJSON_IsString(item) ? item->valuestring : "null");
        first = false;
    }
    api_tag_print(&text, "]");
    if (n < 1) {
        api_tag_add(v, &text, path, "Member must have length greater than or equal to 1");
    }
    if (n > API_TAG_KEYS_MAX) {
        api_tag_add(v, &text, path, "Member must have length less than or equal to 50");
    }
    if (!each_ok) {
        api_tag_add(v, &text, path, "Member must satisfy constraint: " API_TAG_KEYS_RULE);
    }
    buf_free(&text);
}

static_assert(API_TAG_MAP_MAX == 200 && API_TAG_KEYS_MAX == 50, "the rule texts");

/* ---- characters ---- */

static bool api_tag_ascii_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("_./=+-@: ", ch) != NULL;
}

enum api_tag_chars api_tag_chars(const char *s)
{
    enum api_tag_chars verdict = API_TAG_CHARS_OK;
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len) {
        size_t step = json_utf8_seq((const uint8_t *)s, len, i);
        if (step == 0) {
            return API_TAG_CHARS_INVALID; /* the parser checked the text; be safe */
        }
        uint32_t cp = (uint8_t)s[i];
        if (step > 1) {
            cp &= 0xFFu >> (step + 1);
            for (size_t k = 1; k < step; k++) {
                cp = (cp << 6) | ((uint8_t)s[i + k] & 0x3F);
            }
        }
        i += step;
        if (cp == '%') {
            verdict = API_TAG_CHARS_PERCENT;
            continue;
        }
        bool ok = cp < 0x80 ? api_tag_ascii_ok((char)cp)
                            : (cp >= 0xC0 && cp <= 0x1FFF) || (cp >= 0x2C00 && cp <= 0xD7FF);
        if (!ok) {
            return API_TAG_CHARS_INVALID;
        }
    }
    return verdict;
}

static enum api_tag_chars api_tag_worse(enum api_tag_chars a, enum api_tag_chars b)
{
    return a > b ? a : b;
}

static_assert(API_TAG_CHARS_INVALID > API_TAG_CHARS_PERCENT, "invalid is reported first");
static_assert(API_TAG_CHARS_PERCENT > API_TAG_CHARS_OK, "ok is the best");

enum api_tag_chars api_tag_map_chars(const cJSON *map)
{
    enum api_tag_chars verdict = API_TAG_CHARS_OK;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, map)
    {
        verdict = api_tag_worse(verdict, api_tag_chars(item->string));
        verdict = api_tag_worse(verdict, api_tag_chars(api_tag_text(item)));
    }
    return verdict;
}

enum api_tag_chars api_tag_keys_chars(const cJSON *keys)
{
    enum api_tag_chars verdict = API_TAG_CHARS_OK;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, keys)
    {
        verdict = api_tag_worse(verdict, api_tag_chars(api_tag_text(item)));
    }
    return verdict;
}

bool api_tag_chars_ok(struct api_call *c, enum api_tag_chars verdict, const char *name, bool adding)
{
    switch (verdict) {
    case API_TAG_CHARS_OK:
        return true;
    case API_TAG_CHARS_INVALID:
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Some tags contain invalid characters. Valid characters: Unicode letters, "
                 "digits, white space, _ . / = + - %% @ :.");
        return false;
    case API_TAG_CHARS_PERCENT:
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Failed to %s stream %s under account %s because some tags contained illegal "
                 "characters. The allowed characters are Unicode letters, white-spaces, "
                 "'_',',','/','=','+','-','@',':'.",
                 adding ? "add tags to" : "remove tags from", name, c->cfg.account);
        return false;
    }
    EDDY_ASSERT(0);
    return false;
}

/* Position of key among st's sorted tags, or SIZE_MAX. */
static size_t api_tag_find(const Eddy__StreamInfo *st, const char *key)
{
    size_t lo = 0;
    size_t hi = st->n_tags;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(st->tags[mid]->key, key);
        if (cmp == 0) {
            return mid;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return SIZE_MAX;
}

bool api_tag_count_ok(struct api_call *c,
                      const Eddy__StreamInfo *st,
                      const char *name,
                      const cJSON *map)
{
    struct api_tag tags[API_TAG_MAP_MAX];
    size_t n = api_tag_map_collect(map, tags, API_TAG_MAP_MAX);
    size_t count = st != NULL ? st->n_tags : 0;
    for (size_t i = 0; i < n && i < API_TAG_MAP_MAX; i++) {
        count += st == NULL || api_tag_find(st, tags[i].key) == SIZE_MAX;
    }
    count += n > API_TAG_MAP_MAX ? n - API_TAG_MAP_MAX : 0;
    if (count <= API_TAGS_MAX) {
        return true;
    }
    api_fail(c, API_EX_INVALID_ARGUMENT,
             "Failed to add tags to stream %s under account %s because a given stream cannot "
             "have more than %d tags associated with it.",
             name, c->cfg.account, API_TAGS_MAX);
    return false;
}
