/*
 * `eddy status`: asks one node for the state of the groups it hosts
 * (coordinator group 0 and its shard groups) and exits non-zero when one of
 * them has no leader.
 */
#include "cli.h"

#include "eddy/errors.h"
#include "eddy/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node_status_run {
    int exit_code;
    struct rpc_client *client;
    uv_timer_t done;
};

/* Closing the client from inside its own callback is not allowed; a timer
 * closes it on the next loop turn. */
static void cli_node_status_on_done(uv_timer_t *t)
{
    struct node_status_run *run = t->data;
    rpc_client_close(run->client, NULL, NULL);
    uv_close((uv_handle_t *)t, NULL);
}

static void cli_node_status_print(struct node_status_run *run, int status, const Eddy__Frame *resp)
{
    if (status != 0 || resp->body_case != EDDY__FRAME__BODY_NODE_STATUS_RESP) {
        fprintf(stderr, "eddy: status failed: %s\n",
                eddy_strerror(status ? status : -EDDY_EMALFORMED));
        run->exit_code = 1;
        return;
    }
    const Eddy__NodeStatusResp *ns = resp->node_status_resp;
    printf("node %u%s\n", ns->node, ns->draining ? " draining" : "");
    printf("%-8s %-8s %-6s %-14s %-14s\n", "group", "leader", "ready", "applied", "last");
    run->exit_code = 0;
    for (size_t i = 0; i < ns->n_groups; i++) {
        const Eddy__GroupStatus *g = ns->groups[i];
        char name[16];
        if (g->group == 0) {
            snprintf(name, sizeof(name), "coord");
        } else {
            snprintf(name, sizeof(name), "%u", g->group);
        }
        printf("%-8s %-8u %-6s %-14llu %-14llu%s\n", name, g->leader_node, g->ready ? "yes" : "no",
               (unsigned long long)g->applied_index, (unsigned long long)g->last_index,
               g->hydrating ? " hydrating" : "");
        if (g->leader_node == 0) {
            run->exit_code = 1;
        }
    }
}

static void cli_node_status_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct node_status_run *run = arg;
    cli_node_status_print(run, status, resp);
    uv_timer_start(&run->done, cli_node_status_on_done, 0, 0);
}

int cli_node_status_main(int argc, char **argv)
{
    const char *addr = CLI_RPC_DEFAULT;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--rpc") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else {
            fputs("usage: eddy status [--rpc HOST:PORT]   (default " CLI_RPC_DEFAULT ")\n", stderr);
            return 2;
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rpc_client *c;
    if (rpc_client_init(&c, &loop, addr) != 0) {
        fprintf(stderr, "eddy: bad address %s\n", addr);
        return 2;
    }
    struct node_status_run run = {.exit_code = 1, .client = c};
    uv_timer_init(&loop, &run.done);
    run.done.data = &run;
    Eddy__NodeStatusReq req = EDDY__NODE_STATUS_REQ__INIT;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_NODE_STATUS;
    f.node_status = &req;
    rpc_client_call(c, &f, CLI_CALL_TIMEOUT_MS, cli_node_status_on_reply, &run);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return run.exit_code;
}
