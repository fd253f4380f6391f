/*
 * Enhanced fan-out consumers in the catalogue: the consumer entries
 * (CatalogEntry.consumer, a ConsumerChange; catalog.c dispatches them here)
 * and the invariants a stream's consumers keep, checked by restore too.
 *
 * A consumer belongs to one incarnation of one stream (StreamInfo.consumers,
 * unique names) and goes with it. Its own incarnation is its created_ms: the
 * ARN's EPOCH is created_ms / 1000, and a change names the incarnation it
 * means (consumer_created_ms, 0: the current one), so a change meant for a
 * deregistered consumer never reaches a new one of the same name.
 *
 * Lifecycle (a transition to the same status is an accepted no-op, so a
 * retried proposal is harmless):
 *
 *   (register) -> CREATING -> ACTIVE -> DELETING -> (remove)
 *                    |                    ^
 *                    +--------------------+
 *
 * The reconciler (coord_consumer.h) moves CREATING to ACTIVE and removes a
 * DELETING consumer once the creating time has passed. A remove is refused
 * before the second of the consumer's creation is over, so a consumer
 * registered again under the same name always gets another EPOCH (another
 * ARN). A stream going DELETING takes its consumers to DELETING with it.
 *
 * Pure like catalog.c: no clock but the entry's now_ms. A change is checked
 * whole before anything changes; a rejected one leaves the catalogue as it
 * was with one code:
 *
 *   -EDDY_EMALFORMED  no change in the entry
 *   -EDDY_EINVAL      a bad name, status, tag list or policy; more than
 *                     COORD_TAGS_MAX tags on the consumer after an add
 *   -EDDY_ENOTFOUND   no such stream or consumer (or not that incarnation)
 *   -EDDY_EEXISTS     register of a name the stream has (any status)
 *   -EDDY_EINUSE      the stream's status refuses a register (neither ACTIVE
 *                     nor UPDATING), or the consumer's status the change
 *   -EDDY_ELIMIT      COORD_CONSUMERS_PER_STREAM_MAX consumers, or
 *                     COORD_CONSUMERS_CREATING_MAX of them CREATING, or the
 *                     catalogue's settings budget (COORD_SETTINGS_BYTES_MAX)
 *   -ENOMEM           (apply only)
 *
 * Arguments are checked before statuses, as catalog_update.h does. What
 * each change accepts:
 *
 *   change                       consumer status
 *   register                     (the stream ACTIVE or UPDATING)
 *   set_status                   the transition table
 *   remove                       DELETING, its creation second over
 *   add_tags, remove_tags        CREATING, ACTIVE ("Tags will take effect
 *                                from the CREATING status", API reference)
 *   put_policy, delete_policy    ACTIVE (AWS: "... is not in ACTIVE status")
 */
#ifndef EDDY_CATALOG_CONSUMER_H
#define EDDY_CATALOG_CONSUMER_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code ch would get against cat at now_ms (0: it applies, maybe as a
 * no-op), nothing changed. *stream and *consumer are what ch names (NULL
 * when absent; *consumer is the holder of the name for -EDDY_EEXISTS). */
int catalog_consumer_check(const Eddy__Catalog *cat,
                           const Eddy__ConsumerChange *ch,
                           uint64_t now_ms,
                           const Eddy__StreamInfo **stream,
                           const Eddy__ConsumerInfo **consumer);
/* Applies ch (borrowed) to cat, allocating with a (the catalogue's
 * allocator): 0 with the version bumped when something changed, 0 with
 * nothing changed for a no-op, or a code above with cat unchanged. */
int catalog_consumer_apply(Eddy__Catalog *cat,
                           const Eddy__ConsumerChange *ch,
                           uint64_t now_ms,
                           ProtobufCAllocator *a);

/* The consumer named name of s, or NULL. */
const Eddy__ConsumerInfo *catalog_consumer_find(const Eddy__StreamInfo *s, const char *name);
/* The transition table; from == to is allowed (a no-op). */
bool catalog_consumer_transition_is_allowed(Eddy__ConsumerStatus from, Eddy__ConsumerStatus to);
/* Whether a DELETING ci may be removed at now_ms: its creation second is
 * over (the rule above). */
bool catalog_consumer_may_remove(const Eddy__ConsumerInfo *ci, uint64_t now_ms);

/* Whether s's consumers keep the invariants: at most
 * COORD_CONSUMERS_PER_STREAM_MAX, valid unique names, known statuses, valid
 * tag sets, bounded policies. For create (which must bring none) and
 * restore. */
bool catalog_consumers_are_valid(const Eddy__StreamInfo *s);
/* Takes every consumer of s to DELETING at now_ms (its stream is going
 * DELETING). Returns whether one changed. */
bool catalog_consumers_delete_all(Eddy__StreamInfo *s, uint64_t now_ms);
/* s's consumers that are not DELETING: those DeleteStream without
 * EnforceConsumerDeletion refuses to delete. */
size_t catalog_consumers_registered(const Eddy__StreamInfo *s);
/* The latest creation or status time of s's consumers, 0 when none. */
uint64_t catalog_consumers_time_floor_ms(const Eddy__StreamInfo *s);

#endif
