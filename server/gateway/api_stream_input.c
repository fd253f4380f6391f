/*
 * The members every stream action's input has: StreamName (read first),
 * StreamARN and StreamId (read last, after the action's own members), and
 * the validation that collects the request's errors in AWS's order. One
 * place reads, validates and resolves them, so the actions differ only in
 * their own members.
 */
#include "api.h"

#include "eddy/assert.h"

int api_stream_input_get(const cJSON *root,
                         int rv,
                         struct api_stream_input *in,
                         struct api_error *e)
{
    if (rv == 0) {
        rv = json_get_str(root, "StreamARN", &in->arn, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "StreamId", &in->id, e);
    }
    if (rv == 0) {
        validation_init(&in->v);
    }
    return rv;
}

int api_stream_input_finish(struct api_stream_input *in, struct api_error *e)
{
    validation_stream_name(&in->v, "streamName", &in->name);
    validation_stream_arn(&in->v, "streamARN", &in->arn);
    return validation_finish(&in->v, e);
}

int api_stream_input_resolve(const struct api_config *cfg,
                             const struct api_stream_input *in,
                             char *out,
                             struct api_error *e)
{
    return api_resolve_stream(cfg, &in->name, &in->arn, out, e);
}
