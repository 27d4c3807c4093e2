/* The ledger: meterd's durable record of every (scope, customer, dimension,
 * hour) it bills, kept in one SQLite file (WAL, synchronous=FULL, mode 0600).
 * It is the heart of exactly-once billing (DESIGN §4, §6):
 *
 *   window close ──► mtr_ledger_close()          one transaction: close log,
 *                                                contributions, checkpoints
 *   Kafka commit ok ─► mtr_ledger_confirm_commit() records become sendable
 *   start-up/assign ─► mtr_ledger_reconcile_partition()  unknown commits
 *   emitter ────────► mtr_ledger_take_sendable() / mtr_ledger_record_results()
 *   on-call ────────► mtr_ledger_list() / mtr_ledger_totals()
 *
 * Records. A record is identified by (scope, customer, dimension, hour):
 * scope is a ProductCode or a LicenseArn, customer a CustomerIdentifier or a
 * CustomerAWSAccountId. It holds the exact usage in micro-units (its
 * contributions combined) and, once decided, the AWS integer quantity.
 *
 * Combining. Each partition that saw the key in the hour contributes its own
 * aggregate. sum and count add; max takes the largest; latest takes the
 * value with the latest event time, and at equal times the larger value (a
 * rule that does not depend on which partition closed first). The record's
 * usage is recomputed from its contributions whenever they change (a close,
 * a roll-back), so it is the same in whatever order partitions close,
 * across restarts and replays. Status:
 *
 *   pending_commit ─confirm─► sendable ─take─► in_flight ─► accepted
 *                                │   ▲            │        duplicate
 *                                │   └──retry─────┤        not_subscribed
 *                                │                │        parked
 *                                └──too old───────┴─TimestampOutOfBounds─►
 *                                                            stale_moved
 *
 * Only pending_commit records take additions. A contribution for a record in
 * any other state goes to the next hour of the same (scope, customer,
 * dimension) whose record is still pending_commit or does not exist yet (a new
 * record), so no quantity is ever sent twice with different values. The
 * provenance table says where such units came from.
 *
 * Rounding. The AWS integer is decided when a record becomes sendable (its
 * last unconfirmed contribution is confirmed or rolled back): units =
 * round(usage + carry) under the dimension's rule, and the remainder is kept
 * per (scope, customer, dimension) for the next record. So the units billed
 * for a key always equal round(total usage) under that rule: 0.4 three times
 * gives 0,0,1 rounding down and 1,0,1 rounding up (0.3 three times up: 1,0,0,
 * carry -0.1). Deciding at sendable time rather than at close means a
 * roll-back never has to undo a carry.
 *
 * Allocations. Every contribution carries a tag set (possibly empty). When
 * a record is decided its units are split over its tag sets in proportion to
 * their micro-units by largest remainder, so the integers sum exactly to the
 * record's quantity; they are stored and sent unchanged on every attempt.
 *
 * Stale records. A sendable record never attempted whose hour started more
 * than max_record_age before now, or one AWS answered
 * TimestampOutOfBounds (result status stale_moved), is folded: its units
 * and allocations move to the oldest record of the same key that can still
 * change (pending_commit, or sendable and never attempted) and is inside the
 * window (hour after now - max_record_age and after the record's own); when
 * there is none, to a new sendable record at the first free hour of that
 * window. The record keeps status stale_moved and points to its target;
 * provenance keeps the units.
 * A record that has been attempted is never folded on age alone: AWS may
 * have accepted it, and it is resent with identical content instead.
 *
 * Exactly-once across Kafka commits. mtr_ledger_close() writes, per partition
 * p, a close part: the close-log entries (hour H, offset co(p,H)), p's
 * contributions and p's new checkpoint (commit offset + close-log tail, the
 * string the caller puts into the Kafka commit metadata). The confirmed
 * checkpoint of p only moves when the part is confirmed. Then:
 *
 *  a. The Kafka commit succeeds: mtr_ledger_confirm_commit(close_id). The
 *     parts become confirmed, the checkpoint advances, records whose
 *     contributions are now all confirmed become sendable.
 *  b. The commit fails or times out (unknown outcome): the caller does not
 *     confirm; on the next start-up or assignment of p it calls
 *     mtr_ledger_reconcile_partition() with what Kafka holds for p (committed
 *     offset, metadata string, and the close log parsed from it). For each
 *     unconfirmed part U of p, newest first:
 *       1. Kafka's close log holds every (H, co) U wrote (and, when the
 *          entry names a writer, it is this ledger's mtr_ledger_writer_id):
 *          U's commit, or a later one of ours that carried U's closes,
 *          landed, and nobody counts those events again: U and all older
 *          parts are confirmed.
 *       2. Kafka's close log holds one of U's hours with another offset or
 *          writer: another owner redid the window from an older commit and
 *          counted those events itself: U is rolled back.
 *       3. Kafka's close log holds none of U's hours but covers them (it is
 *          empty, or its oldest hour is not after U's oldest hour), so the
 *          Kafka lineage never closed them:
 *          a. Kafka's offset is below U's commit offset: whoever resumes
 *             there counts U's events again (the skip rule only skips
 *             hours in the close log): U is rolled back;
 *          b. Kafka's offset is at or past U's commit offset: nobody will
 *             read those events again and nobody closed their hours, so
 *             U's count is the only one: U is confirmed.
 *       4. Otherwise (the tail no longer reaches U's hours, or only some of
 *          them match) nothing tells whether U landed; guessing would either
 *          double count or lose usage, so nothing is changed, the records
 *          stay unsent, and MTR_ERR_STATE names the close for an operator.
 *     A part without close-log entries (a checkpoint move only) is confirmed
 *     when Kafka's offset reaches its commit offset, else rolled back.
 *     Rolling back deletes U's contributions (reducing record usage; records
 *     left empty are deleted), its close-log entries and provenance, and
 *     marks the part rolled back. Confirmed contributions are never rolled
 *     back. Finally the newer of the two positions wins: if Kafka's offset is
 *     beyond the confirmed checkpoint the checkpoint adopts it (another owner
 *     advanced); if Kafka is behind a confirmed checkpoint the result says to
 *     resume (and re-commit) from the ledger: committed offsets never go
 *     backwards.
 *
 * Threads: one mtr_ledger_t belongs to one thread at a time (the handle and
 * its cached statements are not locked). Several processes may open the same
 * file (SQLite locking with busy_timeout); `meterd records list` reads while
 * the daemon writes. Every function returning mtr_err_t fills errstr (may be
 * NULL) on failure. */
#ifndef MTR_LEDGER_H
#define MTR_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/record.h"

typedef struct mtr_ledger mtr_ledger_t;

typedef enum mtr_ledger_scope_kind {
    MTR_LEDGER_SCOPE_PRODUCT = 0, /* scope is a ProductCode */
    MTR_LEDGER_SCOPE_LICENSE = 1  /* scope is a LicenseArn */
} mtr_ledger_scope_kind_t;

typedef enum mtr_ledger_customer_kind {
    MTR_LEDGER_CUSTOMER_IDENTIFIER = 0, /* CustomerIdentifier */
    MTR_LEDGER_CUSTOMER_ACCOUNT = 1     /* CustomerAWSAccountId (12 digits) */
} mtr_ledger_customer_kind_t;

/* Stored as integers: never renumber. */
typedef enum mtr_ledger_status {
    MTR_LEDGER_PENDING_COMMIT = 0,
    MTR_LEDGER_SENDABLE = 1,
    MTR_LEDGER_IN_FLIGHT = 2,
    MTR_LEDGER_ACCEPTED = 3,
    MTR_LEDGER_DUPLICATE = 4,
    MTR_LEDGER_NOT_SUBSCRIBED = 5,
    MTR_LEDGER_PARKED = 6,
    MTR_LEDGER_STALE_MOVED = 7,
    MTR_LEDGER_STATUS__COUNT
} mtr_ledger_status_t;

/* "pending_commit", "sendable", ... ("unknown" out of range). */
const char *mtr_ledger_status_name(mtr_ledger_status_t status);
/* The inverse; -1 for an unknown name. */
int mtr_ledger_status_parse(const char *name);

typedef struct mtr_ledger_key {
    mtr_ledger_scope_kind_t scope_kind;
    const char *scope;
    mtr_ledger_customer_kind_t customer_kind;
    const char *customer;
    const char *dimension;
} mtr_ledger_key_t;

typedef struct mtr_ledger_options {
    mtr_clock_t *clock;        /* created/updated times, folding; NULL: system */
    int busy_timeout_ms;       /* 0: 5000 */
    int64_t max_record_age_ms; /* 0: 6 h; at least 1 h */
    bool must_exist;           /* fail with NOT_FOUND instead of creating */
    /* The one writer (`meterd run`): hold "<path>.lock" while open, and
     * fail with STATE naming the holder when another process has it. */
    bool lock;
} mtr_ledger_options_t;

/* Opens (creating with mode 0600 unless must_exist) and migrates the ledger
 * at path. opts may be NULL. Free with mtr_ledger_free. */
mtr_err_t mtr_ledger_open(const char *path, const mtr_ledger_options_t *opts, mtr_ledger_t **out,
                          char *errstr, size_t errstr_size);
void mtr_ledger_free(mtr_ledger_t *ledger);

/* A random id made when the ledger file was created (16 hex digits). The
 * offset committer puts it into the close-log metadata so that reconciling
 * can tell this ledger's closes from another owner's close of the same hour
 * at the same offset. Owned by the ledger. */
const char *mtr_ledger_writer_id(const mtr_ledger_t *ledger);

/* The schema version this build writes. */
#define MTR_LEDGER_SCHEMA_VERSION 3

/* ---- close side (the thread that closes windows) ---- */

/* One partition's contribution to one record. Its tags (at most
 * MTR_RECORD_MAX_TAGS, distinct non-empty keys, any order) name
 * the allocation its units go to; the ledger stores them in the canonical
 * form of core/tagset.h. */
typedef struct mtr_ledger_contribution {
    mtr_ledger_key_t key;
    int64_t hour_ms; /* start of the UTC hour */
    const char *topic;
    int32_t partition;
    int64_t quantity_micro; /* >= 0 */
    mtr_rounding_t rounding;
    const mtr_record_tag_t *tags; /* NULL when n_tags is 0: untagged */
    size_t n_tags;
    /* How the record combines its contributions (see Combining above);
     * zero is sum. For latest, time_ms is the event time of the value. */
    mtr_aggregation_t aggregation;
    int64_t time_ms;
    /* Units billed as a correction of earlier hours (ledger_audit.h): they
     * add to the record whatever its aggregation, and leave its rules
     * (aggregation, rounding) as they are. */
    bool correction;
} mtr_ledger_contribution_t;

typedef struct mtr_ledger_close_entry {
    const char *topic;
    int32_t partition;
    int64_t hour_ms;
    int64_t close_offset; /* co(p,H) */
} mtr_ledger_close_entry_t;

typedef struct mtr_ledger_partition_checkpoint {
    const char *topic;
    int32_t partition;
    int64_t commit_offset;
    const char *close_log_tail; /* the Kafka commit metadata string */
} mtr_ledger_partition_checkpoint_t;

/* Every entry and contribution must name a partition that has a checkpoint
 * here; each checkpoint makes one close part. */
typedef struct mtr_ledger_close {
    const mtr_ledger_close_entry_t *entries;
    size_t n_entries;
    const mtr_ledger_contribution_t *contributions;
    size_t n_contributions;
    const mtr_ledger_partition_checkpoint_t *checkpoints;
    size_t n_checkpoints;
} mtr_ledger_close_t;

/* Writes a close in one transaction (all or nothing) and returns its id.
 * Fails with INVALID_ARG for bad input, STATE when an hour is already in
 * p's close log or a commit offset is below p's checkpoint, OVERFLOW when a
 * sum does not fit. */
mtr_err_t mtr_ledger_close(mtr_ledger_t *ledger, const mtr_ledger_close_t *close, int64_t *close_id,
                           char *errstr, size_t errstr_size);

/* The Kafka commit covering close_id succeeded. Idempotent for confirmed
 * parts; STATE if a part was rolled back, NOT_FOUND for an unknown id. */
mtr_err_t mtr_ledger_confirm_commit(mtr_ledger_t *ledger, int64_t close_id, char *errstr,
                                    size_t errstr_size);

/* What Kafka holds for a partition: committed offset (-1: none), the raw
 * metadata string (may be NULL) and the close log the caller parsed from it
 * (hour → close offset). */
typedef struct mtr_ledger_kafka_close {
    int64_t hour_ms;
    int64_t close_offset;
    const char *writer; /* the writer id the entry carries; NULL: none */
} mtr_ledger_kafka_close_t;

typedef struct mtr_ledger_kafka_state {
    int64_t committed_offset;
    const char *metadata;
    const mtr_ledger_kafka_close_t *close_log;
    size_t n_close_log;
} mtr_ledger_kafka_state_t;

typedef struct mtr_ledger_reconcile_result {
    size_t confirmed_parts;
    size_t rolled_back_parts;
    int64_t rolled_back_micro; /* usage removed from records */
    /* Where to resume p: the newer of Kafka and the ledger. */
    int64_t resume_offset; /* -1: nothing committed anywhere */
    char *resume_metadata; /* caller frees with mtr_free; may be NULL */
    bool kafka_behind;     /* re-commit resume_offset: Kafka lost ground */
    /* Kafka's offset is not what meterd committed: its close log lacks
     * hours this ledger closed (none at all: a plain commit by another
     * tool; older ones: stale metadata). Kafka ahead: p resumes at Kafka's
     * offset with the ledger's close log, so closed hours stay closed, and
     * offsets from the ledger's checkpoint to there are never read. Kafka
     * behind: p resumes at the ledger's checkpoint, as always. */
    bool foreign_commit;
    int64_t ledger_offset; /* the ledger's checkpoint before reconciling; -1: none */
} mtr_ledger_reconcile_result_t;

/* See case list above. One transaction. STATE (with nothing changed) when
 * an unconfirmed close cannot be decided. */
mtr_err_t mtr_ledger_reconcile_partition(mtr_ledger_t *ledger, const char *topic, int32_t partition,
                                         const mtr_ledger_kafka_state_t *kafka,
                                         mtr_ledger_reconcile_result_t *result, char *errstr,
                                         size_t errstr_size);

typedef struct mtr_ledger_checkpoint {
    int64_t commit_offset;  /* confirmed; -1: none */
    char *close_log_tail;   /* confirmed; mtr_free; may be NULL */
    int64_t pending_offset; /* newest unconfirmed part; -1: none */
    size_t pending_parts;
} mtr_ledger_checkpoint_t;

mtr_err_t mtr_ledger_checkpoint_get(mtr_ledger_t *ledger, const char *topic, int32_t partition,
                                    mtr_ledger_checkpoint_t *out, char *errstr, size_t errstr_size);

/* ---- records as read back ---- */

/* A record. All strings and arrays are owned by the struct: free with
 * mtr_ledger_record_clear (records from mtr_ledger_take_sendable) or not at
 * all (the list callback's record lives only during the call). */
typedef struct mtr_ledger_record {
    int64_t id;
    mtr_ledger_scope_kind_t scope_kind;
    char *scope;
    mtr_ledger_customer_kind_t customer_kind;
    char *customer;
    char *dimension;
    int64_t hour_ms;
    int64_t quantity_micro; /* usage combined from contributions */
    int64_t aws_quantity;   /* decided integer; -1 while pending_commit */
    int64_t moved_in;       /* units folded in from stale records */
    mtr_rounding_t rounding;
    mtr_ledger_status_t status;
    int attempts;
    char *metering_record_id; /* NULL until accepted */
    char *last_error;         /* NULL when none */
    int64_t moved_to;         /* stale_moved: the target record's id; else 0 */
    int64_t created_ms;
    int64_t updated_ms;
    mtr_aggregation_t aggregation; /* how its contributions combine */
    /* mtr_ledger_list only: the source hours of the correction units in
     * this record (ledger_audit.h) as "ms,ms,..." ascending; NULL: none. */
    char *corrects;
    /* Filled by mtr_ledger_take_sendable only; sum == aws_quantity. */
    mtr_record_allocation_t *allocations;
    size_t n_allocations;
} mtr_ledger_record_t;

void mtr_ledger_record_clear(mtr_ledger_record_t *record);
void mtr_ledger_records_clear(mtr_ledger_record_t *records, size_t n);

/* The emitter's view of a record; points into *record (keep it alive).
 * allocations are left out when the only tag set is the empty one. */
void mtr_ledger_record_to_emit(const mtr_ledger_record_t *record, mtr_record_t *out);

/* ---- send side (the emitter thread) ---- */

/* Folds stale records (see above), then marks up to max sendable records
 * whose hour has started by now_ms in_flight (attempts + 1) and returns them
 * in out[0..*n), grouped by scope and customer kind, oldest hour first. */
mtr_err_t mtr_ledger_take_sendable(mtr_ledger_t *ledger, int64_t now_ms, size_t max,
                                   mtr_ledger_record_t *out, size_t *n, char *errstr,
                                   size_t errstr_size);

/* After a restart: in_flight records back to sendable (they are resent with
 * identical content; AWS treats identical requests as idempotent). */
mtr_err_t mtr_ledger_requeue_in_flight(mtr_ledger_t *ledger, size_t *n, char *errstr,
                                       size_t errstr_size);

/* What AWS answered for one in_flight record. status: accepted (with
 * metering_record_id), duplicate, not_subscribed, parked (error says why),
 * sendable (retry later; error says why), stale_moved (TimestampOutOfBounds:
 * fold into the next unsent hour). */
typedef struct mtr_ledger_result {
    int64_t id;
    mtr_ledger_status_t status;
    const char *metering_record_id;
    const char *error;
} mtr_ledger_result_t;

/* Applies n results in one transaction; STATE if a record is not in_flight
 * (nothing is applied then). */
mtr_err_t mtr_ledger_record_results(mtr_ledger_t *ledger, const mtr_ledger_result_t *results,
                                    size_t n, char *errstr, size_t errstr_size);
mtr_err_t mtr_ledger_record_result(mtr_ledger_t *ledger, int64_t id, mtr_ledger_status_t status,
                                   const char *metering_record_id, const char *error, char *errstr,
                                   size_t errstr_size);

/* ---- queries (any process) ---- */

/* NULL / -1 / INT64_MIN / INT64_MAX mean "any". Hours are inclusive. */
typedef struct mtr_ledger_filter {
    const char *customer;
    const char *dimension;
    int status; /* mtr_ledger_status_t or -1 */
    int64_t hour_from_ms;
    int64_t hour_to_ms;
} mtr_ledger_filter_t;

void mtr_ledger_filter_init(mtr_ledger_filter_t *f);

/* Calls cb for each matching record, oldest hour first; a non-zero return
 * stops the walk. */
typedef int (*mtr_ledger_list_cb)(const mtr_ledger_record_t *record, void *opaque);
mtr_err_t mtr_ledger_list(mtr_ledger_t *ledger, const mtr_ledger_filter_t *f, mtr_ledger_list_cb cb,
                          void *opaque, char *errstr, size_t errstr_size);

/* One (customer, dimension) summed over matching records. billed counts the
 * units of decided records except stale_moved ones (their units live in the
 * target), so it is what AWS is or will be asked for. */
typedef struct mtr_ledger_total {
    const char *customer;
    const char *dimension;
    int64_t usage_micro;
    int64_t billed;
    int64_t accepted;
    int64_t records;
} mtr_ledger_total_t;

typedef int (*mtr_ledger_total_cb)(const mtr_ledger_total_t *total, void *opaque);
mtr_err_t mtr_ledger_totals(mtr_ledger_t *ledger, const mtr_ledger_filter_t *f,
                            mtr_ledger_total_cb cb, void *opaque, char *errstr, size_t errstr_size);

/* Where a record's units came from or went: one row per move. */
typedef struct mtr_ledger_provenance {
    int64_t from_record;
    int64_t to_record;
    int64_t quantity_micro;
    int64_t aws_quantity; /* folded units; -1 for additions moved before deciding */
    const char *reason;   /* "added_after_send", "stale", "timestamp_out_of_bounds" */
} mtr_ledger_provenance_t;

typedef int (*mtr_ledger_provenance_cb)(const mtr_ledger_provenance_t *p, void *opaque);
/* Rows where record_id is the source or the target. */
mtr_err_t mtr_ledger_provenance(mtr_ledger_t *ledger, int64_t record_id,
                                mtr_ledger_provenance_cb cb, void *opaque, char *errstr,
                                size_t errstr_size);

#endif
