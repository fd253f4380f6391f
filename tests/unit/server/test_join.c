/*
 * Unit tests for server/join.c: the bootstrap-or-join verdict, the probe
 * against fake peers (RPC servers answering NodeStatus the way a node
 * would), the JoinGroup retries that follow leader hints, the rejoin and
 * replacement phases of a group (docs/adr/0004), and the catalogue fetch.
 */
#include "join.h"

#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 10000
#define FAKES_MAX 2

static uv_loop_t loop;
/* Keeps the loop ticking while a test waits, also once the join stopped
 * its own timer (it has nothing left to do). */
static uv_timer_t keepalive;

static void on_keepalive(uv_timer_t *t)
{
    (void)t;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

typedef bool (*pred_fn)(void *ctx);

static bool run_until(pred_fn pred, void *ctx, uint64_t timeout_ms)
{
    uv_update_time(&loop);
    uint64_t deadline = uv_now(&loop) + timeout_ms;
    while (!pred(ctx)) {
        if (uv_now(&loop) >= deadline) {
            return false;
        }
        uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
}

static bool pred_never(void *ctx)
{
    (void)ctx;
    return false;
}

static void run_for(uint64_t ms)
{
    run_until(pred_never, NULL, ms);
}

/* --- fake peers --- */

struct fake {
    struct rpc_server *rpc;
    char addr[32];
    int port;
    uint32_t node_id;
    bool is_open;
    bool shows_cluster; /* NodeStatus: groups past their bootstrap entry */
    bool is_ready;      /* NodeStatus: a ready leader of groups 0 and 1 */
    int join_code;      /* JoinGroup answer once not busy */
    uint32_t join_hint;
    unsigned busy_left; /* JoinGroup answers -EDDY_EINUSE this many times first */
    unsigned join_calls;
    unsigned status_calls;
    uint32_t last_join_node;
    char last_join_address[64];
    uint32_t join_replaces[8]; /* JoinGroupReq.replaces of the acknowledged calls, in order */
    unsigned join_acks;
    uint64_t catalog_version; /* GetCatalog: answered with this version; 0: -EDDY_ENOTLEADER */
    uint32_t catalog_hint;
    unsigned catalog_calls;
};

static struct fake fakes[FAKES_MAX];

static void fake_node_status(struct fake *f, struct rpc_call *call)
{
    f->status_calls++;
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__GroupStatus gs[2];
    Eddy__GroupStatus *ptrs[2];
    for (int i = 0; i < 2; i++) {
        eddy__group_status__init(&gs[i]);
        gs[i].group = (uint32_t)i;
        gs[i].applied_index = f->shows_cluster ? 1 : 0; /* just restarted: not applied yet */
        gs[i].last_index = f->shows_cluster ? 7 : 1;
        gs[i].ready = f->is_ready;
        ptrs[i] = &gs[i];
    }
    Eddy__NodeStatusResp resp = EDDY__NODE_STATUS_RESP__INIT;
    resp.status = &st;
    resp.node = f->node_id;
    resp.n_groups = 2;
    resp.groups = ptrs;
    Eddy__Frame out = EDDY__FRAME__INIT;
    out.body_case = EDDY__FRAME__BODY_NODE_STATUS_RESP;
    out.node_status_resp = &resp;
    rpc_call_reply(call, &out);
}

static void fake_get_catalog(struct fake *f, struct rpc_call *call)
{
    f->catalog_calls++;
    if (f->catalog_version == 0) {
        rpc_reply_error(call, -EDDY_ENOTLEADER, f->catalog_hint, NULL);
        return;
    }
    uint32_t replicas[] = {1, 3};
    Eddy__GroupInfo gi = EDDY__GROUP_INFO__INIT;
    gi.id = 4;
    gi.n_replicas = 2;
    gi.replicas = replicas;
    Eddy__GroupInfo *gptr = &gi;
    Eddy__Catalog cat = EDDY__CATALOG__INIT;
    cat.version = f->catalog_version;
    cat.n_groups = 1;
    cat.groups = &gptr;
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__GetCatalogResp resp = EDDY__GET_CATALOG_RESP__INIT;
    resp.status = &st;
    resp.catalog = &cat;
    Eddy__Frame out = EDDY__FRAME__INIT;
    out.body_case = EDDY__FRAME__BODY_CATALOG;
    out.catalog = &resp;
    rpc_call_reply(call, &out);
}

static void fake_on_call(void *data, struct rpc_call *call)
{
    struct fake *f = data;
    const Eddy__Frame *req = rpc_call_request(call);
    if (req->body_case == EDDY__FRAME__BODY_NODE_STATUS) {
        fake_node_status(f, call);
        return;
    }
    if (req->body_case == EDDY__FRAME__BODY_GET_CATALOG) {
        fake_get_catalog(f, call);
        return;
    }
    ck_assert_int_eq(req->body_case, EDDY__FRAME__BODY_JOIN_GROUP);
    f->join_calls++;
    f->last_join_node = req->join_group->node;
    snprintf(f->last_join_address, sizeof(f->last_join_address), "%s",
             req->join_group->raft_address);
    if (f->busy_left > 0) {
        f->busy_left--;
        rpc_reply_error(call, -EDDY_EINUSE, 0, NULL);
    } else if (f->join_code != 0) {
        rpc_reply_error(call, f->join_code, f->join_hint, NULL);
    } else {
        if (f->join_acks < 8) {
            f->join_replaces[f->join_acks] = req->join_group->replaces;
        }
        f->join_acks++;
        rpc_reply_ok(call);
    }
}

static void fake_start(int i)
{
    struct fake *f = &fakes[i];
    ck_assert_int_eq(rpc_server_init(&f->rpc, &loop, "127.0.0.1", f->port, fake_on_call, f), 0);
    f->is_open = true;
}

static int closes_pending;

static void on_closed(void *arg)
{
    (void)arg;
    closes_pending--;
}

static bool pred_no_closes(void *ctx)
{
    (void)ctx;
    return closes_pending == 0;
}

/* --- the join under test: node 1, fakes are nodes 2 and 3 --- */

static struct join *j;
static char self_rpc[32];
static bool probe_done;
static bool probe_exists;
static unsigned probe_calls;

static void on_probe(void *arg, bool cluster_exists)
{
    ck_assert_ptr_eq(arg, &probe_done);
    probe_calls++;
    probe_done = true;
    probe_exists = cluster_exists;
}

static bool pred_probe_done(void *ctx)
{
    (void)ctx;
    return probe_done;
}

static void join_open(unsigned peer_count)
{
    struct join_peer peers[1 + FAKES_MAX];
    peers[0] = (struct join_peer){.node_id = 1, .rpc_address = self_rpc};
    for (unsigned i = 1; i < peer_count; i++) {
        peers[i] =
            (struct join_peer){.node_id = fakes[i - 1].node_id, .rpc_address = fakes[i - 1].addr};
    }
    static const uint32_t groups[] = {0, 1};
    struct join_config cfg = {
        .node_id = 1,
        .raft_address = "127.0.0.1:7001",
        .peers = peers,
        .peer_count = peer_count,
        .groups = groups,
        .group_count = 2,
    };
    ck_assert_int_eq(join_init(&j, &loop, &cfg), 0);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_WARN);
    log_init_from_env();
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(uv_timer_init(&loop, &keepalive), 0);
    ck_assert_int_eq(uv_timer_start(&keepalive, on_keepalive, 10, 10), 0);
    memset(fakes, 0, sizeof(fakes));
    for (int i = 0; i < FAKES_MAX; i++) {
        fakes[i].node_id = (uint32_t)i + 2;
        fakes[i].port = free_port();
        snprintf(fakes[i].addr, sizeof(fakes[i].addr), "127.0.0.1:%d", fakes[i].port);
    }
    snprintf(self_rpc, sizeof(self_rpc), "127.0.0.1:%d", free_port());
    j = NULL;
    probe_done = false;
    probe_exists = false;
    probe_calls = 0;
    closes_pending = 0;
}

static void teardown(void)
{
    uv_close((uv_handle_t *)&keepalive, NULL);
    if (j != NULL) {
        closes_pending++;
        join_close(j, on_closed, NULL);
        j = NULL;
    }
    for (int i = 0; i < FAKES_MAX; i++) {
        if (fakes[i].is_open) {
            closes_pending++;
            rpc_server_close(fakes[i].rpc, on_closed, NULL);
            fakes[i].is_open = false;
        }
    }
    ck_assert(run_until(pred_no_closes, NULL, WAIT_MS));
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* --- pure parts --- */

START_TEST(test_join_pure_verdict)
{
    /* Three peers: one other answer is a majority with this node. */
    ck_assert_int_eq(join_verdict(3, 0, false, false), JOIN_VERDICT_WAIT);
    ck_assert_int_eq(join_verdict(3, 1, false, false), JOIN_VERDICT_BOOTSTRAP);
    ck_assert_int_eq(join_verdict(3, 2, false, true), JOIN_VERDICT_BOOTSTRAP);
    /* Once seen, never bootstrap; join only with every group led. */
    ck_assert_int_eq(join_verdict(3, 2, true, false), JOIN_VERDICT_WAIT);
    ck_assert_int_eq(join_verdict(3, 1, true, true), JOIN_VERDICT_JOIN);
    ck_assert_int_eq(join_verdict(3, 0, true, true), JOIN_VERDICT_JOIN);
    /* Five peers need two other answers; one node alone is a majority. */
    ck_assert_int_eq(join_verdict(5, 1, false, false), JOIN_VERDICT_WAIT);
    ck_assert_int_eq(join_verdict(5, 2, false, false), JOIN_VERDICT_BOOTSTRAP);
    ck_assert_int_eq(join_verdict(1, 0, false, false), JOIN_VERDICT_BOOTSTRAP);
    /* Two peers: the other one must answer. */
    ck_assert_int_eq(join_verdict(2, 0, false, false), JOIN_VERDICT_WAIT);
    ck_assert_int_eq(join_verdict(2, 1, false, false), JOIN_VERDICT_BOOTSTRAP);
}
END_TEST

START_TEST(test_join_pure_status_shows_cluster)
{
    Eddy__GroupStatus gs = EDDY__GROUP_STATUS__INIT;
    Eddy__GroupStatus *ptr = &gs;
    Eddy__NodeStatusResp resp = EDDY__NODE_STATUS_RESP__INIT;
    ck_assert(!join_status_shows_cluster(&resp)); /* a node still probing: no groups */
    resp.n_groups = 1;
    resp.groups = &ptr;
    ck_assert(!join_status_shows_cluster(&resp)); /* a pristine replica in join mode */
    gs.last_index = 1;
    ck_assert(!join_status_shows_cluster(&resp)); /* bootstrapped, never led */
    gs.last_index = 2;
    ck_assert(join_status_shows_cluster(&resp)); /* a leader's barrier */
    gs.last_index = 1;
    gs.applied_index = 2;
    ck_assert(join_status_shows_cluster(&resp));
}
END_TEST

START_TEST(test_join_pure_raft_dir)
{
    char buf[64];
    ck_assert_int_eq(join_raft_dir(buf, sizeof(buf), "/d", 0), 0);
    ck_assert_str_eq(buf, "/d/coord");
    ck_assert_int_eq(join_raft_dir(buf, sizeof(buf), "/d", 12), 0);
    ck_assert_str_eq(buf, "/d/groups/12/raft");
    ck_assert_int_eq(join_raft_dir(buf, 8, "/d", 12), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_join_pure_init_errors)
{
    struct join_peer peers[] = {{.node_id = 2, .rpc_address = "127.0.0.1:1"}};
    uint32_t groups[] = {0};
    struct join_config cfg = {
        .node_id = 1, /* not among the peers */
        .raft_address = "127.0.0.1:2",
        .peers = peers,
        .peer_count = 1,
        .groups = groups,
        .group_count = 1,
    };
    struct join *out = NULL;
    ck_assert_int_eq(join_init(&out, &loop, &cfg), -EDDY_EINVAL);
    cfg.node_id = 2;
    cfg.groups = NULL; /* groups to wait for, but no list */
    ck_assert_int_eq(join_init(&out, &loop, &cfg), -EDDY_EINVAL);
    ck_assert_ptr_null(out);
}
END_TEST

/* --- probe --- */

START_TEST(test_join_probe_waits_for_majority)
{
    join_open(3);
    join_probe(j, on_probe, &probe_done);
    run_for(1200); /* nobody answers */
    ck_assert(!probe_done);
    fake_start(0); /* one peer answers, no cluster: a majority with this node */
    ck_assert(run_until(pred_probe_done, NULL, WAIT_MS));
    ck_assert(!probe_exists);
    ck_assert_uint_eq(probe_calls, 1);
    ck_assert_uint_ge(fakes[0].status_calls, 1);
}
END_TEST

START_TEST(test_join_probe_joins_led_cluster)
{
    fakes[1].shows_cluster = true;
    fakes[1].is_ready = true;
    fake_start(1);
    join_open(3);
    join_probe(j, on_probe, &probe_done);
    ck_assert(!probe_done);
    ck_assert(run_until(pred_probe_done, NULL, WAIT_MS));
    ck_assert(probe_exists);
    run_for(300);
    ck_assert_uint_eq(probe_calls, 1);
}
END_TEST

START_TEST(test_join_probe_waits_for_leaders)
{
    fakes[0].shows_cluster = true; /* restarted with data, no quorum yet */
    fake_start(0);
    fake_start(1); /* pristine, probing too: would make a majority */
    join_open(3);
    join_probe(j, on_probe, &probe_done);
    run_for(1200);
    ck_assert(!probe_done); /* neither bootstrap nor join */
    fakes[1].shows_cluster = true;
    fakes[1].is_ready = true;
    ck_assert(run_until(pred_probe_done, NULL, WAIT_MS));
    ck_assert(probe_exists);
}
END_TEST

START_TEST(test_join_probe_single_node)
{
    join_open(1);
    join_probe(j, on_probe, &probe_done);
    ck_assert(!probe_done);
    ck_assert(run_until(pred_probe_done, NULL, WAIT_MS));
    ck_assert(!probe_exists);
}
END_TEST

START_TEST(test_join_probe_close_while_asking)
{
    join_open(3);
    join_probe(j, on_probe, &probe_done);
    run_for(100);
    closes_pending++;
    join_close(j, on_closed, NULL);
    j = NULL;
    ck_assert(run_until(pred_no_closes, NULL, WAIT_MS));
    ck_assert(!probe_done);
}
END_TEST

/* --- groups --- */

static bool pred_groups_done(void *ctx)
{
    (void)ctx;
    return join_groups_pending(j) == 0;
}

START_TEST(test_join_group_follows_hints)
{
    /* Node 2 points at node 3, which is busy once, then acknowledges. */
    fakes[0].join_code = -EDDY_ENOTLEADER;
    fakes[0].join_hint = 3;
    fakes[1].busy_left = 1;
    fake_start(0);
    fake_start(1);
    join_open(3);
    join_group(j, 0);
    join_group(j, 1);
    ck_assert_uint_eq(join_groups_pending(j), 2);
    ck_assert(run_until(pred_groups_done, NULL, WAIT_MS));
    ck_assert_uint_ge(fakes[1].join_calls, 3); /* busy once, then two acks */
    ck_assert_uint_eq(fakes[1].last_join_node, 1);
    ck_assert_str_eq(fakes[1].last_join_address, "127.0.0.1:7001");
}
END_TEST

START_TEST(test_join_group_survives_a_dead_peer)
{
    /* Node 2 never answers; node 3 knows no leader at first. */
    fakes[1].join_code = -EDDY_ENOTLEADER;
    fake_start(1);
    join_open(3);
    join_group(j, 1);
    run_for(1000);
    ck_assert_uint_eq(join_groups_pending(j), 1);
    ck_assert_uint_ge(fakes[1].join_calls, 1);
    fakes[1].join_code = 0;
    ck_assert(run_until(pred_groups_done, NULL, WAIT_MS));
}
END_TEST

/* A rejoin, then the replaced member's removal, both through the leader. */
START_TEST(test_join_group_rejoin_then_replace)
{
    fakes[0].join_code = -EDDY_ENOTHOSTED; /* hosts other groups only */
    fake_start(0);
    fake_start(1);
    join_open(3);
    join_group(j, 1);
    join_group_replace(j, 1, 9);
    ck_assert(join_group_is_pending(j, 1));
    ck_assert_uint_eq(join_groups_pending(j), 1);
    ck_assert(run_until(pred_groups_done, NULL, WAIT_MS));
    ck_assert(!join_group_is_pending(j, 1));
    ck_assert_uint_eq(fakes[1].join_acks, 2);
    ck_assert_uint_eq(fakes[1].join_replaces[0], 0);
    ck_assert_uint_eq(fakes[1].join_replaces[1], 9);
    /* Asking again after it is done asks again: only the removal now. */
    join_group_replace(j, 1, 9);
    ck_assert_uint_eq(join_groups_pending(j), 1);
    ck_assert(run_until(pred_groups_done, NULL, WAIT_MS));
    ck_assert_uint_eq(fakes[1].join_acks, 3);
    ck_assert_uint_eq(fakes[1].join_replaces[2], 9);
}
END_TEST

START_TEST(test_join_group_cancel)
{
    fakes[1].join_code = -EDDY_ENOTLEADER; /* never a leader */
    fake_start(1);
    join_open(3);
    join_group(j, 1);
    join_group_replace(j, 2, 9);
    run_for(500);
    ck_assert_uint_eq(join_groups_pending(j), 2);
    join_group_cancel(j, 1);
    join_group_cancel(j, 2);
    join_group_cancel(j, 3); /* never asked: nothing to do */
    ck_assert(!join_group_is_pending(j, 1));
    ck_assert(run_until(pred_groups_done, NULL, WAIT_MS));
    unsigned calls = fakes[1].join_calls;
    run_for(500);
    ck_assert_uint_le(fakes[1].join_calls, calls + 2); /* calls in flight at most */
    ck_assert_uint_eq(fakes[1].join_acks, 0);
}
END_TEST

/* --- catalogue --- */

static uint64_t catalog_seen_version;
static unsigned catalog_seen_calls;

static void on_catalog(void *arg, const Eddy__Catalog *cat)
{
    ck_assert_ptr_eq(arg, &catalog_seen_version);
    catalog_seen_calls++;
    catalog_seen_version = cat->version;
    ck_assert_uint_eq(cat->n_groups, 1);
    ck_assert_uint_eq(cat->groups[0]->id, 4);
    ck_assert_uint_eq(cat->groups[0]->n_replicas, 2);
}

static bool pred_catalog_seen(void *ctx)
{
    (void)ctx;
    return catalog_seen_calls > 0;
}

START_TEST(test_join_catalog_follows_hint)
{
    catalog_seen_calls = 0;
    catalog_seen_version = 0;
    fakes[0].catalog_hint = 3; /* a follower: node 3 leads */
    fakes[1].catalog_version = 42;
    fake_start(0);
    fake_start(1);
    join_open(3);
    join_fetch_catalog(j, on_catalog, &catalog_seen_version);
    ck_assert_uint_eq(catalog_seen_calls, 0);
    ck_assert(run_until(pred_catalog_seen, NULL, WAIT_MS));
    ck_assert_uint_eq(catalog_seen_version, 42);
    run_for(300);
    ck_assert_uint_eq(catalog_seen_calls, 1);
}
END_TEST

START_TEST(test_join_catalog_waits_for_a_leader)
{
    catalog_seen_calls = 0;
    fake_start(1); /* node 2 is down, node 3 knows no leader yet */
    join_open(3);
    join_fetch_catalog(j, on_catalog, &catalog_seen_version);
    run_for(1200);
    ck_assert_uint_eq(catalog_seen_calls, 0);
    ck_assert_uint_ge(fakes[1].catalog_calls, 1);
    fakes[1].catalog_version = 7;
    ck_assert(run_until(pred_catalog_seen, NULL, WAIT_MS));
    ck_assert_uint_eq(catalog_seen_version, 7);
}
END_TEST

START_TEST(test_join_probe_without_groups)
{
    /* A node with no coordinator role waits for no group's leader. */
    fakes[1].shows_cluster = true;
    fake_start(1);
    struct join_peer peers[] = {{.node_id = 1, .rpc_address = self_rpc},
                                {.node_id = 3, .rpc_address = fakes[1].addr}};
    struct join_config cfg = {
        .node_id = 1,
        .raft_address = "127.0.0.1:7001",
        .peers = peers,
        .peer_count = 2,
        .group_count = 0,
    };
    ck_assert_int_eq(join_init(&j, &loop, &cfg), 0);
    join_probe(j, on_probe, &probe_done);
    ck_assert(run_until(pred_probe_done, NULL, WAIT_MS));
    ck_assert(probe_exists);
}
END_TEST

static Suite *join_suite(void)
{
    Suite *s = suite_create("join");

    TCase *pure = tcase_create("pure");
    tcase_set_timeout(pure, 10);
    tcase_add_checked_fixture(pure, setup, teardown);
    tcase_add_test(pure, test_join_pure_verdict);
    tcase_add_test(pure, test_join_pure_status_shows_cluster);
    tcase_add_test(pure, test_join_pure_raft_dir);
    tcase_add_test(pure, test_join_pure_init_errors);
    suite_add_tcase(s, pure);

    TCase *probe = tcase_create("probe");
    tcase_set_timeout(probe, 30);
    tcase_add_checked_fixture(probe, setup, teardown);
    tcase_add_test(probe, test_join_probe_waits_for_majority);
    tcase_add_test(probe, test_join_probe_joins_led_cluster);
    tcase_add_test(probe, test_join_probe_waits_for_leaders);
    tcase_add_test(probe, test_join_probe_single_node);
    tcase_add_test(probe, test_join_probe_close_while_asking);
    suite_add_tcase(s, probe);

    TCase *group = tcase_create("group");
    tcase_set_timeout(group, 30);
    tcase_add_checked_fixture(group, setup, teardown);
    tcase_add_test(group, test_join_group_follows_hints);
    tcase_add_test(group, test_join_group_survives_a_dead_peer);
    tcase_add_test(group, test_join_group_rejoin_then_replace);
    tcase_add_test(group, test_join_group_cancel);
    suite_add_tcase(s, group);

    TCase *catalog = tcase_create("catalog");
    tcase_set_timeout(catalog, 30);
    tcase_add_checked_fixture(catalog, setup, teardown);
    tcase_add_test(catalog, test_join_catalog_follows_hint);
    tcase_add_test(catalog, test_join_catalog_waits_for_a_leader);
    tcase_add_test(catalog, test_join_probe_without_groups);
    suite_add_tcase(s, catalog);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(join_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
