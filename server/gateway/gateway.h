/*
 * The gateway role: the Kinesis API over HTTP on one port, translated into
 * backend calls. Owns its HTTP server; borrows the backend.
 */
#ifndef EDDY_GATEWAY_H
#define EDDY_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct backend;
struct gateway;
struct limits_profile;

struct gateway_config {
    const char *host;
    int port;
    /* A TLS port on host too (ALPN h2 or http/1.1) when tls_cert is set:
     * tls_port (0: any free port), the PEM certificate chain and key. */
    int tls_port;
    const char *tls_cert;
    const char *tls_key;
    const char *region;  /* for ARNs, e.g. "us-east-1" */
    const char *account; /* 12 digits, e.g. "000000000000" */
    /* How many ms one hour of stream retention lasts (closed shards expire
     * after it); 0: an hour. The coordinator's value (eddyd --retention-hour-ms). */
    uint64_t retention_hour_ms;
    /* SubscribeToShard (subscription.h): a subscription's lifetime (0: 5
     * minutes) and each consumer's bytes per second per shard (0: no limit). */
    uint64_t subscription_ms;
    uint64_t subscription_bytes_per_s;
    /* Service limits (eddy/limits_profile.h), copied; NULL: the dev profile. */
    const struct limits_profile *limits;
    /* Authentication (sigv4.h): false accepts any well-formed signature
     * (open), true verifies them against the credentials file, read at
     * start (credentials_path, required then; in open mode optional, for
     * the accounts of its keys). */
    bool auth_verify;
    const char *credentials_path;
};

int gateway_init(struct gateway **out,
                 uv_loop_t *loop,
                 const struct gateway_config *cfg,
                 struct backend *backend);
int gateway_port(const struct gateway *g);
/* The TLS port, 0 without one. */
int gateway_tls_port(const struct gateway *g);
void gateway_close(struct gateway *g, void (*cb)(void *arg), void *arg);

#endif
