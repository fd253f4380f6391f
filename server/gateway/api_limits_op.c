/*
 * DescribeLimits (no input): the account's shard quota and the open shards
 * counted against it, the on-demand stream quota and the on-demand streams.
 * The quotas come from api_account_limits (the --limits profile); the counts
 * from the coordinator's catalogue (a fresh read), every stream counted
 * whatever its status, as CreateStream counts them for the quota.
 */
#include "api.h"

#include "backend.h"

#include "eddy/errors.h"

/* ON_DEMAND streams of the account, whatever their status. */
static uint64_t api_on_demand_stream_count(const Eddy__Catalog *cat)
{
    uint64_t n = 0;
    for (size_t i = 0; i < cat->n_streams; i++) {
        n += cat->streams[i]->mode == EDDY__STREAM_MODE__MODE_ON_DEMAND;
    }
    return n;
}

bool api_require_on_demand_quota(struct api_call *c, const Eddy__Catalog *cat)
{
    struct api_account_limits lim;
    api_account_limits(c->ctx, &lim);
    uint64_t on_demand = api_on_demand_stream_count(cat);
    if (on_demand < lim.on_demand_stream_count_limit) {
        return true;
    }
    /* The text AWS answers (the console shows it; hashicorp/terraform-
     * provider-aws#38094 quotes it). */
    api_fail(c, API_EX_LIMIT_EXCEEDED,
             "This request would exceed the limit on the number of On-Demand streams for the "
             "account %s in %s. Current On-Demand streams count: %llu. Limit: %u.",
             c->cfg.account, c->cfg.region, (unsigned long long)on_demand,
             (unsigned)lim.on_demand_stream_count_limit);
    return false;
}

static void api_describe_limits_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_call *c = arg;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    uint64_t open = 0;
    uint64_t on_demand = api_on_demand_stream_count(cat);
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *st = cat->streams[i];
        for (size_t k = 0; k < st->n_shards; k++) {
            open += api_shard_is_open(st->shards[k]);
        }
    }
    struct api_account_limits lim;
    api_account_limits(c->ctx, &lim);
    struct json_out o;
    api_out_init(c, &o, API_MESSAGE_BYTES_MAX);
    json_out_obj_begin(&o);
    json_out_kv_u64(&o, "ShardLimit", lim.shard_limit);
    json_out_kv_u64(&o, "OpenShardCount", open);
    json_out_kv_u64(&o, "OnDemandStreamCount", on_demand);
    json_out_kv_u64(&o, "OnDemandStreamCountLimit", lim.on_demand_stream_count_limit);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

void api_describe_limits_run(struct api_call *c)
{
    backend_catalog(c->ctx->backend, true, api_describe_limits_on_catalog, c);
}
