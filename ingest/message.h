/* What both readers of the topic — the shard worker of `meterd run` and
 * `meterd replay` — do with one Kafka message, so that a replay decides
 * every event exactly as the pipeline did: decode it (value, message
 * timestamp, CloudEvents binary-mode headers), turn it into an hour-table
 * update, and give the identity the event-id dedupe checks.
 *
 * Pure functions over the message; the thread that owns the decoder. */
#ifndef MTR_INGEST_MESSAGE_H
#define MTR_INGEST_MESSAGE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "aggregate/table.h"
#include "core/event.h"

/* Decodes msg's value with its timestamp and headers (see mtr_event_decode;
 * *ev borrows the decoder's memory until its next call). */
mtr_event_reason_t mtr_ingest_decode_message(mtr_event_decoder_t *dec,
                                             const rd_kafka_message_t *msg, mtr_event_t *ev,
                                             char *why, size_t why_size);

/* The untagged update of ev for an hour table: customer (borrowed from ev),
 * quantity, time, dimension, aggregation, and the caller's scope id and
 * partition. */
void mtr_ingest_update_of(const mtr_event_t *ev, uint32_t scope, int32_t partition,
                          mtr_agg_update_t *u);

/* events.dedupe: whether ev, counted in effective hour hour_ms, is checked
 * against the ids already seen, and with which hash. Only events of their
 * own hour are: a late event's original may lie before the committed
 * offset, where a replay cannot see it, so checking it would decide
 * differently after a restart. */
bool mtr_ingest_dedupe_identity(const mtr_event_t *ev, int64_t hour_ms, uint64_t *hash);

#endif
