/* The decision that makes a pending record sendable: its AWS units
 * (rounding with the carry of its key), the split of those units over its
 * tag sets, and the record's new status. Two ways in, one decision:
 * ledger_settle for one record (roll-backs), and ledger_settle_close for
 * every record of a close, which reads them, their tag sets and their
 * carries with one ordered query and then only writes. */
#include "emit/ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/quantity.h"

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

/* Decides r given its tag sets s[0..n) (canonical order) and its key's
 * carry: writes the allocations and the record, and returns the key's new
 * carry in *carry_out (the caller stores it). */
static mtr_err_t decide(mtr_ledger_t *l, const settle_rec_t *r, tag_share_t *s, size_t n,
                        int64_t carry, int64_t now, int64_t *carry_out, char *errstr,
                        size_t errstr_size)
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
    mtr_err_t err = MTR_OK;
    sqlite3_stmt *st;
    for (size_t i = 0; !err && i < n; i++) {
        if (s[i].units == 0)
            continue;
        if (!(st = ledger_stmt(l, LS_ALLOC_ADD, errstr, errstr_size)))
            return MTR_ERR_DB;
        sqlite3_bind_int64(st, 1, r->id);
        sqlite3_bind_text(st, 2, s[i].tags, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, s[i].units);
        err = ledger_step_done(l, st, errstr, errstr_size, "writing an allocation");
    }
    if (err)
        return err;

    int64_t aws = units + r->moved_in;
    mtr_ledger_status_t status = MTR_LEDGER_SENDABLE;
    char why[160] = "";
    if (aws > MTR_EMIT_MAX_QUANTITY) {
        status = MTR_LEDGER_PARKED;
        snprintf(why, sizeof why, "quantity %lld exceeds AWS's maximum %lld; split it by hand",
                 (long long)aws, (long long)MTR_EMIT_MAX_QUANTITY);
    }
    if (!(st = ledger_stmt(l, LS_REC_DECIDE, errstr, errstr_size)))
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int64(st, 2, aws);
    sqlite3_bind_int(st, 3, (int)status);
    if (why[0])
        sqlite3_bind_text(st, 4, why, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    return ledger_step_done(l, st, errstr, errstr_size, "deciding a record");
}

static mtr_err_t carry_set(mtr_ledger_t *l, const mtr_ledger_key_t *key, int64_t carry,
                           char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_CARRY_SET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    ledger_bind_key(st, 1, key);
    sqlite3_bind_int64(st, 6, carry);
    return ledger_step_done(l, st, errstr, errstr_size, "writing the carry");
}

static mtr_err_t delete_record(mtr_ledger_t *l, int64_t id, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_DELETE, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    return ledger_step_done(l, st, errstr, errstr_size, "deleting an empty record");
}

/* ---- one record ---- */

/* The key's stored carry (0 when none). */
static mtr_err_t carry_get(mtr_ledger_t *l, const mtr_ledger_key_t *key, int64_t *carry,
                           char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_CARRY_GET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    ledger_bind_key(st, 1, key);
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
    mtr_ledger_key_t key = {r->scope_kind, r->scope, r->customer_kind, r->customer, r->dimension};
    int64_t carry;
    mtr_err_t err = carry_get(l, &key, &carry, errstr, errstr_size);
    if (err)
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
    int64_t rem;
    if (!err)
        err = decide(l, &sr, s, n, carry, ledger_now(l), &rem, errstr, errstr_size);
    if (!err)
        err = carry_set(l, &key, rem, errstr, errstr_size);
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
        err = delete_record(l, record_id, errstr, errstr_size);
    else
        err = settle_one(l, &r, errstr, errstr_size);
done:
    mtr_ledger_record_clear(&r);
    return err;
}

/* ---- every record of a close ---- */

/* The pending records of a close as LS_SETTLE_OF_CLOSE returned them, read
 * completely before anything is written (writing the tables a statement is
 * still reading is not well defined in SQLite), in the order the close
 * first wrote them. Strings live in `text`, addressed by offset because it
 * grows. */
typedef struct bulk_rec {
    settle_rec_t rec;
    int scope_kind, customer_kind;
    size_t scope, customer, dimension; /* offsets into text */
    int64_t carry;                     /* the key's stored carry */
    int64_t unconfirmed, contributions;
    size_t first_share, n_shares;
    size_t key_first;   /* index of the first record of the same key */
    bool carry_changed; /* on a key's first record: write its carry */
} bulk_rec_t;

/* Open addressing over record indexes (slot = index + 1; 0 is empty). */
typedef struct bulk_index {
    size_t *slots;
    size_t mask;
} bulk_index_t;

typedef struct bulk {
    bulk_rec_t *recs;
    size_t n_recs, cap_recs;
    tag_share_t *shares; /* .tags holds an offset until resolved */
    size_t n_shares, cap_shares;
    char *text;
    size_t text_len, text_cap;
    bulk_index_t by_id, by_key;
} bulk_t;

static size_t bulk_text(bulk_t *b, const unsigned char *s)
{
    size_t len = strlen((const char *)s) + 1;
    if (b->text_len + len > b->text_cap) {
        b->text_cap = (b->text_cap ? b->text_cap * 2 : 4096) + len;
        b->text = mtr_realloc(b->text, b->text_cap);
    }
    memcpy(b->text + b->text_len, s, len);
    b->text_len += len;
    return b->text_len - len;
}

static void bulk_free(bulk_t *b)
{
    mtr_free(b->recs);
    mtr_free(b->shares);
    mtr_free(b->text);
    mtr_free(b->by_id.slots);
    mtr_free(b->by_key.slots);
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xBF58476D1CE4E5B9ull;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull; /* FNV-1a */
    return hash_mix(h, 0xFF);
}

static uint64_t rec_id_hash(const bulk_t *b, size_t i)
{
    return hash_mix(0, (uint64_t)b->recs[i].rec.id);
}

static uint64_t rec_key_hash(const bulk_t *b, size_t i)
{
    const bulk_rec_t *r = &b->recs[i];
    uint64_t h = hash_mix(0xCBF29CE484222325ull, (uint64_t)(r->scope_kind * 2 + r->customer_kind));
    h = hash_str(h, b->text + r->scope);
    h = hash_str(h, b->text + r->customer);
    return hash_str(h, b->text + r->dimension);
}

static bool rec_same_id(const bulk_t *b, size_t x, size_t y)
{
    return b->recs[x].rec.id == b->recs[y].rec.id;
}

static bool rec_same_key(const bulk_t *b, size_t x, size_t y)
{
    const bulk_rec_t *p = &b->recs[x], *q = &b->recs[y];
    return p->scope_kind == q->scope_kind && p->customer_kind == q->customer_kind &&
           !strcmp(b->text + p->customer, b->text + q->customer) &&
           !strcmp(b->text + p->dimension, b->text + q->dimension) &&
           !strcmp(b->text + p->scope, b->text + q->scope);
}

/* The record in ix equal to record i (by eq), or i itself after adding
 * it. The table grows to keep at most half of it in use. */
static size_t bulk_index_put(bulk_t *b, bulk_index_t *ix, size_t i,
                             uint64_t (*hash)(const bulk_t *, size_t),
                             bool (*eq)(const bulk_t *, size_t, size_t))
{
    if (!ix->slots || (i + 1) * 2 > ix->mask + 1) {
        size_t cap = ix->slots ? (ix->mask + 1) * 2 : 1024;
        mtr_free(ix->slots);
        ix->slots = mtr_calloc(cap, sizeof *ix->slots);
        ix->mask = cap - 1;
        /* Re-add the records indexed so far (each is its own first). */
        for (size_t j = 0; j < i; j++) {
            if (ix == &b->by_key && b->recs[j].key_first != j)
                continue;
            size_t at = (size_t)hash(b, j) & ix->mask;
            while (ix->slots[at])
                at = (at + 1) & ix->mask;
            ix->slots[at] = j + 1;
        }
    }
    size_t at = (size_t)hash(b, i) & ix->mask;
    for (; ix->slots[at]; at = (at + 1) & ix->mask)
        if (eq(b, ix->slots[at] - 1, i))
            return ix->slots[at] - 1;
    ix->slots[at] = i + 1;
    return i;
}

static int share_cmp(const void *x, const void *y)
{
    return strcmp(((const tag_share_t *)x)->tags, ((const tag_share_t *)y)->tags);
}

/* Sorts a record's contributions by tag set (SQLite's BINARY order is
 * strcmp's for text without NULs) and sums those with equal tag sets. */
static mtr_err_t group_shares(bulk_t *b, bulk_rec_t *r, char *errstr, size_t errstr_size)
{
    tag_share_t *s = b->shares + r->first_share;
    size_t n = r->n_shares, out = 0;
    if (n > 1)
        qsort(s, n, sizeof *s, share_cmp);
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && !strcmp(s[out - 1].tags, s[i].tags)) {
            if (!mtr_quantity_add(s[out - 1].micro, s[i].micro, &s[out - 1].micro))
                return mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                                   "ledger: record %lld: usage of one tag set overflows",
                                   (long long)r->rec.id);
            continue;
        }
        s[out++] = s[i];
    }
    r->n_shares = out;
    return MTR_OK;
}

/* Columns of LS_SETTLE_OF_CLOSE: per contribution of the close (c0, in the
 * order the close wrote them), its pending record with its key's carry, and
 * one row per contribution of that record (of any close) with the state of
 * that contribution's close part. */
enum {
    SC_C0,
    SC_ID,
    SC_SCOPE_KIND,
    SC_SCOPE,
    SC_CUSTOMER_KIND,
    SC_CUSTOMER,
    SC_DIMENSION,
    SC_MICRO,
    SC_MOVED_IN,
    SC_ROUNDING,
    SC_CARRY,
    SC_TAGS,
    SC_TAGS_MICRO,
    SC_PART_STATE
};

static mtr_err_t bulk_read(mtr_ledger_t *l, int64_t close_id, bulk_t *b, char *errstr,
                           size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_SETTLE_OF_CLOSE, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    int rc;
    int64_t c0 = 0;
    bool skip = false; /* a later contribution of a record already read */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t this_c0 = sqlite3_column_int64(st, SC_C0);
        if (b->n_recs == 0 || this_c0 != c0) {
            c0 = this_c0;
            if (b->n_recs == b->cap_recs) {
                b->cap_recs = b->cap_recs ? b->cap_recs * 2 : 256;
                b->recs = mtr_realloc(b->recs, b->cap_recs * sizeof *b->recs);
            }
            size_t i = b->n_recs;
            b->recs[i].rec.id = sqlite3_column_int64(st, SC_ID);
            skip = bulk_index_put(b, &b->by_id, i, rec_id_hash, rec_same_id) != i;
            if (skip)
                continue;
            b->recs[i] = (bulk_rec_t){
                .rec = {b->recs[i].rec.id, sqlite3_column_int64(st, SC_MICRO),
                        sqlite3_column_int64(st, SC_MOVED_IN),
                        (mtr_rounding_t)sqlite3_column_int(st, SC_ROUNDING)},
                .scope_kind = sqlite3_column_int(st, SC_SCOPE_KIND),
                .customer_kind = sqlite3_column_int(st, SC_CUSTOMER_KIND),
                .scope = bulk_text(b, sqlite3_column_text(st, SC_SCOPE)),
                .customer = bulk_text(b, sqlite3_column_text(st, SC_CUSTOMER)),
                .dimension = bulk_text(b, sqlite3_column_text(st, SC_DIMENSION)),
                .carry = sqlite3_column_int64(st, SC_CARRY),
                .first_share = b->n_shares,
            };
            b->n_recs++;
            b->recs[i].key_first = i;
            b->recs[i].key_first = bulk_index_put(b, &b->by_key, i, rec_key_hash, rec_same_key);
        } else if (skip) {
            continue;
        }
        bulk_rec_t *r = &b->recs[b->n_recs - 1];
        if (sqlite3_column_type(st, SC_PART_STATE) != SQLITE_NULL) {
            r->contributions++;
            r->unconfirmed += sqlite3_column_int(st, SC_PART_STATE) == LEDGER_PART_PENDING;
        }
        if (b->n_shares == b->cap_shares) {
            b->cap_shares = b->cap_shares ? b->cap_shares * 2 : 256;
            b->shares = mtr_realloc(b->shares, b->cap_shares * sizeof *b->shares);
        }
        size_t off = bulk_text(b, sqlite3_column_text(st, SC_TAGS));
        b->shares[b->n_shares++] = (tag_share_t){.tags = (const char *)(uintptr_t)off,
                                                 .micro = sqlite3_column_int64(st, SC_TAGS_MICRO)};
        r->n_shares++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ledger_db_err(l, errstr, errstr_size, "reading the records of a close");
    for (size_t i = 0; i < b->n_shares; i++)
        b->shares[i].tags = b->text + (uintptr_t)b->shares[i].tags;
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; !err && i < b->n_recs; i++)
        err = group_shares(b, &b->recs[i], errstr, errstr_size);
    return err;
}

static mtr_ledger_key_t bulk_key(const bulk_t *b, const bulk_rec_t *r)
{
    return (mtr_ledger_key_t){(mtr_ledger_scope_kind_t)r->scope_kind, b->text + r->scope,
                              (mtr_ledger_customer_kind_t)r->customer_kind, b->text + r->customer,
                              b->text + r->dimension};
}

/* Settles the records in the order the per-record path would. The carry of
 * a key passes in memory from one of its records to the next (kept in the
 * key's first record) and is written once per key at the end. */
static mtr_err_t bulk_settle(mtr_ledger_t *l, bulk_t *b, char *errstr, size_t errstr_size)
{
    int64_t now = ledger_now(l);
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; !err && i < b->n_recs; i++) {
        bulk_rec_t *r = &b->recs[i], *k = &b->recs[r->key_first];
        if (r->unconfirmed > 0)
            continue;
        if (r->contributions == 0 && r->rec.moved_in == 0) {
            err = delete_record(l, r->rec.id, errstr, errstr_size);
            continue;
        }
        err = decide(l, &r->rec, b->shares + r->first_share, r->n_shares, k->carry, now, &k->carry,
                     errstr, errstr_size);
        k->carry_changed = true;
    }
    for (size_t i = 0; !err && i < b->n_recs; i++) {
        bulk_rec_t *r = &b->recs[i];
        if (r->key_first != i || !r->carry_changed)
            continue;
        mtr_ledger_key_t key = bulk_key(b, r);
        err = carry_set(l, &key, r->carry, errstr, errstr_size);
    }
    return err;
}

mtr_err_t ledger_settle_close(mtr_ledger_t *l, int64_t close_id, char *errstr, size_t errstr_size)
{
    bulk_t b = {0};
    mtr_err_t err = bulk_read(l, close_id, &b, errstr, errstr_size);
    if (!err)
        err = bulk_settle(l, &b, errstr, errstr_size);
    bulk_free(&b);
    return err;
}
