/*
 * Enhanced fan-out consumers in the catalogue (catalog_consumer.c) through
 * encoded entries, as replicas apply them: register and its limits, the
 * lifecycle and its transition table, incarnations, tags and policies, the
 * stream's deletion, snapshots, determinism, and allocation failures that
 * must leave the catalogue unchanged.
 */
#include "catalog.h"
#include "catalog_consumer.h"
#include "catalog_update.h"
#include "coord_limits.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
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

/* ---- entries ---- */

static int apply_to(struct catalog *c, const Eddy__CatalogEntry *e)
{
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(catalog_entry_encode(e, &buf, &len), 0);
    int result = 12345;
    ck_assert_int_eq(catalog_apply(c, buf, len, &result), 0);
    ck_assert_int_ne(result, 12345);
    eddy_free(buf);
    return result;
}

static void init_to(struct catalog *c)
{
    static char rpc[3][32];
    static char raft[3][32];
    Eddy__NodeInfo nodes[3];
    Eddy__NodeInfo *node_ptrs[3];
    for (unsigned i = 0; i < 3; i++) {
        eddy__node_info__init(&nodes[i]);
        nodes[i].id = i + 1;
        snprintf(rpc[i], sizeof(rpc[i]), "127.0.0.1:%u", 7000 + i);
        snprintf(raft[i], sizeof(raft[i]), "127.0.0.1:%u", 8000 + i);
        nodes[i].rpc_address = rpc[i];
        nodes[i].raft_address = raft[i];
        node_ptrs[i] = &nodes[i];
    }
    uint32_t replicas[3] = {1, 2, 3};
    Eddy__GroupInfo group = EDDY__GROUP_INFO__INIT;
    Eddy__GroupInfo *group_ptrs[1] = {&group};
    group.id = 1;
    group.n_replicas = 3;
    group.replicas = replicas;
    uint8_t key[COORD_ITERATOR_KEY_BYTES];
    memset(key, 0xab, sizeof(key));
    Eddy__Catalog init = EDDY__CATALOG__INIT;
    init.n_nodes = 3;
    init.nodes = node_ptrs;
    init.n_groups = 1;
    init.groups = group_ptrs;
    init.iterator_key.data = key;
    init.iterator_key.len = sizeof(key);
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS;
    e.op_case = EDDY__CATALOG_ENTRY__OP_INIT;
    e.init = &init;
    ck_assert_int_eq(apply_to(c, &e), 0);
}

/* A one-shard stream name created at now_ms. */
static int create_to(struct catalog *c, const char *name, uint64_t now_ms)
{
    uint8_t bytes[3][16];
    u128_to_be(0, bytes[0]);
    u128_to_be(~(u128)0, bytes[1]);
    u128_to_be(seqnum_shard_start(0), bytes[2]);
    Eddy__ShardInfo shard = EDDY__SHARD_INFO__INIT;
    Eddy__ShardInfo *ptrs[1] = {&shard};
    shard.hash_start = (ProtobufCBinaryData){16, bytes[0]};
    shard.hash_end = (ProtobufCBinaryData){16, bytes[1]};
    shard.starting_sequence = (ProtobufCBinaryData){16, bytes[2]};
    shard.group = 1;
    shard.parent = -1;
    shard.adjacent_parent = -1;
    Eddy__StreamInfo s = EDDY__STREAM_INFO__INIT;
    s.name = (char *)name;
    s.n_shards = 1;
    s.shards = ptrs;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_CREATE_STREAM;
    e.create_stream = &s;
    return apply_to(c, &e);
}

static int stream_status_to(struct catalog *c, const char *name, Eddy__StreamStatus status)
{
    const Eddy__StreamInfo *s = catalog_find_stream(c, name);
    Eddy__SetStreamStatus op = EDDY__SET_STREAM_STATUS__INIT;
    op.name = (char *)name;
    op.created_ms = s != NULL ? s->created_ms : 0;
    op.status = status;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 10;
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
    e.set_status = &op;
    return apply_to(c, &e);
}

/* The catalogue with stream "s" ACTIVE. */
static void active_stream_in(struct catalog *c)
{
    init_to(c);
    ck_assert_int_eq(create_to(c, "s", T_NOW_MS), 0);
    ck_assert_int_eq(stream_status_to(c, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
}

static int change_at(struct catalog *c, Eddy__ConsumerChange *ch, uint64_t now_ms)
{
    if (ch->stream == NULL || ch->stream[0] == '\0') {
        ch->stream = (char *)"s"; /* the default stream */
    }
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_CONSUMER;
    e.consumer = ch;
    return apply_to(c, &e);
}

static int register_at(struct catalog *c, const char *name, uint64_t now_ms)
{
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.name = (char *)name;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REGISTER;
    ch.register_ = true;
    return change_at(c, &ch, now_ms);
}

static int
set_status_at(struct catalog *c, const char *name, Eddy__ConsumerStatus status, uint64_t now_ms)
{
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.name = (char *)name;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS;
    ch.set_status = status;
    return change_at(c, &ch, now_ms);
}

static int remove_at(struct catalog *c, const char *name, uint64_t now_ms)
{
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.name = (char *)name;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REMOVE;
    ch.remove = true;
    return change_at(c, &ch, now_ms);
}

static const Eddy__StreamInfo *stream(void)
{
    return catalog_find_stream(cat, "s");
}

static const Eddy__ConsumerInfo *consumer(const char *name)
{
    return catalog_consumer_find(stream(), name);
}

/* "k=v" texts into tags (pointers in ptrs). */
static size_t tags_of(const char *const *kv, size_t n, Eddy__Tag *t, Eddy__Tag **ptrs)
{
    static char keys[64][32];
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        ck_assert_ptr_nonnull(eq);
        snprintf(keys[i], sizeof(keys[i]), "%.*s", (int)(eq - kv[i]), kv[i]);
        eddy__tag__init(&t[i]);
        t[i].key = keys[i];
        t[i].value = (char *)eq + 1;
        ptrs[i] = &t[i];
    }
    return n;
}

static void snapshot_of(struct catalog *c, uint8_t **buf, size_t *len)
{
    ck_assert_int_eq(catalog_snapshot(c, buf, len), 0);
}

static void assert_same(const uint8_t *before, size_t before_len)
{
    uint8_t *now;
    size_t now_len;
    snapshot_of(cat, &now, &now_len);
    ck_assert_uint_eq(now_len, before_len);
    ck_assert(memcmp(now, before, now_len) == 0);
    eddy_free(now);
}

/* ---- register and limits ---- */

START_TEST(test_catalog_consumer_register_creating)
{
    active_stream_in(cat);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(register_at(cat, "c1", T_NOW_MS + 1234), 0);
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    const Eddy__ConsumerInfo *ci = consumer("c1");
    ck_assert_ptr_nonnull(ci);
    ck_assert_int_eq(ci->status, EDDY__CONSUMER_STATUS__CONSUMER_CREATING);
    ck_assert_uint_eq(ci->created_ms, T_NOW_MS + 1234);
    ck_assert_uint_eq(ci->status_changed_ms, T_NOW_MS + 1234);
    ck_assert_uint_eq(catalog_time_floor_ms(cat), T_NOW_MS + 1234);
    /* The name is taken whatever its status; others are checked. */
    ck_assert_int_eq(register_at(cat, "c1", T_NOW_MS + 2000), -EDDY_EEXISTS);
    ck_assert_int_eq(
        set_status_at(cat, "c1", EDDY__CONSUMER_STATUS__CONSUMER_DELETING, T_NOW_MS + 2000), 0);
    ck_assert_int_eq(register_at(cat, "c1", T_NOW_MS + 3000), -EDDY_EEXISTS);
    ck_assert_int_eq(register_at(cat, "bad/name", T_NOW_MS), -EDDY_EINVAL);
    ck_assert_int_eq(register_at(cat, "", T_NOW_MS), -EDDY_EINVAL);
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.stream = (char *)"missing";
    ch.name = (char *)"c2";
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REGISTER;
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS), -EDDY_ENOTFOUND);
    ch.stream = (char *)"s";
    ch.stream_created_ms = T_NOW_MS + 1; /* another incarnation */
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS), -EDDY_ENOTFOUND);
    ch.stream_created_ms = 0;
    ch.consumer_created_ms = 5; /* a register names no incarnation */
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS), -EDDY_EINVAL);
    /* No change at all. */
    Eddy__ConsumerChange none = EDDY__CONSUMER_CHANGE__INIT;
    none.name = (char *)"c2";
    ck_assert_int_eq(change_at(cat, &none, T_NOW_MS), -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_catalog_consumer_register_needs_active_stream)
{
    init_to(cat);
    ck_assert_int_eq(create_to(cat, "s", T_NOW_MS), 0);
    ck_assert_int_eq(register_at(cat, "c", T_NOW_MS + 1), -EDDY_EINUSE); /* CREATING */
    ck_assert_int_eq(stream_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(stream_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_UPDATING), 0);
    ck_assert_int_eq(register_at(cat, "c", T_NOW_MS + 2), 0); /* UPDATING is fine */
    ck_assert_int_eq(stream_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_DELETING), 0);
    ck_assert_int_eq(register_at(cat, "d", T_NOW_MS + 3), -EDDY_EINUSE);
}
END_TEST

START_TEST(test_catalog_consumer_register_limits)
{
    active_stream_in(cat);
    char name[16];
    for (int i = 0; i < COORD_CONSUMERS_CREATING_MAX; i++) {
        snprintf(name, sizeof(name), "c%02d", i);
        ck_assert_int_eq(register_at(cat, name, T_NOW_MS + (uint64_t)i), 0);
    }
    /* A sixth while five are CREATING. */
    ck_assert_int_eq(register_at(cat, "c99", T_NOW_MS + 100), -EDDY_ELIMIT);
    ck_assert_int_eq(
        set_status_at(cat, "c00", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 200), 0);
    ck_assert_int_eq(register_at(cat, "c99", T_NOW_MS + 300), 0);
    ck_assert_int_eq(remove_at(cat, "c99", T_NOW_MS + 400), -EDDY_EINUSE); /* not DELETING */
    /* Up to 20, activating as they come; DELETING ones count too. */
    for (int i = 1; i < COORD_CONSUMERS_PER_STREAM_MAX - 1; i++) { /* and c99: 20 */
        snprintf(name, sizeof(name), "c%02d", i);
        if (consumer(name) == NULL) {
            ck_assert_int_eq(register_at(cat, name, T_NOW_MS + 1000 + (uint64_t)i), 0);
        }
        ck_assert_int_eq(
            set_status_at(cat, name, EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 2000), 0);
    }
    ck_assert_uint_eq(stream()->n_consumers, COORD_CONSUMERS_PER_STREAM_MAX);
    ck_assert_int_eq(register_at(cat, "one-more", T_NOW_MS + 3000), -EDDY_ELIMIT);
    ck_assert_int_eq(
        set_status_at(cat, "c05", EDDY__CONSUMER_STATUS__CONSUMER_DELETING, T_NOW_MS + 3000), 0);
    ck_assert_int_eq(register_at(cat, "one-more", T_NOW_MS + 3001), -EDDY_ELIMIT);
    ck_assert_int_eq(remove_at(cat, "c05", T_NOW_MS + 5000), 0);
    ck_assert_int_eq(register_at(cat, "one-more", T_NOW_MS + 5001), 0);
}
END_TEST

/* ---- lifecycle ---- */

START_TEST(test_catalog_consumer_lifecycle)
{
    active_stream_in(cat);
    ck_assert_int_eq(register_at(cat, "c", T_NOW_MS + 100), 0);
    /* ACTIVE, then the same again is a no-op without a new version. */
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 200), 0);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 300), 0);
    ck_assert_uint_eq(catalog_version(cat), v);
    ck_assert_uint_eq(consumer("c")->status_changed_ms, T_NOW_MS + 200);
    /* Back to CREATING is not in the table; an unknown status is invalid. */
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_CREATING, T_NOW_MS + 300),
        -EDDY_EINUSE);
    ck_assert_int_eq(set_status_at(cat, "c", (Eddy__ConsumerStatus)7, T_NOW_MS + 300),
                     -EDDY_EINVAL);
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_DELETING, T_NOW_MS + 400), 0);
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 500),
        -EDDY_EINUSE);
    /* Not before the second of its creation is over (its ARN's EPOCH). */
    ck_assert_int_eq(remove_at(cat, "c", T_NOW_MS + 999), -EDDY_EINUSE);
    ck_assert_int_eq(remove_at(cat, "c", T_NOW_MS + 1000), 0);
    ck_assert_ptr_null(consumer("c"));
    ck_assert_int_eq(remove_at(cat, "c", T_NOW_MS + 1000), -EDDY_ENOTFOUND);
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 1000),
        -EDDY_ENOTFOUND);
    /* A new one of the same name: another EPOCH. */
    ck_assert_int_eq(register_at(cat, "c", T_NOW_MS + 1001), 0);
    ck_assert_uint_ne(consumer("c")->created_ms / 1000, (T_NOW_MS + 100) / 1000);
    /* CREATING may go straight to DELETING. */
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_DELETING, T_NOW_MS + 1100), 0);
    ck_assert(catalog_consumer_transition_is_allowed(EDDY__CONSUMER_STATUS__CONSUMER_CREATING,
                                                     EDDY__CONSUMER_STATUS__CONSUMER_DELETING));
    ck_assert(!catalog_consumer_transition_is_allowed(EDDY__CONSUMER_STATUS__CONSUMER_DELETING,
                                                      EDDY__CONSUMER_STATUS__CONSUMER_CREATING));
}
END_TEST

START_TEST(test_catalog_consumer_incarnation_pinned)
{
    active_stream_in(cat);
    ck_assert_int_eq(register_at(cat, "c", T_NOW_MS + 100), 0);
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.name = (char *)"c";
    ch.consumer_created_ms = T_NOW_MS + 99; /* an older namesake */
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_SET_STATUS;
    ch.set_status = EDDY__CONSUMER_STATUS__CONSUMER_DELETING;
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS + 200), -EDDY_ENOTFOUND);
    ck_assert_int_eq(consumer("c")->status, EDDY__CONSUMER_STATUS__CONSUMER_CREATING);
    ch.consumer_created_ms = T_NOW_MS + 100;
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS + 200), 0);
    /* Tags ride on a register only. */
    Eddy__Tag t[1];
    Eddy__Tag *ptrs[1];
    const char *kv[] = {"k=v"};
    ch.n_tags = tags_of(kv, 1, t, ptrs);
    ch.tags = ptrs;
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS + 300), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_catalog_consumer_stream_deletion)
{
    active_stream_in(cat);
    ck_assert_int_eq(register_at(cat, "a", T_NOW_MS + 100), 0);
    ck_assert_int_eq(register_at(cat, "b", T_NOW_MS + 200), 0);
    ck_assert_int_eq(
        set_status_at(cat, "a", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 300), 0);
    ck_assert_uint_eq(catalog_consumers_registered(stream()), 2);
    ck_assert_int_eq(stream_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_DELETING), 0);
    ck_assert_uint_eq(catalog_consumers_registered(stream()), 0);
    ck_assert_int_eq(consumer("a")->status, EDDY__CONSUMER_STATUS__CONSUMER_DELETING);
    ck_assert_int_eq(consumer("b")->status, EDDY__CONSUMER_STATUS__CONSUMER_DELETING);
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 400;
    e.op_case = EDDY__CATALOG_ENTRY__OP_REMOVE_STREAM;
    e.remove_stream = (char *)"s";
    ck_assert_int_eq(apply_to(cat, &e), 0); /* the consumers go with it (ASan: no leak) */
    ck_assert_ptr_null(stream());
    /* A stream of the same name starts without consumers. */
    ck_assert_int_eq(create_to(cat, "s", T_NOW_MS + 500), 0);
    ck_assert_uint_eq(stream()->n_consumers, 0);
}
END_TEST

/* ---- tags and policies ---- */

static int add_tags_at(const char *name, const char *const *kv, size_t n, uint64_t now_ms)
{
    Eddy__Tag t[64];
    Eddy__Tag *ptrs[64];
    Eddy__TagList l = EDDY__TAG_LIST__INIT;
    l.n_tags = tags_of(kv, n, t, ptrs);
    l.tags = ptrs;
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.name = (char *)name;
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_ADD_TAGS;
    ch.add_tags = &l;
    return change_at(cat, &ch, now_ms);
}

static int policy_at(const char *name, const char *doc, uint64_t now_ms)
{
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.name = (char *)name;
    if (doc != NULL) {
        ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_PUT_POLICY;
        ch.put_policy = (char *)doc;
    } else {
        ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_DELETE_POLICY;
        ch.delete_policy = true;
    }
    return change_at(cat, &ch, now_ms);
}

START_TEST(test_catalog_consumer_tags)
{
    active_stream_in(cat);
    /* Registered with tags: sorted, one per key. */
    Eddy__Tag t[2];
    Eddy__Tag *ptrs[2];
    const char *kv[] = {"a=1", "b=2"};
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.name = (char *)"c";
    ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REGISTER;
    ch.n_tags = tags_of(kv, 2, t, ptrs);
    ch.tags = ptrs;
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS + 100), 0);
    ck_assert_uint_eq(consumer("c")->n_tags, 2);
    /* Unsorted register tags are refused (the coordinator sorts them). */
    const char *unsorted[] = {"z=1", "a=2"};
    ch.name = (char *)"d";
    ch.n_tags = tags_of(unsorted, 2, t, ptrs);
    ck_assert_int_eq(change_at(cat, &ch, T_NOW_MS + 100), -EDDY_EINVAL);
    /* Tags while CREATING; the same again is a no-op. */
    const char *more[] = {"m=3", "a=9"};
    ck_assert_int_eq(add_tags_at("c", more, 2, T_NOW_MS + 200), 0);
    const Eddy__ConsumerInfo *ci = consumer("c");
    ck_assert_uint_eq(ci->n_tags, 3);
    ck_assert_str_eq(ci->tags[0]->key, "a");
    ck_assert_str_eq(ci->tags[0]->value, "9");
    ck_assert_str_eq(ci->tags[2]->key, "m");
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(add_tags_at("c", more, 2, T_NOW_MS + 300), 0);
    ck_assert_uint_eq(catalog_version(cat), v);
    /* At most 50. */
    char texts[50][16];
    const char *many[50];
    for (int i = 0; i < 48; i++) {
        snprintf(texts[i], sizeof(texts[i]), "k%02d=v", i);
        many[i] = texts[i];
    }
    ck_assert_int_eq(add_tags_at("c", many, 48, T_NOW_MS + 400), -EDDY_EINVAL);
    ck_assert_int_eq(add_tags_at("c", many, 47, T_NOW_MS + 400), 0);
    ck_assert_uint_eq(consumer("c")->n_tags, 50);
    /* Removal; keys it lacks are ignored. */
    char *keys[] = {(char *)"a", (char *)"nope"};
    Eddy__TagKeys kl = EDDY__TAG_KEYS__INIT;
    kl.n_keys = 2;
    kl.keys = keys;
    Eddy__ConsumerChange rm = EDDY__CONSUMER_CHANGE__INIT;
    rm.name = (char *)"c";
    rm.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REMOVE_TAGS;
    rm.remove_tags = &kl;
    ck_assert_int_eq(change_at(cat, &rm, T_NOW_MS + 500), 0);
    ck_assert_uint_eq(consumer("c")->n_tags, 49);
    /* Not while DELETING. */
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_DELETING, T_NOW_MS + 600), 0);
    ck_assert_int_eq(add_tags_at("c", kv, 1, T_NOW_MS + 700), -EDDY_EINUSE);
    ck_assert_int_eq(change_at(cat, &rm, T_NOW_MS + 700), -EDDY_EINUSE);
}
END_TEST

START_TEST(test_catalog_consumer_policy)
{
    active_stream_in(cat);
    ck_assert_int_eq(register_at(cat, "c", T_NOW_MS + 100), 0);
    const char *doc = "{\"Version\":\"2012-10-17\"}";
    /* AWS: "... is not in ACTIVE status." while CREATING. */
    ck_assert_int_eq(policy_at("c", doc, T_NOW_MS + 200), -EDDY_EINUSE);
    ck_assert_int_eq(policy_at("c", "", T_NOW_MS + 200), -EDDY_EINVAL); /* arguments first */
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 300), 0);
    ck_assert_int_eq(policy_at("c", doc, T_NOW_MS + 400), 0);
    ck_assert_str_eq(consumer("c")->policy, doc);
    ck_assert_str_eq(stream()->policy, ""); /* the stream's is its own */
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(policy_at("c", doc, T_NOW_MS + 500), 0);
    ck_assert_uint_eq(catalog_version(cat), v);
    ck_assert_int_eq(policy_at("c", NULL, T_NOW_MS + 600), 0);
    ck_assert_str_eq(consumer("c")->policy, "");
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    ck_assert_int_eq(policy_at("c", NULL, T_NOW_MS + 700), 0); /* none: a no-op */
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    ck_assert_int_eq(policy_at("nobody", doc, T_NOW_MS + 700), -EDDY_ENOTFOUND);
}
END_TEST

START_TEST(test_catalog_consumer_settings_budget)
{
    active_stream_in(cat);
    ck_assert_int_eq(register_at(cat, "c", T_NOW_MS + 100), 0);
    ck_assert_int_eq(
        set_status_at(cat, "c", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 200), 0);
    size_t before = catalog_update_catalog_settings_bytes(catalog_get(cat));
    static char doc[COORD_POLICY_BYTES_MAX + 2];
    memset(doc, 'x', COORD_POLICY_BYTES_MAX);
    doc[COORD_POLICY_BYTES_MAX] = '\0';
    ck_assert_int_eq(policy_at("c", doc, T_NOW_MS + 300), 0);
    /* The consumer's policy counts in its stream's settings bytes. */
    ck_assert_uint_ge(catalog_update_catalog_settings_bytes(catalog_get(cat)),
                      before + COORD_POLICY_BYTES_MAX);
    doc[COORD_POLICY_BYTES_MAX] = 'x';
    doc[COORD_POLICY_BYTES_MAX + 1] = '\0';
    ck_assert_int_eq(policy_at("c", doc, T_NOW_MS + 400), -EDDY_EINVAL);
}
END_TEST

/* ---- replicas: snapshots, restore, determinism ---- */

START_TEST(test_catalog_consumer_snapshot_round_trip)
{
    active_stream_in(cat);
    const char *kv[] = {"k=v"};
    ck_assert_int_eq(register_at(cat, "a", T_NOW_MS + 100), 0);
    ck_assert_int_eq(register_at(cat, "b", T_NOW_MS + 200), 0);
    ck_assert_int_eq(add_tags_at("b", kv, 1, T_NOW_MS + 300), 0);
    uint8_t *snap;
    size_t len;
    snapshot_of(cat, &snap, &len);
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    ck_assert_int_eq(catalog_restore(other, snap, len), 0);
    const Eddy__StreamInfo *s = catalog_find_stream(other, "s");
    ck_assert_uint_eq(s->n_consumers, 2);
    ck_assert_str_eq(s->consumers[1]->tags[0]->key, "k");
    ck_assert_uint_eq(catalog_time_floor_ms(other), T_NOW_MS + 200);
    catalog_destroy(other);
    eddy_free(snap);
}
END_TEST

/* A snapshot of a catalogue whose stream "s" holds consumers as made by
 * edit from a valid one. */
static int restore_edited(void (*edit)(Eddy__StreamInfo *s))
{
    uint8_t *snap;
    size_t len;
    snapshot_of(cat, &snap, &len);
    Eddy__Catalog *c = eddy__catalog__unpack(NULL, len, snap);
    ck_assert_ptr_nonnull(c);
    eddy_free(snap);
    edit(c->streams[0]);
    len = eddy__catalog__get_packed_size(c);
    snap = eddy_xmalloc(len);
    eddy__catalog__pack(c, snap);
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    int rv = catalog_restore(other, snap, len);
    catalog_destroy(other);
    eddy_free(snap);
    /* Undo the edit's borrowed pointers before freeing. */
    c->streams[0]->n_consumers = 0;
    c->streams[0]->consumers = NULL;
    eddy__catalog__free_unpacked(c, NULL);
    return rv;
}

static Eddy__ConsumerInfo edit_consumers[COORD_CONSUMERS_PER_STREAM_MAX + 1];
static Eddy__ConsumerInfo *edit_ptrs[COORD_CONSUMERS_PER_STREAM_MAX + 1];
static char edit_names[COORD_CONSUMERS_PER_STREAM_MAX + 1][24];

static void edit_with(Eddy__StreamInfo *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        eddy__consumer_info__init(&edit_consumers[i]);
        snprintf(edit_names[i], sizeof(edit_names[i]), "c%zu", i);
        edit_consumers[i].name = edit_names[i];
        edit_consumers[i].created_ms = T_NOW_MS;
        edit_ptrs[i] = &edit_consumers[i];
    }
    s->n_consumers = n;
    s->consumers = edit_ptrs;
}

static void edit_ok(Eddy__StreamInfo *s)
{
    edit_with(s, 2);
}

static void edit_too_many(Eddy__StreamInfo *s)
{
    edit_with(s, COORD_CONSUMERS_PER_STREAM_MAX + 1);
}

static void edit_duplicate(Eddy__StreamInfo *s)
{
    edit_with(s, 2);
    edit_consumers[1].name = edit_names[0];
}

static void edit_bad_status(Eddy__StreamInfo *s)
{
    edit_with(s, 1);
    edit_consumers[0].status = (Eddy__ConsumerStatus)9;
}

static void edit_bad_name(Eddy__StreamInfo *s)
{
    edit_with(s, 1);
    edit_consumers[0].name = (char *)"a:b";
}

START_TEST(test_catalog_consumer_restore_checks)
{
    active_stream_in(cat);
    ck_assert_int_eq(restore_edited(edit_ok), 0);
    ck_assert_int_eq(restore_edited(edit_too_many), -EDDY_ECORRUPT);
    ck_assert_int_eq(restore_edited(edit_duplicate), -EDDY_ECORRUPT);
    ck_assert_int_eq(restore_edited(edit_bad_status), -EDDY_ECORRUPT);
    ck_assert_int_eq(restore_edited(edit_bad_name), -EDDY_ECORRUPT);
}
END_TEST

/* The same entries on another replica give the same catalogue. */
START_TEST(test_catalog_consumer_deterministic)
{
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    struct catalog *both[2] = {cat, other};
    for (int r = 0; r < 2; r++) {
        struct catalog *c = both[r];
        active_stream_in(c);
        ck_assert_int_eq(register_at(c, "a", T_NOW_MS + 100), 0);
        ck_assert_int_eq(register_at(c, "b", T_NOW_MS + 200), 0);
        ck_assert_int_eq(
            set_status_at(c, "a", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 300), 0);
        ck_assert_int_eq(
            set_status_at(c, "b", EDDY__CONSUMER_STATUS__CONSUMER_DELETING, T_NOW_MS + 400), 0);
        ck_assert_int_eq(remove_at(c, "b", T_NOW_MS + 1500), 0);
    }
    uint8_t *a;
    size_t a_len;
    snapshot_of(other, &a, &a_len);
    assert_same(a, a_len);
    eddy_free(a);
    catalog_destroy(other);
}
END_TEST

/* ---- allocation failures: -ENOMEM and no change, then success ---- */

START_TEST(test_catalog_consumer_alloc_fails_cleanly)
{
    active_stream_in(cat);
    ck_assert_int_eq(register_at(cat, "old", T_NOW_MS + 50), 0);
    ck_assert_int_eq(
        set_status_at(cat, "old", EDDY__CONSUMER_STATUS__CONSUMER_ACTIVE, T_NOW_MS + 60), 0);
    uint8_t *before;
    size_t before_len;
    snapshot_of(cat, &before, &before_len);
    Eddy__Tag t[2];
    Eddy__Tag *ptrs[2];
    const char *kv[] = {"a=1", "b=2"};
    Eddy__TagList tl = EDDY__TAG_LIST__INIT;
    tl.n_tags = tags_of(kv, 2, t, ptrs);
    tl.tags = ptrs;
    Eddy__ConsumerChange ch = EDDY__CONSUMER_CHANGE__INIT;
    ch.stream = (char *)"s";
    switch (_i % 3) {
    case 0:
        ch.name = (char *)"new";
        ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_REGISTER;
        ch.n_tags = tl.n_tags;
        ch.tags = ptrs;
        break;
    case 1:
        ch.name = (char *)"old";
        ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_ADD_TAGS;
        ch.add_tags = &tl;
        break;
    default:
        ch.name = (char *)"old";
        ch.change_case = EDDY__CONSUMER_CHANGE__CHANGE_PUT_POLICY;
        ch.put_policy = (char *)"{}";
        break;
    }
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 100;
    e.op_case = EDDY__CATALOG_ENTRY__OP_CONSUMER;
    e.consumer = &ch;
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(catalog_entry_encode(&e, &buf, &len), 0);
    int result = 0;
    eddy_alloc_fail_after(_i / 3);
    int rv = catalog_apply(cat, buf, len, &result);
    eddy_alloc_fail_after(-1);
    if (rv == -ENOMEM) {
        assert_same(before, before_len);
        rv = catalog_apply(cat, buf, len, &result);
    }
    ck_assert_int_eq(rv, 0);
    ck_assert_int_eq(result, 0);
    ck_assert_ptr_nonnull(consumer(ch.name));
    if (_i % 3 != 2) {
        ck_assert_uint_eq(consumer(ch.name)->n_tags, 2);
    }
    eddy_free(buf);
    eddy_free(before);
}
END_TEST

static Suite *catalog_consumer_suite(void)
{
    Suite *s = suite_create("catalog_consumer");
    struct {
        const char *name;
        const TTest *tests[8];
    } groups[] = {
        {"register",
         {test_catalog_consumer_register_creating,
          test_catalog_consumer_register_needs_active_stream,
          test_catalog_consumer_register_limits}},
        {"lifecycle",
         {test_catalog_consumer_lifecycle, test_catalog_consumer_incarnation_pinned,
          test_catalog_consumer_stream_deletion}},
        {"settings",
         {test_catalog_consumer_tags, test_catalog_consumer_policy,
          test_catalog_consumer_settings_budget}},
        {"replicas",
         {test_catalog_consumer_snapshot_round_trip, test_catalog_consumer_restore_checks,
          test_catalog_consumer_deterministic}},
    };
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        for (size_t t = 0; t < 8 && groups[g].tests[t] != NULL; t++) {
            tcase_add_test(tc, groups[g].tests[t]);
        }
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("alloc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_catalog_consumer_alloc_fails_cleanly, 0, 3 * 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catalog_consumer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
