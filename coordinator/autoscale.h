/*
 * On-demand scaling, the decision: which shard of an ON_DEMAND stream to
 * split, from the write rates the shard group leaders report in their
 * heartbeats (HeartbeatReq.shard_loads, server/shard_rate.h) and the
 * catalogue. Pure: the caller passes the time (a monotonic clock in ms) and
 * the catalogue; coord_autoscale.h proposes what it picks.
 *
 * AWS: an ON_DEMAND stream starts with 4 shards (4 MiB/s of writes) and
 * "automatically scales" to "accommodate up to double its previous peak
 * write throughput"; each shard keeps the 1 MiB/s and 1,000 records/s
 * limits of the provisioned mode (Developer Guide, "Quotas and limits",
 * "Choose the data stream capacity mode"). Eddy keeps every shard of an
 * ON_DEMAND stream's capacity at about twice its traffic: a shard whose
 * reported rate stays at or above a threshold (by default half the
 * per-shard limit, in bytes or in records) for sustain_ms without a break
 * is split at the middle of its hash range, as long as the stream has fewer
 * open shards than its whole reported traffic divided by the threshold
 * (rounded up). So the stream grows to twice its peak traffic and no
 * further: a single hot partition key, which no split can spread, does not
 * split it again and again. Children are measured afresh and split in turn
 * while they stay busy. Shards are never merged back (AWS scales down over
 * a day; an Eddy stream keeps its peak capacity).
 *
 * A shard is a candidate when, besides being busy long enough, its stream
 * exists in the reported incarnation, is ON_DEMAND and ACTIVE (so no
 * reshard or settings change is under way: at most one reshard per stream
 * at a time), the shard is open and its range has room for a split, the
 * stream has fewer open shards than its traffic warrants (above) and than
 * stream_shards_max, and the account fewer than account_shard_limit. Of
 * the candidates the busiest (the larger of its two rates as a share of its
 * threshold) is picked. The traffic counts only the shards reported (each
 * leader sends its busiest few): a leader of more busy shards than it
 * reports makes the estimate low, which slows growth, never runs it away.
 *
 * State: a bounded table of AUTOSCALE_SHARDS_MAX shards, each with its last
 * report and since when it has been busy. A shard not reported for
 * stale_ms (its leader reports only its busiest shards, and a leader that
 * changed reports nothing for a window) is not busy any more. When the
 * table is full, a new shard takes the slot of the one reported least
 * recently. Not replicated: a new coordinator leader starts empty.
 */
#ifndef EDDY_AUTOSCALE_H
#define EDDY_AUTOSCALE_H

#include "catalog.pb-c.h"
#include "rpc.pb-c.h"

#include "eddy/limits.h"
#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shards tracked at once: more than the busiest shards of every report of
 * a few nodes (SHARD_RATE_REPORT_MAX each); ~190 KiB. */
#define AUTOSCALE_SHARDS_MAX 1024

struct autoscale_config {
    /* A shard at or above either rate (per second) is busy; 0 leaves that
     * rate out. At least one is non-zero. */
    uint64_t write_bytes_per_s;
    uint64_t write_records_per_s;
    uint64_t sustain_ms;          /* busy this long without a break: split it */
    uint64_t stale_ms;            /* not reported this long: not busy */
    uint32_t account_shard_limit; /* open shards of all streams together */
    uint32_t stream_shards_max;   /* open shards of one stream */
};

struct autoscale_shard {
    bool is_used;
    char stream[KIN_STREAM_NAME_LEN_MAX + 1];
    uint64_t created_ms;
    uint32_t shard;
    uint64_t bytes_per_s; /* the last report */
    uint64_t records_per_s;
    uint64_t seen_ms;       /* when it came */
    uint64_t busy_since_ms; /* 0: not busy */
};

struct autoscale {
    struct autoscale_config cfg;
    struct autoscale_shard shards[AUTOSCALE_SHARDS_MAX];
};

/* What autoscale_pick chose: split shard at new_start (the upper child's
 * first hash key, the middle of the shard's range). */
struct autoscale_split {
    char stream[KIN_STREAM_NAME_LEN_MAX + 1];
    uint64_t created_ms;
    uint32_t shard;
    u128 new_start;
    uint64_t bytes_per_s;
    uint64_t records_per_s;
    uint64_t busy_ms; /* how long it has been busy */
};

/* cfg is copied; its thresholds are not both 0 and sustain_ms is at least
 * one report period. The table starts empty. */
void autoscale_init(struct autoscale *a, const struct autoscale_config *cfg);
/* Forgets every shard (leadership changed). */
void autoscale_reset(struct autoscale *a);
/* Takes one shard's report at now_ms. A report that names no valid stream
 * is ignored (reports come from the network). */
void autoscale_observe(struct autoscale *a, const Eddy__ShardLoad *l, uint64_t now_ms);
/* Chooses the shard to split at now_ms (see above): true with *out set, or
 * false. Drops shards whose stream incarnation is gone or that closed. */
bool autoscale_pick(struct autoscale *a,
                    const Eddy__Catalog *cat,
                    uint64_t now_ms,
                    struct autoscale_split *out);
/* The split of the shard was proposed: it starts over (not busy). */
void autoscale_forget(struct autoscale *a, const char *stream, uint64_t created_ms, uint32_t shard);
/* The middle of [start, end] as a split's NewStartingHashKey; the range must
 * hold at least 4 keys (end - start >= 3), which autoscale_pick checks. */
u128 autoscale_split_point(u128 start, u128 end);

#endif
