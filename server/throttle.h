/*
 * Per-shard write and read limits (eddy/limits_profile.h), enforced by the
 * shard group leader: every write and every read of a shard goes through its
 * leader, whichever gateway sent it, so one set of token buckets per shard
 * holds the limit for the whole cluster.
 *
 * A PutRecords is decided record by record, in request order: a record is
 * written when its shard has a record and its bytes (data and partition key)
 * left, and refused (-EDDY_ETHROTTLED in its PutResult, the gateway's
 * per-record ProvisionedThroughputExceededException) otherwise. A GetRecords
 * read is refused whole (ReadResp status -EDDY_ETHROTTLED) when the shard
 * has no read call left or owes read bytes; a served read charges the bytes
 * it returned.
 *
 * State: one entry of four buckets per (stream, creation time, shard) in a
 * bounded table (THROTTLE_SHARDS_MAX keys, tbucket.h); the buckets are not
 * replicated, so a new leader starts its shards with full buckets. Positions
 * only (GetShardIterator's LATEST, limit 0) are not reads.
 *
 * The shards of ON_DEMAND streams have the same limits: AWS applies them "in
 * both on-demand and provisioned capacity modes" (Developer Guide, "Create
 * and manage Kinesis data streams"); an on-demand stream's capacity grows by
 * splits instead (coordinator/autoscale.h, docs/adr/0005).
 *
 * Lifecycle: throttle_create -> (throttle_put | throttle_read_*)* ->
 * throttle_destroy. A NULL throttle limits nothing (the dev profile).
 */
#ifndef EDDY_THROTTLE_H
#define EDDY_THROTTLE_H

#include "eddy/limits_profile.h"
#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shards whose buckets one node keeps at once: 16,384 entries of ~100 bytes
 * (1.6 MiB). A node leads far fewer busy shards; past it the least recently
 * used shard of a set forgets its buckets (tbucket.h). */
#define THROTTLE_SHARDS_MAX 16384

struct throttle;

/* *out is NULL when p limits no shard rate (nothing to track). Freed by
 * throttle_destroy. p is read now, not kept. */
void throttle_create(struct throttle **out, const struct limits_profile *p);
void throttle_destroy(struct throttle *t);

/* Decides each record of req at now_ms (a monotonic clock) and charges the
 * admitted ones. Returns how many were admitted; *refused is NULL when all
 * were, else req->n_records flags (1: refused), eddy_xmalloc'd, which the
 * caller frees. t NULL: all admitted. */
size_t throttle_put(struct throttle *t,
                    const Eddy__PutRecordsReq *req,
                    uint64_t now_ms,
                    uint8_t **refused);

/* Whether the read req may run at now_ms; if so it is charged one call. A
 * read of limit 0 (a position only) and a push read (wait_ms > 0, a
 * SubscribeToShard subscription, limited per consumer at the gateway)
 * always may, and are not charged. */
bool throttle_read_begin(struct throttle *t, const Eddy__ReadReq *req, uint64_t now_ms);
/* Charges the bytes resp returned to req's shard (after throttle_read_begin
 * said yes). */
void throttle_read_end(struct throttle *t,
                       const Eddy__ReadReq *req,
                       const Eddy__ReadResp *resp,
                       uint64_t now_ms);

#endif
