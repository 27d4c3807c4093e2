/* The ledger's SQL: every cached statement, prepared once per connection
 * on first use, and the helpers each ledger file runs them with
 * (transactions, errors that name the file, binding a key), plus the
 * canonical form of tag sets. Below every other ledger file. */
#include "ledger/ledger_int.h"

#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/tagset.h"

#define FEED_KEY                                                                                   \
    "k.scope_kind=f.c1 AND k.scope=f.c2 AND k.customer_kind=f.c3 AND k.customer=f.c4"              \
    " AND k.dimension=f.c5"
#define REC_SHORT  "id, status, quantity_micro, aws_quantity, moved_in, attempts, hour_ms"
#define PART_MATCH "close_id=?1 AND topic=?2 AND part=?3"
_Static_assert(MTR_AGG_MAX == 2 && MTR_AGG_LATEST == 3, "RECOMBINED names aggregations by number");
_Static_assert(LEDGER_AGG_CORRECTION == 4, "RECOMBINED names corrections by number");
/* A record's usage from its contributions, by its aggregation (core/config.h:
 * 2 max, 3 latest, else a sum), plus any correction units (aggregation 4).
 * Latest: the latest event time, then the larger value, so the order
 * partitions closed in does not matter. */
#define RECOMBINED                                                                                 \
    "COALESCE(CASE records.aggregation"                                                            \
    " WHEN 2 THEN (SELECT MAX(c.quantity_micro) FROM contributions c"                              \
    "  WHERE c.record_id=records.id AND c.aggregation<>4)"                                         \
    " WHEN 3 THEN (SELECT c.quantity_micro FROM contributions c WHERE c.record_id=records.id"      \
    "  AND c.aggregation<>4 ORDER BY c.event_ms DESC, c.quantity_micro DESC LIMIT 1)"              \
    " ELSE (SELECT SUM(c.quantity_micro) FROM contributions c WHERE c.record_id=records.id"        \
    "  AND c.aggregation<>4)"                                                                      \
    " END, 0) + (SELECT COALESCE(SUM(c.quantity_micro), 0) FROM contributions c"                   \
    "  WHERE c.record_id=records.id AND c.aggregation=4)"

static const char *const stmt_sql[LS__COUNT] = {
    [LS_BEGIN] = "BEGIN IMMEDIATE",
    [LS_COMMIT] = "COMMIT",
    [LS_ROLLBACK] = "ROLLBACK",
    [LS_MAX_IDS] = "SELECT (SELECT COALESCE(MAX(id), 0) FROM keys),"
                   " (SELECT COALESCE(MAX(id), 0) FROM records),"
                   " (SELECT COALESCE(MAX(id), 0) FROM contributions)",
    /* Feeds: c0 is the caller's row number, the other columns as named. */
    [LS_KEYS_OF_FEED] = "SELECT f.c0, k.id FROM ledger_feed f JOIN keys k ON " FEED_KEY,
    [LS_KEYS_INSERT_FEED] = "INSERT INTO keys(id, scope_kind, scope, customer_kind, customer,"
                            " dimension) SELECT c0, c1, c2, c3, c4, c5 FROM ledger_feed",
    [LS_REC_FIND] = "SELECT " REC_SHORT " FROM records WHERE key_id=?1 AND hour_ms=?2",
    [LS_REC_FIND_FEED] = "SELECT f.c0, r.id, r.status, r.quantity_micro FROM ledger_feed f"
                         " JOIN records r ON r.key_id=f.c1 AND r.hour_ms=f.c2",
    [LS_REC_KEY_ID] = "SELECT key_id FROM records WHERE id=?1",
    [LS_REC_GET] = "SELECT " LEDGER_RECORD_COLUMNS " FROM records WHERE id=?1",
    [LS_REC_INSERT] = "INSERT INTO records(scope_kind, scope, customer_kind, customer,"
                      " dimension, hour_ms, rounding, status, aws_quantity, created_ms,"
                      " updated_ms, quantity_micro, key_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                      " ?8, ?9, ?10, ?10, COALESCE(?11, 0), ?12)",
    /* New pending records of a close: id, key_id, the key, hour, usage,
     * rounding. */
    [LS_REC_INSERT_FEED] = "INSERT INTO records(id, key_id, scope_kind, scope, customer_kind,"
                           " customer, dimension, hour_ms, quantity_micro, rounding, status,"
                           " created_ms, updated_ms, aggregation) SELECT c0, c6, c1, c2, c3, c4,"
                           " c5, c7, c8, c9, 0, ?1, ?1, c10 FROM ledger_feed",
    [LS_REC_SET_MICRO] = "UPDATE records SET quantity_micro=?2, rounding=COALESCE(?3, rounding),"
                         " updated_ms=?4 WHERE id=?1",
    [LS_REC_SET_MICRO_FEED] = "UPDATE records SET quantity_micro=f.c1, rounding=f.c2,"
                              " aggregation=f.c3, updated_ms=?1 FROM ledger_feed f"
                              " WHERE records.id=f.c0",
    [LS_REC_RECOMBINE] = "UPDATE records SET quantity_micro=" RECOMBINED ", updated_ms=?2"
                         " WHERE id=?1",
    [LS_REC_RECOMBINE_FEED] = "UPDATE records SET quantity_micro=" RECOMBINED ", updated_ms=?1"
                              " FROM ledger_feed f WHERE records.id=f.c0",
    [LS_REC_DECIDE_FEED] = "UPDATE records SET aws_quantity=f.c1, status=f.c2, last_error=f.c3,"
                           " updated_ms=?1 FROM ledger_feed f WHERE records.id=f.c0",
    [LS_REC_DELETE] = "DELETE FROM records WHERE id=?1",
    [LS_REC_ADD_MOVED_IN] =
        "UPDATE records SET moved_in=moved_in+?2, aws_quantity=CASE WHEN aws_quantity<0"
        " THEN aws_quantity ELSE aws_quantity+?2 END, updated_ms=?3 WHERE id=?1",
    [LS_REC_SET_STALE] = "UPDATE records SET status=7, moved_to=?2, last_error=COALESCE(?3,"
                         " last_error), updated_ms=?4 WHERE id=?1",
    [LS_REC_STALE_CANDIDATES] = "SELECT id FROM records WHERE " LEDGER_UNSENT " AND status=1"
                                " AND attempts=0 AND hour_ms<?1 ORDER BY hour_ms, id",
    [LS_REC_NEXT_OPEN] = "SELECT id FROM records WHERE key_id=?1 AND hour_ms>=?2 AND"
                         " (status=0 OR (status=1 AND attempts=0)) ORDER BY hour_ms LIMIT 1",
    [LS_REC_TAKE] = "SELECT " LEDGER_RECORD_COLUMNS " FROM records WHERE " LEDGER_UNSENT
                    " AND status=1 AND hour_ms<=?1"
                    " ORDER BY scope_kind, scope, customer_kind, hour_ms, id LIMIT ?2",
    [LS_REC_MARK_IN_FLIGHT] = "UPDATE records SET status=2, attempts=attempts+1, updated_ms=?2"
                              " WHERE id=?1",
    [LS_REC_RESULT] = "UPDATE records SET status=?2, metering_record_id=COALESCE(?3,"
                      " metering_record_id), last_error=?4, updated_ms=?5 WHERE id=?1",
    [LS_REC_REQUEUE] =
        "UPDATE records SET status=1, updated_ms=?1 WHERE " LEDGER_UNSENT " AND status=2",
    [LS_REC_PENDING_UNCONFIRMED] =
        "SELECT COUNT(*), COALESCE(SUM(p.state=0), 0) FROM contributions c JOIN close_parts p"
        " ON p.close_id=c.close_id AND p.topic=c.topic AND p.part=c.part WHERE c.record_id=?1",
    [LS_CONTRIB_INSERT_FEED] = "INSERT INTO contributions(id, record_id, close_id, topic, part,"
                               " tags, quantity_micro, intended_record_id, aggregation, event_ms)"
                               " SELECT c0, c1, ?1, c2, c3, c4, c5, c6, c7, c8 FROM ledger_feed",
    [LS_CONTRIB_BY_TAGS] = "SELECT tags, SUM(quantity_micro) FROM contributions WHERE record_id=?1"
                           " GROUP BY tags ORDER BY tags",
    [LS_CONTRIB_OF_PART] = "SELECT record_id, quantity_micro FROM contributions WHERE " PART_MATCH,
    [LS_CONTRIB_DELETE_PART] = "DELETE FROM contributions WHERE " PART_MATCH,
    /* Settling a close: its contributions in the order it wrote them... */
    [LS_SETTLE_CONTRIBS] = "SELECT record_id, topic, part, tags, quantity_micro FROM contributions"
                           " WHERE close_id=?1 ORDER BY topic, part, id",
    /* ...their records (c0: the caller's index, c1: record id), pending
     * ones with their key's carry... */
    [LS_SETTLE_RECORDS] = "SELECT f.c0, r.key_id, r.quantity_micro, r.moved_in, r.rounding,"
                          " COALESCE(k.carry_micro, 0) FROM ledger_feed f"
                          " JOIN records r ON r.id=f.c1 LEFT JOIN carries k ON k.key_id=r.key_id"
                          " WHERE r.status=0",
    /* ...and what other closes contributed to them, with their parts' state. */
    [LS_SETTLE_OTHERS] =
        "SELECT f.c0, c.tags, c.quantity_micro, p.state FROM ledger_feed f"
        " JOIN contributions c ON c.record_id=f.c1 AND c.close_id<>?1"
        " LEFT JOIN close_parts p ON p.close_id=c.close_id AND p.topic=c.topic AND p.part=c.part",
    [LS_PROV_INSERT] =
        "INSERT INTO provenance(from_record, to_record, quantity_micro, aws_quantity,"
        " reason, contribution_id, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [LS_PROV_DELETE_PART] = "DELETE FROM provenance WHERE contribution_id IN (SELECT id FROM"
                            " contributions WHERE " PART_MATCH ")",
    [LS_ALLOC_ADD] =
        "INSERT INTO allocations(record_id, tags, quantity) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(record_id, tags) DO UPDATE SET quantity=quantity+excluded.quantity",
    [LS_ALLOC_ADD_FEED] =
        "INSERT INTO allocations(record_id, tags, quantity) SELECT c0, c1, c2 FROM ledger_feed"
        " WHERE true ON CONFLICT(record_id, tags) DO UPDATE SET "
        "quantity=quantity+excluded.quantity",
    [LS_ALLOC_GET] = "SELECT tags, quantity FROM allocations WHERE record_id=?1 ORDER BY tags",
    [LS_CARRY_GET] = "SELECT carry_micro FROM carries WHERE key_id=?1",
    [LS_CARRY_SET_FEED] = "INSERT INTO carries(key_id, carry_micro) SELECT c0, c1 FROM ledger_feed"
                          " WHERE true ON CONFLICT(key_id) DO UPDATE SET"
                          " carry_micro=excluded.carry_micro",
    [LS_CLOSE_INSERT] = "INSERT INTO closes(created_ms) VALUES(?1)",
    [LS_PART_INSERT] = "INSERT INTO close_parts(close_id, topic, part, commit_offset,"
                       " close_log_tail, state, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, 0, ?6)",
    [LS_PART_GET] =
        "SELECT commit_offset, close_log_tail, state FROM close_parts WHERE " PART_MATCH,
    [LS_PART_SET_STATE] = "UPDATE close_parts SET state=?4, updated_ms=?5 WHERE " PART_MATCH,
    [LS_PARTS_OF_CLOSE] = "SELECT topic, part, commit_offset, close_log_tail, state"
                          " FROM close_parts WHERE close_id=?1 ORDER BY topic, part",
    [LS_PARTS_PENDING] = "SELECT close_id, commit_offset FROM close_parts"
                         " WHERE topic=?1 AND part=?2 AND state=0 ORDER BY close_id",
    [LS_PART_MAX_PENDING] = "SELECT MAX(commit_offset), COUNT(*) FROM close_parts"
                            " WHERE topic=?1 AND part=?2 AND state=0",
    [LS_CLOSELOG_INSERT] = "INSERT INTO close_log(topic, part, hour_ms, close_offset, close_id)"
                           " VALUES(?1, ?2, ?3, ?4, ?5)",
    [LS_CLOSELOG_EXISTS] = "SELECT close_id FROM close_log WHERE topic=?1 AND part=?2"
                           " AND hour_ms=?3",
    [LS_CLOSELOG_OF_PART] =
        "SELECT hour_ms, close_offset FROM close_log WHERE " PART_MATCH " ORDER BY hour_ms",
    [LS_CLOSELOG_DELETE_PART] = "DELETE FROM close_log WHERE " PART_MATCH,
    [LS_CKPT_GET] = "SELECT commit_offset, close_log_tail FROM checkpoints WHERE topic=?1"
                    " AND part=?2",
    /* The WHERE makes "never backwards" a property of the table itself. */
    [LS_CKPT_SET] = "INSERT INTO checkpoints(topic, part, commit_offset, close_log_tail, source,"
                    " updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(topic, part) DO"
                    " UPDATE SET commit_offset=excluded.commit_offset,"
                    " close_log_tail=excluded.close_log_tail, source=excluded.source,"
                    " updated_ms=excluded.updated_ms"
                    " WHERE excluded.commit_offset >= checkpoints.commit_offset",
};

mtr_err_t ledger_db_err(mtr_ledger_t *l, char *errstr, size_t errstr_size, const char *what)
{
    return mtr_err_set(errstr, errstr_size, MTR_ERR_DB, "ledger %s: %s: %s", l->path, what,
                       sqlite3_errmsg(l->db));
}

sqlite3_stmt *ledger_stmt(mtr_ledger_t *l, ledger_stmt_id_t id, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = l->stmts[id];
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    if (sqlite3_prepare_v3(l->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
        ledger_db_err(l, errstr, errstr_size, "preparing a statement");
        return NULL;
    }
    l->stmts[id] = st;
    return st;
}

mtr_err_t ledger_step_done(mtr_ledger_t *l, sqlite3_stmt *st, char *errstr, size_t errstr_size,
                           const char *what)
{
    int rc = sqlite3_step(st);
    mtr_err_t err = MTR_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = ledger_db_err(l, errstr, errstr_size, what);
    sqlite3_reset(st);
    return err;
}

mtr_err_t ledger_exec(mtr_ledger_t *l, const char *sql, char *errstr, size_t errstr_size)
{
    char *msg = NULL;
    if (sqlite3_exec(l->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        mtr_err_t err = mtr_err_set(errstr, errstr_size, MTR_ERR_DB, "ledger %s: %s", l->path,
                                    msg ? msg : sqlite3_errmsg(l->db));
        sqlite3_free(msg);
        return err;
    }
    return MTR_OK;
}

mtr_err_t ledger_begin(mtr_ledger_t *l, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_BEGIN, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    return ledger_step_done(l, st, errstr, errstr_size, "starting a transaction");
}

mtr_err_t ledger_commit(mtr_ledger_t *l, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_COMMIT, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    mtr_err_t err = ledger_step_done(l, st, errstr, errstr_size, "committing");
    if (err)
        ledger_rollback(l);
    return err;
}

void ledger_rollback(mtr_ledger_t *l)
{
    if (sqlite3_get_autocommit(l->db))
        return;
    /* Statements still stepping would keep the transaction busy. */
    for (int i = 0; i < LS__COUNT; i++)
        if (l->stmts[i])
            sqlite3_reset(l->stmts[i]);
    char err[256];
    if (ledger_exec(l, "ROLLBACK", err, sizeof err) != MTR_OK)
        mtr_error("ledger", "%s", err);
}

void ledger_bind_key(sqlite3_stmt *st, int first, const mtr_ledger_key_t *key)
{
    sqlite3_bind_int(st, first, (int)key->scope_kind);
    sqlite3_bind_text(st, first + 1, key->scope, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, first + 2, (int)key->customer_kind);
    sqlite3_bind_text(st, first + 3, key->customer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 4, key->dimension, -1, SQLITE_STATIC);
}

/* ---- tag sets ---- */

bool ledger_tags_decode(const char *text, mtr_record_allocation_t *a)
{
    mtr_tag_view_t views[MTR_TAGSET_MAX_TAGS];
    int n = mtr_tagset_parse(text, strlen(text), views);
    a->n_tags = 0;
    if (n < 0 || n > MTR_RECORD_MAX_TAGS)
        return false;
    for (int i = 0; i < n; i++) {
        a->tags[i].key = mtr_strndup(views[i].key, views[i].key_len);
        a->tags[i].value = mtr_strndup(views[i].value, views[i].value_len);
    }
    a->n_tags = (size_t)n;
    return true;
}
