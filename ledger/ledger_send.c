/* The send side of the ledger: folding stale records into the next unsent
 * hour, taking sendable records (marking them in_flight), requeueing
 * in_flight records after a restart, and recording what AWS answered. */
#include "ledger/ledger_int.h"

#include <string.h>

#include "core/mem.h"

#define MAX_HOPS (24 * 366)

/* Moves the units and allocations of decided record `from` to the first
 * later hour that may still change (see ledger.h) and marks it stale_moved. */
static mtr_err_t fold(mtr_ledger_t *l, int64_t from, const char *reason, const char *error,
                      char *errstr, size_t errstr_size)
{
    mtr_ledger_record_t a;
    mtr_err_t err = ledger_record_load(l, from, &a, errstr, errstr_size);
    if (err)
        return err;
    int64_t now = ledger_now(l), target = 0, key_id = 0;
    mtr_ledger_key_t key = {a.scope_kind, a.scope, a.customer_kind, a.customer, a.dimension};
    int64_t h = mtr_hour_floor_ms(now - l->max_record_age_ms) + MTR_MS_PER_HOUR;
    if (h < a.hour_ms + MTR_MS_PER_HOUR)
        h = a.hour_ms + MTR_MS_PER_HOUR;
    if (a.aws_quantity < 0) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                          "ledger: record %lld has no decided quantity to move", (long long)from);
        goto done;
    }
    if ((err = ledger_rec_key_id(l, from, &key_id, errstr, errstr_size)))
        goto done;
    /* Prefer a record that exists already: fewer, larger records. */
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_NEXT_OPEN, errstr, errstr_size);
    if (!st) {
        err = MTR_ERR_DB;
        goto done;
    }
    sqlite3_bind_int64(st, 1, key_id);
    sqlite3_bind_int64(st, 2, h);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        target = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        err = ledger_db_err(l, errstr, errstr_size, "finding an unsent hour");
        goto done;
    }
    for (int hops = 0; !target; hops++, h += MTR_MS_PER_HOUR) {
        if (hops > MAX_HOPS) {
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                              "ledger: no unsent hour within a year for record %lld",
                              (long long)from);
            goto done;
        }
        ledger_rec_t rec;
        bool found;
        if ((err = ledger_rec_find(l, key_id, h, &rec, &found, errstr, errstr_size)))
            goto done;
        if (!found)
            err = ledger_rec_insert(l, key_id, &key, h, a.rounding, MTR_LEDGER_SENDABLE, 0, 0,
                                    &target, errstr, errstr_size);
        else if (rec.status == MTR_LEDGER_PENDING_COMMIT ||
                 (rec.status == MTR_LEDGER_SENDABLE && rec.attempts == 0))
            target = rec.id;
        if (err)
            goto done;
    }

    st = ledger_stmt(l, LS_REC_ADD_MOVED_IN, errstr, errstr_size);
    if (!st) {
        err = MTR_ERR_DB;
        goto done;
    }
    sqlite3_bind_int64(st, 1, target);
    sqlite3_bind_int64(st, 2, a.aws_quantity);
    sqlite3_bind_int64(st, 3, now);
    if ((err = ledger_step_done(l, st, errstr, errstr_size, "moving units")))
        goto done;

    /* Copy the allocations (collected first: the same table is written). */
    if (!(st = ledger_stmt(l, LS_ALLOC_GET, errstr, errstr_size))) {
        err = MTR_ERR_DB;
        goto done;
    }
    sqlite3_bind_int64(st, 1, from);
    char **tags = NULL;
    int64_t *qty = NULL;
    size_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        tags = mtr_realloc(tags, (n + 1) * sizeof *tags);
        qty = mtr_realloc(qty, (n + 1) * sizeof *qty);
        tags[n] = mtr_strdup((const char *)sqlite3_column_text(st, 0));
        qty[n++] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        err = ledger_db_err(l, errstr, errstr_size, "reading allocations");
    for (size_t i = 0; !err && i < n; i++) {
        if (!(st = ledger_stmt(l, LS_ALLOC_ADD, errstr, errstr_size))) {
            err = MTR_ERR_DB;
            break;
        }
        sqlite3_bind_int64(st, 1, target);
        sqlite3_bind_text(st, 2, tags[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, qty[i]);
        err = ledger_step_done(l, st, errstr, errstr_size, "moving allocations");
    }
    for (size_t i = 0; i < n; i++)
        mtr_free(tags[i]);
    mtr_free(tags);
    mtr_free(qty);
    if (err)
        goto done;

    if (!(st = ledger_stmt(l, LS_REC_SET_STALE, errstr, errstr_size))) {
        err = MTR_ERR_DB;
        goto done;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, target);
    if (error)
        sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    if ((err = ledger_step_done(l, st, errstr, errstr_size, "marking a record stale")))
        goto done;
    if (!(st = ledger_stmt(l, LS_PROV_INSERT, errstr, errstr_size))) {
        err = MTR_ERR_DB;
        goto done;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, target);
    sqlite3_bind_int64(st, 3, a.quantity_micro);
    sqlite3_bind_int64(st, 4, a.aws_quantity);
    sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, 0);
    sqlite3_bind_int64(st, 7, now);
    err = ledger_step_done(l, st, errstr, errstr_size, "writing provenance");
done:
    mtr_ledger_record_clear(&a);
    return err;
}

static mtr_err_t load_allocations(mtr_ledger_t *l, mtr_ledger_record_t *r, char *errstr,
                                  size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_ALLOC_GET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, r->id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r->allocations =
            mtr_realloc(r->allocations, (r->n_allocations + 1) * sizeof *r->allocations);
        mtr_record_allocation_t *a = &r->allocations[r->n_allocations++];
        memset(a, 0, sizeof *a);
        a->quantity = sqlite3_column_int64(st, 1);
        if (!ledger_tags_decode((const char *)sqlite3_column_text(st, 0), a)) {
            sqlite3_reset(st);
            return mtr_err_set(errstr, errstr_size, MTR_ERR_DB,
                               "ledger: record %lld has a malformed tag set", (long long)r->id);
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MTR_OK
                             : ledger_db_err(l, errstr, errstr_size, "reading allocations");
}

mtr_err_t mtr_ledger_take_sendable(mtr_ledger_t *ledger, int64_t now_ms, size_t max,
                                   mtr_ledger_record_t *out, size_t *n, char *errstr,
                                   size_t errstr_size)
{
    mtr_ledger_t *l = ledger;
    *n = 0;
    mtr_err_t err = ledger_begin(l, errstr, errstr_size);
    if (err)
        return err;
    /* Never attempted and too old for AWS: fold before taking. */
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_STALE_CANDIDATES, errstr, errstr_size);
    ledger_ids_t stale = {0};
    if (!st) {
        err = MTR_ERR_DB;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, now_ms - l->max_record_age_ms);
    err = ledger_ids_collect(l, st, &stale, errstr, errstr_size);
    for (size_t i = 0; !err && i < stale.n; i++)
        err = fold(l, stale.ids[i], "stale", NULL, errstr, errstr_size);
    mtr_free(stale.ids);
    if (err)
        goto fail;

    if (!(st = ledger_stmt(l, LS_REC_TAKE, errstr, errstr_size))) {
        err = MTR_ERR_DB;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    int rc;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ledger_record_from_row(st, &out[(*n)++]);
    sqlite3_reset(st);
    if (*n < max && rc != SQLITE_DONE) {
        err = ledger_db_err(l, errstr, errstr_size, "taking records");
        goto fail;
    }
    for (size_t i = 0; i < *n; i++) {
        if (!(st = ledger_stmt(l, LS_REC_MARK_IN_FLIGHT, errstr, errstr_size))) {
            err = MTR_ERR_DB;
            goto fail;
        }
        sqlite3_bind_int64(st, 1, out[i].id);
        sqlite3_bind_int64(st, 2, ledger_now(l));
        if ((err = ledger_step_done(l, st, errstr, errstr_size, "marking in flight")) ||
            (err = load_allocations(l, &out[i], errstr, errstr_size)))
            goto fail;
        out[i].status = MTR_LEDGER_IN_FLIGHT;
        out[i].attempts++;
    }
    if ((err = ledger_commit(l, errstr, errstr_size)))
        goto cleared;
    return MTR_OK;
fail:
    ledger_rollback(l);
cleared:
    mtr_ledger_records_clear(out, *n);
    *n = 0;
    return err;
}

mtr_err_t mtr_ledger_requeue_in_flight(mtr_ledger_t *ledger, size_t *n, char *errstr,
                                       size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(ledger, LS_REC_REQUEUE, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, ledger_now(ledger));
    mtr_err_t err = ledger_step_done(ledger, st, errstr, errstr_size, "requeueing records");
    *n = err ? 0 : (size_t)sqlite3_changes(ledger->db);
    return err;
}

static mtr_err_t apply_result(mtr_ledger_t *l, const mtr_ledger_result_t *res, char *errstr,
                              size_t errstr_size)
{
    mtr_ledger_record_t r;
    mtr_err_t err = ledger_record_load(l, res->id, &r, errstr, errstr_size);
    if (err)
        return err;
    mtr_ledger_status_t was = r.status;
    mtr_ledger_record_clear(&r);
    if (was != MTR_LEDGER_IN_FLIGHT)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                           "ledger: result for record %lld which is %s, not in_flight",
                           (long long)res->id, mtr_ledger_status_name(was));
    switch (res->status) {
    case MTR_LEDGER_ACCEPTED:
        if (!res->metering_record_id || !res->metering_record_id[0])
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "ledger: accepted record %lld needs its MeteringRecordId",
                               (long long)res->id);
        break;
    case MTR_LEDGER_DUPLICATE:
    case MTR_LEDGER_NOT_SUBSCRIBED:
    case MTR_LEDGER_PARKED:
    case MTR_LEDGER_SENDABLE:
        break;
    case MTR_LEDGER_STALE_MOVED:
        return fold(l, res->id, "timestamp_out_of_bounds",
                    res->error ? res->error : "TimestampOutOfBounds", errstr, errstr_size);
    default:
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger: %s is not a result status",
                           mtr_ledger_status_name(res->status));
    }
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_RESULT, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, res->id);
    sqlite3_bind_int(st, 2, (int)res->status);
    if (res->metering_record_id)
        sqlite3_bind_text(st, 3, res->metering_record_id, -1, SQLITE_STATIC);
    if (res->error)
        sqlite3_bind_text(st, 4, res->error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, ledger_now(l));
    return ledger_step_done(l, st, errstr, errstr_size, "recording a result");
}

mtr_err_t mtr_ledger_record_results(mtr_ledger_t *ledger, const mtr_ledger_result_t *results,
                                    size_t n, char *errstr, size_t errstr_size)
{
    mtr_err_t err = ledger_begin(ledger, errstr, errstr_size);
    if (err)
        return err;
    for (size_t i = 0; !err && i < n; i++)
        err = apply_result(ledger, &results[i], errstr, errstr_size);
    if (err) {
        ledger_rollback(ledger);
        return err;
    }
    return ledger_commit(ledger, errstr, errstr_size);
}

mtr_err_t mtr_ledger_record_result(mtr_ledger_t *ledger, int64_t id, mtr_ledger_status_t status,
                                   const char *metering_record_id, const char *error, char *errstr,
                                   size_t errstr_size)
{
    mtr_ledger_result_t r = {id, status, metering_record_id, error};
    return mtr_ledger_record_results(ledger, &r, 1, errstr, errstr_size);
}
