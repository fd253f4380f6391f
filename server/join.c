/*
 * Joining an existing cluster at start-up (see join.h).
 *
 * Owns one RPC client per other peer, one timer, the probe's round and one
 * task per group to rejoin. Every RPC callback only records what it learnt;
 * the timer sends, decides and calls back, so nothing is closed from inside
 * an RPC client's own callback.
 *
 * Lifecycle: RUNNING -> CLOSING -> freed once the timer and every client
 * closed and no call is outstanding. A task goes WAITING -> INFLIGHT ->
 * WAITING (retry) or DONE, and from DONE to WAITING when asked again. The
 * catalogue fetch is join_catalog.c; the struct is in join_internal.h.
 */
#include "join.h"
#include "join_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rgroup.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const bool join_probe_transitions[JOIN_PROBE_STEP_COUNT][JOIN_PROBE_STEP_COUNT] = {
    [JOIN_PROBE_OFF] = {[JOIN_PROBE_ASKING] = true},
    [JOIN_PROBE_ASKING] = {[JOIN_PROBE_RESTING] = true, [JOIN_PROBE_DONE] = true},
    [JOIN_PROBE_RESTING] = {[JOIN_PROBE_ASKING] = true},
};

static const bool join_task_transitions[JOIN_TASK_STATE_COUNT][JOIN_TASK_STATE_COUNT] = {
    [JOIN_TASK_WAITING] = {[JOIN_TASK_INFLIGHT] = true, [JOIN_TASK_DONE] = true},
    [JOIN_TASK_INFLIGHT] = {[JOIN_TASK_WAITING] = true, [JOIN_TASK_DONE] = true},
    [JOIN_TASK_DONE] = {[JOIN_TASK_WAITING] = true}, /* asked again */
};

/* ---- pure parts ---- */

enum join_verdict join_verdict(unsigned peer_count, unsigned answered, bool is_seen, bool is_led)
{
    EDDY_ASSERT(peer_count >= 1);
    if (is_seen) {
        return is_led ? JOIN_VERDICT_JOIN : JOIN_VERDICT_WAIT;
    }
    if (answered + 1 > peer_count / 2) {
        return JOIN_VERDICT_BOOTSTRAP;
    }
    return JOIN_VERDICT_WAIT;
}

bool join_status_shows_cluster(const Eddy__NodeStatusResp *resp)
{
    for (size_t i = 0; i < resp->n_groups; i++) {
        const Eddy__GroupStatus *gs = resp->groups[i];
        /* Index 1 is the bootstrap configuration; anything past it was
         * written by a leader of a cluster that formed. */
        if (gs != NULL && (gs->applied_index > 1 || gs->last_index > 1)) {
            return true;
        }
    }
    return false;
}

int join_raft_dir(char *buf, size_t len, const char *data_dir, uint32_t group)
{
    int n = group == 0 ? snprintf(buf, len, "%s/coord", data_dir)
                       : snprintf(buf, len, "%s/groups/%" PRIu32 "/raft", data_dir, group);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- lifecycle ---- */

int join_init(struct join **out, uv_loop_t *loop, const struct join_config *cfg)
{
    if (cfg->peer_count == 0 || cfg->peer_count > JOIN_PEERS_MAX || cfg->raft_address == NULL ||
        cfg->group_count > JOIN_GROUPS_MAX || (cfg->group_count > 0 && cfg->groups == NULL)) {
        return -EDDY_EINVAL;
    }
    bool is_self_found = false;
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        is_self_found = is_self_found || cfg->peers[i].node_id == cfg->node_id;
        if (cfg->peers[i].node_id == 0 || cfg->peers[i].rpc_address == NULL) {
            return -EDDY_EINVAL;
        }
    }
    if (!is_self_found) {
        return -EDDY_EINVAL;
    }
    struct join *j = eddy_xcalloc(1, sizeof(*j));
    j->loop = loop;
    j->state = JOIN_RUNNING;
    j->node_id = cfg->node_id;
    j->raft_address = eddy_xstrdup(cfg->raft_address);
    j->peer_count = cfg->peer_count;
    j->group_count = cfg->group_count;
    j->groups = eddy_xcalloc(cfg->group_count ? cfg->group_count : 1, sizeof(*j->groups));
    if (cfg->group_count > 0) {
        memcpy(j->groups, cfg->groups, cfg->group_count * sizeof(*j->groups));
    }
    j->is_group_led =
        eddy_xcalloc(cfg->group_count ? cfg->group_count : 1, sizeof(*j->is_group_led));
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        if (cfg->peers[i].node_id == cfg->node_id) {
            continue;
        }
        struct join_conn *c = &j->conns[j->conn_count++];
        c->node_id = cfg->peers[i].node_id;
        c->rpc_address = eddy_xstrdup(cfg->peers[i].rpc_address);
    }
    int rv = uv_timer_init(loop, &j->timer);
    EDDY_ASSERT(rv == 0);
    *out = j;
    return 0;
}

static void join_free(struct join *j)
{
    while (j->tasks != NULL) {
        struct join_task *t = j->tasks;
        j->tasks = t->next;
        eddy_free(t);
    }
    for (unsigned i = 0; i < j->conn_count; i++) {
        eddy_free(j->conns[i].rpc_address);
    }
    eddy_free(j->groups);
    eddy_free(j->is_group_led);
    eddy_free(j->raft_address);
    eddy_free(j->catalog_bytes);
    eddy_free(j);
}

static void join_maybe_free(struct join *j)
{
    if (j->state != JOIN_CLOSING || j->closes_pending > 0 || j->calls_inflight > 0) {
        return;
    }
    join_close_cb cb = j->close_cb;
    void *arg = j->close_arg;
    join_free(j);
    if (cb != NULL) {
        cb(arg);
    }
}

static void join_on_closed(void *arg)
{
    struct join *j = arg;
    EDDY_ASSERT(j->closes_pending > 0);
    j->closes_pending--;
    join_maybe_free(j);
}

static void join_on_timer_closed(uv_handle_t *h)
{
    join_on_closed(container_of((uv_timer_t *)h, struct join, timer));
}

void join_close(struct join *j, join_close_cb cb, void *arg)
{
    EDDY_ASSERT(j->state == JOIN_RUNNING);
    j->state = JOIN_CLOSING;
    j->close_cb = cb;
    j->close_arg = arg;
    j->closes_pending = 1; /* the timer; held until every close started */
    for (unsigned i = 0; i < j->conn_count; i++) {
        if (j->conns[i].client != NULL) {
            j->closes_pending++;
            rpc_client_close(j->conns[i].client, join_on_closed, j);
            j->conns[i].client = NULL;
        }
    }
    uv_close((uv_handle_t *)&j->timer, join_on_timer_closed);
}

/* ---- calls ---- */

static void join_on_tick(uv_timer_t *timer);

/* Runs the timer until no work is left (join_on_tick stops it). */
void join_wake(struct join *j)
{
    if (j->state == JOIN_RUNNING && !j->is_timer_on) {
        j->is_timer_on = true;
        uv_timer_start(&j->timer, join_on_tick, 0, JOIN_TICK_MS);
    }
}

struct join_conn *join_conn_find(struct join *j, uint64_t node_id)
{
    for (unsigned i = 0; i < j->conn_count; i++) {
        if (j->conns[i].node_id == node_id) {
            return &j->conns[i];
        }
    }
    return NULL;
}

/* Sends f to node; cb gets a struct join_call (eddy_xcalloc'd, freed by
 * the callback). Returns false when no client could be made. */
bool join_call_send(struct join *j,
                    struct join_conn *c,
                    Eddy__Frame *f,
                    uint32_t timeout_ms,
                    struct join_task *task,
                    rpc_response_cb cb)
{
    if (c->client == NULL) {
        int rv = rpc_client_init(&c->client, j->loop, c->rpc_address);
        if (rv != 0) {
            LOG_WARN("join: no rpc client node=%" PRIu64 " addr=%s err=%s", c->node_id,
                     c->rpc_address, eddy_strerror(rv));
            c->client = NULL;
            return false;
        }
    }
    struct join_call *call = eddy_xcalloc(1, sizeof(*call));
    call->j = j;
    call->task = task;
    call->node_id = c->node_id;
    call->round = j->round;
    j->calls_inflight++;
    rpc_client_call(c->client, f, timeout_ms, cb, call);
    return true;
}

/* Frees call; true when the join still runs and the answer matters. */
bool join_call_end(struct join_call *call)
{
    struct join *j = call->j;
    EDDY_ASSERT(j->calls_inflight > 0);
    j->calls_inflight--;
    eddy_free(call);
    if (j->state != JOIN_RUNNING) {
        join_maybe_free(j);
        return false;
    }
    return true;
}

/* ---- probe ---- */

static void join_probe_step_to(struct join *j, enum join_probe_step next)
{
    EDDY_ASSERT(join_probe_transitions[j->probe][next]);
    j->probe = next;
}

static void join_on_probe_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct join_call *call = arg;
    struct join *j = call->j;
    unsigned round = call->round;
    uint64_t node_id = call->node_id;
    if (!join_call_end(call) || j->probe != JOIN_PROBE_ASKING || round != j->round) {
        return;
    }
    EDDY_ASSERT(j->round_waiting > 0);
    j->round_waiting--;
    if (status != 0 || resp->body_case != EDDY__FRAME__BODY_NODE_STATUS_RESP) {
        LOG_DEBUG("join probe: node=%" PRIu64 " did not answer: %s", node_id,
                  eddy_strerror(status != 0 ? status : -EDDY_EMALFORMED));
        return;
    }
    j->round_answered++;
    const Eddy__NodeStatusResp *ns = resp->node_status_resp;
    if (join_status_shows_cluster(ns)) {
        if (!j->is_seen) {
            LOG_INFO("join probe: node=%" PRIu64 " is part of an existing cluster", node_id);
        }
        j->is_seen = true;
    }
    for (size_t i = 0; i < ns->n_groups; i++) {
        for (unsigned k = 0; ns->groups[i]->ready && k < j->group_count; k++) {
            if (j->groups[k] == ns->groups[i]->group && !j->is_group_led[k]) {
                j->is_group_led[k] = true;
                j->groups_led++;
            }
        }
    }
}

static void join_probe_round_start(struct join *j)
{
    j->round++;
    j->round_waiting = 0;
    j->round_answered = 0;
    Eddy__NodeStatusReq req = EDDY__NODE_STATUS_REQ__INIT;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_NODE_STATUS;
    f.node_status = &req;
    for (unsigned i = 0; i < j->conn_count; i++) {
        if (join_call_send(j, &j->conns[i], &f, JOIN_PROBE_TIMEOUT_MS, NULL, join_on_probe_reply)) {
            j->round_waiting++;
        }
    }
}

/* Decides once the round is over (or as soon as the cluster was seen). */
static void join_probe_tick(struct join *j, uint64_t now)
{
    switch (j->probe) {
    case JOIN_PROBE_ASKING:
        if (j->round_waiting > 0 && !(j->is_seen && j->groups_led == j->group_count)) {
            return;
        }
        break;
    case JOIN_PROBE_RESTING:
        if (now >= j->round_next_ms) {
            join_probe_step_to(j, JOIN_PROBE_ASKING);
            join_probe_round_start(j);
        }
        return;
    default:
        return;
    }
    bool is_led = j->groups_led == j->group_count;
    enum join_verdict v = join_verdict(j->peer_count, j->round_answered, j->is_seen, is_led);
    if (v == JOIN_VERDICT_WAIT) {
        if (j->probe_logged_ms == 0 || now - j->probe_logged_ms >= JOIN_LOG_EVERY_MS) {
            j->probe_logged_ms = now;
            if (j->is_seen) {
                LOG_INFO("join probe: the cluster exists; %u of %u groups have shown a ready "
                         "leader, waiting for all before starting replicas",
                         j->groups_led, j->group_count);
            } else {
                LOG_INFO("join probe: %u of %u other peers answered, none initialised; waiting "
                         "for a majority before bootstrapping",
                         j->round_answered, j->conn_count);
            }
        }
        join_probe_step_to(j, JOIN_PROBE_RESTING);
        j->round_next_ms = now + JOIN_PROBE_INTERVAL_MS;
        return;
    }
    join_probe_step_to(j, JOIN_PROBE_DONE);
    LOG_INFO("join probe: %s after %u round(s), %u of %u other peers answered",
             v == JOIN_VERDICT_JOIN ? "the cluster exists, joining it"
                                    : "no cluster yet, bootstrapping",
             j->round, j->round_answered, j->conn_count);
    j->probe_cb(j->probe_arg, v == JOIN_VERDICT_JOIN);
}

void join_probe(struct join *j, join_probe_cb cb, void *arg)
{
    EDDY_ASSERT(j->state == JOIN_RUNNING);
    EDDY_ASSERT(j->probe_cb == NULL);
    EDDY_ASSERT(cb != NULL);
    j->probe_cb = cb;
    j->probe_arg = arg;
    join_probe_step_to(j, JOIN_PROBE_ASKING);
    join_probe_round_start(j);
    LOG_INFO("join probe: no Raft data here; asking %u other peers whether the cluster exists",
             j->conn_count);
    join_wake(j);
}

/* ---- groups ---- */

static void join_task_step_to(struct join_task *t, enum join_task_state next)
{
    EDDY_ASSERT(join_task_transitions[t->state][next]);
    t->state = next;
}

/* The node to ask for t now: its hint when that is another peer, else the
 * other peers in turn. */
static struct join_conn *join_task_conn(struct join *j, struct join_task *t)
{
    struct join_conn *c = t->target != 0 ? join_conn_find(j, t->target) : NULL;
    if (c == NULL) {
        t->target = 0;
        c = &j->conns[t->turn % j->conn_count];
    }
    return c;
}

/* Schedules t's next attempt after a failure, doubling the back-off. */
static void join_task_retry(struct join *j, struct join_task *t, uint64_t now, bool is_redirect)
{
    uint32_t delay_ms = is_redirect ? JOIN_RETRY_MS_MIN : t->backoff_ms;
    if (!is_redirect) {
        t->backoff_ms =
            t->backoff_ms * 2 > JOIN_RETRY_MS_MAX ? JOIN_RETRY_MS_MAX : t->backoff_ms * 2;
    }
    t->next_at_ms = now + delay_ms;
    join_task_step_to(t, JOIN_TASK_WAITING);
    EDDY_ASSERT(j->tasks_inflight > 0);
    j->tasks_inflight--;
}

/* Logs a failed attempt: every one of the first few, then at most once per
 * JOIN_LOG_EVERY_MS. */
static void join_task_log(struct join_task *t, uint64_t now, uint64_t node_id, int code)
{
    if (t->attempts > JOIN_LOG_FIRST_ATTEMPTS && now - t->logged_ms < JOIN_LOG_EVERY_MS) {
        return;
    }
    t->logged_ms = now;
    LOG_INFO("join group=%" PRIu32 ": node=%" PRIu64 " answered %s (attempt %u, %" PRIu64
             " ms); asking again",
             t->group, node_id, eddy_strerror(code), t->attempts, now - t->started_ms);
}

/* t is done or cancelled: nothing more to ask. */
static void join_task_finish(struct join *j, struct join_task *t)
{
    join_task_step_to(t, JOIN_TASK_DONE);
    EDDY_ASSERT(j->tasks_inflight > 0);
    EDDY_ASSERT(j->tasks_pending > 0);
    j->tasks_inflight--;
    j->tasks_pending--;
    t->is_cancelled = false;
}

/* The leader acknowledged t's request: the next one is due at once, or t
 * is done. */
static void join_task_on_ack(struct join *j, struct join_task *t, uint64_t node_id, uint64_t now)
{
    if (t->is_rejoin) {
        t->is_rejoin = false;
        LOG_INFO("join group=%" PRIu32 ": voter again, through node=%" PRIu64
                 " after %u attempt(s), %" PRIu64 " ms",
                 t->group, node_id, t->attempts, now - t->started_ms);
    } else {
        LOG_INFO("join group=%" PRIu32 ": node=%" PRIu32 " replaced, through node=%" PRIu64
                 " after %u attempt(s), %" PRIu64 " ms",
                 t->group, t->replaces, node_id, t->attempts, now - t->started_ms);
        t->replaces = 0;
    }
    if (t->replaces != 0) {
        t->target = node_id; /* the leader that answered */
        t->attempts = 0;
        t->started_ms = now;
        t->backoff_ms = JOIN_RETRY_MS_MIN;
        t->next_at_ms = now;
        join_task_step_to(t, JOIN_TASK_WAITING);
        j->tasks_inflight--;
        return;
    }
    join_task_finish(j, t);
    if (j->tasks_pending == 0) {
        LOG_INFO("join: this node is a voter of every group it asked for");
    }
}

static void join_on_group_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct join_call *call = arg;
    struct join *j = call->j;
    struct join_task *t = call->task;
    uint64_t node_id = call->node_id;
    if (!join_call_end(call)) {
        return;
    }
    EDDY_ASSERT(t->state == JOIN_TASK_INFLIGHT);
    uint64_t now = uv_now(j->loop);
    if (t->is_cancelled) {
        join_task_finish(j, t);
        return;
    }
    const Eddy__Status *st = status == 0 ? rpc_frame_status(resp) : NULL;
    int code = status != 0 ? status : st != NULL ? st->code : -EDDY_EMALFORMED;
    if (code == 0) {
        join_task_on_ack(j, t, node_id, now);
        return;
    }
    join_task_log(t, now, node_id, code);
    uint64_t hint = code == -EDDY_ENOTLEADER && st != NULL ? st->leader_node : 0;
    if (hint != 0 && hint != node_id && hint != j->node_id && join_conn_find(j, hint) != NULL) {
        t->target = hint;
        join_task_retry(j, t, now, true);
        return;
    }
    if (code == -EDDY_ENOTHOSTED) {
        /* Not a replica of the group (the peers in turn include nodes that
         * host other groups): the next peer, with no back-off. */
        t->target = 0;
        t->turn++;
        join_task_retry(j, t, now, true);
        return;
    }
    if (code == -EDDY_EINUSE || hint == node_id) {
        t->target = node_id; /* the leader, busy or not ready yet: ask it again */
    } else {
        t->target = 0;
        t->turn++;
    }
    join_task_retry(j, t, now, false);
}

static void join_task_send(struct join *j, struct join_task *t)
{
    struct join_conn *c = join_task_conn(j, t);
    Eddy__JoinGroupReq req = EDDY__JOIN_GROUP_REQ__INIT;
    req.group = t->group;
    req.node = (uint32_t)j->node_id;
    req.raft_address = j->raft_address;
    req.replaces = t->is_rejoin ? 0 : t->replaces;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_JOIN_GROUP;
    f.join_group = &req;
    join_task_step_to(t, JOIN_TASK_INFLIGHT);
    j->tasks_inflight++;
    t->attempts++;
    if (t->attempts == 1 && t->is_rejoin) {
        LOG_INFO("join group=%" PRIu32 ": asking node=%" PRIu64 " to rejoin node=%" PRIu64,
                 t->group, c->node_id, j->node_id);
    } else if (t->attempts == 1) {
        LOG_INFO("join group=%" PRIu32 ": asking node=%" PRIu64 " to replace node=%" PRIu32
                 " by node=%" PRIu64,
                 t->group, c->node_id, t->replaces, j->node_id);
    }
    if (!join_call_send(j, c, &f, JOIN_CALL_TIMEOUT_MS, t, join_on_group_reply)) {
        t->turn++;
        join_task_retry(j, t, uv_now(j->loop), false);
    }
}

static void join_groups_tick(struct join *j, uint64_t now)
{
    for (struct join_task *t = j->tasks; t != NULL; t = t->next) {
        if (j->tasks_inflight >= JOIN_TASKS_INFLIGHT_MAX) {
            return;
        }
        if (t->state == JOIN_TASK_WAITING && now >= t->next_at_ms) {
            join_task_send(j, t);
        }
    }
}

static struct join_task *join_task_find(struct join *j, uint32_t group)
{
    for (struct join_task *t = j->tasks; t != NULL; t = t->next) {
        if (t->group == group) {
            return t;
        }
    }
    return NULL;
}

/* group's task, made or re-armed: something is to be asked (again). NULL
 * when there is no other peer to ask. */
static struct join_task *join_task_arm(struct join *j, uint32_t group)
{
    EDDY_ASSERT(j->state == JOIN_RUNNING);
    if (j->conn_count == 0) {
        LOG_WARN("join group=%" PRIu32 ": no other peer to ask", group);
        return NULL;
    }
    struct join_task *t = join_task_find(j, group);
    if (t == NULL) {
        EDDY_ASSERT(group <= JOIN_GROUPS_MAX);
        t = eddy_xcalloc(1, sizeof(*t));
        t->group = group;
        t->state = JOIN_TASK_DONE;
        t->turn = (unsigned)(group % j->conn_count); /* spread first guesses over the peers */
        t->next = j->tasks;
        j->tasks = t;
    }
    t->is_cancelled = false;
    if (t->state == JOIN_TASK_DONE) {
        join_task_step_to(t, JOIN_TASK_WAITING);
        t->backoff_ms = JOIN_RETRY_MS_MIN;
        t->next_at_ms = 0;
        t->started_ms = uv_now(j->loop);
        t->attempts = 0;
        t->logged_ms = 0;
        j->tasks_pending++;
        join_wake(j);
    }
    return t;
}

void join_group(struct join *j, uint32_t group)
{
    struct join_task *t = join_task_arm(j, group);
    if (t != NULL) {
        t->is_rejoin = true;
    }
}

void join_group_replace(struct join *j, uint32_t group, uint32_t replaces)
{
    EDDY_ASSERT(replaces != 0);
    EDDY_ASSERT(replaces != j->node_id);
    struct join_task *t = join_task_arm(j, group);
    if (t != NULL) {
        t->replaces = replaces;
    }
}

void join_group_cancel(struct join *j, uint32_t group)
{
    struct join_task *t = join_task_find(j, group);
    if (t == NULL || t->state == JOIN_TASK_DONE) {
        return;
    }
    t->is_rejoin = false;
    t->replaces = 0;
    if (t->state == JOIN_TASK_INFLIGHT) {
        t->is_cancelled = true; /* its reply finishes it */
        return;
    }
    join_task_step_to(t, JOIN_TASK_DONE);
    EDDY_ASSERT(j->tasks_pending > 0);
    j->tasks_pending--;
}

bool join_group_is_pending(const struct join *j, uint32_t group)
{
    for (const struct join_task *t = j->tasks; t != NULL; t = t->next) {
        if (t->group == group) {
            return t->state != JOIN_TASK_DONE && !t->is_cancelled;
        }
    }
    return false;
}

unsigned join_groups_pending(const struct join *j)
{
    return j->tasks_pending;
}

static void join_on_tick(uv_timer_t *timer)
{
    struct join *j = container_of(timer, struct join, timer);
    uint64_t now = uv_now(j->loop);
    join_groups_tick(j, now);
    bool is_probe_open = j->probe == JOIN_PROBE_ASKING || j->probe == JOIN_PROBE_RESTING;
    bool is_catalog_open = j->catalog_cb != NULL;
    join_catalog_tick(j, now);
    join_probe_tick(j, now); /* last: its callback may close the join */
    if (!is_probe_open && !is_catalog_open && j->tasks_pending == 0 && j->state == JOIN_RUNNING) {
        uv_timer_stop(&j->timer);
        j->is_timer_on = false;
    }
}
