/*
 * The coordinator service (see coord.h). It owns the catalogue, the Raft
 * replica of group 0 over it, a timer, the client requests waiting on
 * proposals (struct coord_op) and the reconciler (reconcile.c), which it
 * runs from the timer on the ready leader.
 *
 * Lifecycle of the service: INITIALIZED -> RUNNING -> CLOSING -> CLOSED (also
 * INITIALIZED -> CLOSING). The memory is freed once the timer, the group and
 * the clients have closed and no proposal or call is pending.
 */
#include "coord.h"
#include "catalog.h"
#include "catalog_consumer.h"
#include "coord_consumer.h"
#include "coord_internal.h"
#include "coord_limits.h"
#include "coord_update.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/placement.h"
#include "eddy/rgroup.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"
#include "eddy/seqnum.h"
#include "eddy/u128.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static_assert(PLACEMENT_REPLICAS == COORD_GROUP_REPLICAS_DEFAULT, "one replica count");
static_assert(PLACEMENT_REPLICAS <= COORD_GROUP_REPLICAS_MAX, "placement fits a group");

static const bool coord_transitions[4][4] = {
    [COORD_INITIALIZED] = {[COORD_RUNNING] = true, [COORD_CLOSING] = true},
    [COORD_RUNNING] = {[COORD_CLOSING] = true},
    [COORD_CLOSING] = {[COORD_CLOSED] = true},
};

static void coord_set_state(struct coord *c, enum coord_state to)
{
    EDDY_ASSERT(coord_transitions[c->state][to]);
    c->state = to;
}

uint64_t coord_now_ms(const struct coord *c)
{
    uv_timeval64_t tv;
    uint64_t now_ms = 0;
    if (uv_gettimeofday(&tv) == 0 && tv.tv_sec >= 0) {
        now_ms = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
    }
    uint64_t floor_ms = catalog_time_floor_ms(c->catalog);
    return now_ms > floor_ms ? now_ms : floor_ms; /* never behind the catalogue */
}

static uint32_t coord_leader_hint(const struct coord *c)
{
    return c->group != NULL ? (uint32_t)rgroup_leader(c->group) : 0;
}

static void coord_on_tick(uv_timer_t *timer);

void coord_kick(struct coord *c)
{
    if (c->state == COORD_RUNNING) {
        uv_timer_start(&c->timer, coord_on_tick, 0, COORD_RECONCILE_INTERVAL_MS);
    }
}

/* ---- proposals ---- */

static void coord_reply_status(struct coord *c, struct rpc_call *call, int code)
{
    if (code == 0) {
        rpc_reply_ok(call);
        return;
    }
    uint32_t leader = code == -EDDY_ENOTLEADER ? coord_leader_hint(c) : 0;
    rpc_reply_error(call, code, leader, eddy_strerror(code));
}

static void coord_on_proposed(void *arg, int status, void *result)
{
    struct coord_op *op = arg;
    struct coord *c = op->c;
    int code = status;
    if (status == 0) {
        const struct catalog_result *r = result;
        code = r != NULL ? r->code : -EDDY_EUNKNOWN;
    }
    EDDY_ASSERT(c->ops_inflight > 0);
    c->ops_inflight--;
    switch (op->kind) {
    case COORD_OP_INIT:
        c->init_inflight = false;
        if (code == 0) {
            LOG_INFO("catalogue initialised node=%" PRIu32, c->node_id);
        } else if (code != -EDDY_EEXISTS) {
            LOG_WARN("catalogue init failed code=%d err=%s", code, eddy_strerror(code));
        }
        break;
    case COORD_OP_CLIENT:
        EDDY_ASSERT(c->client_ops_inflight > 0);
        c->client_ops_inflight--;
        if (op->reply != NULL) {
            op->reply(c, op->call, code);
        } else {
            coord_reply_status(c, op->call, code);
        }
        break;
    case COORD_OP_TASK:
        reconcile_on_proposed(&c->rec, op->task_id, code);
        break;
    case COORD_OP_REPLACE:
        coord_replace_on_proposed(c, code);
        break;
    case COORD_OP_RESHARD:
        coord_reshard_on_proposed(c, op->task_id, code);
        break;
    case COORD_OP_AUTOSCALE:
        coord_autoscale_on_proposed(c, code);
        break;
    }
    eddy_free(op);
    if (c->state == COORD_CLOSING) {
        coord_maybe_free(c);
        return;
    }
    if (code == 0) {
        coord_kick(c);
    }
}

void coord_propose(struct coord *c, const Eddy__CatalogEntry *e, struct coord_op *op)
{
    uint8_t *buf;
    size_t len;
    int rv = catalog_entry_encode(e, &buf, &len);
    EDDY_ASSERT(rv == 0); /* only -ENOMEM can fail it, and daemons abort on OOM */
    op->c = c;
    c->ops_inflight++;
    rgroup_propose(c->group, buf, len, coord_on_proposed, op);
    eddy_free(buf);
}

static void coord_propose_init(struct coord *c)
{
    if (c->init_inflight) {
        return;
    }
    uint8_t key[COORD_ITERATOR_KEY_BYTES];
    if (RAND_bytes(key, sizeof(key)) != 1) {
        LOG_ERROR("RAND_bytes failed: catalogue init postponed");
        return;
    }
    Eddy__NodeInfo *nodes = eddy_xcalloc(c->peer_count, sizeof(*nodes));
    Eddy__NodeInfo **node_ptrs = eddy_xcalloc(c->peer_count, sizeof(*node_ptrs));
    for (unsigned i = 0; i < c->peer_count; i++) {
        eddy__node_info__init(&nodes[i]);
        nodes[i].id = c->peers[i].node_id;
        nodes[i].rpc_address = c->peers[i].rpc_address;
        nodes[i].raft_address = c->peers[i].raft_address;
        nodes[i].gateway_address = c->peers[i].gateway_address;
        node_ptrs[i] = &nodes[i];
    }
    Eddy__GroupInfo *groups = eddy_xcalloc(c->group_count, sizeof(*groups));
    Eddy__GroupInfo **group_ptrs = eddy_xcalloc(c->group_count, sizeof(*group_ptrs));
    for (uint32_t g = 0; g < c->group_count; g++) {
        eddy__group_info__init(&groups[g]);
        groups[g].id = g + 1;
        groups[g].n_replicas = c->groups[g].replica_count;
        groups[g].replicas = c->groups[g].replicas;
        group_ptrs[g] = &groups[g];
    }
    Eddy__Catalog init = EDDY__CATALOG__INIT;
    init.n_nodes = c->peer_count;
    init.nodes = node_ptrs;
    init.n_groups = c->group_count;
    init.groups = group_ptrs;
    init.iterator_key.data = key;
    init.iterator_key.len = sizeof(key);
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = coord_now_ms(c);
    e.op_case = EDDY__CATALOG_ENTRY__OP_INIT;
    e.init = &init;
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_INIT;
    c->init_inflight = true;
    LOG_INFO("proposing catalogue init nodes=%u groups=%" PRIu32, c->peer_count, c->group_count);
    coord_propose(c, &e, op);
    OPENSSL_cleanse(key, sizeof(key));
    eddy_free(group_ptrs);
    eddy_free(groups);
    eddy_free(node_ptrs);
    eddy_free(nodes);
}

static void coord_on_tick(uv_timer_t *timer)
{
    struct coord *c = container_of(timer, struct coord, timer);
    if (c->state != COORD_RUNNING) {
        return;
    }
    if (!rgroup_is_ready(c->group)) {
        reconcile_clear(&c->rec);
        coord_reshard_clear(&c->reshard);
        coord_autoscale_reset(&c->autoscale);
        return;
    }
    if (!catalog_is_initialized(c->catalog)) {
        coord_propose_init(c);
        return;
    }
    cluster_run(c);
    coord_replace_run(c);
    reconcile_run(c);
    coord_trim_run(c);
    coord_reshard_run(c);
    coord_autoscale_run(c);
}

/* ---- the state machine wrapper and group events ---- */

static void coord_on_catalog_change(struct coord *c)
{
    coord_kick(c);
    if (c->change_cb != NULL) {
        c->change_cb(c->change_arg, catalog_get(c->catalog));
    }
}

static int
coord_fsm_apply(void *data, uint64_t index, const uint8_t *buf, size_t len, void **result)
{
    struct coord *c = data;
    uint64_t version = catalog_version(c->catalog);
    int rv = c->inner.apply(c->inner.data, index, buf, len, result);
    if (rv == 0 && catalog_version(c->catalog) != version) {
        coord_on_catalog_change(c);
    }
    return rv;
}

static void coord_fsm_free_result(void *data, void *result)
{
    struct coord *c = data;
    c->inner.free_result(c->inner.data, result);
}

static int coord_fsm_snapshot(void *data, uint8_t **buf, size_t *len)
{
    struct coord *c = data;
    return c->inner.snapshot(c->inner.data, buf, len);
}

static int coord_fsm_restore(void *data, const uint8_t *buf, size_t len)
{
    struct coord *c = data;
    int rv = c->inner.restore(c->inner.data, buf, len);
    if (rv == 0) {
        coord_on_catalog_change(c);
    }
    return rv;
}

static void coord_on_group_state(void *arg, struct rgroup *g)
{
    struct coord *c = arg;
    (void)g;
    if (c->state != COORD_RUNNING) {
        return;
    }
    cluster_on_ready(c, rgroup_is_ready(c->group));
    if (rgroup_is_ready(c->group)) {
        LOG_INFO("coordinator leader ready node=%" PRIu32 " version=%" PRIu64, c->node_id,
                 catalog_version(c->catalog));
        coord_kick(c);
    } else {
        reconcile_clear(&c->rec);
        coord_trim_reset(&c->trim);
        coord_reshard_clear(&c->reshard);
        coord_autoscale_reset(&c->autoscale);
    }
}

/* ---- requests ---- */

static void
coord_create_stream(struct coord *c, struct rpc_call *call, const Eddy__CreateStreamReq *req)
{
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    uint32_t n = req->shard_count != 0 ? req->shard_count : KIN_SHARD_COUNT_DEFAULT;
    int code = 0;
    if (req->name == NULL ||
        !catalog_stream_name_is_valid(req->name, strnlen(req->name, KIN_STREAM_NAME_LEN_MAX + 1)) ||
        req->mode > EDDY__STREAM_MODE__MODE_ON_DEMAND ||
        (req->max_record_size_kib != 0 &&
         (req->max_record_size_kib < KIN_RECORD_DATA_MAX / 1024 ||
          req->max_record_size_kib > KIN_RECORD_DATA_LARGE_MAX / 1024))) {
        code = -EDDY_EINVAL;
    } else if (!catalog_is_initialized(c->catalog)) {
        code = -EDDY_EUNAVAILABLE;
    } else if (catalog_find_stream(c->catalog, req->name) != NULL) {
        code = -EDDY_EEXISTS;
    } else if (n > COORD_STREAM_SHARDS_MAX || cat->n_streams >= COORD_STREAMS_MAX ||
               catalog_shard_count(c->catalog) + n > COORD_SHARDS_MAX) {
        code = -EDDY_ELIMIT;
    } else if (c->client_ops_inflight >= COORD_PROPOSALS_INFLIGHT_MAX) {
        code = -EDDY_EFULL;
    }
    if (code != 0) {
        coord_reply_status(c, call, code);
        return;
    }
    Eddy__ShardInfo *shards = eddy_xcalloc(n, sizeof(*shards));
    Eddy__ShardInfo **ptrs = eddy_xcalloc(n, sizeof(*ptrs));
    uint8_t(*bytes)[3][16] = eddy_xcalloc(n, sizeof(*bytes));
    for (uint32_t i = 0; i < n; i++) {
        u128 start;
        u128 end;
        u128_shard_range(i, n, &start, &end);
        u128_to_be(start, bytes[i][0]);
        u128_to_be(end, bytes[i][1]);
        u128_to_be(seqnum_shard_start(i), bytes[i][2]);
        eddy__shard_info__init(&shards[i]);
        shards[i].index = i;
        shards[i].hash_start = (ProtobufCBinaryData){16, bytes[i][0]};
        shards[i].hash_end = (ProtobufCBinaryData){16, bytes[i][1]};
        shards[i].starting_sequence = (ProtobufCBinaryData){16, bytes[i][2]};
        shards[i].group = cat->groups[(cat->next_group_cursor + i) % cat->n_groups]->id;
        shards[i].parent = -1;
        shards[i].adjacent_parent = -1;
        ptrs[i] = &shards[i];
    }
    Eddy__StreamInfo s = EDDY__STREAM_INFO__INIT;
    s.name = req->name;
    s.mode = (Eddy__StreamMode)req->mode;
    s.retention_hours = KIN_RETENTION_HOURS_DEFAULT;
    s.max_record_size_kib = req->max_record_size_kib;
    s.warm_throughput_mibps = req->warm_throughput_mibps;
    s.tags = coord_update_create_tags(req, &s.n_tags); /* checked by the apply */
    s.n_shards = n;
    s.shards = ptrs;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = coord_now_ms(c);
    e.op_case = EDDY__CATALOG_ENTRY__OP_CREATE_STREAM;
    e.create_stream = &s;
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_CLIENT;
    op->call = call;
    c->client_ops_inflight++;
    LOG_INFO("creating stream=%s shards=%" PRIu32, req->name, n);
    coord_propose(c, &e, op);
    eddy_free(s.tags);
    eddy_free(bytes);
    eddy_free(ptrs);
    eddy_free(shards);
}

static void
coord_delete_stream(struct coord *c, struct rpc_call *call, const Eddy__DeleteStreamReq *req)
{
    const Eddy__StreamInfo *s =
        req->name != NULL ? catalog_find_stream(c->catalog, req->name) : NULL;
    if (s == NULL) {
        coord_reply_status(c, call, -EDDY_ENOTFOUND);
        return;
    }
    if (s->status == EDDY__STREAM_STATUS__STREAM_DELETING) {
        coord_reply_status(c, call, 0); /* already on its way out */
        return;
    }
    if (!catalog_status_transition_is_allowed(s->status, EDDY__STREAM_STATUS__STREAM_DELETING)) {
        coord_reply_status(c, call, -EDDY_EINUSE);
        return;
    }
    if (!req->enforce_consumer_deletion && catalog_consumers_registered(s) > 0) {
        coord_reply_status(c, call, -EDDY_EEXISTS); /* consumers exist (rpc.proto) */
        return;
    }
    if (c->client_ops_inflight >= COORD_PROPOSALS_INFLIGHT_MAX) {
        coord_reply_status(c, call, -EDDY_EFULL);
        return;
    }
    Eddy__SetStreamStatus set = EDDY__SET_STREAM_STATUS__INIT;
    set.name = s->name;
    set.created_ms = s->created_ms;
    set.status = EDDY__STREAM_STATUS__STREAM_DELETING;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = coord_now_ms(c);
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
    e.set_status = &set;
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_CLIENT;
    op->call = call;
    c->client_ops_inflight++;
    LOG_INFO("deleting stream=%s", s->name);
    coord_propose(c, &e, op);
}

static void
coord_get_catalog(struct coord *c, struct rpc_call *call, const Eddy__GetCatalogReq *req)
{
    if (!catalog_is_initialized(c->catalog)) {
        coord_reply_status(c, call, -EDDY_EUNAVAILABLE);
        return;
    }
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__GetCatalogResp resp = EDDY__GET_CATALOG_RESP__INIT;
    resp.status = &st;
    if (req->known_version == catalog_version(c->catalog)) {
        resp.unchanged = true;
    } else {
        resp.catalog = (Eddy__Catalog *)catalog_get(c->catalog); /* packed before return */
    }
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_CATALOG;
    f.catalog = &resp;
    rpc_call_reply(call, &f);
}

/* A JoinGroup (TransferLeader) call of group 0 waiting for rgroup_rejoin
 * (rgroup_transfer). rgroup completes it before the group's close callback,
 * so c outlives it. */
struct coord_join {
    struct coord *c;
    struct rpc_call *call;
};

static void coord_on_rejoined(void *arg, int status)
{
    struct coord_join *cj = arg;
    if (status == 0) {
        rpc_reply_ok(cj->call);
    } else {
        rpc_reply_error(cj->call, status, coord_leader_hint(cj->c), eddy_strerror(status));
    }
    eddy_free(cj);
}

static void coord_join_group(struct coord *c, struct rpc_call *call, const Eddy__JoinGroupReq *req)
{
    if (req->group != 0) {
        coord_reply_status(c, call, -EDDY_EINVAL);
        return;
    }
    struct coord_join *cj = eddy_xmalloc(sizeof(*cj));
    *cj = (struct coord_join){.c = c, .call = call};
    LOG_INFO("coordinator rejoin of node=%" PRIu32 " requested", req->node);
    rgroup_rejoin(c->group, req->node, req->raft_address, coord_on_rejoined, cj);
}

/* TransferLeaderReq of group 0 on the ready leader (`eddy leader drain`
 * before a restart): Ack once leadership moved. The balancer never moves
 * group 0, so only an operator does. */
static void
coord_transfer_leader(struct coord *c, struct rpc_call *call, const Eddy__TransferLeaderReq *req)
{
    if (req->group != 0) {
        coord_reply_status(c, call, -EDDY_EINVAL);
        return;
    }
    struct coord_join *cj = eddy_xmalloc(sizeof(*cj));
    *cj = (struct coord_join){.c = c, .call = call};
    LOG_INFO("coordinator leadership transfer to node=%" PRIu32 " requested (0: any)", req->node);
    rgroup_transfer(c->group, req->node, coord_on_rejoined, cj);
}

void coord_handle(struct coord *c, struct rpc_call *call)
{
    const Eddy__Frame *req = rpc_call_request(call);
    if (c->state != COORD_RUNNING) {
        coord_reply_status(c, call, -EDDY_ESHUTDOWN);
        return;
    }
    if (req->body_case == EDDY__FRAME__BODY_CLUSTER_STATUS) {
        cluster_status(c, call); /* followers answer with their node list */
        return;
    }
    if (!rgroup_is_ready(c->group)) {
        uint32_t leader = coord_leader_hint(c);
        rpc_reply_error(call, -EDDY_ENOTLEADER, leader == c->node_id ? 0 : leader,
                        "not the coordinator leader");
        return;
    }
    switch (req->body_case) {
    case EDDY__FRAME__BODY_CREATE_STREAM:
        coord_create_stream(c, call, req->create_stream);
        break;
    case EDDY__FRAME__BODY_DELETE_STREAM:
        coord_delete_stream(c, call, req->delete_stream);
        break;
    case EDDY__FRAME__BODY_GET_CATALOG:
        coord_get_catalog(c, call, req->get_catalog);
        break;
    case EDDY__FRAME__BODY_HEARTBEAT:
        cluster_heartbeat(c, call);
        break;
    case EDDY__FRAME__BODY_JOIN_GROUP:
        coord_join_group(c, call, req->join_group);
        break;
    case EDDY__FRAME__BODY_TRANSFER_LEADER:
        coord_transfer_leader(c, call, req->transfer_leader);
        break;
    case EDDY__FRAME__BODY_UPDATE_STREAM:
        coord_update_stream(c, call, req->update_stream);
        break;
    case EDDY__FRAME__BODY_UPDATE_ACCOUNT:
        coord_update_account(c, call, req->update_account);
        break;
    case EDDY__FRAME__BODY_RESHARD:
        coord_reshard_handle(c, call, req->reshard);
        break;
    case EDDY__FRAME__BODY_CONSUMER:
        coord_consumer_handle(c, call, req->consumer);
        break;
    default:
        coord_reply_status(c, call, -EDDY_EINVAL);
        break;
    }
}

/* ---- lifecycle ---- */

static int coord_config_check(const struct coord_config *cfg)
{
    if (cfg->data_dir == NULL || cfg->peers == NULL || cfg->peer_count == 0 ||
        cfg->peer_count > COORD_NODES_MAX || cfg->group_count == 0 ||
        cfg->group_count > COORD_GROUPS_MAX) {
        return -EDDY_EINVAL;
    }
    if (cfg->node_dead_ms != 0 && (cfg->node_dead_ms < COORD_NODE_DEAD_MS_MIN ||
                                   cfg->node_dead_ms > COORD_NODE_DEAD_MS_MAX)) {
        return -EDDY_EINVAL;
    }
    if (cfg->replace_dead_ms != 0 && (cfg->replace_dead_ms < COORD_REPLACE_DEAD_MS_MIN ||
                                      cfg->replace_dead_ms > COORD_REPLACE_DEAD_MS_MAX)) {
        return -EDDY_EINVAL;
    }
    if ((cfg->trim_interval_ms != 0 && (cfg->trim_interval_ms < COORD_TRIM_INTERVAL_MS_MIN ||
                                        cfg->trim_interval_ms > COORD_TRIM_INTERVAL_MS_MAX)) ||
        cfg->retention_hour_ms > COORD_RETENTION_HOUR_MS_DEFAULT) {
        return -EDDY_EINVAL;
    }
    if ((cfg->ondemand_scale_ms != 0 &&
         (cfg->ondemand_scale_ms < COORD_AUTOSCALE_SUSTAIN_MS_MIN ||
          cfg->ondemand_scale_ms > COORD_AUTOSCALE_SUSTAIN_MS_MAX)) ||
        cfg->ondemand_scale_bytes_per_s > COORD_AUTOSCALE_RATE_MAX ||
        cfg->ondemand_scale_records_per_s > COORD_AUTOSCALE_RATE_MAX) {
        return -EDDY_EINVAL;
    }
    bool self = false;
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        const struct coord_peer *p = &cfg->peers[i];
        if (p->node_id == 0 || p->node_id > COORD_NODE_ID_MAX || p->rpc_address == NULL ||
            p->raft_address == NULL || strlen(p->rpc_address) > COORD_ADDRESS_LEN_MAX ||
            strlen(p->raft_address) > COORD_ADDRESS_LEN_MAX ||
            (p->gateway_address != NULL && strlen(p->gateway_address) > COORD_ADDRESS_LEN_MAX)) {
            return -EDDY_EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (cfg->peers[j].node_id == p->node_id) {
                return -EDDY_EINVAL;
            }
        }
        self = self || p->node_id == cfg->node_id;
    }
    for (uint32_t g = 0; cfg->groups != NULL && g < cfg->group_count; g++) {
        const struct coord_group *grp = &cfg->groups[g];
        if (grp->replica_count == 0 || grp->replica_count > COORD_GROUP_REPLICAS_MAX) {
            return -EDDY_EINVAL;
        }
        for (unsigned r = 0; r < grp->replica_count; r++) {
            bool known = false;
            for (unsigned i = 0; i < cfg->peer_count; i++) {
                known = known || cfg->peers[i].node_id == grp->replicas[r];
            }
            for (unsigned q = 0; q < r; q++) {
                known = known && grp->replicas[q] != grp->replicas[r];
            }
            if (!known) {
                return -EDDY_EINVAL;
            }
        }
    }
    return self ? 0 : -EDDY_EINVAL;
}

static void coord_copy_config(struct coord *c, const struct coord_config *cfg)
{
    size_t dir_len = strlen(cfg->data_dir) + sizeof("/coord");
    c->dir = eddy_xmalloc(dir_len);
    snprintf(c->dir, dir_len, "%s/coord", cfg->data_dir);
    c->peer_count = cfg->peer_count;
    c->peers = eddy_xcalloc(cfg->peer_count, sizeof(*c->peers));
    c->rpeers = eddy_xcalloc(cfg->peer_count, sizeof(*c->rpeers));
    for (unsigned i = 0; i < cfg->peer_count; i++) {
        const struct coord_peer *p = &cfg->peers[i];
        c->peers[i].node_id = (uint32_t)p->node_id;
        c->peers[i].rpc_address = eddy_xstrdup(p->rpc_address);
        c->peers[i].raft_address = eddy_xstrdup(p->raft_address);
        c->peers[i].gateway_address =
            eddy_xstrdup(p->gateway_address != NULL ? p->gateway_address : "");
        c->rpeers[i].node_id = p->node_id;
        c->rpeers[i].raft_addr = c->peers[i].raft_address;
    }
    c->group_count = cfg->group_count;
    c->groups = eddy_xcalloc(cfg->group_count, sizeof(*c->groups));
    for (uint32_t g = 0; g < cfg->group_count; g++) {
        struct coord_group_copy *gc = &c->groups[g];
        if (cfg->groups != NULL) {
            gc->replica_count = cfg->groups[g].replica_count;
            for (unsigned r = 0; r < gc->replica_count; r++) {
                gc->replicas[r] = (uint32_t)cfg->groups[g].replicas[r];
            }
            continue;
        }
        unsigned pos[PLACEMENT_REPLICAS];
        gc->replica_count = placement_group_replicas(g + 1, cfg->peer_count, pos);
        for (unsigned r = 0; r < gc->replica_count; r++) {
            gc->replicas[r] = c->peers[pos[r]].node_id;
        }
    }
}

static void coord_free(struct coord *c)
{
    for (unsigned i = 0; c->peers != NULL && i < c->peer_count; i++) {
        eddy_free(c->peers[i].rpc_address);
        eddy_free(c->peers[i].raft_address);
        eddy_free(c->peers[i].gateway_address);
    }
    eddy_free(c->peers);
    eddy_free(c->rpeers);
    eddy_free(c->groups);
    eddy_free(c->dir);
    reconcile_clear(&c->rec);
    coord_reshard_clear(&c->reshard);
    cluster_clear(c);
    catalog_destroy(c->catalog);
    eddy_free(c);
}

int coord_init(struct coord **out,
               uv_loop_t *loop,
               struct rmux *mux,
               const struct coord_config *cfg)
{
    int rv = coord_config_check(cfg);
    if (rv != 0) {
        return rv;
    }
    struct coord *c = eddy_xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->node_id = (uint32_t)cfg->node_id;
    c->state = COORD_INITIALIZED;
    coord_copy_config(c, cfg);
    cluster_init(c, cfg->node_dead_ms);
    coord_replace_init(&c->replace, cfg->replace_dead_ms);
    coord_trim_init(&c->trim, cfg->trim_interval_ms, cfg->retention_hour_ms);
    coord_autoscale_init(&c->autoscale, cfg->ondemand_scale_ms, cfg->ondemand_scale_bytes_per_s,
                         cfg->ondemand_scale_records_per_s, cfg->account_shard_limit);
    rv = catalog_create(&c->catalog);
    if (rv != 0) {
        goto err_after_alloc;
    }
    catalog_fsm_init(&c->inner, c->catalog);
    c->fsm.data = c;
    c->fsm.apply = coord_fsm_apply;
    c->fsm.free_result = coord_fsm_free_result;
    c->fsm.snapshot = coord_fsm_snapshot;
    c->fsm.restore = coord_fsm_restore;
    struct rgroup_config rcfg = {
        .group_id = 0,
        .node_id = cfg->node_id,
        .dir = c->dir,
        .peers = c->rpeers,
        .peer_count = c->peer_count,
        .election_timeout_ms = cfg->election_timeout_ms,
        .heartbeat_timeout_ms = cfg->heartbeat_timeout_ms,
        .join = cfg->join,
    };
    rv = rgroup_init(&c->group, loop, mux, &rcfg, &c->fsm);
    if (rv != 0) {
        LOG_ERROR("coordinator group init failed dir=%s err=%s", c->dir, eddy_strerror(rv));
        goto err_after_alloc;
    }
    rgroup_set_state_cb(c->group, coord_on_group_state, c);
    c->stream_creating_ms_min = cfg->stream_creating_ms_min;
    rv = uv_timer_init(loop, &c->timer);
    EDDY_ASSERT(rv == 0); /* uv_timer_init cannot fail */
    *out = c;
    return 0;

err_after_alloc:
    coord_free(c);
    return rv;
}

int coord_start(struct coord *c)
{
    EDDY_ASSERT(c->state == COORD_INITIALIZED);
    int rv = rgroup_start(c->group);
    if (rv != 0) {
        LOG_ERROR("coordinator group start failed dir=%s err=%s", c->dir, eddy_strerror(rv));
        return rv;
    }
    coord_set_state(c, COORD_RUNNING);
    coord_kick(c); /* the replica may already be ready (a single voter) */
    return 0;
}

bool coord_is_leader(const struct coord *c)
{
    return c->state == COORD_RUNNING && rgroup_is_ready(c->group);
}

const Eddy__Catalog *coord_catalog(const struct coord *c)
{
    return catalog_get(c->catalog);
}

void coord_status(const struct coord *c, Eddy__GroupStatus *out)
{
    eddy__group_status__init(out);
    out->group = 0;
    if (c->group == NULL) {
        return;
    }
    out->leader_node = (uint32_t)rgroup_leader(c->group);
    out->applied_index = rgroup_applied_index(c->group);
    out->last_index = rgroup_last_index(c->group);
    out->ready = coord_is_leader(c);
}

unsigned coord_voters(const struct coord *c, uint64_t *out, unsigned max)
{
    return c->group != NULL ? rgroup_voters(c->group, out, max) : 0;
}

void coord_set_draining(struct coord *c, bool draining)
{
    if (c->group != NULL) {
        rgroup_set_draining(c->group, draining);
    }
}

void coord_set_change_cb(struct coord *c, coord_change_cb cb, void *arg)
{
    c->change_cb = cb;
    c->change_arg = arg;
}

void coord_maybe_free(struct coord *c)
{
    EDDY_ASSERT(c->state == COORD_CLOSING);
    if (c->closes_pending > 0 || c->ops_inflight > 0 || c->rec.rpcs_inflight > 0 ||
        c->cluster.rpcs_inflight > 0 || c->trim.rpcs_inflight > 0 || c->replace.rpcs_inflight > 0 ||
        c->reshard.rpcs_inflight > 0) {
        return;
    }
    coord_set_state(c, COORD_CLOSED);
    coord_close_cb cb = c->close_cb;
    void *arg = c->close_arg;
    coord_free(c);
    if (cb != NULL) {
        cb(arg);
    }
}

static void coord_on_closed(struct coord *c)
{
    EDDY_ASSERT(c->closes_pending > 0);
    c->closes_pending--;
    coord_maybe_free(c);
}

static void coord_on_timer_closed(uv_handle_t *h)
{
    coord_on_closed(container_of((uv_timer_t *)h, struct coord, timer));
}

static void coord_on_group_closed(void *arg)
{
    struct coord *c = arg;
    c->group = NULL;
    coord_on_closed(c);
}

static void coord_on_client_closed(void *arg)
{
    coord_on_closed(arg);
}

void coord_close(struct coord *c, coord_close_cb cb, void *arg)
{
    coord_set_state(c, COORD_CLOSING);
    c->close_cb = cb;
    c->close_arg = arg;
    reconcile_clear(&c->rec);
    coord_reshard_clear(&c->reshard);
    /* Everything counts as pending before the first close starts, so no
     * callback (rgroup_close fails proposals synchronously) can free c while
     * this function still runs. */
    unsigned clients = c->rec.client_count;
    c->closes_pending = 2 + clients;
    uv_close((uv_handle_t *)&c->timer, coord_on_timer_closed);
    rgroup_close(c->group, coord_on_group_closed, c);
    unsigned closing = reconcile_close_clients(&c->rec, coord_on_client_closed, c);
    EDDY_ASSERT(closing == clients);
}
