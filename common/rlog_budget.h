/*
 * The byte budget of one Raft group's in-memory log. canonical/raft 0.15
 * keeps in memory every entry since its last snapshot plus the `trailing`
 * entries before it, and counts both in entries (raft_set_snapshot_threshold,
 * raft_set_snapshot_trailing). rlog_budget turns two byte budgets into those
 * counts from the sizes of the entries actually applied, so the log stays
 * bounded in bytes whatever the mix of entry sizes: a phase of small entries
 * followed by large ones cannot stretch it (a count derived from a mean size
 * can: docs/BENCHMARKS.md, 2026-11-26).
 *
 * Pure bookkeeping, no raft calls: rgroup.c feeds it every entry its FSM
 * applies and every snapshot raft takes, and sets the counts it returns.
 * Private to common/ (rgroup.c and its tests).
 */
#ifndef EDDY_RLOG_BUDGET_H
#define EDDY_RLOG_BUDGET_H

#include "eddy/limits.h"

#include <stdint.h>

/* Entries whose sizes are remembered: the most trailing entries ever kept. */
#define RLOG_BUDGET_RING RAFT_SNAPSHOT_TRAILING_MAX
/* The threshold while the log is under budget: raft never snapshots on its own. */
#define RLOG_BUDGET_THRESHOLD_IDLE UINT32_MAX

/* Fields are private to rlog_budget.c (the struct is visible so that rgroup
 * can embed it). */
struct rlog_budget {
    uint64_t log_bytes_max;           /* log since the last snapshot that triggers the next */
    uint64_t trailing_bytes_max;      /* log kept before a snapshot */
    unsigned threshold_min;           /* entries between two snapshots at least */
    uint64_t applied_bytes;           /* every entry recorded since start */
    uint64_t snap_index;              /* raft's last snapshot index, as last seen */
    uint64_t snap_bytes;              /* applied_bytes up to snap_index */
    uint64_t pending_index;           /* a snapshot raft is storing, 0 when none */
    uint64_t pending_bytes;           /* applied_bytes up to pending_index */
    uint64_t first_index;             /* first index recorded, 0 before any */
    uint64_t last_index;              /* last index recorded */
    uint32_t sizes[RLOG_BUDGET_RING]; /* bytes of entry i at i % RLOG_BUDGET_RING */
};

/* Starts the books of a replica. log_bytes_max > 0; threshold_min >= 1. */
void rlog_budget_init(struct rlog_budget *b,
                      uint64_t log_bytes_max,
                      uint64_t trailing_bytes_max,
                      unsigned threshold_min);

/* The FSM applied the entry at index (above every index recorded), bytes
 * long as raft holds it. snapshot_index is raft's last snapshot index now
 * (raft->log.snapshot.last_index: 0.15 checks the threshold against it).
 * Returns the snapshot threshold to set before raft checks it at the end of
 * this apply round: once the entries since the snapshot hold log_bytes_max,
 * the distance from snapshot_index to index (so raft snapshots at once), at
 * least threshold_min; until then RLOG_BUDGET_THRESHOLD_IDLE. */
unsigned
rlog_budget_applied(struct rlog_budget *b, uint64_t index, uint64_t bytes, uint64_t snapshot_index);

/* raft is taking a snapshot at index (its last applied index). Returns the
 * trailing count to set for it: the newest entries up to index that fit in
 * trailing_bytes_max, at least RAFT_SNAPSHOT_TRAILING_MIN and at most
 * RLOG_BUDGET_RING. Entries not recorded (barriers, configuration changes,
 * entries before start) count as empty. */
unsigned rlog_budget_snapshot(struct rlog_budget *b, uint64_t index);

/* Bytes of the entries recorded after the last snapshot seen. */
uint64_t rlog_budget_log_bytes(const struct rlog_budget *b);

#endif
