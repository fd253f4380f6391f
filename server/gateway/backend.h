/*
 * The gateway's view of the cluster: everything the API handlers need,
 * turned into internal RPCs (metadata to the coordinator leader, data to
 * shard group leaders), with leader redirects and retries inside. The API
 * handlers never see RPC or Raft.
 *
 * All callbacks run on the loop thread exactly once, never before the call
 * returns. Pointers handed to callbacks are valid only during the callback.
 * Errors are negative Eddy codes: -EDDY_ENOTFOUND (stream gone),
 * -EDDY_EEXISTS, -EDDY_EINUSE (wrong stream state, message explains),
 * -EDDY_EUNAVAILABLE (no leader reachable in time), others.
 */
#ifndef EDDY_GW_BACKEND_H
#define EDDY_GW_BACKEND_H

#include "catalog.pb-c.h"
#include "rpc.pb-c.h"
#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct backend;

struct backend_config {
    const char *const *coordinator_rpc_addrs; /* RPC addresses of coordinator nodes */
    unsigned coordinator_count;
};

int backend_init(struct backend **out, uv_loop_t *loop, const struct backend_config *cfg);
void backend_close(struct backend *b, void (*cb)(void *arg), void *arg);

/* The catalogue. fresh=true asks the coordinator leader for the newest
 * version (control-plane reads); fresh=false may answer from the local copy
 * when one exists (data-plane routing). */
typedef void (*backend_catalog_cb)(void *arg, int status, const Eddy__Catalog *cat);
void backend_catalog(struct backend *b, bool fresh, backend_catalog_cb cb, void *arg);

/* message: AWS-ready text for -EDDY_EINUSE and similar, else NULL. */
typedef void (*backend_status_cb)(void *arg, int status, const char *message);
void backend_create_stream(struct backend *b,
                           const char *name,
                           uint32_t shard_count,
                           Eddy__StreamMode mode,
                           backend_status_cb cb,
                           void *arg);
void backend_delete_stream(struct backend *b, const char *name, backend_status_cb cb, void *arg);

/* One record of a put, routed to a shard by the caller. Inputs borrowed
 * until the callback; code and seq are outputs. */
struct backend_put {
    uint32_t shard;
    const char *partition_key;
    size_t partition_key_len;
    const uint8_t *data;
    size_t data_len;
    int code; /* out: 0 or a negative error for this record */
    u128 seq; /* out */
};
/* status is the whole call's; per-record outcomes are in recs[i].code.
 * arrival_ms: the arrival timestamp stamped on the records. */
typedef void (*backend_put_cb)(void *arg, int status, struct backend_put *recs, size_t n);
/* Splits by group, sends in parallel, reassembles in order. stream is
 * borrowed during the call only. */
void backend_put(struct backend *b,
                 const Eddy__StreamInfo *stream,
                 struct backend_put *recs,
                 size_t n,
                 backend_put_cb cb,
                 void *arg);

struct backend_read {
    uint32_t shard;
    Eddy__Position position;
    u128 seq;
    uint64_t timestamp_ms;
    uint32_t limit; /* 0 resolves the position only */
    uint64_t bytes_max;
};
typedef void (*backend_read_cb)(void *arg, int status, const Eddy__ReadResp *resp);
void backend_read(struct backend *b,
                  const Eddy__StreamInfo *stream,
                  const struct backend_read *req,
                  backend_read_cb cb,
                  void *arg);

#endif
