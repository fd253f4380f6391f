/*
 * Consumers in the catalogue (see catalog_consumer.h). A change is checked
 * whole (catalog_consumer_check_full) before it changes anything; each change
 * then builds its new parts first and frees what it replaces only once
 * nothing can fail any more, so -ENOMEM leaves the stream as it was. Every
 * part is allocated with the catalogue's allocator, which protobuf-c's
 * free_unpacked uses to free the tree. Tag sets and the settings budget are
 * catalog_update.c's, shared with streams.
 */
#include "catalog_consumer.h"
#include "catalog.h"
#include "catalog_update.h"
#include "coord_limits.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <errno.h>
#include <string.h>

#define CATALOG_CONSUMER_STATUS_COUNT 3

/* allowed[from][to]; the diagonal is the accepted no-op. */
static const bool
    catalog_consumer_allowed[CATALOG_CONSUMER_STATUS_COUNT][CATALOG_CONSUMER_STATUS_COUNT] = {
        [EDDY__CONSUMER_STATUS__CONSUMER_CREATING] =
            {
                [EDDY__CONSUMER_STATUS__CONSUMER_CREATING] = true,
                [EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE] = true,
                [EDDY__CONSUMER_STATUS__CONSUMER_DELETING] = true,
            },
        [EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE] =
            {
                [EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE] = true,
                [EDDY__CONSUMER_STATUS__CONSUMER_DELETING] = true,
            },
        [EDDY__CONSUMER_STATUS__CONSUMER_DELETING] =
            {
                [EDDY__CONSUMER_STATUS__CONSUMER_DELETING] = true,
            },
};

static bool catalog_consumer_status_is_valid(int status)
{
    return status >= 0 && status < CATALOG_CONSUMER_STATUS_COUNT;
}

bool catalog_consumer_transition_is_allowed(Eddy__ConsumerStatus from, Eddy__ConsumerStatus to)
{
    EDDY_ASSERT(catalog_consumer_status_is_valid((int)from));
    EDDY_ASSERT(catalog_consumer_status_is_valid((int)to));
    return catalog_consumer_allowed[from][to];
}

bool catalog_consumer_may_remove(const Eddy__ConsumerInfo *ci, uint64_t now_ms)
{
    return ci->status == EDDY__CONSUMER_STATUS__CONSUMER_DELETING &&
           now_ms / 1000 > ci->created_ms / 1000;
}

static const char *catalog_consumer_str(const char *s)
{
    return s != NULL ? s : "";
}

static bool catalog_consumer_name_is_valid(const char *name)
{
    return name != NULL &&
           catalog_stream_name_is_valid(name, strnlen(name, KIN_STREAM_NAME_LEN_MAX + 1));
}

static size_t catalog_consumer_pos(const Eddy__StreamInfo *s, const char *name)
{
    for (size_t i = 0; i < s->n_consumers; i++) {
        if (strcmp(s->consumers[i]->name, name) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

const Eddy__ConsumerInfo *catalog_consumer_find(const Eddy__StreamInfo *s, const char *name)
{
    size_t pos = catalog_consumer_pos(s, name);
    return pos == SIZE_MAX ? NULL : s->consumers[pos];
}

static size_t catalog_consumer_stream_pos(const Eddy__Catalog *cat, const char *name)
{
    for (size_t i = 0; i < cat->n_streams; i++) {
        if (strcmp(cat->streams[i]->name, name) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* ---- checks ---- */

/* The catalogue's settings bytes once the consumer holding before_bytes
 * holds after_bytes (before_bytes 0 for a new one). */
static int
catalog_consumer_budget(const Eddy__Catalog *cat, size_t before_bytes, size_t after_bytes)
{
    size_t total = catalog_update_catalog_settings_bytes(cat) - before_bytes;
    return total + after_bytes > COORD_SETTINGS_BYTES_MAX ? -EDDY_ELIMIT : 0;
}

/* A register's tags (ChangeConsumer.tags): a valid set, or none. */
static bool catalog_consumer_register_tags_are_valid(const Eddy__ConsumerChange *ch)
{
    if (ch->n_tags == 0) {
        return true;
    }
    Eddy__TagList l = EDDY__TAG_LIST__INIT;
    l.n_tags = ch->n_tags;
    l.tags = ch->tags;
    return catalog_update_tag_list_is_valid(&l) &&
           catalog_update_tag_set_is_valid(ch->tags, ch->n_tags);
}

static int catalog_consumer_check_register(const Eddy__Catalog *cat,
                                           const Eddy__StreamInfo *s,
                                           const Eddy__ConsumerChange *ch)
{
    if (ch->consumer_created_ms != 0 || !catalog_consumer_register_tags_are_valid(ch)) {
        return -EDDY_EINVAL;
    }
    if (s->status != EDDY__STREAM_STATUS__STREAM_ACTIVE &&
        s->status != EDDY__STREAM_STATUS__STREAM_UPDATING) {
        return -EDDY_EINUSE;
    }
    if (catalog_consumer_pos(s, ch->name) != SIZE_MAX) {
        return -EDDY_EEXISTS;
    }
    size_t creating = 0;
    for (size_t i = 0; i < s->n_consumers; i++) {
        creating += s->consumers[i]->status == EDDY__CONSUMER_STATUS__CONSUMER_CREATING;
    }
    if (s->n_consumers >= COORD_CONSUMERS_PER_STREAM_MAX ||
        creating >= COORD_CONSUMERS_CREATING_MAX) {
        return -EDDY_ELIMIT;
    }
    Eddy__ConsumerInfo fresh = EDDY__CONSUMER_INFO__INIT;
    fresh.tags = ch->tags;
    fresh.n_tags = ch->n_tags;
    return catalog_consumer_budget(cat, 0, catalog_update_consumer_settings_bytes(&fresh));
}

/* Whether ci's status accepts the change (the table in the header). */
static bool catalog_consumer_status_accepts(const Eddy__ConsumerInfo *ci,
                                            Eddy__ConsumerChange__ChangeCase cc)
{
    switch (cc) {
    case EDDY__CONSUMER_CHANGE__CHANGE_ADD_TAGS:
    case EDDY__CONSUMER_CHANGE__CHANGE_REMOVE_TAGS:
        return ci->status != EDDY__CONSUMER_STATUS__CONSUMER_DELETING;
    case EDDY__CONSUMER_CHANGE__CHANGE_PUT_POLICY:
    case EDDY__CONSUMER_CHANGE__CHANGE_DELETE_POLICY:
        return ci->status == EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE;
    default:
        return true;
    }
}

/* The argument and status checks of a change to the existing ci. */
static int catalog_consumer_check_change(const Eddy__Catalog *cat,
                                         const Eddy__ConsumerInfo *ci,
                                         const Eddy__ConsumerChange *ch,
                                         uint64_t now_ms,
                                         bool *changes)
{
    size_t before = catalog_update_consumer_settings_bytes(ci);
    const char *old = catalog_consumer_str(ci->policy);
    size_t tags_after = 0;
    int rv = 0;
    *changes = false;
    switch (ch->change_case) {
    case EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS:
        if (!catalog_consumer_status_is_valid((int)ch->set_status)) {
            return -EDDY_EINVAL;
        }
        if (!catalog_consumer_transition_is_allowed(ci->status, ch->set_status)) {
            return -EDDY_EINUSE;
        }
        *changes = ci->status != ch->set_status;
        return 0;
    case EDDY__CONSUMER_CHANGE__CHANGE_REMOVE:
        *changes = true;
        return catalog_consumer_may_remove(ci, now_ms) ? 0 : -EDDY_EINUSE;
    case EDDY__CONSUMER_CHANGE__CHANGE_ADD_TAGS:
    case EDDY__CONSUMER_CHANGE__CHANGE_REMOVE_TAGS: {
        bool removing = ch->change_case == EDDY__CONSUMER_CHANGE__CHANGE_REMOVE_TAGS;
        rv = catalog_update_tag_set_check(ci->tags, ci->n_tags, removing ? NULL : ch->add_tags,
                                          removing ? ch->remove_tags : NULL, changes, &tags_after);
        if (rv == 0 && !removing) {
            size_t after = before - catalog_update_tag_set_bytes(ci->tags, ci->n_tags) + tags_after;
            rv = catalog_consumer_budget(cat, before, after);
        }
        break;
    }
    case EDDY__CONSUMER_CHANGE__CHANGE_PUT_POLICY: {
        const char *doc = catalog_consumer_str(ch->put_policy);
        size_t len = strnlen(doc, COORD_POLICY_BYTES_MAX + 1);
        if (len == 0 || len > COORD_POLICY_BYTES_MAX) {
            return -EDDY_EINVAL;
        }
        *changes = strcmp(old, doc) != 0;
        rv = catalog_consumer_budget(cat, before, before - strlen(old) + len);
        break;
    }
    case EDDY__CONSUMER_CHANGE__CHANGE_DELETE_POLICY:
        *changes = old[0] != '\0';
        break;
    default:
        return -EDDY_EMALFORMED;
    }
    if (rv != 0) {
        return rv;
    }
    return catalog_consumer_status_accepts(ci, ch->change_case) ? 0 : -EDDY_EINUSE;
}

/* The check with, on success, the positions and whether anything changes
 * (*cpos is SIZE_MAX for a register). */
static int catalog_consumer_check_full(const Eddy__Catalog *cat,
                                       const Eddy__ConsumerChange *ch,
                                       uint64_t now_ms,
                                       size_t *spos,
                                       size_t *cpos,
                                       bool *changes)
{
    *spos = SIZE_MAX;
    *cpos = SIZE_MAX;
    *changes = false;
    if (ch == NULL || ch->change_case == EDDY__CONSUMER_CHANGE__CHANGE__NOT_SET) {
        return -EDDY_EMALFORMED;
    }
    if (!catalog_consumer_name_is_valid(ch->stream) || !catalog_consumer_name_is_valid(ch->name)) {
        return -EDDY_EINVAL;
    }
    if (ch->change_case != EDDY__CONSUMER_CHANGE__CHANGE_REGISTER && ch->n_tags != 0) {
        return -EDDY_EINVAL; /* tags come with a register only */
    }
    size_t sp = catalog_consumer_stream_pos(cat, ch->stream);
    if (sp == SIZE_MAX ||
        (ch->stream_created_ms != 0 && cat->streams[sp]->created_ms != ch->stream_created_ms)) {
        return -EDDY_ENOTFOUND;
    }
    *spos = sp;
    const Eddy__StreamInfo *s = cat->streams[sp];
    size_t cp = catalog_consumer_pos(s, ch->name);
    if (ch->change_case == EDDY__CONSUMER_CHANGE__CHANGE_REGISTER) {
        *cpos = cp; /* the holder of the name, for -EDDY_EEXISTS */
        *changes = true;
        return catalog_consumer_check_register(cat, s, ch);
    }
    if (cp == SIZE_MAX ||
        (ch->consumer_created_ms != 0 && s->consumers[cp]->created_ms != ch->consumer_created_ms)) {
        return -EDDY_ENOTFOUND;
    }
    *cpos = cp;
    return catalog_consumer_check_change(cat, s->consumers[cp], ch, now_ms, changes);
}

int catalog_consumer_check(const Eddy__Catalog *cat,
                           const Eddy__ConsumerChange *ch,
                           uint64_t now_ms,
                           const Eddy__StreamInfo **stream,
                           const Eddy__ConsumerInfo **consumer)
{
    size_t sp;
    size_t cp;
    bool changes;
    int rv = catalog_consumer_check_full(cat, ch, now_ms, &sp, &cp, &changes);
    *stream = sp == SIZE_MAX ? NULL : cat->streams[sp];
    *consumer = *stream == NULL || cp == SIZE_MAX ? NULL : (*stream)->consumers[cp];
    return rv;
}

/* ---- apply ---- */

static char *catalog_consumer_strdup(ProtobufCAllocator *a, const char *src)
{
    size_t n = strlen(src);
    char *p = a->alloc(a->allocator_data, n + 1);
    if (p != NULL) {
        memcpy(p, src, n + 1);
    }
    return p;
}

/* A new CREATING consumer for a checked register; NULL when out of memory. */
static Eddy__ConsumerInfo *
catalog_consumer_new(const Eddy__ConsumerChange *ch, uint64_t now_ms, ProtobufCAllocator *a)
{
    Eddy__ConsumerInfo *ci = a->alloc(a->allocator_data, sizeof(*ci));
    if (ci == NULL) {
        return NULL;
    }
    eddy__consumer_info__init(ci);
    ci->name = catalog_consumer_strdup(a, ch->name);
    if (ci->name == NULL) {
        goto err_after_info;
    }
    ci->created_ms = now_ms;
    ci->status = EDDY__CONSUMER_STATUS__CONSUMER_CREATING;
    ci->status_changed_ms = now_ms;
    if (ch->n_tags != 0) {
        Eddy__TagList l = EDDY__TAG_LIST__INIT;
        l.n_tags = ch->n_tags;
        l.tags = ch->tags;
        if (catalog_update_tag_set_add(&ci->tags, &ci->n_tags, &l, a) != 0) {
            goto err_after_info;
        }
    }
    return ci;

err_after_info:
    eddy__consumer_info__free_unpacked(ci, a);
    return NULL;
}

static int catalog_consumer_register(Eddy__StreamInfo *s,
                                     const Eddy__ConsumerChange *ch,
                                     uint64_t now_ms,
                                     ProtobufCAllocator *a)
{
    EDDY_ASSERT(s->n_consumers < COORD_CONSUMERS_PER_STREAM_MAX);
    Eddy__ConsumerInfo *ci = catalog_consumer_new(ch, now_ms, a);
    if (ci == NULL) {
        return -ENOMEM;
    }
    Eddy__ConsumerInfo **list = a->alloc(a->allocator_data, (s->n_consumers + 1) * sizeof(*list));
    if (list == NULL) {
        eddy__consumer_info__free_unpacked(ci, a);
        return -ENOMEM;
    }
    if (s->n_consumers > 0) {
        memcpy(list, s->consumers, s->n_consumers * sizeof(*list));
    }
    list[s->n_consumers] = ci;
    a->free(a->allocator_data, s->consumers);
    s->consumers = list;
    s->n_consumers++;
    return 0;
}

static void catalog_consumer_remove(Eddy__StreamInfo *s, size_t pos, ProtobufCAllocator *a)
{
    EDDY_ASSERT(pos < s->n_consumers);
    eddy__consumer_info__free_unpacked(s->consumers[pos], a);
    memmove(&s->consumers[pos], &s->consumers[pos + 1],
            (s->n_consumers - pos - 1) * sizeof(*s->consumers));
    s->n_consumers--;
    if (s->n_consumers == 0) {
        a->free(a->allocator_data, s->consumers);
        s->consumers = NULL;
    }
}

/* Makes the checked change to ci. -ENOMEM with ci unchanged. */
static int catalog_consumer_change(Eddy__ConsumerInfo *ci,
                                   const Eddy__ConsumerChange *ch,
                                   uint64_t now_ms,
                                   ProtobufCAllocator *a)
{
    switch (ch->change_case) {
    case EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS:
        ci->status = ch->set_status;
        ci->status_changed_ms = now_ms;
        return 0;
    case EDDY__CONSUMER_CHANGE__CHANGE_ADD_TAGS:
        return catalog_update_tag_set_add(&ci->tags, &ci->n_tags, ch->add_tags, a);
    case EDDY__CONSUMER_CHANGE__CHANGE_REMOVE_TAGS:
        return catalog_update_tag_set_remove(&ci->tags, &ci->n_tags, ch->remove_tags, a);
    case EDDY__CONSUMER_CHANGE__CHANGE_PUT_POLICY:
        return catalog_update_str_set(a, &ci->policy, ch->put_policy);
    case EDDY__CONSUMER_CHANGE__CHANGE_DELETE_POLICY:
        return catalog_update_str_set(a, &ci->policy, "");
    default:
        break;
    }
    EDDY_ASSERT(0); /* register and remove are not changes of ci */
    return -EDDY_EMALFORMED;
}

int catalog_consumer_apply(Eddy__Catalog *cat,
                           const Eddy__ConsumerChange *ch,
                           uint64_t now_ms,
                           ProtobufCAllocator *a)
{
    size_t sp;
    size_t cp;
    bool changes;
    int rv = catalog_consumer_check_full(cat, ch, now_ms, &sp, &cp, &changes);
    if (rv != 0 || !changes) {
        return rv;
    }
    Eddy__StreamInfo *s = cat->streams[sp];
    switch (ch->change_case) {
    case EDDY__CONSUMER_CHANGE__CHANGE_REGISTER:
        rv = catalog_consumer_register(s, ch, now_ms, a);
        break;
    case EDDY__CONSUMER_CHANGE__CHANGE_REMOVE:
        catalog_consumer_remove(s, cp, a);
        break;
    default:
        rv = catalog_consumer_change(s->consumers[cp], ch, now_ms, a);
        break;
    }
    if (rv != 0) {
        return rv;
    }
    cat->version++;
    EDDY_DEBUG_ASSERT(catalog_consumers_are_valid(s));
    return 0;
}

/* ---- the stream's consumers ---- */

static bool catalog_consumer_is_valid(const Eddy__ConsumerInfo *ci)
{
    return ci != NULL && catalog_consumer_name_is_valid(ci->name) &&
           catalog_consumer_status_is_valid((int)ci->status) &&
           catalog_update_tag_set_is_valid(ci->tags, ci->n_tags) &&
           strnlen(catalog_consumer_str(ci->policy), COORD_POLICY_BYTES_MAX + 1) <=
               COORD_POLICY_BYTES_MAX;
}

bool catalog_consumers_are_valid(const Eddy__StreamInfo *s)
{
    if (s->n_consumers > COORD_CONSUMERS_PER_STREAM_MAX) {
        return false;
    }
    for (size_t i = 0; i < s->n_consumers; i++) {
        if (!catalog_consumer_is_valid(s->consumers[i])) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->consumers[j]->name, s->consumers[i]->name) == 0) {
                return false;
            }
        }
    }
    return true;
}

bool catalog_consumers_delete_all(Eddy__StreamInfo *s, uint64_t now_ms)
{
    bool changed = false;
    for (size_t i = 0; i < s->n_consumers; i++) {
        Eddy__ConsumerInfo *ci = s->consumers[i];
        if (ci->status != EDDY__CONSUMER_STATUS__CONSUMER_DELETING) {
            ci->status = EDDY__CONSUMER_STATUS__CONSUMER_DELETING;
            ci->status_changed_ms = now_ms;
            changed = true;
        }
    }
    return changed;
}

size_t catalog_consumers_registered(const Eddy__StreamInfo *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_consumers; i++) {
        n += s->consumers[i]->status != EDDY__CONSUMER_STATUS__CONSUMER_DELETING;
    }
    return n;
}

uint64_t catalog_consumers_time_floor_ms(const Eddy__StreamInfo *s)
{
    uint64_t floor_ms = 0;
    for (size_t i = 0; i < s->n_consumers; i++) {
        const Eddy__ConsumerInfo *ci = s->consumers[i];
        if (ci->created_ms > floor_ms) {
            floor_ms = ci->created_ms;
        }
        if (ci->status_changed_ms > floor_ms) {
            floor_ms = ci->status_changed_ms;
        }
    }
    return floor_ms;
}
