/*
 * Asking the coordinator leader from the CLI: the caller lists one or more
 * node RPC addresses; a request goes to the first, and on
 * -EDDY_ENOTLEADER to the leader the reply names (its address learned from
 * the catalogue a follower sends along), else to the next address in turn,
 * up to 2 * addresses + 2 attempts.
 *
 * Lifecycle: cli_coord_init -> (cli_coord_call)* -> cli_coord_close(cb).
 * One call at a time. Not to be closed from inside a call's callback (the
 * RPC clients it owns forbid it).
 */
#ifndef EDDY_CLI_COORD_H
#define EDDY_CLI_COORD_H

#include "rpc.pb-c.h"

#include <stdint.h>
#include <uv.h>

/* Addresses listed plus those learned from catalogues. */
#define CLI_COORD_ADDRS_MAX 80
#define CLI_COORD_ADDR_LEN_MAX 256

struct cli_coord;

/* status 0: resp is the leader's answer with status code 0 (freed after
 * the callback). Otherwise the last failure: a negative code, resp NULL. */
typedef void (*cli_coord_cb)(void *arg, int status, const Eddy__Frame *resp);

/* list: "HOST:PORT[,HOST:PORT...]". -EDDY_EINVAL for an empty or bad list. */
int cli_coord_init(struct cli_coord **out, uv_loop_t *loop, const char *list);
/* req is borrowed until cb, which runs exactly once, never synchronously. */
void cli_coord_call(
    struct cli_coord *cc, Eddy__Frame *req, uint32_t timeout_ms, cli_coord_cb cb, void *arg);
/* The address that gave the last answer, "" if none. */
const char *cli_coord_address(const struct cli_coord *cc);
void cli_coord_close(struct cli_coord *cc, void (*cb)(void *arg), void *arg);

#endif
