/* The subcommands of `meterd`: one cmd_<name>.c each, parsing its own flags
 * with getopt_long and calling the modules. Each returns the process exit
 * code: 0 success, 1 failure, 2 usage or input error. */
#ifndef MTR_CLI_CMD_H
#define MTR_CLI_CMD_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

/* How meterd was invoked (argv[0], e.g. "build/meterd"), for commands that
 * print follow-up command lines. */
const char *cli_program(void);

/* Sets *flag to 1 when SIGINT or SIGTERM arrives, for commands that run
 * until stopped. Blocking calls are interrupted (no SA_RESTART), so a loop
 * around them sees the flag at once. */
void cli_stop_on_signals(volatile sig_atomic_t *flag);

/* A command with subcommands (`meterd records list`): runs the one argv[1]
 * names with argv shifted by one, prints usage for --help or none, and
 * names the choices for an unknown one. */
typedef struct cli_subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
} cli_subcommand_t;

int cli_dispatch(const char *command, int argc, char **argv, const cli_subcommand_t *subs,
                 size_t n_subs, void (*usage)(FILE *out));

int cmd_config(int argc, char **argv);
int cmd_sigv4(int argc, char **argv);
int cmd_emulator(int argc, char **argv);
int cmd_mock_kafka(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_records(int argc, char **argv);
int cmd_offsets(int argc, char **argv);
int cmd_offsets_reset(int argc, char **argv); /* `meterd offsets reset` */
int cmd_replay(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_sandbox(int argc, char **argv);

#endif
