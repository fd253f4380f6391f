/*
 * Unit tests for common/rmux.c, driving the raft_uv_transport interface the
 * way raft_uv does, plus raw sockets that speak the header of
 * common/README.md ("Raft mux header") byte by byte.
 */
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rmux.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

static uv_loop_t loop;
static struct rmux *hub_a;
static struct rmux *hub_b;
static char addr_a[32];
static char addr_b[32];
static int closes_pending;

/* What the fake raft_uv saw. */
static int accepts;
static raft_id accepted_id;
static char accepted_addr[300];
static uv_stream_t *accepted_stream;
static char received[256];
static size_t received_len;
static int connects;
static int connect_status;
static uv_stream_t *connected_stream;
static int transport_closes;
static bool is_connect_before_close;

typedef bool (*pred_fn)(void *ctx);

static bool run_until(pred_fn pred, void *ctx, uint64_t timeout_ms)
{
    uv_update_time(&loop);
    uint64_t deadline = uv_now(&loop) + timeout_ms;
    while (!pred(ctx)) {
        if (uv_now(&loop) >= deadline) {
            return false;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
        uv_update_time(&loop);
    }
    return true;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void on_hub_closed(void *arg)
{
    (void)arg;
    closes_pending--;
}

static bool pred_no_closes_pending(void *ctx)
{
    (void)ctx;
    return closes_pending == 0;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_ERROR);
    log_init_from_env();
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    snprintf(addr_a, sizeof(addr_a), "127.0.0.1:%d", free_port());
    snprintf(addr_b, sizeof(addr_b), "127.0.0.1:%d", free_port());
    ck_assert_int_eq(rmux_init(&hub_a, &loop, addr_a), 0);
    ck_assert_int_eq(rmux_init(&hub_b, &loop, addr_b), 0);
    closes_pending = 0;
    accepts = 0;
    accepted_id = 0;
    accepted_addr[0] = '\0';
    accepted_stream = NULL;
    received_len = 0;
    connects = 0;
    connect_status = -1;
    connected_stream = NULL;
    transport_closes = 0;
    is_connect_before_close = false;
}

static void teardown(void)
{
    closes_pending = 2;
    rmux_close(hub_a, on_hub_closed, NULL);
    rmux_close(hub_b, on_hub_closed, NULL);
    ck_assert(run_until(pred_no_closes_pending, NULL, WAIT_MS));
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* --- fake raft_uv callbacks --- */

static void on_read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(received + received_len, (unsigned)(sizeof(received) - received_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)s;
    (void)buf;
    if (nread > 0) {
        received_len += (size_t)nread;
    }
}

static void on_accept(struct raft_uv_transport *t, raft_id id, const char *address, uv_stream_t *s)
{
    (void)t;
    accepts++;
    accepted_id = id;
    snprintf(accepted_addr, sizeof(accepted_addr), "%s", address);
    accepted_stream = s;
    ck_assert_int_eq(uv_read_start(s, on_read_alloc, on_read), 0);
}

static void on_connect(struct raft_uv_connect *req, uv_stream_t *s, int status)
{
    (void)req;
    connects++;
    connect_status = status;
    connected_stream = s;
    is_connect_before_close = transport_closes == 0;
}

static void on_transport_closed(struct raft_uv_transport *t)
{
    (void)t;
    transport_closes++;
}

/* raft_uv releases streams with raft_free after uv_close. */
static void on_stream_closed(uv_handle_t *h)
{
    raft_free(h);
}

static bool pred_int_ge(void *ctx)
{
    int **p = ctx;
    return *p[0] >= *p[1];
}

static void wait_int(int *value, int want)
{
    int *pair[2] = {value, &want};
    ck_assert(run_until(pred_int_ge, pair, WAIT_MS));
}

static bool pred_received(void *ctx)
{
    return received_len >= *(size_t *)ctx;
}

static bool is_nodelay(uv_stream_t *s)
{
    uv_os_fd_t fd;
    ck_assert_int_eq(uv_fileno((uv_handle_t *)s, &fd), 0);
    int v = 0;
    socklen_t len = sizeof(v);
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    return v != 0;
}

static void transport_open(
    struct rmux *hub, struct raft_uv_transport *t, uint32_t group, raft_id id, const char *addr)
{
    ck_assert_int_eq(rmux_transport_init(hub, group, t), 0);
    ck_assert_int_eq(t->init(t, id, addr), 0);
    ck_assert_int_eq(t->listen(t, on_accept), 0);
}

static void transport_shut(struct raft_uv_transport *t)
{
    int before = transport_closes;
    t->close(t, on_transport_closed);
    ck_assert_int_eq(transport_closes, before); /* never from inside close() */
    wait_int(&transport_closes, before + 1);
    rmux_transport_close(t);
}

/* --- raw header (common/README.md) --- */

static size_t header_build(uint8_t *p,
                           uint32_t magic,
                           uint16_t version,
                           uint32_t group,
                           uint64_t src,
                           uint64_t dst,
                           const char *addr,
                           uint16_t addr_len)
{
    memset(p, 0, 32);
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(magic >> (8 * i));
        p[8 + i] = (uint8_t)(group >> (8 * i));
    }
    p[4] = (uint8_t)version;
    p[5] = (uint8_t)(version >> 8);
    p[6] = (uint8_t)addr_len;
    p[7] = (uint8_t)(addr_len >> 8);
    for (int i = 0; i < 8; i++) {
        p[16 + i] = (uint8_t)(src >> (8 * i));
        p[24 + i] = (uint8_t)(dst >> (8 * i));
    }
    memcpy(p + 32, addr, strlen(addr));
    return 32 + strlen(addr);
}

static int raw_connect(const char *addr)
{
    int port = atoi(strrchr(addr, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static bool pred_peer_closed(void *ctx)
{
    char c;
    ssize_t n = recv(*(int *)ctx, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Sends bytes on a raw connection and expects the hub to close it without
 * calling any accept callback. */
static void expect_rejected(const uint8_t *bytes, size_t len)
{
    int fd = raw_connect(addr_b);
    ck_assert_int_eq(send(fd, bytes, len, 0), (ssize_t)len);
    ck_assert(run_until(pred_peer_closed, &fd, WAIT_MS));
    close(fd);
    ck_assert_int_eq(accepts, 0);
}

/* --- tests --- */

START_TEST(test_rmux_connect_hands_streams_both_ways)
{
    struct raft_uv_transport ta;
    struct raft_uv_transport tb;
    transport_open(hub_a, &ta, 5, 1, addr_a);
    transport_open(hub_b, &tb, 5, 2, addr_b);
    struct raft_uv_connect req;
    ck_assert_int_eq(ta.connect(&ta, &req, 2, addr_b, on_connect), 0);
    ck_assert_int_eq(connects, 0);
    wait_int(&connects, 1);
    ck_assert_int_eq(connect_status, 0);
    ck_assert(is_nodelay(connected_stream));
    static const char msg[] = "raft bytes right after the header";
    uv_write_t w;
    uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg));
    ck_assert_int_eq(uv_write(&w, connected_stream, &b, 1, NULL), 0);
    size_t want = sizeof(msg);
    ck_assert(run_until(pred_received, &want, WAIT_MS));
    ck_assert_int_eq(accepts, 1);
    ck_assert_uint_eq(accepted_id, 1);
    ck_assert_str_eq(accepted_addr, addr_a);
    ck_assert(is_nodelay(accepted_stream));
    ck_assert_uint_eq(received_len, sizeof(msg));
    ck_assert_mem_eq(received, msg, sizeof(msg));
    uv_close((uv_handle_t *)connected_stream, on_stream_closed);
    uv_close((uv_handle_t *)accepted_stream, on_stream_closed);
    transport_shut(&ta);
    transport_shut(&tb);
}
END_TEST

START_TEST(test_rmux_header_then_stream_in_one_send)
{
    struct raft_uv_transport tb;
    transport_open(hub_b, &tb, 77, 9, addr_b);
    uint8_t buf[512];
    size_t n = header_build(buf, 0x584d5245u, 1, 77, 3, 9, "10.0.0.3:7000", 13);
    static const char tail[] = "first raft message";
    memcpy(buf + n, tail, sizeof(tail));
    int fd = raw_connect(addr_b);
    ck_assert_int_eq(send(fd, buf, n + sizeof(tail), 0), (ssize_t)(n + sizeof(tail)));
    size_t want = sizeof(tail);
    ck_assert(run_until(pred_received, &want, WAIT_MS));
    ck_assert_int_eq(accepts, 1);
    ck_assert_uint_eq(accepted_id, 3);
    ck_assert_str_eq(accepted_addr, "10.0.0.3:7000");
    ck_assert_mem_eq(received, tail, sizeof(tail)); /* the hub read none of it */
    close(fd);
    uv_close((uv_handle_t *)accepted_stream, on_stream_closed);
    transport_shut(&tb);
}
END_TEST

static bool pred_accepts(void *ctx)
{
    (void)ctx;
    return accepts > 0;
}

START_TEST(test_rmux_header_byte_by_byte)
{
    struct raft_uv_transport tb;
    transport_open(hub_b, &tb, 78, 9, addr_b);
    uint8_t buf[512];
    size_t n = header_build(buf, 0x584d5245u, 1, 78, 4, 9, "127.0.0.1:1", 11);
    int fd = raw_connect(addr_b);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(send(fd, buf + i, 1, 0), 1);
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(200);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ck_assert(run_until(pred_accepts, NULL, WAIT_MS));
    ck_assert_uint_eq(accepted_id, 4);
    ck_assert_str_eq(accepted_addr, "127.0.0.1:1");
    close(fd);
    uv_close((uv_handle_t *)accepted_stream, on_stream_closed);
    transport_shut(&tb);
}
END_TEST

START_TEST(test_rmux_bad_headers_rejected)
{
    struct raft_uv_transport tb;
    transport_open(hub_b, &tb, 7, 9, addr_b);
    uint8_t buf[512];
    size_t n;
    uint8_t garbage[40];
    memset(garbage, 0xab, sizeof(garbage));
    expect_rejected(garbage, sizeof(garbage));
    n = header_build(buf, 0x584d5245u, 2, 7, 1, 9, "a:1", 3); /* version */
    expect_rejected(buf, n);
    n = header_build(buf, 0x584d5245u, 1, 8, 1, 9, "a:1", 3); /* unknown group */
    expect_rejected(buf, n);
    n = header_build(buf, 0x584d5245u, 1, 7, 1, 5, "a:1", 3); /* not this replica */
    expect_rejected(buf, n);
    n = header_build(buf, 0x584d5245u, 1, 7, 0, 9, "a:1", 3); /* sender id 0 */
    expect_rejected(buf, n);
    n = header_build(buf, 0x584d5245u, 1, 7, 1, 9, "", 0); /* empty address */
    expect_rejected(buf, n);
    n = header_build(buf, 0x584d5245u, 1, 7, 1, 9, "", 256); /* address too long */
    expect_rejected(buf, n);
    n = header_build(buf, 0x584d5245u, 1, 7, 1, 9, "a:1", 3);
    buf[12] = 1; /* reserved must be zero */
    expect_rejected(buf, n);
    n = header_build(buf, 0x584d5245u, 1, 7, 1, 9, "a\0:1", 4); /* NUL in address */
    buf[32] = 'a';
    buf[33] = '\0';
    buf[34] = ':';
    buf[35] = '1';
    expect_rejected(buf, n + 3);
    /* The hub still serves well-formed connections afterwards. */
    n = header_build(buf, 0x584d5245u, 1, 7, 1, 9, "a:1", 3);
    int fd = raw_connect(addr_b);
    ck_assert_int_eq(send(fd, buf, n, 0), (ssize_t)n);
    ck_assert(run_until(pred_accepts, NULL, WAIT_MS));
    close(fd);
    uv_close((uv_handle_t *)accepted_stream, on_stream_closed);
    transport_shut(&tb);
}
END_TEST

START_TEST(test_rmux_readme_example)
{
    /* The example header of common/README.md, "Raft mux header". */
    static const uint8_t example[] = {
        0x45, 0x52, 0x4d, 0x58, 0x01, 0x00, 0x0d, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x31, 0x30, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x33, 0x3a, 0x37, 0x30, 0x30, 0x30,
    };
    struct raft_uv_transport tb;
    transport_open(hub_b, &tb, 7, 1, addr_b);
    int fd = raw_connect(addr_b);
    ck_assert_int_eq(send(fd, example, sizeof(example), 0), (ssize_t)sizeof(example));
    ck_assert(run_until(pred_accepts, NULL, WAIT_MS));
    ck_assert_uint_eq(accepted_id, 3);
    ck_assert_str_eq(accepted_addr, "10.0.0.3:7000");
    close(fd);
    uv_close((uv_handle_t *)accepted_stream, on_stream_closed);
    transport_shut(&tb);
}
END_TEST

START_TEST(test_rmux_close_cancels_connect)
{
    struct raft_uv_transport ta;
    transport_open(hub_a, &ta, 5, 1, addr_a);
    struct raft_uv_connect req;
    ck_assert_int_eq(ta.connect(&ta, &req, 2, addr_b, on_connect), 0);
    ta.close(&ta, on_transport_closed);
    ck_assert_int_eq(connects, 0);
    wait_int(&transport_closes, 1);
    ck_assert_int_eq(connects, 1);
    ck_assert_int_eq(connect_status, RAFT_CANCELED);
    ck_assert_ptr_null(connected_stream);
    ck_assert(is_connect_before_close);
    rmux_transport_close(&ta);
}
END_TEST

START_TEST(test_rmux_connect_refused_reports_once)
{
    struct raft_uv_transport ta;
    transport_open(hub_a, &ta, 5, 1, addr_a);
    char nowhere[32];
    snprintf(nowhere, sizeof(nowhere), "127.0.0.1:%d", free_port());
    struct raft_uv_connect req;
    ck_assert_int_eq(ta.connect(&ta, &req, 2, nowhere, on_connect), 0);
    wait_int(&connects, 1);
    ck_assert_int_eq(connect_status, RAFT_NOCONNECTION);
    ck_assert_int_eq(ta.connect(&ta, &req, 2, "not-an-address", on_connect), RAFT_NOCONNECTION);
    transport_shut(&ta);
    ck_assert_int_eq(connects, 1);
}
END_TEST

START_TEST(test_rmux_duplicate_group_refused)
{
    struct raft_uv_transport t1;
    struct raft_uv_transport t2;
    transport_open(hub_a, &t1, 5, 1, addr_a);
    ck_assert_int_eq(rmux_transport_init(hub_a, 5, &t2), 0);
    ck_assert_int_eq(t2.init(&t2, 1, addr_a), RAFT_DUPLICATEID);
    rmux_transport_close(&t2); /* never initialised by raft: no close */
    transport_shut(&t1);
}
END_TEST

START_TEST(test_rmux_bad_listen_address)
{
    struct rmux *m = NULL;
    ck_assert_int_eq(rmux_init(&m, &loop, "localhost:1"), -EDDY_EINVAL);
    ck_assert_int_eq(rmux_init(&m, &loop, "127.0.0.1"), -EDDY_EINVAL);
    ck_assert_int_eq(rmux_init(&m, &loop, "127.0.0.1:99999"), -EDDY_EINVAL);
    /* Port in use: the half-built hub frees itself on the loop. */
    ck_assert_int_lt(rmux_init(&m, &loop, addr_a), 0);
    ck_assert_ptr_null(m);
}
END_TEST

static Suite *rmux_suite(void)
{
    Suite *s = suite_create("rmux");
    TCase *tc = tcase_create("transport");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rmux_connect_hands_streams_both_ways);
    tcase_add_test(tc, test_rmux_header_then_stream_in_one_send);
    tcase_add_test(tc, test_rmux_header_byte_by_byte);
    tcase_add_test(tc, test_rmux_bad_headers_rejected);
    tcase_add_test(tc, test_rmux_readme_example);
    tcase_add_test(tc, test_rmux_close_cancels_connect);
    tcase_add_test(tc, test_rmux_connect_refused_reports_once);
    tcase_add_test(tc, test_rmux_duplicate_group_refused);
    tcase_add_test(tc, test_rmux_bad_listen_address);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rmux_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
