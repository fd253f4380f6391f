/*
 * What http2.c (connections) and http2_request.c (request streams: the
 * nghttp2 callbacks about them and the request API) share.
 */
#ifndef EDDY_HTTP2_INTERNAL_H
#define EDDY_HTTP2_INTERNAL_H

#include "http_internal.h"
#include "http_io.h"

#include "eddy/buf.h"
#include "eddy/limits.h"
#include "eddy/list.h"

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum h2_conn_state {
    H2_CONN_OPEN,
    H2_CONN_DRAINING,
    H2_CONN_SHUTDOWN,
    H2_CONN_CLOSING,
    H2_CONN_STATE_COUNT
};

struct h2_conn {
    struct http_server *server;
    struct http_io *io; /* NULL for a connection of a test */
    nghttp2_session *session;
    enum h2_conn_state state;
    struct list_link link;          /* in server->h2_conns until closed */
    struct list_link withheld_link; /* in server->h2_withheld while withheld */
    struct list_link streams;       /* requests whose stream is open */
    struct list_link ready;         /* complete requests not yet given to request_cb */
    struct list_link held;          /* requests the application holds (app_count) */
    size_t stream_count;            /* in streams */
    size_t app_count;               /* requests the application holds, detached ones too */
    size_t buffered_bytes;          /* request bytes charged, of requests still on c */
    size_t withheld_bytes;          /* received, not yet given back to the connection window */
    size_t queued_bytes;            /* response body bytes not yet taken by nghttp2 */
    size_t write_bytes;             /* handed to the io, not yet called back */
    size_t writes_in_flight;
    size_t write_queue_seen; /* the io's unsent bytes at the last sweep */
    uint64_t activity_ms;    /* last input or write completion */
    uint64_t write_progress_ms;
    uint64_t send_progress_ms; /* frames last made */
    uint64_t linger_start_ms;
    bool is_in_session; /* inside nghttp2 (mem_recv or mem_send) */
    bool is_send_due;   /* frames may wait in the session */
    bool is_reading;
    bool is_peer_eof;
    bool is_calm_sent; /* GOAWAY ENHANCE_YOUR_CALM for too many held requests */
};

enum h2_req_state {
    H2_REQ_RECEIVING,
    H2_REQ_PENDING,
    H2_REQ_STREAMING,
    H2_REQ_ANSWERED,
    H2_REQ_DETACHED,
    H2_REQ_STATE_COUNT
};

struct h2_request {
    struct http_request base;     /* first member */
    struct list_link link;        /* in conn->streams while the stream is open; in
                                     server->h2_detached while DETACHED and charged */
    struct list_link ready_link;  /* in conn->ready */
    struct list_link notify_link; /* in server->h2_notify */
    struct list_link held_link;   /* in owner->held while the application holds it */
    struct h2_conn *conn;         /* NULL once DETACHED */
    struct h2_conn *owner;        /* the connection, while it lives and r is held */
    struct http_server *server;   /* while charged to its budget */
    int32_t stream_id;
    enum h2_req_state state;
    size_t charged_bytes;
    uint64_t start_ms;
    struct buf arena; /* every string of the request, NUL-terminated */
    uint32_t name_off[GW_HTTP_HEADERS_COUNT_MAX + 1];
    uint32_t value_off[GW_HTTP_HEADERS_COUNT_MAX + 1];
    size_t header_count;
    size_t header_bytes; /* as SETTINGS_MAX_HEADER_LIST_SIZE counts them */
    uint32_t method_off;
    uint32_t path_off;
    uint32_t authority_off;
    struct http_header *headers;
    struct buf body;   /* one spare byte for the NUL */
    struct buf out;    /* response body bytes not yet taken by nghttp2 */
    size_t out_off;    /* taken from the front of out */
    int reject_status; /* 400, 413 or 431 once the request is refused here */
    bool has_method;
    bool has_path;
    bool has_authority;
    bool has_host;
    bool is_head;
    bool is_eof;      /* the response body is complete */
    bool is_deferred; /* nghttp2 waits for more body (resume it) */
    bool is_above_half;
    bool is_app_counted; /* in server->app_request_count */
};

/* http2_request.c */
int h2_session_create(struct h2_conn *c);
/* r's stream closed (or its connection did): a held request is detached,
 * the others are freed. */
void h2_request_stream_closed(struct h2_request *r);
void h2_request_uncharge(struct h2_request *r);
void h2_run_notify(struct http_server *s);

/* http2.c */
void h2_conn_send(struct h2_conn *c);
void h2_conn_after_submit(struct h2_conn *c);
void h2_conn_uncharged(struct h2_conn *c, size_t n);
/* n body bytes arrived: the connection window gets them back when the
 * bounds allow. */
void h2_conn_received(struct h2_conn *c, size_t n);
/* The application stopped holding a request of c. */
void h2_conn_released(struct h2_conn *c);

#endif
