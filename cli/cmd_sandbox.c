/* `meterd sandbox`: an embedded Kafka cluster and the local Metering
 * emulator for a SaaS team's own development, with a ready config file for
 * `meterd run`, so a real producer can be tried against meterd without Kafka
 * or AWS. Runs until SIGINT/SIGTERM. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/demo_workload.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "emulator/emulator.h"
#include "ingest/mock_cluster.h"

#define SANDBOX_KEY_ID "AKIASANDBOXEXAMPLE"
#define SANDBOX_SECRET "sandbox-secret-key"

static volatile sig_atomic_t stop_requested;

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd sandbox [--port PORT] [--partitions N] [--config-out FILE]\n"
                 "                      [--ledger FILE]\n"
                 "\n"
                 "Starts an embedded Kafka cluster (topics usage and usage.dlq) and the local\n"
                 "Metering emulator, writes a config for `meterd run` naming both, prints how to\n"
                 "use them, and runs until SIGINT/SIGTERM.\n"
                 "\n"
                 "  --port PORT        emulator port on 127.0.0.1 (default 8089; 0: any free)\n"
                 "  --partitions N     partitions of the usage topic (1..64, default 8)\n"
                 "  --config-out FILE  where to write the config (default meterd-sandbox.json)\n"
                 "  --ledger FILE      ledger.path in that config (default meterd-sandbox.db)\n");
}

static long parse_long(const char *flag, const char *text, long min, long max)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*end || end == text || v < min || v > max) {
        fprintf(stderr, "meterd sandbox: %s must be %ld..%ld, got \"%s\"\n", flag, min, max, text);
        return -1;
    }
    return v;
}

static char *config_text(const char *bootstraps, unsigned port, const char *ledger)
{
    size_t size = 4096;
    char *text = mtr_malloc(size);
    snprintf(text, size,
             "{\"kafka\": {\"bootstrap.servers\": \"%s\", \"group.id\": \"meterd-sandbox\",\n"
             "           \"topics\": [\"usage\"], \"dead_letter_topic\": \"usage.dlq\",\n"
             "           \"properties\": {\"fetch.wait.max.ms\": \"100\",\n"
             "                          \"session.timeout.ms\": \"6000\"}},\n"
             " \"aws\": {\"region\": \"us-east-1\", \"endpoint\": \"http://127.0.0.1:%u\"},\n"
             " \"products\": %s,\n"
             " \"window\": {\"lateness\": \"1m\"},\n"
             " \"ledger\": {\"path\": \"%s\"},\n"
             " \"emulator\": {\"credentials\": [{\"access_key_id\": \"%s\",\n"
             "                                 \"secret_access_key\": \"%s\"}]}}\n",
             bootstraps, port, demo_products_json, ledger, SANDBOX_KEY_ID, SANDBOX_SECRET);
    return text;
}

int cmd_sandbox(int argc, char **argv)
{
    static const struct option options[] = {{"port", required_argument, NULL, 'p'},
                                            {"partitions", required_argument, NULL, 'n'},
                                            {"config-out", required_argument, NULL, 'o'},
                                            {"ledger", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    long port = 8089, partitions = 8;
    const char *config_path = "meterd-sandbox.json", *ledger = "meterd-sandbox.db";
    int opt;
    while ((opt = getopt_long(argc, argv, "p:n:o:l:h", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            if ((port = parse_long("--port", optarg, 0, 65535)) < 0)
                return 2;
            break;
        case 'n':
            if ((partitions = parse_long("--partitions", optarg, 1, 64)) < 0)
                return 2;
            break;
        case 'o':
            config_path = optarg;
            break;
        case 'l':
            ledger = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meterd sandbox: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }

    char errstr[1024];
    mtr_mock_cluster_t *cluster;
    if (mtr_mock_cluster_new(1, &cluster, errstr, sizeof errstr) ||
        mtr_mock_cluster_create_topic(cluster, "usage", (int)partitions, errstr, sizeof errstr) ||
        mtr_mock_cluster_create_topic(cluster, "usage.dlq", 1, errstr, sizeof errstr)) {
        fprintf(stderr, "meterd sandbox: Kafka mock cluster: %s\n", errstr);
        return 1;
    }
    const char *bootstraps = mtr_mock_cluster_bootstraps(cluster);

    /* The emulator reads the same config: products and credentials. */
    char *text = config_text(bootstraps, (unsigned)port, ledger);
    mtr_config_t *cfg = NULL; /* read by the emulator until it stops */
    mtr_emulator_t *em = NULL;
    if (mtr_config_load_string(text, &cfg, NULL, errstr, sizeof errstr) == MTR_OK) {
        mtr_emulator_options_t eopts = {.host = "127.0.0.1", .port = (uint16_t)port};
        em = mtr_emulator_start(cfg, &eopts, errstr, sizeof errstr);
    }
    mtr_free(text);
    if (!em) {
        fprintf(stderr, "meterd sandbox: Metering emulator: %s%s\n", errstr,
                port ? " (another program may hold the port: try --port 0)" : "");
        mtr_config_free(cfg);
        mtr_mock_cluster_destroy(cluster);
        return 1;
    }
    unsigned bound = mtr_emulator_port(em);
    text = config_text(bootstraps, bound, ledger);
    FILE *f = fopen(config_path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    mtr_free(text);
    if (!f) {
        fprintf(stderr, "meterd sandbox: cannot write %s\n", config_path);
        mtr_emulator_stop(em);
        mtr_config_free(cfg);
        mtr_mock_cluster_destroy(cluster);
        return 1;
    }

    printf(
        "meterd sandbox is running; Ctrl-C stops it.\n\n"
        "  Kafka bootstrap servers  %s\n"
        "  topics                   usage (%ld partitions), usage.dlq\n"
        "  Metering emulator        http://127.0.0.1:%u\n"
        "  accepted records         curl http://127.0.0.1:%u/_emulator/records\n"
        "  config for meterd run    %s\n\n"
        "In another terminal:\n"
        "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n"
        "  %s run --config %s\n\n"
        "Then point your producer at the bootstrap servers (topic usage, keyed by\n"
        "customer), or try one event:\n"
        "  echo 'cust-1:{\"customer\":\"cust-1\",\"dimension\":\"api_calls\",\"quantity\":3}' |\n"
        "    kcat -P -b %s -t usage -K:\n"
        "An hour is billed once it is over (plus window.lateness): send events with\n"
        "\"timestamp\" in the last few hours to see records at once.\n",
        bootstraps, partitions, bound, bound, config_path, SANDBOX_KEY_ID, SANDBOX_SECRET,
        cli_program(), config_path, bootstraps);
    fflush(stdout);

    cli_stop_on_signals(&stop_requested);
    uint64_t reported = 0;
    while (!stop_requested) {
        sleep(1);
        mtr_emulator_stats_t st;
        mtr_emulator_get_stats(em, &st);
        if (st.stored != reported) {
            mtr_info("sandbox", "emulator holds %" PRIu64 " accepted record(s)", st.stored);
            reported = st.stored;
        }
    }
    mtr_info("sandbox", "stopping");
    mtr_emulator_stop(em);
    mtr_config_free(cfg);
    mtr_mock_cluster_destroy(cluster);
    return 0;
}
