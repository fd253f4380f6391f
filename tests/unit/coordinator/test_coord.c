/*
 * The coordinator service on a real single-voter Raft group in a temporary
 * directory. One RPC server on 127.0.0.1 routes metadata requests to the
 * coordinator and plays the shard server for CreateShards/DropStream, so the
 * reconciler's whole round trip (CREATING -> ACTIVE, DELETING -> removed)
 * runs inside one loop, created in the checked fixture.
 */
#include "coord.h"
#include "coord_limits.h"

#include "eddy/errors.h"
#include "eddy/rmux.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_DEADLINE_MS 15000

static uv_loop_t loop;
static char dir[64];
static char rpc_addr[32];
static char raft_addr[32];
static int rpc_port;
static struct rmux *mux;
static struct rpc_server *server;
static struct rpc_client *client;
static struct coord *coord;

/* The fake shard server. */
static unsigned create_shards_calls;
static unsigned create_shards_shards;
static unsigned drop_calls;
static unsigned notleader_left; /* CreateShards answered -EDDY_ENOTLEADER first */
static uint32_t notleader_hint; /* the leader those answers name */
static unsigned changes_seen;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void on_request(void *data, struct rpc_call *call)
{
    (void)data;
    const Eddy__Frame *f = rpc_call_request(call);
    switch (f->body_case) {
    case EDDY__FRAME__BODY_CREATE_SHARDS:
        create_shards_calls++;
        if (notleader_left > 0) {
            notleader_left--;
            rpc_reply_error(call, -EDDY_ENOTLEADER, notleader_hint, NULL);
            return;
        }
        create_shards_shards += (unsigned)f->create_shards->n_shards;
        rpc_reply_ok(call);
        return;
    case EDDY__FRAME__BODY_DROP_STREAM:
        drop_calls++;
        rpc_reply_ok(call);
        return;
    default:
        coord_handle(coord, call);
        return;
    }
}

static void on_change(void *arg, const Eddy__Catalog *cat)
{
    (void)arg;
    ck_assert_uint_gt(cat->version, 0);
    changes_seen++;
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static struct coord_peer peers[3];
static struct coord_config cfg;

static void coord_open(void)
{
    ck_assert_int_eq(coord_init(&coord, &loop, mux, &cfg), 0);
    coord_set_change_cb(coord, on_change, NULL);
    ck_assert_int_eq(coord_start(coord), 0);
}

/* Starts a coordinator whose peers are this node and, when absent_peers > 0,
 * nodes that never answer (so no leader can be elected). */
static void start(unsigned absent_peers)
{
    create_shards_calls = 0;
    create_shards_shards = 0;
    drop_calls = 0;
    notleader_left = 0;
    notleader_hint = 1;
    changes_seen = 0;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    snprintf(dir, sizeof(dir), "/tmp/eddy-test-coord-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rpc_port = free_port();
    snprintf(rpc_addr, sizeof(rpc_addr), "127.0.0.1:%d", rpc_port);
    snprintf(raft_addr, sizeof(raft_addr), "127.0.0.1:%d", free_port());
    ck_assert_int_eq(rmux_init(&mux, &loop, raft_addr), 0);
    ck_assert_int_eq(rpc_server_init(&server, &loop, "127.0.0.1", rpc_port, on_request, NULL), 0);
    static char absent_addr[2][32];
    memset(peers, 0, sizeof(peers));
    peers[0] =
        (struct coord_peer){.node_id = 1, .rpc_address = rpc_addr, .raft_address = raft_addr};
    for (unsigned i = 0; i < absent_peers && i < 2; i++) {
        snprintf(absent_addr[i], sizeof(absent_addr[i]), "127.0.0.1:%d", free_port());
        peers[1 + i].node_id = 2 + i;
        peers[1 + i].rpc_address = absent_addr[i];
        peers[1 + i].raft_address = absent_addr[i];
    }
    cfg = (struct coord_config){
        .node_id = 1,
        .data_dir = dir,
        .peers = peers,
        .peer_count = 1 + absent_peers,
        .group_count = 3,
    };
    coord_open();
    ck_assert_int_eq(rpc_client_init(&client, &loop, rpc_addr), 0);
}

static void setup_single(void)
{
    start(0);
}

static void setup_no_quorum(void)
{
    start(2);
}

static void on_flag(void *arg)
{
    *(bool *)arg = true;
}

static void run_until(const bool *flag)
{
    uint64_t deadline = uv_now(&loop) + T_DEADLINE_MS;
    while (!*flag) {
        ck_assert_msg(uv_now(&loop) < deadline, "deadline passed");
        if (uv_run(&loop, UV_RUN_ONCE) == 0 && !*flag) {
            ck_abort_msg("loop ran dry");
        }
    }
}

static void teardown(void)
{
    bool coord_closed = false;
    bool client_closed = false;
    bool server_closed = false;
    bool mux_closed = false;
    coord_close(coord, on_flag, &coord_closed);
    rpc_client_close(client, on_flag, &client_closed);
    run_until(&coord_closed);
    run_until(&client_closed);
    rpc_server_close(server, on_flag, &server_closed);
    run_until(&server_closed);
    rmux_close(mux, on_flag, &mux_closed);
    run_until(&mux_closed);
    uv_walk(&loop, on_walk_close, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- a synchronous call through the RPC client ---- */

struct reply {
    bool done;
    int status;
    Eddy__Frame *frame; /* a copy */
};

static void on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct reply *r = arg;
    r->done = true;
    r->status = status;
    if (resp != NULL) {
        size_t len = eddy__frame__get_packed_size(resp);
        uint8_t *buf = malloc(len + 1);
        eddy__frame__pack(resp, buf);
        r->frame = eddy__frame__unpack(NULL, len, buf);
        free(buf);
    }
}

/* Sends f and returns the response's status code; *out (may be NULL) gets
 * the response frame, freed by the caller with eddy__frame__free_unpacked. */
static int call(Eddy__Frame *f, Eddy__Frame **out)
{
    struct reply r = {0};
    rpc_client_call(client, f, 5000, on_reply, &r);
    run_until(&r.done);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(r.frame);
    const Eddy__Status *st = rpc_frame_status(r.frame);
    ck_assert_ptr_nonnull(st);
    int code = st->code;
    if (out != NULL) {
        *out = r.frame;
    } else {
        eddy__frame__free_unpacked(r.frame, NULL);
    }
    return code;
}

static int create_stream(const char *name, uint32_t shards)
{
    Eddy__CreateStreamReq req = EDDY__CREATE_STREAM_REQ__INIT;
    req.name = (char *)name;
    req.shard_count = shards;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_CREATE_STREAM;
    f.create_stream = &req;
    return call(&f, NULL);
}

static int delete_stream(const char *name, uint32_t *leader)
{
    Eddy__DeleteStreamReq req = EDDY__DELETE_STREAM_REQ__INIT;
    req.name = (char *)name;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_DELETE_STREAM;
    f.delete_stream = &req;
    Eddy__Frame *resp;
    int code = call(&f, &resp);
    if (leader != NULL) {
        *leader = resp->ack->status->leader_node;
    }
    eddy__frame__free_unpacked(resp, NULL);
    return code;
}

/* GetCatalog; *out gets the response (free it). */
static int get_catalog(uint64_t known_version, Eddy__Frame **out)
{
    Eddy__GetCatalogReq req = EDDY__GET_CATALOG_REQ__INIT;
    req.known_version = known_version;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_GET_CATALOG;
    f.get_catalog = &req;
    return call(&f, out);
}

static void sleep_ms(uint64_t ms)
{
    uint64_t until = uv_now(&loop) + ms;
    while (uv_now(&loop) < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static void wait_initialized(void)
{
    uint64_t deadline = uv_now(&loop) + T_DEADLINE_MS;
    while (!coord_is_leader(coord) || coord_catalog(coord)->version == 0) {
        ck_assert_msg(uv_now(&loop) < deadline, "no initialised leader");
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static const Eddy__StreamInfo *find_stream(const Eddy__Catalog *cat, const char *name)
{
    for (size_t i = 0; i < cat->n_streams; i++) {
        if (strcmp(cat->streams[i]->name, name) == 0) {
            return cat->streams[i];
        }
    }
    return NULL;
}

/* Polls the local catalogue until `name` has `status` (-1: is absent). */
static void wait_stream(const char *name, int status)
{
    uint64_t deadline = uv_now(&loop) + T_DEADLINE_MS;
    for (;;) {
        const Eddy__StreamInfo *s = find_stream(coord_catalog(coord), name);
        if ((status < 0 && s == NULL) || (s != NULL && (int)s->status == status)) {
            return;
        }
        ck_assert_msg(uv_now(&loop) < deadline, "stream %s never reached %d", name, status);
        sleep_ms(5);
    }
}

/* ---- tests ---- */

START_TEST(test_coord_boot_initialises_catalogue)
{
    wait_initialized();
    const Eddy__Catalog *cat = coord_catalog(coord);
    ck_assert_uint_eq(cat->n_nodes, 1);
    ck_assert_str_eq(cat->nodes[0]->rpc_address, rpc_addr);
    ck_assert_uint_eq(cat->n_groups, 3);
    ck_assert_uint_eq(cat->groups[2]->id, 3);
    ck_assert_uint_eq(cat->groups[2]->n_replicas, 1);
    ck_assert_uint_eq(cat->iterator_key.len, COORD_ITERATOR_KEY_BYTES);
    ck_assert_uint_ge(changes_seen, 1);
    Eddy__GroupStatus st;
    coord_status(coord, &st);
    ck_assert_uint_eq(st.group, 0);
    ck_assert_uint_eq(st.leader_node, 1);
    ck_assert(st.ready);
    ck_assert_uint_ge(st.applied_index, 1);
}
END_TEST

START_TEST(test_coord_create_becomes_active)
{
    wait_initialized();
    notleader_left = 1; /* the first CreateShards is redirected, then retried */
    ck_assert_int_eq(create_stream("orders", 5), 0);
    const Eddy__StreamInfo *s = find_stream(coord_catalog(coord), "orders");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->n_shards, 5);
    ck_assert_uint_eq(s->shards[0]->group, 1);
    ck_assert_uint_eq(s->shards[4]->group, 2);
    ck_assert_int_eq(s->shards[2]->parent, -1);
    wait_stream("orders", EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_uint_eq(create_shards_shards, 5);
    ck_assert_uint_eq(create_shards_calls, 4); /* 3 groups + 1 redirected */
    ck_assert_uint_eq(coord_catalog(coord)->next_group_cursor, 2);

    ck_assert_int_eq(create_stream("orders", 1), -EDDY_EEXISTS);
    ck_assert_int_eq(create_stream("bad name", 1), -EDDY_EINVAL);
    ck_assert_int_eq(create_stream("huge", COORD_STREAM_SHARDS_MAX + 1), -EDDY_ELIMIT);
    ck_assert_int_eq(create_stream("next", 1), 0);
    s = find_stream(coord_catalog(coord), "next");
    ck_assert_uint_eq(s->shards[0]->group, 3); /* round-robin continues */
    wait_stream("next", EDDY__STREAM_STATUS__STREAM_ACTIVE);
}
END_TEST

START_TEST(test_coord_delete_drops_and_removes)
{
    wait_initialized();
    ck_assert_int_eq(create_stream("tmp", 2), 0);
    wait_stream("tmp", EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_int_eq(delete_stream("tmp", NULL), 0);
    wait_stream("tmp", -1);
    ck_assert_uint_eq(drop_calls, 2);
    ck_assert_int_eq(delete_stream("tmp", NULL), -EDDY_ENOTFOUND);
    ck_assert_int_eq(create_stream("tmp", 1), 0); /* the name is free again */
}
END_TEST

START_TEST(test_coord_delete_while_creating)
{
    wait_initialized();
    notleader_left = 1000000; /* the groups never take the shards */
    notleader_hint = 0;
    ck_assert_int_eq(create_stream("stuck", 3), 0);
    sleep_ms(300);
    ck_assert_int_eq(find_stream(coord_catalog(coord), "stuck")->status,
                     EDDY__STREAM_STATUS__STREAM_CREATING);
    ck_assert_uint_gt(create_shards_calls, 3); /* retried */
    ck_assert_int_eq(delete_stream("stuck", NULL), 0);
    ck_assert_int_eq(delete_stream("stuck", NULL), 0); /* already DELETING: fine */
    wait_stream("stuck", -1);
    ck_assert_uint_eq(drop_calls, 3);
    ck_assert_uint_eq(create_shards_shards, 0);
}
END_TEST

START_TEST(test_coord_get_catalog_by_version)
{
    wait_initialized();
    ck_assert_int_eq(create_stream("s", 1), 0);
    Eddy__Frame *resp;
    ck_assert_int_eq(get_catalog(0, &resp), 0);
    ck_assert(!resp->catalog->unchanged);
    ck_assert_ptr_nonnull(resp->catalog->catalog);
    uint64_t version = resp->catalog->catalog->version;
    ck_assert_uint_eq(version, coord_catalog(coord)->version);
    ck_assert_ptr_nonnull(find_stream(resp->catalog->catalog, "s"));
    eddy__frame__free_unpacked(resp, NULL);
    ck_assert_int_eq(get_catalog(coord_catalog(coord)->version, &resp), 0);
    ck_assert(resp->catalog->unchanged);
    ck_assert_ptr_null(resp->catalog->catalog);
    eddy__frame__free_unpacked(resp, NULL);
}
END_TEST

START_TEST(test_coord_restart_keeps_catalogue)
{
    wait_initialized();
    ck_assert_int_eq(create_stream("kept", 3), 0);
    wait_stream("kept", EDDY__STREAM_STATUS__STREAM_ACTIVE);
    uint64_t version = coord_catalog(coord)->version;
    uint8_t key[COORD_ITERATOR_KEY_BYTES];
    memcpy(key, coord_catalog(coord)->iterator_key.data, sizeof(key));
    bool closed = false;
    coord_close(coord, on_flag, &closed);
    run_until(&closed);
    coord_open();
    wait_initialized();
    const Eddy__Catalog *cat = coord_catalog(coord);
    ck_assert_uint_eq(cat->version, version); /* no second init */
    ck_assert(memcmp(cat->iterator_key.data, key, sizeof(key)) == 0);
    const Eddy__StreamInfo *s = find_stream(cat, "kept");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_int_eq(create_stream("kept", 1), -EDDY_EEXISTS);
}
END_TEST

START_TEST(test_coord_bad_config_rejected)
{
    struct coord *other = NULL;
    struct coord_config bad = cfg;
    bad.node_id = 9; /* not a peer */
    ck_assert_int_eq(coord_init(&other, &loop, mux, &bad), -EDDY_EINVAL);
    bad = cfg;
    bad.group_count = 0;
    ck_assert_int_eq(coord_init(&other, &loop, mux, &bad), -EDDY_EINVAL);
    uint64_t replicas[2] = {1, 7}; /* 7 is no peer */
    struct coord_group groups[3] = {{replicas, 1}, {replicas, 1}, {replicas, 2}};
    bad = cfg;
    bad.groups = groups;
    ck_assert_int_eq(coord_init(&other, &loop, mux, &bad), -EDDY_EINVAL);
    bad = cfg;
    bad.node_dead_ms = COORD_NODE_DEAD_MS_MIN - 1;
    ck_assert_int_eq(coord_init(&other, &loop, mux, &bad), -EDDY_EINVAL);
    bad.node_dead_ms = COORD_NODE_DEAD_MS_MAX + 1;
    ck_assert_int_eq(coord_init(&other, &loop, mux, &bad), -EDDY_EINVAL);
    ck_assert_ptr_null(other);
}
END_TEST

/* ---- heartbeats and ClusterStatus (cluster.c) ---- */

/* A heartbeat of node reporting group 0 (ready) and group 1 at applied. */
static int heartbeat(uint32_t node, uint64_t applied)
{
    Eddy__GroupStatus gs[2];
    Eddy__GroupStatus *ptrs[2] = {&gs[0], &gs[1]};
    for (int i = 0; i < 2; i++) {
        eddy__group_status__init(&gs[i]);
        gs[i].group = (uint32_t)i;
        gs[i].applied_index = applied;
        gs[i].ready = i == 0;
    }
    Eddy__HeartbeatReq req = EDDY__HEARTBEAT_REQ__INIT;
    req.node = node;
    req.rpc_address = rpc_addr;
    req.gateway_address = "127.0.0.1:4567";
    req.n_groups = 2;
    req.groups = ptrs;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_HEARTBEAT;
    f.heartbeat = &req;
    return call(&f, NULL);
}

/* ClusterStatus; *out gets the response (free it). */
static int cluster_status(Eddy__Frame **out)
{
    Eddy__ClusterStatusReq req = EDDY__CLUSTER_STATUS_REQ__INIT;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_CLUSTER_STATUS;
    f.cluster_status = &req;
    int code = call(&f, out);
    ck_assert_int_eq((*out)->body_case, EDDY__FRAME__BODY_CLUSTER_STATUS_RESP);
    return code;
}

START_TEST(test_coord_heartbeat_alive_then_dead)
{
    wait_initialized();
    Eddy__Frame *resp;
    ck_assert_int_eq(cluster_status(&resp), 0);
    const Eddy__ClusterStatusResp *cs = resp->cluster_status_resp;
    ck_assert_ptr_nonnull(cs->catalog);
    ck_assert_uint_eq(cs->catalog->n_groups, 3);
    ck_assert_uint_eq(cs->n_nodes, 1);
    ck_assert_uint_eq(cs->nodes[0]->node, 1);
    ck_assert(!cs->nodes[0]->alive); /* nothing heard yet: unknown */
    ck_assert(!cs->nodes[0]->seen);
    ck_assert_int_eq(cs->nodes[0]->state, EDDY__NODE_STATE__NODE_UNKNOWN);
    eddy__frame__free_unpacked(resp, NULL);

    ck_assert_int_eq(heartbeat(1, 42), 0);
    ck_assert_int_eq(heartbeat(7, 42), -EDDY_ENOTFOUND); /* not in the catalogue */
    ck_assert_int_eq(cluster_status(&resp), 0);
    cs = resp->cluster_status_resp;
    ck_assert(cs->nodes[0]->alive);
    ck_assert(cs->nodes[0]->seen);
    ck_assert_int_eq(cs->nodes[0]->state, EDDY__NODE_STATE__NODE_ALIVE);
    ck_assert_str_eq(cs->nodes[0]->gateway_address, "127.0.0.1:4567");
    ck_assert_uint_eq(cs->nodes[0]->n_groups, 2);
    ck_assert(cs->nodes[0]->groups[0]->ready);
    ck_assert_uint_eq(cs->nodes[0]->groups[1]->applied_index, 42);
    eddy__frame__free_unpacked(resp, NULL);

    sleep_ms(COORD_NODE_DEAD_MS_DEFAULT + 100);
    ck_assert_int_eq(cluster_status(&resp), 0);
    cs = resp->cluster_status_resp;
    ck_assert(!cs->nodes[0]->alive);
    ck_assert(cs->nodes[0]->seen);
    ck_assert_int_eq(cs->nodes[0]->state, EDDY__NODE_STATE__NODE_DEAD);
    ck_assert_uint_ge(cs->nodes[0]->last_seen_ms_ago, COORD_NODE_DEAD_MS_DEFAULT);
    eddy__frame__free_unpacked(resp, NULL);

    ck_assert_int_eq(heartbeat(1, 43), 0);
    ck_assert_int_eq(cluster_status(&resp), 0);
    ck_assert(resp->cluster_status_resp->nodes[0]->alive);
    ck_assert_uint_eq(resp->cluster_status_resp->nodes[0]->groups[1]->applied_index, 43);
    eddy__frame__free_unpacked(resp, NULL);
}
END_TEST

START_TEST(test_coord_no_quorum_not_leader)
{
    sleep_ms(700); /* past an election timeout: still no majority */
    ck_assert(!coord_is_leader(coord));
    ck_assert_int_eq(create_stream("s", 1), -EDDY_ENOTLEADER);
    uint32_t leader = 99;
    ck_assert_int_eq(delete_stream("s", &leader), -EDDY_ENOTLEADER);
    ck_assert_uint_eq(leader, 0);
    Eddy__Frame *resp;
    ck_assert_int_eq(get_catalog(0, &resp), -EDDY_ENOTLEADER);
    eddy__frame__free_unpacked(resp, NULL);
    ck_assert_int_eq(heartbeat(1, 1), -EDDY_ENOTLEADER);
    ck_assert_int_eq(cluster_status(&resp), -EDDY_ENOTLEADER);
    ck_assert_uint_eq(resp->cluster_status_resp->status->leader_node, 0);
    ck_assert_ptr_null(resp->cluster_status_resp->catalog); /* none yet to send along */
    ck_assert_uint_eq(resp->cluster_status_resp->n_nodes, 0);
    eddy__frame__free_unpacked(resp, NULL);
    ck_assert_uint_eq(coord_catalog(coord)->version, 0);
}
END_TEST

static Suite *coord_suite(void)
{
    Suite *s = suite_create("coord");
    TCase *tc = tcase_create("single");
    tcase_add_checked_fixture(tc, setup_single, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_coord_boot_initialises_catalogue);
    tcase_add_test(tc, test_coord_create_becomes_active);
    tcase_add_test(tc, test_coord_delete_drops_and_removes);
    tcase_add_test(tc, test_coord_delete_while_creating);
    tcase_add_test(tc, test_coord_get_catalog_by_version);
    tcase_add_test(tc, test_coord_restart_keeps_catalogue);
    tcase_add_test(tc, test_coord_bad_config_rejected);
    tcase_add_test(tc, test_coord_heartbeat_alive_then_dead);
    suite_add_tcase(s, tc);
    tc = tcase_create("follower");
    tcase_add_checked_fixture(tc, setup_no_quorum, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_coord_no_quorum_not_leader);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(coord_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
