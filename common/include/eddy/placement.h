/*
 * Static placement of shard-group replicas over the nodes of --peers
 * (docs/adr/0001). Pure: no I/O, no state, the same answer on every node.
 *
 * With N peers in --peers order, group g (1-based) has the
 * r = min(PLACEMENT_REPLICAS, N) replicas peers[(g - 1 + k) mod N] for
 * k = 0..r-1: distinct nodes, and every node hosts floor or ceil of
 * G * r / N groups. With N <= PLACEMENT_REPLICAS every group is on every
 * node, as before this rule existed.
 */
#ifndef EDDY_PLACEMENT_H
#define EDDY_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

/* Replicas per shard group when there are enough nodes. */
#define PLACEMENT_REPLICAS 3u

/* Writes the positions in --peers (0..peer_count-1) of group's replicas to
 * out, which has room for PLACEMENT_REPLICAS; returns how many,
 * min(PLACEMENT_REPLICAS, peer_count). group >= 1, peer_count >= 1. */
unsigned placement_group_replicas(uint32_t group, unsigned peer_count, unsigned *out);
/* Whether the peer at position pos in --peers hosts a replica of group. */
bool placement_is_replica(uint32_t group, unsigned peer_count, unsigned pos);

#endif
