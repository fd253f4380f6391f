/*
 * `eddy cluster status`: asks the coordinator leader for ClusterStatus
 * (cli_coord.h finds it), prints the nodes and every group, and exits 0
 * only when the cluster is healthy (cluster_health.h). With --wait-healthy
 * it asks again every CLI_POLL_MS until the cluster is healthy or the
 * timeout passes (the last time at the timeout), printing on stderr what it still waits for
 * whenever that changes, and the full status once at the end.
 */
#include "cli.h"
#include "cli_coord.h"
#include "cluster_health.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --wait-healthy asks this often: a rolling restart waits on it after each
 * restart, and one small RPC four times a second costs the leader nothing. */
#define CLI_POLL_MS 250
/* After no coordinator leader answered: how soon to ask again, and how long
 * a single `eddy cluster status` keeps asking (an election takes well under
 * a second; a dead listed node refuses at once). */
#define CLI_RETRY_MS 250
#define CLI_LEADER_GRACE_MS 3000
#define CLI_WAIT_TIMEOUT_S_DEFAULT 60
#define CLI_WAIT_TIMEOUT_S_MAX 86400
/* Group ids listed in a node's LEADS column before "+N". */
#define CLI_LEADS_SHOWN_MAX 8

struct cluster_run {
    uv_loop_t *loop;
    struct cli_coord *coord;
    uv_timer_t timer;  /* next poll, then the close */
    const char *addrs; /* as given to --rpc */
    bool wait_healthy;
    uint64_t started_ms;
    uint64_t deadline_ms;
    int exit_code;
    char progress[HEALTH_PROBLEM_LEN_MAX + 64]; /* last line printed while waiting */
    Eddy__ClusterStatusReq req;
    Eddy__Frame frame;
};

/* ---- printing ---- */

static void cli_format_ago(uint64_t ms, char *out, size_t len)
{
    uint64_t s = ms / 1000;
    if (ms < 10000) {
        snprintf(out, len, "%.1fs ago", (double)ms / 1000.0);
    } else if (s < 120) {
        snprintf(out, len, "%" PRIu64 "s ago", s);
    } else if (s < 7200) {
        snprintf(out, len, "%" PRIu64 "m%02" PRIu64 "s ago", s / 60, s % 60);
    } else {
        snprintf(out, len, "%" PRIu64 "h%02" PRIu64 "m ago", s / 3600, s / 60 % 60);
    }
}

static void cli_group_name(uint32_t id, char *out, size_t len)
{
    if (id == 0) {
        snprintf(out, len, "coord");
    } else {
        snprintf(out, len, "%" PRIu32, id);
    }
}

/* "coord 2 5" (the groups node leads), cut short past CLI_LEADS_SHOWN_MAX. */
static void cli_format_leads(const struct health *h, uint32_t node, char *out, size_t len)
{
    size_t used = 0;
    unsigned shown = 0;
    unsigned more = 0;
    out[0] = '\0';
    for (size_t i = 0; i < h->group_count; i++) {
        if (h->groups[i].leader != node) {
            continue;
        }
        if (shown == CLI_LEADS_SHOWN_MAX) {
            more++;
            continue;
        }
        char name[16];
        cli_group_name(h->groups[i].id, name, sizeof(name));
        int w = snprintf(out + used, len - used, "%s%s", shown ? " " : "", name);
        used += w > 0 && (size_t)w < len - used ? (size_t)w : 0;
        shown++;
    }
    if (more > 0) {
        snprintf(out + used, len - used, " +%u", more);
    } else if (shown == 0) {
        snprintf(out, len, "-");
    }
}

static const char *cli_node_state(const Eddy__NodeLiveness *n)
{
    if (n == NULL || n->state == EDDY__NODE_STATE__NODE_UNKNOWN) {
        return "unknown";
    }
    if (!n->alive) {
        return "DEAD";
    }
    return n->draining ? "draining" : "alive"; /* `eddy leader drain`: it gets no leadership */
}

static void cli_print_nodes(const Eddy__ClusterStatusResp *resp, const struct health *h)
{
    const Eddy__Catalog *cat = resp->catalog;
    printf("%-5s %-8s %-12s %-22s %-22s %s\n", "NODE", "STATE", "LAST SEEN", "RPC", "GATEWAY",
           "LEADS");
    for (size_t i = 0; i < cat->n_nodes; i++) {
        const Eddy__NodeInfo *ni = cat->nodes[i];
        const Eddy__NodeLiveness *n = health_node(resp, ni->id);
        char ago[32] = "never";
        if (n != NULL && n->seen) {
            cli_format_ago(n->last_seen_ms_ago, ago, sizeof(ago));
        }
        const char *gw = n != NULL && n->gateway_address != NULL && n->gateway_address[0] != '\0'
                             ? n->gateway_address
                             : (ni->gateway_address != NULL && ni->gateway_address[0] != '\0'
                                    ? ni->gateway_address
                                    : "-");
        char leads[128];
        cli_format_leads(h, ni->id, leads, sizeof(leads));
        printf("%-5" PRIu32 " %-8s %-12s %-22s %-22s %s\n", ni->id, cli_node_state(n), ago,
               ni->rpc_address, gw, leads);
    }
}

static void cli_format_replica(const struct health_group *g,
                               const struct health_replica *r,
                               char *out,
                               size_t len)
{
    const char *mark = r->node == g->leader ? "*" : "";
    switch (r->state) {
    case HEALTH_REPLICA_OK:
        snprintf(out, len, "%" PRIu32 "%s:%" PRIu64, r->node, mark, r->applied_index);
        break;
    case HEALTH_REPLICA_NODE_DEAD:
        snprintf(out, len, "%" PRIu32 ":down", r->node);
        break;
    case HEALTH_REPLICA_NODE_UNKNOWN:
        snprintf(out, len, "%" PRIu32 ":?", r->node);
        break;
    case HEALTH_REPLICA_MISSING:
        snprintf(out, len, "%" PRIu32 ":missing", r->node);
        break;
    case HEALTH_REPLICA_HYDRATING:
        snprintf(out, len, "%" PRIu32 "%s:%" PRIu64 "(hydrating)", r->node, mark, r->applied_index);
        break;
    case HEALTH_REPLICA_LAGGING:
        snprintf(out, len, "%" PRIu32 "%s:%" PRIu64 "(lagging)", r->node, mark, r->applied_index);
        break;
    }
}

static void cli_print_groups(const struct health *h)
{
    printf("%-6s %-7s %-10s %-10s %s\n", "GROUP", "LEADER", "APPLIED", "STATE",
           "REPLICAS (node:applied, * leader)");
    for (size_t i = 0; i < h->group_count; i++) {
        const struct health_group *g = &h->groups[i];
        char name[16];
        char leader[16] = "-";
        char applied[24] = "-";
        cli_group_name(g->id, name, sizeof(name));
        if (g->leader != 0) {
            snprintf(leader, sizeof(leader), "%" PRIu32, g->leader);
            snprintf(applied, sizeof(applied), "%" PRIu64, g->leader_applied_index);
        }
        const char *state = g->is_healthy ? "ok" : g->leader == 0 ? "NO LEADER" : "degraded";
        printf("%-6s %-7s %-10s %-10s ", name, leader, applied, state);
        for (unsigned r = 0; r < g->replica_count; r++) {
            char cell[64];
            cli_format_replica(g, &g->replicas[r], cell, sizeof(cell));
            printf("%s%s", r ? "  " : "", cell);
        }
        printf("\n");
    }
}

static void cli_print_status(const struct cluster_run *run,
                             const Eddy__ClusterStatusResp *resp,
                             const struct health *h)
{
    const Eddy__Catalog *cat = resp->catalog;
    printf("cluster: %u/%zu nodes alive, %u/%zu groups healthy, %zu streams, catalogue v%" PRIu64
           "\n",
           h->nodes_alive, cat->n_nodes, h->groups_healthy, h->group_count, cat->n_streams,
           cat->version);
    printf("coordinator leader: ");
    if (h->group_count > 0 && h->groups[0].leader != 0) {
        printf("node %" PRIu32 " (answered at %s)\n", h->groups[0].leader,
               cli_coord_address(run->coord));
    } else {
        printf("answered at %s\n", cli_coord_address(run->coord));
    }
    printf("\n");
    cli_print_nodes(resp, h);
    printf("\n");
    cli_print_groups(h);
    printf("\n");
    if (h->is_healthy) {
        printf("healthy\n");
        return;
    }
    printf("UNHEALTHY (%u problem%s):\n", h->problem_count, h->problem_count == 1 ? "" : "s");
    for (unsigned i = 0; i < h->problem_count && i < HEALTH_PROBLEMS_MAX; i++) {
        printf("  - %s\n", h->problems[i]);
    }
    if (h->problem_count > HEALTH_PROBLEMS_MAX) {
        printf("  - ... and %u more\n", h->problem_count - HEALTH_PROBLEMS_MAX);
    }
}

/* ---- the run ---- */

static void cli_cluster_on_closed_timer(uv_handle_t *h)
{
    (void)h;
}

static void cli_cluster_on_finish(uv_timer_t *t)
{
    struct cluster_run *run = t->data;
    cli_coord_close(run->coord, NULL, NULL);
    uv_close((uv_handle_t *)t, cli_cluster_on_closed_timer);
}

/* Ends the run with exit code; closing happens on the next loop turn, out
 * of the RPC callback. */
static void cli_cluster_finish(struct cluster_run *run, int exit_code)
{
    run->exit_code = exit_code;
    uv_timer_start(&run->timer, cli_cluster_on_finish, 0, 0);
}

static void cli_cluster_ask(struct cluster_run *run);

static void cli_cluster_on_poll(uv_timer_t *t)
{
    cli_cluster_ask(t->data);
}

/* Says on stderr what the wait is for, when that changed. */
static void cli_cluster_progress(struct cluster_run *run, const char *what, unsigned more)
{
    char line[sizeof(run->progress)];
    if (more > 0) {
        snprintf(line, sizeof(line), "%s (+%u more)", what, more);
    } else {
        snprintf(line, sizeof(line), "%s", what);
    }
    if (strcmp(line, run->progress) != 0) {
        double t = (double)(uv_now(run->loop) - run->started_ms) / 1000.0;
        fprintf(stderr, "eddy: [%5.1fs] waiting: %s\n", t, line);
        snprintf(run->progress, sizeof(run->progress), "%s", line);
    }
}

/* Delay before asking again, at most want_ms and not past deadline_ms; 0
 * when the deadline has come. */
static uint64_t
cli_cluster_next_ms(const struct cluster_run *run, uint64_t want_ms, uint64_t deadline_ms)
{
    uint64_t now = uv_now(run->loop);
    if (now >= deadline_ms) {
        return 0;
    }
    return deadline_ms - now < want_ms ? deadline_ms - now : want_ms;
}

static void cli_cluster_on_answer(void *arg, int status, const Eddy__Frame *resp)
{
    struct cluster_run *run = arg;
    bool is_status = status == 0 && resp->body_case == EDDY__FRAME__BODY_CLUSTER_STATUS_RESP &&
                     resp->cluster_status_resp->catalog != NULL;
    if (!is_status) {
        int code = status != 0 ? status : -EDDY_EMALFORMED;
        char what[HEALTH_PROBLEM_LEN_MAX];
        if (code == -EDDY_ENOTLEADER) {
            snprintf(what, sizeof(what), "the coordinator has no leader yet");
        } else {
            snprintf(what, sizeof(what), "no coordinator answers at %s (%s)", run->addrs,
                     eddy_strerror(code));
        }
        /* Without --wait-healthy, an election in progress is still waited
         * out for CLI_LEADER_GRACE_MS. */
        uint64_t deadline_ms =
            run->wait_healthy ? run->deadline_ms : run->started_ms + CLI_LEADER_GRACE_MS;
        uint64_t next_ms = cli_cluster_next_ms(run, CLI_RETRY_MS, deadline_ms);
        if (next_ms > 0) {
            if (run->wait_healthy) {
                cli_cluster_progress(run, what, 0);
            }
            uv_timer_start(&run->timer, cli_cluster_on_poll, next_ms, 0);
            return;
        }
        fprintf(stderr, "eddy: cluster status failed: %s\n", what);
        cli_cluster_finish(run, 1);
        return;
    }
    struct health h;
    health_evaluate(resp->cluster_status_resp, &h);
    uint64_t next_ms =
        run->wait_healthy ? cli_cluster_next_ms(run, CLI_POLL_MS, run->deadline_ms) : 0;
    if (!h.is_healthy && next_ms > 0) {
        cli_cluster_progress(run, h.problems[0], h.problem_count - 1);
        health_free(&h);
        uv_timer_start(&run->timer, cli_cluster_on_poll, next_ms, 0);
        return;
    }
    cli_print_status(run, resp->cluster_status_resp, &h);
    double t = (double)(uv_now(run->loop) - run->started_ms) / 1000.0;
    if (run->wait_healthy && h.is_healthy) {
        fprintf(stderr, "eddy: healthy after %.1fs\n", t);
    } else if (run->wait_healthy) {
        fprintf(stderr, "eddy: timed out after %.1fs waiting for a healthy cluster\n", t);
    }
    cli_cluster_finish(run, h.is_healthy ? 0 : 1);
    health_free(&h);
}

static void cli_cluster_ask(struct cluster_run *run)
{
    cli_coord_call(run->coord, &run->frame, CLI_CALL_TIMEOUT_MS, cli_cluster_on_answer, run);
}

static int cli_cluster_usage(void)
{
    fputs("usage: eddy cluster status [--rpc HOST:PORT[,HOST:PORT...]] [--wait-healthy "
          "[--timeout S]]\n"
          "  --rpc LIST       nodes to ask first (default " CLI_CLUSTER_RPC_DEFAULT
          "); the coordinator\n"
          "                   leader is found from any of them\n"
          "  --wait-healthy   ask every second until the cluster is healthy\n"
          "  --timeout S      give up waiting after S seconds (default 60)\n"
          "exit status: 0 healthy, 1 unhealthy, timed out or unreachable, 2 usage\n",
          stderr);
    return 2;
}

int cli_cluster_main(int argc, char **argv)
{
    const char *addrs = CLI_CLUSTER_RPC_DEFAULT;
    bool wait_healthy = false;
    double timeout_s = CLI_WAIT_TIMEOUT_S_DEFAULT;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--rpc") == 0 && i + 1 < argc) {
            addrs = argv[++i];
        } else if (strcmp(argv[i], "--wait-healthy") == 0) {
            wait_healthy = true;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout_s = strtod(argv[++i], &end);
            if (*end != '\0' || !(timeout_s >= 0) || timeout_s > CLI_WAIT_TIMEOUT_S_MAX) {
                return cli_cluster_usage();
            }
        } else {
            return cli_cluster_usage();
        }
    }
    static struct cluster_run run; /* outlives every callback of the loop */
    uv_loop_t loop;
    uv_loop_init(&loop);
    run.loop = &loop;
    if (cli_coord_init(&run.coord, &loop, addrs) != 0) {
        fprintf(stderr, "eddy: bad --rpc list: %s\n", addrs);
        return 2;
    }
    run.addrs = addrs;
    run.wait_healthy = wait_healthy;
    run.started_ms = uv_now(&loop);
    run.deadline_ms = run.started_ms + (uint64_t)(timeout_s * 1000.0);
    run.exit_code = 1;
    uv_timer_init(&loop, &run.timer);
    run.timer.data = &run;
    eddy__cluster_status_req__init(&run.req);
    eddy__frame__init(&run.frame);
    run.frame.body_case = EDDY__FRAME__BODY_CLUSTER_STATUS;
    run.frame.cluster_status = &run.req;
    cli_cluster_ask(&run);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return run.exit_code;
}
