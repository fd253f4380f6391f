/*
 * Catalogue entries on shard groups (see catalog_group.h). After the first
 * boot the catalogue's GroupInfo.replicas is the only record of who hosts a
 * group (docs/adr/0004): placement.h only seeded it in the init entry.
 */
#include "catalog_group.h"
#include "coord_limits.h"

#include "eddy/assert.h"
#include "eddy/errors.h"

#include <string.h>

static Eddy__GroupInfo *catalog_group_find(const Eddy__Catalog *cat, uint32_t id)
{
    size_t lo = 0;
    size_t hi = cat->n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cat->groups[mid]->id == id) {
            return cat->groups[mid];
        }
        if (cat->groups[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static bool catalog_group_node_is_known(const Eddy__Catalog *cat, uint32_t node)
{
    for (size_t i = 0; i < cat->n_nodes; i++) {
        if (cat->nodes[i]->id == node) {
            return true;
        }
    }
    return false;
}

/* 1..COORD_GROUP_REPLICAS_MAX distinct catalogue nodes. */
static bool
catalog_group_replicas_are_valid(const Eddy__Catalog *cat, const uint32_t *replicas, size_t n)
{
    if (n == 0 || n > COORD_GROUP_REPLICAS_MAX) {
        return false;
    }
    for (size_t r = 0; r < n; r++) {
        if (replicas[r] == 0 || !catalog_group_node_is_known(cat, replicas[r])) {
            return false;
        }
        for (size_t q = 0; q < r; q++) {
            if (replicas[q] == replicas[r]) {
                return false;
            }
        }
    }
    return true;
}

static bool
catalog_group_replicas_equal(const Eddy__GroupInfo *g, const uint32_t *replicas, size_t n)
{
    return g->n_replicas == n && memcmp(g->replicas, replicas, n * sizeof(*replicas)) == 0;
}

int catalog_group_set_replicas(Eddy__Catalog *cat, Eddy__GroupReplicas *op)
{
    EDDY_ASSERT(cat != NULL);
    EDDY_ASSERT(op != NULL);
    if (cat->iterator_key.len != COORD_ITERATOR_KEY_BYTES) {
        return -EDDY_EUNAVAILABLE;
    }
    Eddy__GroupInfo *g = catalog_group_find(cat, op->group);
    if (g == NULL) {
        return -EDDY_ENOTFOUND;
    }
    if (!catalog_group_replicas_are_valid(cat, op->replicas, op->n_replicas)) {
        return -EDDY_EINVAL;
    }
    if (catalog_group_replicas_equal(g, op->replicas, op->n_replicas)) {
        return 0; /* a retried proposal: nothing changes, no new version */
    }
    uint32_t *old = g->replicas;
    size_t old_n = g->n_replicas;
    g->replicas = op->replicas;
    g->n_replicas = op->n_replicas;
    op->replicas = old;
    op->n_replicas = old_n;
    cat->version++;
    EDDY_ASSERT(g->n_replicas >= 1);
    return 0;
}

bool catalog_group_has_replica(const Eddy__Catalog *cat, uint32_t id, uint32_t node)
{
    const Eddy__GroupInfo *g = catalog_group_find(cat, id);
    for (size_t r = 0; g != NULL && r < g->n_replicas; r++) {
        if (g->replicas[r] == node) {
            return true;
        }
    }
    return false;
}
