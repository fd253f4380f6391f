/*
 * CPU time and resident set size of processes, read from /proc, and the
 * generator's own CPU time. The parsers take the file's text so that tests
 * can feed them; the readers open /proc/<pid>/stat and /proc/<pid>/status.
 * Stateless.
 */
#ifndef EDDY_BENCH_PROCSTAT_H
#define EDDY_BENCH_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

/* Longest /proc/<pid>/stat or status text read (both are a few KiB). */
#define PROCSTAT_TEXT_MAX 8192

/* utime + stime (fields 14 and 15, in clock ticks) from the text of
 * /proc/<pid>/stat. The command name (field 2) may hold spaces and ')'; the
 * fields are counted after its last ')'. -EDDY_EMALFORMED if they are not
 * there. */
int procstat_parse_stat_ticks(const char *text, size_t len, uint64_t *ticks);
/* VmRSS in KiB from the text of /proc/<pid>/status; -EDDY_ENOTFOUND when
 * the line is missing (a zombie), -EDDY_EMALFORMED when it does not parse. */
int procstat_parse_status_rss_kib(const char *text, size_t len, uint64_t *kib);

/* The same for a live process: CPU seconds used so far, RSS now. -errno
 * (-ENOENT once it exited) or a parse error. */
int procstat_cpu_s(int pid, double *cpu_s);
int procstat_rss_kib(int pid, uint64_t *kib);
/* User + system CPU seconds of this process (getrusage). */
double procstat_self_cpu_s(void);

#endif
