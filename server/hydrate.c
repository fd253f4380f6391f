/*
 * Replica hydration (hydrate.h): the per-group fetcher and the FetchSegment
 * server.
 *
 * The fetcher is a state machine with at most one job (one missing file)
 * and one request in flight at any time:
 *
 *   IDLE -> OPENING -> CALLING <-> WRITING -> FINISHING -> IDLE
 *                          \          \   \
 *                           \          \   +-> MERGING (-> MERGING) -> IDLE
 *                            +----------+--> DISCARDING -> IDLE
 *   IDLE -> WAITING (back-off) -> IDLE
 *
 * OPENING creates "<file>.part" (uv_fs_open), CALLING is one FetchSegment
 * call, WRITING writes its chunk (uv_fs_write), FINISHING runs fsync, close,
 * rename, directory fsync and seg_import_scan on the threadpool, and
 * DISCARDING closes and unlinks a part file after a failure. A manifest's
 * active file goes to MERGING instead of FINISHING: seg_merge_copy on the
 * threadpool appends to the part file the records the shard's store got
 * since, then shard_fsm_merge_end on the loop copies what arrived meanwhile
 * and swaps the result in, or asks for another round when much arrived.
 * Every step that goes on to the next file passes through the kick timer,
 * so no callback recurses into the next step and the FSM's change
 * notifications (which may come from inside Raft callbacks) only arm that
 * timer.
 */
#include "hydrate.h"
#include "segment.h"
#include "shard_fsm.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/crc32c.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HYDRATE_PATH_MAX 4096
#define HYDRATE_PART_SUFFIX ".part"

enum hydrate_state {
    HYDRATE_IDLE,
    HYDRATE_WAITING,
    HYDRATE_OPENING,
    HYDRATE_CALLING,
    HYDRATE_WRITING,
    HYDRATE_FINISHING,
    HYDRATE_MERGING,
    HYDRATE_DISCARDING,
    HYDRATE_STATE_COUNT
};

static const bool hydrate_transitions[HYDRATE_STATE_COUNT][HYDRATE_STATE_COUNT] = {
    [HYDRATE_IDLE] = {[HYDRATE_WAITING] = true, [HYDRATE_OPENING] = true},
    [HYDRATE_WAITING] = {[HYDRATE_IDLE] = true},
    [HYDRATE_OPENING] =
        {[HYDRATE_CALLING] = true, [HYDRATE_IDLE] = true, [HYDRATE_DISCARDING] = true},
    [HYDRATE_CALLING] = {[HYDRATE_WRITING] = true, [HYDRATE_DISCARDING] = true},
    [HYDRATE_WRITING] = {[HYDRATE_WRITING] = true,
                         [HYDRATE_CALLING] = true,
                         [HYDRATE_FINISHING] = true,
                         [HYDRATE_MERGING] = true,
                         [HYDRATE_DISCARDING] = true},
    [HYDRATE_FINISHING] = {[HYDRATE_IDLE] = true},
    [HYDRATE_MERGING] = {[HYDRATE_IDLE] = true},
    [HYDRATE_DISCARDING] = {[HYDRATE_IDLE] = true},
};

struct hydrate_source {
    uint64_t node_id;
    char *rpc_address;
    struct rpc_client *client; /* made on first use */
};

/* The missing file being fetched, copied from the FSM: the FSM may change
 * (a new manifest, a dropped stream) while the fetch runs. */
struct hydrate_job {
    char *stream;
    uint64_t created_ms;
    uint32_t shard;
    char *dir;
    char *file;
    char *part_path;
    char *final_path;
    uint64_t bytes;       /* to fetch: the manifest's length */
    uint32_t crc32c_want; /* 0: unknown */
    bool is_active;       /* the manifest's active file: merged, not imported */
    uint64_t node_id;     /* the source asked */
    uv_file fd;           /* the part file, -1 when closed */
    uint64_t offset;      /* bytes written */
    uint32_t crc;         /* of the bytes written */
    size_t chunk_len;     /* the chunk being written */
    size_t chunk_done;
    struct seg_import *imp;  /* from FINISHING */
    struct seg_merge *merge; /* MERGING */
    int result;              /* of the threadpool work */
    const char *why;         /* what the work failed at */
};

struct hydrate {
    uv_loop_t *loop;
    struct shard_fsm *fsm;
    uint32_t group_id;
    uint64_t node_id;
    struct hydrate_source *peers;
    unsigned peer_count;
    uint32_t chunk_bytes;
    unsigned retry_ms_min;
    unsigned retry_ms_max;
    unsigned call_timeout_ms;
    hydrate_sources_cb sources;
    hydrate_state_cb state_cb;
    void *arg;
    enum hydrate_state state;
    uv_timer_t timer; /* kick (0 ms) or back-off */
    uv_fs_t fs;
    uv_work_t work;
    struct hydrate_job *job; /* NULL when IDLE or WAITING */
    uint8_t *buf;            /* chunk_bytes, while hydrating */
    /* Sources that failed this round: each is asked once a round. */
    uint64_t failed[HYDRATE_SOURCES_MAX];
    unsigned failed_count;
    uint64_t good_node;       /* served the last file: asked first while it serves */
    uint64_t failures_in_row; /* since the last file fetched, for thinning warnings */
    unsigned backoff_ms;
    bool is_hydrating; /* as reported */
    bool is_closing;
    unsigned closes_pending;
    void (*close_cb)(void *arg);
    void *close_arg;
    struct hydrate_stats stats;
};

static void hydrate_kick(struct hydrate *h);
static void hydrate_start(struct hydrate *h, const struct shard_fsm_missing *m, uint64_t node_id);

static void hydrate_set_state(struct hydrate *h, enum hydrate_state next)
{
    EDDY_ASSERT(hydrate_transitions[h->state][next]);
    h->state = next;
}

static void hydrate_on_fsm_change(void *arg)
{
    hydrate_kick(arg);
}

int hydrate_init(struct hydrate **out,
                 uv_loop_t *loop,
                 struct shard_fsm *fsm,
                 const struct hydrate_config *cfg)
{
    if (cfg->peer_count > 0 && cfg->peers == NULL) {
        return -EDDY_EINVAL;
    }
    if (cfg->chunk_bytes > HYDRATE_SERVE_BYTES_MAX) {
        return -EDDY_EINVAL;
    }
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        if (cfg->peers[i].node_id == 0 || cfg->peers[i].rpc_address == NULL) {
            return -EDDY_EINVAL;
        }
    }
    struct hydrate *h = eddy_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->fsm = fsm;
    h->group_id = cfg->group_id;
    h->node_id = cfg->node_id;
    h->peer_count = cfg->peer_count;
    h->peers = eddy_xcalloc(cfg->peer_count ? cfg->peer_count : 1, sizeof(*h->peers));
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        h->peers[i].node_id = cfg->peers[i].node_id;
        h->peers[i].rpc_address = eddy_xstrdup(cfg->peers[i].rpc_address);
    }
    h->chunk_bytes = cfg->chunk_bytes ? cfg->chunk_bytes : HYDRATE_CHUNK_BYTES;
    h->retry_ms_min = cfg->retry_ms_min ? cfg->retry_ms_min : HYDRATE_RETRY_MS_MIN;
    h->retry_ms_max = cfg->retry_ms_max ? cfg->retry_ms_max : HYDRATE_RETRY_MS_MAX;
    if (h->retry_ms_max < h->retry_ms_min) {
        h->retry_ms_max = h->retry_ms_min;
    }
    h->call_timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms : HYDRATE_CALL_TIMEOUT_MS;
    h->sources = cfg->sources;
    h->state_cb = cfg->state;
    h->arg = cfg->arg;
    h->backoff_ms = h->retry_ms_min;
    h->state = HYDRATE_IDLE;
    uv_timer_init(loop, &h->timer);
    shard_fsm_set_hydrate_cb(fsm, hydrate_on_fsm_change, h);
    if (shard_fsm_is_hydrating(fsm)) {
        hydrate_kick(h);
    }
    *out = h;
    return 0;
}

bool hydrate_is_hydrating(const struct hydrate *h)
{
    return h->is_hydrating;
}

void hydrate_stats(const struct hydrate *h, struct hydrate_stats *out)
{
    *out = h->stats;
}

/* ---- jobs ---- */

static void hydrate_job_free(struct hydrate_job *j)
{
    seg_import_free(j->imp);
    seg_merge_free(j->merge); /* removes the part file unless merged */
    eddy_free(j->stream);
    eddy_free(j->dir);
    eddy_free(j->file);
    eddy_free(j->part_path);
    eddy_free(j->final_path);
    eddy_free(j);
}

static char *hydrate_path(const char *dir, const char *file, const char *suffix)
{
    char path[HYDRATE_PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s%s", dir, file, suffix);
    return n > 0 && (size_t)n < sizeof(path) ? eddy_xstrdup(path) : NULL;
}

static struct hydrate_job *hydrate_job_create(const struct shard_fsm_missing *m, uint64_t node_id)
{
    struct hydrate_job *j = eddy_xcalloc(1, sizeof(*j));
    j->stream = eddy_xstrdup(m->stream);
    j->created_ms = m->created_ms;
    j->shard = m->shard;
    j->dir = eddy_xstrdup(m->dir);
    j->file = eddy_xstrdup(m->file);
    j->part_path = hydrate_path(m->dir, m->file, HYDRATE_PART_SUFFIX);
    j->final_path = hydrate_path(m->dir, m->file, "");
    j->bytes = m->bytes;
    j->crc32c_want = m->crc32c;
    j->is_active = m->is_active;
    j->node_id = node_id;
    j->fd = -1;
    if (j->part_path == NULL || j->final_path == NULL) {
        hydrate_job_free(j);
        return NULL;
    }
    return j;
}

struct hydrate_wanted {
    const struct hydrate_job *job;
    bool found;
};

static void hydrate_wanted_check(void *arg, const struct shard_fsm_missing *m)
{
    struct hydrate_wanted *w = arg;
    const struct hydrate_job *j = w->job;
    if (m->shard == j->shard && m->created_ms == j->created_ms && m->bytes == j->bytes &&
        strcmp(m->file, j->file) == 0 && strcmp(m->stream, j->stream) == 0) {
        w->found = true;
    }
}

/* Whether the FSM still lacks the job's file as the job describes it. */
static bool hydrate_job_is_wanted(const struct hydrate *h)
{
    struct hydrate_wanted w = {.job = h->job, .found = false};
    shard_fsm_missing_files(h->fsm, hydrate_wanted_check, &w);
    return w.found;
}

/* ---- closing ---- */

static void hydrate_maybe_free(struct hydrate *h)
{
    if (h->closes_pending > 0) {
        return;
    }
    EDDY_ASSERT(h->job == NULL);
    for (unsigned i = 0; i < h->peer_count; i++) {
        EDDY_ASSERT(h->peers[i].client == NULL);
        eddy_free(h->peers[i].rpc_address);
    }
    eddy_free(h->peers);
    eddy_free(h->buf);
    void (*cb)(void *) = h->close_cb;
    void *arg = h->close_arg;
    eddy_free(h);
    if (cb != NULL) {
        cb(arg);
    }
}

static void hydrate_on_closed(void *arg)
{
    struct hydrate *h = arg;
    EDDY_ASSERT(h->closes_pending > 0);
    h->closes_pending--;
    hydrate_maybe_free(h);
}

static void hydrate_on_timer_closed(uv_handle_t *handle)
{
    hydrate_on_closed(container_of((uv_timer_t *)handle, struct hydrate, timer));
}

static bool hydrate_is_busy(const struct hydrate *h)
{
    return h->state != HYDRATE_IDLE && h->state != HYDRATE_WAITING;
}

void hydrate_close(struct hydrate *h, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(!h->is_closing);
    h->is_closing = true;
    h->close_cb = cb;
    h->close_arg = arg;
    shard_fsm_set_hydrate_cb(h->fsm, NULL, NULL);
    uv_timer_stop(&h->timer);
    if (h->state == HYDRATE_WAITING) {
        hydrate_set_state(h, HYDRATE_IDLE);
    }
    h->closes_pending = 1 + (hydrate_is_busy(h) ? 1 : 0);
    for (unsigned i = 0; i < h->peer_count; i++) {
        h->closes_pending += h->peers[i].client != NULL;
    }
    uv_close((uv_handle_t *)&h->timer, hydrate_on_timer_closed);
    for (unsigned i = 0; i < h->peer_count; i++) {
        if (h->peers[i].client != NULL) {
            rpc_client_close(h->peers[i].client, hydrate_on_closed, h);
            h->peers[i].client = NULL;
        }
    }
}

/* ---- steps ---- */

static void hydrate_discard(struct hydrate *h);

/* The job is over (done, failed or moot); the fetcher goes on. */
static void hydrate_job_end(struct hydrate *h)
{
    EDDY_ASSERT(h->job != NULL);
    EDDY_ASSERT(h->job->fd < 0);
    hydrate_job_free(h->job);
    h->job = NULL;
    if (h->state != HYDRATE_IDLE) {
        hydrate_set_state(h, HYDRATE_IDLE);
    }
    if (h->is_closing) {
        hydrate_on_closed(h); /* the job's share of closes_pending */
        return;
    }
    hydrate_kick(h);
}

/* While closing, a finished request ends the job instead of going on.
 * Returns true when it did. */
static bool hydrate_stop_if_closing(struct hydrate *h)
{
    if (!h->is_closing) {
        return false;
    }
    if (h->job->fd >= 0) {
        hydrate_discard(h);
    } else {
        hydrate_job_end(h);
    }
    return true;
}

/* A failed attempt: the next one asks the next source, unless the file is
 * no longer missing (then nobody is to blame). */
static void hydrate_fail(struct hydrate *h, int rv, const char *what)
{
    struct hydrate_job *j = h->job;
    h->stats.failures++;
    bool wanted = hydrate_job_is_wanted(h);
    if (wanted) {
        if (h->failed_count < HYDRATE_SOURCES_MAX) {
            h->failed[h->failed_count++] = j->node_id;
        }
        h->good_node = j->node_id == h->good_node ? 0 : h->good_node;
    }
    /* Warn for the first failures in a row, then at powers of two: an
     * outage backs off to one round per retry_ms_max and says so rarely. */
    uint64_t n = ++h->failures_in_row;
    enum log_level level = n <= 4 || (n & (n - 1)) == 0 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;
    LOG_AT_(level,
            "group=%u stream=%s shard=%u file=%s node=%" PRIu64 " offset=%" PRIu64
            " fetch failed: %s: %s failures_in_row=%" PRIu64,
            h->group_id, j->stream, j->shard, j->file, j->node_id, j->offset, what,
            eddy_strerror(rv), n);
    if (j->fd >= 0) {
        hydrate_discard(h);
    } else {
        hydrate_job_end(h);
    }
}

static void hydrate_on_discard_work(uv_work_t *w)
{
    struct hydrate *h = container_of(w, struct hydrate, work);
    struct hydrate_job *j = h->job;
    close(j->fd);
    unlink(j->part_path);
}

static void hydrate_on_discarded(uv_work_t *w, int status)
{
    (void)status;
    struct hydrate *h = container_of(w, struct hydrate, work);
    h->job->fd = -1;
    hydrate_job_end(h);
}

/* Closes and removes the part file, off the loop. */
static void hydrate_discard(struct hydrate *h)
{
    EDDY_ASSERT(h->job->fd >= 0);
    hydrate_set_state(h, HYDRATE_DISCARDING);
    int rv = uv_queue_work(h->loop, &h->work, hydrate_on_discard_work, hydrate_on_discarded);
    EDDY_ASSERT(rv == 0); /* fails only for a NULL callback */
}

static void hydrate_report(struct hydrate *h)
{
    bool now = shard_fsm_is_hydrating(h->fsm);
    if (now == h->is_hydrating) {
        return;
    }
    h->is_hydrating = now;
    if (now) {
        LOG_INFO("group=%u hydrating: fetching files=%zu from peers", h->group_id,
                 shard_fsm_missing_count(h->fsm));
    } else {
        LOG_INFO("group=%u hydrated: files=%" PRIu64 " bytes=%" PRIu64 " failures=%" PRIu64,
                 h->group_id, h->stats.files_fetched, h->stats.bytes_fetched, h->stats.failures);
        eddy_free(h->buf);
        h->buf = NULL;
    }
    if (h->state_cb != NULL) {
        h->state_cb(h->arg, now);
    }
}

/* The owner's preferred sources, then every other peer in order. */
static unsigned hydrate_sources(struct hydrate *h, uint64_t *ids, unsigned max)
{
    unsigned n = h->sources != NULL ? h->sources(h->arg, ids, max) : 0;
    EDDY_ASSERT(n <= max);
    for (unsigned i = 0; i < h->peer_count && n < max; i++) {
        uint64_t id = h->peers[i].node_id;
        bool listed = id == h->node_id;
        for (unsigned k = 0; k < n && !listed; k++) {
            listed = ids[k] == id;
        }
        if (!listed) {
            ids[n++] = id;
        }
    }
    for (unsigned k = 1; k < n && h->good_node != 0; k++) {
        if (ids[k] == h->good_node) {
            memmove(&ids[1], &ids[0], k * sizeof(*ids));
            ids[0] = h->good_node;
            break;
        }
    }
    return n;
}

static bool hydrate_has_failed(const struct hydrate *h, uint64_t node_id)
{
    for (unsigned i = 0; i < h->failed_count; i++) {
        if (h->failed[i] == node_id) {
            return true;
        }
    }
    return false;
}

static void hydrate_on_timer(uv_timer_t *t)
{
    struct hydrate *h = container_of(t, struct hydrate, timer);
    if (h->is_closing) {
        return;
    }
    if (h->state == HYDRATE_WAITING) {
        hydrate_set_state(h, HYDRATE_IDLE);
    }
    if (h->state != HYDRATE_IDLE) {
        return; /* a job runs; it kicks again when it ends */
    }
    uint64_t ids[HYDRATE_SOURCES_MAX];
    hydrate_report(h);
    struct shard_fsm_missing m;
    if (!shard_fsm_next_missing(h->fsm, &m)) {
        h->failed_count = 0;
        h->backoff_ms = h->retry_ms_min;
        return;
    }
    unsigned n = hydrate_sources(h, ids, HYDRATE_SOURCES_MAX);
    unsigned next = 0;
    while (next < n && hydrate_has_failed(h, ids[next])) {
        next++;
    }
    if (next == n) {
        /* Every source failed this round, or there is none: back off. */
        LOG_DEBUG("group=%u hydrate back-off ms=%u sources=%u", h->group_id, h->backoff_ms, n);
        h->failed_count = 0;
        hydrate_set_state(h, HYDRATE_WAITING);
        uv_timer_start(&h->timer, hydrate_on_timer, h->backoff_ms, 0);
        h->backoff_ms = h->backoff_ms * 2 < h->retry_ms_max ? h->backoff_ms * 2 : h->retry_ms_max;
        return;
    }
    hydrate_start(h, &m, ids[next]);
}

static void hydrate_kick(struct hydrate *h)
{
    if (h->is_closing || h->state != HYDRATE_IDLE) {
        return;
    }
    uv_timer_start(&h->timer, hydrate_on_timer, 0, 0);
}

static void hydrate_call(struct hydrate *h);
static void hydrate_finish(struct hydrate *h);
static void hydrate_on_response(void *arg, int status, const Eddy__Frame *resp);

static void hydrate_on_open(uv_fs_t *req)
{
    struct hydrate *h = container_of(req, struct hydrate, fs);
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    if (result >= 0) {
        h->job->fd = (uv_file)result;
    }
    if (hydrate_stop_if_closing(h)) {
        return;
    }
    if (result < 0) {
        hydrate_fail(h, (int)result, "open part file");
        return;
    }
    hydrate_call(h);
}

static void hydrate_start(struct hydrate *h, const struct shard_fsm_missing *m, uint64_t node_id)
{
    EDDY_ASSERT(h->job == NULL);
    h->job = hydrate_job_create(m, node_id);
    if (h->job == NULL) {
        LOG_ERROR("group=%u stream=%s shard=%u file=%s path too long", h->group_id, m->stream,
                  m->shard, m->file);
        h->stats.failures++;
        hydrate_set_state(h, HYDRATE_WAITING);
        uv_timer_start(&h->timer, hydrate_on_timer, h->retry_ms_max, 0);
        return;
    }
    if (h->buf == NULL) {
        h->buf = eddy_xmalloc(h->chunk_bytes);
    }
    LOG_DEBUG("group=%u stream=%s shard=%u file=%s bytes=%" PRIu64 " fetching from node=%" PRIu64,
              h->group_id, m->stream, m->shard, m->file, m->bytes, node_id);
    hydrate_set_state(h, HYDRATE_OPENING);
    int rv = uv_fs_open(h->loop, &h->fs, h->job->part_path,
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, hydrate_on_open);
    if (rv != 0) {
        hydrate_set_state(h, HYDRATE_IDLE);
        hydrate_fail(h, rv, "open part file");
    }
}

static struct rpc_client *hydrate_client(struct hydrate *h, uint64_t node_id)
{
    for (unsigned i = 0; i < h->peer_count; i++) {
        struct hydrate_source *p = &h->peers[i];
        if (p->node_id != node_id) {
            continue;
        }
        if (p->client == NULL && rpc_client_init(&p->client, h->loop, p->rpc_address) != 0) {
            LOG_WARN("group=%u bad rpc address node=%" PRIu64 " addr=%s", h->group_id, node_id,
                     p->rpc_address);
            p->client = NULL;
        }
        return p->client;
    }
    return NULL;
}

/* Asks the job's source for the next chunk. */
static void hydrate_call(struct hydrate *h)
{
    struct hydrate_job *j = h->job;
    EDDY_ASSERT(j->offset < j->bytes);
    struct rpc_client *c = hydrate_client(h, j->node_id);
    if (c == NULL) {
        hydrate_fail(h, -EDDY_ENOTFOUND, "no RPC address for the node");
        return;
    }
    uint64_t left = j->bytes - j->offset;
    Eddy__FetchSegmentReq req = EDDY__FETCH_SEGMENT_REQ__INIT;
    req.group = h->group_id;
    req.stream = j->stream;
    req.stream_created_ms = j->created_ms;
    req.shard = j->shard;
    req.file = j->file;
    req.offset = j->offset;
    req.length = left < h->chunk_bytes ? (uint32_t)left : h->chunk_bytes;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_FETCH_SEGMENT;
    f.fetch_segment = &req;
    hydrate_set_state(h, HYDRATE_CALLING);
    rpc_client_call(c, &f, h->call_timeout_ms, hydrate_on_response, h);
}

static void hydrate_write(struct hydrate *h);

static void hydrate_on_write(uv_fs_t *req)
{
    struct hydrate *h = container_of(req, struct hydrate, fs);
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    if (hydrate_stop_if_closing(h)) {
        return;
    }
    struct hydrate_job *j = h->job;
    if (result <= 0) {
        hydrate_fail(h, result < 0 ? (int)result : -EIO, "write part file");
        return;
    }
    j->chunk_done += (size_t)result;
    if (j->chunk_done < j->chunk_len) {
        hydrate_write(h);
        return;
    }
    j->offset += j->chunk_len;
    if (j->offset < j->bytes) {
        hydrate_call(h);
        return;
    }
    if (j->crc32c_want != 0 && j->crc != j->crc32c_want) {
        hydrate_fail(h, -EDDY_ECORRUPT, "checksum differs from the manifest");
        return;
    }
    hydrate_finish(h);
}

static void hydrate_write(struct hydrate *h)
{
    struct hydrate_job *j = h->job;
    uv_buf_t b =
        uv_buf_init((char *)h->buf + j->chunk_done, (unsigned)(j->chunk_len - j->chunk_done));
    hydrate_set_state(h, HYDRATE_WRITING);
    int rv = uv_fs_write(h->loop, &h->fs, j->fd, &b, 1, (int64_t)(j->offset + j->chunk_done),
                         hydrate_on_write);
    if (rv != 0) {
        hydrate_fail(h, rv, "write part file");
    }
}

/* Checks one FetchSegmentResp; returns 0 or why it is no use. */
static int hydrate_check_response(const struct hydrate *h,
                                  int status,
                                  const Eddy__Frame *resp,
                                  const char **what)
{
    const struct hydrate_job *j = h->job;
    *what = "call failed";
    if (status != 0) {
        return status;
    }
    const Eddy__Status *st = rpc_frame_status(resp);
    *what = "malformed response";
    if (resp->body_case != EDDY__FRAME__BODY_FETCH_SEGMENT_RESP || st == NULL) {
        return -EDDY_EMALFORMED;
    }
    *what = "peer refused";
    if (st->code != 0) {
        return st->code < 0 ? st->code : -EDDY_EMALFORMED;
    }
    const Eddy__FetchSegmentResp *fs = resp->fetch_segment_resp;
    *what = "peer's file is shorter than the manifest's";
    if (fs->file_bytes < j->bytes) {
        return -EDDY_ENOTFOUND;
    }
    uint64_t left = j->bytes - j->offset;
    size_t want = left < h->chunk_bytes ? (size_t)left : h->chunk_bytes;
    *what = "short or long chunk";
    if (fs->data.len != want) {
        return -EDDY_EMALFORMED;
    }
    return 0;
}

static void hydrate_on_response(void *arg, int status, const Eddy__Frame *resp)
{
    struct hydrate *h = arg;
    EDDY_ASSERT(h->state == HYDRATE_CALLING);
    if (hydrate_stop_if_closing(h)) {
        return;
    }
    const char *what;
    int rv = hydrate_check_response(h, status, resp, &what);
    if (rv != 0) {
        hydrate_fail(h, rv, what);
        return;
    }
    struct hydrate_job *j = h->job;
    const ProtobufCBinaryData *data = &resp->fetch_segment_resp->data;
    memcpy(h->buf, data->data, data->len);
    j->crc = crc32c_update(j->crc, h->buf, data->len);
    j->chunk_len = data->len;
    j->chunk_done = 0;
    hydrate_write(h);
}

/* On the threadpool: makes the part file durable under its final name and
 * verifies it. Cleans up after itself when a step fails. */
static void hydrate_on_finish_work(uv_work_t *w)
{
    struct hydrate *h = container_of(w, struct hydrate, work);
    struct hydrate_job *j = h->job;
    j->result = 0;
    j->why = "fsync part file";
    if (fsync(j->fd) != 0) {
        j->result = -errno;
    }
    if (close(j->fd) != 0 && j->result == 0) {
        j->why = "close part file";
        j->result = -errno;
    }
    j->fd = -1;
    if (j->result == 0 && rename(j->part_path, j->final_path) != 0) {
        j->why = "rename part file";
        j->result = -errno;
    }
    if (j->result != 0) {
        unlink(j->part_path);
        return;
    }
    /* The new name must survive a crash as long as its bytes do. */
    int dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || fsync(dir_fd) != 0) {
        j->why = "fsync directory";
        j->result = -errno;
    }
    if (dir_fd >= 0) {
        close(dir_fd);
    }
    if (j->result == 0) {
        j->why = "verify file";
        j->result = seg_import_scan(j->dir, j->file, &j->imp);
    }
    if (j->result != 0) {
        unlink(j->final_path);
    }
}

/* The fetched file joined the store (rv 0), or did not. */
static void hydrate_joined(struct hydrate *h, int rv, const char *what)
{
    struct hydrate_job *j = h->job;
    if (rv == 0) {
        h->stats.files_fetched++;
        h->stats.bytes_fetched += j->bytes;
        h->failed_count = 0;
        h->failures_in_row = 0;
        h->good_node = j->node_id;
        h->backoff_ms = h->retry_ms_min;
        LOG_INFO("group=%u stream=%s shard=%u file=%s bytes=%" PRIu64 " fetched from node=%" PRIu64,
                 h->group_id, j->stream, j->shard, j->file, j->bytes, j->node_id);
        hydrate_job_end(h);
    } else if (rv == -EDDY_ENOTFOUND || rv == -EDDY_EEXISTS) {
        hydrate_job_end(h); /* no longer missing */
    } else {
        hydrate_fail(h, rv, what);
    }
}

static void hydrate_on_finished(uv_work_t *w, int status)
{
    (void)status;
    struct hydrate *h = container_of(w, struct hydrate, work);
    struct hydrate_job *j = h->job;
    EDDY_ASSERT(j->fd < 0);
    hydrate_set_state(h, HYDRATE_IDLE);
    if (h->is_closing) {
        /* A whole, verified file stays: a restart keeps it as a match of its
         * manifest instead of fetching it again. */
        hydrate_job_end(h);
        return;
    }
    if (j->result != 0) {
        hydrate_fail(h, j->result, j->why);
        return;
    }
    struct seg_import *imp = j->imp;
    j->imp = NULL;
    hydrate_joined(h, shard_fsm_import(h->fsm, j->stream, j->created_ms, j->shard, imp), "import");
}

/* On the threadpool: closes the part file (the merge makes it durable) and
 * runs one round of the merge's copy. */
static void hydrate_on_merge_work(uv_work_t *w)
{
    struct hydrate *h = container_of(w, struct hydrate, work);
    struct hydrate_job *j = h->job;
    j->result = 0;
    if (j->fd >= 0 && close(j->fd) != 0) {
        j->result = -errno;
    }
    j->fd = -1;
    if (j->result == 0) {
        j->result = seg_merge_copy(j->merge);
    }
}

static void hydrate_on_merged(uv_work_t *w, int status);

static void hydrate_merge_round(struct hydrate *h)
{
    int rv = uv_queue_work(h->loop, &h->work, hydrate_on_merge_work, hydrate_on_merged);
    EDDY_ASSERT(rv == 0); /* fails only for a NULL callback */
}

static void hydrate_on_merged(uv_work_t *w, int status)
{
    (void)status;
    struct hydrate *h = container_of(w, struct hydrate, work);
    struct hydrate_job *j = h->job;
    EDDY_ASSERT(j->fd < 0);
    if (h->is_closing) {
        hydrate_job_end(h); /* frees the merge: the part file goes */
        return;
    }
    if (j->result != 0) {
        hydrate_fail(h, j->result, "merge");
        return;
    }
    int rv = shard_fsm_merge_end(h->fsm, j->stream, j->created_ms, j->shard, j->merge);
    if (rv == SEG_MERGE_AGAIN) {
        hydrate_merge_round(h);
        return;
    }
    hydrate_joined(h, rv, "merge");
}

static void hydrate_finish(struct hydrate *h)
{
    struct hydrate_job *j = h->job;
    if (!j->is_active) {
        hydrate_set_state(h, HYDRATE_FINISHING);
        int rv = uv_queue_work(h->loop, &h->work, hydrate_on_finish_work, hydrate_on_finished);
        EDDY_ASSERT(rv == 0); /* fails only for a NULL callback */
        return;
    }
    int rv = shard_fsm_merge_begin(h->fsm, j->stream, j->created_ms, j->shard, j->file, &j->merge);
    if (rv != 0) {
        hydrate_fail(h, rv, "merge");
        return;
    }
    hydrate_set_state(h, HYDRATE_MERGING);
    hydrate_merge_round(h);
}
