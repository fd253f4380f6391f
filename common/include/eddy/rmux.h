/*
 * Raft transport multiplexer: one TCP listening port per process for every
 * Raft group it hosts, and TCP_NODELAY on every Raft connection (the Debian
 * 0.15 library never sets it: notes/raft-0.15.md 2.4).
 *
 * Each outbound connection starts with a header naming the group and the
 * sender's Raft id; the hub reads exactly that header and hands the stream
 * to the group's raft_uv accept callback. Format in common/README.md.
 *
 * Lifecycle: rmux_init -> rmux_transport_init per group -> ... -> groups
 * closed -> rmux_close.
 */
#ifndef EDDY_RMUX_H
#define EDDY_RMUX_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

struct rmux;

/* Listens on "host:port". *out is freed in rmux_close's callback. */
int rmux_init(struct rmux **out, uv_loop_t *loop, const char *address);
/* Fills t with a transport for group_id that raft_uv_init accepts. The
 * transport's init/listen register the group with the hub; its close
 * unregisters it. Raft addresses given to raft (raft_bootstrap, raft_add)
 * are the peer processes' rmux addresses. */
int rmux_transport_init(struct rmux *m, uint32_t group_id, struct raft_uv_transport *t);
/* Frees what rmux_transport_init allocated; after raft_close's callback. */
void rmux_transport_close(struct raft_uv_transport *t);
void rmux_close(struct rmux *m, void (*cb)(void *arg), void *arg);

#endif
