/* Recomputing closed hours from the topic (`meterd replay --hours`): for
 * each partition, read exactly the offsets that the ledger's close log says
 * fed the hours, with a reader that assigns partitions itself (no group, no
 * commits), and count every event as the pipeline did: the same decoder
 * (ingest/message.h), the effective hour from the full close log, the
 * event-id dedupe with its budget, and the hour table's aggregation rules.
 * The result is one contribution per (partition, key, hour), the form a
 * close writes, for mtr_ledger_audit to compare.
 *
 * Offsets of hours FROM..TO on partition p (DESIGN.md section 4):
 *   end   = co(p, TO'), TO' the last hour of the range p has closed: every
 *           later offset has a later effective hour;
 *   start = the commit offset written with the last close before FROM:
 *           every event of an hour still open then lies at or after it.
 *           Without an earlier close, the partition's first offset.
 * A start below the partition's log start means events were deleted
 * (retention): the partition is reported as a gap, never as complete.
 *
 * Ownership: mtr_replay_t owns everything in it; free with
 * mtr_replay_free. One thread. */
#ifndef MTR_INGEST_REPLAY_H
#define MTR_INGEST_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/event.h"
#include "core/strpool.h"
#include "ledger/ledger.h"

typedef enum mtr_replay_coverage {
    MTR_REPLAY_COMPLETE,   /* every offset that fed the hours was read */
    MTR_REPLAY_GAP,        /* some were deleted before the replay (retention) */
    MTR_REPLAY_UNBOUNDED,  /* no earlier close, and the log no longer starts at 0 */
    MTR_REPLAY_SHARED,     /* another ledger closed some of the hours */
    MTR_REPLAY_NOT_CLOSED, /* the partition has closed none of the hours */
} mtr_replay_coverage_t;

/* "complete", "gap", ... */
const char *mtr_replay_coverage_name(mtr_replay_coverage_t c);

typedef struct mtr_replay_partition {
    char *topic;
    int32_t partition;
    mtr_replay_coverage_t coverage;
    int64_t through_ms;  /* last hour of the range closed here (INT64_MIN: none) */
    int64_t start, end;  /* offsets read: [start, end) */
    int64_t log_start;   /* the partition's first offset now */
    int64_t missing;     /* offsets [start, log_start) that are gone */
    char *shared_with;   /* MTR_REPLAY_SHARED: the other ledger's writer id */
    uint64_t messages;   /* read in [start, end) */
    uint64_t counted;    /* valid events in the hours */
    uint64_t duplicates; /* dropped by events.dedupe */
    uint64_t invalid;    /* not decodable with the current config */
} mtr_replay_partition_t;

typedef void (*mtr_replay_progress_fn)(void *opaque, uint64_t done, uint64_t total);

typedef struct mtr_replay_request {
    int64_t from_ms, to_ms;    /* first and last hour, both included */
    const int32_t *partitions; /* NULL: every partition of kafka.topics */
    size_t n_partitions;
    const char *customer;            /* NULL: every customer */
    int timeout_ms;                  /* the longest wait for Kafka (metadata, a fetch) */
    mtr_replay_progress_fn progress; /* may be NULL; called now and then */
    void *progress_opaque;
} mtr_replay_request_t;

typedef struct mtr_replay {
    mtr_replay_partition_t *parts;
    size_t n_parts;
    mtr_ledger_contribution_t *recomputed; /* strings in pool */
    size_t n_recomputed;
    mtr_strpool_t pool;
} mtr_replay_t;

/* Replays req's hours of every selected partition that ledger closed.
 * Fails (naming the fix) when Kafka cannot be read or a requested
 * partition does not exist; a partition that cannot be read completely is
 * reported in its coverage instead. */
mtr_err_t mtr_replay_hours(const mtr_config_t *config, mtr_ledger_t *ledger,
                           const mtr_replay_request_t *req, mtr_replay_t *out, char *errstr,
                           size_t errstr_size);
void mtr_replay_free(mtr_replay_t *replay);

#endif
