/*
 * Hydration (segment.h): tracking a fetched base and the layout a peer holds
 * from it on (seg_store_track_base, the shadow), and the seg_merge_*
 * machinery that copies the records appended since onto the base and swaps
 * the result into the store. The store itself lives in segment.c; the shared
 * internals in segment_internal.h.
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
                                     .crc32c = v->crc_known ? v->crc : 0,
                                     .arrival_max_ms = v->arrival_max_ms};
        cb(arg, &info);
    }
}

/* Makes room for the file the next record may start in the tracked layout,
 * so that accounting for it after its write cannot fail. */
int seg_store_shadow_reserve(struct seg_store *s)
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
void seg_store_shadow_add(struct seg_store *s,
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
    v->arrival_max_ms = r->arrival_ms;
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

void seg_store_detach_merge(struct seg_store *s)
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
