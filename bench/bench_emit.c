/* meterbench emit: records/s the emitter gets accepted by the local
 * emulator (SigV4-verified, contract-checked) over loopback, pacing off.
 * Each run sends the same records to a freshly reset emulator, so every run
 * does the full work (no idempotent short cuts). Prints records/s and
 * requests/s per run, then the median and best. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "emit/emitter.h"
#include "emulator/emulator.h"

#define AKID   "AKIDBENCHEMIT"
#define SECRET "bench/emit/secret"

int bench_emit_main(int argc, char **argv);

static mtr_dimension_conf_t dims[] = {
    {.name = "api_calls"}, {.name = "storage_gb"}, {.name = "seats"}, {.name = "requests"}};
static mtr_product_conf_t products[] = {
    {.product_code = "prod-bench", .dimensions = dims, .n_dimensions = 4}};
static mtr_emulator_credential_t creds[] = {{.access_key_id = AKID, .secret_access_key = SECRET}};

static mtr_err_t credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                             size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    out->access_key_id = AKID;
    out->secret_access_key = SECRET;
    out->session_token = NULL;
    return MTR_OK;
}

static void count_accepted(void *ctx, const mtr_emit_result_t *res)
{
    if (res->outcome == MTR_EMIT_ACCEPTED)
        (*(size_t *)ctx)++;
}

static int usage(FILE *out)
{
    fprintf(out, "usage: meterbench emit [--records N] [--in-flight K] [--runs R]\n"
                 "  --records N    records per run (default 20000)\n"
                 "  --in-flight K  requests in flight (default 4)\n"
                 "  --runs R       runs (default 3)\n");
    return out == stdout ? 0 : 2;
}

int bench_emit_main(int argc, char **argv)
{
    size_t n = 20000;
    int in_flight = 4, runs = 3;
    static const struct option longopts[] = {{"records", required_argument, NULL, 'n'},
                                             {"in-flight", required_argument, NULL, 'k'},
                                             {"runs", required_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:k:r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'k':
            in_flight = atoi(optarg);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'h':
            return usage(stdout);
        default:
            return usage(stderr);
        }
    }
    if (n == 0 || in_flight < 1 || runs < 1 || runs > 100)
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
        fprintf(stderr, "meterbench emit: emulator: %s\n", err);
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)mtr_emulator_port(em));
    cfg.aws.region = "us-east-1";
    cfg.aws.endpoint = url;
    cfg.emit.calls_per_second = 0;
    cfg.emit.max_in_flight = in_flight;
    cfg.emit.max_attempts = 5;
    cfg.emit.request_timeout_ms = 10000;
    mtr_emitter_options_t eo = {.config = &cfg, .credentials = credentials};
    mtr_emitter_t *emitter;
    if (mtr_emitter_new(&eo, &emitter, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterbench emit: %s\n", err);
        mtr_emulator_stop(em);
        return 1;
    }

    mtr_emit_record_t *records = mtr_calloc(n, sizeof *records);
    char(*customers)[32] = mtr_calloc(n, sizeof *customers);
    int64_t hour = mtr_hour_floor_ms(mtr_clock_wall_ms(mtr_clock_system())) - MTR_MS_PER_HOUR;
    for (size_t i = 0; i < n; i++) {
        snprintf(customers[i], sizeof customers[i], "cust-%07zu", i / 4);
        records[i] = (mtr_emit_record_t){.product_code = "prod-bench",
                                         .customer_identifier = customers[i],
                                         .dimension = dims[i % 4].name,
                                         .hour_start_ms = hour,
                                         .quantity = (int64_t)(i % 1000) + 1,
                                         .id = (int64_t)i};
    }

    double rates[100];
    int rc = 0;
    printf("emit: %zu records/run, 25 a request, %d in flight, pacing off, emulator on "
           "loopback\n",
           n, in_flight);
    for (int r = 0; r < runs; r++) {
        mtr_emulator_reset(em);
        size_t accepted = 0;
        uint64_t t0 = mtr_bench_now_ns();
        mtr_emitter_send(emitter, records, n, count_accepted, &accepted);
        double secs = (double)(mtr_bench_now_ns() - t0) / 1e9;
        rates[r] = (double)n / secs;
        printf("  run %d: %.0f records/s, %.0f requests/s (%zu accepted, %.2f s)\n", r + 1,
               rates[r], rates[r] / 25.0, accepted, secs);
        if (accepted != n) {
            fprintf(stderr, "meterbench emit: only %zu of %zu records accepted\n", accepted, n);
            rc = 1;
        }
    }
    printf("emit: median %.0f records/s, best %.0f records/s\n", mtr_bench_median(rates, runs),
           mtr_bench_best(rates, runs));
    mtr_free(customers);
    mtr_free(records);
    mtr_emitter_free(emitter);
    mtr_emulator_stop(em);
    return rc;
}
