/*
 * Retention of a segment store (segment.h): the read horizon, below which
 * reads see no record; the deletion of sealed files whose records all
 * arrived before a trim point; and the trim mark, a small file that
 * remembers, across restarts, which files retention deleted.
 *
 * Why a mark: a replica that restarts restores its latest snapshot, whose
 * manifest may name files that a trim applied after the snapshot deleted
 * (the trim's entry is replayed later, from the log). Without the mark the
 * replica would take those files for missing and hydrate, fetching files
 * that every peer deleted too; with it, restore knows they went by
 * retention. Byte layout and rules: server/README.md, "Retention".
 *
 * The store itself lives in segment.c; the shared internals in
 * segment_internal.h. All calls on the store's loop thread.
 */
#include "segment_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/crc32c.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The trim mark: magic, version, reserved, the first sequence number of the
 * newest file deleted, CRC-32C of the bytes before it. */
#define SEG_TRIM_MARK_NAME "trim.mark"
#define SEG_TRIM_MARK_TMP "trim.mark.tmp"
#define SEG_TRIM_MARK_MAGIC 0x4544544du /* "EDTM" */
#define SEG_TRIM_MARK_VERSION 1
#define SEG_TRIM_MARK_BYTES 28

static void seg_trim_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t seg_trim_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- the read horizon ---- */

void seg_store_set_horizon(struct seg_store *s, uint64_t horizon_ms)
{
    EDDY_ASSERT(s != NULL);
    if (horizon_ms > s->horizon_ms) {
        s->horizon_ms = horizon_ms;
    }
}

uint64_t seg_store_horizon(const struct seg_store *s)
{
    return s->horizon_ms;
}

/* The horizon hides records only when the oldest one arrived before it. */
bool seg_read_apply_horizon(const struct seg_store *s, struct seg_read *q)
{
    if (s->horizon_ms <= q->arrival_min_ms || s->file_count == 0 ||
        s->files[0].arrival_min_ms >= s->horizon_ms) {
        return false;
    }
    q->arrival_min_ms = s->horizon_ms;
    return true;
}

u128 seg_read_horizon_next(const struct seg_store *s, const struct seg_read *q, u128 before)
{
    EDDY_ASSERT(q->count == 0);
    if (q->found) {
        EDDY_ASSERT(q->found_seq > 0); /* sequence numbers are never 0 */
        return q->found_seq - 1;
    }
    if (s->file_count > 0 && s->last_seq >= q->seq_min && s->last_seq > before) {
        return s->last_seq; /* every record from the position on is hidden */
    }
    return before;
}

/* ---- the trim mark ---- */

int seg_dir_trim_mark(const char *dir, u128 *out)
{
    EDDY_ASSERT(dir != NULL);
    EDDY_ASSERT(out != NULL);
    *out = 0;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, SEG_TRIM_MARK_NAME) >= sizeof(path)) {
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    uint8_t b[SEG_TRIM_MARK_BYTES + 1];
    ssize_t n;
    do {
        n = pread(fd, b, sizeof(b), 0);
    } while (n < 0 && errno == EINTR);
    int rv = n < 0 ? -errno : 0;
    close(fd);
    if (rv != 0) {
        return rv;
    }
    if (n != SEG_TRIM_MARK_BYTES || seg_trim_get_be32(b) != SEG_TRIM_MARK_MAGIC || b[4] != 0 ||
        b[5] != SEG_TRIM_MARK_VERSION || b[6] != 0 || b[7] != 0 ||
        seg_trim_get_be32(b + 24) != crc32c_update(0, b, 24)) {
        LOG_WARN("segment trim mark damaged, ignored dir=%s bytes=%zd", dir, n);
        return -EDDY_ECORRUPT;
    }
    *out = u128_from_be(b + 8);
    return 0;
}

/* Writes the mark for seq through a temporary file renamed over the old
 * one, both synced: a crash leaves the old mark or the new one. */
static int seg_trim_mark_write(struct seg_store *s, u128 seq)
{
    uint8_t b[SEG_TRIM_MARK_BYTES];
    seg_trim_put_be32(b, SEG_TRIM_MARK_MAGIC);
    b[4] = 0;
    b[5] = SEG_TRIM_MARK_VERSION;
    b[6] = 0;
    b[7] = 0;
    u128_to_be(seq, b + 8);
    seg_trim_put_be32(b + 24, crc32c_update(0, b, 24));
    int fd = openat(s->dir_fd, SEG_TRIM_MARK_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    int rv = 0;
    ssize_t n;
    do {
        n = pwrite(fd, b, sizeof(b), 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(b)) {
        rv = n < 0 ? -errno : -EIO;
    }
    if (rv == 0 && fdatasync(fd) != 0) {
        rv = -errno;
    }
    close(fd);
    if (rv == 0 && renameat(s->dir_fd, SEG_TRIM_MARK_TMP, s->dir_fd, SEG_TRIM_MARK_NAME) != 0) {
        rv = -errno;
    }
    if (rv == 0 && fsync(s->dir_fd) != 0) {
        rv = -errno;
    }
    if (rv != 0) {
        unlinkat(s->dir_fd, SEG_TRIM_MARK_TMP, 0);
    }
    return rv;
}

int seg_store_raise_trim_mark(struct seg_store *s, const char *name)
{
    EDDY_ASSERT(s != NULL);
    u128 seq;
    bool ok = seg_file_name_parse(name, &seq);
    EDDY_ASSERT(ok);
    u128 mark;
    int rv = seg_dir_trim_mark(s->dir, &mark);
    if (rv != 0 && rv != -EDDY_ECORRUPT) {
        return rv; /* a damaged mark is rewritten */
    }
    if (rv == 0 && mark >= seq) {
        return 0;
    }
    rv = seg_trim_mark_write(s, seq);
    if (rv != 0) {
        LOG_ERROR("segment trim mark write failed dir=%s file=%s err=%s", s->dir, name,
                  eddy_strerror(rv));
    }
    return rv;
}

/* ---- deletion ---- */

const char *seg_store_trim_point(const struct seg_store *s, uint64_t before_ms, const char *newest)
{
    EDDY_ASSERT(s != NULL);
    const char *base = seg_store_base(s);
    const char *point = NULL;
    for (size_t i = 0; i < s->file_count; i++) {
        const struct seg_file *f = &s->files[i];
        bool is_newest = newest != NULL ? strcmp(f->name, newest) >= 0 : i + 1 == s->file_count;
        if (!f->sealed || f->arrival_max_ms >= before_ms || is_newest ||
            (base != NULL && strcmp(f->name, base) >= 0)) {
            break; /* arrival times never decrease: no later file qualifies */
        }
        point = f->name;
    }
    return point;
}

int seg_store_trim_upto(struct seg_store *s, const char *upto)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(seg_file_name_is_valid(upto));
    const char *base = seg_store_base(s);
    EDDY_ASSERT(base == NULL || strcmp(upto, base) < 0); /* a merge may use what follows */
    size_t n = 0;
    while (n < s->file_count && strcmp(s->files[n].name, upto) <= 0) {
        EDDY_ASSERT(s->files[n].sealed); /* never the active file */
        n++;
    }
    if (n == 0) {
        return 0;
    }
    int rv = seg_store_raise_trim_mark(s, upto);
    if (rv != 0) {
        return rv; /* nothing deleted: a restart must not take them for missing */
    }
    size_t done = 0;
    uint64_t bytes = 0;
    for (; done < n; done++) {
        struct seg_file *f = &s->files[done];
        if (unlinkat(s->dir_fd, f->name, 0) != 0 && errno != ENOENT) {
            rv = -errno;
            LOG_ERROR("segment trim failed dir=%s file=%s err=%s", s->dir, f->name,
                      eddy_strerror(rv));
            break;
        }
        bytes += f->bytes;
        eddy_free(f->points);
        f->points = NULL;
    }
    if (done > 0) {
        s->bytes -= bytes;
        memmove(s->files, s->files + done, (s->file_count - done) * sizeof(*s->files));
        s->file_count -= done;
        if (fsync(s->dir_fd) != 0 && rv == 0) {
            rv = -errno; /* the deletions may come back after a crash: restore handles it */
        }
        LOG_INFO("segment files trimmed dir=%s files=%zu bytes=%" PRIu64 " upto=%s", s->dir, done,
                 bytes, upto);
    }
    return rv != 0 ? rv : (int)done;
}

bool seg_store_has_arrivals(const struct seg_store *s, uint64_t from_ms, uint64_t before_ms)
{
    EDDY_ASSERT(s != NULL);
    if (from_ms >= before_ms) {
        return false;
    }
    for (size_t i = 0; i < s->file_count && s->files[i].arrival_min_ms < before_ms; i++) {
        if (s->files[i].arrival_max_ms >= from_ms) {
            return true;
        }
    }
    return false;
}

int seg_store_trim(struct seg_store *s, uint64_t before_ms)
{
    const char *point = seg_store_trim_point(s, before_ms, NULL);
    if (point == NULL) {
        return 0;
    }
    char upto[SEG_FILE_NAME_LEN + 1];
    memcpy(upto, point, sizeof(upto)); /* the name moves with the file list */
    return seg_store_trim_upto(s, upto);
}

void seg_store_base_set_arrival(struct seg_store *s, uint64_t arrival_max_ms)
{
    EDDY_ASSERT(s != NULL);
    if (s->shadow_count > 0 && s->shadow[0].arrival_max_ms < arrival_max_ms) {
        s->shadow[0].arrival_max_ms = arrival_max_ms;
    }
}
