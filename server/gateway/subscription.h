/*
 * Live SubscribeToShard subscriptions of one gateway, and the registry that
 * enforces AWS's rules per (consumer, shard):
 *
 *   - one call a second: a second call within SUBSCRIPTION_CALL_INTERVAL_MS
 *     of the last admitted one is refused (LimitExceededException);
 *   - one live subscription: a call within SUBSCRIPTION_TAKEOVER_MS of the
 *     start of a live one is refused (ResourceInUseException); a later one
 *     takes over, and the old stream gets a ResourceInUseException event and
 *     ends;
 *   - its own throughput: bytes_per_s (2 MiB/s, RegisterStreamConsumer's
 *     "dedicated throughput of up to 2 MiB of data per second per shard"),
 *     a token bucket per (consumer, shard) that outlives a subscription, so
 *     resubscribing does not reset it. GetRecords readers and other
 *     consumers do not count (the shard server does not throttle push
 *     reads, server/throttle.h).
 *
 * The registry is per gateway: two gateways of a cluster each admit one
 * subscription for the same consumer and shard (AWS has one per consumer and
 * shard). Clients normally talk to one endpoint; routing every subscription
 * of a consumer to one gateway, or keeping the registry in the coordinator,
 * would close that gap at the cost of an RPC per subscribe.
 *
 * A subscription streams application/vnd.amazon.eventstream: an
 * initial-response event at once, then SubscribeToShardEvents, each the
 * answer of one push read (ReadReq.wait_ms: the shard group leader answers as
 * soon as records are applied, or empty after SUBSCRIPTION_HEARTBEAT_MS,
 * which is the heartbeat). One read is in flight at a time, and the next one
 * starts only while the HTTP stream holds less than HTTP_STREAM_QUEUED_MAX
 * unsent bytes and the throughput bucket is not in debt: a slow reader falls
 * behind (MillisBehindLatest grows), the gateway's memory does not. Each read
 * continues AFTER the last record sent, on whichever node leads the shard's
 * group then (the backend follows leader changes), so a leader change loses
 * and repeats nothing. The stream ends cleanly after lifetime_ms (5 minutes),
 * after the event carrying ChildShards at the end of a closed shard, or with
 * an exception event (ResourceInUseException on takeover,
 * ResourceNotFoundException when the stream or shard went away).
 *
 * Lifecycle of a subscription: STREAMING -> ENDING (its HTTP stream ended;
 * waiting for the read in flight and its timers) -> freed, and its API call
 * released (the gateway drains only once every subscription is freed).
 * Registry: subscription_registry_create -> subscription_open* ->
 * subscription_registry_end_all (gateway closing) -> destroy once none is
 * live.
 */
#ifndef EDDY_GW_SUBSCRIPTION_H
#define EDDY_GW_SUBSCRIPTION_H

#include "rpc.pb-c.h"

#include "eddy/u128.h"

#include <stdint.h>
#include <uv.h>

struct api_call;
struct subscription_registry;

/* AWS's numbers (API_SubscribeToShard). */
#define SUBSCRIPTION_LIFETIME_MS_DEFAULT 300000 /* "for up to 5 minutes" */
#define SUBSCRIPTION_CALL_INTERVAL_MS 1000      /* "one call ... per second" */
#define SUBSCRIPTION_TAKEOVER_MS 5000           /* "within 5 seconds of a successful call" */
#define SUBSCRIPTION_BYTES_PER_S_DEFAULT (2 * 1024 * 1024)
/* An idle subscription gets an empty event this often: botocore reads with
 * a 60 s timeout, the Java SDK 10 s, KCL gives up after ~35 s without one;
 * kinesis-mock and LocalStack push one a second (notes/wire-protocols.md
 * 1.5). It is the push read's wait_ms. */
#define SUBSCRIPTION_HEARTBEAT_MS 2000
/* Live subscriptions one gateway serves; past it ServiceUnavailable. Each
 * holds one read in flight (a parked call on a shard server, bounded there
 * by SHARD_WAIT_NODE_MAX) and up to about two events of memory. */
#define SUBSCRIPTION_LIVE_MAX 1024
/* (consumer, shard) keys remembered: the live ones, and recent ones for the
 * call rate and the throughput bucket; past it ServiceUnavailable. */
#define SUBSCRIPTION_KEYS_MAX (2 * SUBSCRIPTION_LIVE_MAX)

struct subscription_config {
    uint64_t lifetime_ms; /* 0: SUBSCRIPTION_LIFETIME_MS_DEFAULT */
    uint64_t bytes_per_s; /* per consumer and shard; 0: no limit */
};

/* *out is freed by subscription_registry_destroy. */
void subscription_registry_create(struct subscription_registry **out,
                                  uv_loop_t *loop,
                                  const struct subscription_config *cfg);
/* Only once no subscription lives (their calls are all released). */
void subscription_registry_destroy(struct subscription_registry *r);
/* Ends every live subscription's stream (the gateway is closing). */
void subscription_registry_end_all(struct subscription_registry *r);

/* What a SubscribeToShard call resolved to. Strings borrowed for the call. */
struct subscription_target {
    const char *stream;
    uint64_t stream_created_ms;
    uint32_t shard;
    const char *consumer;
    uint64_t consumer_created_ms;
    /* The first read's position: AFTER_SEQUENCE (LATEST is resolved before
     * the stream starts), AT_SEQUENCE, AT_TIMESTAMP or TRIM_HORIZON. */
    Eddy__Position position;
    u128 seq;
    uint64_t timestamp_ms;
};

/* Admits the call under the registry's rules at now_ms and, if admitted,
 * starts its stream (ending a subscription it takes over): returns 0 and has
 * taken over the call. Otherwise the caller keeps the call and answers it:
 * -EDDY_ELIMIT (a call within a second), -EDDY_EINUSE (a live subscription
 * younger than SUBSCRIPTION_TAKEOVER_MS), -EDDY_EFULL (over a bound). */
int subscription_open(struct subscription_registry *r,
                      struct api_call *c,
                      const struct subscription_target *t,
                      uint64_t now_ms);

#endif
