/*
 * DeleteStream: StreamName or StreamARN, EnforceConsumerDeletion. Answers 200
 * with an empty body; the stream is DELETING until the coordinator drops it.
 * A stream with enhanced fan-out consumers is deleted only with
 * EnforceConsumerDeletion true (ResourceInUseException otherwise); its
 * consumers then go DELETING with it.
 */
#include "api.h"

#include "backend.h"

#include "eddy/errors.h"

int api_delete_stream_decode(const cJSON *root,
                             const struct api_config *cfg,
                             struct api_delete_stream_req *r,
                             struct api_error *e)
{
    struct api_stream_input in;
    struct json_bool enforce;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_bool(root, "EnforceConsumerDeletion", &enforce, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    r->enforce_consumer_deletion = enforce.present && enforce.value;
    return api_stream_input_resolve(cfg, &in, r->name, e);
}

static void api_delete_stream_on_done(void *arg, int status, const char *message)
{
    struct api_call *c = arg;
    if (status == 0) {
        api_respond_empty(c);
        return;
    }
    if (status == -EDDY_ENOTFOUND) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.",
                 c->req.delete_stream.name, c->cfg.account);
        return;
    }
    if (status == -EDDY_EEXISTS) {
        /* The stream has consumers and EnforceConsumerDeletion was not set.
         * AWS names the stream "<account>:<name>" first (its answer quoted
         * in hashicorp/terraform-provider-aws#8420, rebuy-de/aws-nuke#497). */
        api_fail(c, API_EX_RESOURCE_IN_USE,
                 "DeleteStream can't delete %s:%s because there are consumers associated with "
                 "this data stream. To delete %s anyway, set the EnforceConsumerDeletion "
                 "parameter to true to force the deletion of all the consumers that are "
                 "associated with it.",
                 c->cfg.account, c->req.delete_stream.name, c->req.delete_stream.name);
        return;
    }
    api_fail_code(c, status, message);
}

void api_delete_stream_run(struct api_call *c)
{
    backend_delete_stream(c->ctx->backend, c->req.delete_stream.name,
                          c->req.delete_stream.enforce_consumer_deletion, api_delete_stream_on_done,
                          c);
}
