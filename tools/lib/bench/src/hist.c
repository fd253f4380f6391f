/*
 * The log-bucketed histogram of hist.h. Bucket layout: index v for
 * v < HIST_EXACT_MAX; above, the power of two [2^e, 2^(e+1)) (e >= 8) is
 * split into HIST_SUB_BUCKETS buckets of width 2^(e - HIST_SUB_BITS), which
 * follow each other in increasing e. Owned by its creator; no I/O.
 */
#include "hist.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"

#include <math.h>
#include <string.h>

static_assert(HIST_EXACT_MAX == 2 * HIST_SUB_BUCKETS, "the exact range is two sub-ranges");
static_assert(HIST_VALUE_BITS < 64, "values and shifts fit in 64 bits");

/* The first power of two past the exact range. */
#define HIST_FIRST_EXP (HIST_SUB_BITS + 1)

struct hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t buckets[HIST_BUCKET_COUNT];
};

struct hist *hist_create(void)
{
    struct hist *h = eddy_malloc(sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    hist_reset(h);
    return h;
}

void hist_destroy(struct hist *h)
{
    eddy_free(h);
}

void hist_reset(struct hist *h)
{
    EDDY_ASSERT(h != NULL);
    memset(h, 0, sizeof(*h));
}

size_t hist_bucket_index(uint64_t value)
{
    if (value > HIST_VALUE_MAX) {
        value = HIST_VALUE_MAX;
    }
    if (value < HIST_EXACT_MAX) {
        return (size_t)value;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = e - HIST_SUB_BITS;
    uint64_t sub = (value >> shift) - HIST_SUB_BUCKETS;
    size_t i = HIST_EXACT_MAX + (size_t)(e - HIST_FIRST_EXP) * HIST_SUB_BUCKETS + (size_t)sub;
    EDDY_ASSERT(i < HIST_BUCKET_COUNT);
    return i;
}

uint64_t hist_bucket_low(size_t i)
{
    EDDY_ASSERT(i < HIST_BUCKET_COUNT);
    if (i < HIST_EXACT_MAX) {
        return i;
    }
    size_t octave = (i - HIST_EXACT_MAX) / HIST_SUB_BUCKETS;
    size_t sub = (i - HIST_EXACT_MAX) % HIST_SUB_BUCKETS;
    unsigned shift = (unsigned)octave + HIST_FIRST_EXP - HIST_SUB_BITS;
    return (uint64_t)(HIST_SUB_BUCKETS + sub) << shift;
}

uint64_t hist_bucket_high(size_t i)
{
    EDDY_ASSERT(i < HIST_BUCKET_COUNT);
    if (i < HIST_EXACT_MAX) {
        return i;
    }
    size_t octave = (i - HIST_EXACT_MAX) / HIST_SUB_BUCKETS;
    unsigned shift = (unsigned)octave + HIST_FIRST_EXP - HIST_SUB_BITS;
    return hist_bucket_low(i) + (UINT64_C(1) << shift) - 1;
}

void hist_record_n(struct hist *h, uint64_t value, uint64_t count)
{
    EDDY_ASSERT(h != NULL);
    if (count == 0) {
        return;
    }
    if (h->count == 0 || value < h->min) {
        h->min = value;
    }
    if (value > h->max) {
        h->max = value;
    }
    h->count += count;
    h->sum += (double)value * (double)count;
    h->buckets[hist_bucket_index(value)] += count;
}

void hist_record(struct hist *h, uint64_t value)
{
    hist_record_n(h, value, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    EDDY_ASSERT(dst != NULL);
    EDDY_ASSERT(src != NULL);
    if (src->count == 0) {
        return;
    }
    if (dst->count == 0 || src->min < dst->min) {
        dst->min = src->min;
    }
    if (src->max > dst->max) {
        dst->max = src->max;
    }
    dst->count += src->count;
    dst->sum += src->sum;
    for (size_t i = 0; i < HIST_BUCKET_COUNT; i++) {
        dst->buckets[i] += src->buckets[i];
    }
}

uint64_t hist_count(const struct hist *h)
{
    return h->count;
}

uint64_t hist_min(const struct hist *h)
{
    return h->min;
}

uint64_t hist_max(const struct hist *h)
{
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count == 0 ? 0.0 : h->sum / (double)h->count;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    EDDY_ASSERT(h != NULL);
    EDDY_ASSERT(p >= 0.0 && p <= 100.0);
    if (h->count == 0) {
        return 0;
    }
    if (p == 0.0) {
        return h->min;
    }
    /* Nearest rank, computed so that 99.9 of 1000 is rank 999, not 1000. */
    double exact = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)ceil(exact - 1e-9);
    if (rank < 1) {
        rank = 1;
    }
    if (rank >= h->count) {
        return h->max; /* the largest record is known exactly */
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKET_COUNT; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            return v < h->max ? v : h->max;
        }
    }
    EDDY_ASSERT(!"counts add up to count");
    return h->max;
}

void hist_iter_init(struct hist_iter *it)
{
    memset(it, 0, sizeof(*it));
}

bool hist_iter_next(const struct hist *h, struct hist_iter *it)
{
    EDDY_ASSERT(h != NULL);
    EDDY_ASSERT(it != NULL);
    while (it->next < HIST_BUCKET_COUNT) {
        size_t i = it->next++;
        if (h->buckets[i] == 0) {
            continue;
        }
        uint64_t v = hist_bucket_high(i);
        it->value_high = v < h->max ? v : h->max;
        it->count = h->buckets[i];
        it->cumulative += h->buckets[i];
        return true;
    }
    return false;
}
