/*
 * Stream and account settings in the catalogue (catalog_update.c) through
 * encoded entries, as replicas apply them: each change and its checks, the
 * status rules (which changes put a stream in UPDATING, which statuses each
 * accepts), no-ops, determinism, snapshots, the settings budget, and
 * allocation failures that must leave the catalogue unchanged.
 */
#include "catalog.h"
#include "catalog_update.h"
#include "coord_limits.h"
#include "coord_update.h"

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
#define T_DAY_MS (24ull * 3600 * 1000)

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

static int apply_entry(const Eddy__CatalogEntry *e)
{
    return apply_to(cat, e);
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
    Eddy__GroupInfo groups[2];
    Eddy__GroupInfo *group_ptrs[2];
    for (unsigned g = 0; g < 2; g++) {
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
    init.n_groups = 2;
    init.groups = group_ptrs;
    init.iterator_key.data = key;
    init.iterator_key.len = sizeof(key);
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS;
    e.op_case = EDDY__CATALOG_ENTRY__OP_INIT;
    e.init = &init;
    ck_assert_int_eq(apply_to(c, &e), 0);
}

/* A create of name with 2 shards on groups 1 and 2, and tags (may be 0). */
static int create_to(struct catalog *c, const char *name, Eddy__Tag **tags, size_t n_tags)
{
    Eddy__ShardInfo shards[2];
    Eddy__ShardInfo *ptrs[2];
    uint8_t bytes[2][3][16];
    for (uint32_t i = 0; i < 2; i++) {
        u128 start;
        u128 end;
        u128_shard_range(i, 2, &start, &end);
        u128_to_be(start, bytes[i][0]);
        u128_to_be(end, bytes[i][1]);
        u128_to_be(seqnum_shard_start(i), bytes[i][2]);
        eddy__shard_info__init(&shards[i]);
        shards[i].index = i;
        shards[i].hash_start = (ProtobufCBinaryData){16, bytes[i][0]};
        shards[i].hash_end = (ProtobufCBinaryData){16, bytes[i][1]};
        shards[i].starting_sequence = (ProtobufCBinaryData){16, bytes[i][2]};
        shards[i].group = 1 + i;
        shards[i].parent = -1;
        shards[i].adjacent_parent = -1;
        ptrs[i] = &shards[i];
    }
    Eddy__StreamInfo s = EDDY__STREAM_INFO__INIT;
    s.name = (char *)name;
    s.n_shards = 2;
    s.shards = ptrs;
    s.n_tags = n_tags;
    s.tags = tags;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS;
    e.op_case = EDDY__CATALOG_ENTRY__OP_CREATE_STREAM;
    e.create_stream = &s;
    return apply_to(c, &e);
}

static int set_status_to(struct catalog *c, const char *name, Eddy__StreamStatus status)
{
    Eddy__SetStreamStatus op = EDDY__SET_STREAM_STATUS__INIT;
    op.name = (char *)name;
    op.created_ms = T_NOW_MS;
    op.status = status;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 5;
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
    e.set_status = &op;
    return apply_to(c, &e);
}

/* An initialised catalogue with an ACTIVE stream "s". */
static void active_stream(void)
{
    init_to(cat);
    ck_assert_int_eq(create_to(cat, "s", NULL, 0), 0);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
}

static int update_at(struct catalog *c, Eddy__StreamUpdate *u, uint64_t now_ms)
{
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_UPDATE_STREAM;
    e.update_stream = u;
    return apply_to(c, &e);
}

static int update(Eddy__StreamUpdate *u)
{
    return update_at(cat, u, T_NOW_MS + 100);
}

/* Tags "k=v" pairs into t/ptrs (key and value point into the literal). */
static size_t tags_of(const char *const *kv, size_t n, Eddy__Tag *t, Eddy__Tag **ptrs)
{
    static char buf[64][2][64];
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        snprintf(buf[i][0], sizeof(buf[i][0]), "%.*s", (int)(eq - kv[i]), kv[i]);
        snprintf(buf[i][1], sizeof(buf[i][1]), "%s", eq + 1);
        eddy__tag__init(&t[i]);
        t[i].key = buf[i][0];
        t[i].value = buf[i][1];
        ptrs[i] = &t[i];
    }
    return n;
}

static int add_tags_to(struct catalog *c, const char *name, const char *const *kv, size_t n)
{
    Eddy__Tag t[64];
    Eddy__Tag *ptrs[64];
    Eddy__TagList l = EDDY__TAG_LIST__INIT;
    l.n_tags = tags_of(kv, n, t, ptrs);
    l.tags = ptrs;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)name;
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_ADD_TAGS;
    u.add_tags = &l;
    return update_at(c, &u, T_NOW_MS + 100);
}

static int add_tags(const char *const *kv, size_t n)
{
    return add_tags_to(cat, "s", kv, n);
}

static int remove_tags(const char *const *keys, size_t n)
{
    Eddy__TagKeys l = EDDY__TAG_KEYS__INIT;
    l.n_keys = n;
    l.keys = (char **)keys;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_REMOVE_TAGS;
    u.remove_tags = &l;
    return update(&u);
}

static int retention(bool up, uint32_t hours)
{
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    if (up) {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS;
        u.increase_retention_hours = hours;
    } else {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_DECREASE_RETENTION_HOURS;
        u.decrease_retention_hours = hours;
    }
    return update(&u);
}

static int metrics(bool on, const char *const *names, size_t n)
{
    Eddy__MetricNames l = EDDY__METRIC_NAMES__INIT;
    l.n_names = n;
    l.names = (char **)names;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    if (on) {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_ENABLE_METRICS;
        u.enable_metrics = &l;
    } else {
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_DISABLE_METRICS;
        u.disable_metrics = &l;
    }
    return update(&u);
}

static int encryption(const char *type, const char *key)
{
    Eddy__Encryption enc = EDDY__ENCRYPTION__INIT;
    enc.type = (char *)type;
    enc.key_id = (char *)key;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_SET_ENCRYPTION;
    u.set_encryption = &enc;
    return update(&u);
}

static int scalar_update(Eddy__StreamUpdate__ChangeCase cc, uint32_t v)
{
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.change_case = cc;
    switch (cc) {
    case EDDY__STREAM_UPDATE__CHANGE_SET_MODE:
        u.set_mode = (Eddy__StreamMode)v;
        break;
    case EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB:
        u.set_max_record_size_kib = v;
        break;
    case EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS:
        u.set_warm_throughput_mibps = v;
        break;
    case EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY:
        u.delete_policy = true;
        break;
    default:
        ck_abort_msg("not a scalar change");
    }
    return update(&u);
}

static int put_policy(const char *doc)
{
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_PUT_POLICY;
    u.put_policy = (char *)doc;
    return update(&u);
}

static int account_at(struct catalog *c, bool enabled, uint64_t now_ms)
{
    Eddy__AccountSettings a = EDDY__ACCOUNT_SETTINGS__INIT;
    a.commitment_enabled = enabled;
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = now_ms;
    e.op_case = EDDY__CATALOG_ENTRY__OP_SET_ACCOUNT;
    e.set_account = &a;
    return apply_to(c, &e);
}

static const Eddy__StreamInfo *stream(void)
{
    const Eddy__StreamInfo *s = catalog_find_stream(cat, "s");
    ck_assert_ptr_nonnull(s);
    return s;
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

static void assert_tags(const char *const *kv, size_t n)
{
    const Eddy__StreamInfo *s = stream();
    ck_assert_uint_eq(s->n_tags, n);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof(want), "%s=%s", s->tags[i]->key, s->tags[i]->value);
        ck_assert_str_eq(want, kv[i]);
    }
}

/* ---- tags ---- */

START_TEST(test_catalog_update_tags_add_sorted_unique)
{
    active_stream();
    uint64_t v = catalog_version(cat);
    const char *in[] = {"zeta=1", "alpha=2", "mid=3", "alpha=4"};
    ck_assert_int_eq(add_tags(in, 4), 0);
    const char *want[] = {"alpha=4", "mid=3", "zeta=1"};
    assert_tags(want, 3);
    ck_assert_uint_eq(catalog_version(cat), v + 1);
    /* Overwrites a value, adds a key; the status stays ACTIVE. */
    const char *more[] = {"mid=x", "beta="};
    ck_assert_int_eq(add_tags(more, 2), 0);
    const char *want2[] = {"alpha=4", "beta=", "mid=x", "zeta=1"};
    assert_tags(want2, 4);
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert(!stream()->settings_updating);
}
END_TEST

START_TEST(test_catalog_update_tags_same_is_noop)
{
    active_stream();
    const char *in[] = {"a=1"};
    ck_assert_int_eq(add_tags(in, 1), 0);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(add_tags(in, 1), 0);
    ck_assert_uint_eq(catalog_version(cat), v);
    const char *gone[] = {"nope"};
    ck_assert_int_eq(remove_tags(gone, 1), 0);
    ck_assert_uint_eq(catalog_version(cat), v);
}
END_TEST

START_TEST(test_catalog_update_tags_limit_50)
{
    active_stream();
    static char kv[COORD_TAGS_MAX + 1][16];
    const char *ptrs[COORD_TAGS_MAX + 1];
    for (int i = 0; i <= COORD_TAGS_MAX; i++) {
        snprintf(kv[i], sizeof(kv[i]), "k%02d=v", i);
        ptrs[i] = kv[i];
    }
    ck_assert_int_eq(add_tags(ptrs, 40), 0);
    uint8_t *before;
    size_t before_len;
    snapshot_of(cat, &before, &before_len);
    /* 40 + 11 new keys is 51: refused whole. */
    ck_assert_int_eq(add_tags(ptrs + 40, 11), -EDDY_EINVAL);
    assert_same(before, before_len);
    eddy_free(before);
    /* Existing keys do not count twice: 40 again + 10 new is 50. */
    ck_assert_int_eq(add_tags(ptrs, 50), 0);
    ck_assert_uint_eq(stream()->n_tags, COORD_TAGS_MAX);
    const char *one[] = {"k50=v"};
    ck_assert_int_eq(add_tags(one, 1), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_catalog_update_tags_invalid)
{
    active_stream();
    const char *empty_key[] = {"=v"};
    ck_assert_int_eq(add_tags(empty_key, 1), -EDDY_EINVAL);
    char long_key[COORD_TAG_KEY_BYTES_MAX + 8];
    memset(long_key, 'k', COORD_TAG_KEY_BYTES_MAX + 1);
    strcpy(long_key + COORD_TAG_KEY_BYTES_MAX + 1, "=v");
    Eddy__Tag t = EDDY__TAG__INIT;
    Eddy__Tag *tp = &t;
    long_key[COORD_TAG_KEY_BYTES_MAX + 1] = '\0';
    t.key = long_key;
    t.value = (char *)"v";
    Eddy__TagList l = EDDY__TAG_LIST__INIT;
    l.n_tags = 1;
    l.tags = &tp;
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_ADD_TAGS;
    u.add_tags = &l;
    ck_assert_int_eq(update(&u), -EDDY_EINVAL);
    l.n_tags = 0;
    ck_assert_int_eq(update(&u), -EDDY_EINVAL);
    const char *none[] = {""};
    ck_assert_int_eq(remove_tags(none, 1), -EDDY_EINVAL);
    ck_assert_int_eq(remove_tags(NULL, 0), -EDDY_EINVAL);
    ck_assert_uint_eq(stream()->n_tags, 0);
}
END_TEST

START_TEST(test_catalog_update_tags_remove)
{
    active_stream();
    const char *in[] = {"a=1", "b=2", "c=3"};
    ck_assert_int_eq(add_tags(in, 3), 0);
    const char *rm[] = {"b", "x"};
    ck_assert_int_eq(remove_tags(rm, 2), 0);
    const char *want[] = {"a=1", "c=3"};
    assert_tags(want, 2);
    const char *all[] = {"a", "c"};
    ck_assert_int_eq(remove_tags(all, 2), 0);
    ck_assert_uint_eq(stream()->n_tags, 0);
}
END_TEST

START_TEST(test_catalog_update_tags_status_rules)
{
    init_to(cat);
    ck_assert_int_eq(create_to(cat, "s", NULL, 0), 0);
    const char *in[] = {"a=1"};
    ck_assert_int_eq(add_tags(in, 1), -EDDY_EINUSE); /* CREATING */
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(retention(true, 48), 0); /* now UPDATING */
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
    ck_assert_int_eq(add_tags(in, 1), 0); /* tags are fine while UPDATING */
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_DELETING), 0);
    ck_assert_int_eq(add_tags(in, 1), -EDDY_EINUSE);
}
END_TEST

START_TEST(test_catalog_update_unknown_stream_or_incarnation)
{
    active_stream();
    const char *in[] = {"a=1"};
    ck_assert_int_eq(add_tags_to(cat, "other", in, 1), -EDDY_ENOTFOUND);
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.created_ms = T_NOW_MS + 1; /* another incarnation */
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS;
    u.increase_retention_hours = 48;
    ck_assert_int_eq(update(&u), -EDDY_ENOTFOUND);
    u.created_ms = T_NOW_MS;
    ck_assert_int_eq(update(&u), 0);
    u.change_case = EDDY__STREAM_UPDATE__CHANGE__NOT_SET;
    ck_assert_int_eq(update(&u), -EDDY_EMALFORMED);
    u.name = (char *)"bad name";
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY;
    ck_assert_int_eq(update(&u), -EDDY_EINVAL);
}
END_TEST

START_TEST(test_catalog_update_create_with_tags)
{
    init_to(cat);
    Eddy__Tag t[3];
    Eddy__Tag *ptrs[3];
    const char *kv[] = {"b=2", "a=1", "b=3"};
    Eddy__CreateStreamReq req = EDDY__CREATE_STREAM_REQ__INIT;
    req.n_tags = tags_of(kv, 3, t, ptrs);
    req.tags = ptrs;
    size_t n;
    Eddy__Tag **sorted = coord_update_create_tags(&req, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(create_to(cat, "s", sorted, n), 0);
    eddy_free(sorted);
    const char *want[] = {"a=1", "b=3"};
    assert_tags(want, 2);
    /* A create entry with unsorted tags is invalid. */
    Eddy__Tag *unsorted[2] = {ptrs[0], ptrs[1]};
    ck_assert_int_eq(create_to(cat, "u", unsorted, 2), -EDDY_EINVAL);
    ck_assert_ptr_null(catalog_find_stream(cat, "u"));
}
END_TEST

/* ---- retention ---- */

START_TEST(test_catalog_update_retention_increase_updating)
{
    active_stream();
    ck_assert_uint_eq(stream()->retention_hours, 24);
    ck_assert_int_eq(retention(true, 48), 0);
    const Eddy__StreamInfo *s = stream();
    ck_assert_uint_eq(s->retention_hours, 48);
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
    ck_assert(s->settings_updating);
    ck_assert_uint_eq(s->status_changed_ms, T_NOW_MS + 100);
    /* UPDATING refuses another retention change, after its arguments. */
    ck_assert_int_eq(retention(true, 72), -EDDY_EINUSE);
    ck_assert_int_eq(retention(true, 24), -EDDY_EINVAL); /* shorter: an argument error first */
    /* Back to ACTIVE (the reconciler's set_status): the flag goes. */
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert(!stream()->settings_updating);
    ck_assert_int_eq(retention(true, 8760), 0);
    ck_assert_uint_eq(stream()->retention_hours, 8760);
}
END_TEST

START_TEST(test_catalog_update_retention_rules)
{
    active_stream();
    ck_assert_int_eq(retention(true, 23), -EDDY_EINVAL);
    ck_assert_int_eq(retention(true, 8761), -EDDY_EINVAL);
    ck_assert_int_eq(retention(false, 23), -EDDY_EINVAL);
    ck_assert_int_eq(retention(false, 48), -EDDY_EINVAL); /* a decrease that increases */
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(retention(true, 24), 0); /* the same period: accepted, nothing changes */
    ck_assert_int_eq(retention(false, 24), 0);
    ck_assert_uint_eq(catalog_version(cat), v);
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_int_eq(retention(true, 100), 0);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(retention(true, 99), -EDDY_EINVAL);
    ck_assert_int_eq(retention(false, 30), 0);
    ck_assert_uint_eq(stream()->retention_hours, 30);
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
}
END_TEST

/* ---- metrics, encryption, policy, record size, mode, warm throughput ---- */

START_TEST(test_catalog_update_metrics)
{
    active_stream();
    const char *two[] = {"OutgoingBytes", "IncomingBytes"};
    ck_assert_int_eq(metrics(true, two, 2), 0);
    const Eddy__StreamInfo *s = stream();
    ck_assert_uint_eq(s->n_shard_level_metrics, 2);
    ck_assert_str_eq(s->shard_level_metrics[0], "IncomingBytes");
    ck_assert_str_eq(s->shard_level_metrics[1], "OutgoingBytes");
    ck_assert_int_eq(s->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
    ck_assert_int_eq(metrics(true, two, 2), -EDDY_EINUSE);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(metrics(true, two, 1), 0); /* already on: no-op, stays ACTIVE */
    ck_assert_uint_eq(catalog_version(cat), v);
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    const char *all[] = {"ALL"};
    ck_assert_int_eq(metrics(true, all, 1), 0);
    ck_assert_uint_eq(stream()->n_shard_level_metrics, COORD_METRICS_COUNT);
    ck_assert_str_eq(stream()->shard_level_metrics[6], "WriteProvisionedThroughputExceeded");
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    const char *bad[] = {"IncomingBytes", "Nope"};
    ck_assert_int_eq(metrics(false, bad, 2), -EDDY_EINVAL);
    ck_assert_int_eq(metrics(false, two, 2), 0);
    ck_assert_uint_eq(stream()->n_shard_level_metrics, 5);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(metrics(false, all, 1), 0);
    ck_assert_uint_eq(stream()->n_shard_level_metrics, 0);
}
END_TEST

START_TEST(test_catalog_update_encryption)
{
    active_stream();
    ck_assert_int_eq(encryption("KMS", ""), -EDDY_EINVAL);
    ck_assert_int_eq(encryption("AES", "k"), -EDDY_EINVAL);
    ck_assert_int_eq(encryption("NONE", ""), 0); /* not encrypted: no-op */
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_int_eq(encryption("KMS", "alias/aws/kinesis"), 0);
    ck_assert_str_eq(stream()->encryption_type, "KMS");
    ck_assert_str_eq(stream()->key_id, "alias/aws/kinesis");
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(encryption("NONE", ""), 0);
    ck_assert_str_eq(stream()->encryption_type, "");
    ck_assert_str_eq(stream()->key_id, "");
}
END_TEST

START_TEST(test_catalog_update_policy_and_record_size)
{
    active_stream();
    ck_assert_int_eq(put_policy(""), -EDDY_EINVAL);
    ck_assert_int_eq(put_policy("{\"Version\":\"2012-10-17\"}"), 0);
    ck_assert_str_eq(stream()->policy, "{\"Version\":\"2012-10-17\"}");
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    static char big[COORD_POLICY_BYTES_MAX + 2];
    memset(big, 'p', COORD_POLICY_BYTES_MAX + 1);
    ck_assert_int_eq(put_policy(big), -EDDY_EINVAL);
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_DELETE_POLICY, 1), 0);
    ck_assert_str_eq(stream()->policy, "");
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB, 1023),
                     -EDDY_EINVAL);
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB, 10241),
                     -EDDY_EINVAL);
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB, 1024),
                     0); /* the default: no-op */
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_ACTIVE);
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_MAX_RECORD_SIZE_KIB, 10240), 0);
    ck_assert_uint_eq(stream()->max_record_size_kib, 10240);
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
}
END_TEST

START_TEST(test_catalog_update_mode_and_warm)
{
    active_stream();
    /* Warm throughput: on-demand streams of a committed account only. */
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS, 100),
                     -EDDY_EINVAL);
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_SET_MODE;
    u.set_mode = EDDY__STREAM_MODE__MODE_ON_DEMAND;
    u.mode_warm_throughput_mibps = 100;
    ck_assert_int_eq(update(&u), -EDDY_EINVAL); /* no commitment */
    ck_assert_int_eq(account_at(cat, true, T_NOW_MS), 0);
    u.mode_warm_throughput_mibps = COORD_WARM_THROUGHPUT_MIBPS_MAX + 1;
    ck_assert_int_eq(update(&u), -EDDY_ELIMIT);
    u.mode_warm_throughput_mibps = 100;
    ck_assert_int_eq(update(&u), 0);
    ck_assert_int_eq(stream()->mode, EDDY__STREAM_MODE__MODE_ON_DEMAND);
    ck_assert_uint_eq(stream()->warm_throughput_mibps, 100);
    ck_assert_int_eq(stream()->status, EDDY__STREAM_STATUS__STREAM_UPDATING);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_WARM_THROUGHPUT_MIBPS, 200), 0);
    ck_assert_uint_eq(stream()->warm_throughput_mibps, 200);
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    /* Back to provisioned drops the warm throughput. */
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_MODE, 0), 0);
    ck_assert_int_eq(stream()->mode, EDDY__STREAM_MODE__MODE_PROVISIONED);
    ck_assert_uint_eq(stream()->warm_throughput_mibps, 0);
    ck_assert_int_eq(scalar_update(EDDY__STREAM_UPDATE__CHANGE_SET_MODE, 7), -EDDY_EINVAL);
    /* Warm throughput with another change is malformed. */
    ck_assert_int_eq(set_status_to(cat, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS;
    u.increase_retention_hours = 48;
    ck_assert_int_eq(update(&u), -EDDY_EINVAL);
}
END_TEST

/* ---- account ---- */

START_TEST(test_catalog_update_account_commitment)
{
    uint64_t t0 = T_NOW_MS;
    ck_assert_int_eq(account_at(cat, true, t0), -EDDY_EUNAVAILABLE); /* before init */
    init_to(cat);
    ck_assert_ptr_null(catalog_get(cat)->account);
    uint64_t v = catalog_version(cat);
    ck_assert_int_eq(account_at(cat, false, t0), 0); /* disabled already: no-op */
    ck_assert_uint_eq(catalog_version(cat), v);
    ck_assert_int_eq(account_at(cat, true, t0), 0);
    const Eddy__AccountSettings *a = catalog_get(cat)->account;
    ck_assert(a->commitment_enabled);
    ck_assert_uint_eq(a->started_ms, t0);
    ck_assert_uint_eq(a->earliest_end_ms, t0 + T_DAY_MS);
    ck_assert_uint_eq(a->ended_ms, 0);
    ck_assert(catalog_update_commitment_is_active(a, t0 + 1));
    /* Disabling early schedules the end for the earliest end. */
    ck_assert_int_eq(account_at(cat, false, t0 + 1000), 0);
    a = catalog_get(cat)->account;
    ck_assert(a->commitment_enabled);
    ck_assert_uint_eq(a->ended_ms, t0 + T_DAY_MS);
    ck_assert(catalog_update_commitment_is_active(a, t0 + T_DAY_MS - 1));
    ck_assert(!catalog_update_commitment_is_active(a, t0 + T_DAY_MS));
    /* Enabling again before it cancels the end. */
    ck_assert_int_eq(account_at(cat, true, t0 + 2000), 0);
    a = catalog_get(cat)->account;
    ck_assert_uint_eq(a->ended_ms, 0);
    ck_assert_uint_eq(a->started_ms, t0);
    /* After the earliest end, disabling ends it now. */
    ck_assert_int_eq(account_at(cat, false, t0 + 2 * T_DAY_MS), 0);
    a = catalog_get(cat)->account;
    ck_assert(!a->commitment_enabled);
    ck_assert_uint_eq(a->ended_ms, t0 + 2 * T_DAY_MS);
    /* A new commitment starts afresh. */
    ck_assert_int_eq(account_at(cat, true, t0 + 3 * T_DAY_MS), 0);
    a = catalog_get(cat)->account;
    ck_assert_uint_eq(a->started_ms, t0 + 3 * T_DAY_MS);
    ck_assert_uint_eq(a->ended_ms, 0);
}
END_TEST

START_TEST(test_catalog_update_account_scheduled_end_passes)
{
    init_to(cat);
    ck_assert_int_eq(account_at(cat, true, T_NOW_MS), 0);
    ck_assert_int_eq(account_at(cat, false, T_NOW_MS + 1), 0); /* scheduled */
    /* Once the scheduled end has passed, enabling starts a new commitment. */
    ck_assert_int_eq(account_at(cat, true, T_NOW_MS + 2 * T_DAY_MS), 0);
    const Eddy__AccountSettings *a = catalog_get(cat)->account;
    ck_assert_uint_eq(a->started_ms, T_NOW_MS + 2 * T_DAY_MS);
    ck_assert_uint_eq(a->ended_ms, 0);
}
END_TEST

/* ---- determinism, snapshots, budget ---- */

/* The same updates on two catalogues, entry by entry. */
static void replay(struct catalog *c)
{
    init_to(c);
    ck_assert_int_eq(create_to(c, "s", NULL, 0), 0);
    ck_assert_int_eq(set_status_to(c, "s", EDDY__STREAM_STATUS__STREAM_ACTIVE), 0);
    const char *kv[] = {"b=2", "a=1", "c=3", "a=9"};
    ck_assert_int_eq(add_tags_to(c, "s", kv, 4), 0);
    ck_assert_int_eq(account_at(c, true, T_NOW_MS + 7), 0);
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_INCREASE_RETENTION_HOURS;
    u.increase_retention_hours = 168;
    ck_assert_int_eq(update_at(c, &u, T_NOW_MS + 9), 0);
}

START_TEST(test_catalog_update_deterministic)
{
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    replay(cat);
    replay(other);
    uint8_t *a;
    size_t a_len;
    uint8_t *b;
    size_t b_len;
    snapshot_of(cat, &a, &a_len);
    snapshot_of(other, &b, &b_len);
    ck_assert_uint_eq(a_len, b_len);
    ck_assert(memcmp(a, b, a_len) == 0);
    /* And a snapshot restores to the same bytes. */
    struct catalog *third;
    ck_assert_int_eq(catalog_create(&third), 0);
    ck_assert_int_eq(catalog_restore(third, a, a_len), 0);
    uint8_t *c;
    size_t c_len;
    snapshot_of(third, &c, &c_len);
    ck_assert_uint_eq(c_len, a_len);
    ck_assert(memcmp(c, a, a_len) == 0);
    eddy_free(a);
    eddy_free(b);
    eddy_free(c);
    catalog_destroy(other);
    catalog_destroy(third);
}
END_TEST

/* Restores the catalogue with one field of stream "s" broken by fn. */
static int restore_broken(void (*fn)(Eddy__StreamInfo *s))
{
    uint8_t *buf;
    size_t len;
    snapshot_of(cat, &buf, &len);
    Eddy__Catalog *copy = eddy__catalog__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(copy);
    eddy_free(buf);
    fn(copy->streams[0]);
    len = eddy__catalog__get_packed_size(copy);
    buf = eddy_malloc(len);
    eddy__catalog__pack(copy, buf);
    struct catalog *other;
    ck_assert_int_eq(catalog_create(&other), 0);
    int rv = catalog_restore(other, buf, len);
    catalog_destroy(other);
    eddy_free(buf);
    copy->streams[0]->n_tags = 0; /* fn may have pointed tags at static storage */
    copy->streams[0]->tags = NULL;
    copy->streams[0]->n_shard_level_metrics = 0;
    copy->streams[0]->shard_level_metrics = NULL;
    eddy__catalog__free_unpacked(copy, NULL);
    return rv;
}

static Eddy__Tag broken_tags[2];
static Eddy__Tag *broken_tag_ptrs[2];

static void break_tag_order(Eddy__StreamInfo *s)
{
    eddy__tag__init(&broken_tags[0]);
    eddy__tag__init(&broken_tags[1]);
    broken_tags[0].key = (char *)"b";
    broken_tags[1].key = (char *)"a";
    broken_tag_ptrs[0] = &broken_tags[0];
    broken_tag_ptrs[1] = &broken_tags[1];
    s->n_tags = 2;
    s->tags = broken_tag_ptrs;
}

static char *broken_metric[1] = {(char *)"Nope"};

static void break_metric(Eddy__StreamInfo *s)
{
    s->n_shard_level_metrics = 1;
    s->shard_level_metrics = broken_metric;
}

static void break_flag(Eddy__StreamInfo *s)
{
    s->settings_updating = true; /* while ACTIVE */
}

static void break_nothing(Eddy__StreamInfo *s)
{
    (void)s;
}

START_TEST(test_catalog_update_restore_rejects_bad_settings)
{
    active_stream();
    ck_assert_int_eq(restore_broken(break_nothing), 0);
    ck_assert_int_eq(restore_broken(break_tag_order), -EDDY_ECORRUPT);
    ck_assert_int_eq(restore_broken(break_metric), -EDDY_ECORRUPT);
    ck_assert_int_eq(restore_broken(break_flag), -EDDY_ECORRUPT);
}
END_TEST

START_TEST(test_catalog_update_settings_budget)
{
    init_to(cat);
    /* Streams with a policy of the largest size until the budget is
     * reached: the next policy is -EDDY_ELIMIT, and so is a create whose
     * tags do not fit. */
    static char doc[COORD_POLICY_BYTES_MAX + 1];
    memset(doc, 'p', COORD_POLICY_BYTES_MAX);
    size_t per = COORD_POLICY_BYTES_MAX + 64;
    size_t fit = COORD_SETTINGS_BYTES_MAX / per;
    ck_assert_uint_lt(fit + 2, COORD_STREAMS_MAX);
    char name[32];
    int rv = 0;
    size_t i = 0;
    for (; i < fit + 2 && rv == 0; i++) {
        snprintf(name, sizeof(name), "p%zu", i);
        ck_assert_int_eq(create_to(cat, name, NULL, 0), 0);
        Eddy__SetStreamStatus op = EDDY__SET_STREAM_STATUS__INIT;
        op.name = name;
        op.created_ms = T_NOW_MS;
        op.status = EDDY__STREAM_STATUS__STREAM_ACTIVE;
        Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
        e.now_ms = T_NOW_MS;
        e.op_case = EDDY__CATALOG_ENTRY__OP_SET_STATUS;
        e.set_status = &op;
        ck_assert_int_eq(apply_entry(&e), 0);
        Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
        u.name = name;
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_PUT_POLICY;
        u.put_policy = doc;
        rv = update(&u);
    }
    ck_assert_int_eq(rv, -EDDY_ELIMIT);
    ck_assert_uint_ge(i, fit - 1);
    ck_assert_uint_le(catalog_update_catalog_settings_bytes(catalog_get(cat)),
                      COORD_SETTINGS_BYTES_MAX);
}
END_TEST

/* ---- allocation failures: -ENOMEM and no change, then success ---- */

static int apply_raw(const Eddy__CatalogEntry *e, long fail_after, int *result)
{
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(catalog_entry_encode(e, &buf, &len), 0);
    eddy_alloc_fail_after(fail_after);
    int rv = catalog_apply(cat, buf, len, result);
    eddy_alloc_fail_after(-1);
    eddy_free(buf);
    return rv;
}

START_TEST(test_catalog_update_alloc_fails_cleanly)
{
    active_stream();
    const char *first[] = {"m=1", "z=2"};
    ck_assert_int_eq(add_tags(first, 2), 0);
    const char *names[] = {"IncomingBytes", "IteratorAgeMilliseconds"};
    uint8_t *before;
    size_t before_len;
    snapshot_of(cat, &before, &before_len);
    /* Each kind of change that allocates, failed at allocation _i. */
    Eddy__Tag t[3];
    Eddy__Tag *ptrs[3];
    const char *kv[] = {"a=1", "m=3", "q=4"};
    Eddy__TagList tl = EDDY__TAG_LIST__INIT;
    tl.n_tags = tags_of(kv, 3, t, ptrs);
    tl.tags = ptrs;
    Eddy__MetricNames ml = EDDY__METRIC_NAMES__INIT;
    ml.n_names = 2;
    ml.names = (char **)names;
    Eddy__Encryption enc = EDDY__ENCRYPTION__INIT;
    enc.type = (char *)"KMS";
    enc.key_id = (char *)"alias/aws/kinesis";
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)"s";
    switch (_i % 3) {
    case 0:
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_ADD_TAGS;
        u.add_tags = &tl;
        break;
    case 1:
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_ENABLE_METRICS;
        u.enable_metrics = &ml;
        break;
    default:
        u.change_case = EDDY__STREAM_UPDATE__CHANGE_SET_ENCRYPTION;
        u.set_encryption = &enc;
        break;
    }
    Eddy__CatalogEntry e = EDDY__CATALOG_ENTRY__INIT;
    e.now_ms = T_NOW_MS + 100;
    e.op_case = EDDY__CATALOG_ENTRY__OP_UPDATE_STREAM;
    e.update_stream = &u;
    int result = 0;
    int rv = apply_raw(&e, _i / 3, &result);
    if (rv == -ENOMEM) {
        assert_same(before, before_len);
        ck_assert_int_eq(apply_raw(&e, -1, &result), 0);
    } else {
        ck_assert_int_eq(rv, 0);
    }
    ck_assert_int_eq(result, 0);
    ck_assert_int_eq(stream()->status, _i % 3 == 0 ? EDDY__STREAM_STATUS__STREAM_ACTIVE
                                                   : EDDY__STREAM_STATUS__STREAM_UPDATING);
    if (_i % 3 == 0) {
        const char *want[] = {"a=1", "m=3", "q=4", "z=2"};
        assert_tags(want, 4);
    }
    eddy_free(before);
}
END_TEST

static Suite *catalog_update_suite(void)
{
    Suite *s = suite_create("catalog_update");
    struct {
        const char *name;
        const TTest *tests[10];
    } groups[] = {
        {"tags",
         {test_catalog_update_tags_add_sorted_unique, test_catalog_update_tags_same_is_noop,
          test_catalog_update_tags_limit_50, test_catalog_update_tags_invalid,
          test_catalog_update_tags_remove, test_catalog_update_tags_status_rules,
          test_catalog_update_unknown_stream_or_incarnation, test_catalog_update_create_with_tags}},
        {"retention",
         {test_catalog_update_retention_increase_updating, test_catalog_update_retention_rules}},
        {"settings",
         {test_catalog_update_metrics, test_catalog_update_encryption,
          test_catalog_update_policy_and_record_size, test_catalog_update_mode_and_warm}},
        {"account",
         {test_catalog_update_account_commitment,
          test_catalog_update_account_scheduled_end_passes}},
        {"replicas",
         {test_catalog_update_deterministic, test_catalog_update_restore_rejects_bad_settings,
          test_catalog_update_settings_budget}},
    };
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        for (size_t t = 0; t < 10 && groups[g].tests[t] != NULL; t++) {
            tcase_add_test(tc, groups[g].tests[t]);
        }
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("alloc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_catalog_update_alloc_fails_cleanly, 0, 3 * 40);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catalog_update_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
