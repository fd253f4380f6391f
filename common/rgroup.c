/*
 * One Raft group replica (eddy/rgroup.h) on canonical/raft 0.15 + raft_uv.
 *
 * Owns: the struct raft, its raft_io (raft_uv on cfg->dir), its rmux
 * transport, a poll timer that tracks leadership (0.15 has no state
 * callback) and drives membership changes (rgroup_change.c), an idle handle
 * that delivers early failures asynchronously, and every proposal and
 * change until its callback has run.
 *
 * Lifecycle: INITED -> STARTED -> [DRAINING ->] CLOSING -> freed, or
 * INITED -> CLOSING.
 * CLOSING stops both handles and calls raft_close. Once raft has called
 * back, the poll handle is closed, and from its close callback the idle
 * handle; the group (raft_uv and the transport with it, as raft_uv
 * requires) is freed from that second close callback. See
 * rgroup_on_io_closed for why it waits two closing rounds of the loop.
 *
 * Facts about 0.15 this file relies on (src/replication.c, src/client.c,
 * src/convert.c, src/snapshot.c of v0.15.0; struct raft is public there):
 * - replicationApply() calls fsm->apply() for entry `index` while
 *   r->last_applied is still index - 1, calls the raft_apply callback with
 *   the FSM's result right after, and only then sets r->last_applied =
 *   index. So the applied index is raft->last_applied + 1 inside apply, and
 *   a result no request claims is never freed by raft (we free it).
 *   rgroup_on_applied asserts the first fact on every leader apply.
 * - A new leader appends no no-op; rgroup issues raft_barrier and is ready
 *   only once that barrier's callback reports success in the same term.
 * - Pending apply and barrier requests fail with RAFT_LEADERSHIPLOST when
 *   leadership is lost, including synchronously inside raft_close().
 *   convertClearLeader fails them after freeing the progress array while
 *   r->state is still LEADER: a raft_apply from such a callback crashes, so
 *   rgroup_on_applied delivers failures through the deferred list.
 * - raft_apply() leaves buffer ownership with the caller when it fails.
 * - raft_close() on a replica with two or more leader appends still queued
 *   in raft_uv crashes 0.15: each cancelled appendLeaderCb truncates the log
 *   from its index, and the next one releases entries already gone
 *   (refsDecr on a missing slot, reproduced by the close test). rgroup_close
 *   therefore drains: no new entries, and raft_close only once every entry
 *   appended as leader is stored or RGROUP_CLOSE_DRAIN_MS passed.
 * - fsm->restore() takes ownership of buf->base only when it returns 0.
 * - Entries must be a multiple of 8 bytes (notes/raft-0.15.md item 1).
 * - raft_uv can call its io close callback twice (cowsql/raft#45,
 *   canonical/raft#341): the close callback of an open segment's writer is
 *   not among the things raft_uv waits for, yet it ends by asking whether
 *   to call back. When the segment's finalize work is done before the
 *   loop's closing round, the tick timer's close callback calls back and
 *   the writer's, later in the same round, calls back again: raft's
 *   ioCloseCb then frees r->address, the log and the configuration twice
 *   (about 1 SIGTERM in 30 on a single node; every time in
 *   test_rgroup_single_close_after_finalize). rgroup_on_io_closed absorbs
 *   the repeat, and the group, raft_uv with it, stays allocated until that
 *   writer close has run.
 */
#include "eddy/rgroup.h"
#include "rgroup_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/rmux.h"

#include <errno.h>
#include <limits.h>
#include <raft/uv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bounds private to rgroup; the lead may move them into limits.h. */
#ifndef RGROUP_POLL_MS
#define RGROUP_POLL_MS 10 /* leadership polling period (no state_cb in 0.15) */
#endif
#ifndef RGROUP_PEERS_MAX
#define RGROUP_PEERS_MAX 9 /* initial voters of one group */
#endif
#ifndef RGROUP_SNAPSHOT_THRESHOLD_MIN
#define RGROUP_SNAPSHOT_THRESHOLD_MIN 4 /* entries: each snapshot stalls the loop ~32 ms */
#endif
#ifndef RGROUP_SEGMENT_BYTES_MIN
#define RGROUP_SEGMENT_BYTES_MIN (64 * 1024) /* raft_uv rounds down to its block size */
#endif
#ifndef RGROUP_CLOSE_DRAIN_MS
#define RGROUP_CLOSE_DRAIN_MS 5000 /* wait for queued log writes before raft_close */
#endif
#define RGROUP_ENTRY_OVERHEAD_BYTES 16 /* raft_uv batch header per entry (term, type, len) */
#define RGROUP_STAGGER_PCT_SPAN 32     /* thresholds spread over +0..31 % by group id */

#define RGROUP_ENVELOPE_MAGIC 0x31594445u /* "EDY1" read as a little-endian u32 */
#define RGROUP_ENVELOPE_HEADER_BYTES 8
#define RGROUP_PAYLOAD_BYTES_MAX (RAFT_ENTRY_BYTES_MAX - RGROUP_ENVELOPE_HEADER_BYTES)

static_assert(RAFT_ENTRY_BYTES_MAX % 8 == 0, "the largest envelope is 8-byte padded");
static_assert(RGROUP_PAYLOAD_BYTES_MAX <= UINT32_MAX, "payload length fits the u32 field");
static_assert(GROUP_PENDING_BYTES_MAX >= RAFT_ENTRY_BYTES_MAX, "one largest entry can queue");

static const bool rgroup_transitions[RGROUP_STATE_COUNT][RGROUP_STATE_COUNT] = {
    [RGROUP_INITED] = {[RGROUP_CLOSING] = true, [RGROUP_STARTED] = true},
    [RGROUP_STARTED] = {[RGROUP_DRAINING] = true, [RGROUP_CLOSING] = true},
    [RGROUP_DRAINING] = {[RGROUP_CLOSING] = true},
};

static void rgroup_set_state(struct rgroup *g, enum rgroup_state next)
{
    EDDY_ASSERT(rgroup_transitions[g->state][next]);
    g->state = next;
}

int rgroup_errno_from_raft(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case RAFT_NOMEM:
        return -ENOMEM;
    case RAFT_NOTLEADER:
        return -EDDY_ENOTLEADER;
    case RAFT_LEADERSHIPLOST:
    case RAFT_SHUTDOWN:
        return -EDDY_EUNKNOWN;
    case RAFT_CORRUPT:
    case RAFT_MALFORMED:
        return -EDDY_ECORRUPT;
    case RAFT_NOSPACE:
        return -ENOSPC;
    case RAFT_TOOBIG:
        return -EDDY_ETOOBIG;
    case RAFT_BUSY:
        return -EBUSY;
    case RAFT_NOCONNECTION:
        return -EDDY_EUNAVAILABLE;
    case RAFT_CANTCHANGE:
        return -EDDY_EINUSE;
    case RAFT_NOTFOUND:
        return -EDDY_ENOTFOUND;
    case RAFT_BADID:
    case RAFT_BADROLE:
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_INVALID:
    case RAFT_NAMETOOLONG:
        return -EDDY_EINVAL;
    default:
        return -EIO;
    }
}

/* --- envelope: "EDY1" LE, payload length LE, payload, zero pad to 8 --- */

static size_t rgroup_envelope_bytes(size_t len)
{
    return (RGROUP_ENVELOPE_HEADER_BYTES + len + 7) & ~(size_t)7;
}

static void rgroup_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t rgroup_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Returns a raft_malloc'd envelope of rgroup_envelope_bytes(len) whose
 * payload pack wrote, or NULL. */
static void *rgroup_envelope_create(size_t len, rgroup_pack_cb pack, const void *pack_arg)
{
    EDDY_ASSERT(len <= RGROUP_PAYLOAD_BYTES_MAX);
    size_t total = rgroup_envelope_bytes(len);
    uint8_t *p = raft_malloc(total);
    if (p == NULL) {
        return NULL;
    }
    rgroup_put_u32(p, RGROUP_ENVELOPE_MAGIC);
    rgroup_put_u32(p + 4, (uint32_t)len);
    if (len > 0) {
        pack(pack_arg, p + RGROUP_ENVELOPE_HEADER_BYTES, len);
    }
    memset(p + RGROUP_ENVELOPE_HEADER_BYTES + len, 0, total - RGROUP_ENVELOPE_HEADER_BYTES - len);
    EDDY_ASSERT(total % 8 == 0);
    return p;
}

static void rgroup_pack_copy(const void *payload, uint8_t *out, size_t len)
{
    memcpy(out, payload, len);
}

static void *rgroup_envelope_encode(const uint8_t *payload, size_t len)
{
    return rgroup_envelope_create(len, rgroup_pack_copy, payload);
}

/* Decodes bytes from the log or the network: 0 or -EDDY_ECORRUPT. */
static int
rgroup_envelope_decode(const struct raft_buffer *buf, const uint8_t **payload, size_t *len)
{
    const uint8_t *p = buf->base;
    if (buf->len < RGROUP_ENVELOPE_HEADER_BYTES || buf->len % 8 != 0) {
        return -EDDY_ECORRUPT;
    }
    if (rgroup_get_u32(p) != RGROUP_ENVELOPE_MAGIC) {
        return -EDDY_ECORRUPT;
    }
    size_t n = rgroup_get_u32(p + 4);
    if (rgroup_envelope_bytes(n) != buf->len) {
        return -EDDY_ECORRUPT;
    }
    for (size_t i = RGROUP_ENVELOPE_HEADER_BYTES + n; i < buf->len; i++) {
        if (p[i] != 0) {
            return -EDDY_ECORRUPT;
        }
    }
    *payload = p + RGROUP_ENVELOPE_HEADER_BYTES;
    *len = n;
    return 0;
}

/* --- snapshot sizing --- */

/* The log since the last snapshot that triggers the next: snapshot_log_bytes
 * stretched by 0..31 % by group id, so that groups on a loop snapshot at
 * different times. */
static uint64_t rgroup_log_bytes_max(uint64_t snapshot_log_bytes, uint32_t group_id)
{
    uint64_t pct = (group_id * 7u) % RGROUP_STAGGER_PCT_SPAN;
    return snapshot_log_bytes + snapshot_log_bytes / 100 * pct;
}

static void rgroup_threshold_set(struct rgroup *g, unsigned n)
{
    if (n != g->snapshot_threshold) {
        g->snapshot_threshold = n;
        raft_set_snapshot_threshold(&g->raft, n);
    }
}

static void rgroup_trailing_set(struct rgroup *g, unsigned n)
{
    if (n != g->snapshot_trailing) {
        g->snapshot_trailing = n;
        raft_set_snapshot_trailing(&g->raft, n);
    }
}

uint64_t rgroup_log_bytes(const struct rgroup *g)
{
    const struct raft_log *l = &g->raft.log;
    uint64_t bytes = 0;
    for (size_t i = l->front; i != l->back; i = (i + 1) % l->size) {
        bytes += l->entries[i].buf.len;
    }
    return bytes;
}

/* --- results and completions --- */

/* Frees an FSM result no proposer took (followers, replays, lost requests). */
static void rgroup_result_flush(struct rgroup *g)
{
    if (g->result != NULL) {
        if (g->fsm->free_result != NULL) {
            g->fsm->free_result(g->fsm->data, g->result);
        }
        g->result = NULL;
    }
}

static void rgroup_on_defer(uv_idle_t *idle);

/* Completes a proposal that never reached raft_apply, or that raft failed,
 * from the loop. */
static void rgroup_defer(struct rgroup *g, struct rgroup_prop *prop, int status)
{
    EDDY_ASSERT(status < 0);
    prop->status = status;
    list_push(&g->deferred, &prop->link);
    rgroup_defer_start(g);
}

void rgroup_defer_start(struct rgroup *g)
{
    if (g->state != RGROUP_CLOSING) {
        /* Stays stopped once CLOSING: rgroup_finish_close runs what is due. */
        uv_idle_start(&g->defer, rgroup_on_defer);
    }
}

/* Runs the deferred callbacks queued so far; ones queued by those callbacks
 * wait for the next round. */
static void rgroup_deferred_run(struct rgroup *g)
{
    struct list_link batch;
    list_init(&batch);
    list_take(&batch, &g->deferred);
    while (!list_is_empty(&batch)) {
        struct rgroup_prop *prop = container_of(batch.next, struct rgroup_prop, link);
        list_remove(&prop->link);
        rgroup_propose_cb cb = prop->cb;
        void *arg = prop->arg;
        int status = prop->status;
        eddy_free(prop);
        cb(arg, status, NULL);
    }
}

static void rgroup_on_defer(uv_idle_t *idle)
{
    struct rgroup *g = idle->data;
    rgroup_deferred_run(g);
    rgroup_change_run_done(g);
    if (list_is_empty(&g->deferred) && !rgroup_change_has_done(g)) {
        uv_idle_stop(idle);
    }
}

static void rgroup_on_applied(struct raft_apply *req, int status, void *result)
{
    struct rgroup_prop *prop = container_of(req, struct rgroup_prop, req);
    struct rgroup *g = prop->g;
    list_remove(&prop->link);
    EDDY_ASSERT(g->inflight_bytes >= prop->bytes);
    g->inflight_bytes -= prop->bytes;
    if (status == 0) {
        /* 0.15: the callback follows fsm->apply of the same entry at once. */
        EDDY_ASSERT(req->index == g->apply_index);
        if (result != NULL && result == g->result) {
            g->result = NULL; /* the proposer takes it */
        }
        rgroup_propose_cb cb = prop->cb;
        void *arg = prop->arg;
        eddy_free(prop);
        cb(arg, 0, result);
        if (result != NULL && g->fsm->free_result != NULL) {
            g->fsm->free_result(g->fsm->data, result);
        }
        return;
    }
    LOG_DEBUG("rgroup proposal outcome unknown group=%u index=%llu err=%s", (unsigned)g->group_id,
              (unsigned long long)req->index, raft_strerror(status));
    /* Not from here: 0.15 fails pending requests inside convertClearLeader
     * after freeing the leader's progress array but while r->state is still
     * LEADER, so a proposer that proposes again from its callback (the
     * shard server's group commit does) crashes raft_apply -> replication
     * on the NULL progress (SIGSEGV in progressState under load). */
    rgroup_defer(g, prop, -EDDY_EUNKNOWN);
}

/* --- FSM adapter (raft_fsm version 1) --- */

static int rgroup_fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct rgroup *g = fsm->data;
    rgroup_result_flush(g);
    *result = NULL;
    /* 0.15 sets last_applied after apply returns: this entry's index. */
    raft_index index = g->raft.last_applied + 1;
    const uint8_t *payload;
    size_t len;
    if (rgroup_envelope_decode(buf, &payload, &len) != 0) {
        LOG_ERROR("rgroup corrupt entry group=%u index=%llu len=%zu", (unsigned)g->group_id,
                  (unsigned long long)index, buf->len);
        return RAFT_MALFORMED;
    }
    void *res = NULL;
    int rv = g->fsm->apply(g->fsm->data, index, payload, len, &res);
    if (rv != 0) {
        /* Fatal (struct rgroup_fsm): raft 0.15 would stop applying at this
         * entry for good while the replica went on voting and leading with
         * a frozen state (an fsync EIO did that under tools/chaos). After a
         * failed fsync the page cache cannot be trusted either, so the
         * process stops; a restart re-applies from the fsynced log and
         * snapshot, which apply tolerates by index. */
        LOG_ERROR("rgroup fsm apply failed group=%u index=%llu err=%s: stopping the process",
                  (unsigned)g->group_id, (unsigned long long)index, eddy_strerror(rv));
        abort();
    }
    g->apply_index = index;
    g->result = res;
    *result = res;
    /* Sized before raft checks its threshold at the end of this round. */
    rgroup_threshold_set(g, rlog_budget_applied(&g->budget, index,
                                                buf->len + RGROUP_ENTRY_OVERHEAD_BYTES,
                                                g->raft.log.snapshot.last_index));
    return 0;
}

static int rgroup_fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct rgroup *g = fsm->data;
    rgroup_result_flush(g);
    uint8_t *payload = NULL;
    size_t len = 0;
    int rv = g->fsm->snapshot(g->fsm->data, &payload, &len);
    if (rv != 0) {
        LOG_WARN("rgroup fsm snapshot failed group=%u err=%s", (unsigned)g->group_id,
                 eddy_strerror(rv));
        return RAFT_BUSY; /* 0.15 retries at a later apply */
    }
    if (len > RGROUP_PAYLOAD_BYTES_MAX) {
        LOG_ERROR("rgroup snapshot too big group=%u len=%zu", (unsigned)g->group_id, len);
        eddy_free(payload);
        return RAFT_TOOBIG;
    }
    struct raft_buffer *b = raft_malloc(sizeof(*b));
    if (b == NULL) {
        eddy_free(payload);
        return RAFT_NOMEM;
    }
    b->base = rgroup_envelope_encode(payload, len);
    eddy_free(payload);
    if (b->base == NULL) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    b->len = rgroup_envelope_bytes(len);
    /* 0.15 reads the trailing count after this returns (snapshot_put, and
     * the log compaction once the snapshot is stored). */
    rgroup_trailing_set(g, rlog_budget_snapshot(&g->budget, g->raft.last_applied));
    *bufs = b;
    *n_bufs = 1;
    LOG_DEBUG("rgroup snapshot group=%u index=%llu bytes=%zu", (unsigned)g->group_id,
              (unsigned long long)g->raft.last_applied, b->len);
    return 0;
}

static int rgroup_fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct rgroup *g = fsm->data;
    rgroup_result_flush(g);
    const uint8_t *payload;
    size_t len;
    if (rgroup_envelope_decode(buf, &payload, &len) != 0) {
        LOG_ERROR("rgroup corrupt snapshot group=%u len=%zu", (unsigned)g->group_id, buf->len);
        return RAFT_CORRUPT; /* raft keeps ownership of buf */
    }
    int rv = g->fsm->restore(g->fsm->data, payload, len);
    if (rv != 0) {
        LOG_ERROR("rgroup fsm restore failed group=%u err=%s", (unsigned)g->group_id,
                  eddy_strerror(rv));
        return RAFT_IOERR;
    }
    raft_free(buf->base); /* ownership passed to the FSM side on success */
    buf->base = NULL;
    return 0;
}

/* --- leadership --- */

static void rgroup_notify(struct rgroup *g)
{
    g->is_notify_due = false;
    if (g->state_cb != NULL) {
        g->state_cb(g->state_arg, g);
    }
}

/* A leader may serve only when it has all its data and is not handing
 * leadership to another replica (0.15 refuses entries meanwhile). */
static bool rgroup_may_be_ready(const struct rgroup *g)
{
    return !g->is_hydrating && g->raft.transfer == NULL && g->transfer_wait == NULL;
}

static void rgroup_on_barrier(struct raft_barrier *req, int status)
{
    struct rgroup *g = container_of(req, struct rgroup, barrier);
    EDDY_ASSERT(g->is_barrier_inflight);
    g->is_barrier_inflight = false;
    if (g->state != RGROUP_STARTED) {
        return;
    }
    if (status != 0 || raft_state(&g->raft) != RAFT_LEADER ||
        g->raft.current_term != g->barrier_term) {
        LOG_DEBUG("rgroup election barrier failed group=%u err=%s", (unsigned)g->group_id,
                  status != 0 ? raft_strerror(status) : "term changed");
        return; /* the poll timer retries while still leader */
    }
    g->ready_term = g->barrier_term;
    if (!rgroup_may_be_ready(g)) {
        return; /* hydrating or handing leadership over: the poll decides */
    }
    g->is_ready = true;
    g->leader_id = g->node_id;
    LOG_INFO("rgroup ready group=%u node=%llu term=%llu", (unsigned)g->group_id,
             (unsigned long long)g->node_id, (unsigned long long)g->ready_term);
    rgroup_notify(g);
}

static void rgroup_barrier_issue(struct rgroup *g)
{
    EDDY_ASSERT(!g->is_barrier_inflight);
    g->barrier_term = g->raft.current_term;
    g->barrier.data = g;
    int rv = raft_barrier(&g->raft, &g->barrier, rgroup_on_barrier);
    if (rv != 0) {
        LOG_DEBUG("rgroup barrier refused group=%u err=%s", (unsigned)g->group_id,
                  raft_strerror(rv));
        return;
    }
    g->is_barrier_inflight = true;
    g->leader_index_max = raft_last_index(&g->raft);
}

/* Samples raft's state: readiness and the known leader. A leader is ready
 * once its election barrier is applied in its current term, and only while
 * rgroup_may_be_ready holds; a leader that stopped being ready in the term
 * of its barrier (a hand-off that failed, hydration done) is ready again
 * without a new barrier. */
static void rgroup_refresh(struct rgroup *g)
{
    if (g->state != RGROUP_STARTED) {
        return;
    }
    bool changed = g->is_notify_due;
    raft_id leader_id = 0;
    const char *leader_addr = NULL;
    raft_leader(&g->raft, &leader_id, &leader_addr);
    if (leader_id != g->leader_id) {
        g->leader_id = leader_id;
        changed = true;
    }
    bool is_leader = raft_state(&g->raft) == RAFT_LEADER;
    bool is_term_ready = is_leader && g->ready_term == g->raft.current_term;
    bool should_be_ready = is_term_ready && rgroup_may_be_ready(g);
    if (g->is_ready != should_be_ready) {
        g->is_ready = should_be_ready;
        changed = true;
    }
    if (is_leader && !is_term_ready && !g->is_barrier_inflight && rgroup_may_be_ready(g)) {
        rgroup_barrier_issue(g);
    }
    if (changed) {
        LOG_DEBUG("rgroup state group=%u node=%llu leader=%llu ready=%d", (unsigned)g->group_id,
                  (unsigned long long)g->node_id, (unsigned long long)g->leader_id, g->is_ready);
        rgroup_notify(g);
    }
}

static void rgroup_close_raft(struct rgroup *g);

/* True once no entry this replica appended as leader waits for its disk
 * write (only rgroup appends entries as leader: proposals and barriers).
 * Follower appends are safe to cancel in 0.15. */
static bool rgroup_is_drained(struct rgroup *g)
{
    return g->raft.last_stored >= g->leader_index_max ||
           g->raft.last_stored >= raft_last_index(&g->raft);
}

static void rgroup_on_poll(uv_timer_t *timer)
{
    struct rgroup *g = timer->data;
    rgroup_result_flush(g);
    if (g->state == RGROUP_DRAINING) {
        bool is_late = uv_now(g->loop) >= g->drain_deadline_ms;
        if (is_late) {
            LOG_WARN("rgroup closing with unstored entries group=%u stored=%llu last=%llu",
                     (unsigned)g->group_id, (unsigned long long)g->raft.last_stored,
                     (unsigned long long)raft_last_index(&g->raft));
        }
        if (is_late || rgroup_is_drained(g)) {
            rgroup_close_raft(g);
        }
        return;
    }
    rgroup_refresh(g);
    if (g->state == RGROUP_STARTED) {
        rgroup_change_poll(g); /* the state callback may have closed the group */
    }
}

/* --- lifecycle --- */

static void rgroup_io_close(struct raft_io *io, raft_io_close_cb cb);
static int rgroup_io_send(struct raft_io *io,
                          struct raft_io_send *req,
                          const struct raft_message *message,
                          raft_io_send_cb cb);

/* mkdir -p, blocking: called once per replica at start-up. */
static int rgroup_mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strnlen(dir, sizeof(path));
    if (len == 0 || len >= sizeof(path)) {
        return -ENAMETOOLONG;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return -errno;
        }
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return -ENOTDIR;
    }
    return 0;
}

static int rgroup_config_check(const struct rgroup_config *cfg,
                               const struct rgroup_fsm *fsm,
                               const char **self_addr)
{
    if (cfg->node_id == 0 || cfg->dir == NULL || cfg->peers == NULL || cfg->peer_count == 0 ||
        cfg->peer_count > RGROUP_PEERS_MAX) {
        return -EDDY_EINVAL;
    }
    if (cfg->segment_bytes != 0 && cfg->segment_bytes < RGROUP_SEGMENT_BYTES_MIN) {
        return -EDDY_EINVAL;
    }
    if (fsm->apply == NULL || fsm->snapshot == NULL || fsm->restore == NULL) {
        return -EDDY_EINVAL;
    }
    *self_addr = NULL;
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        const struct rgroup_peer *p = &cfg->peers[i];
        if (p->node_id == 0 || p->raft_addr == NULL || p->raft_addr[0] == '\0') {
            return -EDDY_EINVAL;
        }
        if (p->node_id == cfg->node_id) {
            *self_addr = p->raft_addr;
        }
    }
    return *self_addr != NULL ? 0 : -EDDY_EINVAL;
}

static int rgroup_conf_build(struct raft_configuration *conf, const struct rgroup_config *cfg)
{
    raft_configuration_init(conf);
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        int rv = raft_configuration_add(conf, cfg->peers[i].node_id, cfg->peers[i].raft_addr,
                                        RAFT_VOTER);
        if (rv != 0) {
            raft_configuration_close(conf);
            return rgroup_errno_from_raft(rv);
        }
    }
    return 0;
}

/* raft_fsm version 1 over the envelope adapter. */
static void rgroup_fsm_bind(struct rgroup *g)
{
    g->raft_fsm.version = 1;
    g->raft_fsm.data = g;
    g->raft_fsm.apply = rgroup_fsm_apply;
    g->raft_fsm.snapshot = rgroup_fsm_snapshot;
    g->raft_fsm.restore = rgroup_fsm_restore;
}

/* Timeouts, pre-vote and snapshot policy (notes/raft-0.15.md 4.4, 5.2). */
static void rgroup_raft_tune(struct rgroup *g, const struct rgroup_config *cfg)
{
    g->raft.data = g;
    raft_set_election_timeout(&g->raft, cfg->election_timeout_ms ? cfg->election_timeout_ms
                                                                 : RAFT_ELECTION_TIMEOUT_MS);
    raft_set_heartbeat_timeout(&g->raft, cfg->heartbeat_timeout_ms ? cfg->heartbeat_timeout_ms
                                                                   : RAFT_HEARTBEAT_TIMEOUT_MS);
    raft_set_pre_vote(&g->raft, true);
    /* Nothing recorded yet: no snapshot until the entries applied reach the
     * budget, RAFT_SNAPSHOT_TRAILING_MIN until the first snapshot sizes it. */
    rgroup_threshold_set(g, RLOG_BUDGET_THRESHOLD_IDLE);
    rgroup_trailing_set(g, RAFT_SNAPSHOT_TRAILING_MIN);
}

int rgroup_init(struct rgroup **out,
                uv_loop_t *loop,
                struct rmux *mux,
                const struct rgroup_config *cfg,
                const struct rgroup_fsm *fsm)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(mux != NULL);
    EDDY_ASSERT(cfg != NULL);
    EDDY_ASSERT(fsm != NULL);
    const char *self_addr;
    int rv = rgroup_config_check(cfg, fsm, &self_addr);
    if (rv != 0) {
        return rv;
    }
    rv = rgroup_mkdir_p(cfg->dir);
    if (rv != 0) {
        LOG_ERROR("rgroup mkdir failed dir=%s err=%s", cfg->dir, eddy_strerror(rv));
        return rv;
    }
    struct rgroup *g = eddy_calloc(1, sizeof(*g));
    if (g == NULL) {
        return -ENOMEM;
    }
    g->loop = loop;
    g->fsm = fsm;
    g->state = RGROUP_INITED;
    g->group_id = cfg->group_id;
    g->node_id = cfg->node_id;
    g->is_join = cfg->join;
    rlog_budget_init(&g->budget,
                     rgroup_log_bytes_max(cfg->snapshot_log_bytes ? cfg->snapshot_log_bytes
                                                                  : RAFT_SNAPSHOT_LOG_BYTES,
                                          cfg->group_id),
                     cfg->trailing_log_bytes ? cfg->trailing_log_bytes
                                             : RAFT_SNAPSHOT_TRAILING_BYTES,
                     RGROUP_SNAPSHOT_THRESHOLD_MIN);
    list_init(&g->inflight);
    list_init(&g->deferred);
    list_init(&g->ops_done);
    rv = rgroup_conf_build(&g->conf, cfg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    rv = rmux_transport_init(mux, cfg->group_id, &g->transport);
    if (rv != 0) {
        goto err_after_conf;
    }
    rv = raft_uv_init(&g->io, loop, cfg->dir, &g->transport);
    if (rv != 0) {
        LOG_ERROR("rgroup raft_uv_init failed group=%u dir=%s err=%s", (unsigned)g->group_id,
                  cfg->dir, g->io.errmsg);
        rv = rgroup_errno_from_raft(rv);
        goto err_after_transport;
    }
    raft_uv_set_segment_size(&g->io, cfg->segment_bytes ? cfg->segment_bytes : RAFT_SEGMENT_BYTES);
    raft_uv_set_connect_retry_delay(&g->io, RAFT_CONNECT_RETRY_MS);
    g->uv_io_close = g->io.close;
    g->io.close = rgroup_io_close;
    g->uv_io_send = g->io.send;
    g->io.send = rgroup_io_send;
    rgroup_fsm_bind(g);
    /* raft_init runs the raft_uv probes and the transport's init; it is the
     * last step that can fail, and leaves no handle behind when it does. */
    rv = raft_init(&g->raft, &g->io, &g->raft_fsm, cfg->node_id, self_addr);
    if (rv != 0) {
        LOG_ERROR("rgroup raft_init failed group=%u dir=%s rv=%d err=%s", (unsigned)g->group_id,
                  cfg->dir, rv, raft_errmsg(&g->raft));
        rv = rgroup_errno_from_raft(rv);
        goto err_after_io;
    }
    rgroup_raft_tune(g, cfg);
    rv = uv_timer_init(loop, &g->poll);
    EDDY_ASSERT(rv == 0);
    rv = uv_idle_init(loop, &g->defer);
    EDDY_ASSERT(rv == 0);
    g->poll.data = g;
    g->defer.data = g;
    *out = g;
    return 0;

err_after_io:
    raft_uv_close(&g->io);
err_after_transport:
    rmux_transport_close(&g->transport);
err_after_conf:
    raft_configuration_close(&g->conf);
err_after_alloc:
    eddy_free(g);
    return rv;
}

void rgroup_set_state_cb(struct rgroup *g, rgroup_state_cb cb, void *arg)
{
    EDDY_ASSERT(g != NULL);
    g->state_cb = cb;
    g->state_arg = arg;
}

int rgroup_start(struct rgroup *g)
{
    EDDY_ASSERT(g != NULL);
    EDDY_ASSERT(g->state == RGROUP_INITED);
    /* Join mode: a pristine replica starts with no configuration, so 0.15
     * keeps it a follower that never campaigns until a leader's entries
     * make it a member (tickFollower skips servers not in the config). */
    int rv = g->is_join ? RAFT_CANTBOOTSTRAP : raft_bootstrap(&g->raft, &g->conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
        LOG_ERROR("rgroup bootstrap failed group=%u err=%s", (unsigned)g->group_id,
                  raft_errmsg(&g->raft));
        return rgroup_errno_from_raft(rv);
    }
    rv = raft_start(&g->raft);
    if (rv != 0) {
        LOG_ERROR("rgroup start failed group=%u err=%s", (unsigned)g->group_id,
                  raft_errmsg(&g->raft));
        return rgroup_errno_from_raft(rv);
    }
    raft_configuration_close(&g->conf);
    raft_configuration_init(&g->conf);
    rgroup_set_state(g, RGROUP_STARTED);
    rv = uv_timer_start(&g->poll, rgroup_on_poll, RGROUP_POLL_MS, RGROUP_POLL_MS);
    EDDY_ASSERT(rv == 0);
    LOG_INFO("rgroup started group=%u node=%llu last_index=%llu join=%d", (unsigned)g->group_id,
             (unsigned long long)g->node_id, (unsigned long long)raft_last_index(&g->raft),
             g->is_join);
    rgroup_refresh(g);
    return 0;
}

void rgroup_propose(
    struct rgroup *g, const uint8_t *payload, size_t len, rgroup_propose_cb cb, void *arg)
{
    EDDY_ASSERT(payload != NULL || len == 0);
    rgroup_propose_packed(g, len, rgroup_pack_copy, payload, cb, arg);
}

void rgroup_propose_packed(struct rgroup *g,
                           size_t len,
                           rgroup_pack_cb pack,
                           const void *pack_arg,
                           rgroup_propose_cb cb,
                           void *arg)
{
    EDDY_ASSERT(g != NULL);
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(pack != NULL);
    struct rgroup_prop *prop = eddy_xcalloc(1, sizeof(*prop));
    prop->g = g;
    prop->cb = cb;
    prop->arg = arg;
    list_init(&prop->link);
    if (g->state == RGROUP_DRAINING || g->state == RGROUP_CLOSING) {
        rgroup_defer(g, prop, -EDDY_ESHUTDOWN);
        return;
    }
    if (len > RGROUP_PAYLOAD_BYTES_MAX) {
        rgroup_defer(g, prop, -EDDY_ETOOBIG);
        return;
    }
    if (!g->is_ready) {
        rgroup_defer(g, prop, -EDDY_ENOTLEADER);
        return;
    }
    size_t bytes = rgroup_envelope_bytes(len);
    if (g->inflight_bytes + bytes > GROUP_PENDING_BYTES_MAX) {
        rgroup_defer(g, prop, -EDDY_EFULL);
        return;
    }
    struct raft_buffer buf = {.base = rgroup_envelope_create(len, pack, pack_arg), .len = bytes};
    if (buf.base == NULL) {
        rgroup_defer(g, prop, -ENOMEM);
        return;
    }
    prop->req.data = prop;
    int rv = raft_apply(&g->raft, &prop->req, &buf, 1, rgroup_on_applied);
    if (rv != 0) {
        raft_free(buf.base); /* raft_apply takes ownership only on success */
        rgroup_defer(g, prop, rgroup_errno_from_raft(rv));
        return;
    }
    prop->bytes = bytes;
    g->inflight_bytes += bytes;
    g->leader_index_max = prop->req.index;
    list_push(&g->inflight, &prop->link);
}

bool rgroup_is_ready(const struct rgroup *g)
{
    return g->is_ready;
}

uint64_t rgroup_leader(const struct rgroup *g)
{
    return g->leader_id;
}

uint64_t rgroup_applied_index(const struct rgroup *g)
{
    return g->raft.last_applied;
}

uint64_t rgroup_last_index(const struct rgroup *g)
{
    /* raft_last_index() only reads but takes a non-const pointer. */
    return raft_last_index((struct raft *)&g->raft);
}

uint32_t rgroup_id(const struct rgroup *g)
{
    return g->group_id;
}

/* The last step of a close: raft and raft_uv are done, and so is every
 * handle raft_uv closed before it called back. */
static void rgroup_finish_close(struct rgroup *g)
{
    EDDY_ASSERT(g->is_raft_closed);
    raft_uv_close(&g->io);
    rmux_transport_close(&g->transport);
    raft_configuration_close(&g->conf);
    rgroup_result_flush(g);
    /* raft_close failed every pending request already; this is a backstop. */
    while (!list_is_empty(&g->inflight)) {
        struct rgroup_prop *prop = container_of(g->inflight.next, struct rgroup_prop, link);
        LOG_WARN("rgroup proposal left after close group=%u", (unsigned)g->group_id);
        list_remove(&prop->link);
        g->inflight_bytes -= prop->bytes;
        rgroup_propose_cb cb = prop->cb;
        void *arg = prop->arg;
        eddy_free(prop);
        cb(arg, -EDDY_EUNKNOWN, NULL);
    }
    rgroup_change_close(g);
    /* Callbacks may make new calls; those fail with -EDDY_ESHUTDOWN. */
    while (!list_is_empty(&g->deferred) || rgroup_change_has_done(g)) {
        rgroup_deferred_run(g);
        rgroup_change_run_done(g);
    }
    rgroup_close_cb cb = g->close_cb;
    void *arg = g->close_arg;
    LOG_INFO("rgroup closed group=%u node=%llu", (unsigned)g->group_id,
             (unsigned long long)g->node_id);
    eddy_free(g);
    if (cb != NULL) {
        cb(arg);
    }
}

static void rgroup_on_defer_closed(uv_handle_t *handle)
{
    rgroup_finish_close(handle->data);
}

/* One closing round after raft called back: every handle closed before
 * then has closed by now, so closing the idle handle from here puts the
 * free after all of them (libuv runs the handles closed during one round
 * in the next, the most recently closed first). */
static void rgroup_on_poll_closed(uv_handle_t *handle)
{
    struct rgroup *g = handle->data;
    uv_close((uv_handle_t *)&g->defer, rgroup_on_defer_closed);
}

static void rgroup_on_raft_close(struct raft *r)
{
    struct rgroup *g = r->data;
    EDDY_ASSERT(!g->is_raft_closed);
    g->is_raft_closed = true;
    uv_close((uv_handle_t *)&g->poll, rgroup_on_poll_closed);
}

/* raft_uv's io close callback; forwards the first call to raft only. A
 * repeat comes from an open segment's writer close (see the top of this
 * file), which reads raft_uv's state and this group's transport. The
 * writer's handles were closed before raft_uv first called back, so they
 * have all closed two closing rounds later (rgroup_on_poll_closed), when
 * the group is freed. */
static void rgroup_on_io_closed(struct raft_io *io)
{
    struct rgroup *g = container_of(io, struct rgroup, io);
    g->io_close_calls++;
    if (g->io_close_calls > 1) {
        LOG_DEBUG("rgroup raft_uv close callback repeated group=%u calls=%u", (unsigned)g->group_id,
                  g->io_close_calls);
        return;
    }
    g->io_close_cb(io); /* raft's ioCloseCb: ends in rgroup_on_raft_close */
}

/* Installed as io.close, so raft_close reaches raft_uv through here. */
/* raft 0.15's follower answers an append once its write completes, to the
 * leader it knows then, and that may be none (an election timeout cleared
 * it meanwhile): raft_uv's send would strlen(NULL) (a SIGSEGV seen under
 * load). With no address the message could not be delivered anyway: fail
 * it as a lost connection, which every sender in raft handles by freeing
 * req (no callback). */
static int rgroup_io_send(struct raft_io *io,
                          struct raft_io_send *req,
                          const struct raft_message *message,
                          raft_io_send_cb cb)
{
    struct rgroup *g = container_of(io, struct rgroup, io);
    if (message->server_address == NULL || message->server_address[0] == '\0') {
        LOG_DEBUG("rgroup send without an address dropped group=%u type=%d to=%llu",
                  (unsigned)g->group_id, (int)message->type,
                  (unsigned long long)message->server_id);
        return RAFT_NOCONNECTION;
    }
    return g->uv_io_send(io, req, message, cb);
}

static void rgroup_io_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct rgroup *g = container_of(io, struct rgroup, io);
    EDDY_ASSERT(g->io_close_cb == NULL);
    g->io_close_cb = cb;
    g->uv_io_close(io, rgroup_on_io_closed);
}

static void rgroup_close_raft(struct rgroup *g)
{
    rgroup_set_state(g, RGROUP_CLOSING);
    /* Stopped, not closed: rgroup_on_raft_close closes them, so that the
     * group outlives raft_uv's own handles (rgroup_on_poll_closed). */
    uv_timer_stop(&g->poll);
    uv_idle_stop(&g->defer);
    /* Fails pending apply and barrier requests synchronously (EUNKNOWN). */
    raft_close(&g->raft, rgroup_on_raft_close);
}

/* Contract: callable once, from any rgroup callback too. A started group
 * first drains (see the top of this file), then closes raft. Every
 * proposal's callback runs exactly once before cb: 0 or -EDDY_EUNKNOWN for
 * those handed to raft, -EDDY_ESHUTDOWN for those made from now on. The
 * group is freed right before cb. */
void rgroup_close(struct rgroup *g, rgroup_close_cb cb, void *arg)
{
    EDDY_ASSERT(g != NULL);
    EDDY_ASSERT(g->state == RGROUP_INITED || g->state == RGROUP_STARTED);
    g->close_cb = cb;
    g->close_arg = arg;
    g->is_ready = false;
    if (g->state == RGROUP_STARTED) {
        /* Proposals now fail with -EDDY_ESHUTDOWN and no barrier is issued,
         * so no entry is added; the poll timer closes raft once stored.
         * Going through the timer also keeps raft_close out of raft's own
         * callbacks, from which this may be called. */
        rgroup_set_state(g, RGROUP_DRAINING);
        g->drain_deadline_ms = uv_now(g->loop) + RGROUP_CLOSE_DRAIN_MS;
        int rv = uv_timer_start(&g->poll, rgroup_on_poll, 0, RGROUP_POLL_MS);
        EDDY_ASSERT(rv == 0);
        return;
    }
    rgroup_close_raft(g);
}
