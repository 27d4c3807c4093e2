/* The RFC 4180 reader (core/csv.h): quoting, line ends, the header, and an
 * error that names the line for every malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/csv.h"

static bool parse(const char *text, mtr_csv_t *csv, char *err)
{
    return mtr_csv_parse(text, strlen(text), csv, err, 256);
}

static void test_quoted_fields_keep_commas_quotes_and_line_breaks(void **state)
{
    (void)state;
    mtr_csv_t csv;
    char err[256];
    assert_true(parse("customer,Note\r\n"
                      "\"a,b\",\"say \"\"hi\"\"\"\r\n"
                      "c,\"two\nlines\"\n"
                      "\n"
                      "d,\n",
                      &csv, err));
    assert_int_equal(csv.n_cols, 2);
    assert_int_equal(csv.n_rows, 3);
    assert_string_equal(csv.rows[0][0], "a,b");
    assert_string_equal(csv.rows[0][1], "say \"hi\"");
    assert_string_equal(csv.rows[1][1], "two\nlines");
    assert_string_equal(csv.rows[2][1], "");
    assert_int_equal(csv.line_of[2], 6); /* the quoted line break counts */
    assert_int_equal(mtr_csv_column(&csv, "note"), 1);
    assert_int_equal(mtr_csv_column(&csv, "price"), -1);
    mtr_csv_free(&csv);
}

static void test_a_last_line_without_its_end_is_read(void **state)
{
    (void)state;
    mtr_csv_t csv;
    char err[256];
    assert_true(parse("a,b\n1,2", &csv, err));
    assert_int_equal(csv.n_rows, 1);
    assert_string_equal(csv.rows[0][1], "2");
    mtr_csv_free(&csv);
}

static void test_malformed_files_name_the_line_and_the_fix(void **state)
{
    (void)state;
    mtr_csv_t csv;
    char err[256];
    assert_false(parse("a,b\n1,2\n3,4,5\n", &csv, err));
    assert_non_null(strstr(err, "line 3 has 3 field(s) but the header names 2"));
    assert_non_null(strstr(err, "quote fields"));
    assert_false(parse("a,b\n\"open,2\n", &csv, err));
    assert_non_null(strstr(err, "line 2: a quoted field is never closed"));
    assert_false(parse("", &csv, err));
    assert_non_null(strstr(err, "first line must name the columns"));
    assert_false(mtr_csv_read("/nonexistent/file.csv", &csv, err, sizeof err));
    assert_non_null(strstr(err, "cannot open /nonexistent/file.csv"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoted_fields_keep_commas_quotes_and_line_breaks),
        cmocka_unit_test(test_a_last_line_without_its_end_is_read),
        cmocka_unit_test(test_malformed_files_name_the_line_and_the_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
