/*
 * Error replies and status helpers shared by every RPC service: the
 * response type of an error follows the request type, so no service writes
 * its own table.
 */
#ifndef EDDY_RPC_STATUS_H
#define EDDY_RPC_STATUS_H

#include "eddy/rpc.h"

#include <stdint.h>

/* Answers call with status code (negative) and, for -EDDY_ENOTLEADER, the
 * leader hint (0 if unknown) in the response type matching the request.
 * Frees the call. message may be NULL. */
void rpc_reply_error(struct rpc_call *call, int code, uint64_t leader_node, const char *message);
/* Answers an Ack-type request with status 0. Frees the call. */
void rpc_reply_ok(struct rpc_call *call);
/* The Status of a response frame, NULL for a frame without one. */
const Eddy__Status *rpc_frame_status(const Eddy__Frame *f);

#endif
