/* The metrics and health of a running `meterd run` (see run_watch.h). */
#include "cli/run_watch.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static void watch_scrape(void *ctx)
{
    run_watch_t *w = ctx;
    mtr_ingest_stats_t st;
    pthread_mutex_lock(&w->mu);
    if (w->ing)
        mtr_ingest_get_stats(w->ing, &st);
    else
        st = w->final;
    pthread_mutex_unlock(&w->mu);
    mtr_metric_counter_set(w->messages, 0, st.messages);
    mtr_metric_counter_set(w->counted, 0, st.counted);
    mtr_metric_counter_set(w->replayed, 0, st.replayed);
    mtr_metric_counter_set(w->duplicates, 0, st.duplicates);
    mtr_metric_counter_set(w->unchecked, 0, st.dedupe_unchecked);
    mtr_metric_counter_set(w->budget_reached, 0, st.dedupe_budget_reached);
    for (int r = 1; r < MTR_EVENT_REASON__COUNT; r++)
        mtr_metric_counter_set(w->rejected, (size_t)r - 1, st.rejected_by_reason[r]);
    mtr_metric_counter_set(w->closes, 0, st.closes);
    mtr_metric_counter_set(w->written, 0, st.records_written);
    mtr_metric_counter_set(w->commit_failures, 0, st.commit_failures);
    mtr_metric_counter_set(w->split, 0, st.customers_split);
    mtr_metric_gauge_set(w->partitions, 0, st.partitions);
    if (!w->sender)
        return;
    mtr_emit_sender_stats_t ss;
    mtr_emit_sender_stats(w->sender, &ss);
    mtr_metric_counter_set(w->passes, 0, ss.passes);
    mtr_metric_counter_set(w->sent, 0, ss.records);
    for (int o = 0; o <= MTR_EMIT_DEFERRED; o++)
        mtr_metric_counter_set(w->outcomes, (size_t)o, ss.outcomes[o]);
    mtr_metric_counter_set(w->requeued, 0, ss.requeued);
    mtr_metric_counter_set(w->ledger_errors, 0, ss.ledger_errors);
    mtr_metric_gauge_set(w->failures, 0, ss.consecutive_failures);
    mtr_metric_gauge_set(w->last_pass, 0, (double)ss.last_pass_ms / 1000.0);
}

static bool watch_healthy(void *ctx, char *reason, size_t size)
{
    run_watch_t *w = ctx;
    pthread_mutex_lock(&w->mu);
    bool stopped = w->stopped[0] != '\0';
    if (stopped)
        snprintf(reason, size, "%s", w->stopped);
    pthread_mutex_unlock(&w->mu);
    if (stopped)
        return false;
    /* Closing an hour writes the ledger file and its -wal/-journal next to
     * it: both must stay writable or the next close stops ingestion. */
    char dir[4096];
    const char *slash = strrchr(w->ledger_path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - w->ledger_path) + 1 : 1,
             slash ? w->ledger_path : ".");
    if (access(w->ledger_path, W_OK) || access(dir, W_OK | X_OK)) {
        snprintf(reason, size, "ledger %s is not writable", w->ledger_path);
        return false;
    }
    if (w->sender) {
        mtr_emit_sender_stats_t ss;
        mtr_emit_sender_stats(w->sender, &ss);
        if (ss.consecutive_failures >= SENDER_UNHEALTHY_FAILURES) {
            snprintf(reason, size,
                     "sender: %d passes in a row got no answer from the Metering Service",
                     ss.consecutive_failures);
            return false;
        }
    }
    return true;
}

static mtr_err_t watch_register(run_watch_t *w, mtr_metrics_t *m, char *errstr, size_t errstr_size)
{
    static const char *const version[] = {MTR_VERSION};
    for (int r = 1; r < MTR_EVENT_REASON__COUNT; r++)
        w->reasons[r - 1] = mtr_event_reason_name((mtr_event_reason_t)r);
    for (int o = 0; o <= MTR_EMIT_DEFERRED; o++) {
        /* Label values in Prometheus's lower-case style: "accepted". */
        const char *name = mtr_emit_outcome_name((mtr_emit_outcome_t)o);
        size_t i = 0;
        for (; name[i] && i + 1 < sizeof w->outcome_names[o]; i++)
            w->outcome_names[o][i] = (char)tolower((unsigned char)name[i]);
        w->outcome_names[o][i] = '\0';
        w->outcomes_v[o] = w->outcome_names[o];
    }
#define C MTR_METRIC_COUNTER
#define G MTR_METRIC_GAUGE
    const struct {
        mtr_metric_t **out;
        mtr_metric_desc_t d;
    } rows[] = {
        {&w->build_info,
         {"meterd_build_info", "Always 1; the version of this meterd.", G, "version", version, 1}},
        {&w->messages, {"meterd_kafka_messages_total", "Kafka messages consumed.", C}},
        {&w->counted, {"meterd_events_counted_total", "Valid events added to an hour.", C}},
        {&w->replayed,
         {"meterd_events_replayed_total",
          "Events skipped because a closed hour already counted them (replay after a restart "
          "or rebalance).",
          C}},
        {&w->duplicates,
         {"meterd_events_duplicate_total",
          "Events dropped by events.dedupe: their id was already counted in the same "
          "(partition, customer, dimension, hour).",
          C}},
        {&w->unchecked,
         {"meterd_events_dedupe_unchecked_total",
          "Events counted without a duplicate check: their (partition, hour) had reached "
          "events.dedupe.max_ids_per_hour.",
          C}},
        {&w->budget_reached,
         {"meterd_dedupe_budget_reached_total",
          "(partition, hour)s that reached events.dedupe.max_ids_per_hour.", C}},
        {&w->rejected,
         {"meterd_events_rejected_total",
          "Invalid events, by reason; they go to the dead-letter topic.", C, "reason", w->reasons,
          MTR_EVENT_REASON__COUNT - 1}},
        {&w->closes, {"meterd_hour_closes_total", "Hour closes written to the ledger.", C}},
        {&w->written,
         {"meterd_ledger_contributions_total",
          "Per-partition (customer, dimension, hour) sums written to the ledger at closes.", C}},
        {&w->commit_failures,
         {"meterd_offset_commit_failures_total",
          "Kafka offset commits after a close that failed or timed out (reconciled later).", C}},
        {&w->split,
         {"meterd_customers_split_total",
          "(customer, hour)s seen in two partitions: producers should key by customer.", C}},
        {&w->partitions, {"meterd_partitions_owned", "Kafka partitions owned now.", G}},
        {&w->passes, {"meterd_sender_passes_total", "Sending passes that took records.", C}},
        {&w->sent, {"meterd_records_sent_total", "Records sent to BatchMeterUsage.", C}},
        {&w->outcomes,
         {"meterd_records_outcome_total", "Sent records by outcome.", C, "outcome", w->outcomes_v,
          MTR_EMIT_DEFERRED + 1}},
        {&w->requeued,
         {"meterd_sender_requeued_total",
          "Records found in flight at start-up and put back to sendable.", C}},
        {&w->ledger_errors,
         {"meterd_sender_ledger_errors_total", "Ledger calls of the sender that failed.", C}},
        {&w->failures,
         {"meterd_sender_consecutive_failures",
          "Sending passes in a row that got no answer; 0 after an answered pass.", G}},
        {&w->last_pass,
         {"meterd_sender_last_pass_seconds", "Duration of the last pass that sent records.", G}},
    };
#undef C
#undef G
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mtr_err_t err = mtr_metrics_add(m, &rows[i].d, rows[i].out, errstr, errstr_size);
        if (err)
            return err;
    }
    mtr_metric_gauge_set(w->build_info, 0, 1);
    mtr_metrics_on_scrape(m, watch_scrape, w);
    return MTR_OK;
}

/* Starts the endpoint when metrics.listen is set (*server NULL when not). */
mtr_err_t run_watch_start(run_watch_t *w, const mtr_config_t *config, mtr_metrics_t **metrics,
                          metrics_server_t **server, char *errstr, size_t errstr_size)
{
    *metrics = NULL;
    *server = NULL;
    if (!config->metrics.listen)
        return MTR_OK;
    *metrics = mtr_metrics_new();
    mtr_err_t err = watch_register(w, *metrics, errstr, errstr_size);
    if (!err)
        err = metrics_server_start(config->metrics.listen, *metrics, watch_healthy, w, server,
                                   errstr, errstr_size);
    if (err) {
        mtr_metrics_free(*metrics);
        *metrics = NULL;
    }
    return err;
}

/* Ingestion is over: later scrapes show its final figures and /healthz
 * answers 503 with why. */
void run_watch_ingest_stopped(run_watch_t *w, mtr_err_t err, const char *errstr)
{
    pthread_mutex_lock(&w->mu);
    mtr_ingest_get_stats(w->ing, &w->final);
    w->ing = NULL;
    if (err)
        snprintf(w->stopped, sizeof w->stopped, "ingest stopped: %.500s", errstr);
    else
        snprintf(w->stopped, sizeof w->stopped, "shutting down");
    pthread_mutex_unlock(&w->mu);
}
