/* What `meterd replay` asks of the ledger: which offsets of a partition fed
 * which hours (its confirmed close history), and, per (key, hour), what the
 * ledger counted, compared with what a replay of the topic recomputed.
 *
 * Source hour. A contribution is compared in the hour it was counted for,
 * even when the ledger placed it in a later record because the record of
 * its hour had already been sent (ledger.h: provenance "added_after_send"):
 * the audit asks whether the events were counted, not where the units went.
 * Only confirmed closes count; an unconfirmed one is still being decided.
 *
 * Corrections. AWS keeps one record per (customer, dimension, hour) and
 * refuses old timestamps, so usage found missing is billed later, as a
 * correction of its source hour: units placed in the oldest record of the
 * key that is still open (pending_commit, inside the acceptance window),
 * else in the current hour, through a close of their own that is
 * confirmed at once, so the sender sends them like any record (a record
 * already sent moves them to the next hour, ledger.h). They add to the
 * record whatever its aggregation. The corrections table keeps, per run,
 * each (key, source hour, units, record), and the audit subtracts earlier
 * corrections: a correction bills recomputed - (billed + corrected), so
 * running the same replay twice bills nothing more.
 *
 * Ownership: results own their arrays and strings; free with the matching
 * _free. One thread (the ledger's). */
#ifndef MTR_LEDGER_AUDIT_H
#define MTR_LEDGER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"

/* One confirmed close-log entry of a partition. */
typedef struct mtr_ledger_closed_hour {
    int64_t hour_ms;
    int64_t close_offset;  /* co(p,H): the partition's position when H closed */
    int64_t commit_offset; /* the checkpoint the same close wrote: every event
                              of a later hour lies at or after it */
    char *close_log_tail;  /* that close's commit metadata (NULL: none) */
} mtr_ledger_closed_hour_t;

/* The confirmed close log of (topic, partition), hour ascending. */
mtr_err_t mtr_ledger_closed_hours(mtr_ledger_t *ledger, const char *topic, int32_t partition,
                                  mtr_ledger_closed_hour_t **out, size_t *n, char *errstr,
                                  size_t errstr_size);
void mtr_ledger_closed_hours_free(mtr_ledger_closed_hour_t *hours, size_t n);

/* A partition the audit compares, and the hours of it: from_ms through
 * through_ms (the last hour of the range it has closed). */
typedef struct mtr_ledger_audit_part {
    const char *topic;
    int32_t partition;
    int64_t from_ms;
    int64_t through_ms;
    bool partial; /* the replay could not read all of it (retention) */
} mtr_ledger_audit_part_t;

typedef struct mtr_ledger_audit_request {
    const mtr_ledger_audit_part_t *parts;
    size_t n_parts;
    const char *customer; /* NULL: every customer */
    /* What the topic says: one contribution per (partition, key, hour), as
     * a close would have written it. */
    const mtr_ledger_contribution_t *recomputed;
    size_t n_recomputed;
} mtr_ledger_audit_request_t;

/* One (key, hour): its contributions from the compared partitions
 * combined by the record's rule (sum, max, latest), on each side. */
typedef struct mtr_ledger_audit_row {
    mtr_ledger_key_t key; /* strings owned by the audit */
    int64_t hour_ms;
    mtr_aggregation_t aggregation; /* the recomputed side's, else the ledger's */
    bool partial;                  /* a partial partition has part in it: no verdict */
    int64_t billed_micro;          /* what the ledger counted */
    int64_t recomputed_micro;      /* what the replay counted */
    int64_t corrected_micro;       /* earlier corrections of this hour */
    int64_t difference_micro;      /* recomputed - (billed + corrected) */
} mtr_ledger_audit_row_t;

typedef struct mtr_ledger_audit {
    mtr_ledger_audit_row_t *rows; /* by scope, customer, dimension, hour */
    size_t n;
    struct mtr_ledger_audit_pool *pool;
} mtr_ledger_audit_t;

/* Compares every (key, hour) of the request's partitions and hours. */
mtr_err_t mtr_ledger_audit(mtr_ledger_t *ledger, const mtr_ledger_audit_request_t *req,
                           mtr_ledger_audit_t *out, char *errstr, size_t errstr_size);
void mtr_ledger_audit_free(mtr_ledger_audit_t *audit);

/* Usage to bill as a correction of one (key, source hour). */
typedef struct mtr_ledger_correction {
    mtr_ledger_key_t key;
    int64_t source_hour_ms;
    int64_t quantity_micro;        /* > 0 */
    mtr_rounding_t rounding;       /* the dimension's */
    mtr_aggregation_t aggregation; /* the dimension's (for a new record) */
} mtr_ledger_correction_t;

/* Bills the corrections in one transaction as a run described by
 * `description` (what was replayed, by whom); *run_id names it. */
mtr_err_t mtr_ledger_correct(mtr_ledger_t *ledger, const char *description,
                             const mtr_ledger_correction_t *corrections, size_t n, int64_t *run_id,
                             char *errstr, size_t errstr_size);

/* The correction topic of the ledger's own closes (not a valid Kafka topic
 * name, so it meets no real one). */
#define MTR_LEDGER_CORRECTIONS_TOPIC "(corrections)"

#endif
