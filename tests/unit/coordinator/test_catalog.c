/*
 * The catalogue state machine, pure: sequences of encoded entries, the
 * transition table, versions, snapshot round trips, and allocation failures
 * that must leave the catalogue unchanged.
 */
#include "catalog.h"
#include "coord_limits.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/rgroup.h"
#include "eddy/seqnum.h"
#include "eddy/u128.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_NOW_MS 1700000000000ull

static struct catalog *cat;

static void setup(void)
{
    ck_assert_int_eq(catalog_create(&cat), 0);
}

static void teardown(void)
{
    eddy_alloc_fail_after(-1);
    catalog_destroy(cat);
    cat = NULL;
}

/* ---- entry builders ---- */

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

/* Encodes an init with node_count nodes and group_count groups, each group
 * on nodes 1..min(3, node_count). key_len is the iterator key's length. */
static void
encode_init(unsigned node_count, unsigned group_count, size_t key_len, uint8_t **buf, size_t *len)
{
    static char addr[COORD_NODES_MAX][2][32];
    Eddy__NodeInfo nodes[COORD_NODES_MAX];
    Eddy__NodeInfo *node_ptrs[COORD_NODES_MAX];
    ck_assert_uint_le(node_count, COORD_NODES_MAX);
    for (unsigned i = 0; i < node_count; i++) {
        eddy__node_info__init(&nodes[i]);
        nodes[i].id = i + 1;
        snprintf(addr[i][0], sizeof(addr[i][0]), "127.0.0.1:%u", 7000 + i);
        snprintf(addr[i][1], sizeof(addr[i][1]), "127.0.0.1:%u", 8000 + i);
        nodes[i].rpc_address = addr[i][0];
        nodes[i].raft_address = addr[i][1];
        node_ptrs[i] = &nodes[i];
    }
    uint32_t replicas[3] = {1, 2, 3};
    Eddy__GroupInfo *groups = calloc(group_count + 1, sizeof(*groups));
    Eddy__GroupInfo **group_ptrs = calloc(group_count + 1, sizeof(*group_ptrs));
    for (unsigned g = 0; g < group_count; g++) {
        eddy__group_info__init(&groups[g]);
        groups[g].id = g + 1;
        groups[g].n_replicas = node_count < 3 ? node_count : 3;
        groups[g].replicas = replicas;
        group_ptrs[g] = &groups[g];
    }
    uint8_t key[64];
    memset(key, 0xab, sizeof(key));
    Eddy__Catalog init = EDDY__CATALOG__INIT;
    init.n_nodes = node_count;
    init.nodes = node_ptrs;
    init.n_groups = group_count;
    init.groups = group_ptrs;
    init.iterator_key.data = key;
    init.iterator_key.len = key_len;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS;
    e.op_case = EDDY__CATALOG_ENTRY__OP_INIT;
    e.init = &init;
    ck_assert_int_eq(catalog_entry_encode(&e, buf, len), 0);
    free(group_ptrs);
    free(groups);
}

static int apply_buf(const uint8_t *buf, size_t len)
{
    int result = 12345;
    ck_assert_int_eq(catalog_apply(cat, buf, len, &result), 0);
    ck_assert_int_ne(result, 12345);
    return result;
}

static int apply_init(unsigned node_count, unsigned group_count)
{
    uint8_t *buf;
    size_t len;
    encode_init(node_count, group_count, COORD_ITERATOR_KEY_BYTES, &buf, &len);
    int rv = apply_buf(buf, len);
    free(buf);
    return rv;
}

/* Encodes a create of `name` with shard_count shards placed round-robin from
 * group 1 over group_count groups, ranges as the coordinator makes them. */
static void encode_create(const char *name,
                          uint32_t shard_count,
                          uint32_t group_count,
                          uint64_t now_ms,
                          uint8_t **buf,
                          size_t *len)
{
    Eddy__ShardInfo *shards = calloc(shard_count, sizeof(*shards));
    Eddy__ShardInfo **ptrs = calloc(shard_count, sizeof(*ptrs));
    uint8_t(*bytes)[3][16] = calloc(shard_count, sizeof(*bytes));
    for (uint32_t i = 0; i < shard_count; i++) {
        u128 start;
        u128 end;
        u128_shard_range(i, shard_count, &start, &end);
        u128_to_be(start, bytes[i][0]);
        u128_to_be(end, bytes[i][1]);
        u128_to_be(seqnum_shard_start(i), bytes[i][2]);
        eddy__shard_info__init(&shards[i]);
        shards[i].index = i;
        shards[i].hash_start = (ProtobufCBinaryData){16, bytes[i][0]};
        shards[i].hash_end = (ProtobufCBinaryData){16, bytes[i][1]};
        shards[i].starting_sequence = (ProtobufCBinaryData){16, bytes[i][2]};
        shards[i].group = 1 + i % group_count;
        shards[i].parent = -1;
        shards[i].adjacent_parent = -1;
        ptrs[i] = &shards[i];
    }
    Eddy__StreamInfo s = EDDY__STREAM_INFO__INIT;
    s.name = (char *)name;
    s.status = EDDY__STREAM_STATUS__STREAM_ACTIVE; /* apply forces CREATING */
    s.n_shards = shard_count;
    s.shards = ptrs;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_CREATE_STREAM;
    e.create_stream = &s;
    ck_assert_int_eq(catalog_entry_encode(&e, buf, len), 0);
    free(bytes);
    free(ptrs);
    free(shards);
}

static int apply_create(const char *name, uint32_t shard_count)
{
    uint8_t *buf;
    size_t len;
    encode_create(name, shard_count, 2, T_NOW_MS, &buf, &len);
    int rv = apply_buf(buf, len);
    free(buf);
    return rv;
}

static int apply_set_status(const char *name, uint64_t created_ms, Eddy__StreamStatus status)
{
    Eddy__SetStreamStatus op = EDDY__SET_STREAM_STATUS__INIT;
    op.name = (char *)name;
    op.created_ms = created_ms;
    op.status = status;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 10;
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
    e.set_status = &op;
    return apply_entry(&e);
}

static int apply_remove(const char *name)
{
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 20;
    e.op_case = EDDY__CATALOG_ENTRY__OP_REMOVE_STREAM;
    e.remove_stream = (char *)name;
    return apply_entry(&e);
}

/* Packed form of the catalogue, for equality. */
static void snapshot_of(struct catalog *c, uint8_t **buf, size_t *len)
{
    ck_assert_int_eq(catalog_snapshot(c, buf, len), 0);
}

static void assert_unchanged(const uint8_t *before, size_t before_len)
{
    uint8_t *now;
    size_t now_len;
    snapshot_of(cat, &now, &now_len);
    ck_assert_uint_eq(now_len, before_len);
    ck_assert(memcmp(now, before, now_len) == 0);
    free(now);
}

/* ---- init ---- */

START_TEST(test_catalog_init_applies_nodes_groups_key)
{
    ck_assert(!catalog_is_initialized(cat));
    ck_assert_uint_eq(catalog_version(cat), 0);
    ck_assert_int_eq(apply_init(3, 4), 0);
    ck_assert(catalog_is_initialized(cat));
    ck_assert_uint_eq(catalog_version(cat), 1);
    const Eddy__Catalog *c = catalog_get(cat);
    ck_assert_uint_eq(c->n_nodes, 3);
    ck_assert_uint_eq(c->n_groups, 4);
    ck_assert_uint_eq(c->iterator_key.len, COORD_ITERATOR_KEY_BYTES);
    ck_assert_str_eq(catalog_find_node(cat, 2)->rpc_address, "127.0.0.1:7001");
    ck_assert_uint_eq(catalog_find_group(cat, 4)->n_replicas, 3);
    ck_assert_ptr_null(catalog_find_group(cat, 5));
    ck_assert_ptr_null(catalog_find_node(cat, 4));
}
END_TEST

START_TEST(test_catalog_init_only_once)
{
    ck_assert_int_eq(apply_init(3, 4), 0);
    uint8_t *before;
    size_t before_len;
    snapshot_of(cat, &before, &before_len);
    ck_assert_int_eq(apply_init(1, 1), -EDDY_EEXISTS);
    ck_assert_uint_eq(catalog_version(cat), 1);
    assert_unchanged(before, before_len);
    free(before);
}
END_TEST

START_TEST(test_catalog_init_rejects_invalid)
{
    uint8_t *buf;
    size_t len;
    encode_init(3, 2, 16, &buf, &len); /* short key */
    ck_assert_int_eq(apply_buf(buf, len), -EDDY_EINVAL);
    free(buf);
    encode_init(3, 0, COORD_ITERATOR_KEY_BYTES, &buf, &len); /* no groups */
    ck_assert_int_eq(apply_buf(buf, len), -EDDY_EINVAL);
    free(buf);
    encode_init(0, 2, COORD_ITERATOR_KEY_BYTES, &buf, &len); /* replicas of no node */
    ck_assert_int_eq(apply_buf(buf, len), -EDDY_EINVAL);
    free(buf);
    ck_assert(!catalog_is_initialized(cat));
    ck_assert_uint_eq(catalog_version(cat), 0);
    ck_assert_int_eq(apply_init(2, 2), 0); /* replicas {1,2} */
}
END_TEST

/* ---- create ---- */

START_TEST(test_catalog_create_adds_creating_stream)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("s1", 5), 0);
    ck_assert_uint_eq(catalog_version(cat), 2);
    const Eddy__StreamInfo *s = catalog_find_stream(cat, "s1");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_CREATING);
    ck_assert_uint_eq(s->created_ms, T_NOW_MS);
    ck_assert_uint_eq(s->status_changed_ms, T_NOW_MS);
    ck_assert_uint_eq(s->retention_hours, KIN_RETENTION_HOURS_DEFAULT);
    ck_assert_uint_eq(s->n_shards, 5);
    ck_assert_uint_eq(s->shards[3]->index, 3);
    ck_assert_uint_eq(s->shards[3]->group, 2);
    ck_assert_int_eq(s->shards[3]->parent, -1);
    ck_assert_uint_eq(catalog_shard_count(cat), 5);
    ck_assert_uint_eq(catalog_get(cat)->next_group_cursor, 1);
    ck_assert_uint_eq(catalog_time_floor_ms(cat), T_NOW_MS);
    ck_assert_ptr_null(catalog_find_stream(cat, "s2"));
}
END_TEST

START_TEST(test_catalog_create_rejects_duplicate)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("dup", 2), 0);
    uint8_t *before;
    size_t before_len;
    snapshot_of(cat, &before, &before_len);
    ck_assert_int_eq(apply_create("dup", 3), -EDDY_EEXISTS);
    ck_assert_int_eq(apply_create("dup", 2), -EDDY_EEXISTS);
    assert_unchanged(before, before_len);
    free(before);
    ck_assert_uint_eq(catalog_get(cat)->n_streams, 1);
}
END_TEST

START_TEST(test_catalog_create_before_init_unavailable)
{
    ck_assert_int_eq(apply_create("s", 1), -EDDY_EUNAVAILABLE);
    ck_assert_uint_eq(catalog_version(cat), 0);
}
END_TEST

START_TEST(test_catalog_create_rejects_invalid)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("bad name", 1), -EDDY_EINVAL);
    ck_assert_int_eq(apply_create("", 1), -EDDY_EINVAL);
    ck_assert_int_eq(apply_create("zero", 0), -EDDY_EINVAL);
    uint8_t *buf;
    size_t len;
    encode_create("nogroup", 4, 3, T_NOW_MS, &buf, &len); /* group 3 does not exist */
    ck_assert_int_eq(apply_buf(buf, len), -EDDY_EINVAL);
    free(buf);
    ck_assert_uint_eq(catalog_version(cat), 1);
}
END_TEST

START_TEST(test_catalog_create_rejects_hash_gap)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    uint8_t *buf;
    size_t len;
    encode_create("gap", 2, 2, T_NOW_MS, &buf, &len);
    Eddy__CatalogEntry *e = eddy__catalog_entry__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(e);
    e->create_stream->shards[1]->hash_start.data[15] ^= 1; /* off by one */
    uint8_t *bad;
    size_t bad_len;
    ck_assert_int_eq(catalog_entry_encode(e, &bad, &bad_len), 0);
    ck_assert_int_eq(apply_buf(bad, bad_len), -EDDY_EINVAL);
    free(bad);
    eddy__catalog_entry__free_unpacked(e, NULL);
    free(buf);
}
END_TEST

START_TEST(test_catalog_create_stream_limit)
{
    ck_assert_int_eq(apply_init(1, 1), 0);
    char name[32];
    for (int i = 0; i < COORD_STREAMS_MAX; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        ck_assert_int_eq(apply_create(name, 1), 0);
    }
    ck_assert_int_eq(apply_create("one-more", 1), -EDDY_ELIMIT);
    ck_assert_uint_eq(catalog_get(cat)->n_streams, COORD_STREAMS_MAX);
    ck_assert_uint_eq(catalog_version(cat), 1 + COORD_STREAMS_MAX);
}
END_TEST

START_TEST(test_catalog_create_shard_limit)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    char name[32];
    int i = 0;
    while (catalog_shard_count(cat) + COORD_STREAM_SHARDS_MAX <= COORD_SHARDS_MAX) {
        snprintf(name, sizeof(name), "big%d", i++);
        ck_assert_int_eq(apply_create(name, COORD_STREAM_SHARDS_MAX), 0);
    }
    ck_assert_int_eq(apply_create("too-many", COORD_STREAM_SHARDS_MAX), -EDDY_ELIMIT);
    ck_assert_uint_le(catalog_shard_count(cat), COORD_SHARDS_MAX);
}
END_TEST

/* ---- status ---- */

START_TEST(test_catalog_status_table)
{
    enum { C = 0, A = 1, U = 2, D = 3 };
    static const bool want[4][4] = {
        [C] = {[C] = true, [A] = true, [D] = true},
        [A] = {[A] = true, [U] = true, [D] = true},
        [U] = {[U] = true, [A] = true, [D] = true}, /* DeleteStream abandons the update */
        [D] = {[D] = true},
    };
    for (int from = 0; from < 4; from++) {
        for (int to = 0; to < 4; to++) {
            ck_assert_msg(catalog_status_transition_is_allowed(from, to) == want[from][to],
                          "from %d to %d", from, to);
        }
    }
}
END_TEST

START_TEST(test_catalog_status_applies_and_bumps)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("s", 2), 0);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    const Eddy__StreamInfo *s = catalog_find_stream(cat, "s");
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_uint_eq(s->status_changed_ms, T_NOW_MS + 10);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_UPDATING), 0);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_DELETING), 0);
    ck_assert_uint_eq(catalog_version(cat), v + 4);
}
END_TEST

START_TEST(test_catalog_status_same_is_noop)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("s", 2), 0);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_uint_eq(catalog_version(cat), v);
}
END_TEST

START_TEST(test_catalog_status_rejects_illegal)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("s", 2), 0);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_UPDATING),
                     -EDDY_EINUSE);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_DELETING), 0);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_ACTIVE),
                     -EDDY_EINUSE);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_CREATING),
                     -EDDY_EINUSE);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS, 17), -EDDY_EINVAL);
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    ck_assert_int_eq(catalog_find_stream(cat, "s")->status, EDDY__STREAM_STATUS__STREAM_DELETING);
}
END_TEST

START_TEST(test_catalog_status_unknown_stream_or_incarnation)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("s", 2), 0);
    ck_assert_int_eq(apply_set_status("t", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_ACTIVE),
                     -EDDY_ENOTFOUND);
    ck_assert_int_eq(apply_set_status("s", T_NOW_MS - 1, EDDY__STREAM_STATUS__STREAM_ACTIVE),
                     -EDDY_ENOTFOUND);
    ck_assert_int_eq(catalog_find_stream(cat, "s")->status, EDDY__STREAM_STATUS__STREAM_CREATING);
}
END_TEST

/* ---- remove ---- */

START_TEST(test_catalog_remove_only_deleting)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("a", 2), 0);
    ck_assert_int_eq(apply_create("b", 3), 0);
    ck_assert_int_eq(apply_create("c", 1), 0);
    ck_assert_int_eq(apply_remove("b"), -EDDY_EINUSE);
    ck_assert_int_eq(apply_remove("zz"), -EDDY_ENOTFOUND);
    ck_assert_int_eq(apply_set_status("b", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_DELETING), 0);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(apply_remove("b"), 0);
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    ck_assert_ptr_null(catalog_find_stream(cat, "b"));
    ck_assert_ptr_nonnull(catalog_find_stream(cat, "a"));
    ck_assert_ptr_nonnull(catalog_find_stream(cat, "c"));
    ck_assert_uint_eq(catalog_get(cat)->n_streams, 2);
    ck_assert_uint_eq(catalog_shard_count(cat), 3);
    ck_assert_int_eq(apply_remove("b"), -EDDY_ENOTFOUND);
    ck_assert_int_eq(apply_create("b", 4), 0); /* the name is free again */
    ck_assert_uint_eq(catalog_find_stream(cat, "b")->n_shards, 4);
}
END_TEST

/* ---- malformed entries ---- */

START_TEST(test_catalog_malformed_rejected)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
    ck_assert_int_eq(apply_buf(garbage, sizeof(garbage)), -EDDY_EMALFORMED);
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT; /* no op */
    e.now_ms = 5;
    ck_assert_int_eq(apply_entry(&e), -EDDY_EMALFORMED);
    ck_assert_uint_eq(catalog_version(cat), 1);
}
END_TEST

/* ---- snapshot ---- */

START_TEST(test_catalog_snapshot_round_trip)
{
    ck_assert_int_eq(apply_init(3, 3), 0);
    ck_assert_int_eq(apply_create("a", 7), 0);
    ck_assert_int_eq(apply_create("b", 1), 0);
    ck_assert_int_eq(apply_set_status("a", T_NOW_MS, EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    uint8_t *snap;
    size_t snap_len;
    snapshot_of(cat, &snap, &snap_len);

    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    ck_assert_int_eq(catalog_restore(other, snap, snap_len), 0);
    uint8_t *again;
    size_t again_len;
    snapshot_of(other, &again, &again_len);
    ck_assert_uint_eq(again_len, snap_len);
    ck_assert(memcmp(again, snap, snap_len) == 0);
    ck_assert_uint_eq(catalog_version(other), catalog_version(cat));
    ck_assert_uint_eq(catalog_shard_count(other), 8);
    ck_assert(catalog_is_initialized(other));
    ck_assert_int_eq(catalog_find_stream(other, "a")->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);

    /* The restored catalogue keeps applying like the original. */
    struct catalog *orig = cat;
    cat = other;
    ck_assert_int_eq(apply_create("c", 2), 0);
    ck_assert_int_eq(apply_create("a", 2), -EDDY_EEXISTS);
    ck_assert_int_eq(apply_init(1, 1), -EDDY_EEXISTS);
    cat = orig;
    catalog_destroy(other);
    free(again);
    free(snap);
}
END_TEST

START_TEST(test_catalog_snapshot_empty_round_trip)
{
    uint8_t *snap;
    size_t snap_len;
    snapshot_of(cat, &snap, &snap_len);
    ck_assert_int_eq(catalog_restore(cat, snap, snap_len), 0);
    ck_assert(!catalog_is_initialized(cat));
    ck_assert_int_eq(apply_init(3, 1), 0);
    free(snap);
}
END_TEST

START_TEST(test_catalog_snapshot_restore_rejects_corrupt)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("a", 3), 0);
    uint8_t *before;
    size_t before_len;
    snapshot_of(cat, &before, &before_len);

    static const uint8_t garbage[] = {0x0a, 0xff, 0x01};
    ck_assert_int_eq(catalog_restore(cat, garbage, sizeof(garbage)), -EDDY_ECORRUPT);

    /* Decodes, but a shard names a group that does not exist. */
    Eddy__Catalog *c = eddy__catalog__unpack(NULL, before_len, before);
    ck_assert_ptr_nonnull(c);
    c->streams[0]->shards[1]->group = 99;
    uint8_t bad[4096];
    size_t bad_len = eddy__catalog__pack(c, bad);
    ck_assert_int_eq(catalog_restore(cat, bad, bad_len), -EDDY_ECORRUPT);
    c->streams[0]->shards[1]->group = 1;
    c->iterator_key.len = 3;
    bad_len = eddy__catalog__pack(c, bad);
    ck_assert_int_eq(catalog_restore(cat, bad, bad_len), -EDDY_ECORRUPT);
    eddy__catalog__free_unpacked(c, NULL);

    assert_unchanged(before, before_len);
    free(before);
}
END_TEST

/* ---- the rgroup adapter ---- */

START_TEST(test_catalog_fsm_apply_result)
{
    struct rgroup_fsm fsm;
    catalog_fsm_init(&fsm, cat);
    uint8_t *buf;
    size_t len;
    encode_init(3, 2, COORD_ITERATOR_KEY_BYTES, &buf, &len);
    void *result = NULL;
    ck_assert_int_eq(fsm.apply(fsm.data, 7, buf, len, &result), 0);
    ck_assert_ptr_nonnull(result);
    struct catalog_result *r = result;
    ck_assert_int_eq(r->code, 0);
    ck_assert_uint_eq(r->version, 1);
    ck_assert_uint_eq(r->index, 7);
    fsm.free_result(fsm.data, result);
    result = NULL;
    ck_assert_int_eq(fsm.apply(fsm.data, 8, buf, len, &result), 0);
    r = result;
    ck_assert_int_eq(r->code, -EDDY_EEXISTS);
    ck_assert_uint_eq(r->version, 1);
    fsm.free_result(fsm.data, result);
    free(buf);

    uint8_t *snap;
    size_t snap_len;
    ck_assert_int_eq(fsm.snapshot(fsm.data, &snap, &snap_len), 0);
    ck_assert_int_eq(fsm.restore(fsm.data, snap, snap_len), 0);
    eddy_free(snap);
    ck_assert(catalog_is_initialized(cat));
}
END_TEST

/* ---- allocation failures: -ENOMEM and no change, then success ---- */

START_TEST(test_catalog_alloc_apply_fails_cleanly)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("first", 1), 0);
    uint8_t *before;
    size_t before_len;
    snapshot_of(cat, &before, &before_len);
    uint8_t *buf;
    size_t len;
    encode_create("second", 9, 2, T_NOW_MS, &buf, &len);
    int result = 0;
    eddy_alloc_fail_after(_i);
    int rv = catalog_apply(cat, buf, len, &result);
    eddy_alloc_fail_after(-1);
    if (rv == -ENOMEM) {
        assert_unchanged(before, before_len);
        ck_assert_int_eq(apply_buf(buf, len), 0);
    } else {
        ck_assert_int_eq(rv, 0);
        ck_assert_int_eq(result, 0);
    }
    ck_assert_ptr_nonnull(catalog_find_stream(cat, "second"));
    free(buf);
    free(before);
}
END_TEST

START_TEST(test_catalog_alloc_restore_fails_cleanly)
{
    ck_assert_int_eq(apply_init(3, 2), 0);
    ck_assert_int_eq(apply_create("a", 4), 0);
    uint8_t *snap;
    size_t snap_len;
    snapshot_of(cat, &snap, &snap_len);
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    eddy_alloc_fail_after(_i);
    int rv = catalog_restore(other, snap, snap_len);
    eddy_alloc_fail_after(-1);
    if (rv == -ENOMEM) {
        ck_assert(!catalog_is_initialized(other));
        ck_assert_int_eq(catalog_restore(other, snap, snap_len), 0);
    } else {
        ck_assert_int_eq(rv, 0);
    }
    ck_assert_uint_eq(catalog_shard_count(other), 4);
    catalog_destroy(other);
    free(snap);
}
END_TEST

static Suite *catalog_suite(void)
{
    Suite *s = suite_create("catalog");
    struct {
        const char *name;
        const TTest *tests[8];
    } groups[] = {
        {"init",
         {test_catalog_init_applies_nodes_groups_key, test_catalog_init_only_once,
          test_catalog_init_rejects_invalid}},
        {"create",
         {test_catalog_create_adds_creating_stream, test_catalog_create_rejects_duplicate,
          test_catalog_create_before_init_unavailable, test_catalog_create_rejects_invalid,
          test_catalog_create_rejects_hash_gap, test_catalog_create_stream_limit,
          test_catalog_create_shard_limit}},
        {"status",
         {test_catalog_status_table, test_catalog_status_applies_and_bumps,
          test_catalog_status_same_is_noop, test_catalog_status_rejects_illegal,
          test_catalog_status_unknown_stream_or_incarnation}},
        {"remove", {test_catalog_remove_only_deleting}},
        {"malformed", {test_catalog_malformed_rejected}},
        {"snapshot",
         {test_catalog_snapshot_round_trip, test_catalog_snapshot_empty_round_trip,
          test_catalog_snapshot_restore_rejects_corrupt}},
        {"fsm", {test_catalog_fsm_apply_result}},
    };
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        for (size_t t = 0; t < 8 && groups[g].tests[t] != NULL; t++) {
            tcase_add_test(tc, groups[g].tests[t]);
        }
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("alloc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_catalog_alloc_apply_fails_cleanly, 0, 128);
    tcase_add_loop_test(tc, test_catalog_alloc_restore_fails_cleanly, 0, 64);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catalog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
