/*
 * Sequence numbers: packs and unpacks the layout documented in seqnum.h
 * (version, Raft index, shard index, place in entry). Stateless.
 */
#include "eddy/seqnum.h"
#include "eddy/assert.h"

#define SEQNUM_VERSION_SHIFT 124
#define SEQNUM_INDEX_SHIFT 64
#define SEQNUM_SHARD_SHIFT 40
#define SEQNUM_PLACE_SHIFT 20

static_assert(SEQNUM_VERSION < 16, "version fits in 4 bits");
static_assert(SEQNUM_INDEX_MAX == (UINT64_C(1) << (SEQNUM_VERSION_SHIFT - SEQNUM_INDEX_SHIFT)) - 1,
              "index fills bits 123..64");
static_assert(SEQNUM_SHARD_MAX == (1u << (SEQNUM_INDEX_SHIFT - SEQNUM_SHARD_SHIFT)) - 1,
              "shard fills bits 63..40");
static_assert(SEQNUM_PLACE_MAX == (1u << (SEQNUM_SHARD_SHIFT - SEQNUM_PLACE_SHIFT)) - 1,
              "place fills bits 39..20");

u128 seqnum_make(uint64_t raft_index, uint32_t shard, uint32_t place)
{
    EDDY_ASSERT(raft_index <= SEQNUM_INDEX_MAX);
    EDDY_ASSERT(shard <= SEQNUM_SHARD_MAX);
    EDDY_ASSERT(place <= SEQNUM_PLACE_MAX);
    u128 v = (u128)SEQNUM_VERSION << SEQNUM_VERSION_SHIFT;
    v |= (u128)raft_index << SEQNUM_INDEX_SHIFT;
    v |= (u128)shard << SEQNUM_SHARD_SHIFT;
    v |= (u128)place << SEQNUM_PLACE_SHIFT;
    return v;
}

bool seqnum_split(u128 v, uint64_t *raft_index, uint32_t *shard, uint32_t *place)
{
    EDDY_ASSERT(raft_index != NULL);
    EDDY_ASSERT(shard != NULL);
    EDDY_ASSERT(place != NULL);
    /* v may come from a client: a mismatch is a false, never an assert. */
    if ((v >> SEQNUM_VERSION_SHIFT) != SEQNUM_VERSION) {
        return false;
    }
    if ((v & (((u128)1 << SEQNUM_PLACE_SHIFT) - 1)) != 0) {
        return false;
    }
    *raft_index = (uint64_t)(v >> SEQNUM_INDEX_SHIFT) & SEQNUM_INDEX_MAX;
    *shard = (uint32_t)(v >> SEQNUM_SHARD_SHIFT) & SEQNUM_SHARD_MAX;
    *place = (uint32_t)(v >> SEQNUM_PLACE_SHIFT) & SEQNUM_PLACE_MAX;
    return true;
}

u128 seqnum_shard_start(uint32_t shard)
{
    return seqnum_make(0, shard, 0);
}
