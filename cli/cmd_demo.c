/* `meterd demo`: the whole job end to end on embedded defaults, in one
 * process and in under a minute: an embedded Kafka cluster, the local
 * Metering emulator, a generated workload over the last three hours, and
 * the real pipeline of `meterd run` (the same ingest and sender code). It
 * shows a live progress line, then what was read, rejected, closed and
 * accepted, checked against what was generated. Exit 0 when every total
 * matches. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/demo_workload.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/quantity.h"
#include "ledger/ledger.h"
#include "emit/sender.h"
#include "emulator/emulator.h"
#include "ingest/ingest.h"
#include "ingest/mock_cluster.h"

#define DEMO_TOPIC       "usage"
#define DEMO_DLQ         "usage.dlq"
#define DEMO_PARTITIONS  8
#define DEMO_KEY_ID      "AKIDEMOEXAMPLE"
#define DEMO_SECRET      "demo-secret-key"
#define DEMO_DEADLINE_MS 90000

typedef struct demo {
    char dir[64];
    char config_path[128];
    char ledger_path[128];
    mtr_mock_cluster_t *cluster;
    mtr_emulator_t *emulator;
    mtr_config_t *emulator_config; /* read by the emulator until it stops */
    mtr_config_t *config;
    mtr_ledger_t *ledger; /* the ingest thread's */
    mtr_ledger_t *reader; /* this thread's, for progress */
    mtr_emit_sender_t *sender;
    mtr_ingest_t *ingest;
    pthread_t ingest_thread;
    bool ingest_running;
    mtr_err_t ingest_err;
    char ingest_errstr[512];
    rd_kafka_t *producer;
    demo_workload_t work;
    bool tty;
} demo_t;

static mtr_err_t demo_credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                                  size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    *out = (mtr_sigv4_credentials_t){DEMO_KEY_ID, DEMO_SECRET, NULL};
    return MTR_OK;
}

static void on_sendable(void *opaque, int64_t hour_ms, size_t records)
{
    (void)hour_ms;
    (void)records;
    mtr_emit_sender_wake(opaque);
}

static void *ingest_main(void *arg)
{
    demo_t *d = arg;
    d->ingest_err = mtr_ingest_run(d->ingest, d->ingest_errstr, sizeof d->ingest_errstr);
    return NULL;
}

static int fail(const char *what, const char *errstr)
{
    fprintf(stderr, "meterd demo: %s: %s\n", what, errstr);
    return 1;
}

/* The demo's config, naming the embedded cluster and the emulator's port
 * (caller frees). */
static char *config_text(const demo_t *d, unsigned port)
{
    size_t size = 4096;
    char *text = mtr_malloc(size);
    snprintf(text, size,
             "{\"kafka\": {\"bootstrap.servers\": \"%s\", \"group.id\": \"meterd-demo\",\n"
             "           \"topics\": [\"%s\"], \"dead_letter_topic\": \"%s\",\n"
             "           \"properties\": {\"fetch.wait.max.ms\": \"50\",\n"
             "                          \"session.timeout.ms\": \"6000\"}},\n"
             " \"aws\": {\"region\": \"us-east-1\", \"endpoint\": \"http://127.0.0.1:%u\"},\n"
             " \"products\": %s,\n"
             " \"window\": {\"lateness\": \"20s\"},\n"
             " \"ledger\": {\"path\": \"%s\"},\n"
             " \"emulator\": {\"credentials\": [{\"access_key_id\": \"%s\",\n"
             "                                 \"secret_access_key\": \"%s\"}]}}\n",
             mtr_mock_cluster_bootstraps(d->cluster), DEMO_TOPIC, DEMO_DLQ, port,
             demo_products_json, d->ledger_path, DEMO_KEY_ID, DEMO_SECRET);
    return text;
}

/* The embedded cluster, the emulator, and a config file naming both. */
static int start_services(demo_t *d)
{
    char errstr[1024];
    if (mtr_mock_cluster_new(1, &d->cluster, errstr, sizeof errstr) ||
        mtr_mock_cluster_create_topic(d->cluster, DEMO_TOPIC, DEMO_PARTITIONS, errstr,
                                      sizeof errstr) ||
        mtr_mock_cluster_create_topic(d->cluster, DEMO_DLQ, 1, errstr, sizeof errstr))
        return fail("Kafka mock cluster", errstr);

    /* The emulator reads the products from the same config; its port is
     * known only once it listens. */
    char *text = config_text(d, 0);
    mtr_err_t err = mtr_config_load_string(text, &d->emulator_config, NULL, errstr, sizeof errstr);
    mtr_free(text);
    if (err)
        return fail("demo config", errstr);
    mtr_emulator_options_t eopts = {.host = "127.0.0.1"};
    d->emulator = mtr_emulator_start(d->emulator_config, &eopts, errstr, sizeof errstr);
    if (!d->emulator)
        return fail("Metering emulator", errstr);

    /* Written to a file so the user can look at it and reuse it. */
    text = config_text(d, mtr_emulator_port(d->emulator));
    FILE *f = fopen(d->config_path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    mtr_free(text);
    if (!f)
        return fail(d->config_path, "cannot write the demo config");
    if (mtr_config_load(d->config_path, &d->config, NULL, errstr, sizeof errstr))
        return fail("demo config", errstr);
    return 0;
}

/* The pipeline of `meterd run`: ingest thread + sender thread. */
static int start_pipeline(demo_t *d)
{
    char errstr[1024];
    mtr_ledger_options_t lopts = {.max_record_age_ms = d->config->window.max_record_age_ms};
    if (mtr_ledger_open(d->ledger_path, &lopts, &d->ledger, errstr, sizeof errstr) ||
        mtr_ledger_open(d->ledger_path, &lopts, &d->reader, errstr, sizeof errstr))
        return fail("ledger", errstr);
    mtr_emit_sender_options_t sopts = {.credentials = demo_credentials};
    if (mtr_emit_sender_new(d->config, &sopts, &d->sender, errstr, sizeof errstr) ||
        mtr_emit_sender_start(d->sender, errstr, sizeof errstr))
        return fail("sender", errstr);
    mtr_ingest_options_t iopts = {.on_sendable = on_sendable, .opaque = d->sender};
    if (mtr_ingest_new(d->config, d->ledger, &iopts, &d->ingest, errstr, sizeof errstr))
        return fail("ingest", errstr);
    if (pthread_create(&d->ingest_thread, NULL, ingest_main, d))
        return fail("ingest", "cannot start its thread");
    d->ingest_running = true;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", mtr_mock_cluster_bootstraps(d->cluster), NULL, 0);
    rd_kafka_conf_set(conf, "linger.ms", "20", NULL, 0);
    d->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!d->producer)
        return fail("producer", errstr);
    return 0;
}

typedef struct ledger_counts {
    size_t waiting; /* pending_commit, sendable, in_flight */
    size_t accepted;
    size_t other;
    int64_t hours[8]; /* distinct hours seen (the demo has three) */
    size_t n_hours;
} ledger_counts_t;

static int count_record(const mtr_ledger_record_t *r, void *opaque)
{
    ledger_counts_t *c = opaque;
    size_t h = 0;
    while (h < c->n_hours && c->hours[h] != r->hour_ms)
        h++;
    if (h == c->n_hours && h < sizeof c->hours / sizeof c->hours[0])
        c->hours[c->n_hours++] = r->hour_ms;
    if (r->status == MTR_LEDGER_ACCEPTED)
        c->accepted++;
    else if (r->status <= MTR_LEDGER_IN_FLIGHT)
        c->waiting++;
    else
        c->other++;
    return 0;
}

static ledger_counts_t ledger_counts(demo_t *d)
{
    ledger_counts_t c = {0};
    mtr_ledger_filter_t f;
    mtr_ledger_filter_init(&f);
    mtr_ledger_list(d->reader, &f, count_record, &c, NULL, 0);
    return c;
}

static void progress(demo_t *d, const char *phase, bool final)
{
    mtr_ingest_stats_t st;
    mtr_ingest_get_stats(d->ingest, &st);
    ledger_counts_t c = ledger_counts(d);
    mtr_emulator_stats_t es;
    mtr_emulator_get_stats(d->emulator, &es);
    char line[256];
    snprintf(line, sizeof line,
             "%-22s events read %6" PRIu64 "  rejected %4" PRIu64 "  records closed %5zu  "
             "accepted by AWS %5" PRIu64,
             phase, st.messages, st.rejected, c.accepted + c.waiting + c.other, es.records_success);
    if (d->tty)
        printf("\r%s%s", line, final ? "\n" : "");
    else
        printf("%s\n", line);
    fflush(stdout);
}

/* Waits until cond holds, showing progress; false at the deadline. */
static bool wait_for(demo_t *d, const char *phase, int64_t deadline, bool (*cond)(demo_t *d))
{
    int64_t last_line = 0;
    for (;;) {
        int64_t now = mtr_clock_monotonic_ms(mtr_clock_system());
        if (cond(d) || now > deadline || !d->ingest_running) {
            progress(d, phase, true);
            return cond(d);
        }
        if (d->tty || now - last_line >= 5000) {
            progress(d, phase, false);
            last_line = now;
        }
        usleep(200000);
    }
}

static bool hours_billed(demo_t *d)
{
    mtr_ingest_stats_t st;
    mtr_ingest_get_stats(d->ingest, &st);
    ledger_counts_t c = ledger_counts(d);
    return st.messages >= d->work.valid_events + d->work.invalid_events && c.n_hours >= 3 &&
           c.waiting == 0 && c.accepted > 0;
}

static bool late_read(demo_t *d)
{
    mtr_ingest_stats_t st;
    mtr_ingest_get_stats(d->ingest, &st);
    return st.messages >= d->work.valid_events + d->work.invalid_events + d->work.late_events;
}

/* AWS-accepted units per dimension, from the emulator's own records. */
static void accepted_units(demo_t *d, int64_t units[DEMO_DIMENSIONS], size_t *records)
{
    char *json = mtr_emulator_records_json(d->emulator);
    cJSON *root = cJSON_Parse(json);
    mtr_free(json);
    *records = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(root, "records"))
    {
        const char *dim = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "dimension"));
        double q = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "quantity"));
        for (int i = 0; i < DEMO_DIMENSIONS; i++)
            if (dim && !strcmp(dim, demo_dimension_names[i]))
                units[i] += (int64_t)q;
        (*records)++;
    }
    cJSON_Delete(root);
}

static bool summary(demo_t *d)
{
    mtr_ingest_stats_t st;
    mtr_ingest_get_stats(d->ingest, &st);
    mtr_emulator_stats_t es;
    mtr_emulator_get_stats(d->emulator, &es);
    int64_t units[DEMO_DIMENSIONS] = {0};
    size_t records;
    accepted_units(d, units, &records);

    char from[32], to[32];
    time_t a = (time_t)(d->work.first_hour_ms / 1000), b = a + 3 * 3600;
    strftime(from, sizeof from, "%Y-%m-%d %H:00", gmtime(&a));
    strftime(to, sizeof to, "%H:00 UTC", gmtime(&b));
    printf("\nWorkload: %zu customers, 3 dimensions, %s to %s\n", d->work.n_customers, from, to);
    printf("  events read           %" PRIu64 "\n", st.messages);
    printf("  rejected              %" PRIu64 " (sent to the dead-letter topic %s)\n", st.rejected,
           DEMO_DLQ);
    bool ok = st.rejected == d->work.invalid_events;
    for (int r = 0; r < MTR_EVENT_REASON__COUNT && r < 32; r++)
        if (st.rejected_by_reason[r] || d->work.invalid_by_reason[r]) {
            printf("    %-20s %" PRIu64 " (generated %" PRIu64 ")\n",
                   mtr_event_reason_name((mtr_event_reason_t)r), st.rejected_by_reason[r],
                   d->work.invalid_by_reason[r]);
            ok = ok && st.rejected_by_reason[r] == d->work.invalid_by_reason[r];
        }
    printf("  hours closed          %zu (in %" PRIu64 " close step(s))\n", ledger_counts(d).n_hours,
           st.closes);
    printf("  records accepted      %zu (DuplicateRecord answers: %" PRIu64 ")\n\n", records,
           es.records_duplicate);
    ok = ok && es.records_duplicate == 0;

    printf("  %-10s %16s %16s %s\n", "dimension", "accepted units", "expected", "");
    for (int i = 0; i < DEMO_DIMENSIONS; i++) {
        int64_t want = demo_expected_units(&d->work, i);
        printf("  %-10s %16" PRId64 " %16" PRId64 " %s\n", demo_dimension_names[i], units[i], want,
               units[i] == want ? "ok" : "MISMATCH");
        ok = ok && units[i] == want;
    }
    printf("\n  %" PRIu64
           " late events arrived after their hour had closed; by the effective-hour\n"
           "  rule they are counted in the current hour, billed when it closes:\n",
           d->work.late_events);
    for (int i = 0; i < DEMO_DIMENSIONS; i++) {
        char q[MTR_QUANTITY_FORMAT_MAX];
        mtr_quantity_format(demo_late_micro(&d->work, i), q, sizeof q);
        printf("    %-10s %s\n", demo_dimension_names[i], q);
    }
    printf("\n%s\n", ok ? "Every total matches what was generated."
                        : "MISMATCH: the totals above differ from what was generated.");
    const char *me = cli_program();
    printf("\nLook further:\n"
           "  %s records list --ledger %s\n"
           "  %s records list --ledger %s --format csv --dimension data_gb\n"
           "  cat %s          # the config this demo ran with\n"
           "  %s sandbox      # Kafka + emulator for your own producer\n",
           me, d->ledger_path, me, d->ledger_path, d->config_path, me);
    return ok;
}

static void shutdown_all(demo_t *d)
{
    if (d->ingest_running) {
        mtr_ingest_stop(d->ingest);
        pthread_join(d->ingest_thread, NULL);
    }
    if (d->producer) {
        rd_kafka_flush(d->producer, 5000);
        rd_kafka_destroy(d->producer);
    }
    mtr_ingest_free(d->ingest);
    if (d->sender) {
        mtr_emit_sender_stop(d->sender);
        mtr_emit_sender_free(d->sender);
    }
    mtr_ledger_free(d->ledger);
    mtr_ledger_free(d->reader);
    if (d->emulator)
        mtr_emulator_stop(d->emulator);
    mtr_config_free(d->emulator_config);
    mtr_config_free(d->config);
    mtr_mock_cluster_destroy(d->cluster);
    demo_workload_free(&d->work);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd demo [--customers N] [--verbose]\n"
                 "\n"
                 "Runs the whole job on embedded defaults: an embedded Kafka cluster, the\n"
                 "local Metering emulator, a generated workload over the last three hours\n"
                 "and the pipeline of `meterd run`; then checks what AWS (the emulator)\n"
                 "accepted against what was generated. Exit 0 when every total matches.\n"
                 "\n"
                 "  --customers N   customers in the workload (10..5000, default 300)\n"
                 "  --verbose       show meterd's own log lines\n");
}

int cmd_demo(int argc, char **argv)
{
    static const struct option options[] = {{"customers", required_argument, NULL, 'c'},
                                            {"verbose", no_argument, NULL, 'v'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    long customers = 300;
    bool verbose = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'c':
            customers = strtol(optarg, &end, 10);
            if (*end || customers < 10 || customers > 5000) {
                fprintf(stderr, "meterd demo: --customers must be 10..5000, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!verbose)
        mtr_log_set_level(MTR_LOG_WARN);

    demo_t d;
    memset(&d, 0, sizeof d);
    d.tty = isatty(STDOUT_FILENO);
    snprintf(d.dir, sizeof d.dir, "/tmp/meterd-demo-XXXXXX");
    if (!mkdtemp(d.dir))
        return fail("demo", "cannot create a directory under /tmp");
    snprintf(d.config_path, sizeof d.config_path, "%s/meterd.json", d.dir);
    snprintf(d.ledger_path, sizeof d.ledger_path, "%s/ledger.db", d.dir);
    int64_t deadline = mtr_clock_monotonic_ms(mtr_clock_system()) + DEMO_DEADLINE_MS;
    demo_workload_init(&d.work, (size_t)customers, mtr_clock_wall_ms(mtr_clock_system()), 20261126);

    printf("meterd demo: embedded Kafka, local Metering emulator, files in %s\n", d.dir);
    char errstr[512];
    int rc = start_services(&d);
    if (!rc)
        rc = start_pipeline(&d);
    if (!rc && demo_produce_hours(&d.work, d.producer, DEMO_TOPIC, errstr, sizeof errstr))
        rc = fail("workload", errstr);
    if (!rc) {
        rd_kafka_flush(d.producer, 10000);
        if (!wait_for(&d, "reading, billing", deadline, hours_billed))
            rc = fail("demo", "the three hours were not all billed in time (see --verbose)");
    }
    if (!rc && demo_produce_late(&d.work, d.producer, DEMO_TOPIC, errstr, sizeof errstr))
        rc = fail("workload", errstr);
    if (!rc) {
        rd_kafka_flush(d.producer, 10000);
        if (!wait_for(&d, "late events", deadline, late_read))
            rc = fail("demo", "the late events were not read in time");
    }
    if (!rc && !summary(&d))
        rc = 1;
    if (d.ingest_running && d.ingest_err == MTR_OK && !late_read(&d))
        rc = rc ? rc : 1;
    shutdown_all(&d);
    if (d.ingest_err)
        fprintf(stderr, "meterd demo: ingest: %s\n", d.ingest_errstr);
    return rc;
}
