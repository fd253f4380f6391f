/*
 * The serving side of replica hydration (hydrate.h): FetchSegment reads
 * for peers that hydrate, from any replica's segment stores. The fetching
 * side is hydrate.c.
 */
#include "hydrate.h"
#include "segment.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define HYDRATE_SERVE_PATH_MAX 4096

/* One FetchSegment read on the threadpool. */
struct hydrate_read {
    uv_work_t work;
    struct rpc_call *call;
    char *path;
    uint64_t offset;
    size_t len;
    uint64_t file_bytes; /* the verified length when the call arrived */
    uint8_t *data;
    int result;
    hydrate_served_cb done;
    void *arg;
};

static void hydrate_on_read_work(uv_work_t *w)
{
    struct hydrate_read *r = container_of(w, struct hydrate_read, work);
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r->result = errno == ENOENT ? -EDDY_ENOTFOUND : -errno;
        return;
    }
    size_t got = 0;
    while (got < r->len) {
        ssize_t n = pread(fd, r->data + got, r->len - got, (off_t)(r->offset + got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            /* The file is shorter than its store says: trimmed or cut since. */
            r->result = n < 0 ? -errno : -EDDY_EUNAVAILABLE;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
}

static void hydrate_on_read(uv_work_t *w, int status)
{
    (void)status;
    struct hydrate_read *r = container_of(w, struct hydrate_read, work);
    if (r->result != 0) {
        rpc_reply_error(r->call, r->result, 0, "segment read failed");
    } else {
        Eddy__Status st = EDDY__STATUS__INIT;
        Eddy__FetchSegmentResp resp = EDDY__FETCH_SEGMENT_RESP__INIT;
        resp.status = &st;
        resp.data.data = r->data;
        resp.data.len = r->len;
        resp.file_bytes = r->file_bytes;
        Eddy__Frame f = EDDY__FRAME__INIT;
        f.body_case = EDDY__FRAME__BODY_FETCH_SEGMENT_RESP;
        f.fetch_segment_resp = &resp;
        rpc_call_reply(r->call, &f);
    }
    hydrate_served_cb done = r->done;
    void *arg = r->arg;
    eddy_free(r->data);
    eddy_free(r->path);
    eddy_free(r);
    done(arg);
}

/* What the request may read: a file the store lists, a range inside it. */
static int hydrate_serve_check(struct seg_store *store,
                               const Eddy__FetchSegmentReq *req,
                               struct seg_file_info *info)
{
    if (store == NULL || req->file == NULL || !seg_file_name_is_valid(req->file)) {
        return -EDDY_ENOTFOUND;
    }
    if (seg_store_file(store, req->file, info) != 0) {
        return -EDDY_ENOTFOUND;
    }
    return req->offset > info->bytes ? -EDDY_EINVAL : 0;
}

int hydrate_serve(uv_loop_t *loop,
                  struct seg_store *store,
                  struct rpc_call *call,
                  hydrate_served_cb done,
                  void *arg)
{
    EDDY_ASSERT(done != NULL);
    const Eddy__FetchSegmentReq *req = rpc_call_request(call)->fetch_segment;
    EDDY_ASSERT(req != NULL);
    struct seg_file_info info;
    int rv = hydrate_serve_check(store, req, &info);
    char path[HYDRATE_SERVE_PATH_MAX];
    if (rv == 0 && (size_t)snprintf(path, sizeof(path), "%s/%s", seg_store_dir(store), req->file) >=
                       sizeof(path)) {
        rv = -ENAMETOOLONG;
    }
    if (rv != 0) {
        rpc_reply_error(call, rv, 0, rv == -EDDY_ENOTFOUND ? "no such segment file" : NULL);
        return rv;
    }
    uint64_t left = info.bytes - req->offset;
    uint64_t len = req->length < left ? req->length : left;
    if (len > HYDRATE_SERVE_BYTES_MAX) {
        len = HYDRATE_SERVE_BYTES_MAX;
    }
    struct hydrate_read *r = eddy_xcalloc(1, sizeof(*r));
    r->call = call;
    r->path = eddy_xstrdup(path);
    r->offset = req->offset;
    r->len = (size_t)len;
    r->file_bytes = info.bytes;
    r->data = eddy_xmalloc(r->len ? r->len : 1);
    r->done = done;
    r->arg = arg;
    rv = uv_queue_work(loop, &r->work, hydrate_on_read_work, hydrate_on_read);
    EDDY_ASSERT(rv == 0); /* fails only for a NULL callback */
    return 0;
}
