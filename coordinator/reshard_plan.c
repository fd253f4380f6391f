/*
 * Reshard plans (see reshard_plan.h): children of SplitShard, MergeShards
 * and UpdateShardCount, and their groups.
 */
#include "reshard_plan.h"
#include "catalog_reshard.h"
#include "coord_limits.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdlib.h>
#include <string.h>

void reshard_plan_free(struct reshard_plan *p)
{
    eddy_free(p->children);
    memset(p, 0, sizeof(*p));
}

static u128 plan_u128(ProtobufCBinaryData d)
{
    return d.len == 16 ? u128_from_be(d.data) : 0;
}

/* Appends a child numbered after the stream's shards and the children so
 * far. Returns its index. */
static uint32_t plan_add(const Eddy__StreamInfo *s,
                         struct reshard_plan *p,
                         u128 start,
                         u128 end,
                         int64_t parent,
                         int64_t adjacent_parent)
{
    EDDY_ASSERT(start <= end);
    if (p->count == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->children = eddy_xrealloc(p->children, p->cap * sizeof(*p->children));
    }
    uint32_t index = catalog_stream_next_index(s) + (uint32_t)p->count;
    p->children[p->count++] = (struct reshard_child){
        .index = index,
        .start = start,
        .end = end,
        .parent = parent,
        .adjacent_parent = adjacent_parent,
        .is_final = true,
    };
    return index;
}

static int plan_index_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x;
    int64_t b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* The stream's shards the plan closes, ascending, each once. *out is
 * eddy_malloc'd (free it). */
static size_t
plan_stream_parents(const Eddy__StreamInfo *s, const struct reshard_plan *p, int64_t **out)
{
    int64_t first = catalog_stream_next_index(s);
    int64_t *idx = eddy_xcalloc(2 * p->count + 1, sizeof(*idx));
    size_t n = 0;
    for (size_t k = 0; k < p->count; k++) {
        int64_t parents[2] = {p->children[k].parent, p->children[k].adjacent_parent};
        for (int i = 0; i < 2; i++) {
            if (parents[i] >= 0 && parents[i] < first) {
                idx[n++] = parents[i];
            }
        }
    }
    qsort(idx, n, sizeof(*idx), plan_index_cmp);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++) {
        if (unique == 0 || idx[unique - 1] != idx[i]) {
            idx[unique++] = idx[i];
        }
    }
    *out = idx;
    return unique;
}

/* Marks the children that a later child names as parent, and counts the
 * stream's shards the plan closes. */
static void plan_finish(const Eddy__StreamInfo *s, struct reshard_plan *p)
{
    int64_t first = catalog_stream_next_index(s);
    for (size_t k = 0; k < p->count; k++) {
        int64_t parents[2] = {p->children[k].parent, p->children[k].adjacent_parent};
        for (int i = 0; i < 2; i++) {
            if (parents[i] >= first) {
                p->children[parents[i] - first].is_final = false;
            }
        }
    }
    int64_t *idx;
    p->closing = (uint32_t)plan_stream_parents(s, p, &idx);
    eddy_free(idx);
}

/* An open shard of s, or NULL with *rv set. */
static const Eddy__ShardInfo *plan_open_shard(const Eddy__StreamInfo *s, uint32_t index, int *rv)
{
    const Eddy__ShardInfo *sh = catalog_stream_shard(s, index);
    if (sh == NULL) {
        *rv = -EDDY_ENOTFOUND;
        return NULL;
    }
    if (!catalog_shard_is_open(sh) || catalog_shard_is_closing(s, sh)) {
        *rv = -EDDY_EINVAL;
        return NULL;
    }
    return sh;
}

int reshard_plan_split(const Eddy__StreamInfo *s,
                       uint32_t shard,
                       u128 new_start,
                       struct reshard_plan *out)
{
    memset(out, 0, sizeof(*out));
    int rv = 0;
    const Eddy__ShardInfo *sh = plan_open_shard(s, shard, &rv);
    if (sh == NULL) {
        return rv;
    }
    u128 start = plan_u128(sh->hash_start);
    u128 end = plan_u128(sh->hash_end);
    /* AWS: "not both greater than one plus the shard's StartingHashKey and
     * less than the shard's EndingHashKey". */
    if (new_start <= start || new_start - start <= 1 || new_start >= end) {
        return -EDDY_EINVAL;
    }
    plan_add(s, out, start, new_start - 1, shard, -1);
    plan_add(s, out, new_start, end, shard, -1);
    plan_finish(s, out);
    return 0;
}

int reshard_plan_merge(const Eddy__StreamInfo *s,
                       uint32_t shard,
                       uint32_t adjacent,
                       struct reshard_plan *out)
{
    memset(out, 0, sizeof(*out));
    int rv = 0;
    const Eddy__ShardInfo *a = plan_open_shard(s, shard, &rv);
    const Eddy__ShardInfo *b = a != NULL ? plan_open_shard(s, adjacent, &rv) : NULL;
    if (b == NULL) {
        return rv;
    }
    u128 a_end = plan_u128(a->hash_end);
    if (a == b || a_end == (~(u128)0) || a_end + 1 != plan_u128(b->hash_start)) {
        return -EDDY_EINVAL;
    }
    plan_add(s, out, plan_u128(a->hash_start), plan_u128(b->hash_end), shard, adjacent);
    plan_finish(s, out);
    return 0;
}

/* ---- UpdateShardCount ---- */

struct plan_piece {
    u128 start;
    u128 end;
    int64_t index;
};

static int plan_piece_cmp(const void *x, const void *y)
{
    const struct plan_piece *a = x;
    const struct plan_piece *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* The open shards of s by hash range: they tile [0, 2^128-1]. */
static size_t plan_leaves(const Eddy__StreamInfo *s, struct plan_piece **out)
{
    struct plan_piece *leaves = eddy_xcalloc(s->n_shards ? s->n_shards : 1, sizeof(*leaves));
    size_t n = 0;
    for (size_t i = 0; i < s->n_shards; i++) {
        const Eddy__ShardInfo *sh = s->shards[i];
        if (catalog_shard_is_open(sh)) {
            leaves[n++] = (struct plan_piece){plan_u128(sh->hash_start), plan_u128(sh->hash_end),
                                              (int64_t)sh->index};
        }
    }
    qsort(leaves, n, sizeof(*leaves), plan_piece_cmp);
    *out = leaves;
    return n;
}

/* Splits each leaf at the target boundaries inside it; pieces (room for
 * leaf_count + target - 1) get the results in hash order. */
static size_t plan_split_leaves(const Eddy__StreamInfo *s,
                                struct reshard_plan *p,
                                const struct plan_piece *leaves,
                                size_t leaf_count,
                                uint32_t target,
                                struct plan_piece *pieces)
{
    size_t n = 0;
    uint32_t j = 1; /* the next target range whose start is a boundary */
    for (size_t i = 0; i < leaf_count; i++) {
        struct plan_piece cur = leaves[i];
        for (;;) {
            u128 b = 0;
            u128 unused;
            while (j < target) {
                u128_shard_range(j, target, &b, &unused);
                if (b > cur.start) {
                    break;
                }
                j++;
            }
            if (j == target || b > cur.end) {
                break;
            }
            uint32_t lo = plan_add(s, p, cur.start, b - 1, cur.index, -1);
            uint32_t hi = plan_add(s, p, b, cur.end, cur.index, -1);
            pieces[n++] = (struct plan_piece){cur.start, b - 1, lo};
            cur = (struct plan_piece){b, cur.end, hi};
        }
        pieces[n++] = cur;
    }
    return n;
}

int reshard_plan_scale(const Eddy__StreamInfo *s, uint32_t target, struct reshard_plan *out)
{
    memset(out, 0, sizeof(*out));
    if (target == 0 || target > COORD_STREAM_SHARDS_MAX) {
        return -EDDY_EINVAL;
    }
    struct plan_piece *leaves;
    size_t leaf_count = plan_leaves(s, &leaves);
    struct plan_piece *pieces = eddy_xcalloc(leaf_count + target, sizeof(*pieces));
    size_t n = plan_split_leaves(s, out, leaves, leaf_count, target, pieces);
    /* Every target boundary now starts a piece: merge each range's pieces. */
    size_t i = 0;
    for (uint32_t t = 0; t < target && i < n; t++) {
        u128 start;
        u128 end;
        u128_shard_range(t, target, &start, &end);
        EDDY_ASSERT(pieces[i].start == start);
        struct plan_piece acc = pieces[i++];
        while (i < n && pieces[i].end <= end) {
            uint32_t m = plan_add(s, out, acc.start, pieces[i].end, acc.index, pieces[i].index);
            acc = (struct plan_piece){acc.start, pieces[i].end, m};
            i++;
        }
        EDDY_ASSERT(acc.end == end);
    }
    EDDY_ASSERT(i == n);
    eddy_free(pieces);
    eddy_free(leaves);
    plan_finish(s, out);
    return 0;
}

/* ---- placement ---- */

static size_t plan_group_pos(const Eddy__Catalog *cat, uint32_t id)
{
    for (size_t g = 0; g < cat->n_groups; g++) {
        if (cat->groups[g]->id == id) {
            return g;
        }
    }
    return SIZE_MAX;
}

/* The group of the shard numbered index: a child placed already, or a
 * shard of the stream. */
static uint32_t
plan_group_of(const Eddy__StreamInfo *s, const struct reshard_plan *p, int64_t index)
{
    uint32_t first = catalog_stream_next_index(s);
    if (index >= (int64_t)first) {
        return p->children[index - first].group;
    }
    const Eddy__ShardInfo *sh = catalog_stream_shard(s, index);
    EDDY_ASSERT(sh != NULL);
    return sh->group;
}

void reshard_plan_place(const Eddy__Catalog *cat, const Eddy__StreamInfo *s, struct reshard_plan *p)
{
    EDDY_ASSERT(cat->n_groups > 0);
    size_t *load = eddy_xcalloc(cat->n_groups, sizeof(*load));
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *o = cat->streams[i];
        for (size_t k = 0; k < o->n_shards; k++) {
            size_t pos = plan_group_pos(cat, o->shards[k]->group);
            if (pos != SIZE_MAX && catalog_shard_is_open(o->shards[k])) {
                load[pos]++;
            }
        }
    }
    /* The parents this plan closes stop counting; their groups are the
     * last choice on a tie, so that a split moves load off a busy group. */
    bool *parent_group = eddy_xcalloc(cat->n_groups, sizeof(*parent_group));
    int64_t *idx;
    size_t parents = plan_stream_parents(s, p, &idx);
    for (size_t i = 0; i < parents; i++) {
        size_t pos = plan_group_pos(cat, plan_group_of(s, p, idx[i]));
        if (pos != SIZE_MAX && load[pos] > 0) {
            load[pos]--;
        }
        if (pos != SIZE_MAX) {
            parent_group[pos] = true;
        }
    }
    eddy_free(idx);
    for (size_t k = 0; k < p->count; k++) {
        struct reshard_child *ch = &p->children[k];
        if (!ch->is_final) {
            ch->group = plan_group_of(s, p, ch->parent);
            continue;
        }
        size_t best = 0;
        for (size_t g = 1; g < cat->n_groups; g++) {
            bool tie_better = load[g] == load[best] && parent_group[best] && !parent_group[g];
            if (load[g] < load[best] || tie_better) {
                best = g;
            }
        }
        ch->group = cat->groups[best]->id;
        load[best]++;
    }
    eddy_free(parent_group);
    eddy_free(load);
}
