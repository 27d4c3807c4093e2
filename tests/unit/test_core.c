/* Core utilities: error table, durations of the clock, log level names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

static void test_every_error_has_a_name_and_a_retry_class(void **state)
{
    (void)state;
    for (int e = 0; e < MTR_ERR__COUNT; e++) {
        assert_string_not_equal(mtr_err_name((mtr_err_t)e), "UNKNOWN");
        assert_non_null(mtr_err_str((mtr_err_t)e));
    }
    assert_true(mtr_err_is_retriable(MTR_ERR_THROTTLED));
    assert_true(mtr_err_is_retriable(MTR_ERR_TIMEOUT));
    assert_false(mtr_err_is_retriable(MTR_ERR_REJECTED));
    assert_string_equal(mtr_err_name((mtr_err_t)999), "UNKNOWN");
}

static void test_err_set_formats_and_returns_the_code(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(mtr_err_set(buf, sizeof buf, MTR_ERR_CONFIG, "bad %s", "key"), MTR_ERR_CONFIG);
    assert_string_equal(buf, "bad key");
    assert_int_equal(mtr_err_set(NULL, 0, MTR_ERR_IO, "ignored"), MTR_ERR_IO);
}

static void test_hour_floor_handles_boundaries_and_negative_times(void **state)
{
    (void)state;
    assert_int_equal(mtr_hour_floor_ms(0), 0);
    assert_int_equal(mtr_hour_floor_ms(MTR_MS_PER_HOUR - 1), 0);
    assert_int_equal(mtr_hour_floor_ms(MTR_MS_PER_HOUR), MTR_MS_PER_HOUR);
    assert_int_equal(mtr_hour_floor_ms(-1), -MTR_MS_PER_HOUR);
}

static void test_manual_clock_moves_only_when_advanced(void **state)
{
    (void)state;
    mtr_clock_t c;
    mtr_clock_manual_init(&c, 1000);
    assert_int_equal(mtr_clock_wall_ms(&c), 1000);
    mtr_clock_manual_advance(&c, 500);
    assert_int_equal(mtr_clock_wall_ms(&c), 1500);
    assert_int_equal(mtr_clock_monotonic_ms(&c), 500);
}

static void test_log_level_names_parse(void **state)
{
    (void)state;
    assert_int_equal(mtr_log_level_parse("warn"), MTR_LOG_WARN);
    assert_int_equal(mtr_log_level_parse("DEBUG"), MTR_LOG_DEBUG);
    assert_int_equal(mtr_log_level_parse("verbose"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_has_a_name_and_a_retry_class),
        cmocka_unit_test(test_err_set_formats_and_returns_the_code),
        cmocka_unit_test(test_hour_floor_handles_boundaries_and_negative_times),
        cmocka_unit_test(test_manual_clock_moves_only_when_advanced),
        cmocka_unit_test(test_log_level_names_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
