/*
 * stderr logger. The level and tag are process settings made once at start
 * (from main or the environment) and only read afterwards.
 */
#include "eddy/log.h"
#include "eddy/assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level log_level = LOG_LEVEL_INFO;
static char log_tag[32];

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

void log_set_tag(const char *tag)
{
    if (tag == NULL) {
        log_tag[0] = '\0';
        return;
    }
    snprintf(log_tag, sizeof(log_tag), "%s", tag);
}

void log_init_from_env(void)
{
    const char *v = getenv("EDDY_LOG_LEVEL");
    if (v == NULL) {
        return;
    }
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < EDDY_ARRAY_LEN(names); i++) {
        if (strcmp(v, names[i]) == 0) {
            log_level = (enum log_level)i;
        }
    }
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    const char *base = strrchr(file, '/');
    fprintf(stderr, "%02d:%02d:%02d.%03ld %s%s%-5s %s:%d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, log_tag, log_tag[0] ? " " : "", names[level],
            base ? base + 1 : file, line, msg);
}

void eddy_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
