/* Settling one record (after a roll-back): once none of its contributions
 * is unconfirmed it is decided (ledger_decide.c) from its tag sets and its
 * key's carry, or deleted when nothing is left in it. */
#include "ledger/ledger_int.h"

#include "core/mem.h"

/* The carry of key_id (0 when none). */
static mtr_err_t carry_get(mtr_ledger_t *l, int64_t key_id, int64_t *carry, char *errstr,
                           size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_CARRY_GET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, key_id);
    *carry = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        *carry = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return MTR_OK;
}

/* Reads, decides and stores one record with its carry. */
static mtr_err_t settle_one(mtr_ledger_t *l, const mtr_ledger_record_t *r, char *errstr,
                            size_t errstr_size)
{
    int64_t key_id, carry;
    mtr_err_t err;
    if ((err = ledger_rec_key_id(l, r->id, &key_id, errstr, errstr_size)) ||
        (err = carry_get(l, key_id, &carry, errstr, errstr_size)))
        return err;
    sqlite3_stmt *st = ledger_stmt(l, LS_CONTRIB_BY_TAGS, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, r->id);
    tag_share_t *s = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            s = mtr_realloc(s, cap * sizeof *s);
        }
        s[n] = (tag_share_t){.tags = mtr_strdup((const char *)sqlite3_column_text(st, 0)),
                             .micro = sqlite3_column_int64(st, 1)};
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        err = ledger_db_err(l, errstr, errstr_size, "reading tag sets");
    settle_rec_t sr = {r->id, r->quantity_micro, r->moved_in, r->rounding};
    writes_t w = {0};
    int64_t rem;
    if (!err)
        err = ledger_decide(&sr, s, n, carry, &rem, &w, errstr, errstr_size);
    if (!err) {
        ledger_writes_carry(&w, key_id, rem);
        err = ledger_writes_flush(l, &w, errstr, errstr_size);
    }
    ledger_writes_free(&w);
    for (size_t i = 0; i < n; i++)
        mtr_free((char *)s[i].tags);
    mtr_free(s);
    return err;
}

mtr_err_t ledger_settle(mtr_ledger_t *l, int64_t record_id, char *errstr, size_t errstr_size)
{
    mtr_ledger_record_t r;
    mtr_err_t err = ledger_record_load(l, record_id, &r, errstr, errstr_size);
    if (err == MTR_ERR_NOT_FOUND)
        return MTR_OK;
    if (err)
        return err;
    int64_t unconfirmed = 0, contributions = 0;
    if (r.status != MTR_LEDGER_PENDING_COMMIT)
        goto done;
    sqlite3_stmt *cnt = ledger_stmt(l, LS_REC_PENDING_UNCONFIRMED, errstr, errstr_size);
    if (!cnt) {
        err = MTR_ERR_DB;
        goto done;
    }
    sqlite3_bind_int64(cnt, 1, record_id);
    int rc = sqlite3_step(cnt);
    if (rc == SQLITE_ROW) {
        contributions = sqlite3_column_int64(cnt, 0);
        unconfirmed = sqlite3_column_int64(cnt, 1);
    }
    sqlite3_reset(cnt);
    if (rc != SQLITE_ROW) {
        err = ledger_db_err(l, errstr, errstr_size, "counting contributions");
        goto done;
    }
    if (unconfirmed > 0)
        goto done;
    if (contributions == 0 && r.moved_in == 0)
        /* Everything in it was rolled back: it never existed. */
        err = ledger_record_delete(l, record_id, errstr, errstr_size);
    else
        err = settle_one(l, &r, errstr, errstr_size);
done:
    mtr_ledger_record_clear(&r);
    return err;
}
