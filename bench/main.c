/* meterbench: dispatches to the benchmarks. `all` runs every one in turn,
 * as `make bench` does. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

static const struct benchmark {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} benchmarks[] = {
    {"hotpath", bench_hotpath_main, "pre-decoded events into the hour tables"},
    {"decode", bench_decode_main, "raw JSON decode + aggregate, against cJSON's parse rate"},
    {"ledger", bench_ledger_main, "ledger close -> sendable for 10k and 100k records"},
    {"pacing", bench_pacing_main, "emit.calls_per_second holds; records/s with pacing off"},
    {"consume", bench_consume_main, "raw librdkafka consume rate of a topic (baseline)"},
};

#define N_BENCHMARKS (sizeof benchmarks / sizeof benchmarks[0])

static int usage(FILE *out)
{
    fprintf(out, "usage: meterbench all|<benchmark> [options]\n\nbenchmarks:\n");
    for (size_t i = 0; i < N_BENCHMARKS; i++)
        fprintf(out, "  %-8s %s\n", benchmarks[i].name, benchmarks[i].summary);
    fprintf(out, "\n`meterbench <benchmark> --help` lists its options; `all` runs hotpath,\n"
                 "decode, ledger and pacing with their defaults.\n");
    return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help"))
        return usage(stdout);
    if (!strcmp(name, "all")) {
        int rc = 0;
        /* consume needs a topic: bench/bench_ingest.py drives it. */
        for (size_t i = 0; i < N_BENCHMARKS - 1; i++) {
            char *args[] = {(char *)benchmarks[i].name, NULL};
            printf("\n== meterbench %s ==\n", benchmarks[i].name);
            fflush(stdout);
            optind = 0; /* each benchmark parses its flags with getopt anew */
            int r = benchmarks[i].run(1, args);
            rc = rc ? rc : r;
        }
        return rc;
    }
    for (size_t i = 0; i < N_BENCHMARKS; i++)
        if (!strcmp(name, benchmarks[i].name))
            return benchmarks[i].run(argc - 1, argv + 1);
    fprintf(stderr, "meterbench: unknown benchmark \"%s\"\n", name);
    return usage(stderr);
}
