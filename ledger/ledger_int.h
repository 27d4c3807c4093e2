/* Internals of the ledger shared by ledger/ledger*.c: the handle, the cached
 * prepared statements, transaction helpers, the row feed that lets one
 * statement read a C array, record placement and the decision that turns a
 * pending record sendable. Nothing outside ledger/ and the ledger's own
 * tests includes this header. */
#ifndef MTR_LEDGER_INT_H
#define MTR_LEDGER_INT_H

#include <sqlite3.h>
#include <string.h>
#include <xxhash.h>

#include "aggregate/index.h"
#include "ledger/ledger.h"

/* Cached statements, prepared on first use and reset after each use. */
typedef enum ledger_stmt_id {
    LS_BEGIN,
    LS_COMMIT,
    LS_ROLLBACK,
    LS_MAX_IDS,
    LS_KEYS_OF_FEED,
    LS_KEYS_INSERT_FEED,
    LS_REC_FIND,
    LS_REC_FIND_FEED,
    LS_REC_KEY_ID,
    LS_REC_GET,
    LS_REC_INSERT,
    LS_REC_INSERT_FEED,
    LS_REC_SET_MICRO,
    LS_REC_SET_MICRO_FEED,
    LS_REC_RECOMBINE,
    LS_REC_RECOMBINE_FEED,
    LS_REC_DECIDE_FEED,
    LS_REC_DELETE,
    LS_REC_ADD_MOVED_IN,
    LS_REC_SET_STALE,
    LS_REC_STALE_CANDIDATES,
    LS_REC_NEXT_OPEN,
    LS_REC_TAKE,
    LS_REC_MARK_IN_FLIGHT,
    LS_REC_RESULT,
    LS_REC_REQUEUE,
    LS_REC_PENDING_UNCONFIRMED,
    LS_CONTRIB_INSERT_FEED,
    LS_CONTRIB_BY_TAGS,
    LS_CONTRIB_OF_PART,
    LS_CONTRIB_DELETE_PART,
    LS_SETTLE_CONTRIBS,
    LS_SETTLE_RECORDS,
    LS_SETTLE_OTHERS,
    LS_PROV_INSERT,
    LS_PROV_DELETE_PART,
    LS_ALLOC_ADD,
    LS_ALLOC_ADD_FEED,
    LS_ALLOC_GET,
    LS_CARRY_GET,
    LS_CARRY_SET_FEED,
    LS_CLOSE_INSERT,
    LS_PART_INSERT,
    LS_PART_GET,
    LS_PART_SET_STATE,
    LS_PARTS_OF_CLOSE,
    LS_PARTS_PENDING,
    LS_PART_MAX_PENDING,
    LS_CLOSELOG_INSERT,
    LS_CLOSELOG_EXISTS,
    LS_CLOSELOG_OF_PART,
    LS_CLOSELOG_DELETE_PART,
    LS_CKPT_GET,
    LS_CKPT_SET,
    LS__COUNT
} ledger_stmt_id_t;

/* Column col of row i of a feed's rows, set on ctx with sqlite3_result_*. */
typedef void (*ledger_feed_col_fn)(const void *rows, size_t i, int col, sqlite3_context *ctx);

/* What the table-valued function ledger_feed (columns c0..c11) returns
 * while a statement runs: rows[0..n) of a C array, read through col. */
typedef struct ledger_feed {
    const void *rows;
    size_t n;
    ledger_feed_col_fn col;
} ledger_feed_t;

struct mtr_ledger {
    sqlite3 *db;
    char *path;
    mtr_clock_t *clock;
    int64_t max_record_age_ms;
    char writer_id[17];
    sqlite3_stmt *stmts[LS__COUNT];
    ledger_feed_t feed; /* empty unless a feed statement is running */
    int lock_fd;        /* the held "<path>.lock" (ledger_lock.c); -1: none */
};

/* Sums and counts add up in memory (close, roll-back); max and latest are
 * combined by SQL from every contribution of the record (ledger.h,
 * Combining; LS_REC_RECOMBINE). */
/* The aggregation stored for a correction contribution (never a
 * dimension's): RECOMBINED adds these to any record's combined usage. */
#define LEDGER_AGG_CORRECTION 4

static inline bool ledger_combines_in_sql(mtr_aggregation_t a)
{
    return a == MTR_AGG_MAX || a == MTR_AGG_LATEST;
}

/* Takes the file's one-writer lock (mtr_ledger_options_t.lock), or fails
 * with MTR_ERR_STATE naming the process that holds it. */
mtr_err_t ledger_lock(mtr_ledger_t *l, char *errstr, size_t errstr_size);

/* Registers ledger_feed on l->db (reading l->feed). */
mtr_err_t ledger_feed_register(mtr_ledger_t *l, char *errstr, size_t errstr_size);
/* Runs a bound statement that returns no rows with ledger_feed showing
 * rows[0..n), then resets it; does nothing when n is 0. */
mtr_err_t ledger_feed_run(mtr_ledger_t *l, sqlite3_stmt *st, const void *rows, size_t n,
                          ledger_feed_col_fn col, char *errstr, size_t errstr_size,
                          const char *what);

/* A reset statement ready for binding, or NULL with errstr filled. */
sqlite3_stmt *ledger_stmt(mtr_ledger_t *l, ledger_stmt_id_t id, char *errstr, size_t errstr_size);
/* MTR_ERR_DB with the SQLite message and what was being done. */
mtr_err_t ledger_db_err(mtr_ledger_t *l, char *errstr, size_t errstr_size, const char *what);
/* Steps a statement that returns no rows, then resets it. */
mtr_err_t ledger_step_done(mtr_ledger_t *l, sqlite3_stmt *st, char *errstr, size_t errstr_size,
                           const char *what);
mtr_err_t ledger_exec(mtr_ledger_t *l, const char *sql, char *errstr, size_t errstr_size);

mtr_err_t ledger_begin(mtr_ledger_t *l, char *errstr, size_t errstr_size);
mtr_err_t ledger_commit(mtr_ledger_t *l, char *errstr, size_t errstr_size);
/* Rolls back if a transaction is open; never fails (the error is logged). */
void ledger_rollback(mtr_ledger_t *l);

static inline int64_t ledger_now(mtr_ledger_t *l)
{
    return mtr_clock_wall_ms(l->clock);
}

/* Binds the five key columns at positions first..first+4. */
void ledger_bind_key(sqlite3_stmt *st, int first, const mtr_ledger_key_t *key);

/* Hashes for the in-memory indexes of a close and a confirmation (XXH3,
 * chained through the seed). */
static inline uint64_t ledger_hash_int(uint64_t seed, uint64_t v)
{
    return XXH3_64bits_withSeed(&v, sizeof v, seed);
}

static inline uint64_t ledger_hash_str(uint64_t seed, const char *s)
{
    return XXH3_64bits_withSeed(s, strlen(s), seed);
}

/* Find-or-add over the items of a caller's array (indexes 0, 1, ...), on
 * the project's hash index (aggregate/index.h). Zero-initialised is empty. */
typedef struct ledger_map {
    mtr_agg_ix_t ix;
} ledger_map_t;

/* true when the items a and b (indexes into the caller's array) are equal. */
typedef bool (*ledger_map_eq)(const void *ctx, size_t a, size_t b);
/* The item equal to `item` (by eq) already in the map, or `item` itself
 * after adding it. */
size_t ledger_map_put(ledger_map_t *m, uint64_t hash, size_t item, ledger_map_eq eq,
                      const void *ctx);
void ledger_map_free(ledger_map_t *m);

/* Fills an allocation's tags from a canonical tag set (core/tagset.h),
 * strdup'ing every string (freed by mtr_ledger_record_clear). false for
 * text that is not a canonical tag set. */
bool ledger_tags_decode(const char *text, mtr_record_allocation_t *a);

/* A record row as placement and folding need it. */
typedef struct ledger_rec {
    int64_t id;
    mtr_ledger_status_t status;
    int64_t quantity_micro;
    int64_t aws_quantity; /* -1: undecided */
    int64_t moved_in;
    int attempts;
    int64_t hour_ms;
} ledger_rec_t;

/* Looks up (key, hour) by the key's interned id; *found false when absent. */
mtr_err_t ledger_rec_find(mtr_ledger_t *l, int64_t key_id, int64_t hour_ms, ledger_rec_t *out,
                          bool *found, char *errstr, size_t errstr_size);
/* A new record of an interned key holding quantity_micro of usage. */
mtr_err_t ledger_rec_insert(mtr_ledger_t *l, int64_t key_id, const mtr_ledger_key_t *key,
                            int64_t hour_ms, mtr_rounding_t rounding, mtr_ledger_status_t status,
                            int64_t aws_quantity, int64_t quantity_micro, int64_t *id, char *errstr,
                            size_t errstr_size);
/* The interned key of record id. */
mtr_err_t ledger_rec_key_id(mtr_ledger_t *l, int64_t id, int64_t *key_id, char *errstr,
                            size_t errstr_size);

/* Places the contributions of a close (validated, with canonical tag sets
 * tags[i]) into records: interns their keys, creates or adds to pending
 * records, moves additions to sent records on (see ledger.h), and writes
 * the contributions and their provenance. */
mtr_err_t ledger_place(mtr_ledger_t *l, int64_t close_id, const mtr_ledger_close_t *close,
                       const char *const *tags, int64_t now, char *errstr, size_t errstr_size);

/* Turns a pending_commit record whose contributions are all confirmed into
 * a sendable one (deciding units, carry and allocations), or deletes it when
 * nothing is left in it. No-op for other records. */
mtr_err_t ledger_settle(mtr_ledger_t *l, int64_t record_id, char *errstr, size_t errstr_size);

/* ---- deciding (ledger_decide.c) ---- */

/* One tag set of a record: its micro-units in, its units out. */
typedef struct tag_share {
    const char *tags;
    int64_t micro;
    int64_t units;
    int64_t rem; /* units * micro mod total, for largest remainder */
} tag_share_t;

/* What deciding needs of a record. */
typedef struct settle_rec {
    int64_t id;
    int64_t quantity_micro;
    int64_t moved_in;
    mtr_rounding_t rounding;
} settle_rec_t;

/* What deciding writes, collected so that each table gets one statement. */
typedef struct decision {
    int64_t id, aws;
    mtr_ledger_status_t status;
} decision_t;

typedef struct alloc_row {
    int64_t record_id;
    const char *tags; /* lives as long as the writes */
    int64_t units;
} alloc_row_t;

typedef struct carry_row {
    int64_t key_id, carry;
} carry_row_t;

typedef struct writes {
    decision_t *dec;
    size_t n_dec, cap_dec;
    alloc_row_t *alloc;
    size_t n_alloc, cap_alloc;
    carry_row_t *carry;
    size_t n_carry, cap_carry;
} writes_t;

/* Grows arr (n used of cap) by doubling so that one more item fits. */
#define LEDGER_PUSH(arr, n, cap)                                                                   \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 256;                                                         \
            (arr) = mtr_realloc((arr), (cap) * sizeof *(arr));                                     \
        }                                                                                          \
    } while (0)

/* Decides r given its tag sets s[0..n) (canonical order) and its key's
 * carry: adds its allocations and decision to w, and returns the key's new
 * carry in *carry_out (the caller stores it with ledger_writes_carry). */
mtr_err_t ledger_decide(const settle_rec_t *r, tag_share_t *s, size_t n, int64_t carry,
                        int64_t *carry_out, writes_t *w, char *errstr, size_t errstr_size);
void ledger_writes_carry(writes_t *w, int64_t key_id, int64_t carry);
/* Writes the decisions, allocations and carries of w, one statement each. */
mtr_err_t ledger_writes_flush(mtr_ledger_t *l, const writes_t *w, char *errstr, size_t errstr_size);
void ledger_writes_free(writes_t *w);
/* Deletes a record left with nothing in it. */
mtr_err_t ledger_record_delete(mtr_ledger_t *l, int64_t id, char *errstr, size_t errstr_size);

/* A growable list of row ids. */
typedef struct ledger_ids {
    int64_t *ids;
    size_t n, cap;
} ledger_ids_t;

void ledger_ids_push(ledger_ids_t *l, int64_t id);
/* Runs a bound statement and collects column 0 of every row. */
mtr_err_t ledger_ids_collect(mtr_ledger_t *l, sqlite3_stmt *st, ledger_ids_t *out, char *errstr,
                             size_t errstr_size);

/* States of a close part (stored). */
enum { LEDGER_PART_PENDING = 0, LEDGER_PART_CONFIRMED = 1, LEDGER_PART_ROLLED_BACK = 2 };

mtr_err_t ledger_set_part_state(mtr_ledger_t *l, int64_t close_id, const char *topic,
                                int32_t partition, int state, char *errstr, size_t errstr_size);
/* Writes p's confirmed checkpoint unless it would move backwards. */
mtr_err_t ledger_set_checkpoint(mtr_ledger_t *l, const char *topic, int32_t partition,
                                int64_t offset, const char *tail, const char *source, char *errstr,
                                size_t errstr_size);
/* Marks one part confirmed and advances the checkpoint (never back). */
mtr_err_t ledger_confirm_part(mtr_ledger_t *l, int64_t close_id, const char *topic,
                              int32_t partition, char *errstr, size_t errstr_size);
/* mtr_ledger_close's writes, inside the caller's transaction. */
mtr_err_t ledger_write_close(mtr_ledger_t *l, const mtr_ledger_close_t *close, int64_t *close_id,
                             char *errstr, size_t errstr_size);
/* Settles every record the close contributed to, exactly as
 * ledger_settle on each of them in the order the close first wrote them
 * would, with one query for all of them. */
mtr_err_t ledger_settle_close(mtr_ledger_t *l, int64_t close_id, char *errstr, size_t errstr_size);
/* p's confirmed checkpoint and newest pending part (out->close_log_tail is
 * mtr_free'd by the caller, also on error). */
mtr_err_t ledger_partition_state(mtr_ledger_t *l, const char *topic, int32_t partition,
                                 mtr_ledger_checkpoint_t *out, char *errstr, size_t errstr_size);

/* Loads a record's key strings and columns (not allocations). */
mtr_err_t ledger_record_load(mtr_ledger_t *l, int64_t id, mtr_ledger_record_t *out, char *errstr,
                             size_t errstr_size);
/* Fills out from a row of LEDGER_RECORD_COLUMNS starting at column 0. */
void ledger_record_from_row(sqlite3_stmt *st, mtr_ledger_record_t *out);

/* Terms that let a query on unsent records use the partial index
 * records_unsent (SQLite needs the index's WHERE term verbatim). */
#define LEDGER_UNSENT "status IN (1, 2)"

#define LEDGER_RECORD_COLUMNS                                                                      \
    "id, scope_kind, scope, customer_kind, customer, dimension, hour_ms, quantity_micro, "         \
    "aws_quantity, moved_in, rounding, status, attempts, metering_record_id, last_error, "         \
    "moved_to, created_ms, updated_ms, aggregation"
#define LEDGER_RECORD_N_COLUMNS 19

#endif
