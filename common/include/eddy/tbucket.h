/*
 * Token buckets: the rate limits of Eddy (per-shard write and read limits on
 * the shard group leader, server/throttle.h; per-operation call rates on the
 * gateway, server/gateway/ratelimit.h).
 *
 * A bucket holds up to rate->burst units and refills at rate->per_s units a
 * second, continuously (to the millisecond). Tokens are kept in thousandths
 * of a unit so a refill of a few milliseconds is never rounded away. A rate
 * of 0 units a second is no limit at all: every take succeeds and charges
 * nothing. The functions are pure: the caller passes the clock (a monotonic
 * time in ms, e.g. uv_now), so tests drive them with a fake one.
 *
 * A bounded table (tbucket_table) keeps the buckets of many keys (a shard, a
 * stream, an operation): a fixed number of slots, set-associative, where a
 * new key takes the least recently used slot of its set. An evicted key
 * comes back with full buckets, which forgets at most a burst's worth of its
 * history: it only happens when more keys than TBUCKET_WAYS hashed to one
 * set are busy at once.
 */
#ifndef EDDY_TBUCKET_H
#define EDDY_TBUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rates and bursts above this are refused by their configuration (the
 * arithmetic in thousandths of a unit stays far from int64 overflow). */
#define TBUCKET_UNITS_MAX 1000000000000ULL
/* Slots of a set of a tbucket_table. */
#define TBUCKET_WAYS 8

/* per_s: units refilled a second, 0 for no limit. burst: the most a bucket
 * holds (what can be taken at once after a pause), at least 1 when limited. */
struct tbucket_rate {
    uint64_t per_s;
    uint64_t burst;
};

struct tbucket {
    int64_t milli;     /* tokens x 1000; negative: a debt being paid back */
    uint64_t stamp_ms; /* the time milli was brought up to date */
};

/* The rate of per_s a second whose bucket holds burst_ms worth of it (at
 * least one unit). per_s 0: no limit. */
struct tbucket_rate tbucket_rate_make(uint64_t per_s, uint64_t burst_ms);
bool tbucket_rate_is_limited(const struct tbucket_rate *r);

/* A full bucket at now_ms. */
void tbucket_init(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms);
/* Brings b up to now_ms. A clock that went backwards refills nothing. */
void tbucket_refill(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms);
/* Whole tokens in b at now_ms (negative while in debt). */
int64_t tbucket_tokens(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms);
/* Whether amount units can be taken at now_ms: the bucket holds them, or it
 * is full (an amount larger than the burst passes alone and leaves a debt,
 * so it is not refused forever). Always true without a limit. */
bool tbucket_can_take(struct tbucket *b,
                      const struct tbucket_rate *r,
                      uint64_t amount,
                      uint64_t now_ms);
/* Whether the bucket holds more than nothing at now_ms (a debt is paid). */
bool tbucket_is_positive(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms);
/* Takes amount units (at most TBUCKET_UNITS_MAX), into debt if need be. */
void tbucket_take(struct tbucket *b,
                  const struct tbucket_rate *r,
                  uint64_t amount,
                  uint64_t now_ms);

/* ---- a bounded table of keyed buckets ---- */

struct tbucket_table;

/* A table of at least slots keys (rounded up to a power of two, at least
 * TBUCKET_WAYS), each with width buckets. Freed by tbucket_table_destroy. */
struct tbucket_table *tbucket_table_create(size_t slots, unsigned width);
void tbucket_table_destroy(struct tbucket_table *t);
/* The width buckets of key, borrowed until the next call on the table. A
 * key not in the table gets a slot (evicting the least recently used key of
 * its set) with every bucket full for rates[i] at now_ms. Never NULL. */
struct tbucket *tbucket_table_get(struct tbucket_table *t,
                                  uint64_t key,
                                  const struct tbucket_rate *rates,
                                  uint64_t now_ms);
/* Keys in the table (for tests and metrics). */
size_t tbucket_table_count(const struct tbucket_table *t);

/* FNV-1a over len bytes, continuing from hash (start with TBUCKET_KEY_SEED). */
#define TBUCKET_KEY_SEED 0xcbf29ce484222325ULL
uint64_t tbucket_key_add(uint64_t hash, const void *data, size_t len);

#endif
