/*
 * The service limits a deployment enforces: a profile (eddyd --limits aws|dev)
 * with per-limit overrides (eddyd --limit KEY=VALUE).
 *
 *   aws  AWS's numbers: per-shard write (1 MiB/s, 1,000 records/s) and read
 *        (5 GetRecords calls/s, 2 MiB/s) limits, the control-plane call rates
 *        of each operation, the account's shard quota and at most 5 streams
 *        CREATING or DELETING at once.
 *   dev  permissive, the default: no rate limit at all, quotas as large as
 *        the catalogue holds. A self-hosted cluster's capacity is its
 *        hardware, not AWS's per-shard billing unit, and the tests,
 *        benchmarks and tools/up push far more than 1,000 records/s per
 *        shard. Use aws to see what a client meets on AWS (its back-off).
 *
 * Sources: the Amazon Kinesis Data Streams API Reference, API version
 * 2013-12-02 (each action's "has a limit of N transactions per second" as
 * shipped in botocore 1.43's service-2.json), and the Developer Guide's
 * "Quotas and limits" page (per-shard rates, the shard quota, on-demand
 * stream count). The profile is a plain value: main owns it, the shard
 * server and the gateway read it (const) for their whole life.
 *
 * AWS lets a shard absorb a short burst above its steady rate; Eddy models
 * every rate as a token bucket holding burst_ms worth of it (1 s by default:
 * 1,000 records or 1 MiB can arrive at once after a quiet second, then the
 * steady rate applies). Reads charge the bytes they returned after the fact,
 * so a 10 MiB GetRecords leaves a debt that refuses the shard's reads for the
 * next ~5 s, as AWS documents.
 */
#ifndef EDDY_LIMITS_PROFILE_H
#define EDDY_LIMITS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one allowance of an operation's call rate covers. */
enum limits_scope {
    LIMITS_SCOPE_ACCOUNT, /* all calls of the account (per gateway, see ratelimit.h) */
    LIMITS_SCOPE_STREAM,  /* each stream its own */
    LIMITS_SCOPE_SHARD,   /* each shard its own */
};

/* One rate-limited control-plane operation. */
struct limits_api {
    const char *op; /* the Kinesis action, e.g. "ListShards" */
    enum limits_scope scope;
    uint32_t aws_tps; /* AWS's calls per second per scope */
};

/* Operations with a documented call rate (limits_profile.c lists them). */
#define LIMITS_API_COUNT 21
#define LIMITS_PROFILE_NAME_MAX 8
/* Bounds of --limit values. */
#define LIMITS_BURST_MS_MIN 1
#define LIMITS_BURST_MS_MAX 60000
#define LIMITS_RATE_MAX 1000000000000ULL /* = TBUCKET_UNITS_MAX */
#define LIMITS_COUNT_MAX 1000000         /* DescribeLimits' valid range */

/* AWS's numbers (Developer Guide, "Quotas and limits"). */
#define LIMITS_AWS_WRITE_BYTES_PER_S (1024 * 1024)
#define LIMITS_AWS_WRITE_RECORDS_PER_S 1000
#define LIMITS_AWS_READ_CALLS_PER_S 5
#define LIMITS_AWS_READ_BYTES_PER_S (2 * 1024 * 1024)
/* Default shard quota in US East (N. Virginia), US West (Oregon) and Europe
 * (Ireland), the region Eddy defaults to; AWS gives other regions 1,000 or
 * 6,000 (override with --limit shard-limit=N). */
#define LIMITS_AWS_SHARD_LIMIT 20000
#define LIMITS_AWS_ON_DEMAND_STREAM_COUNT_LIMIT 50
/* "This request would have exceed the limit on the number of streams that
 * can simultaneously be in CREATING or DELETING ... Limit: 5." */
#define LIMITS_AWS_STREAMS_IN_TRANSITION_MAX 5
#define LIMITS_BURST_MS_DEFAULT 1000
/* dev: as many shards and on-demand streams as the catalogue can hold
 * (COORD_SHARDS_MAX, COORD_STREAMS_MAX; checked in server/main.c). */
#define LIMITS_DEV_SHARD_LIMIT 65536
#define LIMITS_DEV_ON_DEMAND_STREAM_COUNT_LIMIT 1024

struct limits_profile {
    char name[LIMITS_PROFILE_NAME_MAX]; /* "aws" or "dev", overrides or not */
    /* Per shard, enforced by the shard's group leader; 0 is no limit. Bytes
     * count data and partition keys. */
    uint64_t write_bytes_per_s;
    uint64_t write_records_per_s;
    uint64_t read_calls_per_s; /* GetRecords calls */
    uint64_t read_bytes_per_s;
    /* Each rate's bucket holds this many ms of it. */
    uint32_t burst_ms;
    /* Calls per second of each operation (limits_profile_api order), per its
     * scope; 0 is no limit. */
    uint32_t api_tps[LIMITS_API_COUNT];
    /* The account. */
    uint32_t shard_limit;                  /* open shards (DescribeLimits ShardLimit) */
    uint32_t on_demand_stream_count_limit; /* DescribeLimits OnDemandStreamCountLimit */
    uint32_t streams_in_transition_max;    /* CREATING or DELETING at once; 0 is no limit */
};

/* Fills p with the profile named name ("aws" or "dev"); -EDDY_EINVAL for
 * any other name. */
int limits_profile_init(struct limits_profile *p, const char *name);
/* Applies one override "KEY=VALUE" (decimal, 0 is no limit where a limit
 * can be lifted). Keys: write-bytes-per-s, write-records-per-s,
 * read-calls-per-s, read-bytes-per-s, burst-ms, shard-limit,
 * on-demand-stream-count-limit, streams-in-transition-max, and
 * api.<Operation> (e.g. api.ListShards) for an operation's call rate.
 * -EDDY_EINVAL for an unknown key or a value out of range (p unchanged). */
int limits_profile_set(struct limits_profile *p, const char *assignment);
/* Whether any per-shard write or read rate is limited. */
bool limits_profile_limits_shards(const struct limits_profile *p);
/* Whether any operation's call rate is limited. */
bool limits_profile_limits_api(const struct limits_profile *p);

/* The rate-limited operations, in a fixed order (i < LIMITS_API_COUNT). */
const struct limits_api *limits_profile_api(size_t i);
/* The index of the operation named op (len bytes), or -1. */
int limits_profile_api_find(const char *op, size_t len);

#endif
