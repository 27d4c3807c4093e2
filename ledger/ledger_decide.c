/* The decision that makes a pending record sendable: its AWS units
 * (rounding with the carry of its key), the split of those units over its
 * tag sets, and the record's new status, collected as writes that go to
 * the ledger with one statement per table over ledger_feed. Used for one
 * record (ledger_settle.c) and for every record of a close
 * (ledger_settle_close.c). */
#include "ledger/ledger_int.h"

#include "core/mem.h"
#include "core/quantity.h"

/* Splits units over the tag sets in proportion to their micro-units so the
 * integers sum exactly to units (largest remainder; ties to the first tag
 * set in canonical order). */
static void split_units(tag_share_t *s, size_t n, int64_t units)
{
    __int128 total = 0;
    for (size_t i = 0; i < n; i++)
        total += s[i].micro;
    if (n == 0)
        return;
    int64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        if (total == 0) {
            s[i].units = i == 0 ? units : 0;
            s[i].rem = 0;
        } else {
            __int128 p = (__int128)units * s[i].micro;
            s[i].units = (int64_t)(p / total);
            s[i].rem = (int64_t)(p % total);
        }
        given += s[i].units;
    }
    for (int64_t left = units - given; left > 0; left--) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (s[i].rem > s[best].rem)
                best = i;
        s[best].units++;
        s[best].rem = -1;
    }
}

void ledger_writes_free(writes_t *w)
{
    mtr_free(w->dec);
    mtr_free(w->alloc);
    mtr_free(w->carry);
    *w = (writes_t){0};
}

void ledger_writes_carry(writes_t *w, int64_t key_id, int64_t carry)
{
    LEDGER_PUSH(w->carry, w->n_carry, w->cap_carry);
    w->carry[w->n_carry++] = (carry_row_t){key_id, carry};
}

/* Decides r given its tag sets s[0..n) (canonical order) and its key's
 * carry: adds its allocations and decision to w, and returns the key's new
 * carry in *carry_out (the caller stores it). */
mtr_err_t ledger_decide(const settle_rec_t *r, tag_share_t *s, size_t n, int64_t carry,
                        int64_t *carry_out, writes_t *w, char *errstr, size_t errstr_size)
{
    int64_t total, units, rem;
    if (!mtr_quantity_add(r->quantity_micro, carry, &total))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                           "ledger: record %lld: usage plus carry overflows", (long long)r->id);
    mtr_quantity_round(total, r->rounding, &units, &rem);
    if (units < 0) {
        /* A negative carry left by another rounding rule: keep it for later
         * hours instead of billing a negative quantity. */
        units = 0;
        rem = total;
    }
    *carry_out = rem;
    tag_share_t untagged = {.tags = ""};
    if (n == 0 && units > 0) {
        /* Units from the carry alone go to the untagged bucket. */
        s = &untagged;
        n = 1;
    }
    split_units(s, n, units);
    for (size_t i = 0; i < n; i++) {
        if (s[i].units == 0)
            continue;
        LEDGER_PUSH(w->alloc, w->n_alloc, w->cap_alloc);
        w->alloc[w->n_alloc++] = (alloc_row_t){r->id, s[i].tags, s[i].units};
    }
    int64_t aws = units + r->moved_in;
    LEDGER_PUSH(w->dec, w->n_dec, w->cap_dec);
    w->dec[w->n_dec++] = (decision_t){
        r->id, aws, aws > MTR_RECORD_MAX_QUANTITY ? MTR_LEDGER_PARKED : MTR_LEDGER_SENDABLE};
    return MTR_OK;
}

/* c0 record, c1 tag set, c2 units. */
static void col_alloc(const void *rows, size_t i, int col, sqlite3_context *ctx)
{
    const alloc_row_t *a = &((const alloc_row_t *)rows)[i];
    if (col == 1)
        sqlite3_result_text(ctx, a->tags, -1, SQLITE_STATIC);
    else
        sqlite3_result_int64(ctx, col == 0 ? a->record_id : a->units);
}

/* c0 record, c1 AWS quantity, c2 status, c3 why it is parked (NULL). */
static void col_decision(const void *rows, size_t i, int col, sqlite3_context *ctx)
{
    const decision_t *d = &((const decision_t *)rows)[i];
    if (col == 3) {
        if (d->status != MTR_LEDGER_PARKED) {
            sqlite3_result_null(ctx);
            return;
        }
        char why[160];
        snprintf(why, sizeof why, "quantity %lld exceeds AWS's maximum %lld; split it by hand",
                 (long long)d->aws, (long long)MTR_RECORD_MAX_QUANTITY);
        sqlite3_result_text(ctx, why, -1, SQLITE_TRANSIENT);
        return;
    }
    int64_t v[] = {d->id, d->aws, (int64_t)d->status};
    sqlite3_result_int64(ctx, v[col < 3 ? col : 0]);
}

/* c0 key, c1 carry. */
static void col_carry(const void *rows, size_t i, int col, sqlite3_context *ctx)
{
    const carry_row_t *c = &((const carry_row_t *)rows)[i];
    sqlite3_result_int64(ctx, col == 0 ? c->key_id : c->carry);
}

mtr_err_t ledger_writes_flush(mtr_ledger_t *l, const writes_t *w, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_ALLOC_ADD_FEED, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    mtr_err_t err = ledger_feed_run(l, st, w->alloc, w->n_alloc, col_alloc, errstr, errstr_size,
                                    "writing allocations");
    if (err)
        return err;
    if (!(st = ledger_stmt(l, LS_REC_DECIDE_FEED, errstr, errstr_size)))
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, ledger_now(l));
    if ((err = ledger_feed_run(l, st, w->dec, w->n_dec, col_decision, errstr, errstr_size,
                               "deciding records")))
        return err;
    if (!(st = ledger_stmt(l, LS_CARRY_SET_FEED, errstr, errstr_size)))
        return MTR_ERR_DB;
    return ledger_feed_run(l, st, w->carry, w->n_carry, col_carry, errstr, errstr_size,
                           "writing carries");
}

mtr_err_t ledger_record_delete(mtr_ledger_t *l, int64_t id, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_DELETE, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    return ledger_step_done(l, st, errstr, errstr_size, "deleting an empty record");
}
