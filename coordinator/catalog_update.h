/*
 * Stream settings and account settings in the catalogue: the update_stream
 * and set_account entries (catalog.c dispatches them here), and the
 * invariants every stream's settings keep, checked by create and restore too.
 *
 * Pure like catalog.c: no clock but the entry's now_ms, so every replica
 * computes the same catalogue. An update is checked whole before anything
 * changes; a rejected one leaves the catalogue as it was and gives one code:
 *
 *   -EDDY_EMALFORMED  no change in the update
 *   -EDDY_EINVAL      a bad argument, or one that contradicts the stream
 *                     (retention below 24 h or above 8760 h, an increase
 *                     that is a decrease, more than COORD_TAGS_MAX tags, warm
 *                     throughput on a provisioned stream or without a
 *                     billing commitment, an unknown metric name...)
 *   -EDDY_ENOTFOUND   no such stream (or not that incarnation)
 *   -EDDY_EINUSE      the stream's status does not allow the change
 *   -EDDY_ELIMIT      warm throughput above COORD_WARM_THROUGHPUT_MIBPS_MAX,
 *                     or the catalogue's settings budget (COORD_SETTINGS_BYTES_MAX)
 *   -ENOMEM           (apply only)
 *
 * Arguments are checked before the stream's status: AWS answers an
 * IncreaseStreamRetentionPeriod below the current period with
 * InvalidArgumentException whatever the status (kinesalite's tests, run
 * against AWS, call it right after another change).
 *
 * Which status each change accepts, and which changes put the stream in
 * UPDATING (AWS returns at once and shows UPDATING until the change is done;
 * Eddy's reconciler returns such a stream to ACTIVE after the creating time,
 * coord_config.stream_creating_ms_min):
 *
 *   change                         accepts            UPDATING
 *   add_tags, remove_tags          ACTIVE, UPDATING   no
 *   put_policy, delete_policy      ACTIVE, UPDATING   no
 *   increase/decrease_retention    ACTIVE             yes
 *   set_mode                       ACTIVE             yes
 *   enable/disable_metrics         ACTIVE             yes
 *   set_encryption                 ACTIVE             yes (API_StartStreamEncryption)
 *   set_max_record_size_kib        ACTIVE             yes
 *   set_warm_throughput_mibps      ACTIVE             yes (API_UpdateStreamWarmThroughput)
 *
 * A change that leaves the stream as it is (a retention equal to the current
 * one, as AWS accepts, tags already set, a metric already on) is accepted
 * without a new version and without UPDATING. Tags stay sorted by key with
 * unique keys; a key given twice in one add keeps its later value (a JSON map
 * read by Jackson). Metrics are a sorted set of AWS's names; ALL stands for
 * all seven.
 *
 * The account's MinimumThroughputBillingCommitment (set_account carries the
 * wanted commitment_enabled only): enabling starts a commitment at now_ms
 * whose earliest end is 24 h later, or cancels a pending end; disabling
 * before the earliest end schedules the end for it (the commitment shows
 * ENABLED_UNTIL_EARLIEST_ALLOWED_END until then), later it ends at now_ms.
 */
#ifndef EDDY_CATALOG_UPDATE_H
#define EDDY_CATALOG_UPDATE_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code u would get against cat at now_ms (0: it applies, maybe as a
 * no-op), nothing changed. *stream is the stream u names (NULL if none). */
int catalog_update_check(const Eddy__Catalog *cat,
                         const Eddy__StreamUpdate *u,
                         uint64_t now_ms,
                         const Eddy__StreamInfo **stream);
/* Applies u (borrowed) to cat, allocating with a (the catalogue's
 * allocator): 0 with the version bumped when the stream changed, 0 with
 * nothing changed for a no-op, or a code above with cat unchanged. */
int catalog_update_apply(Eddy__Catalog *cat,
                         const Eddy__StreamUpdate *u,
                         uint64_t now_ms,
                         ProtobufCAllocator *a);
/* Applies a set_account entry: want->commitment_enabled is the status asked.
 * -EDDY_EUNAVAILABLE before init, -EDDY_EINVAL without want, -ENOMEM; 0
 * otherwise (the version bumped when the settings changed). */
int catalog_update_account_apply(Eddy__Catalog *cat,
                                 const Eddy__AccountSettings *want,
                                 uint64_t now_ms,
                                 ProtobufCAllocator *a);
/* Whether the account's commitment is in force at now_ms (ENABLED, or
 * ENABLED_UNTIL_EARLIEST_ALLOWED_END before its end). a may be NULL. */
bool catalog_update_commitment_is_active(const Eddy__AccountSettings *a, uint64_t now_ms);

/* Whether s's settings keep the invariants (tags sorted, unique, at most
 * COORD_TAGS_MAX, lengths; metrics a sorted set of known names; encryption
 * NONE or KMS with a key id; bounded policy, record size, warm throughput;
 * settings_updating only while UPDATING). For create and restore. */
bool catalog_update_settings_are_valid(const Eddy__StreamInfo *s);
bool catalog_update_account_is_valid(const Eddy__AccountSettings *a);
/* The bytes of s's tags, key id and policy, and of its consumers' tags and
 * policies, as they count against COORD_SETTINGS_BYTES_MAX (an upper bound
 * on their encoded size). */
size_t catalog_update_settings_bytes(const Eddy__StreamInfo *s);
/* The same over every stream of cat. */
size_t catalog_update_catalog_settings_bytes(const Eddy__Catalog *cat);

/* Sorts tags (pointers, borrowed) by key in place, a key given twice kept
 * once with its later value; *n is updated. For a create entry's tags. */
void catalog_update_tags_normalize(Eddy__Tag **tags, size_t *n);

/* ---- tag sets: a stream's tags or a consumer's (catalog_consumer.c) ---- */

/* A set is sorted by key with unique keys, at most COORD_TAGS_MAX tags. */
bool catalog_update_tag_set_is_valid(Eddy__Tag *const *tags, size_t n);
/* Its bytes as they count against COORD_SETTINGS_BYTES_MAX. */
size_t catalog_update_tag_set_bytes(Eddy__Tag *const *tags, size_t n);
size_t catalog_update_tag_bytes(const Eddy__Tag *t);
/* Checks adding add, or removing remove (exactly one non-NULL), against the
 * set: -EDDY_EINVAL for a malformed list or more than COORD_TAGS_MAX tags
 * after, else 0 with *changes (whether the set would differ) and
 * *bytes_after (catalog_update_tag_set_bytes of the set after). */
int catalog_update_tag_set_check(Eddy__Tag *const *tags,
                                 size_t n,
                                 const Eddy__TagList *add,
                                 const Eddy__TagKeys *remove,
                                 bool *changes,
                                 size_t *bytes_after);
/* Apply a checked add or removal to the set *tags[0..*n_tags), allocating
 * with a. -ENOMEM with the set unchanged. */
int catalog_update_tag_set_add(Eddy__Tag ***tags,
                               size_t *n_tags,
                               const Eddy__TagList *l,
                               ProtobufCAllocator *a);
int catalog_update_tag_set_remove(Eddy__Tag ***tags,
                                  size_t *n_tags,
                                  const Eddy__TagKeys *l,
                                  ProtobufCAllocator *a);
bool catalog_update_tag_list_is_valid(const Eddy__TagList *l);
bool catalog_update_key_list_is_valid(const Eddy__TagKeys *l);
/* Replaces *field with a copy of value made with a ("" shares protobuf-c's
 * empty string). -ENOMEM with *field unchanged. */
int catalog_update_str_set(ProtobufCAllocator *a, char **field, const char *value);
/* The bytes of a consumer's tags and policy (part of its stream's
 * catalog_update_settings_bytes). */
size_t catalog_update_consumer_settings_bytes(const Eddy__ConsumerInfo *ci);

#endif
