/*
 * Unit tests for server/shard_lease.c: the SubscribeToShard lease a shard
 * group leader keeps per (consumer, shard). Checks: ACQUIRE refused within
 * the holder's first 5 s and taking over after; a resent ACQUIRE; HOLD of a
 * superseded id refused, HOLD taking an empty key (a re-attach after a leader
 * change) with its age, later reads correcting a late start, and of two accepted subscriptions the
 * later one winning whichever re-attaches first; RELEASE only by the holder; what makes two keys
 * different; bad input; the bound (least recently seen key forgotten); dropping a group.
 */
#include "shard_lease.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct shard_lease *lease;

static void setup(void)
{
    shard_lease_create(&lease);
}

static void teardown(void)
{
    shard_lease_destroy(lease);
}

/* A read of consumer "c"@11 on stream "s"@7 shard 0 by subscription id. */
static Eddy__ReadReq req_of(uint64_t id, Eddy__Lease op, uint64_t age_ms)
{
    Eddy__ReadReq r = EDDY__READ_REQ__INIT;
    r.stream = (char *)"s";
    r.stream_created_ms = 7;
    r.shard = 0;
    r.consumer = (char *)"c";
    r.consumer_created_ms = 11;
    r.subscription_id = id;
    r.lease = op;
    r.subscription_age_ms = age_ms;
    return r;
}

static uint64_t holder;
static bool changed;

static int check(uint32_t group, const Eddy__ReadReq *r, uint64_t now_ms)
{
    return shard_lease_check(lease, group, r, now_ms, &holder, &changed);
}

static int acquire(uint64_t id, uint64_t now_ms)
{
    Eddy__ReadReq r = req_of(id, EDDY__LEASE__LEASE_ACQUIRE, 0);
    return check(1, &r, now_ms);
}

static int hold(uint64_t id, uint64_t age_ms, uint64_t now_ms)
{
    Eddy__ReadReq r = req_of(id, EDDY__LEASE__LEASE_HOLD, age_ms);
    return check(1, &r, now_ms);
}

static int release(uint64_t id, uint64_t now_ms)
{
    Eddy__ReadReq r = req_of(id, EDDY__LEASE__LEASE_RELEASE, 0);
    return check(1, &r, now_ms);
}

START_TEST(test_shard_lease_acquire_in_use_then_takeover)
{
    const uint64_t t0 = 100000;
    ck_assert_int_eq(acquire(1, t0), 0);
    ck_assert_uint_eq(holder, 1);
    ck_assert(changed);
    ck_assert_uint_eq(shard_lease_count(lease), 1);
    /* Within 5 s of its start another subscription is refused... */
    ck_assert_int_eq(acquire(2, t0 + KIN_SUBSCRIBE_TAKEOVER_MS - 1), -EDDY_EINUSE);
    ck_assert_uint_eq(holder, 1);
    ck_assert(!changed);
    /* ...the same one resent is not, and keeps its start. */
    ck_assert_int_eq(acquire(1, t0 + 4000), 0);
    ck_assert(!changed);
    ck_assert_int_eq(hold(1, 4000, t0 + 4000), 0);
    ck_assert(!changed);
    /* At 5 s it takes over. */
    ck_assert_int_eq(acquire(2, t0 + KIN_SUBSCRIBE_TAKEOVER_MS), 0);
    ck_assert_uint_eq(holder, 2);
    ck_assert(changed);
    /* The old one's next read is refused; the new one's goes on. */
    ck_assert_int_eq(hold(1, 6000, t0 + 6000), -EDDY_ESUPERSEDED);
    ck_assert_uint_eq(holder, 2);
    ck_assert_int_eq(hold(2, 1000, t0 + 6000), 0);
    ck_assert(!changed);
    /* A third one within 5 s of the second's start: refused. */
    ck_assert_int_eq(acquire(3, t0 + 9000), -EDDY_EINUSE);
    ck_assert_uint_eq(shard_lease_count(lease), 1);
}
END_TEST

START_TEST(test_shard_lease_release_by_holder_only)
{
    ck_assert_int_eq(acquire(1, 1000), 0);
    ck_assert_int_eq(acquire(2, 7000), 0); /* takes over */
    ck_assert_int_eq(release(1, 7100), 0); /* the old one ending: nothing changes */
    ck_assert(!changed);
    ck_assert_uint_eq(holder, 2);
    ck_assert_int_eq(acquire(3, 7200), -EDDY_EINUSE);
    ck_assert_int_eq(release(2, 7300), 0);
    ck_assert(changed);
    ck_assert_uint_eq(holder, 0);
    ck_assert_uint_eq(shard_lease_count(lease), 0);
    /* Free again: a new subscription needs no takeover. */
    ck_assert_int_eq(acquire(3, 7400), 0);
    ck_assert_uint_eq(holder, 3);
    ck_assert_int_eq(release(9, 7500), 0); /* an unknown id */
    ck_assert(!changed);
    ck_assert_uint_eq(shard_lease_count(lease), 1);
}
END_TEST

START_TEST(test_shard_lease_reattach_after_leader_change)
{
    /* A new leader's table is empty: the holder's next read takes the key
     * with its age, so the 5 s count from its real start. */
    const uint64_t now = 50000;
    ck_assert_int_eq(hold(1, 3000, now), 0);
    ck_assert_uint_eq(holder, 1);
    ck_assert(changed);
    ck_assert_int_eq(acquire(2, now + 1999), -EDDY_EINUSE);
    ck_assert_int_eq(acquire(2, now + 2000), 0);
    ck_assert_uint_eq(holder, 2);
}
END_TEST

START_TEST(test_shard_lease_late_start_corrected)
{
    /* The re-attaching read was built at age 1000 and resent for 1500 ms:
     * the start it gives is 1500 ms late; the next read, built at once,
     * brings it back; a later, staler one does not move it. */
    const uint64_t now = 50000;
    ck_assert_int_eq(hold(1, 1000, now), 0);
    ck_assert_int_eq(hold(1, 2500, now), 0);
    ck_assert(!changed);
    ck_assert_int_eq(hold(1, 2000, now + 100), 0);
    ck_assert_int_eq(acquire(2, now + 2499), -EDDY_EINUSE);
    ck_assert_int_eq(acquire(2, now + 2500), 0);
}
END_TEST

START_TEST(test_shard_lease_later_subscription_wins_reattach)
{
    /* Old subscription 1 (started 20 s ago) was taken over by 2 (started 2 s
     * ago) on the old leader; 1 never saw its refusal. Whichever re-attaches
     * first, 2 ends up holding and 1 is refused. */
    const uint64_t now = 80000;
    ck_assert_int_eq(hold(1, 20000, now), 0);
    ck_assert_uint_eq(holder, 1);
    ck_assert_int_eq(hold(2, 2000, now + 10), 0);
    ck_assert_uint_eq(holder, 2);
    ck_assert(changed);
    ck_assert_int_eq(hold(1, 20020, now + 20), -EDDY_ESUPERSEDED);
    ck_assert_uint_eq(holder, 2);
    /* The other order. */
    shard_lease_drop_group(lease, 1);
    ck_assert_int_eq(hold(2, 2100, now + 100), 0);
    ck_assert_int_eq(hold(1, 20100, now + 100), -EDDY_ESUPERSEDED);
    ck_assert_uint_eq(holder, 2);
}
END_TEST

START_TEST(test_shard_lease_keys_are_distinct)
{
    ck_assert_int_eq(acquire(1, 1000), 0);
    Eddy__ReadReq r = req_of(2, EDDY__LEASE__LEASE_ACQUIRE, 0);
    r.shard = 1;
    ck_assert_int_eq(check(1, &r, 1001), 0);
    r = req_of(3, EDDY__LEASE__LEASE_ACQUIRE, 0);
    r.consumer = (char *)"d";
    ck_assert_int_eq(check(1, &r, 1002), 0);
    r = req_of(4, EDDY__LEASE__LEASE_ACQUIRE, 0);
    r.consumer_created_ms = 12; /* the consumer registered again */
    ck_assert_int_eq(check(1, &r, 1003), 0);
    r = req_of(5, EDDY__LEASE__LEASE_ACQUIRE, 0);
    r.stream_created_ms = 8; /* the stream created again */
    ck_assert_int_eq(check(1, &r, 1004), 0);
    r = req_of(6, EDDY__LEASE__LEASE_ACQUIRE, 0);
    r.stream = (char *)"t";
    ck_assert_int_eq(check(1, &r, 1005), 0);
    r = req_of(7, EDDY__LEASE__LEASE_ACQUIRE, 0);
    ck_assert_int_eq(check(2, &r, 1006), 0); /* another group */
    ck_assert_uint_eq(shard_lease_count(lease), 7);
    ck_assert_int_eq(acquire(8, 1007), -EDDY_EINUSE); /* the first key is still 1's */
    shard_lease_drop_group(lease, 1);
    ck_assert_uint_eq(shard_lease_count(lease), 1);
    ck_assert_int_eq(acquire(8, 1008), 0);
}
END_TEST

START_TEST(test_shard_lease_bad_input)
{
    Eddy__ReadReq r = req_of(0, EDDY__LEASE__LEASE_ACQUIRE, 0);
    ck_assert_int_eq(check(1, &r, 1), -EDDY_EINVAL); /* id 0 */
    r = req_of(1, EDDY__LEASE__LEASE_HOLD, 0);
    r.consumer = (char *)"";
    ck_assert_int_eq(check(1, &r, 1), -EDDY_EINVAL);
    r.consumer = NULL;
    ck_assert_int_eq(check(1, &r, 1), -EDDY_EINVAL);
    char longname[KIN_CONSUMER_NAME_LEN_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    r = req_of(1, EDDY__LEASE__LEASE_HOLD, 0);
    r.consumer = longname;
    ck_assert_int_eq(check(1, &r, 1), -EDDY_EINVAL);
    longname[KIN_CONSUMER_NAME_LEN_MAX] = '\0'; /* at the limit: fine */
    ck_assert_int_eq(check(1, &r, 1), 0);
    r = req_of(2, EDDY__LEASE__LEASE_HOLD, 0);
    r.stream = longname;
    longname[KIN_CONSUMER_NAME_LEN_MAX] = 'x';
    ck_assert_int_eq(check(1, &r, 1), -EDDY_EINVAL);
    r = req_of(2, (Eddy__Lease)77, 0);
    ck_assert_int_eq(check(1, &r, 1), -EDDY_EINVAL);
    /* Not a subscription's read: nothing to check, nothing kept. */
    r = req_of(0, EDDY__LEASE__LEASE_NONE, 0);
    r.consumer = NULL;
    ck_assert_int_eq(check(1, &r, 1), 0);
    ck_assert(!changed);
    ck_assert_uint_eq(shard_lease_count(lease), 1);
    /* An age past the leader's clock counts from its zero. */
    r = req_of(3, EDDY__LEASE__LEASE_HOLD, UINT64_MAX);
    r.shard = 9;
    ck_assert_int_eq(check(1, &r, 10), 0);
}
END_TEST

START_TEST(test_shard_lease_bound_forgets_least_recently_seen)
{
    static_assert(SHARD_LEASE_MAX < KIN_SUBSCRIBE_TAKEOVER_MS - 100,
                  "one key a ms, all within 5 s");
    char names[16];
    Eddy__ReadReq r = req_of(1, EDDY__LEASE__LEASE_ACQUIRE, 0);
    r.consumer = names;
    for (unsigned i = 0; i < SHARD_LEASE_MAX; i++) {
        snprintf(names, sizeof(names), "c%u", i);
        r.subscription_id = i + 1;
        ck_assert_int_eq(check(1, &r, 100000 + i), 0);
    }
    ck_assert_uint_eq(shard_lease_count(lease), SHARD_LEASE_MAX);
    /* c0 is seen again; c1 is now the least recently seen. */
    snprintf(names, sizeof(names), "c0");
    r.subscription_id = 1;
    r.lease = EDDY__LEASE__LEASE_HOLD;
    ck_assert_int_eq(check(1, &r, 104100), 0);
    snprintf(names, sizeof(names), "new");
    r.subscription_id = 99999;
    r.lease = EDDY__LEASE__LEASE_ACQUIRE;
    ck_assert_int_eq(check(1, &r, 104101), 0);
    ck_assert_uint_eq(shard_lease_count(lease), SHARD_LEASE_MAX);
    /* c0 is still held (refused within 5 s); c1 was forgotten. */
    snprintf(names, sizeof(names), "c0");
    r.subscription_id = 5;
    ck_assert_int_eq(check(1, &r, 104102), -EDDY_EINUSE);
    snprintf(names, sizeof(names), "c1");
    ck_assert_int_eq(check(1, &r, 104103), 0);
    ck_assert(changed);
}
END_TEST

static Suite *shard_lease_suite(void)
{
    Suite *s = suite_create("shard_lease");
    TCase *tc = tcase_create("lease");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shard_lease_acquire_in_use_then_takeover);
    tcase_add_test(tc, test_shard_lease_release_by_holder_only);
    tcase_add_test(tc, test_shard_lease_reattach_after_leader_change);
    tcase_add_test(tc, test_shard_lease_late_start_corrected);
    tcase_add_test(tc, test_shard_lease_later_subscription_wins_reattach);
    tcase_add_test(tc, test_shard_lease_keys_are_distinct);
    tcase_add_test(tc, test_shard_lease_bad_input);
    tcase_add_test(tc, test_shard_lease_bound_forgets_least_recently_seen);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shard_lease_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
