/*
 * Retention as the API shows it: the trim horizon of a stream (records that
 * arrived before it are past retention) and closed shards that expired.
 * A closed shard expires once every record it holds is past retention: its
 * last record arrived at the latest when it was closed (ShardInfo.closed_ms,
 * stamped by the coordinator), so when closed_ms is before the horizon. AWS
 * then lists it no more (ListShards, DescribeStream: "This action does not
 * list expired shards"). The shard servers delete its files on their own
 * schedule (coordinator/coord_trim.h); the API does not wait for them.
 */
#include "api.h"

#include "eddy/limits.h"

#define API_RETENTION_HOUR_MS_DEFAULT 3600000u

uint64_t
api_retention_horizon_ms(const struct api_config *cfg, const Eddy__StreamInfo *st, uint64_t now_ms)
{
    uint64_t hour_ms =
        cfg->retention_hour_ms != 0 ? cfg->retention_hour_ms : API_RETENTION_HOUR_MS_DEFAULT;
    uint64_t hours = st->retention_hours != 0 ? st->retention_hours : KIN_RETENTION_HOURS_DEFAULT;
    uint64_t retention_ms = hours * hour_ms; /* at most 8760 h of an hour each: no overflow */
    return now_ms > retention_ms ? now_ms - retention_ms : 0;
}

bool api_shard_is_expired(const struct api_config *cfg,
                          const Eddy__StreamInfo *st,
                          const Eddy__ShardInfo *sh,
                          uint64_t now_ms)
{
    if (api_shard_is_open(sh) || sh->closed_ms == 0) {
        return false; /* open, or closed by a build that kept no close time */
    }
    return sh->closed_ms < api_retention_horizon_ms(cfg, st, now_ms);
}
