/* Moving the consumer group's committed offsets (`meterd offsets reset`),
 * with the targets `kafka-consumer-groups --reset-offsets` knows, and what
 * a move means for billing, worked out before anything changes:
 *
 *   back     the offsets between hold only events of closed hours (every
 *            event below meterd's commit offset is in the ledger): meterd
 *            skips them as counted, and in fact resumes at its ledger's
 *            checkpoint, so nothing is billed twice;
 *   forward  the offsets between are never read: their events of open
 *            hours are never billed. The plan reads them and estimates that
 *            usage per dimension (and counts those of closed hours, which
 *            were billed).
 *
 * The commit keeps meterd's close log in the metadata (Kafka's, or the
 * ledger's checkpoint when Kafka has none), so closed hours stay closed
 * whoever owns the partition next.
 *
 * Ownership: plans own everything in them; free with
 * mtr_offsets_reset_free. One thread. */
#ifndef MTR_INGEST_OFFSETS_RESET_H
#define MTR_INGEST_OFFSETS_RESET_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "ingest/reader.h"
#include "ledger/ledger.h"

typedef enum mtr_reset_to {
    MTR_RESET_EARLIEST, /* the log start */
    MTR_RESET_LATEST,   /* the log end */
    MTR_RESET_DATETIME, /* the first offset at or after value (Unix ms) */
    MTR_RESET_OFFSET,   /* value, within the log */
    MTR_RESET_SHIFT,    /* committed + value, within the log */
} mtr_reset_to_t;

typedef struct mtr_reset_spec {
    mtr_reset_to_t to;
    int64_t value;
    const int32_t *partitions; /* NULL: every partition of kafka.topics */
    size_t n_partitions;
    int timeout_ms;
    mtr_reader_progress_fn progress; /* reading what a forward move skips */
    void *progress_opaque;
} mtr_reset_spec_t;

typedef struct mtr_reset_partition {
    char *topic;
    int32_t partition;
    int64_t before; /* committed now; -1: nothing */
    int64_t after;  /* the target */
    int64_t log_start, log_end;
    int64_t closed_through_ms; /* the last closed hour in the close log; INT64_MIN: none */
    /* Forward: what [before, after) holds. */
    uint64_t skipped_open;   /* valid events of open hours: never billed */
    uint64_t skipped_closed; /* valid events of closed hours: already billed */
    uint64_t skipped_invalid;
    char *metadata; /* what the commit carries; NULL: none */
} mtr_reset_partition_t;

/* Usage of open hours a forward move would leave unbilled, per dimension. */
typedef struct mtr_reset_unbilled {
    const char *dimension; /* the config's */
    uint64_t events;
    int64_t micro; /* summed quantities (sum dimensions), events x 1e6 (count) */
} mtr_reset_unbilled_t;

typedef struct mtr_reset_plan {
    char *group;
    char *state; /* the group's state; "Unknown" when the broker would not say */
    size_t members;
    mtr_reset_partition_t *parts;
    size_t n_parts;
    mtr_reset_unbilled_t *unbilled;
    size_t n_unbilled;
} mtr_reset_plan_t;

/* Works out the move; changes nothing. ledger (may be NULL) supplies the
 * close log when Kafka's commit has none. */
mtr_err_t mtr_offsets_reset_plan(const mtr_config_t *config, mtr_ledger_t *ledger,
                                 const mtr_reset_spec_t *spec, mtr_reset_plan_t *plan, char *errstr,
                                 size_t errstr_size);

/* Commits the plan's targets with their metadata, as a member of the group
 * for the moment of the commit (joining waits at most timeout_ms). The
 * caller has checked that no member is live (mtr_reset_plan_t.members, the
 * ledger lock). */
mtr_err_t mtr_offsets_reset_execute(const mtr_config_t *config, const mtr_reset_plan_t *plan,
                                    int timeout_ms, char *errstr, size_t errstr_size);

void mtr_offsets_reset_free(mtr_reset_plan_t *plan);

#endif
