/*
 * Enhanced fan-out consumers on the coordinator leader:
 *
 *   ConsumerReq  one ConsumerChange (catalog_consumer.h), routed here by
 *                coord_handle. Checked against the leader's catalogue, then
 *                proposed pinned to the incarnations checked (the stream's
 *                created_ms, and the consumer's unless it is a register, so
 *                a change never reaches a newer namesake); a register's tags
 *                are sorted with one per key first. Answered once the entry
 *                applied with a ConsumerResp:
 *                  0             the consumer after the change (none after a
 *                                remove); a register's is the new one
 *                  -EDDY_EEXISTS the consumer holding the name
 *                  -EDDY_EINUSE  the consumer as it is, or stream_in_use and
 *                                the stream's status for a register
 *                  -EDDY_ELIMIT  Status.message says which limit: "consumers"
 *                                (COORD_CONSUMERS_PER_STREAM_MAX), "creating"
 *                                (COORD_CONSUMERS_CREATING_MAX) or "settings"
 *                                (the settings budget)
 *                  -EDDY_ENOTFOUND, -EDDY_EINVAL, -EDDY_EMALFORMED: no more
 *                Before the catalogue is initialised -EDDY_EUNAVAILABLE; with
 *                COORD_PROPOSALS_INFLIGHT_MAX requests waiting -EDDY_EFULL; a
 *                failed proposal as coord.h says (-EDDY_EUNKNOWN...).
 *
 *   the reconciler's consumer steps (coord_consumer_reconcile, from
 *                reconcile_run): a CREATING consumer goes ACTIVE, and a
 *                DELETING one is removed, once the creating time
 *                (coord_config.stream_creating_ms_min) has passed since its
 *                status changed; consumers of a DELETING stream go with it.
 *                One step is proposed at a time; each applied step kicks the
 *                next pass at once.
 */
#ifndef EDDY_COORD_CONSUMER_H
#define EDDY_COORD_CONSUMER_H

#include "catalog.pb-c.h"
#include "rpc.pb-c.h"

#include <stdbool.h>

struct coord;
struct rpc_call;

/* Takes ownership of call and answers it exactly once. */
void coord_consumer_handle(struct coord *c, struct rpc_call *call, const Eddy__ConsumerReq *req);

/* On the ready leader: proposes the next due consumer step, if any, with
 * the reconciler's reserved task id (RECONCILE_TASK_CONSUMERS). Returns
 * whether it proposed one. */
bool coord_consumer_reconcile(struct coord *c);

#endif
