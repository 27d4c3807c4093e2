/* meterbench: dispatches to the benchmarks.
 *   meterbench all [args]       hotpath, then decode
 *   meterbench hotpath [args]   pre-decoded events into the hour table
 *   meterbench decode [args]    raw JSON decode + aggregate
 *   meterbench emit [args]      records/s accepted by the local emulator
 *   meterbench pacing [args]    emit.calls_per_second holds; records/s with pacing off
 *   meterbench ledger [args]    ledger close → sendable for 10k and 100k records */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

/* Weak so the binary still links (and says so) when a benchmark is not part
 * of this build. */
#pragma weak bench_decode_main
#pragma weak bench_hotpath_main
#pragma weak bench_emit_main
#pragma weak bench_pacing_main
#pragma weak bench_ledger_main

static int run(const char *name, int (*fn)(int, char **), int argc, char **argv)
{
    if (!fn) {
        fprintf(stderr, "meterbench: %s is not in this build\n", name);
        return 1;
    }
    return fn(argc, argv);
}

static int usage(FILE *out)
{
    fprintf(out, "usage: meterbench all|hotpath|decode|emit|pacing|ledger [options]\n"
                 "       meterbench <benchmark> --help   options of one benchmark\n");
    return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "hotpath") == 0)
        return run(cmd, bench_hotpath_main, argc - 1, argv + 1);
    if (strcmp(cmd, "decode") == 0)
        return run(cmd, bench_decode_main, argc - 1, argv + 1);
    if (strcmp(cmd, "emit") == 0)
        return run(cmd, bench_emit_main, argc - 1, argv + 1);
    if (strcmp(cmd, "pacing") == 0)
        return run(cmd, bench_pacing_main, argc - 1, argv + 1);
    if (strcmp(cmd, "ledger") == 0)
        return run(cmd, bench_ledger_main, argc - 1, argv + 1);
    if (strcmp(cmd, "all") == 0) {
        int rc = run("hotpath", bench_hotpath_main, argc - 1, argv + 1);
        int rc2 = run("decode", bench_decode_main, argc - 1, argv + 1);
        return rc ? rc : rc2;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
        return usage(stdout);
    fprintf(stderr, "meterbench: unknown benchmark \"%s\"\n", cmd);
    return usage(stderr);
}
