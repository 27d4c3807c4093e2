/* Placing the contributions of a close into records, set-based: the close's
 * distinct keys and (key, hour) records are found with one query each over
 * ledger_feed, where each contribution goes is decided in memory (the rule
 * of ledger.h: only pending_commit records take additions, later ones move
 * to the next hour), and the new records, the added usage and the
 * contributions are written with one statement each. Row ids are given in
 * the order the contributions are placed, as one insert at a time would. */
#include "ledger/ledger_int.h"

#include <string.h>

#include "core/mem.h"
#include "core/quantity.h"

/* A record added to after it was sent moves at most this many hours on. */
#define MAX_HOPS (24 * 366)

typedef struct pkey {
    const mtr_ledger_key_t *key; /* of the first contribution with it */
    int64_t id;                  /* interned id; 0 while unknown */
    bool is_new;                 /* interned by this close: no records yet */
} pkey_t;

/* A record the close may write to: (key, hour). */
typedef struct prec {
    size_t key; /* index into keys */
    int64_t hour_ms;
    int64_t id; /* 0: absent */
    mtr_ledger_status_t status;
    int64_t micro;
    mtr_rounding_t rounding;
    mtr_aggregation_t aggregation;
    bool is_new;    /* created by this close */
    bool dirty;     /* an existing pending record that got usage */
    bool recombine; /* max or latest: usage recomputed from contributions */
} prec_t;

typedef struct place {
    mtr_ledger_t *l;
    const mtr_ledger_close_t *close;
    const char *const *tags;
    size_t *key_of, *rec_of; /* per contribution */
    int64_t *record_of, *intended_of;
    pkey_t *keys;
    size_t n_keys;
    prec_t *recs;
    size_t n_recs, cap_recs;
    ledger_map_t key_map, rec_map;
    size_t *sel; /* the rows a feed shows (indexes; capacity cap_recs) */
    size_t n_sel;
    enum { FEED_FIND, FEED_INSERT, FEED_UPDATE } mode; /* of the running feed */
    int64_t next_key_id, next_rec_id, first_contrib_id;
} place_t;

static size_t row_at(const place_t *p, size_t i)
{
    return p->sel[i];
}

static uint64_t key_hash(const mtr_ledger_key_t *k)
{
    uint64_t h = ledger_hash_int(0, (uint64_t)(k->scope_kind * 2 + (int)k->customer_kind));
    h = ledger_hash_str(h, k->scope);
    h = ledger_hash_str(h, k->customer);
    return ledger_hash_str(h, k->dimension);
}

static bool key_eq(const void *ctx, size_t a, size_t b)
{
    const place_t *p = ctx;
    const mtr_ledger_key_t *x = p->keys[a].key, *y = p->keys[b].key;
    return x->scope_kind == y->scope_kind && x->customer_kind == y->customer_kind &&
           !strcmp(x->customer, y->customer) && !strcmp(x->dimension, y->dimension) &&
           !strcmp(x->scope, y->scope);
}

static bool rec_eq(const void *ctx, size_t a, size_t b)
{
    const place_t *p = ctx;
    return p->recs[a].key == p->recs[b].key && p->recs[a].hour_ms == p->recs[b].hour_ms;
}

/* The record (key, hour), added as absent when the close has not seen it;
 * *added says so. */
static size_t rec_put(place_t *p, size_t key, int64_t hour_ms, bool *added)
{
    if (p->n_recs == p->cap_recs) {
        p->cap_recs = p->cap_recs ? p->cap_recs * 2 : 1024;
        p->recs = mtr_realloc(p->recs, p->cap_recs * sizeof *p->recs);
        /* sel never lists more than every record or every key. */
        p->sel = mtr_realloc(p->sel, p->cap_recs * sizeof *p->sel);
    }
    size_t i = p->n_recs;
    p->recs[i] = (prec_t){.key = key, .hour_ms = hour_ms};
    uint64_t h = ledger_hash_int(ledger_hash_int(0, key), (uint64_t)hour_ms);
    size_t at = ledger_map_put(&p->rec_map, h, i, rec_eq, p);
    *added = at == i;
    if (*added)
        p->n_recs++;
    return at;
}

/* ---- feed columns ---- */

static void result_key(const mtr_ledger_key_t *k, int col, sqlite3_context *ctx)
{
    switch (col) {
    case 1:
        sqlite3_result_int(ctx, (int)k->scope_kind);
        break;
    case 2:
        sqlite3_result_text(ctx, k->scope, -1, SQLITE_STATIC);
        break;
    case 3:
        sqlite3_result_int(ctx, (int)k->customer_kind);
        break;
    case 4:
        sqlite3_result_text(ctx, k->customer, -1, SQLITE_STATIC);
        break;
    case 5:
        sqlite3_result_text(ctx, k->dimension, -1, SQLITE_STATIC);
        break;
    default:
        sqlite3_result_null(ctx);
    }
}

/* c0: index (look-up) or id (insert), c1..c5: the key. */
static void col_key(const void *rows, size_t i, int col, sqlite3_context *ctx)
{
    const place_t *p = rows;
    size_t k = row_at(p, i);
    if (col == 0)
        sqlite3_result_int64(ctx, p->mode == FEED_FIND ? (int64_t)k : p->keys[k].id);
    else
        result_key(p->keys[k].key, col, ctx);
}

/* Look-up: c0 index, c1 key id, c2 hour. Insert: c0 id, c1..c5 the key,
 * c6 key id, c7 hour, c8 usage, c9 rounding, c10 aggregation. Update: c0
 * id, c1 usage, c2 rounding, c3 aggregation. Recombine: c0 id. */
static void col_rec(const void *rows, size_t i, int col, sqlite3_context *ctx)
{
    const place_t *p = rows;
    size_t r = row_at(p, i);
    const prec_t *x = &p->recs[r];
    const pkey_t *k = &p->keys[x->key];
    if (p->mode == FEED_FIND) {
        int64_t v[] = {(int64_t)r, k->id, x->hour_ms};
        sqlite3_result_int64(ctx, v[col < 3 ? col : 0]);
        return;
    }
    if (p->mode == FEED_UPDATE) {
        int64_t v[] = {x->id, x->micro, (int64_t)x->rounding, (int64_t)x->aggregation};
        sqlite3_result_int64(ctx, v[col < 4 ? col : 0]);
        return;
    }
    switch (col) {
    case 0:
        sqlite3_result_int64(ctx, x->id);
        break;
    case 6:
        sqlite3_result_int64(ctx, k->id);
        break;
    case 7:
        sqlite3_result_int64(ctx, x->hour_ms);
        break;
    case 8:
        sqlite3_result_int64(ctx, x->micro);
        break;
    case 9:
        sqlite3_result_int(ctx, (int)x->rounding);
        break;
    case 10:
        sqlite3_result_int(ctx, (int)x->aggregation);
        break;
    default:
        result_key(k->key, col, ctx);
    }
}

/* c0 id, c1 record, c2 topic, c3 partition, c4 tags, c5 usage, c6 the
 * record it was meant for (0: the same), c7 aggregation, c8 event time. */
static void col_contrib(const void *rows, size_t i, int col, sqlite3_context *ctx)
{
    const place_t *p = rows;
    const mtr_ledger_contribution_t *c = &p->close->contributions[i];
    switch (col) {
    case 2:
        sqlite3_result_text(ctx, c->topic, -1, SQLITE_STATIC);
        return;
    case 4:
        sqlite3_result_text(ctx, p->tags[i], -1, SQLITE_STATIC);
        return;
    }
    int64_t v[] = {p->first_contrib_id + (int64_t)i,
                   p->record_of[i],
                   0,
                   c->partition,
                   0,
                   c->quantity_micro,
                   p->intended_of[i],
                   c->correction ? LEDGER_AGG_CORRECTION : (int64_t)c->aggregation,
                   c->time_ms};
    sqlite3_result_int64(ctx, v[col < 9 ? col : 0]);
}

/* ---- steps ---- */

static mtr_err_t read_max_ids(place_t *p, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(p->l, LS_MAX_IDS, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        p->next_key_id = sqlite3_column_int64(st, 0) + 1;
        p->next_rec_id = sqlite3_column_int64(st, 1) + 1;
        p->first_contrib_id = sqlite3_column_int64(st, 2) + 1;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? MTR_OK : ledger_db_err(p->l, errstr, errstr_size, "reading ids");
}

/* Finds the close's distinct keys, their ids, and interns the new ones. */
static mtr_err_t intern_keys(place_t *p, char *errstr, size_t errstr_size)
{
    const mtr_ledger_close_t *c = p->close;
    for (size_t i = 0; i < c->n_contributions; i++) {
        p->keys[p->n_keys] = (pkey_t){.key = &c->contributions[i].key};
        size_t k =
            ledger_map_put(&p->key_map, key_hash(&c->contributions[i].key), p->n_keys, key_eq, p);
        if (k == p->n_keys)
            p->sel[p->n_keys++] = k;
        p->key_of[i] = k;
    }
    sqlite3_stmt *st = ledger_stmt(p->l, LS_KEYS_OF_FEED, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    p->mode = FEED_FIND;
    p->l->feed = (ledger_feed_t){p, p->n_keys, col_key}; /* sel: every key */
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        p->keys[sqlite3_column_int64(st, 0)].id = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    p->l->feed = (ledger_feed_t){0};
    if (rc != SQLITE_DONE)
        return ledger_db_err(p->l, errstr, errstr_size, "reading keys");
    p->n_sel = 0;
    for (size_t k = 0; k < p->n_keys; k++)
        if (!p->keys[k].id) {
            p->keys[k].id = p->next_key_id++;
            p->keys[k].is_new = true;
            p->sel[p->n_sel++] = k;
        }
    if (!(st = ledger_stmt(p->l, LS_KEYS_INSERT_FEED, errstr, errstr_size)))
        return MTR_ERR_DB;
    p->mode = FEED_INSERT;
    return ledger_feed_run(p->l, st, p, p->n_sel, col_key, errstr, errstr_size, "writing keys");
}

/* The records the contributions name, read where their key is not new. */
static mtr_err_t find_records(place_t *p, char *errstr, size_t errstr_size)
{
    const mtr_ledger_close_t *c = p->close;
    p->n_sel = 0;
    for (size_t i = 0; i < c->n_contributions; i++) {
        bool added;
        p->rec_of[i] = rec_put(p, p->key_of[i], c->contributions[i].hour_ms, &added);
        if (added && !p->keys[p->key_of[i]].is_new)
            p->sel[p->n_sel++] = p->rec_of[i];
    }
    if (p->n_sel == 0)
        return MTR_OK;
    sqlite3_stmt *st = ledger_stmt(p->l, LS_REC_FIND_FEED, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    p->mode = FEED_FIND;
    p->l->feed = (ledger_feed_t){p, p->n_sel, col_rec};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        prec_t *x = &p->recs[sqlite3_column_int64(st, 0)];
        x->id = sqlite3_column_int64(st, 1);
        x->status = (mtr_ledger_status_t)sqlite3_column_int(st, 2);
        x->micro = sqlite3_column_int64(st, 3);
    }
    sqlite3_reset(st);
    p->l->feed = (ledger_feed_t){0};
    return rc == SQLITE_DONE ? MTR_OK : ledger_db_err(p->l, errstr, errstr_size, "reading records");
}

/* The record after r's hour, read from the ledger the first time. */
static mtr_err_t next_hour(place_t *p, size_t *r, char *errstr, size_t errstr_size)
{
    size_t key = p->recs[*r].key;
    bool added;
    *r = rec_put(p, key, p->recs[*r].hour_ms + MTR_MS_PER_HOUR, &added);
    if (!added || p->keys[key].is_new)
        return MTR_OK;
    ledger_rec_t rec;
    bool found;
    mtr_err_t err = ledger_rec_find(p->l, p->keys[key].id, p->recs[*r].hour_ms, &rec, &found,
                                    errstr, errstr_size);
    if (!err && found) {
        p->recs[*r].id = rec.id;
        p->recs[*r].status = rec.status;
        p->recs[*r].micro = rec.quantity_micro;
    }
    return err;
}

/* Decides each contribution's record in close order, creating records as
 * needed; new records are listed in p->sel in the order of their ids. */
static mtr_err_t assign(place_t *p, char *errstr, size_t errstr_size)
{
    const mtr_ledger_close_t *close = p->close;
    p->n_sel = 0;
    for (size_t i = 0; i < close->n_contributions; i++) {
        const mtr_ledger_contribution_t *c = &close->contributions[i];
        size_t r = p->rec_of[i];
        int64_t intended = 0;
        for (int hops = 0;; hops++) {
            if (hops > MAX_HOPS)
                return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                                   "ledger close: no unsent hour within a year after %lld for "
                                   "customer %s dimension %s",
                                   (long long)c->hour_ms, c->key.customer, c->key.dimension);
            prec_t *x = &p->recs[r];
            bool sums = c->correction || !ledger_combines_in_sql(c->aggregation);
            if (!x->id) {
                *x = (prec_t){.key = x->key,
                              .hour_ms = x->hour_ms,
                              .id = p->next_rec_id++,
                              .status = MTR_LEDGER_PENDING_COMMIT,
                              .micro = c->quantity_micro,
                              .rounding = c->rounding,
                              .aggregation = c->aggregation,
                              .is_new = true,
                              .recombine = !sums};
                p->sel[p->n_sel++] = r;
                break;
            }
            if (x->status == MTR_LEDGER_PENDING_COMMIT) {
                if (sums && !mtr_quantity_add(x->micro, c->quantity_micro, &x->micro))
                    return mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                                       "ledger close: usage of customer %s dimension %s overflows",
                                       c->key.customer, c->key.dimension);
                /* The newest contribution's rules win, as for a new record;
                 * a correction only adds units. */
                if (!c->correction) {
                    x->rounding = c->rounding;
                    x->aggregation = c->aggregation;
                }
                x->recombine = x->recombine || !sums;
                x->dirty = !x->is_new;
                break;
            }
            if (!intended)
                intended = x->id;
            mtr_err_t err = next_hour(p, &r, errstr, errstr_size);
            if (err)
                return err;
        }
        p->record_of[i] = p->recs[r].id;
        p->intended_of[i] = intended;
    }
    return MTR_OK;
}

static mtr_err_t write_provenance(place_t *p, int64_t now, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < p->close->n_contributions; i++) {
        if (!p->intended_of[i])
            continue;
        sqlite3_stmt *st = ledger_stmt(p->l, LS_PROV_INSERT, errstr, errstr_size);
        if (!st)
            return MTR_ERR_DB;
        sqlite3_bind_int64(st, 1, p->intended_of[i]);
        sqlite3_bind_int64(st, 2, p->record_of[i]);
        sqlite3_bind_int64(st, 3, p->close->contributions[i].quantity_micro);
        sqlite3_bind_int64(st, 4, -1);
        sqlite3_bind_text(st, 5, "added_after_send", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, p->first_contrib_id + (int64_t)i);
        sqlite3_bind_int64(st, 7, now);
        mtr_err_t err = ledger_step_done(p->l, st, errstr, errstr_size, "writing provenance");
        if (err)
            return err;
    }
    return MTR_OK;
}

/* Max and latest records: their usage from all their contributions, now
 * that this close's are written (ledger.h, Combining). */
static mtr_err_t recombine(place_t *p, int64_t now, char *errstr, size_t errstr_size)
{
    p->n_sel = 0;
    for (size_t r = 0; r < p->n_recs; r++)
        if (p->recs[r].recombine)
            p->sel[p->n_sel++] = r;
    if (p->n_sel == 0)
        return MTR_OK;
    sqlite3_stmt *st = ledger_stmt(p->l, LS_REC_RECOMBINE_FEED, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, now);
    p->mode = FEED_UPDATE; /* c0 is the record id */
    return ledger_feed_run(p->l, st, p, p->n_sel, col_rec, errstr, errstr_size,
                           "combining max and latest usage");
}

static mtr_err_t write_all(place_t *p, int64_t close_id, int64_t now, char *errstr,
                           size_t errstr_size)
{
    mtr_ledger_t *l = p->l;
    sqlite3_stmt *st = ledger_stmt(l, LS_REC_INSERT_FEED, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, now);
    p->mode = FEED_INSERT;
    mtr_err_t err =
        ledger_feed_run(l, st, p, p->n_sel, col_rec, errstr, errstr_size, "creating records");
    if (err)
        return err;
    p->n_sel = 0;
    for (size_t r = 0; r < p->n_recs; r++)
        if (p->recs[r].dirty)
            p->sel[p->n_sel++] = r;
    if (!(st = ledger_stmt(l, LS_REC_SET_MICRO_FEED, errstr, errstr_size)))
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, now);
    p->mode = FEED_UPDATE;
    if ((err = ledger_feed_run(l, st, p, p->n_sel, col_rec, errstr, errstr_size, "adding usage")))
        return err;
    if (!(st = ledger_stmt(l, LS_CONTRIB_INSERT_FEED, errstr, errstr_size)))
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    /* Contributions are fed in close order, so their ids follow it. */
    err = ledger_feed_run(l, st, p, p->close->n_contributions, col_contrib, errstr, errstr_size,
                          "writing contributions");
    if (err || (err = recombine(p, now, errstr, errstr_size)))
        return err;
    return write_provenance(p, now, errstr, errstr_size);
}

mtr_err_t ledger_place(mtr_ledger_t *l, int64_t close_id, const mtr_ledger_close_t *close,
                       const char *const *tags, int64_t now, char *errstr, size_t errstr_size)
{
    size_t n = close->n_contributions;
    if (n == 0)
        return MTR_OK;
    place_t p = {.l = l, .close = close, .tags = tags};
    p.key_of = mtr_malloc(n * sizeof *p.key_of);
    p.rec_of = mtr_malloc(n * sizeof *p.rec_of);
    p.record_of = mtr_malloc(n * sizeof *p.record_of);
    p.intended_of = mtr_malloc(n * sizeof *p.intended_of);
    p.keys = mtr_malloc(n * sizeof *p.keys);
    p.cap_recs = n;
    p.recs = mtr_malloc(p.cap_recs * sizeof *p.recs);
    p.sel = mtr_malloc(p.cap_recs * sizeof *p.sel);
    mtr_err_t err;
    if (!(err = read_max_ids(&p, errstr, errstr_size)) &&
        !(err = intern_keys(&p, errstr, errstr_size)) &&
        !(err = find_records(&p, errstr, errstr_size)) && !(err = assign(&p, errstr, errstr_size)))
        err = write_all(&p, close_id, now, errstr, errstr_size);
    ledger_map_free(&p.key_map);
    ledger_map_free(&p.rec_map);
    mtr_free(p.key_of);
    mtr_free(p.rec_of);
    mtr_free(p.record_of);
    mtr_free(p.intended_of);
    mtr_free(p.keys);
    mtr_free(p.recs);
    mtr_free(p.sel);
    return err;
}
