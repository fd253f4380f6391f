/*
 * Parked reads: the shard group leader's half of SubscribeToShard's push.
 *
 * A Read with wait_ms > 0 (ReadReq.wait_ms, sent by the gateway for a
 * subscription) that finds nothing after its position is not answered at
 * once: the shard server parks it here. It comes back to its owner through
 * the wake callback, exactly once per park:
 *
 *   SHARD_WAIT_APPLIED  an entry that touches its shard (records, a close or
 *                       a drop of the stream) was applied on this leader:
 *                       read again, and park again if still nothing;
 *   SHARD_WAIT_TIMEOUT  its deadline passed: answer what there is (nothing,
 *                       an empty answer, is the subscription's heartbeat);
 *   SHARD_WAIT_FAILED   the group lost its leadership, is being removed, or
 *                       the server closes: answer -EDDY_ENOTLEADER, so the
 *                       gateway asks the next leader from the same position;
 *   SHARD_WAIT_SUPERSEDED another subscription took the (consumer, shard)
 *                       over (shard_lease.h): answer -EDDY_ESUPERSEDED.
 *
 * Nothing polls: wakes come from the apply path (shard_wait_applied, called
 * by the shard server when a proposal's entry was applied), deadlines from
 * one timer. Parked calls are bounded per group (SHARD_WAIT_GROUP_MAX) and
 * per node (SHARD_WAIT_NODE_MAX, eddy/limits.h): past either, shard_wait_park
 * refuses with -EDDY_EFULL.
 *
 * The calls of one wake come back together, in one callback, so that the
 * owner can serve calls waiting at the same place with one read. The
 * callback may park calls again: the wakes of one round are taken out of
 * the lists before the callback runs.
 *
 * Lifecycle: shard_wait_init -> (park | applied | fail_group)* ->
 * shard_wait_close(cb), which fails every parked call and frees the module
 * once its timer closed. All on the loop thread.
 */
#ifndef EDDY_SHARD_WAIT_H
#define EDDY_SHARD_WAIT_H

#include "group.pb-c.h"
#include "rpc.pb-c.h"

#include "eddy/u128.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct rpc_call;
struct shard_wait;

enum shard_wait_wake {
    SHARD_WAIT_APPLIED,
    SHARD_WAIT_TIMEOUT,
    SHARD_WAIT_FAILED,
    SHARD_WAIT_SUPERSEDED,
};

/* A parked call handed back: after and deadline_ms are what it was parked
 * with (the read continues AFTER_SEQUENCE of after). */
struct shard_wait_woken {
    struct rpc_call *call;
    u128 after;
    uint64_t deadline_ms;
};

/* Hands back the count (>= 1) calls one wake took, in the order they were
 * parked, with their ownership; the array is borrowed for the callback. */
typedef void (*shard_wait_cb)(void *arg,
                              struct shard_wait_woken *woken,
                              size_t count,
                              enum shard_wait_wake why);

/* Group ids are 1..group_max. *out is freed in shard_wait_close's callback. */
void shard_wait_init(
    struct shard_wait **out, uv_loop_t *loop, uint32_t group_max, shard_wait_cb cb, void *arg);

/* Parks call (a Read on group's leader, whose request names the shard) until
 * deadline_ms (uv_now time) or a wake. Takes ownership of call on 0; on
 * -EDDY_EFULL (over a bound), -EDDY_EINVAL (bad group id) or -EDDY_ESHUTDOWN
 * (closing) the caller keeps it. */
int shard_wait_park(
    struct shard_wait *w, uint32_t group, struct rpc_call *call, u128 after, uint64_t deadline_ms);

/* The entry e was applied by group's leader: wakes (SHARD_WAIT_APPLIED) the
 * calls parked on the shards it appends to or closes, or on every shard of a
 * stream it drops. e is borrowed for the call only; call it before the
 * requests its strings point into are answered. */
void shard_wait_applied(struct shard_wait *w, uint32_t group, const Eddy__GroupEntry *e);

/* Hands back every call parked on group with SHARD_WAIT_FAILED. */
void shard_wait_fail_group(struct shard_wait *w, uint32_t group);

/* The lease of key's (stream, shard, consumer) is now holder's (0: nobody
 * holds it): hands back with SHARD_WAIT_SUPERSEDED every call parked on
 * group for that key by another subscription id. key is borrowed. */
void shard_wait_supersede(struct shard_wait *w,
                          uint32_t group,
                          const Eddy__ReadReq *key,
                          uint64_t holder);

/* Calls parked on group (0: on the whole node). */
unsigned shard_wait_count(const struct shard_wait *w, uint32_t group);

/* Hands back every parked call with SHARD_WAIT_FAILED, refuses later parks,
 * and calls cb(arg) once the timer closed (never synchronously). */
void shard_wait_close(struct shard_wait *w, void (*cb)(void *arg), void *arg);

#endif
