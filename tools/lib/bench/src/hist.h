/*
 * An HDR-style latency histogram: non-negative integer values (the bench
 * records microseconds) counted in log-spaced buckets. Values below
 * HIST_EXACT_MAX are kept exactly; above, every power of two is split into
 * HIST_SUB_BUCKETS linear buckets, so a reported value is within
 * 1/HIST_SUB_BUCKETS (0.8 %) of what was recorded, up to HIST_VALUE_MAX
 * (about 12.7 days in microseconds). Recording is O(1) with no allocation;
 * min, max, count and sum are exact. One histogram per thread: no locking.
 */
#ifndef EDDY_BENCH_HIST_H
#define EDDY_BENCH_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Linear buckets per power of two above the exact range (2^HIST_SUB_BITS). */
#define HIST_SUB_BITS 7
#define HIST_SUB_BUCKETS (1u << HIST_SUB_BITS)
/* Values below this are their own bucket (two sub-ranges' worth). */
#define HIST_EXACT_MAX (2u * HIST_SUB_BUCKETS)
/* Largest value kept apart; larger values land in the top bucket (max stays exact). */
#define HIST_VALUE_BITS 40
#define HIST_VALUE_MAX ((UINT64_C(1) << HIST_VALUE_BITS) - 1)
#define HIST_BUCKET_COUNT                                                                          \
    (HIST_EXACT_MAX + (HIST_VALUE_BITS - HIST_SUB_BITS - 1) * HIST_SUB_BUCKETS)

struct hist;

/* A new empty histogram (about 35 KiB), or NULL when out of memory. */
struct hist *hist_create(void);
void hist_destroy(struct hist *h);
void hist_reset(struct hist *h);

void hist_record(struct hist *h, uint64_t value);
/* Records value count times (count may be 0). */
void hist_record_n(struct hist *h, uint64_t value, uint64_t count);
/* Adds every count of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

uint64_t hist_count(const struct hist *h);
/* Exact smallest and largest recorded values; 0 when empty. */
uint64_t hist_min(const struct hist *h);
uint64_t hist_max(const struct hist *h);
/* Exact mean of the recorded values; 0 when empty. */
double hist_mean(const struct hist *h);
/* The value at percentile p (0..100, nearest rank): the highest value of
 * the bucket holding the ceil(p/100 * count)-th smallest record, capped at
 * the exact max; p = 0 gives the exact min and a rank of count the exact
 * max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);

/* The bucket a value falls in, and the lowest and highest values of a
 * bucket (i < HIST_BUCKET_COUNT). */
size_t hist_bucket_index(uint64_t value);
uint64_t hist_bucket_low(size_t i);
uint64_t hist_bucket_high(size_t i);

/* Walks the non-empty buckets in increasing order:
 *     struct hist_iter it; hist_iter_init(&it);
 *     while (hist_iter_next(h, &it)) { it.value_high, it.count, it.cumulative }
 */
struct hist_iter {
    size_t next;         /* the bucket to look at next */
    uint64_t value_high; /* the current bucket's highest value (capped at max) */
    uint64_t count;      /* records in the current bucket */
    uint64_t cumulative; /* records in it and every bucket below */
};
void hist_iter_init(struct hist_iter *it);
bool hist_iter_next(const struct hist *h, struct hist_iter *it);

#endif
