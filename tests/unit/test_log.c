/* The log's rate limiter (core/log.h) on a manual clock: `burst` lines per
 * interval get through, the rest are counted, and the next line let through
 * says how many were held back since the last one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "support_stderr.h"

static void test_repeats_are_held_back_and_counted_on_the_next_line(void **state)
{
    (void)state;
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, 1000000);
    mtr_log_limiter_t lim = MTR_LOG_LIMITER_INIT(2, 60000);
    lim.clock = &clock;
    stderr_capture_t cap;
    stderr_capture_begin(&cap);
    for (int i = 0; i < 7; i++)
        mtr_log_limited(&lim, MTR_LOG_WARN, "test", "bad event %d", i);
    mtr_clock_manual_advance(&clock, 59999); /* still the same interval */
    mtr_log_limited(&lim, MTR_LOG_WARN, "test", "bad event 7");
    mtr_clock_manual_advance(&clock, 1);
    mtr_log_limited(&lim, MTR_LOG_WARN, "test", "bad event 8");
    mtr_log_limited(&lim, MTR_LOG_WARN, "test", "bad event 9");
    mtr_log_limited(&lim, MTR_LOG_WARN, "test", "bad event 10");
    mtr_clock_manual_advance(&clock, 60000);
    mtr_log_limited(&lim, MTR_LOG_WARN, "test", "bad event 11");
    char *log = stderr_capture_end(&cap);
    assert_int_equal(stderr_lines_with(log, "test: bad event"), 5);
    assert_int_equal(stderr_lines_with(log, "bad event 0\n"), 1);
    assert_int_equal(stderr_lines_with(log, "bad event 1\n"), 1);
    assert_int_equal(stderr_lines_with(log, "bad event 2\n"), 0);
    assert_int_equal(
        stderr_lines_with(log, "bad event 8 (6 similar lines suppressed since the last one)"), 1);
    assert_int_equal(stderr_lines_with(log, "bad event 9\n"), 1);
    assert_int_equal(stderr_lines_with(log, "bad event 10"), 0);
    assert_int_equal(
        stderr_lines_with(log, "bad event 11 (1 similar line suppressed since the last one)"), 1);
    mtr_free(log);
}

static void test_lines_below_the_level_are_neither_shown_nor_counted(void **state)
{
    (void)state;
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, 0);
    mtr_log_limiter_t lim = MTR_LOG_LIMITER_INIT(1, 1000);
    lim.clock = &clock;
    stderr_capture_t cap;
    stderr_capture_begin(&cap);
    mtr_log_limited(&lim, MTR_LOG_DEBUG, "test", "chatter");
    mtr_log_limited(&lim, MTR_LOG_WARN, "test", "first");
    mtr_clock_manual_advance(&clock, 1000);
    mtr_log_limited(&lim, MTR_LOG_WARN, "test", "second");
    char *log = stderr_capture_end(&cap);
    assert_int_equal(stderr_lines_with(log, "chatter"), 0);
    assert_int_equal(stderr_lines_with(log, "suppressed"), 0);
    assert_int_equal(stderr_lines_with(log, "test: second"), 1);
    mtr_free(log);
}

int main(void)
{
    mtr_log_set_level(MTR_LOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_are_held_back_and_counted_on_the_next_line),
        cmocka_unit_test(test_lines_below_the_level_are_neither_shown_nor_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
