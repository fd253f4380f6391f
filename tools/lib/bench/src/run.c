/*
 * The run of run.h: timers for the phases, the RSS sampler and the
 * deadline, and the bookkeeping that turns the window into a report.
 */
#include "run.h"

#include "body.h"
#include "procstat.h"
#include "scan.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t run_now_us(void)
{
    return uv_hrtime() / 1000;
}

int run_init(struct run *r, const struct run_opts *opts)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(opts != NULL);
    EDDY_ASSERT(opts->endpoint_count > 0 && opts->endpoint_count <= RUN_ENDPOINTS_MAX);
    EDDY_ASSERT(opts->pid_count <= REPORT_PROCS_MAX);
    memset(r, 0, sizeof(*r));
    r->opts = opts;
    for (size_t i = 0; i < opts->endpoint_count; i++) {
        if (conn_parse_endpoint(opts->endpoints[i], &r->addrs[i], r->hosts[i],
                                sizeof(r->hosts[i])) != 0) {
            fprintf(stderr, "eddy-bench: bad endpoint %s (want http://HOST:PORT)\n",
                    opts->endpoints[i]);
            return -EDDY_EINVAL;
        }
    }
    sign_init(&r->sign, "x", "x", "us-east-1", "kinesis", time(NULL));
    r->latency_us = hist_create();
    EDDY_ASSERT(r->latency_us != NULL);
    int rc = uv_loop_init(&r->loop);
    EDDY_ASSERT(rc == 0);
    uv_timer_init(&r->loop, &r->phase_timer);
    uv_timer_init(&r->loop, &r->sample_timer);
    uv_timer_init(&r->loop, &r->deadline_timer);
    r->phase_timer.data = r;
    r->sample_timer.data = r;
    r->deadline_timer.data = r;
    return 0;
}

struct conn *run_conn(struct run *r, size_t i)
{
    return conn_create(&r->loop, (const struct sockaddr *)&r->addrs[i % r->opts->endpoint_count]);
}

int run_get_records_request(
    struct run *r, size_t shard, struct buf *head, struct buf *body, uv_buf_t bufs[2])
{
    const struct run_shard *sh = &r->shards[shard];
    buf_reset(body);
    buf_reset(head);
    int rc = body_get_records(body, sh->iterator, sh->iterator_len, r->opts->limit);
    if (rc == 0) {
        rc = body_request_head(head, &r->sign, run_host(r, shard), "GetRecords", body->data,
                               body->len);
    }
    if (rc == 0) {
        bufs[0] = uv_buf_init((char *)head->data, (unsigned)head->len);
        bufs[1] = uv_buf_init((char *)body->data, (unsigned)body->len);
    }
    return rc;
}

const char *run_host(const struct run *r, size_t i)
{
    return r->hosts[i % r->opts->endpoint_count];
}

static void run_sample(struct run *r)
{
    for (size_t i = 0; i < r->opts->pid_count; i++) {
        uint64_t kib = 0;
        if (procstat_rss_kib(r->opts->pids[i], &kib) == 0) {
            struct report_proc *p = &r->report.procs[i];
            p->rss_end_kib = kib;
            if (kib > p->rss_max_kib) {
                p->rss_max_kib = kib;
            }
        }
    }
}

static void run_on_sample(uv_timer_t *t)
{
    run_sample(t->data);
}

void run_measure_begin(struct run *r)
{
    if (r->measuring || r->measured) {
        return;
    }
    r->measuring = true;
    r->measure_begin_ns = uv_hrtime();
    r->client_cpu_begin_s = procstat_self_cpu_s();
    r->report.proc_count = r->opts->pid_count;
    for (size_t i = 0; i < r->opts->pid_count; i++) {
        r->report.procs[i].pid = r->opts->pids[i];
        r->proc_cpu_begin_s[i] = 0;
        procstat_cpu_s(r->opts->pids[i], &r->proc_cpu_begin_s[i]);
    }
    run_sample(r);
    uv_timer_start(&r->sample_timer, run_on_sample, RUN_SAMPLE_MS, RUN_SAMPLE_MS);
}

void run_measure_end(struct run *r)
{
    if (!r->measuring) {
        return;
    }
    r->measuring = false;
    r->measured = true;
    r->measure_end_ns = uv_hrtime();
    r->report.seconds = (double)(r->measure_end_ns - r->measure_begin_ns) / 1e9;
    r->report.client_cpu_s = procstat_self_cpu_s() - r->client_cpu_begin_s;
    for (size_t i = 0; i < r->opts->pid_count; i++) {
        double now = 0;
        if (procstat_cpu_s(r->opts->pids[i], &now) == 0) {
            r->report.procs[i].cpu_s = now - r->proc_cpu_begin_s[i];
        }
    }
    run_sample(r);
    uv_timer_stop(&r->sample_timer);
}

static void run_stop_workload(struct run *r)
{
    if (r->done || r->stopping) {
        return;
    }
    r->stopping = true;
    r->stop(r);
}

static void run_on_forced_close(uv_handle_t *h)
{
    (void)h;
}

static void run_close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, run_on_forced_close);
    }
}

/* The workload did not stop: close every handle of the loop so that it
 * ends. What the workload allocated is left to the process's exit. */
static void run_force(struct run *r)
{
    r->forced = true;
    r->done = true;
    uv_walk(&r->loop, run_close_handle, NULL);
}

static void run_on_deadline(uv_timer_t *t)
{
    struct run *r = t->data;
    if (!r->stopping) {
        /* First the polite way, then, if that does not end it, force. */
        fprintf(stderr, "eddy-bench: %s: deadline of %.0f s reached, stopping\n", r->opts->label,
                r->opts->timeout_s);
        if (r->status == 0) {
            r->status = -EDDY_ETIMEDOUT;
        }
        run_measure_end(r);
        run_stop_workload(r);
        uv_timer_start(&r->deadline_timer, run_on_deadline, RUN_STOP_GRACE_MS, 0);
        return;
    }
    fprintf(stderr, "eddy-bench: %s: the workload did not stop in time, closing everything\n",
            r->opts->label);
    if (r->status == 0) {
        r->status = -EDDY_ETIMEDOUT;
    }
    run_force(r);
}

static void run_on_window_end(uv_timer_t *t)
{
    struct run *r = t->data;
    run_measure_end(r);
    run_stop_workload(r);
    /* From here the stop grace bounds the rest. */
    uv_timer_start(&r->deadline_timer, run_on_deadline, RUN_STOP_GRACE_MS, 0);
}

static void run_on_warmup_end(uv_timer_t *t)
{
    struct run *r = t->data;
    run_measure_begin(r);
    uv_timer_start(&r->phase_timer, run_on_window_end, (uint64_t)(r->opts->seconds * 1000), 0);
}

void run_window(struct run *r)
{
    uv_timer_start(&r->phase_timer, run_on_warmup_end, (uint64_t)(r->opts->warmup_s * 1000), 0);
}

void run_abort(struct run *r, int status, const char *why)
{
    fprintf(stderr, "eddy-bench: %s: %s\n", r->opts->label, why);
    if (r->status == 0) {
        r->status = status < 0 ? status : -EDDY_EUNKNOWN;
    }
    run_measure_end(r);
    run_stop_workload(r);
    uv_timer_start(&r->deadline_timer, run_on_deadline, RUN_STOP_GRACE_MS, 0);
}

void run_workload_done(struct run *r)
{
    if (r->done) {
        return; /* forced meanwhile */
    }
    r->done = true;
    run_measure_end(r);
    uv_timer_stop(&r->phase_timer);
    uv_timer_stop(&r->sample_timer);
    uv_timer_stop(&r->deadline_timer);
}

void run_failure(struct run *r, int status, unsigned http_status, const char *body, size_t len)
{
    r->report.failed_requests++;
    if (r->report.first_error[0] != '\0') {
        return;
    }
    if (status < 0) {
        snprintf(r->report.first_error, sizeof(r->report.first_error), "%s", eddy_strerror(status));
        return;
    }
    const char *type = "";
    size_t type_len = 0;
    const char *msg = "";
    size_t msg_len = 0;
    if (body != NULL) {
        scan_string(body, len, "__type", &type, &type_len);
        if (!scan_string(body, len, "message", &msg, &msg_len)) {
            scan_string(body, len, "Message", &msg, &msg_len);
        }
    }
    snprintf(r->report.first_error, sizeof(r->report.first_error), "HTTP %u %.*s %.*s", http_status,
             (int)(type_len < 60 ? type_len : 60), type, (int)(msg_len < 80 ? msg_len : 80), msg);
}

void run_loop(struct run *r)
{
    EDDY_ASSERT(r->stop != NULL);
    uv_timer_start(&r->deadline_timer, run_on_deadline, (uint64_t)(r->opts->timeout_s * 1000), 0);
    /* The workload's callbacks call run_workload_done; the loop ends when
     * the timers are stopped and the connections closed. */
    while (uv_run(&r->loop, UV_RUN_DEFAULT) != 0) {
    }
    EDDY_ASSERT(r->done);
    r->report.latency_us = r->latency_us;
}

void run_close(struct run *r)
{
    uv_walk(&r->loop, run_close_handle, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&r->loop);
    EDDY_ASSERT(rc == 0);
    for (size_t i = 0; i < r->shard_count; i++) {
        eddy_free(r->shards[i].iterator);
    }
    hist_destroy(r->latency_us);
}
