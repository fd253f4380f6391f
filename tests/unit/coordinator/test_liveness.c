/*
 * The liveness table, pure: heartbeat times to unknown/alive/dead, resets
 * on a new leader, report bookkeeping, the bounded table, and the
 * ClusterStatus answer built from it.
 */
#include "liveness.h"

#include "eddy/errors.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define T_DEAD_MS 3000
#define T_T0_MS 100000

static struct liveness live;

static void setup(void)
{
    liveness_init(&live, T_DEAD_MS, T_T0_MS);
}

static void teardown(void)
{
    liveness_clear(&live);
}

/* A heartbeat of node with count groups 0..count-1 (group g applied at
 * base + g, ready when leads[g] is true). */
static int beat(uint32_t node, uint64_t now_ms, unsigned count, uint64_t base, const bool *leads)
{
    Eddy__GroupStatus gs[8];
    Eddy__GroupStatus *ptrs[8];
    ck_assert_uint_le(count, 8);
    for (unsigned g = 0; g < count; g++) {
        eddy__group_status__init(&gs[g]);
        gs[g].group = g;
        gs[g].applied_index = base + g;
        gs[g].last_index = base + g;
        gs[g].ready = leads != NULL && leads[g];
        gs[g].leader_node = gs[g].ready ? node : 0;
        ptrs[g] = &gs[g];
    }
    Eddy__HeartbeatReq hb = EDDY__HEARTBEAT_REQ__INIT;
    hb.node = node;
    hb.rpc_address = "127.0.0.1:1";
    hb.gateway_address = "127.0.0.1:2";
    hb.n_groups = count;
    hb.groups = ptrs;
    return liveness_record(&live, now_ms, &hb);
}

/* ---- transitions ---- */

START_TEST(test_liveness_state_unknown_until_dead_time)
{
    ck_assert_int_eq(liveness_state(&live, 1, T_T0_MS), LIVENESS_UNKNOWN);
    ck_assert_int_eq(liveness_state(&live, 1, T_T0_MS + T_DEAD_MS), LIVENESS_UNKNOWN);
    ck_assert_int_eq(liveness_state(&live, 1, T_T0_MS + T_DEAD_MS + 1), LIVENESS_DEAD);
    ck_assert_ptr_null(liveness_find(&live, 1));
}
END_TEST

START_TEST(test_liveness_state_alive_then_dead_then_alive)
{
    ck_assert_int_eq(beat(2, T_T0_MS + 10, 1, 5, NULL), 0);
    ck_assert_int_eq(liveness_state(&live, 2, T_T0_MS + 10), LIVENESS_ALIVE);
    ck_assert_int_eq(liveness_state(&live, 2, T_T0_MS + 10 + T_DEAD_MS), LIVENESS_ALIVE);
    ck_assert_int_eq(liveness_state(&live, 2, T_T0_MS + 11 + T_DEAD_MS), LIVENESS_DEAD);
    /* Heartbeats every 500 ms keep it alive indefinitely. */
    for (uint64_t t = T_T0_MS + 500; t < T_T0_MS + 60000; t += 500) {
        ck_assert_int_eq(beat(3, t, 1, 5, NULL), 0);
        ck_assert_int_eq(liveness_state(&live, 3, t + 499), LIVENESS_ALIVE);
    }
    ck_assert_int_eq(beat(2, T_T0_MS + 20000, 1, 6, NULL), 0);
    ck_assert_int_eq(liveness_state(&live, 2, T_T0_MS + 20000), LIVENESS_ALIVE);
    ck_assert_uint_eq(liveness_find(&live, 2)->last_seen_ms, T_T0_MS + 20000);
}
END_TEST

START_TEST(test_liveness_state_clock_behind_heartbeat_is_alive)
{
    ck_assert_int_eq(beat(1, T_T0_MS + 50, 0, 0, NULL), 0);
    ck_assert_int_eq(liveness_state(&live, 1, T_T0_MS), LIVENESS_ALIVE);
}
END_TEST

START_TEST(test_liveness_state_reset_makes_every_node_unknown)
{
    ck_assert_int_eq(beat(1, T_T0_MS, 2, 0, NULL), 0);
    uint64_t t1 = T_T0_MS + 100000; /* node 1 long dead on the old leader */
    ck_assert_int_eq(liveness_state(&live, 1, t1), LIVENESS_DEAD);
    liveness_reset(&live, t1);
    ck_assert_ptr_null(liveness_find(&live, 1));
    ck_assert_int_eq(liveness_state(&live, 1, t1 + T_DEAD_MS), LIVENESS_UNKNOWN);
    ck_assert_int_eq(liveness_state(&live, 1, t1 + T_DEAD_MS + 1), LIVENESS_DEAD);
    ck_assert_int_eq(beat(1, t1 + 400, 2, 0, NULL), 0);
    ck_assert_int_eq(liveness_state(&live, 1, t1 + 400), LIVENESS_ALIVE);
}
END_TEST

START_TEST(test_liveness_state_names)
{
    ck_assert_str_eq(liveness_state_name(LIVENESS_UNKNOWN), "unknown");
    ck_assert_str_eq(liveness_state_name(LIVENESS_ALIVE), "alive");
    ck_assert_str_eq(liveness_state_name(LIVENESS_DEAD), "dead");
}
END_TEST

/* ---- reports ---- */

START_TEST(test_liveness_reports_replaced_and_found)
{
    bool leads[3] = {true, false, true};
    ck_assert_int_eq(beat(1, T_T0_MS, 3, 10, leads), 0);
    const struct liveness_node *n = liveness_find(&live, 1);
    ck_assert_ptr_nonnull(n);
    ck_assert_str_eq(n->gateway_address, "127.0.0.1:2");
    ck_assert_uint_eq(n->report_count, 3);
    const struct liveness_report *r = liveness_report(n, 2);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->applied_index, 12);
    ck_assert(r->is_ready);
    ck_assert(!liveness_report(n, 1)->is_ready);
    ck_assert_ptr_null(liveness_report(n, 3));
    ck_assert_int_eq(beat(1, T_T0_MS + 500, 1, 99, NULL), 0);
    n = liveness_find(&live, 1);
    ck_assert_uint_eq(n->report_count, 1);
    ck_assert_uint_eq(liveness_report(n, 0)->applied_index, 99);
    ck_assert_ptr_null(liveness_report(n, 2));
    ck_assert_ptr_null(liveness_report(NULL, 0));
}
END_TEST

START_TEST(test_liveness_reports_unsorted_input_is_sorted)
{
    Eddy__GroupStatus gs[3];
    Eddy__GroupStatus *ptrs[3];
    uint32_t ids[3] = {7, 0, 3};
    for (int i = 0; i < 3; i++) {
        eddy__group_status__init(&gs[i]);
        gs[i].group = ids[i];
        gs[i].applied_index = ids[i] * 10;
        gs[i].hydrating = ids[i] == 3;
        ptrs[i] = &gs[i];
    }
    Eddy__HeartbeatReq hb = EDDY__HEARTBEAT_REQ__INIT;
    hb.node = 4;
    hb.n_groups = 3;
    hb.groups = ptrs;
    ck_assert_int_eq(liveness_record(&live, T_T0_MS, &hb), 0);
    const struct liveness_node *n = liveness_find(&live, 4);
    ck_assert_str_eq(n->gateway_address, ""); /* none sent */
    ck_assert_uint_eq(n->reports[0].group, 0);
    ck_assert_uint_eq(n->reports[2].group, 7);
    ck_assert_uint_eq(liveness_report(n, 7)->applied_index, 70);
    ck_assert(liveness_report(n, 3)->is_hydrating);
}
END_TEST

START_TEST(test_liveness_reports_bad_heartbeats_change_nothing)
{
    ck_assert_int_eq(beat(1, T_T0_MS, 1, 5, NULL), 0);
    ck_assert_int_eq(beat(0, T_T0_MS + 1, 1, 5, NULL), -EDDY_EINVAL);
    ck_assert_int_eq(beat(COORD_NODE_ID_MAX + 1, T_T0_MS + 1, 1, 5, NULL), -EDDY_EINVAL);
    Eddy__GroupStatus gs;
    eddy__group_status__init(&gs);
    gs.group = 2;
    Eddy__GroupStatus *twice[2] = {&gs, &gs};
    Eddy__HeartbeatReq hb = EDDY__HEARTBEAT_REQ__INIT;
    hb.node = 1;
    hb.n_groups = 2;
    hb.groups = twice;
    ck_assert_int_eq(liveness_record(&live, T_T0_MS + 2000, &hb), -EDDY_EINVAL);
    char long_gw[COORD_ADDRESS_LEN_MAX + 2];
    memset(long_gw, 'a', sizeof(long_gw) - 1);
    long_gw[sizeof(long_gw) - 1] = '\0';
    hb.n_groups = 1;
    hb.gateway_address = long_gw;
    ck_assert_int_eq(liveness_record(&live, T_T0_MS + 2000, &hb), -EDDY_EINVAL);
    hb.gateway_address = NULL;
    hb.n_groups = COORD_REPORT_GROUPS_MAX + 1; /* rejected before the array is read */
    ck_assert_int_eq(liveness_record(&live, T_T0_MS + 2000, &hb), -EDDY_EINVAL);
    const struct liveness_node *n = liveness_find(&live, 1);
    ck_assert_uint_eq(n->last_seen_ms, T_T0_MS);
    ck_assert_uint_eq(n->report_count, 1);
    ck_assert_uint_eq(liveness_report(n, 0)->applied_index, 5);
}
END_TEST

START_TEST(test_liveness_table_full_replaces_least_recent)
{
    for (uint32_t node = 1; node <= COORD_NODES_MAX; node++) {
        ck_assert_int_eq(beat(node, T_T0_MS + node, 1, node, NULL), 0);
    }
    ck_assert_int_eq(beat(1, T_T0_MS + 1000, 1, 1, NULL), 0); /* 2 is now the oldest */
    ck_assert_int_eq(beat(500, T_T0_MS + 1001, 1, 500, NULL), 0);
    ck_assert_ptr_nonnull(liveness_find(&live, 500));
    ck_assert_ptr_nonnull(liveness_find(&live, 1));
    ck_assert_ptr_null(liveness_find(&live, 2));
    ck_assert_ptr_nonnull(liveness_find(&live, 3));
}
END_TEST

/* ---- ClusterStatus ---- */

START_TEST(test_liveness_status_one_entry_per_catalogue_node)
{
    Eddy__NodeInfo ni[3];
    Eddy__NodeInfo *nptrs[3];
    for (int i = 0; i < 3; i++) {
        eddy__node_info__init(&ni[i]);
        ni[i].id = (uint32_t)i + 1;
        nptrs[i] = &ni[i];
    }
    Eddy__Catalog cat = EDDY__CATALOG__INIT;
    cat.n_nodes = 3;
    cat.nodes = nptrs;
    bool leads[2] = {true, false};
    ck_assert_int_eq(beat(1, T_T0_MS + 100, 2, 40, leads), 0);
    ck_assert_int_eq(beat(2, T_T0_MS + 200, 2, 40, NULL), 0);
    ck_assert_int_eq(beat(9, T_T0_MS + 200, 2, 40, NULL), 0); /* not in the catalogue */
    uint64_t now = T_T0_MS + 3150; /* node 1 dead, 2 alive, 3 never seen: dead */
    Eddy__ClusterStatusResp resp = EDDY__CLUSTER_STATUS_RESP__INIT;
    liveness_status_build(&live, &cat, now, &resp);
    ck_assert_ptr_eq(resp.catalog, &cat);
    ck_assert_uint_eq(resp.n_nodes, 3);
    ck_assert_uint_eq(resp.nodes[0]->node, 1);
    ck_assert(!resp.nodes[0]->alive);
    ck_assert_int_eq(resp.nodes[0]->state, EDDY__NODE_STATE__NODE_DEAD);
    ck_assert(resp.nodes[0]->seen);
    ck_assert_uint_eq(resp.nodes[0]->last_seen_ms_ago, 3050);
    ck_assert_uint_eq(resp.nodes[0]->n_groups, 2);
    ck_assert(resp.nodes[0]->groups[0]->ready);
    ck_assert_uint_eq(resp.nodes[0]->groups[1]->applied_index, 41);
    ck_assert_str_eq(resp.nodes[0]->gateway_address, "127.0.0.1:2");
    ck_assert(resp.nodes[1]->alive);
    ck_assert_int_eq(resp.nodes[1]->state, EDDY__NODE_STATE__NODE_ALIVE);
    ck_assert(!resp.nodes[2]->alive);
    ck_assert(!resp.nodes[2]->seen);
    ck_assert_int_eq(resp.nodes[2]->state, EDDY__NODE_STATE__NODE_DEAD);
    ck_assert_uint_eq(resp.nodes[2]->n_groups, 0);
    liveness_status_free(&resp);
    liveness_status_build(&live, &cat, T_T0_MS + 1000, &resp); /* within the first dead time */
    ck_assert_int_eq(resp.nodes[2]->state, EDDY__NODE_STATE__NODE_UNKNOWN);
    ck_assert(!resp.nodes[2]->alive);
    ck_assert(resp.nodes[0]->alive);
    /* It packs, and unpacks to the same. */
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_CLUSTER_STATUS_RESP;
    f.cluster_status_resp = &resp;
    size_t len = eddy__frame__get_packed_size(&f);
    uint8_t *buf = malloc(len);
    eddy__frame__pack(&f, buf);
    Eddy__Frame *back = eddy__frame__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back->cluster_status_resp->n_nodes, 3);
    ck_assert_uint_eq(back->cluster_status_resp->nodes[0]->last_seen_ms_ago, 900); /* at 1000 */
    eddy__frame__free_unpacked(back, NULL);
    free(buf);
    liveness_status_free(&resp);
    ck_assert_ptr_null(resp.nodes);
    ck_assert_uint_eq(resp.n_nodes, 0);
}
END_TEST

START_TEST(test_liveness_state_dead_for)
{
    /* Never heard from: dead for the time past the dead time since the reset. */
    ck_assert_uint_eq(liveness_dead_for_ms(&live, 1, T_T0_MS + T_DEAD_MS), 0);
    ck_assert_uint_eq(liveness_dead_for_ms(&live, 1, T_T0_MS + T_DEAD_MS + 5), 5);
    ck_assert_int_eq(beat(1, T_T0_MS + 1000, 1, 10, NULL), 0);
    ck_assert_uint_eq(liveness_dead_for_ms(&live, 1, T_T0_MS + 1000 + T_DEAD_MS), 0);
    ck_assert_uint_eq(liveness_dead_for_ms(&live, 1, T_T0_MS + 1000 + T_DEAD_MS + 700), 700);
    ck_assert_uint_eq(liveness_dead_for_ms(&live, 1, T_T0_MS), 0); /* clock behind */
}
END_TEST

/* GroupStatus.voters kept per report (replica replacement), and left out of
 * the ClusterStatus answer when there were more than the table keeps. */
START_TEST(test_liveness_reports_keep_voters)
{
    uint32_t few[] = {3, 1, 4};
    uint32_t many[LIVENESS_VOTERS_MAX + 1];
    for (unsigned i = 0; i < LIVENESS_VOTERS_MAX + 1; i++) {
        many[i] = i + 1;
    }
    Eddy__GroupStatus gs[2];
    Eddy__GroupStatus *ptrs[2] = {&gs[0], &gs[1]};
    for (int g = 0; g < 2; g++) {
        eddy__group_status__init(&gs[g]);
        gs[g].group = (uint32_t)g + 1;
    }
    gs[0].n_voters = 3;
    gs[0].voters = few;
    gs[1].n_voters = LIVENESS_VOTERS_MAX + 1;
    gs[1].voters = many;
    Eddy__HeartbeatReq hb = EDDY__HEARTBEAT_REQ__INIT;
    hb.node = 2;
    hb.n_groups = 2;
    hb.groups = ptrs;
    ck_assert_int_eq(liveness_record(&live, T_T0_MS, &hb), 0);
    const struct liveness_node *n = liveness_find(&live, 2);
    const struct liveness_report *r = liveness_report(n, 1);
    ck_assert_uint_eq(r->voter_count, 3);
    ck_assert_uint_eq(r->voters[0], 3);
    ck_assert_uint_eq(r->voters[2], 4);
    r = liveness_report(n, 2);
    ck_assert_uint_eq(r->voter_count, LIVENESS_VOTERS_MAX + 1);
    Eddy__NodeInfo ni = EDDY__NODE_INFO__INIT;
    ni.id = 2;
    Eddy__NodeInfo *nptr = &ni;
    Eddy__Catalog cat = EDDY__CATALOG__INIT;
    cat.n_nodes = 1;
    cat.nodes = &nptr;
    Eddy__ClusterStatusResp resp = EDDY__CLUSTER_STATUS_RESP__INIT;
    liveness_status_build(&live, &cat, T_T0_MS, &resp);
    ck_assert_uint_eq(resp.nodes[0]->n_groups, 2);
    ck_assert_uint_eq(resp.nodes[0]->groups[0]->n_voters, 3);
    ck_assert_uint_eq(resp.nodes[0]->groups[0]->voters[1], 1);
    ck_assert_uint_eq(resp.nodes[0]->groups[1]->n_voters, 0); /* did not fit */
    liveness_status_free(&resp);
}
END_TEST

static Suite *liveness_suite(void)
{
    Suite *s = suite_create("liveness");
    TCase *tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_liveness_state_unknown_until_dead_time);
    tcase_add_test(tc, test_liveness_state_alive_then_dead_then_alive);
    tcase_add_test(tc, test_liveness_state_clock_behind_heartbeat_is_alive);
    tcase_add_test(tc, test_liveness_state_reset_makes_every_node_unknown);
    tcase_add_test(tc, test_liveness_state_names);
    tcase_add_test(tc, test_liveness_state_dead_for);
    suite_add_tcase(s, tc);
    tc = tcase_create("reports");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_liveness_reports_replaced_and_found);
    tcase_add_test(tc, test_liveness_reports_unsorted_input_is_sorted);
    tcase_add_test(tc, test_liveness_reports_bad_heartbeats_change_nothing);
    tcase_add_test(tc, test_liveness_table_full_replaces_least_recent);
    tcase_add_test(tc, test_liveness_reports_keep_voters);
    suite_add_tcase(s, tc);
    tc = tcase_create("status");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_liveness_status_one_entry_per_catalogue_node);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(liveness_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
