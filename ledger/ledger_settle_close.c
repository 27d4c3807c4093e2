/* Settling every record a close contributed to, once its Kafka commit is
 * confirmed: the records, their tag sets, their carries and the state of
 * every contribution are read with one ordered query, then decided exactly
 * as ledger_settle would decide each of them in the order the close first
 * wrote them, and written with one statement per table. */
#include "ledger/ledger_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/quantity.h"

/* The records a close contributed to, in the order it first wrote them,
 * read completely before anything is written (writing the tables a
 * statement is still reading is not well defined in SQLite). */
typedef struct bulk_rec {
    settle_rec_t rec;
    int64_t key_id;
    int64_t carry; /* the key's stored carry */
    bool pending;  /* read back as pending_commit: the only ones settled */
    int64_t unconfirmed, contributions;
    size_t first_share, n_shares;
    size_t key_first;   /* index of the first record of the same key */
    bool carry_changed; /* on a key's first record: write its carry */
} bulk_rec_t;

/* One contribution of a record (of this close or another). */
typedef struct bulk_row {
    size_t rec;
    size_t tags; /* offset into text */
    int64_t micro;
    int state; /* of its close part; -1: the part is gone */
} bulk_row_t;

typedef struct bulk_part {
    char *topic;
    int32_t partition;
    int state;
} bulk_part_t;

typedef struct bulk {
    bulk_rec_t *recs;
    size_t n_recs, cap_recs;
    bulk_row_t *rows;
    size_t n_rows, cap_rows;
    tag_share_t *shares;
    char *text;
    size_t text_len, text_cap;
    bulk_part_t *parts;
    size_t n_parts;
    size_t *sel; /* the records a feed shows (indexes) */
    size_t n_sel;
    ledger_map_t by_id, by_key;
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

static void bulk_row_push(bulk_t *b, size_t rec, const unsigned char *tags, int64_t micro,
                          int state)
{
    LEDGER_PUSH(b->rows, b->n_rows, b->cap_rows);
    b->rows[b->n_rows++] = (bulk_row_t){rec, bulk_text(b, tags), micro, state};
}

static void bulk_free(bulk_t *b)
{
    for (size_t i = 0; i < b->n_parts; i++)
        mtr_free(b->parts[i].topic);
    mtr_free(b->parts);
    mtr_free(b->recs);
    mtr_free(b->rows);
    mtr_free(b->shares);
    mtr_free(b->text);
    mtr_free(b->sel);
    ledger_map_free(&b->by_id);
    ledger_map_free(&b->by_key);
}

static bool rec_same_id(const void *ctx, size_t x, size_t y)
{
    const bulk_t *b = ctx;
    return b->recs[x].rec.id == b->recs[y].rec.id;
}

static bool rec_same_key(const void *ctx, size_t x, size_t y)
{
    const bulk_t *b = ctx;
    return b->recs[x].key_id == b->recs[y].key_id;
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

/* The close's parts and their states (a handful), to give each of its
 * contributions its part's state without a join. */
static mtr_err_t read_parts(mtr_ledger_t *l, int64_t close_id, bulk_t *b, char *errstr,
                            size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_PARTS_OF_CLOSE, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        b->parts = mtr_realloc(b->parts, (b->n_parts + 1) * sizeof *b->parts);
        b->parts[b->n_parts++] =
            (bulk_part_t){mtr_strdup((const char *)sqlite3_column_text(st, 0)),
                          sqlite3_column_int(st, 1), sqlite3_column_int(st, 4)};
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "reading a close");
}

static int part_state(const bulk_t *b, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < b->n_parts; i++)
        if (b->parts[i].partition == partition && !strcmp(b->parts[i].topic, topic))
            return b->parts[i].state;
    return -1;
}

/* The close's own contributions, in the order it wrote them; each new
 * record id becomes a record (first occurrence order). */
static mtr_err_t read_contributions(mtr_ledger_t *l, int64_t close_id, bulk_t *b, char *errstr,
                                    size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_SETTLE_CONTRIBS, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    int rc, state = -1;
    int32_t last_part = -1;
    char last_topic[256] = "";
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *topic = (const char *)sqlite3_column_text(st, 1);
        int32_t partition = sqlite3_column_int(st, 2);
        /* Rows come grouped by part: look its state up once per part. */
        if (partition != last_part || strcmp(topic, last_topic) != 0) {
            state = part_state(b, topic, partition);
            last_part = partition;
            snprintf(last_topic, sizeof last_topic, "%s", topic);
        }
        LEDGER_PUSH(b->recs, b->n_recs, b->cap_recs);
        b->recs[b->n_recs] = (bulk_rec_t){.rec.id = id};
        size_t rec =
            ledger_map_put(&b->by_id, ledger_hash_int(0, (uint64_t)id), b->n_recs, rec_same_id, b);
        if (rec == b->n_recs)
            b->n_recs++;
        bulk_row_push(b, rec, sqlite3_column_text(st, 3), sqlite3_column_int64(st, 4), state);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MTR_OK
                             : ledger_db_err(l, errstr, errstr_size, "reading a close's usage");
}

/* c0: the record's index in b, c1: its id. */
static void col_bulk_rec(const void *rows, size_t i, int col, sqlite3_context *ctx)
{
    const bulk_t *b = rows;
    size_t r = b->sel ? b->sel[i] : i;
    sqlite3_result_int64(ctx, col == 0 ? (int64_t)r : b->recs[r].rec.id);
}

/* Which records are still pending, with their key's carry. */
static mtr_err_t read_records(mtr_ledger_t *l, bulk_t *b, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_SETTLE_RECORDS, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    l->feed = (ledger_feed_t){b, b->n_recs, col_bulk_rec};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bulk_rec_t *r = &b->recs[sqlite3_column_int64(st, 0)];
        r->pending = true;
        r->key_id = sqlite3_column_int64(st, 1);
        r->rec.quantity_micro = sqlite3_column_int64(st, 2);
        r->rec.moved_in = sqlite3_column_int64(st, 3);
        r->rec.rounding = (mtr_rounding_t)sqlite3_column_int(st, 4);
        r->carry = sqlite3_column_int64(st, 5);
    }
    sqlite3_reset(st);
    l->feed = (ledger_feed_t){0};
    return rc == SQLITE_DONE ? MTR_OK
                             : ledger_db_err(l, errstr, errstr_size, "reading a close's records");
}

/* What other closes contributed to the pending records. */
static mtr_err_t read_others(mtr_ledger_t *l, int64_t close_id, bulk_t *b, char *errstr,
                             size_t errstr_size)
{
    b->sel = mtr_malloc((b->n_recs ? b->n_recs : 1) * sizeof *b->sel);
    for (size_t i = 0; i < b->n_recs; i++)
        if (b->recs[i].pending)
            b->sel[b->n_sel++] = i;
    if (b->n_sel == 0)
        return MTR_OK;
    sqlite3_stmt *st = ledger_stmt(l, LS_SETTLE_OTHERS, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    l->feed = (ledger_feed_t){b, b->n_sel, col_bulk_rec};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        bulk_row_push(b, (size_t)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
                      sqlite3_column_int64(st, 2),
                      sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 3));
    sqlite3_reset(st);
    l->feed = (ledger_feed_t){0};
    return rc == SQLITE_DONE ? MTR_OK
                             : ledger_db_err(l, errstr, errstr_size, "reading contributions");
}

/* Gathers each pending record's contributions into its shares and counts
 * the confirmed and unconfirmed ones. */
static mtr_err_t gather(bulk_t *b, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < b->n_rows; i++) {
        bulk_rec_t *r = &b->recs[b->rows[i].rec];
        if (!r->pending)
            continue;
        r->n_shares++;
        if (b->rows[i].state >= 0) {
            r->contributions++;
            r->unconfirmed += b->rows[i].state == LEDGER_PART_PENDING;
        }
    }
    size_t at = 0;
    for (size_t i = 0; i < b->n_recs; i++) {
        b->recs[i].first_share = at;
        at += b->recs[i].n_shares;
        b->recs[i].n_shares = 0;
    }
    b->shares = mtr_malloc((at ? at : 1) * sizeof *b->shares);
    for (size_t i = 0; i < b->n_rows; i++) {
        bulk_rec_t *r = &b->recs[b->rows[i].rec];
        if (r->pending)
            b->shares[r->first_share + r->n_shares++] =
                (tag_share_t){.tags = b->text + b->rows[i].tags, .micro = b->rows[i].micro};
    }
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; !err && i < b->n_recs; i++) {
        bulk_rec_t *r = &b->recs[i];
        if (!r->pending)
            continue;
        r->key_first =
            ledger_map_put(&b->by_key, ledger_hash_int(1, (uint64_t)r->key_id), i, rec_same_key, b);
        err = group_shares(b, r, errstr, errstr_size);
    }
    return err;
}

/* Settles the records in the order the per-record path would. The carry of
 * a key passes in memory from one of its records to the next (kept in the
 * key's first record) and is written once per key at the end. */
static mtr_err_t bulk_settle(mtr_ledger_t *l, bulk_t *b, char *errstr, size_t errstr_size)
{
    writes_t w = {0};
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; !err && i < b->n_recs; i++) {
        bulk_rec_t *r = &b->recs[i], *k = &b->recs[r->key_first];
        if (!r->pending || r->unconfirmed > 0)
            continue;
        if (r->contributions == 0 && r->rec.moved_in == 0) {
            err = ledger_record_delete(l, r->rec.id, errstr, errstr_size);
            continue;
        }
        err = ledger_decide(&r->rec, b->shares + r->first_share, r->n_shares, k->carry, &k->carry,
                            &w, errstr, errstr_size);
        k->carry_changed = true;
    }
    for (size_t i = 0; !err && i < b->n_recs; i++) {
        bulk_rec_t *r = &b->recs[i];
        if (r->pending && r->key_first == i && r->carry_changed)
            ledger_writes_carry(&w, r->key_id, r->carry);
    }
    if (!err)
        err = ledger_writes_flush(l, &w, errstr, errstr_size);
    ledger_writes_free(&w);
    return err;
}

mtr_err_t ledger_settle_close(mtr_ledger_t *l, int64_t close_id, char *errstr, size_t errstr_size)
{
    bulk_t b = {0};
    mtr_err_t err;
    if (!(err = read_parts(l, close_id, &b, errstr, errstr_size)) &&
        !(err = read_contributions(l, close_id, &b, errstr, errstr_size)) &&
        !(err = read_records(l, &b, errstr, errstr_size)) &&
        !(err = read_others(l, close_id, &b, errstr, errstr_size)) &&
        !(err = gather(&b, errstr, errstr_size)))
        err = bulk_settle(l, &b, errstr, errstr_size);
    bulk_free(&b);
    return err;
}
