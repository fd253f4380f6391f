/*
 * eddy: the command-line client. Dispatches to one module per command
 * (cli.h):
 *
 *   eddy status           one node's groups (cli_node_status.c)
 *   eddy cluster status   the whole cluster from the coordinator leader
 *                         (cli_cluster.c)
 *   eddy leader drain     moves leaderships away from a node, which takes
 *                         none until it restarts (cli_leader.c)
 *   eddy leader undrain   lets a drained node lead again (cli_leader.c)
 */
#include "cli.h"

#include "eddy/log.h"

#include <stdio.h>
#include <string.h>

static int eddy_usage(void)
{
    fputs("usage: eddy status [--rpc HOST:PORT]\n"
          "       eddy cluster status [--rpc HOST:PORT[,HOST:PORT...]] [--wait-healthy "
          "[--timeout S]]\n"
          "       eddy leader drain [--rpc HOST:PORT] [--timeout S]\n"
          "       eddy leader undrain [--rpc HOST:PORT] [--timeout S]\n"
          "  --rpc defaults to " CLI_RPC_DEFAULT "\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    /* The RPC layer's connection warnings are not for a CLI's user: the
     * commands say what failed. EDDY_LOG_LEVEL still turns them on. */
    log_set_level(LOG_LEVEL_ERROR);
    log_init_from_env();
    if (argc >= 2 && strcmp(argv[1], "status") == 0) {
        return cli_node_status_main(argc - 2, argv + 2);
    }
    if (argc >= 3 && strcmp(argv[1], "cluster") == 0 && strcmp(argv[2], "status") == 0) {
        return cli_cluster_main(argc - 3, argv + 3);
    }
    if (argc >= 2 && strcmp(argv[1], "leader") == 0) {
        return cli_leader_main(argc - 2, argv + 2);
    }
    return eddy_usage();
}
