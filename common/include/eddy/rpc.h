/*
 * Internal RPC: protobuf-c Eddy__Frame messages in length-prefixed frames
 * (4-byte big-endian length, at most RPC_FRAME_BYTES_MAX) over libuv TCP.
 * Requests carry an id; responses echo it and may come in any order.
 *
 * Server: rpc_server_init listens; each decoded request reaches the handler
 * as a struct rpc_call, answered exactly once with rpc_call_reply (also after
 * the connection closed: then the reply is dropped and the call freed).
 * Client: one struct rpc_client per remote address; connects lazily,
 * reconnects after RPC_CONNECT_RETRY_MS, fails calls on disconnect or timeout
 * (-EDDY_EUNAVAILABLE: never sent, safe to send elsewhere; -EDDY_EUNKNOWN or
 * -EDDY_ETIMEDOUT: sent, may have been executed). A peer that does not take
 * the connection within RPC_CONNECT_TIMEOUT_MS, or stays silent through a
 * liveness probe while calls wait (RPC_PROBE_IDLE_MS + RPC_PROBE_TIMEOUT_MS),
 * is dropped as a lost connection and left alone for RPC_PEER_DEAD_RETRY_MS
 * (the callback runs exactly once, with status 0 and a response, or a
 * negative code and NULL). In-flight calls and queued bytes are bounded
 * (RPC_INFLIGHT_MAX, RPC_WRITE_QUEUE_BYTES_MAX): past them calls fail at once
 * with -EDDY_EFULL.
 */
#ifndef EDDY_RPC_H
#define EDDY_RPC_H

#include "rpc.pb-c.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- framing (pure, fuzzed) ---- */

/* Packs a frame: 4-byte length + message. *out is eddy_malloc'd. */
int rpc_frame_encode(const Eddy__Frame *f, uint8_t **out, size_t *out_len);
/* Decodes one frame from the start of buf. Returns 0 and *consumed=0 when
 * more bytes are needed; 0 and *frame (free with rpc_frame_free) when one
 * is whole; -EDDY_EMALFORMED or -EDDY_ETOOBIG on bad input. */
int rpc_frame_decode(const uint8_t *buf, size_t len, size_t *consumed, Eddy__Frame **frame);
/* Frees a frame rpc_frame_decode returned, its whole tree at once (one
 * arena, eddy/pbarena.h): never protobuf-c's free_unpacked, and no part of
 * the tree outlives it. NULL is fine. */
void rpc_frame_free(Eddy__Frame *f);

/* ---- server ---- */
struct rpc_server;
struct rpc_call;

/* Takes ownership of call. */
typedef void (*rpc_handler_cb)(void *data, struct rpc_call *call);

/* Binds host:port and listens. *out is freed in rpc_server_close's callback. */
int rpc_server_init(struct rpc_server **out,
                    uv_loop_t *loop,
                    const char *host,
                    int port,
                    rpc_handler_cb handler,
                    void *data);
void rpc_server_close(struct rpc_server *s, void (*cb)(void *arg), void *arg);

/* The decoded request; owned by the call. */
const Eddy__Frame *rpc_call_request(const struct rpc_call *call);
/* Sends resp (borrowed; its id is set from the request) and frees the call. */
void rpc_call_reply(struct rpc_call *call, Eddy__Frame *resp);

/* ---- client ---- */
struct rpc_client;

/* resp is freed after the callback returns. */
typedef void (*rpc_response_cb)(void *arg, int status, const Eddy__Frame *resp);

/* address "host:port". *out is freed in rpc_client_close's callback. */
int rpc_client_init(struct rpc_client **out, uv_loop_t *loop, const char *address);
/* req is borrowed (encoded before return). Calls cb exactly once, never
 * before rpc_client_call returns. */
void rpc_client_call(
    struct rpc_client *c, Eddy__Frame *req, uint32_t timeout_ms, rpc_response_cb cb, void *arg);
/* Fails pending calls with -EDDY_ESHUTDOWN, then frees. */
void rpc_client_close(struct rpc_client *c, void (*cb)(void *arg), void *arg);
const char *rpc_client_address(const struct rpc_client *c);

#endif
