/* The window rules one by one: watermark, effective hour of late and
 * out-of-order events, the close decision (watermarks, idle partitions
 * caught up + wall clock, partitions that already closed the hour), hour
 * order, the commit offset and the skip rule after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregate/window.h"
#include "core/clock.h"

#define H(n)     (1764151200000LL + (int64_t)(n)*MTR_MS_PER_HOUR)
#define MIN      60000LL
#define LATENESS (5 * MIN)

static void test_watermark_is_max_event_time_minus_lateness(void **state)
{
    (void)state;
    mtr_agg_partition_t p;
    mtr_agg_partition_init(&p, 0, 0, NULL);
    int64_t e;
    assert_int_equal(mtr_agg_watermark(&p, LATENESS), MTR_AGG_NO_TIME);
    mtr_agg_partition_observe(&p, H(0) + 30 * MIN, 0, &e);
    assert_int_equal(mtr_agg_watermark(&p, LATENESS), H(0) + 25 * MIN);
    mtr_agg_partition_observe(&p, H(0) + 10 * MIN, 1, &e); /* out of order: no step back */
    assert_int_equal(mtr_agg_watermark(&p, LATENESS), H(0) + 25 * MIN);
    assert_int_equal(e, H(0));
    assert_int_equal(p.position, 2);
    mtr_agg_partition_free(&p);
}

static void test_late_event_folds_into_oldest_open_hour_by_offset(void **state)
{
    (void)state;
    mtr_agg_partition_t p;
    mtr_agg_partition_init(&p, 0, 0, NULL);
    int64_t e;
    assert_int_equal(mtr_agg_partition_observe(&p, H(0) + 5 * MIN, 0, &e), MTR_AGG_ADD);
    assert_int_equal(mtr_agg_partition_observe(&p, H(1) + 10 * MIN, 1, &e), MTR_AGG_ADD);
    assert_int_equal(e, H(1));
    mtr_agg_partition_close(&p, H(0)); /* closes at position 2 */
    assert_int_equal(p.log.n, 1);
    assert_int_equal(p.log.items[0].offset, 2);
    /* An event of hour 0 arriving after the close counts in hour 1. */
    assert_int_equal(mtr_agg_partition_observe(&p, H(0) + 50 * MIN, 2, &e), MTR_AGG_ADD);
    assert_int_equal(e, H(1));
    /* The rule looks at the offset: the same event at offset 1 (before the
     * close) keeps its own hour. */
    assert_int_equal(mtr_agg_effective_hour(&p.log, H(0) + 50 * MIN, 1), H(0));
    assert_int_equal(mtr_agg_effective_hour(&p.log, H(3), 2), H(3));
    mtr_agg_partition_free(&p);
}

static void test_close_waits_for_every_partition_watermark(void **state)
{
    (void)state;
    mtr_agg_partition_t a, b;
    mtr_agg_partition_init(&a, 0, 0, NULL);
    mtr_agg_partition_init(&b, 1, 0, NULL);
    const mtr_agg_partition_t *parts[] = {&a, &b};
    int64_t e;
    mtr_agg_partition_observe(&a, H(0) + 10 * MIN, 0, &e);
    mtr_agg_partition_observe(&b, H(0) + 20 * MIN, 0, &e);
    int64_t wall = H(5); /* wall clock alone does not close: nobody is caught up */
    assert_int_equal(mtr_agg_close_due(parts, 2, wall, LATENESS), MTR_AGG_NO_HOUR);
    mtr_agg_partition_observe(&a, H(1) + 5 * MIN, 1, &e); /* a: watermark = end of H0 */
    assert_int_equal(mtr_agg_close_due(parts, 2, wall, LATENESS), MTR_AGG_NO_HOUR);
    mtr_agg_partition_observe(&b, H(1) + 4 * MIN, 1, &e); /* b: 1 minute short */
    assert_int_equal(mtr_agg_close_due(parts, 2, wall, LATENESS), MTR_AGG_NO_HOUR);
    mtr_agg_partition_observe(&b, H(1) + 5 * MIN, 2, &e);
    assert_int_equal(mtr_agg_close_due(parts, 2, wall, LATENESS), H(0));
    mtr_agg_partition_free(&a);
    mtr_agg_partition_free(&b);
}

static void test_idle_partition_closes_when_caught_up_and_wall_clock_passes(void **state)
{
    (void)state;
    mtr_agg_partition_t busy, idle;
    mtr_agg_partition_init(&busy, 0, 0, NULL);
    mtr_agg_partition_init(&idle, 1, 40, NULL);
    const mtr_agg_partition_t *parts[] = {&busy, &idle};
    int64_t e;
    mtr_agg_partition_observe(&busy, H(0) + 10 * MIN, 0, &e);
    mtr_agg_partition_observe(&busy, H(1) + 30 * MIN, 1, &e);
    int64_t end_plus_lateness = H(1) + LATENESS;
    /* High watermark unknown: not caught up. */
    assert_int_equal(mtr_agg_close_due(parts, 2, end_plus_lateness + 1, LATENESS), MTR_AGG_NO_HOUR);
    idle.high_watermark = 41; /* one message still to read */
    assert_int_equal(mtr_agg_close_due(parts, 2, end_plus_lateness + 1, LATENESS), MTR_AGG_NO_HOUR);
    idle.high_watermark = 40; /* caught up */
    assert_int_equal(mtr_agg_close_due(parts, 2, end_plus_lateness - 1, LATENESS), MTR_AGG_NO_HOUR);
    assert_int_equal(mtr_agg_close_due(parts, 2, end_plus_lateness, LATENESS), H(0));
    /* A partition with no events at all is closed the same way. */
    mtr_agg_partition_close(&busy, H(0));
    mtr_agg_partition_close(&idle, H(0));
    assert_int_equal(idle.log.n, 1);
    assert_int_equal(idle.log.items[0].offset, 40);
    mtr_agg_partition_free(&busy);
    mtr_agg_partition_free(&idle);
}

static void test_a_partition_that_already_closed_the_hour_never_blocks_it(void **state)
{
    (void)state;
    mtr_agg_closelog_t log;
    mtr_agg_closelog_init(&log);
    mtr_agg_closelog_append(&log, H(2), 500, NULL, 0);
    mtr_agg_partition_t a, b;
    mtr_agg_partition_init(&a, 0, 0, NULL);
    mtr_agg_partition_init(&b, 1, 500, &log); /* inherited: closed through H2 */
    const mtr_agg_partition_t *parts[] = {&a, &b};
    int64_t e;
    mtr_agg_partition_observe(&a, H(1), 0, &e);
    mtr_agg_partition_observe(&a, H(2) + 10 * MIN, 1, &e);
    /* b has seen nothing since the restart, yet H1 may close. */
    assert_int_equal(mtr_agg_close_due(parts, 2, H(1), LATENESS), H(1));
    mtr_agg_partition_close(&a, H(1));
    mtr_agg_partition_close(&b, H(1));
    assert_int_equal(b.log.n, 1); /* nothing appended: b had it closed */
    assert_int_equal(a.log.n, 1);
    /* H2 is next; a's watermark is short of its end and b is idle, not caught up. */
    assert_int_equal(mtr_agg_close_due(parts, 2, H(9), LATENESS), MTR_AGG_NO_HOUR);
    mtr_agg_closelog_free(&log);
    mtr_agg_partition_free(&a);
    mtr_agg_partition_free(&b);
}

static void test_closes_go_in_hour_order(void **state)
{
    (void)state;
    mtr_agg_partition_t p;
    mtr_agg_partition_init(&p, 0, 0, NULL);
    const mtr_agg_partition_t *parts[] = {&p};
    int64_t e;
    mtr_agg_partition_observe(&p, H(3), 0, &e);
    mtr_agg_partition_observe(&p, H(1), 1, &e);
    mtr_agg_partition_observe(&p, H(6), 2, &e);
    /* Watermark is past H1..H3's ends; the oldest goes first. */
    assert_int_equal(mtr_agg_close_due(parts, 1, 0, LATENESS), H(1));
    mtr_agg_partition_close(&p, H(1));
    assert_int_equal(mtr_agg_close_due(parts, 1, 0, LATENESS), H(3));
    mtr_agg_partition_close(&p, H(3));
    assert_int_equal(mtr_agg_close_due(parts, 1, 0, LATENESS), MTR_AGG_NO_HOUR); /* H6 open */
    assert_int_equal(mtr_agg_oldest_open_hour(parts, 1), H(6));
    assert_int_equal(p.log.n, 1); /* both closes at offset 3 merge */
    assert_int_equal(p.log.items[0].hour_ms, H(3));
    mtr_agg_partition_free(&p);
}

static void test_commit_offset_is_smallest_offset_in_an_open_window(void **state)
{
    (void)state;
    mtr_agg_partition_t p;
    mtr_agg_partition_init(&p, 0, 100, NULL);
    int64_t e;
    assert_int_equal(mtr_agg_partition_commit_offset(&p), 100);
    mtr_agg_partition_observe(&p, H(1), 100, &e);
    mtr_agg_partition_observe(&p, H(2), 101, &e);
    mtr_agg_partition_skip_message(&p, 102); /* dead-lettered */
    mtr_agg_partition_observe(&p, H(1), 103, &e);
    assert_int_equal(p.position, 104);
    assert_int_equal(mtr_agg_partition_commit_offset(&p), 100);
    mtr_agg_partition_close(&p, H(1));
    assert_int_equal(mtr_agg_partition_commit_offset(&p), 101);
    mtr_agg_partition_close(&p, H(2));
    assert_int_equal(mtr_agg_partition_commit_offset(&p), 104);
    mtr_agg_partition_free(&p);
}

static void test_restart_from_close_log_skips_counted_events_only(void **state)
{
    (void)state;
    /* First life: offsets 0..3; H1 closes at position 3; commit = 2 (offset
     * 2 is in the still-open H2). Crash. */
    mtr_agg_partition_t p;
    mtr_agg_partition_init(&p, 0, 0, NULL);
    int64_t e;
    const int64_t times[] = {H(1), H(1) + MIN, H(2), H(1) + 2 * MIN, H(2) + MIN};
    for (int64_t o = 0; o < 3; o++)
        mtr_agg_partition_observe(&p, times[o], o, &e);
    mtr_agg_partition_close(&p, H(1));
    int64_t commit = mtr_agg_partition_commit_offset(&p);
    assert_int_equal(commit, 2);
    mtr_agg_closelog_t log;
    mtr_agg_closelog_copy(&log, &p.log);
    mtr_agg_partition_free(&p);

    /* Second life replays from 2: offset 2 (H2) counts again (it was open);
     * offset 3, a late H1 event after the close, goes to H2; nothing from
     * the closed H1 is counted twice. */
    mtr_agg_partition_init(&p, 0, commit, &log);
    assert_int_equal(mtr_agg_partition_observe(&p, times[2], 2, &e), MTR_AGG_ADD);
    assert_int_equal(e, H(2));
    assert_int_equal(mtr_agg_partition_observe(&p, times[3], 3, &e), MTR_AGG_ADD);
    assert_int_equal(e, H(2));
    mtr_agg_partition_free(&p);

    /* A replay from before the close (commit older than the close): the
     * events of the closed hour are skipped. */
    mtr_agg_partition_init(&p, 0, 0, &log);
    assert_int_equal(mtr_agg_partition_observe(&p, times[0], 0, &e), MTR_AGG_SKIP);
    assert_int_equal(mtr_agg_partition_observe(&p, times[1], 1, &e), MTR_AGG_SKIP);
    assert_int_equal(mtr_agg_partition_observe(&p, times[2], 2, &e), MTR_AGG_ADD);
    assert_int_equal(mtr_agg_partition_commit_offset(&p), 2);
    mtr_agg_partition_free(&p);
    mtr_agg_closelog_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermark_is_max_event_time_minus_lateness),
        cmocka_unit_test(test_late_event_folds_into_oldest_open_hour_by_offset),
        cmocka_unit_test(test_close_waits_for_every_partition_watermark),
        cmocka_unit_test(test_idle_partition_closes_when_caught_up_and_wall_clock_passes),
        cmocka_unit_test(test_a_partition_that_already_closed_the_hour_never_blocks_it),
        cmocka_unit_test(test_closes_go_in_hour_order),
        cmocka_unit_test(test_commit_offset_is_smallest_offset_in_an_open_window),
        cmocka_unit_test(test_restart_from_close_log_skips_counted_events_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
