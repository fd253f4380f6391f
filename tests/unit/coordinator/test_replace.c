/*
 * Replica replacement decisions, pure (replace.h): views built from a
 * catalogue and liveness reports, which replacement is picked and when,
 * the HostGroupReq calls that move a group in transition on, and the
 * DropGroupReq calls for replicas left behind.
 */
#include "replace.h"

#include "eddy/limits.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define T_T0_MS 100000
#define T_DEAD_MS 3000
#define T_REPLACE_MS 1000
#define T_NODES_MAX 6
#define T_GROUPS_MAX 6
#define T_APPLIED 500

/* A catalogue of nodes 1..node_count and groups 1..group_count with
 * explicit replica sets, the leaders' voters, and a liveness table. */
struct fixture {
    unsigned node_count;
    unsigned group_count;
    Eddy__NodeInfo nodes[T_NODES_MAX];
    Eddy__NodeInfo *node_ptrs[T_NODES_MAX];
    Eddy__GroupInfo groups[T_GROUPS_MAX];
    Eddy__GroupInfo *group_ptrs[T_GROUPS_MAX];
    uint32_t replicas[T_GROUPS_MAX][3];
    uint32_t voters[T_GROUPS_MAX][8]; /* the leader's voters per group */
    unsigned voter_count[T_GROUPS_MAX];
    uint32_t leader[T_GROUPS_MAX]; /* 0: the first alive replica leads */
    bool is_down[T_NODES_MAX + 1];
    uint64_t applied[T_NODES_MAX + 1]; /* per node, every group; 0: T_APPLIED */
    bool is_hydrating[T_NODES_MAX + 1];
    /* Groups a node reports besides its catalogue groups (stale replicas). */
    uint32_t extra[T_NODES_MAX + 1][4];
    unsigned extra_count[T_NODES_MAX + 1];
    Eddy__Catalog cat;
    struct liveness live;
};

static struct fixture fx;

/* sets: groups[i] is a string of replica digits, e.g. "123". */
static void fixture_init(unsigned node_count, const char *const *sets, unsigned group_count)
{
    memset(&fx, 0, sizeof(fx));
    fx.node_count = node_count;
    fx.group_count = group_count;
    eddy__catalog__init(&fx.cat);
    for (unsigned i = 0; i < node_count; i++) {
        eddy__node_info__init(&fx.nodes[i]);
        fx.nodes[i].id = i + 1;
        fx.node_ptrs[i] = &fx.nodes[i];
    }
    for (unsigned g = 0; g < group_count; g++) {
        eddy__group_info__init(&fx.groups[g]);
        fx.groups[g].id = g + 1;
        size_t n = strlen(sets[g]);
        ck_assert_uint_le(n, 3);
        for (size_t r = 0; r < n; r++) {
            fx.replicas[g][r] = (uint32_t)(sets[g][r] - '0');
            fx.voters[g][r] = fx.replicas[g][r];
        }
        fx.voter_count[g] = (unsigned)n;
        fx.groups[g].n_replicas = n;
        fx.groups[g].replicas = fx.replicas[g];
        fx.group_ptrs[g] = &fx.groups[g];
    }
    fx.cat.n_nodes = node_count;
    fx.cat.nodes = fx.node_ptrs;
    fx.cat.n_groups = group_count;
    fx.cat.groups = fx.group_ptrs;
    fx.cat.version = 7;
    liveness_init(&fx.live, T_DEAD_MS, T_T0_MS);
}

static void fixture_clear(void)
{
    liveness_clear(&fx.live);
}

static bool in_group(unsigned g, uint32_t node)
{
    for (size_t r = 0; r < fx.groups[g].n_replicas; r++) {
        if (fx.replicas[g][r] == node) {
            return true;
        }
    }
    return false;
}

static uint32_t leader_of(unsigned g)
{
    if (fx.leader[g] != 0) {
        return fx.leader[g];
    }
    for (size_t r = 0; r < fx.groups[g].n_replicas; r++) {
        if (!fx.is_down[fx.replicas[g][r]]) {
            return fx.replicas[g][r];
        }
    }
    return 0;
}

/* One heartbeat of node at now_ms: its catalogue groups and its extras. */
static void heartbeat(uint32_t node, uint64_t now_ms)
{
    Eddy__GroupStatus gs[T_GROUPS_MAX + 4];
    Eddy__GroupStatus *ptrs[T_GROUPS_MAX + 4];
    size_t n = 0;
    for (unsigned g = 0; g < fx.group_count; g++) {
        if (!in_group(g, node)) {
            continue;
        }
        eddy__group_status__init(&gs[n]);
        gs[n].group = g + 1;
        gs[n].applied_index = fx.applied[node] != 0 ? fx.applied[node] : T_APPLIED;
        gs[n].ready = leader_of(g) == node;
        gs[n].hydrating = fx.is_hydrating[node];
        gs[n].leader_node = leader_of(g);
        gs[n].n_voters = fx.voter_count[g];
        gs[n].voters = fx.voters[g];
        ptrs[n] = &gs[n];
        n++;
    }
    for (unsigned e = 0; e < fx.extra_count[node]; e++) {
        eddy__group_status__init(&gs[n]);
        gs[n].group = fx.extra[node][e];
        gs[n].applied_index = 10;
        ptrs[n] = &gs[n];
        n++;
    }
    Eddy__HeartbeatReq hb = EDDY__HEARTBEAT_REQ__INIT;
    hb.node = node;
    hb.n_groups = n;
    hb.groups = ptrs;
    ck_assert_int_eq(liveness_record(&fx.live, now_ms, &hb), 0);
}

/* Every node that is up reports at now_ms. */
static void heartbeat_all(uint64_t now_ms)
{
    for (uint32_t node = 1; node <= fx.node_count; node++) {
        if (!fx.is_down[node]) {
            heartbeat(node, now_ms);
        }
    }
}

/* Node goes down at down_ms (its last heartbeat); the others report every
 * 500 ms until now_ms. */
static void run_until_ms(uint64_t from_ms, uint64_t now_ms)
{
    for (uint64_t t = from_ms; t <= now_ms; t += 500) {
        heartbeat_all(t);
    }
    heartbeat_all(now_ms);
}

static bool pick_at(uint64_t now_ms, struct replace_action *a)
{
    struct replace_view v;
    replace_view_build(&fx.cat, &fx.live, now_ms, &v);
    bool found = replace_pick(&v, T_REPLACE_MS, a);
    replace_view_free(&v);
    return found;
}

static size_t hosts_at(uint64_t now_ms, struct replace_action *out, size_t max)
{
    struct replace_view v;
    replace_view_build(&fx.cat, &fx.live, now_ms, &v);
    size_t n = replace_hosts(&v, out, max);
    replace_view_free(&v);
    return n;
}

static size_t drops_at(uint64_t now_ms, struct replace_action *out, size_t max)
{
    struct replace_view v;
    replace_view_build(&fx.cat, &fx.live, now_ms, &v);
    size_t n = replace_drops(&v, out, max);
    replace_view_free(&v);
    return n;
}

static bool settled_at(uint64_t now_ms, unsigned g)
{
    struct replace_view v;
    replace_view_build(&fx.cat, &fx.live, now_ms, &v);
    bool is_settled = replace_group_is_settled(&v.groups[g]);
    replace_view_free(&v);
    return is_settled;
}

static void set_voters(unsigned g, const char *ids)
{
    ck_assert_uint_le(strlen(ids), sizeof(fx.voters[g]) / sizeof(fx.voters[g][0]));
    fx.voter_count[g] = (unsigned)strlen(ids);
    for (unsigned i = 0; i < fx.voter_count[g]; i++) {
        fx.voters[g][i] = (uint32_t)(ids[i] - '0');
    }
}

static void set_replicas(unsigned g, const char *ids)
{
    fx.groups[g].n_replicas = strlen(ids);
    for (size_t i = 0; i < fx.groups[g].n_replicas; i++) {
        fx.replicas[g][i] = (uint32_t)(ids[i] - '0');
    }
}

/* Four nodes, groups spread as placement.h spreads them. */
static const char *const four[] = {"123", "234", "341", "412"};

/* ---- picking a replacement ---- */

START_TEST(test_replace_pick_waits_for_the_replace_time)
{
    fixture_init(4, four, 4);
    run_until_ms(T_T0_MS, T_T0_MS + 1000);
    fx.is_down[1] = true; /* last heard at T0 + 1000 */
    uint64_t dead_at = T_T0_MS + 1000 + T_DEAD_MS;
    run_until_ms(T_T0_MS + 1500, dead_at + T_REPLACE_MS - 100);
    struct replace_action a;
    ck_assert(!pick_at(dead_at - 100, &a));                /* not even dead */
    ck_assert(!pick_at(dead_at + T_REPLACE_MS - 100, &a)); /* dead, not long enough */
    run_until_ms(dead_at + T_REPLACE_MS, dead_at + T_REPLACE_MS + 1);
    ck_assert(pick_at(dead_at + T_REPLACE_MS + 1, &a));
    ck_assert_int_eq(a.kind, REPLACE_SET_REPLICAS);
    ck_assert_uint_eq(a.group, 1); /* the lowest group with node 1 */
    ck_assert_uint_eq(a.replaces, 1);
    ck_assert_uint_eq(a.node, 4); /* the only node outside group 1 */
    ck_assert_uint_eq(a.replica_count, 3);
    ck_assert_uint_eq(a.replicas[0], 4); /* in X's place */
    ck_assert_uint_eq(a.replicas[1], 2);
    ck_assert_uint_eq(a.replicas[2], 3);
    fixture_clear();
}
END_TEST

START_TEST(test_replace_pick_fewest_replicas_then_lowest_id)
{
    /* Node 5 hosts one replica, node 4 two: 5 takes group 1. */
    static const char *const sets[] = {"123", "234", "245"};
    fixture_init(5, sets, 3);
    fx.is_down[1] = true;
    uint64_t now = T_T0_MS + T_DEAD_MS + T_REPLACE_MS + 10;
    run_until_ms(T_T0_MS, now);
    struct replace_action a;
    ck_assert(pick_at(now, &a));
    ck_assert_uint_eq(a.group, 1);
    ck_assert_uint_eq(a.node, 5);
    fixture_clear();
    /* A tie: the lowest id. */
    static const char *const tie[] = {"123", "234", "235"};
    fixture_init(5, tie, 3);
    fx.is_down[1] = true;
    run_until_ms(T_T0_MS, now);
    ck_assert(pick_at(now, &a));
    ck_assert_uint_eq(a.node, 4);
    fixture_clear();
}
END_TEST

START_TEST(test_replace_pick_needs_a_live_majority_and_a_leader)
{
    static const char *const five[] = {"123", "234", "345", "451"};
    fixture_init(5, five, 4);
    fx.is_down[1] = true;
    fx.is_down[2] = true; /* group 1 keeps one alive replica of three */
    uint64_t now = T_T0_MS + T_DEAD_MS + T_REPLACE_MS + 10;
    run_until_ms(T_T0_MS, now);
    struct replace_action a;
    /* Group 1 cannot change; group 2 (234) lost node 2 only. */
    ck_assert(pick_at(now, &a));
    ck_assert_uint_eq(a.group, 2);
    ck_assert_uint_eq(a.replaces, 2);
    ck_assert_uint_eq(a.node, 5); /* the only alive node outside 234 */
    fixture_clear();
    /* No ready leader: nothing. */
    fixture_init(4, four, 4);
    fx.is_down[1] = true;
    for (unsigned g = 0; g < 4; g++) {
        fx.leader[g] = 6; /* a node that does not exist: nobody reports ready */
    }
    run_until_ms(T_T0_MS, now);
    ck_assert(!pick_at(now, &a));
    fixture_clear();
}
END_TEST

START_TEST(test_replace_pick_needs_a_new_node_alive)
{
    /* Three nodes: every group is on every node, nobody to move to. */
    static const char *const three[] = {"123", "231"};
    fixture_init(3, three, 2);
    fx.is_down[3] = true;
    uint64_t now = T_T0_MS + T_DEAD_MS + T_REPLACE_MS + 10;
    run_until_ms(T_T0_MS, now);
    struct replace_action a;
    ck_assert(!pick_at(now, &a));
    fixture_clear();
    /* Four nodes, the fourth never heard from (unknown, then dead). */
    fixture_init(4, four, 4);
    fx.is_down[1] = true;
    fx.is_down[4] = true;
    run_until_ms(T_T0_MS, now);
    ck_assert(!pick_at(now, &a)); /* group 1 (123) could only go to 4 */
    fixture_clear();
}
END_TEST

START_TEST(test_replace_pick_one_at_a_time)
{
    fixture_init(4, four, 4);
    fx.is_down[1] = true;
    uint64_t now = T_T0_MS + T_DEAD_MS + T_REPLACE_MS + 10;
    run_until_ms(T_T0_MS, now);
    struct replace_action a;
    ck_assert(pick_at(now, &a));
    ck_assert_uint_eq(a.group, 1);
    /* Committed: group 1 is {4,2,3} while its voters are still {1,2,3}. */
    set_replicas(0, "423");
    heartbeat_all(now + 500);
    ck_assert(!pick_at(now + 500, &a)); /* in transition */
    struct replace_action h[4];
    ck_assert_uint_eq(hosts_at(now + 500, h, 4), 1);
    ck_assert_int_eq(h[0].kind, REPLACE_HOST);
    ck_assert_uint_eq(h[0].group, 1);
    ck_assert_uint_eq(h[0].node, 4);
    ck_assert_uint_eq(h[0].replaces, 1);
    /* Node 4 added and voting, node 1 not removed yet: asked again. */
    set_voters(0, "1234");
    heartbeat_all(now + 1000);
    ck_assert_uint_eq(hosts_at(now + 1000, h, 4), 1);
    ck_assert_uint_eq(h[0].node, 4);
    ck_assert_uint_eq(h[0].replaces, 1);
    ck_assert(!pick_at(now + 1000, &a));
    /* Node 1 removed: the next group with node 1 (3: 341). */
    set_voters(0, "423");
    heartbeat_all(now + 1500);
    ck_assert_uint_eq(hosts_at(now + 1500, h, 4), 0);
    ck_assert(settled_at(now + 1500, 0));
    ck_assert(pick_at(now + 1500, &a));
    ck_assert_uint_eq(a.group, 3);
    ck_assert_uint_eq(a.replaces, 1);
    ck_assert_uint_eq(a.node, 2); /* outside 341; 2 hosts 3 replicas, as do 3 and 4 */
    fixture_clear();
}
END_TEST

/* ---- groups in transition ---- */

START_TEST(test_replace_hosts_dead_new_node_does_not_block)
{
    fixture_init(4, four, 4);
    set_replicas(0, "423"); /* committed, but node 4 died before joining */
    fx.is_down[1] = true;
    fx.is_down[4] = true;
    set_voters(0, "123");
    uint64_t now = T_T0_MS + T_DEAD_MS + T_REPLACE_MS + 10;
    run_until_ms(T_T0_MS, now);
    struct replace_action h[4];
    ck_assert_uint_eq(hosts_at(now, h, 4),
                      0); /* node 1 stays a voter until 4's replacement votes */
    struct replace_action a;
    ck_assert(!pick_at(now, &a)); /* no new node for group 1: 1 and 4 are dead */
    struct replace_view v;
    replace_view_build(&fx.cat, &fx.live, now, &v);
    ck_assert(replace_group_is_in_transition(&v.groups[0]));
    replace_view_free(&v);
    fixture_clear();
    /* With a fifth node alive, the dead new member is replaced in turn; the
     * old member stays a voter until the newest one votes. */
    static const char *const five[] = {"123", "234"};
    fixture_init(5, five, 2);
    set_replicas(0, "423");
    set_voters(0, "123");
    fx.is_down[1] = true;
    fx.is_down[4] = true;
    run_until_ms(T_T0_MS, now);
    ck_assert_uint_eq(hosts_at(now, h, 4), 0);
    ck_assert(pick_at(now, &a));
    ck_assert_uint_eq(a.group, 1);
    ck_assert_uint_eq(a.replaces, 4);
    ck_assert_uint_eq(a.node, 5);
    set_replicas(0, "523");
    heartbeat_all(now + 500);
    ck_assert_uint_eq(hosts_at(now + 500, h, 4), 1);
    ck_assert_uint_eq(h[0].node, 5);
    ck_assert_uint_eq(h[0].replaces, 1);
    fixture_clear();
}
END_TEST

START_TEST(test_replace_hosts_voters_only_outsider)
{
    fixture_init(4, four, 4);
    set_replicas(0, "423");
    set_voters(0, "4231"); /* every replica votes; node 1 is still in */
    run_until_ms(T_T0_MS, T_T0_MS + 500);
    struct replace_action h[4];
    ck_assert_uint_eq(hosts_at(T_T0_MS + 500, h, 4), 1);
    ck_assert_uint_eq(h[0].node, 4); /* the first replica that reported */
    ck_assert_uint_eq(h[0].replaces, 1);
    fixture_clear();
}
END_TEST

START_TEST(test_replace_settled_needs_caught_up_replicas)
{
    fixture_init(4, four, 4);
    run_until_ms(T_T0_MS, T_T0_MS + 500);
    ck_assert(settled_at(T_T0_MS + 500, 0));
    fx.is_hydrating[3] = true;
    heartbeat_all(T_T0_MS + 1000);
    ck_assert(!settled_at(T_T0_MS + 1000, 0));
    fx.is_hydrating[3] = false;
    fx.applied[3] = T_APPLIED - EDDY_REPLICA_LAG_ENTRIES_MAX - 1;
    heartbeat_all(T_T0_MS + 1500);
    ck_assert(!settled_at(T_T0_MS + 1500, 0));
    fx.applied[3] = T_APPLIED - EDDY_REPLICA_LAG_ENTRIES_MAX;
    heartbeat_all(T_T0_MS + 2000);
    ck_assert(settled_at(T_T0_MS + 2000, 0));
    fixture_clear();
}
END_TEST

/* ---- stale replicas ---- */

START_TEST(test_replace_drops_only_once_voters_leave_it_out)
{
    fixture_init(4, four, 4);
    set_replicas(0, "423");
    set_voters(0, "4231");
    fx.extra[1][0] = 1; /* node 1 came back with its replica of group 1 */
    fx.extra[1][1] = 0; /* and the coordinator group, never a stale replica */
    fx.extra_count[1] = 2;
    run_until_ms(T_T0_MS, T_T0_MS + 500);
    struct replace_action d[4];
    ck_assert_uint_eq(drops_at(T_T0_MS + 500, d, 4), 0); /* still a voter */
    set_voters(0, "423");
    heartbeat_all(T_T0_MS + 1000);
    ck_assert_uint_eq(drops_at(T_T0_MS + 1000, d, 4), 1);
    ck_assert_int_eq(d[0].kind, REPLACE_DROP);
    ck_assert_uint_eq(d[0].node, 1);
    ck_assert_uint_eq(d[0].group, 1);
    /* No ready leader reporting voters: no drop. */
    fx.leader[0] = 6;
    heartbeat_all(T_T0_MS + 1500);
    ck_assert_uint_eq(drops_at(T_T0_MS + 1500, d, 4), 0);
    fixture_clear();
}
END_TEST

START_TEST(test_replace_drops_ignore_unknown_groups)
{
    fixture_init(4, four, 4);
    fx.extra[2][0] = 9; /* not a catalogue group (--groups differs) */
    fx.extra_count[2] = 1;
    run_until_ms(T_T0_MS, T_T0_MS + 500);
    struct replace_action d[4];
    ck_assert_uint_eq(drops_at(T_T0_MS + 500, d, 4), 0);
    fixture_clear();
}
END_TEST

/* ---- hand-made views: voters that do not fit ---- */

START_TEST(test_replace_view_voters_unknown_when_too_many)
{
    fixture_init(4, four, 4);
    set_voters(0, "1234123"); /* 7 > LIVENESS_VOTERS_MAX */
    set_replicas(0, "423");
    run_until_ms(T_T0_MS, T_T0_MS + 500);
    struct replace_view v;
    replace_view_build(&fx.cat, &fx.live, T_T0_MS + 500, &v);
    ck_assert(!v.groups[0].has_voters);
    ck_assert(!replace_group_is_in_transition(&v.groups[0]));
    ck_assert(v.groups[1].has_voters);
    ck_assert_uint_eq(v.groups[1].leader, 2);
    replace_view_free(&v);
    fixture_clear();
}
END_TEST

static Suite *replace_suite(void)
{
    Suite *s = suite_create("replace");

    TCase *pick = tcase_create("pick");
    tcase_set_timeout(pick, 10);
    tcase_add_test(pick, test_replace_pick_waits_for_the_replace_time);
    tcase_add_test(pick, test_replace_pick_fewest_replicas_then_lowest_id);
    tcase_add_test(pick, test_replace_pick_needs_a_live_majority_and_a_leader);
    tcase_add_test(pick, test_replace_pick_needs_a_new_node_alive);
    tcase_add_test(pick, test_replace_pick_one_at_a_time);
    suite_add_tcase(s, pick);

    TCase *hosts = tcase_create("hosts");
    tcase_set_timeout(hosts, 10);
    tcase_add_test(hosts, test_replace_hosts_dead_new_node_does_not_block);
    tcase_add_test(hosts, test_replace_hosts_voters_only_outsider);
    tcase_add_test(hosts, test_replace_settled_needs_caught_up_replicas);
    suite_add_tcase(s, hosts);

    TCase *drops = tcase_create("drops");
    tcase_set_timeout(drops, 10);
    tcase_add_test(drops, test_replace_drops_only_once_voters_leave_it_out);
    tcase_add_test(drops, test_replace_drops_ignore_unknown_groups);
    tcase_add_test(drops, test_replace_view_voters_unknown_when_too_many);
    suite_add_tcase(s, drops);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(replace_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
