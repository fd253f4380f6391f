/*
 * One Raft group replica on canonical/raft 0.15 with raft_uv: start-up
 * (bootstrap on a pristine directory, start otherwise), tuned timeouts and
 * pre-vote, 8-byte padded entries with the real length inside, a barrier
 * after every election before the replica calls itself ready, proposals with
 * callbacks, and snapshots sized in bytes of log.
 *
 * Entry payload layout (what raft stores): 4-byte little-endian magic
 * "EDY1", 4-byte little-endian payload length, payload, zero padding to a
 * multiple of 8. The FSM only ever sees the payload.
 *
 * Lifecycle: rgroup_init -> rgroup_start -> (propose)* -> rgroup_close(cb).
 * All calls on the loop thread. The FSM callbacks run on the loop thread.
 */
#ifndef EDDY_RGROUP_H
#define EDDY_RGROUP_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct rmux;
struct rgroup;

struct rgroup_fsm {
    void *data;
    /* Applies a committed payload at Raft index `index`. Deterministic: no
     * clock, no randomness. *result (may stay NULL) reaches the proposer's
     * callback on the leader and is freed by the FSM's free_result. A
     * non-zero return is a fatal state machine error. */
    int (*apply)(void *data, uint64_t index, const uint8_t *buf, size_t len, void **result);
    void (*free_result)(void *data, void *result);
    /* Small snapshot payload (a manifest). *buf is eddy_malloc'd; rgroup
     * takes ownership. */
    int (*snapshot)(void *data, uint8_t **buf, size_t *len);
    /* Restores from a payload made by snapshot (borrowed). */
    int (*restore)(void *data, const uint8_t *buf, size_t len);
};

struct rgroup_peer {
    uint64_t node_id;      /* Raft server id = node id */
    const char *raft_addr; /* that node's rmux address */
};

struct rgroup_config {
    uint32_t group_id;
    uint64_t node_id;                /* this replica */
    const char *dir;                 /* raft_uv directory, created if missing */
    const struct rgroup_peer *peers; /* initial voters, this node included */
    unsigned peer_count;
    unsigned election_timeout_ms;  /* 0: RAFT_ELECTION_TIMEOUT_MS */
    unsigned heartbeat_timeout_ms; /* 0: RAFT_HEARTBEAT_TIMEOUT_MS */
    uint64_t snapshot_log_bytes;   /* 0: RAFT_SNAPSHOT_LOG_BYTES */
    uint64_t trailing_log_bytes;   /* 0: RAFT_SNAPSHOT_TRAILING_BYTES */
    size_t segment_bytes;          /* 0: RAFT_SEGMENT_BYTES */
    /* Join mode: never raft_bootstrap. A pristine directory then starts
     * with an empty log and no configuration, and the replica waits for a
     * leader to add it (rgroup_rejoin there); it never campaigns before.
     * A directory with Raft data starts as usual either way. */
    bool join;
};

/* status 0: committed and applied; result from the FSM (freed after the
 * callback). Negative: -EDDY_ENOTLEADER (not leader or not ready; nothing
 * was proposed), -EDDY_EUNKNOWN (leadership lost or shut down after
 * proposing: outcome unknown), other errors. */
typedef void (*rgroup_propose_cb)(void *arg, int status, void *result);
typedef void (*rgroup_close_cb)(void *arg);
/* Called on the loop whenever readiness or the known leader changes. */
typedef void (*rgroup_state_cb)(void *arg, struct rgroup *g);

/* *out is freed in rgroup_close's callback. fsm is borrowed for the
 * group's life. */
int rgroup_init(struct rgroup **out,
                uv_loop_t *loop,
                struct rmux *mux,
                const struct rgroup_config *cfg,
                const struct rgroup_fsm *fsm);
void rgroup_set_state_cb(struct rgroup *g, rgroup_state_cb cb, void *arg);
int rgroup_start(struct rgroup *g);
/* Copies payload. cb runs exactly once, never before this returns. */
void rgroup_propose(
    struct rgroup *g, const uint8_t *payload, size_t len, rgroup_propose_cb cb, void *arg);
/* Writes exactly len payload bytes at out. */
typedef void (*rgroup_pack_cb)(const void *arg, uint8_t *out, size_t len);
/* rgroup_propose without the copy: pack writes the payload straight into
 * the entry's buffer (once, before this returns, and only when the
 * proposal goes to raft), so an encoder need not build it elsewhere first
 * (docs/BENCHMARKS.md, 2026-11-26). pack_arg is borrowed until then. */
void rgroup_propose_packed(struct rgroup *g,
                           size_t len,
                           rgroup_pack_cb pack,
                           const void *pack_arg,
                           rgroup_propose_cb cb,
                           void *arg);
/* Leader whose election barrier has been applied. */
bool rgroup_is_ready(const struct rgroup *g);
/* Node id of the current leader as this replica knows it, 0 if none. */
uint64_t rgroup_leader(const struct rgroup *g);
uint64_t rgroup_applied_index(const struct rgroup *g);
uint64_t rgroup_last_index(const struct rgroup *g);
/* Bytes of the entries raft holds in memory (its log since the last
 * snapshot plus the trailing entries), walking the log: for tests and
 * diagnostics, not per request. */
uint64_t rgroup_log_bytes(const struct rgroup *g);
uint32_t rgroup_id(const struct rgroup *g);
void rgroup_close(struct rgroup *g, rgroup_close_cb cb, void *arg);

/* ---- membership and leadership (three-node cluster) ---- */

/* Upper bound of one rgroup_rejoin, catch-up included: past it the call
 * fails with -EDDY_ETIMEDOUT. Callers waiting on a remote rejoin wait a
 * little longer than this. */
#define RGROUP_REJOIN_TIMEOUT_MS 60000

/* True when dir holds Raft state of a replica that took part in a group:
 * a term above 0 in raft_uv's metadata, a closed segment or a snapshot. A
 * missing or empty directory, or one where raft_uv only prepared open
 * segments of an empty log, is pristine. Blocking: start-up only. */
bool rgroup_dir_has_data(const char *dir);

/* status 0 or a negative error; runs exactly once, never synchronously. */
typedef void (*rgroup_change_cb)(void *arg, int status);

/* On the ready leader: makes node_id a voter with an empty log. If it is a
 * member already (its data was wiped), it is removed first; then it is added
 * as a spare, caught up (raft_assign does the catch-up rounds) and assigned
 * the voter role. One membership change at a time per group: a second call
 * while one runs fails with -EDDY_EINUSE. -EDDY_ENOTLEADER elsewhere. */
void rgroup_rejoin(
    struct rgroup *g, uint64_t node_id, const char *raft_addr, rgroup_change_cb cb, void *arg);
/* On the ready leader: makes node_id a voter and then removes old_id
 * (replica replacement, docs/adr/0004). node_id is added as a spare and
 * caught up when it is not a member, promoted when it is not a voter, and
 * never removed first (unlike rgroup_rejoin: asking again is harmless);
 * old_id goes once node_id votes. Steps the configuration shows done are
 * skipped, so status 0 may come at once. When this leader is old_id it
 * hands leadership away and fails with -EDDY_ENOTLEADER (ask the next
 * leader). Otherwise the same errors as rgroup_rejoin. */
void rgroup_replace(struct rgroup *g,
                    uint64_t node_id,
                    const char *raft_addr,
                    uint64_t old_id,
                    rgroup_change_cb cb,
                    void *arg);
/* On the leader: hands leadership to node_id (0: raft picks the most
 * up-to-date voter). */
void rgroup_transfer(struct rgroup *g, uint64_t node_id, rgroup_change_cb cb, void *arg);
/* A hydrating replica lacks data its snapshot manifest names: it is never
 * ready, and when it is the leader it hands leadership away. */
void rgroup_set_hydrating(struct rgroup *g, bool hydrating);
bool rgroup_is_hydrating(const struct rgroup *g);
/* A draining replica (its node is about to stop: `eddy leader drain`) hands
 * leadership to another voter (rgroup_transfer to 0, so the proposals in
 * flight commit first) whenever it is the ready leader and another voter
 * exists; when leadership comes back it waits longer before the next
 * hand-off (RGROUP_DRAIN_BACKOFF_MIN_MS doubling up to _MAX), so that a
 * group whose only other able voter keeps handing it back still serves. */
void rgroup_set_draining(struct rgroup *g, bool draining);
bool rgroup_is_draining(const struct rgroup *g);
/* Node ids of the current voters as this replica knows them; returns the
 * count (at most max written). */
unsigned rgroup_voters(const struct rgroup *g, uint64_t *out, unsigned max);

#endif
