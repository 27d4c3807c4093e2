/* The close history of a partition, and the comparison of what the ledger
 * counted with what a replay recomputed, per (key, source hour): the
 * ledger's confirmed contributions, the recomputed ones and earlier
 * corrections are gathered into one array, sorted by key and hour, and each
 * group's sides combined by its aggregation's rule (ledger.h, Combining;
 * corrections always add). */
#include "ledger/ledger_audit.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/quantity.h"
#include "core/strpool.h"
#include "ledger/ledger_int.h"

struct mtr_ledger_audit_pool {
    mtr_strpool_t strings;
};

mtr_err_t mtr_ledger_closed_hours(mtr_ledger_t *l, const char *topic, int32_t partition,
                                  mtr_ledger_closed_hour_t **out, size_t *n, char *errstr,
                                  size_t errstr_size)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT g.hour_ms, g.close_offset, p.commit_offset, p.close_log_tail"
                           " FROM close_log g JOIN close_parts p ON p.close_id=g.close_id"
                           " AND p.topic=g.topic AND p.part=g.part"
                           " WHERE g.topic=?1 AND g.part=?2 AND p.state=1 ORDER BY g.hour_ms",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing the close history");
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = mtr_realloc(*out, cap * sizeof **out);
        }
        const unsigned char *tail = sqlite3_column_text(st, 3);
        (*out)[(*n)++] = (mtr_ledger_closed_hour_t){
            .hour_ms = sqlite3_column_int64(st, 0),
            .close_offset = sqlite3_column_int64(st, 1),
            .commit_offset = sqlite3_column_int64(st, 2),
            .close_log_tail = tail ? mtr_strdup((const char *)tail) : NULL,
        };
    }
    mtr_err_t err = rc == SQLITE_DONE
                        ? MTR_OK
                        : ledger_db_err(l, errstr, errstr_size, "reading the close history");
    sqlite3_finalize(st);
    return err;
}

void mtr_ledger_closed_hours_free(mtr_ledger_closed_hour_t *hours, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mtr_free(hours[i].close_log_tail);
    mtr_free(hours);
}

/* The sides of a row. */
enum { BILLED, RECOMPUTED, CORRECTED, N_SIDES };

/* One contribution of a side. */
typedef struct side_item {
    mtr_ledger_key_t key;
    int64_t hour_ms;
    mtr_aggregation_t aggregation;
    int64_t micro, event_ms;
    int side;
    bool partial; /* from a partial partition */
} side_item_t;

typedef struct items {
    side_item_t *v;
    size_t n, cap;
} items_t;

static side_item_t *push(items_t *it)
{
    if (it->n == it->cap) {
        it->cap = it->cap ? it->cap * 2 : 1024;
        it->v = mtr_realloc(it->v, it->cap * sizeof *it->v);
    }
    return &it->v[it->n++];
}

/* Columns 0-4 of a row (scope kind, scope, customer kind, customer,
 * dimension) as a key whose strings live in pool. */
static const char *text_column(sqlite3_stmt *st, int col, mtr_strpool_t *pool)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return mtr_strpool_copy(pool, t ? t : "", (size_t)sqlite3_column_bytes(st, col));
}

static mtr_ledger_key_t key_columns(sqlite3_stmt *st, mtr_strpool_t *pool)
{
    return (mtr_ledger_key_t){(mtr_ledger_scope_kind_t)sqlite3_column_int(st, 0),
                              text_column(st, 1, pool),
                              (mtr_ledger_customer_kind_t)sqlite3_column_int(st, 2),
                              text_column(st, 3, pool), text_column(st, 4, pool)};
}

static mtr_err_t read_billed(mtr_ledger_t *l, const mtr_ledger_audit_part_t *part,
                             const char *customer, mtr_strpool_t *pool, items_t *it, char *errstr,
                             size_t errstr_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            l->db,
            "SELECT r.scope_kind, r.scope, r.customer_kind, r.customer, r.dimension,"
            " COALESCE(s.hour_ms, r.hour_ms) AS src_hour, c.aggregation, c.quantity_micro,"
            " c.event_ms FROM contributions c"
            " JOIN close_parts p ON p.close_id=c.close_id AND p.topic=c.topic AND p.part=c.part"
            " JOIN records r ON r.id=c.record_id"
            " LEFT JOIN records s ON c.intended_record_id<>0 AND s.id=c.intended_record_id"
            " WHERE p.state=1 AND c.topic=?1 AND c.part=?2 AND src_hour BETWEEN ?3 AND ?4"
            " AND (?5 IS NULL OR r.customer=?5)",
            -1, &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing the audit query");
    sqlite3_bind_text(st, 1, part->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, part->partition);
    sqlite3_bind_int64(st, 3, part->from_ms);
    sqlite3_bind_int64(st, 4, part->through_ms);
    if (customer)
        sqlite3_bind_text(st, 5, customer, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *push(it) = (side_item_t){
            .key = key_columns(st, pool),
            .partial = part->partial,
            .hour_ms = sqlite3_column_int64(st, 5),
            .aggregation = (mtr_aggregation_t)sqlite3_column_int(st, 6),
            .micro = sqlite3_column_int64(st, 7),
            .event_ms = sqlite3_column_int64(st, 8),
        };
    }
    mtr_err_t err = rc == SQLITE_DONE
                        ? MTR_OK
                        : ledger_db_err(l, errstr, errstr_size, "reading what was billed");
    sqlite3_finalize(st);
    return err;
}

/* Earlier corrections of the hours from_ms..to_ms. */
static mtr_err_t read_corrected(mtr_ledger_t *l, int64_t from_ms, int64_t to_ms,
                                const char *customer, mtr_strpool_t *pool, items_t *it,
                                char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT k.scope_kind, k.scope, k.customer_kind, k.customer, k.dimension,"
                           " c.source_hour_ms, c.quantity_micro FROM corrections c"
                           " JOIN keys k ON k.id=c.key_id WHERE c.source_hour_ms BETWEEN ?1 AND ?2"
                           " AND (?3 IS NULL OR k.customer=?3)",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing the corrections query");
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    if (customer)
        sqlite3_bind_text(st, 3, customer, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *push(it) = (side_item_t){
            .key = key_columns(st, pool),
            .hour_ms = sqlite3_column_int64(st, 5),
            .aggregation = MTR_AGG_SUM, /* corrections add */
            .micro = sqlite3_column_int64(st, 6),
            .side = CORRECTED,
        };
    }
    mtr_err_t err =
        rc == SQLITE_DONE ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "reading corrections");
    sqlite3_finalize(st);
    return err;
}

static int key_cmp(const mtr_ledger_key_t *a, int64_t ha, const mtr_ledger_key_t *b, int64_t hb)
{
    if (a->scope_kind != b->scope_kind)
        return a->scope_kind < b->scope_kind ? -1 : 1;
    int c = strcmp(a->scope, b->scope);
    if (!c && a->customer_kind != b->customer_kind)
        c = a->customer_kind < b->customer_kind ? -1 : 1;
    if (!c)
        c = strcmp(a->customer, b->customer);
    if (!c)
        c = strcmp(a->dimension, b->dimension);
    if (!c && ha != hb)
        c = ha < hb ? -1 : 1;
    return c;
}

static int item_cmp(const void *pa, const void *pb)
{
    const side_item_t *a = pa, *b = pb;
    return key_cmp(&a->key, a->hour_ms, &b->key, b->hour_ms);
}

/* A side's combined value: sum and count add, max keeps the largest,
 * latest the value of the latest event time (the larger at a tie). */
typedef struct combined {
    bool seen;
    mtr_aggregation_t aggregation;
    int64_t micro, event_ms;
    bool overflow;
} combined_t;

static void combine(combined_t *c, const side_item_t *x)
{
    if (!c->seen) {
        *c = (combined_t){true, x->aggregation, x->micro, x->event_ms, false};
        return;
    }
    switch (c->aggregation) {
    case MTR_AGG_MAX:
        if (x->micro > c->micro)
            c->micro = x->micro;
        break;
    case MTR_AGG_LATEST:
        if (x->event_ms > c->event_ms || (x->event_ms == c->event_ms && x->micro > c->micro)) {
            c->micro = x->micro;
            c->event_ms = x->event_ms;
        }
        break;
    default:
        if (!mtr_quantity_add(c->micro, x->micro, &c->micro))
            c->overflow = true;
        break;
    }
}

/* The compared part c comes from, or NULL when c is not compared. */
static const mtr_ledger_audit_part_t *part_of(const mtr_ledger_audit_request_t *req,
                                              const mtr_ledger_contribution_t *c)
{
    if (req->customer && strcmp(req->customer, c->key.customer))
        return NULL;
    for (size_t i = 0; i < req->n_parts; i++) {
        const mtr_ledger_audit_part_t *p = &req->parts[i];
        if (p->partition == c->partition && !strcmp(p->topic, c->topic))
            return c->hour_ms >= p->from_ms && c->hour_ms <= p->through_ms ? p : NULL;
    }
    return NULL;
}

mtr_err_t mtr_ledger_audit(mtr_ledger_t *l, const mtr_ledger_audit_request_t *req,
                           mtr_ledger_audit_t *out, char *errstr, size_t errstr_size)
{
    *out = (mtr_ledger_audit_t){.pool = mtr_calloc(1, sizeof *out->pool)};
    mtr_strpool_t *pool = &out->pool->strings;
    items_t it = {0};
    mtr_err_t err = MTR_OK;
    int64_t from_ms = INT64_MAX, through_ms = INT64_MIN;
    for (size_t i = 0; i < req->n_parts && !err; i++) {
        const mtr_ledger_audit_part_t *p = &req->parts[i];
        if (p->through_ms < p->from_ms)
            continue;
        err = read_billed(l, p, req->customer, pool, &it, errstr, errstr_size);
        from_ms = p->from_ms < from_ms ? p->from_ms : from_ms;
        through_ms = p->through_ms > through_ms ? p->through_ms : through_ms;
    }
    if (!err && from_ms <= through_ms)
        err = read_corrected(l, from_ms, through_ms, req->customer, pool, &it, errstr, errstr_size);
    for (size_t i = 0; i < req->n_recomputed && !err; i++) {
        const mtr_ledger_contribution_t *c = &req->recomputed[i];
        const mtr_ledger_audit_part_t *part = part_of(req, c);
        if (!part)
            continue;
        *push(&it) = (side_item_t){.key = c->key,
                                   .hour_ms = c->hour_ms,
                                   .aggregation = c->aggregation,
                                   .micro = c->quantity_micro,
                                   .event_ms = c->time_ms,
                                   .side = RECOMPUTED,
                                   .partial = part->partial};
    }
    if (!err && it.n)
        qsort(it.v, it.n, sizeof *it.v, item_cmp);
    size_t cap = 0;
    for (size_t i = 0; i < it.n && !err;) {
        combined_t side[N_SIDES] = {{0}};
        size_t j = i;
        bool partial = false;
        for (; j < it.n && !item_cmp(&it.v[i], &it.v[j]); j++) {
            combine(&side[it.v[j].side], &it.v[j]);
            partial |= it.v[j].partial;
        }
        if (!side[BILLED].seen && !side[RECOMPUTED].seen) {
            i = j; /* corrections of a key-hour outside the compared partitions */
            continue;
        }
        if (side[BILLED].overflow || side[RECOMPUTED].overflow || side[CORRECTED].overflow) {
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                              "audit: usage of customer %s dimension %s overflows",
                              it.v[i].key.customer, it.v[i].key.dimension);
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 256;
            out->rows = mtr_realloc(out->rows, cap * sizeof *out->rows);
        }
        const mtr_ledger_key_t *k = &it.v[i].key;
        mtr_ledger_audit_row_t *row = &out->rows[out->n++];
        *row = (mtr_ledger_audit_row_t){
            .key = {k->scope_kind, mtr_strpool_copy(pool, k->scope, strlen(k->scope)),
                    k->customer_kind, mtr_strpool_copy(pool, k->customer, strlen(k->customer)),
                    mtr_strpool_copy(pool, k->dimension, strlen(k->dimension))},
            .hour_ms = it.v[i].hour_ms,
            .aggregation =
                side[RECOMPUTED].seen ? side[RECOMPUTED].aggregation : side[BILLED].aggregation,
            .partial = partial,
            .billed_micro = side[BILLED].micro,
            .recomputed_micro = side[RECOMPUTED].micro,
            .corrected_micro = side[CORRECTED].micro,
        };
        int64_t counted;
        if (__builtin_add_overflow(row->billed_micro, row->corrected_micro, &counted) ||
            __builtin_sub_overflow(row->recomputed_micro, counted, &row->difference_micro))
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                              "audit: difference of customer %s overflows", k->customer);
        i = j;
    }
    mtr_free(it.v);
    if (err)
        mtr_ledger_audit_free(out);
    return err;
}

void mtr_ledger_audit_free(mtr_ledger_audit_t *a)
{
    if (a->pool) {
        mtr_strpool_free(&a->pool->strings);
        mtr_free(a->pool);
    }
    mtr_free(a->rows);
    *a = (mtr_ledger_audit_t){0};
}
