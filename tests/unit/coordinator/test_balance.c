/*
 * Leader balancing decisions, pure: balance_pick on hand-made views (which
 * move, when none, convergence to an even spread), and balance_view_build
 * from a catalogue and liveness reports (who leads, which groups are
 * settled, who is live).
 */
#include "balance.h"

#include "eddy/limits.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define T_T0_MS 100000
#define T_DEAD_MS 3000

/* ---- balance_pick on hand-made views ---- */

static void make_groups(struct balance_group *g, size_t n, uint32_t leader)
{
    for (size_t i = 0; i < n; i++) {
        memset(&g[i], 0, sizeof(g[i]));
        g[i].id = (uint32_t)i + 1;
        g[i].replicas[0] = 1;
        g[i].replicas[1] = 2;
        g[i].replicas[2] = 3;
        g[i].replica_count = 3;
        g[i].leader = leader;
        g[i].is_settled = true;
    }
}

static unsigned count_led(const struct balance_group *g, size_t n, uint32_t node)
{
    unsigned c = 0;
    for (size_t i = 0; i < n; i++) {
        c += g[i].leader == node;
    }
    return c;
}

/* Applies picks until none; returns the number of moves. */
static unsigned converge(struct balance_group *g, size_t n, const uint32_t *live, unsigned live_n)
{
    unsigned moves = 0;
    struct balance_move m;
    while (balance_pick(g, n, live, live_n, &m)) {
        ck_assert_uint_lt(moves, 1000);
        ck_assert_uint_ne(m.from, m.to);
        struct balance_group *moved = &g[m.group - 1];
        ck_assert_uint_eq(moved->leader, m.from);
        moved->leader = m.to;
        moves++;
    }
    return moves;
}

START_TEST(test_balance_pick_first_move_from_crowded_node)
{
    struct balance_group g[6];
    make_groups(g, 6, 1);
    uint32_t live[3] = {1, 2, 3};
    struct balance_move m;
    ck_assert(balance_pick(g, 6, live, 3, &m));
    ck_assert_uint_eq(m.group, 1);
    ck_assert_uint_eq(m.from, 1);
    ck_assert_uint_eq(m.to, 2);
}
END_TEST

START_TEST(test_balance_pick_converges_to_even_spread)
{
    struct balance_group g[6];
    make_groups(g, 6, 1);
    uint32_t live[3] = {1, 2, 3};
    ck_assert_uint_eq(converge(g, 6, live, 3), 4);
    ck_assert_uint_eq(count_led(g, 6, 1), 2);
    ck_assert_uint_eq(count_led(g, 6, 2), 2);
    ck_assert_uint_eq(count_led(g, 6, 3), 2);
}
END_TEST

START_TEST(test_balance_pick_uneven_count_differs_by_one_at_most)
{
    struct balance_group g[7];
    make_groups(g, 7, 3);
    uint32_t live[3] = {1, 2, 3};
    converge(g, 7, live, 3);
    unsigned c1 = count_led(g, 7, 1);
    unsigned c2 = count_led(g, 7, 2);
    unsigned c3 = count_led(g, 7, 3);
    ck_assert_uint_eq(c1 + c2 + c3, 7);
    ck_assert_uint_le(abs((int)c1 - (int)c2), 1);
    ck_assert_uint_le(abs((int)c2 - (int)c3), 1);
    ck_assert_uint_le(abs((int)c1 - (int)c3), 1);
}
END_TEST

START_TEST(test_balance_pick_balanced_or_off_by_one_is_left_alone)
{
    struct balance_group g[5];
    make_groups(g, 5, 1);
    g[2].leader = 2;
    g[3].leader = 2;
    g[4].leader = 3; /* 2, 2, 1 */
    uint32_t live[3] = {1, 2, 3};
    struct balance_move m;
    ck_assert(!balance_pick(g, 5, live, 3, &m));
}
END_TEST

START_TEST(test_balance_pick_unsettled_groups_stay)
{
    struct balance_group g[6];
    make_groups(g, 6, 1);
    for (size_t i = 0; i < 6; i++) {
        g[i].is_settled = i == 4; /* only group 5 may move */
    }
    uint32_t live[3] = {1, 2, 3};
    struct balance_move m;
    ck_assert(balance_pick(g, 6, live, 3, &m));
    ck_assert_uint_eq(m.group, 5);
    g[4].is_settled = false;
    ck_assert(!balance_pick(g, 6, live, 3, &m));
}
END_TEST

START_TEST(test_balance_pick_restarted_node_gets_its_share)
{
    struct balance_group g[6];
    make_groups(g, 6, 1);
    for (size_t i = 3; i < 6; i++) {
        g[i].leader = 2; /* node 3 was down: 3, 3, 0 */
    }
    uint32_t live[3] = {1, 2, 3};
    struct balance_move m;
    ck_assert(balance_pick(g, 6, live, 3, &m));
    ck_assert_uint_eq(m.to, 3);
    ck_assert_uint_eq(converge(g, 6, live, 3), 2);
    ck_assert_uint_eq(count_led(g, 6, 3), 2);
}
END_TEST

START_TEST(test_balance_pick_only_to_live_replicas)
{
    struct balance_group g[4];
    make_groups(g, 4, 1);
    uint32_t live[2] = {1, 3}; /* node 2 dead */
    struct balance_move m;
    ck_assert(balance_pick(g, 4, live, 2, &m));
    ck_assert_uint_eq(m.to, 3);
    ck_assert_uint_eq(converge(g, 4, live, 2), 2);
    ck_assert_uint_eq(count_led(g, 4, 2), 0);
    /* A group whose replicas exclude the idle node cannot help it. */
    make_groups(g, 4, 1);
    for (size_t i = 0; i < 4; i++) {
        g[i].replicas[2] = 4;
    }
    uint32_t live3[3] = {1, 2, 3};
    ck_assert_uint_eq(converge(g, 4, live3, 3), 2);
    ck_assert_uint_eq(count_led(g, 4, 3), 0);
    ck_assert_uint_eq(count_led(g, 4, 2), 2);
}
END_TEST

START_TEST(test_balance_pick_no_leader_no_move)
{
    struct balance_group g[3];
    make_groups(g, 3, 0);
    uint32_t live[3] = {1, 2, 3};
    struct balance_move m;
    ck_assert(!balance_pick(g, 3, live, 3, &m));
    ck_assert(!balance_pick(g, 0, live, 3, &m));
    ck_assert(!balance_pick(g, 3, live, 0, &m));
}
END_TEST

/* ---- balance_view_build from a catalogue and reports ---- */

struct fixture {
    Eddy__NodeInfo nodes[3];
    Eddy__NodeInfo *node_ptrs[3];
    Eddy__GroupInfo groups[2];
    Eddy__GroupInfo *group_ptrs[2];
    uint32_t replicas[3];
    Eddy__Catalog cat;
    struct liveness live;
    uint32_t draining; /* report() says this node drains; 0: none */
};

static struct fixture fx;

static void view_setup(void)
{
    memset(&fx, 0, sizeof(fx));
    for (int i = 0; i < 3; i++) {
        eddy__node_info__init(&fx.nodes[i]);
        fx.nodes[i].id = (uint32_t)i + 1;
        fx.node_ptrs[i] = &fx.nodes[i];
        fx.replicas[i] = (uint32_t)i + 1;
    }
    for (int g = 0; g < 2; g++) {
        eddy__group_info__init(&fx.groups[g]);
        fx.groups[g].id = (uint32_t)g + 1;
        fx.groups[g].n_replicas = 3;
        fx.groups[g].replicas = fx.replicas;
        fx.group_ptrs[g] = &fx.groups[g];
    }
    eddy__catalog__init(&fx.cat);
    fx.cat.n_nodes = 3;
    fx.cat.nodes = fx.node_ptrs;
    fx.cat.n_groups = 2;
    fx.cat.groups = fx.group_ptrs;
    liveness_init(&fx.live, T_DEAD_MS, T_T0_MS);
}

static void view_teardown(void)
{
    liveness_clear(&fx.live);
}

/* Node reports groups 1 and 2: applied a1/a2, ready r1/r2, hydrating h2. */
static void report(uint32_t node, uint64_t now, uint64_t a1, bool r1, uint64_t a2, bool r2, bool h2)
{
    Eddy__GroupStatus gs[2];
    Eddy__GroupStatus *ptrs[2] = {&gs[0], &gs[1]};
    eddy__group_status__init(&gs[0]);
    eddy__group_status__init(&gs[1]);
    gs[0].group = 1;
    gs[0].applied_index = a1;
    gs[0].ready = r1;
    gs[1].group = 2;
    gs[1].applied_index = a2;
    gs[1].ready = r2;
    gs[1].hydrating = h2;
    Eddy__HeartbeatReq hb = EDDY__HEARTBEAT_REQ__INIT;
    hb.node = node;
    hb.n_groups = 2;
    hb.groups = ptrs;
    hb.draining = node == fx.draining;
    ck_assert_int_eq(liveness_record(&fx.live, now, &hb), 0);
}

START_TEST(test_balance_view_all_reporting_is_settled)
{
    report(1, T_T0_MS + 10, 100, true, 50, true, false);
    report(2, T_T0_MS + 20, 100, false, 50, false, false);
    report(3, T_T0_MS + 30, 99, false, 50, false, false);
    struct balance_group g[2];
    uint32_t live[COORD_NODES_MAX];
    unsigned n = balance_view_build(&fx.cat, &fx.live, T_T0_MS + 100, g, live);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(g[0].id, 1);
    ck_assert_uint_eq(g[0].leader, 1);
    ck_assert_uint_eq(g[0].replica_count, 3);
    ck_assert(g[0].is_settled);
    ck_assert_uint_eq(g[1].leader, 1);
    ck_assert(g[1].is_settled);
    struct balance_move m;
    ck_assert(balance_pick(g, 2, live, n, &m));
    ck_assert_uint_eq(m.group, 1);
    ck_assert_uint_eq(m.from, 1);
    ck_assert_uint_eq(m.to, 2);
}
END_TEST

START_TEST(test_balance_view_unknown_or_dead_replica_unsettles)
{
    report(1, T_T0_MS + 10, 100, true, 50, true, false);
    report(2, T_T0_MS + 20, 100, false, 50, false, false);
    struct balance_group g[2];
    uint32_t live[COORD_NODES_MAX];
    /* Node 3 unknown: not live, and every group has it as a replica. */
    ck_assert_uint_eq(balance_view_build(&fx.cat, &fx.live, T_T0_MS + 100, g, live), 2);
    ck_assert(!g[0].is_settled);
    ck_assert(!g[1].is_settled);
    ck_assert_uint_eq(g[0].leader, 1);
    /* Node 3 reported long ago, now dead. */
    report(3, T_T0_MS + 30, 100, false, 50, false, false);
    report(1, T_T0_MS + 5000, 100, true, 50, true, false);
    report(2, T_T0_MS + 5000, 100, false, 50, false, false);
    ck_assert_uint_eq(balance_view_build(&fx.cat, &fx.live, T_T0_MS + 5000, g, live), 2);
    ck_assert_uint_eq(live[0], 1);
    ck_assert_uint_eq(live[1], 2);
    ck_assert(!g[0].is_settled);
}
END_TEST

START_TEST(test_balance_view_lagging_or_hydrating_unsettles)
{
    uint64_t lag = EDDY_REPLICA_LAG_ENTRIES_MAX;
    report(1, T_T0_MS + 10, 5000, true, 50, true, false);
    report(2, T_T0_MS + 20, 5000 - lag, false, 50, false, true);
    report(3, T_T0_MS + 30, 5000 - lag - 1, false, 50, false, false);
    struct balance_group g[2];
    uint32_t live[COORD_NODES_MAX];
    ck_assert_uint_eq(balance_view_build(&fx.cat, &fx.live, T_T0_MS + 100, g, live), 3);
    ck_assert(!g[0].is_settled); /* node 3 lags one entry too many */
    ck_assert(!g[1].is_settled); /* node 2 hydrates */
    report(3, T_T0_MS + 40, 5000 - lag, false, 50, false, false);
    balance_view_build(&fx.cat, &fx.live, T_T0_MS + 100, g, live);
    ck_assert(g[0].is_settled);
}
END_TEST

START_TEST(test_balance_view_stale_double_claim_freshest_wins)
{
    report(1, T_T0_MS + 10, 100, true, 50, false, false); /* before the move */
    report(2, T_T0_MS + 300, 101, true, 50, true, false); /* after it */
    report(3, T_T0_MS + 30, 100, false, 50, false, false);
    struct balance_group g[2];
    uint32_t live[COORD_NODES_MAX];
    balance_view_build(&fx.cat, &fx.live, T_T0_MS + 400, g, live);
    ck_assert_uint_eq(g[0].leader, 2);
    ck_assert_uint_eq(g[1].leader, 2);
}
END_TEST

START_TEST(test_balance_view_missing_report_or_no_leader)
{
    report(1, T_T0_MS + 10, 100, false, 50, false, false);
    report(2, T_T0_MS + 20, 100, false, 50, false, false);
    Eddy__HeartbeatReq hb = EDDY__HEARTBEAT_REQ__INIT; /* node 3 reports no group */
    hb.node = 3;
    ck_assert_int_eq(liveness_record(&fx.live, T_T0_MS + 30, &hb), 0);
    struct balance_group g[2];
    uint32_t live[COORD_NODES_MAX];
    ck_assert_uint_eq(balance_view_build(&fx.cat, &fx.live, T_T0_MS + 100, g, live), 3);
    ck_assert_uint_eq(g[0].leader, 0);
    ck_assert(!g[0].is_settled);
    report(1, T_T0_MS + 510, 100, true, 50, true, false);
    balance_view_build(&fx.cat, &fx.live, T_T0_MS + 600, g, live);
    ck_assert_uint_eq(g[0].leader, 1);
    ck_assert(!g[0].is_settled); /* node 3 still has no report for it */
}
END_TEST

START_TEST(test_balance_view_draining_node_is_no_target)
{
    fx.draining = 2; /* `eddy leader drain` before its restart */
    report(1, T_T0_MS + 10, 100, true, 50, true, false);
    report(2, T_T0_MS + 20, 100, false, 50, false, false);
    report(3, T_T0_MS + 30, 100, false, 50, false, false);
    struct balance_group g[2];
    uint32_t live[COORD_NODES_MAX];
    ck_assert_uint_eq(balance_view_build(&fx.cat, &fx.live, T_T0_MS + 100, g, live), 2);
    ck_assert_uint_eq(live[0], 1);
    ck_assert_uint_eq(live[1], 3);
    ck_assert(g[0].is_settled); /* alive, so the others are still balanced */
    struct balance_move m;
    ck_assert(balance_pick(g, 2, live, 2, &m));
    ck_assert_uint_eq(m.from, 1);
    ck_assert_uint_eq(m.to, 3); /* not 2, the lower id */
}
END_TEST

START_TEST(test_balance_view_draining_leader_is_left_alone_until_it_restarts)
{
    fx.draining = 3;
    report(1, T_T0_MS + 10, 100, false, 50, false, false);
    report(2, T_T0_MS + 20, 100, false, 50, false, false);
    report(3, T_T0_MS + 30, 100, true, 50, true, false); /* took both back */
    struct balance_group g[2];
    uint32_t live[COORD_NODES_MAX];
    ck_assert_uint_eq(balance_view_build(&fx.cat, &fx.live, T_T0_MS + 100, g, live), 2);
    ck_assert_uint_eq(g[0].leader, 3);
    ck_assert(g[0].is_settled);
    struct balance_move m;
    /* Its replicas hand them away; the balancer neither counts nor moves them. */
    ck_assert(!balance_pick(g, 2, live, 2, &m));
    /* Restarted: its first report says it does not drain and it leads
     * nothing; the rolling restart goes on with node 2. */
    fx.draining = 2;
    report(1, T_T0_MS + 500, 100, true, 50, true, false);
    report(2, T_T0_MS + 505, 100, false, 50, false, false);
    report(3, T_T0_MS + 510, 100, false, 50, false, false);
    ck_assert_uint_eq(balance_view_build(&fx.cat, &fx.live, T_T0_MS + 600, g, live), 2);
    ck_assert_uint_eq(live[1], 3);
    ck_assert(balance_pick(g, 2, live, 2, &m));
    ck_assert_uint_eq(m.from, 1);
    ck_assert_uint_eq(m.to, 3);
}
END_TEST

static Suite *balance_suite(void)
{
    Suite *s = suite_create("balance");
    TCase *tc = tcase_create("pick");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_balance_pick_first_move_from_crowded_node);
    tcase_add_test(tc, test_balance_pick_converges_to_even_spread);
    tcase_add_test(tc, test_balance_pick_uneven_count_differs_by_one_at_most);
    tcase_add_test(tc, test_balance_pick_balanced_or_off_by_one_is_left_alone);
    tcase_add_test(tc, test_balance_pick_unsettled_groups_stay);
    tcase_add_test(tc, test_balance_pick_restarted_node_gets_its_share);
    tcase_add_test(tc, test_balance_pick_only_to_live_replicas);
    tcase_add_test(tc, test_balance_pick_no_leader_no_move);
    suite_add_tcase(s, tc);
    tc = tcase_create("view");
    tcase_add_checked_fixture(tc, view_setup, view_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_balance_view_all_reporting_is_settled);
    tcase_add_test(tc, test_balance_view_unknown_or_dead_replica_unsettles);
    tcase_add_test(tc, test_balance_view_lagging_or_hydrating_unsettles);
    tcase_add_test(tc, test_balance_view_stale_double_claim_freshest_wins);
    tcase_add_test(tc, test_balance_view_missing_report_or_no_leader);
    tcase_add_test(tc, test_balance_view_draining_node_is_no_target);
    tcase_add_test(tc, test_balance_view_draining_leader_is_left_alone_until_it_restarts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(balance_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
