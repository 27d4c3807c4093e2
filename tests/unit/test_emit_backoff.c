/* Retry backoff (full jitter, cap, injectable randomness) and request
 * pacing (token bucket on a manual clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "emit/backoff.h"
#include "emit/pacer.h"

static uint64_t fixed_rng(void *ctx)
{
    return *(uint64_t *)ctx;
}

static void test_backoff_ceiling_doubles_up_to_the_cap(void **state)
{
    (void)state;
    mtr_emit_backoff_t b;
    mtr_emit_backoff_init(&b, 100, 1000, NULL, NULL, 1);
    assert_int_equal(mtr_emit_backoff_ceiling_ms(&b, 1), 100);
    assert_int_equal(mtr_emit_backoff_ceiling_ms(&b, 2), 200);
    assert_int_equal(mtr_emit_backoff_ceiling_ms(&b, 4), 800);
    assert_int_equal(mtr_emit_backoff_ceiling_ms(&b, 5), 1000);
    assert_int_equal(mtr_emit_backoff_ceiling_ms(&b, 1000000), 1000);
}

static void test_backoff_delay_spans_zero_to_the_ceiling_with_injected_randomness(void **state)
{
    (void)state;
    uint64_t r = 0;
    mtr_emit_backoff_t b;
    mtr_emit_backoff_init(&b, 100, 1000, fixed_rng, &r, 0);
    assert_int_equal(mtr_emit_backoff_delay_ms(&b, 3), 0);
    r = 400; /* 400 % 401 */
    assert_int_equal(mtr_emit_backoff_delay_ms(&b, 3), 400);
    r = 401 + 17;
    assert_int_equal(mtr_emit_backoff_delay_ms(&b, 3), 17);
    r = UINT64_MAX;
    assert_true(mtr_emit_backoff_delay_ms(&b, 30) <= 1000);
}

static void test_backoff_builtin_jitter_stays_in_range_and_varies(void **state)
{
    (void)state;
    mtr_emit_backoff_t b;
    mtr_emit_backoff_init(&b, 50, 5000, NULL, NULL, 42);
    int64_t lo = INT64_MAX, hi = -1;
    for (int i = 0; i < 2000; i++) {
        int64_t d = mtr_emit_backoff_delay_ms(&b, 4); /* ceiling 400 */
        assert_true(d >= 0 && d <= 400);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* Full jitter covers the whole range, not a narrow band. */
    assert_true(lo < 40);
    assert_true(hi > 360);
}

static void test_pacer_at_10_per_second_takes_at_least_9_9_seconds_for_100_calls(void **state)
{
    (void)state;
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, 0);
    mtr_emit_pacer_t p;
    mtr_emit_pacer_init(&p, &clock, 10, 1);
    int64_t start = mtr_clock_monotonic_ms(&clock);
    for (int call = 0; call < 100; call++) {
        int64_t wait;
        while ((wait = mtr_emit_pacer_try_acquire(&p)) > 0)
            mtr_clock_manual_advance(&clock, wait);
    }
    int64_t elapsed = mtr_clock_monotonic_ms(&clock) - start;
    assert_true(elapsed >= 9900);
    assert_true(elapsed <= 10000); /* and no slower than the rate allows */
}

static void test_pacer_burst_lets_calls_through_at_once_then_paces(void **state)
{
    (void)state;
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, 0);
    mtr_emit_pacer_t p;
    mtr_emit_pacer_init(&p, &clock, 10, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(mtr_emit_pacer_try_acquire(&p), 0);
    /* 10 calls/s are spread over 1001 ms of clock readings (pacer.c), so
     * the next token is 100.1 ms away: 101 whole milliseconds. */
    int64_t wait = mtr_emit_pacer_try_acquire(&p);
    assert_int_equal(wait, 101);
    mtr_clock_manual_advance(&clock, 100);
    assert_true(mtr_emit_pacer_try_acquire(&p) > 0);
    mtr_clock_manual_advance(&clock, 1);
    assert_int_equal(mtr_emit_pacer_try_acquire(&p), 0);
    /* A long quiet spell refills the bucket to the burst, not beyond. */
    mtr_clock_manual_advance(&clock, 60000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(mtr_emit_pacer_try_acquire(&p), 0);
    assert_true(mtr_emit_pacer_try_acquire(&p) > 0);
}

static void test_pacer_off_never_waits(void **state)
{
    (void)state;
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, 0);
    mtr_emit_pacer_t p;
    mtr_emit_pacer_init(&p, &clock, 0, 1);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(mtr_emit_pacer_try_acquire(&p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_ceiling_doubles_up_to_the_cap),
        cmocka_unit_test(test_backoff_delay_spans_zero_to_the_ceiling_with_injected_randomness),
        cmocka_unit_test(test_backoff_builtin_jitter_stays_in_range_and_varies),
        cmocka_unit_test(test_pacer_at_10_per_second_takes_at_least_9_9_seconds_for_100_calls),
        cmocka_unit_test(test_pacer_burst_lets_calls_through_at_once_then_paces),
        cmocka_unit_test(test_pacer_off_never_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
