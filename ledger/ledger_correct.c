/* Billing corrections (ledger_audit.h): one close of the corrections topic,
 * confirmed and settled in the transaction that writes it, and a row per
 * correction that says which hour it corrects and where its units went. */
#include <string.h>

#include "core/mem.h"
#include "ledger/ledger_audit.h"
#include "ledger/ledger_int.h"

/* The oldest hour of key that can still take units: a pending_commit record
 * inside the acceptance window; else the current hour. */
static mtr_err_t target_hour(mtr_ledger_t *l, const mtr_ledger_key_t *key, int64_t now,
                             int64_t *hour, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT MIN(r.hour_ms) FROM records r JOIN keys k ON k.id=r.key_id"
                           " WHERE k.scope_kind=?1 AND k.scope=?2 AND k.customer_kind=?3"
                           " AND k.customer=?4 AND k.dimension=?5 AND r.status=0"
                           " AND r.hour_ms>=?6",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing a correction");
    ledger_bind_key(st, 1, key);
    sqlite3_bind_int64(st, 6, mtr_hour_floor_ms(now - l->max_record_age_ms) + MTR_MS_PER_HOUR);
    int rc = sqlite3_step(st);
    *hour = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                ? sqlite3_column_int64(st, 0)
                : mtr_hour_floor_ms(now);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? MTR_OK
                            : ledger_db_err(l, errstr, errstr_size, "placing a correction");
}

/* The records the close's contributions went to, in contribution order. */
static mtr_err_t records_of_close(mtr_ledger_t *l, int64_t close_id, int64_t *out, size_t n,
                                  char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT record_id FROM contributions WHERE close_id=?1 ORDER BY id", -1,
                           &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing a correction");
    sqlite3_bind_int64(st, 1, close_id);
    size_t i = 0;
    int rc;
    while (i < n && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out[i++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (i != n)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                           "ledger: correction close %lld wrote %zu of %zu contributions",
                           (long long)close_id, i, n);
    return MTR_OK;
}

static mtr_err_t write_rows(mtr_ledger_t *l, int64_t close_id, const char *description,
                            const mtr_ledger_correction_t *c, size_t n, int64_t *run_id,
                            char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "INSERT INTO correction_runs(close_id, description, created_ms)"
                           " VALUES(?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing a correction");
    sqlite3_bind_int64(st, 1, close_id);
    sqlite3_bind_text(st, 2, description, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ledger_now(l));
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE)
        return ledger_db_err(l, errstr, errstr_size, "writing a correction run");
    *run_id = sqlite3_last_insert_rowid(l->db);

    int64_t *records = mtr_malloc(n * sizeof *records);
    mtr_err_t err = records_of_close(l, close_id, records, n, errstr, errstr_size);
    if (!err && sqlite3_prepare_v2(l->db,
                                   "INSERT INTO corrections(run_id, key_id, source_hour_ms,"
                                   " quantity_micro, record_id) VALUES(?1, ?2, ?3, ?4, ?5)",
                                   -1, &st, NULL) != SQLITE_OK)
        err = ledger_db_err(l, errstr, errstr_size, "preparing a correction");
    for (size_t i = 0; !err && i < n; i++) {
        int64_t key_id;
        if ((err = ledger_rec_key_id(l, records[i], &key_id, errstr, errstr_size)))
            break;
        sqlite3_bind_int64(st, 1, *run_id);
        sqlite3_bind_int64(st, 2, key_id);
        sqlite3_bind_int64(st, 3, c[i].source_hour_ms);
        sqlite3_bind_int64(st, 4, c[i].quantity_micro);
        sqlite3_bind_int64(st, 5, records[i]);
        err = ledger_step_done(l, st, errstr, errstr_size, "writing a correction");
    }
    sqlite3_finalize(st); /* NULL is harmless */
    mtr_free(records);
    return err;
}

mtr_err_t mtr_ledger_correct(mtr_ledger_t *l, const char *description,
                             const mtr_ledger_correction_t *c, size_t n, int64_t *run_id,
                             char *errstr, size_t errstr_size)
{
    if (n == 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG, "ledger: no corrections");
    for (size_t i = 0; i < n; i++)
        if (c[i].quantity_micro <= 0 ||
            c[i].source_hour_ms != mtr_hour_floor_ms(c[i].source_hour_ms))
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "ledger: correction %zu needs a positive quantity and the start "
                               "of an hour",
                               i);
    mtr_err_t err = ledger_begin(l, errstr, errstr_size);
    if (err)
        return err;
    mtr_ledger_checkpoint_t ck;
    err = ledger_partition_state(l, MTR_LEDGER_CORRECTIONS_TOPIC, 0, &ck, errstr, errstr_size);
    mtr_free(ck.close_log_tail);
    mtr_ledger_contribution_t *contribs = mtr_calloc(n, sizeof *contribs);
    int64_t now = ledger_now(l);
    for (size_t i = 0; !err && i < n; i++) {
        contribs[i] = (mtr_ledger_contribution_t){
            .key = c[i].key,
            .topic = MTR_LEDGER_CORRECTIONS_TOPIC,
            .partition = 0,
            .quantity_micro = c[i].quantity_micro,
            .rounding = c[i].rounding,
            .aggregation = c[i].aggregation,
            .correction = true,
        };
        err = target_hour(l, &c[i].key, now, &contribs[i].hour_ms, errstr, errstr_size);
    }
    /* The checkpoint only orders the runs: one more per run. */
    mtr_ledger_partition_checkpoint_t cp = {MTR_LEDGER_CORRECTIONS_TOPIC, 0, ck.commit_offset + 1,
                                            NULL};
    mtr_ledger_close_t close = {
        .contributions = contribs, .n_contributions = n, .checkpoints = &cp, .n_checkpoints = 1};
    int64_t close_id = 0;
    if (!err)
        err = ledger_write_close(l, &close, &close_id, errstr, errstr_size);
    if (!err)
        err =
            ledger_confirm_part(l, close_id, MTR_LEDGER_CORRECTIONS_TOPIC, 0, errstr, errstr_size);
    if (!err)
        err = ledger_settle_close(l, close_id, errstr, errstr_size);
    if (!err)
        err = write_rows(l, close_id, description, c, n, run_id, errstr, errstr_size);
    mtr_free(contribs);
    if (!err)
        return ledger_commit(l, errstr, errstr_size);
    ledger_rollback(l);
    return err;
}
