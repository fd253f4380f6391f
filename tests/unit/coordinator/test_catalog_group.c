/*
 * Catalogue entries on shard groups (catalog_group.h) through the state
 * machine: set_replicas changes a group's replicas with a new version, is a
 * no-op when nothing changes, and is refused, leaving the catalogue as it
 * was, for bad sets, unknown groups and before init; snapshots keep it.
 */
#include "catalog.h"
#include "catalog_group.h"
#include "coord_limits.h"

#include "eddy/errors.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_NOW_MS 1700000000000ull
#define T_NODES 4
#define T_GROUPS 3

static struct catalog *cat;

static void setup(void)
{
    ck_assert_int_eq(catalog_create(&cat), 0);
}

static void teardown(void)
{
    catalog_destroy(cat);
    cat = NULL;
}

static int apply_entry(const Eddy__CatalogEntry *e)
{
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(catalog_entry_encode(e, &buf, &len), 0);
    int result = 12345;
    ck_assert_int_eq(catalog_apply(cat, buf, len, &result), 0);
    ck_assert_int_ne(result, 12345);
    free(buf);
    return result;
}

/* Nodes 1..T_NODES; group g on nodes g, g+1, g+2 (mod T_NODES, from 1). */
static void apply_init(void)
{
    char addr[T_NODES][2][32];
    Eddy__NodeInfo nodes[T_NODES];
    Eddy__NodeInfo *node_ptrs[T_NODES];
    for (unsigned i = 0; i < T_NODES; i++) {
        eddy__node_info__init(&nodes[i]);
        nodes[i].id = i + 1;
        snprintf(addr[i][0], sizeof(addr[i][0]), "127.0.0.1:%u", 7000 + i);
        snprintf(addr[i][1], sizeof(addr[i][1]), "127.0.0.1:%u", 8000 + i);
        nodes[i].rpc_address = addr[i][0];
        nodes[i].raft_address = addr[i][1];
        node_ptrs[i] = &nodes[i];
    }
    uint32_t replicas[T_GROUPS][3];
    Eddy__GroupInfo groups[T_GROUPS];
    Eddy__GroupInfo *group_ptrs[T_GROUPS];
    for (unsigned g = 0; g < T_GROUPS; g++) {
        eddy__group_info__init(&groups[g]);
        groups[g].id = g + 1;
        for (unsigned k = 0; k < 3; k++) {
            replicas[g][k] = (g + k) % T_NODES + 1;
        }
        groups[g].n_replicas = 3;
        groups[g].replicas = replicas[g];
        group_ptrs[g] = &groups[g];
    }
    uint8_t key[COORD_ITERATOR_KEY_BYTES];
    memset(key, 0xab, sizeof(key));
    Eddy__Catalog init = EDDY__CATALOG__INIT;
    init.n_nodes = T_NODES;
    init.nodes = node_ptrs;
    init.n_groups = T_GROUPS;
    init.groups = group_ptrs;
    init.iterator_key.data = key;
    init.iterator_key.len = sizeof(key);
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS;
    e.op_case = EDDY__CATALOG_ENTRY__OP_INIT;
    e.init = &init;
    ck_assert_int_eq(apply_entry(&e), 0);
}

static int set_replicas(uint32_t group, const uint32_t *replicas, size_t n)
{
    Eddy__GroupReplicas gr = EDDY__GROUP_REPLICAS__INIT;
    gr.group = group;
    gr.n_replicas = n;
    gr.replicas = (uint32_t *)replicas;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 1;
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_REPLICAS;
    e.set_replicas = &gr;
    return apply_entry(&e);
}

static void assert_replicas(uint32_t group, uint32_t a, uint32_t b, uint32_t c)
{
    const Eddy__GroupInfo *g = catalog_find_group(cat, group);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->n_replicas, 3);
    ck_assert_uint_eq(g->replicas[0], a);
    ck_assert_uint_eq(g->replicas[1], b);
    ck_assert_uint_eq(g->replicas[2], c);
}

START_TEST(test_catalog_group_set_replicas_changes_one_group)
{
    apply_init();
    uint64_t v = catalog_version(cat);
    assert_replicas(1, 1, 2, 3);
    uint32_t next[] = {4, 2, 3};
    ck_assert_int_eq(set_replicas(1, next, 3), 0);
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    assert_replicas(1, 4, 2, 3);
    assert_replicas(2, 2, 3, 4); /* the others stay */
    ck_assert(catalog_group_has_replica(catalog_get(cat), 1, 4));
    ck_assert(!catalog_group_has_replica(catalog_get(cat), 1, 1));
    ck_assert(!catalog_group_has_replica(catalog_get(cat), 9, 1));
    /* The same set again (a retried proposal): no new version. */
    ck_assert_int_eq(set_replicas(1, next, 3), 0);
    ck_assert_uint_eq(catalog_version(cat), v + 1);
}
END_TEST

START_TEST(test_catalog_group_set_replicas_refusals)
{
    uint32_t ok[] = {4, 2, 3};
    ck_assert_int_eq(set_replicas(1, ok, 3), -EDDY_EUNAVAILABLE); /* before init */
    apply_init();
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(set_replicas(0, ok, 3), -EDDY_ENOTFOUND); /* the coordinator group */
    ck_assert_int_eq(set_replicas(T_GROUPS + 1, ok, 3), -EDDY_ENOTFOUND);
    uint32_t dup[] = {4, 2, 4};
    ck_assert_int_eq(set_replicas(1, dup, 3), -EDDY_EINVAL);
    uint32_t unknown[] = {4, 2, 9};
    ck_assert_int_eq(set_replicas(1, unknown, 3), -EDDY_EINVAL);
    uint32_t zero[] = {4, 0, 3};
    ck_assert_int_eq(set_replicas(1, zero, 3), -EDDY_EINVAL);
    ck_assert_int_eq(set_replicas(1, NULL, 0), -EDDY_EINVAL);
    uint32_t many[COORD_GROUP_REPLICAS_MAX + 1] = {1, 2, 3, 4, 1, 2};
    ck_assert_int_eq(set_replicas(1, many, COORD_GROUP_REPLICAS_MAX + 1), -EDDY_EINVAL);
    ck_assert_uint_eq(catalog_version(cat), v);
    assert_replicas(1, 1, 2, 3);
    /* Fewer replicas are a valid set (a group of a smaller cluster). */
    uint32_t two[] = {2, 4};
    ck_assert_int_eq(set_replicas(1, two, 2), 0);
    ck_assert_uint_eq(catalog_find_group(cat, 1)->n_replicas, 2);
}
END_TEST

START_TEST(test_catalog_group_set_replicas_survives_snapshot)
{
    apply_init();
    uint32_t next[] = {2, 4, 3};
    ck_assert_int_eq(set_replicas(1, next, 3), 0);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(catalog_snapshot(cat, &buf, &len), 0);
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    ck_assert_int_eq(catalog_restore(other, buf, len), 0);
    const Eddy__GroupInfo *g = catalog_find_group(other, 1);
    ck_assert_uint_eq(g->replicas[0], 2);
    ck_assert_uint_eq(g->replicas[1], 4);
    ck_assert_uint_eq(catalog_version(other), catalog_version(cat));
    catalog_destroy(other);
    free(buf);
}
END_TEST

static Suite *catalog_group_suite(void)
{
    Suite *s = suite_create("catalog_group");
    TCase *set = tcase_create("set_replicas");
    tcase_set_timeout(set, 10);
    tcase_add_checked_fixture(set, setup, teardown);
    tcase_add_test(set, test_catalog_group_set_replicas_changes_one_group);
    tcase_add_test(set, test_catalog_group_set_replicas_refusals);
    tcase_add_test(set, test_catalog_group_set_replicas_survives_snapshot);
    suite_add_tcase(s, set);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catalog_group_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
