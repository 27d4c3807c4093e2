/* Rounding with remainder carry: per mode, the billed units plus the carry
 * always equal the true total, so nothing is lost or invented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "aggregate/rounding.h"

#define U 1000000LL

static void expect_series(mtr_rounding_t mode, const int64_t *micro, const int64_t *units,
                          const int64_t *carry, size_t n)
{
    mtr_agg_carry_t c = {0};
    for (size_t i = 0; i < n; i++) {
        int64_t u = -1;
        assert_int_equal(mtr_agg_round(mode, micro[i], &c, &u, NULL, 0), MTR_OK);
        assert_int_equal(u, units[i]);
        assert_int_equal(c.micro, carry[i]);
    }
}

static void test_down_carries_the_fraction_forward(void **state)
{
    (void)state;
    const int64_t m[] = {400000, 400000, 400000, 2 * U, 0};
    const int64_t u[] = {0, 0, 1, 2, 0};
    const int64_t c[] = {400000, 800000, 200000, 200000, 200000};
    expect_series(MTR_ROUND_DOWN, m, u, c, 5);
}

static void test_up_bills_ahead_and_carries_a_negative_remainder(void **state)
{
    (void)state;
    /* 0.4 bills 1 (carry -0.6); the next 0.6 is already paid; 0.4 bills 1. */
    const int64_t m[] = {400000, 600000, 400000, 0, 3 * U};
    const int64_t u[] = {1, 0, 1, 0, 3};
    const int64_t c[] = {-600000, 0, -600000, -600000, -600000};
    expect_series(MTR_ROUND_UP, m, u, c, 5);
}

static void test_nearest_rounds_half_up_and_carries_both_ways(void **state)
{
    (void)state;
    /* 0.5 -> 1 (carry -0.5); 0.4 - 0.5 = -0.1 -> 0; 1.4 - 0.1 = 1.3 -> 1
     * (carry 0.3); 0.3 + 0.3 = 0.6 -> 1 (carry -0.4). */
    const int64_t m[] = {500000, 400000, 1400000, 300000};
    const int64_t u[] = {1, 0, 1, 1};
    const int64_t c[] = {-500000, -100000, 300000, -400000};
    expect_series(MTR_ROUND_NEAREST, m, u, c, 4);
    mtr_agg_carry_t k = {0};
    int64_t units, billed = 0, truth = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mtr_agg_round(MTR_ROUND_NEAREST, m[i], &k, &units, NULL, 0), MTR_OK);
        billed += units;
        truth += m[i];
        assert_true(k.micro >= -U / 2 && k.micro < U / 2);
        assert_int_equal(billed * U + k.micro, truth);
    }
    assert_int_equal(billed, 3); /* 2.6 units in total, rounded once -> 3 */
}

static void test_billed_plus_carry_equals_truth_for_long_random_runs(void **state)
{
    (void)state;
    uint64_t x = 99;
    for (int mode = MTR_ROUND_UP; mode <= MTR_ROUND_NEAREST; mode++) {
        mtr_agg_carry_t c = {0};
        int64_t billed = 0, truth = 0;
        for (int i = 0; i < 100000; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int64_t m = (int64_t)((x >> 33) % (3 * U));
            if ((x >> 20) % 4 == 0)
                m = 0;
            int64_t units;
            assert_int_equal(mtr_agg_round((mtr_rounding_t)mode, m, &c, &units, NULL, 0), MTR_OK);
            assert_true(units >= 0);
            assert_true(c.micro > -U && c.micro < U);
            billed += units;
            truth += m;
            assert_int_equal(billed * U + c.micro, truth);
        }
    }
}

static void test_bad_inputs_are_errors_and_leave_the_carry(void **state)
{
    (void)state;
    mtr_agg_carry_t c = {123};
    int64_t units = 7;
    char err[128];
    assert_int_equal(mtr_agg_round(MTR_ROUND_UP, -1, &c, &units, err, sizeof err),
                     MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "negative"));
    assert_int_equal(mtr_agg_round((mtr_rounding_t)9, 1, &c, &units, err, sizeof err),
                     MTR_ERR_INVALID_ARG);
    c.micro = U;
    assert_int_equal(mtr_agg_round(MTR_ROUND_UP, 1, &c, &units, err, sizeof err),
                     MTR_ERR_INVALID_ARG);
    c.micro = 999999;
    assert_int_equal(mtr_agg_round(MTR_ROUND_DOWN, INT64_MAX, &c, &units, err, sizeof err),
                     MTR_ERR_OVERFLOW);
    assert_int_equal(c.micro, 999999);
    assert_int_equal(units, 7);
    /* A negative carry under "down" (the rule changed): bills 0, keeps it. */
    c.micro = -600000;
    assert_int_equal(mtr_agg_round(MTR_ROUND_DOWN, 100000, &c, &units, NULL, 0), MTR_OK);
    assert_int_equal(units, 0);
    assert_int_equal(c.micro, -500000);
    /* Large sums round without overflow. */
    c.micro = 0;
    assert_int_equal(mtr_agg_round(MTR_ROUND_NEAREST, INT64_MAX - 400000, &c, &units, NULL, 0),
                     MTR_OK);
    assert_int_equal(units * U + c.micro, INT64_MAX - 400000);
    /* ...and a sum that would round past INT64_MAX is an error, not a wrap. */
    c.micro = 0;
    assert_int_equal(mtr_agg_round(MTR_ROUND_NEAREST, INT64_MAX - 10, &c, &units, NULL, 0),
                     MTR_ERR_OVERFLOW);
    assert_int_equal(c.micro, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_down_carries_the_fraction_forward),
        cmocka_unit_test(test_up_bills_ahead_and_carries_a_negative_remainder),
        cmocka_unit_test(test_nearest_rounds_half_up_and_carries_both_ways),
        cmocka_unit_test(test_billed_plus_carry_equals_truth_for_long_random_runs),
        cmocka_unit_test(test_bad_inputs_are_errors_and_leave_the_carry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
