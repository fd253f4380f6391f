/*
 * Leader balancing decisions (see balance.h).
 */
#include "balance.h"

#include "eddy/assert.h"
#include "eddy/limits.h"

#include <string.h>

/* Index of node in live[], or -1. */
static int balance_live_index(const uint32_t *live, unsigned live_count, uint32_t node)
{
    for (unsigned i = 0; i < live_count; i++) {
        if (live[i] == node) {
            return (int)i;
        }
    }
    return -1;
}

static bool balance_is_alive(const struct liveness *l, uint32_t node, uint64_t now_ms)
{
    return liveness_state(l, node, now_ms) == LIVENESS_ALIVE;
}

/* The ready leader of group among its alive replicas (draining ones too),
 * 0 if none. */
static uint32_t
balance_leader(const struct liveness *l, const struct balance_group *g, uint64_t now_ms)
{
    uint32_t leader = 0;
    uint64_t heard_ms = 0;
    for (unsigned r = 0; r < g->replica_count; r++) {
        uint32_t node = g->replicas[r];
        if (!balance_is_alive(l, node, now_ms)) {
            continue;
        }
        const struct liveness_node *n = liveness_find(l, node);
        const struct liveness_report *rep = liveness_report(n, g->id);
        if (rep != NULL && rep->is_ready && (leader == 0 || n->last_seen_ms > heard_ms)) {
            leader = node;
            heard_ms = n->last_seen_ms;
        }
    }
    return leader;
}

static bool
balance_is_settled(const struct liveness *l, const struct balance_group *g, uint64_t now_ms)
{
    if (g->leader == 0) {
        return false;
    }
    const struct liveness_report *lead = liveness_report(liveness_find(l, g->leader), g->id);
    EDDY_ASSERT(lead != NULL);
    for (unsigned r = 0; r < g->replica_count; r++) {
        uint32_t node = g->replicas[r];
        if (!balance_is_alive(l, node, now_ms)) {
            return false;
        }
        const struct liveness_report *rep = liveness_report(liveness_find(l, node), g->id);
        if (rep == NULL || rep->is_hydrating) {
            return false;
        }
        if (rep->applied_index + EDDY_REPLICA_LAG_ENTRIES_MAX < lead->applied_index) {
            return false;
        }
    }
    return true;
}

unsigned balance_view_build(const Eddy__Catalog *cat,
                            const struct liveness *l,
                            uint64_t now_ms,
                            struct balance_group *groups,
                            uint32_t *live)
{
    unsigned live_count = 0;
    for (size_t i = 0; i < cat->n_nodes && live_count < COORD_NODES_MAX; i++) {
        uint32_t node = cat->nodes[i]->id;
        if (balance_is_alive(l, node, now_ms) && !liveness_find(l, node)->is_draining) {
            live[live_count++] = node;
        }
    }
    for (size_t i = 0; i < cat->n_groups; i++) {
        const Eddy__GroupInfo *gi = cat->groups[i];
        struct balance_group *g = &groups[i];
        memset(g, 0, sizeof(*g));
        g->id = gi->id;
        for (size_t r = 0; r < gi->n_replicas && r < COORD_GROUP_REPLICAS_MAX; r++) {
            g->replicas[g->replica_count++] = gi->replicas[r];
        }
        g->leader = balance_leader(l, g, now_ms);
        g->is_settled = balance_is_settled(l, g, now_ms);
    }
    return live_count;
}

bool balance_pick(const struct balance_group *groups,
                  size_t group_count,
                  const uint32_t *live,
                  unsigned live_count,
                  struct balance_move *out)
{
    EDDY_ASSERT(live_count <= COORD_NODES_MAX);
    unsigned counts[COORD_NODES_MAX] = {0};
    for (size_t i = 0; i < group_count; i++) {
        int at = balance_live_index(live, live_count, groups[i].leader);
        if (at >= 0) {
            counts[at]++;
        }
    }
    unsigned best_gain = 1; /* a move must gain at least two */
    bool found = false;
    for (size_t i = 0; i < group_count; i++) {
        const struct balance_group *g = &groups[i];
        int from = balance_live_index(live, live_count, g->leader);
        if (!g->is_settled || from < 0) {
            continue;
        }
        for (unsigned r = 0; r < g->replica_count; r++) {
            int to = balance_live_index(live, live_count, g->replicas[r]);
            if (to < 0 || to == from || counts[to] >= counts[from]) {
                continue;
            }
            unsigned gain = counts[from] - counts[to];
            bool is_better = gain > best_gain || (found && gain == best_gain &&
                                                  out->group == g->id && g->replicas[r] < out->to);
            if (is_better) {
                *out =
                    (struct balance_move){.group = g->id, .from = g->leader, .to = g->replicas[r]};
                best_gain = gain;
                found = true;
            }
        }
    }
    EDDY_ASSERT(!found || out->from != out->to);
    return found;
}
