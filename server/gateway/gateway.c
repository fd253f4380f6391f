/*
 * The gateway role: owns the HTTP server and the API context, borrows the
 * backend. Lifecycle: gateway_init starts listening; gateway_close stops
 * the server, then waits until every request already accepted has been
 * answered (their backend calls call back exactly once), then frees the
 * gateway and calls back.
 */
#include "gateway.h"

#include "api.h"
#include "backend.h"
#include "http1.h"
#include "ratelimit.h"
#include "sigv4.h"
#include "subscription.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <stddef.h>
#include <string.h>

/* The SigV4 signing name of Kinesis (botocore's model: signingName kinesis). */
#define GATEWAY_SIGNING_NAME "kinesis"

struct gateway {
    struct api_ctx api;
    struct http_server *http;
    char region[API_REGION_LEN_MAX + 1];
    char account[API_ACCOUNT_ID_LEN + 1];
    struct limits_profile limits; /* api.limits points here */
    bool closing;
    bool http_closed;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static void gateway_on_request(void *data, struct http_request *req)
{
    struct gateway *g = data;
    api_handle(&g->api, req);
}

static void gateway_maybe_finish(struct gateway *g)
{
    if (!g->closing || !g->http_closed || g->api.inflight > 0) {
        return;
    }
    void (*cb)(void *) = g->close_cb;
    void *arg = g->close_arg;
    LOG_INFO("gateway closed");
    subscription_registry_destroy(g->api.subscriptions); /* none lives: nothing in flight */
    ratelimit_destroy(g->api.ratelimit);
    sigv4_keys_destroy(g->api.auth.keys);
    eddy_free(g);
    if (cb != NULL) {
        cb(arg);
    }
}

static void gateway_on_drained(struct api_ctx *ctx)
{
    struct gateway *g = container_of(ctx, struct gateway, api);
    gateway_maybe_finish(g);
}

static void gateway_on_http_closed(void *arg)
{
    struct gateway *g = arg;
    g->http_closed = true;
    gateway_maybe_finish(g);
}

/* The authentication settings of cfg into g->api.auth. */
static int gateway_auth_init(struct gateway *g, const struct gateway_config *cfg)
{
    g->api.auth.mode = cfg->auth_verify ? SIGV4_MODE_VERIFY : SIGV4_MODE_OPEN;
    g->api.auth.service = GATEWAY_SIGNING_NAME;
    g->api.auth.region = g->region;
    if (cfg->credentials_path == NULL) {
        if (cfg->auth_verify) {
            LOG_ERROR("auth=sigv4 needs a credentials file");
            return -EDDY_EINVAL;
        }
        return 0;
    }
    sigv4_keys_create(&g->api.auth.keys);
    char err[512];
    int rv = sigv4_keys_load(g->api.auth.keys, cfg->credentials_path, err, sizeof(err));
    if (rv != 0) {
        LOG_ERROR("credentials: %s", err);
        sigv4_keys_destroy(g->api.auth.keys);
        g->api.auth.keys = NULL;
        return rv;
    }
    if (cfg->auth_verify && sigv4_keys_count(g->api.auth.keys) == 0) {
        LOG_WARN("auth=sigv4 with no credentials: every request is refused");
    }
    return 0;
}

static bool gateway_config_ok(const struct gateway_config *cfg)
{
    if (cfg->region == NULL || cfg->account == NULL) {
        return false;
    }
    size_t rl = strlen(cfg->region);
    if (rl == 0 || rl > API_REGION_LEN_MAX || strchr(cfg->region, ':') != NULL) {
        return false;
    }
    if (strlen(cfg->account) != API_ACCOUNT_ID_LEN) {
        return false;
    }
    for (size_t i = 0; i < API_ACCOUNT_ID_LEN; i++) {
        if (cfg->account[i] < '0' || cfg->account[i] > '9') {
            return false;
        }
    }
    return true;
}

int gateway_init(struct gateway **out,
                 uv_loop_t *loop,
                 const struct gateway_config *cfg,
                 struct backend *backend)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(backend != NULL);
    if (!gateway_config_ok(cfg)) {
        LOG_ERROR("gateway config invalid: region must be 1..%d chars, account %d digits",
                  API_REGION_LEN_MAX, API_ACCOUNT_ID_LEN);
        return -EDDY_EINVAL;
    }
    struct gateway *g = eddy_xcalloc(1, sizeof(*g));
    memcpy(g->region, cfg->region, strlen(cfg->region) + 1);
    memcpy(g->account, cfg->account, API_ACCOUNT_ID_LEN + 1);
    g->api.loop = loop;
    g->api.backend = backend;
    g->api.cfg.region = g->region;
    g->api.cfg.account = g->account;
    g->api.cfg.retention_hour_ms = cfg->retention_hour_ms;
    g->api.cfg.subscription_ms = cfg->subscription_ms;
    g->api.cfg.subscription_bytes_per_s = cfg->subscription_bytes_per_s;
    g->api.drained_cb = gateway_on_drained;
    if (gateway_auth_init(g, cfg) != 0) {
        eddy_free(g);
        return -EDDY_EINVAL;
    }
    if (cfg->limits != NULL) {
        g->limits = *cfg->limits;
    } else {
        int known = limits_profile_init(&g->limits, "dev");
        EDDY_ASSERT(known == 0);
    }
    g->api.limits = &g->limits;
    ratelimit_create(&g->api.ratelimit, &g->limits);
    struct subscription_config sc = {
        .lifetime_ms = cfg->subscription_ms,
        .bytes_per_s = cfg->subscription_bytes_per_s,
    };
    subscription_registry_create(&g->api.subscriptions, loop, &sc);
    struct http_server_tls tls = {cfg->tls_port, cfg->tls_cert, cfg->tls_key};
    int rv = http_server_init(&g->http, loop, cfg->host, cfg->port,
                              cfg->tls_cert != NULL ? &tls : NULL, gateway_on_request, g);
    if (rv != 0) {
        LOG_ERROR("gateway listen failed host=%s port=%d err=%s", cfg->host, cfg->port,
                  eddy_strerror(rv));
        subscription_registry_destroy(g->api.subscriptions);
        ratelimit_destroy(g->api.ratelimit);
        sigv4_keys_destroy(g->api.auth.keys);
        eddy_free(g);
        return rv;
    }
    LOG_INFO("gateway listening host=%s port=%d region=%s account=%s auth=%s keys=%zu", cfg->host,
             http_server_port(g->http), g->region, g->account, cfg->auth_verify ? "sigv4" : "open",
             sigv4_keys_count(g->api.auth.keys));
    *out = g;
    return 0;
}

int gateway_port(const struct gateway *g)
{
    return http_server_port(g->http);
}

int gateway_tls_port(const struct gateway *g)
{
    return http_server_tls_port(g->http);
}

void gateway_close(struct gateway *g, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(!g->closing);
    g->closing = true;
    g->close_cb = cb;
    g->close_arg = arg;
    g->api.draining = true;
    /* Subscriptions stream for minutes: end them now (clients resubscribe). */
    subscription_registry_end_all(g->api.subscriptions);
    backend_stop_retrying(g->api.backend);
    http_server_close(g->http, gateway_on_http_closed, g);
}
