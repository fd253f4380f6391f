/*
 * The get workload (workload.h): after setup_iterators(TRIM_HORIZON), one
 * reader per shard, each on its own connection, asks GetRecords with
 * opts->limit again as soon as an answer comes. A shard is drained when
 * an answer holds no record and MillisBehindLatest is 0 (or the shard
 * ended). The clock runs from the first call to the last shard drained;
 * records and payload bytes are counted from the answers (scan.h), and
 * each call's latency is recorded.
 */
#include "body.h"
#include "scan.h"
#include "setup.h"
#include "workload.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdio.h>
#include <string.h>

#define GET_BODY_MAX (64u << 10)
#define GET_RETRY_MS 100

struct get;

struct get_reader {
    struct get *g;
    size_t shard;
    struct conn *conn;
    uv_timer_t wait; /* a pause after a failed call */
    struct buf head;
    struct buf body;
    uint64_t sent_us;
    bool drained;
    bool closed;
};

struct get {
    struct run *r;
    struct get_reader *readers;
    size_t reader_count;
    size_t open;     /* readers not yet closed */
    size_t draining; /* readers not yet drained */
};

static void get_send(struct get_reader *gr);

static void get_free(struct get *g)
{
    for (size_t i = 0; i < g->reader_count; i++) {
        buf_free(&g->readers[i].head);
        buf_free(&g->readers[i].body);
    }
    eddy_free(g->readers);
    eddy_free(g);
}

static void get_on_reader_closed(uv_handle_t *h)
{
    struct get_reader *gr = h->data;
    struct get *g = gr->g;
    EDDY_ASSERT(g->open > 0);
    if (--g->open == 0) {
        struct run *r = g->r;
        r->workload = NULL;
        get_free(g);
        run_workload_done(r);
    }
}

static void get_close_reader(struct get_reader *gr)
{
    if (gr->closed) {
        return;
    }
    gr->closed = true;
    conn_close(gr->conn);
    uv_close((uv_handle_t *)&gr->wait, get_on_reader_closed);
}

static void get_close_all(struct get *g)
{
    for (size_t i = 0; i < g->reader_count; i++) {
        if (!g->readers[i].closed && !conn_is_busy(g->readers[i].conn)) {
            get_close_reader(&g->readers[i]);
        }
    }
}

static void get_on_wait(uv_timer_t *t)
{
    get_send(t->data);
}

static void get_mark_drained(struct get_reader *gr)
{
    struct get *g = gr->g;
    gr->drained = true;
    EDDY_ASSERT(g->draining > 0);
    if (--g->draining == 0) {
        run_measure_end(g->r);
        g->r->stopping = true;
        get_close_all(g);
    }
}

static void get_on_response(
    struct conn *c, void *arg, int status, unsigned http_status, const char *body, size_t len)
{
    (void)c;
    struct get_reader *gr = arg;
    struct get *g = gr->g;
    struct run *r = g->r;
    struct run_shard *sh = &r->shards[gr->shard];
    uint64_t now = run_now_us();
    if (status != 0 || http_status != 200) {
        run_failure(r, status, http_status, body, len);
        if (r->stopping) {
            get_close_reader(gr);
        } else {
            uv_timer_start(&gr->wait, get_on_wait, GET_RETRY_MS, 0);
        }
        return;
    }
    struct scan_records sr;
    scan_get_records(body, len, &sr, NULL, NULL);
    if (r->measuring) {
        r->report.requests++;
        r->report.records += sr.records;
        r->report.bytes += sr.data_bytes;
        hist_record(r->latency_us, now - gr->sent_us);
    }
    eddy_free(sh->iterator);
    sh->iterator = NULL;
    sh->iterator_len = 0;
    if (sr.next_iterator != NULL && sr.next_iterator_len <= BODY_FIELD_MAX) {
        sh->iterator = eddy_xmalloc(sr.next_iterator_len + 1);
        memcpy(sh->iterator, sr.next_iterator, sr.next_iterator_len);
        sh->iterator[sr.next_iterator_len] = '\0';
        sh->iterator_len = sr.next_iterator_len;
    }
    bool at_end = sh->iterator == NULL || (sr.records == 0 && sr.millis_behind <= 0);
    if (at_end && !gr->drained) {
        get_mark_drained(gr);
    }
    if (r->stopping || gr->drained) {
        get_close_reader(gr);
        return;
    }
    get_send(gr);
}

static void get_send(struct get_reader *gr)
{
    struct run *r = gr->g->r;
    struct run_shard *sh = &r->shards[gr->shard];
    if (r->stopping || sh->iterator == NULL) {
        get_close_reader(gr);
        return;
    }
    uv_buf_t bufs[2];
    int rc = run_get_records_request(r, gr->shard, &gr->head, &gr->body, bufs);
    if (rc == 0) {
        gr->sent_us = run_now_us();
        rc = conn_send(gr->conn, bufs, 2, get_on_response, gr);
    }
    if (rc != 0) {
        run_failure(r, rc, 0, NULL, 0);
        uv_timer_start(&gr->wait, get_on_wait, GET_RETRY_MS, 0);
    }
}

static void get_stop(struct run *r)
{
    struct get *g = r->workload;
    if (g == NULL) {
        return; /* still in setup: get_on_setup stops */
    }
    get_close_all(g);
}

static void get_on_setup(struct run *r, int status)
{
    if (status != 0) {
        r->workload = NULL;
        run_abort(r, status, "setup of the readers failed");
        run_workload_done(r);
        return;
    }
    if (r->stopping) {
        run_workload_done(r);
        return;
    }
    struct get *g = eddy_xcalloc(1, sizeof(*g));
    g->r = r;
    g->reader_count = r->shard_count;
    g->readers = eddy_xcalloc(g->reader_count, sizeof(*g->readers));
    r->workload = g;
    r->report.shards = (unsigned)r->shard_count;
    r->report.connections = (unsigned)r->shard_count;
    for (size_t i = 0; i < g->reader_count; i++) {
        struct get_reader *gr = &g->readers[i];
        gr->g = g;
        gr->shard = i;
        gr->conn = run_conn(r, i);
        uv_timer_init(&r->loop, &gr->wait);
        gr->wait.data = gr;
        buf_init(&gr->head, GET_BODY_MAX);
        buf_init(&gr->body, GET_BODY_MAX);
        g->open++;
        g->draining++;
    }
    run_measure_begin(r);
    for (size_t i = 0; i < g->reader_count; i++) {
        get_send(&g->readers[i]);
    }
}

int workload_get(struct run *r)
{
    snprintf(r->report.api, sizeof(r->report.api), "GetRecords");
    r->report.batch = r->opts->limit;
    r->stop = get_stop;
    r->workload = NULL;
    setup_iterators(r, "TRIM_HORIZON", get_on_setup);
    return 0;
}
