/*
 * Membership and leadership changes of one Raft group replica (the second
 * half of eddy/rgroup.h): rejoining a replica that lost its data, leadership
 * transfer, the hand-off of a hydrating or draining leader, the voter list, and the
 * pristine-directory test that decides between bootstrap and join.
 *
 * Each request is a struct rgroup_op. It either fails at once (queued on
 * g->ops_done, its callback run from the loop's idle handle) or is handed to
 * raft and completes from raft's callback. Raft callbacks only record their
 * outcome: the replica's poll timer (rgroup.c) drives the next step, so no
 * raft call is ever made from inside raft's own callbacks (change callbacks
 * run from replicationApply, and during raft_close).
 *
 * A rejoin runs the steps REMOVE -> ADD -> ASSIGN, one membership change at
 * a time (0.15 refuses a second one with RAFT_CANTCHANGE while a change is
 * uncommitted or a promotion runs):
 *   REMOVE  raft_remove, when node_id is in the configuration (any role): a
 *           replica whose data was wiped must not keep its vote, or a quorum
 *           could form without entries it had acknowledged.
 *   ADD     raft_add: back as a spare, with a fresh progress record (match
 *           index 0), so catch-up starts from nothing.
 *   ASSIGN  raft_assign(RAFT_VOTER): 0.15 runs catch-up rounds (AppendEntries
 *           or InstallSnapshot) and commits the promotion once the spare is
 *           close enough; when the rounds give up (RAFT_NOCONNECTION) the
 *           step is asked again.
 * A replacement (rgroup_replace, docs/adr/0004) runs ADD -> ASSIGN ->
 * REMOVE_OLD: the new member is never removed first (it may be a voter
 * already, asking again after a lost answer), and the member it replaces
 * goes only once the new one votes, so the group keeps a majority of
 * caught-up voters throughout.
 * RAFT_CANTCHANGE is retried after RGROUP_CHANGE_RETRY_MS; the whole rejoin
 * is bounded by RGROUP_REJOIN_TIMEOUT_MS. Losing leadership ends it with
 * -EDDY_ENOTLEADER: the caller asks the new leader, which starts over (each
 * step checks the configuration first, so a repeat is harmless).
 *
 * Facts about 0.15 this file relies on (src/client.c, src/membership.c,
 * src/replication.c, src/tick.c, src/convert.c of v0.15.0):
 * - A raft_change callback runs exactly once: with 0 when the new
 *   configuration entry is applied (from inside replicationApply), with
 *   RAFT_LEADERSHIPLOST when leadership is lost (raft_close included, from
 *   inside it), and for raft_assign also with RAFT_NOCONNECTION when the
 *   catch-up rounds give up (max_catch_up_rounds, or one round longer than
 *   max_catch_up_round_duration).
 * - Spares get no AppendEntries until raft_assign promotes them; the catch-up
 *   of raft_assign(VOTER) uses the leader's progress record, which raft_add
 *   creates with match index 0.
 * - A raft_transfer callback runs once the target is known to lead, or
 *   election_timeout after the call, or from raft_close (convertToUnavailable
 *   aborts it). Success is only visible as this replica no longer leading.
 *   Meanwhile the leader refuses raft_apply and raft_barrier (RAFT_NOTLEADER)
 *   and raft_leader() reports no leader.
 * - A replica started without bootstrap on a pristine directory has no
 *   configuration: tickFollower never makes it a candidate and electionVote
 *   grants no vote. Once a leader replicates a configuration naming it a
 *   voter (the old one, before REMOVE commits) it votes again.
 */
#include "eddy/rgroup.h"
#include "rgroup_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef RGROUP_CHANGE_RETRY_MS
#define RGROUP_CHANGE_RETRY_MS 50 /* after RAFT_CANTCHANGE or an aborted catch-up */
#endif
#ifndef RGROUP_HANDOFF_RETRY_MS
#define RGROUP_HANDOFF_RETRY_MS 200   /* a hydrating leader whose transfer failed */
#define RGROUP_TRANSFER_DRAIN_MS 1000 /* longest wait for proposals in flight before a transfer */
#endif
#define RGROUP_HANDOFF_WARN_MS 5000 /* rate limit of the failed hand-off warning */
/* A draining leader's wait before handing leadership away again, after it
 * came back: the first return is likely a move decided before the
 * coordinator heard of the drain; repeated ones mean no other voter keeps
 * it (it hydrates, say), and the group should mostly be served meanwhile. */
#define RGROUP_DRAIN_BACKOFF_MIN_MS 500
#define RGROUP_DRAIN_BACKOFF_MAX_MS 8000
/* A transfer target further behind than this many entries is refused at
 * once: 0.15 would wait for it to catch up (up to an election timeout) with
 * the leader refusing every write meanwhile. A live follower trails by the
 * few entries in flight (SERVER_BATCHES_INFLIGHT_MAX and a barrier). */
#define RGROUP_TRANSFER_LAG_MAX 256
#define RGROUP_ADDRESS_LEN_MAX 255  /* the rmux header's bound (common/README.md) */
#define RGROUP_UV_DISK_FORMAT 1     /* raft_uv metadata format version in 0.15 */
#define RGROUP_UV_METADATA_BYTES 32 /* format, version, term, voted_for: u64 LE each */
#define RGROUP_UV_METADATA_TERM_AT 16

enum rgroup_op_kind {
    RGROUP_OP_REJOIN,
    RGROUP_OP_TRANSFER, /* rgroup_transfer: a caller waits */
    RGROUP_OP_HANDOFF,  /* a hydrating leader's own transfer: nobody waits */
};

enum rgroup_rejoin_step {
    RGROUP_REJOIN_REMOVE,
    RGROUP_REJOIN_ADD,
    RGROUP_REJOIN_ASSIGN,
    RGROUP_REJOIN_REMOVE_OLD, /* rgroup_replace only: the replaced member goes */
    RGROUP_REJOIN_STEP_COUNT
};

static const bool rgroup_rejoin_transitions[RGROUP_REJOIN_STEP_COUNT][RGROUP_REJOIN_STEP_COUNT] = {
    [RGROUP_REJOIN_REMOVE] = {[RGROUP_REJOIN_ADD] = true},
    [RGROUP_REJOIN_ADD] = {[RGROUP_REJOIN_ASSIGN] = true},
    [RGROUP_REJOIN_ASSIGN] = {[RGROUP_REJOIN_REMOVE_OLD] = true},
};

static const char *const rgroup_rejoin_step_names[RGROUP_REJOIN_STEP_COUNT] = {
    [RGROUP_REJOIN_REMOVE] = "remove",
    [RGROUP_REJOIN_ADD] = "add",
    [RGROUP_REJOIN_ASSIGN] = "assign",
    [RGROUP_REJOIN_REMOVE_OLD] = "remove-old",
};

struct rgroup_op {
    struct rgroup *g;
    enum rgroup_op_kind kind;
    rgroup_change_cb cb;
    void *arg;
    int status;            /* final status, once on g->ops_done */
    struct list_link link; /* on g->ops_done */
    bool is_raft_pending;  /* raft owns change or transfer until its callback */

    /* Rejoin. */
    enum rgroup_rejoin_step step;
    uint64_t node_id;
    uint64_t old_id; /* rgroup_replace: the member removed last; 0 for a rejoin */
    char address[RGROUP_ADDRESS_LEN_MAX + 1];
    uint64_t deadline_ms;
    uint64_t retry_at_ms;
    bool has_raft_result; /* raft_status is the last step's outcome, not yet acted on */
    int raft_status;

    struct raft_change change;
    struct raft_transfer transfer;
};

/* --- ops and their completion --- */

static struct rgroup_op *
rgroup_op_create(struct rgroup *g, enum rgroup_op_kind kind, rgroup_change_cb cb, void *arg)
{
    struct rgroup_op *op = eddy_xcalloc(1, sizeof(*op));
    op->g = g;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    list_init(&op->link);
    op->change.data = op;
    op->transfer.data = op;
    return op;
}

/* Queues op's callback with status; it runs from the loop, never inside the
 * caller's stack. The op is no longer the group's running one. */
static void rgroup_op_complete(struct rgroup_op *op, int status)
{
    struct rgroup *g = op->g;
    EDDY_ASSERT(!op->is_raft_pending || g->is_raft_closed);
    EDDY_ASSERT(op->kind != RGROUP_OP_HANDOFF);
    if (g->rejoin == op) {
        g->rejoin = NULL;
    }
    if (g->transfer == op) {
        g->transfer = NULL;
    }
    op->status = status;
    list_push(&g->ops_done, &op->link);
    rgroup_defer_start(g);
}

bool rgroup_change_has_done(const struct rgroup *g)
{
    return !list_is_empty(&g->ops_done);
}

void rgroup_change_run_done(struct rgroup *g)
{
    struct list_link batch;
    list_init(&batch);
    list_take(&batch, &g->ops_done);
    while (!list_is_empty(&batch)) {
        struct rgroup_op *op = container_of(batch.next, struct rgroup_op, link);
        list_remove(&op->link);
        rgroup_change_cb cb = op->cb;
        void *arg = op->arg;
        int status = op->status;
        eddy_free(op);
        if (cb != NULL) {
            cb(arg, status);
        }
    }
}

static const struct raft_server *rgroup_conf_find(const struct rgroup *g, uint64_t id)
{
    const struct raft_configuration *c = &g->raft.configuration;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            return &c->servers[i];
        }
    }
    return NULL;
}

static bool rgroup_is_leader(struct rgroup *g)
{
    return g->state == RGROUP_STARTED && raft_state(&g->raft) == RAFT_LEADER;
}

/* --- rejoin --- */

static void rgroup_on_change(struct raft_change *req, int status)
{
    struct rgroup_op *op = req->data;
    EDDY_ASSERT(op->is_raft_pending);
    op->is_raft_pending = false;
    op->has_raft_result = true;
    op->raft_status = status;
    LOG_DEBUG("rgroup change done group=%u node=%llu step=%s status=%d", (unsigned)op->g->group_id,
              (unsigned long long)op->node_id, rgroup_rejoin_step_names[op->step], status);
}

static void rgroup_rejoin_step_to(struct rgroup_op *op, enum rgroup_rejoin_step next)
{
    EDDY_ASSERT(rgroup_rejoin_transitions[op->step][next]);
    op->step = next;
}

/* Makes the raft call of op's step, skipping steps the configuration shows
 * done. Returns a RAFT_* code; *is_done when nothing is left to do. */
static int rgroup_rejoin_issue(struct rgroup *g, struct rgroup_op *op, bool *is_done)
{
    const struct raft_server *s = rgroup_conf_find(g, op->node_id);
    *is_done = false;
    if (op->step == RGROUP_REJOIN_REMOVE && s == NULL) {
        rgroup_rejoin_step_to(op, RGROUP_REJOIN_ADD);
    }
    if (op->step == RGROUP_REJOIN_ADD && s != NULL) {
        rgroup_rejoin_step_to(op, RGROUP_REJOIN_ASSIGN); /* added meanwhile */
    }
    if (op->step == RGROUP_REJOIN_ASSIGN && s != NULL && s->role == RAFT_VOTER) {
        if (op->old_id == 0) {
            *is_done = true;
            return 0;
        }
        rgroup_rejoin_step_to(op, RGROUP_REJOIN_REMOVE_OLD);
    }
    if (op->step == RGROUP_REJOIN_REMOVE_OLD && rgroup_conf_find(g, op->old_id) == NULL) {
        *is_done = true; /* removed already (a repeated request) */
        return 0;
    }
    int rv;
    switch (op->step) {
    case RGROUP_REJOIN_REMOVE:
        rv = raft_remove(&g->raft, &op->change, op->node_id, rgroup_on_change);
        break;
    case RGROUP_REJOIN_REMOVE_OLD:
        rv = raft_remove(&g->raft, &op->change, op->old_id, rgroup_on_change);
        break;
    case RGROUP_REJOIN_ADD:
        rv = raft_add(&g->raft, &op->change, op->node_id, op->address, rgroup_on_change);
        break;
    default:
        rv = raft_assign(&g->raft, &op->change, op->node_id, RAFT_VOTER, rgroup_on_change);
        break;
    }
    if (rv == 0) {
        op->is_raft_pending = true;
        g->leader_index_max = raft_last_index(&g->raft); /* rgroup_close drains it */
        LOG_INFO("rgroup rejoin group=%u node=%llu step=%s index=%llu", (unsigned)g->group_id,
                 (unsigned long long)op->node_id, rgroup_rejoin_step_names[op->step],
                 (unsigned long long)raft_last_index(&g->raft));
    }
    return rv;
}

/* The step whose success completes op: ASSIGN for a rejoin, REMOVE_OLD for
 * a replacement. */
static bool rgroup_rejoin_is_last_step(const struct rgroup_op *op)
{
    return op->step == (op->old_id != 0 ? RGROUP_REJOIN_REMOVE_OLD : RGROUP_REJOIN_ASSIGN);
}

/* Acts on the outcome of the step raft finished; false when op completed. */
static bool rgroup_rejoin_take_result(struct rgroup *g, struct rgroup_op *op, uint64_t now)
{
    op->has_raft_result = false;
    int rs = op->raft_status;
    if (rs == 0 && rgroup_rejoin_is_last_step(op)) {
        if (op->old_id != 0) {
            LOG_INFO("rgroup replaced group=%u node=%llu by node=%llu", (unsigned)g->group_id,
                     (unsigned long long)op->old_id, (unsigned long long)op->node_id);
        } else {
            LOG_INFO("rgroup rejoined group=%u node=%llu as voter", (unsigned)g->group_id,
                     (unsigned long long)op->node_id);
        }
        rgroup_op_complete(op, 0);
        return false;
    }
    if (rs == 0) {
        rgroup_rejoin_step_to(op, op->step + 1);
        op->retry_at_ms = now;
        return true;
    }
    if (rs == RAFT_NOCONNECTION) {
        /* 0.15 gave up the catch-up rounds: the spare stays, ask again. */
        LOG_WARN("rgroup rejoin catch-up aborted group=%u node=%llu: retrying",
                 (unsigned)g->group_id, (unsigned long long)op->node_id);
        op->retry_at_ms = now + RGROUP_CHANGE_RETRY_MS;
        return true;
    }
    int status = rs == RAFT_LEADERSHIPLOST ? -EDDY_ENOTLEADER : rgroup_errno_from_raft(rs);
    LOG_WARN("rgroup rejoin failed group=%u node=%llu step=%s err=%s", (unsigned)g->group_id,
             (unsigned long long)op->node_id, rgroup_rejoin_step_names[op->step],
             raft_strerror(rs));
    rgroup_op_complete(op, status);
    return false;
}

static void rgroup_rejoin_poll(struct rgroup *g)
{
    struct rgroup_op *op = g->rejoin;
    if (op == NULL || op->is_raft_pending) {
        return;
    }
    uint64_t now = uv_now(g->loop);
    if (op->has_raft_result && !rgroup_rejoin_take_result(g, op, now)) {
        return;
    }
    if (!rgroup_is_leader(g) || g->is_hydrating) {
        rgroup_op_complete(op, -EDDY_ENOTLEADER);
        return;
    }
    if (now >= op->deadline_ms) {
        LOG_WARN("rgroup rejoin timed out group=%u node=%llu step=%s", (unsigned)g->group_id,
                 (unsigned long long)op->node_id, rgroup_rejoin_step_names[op->step]);
        rgroup_op_complete(op, -EDDY_ETIMEDOUT);
        return;
    }
    if (now < op->retry_at_ms) {
        return;
    }
    bool is_done;
    int rv = rgroup_rejoin_issue(g, op, &is_done);
    if (is_done) {
        rgroup_op_complete(op, 0);
    } else if (rv == RAFT_CANTCHANGE) {
        op->retry_at_ms = now + RGROUP_CHANGE_RETRY_MS; /* a change is uncommitted */
    } else if (rv != 0) {
        LOG_WARN("rgroup rejoin refused group=%u node=%llu step=%s err=%s", (unsigned)g->group_id,
                 (unsigned long long)op->node_id, rgroup_rejoin_step_names[op->step],
                 raft_errmsg(&g->raft));
        rgroup_op_complete(op, rgroup_errno_from_raft(rv));
    }
}

static bool rgroup_address_is_valid(const char *address)
{
    if (address == NULL) {
        return false;
    }
    size_t len = strnlen(address, RGROUP_ADDRESS_LEN_MAX + 1);
    return len > 0 && len <= RGROUP_ADDRESS_LEN_MAX;
}

/* Starts the membership op of rgroup_rejoin (old_id 0) or rgroup_replace,
 * or completes it at once with the reason it cannot start. */
static void rgroup_membership_start(struct rgroup *g,
                                    uint64_t node_id,
                                    const char *raft_addr,
                                    uint64_t old_id,
                                    rgroup_change_cb cb,
                                    void *arg)
{
    EDDY_ASSERT(g != NULL);
    EDDY_ASSERT(cb != NULL);
    struct rgroup_op *op = rgroup_op_create(g, RGROUP_OP_REJOIN, cb, arg);
    if (g->state != RGROUP_STARTED) {
        rgroup_op_complete(op, -EDDY_ESHUTDOWN);
        return;
    }
    if (node_id == 0 || node_id == g->node_id || old_id == node_id ||
        !rgroup_address_is_valid(raft_addr)) {
        rgroup_op_complete(op, -EDDY_EINVAL);
        return;
    }
    if (!g->is_ready) {
        rgroup_op_complete(op, -EDDY_ENOTLEADER);
        return;
    }
    if (g->rejoin != NULL) {
        rgroup_op_complete(op, -EDDY_EINUSE);
        return;
    }
    op->node_id = node_id;
    op->old_id = old_id;
    strcpy(op->address, raft_addr);
    op->step = old_id != 0 ? RGROUP_REJOIN_ADD : RGROUP_REJOIN_REMOVE;
    uint64_t now = uv_now(g->loop);
    op->deadline_ms = now + RGROUP_REJOIN_TIMEOUT_MS;
    op->retry_at_ms = now; /* the next poll makes the first call */
    g->rejoin = op;
    if (old_id != 0) {
        LOG_INFO("rgroup replacement requested group=%u node=%llu by node=%llu address=%s",
                 (unsigned)g->group_id, (unsigned long long)old_id, (unsigned long long)node_id,
                 op->address);
    } else {
        LOG_INFO("rgroup rejoin requested group=%u node=%llu address=%s", (unsigned)g->group_id,
                 (unsigned long long)node_id, op->address);
    }
}

void rgroup_rejoin(
    struct rgroup *g, uint64_t node_id, const char *raft_addr, rgroup_change_cb cb, void *arg)
{
    rgroup_membership_start(g, node_id, raft_addr, 0, cb, arg);
}

/* --- leadership transfer and the hydrating leader's hand-off --- */

static void rgroup_on_transfer(struct raft_transfer *req)
{
    struct rgroup_op *op = req->data;
    struct rgroup *g = op->g;
    EDDY_ASSERT(op->is_raft_pending);
    EDDY_ASSERT(g->transfer == op);
    op->is_raft_pending = false;
    g->transfer = NULL;
    bool is_moved = raft_state(&g->raft) != RAFT_LEADER;
    LOG_INFO("rgroup transfer done group=%u node=%llu moved=%d", (unsigned)g->group_id,
             (unsigned long long)g->node_id, is_moved);
    if (op->kind == RGROUP_OP_HANDOFF) {
        g->handoff_at_ms = uv_now(g->loop) + (is_moved ? 0 : RGROUP_HANDOFF_RETRY_MS);
        eddy_free(op); /* raft is done with req */
        return;
    }
    int status = is_moved ? 0 : -EDDY_ETIMEDOUT;
    if (g->state != RGROUP_STARTED && !is_moved) {
        status = -EDDY_ESHUTDOWN;
    }
    rgroup_op_complete(op, status);
}

/* Entries the leader has that node_id has not acknowledged; 0 for a node
 * that is not in the configuration (raft_transfer refuses it) or for 0
 * (raft picks the most up-to-date voter). Reads 0.15's public progress
 * array, indexed like the configuration's servers. */
static uint64_t rgroup_follower_lag(struct rgroup *g, uint64_t node_id)
{
    const struct raft_configuration *c = &g->raft.configuration;
    raft_index last = raft_last_index(&g->raft);
    for (unsigned i = 0; node_id != 0 && i < c->n; i++) {
        if (c->servers[i].id == node_id) {
            raft_index match = g->raft.leader_state.progress[i].match_index;
            return match < last ? last - match : 0;
        }
    }
    return 0;
}

/* raft_transfer for op; 0 or a RAFT_* code (op not handed over then). */
static int rgroup_transfer_issue(struct rgroup *g, struct rgroup_op *op, uint64_t node_id)
{
    EDDY_ASSERT(g->transfer == NULL);
    int rv = raft_transfer(&g->raft, &op->transfer, node_id, rgroup_on_transfer);
    if (rv != 0) {
        return rv;
    }
    op->is_raft_pending = true;
    g->transfer = op;
    if (g->is_ready) {
        g->is_ready = false; /* 0.15 refuses entries until the transfer ends */
        g->is_notify_due = true;
    }
    LOG_INFO("rgroup transferring leadership group=%u from=%llu to=%llu", (unsigned)g->group_id,
             (unsigned long long)g->node_id, (unsigned long long)op->transfer.id);
    return 0;
}

void rgroup_transfer(struct rgroup *g, uint64_t node_id, rgroup_change_cb cb, void *arg)
{
    EDDY_ASSERT(g != NULL);
    EDDY_ASSERT(cb != NULL);
    struct rgroup_op *op = rgroup_op_create(g, RGROUP_OP_TRANSFER, cb, arg);
    if (g->state != RGROUP_STARTED) {
        rgroup_op_complete(op, -EDDY_ESHUTDOWN);
        return;
    }
    if (!rgroup_is_leader(g)) {
        rgroup_op_complete(op, -EDDY_ENOTLEADER);
        return;
    }
    if (node_id == g->node_id) {
        rgroup_op_complete(op, 0); /* already there */
        return;
    }
    if (g->transfer != NULL || g->raft.transfer != NULL) {
        rgroup_op_complete(op, -EDDY_EINUSE);
        return;
    }
    if (g->transfer_wait != NULL) {
        rgroup_op_complete(op, -EDDY_EINUSE);
        return;
    }
    uint64_t lag = rgroup_follower_lag(g, node_id);
    if (lag > RGROUP_TRANSFER_LAG_MAX) {
        LOG_INFO("rgroup transfer refused group=%u to=%llu: %llu entries behind",
                 (unsigned)g->group_id, (unsigned long long)node_id, (unsigned long long)lag);
        rgroup_op_complete(op, -EDDY_EUNAVAILABLE);
        return;
    }
    if (!list_is_empty(&g->inflight)) {
        /* Take no new proposals and let the ones in flight commit first:
         * raft 0.15 fails them with LEADERSHIPLOST once leadership moves,
         * which clients would see as InternalFailure. */
        g->transfer_wait = op;
        g->transfer_wait_node = node_id;
        g->transfer_wait_deadline_ms = uv_now(g->loop) + RGROUP_TRANSFER_DRAIN_MS;
        if (g->is_ready) {
            g->is_ready = false;
            g->is_notify_due = true;
        }
        return;
    }
    int rv = rgroup_transfer_issue(g, op, node_id);
    if (rv != 0) {
        LOG_WARN("rgroup transfer refused group=%u to=%llu err=%s", (unsigned)g->group_id,
                 (unsigned long long)node_id, raft_errmsg(&g->raft));
        rgroup_op_complete(op, rgroup_errno_from_raft(rv));
    }
}

/* Issues a transfer that waited for the proposals in flight, once they are
 * done or RGROUP_TRANSFER_DRAIN_MS passed. */
static void rgroup_transfer_wait_poll(struct rgroup *g)
{
    struct rgroup_op *op = g->transfer_wait;
    if (op == NULL) {
        return;
    }
    if (!rgroup_is_leader(g)) {
        g->transfer_wait = NULL;
        rgroup_op_complete(op, -EDDY_ENOTLEADER);
        return;
    }
    if (!list_is_empty(&g->inflight) && uv_now(g->loop) < g->transfer_wait_deadline_ms) {
        return;
    }
    g->transfer_wait = NULL;
    g->is_notify_due = true; /* readiness comes back if the transfer fails */
    if (g->transfer != NULL || g->raft.transfer != NULL) {
        rgroup_op_complete(op, -EDDY_EINUSE);
        return;
    }
    int rv = rgroup_transfer_issue(g, op, g->transfer_wait_node);
    if (rv != 0) {
        LOG_WARN("rgroup transfer refused group=%u to=%llu err=%s", (unsigned)g->group_id,
                 (unsigned long long)g->transfer_wait_node, raft_errmsg(&g->raft));
        rgroup_op_complete(op, rgroup_errno_from_raft(rv));
    }
}

/* A hydrating leader gives leadership to the most up-to-date voter, again
 * every RGROUP_HANDOFF_RETRY_MS while it keeps it. */
static void rgroup_handoff_poll(struct rgroup *g)
{
    if (!g->is_hydrating || !rgroup_is_leader(g) || g->transfer != NULL ||
        g->raft.transfer != NULL) {
        return;
    }
    uint64_t now = uv_now(g->loop);
    if (now < g->handoff_at_ms) {
        return;
    }
    struct rgroup_op *op = rgroup_op_create(g, RGROUP_OP_HANDOFF, NULL, NULL);
    int rv = rgroup_transfer_issue(g, op, 0);
    if (rv == 0) {
        return;
    }
    eddy_free(op);
    g->handoff_at_ms = now + RGROUP_HANDOFF_RETRY_MS;
    if (g->handoff_warned_ms == 0 || now - g->handoff_warned_ms >= RGROUP_HANDOFF_WARN_MS) {
        g->handoff_warned_ms = now;
        LOG_WARN("rgroup hydrating leader cannot hand leadership away group=%u err=%s",
                 (unsigned)g->group_id, raft_errmsg(&g->raft));
    }
}

void rgroup_set_hydrating(struct rgroup *g, bool hydrating)
{
    EDDY_ASSERT(g != NULL);
    if (g->is_hydrating == hydrating) {
        return;
    }
    g->is_hydrating = hydrating;
    g->handoff_at_ms = 0;
    g->is_notify_due = true; /* the poll recomputes readiness and tells state_cb */
    if (hydrating) {
        g->is_ready = false;
    }
    LOG_INFO("rgroup group=%u node=%llu hydrating=%d", (unsigned)g->group_id,
             (unsigned long long)g->node_id, hydrating);
}

bool rgroup_is_hydrating(const struct rgroup *g)
{
    return g->is_hydrating;
}

/* --- a draining replica's hand-off --- */

void rgroup_set_draining(struct rgroup *g, bool draining)
{
    EDDY_ASSERT(g != NULL);
    if (g->is_draining == draining) {
        return;
    }
    g->is_draining = draining;
    g->drain_at_ms = 0;
    g->drain_moves = 0;
    LOG_INFO("rgroup group=%u node=%llu draining=%d", (unsigned)g->group_id,
             (unsigned long long)g->node_id, draining);
}

bool rgroup_is_draining(const struct rgroup *g)
{
    return g->is_draining;
}

static void rgroup_on_drain_moved(void *arg, int status)
{
    struct rgroup *g = arg; /* alive: close runs the callbacks before the free */
    EDDY_ASSERT(g->is_drain_pending);
    g->is_drain_pending = false;
    uint64_t now = uv_now(g->loop);
    if (status != 0) {
        g->drain_at_ms = now + RGROUP_HANDOFF_RETRY_MS;
        return;
    }
    unsigned shift = g->drain_moves < 5 ? g->drain_moves : 5;
    uint64_t wait_ms = (uint64_t)RGROUP_DRAIN_BACKOFF_MIN_MS << shift;
    if (wait_ms > RGROUP_DRAIN_BACKOFF_MAX_MS) {
        wait_ms = RGROUP_DRAIN_BACKOFF_MAX_MS;
    }
    g->drain_at_ms = now + wait_ms;
    g->drain_moves++;
}

/* A draining ready leader with another voter hands leadership away. */
static void rgroup_drain_poll(struct rgroup *g)
{
    if (!g->is_draining || g->is_drain_pending || !g->is_ready) {
        return;
    }
    if (uv_now(g->loop) < g->drain_at_ms || rgroup_voters(g, NULL, 0) < 2) {
        return;
    }
    g->is_drain_pending = true;
    rgroup_transfer(g, 0, rgroup_on_drain_moved, g);
}

void rgroup_replace(struct rgroup *g,
                    uint64_t node_id,
                    const char *raft_addr,
                    uint64_t old_id,
                    rgroup_change_cb cb,
                    void *arg)
{
    EDDY_ASSERT(g != NULL);
    EDDY_ASSERT(cb != NULL);
    if (old_id == 0 || old_id != g->node_id || g->state != RGROUP_STARTED || !rgroup_is_leader(g)) {
        rgroup_membership_start(g, node_id, raft_addr, old_id, cb, arg);
        return;
    }
    /* This leader is the member to replace (it came back and was elected
     * before its removal): it hands leadership away, and the caller asks
     * again, the new leader. */
    struct rgroup_op *op = rgroup_op_create(g, RGROUP_OP_REJOIN, cb, arg);
    if (g->transfer == NULL && g->raft.transfer == NULL && g->transfer_wait == NULL) {
        struct rgroup_op *handoff = rgroup_op_create(g, RGROUP_OP_HANDOFF, NULL, NULL);
        if (rgroup_transfer_issue(g, handoff, 0) != 0) {
            eddy_free(handoff);
        }
    }
    LOG_INFO("rgroup group=%u: leader node=%llu is the member to replace; handing leadership "
             "away",
             (unsigned)g->group_id, (unsigned long long)g->node_id);
    rgroup_op_complete(op, -EDDY_ENOTLEADER);
}

/* --- hooks for rgroup.c --- */

void rgroup_change_poll(struct rgroup *g)
{
    EDDY_ASSERT(g->state == RGROUP_STARTED);
    rgroup_rejoin_poll(g);
    rgroup_transfer_wait_poll(g);
    rgroup_handoff_poll(g);
    rgroup_drain_poll(g);
}

void rgroup_change_close(struct rgroup *g)
{
    EDDY_ASSERT(g->is_raft_closed);
    struct rgroup_op *op = g->transfer_wait;
    if (op != NULL) {
        g->transfer_wait = NULL;
        rgroup_op_complete(op, -EDDY_ESHUTDOWN);
    }
    op = g->transfer;
    if (op != NULL) {
        /* raft_close aborts transfers (convertToUnavailable); a backstop. */
        g->transfer = NULL;
        op->is_raft_pending = false;
        if (op->kind == RGROUP_OP_HANDOFF) {
            eddy_free(op);
        } else {
            rgroup_op_complete(op, -EDDY_ESHUTDOWN);
        }
    }
    op = g->rejoin;
    if (op != NULL) {
        bool is_done =
            op->has_raft_result && op->raft_status == 0 && rgroup_rejoin_is_last_step(op);
        op->is_raft_pending = false;
        rgroup_op_complete(op, is_done ? 0 : -EDDY_ESHUTDOWN);
    }
}

/* --- configuration --- */

unsigned rgroup_voters(const struct rgroup *g, uint64_t *out, unsigned max)
{
    EDDY_ASSERT(g != NULL);
    EDDY_ASSERT(out != NULL || max == 0);
    const struct raft_configuration *c = &g->raft.configuration;
    unsigned n = 0;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].role != RAFT_VOTER) {
            continue;
        }
        if (n < max) {
            out[n] = c->servers[i].id;
        }
        n++;
    }
    return n;
}

/* --- pristine directories --- */

static uint64_t rgroup_get_u64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* raft_uv writes its metadata files (term and vote) on every start, with
 * term 0 until the replica bootstraps or hears from a leader. A file it
 * cannot read counts as data: raft_uv will then refuse to start on it. */
static bool rgroup_metadata_has_term(const char *dir, const char *name)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return true;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno != ENOENT;
    }
    uint8_t buf[RGROUP_UV_METADATA_BYTES];
    ssize_t got = read(fd, buf, sizeof(buf));
    close(fd);
    if (got != (ssize_t)sizeof(buf)) {
        return got != 0; /* an empty file is what a crash during creation leaves */
    }
    if (rgroup_get_u64_le(buf) != RGROUP_UV_DISK_FORMAT) {
        return true;
    }
    return rgroup_get_u64_le(buf + RGROUP_UV_METADATA_TERM_AT) > 0;
}

/* "%016llu-%016llu": a closed segment. */
static bool rgroup_name_is_closed_segment(const char *name)
{
    size_t first = strspn(name, "0123456789");
    if (first == 0 || name[first] != '-') {
        return false;
    }
    size_t second = strspn(name + first + 1, "0123456789");
    return second > 0 && name[first + 1 + second] == '\0';
}

bool rgroup_dir_has_data(const char *dir)
{
    EDDY_ASSERT(dir != NULL);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno != ENOENT;
    }
    bool has_data = false;
    struct dirent *e;
    while (!has_data && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "metadata1") == 0 || strcmp(e->d_name, "metadata2") == 0) {
            has_data = rgroup_metadata_has_term(dir, e->d_name);
        } else {
            has_data =
                strncmp(e->d_name, "snapshot-", 9) == 0 || rgroup_name_is_closed_segment(e->d_name);
        }
    }
    closedir(d);
    return has_data;
}
