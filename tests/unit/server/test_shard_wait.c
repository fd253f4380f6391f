/*
 * Unit tests for server/shard_wait.c, with real RPC calls on 127.0.0.1 (a
 * parked read is an rpc_call): the test server parks every Read it gets on
 * the group it names, until now + wait_ms, after its sequence; the wake
 * callback answers it with a ReadResp whose millis_behind_latest says why it
 * came back and whose next_sequence is where it waited. Checks: deadlines in
 * order, wakes only for the shards an applied entry touches (records,
 * closes, drops; the stream incarnation matters), one callback per wake,
 * leadership loss per group, the bounds, parking again inside the callback,
 * superseded subscriptions (by consumer, shard and id), and close.
 */
#include "shard_wait.h"

#include "eddy/alloc.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"
#include "eddy/u128.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_GROUPS 3
#define TEST_CALLS_MAX (SHARD_WAIT_NODE_MAX + 8)
/* millis_behind_latest of an answer the server gave without parking: the
 * park's error code is in the status. */
#define TEST_REFUSED 99

static uv_loop_t loop;

static struct {
    struct rpc_server *rpc;
    struct shard_wait *wait;
    int port;
    unsigned parked;   /* park calls that succeeded */
    bool repark_once;  /* the next APPLIED wake parks the call again */
    unsigned reparked; /* calls parked again by the callback */
    unsigned wakes;    /* callbacks (each hands back one wake's calls) */
    bool closed;
} srv;

/* ---- the loop ---- */

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void run_until(const bool *flag)
{
    while (!*flag) {
        if (uv_run(&loop, UV_RUN_ONCE) == 0 && !*flag) {
            ck_abort_msg("loop ran dry");
        }
    }
}

static void run_until_count(const unsigned *n, unsigned want)
{
    while (*n < want) {
        if (uv_run(&loop, UV_RUN_ONCE) == 0 && *n < want) {
            ck_abort_msg("loop ran dry");
        }
    }
}

static void on_flag(void *arg)
{
    *(bool *)arg = true;
}

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

/* ---- the server side ---- */

static void srv_answer(struct rpc_call *call, u128 after, uint64_t why, int code)
{
    uint8_t be[16];
    u128_to_be(after, be);
    Eddy__Status st = EDDY__STATUS__INIT;
    st.code = code;
    Eddy__ReadResp rr = EDDY__READ_RESP__INIT;
    rr.status = &st;
    rr.next_sequence.data = be;
    rr.next_sequence.len = 16;
    rr.millis_behind_latest = why;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_READ_RESP;
    f.read_resp = &rr;
    rpc_call_reply(call, &f);
}

static void
srv_on_wake(void *arg, struct shard_wait_woken *woken, size_t count, enum shard_wait_wake why)
{
    (void)arg;
    ck_assert_uint_gt(count, 0);
    srv.wakes++;
    for (size_t i = 0; i < count; i++) {
        struct rpc_call *call = woken[i].call;
        if (why == SHARD_WAIT_APPLIED && srv.repark_once) {
            srv.repark_once = false;
            uint32_t group = rpc_call_request(call)->read->group;
            ck_assert_int_eq(
                shard_wait_park(srv.wait, group, call, woken[i].after + 1, woken[i].deadline_ms),
                0);
            srv.reparked++;
            continue;
        }
        srv_answer(call, woken[i].after, (uint64_t)why, 0);
    }
}

static void srv_on_call(void *data, struct rpc_call *call)
{
    (void)data;
    const Eddy__ReadReq *req = rpc_call_request(call)->read;
    ck_assert_ptr_nonnull(req);
    u128 after = u128_from_be(req->sequence.data);
    int rv = shard_wait_park(srv.wait, req->group, call, after, uv_now(&loop) + req->wait_ms);
    if (rv != 0) {
        srv_answer(call, after, TEST_REFUSED, rv);
        return;
    }
    srv.parked++;
}

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    memset(&srv, 0, sizeof(srv));
    srv.port = free_port();
    ck_assert_int_eq(rpc_server_init(&srv.rpc, &loop, "127.0.0.1", srv.port, srv_on_call, NULL), 0);
    shard_wait_init(&srv.wait, &loop, TEST_GROUPS, srv_on_wake, NULL);
}

static void teardown(void)
{
    if (!srv.closed) {
        bool done = false;
        shard_wait_close(srv.wait, on_flag, &done);
        run_until(&done);
    }
    bool done = false;
    rpc_server_close(srv.rpc, on_flag, &done);
    run_until(&done);
    uv_walk(&loop, on_walk_close, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* ---- the client side ---- */

struct tread {
    int status; /* the call's */
    int code;   /* the answer's Status.code */
    uint64_t why;
    u128 after;
    unsigned order; /* when it was answered: 1, 2, ... */
    bool answered;
};

static struct {
    struct rpc_client *rpc;
    unsigned answered;
    struct tread reads[TEST_CALLS_MAX];
    unsigned count;
} cli;

static void cli_on_resp(void *arg, int status, const Eddy__Frame *resp)
{
    struct tread *t = arg;
    ck_assert(!t->answered);
    t->answered = true;
    t->status = status;
    t->order = ++cli.answered;
    if (status == 0) {
        ck_assert_int_eq(resp->body_case, EDDY__FRAME__BODY_READ_RESP);
        const Eddy__ReadResp *rr = resp->read_resp;
        t->code = rr->status != NULL ? rr->status->code : 0;
        t->why = rr->millis_behind_latest;
        t->after = rr->next_sequence.len == 16 ? u128_from_be(rr->next_sequence.data) : 0;
    }
}

static void cli_open(void)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", srv.port);
    memset(&cli, 0, sizeof(cli));
    ck_assert_int_eq(rpc_client_init(&cli.rpc, &loop, addr), 0);
}

static void cli_close(void)
{
    bool done = false;
    rpc_client_close(cli.rpc, on_flag, &done);
    run_until(&done);
}

/* A subscription's lease fields on a read (consumer NULL: none). */
struct tlease {
    const char *consumer;
    uint64_t id;
};

/* Sends a read of stream@created shard on group, waiting wait_ms after seq,
 * as lease's subscription (NULL: none); returns its record. */
static struct tread *cli_read_as(uint32_t group,
                                 const char *stream,
                                 uint64_t created,
                                 uint32_t shard,
                                 u128 seq,
                                 uint32_t wait_ms,
                                 const struct tlease *lease)
{
    ck_assert_uint_lt(cli.count, TEST_CALLS_MAX);
    struct tread *t = &cli.reads[cli.count++];
    uint8_t be[16];
    u128_to_be(seq, be);
    Eddy__ReadReq r = EDDY__READ_REQ__INIT;
    r.group = group;
    r.stream = (char *)stream;
    r.stream_created_ms = created;
    r.shard = shard;
    r.position = EDDY__POSITION__POSITION_AFTER_SEQUENCE;
    r.sequence.data = be;
    r.sequence.len = 16;
    r.limit = 100;
    r.wait_ms = wait_ms;
    if (lease != NULL) {
        r.consumer = (char *)lease->consumer;
        r.consumer_created_ms = 11;
        r.subscription_id = lease->id;
        r.lease = EDDY__LEASE__LEASE_HOLD;
    }
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_READ;
    f.read = &r;
    rpc_client_call(cli.rpc, &f, 30000, cli_on_resp, t);
    return t;
}

static struct tread *cli_read(uint32_t group,
                              const char *stream,
                              uint64_t created,
                              uint32_t shard,
                              u128 seq,
                              uint32_t wait_ms)
{
    return cli_read_as(group, stream, created, shard, seq, wait_ms, NULL);
}

/* ---- entries ---- */

struct tentry {
    Eddy__GroupEntry e;
    Eddy__StreamRef refs[2];
    Eddy__StreamRef *ref_ptrs[2];
    Eddy__EntryRecord recs[4];
    Eddy__EntryRecord *rec_ptrs[4];
};

static void tentry_init(struct tentry *t)
{
    memset(t, 0, sizeof(*t));
    eddy__group_entry__init(&t->e);
    t->e.streams = t->ref_ptrs;
    t->e.records = t->rec_ptrs;
}

static void tentry_stream(struct tentry *t, const char *name, uint64_t created)
{
    Eddy__StreamRef *r = &t->refs[t->e.n_streams];
    eddy__stream_ref__init(r);
    r->name = (char *)name;
    r->created_ms = created;
    t->ref_ptrs[t->e.n_streams++] = r;
}

static void tentry_record(struct tentry *t, uint32_t ref, uint32_t shard)
{
    Eddy__EntryRecord *r = &t->recs[t->e.n_records];
    eddy__entry_record__init(r);
    r->stream_ref = ref;
    r->shard = shard;
    r->partition_key = (char *)"k";
    t->rec_ptrs[t->e.n_records++] = r;
}

/* Runs the loop until every read sent so far has arrived at the server. */
static void wait_parked(unsigned n)
{
    run_until_count(&srv.parked, n);
}

/* ---- tests ---- */

START_TEST(test_shard_wait_timeout_in_deadline_order)
{
    cli_open();
    struct tread *a = cli_read(1, "s", 7, 0, 100, 150);
    struct tread *b = cli_read(1, "s", 7, 1, 200, 30);
    struct tread *c = cli_read(2, "s", 7, 0, 300, 90);
    wait_parked(3);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 0), 3);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 1), 2);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 2), 1);
    run_until_count(&cli.answered, 3);
    ck_assert_uint_eq(b->order, 1);
    ck_assert_uint_eq(c->order, 2);
    ck_assert_uint_eq(a->order, 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(cli.reads[i].status, 0);
        ck_assert_uint_eq(cli.reads[i].why, SHARD_WAIT_TIMEOUT);
    }
    ck_assert(a->after == 100 && b->after == 200 && c->after == 300);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 0), 0);
    cli_close();
}
END_TEST

START_TEST(test_shard_wait_applied_wakes_touched_shards_only)
{
    cli_open();
    struct tread *a = cli_read(1, "s", 7, 0, 1, 20000);
    struct tread *b = cli_read(1, "s", 7, 1, 2, 20000);
    struct tread *c = cli_read(1, "t", 7, 0, 3, 20000);
    struct tread *d = cli_read(1, "s", 8, 0, 4, 20000); /* another incarnation of s */
    struct tread *e = cli_read(2, "s", 7, 0, 5, 20000); /* same shard key, other group */
    wait_parked(5);
    /* Records on s shard 1: only b. */
    struct tentry t1;
    tentry_init(&t1);
    tentry_stream(&t1, "s", 7);
    tentry_record(&t1, 0, 1);
    tentry_record(&t1, 0, 1);
    shard_wait_applied(srv.wait, 1, &t1.e);
    run_until_count(&cli.answered, 1);
    ck_assert(b->answered && b->why == SHARD_WAIT_APPLIED && b->after == 2);
    /* Records on t shard 5 and s shard 0 (s is the second stream): a. */
    struct tentry t2;
    tentry_init(&t2);
    tentry_stream(&t2, "t", 7);
    tentry_stream(&t2, "s", 7);
    tentry_record(&t2, 0, 5);
    tentry_record(&t2, 1, 0);
    shard_wait_applied(srv.wait, 1, &t2.e);
    run_until_count(&cli.answered, 2);
    ck_assert(a->answered && a->why == SHARD_WAIT_APPLIED);
    ck_assert(!c->answered && !d->answered && !e->answered);
    /* A create or a trim entry wakes nobody. */
    struct tentry t3;
    tentry_init(&t3);
    tentry_stream(&t3, "t", 7);
    t3.e.trim_before_ms = 5;
    shard_wait_applied(srv.wait, 1, &t3.e);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 1), 2);
    /* Dropping t wakes every read on it: c. */
    t3.e.trim_before_ms = 0;
    t3.e.drop_stream = true;
    shard_wait_applied(srv.wait, 1, &t3.e);
    run_until_count(&cli.answered, 3);
    ck_assert(c->answered && c->why == SHARD_WAIT_APPLIED);
    /* Closing shard 0 of s on group 2: e. */
    uint32_t closes[] = {0};
    struct tentry t4;
    tentry_init(&t4);
    tentry_stream(&t4, "s", 7);
    t4.e.close_shards = closes;
    t4.e.n_close_shards = 1;
    shard_wait_applied(srv.wait, 2, &t4.e);
    run_until_count(&cli.answered, 4);
    ck_assert(e->answered && e->why == SHARD_WAIT_APPLIED);
    /* Group 1 loses its leader: d. */
    shard_wait_fail_group(srv.wait, 2);
    ck_assert(!d->answered);
    shard_wait_fail_group(srv.wait, 1);
    run_until_count(&cli.answered, 5);
    ck_assert(d->answered && d->why == SHARD_WAIT_FAILED);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 0), 0);
    cli_close();
}
END_TEST

START_TEST(test_shard_wait_bounds)
{
    cli_open();
    /* The group's bound, then the node's over other groups. */
    for (unsigned i = 0; i < SHARD_WAIT_GROUP_MAX; i++) {
        cli_read(1, "s", 7, 0, i, 20000);
    }
    wait_parked(SHARD_WAIT_GROUP_MAX);
    struct tread *over = cli_read(1, "s", 7, 0, 9999, 20000);
    run_until_count(&cli.answered, 1);
    ck_assert(over->answered && over->why == TEST_REFUSED && over->code == -EDDY_EFULL);
    unsigned other = SHARD_WAIT_NODE_MAX - SHARD_WAIT_GROUP_MAX;
    for (unsigned i = 0; i < other; i++) {
        cli_read(2 + i % 2, "s", 7, 0, i, 20000);
    }
    wait_parked(SHARD_WAIT_NODE_MAX);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 0), SHARD_WAIT_NODE_MAX);
    struct tread *node_over = cli_read(3, "s", 7, 9, 1, 20000);
    run_until_count(&cli.answered, 2);
    ck_assert(node_over->answered && node_over->code == -EDDY_EFULL);
    /* A group id out of range. */
    struct tread *bad = cli_read(TEST_GROUPS + 1, "s", 7, 0, 1, 20000);
    run_until_count(&cli.answered, 3);
    ck_assert(bad->answered && bad->code == -EDDY_EINVAL);
    /* Close hands every parked call back, FAILED, and calls back later. */
    bool done = false;
    shard_wait_close(srv.wait, on_flag, &done);
    srv.closed = true;
    ck_assert(!done);
    run_until(&done);
    run_until_count(&cli.answered, 3 + SHARD_WAIT_NODE_MAX);
    for (unsigned i = 0; i < cli.count; i++) {
        struct tread *t = &cli.reads[i];
        ck_assert(t->answered);
        ck_assert(t->why == SHARD_WAIT_FAILED || t->why == TEST_REFUSED);
    }
    cli_close();
}
END_TEST

START_TEST(test_shard_wait_park_again_in_callback)
{
    cli_open();
    struct tread *a = cli_read(1, "s", 7, 0, 10, 200);
    struct tread *b = cli_read(1, "s", 7, 0, 20, 20000);
    wait_parked(2);
    srv.repark_once = true; /* the first woken parks again, with its deadline */
    struct tentry t;
    tentry_init(&t);
    tentry_stream(&t, "s", 7);
    tentry_record(&t, 0, 0);
    shard_wait_applied(srv.wait, 1, &t.e);
    ck_assert_uint_eq(srv.reparked, 1);
    run_until_count(&cli.answered, 1);
    /* a was parked again at 11 and comes back at its old deadline. */
    ck_assert(b->answered && b->why == SHARD_WAIT_APPLIED);
    run_until_count(&cli.answered, 2);
    ck_assert(a->answered && a->why == SHARD_WAIT_TIMEOUT && a->after == 11);
    cli_close();
}
END_TEST

START_TEST(test_shard_wait_applied_one_callback_per_wake)
{
    cli_open();
    struct tread *r[3];
    for (unsigned i = 0; i < 3; i++) {
        r[i] = cli_read(1, "s", 7, 0, 5, 20000);
    }
    struct tread *other = cli_read(1, "s", 7, 1, 5, 20000);
    wait_parked(4);
    struct tentry t;
    tentry_init(&t);
    tentry_stream(&t, "s", 7);
    tentry_record(&t, 0, 0);
    tentry_record(&t, 0, 0);
    shard_wait_applied(srv.wait, 1, &t.e);
    ck_assert_uint_eq(srv.wakes, 1); /* the three subscribers of shard 0, together */
    run_until_count(&cli.answered, 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert(r[i]->answered && r[i]->why == SHARD_WAIT_APPLIED);
    }
    ck_assert(!other->answered);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 0), 1);
    cli_close();
}
END_TEST

START_TEST(test_shard_wait_supersede_other_ids_of_the_key)
{
    cli_open();
    struct tlease c1a = {"c1", 1}, c1b = {"c1", 2}, c2 = {"c2", 3};
    struct tread *old = cli_read_as(1, "s", 7, 0, 5, 20000, &c1a);
    struct tread *holder = cli_read_as(1, "s", 7, 0, 5, 20000, &c1b);
    struct tread *other_consumer = cli_read_as(1, "s", 7, 0, 5, 20000, &c2);
    struct tread *other_shard = cli_read_as(1, "s", 7, 1, 5, 20000, &c1a);
    struct tread *other_stream = cli_read_as(1, "t", 7, 0, 5, 20000, &c1a);
    struct tread *other_group = cli_read_as(2, "s", 7, 0, 5, 20000, &c1a);
    struct tread *plain = cli_read(1, "s", 7, 0, 5, 20000); /* a GetRecords-like read */
    wait_parked(7);
    Eddy__ReadReq key = EDDY__READ_REQ__INIT;
    key.stream = (char *)"s";
    key.stream_created_ms = 7;
    key.shard = 0;
    key.consumer = (char *)"c1";
    key.consumer_created_ms = 11;
    /* c1 on s/0 of group 1 is now id 2's: id 1's read there comes back. */
    shard_wait_supersede(srv.wait, 1, &key, 2);
    run_until_count(&cli.answered, 1);
    ck_assert(old->answered && old->why == SHARD_WAIT_SUPERSEDED);
    /* Another incarnation of the consumer is another key. */
    key.consumer_created_ms = 12;
    shard_wait_supersede(srv.wait, 1, &key, 0);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 0), 6);
    /* Released (nobody holds it): id 2's read comes back too. */
    key.consumer_created_ms = 11;
    shard_wait_supersede(srv.wait, 1, &key, 0);
    run_until_count(&cli.answered, 2);
    ck_assert(holder->answered && holder->why == SHARD_WAIT_SUPERSEDED);
    ck_assert(!other_consumer->answered && !other_shard->answered && !other_stream->answered);
    ck_assert(!other_group->answered && !plain->answered);
    ck_assert_uint_eq(shard_wait_count(srv.wait, 0), 5);
    cli_close();
}
END_TEST

static Suite *shard_wait_suite(void)
{
    Suite *s = suite_create("shard_wait");
    TCase *tc = tcase_create("park");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shard_wait_timeout_in_deadline_order);
    tcase_add_test(tc, test_shard_wait_applied_wakes_touched_shards_only);
    tcase_add_test(tc, test_shard_wait_bounds);
    tcase_add_test(tc, test_shard_wait_park_again_in_callback);
    tcase_add_test(tc, test_shard_wait_applied_one_callback_per_wake);
    tcase_add_test(tc, test_shard_wait_supersede_other_ids_of_the_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shard_wait_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
