/*
 * DeleteStream: StreamName or StreamARN, EnforceConsumerDeletion (accepted;
 * Eddy has no consumers yet). Answers 200 with an empty body; the stream is
 * DELETING until the coordinator drops it.
 */
#include "api.h"

#include "backend.h"

#include "eddy/errors.h"

int api_delete_stream_decode(const cJSON *root,
                             const struct api_config *cfg,
                             struct api_delete_stream_req *r,
                             struct api_error *e)
{
    struct json_str name;
    struct json_str arn;
    struct json_str id;
    struct json_bool enforce;
    int rv = json_get_str(root, "StreamName", &name, e);
    if (rv == 0) {
        rv = json_get_bool(root, "EnforceConsumerDeletion", &enforce, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamARN", &arn, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &id, e);
    }
    if (rv != 0) {
        return rv;
    }
    struct validation v;
    validation_init(&v);
    validation_stream_name(&v, "streamName", &name);
    validation_stream_arn(&v, "streamARN", &arn);
    rv = validation_finish(&v, e);
    if (rv != 0) {
        return rv;
    }
    r->enforce_consumer_deletion = enforce.present && enforce.value;
    return api_resolve_stream(cfg, &name, &arn, r->name, e);
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
                 c->req.delete_stream.name, c->ctx->cfg.account);
        return;
    }
    api_fail_code(c, status, message);
}

void api_delete_stream_run(struct api_call *c)
{
    backend_delete_stream(c->ctx->backend, c->req.delete_stream.name, api_delete_stream_on_done, c);
}
