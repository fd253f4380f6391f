/* Token buckets and their bounded keyed table: see eddy/tbucket.h. */
#include "eddy/tbucket.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"

#include <string.h>

static_assert(TBUCKET_UNITS_MAX <= INT64_MAX / 4000, "milli-units of a burst plus a debt fit");

struct tbucket_table {
    size_t slot_count; /* a power of two, a multiple of TBUCKET_WAYS */
    unsigned width;
    uint64_t *keys;
    uint64_t *used_ms; /* last tbucket_table_get of the slot's key */
    bool *is_used;
    struct tbucket *buckets; /* width per slot */
    size_t count;
};

struct tbucket_rate tbucket_rate_make(uint64_t per_s, uint64_t burst_ms)
{
    EDDY_ASSERT(per_s <= TBUCKET_UNITS_MAX);
    struct tbucket_rate r = {.per_s = per_s, .burst = 0};
    if (per_s > 0) {
        /* per_s * burst_ms / 1000 without overflow: burst_ms is bounded by
         * its configuration, but divide first when the product is large. */
        uint64_t burst =
            per_s > UINT64_MAX / (burst_ms + 1) ? per_s / 1000 * burst_ms : per_s * burst_ms / 1000;
        r.burst = burst == 0 ? 1 : (burst > TBUCKET_UNITS_MAX ? TBUCKET_UNITS_MAX : burst);
    }
    return r;
}

bool tbucket_rate_is_limited(const struct tbucket_rate *r)
{
    return r->per_s > 0;
}

static int64_t tbucket_capacity_milli(const struct tbucket_rate *r)
{
    return (int64_t)r->burst * 1000;
}

void tbucket_init(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms)
{
    b->milli = tbucket_capacity_milli(r);
    b->stamp_ms = now_ms;
}

void tbucket_refill(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms)
{
    if (!tbucket_rate_is_limited(r)) {
        return;
    }
    if (now_ms <= b->stamp_ms) {
        return; /* same millisecond, or a clock that went backwards */
    }
    int64_t cap = tbucket_capacity_milli(r);
    uint64_t elapsed_ms = now_ms - b->stamp_ms;
    b->stamp_ms = now_ms;
    if (b->milli >= cap) {
        b->milli = cap;
        return;
    }
    /* per_s units a second are per_s milli-units a millisecond. */
    uint64_t missing = (uint64_t)(cap - b->milli);
    if (elapsed_ms >= missing / r->per_s + 1) {
        b->milli = cap;
        return;
    }
    b->milli += (int64_t)(elapsed_ms * r->per_s);
    if (b->milli > cap) {
        b->milli = cap;
    }
    EDDY_ASSERT(b->milli <= cap);
}

int64_t tbucket_tokens(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms)
{
    tbucket_refill(b, r, now_ms);
    return b->milli / 1000;
}

bool tbucket_can_take(struct tbucket *b,
                      const struct tbucket_rate *r,
                      uint64_t amount,
                      uint64_t now_ms)
{
    if (!tbucket_rate_is_limited(r)) {
        return true;
    }
    EDDY_ASSERT(amount <= TBUCKET_UNITS_MAX);
    tbucket_refill(b, r, now_ms);
    return b->milli >= (int64_t)amount * 1000 || b->milli >= tbucket_capacity_milli(r);
}

bool tbucket_is_positive(struct tbucket *b, const struct tbucket_rate *r, uint64_t now_ms)
{
    if (!tbucket_rate_is_limited(r)) {
        return true;
    }
    tbucket_refill(b, r, now_ms);
    return b->milli > 0;
}

void tbucket_take(struct tbucket *b, const struct tbucket_rate *r, uint64_t amount, uint64_t now_ms)
{
    if (!tbucket_rate_is_limited(r)) {
        return;
    }
    EDDY_ASSERT(amount <= TBUCKET_UNITS_MAX);
    tbucket_refill(b, r, now_ms);
    /* Callers take only after tbucket_can_take or tbucket_is_positive said
     * yes, so a debt is at most one amount; the floor only keeps a caller
     * that takes blindly within int64. */
    int64_t floor = -3 * (int64_t)TBUCKET_UNITS_MAX * 1000;
    b->milli -= (int64_t)amount * 1000;
    if (b->milli < floor) {
        b->milli = floor;
    }
}

/* ---- the table ---- */

struct tbucket_table *tbucket_table_create(size_t slots, unsigned width)
{
    EDDY_ASSERT(width >= 1);
    size_t n = TBUCKET_WAYS;
    while (n < slots) {
        EDDY_ASSERT(n <= SIZE_MAX / 2);
        n *= 2;
    }
    struct tbucket_table *t = eddy_xcalloc(1, sizeof(*t));
    t->slot_count = n;
    t->width = width;
    t->keys = eddy_xcalloc(n, sizeof(*t->keys));
    t->used_ms = eddy_xcalloc(n, sizeof(*t->used_ms));
    t->is_used = eddy_xcalloc(n, sizeof(*t->is_used));
    t->buckets = eddy_xcalloc(n * width, sizeof(*t->buckets));
    return t;
}

void tbucket_table_destroy(struct tbucket_table *t)
{
    if (t == NULL) {
        return;
    }
    eddy_free(t->keys);
    eddy_free(t->used_ms);
    eddy_free(t->is_used);
    eddy_free(t->buckets);
    eddy_free(t);
}

/* Spreads the key's bits over the set index (FNV keys vary mostly low). */
static size_t tbucket_table_set(const struct tbucket_table *t, uint64_t key)
{
    uint64_t h = key ^ (key >> 29);
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    size_t sets = t->slot_count / TBUCKET_WAYS;
    return (size_t)(h & (sets - 1)) * TBUCKET_WAYS;
}

struct tbucket *tbucket_table_get(struct tbucket_table *t,
                                  uint64_t key,
                                  const struct tbucket_rate *rates,
                                  uint64_t now_ms)
{
    size_t first = tbucket_table_set(t, key);
    size_t victim = first;
    for (size_t i = first; i < first + TBUCKET_WAYS; i++) {
        if (t->is_used[i] && t->keys[i] == key) {
            t->used_ms[i] = now_ms;
            return &t->buckets[i * t->width];
        }
        if (!t->is_used[i]) {
            if (t->is_used[victim]) {
                victim = i; /* a free slot beats any eviction */
            }
        } else if (t->is_used[victim] && t->used_ms[i] < t->used_ms[victim]) {
            victim = i;
        }
    }
    if (!t->is_used[victim]) {
        t->count++;
    }
    t->is_used[victim] = true;
    t->keys[victim] = key;
    t->used_ms[victim] = now_ms;
    struct tbucket *b = &t->buckets[victim * t->width];
    for (unsigned k = 0; k < t->width; k++) {
        tbucket_init(&b[k], &rates[k], now_ms);
    }
    EDDY_ASSERT(t->count <= t->slot_count);
    return b;
}

size_t tbucket_table_count(const struct tbucket_table *t)
{
    return t->count;
}

uint64_t tbucket_key_add(uint64_t hash, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}
