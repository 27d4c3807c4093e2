/* The subcommands of `meterd`: one cmd_<name>.c each, parsing its own flags
 * with getopt_long and calling the modules. Each returns the process exit
 * code: 0 success, 1 failure, 2 usage or input error. */
#ifndef MTR_CLI_CMD_H
#define MTR_CLI_CMD_H

#include <signal.h>

/* How meterd was invoked (argv[0], e.g. "build/meterd"), for commands that
 * print follow-up command lines. */
const char *cli_program(void);

/* Sets *flag to 1 when SIGINT or SIGTERM arrives, for commands that run
 * until stopped. Blocking calls are interrupted (no SA_RESTART), so a loop
 * around them sees the flag at once. */
void cli_stop_on_signals(volatile sig_atomic_t *flag);

int cmd_config(int argc, char **argv);
int cmd_sigv4(int argc, char **argv);
int cmd_emulator(int argc, char **argv);
int cmd_mock_kafka(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_records(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_sandbox(int argc, char **argv);

#endif
