/*
 * The e2e workload (workload.h): put-to-get latency. After
 * setup_iterators(LATEST), one reader per shard polls GetRecords (again at
 * once after records, after opts->poll_ms when empty), and a producer
 * sends one PutRecords of opts->rate * opts->interval_ms / 1000 records
 * every interval on the first idle one of E2E_PRODUCERS connections. Each
 * producer connection owns one encoded body whose records' first bytes
 * are the send time (body_stamp), patched and signed at send time. A
 * record sent in the window is counted when a reader sees it: latency =
 * time seen - time stamped, same clock. At the window's end production
 * stops; readers go on until every record sent in the window was seen or
 * E2E_DRAIN_MS passed; the rest are reported lost.
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

#define E2E_PRODUCERS 8
#define E2E_BODY_MAX (8u << 20)
#define E2E_RETRY_MS 100
#define E2E_DRAIN_MS 5000

struct e2e;

struct e2e_producer {
    struct e2e *e;
    size_t idx;
    struct conn *conn;
    struct buf head;
    struct buf body;
    size_t *offsets; /* [records per call]: where each record's base64 starts */
    bool in_window;  /* the call in flight was stamped in the window */
    bool closed;
};

struct e2e_reader {
    struct e2e *e;
    size_t shard;
    struct conn *conn;
    uv_timer_t wait;
    struct buf head;
    struct buf body;
    bool closed;
};

struct e2e {
    struct run *r;
    unsigned per_call; /* records per PutRecords */
    uv_timer_t tick;   /* production */
    uv_timer_t drain;  /* the end of the readers' grace */
    struct e2e_producer producers[E2E_PRODUCERS];
    struct e2e_reader *readers;
    size_t reader_count;
    size_t open; /* handles not yet closed */
    bool producing;
    bool draining;
    uint64_t window_begin_us;
    uint64_t window_end_us; /* 0 while the window is open */
    uint64_t sent;          /* records stamped in the window and acknowledged or in flight */
    uint64_t seen;          /* of those, seen by a reader */
    uint64_t skipped;       /* ticks with every producer busy */
};

static void e2e_read(struct e2e_reader *er);

static void e2e_free(struct e2e *e)
{
    for (size_t i = 0; i < E2E_PRODUCERS; i++) {
        buf_free(&e->producers[i].head);
        buf_free(&e->producers[i].body);
        eddy_free(e->producers[i].offsets);
    }
    for (size_t i = 0; i < e->reader_count; i++) {
        buf_free(&e->readers[i].head);
        buf_free(&e->readers[i].body);
    }
    eddy_free(e->readers);
    eddy_free(e);
}

/* One handle or producer connection less; the last one frees e. */
static void e2e_release(struct e2e *e)
{
    EDDY_ASSERT(e->open > 0);
    if (--e->open == 0) {
        struct run *r = e->r;
        r->report.lost_records = e->sent > e->seen ? e->sent - e->seen : 0;
        if (e->skipped > 0 && r->report.first_error[0] == '\0') {
            snprintf(r->report.first_error, sizeof(r->report.first_error),
                     "%llu producer ticks skipped: every producer connection busy",
                     (unsigned long long)e->skipped);
        }
        r->workload = NULL;
        e2e_free(e);
        run_workload_done(r);
    }
}

static void e2e_on_closed(uv_handle_t *h)
{
    e2e_release(h->data);
}

/* Closes a handle whose data is e and counts it down in e2e_on_closed. */
static void e2e_close_handle(struct e2e *e, uv_handle_t *h)
{
    h->data = e;
    uv_close(h, e2e_on_closed);
}

static void e2e_close_reader(struct e2e_reader *er)
{
    if (er->closed) {
        return;
    }
    er->closed = true;
    conn_close(er->conn);
    e2e_close_handle(er->e, (uv_handle_t *)&er->wait);
}

static void e2e_close_producer(struct e2e_producer *ep)
{
    if (ep->closed) {
        return;
    }
    ep->closed = true;
    conn_close(ep->conn); /* drops a call in flight: no callback into e */
    e2e_release(ep->e);
}

/* Closes everything that is idle; busy connections close when answered.
 * The timers go last, so e outlives the loops above. */
static void e2e_close_idle(struct e2e *e)
{
    for (size_t i = 0; i < E2E_PRODUCERS; i++) {
        if (!e->producers[i].closed && !conn_is_busy(e->producers[i].conn)) {
            e2e_close_producer(&e->producers[i]);
        }
    }
    for (size_t i = 0; i < e->reader_count; i++) {
        if (!e->readers[i].closed && !conn_is_busy(e->readers[i].conn)) {
            e2e_close_reader(&e->readers[i]);
        }
    }
    if (!uv_is_closing((uv_handle_t *)&e->tick)) {
        e2e_close_handle(e, (uv_handle_t *)&e->tick);
        e2e_close_handle(e, (uv_handle_t *)&e->drain);
    }
}

static void e2e_on_produced(
    struct conn *c, void *arg, int status, unsigned http_status, const char *body, size_t len)
{
    (void)c;
    struct e2e_producer *ep = arg;
    struct e2e *e = ep->e;
    struct run *r = e->r;
    int64_t failed = 0;
    bool ok = status == 0 && http_status == 200 &&
              scan_int(body, len, "FailedRecordCount", &failed) && failed == 0;
    if (!ok) {
        if (ep->in_window) {
            /* Some or all were not written: count none of them as sent. */
            e->sent -= e->per_call;
            run_failure(r, status, http_status, body, len);
        }
    } else if (ep->in_window) {
        r->report.requests++;
    }
    ep->in_window = false;
    if (!e->producing) {
        e2e_close_producer(ep);
    }
}

static void e2e_produce(struct e2e *e, struct e2e_producer *ep)
{
    struct run *r = e->r;
    uint64_t now = run_now_us();
    for (unsigned i = 0; i < e->per_call; i++) {
        body_stamp((char *)ep->body.data + ep->offsets[i], now);
    }
    buf_reset(&ep->head);
    int rc = body_request_head(&ep->head, &r->sign, run_host(r, ep->idx), "PutRecords",
                               ep->body.data, ep->body.len);
    if (rc == 0) {
        uv_buf_t bufs[2] = {uv_buf_init((char *)ep->head.data, (unsigned)ep->head.len),
                            uv_buf_init((char *)ep->body.data, (unsigned)ep->body.len)};
        ep->in_window = r->measuring;
        if (ep->in_window) {
            e->sent += e->per_call;
        }
        rc = conn_send(ep->conn, bufs, 2, e2e_on_produced, ep);
        if (rc != 0 && ep->in_window) {
            e->sent -= e->per_call;
            ep->in_window = false;
        }
    }
    if (rc != 0) {
        run_failure(r, rc, 0, NULL, 0);
    }
}

static void e2e_on_tick(uv_timer_t *t)
{
    struct e2e *e = t->data;
    if (!e->producing) {
        return;
    }
    if (e->r->measuring && e->window_begin_us == 0) {
        e->window_begin_us = e->r->measure_begin_ns / 1000;
    }
    for (size_t i = 0; i < E2E_PRODUCERS; i++) {
        if (!e->producers[i].closed && !conn_is_busy(e->producers[i].conn)) {
            e2e_produce(e, &e->producers[i]);
            return;
        }
    }
    if (e->r->measuring) {
        e->skipped++;
    }
}

/* A record's Data: counted when stamped in the window. */
static void e2e_on_data(void *arg, const char *b64, size_t n)
{
    struct e2e *e = arg;
    struct run *r = e->r;
    uint64_t stamp = 0;
    if (!body_unstamp(b64, n, &stamp) || e->window_begin_us == 0 || stamp < e->window_begin_us ||
        (e->window_end_us != 0 && stamp > e->window_end_us)) {
        return;
    }
    uint64_t now = run_now_us();
    hist_record(r->latency_us, now > stamp ? now - stamp : 0);
    r->report.records++;
    r->report.bytes += r->opts->record_bytes;
    e->seen++;
}

static void e2e_on_wait(uv_timer_t *t)
{
    e2e_read(t->data);
}

static void e2e_on_read(
    struct conn *c, void *arg, int status, unsigned http_status, const char *body, size_t len)
{
    (void)c;
    struct e2e_reader *er = arg;
    struct e2e *e = er->e;
    struct run *r = e->r;
    struct run_shard *sh = &r->shards[er->shard];
    if (status != 0 || http_status != 200) {
        run_failure(r, status, http_status, body, len);
        if (r->stopping) {
            e2e_close_reader(er);
        } else {
            uv_timer_start(&er->wait, e2e_on_wait, E2E_RETRY_MS, 0);
        }
        return;
    }
    struct scan_records sr;
    scan_get_records(body, len, &sr, e2e_on_data, e);
    eddy_free(sh->iterator);
    sh->iterator = NULL;
    if (sr.next_iterator != NULL && sr.next_iterator_len <= BODY_FIELD_MAX) {
        sh->iterator = eddy_xmalloc(sr.next_iterator_len + 1);
        memcpy(sh->iterator, sr.next_iterator, sr.next_iterator_len);
        sh->iterator[sr.next_iterator_len] = '\0';
        sh->iterator_len = sr.next_iterator_len;
    }
    if (e->draining && e->seen >= e->sent) {
        e2e_close_idle(e);
    }
    if (r->stopping && !e->draining) {
        e2e_close_reader(er);
        return;
    }
    if (er->closed) {
        return;
    }
    if (sr.records > 0) {
        e2e_read(er);
    } else {
        uv_timer_start(&er->wait, e2e_on_wait, r->opts->poll_ms, 0);
    }
}

static void e2e_read(struct e2e_reader *er)
{
    struct run *r = er->e->r;
    struct run_shard *sh = &r->shards[er->shard];
    if (er->closed || sh->iterator == NULL) {
        e2e_close_reader(er);
        return;
    }
    uv_buf_t bufs[2];
    int rc = run_get_records_request(r, er->shard, &er->head, &er->body, bufs);
    if (rc == 0) {
        rc = conn_send(er->conn, bufs, 2, e2e_on_read, er);
    }
    if (rc != 0) {
        run_failure(r, rc, 0, NULL, 0);
        uv_timer_start(&er->wait, e2e_on_wait, E2E_RETRY_MS, 0);
    }
}

static void e2e_on_drain_end(uv_timer_t *t)
{
    struct e2e *e = t->data;
    e->draining = false;
    e2e_close_idle(e);
}

/* The window ended (or the run stops): stop producing, let the readers
 * catch up for a while, then close. */
static void e2e_stop(struct run *r)
{
    struct e2e *e = r->workload;
    if (e == NULL) {
        return; /* still in setup */
    }
    e->producing = false;
    e->window_end_us = r->measure_end_ns / 1000;
    uv_timer_stop(&e->tick);
    for (size_t i = 0; i < E2E_PRODUCERS; i++) {
        if (!e->producers[i].closed && !conn_is_busy(e->producers[i].conn)) {
            e2e_close_producer(&e->producers[i]);
        }
    }
    e->draining = true;
    uv_timer_start(&e->drain, e2e_on_drain_end, E2E_DRAIN_MS, 0);
}

static void e2e_start(struct run *r)
{
    const struct run_opts *o = r->opts;
    struct e2e *e = eddy_xcalloc(1, sizeof(*e));
    e->r = r;
    uint64_t per_call = (uint64_t)o->rate * o->interval_ms / 1000;
    e->per_call = per_call < 1 ? 1 : per_call > 500 ? 500 : (unsigned)per_call;
    uint64_t rng = UINT64_C(0xD1B54A32D192ED03) ^ (uint64_t)uv_hrtime();
    for (size_t i = 0; i < E2E_PRODUCERS; i++) {
        struct e2e_producer *ep = &e->producers[i];
        ep->e = e;
        ep->idx = i;
        ep->conn = run_conn(r, i);
        buf_init(&ep->head, E2E_BODY_MAX);
        buf_init(&ep->body, E2E_BODY_MAX);
        ep->offsets = eddy_xcalloc(e->per_call, sizeof(*ep->offsets));
        int rc =
            body_put(&ep->body, o->stream, e->per_call, o->record_bytes, false, &rng, ep->offsets);
        EDDY_ASSERT(rc == 0); /* per_call * record_bytes is bounded by main */
        e->open++;
    }
    e->reader_count = r->shard_count;
    e->readers = eddy_xcalloc(e->reader_count, sizeof(*e->readers));
    for (size_t i = 0; i < e->reader_count; i++) {
        struct e2e_reader *er = &e->readers[i];
        er->e = e;
        er->shard = i;
        er->conn = run_conn(r, i);
        uv_timer_init(&r->loop, &er->wait);
        er->wait.data = er;
        buf_init(&er->head, E2E_BODY_MAX);
        buf_init(&er->body, E2E_BODY_MAX);
        e->open++;
    }
    uv_timer_init(&r->loop, &e->tick);
    uv_timer_init(&r->loop, &e->drain);
    e->tick.data = e;
    e->drain.data = e;
    e->open += 2;
    r->workload = e;
    r->report.shards = (unsigned)r->shard_count;
    r->report.connections = (unsigned)(E2E_PRODUCERS + r->shard_count);
    r->report.batch = e->per_call;
    e->producing = true;
    for (size_t i = 0; i < e->reader_count; i++) {
        e2e_read(&e->readers[i]);
    }
    uv_timer_start(&e->tick, e2e_on_tick, o->interval_ms, o->interval_ms);
    run_window(r);
}

static void e2e_on_setup(struct run *r, int status)
{
    if (status != 0) {
        run_abort(r, status, "setup of the readers failed");
        run_workload_done(r);
        return;
    }
    if (r->stopping) {
        run_workload_done(r);
        return;
    }
    e2e_start(r);
}

int workload_e2e(struct run *r)
{
    snprintf(r->report.api, sizeof(r->report.api), "PutRecords+GetRecords");
    r->report.record_bytes = r->opts->record_bytes;
    r->stop = e2e_stop;
    r->workload = NULL;
    setup_iterators(r, "LATEST", e2e_on_setup);
    return 0;
}
