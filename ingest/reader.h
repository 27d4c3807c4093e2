/* Reading fixed offset ranges of partitions, for the on-call tools
 * (`meterd replay`, `meterd offsets reset`): a Kafka client that is no group
 * member (it has no group.id, so it cannot join a group or commit) reads
 * each range [start, end) with librdkafka's partition consumer and hands
 * every message in it to a callback, in offset order per partition. It
 * stops when every range is read, or fails naming the partition when one
 * gives nothing for timeout_ms.
 *
 * One thread. */
#ifndef MTR_INGEST_READER_H
#define MTR_INGEST_READER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

typedef struct mtr_reader_range {
    const char *topic;
    int32_t partition;
    int64_t start, end; /* offsets to read: [start, end) */
    int64_t position;   /* next offset not yet handled (set while reading) */
} mtr_reader_range_t;

/* A message of ranges[range] (start <= offset < end). */
typedef void (*mtr_reader_message_fn)(void *opaque, size_t range, const rd_kafka_message_t *msg);
/* done of total offsets read, now and then and once at the end. */
typedef void (*mtr_reader_progress_fn)(void *opaque, uint64_t done, uint64_t total);

/* Whether partition is in the list a tool's --partitions gave (NULL: every
 * partition is). */
bool mtr_reader_selected(const int32_t *partitions, size_t n, int32_t partition);

/* A client for the config's cluster (kafka.properties except group.*). */
mtr_err_t mtr_reader_new(const mtr_config_t *config, rd_kafka_t **out, char *errstr,
                         size_t errstr_size);

mtr_err_t mtr_reader_read(rd_kafka_t *rk, mtr_reader_range_t *ranges, size_t n, int timeout_ms,
                          mtr_reader_message_fn on_message, void *opaque,
                          mtr_reader_progress_fn progress, void *progress_opaque, char *errstr,
                          size_t errstr_size);

#endif
