/*
 * The segment store of one shard (segment.h). It owns one directory of
 * append-only segment files named by their first sequence number, the file
 * descriptor of the newest (active) file, and per file a sparse index in
 * memory: one point per SEG_INDEX_STRIDE_BYTES, about 1/2048 of the data.
 * Sealed files are opened only for the length of a read call.
 *
 * Lifecycle: seg_store_open scans every file in name order, verifies every
 * crc, rebuilds the indexes and cuts a torn tail off the newest file. Appends
 * then go to the active file until it passes SEG_FILE_BYTES_MAX; it is then
 * fdatasynced and sealed, and the next append creates a new file named after
 * that append's sequence number. Byte layout: server/README.md, "Segment files".
 *
 * Invariants: every file in s->files holds at least one record (outside the
 * middle of seg_store_append); sequence numbers strictly increase and arrival
 * times never decrease across records and files; s->active_fd is the newest
 * file when it is not sealed, else -1. While a base is tracked (hydration),
 * every file after it was started by an append since, and s->shadow is the
 * base grown by exactly those files' records, as seg_store_append would
 * have grown it; a merge replaces those files with that layout.
 *
 * This file owns open and recovery, append, read and destroy. Fetched
 * files and set-aside live in segment_import.c, the tracked base and merges in
 * segment_merge.c, retention (the read horizon, deletion, the trim mark) in
 * segment_trim.c, shared internals in segment_internal.h.
 */
#include "segment_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/crc32c.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static void seg_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void seg_put_be32(uint8_t *p, uint32_t v)
{
    seg_put_be16(p, (uint16_t)(v >> 16));
    seg_put_be16(p + 2, (uint16_t)v);
}

static void seg_put_be64(uint8_t *p, uint64_t v)
{
    seg_put_be32(p, (uint32_t)(v >> 32));
    seg_put_be32(p + 4, (uint32_t)v);
}

static uint16_t seg_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t seg_get_be32(const uint8_t *p)
{
    return ((uint32_t)seg_get_be16(p) << 16) | seg_get_be16(p + 2);
}

static uint64_t seg_get_be64(const uint8_t *p)
{
    return ((uint64_t)seg_get_be32(p) << 32) | seg_get_be32(p + 4);
}

void seg_file_name_format(u128 seq, char out[SEG_FILE_NAME_LEN + 1])
{
    int n = snprintf(out, SEG_FILE_NAME_LEN + 1, "%016" PRIx64 "%016" PRIx64 ".seg",
                     (uint64_t)(seq >> 64), (uint64_t)seq);
    EDDY_ASSERT(n == SEG_FILE_NAME_LEN);
}

/* True for exactly 32 lowercase hex digits and ".seg"; *seq gets the digits. */
bool seg_file_name_parse(const char *name, u128 *seq)
{
    if (strlen(name) != SEG_FILE_NAME_LEN || strcmp(name + 32, ".seg") != 0) {
        return false;
    }
    u128 v = 0;
    for (size_t i = 0; i < 32; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else {
            return false;
        }
        v = (v << 4) | d;
    }
    *seq = v;
    return true;
}

void seg_file_header_encode(u128 first_seq, uint8_t h[SEG_FILE_HEADER_BYTES])
{
    seg_put_be32(h, SEG_FILE_MAGIC);
    seg_put_be16(h + 4, SEG_FILE_VERSION);
    seg_put_be16(h + 6, SEG_FILE_HEADER_BYTES);
    u128_to_be(first_seq, h + 8);
    seg_put_be32(h + 24, 0);
    seg_put_be32(h + 28, crc32c_update(0, h, 28));
}

static void seg_record_header_encode(const struct seg_record *r, uint8_t h[SEG_RECORD_HEADER_BYTES])
{
    seg_put_be32(h, SEG_RECORD_MAGIC);
    h[8] = r->encryption;
    h[9] = 0; /* flags */
    seg_put_be16(h + 10, (uint16_t)r->partition_key_len);
    seg_put_be32(h + 12, (uint32_t)r->data_len);
    u128_to_be(r->seq, h + 16);
    seg_put_be64(h + 32, r->arrival_ms);
    seg_put_be64(h + 40, r->raft_index);
    uint32_t crc =
        crc32c_update(0, h + SEG_RECORD_CRC_FROM, SEG_RECORD_HEADER_BYTES - SEG_RECORD_CRC_FROM);
    crc = crc32c_update(crc, r->partition_key, r->partition_key_len);
    crc = crc32c_update(crc, r->data, r->data_len);
    seg_put_be32(h + 4, crc);
}

void seg_reader_init(struct seg_reader *rd)
{
    memset(rd, 0, sizeof(*rd));
    rd->fd = -1;
}

void seg_reader_attach(struct seg_reader *rd, int fd, uint64_t file_bytes)
{
    rd->fd = fd;
    rd->file_bytes = file_bytes;
    rd->buf_off = 0;
    rd->buf_len = 0;
}

/* Points *out at bytes [off, off + len) of the attached file, valid until the
 * next call. -EDDY_ECORRUPT when the range passes file_bytes or the file is
 * shorter than file_bytes; -ENOMEM; -errno from pread. */
int seg_reader_get(struct seg_reader *rd, uint64_t off, size_t len, const uint8_t **out)
{
    EDDY_ASSERT(rd->fd >= 0);
    EDDY_ASSERT(len <= SEG_RECORD_BYTES_MAX);
    if (off > rd->file_bytes || len > rd->file_bytes - off) {
        return -EDDY_ECORRUPT;
    }
    if (off >= rd->buf_off && off - rd->buf_off + len <= rd->buf_len) {
        *out = rd->buf + (off - rd->buf_off);
        return 0;
    }
    if (len > rd->cap) {
        size_t cap = rd->cap > 0 ? rd->cap : SEG_READ_CHUNK_BYTES;
        while (cap < len) {
            cap *= 2;
        }
        cap = cap < SEG_RECORD_BYTES_MAX ? cap : SEG_RECORD_BYTES_MAX;
        eddy_free(rd->buf);
        rd->buf_len = 0;
        rd->cap = 0;
        rd->buf = eddy_malloc(cap);
        if (rd->buf == NULL) {
            return -ENOMEM;
        }
        rd->cap = cap;
    }
    uint64_t left = rd->file_bytes - off;
    size_t want = left < rd->cap ? (size_t)left : rd->cap;
    size_t got = 0;
    rd->buf_len = 0;
    while (got < want) {
        ssize_t n = pread(rd->fd, rd->buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got < len) {
        return -EDDY_ECORRUPT;
    }
    rd->buf_off = off;
    rd->buf_len = got;
    *out = rd->buf;
    return 0;
}

/* Decodes and verifies the record at off; *r points into the reader's buffer
 * and *len gets its length on disk. Returns 0, -EDDY_ECORRUPT with *why set,
 * -ENOMEM or -errno. */
int seg_record_read(
    struct seg_reader *rd, uint64_t off, struct seg_record *r, uint64_t *len, const char **why)
{
    const uint8_t *p;
    *why = "truncated record header";
    int rv = seg_reader_get(rd, off, SEG_RECORD_HEADER_BYTES, &p);
    if (rv != 0) {
        return rv;
    }
    if (seg_get_be32(p) != SEG_RECORD_MAGIC) {
        *why = "bad record magic";
        return -EDDY_ECORRUPT;
    }
    if ((p[8] != SEG_ENCRYPTION_NONE && p[8] != SEG_ENCRYPTION_KMS) || p[9] != 0) {
        *why = "unknown encryption or flags";
        return -EDDY_ECORRUPT;
    }
    size_t key_len = seg_get_be16(p + 10);
    size_t data_len = seg_get_be32(p + 12);
    if (key_len > KIN_PARTITION_KEY_LEN_MAX || data_len > SEG_DATA_BYTES_MAX) {
        *why = "record length out of range";
        return -EDDY_ECORRUPT;
    }
    size_t total = SEG_RECORD_HEADER_BYTES + key_len + data_len;
    *why = "truncated record";
    rv = seg_reader_get(rd, off, total, &p);
    if (rv != 0) {
        return rv;
    }
    uint32_t crc = crc32c_update(0, p + SEG_RECORD_CRC_FROM, total - SEG_RECORD_CRC_FROM);
    if (crc != seg_get_be32(p + 4)) {
        *why = "record crc mismatch";
        return -EDDY_ECORRUPT;
    }
    r->seq = u128_from_be(p + 16);
    r->arrival_ms = seg_get_be64(p + 32);
    r->raft_index = seg_get_be64(p + 40);
    r->partition_key = (const char *)p + SEG_RECORD_HEADER_BYTES;
    r->partition_key_len = key_len;
    r->data = p + SEG_RECORD_HEADER_BYTES + key_len;
    r->data_len = data_len;
    r->encryption = p[8];
    *len = total;
    return 0;
}

static bool seg_file_wants_point(const struct seg_file *f, uint64_t off)
{
    return f->record_count == 0 || off - f->point_last_offset >= SEG_INDEX_STRIDE_BYTES;
}

/* Makes room for the index point of a record at off, so that accounting
 * for the record after its write cannot fail. */
int seg_file_reserve_point(struct seg_file *f, uint64_t off)
{
    if (!seg_file_wants_point(f, off) || f->point_count < f->point_cap) {
        return 0;
    }
    size_t cap = f->point_cap > 0 ? f->point_cap * 2 : 16;
    struct seg_point *p = eddy_realloc(f->points, cap * sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    f->points = p;
    f->point_cap = cap;
    return 0;
}

/* Accounts for a verified or written record at off, len bytes long. */
void seg_file_add(struct seg_file *f, const struct seg_record *r, uint64_t off, uint64_t len)
{
    EDDY_ASSERT(off == f->bytes);
    if (seg_file_wants_point(f, off)) {
        EDDY_ASSERT(f->point_count < f->point_cap);
        f->points[f->point_count++] =
            (struct seg_point){.seq = r->seq, .arrival_ms = r->arrival_ms, .offset = off};
        f->point_last_offset = off;
    }
    if (f->record_count == 0) {
        f->seq_min = r->seq;
        f->arrival_min_ms = r->arrival_ms;
    }
    f->seq_max = r->seq;
    f->arrival_max_ms = r->arrival_ms;
    f->bytes = off + len;
    f->record_count++;
    EDDY_ASSERT(f->point_count <= SEG_FILE_POINTS_MAX);
}

static void seg_store_note_last(struct seg_store *s, const struct seg_record *r)
{
    s->last_seq = r->seq;
    s->last_index = r->raft_index;
    s->last_arrival_ms = r->arrival_ms;
}

/* Makes room for count entries in s->files, at most SEG_FILE_COUNT_MAX. */
int seg_store_reserve_files(struct seg_store *s, size_t count)
{
    if (count > SEG_FILE_COUNT_MAX) {
        LOG_ERROR("segment files over the limit dir=%s max=%d", s->dir, SEG_FILE_COUNT_MAX);
        return -EDDY_ELIMIT;
    }
    if (count <= s->file_cap) {
        return 0;
    }
    size_t cap = s->file_cap > 0 ? s->file_cap : 8;
    while (cap < count) {
        cap *= 2;
    }
    struct seg_file *files = eddy_realloc(s->files, cap * sizeof(*files));
    if (files == NULL) {
        return -ENOMEM;
    }
    s->files = files;
    s->file_cap = cap;
    return 0;
}

/* Adds an empty entry named after first_seq at the end of s->files. */
static int seg_store_push_file(struct seg_store *s, u128 first_seq)
{
    int rv = seg_store_reserve_files(s, s->file_count + 1);
    if (rv != 0) {
        return rv;
    }
    struct seg_file *f = &s->files[s->file_count++];
    memset(f, 0, sizeof(*f));
    seg_file_name_format(first_seq, f->name);
    f->first_seq = first_seq;
    return 0;
}

/* Forgets the newest entry (its file is already gone or about to be). */
static void seg_store_pop_file(struct seg_store *s)
{
    EDDY_ASSERT(s->file_count > 0);
    struct seg_file *f = &s->files[--s->file_count];
    eddy_free(f->points);
    f->points = NULL;
}

static int seg_file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct seg_file *)a)->name, ((const struct seg_file *)b)->name);
}

/* Collects the segment file names of the directory, oldest first. Other
 * entries are left alone. */
static int seg_store_list(struct seg_store *s)
{
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        return -errno;
    }
    int rv = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            rv = -errno;
            break;
        }
        u128 seq;
        if (!seg_file_name_parse(e->d_name, &seq)) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                LOG_DEBUG("segment dir entry ignored dir=%s name=%s", s->dir, e->d_name);
            }
            continue;
        }
        rv = seg_store_push_file(s, seq);
        if (rv != 0) {
            break;
        }
    }
    closedir(d);
    if (rv == 0 && s->file_count > 1) {
        qsort(s->files, s->file_count, sizeof(*s->files), seg_file_cmp);
    }
    return rv;
}

int seg_file_check_header(struct seg_reader *rd, const struct seg_file *f, const char **why)
{
    const uint8_t *h;
    *why = "truncated file header";
    int rv = seg_reader_get(rd, 0, SEG_FILE_HEADER_BYTES, &h);
    if (rv != 0) {
        return rv;
    }
    *why = "bad file header";
    if (seg_get_be32(h) != SEG_FILE_MAGIC || seg_get_be16(h + 4) != SEG_FILE_VERSION ||
        seg_get_be16(h + 6) != SEG_FILE_HEADER_BYTES || seg_get_be32(h + 24) != 0 ||
        seg_get_be32(h + 28) != crc32c_update(0, h, 28)) {
        return -EDDY_ECORRUPT;
    }
    if (u128_from_be(h + 8) != f->first_seq) {
        *why = "file header seq differs from the name";
        return -EDDY_ECORRUPT;
    }
    return 0;
}

/* Verifies the records of f from *off and indexes them; *off ends at the
 * first damaged byte or the end of the file. */
int seg_file_scan(
    struct seg_store *s, struct seg_file *f, struct seg_reader *rd, uint64_t *off, const char **why)
{
    const uint8_t *p;
    int rv = seg_reader_get(rd, 0, SEG_FILE_HEADER_BYTES, &p);
    if (rv != 0) {
        *why = "truncated file header";
        return rv;
    }
    f->crc = crc32c_update(0, p, SEG_FILE_HEADER_BYTES);
    f->bytes = SEG_FILE_HEADER_BYTES;
    while (*off < rd->file_bytes) {
        if (*off >= SEG_FILE_BYTES_MAX) {
            *why = "data past the seal point";
            return -EDDY_ECORRUPT;
        }
        struct seg_record r;
        uint64_t len;
        rv = seg_record_read(rd, *off, &r, &len, why);
        if (rv != 0) {
            return rv;
        }
        /* The record is in the reader's buffer now: this costs no read. */
        rv = seg_reader_get(rd, *off, (size_t)len, &p);
        if (rv != 0) {
            return rv;
        }
        if (f->record_count == 0 && r.seq != f->first_seq) {
            *why = "first record seq differs from the name";
            return -EDDY_ECORRUPT;
        }
        if (r.seq <= s->last_seq || r.arrival_ms < s->last_arrival_ms) {
            *why = "seq or arrival out of order";
            return -EDDY_ECORRUPT;
        }
        rv = seg_file_reserve_point(f, *off);
        if (rv != 0) {
            return rv;
        }
        f->crc = crc32c_update(f->crc, p, (size_t)len);
        seg_file_add(f, &r, *off, len);
        seg_store_note_last(s, &r);
        *off += len;
    }
    return 0;
}

/* Cuts the newest file at off, the first damaged byte; removes it when no
 * record before off is intact. */
static int seg_file_cut(struct seg_store *s, uint64_t off, uint64_t size, const char *why)
{
    struct seg_file *f = &s->files[s->file_count - 1];
    int rv = 0;
    if (f->record_count == 0) {
        LOG_WARN("segment file dropped, no intact record dir=%s file=%s bytes=%" PRIu64
                 " reason=%s",
                 s->dir, f->name, size, why);
        if (unlinkat(s->dir_fd, f->name, 0) != 0 || fsync(s->dir_fd) != 0) {
            return -errno;
        }
        seg_store_pop_file(s);
        return 0;
    }
    LOG_WARN("segment torn tail cut dir=%s file=%s offset=%" PRIu64 " bytes_cut=%" PRIu64
             " reason=%s",
             s->dir, f->name, off, size - off, why);
    int fd = openat(s->dir_fd, f->name, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0) {
        rv = -errno;
    }
    close(fd);
    return rv;
}

/* Scans file i. Damage ends the newest file there and fails on any other. */
static int seg_store_recover_file(struct seg_store *s, size_t i, struct seg_reader *rd)
{
    struct seg_file *f = &s->files[i];
    bool is_last = i + 1 == s->file_count;
    int fd = openat(s->dir_fd, f->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rv = -errno;
        close(fd);
        return rv;
    }
    uint64_t size = (uint64_t)st.st_size;
    seg_reader_attach(rd, fd, size);
    uint64_t off = 0;
    const char *why = "";
    int rv = seg_file_check_header(rd, f, &why);
    if (rv == 0) {
        off = SEG_FILE_HEADER_BYTES;
        rv = seg_file_scan(s, f, rd, &off, &why);
    }
    if (rv == 0 && f->record_count == 0) {
        why = "no records";
        rv = -EDDY_ECORRUPT;
    }
    close(fd);
    rd->fd = -1;
    f->sealed = !is_last;
    if (rv != -EDDY_ECORRUPT) {
        return rv;
    }
    if (!is_last) {
        LOG_ERROR("segment file corrupt dir=%s file=%s offset=%" PRIu64 " reason=%s", s->dir,
                  f->name, off, why);
        return -EDDY_ECORRUPT;
    }
    return seg_file_cut(s, off, size, why);
}

/* Makes the active file durable and read-only; the next append starts a new
 * file. A failed sync is sticky: the kernel may have dropped the pages. */
static int seg_store_seal(struct seg_store *s)
{
    EDDY_ASSERT(s->active_fd >= 0);
    struct seg_file *f = &s->files[s->file_count - 1];
    if (fdatasync(s->active_fd) != 0) {
        s->error = -errno;
        LOG_ERROR("segment seal failed dir=%s file=%s err=%s", s->dir, f->name,
                  eddy_strerror(s->error));
        return s->error;
    }
    close(s->active_fd);
    s->active_fd = -1;
    f->sealed = true;
    if (f->point_count < f->point_cap) {
        struct seg_point *p = eddy_realloc(f->points, f->point_count * sizeof(*p));
        if (p != NULL) {
            f->points = p;
            f->point_cap = f->point_count;
        }
    }
    LOG_DEBUG("segment sealed dir=%s file=%s bytes=%" PRIu64 " records=%" PRIu64, s->dir, f->name,
              f->bytes, f->record_count);
    return 0;
}

static int seg_store_recover(struct seg_store *s)
{
    struct seg_reader rd;
    seg_reader_init(&rd);
    int rv = 0;
    for (size_t i = 0; i < s->file_count && rv == 0; i++) {
        rv = seg_store_recover_file(s, i, &rd);
    }
    eddy_free(rd.buf);
    if (rv != 0 || s->file_count == 0) {
        return rv;
    }
    for (size_t i = 0; i < s->file_count; i++) {
        s->bytes += s->files[i].bytes;
    }
    struct seg_file *f = &s->files[s->file_count - 1];
    s->active_fd = openat(s->dir_fd, f->name, O_RDWR | O_APPEND | O_CLOEXEC);
    if (s->active_fd < 0) {
        return -errno;
    }
    f->sealed = false;
    return f->bytes >= SEG_FILE_BYTES_MAX ? seg_store_seal(s) : 0;
}

/* mkdir -p, one component at a time. */
static int seg_mkdirs(const char *dir)
{
    size_t len = strlen(dir);
    if (len == 0 || len >= PATH_MAX) {
        return len == 0 ? -EDDY_EINVAL : -ENAMETOOLONG;
    }
    char path[PATH_MAX];
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return -errno;
        }
        path[i] = c;
    }
    return 0;
}

int seg_store_open(const char *dir, struct seg_store **out)
{
    EDDY_ASSERT(dir != NULL);
    EDDY_ASSERT(out != NULL);
    int rv;
    struct seg_store *s = eddy_calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->dir_fd = -1;
    s->active_fd = -1;
    s->dir = eddy_strdup(dir);
    if (s->dir == NULL) {
        rv = -ENOMEM;
        goto err_after_alloc;
    }
    rv = seg_mkdirs(dir);
    if (rv != 0) {
        goto err_after_alloc;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        rv = -errno;
        goto err_after_alloc;
    }
    rv = seg_store_list(s);
    if (rv != 0) {
        goto err_after_alloc;
    }
    rv = seg_store_recover(s);
    if (rv != 0) {
        goto err_after_alloc;
    }
    LOG_DEBUG("segment store open dir=%s files=%zu bytes=%" PRIu64, s->dir, s->file_count,
              s->bytes);
    *out = s;
    return 0;

err_after_alloc:
    if (rv != -EDDY_ECORRUPT) {
        LOG_ERROR("segment store open failed dir=%s err=%s", dir, eddy_strerror(rv));
    }
    seg_store_close(s);
    return rv;
}

void seg_store_close(struct seg_store *s)
{
    if (s == NULL) {
        return;
    }
    if (s->active_fd >= 0) {
        close(s->active_fd);
    }
    if (s->dir_fd >= 0) {
        close(s->dir_fd);
    }
    for (size_t i = 0; i < s->file_count; i++) {
        eddy_free(s->files[i].points);
    }
    seg_store_detach_merge(s);
    eddy_free(s->shadow);
    eddy_free(s->files);
    eddy_free(s->dir);
    eddy_free(s);
}

/* Creates the next file, named after first_seq, as the active file. */
static int seg_store_create_file(struct seg_store *s, u128 first_seq)
{
    EDDY_ASSERT(s->active_fd < 0);
    int rv = seg_store_push_file(s, first_seq);
    if (rv != 0) {
        return rv;
    }
    struct seg_file *f = &s->files[s->file_count - 1];
    int fd = openat(s->dir_fd, f->name, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        rv = -errno;
        goto err_after_push;
    }
    /* The new name must survive a crash as long as the data written to it. */
    if (fsync(s->dir_fd) != 0) {
        rv = -errno;
        goto err_after_create;
    }
    s->active_fd = fd;
    return 0;

err_after_create:
    close(fd);
    unlinkat(s->dir_fd, f->name, 0);
err_after_push:
    LOG_ERROR("segment create failed dir=%s file=%s err=%s", s->dir, f->name, eddy_strerror(rv));
    seg_store_pop_file(s);
    return rv;
}

/* Writes every byte of iov, resuming after short writes. */
int seg_write_all(int fd, struct iovec *iov, int iov_count)
{
    while (iov_count > 0) {
        ssize_t n = writev(fd, iov, iov_count);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        size_t done = (size_t)n;
        while (iov_count > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            iov_count--;
        }
        if (iov_count > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* Undoes a failed append: removes a file it created, or cuts the active file
 * back to its verified length. A failed undo makes the store's error sticky. */
static void seg_store_undo_append(struct seg_store *s, bool created, int rv)
{
    struct seg_file *f = &s->files[s->file_count - 1];
    bool undone;
    if (created) {
        close(s->active_fd);
        s->active_fd = -1;
        undone = unlinkat(s->dir_fd, f->name, 0) == 0;
        seg_store_pop_file(s);
    } else {
        undone = ftruncate(s->active_fd, (off_t)f->bytes) == 0;
    }
    LOG_ERROR("segment append failed dir=%s err=%s undone=%d", s->dir, eddy_strerror(rv), undone);
    if (!undone) {
        s->error = rv;
    }
}

int seg_store_append(struct seg_store *s, const struct seg_record *r)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(r != NULL);
    if (s->error != 0) {
        return s->error; /* before the order asserts: a failed seal did append */
    }
    EDDY_ASSERT(r->seq > s->last_seq);
    EDDY_ASSERT(r->arrival_ms >= s->last_arrival_ms);
    EDDY_ASSERT(r->partition_key != NULL || r->partition_key_len == 0);
    EDDY_ASSERT(r->data != NULL || r->data_len == 0);
    if (r->partition_key_len > KIN_PARTITION_KEY_LEN_MAX ||
        r->data_len > KIN_RECORD_DATA_LARGE_MAX) {
        return -EDDY_ETOOBIG;
    }
    if (r->encryption != SEG_ENCRYPTION_NONE && r->encryption != SEG_ENCRYPTION_KMS) {
        return -EDDY_EINVAL;
    }
    int rv = seg_store_shadow_reserve(s);
    if (rv != 0) {
        return rv;
    }
    bool created = s->active_fd < 0;
    rv = created ? seg_store_create_file(s, r->seq) : 0;
    if (rv != 0) {
        return rv;
    }
    struct seg_file *f = &s->files[s->file_count - 1];
    uint64_t off = created ? SEG_FILE_HEADER_BYTES : f->bytes;
    uint8_t fh[SEG_FILE_HEADER_BYTES];
    uint8_t rh[SEG_RECORD_HEADER_BYTES];
    struct iovec iov[4];
    int n = 0;
    if (created) {
        seg_file_header_encode(r->seq, fh);
        iov[n++] = (struct iovec){.iov_base = fh, .iov_len = sizeof(fh)};
        f->bytes = SEG_FILE_HEADER_BYTES;
    }
    seg_record_header_encode(r, rh);
    iov[n++] = (struct iovec){.iov_base = rh, .iov_len = sizeof(rh)};
    if (r->partition_key_len > 0) {
        iov[n++] =
            (struct iovec){.iov_base = (void *)r->partition_key, .iov_len = r->partition_key_len};
    }
    if (r->data_len > 0) {
        iov[n++] = (struct iovec){.iov_base = (void *)r->data, .iov_len = r->data_len};
    }
    uint32_t crc = created ? 0 : f->crc;
    for (int k = 0; k < n; k++) {
        crc = crc32c_update(crc, iov[k].iov_base, iov[k].iov_len);
    }
    struct iovec out[4]; /* seg_write_all consumes its vector; the shadow reads iov after */
    memcpy(out, iov, (size_t)n * sizeof(*iov));
    rv = seg_file_reserve_point(f, off);
    if (rv == 0) {
        rv = seg_write_all(s->active_fd, out, n);
    }
    if (rv != 0) {
        seg_store_undo_append(s, created, rv);
        return rv;
    }
    seg_store_shadow_add(s, r, iov + (created ? 1 : 0), n - (created ? 1 : 0));
    f->crc = crc;
    uint64_t len = SEG_RECORD_HEADER_BYTES + r->partition_key_len + r->data_len;
    s->bytes += (created ? SEG_FILE_HEADER_BYTES : 0) + len;
    seg_file_add(f, r, off, len);
    seg_store_note_last(s, r);
    EDDY_ASSERT(s->last_seq == f->seq_max);
    return f->bytes >= SEG_FILE_BYTES_MAX ? seg_store_seal(s) : 0;
}

int seg_store_sync(struct seg_store *s)
{
    EDDY_ASSERT(s != NULL);
    if (s->error != 0) {
        return s->error;
    }
    if (s->active_fd >= 0 && fdatasync(s->active_fd) != 0) {
        s->error = -errno;
        LOG_ERROR("segment sync failed dir=%s err=%s", s->dir, eddy_strerror(s->error));
        return s->error;
    }
    return 0;
}

bool seg_store_is_empty(const struct seg_store *s)
{
    return s->file_count == 0;
}

u128 seg_store_last_seq(const struct seg_store *s)
{
    return s->last_seq;
}

uint64_t seg_store_last_index(const struct seg_store *s)
{
    return s->last_index;
}

uint64_t seg_store_last_arrival_ms(const struct seg_store *s)
{
    return s->last_arrival_ms;
}

uint64_t seg_store_bytes(const struct seg_store *s)
{
    return s->bytes;
}

static bool seg_before(u128 seq, uint64_t arrival_ms, const struct seg_read *q)
{
    return seq < q->seq_min || arrival_ms < q->arrival_min_ms;
}

/* The offset in file i where a scan for q's first record starts: the last
 * index point before it, or the first record. */
static uint64_t seg_file_seek(const struct seg_file *f, const struct seg_read *q)
{
    EDDY_ASSERT(f->point_count > 0);
    size_t lo = 0;
    size_t hi = f->point_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg_before(f->points[mid].seq, f->points[mid].arrival_ms, q)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return f->points[lo > 0 ? lo - 1 : 0].offset;
}

/* The first file holding a record that reaches q's minimums, or file_count. */
static size_t seg_store_seek(const struct seg_store *s, const struct seg_read *q)
{
    size_t lo = 0;
    size_t hi = s->file_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg_before(s->files[mid].seq_max, s->files[mid].arrival_max_ms, q)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Passes the records of file i from off to q->cb until q is done. */
static int seg_store_read_file(
    struct seg_store *s, size_t i, uint64_t off, struct seg_reader *rd, struct seg_read *q)
{
    const struct seg_file *f = &s->files[i];
    bool is_active = i + 1 == s->file_count && s->active_fd >= 0;
    int fd = is_active ? s->active_fd : openat(s->dir_fd, f->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rv = -errno;
        LOG_ERROR("segment open failed dir=%s file=%s err=%s", s->dir, f->name, eddy_strerror(rv));
        return rv;
    }
    seg_reader_attach(rd, fd, f->bytes);
    int rv = 0;
    while (off < f->bytes && !q->done) {
        struct seg_record r;
        uint64_t len;
        const char *why;
        rv = seg_record_read(rd, off, &r, &len, &why);
        if (rv != 0) {
            LOG_ERROR("segment read failed dir=%s file=%s offset=%" PRIu64 " err=%s reason=%s",
                      s->dir, f->name, off, eddy_strerror(rv), rv == -EDDY_ECORRUPT ? why : "-");
            break;
        }
        off += len;
        if (seg_before(r.seq, r.arrival_ms, q)) {
            continue;
        }
        if (!q->found) {
            q->found = true;
            q->found_seq = r.seq;
        }
        if (q->count >= q->limit || (q->count > 0 && q->data_bytes + r.data_len > q->bytes_max)) {
            q->done = true;
            break;
        }
        q->count++;
        q->data_bytes += r.data_len;
        q->last_seq = r.seq;
        q->done = !q->cb(q->arg, &r);
    }
    if (!is_active) {
        close(fd);
    }
    rd->fd = -1;
    return rv;
}

/* As segment.h says. Also: the record for which cb returns false counts as
 * read; cb must not call back into the store; every record read is checked
 * against its crc again, and damage fails the read with -EDDY_ECORRUPT. */
int seg_store_read(struct seg_store *s,
                   enum seg_position pos,
                   u128 seq,
                   uint64_t timestamp_ms,
                   uint32_t limit,
                   size_t bytes_max,
                   seg_read_cb cb,
                   void *arg,
                   u128 *next_after)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(next_after != NULL);
    struct seg_read q = {
        .limit = limit < INT_MAX ? limit : INT_MAX, .bytes_max = bytes_max, .cb = cb, .arg = arg};
    u128 before = 0; /* next_after when nothing is read */
    size_t start = 0;
    switch (pos) {
    case SEG_AT_SEQUENCE:
        q.seq_min = seq;
        before = seq > 0 ? seq - 1 : 0;
        start = seg_store_seek(s, &q);
        break;
    case SEG_AFTER_SEQUENCE:
        q.seq_min = seq + 1;
        before = seq;
        start = seq == ~(u128)0 ? s->file_count : seg_store_seek(s, &q);
        break;
    case SEG_AT_TIMESTAMP:
        q.arrival_min_ms = timestamp_ms;
        before = s->last_seq;
        start = seg_store_seek(s, &q);
        break;
    case SEG_TRIM_HORIZON:
        break;
    case SEG_LATEST:
        before = s->last_seq;
        start = s->file_count;
        break;
    default:
        EDDY_ASSERT(!"unknown seg_position");
    }
    bool hidden = pos != SEG_LATEST && seg_read_apply_horizon(s, &q);
    if (hidden && start < s->file_count) {
        start = seg_store_seek(s, &q);
    }
    struct seg_reader rd;
    seg_reader_init(&rd);
    int rv = 0;
    for (size_t i = start; i < s->file_count && !q.done && rv == 0; i++) {
        uint64_t off = i == start ? seg_file_seek(&s->files[i], &q) : SEG_FILE_HEADER_BYTES;
        rv = seg_store_read_file(s, i, off, &rd, &q);
    }
    eddy_free(rd.buf);
    if (rv != 0) {
        return rv;
    }
    EDDY_ASSERT(q.count <= q.limit);
    if (q.count > 0) {
        *next_after = q.last_seq;
    } else if (hidden) {
        *next_after = seg_read_horizon_next(s, &q, before);
    } else if (pos == SEG_AT_TIMESTAMP && q.found) {
        *next_after = q.found_seq - 1;
    } else {
        *next_after = before;
    }
    return (int)q.count;
}

void seg_store_files(const struct seg_store *s, seg_file_cb cb, void *arg)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(cb != NULL);
    for (size_t i = 0; i < s->file_count; i++) {
        const struct seg_file *f = &s->files[i];
        struct seg_file_info info = {.name = f->name,
                                     .bytes = f->bytes,
                                     .sealed = f->sealed,
                                     .crc32c = f->crc,
                                     .arrival_max_ms = f->arrival_max_ms};
        cb(arg, &info);
    }
}

/* ---- names and lookups ---- */

bool seg_file_name_is_valid(const char *name)
{
    u128 seq;
    return name != NULL && seg_file_name_parse(name, &seq);
}

u128 seg_file_name_seq(const char *name)
{
    u128 seq = 0;
    bool ok = seg_file_name_parse(name, &seq);
    EDDY_ASSERT(ok);
    return seq;
}

/* The index of the first file whose name is not below name. */
size_t seg_store_find_name(const struct seg_store *s, const char *name)
{
    size_t lo = 0;
    size_t hi = s->file_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->files[mid].name, name) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int seg_store_file(const struct seg_store *s, const char *name, struct seg_file_info *out)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(name != NULL);
    EDDY_ASSERT(out != NULL);
    size_t i = seg_store_find_name(s, name);
    if (i == s->file_count || strcmp(s->files[i].name, name) != 0) {
        return -EDDY_ENOTFOUND;
    }
    const struct seg_file *f = &s->files[i];
    *out = (struct seg_file_info){.name = f->name,
                                  .bytes = f->bytes,
                                  .sealed = f->sealed,
                                  .crc32c = f->crc,
                                  .arrival_max_ms = f->arrival_max_ms};
    return 0;
}

const char *seg_store_dir(const struct seg_store *s)
{
    return s->dir;
}

/* ---- hydration ---- */

int seg_store_roll(struct seg_store *s)
{
    EDDY_ASSERT(s != NULL);
    if (s->error != 0) {
        return s->error;
    }
    return s->active_fd >= 0 ? seg_store_seal(s) : 0;
}

int seg_store_destroy(struct seg_store *s)
{
    EDDY_ASSERT(s != NULL);
    int rv = 0;
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        rv = -errno;
    }
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (unlinkat(s->dir_fd, e->d_name, 0) != 0 && rv == 0) {
            rv = -errno;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    if (rv == 0 && rmdir(s->dir) != 0) {
        rv = -errno;
    }
    if (rv != 0) {
        LOG_ERROR("segment store destroy failed dir=%s err=%s", s->dir, eddy_strerror(rv));
    }
    seg_store_close(s);
    return rv;
}
