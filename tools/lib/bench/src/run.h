/*
 * One bench run: the options, the libuv loop, the endpoints, the measured
 * window and what is sampled in it (the generator's CPU, the target
 * processes' CPU and RSS), and the report it ends with. A workload (put,
 * get, e2e) drives its connections and calls back into the run:
 *
 *   run_init -> workload start -> [run_window: warmup, then the window] or
 *   [run_measure_begin ... run_measure_end] -> workload stop -> the
 *   workload closes its connections and calls run_workload_done -> the
 *   loop ends -> run_finish fills the report -> run_close.
 *
 * A deadline (options.timeout_s) stops the workload, and if it has not
 * finished RUN_STOP_GRACE_MS later, closes every handle of the loop, so
 * every run ends.
 */
#ifndef EDDY_BENCH_RUN_H
#define EDDY_BENCH_RUN_H

#include "conn.h"
#include "eddy/buf.h"
#include "hist.h"
#include "report.h"
#include "sign.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define RUN_ENDPOINTS_MAX 8
#define RUN_HOST_MAX 256
#define RUN_CONNECTIONS_MAX 1024
#define RUN_SHARDS_MAX 512
#define RUN_SHARD_ID_MAX 64
/* How often the target processes' RSS is read. */
#define RUN_SAMPLE_MS 250
/* After a graceful stop, how long the workload may take to finish. */
#define RUN_STOP_GRACE_MS 15000

struct run_opts {
    const char *workload; /* put, get, e2e */
    const char *label;    /* target name in the report */
    const char *endpoints[RUN_ENDPOINTS_MAX];
    size_t endpoint_count;
    const char *stream;
    bool single;           /* put: PutRecord instead of PutRecords */
    unsigned connections;  /* put: closed-loop clients */
    unsigned record_bytes; /* payload per record */
    unsigned batch;        /* records per PutRecords */
    unsigned bodies;       /* distinct pre-encoded requests (put) */
    double warmup_s;
    double seconds;
    uint64_t total_records; /* put: send this many, all timed (no window); 0: window */
    unsigned rate;          /* e2e: records per second */
    unsigned interval_ms;   /* e2e: one PutRecords every interval */
    unsigned poll_ms;       /* get, e2e: wait after an empty GetRecords */
    unsigned limit;         /* GetRecords Limit */
    int pids[REPORT_PROCS_MAX];
    size_t pid_count;
    double timeout_s; /* hard bound on the whole run */
};

struct run_shard {
    char id[RUN_SHARD_ID_MAX];
    char *iterator; /* owned; NULL until known or when the shard ended */
    size_t iterator_len;
};

struct run;
/* Stop sending; close every connection once its request is answered,
 * then call run_workload_done. */
typedef void (*run_stop_fn)(struct run *r);

struct run {
    uv_loop_t loop;
    const struct run_opts *opts;
    struct sockaddr_storage addrs[RUN_ENDPOINTS_MAX];
    char hosts[RUN_ENDPOINTS_MAX][RUN_HOST_MAX];
    struct sign_ctx sign;
    struct report report;
    struct hist *latency_us;
    run_stop_fn stop; /* the workload's */
    void *workload;   /* the workload's state */
    bool measuring;
    bool measured; /* the window has ended */
    bool stopping;
    bool forced; /* handles were closed under the workload */
    bool done;
    int status; /* 0, or why the run failed */
    uint64_t measure_begin_ns;
    uint64_t measure_end_ns;
    double client_cpu_begin_s;
    double proc_cpu_begin_s[REPORT_PROCS_MAX];
    uv_timer_t phase_timer;
    uv_timer_t sample_timer;
    uv_timer_t deadline_timer;
    struct run_shard shards[RUN_SHARDS_MAX];
    size_t shard_count;
};

/* Resolves the endpoints and sets up the loop and timers. -EDDY_EINVAL
 * with a message on stderr when an endpoint does not parse. */
int run_init(struct run *r, const struct run_opts *opts);
/* Runs the loop until the workload (which has set r->stop and
 * r->workload when it started) is done; then fills r->report. */
void run_loop(struct run *r);
/* Frees what run_init made (the loop must have ended). */
void run_close(struct run *r);

/* A new connection to endpoint i % endpoint_count. */
struct conn *run_conn(struct run *r, size_t i);
/* The Host header value of endpoint i % endpoint_count. */
const char *run_host(const struct run *r, size_t i);
/* Encodes and signs a GetRecords call for shard's current iterator into
 * head and body (reset first) and points bufs at them: what the get and
 * e2e readers send. 0 or a negative error code. */
int run_get_records_request(
    struct run *r, size_t shard, struct buf *head, struct buf *body, uv_buf_t bufs[2]);
uint64_t run_now_us(void);

/* Warmup, then the window of opts->seconds; the workload's stop runs at
 * its end. */
void run_window(struct run *r);
void run_measure_begin(struct run *r);
void run_measure_end(struct run *r);
/* Asks the workload to stop now (a failed setup, say) with status. */
void run_abort(struct run *r, int status, const char *why);
/* The workload has closed everything: the loop may end. */
void run_workload_done(struct run *r);
/* Counts a failed call; the first one's text is kept for the report. */
void run_failure(struct run *r, int status, unsigned http_status, const char *body, size_t len);

#endif
