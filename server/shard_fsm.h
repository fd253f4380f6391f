/*
 * The state machine of one shard group: the shards the group owns, each a
 * segment store, fed by committed GroupEntry payloads (proto/group.proto).
 * It reads no clock (arrival times come stamped in the entry) and does no
 * I/O but through the segment stores, so every replica computes the same
 * records and sequence numbers.
 *
 * Replay is idempotent: a record whose sequence number is not above its
 * shard's last stored one was applied before a crash and is skipped.
 *
 * Lifecycle: shard_fsm_create -> shard_fsm_adapter (handed to rgroup) ->
 * shard_fsm_destroy after the group closed.
 */
#ifndef EDDY_SHARD_FSM_H
#define EDDY_SHARD_FSM_H

#include "eddy/rgroup.h"
#include "eddy/u128.h"

#include <stdint.h>

struct shard_fsm;
struct seg_store;

/* What applying an entry of records returns to the proposer on the leader:
 * one code and sequence number per record, in entry order. */
struct shard_fsm_result {
    size_t count;
    int *codes;
    u128 *seqs;
    uint64_t arrival_ms;
};

/* dir: the group's data directory (shards live under dir/shards). *out is
 * freed by shard_fsm_destroy. */
int shard_fsm_create(struct shard_fsm **out, const char *dir, uint32_t group_id);
void shard_fsm_destroy(struct shard_fsm *f);
/* The callbacks rgroup drives. */
void shard_fsm_adapter(struct shard_fsm *f, struct rgroup_fsm *out);
/* The store of a shard, NULL when the group does not hold it. Borrowed. */
struct seg_store *
shard_fsm_find(struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard);
/* Newest arrival time applied, for the leader's monotonic stamping. */
uint64_t shard_fsm_last_arrival_ms(const struct shard_fsm *f);
size_t shard_fsm_shard_count(const struct shard_fsm *f);

#endif
