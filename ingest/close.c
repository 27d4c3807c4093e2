/* Closing hours. Every close_check_ms the coordinator parks the workers,
 * asks the window rules which hour is due, takes that hour's table out of
 * every owned partition (O(1) each), notes each partition's close-log entry
 * and commit offset, and lets the workers go on; the park lasts for pointer
 * moves only. Then, with the workers running, it turns the tables into
 * ledger contributions, writes them in one transaction, flushes the
 * dead-letter producer, commits the offsets with the close-log tail to Kafka
 * and, when that commit succeeds, confirms the close: its records become
 * sendable. */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/mem.h"
#include "ingest/close_int.h"

#define DLQ_FLUSH_MS 30000

static void snapshot_scopes(mtr_ingest_t *ing, close_batch_t *b)
{
    b->scopes = mtr_calloc((size_t)ing->n_workers, sizeof *b->scopes);
    b->n_scopes = mtr_calloc((size_t)ing->n_workers, sizeof *b->n_scopes);
    for (int i = 0; i < ing->n_workers; i++) {
        mtr_ingest_scopes_t *s = &ing->workers[i].scopes;
        b->n_scopes[i] = s->n_arns;
        b->scopes[i] = mtr_calloc(s->n_arns ? s->n_arns : 1, sizeof **b->scopes);
        for (size_t k = 0; k < s->n_arns; k++) {
            b->scopes[i][k].product = s->arns[k].product;
            b->scopes[i][k].license_arn =
                mtr_strpool_copy(&b->pool, s->arns[k].license_arn, strlen(s->arns[k].license_arn));
        }
    }
}

/* Takes every due hour out of the parked workers. Returns false when
 * nothing was due. */
static bool collect(mtr_ingest_t *ing, close_batch_t *b, int64_t now_ms)
{
    size_t n = 0;
    for (int i = 0; i < ing->n_workers; i++)
        n += ing->workers[i].n_slots;
    if (n == 0)
        return false;
    const mtr_agg_partition_t **windows = mtr_calloc(n, sizeof *windows);
    b->parts = mtr_calloc(n, sizeof *b->parts);
    int64_t *last_before = mtr_calloc(n, sizeof *last_before);
    for (int i = 0; i < ing->n_workers; i++) {
        mtr_ingest_worker_t *w = &ing->workers[i];
        for (size_t k = 0; k < w->n_slots; k++) {
            mtr_ingest_slot_t *s = w->slots[k];
            int64_t lo, hi;
            if (rd_kafka_get_watermark_offsets(ing->rk, s->topic, s->partition, &lo, &hi) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                hi >= 0)
                s->window.high_watermark = hi;
            b->parts[b->n_parts] = (part_close_t){.slot = s, .worker = w};
            last_before[b->n_parts] = mtr_agg_closelog_last_hour(&s->window.log);
            windows[b->n_parts++] = &s->window;
        }
    }

    int64_t lateness = ing->config->window.lateness_ms;
    b->first_hour = MTR_AGG_NO_HOUR;
    int64_t hour;
    while ((hour = mtr_agg_close_due(windows, n, now_ms, lateness)) != MTR_AGG_NO_HOUR) {
        if (b->first_hour == MTR_AGG_NO_HOUR)
            b->first_hour = hour;
        b->last_hour = hour;
        for (size_t i = 0; i < n; i++) {
            part_close_t *p = &b->parts[i];
            mtr_agg_table_t *t = mtr_agg_shard_take(p->slot->hours, hour);
            if (t) {
                p->tables = mtr_realloc(p->tables, (p->n_tables + 1) * sizeof *p->tables);
                p->tables[p->n_tables++] = t;
            }
            /* close_due only names an hour every partition is ready for,
             * and a replaying partition is never ready. */
            mtr_err_t err = mtr_agg_partition_close(&p->slot->window, hour);
            assert(err == MTR_OK);
            (void)err;
        }
    }
    mtr_free(windows);
    if (b->first_hour == MTR_AGG_NO_HOUR) {
        mtr_free(last_before);
        return false;
    }

    /* Close-log entries new in this step (same-offset closes collapse into
     * the latest hour, as the metadata will say), commit offsets, and the
     * metadata each partition's commit will carry. */
    const char *self = mtr_ledger_writer_id(ing->ledger);
    for (size_t i = 0; i < n; i++) {
        part_close_t *p = &b->parts[i];
        mtr_agg_partition_t *win = &p->slot->window;
        for (size_t e = 0; e < win->log.n; e++) {
            if (last_before[i] != MTR_AGG_NO_HOUR && win->log.items[e].hour_ms <= last_before[i])
                continue;
            GROW(b->entries, b->n_entries, b->cap_entries);
            b->entries[b->n_entries++] =
                (mtr_ledger_close_entry_t){p->slot->topic, p->slot->partition,
                                           win->log.items[e].hour_ms, win->log.items[e].offset};
        }
        p->commit_offset = mtr_agg_partition_commit_offset(win);
        mtr_agg_closelog_trim(&win->log, p->commit_offset);
        char errstr[256];
        if (mtr_commit_meta_format(&win->log, &p->slot->inherited, self, p->meta, sizeof p->meta,
                                   errstr, sizeof errstr)) {
            /* The tail is trimmed to what a replay needs; it only outgrows
             * the buffer if hours stay open for days. */
            mtr_warn("ingest", "%s[%" PRId32 "]: %s", p->slot->topic, p->slot->partition, errstr);
            p->meta[0] = '\0';
        }
    }
    mtr_free(last_before);
    snapshot_scopes(ing, b);
    return true;
}

/* Adds c with the tags of a canonical tag set (copied into the pool). */

static void pending_add(mtr_ingest_t *ing, int64_t close_id)
{
    GROW(ing->pending_closes, ing->n_pending, ing->cap_pending);
    ing->pending_closes[ing->n_pending++] = close_id;
}

static void fail(mtr_ingest_t *ing, const char *what, const char *errstr)
{
    snprintf(ing->fatal_msg, sizeof ing->fatal_msg, "%s: %.400s", what, errstr);
    mtr_error("ingest", "%s; stopping (a restart resumes from the last durable close)",
              ing->fatal_msg);
    ing->fatal = true;
}

void mtr_ingest_close_due(mtr_ingest_t *ing)
{
    int64_t started = mtr_clock_monotonic_ms(ing->clock);
    int64_t now = mtr_clock_wall_ms(ing->clock);
    close_batch_t b;
    memset(&b, 0, sizeof b);
    mtr_ingest_workers_park(ing->workers, ing->n_workers);
    bool due = collect(ing, &b, now);
    mtr_ingest_workers_resume(ing->workers, ing->n_workers);
    int64_t parked_ms = mtr_clock_monotonic_ms(ing->clock) - started;
    if (!due) {
        mtr_ingest_close_batch_free(ing, &b);
        return;
    }

    mtr_ingest_close_contributions(ing, &b);
    mtr_ledger_partition_checkpoint_t *cps = mtr_calloc(b.n_parts, sizeof *cps);
    for (size_t i = 0; i < b.n_parts; i++) {
        part_close_t *p = &b.parts[i];
        cps[i] = (mtr_ledger_partition_checkpoint_t){p->slot->topic, p->slot->partition,
                                                     p->commit_offset, p->meta};
    }
    ing->customers_split += mtr_ingest_close_split_customers(&b);
    mtr_ledger_close_t close = {b.entries, b.n_entries, b.contribs, b.n_contribs, cps, b.n_parts};
    char errstr[512];
    int64_t close_id;
    if (mtr_ledger_close(ing->ledger, &close, &close_id, errstr, sizeof errstr)) {
        fail(ing, "ledger close", errstr);
        mtr_free(cps);
        mtr_ingest_close_batch_free(ing, &b);
        return;
    }
    MTR_FAULT("ingest.after_ledger_commit");
    ing->closes++;
    ing->records_written += b.n_contribs;

    /* Rejected events are committed past only once their dead-letter copies
     * are acknowledged. If the dead-letter topic is broken the commit goes
     * ahead all the same (holding it would stall billing for events that
     * cannot be billed anyway), loudly: the error names how many copies. */
    if (mtr_ingest_dlq_flush(ing->dlq, DLQ_FLUSH_MS, errstr, sizeof errstr))
        mtr_error("ingest", "%s", errstr);

    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new((int)b.n_parts);
    for (size_t i = 0; i < b.n_parts; i++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(
            offsets, b.parts[i].slot->topic, b.parts[i].slot->partition);
        tp->offset = b.parts[i].commit_offset;
        tp->metadata = strdup(b.parts[i].meta);
        tp->metadata_size = strlen(b.parts[i].meta);
    }
    pending_add(ing, close_id);
    rd_kafka_resp_err_t kerr = rd_kafka_commit(ing->rk, offsets, 0);
    rd_kafka_topic_partition_list_destroy(offsets);
    MTR_FAULT("ingest.after_kafka_commit");
    if (kerr) {
        ing->commit_failures++;
        mtr_warn("ingest",
                 "offset commit for close %" PRId64 " failed (%s); its records wait until a "
                 "later commit or the next assignment settles it",
                 close_id, rd_kafka_err2str(kerr));
    } else {
        /* This commit carries every owned partition's newest close log, so
         * it covers the earlier closes whose commits failed too. */
        for (size_t i = 0; i < ing->n_pending; i++)
            if (mtr_ledger_confirm_commit(ing->ledger, ing->pending_closes[i], errstr,
                                          sizeof errstr))
                mtr_warn("ingest", "close %" PRId64 ": %s", ing->pending_closes[i], errstr);
        ing->n_pending = 0;
    }

    char from[32], to[32];
    time_t f = (time_t)(b.first_hour / 1000), t = (time_t)(b.last_hour / 1000);
    strftime(from, sizeof from, "%Y-%m-%dT%H:00Z", gmtime(&f));
    strftime(to, sizeof to, "%Y-%m-%dT%H:00Z", gmtime(&t));
    mtr_info("ingest",
             "closed %s%s%s: %zu contribution(s) from %zu partition(s), workers parked %" PRId64
             " ms, total %" PRId64 " ms%s",
             from, b.first_hour != b.last_hour ? " .. " : "", b.first_hour != b.last_hour ? to : "",
             b.n_contribs, b.n_parts, parked_ms, mtr_clock_monotonic_ms(ing->clock) - started,
             kerr ? " (commit pending)" : "");
    if (!kerr && ing->opts.on_sendable)
        ing->opts.on_sendable(ing->opts.opaque, b.last_hour, b.n_contribs);
    mtr_free(cps);
    mtr_ingest_close_batch_free(ing, &b);
}
