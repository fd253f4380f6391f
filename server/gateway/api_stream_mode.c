/*
 * UpdateStreamMode: StreamARN (required), StreamModeDetails (required, its
 * StreamMode PROVISIONED or ON_DEMAND), WarmThroughputMiBps (>= 0, only when
 * the new mode is ON_DEMAND, in an account with MinimumThroughputBillingCommitment).
 * The stream must be ACTIVE; the coordinator sets the mode (and the warm
 * throughput asked with it, in the same change) and drives the stream through
 * UPDATING. Answers 200 with an empty body. A PROVISIONED stream turned
 * ON_DEMAND counts against OnDemandStreamCountLimit (LimitExceededException
 * past it, api_require_on_demand_quota).
 */
#include "api.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

static const char *const api_stream_mode_values[] = {"PROVISIONED", "ON_DEMAND"};

int api_update_stream_mode_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_update_stream_mode_req *r,
                                  struct api_error *e)
{
    struct json_str arn;
    struct json_str id;
    struct json_str mode = {0};
    struct json_int warm;
    const cJSON *details = NULL;
    int rv = json_get_str(root, "StreamARN", &arn, e);
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv == 0) {
        rv = json_get_struct(root, "StreamModeDetails", &details, e);
    }
    if (rv == 0 && details != NULL) {
        rv = json_get_str(details, "StreamMode", &mode, e);
    }
    if (rv == 0) {
        rv = json_get_int(root, "WarmThroughputMiBps", &warm, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_not_null(&v, "streamARN", arn.present);
    validation_stream_arn(&v, "streamARN", &arn);
    validation_not_null(&v, "streamModeDetails", details != NULL);
    if (details != NULL) {
        validation_not_null(&v, "streamModeDetails.streamMode", mode.present);
        validation_enum(&v, "streamModeDetails.streamMode", &mode, api_stream_mode_values,
                        EDDY_ARRAY_LEN(api_stream_mode_values));
    }
    validation_range(&v, "warmThroughputMiBps", &warm, 0, INT32_MAX);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    struct json_str no_name = {0};
    rv = api_resolve_stream(cfg, &no_name, &arn, r->name, e);
    if (rv != 0) {
        return rv;
    }
    r->mode =
        json_enum_index(&mode, api_stream_mode_values, EDDY_ARRAY_LEN(api_stream_mode_values)) == 1
            ? EDDY__STREAM_MODE__MODE_ON_DEMAND
            : EDDY__STREAM_MODE__MODE_PROVISIONED;
    r->has_warm = warm.present;
    r->warm_mibps = warm.present ? (uint32_t)warm.value : 0;
    return 0;
}

static void api_update_stream_mode_on_stream(struct api_call *c,
                                             int status,
                                             const Eddy__Catalog *cat,
                                             const Eddy__StreamInfo *st)
{
    const struct api_update_stream_mode_req *r = &c->req.update_stream_mode;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    if (!api_stream_require_active(c, r->name, st, false)) {
        return;
    }
    if (r->mode == EDDY__STREAM_MODE__MODE_ON_DEMAND &&
        st->mode != EDDY__STREAM_MODE__MODE_ON_DEMAND && !api_require_on_demand_quota(c, cat)) {
        return;
    }
    if (r->has_warm && !api_warm_throughput_allowed(c, cat, r->name, r->mode, r->warm_mibps)) {
        return;
    }
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)r->name;
    u.created_ms = st->created_ms;
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_SET_MODE;
    u.set_mode = r->mode;
    u.mode_warm_throughput_mibps = r->warm_mibps;
    api_stream_update(c, r->name, &u, NULL);
}

void api_update_stream_mode_run(struct api_call *c)
{
    api_lookup_stream(c, c->req.update_stream_mode.name, true, api_update_stream_mode_on_stream);
}
