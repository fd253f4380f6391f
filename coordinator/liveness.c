/*
 * The liveness table (see liveness.h): a fixed array of nodes, each with
 * its last heartbeat time and its reports sorted by group.
 */
#include "liveness.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void liveness_init(struct liveness *l, unsigned dead_ms, uint64_t now_ms)
{
    EDDY_ASSERT(dead_ms >= COORD_NODE_DEAD_MS_MIN);
    EDDY_ASSERT(dead_ms <= COORD_NODE_DEAD_MS_MAX);
    memset(l, 0, sizeof(*l));
    l->dead_ms = dead_ms;
    l->since_ms = now_ms;
}

static void liveness_node_clear(struct liveness_node *n)
{
    eddy_free(n->reports);
    memset(n, 0, sizeof(*n));
}

void liveness_clear(struct liveness *l)
{
    for (size_t i = 0; i < COORD_NODES_MAX; i++) {
        liveness_node_clear(&l->nodes[i]);
    }
}

void liveness_reset(struct liveness *l, uint64_t now_ms)
{
    liveness_clear(l);
    l->since_ms = now_ms;
}

static struct liveness_node *liveness_slot(struct liveness *l, uint32_t node_id)
{
    struct liveness_node *free_slot = NULL;
    struct liveness_node *oldest = &l->nodes[0];
    for (size_t i = 0; i < COORD_NODES_MAX; i++) {
        struct liveness_node *n = &l->nodes[i];
        if (n->node_id == node_id) {
            return n;
        }
        if (n->node_id == 0 && free_slot == NULL) {
            free_slot = n;
        }
        if (n->node_id != 0 && n->last_seen_ms < oldest->last_seen_ms) {
            oldest = n;
        }
    }
    if (free_slot != NULL) {
        return free_slot;
    }
    liveness_node_clear(oldest); /* full: the least recently heard node goes */
    return oldest;
}

static int liveness_report_cmp(const void *a, const void *b)
{
    const struct liveness_report *x = a;
    const struct liveness_report *y = b;
    return x->group < y->group ? -1 : x->group > y->group;
}

/* Copies and sorts the reports of hb; -EDDY_EINVAL for a group twice. */
static int liveness_reports_copy(const Eddy__HeartbeatReq *hb, struct liveness_report **out)
{
    struct liveness_report *r = eddy_xcalloc(hb->n_groups ? hb->n_groups : 1, sizeof(*r));
    for (size_t i = 0; i < hb->n_groups; i++) {
        const Eddy__GroupStatus *g = hb->groups[i];
        r[i] = (struct liveness_report){
            .group = g->group,
            .leader_node = g->leader_node,
            .applied_index = g->applied_index,
            .last_index = g->last_index,
            .is_ready = g->ready,
            .is_hydrating = g->hydrating,
            .voter_count = g->n_voters > UINT_MAX ? UINT_MAX : (unsigned)g->n_voters,
        };
        for (size_t v = 0; v < g->n_voters && v < LIVENESS_VOTERS_MAX; v++) {
            r[i].voters[v] = g->voters[v];
        }
    }
    qsort(r, hb->n_groups, sizeof(*r), liveness_report_cmp);
    for (size_t i = 1; i < hb->n_groups; i++) {
        if (r[i].group == r[i - 1].group) {
            eddy_free(r);
            return -EDDY_EINVAL;
        }
    }
    *out = r;
    return 0;
}

int liveness_record(struct liveness *l, uint64_t now_ms, const Eddy__HeartbeatReq *hb)
{
    const char *gw = hb->gateway_address != NULL ? hb->gateway_address : "";
    if (hb->node == 0 || hb->node > COORD_NODE_ID_MAX || hb->n_groups > COORD_REPORT_GROUPS_MAX ||
        strnlen(gw, COORD_ADDRESS_LEN_MAX + 1) > COORD_ADDRESS_LEN_MAX) {
        return -EDDY_EINVAL;
    }
    struct liveness_report *reports;
    int rv = liveness_reports_copy(hb, &reports);
    if (rv != 0) {
        return rv;
    }
    struct liveness_node *n = liveness_slot(l, hb->node);
    eddy_free(n->reports);
    n->node_id = hb->node;
    n->last_seen_ms = now_ms;
    strcpy(n->gateway_address, gw);
    n->reports = reports;
    n->report_count = hb->n_groups;
    n->is_draining = hb->draining;
    EDDY_ASSERT(liveness_find(l, hb->node) == n);
    return 0;
}

const struct liveness_node *liveness_find(const struct liveness *l, uint32_t node_id)
{
    if (node_id == 0) {
        return NULL;
    }
    for (size_t i = 0; i < COORD_NODES_MAX; i++) {
        if (l->nodes[i].node_id == node_id) {
            return &l->nodes[i];
        }
    }
    return NULL;
}

enum liveness_state liveness_state(const struct liveness *l, uint32_t node_id, uint64_t now_ms)
{
    const struct liveness_node *n = liveness_find(l, node_id);
    uint64_t since_ms = n != NULL ? n->last_seen_ms : l->since_ms;
    bool is_quiet = now_ms > since_ms && now_ms - since_ms > l->dead_ms;
    if (is_quiet) {
        return LIVENESS_DEAD;
    }
    return n != NULL ? LIVENESS_ALIVE : LIVENESS_UNKNOWN;
}

uint64_t liveness_dead_for_ms(const struct liveness *l, uint32_t node_id, uint64_t now_ms)
{
    const struct liveness_node *n = liveness_find(l, node_id);
    uint64_t since_ms = n != NULL ? n->last_seen_ms : l->since_ms;
    if (now_ms <= since_ms || now_ms - since_ms <= l->dead_ms) {
        return 0;
    }
    return now_ms - since_ms - l->dead_ms;
}

const struct liveness_report *liveness_report(const struct liveness_node *n, uint32_t group)
{
    if (n == NULL) {
        return NULL;
    }
    struct liveness_report key = {.group = group};
    return bsearch(&key, n->reports, n->report_count, sizeof(key), liveness_report_cmp);
}

const char *liveness_state_name(enum liveness_state s)
{
    switch (s) {
    case LIVENESS_UNKNOWN:
        return "unknown";
    case LIVENESS_ALIVE:
        return "alive";
    case LIVENESS_DEAD:
        return "dead";
    }
    return "?";
}

/* One NodeLiveness with its GroupStatus entries, in one allocation. */
static Eddy__NodeLiveness *
liveness_node_status(const struct liveness *l, uint32_t node_id, uint64_t now_ms)
{
    const struct liveness_node *n = liveness_find(l, node_id);
    size_t count = n != NULL ? n->report_count : 0;
    size_t size = sizeof(Eddy__NodeLiveness) +
                  count * (sizeof(Eddy__GroupStatus *) + sizeof(Eddy__GroupStatus));
    uint8_t *mem = eddy_xmalloc(size);
    Eddy__NodeLiveness *nl = (Eddy__NodeLiveness *)mem;
    eddy__node_liveness__init(nl);
    Eddy__GroupStatus **ptrs = (Eddy__GroupStatus **)(mem + sizeof(*nl));
    Eddy__GroupStatus *gs = (Eddy__GroupStatus *)(mem + sizeof(*nl) + count * sizeof(*ptrs));
    enum liveness_state st = liveness_state(l, node_id, now_ms);
    nl->node = node_id;
    nl->alive = st == LIVENESS_ALIVE;
    nl->state = st == LIVENESS_ALIVE  ? EDDY__NODE_STATE__NODE_ALIVE
                : st == LIVENESS_DEAD ? EDDY__NODE_STATE__NODE_DEAD
                                      : EDDY__NODE_STATE__NODE_UNKNOWN;
    nl->seen = n != NULL;
    if (n != NULL) {
        nl->last_seen_ms_ago = now_ms > n->last_seen_ms ? now_ms - n->last_seen_ms : 0;
        nl->gateway_address = (char *)n->gateway_address;
        nl->draining = n->is_draining;
    }
    nl->n_groups = count;
    nl->groups = count > 0 ? ptrs : NULL;
    for (size_t i = 0; i < count; i++) {
        const struct liveness_report *r = &n->reports[i];
        eddy__group_status__init(&gs[i]);
        gs[i].group = r->group;
        gs[i].leader_node = r->leader_node;
        gs[i].applied_index = r->applied_index;
        gs[i].last_index = r->last_index;
        gs[i].ready = r->is_ready;
        gs[i].hydrating = r->is_hydrating;
        if (r->voter_count <= LIVENESS_VOTERS_MAX) {
            gs[i].n_voters = r->voter_count;
            gs[i].voters = (uint32_t *)r->voters; /* borrowed until liveness_status_free */
        }
        ptrs[i] = &gs[i];
    }
    return nl;
}

void liveness_status_build(const struct liveness *l,
                           const Eddy__Catalog *cat,
                           uint64_t now_ms,
                           Eddy__ClusterStatusResp *out)
{
    out->catalog = (Eddy__Catalog *)cat;
    out->n_nodes = cat->n_nodes;
    out->nodes = eddy_xcalloc(cat->n_nodes ? cat->n_nodes : 1, sizeof(*out->nodes));
    for (size_t i = 0; i < cat->n_nodes; i++) {
        out->nodes[i] = liveness_node_status(l, cat->nodes[i]->id, now_ms);
    }
}

void liveness_status_free(Eddy__ClusterStatusResp *out)
{
    for (size_t i = 0; i < out->n_nodes; i++) {
        eddy_free(out->nodes[i]);
    }
    eddy_free(out->nodes);
    out->nodes = NULL;
    out->n_nodes = 0;
    out->catalog = NULL;
}
