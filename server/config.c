/* Command-line configuration of eddyd: see config_usage for every flag. */
#include "config.h"

#include "eddy/errors.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char config_usage[] =
    "usage: eddyd [options]\n"
    "  --node-id N          this node's id (default 1)\n"
    "  --data DIR           data directory (required for coordinator and server roles)\n"
    "  --roles LIST         coordinator,server,gateway (default all three)\n"
    "  --gateway HOST:PORT  Kinesis API endpoint (default 127.0.0.1:4567)\n"
    "  --rpc HOST:PORT      internal RPC listener (default 127.0.0.1:5567)\n"
    "  --raft HOST:PORT     Raft listener shared by all groups (default 127.0.0.1:6567)\n"
    "  --peers LIST         ID=RPC/RAFT,... every coordinator+server node, this one included\n"
    "                       (default: this node alone)\n"
    "  --coordinator LIST   coordinator RPC addresses for a gateway-only node\n"
    "  --groups N           shard groups (default 2)\n"
    "  --creating-ms N      a new stream stays CREATING at least N ms (default 500)\n"
    "  --node-dead-ms N     the coordinator calls a node dead after N ms without a\n"
    "                       heartbeat (default 3000, at least 1000)\n"
    "  --region NAME        region in ARNs (default us-east-1)\n"
    "  --account ID         account in ARNs (default 000000000000)\n";

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
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof(*cfg));
    cfg->node_id = 1;
    cfg->role_coordinator = cfg->role_server = cfg->role_gateway = true;
    strcpy(cfg->gateway_host, "127.0.0.1");
    cfg->gateway_port = 4567;
    strcpy(cfg->rpc_addr, "127.0.0.1:5567");
    strcpy(cfg->raft_addr, "127.0.0.1:6567");
    cfg->group_count = 2;
    cfg->creating_ms = CONFIG_CREATING_MS_DEFAULT;
    cfg->region = "us-east-1";
    cfg->account = "000000000000";
    const char *peers = NULL;
    const char *coordinators = NULL;
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
        case 'z':
            cfg->region = optarg;
            break;
        case 'a':
            cfg->account = optarg;
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
    if ((cfg->role_coordinator || cfg->role_server) && cfg->data_dir == NULL) {
        snprintf(err, err_len, "--data is required for the coordinator and server roles\n");
        return -EDDY_EINVAL;
    }
    return 0;
}
