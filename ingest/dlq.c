/* Dead-letter copies of rejected events, with their reason in headers. */
#include "ingest/dlq.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "ingest/kafka_conf.h"

struct mtr_ingest_dlq {
    rd_kafka_t *producer; /* NULL: no dead-letter topic, count and drop */
    char *topic;
    _Atomic uint64_t sent;
    _Atomic uint64_t failed; /* delivery failures since the last flush */
    /* The last delivery error. Delivery callbacks run on whichever thread
     * polls the producer (shard workers and the coordinator), hence atomic. */
    _Atomic int last_error;
};

static mtr_log_limiter_t drop_limiter = MTR_LOG_LIMITER_INIT(10, 10000);

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    mtr_ingest_dlq_t *dlq = opaque;
    if (msg->err) {
        dlq->last_error = msg->err;
        dlq->failed++;
    }
}

mtr_err_t mtr_ingest_dlq_new(const mtr_config_t *config, mtr_ingest_dlq_t **out, char *errstr,
                             size_t errstr_size)
{
    mtr_ingest_dlq_t *dlq = mtr_calloc(1, sizeof *dlq);
    if (config->kafka.dead_letter_topic) {
        rd_kafka_conf_t *conf;
        mtr_err_t err = mtr_ingest_producer_conf(config, &conf, errstr, errstr_size);
        if (err) {
            mtr_free(dlq);
            return err;
        }
        rd_kafka_conf_set_opaque(conf, dlq);
        rd_kafka_conf_set_log_cb(conf, mtr_ingest_kafka_log);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        char kerr[512];
        dlq->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
        if (!dlq->producer) {
            rd_kafka_conf_destroy(conf);
            mtr_free(dlq);
            return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA, "dead-letter producer: %s",
                               kerr);
        }
        dlq->topic = mtr_strdup(config->kafka.dead_letter_topic);
    }
    *out = dlq;
    return MTR_OK;
}

void mtr_ingest_dlq_free(mtr_ingest_dlq_t *dlq)
{
    if (!dlq)
        return;
    if (dlq->producer) {
        rd_kafka_flush(dlq->producer, 5000);
        rd_kafka_destroy(dlq->producer);
    }
    mtr_free(dlq->topic);
    mtr_free(dlq);
}

static void add_header(rd_kafka_headers_t *hdrs, const char *name, const char *value)
{
    rd_kafka_header_add(hdrs, name, -1, value, -1);
}

void mtr_ingest_dlq_send(mtr_ingest_dlq_t *dlq, const rd_kafka_message_t *msg, const char *reason,
                         const char *message)
{
    const char *source_topic = rd_kafka_topic_name(msg->rkt);
    dlq->sent++;
    if (!dlq->producer) {
        mtr_log_limited(&drop_limiter, MTR_LOG_WARN, "ingest",
                        "dropped invalid event %s[%" PRId32 "]@%" PRId64
                        ": %s: %s (set kafka.dead_letter_topic to keep such events)",
                        source_topic, msg->partition, msg->offset, reason, message);
        return;
    }

    rd_kafka_headers_t *source_hdrs = NULL;
    rd_kafka_headers_t *hdrs =
        rd_kafka_message_headers(msg, &source_hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR
            ? rd_kafka_headers_copy(source_hdrs)
            : rd_kafka_headers_new(8);
    char num[32];
    add_header(hdrs, "meterd.reason", reason);
    add_header(hdrs, "meterd.error", message);
    add_header(hdrs, "meterd.source.topic", source_topic);
    snprintf(num, sizeof num, "%" PRId32, msg->partition);
    add_header(hdrs, "meterd.source.partition", num);
    snprintf(num, sizeof num, "%" PRId64, msg->offset);
    add_header(hdrs, "meterd.source.offset", num);
    size_t len = msg->len;
    if (len > MTR_DLQ_MAX_FORWARDED_VALUE) {
        snprintf(num, sizeof num, "%zu", msg->len);
        add_header(hdrs, "meterd.truncated", num);
        len = MTR_DLQ_MAX_FORWARDED_VALUE;
    }

    rd_kafka_resp_err_t err = rd_kafka_producev(
        dlq->producer, RD_KAFKA_V_TOPIC(dlq->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(msg->key, msg->key_len), RD_KAFKA_V_VALUE(msg->payload, len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        /* Ownership of hdrs passes to librdkafka only on success. */
        rd_kafka_headers_destroy(hdrs);
        dlq->last_error = err;
        dlq->failed++;
    }
    rd_kafka_poll(dlq->producer, 0);
}

mtr_err_t mtr_ingest_dlq_flush(mtr_ingest_dlq_t *dlq, int timeout_ms, char *errstr,
                               size_t errstr_size)
{
    if (!dlq->producer)
        return MTR_OK;
    rd_kafka_resp_err_t err = rd_kafka_flush(dlq->producer, timeout_ms);
    uint64_t failed = atomic_exchange(&dlq->failed, 0);
    if (failed)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA,
                           "dead-letter topic \"%s\": %" PRIu64 " event(s) not delivered (%s); "
                           "check the topic exists and meterd may write to it",
                           dlq->topic, failed,
                           rd_kafka_err2str((rd_kafka_resp_err_t)dlq->last_error));
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_TIMEOUT,
                           "dead-letter topic \"%s\": %d event(s) still in flight after %d ms",
                           dlq->topic, rd_kafka_outq_len(dlq->producer), timeout_ms);
    return MTR_OK;
}

uint64_t mtr_ingest_dlq_count(const mtr_ingest_dlq_t *dlq)
{
    return dlq->sent;
}
