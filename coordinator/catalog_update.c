/*
 * Stream and account settings in the catalogue (see catalog_update.h). An
 * update is checked whole (catalog_update_check) before it changes anything;
 * each change then builds every new part first and frees what it replaces
 * only once nothing can fail any more, so -ENOMEM leaves the stream as it
 * was. Every part is allocated with the catalogue's allocator, which
 * protobuf-c's free_unpacked uses to free the tree.
 */
#include "catalog_update.h"
#include "catalog.h"
#include "coord_limits.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <errno.h>
#include <string.h>

/* Sorted, as the catalogue keeps them. */
static const char *const catalog_update_metrics[COORD_METRICS_COUNT] = {
    "IncomingBytes",
    "IncomingRecords",
    "IteratorAgeMilliseconds",
    "OutgoingBytes",
    "OutgoingRecords",
    "ReadProvisionedThroughputExceeded",
    "WriteProvisionedThroughputExceeded",
};
#define CATALOG_UPDATE_METRICS_ALL ((1u << COORD_METRICS_COUNT) - 1)

/* Encoded bytes a tag adds beyond its key and value (field tags, lengths,
 * the submessage header), and a string field beyond its text. */
#define CATALOG_UPDATE_TAG_OVERHEAD 16
#define CATALOG_UPDATE_FIELD_OVERHEAD 8

/* What a change accepts and does to the status (the table in the header). */
struct catalog_update_rule {
    bool updating_ok;   /* UPDATING accepted besides ACTIVE */
    bool sets_updating; /* a change (not a no-op) puts the stream in UPDATING */
};

static bool catalog_update_rule_of(Eddy__StreamUpdate__ChangeCase cc, struct catalog_update_rule *r)
{
    switch (cc) {
    case EDDY__STREAM_UPDATE__CHANGE_ADD_TAGS:
    case EDDY__STREAM_UPDATE__CHANGE_REMOVE_TAGS:
    case EDDY__STREAM_UPDATE__CHANGE_PUT_POLICY:
    case EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY:
        *r = (struct catalog_update_rule){.updating_ok = true, .sets_updating = false};
        return true;
    case EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS:
    case EDDY__STREAM_UPDATE__CHANGE_DECREASE_RETENTION_HOURS:
    case EDDY__STREAM_UPDATE__CHANGE_SET_MODE:
    case EDDY__STREAM_UPDATE__CHANGE_ENABLE_METRICS:
    case EDDY__STREAM_UPDATE__CHANGE_DISABLE_METRICS:
    case EDDY__STREAM_UPDATE__CHANGE_SET_ENCRYPTION:
    case EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB:
    case EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS:
        *r = (struct catalog_update_rule){.updating_ok = false, .sets_updating = true};
        return true;
    default:
        return false;
    }
}

/* ---- strings ---- */

static const char *catalog_update_str(const char *s)
{
    return s != NULL ? s : "";
}

/* A copy of src made with a, NULL when out of memory. */
static char *catalog_update_strdup(ProtobufCAllocator *a, const char *src)
{
    size_t n = strlen(src);
    char *p = a->alloc(a->allocator_data, n + 1);
    if (p != NULL) {
        memcpy(p, src, n + 1);
    }
    return p;
}

/* Frees a string field's text unless it is protobuf-c's shared "" (what
 * init and unpack leave in an empty proto3 string). */
static void catalog_update_str_free(ProtobufCAllocator *a, char *s)
{
    if (s != NULL && s != protobuf_c_empty_string) {
        a->free(a->allocator_data, s);
    }
}

/* Replaces *field with a copy of value ("" shares protobuf-c's empty string).
 * -ENOMEM with *field unchanged. */
int catalog_update_str_set(ProtobufCAllocator *a, char **field, const char *value)
{
    char *copy = (char *)protobuf_c_empty_string;
    if (value[0] != '\0') {
        copy = catalog_update_strdup(a, value);
        if (copy == NULL) {
            return -ENOMEM;
        }
    }
    catalog_update_str_free(a, *field);
    *field = copy;
    return 0;
}

/* ---- tags ---- */

static bool catalog_update_tag_is_valid(const Eddy__Tag *t)
{
    if (t == NULL || t->key == NULL) {
        return false;
    }
    size_t k = strnlen(t->key, COORD_TAG_KEY_BYTES_MAX + 1);
    size_t v = strnlen(catalog_update_str(t->value), COORD_TAG_VALUE_BYTES_MAX + 1);
    return k >= 1 && k <= COORD_TAG_KEY_BYTES_MAX && v <= COORD_TAG_VALUE_BYTES_MAX;
}

size_t catalog_update_tag_bytes(const Eddy__Tag *t)
{
    return strlen(t->key) + strlen(catalog_update_str(t->value)) + CATALOG_UPDATE_TAG_OVERHEAD;
}

/* Position of key in the sorted tags, or SIZE_MAX. */
static size_t catalog_update_tag_find(Eddy__Tag *const *tags, size_t n, const char *key)
{
    size_t lo = 0;
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(tags[mid]->key, key);
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

/* idx[0..return) = positions of tags sorted by key, one per key, the later
 * one when a key repeats. n is at most COORD_TAGS_PER_UPDATE_MAX; insertion
 * sort is n^2/2 = 20,000 comparisons at worst. */
static size_t catalog_update_tags_order(Eddy__Tag *const *tags, size_t n, size_t *idx)
{
    EDDY_ASSERT(n <= COORD_TAGS_PER_UPDATE_MAX);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pos = m;
        int cmp = 1;
        while (pos > 0 && (cmp = strcmp(tags[idx[pos - 1]]->key, tags[i]->key)) > 0) {
            pos--;
        }
        if (pos > 0 && cmp == 0) {
            idx[pos - 1] = i; /* the later value wins */
            continue;
        }
        memmove(&idx[pos + 1], &idx[pos], (m - pos) * sizeof(*idx));
        idx[pos] = i;
        m++;
    }
    return m;
}

void catalog_update_tags_normalize(Eddy__Tag **tags, size_t *n)
{
    EDDY_ASSERT(*n <= COORD_TAGS_PER_UPDATE_MAX);
    size_t idx[COORD_TAGS_PER_UPDATE_MAX];
    Eddy__Tag *sorted[COORD_TAGS_PER_UPDATE_MAX];
    size_t m = catalog_update_tags_order(tags, *n, idx);
    for (size_t i = 0; i < m; i++) {
        sorted[i] = tags[idx[i]];
    }
    memcpy(tags, sorted, m * sizeof(*tags));
    *n = m;
}

/* The tag list an add carries is well formed. */
bool catalog_update_tag_list_is_valid(const Eddy__TagList *l)
{
    if (l == NULL || l->n_tags == 0 || l->n_tags > COORD_TAGS_PER_UPDATE_MAX) {
        return false;
    }
    for (size_t i = 0; i < l->n_tags; i++) {
        if (!catalog_update_tag_is_valid(l->tags[i])) {
            return false;
        }
    }
    return true;
}

size_t catalog_update_tag_set_bytes(Eddy__Tag *const *tags, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += catalog_update_tag_bytes(tags[i]);
    }
    return bytes;
}

/* The tag count and tag bytes of the set tags[0..n) after adding l. */
static void catalog_update_tags_after_add(
    Eddy__Tag *const *tags, size_t n, const Eddy__TagList *l, size_t *count, size_t *bytes)
{
    size_t idx[COORD_TAGS_PER_UPDATE_MAX];
    size_t m = catalog_update_tags_order(l->tags, l->n_tags, idx);
    *count = n;
    *bytes = catalog_update_tag_set_bytes(tags, n);
    for (size_t j = 0; j < m; j++) {
        const Eddy__Tag *t = l->tags[idx[j]];
        size_t pos = catalog_update_tag_find(tags, n, t->key);
        *bytes += catalog_update_tag_bytes(t);
        if (pos == SIZE_MAX) {
            (*count)++;
        } else {
            *bytes -= catalog_update_tag_bytes(tags[pos]);
        }
    }
}

static Eddy__Tag *catalog_update_tag_new(ProtobufCAllocator *a, const Eddy__Tag *src)
{
    Eddy__Tag *t = a->alloc(a->allocator_data, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    eddy__tag__init(t);
    t->key = catalog_update_strdup(a, src->key);
    if (t->key == NULL) {
        a->free(a->allocator_data, t);
        return NULL;
    }
    if (catalog_update_str_set(a, &t->value, catalog_update_str(src->value)) != 0) {
        eddy__tag__free_unpacked(t, a);
        return NULL;
    }
    return t;
}

int catalog_update_tag_set_add(Eddy__Tag ***tags,
                               size_t *n_tags,
                               const Eddy__TagList *l,
                               ProtobufCAllocator *a)
{
    size_t idx[COORD_TAGS_PER_UPDATE_MAX];
    Eddy__Tag *made[COORD_TAGS_PER_UPDATE_MAX];
    size_t m = catalog_update_tags_order(l->tags, l->n_tags, idx);
    size_t count;
    size_t bytes;
    Eddy__Tag **old = *tags;
    size_t n_old = *n_tags;
    catalog_update_tags_after_add(old, n_old, l, &count, &bytes);
    EDDY_ASSERT(count <= COORD_TAGS_MAX);
    Eddy__Tag **out = a->alloc(a->allocator_data, count * sizeof(*out));
    if (out == NULL) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < m; j++) {
        made[j] = catalog_update_tag_new(a, l->tags[idx[j]]);
        if (made[j] == NULL) {
            while (j-- > 0) {
                eddy__tag__free_unpacked(made[j], a);
            }
            a->free(a->allocator_data, out);
            return -ENOMEM;
        }
    }
    /* Merge the sorted old tags and the sorted new ones; an equal key takes
     * the new tag and frees the old one (nothing can fail any more). */
    size_t i = 0;
    size_t j = 0;
    size_t k = 0;
    while (i < n_old || j < m) {
        int cmp = i == n_old ? 1 : j == m ? -1 : strcmp(old[i]->key, made[j]->key);
        if (cmp < 0) {
            out[k++] = old[i++];
            continue;
        }
        if (cmp == 0) {
            eddy__tag__free_unpacked(old[i++], a);
        }
        out[k++] = made[j++];
    }
    EDDY_ASSERT(k == count);
    a->free(a->allocator_data, old);
    *tags = out;
    *n_tags = count;
    return 0;
}

bool catalog_update_key_list_is_valid(const Eddy__TagKeys *l)
{
    if (l == NULL || l->n_keys == 0 || l->n_keys > COORD_TAG_KEYS_PER_UPDATE_MAX) {
        return false;
    }
    for (size_t i = 0; i < l->n_keys; i++) {
        size_t n = l->keys[i] != NULL ? strnlen(l->keys[i], COORD_TAG_KEY_BYTES_MAX + 1) : 0;
        if (n == 0 || n > COORD_TAG_KEY_BYTES_MAX) {
            return false;
        }
    }
    return true;
}

static bool catalog_update_key_listed(const Eddy__TagKeys *l, const char *key)
{
    for (size_t i = 0; i < l->n_keys; i++) {
        if (strcmp(l->keys[i], key) == 0) {
            return true;
        }
    }
    return false;
}

/* Removes the listed keys; keys the set lacks are ignored, as on AWS. */
int catalog_update_tag_set_remove(Eddy__Tag ***tags,
                                  size_t *n_tags,
                                  const Eddy__TagKeys *l,
                                  ProtobufCAllocator *a)
{
    Eddy__Tag **old = *tags;
    size_t n_old = *n_tags;
    size_t keep = 0;
    for (size_t i = 0; i < n_old; i++) {
        keep += !catalog_update_key_listed(l, old[i]->key);
    }
    if (keep == n_old) {
        return 0;
    }
    Eddy__Tag **out = NULL;
    if (keep > 0) {
        out = a->alloc(a->allocator_data, keep * sizeof(*out));
        if (out == NULL) {
            return -ENOMEM;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n_old; i++) {
        if (catalog_update_key_listed(l, old[i]->key)) {
            eddy__tag__free_unpacked(old[i], a);
        } else {
            out[k++] = old[i];
        }
    }
    EDDY_ASSERT(k == keep);
    a->free(a->allocator_data, old);
    *tags = out;
    *n_tags = keep;
    return 0;
}

/* ---- metrics ---- */

static int catalog_update_metric_index(const char *name)
{
    for (int i = 0; i < COORD_METRICS_COUNT; i++) {
        if (strcmp(catalog_update_metrics[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

/* The bits of a MetricNames (ALL: every bit); false for an empty list or an
 * unknown name. */
static bool catalog_update_metric_bits(const Eddy__MetricNames *l, uint32_t *bits)
{
    if (l == NULL || l->n_names == 0 || l->n_names > COORD_METRICS_COUNT + 1) {
        return false;
    }
    *bits = 0;
    for (size_t i = 0; i < l->n_names; i++) {
        const char *name = catalog_update_str(l->names[i]);
        if (strcmp(name, "ALL") == 0) {
            *bits |= CATALOG_UPDATE_METRICS_ALL;
            continue;
        }
        int k = catalog_update_metric_index(name);
        if (k < 0) {
            return false;
        }
        *bits |= 1u << k;
    }
    return true;
}

/* The stream's metrics as bits (validated: known names). */
static uint32_t catalog_update_stream_metrics(const Eddy__StreamInfo *s)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < s->n_shard_level_metrics; i++) {
        int k = catalog_update_metric_index(catalog_update_str(s->shard_level_metrics[i]));
        if (k >= 0) {
            bits |= 1u << k;
        }
    }
    return bits;
}

static int catalog_update_metrics_set(Eddy__StreamInfo *s, uint32_t bits, ProtobufCAllocator *a)
{
    char *made[COORD_METRICS_COUNT];
    size_t n = 0;
    char **out = NULL;
    for (int k = 0; k < COORD_METRICS_COUNT; k++) {
        if ((bits & (1u << k)) == 0) {
            continue;
        }
        made[n] = catalog_update_strdup(a, catalog_update_metrics[k]);
        if (made[n] == NULL) {
            goto err_after_made;
        }
        n++;
    }
    if (n > 0) {
        out = a->alloc(a->allocator_data, n * sizeof(*out));
        if (out == NULL) {
            goto err_after_made;
        }
        memcpy(out, made, n * sizeof(*out));
    }
    for (size_t i = 0; i < s->n_shard_level_metrics; i++) {
        catalog_update_str_free(a, s->shard_level_metrics[i]);
    }
    a->free(a->allocator_data, s->shard_level_metrics);
    s->shard_level_metrics = out;
    s->n_shard_level_metrics = n;
    return 0;

err_after_made:
    while (n-- > 0) {
        a->free(a->allocator_data, made[n]);
    }
    return -ENOMEM;
}

/* ---- the other settings ---- */

static bool catalog_update_is_kms(const Eddy__StreamInfo *s)
{
    return strcmp(catalog_update_str(s->encryption_type), "KMS") == 0;
}

static uint32_t catalog_update_retention(const Eddy__StreamInfo *s)
{
    return s->retention_hours != 0 ? s->retention_hours : KIN_RETENTION_HOURS_DEFAULT;
}

static uint32_t catalog_update_record_kib(const Eddy__StreamInfo *s)
{
    return s->max_record_size_kib != 0 ? s->max_record_size_kib : COORD_RECORD_SIZE_KIB_MIN;
}

static bool catalog_update_retention_is_valid(uint32_t hours)
{
    return hours >= COORD_RETENTION_HOURS_MIN && hours <= COORD_RETENTION_HOURS_MAX;
}

/* Warm throughput mibps for a stream in mode: -EDDY_EINVAL unless ON_DEMAND
 * with the account's commitment in force, -EDDY_ELIMIT above the bound. */
static int catalog_update_warm_check(const Eddy__Catalog *cat,
                                     Eddy__StreamMode mode,
                                     uint32_t mibps,
                                     uint64_t now_ms)
{
    if (mode != EDDY__STREAM_MODE__MODE_ON_DEMAND ||
        !catalog_update_commitment_is_active(cat->account, now_ms)) {
        return -EDDY_EINVAL;
    }
    return mibps > COORD_WARM_THROUGHPUT_MIBPS_MAX ? -EDDY_ELIMIT : 0;
}

/* ---- checks: the code of a change, and whether it changes anything ---- */

/* The catalogue's settings bytes once s holds after_bytes. */
static int
catalog_update_budget(const Eddy__Catalog *cat, const Eddy__StreamInfo *s, size_t after_bytes)
{
    size_t total = catalog_update_catalog_settings_bytes(cat) - catalog_update_settings_bytes(s);
    return total + after_bytes > COORD_SETTINGS_BYTES_MAX ? -EDDY_ELIMIT : 0;
}

int catalog_update_tag_set_check(Eddy__Tag *const *tags,
                                 size_t n,
                                 const Eddy__TagList *add,
                                 const Eddy__TagKeys *remove,
                                 bool *changes,
                                 size_t *bytes_after)
{
    EDDY_ASSERT((add == NULL) != (remove == NULL));
    *changes = false;
    *bytes_after = catalog_update_tag_set_bytes(tags, n);
    if (remove != NULL) {
        if (!catalog_update_key_list_is_valid(remove)) {
            return -EDDY_EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            if (catalog_update_key_listed(remove, tags[i]->key)) {
                *changes = true;
                *bytes_after -= catalog_update_tag_bytes(tags[i]);
            }
        }
        return 0;
    }
    if (!catalog_update_tag_list_is_valid(add)) {
        return -EDDY_EINVAL;
    }
    size_t count;
    catalog_update_tags_after_add(tags, n, add, &count, bytes_after);
    if (count > COORD_TAGS_MAX) {
        return -EDDY_EINVAL; /* AWS: InvalidArgumentException, "cannot have more than" */
    }
    for (size_t i = 0; i < add->n_tags && !*changes; i++) {
        const Eddy__Tag *t = add->tags[i];
        size_t pos = catalog_update_tag_find(tags, n, t->key);
        *changes = pos == SIZE_MAX ||
                   strcmp(catalog_update_str(tags[pos]->value), catalog_update_str(t->value));
    }
    return 0;
}

static int catalog_update_check_tags(const Eddy__Catalog *cat,
                                     const Eddy__StreamInfo *s,
                                     const Eddy__StreamUpdate *u,
                                     bool *changes)
{
    bool removing = u->change_case == EDDY__STREAM_UPDATE__CHANGE_REMOVE_TAGS;
    size_t tags_after;
    int rv = catalog_update_tag_set_check(s->tags, s->n_tags, removing ? NULL : u->add_tags,
                                          removing ? u->remove_tags : NULL, changes, &tags_after);
    if (rv != 0 || removing) {
        return rv;
    }
    size_t after = catalog_update_settings_bytes(s) -
                   catalog_update_tag_set_bytes(s->tags, s->n_tags) + tags_after;
    return catalog_update_budget(cat, s, after);
}

static int catalog_update_check_retention(const Eddy__StreamInfo *s,
                                          const Eddy__StreamUpdate *u,
                                          bool *changes)
{
    bool up = u->change_case == EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS;
    uint32_t hours = up ? u->increase_retention_hours : u->decrease_retention_hours;
    uint32_t now = catalog_update_retention(s);
    if (!catalog_update_retention_is_valid(hours) || (up && hours < now) || (!up && hours > now)) {
        return -EDDY_EINVAL;
    }
    *changes = hours != now;
    return 0;
}

static int catalog_update_check_mode(const Eddy__Catalog *cat,
                                     const Eddy__StreamInfo *s,
                                     const Eddy__StreamUpdate *u,
                                     uint64_t now_ms,
                                     bool *changes)
{
    if (u->set_mode != EDDY__STREAM_MODE__MODE_PROVISIONED &&
        u->set_mode != EDDY__STREAM_MODE__MODE_ON_DEMAND) {
        return -EDDY_EINVAL;
    }
    if (u->mode_warm_throughput_mibps != 0) {
        int rv = catalog_update_warm_check(cat, u->set_mode, u->mode_warm_throughput_mibps, now_ms);
        if (rv != 0) {
            return rv;
        }
    }
    *changes =
        u->set_mode != s->mode || (u->mode_warm_throughput_mibps != 0 &&
                                   u->mode_warm_throughput_mibps != s->warm_throughput_mibps);
    return 0;
}

static int catalog_update_check_encryption(const Eddy__Catalog *cat,
                                           const Eddy__StreamInfo *s,
                                           const Eddy__Encryption *enc,
                                           bool *changes)
{
    if (enc == NULL) {
        return -EDDY_EINVAL;
    }
    const char *type = catalog_update_str(enc->type);
    const char *key = catalog_update_str(enc->key_id);
    if (strcmp(type, "NONE") == 0) {
        *changes = catalog_update_is_kms(s);
        return 0;
    }
    size_t key_len = strnlen(key, COORD_KEY_ID_BYTES_MAX + 1);
    if (strcmp(type, "KMS") != 0 || key_len == 0 || key_len > COORD_KEY_ID_BYTES_MAX) {
        return -EDDY_EINVAL;
    }
    *changes = !catalog_update_is_kms(s) || strcmp(catalog_update_str(s->key_id), key) != 0;
    size_t after =
        catalog_update_settings_bytes(s) - strlen(catalog_update_str(s->key_id)) + key_len;
    return catalog_update_budget(cat, s, after);
}

static int catalog_update_check_policy(const Eddy__Catalog *cat,
                                       const Eddy__StreamInfo *s,
                                       const Eddy__StreamUpdate *u,
                                       bool *changes)
{
    const char *old = catalog_update_str(s->policy);
    if (u->change_case == EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY) {
        *changes = old[0] != '\0';
        return 0;
    }
    const char *doc = catalog_update_str(u->put_policy);
    size_t len = strnlen(doc, COORD_POLICY_BYTES_MAX + 1);
    if (len == 0 || len > COORD_POLICY_BYTES_MAX) {
        return -EDDY_EINVAL;
    }
    *changes = strcmp(old, doc) != 0;
    return catalog_update_budget(cat, s, catalog_update_settings_bytes(s) - strlen(old) + len);
}

/* The argument checks of u against s (before the status check). */
static int catalog_update_check_change(const Eddy__Catalog *cat,
                                       const Eddy__StreamInfo *s,
                                       const Eddy__StreamUpdate *u,
                                       uint64_t now_ms,
                                       bool *changes)
{
    uint32_t bits = 0;
    *changes = false;
    if (u->change_case != EDDY__STREAM_UPDATE__CHANGE_SET_MODE &&
        u->mode_warm_throughput_mibps != 0) {
        return -EDDY_EINVAL; /* only UpdateStreamMode asks warm throughput with a change */
    }
    switch (u->change_case) {
    case EDDY__STREAM_UPDATE__CHANGE_ADD_TAGS:
    case EDDY__STREAM_UPDATE__CHANGE_REMOVE_TAGS:
        return catalog_update_check_tags(cat, s, u, changes);
    case EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS:
    case EDDY__STREAM_UPDATE__CHANGE_DECREASE_RETENTION_HOURS:
        return catalog_update_check_retention(s, u, changes);
    case EDDY__STREAM_UPDATE__CHANGE_SET_MODE:
        return catalog_update_check_mode(cat, s, u, now_ms, changes);
    case EDDY__STREAM_UPDATE__CHANGE_ENABLE_METRICS:
    case EDDY__STREAM_UPDATE__CHANGE_DISABLE_METRICS: {
        bool on = u->change_case == EDDY__STREAM_UPDATE__CHANGE_ENABLE_METRICS;
        if (!catalog_update_metric_bits(on ? u->enable_metrics : u->disable_metrics, &bits)) {
            return -EDDY_EINVAL;
        }
        uint32_t now = catalog_update_stream_metrics(s);
        *changes = (on ? now | bits : now & ~bits) != now;
        return 0;
    }
    case EDDY__STREAM_UPDATE__CHANGE_SET_ENCRYPTION:
        return catalog_update_check_encryption(cat, s, u->set_encryption, changes);
    case EDDY__STREAM_UPDATE__CHANGE_PUT_POLICY:
    case EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY:
        return catalog_update_check_policy(cat, s, u, changes);
    case EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB:
        if (u->set_max_record_size_kib < COORD_RECORD_SIZE_KIB_MIN ||
            u->set_max_record_size_kib > COORD_RECORD_SIZE_KIB_MAX) {
            return -EDDY_EINVAL;
        }
        *changes = u->set_max_record_size_kib != catalog_update_record_kib(s);
        return 0;
    case EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS: {
        int rv = catalog_update_warm_check(cat, s->mode, u->set_warm_throughput_mibps, now_ms);
        *changes = u->set_warm_throughput_mibps != s->warm_throughput_mibps;
        return rv;
    }
    default:
        return -EDDY_EMALFORMED;
    }
}

static size_t catalog_update_stream_pos(const Eddy__Catalog *cat, const char *name)
{
    for (size_t i = 0; i < cat->n_streams; i++) {
        if (strcmp(cat->streams[i]->name, name) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* The check with, on success, the stream's position and whether it changes. */
static int catalog_update_check_full(const Eddy__Catalog *cat,
                                     const Eddy__StreamUpdate *u,
                                     uint64_t now_ms,
                                     size_t *pos,
                                     bool *changes)
{
    *pos = SIZE_MAX;
    *changes = false;
    if (u == NULL || u->name == NULL ||
        !catalog_stream_name_is_valid(u->name, strnlen(u->name, KIN_STREAM_NAME_LEN_MAX + 1))) {
        return -EDDY_EINVAL;
    }
    struct catalog_update_rule rule = {0};
    if (!catalog_update_rule_of(u->change_case, &rule)) {
        return -EDDY_EMALFORMED;
    }
    size_t p = catalog_update_stream_pos(cat, u->name);
    if (p == SIZE_MAX || (u->created_ms != 0 && cat->streams[p]->created_ms != u->created_ms)) {
        return -EDDY_ENOTFOUND;
    }
    *pos = p;
    const Eddy__StreamInfo *s = cat->streams[p];
    int rv = catalog_update_check_change(cat, s, u, now_ms, changes);
    if (rv != 0) {
        return rv;
    }
    bool status_ok = s->status == EDDY__STREAM_STATUS__STREAM_ACTIVE ||
                     (rule.updating_ok && s->status == EDDY__STREAM_STATUS__STREAM_UPDATING);
    return status_ok ? 0 : -EDDY_EINUSE;
}

int catalog_update_check(const Eddy__Catalog *cat,
                         const Eddy__StreamUpdate *u,
                         uint64_t now_ms,
                         const Eddy__StreamInfo **stream)
{
    size_t pos;
    bool changes;
    int rv = catalog_update_check_full(cat, u, now_ms, &pos, &changes);
    *stream = pos == SIZE_MAX ? NULL : cat->streams[pos];
    return rv;
}

/* ---- apply ---- */

/* Makes the change (checked) to s. -ENOMEM with s unchanged. */
static int
catalog_update_change(Eddy__StreamInfo *s, const Eddy__StreamUpdate *u, ProtobufCAllocator *a)
{
    uint32_t bits = 0;
    switch (u->change_case) {
    case EDDY__STREAM_UPDATE__CHANGE_ADD_TAGS:
        return catalog_update_tag_set_add(&s->tags, &s->n_tags, u->add_tags, a);
    case EDDY__STREAM_UPDATE__CHANGE_REMOVE_TAGS:
        return catalog_update_tag_set_remove(&s->tags, &s->n_tags, u->remove_tags, a);
    case EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS:
        s->retention_hours = u->increase_retention_hours;
        return 0;
    case EDDY__STREAM_UPDATE__CHANGE_DECREASE_RETENTION_HOURS:
        s->retention_hours = u->decrease_retention_hours;
        return 0;
    case EDDY__STREAM_UPDATE__CHANGE_SET_MODE:
        s->mode = u->set_mode;
        if (u->set_mode == EDDY__STREAM_MODE__MODE_PROVISIONED) {
            s->warm_throughput_mibps = 0; /* a provisioned stream has none */
        } else if (u->mode_warm_throughput_mibps != 0) {
            s->warm_throughput_mibps = u->mode_warm_throughput_mibps;
        }
        return 0;
    case EDDY__STREAM_UPDATE__CHANGE_ENABLE_METRICS:
        (void)catalog_update_metric_bits(u->enable_metrics, &bits);
        return catalog_update_metrics_set(s, catalog_update_stream_metrics(s) | bits, a);
    case EDDY__STREAM_UPDATE__CHANGE_DISABLE_METRICS:
        (void)catalog_update_metric_bits(u->disable_metrics, &bits);
        return catalog_update_metrics_set(s, catalog_update_stream_metrics(s) & ~bits, a);
    case EDDY__STREAM_UPDATE__CHANGE_SET_ENCRYPTION: {
        bool kms = strcmp(catalog_update_str(u->set_encryption->type), "KMS") == 0;
        const char *key = kms ? catalog_update_str(u->set_encryption->key_id) : "";
        char *type = (char *)protobuf_c_empty_string;
        if (kms && (type = catalog_update_strdup(a, "KMS")) == NULL) {
            return -ENOMEM;
        }
        if (catalog_update_str_set(a, &s->key_id, key) != 0) {
            catalog_update_str_free(a, type);
            return -ENOMEM;
        }
        catalog_update_str_free(a, s->encryption_type);
        s->encryption_type = type;
        return 0;
    }
    case EDDY__STREAM_UPDATE__CHANGE_PUT_POLICY:
        return catalog_update_str_set(a, &s->policy, u->put_policy);
    case EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY:
        return catalog_update_str_set(a, &s->policy, "");
    case EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB:
        s->max_record_size_kib = u->set_max_record_size_kib;
        return 0;
    case EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS:
        s->warm_throughput_mibps = u->set_warm_throughput_mibps;
        return 0;
    default:
        break;
    }
    EDDY_ASSERT(0); /* catalog_update_check_full knows every change */
    return -EDDY_EMALFORMED;
}

int catalog_update_apply(Eddy__Catalog *cat,
                         const Eddy__StreamUpdate *u,
                         uint64_t now_ms,
                         ProtobufCAllocator *a)
{
    size_t pos;
    bool changes;
    int rv = catalog_update_check_full(cat, u, now_ms, &pos, &changes);
    if (rv != 0 || !changes) {
        return rv;
    }
    Eddy__StreamInfo *s = cat->streams[pos];
    rv = catalog_update_change(s, u, a);
    if (rv != 0) {
        return rv;
    }
    struct catalog_update_rule rule = {0};
    (void)catalog_update_rule_of(u->change_case, &rule);
    if (rule.sets_updating) {
        EDDY_ASSERT(s->status == EDDY__STREAM_STATUS__STREAM_ACTIVE);
        s->status = EDDY__STREAM_STATUS__STREAM_UPDATING;
        s->status_changed_ms = now_ms;
        s->settings_updating = true;
    }
    cat->version++;
    EDDY_DEBUG_ASSERT(catalog_update_settings_are_valid(s));
    return 0;
}

/* ---- account ---- */

bool catalog_update_commitment_is_active(const Eddy__AccountSettings *a, uint64_t now_ms)
{
    return a != NULL && a->commitment_enabled && (a->ended_ms == 0 || now_ms < a->ended_ms);
}

bool catalog_update_account_is_valid(const Eddy__AccountSettings *a)
{
    if (a == NULL) {
        return true;
    }
    if (a->commitment_enabled &&
        (a->started_ms == 0 || a->earliest_end_ms < a->started_ms + COORD_COMMITMENT_MIN_MS)) {
        return false;
    }
    return a->ended_ms == 0 || a->ended_ms >= a->started_ms;
}

/* The settings after asking for enabled at now_ms (the rules in the header). */
static Eddy__AccountSettings
catalog_update_account_next(const Eddy__AccountSettings *cur, bool enabled, uint64_t now_ms)
{
    Eddy__AccountSettings next = *cur;
    bool active = catalog_update_commitment_is_active(cur, now_ms);
    bool pending = active && cur->ended_ms != 0;
    if (enabled) {
        if (pending) {
            next.ended_ms = 0; /* cancels the scheduled end */
        } else if (!active) {
            next.commitment_enabled = true;
            next.started_ms = now_ms;
            next.earliest_end_ms = now_ms + COORD_COMMITMENT_MIN_MS;
            next.ended_ms = 0;
        }
        return next;
    }
    if (active && !pending) {
        /* Before the earliest end the commitment runs on until it. */
        next.ended_ms = now_ms >= cur->earliest_end_ms ? now_ms : cur->earliest_end_ms;
        next.commitment_enabled = now_ms < cur->earliest_end_ms;
    } else if (!active) {
        next.commitment_enabled = false; /* a scheduled end that has passed */
    }
    return next;
}

int catalog_update_account_apply(Eddy__Catalog *cat,
                                 const Eddy__AccountSettings *want,
                                 uint64_t now_ms,
                                 ProtobufCAllocator *a)
{
    if (cat->iterator_key.len == 0) {
        return -EDDY_EUNAVAILABLE;
    }
    if (want == NULL) {
        return -EDDY_EINVAL;
    }
    Eddy__AccountSettings cur = EDDY__ACCOUNT_SETTINGS__INIT;
    if (cat->account != NULL) {
        cur = *cat->account;
    }
    Eddy__AccountSettings next =
        catalog_update_account_next(&cur, want->commitment_enabled, now_ms);
    if (next.commitment_enabled == cur.commitment_enabled && next.started_ms == cur.started_ms &&
        next.ended_ms == cur.ended_ms && next.earliest_end_ms == cur.earliest_end_ms) {
        return 0;
    }
    if (cat->account == NULL) {
        Eddy__AccountSettings *acct = a->alloc(a->allocator_data, sizeof(*acct));
        if (acct == NULL) {
            return -ENOMEM;
        }
        eddy__account_settings__init(acct);
        cat->account = acct;
    }
    cat->account->commitment_enabled = next.commitment_enabled;
    cat->account->started_ms = next.started_ms;
    cat->account->ended_ms = next.ended_ms;
    cat->account->earliest_end_ms = next.earliest_end_ms;
    cat->version++;
    EDDY_ASSERT(catalog_update_account_is_valid(cat->account));
    return 0;
}

/* ---- invariants ---- */

bool catalog_update_tag_set_is_valid(Eddy__Tag *const *tags, size_t n)
{
    if (n > COORD_TAGS_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!catalog_update_tag_is_valid(tags[i])) {
            return false;
        }
        if (i > 0 && strcmp(tags[i - 1]->key, tags[i]->key) >= 0) {
            return false;
        }
    }
    return true;
}

static bool catalog_update_metrics_are_valid(const Eddy__StreamInfo *s)
{
    if (s->n_shard_level_metrics > COORD_METRICS_COUNT) {
        return false;
    }
    int prev = -1;
    for (size_t i = 0; i < s->n_shard_level_metrics; i++) {
        int k = catalog_update_metric_index(catalog_update_str(s->shard_level_metrics[i]));
        if (k <= prev) {
            return false; /* unknown (-1), repeated or out of order */
        }
        prev = k;
    }
    return true;
}

bool catalog_update_settings_are_valid(const Eddy__StreamInfo *s)
{
    if (!catalog_update_tag_set_is_valid(s->tags, s->n_tags) ||
        !catalog_update_metrics_are_valid(s)) {
        return false;
    }
    const char *type = catalog_update_str(s->encryption_type);
    size_t key_len = strnlen(catalog_update_str(s->key_id), COORD_KEY_ID_BYTES_MAX + 1);
    if (strcmp(type, "KMS") == 0) {
        if (key_len == 0 || key_len > COORD_KEY_ID_BYTES_MAX) {
            return false;
        }
    } else if ((type[0] != '\0' && strcmp(type, "NONE") != 0) || key_len != 0) {
        return false;
    }
    if (strnlen(catalog_update_str(s->policy), COORD_POLICY_BYTES_MAX + 1) >
        COORD_POLICY_BYTES_MAX) {
        return false;
    }
    if (s->max_record_size_kib != 0 && (s->max_record_size_kib < COORD_RECORD_SIZE_KIB_MIN ||
                                        s->max_record_size_kib > COORD_RECORD_SIZE_KIB_MAX)) {
        return false;
    }
    if (s->warm_throughput_mibps > COORD_WARM_THROUGHPUT_MIBPS_MAX) {
        return false;
    }
    return !s->settings_updating || s->status == EDDY__STREAM_STATUS__STREAM_UPDATING;
}

size_t catalog_update_settings_bytes(const Eddy__StreamInfo *s)
{
    size_t n = 2 * CATALOG_UPDATE_FIELD_OVERHEAD + strlen(catalog_update_str(s->key_id)) +
               strlen(catalog_update_str(s->policy));
    n += catalog_update_tag_set_bytes(s->tags, s->n_tags);
    /* The consumers' tags and policies share the budget (catalog_consumer.h). */
    for (size_t i = 0; i < s->n_consumers; i++) {
        n += catalog_update_consumer_settings_bytes(s->consumers[i]);
    }
    return n;
}

size_t catalog_update_consumer_settings_bytes(const Eddy__ConsumerInfo *ci)
{
    return CATALOG_UPDATE_FIELD_OVERHEAD + strlen(catalog_update_str(ci->policy)) +
           catalog_update_tag_set_bytes(ci->tags, ci->n_tags);
}

size_t catalog_update_catalog_settings_bytes(const Eddy__Catalog *cat)
{
    size_t n = 0;
    for (size_t i = 0; i < cat->n_streams; i++) {
        n += catalog_update_settings_bytes(cat->streams[i]);
    }
    return n;
}
