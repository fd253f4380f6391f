/*
 * Health of a cluster from one ClusterStatusResp (see cluster_health.h).
 */
#include "cluster_health.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/limits.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const Eddy__NodeLiveness *health_node(const Eddy__ClusterStatusResp *resp, uint32_t node)
{
    for (size_t i = 0; i < resp->n_nodes; i++) {
        if (resp->nodes[i]->node == node) {
            return resp->nodes[i];
        }
    }
    return NULL;
}

const Eddy__GroupStatus *health_report(const Eddy__NodeLiveness *n, uint32_t group)
{
    for (size_t i = 0; n != NULL && i < n->n_groups; i++) {
        if (n->groups[i]->group == group) {
            return n->groups[i];
        }
    }
    return NULL;
}

__attribute__((format(printf, 2, 3))) static void
health_problem(struct health *h, const char *fmt, ...)
{
    if (h->problem_count < HEALTH_PROBLEMS_MAX) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->problems[h->problem_count], HEALTH_PROBLEM_LEN_MAX, fmt, ap);
        va_end(ap);
    }
    h->problem_count++;
    h->is_healthy = false;
}

static bool health_node_is_alive(const Eddy__ClusterStatusResp *resp, uint32_t node)
{
    const Eddy__NodeLiveness *n = health_node(resp, node);
    return n != NULL && n->alive;
}

/* The ready leader among the alive replicas; the freshest report wins. */
static void health_find_leader(const Eddy__ClusterStatusResp *resp, struct health_group *g)
{
    uint64_t freshest_ago = UINT64_MAX;
    for (unsigned r = 0; r < g->replica_count; r++) {
        const Eddy__NodeLiveness *n = health_node(resp, g->replicas[r].node);
        const Eddy__GroupStatus *rep = health_report(n, g->id);
        if (n != NULL && n->alive && rep != NULL && rep->ready &&
            n->last_seen_ms_ago < freshest_ago) {
            g->leader = n->node;
            g->leader_applied_index = rep->applied_index;
            freshest_ago = n->last_seen_ms_ago;
        }
    }
}

static void health_group_name(uint32_t id, char *out, size_t len)
{
    if (id == 0) {
        snprintf(out, len, "coordinator group");
    } else {
        snprintf(out, len, "group %" PRIu32, id);
    }
}

static bool health_voters_match(const Eddy__ClusterStatusResp *resp, const struct health_group *g);

static void
health_group_evaluate(const Eddy__ClusterStatusResp *resp, struct health *h, struct health_group *g)
{
    char name[32];
    health_group_name(g->id, name, sizeof(name));
    health_find_leader(resp, g);
    g->is_healthy = g->leader != 0;
    if (g->leader == 0) {
        health_problem(h, "%s has no ready leader", name);
    }
    for (unsigned r = 0; r < g->replica_count; r++) {
        struct health_replica *rep = &g->replicas[r];
        const Eddy__NodeLiveness *n = health_node(resp, rep->node);
        const Eddy__GroupStatus *gs = health_report(n, g->id);
        rep->has_report = gs != NULL;
        rep->applied_index = gs != NULL ? gs->applied_index : 0;
        if (n != NULL && n->state == EDDY__NODE_STATE__NODE_DEAD) {
            rep->state = HEALTH_REPLICA_NODE_DEAD; /* the node's own problem says so */
        } else if (!health_node_is_alive(resp, rep->node)) {
            rep->state = HEALTH_REPLICA_NODE_UNKNOWN;
        } else if (gs == NULL) {
            rep->state = HEALTH_REPLICA_MISSING;
            health_problem(h, "%s: node %" PRIu32 " does not report its replica", name, rep->node);
        } else if (gs->hydrating) {
            rep->state = HEALTH_REPLICA_HYDRATING;
            health_problem(h, "%s: replica on node %" PRIu32 " is hydrating", name, rep->node);
        } else if (g->leader != 0 &&
                   gs->applied_index + EDDY_REPLICA_LAG_ENTRIES_MAX < g->leader_applied_index) {
            rep->state = HEALTH_REPLICA_LAGGING;
            health_problem(
                h, "%s: replica on node %" PRIu32 " lags (applied %" PRIu64 ", leader %" PRIu64 ")",
                name, rep->node, gs->applied_index, g->leader_applied_index);
        } else {
            rep->state = HEALTH_REPLICA_OK;
        }
        g->is_healthy = g->is_healthy && rep->state == HEALTH_REPLICA_OK;
    }
    if (g->id != 0 && !health_voters_match(resp, g)) {
        g->is_healthy = false;
        health_problem(h, "%s: membership changing (its leader's voters differ from the catalogue)",
                       name);
    }
    h->groups_healthy += g->is_healthy;
}

/* Whether the ready leader's voters equal the group's catalogue replicas,
 * as sets (true when the leader reports none: an older node). During a
 * replacement (docs/adr/0004) they differ until the replaced member is
 * removed. */
static bool health_voters_match(const Eddy__ClusterStatusResp *resp, const struct health_group *g)
{
    const Eddy__GroupStatus *lead = health_report(health_node(resp, g->leader), g->id);
    if (g->leader == 0 || lead == NULL || lead->n_voters == 0) {
        return true;
    }
    if (lead->n_voters != g->replica_count) {
        return false;
    }
    for (size_t v = 0; v < lead->n_voters; v++) {
        bool is_replica = false;
        for (unsigned r = 0; r < g->replica_count && !is_replica; r++) {
            is_replica = g->replicas[r].node == lead->voters[v];
        }
        if (!is_replica) {
            return false;
        }
    }
    return true;
}

/* An alive node reporting a shard group whose catalogue replicas leave it
 * out: it was replaced there and the replica waits to be dropped. */
static void health_stale_evaluate(const Eddy__ClusterStatusResp *resp, struct health *h)
{
    const Eddy__Catalog *cat = resp->catalog;
    for (size_t i = 0; i < resp->n_nodes; i++) {
        const Eddy__NodeLiveness *n = resp->nodes[i];
        for (size_t k = 0; n->alive && k < n->n_groups; k++) {
            uint32_t id = n->groups[k]->group;
            const Eddy__GroupInfo *gi = NULL;
            for (size_t q = 0; id != 0 && q < cat->n_groups && gi == NULL; q++) {
                gi = cat->groups[q]->id == id ? cat->groups[q] : NULL;
            }
            bool is_listed = gi == NULL;
            for (size_t r = 0; gi != NULL && r < gi->n_replicas && !is_listed; r++) {
                is_listed = gi->replicas[r] == n->node;
            }
            if (!is_listed) {
                health_problem(h,
                               "node %" PRIu32 " still hosts a replica of group %" PRIu32
                               " it was replaced in",
                               n->node, id);
            }
        }
    }
}

static void health_nodes_evaluate(const Eddy__ClusterStatusResp *resp, struct health *h)
{
    const Eddy__Catalog *cat = resp->catalog;
    for (size_t i = 0; i < cat->n_nodes; i++) {
        uint32_t id = cat->nodes[i]->id;
        const Eddy__NodeLiveness *n = health_node(resp, id);
        if (n != NULL && n->alive) {
            h->nodes_alive++;
            if (n->draining) {
                /* About to stop (a rolling restart): no other node should
                 * go down meanwhile. Once restarted it reports otherwise. */
                health_problem(h,
                               "node %" PRIu32 " is draining (eddy leader drain): it takes no "
                               "leadership until it restarts or is undrained",
                               id);
            }
        } else if (n != NULL && n->state == EDDY__NODE_STATE__NODE_DEAD && n->seen) {
            /* No time in the text: --wait-healthy prints a problem again
             * only when its text changes. The node table has the time. */
            health_problem(h, "node %" PRIu32 " is dead (heartbeats stopped)", id);
        } else if (n != NULL && n->state == EDDY__NODE_STATE__NODE_DEAD) {
            health_problem(h,
                           "node %" PRIu32 " is dead (no heartbeat since this coordinator "
                           "leader took over)",
                           id);
        } else {
            health_problem(h, "node %" PRIu32 " is unknown (no heartbeat yet)", id);
        }
    }
}

void health_evaluate(const Eddy__ClusterStatusResp *resp, struct health *h)
{
    EDDY_ASSERT(resp->catalog != NULL);
    memset(h, 0, sizeof(*h));
    h->is_healthy = true;
    const Eddy__Catalog *cat = resp->catalog;
    health_nodes_evaluate(resp, h);
    h->group_count = 1 + cat->n_groups;
    h->groups = eddy_xcalloc(h->group_count, sizeof(*h->groups));
    struct health_group *coord = &h->groups[0];
    for (size_t i = 0; i < cat->n_nodes && coord->replica_count < HEALTH_REPLICAS_MAX; i++) {
        coord->replicas[coord->replica_count++].node = cat->nodes[i]->id;
    }
    health_group_evaluate(resp, h, coord);
    for (size_t i = 0; i < cat->n_groups; i++) {
        const Eddy__GroupInfo *gi = cat->groups[i];
        struct health_group *g = &h->groups[1 + i];
        g->id = gi->id;
        for (size_t r = 0; r < gi->n_replicas && r < HEALTH_REPLICAS_MAX; r++) {
            g->replicas[g->replica_count++].node = gi->replicas[r];
        }
        health_group_evaluate(resp, h, g);
    }
    health_stale_evaluate(resp, h);
    EDDY_ASSERT(h->is_healthy == (h->problem_count == 0));
}

void health_free(struct health *h)
{
    eddy_free(h->groups);
    h->groups = NULL;
    h->group_count = 0;
}
