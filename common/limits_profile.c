/* Service limit profiles and their overrides: see eddy/limits_profile.h. */
#include "eddy/limits_profile.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/tbucket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static_assert(LIMITS_RATE_MAX == TBUCKET_UNITS_MAX, "every configurable rate fits a bucket");
static_assert(LIMITS_DEV_SHARD_LIMIT <= LIMITS_COUNT_MAX, "dev quota in DescribeLimits' range");
static_assert(LIMITS_AWS_SHARD_LIMIT <= LIMITS_COUNT_MAX, "aws quota in DescribeLimits' range");

/* Each action's "has a limit of N transactions per second per account /
 * per stream / per shard" (API Reference 2013-12-02). GetRecords (5 per
 * shard) is a per-shard read limit, enforced by the shard leader with the
 * read bytes; SubscribeToShard (1 per consumer per shard) belongs to the
 * enhanced fan-out code. Actions AWS documents no rate for are not limited. */
static const struct limits_api limits_api_table[LIMITS_API_COUNT] = {
    {"AddTagsToStream", LIMITS_SCOPE_ACCOUNT, 5},
    {"CreateStream", LIMITS_SCOPE_ACCOUNT, 5},
    {"DeleteStream", LIMITS_SCOPE_ACCOUNT, 5},
    {"DeregisterStreamConsumer", LIMITS_SCOPE_STREAM, 5},
    {"DescribeAccountSettings", LIMITS_SCOPE_ACCOUNT, 5},
    {"DescribeLimits", LIMITS_SCOPE_ACCOUNT, 1},
    {"DescribeStream", LIMITS_SCOPE_ACCOUNT, 10},
    {"DescribeStreamConsumer", LIMITS_SCOPE_STREAM, 20},
    {"DescribeStreamSummary", LIMITS_SCOPE_ACCOUNT, 20},
    {"GetShardIterator", LIMITS_SCOPE_SHARD, 5},
    {"ListShards", LIMITS_SCOPE_STREAM, 1000},
    {"ListStreamConsumers", LIMITS_SCOPE_STREAM, 5},
    {"ListStreams", LIMITS_SCOPE_ACCOUNT, 5},
    {"ListTagsForStream", LIMITS_SCOPE_ACCOUNT, 5},
    {"MergeShards", LIMITS_SCOPE_ACCOUNT, 5},
    {"RegisterStreamConsumer", LIMITS_SCOPE_ACCOUNT, 5},
    {"RemoveTagsFromStream", LIMITS_SCOPE_ACCOUNT, 5},
    {"SplitShard", LIMITS_SCOPE_ACCOUNT, 5},
    {"UpdateAccountSettings", LIMITS_SCOPE_ACCOUNT, 5},
    {"UpdateShardCount", LIMITS_SCOPE_ACCOUNT, 10},
    {"UpdateStreamWarmThroughput", LIMITS_SCOPE_ACCOUNT, 5},
};

const struct limits_api *limits_profile_api(size_t i)
{
    EDDY_ASSERT(i < LIMITS_API_COUNT);
    return &limits_api_table[i];
}

int limits_profile_api_find(const char *op, size_t len)
{
    for (size_t i = 0; i < LIMITS_API_COUNT; i++) {
        if (strlen(limits_api_table[i].op) == len && memcmp(limits_api_table[i].op, op, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int limits_profile_init(struct limits_profile *p, const char *name)
{
    memset(p, 0, sizeof(*p));
    p->burst_ms = LIMITS_BURST_MS_DEFAULT;
    if (strcmp(name, "dev") == 0) {
        p->shard_limit = LIMITS_DEV_SHARD_LIMIT;
        p->on_demand_stream_count_limit = LIMITS_DEV_ON_DEMAND_STREAM_COUNT_LIMIT;
    } else if (strcmp(name, "aws") == 0) {
        p->write_bytes_per_s = LIMITS_AWS_WRITE_BYTES_PER_S;
        p->write_records_per_s = LIMITS_AWS_WRITE_RECORDS_PER_S;
        p->read_calls_per_s = LIMITS_AWS_READ_CALLS_PER_S;
        p->read_bytes_per_s = LIMITS_AWS_READ_BYTES_PER_S;
        for (size_t i = 0; i < LIMITS_API_COUNT; i++) {
            p->api_tps[i] = limits_api_table[i].aws_tps;
        }
        p->shard_limit = LIMITS_AWS_SHARD_LIMIT;
        p->on_demand_stream_count_limit = LIMITS_AWS_ON_DEMAND_STREAM_COUNT_LIMIT;
        p->streams_in_transition_max = LIMITS_AWS_STREAMS_IN_TRANSITION_MAX;
    } else {
        return -EDDY_EINVAL;
    }
    strcpy(p->name, name);
    return 0;
}

/* A decimal in [min, max], the whole of text. */
static int limits_profile_number(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (*text < '0' || *text > '9') {
        return -EDDY_EINVAL;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -EDDY_EINVAL;
    }
    *out = v;
    return 0;
}

/* The uint64 fields settable by name. */
static uint64_t *limits_profile_rate_field(struct limits_profile *p, const char *key, size_t len)
{
    static const struct {
        const char *key;
        size_t offset;
    } fields[] = {
        {"write-bytes-per-s", offsetof(struct limits_profile, write_bytes_per_s)},
        {"write-records-per-s", offsetof(struct limits_profile, write_records_per_s)},
        {"read-calls-per-s", offsetof(struct limits_profile, read_calls_per_s)},
        {"read-bytes-per-s", offsetof(struct limits_profile, read_bytes_per_s)},
    };
    for (size_t i = 0; i < EDDY_ARRAY_LEN(fields); i++) {
        if (strlen(fields[i].key) == len && memcmp(fields[i].key, key, len) == 0) {
            return (uint64_t *)((char *)p + fields[i].offset);
        }
    }
    return NULL;
}

/* The uint32 fields settable by name, with their bounds. */
static uint32_t *limits_profile_count_field(
    struct limits_profile *p, const char *key, size_t len, uint64_t *min, uint64_t *max)
{
    static const struct {
        const char *key;
        size_t offset;
        uint64_t min;
        uint64_t max;
    } fields[] = {
        {"burst-ms", offsetof(struct limits_profile, burst_ms), LIMITS_BURST_MS_MIN,
         LIMITS_BURST_MS_MAX},
        {"shard-limit", offsetof(struct limits_profile, shard_limit), 0, LIMITS_COUNT_MAX},
        {"on-demand-stream-count-limit",
         offsetof(struct limits_profile, on_demand_stream_count_limit), 0, LIMITS_COUNT_MAX},
        {"streams-in-transition-max", offsetof(struct limits_profile, streams_in_transition_max), 0,
         LIMITS_COUNT_MAX},
    };
    for (size_t i = 0; i < EDDY_ARRAY_LEN(fields); i++) {
        if (strlen(fields[i].key) == len && memcmp(fields[i].key, key, len) == 0) {
            *min = fields[i].min;
            *max = fields[i].max;
            return (uint32_t *)((char *)p + fields[i].offset);
        }
    }
    if (len > 4 && memcmp(key, "api.", 4) == 0) {
        int op = limits_profile_api_find(key + 4, len - 4);
        if (op >= 0) {
            *min = 0;
            *max = LIMITS_COUNT_MAX;
            return &p->api_tps[op];
        }
    }
    return NULL;
}

int limits_profile_set(struct limits_profile *p, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (eq == NULL || eq == assignment) {
        return -EDDY_EINVAL;
    }
    size_t key_len = (size_t)(eq - assignment);
    uint64_t v = 0;
    uint64_t *rate = limits_profile_rate_field(p, assignment, key_len);
    if (rate != NULL) {
        int rv = limits_profile_number(eq + 1, 0, LIMITS_RATE_MAX, &v);
        if (rv == 0) {
            *rate = v;
        }
        return rv;
    }
    uint64_t min = 0;
    uint64_t max = 0;
    uint32_t *count = limits_profile_count_field(p, assignment, key_len, &min, &max);
    if (count == NULL) {
        return -EDDY_EINVAL;
    }
    int rv = limits_profile_number(eq + 1, min, max, &v);
    if (rv == 0) {
        *count = (uint32_t)v;
    }
    return rv;
}

bool limits_profile_limits_shards(const struct limits_profile *p)
{
    return p->write_bytes_per_s > 0 || p->write_records_per_s > 0 || p->read_calls_per_s > 0 ||
           p->read_bytes_per_s > 0;
}

bool limits_profile_limits_api(const struct limits_profile *p)
{
    for (size_t i = 0; i < LIMITS_API_COUNT; i++) {
        if (p->api_tps[i] > 0) {
            return true;
        }
    }
    return false;
}
