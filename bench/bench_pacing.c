/* meterbench pacing: does the emitter hold AWS's call rate, and how fast is
 * it when pacing is off? Both against the in-process emulator over loopback,
 * in one run:
 *
 *   1. emit.calls_per_second = R (default 10, AWS's BatchMeterUsage limit):
 *      N records (default 1000, N/25 calls). The time each request is handed
 *      to the HTTP transport is taken client-side (the emulator keeps no
 *      timestamps); the report gives the achieved calls/s from the first to
 *      the last call and the most calls in any 1-s sliding window, which
 *      must not exceed R.
 *   2. pacing off: records/s accepted, median of runs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_util.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "emit/emitter.h"
#include "emulator/emulator.h"

#define AKID   "AKIDBENCHPACING"
#define SECRET "bench/pacing/secret"

static mtr_dimension_conf_t dims[] = {
    {.name = "api_calls"}, {.name = "storage_gb"}, {.name = "seats"}, {.name = "requests"}};
static mtr_product_conf_t products[] = {
    {.product_code = "prod-pacing", .dimensions = dims, .n_dimensions = 4}};
static mtr_emulator_credential_t creds[] = {{.access_key_id = AKID, .secret_access_key = SECRET}};

static mtr_err_t credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                             size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    *out = (mtr_sigv4_credentials_t){.access_key_id = AKID, .secret_access_key = SECRET};
    return MTR_OK;
}

/* The shortest time, in ms, that k+1 consecutive starts took: with k the
 * rate, under 1000 means k+1 calls fell into one second. */
static double min_span_ms(const uint64_t *t, size_t n, size_t k)
{
    double best = -1;
    for (size_t i = 0; i + k < n; i++) {
        double span = (double)(t[i + k] - t[i]) / 1e6;
        if (best < 0 || span < best)
            best = span;
    }
    return best;
}

/* A transport that notes when each request starts, then hands it on. */
typedef struct timed {
    mtr_emit_transport_t base;
    mtr_emit_transport_t *inner;
    uint64_t *starts_ns;
    size_t n, cap;
} timed_t;

static mtr_err_t timed_submit(mtr_emit_transport_t *t, const mtr_emit_http_request_t *req,
                              char *errstr, size_t errstr_size)
{
    timed_t *tt = (timed_t *)t;
    mtr_err_t err = mtr_emit_transport_submit(tt->inner, req, errstr, errstr_size);
    if (err == MTR_OK) {
        if (tt->n == tt->cap) {
            tt->cap = tt->cap ? tt->cap * 2 : 64;
            tt->starts_ns = mtr_realloc(tt->starts_ns, tt->cap * sizeof *tt->starts_ns);
        }
        tt->starts_ns[tt->n++] = mtr_bench_now_ns();
    }
    return err;
}

static int timed_poll(mtr_emit_transport_t *t, int64_t timeout_ms, mtr_emit_transport_done_fn done,
                      void *ctx)
{
    return mtr_emit_transport_poll(((timed_t *)t)->inner, timeout_ms, done, ctx);
}

static size_t timed_in_flight(mtr_emit_transport_t *t)
{
    return mtr_emit_transport_in_flight(((timed_t *)t)->inner);
}

static void timed_destroy(mtr_emit_transport_t *t)
{
    timed_t *tt = (timed_t *)t;
    mtr_emit_transport_destroy(tt->inner);
    mtr_free(tt->starts_ns);
    mtr_free(tt);
}

static const mtr_emit_transport_vtable_t timed_vt = {timed_submit, timed_poll, timed_in_flight,
                                                     timed_destroy};

static void count_accepted(void *ctx, const mtr_emit_result_t *res)
{
    if (res->outcome == MTR_EMIT_ACCEPTED)
        (*(size_t *)ctx)++;
}

/* Most starts in any half-open window [t, t + 1 s); starts are in order. */
static size_t max_in_window(const uint64_t *t, size_t n)
{
    size_t best = 0, lo = 0;
    for (size_t hi = 0; hi < n; hi++) {
        while (t[hi] - t[lo] >= 1000000000ull)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

static mtr_record_t *make_records(size_t n, char (**names)[32])
{
    mtr_record_t *records = mtr_calloc(n, sizeof *records);
    char(*customers)[32] = mtr_calloc(n, sizeof *customers);
    int64_t hour = mtr_hour_floor_ms(mtr_clock_wall_ms(mtr_clock_system())) - MTR_MS_PER_HOUR;
    for (size_t i = 0; i < n; i++) {
        snprintf(customers[i], sizeof customers[i], "cust-%07zu", i / 4);
        records[i] = (mtr_record_t){.product_code = "prod-pacing",
                                    .customer_identifier = customers[i],
                                    .dimension = dims[i % 4].name,
                                    .hour_start_ms = hour,
                                    .quantity = (int64_t)(i % 1000) + 1,
                                    .id = (int64_t)i};
    }
    *names = customers;
    return records;
}

static int usage(FILE *out)
{
    fprintf(out, "usage: meterbench pacing [--records N] [--rate R] [--in-flight K]\n"
                 "                         [--off-records M] [--runs X]\n"
                 "  --records N      records sent with pacing on (default 1000: 40 calls)\n"
                 "  --rate R         emit.calls_per_second (default 10, AWS's limit)\n"
                 "  --in-flight K    emit.max_in_flight (default 4)\n"
                 "  --off-records M  records per run with pacing off (default 20000)\n"
                 "  --runs X         runs with pacing off (default 3)\n");
    return out == stdout ? 0 : 2;
}

/* Pacing on: returns 0 when the limit held and every record was accepted. */
static int run_paced(mtr_config_t *cfg, mtr_emulator_t *em, size_t n, double rate)
{
    timed_t *tt = mtr_calloc(1, sizeof *tt);
    tt->base.vt = &timed_vt;
    tt->inner = mtr_emit_transport_curl_new(
        &(mtr_emit_curl_options_t){.max_connections = cfg->emit.max_in_flight});
    cfg->emit.calls_per_second = rate;
    mtr_emitter_options_t eo = {.config = cfg, .credentials = credentials, .transport = &tt->base};
    mtr_emitter_t *emitter;
    char err[256];
    if (mtr_emitter_new(&eo, &emitter, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterbench pacing: %s\n", err);
        return 1;
    }
    char(*names)[32];
    mtr_record_t *records = make_records(n, &names);
    mtr_emulator_reset(em);
    size_t accepted = 0;
    uint64_t t0 = mtr_bench_now_ns();
    mtr_emitter_send(emitter, records, n, count_accepted, &accepted);
    double secs = (double)(mtr_bench_now_ns() - t0) / 1e9;
    mtr_emulator_stats_t st;
    mtr_emulator_get_stats(em, &st);
    size_t calls = tt->n;
    double span = calls > 1 ? (double)(tt->starts_ns[calls - 1] - tt->starts_ns[0]) / 1e9 : 0;
    /* n calls start n-1 intervals apart: the rate over the run. */
    double achieved = span > 0 ? (double)(calls - 1) / span : 0;
    size_t window = max_in_window(tt->starts_ns, calls);
    bool held = window <= (size_t)rate && achieved <= rate * 1.01;
    printf("pacing on (%.0f calls/s, %d in flight): %zu records, %zu calls (emulator saw %llu, "
           "%llu throttled), %zu accepted in %.2f s\n",
           rate, cfg->emit.max_in_flight, n, calls, (unsigned long long)st.requests,
           (unsigned long long)st.throttled, accepted, secs);
    double span_ms = min_span_ms(tt->starts_ns, calls, (size_t)rate);
    printf("  achieved %.2f calls/s (%.0f records/s) from first to last call; at most %zu calls "
           "in any 1-s window (the closest %zu consecutive calls spanned %.3f ms): %s\n",
           achieved, achieved * 25.0, window, (size_t)rate + 1, span_ms,
           held ? "pacing holds" : "LIMIT EXCEEDED");
    mtr_emitter_free(emitter);
    mtr_free(records);
    mtr_free(names);
    return held && accepted == n ? 0 : 1;
}

/* Pacing off: records/s over `runs` runs. */
static int run_unpaced(mtr_config_t *cfg, mtr_emulator_t *em, size_t n, int runs)
{
    cfg->emit.calls_per_second = 0;
    mtr_emitter_options_t eo = {.config = cfg, .credentials = credentials};
    mtr_emitter_t *emitter;
    char err[256];
    if (mtr_emitter_new(&eo, &emitter, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterbench pacing: %s\n", err);
        return 1;
    }
    char(*names)[32];
    mtr_record_t *records = make_records(n, &names);
    double rates[100];
    int rc = 0;
    printf("pacing off (%d in flight): %zu records a run\n", cfg->emit.max_in_flight, n);
    for (int r = 0; r < runs; r++) {
        mtr_emulator_reset(em);
        size_t accepted = 0;
        uint64_t t0 = mtr_bench_now_ns();
        mtr_emitter_send(emitter, records, n, count_accepted, &accepted);
        double secs = (double)(mtr_bench_now_ns() - t0) / 1e9;
        rates[r] = (double)n / secs;
        printf("  run %d: %.0f records/s, %.0f calls/s (%zu accepted, %.2f s)\n", r + 1, rates[r],
               rates[r] / 25.0, accepted, secs);
        if (accepted != n)
            rc = 1;
    }
    printf("  median %.0f records/s, best %.0f records/s\n", mtr_bench_median(rates, (size_t)runs),
           mtr_bench_best(rates, (size_t)runs));
    mtr_emitter_free(emitter);
    mtr_free(records);
    mtr_free(names);
    return rc;
}

int bench_pacing_main(int argc, char **argv)
{
    size_t n = 1000, off_n = 20000;
    double rate = 10;
    int in_flight = 4, runs = 3;
    static const struct option longopts[] = {{"records", required_argument, NULL, 'n'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"in-flight", required_argument, NULL, 'k'},
                                             {"off-records", required_argument, NULL, 'm'},
                                             {"runs", required_argument, NULL, 'x'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:r:k:m:x:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'k':
            in_flight = atoi(optarg);
            break;
        case 'm':
            off_n = strtoul(optarg, NULL, 10);
            break;
        case 'x':
            runs = atoi(optarg);
            break;
        case 'h':
            return usage(stdout);
        default:
            return usage(stderr);
        }
    }
    if (n == 0 || off_n == 0 || !(rate >= 1 && rate <= 1000) || in_flight < 1 || runs < 1 ||
        runs > 100)
        return usage(stderr);
    mtr_log_set_level(MTR_LOG_ERROR);

    mtr_config_t cfg = {0};
    cfg.products = products;
    cfg.n_products = 1;
    cfg.emulator.credentials = creds;
    cfg.emulator.n_credentials = 1;
    cfg.emulator.region = "us-east-1";
    char err[256];
    mtr_emulator_t *em = mtr_emulator_start(&cfg, NULL, err, sizeof err);
    if (!em) {
        fprintf(stderr, "meterbench pacing: emulator: %s\n", err);
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)mtr_emulator_port(em));
    cfg.aws.region = "us-east-1";
    cfg.aws.endpoint = url;
    cfg.emit.max_in_flight = in_flight;
    cfg.emit.max_attempts = 5;
    cfg.emit.request_timeout_ms = 10000;

    int rc = run_paced(&cfg, em, n, rate);
    int rc2 = run_unpaced(&cfg, em, off_n, runs);
    mtr_emulator_stop(em);
    return rc ? rc : rc2;
}
