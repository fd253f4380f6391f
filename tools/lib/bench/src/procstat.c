/*
 * /proc readers of procstat.h. Each call opens, reads and closes one small
 * file: they are meant for samples a few times a second, not per request.
 */
#include "procstat.h"

#include "eddy/assert.h"
#include "eddy/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Fields of /proc/<pid>/stat after the command: state is field 3, so utime
 * (14) is the 12th after ')' and stime (15) the 13th. */
#define PROCSTAT_UTIME_AFTER_COMM 12

int procstat_parse_stat_ticks(const char *text, size_t len, uint64_t *ticks)
{
    EDDY_ASSERT(text != NULL || len == 0);
    EDDY_ASSERT(ticks != NULL);
    const char *end = text + len;
    const char *p = NULL;
    for (const char *q = text; q < end; q++) {
        if (*q == ')') {
            p = q + 1;
        }
    }
    if (p == NULL) {
        return -EDDY_EMALFORMED;
    }
    uint64_t values[2] = {0, 0};
    unsigned field = 0;
    while (p < end && field < PROCSTAT_UTIME_AFTER_COMM + 1) {
        while (p < end && *p == ' ') {
            p++;
        }
        if (p >= end || *p == '\n') {
            break;
        }
        field++;
        const char *start = p;
        while (p < end && *p != ' ' && *p != '\n') {
            p++;
        }
        if (field >= PROCSTAT_UTIME_AFTER_COMM) {
            uint64_t v = 0;
            for (const char *d = start; d < p; d++) {
                if (*d < '0' || *d > '9' || v > UINT64_MAX / 10 - 1) {
                    return -EDDY_EMALFORMED;
                }
                v = v * 10 + (uint64_t)(*d - '0');
            }
            values[field - PROCSTAT_UTIME_AFTER_COMM] = v;
        }
    }
    if (field < PROCSTAT_UTIME_AFTER_COMM + 1) {
        return -EDDY_EMALFORMED;
    }
    *ticks = values[0] + values[1];
    return 0;
}

int procstat_parse_status_rss_kib(const char *text, size_t len, uint64_t *kib)
{
    EDDY_ASSERT(text != NULL || len == 0);
    EDDY_ASSERT(kib != NULL);
    static const char key[] = "VmRSS:";
    const char *end = text + len;
    const char *line = text;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *line_end = nl != NULL ? nl : end;
        if ((size_t)(line_end - line) >= sizeof(key) - 1 &&
            memcmp(line, key, sizeof(key) - 1) == 0) {
            const char *p = line + sizeof(key) - 1;
            while (p < line_end && (*p == ' ' || *p == '\t')) {
                p++;
            }
            uint64_t v = 0;
            const char *digits = p;
            while (p < line_end && *p >= '0' && *p <= '9' && v < UINT64_MAX / 10 - 1) {
                v = v * 10 + (uint64_t)(*p - '0');
                p++;
            }
            if (p == digits) {
                return -EDDY_EMALFORMED;
            }
            *kib = v;
            return 0;
        }
        line = line_end + 1;
    }
    return -EDDY_ENOTFOUND;
}

/* Reads /proc/<pid>/<name> into buf (NUL-terminated); returns its length
 * or -errno. */
static ssize_t procstat_read(int pid, const char *name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = -errno;
            close(fd);
            return err;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

int procstat_cpu_s(int pid, double *cpu_s)
{
    char buf[PROCSTAT_TEXT_MAX];
    ssize_t n = procstat_read(pid, "stat", buf, sizeof(buf));
    if (n < 0) {
        return (int)n;
    }
    uint64_t ticks = 0;
    int rc = procstat_parse_stat_ticks(buf, (size_t)n, &ticks);
    if (rc != 0) {
        return rc;
    }
    long hz = sysconf(_SC_CLK_TCK);
    *cpu_s = (double)ticks / (double)(hz > 0 ? hz : 100);
    return 0;
}

int procstat_rss_kib(int pid, uint64_t *kib)
{
    char buf[PROCSTAT_TEXT_MAX];
    ssize_t n = procstat_read(pid, "status", buf, sizeof(buf));
    if (n < 0) {
        return (int)n;
    }
    return procstat_parse_status_rss_kib(buf, (size_t)n, kib);
}

double procstat_self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
