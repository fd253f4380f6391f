/*
 * UpdateShardCount: StreamName or StreamARN, TargetShardCount (1..100000),
 * ScalingType (UNIFORM_SCALING). Answers StreamName, CurrentShardCount (the
 * open shards before), TargetShardCount and StreamARN once the scaling has
 * begun (the stream is UPDATING); the coordinator plans the splits and
 * merges, short-lived shards included (coordinator/reshard_plan.h).
 *
 * Limits (API_UpdateShardCount): at most double and at least half the open
 * shards, at most KIN_SHARD_COUNT_MAX shards in a stream, at most the
 * account's shard limit (the limits profile's shard-limit) of open shards in
 * all, ten calls per stream in any 24 hours. Messages as kinesalite's
 * tests recorded them from AWS; the per-day one is Eddy's own wording (no
 * AWS text on record).
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <string.h>

/* UpdateShardCount TargetShardCount: 1..100000 in the model. */
#define API_UPDATE_SHARD_COUNT_TARGET_MAX 100000
/* API_UpdateShardCount: "Scale more than ten times per rolling 24-hour
 * period per stream" (the coordinator keeps the same bound). */
#define API_UPDATE_SHARD_COUNT_PER_DAY 10
#define API_UPDATE_SHARD_COUNT_WINDOW_MS (24ull * 3600 * 1000)

static const char *const api_update_shard_count_types[] = {"UNIFORM_SCALING"};

int api_update_shard_count_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_update_shard_count_req *r,
                                  struct api_error *e)
{
    struct api_stream_input in;
    struct json_str type;
    struct json_int target;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_int(root, "TargetShardCount", &target, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "ScalingType", &type, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_not_null(&in.v, "scalingType", type.present);
    validation_enum(&in.v, "scalingType", &type, api_update_shard_count_types, 1);
    validation_stream_name(&in.v, "streamName", &in.name);
    validation_not_null(&in.v, "targetShardCount", target.present);
    validation_range(&in.v, "targetShardCount", &target, 1, API_UPDATE_SHARD_COUNT_TARGET_MAX);
    validation_stream_arn(&in.v, "streamARN", &in.arn);
    rv = validation_finish(&in.v, e);
    if (rv == 0) {
        rv = api_stream_input_resolve(cfg, &in, r->name, e);
    }
    if (rv != 0) {
        return rv;
    }
    r->target = (uint32_t)target.value;
    return 0;
}

static unsigned api_update_shard_count_calls(const Eddy__StreamInfo *st, uint64_t now_ms)
{
    unsigned n = 0;
    for (size_t i = 0; i < st->n_scaling_ms; i++) {
        n += st->scaling_ms[i] + API_UPDATE_SHARD_COUNT_WINDOW_MS > now_ms;
    }
    return n;
}

static void api_update_shard_count_done(struct api_call *c)
{
    const struct api_update_shard_count_req *r = &c->req.update_shard_count;
    char arn[API_STREAM_ARN_TEXT_MAX];
    api_stream_arn(&c->cfg, r->name, arn);
    struct json_out o;
    json_out_init(&o, 1024);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "StreamName", r->name);
    json_out_kv_u64(&o, "CurrentShardCount", r->current);
    json_out_kv_u64(&o, "TargetShardCount", r->target);
    json_out_kv_cstr(&o, "StreamARN", arn);
    json_out_obj_end(&o);
    api_respond_out(c, &o);
}

/* The bounds on the target; fails the call and returns false past one. */
static bool api_update_shard_count_check(struct api_call *c,
                                         const Eddy__Catalog *cat,
                                         const Eddy__StreamInfo *st,
                                         uint64_t open)
{
    const struct api_update_shard_count_req *r = &c->req.update_shard_count;
    uint64_t account = api_reshard_account_open_count(cat) - open + r->target;
    struct api_account_limits lim;
    api_account_limits(c->ctx, &lim);
    if (r->target > KIN_SHARD_COUNT_MAX || account > lim.shard_limit) {
        unsigned limit =
            r->target > KIN_SHARD_COUNT_MAX ? KIN_SHARD_COUNT_MAX : (unsigned)lim.shard_limit;
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "Target shard count or number of open shards cannot be greater than %u. Current "
                 "open shard count: %llu, Target shard count: %u",
                 limit, (unsigned long long)open, r->target);
        return false;
    }
    if (r->target > 2 * open) {
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "UpdateShardCount cannot scale up over double your current open shard count. "
                 "Current open shard count: %llu, Target shard count: %u",
                 (unsigned long long)open, r->target);
        return false;
    }
    if (2 * (uint64_t)r->target < open) {
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "UpdateShardCount cannot scale down below half your current open shard count. "
                 "Current open shard count: %llu, Target shard count: %u",
                 (unsigned long long)open, r->target);
        return false;
    }
    if (api_update_shard_count_calls(st, api_now_ms()) >= API_UPDATE_SHARD_COUNT_PER_DAY) {
        api_fail(c, API_EX_LIMIT_EXCEEDED,
                 "UpdateShardCount cannot be called more than %u times per rolling 24-hour period "
                 "for stream %s under account %s.",
                 (unsigned)API_UPDATE_SHARD_COUNT_PER_DAY, r->name, c->cfg.account);
        return false;
    }
    return true;
}

static void api_update_shard_count_on_stream(struct api_call *c,
                                             int status,
                                             const Eddy__Catalog *cat,
                                             const Eddy__StreamInfo *st)
{
    struct api_update_shard_count_req *r = &c->req.update_shard_count;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    if (!api_reshard_require_stream(c, r->name, st) ||
        !api_reshard_require_active(c, r->name, st)) {
        return;
    }
    uint64_t open = api_reshard_open_count(st);
    if (!api_update_shard_count_check(c, cat, st, open)) {
        return;
    }
    r->current = (uint32_t)open;
    Eddy__ReshardReq req = EDDY__RESHARD_REQ__INIT;
    req.name = st->name;
    req.created_ms = st->created_ms;
    req.op_case = EDDY__RESHARD_REQ__OP_TARGET_SHARD_COUNT;
    req.target_shard_count = r->target;
    api_reshard_send(c, r->name, &req, api_update_shard_count_done);
}

void api_update_shard_count_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.update_shard_count.name, true, api_update_shard_count_on_stream);
}
