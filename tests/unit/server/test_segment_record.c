/*
 * Unit tests for the segment record fields the stream settings added
 * (server/README.md, "Record"): the encryption type byte (0 NONE, 1 KMS)
 * written, read back and kept across a reopen, unknown values refused on
 * append and treated as damage on disk; and records up to the largest
 * MaxRecordSizeInKiB (10 MiB).
 */
#include "segment.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_FILE_HEADER_BYTES 32 /* server/README.md: file header */
#define T_RECORD_HEADER_BYTES 48

static char t_root[64];
static char t_dir[128];

static void t_setup(void)
{
    snprintf(t_root, sizeof(t_root), "/tmp/eddy-segrec-XXXXXX");
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

static struct seg_store *t_open(void)
{
    struct seg_store *s = NULL;
    ck_assert_int_eq(seg_store_open(t_dir, &s), 0);
    return s;
}

static int t_append(struct seg_store *s, uint32_t i, const uint8_t *data, size_t len, uint8_t enc)
{
    char key[16];
    int key_len = snprintf(key, sizeof(key), "k%u", i);
    struct seg_record r = {.seq = (u128)i + 1,
                           .arrival_ms = 1700000000000ull + i,
                           .raft_index = 10 + i,
                           .partition_key = key,
                           .partition_key_len = (size_t)key_len,
                           .data = data,
                           .data_len = len,
                           .encryption = enc};
    return seg_store_append(s, &r);
}

/* What a read saw, record by record. */
struct t_seen {
    uint32_t count;
    uint8_t enc[8];
    size_t len[8];
    bool data_ok[8];
    const uint8_t *want; /* the bytes every record's data starts with */
};

static bool t_collect(void *arg, const struct seg_record *r)
{
    struct t_seen *g = arg;
    ck_assert_uint_lt(g->count, 8);
    g->enc[g->count] = r->encryption;
    g->len[g->count] = r->data_len;
    g->data_ok[g->count] = g->want == NULL || memcmp(r->data, g->want, r->data_len) == 0;
    g->count++;
    return true;
}

static int t_read_all(struct seg_store *s, struct t_seen *g)
{
    u128 next;
    return seg_store_read(s, SEG_TRIM_HORIZON, 0, 0, 8, SIZE_MAX, t_collect, g, &next);
}

/* The path of the store's only file. */
static void t_only_file(struct seg_store *s, char *path, size_t cap)
{
    struct seg_file_info f;
    char name[64] = {0};
    u128 first = 1;
    for (int k = 31; k >= 0; k--) {
        name[k] = "0123456789abcdef"[(unsigned)(first & 0xF)];
        first >>= 4;
    }
    memcpy(name + 32, ".seg", 5);
    ck_assert_int_eq(seg_store_file(s, name, &f), 0);
    snprintf(path, cap, "%s/%s", t_dir, name);
}

START_TEST(test_segment_record_encryption_roundtrip)
{
    struct seg_store *s = t_open();
    const uint8_t d[] = "hello";
    ck_assert_int_eq(t_append(s, 0, d, 5, SEG_ENCRYPTION_NONE), 0);
    ck_assert_int_eq(t_append(s, 1, d, 5, SEG_ENCRYPTION_KMS), 0);
    ck_assert_int_eq(t_append(s, 2, d, 5, SEG_ENCRYPTION_NONE), 0);
    struct t_seen g = {.want = d};
    ck_assert_int_eq(t_read_all(s, &g), 3);
    ck_assert_uint_eq(g.enc[0], SEG_ENCRYPTION_NONE);
    ck_assert_uint_eq(g.enc[1], SEG_ENCRYPTION_KMS);
    ck_assert_uint_eq(g.enc[2], SEG_ENCRYPTION_NONE);
    ck_assert(g.data_ok[1]); /* stored as written: no encryption at rest yet */
    seg_store_close(s);

    /* The open scan verifies the byte and keeps the records. */
    s = t_open();
    memset(&g, 0, sizeof(g));
    ck_assert_int_eq(t_read_all(s, &g), 3);
    ck_assert_uint_eq(g.enc[1], SEG_ENCRYPTION_KMS);
    ck_assert(seg_store_last_seq(s) == 3);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_record_encryption_unknown_refused)
{
    struct seg_store *s = t_open();
    const uint8_t d[] = "x";
    ck_assert_int_eq(t_append(s, 0, d, 1, 2), -EDDY_EINVAL);
    ck_assert(seg_store_is_empty(s));
    ck_assert_int_eq(t_append(s, 0, d, 1, SEG_ENCRYPTION_KMS), 0);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_record_encryption_unknown_is_damage)
{
    struct seg_store *s = t_open();
    const uint8_t d[] = "abc";
    ck_assert_int_eq(t_append(s, 0, d, 3, SEG_ENCRYPTION_NONE), 0);
    ck_assert_int_eq(t_append(s, 1, d, 3, SEG_ENCRYPTION_KMS), 0);
    char path[256];
    t_only_file(s, path, sizeof(path));
    seg_store_close(s);

    /* Byte 8 of the second record becomes 2: the newest file's tail from
     * there is damage and is cut, the first record stays. */
    off_t second = T_FILE_HEADER_BYTES + T_RECORD_HEADER_BYTES + 2 + 3;
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    uint8_t two = 2;
    ck_assert_int_eq(pwrite(fd, &two, 1, second + 8), 1);
    close(fd);
    s = t_open();
    struct t_seen g = {0};
    ck_assert_int_eq(t_read_all(s, &g), 1);
    ck_assert(seg_store_last_seq(s) == 1);
    seg_store_close(s);
}
END_TEST

START_TEST(test_segment_record_large_roundtrip)
{
    uint8_t *big = eddy_xmalloc(KIN_RECORD_DATA_LARGE_MAX + 1);
    for (size_t k = 0; k <= KIN_RECORD_DATA_LARGE_MAX; k++) {
        big[k] = (uint8_t)(k * 13 + 5);
    }
    struct seg_store *s = t_open();
    ck_assert_int_eq(t_append(s, 0, big, KIN_RECORD_DATA_LARGE_MAX + 1, 0), -EDDY_ETOOBIG);
    ck_assert_int_eq(t_append(s, 0, big, KIN_RECORD_DATA_LARGE_MAX, SEG_ENCRYPTION_KMS), 0);
    ck_assert_int_eq(t_append(s, 1, big, KIN_RECORD_DATA_MAX + 1, 0), 0);
    seg_store_close(s);
    s = t_open(); /* the scan reads both whole */
    struct t_seen g = {.want = big};
    ck_assert_int_eq(t_read_all(s, &g), 2);
    ck_assert_uint_eq(g.len[0], KIN_RECORD_DATA_LARGE_MAX);
    ck_assert_uint_eq(g.len[1], KIN_RECORD_DATA_MAX + 1);
    ck_assert(g.data_ok[0]);
    ck_assert(g.data_ok[1]);
    ck_assert_uint_eq(g.enc[0], SEG_ENCRYPTION_KMS);
    seg_store_close(s);
    eddy_free(big);
}
END_TEST

static Suite *segment_record_suite(void)
{
    Suite *s = suite_create("segment_record");
    TCase *tc = tcase_create("encryption");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_segment_record_encryption_roundtrip);
    tcase_add_test(tc, test_segment_record_encryption_unknown_refused);
    tcase_add_test(tc, test_segment_record_encryption_unknown_is_damage);
    suite_add_tcase(s, tc);
    tc = tcase_create("large");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_segment_record_large_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(segment_record_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
