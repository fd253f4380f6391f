/*
 * Replica replacement on the coordinator leader (see coord_replace.h): the
 * calls of the replace.h decisions and the set_replicas proposals.
 */
#include "coord_replace.h"
#include "catalog.h"
#include "coord_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <string.h>

/* Failures in a row of one call that are logged; later ones are not. */
#define COORD_REPLACE_FAILURES_LOGGED 3
/* HostGroupReq and DropGroupReq decided per look, at most. */
#define COORD_REPLACE_ACTIONS_MAX 16

/* One HostGroupReq or DropGroupReq in flight; finds its entry by identity,
 * never by pointer (a reset may have forgotten it). */
struct coord_replace_rpc {
    struct coord *c;
    enum replace_kind kind;
    uint32_t group;
    uint32_t node;
};

void coord_replace_init(struct coord_replace *r, unsigned dead_ms)
{
    memset(r, 0, sizeof(*r));
    r->dead_ms = dead_ms != 0 ? dead_ms : COORD_REPLACE_DEAD_MS_DEFAULT;
    EDDY_ASSERT(r->dead_ms >= COORD_REPLACE_DEAD_MS_MIN);
    EDDY_ASSERT(r->dead_ms <= COORD_REPLACE_DEAD_MS_MAX);
}

void coord_replace_reset(struct coord_replace *r, uint64_t now_ms)
{
    r->is_proposing = false;
    r->is_settling = false;
    for (size_t i = 0; i < COORD_REPLACE_CALLS_MAX; i++) {
        if (!r->calls[i].is_inflight) {
            memset(&r->calls[i], 0, sizeof(r->calls[i]));
        }
    }
    /* Let every node report once before the first look. */
    r->next_look_ms = now_ms + 2 * EDDY_HEARTBEAT_MS;
}

/* ---- calls ---- */

static struct coord_replace_call *coord_replace_call_find(struct coord_replace *r,
                                                          enum replace_kind kind,
                                                          uint32_t group,
                                                          uint32_t node)
{
    for (size_t i = 0; i < COORD_REPLACE_CALLS_MAX; i++) {
        struct coord_replace_call *call = &r->calls[i];
        if (call->is_used && call->kind == kind && call->group == group && call->node == node) {
            return call;
        }
    }
    return NULL;
}

/* A slot for a new call: a free one, else the one sent longest ago that is
 * not in flight; NULL when every slot is in flight. */
static struct coord_replace_call *coord_replace_call_slot(struct coord_replace *r)
{
    struct coord_replace_call *oldest = NULL;
    for (size_t i = 0; i < COORD_REPLACE_CALLS_MAX; i++) {
        struct coord_replace_call *call = &r->calls[i];
        if (!call->is_used) {
            return call;
        }
        if (!call->is_inflight && (oldest == NULL || call->sent_ms < oldest->sent_ms)) {
            oldest = call;
        }
    }
    if (oldest != NULL) {
        memset(oldest, 0, sizeof(*oldest));
    }
    return oldest;
}

static const char *coord_replace_kind_name(enum replace_kind kind)
{
    switch (kind) {
    case REPLACE_SET_REPLICAS:
        return "set_replicas";
    case REPLACE_HOST:
        return "HostGroup";
    case REPLACE_DROP:
        return "DropGroup";
    }
    return "?";
}

static void coord_replace_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct coord_replace_rpc *rpc = arg;
    struct coord *c = rpc->c; /* alive: it waits for rpcs_inflight to drain */
    struct coord_replace *r = &c->replace;
    EDDY_ASSERT(r->rpcs_inflight > 0);
    r->rpcs_inflight--;
    int code = status;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : -EDDY_EMALFORMED;
    }
    struct coord_replace_call *call = coord_replace_call_find(r, rpc->kind, rpc->group, rpc->node);
    if (call != NULL && call->is_inflight) {
        call->is_inflight = false;
        call->failures = code == 0 ? 0 : call->failures + 1;
        if (code == 0) {
            LOG_INFO("replace: %s group=%" PRIu32 " node=%" PRIu32 " acknowledged",
                     coord_replace_kind_name(rpc->kind), rpc->group, rpc->node);
        } else if (call->failures <= COORD_REPLACE_FAILURES_LOGGED && c->state == COORD_RUNNING) {
            LOG_WARN("replace: %s group=%" PRIu32 " node=%" PRIu32 " failed code=%d err=%s%s",
                     coord_replace_kind_name(rpc->kind), rpc->group, rpc->node, code,
                     eddy_strerror(code),
                     call->failures == COORD_REPLACE_FAILURES_LOGGED ? " (quiet from now on)" : "");
        }
    }
    eddy_free(rpc);
    if (c->state == COORD_CLOSING) {
        coord_maybe_free(c);
    }
}

/* Sends a's HostGroupReq or DropGroupReq unless the same call is in flight
 * or was sent less than COORD_REPLACE_RETRY_MS ago. */
static void coord_replace_send(struct coord *c, const struct replace_action *a, uint64_t now_ms)
{
    struct coord_replace *r = &c->replace;
    EDDY_ASSERT(a->kind == REPLACE_HOST || a->kind == REPLACE_DROP);
    struct coord_replace_call *call = coord_replace_call_find(r, a->kind, a->group, a->node);
    if (call != NULL && (call->is_inflight || (call->replaces == a->replaces &&
                                               now_ms < call->sent_ms + COORD_REPLACE_RETRY_MS))) {
        return;
    }
    struct rpc_client *rc = reconcile_client_get(c, a->node);
    if (rc == NULL) {
        return;
    }
    if (call == NULL) {
        call = coord_replace_call_slot(r);
        if (call == NULL) {
            return; /* every slot in flight: the next look tries again */
        }
        *call = (struct coord_replace_call){
            .is_used = true, .kind = a->kind, .group = a->group, .node = a->node};
        if (a->kind == REPLACE_HOST) {
            LOG_INFO("replace: asking node=%" PRIu32 " to host group=%" PRIu32
                     " replacing node=%" PRIu32,
                     a->node, a->group, a->replaces);
        } else {
            LOG_INFO("replace: node=%" PRIu32 " still hosts group=%" PRIu32
                     " it was replaced in; asking it to drop the replica",
                     a->node, a->group);
        }
    }
    call->replaces = a->replaces;
    call->sent_ms = now_ms;
    call->is_inflight = true;
    Eddy__HostGroupReq host = EDDY__HOST_GROUP_REQ__INIT;
    Eddy__DropGroupReq drop = EDDY__DROP_GROUP_REQ__INIT;
    Eddy__Frame f = EDDY__FRAME__INIT;
    if (a->kind == REPLACE_HOST) {
        host.group = a->group;
        host.replaces = a->replaces;
        f.body_case = EDDY__FRAME__BODY_HOST_GROUP;
        f.host_group = &host;
    } else {
        drop.group = a->group;
        f.body_case = EDDY__FRAME__BODY_DROP_GROUP;
        f.drop_group = &drop;
    }
    struct coord_replace_rpc *rpc = eddy_xmalloc(sizeof(*rpc));
    *rpc = (struct coord_replace_rpc){.c = c, .kind = a->kind, .group = a->group, .node = a->node};
    r->rpcs_inflight++;
    rpc_client_call(rc, &f, COORD_REPLACE_RPC_TIMEOUT_MS, coord_replace_on_reply, rpc);
}

/* ---- replacements ---- */

static void coord_replace_propose(struct coord *c, const struct replace_action *a, uint64_t now_ms)
{
    struct coord_replace *r = &c->replace;
    EDDY_ASSERT(a->kind == REPLACE_SET_REPLICAS);
    EDDY_ASSERT(!r->is_proposing);
    Eddy__GroupReplicas gr = EDDY__GROUP_REPLICAS__INIT;
    gr.group = a->group;
    gr.n_replicas = a->replica_count;
    gr.replicas = (uint32_t *)a->replicas;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = coord_now_ms(c);
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_REPLICAS;
    e.set_replicas = &gr;
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_REPLACE;
    r->is_proposing = true;
    r->change = *a;
    r->proposed_ms = now_ms;
    LOG_INFO("replace: node=%" PRIu32
             " dead for %u ms or more; moving its replica of group=%" PRIu32 " to node=%" PRIu32,
             a->replaces, r->dead_ms, a->group, a->node);
    coord_propose(c, &e, op);
}

void coord_replace_on_proposed(struct coord *c, int code)
{
    struct coord_replace *r = &c->replace;
    if (!r->is_proposing) {
        return; /* leadership changed meanwhile: a reset forgot it */
    }
    r->is_proposing = false;
    uint64_t now_ms = uv_now(c->loop);
    if (code != 0) {
        LOG_WARN("replace: set_replicas group=%" PRIu32 " failed code=%d err=%s", r->change.group,
                 code, eddy_strerror(code));
        return;
    }
    LOG_INFO("replace: catalogue lists node=%" PRIu32 " instead of node=%" PRIu32
             " for group=%" PRIu32,
             r->change.node, r->change.replaces, r->change.group);
    r->is_settling = true;
    r->committed_ms = now_ms;
    r->next_look_ms = now_ms; /* ask the new node at once */
}

/* Ends the settling of the last replacement once its group is settled (or
 * it took too long). */
static void
coord_replace_check_settled(struct coord *c, const struct replace_view *v, uint64_t now_ms)
{
    struct coord_replace *r = &c->replace;
    if (!r->is_settling) {
        return;
    }
    const struct replace_group *g = NULL;
    for (size_t i = 0; i < v->group_count && g == NULL; i++) {
        g = v->groups[i].id == r->change.group ? &v->groups[i] : NULL;
    }
    bool is_replica_dead = false;
    for (unsigned i = 0; g != NULL && i < g->replica_count; i++) {
        is_replica_dead = is_replica_dead || !g->replicas[i].is_alive;
    }
    if (g != NULL && replace_group_is_settled(g)) {
        LOG_INFO("replace: group=%" PRIu32 " re-replicated on node=%" PRIu32 " (node=%" PRIu32
                 " out) %" PRIu64 " ms after the decision",
                 g->id, r->change.node, r->change.replaces, now_ms - r->proposed_ms);
        r->is_settling = false;
    } else if (g == NULL || is_replica_dead) {
        /* Another replica failed meanwhile: waiting for this one to settle
         * would hold up its own replacement. */
        LOG_WARN("replace: group=%" PRIu32 " lost a replica while node=%" PRIu32
                 " replaced node=%" PRIu32 "; not waiting for it to settle",
                 r->change.group, r->change.node, r->change.replaces);
        r->is_settling = false;
    } else if (now_ms - r->committed_ms > COORD_REPLACE_SETTLE_MS_MAX) {
        LOG_WARN("replace: group=%" PRIu32 " not settled %u ms after node=%" PRIu32
                 " replaced node=%" PRIu32 "; going on with the next replacement",
                 r->change.group, COORD_REPLACE_SETTLE_MS_MAX, r->change.node, r->change.replaces);
        r->is_settling = false;
    }
}

void coord_replace_run(struct coord *c)
{
    struct coord_replace *r = &c->replace;
    uint64_t now_ms = uv_now(c->loop);
    if (now_ms < r->next_look_ms) {
        return;
    }
    r->next_look_ms = now_ms + COORD_REPLACE_INTERVAL_MS;
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    struct replace_view v;
    replace_view_build(cat, &c->cluster.live, now_ms, &v);
    struct replace_action actions[COORD_REPLACE_ACTIONS_MAX];
    size_t n = replace_hosts(&v, actions, COORD_REPLACE_ACTIONS_MAX);
    for (size_t i = 0; i < n && i < COORD_REPLACE_ACTIONS_MAX; i++) {
        coord_replace_send(c, &actions[i], now_ms);
    }
    n = replace_drops(&v, actions, COORD_REPLACE_ACTIONS_MAX);
    for (size_t i = 0; i < n && i < COORD_REPLACE_ACTIONS_MAX; i++) {
        coord_replace_send(c, &actions[i], now_ms);
    }
    coord_replace_check_settled(c, &v, now_ms);
    struct replace_action a;
    if (!r->is_proposing && !r->is_settling && replace_pick(&v, r->dead_ms, &a)) {
        coord_replace_propose(c, &a, now_ms);
    }
    replace_view_free(&v);
}
