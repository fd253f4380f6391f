/*
 * Unit tests for common/rlog_budget.c. A small model of canonical/raft
 * 0.15's snapshot policy drives it: after each apply round raft snapshots
 * when last_applied - snapshot_index >= threshold and no snapshot is being
 * stored; the snapshot is stored `delay` rounds later, and raft then keeps
 * the `trailing` entries up to it. The model's in-memory log is the sum of
 * the entries it keeps.
 */
#include "rlog_budget.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_ENTRIES_MAX 40000

struct model {
    struct rlog_budget b;
    uint32_t sizes[MODEL_ENTRIES_MAX + 1]; /* by index */
    uint64_t last_applied;
    uint64_t snap_index; /* raft's log.snapshot.last_index */
    uint64_t first_kept; /* first index still in memory */
    unsigned threshold;
    unsigned trailing;
    uint64_t pending_index; /* being stored, 0: none */
    unsigned pending_rounds;
    unsigned delay; /* rounds a snapshot takes to store */
    unsigned snapshots;
    uint64_t log_bytes_max_seen;
};

static struct model *model_create(uint64_t log_max, uint64_t trailing_max, unsigned delay)
{
    struct model *m = calloc(1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    rlog_budget_init(&m->b, log_max, trailing_max, 4);
    m->threshold = RLOG_BUDGET_THRESHOLD_IDLE;
    m->first_kept = 1;
    m->delay = delay;
    return m;
}

static uint64_t model_memory(const struct model *m)
{
    uint64_t sum = 0;
    for (uint64_t i = m->first_kept; i <= m->last_applied; i++) {
        sum += m->sizes[i];
    }
    return sum;
}

/* One apply round of the given entry sizes (0 stands for an entry the FSM
 * never sees, such as a barrier), then raft's checks. */
static void model_round(struct model *m, const uint32_t *bytes, size_t n)
{
    if (m->pending_index != 0 && --m->pending_rounds == 0) {
        m->snap_index = m->pending_index;
        m->first_kept = m->snap_index > m->trailing ? m->snap_index - m->trailing + 1 : 1;
        m->pending_index = 0;
    }
    for (size_t k = 0; k < n; k++) {
        uint64_t index = ++m->last_applied;
        ck_assert_uint_le(index, MODEL_ENTRIES_MAX);
        m->sizes[index] = bytes[k];
        if (bytes[k] != 0) {
            m->threshold = rlog_budget_applied(&m->b, index, bytes[k], m->snap_index);
        }
    }
    uint64_t mem = model_memory(m);
    if (mem > m->log_bytes_max_seen) {
        m->log_bytes_max_seen = mem;
    }
    if (m->pending_index == 0 && m->last_applied - m->snap_index >= m->threshold) {
        m->trailing = rlog_budget_snapshot(&m->b, m->last_applied);
        m->pending_index = m->last_applied;
        m->pending_rounds = m->delay + 1;
        m->snapshots++;
    }
}

static void model_apply_each(struct model *m, unsigned count, uint32_t bytes)
{
    for (unsigned i = 0; i < count; i++) {
        model_round(m, &bytes, 1);
    }
}

START_TEST(test_rlog_budget_threshold_idle_under_budget)
{
    struct rlog_budget b;
    rlog_budget_init(&b, 1000, 500, 4);
    for (uint64_t i = 1; i <= 9; i++) {
        ck_assert_uint_eq(rlog_budget_applied(&b, i, 100, 0), RLOG_BUDGET_THRESHOLD_IDLE);
    }
    ck_assert_uint_eq(rlog_budget_log_bytes(&b), 900);
    /* The tenth reaches the budget: snapshot at once (10 entries past 0). */
    ck_assert_uint_eq(rlog_budget_applied(&b, 10, 100, 0), 10);
    ck_assert_uint_eq(rlog_budget_applied(&b, 11, 100, 0), 11);
}
END_TEST

START_TEST(test_rlog_budget_threshold_min_entries)
{
    struct rlog_budget b;
    rlog_budget_init(&b, 1000, 500, 4);
    /* One entry over the whole budget still waits for threshold_min. */
    ck_assert_uint_eq(rlog_budget_applied(&b, 1, 5000, 0), 4);
}
END_TEST

START_TEST(test_rlog_budget_books_follow_stored_snapshot)
{
    struct rlog_budget b;
    rlog_budget_init(&b, 1000, 250, 1);
    for (uint64_t i = 1; i <= 10; i++) {
        rlog_budget_applied(&b, i, 100, 0);
    }
    /* Taken at 10 but still being stored: the books keep counting from 0. */
    ck_assert_uint_eq(rlog_budget_snapshot(&b, 10), RAFT_SNAPSHOT_TRAILING_MIN);
    rlog_budget_applied(&b, 11, 100, 0);
    ck_assert_uint_eq(rlog_budget_log_bytes(&b), 1100);
    /* Stored: only entry 11 and 12 are after it. */
    ck_assert_uint_eq(rlog_budget_applied(&b, 12, 100, 10), RLOG_BUDGET_THRESHOLD_IDLE);
    ck_assert_uint_eq(rlog_budget_log_bytes(&b), 200);
}
END_TEST

START_TEST(test_rlog_budget_restored_snapshot_resets)
{
    struct rlog_budget b;
    rlog_budget_init(&b, 1000, 250, 1);
    for (uint64_t i = 1; i <= 8; i++) {
        rlog_budget_applied(&b, i, 100, 0);
    }
    /* A snapshot installed from the leader at 500 (or loaded at start):
     * nothing recorded lies after it. */
    rlog_budget_applied(&b, 501, 300, 500);
    ck_assert_uint_eq(rlog_budget_log_bytes(&b), 300);
    /* A snapshot taken here and never stored does not move the books. */
    rlog_budget_snapshot(&b, 501);
    rlog_budget_applied(&b, 502, 100, 500);
    ck_assert_uint_eq(rlog_budget_log_bytes(&b), 400);
}
END_TEST

START_TEST(test_rlog_budget_trailing_in_bytes)
{
    struct rlog_budget b;
    rlog_budget_init(&b, 1u << 30, 1000, 1);
    for (uint64_t i = 1; i <= 100; i++) {
        rlog_budget_applied(&b, i, 10, 0);
    }
    for (uint64_t i = 101; i <= 103; i++) {
        rlog_budget_applied(&b, i, 300, 0);
    }
    for (uint64_t i = 104; i <= 113; i++) {
        rlog_budget_applied(&b, i, 10, 0);
    }
    /* Newest first: ten of 10 and three of 300 make 1000; one more would
     * not fit. */
    ck_assert_uint_eq(rlog_budget_snapshot(&b, 113), 13);
}
END_TEST

START_TEST(test_rlog_budget_trailing_bounds)
{
    struct rlog_budget b;
    rlog_budget_init(&b, 1u << 30, 1u << 30, 1);
    /* Tiny entries: at most the ring. */
    for (uint64_t i = 1; i <= 3000; i++) {
        rlog_budget_applied(&b, i, 1, 0);
    }
    ck_assert_uint_eq(rlog_budget_snapshot(&b, 3000), RLOG_BUDGET_RING);
    /* Huge entries: at least RAFT_SNAPSHOT_TRAILING_MIN. */
    rlog_budget_init(&b, 1u << 30, 1000, 1);
    for (uint64_t i = 1; i <= 10; i++) {
        rlog_budget_applied(&b, i, 5000, 0);
    }
    ck_assert_uint_eq(rlog_budget_snapshot(&b, 10), RAFT_SNAPSHOT_TRAILING_MIN);
    /* Entries before the first recorded one (loaded at start) are not kept
     * on its account. */
    rlog_budget_init(&b, 1u << 30, 1u << 30, 1);
    for (uint64_t i = 2001; i <= 2010; i++) {
        rlog_budget_applied(&b, i, 1, 2000);
    }
    ck_assert_uint_eq(rlog_budget_snapshot(&b, 2010), 10);
}
END_TEST

START_TEST(test_rlog_budget_gaps_count_empty)
{
    struct rlog_budget b;
    rlog_budget_init(&b, 1u << 30, 1000, 1);
    rlog_budget_applied(&b, 1, 400, 0);
    rlog_budget_applied(&b, 5, 400, 0); /* 2..4: barriers */
    /* A barrier applied last (6) and the gap are empty: 400 + 0*4 + 400 fit,
     * and the next entry back would not exist. */
    ck_assert_uint_eq(rlog_budget_snapshot(&b, 6), 6);
    /* A gap longer than the ring clears it. */
    rlog_budget_applied(&b, 5000, 400, 0);
    ck_assert_uint_eq(rlog_budget_snapshot(&b, 5000), 1 + 1023);
}
END_TEST

/* The case a mean entry size got wrong: many small entries, then large
 * ones, then small again. The in-memory log must stay within the budget
 * plus the trailing budget plus what one round and the store delay add. */
static void check_phases(unsigned delay, unsigned per_round)
{
    const uint64_t log_max = 256 * 1024;
    const uint64_t trailing_max = 64 * 1024;
    struct model *m = model_create(log_max, trailing_max, delay);
    uint32_t round[64];
    for (unsigned phase = 0; phase < 3; phase++) {
        uint32_t size = phase == 1 ? 16 * 1024 : 72;
        unsigned rounds = phase == 1 ? 600 : 8000 / per_round;
        for (unsigned k = 0; k < per_round; k++) {
            round[k] = size;
        }
        for (unsigned r = 0; r < rounds; r++) {
            model_round(m, round, per_round);
        }
    }
    uint64_t slack = (uint64_t)(delay + 1) * per_round * 16 * 1024;
    ck_assert_uint_le(m->log_bytes_max_seen, log_max + trailing_max + slack);
    ck_assert_uint_gt(m->snapshots, 10);
    free(m);
}

START_TEST(test_rlog_budget_phases_stay_bounded)
{
    check_phases(0, 1);
    check_phases(3, 1);
    check_phases(2, 8);
}
END_TEST

START_TEST(test_rlog_budget_barriers_only)
{
    struct model *m = model_create(1000, 500, 0);
    uint32_t zero = 0;
    for (int i = 0; i < 100; i++) {
        model_round(m, &zero, 1);
    }
    ck_assert_uint_eq(m->snapshots, 0); /* no payload, no snapshot needed */
    model_apply_each(m, 20, 100);
    ck_assert_uint_gt(m->snapshots, 0);
    free(m);
}
END_TEST

static Suite *rlog_budget_suite(void)
{
    Suite *s = suite_create("rlog_budget");
    TCase *t = tcase_create("budget");
    tcase_set_timeout(t, 10);
    tcase_add_test(t, test_rlog_budget_threshold_idle_under_budget);
    tcase_add_test(t, test_rlog_budget_threshold_min_entries);
    tcase_add_test(t, test_rlog_budget_books_follow_stored_snapshot);
    tcase_add_test(t, test_rlog_budget_restored_snapshot_resets);
    tcase_add_test(t, test_rlog_budget_trailing_in_bytes);
    tcase_add_test(t, test_rlog_budget_trailing_bounds);
    tcase_add_test(t, test_rlog_budget_gaps_count_empty);
    tcase_add_test(t, test_rlog_budget_phases_stay_bounded);
    tcase_add_test(t, test_rlog_budget_barriers_only);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rlog_budget_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
