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
 */
#include "segment.h"

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

/* --- On-disk format (server/README.md). All integers are big-endian. --- */
#define SEG_FILE_MAGIC 0x45445347u /* "EDSG" */
#define SEG_FILE_VERSION 1
#define SEG_FILE_HEADER_BYTES 32
#define SEG_RECORD_MAGIC 0x45445245u /* "EDRE" */
#define SEG_RECORD_HEADER_BYTES 48
#define SEG_RECORD_CRC_FROM 8 /* a record's crc covers its bytes from here to its end */
#define SEG_ENCRYPTION_NONE 0
/* Room in a stored data field for an encryption envelope (nonce, tag, key
 * version) once records are encrypted at rest. */
#define SEG_ENVELOPE_BYTES_MAX 256
#define SEG_DATA_BYTES_MAX (KIN_RECORD_DATA_MAX + SEG_ENVELOPE_BYTES_MAX)
#define SEG_RECORD_BYTES_MAX                                                                       \
    (SEG_RECORD_HEADER_BYTES + KIN_PARTITION_KEY_LEN_MAX + SEG_DATA_BYTES_MAX)

/* --- In-memory bounds. --- */
#define SEG_FILE_NAME_LEN 36              /* 32 hex digits of the first seq + ".seg" */
#define SEG_FILE_COUNT_MAX 65536          /* 4 TiB of 64 MiB files per shard */
#define SEG_READ_CHUNK_BYTES (256 * 1024) /* first read buffer; grows to one record max */
/* Records start below SEG_FILE_BYTES_MAX, points at least a stride apart. */
#define SEG_FILE_POINTS_MAX (SEG_FILE_BYTES_MAX / SEG_INDEX_STRIDE_BYTES + 1)

static_assert(SEG_RECORD_BYTES_MAX < SEG_FILE_BYTES_MAX, "a record fits a file");
static_assert(SEG_READ_CHUNK_BYTES <= SEG_RECORD_BYTES_MAX, "the read buffer only grows");
static_assert(KIN_PARTITION_KEY_LEN_MAX <= UINT16_MAX, "key length fits its u16 field");
static_assert(SEG_DATA_BYTES_MAX <= UINT32_MAX, "data length fits its u32 field");

/* One sparse index point: the record that starts at offset. */
struct seg_point {
    u128 seq;
    uint64_t arrival_ms;
    uint64_t offset;
};

struct seg_file {
    char name[SEG_FILE_NAME_LEN + 1];
    u128 first_seq; /* from the name; the header and first record must agree */
    u128 seq_min;
    u128 seq_max;
    uint64_t arrival_min_ms;
    uint64_t arrival_max_ms;
    uint64_t bytes; /* verified length: the header and whole records */
    uint32_t crc;   /* running CRC-32C of the first `bytes` bytes */
    uint64_t record_count;
    uint64_t point_last_offset;
    struct seg_point *points;
    size_t point_count;
    size_t point_cap;
    bool sealed;
};

/* One file of the layout a peer holds from the tracked base on. */
struct seg_shadow {
    char name[SEG_FILE_NAME_LEN + 1];
    uint64_t bytes;
    uint32_t crc;
    bool crc_known; /* false only for a base tracked without a checksum */
};

struct seg_merge;

struct seg_store {
    char *dir;
    int dir_fd;
    int active_fd;
    struct seg_file *files; /* oldest first, sorted by name */
    size_t file_count;
    size_t file_cap;
    u128 last_seq;
    uint64_t last_index;
    uint64_t last_arrival_ms;
    uint64_t bytes;
    int error; /* sticky: a failed write, rollback or sync leaves the active file unknown */
    /* Hydration (seg_store_track_base): the base, then the files sealing
     * starts after it; empty when no base is tracked. */
    struct seg_shadow *shadow;
    size_t shadow_count;
    size_t shadow_cap;
    uint64_t base_gen;       /* changes with the base: a merge checks it */
    struct seg_merge *merge; /* the merge running, at most one */
};

/* Reads a file through a buffer that holds at least one whole record. */
struct seg_reader {
    int fd;
    uint64_t file_bytes;
    uint8_t *buf;
    size_t cap;
    uint64_t buf_off;
    size_t buf_len;
};

/* The state of one seg_store_read call. */
struct seg_read {
    u128 seq_min; /* records below either minimum are skipped */
    uint64_t arrival_min_ms;
    uint32_t limit;
    size_t bytes_max;
    seg_read_cb cb;
    void *arg;
    uint32_t count;
    size_t data_bytes;
    bool found; /* a record reached the minimums (delivered or not) */
    bool done;
    u128 found_seq;
    u128 last_seq;
};

static void seg_store_detach_merge(struct seg_store *s);
static int seg_store_shadow_reserve(struct seg_store *s);
static void seg_store_shadow_add(struct seg_store *s,
                                 const struct seg_record *r,
                                 const struct iovec *iov,
                                 int iov_count);

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

static void seg_file_name_format(u128 seq, char out[SEG_FILE_NAME_LEN + 1])
{
    int n = snprintf(out, SEG_FILE_NAME_LEN + 1, "%016" PRIx64 "%016" PRIx64 ".seg",
                     (uint64_t)(seq >> 64), (uint64_t)seq);
    EDDY_ASSERT(n == SEG_FILE_NAME_LEN);
}

/* True for exactly 32 lowercase hex digits and ".seg"; *seq gets the digits. */
static bool seg_file_name_parse(const char *name, u128 *seq)
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

static void seg_file_header_encode(u128 first_seq, uint8_t h[SEG_FILE_HEADER_BYTES])
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
    h[8] = SEG_ENCRYPTION_NONE;
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

static void seg_reader_init(struct seg_reader *rd)
{
    memset(rd, 0, sizeof(*rd));
    rd->fd = -1;
}

static void seg_reader_attach(struct seg_reader *rd, int fd, uint64_t file_bytes)
{
    rd->fd = fd;
    rd->file_bytes = file_bytes;
    rd->buf_off = 0;
    rd->buf_len = 0;
}

/* Points *out at bytes [off, off + len) of the attached file, valid until the
 * next call. -EDDY_ECORRUPT when the range passes file_bytes or the file is
 * shorter than file_bytes; -ENOMEM; -errno from pread. */
static int seg_reader_get(struct seg_reader *rd, uint64_t off, size_t len, const uint8_t **out)
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
static int seg_record_read(
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
    if (p[8] != SEG_ENCRYPTION_NONE || p[9] != 0) {
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
    *len = total;
    return 0;
}

static bool seg_file_wants_point(const struct seg_file *f, uint64_t off)
{
    return f->record_count == 0 || off - f->point_last_offset >= SEG_INDEX_STRIDE_BYTES;
}

/* Makes room for the index point of a record at off, so that accounting
 * for the record after its write cannot fail. */
static int seg_file_reserve_point(struct seg_file *f, uint64_t off)
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
static void seg_file_add(struct seg_file *f, const struct seg_record *r, uint64_t off, uint64_t len)
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
static int seg_store_reserve_files(struct seg_store *s, size_t count)
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

static int seg_file_check_header(struct seg_reader *rd, const struct seg_file *f, const char **why)
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
static int seg_file_scan(
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
static int seg_write_all(int fd, struct iovec *iov, int iov_count)
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
    if (r->partition_key_len > KIN_PARTITION_KEY_LEN_MAX || r->data_len > KIN_RECORD_DATA_MAX) {
        return -EDDY_ETOOBIG;
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
        struct seg_file_info info = {
            .name = f->name, .bytes = f->bytes, .sealed = f->sealed, .crc32c = f->crc};
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
static size_t seg_store_find_name(const struct seg_store *s, const char *name)
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
    *out = (struct seg_file_info){
        .name = f->name, .bytes = f->bytes, .sealed = f->sealed, .crc32c = f->crc};
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

struct seg_import {
    char *dir;
    struct seg_file file; /* sealed; its points move into the store */
    uint64_t last_index;  /* Raft index of the file's last record */
};

void seg_import_free(struct seg_import *imp)
{
    if (imp == NULL) {
        return;
    }
    eddy_free(imp->file.points);
    eddy_free(imp->dir);
    eddy_free(imp);
}

const char *seg_import_name(const struct seg_import *imp)
{
    return imp->file.name;
}

uint64_t seg_import_bytes(const struct seg_import *imp)
{
    return imp->file.bytes;
}

uint32_t seg_import_crc32c(const struct seg_import *imp)
{
    return imp->file.crc;
}

/* Verifies the open file fd as imp->file; the order checks run against a
 * zeroed scratch store, so they cover this file alone. */
static int seg_import_verify(struct seg_import *imp, int fd, uint64_t size)
{
    struct seg_store scratch;
    memset(&scratch, 0, sizeof(scratch));
    struct seg_reader rd;
    seg_reader_init(&rd);
    seg_reader_attach(&rd, fd, size);
    uint64_t off = 0;
    const char *why = "";
    int rv = seg_file_check_header(&rd, &imp->file, &why);
    if (rv == 0) {
        off = SEG_FILE_HEADER_BYTES;
        rv = seg_file_scan(&scratch, &imp->file, &rd, &off, &why);
    }
    if (rv == 0 && imp->file.record_count == 0) {
        why = "no records";
        rv = -EDDY_ECORRUPT;
    }
    eddy_free(rd.buf);
    if (rv != 0) {
        LOG_WARN("segment import rejected dir=%s file=%s offset=%" PRIu64 " err=%s reason=%s",
                 imp->dir, imp->file.name, off, eddy_strerror(rv),
                 rv == -EDDY_ECORRUPT ? why : "-");
        return rv;
    }
    imp->last_index = scratch.last_index;
    imp->file.sealed = true;
    return 0;
}

/* seg_import_scan of the file "<dir>/<name><suffix>", as the file name. */
static int
seg_import_scan_path(const char *dir, const char *name, const char *suffix, struct seg_import **out)
{
    *out = NULL;
    u128 first_seq;
    if (!seg_file_name_parse(name, &first_seq)) {
        return -EDDY_EINVAL;
    }
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return -ENAMETOOLONG;
    }
    int rv;
    struct stat st;
    struct seg_import *imp = eddy_calloc(1, sizeof(*imp));
    if (imp == NULL) {
        return -ENOMEM;
    }
    imp->dir = eddy_strdup(dir);
    if (imp->dir == NULL) {
        rv = -ENOMEM;
        goto err_after_alloc;
    }
    memcpy(imp->file.name, name, SEG_FILE_NAME_LEN + 1);
    imp->file.first_seq = first_seq;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rv = -errno;
        goto err_after_alloc;
    }
    rv = fstat(fd, &st) != 0 ? -errno : seg_import_verify(imp, fd, (uint64_t)st.st_size);
    close(fd);
    if (rv != 0) {
        goto err_after_alloc;
    }
    EDDY_ASSERT(imp->file.bytes == (uint64_t)st.st_size);
    *out = imp;
    return 0;

err_after_alloc:
    seg_import_free(imp);
    return rv;
}

int seg_import_scan(const char *dir, const char *name, struct seg_import **out)
{
    EDDY_ASSERT(dir != NULL);
    EDDY_ASSERT(name != NULL);
    EDDY_ASSERT(out != NULL);
    return seg_import_scan_path(dir, name, "", out);
}

/* True when every record of a comes before every record of b. */
static bool seg_file_precedes(const struct seg_file *a, const struct seg_file *b)
{
    return a->seq_max < b->seq_min && a->arrival_max_ms <= b->arrival_min_ms;
}

/* Puts the imported file at index i; its points move into the store. */
static int seg_store_insert(struct seg_store *s, size_t i, struct seg_import *imp)
{
    int rv = seg_store_reserve_files(s, s->file_count + 1);
    if (rv != 0) {
        return rv;
    }
    memmove(&s->files[i + 1], &s->files[i], (s->file_count - i) * sizeof(*s->files));
    s->files[i] = imp->file;
    imp->file.points = NULL;
    s->file_count++;
    s->bytes += s->files[i].bytes;
    if (i + 1 == s->file_count) {
        s->last_seq = s->files[i].seq_max;
        s->last_index = imp->last_index;
        s->last_arrival_ms = s->files[i].arrival_max_ms;
    }
    return 0;
}

int seg_store_import(struct seg_store *s, struct seg_import *imp)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(imp != NULL);
    const struct seg_file *in = &imp->file;
    size_t i = seg_store_find_name(s, in->name);
    bool has_next = i < s->file_count;
    int rv = s->error;
    if (rv != 0) {
        /* the store is failed: nothing may change it */
    } else if (strcmp(imp->dir, s->dir) != 0) {
        rv = -EDDY_EINVAL;
    } else if (has_next && strcmp(s->files[i].name, in->name) == 0) {
        rv = -EDDY_EEXISTS;
    } else if (!has_next && s->active_fd >= 0) {
        rv = -EDDY_EINVAL; /* appends own the active file's successor */
    } else if (s->shadow_count > 0 && strcmp(in->name, s->shadow[0].name) >= 0) {
        rv = -EDDY_EINVAL; /* the base and what follows it come by a merge */
    } else if ((i > 0 && !seg_file_precedes(&s->files[i - 1], in)) ||
               (has_next && !seg_file_precedes(in, &s->files[i]))) {
        rv = -EDDY_ECORRUPT;
    } else {
        rv = seg_store_insert(s, i, imp);
    }
    if (rv != 0) {
        LOG_WARN("segment import failed dir=%s file=%s err=%s", s->dir, in->name,
                 eddy_strerror(rv));
    } else {
        LOG_DEBUG("segment imported dir=%s file=%s bytes=%" PRIu64, s->dir, s->files[i].name,
                  s->files[i].bytes);
    }
    seg_import_free(imp);
    return rv;
}

int seg_store_import_file(struct seg_store *s, const char *name)
{
    EDDY_ASSERT(s != NULL);
    struct seg_import *imp;
    int rv = seg_import_scan(s->dir, name, &imp);
    return rv != 0 ? rv : seg_store_import(s, imp);
}

/* ---- hydration: the base and the merge ---- */

#define SEG_PART_SUFFIX ".part"
#define SEG_PART_NAME_BYTES (SEG_FILE_NAME_LEN + sizeof(SEG_PART_SUFFIX))
/* A merge copies on the threadpool while appends go on. What arrived during
 * a round is copied by another round until it is at most this much, then on
 * the loop; after SEG_MERGE_ROUNDS_MAX rounds the rest is copied on the loop
 * whatever its size (appends outrun the copy only under a write rate far
 * above a shard's). */
#define SEG_MERGE_CATCHUP_BYTES_MAX (1024 * 1024)
#define SEG_MERGE_ROUNDS_MAX 8
/* Writes go out in buffers of at least one whole record. */
#define SEG_MERGE_WRITE_BYTES SEG_RECORD_BYTES_MAX

static_assert(SEG_MERGE_CATCHUP_BYTES_MAX < SEG_FILE_BYTES_MAX,
              "a catch-up is a fraction of a file");

int seg_store_track_base(struct seg_store *s, const char *name, uint64_t bytes, uint32_t crc32c)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(name != NULL);
    u128 first_seq;
    if (!seg_file_name_parse(name, &first_seq) || bytes <= SEG_FILE_HEADER_BYTES) {
        return -EDDY_EINVAL;
    }
    /* Every append from now on must follow the base. */
    if (s->active_fd >= 0 ||
        (s->file_count > 0 && strcmp(s->files[s->file_count - 1].name, name) >= 0)) {
        return -EDDY_EINVAL;
    }
    struct seg_shadow *v = eddy_calloc(4, sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    seg_store_untrack_base(s);
    s->shadow = v;
    s->shadow_cap = 4;
    s->shadow_count = 1;
    memcpy(v->name, name, SEG_FILE_NAME_LEN + 1);
    v->bytes = bytes;
    v->crc = crc32c;
    v->crc_known = crc32c != 0;
    LOG_DEBUG("segment base tracked dir=%s file=%s bytes=%" PRIu64, s->dir, name, bytes);
    return 0;
}

void seg_store_untrack_base(struct seg_store *s)
{
    EDDY_ASSERT(s != NULL);
    eddy_free(s->shadow);
    s->shadow = NULL;
    s->shadow_count = 0;
    s->shadow_cap = 0;
    s->base_gen++;
}

const char *seg_store_base(const struct seg_store *s)
{
    return s->shadow_count > 0 ? s->shadow[0].name : NULL;
}

static bool seg_shadow_is_sealed(const struct seg_store *s, size_t i)
{
    return i + 1 < s->shadow_count || s->shadow[i].bytes >= SEG_FILE_BYTES_MAX;
}

void seg_store_base_files(const struct seg_store *s, seg_file_cb cb, void *arg)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(cb != NULL);
    for (size_t i = 0; i < s->shadow_count; i++) {
        const struct seg_shadow *v = &s->shadow[i];
        struct seg_file_info info = {.name = v->name,
                                     .bytes = v->bytes,
                                     .sealed = seg_shadow_is_sealed(s, i),
                                     .crc32c = v->crc_known ? v->crc : 0};
        cb(arg, &info);
    }
}

/* Makes room for the file the next record may start in the tracked layout,
 * so that accounting for it after its write cannot fail. */
static int seg_store_shadow_reserve(struct seg_store *s)
{
    if (s->shadow_count == 0 || !seg_shadow_is_sealed(s, s->shadow_count - 1) ||
        s->shadow_count < s->shadow_cap) {
        return 0;
    }
    if (s->shadow_count >= SEG_FILE_COUNT_MAX) {
        return -EDDY_ELIMIT;
    }
    struct seg_shadow *v = eddy_realloc(s->shadow, s->shadow_cap * 2 * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    s->shadow = v;
    s->shadow_cap *= 2;
    return 0;
}

/* Extends the tracked layout by the record r, written as iov: the same rule
 * as appends (the record that takes a file to SEG_FILE_BYTES_MAX seals it;
 * the next one starts a file named after itself). */
static void seg_store_shadow_add(struct seg_store *s,
                                 const struct seg_record *r,
                                 const struct iovec *iov,
                                 int iov_count)
{
    if (s->shadow_count == 0) {
        return;
    }
    struct seg_shadow *v = &s->shadow[s->shadow_count - 1];
    if (seg_shadow_is_sealed(s, s->shadow_count - 1)) {
        EDDY_ASSERT(s->shadow_count < s->shadow_cap);
        v = &s->shadow[s->shadow_count++];
        uint8_t h[SEG_FILE_HEADER_BYTES];
        seg_file_header_encode(r->seq, h);
        seg_file_name_format(r->seq, v->name);
        v->bytes = SEG_FILE_HEADER_BYTES;
        v->crc = crc32c_update(0, h, sizeof(h));
        v->crc_known = true;
    }
    for (int k = 0; k < iov_count; k++) {
        v->crc = crc32c_update(v->crc, iov[k].iov_base, iov[k].iov_len);
        v->bytes += iov[k].iov_len;
    }
}

/* A store file after the base, as the merge last saw it. */
struct seg_merge_tail {
    char name[SEG_FILE_NAME_LEN + 1];
    uint64_t bytes;
};

/* Ownership: the loop thread creates, finishes and frees it; seg_merge_copy
 * runs between those, alone, and reads no field the loop writes meanwhile
 * (the loop only clears `store` when the store closes). */
struct seg_merge {
    struct seg_store *store; /* NULL once the store closed */
    uint64_t base_gen;
    char name[SEG_FILE_NAME_LEN + 1]; /* the base */
    char *dir;
    int dir_fd;
    struct seg_merge_tail *tail; /* the store's files after the base, oldest first */
    size_t tail_count;
    size_t tail_cap;
    size_t cursor_file;    /* records are copied up to tail[cursor_file] ... */
    uint64_t cursor_off;   /* ... at this offset; 0 before its file header */
    struct seg_file *outs; /* the base, then the files sealing starts */
    size_t out_count;
    size_t out_cap;
    int fd; /* the newest output's part file (O_APPEND), -1 when none is open */
    uint8_t *wbuf;
    size_t wbuf_len;
    u128 last_seq; /* of the last record copied */
    uint64_t last_arrival_ms;
    uint64_t last_index;
    uint64_t base_bytes; /* the fetched base, as verified */
    uint32_t base_crc;
    unsigned rounds;
    int error; /* sticky: a failed copy leaves the outputs unknown */
    bool is_committed;
};

static void seg_part_name(const char *name, char out[SEG_PART_NAME_BYTES])
{
    memcpy(out, name, SEG_FILE_NAME_LEN);
    memcpy(out + SEG_FILE_NAME_LEN, SEG_PART_SUFFIX, sizeof(SEG_PART_SUFFIX));
}

static void seg_store_detach_merge(struct seg_store *s)
{
    if (s->merge != NULL) {
        EDDY_ASSERT(s->merge->store == s);
        s->merge->store = NULL;
        s->merge = NULL;
    }
}

/* Brings m->tail up to the store's files after the base: the files seen
 * before must still be there, unchanged but for the newest one, which may
 * have grown. *pending gets the bytes not copied yet. */
static int seg_merge_capture(const struct seg_store *s, struct seg_merge *m, uint64_t *pending)
{
    size_t i0 = seg_store_find_name(s, m->name);
    if (i0 < s->file_count && strcmp(s->files[i0].name, m->name) == 0) {
        return -EDDY_EEXISTS;
    }
    size_t n = s->file_count - i0;
    if (n < m->tail_count) {
        return -EDDY_EINUSE;
    }
    for (size_t k = 0; k < m->tail_count; k++) {
        const struct seg_file *f = &s->files[i0 + k];
        const struct seg_merge_tail *t = &m->tail[k];
        bool is_last = k + 1 == m->tail_count;
        if (strcmp(f->name, t->name) != 0 || f->bytes < t->bytes ||
            (!is_last && f->bytes != t->bytes)) {
            return -EDDY_EINUSE;
        }
    }
    if (n > m->tail_cap) {
        struct seg_merge_tail *t = eddy_realloc(m->tail, n * sizeof(*t));
        if (t == NULL) {
            return -ENOMEM;
        }
        m->tail = t;
        m->tail_cap = n;
    }
    *pending = 0;
    size_t from = m->tail_count > 0 ? m->tail_count - 1 : 0;
    for (size_t k = from; k < n; k++) {
        const struct seg_file *f = &s->files[i0 + k];
        struct seg_merge_tail *t = &m->tail[k];
        *pending += f->bytes - (k < m->tail_count ? t->bytes : 0);
        memcpy(t->name, f->name, SEG_FILE_NAME_LEN + 1);
        t->bytes = f->bytes;
    }
    m->tail_count = n;
    return 0;
}

int seg_merge_create(struct seg_store *s, struct seg_merge **out)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(out != NULL);
    *out = NULL;
    if (s->error != 0) {
        return s->error;
    }
    if (s->shadow_count == 0) {
        return -EDDY_EINVAL;
    }
    if (s->merge != NULL) {
        return -EDDY_EINUSE;
    }
    int rv = -ENOMEM;
    struct seg_merge *m = eddy_calloc(1, sizeof(*m));
    if (m == NULL) {
        return rv;
    }
    m->dir_fd = -1;
    m->fd = -1;
    m->dir = eddy_strdup(s->dir);
    m->wbuf = eddy_malloc(SEG_MERGE_WRITE_BYTES);
    if (m->dir == NULL || m->wbuf == NULL) {
        goto err_after_alloc;
    }
    m->dir_fd = dup(s->dir_fd);
    if (m->dir_fd < 0) {
        rv = -errno;
        goto err_after_alloc;
    }
    memcpy(m->name, s->shadow[0].name, SEG_FILE_NAME_LEN + 1);
    uint64_t pending;
    rv = seg_merge_capture(s, m, &pending);
    if (rv != 0) {
        goto err_after_alloc;
    }
    m->base_gen = s->base_gen;
    m->store = s;
    s->merge = m;
    *out = m;
    return 0;

err_after_alloc:
    if (m->dir_fd >= 0) {
        close(m->dir_fd); /* and so seg_merge_free removes nothing */
        m->dir_fd = -1;
    }
    seg_merge_free(m);
    return rv;
}

static int seg_merge_flush(struct seg_merge *m)
{
    if (m->wbuf_len == 0) {
        return 0;
    }
    struct iovec iov = {.iov_base = m->wbuf, .iov_len = m->wbuf_len};
    m->wbuf_len = 0;
    return seg_write_all(m->fd, &iov, 1);
}

static int seg_merge_put(struct seg_merge *m, const void *p, size_t len)
{
    EDDY_ASSERT(len <= SEG_MERGE_WRITE_BYTES);
    if (m->wbuf_len + len > SEG_MERGE_WRITE_BYTES) {
        int rv = seg_merge_flush(m);
        if (rv != 0) {
            return rv;
        }
    }
    memcpy(m->wbuf + m->wbuf_len, p, len);
    m->wbuf_len += len;
    return 0;
}

/* Verifies the fetched base whole and makes it the first output. */
static int seg_merge_open_base(struct seg_merge *m)
{
    struct seg_import *imp;
    int rv = seg_import_scan_path(m->dir, m->name, SEG_PART_SUFFIX, &imp);
    if (rv != 0) {
        return rv;
    }
    m->outs = eddy_calloc(4, sizeof(*m->outs));
    if (m->outs == NULL) {
        seg_import_free(imp);
        return -ENOMEM;
    }
    m->out_cap = 4;
    m->out_count = 1;
    m->outs[0] = imp->file;
    m->outs[0].sealed = false;
    imp->file.points = NULL;
    m->last_seq = m->outs[0].seq_max;
    m->last_arrival_ms = m->outs[0].arrival_max_ms;
    m->last_index = imp->last_index;
    m->base_bytes = m->outs[0].bytes;
    m->base_crc = m->outs[0].crc;
    seg_import_free(imp);
    char part[SEG_PART_NAME_BYTES];
    seg_part_name(m->name, part);
    m->fd = openat(m->dir_fd, part, O_RDWR | O_APPEND | O_CLOEXEC);
    return m->fd < 0 ? -errno : 0;
}

/* Seals the newest output and starts the next, named after seq. */
static int seg_merge_next_output(struct seg_merge *m, u128 seq)
{
    int rv = seg_merge_flush(m);
    if (rv == 0 && fdatasync(m->fd) != 0) {
        rv = -errno;
    }
    if (rv != 0) {
        return rv;
    }
    close(m->fd);
    m->fd = -1;
    m->outs[m->out_count - 1].sealed = true;
    if (m->out_count >= SEG_FILE_COUNT_MAX) {
        return -EDDY_ELIMIT;
    }
    if (m->out_count == m->out_cap) {
        struct seg_file *o = eddy_realloc(m->outs, m->out_cap * 2 * sizeof(*o));
        if (o == NULL) {
            return -ENOMEM;
        }
        m->outs = o;
        m->out_cap *= 2;
    }
    struct seg_file *f = &m->outs[m->out_count];
    memset(f, 0, sizeof(*f));
    seg_file_name_format(seq, f->name);
    f->first_seq = seq;
    char part[SEG_PART_NAME_BYTES];
    seg_part_name(f->name, part);
    m->fd = openat(m->dir_fd, part, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (m->fd < 0) {
        return -errno;
    }
    m->out_count++;
    uint8_t h[SEG_FILE_HEADER_BYTES];
    seg_file_header_encode(seq, h);
    f->crc = crc32c_update(0, h, sizeof(h));
    f->bytes = SEG_FILE_HEADER_BYTES;
    return seg_merge_put(m, h, sizeof(h));
}

/* Appends one verified record, p[0..len), as seg_store_append would. */
static int seg_merge_add(struct seg_merge *m,
                         const struct seg_record *r,
                         const uint8_t *p,
                         uint64_t len,
                         const char **why)
{
    if (r->seq <= m->last_seq || r->arrival_ms < m->last_arrival_ms) {
        *why = "seq or arrival out of order";
        return -EDDY_ECORRUPT;
    }
    int rv = 0;
    if (m->outs[m->out_count - 1].bytes >= SEG_FILE_BYTES_MAX) {
        rv = seg_merge_next_output(m, r->seq);
    }
    struct seg_file *f = &m->outs[m->out_count - 1];
    if (rv == 0) {
        rv = seg_file_reserve_point(f, f->bytes);
    }
    if (rv == 0) {
        rv = seg_merge_put(m, p, (size_t)len);
    }
    if (rv != 0) {
        *why = "-";
        return rv;
    }
    f->crc = crc32c_update(f->crc, p, (size_t)len);
    seg_file_add(f, r, f->bytes, len);
    m->last_seq = r->seq;
    m->last_arrival_ms = r->arrival_ms;
    m->last_index = r->raft_index;
    return 0;
}

/* Copies the records of tail[cursor_file] from the cursor to its captured
 * length. */
static int seg_merge_copy_file(struct seg_merge *m, struct seg_reader *rd)
{
    const struct seg_merge_tail *t = &m->tail[m->cursor_file];
    if (m->cursor_off >= t->bytes) {
        return 0;
    }
    int fd = openat(m->dir_fd, t->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    seg_reader_attach(rd, fd, t->bytes);
    uint64_t off = m->cursor_off;
    const char *why = "-";
    int rv = 0;
    if (off == 0) {
        struct seg_file head = {.first_seq = seg_file_name_seq(t->name)};
        rv = seg_file_check_header(rd, &head, &why);
        off = SEG_FILE_HEADER_BYTES;
    }
    while (rv == 0 && off < t->bytes) {
        struct seg_record r;
        uint64_t len;
        const uint8_t *p;
        rv = seg_record_read(rd, off, &r, &len, &why);
        if (rv == 0) {
            rv = seg_reader_get(rd, off, (size_t)len, &p); /* buffered: no read */
        }
        if (rv == 0) {
            rv = seg_merge_add(m, &r, p, len, &why);
        }
        if (rv == 0) {
            off += len;
        }
    }
    close(fd);
    rd->fd = -1;
    m->cursor_off = off;
    if (rv != 0) {
        LOG_WARN("segment merge read failed dir=%s file=%s offset=%" PRIu64 " err=%s reason=%s",
                 m->dir, t->name, off, eddy_strerror(rv), why);
    }
    return rv;
}

/* Copies everything captured and not copied yet. */
static int seg_merge_copy_tail(struct seg_merge *m)
{
    if (m->tail_count == 0) {
        return 0;
    }
    struct seg_reader rd;
    seg_reader_init(&rd);
    int rv;
    for (;;) {
        rv = seg_merge_copy_file(m, &rd);
        if (rv != 0 || m->cursor_file + 1 == m->tail_count) {
            break;
        }
        m->cursor_file++;
        m->cursor_off = 0;
    }
    eddy_free(rd.buf);
    return rv != 0 ? rv : seg_merge_flush(m);
}

int seg_merge_copy(struct seg_merge *m)
{
    EDDY_ASSERT(m != NULL);
    EDDY_ASSERT(!m->is_committed);
    if (m->error != 0) {
        return m->error;
    }
    int rv = m->out_count == 0 ? seg_merge_open_base(m) : 0;
    if (rv == 0) {
        rv = seg_merge_copy_tail(m);
    }
    m->error = rv;
    return rv;
}

const char *seg_merge_name(const struct seg_merge *m)
{
    return m->name;
}

uint64_t seg_merge_base_bytes(const struct seg_merge *m)
{
    return m->base_bytes;
}

uint32_t seg_merge_base_crc32c(const struct seg_merge *m)
{
    return m->base_crc;
}

/* The outputs must be what the store tracked, and follow its older files. */
static int seg_merge_check(const struct seg_store *s, const struct seg_merge *m, size_t i0)
{
    if (i0 > 0 && !seg_file_precedes(&s->files[i0 - 1], &m->outs[0])) {
        return -EDDY_ECORRUPT;
    }
    if (m->tail_count > 0 && m->last_seq != s->last_seq) {
        return -EDDY_ECORRUPT;
    }
    if (s->shadow_count != m->out_count) {
        return -EDDY_ECORRUPT;
    }
    for (size_t k = 0; k < m->out_count; k++) {
        const struct seg_shadow *v = &s->shadow[k];
        const struct seg_file *f = &m->outs[k];
        if (strcmp(v->name, f->name) != 0 || v->bytes != f->bytes ||
            (v->crc_known && v->crc != f->crc)) {
            return -EDDY_ECORRUPT;
        }
    }
    return 0;
}

static bool seg_merge_has_output(const struct seg_merge *m, const char *name)
{
    size_t lo = 0;
    size_t hi = m->out_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->outs[mid].name, name);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static int seg_merge_rename(struct seg_merge *m, size_t k)
{
    char part[SEG_PART_NAME_BYTES];
    seg_part_name(m->outs[k].name, part);
    return renameat(m->dir_fd, part, m->dir_fd, m->outs[k].name) != 0 ? -errno : 0;
}

/* Puts the outputs in place of the store's files after the base, in an
 * order a crash at any point leaves recoverable (server/README.md,
 * "Hydration"): the outputs are durable first; then the files after the
 * base that no output replaces go; then the outputs after the base take
 * their names; then the base does, last. */
static int seg_merge_commit(struct seg_store *s, struct seg_merge *m, size_t i0)
{
    int rv = seg_merge_flush(m);
    if (rv == 0 && fdatasync(m->fd) != 0) {
        rv = -errno;
    }
    if (rv != 0) {
        return rv; /* nothing changed yet */
    }
    for (size_t k = i0; k < s->file_count && rv == 0; k++) {
        const char *name = s->files[k].name;
        if (!seg_merge_has_output(m, name) && unlinkat(s->dir_fd, name, 0) != 0) {
            rv = -errno;
        }
    }
    if (rv == 0 && fsync(s->dir_fd) != 0) {
        rv = -errno;
    }
    for (size_t k = 1; k < m->out_count && rv == 0; k++) {
        rv = seg_merge_rename(m, k);
    }
    if (rv == 0 && fsync(s->dir_fd) != 0) {
        rv = -errno;
    }
    if (rv == 0) {
        rv = seg_merge_rename(m, 0);
    }
    if (rv == 0 && fsync(s->dir_fd) != 0) {
        rv = -errno;
    }
    if (rv != 0) {
        s->error = rv; /* between two layouts: only a restart sorts it out */
        LOG_ERROR("segment merge commit failed dir=%s file=%s err=%s", s->dir, m->name,
                  eddy_strerror(rv));
    }
    return rv;
}

/* The outputs replace s->files[i0..]; room for them was reserved. */
static void seg_merge_swap(struct seg_store *s, struct seg_merge *m, size_t i0)
{
    if (s->active_fd >= 0) {
        close(s->active_fd);
        s->active_fd = -1;
    }
    for (size_t k = i0; k < s->file_count; k++) {
        s->bytes -= s->files[k].bytes;
        eddy_free(s->files[k].points);
    }
    EDDY_ASSERT(i0 + m->out_count <= s->file_cap);
    memcpy(&s->files[i0], m->outs, m->out_count * sizeof(*m->outs));
    s->file_count = i0 + m->out_count;
    for (size_t k = 0; k < m->out_count; k++) {
        s->bytes += m->outs[k].bytes;
    }
    m->out_count = 0; /* the points moved */
    struct seg_file *f = &s->files[s->file_count - 1];
    f->sealed = f->bytes >= SEG_FILE_BYTES_MAX; /* fdatasynced by the commit */
    if (f->sealed) {
        close(m->fd);
    } else {
        s->active_fd = m->fd;
    }
    m->fd = -1;
    s->last_seq = m->last_seq;
    s->last_index = m->last_index;
    s->last_arrival_ms = m->last_arrival_ms;
    seg_store_untrack_base(s);
    seg_store_detach_merge(s);
    m->is_committed = true;
}

int seg_merge_finish(struct seg_store *s, struct seg_merge *m)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(m != NULL);
    EDDY_ASSERT(!m->is_committed);
    if (m->error != 0) {
        return m->error;
    }
    EDDY_ASSERT(m->out_count > 0); /* seg_merge_copy ran */
    if (m->store != s || m->base_gen != s->base_gen) {
        return -EDDY_EINUSE;
    }
    if (s->error != 0) {
        return s->error;
    }
    uint64_t pending;
    int rv = seg_merge_capture(s, m, &pending);
    if (rv == 0 && pending > SEG_MERGE_CATCHUP_BYTES_MAX && m->rounds < SEG_MERGE_ROUNDS_MAX) {
        m->rounds++;
        return SEG_MERGE_AGAIN;
    }
    if (rv == 0 && pending > SEG_MERGE_CATCHUP_BYTES_MAX) {
        LOG_WARN("segment merge catching up on the loop dir=%s file=%s bytes=%" PRIu64, s->dir,
                 m->name, pending);
    }
    if (rv == 0) {
        rv = seg_merge_copy_tail(m);
    }
    size_t i0 = seg_store_find_name(s, m->name);
    if (rv == 0) {
        rv = seg_merge_check(s, m, i0);
    }
    if (rv == 0) {
        rv = seg_store_reserve_files(s, i0 + m->out_count);
    }
    if (rv == 0) {
        rv = seg_merge_commit(s, m, i0);
    }
    if (rv != 0) {
        m->error = rv;
        LOG_WARN("segment merge failed dir=%s file=%s err=%s", s->dir, m->name, eddy_strerror(rv));
        return rv;
    }
    size_t replaced = s->file_count - i0;
    seg_merge_swap(s, m, i0);
    LOG_INFO("segment merged dir=%s file=%s files_replaced=%zu files=%zu rounds=%u "
             "bytes_on_loop=%" PRIu64,
             s->dir, s->files[i0].name, replaced, s->file_count - i0, m->rounds, pending);
    return 0;
}

void seg_merge_free(struct seg_merge *m)
{
    if (m == NULL) {
        return;
    }
    if (m->store != NULL) {
        seg_store_detach_merge(m->store);
    }
    if (m->fd >= 0) {
        close(m->fd);
    }
    if (!m->is_committed && m->dir_fd >= 0) {
        char part[SEG_PART_NAME_BYTES];
        seg_part_name(m->name, part);
        unlinkat(m->dir_fd, part, 0); /* the fetched base too: it is fetched again */
        for (size_t k = 1; k < m->out_count; k++) {
            seg_part_name(m->outs[k].name, part);
            unlinkat(m->dir_fd, part, 0);
        }
    }
    for (size_t k = 0; k < m->out_count; k++) {
        eddy_free(m->outs[k].points);
    }
    if (m->dir_fd >= 0) {
        close(m->dir_fd);
    }
    eddy_free(m->outs);
    eddy_free(m->tail);
    eddy_free(m->wbuf);
    eddy_free(m->dir);
    eddy_free(m);
}

#define SEG_ASIDE_SUFFIX ".aside"

int seg_dir_set_aside(const char *dir, seg_keep_cb keep, void *arg)
{
    EDDY_ASSERT(dir != NULL);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    int dir_fd = dirfd(d);
    int count = 0;
    int rv = 0;
    for (struct dirent *e; rv == 0 && (e = readdir(d)) != NULL;) {
        u128 seq;
        if (!seg_file_name_parse(e->d_name, &seq) || (keep != NULL && keep(arg, e->d_name))) {
            continue;
        }
        char aside[SEG_FILE_NAME_LEN + sizeof(SEG_ASIDE_SUFFIX)];
        memcpy(aside, e->d_name, SEG_FILE_NAME_LEN);
        memcpy(aside + SEG_FILE_NAME_LEN, SEG_ASIDE_SUFFIX, sizeof(SEG_ASIDE_SUFFIX));
        if (renameat(dir_fd, e->d_name, dir_fd, aside) != 0) {
            rv = -errno;
            break;
        }
        count++;
    }
    if (rv == 0 && count > 0 && fsync(dir_fd) != 0) {
        rv = -errno;
    }
    closedir(d);
    if (rv != 0) {
        LOG_ERROR("segment set aside failed dir=%s err=%s", dir, eddy_strerror(rv));
        return rv;
    }
    if (count > 0) {
        LOG_INFO("segment files set aside dir=%s files=%d", dir, count);
    }
    return count;
}

int seg_dir_remove_aside(const char *dir)
{
    EDDY_ASSERT(dir != NULL);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    const size_t suffix_len = strlen(SEG_ASIDE_SUFFIX);
    int count = 0;
    int rv = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len <= suffix_len || strcmp(e->d_name + len - suffix_len, SEG_ASIDE_SUFFIX) != 0) {
            continue;
        }
        if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
            rv = -errno;
            break;
        }
        count++;
    }
    closedir(d);
    return rv != 0 ? rv : count;
}

/* The newest file is kept even when sealed and old, so that last_seq and
 * last_index survive a restart. */
int seg_store_trim(struct seg_store *s, uint64_t cutoff_ms)
{
    EDDY_ASSERT(s != NULL);
    size_t n = 0;
    int rv = 0;
    while (n + 1 < s->file_count && s->files[n].arrival_max_ms < cutoff_ms) {
        struct seg_file *f = &s->files[n];
        EDDY_ASSERT(f->sealed);
        if (unlinkat(s->dir_fd, f->name, 0) != 0 && errno != ENOENT) {
            rv = -errno;
            LOG_ERROR("segment trim failed dir=%s file=%s err=%s", s->dir, f->name,
                      eddy_strerror(rv));
            break;
        }
        s->bytes -= f->bytes;
        eddy_free(f->points);
        n++;
    }
    if (n > 0) {
        memmove(s->files, s->files + n, (s->file_count - n) * sizeof(*s->files));
        s->file_count -= n;
        LOG_INFO("segment files trimmed dir=%s files=%zu cutoff_ms=%" PRIu64, s->dir, n, cutoff_ms);
    }
    return rv != 0 ? rv : (int)n;
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
