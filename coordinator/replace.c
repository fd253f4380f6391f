/*
 * Replica replacement decisions (see replace.h).
 */
#include "replace.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/limits.h"

#include <string.h>

/* ---- sets of node ids ---- */

static bool replace_ids_have(const uint32_t *ids, unsigned n, uint32_t id)
{
    for (unsigned i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

static bool replace_group_has_replica(const struct replace_group *g, uint32_t node)
{
    for (unsigned r = 0; r < g->replica_count; r++) {
        if (g->replicas[r].node == node) {
            return true;
        }
    }
    return false;
}

static const struct replace_group *replace_group_find(const struct replace_view *v, uint32_t id)
{
    size_t lo = 0;
    size_t hi = v->group_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->groups[mid].id == id) {
            return &v->groups[mid];
        }
        if (v->groups[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* ---- the view ---- */

static bool replace_node_is_alive(const Eddy__Catalog *cat,
                                  const struct liveness *l,
                                  uint64_t now_ms,
                                  uint32_t node)
{
    for (size_t i = 0; i < cat->n_nodes; i++) {
        if (cat->nodes[i]->id == node) {
            return liveness_state(l, node, now_ms) == LIVENESS_ALIVE;
        }
    }
    return false;
}

/* The leader and the replicas' standing of group gi. */
static void replace_group_build(const Eddy__Catalog *cat,
                                const Eddy__GroupInfo *gi,
                                const struct liveness *l,
                                uint64_t now_ms,
                                struct replace_group *g)
{
    memset(g, 0, sizeof(*g));
    g->id = gi->id;
    uint64_t heard_ms = 0;
    const struct liveness_report *lead = NULL;
    for (size_t r = 0; r < gi->n_replicas && r < COORD_GROUP_REPLICAS_MAX; r++) {
        struct replace_replica *rep = &g->replicas[g->replica_count++];
        rep->node = gi->replicas[r];
        rep->is_alive = replace_node_is_alive(cat, l, now_ms, rep->node);
        const struct liveness_node *n = rep->is_alive ? liveness_find(l, rep->node) : NULL;
        const struct liveness_report *report = liveness_report(n, g->id);
        rep->has_report = report != NULL;
        if (report != NULL && report->is_ready && (lead == NULL || n->last_seen_ms > heard_ms)) {
            lead = report;
            g->leader = rep->node;
            heard_ms = n->last_seen_ms;
        }
    }
    if (lead != NULL && lead->voter_count <= LIVENESS_VOTERS_MAX) {
        g->has_voters = true;
        g->voter_count = lead->voter_count;
        memcpy(g->voters, lead->voters, lead->voter_count * sizeof(*g->voters));
    }
    for (unsigned r = 0; r < g->replica_count; r++) {
        struct replace_replica *rep = &g->replicas[r];
        const struct liveness_report *report =
            rep->has_report ? liveness_report(liveness_find(l, rep->node), g->id) : NULL;
        rep->is_caught_up =
            report != NULL && lead != NULL && !report->is_hydrating &&
            report->applied_index + EDDY_REPLICA_LAG_ENTRIES_MAX >= lead->applied_index;
    }
}

/* Appends to v the groups node reports that the catalogue does not give it. */
static void replace_extras_build(const struct liveness_node *n, struct replace_view *v, size_t *cap)
{
    for (size_t i = 0; i < n->report_count; i++) {
        uint32_t group = n->reports[i].group;
        const struct replace_group *g = group != 0 ? replace_group_find(v, group) : NULL;
        if (g == NULL || replace_group_has_replica(g, n->node_id)) {
            continue;
        }
        if (v->extra_count == *cap) {
            *cap = *cap != 0 ? *cap * 2 : 16;
            v->extras = eddy_xrealloc(v->extras, *cap * sizeof(*v->extras));
        }
        v->extras[v->extra_count++] = (struct replace_extra){.node = n->node_id, .group = group};
    }
}

void replace_view_build(const Eddy__Catalog *cat,
                        const struct liveness *l,
                        uint64_t now_ms,
                        struct replace_view *v)
{
    memset(v, 0, sizeof(*v));
    v->node_count = cat->n_nodes;
    v->nodes = eddy_xcalloc(cat->n_nodes ? cat->n_nodes : 1, sizeof(*v->nodes));
    for (size_t i = 0; i < cat->n_nodes; i++) {
        uint32_t id = cat->nodes[i]->id;
        v->nodes[i] = (struct replace_node){
            .id = id,
            .is_alive = liveness_state(l, id, now_ms) == LIVENESS_ALIVE,
            .dead_for_ms = liveness_dead_for_ms(l, id, now_ms),
        };
    }
    v->group_count = cat->n_groups;
    v->groups = eddy_xcalloc(cat->n_groups ? cat->n_groups : 1, sizeof(*v->groups));
    for (size_t i = 0; i < cat->n_groups; i++) {
        replace_group_build(cat, cat->groups[i], l, now_ms, &v->groups[i]);
    }
    size_t cap = 0;
    for (size_t i = 0; i < cat->n_nodes; i++) {
        const struct liveness_node *n = liveness_find(l, cat->nodes[i]->id);
        if (n != NULL && v->nodes[i].is_alive) {
            replace_extras_build(n, v, &cap);
        }
    }
}

void replace_view_free(struct replace_view *v)
{
    eddy_free(v->nodes);
    eddy_free(v->groups);
    eddy_free(v->extras);
    memset(v, 0, sizeof(*v));
}

/* ---- groups in transition ---- */

bool replace_group_is_in_transition(const struct replace_group *g)
{
    if (!g->has_voters) {
        return false;
    }
    for (unsigned r = 0; r < g->replica_count; r++) {
        if (!replace_ids_have(g->voters, g->voter_count, g->replicas[r].node)) {
            return true;
        }
    }
    for (unsigned i = 0; i < g->voter_count; i++) {
        if (!replace_group_has_replica(g, g->voters[i])) {
            return true;
        }
    }
    return false;
}

bool replace_group_is_settled(const struct replace_group *g)
{
    if (!g->has_voters || replace_group_is_in_transition(g)) {
        return false;
    }
    for (unsigned r = 0; r < g->replica_count; r++) {
        if (!g->replicas[r].is_caught_up) {
            return false;
        }
    }
    return true;
}

/* The first voter outside the catalogue's replicas, 0 if none. */
static uint32_t replace_outsider(const struct replace_group *g)
{
    for (unsigned i = 0; i < g->voter_count; i++) {
        if (!replace_group_has_replica(g, g->voters[i])) {
            return g->voters[i];
        }
    }
    return 0;
}

/* The HostGroupReq that moves group g on, if an alive replica can. */
static bool replace_host_of(const struct replace_group *g, struct replace_action *out)
{
    if (!replace_group_is_in_transition(g)) {
        return false;
    }
    uint32_t outsider = replace_outsider(g);
    unsigned missing = 0;
    for (unsigned r = 0; r < g->replica_count; r++) {
        const struct replace_replica *rep = &g->replicas[r];
        if (replace_ids_have(g->voters, g->voter_count, rep->node)) {
            continue;
        }
        missing++;
        if (rep->is_alive) {
            *out = (struct replace_action){
                .kind = REPLACE_HOST, .group = g->id, .node = rep->node, .replaces = outsider};
            return true;
        }
    }
    /* Every replica votes: one of them asks for the outsider's removal (a
     * member already, only the removal is left). Never while a replica is
     * missing: the outsider's vote keeps the group at full strength until
     * its replacement votes. */
    for (unsigned r = 0; missing == 0 && outsider != 0 && r < g->replica_count; r++) {
        const struct replace_replica *rep = &g->replicas[r];
        if (rep->has_report && replace_ids_have(g->voters, g->voter_count, rep->node)) {
            *out = (struct replace_action){
                .kind = REPLACE_HOST, .group = g->id, .node = rep->node, .replaces = outsider};
            return true;
        }
    }
    return false;
}

size_t replace_hosts(const struct replace_view *v, struct replace_action *out, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; i < v->group_count; i++) {
        struct replace_action a;
        if (replace_host_of(&v->groups[i], &a)) {
            if (found < max) {
                out[found] = a;
            }
            found++;
        }
    }
    return found;
}

/* ---- new replacements ---- */

/* Replicas node hosts by the catalogue. */
static unsigned replace_replica_count(const struct replace_view *v, uint32_t node)
{
    unsigned n = 0;
    for (size_t i = 0; i < v->group_count; i++) {
        n += replace_group_has_replica(&v->groups[i], node);
    }
    return n;
}

/* The alive node outside g with the fewest replicas (ties: lowest id); 0
 * when there is none. */
static uint32_t replace_new_node(const struct replace_view *v, const struct replace_group *g)
{
    uint32_t best = 0;
    unsigned best_count = 0;
    for (size_t i = 0; i < v->node_count; i++) {
        const struct replace_node *n = &v->nodes[i];
        if (!n->is_alive || replace_group_has_replica(g, n->id)) {
            continue;
        }
        unsigned count = replace_replica_count(v, n->id);
        if (best == 0 || count < best_count || (count == best_count && n->id < best)) {
            best = n->id;
            best_count = count;
        }
    }
    return best;
}

static uint64_t replace_dead_for(const struct replace_view *v, uint32_t node)
{
    for (size_t i = 0; i < v->node_count; i++) {
        if (v->nodes[i].id == node) {
            return v->nodes[i].dead_for_ms;
        }
    }
    return 0;
}

/* The replacement of g's first replica dead for replace_dead_ms, if g can
 * take one now. A group still in transition qualifies only when stuck (the
 * caller checked that no alive replica can move it on): its new member died
 * before it joined, and is replaced in turn. */
static bool replace_pick_group(const struct replace_view *v,
                               const struct replace_group *g,
                               uint64_t replace_dead_ms,
                               struct replace_action *out)
{
    if (g->leader == 0 || !g->has_voters) {
        return false;
    }
    unsigned alive = 0;
    for (unsigned r = 0; r < g->replica_count; r++) {
        alive += g->replicas[r].is_alive;
    }
    if (alive * 2 <= g->replica_count) {
        return false; /* no live majority: a change could not commit */
    }
    for (unsigned r = 0; r < g->replica_count; r++) {
        const struct replace_replica *rep = &g->replicas[r];
        uint64_t dead_for_ms = replace_dead_for(v, rep->node);
        if (rep->is_alive || dead_for_ms == 0 || dead_for_ms < replace_dead_ms) {
            continue;
        }
        uint32_t y = replace_new_node(v, g);
        if (y == 0) {
            return false;
        }
        *out = (struct replace_action){
            .kind = REPLACE_SET_REPLICAS,
            .group = g->id,
            .node = y,
            .replaces = rep->node,
            .replica_count = g->replica_count,
        };
        for (unsigned q = 0; q < g->replica_count; q++) {
            out->replicas[q] = q == r ? y : g->replicas[q].node;
        }
        return true;
    }
    return false;
}

bool replace_pick(const struct replace_view *v,
                  uint64_t replace_dead_ms,
                  struct replace_action *out)
{
    if (replace_hosts(v, NULL, 0) > 0) {
        return false; /* one replacement at a time */
    }
    for (size_t i = 0; i < v->group_count; i++) {
        if (replace_pick_group(v, &v->groups[i], replace_dead_ms, out)) {
            EDDY_ASSERT(out->node != out->replaces);
            return true;
        }
    }
    return false;
}

/* ---- stale replicas ---- */

size_t replace_drops(const struct replace_view *v, struct replace_action *out, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; i < v->extra_count; i++) {
        const struct replace_extra *e = &v->extras[i];
        const struct replace_group *g = replace_group_find(v, e->group);
        if (g == NULL || !g->has_voters || replace_group_has_replica(g, e->node) ||
            replace_ids_have(g->voters, g->voter_count, e->node)) {
            continue;
        }
        if (found < max) {
            out[found] =
                (struct replace_action){.kind = REPLACE_DROP, .group = e->group, .node = e->node};
        }
        found++;
    }
    return found;
}
