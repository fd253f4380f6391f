/*
 * Resharding on the coordinator leader (see coord_reshard.h): the requests
 * and the driver's tasks, one per stream whose reshard has begun, rebuilt
 * from the catalogue on every pass. Callbacks find their task by id, never
 * by pointer.
 */
#include "coord_reshard.h"
#include "catalog.h"
#include "catalog_reshard.h"
#include "coord_internal.h"
#include "reshard_plan.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"
#include "eddy/seqnum.h"

#include <inttypes.h>
#include <string.h>

/* ---- requests ---- */

/* Plans what req asks of s; 0 or the request's error. */
static int coord_reshard_plan(struct coord *c,
                              const Eddy__StreamInfo *s,
                              const Eddy__ReshardReq *req,
                              struct reshard_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    switch (req->op_case) {
    case EDDY__RESHARD_REQ__OP_SPLIT:
        if (req->split->new_starting_hash_key.len != 16) {
            return -EDDY_EINVAL;
        }
        return reshard_plan_split(s, req->split->shard,
                                  u128_from_be(req->split->new_starting_hash_key.data), plan);
    case EDDY__RESHARD_REQ__OP_MERGE:
        return reshard_plan_merge(s, req->merge->shard, req->merge->adjacent_shard, plan);
    case EDDY__RESHARD_REQ__OP_TARGET_SHARD_COUNT: {
        uint64_t open = catalog_stream_open_count(s);
        uint64_t target = req->target_shard_count;
        if (target == 0) {
            return -EDDY_EINVAL;
        }
        /* API_UpdateShardCount: not above double, not below half, not past
         * the per-stream bound, at most ten calls a day. */
        if (target > 2 * open || 2 * target < open || target > COORD_STREAM_SHARDS_MAX ||
            catalog_scaling_calls(s, coord_now_ms(c)) >= CATALOG_SCALING_CALLS_MAX) {
            return -EDDY_ELIMIT;
        }
        return reshard_plan_scale(s, (uint32_t)target, plan);
    }
    default:
        return -EDDY_EINVAL;
    }
}

/* Proposes the begin entry of plan (placed) for s; cop (its kind set,
 * taken) completes when it applies. */
static void coord_reshard_propose_begin(struct coord *c,
                                        struct coord_op *cop,
                                        const Eddy__StreamInfo *s,
                                        const struct reshard_plan *plan,
                                        uint32_t target_shard_count)
{
    size_t n = plan->count;
    Eddy__ShardInfo *shards = eddy_xcalloc(n, sizeof(*shards));
    Eddy__ShardInfo **ptrs = eddy_xcalloc(n, sizeof(*ptrs));
    uint8_t(*bytes)[3][16] = eddy_xcalloc(n, sizeof(*bytes));
    for (size_t k = 0; k < n; k++) {
        const struct reshard_child *ch = &plan->children[k];
        u128_to_be(ch->start, bytes[k][0]);
        u128_to_be(ch->end, bytes[k][1]);
        u128_to_be(seqnum_shard_start(ch->index), bytes[k][2]);
        eddy__shard_info__init(&shards[k]);
        shards[k].index = ch->index;
        shards[k].hash_start = (ProtobufCBinaryData){16, bytes[k][0]};
        shards[k].hash_end = (ProtobufCBinaryData){16, bytes[k][1]};
        shards[k].starting_sequence = (ProtobufCBinaryData){16, bytes[k][2]};
        shards[k].group = ch->group;
        shards[k].parent = ch->parent;
        shards[k].adjacent_parent = ch->adjacent_parent;
        ptrs[k] = &shards[k];
    }
    Eddy__Reshard op = EDDY__RESHARD__INIT;
    op.name = s->name;
    op.created_ms = s->created_ms;
    op.n_add = n;
    op.add = ptrs;
    op.target_shard_count = target_shard_count;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = coord_now_ms(c);
    e.op_case = EDDY__CATALOG_ENTRY__OP_RESHARD;
    e.reshard = &op;
    LOG_INFO("reshard begins stream=%s children=%zu closing=%" PRIu32 " target=%" PRIu32, s->name,
             n, plan->closing, target_shard_count);
    coord_propose(c, &e, cop);
    eddy_free(bytes);
    eddy_free(ptrs);
    eddy_free(shards);
}

static void coord_reshard_reply(struct rpc_call *call, int code)
{
    if (code == 0) {
        rpc_reply_ok(call);
        return;
    }
    rpc_reply_error(call, code, 0, eddy_strerror(code));
}

/* Whether the catalogue has room for plan's children: -EDDY_ELIMIT if not. */
static int
coord_reshard_plan_fits(struct coord *c, const Eddy__StreamInfo *s, const struct reshard_plan *plan)
{
    if (plan->count > 0 && (catalog_shard_count(c->catalog) + plan->count > COORD_SHARDS_MAX ||
                            s->n_shards + plan->count > COORD_SHARDS_MAX ||
                            plan->children[plan->count - 1].index > SEQNUM_SHARD_MAX)) {
        return -EDDY_ELIMIT;
    }
    return 0;
}

void coord_reshard_handle(struct coord *c, struct rpc_call *call, const Eddy__ReshardReq *req)
{
    const Eddy__StreamInfo *s =
        req->name != NULL ? catalog_find_stream(c->catalog, req->name) : NULL;
    int code = 0;
    if (s == NULL || (req->created_ms != 0 && s->created_ms != req->created_ms)) {
        code = -EDDY_ENOTFOUND;
    } else if (s->mode != EDDY__STREAM_MODE__MODE_PROVISIONED) {
        code = -EDDY_EINVAL;
    } else if (s->status != EDDY__STREAM_STATUS__STREAM_ACTIVE) {
        code = -EDDY_EINUSE;
    } else if (c->client_ops_inflight >= COORD_PROPOSALS_INFLIGHT_MAX) {
        code = -EDDY_EFULL;
    }
    if (code != 0) {
        coord_reshard_reply(call, code);
        return;
    }
    struct reshard_plan plan;
    code = coord_reshard_plan(c, s, req, &plan);
    if (code == 0) {
        code = coord_reshard_plan_fits(c, s, &plan);
    }
    if (code != 0 || plan.count == 0) {
        /* Nothing to do: UpdateShardCount to the even split the stream has. */
        reshard_plan_free(&plan);
        coord_reshard_reply(call, code);
        return;
    }
    reshard_plan_place(catalog_get(c->catalog), s, &plan);
    uint32_t target =
        req->op_case == EDDY__RESHARD_REQ__OP_TARGET_SHARD_COUNT ? req->target_shard_count : 0;
    struct coord_op *cop = eddy_xcalloc(1, sizeof(*cop));
    cop->kind = COORD_OP_CLIENT;
    cop->call = call;
    c->client_ops_inflight++;
    coord_reshard_propose_begin(c, cop, s, &plan, target);
    reshard_plan_free(&plan);
}

int coord_reshard_begin_split(
    struct coord *c, const Eddy__StreamInfo *s, uint32_t shard, u128 new_start, struct coord_op *op)
{
    EDDY_ASSERT(op->kind != COORD_OP_CLIENT); /* no call to answer */
    if (s->status != EDDY__STREAM_STATUS__STREAM_ACTIVE) {
        return -EDDY_EINUSE;
    }
    struct reshard_plan plan;
    int code = reshard_plan_split(s, shard, new_start, &plan);
    if (code == 0) {
        code = coord_reshard_plan_fits(c, s, &plan);
    }
    if (code != 0) {
        reshard_plan_free(&plan);
        return code;
    }
    EDDY_ASSERT(plan.count == 2); /* a split has two children */
    reshard_plan_place(catalog_get(c->catalog), s, &plan);
    coord_reshard_propose_begin(c, op, s, &plan, 0);
    reshard_plan_free(&plan);
    return 0;
}

/* ---- the driver's tasks ---- */

enum coord_reshard_phase { RESHARD_CREATE, RESHARD_CLOSE, RESHARD_FINISH };

enum coord_reshard_step { RESHARD_STEP_PENDING, RESHARD_STEP_INFLIGHT, RESHARD_STEP_DONE };

/* One group's call of the current phase. */
struct coord_reshard_call {
    uint32_t group;
    enum coord_reshard_step step;
    uint32_t target_node; /* leader hint to try next; 0: replicas[attempt] */
    unsigned attempt;
};

struct coord_reshard_task {
    uint64_t id;
    char name[KIN_STREAM_NAME_LEN_MAX + 1];
    uint64_t created_ms;
    enum coord_reshard_phase phase;
    bool proposing;
    uint32_t *created; /* children of the reshard, by index */
    size_t created_count;
    uint32_t *closing; /* shards it closes, by index */
    size_t closing_count;
    uint8_t (*ending)[16]; /* per closing shard, once its group answered */
    struct coord_reshard_call *calls;
    size_t call_count;
    struct coord_reshard_task *next;
};

/* One CreateShards/CloseShards in flight. */
struct coord_reshard_rpc {
    struct coord *c;
    uint64_t task_id;
    enum coord_reshard_phase phase;
    size_t call_pos;
    uint32_t node_id;
};

static void coord_reshard_task_destroy(struct coord_reshard_task *t)
{
    eddy_free(t->created);
    eddy_free(t->closing);
    eddy_free(t->ending);
    eddy_free(t->calls);
    eddy_free(t);
}

void coord_reshard_clear(struct coord_reshard *r)
{
    while (r->tasks != NULL) {
        struct coord_reshard_task *t = r->tasks;
        r->tasks = t->next;
        coord_reshard_task_destroy(t);
    }
    r->task_count = 0;
}

static struct coord_reshard_task *coord_reshard_task_find(struct coord_reshard *r, uint64_t id)
{
    for (struct coord_reshard_task *t = r->tasks; t != NULL; t = t->next) {
        if (t->id == id) {
            return t;
        }
    }
    return NULL;
}

static uint32_t coord_reshard_group_of(const Eddy__StreamInfo *s, uint32_t index)
{
    const Eddy__ShardInfo *sh = catalog_stream_shard(s, index);
    EDDY_ASSERT(sh != NULL); /* the task was made from this catalogue */
    return sh->group;
}

/* One call per distinct group of the shards (created or closing). */
static void coord_reshard_task_calls(struct coord *c,
                                     struct coord_reshard_task *t,
                                     const Eddy__StreamInfo *s,
                                     const uint32_t *shards,
                                     size_t count)
{
    eddy_free(t->calls);
    t->calls = eddy_xcalloc(count + 1, sizeof(*t->calls));
    t->call_count = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t g = coord_reshard_group_of(s, shards[i]);
        bool seen = false;
        for (size_t k = 0; k < t->call_count && !seen; k++) {
            seen = t->calls[k].group == g;
        }
        if (!seen) {
            t->calls[t->call_count++] = (struct coord_reshard_call){
                .group = g,
                .step = RESHARD_STEP_PENDING,
                .target_node = g <= COORD_GROUPS_MAX ? c->rec.group_leader_hint[g] : 0,
            };
        }
    }
}

static void coord_reshard_task_create(struct coord *c, const Eddy__StreamInfo *s)
{
    struct coord_reshard_task *t = eddy_xcalloc(1, sizeof(*t));
    t->id = ++c->reshard.next_task_id;
    EDDY_ASSERT(strlen(s->name) <= KIN_STREAM_NAME_LEN_MAX);
    strcpy(t->name, s->name);
    t->created_ms = s->created_ms;
    t->phase = RESHARD_CREATE;
    catalog_reshard_members(s, &t->created, &t->created_count, &t->closing, &t->closing_count);
    t->ending = eddy_xcalloc(t->closing_count + 1, sizeof(*t->ending));
    coord_reshard_task_calls(c, t, s, t->created, t->created_count);
    t->next = c->reshard.tasks;
    c->reshard.tasks = t;
    c->reshard.task_count++;
    EDDY_ASSERT(c->reshard.task_count <= COORD_STREAMS_MAX);
    LOG_INFO("reshard driving stream=%s children=%zu closing=%zu", s->name, t->created_count,
             t->closing_count);
}

/* A stream deleted while UPDATING keeps its pending children in the
 * catalogue until it is removed; its reshard is abandoned: no CreateShards
 * may reach a group after the reconciler's DropStream. */
static bool coord_reshard_is_driven(const Eddy__StreamInfo *s)
{
    return s->status != EDDY__STREAM_STATUS__STREAM_DELETING && catalog_reshard_is_pending(s);
}

static bool coord_reshard_task_matches(const struct coord_reshard_task *t,
                                       const Eddy__StreamInfo *s)
{
    return s != NULL && s->created_ms == t->created_ms && coord_reshard_is_driven(s);
}

/* Drops tasks whose reshard finished (or stream went); adds one per stream
 * with a reshard begun. */
static void coord_reshard_sync(struct coord *c)
{
    struct coord_reshard_task **link = &c->reshard.tasks;
    while (*link != NULL) {
        struct coord_reshard_task *t = *link;
        if (coord_reshard_task_matches(t, catalog_find_stream(c->catalog, t->name))) {
            link = &t->next;
            continue;
        }
        *link = t->next;
        c->reshard.task_count--;
        coord_reshard_task_destroy(t);
    }
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *s = cat->streams[i];
        if (!coord_reshard_is_driven(s)) {
            continue;
        }
        bool found = false;
        for (struct coord_reshard_task *t = c->reshard.tasks; t != NULL && !found; t = t->next) {
            found = strcmp(t->name, s->name) == 0;
        }
        if (!found) {
            coord_reshard_task_create(c, s);
        }
    }
}

/* ---- calls ---- */

/* The node to ask for group g now: the hint if it is a replica, else the
 * replicas in turn. */
static uint32_t coord_reshard_target(const Eddy__GroupInfo *g, const struct coord_reshard_call *rc)
{
    for (size_t r = 0; r < g->n_replicas && rc->target_node != 0; r++) {
        if (g->replicas[r] == rc->target_node) {
            return rc->target_node;
        }
    }
    return g->replicas[rc->attempt % g->n_replicas];
}

/* The shards of the phase's list that live on group, in list order. */
static size_t coord_reshard_group_shards(
    const Eddy__StreamInfo *s, const uint32_t *list, size_t count, uint32_t group, uint32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (coord_reshard_group_of(s, list[i]) == group) {
            out[n++] = list[i];
        }
    }
    return n;
}

/* Records the ending sequences a CloseShards answer gives; false when the
 * answer does not fit the request. */
static bool coord_reshard_note_endings(struct coord_reshard_task *t,
                                       const Eddy__StreamInfo *s,
                                       uint32_t group,
                                       const Eddy__CloseShardsResp *resp)
{
    size_t k = 0;
    for (size_t i = 0; i < t->closing_count; i++) {
        if (coord_reshard_group_of(s, t->closing[i]) != group) {
            continue;
        }
        if (k >= resp->n_ending_sequences || resp->ending_sequences[k].len != 16) {
            return false;
        }
        memcpy(t->ending[i], resp->ending_sequences[k].data, 16);
        k++;
    }
    return k == resp->n_ending_sequences;
}

/* The shard server did (or had done) the work of the call. */
static bool coord_reshard_reply_is_done(struct coord_reshard_task *t,
                                        const Eddy__StreamInfo *s,
                                        uint32_t group,
                                        enum coord_reshard_phase phase,
                                        int code,
                                        const Eddy__Frame *resp)
{
    if (phase == RESHARD_CREATE) {
        return code == 0 || code == -EDDY_EEXISTS;
    }
    return code == 0 && resp != NULL && resp->body_case == EDDY__FRAME__BODY_CLOSE_SHARDS_RESP &&
           coord_reshard_note_endings(t, s, group, resp->close_shards_resp);
}

static void coord_reshard_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct coord_reshard_rpc *r = arg;
    struct coord *c = r->c; /* alive: it waits for rpcs_inflight to drain */
    EDDY_ASSERT(c->reshard.rpcs_inflight > 0);
    c->reshard.rpcs_inflight--;
    int code = status;
    uint32_t leader = 0;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : -EDDY_EMALFORMED;
        leader = st != NULL ? st->leader_node : 0;
    }
    struct coord_reshard_task *t =
        c->state == COORD_RUNNING ? coord_reshard_task_find(&c->reshard, r->task_id) : NULL;
    const Eddy__StreamInfo *s = t != NULL ? catalog_find_stream(c->catalog, t->name) : NULL;
    bool done = false;
    if (t != NULL && coord_reshard_task_matches(t, s) && t->phase == r->phase &&
        r->call_pos < t->call_count) {
        struct coord_reshard_call *rc = &t->calls[r->call_pos];
        EDDY_ASSERT(rc->step == RESHARD_STEP_INFLIGHT);
        if (coord_reshard_reply_is_done(t, s, rc->group, r->phase, code,
                                        status == 0 ? resp : NULL)) {
            rc->step = RESHARD_STEP_DONE;
            c->rec.group_leader_hint[rc->group] = r->node_id;
            done = true;
        } else {
            rc->step = RESHARD_STEP_PENDING;
            rc->target_node = code == -EDDY_ENOTLEADER ? leader : 0;
            c->rec.group_leader_hint[rc->group] = rc->target_node;
            if (rc->target_node == 0) {
                rc->attempt++;
            }
            LOG_DEBUG("reshard call failed stream=%s group=%" PRIu32 " node=%" PRIu32
                      " code=%d err=%s",
                      t->name, rc->group, r->node_id, code, eddy_strerror(code));
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

/* Sends the phase's call at pos. */
static void coord_reshard_send(struct coord *c,
                               struct coord_reshard_task *t,
                               const Eddy__StreamInfo *s,
                               size_t pos)
{
    struct coord_reshard_call *rc = &t->calls[pos];
    const Eddy__GroupInfo *g = catalog_find_group(c->catalog, rc->group);
    EDDY_ASSERT(g != NULL && g->n_replicas > 0); /* the catalogue validated it */
    uint32_t node = coord_reshard_target(g, rc);
    struct rpc_client *cl = reconcile_client_get(c, node);
    if (cl == NULL) {
        rc->target_node = 0;
        rc->attempt++;
        return;
    }
    bool create = t->phase == RESHARD_CREATE;
    const uint32_t *list = create ? t->created : t->closing;
    size_t count = create ? t->created_count : t->closing_count;
    uint32_t *shards = eddy_xcalloc(count + 1, sizeof(*shards));
    size_t n = coord_reshard_group_shards(s, list, count, rc->group, shards);
    Eddy__Frame f = EDDY__FRAME__INIT;
    Eddy__CreateShardsReq cr = EDDY__CREATE_SHARDS_REQ__INIT;
    Eddy__CloseShardsReq cl_req = EDDY__CLOSE_SHARDS_REQ__INIT;
    if (create) {
        cr.group = rc->group;
        cr.stream = (char *)s->name;
        cr.stream_created_ms = s->created_ms;
        cr.n_shards = n;
        cr.shards = shards;
        f.body_case = EDDY__FRAME__BODY_CREATE_SHARDS;
        f.create_shards = &cr;
    } else {
        cl_req.group = rc->group;
        cl_req.stream = (char *)s->name;
        cl_req.stream_created_ms = s->created_ms;
        cl_req.n_shards = n;
        cl_req.shards = shards;
        f.body_case = EDDY__FRAME__BODY_CLOSE_SHARDS;
        f.close_shards = &cl_req;
    }
    struct coord_reshard_rpc *r = eddy_xcalloc(1, sizeof(*r));
    *r = (struct coord_reshard_rpc){
        .c = c, .task_id = t->id, .phase = t->phase, .call_pos = pos, .node_id = node};
    rc->step = RESHARD_STEP_INFLIGHT;
    c->reshard.rpcs_inflight++;
    rpc_client_call(cl, &f, COORD_SHARD_RPC_TIMEOUT_MS, coord_reshard_on_reply, r);
    eddy_free(shards);
}

/* Proposes the finish: every closing shard with its ending sequence. */
static void coord_reshard_finish(struct coord *c, struct coord_reshard_task *t)
{
    Eddy__ShardEnd *ends = eddy_xcalloc(t->closing_count + 1, sizeof(*ends));
    Eddy__ShardEnd **ptrs = eddy_xcalloc(t->closing_count + 1, sizeof(*ptrs));
    for (size_t i = 0; i < t->closing_count; i++) {
        eddy__shard_end__init(&ends[i]);
        ends[i].shard = t->closing[i];
        ends[i].ending_sequence = (ProtobufCBinaryData){16, t->ending[i]};
        ptrs[i] = &ends[i];
    }
    Eddy__Reshard op = EDDY__RESHARD__INIT;
    op.name = t->name;
    op.created_ms = t->created_ms;
    op.n_close = t->closing_count;
    op.close = ptrs;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = coord_now_ms(c);
    e.op_case = EDDY__CATALOG_ENTRY__OP_RESHARD;
    e.reshard = &op;
    struct coord_op *cop = eddy_xcalloc(1, sizeof(*cop));
    cop->kind = COORD_OP_RESHARD;
    cop->task_id = t->id;
    t->proposing = true;
    LOG_INFO("reshard shards closed, finishing stream=%s closing=%zu", t->name, t->closing_count);
    coord_propose(c, &e, cop);
    eddy_free(ptrs);
    eddy_free(ends);
}

/* Moves the task on once every call of its phase is done. */
static void
coord_reshard_advance(struct coord *c, struct coord_reshard_task *t, const Eddy__StreamInfo *s)
{
    for (size_t i = 0; i < t->call_count; i++) {
        if (t->calls[i].step != RESHARD_STEP_DONE) {
            return;
        }
    }
    if (t->phase == RESHARD_CREATE) {
        t->phase = RESHARD_CLOSE; /* every child exists: parents may close */
        coord_reshard_task_calls(c, t, s, t->closing, t->closing_count);
        return;
    }
    if (t->phase == RESHARD_CLOSE) {
        t->phase = RESHARD_FINISH;
    }
    if (!t->proposing) {
        coord_reshard_finish(c, t);
    }
}

void coord_reshard_run(struct coord *c)
{
    coord_reshard_sync(c);
    for (struct coord_reshard_task *t = c->reshard.tasks; t != NULL; t = t->next) {
        const Eddy__StreamInfo *s = catalog_find_stream(c->catalog, t->name);
        EDDY_ASSERT(coord_reshard_task_matches(t, s)); /* sync kept only those */
        if (t->phase != RESHARD_FINISH) {
            for (size_t pos = 0; pos < t->call_count; pos++) {
                if (t->calls[pos].step == RESHARD_STEP_PENDING &&
                    c->reshard.rpcs_inflight < COORD_RECONCILE_INFLIGHT_MAX) {
                    coord_reshard_send(c, t, s, pos);
                }
            }
        }
        coord_reshard_advance(c, t, s);
    }
}

void coord_reshard_on_proposed(struct coord *c, uint64_t task_id, int code)
{
    struct coord_reshard_task *t = coord_reshard_task_find(&c->reshard, task_id);
    if (t == NULL) {
        return;
    }
    t->proposing = false;
    if (code == 0) {
        LOG_INFO("reshard finished stream=%s", t->name);
        return; /* the next sync drops the task */
    }
    /* Start over from the catalogue: every step repeats harmlessly. */
    LOG_WARN("reshard finish failed stream=%s code=%d err=%s", t->name, code, eddy_strerror(code));
    struct coord_reshard_task **link = &c->reshard.tasks;
    while (*link != t) {
        link = &(*link)->next;
    }
    *link = t->next;
    c->reshard.task_count--;
    coord_reshard_task_destroy(t);
}
