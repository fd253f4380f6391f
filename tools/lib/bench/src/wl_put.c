/*
 * The put workload (workload.h). Before the clock starts it encodes
 * opts->bodies distinct request bodies (random payloads and partition keys,
 * base64 done) and, per endpoint, a signed header block for each; a client
 * then only hands two prepared buffers to the socket per call. Each
 * client is one connection with one call in flight; clients go round the
 * endpoints. With opts->total_records the whole send is timed (a prefill
 * for the get workload); else warmup and window (run_window).
 */
#include "body.h"
#include "scan.h"
#include "workload.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdio.h>
#include <string.h>

/* A pre-encoded PutRecords of 500 records of 1 MiB would pass this; the
 * API allows 5 MiB per call (10 MiB on newer streams). */
#define PUT_BODY_MAX (16u << 20)
#define PUT_RETRY_MS 100

struct put;

struct put_client {
    struct put *p;
    size_t idx;
    struct conn *conn;
    uv_timer_t retry; /* a pause after a failed call */
    uint64_t sent_us;
    bool closed;
};

struct put {
    struct run *r;
    struct buf *bodies; /* [opts->bodies] */
    struct buf *heads;  /* [endpoint * opts->bodies + k] */
    size_t endpoints;
    struct put_client *clients;
    size_t client_count;
    size_t open; /* clients whose connection or timer is not yet closed */
    uint64_t next;
    uint64_t sent_records;
};

static void put_send(struct put_client *pc);

static void put_free(struct put *p)
{
    const struct run_opts *o = p->r->opts;
    for (size_t k = 0; k < o->bodies && p->bodies != NULL; k++) {
        buf_free(&p->bodies[k]);
    }
    for (size_t k = 0; k < o->bodies * p->endpoints && p->heads != NULL; k++) {
        buf_free(&p->heads[k]);
    }
    eddy_free(p->bodies);
    eddy_free(p->heads);
    eddy_free(p->clients);
    eddy_free(p);
}

static void put_on_client_closed(uv_handle_t *h)
{
    struct put_client *pc = h->data;
    struct put *p = pc->p;
    EDDY_ASSERT(p->open > 0);
    if (--p->open == 0) {
        struct run *r = p->r;
        r->workload = NULL;
        put_free(p);
        run_workload_done(r);
    }
}

static void put_close_client(struct put_client *pc)
{
    if (pc->closed) {
        return;
    }
    pc->closed = true;
    conn_close(pc->conn);
    uv_close((uv_handle_t *)&pc->retry, put_on_client_closed);
}

static bool put_is_finished(const struct put *p)
{
    const struct run_opts *o = p->r->opts;
    return p->r->stopping || (o->total_records > 0 && p->sent_records >= o->total_records);
}

static void put_on_retry(uv_timer_t *t)
{
    put_send(t->data);
}

/* FailedRecordCount of a PutRecords answer (0 for PutRecord); -1 when the
 * answer does not say. */
static int64_t put_failed_records(const struct run_opts *o, const char *body, size_t len)
{
    if (o->single) {
        return 0;
    }
    int64_t failed = 0;
    return scan_int(body, len, "FailedRecordCount", &failed) ? failed : -1;
}

static void put_on_response(
    struct conn *c, void *arg, int status, unsigned http_status, const char *body, size_t len)
{
    (void)c;
    struct put_client *pc = arg;
    struct put *p = pc->p;
    struct run *r = p->r;
    const struct run_opts *o = r->opts;
    uint64_t now = run_now_us();
    bool ok = status == 0 && http_status == 200;
    int64_t failed = ok ? put_failed_records(o, body, len) : 0;
    if (ok && (failed < 0 || failed > (int64_t)o->batch)) {
        ok = false;
        status = -EDDY_EMALFORMED;
    }
    if (!ok) {
        if (r->measuring || o->total_records > 0) {
            run_failure(r, status, http_status, body, len);
        }
    } else if (r->measuring) {
        uint64_t acked = o->batch - (uint64_t)failed;
        r->report.requests++;
        r->report.records += acked;
        r->report.bytes += acked * o->record_bytes;
        r->report.failed_records += (uint64_t)failed;
        hist_record(r->latency_us, now - pc->sent_us);
    }
    if (put_is_finished(p)) {
        put_close_client(pc);
        return;
    }
    if (!ok) {
        uv_timer_start(&pc->retry, put_on_retry, PUT_RETRY_MS, 0);
        return;
    }
    put_send(pc);
}

static void put_send(struct put_client *pc)
{
    struct put *p = pc->p;
    const struct run_opts *o = p->r->opts;
    if (put_is_finished(p)) {
        put_close_client(pc);
        return;
    }
    size_t k = (size_t)(p->next++ % o->bodies);
    size_t e = pc->idx % p->endpoints;
    const struct buf *head = &p->heads[e * o->bodies + k];
    const struct buf *body = &p->bodies[k];
    uv_buf_t bufs[2] = {uv_buf_init((char *)head->data, (unsigned)head->len),
                        uv_buf_init((char *)body->data, (unsigned)body->len)};
    p->sent_records += o->batch;
    pc->sent_us = run_now_us();
    int rc = conn_send(pc->conn, bufs, 2, put_on_response, pc);
    if (rc != 0) {
        run_failure(p->r, rc, 0, NULL, 0);
        uv_timer_start(&pc->retry, put_on_retry, PUT_RETRY_MS, 0);
    }
}

static void put_stop(struct run *r)
{
    struct put *p = r->workload;
    for (size_t i = 0; i < p->client_count; i++) {
        struct put_client *pc = &p->clients[i];
        if (!pc->closed && !conn_is_busy(pc->conn)) {
            put_close_client(pc); /* idle in a retry pause */
        }
    }
}

/* Encodes the bodies and their signed heads. */
static int put_prepare(struct put *p)
{
    struct run *r = p->r;
    const struct run_opts *o = r->opts;
    uint64_t rng = UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)uv_hrtime();
    p->endpoints = o->endpoint_count;
    p->bodies = eddy_xcalloc(o->bodies, sizeof(*p->bodies));
    p->heads = eddy_xcalloc(o->bodies * p->endpoints, sizeof(*p->heads));
    for (size_t k = 0; k < o->bodies; k++) {
        buf_init(&p->bodies[k], PUT_BODY_MAX);
        int rc =
            body_put(&p->bodies[k], o->stream, o->batch, o->record_bytes, o->single, &rng, NULL);
        if (rc != 0) {
            return rc;
        }
        for (size_t e = 0; e < p->endpoints; e++) {
            struct buf *h = &p->heads[e * o->bodies + k];
            buf_init(h, PUT_BODY_MAX);
            rc = body_request_head(h, &r->sign, run_host(r, e),
                                   o->single ? "PutRecord" : "PutRecords", p->bodies[k].data,
                                   p->bodies[k].len);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

int workload_put(struct run *r)
{
    const struct run_opts *o = r->opts;
    EDDY_ASSERT(o->connections > 0 && o->connections <= RUN_CONNECTIONS_MAX);
    EDDY_ASSERT(o->bodies > 0);
    struct put *p = eddy_xcalloc(1, sizeof(*p));
    p->r = r;
    int rc = put_prepare(p);
    if (rc != 0) {
        fprintf(stderr, "eddy-bench: cannot encode the requests: %s\n", eddy_strerror(rc));
        put_free(p);
        return rc;
    }
    snprintf(r->report.api, sizeof(r->report.api), "%s", o->single ? "PutRecord" : "PutRecords");
    r->report.connections = o->connections;
    r->report.record_bytes = o->record_bytes;
    r->report.batch = o->batch;
    p->client_count = o->connections;
    p->clients = eddy_xcalloc(p->client_count, sizeof(*p->clients));
    r->workload = p;
    r->stop = put_stop;
    for (size_t i = 0; i < p->client_count; i++) {
        struct put_client *pc = &p->clients[i];
        pc->p = p;
        pc->idx = i;
        pc->conn = run_conn(r, i);
        uv_timer_init(&r->loop, &pc->retry);
        pc->retry.data = pc;
        p->open++;
    }
    if (o->total_records > 0) {
        run_measure_begin(r);
    } else {
        run_window(r);
    }
    for (size_t i = 0; i < p->client_count; i++) {
        put_send(&p->clients[i]);
    }
    return 0;
}
