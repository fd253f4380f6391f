/*
 * Catalogue entries on shard groups (a part of the catalog.h state machine,
 * in its own file): set_replicas, the replica set of one group after a
 * replacement (docs/adr/0004). Pure like the rest of the catalogue.
 * Not for use outside coordinator/.
 */
#ifndef EDDY_CATALOG_GROUP_H
#define EDDY_CATALOG_GROUP_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Applies a decoded set_replicas entry (op comes from the entry and is freed
 * with it) to cat, an initialised catalogue whose every part, op included,
 * comes from eddy_malloc (catalog.c's allocator): the group's replica array
 * is swapped with op's, so the old one is freed with the entry. Returns 0
 * (the version goes up by one; the same set again is a no-op with no new
 * version), or, with cat unchanged:
 *   -EDDY_EUNAVAILABLE  the catalogue is not initialised
 *   -EDDY_ENOTFOUND     no such shard group
 *   -EDDY_EINVAL        1..COORD_GROUP_REPLICAS_MAX distinct catalogue nodes wanted */
int catalog_group_set_replicas(Eddy__Catalog *cat, Eddy__GroupReplicas *op);

/* Whether node hosts a replica of group id in cat (false for an unknown
 * group). */
bool catalog_group_has_replica(const Eddy__Catalog *cat, uint32_t id, uint32_t node);

#endif
