/* The range reader: one queue for every partition's fetches,
 * rd_kafka_consume_start_queue per range, partition EOF events to notice a
 * range that ends at the log end. */
#include "ingest/reader.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "core/mem.h"
#include "ingest/kafka_conf.h"

#define CONSUME_BATCH  1024
#define POLL_MS        100
#define PROGRESS_EVERY 4 /* polls */

bool mtr_reader_selected(const int32_t *partitions, size_t n, int32_t partition)
{
    if (!partitions)
        return true;
    for (size_t i = 0; i < n; i++)
        if (partitions[i] == partition)
            return true;
    return false;
}

mtr_err_t mtr_reader_new(const mtr_config_t *config, rd_kafka_t **out, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_conf_t *conf;
    mtr_err_t err = mtr_ingest_reader_conf(config, &conf, errstr, errstr_size);
    if (err)
        return err;
    char kerr[512];
    rd_kafka_conf_set_log_cb(conf, mtr_ingest_kafka_log);
    if (rd_kafka_conf_set(conf, "enable.partition.eof", "true", kerr, sizeof kerr) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG, "%s", kerr);
    }
    *out = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!*out) {
        rd_kafka_conf_destroy(conf);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "cannot create a Kafka client: %s",
                           kerr);
    }
    return MTR_OK;
}

typedef struct reading {
    mtr_reader_range_t *ranges;
    rd_kafka_topic_t **rkts; /* per range */
    bool *active;
    size_t n, n_active;
} reading_t;

static size_t range_of(const reading_t *r, const rd_kafka_message_t *msg, size_t hint)
{
    if (hint < r->n && r->rkts[hint] == msg->rkt && r->ranges[hint].partition == msg->partition)
        return hint;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    for (size_t i = 0; i < r->n; i++)
        if (r->ranges[i].partition == msg->partition && !strcmp(r->ranges[i].topic, topic))
            return i;
    return SIZE_MAX;
}

static void report(const reading_t *r, mtr_reader_progress_fn progress, void *opaque)
{
    uint64_t done = 0, total = 0;
    for (size_t i = 0; i < r->n; i++) {
        const mtr_reader_range_t *x = &r->ranges[i];
        if (x->end <= x->start)
            continue;
        total += (uint64_t)(x->end - x->start);
        done += (uint64_t)((x->position < x->end ? x->position : x->end) - x->start);
    }
    progress(opaque, done, total);
}

static void stop(reading_t *r, size_t i)
{
    rd_kafka_consume_stop(r->rkts[i], r->ranges[i].partition);
    r->active[i] = false;
    r->n_active--;
}

mtr_err_t mtr_reader_read(rd_kafka_t *rk, mtr_reader_range_t *ranges, size_t n, int timeout_ms,
                          mtr_reader_message_fn on_message, void *opaque,
                          mtr_reader_progress_fn progress, void *progress_opaque, char *errstr,
                          size_t errstr_size)
{
    reading_t r = {ranges, mtr_calloc(n ? n : 1, sizeof *r.rkts),
                   mtr_calloc(n ? n : 1, sizeof *r.active), n, 0};
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; i < n && !err; i++) {
        ranges[i].position = ranges[i].start;
        r.rkts[i] = rd_kafka_topic_new(rk, ranges[i].topic, NULL);
        if (ranges[i].start >= ranges[i].end)
            continue;
        if (rd_kafka_consume_start_queue(r.rkts[i], ranges[i].partition, ranges[i].start, q) == -1)
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "cannot read %s[%" PRId32 "]: %s",
                              ranges[i].topic, ranges[i].partition,
                              rd_kafka_err2str(rd_kafka_last_error()));
        else {
            r.active[i] = true;
            r.n_active++;
        }
    }
    rd_kafka_message_t *msgs[CONSUME_BATCH];
    int idle_ms = 0, polls = 0;
    size_t hint = 0;
    while (!err && r.n_active) {
        ssize_t got = rd_kafka_consume_batch_queue(q, POLL_MS, msgs, CONSUME_BATCH);
        idle_ms = got > 0 ? 0 : idle_ms + POLL_MS;
        for (ssize_t m = 0; m < got; m++) {
            const rd_kafka_message_t *msg = msgs[m];
            size_t i = range_of(&r, msg, hint);
            if (i != SIZE_MAX && r.active[i]) {
                hint = i;
                mtr_reader_range_t *x = &ranges[i];
                if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    if (msg->offset >= x->end)
                        x->position = x->end;
                } else if (!msg->err && msg->offset >= x->position) {
                    x->position = msg->offset + 1;
                    if (msg->offset < x->end)
                        on_message(opaque, i, msg);
                }
                if (x->position >= x->end)
                    stop(&r, i);
            }
            rd_kafka_message_destroy(msgs[m]);
        }
        for (size_t i = 0; !err && idle_ms >= timeout_ms && i < n; i++)
            if (r.active[i])
                err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                                  "no data from %s[%" PRId32 "] at offset %" PRId64
                                  " for %d ms (it should reach %" PRId64
                                  "): is the cluster up? (--timeout waits longer)",
                                  ranges[i].topic, ranges[i].partition, ranges[i].position,
                                  timeout_ms, ranges[i].end);
        if (progress && ++polls % PROGRESS_EVERY == 0)
            report(&r, progress, progress_opaque);
    }
    for (size_t i = 0; i < n; i++) {
        if (r.active[i])
            stop(&r, i);
        rd_kafka_topic_destroy(r.rkts[i]);
    }
    rd_kafka_queue_destroy(q);
    if (!err && progress)
        report(&r, progress, progress_opaque);
    mtr_free(r.rkts);
    mtr_free(r.active);
    return err;
}
