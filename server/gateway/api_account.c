/*
 * DescribeAccountSettings (no input) and UpdateAccountSettings
 * (MinimumThroughputBillingCommitment.Status ENABLED or DISABLED, both
 * required). Both answer the account's MinimumThroughputBillingCommitment:
 *
 *   ENABLED                              StartedAt, EarliestAllowedEndAt
 *   ENABLED_UNTIL_EARLIEST_ALLOWED_END   the same: disabled before the 24 h
 *                                        minimum, it runs on until then
 *   DISABLED                             StartedAt and EndedAt of the last
 *                                        commitment, when there was one
 *
 * The catalogue holds the commitment (coordinator/catalog_update.h); which
 * of the three it shows depends on the time it is read, here the gateway's
 * clock. UpdateAccountSettings is synchronous, as on AWS: the answer is the
 * settings after the change.
 */
#include "api.h"

#include "backend.h"

#include "eddy/assert.h"
#include "eddy/errors.h"

static const char *const api_account_statuses[] = {"ENABLED", "DISABLED"};

int api_update_account_settings_decode(const cJSON *root,
                                       const struct api_config *cfg,
                                       struct api_update_account_settings_req *r,
                                       struct api_error *e)
{
    (void)cfg;
    const cJSON *commitment = NULL;
    struct json_str status = {0};
    int rv = json_get_struct(root, "MinimumThroughputBillingCommitment", &commitment, e);
    if (rv == 0 && commitment != NULL) {
        rv = json_get_str(commitment, "Status", &status, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_not_null(&v, "minimumThroughputBillingCommitment", commitment != NULL);
    if (commitment != NULL) {
        validation_not_null(&v, "minimumThroughputBillingCommitment.status", status.present);
        validation_enum(&v, "minimumThroughputBillingCommitment.status", &status,
                        api_account_statuses, EDDY_ARRAY_LEN(api_account_statuses));
    }
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    r->enable =
        json_enum_index(&status, api_account_statuses, EDDY_ARRAY_LEN(api_account_statuses)) == 0;
    return 0;
}

/* {"MinimumThroughputBillingCommitment": {...}} of a (NULL: never set) at now_ms. */
static void api_account_write(struct json_out *o, const Eddy__AccountSettings *a, uint64_t now_ms)
{
    json_out_obj_begin(o);
    json_out_key(o, "MinimumThroughputBillingCommitment");
    json_out_obj_begin(o);
    bool enabled = a != NULL && a->commitment_enabled && (a->ended_ms == 0 || now_ms < a->ended_ms);
    if (!enabled) {
        json_out_kv_cstr(o, "Status", "DISABLED");
        if (a != NULL && a->started_ms != 0) {
            json_out_key(o, "StartedAt");
            json_out_timestamp_ms(o, a->started_ms);
            json_out_key(o, "EndedAt");
            json_out_timestamp_ms(o, a->ended_ms);
        }
    } else {
        json_out_kv_cstr(o, "Status",
                         a->ended_ms == 0 ? "ENABLED" : "ENABLED_UNTIL_EARLIEST_ALLOWED_END");
        json_out_key(o, "StartedAt");
        json_out_timestamp_ms(o, a->started_ms);
        json_out_key(o, "EarliestAllowedEndAt");
        json_out_timestamp_ms(o, a->earliest_end_ms);
    }
    json_out_obj_end(o);
    json_out_obj_end(o);
}

static void api_account_respond(struct api_call *c, const Eddy__AccountSettings *a)
{
    struct json_out o;
    api_out_init(c, &o, API_MESSAGE_BYTES_MAX);
    api_account_write(&o, a, api_now_ms());
    api_respond_out(c, &o);
}

static void api_describe_account_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct api_call *c = arg;
    if (status != 0) {
        api_fail_code(c, status, NULL);
        return;
    }
    api_account_respond(c, cat->account);
}

void api_describe_account_settings_run(struct api_call *c)
{
    backend_catalog(c->ctx->backend, true, api_describe_account_on_catalog, c);
}

static void api_update_account_on_done(void *arg,
                                       int status,
                                       const char *message,
                                       const Eddy__AccountSettings *settings)
{
    struct api_call *c = arg;
    if (status != 0) {
        api_fail_code(c, status, message);
        return;
    }
    api_account_respond(c, settings);
}

void api_update_account_settings_run(struct api_call *c)
{
    Eddy__AccountSettings want = EDDY__ACCOUNT_SETTINGS__INIT;
    want.commitment_enabled = c->req.update_account_settings.enable;
    backend_update_account(c->ctx->backend, &want, api_update_account_on_done, c);
}
