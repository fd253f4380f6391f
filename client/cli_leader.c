/*
 * `eddy leader drain`: moves every Raft leadership (the shard groups', then
 * the coordinator's) away from one node before it is stopped, so that a
 * rolling restart does not leave its groups waiting out an election
 * timeout.
 *
 * It asks the node itself (NodeStatusReq) which groups it leads: the node's
 * own view is fresh, while the coordinator's comes with the last heartbeat.
 * For the first group led it sends TransferLeaderReq (node 0: Raft picks the
 * most up-to-date voter) to the same node, which answers once leadership
 * moved; then it asks again, until the node leads nothing or the timeout
 * passes. A node that does not answer the first question fails the drain
 * at once (exit 1): a stopped node leads nothing. A group with no other
 * voter (a one-node cluster) stays where it is: the drain reports it and
 * still succeeds, since nothing better can be done before a stop. Shard groups go first: moving the
 * coordinator resets the new coordinator leader's liveness table, and the shard groups do not need
 * it.
 *
 * The coordinator's leader balancer may give a leadership back within its
 * interval (COORD_BALANCE_INTERVAL_MS) when the counts differ by two or
 * more: drain right before the stop, not minutes ahead. The coordinator
 * group is never balanced, so its move sticks.
 */
#include "cli.h"

#include "eddy/errors.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pause between a move (or a refused one) and the next look. */
#define CLI_LEADER_POLL_MS 200
/* A leader that is not ready yet (it has not applied its election barrier)
 * cannot hand over: look again this soon. */
#define CLI_LEADER_NOT_READY_MS 100
#define CLI_LEADER_TIMEOUT_S_DEFAULT 60
#define CLI_LEADER_TIMEOUT_S_MAX 3600
/* Deadline of one TransferLeader call: raft gives up on a transfer after an
 * election timeout; the server answers before that. */
#define CLI_LEADER_TRANSFER_TIMEOUT_MS 10000
/* Group ids tracked as "no other voter" (a bitmap); a group above is retried
 * until the timeout instead. */
#define CLI_LEADER_GROUP_IDS_MAX 4096

struct leader_run {
    uv_loop_t *loop;
    struct rpc_client *client; /* the node being drained */
    const char *address;
    uv_timer_t timer; /* next look, then the close */
    uint64_t started_ms;
    uint64_t deadline_ms;
    uint32_t node;     /* learned from the first NodeStatusResp; 0 before */
    uint32_t group;    /* the group of the transfer in flight */
    unsigned moves;    /* transfers acknowledged */
    unsigned refusals; /* transfers refused or failed */
    /* Groups whose leader found no other voter to take over (a one-node
     * cluster): they stay, and the drain ends without them. */
    uint8_t no_voter[CLI_LEADER_GROUP_IDS_MAX / 8];
    unsigned no_voter_count;
    char last_error[160]; /* why the last look or transfer failed */
    int exit_code;
    Eddy__NodeStatusReq status_req;
    Eddy__TransferLeaderReq transfer_req;
    Eddy__Frame frame; /* the request in flight (borrowed by rpc_client_call) */
};

static void cli_leader_look(struct leader_run *run);

static void cli_leader_on_closed_timer(uv_handle_t *h)
{
    (void)h;
}

static void cli_leader_on_finish(uv_timer_t *t)
{
    struct leader_run *run = t->data;
    rpc_client_close(run->client, NULL, NULL);
    uv_close((uv_handle_t *)t, cli_leader_on_closed_timer);
}

/* Ends the run; the client is closed on the next loop turn, out of its own
 * callback (which rpc_client forbids). */
static void cli_leader_finish(struct leader_run *run, int exit_code)
{
    run->exit_code = exit_code;
    uv_timer_start(&run->timer, cli_leader_on_finish, 0, 0);
}

static double cli_leader_elapsed_s(const struct leader_run *run)
{
    return (double)(uv_now(run->loop) - run->started_ms) / 1000.0;
}

static void cli_leader_on_poll(uv_timer_t *t)
{
    cli_leader_look(t->data);
}

/* Looks again after delay_ms, or fails the run when that would pass the
 * deadline. */
static void cli_leader_again(struct leader_run *run, uint64_t delay_ms)
{
    if (uv_now(run->loop) + delay_ms > run->deadline_ms) {
        fprintf(stderr, "eddy: timed out after %.1fs draining %s: %s\n", cli_leader_elapsed_s(run),
                run->address, run->last_error[0] != '\0' ? run->last_error : "no answer");
        cli_leader_finish(run, 1);
        return;
    }
    uv_timer_start(&run->timer, cli_leader_on_poll, delay_ms, 0);
}

static void cli_leader_on_transfer(void *arg, int status, const Eddy__Frame *resp)
{
    struct leader_run *run = arg;
    int code = status;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : -EDDY_EMALFORMED;
    }
    if (code == -EDDY_ENOTFOUND && run->group < CLI_LEADER_GROUP_IDS_MAX) {
        run->no_voter[run->group / 8] |= (uint8_t)(1u << (run->group % 8));
        run->no_voter_count++;
        fprintf(stderr, "eddy: [%5.1fs] %s%" PRIu32 ": no other voter can take over; it stays\n",
                cli_leader_elapsed_s(run), run->group == 0 ? "coordinator group " : "group ",
                run->group);
    } else if (code == 0) {
        run->moves++;
        fprintf(stderr,
                "eddy: [%5.1fs] %s%" PRIu32 ": leadership moved away from node %" PRIu32 "\n",
                cli_leader_elapsed_s(run), run->group == 0 ? "coordinator group " : "group ",
                run->group, run->node);
    } else {
        /* -EDDY_ENOTLEADER: it moved on its own meanwhile (an election, the
         * balancer); anything else is retried until the deadline. */
        run->refusals++;
        snprintf(run->last_error, sizeof(run->last_error), "group %" PRIu32 ": transfer: %s",
                 run->group, eddy_strerror(code));
        fprintf(stderr, "eddy: [%5.1fs] %s\n", cli_leader_elapsed_s(run), run->last_error);
    }
    cli_leader_again(run, CLI_LEADER_POLL_MS);
}

static void cli_leader_transfer(struct leader_run *run, uint32_t group)
{
    run->group = group;
    eddy__transfer_leader_req__init(&run->transfer_req);
    run->transfer_req.group = group;
    run->transfer_req.node = 0; /* any voter: Raft picks the most up-to-date */
    eddy__frame__init(&run->frame);
    run->frame.body_case = EDDY__FRAME__BODY_TRANSFER_LEADER;
    run->frame.transfer_leader = &run->transfer_req;
    rpc_client_call(run->client, &run->frame, CLI_LEADER_TRANSFER_TIMEOUT_MS,
                    cli_leader_on_transfer, run);
}

static bool cli_leader_has_no_voter(const struct leader_run *run, uint32_t group)
{
    return group < CLI_LEADER_GROUP_IDS_MAX &&
           (run->no_voter[group / 8] & (1u << (group % 8))) != 0;
}

/* The group to move next: a shard group the node leads, else the
 * coordinator group if it leads that, leaving out those without another
 * voter; *is_ready says whether that leadership can be handed over now.
 * false when there is none. */
static bool cli_leader_pick(const struct leader_run *run,
                            const Eddy__NodeStatusResp *ns,
                            uint32_t *group,
                            bool *is_ready)
{
    bool found = false;
    for (size_t i = 0; i < ns->n_groups; i++) {
        const Eddy__GroupStatus *g = ns->groups[i];
        if (g->leader_node != ns->node || cli_leader_has_no_voter(run, g->group)) {
            continue;
        }
        if (!found || (*group == 0 && g->group != 0)) {
            *group = g->group;
            *is_ready = g->ready;
            found = true;
        }
    }
    return found;
}

static void cli_leader_on_status(void *arg, int status, const Eddy__Frame *resp)
{
    struct leader_run *run = arg;
    int code = status;
    if (status == 0 && resp->body_case != EDDY__FRAME__BODY_NODE_STATUS_RESP) {
        code = -EDDY_EMALFORMED;
    } else if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : 0;
    }
    if (status != 0 && run->node == 0) {
        /* It never answered: it is down (nothing to drain) or the address
         * is wrong; a systemd ExecStop after a crash must not wait. */
        fprintf(stderr, "eddy: no answer from %s: %s\n", run->address, eddy_strerror(status));
        cli_leader_finish(run, 1);
        return;
    }
    if (code != 0) {
        snprintf(run->last_error, sizeof(run->last_error), "node status: %s", eddy_strerror(code));
        cli_leader_again(run, CLI_LEADER_POLL_MS);
        return;
    }
    const Eddy__NodeStatusResp *ns = resp->node_status_resp;
    run->node = ns->node;
    uint32_t group = 0;
    bool is_ready = false;
    if (!cli_leader_pick(run, ns, &group, &is_ready)) {
        if (run->no_voter_count == 0) {
            printf("node %" PRIu32 " leads no group (%u leadership%s moved in %.1fs)\n", run->node,
                   run->moves, run->moves == 1 ? "" : "s", cli_leader_elapsed_s(run));
        } else {
            printf("node %" PRIu32 " leads no group another voter can take (%u leadership%s moved "
                   "in %.1fs; %u group%s without another voter stay)\n",
                   run->node, run->moves, run->moves == 1 ? "" : "s", cli_leader_elapsed_s(run),
                   run->no_voter_count, run->no_voter_count == 1 ? "" : "s");
        }
        cli_leader_finish(run, 0);
        return;
    }
    if (!is_ready) {
        snprintf(run->last_error, sizeof(run->last_error),
                 "group %" PRIu32 ": its leader is not ready yet", group);
        cli_leader_again(run, CLI_LEADER_NOT_READY_MS);
        return;
    }
    cli_leader_transfer(run, group);
}

static void cli_leader_look(struct leader_run *run)
{
    eddy__node_status_req__init(&run->status_req);
    eddy__frame__init(&run->frame);
    run->frame.body_case = EDDY__FRAME__BODY_NODE_STATUS;
    run->frame.node_status = &run->status_req;
    rpc_client_call(run->client, &run->frame, CLI_CALL_TIMEOUT_MS, cli_leader_on_status, run);
}

static int cli_leader_usage(void)
{
    fputs("usage: eddy leader drain [--rpc HOST:PORT] [--timeout S]\n"
          "  moves every Raft leadership (shard groups, then the coordinator) away from\n"
          "  the node at --rpc (default " CLI_RPC_DEFAULT "), e.g. before stopping it\n"
          "  --timeout S   give up after S seconds (default 60)\n"
          "exit status: 0 the node leads no group (that another voter could take), 1\n"
          "unreachable or timed out, 2 usage\n",
          stderr);
    return 2;
}

int cli_leader_main(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "drain") != 0) {
        return cli_leader_usage();
    }
    const char *address = CLI_RPC_DEFAULT;
    double timeout_s = CLI_LEADER_TIMEOUT_S_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rpc") == 0 && i + 1 < argc) {
            address = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout_s = strtod(argv[++i], &end);
            if (*end != '\0' || !(timeout_s >= 0) || timeout_s > CLI_LEADER_TIMEOUT_S_MAX) {
                return cli_leader_usage();
            }
        } else {
            return cli_leader_usage();
        }
    }
    static struct leader_run run; /* outlives every callback of the loop */
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(&run, 0, sizeof(run));
    run.loop = &loop;
    run.address = address;
    if (rpc_client_init(&run.client, &loop, address) != 0) {
        fprintf(stderr, "eddy: bad --rpc address: %s\n", address);
        uv_loop_close(&loop);
        return 2;
    }
    run.started_ms = uv_now(&loop);
    run.deadline_ms = run.started_ms + (uint64_t)(timeout_s * 1000.0);
    run.exit_code = 1;
    uv_timer_init(&loop, &run.timer);
    run.timer.data = &run;
    cli_leader_look(&run);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return run.exit_code;
}
