/*
 * `eddy leader drain` and `eddy leader undrain`: a node about to stop gives
 * every Raft leadership it holds (the shard groups' and the coordinator's)
 * to other nodes and receives none until it restarts, so that a rolling
 * restart does not leave its groups waiting out an election timeout.
 *
 * drain tells the node it drains (DrainReq). From then until the process
 * ends or is undrained, each of its replicas hands away any leadership it
 * gets (rgroup_set_draining), and its heartbeats say so, so that the
 * coordinator's balancer gives it none (balance.h). The state lives in the
 * node's memory: it survives any change of coordinator leader (every
 * heartbeat carries it) and ends with the process, so a restarted node
 * leads again without anyone undraining it. The command then asks the node
 * (NodeStatusReq) every CLI_LEADER_POLL_MS until it leads no group that
 * another voter could take, printing each leadership that moved away, and
 * then the coordinator leader (ClusterStatusReq through cli_coord, starting
 * at the node) until it reports the node draining, so that its balancer
 * decides no further move to it; a look that finds the node not draining
 * (it restarted meanwhile) sends DrainReq again. A coordinator that does
 * not answer for CLI_LEADER_CONFIRM_GRACE_MS (no majority: no balancer
 * runs either) is not waited for. A group whose only voter is the node (a one-node
 * cluster) stays where it is: the drain reports it and still succeeds,
 * since nothing better can be done before a stop. A node that does not
 * answer the first call fails the drain at once (exit 1): a stopped node
 * leads nothing.
 *
 * A node from before DrainReq (an eddyd being upgraded) answers it
 * -EDDY_EMALFORMED: the drain then moves the leaderships itself, one
 * TransferLeaderReq at a time (node 0: Raft picks the most up-to-date
 * voter), shard groups first, and the balancer may give some back before
 * the stop.
 *
 * undrain sends DrainReq{draining = false}: the node may lead again, and
 * the balancer gives it its share within a few of its periods.
 */
#include "cli.h"
#include "cli_coord.h"

#include "eddy/errors.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pause between two looks at the node (and after a move or a refused one). */
#define CLI_LEADER_POLL_MS 200
/* A leader that is not ready yet (it has not applied its election barrier)
 * cannot hand over: look again this soon. */
#define CLI_LEADER_NOT_READY_MS 100
#define CLI_LEADER_TIMEOUT_S_DEFAULT 60
#define CLI_LEADER_TIMEOUT_S_MAX 3600
/* Deadline of one TransferLeader call: raft gives up on a transfer after an
 * election timeout; the server answers before that. */
#define CLI_LEADER_TRANSFER_TIMEOUT_MS 10000
/* How long a coordinator that does not answer delays the end of a drain. */
#define CLI_LEADER_CONFIRM_GRACE_MS 3000
/* Group ids tracked (bitmaps of groups seen led and of groups without
 * another voter); a group above is waited for, but its move is not shown. */
#define CLI_LEADER_GROUP_IDS_MAX 4096

enum leader_mode {
    LEADER_DRAIN,        /* DrainReq, then wait until the node leads nothing */
    LEADER_DRAIN_LEGACY, /* an eddyd without DrainReq: TransferLeaderReq per group */
    LEADER_UNDRAIN,      /* DrainReq{false}, then one look for the node id */
};

struct leader_run {
    uv_loop_t *loop;
    struct rpc_client *client; /* the node being drained */
    struct cli_coord *coord;   /* LEADER_DRAIN: the coordinator leader, found from the node */
    const char *address;
    enum leader_mode mode;
    uv_timer_t timer; /* next look, then the close */
    uint64_t started_ms;
    uint64_t deadline_ms;
    bool has_answered;          /* the node answered a call: later failures are retried */
    bool is_drain_due;          /* the next call is DrainReq (the last one failed) */
    uint64_t confirm_failed_ms; /* when asking the coordinator first failed; 0: it answers */
    uint32_t node;              /* learned from the first NodeStatusResp; 0 before */
    uint32_t group;             /* LEADER_DRAIN_LEGACY: the group of the transfer in flight */
    unsigned moves;             /* leaderships seen moving away */
    unsigned refusals;          /* LEADER_DRAIN_LEGACY: transfers refused or failed */
    /* Groups seen led by the node (LEADER_DRAIN): one that is not any more
     * moved away. */
    uint8_t led[CLI_LEADER_GROUP_IDS_MAX / 8];
    /* Groups no other voter can take over (a one-node cluster): they stay,
     * and the drain ends without them. */
    uint8_t no_voter[CLI_LEADER_GROUP_IDS_MAX / 8];
    unsigned no_voter_count;
    char last_error[160]; /* why the last look or transfer failed */
    int exit_code;
    Eddy__NodeStatusReq status_req;
    Eddy__TransferLeaderReq transfer_req;
    Eddy__DrainReq drain_req;
    Eddy__ClusterStatusReq cluster_req;
    Eddy__Frame frame; /* the request in flight (borrowed by rpc_client_call) */
};

static void cli_leader_look(struct leader_run *run);
static void cli_leader_send_drain(struct leader_run *run, bool draining);

static bool cli_leader_bit(const uint8_t *bits, uint32_t group)
{
    return group < CLI_LEADER_GROUP_IDS_MAX && (bits[group / 8] & (1u << (group % 8))) != 0;
}

static void cli_leader_set_bit(uint8_t *bits, uint32_t group, bool on)
{
    if (group >= CLI_LEADER_GROUP_IDS_MAX) {
        return;
    }
    if (on) {
        bits[group / 8] |= (uint8_t)(1u << (group % 8));
    } else {
        bits[group / 8] &= (uint8_t) ~(1u << (group % 8));
    }
}

static const char *cli_leader_group_kind(uint32_t group)
{
    return group == 0 ? "coordinator group " : "group ";
}

static void cli_leader_on_closed_timer(uv_handle_t *h)
{
    (void)h;
}

static void cli_leader_on_finish(uv_timer_t *t)
{
    struct leader_run *run = t->data;
    rpc_client_close(run->client, NULL, NULL);
    if (run->coord != NULL) {
        cli_coord_close(run->coord, NULL, NULL);
    }
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
    struct leader_run *run = t->data;
    if (run->is_drain_due) {
        cli_leader_send_drain(run, run->mode != LEADER_UNDRAIN);
        return;
    }
    cli_leader_look(run);
}

/* Looks again after delay_ms, or fails the run when that would pass the
 * deadline. */
static void cli_leader_again(struct leader_run *run, uint64_t delay_ms)
{
    if (uv_now(run->loop) + delay_ms > run->deadline_ms) {
        fprintf(stderr, "eddy: timed out after %.1fs %s %s: %s\n", cli_leader_elapsed_s(run),
                run->mode == LEADER_UNDRAIN ? "undraining" : "draining", run->address,
                run->last_error[0] != '\0' ? run->last_error : "no answer");
        cli_leader_finish(run, 1);
        return;
    }
    uv_timer_start(&run->timer, cli_leader_on_poll, delay_ms, 0);
}

/* The status code of a reply, or the call's failure. */
static int cli_leader_code(int status, const Eddy__Frame *resp)
{
    if (status != 0) {
        return status;
    }
    const Eddy__Status *st = rpc_frame_status(resp);
    return st != NULL ? st->code : -EDDY_EMALFORMED;
}

/* A call failed before the node ever answered: it is down (nothing to
 * drain) or the address is wrong; a systemd ExecStop after a crash must not
 * wait. Returns true when the run ended so. */
static bool cli_leader_never_answered(struct leader_run *run, int status)
{
    if (status == 0 || run->has_answered) {
        return false;
    }
    fprintf(stderr, "eddy: no answer from %s: %s\n", run->address, eddy_strerror(status));
    cli_leader_finish(run, 1);
    return true;
}

static void cli_leader_print_done(const struct leader_run *run)
{
    if (run->no_voter_count == 0) {
        printf("node %" PRIu32 " leads no group (%u leadership%s moved in %.1fs)\n", run->node,
               run->moves, run->moves == 1 ? "" : "s", cli_leader_elapsed_s(run));
    } else {
        printf("node %" PRIu32 " leads no group another voter can take (%u leadership%s moved "
               "in %.1fs; %u group%s without another voter stay)\n",
               run->node, run->moves, run->moves == 1 ? "" : "s", cli_leader_elapsed_s(run),
               run->no_voter_count, run->no_voter_count == 1 ? "" : "s");
    }
}

static void cli_leader_report_no_voter(struct leader_run *run, uint32_t group)
{
    if (cli_leader_bit(run->no_voter, group)) {
        return;
    }
    cli_leader_set_bit(run->no_voter, group, true);
    run->no_voter_count++;
    fprintf(stderr, "eddy: [%5.1fs] %s%" PRIu32 ": no other voter can take over; it stays\n",
            cli_leader_elapsed_s(run), cli_leader_group_kind(group), group);
}

static void cli_leader_report_moved(struct leader_run *run, uint32_t group)
{
    run->moves++;
    fprintf(stderr, "eddy: [%5.1fs] %s%" PRIu32 ": leadership moved away from node %" PRIu32 "\n",
            cli_leader_elapsed_s(run), cli_leader_group_kind(group), group, run->node);
}

/* ---- drain by DrainReq: the node moves its leaderships itself ---- */

/* The node's voters of g include another node; false when they are known
 * and only the node itself. */
static bool cli_leader_has_other_voter(const Eddy__GroupStatus *g, uint32_t node)
{
    if (g->n_voters == 0) {
        return true; /* unknown: wait for it */
    }
    for (size_t v = 0; v < g->n_voters; v++) {
        if (g->voters[v] != node) {
            return true;
        }
    }
    return false;
}

/* Whether the coordinator leader's answer reports node draining. */
static bool cli_leader_is_known_draining(const Eddy__ClusterStatusResp *cs, uint32_t node)
{
    for (size_t i = 0; i < cs->n_nodes; i++) {
        if (cs->nodes[i]->node == node) {
            return cs->nodes[i]->alive && cs->nodes[i]->draining;
        }
    }
    return false;
}

static void cli_leader_on_confirm(void *arg, int status, const Eddy__Frame *resp)
{
    struct leader_run *run = arg;
    uint64_t now = uv_now(run->loop);
    if (status == 0 && resp->body_case == EDDY__FRAME__BODY_CLUSTER_STATUS_RESP) {
        run->confirm_failed_ms = 0;
        if (cli_leader_is_known_draining(resp->cluster_status_resp, run->node)) {
            cli_leader_print_done(run);
            cli_leader_finish(run, 0);
            return;
        }
        snprintf(run->last_error, sizeof(run->last_error),
                 "the coordinator leader does not report node %" PRIu32 " draining yet", run->node);
        cli_leader_again(run, CLI_LEADER_POLL_MS); /* a heartbeat brings it */
        return;
    }
    int code = status != 0 ? status : -EDDY_EMALFORMED;
    if (run->confirm_failed_ms == 0) {
        run->confirm_failed_ms = now;
    }
    if (now - run->confirm_failed_ms >= CLI_LEADER_CONFIRM_GRACE_MS) {
        fprintf(stderr,
                "eddy: [%5.1fs] no coordinator leader answers (%s): not waiting for it to "
                "know of the drain\n",
                cli_leader_elapsed_s(run), eddy_strerror(code));
        cli_leader_print_done(run);
        cli_leader_finish(run, 0);
        return;
    }
    snprintf(run->last_error, sizeof(run->last_error), "coordinator: %s", eddy_strerror(code));
    cli_leader_again(run, CLI_LEADER_POLL_MS);
}

/* The node leads nothing: asks the coordinator leader whether it knows the
 * node drains. */
static void cli_leader_confirm(struct leader_run *run)
{
    eddy__cluster_status_req__init(&run->cluster_req);
    eddy__frame__init(&run->frame);
    run->frame.body_case = EDDY__FRAME__BODY_CLUSTER_STATUS;
    run->frame.cluster_status = &run->cluster_req;
    cli_coord_call(run->coord, &run->frame, CLI_CALL_TIMEOUT_MS, cli_leader_on_confirm, run);
}

/* One look while draining: notes the groups led and those that moved away
 * (shard groups first, in the order the node lists them, then the
 * coordinator's); ends the run once no group another voter could take is
 * led. */
static void cli_leader_wait_step(struct leader_run *run, const Eddy__NodeStatusResp *ns)
{
    if (!ns->draining) {
        /* A new process (it restarted) or an undrain meanwhile: again. */
        cli_leader_send_drain(run, true);
        return;
    }
    unsigned pending = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ns->n_groups; i++) {
            const Eddy__GroupStatus *g = ns->groups[i];
            if ((pass == 0) != (g->group != 0)) {
                continue;
            }
            bool is_led = g->leader_node == ns->node;
            if (is_led && !cli_leader_has_other_voter(g, ns->node)) {
                cli_leader_report_no_voter(run, g->group);
                continue;
            }
            if (is_led) {
                cli_leader_set_bit(run->led, g->group, true);
                pending++;
            } else if (cli_leader_bit(run->led, g->group)) {
                cli_leader_set_bit(run->led, g->group, false);
                cli_leader_report_moved(run, g->group);
            }
        }
    }
    if (pending == 0) {
        cli_leader_confirm(run);
        return;
    }
    snprintf(run->last_error, sizeof(run->last_error), "it still leads %u group%s", pending,
             pending == 1 ? "" : "s");
    cli_leader_again(run, CLI_LEADER_POLL_MS);
}

/* ---- drain of an eddyd without DrainReq: one transfer at a time ---- */

static void cli_leader_on_transfer(void *arg, int status, const Eddy__Frame *resp)
{
    struct leader_run *run = arg;
    int code = cli_leader_code(status, resp);
    if (code == -EDDY_ENOTFOUND && run->group < CLI_LEADER_GROUP_IDS_MAX) {
        cli_leader_report_no_voter(run, run->group);
    } else if (code == 0) {
        cli_leader_report_moved(run, run->group);
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
        if (g->leader_node != ns->node || cli_leader_bit(run->no_voter, g->group)) {
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

static void cli_leader_legacy_step(struct leader_run *run, const Eddy__NodeStatusResp *ns)
{
    uint32_t group = 0;
    bool is_ready = false;
    if (!cli_leader_pick(run, ns, &group, &is_ready)) {
        cli_leader_print_done(run);
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

/* ---- the calls ---- */

static void cli_leader_on_status(void *arg, int status, const Eddy__Frame *resp)
{
    struct leader_run *run = arg;
    if (status == 0 && resp->body_case != EDDY__FRAME__BODY_NODE_STATUS_RESP) {
        status = -EDDY_EMALFORMED;
    }
    if (cli_leader_never_answered(run, status)) {
        return;
    }
    const Eddy__Status *st = status == 0 ? rpc_frame_status(resp) : NULL;
    int code = status != 0 ? status : (st != NULL ? st->code : 0);
    if (code != 0) {
        snprintf(run->last_error, sizeof(run->last_error), "node status: %s", eddy_strerror(code));
        cli_leader_again(run, CLI_LEADER_POLL_MS);
        return;
    }
    run->has_answered = true;
    const Eddy__NodeStatusResp *ns = resp->node_status_resp;
    run->node = ns->node;
    switch (run->mode) {
    case LEADER_DRAIN:
        cli_leader_wait_step(run, ns);
        return;
    case LEADER_DRAIN_LEGACY:
        cli_leader_legacy_step(run, ns);
        return;
    case LEADER_UNDRAIN:
        printf("node %" PRIu32 " no longer drains: it may lead again\n", run->node);
        cli_leader_finish(run, 0);
        return;
    }
}

static void cli_leader_look(struct leader_run *run)
{
    eddy__node_status_req__init(&run->status_req);
    eddy__frame__init(&run->frame);
    run->frame.body_case = EDDY__FRAME__BODY_NODE_STATUS;
    run->frame.node_status = &run->status_req;
    rpc_client_call(run->client, &run->frame, CLI_CALL_TIMEOUT_MS, cli_leader_on_status, run);
}

static void cli_leader_on_drain(void *arg, int status, const Eddy__Frame *resp)
{
    struct leader_run *run = arg;
    if (cli_leader_never_answered(run, status)) {
        return;
    }
    int code = cli_leader_code(status, resp);
    if (code == -EDDY_EMALFORMED && status == 0) {
        run->has_answered = true;
        if (run->mode == LEADER_UNDRAIN) {
            /* Nothing to undo: an eddyd without DrainReq never drains. */
            printf("%s does not know draining (an older eddyd): nothing to undo\n", run->address);
            cli_leader_finish(run, 0);
            return;
        }
        fprintf(stderr,
                "eddy: %s does not know draining (an older eddyd): moving its leaderships "
                "one at a time; the balancer may give some back before it stops\n",
                run->address);
        run->mode = LEADER_DRAIN_LEGACY;
        cli_leader_look(run);
        return;
    }
    if (code != 0) {
        /* Refused (the node is shutting down) or lost: ask again. */
        snprintf(run->last_error, sizeof(run->last_error), "%s: %s",
                 run->mode == LEADER_UNDRAIN ? "undrain" : "drain", eddy_strerror(code));
        run->is_drain_due = true;
        cli_leader_again(run, CLI_LEADER_POLL_MS);
        return;
    }
    run->has_answered = true;
    run->is_drain_due = false;
    cli_leader_look(run);
}

static void cli_leader_send_drain(struct leader_run *run, bool draining)
{
    eddy__drain_req__init(&run->drain_req);
    run->drain_req.draining = draining;
    eddy__frame__init(&run->frame);
    run->frame.body_case = EDDY__FRAME__BODY_DRAIN;
    run->frame.drain = &run->drain_req;
    rpc_client_call(run->client, &run->frame, CLI_CALL_TIMEOUT_MS, cli_leader_on_drain, run);
}

static int cli_leader_usage(void)
{
    fputs("usage: eddy leader drain [--rpc HOST:PORT] [--timeout S]\n"
          "       eddy leader undrain [--rpc HOST:PORT] [--timeout S]\n"
          "  drain: the node at --rpc (default " CLI_RPC_DEFAULT ") hands every Raft\n"
          "  leadership (shard groups and the coordinator) to other nodes and takes none\n"
          "  until it restarts or is undrained; waits until it leads no group, e.g.\n"
          "  before stopping it\n"
          "  undrain: the node may lead again (the balancer gives it its share)\n"
          "  --timeout S   give up after S seconds (default 60)\n"
          "exit status: 0 done (drain: the node leads no group that another voter could\n"
          "take), 1 unreachable or timed out, 2 usage\n",
          stderr);
    return 2;
}

int cli_leader_main(int argc, char **argv)
{
    enum leader_mode mode;
    if (argc >= 1 && strcmp(argv[0], "drain") == 0) {
        mode = LEADER_DRAIN;
    } else if (argc >= 1 && strcmp(argv[0], "undrain") == 0) {
        mode = LEADER_UNDRAIN;
    } else {
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
    run.mode = mode;
    if (rpc_client_init(&run.client, &loop, address) != 0) {
        fprintf(stderr, "eddy: bad --rpc address: %s\n", address);
        uv_loop_close(&loop);
        return 2;
    }
    if (mode == LEADER_DRAIN && cli_coord_init(&run.coord, &loop, address) != 0) {
        fprintf(stderr, "eddy: bad --rpc address: %s\n", address);
        rpc_client_close(run.client, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 2;
    }
    run.started_ms = uv_now(&loop);
    run.deadline_ms = run.started_ms + (uint64_t)(timeout_s * 1000.0);
    run.exit_code = 1;
    uv_timer_init(&loop, &run.timer);
    run.timer.data = &run;
    cli_leader_send_drain(&run, mode != LEADER_UNDRAIN);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return run.exit_code;
}
