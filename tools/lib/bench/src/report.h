/*
 * The result of one workload run against one target: counts in the
 * measured window, the latency histogram, the generator's CPU and the
 * target processes' CPU and RSS. report_to_json gives the form that
 * tools/lib/bench/compare.py reads (keys in tools/lib/bench/README.md); the
 * format functions give the human form printed at the end of a run.
 * Plain data: the caller owns the struct and the histogram it points to.
 */
#ifndef EDDY_BENCH_REPORT_H
#define EDDY_BENCH_REPORT_H

#include "hist.h"

#include <stddef.h>
#include <stdint.h>

/* Target processes sampled per run (three eddyd, or one node). */
#define REPORT_PROCS_MAX 8
#define REPORT_NAME_MAX 64
#define REPORT_ERROR_MAX 160

struct report_proc {
    int pid;
    double cpu_s;         /* user + system seconds in the window */
    uint64_t rss_max_kib; /* largest sample in the window */
    uint64_t rss_end_kib; /* last sample */
};

struct report {
    char workload[REPORT_NAME_MAX]; /* put, get, e2e */
    char target[REPORT_NAME_MAX];   /* a label: eddy, kinesalite, ... */
    char api[REPORT_NAME_MAX];      /* PutRecords, PutRecord, GetRecords */
    unsigned connections;
    unsigned record_bytes; /* payload of one record */
    unsigned batch;        /* records per call */
    unsigned shards;
    double seconds;                     /* the measured window */
    uint64_t requests;                  /* calls answered with 200 in the window */
    uint64_t records;                   /* records acknowledged (or read) in the window */
    uint64_t bytes;                     /* their payload bytes */
    uint64_t failed_requests;           /* calls that failed (status, connection) */
    uint64_t failed_records;            /* per-record failures inside successful calls */
    uint64_t lost_records;              /* e2e: sent in the window and never read */
    char first_error[REPORT_ERROR_MAX]; /* what the first failure said, or "" */
    const struct hist *latency_us;      /* borrowed; NULL when none */
    double client_cpu_s;                /* the generator's user + system seconds */
    size_t proc_count;
    struct report_proc procs[REPORT_PROCS_MAX];
};

/* Zeroes r and copies the names (cut to fit). */
void report_init(struct report *r, const char *workload, const char *target, const char *api);
/* Records per second and payload megabytes (10^6 bytes) per second in the
 * window; 0 when the window is empty. */
double report_records_per_s(const struct report *r);
double report_mb_per_s(const struct report *r);
/* Percent of one core used in the window by the generator / by all target
 * processes together (100 = one core busy). */
double report_client_cpu_pct(const struct report *r);
double report_server_cpu_pct(const struct report *r);

/* The report as one JSON object (no newline), or NULL when out of memory;
 * free with report_json_free. */
char *report_to_json(const struct report *r);
void report_json_free(char *json);

/* "1,234,567". Returns the length written (always NUL-terminated; cut to
 * cap - 1). */
size_t report_format_count(uint64_t n, char *out, size_t cap);
/* A duration in microseconds with three significant digits: "640 us",
 * "1.23 ms", "45.6 ms", "312 ms", "2.50 s". */
size_t report_format_us(uint64_t us, char *out, size_t cap);
/* One line for a human: rate, latency percentiles, failures, CPU. */
size_t report_summary(const struct report *r, char *out, size_t cap);

#endif
