/* The dead-letter scan: the dead-letter topic read whole and its copies of
 * the time range chosen by timestamp, each copy's origin from its headers
 * (a hash set of origins drops repeats), a decode with the current config,
 * and the effective hour of each now-valid event on its source partition by
 * the ledger's confirmed close log. */
#include "ingest/dead_letter_scan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "aggregate/closelog.h"
#include "aggregate/dedupe.h"
#include "aggregate/window.h"
#include "core/mem.h"
#include "ingest/message.h"
#include "ledger/ledger_audit.h"

/* A source partition's close log, loaded on first use. */
typedef struct source_log {
    mtr_agg_closelog_t log;
} source_log_t;

typedef struct scan_run {
    const mtr_config_t *config;
    mtr_ledger_t *ledger;
    mtr_dlq_scan_t *out;
    source_log_t *logs; /* parallel to out->sources */
    mtr_event_decoder_t *decoder;
    mtr_agg_dedupe_t origins;
    int64_t since_ms, until_ms; /* which copies: by their timestamps */
    mtr_err_t err;              /* the first ledger error, reported at the end */
    char errstr[512];
} scan_run_t;

static mtr_dlq_reason_t *reason_of(mtr_dlq_scan_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_reasons; i++)
        if (!strcmp(s->reasons[i].reason, name))
            return &s->reasons[i];
    s->reasons = mtr_realloc(s->reasons, (s->n_reasons + 1) * sizeof *s->reasons);
    s->reasons[s->n_reasons] = (mtr_dlq_reason_t){.reason = mtr_strdup(name)};
    return &s->reasons[s->n_reasons++];
}

static size_t source_of(scan_run_t *run, const char *topic, int32_t partition)
{
    mtr_dlq_scan_t *s = run->out;
    for (size_t i = 0; i < s->n_sources; i++)
        if (s->sources[i].partition == partition && !strcmp(s->sources[i].topic, topic))
            return i;
    s->sources = mtr_realloc(s->sources, (s->n_sources + 1) * sizeof *s->sources);
    run->logs = mtr_realloc(run->logs, (s->n_sources + 1) * sizeof *run->logs);
    s->sources[s->n_sources] = (mtr_dlq_source_t){.topic = mtr_strdup(topic),
                                                  .partition = partition,
                                                  .from_ms = INT64_MAX,
                                                  .to_ms = INT64_MIN};
    source_log_t *l = &run->logs[s->n_sources];
    mtr_agg_closelog_init(&l->log);
    mtr_ledger_closed_hour_t *h;
    size_t n;
    mtr_err_t err = mtr_ledger_closed_hours(run->ledger, topic, partition, &h, &n, run->errstr,
                                            sizeof run->errstr);
    for (size_t i = 0; !err && i < n; i++)
        err = mtr_agg_closelog_append(&l->log, h[i].hour_ms, h[i].close_offset, run->errstr,
                                      sizeof run->errstr);
    if (err && !run->err)
        run->err = err;
    mtr_ledger_closed_hours_free(h, n);
    return s->n_sources++;
}

/* The value of header name as a NUL-terminated string in buf; false when
 * absent. */
static bool header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR || !v ||
        len >= size)
        return false;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return true;
}

static void on_copy(void *opaque, size_t range, const rd_kafka_message_t *msg)
{
    (void)range;
    scan_run_t *run = opaque;
    mtr_dlq_scan_t *s = run->out;
    int64_t produced = rd_kafka_message_timestamp(msg, NULL);
    if (produced < run->since_ms || produced >= run->until_ms)
        return;
    s->messages++;
    char topic[256], part[24], off[24], was[64];
    if (!header(msg, "meterd.source.topic", topic, sizeof topic) ||
        !header(msg, "meterd.source.partition", part, sizeof part) ||
        !header(msg, "meterd.source.offset", off, sizeof off)) {
        s->no_origin++;
        return;
    }
    if (!header(msg, "meterd.reason", was, sizeof was))
        snprintf(was, sizeof was, "unknown");
    int32_t partition = (int32_t)strtol(part, NULL, 10);
    int64_t offset = strtoll(off, NULL, 10);
    char key[300];
    int n = snprintf(key, sizeof key, "%s|%" PRId32 "|%" PRId64, topic, partition, offset);
    uint64_t h = XXH3_64bits(key, (size_t)n) | 1; /* 0 marks an empty slot */
    if (mtr_agg_dedupe_check(&run->origins, h, SIZE_MAX) == MTR_AGG_REPEAT) {
        s->duplicates++;
        return;
    }
    mtr_event_t ev;
    char why[512];
    mtr_event_reason_t reason = mtr_ingest_decode_message(run->decoder, msg, &ev, why, sizeof why);
    if (reason != MTR_EVENT_OK) {
        s->still_invalid++;
        mtr_dlq_reason_t *r = reason_of(s, mtr_event_reason_name(reason));
        r->still_invalid++;
        if (r->n_examples < MTR_DLQ_EXAMPLES) {
            char example[1024];
            snprintf(example, sizeof example, "%s[%" PRId32 "]@%" PRId64 ": %s", topic, partition,
                     offset, why);
            r->examples[r->n_examples++] = mtr_strdup(example);
        }
        return;
    }
    s->now_valid++;
    reason_of(s, was)->now_valid++;
    size_t src = source_of(run, topic, partition);
    const mtr_agg_closelog_t *log = &run->logs[src].log;
    mtr_dlq_source_t *x = &s->sources[src];
    int64_t hour = mtr_agg_effective_hour(log, ev.time_ms, offset);
    int64_t last = mtr_agg_closelog_last_hour(log);
    if (last == MTR_AGG_NO_HOUR || hour > last) {
        x->open_events++;
        return;
    }
    x->closed_events++;
    x->from_ms = hour < x->from_ms ? hour : x->from_ms;
    x->to_ms = hour > x->to_ms ? hour : x->to_ms;
}

/* Every partition of the dead-letter topic from its log start to its end.
 * The copies are chosen by their timestamps as they are read: looking
 * offsets up by time is not answered by every broker (the embedded mock
 * cluster), and a dead-letter topic is small next to the source. */
static mtr_err_t whole_topic(rd_kafka_t *rk, const char *topic, int timeout_ms,
                             mtr_reader_range_t **out, size_t *n, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (kerr || md->topic_cnt != 1 || md->topics[0].err) {
        mtr_err_t err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                                    "cannot read the dead-letter topic %s: %s (check "
                                    "kafka.dead_letter_topic and the cluster)",
                                    topic, rd_kafka_err2str(kerr ? kerr : md->topics[0].err));
        if (md)
            rd_kafka_metadata_destroy(md);
        return err;
    }
    const struct rd_kafka_metadata_topic *t = &md->topics[0];
    *out = mtr_calloc(t->partition_cnt ? (size_t)t->partition_cnt : 1, sizeof **out);
    *n = 0;
    mtr_err_t err = MTR_OK;
    for (int i = 0; i < t->partition_cnt && !err; i++) {
        int64_t lo, hi;
        int32_t p = t->partitions[i].id;
        if ((kerr = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms)))
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                              "cannot read the offsets of %s[%" PRId32 "]: %s", topic, p,
                              rd_kafka_err2str(kerr));
        else
            (*out)[(*n)++] = (mtr_reader_range_t){topic, p, lo, hi, 0};
    }
    rd_kafka_metadata_destroy(md);
    return err;
}

mtr_err_t mtr_dlq_scan(const mtr_config_t *config, mtr_ledger_t *ledger, int64_t since_ms,
                       int64_t until_ms, int timeout_ms, mtr_reader_progress_fn progress,
                       void *progress_opaque, mtr_dlq_scan_t *out, char *errstr, size_t errstr_size)
{
    *out = (mtr_dlq_scan_t){0};
    if (!config->kafka.dead_letter_topic)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "the config has no kafka.dead_letter_topic: give the one the "
                           "rejected events went to");
    rd_kafka_t *rk;
    mtr_err_t err = mtr_reader_new(config, &rk, errstr, errstr_size);
    if (err)
        return err;
    mtr_reader_range_t *ranges = NULL;
    size_t n = 0;
    err = whole_topic(rk, config->kafka.dead_letter_topic, timeout_ms, &ranges, &n, errstr,
                      errstr_size);
    scan_run_t run = {.config = config,
                      .ledger = ledger,
                      .out = out,
                      .decoder = mtr_event_decoder_new(config, mtr_clock_system()),
                      .since_ms = since_ms,
                      .until_ms = until_ms};
    if (!err)
        err = mtr_reader_read(rk, ranges, n, timeout_ms, on_copy, &run, progress, progress_opaque,
                              errstr, errstr_size);
    if (!err && run.err)
        err = mtr_err_set(errstr, errstr_size, run.err, "%s", run.errstr);
    for (size_t i = 0; i < out->n_sources; i++)
        mtr_agg_closelog_free(&run.logs[i].log);
    mtr_free(run.logs);
    mtr_agg_dedupe_free(&run.origins);
    mtr_event_decoder_free(run.decoder);
    mtr_free(ranges);
    rd_kafka_destroy(rk);
    if (err)
        mtr_dlq_scan_free(out);
    return err;
}

void mtr_dlq_scan_free(mtr_dlq_scan_t *s)
{
    for (size_t i = 0; i < s->n_reasons; i++) {
        mtr_free(s->reasons[i].reason);
        for (size_t e = 0; e < s->reasons[i].n_examples; e++)
            mtr_free(s->reasons[i].examples[e]);
    }
    mtr_free(s->reasons);
    for (size_t i = 0; i < s->n_sources; i++)
        mtr_free(s->sources[i].topic);
    mtr_free(s->sources);
    *s = (mtr_dlq_scan_t){0};
}
