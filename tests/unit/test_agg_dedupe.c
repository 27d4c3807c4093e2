/* The per-(partition, hour) event-id set of events.dedupe
 * (aggregate/dedupe.h): copies are found, distinct events are not, the
 * budget stops checking at the same event every time, and the set lives
 * and dies with its hour table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "aggregate/dedupe.h"
#include "aggregate/table.h"
#include "core/mem.h"

static uint64_t hash_of(uint32_t product, uint32_t dim, const char *customer, const char *id,
                        const char *source)
{
    return mtr_agg_dedupe_hash(product, dim, customer, strlen(customer), id, strlen(id), source,
                               source ? strlen(source) : 0);
}

static void test_a_copy_is_a_repeat_and_other_events_are_not(void **state)
{
    (void)state;
    mtr_agg_dedupe_t d = {0};
    assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 1, "cust-a", "e-1", NULL), 10),
                     MTR_AGG_FIRST);
    assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 1, "cust-a", "e-1", NULL), 10),
                     MTR_AGG_REPEAT);
    /* The same id for another customer, dimension, product or source. */
    assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 1, "cust-b", "e-1", NULL), 10),
                     MTR_AGG_FIRST);
    assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 2, "cust-a", "e-1", NULL), 10),
                     MTR_AGG_FIRST);
    assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(1, 1, "cust-a", "e-1", NULL), 10),
                     MTR_AGG_FIRST);
    assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 1, "cust-a", "e-1", "/shop"), 10),
                     MTR_AGG_FIRST);
    assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 1, "cust-a", "e-1", "/shop"), 10),
                     MTR_AGG_REPEAT);
    /* Where one string ends and the next begins matters. */
    assert_true(hash_of(0, 1, "ab", "c", NULL) != hash_of(0, 1, "a", "bc", NULL));
    assert_true(hash_of(0, 1, "a", "b", "c") != hash_of(0, 1, "a", "bc", NULL));
    mtr_agg_dedupe_free(&d);
}

static void test_every_id_survives_growth_within_the_memory_bound(void **state)
{
    (void)state;
    enum { N = 200000 };
    mtr_agg_dedupe_t d = {0};
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "e-%d", i);
        assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 0, "c", id, NULL), N), MTR_AGG_FIRST);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "e-%d", i);
        assert_int_equal(mtr_agg_dedupe_check(&d, hash_of(0, 0, "c", id, NULL), N), MTR_AGG_REPEAT);
    }
    double per_id = (double)mtr_agg_dedupe_bytes(&d) / N;
    assert_true(per_id >= 8.0 / 0.75 && per_id <= 8.0 / 0.375);
    mtr_agg_dedupe_free(&d);
    assert_int_equal(mtr_agg_dedupe_bytes(&d), 0);
}

/* What a run over ids[0..n) decides, as a string of F, R, U, B. */
static void decide(const int *ids, size_t n, size_t budget, char *out)
{
    mtr_agg_dedupe_t d = {0};
    char id[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof id, "e-%d", ids[i]);
        out[i] = "FRUB"[mtr_agg_dedupe_check(&d, hash_of(0, 0, "c", id, NULL), budget)];
    }
    out[n] = '\0';
    mtr_agg_dedupe_free(&d);
}

static void test_the_budget_stops_checking_at_the_same_event_every_time(void **state)
{
    (void)state;
    /* Budget 3: three new ids are kept, the fourth new one is counted and
     * ends the checks, so the later copy of 1 is not caught. */
    const int ids[] = {1, 2, 1, 3, 2, 4, 1, 5, 4};
    size_t n = sizeof ids / sizeof ids[0];
    char first[16], replay[16];
    decide(ids, n, 3, first);
    assert_string_equal(first, "FFRFRBUUU");
    decide(ids, n, 3, replay);
    assert_string_equal(replay, first);
    decide(ids, n, 100, first);
    assert_string_equal(first, "FFRFRFRFR");
}

static void test_the_set_lives_and_dies_with_its_hour_table(void **state)
{
    (void)state;
    mtr_agg_table_t *t = mtr_agg_table_new(3600000, 0);
    mtr_agg_dedupe_t *seen = mtr_agg_table_seen(t);
    assert_int_equal(mtr_agg_dedupe_check(seen, hash_of(0, 0, "c", "e-1", NULL), 10),
                     MTR_AGG_FIRST);
    assert_int_equal(
        mtr_agg_dedupe_check(mtr_agg_table_seen(t), hash_of(0, 0, "c", "e-1", NULL), 10),
        MTR_AGG_REPEAT);
    assert_true(mtr_agg_dedupe_bytes(seen) > 0);
    mtr_agg_table_free(t); /* the sanitizer build reports a leak otherwise */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_copy_is_a_repeat_and_other_events_are_not),
        cmocka_unit_test(test_every_id_survives_growth_within_the_memory_bound),
        cmocka_unit_test(test_the_budget_stops_checking_at_the_same_event_every_time),
        cmocka_unit_test(test_the_set_lives_and_dies_with_its_hour_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
