/*
 * Shard groups hosted and dropped at run time (see host.h).
 *
 * A drop goes CLOSING (the replica closes) -> DELETING (the directory is
 * removed on the threadpool) -> answered and freed. Drops live on a list;
 * the host is freed once its close was asked and the list is empty.
 */
#include "host.h"
#include "join.h"
#include "shard_server.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rgroup.h"
#include "eddy/rpc_status.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOST_PATH_MAX PATH_MAX
#define HOST_DROPPED_SUFFIX ".dropped"
/* Directory descriptors nftw keeps open while it walks a group's tree
 * (group/shards/stream/shard is the deepest). */
#define HOST_NFTW_FDS 16

enum host_drop_step { HOST_DROP_CLOSING, HOST_DROP_DELETING };

struct host_drop {
    struct host_drop *next;
    struct host *h;
    uint32_t group;
    enum host_drop_step step;
    struct rpc_call *call; /* answered when done; NULL once answered */
    uv_work_t work;
    char dir[HOST_PATH_MAX];
    int result;
};

struct host {
    uv_loop_t *loop;
    struct shard_server *server;
    struct join *join;
    uint64_t node_id;
    char *data_dir;
    uint32_t group_count;
    struct host_drop *drops;
    bool is_closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* ---- deleting a tree ---- */

static int host_on_tree_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rv = type == FTW_DP ? rmdir(path) : unlink(path);
    return rv != 0 && errno != ENOENT ? -errno : 0;
}

static int host_remove_walk(const char *dir)
{
    int rv = nftw(dir, host_on_tree_entry, HOST_NFTW_FDS, FTW_DEPTH | FTW_PHYS);
    if (rv == -1) {
        return errno == ENOENT ? 0 : -errno;
    }
    return rv;
}

int host_remove_tree(const char *dir)
{
    char dropped[HOST_PATH_MAX];
    int n = snprintf(dropped, sizeof(dropped), "%s" HOST_DROPPED_SUFFIX, dir);
    if (n < 0 || (size_t)n >= sizeof(dropped)) {
        return -ENAMETOOLONG;
    }
    int rv = host_remove_walk(dropped); /* left over by a crash during an earlier drop */
    if (rv != 0) {
        return rv;
    }
    if (rename(dir, dropped) != 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    char parent[HOST_PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            (void)fsync(fd); /* the rename is durable before anything is deleted */
            close(fd);
        }
    }
    return host_remove_walk(dropped);
}

int host_cleanup(const char *data_dir, uint32_t group_count)
{
    int first = 0;
    for (uint32_t g = 1; g <= group_count; g++) {
        char dir[HOST_PATH_MAX];
        int n = snprintf(dir, sizeof(dir), "%s/groups/%" PRIu32 HOST_DROPPED_SUFFIX, data_dir, g);
        if (n < 0 || (size_t)n >= sizeof(dir)) {
            return -ENAMETOOLONG;
        }
        int rv = host_remove_walk(dir);
        first = first != 0 ? first : rv;
    }
    return first;
}

/* ---- lifecycle ---- */

int host_init(struct host **out,
              uv_loop_t *loop,
              struct shard_server *server,
              struct join *j,
              const struct host_config *cfg)
{
    if (server == NULL || cfg->data_dir == NULL || cfg->group_count == 0 ||
        strlen(cfg->data_dir) + sizeof("/groups/4294967295" HOST_DROPPED_SUFFIX) > HOST_PATH_MAX) {
        return -EDDY_EINVAL;
    }
    struct host *h = eddy_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->server = server;
    h->join = j;
    h->node_id = cfg->node_id;
    h->data_dir = eddy_xstrdup(cfg->data_dir);
    h->group_count = cfg->group_count;
    *out = h;
    return 0;
}

static void host_maybe_free(struct host *h)
{
    if (!h->is_closing || h->drops != NULL) {
        return;
    }
    void (*cb)(void *) = h->close_cb;
    void *arg = h->close_arg;
    eddy_free(h->data_dir);
    eddy_free(h);
    if (cb != NULL) {
        cb(arg);
    }
}

/* Runs the close callback from the loop, never inside host_close. */
struct host_close_req {
    uv_idle_t idle;
    struct host *h;
};

static void host_on_close_idle_closed(uv_handle_t *handle)
{
    struct host_close_req *req = container_of((uv_idle_t *)handle, struct host_close_req, idle);
    struct host *h = req->h;
    eddy_free(req);
    host_maybe_free(h);
}

static void host_on_close_idle(uv_idle_t *idle)
{
    uv_idle_stop(idle);
    uv_close((uv_handle_t *)idle, host_on_close_idle_closed);
}

void host_close(struct host *h, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(!h->is_closing);
    h->is_closing = true;
    h->close_cb = cb;
    h->close_arg = arg;
    struct host_close_req *req = eddy_xcalloc(1, sizeof(*req));
    req->h = h;
    int rv = uv_idle_init(h->loop, &req->idle);
    EDDY_ASSERT(rv == 0);
    uv_idle_start(&req->idle, host_on_close_idle);
}

/* ---- drops ---- */

static struct host_drop *host_drop_find(struct host *h, uint32_t group)
{
    for (struct host_drop *d = h->drops; d != NULL; d = d->next) {
        if (d->group == group) {
            return d;
        }
    }
    return NULL;
}

static void host_drop_unlink(struct host *h, struct host_drop *d)
{
    struct host_drop **p = &h->drops;
    while (*p != d) {
        EDDY_ASSERT(*p != NULL);
        p = &(*p)->next;
    }
    *p = d->next;
}

static void host_drop_work(uv_work_t *w)
{
    struct host_drop *d = container_of(w, struct host_drop, work);
    d->result = host_remove_tree(d->dir);
}

static void host_on_drop_deleted(uv_work_t *w, int status)
{
    (void)status;
    struct host_drop *d = container_of(w, struct host_drop, work);
    struct host *h = d->h;
    if (d->result != 0) {
        LOG_ERROR("host: dropping group=%" PRIu32 ": deleting %s failed: %s", d->group, d->dir,
                  eddy_strerror(d->result));
        rpc_reply_error(d->call, d->result, 0, "deleting the replica's files failed");
    } else {
        LOG_INFO("host: group=%" PRIu32 " dropped, %s deleted", d->group, d->dir);
        rpc_reply_ok(d->call);
    }
    host_drop_unlink(h, d);
    eddy_free(d);
    host_maybe_free(h);
}

static void host_on_drop_closed(void *arg)
{
    struct host_drop *d = arg;
    EDDY_ASSERT(d->step == HOST_DROP_CLOSING);
    d->step = HOST_DROP_DELETING;
    int rv = uv_queue_work(d->h->loop, &d->work, host_drop_work, host_on_drop_deleted);
    EDDY_ASSERT(rv == 0); /* fails only for a NULL callback */
}

static void host_drop(struct host *h, struct rpc_call *call, uint32_t group)
{
    if (host_drop_find(h, group) != NULL) {
        rpc_reply_error(call, -EDDY_EINUSE, 0, "the replica is being dropped");
        return;
    }
    if (shard_server_hosting(h->server, group) == SHARD_SERVER_NOT_HOSTED) {
        rpc_reply_ok(call); /* dropped already */
        return;
    }
    struct host_drop *d = eddy_xcalloc(1, sizeof(*d));
    d->h = h;
    d->group = group;
    d->call = call;
    snprintf(d->dir, sizeof(d->dir), "%s/groups/%" PRIu32, h->data_dir, group);
    if (h->join != NULL) {
        join_group_cancel(h->join, group);
    }
    int rv = shard_server_remove_group(h->server, group, host_on_drop_closed, d);
    if (rv != 0) {
        eddy_free(d);
        rpc_reply_error(call, rv, 0, "the replica cannot be closed now");
        return;
    }
    LOG_INFO("host: dropping group=%" PRIu32 " (the catalogue gives it to other nodes)", group);
    d->next = h->drops;
    h->drops = d;
}

/* ---- hosting ---- */

/* Hosts group (joining when its replica has no Raft data) and, with
 * replaces != 0, asks for that member's removal. */
static int host_group(struct host *h, uint32_t group, uint32_t replaces)
{
    if (h->join == NULL || replaces == h->node_id) {
        return -EDDY_EINVAL;
    }
    if (host_drop_find(h, group) != NULL) {
        return -EDDY_EINUSE;
    }
    switch (shard_server_hosting(h->server, group)) {
    case SHARD_SERVER_REMOVING:
        return -EDDY_EINUSE;
    case SHARD_SERVER_HOSTED:
        break;
    case SHARD_SERVER_NOT_HOSTED: {
        char raft_dir[HOST_PATH_MAX];
        int rv = join_raft_dir(raft_dir, sizeof(raft_dir), h->data_dir, group);
        if (rv != 0) {
            return rv;
        }
        bool is_pristine = !rgroup_dir_has_data(raft_dir);
        rv = shard_server_add_group(h->server, group);
        if (rv != 0) {
            LOG_WARN("host: group=%" PRIu32 " cannot be hosted: %s", group, eddy_strerror(rv));
            return rv;
        }
        LOG_INFO("host: hosting group=%" PRIu32 "%s", group,
                 is_pristine ? " with no data: asking its leader to add this node" : "");
        if (is_pristine) {
            join_group(h->join, group);
        }
        break;
    }
    }
    if (replaces != 0) {
        join_group_replace(h->join, group, replaces);
    }
    return 0;
}

int host_start_group(struct host *h, uint32_t group)
{
    if (group == 0 || group > h->group_count) {
        return -EDDY_EINVAL;
    }
    return host_group(h, group, 0);
}

void host_handle(struct host *h, struct rpc_call *call)
{
    const Eddy__Frame *f = rpc_call_request(call);
    if (h->is_closing) {
        rpc_reply_error(call, -EDDY_ESHUTDOWN, 0, NULL);
        return;
    }
    if (f->body_case == EDDY__FRAME__BODY_HOST_GROUP) {
        const Eddy__HostGroupReq *req = f->host_group;
        int rv = req->group == 0 || req->group > h->group_count
                     ? -EDDY_EINVAL
                     : host_group(h, req->group, req->replaces);
        if (rv == 0) {
            rpc_reply_ok(call);
        } else {
            rpc_reply_error(call, rv, 0, "cannot host the group");
        }
        return;
    }
    if (f->body_case == EDDY__FRAME__BODY_DROP_GROUP) {
        uint32_t group = f->drop_group->group;
        if (group == 0 || group > h->group_count) {
            rpc_reply_error(call, -EDDY_EINVAL, 0, "no such shard group");
            return;
        }
        host_drop(h, call, group);
        return;
    }
    rpc_reply_error(call, -EDDY_EMALFORMED, 0, "not a hosting request");
}
