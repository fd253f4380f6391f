/*
 * Leader balancing decisions, pure: from the catalogue's groups and the
 * liveness reports, which one group leadership to move, if any.
 *
 * The aim is an even count of shard-group leaders over the live nodes.
 * Counting (rather than a fixed "group g goes to replica g mod n") keeps the
 * spread even whatever replica sets membership changes leave behind: every
 * move takes one leadership from a node with at least two more than the
 * target, so the sum of squared counts falls with every move and the moves
 * stop; a node that comes back with no leadership receives its share.
 *
 * A group is moved only when it is settled: it has a ready leader, and every
 * replica is alive, reported the group, is not hydrating and has applied
 * within EDDY_REPLICA_LAG_ENTRIES_MAX entries of the leader. The
 * coordinator group (0) is never moved: its leader runs the balancer.
 *
 * A draining node (its heartbeat says so: `eddy leader drain` before a
 * stop) is not live for the balancer: it receives no leadership, and what
 * it still leads is neither counted nor moved (its replicas hand it away
 * themselves, rgroup_set_draining). It counts as alive for settledness, so
 * the other nodes keep being balanced while it drains.
 */
#ifndef EDDY_BALANCE_H
#define EDDY_BALANCE_H

#include "coord_limits.h"
#include "liveness.h"

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One shard group as the balancer sees it. */
struct balance_group {
    uint32_t id;
    uint32_t replicas[COORD_GROUP_REPLICAS_MAX];
    unsigned replica_count;
    uint32_t leader; /* the alive replica reporting itself ready leader; 0: none */
    bool is_settled;
};

struct balance_move {
    uint32_t group;
    uint32_t from; /* the current leader, where TransferLeader goes */
    uint32_t to;
};

/* Fills groups[i] for catalogue group i (cat->n_groups entries, caller's
 * array) and live[] with the alive catalogue nodes that do not drain, the
 * ones that may receive leadership (at most COORD_NODES_MAX); returns the
 * live count. When two alive replicas both report themselves ready (a
 * report from before a move), the one heard from last is the leader. */
unsigned balance_view_build(const Eddy__Catalog *cat,
                            const struct liveness *l,
                            uint64_t now_ms,
                            struct balance_group *groups,
                            uint32_t *live);
/* Picks the move that takes a leadership from the most loaded live node to
 * the least loaded live replica of a settled group it leads, when their
 * counts differ by two or more; ties go to the lowest group id, then the
 * lowest target node id. Returns false when nothing should move. */
bool balance_pick(const struct balance_group *groups,
                  size_t group_count,
                  const uint32_t *live,
                  unsigned live_count,
                  struct balance_move *out);

#endif
