/* The decoder's fast paths keep its answers exact: a JSON number quantity
 * is read from its own digits even when string members before it hold
 * escapes and cross 8-byte steps, member names that share a first byte are
 * told apart, and the cJSON arena's thread-local bump window stays in step
 * with the arena (allocations, stats and resets while it is active). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/event.h"
#include "core/json_arena.h"
#include "core/mem.h"
#include "core/quantity.h"

#define NOW_MS 1795694400000LL /* 2026-11-26T12:00:00Z */
#define T      "2026-11-26T11:30:00Z"

static mtr_dimension_conf_t dims[] = {
    {"api_calls", MTR_AGG_SUM, MTR_ROUND_UP, NULL},
};
static mtr_product_conf_t products[] = {{"prod-a", dims, 1}};

static void make_config(mtr_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->products = products;
    cfg->n_products = 1;
    cfg->events.max_message_bytes = 4096;
    cfg->window.max_future_skew_ms = 5 * 60 * 1000;
    cfg->window.max_event_age_ms = 24 * MTR_MS_PER_HOUR;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A string member value of 1..40 bytes with escaped quotes and
 * backslashes at random places, written as JSON text. */
static size_t random_json_string(uint64_t *rng, char *out)
{
    size_t n = 0, len = 1 + rng_next(rng) % 40;
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned r = (unsigned)(rng_next(rng) % 16);
        if (r == 0) {
            out[n++] = '\\';
            out[n++] = '"';
        } else if (r == 1) {
            out[n++] = '\\';
            out[n++] = '\\';
        } else {
            out[n++] = (char)('a' + r);
        }
    }
    out[n++] = '"';
    return n;
}

static void test_number_quantity_is_exact_for_many_random_decimals(void **state)
{
    (void)state;
    mtr_config_t cfg;
    make_config(&cfg);
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, NOW_MS);
    mtr_event_decoder_t *dec = mtr_event_decoder_new(&cfg, &clock);
    uint64_t rng = 12345;
    char msg[512], id[128], num[64];
    for (int k = 0; k < 200000; k++) {
        /* Up to 13 integer digits and 0..9 decimals (past 6 must be
         * refused unless zero), some with an exponent: doubles cannot hold
         * most of these exactly, the decimal text can. */
        uint64_t ip = rng_next(&rng) % 10000000000000ull;
        int n_dec = (int)(rng_next(&rng) % 10);
        int len = snprintf(num, sizeof num, "%llu", (unsigned long long)ip);
        if (n_dec) {
            num[len++] = '.';
            for (int d = 0; d < n_dec; d++)
                num[len++] = (char)('0' + rng_next(&rng) % 10);
            num[len] = '\0';
        }
        if (rng_next(&rng) % 8 == 0)
            len += snprintf(num + len, sizeof num - (size_t)len, "e-%d", (int)(rng_next(&rng) % 4));
        size_t id_len = random_json_string(&rng, id);
        int n = snprintf(msg, sizeof msg,
                         "{\"id\":%.*s,\"customer\":\"c-%d\",\"dimension\":\"api_calls\","
                         "\"quantity\":%s,\"timestamp\":\"" T "\"}",
                         (int)id_len, id, k, num);
        int64_t want = 0;
        mtr_quantity_status_t st = mtr_quantity_parse(num, (size_t)len, &want);
        mtr_event_t ev;
        mtr_event_reason_t r = mtr_event_decode(dec, msg, (size_t)n, NULL, &ev, NULL, 0);
        if (st == MTR_QUANTITY_OK) {
            if (r != MTR_EVENT_OK || ev.quantity != want)
                fail_msg("%s: reason %s, quantity %lld, want %lld", msg, mtr_event_reason_name(r),
                         (long long)ev.quantity, (long long)want);
        } else if (r == MTR_EVENT_OK) {
            fail_msg("%s: accepted a quantity the decimal parser refuses (%s)", msg,
                     mtr_quantity_status_name(st));
        }
    }
    mtr_event_decoder_free(dec);
}

static void test_decimal_with_more_digits_than_a_double_is_still_refused(void **state)
{
    (void)state;
    mtr_config_t cfg;
    make_config(&cfg);
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, NOW_MS);
    mtr_event_decoder_t *dec = mtr_event_decoder_new(&cfg, &clock);
    /* 1.00000000000000000001 is 1.0 as a double; as a decimal it has a
     * non-zero 20th place, which bills cannot hold. */
    const char *msg = "{\"id\":\"\\\"q\\\\\",\"customer\":\"c\",\"dimension\":\"api_calls\","
                      "\"quantity\":1.00000000000000000001,\"timestamp\":\"" T "\"}";
    mtr_event_t ev;
    assert_int_equal(mtr_event_decode(dec, msg, strlen(msg), NULL, &ev, NULL, 0),
                     MTR_EVENT_BAD_QUANTITY);
    mtr_event_decoder_free(dec);
}

static void test_names_sharing_a_first_byte_go_to_their_own_fields(void **state)
{
    (void)state;
    mtr_config_t cfg;
    make_config(&cfg);
    cfg.events.customer_field = "c";
    cfg.events.customer_account_field = "cu";
    cfg.events.dimension_field = "customer";
    cfg.events.quantity_field = "time";       /* also a CloudEvents name */
    cfg.events.timestamp_field = "timestamp"; /* "time" is its prefix */
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, NOW_MS);
    mtr_event_decoder_t *dec = mtr_event_decoder_new(&cfg, &clock);
    mtr_event_t ev;
    const char *a = "{\"customer\":\"api_calls\",\"c\":\"cust-1\",\"time\":2,"
                    "\"timestamp\":\"" T "\"}";
    assert_int_equal(mtr_event_decode(dec, a, strlen(a), NULL, &ev, NULL, 0), MTR_EVENT_OK);
    assert_false(ev.is_account_id);
    assert_int_equal(ev.customer.len, 6);
    assert_memory_equal(ev.customer.ptr, "cust-1", 6);
    assert_int_equal(ev.quantity, 2000000);
    const char *b = "{\"cu\":\"012345678901\",\"customer\":\"api_calls\",\"time\":1,"
                    "\"timestamp\":\"" T "\"}";
    assert_int_equal(mtr_event_decode(dec, b, strlen(b), NULL, &ev, NULL, 0), MTR_EVENT_OK);
    assert_true(ev.is_account_id);
    /* a key that is a prefix of a name, or has one as its prefix, is
     * neither */
    const char *c = "{\"c\":\"cust-1\",\"customer\":\"api_calls\",\"tim\":1,\"timestamps\":1,"
                    "\"timestamp\":\"" T "\"}";
    assert_int_equal(mtr_event_decode(dec, c, strlen(c), NULL, &ev, NULL, 0),
                     MTR_EVENT_MISSING_QUANTITY);
    mtr_event_decoder_free(dec);
}

static void test_arena_counts_and_resets_allocations_made_while_active(void **state)
{
    (void)state;
    mtr_json_arena_t *a = mtr_json_arena_new(256, 4096);
    mtr_json_arena_t *prev = mtr_json_arena_activate(a);
    assert_int_equal(mtr_json_arena_stats(a).used, 0);
    char *p = mtr_json_arena_alloc(a, 10);
    memcpy(p, "123456789", 10);
    assert_int_equal(mtr_json_arena_stats(a).used, 16);
    /* cJSON's allocations land in the same window, after p */
    cJSON *root = cJSON_ParseWithLengthOpts("{\"k\":\"v\"}", 9, NULL, 0);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "k")->valuestring, "v");
    assert_string_equal(p, "123456789");
    size_t used = mtr_json_arena_stats(a).used;
    assert_true(used > 16);
    /* past the first block while active: a new block, counted */
    uint64_t blocks = mtr_json_arena_stats(a).block_allocs;
    void *big = mtr_json_arena_alloc(a, 1000);
    memset(big, 0xab, 1000);
    mtr_json_arena_stats_t s = mtr_json_arena_stats(a);
    assert_int_equal(s.block_allocs, blocks + 1);
    assert_int_equal(s.used, used + 1008);
    /* the window survives deactivation and reactivation */
    assert_ptr_equal(mtr_json_arena_activate(NULL), a);
    assert_int_equal(mtr_json_arena_stats(a).used, used + 1008);
    mtr_json_arena_activate(a);
    mtr_json_arena_reset(a);
    s = mtr_json_arena_stats(a);
    assert_int_equal(s.used, 0);
    assert_true(s.capacity >= used + 1008);
    /* and allocation goes on from the retained block */
    assert_non_null(cJSON_ParseWithLengthOpts("[1,2,3]", 7, NULL, 0));
    assert_true(mtr_json_arena_stats(a).used > 0);
    assert_int_equal(mtr_json_arena_stats(a).block_allocs, s.block_allocs);
    mtr_json_arena_activate(prev);
    mtr_json_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_quantity_is_exact_for_many_random_decimals),
        cmocka_unit_test(test_decimal_with_more_digits_than_a_double_is_still_refused),
        cmocka_unit_test(test_names_sharing_a_first_byte_go_to_their_own_fields),
        cmocka_unit_test(test_arena_counts_and_resets_allocations_made_while_active),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
