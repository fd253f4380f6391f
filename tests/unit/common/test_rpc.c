/*
 * Tests for the RPC module: the frame codec on its own, then a server and a
 * client on 127.0.0.1 inside one loop per test (created in the checked
 * fixture, so after check's fork).
 */
#include "eddy/rpc.h"
#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/buf.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Test hook defined in common/rpc.c. */
unsigned rpc_server_reading_count_for_test(const struct rpc_server *s);

#include "../support/uv_loop_fixture.h"

/* A port nothing listens on: bound by a socket closed again at once. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- frame ---- */

static void frame_get_catalog(Eddy__Frame *f, Eddy__GetCatalogReq *req, uint64_t version)
{
    eddy__get_catalog_req__init(req);
    req->known_version = version;
    eddy__frame__init(f);
    f->body_case = EDDY__FRAME__BODY_GET_CATALOG;
    f->get_catalog = req;
}

static size_t encode_get_catalog(uint64_t id, uint64_t version, uint8_t **out)
{
    Eddy__GetCatalogReq req;
    Eddy__Frame f;
    frame_get_catalog(&f, &req, version);
    f.id = id;
    size_t len;
    ck_assert_int_eq(rpc_frame_encode(&f, out, &len), 0);
    return len;
}

START_TEST(test_rpc_frame_encode_decode_round_trip)
{
    uint8_t data[] = {1, 2, 3, 0, 255};
    Eddy__PutRecord rec = EDDY__PUT_RECORD__INIT;
    rec.shard = 7;
    rec.partition_key = "pk";
    rec.data.data = data;
    rec.data.len = sizeof(data);
    Eddy__PutRecord *recs[] = {&rec, &rec};
    Eddy__PutRecordsReq put = EDDY__PUT_RECORDS_REQ__INIT;
    put.group = 3;
    put.stream = "s";
    put.n_records = 2;
    put.records = recs;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.id = UINT64_MAX;
    f.body_case = EDDY__FRAME__BODY_PUT_RECORDS;
    f.put_records = &put;

    uint8_t *out;
    size_t len;
    ck_assert_int_eq(rpc_frame_encode(&f, &out, &len), 0);
    ck_assert_uint_eq(len, 4 + eddy__frame__get_packed_size(&f));
    uint32_t n = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
    ck_assert_uint_eq(n, len - 4);

    size_t used;
    Eddy__Frame *g;
    ck_assert_int_eq(rpc_frame_decode(out, len, &used, &g), 0);
    ck_assert_uint_eq(used, len);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->id, UINT64_MAX);
    ck_assert_int_eq(g->body_case, EDDY__FRAME__BODY_PUT_RECORDS);
    ck_assert_uint_eq(g->put_records->group, 3);
    ck_assert_str_eq(g->put_records->stream, "s");
    ck_assert_uint_eq(g->put_records->n_records, 2);
    ck_assert_uint_eq(g->put_records->records[1]->shard, 7);
    ck_assert_str_eq(g->put_records->records[1]->partition_key, "pk");
    ck_assert_uint_eq(g->put_records->records[1]->data.len, sizeof(data));
    ck_assert_mem_eq(g->put_records->records[1]->data.data, data, sizeof(data));
    rpc_frame_free(g);
    eddy_free(out);
}
END_TEST

START_TEST(test_rpc_frame_decode_partial_byte_by_byte)
{
    uint8_t *a;
    uint8_t *b;
    size_t alen = encode_get_catalog(1, 100, &a);
    size_t blen = encode_get_catalog(2, 200, &b);
    uint8_t *both = malloc(alen + blen);
    memcpy(both, a, alen);
    memcpy(both + alen, b, blen);

    size_t used = 99;
    Eddy__Frame *g = (Eddy__Frame *)1;
    for (size_t k = 0; k < alen; k++) {
        ck_assert_int_eq(rpc_frame_decode(both, k, &used, &g), 0);
        ck_assert_uint_eq(used, 0);
        ck_assert_ptr_null(g);
    }
    for (size_t k = alen; k <= alen + blen; k++) {
        ck_assert_int_eq(rpc_frame_decode(both, k, &used, &g), 0);
        ck_assert_uint_eq(used, alen);
        ck_assert_uint_eq(g->id, 1);
        ck_assert_uint_eq(g->get_catalog->known_version, 100);
        rpc_frame_free(g);
    }
    ck_assert_int_eq(rpc_frame_decode(both + alen, blen, &used, &g), 0);
    ck_assert_uint_eq(used, blen);
    ck_assert_uint_eq(g->id, 2);
    ck_assert_uint_eq(g->get_catalog->known_version, 200);
    rpc_frame_free(g);
    free(both);
    eddy_free(a);
    eddy_free(b);
}
END_TEST

START_TEST(test_rpc_frame_decode_oversize_length)
{
    uint32_t n = RPC_FRAME_BYTES_MAX + 1;
    uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    size_t used;
    Eddy__Frame *g;
    ck_assert_int_eq(rpc_frame_decode(hdr, sizeof(hdr), &used, &g), -EDDY_ETOOBIG);
    ck_assert_ptr_null(g);
    uint8_t max[4] = {0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(rpc_frame_decode(max, sizeof(max), &used, &g), -EDDY_ETOOBIG);
    /* Exactly the limit is a length to wait for, not an error. */
    n = RPC_FRAME_BYTES_MAX;
    uint8_t at[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    ck_assert_int_eq(rpc_frame_decode(at, sizeof(at), &used, &g), 0);
    ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_rpc_frame_decode_garbage)
{
    uint8_t bad[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};
    size_t used = 1;
    Eddy__Frame *g;
    ck_assert_int_eq(rpc_frame_decode(bad, sizeof(bad), &used, &g), -EDDY_EMALFORMED);
    ck_assert_ptr_null(g);
    ck_assert_uint_eq(used, 0);
    /* Field 10 (a message) claiming more bytes than the frame holds. */
    uint8_t trunc[] = {0, 0, 0, 2, 0x52, 0x10};
    ck_assert_int_eq(rpc_frame_decode(trunc, sizeof(trunc), &used, &g), -EDDY_EMALFORMED);
}
END_TEST

START_TEST(test_rpc_frame_decode_empty_frame)
{
    uint8_t empty[] = {0, 0, 0, 0};
    size_t used;
    Eddy__Frame *g;
    ck_assert_int_eq(rpc_frame_decode(empty, sizeof(empty), &used, &g), 0);
    ck_assert_uint_eq(used, 4);
    ck_assert_uint_eq(g->id, 0);
    ck_assert_int_eq(g->body_case, EDDY__FRAME__BODY__NOT_SET);
    rpc_frame_free(g);
    rpc_frame_free(NULL);
}
END_TEST

START_TEST(test_rpc_frame_encode_too_big)
{
    size_t n = RPC_FRAME_BYTES_MAX;
    uint8_t *data = calloc(1, n);
    ck_assert_ptr_nonnull(data);
    Eddy__PutRecord rec = EDDY__PUT_RECORD__INIT;
    rec.data.data = data;
    rec.data.len = n;
    Eddy__PutRecord *recs[] = {&rec};
    Eddy__PutRecordsReq put = EDDY__PUT_RECORDS_REQ__INIT;
    put.n_records = 1;
    put.records = recs;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_PUT_RECORDS;
    f.put_records = &put;
    uint8_t *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(rpc_frame_encode(&f, &out, &len), -EDDY_ETOOBIG);
    ck_assert_ptr_null(out);
    free(data);
}
END_TEST

/* Allocation n of a decode fails: the decoder reports -ENOMEM and leaks
 * nothing (checked under ASan), or succeeds once n passes its count. */
START_TEST(test_rpc_frame_decode_alloc_failure)
{
    uint8_t data[] = {9, 9};
    Eddy__PutRecord rec = EDDY__PUT_RECORD__INIT;
    rec.partition_key = "k";
    rec.data.data = data;
    rec.data.len = sizeof(data);
    Eddy__PutRecord *recs[] = {&rec, &rec, &rec};
    Eddy__PutRecordsReq put = EDDY__PUT_RECORDS_REQ__INIT;
    put.stream = "stream";
    put.n_records = 3;
    put.records = recs;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_PUT_RECORDS;
    f.put_records = &put;
    uint8_t *out;
    size_t len;
    ck_assert_int_eq(rpc_frame_encode(&f, &out, &len), 0);

    size_t used;
    Eddy__Frame *g;
    eddy_alloc_fail_after(_i);
    int rv = rpc_frame_decode(out, len, &used, &g);
    eddy_alloc_fail_after(-1);
    if (rv == 0) {
        ck_assert_uint_eq(used, len);
        rpc_frame_free(g);
    } else {
        ck_assert_int_eq(rv, -ENOMEM);
        ck_assert_ptr_null(g);
    }
    eddy_free(out);
}
END_TEST

/* ---- server and client ---- */

#define HELD_MAX (RPC_INFLIGHT_MAX + 64)

/* The test server: answers GetCatalogReq{known_version=v} with
 * NodeStatusResp{node=v}, at once or when the test releases held calls. */
struct tserver {
    struct rpc_server *rpc;
    int port;
    bool hold;
    size_t reply_bytes; /* > 0: GetCatalogReq gets a ReadResp of this many bytes */
    size_t seen;
    size_t held_count;
    struct rpc_call **held;
};

/* A PutRecordsReq is echoed as a ReadResp carrying the first record's data. */
static void tserver_reply_echo(struct rpc_call *call)
{
    const Eddy__Frame *req = rpc_call_request(call);
    Eddy__ReadRecord rec = EDDY__READ_RECORD__INIT;
    rec.data = req->put_records->records[0]->data;
    Eddy__ReadRecord *recs[] = {&rec};
    Eddy__ReadResp rr = EDDY__READ_RESP__INIT;
    rr.n_records = 1;
    rr.records = recs;
    Eddy__Frame resp = EDDY__FRAME__INIT;
    resp.body_case = EDDY__FRAME__BODY_READ_RESP;
    resp.read_resp = &rr;
    rpc_call_reply(call, &resp);
}

static void tserver_reply(struct rpc_call *call)
{
    const Eddy__Frame *req = rpc_call_request(call);
    if (req->body_case == EDDY__FRAME__BODY_PUT_RECORDS) {
        tserver_reply_echo(call);
        return;
    }
    Eddy__NodeStatusResp ns = EDDY__NODE_STATUS_RESP__INIT;
    if (req->body_case == EDDY__FRAME__BODY_GET_CATALOG) {
        ns.node = (uint32_t)req->get_catalog->known_version;
    }
    Eddy__Frame resp = EDDY__FRAME__INIT;
    resp.id = 12345; /* overwritten with the request's id */
    resp.body_case = EDDY__FRAME__BODY_NODE_STATUS_RESP;
    resp.node_status_resp = &ns;
    rpc_call_reply(call, &resp);
}

/* A ReadResp with one record of ts->reply_bytes bytes. */
static void tserver_reply_big(struct tserver *ts, struct rpc_call *call)
{
    uint8_t *data = malloc(ts->reply_bytes);
    ck_assert_ptr_nonnull(data);
    memset(data, 'r', ts->reply_bytes);
    Eddy__ReadRecord rec = EDDY__READ_RECORD__INIT;
    rec.data.data = data;
    rec.data.len = ts->reply_bytes;
    Eddy__ReadRecord *recs[] = {&rec};
    Eddy__ReadResp rr = EDDY__READ_RESP__INIT;
    rr.n_records = 1;
    rr.records = recs;
    Eddy__Frame resp = EDDY__FRAME__INIT;
    resp.body_case = EDDY__FRAME__BODY_READ_RESP;
    resp.read_resp = &rr;
    rpc_call_reply(call, &resp);
    free(data);
}

static void tserver_answer(struct tserver *ts, struct rpc_call *call)
{
    if (ts->reply_bytes > 0) {
        tserver_reply_big(ts, call);
    } else {
        tserver_reply(call);
    }
}

static void tserver_on_call(void *data, struct rpc_call *call)
{
    struct tserver *ts = data;
    ts->seen++;
    if (!ts->hold) {
        tserver_answer(ts, call);
        return;
    }
    ck_assert_uint_lt(ts->held_count, HELD_MAX);
    ts->held[ts->held_count++] = call;
}

static void tserver_start(struct tserver *ts, int port)
{
    memset(ts, 0, sizeof(*ts));
    ts->port = port;
    ts->held = calloc(HELD_MAX, sizeof(*ts->held));
    ck_assert_int_eq(rpc_server_init(&ts->rpc, &loop, "127.0.0.1", port, tserver_on_call, ts), 0);
}

/* Replies to every held call, in an order that is not the arrival order. */
static void tserver_release(struct tserver *ts)
{
    size_t n = ts->held_count;
    ts->held_count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = n > 1 ? (i * 7919) % n : i;
        tserver_answer(ts, ts->held[k]);
    }
}

static void tserver_stop(struct tserver *ts)
{
    bool closed = false;
    rpc_server_close(ts->rpc, on_flag, &closed);
    run_until(&closed);
    ts->rpc = NULL;
}

static void tserver_free(struct tserver *ts)
{
    free(ts->held);
    ts->held = NULL;
}

struct tcall {
    int status;
    int count;
    uint32_t node;
    int *done; /* incremented on completion */
};

static bool in_client_call;

static void tcall_on_resp(void *arg, int status, const Eddy__Frame *resp)
{
    struct tcall *t = arg;
    ck_assert_msg(!in_client_call, "callback ran inside rpc_client_call");
    t->count++;
    t->status = status;
    if (status == 0) {
        ck_assert_ptr_nonnull(resp);
        t->node = resp->body_case == EDDY__FRAME__BODY_NODE_STATUS_RESP
                      ? resp->node_status_resp->node
                      : UINT32_MAX;
    } else {
        ck_assert_ptr_null(resp);
    }
    if (t->done != NULL) {
        (*t->done)++;
    }
}

static void
tcall_start(struct rpc_client *c, struct tcall *t, int *done, uint64_t version, uint32_t timeout_ms)
{
    memset(t, 0, sizeof(*t));
    t->status = 1;
    t->done = done;
    Eddy__GetCatalogReq req;
    Eddy__Frame f;
    frame_get_catalog(&f, &req, version);
    f.id = 777; /* the client picks its own id and leaves this one alone */
    in_client_call = true;
    rpc_client_call(c, &f, timeout_ms, tcall_on_resp, t);
    in_client_call = false;
    ck_assert_uint_eq(f.id, 777);
    ck_assert_int_eq(t->count, 0);
}

static void run_until_count(const int *done, int n)
{
    while (*done < n) {
        if (uv_run(&loop, UV_RUN_ONCE) == 0 && *done < n) {
            ck_abort_msg("loop ran dry");
        }
    }
}

static struct rpc_client *client_open(int port)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    struct rpc_client *c;
    ck_assert_int_eq(rpc_client_init(&c, &loop, addr), 0);
    ck_assert_str_eq(rpc_client_address(c), addr);
    return c;
}

static void client_close(struct rpc_client *c)
{
    bool closed = false;
    rpc_client_close(c, on_flag, &closed);
    ck_assert(!closed);
    run_until(&closed);
}

/* One call that must succeed with node == version. */
static void call_ok(struct rpc_client *c, uint64_t version)
{
    struct tcall t;
    int done = 0;
    tcall_start(c, &t, &done, version, 5000);
    run_until_count(&done, 1);
    ck_assert_int_eq(t.status, 0);
    ck_assert_uint_eq(t.node, version);
}

START_TEST(test_rpc_call_concurrent_out_of_order)
{
    enum { N = 1000 };
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct rpc_client *c = client_open(ts.port);
    struct tcall *calls = calloc(N, sizeof(*calls));
    int done = 0;
    for (int i = 0; i < N; i++) {
        tcall_start(c, &calls[i], &done, 1000 + (uint64_t)i, 10000);
    }
    while (ts.held_count < N) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    tserver_release(&ts);
    run_until_count(&done, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(calls[i].count, 1);
        ck_assert_int_eq(calls[i].status, 0);
        ck_assert_uint_eq(calls[i].node, 1000 + (uint32_t)i);
    }
    client_close(c);
    tserver_stop(&ts);
    tserver_free(&ts);
    free(calls);
}
END_TEST

START_TEST(test_rpc_call_timeout_then_late_reply_dropped)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct rpc_client *c = client_open(ts.port);
    struct tcall t;
    int done = 0;
    tcall_start(c, &t, &done, 1, 50);
    run_until_count(&done, 1);
    ck_assert_int_eq(t.status, -EDDY_ETIMEDOUT);
    ck_assert_uint_eq(ts.held_count, 1);
    tserver_release(&ts); /* the late reply is dropped by the client */
    ts.hold = false;
    call_ok(c, 2);
    ck_assert_int_eq(t.count, 1);
    client_close(c);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_call_timeouts_fire_soonest_first)
{
    /* Calls with different timeouts, the later one made first. */
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct rpc_client *c = client_open(ts.port);
    struct tcall slow;
    struct tcall fast;
    int done = 0;
    tcall_start(c, &slow, &done, 1, 300);
    tcall_start(c, &fast, &done, 2, 30);
    run_until_count(&done, 1);
    ck_assert_int_eq(fast.status, -EDDY_ETIMEDOUT);
    ck_assert_int_eq(slow.count, 0);
    run_until_count(&done, 2);
    ck_assert_int_eq(slow.status, -EDDY_ETIMEDOUT);
    client_close(c);
    tserver_release(&ts);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_call_server_closed_fails_pending)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct rpc_client *c = client_open(ts.port);
    struct tcall t[3];
    int done = 0;
    for (int i = 0; i < 3; i++) {
        tcall_start(c, &t[i], &done, (uint64_t)i, 10000);
    }
    while (ts.held_count < 3) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    tserver_stop(&ts);
    run_until_count(&done, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(t[i].count, 1);
        ck_assert_int_eq(t[i].status, -EDDY_EUNKNOWN);
    }
    tserver_release(&ts); /* replies after the connection closed are dropped */
    client_close(c);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_call_reconnect_after_server_restart)
{
    int port = free_port();
    struct tserver ts;
    tserver_start(&ts, port);
    struct rpc_client *c = client_open(port);
    call_ok(c, 1);
    tserver_stop(&ts);
    tserver_free(&ts);

    /* The lost connection fails this call; the next one is inside the
     * back-off and fails at once, without a connection attempt. */
    struct tcall t;
    int done = 0;
    tcall_start(c, &t, &done, 2, 5000);
    run_until_count(&done, 1);
    ck_assert_int_eq(t.status, -EDDY_EUNAVAILABLE);
    tcall_start(c, &t, &done, 3, 5000);
    run_until_count(&done, 2);
    ck_assert_int_eq(t.status, -EDDY_EUNAVAILABLE);

    tserver_start(&ts, port);
    sleep_ms(RPC_CONNECT_RETRY_MS + 20);
    call_ok(c, 4);
    ck_assert_uint_eq(ts.seen, 1);
    client_close(c);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_call_refused_then_backoff)
{
    struct rpc_client *c = client_open(free_port());
    struct tcall t[2];
    int done = 0;
    tcall_start(c, &t[0], &done, 1, 5000);
    run_until_count(&done, 1);
    ck_assert_int_eq(t[0].status, -EDDY_EUNAVAILABLE);
    tcall_start(c, &t[1], &done, 2, 5000);
    run_until_count(&done, 2);
    ck_assert_int_eq(t[1].status, -EDDY_EUNAVAILABLE);
    client_close(c);
}
END_TEST

START_TEST(test_rpc_call_inflight_limit_fails_full)
{
    struct rpc_client *c = client_open(free_port());
    enum { N = RPC_INFLIGHT_MAX + 1 };
    struct tcall *t = calloc(N, sizeof(*t));
    int done = 0;
    for (int i = 0; i < N; i++) {
        tcall_start(c, &t[i], &done, (uint64_t)i, 5000);
    }
    run_until_count(&done, N);
    for (int i = 0; i < N - 1; i++) {
        ck_assert_int_eq(t[i].count, 1);
        ck_assert_int_eq(t[i].status, -EDDY_EUNAVAILABLE);
    }
    ck_assert_int_eq(t[N - 1].status, -EDDY_EFULL);
    client_close(c);
    free(t);
}
END_TEST

START_TEST(test_rpc_call_close_fails_pending_shutdown)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct rpc_client *c = client_open(ts.port);
    struct tcall t[2];
    int done = 0;
    tcall_start(c, &t[0], &done, 1, 5000);
    while (ts.held_count < 1) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    tcall_start(c, &t[1], &done, 2, 5000);
    bool closed = false;
    rpc_client_close(c, on_flag, &closed);
    ck_assert_int_eq(done, 0);
    run_until(&closed);
    ck_assert_int_eq(done, 2);
    ck_assert_int_eq(t[0].status, -EDDY_ESHUTDOWN);
    ck_assert_int_eq(t[1].status, -EDDY_ESHUTDOWN);
    tserver_release(&ts);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_call_hostname_resolved)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    ck_assert_int_eq(getaddrinfo("localhost", NULL, &hints, &res), 0);
    char host[INET6_ADDRSTRLEN];
    ck_assert_int_eq(
        getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST), 0);
    freeaddrinfo(res);
    int port = free_port();
    struct tserver ts;
    memset(&ts, 0, sizeof(ts));
    ck_assert_int_eq(rpc_server_init(&ts.rpc, &loop, host, port, tserver_on_call, &ts), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "localhost:%d", port);
    struct rpc_client *c;
    ck_assert_int_eq(rpc_client_init(&c, &loop, addr), 0);
    call_ok(c, 42);
    client_close(c);
    tserver_stop(&ts);
}
END_TEST

START_TEST(test_rpc_call_close_while_resolving)
{
    struct rpc_client *c;
    ck_assert_int_eq(rpc_client_init(&c, &loop, "localhost:1"), 0);
    struct tcall t;
    int done = 0;
    tcall_start(c, &t, &done, 1, 5000);
    client_close(c);
    ck_assert_int_eq(t.status, -EDDY_ESHUTDOWN);
}
END_TEST

START_TEST(test_rpc_call_response_frame_to_server_closes)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    struct rpc_client *c = client_open(ts.port);
    Eddy__Ack ack = EDDY__ACK__INIT;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_ACK;
    f.ack = &ack;
    struct tcall t;
    memset(&t, 0, sizeof(t));
    int done = 0;
    t.done = &done;
    rpc_client_call(c, &f, 5000, tcall_on_resp, &t);
    run_until_count(&done, 1);
    ck_assert_int_eq(t.status, -EDDY_EUNKNOWN);
    ck_assert_uint_eq(ts.seen, 0);
    client_close(c);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

static void on_unknown_resp(void *arg, int status, const Eddy__Frame *resp)
{
    int *code = arg;
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(resp->body_case, EDDY__FRAME__BODY_ACK);
    ck_assert_ptr_nonnull(resp->ack->status);
    *code = resp->ack->status->code;
}

START_TEST(test_rpc_call_unknown_request_gets_einval)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    struct rpc_client *c = client_open(ts.port);
    Eddy__Frame f = EDDY__FRAME__INIT; /* no body: what a newer peer's request looks like */
    int code = 1;
    rpc_client_call(c, &f, 5000, on_unknown_resp, &code);
    while (code == 1) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(code, -EDDY_EINVAL);
    ck_assert_uint_eq(ts.seen, 0);
    client_close(c);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_call_init_rejects_bad_address)
{
    static const char *bad[] = {"nohost",  "h:",   ":80",      "h:0",
                                "h:65536", "h:8o", "h:123456", "[]:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rpc_client *c = NULL;
        ck_assert_int_eq(rpc_client_init(&c, &loop, bad[i]), -EDDY_EINVAL);
        ck_assert_ptr_null(c);
    }
    struct rpc_client *c;
    ck_assert_int_eq(rpc_client_init(&c, &loop, "[::1]:9"), 0);
    client_close(c);
    struct rpc_server *s = NULL;
    ck_assert_int_eq(rpc_server_init(&s, &loop, "localhost", 1, tserver_on_call, NULL),
                     -EDDY_EINVAL);
    ck_assert_int_eq(rpc_server_init(&s, &loop, "127.0.0.1", 70000, tserver_on_call, NULL),
                     -EDDY_EINVAL);
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_rpc_call_server_port_in_use)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    struct rpc_server *s = NULL;
    ck_assert_int_eq(rpc_server_init(&s, &loop, "127.0.0.1", ts.port, tserver_on_call, NULL),
                     UV_EADDRINUSE);
    ck_assert_ptr_null(s);
    uv_run(&loop, UV_RUN_NOWAIT); /* frees the failed server */
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

struct big_call {
    const uint8_t *data;
    size_t len;
    int count;
};

static void on_big_resp(void *arg, int status, const Eddy__Frame *resp)
{
    struct big_call *b = arg;
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(resp->body_case, EDDY__FRAME__BODY_READ_RESP);
    ck_assert_uint_eq(resp->read_resp->n_records, 1);
    ck_assert_uint_eq(resp->read_resp->records[0]->data.len, b->len);
    ck_assert_mem_eq(resp->read_resp->records[0]->data.data, b->data, b->len);
    b->count++;
}

/* Frames of a few MiB arrive over many reads on both sides. */
START_TEST(test_rpc_call_large_frames)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    struct rpc_client *c = client_open(ts.port);
    size_t len = 3 * 1024 * 1024 + 17;
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++) {
        data[i] = (uint8_t)(i * 31 + 7);
    }
    Eddy__PutRecord rec = EDDY__PUT_RECORD__INIT;
    rec.data.data = data;
    rec.data.len = len;
    Eddy__PutRecord *recs[] = {&rec};
    Eddy__PutRecordsReq put = EDDY__PUT_RECORDS_REQ__INIT;
    put.n_records = 1;
    put.records = recs;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_PUT_RECORDS;
    f.put_records = &put;
    struct big_call b = {.data = data, .len = len};
    for (int i = 0; i < 3; i++) {
        rpc_client_call(c, &f, 10000, on_big_resp, &b);
    }
    while (b.count < 3) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    call_ok(c, 5); /* small frames still flow after the buffers shrank */
    client_close(c);
    tserver_stop(&ts);
    tserver_free(&ts);
    free(data);
}
END_TEST

struct closing_call {
    struct rpc_client *client;
    int statuses[2];
    int count;
    bool closed;
};

static void on_resp_close_client(void *arg, int status, const Eddy__Frame *resp)
{
    (void)resp;
    struct closing_call *x = arg;
    ck_assert_int_lt(x->count, 2);
    x->statuses[x->count++] = status;
    if (x->count == 1) {
        rpc_client_close(x->client, on_flag, &x->closed);
    }
}

/* The first response's callback closes the client while the second
 * response waits in the same read buffer. */
START_TEST(test_rpc_call_close_inside_callback)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct closing_call x = {.client = client_open(ts.port)};
    for (uint64_t i = 0; i < 2; i++) {
        Eddy__GetCatalogReq req;
        Eddy__Frame f;
        frame_get_catalog(&f, &req, i);
        rpc_client_call(x.client, &f, 5000, on_resp_close_client, &x);
    }
    while (ts.held_count < 2) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    tserver_release(&ts);
    run_until(&x.closed);
    ck_assert_int_eq(x.count, 2);
    ck_assert_int_eq(x.statuses[0], 0);
    ck_assert_int_eq(x.statuses[1], -EDDY_ESHUTDOWN);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

/* ---- raw listener: a "server" that answers any connection with fixed bytes ---- */

struct rawsrv {
    uv_tcp_t listener;
    uv_tcp_t conn;
    uv_write_t write;
    const uint8_t *data;
    size_t len;
    int closed;
};

static void rawsrv_on_connection(uv_stream_t *ls, int status)
{
    struct rawsrv *r = container_of((uv_tcp_t *)ls, struct rawsrv, listener);
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(uv_tcp_init(&loop, &r->conn), 0);
    ck_assert_int_eq(uv_accept(ls, (uv_stream_t *)&r->conn), 0);
    uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)r->len);
    ck_assert_int_eq(uv_write(&r->write, (uv_stream_t *)&r->conn, &b, 1, NULL), 0);
}

static void rawsrv_on_close(uv_handle_t *h)
{
    (*(int *)h->data)++;
}

/* A peer whose bytes the client must reject: its pending call fails. */
static void client_rejects_server_bytes(const uint8_t *data, size_t len)
{
    struct rawsrv r = {.data = data, .len = len};
    int port = free_port();
    struct sockaddr_in sa;
    ck_assert_int_eq(uv_ip4_addr("127.0.0.1", port, &sa), 0);
    ck_assert_int_eq(uv_tcp_init(&loop, &r.listener), 0);
    ck_assert_int_eq(uv_tcp_bind(&r.listener, (const struct sockaddr *)&sa, 0), 0);
    ck_assert_int_eq(uv_listen((uv_stream_t *)&r.listener, 8, rawsrv_on_connection), 0);
    struct rpc_client *c = client_open(port);
    struct tcall t;
    int done = 0;
    tcall_start(c, &t, &done, 1, 5000);
    run_until_count(&done, 1);
    ck_assert_int_eq(t.status, -EDDY_EUNKNOWN); /* it was sent */
    client_close(c);
    r.listener.data = &r.closed;
    r.conn.data = &r.closed;
    uv_close((uv_handle_t *)&r.listener, rawsrv_on_close);
    uv_close((uv_handle_t *)&r.conn, rawsrv_on_close);
    while (r.closed < 2) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

START_TEST(test_rpc_call_request_frame_from_server_fails)
{
    uint8_t *req;
    size_t len = encode_get_catalog(1, 1, &req);
    client_rejects_server_bytes(req, len);
    eddy_free(req);
}
END_TEST

START_TEST(test_rpc_call_garbage_from_server_fails)
{
    static const uint8_t junk[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    client_rejects_server_bytes(junk, sizeof(junk));
}
END_TEST

/* ---- raw peer: bytes straight onto a server connection ---- */

struct raw {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uint8_t *wdata;
    struct buf rbuf;
    size_t frames;
    bool is_connected;
    bool is_eof;
    bool is_closed;
};

static void raw_on_connect(uv_connect_t *req, int status)
{
    struct raw *r = container_of(req, struct raw, connect);
    ck_assert_int_eq(status, 0);
    r->is_connected = true;
}

static void raw_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct raw *r = container_of((uv_tcp_t *)h, struct raw, tcp);
    ck_assert_int_eq(buf_reserve(&r->rbuf, suggested), 0);
    *out = uv_buf_init((char *)r->rbuf.data + r->rbuf.len, (unsigned)suggested);
}

static void raw_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct raw *r = container_of((uv_tcp_t *)st, struct raw, tcp);
    if (nread < 0) {
        r->is_eof = true;
        return;
    }
    r->rbuf.len += (size_t)nread;
    size_t off = 0;
    for (;;) {
        size_t used;
        Eddy__Frame *f;
        ck_assert_int_eq(rpc_frame_decode(r->rbuf.data + off, r->rbuf.len - off, &used, &f), 0);
        if (used == 0) {
            break;
        }
        if (f->body_case == EDDY__FRAME__BODY_READ_RESP) {
            ck_assert_uint_eq(f->read_resp->n_records, 1);
        } else {
            ck_assert_int_eq(f->body_case, EDDY__FRAME__BODY_NODE_STATUS_RESP);
            ck_assert_uint_eq(f->node_status_resp->node, f->id);
        }
        rpc_frame_free(f);
        off += used;
        r->frames++;
    }
    buf_consume(&r->rbuf, off);
}

static void raw_on_write(uv_write_t *req, int status)
{
    (void)req;
    (void)status;
}

static void raw_open(struct raw *r, int port, uint8_t *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->rbuf, 64 * 1024 * 1024);
    ck_assert_int_eq(uv_tcp_init(&loop, &r->tcp), 0);
    struct sockaddr_in sa;
    ck_assert_int_eq(uv_ip4_addr("127.0.0.1", port, &sa), 0);
    ck_assert_int_eq(
        uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&sa, raw_on_connect), 0);
    run_until(&r->is_connected);
    ck_assert_int_eq(uv_read_start((uv_stream_t *)&r->tcp, raw_on_alloc, raw_on_read), 0);
    r->wdata = data;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    ck_assert_int_eq(uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, raw_on_write), 0);
}

static void raw_on_close(uv_handle_t *h)
{
    struct raw *r = container_of((uv_tcp_t *)h, struct raw, tcp);
    r->is_closed = true;
}

static void raw_close(struct raw *r)
{
    uv_close((uv_handle_t *)&r->tcp, raw_on_close);
    run_until(&r->is_closed);
    buf_free(&r->rbuf);
    free(r->wdata);
}

START_TEST(test_rpc_server_garbage_closes_connection)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    uint8_t *junk = malloc(12);
    memcpy(junk, "\0\0\0\x08garbage!", 12);
    struct raw r;
    raw_open(&r, ts.port, junk, 12);
    run_until(&r.is_eof);
    ck_assert_uint_eq(ts.seen, 0);
    raw_close(&r);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_server_oversize_frame_closes_connection)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    uint8_t *junk = malloc(4);
    memset(junk, 0xff, 4);
    struct raw r;
    raw_open(&r, ts.port, junk, 4);
    run_until(&r.is_eof);
    raw_close(&r);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

/* A peer that pipelines past RPC_INFLIGHT_MAX: the server stops taking
 * requests at the limit, and takes the rest once replies free it up. */
START_TEST(test_rpc_server_inflight_limit_stops_reading)
{
    enum { N = RPC_INFLIGHT_MAX + 4 };
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct buf out;
    buf_init(&out, 64 * 1024 * 1024);
    for (uint64_t i = 1; i <= N; i++) {
        uint8_t *one;
        size_t len = encode_get_catalog(i, i, &one);
        ck_assert_int_eq(buf_append(&out, one, len), 0);
        eddy_free(one);
    }
    size_t len;
    uint8_t *all = buf_steal(&out, &len);
    uint8_t *copy = malloc(len);
    memcpy(copy, all, len);
    eddy_free(all);
    struct raw r;
    raw_open(&r, ts.port, copy, len);
    while (ts.seen < RPC_INFLIGHT_MAX) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    sleep_ms(50);
    ck_assert_uint_eq(ts.seen, RPC_INFLIGHT_MAX);
    ts.hold = false;
    tserver_release(&ts);
    while (r.frames < N) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_uint_eq(ts.seen, N);
    raw_close(&r);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

/* Replies the peer does not read, queued past RPC_WRITE_QUEUE_BYTES_MAX: the
 * server stops reading that connection at once and takes no request, then
 * takes the rest once the peer reads and the queue drains. */
START_TEST(test_rpc_server_write_queue_stops_reading)
{
    enum { reply_bytes = 16 * 1024 * 1024, N = RPC_WRITE_QUEUE_BYTES_MAX / reply_bytes + 2 };
    static_assert(N < RPC_INFLIGHT_MAX, "the write queue is the limit hit first");
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct buf out;
    buf_init(&out, 64 * 1024);
    for (uint64_t i = 1; i <= N; i++) {
        uint8_t *one;
        size_t len = encode_get_catalog(i, i, &one);
        ck_assert_int_eq(buf_append(&out, one, len), 0);
        eddy_free(one);
    }
    size_t len;
    uint8_t *all = buf_steal(&out, &len);
    uint8_t *copy = malloc(len);
    memcpy(copy, all, len);
    eddy_free(all);
    struct raw r;
    raw_open(&r, ts.port, copy, len);
    ck_assert_int_eq(uv_read_stop((uv_stream_t *)&r.tcp), 0); /* the peer reads no reply */
    while (ts.seen < N) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_uint_eq(rpc_server_reading_count_for_test(ts.rpc), 1);
    ts.hold = false;
    ts.reply_bytes = reply_bytes;
    tserver_release(&ts);
    ck_assert_uint_eq(rpc_server_reading_count_for_test(ts.rpc), 0);
    /* One more request is not taken while the replies wait. */
    uint8_t *more;
    size_t more_len = encode_get_catalog(N + 1, N + 1, &more);
    uv_write_t w;
    uv_buf_t b = uv_buf_init((char *)more, (unsigned)more_len);
    ck_assert_int_eq(uv_write(&w, (uv_stream_t *)&r.tcp, &b, 1, raw_on_write), 0);
    sleep_ms(50);
    ck_assert_uint_eq(ts.seen, N);
    ck_assert_uint_eq(rpc_server_reading_count_for_test(ts.rpc), 0);
    ck_assert_int_eq(uv_read_start((uv_stream_t *)&r.tcp, raw_on_alloc, raw_on_read), 0);
    while (r.frames < N + 1) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_uint_eq(ts.seen, N + 1);
    ck_assert_uint_eq(rpc_server_reading_count_for_test(ts.rpc), 1);
    eddy_free(more);
    raw_close(&r);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

/* A non-blocking connection to port; the loop accepts it later. */
static int connect_raw_fd(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    ck_assert(rv == 0 || errno == EINPROGRESS);
    return fd;
}

static void pump(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    poll(NULL, 0, 1);
}

/* Past RPC_SERVER_CONNECTIONS_MAX a connection is accepted and closed at
 * once; the ones before it still work, and a closed one frees its place. */
START_TEST(test_rpc_server_connections_refused_past_max)
{
    enum { total = RPC_SERVER_CONNECTIONS_MAX + 1 };
    struct rlimit lim;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2 * total + 64) {
        fprintf(stderr, "skipped: RLIMIT_NOFILE %lu too low\n", (unsigned long)lim.rlim_cur);
        return;
    }
    struct tserver ts;
    tserver_start(&ts, free_port());
    int *fds = malloc(total * sizeof(*fds));
    ck_assert_ptr_nonnull(fds);
    for (int i = 0; i < total; i++) {
        fds[i] = connect_raw_fd(ts.port);
        if (i % 64 == 63) {
            pump(); /* the listen backlog never overflows */
            pump();
        }
    }
    char byte;
    ssize_t n = -1;
    uint64_t deadline = uv_hrtime() / 1000000 + 3000;
    while (n != 0 && uv_hrtime() / 1000000 < deadline) {
        pump();
        n = recv(fds[total - 1], &byte, 1, 0);
    }
    ck_assert_int_eq(n, 0); /* the last one was closed at once */
    uint8_t *req;
    size_t req_len = encode_get_catalog(9, 9, &req);
    ck_assert_int_eq(send(fds[0], req, req_len, MSG_NOSIGNAL), (ssize_t)req_len);
    eddy_free(req);
    uint8_t resp[256];
    size_t got = 0;
    size_t used = 0;
    Eddy__Frame *f = NULL;
    while (used == 0 && uv_hrtime() / 1000000 < deadline) {
        pump();
        n = recv(fds[0], resp + got, sizeof(resp) - got, 0);
        got += n > 0 ? (size_t)n : 0;
        ck_assert_int_eq(rpc_frame_decode(resp, got, &used, &f), 0);
    }
    ck_assert_uint_gt(used, 0);
    ck_assert_uint_eq(f->id, 9);
    rpc_frame_free(f);
    /* A place freed by a closed connection is taken by the next one. */
    close(fds[1]);
    fds[1] = -1;
    sleep_ms(50);
    struct rpc_client *c = client_open(ts.port);
    call_ok(c, 5);
    client_close(c);
    for (int i = 0; i < total; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    free(fds);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

/* Replies are written at the end of a loop turn: replies made in a timer
 * callback (before the turn's poll) must not wait for other I/O to wake
 * the loop. */
static struct tserver *timer_ts;

static void on_release_timer(uv_timer_t *t)
{
    (void)t; /* a one-shot: nothing else is due (a closing handle would wake the loop) */
    tserver_release(timer_ts);
}

START_TEST(test_rpc_server_replies_from_a_timer_go_out)
{
    enum { N = 50 };
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct buf out;
    buf_init(&out, 1024 * 1024);
    for (uint64_t i = 1; i <= N; i++) {
        uint8_t *one;
        size_t len = encode_get_catalog(i, i, &one);
        ck_assert_int_eq(buf_append(&out, one, len), 0);
        eddy_free(one);
    }
    size_t len;
    uint8_t *all = buf_steal(&out, &len);
    uint8_t *copy = malloc(len);
    memcpy(copy, all, len);
    eddy_free(all);
    struct raw r; /* a raw peer: no timer of an rpc_client's wakes the loop */
    raw_open(&r, ts.port, copy, len);
    while (ts.held_count < N) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    timer_ts = &ts;
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, on_release_timer, 10, 0);
    while (r.frames < N) {
        uv_run(&loop, UV_RUN_ONCE); /* blocks for good if the replies wait for I/O */
    }
    uv_close((uv_handle_t *)&timer, NULL);
    raw_close(&r);
    tserver_stop(&ts);
    tserver_free(&ts);
}
END_TEST

START_TEST(test_rpc_server_reply_just_before_close_goes_out)
{
    struct tserver ts;
    tserver_start(&ts, free_port());
    ts.hold = true;
    struct rpc_client *c = client_open(ts.port);
    struct tcall t;
    int done = 0;
    tcall_start(c, &t, &done, 42, 10000);
    while (ts.held_count < 1) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    tserver_release(&ts); /* queued for the end of the turn... */
    tserver_stop(&ts);    /* ...which the close does not wait for */
    run_until_count(&done, 1);
    ck_assert_int_eq(t.status, 0);
    ck_assert_uint_eq(t.node, 42);
    client_close(c);
    tserver_free(&ts);
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");

    TCase *frame = tcase_create("frame");
    tcase_add_checked_fixture(frame, setup, teardown);
    tcase_set_timeout(frame, 10);
    tcase_add_test(frame, test_rpc_frame_encode_decode_round_trip);
    tcase_add_test(frame, test_rpc_frame_decode_partial_byte_by_byte);
    tcase_add_test(frame, test_rpc_frame_decode_oversize_length);
    tcase_add_test(frame, test_rpc_frame_decode_garbage);
    tcase_add_test(frame, test_rpc_frame_decode_empty_frame);
    tcase_add_test(frame, test_rpc_frame_encode_too_big);
    tcase_add_loop_test(frame, test_rpc_frame_decode_alloc_failure, 0, 32);
    suite_add_tcase(s, frame);

    TCase *call = tcase_create("call");
    tcase_add_checked_fixture(call, setup, teardown);
    tcase_set_timeout(call, 20);
    tcase_add_test(call, test_rpc_call_concurrent_out_of_order);
    tcase_add_test(call, test_rpc_call_timeout_then_late_reply_dropped);
    tcase_add_test(call, test_rpc_call_timeouts_fire_soonest_first);
    tcase_add_test(call, test_rpc_call_server_closed_fails_pending);
    tcase_add_test(call, test_rpc_call_reconnect_after_server_restart);
    tcase_add_test(call, test_rpc_call_refused_then_backoff);
    tcase_add_test(call, test_rpc_call_inflight_limit_fails_full);
    tcase_add_test(call, test_rpc_call_close_fails_pending_shutdown);
    tcase_add_test(call, test_rpc_call_hostname_resolved);
    tcase_add_test(call, test_rpc_call_close_while_resolving);
    tcase_add_test(call, test_rpc_call_response_frame_to_server_closes);
    tcase_add_test(call, test_rpc_call_unknown_request_gets_einval);
    tcase_add_test(call, test_rpc_call_init_rejects_bad_address);
    tcase_add_test(call, test_rpc_call_server_port_in_use);
    tcase_add_test(call, test_rpc_call_large_frames);
    tcase_add_test(call, test_rpc_call_close_inside_callback);
    tcase_add_test(call, test_rpc_call_request_frame_from_server_fails);
    tcase_add_test(call, test_rpc_call_garbage_from_server_fails);
    suite_add_tcase(s, call);

    TCase *server = tcase_create("server");
    tcase_add_checked_fixture(server, setup, teardown);
    tcase_set_timeout(server, 20);
    tcase_add_test(server, test_rpc_server_garbage_closes_connection);
    tcase_add_test(server, test_rpc_server_oversize_frame_closes_connection);
    tcase_add_test(server, test_rpc_server_inflight_limit_stops_reading);
    tcase_add_test(server, test_rpc_server_write_queue_stops_reading);
    tcase_add_test(server, test_rpc_server_connections_refused_past_max);
    tcase_add_test(server, test_rpc_server_replies_from_a_timer_go_out);
    tcase_add_test(server, test_rpc_server_reply_just_before_close_goes_out);
    suite_add_tcase(s, server);
    return s;
}

int main(void)
{
    /* As in the daemons: a write to a peer that went away is an error code. */
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(rpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
