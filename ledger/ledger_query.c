/* Reading the ledger: record rows into structs, look-ups by key, listing
 * with filters, totals per (customer, dimension) and provenance. */
#include "ledger/ledger_int.h"

#include <stdio.h>
#include <string.h>

#include "core/mem.h"

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? mtr_strdup((const char *)t) : NULL;
}

void ledger_record_from_row(sqlite3_stmt *st, mtr_ledger_record_t *r)
{
    *r = (mtr_ledger_record_t){
        .id = sqlite3_column_int64(st, 0),
        .scope_kind = (mtr_ledger_scope_kind_t)sqlite3_column_int(st, 1),
        .scope = dup_col(st, 2),
        .customer_kind = (mtr_ledger_customer_kind_t)sqlite3_column_int(st, 3),
        .customer = dup_col(st, 4),
        .dimension = dup_col(st, 5),
        .hour_ms = sqlite3_column_int64(st, 6),
        .quantity_micro = sqlite3_column_int64(st, 7),
        .aws_quantity = sqlite3_column_int64(st, 8),
        .moved_in = sqlite3_column_int64(st, 9),
        .rounding = (mtr_rounding_t)sqlite3_column_int(st, 10),
        .status = (mtr_ledger_status_t)sqlite3_column_int(st, 11),
        .attempts = sqlite3_column_int(st, 12),
        .metering_record_id = dup_col(st, 13),
        .last_error = dup_col(st, 14),
        .moved_to = sqlite3_column_int64(st, 15),
        .created_ms = sqlite3_column_int64(st, 16),
        .updated_ms = sqlite3_column_int64(st, 17),
        .aggregation = (mtr_aggregation_t)sqlite3_column_int(st, 18),
    };
}

mtr_err_t ledger_record_load(mtr_ledger_t *l, int64_t id, mtr_ledger_record_t *out, char *errstr,
                             size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_GET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        ledger_record_from_row(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND, "ledger: no record %lld",
                           (long long)id);
    return rc == SQLITE_ROW ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "reading a record");
}

void mtr_ledger_record_clear(mtr_ledger_record_t *r)
{
    mtr_free(r->scope);
    mtr_free(r->customer);
    mtr_free(r->dimension);
    mtr_free(r->metering_record_id);
    mtr_free(r->last_error);
    mtr_free(r->corrects);
    for (size_t i = 0; i < r->n_allocations; i++)
        for (size_t t = 0; t < r->allocations[i].n_tags; t++) {
            mtr_free((char *)r->allocations[i].tags[t].key);
            mtr_free((char *)r->allocations[i].tags[t].value);
        }
    mtr_free(r->allocations);
    memset(r, 0, sizeof *r);
}

void mtr_ledger_records_clear(mtr_ledger_record_t *records, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mtr_ledger_record_clear(&records[i]);
}

void mtr_ledger_record_to_emit(const mtr_ledger_record_t *r, mtr_record_t *out)
{
    bool tagged = false;
    for (size_t i = 0; i < r->n_allocations; i++)
        if (r->allocations[i].n_tags)
            tagged = true;
    *out = (mtr_record_t){
        .product_code = r->scope_kind == MTR_LEDGER_SCOPE_PRODUCT ? r->scope : NULL,
        .license_arn = r->scope_kind == MTR_LEDGER_SCOPE_LICENSE ? r->scope : NULL,
        .customer_identifier =
            r->customer_kind == MTR_LEDGER_CUSTOMER_IDENTIFIER ? r->customer : NULL,
        .customer_aws_account_id =
            r->customer_kind == MTR_LEDGER_CUSTOMER_ACCOUNT ? r->customer : NULL,
        .dimension = r->dimension,
        .hour_start_ms = r->hour_ms,
        .quantity = r->aws_quantity,
        .allocations = tagged ? r->allocations : NULL,
        .n_allocations = tagged ? r->n_allocations : 0,
        .id = r->id,
        /* attempts counts this one too; the emitter wants the earlier ones. */
        .attempts = r->attempts > 0 ? r->attempts - 1 : 0,
    };
}

mtr_err_t ledger_rec_find(mtr_ledger_t *l, int64_t key_id, int64_t hour_ms, ledger_rec_t *out,
                          bool *found, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_FIND, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, key_id);
    sqlite3_bind_int64(st, 2, hour_ms);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found)
        *out = (ledger_rec_t){
            .id = sqlite3_column_int64(st, 0),
            .status = (mtr_ledger_status_t)sqlite3_column_int(st, 1),
            .quantity_micro = sqlite3_column_int64(st, 2),
            .aws_quantity = sqlite3_column_int64(st, 3),
            .moved_in = sqlite3_column_int64(st, 4),
            .attempts = sqlite3_column_int(st, 5),
            .hour_ms = sqlite3_column_int64(st, 6),
        };
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ledger_db_err(l, errstr, errstr_size, "finding a record");
    return MTR_OK;
}

mtr_err_t ledger_rec_insert(mtr_ledger_t *l, int64_t key_id, const mtr_ledger_key_t *key,
                            int64_t hour_ms, mtr_rounding_t rounding, mtr_ledger_status_t status,
                            int64_t aws_quantity, int64_t quantity_micro, int64_t *id, char *errstr,
                            size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_INSERT, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    ledger_bind_key(st, 1, key);
    sqlite3_bind_int64(st, 6, hour_ms);
    sqlite3_bind_int(st, 7, (int)rounding);
    sqlite3_bind_int(st, 8, (int)status);
    sqlite3_bind_int64(st, 9, aws_quantity);
    sqlite3_bind_int64(st, 10, ledger_now(l));
    sqlite3_bind_int64(st, 11, quantity_micro);
    sqlite3_bind_int64(st, 12, key_id);
    mtr_err_t err = ledger_step_done(l, st, errstr, errstr_size, "creating a record");
    if (!err)
        *id = sqlite3_last_insert_rowid(l->db);
    return err;
}

mtr_err_t ledger_rec_key_id(mtr_ledger_t *l, int64_t id, int64_t *key_id, char *errstr,
                            size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_KEY_ID, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *key_id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND, "ledger: no record %lld",
                           (long long)id);
    return rc == SQLITE_ROW ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "reading a record");
}

void mtr_ledger_filter_init(mtr_ledger_filter_t *f)
{
    *f = (mtr_ledger_filter_t){.status = -1, .hour_from_ms = INT64_MIN, .hour_to_ms = INT64_MAX};
}

/* Filters as SQL with fixed parameter numbers ?1..?5; NULL binds match all. */
#define FILTER_WHERE                                                                               \
    " WHERE (?1 IS NULL OR customer=?1) AND (?2 IS NULL OR dimension=?2)"                          \
    " AND (?3 IS NULL OR status=?3) AND hour_ms>=?4 AND hour_ms<=?5"

static void bind_filter(sqlite3_stmt *st, const mtr_ledger_filter_t *f)
{
    mtr_ledger_filter_t any;
    if (!f) {
        mtr_ledger_filter_init(&any);
        f = &any;
    }
    if (f->customer)
        sqlite3_bind_text(st, 1, f->customer, -1, SQLITE_TRANSIENT);
    if (f->dimension)
        sqlite3_bind_text(st, 2, f->dimension, -1, SQLITE_TRANSIENT);
    if (f->status >= 0)
        sqlite3_bind_int(st, 3, f->status);
    sqlite3_bind_int64(st, 4, f->hour_from_ms);
    sqlite3_bind_int64(st, 5, f->hour_to_ms);
}

/* Queries run rarely (CLI, tests): prepared per call, not cached. */
static mtr_err_t prepare(mtr_ledger_t *l, const char *sql, sqlite3_stmt **st, char *errstr,
                         size_t errstr_size)
{
    if (sqlite3_prepare_v2(l->db, sql, -1, st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing a query");
    return MTR_OK;
}

/* The caller's callback of one query, and its opaque pointer. */
typedef struct row_sink {
    union {
        mtr_ledger_list_cb list;
        mtr_ledger_total_cb total;
        mtr_ledger_provenance_cb provenance;
    } cb;
    void *opaque;
} row_sink_t;

/* Hands the current row of st to the sink; non-zero stops the query. */
typedef int (*row_fn)(sqlite3_stmt *st, const row_sink_t *sink);

/* Steps st (prepared and bound) to its end or until `row` asks to stop,
 * then finalizes it. `doing` names the query in errors. */
static mtr_err_t each_row(mtr_ledger_t *l, sqlite3_stmt *st, row_fn row, const row_sink_t *sink,
                          const char *doing, char *errstr, size_t errstr_size)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (row(st, sink)) {
            rc = SQLITE_DONE;
            break;
        }
    mtr_err_t err = rc == SQLITE_DONE ? MTR_OK : ledger_db_err(l, errstr, errstr_size, doing);
    sqlite3_finalize(st);
    return err;
}

static int record_row(sqlite3_stmt *st, const row_sink_t *sink)
{
    mtr_ledger_record_t r;
    ledger_record_from_row(st, &r);
    r.corrects = dup_col(st, LEDGER_RECORD_N_COLUMNS);
    int stop = sink->cb.list(&r, sink->opaque);
    mtr_ledger_record_clear(&r);
    return stop;
}

mtr_err_t mtr_ledger_list(mtr_ledger_t *ledger, const mtr_ledger_filter_t *f, mtr_ledger_list_cb cb,
                          void *opaque, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    mtr_err_t err = prepare(ledger,
                            "SELECT " LEDGER_RECORD_COLUMNS ", (SELECT group_concat(h) FROM"
                            " (SELECT DISTINCT source_hour_ms AS h FROM corrections c"
                            " WHERE c.record_id=records.id ORDER BY h)) FROM records" FILTER_WHERE
                            " ORDER BY hour_ms, customer, dimension, scope, id",
                            &st, errstr, errstr_size);
    if (err)
        return err;
    bind_filter(st, f);
    row_sink_t sink = {.cb.list = cb, .opaque = opaque};
    return each_row(ledger, st, record_row, &sink, "listing records", errstr, errstr_size);
}

static int total_row(sqlite3_stmt *st, const row_sink_t *sink)
{
    mtr_ledger_total_t t = {
        .customer = (const char *)sqlite3_column_text(st, 0),
        .dimension = (const char *)sqlite3_column_text(st, 1),
        .usage_micro = sqlite3_column_int64(st, 2),
        .billed = sqlite3_column_int64(st, 3),
        .accepted = sqlite3_column_int64(st, 4),
        .records = sqlite3_column_int64(st, 5),
    };
    return sink->cb.total(&t, sink->opaque);
}

mtr_err_t mtr_ledger_totals(mtr_ledger_t *ledger, const mtr_ledger_filter_t *f,
                            mtr_ledger_total_cb cb, void *opaque, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    mtr_err_t err = prepare(
        ledger,
        "SELECT customer, dimension, SUM(quantity_micro),"
        " SUM(CASE WHEN aws_quantity>=0 AND status<>7 THEN aws_quantity ELSE 0 END),"
        " SUM(CASE WHEN status=3 THEN aws_quantity ELSE 0 END), COUNT(*)"
        " FROM records" FILTER_WHERE " GROUP BY customer, dimension ORDER BY customer, dimension",
        &st, errstr, errstr_size);
    if (err)
        return err;
    bind_filter(st, f);
    row_sink_t sink = {.cb.total = cb, .opaque = opaque};
    return each_row(ledger, st, total_row, &sink, "summing records", errstr, errstr_size);
}

static int provenance_row(sqlite3_stmt *st, const row_sink_t *sink)
{
    mtr_ledger_provenance_t p = {
        .from_record = sqlite3_column_int64(st, 0),
        .to_record = sqlite3_column_int64(st, 1),
        .quantity_micro = sqlite3_column_int64(st, 2),
        .aws_quantity = sqlite3_column_int64(st, 3),
        .reason = (const char *)sqlite3_column_text(st, 4),
    };
    return sink->cb.provenance(&p, sink->opaque);
}

mtr_err_t mtr_ledger_provenance(mtr_ledger_t *ledger, int64_t record_id,
                                mtr_ledger_provenance_cb cb, void *opaque, char *errstr,
                                size_t errstr_size)
{
    sqlite3_stmt *st;
    mtr_err_t err = prepare(ledger,
                            "SELECT from_record, to_record, quantity_micro, aws_quantity, reason"
                            " FROM provenance WHERE from_record=?1 OR to_record=?1 ORDER BY id",
                            &st, errstr, errstr_size);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, record_id);
    row_sink_t sink = {.cb.provenance = cb, .opaque = opaque};
    return each_row(ledger, st, provenance_row, &sink, "reading provenance", errstr, errstr_size);
}
