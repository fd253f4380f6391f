/*
 * Tests for the RPC client's connect timeout and liveness probes
 * (common/rpc.c, "Client liveness"): a peer whose kernel holds the
 * connection while the process never reads (what SIGSTOP leaves) fails the
 * calls sent to it after RPC_PROBE_IDLE_MS + RPC_PROBE_TIMEOUT_MS instead of
 * their own timeouts; a live server that is slow to answer keeps its calls;
 * a connection the peer never takes (its SYNs dropped) is given up after
 * RPC_CONNECT_TIMEOUT_MS, and a call that never left the client fails with
 * -EDDY_EUNAVAILABLE, safe to send elsewhere.
 */
#include "eddy/rpc.h"
#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../support/uv_loop_fixture.h"

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* A listening socket on 127.0.0.1 whose connections the test never accepts:
 * the kernel completes handshakes (up to backlog) and takes bytes, and
 * nothing answers, as with a stopped process. */
static int listen_mute(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A blocking connection to port, left open (it fills an accept queue). */
static int connect_raw(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static struct rpc_client *client_open(int port)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    struct rpc_client *c;
    ck_assert_int_eq(rpc_client_init(&c, &loop, addr), 0);
    return c;
}

static void client_close(struct rpc_client *c)
{
    bool closed = false;
    rpc_client_close(c, on_flag, &closed);
    run_until(&closed);
}

struct tcall {
    int status;
    int count;
    bool done;
    uint64_t done_ms;
};

static void tcall_on_resp(void *arg, int status, const Eddy__Frame *resp)
{
    struct tcall *t = arg;
    t->count++;
    t->status = status;
    t->done = true;
    t->done_ms = now_ms();
    ck_assert(status == 0 ? resp != NULL : resp == NULL);
}

static void tcall_start(struct rpc_client *c, struct tcall *t, uint32_t timeout_ms)
{
    memset(t, 0, sizeof(*t));
    t->status = 1;
    Eddy__GetCatalogReq req = EDDY__GET_CATALOG_REQ__INIT;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_GET_CATALOG;
    f.get_catalog = &req;
    rpc_client_call(c, &f, timeout_ms, tcall_on_resp, t);
}

/* A server that holds every call until the test answers it. */
struct hserver {
    struct rpc_server *rpc;
    struct rpc_call *held[8];
    unsigned held_count;
};

static void hserver_on_call(void *data, struct rpc_call *call)
{
    struct hserver *hs = data;
    ck_assert_uint_lt(hs->held_count, 8);
    hs->held[hs->held_count++] = call;
}

static void hserver_answer_all(struct hserver *hs)
{
    for (unsigned i = 0; i < hs->held_count; i++) {
        Eddy__Ack ack = EDDY__ACK__INIT;
        Eddy__Frame resp = EDDY__FRAME__INIT;
        resp.body_case = EDDY__FRAME__BODY_ACK;
        resp.ack = &ack;
        rpc_call_reply(hs->held[i], &resp);
    }
    hs->held_count = 0;
}

START_TEST(test_rpc_probe_silent_peer_fails_sent_calls)
{
    int port;
    int lfd = listen_mute(8, &port);
    struct rpc_client *c = client_open(port);
    struct tcall t;
    uint64_t t0 = now_ms();
    tcall_start(c, &t, RPC_CALL_TIMEOUT_MS);
    run_until(&t.done);
    uint64_t took = t.done_ms - t0;
    /* Sent, so the outcome is unknown; found long before the call's timeout. */
    ck_assert_int_eq(t.status, -EDDY_EUNKNOWN);
    ck_assert_uint_ge(took, RPC_PROBE_IDLE_MS + RPC_PROBE_TIMEOUT_MS - 50);
    ck_assert_uint_lt(took, RPC_PROBE_IDLE_MS + RPC_PROBE_TIMEOUT_MS + 1500);
    ck_assert_uint_lt(took, RPC_CALL_TIMEOUT_MS / 2);

    /* Left alone for a while: the next call fails at once, never sent. */
    struct tcall again;
    tcall_start(c, &again, RPC_CALL_TIMEOUT_MS);
    run_until(&again.done);
    ck_assert_int_eq(again.status, -EDDY_EUNAVAILABLE);
    ck_assert_uint_lt(again.done_ms - t.done_ms, RPC_PEER_DEAD_RETRY_MS);
    ck_assert_int_eq(t.count, 1);
    client_close(c);
    close(lfd);
}
END_TEST

START_TEST(test_rpc_probe_slow_server_keeps_calls)
{
    int port;
    int probe_fd = listen_mute(1, &port); /* a free port, taken back at once */
    close(probe_fd);
    struct hserver hs = {0};
    ck_assert_int_eq(rpc_server_init(&hs.rpc, &loop, "127.0.0.1", port, hserver_on_call, &hs), 0);
    struct rpc_client *c = client_open(port);
    struct tcall t;
    tcall_start(c, &t, RPC_CALL_TIMEOUT_MS);
    /* Several probe periods with the call held: the probes are answered. */
    sleep_ms(2 * (RPC_PROBE_IDLE_MS + RPC_PROBE_TIMEOUT_MS));
    ck_assert(!t.done);
    ck_assert_uint_eq(hs.held_count, 1);
    hserver_answer_all(&hs);
    run_until(&t.done);
    ck_assert_int_eq(t.status, 0);
    client_close(c);
    bool closed = false;
    rpc_server_close(hs.rpc, on_flag, &closed);
    run_until(&closed);
}
END_TEST

START_TEST(test_rpc_probe_connect_timeout)
{
    /* Backlog 0 with one connection waiting to be accepted: the kernel
     * drops further SYNs, as a partition does. */
    int port;
    int lfd = listen_mute(0, &port);
    int filler = connect_raw(port);
    struct rpc_client *c = client_open(port);
    struct tcall quick;
    struct tcall patient;
    uint64_t t0 = now_ms();
    tcall_start(c, &quick, 200);
    tcall_start(c, &patient, RPC_CALL_TIMEOUT_MS);
    run_until(&quick.done);
    /* Its deadline passed while it waited for the connection: never sent. */
    ck_assert_int_eq(quick.status, -EDDY_EUNAVAILABLE);
    ck_assert(!patient.done);
    run_until(&patient.done);
    ck_assert_int_eq(patient.status, -EDDY_EUNAVAILABLE);
    uint64_t took = patient.done_ms - t0;
    ck_assert_uint_ge(took, RPC_CONNECT_TIMEOUT_MS - 50);
    ck_assert_uint_lt(took, RPC_CONNECT_TIMEOUT_MS + 1500);
    client_close(c);
    close(filler);
    close(lfd);
}
END_TEST

/* Reads the first whole frame the client sent on fd. */
static Eddy__Frame *read_frame(int fd)
{
    uint8_t buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        ck_assert_int_gt(n, 0);
        len += (size_t)n;
        size_t used;
        Eddy__Frame *f;
        ck_assert_int_eq(rpc_frame_decode(buf, len, &used, &f), 0);
        if (used > 0) {
            return f;
        }
        ck_assert_uint_lt(len, sizeof(buf));
    }
}

START_TEST(test_rpc_probe_late_loop_is_not_a_dead_peer)
{
    /* The answer arrives while this process's loop is stuck past the
     * probe's deadline: the unread bytes show the peer is alive. */
    int port;
    int lfd = listen_mute(8, &port);
    struct rpc_client *c = client_open(port);
    struct tcall t;
    tcall_start(c, &t, RPC_CALL_TIMEOUT_MS);
    int fd = accept(lfd, NULL, NULL); /* the kernel already took the connection */
    ck_assert_int_ge(fd, 0);
    sleep_ms(50);
    Eddy__Frame *req = read_frame(fd);
    ck_assert_int_eq(req->body_case, EDDY__FRAME__BODY_GET_CATALOG);
    sleep_ms(RPC_PROBE_IDLE_MS + 100); /* the probe goes out, unanswered */
    Eddy__Ack ack = EDDY__ACK__INIT;
    Eddy__Frame resp = EDDY__FRAME__INIT;
    resp.id = req->id;
    resp.body_case = EDDY__FRAME__BODY_ACK;
    resp.ack = &ack;
    uint8_t *out;
    size_t out_len;
    ck_assert_int_eq(rpc_frame_encode(&resp, &out, &out_len), 0);
    ck_assert_int_eq(write(fd, out, out_len), (ssize_t)out_len);
    eddy_free(out);
    rpc_frame_free(req);
    usleep((RPC_PROBE_TIMEOUT_MS + 300) * 1000); /* the loop does not run */
    run_until(&t.done);
    ck_assert_int_eq(t.status, 0);
    client_close(c);
    close(fd);
    close(lfd);
}
END_TEST

static Suite *rpc_probe_suite(void)
{
    Suite *s = suite_create("rpc_probe");
    TCase *probe = tcase_create("probe");
    tcase_add_checked_fixture(probe, setup, teardown);
    tcase_set_timeout(probe, 30);
    tcase_add_test(probe, test_rpc_probe_silent_peer_fails_sent_calls);
    tcase_add_test(probe, test_rpc_probe_slow_server_keeps_calls);
    tcase_add_test(probe, test_rpc_probe_connect_timeout);
    tcase_add_test(probe, test_rpc_probe_late_loop_is_not_a_dead_peer);
    suite_add_tcase(s, probe);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(rpc_probe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
