/*
 * The catalogue state machine (see catalog.h). Every part of the held
 * Eddy__Catalog is allocated through catalog_pb_allocator, so the tree can be
 * freed with protobuf-c's free_unpacked and parts of a decoded entry (a new
 * stream, the init lists) can be moved into it without copying. Entries and
 * snapshots are bytes from the disk: they are validated, never asserted on.
 */
#include "catalog.h"
#include "catalog_consumer.h"
#include "catalog_group.h"
#include "catalog_reshard.h"
#include "catalog_update.h"
#include "coord_limits.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/rgroup.h"
#include "eddy/u128.h"

#include <errno.h>
#include <string.h>

struct catalog {
    Eddy__Catalog *cat; /* owned; all of it from catalog_pb_allocator */
    size_t streams_cap; /* allocated slots of cat->streams */
    size_t shard_count; /* sum of n_shards over cat->streams */
};

/* ---- allocation ---- */

static void *catalog_pb_alloc(void *data, size_t size)
{
    (void)data;
    return eddy_malloc(size ? size : 1);
}

static void catalog_pb_free(void *data, void *ptr)
{
    (void)data;
    eddy_free(ptr);
}

static ProtobufCAllocator catalog_pb_allocator = {
    .alloc = catalog_pb_alloc,
    .free = catalog_pb_free,
    .allocator_data = NULL,
};

/* protobuf-c's unpack returns NULL both for bad bytes and for a failed
 * allocation; decoding through this allocator tells them apart. Memory it
 * hands out is freed by catalog_pb_allocator like the rest. */
static void *catalog_pb_alloc_tracked(void *data, size_t size)
{
    void *p = eddy_malloc(size ? size : 1);
    if (p == NULL) {
        *(bool *)data = true;
    }
    return p;
}

/* Decodes with desc; *nomem tells why a NULL came back. */
static ProtobufCMessage *catalog_pb_unpack(const ProtobufCMessageDescriptor *desc,
                                           const uint8_t *buf,
                                           size_t len,
                                           bool *nomem)
{
    *nomem = false;
    ProtobufCAllocator a = {
        .alloc = catalog_pb_alloc_tracked,
        .free = catalog_pb_free,
        .allocator_data = nomem,
    };
    return protobuf_c_message_unpack(desc, &a, len, buf);
}

/* ---- the stream status table ---- */

#define CATALOG_STATUS_COUNT 4

/* allowed[from][to]; the diagonal is the accepted no-op. */
static const bool catalog_status_allowed[CATALOG_STATUS_COUNT][CATALOG_STATUS_COUNT] = {
    [EDDY__STREAM_STATUS__STREAM_CREATING] =
        {
            [EDDY__STREAM_STATUS__STREAM_CREATING] = true,
            [EDDY__STREAM_STATUS__STREAM_ACTIVE] = true,
            [EDDY__STREAM_STATUS__STREAM_DELETING] = true,
        },
    [EDDY__STREAM_STATUS__STREAM_ACTIVE] =
        {
            [EDDY__STREAM_STATUS__STREAM_ACTIVE] = true,
            [EDDY__STREAM_STATUS__STREAM_UPDATING] = true,
            [EDDY__STREAM_STATUS__STREAM_DELETING] = true,
        },
    /* DeleteStream of an UPDATING stream is accepted, as AWS accepts it of a
     * CREATING one: the pending reshard or settings change is abandoned. */
    [EDDY__STREAM_STATUS__STREAM_UPDATING] =
        {
            [EDDY__STREAM_STATUS__STREAM_UPDATING] = true,
            [EDDY__STREAM_STATUS__STREAM_ACTIVE] = true,
            [EDDY__STREAM_STATUS__STREAM_DELETING] = true,
        },
    [EDDY__STREAM_STATUS__STREAM_DELETING] =
        {
            [EDDY__STREAM_STATUS__STREAM_DELETING] = true,
        },
};

static bool catalog_status_is_valid(int status)
{
    return status >= 0 && status < CATALOG_STATUS_COUNT;
}

bool catalog_status_transition_is_allowed(Eddy__StreamStatus from, Eddy__StreamStatus to)
{
    EDDY_ASSERT(catalog_status_is_valid((int)from));
    EDDY_ASSERT(catalog_status_is_valid((int)to));
    return catalog_status_allowed[from][to];
}

/* ---- validation of decoded bytes ---- */

bool catalog_stream_name_is_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > KIN_STREAM_NAME_LEN_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool catalog_address_is_valid(const char *s, bool may_be_empty)
{
    size_t len = s == NULL ? 0 : strnlen(s, COORD_ADDRESS_LEN_MAX + 1);
    if (len > COORD_ADDRESS_LEN_MAX) {
        return false;
    }
    return len > 0 || may_be_empty;
}

static const Eddy__NodeInfo *
catalog_nodes_find(Eddy__NodeInfo *const *nodes, size_t n_nodes, uint32_t id)
{
    for (size_t i = 0; i < n_nodes; i++) {
        if (nodes[i]->id == id) {
            return nodes[i];
        }
    }
    return NULL;
}

/* Ids 1..COORD_NODE_ID_MAX, distinct; rpc and raft addresses present. */
static bool catalog_nodes_are_valid(Eddy__NodeInfo *const *nodes, size_t n_nodes)
{
    if (n_nodes == 0 || n_nodes > COORD_NODES_MAX) {
        return false;
    }
    for (size_t i = 0; i < n_nodes; i++) {
        const Eddy__NodeInfo *n = nodes[i];
        if (n->id == 0 || n->id > COORD_NODE_ID_MAX) {
            return false;
        }
        if (!catalog_address_is_valid(n->rpc_address, false) ||
            !catalog_address_is_valid(n->raft_address, false) ||
            !catalog_address_is_valid(n->gateway_address, true)) {
            return false;
        }
        if (catalog_nodes_find(nodes, i, n->id) != NULL) {
            return false;
        }
    }
    return true;
}

/* Ids strictly ascending from 1; replicas distinct known nodes. */
static bool catalog_groups_are_valid(Eddy__GroupInfo *const *groups,
                                     size_t n_groups,
                                     Eddy__NodeInfo *const *nodes,
                                     size_t n_nodes)
{
    if (n_groups == 0 || n_groups > COORD_GROUPS_MAX) {
        return false;
    }
    uint32_t prev_id = 0;
    for (size_t i = 0; i < n_groups; i++) {
        const Eddy__GroupInfo *g = groups[i];
        if (g->id <= prev_id || g->id > COORD_GROUPS_MAX) {
            return false;
        }
        prev_id = g->id;
        if (g->n_replicas == 0 || g->n_replicas > COORD_GROUP_REPLICAS_MAX) {
            return false;
        }
        for (size_t r = 0; r < g->n_replicas; r++) {
            if (catalog_nodes_find(nodes, n_nodes, g->replicas[r]) == NULL) {
                return false;
            }
            for (size_t q = 0; q < r; q++) {
                if (g->replicas[q] == g->replicas[r]) {
                    return false;
                }
            }
        }
    }
    return true;
}

static const Eddy__GroupInfo *
catalog_groups_find(Eddy__GroupInfo *const *groups, size_t n_groups, uint32_t id)
{
    /* Ids are validated strictly ascending: binary search. */
    size_t lo = 0;
    size_t hi = n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (groups[mid]->id == id) {
            return groups[mid];
        }
        if (groups[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Shard i of its stream: 16-byte fields, a known group, parents earlier. */
static bool catalog_shard_is_valid(const Eddy__ShardInfo *s, size_t i, const Eddy__Catalog *cat)
{
    if (s->index != i) {
        return false;
    }
    if (s->hash_start.len != 16 || s->hash_end.len != 16 || s->starting_sequence.len != 16) {
        return false;
    }
    if (s->ending_sequence.len != 0 && s->ending_sequence.len != 16) {
        return false;
    }
    if (u128_from_be(s->hash_start.data) > u128_from_be(s->hash_end.data)) {
        return false;
    }
    if (s->parent < -1 || s->parent >= (int64_t)i) {
        return false;
    }
    if (s->adjacent_parent < -1 || s->adjacent_parent >= (int64_t)i) {
        return false;
    }
    return catalog_groups_find(cat->groups, cat->n_groups, s->group) != NULL;
}

static bool catalog_stream_is_valid(const Eddy__StreamInfo *s, const Eddy__Catalog *cat)
{
    if (s->name == NULL ||
        !catalog_stream_name_is_valid(s->name, strnlen(s->name, KIN_STREAM_NAME_LEN_MAX + 1))) {
        return false;
    }
    if (!catalog_status_is_valid((int)s->status)) {
        return false;
    }
    if (s->mode != EDDY__STREAM_MODE__MODE_PROVISIONED &&
        s->mode != EDDY__STREAM_MODE__MODE_ON_DEMAND) {
        return false;
    }
    if (s->retention_hours != 0 && (s->retention_hours < COORD_RETENTION_HOURS_MIN ||
                                    s->retention_hours > COORD_RETENTION_HOURS_MAX)) {
        return false;
    }
    if (s->n_shards == 0 || s->n_shards > COORD_SHARDS_MAX) {
        return false;
    }
    if (s->n_scaling_ms > COORD_SCALING_CALLS_MAX) {
        return false; /* COORD_STREAM_INFO_BYTES_MAX counts no more */
    }
    if (!catalog_update_settings_are_valid(s) || !catalog_consumers_are_valid(s)) {
        return false;
    }
    for (size_t i = 0; i < s->n_shards; i++) {
        if (!catalog_shard_is_valid(s->shards[i], i, cat)) {
            return false;
        }
    }
    return true;
}

/* A new stream's shards split [0, 2^128-1] into consecutive ranges, all open
 * and without parents. */
static bool catalog_new_shards_are_valid(const Eddy__StreamInfo *s)
{
    if (s->n_shards > COORD_STREAM_SHARDS_MAX) {
        return false;
    }
    u128 next = 0;
    for (size_t i = 0; i < s->n_shards; i++) {
        const Eddy__ShardInfo *sh = s->shards[i];
        if (sh->parent != -1 || sh->adjacent_parent != -1 || sh->ending_sequence.len != 0) {
            return false;
        }
        if (u128_from_be(sh->hash_start.data) != next) {
            return false;
        }
        next = u128_from_be(sh->hash_end.data) + 1; /* wraps to 0 after the last */
    }
    return next == 0;
}

/* Everything a restored catalogue must satisfy. */
static bool catalog_is_valid(const Eddy__Catalog *cat, size_t *shard_count)
{
    bool initialized = cat->iterator_key.len != 0;
    if (!initialized) {
        *shard_count = 0;
        return cat->n_nodes == 0 && cat->n_groups == 0 && cat->n_streams == 0;
    }
    if (cat->iterator_key.len != COORD_ITERATOR_KEY_BYTES ||
        !catalog_nodes_are_valid(cat->nodes, cat->n_nodes) ||
        !catalog_groups_are_valid(cat->groups, cat->n_groups, cat->nodes, cat->n_nodes)) {
        return false;
    }
    if (cat->n_streams > COORD_STREAMS_MAX) {
        return false;
    }
    size_t shards = 0;
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *s = cat->streams[i];
        if (!catalog_stream_is_valid(s, cat)) {
            return false;
        }
        shards += s->n_shards;
        if (shards > COORD_SHARDS_MAX) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cat->streams[j]->name, s->name) == 0) {
                return false;
            }
        }
    }
    if (catalog_update_catalog_settings_bytes(cat) > COORD_SETTINGS_BYTES_MAX ||
        !catalog_update_account_is_valid(cat->account)) {
        return false;
    }
    *shard_count = shards;
    return true;
}

/* ---- lifecycle and lookups ---- */

int catalog_create(struct catalog **out)
{
    struct catalog *c = eddy_calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->cat = eddy_malloc(sizeof(*c->cat));
    if (c->cat == NULL) {
        eddy_free(c);
        return -ENOMEM;
    }
    eddy__catalog__init(c->cat);
    *out = c;
    return 0;
}

void catalog_destroy(struct catalog *c)
{
    if (c == NULL) {
        return;
    }
    eddy__catalog__free_unpacked(c->cat, &catalog_pb_allocator);
    eddy_free(c);
}

const Eddy__Catalog *catalog_get(const struct catalog *c)
{
    return c->cat;
}

uint64_t catalog_version(const struct catalog *c)
{
    return c->cat->version;
}

bool catalog_is_initialized(const struct catalog *c)
{
    return c->cat->iterator_key.len == COORD_ITERATOR_KEY_BYTES;
}

size_t catalog_shard_count(const struct catalog *c)
{
    return c->shard_count;
}

static size_t catalog_stream_pos(const struct catalog *c, const char *name)
{
    for (size_t i = 0; i < c->cat->n_streams; i++) {
        if (strcmp(c->cat->streams[i]->name, name) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

const Eddy__StreamInfo *catalog_find_stream(const struct catalog *c, const char *name)
{
    size_t pos = catalog_stream_pos(c, name);
    return pos == SIZE_MAX ? NULL : c->cat->streams[pos];
}

const Eddy__GroupInfo *catalog_find_group(const struct catalog *c, uint32_t id)
{
    return catalog_groups_find(c->cat->groups, c->cat->n_groups, id);
}

const Eddy__NodeInfo *catalog_find_node(const struct catalog *c, uint32_t id)
{
    return catalog_nodes_find(c->cat->nodes, c->cat->n_nodes, id);
}

uint64_t catalog_time_floor_ms(const struct catalog *c)
{
    uint64_t floor_ms = 0;
    for (size_t i = 0; i < c->cat->n_streams; i++) {
        const Eddy__StreamInfo *s = c->cat->streams[i];
        if (s->created_ms > floor_ms) {
            floor_ms = s->created_ms;
        }
        if (s->status_changed_ms > floor_ms) {
            floor_ms = s->status_changed_ms;
        }
        uint64_t consumers_ms = catalog_consumers_time_floor_ms(s);
        floor_ms = consumers_ms > floor_ms ? consumers_ms : floor_ms;
    }
    return floor_ms;
}

/* ---- the ops: each leaves the catalogue unchanged unless it returns 0 ---- */

/* Moves the lists out of e->init into the empty catalogue. */
static int catalog_apply_init(struct catalog *c, Eddy__Catalog *init)
{
    if (catalog_is_initialized(c)) {
        return -EDDY_EEXISTS;
    }
    if (init->n_streams != 0 || init->iterator_key.len != COORD_ITERATOR_KEY_BYTES ||
        !catalog_nodes_are_valid(init->nodes, init->n_nodes) ||
        !catalog_groups_are_valid(init->groups, init->n_groups, init->nodes, init->n_nodes)) {
        return -EDDY_EINVAL;
    }
    Eddy__Catalog *cat = c->cat;
    EDDY_ASSERT(cat->n_nodes == 0);
    EDDY_ASSERT(cat->n_groups == 0);
    EDDY_ASSERT(cat->n_streams == 0);
    cat->nodes = init->nodes;
    cat->n_nodes = init->n_nodes;
    cat->groups = init->groups;
    cat->n_groups = init->n_groups;
    cat->iterator_key = init->iterator_key;
    cat->next_group_cursor = 0;
    init->nodes = NULL;
    init->n_nodes = 0;
    init->groups = NULL;
    init->n_groups = 0;
    init->iterator_key.data = NULL;
    init->iterator_key.len = 0;
    cat->version++;
    EDDY_ASSERT(catalog_is_initialized(c));
    return 0;
}

/* Takes *sp (setting it NULL) when the stream is added. */
static int catalog_apply_create(struct catalog *c, Eddy__StreamInfo **sp, uint64_t now_ms)
{
    Eddy__StreamInfo *s = *sp;
    Eddy__Catalog *cat = c->cat;
    if (!catalog_is_initialized(c)) {
        return -EDDY_EUNAVAILABLE;
    }
    if (!catalog_stream_is_valid(s, cat) || !catalog_new_shards_are_valid(s) ||
        s->n_consumers != 0) {
        return -EDDY_EINVAL;
    }
    if (catalog_stream_pos(c, s->name) != SIZE_MAX) {
        return -EDDY_EEXISTS;
    }
    if (catalog_update_catalog_settings_bytes(cat) + catalog_update_settings_bytes(s) >
        COORD_SETTINGS_BYTES_MAX) {
        return -EDDY_ELIMIT; /* the tags it comes with do not fit the settings budget */
    }
    if (cat->n_streams >= COORD_STREAMS_MAX || c->shard_count + s->n_shards > COORD_SHARDS_MAX) {
        return -EDDY_ELIMIT;
    }
    if (cat->n_streams == c->streams_cap) {
        size_t cap = c->streams_cap == 0 ? 8 : c->streams_cap * 2;
        if (cap > COORD_STREAMS_MAX) {
            cap = COORD_STREAMS_MAX;
        }
        Eddy__StreamInfo **streams = eddy_realloc(cat->streams, cap * sizeof(*streams));
        if (streams == NULL) {
            return -ENOMEM;
        }
        cat->streams = streams;
        c->streams_cap = cap;
    }
    s->status = EDDY__STREAM_STATUS__STREAM_CREATING;
    s->created_ms = now_ms;
    s->status_changed_ms = now_ms;
    if (s->retention_hours == 0) {
        s->retention_hours = KIN_RETENTION_HOURS_DEFAULT;
    }
    cat->streams[cat->n_streams++] = s;
    *sp = NULL;
    c->shard_count += s->n_shards;
    cat->next_group_cursor = (uint32_t)((cat->next_group_cursor + s->n_shards) % cat->n_groups);
    cat->version++;
    EDDY_ASSERT(c->shard_count <= COORD_SHARDS_MAX);
    return 0;
}

static int
catalog_apply_set_status(struct catalog *c, const Eddy__SetStreamStatus *op, uint64_t now_ms)
{
    if (op->name == NULL || !catalog_status_is_valid((int)op->status)) {
        return -EDDY_EINVAL;
    }
    size_t pos = catalog_stream_pos(c, op->name);
    if (pos == SIZE_MAX || c->cat->streams[pos]->created_ms != op->created_ms) {
        return -EDDY_ENOTFOUND;
    }
    Eddy__StreamInfo *s = c->cat->streams[pos];
    if (!catalog_status_transition_is_allowed(s->status, op->status)) {
        return -EDDY_EINUSE;
    }
    if (s->status == op->status) {
        return 0; /* a retried proposal: nothing changes, no new version */
    }
    if (catalog_reshard_is_pending(s) && op->status != EDDY__STREAM_STATUS__STREAM_DELETING) {
        return -EDDY_EINUSE; /* only the reshard's finish (or a delete) ends its UPDATING */
    }
    s->status = op->status;
    s->status_changed_ms = now_ms;
    s->settings_updating = false; /* whatever UPDATING was for, it is over */
    if (op->status == EDDY__STREAM_STATUS__STREAM_DELETING) {
        (void)catalog_consumers_delete_all(s, now_ms); /* they go with the stream */
    }
    c->cat->version++;
    return 0;
}

static int catalog_apply_remove(struct catalog *c, const char *name)
{
    Eddy__Catalog *cat = c->cat;
    size_t pos = name == NULL ? SIZE_MAX : catalog_stream_pos(c, name);
    if (pos == SIZE_MAX) {
        return -EDDY_ENOTFOUND;
    }
    Eddy__StreamInfo *s = cat->streams[pos];
    if (s->status != EDDY__STREAM_STATUS__STREAM_DELETING) {
        return -EDDY_EINUSE;
    }
    EDDY_ASSERT(c->shard_count >= s->n_shards);
    c->shard_count -= s->n_shards;
    eddy__stream_info__free_unpacked(s, &catalog_pb_allocator);
    memmove(&cat->streams[pos], &cat->streams[pos + 1],
            (cat->n_streams - pos - 1) * sizeof(*cat->streams));
    cat->n_streams--;
    cat->version++;
    return 0;
}

int catalog_apply(struct catalog *c, const uint8_t *buf, size_t len, int *result)
{
    EDDY_ASSERT(c != NULL);
    EDDY_ASSERT(result != NULL);
    uint64_t version_before = c->cat->version;
    bool nomem;
    Eddy__CatalogEntry *e =
        (Eddy__CatalogEntry *)catalog_pb_unpack(&eddy__catalog_entry__descriptor, buf, len, &nomem);
    if (e == NULL) {
        if (nomem) {
            return -ENOMEM;
        }
        *result = -EDDY_EMALFORMED;
        return 0;
    }
    int rv;
    switch (e->op_case) {
    case EDDY__CATALOG_ENTRY__OP_INIT:
        rv = catalog_apply_init(c, e->init);
        break;
    case EDDY__CATALOG_ENTRY__OP_CREATE_STREAM:
        rv = catalog_apply_create(c, &e->create_stream, e->now_ms);
        break;
    case EDDY__CATALOG_ENTRY__OP_SET_STATUS:
        rv = catalog_apply_set_status(c, e->set_status, e->now_ms);
        break;
    case EDDY__CATALOG_ENTRY__OP_REMOVE_STREAM:
        rv = catalog_apply_remove(c, e->remove_stream);
        break;
    case EDDY__CATALOG_ENTRY__OP_SET_REPLICAS:
        rv = catalog_group_set_replicas(c->cat, e->set_replicas);
        break;
    case EDDY__CATALOG_ENTRY__OP_RESHARD:
        rv = catalog_apply_reshard(c->cat, &c->shard_count, e->reshard, e->now_ms);
        break;
    case EDDY__CATALOG_ENTRY__OP_UPDATE_STREAM:
        rv = catalog_update_apply(c->cat, e->update_stream, e->now_ms, &catalog_pb_allocator);
        break;
    case EDDY__CATALOG_ENTRY__OP_SET_ACCOUNT:
        rv = catalog_update_account_apply(c->cat, e->set_account, e->now_ms, &catalog_pb_allocator);
        break;
    case EDDY__CATALOG_ENTRY__OP_CONSUMER:
        rv = catalog_consumer_apply(c->cat, e->consumer, e->now_ms, &catalog_pb_allocator);
        break;
    default:
        rv = -EDDY_EMALFORMED;
        break;
    }
    if (e->op_case == EDDY__CATALOG_ENTRY__OP_CREATE_STREAM && e->create_stream == NULL) {
        e->op_case = EDDY__CATALOG_ENTRY__OP__NOT_SET; /* the stream moved into the catalogue */
    }
    eddy__catalog_entry__free_unpacked(e, &catalog_pb_allocator);
    if (rv == -ENOMEM) {
        EDDY_ASSERT(c->cat->version == version_before);
        return -ENOMEM;
    }
    EDDY_ASSERT(rv == 0 || c->cat->version == version_before);
    EDDY_ASSERT(c->cat->version - version_before <= 1);
    *result = rv;
    return 0;
}

int catalog_entry_encode(const Eddy__CatalogEntry *e, uint8_t **out, size_t *out_len)
{
    size_t len = eddy__catalog_entry__get_packed_size(e);
    uint8_t *buf = eddy_malloc(len ? len : 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    size_t packed = eddy__catalog_entry__pack(e, buf);
    EDDY_ASSERT(packed == len);
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---- snapshot ---- */

int catalog_snapshot(const struct catalog *c, uint8_t **out, size_t *out_len)
{
    size_t len = eddy__catalog__get_packed_size(c->cat);
    uint8_t *buf = eddy_malloc(len ? len : 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    size_t packed = eddy__catalog__pack(c->cat, buf);
    EDDY_ASSERT(packed == len);
    *out = buf;
    *out_len = len;
    return 0;
}

int catalog_restore(struct catalog *c, const uint8_t *buf, size_t len)
{
    if (len > COORD_CATALOG_BYTES_MAX) {
        return -EDDY_ECORRUPT;
    }
    bool nomem;
    Eddy__Catalog *cat =
        (Eddy__Catalog *)catalog_pb_unpack(&eddy__catalog__descriptor, buf, len, &nomem);
    if (cat == NULL) {
        return nomem ? -ENOMEM : -EDDY_ECORRUPT;
    }
    size_t shard_count = 0;
    if (!catalog_is_valid(cat, &shard_count)) {
        eddy__catalog__free_unpacked(cat, &catalog_pb_allocator);
        return -EDDY_ECORRUPT;
    }
    if (cat->n_groups != 0) {
        cat->next_group_cursor %= (uint32_t)cat->n_groups;
    }
    eddy__catalog__free_unpacked(c->cat, &catalog_pb_allocator);
    c->cat = cat;
    c->streams_cap = cat->n_streams;
    c->shard_count = shard_count;
    return 0;
}

/* ---- rgroup adapter ---- */

static int
catalog_fsm_apply(void *data, uint64_t index, const uint8_t *buf, size_t len, void **result)
{
    struct catalog *c = data;
    struct catalog_result *r = eddy_malloc(sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    int rv = catalog_apply(c, buf, len, &r->code);
    if (rv != 0) {
        eddy_free(r);
        return rv;
    }
    r->version = c->cat->version;
    r->index = index;
    *result = r;
    return 0;
}

static void catalog_fsm_free_result(void *data, void *result)
{
    (void)data;
    eddy_free(result);
}

static int catalog_fsm_snapshot(void *data, uint8_t **buf, size_t *len)
{
    return catalog_snapshot(data, buf, len);
}

static int catalog_fsm_restore(void *data, const uint8_t *buf, size_t len)
{
    return catalog_restore(data, buf, len);
}

void catalog_fsm_init(struct rgroup_fsm *fsm, struct catalog *c)
{
    EDDY_ASSERT(c != NULL);
    memset(fsm, 0, sizeof(*fsm));
    fsm->data = c;
    fsm->apply = catalog_fsm_apply;
    fsm->free_result = catalog_fsm_free_result;
    fsm->snapshot = catalog_fsm_snapshot;
    fsm->restore = catalog_fsm_restore;
}
