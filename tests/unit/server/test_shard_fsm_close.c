/*
 * Closing shards in the shard group state machine (shard_fsm_close.c): the
 * ending sequence number a close entry fixes, records refused with
 * -EDDY_ECLOSED from that entry on (other shards unaffected), a repeated
 * close answering the same number, an unknown shard, replay after a
 * restart, and the closed state through a snapshot and restore.
 */
#include "segment.h"
#include "shard_fsm.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/seqnum.h"
#include "group.pb-c.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_CREATED 100

static char test_dir[256];

static void setup(void)
{
    snprintf(test_dir, sizeof(test_dir), "/tmp/eddy-test-close-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(test_dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static uint8_t *pack(const Eddy__GroupEntry *e, size_t *len)
{
    *len = eddy__group_entry__get_packed_size(e);
    uint8_t *buf = malloc(*len ? *len : 1);
    eddy__group_entry__pack(e, buf);
    return buf;
}

/* Applies e at index; returns apply's code and hands the result over. */
static int apply(struct rgroup_fsm *fsm, uint64_t index, const Eddy__GroupEntry *e, void **result)
{
    size_t len;
    uint8_t *buf = pack(e, &len);
    *result = NULL;
    int rv = fsm->apply(fsm->data, index, buf, len, result);
    free(buf);
    return rv;
}

static void
apply_shards(struct rgroup_fsm *fsm, uint64_t index, const uint32_t *shards, size_t n, bool close)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = "s1";
    ref.created_ms = T_CREATED;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.streams = refs;
    e.n_streams = 1;
    if (close) {
        e.close_shards = (uint32_t *)shards;
        e.n_close_shards = n;
    } else {
        e.create_shards = (uint32_t *)shards;
        e.n_create_shards = n;
    }
    void *result;
    ck_assert_int_eq(apply(fsm, index, &e, &result), 0);
    if (!close) {
        ck_assert_ptr_null(result);
        return;
    }
    fsm->free_result(fsm->data, result);
}

/* Closes shards and returns the result (free with free_result). */
static struct shard_fsm_result *
close_shards(struct rgroup_fsm *fsm, uint64_t index, const uint32_t *shards, size_t n)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = "s1";
    ref.created_ms = T_CREATED;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.arrival_ms = 1;
    e.streams = refs;
    e.n_streams = 1;
    e.close_shards = (uint32_t *)shards;
    e.n_close_shards = n;
    void *result;
    ck_assert_int_eq(apply(fsm, index, &e, &result), 0);
    ck_assert_ptr_nonnull(result);
    struct shard_fsm_result *res = result;
    ck_assert_uint_eq(res->count, n);
    return res;
}

/* One record per shard in shards, in one entry; returns the result. */
static struct shard_fsm_result *
put(struct rgroup_fsm *fsm, uint64_t index, uint64_t arrival, const uint32_t *shards, size_t n)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = "s1";
    ref.created_ms = T_CREATED;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__EntryRecord recs[8];
    Eddy__EntryRecord *ptrs[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        eddy__entry_record__init(&recs[i]);
        recs[i].shard = shards[i];
        recs[i].partition_key = "pk";
        recs[i].data = (ProtobufCBinaryData){4, (uint8_t *)"data"};
        ptrs[i] = &recs[i];
    }
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.arrival_ms = arrival;
    e.streams = refs;
    e.n_streams = 1;
    e.records = ptrs;
    e.n_records = n;
    void *result;
    ck_assert_int_eq(apply(fsm, index, &e, &result), 0);
    ck_assert_ptr_nonnull(result);
    return result;
}

static bool count_cb(void *arg, const struct seg_record *r)
{
    (void)r;
    (*(int *)arg)++;
    return true;
}

static int count(struct shard_fsm *f, uint32_t shard)
{
    struct seg_store *s = shard_fsm_find(f, "s1", T_CREATED, shard);
    ck_assert_ptr_nonnull(s);
    int n = 0;
    u128 next;
    ck_assert_int_ge(seg_store_read(s, SEG_TRIM_HORIZON, 0, 0, 1000, 1 << 20, count_cb, &n, &next),
                     0);
    return n;
}

START_TEST(test_shard_fsm_close_refuses_later_records)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    uint32_t both[] = {0, 1};
    apply_shards(&fsm, 1, both, 2, false);
    struct shard_fsm_result *res = put(&fsm, 2, 1000, both, 2);
    ck_assert_int_eq(res->codes[0], 0);
    ck_assert_int_eq(res->codes[1], 0);
    u128 last0 = res->seqs[0];
    fsm.free_result(fsm.data, res);
    u128 end;
    ck_assert(!shard_fsm_shard_end(f, "s1", T_CREATED, 0, &end));

    uint32_t zero[] = {0};
    res = close_shards(&fsm, 3, zero, 1);
    ck_assert_int_eq(res->codes[0], 0);
    ck_assert(res->seqs[0] == seqnum_make(3, 0, 0));
    ck_assert(res->seqs[0] > last0);
    fsm.free_result(fsm.data, res);
    ck_assert(shard_fsm_shard_end(f, "s1", T_CREATED, 0, &end));
    ck_assert(end == seqnum_make(3, 0, 0));
    ck_assert(!shard_fsm_shard_end(f, "s1", T_CREATED, 1, &end));

    /* Both shards in one entry after the close: only shard 0 refuses. */
    res = put(&fsm, 4, 2000, both, 2);
    ck_assert_int_eq(res->codes[0], -EDDY_ECLOSED);
    ck_assert_int_eq(res->codes[1], 0);
    fsm.free_result(fsm.data, res);
    ck_assert_int_eq(count(f, 0), 1);
    ck_assert_int_eq(count(f, 1), 2);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_close_again_same_end)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    uint32_t shards[] = {0, 1};
    apply_shards(&fsm, 1, shards, 2, false);
    /* An empty shard gets an ending number too, above its start. */
    uint32_t one[] = {1};
    struct shard_fsm_result *res = close_shards(&fsm, 2, one, 1);
    ck_assert(res->seqs[0] == seqnum_make(2, 1, 0));
    ck_assert(res->seqs[0] > seqnum_shard_start(1));
    fsm.free_result(fsm.data, res);
    /* Asked again (a new coordinator leader): the same number. With an
     * unknown shard in the same entry, that one fails alone. */
    uint32_t again[] = {1, 0, 7};
    res = close_shards(&fsm, 9, again, 3);
    ck_assert_int_eq(res->codes[0], 0);
    ck_assert(res->seqs[0] == seqnum_make(2, 1, 0));
    ck_assert_int_eq(res->codes[1], 0);
    ck_assert(res->seqs[1] == seqnum_make(9, 0, 0));
    ck_assert_int_eq(res->codes[2], -EDDY_ENOTFOUND);
    fsm.free_result(fsm.data, res);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_close_replay_after_restart)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    uint32_t zero[] = {0};
    apply_shards(&fsm, 1, zero, 1, false);
    fsm.free_result(fsm.data, put(&fsm, 2, 10, zero, 1));
    fsm.free_result(fsm.data, close_shards(&fsm, 3, zero, 1));
    shard_fsm_destroy(f);
    /* A restart with no snapshot replays the whole log over the files. */
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    apply_shards(&fsm, 1, zero, 1, false);
    struct shard_fsm_result *res = put(&fsm, 2, 10, zero, 1);
    ck_assert_int_eq(res->codes[0], 0); /* applied before: skipped, not refused */
    fsm.free_result(fsm.data, res);
    fsm.free_result(fsm.data, close_shards(&fsm, 3, zero, 1));
    res = put(&fsm, 4, 20, zero, 1);
    ck_assert_int_eq(res->codes[0], -EDDY_ECLOSED);
    fsm.free_result(fsm.data, res);
    ck_assert_int_eq(count(f, 0), 1);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_close_snapshot_round_trip)
{
    struct shard_fsm *f;
    struct rgroup_fsm fsm;
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    uint32_t both[] = {0, 1};
    apply_shards(&fsm, 1, both, 2, false);
    fsm.free_result(fsm.data, put(&fsm, 2, 10, both, 2));
    uint32_t zero[] = {0};
    fsm.free_result(fsm.data, close_shards(&fsm, 3, zero, 1));
    uint8_t *snap;
    size_t len;
    ck_assert_int_eq(fsm.snapshot(fsm.data, &snap, &len), 0);
    Eddy__GroupSnapshot *gs = eddy__group_snapshot__unpack(NULL, len, snap);
    ck_assert_ptr_nonnull(gs);
    ck_assert_uint_eq(gs->n_shards, 2);
    for (size_t i = 0; i < gs->n_shards; i++) {
        ck_assert_uint_eq(gs->shards[i]->ending_sequence.len, gs->shards[i]->shard == 0 ? 16 : 0);
    }
    eddy__group_snapshot__free_unpacked(gs, NULL);
    shard_fsm_destroy(f);

    /* The same directory restored from the snapshot: closed stays closed. */
    ck_assert_int_eq(shard_fsm_create(&f, test_dir, 1), 0);
    shard_fsm_adapter(f, &fsm);
    ck_assert_int_eq(fsm.restore(fsm.data, snap, len), 0);
    u128 end;
    ck_assert(shard_fsm_shard_end(f, "s1", T_CREATED, 0, &end));
    ck_assert(end == seqnum_make(3, 0, 0));
    ck_assert(!shard_fsm_shard_end(f, "s1", T_CREATED, 1, &end));
    struct shard_fsm_result *res = put(&fsm, 4, 20, both, 2);
    ck_assert_int_eq(res->codes[0], -EDDY_ECLOSED);
    ck_assert_int_eq(res->codes[1], 0);
    fsm.free_result(fsm.data, res);
    /* A restore of a manifest where it is open reopens it (the manifest
     * is the state at its index). */
    Eddy__GroupSnapshot *open = eddy__group_snapshot__unpack(NULL, len, snap);
    for (size_t i = 0; i < open->n_shards; i++) {
        open->shards[i]->ending_sequence.len = 0;
    }
    size_t open_len = eddy__group_snapshot__get_packed_size(open);
    uint8_t *open_buf = malloc(open_len);
    eddy__group_snapshot__pack(open, open_buf);
    ck_assert_int_eq(fsm.restore(fsm.data, open_buf, open_len), 0);
    ck_assert(!shard_fsm_shard_end(f, "s1", T_CREATED, 0, &end));
    /* A manifest with a malformed ending is corrupt. */
    open->shards[0]->ending_sequence.len = 5;
    open_len = eddy__group_snapshot__get_packed_size(open);
    free(open_buf);
    open_buf = malloc(open_len);
    eddy__group_snapshot__pack(open, open_buf);
    ck_assert_int_eq(fsm.restore(fsm.data, open_buf, open_len), -EDDY_ECORRUPT);
    free(open_buf);
    open->shards[0]->ending_sequence.len = 16;
    eddy__group_snapshot__free_unpacked(open, NULL);
    free(snap);
    shard_fsm_destroy(f);
}
END_TEST

static Suite *shard_fsm_close_suite(void)
{
    Suite *s = suite_create("shard_fsm_close");
    TCase *tc = tcase_create("close");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shard_fsm_close_refuses_later_records);
    tcase_add_test(tc, test_shard_fsm_close_again_same_end);
    tcase_add_test(tc, test_shard_fsm_close_replay_after_restart);
    tcase_add_test(tc, test_shard_fsm_close_snapshot_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shard_fsm_close_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
