/* ledger_feed: a table-valued function over a C array, so that one INSERT
 * or UPDATE ... FROM writes a whole close or confirmation instead of one
 * statement per row (DESIGN §7: close → sendable < 1 s for 100k records).
 * The rows are whatever l->feed names while a statement runs. */
#include "ledger/ledger_int.h"

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
