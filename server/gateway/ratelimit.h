/*
 * Control-plane call rates (eddy/limits_profile.h): each operation AWS
 * documents a rate for gets a token bucket per account, stream or shard (its
 * scope), refilled at its calls per second and holding burst_ms of them.
 * A call over its rate is answered as AWS does:
 *   LimitExceededException "Rate exceeded for stream NAME under account ACCT."
 *     when the request names a stream (StreamName, or the stream of its
 *     StreamARN or ConsumerARN), "Rate exceeded for account ACCT." when not;
 *   ProvisionedThroughputExceededException "Rate exceeded for shard SHARD in
 *     stream NAME under account ACCT." for GetShardIterator (5 per shard).
 *
 * The buckets live in each gateway, so an account's allowance is per
 * gateway: a client spreading calls over the three gateways of a cluster
 * gets up to three times AWS's rate. (AWS's are per account and region; a
 * cluster-wide count would cost an RPC per control-plane call.)
 *
 * Lifecycle: ratelimit_create -> ratelimit_admit* -> ratelimit_destroy. A
 * NULL ratelimit admits everything (the dev profile).
 */
#ifndef EDDY_GW_RATELIMIT_H
#define EDDY_GW_RATELIMIT_H

#include "api.h"

#include "eddy/limits_profile.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* Keys (operation x stream or shard) one gateway keeps buckets for: 8,192
 * of ~40 bytes. Past it the least recently used key of a set starts afresh
 * (eddy/tbucket.h). */
#define RATELIMIT_KEYS_MAX 8192

struct ratelimit;

/* *out is NULL when p limits no operation. p is read now, not kept. */
void ratelimit_create(struct ratelimit **out, const struct limits_profile *p);
void ratelimit_destroy(struct ratelimit *rl);

/* Charges one call of the action op (e.g. "ListShards") at now_ms (a
 * monotonic clock). doc is the request body (an object): its StreamName,
 * StreamARN, ConsumerARN and ShardId give the stream and shard. Returns 0
 * when the call may run; -EDDY_ELIMIT or -EDDY_ETHROTTLED with e set (the
 * AWS error to answer) when it is over its rate. */
int ratelimit_admit(struct ratelimit *rl,
                    const char *op,
                    const cJSON *doc,
                    const struct api_config *cfg,
                    uint64_t now_ms,
                    struct api_error *e);

#endif
