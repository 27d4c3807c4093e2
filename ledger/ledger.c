/* The ledger file: opening it (mode 0600, WAL, synchronous=FULL,
 * busy_timeout), the schema and its migrations, and the names of record
 * statuses. The statements it runs are ledger_db.c. */
#include "ledger/ledger_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/tagset.h"

/* Migrations: entry i takes the schema from version i to i + 1. New
 * versions append an entry; existing ones are never edited. */
static const char *const migrations[MTR_LEDGER_SCHEMA_VERSION] = {
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "INSERT INTO schema_version VALUES(0);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    /* Each (scope, customer, dimension) once; records and carries refer to
     * it by id. */
    "CREATE TABLE keys("
    " id INTEGER PRIMARY KEY,"
    " scope_kind INTEGER NOT NULL, scope TEXT NOT NULL,"
    " customer_kind INTEGER NOT NULL, customer TEXT NOT NULL, dimension TEXT NOT NULL,"
    " UNIQUE(scope_kind, scope, customer_kind, customer, dimension));"
    /* The key's strings are repeated in records so readers (and sqlite3)
     * need no join. */
    "CREATE TABLE records("
    " id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL,"
    " scope_kind INTEGER NOT NULL, scope TEXT NOT NULL,"
    " customer_kind INTEGER NOT NULL, customer TEXT NOT NULL,"
    " dimension TEXT NOT NULL, hour_ms INTEGER NOT NULL,"
    " quantity_micro INTEGER NOT NULL DEFAULT 0,"
    " aws_quantity INTEGER NOT NULL DEFAULT -1,"
    " moved_in INTEGER NOT NULL DEFAULT 0,"
    " rounding INTEGER NOT NULL, status INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " metering_record_id TEXT, last_error TEXT,"
    " moved_to INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " UNIQUE(key_id, hour_ms));"
    /* Only sendable and in_flight records: a close's new pending records
     * never touch it. */
    "CREATE INDEX records_unsent ON records(status, hour_ms) WHERE " LEDGER_UNSENT ";"
    "CREATE TABLE closes(id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL);"
    "CREATE TABLE close_parts("
    " close_id INTEGER NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL,"
    " commit_offset INTEGER NOT NULL, close_log_tail TEXT,"
    " state INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(close_id, topic, part));"
    "CREATE INDEX close_parts_partition ON close_parts(topic, part, state);"
    "CREATE TABLE close_log("
    " topic TEXT NOT NULL, part INTEGER NOT NULL, hour_ms INTEGER NOT NULL,"
    " close_offset INTEGER NOT NULL, close_id INTEGER NOT NULL,"
    " PRIMARY KEY(topic, part, hour_ms));"
    "CREATE TABLE checkpoints("
    " topic TEXT NOT NULL, part INTEGER NOT NULL, commit_offset INTEGER NOT NULL,"
    " close_log_tail TEXT, source TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(topic, part));"
    "CREATE TABLE contributions("
    " id INTEGER PRIMARY KEY, record_id INTEGER NOT NULL, close_id INTEGER NOT NULL,"
    " topic TEXT NOT NULL, part INTEGER NOT NULL, tags TEXT NOT NULL,"
    " quantity_micro INTEGER NOT NULL, intended_record_id INTEGER NOT NULL DEFAULT 0);"
    /* close_id lets a confirmation skip its own close's rows in the index. */
    "CREATE INDEX contributions_record ON contributions(record_id, close_id);"
    "CREATE INDEX contributions_part ON contributions(close_id, topic, part);"
    /* The rounding remainder a key's next record starts from: narrow rows,
     * rewritten for every key a confirmation decides. */
    "CREATE TABLE carries(key_id INTEGER PRIMARY KEY, carry_micro INTEGER NOT NULL);"
    "CREATE TABLE allocations("
    " record_id INTEGER NOT NULL, tags TEXT NOT NULL, quantity INTEGER NOT NULL,"
    " PRIMARY KEY(record_id, tags)) WITHOUT ROWID;"
    "CREATE TABLE provenance("
    " id INTEGER PRIMARY KEY, from_record INTEGER NOT NULL, to_record INTEGER NOT NULL,"
    " quantity_micro INTEGER NOT NULL, aws_quantity INTEGER NOT NULL, reason TEXT NOT NULL,"
    " contribution_id INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);"
    "CREATE INDEX provenance_from ON provenance(from_record);"
    "CREATE INDEX provenance_to ON provenance(to_record);"
    "CREATE INDEX provenance_contribution ON provenance(contribution_id);",
    /* 1 -> 2: max and latest combine across partitions. A contribution
     * keeps its aggregation and, for latest, the event time of its value;
     * a record keeps the aggregation it is combined by. */
    "ALTER TABLE contributions ADD COLUMN aggregation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE contributions ADD COLUMN event_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE records ADD COLUMN aggregation INTEGER NOT NULL DEFAULT 0;",
    /* 2 -> 3: corrections (ledger_audit.h). A run bills the positive
     * differences a replay found, each as a correction of its source hour,
     * through a close of its own; contributions of aggregation 4 are such
     * units. */
    "CREATE TABLE correction_runs(id INTEGER PRIMARY KEY, close_id INTEGER NOT NULL,"
    " description TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE corrections(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL,"
    " key_id INTEGER NOT NULL, source_hour_ms INTEGER NOT NULL,"
    " quantity_micro INTEGER NOT NULL, record_id INTEGER NOT NULL);"
    "CREATE INDEX corrections_key ON corrections(key_id, source_hour_ms);"
    "CREATE INDEX corrections_record ON corrections(record_id);",
};

static const char *const status_names[MTR_LEDGER_STATUS__COUNT] = {
    "pending_commit", "sendable",       "in_flight", "accepted",
    "duplicate",      "not_subscribed", "parked",    "stale_moved",
};

const char *mtr_ledger_status_name(mtr_ledger_status_t status)
{
    if ((int)status < 0 || status >= MTR_LEDGER_STATUS__COUNT)
        return "unknown";
    return status_names[status];
}

int mtr_ledger_status_parse(const char *name)
{
    for (int i = 0; i < MTR_LEDGER_STATUS__COUNT; i++)
        if (!strcmp(name, status_names[i]))
            return i;
    return -1;
}

const char *mtr_ledger_writer_id(const mtr_ledger_t *ledger)
{
    return ledger->writer_id;
}

/* ---- opening ---- */

static mtr_err_t schema_version(mtr_ledger_t *l, int *version, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    *version = 0;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT COUNT(*) FROM sqlite_master WHERE type='table'"
                           " AND name='schema_version'",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "reading the schema");
    int rc = sqlite3_step(st);
    int has = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return ledger_db_err(l, errstr, errstr_size, "reading the schema");
    if (!has)
        return MTR_OK;
    if (sqlite3_prepare_v2(l->db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL) !=
        SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "reading the schema version");
    if (sqlite3_step(st) == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return MTR_OK;
}

static mtr_err_t migrate(mtr_ledger_t *l, bool may_write, char *errstr, size_t errstr_size)
{
    int version;
    mtr_err_t err = schema_version(l, &version, errstr, errstr_size);
    if (err)
        return err;
    if (version > MTR_LEDGER_SCHEMA_VERSION)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                           "ledger %s: schema version %d was written by a newer meterd (this one "
                           "knows up to %d); upgrade meterd",
                           l->path, version, MTR_LEDGER_SCHEMA_VERSION);
    if (version == MTR_LEDGER_SCHEMA_VERSION)
        return MTR_OK;
    if (!may_write && version == 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                           "ledger %s: not a meterd ledger (no schema); check the path", l->path);
    if ((err = ledger_begin(l, errstr, errstr_size)))
        return err;
    /* Re-read inside the write lock: another process may have migrated. */
    if ((err = schema_version(l, &version, errstr, errstr_size)))
        goto fail;
    for (int v = version; v < MTR_LEDGER_SCHEMA_VERSION; v++) {
        if ((err = ledger_exec(l, migrations[v], errstr, errstr_size)))
            goto fail;
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE schema_version SET version=%d", v + 1);
        if ((err = ledger_exec(l, sql, errstr, errstr_size)))
            goto fail;
    }
    if (version == 0) {
        unsigned char rnd[8];
        sqlite3_randomness(sizeof rnd, rnd);
        char sql[128];
        snprintf(sql, sizeof sql,
                 "INSERT INTO meta VALUES('writer_id', '%02x%02x%02x%02x%02x%02x%02x%02x')", rnd[0],
                 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        if ((err = ledger_exec(l, sql, errstr, errstr_size)))
            goto fail;
    }
    if ((err = ledger_commit(l, errstr, errstr_size)))
        return err;
    if (version > 0)
        mtr_info("ledger", "%s: schema migrated from version %d to %d", l->path, version,
                 MTR_LEDGER_SCHEMA_VERSION);
    return MTR_OK;
fail:
    ledger_rollback(l);
    return err;
}

static mtr_err_t load_writer_id(mtr_ledger_t *l, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT value FROM meta WHERE key='writer_id'", -1, &st, NULL) !=
        SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "reading the writer id");
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(l->writer_id, sizeof l->writer_id, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return MTR_OK;
}

/* Creates the file with mode 0600 before SQLite sees it, so the ledger is
 * never readable by others, not even for a moment. */
static mtr_err_t create_private(const char *path, bool must_exist, char *errstr, size_t errstr_size)
{
    int fd = open(path, O_RDWR | (must_exist ? 0 : O_CREAT) | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == ENOENT && must_exist)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                               "ledger %s: no such file; check --ledger or ledger.path", path);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                           "ledger %s: cannot open: %s; check the path and its permissions", path,
                           strerror(errno));
    }
    close(fd);
    return MTR_OK;
}

mtr_err_t mtr_ledger_open(const char *path, const mtr_ledger_options_t *opts, mtr_ledger_t **out,
                          char *errstr, size_t errstr_size)
{
    static const mtr_ledger_options_t defaults = {0};
    if (!opts)
        opts = &defaults;
    *out = NULL;
    if (!path || !path[0])
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger: no path given; set ledger.path or --ledger");
    if (opts->max_record_age_ms != 0 && opts->max_record_age_ms < MTR_MS_PER_HOUR)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger: max_record_age %lld ms is below one hour; records of the "
                           "current hour would be folded forever",
                           (long long)opts->max_record_age_ms);
    mtr_err_t err = create_private(path, opts->must_exist, errstr, errstr_size);
    if (err)
        return err;

    mtr_ledger_t *l = mtr_calloc(1, sizeof *l);
    l->path = mtr_strdup(path);
    l->lock_fd = -1;
    if (opts->lock && (err = ledger_lock(l, errstr, errstr_size)))
        goto fail;
    l->clock = opts->clock ? opts->clock : mtr_clock_system();
    l->max_record_age_ms = opts->max_record_age_ms ? opts->max_record_age_ms : 6 * MTR_MS_PER_HOUR;
    /* No per-call mutex: a handle belongs to one thread at a time. */
    if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        err = ledger_db_err(l, errstr, errstr_size, "opening");
        goto fail;
    }
    sqlite3_extended_result_codes(l->db, 1);
    sqlite3_busy_timeout(l->db, opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000);
    /* WAL lets `meterd records` read while the daemon writes; FULL makes a
     * committed close survive power loss before the Kafka commit is sent. */
    if ((err = ledger_exec(l,
                           "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                           " PRAGMA foreign_keys=OFF; PRAGMA secure_delete=OFF;"
                           " PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
                           errstr, errstr_size)))
        goto fail;
    if ((err = ledger_feed_register(l, errstr, errstr_size)))
        goto fail;
    if ((err = migrate(l, !opts->must_exist, errstr, errstr_size)))
        goto fail;
    if ((err = load_writer_id(l, errstr, errstr_size)))
        goto fail;
    /* SQLite creates -wal and -shm with the database's mode; make sure. */
    chmod(path, 0600);
    *out = l;
    return MTR_OK;
fail:
    mtr_ledger_free(l);
    return err;
}

void mtr_ledger_free(mtr_ledger_t *ledger)
{
    if (!ledger)
        return;
    for (int i = 0; i < LS__COUNT; i++)
        sqlite3_finalize(ledger->stmts[i]);
    sqlite3_close_v2(ledger->db);
    /* Last, so that the next writer opens a file nobody writes. */
    if (ledger->lock_fd >= 0)
        close(ledger->lock_fd);
    mtr_free(ledger->path);
    mtr_free(ledger);
}
