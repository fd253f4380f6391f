/*
 * Resharding in the catalogue: the Reshard begin and finish entries
 * (catalog_reshard.h), their checks and idempotence, the pending state as
 * lineage shows it, the UpdateShardCount per-day quota, snapshots of a
 * pending reshard, allocation failures; and the plans the coordinator makes
 * (reshard_plan.h) for splits, merges and uniform scaling, each applied
 * through the catalogue, which must accept it and end with the expected
 * open shards.
 */
#include "catalog.h"
#include "catalog_reshard.h"
#include "coord_limits.h"
#include "reshard_plan.h"

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
#define T_GROUPS 4

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

static int apply_encoded(const Eddy__CatalogEntry *e, uint64_t *version_change)
{
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(catalog_entry_encode(e, &buf, &len), 0);
    uint64_t before = catalog_version(cat);
    int result = 12345;
    ck_assert_int_eq(catalog_apply(cat, buf, len, &result), 0);
    ck_assert_int_ne(result, 12345);
    if (version_change != NULL) {
        *version_change = catalog_version(cat) - before;
    }
    free(buf);
    return result;
}

static void init_catalog(void)
{
    static char addr[3][2][32];
    Eddy__NodeInfo nodes[3];
    Eddy__NodeInfo *node_ptrs[3];
    for (unsigned i = 0; i < 3; i++) {
        eddy__node_info__init(&nodes[i]);
        nodes[i].id = i + 1;
        snprintf(addr[i][0], sizeof(addr[i][0]), "127.0.0.1:%u", 7000 + i);
        snprintf(addr[i][1], sizeof(addr[i][1]), "127.0.0.1:%u", 8000 + i);
        nodes[i].rpc_address = addr[i][0];
        nodes[i].raft_address = addr[i][1];
        node_ptrs[i] = &nodes[i];
    }
    uint32_t replicas[3] = {1, 2, 3};
    Eddy__GroupInfo groups[T_GROUPS];
    Eddy__GroupInfo *group_ptrs[T_GROUPS];
    for (unsigned g = 0; g < T_GROUPS; g++) {
        eddy__group_info__init(&groups[g]);
        groups[g].id = g + 1;
        groups[g].n_replicas = 3;
        groups[g].replicas = replicas;
        group_ptrs[g] = &groups[g];
    }
    uint8_t key[COORD_ITERATOR_KEY_BYTES];
    memset(key, 0xab, sizeof(key));
    Eddy__Catalog init = EDDY__CATALOG__INIT;
    init.n_nodes = 3;
    init.nodes = node_ptrs;
    init.n_groups = T_GROUPS;
    init.groups = group_ptrs;
    init.iterator_key = (ProtobufCBinaryData){sizeof(key), key};
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS;
    e.op_case = EDDY__CATALOG_ENTRY__OP_INIT;
    e.init = &init;
    ck_assert_int_eq(apply_encoded(&e, NULL), 0);
}

/* Creates an ACTIVE stream of n even shards on groups 1.. round-robin. */
static void create_active(const char *name, uint32_t n)
{
    Eddy__ShardInfo *shards = calloc(n, sizeof(*shards));
    Eddy__ShardInfo **ptrs = calloc(n, sizeof(*ptrs));
    uint8_t(*bytes)[3][16] = calloc(n, sizeof(*bytes));
    for (uint32_t i = 0; i < n; i++) {
        u128 start, end;
        u128_shard_range(i, n, &start, &end);
        u128_to_be(start, bytes[i][0]);
        u128_to_be(end, bytes[i][1]);
        u128_to_be(seqnum_shard_start(i), bytes[i][2]);
        eddy__shard_info__init(&shards[i]);
        shards[i].index = i;
        shards[i].hash_start = (ProtobufCBinaryData){16, bytes[i][0]};
        shards[i].hash_end = (ProtobufCBinaryData){16, bytes[i][1]};
        shards[i].starting_sequence = (ProtobufCBinaryData){16, bytes[i][2]};
        shards[i].group = 1 + i % T_GROUPS;
        shards[i].parent = -1;
        shards[i].adjacent_parent = -1;
        ptrs[i] = &shards[i];
    }
    Eddy__StreamInfo s = EDDY__STREAM_INFO__INIT;
    s.name = (char *)name;
    s.n_shards = n;
    s.shards = ptrs;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS;
    e.op_case = EDDY__CATALOG_ENTRY__OP_CREATE_STREAM;
    e.create_stream = &s;
    ck_assert_int_eq(apply_encoded(&e, NULL), 0);
    free(bytes);
    free(ptrs);
    free(shards);
    Eddy__SetStreamStatus set = EDDY__SET_STREAM_STATUS__INIT;
    set.name = (char *)name;
    set.created_ms = T_NOW_MS;
    set.status = EDDY__STREAM_STATUS__STREAM_ACTIVE;
    Eddy__CatalogEntry a = EDDY__CATALOG_ENTRY__INIT;
    a.now_ms = T_NOW_MS + 1;
    a.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
    a.set_status = &set;
    ck_assert_int_eq(apply_encoded(&a, NULL), 0);
}

static const Eddy__StreamInfo *stream(const char *name)
{
    const Eddy__StreamInfo *s = catalog_find_stream(cat, name);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* A begin entry of plan's children (as the coordinator builds it). The
 * caller may change the children before applying. */
struct begin {
    Eddy__ShardInfo *shards;
    Eddy__ShardInfo **ptrs;
    uint8_t (*bytes)[3][16];
    Eddy__Reshard op;
    Eddy__CatalogEntry e;
};

static void begin_build(struct begin *b,
                        const char *name,
                        const struct reshard_plan *p,
                        uint32_t target,
                        uint64_t now_ms)
{
    size_t n = p->count ? p->count : 1;
    b->shards = calloc(n, sizeof(*b->shards));
    b->ptrs = calloc(n, sizeof(*b->ptrs));
    b->bytes = calloc(n, sizeof(*b->bytes));
    for (size_t k = 0; k < p->count; k++) {
        const struct reshard_child *ch = &p->children[k];
        u128_to_be(ch->start, b->bytes[k][0]);
        u128_to_be(ch->end, b->bytes[k][1]);
        u128_to_be(seqnum_shard_start(ch->index), b->bytes[k][2]);
        eddy__shard_info__init(&b->shards[k]);
        b->shards[k].index = ch->index;
        b->shards[k].hash_start = (ProtobufCBinaryData){16, b->bytes[k][0]};
        b->shards[k].hash_end = (ProtobufCBinaryData){16, b->bytes[k][1]};
        b->shards[k].starting_sequence = (ProtobufCBinaryData){16, b->bytes[k][2]};
        b->shards[k].group = ch->group != 0 ? ch->group : 1;
        b->shards[k].parent = ch->parent;
        b->shards[k].adjacent_parent = ch->adjacent_parent;
        b->ptrs[k] = &b->shards[k];
    }
    eddy__reshard__init(&b->op);
    b->op.name = (char *)name;
    b->op.created_ms = T_NOW_MS;
    b->op.n_add = p->count;
    b->op.add = b->ptrs;
    b->op.target_shard_count = target;
    eddy__catalog_entry__init(&b->e);
    b->e.now_ms = now_ms;
    b->e.op_case = EDDY__CATALOG_ENTRY__OP_RESHARD;
    b->e.reshard = &b->op;
}

static void begin_free(struct begin *b)
{
    free(b->bytes);
    free(b->ptrs);
    free(b->shards);
}

static int apply_plan(const char *name, struct reshard_plan *p, uint32_t target, uint64_t now_ms)
{
    reshard_plan_place(catalog_get(cat), stream(name), p);
    struct begin b;
    begin_build(&b, name, p, target, now_ms);
    int rv = apply_encoded(&b.e, NULL);
    begin_free(&b);
    return rv;
}

/* The finish of name's pending reshard, every closing shard ending at
 * seqnum_make(index_base + shard, shard, 0). */
static int apply_finish(const char *name, uint64_t index_base, uint64_t now_ms, uint64_t *change)
{
    uint32_t *created, *closing;
    size_t created_count, closing_count;
    catalog_reshard_members(stream(name), &created, &created_count, &closing, &closing_count);
    Eddy__ShardEnd *ends = calloc(closing_count + 1, sizeof(*ends));
    Eddy__ShardEnd **ptrs = calloc(closing_count + 1, sizeof(*ptrs));
    uint8_t(*seq)[16] = calloc(closing_count + 1, sizeof(*seq));
    for (size_t i = 0; i < closing_count; i++) {
        eddy__shard_end__init(&ends[i]);
        ends[i].shard = closing[i];
        u128_to_be(seqnum_make(index_base + closing[i], closing[i], 0), seq[i]);
        ends[i].ending_sequence = (ProtobufCBinaryData){16, seq[i]};
        ptrs[i] = &ends[i];
    }
    Eddy__Reshard op = EDDY__RESHARD__INIT;
    op.name = (char *)name;
    op.created_ms = T_NOW_MS;
    op.n_close = closing_count;
    op.close = ptrs;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_RESHARD;
    e.reshard = &op;
    int rv = apply_encoded(&e, change);
    free(seq);
    free(ptrs);
    free(ends);
    eddy_free(created);
    eddy_free(closing);
    return rv;
}

static u128 u(ProtobufCBinaryData d)
{
    ck_assert_uint_eq(d.len, 16);
    return u128_from_be(d.data);
}

/* The open shards of s tile [0, 2^128-1] as the even split in n. */
static void assert_open_even(const Eddy__StreamInfo *s, uint32_t n)
{
    ck_assert_uint_eq(catalog_stream_open_count(s), n);
    uint32_t found = 0;
    for (uint32_t t = 0; t < n; t++) {
        u128 start, end;
        u128_shard_range(t, n, &start, &end);
        for (size_t i = 0; i < s->n_shards; i++) {
            const Eddy__ShardInfo *sh = s->shards[i];
            if (catalog_shard_is_open(sh) && u(sh->hash_start) == start && u(sh->hash_end) == end) {
                found++;
            }
        }
    }
    ck_assert_uint_eq(found, n);
}

/* ---- begin and finish ---- */

START_TEST(test_catalog_reshard_split_begin_and_finish)
{
    init_catalog();
    create_active("s", 2);
    u128 start, end;
    u128_shard_range(0, 2, &start, &end);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_split(stream("s"), 0, start + (end - start) / 2, &p), 0);
    ck_assert_uint_eq(p.count, 2);
    ck_assert_uint_eq(p.closing, 1);
    size_t before = catalog_shard_count(cat);
    ck_assert_int_eq(apply_plan("s", &p, 0, T_NOW_MS + 100), 0);
    reshard_plan_free(&p);
    const Eddy__StreamInfo *s = stream("s");
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
    ck_assert_uint_eq(s->status_changed_ms, T_NOW_MS + 100);
    ck_assert_uint_eq(s->n_shards, 4);
    ck_assert_uint_eq(s->next_shard_index, 4);
    ck_assert_uint_eq(catalog_shard_count(cat), before + 2);
    ck_assert(catalog_reshard_is_pending(s));
    ck_assert(catalog_shard_is_closing(s, s->shards[0]));
    ck_assert(!catalog_shard_is_closing(s, s->shards[1]));
    ck_assert_uint_eq(catalog_stream_open_count(s), 3);
    ck_assert_int_eq(s->shards[2]->parent, 0);
    ck_assert_int_eq(s->shards[3]->parent, 0);
    ck_assert_int_eq(s->shards[2]->adjacent_parent, -1);
    ck_assert(u(s->shards[2]->hash_start) == start);
    ck_assert(u(s->shards[3]->hash_end) == end);
    ck_assert(u(s->shards[2]->hash_end) + 1 == u(s->shards[3]->hash_start));
    /* Placement: the children go to the two groups holding nothing. */
    ck_assert_uint_ne(s->shards[2]->group, s->shards[3]->group);
    ck_assert_uint_ge(s->shards[2]->group, 3);
    ck_assert_uint_ge(s->shards[3]->group, 3);

    uint64_t change;
    ck_assert_int_eq(apply_finish("s", 1000, T_NOW_MS + 200, &change), 0);
    ck_assert_uint_eq(change, 1);
    s = stream("s");
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert(!catalog_reshard_is_pending(s));
    ck_assert(!catalog_shard_is_open(s->shards[0]));
    ck_assert(u(s->shards[0]->ending_sequence) == seqnum_make(1000, 0, 0));
    ck_assert_uint_eq(s->shards[0]->closed_ms, T_NOW_MS + 200);
    ck_assert_uint_eq(s->shards[1]->closed_ms, 0);
    ck_assert_uint_eq(catalog_stream_open_count(s), 3);
}
END_TEST

START_TEST(test_catalog_reshard_finish_twice_is_noop)
{
    init_catalog();
    create_active("s", 1);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_split(stream("s"), 0, (u128)1 << 127, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 0, T_NOW_MS + 100), 0);
    reshard_plan_free(&p);
    uint32_t *created, *closing;
    size_t nc, nx;
    catalog_reshard_members(stream("s"), &created, &nc, &closing, &nx);
    ck_assert_uint_eq(nc, 2);
    ck_assert_uint_eq(nx, 1);
    ck_assert_uint_eq(closing[0], 0);
    eddy_free(created);
    eddy_free(closing);
    uint64_t change;
    ck_assert_int_eq(apply_finish("s", 50, T_NOW_MS + 200, &change), 0);
    ck_assert_uint_eq(change, 1);
    /* The same finish again (a new leader proposing it once more): no-op.
     * The members are gone now, so build it by hand. */
    uint8_t seq[16];
    u128_to_be(seqnum_make(50, 0, 0), seq);
    Eddy__ShardEnd end = EDDY__SHARD_END__INIT;
    end.shard = 0;
    end.ending_sequence = (ProtobufCBinaryData){16, seq};
    Eddy__ShardEnd *ends[] = {&end};
    Eddy__Reshard op = EDDY__RESHARD__INIT;
    op.name = "s";
    op.created_ms = T_NOW_MS;
    op.n_close = 1;
    op.close = ends;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 300;
    e.op_case = EDDY__CATALOG_ENTRY__OP_RESHARD;
    e.reshard = &op;
    ck_assert_int_eq(apply_encoded(&e, &change), 0);
    ck_assert_uint_eq(change, 0);
    ck_assert_uint_eq(stream("s")->shards[0]->closed_ms, T_NOW_MS + 200);
    /* A different ending for the closed shard is refused. */
    u128_to_be(seqnum_make(51, 0, 0), seq);
    ck_assert_int_eq(apply_encoded(&e, &change), -EDDY_EINVAL);
    ck_assert_uint_eq(change, 0);
    /* A finish naming an open shard that is not closing is refused. */
    end.shard = 1;
    ck_assert_int_eq(apply_encoded(&e, &change), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_catalog_reshard_pending_blocks_other_changes)
{
    init_catalog();
    create_active("s", 2);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_merge(stream("s"), 0, 1, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 0, T_NOW_MS + 100), 0);
    reshard_plan_free(&p);
    const Eddy__StreamInfo *s = stream("s");
    ck_assert_int_eq(s->shards[2]->parent, 0);
    ck_assert_int_eq(s->shards[2]->adjacent_parent, 1);
    ck_assert_uint_eq(catalog_stream_open_count(s), 1);
    /* Another begin while UPDATING. */
    ck_assert_int_eq(reshard_plan_split(s, 2, (u128)1 << 100, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 0, T_NOW_MS + 150), -EDDY_EINUSE);
    reshard_plan_free(&p);
    /* UPDATING -> ACTIVE by set_status: only the finish may end it. */
    Eddy__SetStreamStatus set = EDDY__SET_STREAM_STATUS__INIT;
    set.name = "s";
    set.created_ms = T_NOW_MS;
    set.status = EDDY__STREAM_STATUS__STREAM_ACTIVE;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 160;
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
    e.set_status = &set;
    ck_assert_int_eq(apply_encoded(&e, NULL), -EDDY_EINUSE);
    ck_assert_int_eq(apply_finish("s", 10, T_NOW_MS + 200, NULL), 0);
    s = stream("s");
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_uint_eq(catalog_stream_open_count(s), 1);
    ck_assert(u(s->shards[2]->hash_start) == 0);
    ck_assert(u(s->shards[2]->hash_end) == ~(u128)0);
}
END_TEST

/* DeleteStream of a stream UPDATING for a reshard: the reshard is abandoned
 * (the stream goes DELETING with its pending children, which are dropped
 * and removed with it). */
START_TEST(test_catalog_reshard_delete_while_pending)
{
    init_catalog();
    create_active("s", 2);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_split(stream("s"), 0, (u128)1 << 120, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 0, T_NOW_MS + 100), 0);
    reshard_plan_free(&p);
    ck_assert(catalog_reshard_is_pending(stream("s")));
    Eddy__SetStreamStatus set = EDDY__SET_STREAM_STATUS__INIT;
    set.name = "s";
    set.created_ms = T_NOW_MS;
    set.status = EDDY__STREAM_STATUS__STREAM_DELETING;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 160;
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
    e.set_status = &set;
    uint64_t change;
    ck_assert_int_eq(apply_encoded(&e, &change), 0);
    ck_assert_uint_eq(change, 1);
    ck_assert_int_eq(stream("s")->status, EDDY__STREAM_STATUS__STREAM_DELETING);
    ck_assert_uint_eq(stream("s")->n_shards, 4); /* the children go with the stream */
    Eddy__CatalogEntry rm = EDDY__CATALOG_ENTRY__INIT;
    rm.now_ms = T_NOW_MS + 200;
    rm.op_case = EDDY__CATALOG_ENTRY__OP_REMOVE_STREAM;
    rm.remove_stream = "s";
    ck_assert_int_eq(apply_encoded(&rm, NULL), 0);
    ck_assert_ptr_null(catalog_find_stream(cat, "s"));
    ck_assert_uint_eq(catalog_shard_count(cat), 0);
}
END_TEST

START_TEST(test_catalog_reshard_rejects_bad_begins)
{
    init_catalog();
    create_active("s", 3);
    struct reshard_plan p;
    struct begin b;
    uint64_t change;
    /* A split whose children leave a gap in the parent's range. */
    ck_assert_int_eq(reshard_plan_split(stream("s"), 0, 1000, &p), 0);
    begin_build(&b, "s", &p, 0, T_NOW_MS + 10);
    u128_to_be(999 - 1, b.bytes[0][1]);
    ck_assert_int_eq(apply_encoded(&b.e, &change), -EDDY_EINVAL);
    ck_assert_uint_eq(change, 0);
    begin_free(&b);
    /* A child numbered out of turn. */
    begin_build(&b, "s", &p, 0, T_NOW_MS + 10);
    b.shards[1].index = 7;
    ck_assert_int_eq(apply_encoded(&b.e, NULL), -EDDY_EINVAL);
    begin_free(&b);
    /* An unknown group. */
    begin_build(&b, "s", &p, 0, T_NOW_MS + 10);
    b.shards[0].group = 99;
    ck_assert_int_eq(apply_encoded(&b.e, NULL), -EDDY_EINVAL);
    begin_free(&b);
    /* Another incarnation of the stream. */
    begin_build(&b, "s", &p, 0, T_NOW_MS + 10);
    b.op.created_ms = T_NOW_MS + 1;
    ck_assert_int_eq(apply_encoded(&b.e, NULL), -EDDY_ENOTFOUND);
    begin_free(&b);
    /* Begin and finish at once. */
    begin_build(&b, "s", &p, 0, T_NOW_MS + 10);
    Eddy__ShardEnd end = EDDY__SHARD_END__INIT;
    Eddy__ShardEnd *ends[] = {&end};
    b.op.n_close = 1;
    b.op.close = ends;
    ck_assert_int_eq(apply_encoded(&b.e, NULL), -EDDY_EINVAL);
    begin_free(&b);
    reshard_plan_free(&p);
    /* A merge of shards that are not adjacent (0 and 2). */
    ck_assert_int_eq(reshard_plan_merge(stream("s"), 0, 2, &p), -EDDY_EINVAL);
    ck_assert_int_eq(reshard_plan_merge(stream("s"), 1, 0, &p), -EDDY_EINVAL); /* inverted */
    ck_assert_int_eq(reshard_plan_merge(stream("s"), 0, 9, &p), -EDDY_ENOTFOUND);
    ck_assert_int_eq(reshard_plan_merge(stream("s"), 0, 1, &p), 0);
    begin_build(&b, "s", &p, 0, T_NOW_MS + 10);
    b.shards[0].adjacent_parent = 2;
    ck_assert_int_eq(apply_encoded(&b.e, NULL), -EDDY_EINVAL);
    begin_free(&b);
    reshard_plan_free(&p);
    /* Split keys AWS refuses: not above start + 1, not below end. */
    u128 start, end_key;
    u128_shard_range(1, 3, &start, &end_key);
    ck_assert_int_eq(reshard_plan_split(stream("s"), 1, start + 1, &p), -EDDY_EINVAL);
    ck_assert_int_eq(reshard_plan_split(stream("s"), 1, end_key, &p), -EDDY_EINVAL);
    ck_assert_int_eq(reshard_plan_split(stream("s"), 1, start, &p), -EDDY_EINVAL);
    ck_assert_int_eq(reshard_plan_split(stream("s"), 1, start + 2, &p), 0);
    reshard_plan_free(&p);
    ck_assert_int_eq(stream("s")->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
}
END_TEST

START_TEST(test_catalog_reshard_closed_shard_is_not_a_parent)
{
    init_catalog();
    create_active("s", 2);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_split(stream("s"), 0, 12345, &p), 0);
    struct begin old;
    reshard_plan_place(catalog_get(cat), stream("s"), &p);
    begin_build(&old, "s", &p, 0, T_NOW_MS + 10);
    ck_assert_int_eq(apply_encoded(&old.e, NULL), 0);
    ck_assert_int_eq(apply_finish("s", 5, T_NOW_MS + 20, NULL), 0);
    /* Shard 0 is closed: splitting it again is refused by the plan and by
     * the catalogue (an entry made from the old plan, renumbered). */
    struct reshard_plan q;
    ck_assert_int_eq(reshard_plan_split(stream("s"), 0, 12345, &q), -EDDY_EINVAL);
    old.shards[0].index = 4;
    old.shards[1].index = 5;
    u128_to_be(seqnum_shard_start(4), old.bytes[0][2]);
    u128_to_be(seqnum_shard_start(5), old.bytes[1][2]);
    ck_assert_int_eq(apply_encoded(&old.e, NULL), -EDDY_EINVAL);
    begin_free(&old);
    reshard_plan_free(&p);
}
END_TEST

START_TEST(test_catalog_reshard_scaling_quota)
{
    init_catalog();
    create_active("s", 1);
    uint64_t t = T_NOW_MS + 1000;
    for (unsigned call = 0; call < CATALOG_SCALING_CALLS_MAX; call++) {
        uint32_t target = call % 2 == 0 ? 2 : 1;
        struct reshard_plan p;
        ck_assert_int_eq(reshard_plan_scale(stream("s"), target, &p), 0);
        ck_assert_int_eq(apply_plan("s", &p, target, t), 0);
        reshard_plan_free(&p);
        ck_assert_int_eq(apply_finish("s", 100 * (call + 1), t + 1, NULL), 0);
        assert_open_even(stream("s"), target);
        t += 1000;
    }
    ck_assert_uint_eq(catalog_scaling_calls(stream("s"), t), CATALOG_SCALING_CALLS_MAX);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_scale(stream("s"), 2, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 2, t), -EDDY_ELIMIT);
    /* A split is no UpdateShardCount: the quota does not apply. */
    reshard_plan_free(&p);
    ck_assert_int_eq(reshard_plan_split(stream("s"), stream("s")->n_shards - 1, 1 << 20, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 0, t), 0);
    reshard_plan_free(&p);
    ck_assert_int_eq(apply_finish("s", 5000, t + 1, NULL), 0);
    /* A day after the first call, one more is allowed. */
    uint64_t later = T_NOW_MS + 1000 + CATALOG_SCALING_WINDOW_MS;
    ck_assert_uint_eq(catalog_scaling_calls(stream("s"), later), CATALOG_SCALING_CALLS_MAX - 1);
    ck_assert_int_eq(reshard_plan_scale(stream("s"), 2, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 2, later), 0);
    reshard_plan_free(&p);
    ck_assert_uint_le(stream("s")->n_scaling_ms, CATALOG_SCALING_CALLS_MAX);
}
END_TEST

START_TEST(test_catalog_reshard_snapshot_keeps_pending)
{
    init_catalog();
    create_active("s", 4);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_scale(stream("s"), 3, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 3, T_NOW_MS + 10), 0);
    reshard_plan_free(&p);
    uint8_t *snap;
    size_t len;
    ck_assert_int_eq(catalog_snapshot(cat, &snap, &len), 0);
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    ck_assert_int_eq(catalog_restore(other, snap, len), 0);
    const Eddy__StreamInfo *s = catalog_find_stream(other, "s");
    ck_assert(catalog_reshard_is_pending(s));
    ck_assert_uint_eq(s->n_scaling_ms, 1);
    ck_assert_uint_eq(catalog_stream_open_count(s), 3);
    uint32_t *a, *b, *c2, *d;
    size_t na, nb, nc, nd;
    catalog_reshard_members(s, &a, &na, &b, &nb);
    catalog_reshard_members(stream("s"), &c2, &nc, &d, &nd);
    ck_assert_uint_eq(na, nc);
    ck_assert_uint_eq(nb, nd);
    ck_assert_uint_eq(nb, 8); /* 4 -> 3: all four shards and the four pieces of two splits */
    eddy_free(a);
    eddy_free(b);
    eddy_free(c2);
    eddy_free(d);
    catalog_destroy(other);
    free(snap);
}
END_TEST

/* ---- plans for UpdateShardCount ---- */

/* Scales s from n to m and back through the catalogue. */
static void scale_and_check(uint32_t n, uint32_t m)
{
    char name[32];
    snprintf(name, sizeof(name), "s-%u-%u", n, m);
    create_active(name, n);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_scale(stream(name), m, &p), 0);
    if (n == m) {
        ck_assert_uint_eq(p.count, 0);
        reshard_plan_free(&p);
        return;
    }
    /* At most a parent and an adjacent parent per child, each below it. */
    for (size_t k = 0; k < p.count; k++) {
        ck_assert_int_ge(p.children[k].parent, 0);
        ck_assert_int_lt(p.children[k].parent, p.children[k].index);
        ck_assert_int_lt(p.children[k].adjacent_parent, (int64_t)p.children[k].index);
    }
    ck_assert_int_eq(apply_plan(name, &p, m, T_NOW_MS + 10), 0);
    reshard_plan_free(&p);
    ck_assert_uint_eq(catalog_stream_open_count(stream(name)), m);
    ck_assert_int_eq(apply_finish(name, 77, T_NOW_MS + 20, NULL), 0);
    assert_open_even(stream(name), m);
    ck_assert_int_eq(stream(name)->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
}

START_TEST(test_catalog_reshard_plan_scale_shapes)
{
    init_catalog();
    static const uint32_t cases[][2] = {
        {1, 2}, {2, 4},  {4, 2},  {2, 1}, {3, 2},  {2, 3},  {3, 6},  {5, 3},  {4, 3},
        {3, 4}, {7, 13}, {13, 7}, {6, 6}, {10, 5}, {5, 10}, {8, 15}, {16, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scale_and_check(cases[i][0], cases[i][1]);
    }
}
END_TEST

START_TEST(test_catalog_reshard_plan_scale_after_split)
{
    /* Uneven open shards (after a manual split) scale to the even split. */
    init_catalog();
    create_active("s", 2);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_split(stream("s"), 1, ((u128)3) << 126, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 0, T_NOW_MS + 10), 0);
    reshard_plan_free(&p);
    ck_assert_int_eq(apply_finish("s", 5, T_NOW_MS + 20, NULL), 0);
    ck_assert_uint_eq(catalog_stream_open_count(stream("s")), 3);
    ck_assert_int_eq(reshard_plan_scale(stream("s"), 5, &p), 0);
    ck_assert_int_eq(apply_plan("s", &p, 5, T_NOW_MS + 30), 0);
    reshard_plan_free(&p);
    ck_assert_int_eq(apply_finish("s", 50, T_NOW_MS + 40, NULL), 0);
    assert_open_even(stream("s"), 5);
}
END_TEST

START_TEST(test_catalog_reshard_plan_places_on_emptiest_groups)
{
    init_catalog();
    create_active("a", 4); /* one shard on each of the 4 groups */
    create_active("b", 2); /* groups 1 and 2 get a second */
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_split(stream("b"), 0, (u128)1 << 120, &p), 0);
    reshard_plan_place(catalog_get(cat), stream("b"), &p);
    /* Loads: g1 1 once b's shard 0 leaves, g2 2, g3 1, g4 1: g3 (g1 holds
     * the parent), then g4. */
    ck_assert_uint_eq(p.children[0].group, 3);
    ck_assert_uint_eq(p.children[1].group, 4);
    reshard_plan_free(&p);
    /* Short-lived children stay on their parent's group. */
    ck_assert_int_eq(reshard_plan_scale(stream("a"), 3, &p), 0);
    reshard_plan_place(catalog_get(cat), stream("a"), &p);
    for (size_t k = 0; k < p.count; k++) {
        if (!p.children[k].is_final) {
            const struct reshard_child *ch = &p.children[k];
            uint32_t parent_group = ch->parent < 4 ? stream("a")->shards[ch->parent]->group
                                                   : p.children[ch->parent - 4].group;
            ck_assert_uint_eq(ch->group, parent_group);
        }
    }
    reshard_plan_free(&p);
}
END_TEST

/* ---- allocation failures ---- */

START_TEST(test_catalog_reshard_alloc_fails_cleanly)
{
    init_catalog();
    create_active("s", 2);
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_scale(stream("s"), 3, &p), 0);
    reshard_plan_place(catalog_get(cat), stream("s"), &p);
    struct begin b;
    begin_build(&b, "s", &p, 3, T_NOW_MS + 10);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(catalog_entry_encode(&b.e, &buf, &len), 0);
    uint8_t *before;
    size_t before_len;
    ck_assert_int_eq(catalog_snapshot(cat, &before, &before_len), 0);
    int result = 0;
    eddy_alloc_fail_after(_i);
    int rv = catalog_apply(cat, buf, len, &result);
    eddy_alloc_fail_after(-1);
    if (rv == -ENOMEM) {
        uint8_t *now;
        size_t now_len;
        ck_assert_int_eq(catalog_snapshot(cat, &now, &now_len), 0);
        ck_assert_uint_eq(now_len, before_len);
        ck_assert(memcmp(now, before, now_len) == 0);
        free(now);
        ck_assert_int_eq(catalog_apply(cat, buf, len, &result), 0);
    } else {
        ck_assert_int_eq(rv, 0);
    }
    ck_assert_int_eq(result, 0);
    ck_assert(catalog_reshard_is_pending(stream("s")));
    /* The finish under the same failures. */
    uint32_t *created = NULL, *closing = NULL;
    size_t nc, nx;
    catalog_reshard_members(stream("s"), &created, &nc, &closing, &nx);
    Eddy__ShardEnd *ends = calloc(nx, sizeof(*ends));
    Eddy__ShardEnd **ptrs = calloc(nx, sizeof(*ptrs));
    uint8_t(*seq)[16] = calloc(nx, sizeof(*seq));
    for (size_t i = 0; i < nx; i++) {
        eddy__shard_end__init(&ends[i]);
        ends[i].shard = closing[i];
        u128_to_be(seqnum_make(9, closing[i], 0), seq[i]);
        ends[i].ending_sequence = (ProtobufCBinaryData){16, seq[i]};
        ptrs[i] = &ends[i];
    }
    Eddy__Reshard op = EDDY__RESHARD__INIT;
    op.name = "s";
    op.created_ms = T_NOW_MS;
    op.n_close = nx;
    op.close = ptrs;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 20;
    e.op_case = EDDY__CATALOG_ENTRY__OP_RESHARD;
    e.reshard = &op;
    uint8_t *fbuf;
    size_t flen;
    ck_assert_int_eq(catalog_entry_encode(&e, &fbuf, &flen), 0);
    uint64_t version = catalog_version(cat);
    eddy_alloc_fail_after(_i);
    rv = catalog_apply(cat, fbuf, flen, &result);
    eddy_alloc_fail_after(-1);
    if (rv == -ENOMEM) {
        ck_assert_uint_eq(catalog_version(cat), version);
        ck_assert(catalog_reshard_is_pending(stream("s")));
        ck_assert_int_eq(catalog_apply(cat, fbuf, flen, &result), 0);
    }
    ck_assert_int_eq(result, 0);
    assert_open_even(stream("s"), 3);
    free(fbuf);
    free(seq);
    free(ptrs);
    free(ends);
    eddy_free(created);
    eddy_free(closing);
    free(before);
    free(buf);
    begin_free(&b);
    reshard_plan_free(&p);
}
END_TEST

static Suite *catalog_reshard_suite(void)
{
    Suite *s = suite_create("catalog_reshard");
    TCase *tc = tcase_create("entries");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_catalog_reshard_split_begin_and_finish);
    tcase_add_test(tc, test_catalog_reshard_finish_twice_is_noop);
    tcase_add_test(tc, test_catalog_reshard_pending_blocks_other_changes);
    tcase_add_test(tc, test_catalog_reshard_delete_while_pending);
    tcase_add_test(tc, test_catalog_reshard_rejects_bad_begins);
    tcase_add_test(tc, test_catalog_reshard_closed_shard_is_not_a_parent);
    tcase_add_test(tc, test_catalog_reshard_scaling_quota);
    tcase_add_test(tc, test_catalog_reshard_snapshot_keeps_pending);
    suite_add_tcase(s, tc);
    TCase *plan = tcase_create("plan");
    tcase_add_checked_fixture(plan, setup, teardown);
    tcase_set_timeout(plan, 30);
    tcase_add_test(plan, test_catalog_reshard_plan_scale_shapes);
    tcase_add_test(plan, test_catalog_reshard_plan_scale_after_split);
    tcase_add_test(plan, test_catalog_reshard_plan_places_on_emptiest_groups);
    suite_add_tcase(s, plan);
    TCase *alloc = tcase_create("alloc");
    tcase_add_checked_fixture(alloc, setup, teardown);
    tcase_set_timeout(alloc, 60);
    tcase_add_loop_test(alloc, test_catalog_reshard_alloc_fails_cleanly, 0, 32);
    suite_add_tcase(s, alloc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catalog_reshard_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
