/* The close side of the ledger: the close transaction (close log,
 * contributions, checkpoints) and confirmation once Kafka has the commit.
 * Placing contributions into records is in ledger_place.c, deciding the
 * records a confirmation makes sendable in ledger_settle.c, reconciliation
 * in ledger_reconcile.c. */
#include "ledger/ledger_int.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/fault.h"
#include "core/quantity.h"
#include "core/tagset.h"

void ledger_ids_push(ledger_ids_t *l, int64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->ids = mtr_realloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = id;
}

mtr_err_t ledger_ids_collect(mtr_ledger_t *l, sqlite3_stmt *st, ledger_ids_t *out, char *errstr,
                             size_t errstr_size)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ledger_ids_push(out, sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "reading ids");
}

/* ---- the close transaction ---- */

static bool has_partition(const mtr_ledger_close_t *c, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < c->n_checkpoints; i++)
        if (c->checkpoints[i].partition == partition && !strcmp(c->checkpoints[i].topic, topic))
            return true;
    return false;
}

static mtr_err_t check_contribution(const mtr_ledger_close_t *c, size_t i, char *errstr,
                                    size_t errstr_size)
{
    const mtr_ledger_contribution_t *x = &c->contributions[i];
    const mtr_ledger_key_t *k = &x->key;
    const char *bad = NULL;
    if (!k->scope || !k->scope[0])
        bad = "an empty scope";
    else if (!k->customer || !k->customer[0])
        bad = "an empty customer";
    else if (!k->dimension || !k->dimension[0])
        bad = "an empty dimension";
    else if ((unsigned)k->scope_kind > MTR_LEDGER_SCOPE_LICENSE ||
             (unsigned)k->customer_kind > MTR_LEDGER_CUSTOMER_ACCOUNT)
        bad = "an unknown scope or customer kind";
    else if (x->hour_ms != mtr_hour_floor_ms(x->hour_ms))
        bad = "an hour that is not the start of a UTC hour";
    else if (x->quantity_micro < 0)
        bad = "a negative quantity";
    else if ((unsigned)x->rounding > MTR_ROUND_NEAREST)
        bad = "an unknown rounding rule";
    else if (!x->topic || !has_partition(c, x->topic, x->partition))
        bad = "a partition without a checkpoint in this close";
    else if (x->n_tags > MTR_TAGSET_MAX_TAGS)
        bad = "more than 5 tags (AWS allows 5 per allocation)";
    if (bad)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger close: contribution %zu has %s", i, bad);
    return MTR_OK;
}

/* The canonical tag set of contribution i into out (MTR_TAGSET_MAX_BYTES
 * + 1), validating what AWS will check anyway. */
static mtr_err_t canonical_tags(const mtr_ledger_contribution_t *c, size_t i, char *out,
                                char *errstr, size_t errstr_size)
{
    mtr_tag_view_t views[MTR_TAGSET_MAX_TAGS];
    for (size_t t = 0; t < c->n_tags; t++) {
        const mtr_record_tag_t *tag = &c->tags[t];
        if (!tag->key || !tag->key[0] || !tag->value || strlen(tag->key) > 100 ||
            strlen(tag->value) > 256 || strpbrk(tag->key, "\x1e\x1f") ||
            strpbrk(tag->value, "\x1e\x1f"))
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "ledger close: contribution %zu: tag %zu needs a key of 1-100 and "
                               "a value of 0-256 characters without control separators",
                               i, t);
        for (size_t u = 0; u < t; u++)
            if (!strcmp(c->tags[u].key, tag->key))
                return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                                   "ledger close: contribution %zu: tag key \"%s\" appears twice",
                                   i, tag->key);
        views[t] = (mtr_tag_view_t){tag->key, strlen(tag->key), tag->value, strlen(tag->value)};
    }
    size_t len = c->n_tags ? mtr_tagset_build(views, c->n_tags, out) : 0;
    out[len] = '\0';
    return MTR_OK;
}

/* The confirmed checkpoint (-1 when none) and the newest pending offset. */
mtr_err_t ledger_partition_state(mtr_ledger_t *l, const char *topic, int32_t partition,
                                 mtr_ledger_checkpoint_t *out, char *errstr, size_t errstr_size)
{
    *out = (mtr_ledger_checkpoint_t){.commit_offset = -1, .pending_offset = -1};
    sqlite3_stmt *st = ledger_stmt(l, LS_CKPT_GET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->commit_offset = sqlite3_column_int64(st, 0);
        const char *tail = (const char *)sqlite3_column_text(st, 1);
        out->close_log_tail = tail ? mtr_strdup(tail) : NULL;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ledger_db_err(l, errstr, errstr_size, "reading a checkpoint");
    if (!(st = ledger_stmt(l, LS_PART_MAX_PENDING, errstr, errstr_size)))
        return MTR_ERR_DB;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        out->pending_parts = (size_t)sqlite3_column_int64(st, 1);
        if (out->pending_parts)
            out->pending_offset = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "reading a close");
}

mtr_err_t mtr_ledger_checkpoint_get(mtr_ledger_t *ledger, const char *topic, int32_t partition,
                                    mtr_ledger_checkpoint_t *out, char *errstr, size_t errstr_size)
{
    mtr_err_t err = ledger_partition_state(ledger, topic, partition, out, errstr, errstr_size);
    if (err) {
        mtr_free(out->close_log_tail);
        out->close_log_tail = NULL;
    }
    return err;
}

static mtr_err_t write_part(mtr_ledger_t *l, int64_t close_id,
                            const mtr_ledger_partition_checkpoint_t *cp, char *errstr,
                            size_t errstr_size)
{
    if (!cp->topic || !cp->topic[0] || cp->partition < 0 || cp->commit_offset < 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger close: checkpoint needs a topic, a partition >= 0 and a "
                           "commit offset >= 0");
    mtr_ledger_checkpoint_t now;
    mtr_err_t err = ledger_partition_state(l, cp->topic, cp->partition, &now, errstr, errstr_size);
    mtr_free(now.close_log_tail);
    if (err)
        return err;
    int64_t floor = now.commit_offset > now.pending_offset ? now.commit_offset : now.pending_offset;
    if (cp->commit_offset < floor)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                           "ledger close: %s[%d]: commit offset %lld is below the ledger's %lld; "
                           "committed offsets never go backwards",
                           cp->topic, cp->partition, (long long)cp->commit_offset,
                           (long long)floor);
    sqlite3_stmt *st = ledger_stmt(l, LS_PART_INSERT, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    sqlite3_bind_text(st, 2, cp->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, cp->partition);
    sqlite3_bind_int64(st, 4, cp->commit_offset);
    sqlite3_bind_text(st, 5, cp->close_log_tail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, ledger_now(l));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger close: %s[%d] has two checkpoints in one close", cp->topic,
                           cp->partition);
    return rc == SQLITE_DONE ? MTR_OK : ledger_db_err(l, errstr, errstr_size, "writing a close");
}

static mtr_err_t write_entry(mtr_ledger_t *l, int64_t close_id, const mtr_ledger_close_t *c,
                             const mtr_ledger_close_entry_t *e, char *errstr, size_t errstr_size)
{
    if (!e->topic || !has_partition(c, e->topic, e->partition) || e->close_offset < 0 ||
        e->hour_ms != mtr_hour_floor_ms(e->hour_ms))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger close: close-log entry needs a partition checkpointed in the "
                           "same close, an offset >= 0 and the start of a UTC hour");
    sqlite3_stmt *st = ledger_stmt(l, LS_CLOSELOG_EXISTS, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_text(st, 1, e->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, e->partition);
    sqlite3_bind_int64(st, 3, e->hour_ms);
    int rc = sqlite3_step(st);
    int64_t by = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                           "ledger close: %s[%d] hour %lld was already closed by close %lld; an "
                           "hour closes once",
                           e->topic, e->partition, (long long)e->hour_ms, (long long)by);
    if (!(st = ledger_stmt(l, LS_CLOSELOG_INSERT, errstr, errstr_size)))
        return MTR_ERR_DB;
    sqlite3_bind_text(st, 1, e->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, e->partition);
    sqlite3_bind_int64(st, 3, e->hour_ms);
    sqlite3_bind_int64(st, 4, e->close_offset);
    sqlite3_bind_int64(st, 5, close_id);
    return ledger_step_done(l, st, errstr, errstr_size, "writing the close log");
}

/* Checks every contribution, builds its canonical tag set and places them
 * all (ledger_place.c). Tag sets live in one buffer; most are empty. */
static mtr_err_t place_all(mtr_ledger_t *l, int64_t close_id, const mtr_ledger_close_t *close,
                           int64_t now, char *errstr, size_t errstr_size)
{
    size_t n = close->n_contributions, len = 0, cap = 0;
    size_t *at = mtr_malloc((n ? n : 1) * sizeof *at);
    char *text = NULL;
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; !err && i < n; i++) {
        char tagset[MTR_TAGSET_MAX_BYTES + 1];
        if ((err = check_contribution(close, i, errstr, errstr_size)) ||
            (err = canonical_tags(&close->contributions[i], i, tagset, errstr, errstr_size)))
            break;
        size_t need = strlen(tagset) + 1;
        if (len + need > cap) {
            cap = cap * 2 + need + 4096;
            text = mtr_realloc(text, cap);
        }
        memcpy(text + len, tagset, need);
        at[i] = len;
        len += need;
    }
    const char **tags = NULL;
    if (!err) {
        tags = mtr_malloc((n ? n : 1) * sizeof *tags);
        for (size_t i = 0; i < n; i++)
            tags[i] = text + at[i];
        err = ledger_place(l, close_id, close, tags, now, errstr, errstr_size);
    }
    mtr_free(tags);
    mtr_free(text);
    mtr_free(at);
    return err;
}

mtr_err_t ledger_write_close(mtr_ledger_t *l, const mtr_ledger_close_t *close, int64_t *close_id,
                             char *errstr, size_t errstr_size)
{
    if (close->n_checkpoints == 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger close: no partition checkpoint; a close names its partitions");
    sqlite3_stmt *st = ledger_stmt(l, LS_CLOSE_INSERT, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    /* One time for the whole close: its rows were all written at once. */
    int64_t now = ledger_now(l);
    sqlite3_bind_int64(st, 1, now);
    mtr_err_t err = ledger_step_done(l, st, errstr, errstr_size, "writing a close");
    if (err)
        return err;
    int64_t id = sqlite3_last_insert_rowid(l->db);
    for (size_t i = 0; i < close->n_checkpoints && !err; i++)
        err = write_part(l, id, &close->checkpoints[i], errstr, errstr_size);
    for (size_t i = 0; i < close->n_entries && !err; i++)
        err = write_entry(l, id, close, &close->entries[i], errstr, errstr_size);
    if (!err)
        err = place_all(l, id, close, now, errstr, errstr_size);
    if (!err)
        *close_id = id;
    return err;
}

mtr_err_t mtr_ledger_close(mtr_ledger_t *ledger, const mtr_ledger_close_t *close, int64_t *close_id,
                           char *errstr, size_t errstr_size)
{
    mtr_ledger_t *l = ledger;
    if (close->n_checkpoints == 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "ledger close: no partition checkpoint; a close names its partitions");
    mtr_err_t err = ledger_begin(l, errstr, errstr_size);
    if (err)
        return err;
    int64_t id;
    if ((err = ledger_write_close(l, close, &id, errstr, errstr_size)))
        goto fail;
    MTR_FAULT("ledger.close.in_txn");
    if ((err = ledger_commit(l, errstr, errstr_size)))
        return err;
    *close_id = id;
    return MTR_OK;
fail:
    ledger_rollback(l);
    return err;
}

/* ---- confirming and rolling back close parts ---- */

mtr_err_t ledger_set_part_state(mtr_ledger_t *l, int64_t close_id, const char *topic,
                                int32_t partition, int state, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_PART_SET_STATE, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    sqlite3_bind_int(st, 4, state);
    sqlite3_bind_int64(st, 5, ledger_now(l));
    return ledger_step_done(l, st, errstr, errstr_size, "updating a close");
}

mtr_err_t ledger_set_checkpoint(mtr_ledger_t *l, const char *topic, int32_t partition,
                                int64_t offset, const char *tail, const char *source, char *errstr,
                                size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_CKPT_SET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    sqlite3_bind_int64(st, 3, offset);
    sqlite3_bind_text(st, 4, tail, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, ledger_now(l));
    return ledger_step_done(l, st, errstr, errstr_size, "writing a checkpoint");
}

mtr_err_t ledger_confirm_part(mtr_ledger_t *l, int64_t close_id, const char *topic,
                              int32_t partition, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = ledger_stmt(l, LS_PART_GET, errstr, errstr_size);
    if (!st)
        return MTR_ERR_DB;
    sqlite3_bind_int64(st, 1, close_id);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return ledger_db_err(l, errstr, errstr_size, "reading a close part");
    }
    int64_t offset = sqlite3_column_int64(st, 0);
    const char *t = (const char *)sqlite3_column_text(st, 1);
    char *tail = t ? mtr_strdup(t) : NULL;
    sqlite3_reset(st);
    mtr_err_t err = ledger_set_part_state(l, close_id, topic, partition, LEDGER_PART_CONFIRMED,
                                          errstr, errstr_size);
    if (!err)
        err =
            ledger_set_checkpoint(l, topic, partition, offset, tail, "close", errstr, errstr_size);
    mtr_free(tail);
    return err;
}

mtr_err_t mtr_ledger_confirm_commit(mtr_ledger_t *ledger, int64_t close_id, char *errstr,
                                    size_t errstr_size)
{
    mtr_ledger_t *l = ledger;
    mtr_err_t err = ledger_begin(l, errstr, errstr_size);
    if (err)
        return err;
    sqlite3_stmt *st = ledger_stmt(l, LS_PARTS_OF_CLOSE, errstr, errstr_size);
    if (!st) {
        err = MTR_ERR_DB;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, close_id);
    /* Collect first: confirming updates the rows being read. */
    struct part {
        char *topic;
        int32_t partition;
        int state;
    } *parts = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        parts = mtr_realloc(parts, (n + 1) * sizeof *parts);
        parts[n].topic = mtr_strdup((const char *)sqlite3_column_text(st, 0));
        parts[n].partition = sqlite3_column_int(st, 1);
        parts[n].state = sqlite3_column_int(st, 4);
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        err = ledger_db_err(l, errstr, errstr_size, "reading a close");
    else if (n == 0)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                          "ledger: close %lld does not exist", (long long)close_id);
    for (size_t i = 0; !err && i < n; i++) {
        if (parts[i].state == LEDGER_PART_ROLLED_BACK)
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                              "ledger: close %lld of %s[%d] was rolled back by reconciliation; "
                              "its usage is counted again from Kafka's offset",
                              (long long)close_id, parts[i].topic, parts[i].partition);
        else if (parts[i].state == LEDGER_PART_PENDING)
            err = ledger_confirm_part(l, close_id, parts[i].topic, parts[i].partition, errstr,
                                      errstr_size);
    }
    for (size_t i = 0; i < n; i++)
        mtr_free(parts[i].topic);
    mtr_free(parts);
    if (!err)
        err = ledger_settle_close(l, close_id, errstr, errstr_size);
    if (err)
        goto fail;
    return ledger_commit(l, errstr, errstr_size);
fail:
    ledger_rollback(l);
    return err;
}
