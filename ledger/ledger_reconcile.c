/* Reconciling a partition's unconfirmed closes with what Kafka holds (the
 * committed offset and the close log in its metadata) after a commit with an
 * unknown outcome: each close part is confirmed, rolled back, or, when the
 * evidence cannot decide, left alone with an error. The cases are listed in
 * ledger.h. */
#include "ledger/ledger_int.h"

#include <string.h>

#include "core/log.h"
#include "core/mem.h"

typedef enum verdict { V_CONFIRM, V_ROLL_BACK, V_UNDECIDED } verdict_t;

typedef struct part {
    int64_t close_id;
    int64_t commit_offset;
    mtr_ledger_kafka_close_t *entries; /* this part's close log */
    size_t n_entries;
    bool landed; /* case 1 */
    verdict_t verdict;
} part_t;

static mtr_err_t load_parts(mtr_ledger_t *l, const char *topic, int32_t partition, part_t **out,
                            size_t *n, char *errstr, size_t errstr_size)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = ledger_stmt(l, LS_PARTS_PENDING, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = mtr_realloc(*out, (*n + 1) * sizeof **out);
        (*out)[*n] = (part_t){.close_id = sqlite3_column_int64(st, 0),
                              .commit_offset = sqlite3_column_int64(st, 1)};
        (*n)++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ledger_db_err(l, errstr, errstr_size, "reading unconfirmed closes");
    for (size_t i = 0; i < *n; i++) {
        part_t *p = &(*out)[i];
        if (!(st = ledger_stmt(l, LS_CLOSELOG_OF_PART, errstr, errstr_size)))
            return MTR_ERR_DB;
        sqlite3_bind_int64(st, 1, p->close_id);
        sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, partition);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            p->entries = mtr_realloc(p->entries, (p->n_entries + 1) * sizeof *p->entries);
            p->entries[p->n_entries++] =
                (mtr_ledger_kafka_close_t){.hour_ms = sqlite3_column_int64(st, 0),
                                           .close_offset = sqlite3_column_int64(st, 1)};
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return ledger_db_err(l, errstr, errstr_size, "reading the close log");
    }
    return MTR_OK;
}

static const mtr_ledger_kafka_close_t *kafka_entry(const mtr_ledger_kafka_state_t *k,
                                                   int64_t hour_ms)
{
    for (size_t i = 0; i < k->n_close_log; i++)
        if (k->close_log[i].hour_ms == hour_ms)
            return &k->close_log[i];
    return NULL;
}

/* Cases 1-4 of ledger.h for one part, ignoring the parts around it. */
static verdict_t judge(const mtr_ledger_t *l, const part_t *p, const mtr_ledger_kafka_state_t *k,
                       bool *landed)
{
    *landed = false;
    if (p->n_entries == 0)
        return k->committed_offset >= p->commit_offset ? V_CONFIRM : V_ROLL_BACK;
    size_t matched = 0;
    bool conflict = false;
    int64_t oldest = p->entries[0].hour_ms;
    for (size_t i = 0; i < p->n_entries; i++) {
        const mtr_ledger_kafka_close_t *e = kafka_entry(k, p->entries[i].hour_ms);
        if (p->entries[i].hour_ms < oldest)
            oldest = p->entries[i].hour_ms;
        if (!e)
            continue;
        if (e->close_offset == p->entries[i].close_offset &&
            (!e->writer || !strcmp(e->writer, l->writer_id)))
            matched++;
        else
            conflict = true;
    }
    if (conflict)
        return V_ROLL_BACK;
    if (matched == p->n_entries) {
        *landed = true;
        return V_CONFIRM;
    }
    if (matched > 0)
        return V_UNDECIDED;
    bool covers = k->n_close_log == 0;
    for (size_t i = 0; i < k->n_close_log; i++)
        if (k->close_log[i].hour_ms <= oldest)
            covers = true;
    if (!covers)
        return V_UNDECIDED;
    return k->committed_offset < p->commit_offset ? V_ROLL_BACK : V_CONFIRM;
}

/* Max and latest records after a roll-back: their usage from what is
 * left (ledger.h, Combining); *removed grows by what that took away. */
static mtr_err_t recombine_left(mtr_ledger_t *l, const ledger_ids_t *recs, int64_t *removed,
                                char *errstr, size_t errstr_size)
{
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; !err && i < recs->n; i++) {
        mtr_ledger_record_t before, after;
        if ((err = ledger_record_load(l, recs->ids[i], &before, errstr, errstr_size)))
            break;
        sqlite3_stmt *st = ledger_stmt(l, LS_REC_RECOMBINE, errstr, errstr_size);
        if (!st)
            err = MTR_ERR_DB;
        if (!err) {
            sqlite3_bind_int64(st, 1, recs->ids[i]);
            sqlite3_bind_int64(st, 2, ledger_now(l));
            err = ledger_step_done(l, st, errstr, errstr_size, "combining what is left");
        }
        if (!err && !(err = ledger_record_load(l, recs->ids[i], &after, errstr, errstr_size))) {
            *removed += before.quantity_micro - after.quantity_micro;
            mtr_ledger_record_clear(&after);
        }
        mtr_ledger_record_clear(&before);
    }
    return err;
}

/* Removes one part's contributions (reducing their records), provenance and
 * close-log entries, and marks it rolled back. Sums lose the part's amount;
 * max and latest records are combined again from what is left. */
static mtr_err_t roll_back_part(mtr_ledger_t *l, int64_t close_id, const char *topic,
                                int32_t partition, int64_t *micro_removed, char *errstr,
                                size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_CONTRIB_OF_PART, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    ledger_ids_t recs = {0}, amounts = {0}, combined = {0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ledger_ids_push(&recs, sqlite3_column_int64(st, 0));
        ledger_ids_push(&amounts, sqlite3_column_int64(st, 1));
    }
    sqlite3_reset(st);
    mtr_err_t err =
        rc == SQLITE_DONE ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "reading a close");
    for (size_t i = 0; !err && i < recs.n; i++) {
        mtr_ledger_record_t r;
        if ((err = ledger_record_load(l, recs.ids[i], &r, errstr, errstr_size)))
            break;
        /* Only pending records hold unconfirmed contributions. */
        if (r.status != MTR_LEDGER_PENDING_COMMIT)
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                              "ledger: record %lld holds an unconfirmed contribution but is %s",
                              (long long)r.id, mtr_ledger_status_name(r.status));
        int64_t left = r.quantity_micro - amounts.ids[i];
        bool sums = !ledger_combines_in_sql(r.aggregation);
        mtr_ledger_record_clear(&r);
        if (err)
            break;
        if (!sums) {
            ledger_ids_push(&combined, recs.ids[i]);
            continue;
        }
        if (!(st = ledger_stmt(l, LS_REC_SET_MICRO, errstr, errstr_size))) {
            err = MTR_ERR_DB;
            break;
        }
        sqlite3_bind_int64(st, 1, recs.ids[i]);
        sqlite3_bind_int64(st, 2, left);
        sqlite3_bind_null(st, 3);
        sqlite3_bind_int64(st, 4, ledger_now(l));
        err = ledger_step_done(l, st, errstr, errstr_size, "rolling back usage");
        *micro_removed += amounts.ids[i];
    }
    static const ledger_stmt_id_t deletes[] = {LS_PROV_DELETE_PART, LS_CONTRIB_DELETE_PART,
                                               LS_CLOSELOG_DELETE_PART};
    for (size_t i = 0; !err && i < sizeof deletes / sizeof deletes[0]; i++) {
        if (!(st = ledger_stmt(l, deletes[i], errstr, errstr_size))) {
            err = MTR_ERR_DB;
            break;
        }
        sqlite3_bind_int64(st, 1, close_id);
        sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, partition);
        err = ledger_step_done(l, st, errstr, errstr_size, "rolling back a close");
    }
    if (!err)
        err = recombine_left(l, &combined, micro_removed, errstr, errstr_size);
    if (!err)
        err = ledger_set_part_state(l, close_id, topic, partition, LEDGER_PART_ROLLED_BACK, errstr,
                                    errstr_size);
    for (size_t i = 0; !err && i < recs.n; i++)
        err = ledger_settle(l, recs.ids[i], errstr, errstr_size);
    mtr_free(recs.ids);
    mtr_free(amounts.ids);
    mtr_free(combined.ids);
    return err;
}

static mtr_err_t apply(mtr_ledger_t *l, const char *topic, int32_t partition, part_t *parts,
                       size_t n, const mtr_ledger_kafka_state_t *kafka,
                       mtr_ledger_reconcile_result_t *res, char *errstr, size_t errstr_size)
{
    /* The newest part whose closes Kafka carries vouches for all older
     * ones: a landed commit's close log includes theirs. */
    size_t newest_landed = n;
    for (size_t i = n; i-- > 0;) {
        parts[i].verdict = judge(l, &parts[i], kafka, &parts[i].landed);
        if (parts[i].landed && newest_landed == n)
            newest_landed = i;
    }
    for (size_t i = 0; newest_landed < n && i <= newest_landed; i++)
        parts[i].verdict = V_CONFIRM;
    for (size_t i = 0; i < n; i++)
        if (parts[i].verdict == V_UNDECIDED)
            return mtr_err_set(
                errstr, errstr_size, MTR_ERR_STATE,
                "ledger: %s[%d]: cannot tell whether close %lld (commit offset %lld) reached "
                "Kafka: Kafka's close log (committed offset %lld) no longer covers its hours; "
                "its records stay unsent; compare with `meterd offsets` before deciding",
                topic, partition, (long long)parts[i].close_id, (long long)parts[i].commit_offset,
                (long long)kafka->committed_offset);
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; !err && i < n; i++) {
        if (parts[i].verdict == V_CONFIRM) {
            err = ledger_confirm_part(l, parts[i].close_id, topic, partition, errstr, errstr_size);
            if (!err)
                err = ledger_settle_close(l, parts[i].close_id, errstr, errstr_size);
            res->confirmed_parts++;
        } else {
            err = roll_back_part(l, parts[i].close_id, topic, partition, &res->rolled_back_micro,
                                 errstr, errstr_size);
            res->rolled_back_parts++;
        }
    }
    return err;
}

/* The last hour of p's confirmed close log in this ledger; INT64_MIN: none. */
static mtr_err_t last_closed_hour(mtr_ledger_t *l, const char *topic, int32_t partition,
                                  int64_t *hour, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT MAX(g.hour_ms) FROM close_log g JOIN close_parts p"
                           " ON p.close_id=g.close_id AND p.topic=g.topic AND p.part=g.part"
                           " WHERE g.topic=?1 AND g.part=?2 AND p.state=1",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger_db_err(l, errstr, errstr_size, "preparing the close log query");
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    int rc = sqlite3_step(st);
    *hour = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                ? sqlite3_column_int64(st, 0)
                : INT64_MIN;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? MTR_OK
                            : ledger_db_err(l, errstr, errstr_size, "reading the close log");
}

/* Whether Kafka's close log lacks hours the ledger closed on p. A close
 * log meterd committed always reaches at least the last hour the committing
 * ledger closed, and a later owner's reaches further, so a shorter one
 * was written by another tool (or copied from an old commit). */
static bool kafka_log_is_foreign(const mtr_ledger_kafka_state_t *kafka, int64_t ledger_last)
{
    if (ledger_last == INT64_MIN)
        return false;
    int64_t kafka_last = INT64_MIN;
    for (size_t i = 0; i < kafka->n_close_log; i++)
        if (kafka->close_log[i].hour_ms > kafka_last)
            kafka_last = kafka->close_log[i].hour_ms;
    return kafka_last < ledger_last;
}

mtr_err_t mtr_ledger_reconcile_partition(mtr_ledger_t *ledger, const char *topic, int32_t partition,
                                         const mtr_ledger_kafka_state_t *kafka,
                                         mtr_ledger_reconcile_result_t *result, char *errstr,
                                         size_t errstr_size)
{
    mtr_ledger_t *l = ledger;
    *result = (mtr_ledger_reconcile_result_t){.resume_offset = -1};
    if (!topic || !topic[0] || partition < 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger reconcile: needs a topic and a partition >= 0");
    mtr_err_t err = ledger_begin(l, errstr, errstr_size);
    if (err)
        return err;
    part_t *parts = NULL;
    size_t n = 0;
    mtr_ledger_checkpoint_t cp = {0};
    if ((err = load_parts(l, topic, partition, &parts, &n, errstr, errstr_size)) ||
        (err = apply(l, topic, partition, parts, n, kafka, result, errstr, errstr_size)) ||
        (err = ledger_partition_state(l, topic, partition, &cp, errstr, errstr_size)))
        goto fail;
    int64_t ledger_last;
    if ((err = last_closed_hour(l, topic, partition, &ledger_last, errstr, errstr_size)))
        goto fail;
    result->ledger_offset = cp.commit_offset;
    result->foreign_commit = kafka->committed_offset >= 0 &&
                             kafka->committed_offset != cp.commit_offset &&
                             kafka_log_is_foreign(kafka, ledger_last);
    if (kafka->committed_offset > cp.commit_offset) {
        /* Another owner advanced p: its position is the newer one. A close
         * log it lacks is the ledger's: closed hours stay closed. */
        const char *meta = result->foreign_commit ? cp.close_log_tail : kafka->metadata;
        if ((err = ledger_set_checkpoint(l, topic, partition, kafka->committed_offset, meta,
                                         "kafka", errstr, errstr_size)))
            goto fail;
        result->resume_offset = kafka->committed_offset;
        result->resume_metadata = meta ? mtr_strdup(meta) : NULL;
    } else {
        result->resume_offset = cp.commit_offset;
        result->resume_metadata = cp.close_log_tail;
        cp.close_log_tail = NULL;
        result->kafka_behind = kafka->committed_offset < cp.commit_offset;
    }
    if ((err = ledger_commit(l, errstr, errstr_size))) {
        mtr_free(result->resume_metadata);
        *result = (mtr_ledger_reconcile_result_t){.resume_offset = -1};
        goto out;
    }
    if (result->rolled_back_parts)
        mtr_warn("ledger",
                 "%s[%d]: rolled back %zu close(s) Kafka never saw (%lld micro-units); they are "
                 "counted again from offset %lld",
                 topic, partition, result->rolled_back_parts, (long long)result->rolled_back_micro,
                 (long long)kafka->committed_offset);
    goto out;
fail:
    ledger_rollback(l);
    mtr_free(result->resume_metadata);
    *result = (mtr_ledger_reconcile_result_t){.resume_offset = -1};
out:
    for (size_t i = 0; i < n; i++)
        mtr_free(parts[i].entries);
    mtr_free(parts);
    mtr_free(cp.close_log_tail);
    return err;
}
