/*
 * fsync_shim: an LD_PRELOAD library that records, for every file under one
 * directory, how much of it is known to be on disk, so that tools/chaos can
 * simulate a power loss: after SIGKILL it truncates each file to its last
 * durable length ("lost un-fsynced writes", Jepsen's lazyfs nemesis without
 * FUSE). A plain SIGKILL loses nothing that reached the page cache, so a
 * harness without this step never tests what an acknowledgement promises.
 *
 * Environment:
 *   CHAOS_FSYNC_LOG   file to append the journal to (nothing is recorded
 *                     when unset)
 *   CHAOS_FSYNC_ROOT  only paths under this absolute directory are recorded
 *
 * Journal: one line per event, written with one write(2) on an O_APPEND
 * descriptor (so lines from several threads never interleave):
 *   O <size> <path>   opened for writing (size after the open)
 *   Z 0 <path>        opened with O_TRUNC
 *   D <size> <path>   opened with O_DSYNC or O_SYNC: every write is durable
 *   S <size> <path>   fsync or fdatasync succeeded at this size
 *   T <size> <path>   ftruncate to size
 *   R <old>\t<new>    renamed
 *   U 0 <path>        unlinked
 * tools/lib/chaos/cluster.py (durable_lengths) replays it: a file's durable
 * length is its size at its first open in the process's life, then its size
 * at each fsync; files opened O_DSYNC (canonical/raft's open segments,
 * written by Linux AIO, which no LD_PRELOAD sees) are never cut.
 *
 * Not modelled: directory entries (a created file survives even if its
 * directory was never fsynced), writes through mmap, sync_file_range (not a
 * durability barrier), torn writes inside a page.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One journal line: op, size, two paths and separators. */
#define SHIM_LINE_BYTES_MAX (2 * PATH_MAX + 64)

typedef int (*shim_open_fn)(const char *, int, ...);
typedef int (*shim_openat_fn)(int, const char *, int, ...);
typedef int (*shim_fd_fn)(int);
typedef int (*shim_ftruncate_fn)(int, off_t);
typedef int (*shim_rename_fn)(const char *, const char *);
typedef int (*shim_renameat_fn)(int, const char *, int, const char *);
typedef int (*shim_renameat2_fn)(int, const char *, int, const char *, unsigned);
typedef int (*shim_unlink_fn)(const char *);
typedef int (*shim_unlinkat_fn)(int, const char *, int);

/* Resolved once per symbol; a race resolves the same pointer twice. */
static void *shim_next(void **slot, const char *name)
{
    if (*slot == NULL) {
        *slot = dlsym(RTLD_NEXT, name);
    }
    return *slot;
}

#define SHIM_REAL(type, name)                                                                      \
    static void *shim_real_##name;                                                                 \
    static type shim_##name##_real(void)                                                           \
    {                                                                                              \
        return (type)shim_next(&shim_real_##name, #name);                                          \
    }

SHIM_REAL(shim_open_fn, open)
SHIM_REAL(shim_open_fn, open64)
SHIM_REAL(shim_openat_fn, openat)
SHIM_REAL(shim_openat_fn, openat64)
SHIM_REAL(shim_fd_fn, fsync)
SHIM_REAL(shim_fd_fn, fdatasync)
SHIM_REAL(shim_ftruncate_fn, ftruncate)
SHIM_REAL(shim_ftruncate_fn, ftruncate64)
SHIM_REAL(shim_rename_fn, rename)
SHIM_REAL(shim_renameat_fn, renameat)
SHIM_REAL(shim_renameat2_fn, renameat2)
SHIM_REAL(shim_unlink_fn, unlink)
SHIM_REAL(shim_unlinkat_fn, unlinkat)

/* -2: not opened yet; -1: recording is off. */
static int shim_log_fd = -2;
static const char *shim_root;
static size_t shim_root_len;

static int shim_log(void)
{
    if (shim_log_fd == -2) {
        const char *path = getenv("CHAOS_FSYNC_LOG");
        shim_root = getenv("CHAOS_FSYNC_ROOT");
        shim_root_len = shim_root != NULL ? strlen(shim_root) : 0;
        int fd = -1;
        if (path != NULL && shim_root_len > 0) {
            int saved = errno;
            fd = shim_open_real()(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            errno = saved;
        }
        shim_log_fd = fd;
    }
    return shim_log_fd;
}

__attribute__((constructor)) static void shim_init(void)
{
    (void)shim_log();
}

static int shim_under_root(const char *path)
{
    return strncmp(path, shim_root, shim_root_len) == 0 &&
           (path[shim_root_len] == '/' || path[shim_root_len] == '\0');
}

/* The absolute path of fd, or "" when it has none. */
static void shim_fd_path(int fd, char *out, size_t len)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, len - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* path made absolute against dirfd (or the working directory). */
static void shim_abs_path(int dirfd, const char *path, char *out, size_t len)
{
    if (path[0] == '/') {
        snprintf(out, len, "%s", path);
        return;
    }
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (getcwd(base, sizeof(base)) == NULL) {
            base[0] = '\0';
        }
    } else {
        shim_fd_path(dirfd, base, sizeof(base));
    }
    snprintf(out, len, "%s/%s", base, path);
}

static void shim_write_line(const char *line, size_t n)
{
    int saved = errno;
    ssize_t w = write(shim_log_fd, line, n);
    (void)w; /* a lost journal line can only make the harness cut less */
    errno = saved;
}

static void shim_record_path(char op, long long size, const char *path)
{
    if (shim_log() < 0 || !shim_under_root(path)) {
        return;
    }
    char line[SHIM_LINE_BYTES_MAX];
    int n = snprintf(line, sizeof(line), "%c %lld %s\n", op, size, path);
    if (n > 0 && (size_t)n < sizeof(line)) {
        shim_write_line(line, (size_t)n);
    }
}

static void shim_record_fd(char op, int fd)
{
    if (shim_log() < 0) {
        return;
    }
    int saved = errno;
    char path[PATH_MAX];
    shim_fd_path(fd, path, sizeof(path));
    struct stat st;
    if (path[0] == '/' && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        shim_record_path(op, (long long)st.st_size, path);
    }
    errno = saved;
}

static void shim_after_open(int fd, int flags)
{
    if (fd < 0 || (flags & O_ACCMODE) == O_RDONLY) {
        return;
    }
    if (flags & O_DSYNC) {
        shim_record_fd('D', fd);
    } else if (flags & O_TRUNC) {
        shim_record_fd('Z', fd);
    } else {
        shim_record_fd('O', fd);
    }
}

static mode_t shim_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim_open_real()(path, flags, mode);
    shim_after_open(fd, flags);
    return fd;
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim_open64_real()(path, flags, mode);
    shim_after_open(fd, flags);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim_openat_real()(dirfd, path, flags, mode);
    shim_after_open(fd, flags);
    return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim_openat64_real()(dirfd, path, flags, mode);
    shim_after_open(fd, flags);
    return fd;
}

/* The _FORTIFY_SOURCE entry points (two arguments, no mode). */
int __open_2(const char *path, int flags)
{
    return open(path, flags);
}

int __open64_2(const char *path, int flags)
{
    return open64(path, flags);
}

int __openat_2(int dirfd, const char *path, int flags)
{
    return openat(dirfd, path, flags);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
    return openat64(dirfd, path, flags);
}

int creat(const char *path, mode_t mode)
{
    return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
    return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int fsync(int fd)
{
    int rv = shim_fsync_real()(fd);
    if (rv == 0) {
        shim_record_fd('S', fd);
    }
    return rv;
}

int fdatasync(int fd)
{
    int rv = shim_fdatasync_real()(fd);
    if (rv == 0) {
        shim_record_fd('S', fd);
    }
    return rv;
}

int ftruncate(int fd, off_t length)
{
    int rv = shim_ftruncate_real()(fd, length);
    if (rv == 0) {
        shim_record_fd('T', fd);
    }
    return rv;
}

int ftruncate64(int fd, off_t length)
{
    int rv = shim_ftruncate64_real()(fd, length);
    if (rv == 0) {
        shim_record_fd('T', fd);
    }
    return rv;
}

static void shim_record_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    if (shim_log() < 0) {
        return;
    }
    int saved = errno;
    char a[PATH_MAX];
    char b[PATH_MAX];
    shim_abs_path(olddirfd, oldpath, a, sizeof(a));
    shim_abs_path(newdirfd, newpath, b, sizeof(b));
    if (shim_under_root(a) || shim_under_root(b)) {
        char line[SHIM_LINE_BYTES_MAX];
        int n = snprintf(line, sizeof(line), "R %s\t%s\n", a, b);
        if (n > 0 && (size_t)n < sizeof(line)) {
            shim_write_line(line, (size_t)n);
        }
    }
    errno = saved;
}

int rename(const char *oldpath, const char *newpath)
{
    int rv = shim_rename_real()(oldpath, newpath);
    if (rv == 0) {
        shim_record_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath);
    }
    return rv;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    int rv = shim_renameat_real()(olddirfd, oldpath, newdirfd, newpath);
    if (rv == 0) {
        shim_record_rename(olddirfd, oldpath, newdirfd, newpath);
    }
    return rv;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags)
{
    int rv = shim_renameat2_real()(olddirfd, oldpath, newdirfd, newpath, flags);
    if (rv == 0) {
        shim_record_rename(olddirfd, oldpath, newdirfd, newpath);
    }
    return rv;
}

static void shim_record_unlink(int dirfd, const char *path)
{
    if (shim_log() < 0) {
        return;
    }
    int saved = errno;
    char a[PATH_MAX];
    shim_abs_path(dirfd, path, a, sizeof(a));
    shim_record_path('U', 0, a);
    errno = saved;
}

int unlink(const char *path)
{
    int rv = shim_unlink_real()(path);
    if (rv == 0) {
        shim_record_unlink(AT_FDCWD, path);
    }
    return rv;
}

int unlinkat(int dirfd, const char *path, int flags)
{
    int rv = shim_unlinkat_real()(dirfd, path, flags);
    if (rv == 0 && !(flags & AT_REMOVEDIR)) {
        shim_record_unlink(dirfd, path);
    }
    return rv;
}
