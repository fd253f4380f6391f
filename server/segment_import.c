/*
 * Fetched segment files (segment.h): seg_import_scan verifies a file fetched
 * from a peer, seg_store_import and seg_store_import_file add a verified file
 * to a store, and seg_dir_set_aside / seg_dir_remove_aside move the files of
 * a directory out of the way and delete them later. The store itself lives in
 * segment.c; the shared internals in segment_internal.h.
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
int seg_import_scan_path(const char *dir,
                         const char *name,
                         const char *suffix,
                         struct seg_import **out)
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
bool seg_file_precedes(const struct seg_file *a, const struct seg_file *b)
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
