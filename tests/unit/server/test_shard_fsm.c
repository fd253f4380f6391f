/*
 * The shard group state machine: shard creation, record application with
 * sequence numbers from (index, shard, place), idempotent replay, stream
 * drop, and the snapshot manifest round trip.
 */
#include "segment.h"
#include "shard_fsm.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/seqnum.h"
#include "group.pb-c.h"

#include <check.h>
#include <raft.h>
#include <raft/fixture.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char test_dir[256];

static void setup(void)
{
    snprintf(test_dir, sizeof(test_dir), "/tmp/eddy-test-fsm-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(test_dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static uint8_t *entry_create(uint64_t created, const uint32_t *shards, size_t n, size_t *len)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = "s1";
    ref.created_ms = created;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.streams = refs;
    e.n_streams = 1;
    e.create_shards = (uint32_t *)shards;
    e.n_create_shards = n;
    *len = eddy__group_entry__get_packed_size(&e);
    uint8_t *buf = malloc(*len);
    eddy__group_entry__pack(&e, buf);
    return buf;
}

static uint8_t *entry_records(uint64_t created, uint64_t arrival, size_t n, size_t *len)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = "s1";
    ref.created_ms = created;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__EntryRecord recs[8];
    Eddy__EntryRecord *ptrs[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        eddy__entry_record__init(&recs[i]);
        recs[i].shard = (uint32_t)(i % 2);
        recs[i].partition_key = "pk";
        recs[i].data.data = (uint8_t *)"payload";
        recs[i].data.len = 7;
        ptrs[i] = &recs[i];
    }
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.arrival_ms = arrival;
    e.streams = refs;
    e.n_streams = 1;
    e.records = ptrs;
    e.n_records = n;
    *len = eddy__group_entry__get_packed_size(&e);
    uint8_t *buf = malloc(*len);
    eddy__group_entry__pack(&e, buf);
    return buf;
}

static int apply(struct rgroup_fsm *fsm, uint64_t index, uint8_t *buf, size_t len, void **result)
{
    int rv = fsm->apply(fsm->data, index, buf, len, result);
    free(buf);
    return rv;
}

/* Builds first, then reads len: the two must not be arguments of one call. */
static int
apply_built(struct rgroup_fsm *fsm, uint64_t index, uint8_t *buf, size_t *len, void **result)
{
    return apply(fsm, index, buf, *len, result);
}

static bool count_record(void *arg, const struct seg_record *r)
{
    (void)r;
    (*(int *)arg)++;
    return true;
}

static int count_shard(struct shard_fsm *f, uint32_t shard)
{
    struct seg_store *s = shard_fsm_find(f, "s1", 100, shard);
    ck_assert_ptr_nonnull(s);
    int n = 0;
    u128 next;
    ck_assert_int_ge(
        seg_store_read(s, SEG_TRIM_HORIZON, 0, 0, 10000, 1 << 20, count_record, &n, &next), 0);
    return n;
}

START_TEST(test_shard_fsm_apply_records_get_sequence_numbers)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    uint32_t shards[] = {0, 1};
    size_t len;
    void *result = NULL;
    ck_assert_int_eq(apply_built(&fsm, 1, entry_create(100, shards, 2, &len), &len, &result), 0);
    ck_assert_ptr_null(result);
    ck_assert_uint_eq(shard_fsm_shard_count(f), 2);
    ck_assert_int_eq(apply_built(&fsm, 2, entry_records(100, 5000, 4, &len), &len, &result), 0);
    struct shard_fsm_result *res = result;
    ck_assert_ptr_nonnull(res);
    ck_assert_uint_eq(res->count, 4);
    for (uint32_t i = 0; i < 4; i++) {
        ck_assert_int_eq(res->codes[i], 0);
        ck_assert(res->seqs[i] == seqnum_make(2, i % 2, i));
    }
    ck_assert_uint_eq(res->arrival_ms, 5000);
    fsm.free_result(fsm.data, result);
    ck_assert_int_eq(count_shard(f, 0), 2);
    ck_assert_int_eq(count_shard(f, 1), 2);
    ck_assert_uint_eq(shard_fsm_last_arrival_ms(f), 5000);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_apply_unknown_shard_fails_the_record)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    uint32_t shards[] = {0};
    size_t len;
    void *result = NULL;
    ck_assert_int_eq(apply_built(&fsm, 1, entry_create(100, shards, 1, &len), &len, &result), 0);
    ck_assert_int_eq(apply_built(&fsm, 2, entry_records(100, 1, 2, &len), &len, &result), 0);
    struct shard_fsm_result *res = result;
    ck_assert_int_eq(res->codes[0], 0);
    ck_assert_int_eq(res->codes[1], -EDDY_ENOTFOUND);
    fsm.free_result(fsm.data, result);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_replay_is_idempotent)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    uint32_t shards[] = {0, 1};
    size_t len;
    void *result = NULL;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    ck_assert_int_eq(apply_built(&fsm, 1, entry_create(100, shards, 2, &len), &len, &result), 0);
    ck_assert_int_eq(apply_built(&fsm, 2, entry_records(100, 10, 4, &len), &len, &result), 0);
    fsm.free_result(fsm.data, result);
    shard_fsm_destroy(f);
    /* A restart replays the whole log over the files already written. */
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    ck_assert_int_eq(apply_built(&fsm, 1, entry_create(100, shards, 2, &len), &len, &result), 0);
    ck_assert_int_eq(apply_built(&fsm, 2, entry_records(100, 10, 4, &len), &len, &result), 0);
    fsm.free_result(fsm.data, result);
    ck_assert_int_eq(apply_built(&fsm, 3, entry_records(100, 20, 2, &len), &len, &result), 0);
    fsm.free_result(fsm.data, result);
    ck_assert_int_eq(count_shard(f, 0), 3);
    ck_assert_int_eq(count_shard(f, 1), 3);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_snapshot_restore_round_trip)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    uint32_t shards[] = {0, 1};
    size_t len;
    void *result = NULL;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    ck_assert_int_eq(apply_built(&fsm, 1, entry_create(100, shards, 2, &len), &len, &result), 0);
    ck_assert_int_eq(apply_built(&fsm, 2, entry_records(100, 10, 4, &len), &len, &result), 0);
    fsm.free_result(fsm.data, result);
    uint8_t *snap;
    size_t snap_len;
    ck_assert_int_eq(fsm.snapshot(fsm.data, &snap, &snap_len), 0);
    /* A manifest, not the records: far smaller than the data. */
    ck_assert_uint_lt(snap_len, 400);
    shard_fsm_destroy(f);
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    ck_assert_int_eq(fsm.restore(fsm.data, snap, snap_len), 0);
    ck_assert_uint_eq(shard_fsm_shard_count(f), 2);
    ck_assert_int_eq(count_shard(f, 0), 2);
    ck_assert_uint_eq(shard_fsm_last_arrival_ms(f), 10);
    eddy_free(snap);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_drop_stream_removes_shards)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    uint32_t shards[] = {0, 1};
    size_t len;
    void *result = NULL;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    ck_assert_int_eq(apply_built(&fsm, 1, entry_create(100, shards, 2, &len), &len, &result), 0);
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = "s1";
    ref.created_ms = 100;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.streams = refs;
    e.n_streams = 1;
    e.drop_stream = true;
    len = eddy__group_entry__get_packed_size(&e);
    uint8_t *buf = malloc(len);
    eddy__group_entry__pack(&e, buf);
    ck_assert_int_eq(apply(&fsm, 2, buf, len, &result), 0);
    ck_assert_uint_eq(shard_fsm_shard_count(f), 0);
    ck_assert_ptr_null(shard_fsm_find(f, "s1", 100, 0));
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_garbage_entry_is_corrupt)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    void *result = NULL;
    ck_assert_int_eq(fsm.apply(fsm.data, 1, junk, sizeof(junk), &result), -EDDY_ECORRUPT);
    shard_fsm_destroy(f);
}
END_TEST

/* ---- the state machine replicated under raft_fixture ---- */

#define FIX_N 3

struct fix_replica {
    struct shard_fsm *shards;
    struct rgroup_fsm adapter;
    struct raft_fsm raft_fsm;
    struct raft_fixture *fixture;
    unsigned i;
};

static struct raft_fixture fix;
static struct fix_replica replicas[FIX_N];

/* The fixture's entries carry [u32 length][payload][zero pad to 8], the
 * same rule rgroup follows for the Debian 0.15 library. */
static int fix_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct fix_replica *r = fsm->data;
    struct raft *raft = raft_fixture_get(r->fixture, r->i);
    uint32_t len;
    ck_assert_uint_ge(buf->len, 4);
    memcpy(&len, buf->base, 4);
    void *res = NULL;
    int rv = r->adapter.apply(r->adapter.data, raft->last_applied + 1, (uint8_t *)buf->base + 4,
                              len, &res);
    if (res != NULL) {
        r->adapter.free_result(r->adapter.data, res);
    }
    *result = NULL;
    return rv;
}

static int fix_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    (void)fsm;
    (void)bufs;
    (void)n;
    return RAFT_NOTFOUND;
}

static int fix_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    (void)buf;
    return RAFT_NOTFOUND;
}

static void fix_setup(void)
{
    setup();
    ck_assert_int_eq(raft_fixture_initialize(&fix), 0);
    for (unsigned i = 0; i < FIX_N; i++) {
        char dir[300];
        snprintf(dir, sizeof(dir), "%s/r%u", test_dir, i);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        struct fix_replica *r = &replicas[i];
        r->fixture = &fix;
        r->i = i;
        ck_assert_int_eq(shard_fsm_create(&r->shards, dir, 1), 0);
        shard_fsm_adapter(r->shards, &r->adapter);
        r->raft_fsm = (struct raft_fsm){.version = 1,
                                        .data = r,
                                        .apply = fix_apply,
                                        .snapshot = fix_snapshot,
                                        .restore = fix_restore};
        ck_assert_int_eq(raft_fixture_grow(&fix, &r->raft_fsm), 0);
    }
    struct raft_configuration conf;
    ck_assert_int_eq(raft_fixture_configuration(&fix, FIX_N, &conf), 0);
    ck_assert_int_eq(raft_fixture_bootstrap(&fix, &conf), 0);
    raft_configuration_close(&conf);
    ck_assert_int_eq(raft_fixture_start(&fix), 0);
}

static void fix_teardown(void)
{
    raft_fixture_close(&fix);
    for (unsigned i = 0; i < FIX_N; i++) {
        shard_fsm_destroy(replicas[i].shards);
    }
    teardown();
}

static void fix_propose(unsigned leader, uint8_t *payload, size_t len)
{
    size_t total = (4 + len + 7) / 8 * 8;
    struct raft_buffer buf = {.base = raft_malloc(total), .len = total};
    memset(buf.base, 0, total);
    uint32_t len32 = (uint32_t)len;
    memcpy(buf.base, &len32, 4);
    memcpy((uint8_t *)buf.base + 4, payload, len);
    free(payload);
    struct raft_apply *req = malloc(sizeof(*req));
    ck_assert_int_eq(raft_apply(raft_fixture_get(&fix, leader), req, &buf, 1, NULL), 0);
    /* raft holds req until the entry is applied, which the loop below waits
     * for on every live replica. */
    raft_index index = raft_last_index(raft_fixture_get(&fix, leader));
    for (unsigned i = 0; i < FIX_N; i++) {
        if (raft_fixture_alive(&fix, i)) {
            ck_assert(raft_fixture_step_until_applied(&fix, i, index, 5000));
        }
    }
    free(req);
}

static u128 fix_last_seq(unsigned i, uint32_t shard)
{
    struct seg_store *s = shard_fsm_find(replicas[i].shards, "s1", 100, shard);
    ck_assert_ptr_nonnull(s);
    return seg_store_last_seq(s);
}

START_TEST(test_shard_fsm_raft_replicas_converge_across_leader_change)
{
    raft_fixture_elect(&fix, 0);
    uint32_t shards[] = {0, 1};
    size_t len;
    uint8_t *buf = entry_create(100, shards, 2, &len);
    fix_propose(0, buf, len);
    for (int k = 0; k < 5; k++) {
        buf = entry_records(100, 1000 + (uint64_t)k, 4, &len);
        fix_propose(0, buf, len);
    }
    u128 before = fix_last_seq(0, 0);
    /* A new leader goes on with higher sequence numbers. */
    raft_fixture_depose(&fix);
    raft_fixture_elect(&fix, 2);
    for (int k = 0; k < 3; k++) {
        buf = entry_records(100, 2000 + (uint64_t)k, 4, &len);
        fix_propose(2, buf, len);
    }
    ck_assert(fix_last_seq(2, 0) > before);
    for (unsigned i = 0; i < FIX_N; i++) {
        ck_assert(fix_last_seq(i, 0) == fix_last_seq(0, 0));
        ck_assert(fix_last_seq(i, 1) == fix_last_seq(0, 1));
        ck_assert_int_eq(count_shard(replicas[i].shards, 0), 16);
        ck_assert_int_eq(count_shard(replicas[i].shards, 1), 16);
    }
}
END_TEST

START_TEST(test_shard_fsm_raft_follower_catches_up_after_disconnect)
{
    raft_fixture_elect(&fix, 0);
    uint32_t shards[] = {0, 1};
    size_t len;
    uint8_t *buf = entry_create(100, shards, 2, &len);
    fix_propose(0, buf, len);
    raft_fixture_kill(&fix, 1);
    for (int k = 0; k < 4; k++) {
        buf = entry_records(100, 10 + (uint64_t)k, 2, &len);
        fix_propose(0, buf, len);
    }
    raft_fixture_revive(&fix, 1);
    raft_index index = raft_last_index(raft_fixture_get(&fix, 0));
    ck_assert(raft_fixture_step_until_applied(&fix, 1, index, 10000));
    ck_assert_int_eq(count_shard(replicas[1].shards, 0), 4);
    ck_assert(fix_last_seq(1, 0) == fix_last_seq(0, 0));
}
END_TEST

static Suite *shard_fsm_suite(void)
{
    Suite *s = suite_create("shard_fsm");
    TCase *tc = tcase_create("apply");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shard_fsm_apply_records_get_sequence_numbers);
    tcase_add_test(tc, test_shard_fsm_apply_unknown_shard_fails_the_record);
    tcase_add_test(tc, test_shard_fsm_replay_is_idempotent);
    tcase_add_test(tc, test_shard_fsm_drop_stream_removes_shards);
    tcase_add_test(tc, test_shard_fsm_garbage_entry_is_corrupt);
    suite_add_tcase(s, tc);
    TCase *snap = tcase_create("snapshot");
    tcase_add_checked_fixture(snap, setup, teardown);
    tcase_set_timeout(snap, 30);
    tcase_add_test(snap, test_shard_fsm_snapshot_restore_round_trip);
    suite_add_tcase(s, snap);
    TCase *rf = tcase_create("raft_fixture");
    tcase_add_checked_fixture(rf, fix_setup, fix_teardown);
    tcase_set_timeout(rf, 30);
    tcase_add_test(rf, test_shard_fsm_raft_replicas_converge_across_leader_change);
    tcase_add_test(rf, test_shard_fsm_raft_follower_catches_up_after_disconnect);
    suite_add_tcase(s, rf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shard_fsm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
