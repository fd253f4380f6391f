/*
 * The eddy command line: one entry point per command. Each takes the
 * arguments after its command words, prints to stdout (errors to stderr)
 * and returns the process exit code: 0 success (or healthy), 1 failure (or
 * unhealthy), 2 usage error.
 */
#ifndef EDDY_CLI_H
#define EDDY_CLI_H

/* Default internal RPC address of a node started by tools/up. */
/* eddyd's default RPC address, which is node 1's in the tools/up layout. */
#define CLI_RPC_DEFAULT "127.0.0.1:5567"
/* Every node of a tools/up cluster of three: any of them finds the leader. */
#define CLI_CLUSTER_RPC_DEFAULT "127.0.0.1:5567,127.0.0.1:5568,127.0.0.1:5569"
/* Deadline of one RPC call from the CLI. */
#define CLI_CALL_TIMEOUT_MS 5000

/* eddy status [--rpc HOST:PORT] */
int cli_node_status_main(int argc, char **argv);
/* eddy cluster status [--rpc LIST] [--wait-healthy [--timeout S]] */
int cli_cluster_main(int argc, char **argv);
/* eddy leader drain|undrain [--rpc HOST:PORT] [--timeout S] (cli_leader.c) */
int cli_leader_main(int argc, char **argv);

#endif
