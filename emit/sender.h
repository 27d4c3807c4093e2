/* The sender: moves sendable ledger records to BatchMeterUsage and writes
 * what AWS answered back into the ledger, so that every closed hour reaches
 * AWS exactly once. `meterd run` runs it in a thread of its own next to
 * ingestion; tests drive it one pass at a time with mtr_emit_sender_run_once.
 *
 * A pass: mtr_ledger_take_sendable (records become in_flight) → the
 * emitter (batches of 25, SigV4, pacing, retries, bisection) → one
 * mtr_ledger_record_results call with one result per record:
 *
 *   ACCEPTED                  accepted, with the MeteringRecordId
 *   DUPLICATE                 duplicate        (logged as an alert: another
 *                                               quantity was already billed
 *                                               for that hour)
 *   CUSTOMER_NOT_SUBSCRIBED   not_subscribed   (logged as an alert)
 *   STALE                     stale_moved      (the ledger folds the units
 *                                               into the next unsent hour)
 *   PARKED                    parked, with AWS's error (logged)
 *   RETRY_EXHAUSTED, DEFERRED sendable, with the error: the next pass sends
 *                             them again, byte for byte the same
 *
 * A pass that got no answer for any record (an outage, no credentials)
 * makes the thread wait longer before the next one, doubling up to
 * max_interval_ms, so an outage does not spin; the first answered pass
 * brings the interval back to poll_interval_ms.
 *
 * Crash safety: records taken but not yet answered are in_flight in the
 * ledger. mtr_emit_sender_new() puts every in_flight record back to
 * sendable; it is resent with identical content, which AWS (and the
 * emulator) answer with the MeteringRecordId of the first send.
 *
 * Threads: the sender opens its own ledger handle on the file (a handle
 * belongs to one thread; SQLite WAL and busy_timeout let ingestion write the
 * same file meanwhile). mtr_emit_sender_new/start/stop/free and run_once are
 * called by the owning thread; run_once only while the thread is not
 * started. mtr_emit_sender_wake and mtr_emit_sender_stats may be called from
 * any thread at any time. Nothing secret is ever logged. */
#ifndef MTR_EMIT_SENDER_H
#define MTR_EMIT_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "emit/emitter.h"
#include "emit/transport.h"

typedef struct mtr_emit_sender_options {
    const char *ledger_path; /* NULL: cfg->ledger.path */
    mtr_clock_t *clock;      /* NULL: the system clock; not owned */
    /* NULL: a credentials chain (credentials.h) with aws.profile and
     * aws.region from the config. Tests pass fixed credentials here. */
    mtr_emit_credentials_fn credentials;
    void *credentials_ctx;
    /* NULL: libcurl. Owned by the sender from the call on, also when
     * mtr_emit_sender_new fails. */
    mtr_emit_transport_t *transport;
    const char *ca_file;      /* libcurl transport; NULL: system CAs */
    int64_t poll_interval_ms; /* <= 0: 1000 */
    int64_t max_interval_ms;  /* after failed passes; <= 0: 60000 */
    size_t batch_size;        /* records per pass; 0: 250 (10 calls of 25) */
    /* Retry backoff inside a pass (emitter.h); <= 0: the emitter's. */
    int64_t backoff_base_ms;
    int64_t backoff_cap_ms;
} mtr_emit_sender_options_t;

/* Counters: cumulative in mtr_emit_sender_stats, one pass in run_once. */
typedef struct mtr_emit_sender_stats {
    uint64_t passes;                          /* passes that took records */
    uint64_t records;                         /* records taken and sent */
    uint64_t outcomes[MTR_EMIT_DEFERRED + 1]; /* per mtr_emit_outcome_t */
    uint64_t requeued;        /* in_flight records put back by mtr_emit_sender_new */
    uint64_t ledger_errors;   /* ledger calls that failed (logged) */
    int consecutive_failures; /* failed passes in a row, up to and including this one */
    int64_t last_pass_ms;     /* duration of the last pass that sent something */
} mtr_emit_sender_stats_t;

typedef struct mtr_emit_sender mtr_emit_sender_t;

/* Opens the ledger, puts in_flight records back to sendable and makes the
 * emitter. cfg (aws.*, emit.*, window.max_record_age_ms, ledger.path) must
 * outlive the sender. opts may be NULL. Fails with the ledger's error, or
 * MTR_ERR_CONFIG when the emitter has no endpoint or region. */
mtr_err_t mtr_emit_sender_new(const mtr_config_t *cfg, const mtr_emit_sender_options_t *opts,
                              mtr_emit_sender_t **out, char *errstr, size_t errstr_size);
/* Stops the thread if it runs, then frees everything. Records in flight
 * stay in_flight in the ledger (the next sender requeues them). */
void mtr_emit_sender_free(mtr_emit_sender_t *sender);

/* Starts the sender's thread: a pass at once, then one every poll interval
 * or when woken. STATE if already started, IO if the thread cannot start. */
mtr_err_t mtr_emit_sender_start(mtr_emit_sender_t *sender, char *errstr, size_t errstr_size);
/* Something became sendable: run a pass now (unless failures are being
 * waited out). Cheap; any thread. */
void mtr_emit_sender_wake(mtr_emit_sender_t *sender);
/* Finishes the pass in progress without starting new requests or waiting
 * out backoffs (records not answered go back to sendable), then joins the
 * thread: bounded by emit.request_timeout_ms plus a ledger write. A no-op
 * when not started. */
void mtr_emit_sender_stop(mtr_emit_sender_t *sender);

/* One pass on the calling thread (the thread must not be started). *pass
 * (may be NULL) gets that pass's counters. Returns the ledger's error when
 * records could not be taken or their results not written; records whose
 * results were not written are put back to sendable at the next pass. */
mtr_err_t mtr_emit_sender_run_once(mtr_emit_sender_t *sender, mtr_emit_sender_stats_t *pass,
                                   char *errstr, size_t errstr_size);

/* Counters since mtr_emit_sender_new. Any thread. */
void mtr_emit_sender_stats(mtr_emit_sender_t *sender, mtr_emit_sender_stats_t *out);

#endif
