/*
 * Unit tests for server/segment.c: round trips, read positions, limits,
 * sealing across files, recovery of torn and corrupt tails, trim, imports of
 * files fetched from a peer (hydration), merges of a fetched active file
 * with the records appended since (ending byte for byte as the peer's
 * files) and an allocation-failure sweep.
 * Each test gets a fresh directory under /tmp, removed at teardown.
 *
 * Record i of a test has a fixed shape (t_seq, t_arrival, t_index, key
 * "pk-<i>", data bytes t_byte(i, k)), so a reader checks every field it gets.
 */
#include "segment.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/crc32c.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_SEQ_BASE ((u128)1 << 100) /* past 64 bits, to exercise the 16-byte field */
#define T_FILES_MAX 8
#define T_SMALL_COUNT 2000
#define T_MIB (1024 * 1024)

static char t_root[64];
static char t_dir[128];
static uint8_t t_data[KIN_RECORD_DATA_MAX];

static void t_setup(void)
{
    snprintf(t_root, sizeof(t_root), "/tmp/eddy-seg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t_root));
    /* Two levels below the temp root: open must create the directory. */
    snprintf(t_dir, sizeof(t_dir), "%s/shard/data", t_root);
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
    eddy_alloc_fail_after(-1);
    nftw(t_root, t_remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static u128 t_seq(uint32_t i)
{
    return T_SEQ_BASE + (u128)i * 3 + 1; /* gaps, so seqs between records exist */
}

static uint64_t t_arrival(uint32_t i)
{
    return 1700000000000ull + i / 4; /* four records per millisecond */
}

static uint64_t t_index(uint32_t i)
{
    return 100 + i / 2;
}

static uint8_t t_byte(uint32_t i, size_t k)
{
    return (uint8_t)(i * 31 + k * 7);
}

static size_t t_small_len(uint32_t i)
{
    return (i * 37) % 700;
}

static int t_try_append(struct seg_store *s, uint32_t i, size_t data_len)
{
    char key[32];
    int key_len = snprintf(key, sizeof(key), "pk-%u", i);
    ck_assert_uint_le(data_len, sizeof(t_data));
    for (size_t k = 0; k < data_len; k++) {
        t_data[k] = t_byte(i, k);
    }
    struct seg_record r = {.seq = t_seq(i),
                           .arrival_ms = t_arrival(i),
                           .raft_index = t_index(i),
                           .partition_key = key,
                           .partition_key_len = (size_t)key_len,
                           .data = t_data,
                           .data_len = data_len};
    return seg_store_append(s, &r);
}

static void t_append(struct seg_store *s, uint32_t i, size_t data_len)
{
    ck_assert_int_eq(t_try_append(s, i, data_len), 0);
    ck_assert(seg_store_last_seq(s) == t_seq(i));
    ck_assert_uint_eq(seg_store_last_index(s), t_index(i));
    ck_assert_uint_eq(seg_store_last_arrival_ms(s), t_arrival(i));
}

static struct seg_store *t_open(void)
{
    struct seg_store *s = NULL;
    ck_assert_int_eq(seg_store_open(t_dir, &s), 0);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* What a read delivered: record ids in order, each checked field by field. */
struct t_got {
    uint32_t count;
    uint32_t stop_after; /* 0: never stop */
    uint32_t ids[T_SMALL_COUNT + 16];
    size_t lens[T_SMALL_COUNT + 16];
};

static bool t_collect(void *arg, const struct seg_record *r)
{
    struct t_got *g = arg;
    ck_assert(r->seq >= t_seq(0));
    ck_assert(r->seq % 3 == (T_SEQ_BASE + 1) % 3);
    uint32_t i = (uint32_t)((r->seq - T_SEQ_BASE) / 3);
    ck_assert(r->seq == t_seq(i));
    ck_assert_uint_eq(r->arrival_ms, t_arrival(i));
    ck_assert_uint_eq(r->raft_index, t_index(i));
    char key[32];
    int key_len = snprintf(key, sizeof(key), "pk-%u", i);
    ck_assert_uint_eq(r->partition_key_len, (size_t)key_len);
    ck_assert(memcmp(r->partition_key, key, (size_t)key_len) == 0);
    /* One assert per record: check marks a point per assert, a syscall. */
    size_t bad = r->data_len;
    for (size_t k = 0; k < r->data_len && bad == r->data_len; k++) {
        bad = r->data[k] == t_byte(i, k) ? bad : k;
    }
    ck_assert_uint_eq(bad, r->data_len);
    if (g->count < EDDY_ARRAY_LEN(g->ids)) {
        g->ids[g->count] = i;
        g->lens[g->count] = r->data_len;
    }
    g->count++;
    return g->stop_after == 0 || g->count < g->stop_after;
}

static int t_read(struct seg_store *s,
                  enum seg_position pos,
                  u128 seq,
                  uint64_t ts,
                  uint32_t limit,
                  size_t bytes_max,
                  struct t_got *g,
                  u128 *next)
{
    uint32_t stop_after = g->stop_after;
    memset(g, 0, sizeof(*g));
    g->stop_after = stop_after;
    *next = ~(u128)0;
    int n = seg_store_read(s, pos, seq, ts, limit, bytes_max, t_collect, g, next);
    if (n >= 0) {
        ck_assert_uint_eq((uint32_t)n, g->count);
    }
    return n;
}

/* Reads one record at a position; returns its id, or -1 when none. */
static long t_read_one(struct seg_store *s, enum seg_position pos, u128 seq, uint64_t ts)
{
    static struct t_got g;
    u128 next;
    int n = t_read(s, pos, seq, ts, 1, KIN_GET_RECORDS_BYTES_MAX, &g, &next);
    ck_assert_int_ge(n, 0);
    if (n == 0) {
        return -1;
    }
    ck_assert(next == t_seq(g.ids[0]));
    return g.ids[0];
}

/* Pages through the whole store with AFTER next_after; checks ids first..last. */
static void t_read_all(struct seg_store *s, uint32_t first, uint32_t last, uint32_t page)
{
    static struct t_got g;
    u128 next;
    uint32_t want = first;
    int n = t_read(s, SEG_TRIM_HORIZON, 0, 0, page, KIN_GET_RECORDS_BYTES_MAX, &g, &next);
    for (int rounds = 0; n > 0; rounds++) {
        ck_assert_int_lt(rounds, 100000);
        for (uint32_t k = 0; k < g.count; k++) {
            ck_assert_uint_eq(g.ids[k], want++);
        }
        n = t_read(s, SEG_AFTER_SEQUENCE, next, 0, page, KIN_GET_RECORDS_BYTES_MAX, &g, &next);
    }
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(want, last + 1);
    ck_assert(next == t_seq(last));
}

struct t_files {
    size_t count;
    char names[T_FILES_MAX][64];
    uint64_t bytes[T_FILES_MAX];
    bool sealed[T_FILES_MAX];
    uint32_t crc[T_FILES_MAX];
};

static void t_files_cb(void *arg, const struct seg_file_info *f)
{
    struct t_files *tf = arg;
    ck_assert_uint_lt(tf->count, T_FILES_MAX);
    snprintf(tf->names[tf->count], sizeof(tf->names[0]), "%s", f->name);
    tf->bytes[tf->count] = f->bytes;
    tf->sealed[tf->count] = f->sealed;
    tf->crc[tf->count] = f->crc32c;
    tf->count++;
}

static void t_files(struct seg_store *s, struct t_files *tf)
{
    memset(tf, 0, sizeof(*tf));
    seg_store_files(s, t_files_cb, tf);
}

static void t_path(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", t_dir, name);
}

static off_t t_file_size(const char *name)
{
    char path[256];
    t_path(name, path, sizeof(path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

static void t_truncate(const char *name, off_t size)
{
    char path[256];
    t_path(name, path, sizeof(path));
    ck_assert_int_eq(truncate(path, size), 0);
}

static void t_flip_byte(const char *name, off_t off)
{
    char path[256];
    t_path(name, path, sizeof(path));
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void t_append_bytes(const char *name, const void *bytes, size_t len)
{
    char path[256];
    t_path(name, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

/* Appends 1 MiB records from id *next until the first file is sealed. */
static void t_fill_first_file(struct seg_store *s, uint32_t *next)
{
    struct t_files tf;
    for (t_files(s, &tf); tf.count == 0 || !tf.sealed[0]; t_files(s, &tf)) {
        ck_assert_uint_lt(*next, 100);
        t_append(s, (*next)++, KIN_RECORD_DATA_MAX);
    }
}

/* --- roundtrip --- */

START_TEST(test_segment_roundtrip_empty_store)
{
    struct seg_store *s = t_open();
    static struct t_got g;
    u128 next;
    ck_assert(seg_store_is_empty(s));
    ck_assert(seg_store_last_seq(s) == 0);
    ck_assert_uint_eq(seg_store_last_index(s), 0);
    ck_assert_uint_eq(seg_store_last_arrival_ms(s), 0);
    ck_assert_uint_eq(seg_store_bytes(s), 0);
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 10, 1000, &g, &next), 0);
    ck_assert(next == 0);
    ck_assert_int_eq(t_read(s, SEG_LATEST, 0, 0, 10, 1000, &g, &next), 0);
    ck_assert(next == 0);
    ck_assert_int_eq(t_read(s, SEG_AT_TIMESTAMP, 0, 5, 10, 1000, &g, &next), 0);
    ck_assert(next == 0);
    ck_assert_int_eq(t_read(s, SEG_AT_SEQUENCE, 7, 0, 10, 1000, &g, &next), 0);
    ck_assert(next == 6);
    ck_assert_int_eq(seg_store_sync(s), 0);
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 0);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_roundtrip_append_read)
{
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < 500; i++) {
        t_append(s, i, t_small_len(i));
    }
    ck_assert(!seg_store_is_empty(s));
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 1000, SIZE_MAX, &g, &next), 500);
    for (uint32_t i = 0; i < 500; i++) {
        ck_assert_uint_eq(g.ids[i], i);
        ck_assert_uint_eq(g.lens[i], t_small_len(i));
    }
    ck_assert(next == t_seq(499));
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 1);
    ck_assert(!tf.sealed[0]);
    ck_assert_uint_eq(tf.bytes[0], seg_store_bytes(s));
    ck_assert_int_eq(seg_store_sync(s), 0);
    ck_assert_uint_eq((uint64_t)t_file_size(tf.names[0]), seg_store_bytes(s));
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_roundtrip_size_bounds)
{
    struct seg_store *s = t_open();
    t_append(s, 0, KIN_RECORD_DATA_MAX);
    t_append(s, 1, 0);
    char key[KIN_PARTITION_KEY_LEN_MAX + 1];
    memset(key, 'k', sizeof(key));
    struct seg_record r = {.seq = t_seq(2), .arrival_ms = t_arrival(2), .partition_key = key};
    r.partition_key_len = KIN_PARTITION_KEY_LEN_MAX + 1;
    ck_assert_int_eq(seg_store_append(s, &r), -EDDY_ETOOBIG);
    r.partition_key_len = KIN_PARTITION_KEY_LEN_MAX;
    r.data = t_data;
    r.data_len = KIN_RECORD_DATA_LARGE_MAX + 1; /* refused before data is read */
    ck_assert_int_eq(seg_store_append(s, &r), -EDDY_ETOOBIG);
    ck_assert(seg_store_last_seq(s) == t_seq(1));
    t_append(s, 2, 10);
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_AT_SEQUENCE, t_seq(0), 0, 10, SIZE_MAX, &g, &next), 3);
    ck_assert_uint_eq(g.lens[0], KIN_RECORD_DATA_MAX);
    ck_assert_uint_eq(g.lens[1], 0);
    ck_assert_uint_eq(g.lens[2], 10);
    seg_store_close(s);
}
END_TEST

/* --- position: T_SMALL_COUNT records of 0..699 bytes, about 20 index points --- */

static struct seg_store *t_open_small(void)
{
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < T_SMALL_COUNT; i++) {
        t_append(s, i, t_small_len(i));
    }
    return s;
}

START_TEST(test_segment_position_at_sequence)
{
    struct seg_store *s = t_open_small();
    for (uint32_t i = 0; i < T_SMALL_COUNT; i += 7) {
        ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(i), 0), i);
        ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(i) - 1, 0), i);
        ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(i) + 1, 0),
                         i + 1 < T_SMALL_COUNT ? (long)i + 1 : -1);
    }
    ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, 0, 0), 0);
    ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(T_SMALL_COUNT - 1), 0),
                     T_SMALL_COUNT - 1);
    static struct t_got g;
    u128 next;
    u128 past = t_seq(T_SMALL_COUNT - 1) + 5;
    ck_assert_int_eq(t_read(s, SEG_AT_SEQUENCE, past, 0, 10, SIZE_MAX, &g, &next), 0);
    ck_assert(next == past - 1);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_position_after_sequence)
{
    struct seg_store *s = t_open_small();
    for (uint32_t i = 0; i + 1 < T_SMALL_COUNT; i += 7) {
        ck_assert_int_eq(t_read_one(s, SEG_AFTER_SEQUENCE, t_seq(i), 0), i + 1);
        ck_assert_int_eq(t_read_one(s, SEG_AFTER_SEQUENCE, t_seq(i) - 1, 0), i);
    }
    ck_assert_int_eq(t_read_one(s, SEG_AFTER_SEQUENCE, 0, 0), 0);
    static struct t_got g;
    u128 next;
    u128 last = t_seq(T_SMALL_COUNT - 1);
    ck_assert_int_eq(t_read(s, SEG_AFTER_SEQUENCE, last, 0, 10, SIZE_MAX, &g, &next), 0);
    ck_assert(next == last);
    ck_assert_int_eq(t_read(s, SEG_AFTER_SEQUENCE, ~(u128)0, 0, 10, SIZE_MAX, &g, &next), 0);
    ck_assert(next == ~(u128)0);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_position_at_timestamp)
{
    struct seg_store *s = t_open_small();
    uint64_t t0 = t_arrival(0);
    uint64_t t_last = t_arrival(T_SMALL_COUNT - 1);
    for (uint64_t ts = t0; ts <= t_last; ts += 3) {
        /* The first record of millisecond ts is record 4 * (ts - t0). */
        ck_assert_int_eq(t_read_one(s, SEG_AT_TIMESTAMP, 0, ts), (long)(4 * (ts - t0)));
    }
    ck_assert_int_eq(t_read_one(s, SEG_AT_TIMESTAMP, 0, 0), 0);
    ck_assert_int_eq(t_read_one(s, SEG_AT_TIMESTAMP, 0, t0 - 1), 0);
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_AT_TIMESTAMP, 0, t_last + 1, 10, SIZE_MAX, &g, &next), 0);
    ck_assert(next == t_seq(T_SMALL_COUNT - 1));
    /* Nothing delivered: next_after is just before the first match. */
    ck_assert_int_eq(t_read(s, SEG_AT_TIMESTAMP, 0, t0 + 100, 0, SIZE_MAX, &g, &next), 0);
    ck_assert(next == t_seq(400) - 1);
    ck_assert_int_eq(t_read_one(s, SEG_AFTER_SEQUENCE, next, 0), 400);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_position_trim_horizon)
{
    struct seg_store *s = t_open_small();
    ck_assert_int_eq(t_read_one(s, SEG_TRIM_HORIZON, t_seq(50), 0), 0);
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 0, SIZE_MAX, &g, &next), 0);
    ck_assert(next == 0);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_position_latest)
{
    struct seg_store *s = t_open_small();
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_LATEST, 0, 0, 100, SIZE_MAX, &g, &next), 0);
    ck_assert(next == t_seq(T_SMALL_COUNT - 1));
    t_append(s, T_SMALL_COUNT, 10);
    t_append(s, T_SMALL_COUNT + 1, 10);
    ck_assert_int_eq(t_read(s, SEG_AFTER_SEQUENCE, next, 0, 100, SIZE_MAX, &g, &next), 2);
    ck_assert_uint_eq(g.ids[0], T_SMALL_COUNT);
    ck_assert_uint_eq(g.ids[1], T_SMALL_COUNT + 1);
    ck_assert(next == t_seq(T_SMALL_COUNT + 1));
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_position_paging_has_no_gap)
{
    struct seg_store *s = t_open_small();
    t_read_all(s, 0, T_SMALL_COUNT - 1, 37);
    t_read_all(s, 0, T_SMALL_COUNT - 1, 1);
    seg_store_close(s);
}
END_TEST

/* --- limits --- */

START_TEST(test_segment_limits_limit)
{
    struct seg_store *s = t_open_small();
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_AT_SEQUENCE, t_seq(20), 0, 10, SIZE_MAX, &g, &next), 10);
    ck_assert_uint_eq(g.ids[0], 20);
    ck_assert_uint_eq(g.ids[9], 29);
    ck_assert(next == t_seq(29));
    ck_assert_int_eq(t_read(s, SEG_AT_SEQUENCE, t_seq(20), 0, 0, SIZE_MAX, &g, &next), 0);
    ck_assert(next == t_seq(20) - 1);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_limits_bytes_max)
{
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < 10; i++) {
        t_append(s, i, 1000);
    }
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 100, 3500, &g, &next), 3);
    ck_assert(next == t_seq(2));
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 100, 3000, &g, &next), 3);
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 100, 2999, &g, &next), 2);
    /* The first record is returned even when it alone passes bytes_max. */
    ck_assert_int_eq(t_read(s, SEG_AFTER_SEQUENCE, next, 0, 100, 0, &g, &next), 1);
    ck_assert_uint_eq(g.ids[0], 2);
    ck_assert(next == t_seq(2));
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_limits_callback_stops)
{
    struct seg_store *s = t_open_small();
    static struct t_got g;
    u128 next;
    g.stop_after = 5;
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 100, SIZE_MAX, &g, &next), 5);
    ck_assert(next == t_seq(4));
    g.stop_after = 0;
    seg_store_close(s);
}
END_TEST

/* --- files --- */

START_TEST(test_segment_files_seal_across_files)
{
    /* ~70 MiB of 64 KiB records: past SEG_FILE_BYTES_MAX once. */
    const size_t len = 64 * 1024;
    const uint32_t count = 70 * 16;
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < count; i++) {
        t_append(s, i, len);
    }
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 2);
    ck_assert(tf.sealed[0]);
    ck_assert(!tf.sealed[1]);
    ck_assert_uint_ge(tf.bytes[0], SEG_FILE_BYTES_MAX);
    ck_assert_uint_eq(tf.bytes[0] + tf.bytes[1], seg_store_bytes(s));
    /* Files are named by their first seq in 32 hex digits; seq 0 is 2^100 + 1. */
    ck_assert_str_eq(tf.names[0], "00000010000000000000000000000001.seg");
    ck_assert_int_lt(strcmp(tf.names[0], tf.names[1]), 0);
    ck_assert_uint_eq((uint64_t)t_file_size(tf.names[0]), tf.bytes[0]);
    /* The first record of the second file, and the last of the first. */
    u128 second = 0;
    for (size_t k = 0; k < 32; k++) {
        char c = tf.names[1][k];
        second = (second << 4) | (u128)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    uint32_t split = (uint32_t)((second - T_SEQ_BASE) / 3);
    ck_assert(t_seq(split) == second);
    ck_assert_uint_gt(split, 1000);
    ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(split), 0), split);
    ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(split) - 1, 0), split);
    ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(split - 1), 0), split - 1);
    ck_assert_int_eq(t_read_one(s, SEG_AT_TIMESTAMP, 0, t_arrival(split - 1)),
                     (long)(split - 1) / 4 * 4);
    ck_assert_int_eq(t_read_one(s, SEG_AT_TIMESTAMP, 0, t_arrival(count - 1)),
                     (long)(count - 1) / 4 * 4);
    t_read_all(s, 0, count - 1, 150);
    seg_store_close(s);

    s = t_open();
    struct t_files again;
    t_files(s, &again);
    ck_assert_uint_eq(again.count, 2);
    ck_assert(again.sealed[0]);
    ck_assert(!again.sealed[1]);
    ck_assert_uint_eq(again.bytes[1], tf.bytes[1]);
    t_append(s, count, len);
    t_read_all(s, 0, count, 1000);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_files_reopen_continues)
{
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < 100; i++) {
        t_append(s, i, t_small_len(i));
    }
    uint64_t bytes = seg_store_bytes(s);
    seg_store_close(s);
    s = t_open();
    ck_assert(seg_store_last_seq(s) == t_seq(99));
    ck_assert_uint_eq(seg_store_last_index(s), t_index(99));
    ck_assert_uint_eq(seg_store_last_arrival_ms(s), t_arrival(99));
    ck_assert_uint_eq(seg_store_bytes(s), bytes);
    for (uint32_t i = 100; i < 200; i++) {
        t_append(s, i, t_small_len(i));
    }
    t_read_all(s, 0, 199, 64);
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 1);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_files_full_last_file_sealed_on_open)
{
    /* A crash right after sealing leaves a full newest file: it stays sealed. */
    struct seg_store *s = t_open();
    uint32_t next = 0;
    t_fill_first_file(s, &next);
    seg_store_close(s);
    s = t_open();
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 1);
    ck_assert(tf.sealed[0]);
    t_append(s, next, 100);
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 2);
    ck_assert(!tf.sealed[1]);
    t_read_all(s, 0, next, 10);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_files_foreign_entries_ignored)
{
    struct seg_store *s = t_open();
    t_append(s, 0, 10);
    seg_store_close(s);
    char path[256];
    static const char *foreign[] = {"notes.txt", "0000000000000000000000000000000A.seg", "000.seg"};
    for (size_t k = 0; k < 3; k++) {
        t_path(foreign[k], path, sizeof(path));
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("x", f);
        fclose(f);
    }
    s = t_open();
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 1);
    t_read_all(s, 0, 0, 10);
    ck_assert_int_eq(seg_store_destroy(s), 0);
    struct stat st;
    ck_assert_int_eq(stat(t_dir, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* --- recovery --- */

/* 50 records of 100..149 bytes in one file, closed; returns the file name. */
static void t_make_fifty(char *name, size_t len, uint64_t *end_of_48)
{
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < 50; i++) {
        t_append(s, i, 100 + i);
        if (i == 48) {
            *end_of_48 = seg_store_bytes(s);
        }
    }
    struct t_files tf;
    t_files(s, &tf);
    snprintf(name, len, "%s", tf.names[0]);
    seg_store_close(s);
}

static void t_check_cut_to_49(const char *name, uint64_t end_of_48)
{
    struct seg_store *s = t_open();
    ck_assert(seg_store_last_seq(s) == t_seq(48));
    ck_assert_uint_eq(seg_store_bytes(s), end_of_48);
    ck_assert_uint_eq((uint64_t)t_file_size(name), end_of_48);
    t_read_all(s, 0, 48, 20);
    t_append(s, 49, 149);
    t_read_all(s, 0, 49, 20);
    seg_store_close(s);
}

START_TEST(test_segment_recovery_torn_tail_cut)
{
    char name[64];
    uint64_t end_of_48;
    t_make_fifty(name, sizeof(name), &end_of_48);
    t_truncate(name, t_file_size(name) - 10);
    t_check_cut_to_49(name, end_of_48);
}
END_TEST

START_TEST(test_segment_recovery_torn_record_header_cut)
{
    char name[64];
    uint64_t end_of_48;
    t_make_fifty(name, sizeof(name), &end_of_48);
    t_truncate(name, (off_t)end_of_48 + 20);
    t_check_cut_to_49(name, end_of_48);
}
END_TEST

START_TEST(test_segment_recovery_garbage_tail_cut)
{
    char name[64];
    uint64_t end_of_48;
    t_make_fifty(name, sizeof(name), &end_of_48);
    off_t size = t_file_size(name);
    uint8_t junk[100];
    memset(junk, 0xab, sizeof(junk));
    t_append_bytes(name, junk, sizeof(junk));
    struct seg_store *s = t_open();
    ck_assert_int_eq(t_file_size(name), size);
    ck_assert_uint_eq(seg_store_bytes(s), (uint64_t)size);
    t_read_all(s, 0, 49, 20);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_recovery_corrupt_last_record_cut)
{
    char name[64];
    uint64_t end_of_48;
    t_make_fifty(name, sizeof(name), &end_of_48);
    off_t size = t_file_size(name);
    t_flip_byte(name, (off_t)end_of_48 + (size - (off_t)end_of_48) / 2);
    t_check_cut_to_49(name, end_of_48);
}
END_TEST

START_TEST(test_segment_recovery_no_intact_record_drops_file)
{
    struct seg_store *s = t_open();
    t_append(s, 0, 100);
    struct t_files tf;
    t_files(s, &tf);
    seg_store_close(s);
    t_truncate(tf.names[0], 40); /* the file header and part of a record header */
    s = t_open();
    ck_assert(seg_store_is_empty(s));
    ck_assert_uint_eq(seg_store_bytes(s), 0);
    t_append(s, 0, 100); /* recreates the same file name */
    t_read_all(s, 0, 0, 10);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_recovery_torn_file_header_drops_file)
{
    struct seg_store *s = t_open();
    t_append(s, 0, 100);
    struct t_files tf;
    t_files(s, &tf);
    seg_store_close(s);
    t_truncate(tf.names[0], 10);
    s = t_open();
    ck_assert(seg_store_is_empty(s));
    struct stat st;
    char path[256];
    t_path(tf.names[0], path, sizeof(path));
    ck_assert_int_eq(stat(path, &st), -1);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_recovery_sealed_corrupt_fails)
{
    struct seg_store *s = t_open();
    uint32_t next = 0;
    t_fill_first_file(s, &next);
    t_append(s, next, 100);
    struct t_files tf;
    t_files(s, &tf);
    seg_store_close(s);
    t_flip_byte(tf.names[0], 10 * T_MIB);
    s = NULL;
    ck_assert_int_eq(seg_store_open(t_dir, &s), -EDDY_ECORRUPT);
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_segment_recovery_read_detects_corruption)
{
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < 10; i++) {
        t_append(s, i, 100);
    }
    struct t_files tf;
    t_files(s, &tf);
    t_flip_byte(tf.names[0], 32 + 48 + 20);
    static struct t_got g;
    u128 next;
    ck_assert_int_eq(t_read(s, SEG_TRIM_HORIZON, 0, 0, 10, SIZE_MAX, &g, &next), -EDDY_ECORRUPT);
    ck_assert_int_eq(t_read(s, SEG_AT_SEQUENCE, t_seq(5), 0, 10, SIZE_MAX, &g, &next),
                     -EDDY_ECORRUPT);
    seg_store_close(s);
}
END_TEST

/* --- trim --- */

START_TEST(test_segment_trim_sealed_files)
{
    struct seg_store *s = t_open();
    uint32_t next = 0;
    t_fill_first_file(s, &next);
    uint32_t first_of_second = next;
    for (; next < first_of_second + 20; next++) {
        t_append(s, next, 1000);
    }
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 2);
    uint64_t first_max_arrival = t_arrival(first_of_second - 1);
    ck_assert_int_eq(seg_store_trim(s, first_max_arrival), 0);
    ck_assert_int_eq(seg_store_trim(s, first_max_arrival + 1), 1);
    char path[256];
    t_path(tf.names[0], path, sizeof(path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), -1);
    ck_assert_uint_eq(seg_store_bytes(s), tf.bytes[1]);
    ck_assert_int_eq(t_read_one(s, SEG_TRIM_HORIZON, 0, 0), first_of_second);
    ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(0), 0), first_of_second);
    /* The newest file stays, even when everything in it is old. */
    ck_assert_int_eq(seg_store_trim(s, UINT64_MAX), 0);
    seg_store_close(s);
    s = t_open();
    t_read_all(s, first_of_second, next - 1, 7);
    ck_assert_int_eq(seg_store_destroy(s), 0);
    ck_assert_int_eq(stat(t_dir, &st), -1);
}
END_TEST

/* --- alloc: every allocation of open, append and read fails in turn --- */

START_TEST(test_segment_alloc_failure_sweep)
{
    struct seg_store *s = t_open();
    for (uint32_t i = 0; i < 20; i++) {
        t_append(s, i, 5000);
    }
    seg_store_close(s);

    uint32_t next = 20;
    eddy_alloc_fail_after(_i);
    int rv = seg_store_open(t_dir, &s);
    if (rv == 0) {
        for (; next < 60; next++) {
            rv = t_try_append(s, next, next == 20 ? 400 * 1024 : 5000); /* grows the reader */
            if (rv != 0) {
                break;
            }
        }
        if (rv == 0) {
            static struct t_got g;
            u128 after;
            rv = t_read(s, SEG_AT_SEQUENCE, t_seq(18), 0, 5, SIZE_MAX, &g, &after);
            rv = rv < 0 ? rv : 0;
        }
        seg_store_close(s);
    }
    eddy_alloc_fail_after(-1);
    ck_assert(rv == 0 || rv == -ENOMEM);
    s = t_open();
    t_read_all(s, 0, next - 1, 16);
    seg_store_close(s);
}
END_TEST

/* --- import (hydration) --- */

/* A peer's store under t_root/<sub>: count small records, a new file after
 * every id in rolls. */
static void t_make_peer(
    const char *sub, uint32_t count, const uint32_t *rolls, size_t roll_count, struct t_files *tf)
{
    char dir[160];
    snprintf(dir, sizeof(dir), "%s/%s", t_root, sub);
    struct seg_store *p = NULL;
    ck_assert_int_eq(seg_store_open(dir, &p), 0);
    size_t r = 0;
    for (uint32_t i = 0; i < count; i++) {
        t_append(p, i, t_small_len(i) + 1);
        if (r < roll_count && rolls[r] == i) {
            ck_assert_int_eq(seg_store_roll(p), 0);
            ck_assert_int_eq(seg_store_roll(p), 0); /* no active file: a no-op */
            r++;
        }
    }
    t_files(p, tf);
    seg_store_close(p);
}

/* Copies the first bytes (all when bytes < 0) of t_root/<sub>/<name> into t_dir. */
static void t_copy_in(const char *sub, const char *name, off_t bytes)
{
    char from[256];
    char to[256];
    snprintf(from, sizeof(from), "%s/%s/%s", t_root, sub, name);
    t_path(name, to, sizeof(to));
    char parent[160];
    snprintf(parent, sizeof(parent), "%s/shard", t_root);
    ck_assert(mkdir(parent, 0755) == 0 || errno == EEXIST);
    ck_assert(mkdir(t_dir, 0755) == 0 || errno == EEXIST);
    int in = open(from, O_RDONLY);
    ck_assert_int_ge(in, 0);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(out, 0);
    static uint8_t buf[64 * 1024];
    off_t done = 0;
    for (;;) {
        size_t want = sizeof(buf);
        if (bytes >= 0 && (off_t)want > bytes - done) {
            want = (size_t)(bytes - done);
        }
        ssize_t n = want > 0 ? read(in, buf, want) : 0;
        ck_assert_int_ge(n, 0);
        if (n == 0) {
            break;
        }
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
        done += n;
    }
    close(in);
    close(out);
}

static uint32_t t_file_crc(const char *name)
{
    char path[256];
    t_path(name, path, sizeof(path));
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    static uint8_t buf[64 * 1024];
    uint32_t crc = 0;
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) {
        crc = crc32c_update(crc, buf, (size_t)n);
    }
    close(fd);
    return crc;
}

static bool t_exists(const char *name)
{
    char path[256];
    t_path(name, path, sizeof(path));
    struct stat st;
    return stat(path, &st) == 0;
}

START_TEST(test_segment_import_fills_gaps)
{
    static const uint32_t rolls[] = {9, 19};
    struct t_files pf;
    t_make_peer("peer", 30, rolls, 2, &pf);
    ck_assert_uint_eq(pf.count, 3);
    ck_assert(pf.sealed[0] && pf.sealed[1] && !pf.sealed[2]);
    /* The newest file first (restart of a replica with its newest file
     * only), then the oldest, then the one between. */
    t_copy_in("peer", pf.names[2], -1);
    struct seg_store *s = t_open();
    ck_assert(seg_store_last_seq(s) == t_seq(29));
    t_copy_in("peer", pf.names[0], -1);
    ck_assert_int_eq(seg_store_import_file(s, pf.names[0]), 0);
    t_copy_in("peer", pf.names[1], -1);
    ck_assert_int_eq(seg_store_import_file(s, pf.names[1]), 0);
    ck_assert(seg_store_last_seq(s) == t_seq(29));
    ck_assert_uint_eq(seg_store_last_index(s), t_index(29));
    t_read_all(s, 0, 29, 7);
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 3);
    uint64_t total = 0;
    for (size_t k = 0; k < 3; k++) {
        ck_assert_str_eq(tf.names[k], pf.names[k]);
        ck_assert_uint_eq(tf.bytes[k], pf.bytes[k]);
        ck_assert_uint_eq(tf.crc[k], pf.crc[k]);
        ck_assert_uint_eq(tf.crc[k], t_file_crc(tf.names[k]));
        total += tf.bytes[k];
    }
    ck_assert_uint_eq(seg_store_bytes(s), total);
    t_append(s, 30, 10); /* into the active file, still the newest */
    t_read_all(s, 0, 30, 7);
    seg_store_close(s);
    s = t_open();
    t_read_all(s, 0, 30, 9);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_import_as_hydration_orders_them)
{
    /* As a hydrating shard does: an empty store, one fetched file, new
     * records in a new file, then the fetched file between them. */
    static const uint32_t rolls[] = {9, 19};
    struct t_files pf;
    t_make_peer("peer", 30, rolls, 2, &pf);
    struct seg_store *s = t_open();
    t_copy_in("peer", pf.names[1], -1);
    ck_assert_int_eq(seg_store_import_file(s, pf.names[1]), 0);
    ck_assert(seg_store_last_seq(s) == t_seq(19));
    t_append(s, 30, 5); /* the imported file is sealed: a new file starts */
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 2);
    ck_assert(tf.sealed[0]);
    t_copy_in("peer", pf.names[2], -1);
    ck_assert_int_eq(seg_store_import_file(s, pf.names[2]), 0);
    t_copy_in("peer", pf.names[0], -1);
    ck_assert_int_eq(seg_store_import_file(s, pf.names[0]), 0);
    t_read_all(s, 0, 30, 4);
    ck_assert(seg_store_last_seq(s) == t_seq(30));
    seg_store_close(s);
    s = t_open();
    t_read_all(s, 0, 30, 100);
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 4);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_import_rejects_what_does_not_fit)
{
    static const uint32_t rolls[] = {9, 19};
    static const uint32_t other_rolls[] = {4, 14};
    struct t_files pf;
    struct t_files of;
    t_make_peer("peer", 30, rolls, 2, &pf);
    t_make_peer("other", 30, other_rolls, 2, &of);
    t_copy_in("peer", pf.names[0], -1);
    t_copy_in("peer", pf.names[2], -1);
    struct seg_store *s = t_open();
    /* Names: not a segment name, or not there. */
    ck_assert_int_eq(seg_store_import_file(s, "../peer/x.seg"), -EDDY_EINVAL);
    ck_assert_int_eq(seg_store_import_file(s, "00000000000000000000000000000001.seg"), -ENOENT);
    /* Listed already. */
    ck_assert_int_eq(seg_store_import_file(s, pf.names[0]), -EDDY_EEXISTS);
    /* Records 5..14 overlap the first file's 0..9. */
    t_copy_in("other", of.names[1], -1);
    ck_assert_int_eq(seg_store_import_file(s, of.names[1]), -EDDY_ECORRUPT);
    /* A torn copy is refused whole, never cut. */
    t_copy_in("peer", pf.names[1], (off_t)pf.bytes[1] - 3);
    ck_assert_int_eq(seg_store_import_file(s, pf.names[1]), -EDDY_ECORRUPT);
    ck_assert_uint_eq((uint64_t)t_file_size(pf.names[1]), pf.bytes[1] - 3);
    /* Past the active file: appends own what follows it. */
    seg_store_close(s);
    char path[256];
    t_path(pf.names[1], path, sizeof(path));
    ck_assert_int_eq(unlink(path), 0);
    t_path(pf.names[2], path, sizeof(path));
    ck_assert_int_eq(unlink(path), 0);
    s = t_open();
    t_copy_in("peer", pf.names[2], -1);
    ck_assert_int_eq(seg_store_import_file(s, pf.names[2]), -EDDY_EINVAL);
    t_read_all(s, 0, 9, 5);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_import_roll_starts_a_new_file)
{
    struct seg_store *s = t_open();
    ck_assert_int_eq(seg_store_roll(s), 0); /* empty: a no-op */
    for (uint32_t i = 0; i < 5; i++) {
        t_append(s, i, 50);
    }
    ck_assert_int_eq(seg_store_roll(s), 0);
    for (uint32_t i = 5; i < 10; i++) {
        t_append(s, i, 50);
    }
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 2);
    ck_assert(tf.sealed[0]);
    ck_assert(!tf.sealed[1]);
    seg_store_close(s);
    s = t_open();
    t_read_all(s, 0, 9, 3);
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 2);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_import_file_crc_follows_the_bytes)
{
    char name[64];
    uint64_t end_of_48;
    t_make_fifty(name, sizeof(name), &end_of_48);
    struct seg_store *s = t_open();
    struct seg_file_info info;
    ck_assert_int_eq(seg_store_file(s, name, &info), 0);
    ck_assert_uint_eq(info.crc32c, t_file_crc(name));
    t_append(s, 50, 77);
    ck_assert_int_eq(seg_store_file(s, name, &info), 0);
    ck_assert_uint_eq(info.crc32c, t_file_crc(name));
    ck_assert_uint_eq(info.bytes, (uint64_t)t_file_size(name));
    seg_store_close(s);
    t_truncate(name, t_file_size(name) - 5); /* torn: cut back to record 49 */
    s = t_open();
    ck_assert_int_eq(seg_store_file(s, name, &info), 0);
    ck_assert_uint_eq(info.crc32c, t_file_crc(name));
    ck_assert_str_eq(info.name, name);
    ck_assert_int_eq(seg_store_file(s, "../../etc/passwd", &info), -EDDY_ENOTFOUND);
    ck_assert_int_eq(seg_store_file(s, "00000000000000000000000000000001.seg", &info),
                     -EDDY_ENOTFOUND);
    ck_assert_str_eq(seg_store_dir(s), t_dir);
    ck_assert(seg_file_name_is_valid(name));
    ck_assert(seg_file_name_seq(name) == t_seq(0));
    ck_assert(!seg_file_name_is_valid("0000000000000000000000000000000A.seg"));
    ck_assert(!seg_file_name_is_valid("../00000000000000000000000000000.seg"));
    ck_assert(!seg_file_name_is_valid(NULL));
    seg_store_close(s);
}
END_TEST

static bool t_keep_named(void *arg, const char *name)
{
    return strcmp(name, arg) == 0;
}

START_TEST(test_segment_import_set_aside_and_remove)
{
    static const uint32_t rolls[] = {9, 19};
    struct t_files pf;
    t_make_peer("peer", 30, rolls, 2, &pf);
    for (size_t k = 0; k < 3; k++) {
        t_copy_in("peer", pf.names[k], -1);
    }
    ck_assert_int_eq(seg_dir_set_aside(t_dir, t_keep_named, pf.names[2]), 2);
    char aside[128];
    snprintf(aside, sizeof(aside), "%s.aside", pf.names[0]);
    ck_assert(t_exists(aside));
    ck_assert(!t_exists(pf.names[0]));
    struct seg_store *s = t_open();
    t_read_all(s, 20, 29, 4);
    seg_store_close(s);
    ck_assert_int_eq(seg_dir_remove_aside(t_dir), 2);
    ck_assert(!t_exists(aside));
    ck_assert(t_exists(pf.names[2]));
    ck_assert_int_eq(seg_dir_set_aside(t_dir, NULL, NULL), 1);
    s = t_open();
    ck_assert(seg_store_is_empty(s));
    ck_assert_int_eq(seg_store_destroy(s), 0); /* removes the aside file too */
    ck_assert_int_eq(seg_dir_set_aside(t_dir, NULL, NULL), 0);
    ck_assert_int_eq(seg_dir_remove_aside(t_dir), 0);
}
END_TEST

/* --- merge (hydration of the active file) --- */

/* What a directory holds: every entry's name, size and CRC-32C. */
struct t_dirent {
    char name[256];
    uint64_t size;
    uint32_t crc;
};

static int t_dirent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct t_dirent *)a)->name, ((const struct t_dirent *)b)->name);
}

static size_t t_dir_list(const char *dir, struct t_dirent *out, size_t max)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        ck_assert_uint_lt(n, max);
        struct t_dirent *t = &out[n++];
        snprintf(t->name, sizeof(t->name), "%s", e->d_name);
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        static uint8_t buf[256 * 1024];
        t->crc = 0;
        t->size = 0;
        for (ssize_t k; (k = read(fd, buf, sizeof(buf))) > 0;) {
            t->crc = crc32c_update(t->crc, buf, (size_t)k);
            t->size += (uint64_t)k;
        }
        close(fd);
    }
    closedir(d);
    qsort(out, n, sizeof(*out), t_dirent_cmp);
    return n;
}

/* Both directories hold the same files, byte for byte, and nothing else. */
static void t_assert_same_dir(const char *a, const char *b)
{
    struct t_dirent da[T_FILES_MAX];
    struct t_dirent db[T_FILES_MAX];
    size_t na = t_dir_list(a, da, T_FILES_MAX);
    size_t nb = t_dir_list(b, db, T_FILES_MAX);
    ck_assert_uint_eq(na, nb);
    for (size_t k = 0; k < na; k++) {
        ck_assert_str_eq(da[k].name, db[k].name);
        ck_assert_uint_eq(da[k].size, db[k].size);
        ck_assert_uint_eq(da[k].crc, db[k].crc);
    }
}

static void t_assert_same_files(const struct t_files *a, const struct t_files *b)
{
    ck_assert_uint_eq(a->count, b->count);
    for (size_t k = 0; k < a->count; k++) {
        ck_assert_str_eq(a->names[k], b->names[k]);
        ck_assert_uint_eq(a->bytes[k], b->bytes[k]);
        ck_assert_uint_eq(a->crc[k], b->crc[k]);
        ck_assert_int_eq(a->sealed[k], b->sealed[k]);
    }
}

static void t_base_files(struct seg_store *s, struct t_files *tf)
{
    memset(tf, 0, sizeof(*tf));
    seg_store_base_files(s, t_files_cb, tf);
}

/* The peer under t_root/peer: ids [0, base_end) of base_len bytes, then its
 * active file is the base a replica lacks (copied to "<t_dir>/<name>.part"
 * as it was then, name and bytes in *base), then ids [base_end, end) of
 * len bytes. */
static struct seg_store *
t_peer_with_base(uint32_t base_end, uint32_t end, size_t len, struct t_files *base)
{
    char dir[160];
    snprintf(dir, sizeof(dir), "%s/peer", t_root);
    struct seg_store *p = NULL;
    ck_assert_int_eq(seg_store_open(dir, &p), 0);
    for (uint32_t i = 0; i < base_end; i++) {
        t_append(p, i, t_small_len(i) + 1);
    }
    t_files(p, base);
    ck_assert_uint_eq(base->count, 1);
    ck_assert(!base->sealed[0]);
    for (uint32_t i = base_end; i < end; i++) {
        t_append(p, i, len);
    }
    t_copy_in("peer", base->names[0], (off_t)base->bytes[0]);
    char from[256];
    char to[300];
    t_path(base->names[0], from, sizeof(from));
    snprintf(to, sizeof(to), "%s.part", from);
    ck_assert_int_eq(rename(from, to), 0);
    return p;
}

START_TEST(test_segment_merge_matches_the_peer)
{
    struct t_files base;
    struct seg_store *p = t_peer_with_base(20, 60, 300, &base);
    char peer_dir[160];
    snprintf(peer_dir, sizeof(peer_dir), "%s/peer", t_root);
    /* The replica restored a manifest without the base: later records go
     * into a file of its own, while it tracks what the peer holds. */
    struct seg_store *s = t_open();
    ck_assert_int_eq(seg_store_track_base(s, base.names[0], base.bytes[0], base.crc[0]), 0);
    ck_assert_str_eq(seg_store_base(s), base.names[0]);
    for (uint32_t i = 20; i < 40; i++) {
        t_append(s, i, 300);
    }
    struct seg_merge *m;
    ck_assert_int_eq(seg_merge_create(s, &m), 0);
    ck_assert_int_eq(seg_merge_copy(m), 0);
    ck_assert_str_eq(seg_merge_name(m), base.names[0]);
    ck_assert_uint_eq(seg_merge_base_bytes(m), base.bytes[0]);
    ck_assert_uint_eq(seg_merge_base_crc32c(m), base.crc[0]);
    /* Records arriving during the copy: the finish takes them on. */
    for (uint32_t i = 40; i < 60; i++) {
        t_append(s, i, 300);
    }
    struct t_files pf;
    struct t_files vf;
    t_files(p, &pf);
    t_base_files(s, &vf);
    t_assert_same_files(&pf, &vf);
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 1);
    ck_assert_str_ne(tf.names[0], base.names[0]);
    ck_assert_int_eq(seg_merge_finish(s, m), 0);
    seg_merge_free(m);
    ck_assert_ptr_null(seg_store_base(s));
    t_files(s, &tf);
    t_assert_same_files(&pf, &tf);
    for (size_t k = 0; k < tf.count; k++) {
        ck_assert_uint_eq(tf.crc[k], t_file_crc(tf.names[k])); /* the running checksum */
    }
    t_assert_same_dir(peer_dir, t_dir);
    ck_assert_uint_eq(seg_store_bytes(s), seg_store_bytes(p));
    t_read_all(s, 0, 59, 7);
    ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(3), 0), 3);
    /* The merged file is the active one, as on the peer. */
    t_append(p, 60, 10);
    t_append(s, 60, 10);
    t_assert_same_dir(peer_dir, t_dir);
    seg_store_close(s);
    s = t_open();
    t_files(p, &pf);
    t_files(s, &tf);
    t_assert_same_files(&pf, &tf);
    t_read_all(s, 0, 60, 9);
    seg_store_close(s);
    seg_store_close(p);
}
END_TEST

START_TEST(test_segment_merge_crosses_the_file_limit)
{
    /* 70 MiB after the base: the merged base passes SEG_FILE_BYTES_MAX and
     * the rest goes on in a file named by its first record, as on the peer;
     * the replica's own files had split elsewhere. */
    struct t_files base;
    struct seg_store *p = t_peer_with_base(5, 78, KIN_RECORD_DATA_MAX, &base);
    char peer_dir[160];
    snprintf(peer_dir, sizeof(peer_dir), "%s/peer", t_root);
    struct seg_store *s = t_open();
    ck_assert_int_eq(seg_store_track_base(s, base.names[0], base.bytes[0], base.crc[0]), 0);
    for (uint32_t i = 5; i < 75; i++) {
        t_append(s, i, KIN_RECORD_DATA_MAX);
    }
    struct t_files tf;
    t_files(s, &tf);
    ck_assert_uint_eq(tf.count, 2);
    struct seg_merge *m;
    ck_assert_int_eq(seg_merge_create(s, &m), 0);
    ck_assert_int_eq(seg_merge_copy(m), 0);
    /* More than a catch-up's worth arrives: another round, off the loop. */
    for (uint32_t i = 75; i < 78; i++) {
        t_append(s, i, KIN_RECORD_DATA_MAX);
    }
    ck_assert_int_eq(seg_merge_finish(s, m), SEG_MERGE_AGAIN);
    ck_assert_int_eq(seg_merge_copy(m), 0);
    ck_assert_int_eq(seg_merge_finish(s, m), 0);
    seg_merge_free(m);
    struct t_files pf;
    t_files(p, &pf);
    ck_assert_uint_eq(pf.count, 2);
    ck_assert(pf.sealed[0]);
    ck_assert_uint_ge(pf.bytes[0], SEG_FILE_BYTES_MAX);
    t_files(s, &tf);
    t_assert_same_files(&pf, &tf);
    for (size_t k = 0; k < tf.count; k++) {
        ck_assert_uint_eq(tf.crc[k], t_file_crc(tf.names[k]));
    }
    t_assert_same_dir(peer_dir, t_dir);
    t_read_all(s, 0, 77, 16);
    /* The sparse index of the merged file: positions inside it. */
    for (uint32_t i = 0; i < 78; i += 7) {
        ck_assert_int_eq(t_read_one(s, SEG_AT_SEQUENCE, t_seq(i), 0), i);
        ck_assert_int_eq(t_read_one(s, SEG_AFTER_SEQUENCE, t_seq(i) - 1, 0), i);
    }
    seg_store_close(s);
    s = t_open();
    t_read_all(s, 0, 77, 16);
    seg_store_close(s);
    seg_store_close(p);
}
END_TEST

START_TEST(test_segment_merge_refuses_what_changed)
{
    struct t_files base;
    struct seg_store *p = t_peer_with_base(10, 20, 100, &base);
    char part[256];
    t_path(base.names[0], part, sizeof(part));
    strcat(part, ".part");
    struct seg_store *s = t_open();
    struct seg_merge *m;
    ck_assert_int_eq(seg_merge_create(s, &m), -EDDY_EINVAL); /* no base */
    ck_assert_int_eq(seg_store_track_base(s, "x.seg", 100, 0), -EDDY_EINVAL);
    ck_assert_int_eq(seg_store_track_base(s, base.names[0], base.bytes[0], 0), 0);
    struct t_files vf;
    t_base_files(s, &vf);
    ck_assert_uint_eq(vf.count, 1);
    ck_assert_uint_eq(vf.crc[0], 0); /* tracked without a checksum */
    ck_assert(!vf.sealed[0]);
    t_append(s, 10, 100);
    /* Appends own the active file: no base may go before it now. */
    ck_assert_int_eq(seg_store_track_base(s, base.names[0], base.bytes[0], 0), -EDDY_EINVAL);
    ck_assert_int_eq(seg_store_roll(s), 0);
    ck_assert_int_eq(seg_store_track_base(s, base.names[0], base.bytes[0], base.crc[0]),
                     -EDDY_EINVAL);
    seg_store_close(s);
    ck_assert_int_eq(seg_dir_set_aside(t_dir, NULL, NULL), 1);
    ck_assert_int_eq(seg_dir_remove_aside(t_dir), 1);

    /* One merge at a time; a base tracked anew voids the running one. */
    s = t_open();
    ck_assert_int_eq(seg_store_track_base(s, base.names[0], base.bytes[0], base.crc[0]), 0);
    t_copy_in("peer", base.names[0], (off_t)base.bytes[0]);
    ck_assert_int_eq(seg_store_import_file(s, base.names[0]), -EDDY_EINVAL); /* merged, never */
    char imported[256];
    t_path(base.names[0], imported, sizeof(imported));
    ck_assert_int_eq(unlink(imported), 0);
    t_append(s, 10, 100);
    ck_assert_int_eq(seg_merge_create(s, &m), 0);
    struct seg_merge *m2;
    ck_assert_int_eq(seg_merge_create(s, &m2), -EDDY_EINUSE);
    ck_assert_int_eq(seg_merge_copy(m), 0);
    seg_store_untrack_base(s);
    ck_assert_int_eq(seg_merge_finish(s, m), -EDDY_EINUSE);
    seg_merge_free(m);
    ck_assert(!t_exists(part)); /* the fetched copy goes with the merge */
    t_read_all(s, 10, 10, 4);

    /* A damaged fetch is refused whole. */
    seg_store_close(s);
    s = t_open();
    ck_assert_int_eq(seg_dir_set_aside(t_dir, NULL, NULL), 1);
    seg_store_close(s);
    s = t_open();
    ck_assert_int_eq(seg_store_track_base(s, base.names[0], base.bytes[0], base.crc[0]), 0);
    t_copy_in("peer", base.names[0], (off_t)base.bytes[0]);
    char name_path[256];
    t_path(base.names[0], name_path, sizeof(name_path));
    ck_assert_int_eq(rename(name_path, part), 0);
    t_flip_byte(strrchr(part, '/') + 1, 100);
    ck_assert_int_eq(seg_merge_create(s, &m), 0);
    ck_assert_int_eq(seg_merge_copy(m), -EDDY_ECORRUPT);
    ck_assert_int_eq(seg_merge_copy(m), -EDDY_ECORRUPT); /* sticky */
    seg_merge_free(m);
    ck_assert(!t_exists(part));

    /* The store closes under a merge: it finishes nothing. */
    t_copy_in("peer", base.names[0], (off_t)base.bytes[0]);
    ck_assert_int_eq(rename(name_path, part), 0);
    ck_assert_int_eq(seg_merge_create(s, &m), 0);
    ck_assert_int_eq(seg_merge_copy(m), 0);
    seg_store_close(s);
    seg_merge_free(m);
    ck_assert(!t_exists(part));
    s = t_open();
    ck_assert(seg_store_is_empty(s));
    ck_assert_int_eq(seg_store_destroy(s), 0);
    seg_store_close(p);
}
END_TEST

static Suite *segment_suite(void)
{
    Suite *s = suite_create("segment");
    struct {
        const char *name;
        int timeout_s;
    } groups[] = {{"roundtrip", 10}, {"position", 20}, {"limits", 10},
                  {"files", 60},     {"recovery", 60}, {"trim", 60},
                  {"alloc", 20},     {"import", 20},   {"merge", 120}};
    TCase *tc[EDDY_ARRAY_LEN(groups)];
    for (size_t k = 0; k < EDDY_ARRAY_LEN(groups); k++) {
        tc[k] = tcase_create(groups[k].name);
        tcase_add_checked_fixture(tc[k], t_setup, t_teardown);
        tcase_set_timeout(tc[k], groups[k].timeout_s);
        suite_add_tcase(s, tc[k]);
    }
    tcase_add_test(tc[0], test_segment_roundtrip_empty_store);
    tcase_add_test(tc[0], test_segment_roundtrip_append_read);
    tcase_add_test(tc[0], test_segment_roundtrip_size_bounds);
    tcase_add_test(tc[1], test_segment_position_at_sequence);
    tcase_add_test(tc[1], test_segment_position_after_sequence);
    tcase_add_test(tc[1], test_segment_position_at_timestamp);
    tcase_add_test(tc[1], test_segment_position_trim_horizon);
    tcase_add_test(tc[1], test_segment_position_latest);
    tcase_add_test(tc[1], test_segment_position_paging_has_no_gap);
    tcase_add_test(tc[2], test_segment_limits_limit);
    tcase_add_test(tc[2], test_segment_limits_bytes_max);
    tcase_add_test(tc[2], test_segment_limits_callback_stops);
    tcase_add_test(tc[3], test_segment_files_seal_across_files);
    tcase_add_test(tc[3], test_segment_files_reopen_continues);
    tcase_add_test(tc[3], test_segment_files_full_last_file_sealed_on_open);
    tcase_add_test(tc[3], test_segment_files_foreign_entries_ignored);
    tcase_add_test(tc[4], test_segment_recovery_torn_tail_cut);
    tcase_add_test(tc[4], test_segment_recovery_torn_record_header_cut);
    tcase_add_test(tc[4], test_segment_recovery_garbage_tail_cut);
    tcase_add_test(tc[4], test_segment_recovery_corrupt_last_record_cut);
    tcase_add_test(tc[4], test_segment_recovery_no_intact_record_drops_file);
    tcase_add_test(tc[4], test_segment_recovery_torn_file_header_drops_file);
    tcase_add_test(tc[4], test_segment_recovery_sealed_corrupt_fails);
    tcase_add_test(tc[4], test_segment_recovery_read_detects_corruption);
    tcase_add_test(tc[5], test_segment_trim_sealed_files);
    tcase_add_loop_test(tc[6], test_segment_alloc_failure_sweep, 0, 40);
    tcase_add_test(tc[7], test_segment_import_fills_gaps);
    tcase_add_test(tc[7], test_segment_import_as_hydration_orders_them);
    tcase_add_test(tc[7], test_segment_import_rejects_what_does_not_fit);
    tcase_add_test(tc[7], test_segment_import_roll_starts_a_new_file);
    tcase_add_test(tc[7], test_segment_import_file_crc_follows_the_bytes);
    tcase_add_test(tc[7], test_segment_import_set_aside_and_remove);
    tcase_add_test(tc[8], test_segment_merge_matches_the_peer);
    tcase_add_test(tc[8], test_segment_merge_crosses_the_file_limit);
    tcase_add_test(tc[8], test_segment_merge_refuses_what_changed);
    return s;
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR); /* recovery tests log expected warnings */
    log_init_from_env();
    SRunner *sr = srunner_create(segment_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
