/*
 * Tests for the HTTP/1.1 server. Each test starts the server on 127.0.0.1
 * port 0 in a fresh loop and drives it with real sockets from the test's
 * own thread: client sockets are non-blocking and the loop is pumped with
 * UV_RUN_NOWAIT between socket operations, so no threads are needed.
 */
#include "http1.h"

#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Test hooks defined in server/gateway/http1.c. */
void http1_sweep_for_test(struct http_server *s, uint64_t now_ms);
void http1_set_buffered_max_for_test(struct http_server *s, size_t bytes);
size_t http1_buffered_bytes_for_test(const struct http_server *s);

#define TEST_WAIT_MS 3000
#define TEST_QUIET_MS 50 /* how long "nothing happens" is watched */
#define TEST_HELD_MAX 64
#define TEST_RESP_MAX 32
#define TEST_CLIENTS_MAX 4
#define TEST_TCASE_TIMEOUT_S 10

enum test_mode { TEST_MODE_ECHO, TEST_MODE_HOLD };

struct test_response {
    int status;
    char connection[32];
    char date[64];
    char content_type[64];
    char body[256];
    size_t body_len;
};

struct test_client {
    int fd;
    http_parser parser;
    struct test_response resp[TEST_RESP_MAX];
    size_t resp_count;
    struct test_response cur;
    char field[64];
    size_t field_len;
    char value[64];
    size_t value_len;
    bool in_value;
    bool eof;
};

struct test_fixture {
    uv_loop_t loop;
    struct http_server *server;
    int port;
    enum test_mode mode;
    struct http_request *held[TEST_HELD_MAX];
    size_t held_count;
    size_t delivered;
    bool closed;
    struct test_client clients[TEST_CLIENTS_MAX];
    size_t client_count;
};

static struct test_fixture fx;
static size_t test_stream_cb_count; /* stream callbacks run */

static uint64_t test_now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* One loop turn without blocking, then a short sleep so sockets move. */
static void test_pump(void)
{
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    poll(NULL, 0, 1);
}

#define TEST_PUMP_UNTIL(cond)                                                                      \
    do {                                                                                           \
        uint64_t deadline_ = test_now_ms() + TEST_WAIT_MS;                                         \
        while (!(cond) && test_now_ms() < deadline_) {                                             \
            test_pump();                                                                           \
        }                                                                                          \
    } while (0)

static void test_pump_for(uint64_t ms)
{
    uint64_t end = test_now_ms() + ms;
    while (test_now_ms() < end) {
        test_pump();
    }
}

/* --- the application --- */

static void test_echo(struct http_request *r)
{
    size_t len = 0;
    http_request_body(r, &len);
    char body[256];
    int n = snprintf(body, sizeof(body), "%s %s %zu", http_request_method(r),
                     http_request_target(r), len);
    struct http_header h[] = {{"Content-Type", "text/plain"}};
    http_request_respond(r, 200, h, 1, (const uint8_t *)body, (size_t)n);
}

static void test_on_request(void *data, struct http_request *r)
{
    struct test_fixture *f = data;
    f->delivered++;
    if (f->mode == TEST_MODE_HOLD) {
        ck_assert_uint_lt(f->held_count, TEST_HELD_MAX);
        f->held[f->held_count++] = r;
        return;
    }
    test_echo(r);
}

/* Answers held request i with its target as the body. */
static void test_answer_held(size_t i)
{
    struct http_request *r = fx.held[i];
    ck_assert_ptr_nonnull(r);
    const char *target = http_request_target(r);
    http_request_respond(r, 200, NULL, 0, (const uint8_t *)target, strlen(target));
    fx.held[i] = NULL;
}

static void test_on_server_closed(void *arg)
{
    struct test_fixture *f = arg;
    f->closed = true;
}

/* --- the client --- */

static struct test_client *test_client_of(http_parser *p)
{
    return p->data;
}

static void test_copy(char *dst, size_t size, const char *src, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void test_client_header_done(struct test_client *c)
{
    if (!c->in_value) {
        return;
    }
    c->field[c->field_len] = '\0';
    c->value[c->value_len] = '\0';
    if (strcasecmp(c->field, "Connection") == 0) {
        test_copy(c->cur.connection, sizeof(c->cur.connection), c->value, c->value_len);
    } else if (strcasecmp(c->field, "Date") == 0) {
        test_copy(c->cur.date, sizeof(c->cur.date), c->value, c->value_len);
    } else if (strcasecmp(c->field, "Content-Type") == 0) {
        test_copy(c->cur.content_type, sizeof(c->cur.content_type), c->value, c->value_len);
    }
    c->field_len = 0;
    c->value_len = 0;
    c->in_value = false;
}

static int test_client_on_begin(http_parser *p)
{
    struct test_client *c = test_client_of(p);
    memset(&c->cur, 0, sizeof(c->cur));
    return 0;
}

static int test_client_on_field(http_parser *p, const char *at, size_t len)
{
    struct test_client *c = test_client_of(p);
    test_client_header_done(c);
    size_t n =
        len < sizeof(c->field) - 1 - c->field_len ? len : sizeof(c->field) - 1 - c->field_len;
    memcpy(c->field + c->field_len, at, n);
    c->field_len += n;
    return 0;
}

static int test_client_on_value(http_parser *p, const char *at, size_t len)
{
    struct test_client *c = test_client_of(p);
    c->in_value = true;
    size_t n =
        len < sizeof(c->value) - 1 - c->value_len ? len : sizeof(c->value) - 1 - c->value_len;
    memcpy(c->value + c->value_len, at, n);
    c->value_len += n;
    return 0;
}

static int test_client_on_headers_complete(http_parser *p)
{
    struct test_client *c = test_client_of(p);
    test_client_header_done(c);
    c->cur.status = (int)p->status_code;
    return 0;
}

static int test_client_on_body(http_parser *p, const char *at, size_t len)
{
    struct test_client *c = test_client_of(p);
    size_t room = sizeof(c->cur.body) - 1 - c->cur.body_len;
    size_t n = len < room ? len : room;
    memcpy(c->cur.body + c->cur.body_len, at, n);
    c->cur.body_len += n;
    return 0;
}

static int test_client_on_complete(http_parser *p)
{
    struct test_client *c = test_client_of(p);
    ck_assert_uint_lt(c->resp_count, TEST_RESP_MAX);
    c->resp[c->resp_count++] = c->cur;
    return 0;
}

static const http_parser_settings test_client_settings = {
    .on_message_begin = test_client_on_begin,
    .on_header_field = test_client_on_field,
    .on_header_value = test_client_on_value,
    .on_headers_complete = test_client_on_headers_complete,
    .on_body = test_client_on_body,
    .on_message_complete = test_client_on_complete,
};

static struct test_client *test_connect(void)
{
    ck_assert_uint_lt(fx.client_count, TEST_CLIENTS_MAX);
    struct test_client *c = &fx.clients[fx.client_count++];
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(c->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The kernel completes the handshake from the backlog; the loop accepts later. */
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    return c;
}

/* Reads what is available into the response parser. */
static void test_client_read(struct test_client *c)
{
    char buf[64 * 1024];
    while (!c->eof) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            c->eof = true;
            return;
        }
        size_t used = http_parser_execute(&c->parser, &test_client_settings, buf, (size_t)n);
        ck_assert_msg(HTTP_PARSER_ERRNO(&c->parser) == HPE_OK, "bad response: %s",
                      http_errno_name(HTTP_PARSER_ERRNO(&c->parser)));
        ck_assert_uint_eq(used, (size_t)n);
    }
}

static void test_client_pump(struct test_client *c)
{
    test_pump();
    test_client_read(c);
}

/* Sends everything, pumping the loop while the socket is full. False if the
 * server closed or nothing moved within TEST_WAIT_MS. */
static bool test_send(struct test_client *c, const char *data, size_t len)
{
    uint64_t deadline = test_now_ms() + TEST_WAIT_MS;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            deadline = test_now_ms() + TEST_WAIT_MS;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            return false;
        }
        if (test_now_ms() > deadline) {
            return false;
        }
        test_client_pump(c);
    }
    return true;
}

static void test_send_str(struct test_client *c, const char *s)
{
    ck_assert(test_send(c, s, strlen(s)));
}

static bool test_wait_responses(struct test_client *c, size_t n)
{
    uint64_t deadline = test_now_ms() + TEST_WAIT_MS;
    while (c->resp_count < n && !c->eof && test_now_ms() < deadline) {
        test_client_pump(c);
    }
    return c->resp_count >= n;
}

static bool test_wait_eof(struct test_client *c)
{
    uint64_t deadline = test_now_ms() + TEST_WAIT_MS;
    while (!c->eof && test_now_ms() < deadline) {
        test_client_pump(c);
    }
    return c->eof;
}

static void test_watch(struct test_client *c, uint64_t ms)
{
    uint64_t end = test_now_ms() + ms;
    while (test_now_ms() < end) {
        test_client_pump(c);
    }
}

static void test_close_client(struct test_client *c, bool reset)
{
    if (reset) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
    }
    close(c->fd);
    c->fd = -1;
}

/* --- fixture --- */

static void test_setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* libuv writes with write(2); daemons ignore SIGPIPE too */
    log_set_level(LOG_LEVEL_ERROR);
    memset(&fx, 0, sizeof(fx));
    test_stream_cb_count = 0;
    ck_assert_int_eq(uv_loop_init(&fx.loop), 0);
    ck_assert_int_eq(
        http_server_init(&fx.server, &fx.loop, "127.0.0.1", 0, NULL, test_on_request, &fx), 0);
    fx.port = http_server_port(fx.server);
    ck_assert_int_gt(fx.port, 0);
}

static void test_teardown(void)
{
    for (size_t i = 0; i < fx.client_count; i++) {
        if (fx.clients[i].fd >= 0) {
            close(fx.clients[i].fd);
        }
    }
    if (fx.server != NULL) {
        http_server_close(fx.server, test_on_server_closed, &fx);
        fx.server = NULL;
        uv_run(&fx.loop, UV_RUN_DEFAULT);
        ck_assert(fx.closed);
    }
    /* Requests still held outlive the server and are freed by the answer. */
    for (size_t i = 0; i < fx.held_count; i++) {
        if (fx.held[i] != NULL) {
            ck_assert(!http_request_is_connected(fx.held[i]));
            test_answer_held(i);
        }
    }
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&fx.loop), 0);
}

static void test_assert_date(const char *date)
{
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
    ck_assert_uint_eq(strlen(date), 29);
    ck_assert_int_eq(date[3], ',');
    ck_assert_str_eq(date + 25, " GMT");
}

/* --- basic --- */

START_TEST(test_http1_basic_one_request)
{
    struct test_client *c = test_connect();
    test_send_str(c, "POST /path?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 200);
    ck_assert_str_eq(c->resp[0].body, "POST /path?x=1 5");
    ck_assert_str_eq(c->resp[0].connection, "keep-alive");
    ck_assert_str_eq(c->resp[0].content_type, "text/plain");
    test_assert_date(c->resp[0].date);
}
END_TEST

START_TEST(test_http1_basic_request_accessors)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "POST / HTTP/1.1\r\n"
                     "Host: kinesis.local\r\n"
                     "X-Amz-Target: Kinesis_20131202.PutRecord\r\n"
                     "X-Empty:\r\n"
                     "Content-Length: 12\r\n\r\n"
                     "{\"a\":\"b\"}\r\n\t");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    ck_assert_uint_eq(fx.delivered, 1);
    struct http_request *r = fx.held[0];
    ck_assert_str_eq(http_request_method(r), "POST");
    ck_assert_str_eq(http_request_target(r), "/");
    ck_assert_str_eq(http_request_header(r, "x-amz-target"), "Kinesis_20131202.PutRecord");
    ck_assert_str_eq(http_request_header(r, "X-EMPTY"), "");
    ck_assert_ptr_null(http_request_header(r, "Authorization"));
    ck_assert_uint_eq(http_request_header_count(r), 4);
    struct http_header h = http_request_header_at(r, 0);
    ck_assert_str_eq(h.name, "Host");
    ck_assert_str_eq(h.value, "kinesis.local");
    size_t len = 0;
    const uint8_t *body = http_request_body(r, &len);
    ck_assert_uint_eq(len, 12);
    ck_assert_str_eq((const char *)body, "{\"a\":\"b\"}\r\n\t");
    ck_assert(http_request_is_connected(r));
    test_answer_held(0);
    ck_assert(test_wait_responses(c, 1));
    ck_assert_str_eq(c->resp[0].body, "/");
}
END_TEST

START_TEST(test_http1_basic_chunked_body)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    ck_assert_uint_eq(fx.delivered, 1);
    size_t len = 0;
    const uint8_t *body = http_request_body(fx.held[0], &len);
    ck_assert_uint_eq(len, 9);
    ck_assert_str_eq((const char *)body, "Wikipedia");
    ck_assert_ptr_null(http_request_header(fx.held[0], "X-Trailer"));
    test_answer_held(0);
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 200);
}
END_TEST

START_TEST(test_http1_basic_init_errors)
{
    struct http_server *s = NULL;
    ck_assert_int_eq(
        http_server_init(&s, &fx.loop, "not an address", 0, NULL, test_on_request, &fx),
        -EDDY_EINVAL);
    ck_assert_int_eq(
        http_server_init(&s, &fx.loop, "127.0.0.1", fx.port, NULL, test_on_request, &fx),
        UV_EADDRINUSE);
    ck_assert_ptr_null(s);
}
END_TEST

/* --- keep-alive --- */

START_TEST(test_http1_keepalive_sequential)
{
    struct test_client *c = test_connect();
    for (size_t i = 0; i < 3; i++) {
        char req[64];
        snprintf(req, sizeof(req), "GET /%zu HTTP/1.1\r\n\r\n", i);
        test_send_str(c, req);
        ck_assert(test_wait_responses(c, i + 1));
        char want[64];
        snprintf(want, sizeof(want), "GET /%zu 0", i);
        ck_assert_str_eq(c->resp[i].body, want);
        ck_assert_str_eq(c->resp[i].connection, "keep-alive");
    }
    ck_assert(!c->eof);
}
END_TEST

START_TEST(test_http1_keepalive_connection_close)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_str_eq(c->resp[0].connection, "close");
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(c->resp_count, 1);
    ck_assert_uint_eq(fx.delivered, 1);
}
END_TEST

START_TEST(test_http1_keepalive_http10_closes)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET /old HTTP/1.0\r\n\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_str_eq(c->resp[0].body, "GET /old 0");
    ck_assert_str_eq(c->resp[0].connection, "close");
    ck_assert(test_wait_eof(c));
}
END_TEST

START_TEST(test_http1_keepalive_http10_keepalive)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_str_eq(c->resp[0].connection, "keep-alive");
    test_send_str(c, "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ck_assert(test_wait_responses(c, 2));
    ck_assert_str_eq(c->resp[1].body, "GET /b 0");
}
END_TEST

START_TEST(test_http1_keepalive_half_close_still_answered)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    TEST_PUMP_UNTIL(fx.delivered == 1);
    test_pump_for(TEST_QUIET_MS); /* the server reads EOF */
    ck_assert(http_request_is_connected(fx.held[0]));
    test_answer_held(0);
    ck_assert(test_wait_responses(c, 1));
    ck_assert_str_eq(c->resp[0].connection, "close");
    ck_assert(test_wait_eof(c));
}
END_TEST

/* --- pipelining --- */

START_TEST(test_http1_pipeline_in_order)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\n\r\n"
                     "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy"
                     "GET /c HTTP/1.1\r\n\r\n");
    ck_assert(test_wait_responses(c, 3));
    ck_assert_str_eq(c->resp[0].body, "GET /a 0");
    ck_assert_str_eq(c->resp[1].body, "POST /b 2");
    ck_assert_str_eq(c->resp[2].body, "GET /c 0");
}
END_TEST

START_TEST(test_http1_pipeline_reverse_answers)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 3);
    ck_assert_uint_eq(fx.delivered, 3);
    test_answer_held(2);
    test_answer_held(1);
    test_watch(c, TEST_QUIET_MS);
    ck_assert_uint_eq(c->resp_count, 0); /* held until /a is answered */
    test_answer_held(0);
    ck_assert(test_wait_responses(c, 3));
    ck_assert_str_eq(c->resp[0].body, "/a");
    ck_assert_str_eq(c->resp[1].body, "/b");
    ck_assert_str_eq(c->resp[2].body, "/c");
}
END_TEST

START_TEST(test_http1_pipeline_depth_bounded)
{
    enum { extra = 4 };
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    char reqs[(GW_PIPELINE_DEPTH_MAX + extra) * 32];
    size_t off = 0;
    for (size_t i = 0; i < GW_PIPELINE_DEPTH_MAX + extra; i++) {
        off += (size_t)snprintf(reqs + off, sizeof(reqs) - off, "GET /%zu HTTP/1.1\r\n\r\n", i);
    }
    ck_assert(test_send(c, reqs, off));
    TEST_PUMP_UNTIL(fx.delivered == GW_PIPELINE_DEPTH_MAX);
    test_pump_for(TEST_QUIET_MS);
    ck_assert_uint_eq(fx.delivered, GW_PIPELINE_DEPTH_MAX);
    test_answer_held(0);
    TEST_PUMP_UNTIL(fx.delivered == GW_PIPELINE_DEPTH_MAX + 1);
    ck_assert_uint_eq(fx.delivered, GW_PIPELINE_DEPTH_MAX + 1);
    for (size_t i = 1; i < GW_PIPELINE_DEPTH_MAX + extra; i++) {
        TEST_PUMP_UNTIL(fx.held_count > i);
        ck_assert_uint_gt(fx.held_count, i);
        test_answer_held(i);
    }
    ck_assert(test_wait_responses(c, GW_PIPELINE_DEPTH_MAX + extra));
    for (size_t i = 0; i < GW_PIPELINE_DEPTH_MAX + extra; i++) {
        char want[16];
        snprintf(want, sizeof(want), "/%zu", i);
        ck_assert_str_eq(c->resp[i].body, want);
    }
}
END_TEST

START_TEST(test_http1_pipeline_malformed_after_valid)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\n\r\nBAD\x01 / HTTP/1.1\r\n\r\n");
    ck_assert(test_wait_responses(c, 2));
    ck_assert_int_eq(c->resp[0].status, 200);
    ck_assert_str_eq(c->resp[0].body, "GET /a 0");
    ck_assert_int_eq(c->resp[1].status, 400);
    ck_assert_str_eq(c->resp[1].connection, "close");
    ck_assert(test_wait_eof(c));
}
END_TEST

/* --- 100-continue --- */

START_TEST(test_http1_continue_sent_before_body)
{
    struct test_client *c = test_connect();
    test_send_str(c, "POST / HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 100);
    test_send_str(c, "data");
    ck_assert(test_wait_responses(c, 2));
    ck_assert_int_eq(c->resp[1].status, 200);
    ck_assert_str_eq(c->resp[1].body, "POST / 4");
}
END_TEST

START_TEST(test_http1_continue_waits_for_earlier_response)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\n\r\n"
                     "POST /b HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    test_watch(c, TEST_QUIET_MS);
    ck_assert_uint_eq(c->resp_count, 0);
    test_answer_held(0);
    ck_assert(test_wait_responses(c, 2));
    ck_assert_str_eq(c->resp[0].body, "/a");
    ck_assert_int_eq(c->resp[1].status, 100);
    test_send_str(c, "data");
    TEST_PUMP_UNTIL(fx.delivered == 2);
    test_answer_held(1);
    ck_assert(test_wait_responses(c, 3));
    ck_assert_str_eq(c->resp[2].body, "/b");
}
END_TEST

START_TEST(test_http1_continue_refused_when_too_big)
{
    struct test_client *c = test_connect();
    char req[128];
    snprintf(req, sizeof(req),
             "PUT / HTTP/1.1\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
             GW_HTTP_BODY_BYTES_MAX + 1);
    test_send_str(c, req);
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 413);
    ck_assert(test_wait_eof(c));
}
END_TEST

/* --- limits --- */

START_TEST(test_http1_limits_content_length_413)
{
    struct test_client *c = test_connect();
    char req[128];
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
             GW_HTTP_BODY_BYTES_MAX + 1);
    test_send_str(c, req);
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 413);
    ck_assert_str_eq(c->resp[0].connection, "close");
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(fx.delivered, 0);
}
END_TEST

START_TEST(test_http1_limits_chunked_body_413)
{
    enum { chunk = 1024 * 1024 };
    struct test_client *c = test_connect();
    test_send_str(c, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    char *data = malloc(chunk);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', chunk);
    bool is_sent = true;
    for (size_t sent = 0; sent <= GW_HTTP_BODY_BYTES_MAX && is_sent; sent += chunk) {
        char head[32];
        snprintf(head, sizeof(head), "%x\r\n", chunk);
        is_sent = test_send(c, head, strlen(head)) && test_send(c, data, chunk) &&
                  test_send(c, "\r\n", 2);
    }
    free(data);
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 413);
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(fx.delivered, 0);
}
END_TEST

START_TEST(test_http1_limits_header_count_431)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= GW_HTTP_HEADERS_COUNT_MAX; i++) {
        char h[32];
        snprintf(h, sizeof(h), "X-H%d: v\r\n", i);
        test_send_str(c, h);
    }
    test_send_str(c, "\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 431);
    ck_assert_str_eq(c->resp[0].connection, "close");
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(fx.delivered, 0);
}
END_TEST

START_TEST(test_http1_limits_header_bytes_431)
{
    struct test_client *c = test_connect();
    size_t n = GW_HTTP_HEADER_BYTES_MAX + 16;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', n);
    big[n] = '\0';
    test_send_str(c, "GET / HTTP/1.1\r\nX-Big: ");
    bool is_sent = test_send(c, big, n) && test_send(c, "\r\n\r\n", 4);
    free(big);
    (void)is_sent; /* the server may close before the end */
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 431);
    ck_assert(test_wait_eof(c));
}
END_TEST

START_TEST(test_http1_limits_exactly_at_header_count)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < GW_HTTP_HEADERS_COUNT_MAX; i++) {
        char h[32];
        snprintf(h, sizeof(h), "X-H%d: v\r\n", i);
        test_send_str(c, h);
    }
    test_send_str(c, "\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 200);
}
END_TEST

START_TEST(test_http1_limits_write_queue_stops_reading)
{
    enum { body_len = 8 * 1024 * 1024, count = GW_WRITE_QUEUE_BYTES_MAX / body_len + 2 };
    static_assert(count < GW_PIPELINE_DEPTH_MAX, "the write queue is the bound hit first");
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    for (int i = 0; i < count; i++) {
        test_send_str(c, "GET / HTTP/1.1\r\n\r\n");
    }
    TEST_PUMP_UNTIL(fx.delivered == count);
    ck_assert_uint_eq(fx.delivered, count);
    uint8_t *body = malloc(body_len);
    ck_assert_ptr_nonnull(body);
    memset(body, 'x', body_len);
    for (size_t i = 0; i < count; i++) {
        http_request_respond(fx.held[i], 200, NULL, 0, body, body_len);
        fx.held[i] = NULL;
    }
    free(body);
    /* The client reads nothing: the server stops reading, then gives up. */
    test_send_str(c, "GET /more HTTP/1.1\r\n\r\n");
    test_pump_for(TEST_QUIET_MS);
    ck_assert_uint_eq(fx.delivered, count);
    uint64_t now = uv_now(&fx.loop);
    http1_sweep_for_test(fx.server, now + 1);
    http1_sweep_for_test(fx.server, now + 2 + GW_IDLE_TIMEOUT_MS);
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(fx.delivered, count);
}
END_TEST

/* Connects without blocking and lets the loop accept, a batch at a time so
 * the listen backlog never overflows. */
static int test_connect_raw(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rv = connect(fd, (struct sockaddr *)&a, sizeof(a));
    ck_assert(rv == 0 || errno == EINPROGRESS);
    return fd;
}

START_TEST(test_http1_limits_connections_refused_past_max)
{
    enum { total = GW_CONNECTIONS_MAX + 1 };
    struct rlimit lim;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2 * total + 64) {
        fprintf(stderr, "skipped: RLIMIT_NOFILE %lu too low\n", (unsigned long)lim.rlim_cur);
        return;
    }
    int *fds = malloc(total * sizeof(*fds));
    ck_assert_ptr_nonnull(fds);
    for (int i = 0; i < total; i++) {
        fds[i] = test_connect_raw();
        if (i % 64 == 63) {
            test_pump();
            test_pump();
        }
    }
    /* The last one is accepted and closed at once; the first still works. */
    char buf[256];
    ssize_t n = -1;
    uint64_t deadline = test_now_ms() + TEST_WAIT_MS;
    while (n != 0 && test_now_ms() < deadline) {
        test_pump();
        n = recv(fds[total - 1], buf, sizeof(buf), 0);
    }
    ck_assert_int_eq(n, 0);
    static const char req[] = "GET / HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(send(fds[0], req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
    n = -1;
    while (n <= 0 && test_now_ms() < deadline) {
        test_pump();
        n = recv(fds[0], buf, sizeof(buf) - 1, 0);
    }
    ck_assert_int_gt(n, 12);
    ck_assert(memcmp(buf, "HTTP/1.1 200", 12) == 0);
    for (int i = 0; i < total; i++) {
        close(fds[i]);
    }
    free(fds);
}
END_TEST

/* --- the buffered-bytes budget (made small through the test hook) --- */

/* A request being sent as fast as the server takes it. */
struct test_upload {
    struct test_client *c;
    char target[16];
    char *data;
    size_t len;
    size_t off;
};

/* Connects and prepares "POST target" with body_len bytes of body. */
static void test_upload_start(struct test_upload *u, const char *target, size_t body_len)
{
    memset(u, 0, sizeof(*u));
    u->c = test_connect();
    snprintf(u->target, sizeof(u->target), "%s", target);
    char head[128];
    int n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", target,
                     body_len);
    ck_assert_int_gt(n, 0);
    u->len = (size_t)n + body_len;
    u->data = malloc(u->len);
    ck_assert_ptr_nonnull(u->data);
    memcpy(u->data, head, (size_t)n);
    memset(u->data + n, 'b', body_len);
}

/* Sends what the socket takes now, without waiting for the server. */
static void test_upload_step(struct test_upload *u)
{
    while (u->off < u->len) {
        ssize_t n = send(u->c->fd, u->data + u->off, u->len - u->off, MSG_NOSIGNAL);
        if (n < 0) {
            ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "send: %s", strerror(errno));
            return;
        }
        u->off += (size_t)n;
    }
}

/* One loop turn; then each upload sends and each client reads what it can. */
static void test_uploads_turn(struct test_upload *u, size_t count)
{
    test_pump();
    for (size_t i = 0; i < count; i++) {
        test_upload_step(&u[i]);
        test_client_read(u[i].c);
    }
}

#define TEST_UPLOADS_UNTIL(u, count, cond)                                                         \
    do {                                                                                           \
        uint64_t deadline_ = test_now_ms() + TEST_WAIT_MS;                                         \
        while (!(cond) && test_now_ms() < deadline_) {                                             \
            test_uploads_turn((u), (count));                                                       \
        }                                                                                          \
    } while (0)

static void test_uploads_for(struct test_upload *u, size_t count, uint64_t ms)
{
    uint64_t end = test_now_ms() + ms;
    while (test_now_ms() < end) {
        test_uploads_turn(u, count);
    }
}

/* Holds every request that arrives until the server stops reading, checks
 * the bound, answers them, and so on until all count requests are answered;
 * then checks each response and that the budget is whole again. Returns how
 * many requests arrived in the first round. */
static size_t test_uploads_hold_and_answer(struct test_upload *u, size_t count, size_t budget)
{
    size_t first = 0;
    size_t answered = 0;
    while (answered < count) {
        TEST_UPLOADS_UNTIL(u, count, fx.delivered > answered);
        test_uploads_for(u, count, TEST_QUIET_MS);
        ck_assert_uint_gt(fx.delivered, answered);
        /* Within the budget, but for one request read past it (the overdraft). */
        ck_assert_uint_le(http1_buffered_bytes_for_test(fx.server), budget + u[0].len);
        if (answered == 0) {
            first = fx.delivered;
            ck_assert_uint_ge(http1_buffered_bytes_for_test(fx.server), budget);
        }
        while (answered < fx.delivered) {
            test_answer_held(answered++);
        }
    }
    for (size_t i = 0; i < count; i++) {
        ck_assert(test_wait_responses(u[i].c, 1));
        ck_assert_int_eq(u[i].c->resp[0].status, 200);
        ck_assert_str_eq(u[i].c->resp[0].body, u[i].target);
        free(u[i].data);
    }
    ck_assert_uint_eq(http1_buffered_bytes_for_test(fx.server), 0);
    return first;
}

START_TEST(test_http1_budget_pauses_and_resumes)
{
    enum { count = TEST_CLIENTS_MAX, body_len = 192 * 1024, budget = 256 * 1024 };
    static_assert(2 * body_len > budget, "only one request fits the budget");
    fx.mode = TEST_MODE_HOLD;
    http1_set_buffered_max_for_test(fx.server, budget);
    struct test_upload u[count];
    for (size_t i = 0; i < count; i++) {
        char target[16];
        snprintf(target, sizeof(target), "/%zu", i);
        test_upload_start(&u[i], target, body_len);
    }
    /* While one request is held, the others stop being read. */
    ck_assert_uint_eq(test_uploads_hold_and_answer(u, count, budget), 1);
}
END_TEST

START_TEST(test_http1_budget_requests_larger_than_budget_complete)
{
    enum { count = 2, body_len = 256 * 1024, budget = 64 * 1024 };
    static_assert(body_len > budget, "no request fits the budget");
    fx.mode = TEST_MODE_HOLD;
    http1_set_buffered_max_for_test(fx.server, budget);
    struct test_upload u[count];
    test_upload_start(&u[0], "/a", body_len);
    test_upload_start(&u[1], "/b", body_len);
    /* Partial requests alone fill the budget: one still gets through. */
    ck_assert_uint_eq(test_uploads_hold_and_answer(u, count, budget), 1);
}
END_TEST

START_TEST(test_http1_budget_paused_not_timed_out)
{
    enum { body_len = 100 * 1024, budget = 128 * 1024 };
    fx.mode = TEST_MODE_HOLD;
    http1_set_buffered_max_for_test(fx.server, budget);
    struct test_upload u[2];
    test_upload_start(&u[0], "/a", body_len);
    TEST_UPLOADS_UNTIL(u, 1, fx.delivered == 1);
    ck_assert_uint_eq(fx.delivered, 1);
    test_upload_start(&u[1], "/b", body_len);
    /* /b is read up to the budget exactly, then paused mid-body. */
    TEST_UPLOADS_UNTIL(u, 2, http1_buffered_bytes_for_test(fx.server) == budget);
    test_uploads_for(u, 2, TEST_QUIET_MS);
    ck_assert_uint_eq(http1_buffered_bytes_for_test(fx.server), budget);
    ck_assert_uint_eq(fx.delivered, 1);
    uint64_t now = uv_now(&fx.loop);
    http1_sweep_for_test(fx.server, now + GW_REQUEST_TIMEOUT_MS + 1000);
    http1_sweep_for_test(fx.server, now + GW_IDLE_TIMEOUT_MS + 1000);
    test_uploads_for(u, 2, TEST_QUIET_MS);
    ck_assert(!u[1].c->eof);
    test_answer_held(0);
    TEST_UPLOADS_UNTIL(u, 2, fx.delivered == 2);
    ck_assert_uint_eq(fx.delivered, 2);
    test_answer_held(1);
    for (size_t i = 0; i < 2; i++) {
        ck_assert(test_wait_responses(u[i].c, 1));
        ck_assert_str_eq(u[i].c->resp[0].body, u[i].target);
        free(u[i].data);
    }
    ck_assert_uint_eq(http1_buffered_bytes_for_test(fx.server), 0);
}
END_TEST

/* --- malformed --- */

START_TEST(test_http1_malformed_request_line_400)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GARBAGE\r\n\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 400);
    ck_assert_str_eq(c->resp[0].connection, "close");
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(fx.delivered, 0);
}
END_TEST

START_TEST(test_http1_malformed_content_length_400)
{
    struct test_client *c = test_connect();
    test_send_str(c, "POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 400);
    ck_assert(test_wait_eof(c));
}
END_TEST

START_TEST(test_http1_malformed_bad_chunk_400)
{
    struct test_client *c = test_connect();
    test_send_str(c, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 400);
    ck_assert(test_wait_eof(c));
}
END_TEST

/* --- timeouts (the sweep is run with a clock moved forward) --- */

START_TEST(test_http1_timeout_idle_closes)
{
    struct test_client *c = test_connect();
    test_send_str(c, "GET / HTTP/1.1\r\n\r\n");
    ck_assert(test_wait_responses(c, 1));
    uint64_t now = uv_now(&fx.loop);
    http1_sweep_for_test(fx.server, now + GW_IDLE_TIMEOUT_MS / 2);
    test_watch(c, TEST_QUIET_MS);
    ck_assert(!c->eof);
    http1_sweep_for_test(fx.server, now + GW_IDLE_TIMEOUT_MS + 1);
    ck_assert(test_wait_eof(c));
}
END_TEST

START_TEST(test_http1_timeout_slow_request_closes)
{
    struct test_client *c = test_connect();
    test_send_str(c, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    test_watch(c, TEST_QUIET_MS);
    uint64_t now = uv_now(&fx.loop);
    http1_sweep_for_test(fx.server, now + GW_REQUEST_TIMEOUT_MS - 1000);
    test_watch(c, TEST_QUIET_MS);
    ck_assert(!c->eof);
    http1_sweep_for_test(fx.server, now + GW_REQUEST_TIMEOUT_MS + 1000);
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(c->resp_count, 0);
    ck_assert_uint_eq(fx.delivered, 0);
}
END_TEST

START_TEST(test_http1_timeout_not_while_answer_owed)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /slow HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    http1_sweep_for_test(fx.server, uv_now(&fx.loop) + 2 * GW_IDLE_TIMEOUT_MS);
    test_watch(c, TEST_QUIET_MS);
    ck_assert(!c->eof);
    test_answer_held(0);
    ck_assert(test_wait_responses(c, 1));
    ck_assert_str_eq(c->resp[0].body, "/slow");
}
END_TEST

/* --- disconnects --- */

START_TEST(test_http1_disconnect_reset_before_answer)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /gone HTTP/1.1\r\n\r\nGET /partial HTTP/1.1\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    ck_assert_uint_eq(fx.delivered, 1);
    test_close_client(c, true);
    TEST_PUMP_UNTIL(!http_request_is_connected(fx.held[0]));
    ck_assert(!http_request_is_connected(fx.held[0]));
    test_answer_held(0);
    test_pump_for(TEST_QUIET_MS);
}
END_TEST

START_TEST(test_http1_disconnect_close_before_answer)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 2);
    test_close_client(c, false);
    test_pump_for(TEST_QUIET_MS);
    test_answer_held(1);
    test_answer_held(0);
    test_pump_for(TEST_QUIET_MS);
}
END_TEST

START_TEST(test_http1_disconnect_server_close_with_pending)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /a HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    http_server_close(fx.server, test_on_server_closed, &fx);
    fx.server = NULL;
    TEST_PUMP_UNTIL(fx.closed);
    ck_assert(fx.closed);
    ck_assert(!http_request_is_connected(fx.held[0]));
    test_answer_held(0);
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(c->resp_count, 0);
}
END_TEST

/* --- streamed responses --- */

static void test_on_stream(void *arg, struct http_request *r)
{
    ck_assert_ptr_eq(arg, &fx);
    ck_assert_ptr_nonnull(r);
    test_stream_cb_count++;
}

static const struct http_header test_stream_headers[] = {
    {"Content-Type", "application/vnd.amazon.eventstream"}};

START_TEST(test_http1_stream_chunks_then_next_response)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "POST /s HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /next HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 2);
    ck_assert_uint_eq(fx.delivered, 2);
    struct http_request *r = fx.held[0];
    test_answer_held(1); /* the second answer waits for the stream */
    http_request_stream_begin(r, 200, test_stream_headers, 1);
    ck_assert_str_eq(http_request_header(r, "Content-Length"), "2");
    ck_assert_int_eq(http_request_stream_write(r, (const uint8_t *)"hello ", 6), 0);
    ck_assert_int_eq(http_request_stream_write(r, (const uint8_t *)"", 0), 0);
    test_watch(c, TEST_QUIET_MS);
    ck_assert_uint_eq(c->resp_count, 0);
    ck_assert_uint_eq(http_request_stream_queued(r), 0);
    ck_assert_int_eq(http_request_stream_write(r, (const uint8_t *)"world", 5), 0);
    http_request_stream_end(r);
    fx.held[0] = NULL;
    ck_assert(test_wait_responses(c, 2));
    ck_assert_int_eq(c->resp[0].status, 200);
    ck_assert_str_eq(c->resp[0].body, "hello world");
    ck_assert_str_eq(c->resp[0].content_type, "application/vnd.amazon.eventstream");
    ck_assert_str_eq(c->resp[0].connection, "keep-alive");
    test_assert_date(c->resp[0].date);
    ck_assert_str_eq(c->resp[1].body, "/next");
}
END_TEST

START_TEST(test_http1_stream_http10_until_close)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /s HTTP/1.0\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    struct http_request *r = fx.held[0];
    http_request_stream_begin(r, 200, NULL, 0);
    ck_assert_int_eq(http_request_stream_write(r, (const uint8_t *)"abc", 3), 0);
    http_request_stream_end(r);
    fx.held[0] = NULL;
    ck_assert(test_wait_eof(c));
    http_parser_execute(&c->parser, &test_client_settings, NULL, 0); /* EOF ends the body */
    ck_assert_uint_eq(c->resp_count, 1);
    ck_assert_str_eq(c->resp[0].body, "abc");
    ck_assert_str_eq(c->resp[0].connection, "close");
}
END_TEST

/* A client that does not read: writes fill the queue to EFULL; once it reads,
 * the callback says the queue went below half. */
START_TEST(test_http1_stream_backpressure)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /s HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    struct http_request *r = fx.held[0];
    http_request_stream_begin(r, 200, NULL, 0);
    http_request_stream_set_cb(r, test_on_stream, &fx);
    static uint8_t chunk[64 * 1024];
    memset(chunk, 'x', sizeof(chunk));
    int rv = 0;
    size_t writes = 0;
    for (; writes < 10000 && rv == 0; writes++) {
        rv = http_request_stream_write(r, chunk, sizeof(chunk));
        test_pump();
    }
    ck_assert_int_eq(rv, -EDDY_EFULL);
    ck_assert_uint_ge(http_request_stream_queued(r), HTTP_STREAM_QUEUED_MAX);
    ck_assert_uint_eq(test_stream_cb_count, 0);
    uint64_t deadline = test_now_ms() + TEST_WAIT_MS;
    while (test_stream_cb_count == 0 && test_now_ms() < deadline) {
        uv_run(&fx.loop, UV_RUN_NOWAIT); /* no sleep: the socket buffers hold megabytes */
        test_client_read(c);
    }
    ck_assert_uint_eq(test_stream_cb_count, 1);
    ck_assert_uint_lt(http_request_stream_queued(r), HTTP_STREAM_QUEUED_MAX / 2);
    ck_assert(http_request_is_connected(r));
    http_request_stream_end(r);
    fx.held[0] = NULL;
    ck_assert(test_wait_responses(c, 1));
    ck_assert_int_eq(c->resp[0].status, 200);
}
END_TEST

START_TEST(test_http1_stream_client_gone)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /s HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    struct http_request *r = fx.held[0];
    http_request_stream_begin(r, 200, NULL, 0);
    http_request_stream_set_cb(r, test_on_stream, &fx);
    ck_assert_int_eq(http_request_stream_write(r, (const uint8_t *)"abc", 3), 0);
    test_close_client(c, true);
    TEST_PUMP_UNTIL(test_stream_cb_count > 0);
    test_pump_for(TEST_QUIET_MS);
    ck_assert_uint_eq(test_stream_cb_count, 1);
    ck_assert(!http_request_is_connected(r));
    ck_assert_int_eq(http_request_stream_write(r, (const uint8_t *)"abc", 3), -EDDY_ESHUTDOWN);
    http_request_stream_end(r);
    fx.held[0] = NULL;
}
END_TEST

/* Streams cut by http_server_close: the callback runs, the stream ends after. */
START_TEST(test_http1_stream_server_close)
{
    fx.mode = TEST_MODE_HOLD;
    struct test_client *c = test_connect();
    test_send_str(c, "GET /s HTTP/1.1\r\n\r\n");
    TEST_PUMP_UNTIL(fx.delivered == 1);
    struct http_request *r = fx.held[0];
    http_request_stream_begin(r, 200, NULL, 0);
    http_request_stream_set_cb(r, test_on_stream, &fx);
    http_server_close(fx.server, test_on_server_closed, &fx);
    fx.server = NULL;
    ck_assert_uint_eq(test_stream_cb_count, 1);
    ck_assert(!http_request_is_connected(r));
    TEST_PUMP_UNTIL(fx.closed);
    ck_assert(fx.closed);
    http_request_stream_end(r);
    fx.held[0] = NULL;
}
END_TEST

/* --- protocol detection (http_server.c) and HTTP/2 on the same port --- */

/* Reads raw bytes until EOF or TEST_WAIT_MS; returns how many (at most cap). */
static size_t test_read_raw(struct test_client *c, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    uint64_t deadline = test_now_ms() + TEST_WAIT_MS;
    while (!c->eof && test_now_ms() < deadline) {
        test_pump();
        ssize_t n = recv(c->fd, buf + len, cap - len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            continue;
        }
        if (n <= 0 || len + (size_t)n == cap) {
            c->eof = true;
        }
        len += n > 0 ? (size_t)n : 0;
    }
    return len;
}

/* Whether buf holds a frame of type (frames laid end to end from offset 0). */
static bool test_has_frame(const uint8_t *buf, size_t len, uint8_t type)
{
    size_t off = 0;
    while (off + 9 <= len) {
        size_t flen = ((size_t)buf[off] << 16) | ((size_t)buf[off + 1] << 8) | buf[off + 2];
        if (buf[off + 3] == type) {
            return true;
        }
        off += 9 + flen;
    }
    return false;
}

static const char test_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* A connection that says nothing is closed once detection times out. */
START_TEST(test_http1_detect_silent_closed)
{
    struct test_client *c = test_connect();
    test_watch(c, TEST_QUIET_MS);
    uint64_t now = uv_now(&fx.loop);
    http1_sweep_for_test(fx.server, now + GW_HANDSHAKE_TIMEOUT_MS - 1000);
    test_watch(c, TEST_QUIET_MS);
    ck_assert(!c->eof);
    http1_sweep_for_test(fx.server, now + GW_HANDSHAKE_TIMEOUT_MS + 1);
    ck_assert(test_wait_eof(c));
}
END_TEST

/* Part of the preface, then nothing: still detecting, so the same timeout. */
START_TEST(test_http1_detect_partial_preface_closed)
{
    struct test_client *c = test_connect();
    ck_assert(test_send(c, test_preface, 10));
    test_watch(c, TEST_QUIET_MS);
    http1_sweep_for_test(fx.server, uv_now(&fx.loop) + GW_HANDSHAKE_TIMEOUT_MS + 1);
    ck_assert(test_wait_eof(c));
    ck_assert_uint_eq(c->resp_count, 0);
}
END_TEST

/* The preface makes it HTTP/2: the server's SETTINGS come, and an idle
 * connection gets GOAWAY and is closed. */
START_TEST(test_http1_detect_h2_idle_goaway)
{
    struct test_client *c = test_connect();
    static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    ck_assert(test_send(c, test_preface, sizeof(test_preface) - 1));
    ck_assert(test_send(c, (const char *)settings, sizeof(settings)));
    test_pump_for(TEST_QUIET_MS);
    http1_sweep_for_test(fx.server, uv_now(&fx.loop) + GW_IDLE_TIMEOUT_MS + 1);
    static uint8_t buf[4096];
    size_t len = test_read_raw(c, buf, sizeof(buf));
    ck_assert(c->eof);
    ck_assert(test_has_frame(buf, len, 0x4)); /* SETTINGS */
    ck_assert(test_has_frame(buf, len, 0x7)); /* GOAWAY */
    ck_assert_uint_eq(fx.delivered, 0);
}
END_TEST

/* Bytes that are not a frame after the preface: GOAWAY, then the close. */
START_TEST(test_http1_detect_h2_garbage_goaway)
{
    struct test_client *c = test_connect();
    ck_assert(test_send(c, test_preface, sizeof(test_preface) - 1));
    test_send_str(c, "GET / HTTP/1.1\r\n\r\n");
    static uint8_t buf[4096];
    size_t len = test_read_raw(c, buf, sizeof(buf));
    ck_assert(c->eof);
    ck_assert(test_has_frame(buf, len, 0x7));
    ck_assert_uint_eq(fx.delivered, 0);
}
END_TEST

/* --- the parser alone --- */

START_TEST(test_http1_parse_counts_pipelined)
{
    static const char in[] = "GET /a HTTP/1.1\r\n\r\n"
                             "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                             "GET /incomplete HTTP/1.1\r\n";
    ck_assert_int_eq(http1_parse_for_test((const uint8_t *)in, sizeof(in) - 1), 2);
    ck_assert_int_eq(http1_parse_for_test(NULL, 0), 0);
}
END_TEST

START_TEST(test_http1_parse_stops_after_close)
{
    static const char in[] = "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(http1_parse_for_test((const uint8_t *)in, sizeof(in) - 1), 1);
}
END_TEST

START_TEST(test_http1_parse_errors)
{
    static const char bad[] = "GET / HTTP/1.1\r\nBad Header\r\n\r\n";
    ck_assert_int_eq(http1_parse_for_test((const uint8_t *)bad, sizeof(bad) - 1), -EDDY_EMALFORMED);
    char big[256];
    snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
             GW_HTTP_BODY_BYTES_MAX + 1);
    ck_assert_int_eq(http1_parse_for_test((const uint8_t *)big, strlen(big)), -EDDY_ETOOBIG);
}
END_TEST

static Suite *test_http1_suite(void)
{
    Suite *s = suite_create("http1");
    struct {
        const char *name;
        const TTest *tests[8];
    } groups[] = {
        {"basic",
         {test_http1_basic_one_request, test_http1_basic_request_accessors,
          test_http1_basic_chunked_body, test_http1_basic_init_errors}},
        {"keepalive",
         {test_http1_keepalive_sequential, test_http1_keepalive_connection_close,
          test_http1_keepalive_http10_closes, test_http1_keepalive_http10_keepalive,
          test_http1_keepalive_half_close_still_answered}},
        {"pipeline",
         {test_http1_pipeline_in_order, test_http1_pipeline_reverse_answers,
          test_http1_pipeline_depth_bounded, test_http1_pipeline_malformed_after_valid}},
        {"continue",
         {test_http1_continue_sent_before_body, test_http1_continue_waits_for_earlier_response,
          test_http1_continue_refused_when_too_big}},
        {"limits",
         {test_http1_limits_content_length_413, test_http1_limits_chunked_body_413,
          test_http1_limits_header_count_431, test_http1_limits_header_bytes_431,
          test_http1_limits_exactly_at_header_count, test_http1_limits_write_queue_stops_reading,
          test_http1_limits_connections_refused_past_max}},
        {"budget",
         {test_http1_budget_pauses_and_resumes,
          test_http1_budget_requests_larger_than_budget_complete,
          test_http1_budget_paused_not_timed_out}},
        {"malformed",
         {test_http1_malformed_request_line_400, test_http1_malformed_content_length_400,
          test_http1_malformed_bad_chunk_400}},
        {"timeout",
         {test_http1_timeout_idle_closes, test_http1_timeout_slow_request_closes,
          test_http1_timeout_not_while_answer_owed}},
        {"disconnect",
         {test_http1_disconnect_reset_before_answer, test_http1_disconnect_close_before_answer,
          test_http1_disconnect_server_close_with_pending}},
        {"detect",
         {test_http1_detect_silent_closed, test_http1_detect_partial_preface_closed,
          test_http1_detect_h2_idle_goaway, test_http1_detect_h2_garbage_goaway}},
        {"stream",
         {test_http1_stream_chunks_then_next_response, test_http1_stream_http10_until_close,
          test_http1_stream_backpressure, test_http1_stream_client_gone,
          test_http1_stream_server_close}},
        {"parse",
         {test_http1_parse_counts_pipelined, test_http1_parse_stops_after_close,
          test_http1_parse_errors}},
    };
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_set_timeout(tc, TEST_TCASE_TIMEOUT_S);
        if (strcmp(groups[g].name, "parse") != 0) {
            tcase_add_checked_fixture(tc, test_setup, test_teardown);
        }
        for (size_t i = 0; i < 8 && groups[g].tests[i] != NULL; i++) {
            tcase_add_test(tc, groups[g].tests[i]);
        }
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(test_http1_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
