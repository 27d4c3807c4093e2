/* The hour table against a naive reference: growth (incremental, checked
 * mid-migration), forced hash collisions, every aggregation kind, overflow
 * saturation, customer interning, tag-set allocations and bytes per key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "aggregate/strings.h"
#include "aggregate/table.h"
#include "core/mem.h"

#define HOUR 1764151200000LL

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Reference: a flat array of keys searched linearly. */
typedef struct ref_key {
    char customer[32];
    size_t customer_len;
    int account;
    int32_t partition;
    uint32_t scope;
    uint16_t dimension;
    uint8_t aggregation;
    int64_t value;
    int64_t time_ms;
    uint64_t count;
} ref_key_t;

typedef struct ref {
    ref_key_t *keys;
    size_t n, cap;
} ref_t;

static char names[512][16];

/* Keys are drawn from names[], so a key maps to a slot of a direct table. */
static size_t ref_slot(const mtr_agg_update_t *u)
{
    size_t c = (size_t)((const char(*)[16])(const void *)u->customer - names);
    return (((c * 2 + u->customer_is_account) * 3 + (size_t)u->partition) * 2 + u->scope) * 4 +
           u->dimension;
}

#define REF_SLOTS (512 * 2 * 3 * 2 * 4)
static int32_t ref_index[REF_SLOTS]; /* 1-based index into keys; 0 = absent */

static ref_key_t *ref_find(ref_t *r, const mtr_agg_update_t *u)
{
    int32_t i = ref_index[ref_slot(u)];
    return i ? &r->keys[i - 1] : NULL;
}

static void ref_update(ref_t *r, const mtr_agg_update_t *u)
{
    ref_key_t *k = ref_find(r, u);
    if (!k) {
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 256;
            r->keys = mtr_realloc(r->keys, r->cap * sizeof *r->keys);
        }
        k = &r->keys[r->n++];
        ref_index[ref_slot(u)] = (int32_t)r->n;
        memset(k, 0, sizeof *k);
        memcpy(k->customer, u->customer, u->customer_len);
        k->customer_len = u->customer_len;
        k->account = u->customer_is_account;
        k->partition = u->partition;
        k->scope = u->scope;
        k->dimension = u->dimension;
        k->aggregation = u->aggregation;
        k->time_ms = INT64_MIN;
    }
    switch (k->aggregation) {
    case MTR_AGG_SUM:
        k->value += u->quantity;
        break;
    case MTR_AGG_COUNT:
        k->value += MTR_AGG_UNITS;
        break;
    case MTR_AGG_MAX:
        if (k->count == 0 || u->quantity > k->value)
            k->value = u->quantity;
        break;
    case MTR_AGG_LATEST:
        if (k->count == 0 || u->time_ms > k->time_ms ||
            (u->time_ms == k->time_ms && u->quantity > k->value)) {
            k->value = u->quantity;
            k->time_ms = u->time_ms;
        }
        break;
    }
    if (k->aggregation != MTR_AGG_LATEST && u->time_ms > k->time_ms)
        k->time_ms = u->time_ms;
    k->count++;
}

static void random_update(mtr_agg_update_t *u, size_t customers)
{
    size_t c = (size_t)(rnd() % customers);
    memset(u, 0, sizeof *u);
    u->customer = names[c];
    u->customer_len = (uint16_t)strlen(names[c]);
    u->customer_is_account = (uint8_t)(rnd() % 8 == 0);
    u->partition = (int32_t)(rnd() % 3);
    u->scope = (uint32_t)(rnd() % 2);
    u->dimension = (uint16_t)(rnd() % 4);
    u->aggregation = (uint8_t)u->dimension; /* one aggregation per dimension */
    u->quantity = (int64_t)(rnd() % 5000000);
    u->time_ms = HOUR + (int64_t)(rnd() % 3600000);
}

static void assert_table_matches(const mtr_agg_table_t *t, ref_t *r)
{
    assert_int_equal(mtr_agg_table_count(t), r->n);
    for (size_t i = 0; i < r->n; i++) {
        ref_key_t *k = &r->keys[i];
        mtr_agg_update_t q = {.customer = k->customer,
                              .customer_len = (uint16_t)k->customer_len,
                              .customer_is_account = (uint8_t)k->account,
                              .partition = k->partition,
                              .scope = k->scope,
                              .dimension = k->dimension};
        mtr_agg_key_t got;
        assert_true(mtr_agg_table_find(t, &q, &got));
        assert_int_equal(got.value, k->value);
        assert_int_equal(got.count, k->count);
        assert_int_equal(got.time_ms, k->time_ms);
        assert_int_equal(got.aggregation, k->aggregation);
        assert_int_equal(got.customer_len, k->customer_len);
        assert_memory_equal(got.customer, k->customer, k->customer_len);
        assert_false(got.overflowed);
    }
}

static void run_against_reference(mtr_agg_hash_fn hash, size_t customers, size_t ops, bool batch,
                                  bool check_mid_growth)
{
    for (size_t c = 0; c < 512; c++)
        snprintf(names[c], sizeof names[c], "c%zu", c * 7919);
    mtr_agg_table_t *t = mtr_agg_table_new(HOUR, 0);
    mtr_agg_table_set_hash(t, hash, NULL);
    ref_t r = {0};
    memset(ref_index, 0, sizeof ref_index);
    size_t checks = 0;
    mtr_agg_update_t us[37];
    bool saw_growth = false;
    for (size_t done = 0; done < ops;) {
        size_t m = batch ? 1 + (size_t)(rnd() % 37) : 1;
        for (size_t i = 0; i < m; i++) {
            random_update(&us[i], customers);
            /* Repeat a key inside the block now and then. */
            if (i > 0 && rnd() % 4 == 0)
                us[i] = us[rnd() % i];
            ref_update(&r, &us[i]);
        }
        if (batch)
            mtr_agg_table_update_batch(t, us, m);
        else
            mtr_agg_table_update(t, &us[0]);
        done += m;
        /* Every lookup must find its key while both indexes are live. */
        if (check_mid_growth && mtr_agg_table_growing(t) && checks++ % 16 == 0) {
            saw_growth = true;
            assert_table_matches(t, &r);
        }
    }
    assert_table_matches(t, &r);
    if (check_mid_growth)
        assert_true(saw_growth);
    mtr_free(r.keys);
    mtr_agg_table_free(t);
}

static void test_random_updates_match_reference_through_growth(void **state)
{
    (void)state;
    rng_state = 1;
    run_against_reference(NULL, 500, 60000, true, true);
    rng_state = 2;
    run_against_reference(NULL, 300, 20000, false, true);
}

static uint64_t constant_hash(const mtr_agg_update_t *k, void *arg)
{
    (void)k;
    (void)arg;
    return 0x1234;
}

static uint64_t few_bits_hash(const mtr_agg_update_t *k, void *arg)
{
    (void)arg;
    return (uint64_t)(k->customer_len * 31 + k->dimension) & 0x3;
}

static void test_forced_collisions_keep_keys_apart(void **state)
{
    (void)state;
    rng_state = 3;
    run_against_reference(constant_hash, 40, 4000, true, false);
    rng_state = 4;
    run_against_reference(few_bits_hash, 200, 20000, true, true);
}

static mtr_agg_update_t one(const char *cust, uint8_t agg, int64_t q, int64_t t)
{
    mtr_agg_update_t u = {.customer = cust,
                          .customer_len = (uint16_t)strlen(cust),
                          .aggregation = agg,
                          .quantity = q,
                          .time_ms = t};
    return u;
}

static void test_each_aggregation_kind_folds_as_documented(void **state)
{
    (void)state;
    mtr_agg_table_t *t = mtr_agg_table_new(HOUR, 0);
    mtr_agg_key_t k;
    mtr_agg_update_t u;
    const int64_t qs[] = {3000000, 1500000, 7000000, 2000000};
    const int64_t ts[] = {HOUR + 50, HOUR + 10, HOUR + 30, HOUR + 50};
    for (uint8_t agg = 0; agg < 4; agg++) {
        for (int i = 0; i < 4; i++) {
            u = one("cust-a", agg, qs[i], ts[i]);
            u.dimension = agg;
            mtr_agg_table_update(t, &u);
        }
        assert_true(mtr_agg_table_find(t, &u, &k));
        assert_int_equal(k.count, 4);
        switch (agg) {
        case MTR_AGG_SUM:
            assert_int_equal(k.value, 13500000);
            assert_int_equal(k.time_ms, HOUR + 50);
            break;
        case MTR_AGG_COUNT:
            assert_int_equal(k.value, 4 * MTR_AGG_UNITS);
            break;
        case MTR_AGG_MAX:
            assert_int_equal(k.value, 7000000);
            break;
        case MTR_AGG_LATEST:
            /* Two events at the newest time: the larger value wins. */
            assert_int_equal(k.value, 3000000);
            assert_int_equal(k.time_ms, HOUR + 50);
            break;
        }
    }
    assert_int_equal(mtr_agg_table_count(t), 4);
    mtr_agg_table_free(t);
}

/* latest at equal event times: the larger value, whichever came first. */
static void test_latest_tie_does_not_depend_on_arrival_order(void **state)
{
    (void)state;
    const int64_t qs[] = {4000000, 9000000, 1000000};
    for (int order = 0; order < 2; order++) {
        mtr_agg_table_t *t = mtr_agg_table_new(HOUR, 0);
        mtr_agg_update_t u;
        for (int i = 0; i < 3; i++) {
            u = one("cust-a", MTR_AGG_LATEST, qs[order ? 2 - i : i], HOUR + 70);
            mtr_agg_table_update(t, &u);
        }
        u = one("cust-a", MTR_AGG_LATEST, 5000000, HOUR + 60); /* older: loses */
        mtr_agg_table_update(t, &u);
        mtr_agg_key_t k;
        assert_true(mtr_agg_table_find(t, &u, &k));
        assert_int_equal(k.value, 9000000);
        assert_int_equal(k.time_ms, HOUR + 70);
        mtr_agg_table_free(t);
    }
}

static void test_sum_overflow_saturates_and_flags_the_key(void **state)
{
    (void)state;
    mtr_agg_table_t *t = mtr_agg_table_new(HOUR, 0);
    mtr_agg_update_t u = one("big", MTR_AGG_SUM, INT64_MAX / 2 + 1, HOUR);
    mtr_agg_key_t k;
    mtr_agg_table_update(t, &u);
    assert_true(mtr_agg_table_find(t, &u, &k));
    assert_false(k.overflowed);
    mtr_agg_table_update(t, &u);
    mtr_agg_table_update(t, &u);
    assert_true(mtr_agg_table_find(t, &u, &k));
    assert_true(k.overflowed);
    assert_int_equal(k.value, INT64_MAX);
    assert_int_equal(k.count, 3);
    /* Other keys are unaffected. */
    mtr_agg_update_t v = one("small", MTR_AGG_SUM, 5, HOUR);
    mtr_agg_table_update(t, &v);
    assert_true(mtr_agg_table_find(t, &v, &k));
    assert_false(k.overflowed);
    mtr_agg_table_free(t);
}

static void test_customer_is_stored_once_and_account_flag_is_part_of_the_key(void **state)
{
    (void)state;
    mtr_agg_table_t *t = mtr_agg_table_new(HOUR, 0);
    size_t strings_before;
    mtr_agg_table_memory(t, NULL, &strings_before);
    for (uint16_t d = 0; d < 5; d++) {
        mtr_agg_update_t u = one("123456789012", MTR_AGG_SUM, 1, HOUR);
        u.dimension = d;
        mtr_agg_table_update(t, &u);
    }
    mtr_agg_update_t acct = one("123456789012", MTR_AGG_SUM, 1, HOUR);
    acct.customer_is_account = 1;
    mtr_agg_table_update(t, &acct);
    assert_int_equal(mtr_agg_table_count(t), 6);
    mtr_agg_key_t k0, k5;
    mtr_agg_table_key(t, 0, &k0);
    mtr_agg_table_key(t, 5, &k5);
    assert_ptr_equal(k0.customer, k5.customer); /* one copy of the bytes */
    assert_false(k0.customer_is_account);
    assert_true(k5.customer_is_account);

    mtr_agg_strings_t *s = mtr_agg_strings_new();
    uint32_t a = mtr_agg_strings_intern(s, "abc", 3, mtr_agg_strings_hash("abc", 3));
    uint32_t b = mtr_agg_strings_intern(s, "abd", 3, mtr_agg_strings_hash("abd", 3));
    assert_int_not_equal(a, b);
    assert_int_equal(mtr_agg_strings_intern(s, "abc", 3, mtr_agg_strings_hash("abc", 3)), a);
    char buf[16];
    for (int i = 0; i < 20000; i++) { /* several arena chunks and set growths */
        int n = snprintf(buf, sizeof buf, "customer-%d", i);
        mtr_agg_strings_intern(s, buf, (size_t)n, mtr_agg_strings_hash(buf, (size_t)n));
    }
    assert_int_equal(mtr_agg_strings_count(s), 20002);
    uint32_t id;
    assert_int_equal(mtr_agg_strings_find(s, "customer-1234", 13,
                                          mtr_agg_strings_hash("customer-1234", 13), &id),
                     0);
    size_t len;
    const char *p = mtr_agg_strings_get(s, id, &len);
    assert_int_equal(len, 13);
    assert_memory_equal(p, "customer-1234", 13);
    assert_int_equal(mtr_agg_strings_find(s, "nobody", 6, mtr_agg_strings_hash("nobody", 6), &id),
                     -1);
    mtr_agg_strings_free(s);
    mtr_agg_table_free(t);
}

static void test_tagged_events_keep_per_tagset_subtotals_and_untagged_keys_none(void **state)
{
    (void)state;
    mtr_agg_table_t *t = mtr_agg_table_new(HOUR, 0);
    const char *search = "team\x1fsearch", *ads = "team\x1f"
                                                  "ads";
    for (int i = 0; i < 10; i++) {
        mtr_agg_update_t u = one("cust", MTR_AGG_SUM, 1000000, HOUR + i);
        if (i % 3 == 0) {
            u.tagset = search;
            u.tagset_len = (uint16_t)strlen(search);
        } else if (i % 3 == 1) {
            u.tagset = ads;
            u.tagset_len = (uint16_t)strlen(ads);
        }
        mtr_agg_table_update_batch(t, &u, 1);
    }
    mtr_agg_update_t plain = one("plain", MTR_AGG_SUM, 5, HOUR);
    mtr_agg_table_update(t, &plain);

    mtr_agg_key_t k;
    mtr_agg_table_key(t, 0, &k);
    assert_int_equal(k.value, 10000000);
    assert_true(k.tagged);
    assert_int_equal(mtr_agg_table_allocation_count(t), 2);
    int64_t tagged_total = 0;
    for (size_t j = 0; j < 2; j++) {
        mtr_agg_allocation_t a;
        mtr_agg_table_allocation(t, j, &a);
        assert_int_equal(a.key_index, 0);
        if (a.tagset_len == strlen(search) && memcmp(a.tagset, search, a.tagset_len) == 0)
            assert_int_equal(a.value, 4000000); /* i = 0, 3, 6, 9 */
        else
            assert_int_equal(a.value, 3000000); /* i = 1, 4, 7 */
        tagged_total += a.value;
    }
    assert_int_equal(k.value - tagged_total, 3000000); /* the untagged part */
    mtr_agg_table_key(t, 1, &k);
    assert_false(k.tagged);
    mtr_agg_table_free(t);
}

static void test_bytes_per_key_stay_within_96(void **state)
{
    (void)state;
    mtr_agg_table_t *t = mtr_agg_table_new(HOUR, 0);
    char buf[32];
    size_t keys = 0;
    for (int c = 0; c < 40000; c++) {
        int n = snprintf(buf, sizeof buf, "customer-%06d", c);
        for (uint16_t d = 0; d < 5; d++) {
            mtr_agg_update_t u = one(buf, MTR_AGG_SUM, 1, HOUR);
            u.customer_len = (uint16_t)n;
            u.dimension = d;
            mtr_agg_table_update(t, &u);
            keys++;
            if (keys % 9973 == 0) {
                size_t tb;
                mtr_agg_table_memory(t, &tb, NULL);
                /* Tiny tables carry fixed chunk overheads; check from 10k keys. */
                if (keys >= 10000)
                    assert_true((double)tb / (double)keys <= 96.0);
            }
        }
    }
    size_t tb, sb;
    mtr_agg_table_memory(t, &tb, &sb);
    assert_int_equal(mtr_agg_table_count(t), 200000);
    assert_true((double)tb / 200000.0 <= 96.0);
    mtr_agg_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_updates_match_reference_through_growth),
        cmocka_unit_test(test_forced_collisions_keep_keys_apart),
        cmocka_unit_test(test_each_aggregation_kind_folds_as_documented),
        cmocka_unit_test(test_latest_tie_does_not_depend_on_arrival_order),
        cmocka_unit_test(test_sum_overflow_saturates_and_flags_the_key),
        cmocka_unit_test(test_customer_is_stored_once_and_account_flag_is_part_of_the_key),
        cmocka_unit_test(test_tagged_events_keep_per_tagset_subtotals_and_untagged_keys_none),
        cmocka_unit_test(test_bytes_per_key_stay_within_96),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
