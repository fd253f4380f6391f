/*
 * IncreaseStreamRetentionPeriod and DecreaseStreamRetentionPeriod:
 * StreamName or StreamARN, RetentionPeriodHours (required; the model gives
 * it no range, AWS answers InvalidArgumentException outside 24..8760).
 *
 * After the stream is found, in AWS's order (kinesalite's tests, run against
 * AWS): the minimum, the maximum, then the direction (an increase below the
 * current period, a decrease above it), then the status: the stream must be
 * ACTIVE. The period the stream has already is accepted and changes nothing
 * (AWS accepts it: Terraform sends it on every create). A change puts the
 * stream in UPDATING until the coordinator returns it to ACTIVE
 * (catalog_update.h). Answers 200 with an empty body.
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <inttypes.h>

/* RetentionPeriodHours 24..8760 (API_IncreaseStreamRetentionPeriod: "The
 * maximum value of a stream's retention period is 8760 hours"). */
#define API_RETENTION_HOURS_MIN 24
#define API_RETENTION_HOURS_MAX 8760

int api_retention_decode(const cJSON *root,
                         const struct api_config *cfg,
                         struct api_retention_req *r,
                         struct api_error *e)
{
    struct api_stream_input in;
    struct json_int hours;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_int(root, "RetentionPeriodHours", &hours, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_not_null(&in.v, "retentionPeriodHours", hours.present);
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    r->hours = hours.value;
    return api_stream_input_resolve(cfg, &in, r->name, e);
}

/* The argument checks against st; answers the call and returns false when
 * one fails. */
static bool api_retention_ok(struct api_call *c, const Eddy__StreamInfo *st, bool up)
{
    const struct api_retention_req *r = &c->req.retention;
    if (r->hours < API_RETENTION_HOURS_MIN) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Minimum allowed retention period is %d hours. Requested retention period "
                 "(%" PRId64 " hours) is too short.",
                 API_RETENTION_HOURS_MIN, r->hours);
        return false;
    }
    if (r->hours > API_RETENTION_HOURS_MAX) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Maximum allowed retention period is %d hours. Requested retention period "
                 "(%" PRId64 " hours) is too long.",
                 API_RETENTION_HOURS_MAX, r->hours);
        return false;
    }
    int64_t now = st->retention_hours != 0 ? st->retention_hours : KIN_RETENTION_HOURS_DEFAULT;
    if (up ? r->hours < now : r->hours > now) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Requested retention period (%" PRId64 " hours) for stream %s can not be %s "
                 "than existing retention period (%" PRId64 " hours). Use %s API.",
                 r->hours, r->name, up ? "shorter" : "longer", now,
                 up ? "DecreaseRetentionPeriod" : "IncreaseRetentionPeriod");
        return false;
    }
    return true;
}

static void api_retention_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_retention_req *r = &c->req.retention;
    bool up = c->op == API_OP_INCREASE_STREAM_RETENTION_PERIOD;
    if (st == NULL) {
        (void)api_meta_require_status(c, r->name, NULL, false); /* not found */
        return;
    }
    if (!api_retention_ok(c, st, up) || !api_meta_require_status(c, r->name, st, false)) {
        return;
    }
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)r->name;
    u.created_ms = st->created_ms;
    if (up) {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS;
        u.increase_retention_hours = (uint32_t)r->hours;
    } else {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_DECREASE_RETENTION_HOURS;
        u.decrease_retention_hours = (uint32_t)r->hours;
    }
    /* The coordinator words its own -EDDY_EINVAL (the same texts). */
    api_meta_update(c, r->name, &u, false, NULL);
}

void api_increase_retention_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.retention.name, true, api_retention_on_stream);
}

void api_decrease_retention_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.retention.name, true, api_retention_on_stream);
}
