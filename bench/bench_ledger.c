/* meterbench ledger: how long a window close takes to become sendable in
 * the ledger. Each run builds a fresh ledger file in a temporary directory,
 * then for each hour closes N records from P partitions in one
 * mtr_ledger_close (a quarter of them with two tagged contributions) and
 * confirms it with mtr_ledger_confirm_commit. Prints close ms, confirm ms,
 * their total and records/s per run and hour, then the median and best of
 * the first hour's total (DESIGN §7: close → sendable < 1 s at 100k). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "ledger/ledger.h"

int bench_ledger_main(int argc, char **argv);

#define MAX_RUNS 100

static const char *const dims[] = {"api_calls", "storage_gb", "seats", "requests"};
static const mtr_record_tag_t tags_search[] = {{"team", "search"}};
static const mtr_record_tag_t tags_ads[] = {{"team", "ads"}, {"env", "prod"}};

/* The contributions of one hour: record i lives in partition i % P (one
 * customer, one partition, as producers key by customer). */
typedef struct workload {
    size_t n_records, n_parts;
    char (*customers)[32];
    mtr_ledger_contribution_t *contribs;
    size_t n_contribs;
    mtr_ledger_close_entry_t *entries;
    mtr_ledger_partition_checkpoint_t *checkpoints;
} workload_t;

/* CPU time of the process: on a shared machine it says more than the wall
 * clock about the work itself (fsync waits are not in it). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void workload_init(workload_t *w, size_t n, size_t parts)
{
    *w = (workload_t){.n_records = n, .n_parts = parts};
    w->customers = mtr_calloc(n, sizeof *w->customers);
    w->contribs = mtr_calloc(n + n / 4 + 1, sizeof *w->contribs);
    w->entries = mtr_calloc(parts, sizeof *w->entries);
    w->checkpoints = mtr_calloc(parts, sizeof *w->checkpoints);
}

static void workload_fill(workload_t *w, int64_t hour, int64_t offset, mtr_bench_rng_t *rng)
{
    w->n_contribs = 0;
    for (size_t i = 0; i < w->n_records; i++) {
        snprintf(w->customers[i], sizeof w->customers[i], "cust-%07zu", i / 4);
        mtr_ledger_contribution_t c = {
            .key = {MTR_LEDGER_SCOPE_PRODUCT, "prod-bench", MTR_LEDGER_CUSTOMER_IDENTIFIER,
                    w->customers[i], dims[i % 4]},
            .hour_ms = hour,
            .topic = "usage",
            .partition = (int32_t)(i % w->n_parts),
            .quantity_micro = (int64_t)mtr_bench_uniform(rng, 50000000) + 1,
            .rounding = (mtr_rounding_t)(i % 3),
        };
        if (i % 4 == 0) {
            c.tags = tags_search;
            c.n_tags = 1;
            w->contribs[w->n_contribs++] = c;
            c.tags = tags_ads;
            c.n_tags = 2;
            c.quantity_micro = (int64_t)mtr_bench_uniform(rng, 50000000) + 1;
        }
        w->contribs[w->n_contribs++] = c;
    }
    for (size_t p = 0; p < w->n_parts; p++) {
        w->entries[p] = (mtr_ledger_close_entry_t){"usage", (int32_t)p, hour, offset};
        w->checkpoints[p] =
            (mtr_ledger_partition_checkpoint_t){"usage", (int32_t)p, offset, "bench-tail"};
    }
}

static void workload_free(workload_t *w)
{
    mtr_free(w->customers);
    mtr_free(w->contribs);
    mtr_free(w->entries);
    mtr_free(w->checkpoints);
}

/* One run on a fresh ledger; fills total_ms[h] per hour. */
static int run_once(size_t n, size_t parts, int hours, int run, double *first_total_ms)
{
    char dir[] = "/tmp/meterbench-ledger-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("meterbench ledger: mkdtemp");
        return 1;
    }
    char path[96], err[512];
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    int64_t hour0 = mtr_hour_floor_ms(mtr_clock_wall_ms(mtr_clock_system())) - 2 * MTR_MS_PER_HOUR;
    mtr_ledger_t *l;
    int rc = 0;
    if (mtr_ledger_open(path, NULL, &l, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterbench ledger: %s\n", err);
        rc = 1;
        goto out;
    }
    workload_t w;
    workload_init(&w, n, parts);
    mtr_bench_rng_t rng = {.state = 42};
    for (int h = 0; h < hours && !rc; h++) {
        workload_fill(&w, hour0 + h * MTR_MS_PER_HOUR, 1000 * (h + 1), &rng);
        mtr_ledger_close_t close = {w.entries,    parts,         w.contribs,
                                    w.n_contribs, w.checkpoints, parts};
        int64_t id;
        uint64_t c0 = cpu_ns(), t0 = mtr_bench_now_ns();
        if (mtr_ledger_close(l, &close, &id, err, sizeof err) != MTR_OK) {
            fprintf(stderr, "meterbench ledger: close: %s\n", err);
            rc = 1;
            break;
        }
        uint64_t t1 = mtr_bench_now_ns();
        if (mtr_ledger_confirm_commit(l, id, err, sizeof err) != MTR_OK) {
            fprintf(stderr, "meterbench ledger: confirm: %s\n", err);
            rc = 1;
            break;
        }
        uint64_t t2 = mtr_bench_now_ns(), c2 = cpu_ns();
        double close_ms = (double)(t1 - t0) / 1e6, confirm_ms = (double)(t2 - t1) / 1e6;
        double total_ms = close_ms + confirm_ms;
        if (h == 0)
            *first_total_ms = total_ms;
        printf("  run %d hour %d: close %.1f ms, confirm %.1f ms, total %.1f ms, %.0f records/s "
               "(cpu %.1f ms)\n",
               run + 1, h + 1, close_ms, confirm_ms, total_ms, (double)n / (total_ms / 1e3),
               (double)(c2 - c0) / 1e6);
    }
    workload_free(&w);
    mtr_ledger_free(l);
out:;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "meterbench ledger: could not remove %s\n", dir);
    return rc;
}

static int usage(FILE *out)
{
    fprintf(out, "usage: meterbench ledger [--records N] [--partitions P] [--hours K] "
                 "[--runs R]\n"
                 "  --records N     records per close (default: 10000, then 100000)\n"
                 "  --partitions P  partitions in the close (default 8)\n"
                 "  --hours K       closes per run, one hour each (default 2)\n"
                 "  --runs R        runs, each on a fresh ledger (default 3)\n");
    return out == stdout ? 0 : 2;
}

int bench_ledger_main(int argc, char **argv)
{
    size_t n = 0, parts = 8;
    int hours = 2, runs = 3;
    static const struct option longopts[] = {
        {"records", required_argument, NULL, 'n'}, {"partitions", required_argument, NULL, 'p'},
        {"hours", required_argument, NULL, 'k'},   {"runs", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:p:k:r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'p':
            parts = strtoul(optarg, NULL, 10);
            break;
        case 'k':
            hours = atoi(optarg);
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
    if (parts == 0 || parts > 1024 || hours < 1 || hours > 24 || runs < 1 || runs > MAX_RUNS)
        return usage(stderr);
    mtr_log_set_level(MTR_LOG_ERROR);
    size_t sizes[2] = {10000, 100000}, n_sizes = 2;
    if (n) {
        sizes[0] = n;
        n_sizes = 1;
    }
    for (size_t s = 0; s < n_sizes; s++) {
        printf("ledger: %zu records (%zu contributions) from %zu partitions per close, %d "
               "hour(s) a run, synchronous=FULL\n",
               sizes[s], sizes[s] + sizes[s] / 4, parts, hours);
        double totals[MAX_RUNS];
        for (int r = 0; r < runs; r++)
            if (run_once(sizes[s], parts, hours, r, &totals[r]))
                return 1;
        /* Rates so that the shared helpers' "best" is the largest. */
        double rates[MAX_RUNS];
        for (int r = 0; r < runs; r++)
            rates[r] = 1e3 / totals[r];
        double median = 1e3 / mtr_bench_median(rates, (size_t)runs);
        double best = 1e3 / mtr_bench_best(rates, (size_t)runs);
        printf("ledger: %zu records, first hour close+confirm: median %.1f ms (%.0f records/s), "
               "best %.1f ms (%.0f records/s)\n",
               sizes[s], median, (double)sizes[s] / (median / 1e3), best,
               (double)sizes[s] / (best / 1e3));
    }
    return 0;
}
