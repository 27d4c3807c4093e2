/* meterbench hotpath: pre-decoded events into one hour table, single
 * thread. Workloads: 100k customers x 5 dimensions (500k keys) and 2k x 5
 * (10k keys, cache-resident), each with uniform and Zipf(1.1) key choice.
 * Each run starts from an empty table (so growth is included) and prints
 * updates/s, table bytes per key and customer-string bytes per customer;
 * the summary gives the best and the median over the runs, and the peak RSS
 * of the process. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate/table.h"
#include "bench/bench.h"
#include "bench/bench_util.h"
#include "core/mem.h"

#define DIMENSIONS 5
#define BATCH      256

typedef struct workload {
    size_t customers;
    bool zipf;
} workload_t;

typedef struct result {
    double rate;
    double bytes_per_key;
    double string_bytes_per_customer;
    size_t keys;
} result_t;

/* Builds `n` updates over customers x DIMENSIONS keys. Zipf ranks are
 * scattered over the keys by a random permutation so hot keys are not
 * neighbours in memory. */
static mtr_agg_update_t *make_updates(const workload_t *w, size_t n, char **names_out)
{
    size_t keys = w->customers * DIMENSIONS;
    char *names = mtr_malloc(w->customers * 16);
    for (size_t c = 0; c < w->customers; c++)
        snprintf(names + c * 16, 16, "cust-%08u", (unsigned)(c % 100000000));
    size_t *perm = mtr_malloc(keys * sizeof *perm);
    mtr_bench_rng_t rng = {42};
    for (size_t k = 0; k < keys; k++)
        perm[k] = k;
    for (size_t k = keys - 1; k > 0; k--) {
        size_t j = (size_t)mtr_bench_uniform(&rng, k + 1);
        size_t tmp = perm[k];
        perm[k] = perm[j];
        perm[j] = tmp;
    }
    mtr_bench_zipf_t zipf = {0};
    if (w->zipf)
        mtr_bench_zipf_init(&zipf, keys, 1.1);
    mtr_agg_update_t *u = mtr_calloc(n, sizeof *u);
    for (size_t i = 0; i < n; i++) {
        size_t k = w->zipf ? perm[mtr_bench_zipf_draw(&zipf, &rng)]
                           : (size_t)mtr_bench_uniform(&rng, keys);
        size_t c = k / DIMENSIONS;
        u[i].customer = names + c * 16;
        u[i].customer_len = 13;
        u[i].partition = (int32_t)(c % 8);
        u[i].scope = 0;
        u[i].dimension = (uint16_t)(k % DIMENSIONS);
        u[i].aggregation = MTR_AGG_SUM;
        u[i].quantity = (int64_t)(1 + mtr_bench_uniform(&rng, 1000)) * 1000;
        u[i].time_ms = 1764151200000LL + (int64_t)i;
    }
    if (w->zipf)
        mtr_bench_zipf_free(&zipf);
    mtr_free(perm);
    *names_out = names;
    return u;
}

static result_t run_once(const workload_t *w, const mtr_agg_update_t *pool, size_t pool_n,
                         size_t total)
{
    mtr_agg_table_t *t = mtr_agg_table_new(1764151200000LL, 0);
    uint64_t t0 = mtr_bench_now_ns();
    size_t done = 0;
    while (done < total) {
        size_t at = done % pool_n;
        size_t m = BATCH;
        if (m > pool_n - at)
            m = pool_n - at;
        if (m > total - done)
            m = total - done;
        mtr_agg_table_update_batch(t, pool + at, m);
        done += m;
    }
    uint64_t t1 = mtr_bench_now_ns();
    result_t r;
    size_t table_bytes, string_bytes;
    mtr_agg_table_memory(t, &table_bytes, &string_bytes);
    r.keys = mtr_agg_table_count(t);
    r.rate = (double)total / ((double)(t1 - t0) / 1e9);
    r.bytes_per_key = (double)table_bytes / (double)r.keys;
    r.string_bytes_per_customer = (double)string_bytes / (double)w->customers;
    mtr_agg_table_free(t);
    return r;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: meterbench hotpath [--runs N] [--updates N] [--quick]\n"
                 "  --runs N     runs per workload (default 5); best and median printed\n"
                 "  --updates N  updates per run at 500k keys (default 20000000; 10k keys\n"
                 "               get the same count)\n"
                 "  --quick      1 run of 2M updates (smoke test)\n");
}

int bench_hotpath_main(int argc, char **argv)
{
    int runs = 5;
    size_t updates = 20000000;
    static const struct option opts[] = {{"runs", required_argument, NULL, 'r'},
                                         {"updates", required_argument, NULL, 'u'},
                                         {"quick", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:u:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            runs = atoi(optarg);
            break;
        case 'u':
            updates = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            runs = 1;
            updates = 2000000;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (runs < 1 || runs > 100 || updates < 1000) {
        fprintf(stderr, "meterbench hotpath: --runs must be 1..100 and --updates >= 1000\n");
        return 2;
    }
    static const workload_t workloads[] = {
        {100000, false}, {100000, true}, {2000, false}, {2000, true}};
    printf("hotpath: pre-decoded events -> hour table, 1 thread, batch %d, %d run(s) x %zu "
           "updates\n",
           BATCH, runs, updates);
    printf("%-8s %-8s %8s %14s %14s %10s %12s\n", "keys", "dist", "keys_seen", "best_upd/s",
           "median_upd/s", "bytes/key", "str_B/cust");
    for (size_t wi = 0; wi < sizeof workloads / sizeof workloads[0]; wi++) {
        const workload_t *w = &workloads[wi];
        size_t pool_n = updates < 4000000 ? updates : 4000000;
        char *names;
        mtr_agg_update_t *pool = make_updates(w, pool_n, &names);
        double rates[100];
        result_t r = {0};
        for (int i = 0; i < runs; i++) {
            r = run_once(w, pool, pool_n, updates);
            rates[i] = r.rate;
        }
        double best = mtr_bench_best(rates, (size_t)runs);
        double median = mtr_bench_median(rates, (size_t)runs);
        printf("%-8zu %-8s %8zu %14.0f %14.0f %10.1f %12.1f\n", w->customers * DIMENSIONS,
               w->zipf ? "zipf1.1" : "uniform", r.keys, best, median, r.bytes_per_key,
               r.string_bytes_per_customer);
        fflush(stdout);
        mtr_free(pool);
        mtr_free(names);
    }
    printf("peak RSS: %ld KiB (includes the pre-generated events)\n", mtr_bench_peak_rss_kb());
    return 0;
}
