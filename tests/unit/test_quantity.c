/* Fixed-point quantities: exact decimal parsing, overflow detection,
 * formatting and the close-time rounding rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/quantity.h"

static mtr_quantity_status_t parse(const char *s, int64_t *out)
{
    return mtr_quantity_parse(s, strlen(s), out);
}

static void test_parse_accepts_integers_decimals_and_exponents_exactly(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t micro;
    } cases[] = {
        {"0", 0},
        {"-0", 0},
        {"0.0", 0},
        {"3", 3000000},
        {"0.5", 500000},
        {"1.25", 1250000},
        {"0.000001", 1},
        {"0.1000000", 100000}, /* zeros past the 6th place are harmless */
        {"1.0000000000000", 1000000},
        {"1e3", 1000000000},
        {"1.5E+2", 150000000},
        {"25e-6", 25},
        {"0e999999999999", 0},
        {"1000000e-6", 1000000},
        {"9223372036854.775807", INT64_MAX},
        {"123456789012.345678", 123456789012345678LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = -1;
        mtr_quantity_status_t st = parse(cases[i].text, &v);
        if (st != MTR_QUANTITY_OK || v != cases[i].micro)
            fail_msg("%s: status %s value %lld, want %lld", cases[i].text,
                     mtr_quantity_status_name(st), (long long)v, (long long)cases[i].micro);
    }
}

static void test_parse_rejects_bad_syntax_precision_sign_and_overflow(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        mtr_quantity_status_t want;
    } cases[] = {
        {"", MTR_QUANTITY_SYNTAX},
        {"-", MTR_QUANTITY_SYNTAX},
        {"abc", MTR_QUANTITY_SYNTAX},
        {"NaN", MTR_QUANTITY_SYNTAX},
        {"Infinity", MTR_QUANTITY_SYNTAX},
        {"1.", MTR_QUANTITY_SYNTAX},
        {".5", MTR_QUANTITY_SYNTAX},
        {"01", MTR_QUANTITY_SYNTAX},
        {"+1", MTR_QUANTITY_SYNTAX},
        {"1e", MTR_QUANTITY_SYNTAX},
        {"1e+", MTR_QUANTITY_SYNTAX},
        {" 1", MTR_QUANTITY_SYNTAX},
        {"1 ", MTR_QUANTITY_SYNTAX},
        {"0x10", MTR_QUANTITY_SYNTAX},
        {"1,5", MTR_QUANTITY_SYNTAX},
        {"-1", MTR_QUANTITY_NEGATIVE},
        {"-0.000001", MTR_QUANTITY_NEGATIVE},
        {"-1e400", MTR_QUANTITY_NEGATIVE},
        {"0.1234567", MTR_QUANTITY_PRECISION},
        {"1e-7", MTR_QUANTITY_PRECISION},
        {"2500e-9", MTR_QUANTITY_PRECISION},
        {"0.00000010", MTR_QUANTITY_PRECISION},
        {"9223372036854.775808", MTR_QUANTITY_OVERFLOW},
        {"9223372036855", MTR_QUANTITY_OVERFLOW},
        {"1e13", MTR_QUANTITY_OVERFLOW},
        {"1e400", MTR_QUANTITY_OVERFLOW},
        {"1e99999999999999999999", MTR_QUANTITY_OVERFLOW},
        {"123456789012345678901234567890", MTR_QUANTITY_OVERFLOW},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 42;
        mtr_quantity_status_t st = parse(cases[i].text, &v);
        if (st != cases[i].want)
            fail_msg("\"%s\": status %s, want %s", cases[i].text, mtr_quantity_status_name(st),
                     mtr_quantity_status_name(cases[i].want));
        assert_int_equal(v, 42); /* untouched on failure */
    }
}

static void test_parse_reads_only_the_given_length(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(mtr_quantity_parse("1.25xyz", 3, &v), MTR_QUANTITY_OK);
    assert_int_equal(v, 1200000);
}

static void test_ten_times_point_one_sums_to_exactly_one(void **state)
{
    (void)state;
    int64_t sum = 0, v;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(parse("0.1", &v), MTR_QUANTITY_OK);
        assert_true(mtr_quantity_add(sum, v, &sum));
    }
    assert_int_equal(sum, MTR_QUANTITY_SCALE);
    /* and 0.1 + 0.2 is 0.3, which doubles famously miss */
    int64_t a, b, c;
    parse("0.1", &a);
    parse("0.2", &b);
    parse("0.3", &c);
    assert_int_equal(a + b, c);
}

static void test_add_detects_overflow_and_leaves_the_sum(void **state)
{
    (void)state;
    int64_t out = 7;
    assert_false(mtr_quantity_add(INT64_MAX, 1, &out));
    assert_int_equal(out, 7);
    assert_false(mtr_quantity_add(INT64_MIN, -1, &out));
    assert_true(mtr_quantity_add(INT64_MAX - 1, 1, &out));
    assert_int_equal(out, INT64_MAX);
}

static void test_format_writes_shortest_decimal(void **state)
{
    (void)state;
    char buf[MTR_QUANTITY_FORMAT_MAX];
    static const struct {
        int64_t micro;
        const char *text;
    } cases[] = {
        {0, "0"},
        {1, "0.000001"},
        {1250000, "1.25"},
        {3000000, "3"},
        {-500000, "-0.5"},
        {INT64_MAX, "9223372036854.775807"},
        {INT64_MIN, "-9223372036854.775808"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = mtr_quantity_format(cases[i].micro, buf, sizeof buf);
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(n, strlen(cases[i].text));
    }
    /* and it round-trips through the parser */
    int64_t v;
    mtr_quantity_format(123456789, buf, sizeof buf);
    assert_int_equal(parse(buf, &v), MTR_QUANTITY_OK);
    assert_int_equal(v, 123456789);
}

static void test_round_splits_units_and_carry_without_losing_any(void **state)
{
    (void)state;
    static const struct {
        int64_t total;
        mtr_rounding_t rule;
        int64_t units, rem;
    } cases[] = {
        {2500000, MTR_ROUND_UP, 3, -500000},
        {2500000, MTR_ROUND_DOWN, 2, 500000},
        {2500000, MTR_ROUND_NEAREST, 3, -500000},
        {2499999, MTR_ROUND_NEAREST, 2, 499999},
        {3000000, MTR_ROUND_UP, 3, 0},
        {0, MTR_ROUND_UP, 0, 0},
        {-500000, MTR_ROUND_UP, 0, -500000}, /* a carried credit is not billed */
        {-500000, MTR_ROUND_DOWN, -1, 500000},
        {1, MTR_ROUND_UP, 1, -999999},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t u, r;
        mtr_quantity_round(cases[i].total, cases[i].rule, &u, &r);
        if (u != cases[i].units || r != cases[i].rem)
            fail_msg("case %zu: %lld -> %lld units + %lld, want %lld + %lld", i,
                     (long long)cases[i].total, (long long)u, (long long)r,
                     (long long)cases[i].units, (long long)cases[i].rem);
        assert_int_equal(u * MTR_QUANTITY_SCALE + r, cases[i].total);
    }
}

static void test_round_carry_over_hours_bills_the_exact_total(void **state)
{
    (void)state;
    /* 0.4 a hour for 10 hours, rounded up each hour with the carry: the
     * units billed over the 10 hours equal ceil(4.0) = 4, not 10. */
    int64_t carry = 0, billed = 0;
    for (int h = 0; h < 10; h++) {
        int64_t u;
        mtr_quantity_round(400000 + carry, MTR_ROUND_UP, &u, &carry);
        billed += u;
    }
    assert_int_equal(billed * MTR_QUANTITY_SCALE + carry, 4 * MTR_QUANTITY_SCALE);
    assert_int_equal(billed, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_integers_decimals_and_exponents_exactly),
        cmocka_unit_test(test_parse_rejects_bad_syntax_precision_sign_and_overflow),
        cmocka_unit_test(test_parse_reads_only_the_given_length),
        cmocka_unit_test(test_ten_times_point_one_sums_to_exactly_one),
        cmocka_unit_test(test_add_detects_overflow_and_leaves_the_sum),
        cmocka_unit_test(test_format_writes_shortest_decimal),
        cmocka_unit_test(test_round_splits_units_and_carry_without_losing_any),
        cmocka_unit_test(test_round_carry_over_hours_bills_the_exact_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
