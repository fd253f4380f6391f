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
/* From now on a failed attempt is not retried and the operations waiting
 * to retry finish at once (-EDDY_ESHUTDOWN); attempts in flight still end
 * normally. For a gateway that stops: its calls drain without waiting out
 * a retry deadline (up to BACKEND_DEADLINE_MS) on a dead node. */
void backend_stop_retrying(struct backend *b);

/* The catalogue. fresh=true asks the coordinator leader for the newest
 * version (control-plane reads); fresh=false may answer from the local copy
 * when one exists (data-plane routing). */
typedef void (*backend_catalog_cb)(void *arg, int status, const Eddy__Catalog *cat);
void backend_catalog(struct backend *b, bool fresh, backend_catalog_cb cb, void *arg);

/* message: AWS-ready text for -EDDY_EINUSE and similar, else NULL. */
typedef void (*backend_status_cb)(void *arg, int status, const char *message);
/* req is borrowed during the call only (the backend sends a copy). */
void backend_create_stream(struct backend *b,
                           const Eddy__CreateStreamReq *req,
                           backend_status_cb cb,
                           void *arg);
/* enforce_consumer_deletion: DeleteStream's EnforceConsumerDeletion. Without
 * it a stream with consumers is not deleted: -EDDY_EEXISTS. */
void backend_delete_stream(struct backend *b,
                           const char *name,
                           bool enforce_consumer_deletion,
                           backend_status_cb cb,
                           void *arg);

/* One change of a stream's settings (tags, retention, mode, metrics,
 * encryption, policy, record size, warm throughput), applied by the
 * coordinator (coordinator/catalog_update.h). u is borrowed for the call
 * only. status is 0 or a negative Eddy code: -EDDY_ENOTFOUND, -EDDY_EINUSE
 * (the stream's status refuses it), -EDDY_EINVAL (an argument against the
 * stream), -EDDY_ELIMIT, -EDDY_EUNKNOWN (the outcome is unknown: not resent),
 * -EDDY_EUNAVAILABLE. message is AWS's text when the coordinator could word
 * it without the account (retention rules), else NULL. stream is valid only
 * during cb: the stream after the change on success, the stream as it is on
 * -EDDY_EINUSE/-EDDY_EINVAL/-EDDY_ELIMIT, else NULL. After a success the
 * next catalogue read fetches the changed catalogue. */
typedef void (*backend_update_cb)(void *arg,
                                  int status,
                                  const char *message,
                                  const Eddy__StreamInfo *stream);
void backend_update_stream(struct backend *b,
                           const Eddy__StreamUpdate *u,
                           backend_update_cb cb,
                           void *arg);
/* UpdateAccountSettings: s->commitment_enabled is the status asked for (s
 * borrowed for the call only). settings (valid only during cb) are the
 * account's after the change when status is 0. */
typedef void (*backend_account_cb)(void *arg,
                                   int status,
                                   const char *message,
                                   const Eddy__AccountSettings *settings);
void backend_update_account(struct backend *b,
                            const Eddy__AccountSettings *s,
                            backend_account_cb cb,
                            void *arg);
/* SplitShard, MergeShards, UpdateShardCount: answered once the reshard has
 * begun (the stream UPDATING). req is borrowed during the call only. */
void backend_reshard(struct backend *b,
                     const Eddy__ReshardReq *req,
                     backend_status_cb cb,
                     void *arg);
/* One change of an enhanced fan-out consumer (register, status, tags,
 * policy), applied by the coordinator (coordinator/coord_consumer.h, whose
 * codes it passes on). ch is borrowed for the call only. resp (valid only
 * during cb; NULL when no ConsumerResp came) holds the consumer after the
 * change, or as it is, and the stream's status when a register was refused
 * for it. message is Status.message (for -EDDY_ELIMIT: which limit), NULL
 * when empty. An unknown outcome is -EDDY_EUNKNOWN (not resent). */
typedef void (*backend_consumer_cb)(void *arg,
                                    int status,
                                    const char *message,
                                    const Eddy__ConsumerResp *resp);
void backend_consumer(struct backend *b,
                      const Eddy__ConsumerChange *ch,
                      backend_consumer_cb cb,
                      void *arg);

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
 * borrowed during the call only. The records are stored with the stream's
 * encryption type as stream shows it (backend_stream_is_encrypted). */
/* A record's encryption as stored and read (PutRecordsReq.encryption,
 * ReadRecord.encryption in rpc.proto; segment record byte 8). */
enum backend_record_encryption {
    BACKEND_RECORD_NONE = 0,
    BACKEND_RECORD_KMS = 1,
};
/* Whether stream's EncryptionType is KMS: records written now are so marked. */
bool backend_stream_is_encrypted(const Eddy__StreamInfo *stream);
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
    /* A push read (SubscribeToShard): with nothing after the position the
     * leader answers when records arrive or, empty, after wait_ms; the call
     * times out that much later. 0: answered at once. */
    uint32_t wait_ms;
    /* A subscription's lease (ReadReq.lease, docs/adr/0008): LEASE_NONE for
     * any other read. consumer is borrowed for the call only. A refused
     * lease fails the read: -EDDY_EINUSE (ACQUIRE), -EDDY_ESUPERSEDED (HOLD). */
    Eddy__Lease lease;
    const char *consumer;
    uint64_t consumer_created_ms;
    uint64_t subscription_id;
    uint64_t subscription_age_ms;
};
typedef void (*backend_read_cb)(void *arg, int status, const Eddy__ReadResp *resp);
void backend_read(struct backend *b,
                  const Eddy__StreamInfo *stream,
                  const struct backend_read *req,
                  backend_read_cb cb,
                  void *arg);

#endif
