/*
 * What `eddy cluster status` concludes, pure: a hand-made ClusterStatusResp
 * (three nodes, group 0 and two shard groups on all three) turned healthy
 * and unhealthy in each way the contract names.
 */
#include "cluster_health.h"

#include "eddy/limits.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define T_NODES 3
#define T_GROUPS 3 /* 0, 1, 2 */

struct fixture {
    Eddy__NodeInfo ni[T_NODES];
    Eddy__NodeInfo *ni_ptrs[T_NODES];
    Eddy__GroupInfo gi[T_GROUPS - 1];
    Eddy__GroupInfo *gi_ptrs[T_GROUPS - 1];
    uint32_t replicas[T_NODES];
    Eddy__Catalog cat;
    Eddy__NodeLiveness nl[T_NODES];
    Eddy__NodeLiveness *nl_ptrs[T_NODES];
    Eddy__GroupStatus gs[T_NODES][T_GROUPS];
    Eddy__GroupStatus *gs_ptrs[T_NODES][T_GROUPS];
    Eddy__ClusterStatusResp resp;
    struct health h;
};

static struct fixture fx;

/* Healthy: every node alive; node g % 3 + 1 leads group g; all applied 100. */
static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    eddy__catalog__init(&fx.cat);
    for (int n = 0; n < T_NODES; n++) {
        eddy__node_info__init(&fx.ni[n]);
        fx.ni[n].id = (uint32_t)n + 1;
        fx.ni[n].rpc_address = "127.0.0.1:1";
        fx.ni_ptrs[n] = &fx.ni[n];
        fx.replicas[n] = (uint32_t)n + 1;
        eddy__node_liveness__init(&fx.nl[n]);
        fx.nl[n].node = (uint32_t)n + 1;
        fx.nl[n].alive = true;
        fx.nl[n].seen = true;
        fx.nl[n].state = EDDY__NODE_STATE__NODE_ALIVE;
        fx.nl[n].last_seen_ms_ago = 100;
        fx.nl[n].n_groups = T_GROUPS;
        fx.nl[n].groups = fx.gs_ptrs[n];
        fx.nl_ptrs[n] = &fx.nl[n];
        for (int g = 0; g < T_GROUPS; g++) {
            Eddy__GroupStatus *gs = &fx.gs[n][g];
            eddy__group_status__init(gs);
            gs->group = (uint32_t)g;
            gs->applied_index = 100;
            gs->leader_node = (uint32_t)(g % T_NODES) + 1;
            gs->ready = g % T_NODES == n;
            fx.gs_ptrs[n][g] = gs;
        }
    }
    for (int g = 0; g < T_GROUPS - 1; g++) {
        eddy__group_info__init(&fx.gi[g]);
        fx.gi[g].id = (uint32_t)g + 1;
        fx.gi[g].n_replicas = T_NODES;
        fx.gi[g].replicas = fx.replicas;
        fx.gi_ptrs[g] = &fx.gi[g];
    }
    fx.cat.n_nodes = T_NODES;
    fx.cat.nodes = fx.ni_ptrs;
    fx.cat.n_groups = T_GROUPS - 1;
    fx.cat.groups = fx.gi_ptrs;
    eddy__cluster_status_resp__init(&fx.resp);
    fx.resp.catalog = &fx.cat;
    fx.resp.n_nodes = T_NODES;
    fx.resp.nodes = fx.nl_ptrs;
}

static void teardown(void)
{
    health_free(&fx.h);
}

static bool has_problem(const char *text)
{
    for (unsigned i = 0; i < fx.h.problem_count && i < HEALTH_PROBLEMS_MAX; i++) {
        if (strstr(fx.h.problems[i], text) != NULL) {
            return true;
        }
    }
    return false;
}

START_TEST(test_cluster_health_evaluate_healthy)
{
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(fx.h.is_healthy);
    ck_assert_uint_eq(fx.h.problem_count, 0);
    ck_assert_uint_eq(fx.h.nodes_alive, 3);
    ck_assert_uint_eq(fx.h.group_count, 3);
    ck_assert_uint_eq(fx.h.groups_healthy, 3);
    ck_assert_uint_eq(fx.h.groups[0].id, 0);
    ck_assert_uint_eq(fx.h.groups[0].leader, 1);
    ck_assert_uint_eq(fx.h.groups[0].replica_count, 3);
    ck_assert_uint_eq(fx.h.groups[2].id, 2);
    ck_assert_uint_eq(fx.h.groups[2].leader, 3);
    ck_assert_uint_eq(fx.h.groups[2].leader_applied_index, 100);
    ck_assert_int_eq(fx.h.groups[2].replicas[1].state, HEALTH_REPLICA_OK);
}
END_TEST

START_TEST(test_cluster_health_evaluate_dead_node)
{
    fx.nl[2].alive = false;
    fx.nl[2].state = EDDY__NODE_STATE__NODE_DEAD;
    fx.nl[2].last_seen_ms_ago = 4200;
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(!fx.h.is_healthy);
    ck_assert_uint_eq(fx.h.nodes_alive, 2);
    ck_assert(has_problem("node 3 is dead (heartbeats stopped)"));
    /* Node 3 led group 2: its stale ready report does not count. */
    ck_assert_uint_eq(fx.h.groups[2].leader, 0);
    ck_assert(has_problem("group 2 has no ready leader"));
    ck_assert_int_eq(fx.h.groups[1].replicas[2].state, HEALTH_REPLICA_NODE_DEAD);
    ck_assert(!fx.h.groups[1].is_healthy);
    ck_assert_uint_eq(fx.h.problem_count, 2); /* one per cause, not per replica */
}
END_TEST

START_TEST(test_cluster_health_evaluate_unknown_node)
{
    fx.nl[1].alive = false;
    fx.nl[1].seen = false;
    fx.nl[1].state = EDDY__NODE_STATE__NODE_UNKNOWN;
    fx.nl[1].n_groups = 0;
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(!fx.h.is_healthy);
    ck_assert(has_problem("node 2 is unknown"));
    ck_assert_int_eq(fx.h.groups[0].replicas[1].state, HEALTH_REPLICA_NODE_UNKNOWN);
    fx.resp.n_nodes = 2; /* the coordinator sent no entry for node 3 */
    health_free(&fx.h);
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(has_problem("node 3 is unknown"));
}
END_TEST

START_TEST(test_cluster_health_evaluate_draining_node)
{
    fx.nl[1].draining = true; /* `eddy leader drain` before its restart */
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(!fx.h.is_healthy);
    ck_assert_uint_eq(fx.h.nodes_alive, 3);
    ck_assert(has_problem("node 2 is draining (eddy leader drain)"));
    ck_assert_uint_eq(fx.h.problem_count, 1);
    ck_assert_uint_eq(fx.h.groups_healthy, 3);
}
END_TEST

START_TEST(test_cluster_health_evaluate_lagging_and_hydrating)
{
    /* Group 1, led by node 2 at 5000: node 3 just within the lag, node 1 not. */
    fx.gs[1][1].applied_index = 5000;
    fx.gs[2][1].applied_index = 5000 - EDDY_REPLICA_LAG_ENTRIES_MAX;
    fx.gs[0][1].applied_index = 5000 - EDDY_REPLICA_LAG_ENTRIES_MAX - 1;
    fx.gs[2][2].hydrating = true;
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(!fx.h.is_healthy);
    ck_assert_int_eq(fx.h.groups[1].replicas[0].state, HEALTH_REPLICA_LAGGING);
    ck_assert_int_eq(fx.h.groups[1].replicas[2].state, HEALTH_REPLICA_OK);
    ck_assert(has_problem("group 1: replica on node 1 lags"));
    ck_assert_int_eq(fx.h.groups[2].replicas[2].state, HEALTH_REPLICA_HYDRATING);
    ck_assert(has_problem("group 2: replica on node 3 is hydrating"));
    ck_assert_uint_eq(fx.h.groups_healthy, 1);
}
END_TEST

START_TEST(test_cluster_health_evaluate_missing_replica_and_no_leader)
{
    fx.nl[0].n_groups = 2; /* node 1 does not report group 2 */
    fx.gs[1][1].ready = false;
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(has_problem("group 2: node 1 does not report its replica"));
    ck_assert(has_problem("group 1 has no ready leader"));
    ck_assert_int_eq(fx.h.groups[2].replicas[0].state, HEALTH_REPLICA_MISSING);
    ck_assert_uint_eq(fx.h.groups[1].leader, 0);
}
END_TEST

START_TEST(test_cluster_health_evaluate_two_claims_freshest_wins)
{
    fx.gs[0][1].ready = true; /* node 1 too, from an older heartbeat */
    fx.nl[0].last_seen_ms_ago = 450;
    health_evaluate(&fx.resp, &fx.h);
    ck_assert_uint_eq(fx.h.groups[1].leader, 2);
    ck_assert(fx.h.is_healthy);
}
END_TEST

/* Replica replacement (docs/adr/0004): voters that differ from the
 * catalogue, and a replica left on a node it was replaced on. */
START_TEST(test_cluster_health_evaluate_membership_changing)
{
    uint32_t voters_ok[] = {3, 1, 2}; /* any order */
    uint32_t voters_extra[] = {1, 2, 3, 4};
    Eddy__GroupStatus *lead = &fx.gs[1][1]; /* node 2 leads group 1 */
    ck_assert(lead->ready);
    lead->n_voters = 3;
    lead->voters = voters_ok;
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(fx.h.is_healthy);
    health_free(&fx.h);
    lead->n_voters = 4;
    lead->voters = voters_extra;
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(!fx.h.is_healthy);
    ck_assert(!fx.h.groups[1].is_healthy);
    ck_assert(fx.h.groups[2].is_healthy);
    ck_assert(has_problem("group 1: membership changing"));
}
END_TEST

START_TEST(test_cluster_health_evaluate_stale_replica)
{
    uint32_t two[] = {1, 2};
    fx.gi[1].n_replicas = 2; /* group 2 no longer on node 3 */
    fx.gi[1].replicas = two;
    fx.gs[2][2].ready = false;
    fx.gs[0][2].ready = true; /* node 1 leads it now */
    health_evaluate(&fx.resp, &fx.h);
    ck_assert(!fx.h.is_healthy);
    ck_assert(fx.h.groups[2].is_healthy);
    ck_assert(has_problem("node 3 still hosts a replica of group 2 it was replaced in"));
    ck_assert_uint_eq(fx.h.problem_count, 1);
}
END_TEST

START_TEST(test_cluster_health_evaluate_many_problems_are_counted)
{
    for (int n = 0; n < T_NODES; n++) {
        fx.nl[n].alive = false;
        fx.nl[n].state = EDDY__NODE_STATE__NODE_DEAD;
    }
    health_evaluate(&fx.resp, &fx.h);
    ck_assert_uint_eq(fx.h.nodes_alive, 0);
    ck_assert_uint_eq(fx.h.problem_count, 3 + 3); /* three nodes, three leaderless groups */
    ck_assert(has_problem("coordinator group has no ready leader"));
}
END_TEST

static Suite *cluster_health_suite(void)
{
    Suite *s = suite_create("cluster_health");
    TCase *tc = tcase_create("evaluate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_cluster_health_evaluate_healthy);
    tcase_add_test(tc, test_cluster_health_evaluate_dead_node);
    tcase_add_test(tc, test_cluster_health_evaluate_unknown_node);
    tcase_add_test(tc, test_cluster_health_evaluate_draining_node);
    tcase_add_test(tc, test_cluster_health_evaluate_lagging_and_hydrating);
    tcase_add_test(tc, test_cluster_health_evaluate_missing_replica_and_no_leader);
    tcase_add_test(tc, test_cluster_health_evaluate_two_claims_freshest_wins);
    tcase_add_test(tc, test_cluster_health_evaluate_many_problems_are_counted);
    tcase_add_test(tc, test_cluster_health_evaluate_membership_changing);
    tcase_add_test(tc, test_cluster_health_evaluate_stale_replica);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cluster_health_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
