/* ledger_feed: a table-valued function over a C array, so that one INSERT
 * or UPDATE ... FROM writes a whole close or confirmation instead of one
 * statement per row (DESIGN §7: close → sendable < 1 s for 100k records),
 * and the small hash map the close and the confirmation index their rows
 * with. The rows are whatever l->feed names while a statement runs. */
#include "emit/ledger_int.h"

#include <stdio.h>
#include <string.h>

#include "core/mem.h"

typedef struct feed_vtab {
    sqlite3_vtab base;
    mtr_ledger_t *l;
} feed_vtab_t;

typedef struct feed_cursor {
    sqlite3_vtab_cursor base;
    size_t i;
} feed_cursor_t;

static int feed_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9,"
                                      " c10, c11)");
    if (rc != SQLITE_OK)
        return rc;
    feed_vtab_t *v = sqlite3_malloc(sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->l = aux;
    *out = &v->base;
    return SQLITE_OK;
}

static int feed_disconnect(sqlite3_vtab *vtab)
{
    sqlite3_free(vtab);
    return SQLITE_OK;
}

/* A plain scan; no constraint is used, so the planner reads the feed once
 * as the outer loop and looks up the tables it joins by their keys. */
static int feed_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info)
{
    const feed_vtab_t *v = (const feed_vtab_t *)vtab;
    double rows = v->l->feed.n ? (double)v->l->feed.n : 1e5;
    info->estimatedRows = (sqlite3_int64)rows;
    info->estimatedCost = rows;
    return SQLITE_OK;
}

static int feed_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out)
{
    (void)vtab;
    feed_cursor_t *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int feed_close(sqlite3_vtab_cursor *cur)
{
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int feed_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                       sqlite3_value **argv)
{
    (void)idx_num;
    (void)idx_str;
    (void)argc;
    (void)argv;
    ((feed_cursor_t *)cur)->i = 0;
    return SQLITE_OK;
}

static int feed_next(sqlite3_vtab_cursor *cur)
{
    ((feed_cursor_t *)cur)->i++;
    return SQLITE_OK;
}

static int feed_eof(sqlite3_vtab_cursor *cur)
{
    const mtr_ledger_t *l = ((const feed_vtab_t *)cur->pVtab)->l;
    return ((const feed_cursor_t *)cur)->i >= l->feed.n;
}

static int feed_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    const mtr_ledger_t *l = ((const feed_vtab_t *)cur->pVtab)->l;
    l->feed.col(l->feed.rows, ((const feed_cursor_t *)cur)->i, col, ctx);
    return SQLITE_OK;
}

static int feed_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((const feed_cursor_t *)cur)->i;
    return SQLITE_OK;
}

static const sqlite3_module feed_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: never stored in the schema */
    .xConnect = feed_connect,
    .xBestIndex = feed_best_index,
    .xDisconnect = feed_disconnect,
    .xDestroy = feed_disconnect,
    .xOpen = feed_open,
    .xClose = feed_close,
    .xFilter = feed_filter,
    .xNext = feed_next,
    .xEof = feed_eof,
    .xColumn = feed_column,
    .xRowid = feed_rowid,
};

mtr_err_t ledger_feed_register(mtr_ledger_t *l, char *errstr, size_t errstr_size)
{
    if (sqlite3_create_module_v2(l->db, "ledger_feed", &feed_module, l, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "registering ledger_feed");
    return MTR_OK;
}

mtr_err_t ledger_feed_run(mtr_ledger_t *l, sqlite3_stmt *st, const void *rows, size_t n,
                          ledger_feed_col_fn col, char *errstr, size_t errstr_size,
                          const char *what)
{
    if (n == 0) {
        sqlite3_reset(st);
        return MTR_OK;
    }
    l->feed = (ledger_feed_t){rows, n, col};
    mtr_err_t err = ledger_step_done(l, st, errstr, errstr_size, what);
    l->feed = (ledger_feed_t){0};
    return err;
}

/* ---- the map ---- */

uint64_t ledger_hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull; /* FNV-1a */
    return ledger_hash_mix(h, 0xFF);
}

size_t ledger_map_put(ledger_map_t *m, uint64_t hash, size_t item, ledger_map_eq eq,
                      const void *ctx)
{
    if (!m->slots || (m->used + 1) * 2 > m->mask + 1) {
        size_t cap = m->slots ? (m->mask + 1) * 2 : 1024;
        struct ledger_map_slot *old = m->slots;
        size_t old_cap = m->slots ? m->mask + 1 : 0;
        m->slots = mtr_calloc(cap, sizeof *m->slots);
        m->mask = cap - 1;
        for (size_t i = 0; i < old_cap; i++) {
            if (!old[i].item)
                continue;
            size_t at = (size_t)old[i].hash & m->mask;
            while (m->slots[at].item)
                at = (at + 1) & m->mask;
            m->slots[at] = old[i];
        }
        mtr_free(old);
    }
    size_t at = (size_t)hash & m->mask;
    for (; m->slots[at].item; at = (at + 1) & m->mask)
        if (m->slots[at].hash == hash && eq(ctx, m->slots[at].item - 1, item))
            return m->slots[at].item - 1;
    m->slots[at] = (struct ledger_map_slot){hash, item + 1};
    m->used++;
    return item;
}

void ledger_map_free(ledger_map_t *m)
{
    mtr_free(m->slots);
    *m = (ledger_map_t){0};
}
