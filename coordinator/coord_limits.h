/*
 * Bounds of the coordinator: the catalogue it replicates, the requests it
 * queues and the reconciler's fan-out. Each bound has its reason. The
 * catalogue must fit one RPC frame (GetCatalog answers it whole) and one
 * Raft entry/snapshot held in memory (notes/raft-0.15.md 5.2: InstallSnapshot
 * is one unchunked message), so the sizes below are checked against both.
 */
#ifndef EDDY_COORD_LIMITS_H
#define EDDY_COORD_LIMITS_H

#include "eddy/limits.h"
#include "eddy/seqnum.h"

#include <assert.h>

/* Streams in the catalogue, whatever their status. Kinesis has no stream
 * count quota of its own (the shard quota binds first); this keeps lookups
 * by linear scan cheap and the snapshot small. */
#define COORD_STREAMS_MAX 1024
/* Shards of one stream at creation: the Kinesis ShardCount bound. */
#define COORD_STREAM_SHARDS_MAX KIN_SHARD_COUNT_MAX
/* Shards in the whole catalogue, open and closed: bounds its encoded size. */
#define COORD_SHARDS_MAX 65536
/* RetentionPeriodHours: 24..8760 (IncreaseStreamRetentionPeriod, 365 days);
 * 0 in a create entry means KIN_RETENTION_HOURS_DEFAULT. */
#define COORD_RETENTION_HOURS_MIN 24
#define COORD_RETENTION_HOURS_MAX 8760
/* Nodes of a cluster; node ids are 1..COORD_NODE_ID_MAX (0 means none). */
#define COORD_NODES_MAX 64
#define COORD_NODE_ID_MAX 0xffffu
/* Shard groups (ids 1..COORD_GROUPS_MAX; 0 is the coordinator group). */
#define COORD_GROUPS_MAX 1024
/* Replicas of one group: 3 normally (DESIGN.md), 5 at most. */
#define COORD_GROUP_REPLICAS_MAX 5
#define COORD_GROUP_REPLICAS_DEFAULT 3
/* "host:port" of a node's RPC, Raft or gateway endpoint. */
#define COORD_ADDRESS_LEN_MAX 255
/* HMAC-SHA256 key of shard iterators: a full SHA-256 block of entropy. */
#define COORD_ITERATOR_KEY_BYTES 32
/* Upper bound on one encoded ShardInfo (5 small varints, 4 x 16-byte fields
 * with tags and lengths, the submessage header), used for the size checks. */
#define COORD_SHARD_INFO_BYTES_MAX 96
/* Upper bound on one encoded StreamInfo without its shards. */
#define COORD_STREAM_INFO_BYTES_MAX (KIN_STREAM_NAME_LEN_MAX + 64)
/* Upper bound on one encoded NodeInfo or GroupInfo. */
#define COORD_NODE_INFO_BYTES_MAX (3 * (COORD_ADDRESS_LEN_MAX + 3) + 16)
#define COORD_GROUP_INFO_BYTES_MAX (16 + 6 * COORD_GROUP_REPLICAS_MAX)
#define COORD_CATALOG_BYTES_MAX                                                                    \
    (64 + COORD_ITERATOR_KEY_BYTES + COORD_STREAMS_MAX * COORD_STREAM_INFO_BYTES_MAX +             \
     COORD_SHARDS_MAX * COORD_SHARD_INFO_BYTES_MAX + COORD_NODES_MAX * COORD_NODE_INFO_BYTES_MAX + \
     COORD_GROUPS_MAX * COORD_GROUP_INFO_BYTES_MAX)

/* --- the service --- */
/* Reconciler period: how soon CREATING becomes ACTIVE after the groups ack,
 * and the retry delay after a failed CreateShards/DropStream. */
#define COORD_RECONCILE_INTERVAL_MS 50
/* CreateShards/DropStream calls outstanding at once, all groups together. */
#define COORD_RECONCILE_INFLIGHT_MAX 64
/* Deadline of one CreateShards/DropStream call (the shard server may have to
 * bootstrap a Raft group, about 35 ms per group at start-up). */
#define COORD_SHARD_RPC_TIMEOUT_MS 5000
/* Client requests (CreateStream, DeleteStream) waiting on a proposal; more
 * are answered -EDDY_EFULL at once. */
#define COORD_PROPOSALS_INFLIGHT_MAX 256

/* --- liveness and leader balancing (liveness.h, balance.h, cluster.h) --- */
/* A node not heard from for this long is dead (coord_config.node_dead_ms,
 * eddyd --node-dead-ms). Six heartbeats: one lost packet or a GC-like stall
 * of a second does not kill a node, and a real death is noticed in 3 s,
 * well before an operator would look. */
#define COORD_NODE_DEAD_MS_DEFAULT 3000
/* The dead time must leave room for at least two heartbeats. */
#define COORD_NODE_DEAD_MS_MIN (2 * EDDY_HEARTBEAT_MS)
#define COORD_NODE_DEAD_MS_MAX 3600000
/* Groups a heartbeat may report: every shard group and the coordinator. */
#define COORD_REPORT_GROUPS_MAX (COORD_GROUPS_MAX + 1)
/* The balancer looks at the reports at most this often and moves at most
 * one group leadership per look: a move takes about one election round, and
 * the next look must see the reports that follow it (one heartbeat). */
#define COORD_BALANCE_INTERVAL_MS 1000
/* Deadline of one TransferLeader call; raft_transfer gives up after an
 * election timeout, so this bounds a lost reply. */
#define COORD_TRANSFER_RPC_TIMEOUT_MS 5000
/* After a failed move the balancer waits this long before its next look:
 * the group is likely in an election or its leader is not answering. */
#define COORD_BALANCE_RETRY_MS 5000
/* Failed moves in a row that are logged; later ones are not, until a move
 * succeeds (a node that lacks the TransferLeader handler fails them all). */
#define COORD_BALANCE_FAILURES_LOGGED 3

static_assert(COORD_STREAM_SHARDS_MAX <= COORD_SHARDS_MAX, "one stream fits the catalogue");
static_assert(COORD_STREAM_SHARDS_MAX - 1 <= SEQNUM_SHARD_MAX, "shard index fits a seqnum");
static_assert(COORD_CATALOG_BYTES_MAX < RPC_FRAME_BYTES_MAX, "GetCatalog fits one frame");
static_assert(COORD_CATALOG_BYTES_MAX < RAFT_ENTRY_BYTES_MAX, "the snapshot fits one entry");
static_assert(COORD_GROUP_REPLICAS_DEFAULT <= COORD_GROUP_REPLICAS_MAX, "default within max");
static_assert(COORD_NODE_DEAD_MS_MIN <= COORD_NODE_DEAD_MS_DEFAULT, "default within bounds");
static_assert(COORD_NODE_DEAD_MS_DEFAULT <= COORD_NODE_DEAD_MS_MAX, "default within bounds");
static_assert(COORD_BALANCE_INTERVAL_MS > EDDY_HEARTBEAT_MS, "a look sees the last move's reports");

#endif
