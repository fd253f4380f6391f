/*
 * SubscribeToShard leases: which subscription holds each (consumer, shard),
 * kept by the shard group leader that serves the subscriptions' reads
 * (docs/adr/0008-cluster-wide-subscription-lease.md).
 *
 * AWS allows one subscription per consumer and shard across the service: a
 * second SubscribeToShard within 5 s of the live one's start is refused
 * (ResourceInUseException), a later one takes over and the old stream ends
 * with a ResourceInUseException event. Every read of a subscription goes to
 * the leader of its shard's group, from whichever gateway, so the leader is
 * where the rule is kept. A subscription's reads carry its consumer, a
 * random id the gateway chose, and one of three requests (ReadReq.lease):
 *
 *   LEASE_ACQUIRE  the call that opens it (before the gateway's 200): held
 *                  at once when nobody holds the key, or the holder is the
 *                  same id (a resent call), or the holder started
 *                  SHARD_LEASE_TAKEOVER_MS ago or more (a takeover);
 *                  else -EDDY_EINUSE;
 *   LEASE_HOLD     every later read: goes on while the id holds the key;
 *                  takes the key when nobody holds it (after a leader
 *                  change the table starts empty: the re-attaching reads
 *                  fill it again) or when its subscription started after
 *                  the holder's (of two accepted subscriptions the later
 *                  one is the valid one); else -EDDY_ESUPERSEDED, and the
 *                  gateway ends that stream with the exception event;
 *   LEASE_RELEASE  the subscription ended (lifetime, client gone, shard
 *                  end): the key is forgotten if the id holds it, so the
 *                  next subscription needs no takeover.
 *
 * Start times are the leader's uv_now: an ACQUIRE's arrival, or for a HOLD
 * now minus ReadReq.subscription_age_ms (the gateway's count since it
 * admitted the subscription), so a re-attached holder keeps its age; the
 * holder's later reads bring its start forward to the earliest they give
 * (a read resent for seconds across a leader change gives a late one).
 *
 * The table is memory only and bounded (SHARD_LEASE_MAX): when full, the
 * least recently seen key is forgotten (its holder takes it again with its
 * next read). A group's keys are dropped when the node stops leading it.
 *
 * Lifecycle: shard_lease_create -> (check | drop_group)* -> destroy. Loop
 * thread only; no I/O.
 */
#ifndef EDDY_SHARD_LEASE_H
#define EDDY_SHARD_LEASE_H

#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

struct shard_lease;

void shard_lease_create(struct shard_lease **out);
void shard_lease_destroy(struct shard_lease *l);

/* Applies req's lease request (ReadReq.lease) on group at now_ms (uv_now).
 * Returns 0 when the read may go on (LEASE_NONE always does; LEASE_RELEASE
 * too), -EDDY_EINUSE (ACQUIRE within the holder's first
 * SHARD_LEASE_TAKEOVER_MS), -EDDY_ESUPERSEDED (HOLD of a subscription a
 * newer one took over) or -EDDY_EINVAL (no consumer, id 0, names over their
 * length limits, an unknown request). *holder_out is the key's holder
 * afterwards (0: none), *is_changed_out whether it changed: then the
 * caller hands back the other ids' parked reads (shard_wait_supersede). */
int shard_lease_check(struct shard_lease *l,
                      uint32_t group,
                      const Eddy__ReadReq *req,
                      uint64_t now_ms,
                      uint64_t *holder_out,
                      bool *is_changed_out);

/* Forgets every key of group (the node no longer leads it). */
void shard_lease_drop_group(struct shard_lease *l, uint32_t group);

/* Keys held (tests and metrics). */
unsigned shard_lease_count(const struct shard_lease *l);

#endif
