/*
 * The event-loop fixture of the RPC tests (test_rpc.c, test_rpc_probe.c):
 * one loop per test (setup/teardown close whatever a test leaves open) and
 * ways to run it until something happened or for a while. Header-only:
 * each test is an executable of its own, and the helpers are static inline
 * so that a test using only some of them builds without warnings.
 */
#ifndef EDDY_TEST_UV_LOOP_FIXTURE_H
#define EDDY_TEST_UV_LOOP_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

static uv_loop_t loop;

static inline void fixture_on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static inline void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
}

static inline void teardown(void)
{
    uv_walk(&loop, fixture_on_walk_close, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* Runs the loop until *flag, failing if it runs out of work first. */
static inline void run_until(const bool *flag)
{
    while (!*flag) {
        if (uv_run(&loop, UV_RUN_ONCE) == 0 && !*flag) {
            ck_abort_msg("loop ran dry");
        }
    }
}

/* A callback that sets the bool at arg. */
static inline void on_flag(void *arg)
{
    *(bool *)arg = true;
}

static inline void fixture_on_sleep_timer(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static inline void fixture_on_sleep_close(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

/* Runs the loop for ms (timers and I/O go on meanwhile). */
static inline void sleep_ms(uint64_t ms)
{
    uv_timer_t t;
    bool fired = false;
    bool closed = false;
    ck_assert_int_eq(uv_timer_init(&loop, &t), 0);
    t.data = &fired;
    ck_assert_int_eq(uv_timer_start(&t, fixture_on_sleep_timer, ms, 0), 0);
    run_until(&fired);
    t.data = &closed;
    uv_close((uv_handle_t *)&t, fixture_on_sleep_close);
    run_until(&closed);
}

#endif
