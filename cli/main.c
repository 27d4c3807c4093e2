/* meterd's entry point: dispatches on the subcommand. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"demo", cmd_demo, "run the whole job end to end on embedded defaults"},
    {"sandbox", cmd_sandbox, "embedded Kafka + Metering emulator for your own producer"},
    {"run", cmd_run, "consume usage events and bill them (the daemon)"},
    {"records", cmd_records, "list ledger records (filters; table, CSV or JSON)"},
    {"offsets", cmd_offsets, "show the consumer group's offsets and meterd's close log"},
    {"replay", cmd_replay, "recompute closed hours from the topic and diff them with the ledger"},
    {"config", cmd_config, "list the configuration properties or check a config file"},
    {"sigv4", cmd_sigv4, "print a stage of the SigV4 signature of a raw HTTP request"},
    {"emulator", cmd_emulator, "run the local AWS Marketplace Metering Service emulator"},
    {"mock-kafka", cmd_mock_kafka, "run an embedded Kafka cluster on loopback (tests, trials)"},
};

static const char *program = "meterd";

const char *cli_program(void)
{
    return program;
}

static volatile sig_atomic_t *stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_flag)
        *stop_flag = 1;
}

void cli_stop_on_signals(volatile sig_atomic_t *flag)
{
    stop_flag = flag;
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_dispatch(const char *command, int argc, char **argv, const cli_subcommand_t *subs,
                 size_t n_subs, void (*usage)(FILE *out))
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < n_subs; i++)
        if (!strcmp(argv[1], subs[i].name))
            return subs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "meterd %s: unknown subcommand \"%s\" (expected", command, argv[1]);
    for (size_t i = 0; i < n_subs; i++)
        fprintf(stderr, "%s %s", i ? (i + 1 == n_subs ? " or" : ",") : "", subs[i].name);
    fprintf(stderr, ")\n\n");
    usage(stderr);
    return 2;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`meterd <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc > 0 && argv[0] && argv[0][0])
        program = argv[0];
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("meterd %s\n", MTR_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "meterd: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return 2;
}
