/* What `meterd run` shows on-call people while it runs: the metrics of its
 * ingest and sender (refreshed at each scrape) and its health, served on
 * metrics.listen by cli/metrics_server.h. */
#ifndef MTR_CLI_RUN_WATCH_H
#define MTR_CLI_RUN_WATCH_H

#include <pthread.h>

#include "cli/metrics_server.h"
#include "core/config.h"
#include "core/event.h"
#include "core/metrics.h"
#include "emit/sender.h"
#include "ingest/ingest.h"

/* Failed sending passes in a row after which /healthz reports the sender
 * unhealthy: with the sender's doubling wait that is about half a minute of
 * no answer from the Metering Service. */
#define SENDER_UNHEALTHY_FAILURES 5

_Static_assert(MTR_EVENT_REASON__COUNT <= 32, "rejected_by_reason[] holds 32 reasons");

/* What /metrics and /healthz read while the daemon runs, from the server's
 * thread. mu guards ing and stopped: the main thread copies the final
 * ingest figures and clears ing before it frees the pipeline. */
typedef struct run_watch {
    pthread_mutex_t mu;
    mtr_ingest_t *ing;
    mtr_ingest_stats_t final;
    char stopped[600];         /* "": ingesting; else why /healthz answers 503 */
    mtr_emit_sender_t *sender; /* NULL with --no-send; outlives the server */
    const char *ledger_path;

    mtr_metric_t *build_info, *messages, *counted, *replayed, *duplicates, *unchecked,
        *budget_reached, *rejected, *closes, *written, *commit_failures, *split, *partitions,
        *passes, *sent, *outcomes, *requeued, *ledger_errors, *failures, *last_pass;
    const char *reasons[MTR_EVENT_REASON__COUNT - 1]; /* every reason but OK */
    char outcome_names[MTR_EMIT_DEFERRED + 1][32];
    const char *outcomes_v[MTR_EMIT_DEFERRED + 1];
} run_watch_t;

/* Starts the endpoint when metrics.listen is set (*server and *metrics NULL
 * when not). w->mu must be initialised. */
mtr_err_t run_watch_start(run_watch_t *w, const mtr_config_t *config, mtr_metrics_t **metrics,
                          metrics_server_t **server, char *errstr, size_t errstr_size);

/* Ingestion is over (err and errstr say how): later scrapes show its final
 * figures, /healthz answers 503 with why, and w->final holds the figures. */
void run_watch_ingest_stopped(run_watch_t *w, mtr_err_t err, const char *errstr);

#endif
