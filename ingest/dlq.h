/* The dead-letter producer: every event meterd cannot bill goes, unchanged,
 * to kafka.dead_letter_topic with headers saying why and where it came from:
 *
 *   meterd.reason            stable reason code ("negative_quantity")
 *   meterd.error             the human message (what is wrong, the fix)
 *   meterd.source.topic      source topic
 *   meterd.source.partition  source partition (decimal)
 *   meterd.source.offset     source offset (decimal)
 *   meterd.truncated         original value size, when the value was too
 *                            large to forward whole (its first 64 KiB are)
 *
 * The source message's key and headers are kept. Without a dead-letter topic
 * events are counted per reason and dropped, with a rate-limited warning.
 *
 * A rejected event may be committed past only once its dead-letter copy is
 * durable: the close path calls mtr_ingest_dlq_flush() before committing.
 *
 * Threads: mtr_ingest_dlq_send may be called from any shard thread (librdkafka
 * producers are thread-safe); flush and free from one thread. */
#ifndef MTR_INGEST_DLQ_H
#define MTR_INGEST_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

#define MTR_DLQ_MAX_FORWARDED_VALUE (64 * 1024)

typedef struct mtr_ingest_dlq mtr_ingest_dlq_t;

/* NULL dead_letter_topic in config: a counting, dropping DLQ. */
mtr_err_t mtr_ingest_dlq_new(const mtr_config_t *config, mtr_ingest_dlq_t **out, char *errstr,
                             size_t errstr_size);
void mtr_ingest_dlq_free(mtr_ingest_dlq_t *dlq);

/* Sends (asynchronously) a copy of msg with the reason headers. */
void mtr_ingest_dlq_send(mtr_ingest_dlq_t *dlq, const rd_kafka_message_t *msg, const char *reason,
                         const char *message);

/* Waits until every sent copy is acknowledged. MTR_ERR_KAFKA when one
 * failed since the last flush (the caller must not commit past the events
 * it rejected), MTR_ERR_TIMEOUT when they are still in flight. */
mtr_err_t mtr_ingest_dlq_flush(mtr_ingest_dlq_t *dlq, int timeout_ms, char *errstr,
                               size_t errstr_size);

/* Events sent (or, without a topic, dropped) since start. */
uint64_t mtr_ingest_dlq_count(const mtr_ingest_dlq_t *dlq);

#endif
