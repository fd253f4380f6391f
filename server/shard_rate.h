/*
 * Per-shard write rates on the shard group leader, for on-demand scaling
 * (coordinator/autoscale.h). Every admitted write of a shard passes its
 * group leader, so the leader's count is the shard's whole write rate.
 *
 * Each shard's bytes (data and partition key, as the throttle counts them)
 * and records are summed over SHARD_RATE_WINDOW_MS windows; when a window
 * closes its sum goes into an exponentially weighted moving average with a
 * weight of 1/2 (a steady rate X reads X/2 after one window, 7X/8 after
 * three), and each window without writes halves it. The heartbeat reports
 * the busiest shards of the groups this node leads (shard_rate_report).
 *
 * State: a bounded set-associative table (SHARD_RATE_SETS x SHARD_RATE_WAYS
 * shards); a new shard takes the least recently written slot of its set, so
 * an idle shard is forgotten first. Nothing is replicated: a new leader
 * starts its shards at zero and reports them after a window or two.
 *
 * Lifecycle: shard_rate_create -> (put | report)* -> shard_rate_destroy.
 * Loop thread only.
 */
#ifndef EDDY_SHARD_RATE_H
#define EDDY_SHARD_RATE_H

#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One measuring window: AWS states its shard limits per second. */
#define SHARD_RATE_WINDOW_MS 1000
/* Table shape: 2,048 shards of ~180 bytes (370 KiB). A node leads far fewer
 * busy shards; past that the least recently written one of a set goes. */
#define SHARD_RATE_SETS 256
#define SHARD_RATE_WAYS 8
/* Shards one report carries at most (the busiest), bounding the heartbeat
 * to a few KiB; the coordinator accepts COORD_REPORT_SHARD_LOADS_MAX. */
#define SHARD_RATE_REPORT_MAX 32
/* Empty windows after which a rate is zero (halved 32 times it would be
 * below one unit of any rate that fits 32 bits anyway). */
#define SHARD_RATE_IDLE_WINDOWS_MAX 32

struct shard_rate;

/* Whether this node leads group (only led groups are reported: a deposed
 * leader's rates are stale). */
typedef bool (*shard_rate_is_leading_cb)(void *arg, uint32_t group);

void shard_rate_create(struct shard_rate **out);
void shard_rate_destroy(struct shard_rate *r);

/* Counts the records of req at now_ms (a monotonic clock), but not those
 * refused flags (NULL: none refused; else req->n_records flags, 1 refused,
 * as throttle_put gives them). */
void shard_rate_put(struct shard_rate *r,
                    const Eddy__PutRecordsReq *req,
                    const uint8_t *refused,
                    uint64_t now_ms);

/* The current rates of one shard (0 when unknown), for tests. */
void shard_rate_get(struct shard_rate *r,
                    const char *stream,
                    uint64_t created_ms,
                    uint32_t shard,
                    uint64_t now_ms,
                    uint64_t *bytes_per_s,
                    uint64_t *records_per_s);

/* Sets resp->shard_loads (which must be empty) to the busiest shards with a
 * non-zero rate at now_ms, of groups is_leading accepts, busiest first (by
 * the larger of the two rates, each as a share of AWS's per-shard write
 * limit), at most SHARD_RATE_REPORT_MAX. Allocated with eddy_malloc (each
 * entry with its stream name); shard_rate_report_free releases them. */
void shard_rate_report(struct shard_rate *r,
                       uint64_t now_ms,
                       shard_rate_is_leading_cb is_leading,
                       void *arg,
                       Eddy__NodeStatusResp *resp);
void shard_rate_report_free(Eddy__NodeStatusResp *resp);

#endif
