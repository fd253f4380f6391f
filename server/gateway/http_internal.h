/*
 * What the HTTP transports (http1.c, http2.c) share with http.c, which
 * implements the request API of http.h once for both: every request starts
 * with a struct http_request holding what was parsed and the transport's
 * operations; the transport fills it in before handing it to request_cb.
 */
#ifndef EDDY_HTTP_INTERNAL_H
#define EDDY_HTTP_INTERNAL_H

#include "http.h"

#include "eddy/list.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*http_stream_cb)(void *arg, struct http_request *r);

/* A transport's side of the request API. respond, stream_begin and
 * stream_end get requests in the state http.c checked (answered once). */
struct http_request_ops {
    const char *protocol; /* "HTTP/1.1", "HTTP/2" */
    bool (*is_connected)(const struct http_request *r);
    void (*respond)(struct http_request *r,
                    int status,
                    const struct http_header *headers,
                    size_t header_count,
                    const uint8_t *body,
                    size_t body_len);
    void (*stream_begin)(struct http_request *r,
                         int status,
                         const struct http_header *headers,
                         size_t header_count);
    int (*stream_write)(struct http_request *r, const uint8_t *data, size_t len);
    size_t (*stream_queued)(const struct http_request *r);
    void (*stream_end)(struct http_request *r);
};

enum http_answer { HTTP_ANSWER_NONE, HTTP_ANSWER_STREAMING, HTTP_ANSWER_DONE };

/* The first member of each transport's request. Strings and the body are
 * owned by the transport's request; valid until it is answered (headers:
 * until freed). */
struct http_request {
    const struct http_request_ops *ops;
    const char *method;
    const char *target;
    const struct http_header *headers;
    size_t header_count;
    const uint8_t *body; /* NUL-terminated; NULL after stream_begin */
    size_t body_len;
    enum http_answer answer;
    http_stream_cb stream_cb; /* set by the application */
    void *stream_arg;
};

/* One socket read; also bounds the unparsed input a connection keeps. */
#define HTTP_READ_BUF_BYTES (64 * 1024)
/* Timeouts are checked this often, so they are accurate to this. */
#define HTTP_SWEEP_INTERVAL_MS 1000

struct http1_conn;
struct http_io;
struct tls_ctx;

/* The server (http_server.c) with the state each transport keeps in it. */
struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_tcp_t tls_listener; /* initialized once http_server_listen_tls ran */
    struct tls_ctx *tls;
    uv_timer_t sweep;
    uv_idle_t idle; /* runs each transport's deferred work (http_server_wake) */
    http_request_cb request_cb;
    void *data;
    int port;
    int tls_port;
    struct list_link detecting; /* connections whose protocol is not known yet */
    /* HTTP/1.1 (http1.c) */
    struct list_link conns;
    struct list_link resume;      /* connections with input to parse again */
    struct list_link paused;      /* connections waiting for budget, FIFO */
    struct list_link detached;    /* DETACHED requests, still charged */
    struct list_link notify;      /* requests whose stream callback is due */
    struct http1_conn *overdraft; /* may read past the budget, one request */
    bool is_grant_due;            /* the idle callback runs the budget grant */
    /* HTTP/2 (http2.c) */
    struct list_link h2_conns;
    struct list_link h2_withheld; /* connections whose receive window waits for budget */
    struct list_link h2_notify;   /* requests whose stream callback is due */
    struct list_link h2_detached; /* requests whose stream closed, still charged */
    bool is_h2_due;               /* the idle callback looks at h2_withheld */
    /* The budget, shared: request bytes held, at most buffered_max (and an
     * HTTP/1.1 overdraft). */
    size_t buffered_bytes;
    size_t buffered_max;      /* GW_BUFFERED_BYTES_MAX but in tests */
    size_t app_request_count; /* charged requests the application holds */
    size_t conn_count;
    unsigned handle_count; /* s is freed when the last one is closed */
    bool is_closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    uint64_t reject_log_ms;
    char read_buf[HTTP_READ_BUF_BYTES]; /* one read at a time on one loop */
};

/* http_server.c, for the transports. */
/* Runs the transports' deferred work from the idle callback, soon. */
void http_server_wake(struct http_server *s);
/* Gives n bytes back to the budget (n may be 0). */
void http_server_release(struct http_server *s, size_t n);
/* A connection's io was closed: the last callback of it. */
void http_server_conn_closed(struct http_server *s);
bool http_has_passed(uint64_t now_ms, uint64_t since_ms, uint64_t timeout_ms);

/* Each transport (http1.c, http2.c) to the server. conn_start takes over an
 * accepted io whose first bytes (len of them) were read already. */
void http1_conn_start(struct http_server *s, struct http_io *io, const uint8_t *data, size_t len);
void http1_server_sweep(struct http_server *s, uint64_t now_ms);
void http1_server_idle(struct http_server *s);
void http1_server_budget_freed(struct http_server *s);
/* Closes every connection; runs the callbacks of streams it cut. */
void http1_server_close(struct http_server *s);
void http2_conn_start(struct http_server *s, struct http_io *io, const uint8_t *data, size_t len);
void http2_server_sweep(struct http_server *s, uint64_t now_ms);
void http2_server_idle(struct http_server *s);
void http2_server_budget_freed(struct http_server *s);
void http2_server_close(struct http_server *s);

/* Sets the fields every transport sets the same way. */
void http_request_base_init(struct http_request *r, const struct http_request_ops *ops);

/* A header the application may send: a token name and a value without
 * control characters other than tab, so no response splitting. */
bool http_header_is_valid(const struct http_header *h);
/* RFC 7231 7.1.1.1 IMF-fixdate of t, independent of the locale. */
void http_format_date(char *out, size_t size, int64_t t);
/* Lowercase token characters only (HTTP/2 field names). */
bool http_header_name_is_lowercase(const char *name);

#endif
