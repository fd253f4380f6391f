/*
 * What the stream-settings actions share (api_settings.h): the ACTIVE check
 * every settings change makes before it is sent, and one StreamUpdate sent to
 * the coordinator with its outcome turned into AWS's errors. The coordinator
 * applies the same state rules again (a stream may leave ACTIVE between the
 * gateway's look and the change), and its refusals come back here.
 */
#include "api.h"

#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

/* ResourceInUseException for a stream in the wrong state. */
static void api_stream_fail_state(struct api_call *c, const char *name, Eddy__StreamStatus status)
{
    api_fail(c, API_EX_RESOURCE_IN_USE,
             "Stream %s under account %s not ACTIVE, instead in state %s", name, c->cfg.account,
             api_stream_status_name(status));
}

bool api_stream_require_active(struct api_call *c,
                               const char *name,
                               const Eddy__StreamInfo *st,
                               bool updating_ok)
{
    if (st == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", name,
                 c->cfg.account);
        return false;
    }
    if (st->status != EDDY__STREAM_STATUS__STREAM_ACTIVE &&
        !(updating_ok && st->status == EDDY__STREAM_STATUS__STREAM_UPDATING)) {
        api_stream_fail_state(c, name, st->status);
        return false;
    }
    return true;
}

/* One update in flight: who to tell. Freed before anybody is told. */
struct api_update {
    struct api_call *call;
    const char *name; /* borrowed from the call's request */
    api_stream_updated_cb cb;
};

static void
api_stream_on_updated(void *arg, int status, const char *message, const Eddy__StreamInfo *stream)
{
    struct api_update *u = arg;
    struct api_call *c = u->call;
    const char *name = u->name;
    api_stream_updated_cb cb = u->cb;
    eddy_free(u);
    if (status == 0 && cb != NULL && stream == NULL) {
        status = -EDDY_EUNKNOWN; /* applied, but the answer lost the stream */
    }
    if (status == 0) {
        if (cb != NULL) {
            cb(c, stream);
        } else {
            api_respond_empty(c);
        }
        return;
    }
    if (status == -EDDY_ENOTFOUND && message == NULL) {
        api_fail(c, API_EX_RESOURCE_NOT_FOUND, "Stream %s under account %s not found.", name,
                 c->cfg.account);
        return;
    }
    if (status == -EDDY_EINUSE && message == NULL && stream != NULL) {
        /* The stream left ACTIVE between this gateway's look and the change. */
        api_stream_fail_state(c, name, stream->status);
        return;
    }
    api_fail_code(c, status, message);
}

void api_stream_update(struct api_call *c,
                       const char *name,
                       const Eddy__StreamUpdate *u,
                       api_stream_updated_cb cb)
{
    EDDY_ASSERT(u->name != NULL);
    struct api_update *pending = eddy_xmalloc(sizeof(*pending));
    *pending = (struct api_update){.call = c, .name = name, .cb = cb};
    backend_update_stream(c->ctx->backend, u, api_stream_on_updated, pending);
}

size_t api_stream_record_bytes_max(const Eddy__StreamInfo *st)
{
    if (st->max_record_size_kib == 0) {
        return KIN_RECORD_DATA_MAX;
    }
    return (size_t)st->max_record_size_kib * 1024;
}

const char *api_encryption_name(bool kms)
{
    return kms ? "KMS" : "NONE";
}
