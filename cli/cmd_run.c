/* `meterd run --config FILE`: the daemon. Consumes usage events from Kafka,
 * writes durable hourly records to the ledger exactly once, and sends them
 * to the Metering Service from a sender thread as hours close.
 * SIGTERM/SIGINT stop consumption, leave the group, finish the sending pass
 * in progress and exit 0 within seconds (what is durable is already
 * committed); a second signal exits at once. With metrics.listen set it
 * also serves GET /metrics and GET /healthz (cli/metrics_server.h). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/run_watch.h"
#include "core/config.h"
#include "core/log.h"
#include "ledger/ledger.h"
#include "emit/sender.h"
#include "ingest/ingest.h"

static mtr_ingest_t *running;
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    if (signals_seen++) {
        static const char msg[] = "meterd: second signal, exiting at once\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(130);
    }
    if (running)
        mtr_ingest_stop(running);
}

static void on_sendable(void *opaque, int64_t hour_ms, size_t records)
{
    (void)hour_ms;
    (void)records;
    if (opaque)
        mtr_emit_sender_wake(opaque);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd run --config FILE [--no-send] [--log-level debug|info|warn|error]\n"
                 "\n"
                 "Consumes usage events from kafka.topics as a member of kafka.\"group.id\",\n"
                 "sums them per customer, dimension and hour, writes each closed hour to the\n"
                 "ledger (ledger.path) exactly once, and sends its records to the Metering\n"
                 "Service (aws.endpoint, or the regional endpoint of aws.region).\n"
                 "SIGTERM or SIGINT stops it cleanly.\n"
                 "\n"
                 "  --no-send   only ingest: closed hours wait in the ledger as sendable\n"
                 "              (a later run without --no-send sends them)\n");
}

int cmd_run(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"no-send", no_argument, NULL, 'n'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    int send = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:l:nh", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            send = 0;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'l': {
            int level = mtr_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr,
                        "meterd run: --log-level \"%s\": expected debug, info, warn or "
                        "error\n",
                        optarg);
                return 2;
            }
            mtr_log_set_level((mtr_log_level_t)level);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!config_path || optind < argc) {
        fprintf(stderr, "meterd run: %s\n",
                config_path ? "unexpected argument" : "--config FILE is required");
        usage(stderr);
        return 2;
    }

    char errstr[1024];
    mtr_config_t *config;
    if (mtr_config_load(config_path, &config, NULL, errstr, sizeof errstr)) {
        fprintf(stderr, "meterd run: %s: %s\n(`meterd config --check %s` lists every problem)\n",
                config_path, errstr, config_path);
        return 2;
    }
    mtr_info("run", "meterd %s: config %s, ledger %s, group %s, endpoint %s", MTR_VERSION,
             config_path, config->ledger.path, config->kafka.group_id,
             config->aws.endpoint ? config->aws.endpoint : "AWS (regional)");
    mtr_config_log_summary(config);

    mtr_ledger_options_t lopts = {.max_record_age_ms = config->window.max_record_age_ms,
                                  .lock = true};
    mtr_ledger_t *ledger;
    if (mtr_ledger_open(config->ledger.path, &lopts, &ledger, errstr, sizeof errstr)) {
        fprintf(stderr, "meterd run: %s\n", errstr); /* names the ledger */
        mtr_config_free(config);
        return 1;
    }

    mtr_emit_sender_t *sender = NULL;
    if (send && (mtr_emit_sender_new(config, NULL, &sender, errstr, sizeof errstr) ||
                 mtr_emit_sender_start(sender, errstr, sizeof errstr))) {
        fprintf(stderr, "meterd run: sender: %s\n", errstr);
        mtr_emit_sender_free(sender);
        mtr_ledger_free(ledger);
        mtr_config_free(config);
        return 1;
    }
    if (!send)
        mtr_info("run", "--no-send: closed hours stay sendable in the ledger");

    mtr_ingest_options_t iopts = {.on_sendable = on_sendable, .opaque = sender};
    mtr_ingest_t *ing;
    if (mtr_ingest_new(config, ledger, &iopts, &ing, errstr, sizeof errstr)) {
        fprintf(stderr, "meterd run: %s\n", errstr);
        mtr_emit_sender_free(sender);
        mtr_ledger_free(ledger);
        mtr_config_free(config);
        return 1;
    }
    run_watch_t watch = {.ing = ing, .sender = sender, .ledger_path = config->ledger.path};
    pthread_mutex_init(&watch.mu, NULL);
    mtr_metrics_t *metrics;
    metrics_server_t *server;
    if (run_watch_start(&watch, config, &metrics, &server, errstr, sizeof errstr)) {
        fprintf(stderr, "meterd run: %s\n", errstr);
        pthread_mutex_destroy(&watch.mu);
        mtr_ingest_free(ing);
        mtr_emit_sender_free(sender);
        mtr_ledger_free(ledger);
        mtr_config_free(config);
        return 1;
    }
    running = ing;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    mtr_err_t err = mtr_ingest_run(ing, errstr, sizeof errstr);
    run_watch_ingest_stopped(&watch, err, errstr);
    mtr_ingest_stats_t st = watch.final;
    mtr_info("run",
             "stopped: %llu message(s), %llu counted, %llu replayed, %llu rejected, %llu "
             "close(s), %llu customer-hour(s) spread over partitions",
             (unsigned long long)st.messages, (unsigned long long)st.counted,
             (unsigned long long)st.replayed, (unsigned long long)st.rejected,
             (unsigned long long)st.closes, (unsigned long long)st.customers_split);
    running = NULL;
    mtr_ingest_free(ing);
    if (sender) {
        mtr_emit_sender_stats_t ss;
        mtr_emit_sender_stop(sender);
        mtr_emit_sender_stats(sender, &ss);
        mtr_info("run", "sender: %llu record(s) sent, %llu accepted",
                 (unsigned long long)ss.records,
                 (unsigned long long)ss.outcomes[MTR_EMIT_ACCEPTED]);
    }
    /* The server reads the sender's figures: stop it before the sender
     * goes. */
    metrics_server_stop(server);
    mtr_metrics_free(metrics);
    pthread_mutex_destroy(&watch.mu);
    mtr_emit_sender_free(sender);
    mtr_ledger_free(ledger);
    mtr_config_free(config);
    if (err) {
        fprintf(stderr, "meterd run: %s\n", errstr);
        return 1;
    }
    return 0;
}
