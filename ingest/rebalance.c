/* Partition assignment and revocation. On assignment every partition is
 * reconciled: the ledger's checkpoint and Kafka's committed offset and
 * metadata are compared, unknown commit outcomes are settled (confirmed or
 * rolled back, see ledger/ledger.h), and the partition resumes from the newer
 * of the two with its close log. On revocation its open windows are dropped:
 * the next owner rebuilds them from the committed offset and close log. */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "ingest/ingest_int.h"

#define COMMITTED_TIMEOUT_MS 10000

/* The least loaded worker takes the next partition. */
static mtr_ingest_worker_t *pick_worker(mtr_ingest_t *ing)
{
    mtr_ingest_worker_t *best = &ing->workers[0];
    for (int i = 1; i < ing->n_workers; i++)
        if (ing->workers[i].n_slots < best->n_slots)
            best = &ing->workers[i];
    return best;
}

static mtr_ingest_slot_t *find_slot(mtr_ingest_t *ing, const char *topic, int32_t partition,
                                    mtr_ingest_worker_t **owner)
{
    for (int i = 0; i < ing->n_workers; i++) {
        mtr_ingest_slot_t *s = mtr_ingest_worker_find(&ing->workers[i], topic, partition);
        if (s) {
            *owner = &ing->workers[i];
            return s;
        }
    }
    return NULL;
}

/* Settles one partition with the ledger; on success *start and *meta say
 * where and with which close log to resume. */
static mtr_err_t reconcile(mtr_ingest_t *ing, rd_kafka_topic_partition_t *tp, bool owning,
                           int64_t *start, mtr_commit_meta_t *meta, char *errstr,
                           size_t errstr_size)
{
    mtr_commit_meta_t kafka_meta;
    const char *raw = tp->metadata;
    size_t raw_len = tp->metadata_size;
    mtr_err_t err = mtr_commit_meta_parse(raw, raw_len, &kafka_meta, errstr, errstr_size);
    if (err) {
        /* Someone else's metadata: treat as no close log, but say so. */
        mtr_warn("ingest", "%s[%" PRId32 "]: ignoring commit metadata it cannot read: %s",
                 tp->topic, tp->partition, errstr);
        mtr_commit_meta_free(&kafka_meta);
        mtr_commit_meta_parse(NULL, 0, &kafka_meta, NULL, 0);
    }
    mtr_ledger_kafka_close_t *closes =
        mtr_calloc(kafka_meta.log.n ? kafka_meta.log.n : 1, sizeof *closes);
    for (size_t i = 0; i < kafka_meta.log.n; i++)
        closes[i] = (mtr_ledger_kafka_close_t){
            kafka_meta.log.items[i].hour_ms, kafka_meta.log.items[i].offset,
            strcmp(kafka_meta.writers[i], "-") ? kafka_meta.writers[i] : NULL};
    char *metadata = raw ? mtr_strndup(raw, raw_len) : NULL;
    mtr_ledger_kafka_state_t kafka = {
        .committed_offset = tp->offset >= 0 ? tp->offset : -1,
        .metadata = metadata,
        .close_log = closes,
        .n_close_log = kafka_meta.log.n,
    };
    mtr_ledger_reconcile_result_t res;
    memset(&res, 0, sizeof res);
    err = mtr_ledger_reconcile_partition(ing->ledger, tp->topic, tp->partition, &kafka, &res,
                                         errstr, errstr_size);
    mtr_free(closes);
    mtr_free(metadata);
    mtr_commit_meta_free(&kafka_meta);
    if (err)
        return err;

    if (res.confirmed_parts || res.rolled_back_parts)
        mtr_info("ingest",
                 "%s[%" PRId32 "]: settled unknown commits: %zu close(s) confirmed, %zu rolled "
                 "back (%" PRId64 " micro-units to be recounted)",
                 tp->topic, tp->partition, res.confirmed_parts, res.rolled_back_parts,
                 res.rolled_back_micro);
    if (res.foreign_commit && res.resume_offset > res.ledger_offset)
        mtr_warn("ingest",
                 "%s[%" PRId32 "]: the committed offset was moved forward from %" PRId64
                 " (the ledger's) to %" PRId64 " without meterd's close log, by another tool: "
                 "offsets %" PRId64 "..%" PRId64 " will not be read, and usage in them that was "
                 "not yet closed is never billed (`meterd offsets reset --to-offset %" PRId64
                 "` estimates it while meterd is stopped); closed hours stay closed, so nothing "
                 "is billed twice",
                 tp->topic, tp->partition, res.ledger_offset, res.resume_offset, res.ledger_offset,
                 res.resume_offset - 1, res.ledger_offset);
    else if (res.foreign_commit)
        mtr_warn("ingest",
                 "%s[%" PRId32 "]: the committed offset %" PRId64 " was set without meterd's "
                 "close log, by another tool; the ledger's checkpoint %" PRId64 " is newer: "
                 "resuming there and committing it back, so nothing is counted twice or "
                 "skipped (to re-check closed hours use `meterd replay`)",
                 tp->topic, tp->partition, (int64_t)tp->offset, res.resume_offset);
    const char *resume_meta = res.resume_metadata;
    err = mtr_commit_meta_parse(resume_meta, resume_meta ? strlen(resume_meta) : 0, meta, errstr,
                                errstr_size);
    if (err) {
        mtr_free(res.resume_metadata);
        return err;
    }
    *start = res.resume_offset;
    if (owning && res.kafka_behind && res.resume_offset >= 0) {
        /* Kafka lost ground (a commit that failed after the ledger had the
         * close): put the ledger's position back so offsets never go back. */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *c =
            rd_kafka_topic_partition_list_add(l, tp->topic, tp->partition);
        c->offset = res.resume_offset;
        if (resume_meta) {
            c->metadata = strdup(resume_meta);
            c->metadata_size = strlen(resume_meta);
        }
        rd_kafka_resp_err_t kerr = rd_kafka_commit(ing->rk, l, 0);
        if (kerr)
            mtr_warn("ingest", "%s[%" PRId32 "]: re-commit of offset %" PRId64 " failed: %s",
                     tp->topic, tp->partition, res.resume_offset, rd_kafka_err2str(kerr));
        rd_kafka_topic_partition_list_destroy(l);
    }
    mtr_free(res.resume_metadata);
    return MTR_OK;
}

/* Kafka's committed offsets and metadata of parts, asked up to three
 * times; the first error that is not transient, or the last one. */
static rd_kafka_resp_err_t committed_with_retries(mtr_ingest_t *ing,
                                                  rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 3; attempt++) {
        kerr = rd_kafka_committed(ing->rk, parts, COMMITTED_TIMEOUT_MS);
        for (int i = 0; !kerr && i < parts->cnt; i++)
            kerr = parts->elems[i].err;
        if (!kerr)
            return kerr;
        mtr_warn("ingest", "reading committed offsets: %s (attempt %d of 3)",
                 rd_kafka_err2str(kerr), attempt + 1);
    }
    return kerr;
}

/* Reconciles and hands out the partitions; returns those that must stay
 * paused (caller destroys the list). */
static rd_kafka_topic_partition_list_t *assign(mtr_ingest_t *ing,
                                               rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t kerr = committed_with_retries(ing, parts);
    if (kerr) {
        /* Settling an earlier close without Kafka's view would be a guess
         * that can lose or double usage; a restart asks again. */
        snprintf(ing->fatal_msg, sizeof ing->fatal_msg,
                 "cannot read the committed offsets of the assigned partitions: %s",
                 rd_kafka_err2str(kerr));
        mtr_error("ingest", "%s; stopping so that a restart asks again", ing->fatal_msg);
        ing->fatal = true;
        return rd_kafka_topic_partition_list_copy(parts);
    }
    rd_kafka_topic_partition_list_t *blocked = rd_kafka_topic_partition_list_new(0);
    mtr_ingest_workers_park(ing->workers, ing->n_workers);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        char errstr[512];
        int64_t start = -1;
        mtr_commit_meta_t meta = {0}; /* freed on every path */
        mtr_err_t err = reconcile(ing, tp, true, &start, &meta, errstr, sizeof errstr);
        if (err) {
            mtr_error("ingest",
                      "%s[%" PRId32 "]: cannot settle an earlier close: %s. The partition is "
                      "paused so nothing is counted twice; see `meterd records list --status "
                      "pending_commit` and the offsets tool",
                      tp->topic, tp->partition, errstr);
            mtr_commit_meta_free(&meta);
            rd_kafka_topic_partition_list_add(blocked, tp->topic, tp->partition);
            continue;
        }
        mtr_ingest_worker_t *w = pick_worker(ing);
        mtr_ingest_worker_add(w, tp->topic, tp->partition, start >= 0 ? start : 0, &meta);
        ing->partitions++;
        tp->offset = start >= 0 ? start : RD_KAFKA_OFFSET_BEGINNING;
        mtr_info("ingest", "assigned %s[%" PRId32 "] to shard %d from offset %" PRId64, tp->topic,
                 tp->partition, w->id, start >= 0 ? start : 0);
    }
    mtr_ingest_workers_resume(ing->workers, ing->n_workers);
    return blocked;
}

/* Settles, as soon as they are given up, the partitions whose last closes
 * never learnt their Kafka commit's outcome (a commit fenced after a pause,
 * one that timed out): Kafka's committed state says whether they landed, so
 * the ledger does not keep unsendable records until this instance happens
 * to own the partition again. Whatever cannot be decided now waits for the
 * next assignment. */
static void settle_given_up(mtr_ingest_t *ing, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *pending = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        mtr_ledger_checkpoint_t cp;
        if (mtr_ledger_checkpoint_get(ing->ledger, parts->elems[i].topic, parts->elems[i].partition,
                                      &cp, NULL, 0) == MTR_OK) {
            if (cp.pending_parts)
                rd_kafka_topic_partition_list_add(pending, parts->elems[i].topic,
                                                  parts->elems[i].partition);
            mtr_free(cp.close_log_tail);
        }
    }
    if (pending->cnt && rd_kafka_committed(ing->rk, pending, COMMITTED_TIMEOUT_MS) == 0) {
        for (int i = 0; i < pending->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &pending->elems[i];
            char errstr[512];
            int64_t start;
            mtr_commit_meta_t meta = {0}; /* freed on every path */
            if (!tp->err &&
                reconcile(ing, tp, false, &start, &meta, errstr, sizeof errstr) != MTR_OK)
                mtr_warn("ingest", "%s[%" PRId32 "]: earlier close left for the next owner: %s",
                         tp->topic, tp->partition, errstr);
            mtr_commit_meta_free(&meta);
        }
    }
    rd_kafka_topic_partition_list_destroy(pending);
}

static void revoke(mtr_ingest_t *ing, rd_kafka_topic_partition_list_t *parts, bool lost)
{
    mtr_ingest_workers_park(ing->workers, ing->n_workers);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        mtr_ingest_worker_t *w;
        if (!find_slot(ing, tp->topic, tp->partition, &w))
            continue;
        mtr_ingest_worker_remove(w, tp->topic, tp->partition);
        ing->partitions--;
        mtr_info("ingest",
                 "%s %s[%" PRId32 "]: open windows dropped (the next owner recounts "
                 "them from the committed offset)",
                 lost ? "lost" : "revoked", tp->topic, tp->partition);
    }
    mtr_ingest_workers_resume(ing->workers, ing->n_workers);
    settle_given_up(ing, parts);
}

void mtr_ingest_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
    mtr_ingest_t *ing = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_topic_partition_list_t *blocked = assign(ing, partitions);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, partitions);
        else
            kerr = rd_kafka_assign(rk, partitions);
        /* Paused once assigned: the group keeps them here, so no other
         * member counts them either, until an operator settles the close. */
        if (blocked->cnt)
            rd_kafka_pause_partitions(rk, blocked);
        rd_kafka_topic_partition_list_destroy(blocked);
    } else {
        revoke(ing, partitions, rd_kafka_assignment_lost(rk) != 0);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, partitions);
        else
            kerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        mtr_error("ingest", "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (kerr) {
        mtr_error("ingest", "rebalance: %s", rd_kafka_err2str(kerr));
    }
}
