/* Command-line configuration of eddyd: see config_usage for every flag. */
#include "config.h"

#include "eddy/errors.h"
#include "eddy/tbucket.h"

#include <assert.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char config_usage[] =
    "usage: eddyd [options]\n"
    "  --node-id N          this node's id (default 1)\n"
    "  --data DIR           data directory (required for coordinator and server roles)\n"
    "  --roles LIST         coordinator,server,gateway (default all three)\n"
    "  --gateway HOST:PORT  Kinesis API endpoint (default 127.0.0.1:4567): HTTP/1.1 and\n"
    "                       HTTP/2 (h2c by prior knowledge) on one port\n"
    "  --tls-port PORT      also serve TLS (ALPN h2 or http/1.1) on the gateway's host\n"
    "  --tls-cert FILE, --tls-key FILE\n"
    "                       the PEM certificate chain and key for --tls-port (required\n"
    "                       with it)\n"
    "  --rpc HOST:PORT      internal RPC listener (default 127.0.0.1:5567)\n"
    "  --raft HOST:PORT     Raft listener shared by all groups (default 127.0.0.1:6567)\n"
    "  --peers LIST         ID=RPC/RAFT,... every coordinator+server node, this one included\n"
    "                       (default: this node alone)\n"
    "  --coordinator LIST   coordinator RPC addresses for a gateway-only node\n"
    "  --groups N           shard groups (default 2)\n"
    "  --creating-ms N      a new stream stays CREATING at least N ms (default 500)\n"
    "  --node-dead-ms N     the coordinator calls a node dead after N ms without a\n"
    "                       heartbeat (default 3000, at least 1000)\n"
    "  --replace-dead-ms N  a node dead for N ms more loses its shard-group replicas to\n"
    "                       other nodes (default 60000, at least 1000)\n"
    "  --retention-hour-ms N\n"
    "                       how many ms one hour of stream retention lasts (default\n"
    "                       3600000, at most that; tests shorten it to see records expire)\n"
    "  --trim-interval-ms N the coordinator trims records past retention every N ms\n"
    "                       (default 60000, at least 10)\n"
    "  --ondemand-scale-ms N\n"
    "                       a shard of an ON_DEMAND stream written at or above the\n"
    "                       thresholds below for N ms is split in two (default 60000)\n"
    "  --ondemand-scale-bytes-per-s N, --ondemand-scale-records-per-s N\n"
    "                       the thresholds (default 524288 and 500, half of AWS's\n"
    "                       per-shard write limit); giving one replaces both, 0 leaves\n"
    "                       that rate out\n"
    "  --subscription-ms N  a SubscribeToShard stream ends after N ms (default 300000,\n"
    "                       AWS's 5 minutes; at least 100)\n"
    "  --subscription-bytes-per-s N\n"
    "                       each enhanced fan-out consumer's rate per shard (default\n"
    "                       2097152, AWS's 2 MiB/s; 0 lifts it)\n"
    "  --region NAME        region in ARNs (default us-east-1)\n"
    "  --account ID         account in ARNs (default 000000000000)\n"
    "  --auth open|sigv4    SigV4 checking: open (default) refuses malformed credentials\n"
    "                       with AWS's errors but accepts any signature; sigv4 verifies\n"
    "                       signatures, keys, session tokens and the 5-minute clock skew\n"
    "  --credentials FILE   keys the gateway knows, one per line:\n"
    "                       ACCESS_KEY SECRET [SESSION_TOKEN|-] [ACCOUNT]\n"
    "                       (# comments; ACCOUNT: 12 digits, for its ARNs); required\n"
    "                       with --auth sigv4\n"
    "  --limits aws|dev     service limits: aws enforces AWS's per-shard rates\n"
    "                       (1 MiB/s and 1,000 records/s written, 5 reads and 2 MiB/s\n"
    "                       read), API call rates and quotas; dev (default) none\n"
    "  --limit KEY=VALUE    override one limit of the profile (repeatable): write-bytes-\n"
    "                       per-s, write-records-per-s, read-calls-per-s, read-bytes-per-s,\n"
    "                       burst-ms, shard-limit, on-demand-stream-count-limit,\n"
    "                       streams-in-transition-max, api.<Operation>; 0 lifts a rate\n";

/* A usage error is "bad value for option X" (X from argv, cut by snprintf
 * at worst) and the usage text. */
static_assert(sizeof(config_usage) + 256 <= CONFIG_MESSAGE_BYTES_MAX, "the usage fits a message");

/* getopt_long values of the long-only limit options (above any letter). */
enum { CONFIG_OPT_LIMITS = 0x100, CONFIG_OPT_LIMIT };

/* Applies --limits and then every --limit, in command-line order. */
static int config_apply_limits(struct config *cfg,
                               const char *profile,
                               char *const *overrides,
                               unsigned override_count,
                               char *err,
                               unsigned err_len)
{
    if (limits_profile_init(&cfg->limits, profile) != 0) {
        snprintf(err, err_len, "bad --limits %s (aws or dev)\n%s", profile, config_usage);
        return -EDDY_EINVAL;
    }
    for (unsigned i = 0; i < override_count; i++) {
        if (limits_profile_set(&cfg->limits, overrides[i]) != 0) {
            snprintf(err, err_len, "bad --limit %s\n%s", overrides[i], config_usage);
            return -EDDY_EINVAL;
        }
    }
    return 0;
}

/* getopt_long values of the retention options (above any letter and the
 * limit options). */
enum { CONFIG_OPT_RETENTION_HOUR_MS = 0x120, CONFIG_OPT_TRIM_INTERVAL_MS };

/* getopt_long value of --replace-dead-ms (above any letter and the other
 * long-only options). */
enum { CONFIG_OPT_REPLACE_DEAD_MS = 0x140 };

/* getopt_long values of the on-demand scaling options. */
enum {
    CONFIG_OPT_ONDEMAND_SCALE_MS = 0x160,
    CONFIG_OPT_ONDEMAND_SCALE_BYTES,
    CONFIG_OPT_ONDEMAND_SCALE_RECORDS,
};

static_assert(CONFIG_SUBSCRIPTION_BYTES_PER_S_MAX <= TBUCKET_UNITS_MAX,
              "--subscription-bytes-per-s fits a token bucket");

/* getopt_long values of the TLS options. */
enum { CONFIG_OPT_TLS_PORT = 0x1a0, CONFIG_OPT_TLS_CERT, CONFIG_OPT_TLS_KEY };

/* getopt_long values of the authentication options. */
enum { CONFIG_OPT_AUTH = 0x1c0, CONFIG_OPT_CREDENTIALS };

/* getopt_long values of the SubscribeToShard options. */
enum {
    CONFIG_OPT_SUBSCRIPTION_MS = 0x180,
    CONFIG_OPT_SUBSCRIPTION_BYTES,
};

/* A decimal within [min, max] into *out; -EDDY_EINVAL otherwise. */
static int config_parse_u64(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(arg, &end, 10);
    if (end == arg || *end != '\0' || arg[0] == '-' || v < min || v > max) {
        return -EDDY_EINVAL;
    }
    *out = v;
    return 0;
}

int config_split_addr(const char *addr, char *host, unsigned host_len, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || (unsigned)(colon - addr) >= host_len) {
        return -EDDY_EINVAL;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p < 0 || p > 65535 || end == colon + 1) {
        return -EDDY_EINVAL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (int)p;
    return 0;
}

static int config_copy(char *dst, const char *src)
{
    if (strlen(src) >= CONFIG_ADDR_LEN_MAX) {
        return -EDDY_EINVAL;
    }
    strcpy(dst, src);
    return 0;
}

static int config_parse_roles(struct config *cfg, const char *list)
{
    cfg->role_coordinator = strstr(list, "coordinator") != NULL;
    cfg->role_server = strstr(list, "server") != NULL;
    cfg->role_gateway = strstr(list, "gateway") != NULL;
    return cfg->role_coordinator || cfg->role_server || cfg->role_gateway ? 0 : -EDDY_EINVAL;
}

/* "1=127.0.0.1:4568/127.0.0.1:4569,2=..." */
static int config_parse_peers(struct config *cfg, const char *list)
{
    char buf[1024];
    if (strlen(list) >= sizeof(buf)) {
        return -EDDY_EINVAL;
    }
    strcpy(buf, list);
    cfg->peer_count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (cfg->peer_count == CONFIG_PEERS_MAX) {
            return -EDDY_EINVAL;
        }
        char *eq = strchr(tok, '=');
        char *slash = eq != NULL ? strchr(eq, '/') : NULL;
        if (eq == NULL || slash == NULL) {
            return -EDDY_EINVAL;
        }
        *eq = '\0';
        *slash = '\0';
        char *end;
        unsigned long long id = strtoull(tok, &end, 10);
        if (*end != '\0' || id == 0) {
            return -EDDY_EINVAL;
        }
        struct config_peer *p = &cfg->peers[cfg->peer_count++];
        p->node_id = id;
        if (config_copy(p->rpc_addr, eq + 1) != 0 || config_copy(p->raft_addr, slash + 1) != 0) {
            return -EDDY_EINVAL;
        }
    }
    return cfg->peer_count > 0 ? 0 : -EDDY_EINVAL;
}

static int config_parse_coordinators(struct config *cfg, const char *list)
{
    char buf[1024];
    if (strlen(list) >= sizeof(buf)) {
        return -EDDY_EINVAL;
    }
    strcpy(buf, list);
    cfg->coordinator_count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (cfg->coordinator_count == CONFIG_COORDINATORS_MAX ||
            config_copy(cfg->coordinators[cfg->coordinator_count], tok) != 0) {
            return -EDDY_EINVAL;
        }
        cfg->coordinator_count++;
    }
    return cfg->coordinator_count > 0 ? 0 : -EDDY_EINVAL;
}

int config_parse(struct config *cfg, int argc, char **argv, char *err, unsigned err_len)
{
    static const struct option opts[] = {
        {"node-id", required_argument, NULL, 'n'},
        {"data", required_argument, NULL, 'd'},
        {"roles", required_argument, NULL, 'R'},
        {"gateway", required_argument, NULL, 'g'},
        {"rpc", required_argument, NULL, 'r'},
        {"raft", required_argument, NULL, 'f'},
        {"peers", required_argument, NULL, 'p'},
        {"coordinator", required_argument, NULL, 'c'},
        {"groups", required_argument, NULL, 'G'},
        {"region", required_argument, NULL, 'z'},
        {"account", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {"creating-ms", required_argument, NULL, 'C'},
        {"node-dead-ms", required_argument, NULL, 'D'},
        {"replace-dead-ms", required_argument, NULL, CONFIG_OPT_REPLACE_DEAD_MS},
        {"retention-hour-ms", required_argument, NULL, CONFIG_OPT_RETENTION_HOUR_MS},
        {"trim-interval-ms", required_argument, NULL, CONFIG_OPT_TRIM_INTERVAL_MS},
        {"ondemand-scale-ms", required_argument, NULL, CONFIG_OPT_ONDEMAND_SCALE_MS},
        {"ondemand-scale-bytes-per-s", required_argument, NULL, CONFIG_OPT_ONDEMAND_SCALE_BYTES},
        {"ondemand-scale-records-per-s", required_argument, NULL,
         CONFIG_OPT_ONDEMAND_SCALE_RECORDS},
        {"subscription-ms", required_argument, NULL, CONFIG_OPT_SUBSCRIPTION_MS},
        {"subscription-bytes-per-s", required_argument, NULL, CONFIG_OPT_SUBSCRIPTION_BYTES},
        {"tls-port", required_argument, NULL, CONFIG_OPT_TLS_PORT},
        {"tls-cert", required_argument, NULL, CONFIG_OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, CONFIG_OPT_TLS_KEY},
        {"auth", required_argument, NULL, CONFIG_OPT_AUTH},
        {"credentials", required_argument, NULL, CONFIG_OPT_CREDENTIALS},
        {"limits", required_argument, NULL, CONFIG_OPT_LIMITS},
        {"limit", required_argument, NULL, CONFIG_OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof(*cfg));
    cfg->node_id = 1;
    cfg->role_coordinator = cfg->role_server = cfg->role_gateway = true;
    strcpy(cfg->gateway_host, "127.0.0.1");
    cfg->gateway_port = 4567;
    cfg->gateway_tls_port = -1;
    strcpy(cfg->rpc_addr, "127.0.0.1:5567");
    strcpy(cfg->raft_addr, "127.0.0.1:6567");
    cfg->group_count = 2;
    cfg->creating_ms = CONFIG_CREATING_MS_DEFAULT;
    cfg->retention_hour_ms = CONFIG_RETENTION_HOUR_MS_DEFAULT;
    cfg->subscription_ms = CONFIG_SUBSCRIPTION_MS_DEFAULT;
    cfg->subscription_bytes_per_s = CONFIG_SUBSCRIPTION_BYTES_PER_S_DEFAULT;
    cfg->region = "us-east-1";
    cfg->account = "000000000000";
    const char *peers = NULL;
    const char *coordinators = NULL;
    const char *limits = "dev";
    char *limit_overrides[CONFIG_LIMIT_OVERRIDES_MAX];
    unsigned limit_override_count = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rv = 0;
        char *end = NULL;
        switch (c) {
        case 'n':
            cfg->node_id = strtoull(optarg, &end, 10);
            rv = *end != '\0' || cfg->node_id == 0 ? -EDDY_EINVAL : 0;
            break;
        case 'd':
            cfg->data_dir = optarg;
            break;
        case 'R':
            rv = config_parse_roles(cfg, optarg);
            break;
        case 'g':
            rv = config_split_addr(optarg, cfg->gateway_host, sizeof(cfg->gateway_host),
                                   &cfg->gateway_port);
            break;
        case 'r':
            rv = config_copy(cfg->rpc_addr, optarg);
            break;
        case 'f':
            rv = config_copy(cfg->raft_addr, optarg);
            break;
        case 'p':
            peers = optarg;
            break;
        case 'c':
            coordinators = optarg;
            break;
        case 'G':
            cfg->group_count = (uint32_t)strtoul(optarg, &end, 10);
            rv = *end != '\0' || cfg->group_count == 0 || cfg->group_count > CONFIG_GROUPS_MAX
                     ? -EDDY_EINVAL
                     : 0;
            break;
        case 'C': {
            unsigned long ms = strtoul(optarg, &end, 10);
            rv = *end != '\0' || ms > CONFIG_CREATING_MS_MAX ? -EDDY_EINVAL : 0;
            cfg->creating_ms = (unsigned)ms;
            break;
        }
        case 'D': {
            unsigned long ms = strtoul(optarg, &end, 10);
            rv = *end != '\0' || ms < CONFIG_NODE_DEAD_MS_MIN || ms > CONFIG_NODE_DEAD_MS_MAX
                     ? -EDDY_EINVAL
                     : 0;
            cfg->node_dead_ms = (unsigned)ms;
            break;
        }
        case CONFIG_OPT_REPLACE_DEAD_MS: {
            unsigned long ms = strtoul(optarg, &end, 10);
            rv = *end != '\0' || ms < CONFIG_REPLACE_DEAD_MS_MIN || ms > CONFIG_REPLACE_DEAD_MS_MAX
                     ? -EDDY_EINVAL
                     : 0;
            cfg->replace_dead_ms = (unsigned)ms;
            break;
        }
        case CONFIG_OPT_RETENTION_HOUR_MS: {
            unsigned long long ms = strtoull(optarg, &end, 10);
            rv = *end != '\0' || ms < CONFIG_RETENTION_HOUR_MS_MIN ||
                         ms > CONFIG_RETENTION_HOUR_MS_DEFAULT
                     ? -EDDY_EINVAL
                     : 0;
            cfg->retention_hour_ms = (uint64_t)ms;
            break;
        }
        case CONFIG_OPT_TRIM_INTERVAL_MS: {
            unsigned long ms = strtoul(optarg, &end, 10);
            rv =
                *end != '\0' || ms < CONFIG_TRIM_INTERVAL_MS_MIN || ms > CONFIG_TRIM_INTERVAL_MS_MAX
                    ? -EDDY_EINVAL
                    : 0;
            cfg->trim_interval_ms = (unsigned)ms;
            break;
        }
        case CONFIG_OPT_ONDEMAND_SCALE_MS: {
            uint64_t ms = 0;
            rv = config_parse_u64(optarg, CONFIG_ONDEMAND_SCALE_MS_MIN,
                                  CONFIG_ONDEMAND_SCALE_MS_MAX, &ms);
            cfg->ondemand_scale_ms = (unsigned)ms;
            break;
        }
        case CONFIG_OPT_ONDEMAND_SCALE_BYTES:
            rv = config_parse_u64(optarg, 0, CONFIG_ONDEMAND_SCALE_RATE_MAX,
                                  &cfg->ondemand_scale_bytes_per_s);
            break;
        case CONFIG_OPT_ONDEMAND_SCALE_RECORDS:
            rv = config_parse_u64(optarg, 0, CONFIG_ONDEMAND_SCALE_RATE_MAX,
                                  &cfg->ondemand_scale_records_per_s);
            break;
        case CONFIG_OPT_SUBSCRIPTION_MS:
            rv = config_parse_u64(optarg, CONFIG_SUBSCRIPTION_MS_MIN, CONFIG_SUBSCRIPTION_MS_MAX,
                                  &cfg->subscription_ms);
            break;
        case CONFIG_OPT_SUBSCRIPTION_BYTES:
            rv = config_parse_u64(optarg, 0, CONFIG_SUBSCRIPTION_BYTES_PER_S_MAX,
                                  &cfg->subscription_bytes_per_s);
            break;
        case CONFIG_OPT_TLS_PORT: {
            uint64_t port = 0;
            rv = config_parse_u64(optarg, 0, 65535, &port);
            cfg->gateway_tls_port = (int)port;
            break;
        }
        case CONFIG_OPT_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case CONFIG_OPT_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case CONFIG_OPT_AUTH:
            rv = strcmp(optarg, "open") == 0 || strcmp(optarg, "sigv4") == 0 ? 0 : -EDDY_EINVAL;
            cfg->auth_sigv4 = strcmp(optarg, "sigv4") == 0;
            break;
        case CONFIG_OPT_CREDENTIALS:
            cfg->credentials = optarg;
            break;
        case 'z':
            cfg->region = optarg;
            break;
        case 'a':
            cfg->account = optarg;
            break;
        case CONFIG_OPT_LIMITS:
            limits = optarg;
            break;
        case CONFIG_OPT_LIMIT:
            rv = limit_override_count < CONFIG_LIMIT_OVERRIDES_MAX ? 0 : -EDDY_EINVAL;
            if (rv == 0) {
                limit_overrides[limit_override_count++] = optarg;
            }
            break;
        case 'h':
            snprintf(err, err_len, "%s", config_usage);
            return 1;
        default:
            rv = -EDDY_EINVAL;
            break;
        }
        if (rv != 0) {
            snprintf(err, err_len, "bad value for option %s\n%s", argv[optind - 1], config_usage);
            return -EDDY_EINVAL;
        }
    }
    if (optind < argc) {
        snprintf(err, err_len, "unexpected argument %s\n%s", argv[optind], config_usage);
        return -EDDY_EINVAL;
    }
    if (config_apply_limits(cfg, limits, limit_overrides, limit_override_count, err, err_len) !=
        0) {
        return -EDDY_EINVAL;
    }
    if (peers != NULL && config_parse_peers(cfg, peers) != 0) {
        snprintf(err, err_len, "bad --peers\n%s", config_usage);
        return -EDDY_EINVAL;
    }
    if (peers == NULL) {
        cfg->peer_count = 1;
        cfg->peers[0].node_id = cfg->node_id;
        strcpy(cfg->peers[0].rpc_addr, cfg->rpc_addr);
        strcpy(cfg->peers[0].raft_addr, cfg->raft_addr);
    }
    if (coordinators != NULL && config_parse_coordinators(cfg, coordinators) != 0) {
        snprintf(err, err_len, "bad --coordinator\n%s", config_usage);
        return -EDDY_EINVAL;
    }
    if (coordinators == NULL) {
        for (unsigned i = 0; i < cfg->peer_count; i++) {
            strcpy(cfg->coordinators[i], cfg->peers[i].rpc_addr);
        }
        cfg->coordinator_count = cfg->peer_count;
    }
    bool has_tls = cfg->gateway_tls_port >= 0;
    if (has_tls != (cfg->tls_cert != NULL) || has_tls != (cfg->tls_key != NULL)) {
        snprintf(err, err_len, "--tls-port, --tls-cert and --tls-key go together\n%s",
                 config_usage);
        return -EDDY_EINVAL;
    }
    if (cfg->auth_sigv4 && cfg->credentials == NULL) {
        snprintf(err, err_len, "--auth sigv4 needs --credentials\n%s", config_usage);
        return -EDDY_EINVAL;
    }
    if ((cfg->role_coordinator || cfg->role_server) && cfg->data_dir == NULL) {
        snprintf(err, err_len, "--data is required for the coordinator and server roles\n");
        return -EDDY_EINVAL;
    }
    return 0;
}
