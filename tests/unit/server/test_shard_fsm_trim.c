/*
 * Retention in the shard group state machine (server/shard_fsm_trim.c):
 * trim entries hide and delete the records of one stream past the trim
 * point, the snapshot manifest carries the trim point and each file's
 * newest arrival, a replica restoring a snapshot older than its own trims
 * does not take the files it trimmed for missing, and a hydrating replica
 * stops wanting files its peers trimmed.
 *
 * Entries are built as the leader would (arrival times stamped in them,
 * trim points chosen by the test): no clock is read. Stores are rolled
 * between rounds so that every shard has several files without 64 MiB each.
 */
#include "segment.h"
#include "shard_fsm.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "group.pb-c.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_SHARDS 2
#define T_ROUNDS 3 /* files per shard: two sealed, the newest active */
#define T_ENTRIES_PER_ROUND 3

static char root[64];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/eddy-fsmtrim-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static int remove_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(root, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void apply_entry(struct rgroup_fsm *fsm, uint64_t index, const Eddy__GroupEntry *e)
{
    size_t len = eddy__group_entry__get_packed_size(e);
    uint8_t *buf = eddy_xmalloc(len);
    eddy__group_entry__pack(e, buf);
    void *result = NULL;
    ck_assert_int_eq(fsm->apply(fsm->data, index, buf, len, &result), 0);
    if (result != NULL) {
        fsm->free_result(fsm->data, result);
    }
    eddy_free(buf);
}

static void apply_create(struct rgroup_fsm *fsm, uint64_t index, const char *stream)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = (char *)stream;
    ref.created_ms = 100;
    Eddy__StreamRef *refs[] = {&ref};
    uint32_t shards[T_SHARDS] = {0, 1};
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.streams = refs;
    e.n_streams = 1;
    e.create_shards = shards;
    e.n_create_shards = T_SHARDS;
    apply_entry(fsm, index, &e);
}

/* Two records per shard of each stream, arrived at arrival_ms. */
static void apply_records(struct rgroup_fsm *fsm, uint64_t index, uint64_t arrival_ms)
{
    Eddy__StreamRef r1 = EDDY__STREAM_REF__INIT;
    r1.name = "s1";
    r1.created_ms = 100;
    Eddy__StreamRef r2 = EDDY__STREAM_REF__INIT;
    r2.name = "s2";
    r2.created_ms = 100;
    Eddy__StreamRef *refs[] = {&r1, &r2};
    Eddy__EntryRecord recs[4 * T_SHARDS];
    Eddy__EntryRecord *ptrs[4 * T_SHARDS];
    for (size_t i = 0; i < 4 * T_SHARDS; i++) {
        eddy__entry_record__init(&recs[i]);
        recs[i].stream_ref = (uint32_t)(i % 2);
        recs[i].shard = (uint32_t)(i / 2 % T_SHARDS);
        recs[i].partition_key = "pk";
        recs[i].data.data = (uint8_t *)"payload";
        recs[i].data.len = 7;
        ptrs[i] = &recs[i];
    }
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.arrival_ms = arrival_ms;
    e.streams = refs;
    e.n_streams = 2;
    e.records = ptrs;
    e.n_records = 4 * T_SHARDS;
    apply_entry(fsm, index, &e);
}

static void apply_trim(struct rgroup_fsm *fsm, uint64_t index, const char *stream, uint64_t before)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = (char *)stream;
    ref.created_ms = 100;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.arrival_ms = 1; /* a trim carries no records: its stamp does not matter */
    e.streams = refs;
    e.n_streams = 1;
    e.trim_before_ms = before;
    apply_entry(fsm, index, &e);
}

static struct shard_fsm *fsm_open(const char *name, struct rgroup_fsm *adapter)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/%s", root, name);
    ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
    struct shard_fsm *f;
    ck_assert_int_eq(shard_fsm_create(&f, dir, 1), 0);
    shard_fsm_adapter(f, adapter);
    return f;
}

/* Round r's records arrive at 1000 (r + 1); every round but the last ends
 * with sealed files. Returns the next index. */
static uint64_t build(struct shard_fsm *f, struct rgroup_fsm *fsm)
{
    apply_create(fsm, 1, "s1");
    apply_create(fsm, 2, "s2");
    uint64_t index = 3;
    for (int r = 0; r < T_ROUNDS; r++) {
        for (int k = 0; k < T_ENTRIES_PER_ROUND; k++) {
            apply_records(fsm, index++, 1000 * (uint64_t)(r + 1));
        }
        for (uint32_t s = 0; r + 1 < T_ROUNDS && s < T_SHARDS; s++) {
            ck_assert_int_eq(seg_store_roll(shard_fsm_find(f, "s1", 100, s)), 0);
            ck_assert_int_eq(seg_store_roll(shard_fsm_find(f, "s2", 100, s)), 0);
        }
    }
    return index;
}

struct count {
    int records;
    uint64_t arrival_min_ms;
};

static bool count_cb(void *arg, const struct seg_record *r)
{
    struct count *c = arg;
    if (c->records++ == 0) {
        c->arrival_min_ms = r->arrival_ms;
    }
    return true;
}

static struct count read_all(struct shard_fsm *f, const char *stream, uint32_t shard)
{
    struct count c = {0};
    u128 next;
    struct seg_store *s = shard_fsm_find(f, stream, 100, shard);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_ge(seg_store_read(s, SEG_TRIM_HORIZON, 0, 0, 1000, 1 << 20, count_cb, &c, &next),
                     0);
    return c;
}

static void files_cb(void *arg, const struct seg_file_info *fi)
{
    (void)fi;
    (*(size_t *)arg)++;
}

static size_t file_count(struct shard_fsm *f, const char *stream, uint32_t shard)
{
    size_t n = 0;
    seg_store_files(shard_fsm_find(f, stream, 100, shard), files_cb, &n);
    return n;
}

static Eddy__GroupSnapshot *snapshot_of(struct rgroup_fsm *fsm, uint8_t **buf, size_t *len)
{
    ck_assert_int_eq(fsm->snapshot(fsm->data, buf, len), 0);
    Eddy__GroupSnapshot *snap = eddy__group_snapshot__unpack(NULL, *len, *buf);
    ck_assert_ptr_nonnull(snap);
    return snap;
}

static const Eddy__ShardManifest *
manifest_of(const Eddy__GroupSnapshot *snap, const char *stream, uint32_t shard)
{
    for (size_t i = 0; i < snap->n_shards; i++) {
        if (strcmp(snap->shards[i]->stream, stream) == 0 && snap->shards[i]->shard == shard) {
            return snap->shards[i];
        }
    }
    ck_abort_msg("shard not in the manifest");
    return NULL;
}

/* ---- trim entries ---- */

START_TEST(test_shard_fsm_trim_hides_and_deletes_one_stream)
{
    struct rgroup_fsm fsm;
    struct shard_fsm *f = fsm_open("a", &fsm);
    uint64_t index = build(f, &fsm);
    ck_assert_uint_eq(file_count(f, "s1", 0), T_ROUNDS);
    /* Past the first round's records, not the second's. */
    apply_trim(&fsm, index++, "s1", 1500);
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        ck_assert_uint_eq(file_count(f, "s1", s), T_ROUNDS - 1);
        struct count c = read_all(f, "s1", s);
        ck_assert_int_eq(c.records, 2 * T_ENTRIES_PER_ROUND * (T_ROUNDS - 1));
        ck_assert_uint_eq(c.arrival_min_ms, 2000);
        /* The other stream is untouched. */
        ck_assert_uint_eq(file_count(f, "s2", s), T_ROUNDS);
        ck_assert_int_eq(read_all(f, "s2", s).records, 2 * T_ENTRIES_PER_ROUND * T_ROUNDS);
    }
    /* Past everything: the records are hidden, the newest file stays. */
    apply_trim(&fsm, index++, "s1", 10000);
    ck_assert_uint_eq(file_count(f, "s1", 0), 1);
    ck_assert_int_eq(read_all(f, "s1", 0).records, 0);
    /* A trim point never goes back (a late or replayed entry). */
    apply_trim(&fsm, index++, "s1", 1500);
    ck_assert_int_eq(read_all(f, "s1", 0).records, 0);
    /* New records are read. */
    apply_records(&fsm, index++, 20000);
    ck_assert_int_eq(read_all(f, "s1", 0).records, 2);
    /* The manifest carries the trim point and the files' newest arrivals. */
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&fsm, &buf, &len);
    const Eddy__ShardManifest *m = manifest_of(snap, "s1", 0);
    ck_assert_uint_eq(m->trim_before_ms, 10000);
    ck_assert_uint_eq(m->n_segments, 1);
    ck_assert_uint_eq(m->segments[0]->arrival_max_ms, 20000);
    const Eddy__ShardManifest *m2 = manifest_of(snap, "s2", 0);
    ck_assert_uint_eq(m2->trim_before_ms, 0);
    ck_assert_uint_eq(m2->n_segments, T_ROUNDS);
    ck_assert_uint_eq(m2->segments[0]->arrival_max_ms, 1000);
    ck_assert_uint_eq(m2->segments[T_ROUNDS - 1]->arrival_max_ms, 20000);
    eddy__group_snapshot__free_unpacked(snap, NULL);
    /* A replica restoring it hides what the trim point hides. */
    struct rgroup_fsm fsm_b;
    struct shard_fsm *b = fsm_open("a", &fsm_b);
    ck_assert_int_eq(fsm_b.restore(fsm_b.data, buf, len), 0);
    ck_assert(!shard_fsm_is_hydrating(b));
    ck_assert_int_eq(read_all(b, "s1", 0).records, 2);
    ck_assert_uint_eq(seg_store_horizon(shard_fsm_find(b, "s1", 100, 0)), 10000);
    eddy_free(buf);
    shard_fsm_destroy(b);
    shard_fsm_destroy(f);
}
END_TEST

START_TEST(test_shard_fsm_trim_noop_is_not_proposed)
{
    struct rgroup_fsm fsm;
    struct shard_fsm *f = fsm_open("a", &fsm);
    uint64_t index = build(f, &fsm);
    /* Nothing arrived before 500: an idle stream costs no entry. */
    ck_assert(shard_fsm_trim_is_noop(f, "s1", 100, 500));
    ck_assert(shard_fsm_trim_is_noop(f, "nope", 100, 100000));
    ck_assert(!shard_fsm_trim_is_noop(f, "s1", 100, 1500));
    apply_trim(&fsm, index++, "s1", 1500);
    ck_assert(shard_fsm_trim_is_noop(f, "s1", 100, 1500));
    ck_assert(shard_fsm_trim_is_noop(f, "s1", 100, 1800)); /* no record in [1500, 1800) */
    ck_assert(!shard_fsm_trim_is_noop(f, "s1", 100, 2500));
    /* Records hidden but a file left to delete (it was the newest then). */
    apply_trim(&fsm, index++, "s2", 100000);
    ck_assert(shard_fsm_trim_is_noop(f, "s2", 100, 100000));
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        ck_assert_int_eq(seg_store_roll(shard_fsm_find(f, "s2", 100, s)), 0);
    }
    apply_records(&fsm, index++, 200001); /* a new file: the old one may go */
    ck_assert(!shard_fsm_trim_is_noop(f, "s2", 100, 100000));
    apply_trim(&fsm, index++, "s2", 100000);
    ck_assert(shard_fsm_trim_is_noop(f, "s2", 100, 100000));
    ck_assert_uint_eq(file_count(f, "s2", 0), 1);
    shard_fsm_destroy(f);
}
END_TEST

/* ---- restore of a snapshot older than the trims ---- */

static void restart_from_older_snapshot(bool keep_mark)
{
    struct rgroup_fsm fsm;
    struct shard_fsm *f = fsm_open("a", &fsm);
    uint64_t index = build(f, &fsm);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(fsm.snapshot(fsm.data, &buf, &len), 0); /* names every file */
    apply_trim(&fsm, index, "s1", 2500);
    ck_assert_uint_eq(file_count(f, "s1", 0), 1);
    shard_fsm_destroy(f);
    if (!keep_mark) {
        char path[256];
        for (uint32_t s = 0; s < T_SHARDS; s++) {
            snprintf(path, sizeof(path), "%s/a/shards/s1@100/%u/trim.mark", root, s);
            ck_assert_int_eq(unlink(path), 0);
        }
    }
    /* Restart: raft restores the latest snapshot, then replays the trim. */
    f = fsm_open("a", &fsm);
    ck_assert_int_eq(fsm.restore(fsm.data, buf, len), 0);
    ck_assert(shard_fsm_is_hydrating(f) == !keep_mark);
    apply_trim(&fsm, index, "s1", 2500);
    /* With the mark nothing was missing; without it the replayed trim
     * forgets the files it deleted, which no peer has any more either. */
    ck_assert(!shard_fsm_is_hydrating(f));
    ck_assert_uint_eq(shard_fsm_missing_count(f), 0);
    ck_assert_int_eq(read_all(f, "s1", 0).records, 2 * T_ENTRIES_PER_ROUND);
    ck_assert_int_eq(read_all(f, "s2", 1).records, 2 * T_ENTRIES_PER_ROUND * T_ROUNDS);
    eddy_free(buf);
    shard_fsm_destroy(f);
}

START_TEST(test_shard_fsm_trim_restart_from_older_snapshot_is_whole)
{
    restart_from_older_snapshot(true);
}
END_TEST

START_TEST(test_shard_fsm_trim_replayed_trim_ends_a_hydration_it_caused)
{
    restart_from_older_snapshot(false);
}
END_TEST

/* ---- a hydrating replica ---- */

START_TEST(test_shard_fsm_trim_drops_missing_files_the_peers_trimmed)
{
    struct rgroup_fsm fsm;
    struct shard_fsm *src = fsm_open("src", &fsm);
    uint64_t index = build(src, &fsm);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(fsm.snapshot(fsm.data, &buf, &len), 0);
    /* A new replica restores the manifest: it lacks every file. */
    struct rgroup_fsm fsm_d;
    struct shard_fsm *d = fsm_open("dst", &fsm_d);
    ck_assert_int_eq(fsm_d.restore(fsm_d.data, buf, len), 0);
    ck_assert_uint_eq(shard_fsm_missing_count(d), 2 * T_SHARDS * T_ROUNDS);
    /* The peers trim s1's two sealed files; so does the replica's list. */
    apply_trim(&fsm, index, "s1", 2500);
    apply_trim(&fsm_d, index, "s1", 2500);
    ck_assert_uint_eq(shard_fsm_missing_count(d), 2 * T_SHARDS * T_ROUNDS - 2 * T_SHARDS);
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        char dir[256];
        snprintf(dir, sizeof(dir), "%s/dst/shards/s1@100/%u", root, s);
        u128 mark;
        ck_assert_int_eq(seg_dir_trim_mark(dir, &mark), 0);
        ck_assert(mark != 0);
    }
    /* The active file is never trimmed away, even when old. */
    apply_trim(&fsm_d, index + 1, "s1", 100000);
    ck_assert_uint_eq(shard_fsm_missing_count(d), 2 * T_SHARDS * T_ROUNDS - 2 * T_SHARDS);
    ck_assert(shard_fsm_is_hydrating(d));
    eddy_free(buf);
    shard_fsm_destroy(d);
    shard_fsm_destroy(src);
}
END_TEST

START_TEST(test_shard_fsm_trim_unknown_arrival_is_kept)
{
    /* A manifest from before retention (no arrival times): a missing file
     * is dropped only when a later file shows it is old enough. */
    struct rgroup_fsm fsm;
    struct shard_fsm *src = fsm_open("src", &fsm);
    uint64_t index = build(src, &fsm);
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&fsm, &buf, &len);
    eddy_free(buf);
    for (size_t i = 0; i < snap->n_shards; i++) {
        for (size_t j = 0; j < snap->shards[i]->n_segments; j++) {
            snap->shards[i]->segments[j]->arrival_max_ms = 0;
        }
    }
    len = eddy__group_snapshot__get_packed_size(snap);
    buf = eddy_xmalloc(len);
    eddy__group_snapshot__pack(snap, buf);
    eddy__group_snapshot__free_unpacked(snap, NULL);
    struct rgroup_fsm fsm_d;
    struct shard_fsm *d = fsm_open("dst", &fsm_d);
    ck_assert_int_eq(fsm_d.restore(fsm_d.data, buf, len), 0);
    size_t missing = shard_fsm_missing_count(d);
    apply_trim(&fsm_d, index, "s1", 2500);
    ck_assert_uint_eq(shard_fsm_missing_count(d), missing);
    eddy_free(buf);
    shard_fsm_destroy(d);
    shard_fsm_destroy(src);
}
END_TEST

static Suite *shard_fsm_trim_suite(void)
{
    Suite *s = suite_create("shard_fsm_trim");
    TCase *tc = tcase_create("apply");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shard_fsm_trim_hides_and_deletes_one_stream);
    tcase_add_test(tc, test_shard_fsm_trim_noop_is_not_proposed);
    suite_add_tcase(s, tc);
    tc = tcase_create("restore");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shard_fsm_trim_restart_from_older_snapshot_is_whole);
    tcase_add_test(tc, test_shard_fsm_trim_replayed_trim_ends_a_hydration_it_caused);
    suite_add_tcase(s, tc);
    tc = tcase_create("hydrating");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shard_fsm_trim_drops_missing_files_the_peers_trimmed);
    tcase_add_test(tc, test_shard_fsm_trim_unknown_arrival_is_kept);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shard_fsm_trim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
