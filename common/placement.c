/* Static placement of shard-group replicas (placement.h). */
#include "eddy/placement.h"

#include "eddy/assert.h"

unsigned placement_group_replicas(uint32_t group, unsigned peer_count, unsigned *out)
{
    EDDY_ASSERT(group >= 1);
    EDDY_ASSERT(peer_count >= 1);
    unsigned n = peer_count < PLACEMENT_REPLICAS ? peer_count : PLACEMENT_REPLICAS;
    unsigned first = (unsigned)((group - 1) % peer_count);
    for (unsigned k = 0; k < n; k++) {
        out[k] = (first + k) % peer_count;
    }
    EDDY_ASSERT(n >= 1);
    return n;
}

bool placement_is_replica(uint32_t group, unsigned peer_count, unsigned pos)
{
    unsigned replicas[PLACEMENT_REPLICAS];
    unsigned n = placement_group_replicas(group, peer_count, replicas);
    for (unsigned k = 0; k < n; k++) {
        if (replicas[k] == pos) {
            return true;
        }
    }
    return false;
}
