/*
 * Shard server: the groups this node hosts and the data RPCs on them.
 *
 * A PutRecords call joins the group's open batch: its records are referenced
 * (not copied) from the decoded request, which the call owns until it is
 * answered. A batch is packed into one GroupEntry and proposed when the
 * group has fewer than SERVER_BATCHES_INFLIGHT_MAX entries in flight, so
 * under load calls that arrive while entries are being committed share the
 * next entry (group commit).
 */
#include "shard_server.h"
#include "hydrate.h"
#include "segment.h"
#include "shard_fsm.h"
#include "shard_lease.h"
#include "shard_rate.h"
#include "shard_wait.h"
#include "throttle.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/placement.h"
#include "eddy/rpc_status.h"
#include "group.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SERVER_BATCHES_INFLIGHT_MAX 4
/* Voters a GroupStatus lists at most: a group's replicas and one being
 * added, with room to spare (the coordinator ignores longer lists). */
#define SERVER_STATUS_VOTERS_MAX 16
#define SERVER_PATH_MAX 4096

struct batch_waiter {
    struct rpc_call *call;
    size_t first; /* index of the call's first record in the entry */
    size_t count; /* the call's records in the entry */
    /* NULL, or one flag per request record: refused by throttle_put, not in
     * the entry, answered -EDDY_ETHROTTLED (owned). */
    uint8_t *refused;
    /* The call's records in the entry, one block (owned): not one malloc
     * per record (docs/BENCHMARKS.md, 2026-11-26). */
    Eddy__EntryRecord *records;
};

/* Records of one or more calls on their way into one Raft entry. */
struct batch {
    struct sgroup *group;
    Eddy__GroupEntry entry;
    size_t streams_cap;
    size_t records_cap;
    struct batch_waiter *waiters;
    size_t waiter_count;
    size_t waiter_cap;
    size_t bytes;
    /* Single-purpose entries (create shards, drop stream) answer one call. */
    struct rpc_call *control_call;
};

struct sgroup {
    struct shard_server *server;
    uint32_t id;
    struct rgroup *raft;
    struct shard_fsm *fsm;
    struct rgroup_fsm adapter;
    struct batch *open; /* accumulating, not yet proposed */
    unsigned inflight;
    uint64_t queued_bytes;
    uint64_t last_stamp_ms;
    bool closed;
    struct hydrate *hydrate; /* fetches files a restored manifest names and this replica lacks */
    /* shard_server_remove_group: called once the replica closed; NULL when
     * the whole server closes. */
    void (*removed_cb)(void *arg);
    void *removed_arg;
};

struct shard_server {
    uv_loop_t *loop;
    uint64_t node_id;
    /* Hosted groups in ascending id order, each eddy_malloc'd, so a group
     * added or removed at run time moves no other group. group_cap is
     * cfg.group_count: every id is at most that. */
    struct sgroup **groups;
    uint32_t group_count;
    uint32_t group_cap;
    struct rmux *mux;               /* borrowed; for groups added at run time */
    struct shard_server_config cfg; /* its pointers borrowed likewise */
    unsigned removing;              /* groups closing in shard_server_remove_group */
    unsigned fetches_serving;       /* FetchSegment reads on the threadpool */
    unsigned closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    /* Per-shard write and read limits (throttle.h); NULL: none. */
    struct throttle *throttle;
    struct shard_wait *wait;    /* parked push reads (SubscribeToShard) */
    struct shard_lease *leases; /* who holds each (consumer, shard) it serves (ADR 0008) */
    /* Write rates of the shards it leads, for on-demand scaling (shard_rate.h). */
    struct shard_rate *rates;
    bool is_draining; /* shard_server_set_draining; groups added later drain too */
};

static void
server_on_wait(void *arg, struct shard_wait_woken *woken, size_t count, enum shard_wait_wake why);
static void server_on_group_state(void *arg, struct rgroup *raft);

static uint64_t server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- hydration (hydrate.h) ---- */

static unsigned server_add_source(uint64_t *ids, unsigned n, unsigned max, uint64_t id)
{
    for (unsigned i = 0; i < n; i++) {
        if (ids[i] == id) {
            return n;
        }
    }
    if (n < max) {
        ids[n++] = id;
    }
    return n;
}

/* Where a hydrating replica fetches from: the leader hint, the other voters,
 * then every other node it knows (the configuration may not have reached a
 * replica that was just added). */
static unsigned server_hydrate_sources(void *arg, uint64_t *ids, unsigned max)
{
    struct sgroup *g = arg;
    uint64_t self = g->server->node_id;
    uint64_t voters[HYDRATE_SOURCES_MAX];
    unsigned n = 0;
    uint64_t leader = rgroup_leader(g->raft);
    if (leader != 0 && leader != self) {
        n = server_add_source(ids, n, max, leader);
    }
    unsigned voter_count = rgroup_voters(g->raft, voters, HYDRATE_SOURCES_MAX);
    for (unsigned i = 0; i < voter_count && i < HYDRATE_SOURCES_MAX; i++) {
        n = voters[i] != self ? server_add_source(ids, n, max, voters[i]) : n;
    }
    return n;
}

static void server_hydrate_state(void *arg, bool is_hydrating)
{
    struct sgroup *g = arg;
    rgroup_set_hydrating(g->raft, is_hydrating);
}

static int server_hydrate_init(struct sgroup *g, const struct shard_server_config *cfg)
{
    struct hydrate_config hc = {
        .group_id = g->id,
        .node_id = cfg->node_id,
        .peers = cfg->rpc_peers,
        .peer_count = cfg->rpc_peer_count,
        .sources = server_hydrate_sources,
        .state = server_hydrate_state,
        .arg = g,
    };
    return hydrate_init(&g->hydrate, g->server->loop, g->fsm, &hc);
}

/* This node's position in cfg->peers, or cfg->peer_count if it is absent. */
static unsigned server_self_pos(const struct shard_server_config *cfg)
{
    unsigned pos = 0;
    while (pos < cfg->peer_count && cfg->peers[pos].node_id != cfg->node_id) {
        pos++;
    }
    return pos;
}

/* Whether the node at position self of cfg->peers starts a replica of
 * group id: cfg->hosted, or placement.h's rule without it. */
static bool server_config_hosts(const struct shard_server_config *cfg, unsigned self, uint32_t id)
{
    if (cfg->hosted == NULL) {
        return placement_is_replica(id, cfg->peer_count, self);
    }
    for (unsigned i = 0; i < cfg->hosted_count; i++) {
        if (cfg->hosted[i] == id) {
            return true;
        }
    }
    return false;
}

/* Creates the directories, state machine, Raft replica and hydration of
 * group id, whose voters are the peers placement.h gives it (used only
 * when it bootstraps). */
static int server_group_init(struct shard_server *s,
                             struct sgroup *g,
                             uint32_t id,
                             struct rmux *mux,
                             const struct shard_server_config *cfg)
{
    g->server = s;
    g->id = id;
    char path[SERVER_PATH_MAX];
    snprintf(path, sizeof(path), "%s/groups/%u", cfg->data_dir, g->id);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    char raft_dir[SERVER_PATH_MAX];
    int n = snprintf(raft_dir, sizeof(raft_dir), "%s/groups/%u/raft", cfg->data_dir, g->id);
    if (n < 0 || (size_t)n >= sizeof(raft_dir)) {
        return -ENAMETOOLONG;
    }
    unsigned pos[PLACEMENT_REPLICAS];
    unsigned replica_count = placement_group_replicas(id, cfg->peer_count, pos);
    struct rgroup_peer replicas[PLACEMENT_REPLICAS];
    bool is_placed = false;
    for (unsigned k = 0; k < replica_count; k++) {
        replicas[k] = cfg->peers[pos[k]];
        is_placed = is_placed || replicas[k].node_id == cfg->node_id;
    }
    if (!is_placed) {
        /* A group this node was given after the first boot: it never
         * bootstraps, raft only needs this node's own address. */
        unsigned self = server_self_pos(cfg);
        if (!cfg->join || self == cfg->peer_count) {
            return -EDDY_EINVAL;
        }
        replicas[0] = cfg->peers[self];
        replica_count = 1;
    }
    shard_fsm_create(&g->fsm, path, g->id);
    shard_fsm_adapter(g->fsm, &g->adapter);
    struct rgroup_config rc = {
        .group_id = g->id,
        .node_id = cfg->node_id,
        .dir = raft_dir,
        .peers = replicas,
        .peer_count = replica_count,
        .join = cfg->join,
    };
    int rv = rgroup_init(&g->raft, s->loop, mux, &rc, &g->adapter);
    if (rv != 0) {
        LOG_ERROR("group=%u raft init failed: %s", g->id, eddy_strerror(rv));
        shard_fsm_destroy(g->fsm);
        return rv;
    }
    rgroup_set_state_cb(g->raft, server_on_group_state, g);
    rv = server_hydrate_init(g, cfg);
    if (rv != 0) {
        LOG_ERROR("group=%u hydrate init failed: %s", g->id, eddy_strerror(rv));
    }
    return rv;
}

int shard_server_init(struct shard_server **out,
                      uv_loop_t *loop,
                      struct rmux *mux,
                      const struct shard_server_config *cfg)
{
    EDDY_ASSERT(cfg->peer_count >= 1);
    struct shard_server *s = eddy_xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->node_id = cfg->node_id;
    s->mux = mux;
    s->cfg = *cfg;
    s->cfg.hosted = NULL; /* only read here */
    s->group_cap = cfg->group_count ? cfg->group_count : 1;
    s->groups = eddy_xcalloc(s->group_cap, sizeof(*s->groups));
    char path[SERVER_PATH_MAX];
    snprintf(path, sizeof(path), "%s/groups", cfg->data_dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        int rv = -errno;
        eddy_free(s->groups);
        eddy_free(s);
        return rv;
    }
    if (cfg->limits != NULL) {
        throttle_create(&s->throttle, cfg->limits);
    }
    shard_rate_create(&s->rates);
    shard_wait_init(&s->wait, loop, s->group_cap, server_on_wait, s);
    shard_lease_create(&s->leases);
    unsigned self = server_self_pos(cfg);
    int rv = 0;
    for (uint32_t id = 1; self < cfg->peer_count && id <= cfg->group_count; id++) {
        if (!server_config_hosts(cfg, self, id)) {
            continue;
        }
        struct sgroup *g = eddy_xcalloc(1, sizeof(*g));
        rv = server_group_init(s, g, id, mux, cfg);
        if (rv != 0) {
            eddy_free(g);
            break;
        }
        s->groups[s->group_count++] = g;
    }
    /* On failure the groups made so far were never started; their close is
     * synchronous enough for start-up failure, which ends the process
     * anyway. */
    LOG_INFO("shard server node=%" PRIu64 " hosts %u of %" PRIu32 " groups", s->node_id,
             s->group_count, cfg->group_count);
    *out = s;
    return rv;
}

int shard_server_start(struct shard_server *s)
{
    for (uint32_t i = 0; i < s->group_count; i++) {
        int rv = rgroup_start(s->groups[i]->raft);
        if (rv != 0) {
            LOG_ERROR("group=%u raft start failed: %s", s->groups[i]->id, eddy_strerror(rv));
            return rv;
        }
    }
    return 0;
}

/* Where group id is in s->groups, or where it would go. The groups are in
 * id order, at most CONFIG_GROUPS_MAX of them. */
static uint32_t server_group_pos(const struct shard_server *s, uint32_t id)
{
    uint32_t lo = 0;
    uint32_t hi = s->group_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->groups[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The hosted group id, or NULL (not hosted here, or closed). */
static struct sgroup *server_group(struct shard_server *s, uint32_t id)
{
    uint32_t pos = server_group_pos(s, id);
    if (pos == s->group_count || s->groups[pos]->id != id || s->groups[pos]->closed) {
        return NULL;
    }
    return s->groups[pos];
}

/* ---- batches ---- */

static struct batch *batch_create(struct sgroup *g)
{
    struct batch *b = eddy_xcalloc(1, sizeof(*b));
    b->group = g;
    eddy__group_entry__init(&b->entry);
    return b;
}

static void batch_destroy(struct batch *b)
{
    for (size_t i = 0; i < b->entry.n_streams; i++) {
        eddy_free(b->entry.streams[i]);
    }
    eddy_free(b->entry.streams);
    eddy_free(b->entry.records); /* the records: in their waiters' blocks */
    eddy_free(b->entry.create_shards);
    eddy_free(b->entry.close_shards);
    for (size_t i = 0; i < b->waiter_count; i++) {
        eddy_free(b->waiters[i].refused);
        eddy_free(b->waiters[i].records);
    }
    eddy_free(b->waiters);
    eddy_free(b);
}

/* Index of the stream in the entry's stream table, added if new. The name
 * is borrowed from the request, which outlives the batch. */
static uint32_t batch_stream_ref(struct batch *b, const char *name, uint64_t created_ms)
{
    for (size_t i = 0; i < b->entry.n_streams; i++) {
        const Eddy__StreamRef *r = b->entry.streams[i];
        if (r->created_ms == created_ms && strcmp(r->name, name) == 0) {
            return (uint32_t)i;
        }
    }
    if (b->entry.n_streams == b->streams_cap) {
        b->streams_cap = b->streams_cap ? b->streams_cap * 2 : 4;
        b->entry.streams = eddy_xrealloc(b->entry.streams, b->streams_cap * sizeof(void *));
    }
    Eddy__StreamRef *r = eddy_xmalloc(sizeof(*r));
    eddy__stream_ref__init(r);
    r->name = (char *)name;
    r->created_ms = created_ms;
    b->entry.streams[b->entry.n_streams] = r;
    return (uint32_t)b->entry.n_streams++;
}

/* Adds the call's records but those refused flags (NULL: none); takes
 * ownership of refused. */
static void batch_add_call(struct batch *b, struct rpc_call *call, size_t bytes, uint8_t *refused)
{
    const Eddy__PutRecordsReq *req = rpc_call_request(call)->put_records;
    uint32_t ref = batch_stream_ref(b, req->stream, req->stream_created_ms);
    if (b->waiter_count == b->waiter_cap) {
        b->waiter_cap = b->waiter_cap ? b->waiter_cap * 2 : 8;
        b->waiters = eddy_xrealloc(b->waiters, b->waiter_cap * sizeof(*b->waiters));
    }
    Eddy__EntryRecord *block = eddy_xmalloc(req->n_records * sizeof(*block));
    b->waiters[b->waiter_count++] = (struct batch_waiter){.call = call,
                                                          .first = b->entry.n_records,
                                                          .count = req->n_records,
                                                          .refused = refused,
                                                          .records = block};
    size_t need = b->entry.n_records + req->n_records;
    if (need > b->records_cap) {
        while (b->records_cap < need) {
            b->records_cap = b->records_cap ? b->records_cap * 2 : 64;
        }
        b->entry.records = eddy_xrealloc(b->entry.records, b->records_cap * sizeof(void *));
    }
    for (size_t i = 0; i < req->n_records; i++) {
        if (refused != NULL && refused[i]) {
            b->waiters[b->waiter_count - 1].count--;
            continue;
        }
        const Eddy__PutRecord *in = req->records[i];
        Eddy__EntryRecord *r = &block[i];
        eddy__entry_record__init(r);
        r->stream_ref = ref;
        r->shard = in->shard;
        r->partition_key = in->partition_key;
        r->data = in->data;
        r->encryption = req->encryption;
        b->entry.records[b->entry.n_records++] = r;
    }
    b->bytes += bytes;
}

/* One result per request record: the entry's, or -EDDY_ETHROTTLED for a
 * record w->refused flags. res is NULL only when every record was refused. */
static void batch_reply_put(struct batch_waiter *w, const struct shard_fsm_result *res)
{
    size_t n = rpc_call_request(w->call)->put_records->n_records;
    EDDY_ASSERT(res != NULL || w->count == 0);
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__PutRecordsResp pr = EDDY__PUT_RECORDS_RESP__INIT;
    pr.status = &st;
    pr.arrival_ms = res != NULL ? res->arrival_ms : 0;
    pr.n_results = n;
    pr.results = eddy_xcalloc(n ? n : 1, sizeof(*pr.results));
    Eddy__PutResult *results = eddy_xcalloc(n ? n : 1, sizeof(*results));
    uint8_t *seqs = eddy_xcalloc(n ? n : 1, 16);
    size_t k = w->first; /* the next record of the call in the entry */
    for (size_t i = 0; i < n; i++) {
        eddy__put_result__init(&results[i]);
        if (w->refused != NULL && w->refused[i]) {
            results[i].code = -EDDY_ETHROTTLED;
        } else {
            results[i].code = res->codes[k];
            u128_to_be(res->seqs[k], seqs + 16 * i);
            k++;
        }
        results[i].sequence.data = seqs + 16 * i;
        results[i].sequence.len = 16;
        pr.results[i] = &results[i];
    }
    Eddy__Frame resp = EDDY__FRAME__INIT;
    resp.body_case = EDDY__FRAME__BODY_PUT_RECORDS_RESP;
    resp.put_records_resp = &pr;
    EDDY_ASSERT(k == w->first + w->count);
    rpc_call_reply(w->call, &resp);
    eddy_free(seqs);
    eddy_free(results);
    eddy_free(pr.results);
}

static void group_flush(struct sgroup *g);

/* CloseShardsResp: the ending sequence of every shard, or the first error. */
static void batch_reply_closed(struct rpc_call *call, const struct shard_fsm_result *res)
{
    for (size_t i = 0; i < res->count; i++) {
        if (res->codes[i] != 0) {
            rpc_reply_error(call, res->codes[i], 0, "shard not found");
            return;
        }
    }
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__CloseShardsResp cr = EDDY__CLOSE_SHARDS_RESP__INIT;
    cr.status = &st;
    cr.n_ending_sequences = res->count;
    cr.ending_sequences = eddy_xcalloc(res->count + 1, sizeof(*cr.ending_sequences));
    uint8_t *seqs = eddy_xmalloc(16 * (res->count + 1));
    for (size_t i = 0; i < res->count; i++) {
        u128_to_be(res->seqs[i], seqs + 16 * i);
        cr.ending_sequences[i] = (ProtobufCBinaryData){16, seqs + 16 * i};
    }
    Eddy__Frame resp = EDDY__FRAME__INIT;
    resp.body_case = EDDY__FRAME__BODY_CLOSE_SHARDS_RESP;
    resp.close_shards_resp = &cr;
    rpc_call_reply(call, &resp);
    eddy_free(seqs);
    eddy_free(cr.ending_sequences);
}

static void batch_on_committed(void *arg, int status, void *result)
{
    struct batch *b = arg;
    struct sgroup *g = b->group;
    EDDY_ASSERT(g->inflight > 0);
    g->inflight--;
    g->queued_bytes -= b->bytes;
    if (status == 0 && !g->closed) {
        /* Before the answers: the entry's strings point into the requests. */
        shard_wait_applied(g->server->wait, g->id, &b->entry);
    }
    if (b->control_call != NULL && b->entry.n_close_shards > 0 && status == 0) {
        if (result != NULL) {
            batch_reply_closed(b->control_call, result);
        } else {
            rpc_reply_error(b->control_call, -EDDY_EUNKNOWN, 0, NULL);
        }
    } else if (b->control_call != NULL) {
        if (status == 0) {
            rpc_reply_ok(b->control_call);
        } else {
            rpc_reply_error(b->control_call, status, rgroup_leader(g->raft), NULL);
        }
    }
    const struct shard_fsm_result *res = result;
    for (size_t i = 0; i < b->waiter_count; i++) {
        if (status == 0 && res != NULL) {
            batch_reply_put(&b->waiters[i], res);
        } else {
            rpc_reply_error(b->waiters[i].call, status != 0 ? status : -EDDY_EUNKNOWN,
                            rgroup_leader(g->raft), NULL);
        }
    }
    batch_destroy(b);
    if (!g->closed) {
        group_flush(g);
    }
}

/* Packs the entry straight into the Raft entry's buffer (no copy). */
static void batch_pack(const void *entry, uint8_t *out, size_t len)
{
    size_t packed = eddy__group_entry__pack(entry, out);
    EDDY_ASSERT(packed == len);
}

static void batch_propose(struct sgroup *g, struct batch *b)
{
    uint64_t now = server_now_ms();
    uint64_t stamp = now;
    if (stamp < g->last_stamp_ms) {
        stamp = g->last_stamp_ms;
    }
    if (stamp < shard_fsm_last_arrival_ms(g->fsm)) {
        stamp = shard_fsm_last_arrival_ms(g->fsm);
    }
    g->last_stamp_ms = stamp;
    b->entry.arrival_ms = stamp;
    size_t len = eddy__group_entry__get_packed_size(&b->entry);
    g->inflight++;
    rgroup_propose_packed(g->raft, len, batch_pack, &b->entry, batch_on_committed, b);
}

static void group_flush(struct sgroup *g)
{
    if (g->open == NULL || g->inflight >= SERVER_BATCHES_INFLIGHT_MAX) {
        return;
    }
    struct batch *b = g->open;
    g->open = NULL;
    batch_propose(g, b);
}

static size_t put_request_bytes(const Eddy__PutRecordsReq *req)
{
    size_t bytes = 0;
    for (size_t i = 0; i < req->n_records; i++) {
        bytes += req->records[i]->data.len + strlen(req->records[i]->partition_key) + 16;
    }
    return bytes;
}

static void server_put(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__PutRecordsReq *req = rpc_call_request(call)->put_records;
    struct sgroup *g = server_group(s, req->group);
    if (g == NULL) {
        rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no such group on this node");
        return;
    }
    if (!rgroup_is_ready(g->raft)) {
        rpc_reply_error(call, -EDDY_ENOTLEADER, rgroup_leader(g->raft), NULL);
        return;
    }
    if (req->n_records == 0 || req->n_records > KIN_PUT_RECORDS_COUNT_MAX) {
        rpc_reply_error(call, -EDDY_EINVAL, 0, "record count out of range");
        return;
    }
    size_t bytes = put_request_bytes(req);
    if (g->queued_bytes + bytes > GROUP_PENDING_BYTES_MAX) {
        rpc_reply_error(call, -EDDY_EFULL, 0, NULL);
        return;
    }
    if (g->open != NULL && g->open->bytes + bytes > GROUP_COMMIT_BYTES_MAX) {
        /* The open batch is full: it waits for a slot as it is, and this
         * call starts the next one. Only one batch is ever open, so a full
         * one still unproposed means the window is full too. */
        if (g->inflight < SERVER_BATCHES_INFLIGHT_MAX) {
            group_flush(g);
        } else {
            rpc_reply_error(call, -EDDY_EFULL, 0, NULL);
            return;
        }
    }
    uint8_t *refused = NULL;
    if (throttle_put(s->throttle, req, uv_now(s->loop), &refused) == 0) {
        struct batch_waiter w = {.call = call, .refused = refused};
        batch_reply_put(&w, NULL); /* every record over its shard's limits */
        eddy_free(refused);
        return;
    }
    shard_rate_put(s->rates, req, refused, uv_now(s->loop));
    if (g->open == NULL) {
        g->open = batch_create(g);
    }
    g->queued_bytes += bytes;
    batch_add_call(g->open, call, bytes, refused);
    group_flush(g);
}

/* Create-shards and drop-stream entries go alone, outside the batches. */
static void server_control(struct shard_server *s,
                           struct rpc_call *call,
                           uint32_t group,
                           const char *stream,
                           uint64_t created_ms,
                           const uint32_t *shards,
                           size_t shard_count,
                           bool drop)
{
    struct sgroup *g = server_group(s, group);
    if (g == NULL) {
        rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no such group on this node");
        return;
    }
    if (!rgroup_is_ready(g->raft)) {
        rpc_reply_error(call, -EDDY_ENOTLEADER, rgroup_leader(g->raft), NULL);
        return;
    }
    struct batch *b = batch_create(g);
    b->control_call = call;
    batch_stream_ref(b, stream, created_ms);
    if (drop) {
        b->entry.drop_stream = true;
    } else {
        b->entry.n_create_shards = shard_count;
        b->entry.create_shards = eddy_xmalloc((shard_count ? shard_count : 1) * sizeof(uint32_t));
        memcpy(b->entry.create_shards, shards, shard_count * sizeof(uint32_t));
    }
    batch_propose(g, b);
}

/* A trim entry (retention) goes alone too: it drops the sealed segment files
 * of the stream's shards whose records all arrived before before_ms. */
static void server_trim(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__TrimReq *req = rpc_call_request(call)->trim;
    struct sgroup *g = server_group(s, req->group);
    if (g == NULL) {
        rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no such group on this node");
        return;
    }
    if (!rgroup_is_ready(g->raft)) {
        rpc_reply_error(call, -EDDY_ENOTLEADER, rgroup_leader(g->raft), NULL);
        return;
    }
    if (req->stream == NULL || req->stream[0] == '\0' || req->before_ms == 0) {
        rpc_reply_error(call, -EDDY_EINVAL, 0, "bad trim");
        return;
    }
    if (shard_fsm_trim_is_noop(g->fsm, req->stream, req->stream_created_ms, req->before_ms)) {
        rpc_reply_ok(call); /* an idle stream costs no Raft entry per pass */
        return;
    }
    struct batch *b = batch_create(g);
    b->control_call = call;
    batch_stream_ref(b, req->stream, req->stream_created_ms);
    b->entry.trim_before_ms = req->before_ms;
    batch_propose(g, b);
}

/* A close entry (resharding, shard_fsm_close.c) goes alone as well; its
 * answer carries the shards' ending sequence numbers. */
static void server_close_shards(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__CloseShardsReq *req = rpc_call_request(call)->close_shards;
    struct sgroup *g = server_group(s, req->group);
    if (g == NULL) {
        rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no such group on this node");
        return;
    }
    if (!rgroup_is_ready(g->raft)) {
        rpc_reply_error(call, -EDDY_ENOTLEADER, rgroup_leader(g->raft), NULL);
        return;
    }
    if (req->stream == NULL || req->stream[0] == '\0' || req->n_shards == 0) {
        rpc_reply_error(call, -EDDY_EINVAL, 0, "bad close");
        return;
    }
    struct batch *b = batch_create(g);
    b->control_call = call;
    batch_stream_ref(b, req->stream, req->stream_created_ms);
    b->entry.n_close_shards = req->n_shards;
    b->entry.close_shards = eddy_xmalloc(req->n_shards * sizeof(uint32_t));
    memcpy(b->entry.close_shards, req->shards, req->n_shards * sizeof(uint32_t));
    batch_propose(g, b);
}

/* ---- reads ---- */

struct read_collect {
    Eddy__ReadResp *resp;
    size_t cap;
    uint64_t last_arrival_ms;
};

static bool server_read_record(void *arg, const struct seg_record *r)
{
    struct read_collect *c = arg;
    Eddy__ReadResp *resp = c->resp;
    if (resp->n_records == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        resp->records = eddy_xrealloc(resp->records, c->cap * sizeof(*resp->records));
    }
    /* One allocation per record: struct, sequence, key and data. */
    size_t size = sizeof(Eddy__ReadRecord) + 16 + r->partition_key_len + 1 + r->data_len;
    uint8_t *mem = eddy_xmalloc(size);
    Eddy__ReadRecord *out = (Eddy__ReadRecord *)mem;
    eddy__read_record__init(out);
    uint8_t *p = mem + sizeof(*out);
    u128_to_be(r->seq, p);
    out->sequence.data = p;
    out->sequence.len = 16;
    p += 16;
    memcpy(p, r->partition_key, r->partition_key_len);
    p[r->partition_key_len] = '\0';
    out->partition_key = (char *)p;
    p += r->partition_key_len + 1;
    if (r->data_len > 0) {
        memcpy(p, r->data, r->data_len);
    }
    out->data.data = p;
    out->data.len = r->data_len;
    out->encryption = r->encryption;
    out->arrival_ms = r->arrival_ms;
    c->last_arrival_ms = r->arrival_ms;
    resp->records[resp->n_records++] = out;
    return true;
}

/* Frees what server_read_record allocated (one block per record). */
static void read_resp_free_records(Eddy__ReadResp *resp)
{
    for (size_t i = 0; i < resp->n_records; i++) {
        eddy_free(resp->records[i]);
    }
    eddy_free(resp->records);
}

/* One read of a shard, and the answer built from it: shared by every call
 * that asked for the same records (the push reads one applied entry wakes). */
struct read_result {
    int err; /* 0, or the read's error (no answer built) */
    Eddy__Status st;
    Eddy__ReadResp resp;
    struct read_collect c;
    u128 next;
    uint8_t next_be[16];
};

/* The limits a read asks for, clamped to GetRecords'. */
static uint32_t read_limit(const Eddy__ReadReq *req)
{
    return req->limit > KIN_GET_RECORDS_LIMIT_MAX ? KIN_GET_RECORDS_LIMIT_MAX : req->limit;
}

static uint64_t read_bytes_max(const Eddy__ReadReq *req)
{
    return req->bytes_max == 0 || req->bytes_max > KIN_GET_RECORDS_BYTES_MAX
               ? KIN_GET_RECORDS_BYTES_MAX
               : req->bytes_max;
}

/* Reads store from (pos, seq) as req asks into r (freed with read_result_free). */
static void read_result_run(struct sgroup *g,
                            struct seg_store *store,
                            const Eddy__ReadReq *req,
                            enum seg_position pos,
                            u128 seq,
                            struct read_result *r)
{
    memset(r, 0, sizeof(*r));
    eddy__status__init(&r->st);
    eddy__read_resp__init(&r->resp);
    r->resp.status = &r->st;
    r->c.resp = &r->resp;
    int n = seg_store_read(store, pos, seq, req->timestamp_ms, read_limit(req), read_bytes_max(req),
                           server_read_record, &r->c, &r->next);
    if (n < 0) {
        r->err = n;
        return;
    }
    u128 end_seq;
    if (shard_fsm_shard_end(g->fsm, req->stream, req->stream_created_ms, req->shard, &end_seq) &&
        (seg_store_is_empty(store) || r->next >= seg_store_last_seq(store))) {
        r->resp.shard_end = true; /* closed (resharding) and read to its last record */
    }
    u128_to_be(r->next, r->next_be);
    r->resp.next_sequence.data = r->next_be;
    r->resp.next_sequence.len = 16;
    /* Behind: how much older the last record handed out is than the tip. A
     * read that returns nothing (limit 0, or caught up) is not behind. */
    uint64_t tip = seg_store_last_arrival_ms(store);
    if (r->resp.n_records > 0 && r->next < seg_store_last_seq(store) &&
        tip > r->c.last_arrival_ms) {
        r->resp.millis_behind_latest = tip - r->c.last_arrival_ms;
    }
}

static void read_result_free(struct read_result *r)
{
    read_resp_free_records(&r->resp);
}

/* Answers call with r, or parks it (shard_wait.h) when it is a push read
 * (wait_ms) that found nothing and deadline_ms (uv_now time) is still
 * ahead; deadline_ms 0 answers whatever there is. */
static void server_read_answer(struct shard_server *s,
                               struct sgroup *g,
                               struct rpc_call *call,
                               const struct read_result *r,
                               uint64_t deadline_ms)
{
    const Eddy__ReadReq *req = rpc_call_request(call)->read;
    if (r->err != 0) {
        rpc_reply_error(call, r->err, 0, "read failed");
        return;
    }
    throttle_read_end(s->throttle, req, &r->resp, uv_now(s->loop));
    if (r->resp.n_records == 0 && !r->resp.shard_end && deadline_ms > uv_now(s->loop) &&
        read_limit(req) > 0) {
        /* A push read with nothing to push yet: answered when records are
         * applied on the shard or at the deadline. Parked at next, so a
         * LATEST read waits for what follows the records it saw. */
        int rv = shard_wait_park(s->wait, g->id, call, r->next, deadline_ms);
        if (rv != 0) {
            rpc_reply_error(call, rv, 0, NULL); /* -EDDY_EFULL: the gateway retries */
        }
        return;
    }
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_READ_RESP;
    f.read_resp = (Eddy__ReadResp *)&r->resp; /* packed, not changed */
    rpc_call_reply(call, &f);
}

/* The shard's store, or NULL after answering the call; and whether the
 * call may read now (answered -EDDY_ETHROTTLED when not). */
static struct seg_store *
server_read_begin(struct shard_server *s, struct sgroup *g, struct rpc_call *call)
{
    const Eddy__ReadReq *req = rpc_call_request(call)->read;
    struct seg_store *store =
        shard_fsm_find(g->fsm, req->stream, req->stream_created_ms, req->shard);
    if (store == NULL) {
        rpc_reply_error(call, -EDDY_ENOTFOUND, 0, "shard not found");
        return NULL;
    }
    if (!throttle_read_begin(s->throttle, req, uv_now(s->loop))) {
        rpc_reply_error(call, -EDDY_ETHROTTLED, 0, NULL); /* over the shard's read limits */
        return NULL;
    }
    return store;
}

/* Reads from (pos, seq) and answers the call or parks it
 * (server_read_answer). */
static void server_read_from(struct shard_server *s,
                             struct sgroup *g,
                             struct rpc_call *call,
                             enum seg_position pos,
                             u128 seq,
                             uint64_t deadline_ms)
{
    struct seg_store *store = server_read_begin(s, g, call);
    if (store == NULL) {
        return;
    }
    struct read_result r;
    read_result_run(g, store, rpc_call_request(call)->read, pos, seq, &r);
    server_read_answer(s, g, call, &r, deadline_ms);
    read_result_free(&r);
}

/* A subscription's read passes its lease (shard_lease.h) or is answered
 * here; a change of holder hands back the parked reads it supersedes. */
static bool server_read_lease(struct shard_server *s, struct sgroup *g, struct rpc_call *call)
{
    const Eddy__ReadReq *req = rpc_call_request(call)->read;
    uint64_t holder;
    bool is_changed;
    int rv = shard_lease_check(s->leases, g->id, req, uv_now(s->loop), &holder, &is_changed);
    if (is_changed) {
        shard_wait_supersede(s->wait, g->id, req, holder);
    }
    if (rv != 0) {
        rpc_reply_error(call, rv, 0, NULL);
        return false;
    }
    return true;
}

static void server_read(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__ReadReq *req = rpc_call_request(call)->read;
    struct sgroup *g = server_group(s, req->group);
    if (g == NULL) {
        rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no such group on this node");
        return;
    }
    /* Only the ready leader serves reads, so a read never sees less than an
     * earlier acknowledged write (a deposed leader answers NOTLEADER). */
    if (!rgroup_is_ready(g->raft)) {
        rpc_reply_error(call, -EDDY_ENOTLEADER, rgroup_leader(g->raft), NULL);
        return;
    }
    enum seg_position pos;
    switch (req->position) {
    case EDDY__POSITION__POSITION_AT_SEQUENCE:
        pos = SEG_AT_SEQUENCE;
        break;
    case EDDY__POSITION__POSITION_AFTER_SEQUENCE:
        pos = SEG_AFTER_SEQUENCE;
        break;
    case EDDY__POSITION__POSITION_AT_TIMESTAMP:
        pos = SEG_AT_TIMESTAMP;
        break;
    case EDDY__POSITION__POSITION_TRIM_HORIZON:
        pos = SEG_TRIM_HORIZON;
        break;
    case EDDY__POSITION__POSITION_LATEST:
        pos = SEG_LATEST;
        break;
    default:
        rpc_reply_error(call, -EDDY_EINVAL, 0, "bad position");
        return;
    }
    u128 seq = 0;
    if (req->sequence.len == 16) {
        seq = u128_from_be(req->sequence.data);
    } else if (pos == SEG_AT_SEQUENCE || pos == SEG_AFTER_SEQUENCE) {
        rpc_reply_error(call, -EDDY_EINVAL, 0, "bad sequence");
        return;
    }
    if (!server_read_lease(s, g, call)) {
        return;
    }
    uint32_t wait_ms = req->wait_ms < SHARD_WAIT_MS_MAX ? req->wait_ms : SHARD_WAIT_MS_MAX;
    server_read_from(s, g, call, pos, seq, wait_ms > 0 ? uv_now(s->loop) + wait_ms : 0);
}

/* Orders woken calls so that those asking for the same records are next to
 * each other: group, shard, position, limits, stream incarnation. */
static int server_woken_cmp(const void *pa, const void *pb)
{
    const struct shard_wait_woken *a = pa;
    const struct shard_wait_woken *b = pb;
    const Eddy__ReadReq *x = rpc_call_request(a->call)->read;
    const Eddy__ReadReq *y = rpc_call_request(b->call)->read;
    if (x->group != y->group) {
        return x->group < y->group ? -1 : 1;
    }
    if (x->shard != y->shard) {
        return x->shard < y->shard ? -1 : 1;
    }
    if (a->after != b->after) {
        return a->after < b->after ? -1 : 1;
    }
    if (read_limit(x) != read_limit(y)) {
        return read_limit(x) < read_limit(y) ? -1 : 1;
    }
    if (read_bytes_max(x) != read_bytes_max(y)) {
        return read_bytes_max(x) < read_bytes_max(y) ? -1 : 1;
    }
    if (x->stream_created_ms != y->stream_created_ms) {
        return x->stream_created_ms < y->stream_created_ms ? -1 : 1;
    }
    return strcmp(x->stream, y->stream);
}

/* Calls woken together that ask for the same records, all on g: one read
 * of the store, its answer sent to each (or each parked again when it
 * found nothing). at_once: their deadlines passed (answer what there is). */
static void server_wake_run(struct shard_server *s,
                            struct sgroup *g,
                            struct shard_wait_woken *run,
                            size_t count,
                            bool at_once)
{
    struct read_result r;
    bool have = false;
    for (size_t i = 0; i < count; i++) {
        struct seg_store *store = server_read_begin(s, g, run[i].call);
        if (store == NULL) {
            continue; /* answered */
        }
        if (!have) {
            read_result_run(g, store, rpc_call_request(run[i].call)->read, SEG_AFTER_SEQUENCE,
                            run[i].after, &r);
            have = true;
        }
        server_read_answer(s, g, run[i].call, &r, at_once ? 0 : run[i].deadline_ms);
    }
    if (have) {
        read_result_free(&r);
    }
}

/* Parked reads come back (shard_wait.h). Woken by an applied entry, they
 * are usually every subscriber of a shard, caught up at the same place:
 * they read again from where they waited, once per distinct read, and park
 * again if still nothing and time is left. At their deadline they answer
 * what there is. With the group's leadership gone they go to the next
 * leader; superseded ones end their subscription. */
static void
server_on_wait(void *arg, struct shard_wait_woken *woken, size_t count, enum shard_wait_wake why)
{
    struct shard_server *s = arg;
    if (why == SHARD_WAIT_SUPERSEDED) {
        for (size_t i = 0; i < count; i++) {
            rpc_reply_error(woken[i].call, -EDDY_ESUPERSEDED, 0, NULL);
        }
        return;
    }
    if (why != SHARD_WAIT_FAILED) {
        qsort(woken, count, sizeof(*woken), server_woken_cmp);
    }
    size_t i = 0;
    while (i < count) {
        size_t j = i + 1;
        while (why != SHARD_WAIT_FAILED && j < count &&
               server_woken_cmp(&woken[i], &woken[j]) == 0) {
            j++;
        }
        struct sgroup *g = server_group(s, rpc_call_request(woken[i].call)->read->group);
        if (why == SHARD_WAIT_FAILED || g == NULL || !rgroup_is_ready(g->raft)) {
            for (size_t k = i; k < j; k++) {
                rpc_reply_error(woken[k].call, -EDDY_ENOTLEADER,
                                g != NULL ? rgroup_leader(g->raft) : 0, NULL);
            }
        } else {
            server_wake_run(s, g, woken + i, j - i, why == SHARD_WAIT_TIMEOUT);
        }
        i = j;
    }
}

/* Parked reads end with their group's leadership: the gateway asks the new
 * leader from the same position. */
static void server_on_group_state(void *arg, struct rgroup *raft)
{
    struct sgroup *g = arg;
    if (!rgroup_is_ready(raft)) {
        shard_wait_fail_group(g->server->wait, g->id);
        shard_lease_drop_group(g->server->leases, g->id); /* the next leader starts empty */
    }
}

/* ---- membership and leadership (rgroup_rejoin, rgroup_transfer) ---- */

/* A JoinGroup or TransferLeader call waiting for its group's change. */
struct server_change {
    struct sgroup *group; /* outlives the change: rgroup completes it before closing */
    struct rpc_call *call;
};

static void server_on_change(void *arg, int status)
{
    struct server_change *sc = arg;
    if (status == 0) {
        rpc_reply_ok(sc->call);
    } else {
        rpc_reply_error(sc->call, status, rgroup_leader(sc->group->raft), eddy_strerror(status));
    }
    eddy_free(sc);
}

/* The group of a membership or leadership request on its leader; answers
 * the call and returns NULL otherwise. */
static struct sgroup *
server_change_group(struct shard_server *s, struct rpc_call *call, uint32_t group)
{
    struct sgroup *g = server_group(s, group);
    if (g == NULL) {
        rpc_reply_error(call, -EDDY_ENOTHOSTED, 0, "no such group on this node");
        return NULL;
    }
    if (!rgroup_is_ready(g->raft)) {
        rpc_reply_error(call, -EDDY_ENOTLEADER, rgroup_leader(g->raft), NULL);
        return NULL;
    }
    return g;
}

static void server_join_group(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__JoinGroupReq *req = rpc_call_request(call)->join_group;
    struct sgroup *g = server_change_group(s, call, req->group);
    if (g == NULL) {
        return;
    }
    struct server_change *sc = eddy_xmalloc(sizeof(*sc));
    *sc = (struct server_change){.group = g, .call = call};
    if (req->replaces != 0) {
        LOG_INFO("group=%u node=%u to replace node=%u", g->id, req->node, req->replaces);
        rgroup_replace(g->raft, req->node, req->raft_address, req->replaces, server_on_change, sc);
        return;
    }
    LOG_INFO("group=%u rejoin of node=%u requested", g->id, req->node);
    rgroup_rejoin(g->raft, req->node, req->raft_address, server_on_change, sc);
}

static void server_transfer_leader(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__TransferLeaderReq *req = rpc_call_request(call)->transfer_leader;
    struct sgroup *g = server_change_group(s, call, req->group);
    if (g == NULL) {
        return;
    }
    struct server_change *sc = eddy_xmalloc(sizeof(*sc));
    *sc = (struct server_change){.group = g, .call = call};
    rgroup_transfer(g->raft, req->node, server_on_change, sc);
}

/* ---- segment fetches from hydrating replicas ---- */

static void server_release(struct shard_server *s);

static void server_on_fetch_served(void *arg)
{
    struct shard_server *s = arg;
    EDDY_ASSERT(s->fetches_serving > 0);
    s->fetches_serving--;
    if (s->closing > 0) {
        server_release(s);
    }
}

/* Any replica serves the files its store lists, leader or not. */
static void server_fetch_segment(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__FetchSegmentReq *req = rpc_call_request(call)->fetch_segment;
    if (s->fetches_serving >= HYDRATE_SERVE_INFLIGHT_MAX) {
        rpc_reply_error(call, -EDDY_EFULL, 0, NULL);
        return;
    }
    struct sgroup *g = server_group(s, req->group);
    struct seg_store *store =
        g != NULL ? shard_fsm_find(g->fsm, req->stream, req->stream_created_ms, req->shard) : NULL;
    if (hydrate_serve(s->loop, store, call, server_on_fetch_served, s) == 0) {
        s->fetches_serving++;
    }
}

void shard_server_handle(struct shard_server *s, struct rpc_call *call)
{
    const Eddy__Frame *f = rpc_call_request(call);
    switch (f->body_case) {
    case EDDY__FRAME__BODY_JOIN_GROUP:
        server_join_group(s, call);
        break;
    case EDDY__FRAME__BODY_TRANSFER_LEADER:
        server_transfer_leader(s, call);
        break;
    case EDDY__FRAME__BODY_PUT_RECORDS:
        server_put(s, call);
        break;
    case EDDY__FRAME__BODY_READ:
        server_read(s, call);
        break;
    case EDDY__FRAME__BODY_CREATE_SHARDS:
        server_control(s, call, f->create_shards->group, f->create_shards->stream,
                       f->create_shards->stream_created_ms, f->create_shards->shards,
                       f->create_shards->n_shards, false);
        break;
    case EDDY__FRAME__BODY_DROP_STREAM:
        server_control(s, call, f->drop_stream->group, f->drop_stream->stream,
                       f->drop_stream->stream_created_ms, NULL, 0, true);
        break;
    case EDDY__FRAME__BODY_FETCH_SEGMENT:
        server_fetch_segment(s, call);
        break;
    case EDDY__FRAME__BODY_TRIM:
        server_trim(s, call);
        break;
    case EDDY__FRAME__BODY_CLOSE_SHARDS:
        server_close_shards(s, call);
        break;
    default:
        rpc_reply_error(call, -EDDY_EMALFORMED, 0, "not a shard server request");
        break;
    }
}

/* shard_rate_is_leading_cb: the node leads group (a ready leader). */
static bool server_is_leading(void *arg, uint32_t group)
{
    struct sgroup *g = server_group(arg, group);
    return g != NULL && !g->closed && rgroup_is_ready(g->raft);
}

void shard_server_status(struct shard_server *s, Eddy__NodeStatusResp *resp)
{
    size_t n = resp->n_groups + s->group_count;
    resp->groups = eddy_xrealloc(resp->groups, (n ? n : 1) * sizeof(*resp->groups));
    for (uint32_t i = 0; i < s->group_count; i++) {
        struct sgroup *g = s->groups[i];
        if (g->closed) {
            continue; /* being removed */
        }
        /* One block: the status and its voters (GroupStatus.voters). */
        uint64_t voters[SERVER_STATUS_VOTERS_MAX];
        unsigned voter_count = rgroup_voters(g->raft, voters, SERVER_STATUS_VOTERS_MAX);
        voter_count =
            voter_count < SERVER_STATUS_VOTERS_MAX ? voter_count : SERVER_STATUS_VOTERS_MAX;
        Eddy__GroupStatus *gs = eddy_xmalloc(sizeof(*gs) + voter_count * sizeof(uint32_t));
        eddy__group_status__init(gs);
        gs->n_voters = voter_count;
        gs->voters = (uint32_t *)(gs + 1);
        for (unsigned v = 0; v < voter_count; v++) {
            gs->voters[v] = (uint32_t)voters[v];
        }
        gs->group = g->id;
        gs->leader_node = (uint32_t)rgroup_leader(g->raft);
        gs->applied_index = rgroup_applied_index(g->raft);
        gs->last_index = rgroup_last_index(g->raft);
        gs->ready = rgroup_is_ready(g->raft);
        gs->hydrating = rgroup_is_hydrating(g->raft);
        resp->groups[resp->n_groups++] = gs;
    }
    shard_rate_report(s->rates, uv_now(s->loop), server_is_leading, s, resp);
}

void shard_server_set_draining(struct shard_server *s, bool draining)
{
    s->is_draining = draining;
    for (uint32_t i = 0; i < s->group_count; i++) {
        if (!s->groups[i]->closed) {
            rgroup_set_draining(s->groups[i]->raft, draining);
        }
    }
}

void shard_server_status_free(Eddy__NodeStatusResp *resp)
{
    for (size_t i = 0; i < resp->n_groups; i++) {
        eddy_free(resp->groups[i]);
    }
    eddy_free(resp->groups);
    resp->groups = NULL;
    resp->n_groups = 0;
    shard_rate_report_free(resp);
}

/* Frees the server once nothing holds it any more. */
static void server_release(struct shard_server *s)
{
    EDDY_ASSERT(s->closing > 0);
    if (--s->closing > 0) {
        return;
    }
    void (*cb)(void *) = s->close_cb;
    void *cb_arg = s->close_arg;
    throttle_destroy(s->throttle);
    shard_rate_destroy(s->rates);
    shard_lease_destroy(s->leases);
    for (uint32_t i = 0; i < s->group_count; i++) {
        eddy_free(s->groups[i]);
    }
    eddy_free(s->groups);
    eddy_free(s);
    if (cb != NULL) {
        cb(cb_arg);
    }
}

/* Takes closed group g out of s->groups and frees it. */
static void server_group_erase(struct shard_server *s, struct sgroup *g)
{
    uint32_t pos = server_group_pos(s, g->id);
    EDDY_ASSERT(pos < s->group_count);
    EDDY_ASSERT(s->groups[pos] == g);
    memmove(&s->groups[pos], &s->groups[pos + 1], (s->group_count - pos - 1) * sizeof(*s->groups));
    s->group_count--;
    eddy_free(g);
}

static void server_group_closed(void *arg)
{
    struct sgroup *g = arg;
    struct shard_server *s = g->server;
    shard_fsm_destroy(g->fsm);
    g->fsm = NULL;
    if (g->removed_cb == NULL) {
        server_release(s);
        return;
    }
    void (*cb)(void *) = g->removed_cb;
    void *cb_arg = g->removed_arg;
    EDDY_ASSERT(s->removing > 0);
    s->removing--;
    server_group_erase(s, g);
    cb(cb_arg);
    if (s->closing > 0) {
        server_release(s); /* shard_server_close counted this group */
    }
}

/* The fetcher is closed first: it calls into the group's rgroup and FSM. */
static void server_group_hydrate_closed(void *arg)
{
    struct sgroup *g = arg;
    g->hydrate = NULL;
    rgroup_close(g->raft, server_group_closed, g);
}

/* Fails the calls of g's open batch, marks g closed and starts closing its
 * fetcher and replica; server_group_closed runs at the end. */
static void server_group_close(struct sgroup *g)
{
    EDDY_ASSERT(!g->closed);
    if (g->open != NULL) {
        struct batch *b = g->open;
        g->open = NULL;
        for (size_t w = 0; w < b->waiter_count; w++) {
            rpc_reply_error(b->waiters[w].call, -EDDY_ESHUTDOWN, 0, NULL);
        }
        batch_destroy(b);
    }
    rgroup_set_state_cb(g->raft, NULL, NULL); /* the waits may be gone before the group */
    shard_wait_fail_group(g->server->wait, g->id);
    shard_lease_drop_group(g->server->leases, g->id);
    g->closed = true;
    if (g->hydrate != NULL) {
        hydrate_close(g->hydrate, server_group_hydrate_closed, g);
    } else {
        rgroup_close(g->raft, server_group_closed, g);
    }
}

/* ---- groups added and removed at run time (docs/adr/0004) ---- */

static void server_on_wait_closed(void *arg)
{
    server_release(arg);
}

static void server_on_start_failed_removed(void *arg)
{
    (void)arg;
}

enum shard_server_hosting shard_server_hosting(struct shard_server *s, uint32_t id)
{
    uint32_t pos = server_group_pos(s, id);
    if (pos == s->group_count || s->groups[pos]->id != id) {
        return SHARD_SERVER_NOT_HOSTED;
    }
    return s->groups[pos]->closed ? SHARD_SERVER_REMOVING : SHARD_SERVER_HOSTED;
}

int shard_server_add_group(struct shard_server *s, uint32_t id)
{
    EDDY_ASSERT(s->closing == 0);
    if (id == 0 || id > s->cfg.group_count) {
        return -EDDY_EINVAL;
    }
    uint32_t pos = server_group_pos(s, id);
    if (pos < s->group_count && s->groups[pos]->id == id) {
        return s->groups[pos]->closed ? -EDDY_EINUSE : -EDDY_EEXISTS;
    }
    EDDY_ASSERT(s->group_count < s->group_cap);
    struct shard_server_config cfg = s->cfg;
    cfg.join = true; /* never bootstrap: the group exists, its leader adds this replica */
    struct sgroup *g = eddy_xcalloc(1, sizeof(*g));
    int rv = server_group_init(s, g, id, s->mux, &cfg);
    if (rv != 0) {
        eddy_free(g); /* init failed before any handle was started */
        return rv;
    }
    memmove(&s->groups[pos + 1], &s->groups[pos], (s->group_count - pos) * sizeof(*s->groups));
    s->groups[pos] = g;
    s->group_count++;
    rgroup_set_draining(g->raft, s->is_draining);
    rv = rgroup_start(g->raft);
    if (rv != 0) {
        LOG_ERROR("group=%u raft start failed: %s", id, eddy_strerror(rv));
        g->removed_cb = server_on_start_failed_removed;
        s->removing++;
        server_group_close(g); /* the files stay: a later HostGroupReq tries again */
        return rv;
    }
    LOG_INFO("shard server node=%" PRIu64 " now hosts group=%u (%u groups)", s->node_id, id,
             s->group_count);
    return 0;
}

int shard_server_remove_group(struct shard_server *s, uint32_t id, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(s->closing == 0);
    struct sgroup *g = server_group(s, id);
    if (g == NULL) {
        return shard_server_hosting(s, id) == SHARD_SERVER_REMOVING ? -EDDY_EINUSE
                                                                    : -EDDY_ENOTHOSTED;
    }
    g->removed_cb = cb;
    g->removed_arg = arg;
    s->removing++;
    LOG_INFO("shard server node=%" PRIu64 " closing its replica of group=%u", s->node_id, id);
    server_group_close(g);
    return 0;
}

void shard_server_close(struct shard_server *s, void (*cb)(void *arg), void *arg)
{
    s->close_cb = cb;
    s->close_arg = arg;
    s->closing = 2; /* held until every group was asked to close, and by the waits */
    shard_wait_close(s->wait, server_on_wait_closed, s);
    for (uint32_t i = 0; i < s->group_count; i++) {
        struct sgroup *g = s->groups[i];
        s->closing++;
        if (!g->closed) {
            server_group_close(g); /* else being removed: its end releases s */
        }
    }
    s->closing += s->fetches_serving; /* each releases the server when answered */
    server_release(s);
}
