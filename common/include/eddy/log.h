/*
 * Logging to stderr with level, file:line and key=value fields. The level
 * comes from EDDY_LOG_LEVEL (error|warn|info|debug) or log_set_level().
 * Never log record payloads or secrets.
 */
#ifndef EDDY_LOG_H
#define EDDY_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Reads EDDY_LOG_LEVEL; unknown values leave the level as it is. */
void log_init_from_env(void);
/* Tag printed on every line (e.g. "n1"), copied; NULL clears. */
void log_set_tag(const char *tag);
void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_AT_(lvl, ...)                                                                          \
    do {                                                                                           \
        if ((lvl) <= log_get_level()) {                                                            \
            log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);                                     \
        }                                                                                          \
    } while (0)

#define LOG_ERROR(...) LOG_AT_(LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT_(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT_(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) LOG_AT_(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
