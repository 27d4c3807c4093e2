/* The meterbench subcommands: each takes the arguments after its name
 * (argv[0] is the subcommand) and returns a process exit code. */
#ifndef MTR_BENCH_H
#define MTR_BENCH_H

int bench_hotpath_main(int argc, char **argv);
int bench_decode_main(int argc, char **argv);
int bench_pacing_main(int argc, char **argv);
int bench_ledger_main(int argc, char **argv);
int bench_consume_main(int argc, char **argv);

#endif
