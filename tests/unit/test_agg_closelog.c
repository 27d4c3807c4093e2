/* The close log: order rules, "closed as of offset", trimming to what a
 * replay needs, and the v1 text form (round trip, 512-byte bound, garbage
 * rejected without crashing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "aggregate/closelog.h"
#include "core/clock.h"

#define H(n) (1764151200000LL + (int64_t)(n)*MTR_MS_PER_HOUR)

static void test_append_keeps_hour_order_and_merges_same_offset(void **state)
{
    (void)state;
    mtr_agg_closelog_t log;
    mtr_agg_closelog_init(&log);
    char err[256];
    assert_int_equal(mtr_agg_closelog_append(&log, H(0), 100, err, sizeof err), MTR_OK);
    assert_int_equal(mtr_agg_closelog_append(&log, H(0), 120, err, sizeof err), MTR_ERR_STATE);
    assert_non_null(strstr(err, "hour order"));
    assert_int_equal(mtr_agg_closelog_append(&log, H(1), 90, err, sizeof err), MTR_ERR_STATE);
    assert_int_equal(mtr_agg_closelog_append(&log, H(0) + 5, 200, err, sizeof err),
                     MTR_ERR_INVALID_ARG);
    assert_int_equal(mtr_agg_closelog_append(&log, H(1), 100, err, sizeof err), MTR_OK);
    assert_int_equal(log.n, 1); /* H(0) and H(1) closed at the same offset */
    assert_int_equal(log.items[0].hour_ms, H(1));
    assert_int_equal(mtr_agg_closelog_append(&log, H(3), 150, err, sizeof err), MTR_OK);
    assert_int_equal(log.n, 2);
    mtr_agg_closelog_free(&log);
}

static void test_closed_through_is_the_last_close_at_or_before_the_offset(void **state)
{
    (void)state;
    mtr_agg_closelog_t log;
    mtr_agg_closelog_init(&log);
    assert_int_equal(mtr_agg_closelog_closed_through(&log, 1000), MTR_AGG_NO_HOUR);
    mtr_agg_closelog_append(&log, H(0), 10, NULL, 0);
    mtr_agg_closelog_append(&log, H(1), 20, NULL, 0);
    mtr_agg_closelog_append(&log, H(4), 35, NULL, 0);
    assert_int_equal(mtr_agg_closelog_closed_through(&log, 9), MTR_AGG_NO_HOUR);
    assert_int_equal(mtr_agg_closelog_closed_through(&log, 10), H(0));
    assert_int_equal(mtr_agg_closelog_closed_through(&log, 19), H(0));
    assert_int_equal(mtr_agg_closelog_closed_through(&log, 20), H(1));
    assert_int_equal(mtr_agg_closelog_closed_through(&log, 34), H(1));
    assert_int_equal(mtr_agg_closelog_closed_through(&log, 35), H(4));
    assert_int_equal(mtr_agg_closelog_last_hour(&log), H(4));
    mtr_agg_closelog_free(&log);
}

static void test_trim_keeps_the_entry_in_force_at_the_commit_offset(void **state)
{
    (void)state;
    mtr_agg_closelog_t log;
    mtr_agg_closelog_init(&log);
    for (int i = 0; i < 6; i++)
        mtr_agg_closelog_append(&log, H(i), 10 * (i + 1), NULL, 0);
    mtr_agg_closelog_trim(&log, 35); /* entries at 10,20,30 <= 35: keep 30 onwards */
    assert_int_equal(log.n, 4);
    assert_int_equal(log.items[0].offset, 30);
    for (int64_t o = 35; o < 80; o++) /* the answer for every replayed offset is unchanged */
        assert_int_equal(mtr_agg_closelog_closed_through(&log, o), o >= 60   ? H(5)
                                                                   : o >= 50 ? H(4)
                                                                   : o >= 40 ? H(3)
                                                                             : H(2));
    mtr_agg_closelog_trim(&log, 5); /* nothing below: no change */
    assert_int_equal(log.n, 4);
    mtr_agg_closelog_free(&log);
}

static void test_text_form_round_trips(void **state)
{
    (void)state;
    mtr_agg_closelog_t log, back;
    mtr_agg_closelog_init(&log);
    char buf[MTR_AGG_CLOSELOG_TEXT_MAX], err[256];
    assert_int_equal(mtr_agg_closelog_format(&log, buf, sizeof buf, err, sizeof err), MTR_OK);
    assert_string_equal(buf, "v1;");
    mtr_agg_closelog_append(&log, H(0), 1200, NULL, 0);
    mtr_agg_closelog_append(&log, H(1), 1257, NULL, 0);
    mtr_agg_closelog_append(&log, H(4), 9000000000LL, NULL, 0);
    assert_int_equal(mtr_agg_closelog_format(&log, buf, sizeof buf, err, sizeof err), MTR_OK);
    char expect[64];
    snprintf(expect, sizeof expect, "v1;%lld@1200,1@57,3@8999998743",
             (long long)(H(0) / MTR_MS_PER_HOUR));
    assert_string_equal(buf, expect);
    assert_int_equal(mtr_agg_closelog_parse(buf, strlen(buf), &back, err, sizeof err), MTR_OK);
    assert_int_equal(back.n, 3);
    assert_memory_equal(back.items, log.items, 3 * sizeof *log.items);
    mtr_agg_closelog_free(&back);
    assert_int_equal(mtr_agg_closelog_parse(NULL, 0, &back, err, sizeof err), MTR_OK);
    assert_int_equal(back.n, 0);
    mtr_agg_closelog_free(&back);
    mtr_agg_closelog_free(&log);
}

static void test_text_form_never_exceeds_512_bytes(void **state)
{
    (void)state;
    mtr_agg_closelog_t log;
    mtr_agg_closelog_init(&log);
    char buf[4096], err[256];
    int i = 0;
    for (;; i++) {
        mtr_agg_closelog_append(&log, H(i), 1000000000LL * (i + 1), NULL, 0);
        mtr_err_t e = mtr_agg_closelog_format(&log, buf, sizeof buf, err, sizeof err);
        if (e != MTR_OK) {
            assert_int_equal(e, MTR_ERR_OVERFLOW);
            assert_non_null(strstr(err, "trim"));
            break;
        }
        assert_true(strlen(buf) < MTR_AGG_CLOSELOG_TEXT_MAX);
    }
    assert_true(i > 20); /* a useful number of entries fits */
    mtr_agg_closelog_free(&log);
}

static void expect_parse_error(const char *text)
{
    mtr_agg_closelog_t log;
    char err[256] = "";
    assert_int_equal(mtr_agg_closelog_parse(text, strlen(text), &log, err, sizeof err),
                     MTR_ERR_PARSE);
    assert_true(strlen(err) > 0);
    assert_int_equal(log.n, 0);
    mtr_agg_closelog_free(&log);
}

static void test_garbage_is_a_parse_error(void **state)
{
    (void)state;
    const char *bad[] = {"v2;1@1",
                         "x",
                         "v1",
                         "v1;1",
                         "v1;1@",
                         "v1;@5",
                         "v1;1@5,",
                         "v1;1@5,0@1",
                         "v1;1@5,-1@1",
                         "v1;1@-5",
                         "v1;1@5;2@6",
                         "v1;99999999999999999999@1",
                         "v1;1@99999999999999999999",
                         "v1;1@9223372036854775807,1@1",
                         "v1;3000000000000000@1",
                         "v1; 1@5",
                         "v1;1@5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_parse_error(bad[i]);
    /* Random bytes and every truncation of a valid text: errors or valid
     * logs, never a crash (the sanitizer build checks the memory side). */
    const char *good = "v1;490000@1200,1@57,3@0";
    for (size_t n = 0; n <= strlen(good); n++) {
        mtr_agg_closelog_t log;
        mtr_agg_closelog_parse(good, n, &log, NULL, 0);
        mtr_agg_closelog_free(&log);
    }
    uint64_t x = 7;
    char junk[64];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(x % sizeof junk);
        for (size_t k = 0; k < n; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            const char alphabet[] = "v1;@,-0123456789x";
            junk[k] = (x >> 60) < 2 ? (char)(x >> 33) : alphabet[(x >> 33) % (sizeof alphabet - 1)];
        }
        if (n >= 3 && round % 2)
            memcpy(junk, "v1;", 3);
        mtr_agg_closelog_t log;
        if (mtr_agg_closelog_parse(junk, n, &log, NULL, 0) == MTR_OK)
            for (size_t k = 1; k < log.n; k++) /* whatever parses is a valid log */
                assert_true(log.items[k].hour_ms > log.items[k - 1].hour_ms &&
                            log.items[k].offset > log.items[k - 1].offset);
        mtr_agg_closelog_free(&log);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_keeps_hour_order_and_merges_same_offset),
        cmocka_unit_test(test_closed_through_is_the_last_close_at_or_before_the_offset),
        cmocka_unit_test(test_trim_keeps_the_entry_in_force_at_the_commit_offset),
        cmocka_unit_test(test_text_form_round_trips),
        cmocka_unit_test(test_text_form_never_exceeds_512_bytes),
        cmocka_unit_test(test_garbage_is_a_parse_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
