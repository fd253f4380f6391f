/*
 * Resharding in the catalogue: the Reshard entry's two steps and the
 * lineage questions the coordinator and its tests ask of a stream.
 *
 * A reshard is two entries, so that what it will do is in the catalogue
 * before any shard group is touched and a new coordinator leader can finish
 * it (coord_reshard.c):
 *
 *   begin   Reshard.add holds the children, already placed on groups, with
 *           their parents; Reshard.close is empty. The stream goes ACTIVE ->
 *           UPDATING and the children are appended (indexes next_shard_index
 *           on). From now until the finish, the parents are "closing": open
 *           shards that some shard names as parent or adjacent parent, and the
 *           children are "pending". Short-lived shards (UpdateShardCount) are
 *           children and parents at once.
 *   finish  Reshard.close holds every closing shard with the ending sequence
 *           number its group fixed when it closed it; Reshard.add is empty.
 *           The shards close (ending_sequence, closed_ms = now_ms) and, once
 *           nothing is closing any more, the stream goes back to ACTIVE.
 *
 * Checks of a begin, every one an -EDDY_EINVAL unless said otherwise: the
 * stream is ACTIVE (-EDDY_EINUSE) and of the given incarnation
 * (-EDDY_ENOTFOUND); children are numbered on from the stream's next index,
 * each 16-byte bounds, a known group, a parent that is an open shard with no
 * children yet or an earlier child of the same entry; a parent has either
 * two children that split its range in two, or one child that merges it
 * with the adjacent parent named there (parent's range first, then the
 * adjacent one's, with no gap); the catalogue's shard bound and the
 * per-day UpdateShardCount quota (-EDDY_ELIMIT). A finish names only
 * closing shards, each once, with a 16-byte ending sequence; a shard already
 * closed with that same sequence is a no-op, so a finish proposed twice
 * (across a leader change) changes nothing the second time.
 *
 * Pure like catalog.c: no clock but the entry's now_ms.
 */
#ifndef EDDY_CATALOG_RESHARD_H
#define EDDY_CATALOG_RESHARD_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* UpdateShardCount calls per stream in any 24 hours (API_UpdateShardCount:
 * "Scale more than ten times per rolling 24-hour period per stream"). */
#define CATALOG_SCALING_CALLS_MAX 10
#define CATALOG_SCALING_WINDOW_MS (24ull * 3600 * 1000)

/* Applies a Reshard (borrowed; the children it adds are moved out of it, so
 * op->add entries are NULL afterwards). cat and *shard_count belong to the
 * catalogue (catalog.c); every part added is allocated with eddy_malloc as
 * catalog.c requires. Returns 0 with the catalogue changed and its version
 * bumped, 0 with nothing changed for a repeated finish, or a code with the
 * catalogue unchanged (see above; -ENOMEM too). */
int catalog_apply_reshard(Eddy__Catalog *cat,
                          size_t *shard_count,
                          Eddy__Reshard *op,
                          uint64_t now_ms);

/* The shard of s whose index is index, or NULL. */
const Eddy__ShardInfo *catalog_stream_shard(const Eddy__StreamInfo *s, int64_t index);
/* Open: no ending sequence yet. */
bool catalog_shard_is_open(const Eddy__ShardInfo *sh);
/* Open and named as parent or adjacent parent by another shard of s: a
 * begun reshard closes it. */
bool catalog_shard_is_closing(const Eddy__StreamInfo *s, const Eddy__ShardInfo *sh);
/* A reshard of s has begun and not finished. */
bool catalog_reshard_is_pending(const Eddy__StreamInfo *s);
/* Open shards that are not closing: the shards writes go to once the
 * pending reshard (if any) is done. */
size_t catalog_stream_open_count(const Eddy__StreamInfo *s);
/* The index the next child gets. */
uint32_t catalog_stream_next_index(const Eddy__StreamInfo *s);
/* The shards of s's begun reshard, by index: *created its children, and
 * *closing the shards it closes (eddy_xmalloc'd; none when none is pending). */
void catalog_reshard_members(const Eddy__StreamInfo *s,
                             uint32_t **created,
                             size_t *created_count,
                             uint32_t **closing,
                             size_t *closing_count);
/* UpdateShardCount calls of s that began within the 24 hours before now_ms. */
unsigned catalog_scaling_calls(const Eddy__StreamInfo *s, uint64_t now_ms);

#endif
