/*
 * The Reshard entry of the catalogue (see catalog_reshard.h). Children of a
 * begun reshard are always the stream's last shards: a begin needs an ACTIVE
 * stream, leaves it UPDATING, and only the finish makes it ACTIVE again. So
 * "pending" and "closing" are found from the tail of the shard list without
 * any field of their own, and survive a snapshot as they are.
 */
#include "catalog_reshard.h"
#include "coord_limits.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/seqnum.h"
#include "eddy/u128.h"

#include <errno.h>
#include <string.h>

static_assert(CATALOG_SCALING_CALLS_MAX == COORD_SCALING_CALLS_MAX,
              "the encoded size bound counts every remembered call");

/* ---- lineage lookups ---- */

/* Position of the shard numbered index, SIZE_MAX when absent. */
static size_t catalog_shard_pos(const Eddy__StreamInfo *s, int64_t index)
{
    if (index < 0) {
        return SIZE_MAX;
    }
    if ((uint64_t)index < s->n_shards && s->shards[index]->index == (uint64_t)index) {
        return (size_t)index; /* the catalogue keeps index == position */
    }
    for (size_t i = 0; i < s->n_shards; i++) {
        if (s->shards[i]->index == (uint64_t)index) {
            return i;
        }
    }
    return SIZE_MAX;
}

const Eddy__ShardInfo *catalog_stream_shard(const Eddy__StreamInfo *s, int64_t index)
{
    size_t pos = catalog_shard_pos(s, index);
    return pos == SIZE_MAX ? NULL : s->shards[pos];
}

bool catalog_shard_is_open(const Eddy__ShardInfo *sh)
{
    return sh->ending_sequence.len == 0;
}

/* A child of a begun reshard: its parent is still open. */
static bool catalog_shard_is_new(const Eddy__StreamInfo *s, const Eddy__ShardInfo *sh)
{
    const Eddy__ShardInfo *p = catalog_stream_shard(s, sh->parent);
    return p != NULL && catalog_shard_is_open(p);
}

/* Position of the first child of the begun reshard; n_shards when none. */
static size_t catalog_pending_start(const Eddy__StreamInfo *s)
{
    size_t pos = s->n_shards;
    while (pos > 0 && catalog_shard_is_new(s, s->shards[pos - 1])) {
        pos--;
    }
    return pos;
}

bool catalog_reshard_is_pending(const Eddy__StreamInfo *s)
{
    return s->n_shards > 0 && catalog_shard_is_new(s, s->shards[s->n_shards - 1]);
}

/* Marks, by position, the open shards the tail of a begun reshard names as
 * parents. *out is eddy_malloc'd (n_shards entries, at least one), NULL
 * when out of memory. Returns how many are marked. */
static size_t catalog_closing_marks(const Eddy__StreamInfo *s, bool **out)
{
    bool *marks = eddy_calloc(s->n_shards ? s->n_shards : 1, sizeof(*marks));
    *out = marks;
    size_t count = 0;
    for (size_t i = catalog_pending_start(s); marks != NULL && i < s->n_shards; i++) {
        int64_t parents[2] = {s->shards[i]->parent, s->shards[i]->adjacent_parent};
        for (int k = 0; k < 2; k++) {
            size_t pos = catalog_shard_pos(s, parents[k]);
            if (pos == SIZE_MAX || !catalog_shard_is_open(s->shards[pos]) || marks[pos]) {
                continue;
            }
            marks[pos] = true;
            count++;
        }
    }
    return count;
}

bool catalog_shard_is_closing(const Eddy__StreamInfo *s, const Eddy__ShardInfo *sh)
{
    if (!catalog_shard_is_open(sh)) {
        return false;
    }
    for (size_t i = catalog_pending_start(s); i < s->n_shards; i++) {
        const Eddy__ShardInfo *ch = s->shards[i];
        if (ch->parent == (int64_t)sh->index || ch->adjacent_parent == (int64_t)sh->index) {
            return true;
        }
    }
    return false;
}

size_t catalog_stream_open_count(const Eddy__StreamInfo *s)
{
    size_t open = 0;
    for (size_t i = 0; i < s->n_shards; i++) {
        open += catalog_shard_is_open(s->shards[i]);
    }
    bool *marks;
    size_t closing = catalog_closing_marks(s, &marks);
    EDDY_ASSERT(marks != NULL); /* callers are daemons, which abort on out-of-memory */
    eddy_free(marks);
    EDDY_ASSERT(closing <= open);
    return open - closing;
}

void catalog_reshard_members(const Eddy__StreamInfo *s,
                             uint32_t **created,
                             size_t *created_count,
                             uint32_t **closing,
                             size_t *closing_count)
{
    size_t first_new = catalog_pending_start(s);
    *created_count = s->n_shards - first_new;
    *created = eddy_xcalloc(*created_count + 1, sizeof(**created));
    for (size_t i = first_new; i < s->n_shards; i++) {
        (*created)[i - first_new] = s->shards[i]->index;
    }
    bool *marks;
    size_t n = catalog_closing_marks(s, &marks);
    EDDY_ASSERT(marks != NULL); /* callers are daemons, which abort on out-of-memory */
    *closing_count = n;
    *closing = eddy_xcalloc(n + 1, sizeof(**closing));
    size_t k = 0;
    for (size_t i = 0; i < s->n_shards; i++) {
        if (marks[i]) {
            (*closing)[k++] = s->shards[i]->index;
        }
    }
    EDDY_ASSERT(k == n);
    eddy_free(marks);
}

uint32_t catalog_stream_next_index(const Eddy__StreamInfo *s)
{
    uint32_t next = (uint32_t)s->n_shards;
    return s->next_shard_index > next ? s->next_shard_index : next;
}

unsigned catalog_scaling_calls(const Eddy__StreamInfo *s, uint64_t now_ms)
{
    unsigned n = 0;
    for (size_t i = 0; i < s->n_scaling_ms; i++) {
        n += s->scaling_ms[i] + CATALOG_SCALING_WINDOW_MS > now_ms;
    }
    return n;
}

/* ---- begin ---- */

static u128 catalog_u128(ProtobufCBinaryData d)
{
    EDDY_ASSERT(d.len == 16);
    return u128_from_be(d.data);
}

static bool catalog_group_is_known(const Eddy__Catalog *cat, uint32_t id)
{
    size_t lo = 0;
    size_t hi = cat->n_groups; /* ids strictly ascending (catalog.c) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cat->groups[mid]->id == id) {
            return true;
        }
        if (cat->groups[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* Per parent (stream shards, then the entry's children, by index): the
 * children the entry gives it. */
struct catalog_kids {
    uint32_t count;
    bool merged;   /* one of them merges it with another parent */
    uint32_t k[2]; /* positions in op->add */
};

/* The shard numbered index as a parent of add[k]: a leaf of the stream (an
 * open shard; the stream is ACTIVE, so none is closing) or a child added
 * earlier by the same entry. */
static const Eddy__ShardInfo *catalog_reshard_parent(const Eddy__StreamInfo *s,
                                                     Eddy__ShardInfo *const *add,
                                                     size_t k,
                                                     int64_t index)
{
    uint32_t first_new = (uint32_t)s->n_shards;
    if (index >= (int64_t)first_new) {
        return index < (int64_t)first_new + (int64_t)k ? add[index - first_new] : NULL;
    }
    const Eddy__ShardInfo *p = catalog_stream_shard(s, index);
    return p != NULL && catalog_shard_is_open(p) ? p : NULL;
}

static bool
catalog_child_fields_are_valid(const Eddy__Catalog *cat, const Eddy__ShardInfo *ch, uint32_t index)
{
    if (ch->index != index || index > SEQNUM_SHARD_MAX || !catalog_group_is_known(cat, ch->group)) {
        return false;
    }
    if (ch->hash_start.len != 16 || ch->hash_end.len != 16 || ch->starting_sequence.len != 16 ||
        ch->ending_sequence.len != 0 || ch->closed_ms != 0) {
        return false;
    }
    return catalog_u128(ch->hash_start) <= catalog_u128(ch->hash_end) &&
           catalog_u128(ch->starting_sequence) == seqnum_shard_start(index);
}

/* Checks add[k] against its parents and records it as their child. */
static bool catalog_child_is_valid(const Eddy__Catalog *cat,
                                   const Eddy__StreamInfo *s,
                                   Eddy__ShardInfo *const *add,
                                   size_t k,
                                   struct catalog_kids *kids)
{
    const Eddy__ShardInfo *ch = add[k];
    if (!catalog_child_fields_are_valid(cat, ch, (uint32_t)(s->n_shards + k))) {
        return false;
    }
    const Eddy__ShardInfo *p = catalog_reshard_parent(s, add, k, ch->parent);
    if (p == NULL) {
        return false;
    }
    const Eddy__ShardInfo *a = NULL;
    if (ch->adjacent_parent >= 0) {
        a = catalog_reshard_parent(s, add, k, ch->adjacent_parent);
        if (a == NULL || a == p || catalog_u128(p->hash_end) == (~(u128)0) ||
            catalog_u128(p->hash_end) + 1 != catalog_u128(a->hash_start) ||
            catalog_u128(ch->hash_start) != catalog_u128(p->hash_start) ||
            catalog_u128(ch->hash_end) != catalog_u128(a->hash_end)) {
            return false;
        }
    } else if (ch->adjacent_parent != -1 ||
               catalog_u128(ch->hash_start) < catalog_u128(p->hash_start) ||
               catalog_u128(ch->hash_end) > catalog_u128(p->hash_end)) {
        return false;
    }
    const Eddy__ShardInfo *parents[2] = {p, a};
    for (int i = 0; i < 2 && parents[i] != NULL; i++) {
        struct catalog_kids *pk = &kids[parents[i]->index];
        if (pk->count == 2) {
            return false;
        }
        pk->k[pk->count++] = (uint32_t)k;
        pk->merged = pk->merged || a != NULL;
    }
    return true;
}

/* A parent gives its whole range away: to two children that split it, or to
 * the one that merges it (checked against both parents already). */
static bool catalog_parent_is_covered(const Eddy__ShardInfo *p,
                                      const struct catalog_kids *pk,
                                      Eddy__ShardInfo *const *add)
{
    if (pk->count == 0) {
        return true;
    }
    if (pk->merged) {
        return pk->count == 1;
    }
    if (pk->count != 2) {
        return false;
    }
    const Eddy__ShardInfo *lo = add[pk->k[0]];
    const Eddy__ShardInfo *hi = add[pk->k[1]];
    if (catalog_u128(lo->hash_start) > catalog_u128(hi->hash_start)) {
        lo = add[pk->k[1]];
        hi = add[pk->k[0]];
    }
    return catalog_u128(lo->hash_start) == catalog_u128(p->hash_start) &&
           catalog_u128(hi->hash_end) == catalog_u128(p->hash_end) &&
           catalog_u128(lo->hash_end) + 1 == catalog_u128(hi->hash_start);
}

/* 0, -EDDY_EINVAL, or -ENOMEM. */
static int catalog_reshard_add_check(const Eddy__Catalog *cat,
                                     const Eddy__StreamInfo *s,
                                     const Eddy__Reshard *op)
{
    if (catalog_stream_next_index(s) != s->n_shards || op->n_add > COORD_SHARDS_MAX) {
        return -EDDY_EINVAL; /* the catalogue keeps index == position */
    }
    for (size_t i = 0; i < s->n_shards; i++) {
        if (s->shards[i]->index != i) {
            return -EDDY_EINVAL;
        }
    }
    size_t total = s->n_shards + op->n_add;
    struct catalog_kids *kids = eddy_calloc(total, sizeof(*kids));
    if (kids == NULL) {
        return -ENOMEM;
    }
    int rv = 0;
    for (size_t k = 0; k < op->n_add && rv == 0; k++) {
        if (op->add[k] == NULL || !catalog_child_is_valid(cat, s, op->add, k, kids)) {
            rv = -EDDY_EINVAL;
        }
    }
    for (size_t i = 0; i < total && rv == 0; i++) {
        const Eddy__ShardInfo *p = i < s->n_shards ? s->shards[i] : op->add[i - s->n_shards];
        if (!catalog_parent_is_covered(p, &kids[i], op->add)) {
            rv = -EDDY_EINVAL;
        }
    }
    eddy_free(kids);
    return rv;
}

/* Keeps the UpdateShardCount calls of the last 24 hours and adds now_ms;
 * times has room for CATALOG_SCALING_CALLS_MAX. */
static void catalog_scaling_note(Eddy__StreamInfo *s, uint64_t *times, uint64_t now_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n_scaling_ms; i++) {
        if (s->scaling_ms[i] + CATALOG_SCALING_WINDOW_MS > now_ms) {
            times[kept++] = s->scaling_ms[i];
        }
    }
    EDDY_ASSERT(kept < CATALOG_SCALING_CALLS_MAX);
    times[kept++] = now_ms;
    eddy_free(s->scaling_ms);
    s->scaling_ms = times;
    s->n_scaling_ms = kept;
}

static int catalog_reshard_begin(Eddy__Catalog *cat,
                                 size_t *shard_count,
                                 Eddy__StreamInfo *s,
                                 Eddy__Reshard *op,
                                 uint64_t now_ms)
{
    if (s->status != EDDY__STREAM_STATUS__STREAM_ACTIVE) {
        return -EDDY_EINUSE;
    }
    int rv = catalog_reshard_add_check(cat, s, op);
    if (rv != 0) {
        return rv;
    }
    if (*shard_count + op->n_add > COORD_SHARDS_MAX || s->n_shards + op->n_add > COORD_SHARDS_MAX ||
        (op->target_shard_count != 0 &&
         catalog_scaling_calls(s, now_ms) >= CATALOG_SCALING_CALLS_MAX)) {
        return -EDDY_ELIMIT;
    }
    /* Allocate first: past this point nothing fails. */
    uint64_t *times = NULL;
    if (op->target_shard_count != 0) {
        times = eddy_malloc(CATALOG_SCALING_CALLS_MAX * sizeof(*times));
        if (times == NULL) {
            return -ENOMEM;
        }
    }
    Eddy__ShardInfo **shards =
        eddy_realloc(s->shards, (s->n_shards + op->n_add) * sizeof(*s->shards));
    if (shards == NULL) {
        eddy_free(times);
        return -ENOMEM;
    }
    s->shards = shards;
    if (times != NULL) {
        catalog_scaling_note(s, times, now_ms);
    }
    for (size_t k = 0; k < op->n_add; k++) {
        s->shards[s->n_shards++] = op->add[k];
        op->add[k] = NULL; /* moved into the catalogue */
    }
    s->next_shard_index = (uint32_t)s->n_shards;
    *shard_count += op->n_add;
    s->status = EDDY__STREAM_STATUS__STREAM_UPDATING;
    s->status_changed_ms = now_ms;
    cat->version++;
    EDDY_ASSERT(catalog_reshard_is_pending(s));
    return 0;
}

/* ---- finish ---- */

/* Checks a finish: 0 with *changes the shards it closes now (all of the
 * closing ones, or none when it was applied before), or a code. */
static int
catalog_reshard_finish_check(const Eddy__StreamInfo *s, const Eddy__Reshard *op, size_t *changes)
{
    bool *closing;
    size_t closing_count = catalog_closing_marks(s, &closing);
    if (closing == NULL) {
        return -ENOMEM;
    }
    bool *named = eddy_calloc(s->n_shards ? s->n_shards : 1, sizeof(*named));
    int rv = named == NULL ? -ENOMEM : 0;
    *changes = 0;
    for (size_t k = 0; k < op->n_close && rv == 0; k++) {
        const Eddy__ShardEnd *end = op->close[k];
        size_t pos = end != NULL ? catalog_shard_pos(s, end->shard) : SIZE_MAX;
        if (pos == SIZE_MAX || end->ending_sequence.len != 16 || named[pos]) {
            rv = -EDDY_EINVAL;
            break;
        }
        named[pos] = true;
        const Eddy__ShardInfo *sh = s->shards[pos];
        if (!catalog_shard_is_open(sh)) {
            /* Closed by this same finish before: it must say the same. */
            if (memcmp(sh->ending_sequence.data, end->ending_sequence.data, 16) != 0) {
                rv = -EDDY_EINVAL;
            }
        } else if (closing[pos]) {
            (*changes)++;
        } else {
            rv = -EDDY_EINVAL;
        }
    }
    if (rv == 0 && *changes != 0 && *changes != closing_count) {
        rv = -EDDY_EINVAL; /* a partial finish would leave an open parent with children */
    }
    eddy_free(named);
    eddy_free(closing);
    return rv;
}

static int catalog_reshard_finish(Eddy__Catalog *cat,
                                  Eddy__StreamInfo *s,
                                  const Eddy__Reshard *op,
                                  uint64_t now_ms)
{
    size_t changes;
    int rv = catalog_reshard_finish_check(s, op, &changes);
    if (rv != 0 || changes == 0) {
        return rv; /* nothing changes for a finish applied before */
    }
    /* Each closed shard owns its 16 bytes: the catalogue frees fields one by one. */
    uint8_t **owned = eddy_calloc(changes, sizeof(*owned));
    size_t made = 0;
    while (owned != NULL && made < changes && (owned[made] = eddy_malloc(16)) != NULL) {
        made++;
    }
    if (owned == NULL || made < changes) {
        for (size_t j = 0; j < made; j++) {
            eddy_free(owned[j]);
        }
        eddy_free(owned);
        return -ENOMEM;
    }
    size_t used = 0;
    for (size_t k = 0; k < op->n_close; k++) {
        Eddy__ShardInfo *sh = s->shards[catalog_shard_pos(s, op->close[k]->shard)];
        if (!catalog_shard_is_open(sh)) {
            continue;
        }
        memcpy(owned[used], op->close[k]->ending_sequence.data, 16);
        sh->ending_sequence.data = owned[used++];
        sh->ending_sequence.len = 16;
        sh->closed_ms = now_ms;
    }
    EDDY_ASSERT(used == changes);
    eddy_free(owned);
    EDDY_ASSERT(!catalog_reshard_is_pending(s));
    if (s->status == EDDY__STREAM_STATUS__STREAM_UPDATING) {
        s->status = EDDY__STREAM_STATUS__STREAM_ACTIVE;
        s->status_changed_ms = now_ms;
    }
    cat->version++;
    return 0;
}

int catalog_apply_reshard(Eddy__Catalog *cat,
                          size_t *shard_count,
                          Eddy__Reshard *op,
                          uint64_t now_ms)
{
    EDDY_ASSERT(cat != NULL);
    EDDY_ASSERT(shard_count != NULL);
    EDDY_ASSERT(op != NULL);
    Eddy__StreamInfo *s = NULL;
    for (size_t i = 0; op->name != NULL && i < cat->n_streams; i++) {
        if (strcmp(cat->streams[i]->name, op->name) == 0) {
            s = cat->streams[i];
        }
    }
    if (s == NULL || s->created_ms != op->created_ms) {
        return -EDDY_ENOTFOUND;
    }
    if ((op->n_add == 0) == (op->n_close == 0)) {
        return -EDDY_EINVAL; /* exactly one of the two steps */
    }
    if (op->n_add > 0) {
        return catalog_reshard_begin(cat, shard_count, s, op, now_ms);
    }
    return catalog_reshard_finish(cat, s, op, now_ms);
}
