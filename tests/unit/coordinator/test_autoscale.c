/*
 * On-demand scaling, the decision (coordinator/autoscale.c): which shard of
 * an ON_DEMAND stream is split and when, from reported write rates and a
 * hand-built catalogue. The clock is a number the test moves.
 */
#include "autoscale.h"
#include "catalog_reshard.h"
#include "reshard_plan.h"

#include "eddy/alloc.h"
#include "eddy/seqnum.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0_MS 5000000
#define T_SUSTAIN_MS 3000
#define T_STALE_MS 2000
#define T_BYTES 1000
#define T_RECORDS 100
#define T_SHARDS_MAX 64

/* ---- a hand-built catalogue: streams of even, open, parentless shards ---- */

struct t_stream {
    Eddy__StreamInfo info;
    Eddy__ShardInfo shards[T_SHARDS_MAX];
    Eddy__ShardInfo *ptrs[T_SHARDS_MAX];
    uint8_t bytes[T_SHARDS_MAX][4][16];
    char name[32];
};

static struct t_stream streams[4];
static Eddy__StreamInfo *stream_ptrs[4];
static Eddy__Catalog cat;
static struct autoscale *as;

static Eddy__StreamInfo *add_stream(const char *name, Eddy__StreamMode mode, uint32_t n)
{
    ck_assert_uint_lt(cat.n_streams, 4);
    ck_assert_uint_le(n, T_SHARDS_MAX);
    struct t_stream *t = &streams[cat.n_streams];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    eddy__stream_info__init(&t->info);
    t->info.name = t->name;
    t->info.created_ms = 1000 + cat.n_streams;
    t->info.status = EDDY__STREAM_STATUS__STREAM_ACTIVE;
    t->info.mode = mode;
    for (uint32_t i = 0; i < n; i++) {
        u128 start, end;
        u128_shard_range(i, n, &start, &end);
        u128_to_be(start, t->bytes[i][0]);
        u128_to_be(end, t->bytes[i][1]);
        u128_to_be(seqnum_shard_start(i), t->bytes[i][2]);
        Eddy__ShardInfo *sh = &t->shards[i];
        eddy__shard_info__init(sh);
        sh->index = i;
        sh->hash_start = (ProtobufCBinaryData){16, t->bytes[i][0]};
        sh->hash_end = (ProtobufCBinaryData){16, t->bytes[i][1]};
        sh->starting_sequence = (ProtobufCBinaryData){16, t->bytes[i][2]};
        sh->group = 1;
        sh->parent = -1;
        sh->adjacent_parent = -1;
        t->ptrs[i] = sh;
    }
    t->info.n_shards = n;
    t->info.shards = t->ptrs;
    stream_ptrs[cat.n_streams] = &t->info;
    cat.streams = stream_ptrs;
    cat.n_streams++;
    return &t->info;
}

/* Closes shard i of s (as a finished reshard leaves it). */
static void close_shard(Eddy__StreamInfo *s, uint32_t i)
{
    struct t_stream *t = (struct t_stream *)s; /* info is the first member */
    memset(t->bytes[i][3], 0x11, 16);
    s->shards[i]->ending_sequence = (ProtobufCBinaryData){16, t->bytes[i][3]};
}

static void setup_with(uint32_t account_limit, uint32_t stream_max)
{
    memset(&cat, 0, sizeof(cat));
    eddy__catalog__init(&cat);
    as = calloc(1, sizeof(*as));
    struct autoscale_config cfg = {
        .write_bytes_per_s = T_BYTES,
        .write_records_per_s = T_RECORDS,
        .sustain_ms = T_SUSTAIN_MS,
        .stale_ms = T_STALE_MS,
        .account_shard_limit = account_limit,
        .stream_shards_max = stream_max,
    };
    autoscale_init(as, &cfg);
}

static void setup(void)
{
    setup_with(1000, 100);
}

static void teardown(void)
{
    free(as);
    as = NULL;
}

static void
report(const Eddy__StreamInfo *s, uint32_t shard, uint64_t bytes, uint64_t records, uint64_t now_ms)
{
    Eddy__ShardLoad l = EDDY__SHARD_LOAD__INIT;
    l.stream = s->name;
    l.stream_created_ms = s->created_ms;
    l.shard = shard;
    l.write_bytes_per_s = bytes;
    l.write_records_per_s = records;
    autoscale_observe(as, &l, now_ms);
}

/* Reports the shard every 500 ms from from_ms to to_ms (inclusive). */
static void report_for(const Eddy__StreamInfo *s,
                       uint32_t shard,
                       uint64_t bytes,
                       uint64_t records,
                       uint64_t from_ms,
                       uint64_t to_ms)
{
    for (uint64_t t = from_ms; t <= to_ms; t += 500) {
        report(s, shard, bytes, records, t);
    }
}

static u128 be(const ProtobufCBinaryData *b)
{
    return u128_from_be(b->data);
}

/* ---- decisions ---- */

START_TEST(test_autoscale_pick_after_sustain)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    /* 5 shards' worth of traffic on one: the stream may have 5. */
    report_for(s, 2, 0, T_RECORDS * 5, T0_MS, T0_MS + T_SUSTAIN_MS - 500);
    ck_assert(!autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS - 1, &sp));
    report(s, 2, 0, T_RECORDS * 5, T0_MS + T_SUSTAIN_MS);
    ck_assert(autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS, &sp));
    ck_assert_str_eq(sp.stream, "od");
    ck_assert_uint_eq(sp.created_ms, s->created_ms);
    ck_assert_uint_eq(sp.shard, 2);
    ck_assert_uint_eq(sp.busy_ms, T_SUSTAIN_MS);
    ck_assert_uint_eq(sp.records_per_s, T_RECORDS * 5);
    /* The middle of shard 2's range [2^127, 3 * 2^126 - 1]. */
    ck_assert(sp.new_start == ((u128)5 << 125));
    /* The split is one SplitShard would make. */
    struct reshard_plan p;
    ck_assert_int_eq(reshard_plan_split(s, sp.shard, sp.new_start, &p), 0);
    ck_assert_uint_eq(p.count, 2);
    ck_assert(p.children[0].start == be(&s->shards[2]->hash_start));
    ck_assert(p.children[1].end == be(&s->shards[2]->hash_end));
    ck_assert(p.children[1].end - p.children[1].start == p.children[0].end - p.children[0].start);
    reshard_plan_free(&p);
    /* Forgotten once proposed: its children are measured afresh. */
    autoscale_forget(as, "od", s->created_ms, 2);
    ck_assert(!autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS, &sp));
}
END_TEST

START_TEST(test_autoscale_bytes_alone_are_busy)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    report_for(s, 0, T_BYTES * 5, 1, T0_MS, T0_MS + T_SUSTAIN_MS);
    ck_assert(autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS, &sp));
    ck_assert_uint_eq(sp.shard, 0);
}
END_TEST

START_TEST(test_autoscale_quiet_report_breaks_sustain)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    report_for(s, 1, 0, T_RECORDS * 5, T0_MS, T0_MS + 2000);
    report(s, 1, T_BYTES - 1, T_RECORDS - 1, T0_MS + 2500); /* just below both */
    report_for(s, 1, 0, T_RECORDS * 5, T0_MS + 3000, T0_MS + 5500);
    ck_assert(!autoscale_pick(as, &cat, T0_MS + 5500, &sp));
    report(s, 1, 0, T_RECORDS * 5, T0_MS + 6000);
    ck_assert(autoscale_pick(as, &cat, T0_MS + 6000, &sp));
    ck_assert_uint_eq(sp.busy_ms, T_SUSTAIN_MS);
}
END_TEST

START_TEST(test_autoscale_gap_in_reports_breaks_sustain)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    report_for(s, 1, 0, T_RECORDS * 5, T0_MS, T0_MS + 2000);
    /* Silent for longer than stale_ms (a leader change): busy from anew. */
    report_for(s, 1, 0, T_RECORDS * 5, T0_MS + 2000 + T_STALE_MS + 1, T0_MS + 6000);
    ck_assert(!autoscale_pick(as, &cat, T0_MS + 6000, &sp));
    /* And no pick on reports gone stale. */
    report_for(s, 1, 0, T_RECORDS * 5, T0_MS + 6500, T0_MS + 10000);
    ck_assert(!autoscale_pick(as, &cat, T0_MS + 10000 + T_STALE_MS + 1, &sp));
    ck_assert(autoscale_pick(as, &cat, T0_MS + 10000, &sp));
}
END_TEST

START_TEST(test_autoscale_only_active_on_demand_streams)
{
    Eddy__StreamInfo *pv = add_stream("pv", EDDY__STREAM_MODE__MODE_PROVISIONED, 4);
    Eddy__StreamInfo *od = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    uint64_t end = T0_MS + T_SUSTAIN_MS;
    report_for(pv, 0, 0, T_RECORDS * 10, T0_MS, end);
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    report_for(od, 3, 0, T_RECORDS * 5, T0_MS, end);
    od->status = EDDY__STREAM_STATUS__STREAM_UPDATING;
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    od->status = EDDY__STREAM_STATUS__STREAM_CREATING;
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    od->status = EDDY__STREAM_STATUS__STREAM_DELETING;
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    od->status = EDDY__STREAM_STATUS__STREAM_ACTIVE;
    ck_assert(autoscale_pick(as, &cat, end, &sp));
    ck_assert_str_eq(sp.stream, "od"); /* the provisioned one is busier */
    ck_assert_uint_eq(sp.shard, 3);
    /* A stream made ON_DEMAND later is split once busy long enough. */
    autoscale_forget(as, "od", od->created_ms, 3);
    pv->mode = EDDY__STREAM_MODE__MODE_ON_DEMAND;
    ck_assert(autoscale_pick(as, &cat, end, &sp));
    ck_assert_str_eq(sp.stream, "pv");
}
END_TEST

/* The stream grows to its traffic divided by the threshold and no further:
 * a hot key does not split it again and again, and busy shards stay as
 * they are once the stream has twice the capacity its traffic needs. */
START_TEST(test_autoscale_traffic_bounds_growth)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 5);
    struct autoscale_split sp;
    uint64_t end = T0_MS + T_SUSTAIN_MS;
    /* One hot shard (a single key) at 4x: 4 shards' worth, 5 open. */
    report_for(s, 2, 0, T_RECORDS * 4, T0_MS, end);
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    /* Four shards at 1.2x: 4.8, rounded up to 5 open. */
    for (uint32_t i = 0; i < 4; i++) {
        report_for(s, i, 0, T_RECORDS * 12 / 10, T0_MS, end);
    }
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    /* A fifth busy shard: 6 shards' worth. */
    report_for(s, 4, 0, T_RECORDS * 12 / 10, T0_MS, end);
    ck_assert(autoscale_pick(as, &cat, end, &sp));
    /* Bytes count the same way, and closed shards' old reports not at all. */
    teardown();
    setup();
    memset(&cat, 0, sizeof(cat));
    eddy__catalog__init(&cat);
    s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    report_for(s, 0, T_BYTES * 5, 0, T0_MS, end);
    report_for(s, 1, T_BYTES * 5, 0, T0_MS, end);
    close_shard(s, 1);
    ck_assert(autoscale_pick(as, &cat, end, &sp));
    ck_assert_uint_eq(sp.shard, 0);
    report_for(s, 0, T_BYTES * 4, 0, T0_MS + 500, end);
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
}
END_TEST

START_TEST(test_autoscale_picks_the_busiest)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    uint64_t end = T0_MS + T_SUSTAIN_MS;
    report_for(s, 0, 0, T_RECORDS * 3, T0_MS, end);
    report_for(s, 1, T_BYTES * 6, 0, T0_MS, end); /* 6x its threshold in bytes */
    report_for(s, 2, 0, T_RECORDS, T0_MS, end);
    ck_assert(autoscale_pick(as, &cat, end, &sp));
    ck_assert_uint_eq(sp.shard, 1);
    ck_assert_uint_eq(sp.bytes_per_s, T_BYTES * 6);
}
END_TEST

START_TEST(test_autoscale_closed_or_gone_shards_are_dropped)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    uint64_t end = T0_MS + T_SUSTAIN_MS;
    report_for(s, 0, 0, T_RECORDS * 5, T0_MS, end);
    close_shard(s, 0);
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    /* Another incarnation of the stream. */
    report_for(s, 1, 0, T_RECORDS * 5, T0_MS, end);
    s->created_ms += 7;
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    /* A shard the stream does not have, a stream that does not exist. */
    report_for(s, 40, 0, T_RECORDS, T0_MS, end);
    Eddy__ShardLoad l = EDDY__SHARD_LOAD__INIT;
    l.stream = "nope";
    l.write_records_per_s = T_RECORDS;
    for (uint64_t t = T0_MS; t <= end; t += 500) {
        autoscale_observe(as, &l, t);
    }
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
    for (size_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        ck_assert(!as->shards[i].is_used);
    }
}
END_TEST

START_TEST(test_autoscale_bad_reports_are_ignored)
{
    char long_name[KIN_STREAM_NAME_LEN_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    const char *bad[] = {NULL, "", "bad name", "x/y", long_name};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Eddy__ShardLoad l = EDDY__SHARD_LOAD__INIT;
        l.stream = (char *)bad[i];
        l.write_records_per_s = T_RECORDS;
        autoscale_observe(as, &l, T0_MS);
    }
    for (size_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        ck_assert(!as->shards[i].is_used);
    }
}
END_TEST

START_TEST(test_autoscale_account_limit)
{
    teardown();
    setup_with(8, 100);
    Eddy__StreamInfo *a = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    Eddy__StreamInfo *b = add_stream("pv", EDDY__STREAM_MODE__MODE_PROVISIONED, 4);
    struct autoscale_split sp;
    uint64_t end = T0_MS + T_SUSTAIN_MS;
    report_for(a, 0, 0, T_RECORDS * 5, T0_MS, end);
    ck_assert(!autoscale_pick(as, &cat, end, &sp)); /* 8 open: the limit */
    close_shard(b, 3);
    ck_assert(autoscale_pick(as, &cat, end, &sp));
    ck_assert_uint_eq(sp.shard, 0);
}
END_TEST

START_TEST(test_autoscale_stream_limit)
{
    teardown();
    setup_with(1000, 4);
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    uint64_t end = T0_MS + T_SUSTAIN_MS;
    report_for(s, 0, 0, T_RECORDS * 5, T0_MS, end);
    ck_assert(!autoscale_pick(as, &cat, end, &sp));
}
END_TEST

START_TEST(test_autoscale_table_full_evicts_least_recent)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    report_for(s, 0, 0, T_RECORDS, T0_MS, T0_MS + T_SUSTAIN_MS);
    /* Fill every other slot with shards reported later. */
    for (uint32_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        report(s, 1000 + i, 0, 1, T0_MS + T_SUSTAIN_MS + 1);
    }
    ck_assert(!autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS + 1, &sp));
    size_t used = 0;
    for (size_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        used += as->shards[i].is_used;
        ck_assert(!(as->shards[i].is_used && as->shards[i].shard == 0));
    }
    ck_assert_uint_eq(used, AUTOSCALE_SHARDS_MAX);
}
END_TEST

START_TEST(test_autoscale_reset_forgets)
{
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 4);
    struct autoscale_split sp;
    report_for(s, 0, 0, T_RECORDS, T0_MS, T0_MS + T_SUSTAIN_MS);
    autoscale_reset(as);
    ck_assert(!autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS, &sp));
}
END_TEST

START_TEST(test_autoscale_split_point)
{
    u128 all = ~(u128)0;
    ck_assert(autoscale_split_point(0, all) == (u128)1 << 127);
    ck_assert(autoscale_split_point(0, ((u128)1 << 126) - 1) == (u128)1 << 125);
    ck_assert(autoscale_split_point(10, 13) == 12); /* the narrowest: 4 keys */
    ck_assert(autoscale_split_point(all - 3, all) == all - 1);
    /* A one-shard stream splits in two even halves, and a range too narrow
     * is never picked. */
    Eddy__StreamInfo *s = add_stream("od", EDDY__STREAM_MODE__MODE_ON_DEMAND, 1);
    struct autoscale_split sp;
    report_for(s, 0, 0, T_RECORDS * 2, T0_MS, T0_MS + T_SUSTAIN_MS);
    ck_assert(autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS, &sp));
    ck_assert(sp.new_start == (u128)1 << 127);
    struct t_stream *t = (struct t_stream *)s;
    u128_to_be(100, t->bytes[0][0]);
    u128_to_be(102, t->bytes[0][1]);
    ck_assert(!autoscale_pick(as, &cat, T0_MS + T_SUSTAIN_MS, &sp));
}
END_TEST

static Suite *autoscale_suite(void)
{
    Suite *s = suite_create("autoscale");
    TCase *tc = tcase_create("decide");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_autoscale_pick_after_sustain);
    tcase_add_test(tc, test_autoscale_bytes_alone_are_busy);
    tcase_add_test(tc, test_autoscale_quiet_report_breaks_sustain);
    tcase_add_test(tc, test_autoscale_gap_in_reports_breaks_sustain);
    tcase_add_test(tc, test_autoscale_only_active_on_demand_streams);
    tcase_add_test(tc, test_autoscale_traffic_bounds_growth);
    tcase_add_test(tc, test_autoscale_picks_the_busiest);
    tcase_add_test(tc, test_autoscale_closed_or_gone_shards_are_dropped);
    tcase_add_test(tc, test_autoscale_bad_reports_are_ignored);
    tcase_add_test(tc, test_autoscale_account_limit);
    tcase_add_test(tc, test_autoscale_stream_limit);
    tcase_add_test(tc, test_autoscale_table_full_evicts_least_recent);
    tcase_add_test(tc, test_autoscale_reset_forgets);
    tcase_add_test(tc, test_autoscale_split_point);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(autoscale_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
