/*
 * The coordinator's settings RPCs, on the ready leader (coord_handle routes
 * them here):
 *
 *   UpdateStreamReq   one StreamUpdate (catalog_update.h). Checked against
 *                     the catalogue first, then proposed pinned to the
 *                     stream's incarnation; answered once the entry applied
 *                     with an UpdateStreamResp: the stream after the change
 *                     (status 0), or the rejection's code with the stream as
 *                     it is (-EDDY_EINUSE, -EDDY_EINVAL, -EDDY_ELIMIT; none
 *                     for -EDDY_ENOTFOUND). Status.message carries AWS's text
 *                     where it needs no account (the retention rules, the
 *                     settings budget); the gateway words the others.
 *   UpdateAccountReq  the wanted MinimumThroughputBillingCommitment
 *                     (AccountSettings.commitment_enabled); answered with the
 *                     account's settings after the change.
 *
 * Both reply -EDDY_EUNAVAILABLE before the catalogue is initialised,
 * -EDDY_EINVAL without their message, -EDDY_EFULL when
 * COORD_PROPOSALS_INFLIGHT_MAX requests wait, and a proposal's failure
 * (-EDDY_EUNKNOWN, -EDDY_ESHUTDOWN) as coord.h says.
 */
#ifndef EDDY_COORD_UPDATE_H
#define EDDY_COORD_UPDATE_H

#include "catalog.pb-c.h"
#include "rpc.pb-c.h"

#include <stddef.h>

struct coord;
struct rpc_call;

/* Take ownership of call and answer it exactly once. */
void coord_update_stream(struct coord *c, struct rpc_call *call, const Eddy__UpdateStreamReq *req);
void coord_update_account(struct coord *c,
                          struct rpc_call *call,
                          const Eddy__UpdateAccountReq *req);

/* The tags of a CreateStream for its create entry: an eddy_xcalloc'd array
 * of req's tags (borrowed from req), sorted by key with one per key (the
 * later one), or NULL when there are none. *n is their count. The apply
 * checks them (catalog_update_settings_are_valid). */
Eddy__Tag **coord_update_create_tags(const Eddy__CreateStreamReq *req, size_t *n);

#endif
