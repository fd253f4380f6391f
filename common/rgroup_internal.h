/*
 * The insides of one Raft group replica, shared by rgroup.c (start-up,
 * proposals, leadership, close) and rgroup_change.c (membership changes,
 * leadership transfer, hydration hand-off). Not for use outside common/.
 */
#ifndef EDDY_RGROUP_INTERNAL_H
#define EDDY_RGROUP_INTERNAL_H

#include "eddy/assert.h"
#include "eddy/rgroup.h"
#include "eddy/list.h"
#include "rlog_budget.h"

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* DRAINING: closing, waiting for raft_uv to store every appended entry. */
enum rgroup_state {
    RGROUP_INITED,
    RGROUP_STARTED,
    RGROUP_DRAINING,
    RGROUP_CLOSING,
    RGROUP_STATE_COUNT
};

struct rgroup_prop {
    struct raft_apply req;
    struct rgroup *g;
    rgroup_propose_cb cb;
    void *arg;
    size_t bytes; /* envelope bytes counted in g->inflight_bytes */
    int status;   /* for deferred completions */
    struct list_link link;
};

struct rgroup_op; /* rgroup_change.c */

struct rgroup {
    uv_loop_t *loop;
    const struct rgroup_fsm *fsm;
    enum rgroup_state state;
    uint32_t group_id;
    uint64_t node_id;
    bool is_join;                   /* never bootstrap (rgroup_config.join) */
    struct raft_configuration conf; /* bootstrap configuration until start */
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm raft_fsm;
    struct raft raft;
    uv_timer_t poll;
    uv_idle_t defer;
    bool is_raft_closed;
    /* raft_uv's close and the callback raft gave it: rgroup sits between
     * them so raft's callback runs once (rgroup.c, rgroup_io_close). */
    void (*uv_io_close)(struct raft_io *io, raft_io_close_cb cb);
    /* raft_uv's send, wrapped by rgroup_io_send (drops address-less sends). */
    int (*uv_io_send)(struct raft_io *io,
                      struct raft_io_send *req,
                      const struct raft_message *message,
                      raft_io_send_cb cb);
    raft_io_close_cb io_close_cb;
    unsigned io_close_calls;

    /* Leadership. */
    bool is_ready;
    uint64_t leader_id;
    raft_term ready_term; /* term whose election barrier was applied */
    struct raft_barrier barrier;
    bool is_barrier_inflight;
    raft_term barrier_term;
    rgroup_state_cb state_cb;
    void *state_arg;
    bool is_notify_due; /* readiness changed outside the poll: tell state_cb */

    /* Proposals. */
    struct list_link inflight; /* handed to raft_apply, in index order */
    struct list_link deferred; /* completed without raft, callback due */
    size_t inflight_bytes;

    /* Membership and leadership changes (rgroup_change.c). */
    struct rgroup_op *rejoin;   /* the one running rgroup_rejoin, or NULL */
    struct rgroup_op *transfer; /* the raft_transfer in flight, or NULL */
    /* A requested transfer waiting for the proposals in flight to finish,
     * so moving leadership fails none of them; NULL when none. */
    struct rgroup_op *transfer_wait;
    uint64_t transfer_wait_node;
    uint64_t transfer_wait_deadline_ms;
    struct list_link ops_done; /* completed ops whose callback is due */
    bool is_hydrating;
    uint64_t handoff_at_ms; /* next hand-off attempt of a hydrating leader */
    uint64_t handoff_warned_ms;
    /* A draining replica (rgroup_set_draining) hands away leadership it
     * gets, no sooner than drain_at_ms; drain_moves counts its hand-offs
     * since draining began (each return of leadership waits longer). */
    bool is_draining;
    bool is_drain_pending; /* its rgroup_transfer runs */
    uint64_t drain_at_ms;
    unsigned drain_moves;

    /* The FSM result of the last applied entry until its proposer takes it. */
    void *result;
    raft_index apply_index; /* index of the last fsm->apply call */

    /* Snapshot sizing: the log raft keeps in memory, bounded in bytes. */
    struct rlog_budget budget;
    unsigned snapshot_threshold; /* as last set in raft */
    unsigned snapshot_trailing;

    raft_index leader_index_max; /* last entry this replica appended as leader */
    uint64_t drain_deadline_ms;
    rgroup_close_cb close_cb;
    void *close_arg;
};

/* ---- rgroup.c ---- */

/* Maps a RAFT_* code to an Eddy code. */
int rgroup_errno_from_raft(int rv);
/* Runs the deferred callbacks (proposals and ops) from the loop soon. */
void rgroup_defer_start(struct rgroup *g);

/* ---- rgroup_change.c ---- */

/* On every poll of a started replica, after its state was sampled: drives
 * the running rejoin and the hydrating or draining leader's hand-off. */
void rgroup_change_poll(struct rgroup *g);
/* Runs the callbacks of completed ops queued so far. */
void rgroup_change_run_done(struct rgroup *g);
bool rgroup_change_has_done(const struct rgroup *g);
/* After raft closed: fails the ops still open with -EDDY_ESHUTDOWN and runs
 * every callback due. */
void rgroup_change_close(struct rgroup *g);

#endif
