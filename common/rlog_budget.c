/*
 * The byte budget of one Raft group's in-memory log (rlog_budget.h).
 *
 * Books: applied_bytes sums every entry recorded since start; snap_bytes is
 * its value at raft's last snapshot index, so their difference is the log
 * raft holds since that snapshot (the entries it replays at start-up are
 * recorded too, as the FSM applies them). The sizes of the newest
 * RLOG_BUDGET_RING entries, by index, size the trailing log of the next
 * snapshot. raft stores a snapshot asynchronously and moves its snapshot
 * index only when the write is done: the books learn of it on the next
 * apply, by comparing the index raft reports with the one they took.
 */
#include "rlog_budget.h"

#include "eddy/assert.h"

#include <string.h>

void rlog_budget_init(struct rlog_budget *b,
                      uint64_t log_bytes_max,
                      uint64_t trailing_bytes_max,
                      unsigned threshold_min)
{
    EDDY_ASSERT(b != NULL);
    EDDY_ASSERT(log_bytes_max > 0);
    EDDY_ASSERT(threshold_min >= 1);
    memset(b, 0, sizeof(*b));
    b->log_bytes_max = log_bytes_max;
    b->trailing_bytes_max = trailing_bytes_max;
    b->threshold_min = threshold_min;
}

/* Moves the books to raft's snapshot index when it changed: to the one
 * taken here once stored, or (a snapshot restored from the leader, or
 * loaded at start) to everything recorded so far, which all lies at or
 * before such a snapshot. */
static void rlog_budget_sync(struct rlog_budget *b, uint64_t snapshot_index)
{
    if (snapshot_index == b->snap_index) {
        return;
    }
    if (b->pending_index != 0 && snapshot_index == b->pending_index) {
        b->snap_bytes = b->pending_bytes;
    } else {
        b->snap_bytes = b->applied_bytes;
    }
    b->snap_index = snapshot_index;
    b->pending_index = 0;
    EDDY_ASSERT(b->snap_bytes <= b->applied_bytes);
}

/* Records the size of the entry at index; the indexes skipped since the
 * last one (entries the FSM never sees) are empty. */
static void rlog_budget_record(struct rlog_budget *b, uint64_t index, uint32_t bytes)
{
    EDDY_ASSERT(index > b->last_index);
    if (b->first_index == 0) {
        b->first_index = index;
    } else {
        uint64_t gap = index - b->last_index - 1;
        if (gap > RLOG_BUDGET_RING) {
            gap = RLOG_BUDGET_RING;
        }
        for (uint64_t k = 1; k <= gap; k++) {
            b->sizes[(index - k) % RLOG_BUDGET_RING] = 0;
        }
    }
    b->sizes[index % RLOG_BUDGET_RING] = bytes;
    b->last_index = index;
    b->applied_bytes += bytes;
}

unsigned
rlog_budget_applied(struct rlog_budget *b, uint64_t index, uint64_t bytes, uint64_t snapshot_index)
{
    EDDY_ASSERT(b != NULL);
    EDDY_ASSERT(index > snapshot_index);
    EDDY_ASSERT(bytes <= UINT32_MAX);
    rlog_budget_sync(b, snapshot_index);
    rlog_budget_record(b, index, (uint32_t)bytes);
    if (rlog_budget_log_bytes(b) < b->log_bytes_max) {
        return RLOG_BUDGET_THRESHOLD_IDLE;
    }
    uint64_t distance = index - snapshot_index;
    if (distance < b->threshold_min) {
        distance = b->threshold_min;
    }
    if (distance >= RLOG_BUDGET_THRESHOLD_IDLE) {
        distance = RLOG_BUDGET_THRESHOLD_IDLE - 1;
    }
    return (unsigned)distance;
}

unsigned rlog_budget_snapshot(struct rlog_budget *b, uint64_t index)
{
    EDDY_ASSERT(b != NULL);
    EDDY_ASSERT(index >= b->last_index);
    if (index > b->last_index && b->first_index != 0) {
        rlog_budget_record(b, index, 0); /* a barrier or change applied last */
    }
    b->pending_index = index;
    b->pending_bytes = b->applied_bytes;
    /* The newest entries first, while they fit; only recorded ones. */
    uint64_t sum = 0;
    unsigned count = 0;
    for (uint64_t i = index; b->first_index != 0 && i >= b->first_index && count < RLOG_BUDGET_RING;
         i--) {
        uint32_t size = b->sizes[i % RLOG_BUDGET_RING];
        if (sum + size > b->trailing_bytes_max) {
            break;
        }
        sum += size;
        count++;
    }
    if (count < RAFT_SNAPSHOT_TRAILING_MIN) {
        count = RAFT_SNAPSHOT_TRAILING_MIN;
    }
    EDDY_ASSERT(count <= RLOG_BUDGET_RING);
    return count;
}

uint64_t rlog_budget_log_bytes(const struct rlog_budget *b)
{
    EDDY_ASSERT(b->snap_bytes <= b->applied_bytes);
    return b->applied_bytes - b->snap_bytes;
}
