/* The ingest pipeline of `meterd run`: a Kafka consumer group member that
 * turns usage events into durable hourly records in the ledger, exactly
 * once (DESIGN.md section 4).
 *
 *   consumer (this thread) ── rebalance: reconcile with the ledger, hand
 *        │                    partitions to shard workers / take them back
 *        ├── worker 0..shards-1: consume, decode, window rules, hour tables
 *        └── every close_check_ms: close due hours on every owned partition
 *            → one ledger transaction → dead-letter flush → Kafka commit
 *            (offsets + close-log metadata) → ledger confirm (sendable)
 *
 * Threads: mtr_ingest_run() runs on the calling thread until
 * mtr_ingest_stop() (async-signal-safe) is called; mtr_ingest_get_stats()
 * may be called from any thread; everything else is for that same thread. */
#ifndef MTR_INGEST_H
#define MTR_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "ledger/ledger.h"

typedef struct mtr_ingest mtr_ingest_t;

typedef struct mtr_ingest_options {
    mtr_clock_t *clock; /* NULL: the system clock */
    int close_check_ms; /* how often to look for due hours; 0: 250 */
    /* Called on the ingest thread after each close became sendable (e.g. to
     * wake the emitter); may be NULL. */
    void (*on_sendable)(void *opaque, int64_t hour_ms, size_t records);
    void *opaque;
} mtr_ingest_options_t;

/* Figures since start, for logs, the demo and tests. */
typedef struct mtr_ingest_stats {
    uint64_t messages;
    uint64_t counted;
    uint64_t replayed; /* skipped: counted before a restart */
    uint64_t rejected; /* dead-lettered */
    uint64_t rejected_by_reason[32];
    uint64_t closes;
    uint64_t records_written; /* contributions written to the ledger */
    uint64_t commit_failures;
    uint64_t customers_split; /* (customer, hour)s seen in two partitions */
    uint64_t duplicates;      /* events.dedupe: copies dropped */
    uint64_t dedupe_unchecked;
    uint64_t dedupe_budget_reached;
    int partitions; /* owned now */
} mtr_ingest_stats_t;

/* Creates the consumer, workers and dead-letter producer. The ledger is
 * borrowed (used by the ingest thread only while running). */
mtr_err_t mtr_ingest_new(const mtr_config_t *config, mtr_ledger_t *ledger,
                         const mtr_ingest_options_t *opts, mtr_ingest_t **out, char *errstr,
                         size_t errstr_size);
/* Runs until stopped; then leaves the group cleanly. MTR_OK on a requested
 * stop; an error when the pipeline cannot go on safely (ledger failure). */
mtr_err_t mtr_ingest_run(mtr_ingest_t *ing, char *errstr, size_t errstr_size);
void mtr_ingest_stop(mtr_ingest_t *ing);
void mtr_ingest_get_stats(mtr_ingest_t *ing, mtr_ingest_stats_t *out);
void mtr_ingest_free(mtr_ingest_t *ing);

#endif
