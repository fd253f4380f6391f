/*
 * eddyd's configuration, from the command line. Strings point into argv or
 * into storage owned by the struct; config_free releases the latter.
 */
#ifndef EDDY_CONFIG_H
#define EDDY_CONFIG_H

#include "eddy/limits_profile.h"

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_PEERS_MAX 7
#define CONFIG_COORDINATORS_MAX 7
#define CONFIG_GROUPS_MAX 256
#define CONFIG_ADDR_LEN_MAX 64
/* kinesalite and kinesis-mock also hold new streams in CREATING for 500 ms;
 * AWS takes seconds. Long enough for clients to see the state, short
 * enough for tests. */
#define CONFIG_CREATING_MS_DEFAULT 500
#define CONFIG_CREATING_MS_MAX 600000
/* --node-dead-ms bounds: those of the coordinator (COORD_NODE_DEAD_MS_MIN/MAX,
 * checked against these in main.c). */
#define CONFIG_NODE_DEAD_MS_MIN 1000
#define CONFIG_NODE_DEAD_MS_MAX 3600000
/* --replace-dead-ms bounds: those of the coordinator (COORD_REPLACE_DEAD_MS_MIN/MAX,
 * checked against these in main.c). */
#define CONFIG_REPLACE_DEAD_MS_MIN 1000
#define CONFIG_REPLACE_DEAD_MS_MAX 86400000
/* --retention-hour-ms and --trim-interval-ms bounds: those of the
 * coordinator (COORD_RETENTION_HOUR_MS_*, COORD_TRIM_INTERVAL_MS_*, checked
 * against these in main.c). */
#define CONFIG_RETENTION_HOUR_MS_DEFAULT 3600000
#define CONFIG_RETENTION_HOUR_MS_MIN 1
#define CONFIG_TRIM_INTERVAL_MS_MIN 10
#define CONFIG_TRIM_INTERVAL_MS_MAX 3600000
/* --ondemand-scale-ms bounds and the thresholds' bound: those of the
 * coordinator (COORD_AUTOSCALE_*, checked against these in main.c). */
#define CONFIG_ONDEMAND_SCALE_MS_MIN 500
#define CONFIG_ONDEMAND_SCALE_MS_MAX 86400000
#define CONFIG_ONDEMAND_SCALE_RATE_MAX 1000000000000ULL
/* --subscription-ms and --subscription-bytes-per-s (SubscribeToShard,
 * server/gateway/subscription.h): AWS's 5 minutes and 2 MiB/s by default;
 * tests shorten the lifetime. The rate's bound is the token buckets'
 * (TBUCKET_UNITS_MAX). */
#define CONFIG_SUBSCRIPTION_MS_DEFAULT 300000
#define CONFIG_SUBSCRIPTION_MS_MIN 100
#define CONFIG_SUBSCRIPTION_MS_MAX 3600000
#define CONFIG_SUBSCRIPTION_BYTES_PER_S_DEFAULT (2 * 1024 * 1024)
#define CONFIG_SUBSCRIPTION_BYTES_PER_S_MAX 1000000000000ULL
/* config_parse's message: one line and the whole usage text (checked in
 * config.c), which outgrew 2 KiB. */
#define CONFIG_MESSAGE_BYTES_MAX 8192
/* --limit KEY=VALUE flags one command line may carry. */
#define CONFIG_LIMIT_OVERRIDES_MAX 64

struct config_peer {
    uint64_t node_id;
    char rpc_addr[CONFIG_ADDR_LEN_MAX];
    char raft_addr[CONFIG_ADDR_LEN_MAX];
};

struct config {
    uint64_t node_id;
    const char *data_dir;
    bool role_coordinator;
    bool role_server;
    bool role_gateway;
    char gateway_host[CONFIG_ADDR_LEN_MAX];
    int gateway_port;
    int gateway_tls_port; /* --tls-port; -1: no TLS listener */
    const char *tls_cert; /* --tls-cert, with --tls-port */
    const char *tls_key;  /* --tls-key, with --tls-port */
    char rpc_addr[CONFIG_ADDR_LEN_MAX];
    char raft_addr[CONFIG_ADDR_LEN_MAX];
    struct config_peer peers[CONFIG_PEERS_MAX];
    unsigned peer_count;
    char coordinators[CONFIG_COORDINATORS_MAX][CONFIG_ADDR_LEN_MAX];
    unsigned coordinator_count;
    uint32_t group_count;
    unsigned creating_ms;       /* a new stream stays CREATING at least this long */
    unsigned node_dead_ms;      /* 0: the coordinator's default (COORD_NODE_DEAD_MS_DEFAULT) */
    unsigned replace_dead_ms;   /* 0: the coordinator's default (COORD_REPLACE_DEAD_MS_DEFAULT) */
    uint64_t retention_hour_ms; /* how long one retention hour lasts */
    unsigned trim_interval_ms;  /* 0: the coordinator's default (COORD_TRIM_INTERVAL_MS_DEFAULT) */
    /* On-demand scaling (coordinator/coord_autoscale.h); 0s: the defaults. */
    unsigned ondemand_scale_ms;
    uint64_t ondemand_scale_bytes_per_s;
    uint64_t ondemand_scale_records_per_s;
    uint64_t subscription_ms;          /* --subscription-ms */
    uint64_t subscription_bytes_per_s; /* --subscription-bytes-per-s; 0: no limit */
    const char *region;
    const char *account;
    bool auth_sigv4;         /* --auth sigv4 (default open) */
    const char *credentials; /* --credentials FILE, or NULL */
    /* --limits aws|dev (default dev: see eddy/limits_profile.h) with the
     * --limit overrides applied. */
    struct limits_profile limits;
};

/* Parses argv into cfg with defaults filled in. On a usage error writes a
 * message to err (size err_len) and returns -EDDY_EINVAL; returns 1 when
 * --help was asked (usage written to err). */
int config_parse(struct config *cfg, int argc, char **argv, char *err, unsigned err_len);
/* Splits "host:port"; -EDDY_EINVAL when malformed. */
int config_split_addr(const char *addr, char *host, unsigned host_len, int *port);

#endif
