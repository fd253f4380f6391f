/*
 * Sequence numbers. A 128-bit unsigned integer, sent as a decimal string:
 *
 *   bits 127..124  version, always 2 (so every number has 39 digits... or 38)
 *   bits 123..64   Raft index of the entry in the shard's group (60 bits)
 *   bits  63..40   shard index within the stream (24 bits), so a number used
 *                  on the wrong shard is detected (AWS: "It encodes shardId-X")
 *   bits  39..20   place of the record within the entry (20 bits)
 *   bits  19..0    zero
 *
 * Strictly increasing within a shard because Raft indexes increase and a
 * shard never changes group. The shard's StartingSequenceNumber is the value
 * with index 0 and place 0.
 */
#ifndef EDDY_SEQNUM_H
#define EDDY_SEQNUM_H

#include "eddy/u128.h"

#include <stdbool.h>
#include <stdint.h>

#define SEQNUM_VERSION 2u
#define SEQNUM_INDEX_MAX ((UINT64_C(1) << 60) - 1)
#define SEQNUM_SHARD_MAX ((1u << 24) - 1)
#define SEQNUM_PLACE_MAX ((1u << 20) - 1)

u128 seqnum_make(uint64_t raft_index, uint32_t shard, uint32_t place);
/* false if v is not in this layout (wrong version or low bits set). */
bool seqnum_split(u128 v, uint64_t *raft_index, uint32_t *shard, uint32_t *place);
/* The lowest number of a shard: StartingSequenceNumber. */
u128 seqnum_shard_start(uint32_t shard);

#endif
