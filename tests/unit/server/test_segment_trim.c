/*
 * Unit tests for server/segment_trim.c: the read horizon (records past
 * retention hidden from every position, and where a read that found none
 * continues), the deletion of old sealed files (never the newest, never at
 * or after a tracked base), and the trim mark.
 *
 * Time is whatever the test says: arrival times are stamped by the caller
 * and the trim point is an argument, so no clock is read. Files are sealed
 * with seg_store_roll instead of writing 64 MiB each.
 */
#include "segment.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_SEQ_BASE ((u128)1 << 70)
#define T_RECORDS_MAX 64

static char t_root[64];
static char t_dir[128];

static void t_setup(void)
{
    snprintf(t_root, sizeof(t_root), "/tmp/eddy-trim-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t_root));
    snprintf(t_dir, sizeof(t_dir), "%s/shard", t_root);
}

static int t_remove_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void t_teardown(void)
{
    nftw(t_root, t_remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Record i: seq with gaps, arrival 1000 + 10 i. */
static u128 t_seq(uint32_t i)
{
    return T_SEQ_BASE + (u128)i * 4 + 1;
}

static uint64_t t_arrival(uint32_t i)
{
    return 1000 + 10 * (uint64_t)i;
}

static void t_append(struct seg_store *s, uint32_t i)
{
    char key[16];
    int n = snprintf(key, sizeof(key), "k%u", i);
    struct seg_record r = {.seq = t_seq(i),
                           .arrival_ms = t_arrival(i),
                           .raft_index = 10 + i,
                           .partition_key = key,
                           .partition_key_len = (size_t)n,
                           .data = (const uint8_t *)"data",
                           .data_len = 4};
    ck_assert_int_eq(seg_store_append(s, &r), 0);
}

/* Appends records first..last, then seals the file when roll. */
static void t_file(struct seg_store *s, uint32_t first, uint32_t last, bool roll)
{
    for (uint32_t i = first; i <= last; i++) {
        t_append(s, i);
    }
    if (roll) {
        ck_assert_int_eq(seg_store_roll(s), 0);
    }
}

static struct seg_store *t_open(void)
{
    struct seg_store *s = NULL;
    ck_assert_int_eq(seg_store_open(t_dir, &s), 0);
    return s;
}

struct t_got {
    uint32_t count;
    u128 seqs[T_RECORDS_MAX];
};

static bool t_collect(void *arg, const struct seg_record *r)
{
    struct t_got *g = arg;
    ck_assert_uint_lt(g->count, T_RECORDS_MAX);
    g->seqs[g->count++] = r->seq;
    return true;
}

/* Reads from a position; returns the index of the first record read (-1
 * for none) and fills *count and *next. */
static long t_first(struct seg_store *s,
                    enum seg_position pos,
                    u128 seq,
                    uint64_t ts,
                    uint32_t limit,
                    uint32_t *count,
                    u128 *next)
{
    struct t_got g = {0};
    int n = seg_store_read(s, pos, seq, ts, limit, SIZE_MAX, t_collect, &g, next);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_eq((uint32_t)n, g.count);
    *count = g.count;
    if (g.count == 0) {
        return -1;
    }
    return (long)((g.seqs[0] - T_SEQ_BASE - 1) / 4);
}

static long t_first_of(struct seg_store *s, enum seg_position pos, u128 seq, uint64_t ts)
{
    uint32_t count;
    u128 next;
    return t_first(s, pos, seq, ts, T_RECORDS_MAX, &count, &next);
}

struct t_names {
    size_t count;
    char names[8][40];
};

static void t_names_cb(void *arg, const struct seg_file_info *f)
{
    struct t_names *n = arg;
    ck_assert_uint_lt(n->count, 8);
    snprintf(n->names[n->count++], sizeof(n->names[0]), "%s", f->name);
}

static void t_names(struct seg_store *s, struct t_names *n)
{
    memset(n, 0, sizeof(*n));
    seg_store_files(s, t_names_cb, n);
}

static bool t_exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", t_dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* --- the read horizon --- */

START_TEST(test_segment_trim_horizon_hides_old_records)
{
    struct seg_store *s = t_open();
    t_file(s, 0, 9, false);
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 0);
    seg_store_set_horizon(s, t_arrival(5)); /* records 0..4 are past retention */
    ck_assert_uint_eq(seg_store_horizon(s), t_arrival(5));
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 5);
    /* A trimmed sequence number, AT or AFTER: reading goes on at the horizon. */
    ck_assert_int_eq(t_first_of(s, SEG_AT_SEQUENCE, t_seq(1), 0), 5);
    ck_assert_int_eq(t_first_of(s, SEG_AFTER_SEQUENCE, t_seq(1), 0), 5);
    ck_assert_int_eq(t_first_of(s, SEG_AT_SEQUENCE, t_seq(7), 0), 7);
    ck_assert_int_eq(t_first_of(s, SEG_AFTER_SEQUENCE, t_seq(7), 0), 8);
    /* A time before the horizon starts at the horizon, a later one at itself. */
    ck_assert_int_eq(t_first_of(s, SEG_AT_TIMESTAMP, 0, t_arrival(0)), 5);
    ck_assert_int_eq(t_first_of(s, SEG_AT_TIMESTAMP, 0, t_arrival(8)), 8);
    ck_assert_int_eq(t_first_of(s, SEG_LATEST, 0, 0), -1);
    /* The horizon never moves back. */
    seg_store_set_horizon(s, t_arrival(2));
    ck_assert_uint_eq(seg_store_horizon(s), t_arrival(5));
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 5);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_trim_horizon_next_after_skips_hidden_records)
{
    struct seg_store *s = t_open();
    t_file(s, 0, 9, false);
    seg_store_set_horizon(s, t_arrival(5));
    uint32_t count;
    u128 next;
    /* Resolving the position only (limit 0) lands just before the horizon. */
    ck_assert_int_eq(t_first(s, SEG_TRIM_HORIZON, 0, 0, 0, &count, &next), -1);
    ck_assert(next == t_seq(5) - 1);
    ck_assert_int_eq(t_first(s, SEG_AT_SEQUENCE, t_seq(2), 0, 0, &count, &next), -1);
    ck_assert(next == t_seq(5) - 1);
    /* Everything past retention: the read continues after the last record. */
    seg_store_set_horizon(s, t_arrival(9) + 1);
    ck_assert_int_eq(t_first(s, SEG_TRIM_HORIZON, 0, 0, 10, &count, &next), -1);
    ck_assert(next == t_seq(9));
    ck_assert_int_eq(t_first(s, SEG_AFTER_SEQUENCE, t_seq(3), 0, 10, &count, &next), -1);
    ck_assert(next == t_seq(9));
    /* A position past the last record keeps its own continuation. */
    ck_assert_int_eq(t_first(s, SEG_AT_SEQUENCE, t_seq(20), 0, 10, &count, &next), -1);
    ck_assert(next == t_seq(20) - 1);
    /* New records (arriving after the horizon) are read from there. */
    t_append(s, 10);
    ck_assert_int_eq(t_first(s, SEG_AFTER_SEQUENCE, t_seq(9), 0, 10, &count, &next), 10);
    ck_assert_uint_eq(count, 1);
    ck_assert(next == t_seq(10));
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 10);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_trim_horizon_is_lost_on_reopen)
{
    /* The horizon is memory: the state machine sets it again (manifest and
     * replayed trims). The store alone shows every record it holds. */
    struct seg_store *s = t_open();
    t_file(s, 0, 3, false);
    seg_store_set_horizon(s, t_arrival(2));
    seg_store_close(s);
    s = t_open();
    ck_assert_uint_eq(seg_store_horizon(s), 0);
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 0);
    seg_store_close(s);
}
END_TEST

/* --- deletion --- */

START_TEST(test_segment_trim_deletes_old_sealed_files)
{
    struct seg_store *s = t_open();
    t_file(s, 0, 4, true);   /* file A: arrivals up to t_arrival(4) */
    t_file(s, 5, 9, true);   /* file B */
    t_file(s, 10, 14, true); /* file C, sealed but newest */
    struct t_names n;
    t_names(s, &n);
    ck_assert_uint_eq(n.count, 3);
    ck_assert_ptr_null(seg_store_trim_point(s, t_arrival(4), NULL)); /* A's last is not before */
    ck_assert_str_eq(seg_store_trim_point(s, t_arrival(4) + 1, NULL), n.names[0]);
    /* The newest file stays, whatever its age. */
    ck_assert_str_eq(seg_store_trim_point(s, UINT64_MAX, NULL), n.names[1]);
    /* Unless a newer file exists elsewhere (files a hydrating replica lacks). */
    ck_assert_str_eq(seg_store_trim_point(s, UINT64_MAX, "ffffffffffffffffffffffffffffffff.seg"),
                     n.names[2]);
    ck_assert_int_eq(seg_store_trim(s, UINT64_MAX), 2);
    ck_assert(!t_exists(n.names[0]));
    ck_assert(!t_exists(n.names[1]));
    ck_assert(t_exists(n.names[2]));
    u128 mark;
    ck_assert_int_eq(seg_dir_trim_mark(t_dir, &mark), 0);
    ck_assert(mark == t_seq(5)); /* B's name */
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 10);
    ck_assert_int_eq(t_first_of(s, SEG_AT_SEQUENCE, t_seq(0), 0), 10);
    ck_assert_int_eq(seg_store_trim(s, UINT64_MAX), 0);
    /* Appends and restarts go on as before; the mark is not a segment file. */
    t_append(s, 15);
    seg_store_close(s);
    s = t_open();
    t_names(s, &n);
    ck_assert_uint_eq(n.count, 2);
    ck_assert(seg_store_last_seq(s) == t_seq(15));
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 10);
    ck_assert_int_eq(seg_store_destroy(s), 0);
}
END_TEST

START_TEST(test_segment_trim_never_the_active_file)
{
    struct seg_store *s = t_open();
    t_file(s, 0, 4, true);
    t_file(s, 5, 9, false); /* active */
    ck_assert_int_eq(seg_store_trim(s, UINT64_MAX), 1);
    /* Even when the layout has newer files elsewhere, an open file stays. */
    ck_assert_ptr_null(seg_store_trim_point(s, UINT64_MAX, "ffffffffffffffffffffffffffffffff.seg"));
    ck_assert_int_eq(t_first_of(s, SEG_TRIM_HORIZON, 0, 0), 5);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_trim_stops_at_a_tracked_base)
{
    struct seg_store *s = t_open();
    t_file(s, 0, 4, true);
    /* A hydrating store lacks file "base" (records 5..9 on the peers) and
     * appends later records into files of its own after it. */
    char base[40];
    struct t_names n;
    t_names(s, &n);
    u128 base_seq = t_seq(5);
    snprintf(base, sizeof(base), "%016llx%016llx.seg", (unsigned long long)(base_seq >> 64),
             (unsigned long long)base_seq);
    ck_assert_int_eq(seg_store_track_base(s, base, 4096, 0), 0);
    seg_store_base_set_arrival(s, t_arrival(9));
    t_file(s, 10, 14, true);
    t_file(s, 15, 19, false);
    /* Only the file before the base may go: a merge reads those after it. */
    ck_assert_str_eq(seg_store_trim_point(s, UINT64_MAX, "ffffffffffffffffffffffffffffffff.seg"),
                     n.names[0]);
    ck_assert_int_eq(seg_store_trim(s, UINT64_MAX), 1);
    ck_assert_ptr_null(seg_store_trim_point(s, UINT64_MAX, "ffffffffffffffffffffffffffffffff.seg"));
    seg_store_close(s);
}
END_TEST

/* --- the trim mark --- */

START_TEST(test_segment_trim_mark_only_rises)
{
    struct seg_store *s = t_open();
    t_file(s, 0, 2, false);
    u128 mark = 1;
    ck_assert_int_eq(seg_dir_trim_mark(t_dir, &mark), 0);
    ck_assert(mark == 0); /* none yet */
    const char *hi = "00000000000000000000000000000100.seg";
    const char *lo = "00000000000000000000000000000010.seg";
    ck_assert_int_eq(seg_store_raise_trim_mark(s, hi), 0);
    ck_assert_int_eq(seg_store_raise_trim_mark(s, lo), 0);
    ck_assert_int_eq(seg_dir_trim_mark(t_dir, &mark), 0);
    ck_assert(mark == 0x100);
    seg_store_close(s);
    ck_assert_int_eq(seg_dir_trim_mark("/nonexistent-eddy-dir", &mark), 0);
    ck_assert(mark == 0);
}
END_TEST

START_TEST(test_segment_trim_mark_damage_is_reported_and_rewritten)
{
    struct seg_store *s = t_open();
    t_file(s, 0, 2, false);
    ck_assert_int_eq(seg_store_raise_trim_mark(s, "00000000000000000000000000000100.seg"), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/trim.mark", t_dir);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "\xff", 1, 12), 1); /* inside the sequence number */
    close(fd);
    u128 mark = 7;
    ck_assert_int_eq(seg_dir_trim_mark(t_dir, &mark), -EDDY_ECORRUPT);
    ck_assert(mark == 0);
    /* Bytes from the disk are never asserted on: a short file too. */
    ck_assert_int_eq(truncate(path, 5), 0);
    ck_assert_int_eq(seg_dir_trim_mark(t_dir, &mark), -EDDY_ECORRUPT);
    ck_assert_int_eq(seg_store_raise_trim_mark(s, "00000000000000000000000000000020.seg"), 0);
    ck_assert_int_eq(seg_dir_trim_mark(t_dir, &mark), 0);
    ck_assert(mark == 0x20);
    seg_store_close(s);
}
END_TEST

static Suite *segment_trim_suite(void)
{
    Suite *s = suite_create("segment_trim");
    TCase *tc = tcase_create("horizon");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_segment_trim_horizon_hides_old_records);
    tcase_add_test(tc, test_segment_trim_horizon_next_after_skips_hidden_records);
    tcase_add_test(tc, test_segment_trim_horizon_is_lost_on_reopen);
    suite_add_tcase(s, tc);
    tc = tcase_create("delete");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_segment_trim_deletes_old_sealed_files);
    tcase_add_test(tc, test_segment_trim_never_the_active_file);
    tcase_add_test(tc, test_segment_trim_stops_at_a_tracked_base);
    suite_add_tcase(s, tc);
    tc = tcase_create("mark");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_segment_trim_mark_only_rises);
    tcase_add_test(tc, test_segment_trim_mark_damage_is_reported_and_rewritten);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(segment_trim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
