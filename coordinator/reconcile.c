/*
 * The reconciler (see reconcile.h): tasks rebuilt from the catalogue, the
 * CreateShards/DropStream calls they make, and the proposals that end them.
 */
#include "reconcile.h"
#include "catalog.h"
#include "coord_consumer.h"
#include "coord_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <string.h>

/* Progress of one task on one group. */
enum reconcile_step {
    RECONCILE_STEP_NONE, /* the group holds no shard of the stream */
    RECONCILE_STEP_PENDING,
    RECONCILE_STEP_INFLIGHT,
    RECONCILE_STEP_DONE
};

struct reconcile_task_group {
    enum reconcile_step step;
    uint32_t target_node; /* leader hint to try next; 0: replicas[attempt] */
    unsigned attempt;
};

struct reconcile_task {
    uint64_t id;
    char name[KIN_STREAM_NAME_LEN_MAX + 1];
    uint64_t created_ms;
    Eddy__StreamStatus status; /* CREATING, DELETING, or UPDATING for a settings change */
    uint64_t since_ms;         /* when that status began: CREATING/UPDATING last this long */
    bool proposing;            /* the final set_status/remove is in flight */
    size_t group_count;        /* = the catalogue's n_groups */
    struct reconcile_task_group *groups;
    struct reconcile_task *next;
};

/* One CreateShards/DropStream in flight. */
struct reconcile_call {
    struct coord *c;
    uint64_t task_id;
    size_t group_pos;
    uint32_t node_id;
};

/* ---- tasks ---- */

static struct reconcile_task *reconcile_task_find(struct reconcile *r, uint64_t id)
{
    for (struct reconcile_task *t = r->tasks; t != NULL; t = t->next) {
        if (t->id == id) {
            return t;
        }
    }
    return NULL;
}

static void reconcile_task_destroy(struct reconcile_task *t)
{
    eddy_free(t->groups);
    eddy_free(t);
}

void reconcile_clear(struct reconcile *r)
{
    while (r->tasks != NULL) {
        struct reconcile_task *t = r->tasks;
        r->tasks = t->next;
        reconcile_task_destroy(t);
    }
    r->task_count = 0;
}

/* Position of group id in the catalogue's ascending group list. */
static size_t reconcile_group_pos(const Eddy__Catalog *cat, uint32_t id)
{
    size_t lo = 0;
    size_t hi = cat->n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cat->groups[mid]->id == id) {
            return mid;
        }
        if (cat->groups[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return SIZE_MAX;
}

static void reconcile_task_create(struct coord *c, const Eddy__StreamInfo *s)
{
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    struct reconcile_task *t = eddy_xcalloc(1, sizeof(*t));
    t->id = ++c->rec.next_task_id;
    EDDY_ASSERT(strlen(s->name) <= KIN_STREAM_NAME_LEN_MAX);
    strcpy(t->name, s->name);
    t->created_ms = s->created_ms;
    t->status = s->status;
    t->since_ms =
        s->status == EDDY__STREAM_STATUS__STREAM_UPDATING ? s->status_changed_ms : s->created_ms;
    t->group_count = cat->n_groups;
    t->groups = eddy_xcalloc(cat->n_groups, sizeof(*t->groups));
    /* A settings change needs no shard server: its task only waits. */
    for (size_t i = 0; s->status != EDDY__STREAM_STATUS__STREAM_UPDATING && i < s->n_shards; i++) {
        size_t pos = reconcile_group_pos(cat, s->shards[i]->group);
        EDDY_ASSERT(pos != SIZE_MAX); /* the catalogue validated it */
        t->groups[pos].step = RECONCILE_STEP_PENDING;
        t->groups[pos].target_node = c->rec.group_leader_hint[s->shards[i]->group];
    }
    t->next = c->rec.tasks;
    c->rec.tasks = t;
    c->rec.task_count++;
    EDDY_ASSERT(c->rec.task_count <= COORD_STREAMS_MAX);
}

static bool reconcile_task_matches(const struct reconcile_task *t, const Eddy__StreamInfo *s)
{
    if (s == NULL || s->created_ms != t->created_ms || s->status != t->status) {
        return false;
    }
    return t->status != EDDY__STREAM_STATUS__STREAM_UPDATING ||
           (s->settings_updating && s->status_changed_ms == t->since_ms);
}

/* Drops tasks whose stream moved on; adds one per CREATING/DELETING stream. */
static void reconcile_sync(struct coord *c)
{
    struct reconcile_task **link = &c->rec.tasks;
    while (*link != NULL) {
        struct reconcile_task *t = *link;
        if (reconcile_task_matches(t, catalog_find_stream(c->catalog, t->name))) {
            link = &t->next;
            continue;
        }
        *link = t->next;
        c->rec.task_count--;
        reconcile_task_destroy(t);
    }
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *s = cat->streams[i];
        bool settings = s->status == EDDY__STREAM_STATUS__STREAM_UPDATING && s->settings_updating;
        if (s->status != EDDY__STREAM_STATUS__STREAM_CREATING &&
            s->status != EDDY__STREAM_STATUS__STREAM_DELETING && !settings) {
            continue;
        }
        bool found = false;
        for (struct reconcile_task *t = c->rec.tasks; t != NULL && !found; t = t->next) {
            found = strcmp(t->name, s->name) == 0 && reconcile_task_matches(t, s);
        }
        if (!found) {
            reconcile_task_create(c, s);
        }
    }
}

/* ---- calls ---- */

struct rpc_client *reconcile_client_get(struct coord *c, uint32_t node_id)
{
    for (unsigned i = 0; i < c->rec.client_count; i++) {
        if (c->rec.clients[i].node_id == node_id) {
            return c->rec.clients[i].client;
        }
    }
    const Eddy__NodeInfo *n = catalog_find_node(c->catalog, node_id);
    if (n == NULL || c->rec.client_count == COORD_NODES_MAX) {
        return NULL;
    }
    struct rpc_client *cl;
    int rv = rpc_client_init(&cl, c->loop, n->rpc_address);
    if (rv != 0) {
        LOG_WARN("rpc client failed node=%" PRIu32 " addr=%s err=%s", node_id, n->rpc_address,
                 eddy_strerror(rv));
        return NULL;
    }
    c->rec.clients[c->rec.client_count].node_id = node_id;
    c->rec.clients[c->rec.client_count].client = cl;
    c->rec.client_count++;
    return cl;
}

/* The node to ask for group g now: the hint if it is a replica, else the
 * replicas in turn. */
static uint32_t reconcile_target_node(const Eddy__GroupInfo *g,
                                      const struct reconcile_task_group *tg)
{
    for (size_t r = 0; r < g->n_replicas && tg->target_node != 0; r++) {
        if (g->replicas[r] == tg->target_node) {
            return tg->target_node;
        }
    }
    return g->replicas[tg->attempt % g->n_replicas];
}

/* A reply counts as done when the shard server did (or had done) the work. */
static bool reconcile_reply_is_done(const struct reconcile_task *t, int code)
{
    if (code == 0) {
        return true;
    }
    if (t->status == EDDY__STREAM_STATUS__STREAM_CREATING) {
        return code == -EDDY_EEXISTS;
    }
    return code == -EDDY_ENOTFOUND;
}

static void reconcile_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct reconcile_call *r = arg;
    struct coord *c = r->c; /* alive: it waits for rpcs_inflight to drain */
    EDDY_ASSERT(c->rec.rpcs_inflight > 0);
    c->rec.rpcs_inflight--;
    int code = status;
    uint32_t leader = 0;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : -EDDY_EMALFORMED;
        leader = st != NULL ? st->leader_node : 0;
    }
    struct reconcile_task *t =
        c->state == COORD_RUNNING ? reconcile_task_find(&c->rec, r->task_id) : NULL;
    bool done = false;
    if (t != NULL && r->group_pos < t->group_count &&
        r->group_pos < catalog_get(c->catalog)->n_groups) {
        struct reconcile_task_group *tg = &t->groups[r->group_pos];
        const Eddy__GroupInfo *g = catalog_get(c->catalog)->groups[r->group_pos];
        EDDY_ASSERT(tg->step == RECONCILE_STEP_INFLIGHT);
        if (reconcile_reply_is_done(t, code)) {
            tg->step = RECONCILE_STEP_DONE;
            c->rec.group_leader_hint[g->id] = r->node_id;
            done = true;
        } else {
            tg->step = RECONCILE_STEP_PENDING;
            tg->target_node = code == -EDDY_ENOTLEADER ? leader : 0;
            c->rec.group_leader_hint[g->id] = tg->target_node;
            if (tg->target_node == 0) {
                tg->attempt++;
            }
            LOG_DEBUG("shard call failed stream=%s group=%" PRIu32 " node=%" PRIu32
                      " code=%d err=%s",
                      t->name, g->id, r->node_id, code, eddy_strerror(code));
        }
    }
    eddy_free(r);
    if (c->state == COORD_CLOSING) {
        coord_maybe_free(c);
        return;
    }
    if (done) {
        coord_kick(c);
    }
}

/* Sends the task's call for the group at pos. */
static void reconcile_task_send(struct coord *c, struct reconcile_task *t, size_t pos)
{
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    const Eddy__GroupInfo *g = cat->groups[pos];
    struct reconcile_task_group *tg = &t->groups[pos];
    uint32_t node = reconcile_target_node(g, tg);
    struct rpc_client *cl = reconcile_client_get(c, node);
    if (cl == NULL) {
        tg->target_node = 0;
        tg->attempt++;
        return;
    }
    const Eddy__StreamInfo *s = catalog_find_stream(c->catalog, t->name);
    EDDY_ASSERT(s != NULL);
    Eddy__Frame f = EDDY__FRAME__INIT;
    Eddy__CreateShardsReq create = EDDY__CREATE_SHARDS_REQ__INIT;
    Eddy__DropStreamReq drop = EDDY__DROP_STREAM_REQ__INIT;
    uint32_t *shards = NULL;
    if (t->status == EDDY__STREAM_STATUS__STREAM_CREATING) {
        shards = eddy_xcalloc(s->n_shards, sizeof(*shards));
        for (size_t i = 0; i < s->n_shards; i++) {
            if (s->shards[i]->group == g->id) {
                shards[create.n_shards++] = s->shards[i]->index;
            }
        }
        create.group = g->id;
        create.stream = s->name;
        create.stream_created_ms = s->created_ms;
        create.shards = shards;
        f.body_case = EDDY__FRAME__BODY_CREATE_SHARDS;
        f.create_shards = &create;
    } else {
        drop.group = g->id;
        drop.stream = s->name;
        drop.stream_created_ms = s->created_ms;
        f.body_case = EDDY__FRAME__BODY_DROP_STREAM;
        f.drop_stream = &drop;
    }
    struct reconcile_call *r = eddy_xcalloc(1, sizeof(*r));
    r->c = c;
    r->task_id = t->id;
    r->group_pos = pos;
    r->node_id = node;
    tg->step = RECONCILE_STEP_INFLIGHT;
    c->rec.rpcs_inflight++;
    rpc_client_call(cl, &f, COORD_SHARD_RPC_TIMEOUT_MS, reconcile_on_reply, r);
    eddy_free(shards);
}

/* Proposes the step that ends the task: ACTIVE, or removal. */
static void reconcile_task_finish(struct coord *c, struct reconcile_task *t)
{
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    Eddy__SetStreamStatus set = EDDY__SET_STREAM_STATUS__INIT;
    e.now_ms = coord_now_ms(c);
    if (t->status != EDDY__STREAM_STATUS__STREAM_DELETING) {
        set.name = t->name;
        set.created_ms = t->created_ms;
        set.status = EDDY__STREAM_STATUS__STREAM_ACTIVE;
        e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
        e.set_status = &set;
    } else {
        e.op_case = EDDY__CATALOG_ENTRY__OP_REMOVE_STREAM;
        e.remove_stream = t->name;
    }
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_TASK;
    op->task_id = t->id;
    t->proposing = true;
    LOG_INFO("stream %s stream=%s",
             t->status == EDDY__STREAM_STATUS__STREAM_CREATING   ? "shards created, activating"
             : t->status == EDDY__STREAM_STATUS__STREAM_UPDATING ? "updated, activating"
                                                                 : "shards dropped, removing",
             t->name);
    coord_propose(c, &e, op);
}

/* ---- passes ---- */

void reconcile_run(struct coord *c)
{
    reconcile_sync(c);
    for (struct reconcile_task *t = c->rec.tasks; t != NULL; t = t->next) {
        if (t->proposing) {
            continue;
        }
        bool all_done = true;
        for (size_t pos = 0; pos < t->group_count; pos++) {
            struct reconcile_task_group *tg = &t->groups[pos];
            if (tg->step == RECONCILE_STEP_PENDING &&
                c->rec.rpcs_inflight < COORD_RECONCILE_INFLIGHT_MAX) {
                reconcile_task_send(c, t, pos);
            }
            all_done =
                all_done && (tg->step == RECONCILE_STEP_NONE || tg->step == RECONCILE_STEP_DONE);
        }
        bool young = t->status != EDDY__STREAM_STATUS__STREAM_DELETING &&
                     coord_now_ms(c) < t->since_ms + c->stream_creating_ms_min;
        if (all_done && !young) {
            reconcile_task_finish(c, t);
        }
    }
    if (!c->rec.consumer_step_inflight) {
        c->rec.consumer_step_inflight = coord_consumer_reconcile(c);
    }
}

void reconcile_on_proposed(struct reconcile *r, uint64_t task_id, int code)
{
    if (task_id == RECONCILE_TASK_CONSUMERS) {
        r->consumer_step_inflight = false; /* on failure the next pass proposes again */
        if (code != 0) {
            LOG_DEBUG("consumer step failed code=%d err=%s", code, eddy_strerror(code));
        }
        return;
    }
    struct reconcile_task *t = reconcile_task_find(r, task_id);
    if (t != NULL) {
        t->proposing = false; /* on failure the next pass proposes again */
    }
    if (code != 0) {
        LOG_DEBUG("reconcile proposal failed task=%" PRIu64 " code=%d err=%s", task_id, code,
                  eddy_strerror(code));
    }
}

unsigned reconcile_close_clients(struct reconcile *r, void (*cb)(void *arg), void *arg)
{
    unsigned n = r->client_count;
    for (unsigned i = 0; i < n; i++) {
        rpc_client_close(r->clients[i].client, cb, arg);
        r->clients[i].client = NULL;
    }
    r->client_count = 0;
    return n;
}
