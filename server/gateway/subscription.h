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
 * The call rate and the throughput bucket are kept per gateway. The one
 * live subscription is kept twice: here, for the subscriptions of this
 * gateway (refused at once, the old stream ended at once on a takeover),
 * and across the cluster by the shard group's leader, which serves every
 * gateway's reads of the shard (server/shard_lease.h, docs/adr/0008): each
 * subscription has a random id; the call that opens it asks the leader for
 * the lease (LEASE_ACQUIRE, refused -EDDY_EINUSE within 5 s of the holder's
 * start), each later read shows it (LEASE_HOLD: a read of a subscription
 * taken over through another gateway fails -EDDY_ESUPERSEDED and its stream
 * gets the ResourceInUseException event), and a stream that ends for any
 * other reason gives it back (LEASE_RELEASE).
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

#include "eddy/limits.h"
#include "eddy/u128.h"

#include <stdint.h>
#include <uv.h>

struct api_call;
struct subscription_registry;

/* AWS's numbers (API_SubscribeToShard). */
#define SUBSCRIPTION_LIFETIME_MS_DEFAULT 300000 /* "for up to 5 minutes" */
#define SUBSCRIPTION_CALL_INTERVAL_MS 1000      /* "one call ... per second" */
#define SUBSCRIPTION_TAKEOVER_MS KIN_SUBSCRIBE_TAKEOVER_MS
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
    /* The lease: the subscription's id (subscription_admit) and when it was
     * admitted (uv_now); its reads tell the leader their age from then. */
    uint64_t id;
    uint64_t admitted_ms;
};

/* Admits a call for t under this gateway's rules at now_ms: 0 and a slot
 * reserved for it, t->id and t->admitted_ms set; or -EDDY_ELIMIT (a call
 * within a second), -EDDY_EINUSE (a live subscription here younger than
 * SUBSCRIPTION_TAKEOVER_MS), -EDDY_EFULL (over a bound). An admitted call
 * then asks the shard's leader for the lease (a read with LEASE_ACQUIRE and
 * t->id: subscription_lease_read) and ends in exactly one of
 * subscription_open or subscription_abandon. */
int subscription_admit(struct subscription_registry *r,
                       struct subscription_target *t,
                       uint64_t now_ms);
/* The lease fields of a read by t's subscription (lease: ACQUIRE, HOLD or
 * RELEASE) at now_ms; t's strings are borrowed by rd. */
struct backend_read;
void subscription_lease_read(const struct subscription_target *t,
                             Eddy__Lease lease,
                             uint64_t now_ms,
                             struct backend_read *rd);
/* The leader granted the lease: starts the admitted call's stream (ending a
 * subscription of this gateway it takes over), takes over the call and
 * returns 0; or -EDDY_ESHUTDOWN (the gateway is closing: the slot is given
 * back, the caller answers the call). */
int subscription_open(struct subscription_registry *r,
                      struct api_call *c,
                      const struct subscription_target *t);
/* The admitted call does not start (the leader refused the lease, or the
 * read failed): gives its slot back. */
void subscription_abandon(struct subscription_registry *r);

#endif
