/* Closing an hour: the shard hands the hour's whole table out in O(1) and
 * keeps the other hours; the bounded queue passes tables across threads in
 * order, bounds a full push by its timeout, and drains on shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aggregate/handoff.h"
#include "aggregate/shard.h"
#include "core/clock.h"

#define H(n) (1764151200000LL + (int64_t)(n)*MTR_MS_PER_HOUR)

static mtr_agg_update_t upd(const char *c, int64_t q)
{
    mtr_agg_update_t u = {.customer = c, .customer_len = (uint16_t)strlen(c), .quantity = q};
    return u;
}

static void test_shard_keeps_one_table_per_hour_and_take_hands_it_over(void **state)
{
    (void)state;
    mtr_agg_shard_t *s = mtr_agg_shard_new(3, 0);
    mtr_agg_update_t us[4] = {upd("a", 1), upd("b", 2), upd("a", 4), upd("a", 8)};
    int64_t hours[4] = {H(2), H(2), H(1), H(2)};
    mtr_agg_shard_update_batch(s, hours, us, 4);
    int64_t open[4];
    assert_int_equal(mtr_agg_shard_hours(s, open, 4), 2);
    assert_int_equal(open[0], H(1));
    assert_int_equal(open[1], H(2));
    mtr_agg_table_t *t = mtr_agg_shard_take(s, H(2));
    assert_non_null(t);
    assert_int_equal(mtr_agg_table_hour(t), H(2));
    mtr_agg_key_t k;
    assert_true(mtr_agg_table_find(t, &us[0], &k));
    assert_int_equal(k.value, 9);
    assert_null(mtr_agg_shard_take(s, H(2)));
    /* The shard goes on: a new H2 table starts empty, H1 is untouched. */
    mtr_agg_shard_update_batch(s, &hours[0], &us[0], 1);
    assert_int_equal(mtr_agg_table_count(mtr_agg_shard_table(s, H(2))), 1);
    assert_true(mtr_agg_table_find(mtr_agg_shard_table(s, H(1)), &us[0], &k));
    assert_int_equal(k.value, 4);
    mtr_agg_table_free(t);
    mtr_agg_shard_free(s);
}

static void test_new_hour_tables_are_sized_like_the_last_hour_taken(void **state)
{
    (void)state;
    mtr_agg_shard_t *s = mtr_agg_shard_new(0, 0);
    size_t small_bytes, strings;
    mtr_agg_table_memory(mtr_agg_shard_table(s, H(1)), &small_bytes, &strings);
    char names[5000][8];
    for (int i = 0; i < 5000; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        mtr_agg_update_t u = upd(names[i], 1);
        int64_t h = H(1);
        mtr_agg_shard_update_batch(s, &h, &u, 1);
    }
    mtr_agg_table_t *t = mtr_agg_shard_take(s, H(1));
    assert_int_equal(mtr_agg_table_count(t), 5000);
    size_t sized_bytes;
    mtr_agg_table_memory(mtr_agg_shard_table(s, H(2)), &sized_bytes, &strings);
    /* An empty table with room for 5000 keys from the start. */
    assert_true(sized_bytes > small_bytes);
    assert_int_equal(mtr_agg_table_count(mtr_agg_shard_table(s, H(2))), 0);
    assert_false(mtr_agg_table_growing(mtr_agg_shard_table(s, H(2))));
    mtr_agg_table_free(t);
    mtr_agg_shard_free(s);
}

static void test_full_queue_push_times_out_within_its_bound(void **state)
{
    (void)state;
    mtr_agg_handoff_t *q = mtr_agg_handoff_new(1);
    mtr_agg_closed_t a = {mtr_agg_table_new(H(0), 0), H(0), 0, NULL};
    mtr_agg_closed_t b = {mtr_agg_table_new(H(1), 0), H(1), 0, NULL};
    assert_int_equal(mtr_agg_handoff_push(q, &a, 0), MTR_OK);
    assert_int_equal(mtr_agg_handoff_push(q, &b, 0), MTR_ERR_TIMEOUT);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(mtr_agg_handoff_push(q, &b, 30), MTR_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms >= 25 && ms < 1000);
    assert_int_equal(mtr_agg_handoff_length(q), 1);
    mtr_agg_table_free(b.table); /* still ours after the timeout */
    mtr_agg_handoff_free(q);     /* frees the queued one */
}

typedef struct consumer {
    mtr_agg_handoff_t *q;
    int64_t hours[64];
    int n;
} consumer_t;

static void *consume(void *arg)
{
    consumer_t *c = arg;
    mtr_agg_closed_t item;
    while (mtr_agg_handoff_pop(c->q, &item, -1) == MTR_OK) {
        c->hours[c->n++] = item.hour_ms;
        mtr_agg_table_free(item.table);
    }
    return NULL;
}

static void test_tables_cross_threads_in_order_and_shutdown_drains(void **state)
{
    (void)state;
    consumer_t c = {.q = mtr_agg_handoff_new(2)};
    pthread_t th;
    pthread_create(&th, NULL, consume, &c);
    for (int i = 0; i < 40; i++) {
        mtr_agg_table_t *t = mtr_agg_table_new(H(i), 0);
        mtr_agg_update_t u = upd("x", i);
        mtr_agg_table_update(t, &u);
        mtr_agg_closed_t item = {t, H(i), 0, NULL};
        assert_int_equal(mtr_agg_handoff_push(c.q, &item, -1), MTR_OK);
    }
    mtr_agg_handoff_shutdown(c.q);
    pthread_join(th, NULL);
    assert_int_equal(c.n, 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(c.hours[i], H(i));
    mtr_agg_closed_t late = {NULL, 0, 0, NULL};
    assert_int_equal(mtr_agg_handoff_push(c.q, &late, 0), MTR_ERR_STATE);
    mtr_agg_closed_t out;
    assert_int_equal(mtr_agg_handoff_pop(c.q, &out, 0), MTR_ERR_STATE);
    mtr_agg_handoff_free(c.q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_keeps_one_table_per_hour_and_take_hands_it_over),
        cmocka_unit_test(test_new_hour_tables_are_sized_like_the_last_hour_taken),
        cmocka_unit_test(test_full_queue_push_times_out_within_its_bound),
        cmocka_unit_test(test_tables_cross_threads_in_order_and_shutdown_drains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
