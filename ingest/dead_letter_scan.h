/* Reading the dead-letter topic back (`meterd replay --dead-letter`): every
 * copy produced in [since, until) is decoded with the current config and
 * sorted into now valid (by the reason it was rejected for) and still
 * invalid (by the reason it is rejected for now, with the first examples).
 * The meterd.source.* headers (ingest/dlq.h) tie each copy to its origin,
 * so a copy dead-lettered twice (a restart re-read the event) counts once.
 *
 * For the events now valid it also says which hours of which source
 * partitions they belong to — their effective hour by the ledger's close
 * log — so that those hours can be recomputed from the source topic and
 * the shortfall billed (ingest/replay.h), exactly as `replay --hours`
 * would, which keeps every path of correction idempotent.
 *
 * Ownership: the scan owns everything in it; free with
 * mtr_dlq_scan_free. One thread. */
#ifndef MTR_INGEST_DEAD_LETTER_SCAN_H
#define MTR_INGEST_DEAD_LETTER_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "ingest/reader.h"
#include "ledger/ledger.h"

#define MTR_DLQ_EXAMPLES 3 /* kept per reason still invalid */

typedef struct mtr_dlq_reason {
    char *reason;                     /* the meterd.reason header, or the reason now */
    uint64_t now_valid;               /* by the reason they were rejected for */
    uint64_t still_invalid;           /* by the reason they are rejected for now */
    char *examples[MTR_DLQ_EXAMPLES]; /* "usage[3]@1234: <why>" */
    size_t n_examples;
} mtr_dlq_reason_t;

/* Now-valid events of one source partition. */
typedef struct mtr_dlq_source {
    char *topic;
    int32_t partition;
    uint64_t closed_events; /* in hours this ledger closed */
    uint64_t open_events;   /* in hours still open */
    int64_t from_ms, to_ms; /* the closed hours they belong to */
} mtr_dlq_source_t;

typedef struct mtr_dlq_scan {
    uint64_t messages;   /* dead-letter copies read */
    uint64_t duplicates; /* copies of an origin already seen */
    uint64_t no_origin;  /* copies without meterd.source.* headers (skipped) */
    uint64_t now_valid, still_invalid;
    mtr_dlq_reason_t *reasons;
    size_t n_reasons;
    mtr_dlq_source_t *sources;
    size_t n_sources;
} mtr_dlq_scan_t;

/* Scans kafka.dead_letter_topic for copies produced in [since_ms, until_ms)
 * (until_ms INT64_MAX: up to the end). Fails naming the fix when the config
 * has no dead-letter topic or it cannot be read. */
mtr_err_t mtr_dlq_scan(const mtr_config_t *config, mtr_ledger_t *ledger, int64_t since_ms,
                       int64_t until_ms, int timeout_ms, mtr_reader_progress_fn progress,
                       void *progress_opaque, mtr_dlq_scan_t *out, char *errstr,
                       size_t errstr_size);
void mtr_dlq_scan_free(mtr_dlq_scan_t *scan);

#endif
