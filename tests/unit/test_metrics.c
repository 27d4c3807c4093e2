/* The metrics registry (core/metrics.h): exact exposition text, escaping,
 * name rules, scrape hooks, lock-free updates from many threads, and the
 * listen-address parser behind metrics.listen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/mem.h"
#include "core/metrics.h"

static mtr_metric_t *add(mtr_metrics_t *m, mtr_metric_desc_t d)
{
    mtr_metric_t *out;
    char err[256];
    assert_int_equal(mtr_metrics_add(m, &d, &out, err, sizeof err), MTR_OK);
    return out;
}

static void assert_render(mtr_metrics_t *m, const char *expected)
{
    size_t len;
    char *text = mtr_metrics_render(m, &len);
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    mtr_free(text);
}

static void test_render_gives_exact_exposition_text(void **state)
{
    (void)state;
    mtr_metrics_t *m = mtr_metrics_new();
    static const char *const reasons[] = {"bad_json", "too_large"};
    mtr_metric_t *msgs =
        add(m, (mtr_metric_desc_t){"meterd_kafka_messages_total", "Kafka messages consumed.",
                                   MTR_METRIC_COUNTER});
    mtr_metric_t *rej =
        add(m, (mtr_metric_desc_t){"meterd_events_rejected_total", "Invalid events, by reason.",
                                   MTR_METRIC_COUNTER, "reason", reasons, 2});
    mtr_metric_t *owned = add(
        m, (mtr_metric_desc_t){"meterd_partitions_owned", "Partitions owned.", MTR_METRIC_GAUGE});
    mtr_metric_inc(msgs, 0, 41);
    mtr_metric_inc(msgs, 0, 1);
    mtr_metric_counter_set(rej, 1, 3);
    mtr_metric_gauge_set(owned, 0, 8);
    mtr_metric_gauge_add(owned, 0, -0.5);
    assert_render(m, "# HELP meterd_kafka_messages_total Kafka messages consumed.\n"
                     "# TYPE meterd_kafka_messages_total counter\n"
                     "meterd_kafka_messages_total 42\n"
                     "# HELP meterd_events_rejected_total Invalid events, by reason.\n"
                     "# TYPE meterd_events_rejected_total counter\n"
                     "meterd_events_rejected_total{reason=\"bad_json\"} 0\n"
                     "meterd_events_rejected_total{reason=\"too_large\"} 3\n"
                     "# HELP meterd_partitions_owned Partitions owned.\n"
                     "# TYPE meterd_partitions_owned gauge\n"
                     "meterd_partitions_owned 7.5\n");
    assert_int_equal(mtr_metric_counter_value(msgs, 0), 42);
    assert_true(mtr_metric_gauge_value(owned, 0) == 7.5);
    mtr_metrics_free(m);
}

static void test_label_values_and_help_are_escaped(void **state)
{
    (void)state;
    mtr_metrics_t *m = mtr_metrics_new();
    static const char *const values[] = {"a\"b\\c\nd", "plain é"};
    mtr_metric_t *g = add(m, (mtr_metric_desc_t){"odd", "Back\\slash \"quoted\"\nsecond line",
                                                 MTR_METRIC_GAUGE, "v", values, 2});
    mtr_metric_gauge_set(g, 0, 1);
    assert_render(m, "# HELP odd Back\\\\slash \"quoted\"\\nsecond line\n"
                     "# TYPE odd gauge\n"
                     "odd{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                     "odd{v=\"plain é\"} 0\n");
    mtr_metrics_free(m);
}

static void test_gauges_render_special_and_fractional_values(void **state)
{
    (void)state;
    mtr_metrics_t *m = mtr_metrics_new();
    static const char *const k[] = {"nan", "pinf", "ninf", "tenth", "big", "neg"};
    mtr_metric_t *g = add(m, (mtr_metric_desc_t){"g", "h", MTR_METRIC_GAUGE, "k", k, 6});
    mtr_metric_gauge_set(g, 0, NAN);
    mtr_metric_gauge_set(g, 1, INFINITY);
    mtr_metric_gauge_set(g, 2, -INFINITY);
    mtr_metric_gauge_set(g, 3, 0.1);
    mtr_metric_gauge_set(g, 4, 12345678901234567.0);
    mtr_metric_gauge_set(g, 5, -3);
    assert_render(m, "# HELP g h\n# TYPE g gauge\n"
                     "g{k=\"nan\"} NaN\n"
                     "g{k=\"pinf\"} +Inf\n"
                     "g{k=\"ninf\"} -Inf\n"
                     "g{k=\"tenth\"} 0.1\n"
                     "g{k=\"big\"} 12345678901234568\n"
                     "g{k=\"neg\"} -3\n");
    mtr_metrics_free(m);
}

static void test_registration_rejects_bad_names_and_repeats(void **state)
{
    (void)state;
    mtr_metrics_t *m = mtr_metrics_new();
    mtr_metric_t *out;
    char err[256];
    static const char *const twice[] = {"x", "x"};
    static const char *const one[] = {"x"};
    const struct {
        mtr_metric_desc_t d;
        mtr_err_t want;
        const char *says;
    } cases[] = {
        {{"9starts_with_digit", "h", MTR_METRIC_GAUGE}, MTR_ERR_INVALID_ARG, "not [a-zA-Z_:]"},
        {{"has-dash_total", "h", MTR_METRIC_COUNTER}, MTR_ERR_INVALID_ARG, "not [a-zA-Z_:]"},
        {{"no_suffix", "h", MTR_METRIC_COUNTER}, MTR_ERR_INVALID_ARG, "end in _total"},
        {{"no_help", "", MTR_METRIC_GAUGE}, MTR_ERR_INVALID_ARG, "help text"},
        {{"bad_label", "h", MTR_METRIC_GAUGE, "__reserved", one, 1},
         MTR_ERR_INVALID_ARG,
         "starts with __"},
        {{"no_values", "h", MTR_METRIC_GAUGE, "l", NULL, 0},
         MTR_ERR_INVALID_ARG,
         "at least one value"},
        {{"repeated_value", "h", MTR_METRIC_GAUGE, "l", twice, 2},
         MTR_ERR_INVALID_ARG,
         "given twice"},
        {{"fine_total", "h", MTR_METRIC_COUNTER}, MTR_OK, NULL},
        {{"fine_total", "again", MTR_METRIC_COUNTER}, MTR_ERR_EXISTS, "registered twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(mtr_metrics_add(m, &cases[i].d, &out, err, sizeof err), cases[i].want);
        if (cases[i].says)
            assert_non_null(strstr(err, cases[i].says));
    }
    /* Only the one good family is rendered. */
    assert_render(m, "# HELP fine_total h\n# TYPE fine_total counter\nfine_total 0\n");
    mtr_metrics_free(m);
}

typedef struct hook_state {
    mtr_metric_t *counter;
    uint64_t source; /* a total kept elsewhere */
    int calls;
} hook_state_t;

static void hook(void *ctx)
{
    hook_state_t *h = ctx;
    h->calls++;
    mtr_metric_counter_set(h->counter, 0, h->source);
}

static void test_scrape_hooks_store_current_figures_before_each_render(void **state)
{
    (void)state;
    mtr_metrics_t *m = mtr_metrics_new();
    hook_state_t h = {add(m, (mtr_metric_desc_t){"mirrored_total", "h", MTR_METRIC_COUNTER}), 5, 0};
    mtr_metrics_on_scrape(m, hook, &h);
    assert_render(m, "# HELP mirrored_total h\n# TYPE mirrored_total counter\nmirrored_total 5\n");
    h.source = 9;
    assert_render(m, "# HELP mirrored_total h\n# TYPE mirrored_total counter\nmirrored_total 9\n");
    assert_int_equal(h.calls, 2);
    mtr_metrics_clear_scrape(m);
    h.source = 100;
    assert_render(m, "# HELP mirrored_total h\n# TYPE mirrored_total counter\nmirrored_total 9\n");
    assert_int_equal(h.calls, 2);
    mtr_metrics_free(m);
}

#define THREADS 8
#define ROUNDS  200000

typedef struct worker_arg {
    mtr_metrics_t *m;
    mtr_metric_t *counter, *gauge;
    int id;
} worker_arg_t;

static void *worker(void *p)
{
    worker_arg_t *a = p;
    for (int i = 0; i < ROUNDS; i++) {
        mtr_metric_inc(a->counter, (size_t)(i & 1), 1);
        mtr_metric_gauge_add(a->gauge, 0, a->id % 2 ? 2.0 : -1.0);
        /* Scrapes run while the updates do: they must not block or lose
         * any of them. */
        if (a->id == 0 && i % 20000 == 0)
            mtr_free(mtr_metrics_render(a->m, NULL));
    }
    return NULL;
}

static void test_concurrent_updates_from_threads_sum_exactly(void **state)
{
    (void)state;
    mtr_metrics_t *m = mtr_metrics_new();
    static const char *const halves[] = {"even", "odd"};
    mtr_metric_t *c =
        add(m, (mtr_metric_desc_t){"hits_total", "h", MTR_METRIC_COUNTER, "half", halves, 2});
    mtr_metric_t *g = add(m, (mtr_metric_desc_t){"level", "h", MTR_METRIC_GAUGE});
    pthread_t t[THREADS];
    worker_arg_t args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg_t){m, c, g, i};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(mtr_metric_counter_value(c, 0), (uint64_t)THREADS * ROUNDS / 2);
    assert_int_equal(mtr_metric_counter_value(c, 1), (uint64_t)THREADS * ROUNDS / 2);
    /* Four threads add 2, four add -1, each ROUNDS times: exact in a double. */
    assert_true(mtr_metric_gauge_value(g, 0) == (double)(THREADS / 2) * ROUNDS * (2 - 1));
    mtr_metrics_free(m);
}

static void test_parse_listen_accepts_host_port_and_rejects_the_rest(void **state)
{
    (void)state;
    char host[64], err[256];
    uint16_t port = 0;
    assert_int_equal(
        mtr_metrics_parse_listen("127.0.0.1:9464", host, sizeof host, &port, err, sizeof err),
        MTR_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9464);
    assert_int_equal(
        mtr_metrics_parse_listen("[::1]:65535", host, sizeof host, &port, err, sizeof err), MTR_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);
    assert_int_equal(
        mtr_metrics_parse_listen("metrics.internal:1", host, sizeof host, &port, err, sizeof err),
        MTR_OK);
    assert_string_equal(host, "metrics.internal");

    static const char *const bad[] = {
        "",           "9464",   ":9464",       "host:",    "host:0",
        "host:65536", "h:12x",  "h:000009464", "::1:9464", "[::1]9464",
        "[::1:80",    "a b:80", "h/x:80",      "[zz]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(
            mtr_metrics_parse_listen(bad[i], host, sizeof host, &port, err, sizeof err),
            MTR_ERR_INVALID_ARG);
        assert_true(strlen(err) > 0);
    }
    /* A host longer than the caller's buffer is refused, not truncated. */
    char tiny[4];
    assert_int_equal(
        mtr_metrics_parse_listen("abcdef:80", tiny, sizeof tiny, &port, err, sizeof err),
        MTR_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_gives_exact_exposition_text),
        cmocka_unit_test(test_label_values_and_help_are_escaped),
        cmocka_unit_test(test_gauges_render_special_and_fractional_values),
        cmocka_unit_test(test_registration_rejects_bad_names_and_repeats),
        cmocka_unit_test(test_scrape_hooks_store_current_figures_before_each_render),
        cmocka_unit_test(test_concurrent_updates_from_threads_sum_exactly),
        cmocka_unit_test(test_parse_listen_accepts_host_port_and_rejects_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
