/* `meterd mock-kafka`: an embedded Kafka cluster in its own process, for
 * tests that kill meterd while the cluster keeps its data and committed
 * offsets, and for trying a producer without a real cluster. Prints
 * "bootstrap.servers=<list>" on stdout, then runs control lines from stdin
 * (see mtr_mock_cluster_control) until SIGINT/SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "core/log.h"
#include "ingest/mock_cluster.h"

static volatile sig_atomic_t stop_requested;

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd mock-kafka [--brokers N] [--topic NAME:PARTITIONS]...\n"
                 "\n"
                 "Starts librdkafka's mock Kafka cluster on loopback, prints\n"
                 "\"bootstrap.servers=HOST:PORT,...\" and runs until SIGINT/SIGTERM.\n"
                 "Control lines on stdin, answered \"ok\" or \"error: ...\":\n"
                 "  topic NAME PARTITIONS      create a topic\n"
                 "  broker-down ID | broker-up ID\n"
                 "  errors API COUNT ERROR     fail the next COUNT requests of API\n"
                 "                             (e.g. errors OffsetCommit 3 NOT_COORDINATOR)\n"
                 "\n"
                 "  --brokers N    brokers in the cluster (1..10, default 1)\n"
                 "  --topic T:P    create topic T with P partitions (repeatable;\n"
                 "                 default usage:8 and usage.dlq:1)\n");
}

static int create_topic_spec(mtr_mock_cluster_t *mc, const char *spec)
{
    char errstr[512];
    const char *colon = strrchr(spec, ':');
    char *end = NULL;
    long partitions = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == spec || *end != '\0' || partitions < 1 || partitions > 1000) {
        fprintf(stderr,
                "meterd mock-kafka: --topic \"%s\": expected NAME:PARTITIONS with 1..1000 "
                "partitions, e.g. usage:8\n",
                spec);
        return 2;
    }
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
    if (mtr_mock_cluster_create_topic(mc, name, (int)partitions, errstr, sizeof errstr)) {
        fprintf(stderr, "meterd mock-kafka: %s\n", errstr);
        return 1;
    }
    return 0;
}

int cmd_mock_kafka(int argc, char **argv)
{
    static const struct option options[] = {{"brokers", required_argument, NULL, 'b'},
                                            {"topic", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    long brokers = 1;
    const char *topics[64];
    int n_topics = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "b:t:h", options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'b':
            brokers = strtol(optarg, &end, 10);
            if (*end || brokers < 1 || brokers > 10) {
                fprintf(stderr, "meterd mock-kafka: --brokers must be 1..10, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (n_topics == 64) {
                fprintf(stderr, "meterd mock-kafka: at most 64 --topic flags\n");
                return 2;
            }
            topics[n_topics++] = optarg;
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
        fprintf(stderr, "meterd mock-kafka: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (n_topics == 0) {
        topics[n_topics++] = "usage:8";
        topics[n_topics++] = "usage.dlq:1";
    }

    char errstr[512];
    mtr_mock_cluster_t *mc;
    if (mtr_mock_cluster_new((int)brokers, &mc, errstr, sizeof errstr)) {
        fprintf(stderr, "meterd mock-kafka: %s\n", errstr);
        return 1;
    }
    for (int i = 0; i < n_topics; i++) {
        int rc = create_topic_spec(mc, topics[i]);
        if (rc) {
            mtr_mock_cluster_destroy(mc);
            return rc;
        }
    }

    cli_stop_on_signals(&stop_requested);
    printf("bootstrap.servers=%s\n", mtr_mock_cluster_bootstraps(mc));
    fflush(stdout);
    mtr_info("mock-kafka", "cluster of %ld broker(s) at %s", brokers,
             mtr_mock_cluster_bootstraps(mc));

    /* fgets is interrupted by the signal handler (no SA_RESTART), so a
     * signal ends the loop even while waiting for a control line. */
    char line[1024];
    int stdin_open = 1;
    while (!stop_requested) {
        if (!stdin_open) {
            pause();
            continue;
        }
        if (!fgets(line, sizeof line, stdin)) {
            stdin_open = 0;
            continue;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (mtr_mock_cluster_control(mc, line, errstr, sizeof errstr))
            printf("error: %s\n", errstr);
        else
            printf("ok\n");
        fflush(stdout);
    }
    mtr_info("mock-kafka", "stopping");
    mtr_mock_cluster_destroy(mc);
    return 0;
}
