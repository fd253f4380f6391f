/* Unit tests for common/placement.c: distinct replicas, replica counts and
 * load spread for one to five nodes. */
#include "eddy/placement.h"

#include <check.h>
#include <stdlib.h>

#define TEST_GROUPS_MAX 64u
#define TEST_PEERS_MAX 5u

START_TEST(test_placement_distinct_and_count)
{
    for (unsigned n = 1; n <= TEST_PEERS_MAX; n++) {
        unsigned want = n < PLACEMENT_REPLICAS ? n : PLACEMENT_REPLICAS;
        for (uint32_t g = 1; g <= TEST_GROUPS_MAX; g++) {
            unsigned r[PLACEMENT_REPLICAS];
            unsigned count = placement_group_replicas(g, n, r);
            ck_assert_uint_eq(count, want);
            for (unsigned a = 0; a < count; a++) {
                ck_assert_uint_lt(r[a], n);
                ck_assert(placement_is_replica(g, n, r[a]));
                for (unsigned b = a + 1; b < count; b++) {
                    ck_assert_uint_ne(r[a], r[b]);
                }
            }
        }
    }
}
END_TEST

/* Loads of a cluster of n nodes with groups 1..groups; returns the total. */
static unsigned spread_loads(unsigned n, uint32_t groups, unsigned *load)
{
    unsigned total = 0;
    for (unsigned p = 0; p < n; p++) {
        load[p] = 0;
    }
    for (uint32_t g = 1; g <= groups; g++) {
        unsigned r[PLACEMENT_REPLICAS];
        unsigned count = placement_group_replicas(g, n, r);
        for (unsigned k = 0; k < count; k++) {
            load[r[k]]++;
        }
        total += count;
    }
    return total;
}

/* Every node hosts within one group of the mean when the group count is a
 * multiple of the node count, and for any group count with up to four
 * nodes. Otherwise the windows of consecutive nodes leave the busiest and
 * the idlest node at most two groups apart (five nodes, two groups:
 * 1 2 2 1 0). */
START_TEST(test_placement_spread)
{
    for (unsigned n = 1; n <= TEST_PEERS_MAX; n++) {
        for (uint32_t groups = 1; groups <= TEST_GROUPS_MAX; groups++) {
            unsigned load[TEST_PEERS_MAX];
            unsigned total = spread_loads(n, groups, load);
            unsigned lo = load[0];
            unsigned hi = load[0];
            for (unsigned p = 0; p < n; p++) {
                /* |load * n - total| <= n: within one of the mean total / n. */
                long diff = (long)load[p] * (long)n - (long)total;
                if (groups % n == 0 || n <= 4) {
                    ck_assert_int_le(labs(diff), (long)n);
                }
                lo = load[p] < lo ? load[p] : lo;
                hi = load[p] > hi ? load[p] : hi;
            }
            ck_assert_uint_le(hi - lo, 2);
        }
    }
    /* tools/up --nodes 5 with --groups 10: six groups on every node. */
    unsigned load[TEST_PEERS_MAX];
    ck_assert_uint_eq(spread_loads(5, 10, load), 30);
    for (unsigned p = 0; p < 5; p++) {
        ck_assert_uint_eq(load[p], 6);
    }
}
END_TEST

/* The rule as stated: peers[(g - 1 + k) mod N], in order. */
START_TEST(test_placement_rule)
{
    unsigned r[PLACEMENT_REPLICAS];
    ck_assert_uint_eq(placement_group_replicas(1, 5, r), 3);
    ck_assert_uint_eq(r[0], 0);
    ck_assert_uint_eq(r[1], 1);
    ck_assert_uint_eq(r[2], 2);
    ck_assert_uint_eq(placement_group_replicas(4, 5, r), 3);
    ck_assert_uint_eq(r[0], 3);
    ck_assert_uint_eq(r[1], 4);
    ck_assert_uint_eq(r[2], 0);
    ck_assert_uint_eq(placement_group_replicas(10, 4, r), 3);
    ck_assert_uint_eq(r[0], 1);
    ck_assert_uint_eq(r[1], 2);
    ck_assert_uint_eq(r[2], 3);
    ck_assert(!placement_is_replica(4, 5, 1));
}
END_TEST

/* Three nodes or fewer: every group on every node (data directories made
 * before the rule keep their replica sets). */
START_TEST(test_placement_small_clusters_everywhere)
{
    for (unsigned n = 1; n <= PLACEMENT_REPLICAS; n++) {
        for (uint32_t g = 1; g <= TEST_GROUPS_MAX; g++) {
            for (unsigned p = 0; p < n; p++) {
                ck_assert(placement_is_replica(g, n, p));
            }
        }
    }
}
END_TEST

static Suite *placement_suite(void)
{
    Suite *s = suite_create("placement");
    TCase *tc = tcase_create("placement");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_placement_distinct_and_count);
    tcase_add_test(tc, test_placement_spread);
    tcase_add_test(tc, test_placement_rule);
    tcase_add_test(tc, test_placement_small_clusters_everywhere);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(placement_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
